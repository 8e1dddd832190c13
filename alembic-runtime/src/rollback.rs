//! Deploy rollback: reverting revisions that this build has no script for.
//!
//! A newer build migrated the database; an older one starts against it (a rolled-back
//! deployment). The version table names revisions the older build does not know. Every
//! upgrade stored its revision's downgrade SQL and parents in its history row (see
//! [`crate::HistoryRow`]), so the older build can revert them without their scripts: from each
//! unknown head down to the revisions it knows, running the SQL stored by each revision's
//! latest upgrade row, moving the version rows as a downgrade would, and writing a downgrade
//! history row for each. Then its own plan runs.
//!
//! Only on request: [`crate::RunOptions::revert_unknown_revisions`] for applications, and the
//! CLI's `downgrade` to a revision on disk (the user asked to go back). Everything is planned
//! before anything runs, so a revision that cannot be reverted (applied by Python Alembic, or
//! without downgrade SQL) refuses the run with nothing changed.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use alembic_core::plan::{StepKind, VersionChange};

use crate::backend::{Backend, BackendError, SqlValue};
use crate::dialect::Tables;
use crate::dirty;
use crate::error::RunError;
use crate::executor::{database, rollback_quietly, Context};
use crate::history::{now_utc_text, split_down_revisions, HistoryRow, Operation};
use crate::options::RunOptions;
use crate::report::{Applied, Report};

/// What a history row says about a revision this build has no script for.
#[derive(Clone, Debug)]
struct Stored {
    /// `None`: the latest upgrade row did not record the parents (written before the column).
    parents: Option<Vec<String>>,
    /// `None`: the latest upgrade row stored no downgrade SQL.
    downgrade_sql: Option<String>,
    checksum: Option<String>,
    chained_checksum: Option<String>,
}

/// One revert: the stored SQL to run and the version rows to move.
#[derive(Clone, Debug)]
pub(crate) struct Revert {
    pub revision: String,
    pub parents: Vec<String>,
    downgrade_sql: String,
    checksum: Option<String>,
    chained_checksum: Option<String>,
    pub version_changes: Vec<VersionChange>,
}

/// The reverts that bring the database down to revisions this build knows, children first.
#[derive(Clone, Debug, Default)]
pub(crate) struct RevertPlan {
    pub reverts: Vec<Revert>,
    /// The version rows once they ran, sorted.
    pub heads_after: Vec<String>,
}

/// Why a revision without a script cannot be reverted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unrevertible {
    /// The history table has no upgrade row for it.
    NotRecorded,
    /// Its upgrade row stored no downgrade SQL.
    NoDowngradeSql,
    /// Its upgrade row does not say which revisions it revises.
    NoParents,
    /// Its recorded parents lead back to it.
    Cycle,
}

impl std::fmt::Display for Unrevertible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unrevertible::NotRecorded => {
                "the history table has no upgrade row for it (it was applied by Python Alembic, \
                 stamped, or applied before the history table existed), so no downgrade SQL was \
                 stored"
            }
            Unrevertible::NoDowngradeSql => {
                "its upgrade row stored no downgrade SQL (its script has no `-- +downgrade` \
                 section)"
            }
            Unrevertible::NoParents => {
                "its upgrade row does not record which revisions it revises (it was written by \
                 an earlier build)"
            }
            Unrevertible::Cycle => "the parents recorded in the history table lead back to it",
        })
    }
}

