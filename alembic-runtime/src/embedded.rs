//! Migrations compiled into the application: [`Migrations`] and [`embedded!`](crate::embedded).
//!
//! `alembic_build::embed()` (in the app's build.rs) parses and validates every script at
//! compile time and writes `alembic_embedded.rs` into `OUT_DIR`: one [`EmbeddedRevision`] per
//! script (its SQL, checksum and chained checksum) plus the graph's sorted heads and an id
//! index. `embedded!()` includes that file as a `const` expression, so the value can live in a
//! `static`.
//!
//! At startup nothing is parsed. The common case, a database already at head, is answered
//! from the static data alone: read the version rows, compare them with the precomputed
//! heads, compare each head's recorded chained checksum with the precomputed one (one history
//! lookup per head), and return. Only when there is work to do is the [`ScriptDirectory`]
//! assembled from the static data (once per process) and handed to the same [`Migrator`] the
//! CLI uses: one engine for planning and executing.

use std::path::PathBuf;
use std::sync::OnceLock;

use alembic_core::source::ScriptDirectory;
use alembic_core::{Checksum, Revision, Script};

use crate::backend::Backend;
use crate::error::RunError;
use crate::migrator::Migrator;
use crate::options::RunOptions;
use crate::report::Report;

/// One revision as `alembic_build` wrote it. Public for the generated code only.
#[doc(hidden)]
#[derive(Debug)]
pub struct EmbeddedRevision {
    pub id: &'static str,
    pub down_revisions: &'static [&'static str],
    pub branch_labels: &'static [&'static str],
    pub depends_on: &'static [&'static str],
    pub message: &'static str,
    pub create_date: Option<&'static str>,
    pub transactional: bool,
    pub upgrade_sql: &'static str,
    pub downgrade_sql: Option<&'static str>,
    pub checksum: [u8; 32],
    /// The revision's script over its ancestors' (see `ChainedChecksums`), as verification
    /// computes it from the scripts.
    pub chained_checksum: [u8; 32],
    /// Relative to the package root, for messages: `migrations/versions/ae10_add_users.sql`.
    pub path: &'static str,
    pub id_line: usize,
}

/// The run options `alembic.toml` set at build time. Public for the generated code only.
#[doc(hidden)]
#[derive(Debug)]
pub struct EmbeddedConfig {
    pub version_table: &'static str,
    pub version_table_schema: Option<&'static str>,
    pub transaction_per_migration: bool,
    /// `lock_timeout`, in seconds.
    pub lock_timeout_secs: u64,
    /// `lock`: advisory, or a lease behind a transaction-pooling proxy.
    pub lock_mode: crate::options::LockMode,
}

/// Everything `alembic_build` generates. Public for the generated code only.
#[doc(hidden)]
#[derive(Debug)]
pub struct EmbeddedData {
    /// In map order (the order the CLI loads them in), so that ties between heads and bases
    /// break the same way in the app and in `cargo alembic`.
    pub revisions: &'static [EmbeddedRevision],
    /// `(id, index into revisions)`, sorted by id, for lookups without building a map.
    pub by_id: &'static [(&'static str, usize)],
    /// The graph's heads, sorted.
    pub heads: &'static [&'static str],
    pub config: EmbeddedConfig,
}

/// The migrations of an application, compiled into it by `alembic_build::embed()`.
///
/// ```text
/// static MIGRATIONS: alembic_runtime::Migrations = alembic_runtime::embedded!();
///
/// let mut conn = rusqlite::Connection::open("app.db")?;
/// let report = MIGRATIONS.upgrade(&mut conn, "head")?; // a no-op when already at head
/// log::info!("{report}");
/// ```
pub struct Migrations {
    data: &'static EmbeddedData,
    /// Assembled from `data` the first time a run has work to do.
    directory: OnceLock<ScriptDirectory>,
}

/// Includes the migrations `alembic_build::embed()` generated for this package, as a
/// [`Migrations`] value usable in a `static`.
#[macro_export]
macro_rules! embedded {
    () => {
        include!(concat!(env!("OUT_DIR"), "/alembic_embedded.rs"))
    };
}

impl Migrations {
    /// For the generated code: `embedded!()` expands to a call of this.
    #[doc(hidden)]
    pub const fn from_embedded(data: &'static EmbeddedData) -> Migrations {
        Migrations {
            data,
            directory: OnceLock::new(),
        }
    }

    /// The options a run uses unless told otherwise: the version table, transaction mode and
    /// lock settings of the `alembic.toml` the build read, checksum verification on.
    pub fn options(&self) -> RunOptions {
        let config = &self.data.config;
        let mut options = RunOptions {
            version_table: config.version_table.to_string(),
            version_table_schema: config.version_table_schema.map(str::to_string),
            transaction_per_migration: config.transaction_per_migration,
            lock_timeout: Some(std::time::Duration::from_secs(config.lock_timeout_secs)),
            lock_mode: config.lock_mode,
            ..RunOptions::default()
        };
        options.verify_checksums = true;
        options
    }

    /// Upgrades to `target` (`head`, `heads`, a revision id, `+2`, `label@head`...) with
    /// [`Migrations::options`]. A no-op, answered without taking the lock, when the database
    /// is already there.
    pub fn upgrade<C: Connection + ?Sized>(
        &self,
        conn: &mut C,
        target: &str,
    ) -> Result<Report, RunError> {
        self.upgrade_with(conn, target, &self.options())
    }

    /// [`Migrations::upgrade`] with options of the caller's.
    pub fn upgrade_with<C: Connection + ?Sized>(
        &self,
        conn: &mut C,
        target: &str,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        let migrator = Migrator::embedded(self, options.clone());
        conn.with_backend(&mut |backend| migrator.upgrade(backend, target))
    }

