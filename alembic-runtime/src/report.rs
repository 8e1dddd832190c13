//! What a run did: returned on success, and carried by [`crate::RunError`] for what committed
//! before a failure.

use std::fmt;
use std::time::Duration;

use alembic_core::plan::StepKind;

use crate::history::Operation;

/// One step that ran and committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The revision that ran (or the heads a stamp moved between).
    pub step: StepKind,
    /// Time spent on the step's SQL and its version-table change.
    pub duration: Duration,
}

impl Applied {
    pub fn operation(&self) -> Operation {
        match self.step {
            StepKind::Upgrade { .. } => Operation::Upgrade,
            StepKind::Downgrade { .. } => Operation::Downgrade,
            StepKind::Stamp { .. } => Operation::Stamp,
        }
    }

    /// The revision whose SQL ran; `None` for a stamp.
    pub fn revision(&self) -> Option<&str> {
        match &self.step {
            StepKind::Upgrade { revision } | StepKind::Downgrade { revision } => Some(revision),
            StepKind::Stamp { .. } => None,
        }
    }
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.step {
            StepKind::Upgrade { revision } => write!(f, "upgrade {revision}")?,
            StepKind::Downgrade { revision } => write!(f, "downgrade {revision}")?,
            StepKind::Stamp { from, to } => {
                write!(f, "stamp {} -> {}", heads_text(from), heads_text(to))?
            }
        }
        write!(f, " ({} ms)", self.duration.as_millis())
    }
}

fn heads_text(heads: &[String]) -> String {
    if heads.is_empty() {
        "base".to_string()
    } else {
        heads.join(", ")
    }
}

/// The steps of a run that committed, in the order they ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub applied: Vec<Applied>,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty()
    }

    /// Total time of the steps that ran.
    pub fn duration(&self) -> Duration {
        self.applied.iter().map(|a| a.duration).sum()
    }
}

/// One line for logs: `ran 2 migrations in 15 ms: upgrade a (10 ms), upgrade b (5 ms)`.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.applied.len() {
            0 => f.write_str("no migrations ran"),
            n => {
                let noun = if n == 1 { "migration" } else { "migrations" };
                write!(f, "ran {n} {noun} in {} ms: ", self.duration().as_millis())?;
                for (i, applied) in self.applied.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{applied}")?;
                }
                Ok(())
            }
        }
    }
}
