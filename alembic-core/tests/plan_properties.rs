//! Properties of plans on random revision graphs (branches, merges, several bases, labels,
//! `Depends On`): every plan runs each revision at most once, in dependency order, and its
//! version-row changes apply cleanly and describe exactly what is applied afterwards.

use std::collections::BTreeSet;

use alembic_core::plan::{self, Plan, StepKind, VersionChange};
use alembic_core::{Revision, RevisionMap};
use proptest::prelude::*;

/// A random DAG: revision `i` may revise and depend on earlier revisions only. Ids share
/// prefixes on purpose; a few revisions carry a branch label.
fn graph() -> impl Strategy<Value = Vec<Revision>> {
    graph_of(1..18)
}

/// Like [`graph`], with the number of revisions drawn from `sizes`.
fn graph_of(sizes: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Revision>> {
    sizes
        .prop_flat_map(|n| {
            let per_rev = (
                proptest::collection::vec(any::<prop::sample::Index>(), 0..3),
                proptest::option::weighted(0.2, any::<prop::sample::Index>()),
                proptest::bool::weighted(0.15),
            );
            (
                Just(n),
                proptest::collection::vec(per_rev, n),
                any::<bool>(),
            )
        })
        .prop_map(|(n, specs, reverse)| {
            let id = |i: usize| format!("rev{:02}x{}", i, i % 3);
            let mut revs = Vec::with_capacity(n);
            // below[i]: indices revision i needs, directly or not.
            let mut below: Vec<BTreeSet<usize>> = Vec::with_capacity(n);
            for (i, (downs, dep, labelled)) in specs.into_iter().enumerate() {
                let mut down: Vec<usize> = Vec::new();
                if i > 0 {
                    for d in downs {
                        let p = d.index(i);
                        if !down.contains(&p) {
                            down.push(p);
                        }
                    }
                }
                // Parents that are below another parent are left out: on a merge, Alembic
                // cannot move the rows for them (it fails with KeyError; we with
                // VersionConflict, see `redundant_parent_on_a_merge_fails_like_alembic`).
                let all = down.clone();
                down.retain(|&d| !all.iter().any(|&o| o != d && below[o].contains(&d)));
                let mut needs: BTreeSet<usize> = BTreeSet::new();
                for &d in &down {
                    needs.insert(d);
                    needs.extend(below[d].iter().copied());
                }
                // Likewise a dependency already below, or above one of the parents.
                let mut depends_on = Vec::new();
                if let (Some(d), true) = (dep, i > 0) {
                    let p = d.index(i);
                    if !needs.contains(&p) && !down.iter().any(|x| below[p].contains(x)) {
                        depends_on.push(id(p));
                        needs.insert(p);
                        needs.extend(below[p].iter().copied());
                    }
                }
                below.push(needs);
                let branch_labels = if labelled {
                    vec![format!("label{i}")]
                } else {
                    Vec::new()
                };
                revs.push(Revision {
                    id: id(i),
                    down_revisions: down.into_iter().map(id).collect(),
                    branch_labels,
                    depends_on,
                });
            }
            // The map order matters to Alembic (heads, ties); try both.
            if reverse {
                revs.reverse();
            }
            revs
        })
}

/// Everything the rows stand for: the rows and all they need.
fn applied(map: &RevisionMap, rows: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in rows {
        out.insert(r.clone());
        out.extend(map.ancestors(r).into_iter().map(String::from));
    }
    out
}

/// Executes the plan's version changes on `heads_before`, failing on any change that does not
/// apply to exactly one row, and returns the revisions run.
fn execute(plan: &Plan) -> Result<Vec<String>, TestCaseError> {
    let mut rows: BTreeSet<String> = plan.heads_before.iter().cloned().collect();
    let mut ran = Vec::new();
    for step in &plan.steps {
        if let Some(r) = step.revision() {
            ran.push(r.to_string());
        }
        for c in &step.version_changes {
            match c {
                VersionChange::Insert { id } => {
                    prop_assert!(rows.insert(id.clone()), "insert of existing {id}")
                }
                VersionChange::Delete { id } => {
                    prop_assert!(rows.remove(id), "delete of missing {id}")
                }
                VersionChange::Update { from, to } => {
                    prop_assert!(rows.remove(from), "update of missing {from}");
                    prop_assert!(rows.insert(to.clone()), "update onto existing {to}");
                }
            }
        }
    }
    prop_assert_eq!(
        rows.into_iter().collect::<Vec<_>>(),
        plan.heads_after.clone()
    );
    Ok(ran)
}

/// The plan runs each revision once, in an order that respects `Revises` and `Depends On`, and
/// the rows afterwards stand for exactly what was applied plus what it ran (or minus).
fn check_plan(map: &RevisionMap, plan: &Plan) -> Result<(), TestCaseError> {
    let ran = execute(plan)?;
    let unique: BTreeSet<&String> = ran.iter().collect();
    prop_assert_eq!(unique.len(), ran.len(), "a revision runs twice: {:?}", ran);
    let before = applied(map, &plan.heads_before);
    let after = applied(map, &plan.heads_after);
    let mut done: BTreeSet<String> = before.clone();
    for step in &plan.steps {
        match &step.kind {
            StepKind::Upgrade { revision } => {
                prop_assert!(
                    !done.contains(revision),
                    "{} upgraded while applied",
                    revision
                );
                for need in map.effective_down_revisions(revision) {
                    prop_assert!(done.contains(need), "{} upgraded before {}", revision, need);
                }
                done.insert(revision.clone());
            }
            StepKind::Downgrade { revision } => {
                prop_assert!(
                    done.contains(revision),
                    "{} downgraded while not applied",
                    revision
                );
                for user in map.descendants(revision) {
                    prop_assert!(
                        !done.contains(user),
                        "{} downgraded before {}",
                        revision,
                        user
                    );
                }
                done.remove(revision);
            }
            StepKind::Stamp { .. } => {}
        }
    }
    prop_assert_eq!(after, done, "rows after do not match what ran");
    Ok(())
}

fn targets(map: &RevisionMap) -> Vec<String> {
    let mut t: Vec<String> = ["heads", "head", "base", "+1", "-1", "+2", "-2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    t.extend(map.iter().map(|r| r.id.clone()));
    t.extend(
        map.iter()
            .flat_map(|r| r.branch_labels.iter().map(|l| format!("{l}@head"))),
    );
    t
}

#[test]
fn redundant_parent_on_a_merge_fails_like_alembic() {
    // Alembic 1.20.1 fails on these graphs with KeyError while upgrading the merge.
    let rev = |id: &str, down: &[&str], deps: &[&str]| Revision {
        id: id.to_string(),
        down_revisions: down.iter().map(|s| s.to_string()).collect(),
        branch_labels: Vec::new(),
        depends_on: deps.iter().map(|s| s.to_string()).collect(),
    };
    let map = RevisionMap::new(vec![
        rev("rev00", &[], &[]),
        rev("rev01", &[], &[]),
        rev("rev02", &["rev00"], &[]),
        rev("rev03", &["rev02", "rev01"], &["rev00"]),
    ])
    .unwrap();
    assert!(matches!(
        plan::upgrade(&map, &[], "heads"),
        Err(plan::PlanError::VersionConflict { step, .. }) if step == "upgrade rev03"
    ));
    let map = RevisionMap::new(vec![
        rev("a000", &[], &[]),
        rev("b000", &["a000"], &[]),
        rev("c000", &[], &[]),
        rev("m000", &["a000", "b000", "c000"], &[]),
    ])
    .unwrap();
    assert!(matches!(
        plan::upgrade(&map, &[], "heads"),
        Err(plan::PlanError::VersionConflict { step, .. }) if step == "upgrade m000"
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 30, ..ProptestConfig::default() })]

    // Big enough that the sort's bounded searches give up and compute whole ancestor sets
    // (checked: both paths run here).
    #[test]
    fn big_graphs_upgrade_and_downgrade_everything(revs in graph_of(60..160)) {
        let map = RevisionMap::new(revs).expect("generated graphs are valid");
        let up = plan::upgrade(&map, &[], "heads").expect("upgrade heads from empty");
        check_plan(&map, &up)?;
        prop_assert_eq!(up.steps.len(), map.len());
        let down = plan::downgrade(&map, &up.heads_after, "base").expect("downgrade base");
        check_plan(&map, &down)?;
        prop_assert_eq!(down.steps.len(), map.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn upgrade_everything_then_downgrade_everything(revs in graph()) {
        let map = RevisionMap::new(revs).expect("generated graphs are valid");
        let up = plan::upgrade(&map, &[], "heads").expect("upgrade heads from empty");
        check_plan(&map, &up)?;
        prop_assert_eq!(up.steps.len(), map.len());
        let mut real_heads: Vec<String> = map.real_heads().iter().map(|s| s.to_string()).collect();
        real_heads.sort();
        prop_assert_eq!(&up.heads_after, &real_heads);

        let down = plan::downgrade(&map, &up.heads_after, "base").expect("downgrade base");
        check_plan(&map, &down)?;
        prop_assert_eq!(down.steps.len(), map.len());
        prop_assert!(down.heads_after.is_empty());
    }

    #[test]
    fn history_lists_each_revision_once_newest_first(revs in graph()) {
        let map = RevisionMap::new(revs).expect("generated graphs are valid");
        let listed: Vec<String> =
            map.history(None, &[]).expect("full history").iter().map(|r| r.id.clone()).collect();
        prop_assert_eq!(listed.len(), map.len());
        let position = |id: &str| listed.iter().position(|x| x == id);
        for r in map.iter() {
            let here = position(&r.id);
            prop_assert!(here.is_some(), "{} missing from history", r.id);
            for below in map.ancestors(&r.id) {
                prop_assert!(position(below) > here, "{} listed before {}", below, r.id);
            }
            // Every id resolves to itself.
            prop_assert_eq!(
                alembic_core::target::resolve(&map, &r.id, &[]),
                Ok(vec![r.id.clone()])
            );
        }
    }

    #[test]
    fn random_walks_keep_rows_and_applied_revisions_in_step(
        revs in graph(),
        picks in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3), 1..8),
    ) {
        let map = RevisionMap::new(revs).expect("generated graphs are valid");
        let targets = targets(&map);
        let mut rows: Vec<String> = Vec::new();
        for (pick, op) in picks {
            let t = &targets[pick.index(targets.len())];
            let planned = match op {
                0 => plan::upgrade(&map, &rows, t),
                1 => plan::downgrade(&map, &rows, t),
                _ => plan::stamp(&map, &rows, std::slice::from_ref(t), false),
            };
            // Errors are fine (Alembic refuses many of these); plans must be sound.
            if let Ok(p) = planned {
                if op < 2 {
                    check_plan(&map, &p)?;
                } else {
                    execute(&p)?;
                }
                rows = p.heads_after;
            }
        }
    }
}
