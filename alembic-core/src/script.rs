//! Revision scripts: one `.sql` file per revision (SPEC section 4), parsed into a [`Script`].

use std::path::PathBuf;

use crate::{Checksum, Revision};

/// A parsed revision script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Id, down revisions, labels and dependencies: what the graph needs.
    pub revision: Revision,
    /// The header's first line.
    pub message: String,
    /// `Create Date`, as written.
    pub create_date: Option<String>,
    /// `false` when the header says `Transactional: false`: the revision runs outside any
    /// transaction (e.g. `CREATE INDEX CONCURRENTLY`).
    pub transactional: bool,
    /// The SQL between `-- +upgrade` and `-- +downgrade` (or the end of the file).
    pub upgrade_sql: String,
    /// The SQL after `-- +downgrade`; `None` when that section is missing or holds no SQL,
    /// meaning the revision cannot be downgraded.
    pub downgrade_sql: Option<String>,
    /// SHA-256 of the file with line endings normalised to `\n`.
    pub checksum: Checksum,
    /// The file it was read from.
    pub path: PathBuf,
    /// 1-based line of the `Revision ID` header, for messages that point at the revision.
    pub id_line: usize,
}
