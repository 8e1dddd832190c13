//! Migration plans: which revisions to run, in which order, and what each step does to the
//! `alembic_version` rows. Pure: a plan is computed from a [`RevisionMap`](crate::RevisionMap),
//! the database's current heads and a target, and executed elsewhere (alembic-runtime), online
//! or as an offline `--sql` script.
//!
//! [`upgrade`], [`downgrade`] and [`stamp`] reproduce `alembic upgrade/downgrade/stamp`: the
//! same revisions, in an order Alembic could run them, and the same `alembic_version` row
//! changes per step (Alembic's `HeadMaintainer`: new branch = insert, merge = delete all but one
//! parent row and update the last, unmerge = update plus inserts, base = delete).
//!
//! # Differences from Alembic
//!
//! Where Alembic 1.20.1 crashes (an `AssertionError`, `KeyError` or `IndexError` instead of a
//! message), this crate returns a typed error:
//!
//! - `upgrade ID-N` / `upgrade ID+N` that walks off the graph
//!   ([`ResolveError::WalkedTooFar`]) or down to the base ([`ResolveError::BaseNotAllowed`]).
//! - `downgrade LABEL@-N` while several current heads are on that branch
//!   ([`ResolveError::AmbiguousBranchHeads`]) or none is ([`ResolveError::NoCurrentOnBranch`]).
//! - A step whose row change Alembic cannot make: [`PlanError::VersionConflict`], before
//!   anything runs. Seen with a merge whose parents (`Revises` plus `Depends On`) include an
//!   ancestor of another parent (upgrading it fails with `KeyError` in Alembic), overlapping
//!   rows (a row and its own ancestor), an ambiguous UPDATE, a row inserted twice by a
//!   multi-target stamp.
//! - `stamp` with current heads both above and below the destination:
//!   [`PlanError::VersionConflict`].
//! - `stamp -N` on an empty version table that walks exactly to the base:
//!   [`ResolveError::BaseNotAllowed`].
//! - `history -r` whose revisions cannot all be reached from its upper end inside the range
//!   (the lower end has descendants reached only through `Depends On`):
//!   [`ResolveError::UnwalkableRange`]; more than one `:` in the range:
//!   [`ResolveError::InvalidRange`].
//! - An empty target or `LABEL@` with nothing after it: [`ResolveError::UnknownRevision`].
//! - `history -r ID@...:` where `ID` is a revision carrying zero or several branch labels:
//!   [`ResolveError::UnknownBranch`].
//!
//! Deliberate differences:
//!
//! - A revision id declared twice, or a `Revises`/`Depends On` naming nothing, is a
//!   [`GraphError`](crate::graph::GraphError) (Alembic warns and then fails later, or keeps the
//!   last duplicate). All problems are reported at once.
//! - `Depends On` may name a unique id prefix (4+ characters); Alembic only accepts full ids and
//!   branch labels there (a prefix makes it fail with `KeyError`).
//! - An ambiguous prefix is reported with every candidate; Alembic's command line says "Can't
//!   locate revision identified by ..." for it.
//! - Where Alembic's choice depends on Python's set order (which parent keeps the row when a
//!   merge is downgraded, the order among several `Depends On`), the choice here is the
//!   declared order. The rows after every step are the same either way.
//! - `stamp --purge` plans a first step that deletes each current row by id (Alembic empties the
//!   table with one unconditional DELETE); the rows are not resolved against the graph, so a
//!   database holding unknown revisions can still be purged.
//! - `downgrade -1` from several heads follows Alembic (it uses the first row of
//!   `current_heads`, which Alembic only warns about): pass the rows in the database's order.

/// Which way a revision runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Upgrade,
    Downgrade,
}

/// One change to the rows of `alembic_version` (one row per current head), exactly as
/// Alembic's head maintenance makes them. The executor binds the ids as parameters and checks
/// that each statement touched exactly one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionChange {
    /// `INSERT INTO alembic_version (version_num) VALUES (id)`
    Insert { id: String },
    /// `DELETE FROM alembic_version WHERE version_num = id`
    Delete { id: String },
    /// `UPDATE alembic_version SET version_num = to WHERE version_num = from`
    Update { from: String, to: String },
}

/// What one step of a plan does besides moving version rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Run the upgrade SQL of `revision`.
    Upgrade { revision: String },
    /// Run the downgrade SQL of `revision`.
    Downgrade { revision: String },
    /// Run nothing: only move version rows (`stamp`), from the `from` heads to the `to` heads.
    Stamp { from: Vec<String>, to: Vec<String> },
}

