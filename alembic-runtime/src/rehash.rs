//! Audited amendment of an applied script (`cargo alembic rehash REV --reason TEXT`).
//!
//! An applied script may be edited in a way that changes nothing the database holds (a comment
//! fixed, whitespace); verification then refuses every run, as it should for real edits. A
//! rehash records the script as it is now, with who, when and why: one `rehash` history row for
//! the revision (its new checksum and chained checksum), and one for each applied revision
//! above it, whose chained checksums cover it. Those keep their own RECORDED checksums, so an
//! unamended edit of theirs still fails verification. No version row moves and no SQL runs.

use std::collections::{HashMap, HashSet, VecDeque};

use alembic_core::source::ScriptDirectory;
use alembic_core::Checksum;

use crate::backend::{Backend, LockGuard, SqlValue};
use crate::dialect::{placeholder, Tables};
use crate::error::RunError;
use crate::executor::{database, rollback_quietly};
use crate::history::{
    add_missing_columns, now_utc_text, recorded_chains, ChainedChecksums, HistoryRow, Operation,
};
use crate::options::RunOptions;

/// Why a rehash was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RehashError {
    #[error("a rehash needs a reason (`--reason TEXT`): it is recorded with the new checksum")]
    NoReason,

    #[error(
        "no script defines revision {revision}: only an applied revision on disk can be rehashed"
    )]
    UnknownRevision { revision: String },

    #[error(
        "revision {revision} is not applied (the database is at {}): there is nothing recorded \
         to amend; a revision that is not applied is verified when it runs",
        if heads.is_empty() { "base".to_string() } else { heads.join(", ") }
    )]
    NotApplied {
        revision: String,
        heads: Vec<String>,
    },

    #[error(
        "revision {revision} has no recorded checksum (it was applied by another tool, or \
         before the history table existed): verification does not check it, there is nothing \
         to amend"
    )]
    NotRecorded { revision: String },

    #[error(
        "revision {revision} ({path}) is unchanged since it was applied (checksum {checksum}): \
         there is nothing to amend"
    )]
    Unchanged {
        revision: String,
        path: String,
        checksum: String,
    },

    /// Reading or writing the database failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What a rehash recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Amendment {
    pub revision: String,
    /// The checksum recorded before.
    pub previous: String,
    /// The script's checksum now, recorded.
    pub current: String,
    /// The rows written: the revision's first, then the applied revisions above it.
    pub rows: Vec<HistoryRow>,
}

/// Records `revision`'s script as it is now (see the module docs), under the run lock, in one
/// transaction. `revision` must be applied (in the version table or below a version row) and
/// its script must differ from its recorded checksum.
pub fn rehash(
    backend: &mut dyn Backend,
    scripts: &ScriptDirectory,
    options: &RunOptions,
    revision: &str,
    actor: &str,
    reason: &str,
) -> Result<Amendment, RehashError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(RehashError::NoReason);
    }
    let script = scripts
        .script(revision)
        .ok_or_else(|| RehashError::UnknownRevision {
            revision: revision.to_string(),
        })?;
    let tables = Tables::new(backend.dialect(), options);
    let mut guard = LockGuard::acquire_with(backend, &tables, &options.into())
        .map_err(|cause| RunError::Lock { cause })?;
    let amendment = rehash_locked(
        &mut *guard,
        scripts,
        options,
        &tables,
        script,
        actor,
        reason,
    );
    if amendment.is_err() {
        rollback_quietly(&mut *guard);
    }
    let amendment = amendment?;
    if let Err(e) = guard.release() {
        log::warn!("releasing the migration lock failed: {e}");
    }
    Ok(amendment)
}