/// A revert that could not be planned or did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevertError {
    /// Nothing ran: a revision on the way down cannot be reverted without its script.
    #[error(
        "cannot revert revision {revision}, which none of the scripts in {locations} define: \
         {why}; run the downgrade with the build that has its script, or, if the database does \
         not hold its changes, `stamp` the database to a revision this build knows"
    )]
    NotRevertible {
        revision: String,
        locations: String,
        why: Unrevertible,
    },

    /// The stored downgrade SQL of a revision failed.
    #[error(
        "reverting revision {revision} (no script in this build) with the downgrade SQL its \
         history row stored failed: {cause}; {}",
        if *half_applied && *marked_dirty {
            "it ran outside a transaction and may be half-applied: the database is marked \
             dirty, so the next run refuses until you check the schema and stamp the database \
             to where it really is (`stamp --purge <revision>` from a build without its script)"
        } else if *half_applied {
            "it ran outside a transaction and may be half-applied: check the database, then \
             stamp it to where it really is (recording the failure failed too, see the log)"
        } else {
            "its changes were rolled back and the version table still names it"
        }
    )]
    Failed {
        revision: String,
        half_applied: bool,
        /// The failure was recorded (see [`crate::Dirty`]): the next run refuses.
        marked_dirty: bool,
        cause: BackendError,
        /// What committed before the failure.
        applied: Report,
    },
}

impl RevertError {
    /// The revision the error is about.
    pub fn revision(&self) -> &str {
        match self {
            RevertError::NotRevertible { revision, .. } | RevertError::Failed { revision, .. } => {
                revision
            }
        }
    }

    /// What committed before the failure, when something ran.
    pub fn applied(&self) -> Option<&Report> {
        match self {
            RevertError::Failed { applied, .. } => Some(applied),
            RevertError::NotRevertible { .. } => None,
        }
    }
}

/// Plans the reverts from `heads` down to revisions `known` has (it gives a known revision's
/// parents, `None` for an unknown one). Reads only. Fails, naming the revision, when one on
/// the way has no stored downgrade SQL or parents.
pub(crate) fn plan(
    backend: &mut dyn Backend,
    tables: &Tables,
    heads: &[String],
    known: &dyn Fn(&str) -> Option<Vec<String>>,
    locations: &str,
) -> Result<RevertPlan, RunError> {
    let mut rows = Rows::default();
    let mut current: Vec<String> = heads.to_vec();
    let mut reverted: HashSet<String> = HashSet::new();
    let mut reverts = Vec::new();
    let refuse = |revision: &str, why| {
        RunError::Revert(Box::new(RevertError::NotRevertible {
            revision: revision.to_string(),
            locations: locations.to_string(),
            why,
        }))
    };
    // An unknown head is a leaf of what is applied: revert it, and its parents take its place
    // unless another head still stands on them. Each unknown revision is reverted once.
    while let Some(head) = current.iter().find(|h| known(h).is_none()).cloned() {
        if !reverted.insert(head.clone()) {
            return Err(refuse(&head, Unrevertible::Cycle));
        }
        let stored = rows
            .get(backend, tables, &head)?
            .ok_or_else(|| refuse(&head, Unrevertible::NotRecorded))?;
        let parents = stored
            .parents
            .clone()
            .ok_or_else(|| refuse(&head, Unrevertible::NoParents))?;
        let downgrade_sql = stored
            .downgrade_sql
            .clone()
            .ok_or_else(|| refuse(&head, Unrevertible::NoDowngradeSql))?;

        let others: Vec<String> = current.iter().filter(|h| **h != head).cloned().collect();
        let covered = ancestors_or_self(backend, tables, &others, known, &mut rows)?;
        let mut new_heads: Vec<String> = Vec::new();
        for parent in &parents {
            if !covered.contains(parent) && !new_heads.contains(parent) {
                new_heads.push(parent.clone());
            }
        }
        let version_changes = match new_heads.split_first() {
            None => vec![VersionChange::Delete { id: head.clone() }],
            Some((first, rest)) => {
                let mut changes = vec![VersionChange::Update {
                    from: head.clone(),
                    to: first.clone(),
                }];
                changes.extend(
                    rest.iter()
                        .map(|id| VersionChange::Insert { id: id.clone() }),
                );
                changes
            }
        };
        current.retain(|h| *h != head);
        current.extend(new_heads);
        reverts.push(Revert {
            revision: head,
            parents,
            downgrade_sql,
            checksum: stored.checksum,
            chained_checksum: stored.chained_checksum,
            version_changes,
        });
    }
    current.sort();
    Ok(RevertPlan {
        reverts,
        heads_after: current,
    })
}

