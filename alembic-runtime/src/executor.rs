//! Runs a [`Plan`] on a [`Backend`] that is already locked and has its version tables: the
//! one place that decides what commits together.
//!
//! - Default (Alembic's): one transaction for the whole run; every revision commits, or none.
//! - `transaction_per_migration`: one transaction per step.
//! - A `Transactional: false` revision (or any revision on a database without transactional
//!   DDL) commits what is open, runs its SQL outside any transaction, then records its version
//!   change and history row in a transaction of their own. If its SQL fails it is reported as
//!   possibly half-applied; the version table never claims it.
//!
//! In every mode a step's SQL, its version-row changes and its history rows commit together
//! (the exception above aside), so the version table never claims a revision whose SQL did
//! not finish.

use std::collections::HashMap;
use std::time::Instant;

use alembic_core::plan::{Plan, Step, StepKind};
use alembic_core::source::ScriptDirectory;
use alembic_core::Script;

use crate::backend::{Backend, BackendError};
use crate::dialect::Tables;
use crate::dirty;
use crate::error::RunError;
use crate::history::{
    join_down_revisions, now_utc_text, recorded_chains, ChainedChecksums, HistoryRow, Operation,
};
use crate::options::RunOptions;
use crate::report::{Applied, Report};

/// The scripts and names a run works with.
pub(crate) struct Context<'a> {
    pub scripts: &'a ScriptDirectory,
    pub options: &'a RunOptions,
    pub tables: Tables,
}

impl<'a> Context<'a> {
    /// The script of a revision the plan runs.
    pub fn script(&self, id: &str) -> Result<&'a Script, RunError> {
        self.scripts
            .script(id)
            .ok_or_else(|| RunError::MissingScript {
                revision: id.to_string(),
                locations: locations(self.scripts),
            })
    }
}

