//! Migration plans: which revisions to run, in which order, and what each step does to the
//! `alembic_version` rows. Pure: a plan is computed from a [`RevisionMap`](crate::RevisionMap),
//! the database's current heads and a target, and executed elsewhere (alembic-runtime), online
//! or as an offline `--sql` script.

/// Which way a revision runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Upgrade,
    Downgrade,
}

/// One change to the rows of `alembic_version` (one row per current head), exactly as
/// Alembic's head maintenance makes them. The executor binds the ids as parameters and checks
/// that each statement touched exactly one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionChange {
    /// `INSERT INTO alembic_version (version_num) VALUES (id)`
    Insert { id: String },
    /// `DELETE FROM alembic_version WHERE version_num = id`
    Delete { id: String },
    /// `UPDATE alembic_version SET version_num = to WHERE version_num = from`
    Update { from: String, to: String },
}

/// What one step of a plan does besides moving version rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Run the upgrade SQL of `revision`.
    Upgrade { revision: String },
    /// Run the downgrade SQL of `revision`.
    Downgrade { revision: String },
    /// Run nothing: only move version rows (`stamp`), from the `from` heads to the `to` heads.
    Stamp { from: Vec<String>, to: Vec<String> },
}

/// One step of a plan: what runs, and the version-table changes that commit with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub version_changes: Vec<VersionChange>,
}

impl Step {
    /// The revision whose SQL this step runs, if it runs any.
    pub fn revision(&self) -> Option<&str> {
        match &self.kind {
            StepKind::Upgrade { revision } | StepKind::Downgrade { revision } => Some(revision),
            StepKind::Stamp { .. } => None,
        }
    }

    pub fn direction(&self) -> Option<Direction> {
        match &self.kind {
            StepKind::Upgrade { .. } => Some(Direction::Upgrade),
            StepKind::Downgrade { .. } => Some(Direction::Downgrade),
            StepKind::Stamp { .. } => None,
        }
    }
}

/// An ordered list of steps, and the version rows before and after it (sorted).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    pub heads_before: Vec<String>,
    pub steps: Vec<Step>,
    pub heads_after: Vec<String>,
}
