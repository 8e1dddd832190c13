//! The seam between the executor and a database: a thin [`Backend`] trait.
//!
//! A backend implements a handful of primitives (transactions, the run lock, executing a batch
//! of script SQL, one statement with bound parameters, a one-column query). Everything else the
//! executor needs (the version tables, version rows with checked row counts, history rows) is
//! written once here as provided methods over those primitives, with the SQL text coming from
//! `dialect.rs`. A PostgreSQL or MySQL backend is therefore a small file: a connection
//! wrapper and its lock.

use std::error::Error as StdError;
use std::fmt;
use std::ops::{Deref, DerefMut};

use alembic_core::plan::VersionChange;
use alembic_core::url::Dialect;

use crate::dialect::{self, Tables};
use crate::history::HistoryRow;
use crate::options::{LockMode, RunOptions};

/// A value bound to a statement parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Text(String),
    Int(i64),
}

impl From<Option<String>> for SqlValue {
    fn from(value: Option<String>) -> Self {
        value.map_or(SqlValue::Null, SqlValue::Text)
    }
}

/// An error reported by the database (or its driver), with the database's own message.
#[derive(Debug)]
pub struct BackendError {
    message: String,
    inner: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl BackendError {
    /// An error with a message and the driver error it came from.
    pub fn new(message: impl Into<String>, inner: impl StdError + Send + Sync + 'static) -> Self {
        BackendError {
            message: message.into(),
            inner: Some(Box::new(inner)),
        }
    }

    /// An error that has no driver error behind it.
    pub fn msg(message: impl Into<String>) -> Self {
        BackendError {
            message: message.into(),
            inner: None,
        }
    }

    /// The database's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The driver's error, for callers that want to inspect error codes.
    pub fn driver_error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.inner.as_deref()
    }
}

// The driver error is kept out of `source()`: its text is already the message, and error
// chains printed by the CLI would otherwise repeat it.
impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for BackendError {}

/// `error` and each of its causes, `: `-separated, a cause left out where the text so far
/// already says it. Driver errors often print a generic line ("error connecting to server")
/// and keep the reason ("Connection refused") in `source()`, which `BackendError` does not
/// expose (see its `Display`).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn with_causes(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let more = e.to_string();
        if !more.is_empty() && !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = e.source();
    }
    text
}

/// A version-table statement that failed or touched the wrong number of rows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VersionRowError {
    /// An `UPDATE`/`DELETE` matched no row (or several): the table is not what the plan was
    /// made from, so another process (or a person) changed it during the run.
    #[error("{statement} of version row {id:?} touched {rows} rows instead of 1")]
    RowCount {
        statement: &'static str,
        id: String,
        rows: u64,
    },
    #[error("{statement} of version row {id:?} failed: {source}")]
    Backend {
        statement: &'static str,
        id: String,
        source: BackendError,
    },
}

/// What [`Backend::ensure_tables`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TablesState {
    pub created_version_table: bool,
    pub created_history_table: bool,
}

impl TablesState {
    /// The database had a version table but no history table: it was made by Python Alembic
    /// (or an older tool) and is adopted from now on.
    pub fn adopted(&self) -> bool {
        !self.created_version_table && self.created_history_table
    }
}

/// What a run asks of its lock, from its [`RunOptions`]; given to [`Backend::configure_lock`]
/// before [`Backend::lock`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockSettings {
    /// How long to wait for another holder; `None`: for ever.
    pub timeout: Option<std::time::Duration>,
    pub mode: LockMode,
    /// With `LockMode::Lease`: how long a lease lives without a heartbeat.
    pub lease_duration: std::time::Duration,
    /// What the lease row records as the holder's tool.
    pub tool: String,
}

impl From<&RunOptions> for LockSettings {
    fn from(options: &RunOptions) -> Self {
        LockSettings {
            timeout: options.lock_timeout,
            mode: options.lock_mode,
            lease_duration: options.lease_duration,
            tool: options.tool.clone(),
        }
    }
}

/// A database the executor can migrate.
///
/// Required methods are the primitives each database implements; provided methods build the
/// bookkeeping on top of them and should rarely need overriding.
pub trait Backend {
    /// Which SQL dialect the statements must be written in.
    fn dialect(&self) -> Dialect;

    /// Whether a script and its version row can commit together (DDL is transactional).
    fn transactional_ddl(&self) -> bool {
        dialect::transactional_ddl(self.dialect())
    }

    /// Takes the run lock, waiting for another process that holds it. Use [`LockGuard`] rather
    /// than calling this directly, so that the lock is released on every path.
    ///
    /// The lock is per version table (`tables`): runs on other version tables of the same
    /// database need not wait. On SQLite the run starts inside a write transaction.
    fn lock(&mut self, tables: &Tables) -> Result<(), BackendError>;

    /// Takes the run's lock settings (timeout, advisory or lease) for the next [`Backend::lock`].
    /// A timeout set on the backend itself (`with_lock_timeout`, `with_busy_timeout`) is the
    /// more specific setting and stays. The default refuses `LockMode::Lease`, which a
    /// backend must implement.
    fn configure_lock(&mut self, settings: &LockSettings) -> Result<(), BackendError> {
        match settings.mode {
            LockMode::Lease => Err(BackendError::msg(format!(
                "the lease lock (lock = \"lease\") is not available on {}; use the default \
                 advisory lock",
                self.dialect().name()
            ))),
            _ => Ok(()),
        }
    }

