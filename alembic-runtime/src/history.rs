//! The rows of the history table, and the chained checksums they carry.
//!
//! One row is written per upgrade, downgrade and stamp of a revision, in the same transaction
//! as the revision's version-row change, so the history never claims more than the version
//! table does; and one per audited amendment (`rehash`) of an applied script.

use std::collections::{HashMap, HashSet};
use std::fmt;

use alembic_core::source::ScriptDirectory;
use alembic_core::Checksum;

use crate::backend::{Backend, BackendError, SqlValue};
use crate::dialect::{Tables, HISTORY_ADDED_COLUMNS};

/// What happened to a revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Upgrade,
    Downgrade,
    Stamp,
    /// An audited amendment: an applied script was edited in a way that changes nothing the
    /// database holds (a comment, whitespace), and its new checksum is recorded, with who and
    /// why, so that verification passes again. Moves no version row.
    Rehash,
}

impl Operation {
    /// The text stored in the `operation` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Upgrade => "upgrade",
            Operation::Downgrade => "downgrade",
            Operation::Stamp => "stamp",
            Operation::Rehash => "rehash",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the history table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    pub revision: String,
    pub operation: Operation,
    /// Hex SHA-256 of the revision's script; `None` when no script is known (a stamp that only
    /// removed the revision from the version table).
    pub checksum: Option<String>,
    /// Hex chained checksum of the revision and its ancestors (see [`ChainedChecksums`]).
    pub chained_checksum: Option<String>,
    /// The revision's downgrade SQL, stored at upgrade time so that a deployment can later be
    /// rolled back without the scripts of the newer build.
    pub downgrade_sql: Option<String>,
    /// UTC, ISO-8601 with milliseconds: `2025-08-23T10:30:00.000Z`.
    pub applied_at: String,
    /// How long the revision's SQL and version change took; `None` in offline scripts.
    pub duration_ms: Option<i64>,
    /// Which tool applied it, e.g. `cargo-alembic 0.1.0`.
    pub tool: String,
    /// The revisions the version rows move back to when it is downgraded (its `Revises`, then
    /// the dependencies no ancestor declares: what the planner moves version rows along),
    /// space-separated, `""` for a root; on upgrade rows, so that a build without the script
    /// can still tell where reverting it leads (see `rollback.rs`). `None` on other rows.
    pub down_revisions: Option<String>,
    /// Who made an audited change (a rehash): git's `user.name`, else `$USER`.
    pub actor: Option<String>,
    /// Why (the rehash's `--reason`).
    pub reason: Option<String>,
}

impl HistoryRow {
    /// The bound parameters, in the order of the history columns (`id` aside).
    pub fn params(&self) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(self.revision.clone()),
            SqlValue::Text(self.operation.as_str().to_string()),
            self.checksum.clone().into(),
            self.chained_checksum.clone().into(),
            self.downgrade_sql.clone().into(),
            SqlValue::Text(self.applied_at.clone()),
            self.duration_ms.map_or(SqlValue::Null, SqlValue::Int),
            SqlValue::Text(self.tool.clone()),
            self.down_revisions.clone().into(),
            self.actor.clone().into(),
            self.reason.clone().into(),
        ]
    }
}

/// `down_revisions` as stored in a history row: space-separated, `""` for a root.
pub fn join_down_revisions<S: AsRef<str>>(parents: &[S]) -> String {
    let parents: Vec<&str> = parents.iter().map(AsRef::as_ref).collect();
    parents.join(" ")
}

/// The parents stored by [`join_down_revisions`].
pub fn split_down_revisions(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_string).collect()
}

/// The current time as stored in `applied_at`.
pub fn now_utc_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Adds the columns of [`HISTORY_ADDED_COLUMNS`] that an existing history table lacks (one
/// made by an earlier build, before deploy rollback and rehash): all nullable, so the rows it
/// holds stay valid, and a revision they describe without parents is refused by a revert with
/// an error naming it rather than guessed at. Adding them beats refusing the run: the table is
/// ours, the change is additive, and the user could only have run the same `ALTER TABLE`.
/// One column query when nothing is missing.
pub fn add_missing_columns<B: Backend + ?Sized>(
    backend: &mut B,
    tables: &Tables,
) -> Result<Vec<&'static str>, BackendError> {
    let (sql, params) = tables.select_history_columns();
    let present: HashSet<String> = backend
        .query_strings(&sql, &params)?
        .into_iter()
        .map(|name| name.to_ascii_lowercase())
        .collect();
    let mut added = Vec::new();
    for (name, definition) in HISTORY_ADDED_COLUMNS {
        if !present.contains(name) {
            backend.execute_batch(&tables.add_history_column(definition))?;
            added.push(name);
        }
    }
    if !added.is_empty() {
        log::info!(
            "added column(s) {} to {}, made by an earlier build",
            added.join(", "),
            tables.history
        );
    }
    Ok(added)
}