/// One step of a plan: what runs, and the version-table changes that commit with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub version_changes: Vec<VersionChange>,
}

impl Step {
    /// The revision whose SQL this step runs, if it runs any.
    pub fn revision(&self) -> Option<&str> {
        match &self.kind {
            StepKind::Upgrade { revision } | StepKind::Downgrade { revision } => Some(revision),
            StepKind::Stamp { .. } => None,
        }
    }

    pub fn direction(&self) -> Option<Direction> {
        match &self.kind {
            StepKind::Upgrade { .. } => Some(Direction::Upgrade),
            StepKind::Downgrade { .. } => Some(Direction::Downgrade),
            StepKind::Stamp { .. } => None,
        }
    }
}

/// An ordered list of steps, and the version rows before and after it (sorted).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    pub heads_before: Vec<String>,
    pub steps: Vec<Step>,
    pub heads_after: Vec<String>,
}

// ----- planning -------------------------------------------------------------------------------

use std::collections::{BTreeSet, HashMap};

use crate::graph::RevisionMap;
use crate::select::{collect_downgrade, collect_upgrade, topological_sort, Arg};
use crate::target::{Pos, ResolveError, Resolver};

/// Why no plan could be made. Nothing has run when this is returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// `upgrade TARGET` where TARGET is not above the current heads.
    #[error("Destination {target} is not a valid upgrade target from current head(s) ({})", current.join(", "))]
    NotAnUpgradeTarget {
        target: String,
        current: Vec<String>,
    },
    /// `downgrade TARGET` where TARGET is not below the current heads.
    #[error("Destination {target} is not a valid downgrade target from current head(s) ({})", current.join(", "))]
    NotADowngradeTarget {
        target: String,
        current: Vec<String>,
    },
    /// The selected revisions could not be ordered (cannot happen on a validated map; kept as
    /// an error rather than a panic).
    #[error("the revisions to run could not be ordered")]
    Unsortable,
    /// A step whose version-row change cannot be decided or applied to the current rows
    /// (Alembic fails on an assertion or a missing row here). `detail` says which.
    #[error("cannot move the version rows for {step}: {detail} (current rows: {})", rows.join(", "))]
    VersionConflict {
        step: String,
        detail: String,
        rows: Vec<String>,
    },
}

/// Plans `upgrade TARGET` from the database's `current_heads` (its `alembic_version` rows).
pub fn upgrade(
    map: &RevisionMap,
    current_heads: &[String],
    target: &str,
) -> Result<Plan, PlanError> {
    let r = Resolver::new(map);
    let current: Vec<&str> = current_heads.iter().map(String::as_str).collect();
    let sel = collect_upgrade(&r, Arg::Str(target), Arg::List(&current), false, true, true)
        .map_err(|e| match e {
            ResolveError::NotAncestor { .. } => PlanError::NotAnUpgradeTarget {
                target: target.to_string(),
                current: current_heads.to_vec(),
            },
            other => PlanError::Resolve(other),
        })?;
    let mut order = topological_sort(map, &sel).map_err(|_| PlanError::Unsortable)?;
    order.reverse();
    run_revision_steps(map, current_heads, &order, true)
}

/// Plans `downgrade TARGET` from the database's `current_heads`.
pub fn downgrade(
    map: &RevisionMap,
    current_heads: &[String],
    target: &str,
) -> Result<Plan, PlanError> {
    let r = Resolver::new(map);
    let current: Vec<&str> = current_heads.iter().map(String::as_str).collect();
    let sel =
        collect_downgrade(&r, &current, Some(target), false, false, true).map_err(|e| match e {
            ResolveError::NotAncestor { .. } => PlanError::NotADowngradeTarget {
                target: target.to_string(),
                current: current_heads.to_vec(),
            },
            other => PlanError::Resolve(other),
        })?;
    let order = topological_sort(map, &sel).map_err(|_| PlanError::Unsortable)?;
    run_revision_steps(map, current_heads, &order, false)
}

