//! The schema of a database as one neutral model, read from the database's own catalogue.
//!
//! This is the first stage of autogenerate, `check` and migration testing (issue 5): the
//! desired schema (`schema.sql`, loaded into a scratch database) and the database at its
//! current heads are both introspected into a [`Schema`], so that comparing them compares like
//! with like. Everything each database reports in its own way (type aliases, default
//! expressions, implicit indexes, constraint names it invents) is normalised here, so that an
//! unchanged schema compares equal.
//!
//! ```text
//! database catalogue ──introspect──> Schema (this crate) ──diff──> operations ──render──> SQL
//! ```
//!
//! Introspection covers SQLite ([`sqlite::introspect`]), PostgreSQL (feature `postgres`,
//! `postgres::introspect`) and MySQL/MariaDB (feature `mysql`, `mysql::introspect`).

pub mod diff;
pub mod model;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod render;
pub mod scratch;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod types;

pub use diff::{diff, Change};
pub use model::{
    CheckConstraint, Column, DataType, ForeignKey, Index, Schema, Table, UniqueConstraint,
};
pub use types::{normalise_default, normalise_expression, parse_type};

/// Introspection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectError {
    /// The database refused a catalogue query.
    #[error("reading the schema ({doing}): {message}")]
    Database { doing: String, message: String },
}
