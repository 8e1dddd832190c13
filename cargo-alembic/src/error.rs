//! Every way a command can fail, and the one place where a failure becomes what the user reads:
//! what went wrong, where (file:line, revision), and what to do, with an exit code from a fixed
//! table (0 ok, 1 failure, 2 usage). Library errors arrive typed; advice is added only here.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use alembic_core::plan::PlanError;
use alembic_core::source::SourceErrors;
use alembic_core::target::ResolveError;
use alembic_runtime::RunError;

/// Exit status for a failed command.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status for a command line that cannot be run as written (clap uses it too).
pub const EXIT_USAGE: i32 = 2;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line asks for something impossible (`downgrade X --sql` without `FROM:`).
    #[error("{0}")]
    Usage(String),

    /// A failure with a message and, optionally, more lines and advice.
    #[error("{message}")]
    Failed {
        message: String,
        details: Vec<String>,
        hint: Option<String>,
    },

    /// A file or folder could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// The revision scripts are broken: every problem, each with file:line.
    #[error("{}", source_summary(.0))]
    Source(SourceErrors),

    /// A target (`head`, `ae1f`, `feat@+1`, ...) could not be resolved.
    #[error("{0}")]
    Resolve(ResolveError),

    /// No plan could be made for the target; nothing ran.
    #[error("{}", plan_message(.0))]
    Plan(PlanError),

    /// A run failed; the report inside says what committed before.
    #[error("{}", run_message(.0))]
    Run(RunError),
}

fn plan_message(e: &PlanError) -> String {
    match e {
        PlanError::Resolve(r) => r.to_string(),
        other => other.to_string(),
    }
}

fn run_message(e: &RunError) -> String {
    match e {
        RunError::Plan(p) => plan_message(p),
        other => other.to_string(),
    }
}

fn source_summary(errors: &SourceErrors) -> String {
    match errors.len() {
        1 => "the revision scripts have a problem".to_string(),
        n => format!("the revision scripts have {n} problems"),
    }
}

impl CliError {
    pub fn failed(message: impl Into<String>) -> Self {
        CliError::Failed {
            message: message.into(),
            details: Vec::new(),
            hint: None,
        }
    }

    pub fn with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::Failed {
            message: message.into(),
            details: Vec::new(),
            hint: Some(hint.into()),
        }
    }

    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// The full text for stderr: `FAILED: what`, then where and what to do, one item a line.
    /// Passwords registered with [`register_secret`] are masked.
    pub fn render(&self) -> String {
        let mut out = format!("FAILED: {self}");
        let mut line = |text: &str| {
            let _ = write!(out, "\n  {text}");
        };
        match self {
            CliError::Usage(_) => line("run `cargo alembic --help` for the usage"),
            CliError::Failed { details, hint, .. } => {
                for d in details {
                    line(d);
                }
                if let Some(hint) = hint {
                    line(&format!("hint: {hint}"));
                }
            }
            CliError::Io { .. } => {}
            CliError::Source(errors) => {
                for e in errors.iter() {
                    line(&e.to_string());
                }
                line("hint: fix the scripts above; nothing was run");
            }
            CliError::Resolve(e) => {
                if let Some(hint) = resolve_hint(e) {
                    line(&format!("hint: {hint}"));
                }
            }
            CliError::Plan(e) => {
                if let Some(hint) = plan_hint(e) {
                    line(&format!("hint: {hint}"));
                }
            }
            CliError::Run(e) => {
                match (e, e.applied()) {
                    (_, Some(report)) if !report.is_empty() => {
                        line(&format!("committed before the failure: {report}"));
                    }
                    (
                        RunError::Migration {
                            half_applied: false,
                            ..
                        },
                        Some(_),
                    ) => {
                        line("nothing of this run was committed: the database is as it was before")
                    }
                    _ => {}
                }
                let hint = match e {
                    RunError::Plan(p) => plan_hint(p),
                    RunError::UnknownDatabaseRevision { .. } => Some(
                        "run with the scripts that define it (check out the newer code), or, if \
                         it was removed on purpose, `cargo alembic stamp --purge <revision>`"
                            .to_string(),
                    ),
                    RunError::Lock { .. } => Some(
                        "another process is migrating this database; run again when it is done"
                            .to_string(),
                    ),
                    RunError::HeadsMoved { .. } => Some(
                        "another process changed the database meanwhile; run the command again"
                            .to_string(),
                    ),
                    _ => None,
                };
                if let Some(hint) = hint {
                    line(&format!("hint: {hint}"));
                }
            }
        }
        mask_secrets(&out)
    }
}