/// `heads` and everything below them, through the scripts' parents for known revisions and
/// the history's for the others (a revision with neither ends the walk there).
fn ancestors_or_self(
    backend: &mut dyn Backend,
    tables: &Tables,
    heads: &[String],
    known: &dyn Fn(&str) -> Option<Vec<String>>,
    rows: &mut Rows,
) -> Result<HashSet<String>, RunError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = heads.to_vec();
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let parents = match known(&id) {
            Some(parents) => parents,
            None => rows
                .get(backend, tables, &id)?
                .and_then(|s| s.parents)
                .unwrap_or_default(),
        };
        stack.extend(parents.into_iter().filter(|p| !seen.contains(p)));
    }
    Ok(seen)
}

/// The stored rows of unknown revisions, each read once per plan.
#[derive(Default)]
struct Rows {
    read: HashMap<String, Option<Stored>>,
}

impl Rows {
    fn get(
        &mut self,
        backend: &mut dyn Backend,
        tables: &Tables,
        revision: &str,
    ) -> Result<Option<Stored>, RunError> {
        if let Some(found) = self.read.get(revision) {
            return Ok(found.clone());
        }
        let found = read_stored(backend, tables, revision).map_err(|cause| {
            database(
                "reading the stored downgrade SQL in the history table",
                cause,
            )
        })?;
        self.read.insert(revision.to_string(), found.clone());
        Ok(found)
    }
}

/// The latest upgrade row of `revision`; `None` when there is none (or no history table).
fn read_stored(
    backend: &mut dyn Backend,
    tables: &Tables,
    revision: &str,
) -> Result<Option<Stored>, BackendError> {
    if !backend.table_exists(tables, &tables.history)? {
        return Ok(None);
    }
    let id = [SqlValue::Text(revision.to_string())];
    let Some(line) = backend
        .query_strings(&tables.select_latest_upgrade(), &id)?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let mut parts = line.splitn(3, ' ');
    let checksum = parts.next().filter(|c| *c != "-").map(str::to_string);
    let chained_checksum = parts.next().filter(|c| *c != "-").map(str::to_string);
    let parents = match parts.next().unwrap_or("") {
        "?" => None,
        stored => Some(split_down_revisions(stored)),
    };
    let downgrade_sql = backend
        .query_strings(&tables.select_latest_downgrade_sql(), &id)?
        .into_iter()
        .next()
        .and_then(|text| text.strip_prefix('s').map(str::to_string));
    Ok(Some(Stored {
        parents,
        downgrade_sql,
        checksum,
        chained_checksum,
    }))
}

/// Plans and runs the reverts (see [`plan`]) under the run's lock, in its transaction mode:
/// by default the reverts join the run's one transaction (left open for the plan that
/// follows, which commits them with its own steps); with `transaction_per_migration` each
/// commits on its own; on a database without transactional DDL each revert's SQL runs outside
/// a transaction and its version and history rows commit right after it. Refuses a dirty
/// database: reverting on a half-applied schema could only make it worse.
///
/// Returns the heads after the reverts and what ran.
pub(crate) fn revert_unknown(
    backend: &mut dyn Backend,
    tables: &Tables,
    options: &RunOptions,
    heads: &[String],
    known: &dyn Fn(&str) -> Option<Vec<String>>,
    locations: &str,
) -> Result<(Vec<String>, Reverted), RunError> {
    // Reverting on a half-applied schema could only make it worse. The marker's parents (for
    // the stamp its message suggests) come from the scripts, or for a failed revert of ours
    // from the upgrade row that stored them.
    if let Some(mut dirty) = dirty::read(backend, tables, |_| None)
        .map_err(|cause| database("reading the latest history row", cause))?
    {
        dirty.down_revisions = match known(&dirty.revision) {
            Some(parents) => parents,
            None => read_stored(backend, tables, &dirty.revision)
                .map_err(|cause| database("reading the history table", cause))?
                .and_then(|s| s.parents)
                .unwrap_or_default(),
        };
        return Err(RunError::Dirty(Box::new(dirty)));
    }
    let plan = plan(backend, tables, heads, known, locations)?;
    let reverted = execute(backend, tables, options, &plan)?;
    Ok((plan.heads_after, reverted))
}

