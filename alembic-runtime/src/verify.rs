//! Checksum verification: were applied scripts edited since they ran?
//!
//! Costs one history lookup and one chained-checksum comparison per current head: a head's
//! chained checksum covers every ancestor's script, so when all heads match, nothing applied
//! below them changed. Only on a mismatch does it walk the ancestors to name the edited
//! revision.
//!
//! A head applied without a recorded chain (by Python Alembic, or before the history table
//! existed) is not a dead end: verification walks down from it to the nearest ancestors that
//! have one (the revisions this runtime applied) and checks those, reading the history once
//! for all such heads. Only what lies above them, applied by the other tool, goes unchecked.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::backend::{Backend, SqlValue};
use crate::dialect::{placeholder, Tables};
use crate::error::RunError;
use crate::executor::{database, Context};
use crate::history::{recorded_chains, ChainedChecksums};

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Revisions whose recorded chained checksum matched the scripts: they and all their
    /// ancestors are unedited. The heads where they were recorded; otherwise the nearest
    /// recorded ancestors of the heads in `unrecorded`.
    pub verified: Vec<String>,
    /// Heads with no recorded chained checksum (applied by another tool). Their recorded
    /// ancestors are checked (and listed in `verified`); the revisions above those are not.
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
        match latest_chain(backend, &ctx.tables, head)? {
            Some(recorded) => {
                check(backend, ctx, &mut chain, head, recorded)?;
                found.verified.push(head.clone());
            }
            None => found.unrecorded.push(head.clone()),
        }
    }
    if found.unrecorded.is_empty() {
        return Ok(found);
    }
    // Some heads were applied by another tool: check the nearest recorded revisions below
    // them, with the whole history read once.
    let recorded = recorded_chains(backend, &ctx.tables)
        .map_err(|cause| database("reading the history table", cause))?;
    for id in nearest_recorded(ctx, &found.unrecorded, &recorded) {
        if found.verified.contains(&id) {
            continue;
        }
        let Some(value) = recorded.get(&id) else {
            continue;
        };
        check(backend, ctx, &mut chain, &id, value.clone())?;
        found.verified.push(id);
    }
    Ok(found)
}

/// Verification before a run, as its options ask: none without `verify_checksums`; with
/// `warn_on_checksum_mismatch`, an edited applied script is logged as a warning naming the
/// revision and its file, and the run goes on (its new history rows still extend what was
/// recorded, so the edit stays visible to the next verification).
pub(crate) fn verify_for_run(
    backend: &mut dyn Backend,
    ctx: &Context<'_>,
    heads: &[String],
) -> Result<(), RunError> {
    if !ctx.options.verify_checksums {
        return Ok(());
    }
    match verify_heads(backend, ctx, heads) {
        Ok(verified) => {
            log::debug!("checksums verified: {verified:?}");
            Ok(())
        }
        Err(RunError::ChecksumMismatch(m)) if ctx.options.warn_on_checksum_mismatch => {
            log::warn!(
                "revision {} ({}) changed after it was applied: the database recorded checksum \
                 {}, the script now has {}; running anyway (warn_on_checksum_mismatch)",
                m.revision,
                m.path.display(),
                m.recorded,
                m.current
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Compares `id`'s recorded chain with the scripts'; on a difference, names the edited
/// revision.
fn check(
    backend: &mut dyn Backend,
    ctx: &Context<'_>,
    chain: &mut ChainedChecksums<'_>,
    id: &str,
    recorded: String,
) -> Result<(), RunError> {
    let current = chain.get(id).map(|c| c.to_hex());
    if current.as_deref() == Some(recorded.as_str()) {
        return Ok(());
    }
    Err(locate(backend, ctx, id, recorded)?)
}

/// The revisions with a recorded chain nearest below `heads` (walking down-revisions, not
/// past a recorded one), in the order met. Each revision is visited once.
fn nearest_recorded(
    ctx: &Context<'_>,
    heads: &[String],
    recorded: &HashMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue: Vec<&str> = heads.iter().map(String::as_str).collect();
    let mut index = 0;
    while index < queue.len() {
        let id = queue[index];
        index += 1;
        if !seen.insert(id) {
            continue;
        }
        if recorded.contains_key(id) {
            out.push(id.to_string());
            continue;
        }
        if let Some(script) = ctx.scripts.script(id) {
            queue.extend(script.revision.down_revisions.iter().map(String::as_str));
        }
    }
    out
}

/// The chained checksum recorded when `revision` was last applied; `None` when its latest
/// history row is not an application (a downgrade, a stamp that removed it) or there is none.
pub(crate) fn latest_chain(
    backend: &mut dyn Backend,
    tables: &Tables,
    revision: &str,
) -> Result<Option<String>, RunError> {
    let rows = backend
        .query_strings(
            &tables.select_latest_chain(),
            &[SqlValue::Text(revision.to_string())],
        )
        .map_err(|cause| database("reading the history table", cause))?;
    Ok(rows.into_iter().next().filter(|chain| !chain.is_empty()))
}

/// The latest recorded script checksum of `revision` as applied (by upgrade or stamp).
fn latest_checksum(
    backend: &mut dyn Backend,
    ctx: &Context<'_>,
    revision: &str,
) -> Result<Option<String>, RunError> {
    let sql = format!(
        "SELECT checksum FROM {} WHERE revision = {} \
         AND operation IN ('upgrade', 'stamp', 'rehash') AND checksum IS NOT NULL \
         ORDER BY id DESC LIMIT 1",
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
        if let Some(recorded) = latest_checksum(backend, ctx, &id)? {
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