    /// Downgrades to `target` (`base`, a revision id, `-1`...).
    pub fn downgrade<C: Connection + ?Sized>(
        &self,
        conn: &mut C,
        target: &str,
    ) -> Result<Report, RunError> {
        self.downgrade_with(conn, target, &self.options())
    }

    /// [`Migrations::downgrade`] with options of the caller's.
    pub fn downgrade_with<C: Connection + ?Sized>(
        &self,
        conn: &mut C,
        target: &str,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        let migrator = Migrator::embedded(self, options.clone());
        conn.with_backend(&mut |backend| migrator.downgrade(backend, target))
    }

    /// The database's current revisions (its version rows), sorted; empty for a new database.
    pub fn current<C: Connection + ?Sized>(&self, conn: &mut C) -> Result<Vec<String>, RunError> {
        let migrator = Migrator::embedded(self, self.options());
        conn.with_backend(&mut |backend| migrator.current_heads(backend))
    }

    /// Whether the database is at every head of this build, clean and, with checksum
    /// verification on, unedited: exactly when `upgrade(conn, "heads")` would do nothing.
    pub fn is_up_to_date<C: Connection + ?Sized>(&self, conn: &mut C) -> Result<bool, RunError> {
        let migrator = Migrator::embedded(self, self.options());
        conn.with_backend(&mut |backend| migrator.is_up_to_date(backend))
    }

    /// The heads of the embedded graph, sorted.
    pub fn heads(&self) -> Vec<&'static str> {
        self.data.heads.to_vec()
    }

    /// How many revisions are embedded.
    pub fn len(&self) -> usize {
        self.data.revisions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.revisions.is_empty()
    }

    /// The embedded revisions' ids, in the order the CLI lists them from disk.
    pub fn revision_ids(&self) -> impl Iterator<Item = &'static str> {
        self.data.revisions.iter().map(|r| r.id)
    }

    /// The embedded scripts as a [`ScriptDirectory`], for a [`Migrator`] of your own (e.g.
    /// with a [`Backend`] you wrote). Assembled on first use; the graph was validated when
    /// the application was built.
    pub fn scripts(&self) -> &ScriptDirectory {
        self.directory.get_or_init(|| {
            let scripts = self.data.revisions.iter().map(to_script).collect();
            // `alembic_build` refused to generate anything for an invalid set, so this only
            // fails if the generated file was edited by hand or came from another version.
            ScriptDirectory::from_scripts(scripts).unwrap_or_else(|errors| {
                panic!(
                    "the embedded migrations are inconsistent (rebuild the application): {errors}"
                )
            })
        })
    }

    pub(crate) fn revision(&self, id: &str) -> Option<&'static EmbeddedRevision> {
        let data = self.data;
        data.by_id
            .binary_search_by(|(key, _)| (*key).cmp(id))
            .ok()
            .map(|at| &data.revisions[data.by_id[at].1])
    }

    pub(crate) fn sorted_heads(&self) -> &'static [&'static str] {
        self.data.heads
    }
}

impl std::fmt::Debug for Migrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrations")
            .field("revisions", &self.data.revisions.len())
            .field("heads", &self.data.heads)
            .finish()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn to_script(rev: &EmbeddedRevision) -> Script {
    Script {
        revision: Revision {
            id: rev.id.to_string(),
            down_revisions: strings(rev.down_revisions),
            branch_labels: strings(rev.branch_labels),
            depends_on: strings(rev.depends_on),
        },
        message: rev.message.to_string(),
        create_date: rev.create_date.map(str::to_string),
        transactional: rev.transactional,
        upgrade_sql: rev.upgrade_sql.to_string(),
        downgrade_sql: rev.downgrade_sql.map(str::to_string),
        checksum: Checksum(rev.checksum),
        path: PathBuf::from(rev.path),
        id_line: rev.id_line,
    }
}

/// A database connection the embedded migrations can run on: `rusqlite::Connection`
/// (feature `sqlite`), `postgres::Client` (feature `postgres`), `mysql::Conn` (feature
/// `mysql`). For another driver, implement [`Backend`] and use [`Migrator`] with
/// [`Migrations::scripts`].
///
/// The run's lock settings (`lock_timeout`, `lock_mode`) reach the backend through the
/// `RunOptions` the run is given, so a backend is built here without them.
pub trait Connection {
    /// Runs `run` on a backend over this connection.
    fn with_backend<R>(
        &mut self,
        run: &mut dyn FnMut(&mut dyn Backend) -> Result<R, RunError>,
    ) -> Result<R, RunError>;
}

#[cfg(feature = "sqlite")]
impl Connection for rusqlite::Connection {
    fn with_backend<R>(
        &mut self,
        run: &mut dyn FnMut(&mut dyn Backend) -> Result<R, RunError>,
    ) -> Result<R, RunError> {
        run(&mut crate::SqliteBackend::new(self))
    }
}

#[cfg(feature = "postgres")]
impl Connection for postgres::Client {
    fn with_backend<R>(
        &mut self,
        run: &mut dyn FnMut(&mut dyn Backend) -> Result<R, RunError>,
    ) -> Result<R, RunError> {
        run(&mut crate::PostgresBackend::new(self))
    }
}

#[cfg(feature = "mysql")]
impl Connection for mysql::Conn {
    fn with_backend<R>(
        &mut self,
        run: &mut dyn FnMut(&mut dyn Backend) -> Result<R, RunError>,
    ) -> Result<R, RunError> {
        run(&mut crate::MysqlBackend::new(self))
    }
}
