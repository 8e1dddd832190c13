//! Applies Alembic-style migrations to a database: the one executor shared by the
//! `cargo alembic` CLI and by applications that migrate themselves at startup.
//!
//! # Overview
//!
//! ```text
//! ScriptDirectory (alembic-core: scripts + revision graph)
//!        |
//!    Migrator::new(&scripts, RunOptions)
//!        |  upgrade / downgrade / stamp / execute(&Plan)
//!        v
//!  LockGuard ── Backend (SqliteBackend, ...) ── the database
//!        |   1. take the run lock          4. plan with alembic_core::plan
//!        |   2. create missing tables      5. check the plan (scripts, downgrade SQL)
//!        |   3. read the heads, refuse     6. execute: SQL + version rows + history rows,
//!        |      revisions no script has       committed together per the transaction mode
//!        v
//!  Report (what committed; also inside RunError after a failure)
//! ```
//!
//! - [`Backend`] is the thin seam to a database: transactions, the run lock, executing SQL.
//!   The version-table and history-table work is written once on top of it, with every piece
//!   of dialect-specific SQL in `dialect.rs` (identifiers quoted by one function, values
//!   always bound).
//!   Backends: `SqliteBackend` (feature `sqlite`, default), `PostgresBackend` (feature
//!   `postgres`), `MysqlBackend` (feature `mysql`).
//! - [`Migrator`] is the pipeline; [`offline_sql`] writes the same plan as a SQL script for
//!   `--sql`; [`Migrator::verify`] checks applied scripts against their recorded checksums.
//! - Tables: `alembic_version` exactly as Python Alembic creates it (so either tool can
//!   continue the other's database), and `alembic_version_history`, one audit row per
//!   upgrade, downgrade and stamp of a revision with its checksum and chained checksum.
//!
//! ```no_run
//! use alembic_core::source::ScriptDirectory;
//! use alembic_runtime::{Migrator, RunOptions, SqliteBackend};
//!
//! fn migrate(scripts: &ScriptDirectory) -> Result<(), Box<dyn std::error::Error>> {
//!     let mut conn = rusqlite::Connection::open("app.db")?;
//!     let report = Migrator::new(scripts, RunOptions::default())
//!         .upgrade(&mut SqliteBackend::new(&mut conn), "head")?;
//!     log::info!("{report}");
//!     Ok(())
//! }
//! ```

pub mod backend;
mod dialect;
pub mod dirty;
pub mod embedded;
pub mod error;
mod executor;
pub mod history;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod lease;
pub mod migrator;
#[cfg(feature = "mysql")]
pub mod mysql;
pub mod offline;
pub mod options;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod rehash;
pub mod report;
pub mod rollback;
mod split;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verify;

pub use backend::{
    Backend, BackendError, LockGuard, LockSettings, SqlValue, TablesState, VersionRowError,
};
pub use dialect::Tables;
pub use dirty::Dirty;
pub use embedded::{Connection, Migrations};
pub use error::RunError;
pub use history::{ChainedChecksums, HistoryRow, Operation};
pub use migrator::Migrator;
pub use offline::offline_sql;
pub use options::{LockMode, RunOptions};
pub use rehash::{rehash, Amendment, RehashError};
pub use report::{Applied, Report};
pub use rollback::{RevertError, Unrevertible};
#[cfg(feature = "sqlite")]
pub use rusqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::{backup_to, BackupError, SqliteBackend};
pub use verify::{Mismatch, Verification};
#[cfg(feature = "mysql")]
pub use {crate::mysql::MysqlBackend, ::mysql as mysql_client};
#[cfg(feature = "postgres")]
pub use {crate::postgres::PostgresBackend, ::postgres as postgres_client};
