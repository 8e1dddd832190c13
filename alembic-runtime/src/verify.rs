//! Checksum verification: were applied scripts edited since they ran?
//!
//! Costs one history lookup and one chained-checksum comparison per current head: a head's
//! chained checksum covers every ancestor's script, so when all heads match, nothing applied
//! below them changed. Only on a mismatch does it walk the ancestors to name the edited
//! revision. Revisions applied before the history table existed (a database adopted from
//! Python Alembic) have no recorded checksum and are not checked: verification starts from what
//! is applied from then on.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::backend::{Backend, SqlValue};
use crate::dialect::placeholder;
use crate::error::RunError;
use crate::executor::{database, Context};
use crate::history::ChainedChecksums;

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Heads whose chained checksum matched: they and all their ancestors are unedited.
    pub verified: Vec<String>,
    /// Heads with no recorded chained checksum (applied by another tool): not checked.
    pub unrecorded: Vec<String>,
}

/// An applied script that differs from what ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub revision: String,
    pub path: PathBuf,
    /// What the history table recorded when it was applied.
    pub recorded: String,
    /// The script's checksum now.
    pub current: String,
}

/// Verifies `heads` against the scripts. The backend's history table may be missing (then
/// every head is unrecorded).
pub(crate) fn verify_heads(
    backend: &mut dyn Backend,
    ctx: &Context<'_>,
    heads: &[String],
) -> Result<Verification, RunError> {
    let mut found = Verification::default();
    let has_history = backend
        .table_exists(&ctx.tables, &ctx.tables.history)
        .map_err(|cause| database("looking for the history table", cause))?;
    if !has_history {
        found.unrecorded = heads.to_vec();
        return Ok(found);
    }
    let mut chain = ChainedChecksums::new(ctx.scripts);
    for head in heads {
        let Some(recorded) = latest(backend, ctx, head, "chained_checksum")? else {
            found.unrecorded.push(head.clone());
            continue;
        };
        let current = chain.get(head).map(|c| c.to_hex());
        if current.as_deref() == Some(recorded.as_str()) {
            found.verified.push(head.clone());
            continue;
        }
        return Err(locate(backend, ctx, head, recorded)?);
    }
    Ok(found)
}

/// The latest recorded value of `column` for `revision` as applied (by upgrade or stamp).
fn latest(
    backend: &mut dyn Backend,
    ctx: &Context<'_>,
    revision: &str,
    column: &str,
) -> Result<Option<String>, RunError> {
    let sql = format!(
        "SELECT {column} FROM {} WHERE revision = {} AND operation IN ('upgrade', 'stamp') \
         AND {column} IS NOT NULL ORDER BY id DESC LIMIT 1",
        ctx.tables.history_sql(),
        placeholder(ctx.tables.dialect, 1)
    );
    let rows = backend
        .query_strings(&sql, &[SqlValue::Text(revision.to_string())])
        .map_err(|cause| database("reading the history table", cause))?;
    Ok(rows.into_iter().next())
}

/// A head's chain differs: find the edited revision, nearest the head first. When every
/// recorded checksum matches, the graph itself changed under the head (a `Revises` edited
/// before the head was applied), and the head is named.
fn locate(
    backend: &mut dyn Backend,
    ctx: &Context<'_>,
    head: &str,
    head_recorded_chain: String,
) -> Result<RunError, RunError> {
    let mut queue = vec![head.to_string()];
    let mut seen: HashSet<String> = HashSet::new();
    let mut index = 0;
    while index < queue.len() {
        let id = queue[index].clone();
        index += 1;
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(script) = ctx.scripts.script(&id) else {
            continue;
        };
        if let Some(recorded) = latest(backend, ctx, &id, "checksum")? {
            let current = script.checksum.to_hex();
            if recorded != current {
                return Ok(RunError::ChecksumMismatch(Box::new(Mismatch {
                    revision: id,
                    path: script.path.clone(),
                    recorded,
                    current,
                })));
            }
        }
        queue.extend(script.revision.down_revisions.iter().cloned());
    }
    let path = ctx
        .scripts
        .script(head)
        .map(|s| s.path.clone())
        .unwrap_or_default();
    let current = ChainedChecksums::new(ctx.scripts)
        .get(head)
        .map(|c| c.to_hex())
        .unwrap_or_default();
    Ok(RunError::ChecksumMismatch(Box::new(Mismatch {
        revision: head.to_string(),
        path,
        recorded: head_recorded_chain,
        current,
    })))
}
