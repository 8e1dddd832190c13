//! The heart of cargo-alembic, shared by the CLI, the build-script helper and the runtime.
//!
//! Data flows one way through this crate:
//!
//! ```text
//! files on disk --source--> Script (parsed header + SQL + checksum)
//!               --graph---> RevisionMap (validated: heads, bases, labels, dependencies)
//!               --target--> resolved revisions for "head", "base", "ae1@+2", ...
//!               --plan----> Plan: ordered Steps, each with the version-table changes it makes
//! ```
//!
//! Everything after `source` is pure: values in, values out, no files and no database. The
//! executor that turns a [`plan::Plan`] into SQL lives in `alembic-runtime`.
//!
//! The graph semantics are Alembic's (`alembic/script/revision.py` and the head maintenance of
//! `alembic/runtime/migration.py`): the real Alembic is this crate's oracle, see
//! `tests/differential.rs` at the workspace root.

pub mod checksum;
pub mod config;
pub mod graph;
pub mod plan;
pub mod revision;
pub mod script;
mod select;
pub mod source;
pub mod target;
pub mod url;

pub use checksum::Checksum;
pub use graph::RevisionMap;
pub use revision::Revision;
pub use script::Script;
