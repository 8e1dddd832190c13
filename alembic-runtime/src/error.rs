//! Why a run failed. Every variant names the revision (and its file) it is about, and the ones
//! raised after something may have committed carry the [`Report`] of what did.

use std::path::PathBuf;

use crate::backend::{BackendError, VersionRowError};
use crate::dirty::Dirty;
use crate::history::Operation;
use crate::report::Report;
use crate::verify::Mismatch;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The version table names revisions no script defines: the database was migrated by a
    /// newer build (or another branch) than this one.
    #[error(
        "the database is at revision {}, which none of the scripts in {locations} define: \
         is this binary older than the database?{}",
        revisions.join(", "),
        if *revertible {
            " Its history rows stored the downgrade SQL: set \
             `RunOptions::revert_unknown_revisions` (deploy rollback) to revert it and run, or \
             run `cargo alembic downgrade <a revision this build has>`"
        } else {
            ""
        }
    )]
    UnknownDatabaseRevision {
        revisions: Vec<String>,
        locations: String,
        /// Every unknown revision can be reverted with the downgrade SQL its history row stored
        /// (see [`crate::RunOptions::revert_unknown_revisions`]).
        revertible: bool,
    },

    /// Reverting revisions this build has no script for (deploy rollback) was refused or
    /// failed.
    #[error(transparent)]
    Revert(Box<crate::rollback::RevertError>),

    /// The plan names a revision that no script defines (a plan built against other scripts).
    #[error("the plan runs revision {revision}, which none of the scripts in {locations} define")]
    MissingScript { revision: String, locations: String },

    /// A downgrade passes through a revision whose script has no downgrade SQL. Raised before
    /// anything runs.
    #[error(
        "cannot downgrade revision {revision}: {} has no SQL after `-- +downgrade`; \
         write the downgrade SQL, or stamp past it",
        path.display()
    )]
    NoDowngrade { revision: String, path: PathBuf },

    /// The planner refused the target.
    #[error(transparent)]
    Plan(#[from] alembic_core::plan::PlanError),

    /// The run lock could not be taken (for SQLite: the database stayed busy past the busy
    /// timeout).
    #[error("could not take the migration lock: {cause}")]
    Lock { cause: BackendError },

    /// A plan given to `execute` was made from other heads than the database has now.
    #[error(
        "the plan starts from heads [{}] but the database is at [{}]: plan again",
        expected.join(", "),
        found.join(", ")
    )]
    HeadsMoved {
        expected: Vec<String>,
        found: Vec<String>,
    },

    /// A revision's SQL failed.
    #[error(
        "{operation} of revision {revision} ({}) failed: {cause}; {}{}",
        path.display(),
        if *half_applied && *marked_dirty {
            "it may be half-applied (it ran outside a transaction, or where DDL commits \
             implicitly, as on MySQL): the version table does not claim it, and the database is marked dirty, so the next run refuses to start until \
             you check the schema and then stamp the database to where it really is, or change \
             the script to finish the job"
        } else if *half_applied {
            "it may be half-applied (it ran outside a transaction, or where DDL commits \
             implicitly, as on MySQL): check the database before running it again; the version table does not claim it (recording the failure \
             failed too, see the log)"
        } else {
            "its changes were rolled back and the version table does not claim it"
        },
        committed_note(applied)
    )]
    Migration {
        revision: String,
        path: PathBuf,
        operation: Operation,
        /// The SQL ran outside a transaction (a `Transactional: false` revision, or a database
        /// without transactional DDL), so part of it may have taken effect.
        half_applied: bool,
        /// The failure was recorded (see [`Dirty`]): the next upgrade or downgrade refuses.
        marked_dirty: bool,
        cause: BackendError,
        /// What committed before the failure.
        applied: Report,
    },

    /// A version-table change failed or touched the wrong number of rows.
    #[error(
        "recording {operation} of revision {revision} in the version table failed: {cause}; \
         {}",
        if *sql_committed {
            "its SQL ran outside a transaction and stays applied: stamp the version table \
             by hand once the database is checked"
        } else {
            "another process may have migrated the database at the same time; its changes \
             were rolled back"
        }
    )]
    VersionTable {
        revision: String,
        operation: Operation,
        /// The revision's SQL had already been committed (non-transactional revision).
        sql_committed: bool,
        cause: Box<VersionRowError>,
        applied: Report,
    },

    /// An applied script was edited: its checksum differs from the one recorded when it ran.
    #[error(
        "revision {} ({}) changed after it was applied: the database recorded checksum {}, \
         the script now has {}; revert the edit and make the change in a new revision, or, if \
         the edit changes nothing the database holds (a comment, formatting), record the script \
         as it is now with an audited amendment: `cargo alembic rehash {} --reason \"...\"`",
        .0.revision,
        .0.path.display(),
        .0.recorded,
        .0.current,
        .0.revision
    )]
    ChecksumMismatch(Box<Mismatch>),

    /// The last run failed in a revision that ran outside a transaction, and the database
    /// has not been brought back in line: an upgrade or downgrade now could build on a
    /// half-applied schema. Reads still work.
    #[error("{}", dirty_message(.0))]
    Dirty(Box<Dirty>),

    /// Any other database error (creating the tables, reading the heads, committing).
    #[error("{doing} failed: {cause}")]
    Database {
        doing: String,
        cause: BackendError,
        applied: Report,
    },
}

fn dirty_message(d: &Dirty) -> String {
    let (none, all) = d.stamp_targets();
    let script = match &d.path {
        Some(path) => format!(" ({})", path.display()),
        None => String::new(),
    };
    format!(
        "the database is dirty: {} of revision {}{script} failed at {} outside a transaction \
         and may be half-applied; inspect the schema, then either stamp the database to where \
         it really is (`cargo alembic stamp {none}` if none of it took effect, `cargo alembic \
         stamp {all}` if all of it did), or fix the script and run again (a script whose \
         checksum differs from the failed one's is run again)",
        d.operation, d.revision, d.failed_at
    )
}

/// `" (committed before it: upgrade a, upgrade b)"`, or nothing when nothing committed.
fn committed_note(applied: &Report) -> String {
    if applied.is_empty() {
        return String::new();
    }
    let steps: Vec<String> = applied
        .applied
        .iter()
        .map(|a| match a.revision() {
            Some(revision) => format!("{} {revision}", a.operation()),
            None => a.to_string(),
        })
        .collect();
    format!(" (committed before it: {})", steps.join(", "))
}

impl RunError {
    /// What committed before the failure (empty when nothing did or nothing ran).
    pub fn applied(&self) -> Option<&Report> {
        match self {
            RunError::Migration { applied, .. }
            | RunError::VersionTable { applied, .. }
            | RunError::Database { applied, .. } => Some(applied),
            RunError::Revert(e) => e.applied(),
            _ => None,
        }
    }

    /// The revision the error is about, when there is one.
    pub fn revision(&self) -> Option<&str> {
        match self {
            RunError::MissingScript { revision, .. }
            | RunError::NoDowngrade { revision, .. }
            | RunError::Migration { revision, .. }
            | RunError::VersionTable { revision, .. } => Some(revision),
            RunError::ChecksumMismatch(m) => Some(&m.revision),
            RunError::Dirty(d) => Some(&d.revision),
            RunError::Revert(e) => Some(e.revision()),
            RunError::UnknownDatabaseRevision { revisions, .. } => {
                revisions.first().map(String::as_str)
            }
            _ => None,
        }
    }
}
