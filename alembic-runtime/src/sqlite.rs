//! The SQLite backend (rusqlite), and online backups.
//!
//! The run lock must hold from reading the heads to the last commit, across the commits of
//! `transaction_per_migration` and around `Transactional: false` revisions, so that two
//! processes starting at once apply each revision exactly once: the second waits, then finds
//! nothing to do. SQLite's own write lock ends at each commit, so the lock is a write
//! transaction (`BEGIN IMMEDIATE`, waiting up to the busy timeout) on a small sidecar database,
//! `<database>-alembic-lock`, that nothing ever writes: a mutex every process can take
//! without blocking readers or writers of the real database, and that SQLite releases if the
//! process dies. The run itself then starts its own `BEGIN IMMEDIATE` on the real database.
//! An in-memory database has a single connection and needs no lock file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alembic_core::url::Dialect;
use rusqlite::types::Value;
use rusqlite::{Connection, DatabaseName};

use crate::backend::{Backend, BackendError, LockSettings, SqlValue};
use crate::dialect::Tables;
use crate::options::LockMode;

/// How long [`SqliteBackend`] waits for another process's lock by default.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

enum Conn<'c> {
    Borrowed(&'c mut Connection),
    Owned(Connection),
}

/// A [`Backend`] over a rusqlite connection, borrowed or owned.
pub struct SqliteBackend<'c> {
    conn: Conn<'c>,
    busy_timeout: Duration,
    /// Whether `busy_timeout` was set on the backend itself ([`SqliteBackend::with_busy_timeout`]),
    /// which the run's `lock_timeout` then does not override.
    busy_timeout_set: bool,
    /// The connection's own busy timeout (ms), restored when the lock is released.
    saved_busy_timeout: Option<i64>,
    /// The open write transaction on the lock file while the lock is held.
    lock_conn: Option<Connection>,
}

impl<'c> SqliteBackend<'c> {
    /// Borrows an application's connection for a run. The connection's busy timeout is set
    /// for the run and restored afterwards.
    pub fn new(conn: &'c mut Connection) -> Self {
        SqliteBackend {
            conn: Conn::Borrowed(conn),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            busy_timeout_set: false,
            saved_busy_timeout: None,
            lock_conn: None,
        }
    }

    /// How long to wait for another process holding the lock (default one minute).
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self.busy_timeout_set = true;
        self
    }

    pub fn connection(&self) -> &Connection {
        match &self.conn {
            Conn::Borrowed(c) => c,
            Conn::Owned(c) => c,
        }
    }
}

impl SqliteBackend<'static> {
    /// Takes ownership of a connection.
    pub fn from_connection(conn: Connection) -> Self {
        SqliteBackend {
            conn: Conn::Owned(conn),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            busy_timeout_set: false,
            saved_busy_timeout: None,
            lock_conn: None,
        }
    }

    /// Opens (creating if missing) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, BackendError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|e| {
            BackendError::new(
                format!("cannot open SQLite database {}: {e}", path.display()),
                e,
            )
        })?;
        Ok(SqliteBackend::from_connection(conn))
    }
}

/// The sidecar file whose write lock is the run lock: `<database>-alembic-lock`; `None` for
/// an in-memory or temporary database.
fn lock_file(conn: &Connection) -> Option<PathBuf> {
    match conn.path() {
        Some(path) if !path.is_empty() => Some(PathBuf::from(format!("{path}-alembic-lock"))),
        _ => None,
    }
}

fn err(e: rusqlite::Error) -> BackendError {
    BackendError::new(e.to_string(), e)
}

fn value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Int(i) => Value::Integer(*i),
    }
}