/// Plans `stamp TARGETS...` (`purge`: first empty the version table, whatever it holds).
/// No SQL runs; only version rows move. An empty `targets` means `base`.
pub fn stamp(
    map: &RevisionMap,
    current_heads: &[String],
    targets: &[String],
    purge: bool,
) -> Result<Plan, PlanError> {
    let r = Resolver::new(map);
    let mut rows = Rows::new(map, if purge { &[] } else { current_heads });
    let mut steps: Vec<Step> = Vec::new();
    let heads_before = sorted_unique(current_heads);
    if purge && !heads_before.is_empty() {
        steps.push(Step {
            kind: StepKind::Stamp {
                from: heads_before.clone(),
                to: Vec::new(),
            },
            version_changes: heads_before
                .iter()
                .map(|id| VersionChange::Delete { id: id.clone() })
                .collect(),
        });
    }

    let head_strs: Vec<&str> = if purge {
        Vec::new()
    } else {
        current_heads.iter().map(String::as_str).collect()
    };
    let head_revs: Vec<usize> = r
        .get_revisions_of(&head_strs)?
        .into_iter()
        .filter_map(|p| p.rev())
        .collect();
    let base = ["base".to_string()];
    let targets: &[String] = if targets.is_empty() { &base } else { targets };

    let mut filtered: Vec<usize> = Vec::new();
    for t in targets.iter().filter(|t| !t.is_empty()) {
        for h in r.filter_for_lineage(&head_revs, t, true)? {
            if !filtered.contains(&h) {
                filtered.push(h);
            }
        }
    }
    let target_strs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let mut dests = r.get_revisions_of(&target_strs)?;
    if dests.is_empty() {
        dests.push(Pos::Nothing);
    }
    let filtered_ids: Vec<String> = filtered.iter().map(|&h| map.id(h).to_string()).collect();

    let mut planned: Vec<StampMove> = Vec::new();
    for dest in dests {
        let d = match dest {
            Pos::Nothing => {
                for h in &filtered_ids {
                    planned.push(StampMove {
                        from: vec![h.clone()],
                        to: Vec::new(),
                        up: false,
                        branch_move: true,
                    });
                }
                continue;
            }
            Pos::Base => {
                return Err(ResolveError::BaseNotAllowed {
                    target: targets.join(" "),
                }
                .into())
            }
            Pos::Rev(d) => d,
        };
        if filtered.contains(&d) {
            continue;
        }
        let above = map.descendant_set(&[d], true);
        let below = map.ancestor_set(&[d], true);
        let heads_above = filtered.iter().any(|&h| above[h]);
        let heads_below = filtered.iter().any(|&h| below[h]);
        let to = vec![map.id(d).to_string()];
        if heads_above && heads_below {
            return Err(PlanError::VersionConflict {
                step: format!("stamp {}", map.id(d)),
                detail: "current heads lie both above and below the destination".to_string(),
                rows: rows.ids(),
            });
        } else if heads_above || heads_below {
            planned.push(StampMove {
                from: filtered_ids.clone(),
                to,
                up: heads_below,
                branch_move: false,
            });
        } else {
            planned.push(StampMove {
                from: Vec::new(),
                to,
                up: true,
                branch_move: true,
            });
        }
    }

    for mv in planned {
        let changes = mv.decide(&rows)?;
        rows.apply(&changes, &mv.describe())?;
        steps.push(Step {
            kind: StepKind::Stamp {
                from: mv.from,
                to: mv.to,
            },
            version_changes: changes,
        });
    }
    Ok(Plan {
        heads_before,
        steps,
        heads_after: rows.ids(),
    })
}

fn sorted_unique(ids: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = ids.iter().collect();
    set.into_iter().cloned().collect()
}

/// The simulated `alembic_version` rows while a plan is being made.
struct Rows<'m> {
    map: &'m RevisionMap,
    set: BTreeSet<String>,
    /// Ancestor sets of "the other heads", which stay the same over long runs of steps on one
    /// branch; caching them keeps planning linear on long histories.
    ancestors_cache: HashMap<Vec<usize>, Vec<bool>>,
}

impl<'m> Rows<'m> {
    fn new(map: &'m RevisionMap, current: &[String]) -> Self {
        Rows {
            map,
            set: current.iter().cloned().collect(),
            ancestors_cache: HashMap::new(),
        }
    }

    fn ids(&self) -> Vec<String> {
        self.set.iter().cloned().collect()
    }

    fn contains(&self, i: usize) -> bool {
        self.set.contains(self.map.id(i))
    }

    /// Everything below (and including) the current rows other than `except`.
    fn below_others(&mut self, except: &[usize]) -> Result<&Vec<bool>, PlanError> {
        let mut others: Vec<usize> = Vec::new();
        for id in &self.set {
            let i = self
                .map
                .index(id)
                .ok_or_else(|| ResolveError::UnknownRevision { target: id.clone() })?;
            if !except.contains(&i) {
                others.push(i);
            }
        }
        others.sort_unstable();
        let map = self.map;
        Ok(self
            .ancestors_cache
            .entry(others.clone())
            .or_insert_with(|| map.ancestor_set(&others, true)))
    }