/// Runs planned reverts; see [`revert_unknown`].
fn execute(
    backend: &mut dyn Backend,
    tables: &Tables,
    options: &RunOptions,
    plan: &RevertPlan,
) -> Result<Reverted, RunError> {
    let mut committed = Report::default();
    let mut pending: Vec<Applied> = Vec::new();
    let outside = !backend.transactional_ddl();
    let failed = |revision: &str, half_applied, marked_dirty, cause, applied: &Report| {
        RunError::Revert(Box::new(RevertError::Failed {
            revision: revision.to_string(),
            half_applied,
            marked_dirty,
            cause,
            applied: applied.clone(),
        }))
    };
    for revert in &plan.reverts {
        let id = revert.revision.as_str();
        if outside {
            if backend.in_transaction() {
                commit(backend, &mut committed, &mut pending)?;
            }
        } else if !backend.in_transaction() {
            backend
                .begin()
                .map_err(|cause| failed(id, false, false, cause, &committed))?;
        }
        let applied_at = now_utc_text();
        let started = Instant::now();
        if let Err(cause) = backend.execute_batch(&revert.downgrade_sql) {
            rollback_quietly(backend);
            let marked_dirty = outside && mark_dirty(backend, tables, options, revert, started);
            return Err(failed(id, outside, marked_dirty, cause, &committed));
        }
        if outside {
            if let Err(cause) = backend.begin() {
                let marked_dirty = mark_dirty(backend, tables, options, revert, started);
                return Err(failed(id, true, marked_dirty, cause, &committed));
            }
        }
        for change in &revert.version_changes {
            if let Err(cause) = backend.apply_version_change(tables, change) {
                rollback_quietly(backend);
                if outside {
                    // Its SQL committed but the version table does not say so.
                    mark_dirty(backend, tables, options, revert, started);
                }
                return Err(RunError::VersionTable {
                    revision: id.to_string(),
                    operation: Operation::Downgrade,
                    sql_committed: outside,
                    cause: Box::new(cause),
                    applied: committed,
                });
            }
        }
        let duration = started.elapsed();
        let row = HistoryRow {
            revision: id.to_string(),
            operation: Operation::Downgrade,
            checksum: revert.checksum.clone(),
            // A downgraded revision keeps the chain it was applied with, as the executor's
            // downgrade rows do.
            chained_checksum: revert.chained_checksum.clone(),
            downgrade_sql: None,
            applied_at,
            duration_ms: Some(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)),
            tool: options.tool.clone(),
            down_revisions: None,
            actor: None,
            reason: Some(
                "deploy rollback: this build has no script for it; ran the downgrade SQL \
                 stored when it was applied"
                    .to_string(),
            ),
        };
        if let Err(cause) = backend.insert_history(tables, &row) {
            rollback_quietly(backend);
            let marked_dirty = outside && mark_dirty(backend, tables, options, revert, started);
            return Err(failed(id, outside, marked_dirty, cause, &committed));
        }
        log::info!(
            "reverted {id} (not in this build) with its stored downgrade SQL in {} ms; now at \
             [{}]",
            duration.as_millis(),
            revert.parents.join(", ")
        );
        pending.push(Applied {
            step: StepKind::Downgrade {
                revision: id.to_string(),
            },
            duration,
        });
        if outside || options.transaction_per_migration {
            commit(backend, &mut committed, &mut pending)?;
        }
    }
    // Still open (the default mode): the run's plan commits these with its own steps, or
    // rolls them back with its failure.
    let committed_len = committed.applied.len();
    committed.applied.append(&mut pending);
    Ok(Reverted {
        report: committed,
        committed: committed_len,
    })
}