impl Backend for SqliteBackend<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn configure_lock(&mut self, settings: &LockSettings) -> Result<(), BackendError> {
        if settings.mode == LockMode::Lease {
            return Err(BackendError::msg(
                "SQLite has only its lock file (<database>-alembic-lock), which every process \
                 opening the file shares: the lease lock (lock = \"lease\") is for PostgreSQL \
                 and MySQL behind a transaction-pooling proxy; remove `lock` for SQLite",
            ));
        }
        if !self.busy_timeout_set {
            // SQLite takes the timeout in milliseconds as a C int: "for ever" is its largest,
            // about 24 days.
            let forever = Duration::from_millis(i32::MAX as u64);
            self.busy_timeout = settings.timeout.unwrap_or(forever).min(forever);
        }
        Ok(())
    }

    fn lock(&mut self, _tables: &Tables) -> Result<(), BackendError> {
        if self.in_transaction() {
            return Err(BackendError::msg(
                "the connection is inside a transaction: commit or roll it back before migrating",
            ));
        }
        let conn = self.connection();
        let saved: i64 = conn
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .map_err(err)?;
        conn.busy_timeout(self.busy_timeout).map_err(err)?;
        self.saved_busy_timeout = Some(saved);
        let timeout = match self.busy_timeout.as_millis() {
            ms if ms < 1000 => format!("{ms} ms"),
            ms => format!("{} s", ms / 1000),
        };
        let waited = |e: rusqlite::Error| {
            BackendError::new(
                format!("{e} (waited {timeout} for another process migrating this database)"),
                e,
            )
        };

        if let Some(path) = lock_file(self.connection()) {
            match Connection::open(&path) {
                Ok(lock) => {
                    // SQLite cannot tell which process holds a file lock: name the file, so
                    // that `fuser`/`lsof` can.
                    let held = |e: rusqlite::Error| {
                        BackendError::new(
                            format!(
                                "the migration lock file {} is held by another process \
                                 migrating this database (waited {timeout}): {e}",
                                path.display()
                            ),
                            e,
                        )
                    };
                    let taken = lock
                        .busy_timeout(self.busy_timeout)
                        .map_err(err)
                        .and_then(|()| lock.execute_batch("BEGIN IMMEDIATE").map_err(held));
                    if let Err(e) = taken {
                        let _ = self.unlock();
                        return Err(e);
                    }
                    self.lock_conn = Some(lock);
                }
                // A database in a folder the process may not create files in still migrates,
                // under the database's own write lock, which ends at each commit.
                Err(e) => log::warn!(
                    "cannot create the lock file {} ({e}): the migration lock will not span \
                     commits (per-migration transactions, non-transactional revisions)",
                    path.display()
                ),
            }
        }
        if let Err(e) = self.connection().execute_batch("BEGIN IMMEDIATE") {
            let _ = self.unlock();
            return Err(waited(e));
        }
        Ok(())
    }

    fn unlock(&mut self) -> Result<(), BackendError> {
        let mut result = if self.in_transaction() {
            self.connection().execute_batch("ROLLBACK").map_err(err)
        } else {
            Ok(())
        };
        if let Some(lock) = self.lock_conn.take() {
            // Closing the connection ends its transaction and frees the lock whatever happens;
            // the explicit rollback only surfaces an error.
            result = result.and(lock.execute_batch("ROLLBACK").map_err(err));
        }
        if let Some(ms) = self.saved_busy_timeout.take() {
            let ms = u64::try_from(ms).unwrap_or(0);
            let restored = self
                .connection()
                .busy_timeout(Duration::from_millis(ms))
                .map_err(err);
            result = result.and(restored);
        }
        result
    }

    fn in_transaction(&self) -> bool {
        !self.connection().is_autocommit()
    }

    fn begin(&mut self) -> Result<(), BackendError> {
        // IMMEDIATE: the transaction will write, so take the write lock now and wait for it,
        // rather than fail with SQLITE_BUSY when the first write tries to upgrade the lock.
        self.connection()
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(err)
    }

    fn commit(&mut self) -> Result<(), BackendError> {
        self.connection().execute_batch("COMMIT").map_err(err)
    }

    fn rollback(&mut self) -> Result<(), BackendError> {
        if self.in_transaction() {
            self.connection().execute_batch("ROLLBACK").map_err(err)?;
        }
        Ok(())
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), BackendError> {
        self.connection().execute_batch(sql).map_err(err)
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, BackendError> {
        let mut stmt = self.connection().prepare_cached(sql).map_err(err)?;
        let rows = stmt
            .execute(rusqlite::params_from_iter(params.iter().map(value)))
            .map_err(err)?;
        Ok(rows as u64)
    }

    fn query_strings(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<String>, BackendError> {
        let mut stmt = self.connection().prepare_cached(sql).map_err(err)?;
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter(params.iter().map(value)),
                |row| row.get::<_, String>(0),
            )
            .map_err(err)?;
        rows.collect::<Result<Vec<String>, _>>().map_err(err)
    }
}

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("backup file {} already exists: choose another name", path.display())]
    Exists { path: PathBuf },
    #[error("backing up the database to {} failed: {source}", path.display())]
    Failed {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Copies the main database of `conn` to a new file at `dest` with SQLite's online backup
/// API (consistent even while other connections write) and returns the path. Refuses to
/// overwrite an existing file.
pub fn backup_to(conn: &Connection, dest: impl AsRef<Path>) -> Result<PathBuf, BackupError> {
    let path = dest.as_ref().to_path_buf();
    if path.exists() {
        return Err(BackupError::Exists { path });
    }
    match conn.backup(DatabaseName::Main, &path, None) {
        Ok(()) => Ok(path),
        Err(source) => Err(BackupError::Failed { path, source }),
    }
}