/// The folders the scripts were read from, for messages: `a/versions, b/versions`.
pub(crate) fn locations(scripts: &ScriptDirectory) -> String {
    let mut dirs: Vec<String> = Vec::new();
    for script in scripts.scripts() {
        if let Some(dir) = script.path.parent() {
            let dir = dir.display().to_string();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    if dirs.is_empty() {
        "the version locations (no scripts)".to_string()
    } else {
        dirs.join(", ")
    }
}

/// Checks, before anything runs, that every step that runs SQL has a script and that every
/// downgrade step has downgrade SQL.
pub(crate) fn check_plan(ctx: &Context<'_>, plan: &Plan) -> Result<(), RunError> {
    for step in &plan.steps {
        match &step.kind {
            StepKind::Upgrade { revision } => {
                ctx.script(revision)?;
            }
            StepKind::Downgrade { revision } => {
                let script = ctx.script(revision)?;
                if script.downgrade_sql.is_none() {
                    return Err(RunError::NoDowngrade {
                        revision: revision.clone(),
                        path: script.path.clone(),
                    });
                }
            }
            StepKind::Stamp { .. } => {}
        }
    }
    Ok(())
}

/// Logs the plan at debug level, one line per step.
pub(crate) fn log_plan(plan: &Plan) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    log::debug!(
        "migration plan: heads [{}] -> [{}], {} step(s)",
        plan.heads_before.join(", "),
        plan.heads_after.join(", "),
        plan.steps.len()
    );
    for (n, step) in plan.steps.iter().enumerate() {
        log::debug!("  {}: {:?} {:?}", n + 1, step.kind, step.version_changes);
    }
}

/// Runs `plan`. The backend holds the run lock; a transaction may be open (SQLite's lock is
/// one), and is used for the first steps.
pub(crate) fn run_plan(
    backend: &mut dyn Backend,
    ctx: &Context<'_>,
    plan: &Plan,
) -> Result<Report, RunError> {
    check_plan(ctx, plan)?;
    log_plan(plan);
    let per_migration = ctx.options.transaction_per_migration;
    let mut run = Run {
        committed: Report::default(),
        pending: Vec::new(),
    };
    // New rows extend the recorded chains of what is applied, so that an applied script
    // edited since cannot be laundered into its children's records (even with verification
    // off): one query for the whole history.
    let recorded = if plan.steps.is_empty() {
        HashMap::new()
    } else {
        recorded_chains(backend, &ctx.tables).map_err(|cause| RunError::Database {
            doing: "reading the recorded checksums of the history table".to_string(),
            cause,
            applied: Report::default(),
        })?
    };
    let mut chain = ChainedChecksums::extending(ctx.scripts, &recorded);

    for step in &plan.steps {
        let script = match step.revision() {
            Some(id) => Some(ctx.script(id)?),
            None => None,
        };
        // Outside any transaction: asked for by the script, or forced by a database whose DDL
        // commits implicitly.
        let outside = script.is_some_and(|s| !s.transactional)
            || (script.is_some() && !backend.transactional_ddl());
        if outside {
            if backend.in_transaction() {
                run.commit(
                    backend,
                    "committing the revisions before a non-transactional one",
                )?;
            }
        } else if !backend.in_transaction() {
            run.begin(backend)?;
        }

        let applied_at = now_utc_text();
        let started = Instant::now();
        if let Some(script) = script {
            let sql = match &step.kind {
                StepKind::Downgrade { .. } => script.downgrade_sql.as_deref().unwrap_or(""),
                _ => script.upgrade_sql.as_str(),
            };
            // As Alembic does on MySQL: a revision that did not ask to run outside a
            // transaction runs in one even where DDL commits implicitly, so that a failure
            // rolls back what ran since its last DDL statement (all of a data-only revision).
            // It is still reported as possibly half-applied: which statements committed
            // implicitly cannot be told afterwards.
            let wrapped = outside && script.transactional;
            if wrapped {
                run.begin(backend)?;
            }
            let mut result = backend.execute_batch(sql);
            if wrapped && result.is_ok() {
                result = backend.commit();
            }
            if let Err(cause) = result {
                rollback_quietly(backend);
                let marked_dirty =
                    outside && mark_dirty(backend, ctx, script, operation(step), started);
                return Err(RunError::Migration {
                    revision: script.revision.id.clone(),
                    path: script.path.clone(),
                    operation: operation(step),
                    half_applied: outside,
                    marked_dirty,
                    cause,
                    applied: run.committed,
                });
            }
            if outside {
                run.begin(backend)?;
            }
        }

        for change in &step.version_changes {
            if let Err(cause) = backend.apply_version_change(&ctx.tables, change) {
                rollback_quietly(backend);
                if let (true, Some(script)) = (outside, script) {
                    // Its SQL committed but the version table does not say so.
                    mark_dirty(backend, ctx, script, operation(step), started);
                }
                return Err(RunError::VersionTable {
                    revision: step_name(step),
                    operation: operation(step),
                    sql_committed: outside,
                    cause: Box::new(cause),
                    applied: run.committed,
                });
            }
        }
        let duration = started.elapsed();

        let duration_ms = Some(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
        for row in history_rows(step, script, ctx, &mut chain, applied_at, duration_ms) {
            if let Err(cause) = backend.insert_history(&ctx.tables, &row) {
                rollback_quietly(backend);
                return Err(RunError::Database {
                    doing: format!(
                        "recording {} of {} in the history table{}",
                        row.operation,
                        row.revision,
                        if outside {
                            " (its SQL ran outside a transaction and stays applied)"
                        } else {
                            ""
                        }
                    ),
                    cause,
                    applied: run.committed,
                });
            }
        }

        match script {
            Some(s) => log::info!(
                "{} {} ({}) in {} ms",
                operation(step),
                s.revision.id,
                s.path.display(),
                duration.as_millis()
            ),
            None => log::info!(
                "{}",
                Applied {
                    step: step.kind.clone(),
                    duration
                }
            ),
        }
        run.pending.push(Applied {
            step: step.kind.clone(),
            duration,
        });
        if per_migration || outside {
            run.commit(backend, "committing")?;
        }
    }
    if backend.in_transaction() {
        run.commit(backend, "committing")?;
    }
    Ok(run.committed)
}

/// The steps that committed, and those that will commit with the open transaction.
struct Run {
    committed: Report,
    pending: Vec<Applied>,
}

impl Run {
    fn begin(&mut self, backend: &mut dyn Backend) -> Result<(), RunError> {
        backend.begin().map_err(|cause| RunError::Database {
            doing: "beginning a transaction".to_string(),
            cause,
            applied: self.committed.clone(),
        })
    }

    fn commit(&mut self, backend: &mut dyn Backend, doing: &str) -> Result<(), RunError> {
        match backend.commit() {
            Ok(()) => {
                self.committed.applied.append(&mut self.pending);
                Ok(())
            }
            Err(cause) => {
                rollback_quietly(backend);
                let names: Vec<String> = self.pending.iter().map(|a| a.to_string()).collect();
                Err(RunError::Database {
                    doing: format!("{doing} ({})", names.join(", ")),
                    cause,
                    applied: self.committed.clone(),
                })
            }
        }
    }
}

/// Records a failed non-transactional revision (see `dirty.rs`) so that the next run
/// refuses; returns whether that worked. A failure to record it is logged: the migration's
/// error is what the user needs to see, and it says the revision may be half-applied.
fn mark_dirty(
    backend: &mut dyn Backend,
    ctx: &Context<'_>,
    script: &Script,
    operation: Operation,
    started: Instant,
) -> bool {
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match dirty::mark(
        backend,
        &ctx.tables,
        script,
        operation,
        duration_ms,
        &ctx.options.tool,
    ) {
        Ok(()) => true,
        Err(e) => {
            log::warn!(
                "could not mark the database dirty after {operation} of {} failed: {e}; \
                 check the database before running again",
                script.revision.id
            );
            false
        }
    }
}

/// Rolls back after a failure; a failing rollback is logged, the first error is what the user
/// needs to see.
pub(crate) fn rollback_quietly(backend: &mut dyn Backend) {
    if backend.in_transaction() {
        if let Err(e) = backend.rollback() {
            log::warn!("rollback after a failed migration failed too: {e}");
        }
    }
}

fn operation(step: &Step) -> Operation {
    match step.kind {
        StepKind::Upgrade { .. } => Operation::Upgrade,
        StepKind::Downgrade { .. } => Operation::Downgrade,
        StepKind::Stamp { .. } => Operation::Stamp,
    }
}

/// The revision a step is about, for messages: a stamp names the heads it moves to.
fn step_name(step: &Step) -> String {
    match &step.kind {
        StepKind::Upgrade { revision } | StepKind::Downgrade { revision } => revision.clone(),
        StepKind::Stamp { from, to } if to.is_empty() => from.join(", "),
        StepKind::Stamp { to, .. } => to.join(", "),
    }
}

/// The history rows of one step.
///
/// A stamp writes one row per revision it adds to the version table (with that script's
/// checksums), or, when it only removes rows (`stamp base`), one row per removed revision with
/// no checksum.
pub(crate) fn history_rows(
    step: &Step,
    script: Option<&Script>,
    ctx: &Context<'_>,
    chain: &mut ChainedChecksums<'_>,
    applied_at: String,
    duration_ms: Option<i64>,
) -> Vec<HistoryRow> {
    let tool = ctx.options.tool.clone();
    let row =
        |revision: &str, operation, script: Option<&Script>, chain: &mut ChainedChecksums<'_>| {
            // A revision being applied gets its chain from its script now; a downgraded one
            // keeps the chain it has (recorded, where the run extends recorded chains).
            let chained = match (script, operation) {
                (None, _) => None,
                (Some(_), Operation::Downgrade) => chain.get(revision),
                (Some(_), Operation::Upgrade | Operation::Stamp | Operation::Rehash) => {
                    chain.applying(revision)
                }
            };
            HistoryRow {
                revision: revision.to_string(),
                operation,
                checksum: script.map(|s| s.checksum.to_hex()),
                chained_checksum: chained.map(|c| c.to_hex()),
                downgrade_sql: match operation {
                    Operation::Upgrade => script.and_then(|s| s.downgrade_sql.clone()),
                    _ => None,
                },
                applied_at: applied_at.clone(),
                duration_ms,
                tool: tool.clone(),
                // Where reverting it leads, for a later build that lacks its script: the
                // parents version rows move along (dependencies included), as the planner's.
                down_revisions: match (operation, script) {
                    (Operation::Upgrade, Some(_)) => Some(join_down_revisions(
                        &ctx.scripts.map().effective_down_revisions(revision),
                    )),
                    _ => None,
                },
                actor: None,
                reason: None,
            }
        };
    match &step.kind {
        StepKind::Upgrade { revision } => vec![row(revision, Operation::Upgrade, script, chain)],
        StepKind::Downgrade { revision } => {
            vec![row(revision, Operation::Downgrade, script, chain)]
        }
        StepKind::Stamp { from, to } if to.is_empty() => from
            .iter()
            .map(|id| row(id, Operation::Stamp, None, chain))
            .collect(),
        StepKind::Stamp { from, to } => to
            .iter()
            .filter(|id| !from.contains(id))
            .map(|id| row(id, Operation::Stamp, ctx.scripts.script(id), chain))
            .collect(),
    }
}

/// Wraps a backend error raised outside any step.
pub(crate) fn database(doing: &str, cause: BackendError) -> RunError {
    RunError::Database {
        doing: doing.to_string(),
        cause,
        applied: Report::default(),
    }
}
