//! Graph validation, queries and error values on small literal graphs. Expected values were
//! checked against Alembic 1.20.1 where Alembic answers (see `alembic_oracle.rs` for the bulk).

use alembic_core::graph::{GraphError, RevisionMap};
use alembic_core::plan::{self, PlanError, StepKind, VersionChange};
use alembic_core::target::{self, ResolveError};

fn rev(id: &str, down: &[&str], labels: &[&str], deps: &[&str]) -> alembic_core::Revision {
    alembic_core::Revision {
        id: id.to_string(),
        down_revisions: strings(down),
        branch_labels: strings(labels),
        depends_on: strings(deps),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_graph_problem_is_reported_at_once() {
    let err = RevisionMap::new(vec![
        rev("aaaa", &[], &["lbl"], &[]),
        rev("aaaa", &[], &[], &[]),
        rev("bbbb", &["nope"], &[], &["gone"]),
        rev("cccc", &["cccc"], &["lbl"], &[]),
        rev("dddd", &[], &["aaaa"], &["dddd"]),
    ])
    .unwrap_err();
    let expected = vec![
        GraphError::DuplicateId { id: "aaaa".into() },
        GraphError::DuplicateLabel {
            label: "lbl".into(),
            id: "cccc".into(),
            first: "aaaa".into(),
        },
        GraphError::LabelIsRevisionId {
            label: "aaaa".into(),
            id: "dddd".into(),
        },
        GraphError::MissingDownRevision {
            id: "bbbb".into(),
            missing: "nope".into(),
        },
        GraphError::MissingDependency {
            id: "bbbb".into(),
            missing: "gone".into(),
        },
        GraphError::RevisesItself { id: "cccc".into() },
        GraphError::DependsOnItself { id: "dddd".into() },
    ];
    assert_eq!(err.0, expected);
    // The Display form has one line per problem.
    assert_eq!(err.to_string().lines().count(), expected.len());
}

#[test]
fn cycles_name_exactly_their_members() {
    let err = RevisionMap::new(vec![
        rev("base", &[], &[], &[]),
        rev("c1", &["c3"], &[], &[]),
        rev("c2", &["c1"], &[], &[]),
        rev("c3", &["c2", "base"], &[], &[]),
        rev("above", &["c3"], &[], &[]),
    ])
    .unwrap_err();
    assert_eq!(
        err.0,
        vec![GraphError::Cycle {
            ids: strings(&["c1", "c2", "c3"])
        }]
    );

    let err = RevisionMap::new(vec![
        rev("aaaa", &[], &[], &["dddd"]),
        rev("bbbb", &["aaaa"], &[], &[]),
        rev("cccc", &[], &[], &[]),
        rev("dddd", &["cccc"], &[], &["bbbb"]),
    ])
    .unwrap_err();
    assert_eq!(
        err.0,
        vec![GraphError::DependencyCycle {
            ids: strings(&["aaaa", "bbbb", "dddd"])
        }]
    );
}

#[test]
fn ambiguous_dependency_prefix_lists_candidates() {
    let err = RevisionMap::new(vec![
        rev("abcd01", &[], &[], &[]),
        rev("abcd02", &[], &[], &[]),
        rev("eeee", &[], &[], &["abcd"]),
    ])
    .unwrap_err();
    assert_eq!(
        err.0,
        vec![GraphError::AmbiguousDependency {
            id: "eeee".into(),
            dependency: "abcd".into(),
            candidates: strings(&["abcd01", "abcd02"]),
        }]
    );
    // A unique prefix is accepted (a documented extension).
    let map = RevisionMap::new(vec![
        rev("abcd01", &[], &[], &[]),
        rev("eeee", &[], &[], &["abcd0"]),
    ])
    .unwrap();
    assert_eq!(map.dependencies("eeee"), vec!["abcd01"]);
}

#[test]
fn queries_on_a_branchy_graph() {
    // 1 -> 2 -> 4(merge of 2,3); 1 -> 3 ; 5 depends on 3 (own base)
    let map = RevisionMap::new(vec![
        rev("r1r1", &[], &[], &[]),
        rev("r2r2", &["r1r1"], &["left"], &[]),
        rev("r3r3", &["r1r1"], &[], &[]),
        rev("r4r4", &["r2r2", "r3r3"], &[], &[]),
        rev("r5r5", &[], &["net"], &["r3r3"]),
    ])
    .unwrap();
    assert_eq!(map.heads(), vec!["r4r4", "r5r5"]);
    assert_eq!(map.real_heads(), vec!["r4r4", "r5r5"]);
    assert_eq!(map.bases(), vec!["r1r1", "r5r5"]);
    assert_eq!(map.real_bases(), vec!["r1r1"]);
    assert!(map.is_branch_point("r1r1"));
    assert!(!map.is_branch_point("r3r3"));
    assert!(map.is_merge_point("r4r4"));
    assert_eq!(map.children("r1r1"), vec!["r2r2", "r3r3"]);
    assert_eq!(map.dependents("r3r3"), vec!["r5r5"]);
    assert_eq!(map.ancestors("r4r4"), vec!["r1r1", "r2r2", "r3r3"]);
    assert_eq!(map.descendants("r3r3"), vec!["r4r4", "r5r5"]);
    // Labels reach descendants, and stop at the merge point's other parent.
    assert_eq!(map.labels("r4r4"), vec!["left"]);
    assert_eq!(map.labels("r3r3"), Vec::<&str>::new());
    assert_eq!(map.label_owner("net"), Some("r5r5"));
    assert!(map.get("r9r9").is_none());
}

#[test]
fn resolve_errors_carry_their_ids() {
    let map = RevisionMap::new(vec![
        rev("0000base", &[], &[], &[]),
        rev("abcdef01", &["0000base"], &[], &[]),
        rev("abcdef02", &["0000base"], &[], &[]),
    ])
    .unwrap();
    let none: Vec<String> = Vec::new();
    assert_eq!(
        target::resolve(&map, "abcd", &none),
        Err(ResolveError::AmbiguousPrefix {
            prefix: "abcd".into(),
            candidates: strings(&["abcdef01", "abcdef02"]),
        })
    );
    assert_eq!(
        target::resolve(&map, "abcdef02", &none),
        Ok(strings(&["abcdef02"]))
    );
    assert_eq!(
        target::resolve(&map, "0000", &none),
        Ok(strings(&["0000base"]))
    );
    assert_eq!(
        target::resolve(&map, "head", &none),
        Err(ResolveError::MultipleHeads {
            argument: "head".into(),
            heads: strings(&["abcdef01", "abcdef02"]),
        })
    );
    assert_eq!(
        target::resolve(&map, "heads", &none),
        Ok(strings(&["abcdef01", "abcdef02"]))
    );
    assert_eq!(
        target::resolve(&map, "zzzz", &none),
        Err(ResolveError::UnknownRevision {
            target: "zzzz".into()
        })
    );
    assert_eq!(target::resolve(&map, "base", &none), Ok(none.clone()));
    assert_eq!(
        target::resolve(&map, "+1", &strings(&["0000base"])),
        Err(ResolveError::AmbiguousWalk {
            target: "+1".into()
        })
    );
    assert_eq!(
        target::resolve(&map, "-3", &strings(&["abcdef01"])),
        Err(ResolveError::RelativeOutOfRange {
            relative: "-3".into(),
            steps: 3
        })
    );
    // Walking exactly down to the base is the base.
    assert_eq!(
        target::resolve(&map, "-2", &strings(&["abcdef01"])),
        Ok(none.clone())
    );
    assert_eq!(
        target::resolve(&map, "-1", &strings(&["abcdef01"])),
        Ok(strings(&["0000base"]))
    );
    assert_eq!(
        target::resolve(&map, "abcdef01@head", &none),
        Ok(strings(&["abcdef01"]))
    );
}

#[test]
fn split_range_splits_at_the_first_colon() {
    assert_eq!(target::split_range("ae1:head"), Some(("ae1", "head")));
    assert_eq!(target::split_range(":head"), Some(("", "head")));
    assert_eq!(target::split_range("head"), None);
}

#[test]
fn plans_report_alembic_errors() {
    let map = RevisionMap::new(vec![
        rev("aaaa", &[], &[], &[]),
        rev("bbbb", &["aaaa"], &[], &[]),
        rev("cccc", &[], &[], &[]),
    ])
    .unwrap();
    let at_b = strings(&["bbbb"]);
    assert_eq!(
        plan::downgrade(&map, &at_b, "cccc"),
        Err(PlanError::NotADowngradeTarget {
            target: "cccc".into(),
            current: at_b.clone()
        })
    );
    assert!(matches!(
        plan::upgrade(&map, &strings(&["gone"]), "heads"),
        Err(PlanError::Resolve(ResolveError::UnknownRevision { target })) if target == "gone"
    ));
    // Rows that overlap (a row and its own ancestor) cannot be moved: Alembic fails too.
    assert!(matches!(
        plan::upgrade(&map, &strings(&["aaaa", "bbbb"]), "heads"),
        Err(PlanError::Resolve(ResolveError::Overlap { .. }))
    ));
}

#[test]
fn stamp_purge_deletes_every_row_first_even_unknown_ones() {
    let map = RevisionMap::new(vec![
        rev("aaaa", &[], &[], &[]),
        rev("bbbb", &["aaaa"], &[], &[]),
    ])
    .unwrap();
    let p = plan::stamp(&map, &strings(&["zzzz", "aaaa"]), &strings(&["bbbb"]), true).unwrap();
    assert_eq!(p.heads_before, strings(&["aaaa", "zzzz"]));
    assert_eq!(p.steps.len(), 2);
    assert_eq!(
        p.steps[0].version_changes,
        vec![
            VersionChange::Delete { id: "aaaa".into() },
            VersionChange::Delete { id: "zzzz".into() }
        ]
    );
    assert_eq!(
        p.steps[1].version_changes,
        vec![VersionChange::Insert { id: "bbbb".into() }]
    );
    assert!(
        matches!(&p.steps[1].kind, StepKind::Stamp { from, to } if from.is_empty() && to == &strings(&["bbbb"]))
    );
    assert_eq!(p.heads_after, strings(&["bbbb"]));
    // Without purge, the unknown row is an error naming it.
    assert!(matches!(
        plan::stamp(&map, &strings(&["zzzz"]), &strings(&["bbbb"]), false),
        Err(PlanError::Resolve(ResolveError::UnknownRevision { target })) if target == "zzzz"
    ));
}

#[test]
fn history_ranges() {
    let map = RevisionMap::new(vec![
        rev("aaaa", &[], &[], &[]),
        rev("bbbb", &["aaaa"], &[], &[]),
        rev("cccc", &["bbbb"], &[], &[]),
        rev("dddd", &["cccc"], &[], &[]),
    ])
    .unwrap();
    let ids = |r: Result<Vec<&alembic_core::Revision>, ResolveError>| {
        r.map(|v| v.iter().map(|x| x.id.clone()).collect::<Vec<_>>())
    };
    let none: Vec<String> = Vec::new();
    assert_eq!(
        ids(map.history(None, &none)),
        Ok(strings(&["dddd", "cccc", "bbbb", "aaaa"]))
    );
    assert_eq!(
        ids(map.history(Some("bbbb:"), &none)),
        Ok(strings(&["dddd", "cccc", "bbbb"]))
    );
    assert_eq!(
        ids(map.history(Some(":bbbb"), &none)),
        Ok(strings(&["bbbb", "aaaa"]))
    );
    assert_eq!(
        ids(map.history(Some("-2:"), &none)),
        Ok(strings(&["dddd", "cccc", "bbbb"]))
    );
    assert_eq!(
        ids(map.history(Some("current:"), &strings(&["cccc"]))),
        Ok(strings(&["dddd", "cccc"]))
    );
    assert_eq!(
        ids(map.history(Some("cccc:bbbb"), &none)),
        Err(ResolveError::NotAncestor {
            lower: "cccc".into(),
            upper: "bbbb".into()
        })
    );
    assert!(matches!(
        map.history(Some("bbbb"), &none),
        Err(ResolveError::InvalidRange { .. })
    ));
    assert!(matches!(
        map.history(Some("a:b:c"), &none),
        Err(ResolveError::InvalidRange { .. })
    ));
}

#[test]
fn offline_start_resolves_like_alembic_starting_rev() {
    // Answers checked with Alembic 1.20.1's RevisionMap.get_revision on the same graph.
    let map = RevisionMap::new(vec![
        rev("a1a1", &[], &[], &[]),
        rev("b2b2", &["a1a1"], &[], &[]),
        rev("c3c3", &["a1a1"], &["side"], &[]),
        rev("d4d4", &["b2b2", "c3c3"], &[], &[]),
        rev("e5e5", &["d4d4"], &[], &[]),
        rev("f6f6", &[], &["other"], &["b2b2"]),
    ])
    .unwrap();
    assert_eq!(
        target::resolve_start(&map, "heads"),
        Err(ResolveError::MultipleHeads {
            argument: "heads".into(),
            heads: strings(&["e5e5", "f6f6"])
        })
    );
    assert!(matches!(
        target::resolve_start(&map, "head"),
        Err(ResolveError::MultipleHeads { .. })
    ));
    assert_eq!(
        target::resolve_start(&map, "side@head"),
        Ok(strings(&["e5e5"]))
    );
    assert_eq!(
        target::resolve_start(&map, "other@heads"),
        Ok(strings(&["f6f6"]))
    );
    assert_eq!(target::resolve_start(&map, "a1a1"), Ok(strings(&["a1a1"])));
    assert_eq!(target::resolve_start(&map, "base"), Ok(Vec::new()));
    assert!(matches!(
        target::resolve_start(&map, "b2b2+1"),
        Err(ResolveError::UnknownRevision { .. })
    ));
}