fn resolve_hint(e: &ResolveError) -> Option<String> {
    Some(match e {
        ResolveError::UnknownRevision { .. } => {
            "`cargo alembic history` lists the revisions; a prefix needs at least 4 characters"
                .to_string()
        }
        ResolveError::UnknownBranch { .. } => {
            "`cargo alembic branches` and `cargo alembic heads` show the branch labels".to_string()
        }
        ResolveError::AmbiguousPrefix { .. } => "type more characters of the id".to_string(),
        ResolveError::MultipleHeads { .. } => "use `heads` for all of them, `<label>@head` or \
                                                `<id>@head` for one, or join them with `cargo \
                                                alembic merge -m \"merge\" heads`"
            .to_string(),
        ResolveError::AmbiguousUpgrade { .. } | ResolveError::AmbiguousBranchHeads { .. } => {
            "name the branch: `<label>@+1`, or an explicit revision".to_string()
        }
        ResolveError::InvalidRange { .. } => {
            "e.g. `-r ae1027a6acf:`, `-r :head`, `-r base:head`, `-r current:`".to_string()
        }
        _ => return None,
    })
}

fn plan_hint(e: &PlanError) -> Option<String> {
    match e {
        PlanError::Resolve(r) => resolve_hint(r),
        PlanError::NotAnUpgradeTarget { .. } => Some(
            "`cargo alembic current` shows where the database is; to go back use `cargo alembic \
             downgrade`"
                .to_string(),
        ),
        PlanError::NotADowngradeTarget { .. } => Some(
            "`cargo alembic current` shows where the database is; to go forward use `cargo \
             alembic upgrade`"
                .to_string(),
        ),
        PlanError::VersionConflict { .. } => Some(
            "the version table does not match the scripts; `cargo alembic current` shows it and \
             `cargo alembic stamp` can set it"
                .to_string(),
        ),
        _ => None,
    }
}

impl From<PlanError> for CliError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Resolve(r) => CliError::Resolve(r),
            other => CliError::Plan(other),
        }
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Plan(p) => CliError::from(p),
            other => CliError::Run(other),
        }
    }
}

impl From<SourceErrors> for CliError {
    fn from(e: SourceErrors) -> Self {
        CliError::Source(e)
    }
}

impl From<ResolveError> for CliError {
    fn from(e: ResolveError) -> Self {
        CliError::Resolve(e)
    }
}

/// Strings that must never be printed (database passwords), replaced by `***` in every error
/// message and log line.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers a password so that no message prints it.
pub fn register_secret(secret: &str) {
    // Masking very short strings would garble unrelated text; such passwords are masked by the
    // URL's own masked form anyway.
    if secret.len() < 3 {
        return;
    }
    if let Ok(mut secrets) = SECRETS.lock() {
        if !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_string());
        }
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn mask_secrets(text: &str) -> String {
    let Ok(secrets) = SECRETS.lock() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

pub type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2_and_failures_exit_1() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::failed("x").exit_code(), 1);
        assert_eq!(
            CliError::Resolve(ResolveError::UnknownRevision {
                target: "zz".into()
            })
            .exit_code(),
            1
        );
    }

    #[test]
    fn multiple_heads_reads_like_alembic_and_lists_the_heads() {
        let e = CliError::from(ResolveError::MultipleHeads {
            argument: "head".into(),
            heads: vec!["c3b".into(), "e4a193614c6e".into()],
        });
        let text = e.render();
        assert!(
            text.starts_with(
                "FAILED: Multiple head revisions are present for given argument 'head'; please \
                 specify a specific target revision, '<branchname>@head' to narrow to a specific \
                 head, or 'heads' for all heads"
            ),
            "{text}"
        );
        assert!(text.contains("(c3b, e4a193614c6e)"), "{text}");
        assert!(text.contains("hint: use `heads` for all of them"), "{text}");
    }

    #[test]
    fn failures_render_details_and_hint_on_their_own_lines() {
        let e = CliError::Failed {
            message: "Database is not on all head revisions".into(),
            details: vec!["current: a1".into(), "heads: b2".into()],
            hint: Some("run `cargo alembic upgrade heads`".into()),
        };
        assert_eq!(
            e.render(),
            "FAILED: Database is not on all head revisions\n  current: a1\n  heads: b2\n  hint: run `cargo alembic upgrade heads`"
        );
    }

    #[test]
    fn registered_secrets_are_masked() {
        register_secret("s3cr3t-pw");
        register_secret("ab");
        let e = CliError::failed("cannot connect to postgresql://u:s3cr3t-pw@h/db (ab)");
        assert_eq!(
            e.render(),
            "FAILED: cannot connect to postgresql://u:***@h/db (ab)"
        );
    }
}