    /// Releases the run lock; rolls back a transaction still open.
    fn unlock(&mut self) -> Result<(), BackendError>;

    /// Whether a transaction is open on the connection.
    fn in_transaction(&self) -> bool;

    fn begin(&mut self) -> Result<(), BackendError>;
    fn commit(&mut self) -> Result<(), BackendError>;
    /// Rolls back the open transaction; does nothing when none is open.
    fn rollback(&mut self) -> Result<(), BackendError>;

    /// Runs a script: any number of statements, no parameters.
    fn execute_batch(&mut self, sql: &str) -> Result<(), BackendError>;

    /// Runs one statement with bound parameters; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, BackendError>;

    /// Runs one query and returns its first column as text, one entry per row.
    fn query_strings(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<String>, BackendError>;

    /// Whether `table` exists in the tables' schema.
    fn table_exists(&mut self, tables: &Tables, table: &str) -> Result<bool, BackendError> {
        let (sql, params) = tables.table_exists_query(table);
        Ok(!self.query_strings(&sql, &params)?.is_empty())
    }

    /// Creates the version table and the history table where missing. A database with only a
    /// version table (made by Python Alembic) gets the history table and is thereby adopted.
    fn ensure_tables(&mut self, tables: &Tables) -> Result<TablesState, BackendError> {
        let mut state = TablesState {
            created_version_table: false,
            created_history_table: false,
        };
        if !self.table_exists(tables, &tables.version)? {
            self.execute_batch(&tables.create_version_table())?;
            state.created_version_table = true;
        }
        if !self.table_exists(tables, &tables.history)? {
            self.execute_batch(&tables.create_history_table())?;
            state.created_history_table = true;
        } else {
            crate::history::add_missing_columns(self, tables)?;
        }
        Ok(state)
    }

    /// The version rows (the database's current heads), sorted; empty when the version table
    /// does not exist yet.
    fn read_heads(&mut self, tables: &Tables) -> Result<Vec<String>, BackendError> {
        if !self.table_exists(tables, &tables.version)? {
            return Ok(Vec::new());
        }
        let mut heads = self.query_strings(&tables.select_heads(), &[])?;
        heads.sort();
        Ok(heads)
    }

    /// Applies one version-row change with bound parameters, checking it touched exactly one
    /// row.
    fn apply_version_change(
        &mut self,
        tables: &Tables,
        change: &VersionChange,
    ) -> Result<(), VersionRowError> {
        let (statement, id, sql, params) = match change {
            VersionChange::Insert { id } => (
                "INSERT",
                id,
                tables.insert_version(),
                vec![SqlValue::Text(id.clone())],
            ),
            VersionChange::Update { from, to } => (
                "UPDATE",
                from,
                tables.update_version(),
                vec![SqlValue::Text(to.clone()), SqlValue::Text(from.clone())],
            ),
            VersionChange::Delete { id } => (
                "DELETE",
                id,
                tables.delete_version(),
                vec![SqlValue::Text(id.clone())],
            ),
        };
        let rows = self
            .execute(&sql, &params)
            .map_err(|source| VersionRowError::Backend {
                statement,
                id: id.clone(),
                source,
            })?;
        if rows != 1 {
            return Err(VersionRowError::RowCount {
                statement,
                id: id.clone(),
                rows,
            });
        }
        Ok(())
    }

    /// Appends one row to the history table.
    fn insert_history(&mut self, tables: &Tables, row: &HistoryRow) -> Result<(), BackendError> {
        self.execute(&tables.insert_history(), &row.params())?;
        Ok(())
    }
}

/// A stable 64-bit name for the run lock of one version table (FNV-1a of its schema and name),
/// the same in every build and process, for databases whose locks are keyed by numbers or
/// short strings.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn lock_hash(schema: &str, table: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let name = format!("cargo-alembic:{schema}.{table}");
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Holds the run lock of a backend and releases it when dropped, so that no early return can
/// leave the lock taken. Derefs to the backend for the work done under the lock.
pub struct LockGuard<'a> {
    backend: &'a mut dyn Backend,
    held: bool,
}

impl<'a> LockGuard<'a> {
    /// Takes the lock with the run's settings (timeout, advisory or lease), waiting for
    /// another holder: [`Backend::configure_lock`], then [`Backend::lock`].
    pub fn acquire_with(
        backend: &'a mut dyn Backend,
        tables: &Tables,
        settings: &LockSettings,
    ) -> Result<LockGuard<'a>, BackendError> {
        backend.configure_lock(settings)?;
        LockGuard::acquire(backend, tables)
    }

    /// Takes the lock with the backend's own settings (waiting for another holder).
    pub fn acquire(
        backend: &'a mut dyn Backend,
        tables: &Tables,
    ) -> Result<LockGuard<'a>, BackendError> {
        backend.lock(tables)?;
        Ok(LockGuard {
            backend,
            held: true,
        })
    }

    /// Releases the lock now, reporting an error that `Drop` could only log.
    pub fn release(mut self) -> Result<(), BackendError> {
        self.held = false;
        self.backend.unlock()
    }
}

impl<'a> Deref for LockGuard<'a> {
    type Target = dyn Backend + 'a;

    fn deref(&self) -> &Self::Target {
        &*self.backend
    }
}

impl DerefMut for LockGuard<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.backend
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if self.held {
            if let Err(e) = self.backend.unlock() {
                log::warn!("releasing the migration lock failed: {e}");
            }
        }
    }
}