    fn apply(&mut self, changes: &[VersionChange], step: &str) -> Result<(), PlanError> {
        for c in changes {
            let problem = match c {
                VersionChange::Insert { id } if self.set.contains(id) => {
                    Some(format!("row {id} already exists"))
                }
                VersionChange::Delete { id } if !self.set.contains(id) => {
                    Some(format!("no row {id} to delete"))
                }
                VersionChange::Update { from, .. } if !self.set.contains(from) => {
                    Some(format!("no row {from} to update"))
                }
                VersionChange::Update { to, .. } if self.set.contains(to) => {
                    Some(format!("row {to} already exists"))
                }
                _ => None,
            };
            if let Some(detail) = problem {
                return Err(PlanError::VersionConflict {
                    step: step.to_string(),
                    detail,
                    rows: self.ids(),
                });
            }
            match c {
                VersionChange::Insert { id } => {
                    self.set.insert(id.clone());
                }
                VersionChange::Delete { id } => {
                    self.set.remove(id);
                }
                VersionChange::Update { from, to } => {
                    self.set.remove(from);
                    self.set.insert(to.clone());
                }
            }
        }
        Ok(())
    }

    fn conflict(&self, step: &str, detail: &str) -> PlanError {
        PlanError::VersionConflict {
            step: step.to_string(),
            detail: detail.to_string(),
            rows: self.ids(),
        }
    }
}

/// Runs Alembic's head maintenance over `order` (one upgrade or downgrade per revision).
fn run_revision_steps(
    map: &RevisionMap,
    current_heads: &[String],
    order: &[usize],
    up: bool,
) -> Result<Plan, PlanError> {
    let mut rows = Rows::new(map, current_heads);
    let mut steps = Vec::with_capacity(order.len());
    for &rev in order {
        let changes = if up {
            upgrade_changes(&mut rows, rev)?
        } else {
            downgrade_changes(&mut rows, rev)?
        };
        let id = map.id(rev).to_string();
        let describe = format!("{} {id}", if up { "upgrade" } else { "downgrade" });
        rows.apply(&changes, &describe)?;
        let kind = if up {
            StepKind::Upgrade { revision: id }
        } else {
            StepKind::Downgrade { revision: id }
        };
        steps.push(Step {
            kind,
            version_changes: changes,
        });
    }
    Ok(Plan {
        heads_before: sorted_unique(current_heads),
        steps,
        heads_after: rows.ids(),
    })
}

fn upgrade_changes(rows: &mut Rows<'_>, rev: usize) -> Result<Vec<VersionChange>, PlanError> {
    let map = rows.map;
    let id = map.id(rev).to_string();
    let downs = map.node(rev).norm_down.clone();
    let present: Vec<usize> = downs
        .iter()
        .copied()
        .filter(|&d| rows.contains(d))
        .collect();
    // A base, or a revision none of whose parents is a row: a new branch.
    if present.is_empty() {
        return Ok(vec![VersionChange::Insert { id }]);
    }
    // A merge of several rows: all but one row go, the last one moves up.
    if downs.len() > 1 && present.len() > 1 {
        let below = rows.below_others(&downs)?.clone();
        let from: Vec<usize> = downs.iter().copied().filter(|&d| !below[d]).collect();
        // Every parent left must be a row; one that is not lies below another parent of this
        // merge, and Alembic fails on it too (KeyError).
        if let Some(&stray) = from.iter().find(|&&d| !rows.contains(d)) {
            let detail = format!(
                "it merges {}, which is not a current row because it lies below another of \
                 its parents; remove {} from its Revises/Depends On",
                map.id(stray),
                map.id(stray)
            );
            return Err(rows.conflict(&format!("upgrade {id}"), &detail));
        }
        let Some((&last, rest)) = from.split_last() else {
            return Err(rows.conflict(
                &format!("upgrade {id}"),
                "every parent is below another row",
            ));
        };
        let mut changes: Vec<VersionChange> = rest
            .iter()
            .map(|&d| VersionChange::Delete {
                id: map.id(d).to_string(),
            })
            .collect();
        changes.push(VersionChange::Update {
            from: map.id(last).to_string(),
            to: id,
        });
        return Ok(changes);
    }
    let down = if downs.len() == 1 {
        downs[0]
    } else if let [one] = present.as_slice() {
        *one
    } else {
        return Err(rows.conflict(&format!("upgrade {id}"), "the row to move is ambiguous"));
    };
    Ok(vec![VersionChange::Update {
        from: map.id(down).to_string(),
        to: id,
    }])
}

