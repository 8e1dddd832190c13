//! [`Migrator`]: the one pipeline the CLI and applications share: lock, ensure the version
//! tables, read the heads, plan with `alembic_core::plan`, check, execute, unlock.

use alembic_core::plan::{self, Direction, Plan};
use alembic_core::source::ScriptDirectory;
use alembic_core::url::Dialect;
use alembic_core::{Checksum, RevisionMap};

use crate::backend::{Backend, BackendError, LockGuard};
use crate::dialect::Tables;
use crate::dirty::{self, Dirty};
use crate::embedded::Migrations;
use crate::error::RunError;
use crate::executor::{self, database, Context};
use crate::history::ChainedChecksums;
use crate::history::Operation;
use crate::options::RunOptions;
use crate::report::Report;
use crate::rollback;
use crate::verify::{self, verify_heads, Verification};

/// What a run does besides executing its plan.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Upgrade, downgrade or a caller's plan: verify checksums first when asked to.
    Migrate,
    /// Stamp: never verifies (it is how a database is brought back in line); with `purge`,
    /// revisions no script knows are accepted, since every row is deleted.
    Stamp { purge: bool },
}

/// Where the revisions come from.
#[derive(Clone, Copy)]
enum Source<'s> {
    /// Scripts loaded from disk (the CLI), or assembled by the caller.
    Directory(&'s ScriptDirectory),
    /// Compiled into the application: answers the up-to-date check from static data, and
    /// assembles its `ScriptDirectory` only when a run has work to do.
    Embedded(&'s Migrations),
}

impl<'s> Source<'s> {
    fn directory(self) -> &'s ScriptDirectory {
        match self {
            Source::Directory(scripts) => scripts,
            Source::Embedded(migrations) => migrations.scripts(),
        }
    }

    /// The graph's heads, sorted.
    fn sorted_heads(self) -> Vec<&'s str> {
        match self {
            Source::Directory(scripts) => {
                let mut heads = scripts.map().heads();
                heads.sort_unstable();
                heads
            }
            Source::Embedded(migrations) => migrations.sorted_heads().to_vec(),
        }
    }

    /// The chained checksum of `id` computed from the scripts (precomputed when embedded).
    fn chained_checksum(self, id: &str) -> Option<Checksum> {
        match self {
            Source::Directory(scripts) => ChainedChecksums::new(scripts).get(id),
            Source::Embedded(migrations) => migrations
                .revision(id)
                .map(|rev| Checksum(rev.chained_checksum)),
        }
    }
}

/// Applies the revisions of a [`ScriptDirectory`] to databases.
pub struct Migrator<'s> {
    source: Source<'s>,
    options: RunOptions,
}

impl<'s> Migrator<'s> {
    pub fn new(scripts: &'s ScriptDirectory, options: RunOptions) -> Self {
        Migrator {
            source: Source::Directory(scripts),
            options,
        }
    }

