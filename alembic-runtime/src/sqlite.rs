//! The SQLite backend (rusqlite), and online backups.
//!
//! The run lock is a write transaction: `BEGIN IMMEDIATE` takes SQLite's RESERVED lock, which
//! one connection at a time can hold, and waits for it up to the busy timeout. The first steps
//! of the run execute inside that transaction, so in the default one-transaction mode the
//! database is locked from reading the heads to the final commit and two processes starting at
//! once apply each revision exactly once: the second waits, then finds nothing to do.
//!
//! With `transaction_per_migration` (or a `Transactional: false` revision) the lock is given up
//! at each commit and taken again with the next `BEGIN IMMEDIATE`; a process that slipped in
//! between is caught by the checked row counts of the version-table statements.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alembic_core::url::Dialect;
use rusqlite::types::Value;
use rusqlite::{Connection, DatabaseName};

use crate::backend::{Backend, BackendError, SqlValue};

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
    /// The connection's own busy timeout (ms), restored when the lock is released.
    saved_busy_timeout: Option<i64>,
}

impl<'c> SqliteBackend<'c> {
    /// Borrows an application's connection for a run. The connection's busy timeout is set
    /// for the run and restored afterwards.
    pub fn new(conn: &'c mut Connection) -> Self {
        SqliteBackend {
            conn: Conn::Borrowed(conn),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            saved_busy_timeout: None,
        }
    }

    /// How long to wait for another process holding the lock (default one minute).
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
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
            saved_busy_timeout: None,
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

    fn lock(&mut self) -> Result<(), BackendError> {
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
        self.connection()
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| {
                BackendError::new(
                    format!(
                        "{e} (waited {} s for another process migrating this database)",
                        self.busy_timeout.as_secs()
                    ),
                    e,
                )
            })
    }

    fn unlock(&mut self) -> Result<(), BackendError> {
        let rolled_back = if self.in_transaction() {
            self.connection().execute_batch("ROLLBACK").map_err(err)
        } else {
            Ok(())
        };
        if let Some(ms) = self.saved_busy_timeout.take() {
            let ms = u64::try_from(ms).unwrap_or(0);
            self.connection()
                .busy_timeout(Duration::from_millis(ms))
                .map_err(err)?;
        }
        rolled_back
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
