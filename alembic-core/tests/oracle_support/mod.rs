//! Runs one command on a revision map and writes the answer in the notation the Alembic oracle
//! cases use (see `alembic_oracle.rs`).

use std::collections::BTreeSet;

use alembic_core::plan::{self, Plan, StepKind, VersionChange};
use alembic_core::{target, Revision, RevisionMap};

pub fn rev(id: &str, down: &[&str], labels: &[&str], deps: &[&str]) -> Revision {
    let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    Revision {
        id: id.to_string(),
        down_revisions: own(down),
        branch_labels: own(labels),
        depends_on: own(deps),
    }
}

/// `u<id>[changes]=rows ...  -> rows`, checking on the way that executing the version changes
/// on the rows gives `heads_after`.
pub fn show(p: &Plan) -> String {
    let mut rows: BTreeSet<String> = p.heads_before.iter().cloned().collect();
    let mut parts = Vec::new();
    for s in &p.steps {
        let name = match &s.kind {
            StepKind::Upgrade { revision } => format!("u{revision}"),
            StepKind::Downgrade { revision } => format!("d{revision}"),
            StepKind::Stamp { .. } => "s".to_string(),
        };
        let mut ops = Vec::new();
        for c in &s.version_changes {
            match c {
                VersionChange::Insert { id } => {
                    assert!(rows.insert(id.clone()), "insert of existing row {id}");
                    ops.push(format!("I{id}"));
                }
                VersionChange::Delete { id } => {
                    assert!(rows.remove(id), "delete of missing row {id}");
                    ops.push(format!("D{id}"));
                }
                VersionChange::Update { from, to } => {
                    assert!(rows.remove(from), "update of missing row {from}");
                    assert!(rows.insert(to.clone()), "update onto existing row {to}");
                    ops.push(format!("U{from}>{to}"));
                }
            }
        }
        let now: Vec<String> = rows.iter().cloned().collect();
        parts.push(format!("{name}[{}]={}", ops.join(" "), now.join(",")));
    }
    let now: Vec<String> = rows.into_iter().collect();
    assert_eq!(
        now, p.heads_after,
        "heads_after disagrees with the version changes"
    );
    format!("{} -> {}", parts.join(" "), p.heads_after.join(","))
}

/// The variant path of an error's Debug form, without its fields: `Resolve(AmbiguousWalk`.
fn variant(debug: &str) -> String {
    let head = debug.split('{').next().unwrap_or("");
    head.trim().trim_end_matches('(').trim().to_string()
}

pub fn run(map: &RevisionMap, kind: &str, current: &[&str], arg: &str) -> String {
    let cur: Vec<String> = current.iter().map(|s| s.to_string()).collect();
    let list = |v: Vec<&str>| v.join(",");
    let res: Result<String, String> = match kind {
        "heads" => Ok(format!(
            "{}|{}|{}",
            list(map.heads()),
            list(map.real_heads()),
            list(map.bases())
        )),
        "labels" => Ok(map
            .iter()
            .map(|r| format!("{}={}", r.id, map.labels(&r.id).join(",")))
            .collect::<Vec<_>>()
            .join(";")),
        "current" => map
            .current(&cur)
            .map(|v| {
                let mut ids: Vec<&str> = v.iter().map(|r| r.id.as_str()).collect();
                ids.sort();
                ids.join(",")
            })
            .map_err(|e| format!("{e:?}")),
        "resolve" => target::resolve(map, arg, &cur)
            .map(|mut v| {
                v.sort();
                v.join(",")
            })
            .map_err(|e| format!("{e:?}")),
        "history" => map
            .history(if arg == "-" { None } else { Some(arg) }, &cur)
            .map(|v| {
                v.iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .map_err(|e| format!("{e:?}")),
        "upgrade" => plan::upgrade(map, &cur, arg)
            .map(|p| show(&p))
            .map_err(|e| format!("{e:?}")),
        "downgrade" => plan::downgrade(map, &cur, arg)
            .map(|p| show(&p))
            .map_err(|e| format!("{e:?}")),
        "stamp" => {
            let targets: Vec<String> = arg.split(',').map(String::from).collect();
            plan::stamp(map, &cur, &targets, false)
                .map(|p| show(&p))
                .map_err(|e| format!("{e:?}"))
        }
        other => panic!("unknown command {other}"),
    };
    match res {
        Ok(s) => format!("OK {s}"),
        Err(e) => format!("ERR {}", variant(&e)),
    }
}

pub fn check(revs: Vec<Revision>, cases: &[(&str, &[&str], &str, &str)]) {
    let map = RevisionMap::new(revs).expect("valid graph");
    let mut failures = Vec::new();
    for (kind, current, arg, expected) in cases {
        let got = run(&map, kind, current, arg);
        if got != *expected {
            failures.push(format!(
                "{kind} {arg} from {current:?}\n  expected {expected}\n  got      {got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