/// The parents a downgraded revision hands its row to: those not already below another row
/// (or, with no other row, not below another of its parents).
fn unmerge_targets(rows: &mut Rows<'_>, rev: usize) -> Result<Vec<usize>, PlanError> {
    let map = rows.map;
    let downs = map.node(rev).norm_down.clone();
    let has_others = rows.set.iter().any(|r| r != map.id(rev));
    if has_others {
        let below = rows.below_others(&[rev])?;
        return Ok(downs.iter().copied().filter(|&d| !below[d]).collect());
    }
    if downs.len() < 2 {
        return Ok(downs);
    }
    let mut covered = vec![false; map.len()];
    for &d in &downs {
        let set = map.ancestor_set(&[d], true);
        for (i, &b) in set.iter().enumerate() {
            if b && i != d {
                covered[i] = true;
            }
        }
    }
    Ok(downs.into_iter().filter(|&d| !covered[d]).collect())
}

fn downgrade_changes(rows: &mut Rows<'_>, rev: usize) -> Result<Vec<VersionChange>, PlanError> {
    let map = rows.map;
    let id = map.id(rev).to_string();
    let downs = map.node(rev).norm_down.clone();
    let is_row = rows.contains(rev);
    if is_row {
        // A base, or a revision whose parents are all still covered by other rows: its row goes.
        let targets = if downs.is_empty() {
            Vec::new()
        } else {
            unmerge_targets(rows, rev)?
        };
        if targets.is_empty() {
            return Ok(vec![VersionChange::Delete { id }]);
        }
        // An unmerge: the row moves to one parent, the other parents get new rows.
        if downs.len() > 1 {
            let Some((&last, rest)) = targets.split_last() else {
                return Err(
                    rows.conflict(&format!("downgrade {id}"), "no parent to move the row to")
                );
            };
            let mut changes: Vec<VersionChange> = rest
                .iter()
                .map(|&d| VersionChange::Insert {
                    id: map.id(d).to_string(),
                })
                .collect();
            changes.push(VersionChange::Update {
                from: id,
                to: map.id(last).to_string(),
            });
            return Ok(changes);
        }
    }
    let down = if downs.len() == 1 {
        downs[0]
    } else {
        let present: Vec<usize> = downs
            .iter()
            .copied()
            .filter(|&d| rows.contains(d))
            .collect();
        match present.as_slice() {
            [one] => *one,
            _ => {
                return Err(
                    rows.conflict(&format!("downgrade {id}"), "the row to move is ambiguous")
                )
            }
        }
    };
    Ok(vec![VersionChange::Update {
        from: id,
        to: map.id(down).to_string(),
    }])
}

/// One of Alembic's stamp steps before its rows are decided.
struct StampMove {
    from: Vec<String>,
    to: Vec<String>,
    up: bool,
    branch_move: bool,
}

impl StampMove {
    fn describe(&self) -> String {
        format!(
            "stamp {} -> {}",
            self.from.join(","),
            if self.to.is_empty() {
                "base".to_string()
            } else {
                self.to.join(",")
            }
        )
    }

    fn decide(&self, rows: &Rows<'_>) -> Result<Vec<VersionChange>, PlanError> {
        let missing = |ids: &[String]| ids.iter().any(|i| !rows.set.contains(i));
        if !self.up && self.branch_move {
            return match self.from.as_slice() {
                [one] => Ok(vec![VersionChange::Delete { id: one.clone() }]),
                _ => Err(rows.conflict(&self.describe(), "not exactly one row to delete")),
            };
        }
        if self.up && (self.branch_move || missing(&self.from)) && missing(&self.to) {
            return match self.to.as_slice() {
                [one] => Ok(vec![VersionChange::Insert { id: one.clone() }]),
                _ => Err(rows.conflict(&self.describe(), "not exactly one row to insert")),
            };
        }
        if self.from.len() > 1 {
            let (last, rest) = self
                .from
                .split_last()
                .ok_or_else(|| rows.conflict(&self.describe(), "no row to move"))?;
            let Some(to) = self.to.first() else {
                return Err(rows.conflict(&self.describe(), "no destination"));
            };
            let mut changes: Vec<VersionChange> = rest
                .iter()
                .map(|d| VersionChange::Delete { id: d.clone() })
                .collect();
            changes.push(VersionChange::Update {
                from: last.clone(),
                to: to.clone(),
            });
            return Ok(changes);
        }
        match (self.from.as_slice(), self.to.as_slice()) {
            ([from], [to]) => Ok(vec![VersionChange::Update {
                from: from.clone(),
                to: to.clone(),
            }]),
            _ => Err(rows.conflict(&self.describe(), "the row to move is ambiguous")),
        }
    }
}