/// The recorded chained checksum of every revision whose latest history row applied it (an
/// upgrade or a stamp that added it, with a checksum), in one query. A revision whose latest
/// row is a downgrade or a removing stamp has no entry: what is recorded no longer describes
/// what is applied. Needs the history table.
pub fn recorded_chains(
    backend: &mut dyn Backend,
    tables: &Tables,
) -> Result<HashMap<String, String>, BackendError> {
    let mut latest = HashMap::new();
    // Rows come oldest first: a later row replaces an earlier one.
    for line in backend.query_strings(&tables.select_recorded_chains(), &[])? {
        let (revision, chain) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        latest.insert(revision.to_string(), chain.to_string());
    }
    latest.retain(|_, chain| !chain.is_empty());
    Ok(latest)
}

/// Chained checksums of revisions, memoised over one run.
///
/// A revision's chained checksum covers its own script and the chained checksums of its down
/// revisions ([`Checksum::chained`]), so it covers every ancestor: comparing the stored value
/// of each current head with the scripts' verifies the whole applied history in O(heads).
/// Dependencies (`Depends On`) are not part of the chain: they are not ancestors in the
/// version table's sense.
pub struct ChainedChecksums<'s> {
    scripts: &'s ScriptDirectory,
    memo: HashMap<String, Checksum>,
}

impl<'s> ChainedChecksums<'s> {
    /// Chains computed from the scripts alone: what verification compares records with.
    pub fn new(scripts: &'s ScriptDirectory) -> Self {
        ChainedChecksums {
            scripts,
            memo: HashMap::new(),
        }
    }

    /// Chains for new history rows: a revision's parents contribute their RECORDED chains
    /// where the history has them (see [`recorded_chains`]), and chains computed from the
    /// scripts only below what was recorded (revisions another tool applied). A script
    /// edited after it was applied therefore cannot be laundered into its children's records:
    /// theirs extend what ran, and stop matching the edited files. Where nothing was edited
    /// both ways give the same values.
    pub fn extending(scripts: &'s ScriptDirectory, recorded: &HashMap<String, String>) -> Self {
        let memo = recorded
            .iter()
            .filter_map(|(id, hex)| Some((id.clone(), Checksum::from_hex(hex).ok()?)))
            .collect();
        ChainedChecksums { scripts, memo }
    }

    /// The chained checksum of `id` as it is applied now: its script's checksum over its
    /// parents' chains, never a memoised (or recorded) value of `id` itself, which may
    /// describe an earlier, since edited, version of its script. Remembered for its children.
    pub fn applying(&mut self, id: &str) -> Option<Checksum> {
        let script = self.scripts.script(id)?;
        let mut parents = Vec::with_capacity(script.revision.down_revisions.len());
        for parent in &script.revision.down_revisions {
            parents.push(self.get(parent)?);
        }
        let chained = Checksum::chained(&script.checksum, &parents);
        self.memo.insert(id.to_string(), chained);
        Some(chained)
    }

    /// The chained checksum of `id` as recorded with script checksum `own` (not necessarily
    /// its script's now): what a rehash records for the applied revisions above the amended
    /// one, so that an edit of theirs that was not amended stays visible. Remembered for its
    /// children.
    pub fn recording(&mut self, id: &str, own: &Checksum) -> Option<Checksum> {
        let script = self.scripts.script(id)?;
        let mut parents = Vec::with_capacity(script.revision.down_revisions.len());
        for parent in &script.revision.down_revisions {
            parents.push(self.get(parent)?);
        }
        let chained = Checksum::chained(own, &parents);
        self.memo.insert(id.to_string(), chained);
        Some(chained)
    }

    /// The chained checksum of `id`; `None` when it or one of its ancestors has no script
    /// (or the ancestry has a cycle, which a validated graph never has).
    ///
    /// Iterative, so a history of thousands of revisions cannot overflow the stack.
    pub fn get(&mut self, id: &str) -> Option<Checksum> {
        let mut stack = vec![id.to_string()];
        // Revisions whose missing parents were pushed once already: meeting one again with
        // parents still missing means the ancestry loops.
        let mut expanded: HashSet<String> = HashSet::new();
        while let Some(top) = stack.last() {
            if self.memo.contains_key(top) {
                stack.pop();
                continue;
            }
            let script = self.scripts.script(top)?;
            let mut parents = Vec::with_capacity(script.revision.down_revisions.len());
            let mut missing = Vec::new();
            for parent in &script.revision.down_revisions {
                match self.memo.get(parent) {
                    Some(sum) => parents.push(*sum),
                    None => missing.push(parent.clone()),
                }
            }
            if missing.is_empty() {
                let chained = Checksum::chained(&script.checksum, &parents);
                let done = stack.pop()?;
                self.memo.insert(done, chained);
            } else if expanded.insert(top.clone()) {
                stack.extend(missing);
            } else {
                return None;
            }
        }
        self.memo.get(id).copied()
    }
}
