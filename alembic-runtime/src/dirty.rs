//! The dirty state: a revision that ran outside a transaction (every MySQL revision, and
//! `Transactional: false` ones everywhere) failed, so the database may hold part of it, and
//! the next run must not go on as if nothing happened (golang-migrate's dirty flag).
//!
//! It lives in the history table, so the table keeps its columns: the failure writes a row
//! whose operation is `failed upgrade` or `failed downgrade`, with the failed script's
//! checksum; the database is dirty while the LATEST history row is such a marker, which one
//! indexed lookup tells. Any later row clears it: a `stamp` (which writes a `resolved` row
//! when it moves nothing), or a rerun of the script once it was changed (a checksum other
//! than the marker's is the user's statement that the script was fixed).

use std::path::PathBuf;

use alembic_core::Script;

use crate::backend::{Backend, BackendError, SqlValue};
use crate::dialect::Tables;
use crate::history::{now_utc_text, Operation};

/// The `operation` text of a failure marker (at most 16 characters: the column's size).
fn marker(operation: Operation) -> &'static str {
    match operation {
        Operation::Downgrade => "failed downgrade",
        Operation::Upgrade | Operation::Stamp | Operation::Rehash => "failed upgrade",
    }
}

/// The `operation` text of the row a stamp writes to clear a marker it would not otherwise
/// overwrite.
const RESOLVED: &str = "resolved";

/// A failed non-transactional revision the database has not been brought back in line from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dirty {
    pub revision: String,
    /// What failed: `Upgrade` or `Downgrade`.
    pub operation: Operation,
    /// The hex checksum of the script that failed.
    pub checksum: Option<String>,
    /// When it failed: UTC, ISO-8601 with milliseconds.
    pub failed_at: String,
    /// The revision's script, when this build has it.
    pub path: Option<PathBuf>,
    /// Its down revisions (empty for a base revision), when this build has its script.
    pub down_revisions: Vec<String>,
}

impl Dirty {
    /// What `stamp` takes when the failed step took no effect and when it took full effect.
    pub fn stamp_targets(&self) -> (String, String) {
        let parents = if self.down_revisions.is_empty() {
            "base".to_string()
        } else {
            self.down_revisions.join(" ")
        };
        match self.operation {
            Operation::Downgrade => (self.revision.clone(), parents),
            Operation::Upgrade | Operation::Stamp | Operation::Rehash => {
                (parents, self.revision.clone())
            }
        }
    }
}

/// The dirty state of the database, from its latest history row; `None` when it is clean or
/// has no history table. `scripts` fills in the path and parents of the failed revision.
pub(crate) fn read(
    backend: &mut dyn Backend,
    tables: &Tables,
    script: impl Fn(&str) -> Option<(PathBuf, Vec<String>)>,
) -> Result<Option<Dirty>, BackendError> {
    if !backend.table_exists(tables, &tables.history)? {
        return Ok(None);
    }
    let Some(line) = backend
        .query_strings(&tables.select_latest_history(), &[])?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let mut parts = line.splitn(4, ' ');
    let (Some(revision), Some(checksum), Some(failed_at), Some(op)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let operation = if op == marker(Operation::Upgrade) {
        Operation::Upgrade
    } else if op == marker(Operation::Downgrade) {
        Operation::Downgrade
    } else {
        return Ok(None);
    };
    let (path, down_revisions) = match script(revision) {
        Some((path, parents)) => (Some(path), parents),
        None => (None, Vec::new()),
    };
    Ok(Some(Dirty {
        revision: revision.to_string(),
        operation,
        checksum: (checksum != "-").then(|| checksum.to_string()),
        failed_at: failed_at.to_string(),
        path,
        down_revisions,
    }))
}

/// Records that `script`'s `operation` failed outside a transaction, in a statement of its own
/// (the connection is in autocommit mode after such a failure).
pub(crate) fn mark(
    backend: &mut dyn Backend,
    tables: &Tables,
    script: &Script,
    operation: Operation,
    duration_ms: i64,
    tool: &str,
) -> Result<(), BackendError> {
    insert(
        backend,
        tables,
        &script.revision.id,
        marker(operation),
        Some(script.checksum.to_hex()),
        Some(duration_ms),
        tool,
    )
}

/// Records that `operation` of `revision` failed outside a transaction when this build has no
/// script for it: a deploy rollback's revert of a newer build's revision (see `rollback.rs`),
/// with the checksum its upgrade row recorded.
pub(crate) fn mark_unscripted(
    backend: &mut dyn Backend,
    tables: &Tables,
    revision: &str,
    checksum: Option<String>,
    operation: Operation,
    duration_ms: i64,
    tool: &str,
) -> Result<(), BackendError> {
    let op = marker(operation);
    insert(
        backend,
        tables,
        revision,
        op,
        checksum,
        Some(duration_ms),
        tool,
    )
}

/// Clears a marker: the user stamped the database to where it really is.
pub(crate) fn resolve(
    backend: &mut dyn Backend,
    tables: &Tables,
    dirty: &Dirty,
    tool: &str,
) -> Result<(), BackendError> {
    insert(backend, tables, &dirty.revision, RESOLVED, None, None, tool)
}

fn insert(
    backend: &mut dyn Backend,
    tables: &Tables,
    revision: &str,
    operation: &str,
    checksum: Option<String>,
    duration_ms: Option<i64>,
    tool: &str,
) -> Result<(), BackendError> {
    let params = [
        SqlValue::Text(revision.to_string()),
        SqlValue::Text(operation.to_string()),
        checksum.into(),
        SqlValue::Null,
        SqlValue::Null,
        SqlValue::Text(now_utc_text()),
        duration_ms.map_or(SqlValue::Null, SqlValue::Int),
        SqlValue::Text(tool.to_string()),
        // down_revisions, actor, reason: a marker says nothing of them.
        SqlValue::Null,
        SqlValue::Null,
        SqlValue::Null,
    ];
    backend.execute(&tables.insert_history(), &params)?;
    Ok(())
}