    /// A migrator over migrations compiled into the application.
    pub fn embedded(migrations: &'s Migrations, options: RunOptions) -> Self {
        Migrator {
            source: Source::Embedded(migrations),
            options,
        }
    }

    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    pub fn scripts(&self) -> &'s ScriptDirectory {
        self.source.directory()
    }

    fn context(&self, dialect: Dialect) -> Context<'_> {
        Context {
            scripts: self.source.directory(),
            options: &self.options,
            tables: Tables::new(dialect, &self.options),
        }
    }

    /// The database's current heads (its version rows), sorted; empty when it has no version
    /// table. Reads only: takes no lock and creates nothing.
    pub fn current_heads(&self, backend: &mut dyn Backend) -> Result<Vec<String>, RunError> {
        let tables = Tables::new(backend.dialect(), &self.options);
        backend
            .read_heads(&tables)
            .map_err(|cause| database("reading the version table", cause))
    }

    /// Checks that the scripts of the applied revisions were not edited since they ran: one
    /// history lookup per current head. Reads only, without the lock.
    pub fn verify(&self, backend: &mut dyn Backend) -> Result<Verification, RunError> {
        let ctx = self.context(backend.dialect());
        let heads = backend
            .read_heads(&ctx.tables)
            .map_err(|cause| database("reading the version table", cause))?;
        verify_heads(backend, &ctx, &heads)
    }

    /// Whether a revision that ran outside a transaction failed and the database was not
    /// brought back in line since (see [`Dirty`]); `None` when it is clean. Reads only: takes
    /// no lock and creates nothing.
    pub fn dirty(&self, backend: &mut dyn Backend) -> Result<Option<Dirty>, RunError> {
        let tables = Tables::new(backend.dialect(), &self.options);
        self.read_dirty(backend, &tables)
            .map_err(|cause| database("reading the latest history row", cause))
    }

    fn read_dirty(
        &self,
        backend: &mut dyn Backend,
        tables: &Tables,
    ) -> Result<Option<Dirty>, BackendError> {
        dirty::read(backend, tables, |id| {
            self.source
                .directory()
                .script(id)
                .map(|s| (s.path.clone(), s.revision.down_revisions.clone()))
        })
    }

    /// Whether the database is at every head of the graph, clean and (with checksum
    /// verification on) unedited: exactly when `upgrade heads` has nothing to do. Reads only,
    /// without the lock; see [`Migrator::upgrade`].
    pub fn is_up_to_date(&self, backend: &mut dyn Backend) -> Result<bool, RunError> {
        // No transaction around these reads: a write transaction would queue behind a running
        // migration (SQLite's BEGIN IMMEDIATE), which is what this check exists to avoid.
        // Each read sees committed state; a database seen at its heads can only move on by
        // another run, which takes the lock and re-reads everything itself.
        let tables = Tables::new(backend.dialect(), &self.options);
        self.read_up_to_date(backend, &tables)
    }

    fn read_up_to_date(
        &self,
        backend: &mut dyn Backend,
        tables: &Tables,
    ) -> Result<bool, RunError> {
        let heads = backend
            .read_heads(tables)
            .map_err(|cause| database("reading the version table", cause))?;
        if heads.is_empty() || heads != self.source.sorted_heads() {
            return Ok(false);
        }
        // A database without the history table (made by Python Alembic) is adopted by a run:
        // not up to date until then.
        let has_history = backend
            .table_exists(tables, &tables.history)
            .map_err(|cause| database("looking for the history table", cause))?;
        if !has_history {
            return Ok(false);
        }
        let dirty = dirty::read(backend, tables, |_| None)
            .map_err(|cause| database("reading the latest history row", cause))?;
        if dirty.is_some() {
            return Ok(false);
        }
        if self.options.verify_checksums {
            // One lookup per head: a head's chained checksum covers all its ancestors. Anything
            // else than an exact match (an edit, a head applied by another tool) is left to the
            // full run, which explains it or refuses.
            for head in &heads {
                let recorded = verify::latest_chain(backend, tables, head)?;
                let expected = self.source.chained_checksum(head).map(|c| c.to_hex());
                if recorded.is_none() || recorded != expected {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Upgrades to `target` (`head`, `heads`, an id, `+2`, `label@head`, ...).
    ///
    /// `head` (with a single head) and `heads` first check, without the lock, whether the
    /// database is already there ([`Migrator::is_up_to_date`]): the startup of an app whose
    /// database is current costs a few reads, and replicas starting together do not queue
    /// on the lock for nothing.
    pub fn upgrade(&self, backend: &mut dyn Backend, target: &str) -> Result<Report, RunError> {
        let to_all_heads =
            target == "heads" || (target == "head" && self.source.sorted_heads().len() == 1);
        if to_all_heads && self.is_up_to_date(backend)? {
            log::debug!("the database is at {target}: nothing to do");
            return Ok(Report::default());
        }
        self.run(backend, Mode::Migrate, |map, heads| {
            Ok(plan::upgrade(map, heads, target)?)
        })
    }

    /// Downgrades to `target` (`base`, an id, `-1`, ...). Fails before running anything when a
    /// revision on the way has no downgrade SQL.
    pub fn downgrade(&self, backend: &mut dyn Backend, target: &str) -> Result<Report, RunError> {
        self.run(backend, Mode::Migrate, |map, heads| {
            Ok(plan::downgrade(map, heads, target)?)
        })
    }

    /// Sets the version table to `targets` without running any SQL. With `purge`, every row is
    /// deleted first, so even a database at revisions no script knows can be stamped.
    pub fn stamp(
        &self,
        backend: &mut dyn Backend,
        targets: &[String],
        purge: bool,
    ) -> Result<Report, RunError> {
        self.run(backend, Mode::Stamp { purge }, |map, heads| {
            Ok(plan::stamp(map, heads, targets, purge)?)
        })
    }

    /// Runs a plan the caller made. Fails when the database's heads are not the plan's
    /// `heads_before` (it was planned against another state).
    pub fn execute(&self, backend: &mut dyn Backend, plan: &Plan) -> Result<Report, RunError> {
        self.run(backend, Mode::Migrate, |_, heads| {
            let mut expected = plan.heads_before.clone();
            expected.sort();
            if expected != heads {
                return Err(RunError::HeadsMoved {
                    expected,
                    found: heads.to_vec(),
                });
            }
            Ok(plan.clone())
        })
    }

    /// The SQL script a plan would run, for `--sql`; see [`crate::offline_sql`].
    pub fn offline_sql(&self, dialect: Dialect, plan: &Plan) -> Result<String, RunError> {
        crate::offline::offline_sql(dialect, plan, self.source.directory(), &self.options)
    }

    /// Lock, tables, heads, plan, check, execute. The lock guard releases the lock (and rolls
    /// back anything left open) on every path out of here.
    fn run(
        &self,
        backend: &mut dyn Backend,
        mode: Mode,
        make_plan: impl FnOnce(&RevisionMap, &[String]) -> Result<Plan, RunError>,
    ) -> Result<Report, RunError> {
        let ctx = self.context(backend.dialect());
        // The run's lock settings (timeout, advisory or lease) reach the backend here.
        let mut guard = LockGuard::acquire_with(backend, &ctx.tables, &(&self.options).into())
            .map_err(|cause| RunError::Lock { cause })?;

        // Where DDL is transactional, the tables are created in the run's transaction (on
        // SQLite the lock opened it already): a refused or failed run leaves the database as it
        // found it, with no history table it did not keep using.
        if !guard.in_transaction() && guard.transactional_ddl() {
            guard
                .begin()
                .map_err(|cause| database("beginning a transaction", cause))?;
        }
        let state = guard
            .ensure_tables(&ctx.tables)
            .map_err(|cause| database("creating the version tables", cause))?;
        let result = self.run_locked(&mut *guard, &ctx, mode, make_plan);
        if state.adopted() {
            log_adoption(&mut *guard, &ctx);
        }
        let report = result?;
        // Everything has committed: a failure to release is not a failed migration.
        if let Err(e) = guard.release() {
            log::warn!("releasing the migration lock failed: {e}");
        }
        Ok(report)
    }

    /// Heads, refusal of unknown revisions, verification, plan, execution: the part of a run
    /// after the tables exist, under the lock.
    fn run_locked(
        &self,
        guard: &mut dyn Backend,
        ctx: &Context<'_>,
        mode: Mode,
        make_plan: impl FnOnce(&RevisionMap, &[String]) -> Result<Plan, RunError>,
    ) -> Result<Report, RunError> {
        let mut heads = guard
            .read_heads(&ctx.tables)
            .map_err(|cause| database("reading the version table", cause))?;
        // `stamp --purge` empties the version table whatever it holds, as in Alembic: the
        // planner deletes every row, known or not.
        let unknown: Vec<String> = heads
            .iter()
            .filter(|h| {
                mode != Mode::Stamp { purge: true } && self.source.directory().script(h).is_none()
            })
            .cloned()
            .collect();
        let mut reverted = rollback::Reverted::default();
        if !unknown.is_empty() {
            // Deploy rollback (see rollback.rs): refused unless asked for.
            let scripts = self.source.directory();
            // The parents version rows move along, dependencies included, as the planner's.
            let known = |id: &str| {
                let parents = scripts.map().effective_down_revisions(id);
                scripts
                    .script(id)
                    .map(|_| parents.into_iter().map(str::to_string).collect())
            };
            let revert = self.options.revert_unknown_revisions && mode == Mode::Migrate;
            let locations = executor::locations(scripts);
            (heads, reverted) =
                rollback::unknown_heads(guard, ctx, revert, &heads, unknown, &known, locations)?;
        }

        let mut dirty_retry = None;
        let dirty = self
            .read_dirty(guard, &ctx.tables)
            .map_err(|cause| database("reading the latest history row", cause))?;
        if let Some(dirty) = dirty {
            match mode {
                Mode::Stamp { .. } => {
                    // Stamping is how the user says where the database really is. The
                    // resolution commits with the stamp (DML is transactional on MySQL too).
                    if !guard.in_transaction() {
                        guard
                            .begin()
                            .map_err(|cause| database("beginning a transaction", cause))?;
                    }
                    dirty::resolve(guard, &ctx.tables, &dirty, &self.options.tool)
                        .map_err(|cause| database("clearing the dirty state", cause))?;
                    log::info!(
                        "cleared the dirty state left by the failed {} of {}",
                        dirty.operation,
                        dirty.revision
                    );
                }
                Mode::Migrate => {
                    let current = self
                        .source
                        .directory()
                        .script(&dirty.revision)
                        .map(|s| s.checksum.to_hex());
                    if current.is_none() || current == dirty.checksum {
                        return Err(RunError::Dirty(Box::new(dirty)));
                    }
                    log::info!(
                        "revision {} failed at {} and its script has changed since: running again",
                        dirty.revision,
                        dirty.failed_at
                    );
                    dirty_retry = Some(dirty);
                }
            }
        }

        if mode == Mode::Migrate {
            verify::verify_for_run(guard, ctx, &heads)?;
        }

        let plan = make_plan(self.source.directory().map(), &heads)?;
        if let Some(dirty) = dirty_retry {
            // A fixed script earns a rerun of itself, not a pass for some other run: a plan
            // that does not run the failed revision the way it failed would clear the state
            // while the database may still hold half of it.
            let direction = match dirty.operation {
                Operation::Downgrade => Direction::Downgrade,
                _ => Direction::Upgrade,
            };
            let reruns = plan.steps.iter().any(|step| {
                step.revision() == Some(dirty.revision.as_str())
                    && step.direction() == Some(direction)
            });
            if !reruns {
                return Err(RunError::Dirty(Box::new(dirty)));
            }
        }
        match executor::run_plan(guard, ctx, &plan) {
            Ok(report) => Ok(reverted.followed_by(report)),
            Err(e) => Err(reverted.failed(e)),
        }
    }
}

/// Announces the adoption of a database without a history table, once the table's creation
/// has committed: a run that was refused or failed rolls it back (where DDL is transactional)
/// and adopts nothing, so the message would be false, and repeated by every run. Whatever the
/// run left open is rolled back first (as releasing the lock would), then the table's
/// existence is what tells.
fn log_adoption(backend: &mut dyn Backend, ctx: &Context<'_>) {
    executor::rollback_quietly(backend);
    match backend.table_exists(&ctx.tables, &ctx.tables.history) {
        Ok(true) => log::info!(
            "adopted a database without {} (made by Python Alembic?): its history starts now",
            ctx.tables.history
        ),
        Ok(false) => {}
        Err(e) => log::debug!(
            "could not tell whether {} was kept: {e}",
            ctx.tables.history
        ),
    }
}