fn rehash_locked(
    backend: &mut dyn Backend,
    scripts: &ScriptDirectory,
    options: &RunOptions,
    tables: &Tables,
    script: &alembic_core::Script,
    actor: &str,
    reason: &str,
) -> Result<Amendment, RehashError> {
    let revision = script.revision.id.as_str();
    let heads = backend
        .read_heads(tables)
        .map_err(|cause| database("reading the version table", cause))?;
    let unknown: Vec<String> = heads
        .iter()
        .filter(|h| scripts.script(h).is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(RunError::UnknownDatabaseRevision {
            revisions: unknown,
            locations: crate::executor::locations(scripts),
            revertible: false,
        }
        .into());
    }
    let applied = applied_set(scripts, &heads);
    if !applied.contains(revision) {
        return Err(RehashError::NotApplied {
            revision: revision.to_string(),
            heads,
        });
    }
    let has_history = backend
        .table_exists(tables, &tables.history)
        .map_err(|cause| database("looking for the history table", cause))?;
    if !has_history {
        return Err(RehashError::NotRecorded {
            revision: revision.to_string(),
        });
    }
    if !backend.in_transaction() {
        backend
            .begin()
            .map_err(|cause| database("beginning a transaction", cause))?;
    }
    add_missing_columns(backend, tables)
        .map_err(|cause| database("adding the history table's new columns", cause))?;
    let previous =
        latest_checksum(backend, tables, revision)?.ok_or_else(|| RehashError::NotRecorded {
            revision: revision.to_string(),
        })?;
    let current = script.checksum.to_hex();
    if previous == current {
        return Err(RehashError::Unchanged {
            revision: revision.to_string(),
            path: script.path.display().to_string(),
            checksum: current,
        });
    }

    let recorded = recorded_chains(backend, tables)
        .map_err(|cause| database("reading the recorded checksums", cause))?;
    let mut chain = ChainedChecksums::extending(scripts, &recorded);
    let applied_at = now_utc_text();
    let row = |id: &str, checksum: String, chained: Option<Checksum>, why: String| HistoryRow {
        revision: id.to_string(),
        operation: Operation::Rehash,
        checksum: Some(checksum),
        chained_checksum: chained.map(|c| c.to_hex()),
        downgrade_sql: None,
        applied_at: applied_at.clone(),
        duration_ms: None,
        tool: options.tool.clone(),
        down_revisions: None,
        actor: Some(actor.to_string()),
        reason: Some(why),
    };
    let mut rows = vec![row(
        revision,
        current.clone(),
        chain.applying(revision),
        reason.to_string(),
    )];
    // The applied revisions above it, parents before children: their recorded chains covered
    // the old script. Each keeps its own recorded checksum; one without a record (applied by
    // another tool) gets no row, and its children's chains are computed through its script.
    for id in applied_above(scripts, revision, &applied) {
        if !recorded.contains_key(&id) {
            continue;
        }
        let Some(own) = latest_checksum(backend, tables, &id)? else {
            continue;
        };
        let Ok(own_sum) = Checksum::from_hex(&own) else {
            continue;
        };
        let chained = chain.recording(&id, &own_sum);
        rows.push(row(
            &id,
            own,
            chained,
            format!("chained checksum follows the rehash of {revision}: {reason}"),
        ));
    }
    for r in &rows {
        backend.insert_history(tables, r).map_err(|cause| {
            database(
                &format!(
                    "recording the rehash of {} in the history table",
                    r.revision
                ),
                cause,
            )
        })?;
    }
    backend
        .commit()
        .map_err(|cause| database("committing the rehash", cause))?;
    log::info!(
        "rehashed {revision} ({}): checksum {previous} -> {current}, by {actor}: {reason}",
        script.path.display()
    );
    Ok(Amendment {
        revision: revision.to_string(),
        previous,
        current,
        rows,
    })
}

/// Every revision at or below the version rows.
fn applied_set(scripts: &ScriptDirectory, heads: &[String]) -> HashSet<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = heads.to_vec();
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(script) = scripts.script(&id) {
            stack.extend(script.revision.down_revisions.iter().cloned());
        }
    }
    seen
}

/// The applied descendants of `revision`, each after all of its applied parents (Kahn's order
/// over the applied subgraph above it).
fn applied_above(
    scripts: &ScriptDirectory,
    revision: &str,
    applied: &HashSet<String>,
) -> Vec<String> {
    // Through `Revises` only: chained checksums do not cover dependencies.
    let map = scripts.map();
    let mut above: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = map.children(revision);
    while let Some(id) = stack.pop() {
        if applied.contains(id) && above.insert(id) {
            stack.extend(map.children(id));
        }
    }
    let mut waiting: HashMap<&str, usize> = HashMap::new();
    for id in &above {
        let parents = scripts
            .script(id)
            .map(|s| {
                s.revision
                    .down_revisions
                    .iter()
                    .filter(|p| above.contains(p.as_str()))
                    .count()
            })
            .unwrap_or(0);
        waiting.insert(id, parents);
    }
    let mut ready: VecDeque<&str> = {
        let mut first: Vec<&str> = waiting
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| *id)
            .collect();
        first.sort_unstable();
        first.into()
    };
    let mut order = Vec::with_capacity(above.len());
    while let Some(id) = ready.pop_front() {
        order.push(id.to_string());
        let mut children: Vec<&str> = map
            .children(id)
            .into_iter()
            .filter(|c| above.contains(c))
            .collect();
        children.sort_unstable();
        for child in children {
            if let Some(n) = waiting.get_mut(child) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    ready.push_back(child);
                }
            }
        }
    }
    order
}

/// The latest recorded script checksum of `revision` as applied (upgrade, stamp or rehash).
fn latest_checksum(
    backend: &mut dyn Backend,
    tables: &Tables,
    revision: &str,
) -> Result<Option<String>, RunError> {
    let sql = format!(
        "SELECT checksum FROM {} WHERE revision = {} \
         AND operation IN ('upgrade', 'stamp', 'rehash') AND checksum IS NOT NULL \
         ORDER BY id DESC LIMIT 1",
        tables.history_sql(),
        placeholder(tables.dialect, 1)
    );
    let rows = backend
        .query_strings(&sql, &[SqlValue::Text(revision.to_string())])
        .map_err(|cause| database("reading the history table", cause))?;
    Ok(rows.into_iter().next())
}
