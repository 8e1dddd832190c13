//! The bench's one error type: every failure names the file or the command it came from.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed (exit code {status:?}); the end of its stderr:\n{stderr}")]
    Failed {
        command: String,
        status: Option<i32>,
        stderr: String,
    },
    /// A run finished but did not do the work (wrong heads, missing tables...): its time
    /// would be meaningless.
    #[error("{tool} {what}: {why}")]
    Check {
        tool: String,
        what: String,
        why: String,
    },
    #[error("{0}")]
    Peer(String),
    #[error("{0}")]
    Setup(String),
}
