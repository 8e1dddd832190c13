//! How a run behaves: table names, transaction mode, and what the history rows say did it.

use std::time::Duration;

pub use alembic_core::config::LockMode;

/// How long a lease (`LockMode::Lease`) lives without a heartbeat, by default.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(30);

/// Options of a run, with Alembic's defaults.
///
/// `#[non_exhaustive]`: build one with [`RunOptions::default`] and set the fields you need.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOptions {
    /// Name of the version table (`alembic_version`). The history table is this name with
    /// `_history` appended.
    pub version_table: String,
    /// Schema (PostgreSQL, MySQL database, SQLite attached database) holding both tables;
    /// `None` for the connection's default.
    pub version_table_schema: Option<String>,
    /// `false` (Alembic's default): the whole run is one transaction, all revisions commit
    /// together or none. `true`: each revision commits on its own.
    pub transaction_per_migration: bool,
    /// What the history rows record as the tool that applied a revision, e.g.
    /// `cargo-alembic 0.1.0`.
    pub tool: String,
    /// Before an upgrade or downgrade, check that the scripts of the applied revisions were
    /// not edited since they ran (one comparison per current head). On by default; stamping
    /// never verifies, so it stays the way out.
    pub verify_checksums: bool,
    /// With `verify_checksums`, log a warning naming the edited revision instead of refusing
    /// to run. For apps that would rather start than stop on an edited comment.
    pub warn_on_checksum_mismatch: bool,
    /// Deploy rollback: when the database is at revisions this build has no script for (a
    /// newer build migrated it), revert them with the downgrade SQL their history rows
    /// stored, then run. Off by default: such a database is refused.
    pub revert_unknown_revisions: bool,
    /// How long to wait for another process's run lock before failing with an error that
    /// names the holder; `None` waits for ever. Every backend honours it (a timeout set on
    /// the backend itself, `with_lock_timeout`/`with_busy_timeout`, takes precedence).
    pub lock_timeout: Option<Duration>,
    /// Which run lock PostgreSQL and MySQL take: `Advisory` (the session lock, default) or
    /// `Lease` (a lease row in `<version_table>_lock`, for PgBouncer's transaction pooling).
    /// SQLite has its lock file only and refuses `Lease`.
    pub lock_mode: LockMode,
    /// With `LockMode::Lease`: how long the lease lives without a heartbeat (renewed every
    /// third of it), so how long a crashed run blocks the next one. Default 30 s.
    pub lease_duration: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            version_table: "alembic_version".to_string(),
            version_table_schema: None,
            transaction_per_migration: false,
            tool: concat!("alembic-runtime ", env!("CARGO_PKG_VERSION")).to_string(),
            verify_checksums: true,
            warn_on_checksum_mismatch: false,
            revert_unknown_revisions: false,
            lock_timeout: Some(Duration::from_secs(60)),
            lock_mode: LockMode::Advisory,
            lease_duration: DEFAULT_LEASE_DURATION,
        }
    }
}

impl RunOptions {
    /// Name of the history table: the version table's name with `_history` appended.
    pub fn history_table(&self) -> String {
        format!("{}_history", self.version_table)
    }
}
