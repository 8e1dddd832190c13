//! The part of a revision that the graph cares about.

/// One node of the revision graph, as declared by its script's header.
///
/// Kept separate from [`crate::Script`] so that graphs can be built from literals in tests and
/// from precomputed data in embedded binaries, without any SQL or file attached.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Revision {
    /// `Revision ID`: 1 to 32 characters of `[A-Za-z0-9_]`.
    pub id: String,
    /// `Revises`: empty for a base, two or more for a merge point. Order as written.
    pub down_revisions: Vec<String>,
    /// `Branch Labels` declared on this revision (not the inherited ones).
    pub branch_labels: Vec<String>,
    /// `Depends On`: revision ids, id prefixes or branch labels, as written.
    pub depends_on: Vec<String>,
}

impl Revision {
    /// A revision with the given id and down revisions, no labels and no dependencies.
    pub fn new(id: &str, down_revisions: &[&str]) -> Self {
        Revision {
            id: id.to_string(),
            down_revisions: down_revisions.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }
}

/// Whether `id` is a valid revision id: 1 to 32 characters of `[A-Za-z0-9_]`.
/// 32 is the width of Alembic's `alembic_version.version_num`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