/// Records a failed revert outside a transaction (see `dirty.rs`) so that the next run refuses;
/// returns whether that worked (a failure to record it is logged: the revert's error is what
/// the user needs to see, and it says the revision may be half-reverted).
fn mark_dirty(
    backend: &mut dyn Backend,
    tables: &Tables,
    options: &RunOptions,
    revert: &Revert,
    started: Instant,
) -> bool {
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match dirty::mark_unscripted(
        backend,
        tables,
        &revert.revision,
        revert.checksum.clone(),
        Operation::Downgrade,
        duration_ms,
        &options.tool,
    ) {
        Ok(()) => true,
        Err(e) => {
            log::warn!(
                "could not mark the database dirty after the revert of {} failed: {e}; check \
                 the database before running again",
                revert.revision
            );
            false
        }
    }
}

fn commit(
    backend: &mut dyn Backend,
    committed: &mut Report,
    pending: &mut Vec<Applied>,
) -> Result<(), RunError> {
    match backend.commit() {
        Ok(()) => {
            committed.applied.append(pending);
            Ok(())
        }
        Err(cause) => {
            rollback_quietly(backend);
            let names: Vec<String> = pending.iter().map(|a| a.to_string()).collect();
            Err(RunError::Database {
                doing: format!("committing the reverts ({})", names.join(", ")),
                cause,
                applied: committed.clone(),
            })
        }
    }
}

/// What a run does with `unknown`, the database's heads that no script defines: with
/// `revert`, reverts them (see [`revert_unknown`]) and returns the heads the run goes on from,
/// with what ran; otherwise refuses, saying whether the stored SQL would allow the revert.
pub(crate) fn unknown_heads(
    backend: &mut dyn Backend,
    ctx: &Context<'_>,
    revert: bool,
    heads: &[String],
    unknown: Vec<String>,
    known: &dyn Fn(&str) -> Option<Vec<String>>,
    locations: String,
) -> Result<(Vec<String>, Reverted), RunError> {
    if revert {
        return revert_unknown(backend, &ctx.tables, ctx.options, heads, known, &locations);
    }
    // Reads only; a failure to tell reads as "no".
    let revertible = plan(backend, &ctx.tables, heads, known, &locations).is_ok();
    Err(RunError::UnknownDatabaseRevision {
        revisions: unknown,
        locations,
        revertible,
    })
}

/// The reverts that ran before a run's own plan.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reverted {
    /// Every revert, in the order they ran.
    report: Report,
    /// How many of them (the first ones) committed on their own, before the run's plan: all
    /// with `transaction_per_migration` or without transactional DDL, none by default.
    committed: usize,
}

impl Reverted {
    /// The reverts followed by the run's report.
    pub(crate) fn followed_by(mut self, mut report: Report) -> Report {
        self.report.applied.append(&mut report.applied);
        self.report
    }

    /// The run's error, with the reverts that committed before it put first in what it says
    /// committed (those left in the run's transaction were rolled back with it).
    pub(crate) fn failed(self, mut error: RunError) -> RunError {
        let applied = match &mut error {
            RunError::Migration { applied, .. }
            | RunError::VersionTable { applied, .. }
            | RunError::Database { applied, .. } => applied,
            _ => return error,
        };
        let mut first: Vec<_> = self
            .report
            .applied
            .into_iter()
            .take(self.committed)
            .collect();
        first.append(&mut applied.applied);
        applied.applied = first;
        error
    }
}
