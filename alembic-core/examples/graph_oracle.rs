//! Answers graph, target and planning questions read from stdin, one answer per line, in the
//! notation `tests/oracle/alembic_oracle.py` uses for the real Alembic. Run both on the same
//! input and compare: `tests/oracle/fuzz.py` does that on random graphs.
//!
//! Input: blocks of `rev ID DOWNS LABELS DEPS` lines (comma-separated, `-` for none), then
//! `cmd KIND CURRENT ARG` lines, then `end`. Output per block: one line per command, then `---`.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};

use alembic_core::plan::{self, Plan, StepKind, VersionChange};
use alembic_core::{target, Revision, RevisionMap};

fn split(s: &str) -> Vec<String> {
    if s == "-" {
        Vec::new()
    } else {
        s.split(',').map(String::from).collect()
    }
}

fn show(p: &Plan) -> String {
    let mut rows: BTreeSet<String> = p.heads_before.iter().cloned().collect();
    let mut parts = Vec::new();
    for s in &p.steps {
        let name = match &s.kind {
            StepKind::Upgrade { revision } => format!("u{revision}"),
            StepKind::Downgrade { revision } => format!("d{revision}"),
            StepKind::Stamp { .. } => "s".to_string(),
        };
        let ops: Vec<String> = s
            .version_changes
            .iter()
            .map(|c| match c {
                VersionChange::Insert { id } => {
                    rows.insert(id.clone());
                    format!("I{id}")
                }
                VersionChange::Delete { id } => {
                    rows.remove(id);
                    format!("D{id}")
                }
                VersionChange::Update { from, to } => {
                    rows.remove(from);
                    rows.insert(to.clone());
                    format!("U{from}>{to}")
                }
            })
            .collect();
        let now: Vec<&str> = rows.iter().map(String::as_str).collect();
        parts.push(format!("{name}[{}]={}", ops.join(" "), now.join(",")));
    }
    format!("{} -> {}", parts.join(" "), p.heads_after.join(","))
}

fn answer(map: &RevisionMap, kind: &str, cur: &[String], arg: &str) -> String {
    let ids = |v: Vec<&Revision>| {
        v.iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let res: Result<String, String> = match kind {
        "heads" => Ok(format!(
            "{}|{}|{}",
            map.heads().join(","),
            map.real_heads().join(","),
            map.bases().join(",")
        )),
        "labels" => Ok(map
            .iter()
            .map(|r| format!("{}={}", r.id, map.labels(&r.id).join(",")))
            .collect::<Vec<_>>()
            .join(";")),
        "current" => map
            .current(cur)
            .map(|v| {
                let mut v: Vec<&str> = v.iter().map(|r| r.id.as_str()).collect();
                v.sort();
                v.join(",")
            })
            .map_err(|e| format!("{e:?}")),
        "resolve" => target::resolve(map, arg, cur)
            .map(|mut v| {
                v.sort();
                v.join(",")
            })
            .map_err(|e| format!("{e:?}")),
        "history" => map
            .history((arg != "-").then_some(arg), cur)
            .map(ids)
            .map_err(|e| format!("{e:?}")),
        "upgrade" => plan::upgrade(map, cur, arg)
            .map(|p| show(&p))
            .map_err(|e| format!("{e:?}")),
        "downgrade" => plan::downgrade(map, cur, arg)
            .map(|p| show(&p))
            .map_err(|e| format!("{e:?}")),
        "stamp" => plan::stamp(map, cur, &split(arg), false)
            .map(|p| show(&p))
            .map_err(|e| format!("{e:?}")),
        other => Err(format!("unknown command {other}")),
    };
    match res {
        Ok(s) => format!("OK {s}"),
        Err(e) => format!("ERR {e}"),
    }
}

fn main() -> io::Result<()> {
    let mut revs: Vec<Revision> = Vec::new();
    let mut cmds: Vec<(String, Vec<String>, String)> = Vec::new();
    let mut out = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        let line = line?;
        let p: Vec<&str> = line.split(' ').collect();
        match p.as_slice() {
            ["rev", id, downs, labels, deps] => revs.push(Revision {
                id: id.to_string(),
                down_revisions: split(downs),
                branch_labels: split(labels),
                depends_on: split(deps),
            }),
            ["cmd", kind, cur, rest @ ..] => cmds.push((
                kind.to_string(),
                split(cur),
                rest.first().unwrap_or(&"-").to_string(),
            )),
            ["end"] => {
                match RevisionMap::new(std::mem::take(&mut revs)) {
                    Ok(map) => {
                        for (kind, cur, arg) in cmds.drain(..) {
                            writeln!(out, "{}", answer(&map, &kind, &cur, &arg))?;
                        }
                    }
                    Err(e) => {
                        cmds.clear();
                        writeln!(out, "GRAPHERR {e:?}")?;
                    }
                }
                writeln!(out, "---")?;
            }
            _ => {}
        }
    }
    Ok(())
}
