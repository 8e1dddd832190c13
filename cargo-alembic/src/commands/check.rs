//! `check`: exit 1, with a message saying what is pending, when `upgrade heads` would run
//! anything, or when an applied script was edited since it ran (naming it, and suggesting
//! `rehash` for an edit without effect); exit 0 when the database is at its heads. (Alembic's `check` compares models with
//! the database, which needs autogenerate; until then this is `current --check-heads`.)

use alembic_core::plan::{self, Step};
use alembic_core::source::ScriptDirectory;
use alembic_core::url::SqliteTarget;
use alembic_runtime::{Dirty, Migrator, Mismatch, RunError};

use crate::args::GlobalOpts;
use crate::error::{CliError, CliResult};
use crate::output::Printer;
use crate::project::Project;

/// The steps `upgrade heads` would run from `current`.
pub fn pending(scripts: &ScriptDirectory, current: &[String]) -> CliResult<Vec<Step>> {
    Ok(plan::upgrade(scripts.map(), current, "heads")?.steps)
}

/// Fails when an applied script was edited since it ran (the runtime compares one chained
/// checksum per head). Heads applied by another tool (no recorded checksum) are not checked.
fn verify_checksums(project: &Project, scripts: &ScriptDirectory, current: &[String]) -> CliResult {
    if current.is_empty() {
        return Ok(());
    }
    let migrator = Migrator::new(scripts, project.run_options());
    let verification = match project
        .connect()?
        .with_backend(|backend| migrator.verify(backend))
    {
        Ok(found) => found,
        Err(RunError::ChecksumMismatch(m)) => return Err(mismatch(&m)),
        Err(other) => return Err(other.into()),
    };
    if !verification.unrecorded.is_empty() {
        log::info!(
            "not verified (applied without a recorded checksum, e.g. by Python Alembic): {}",
            verification.unrecorded.join(", ")
        );
    }
    Ok(())
}

/// An applied script edited since it ran: exit 1 naming it, with the two ways out.
fn mismatch(m: &Mismatch) -> CliError {
    CliError::Failed {
        message: format!(
            "revision {} ({}) changed after it was applied",
            m.revision,
            m.path.display()
        ),
        details: vec![
            format!("recorded checksum: {}", m.recorded),
            format!("script checksum now: {}", m.current),
        ],
        hint: Some(format!(
            "revert the edit and make the change in a new revision; if the edit changes nothing \
             the database holds (a comment, whitespace), record it with `cargo alembic rehash {} \
             --reason \"...\"`",
            m.revision
        )),
    }
}

/// The dirty state a failed non-transactional revision left (see `alembic_runtime::Dirty`), if
/// any. A SQLite file that does not exist is clean, and a read command must not create it.
pub fn dirty_state(project: &Project, scripts: &ScriptDirectory) -> CliResult<Option<Dirty>> {
    let missing_file = matches!(
        project.sqlite_target(project.require_url()?),
        Some(SqliteTarget::File(path)) if !path.exists()
    );
    if missing_file {
        return Ok(None);
    }
    let migrator = Migrator::new(scripts, project.run_options());
    Ok(project
        .connect()?
        .with_backend(|backend| migrator.dirty(backend))?)
}

pub fn run(global: &GlobalOpts, printer: &Printer) -> CliResult {
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let current = project.read_heads(&scripts)?;
    let unknown: Vec<&String> = current
        .iter()
        .filter(|h| scripts.script(h).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(CliError::with_hint(
            format!(
                "Database is at revision(s) {} which no script defines",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "check out the code that has their scripts (is this checkout older than the \
             database?), or go back to a revision on disk with `cargo alembic downgrade <rev>`, \
             which reverts them with the downgrade SQL stored when they were applied",
        ));
    }
    // A failed non-transactional revision left the database dirty: upgrades refuse until it
    // is resolved, so it is not "up to date" whatever its version table says.
    if let Some(dirty) = dirty_state(&project, &scripts)? {
        return Err(RunError::Dirty(Box::new(dirty)).into());
    }
    verify_checksums(&project, &scripts, &current)?;
    let steps = pending(&scripts, &current)?;
    let heads: Vec<&str> = scripts.map().real_heads();
    if steps.is_empty() {
        printer.note(&format!(
            "Database is up to date: at {}.",
            if heads.is_empty() {
                "base (there are no revisions)".to_string()
            } else {
                heads.join(", ")
            }
        ));
        return Ok(());
    }
    let revisions: Vec<&str> = steps.iter().filter_map(Step::revision).collect();
    Err(CliError::Failed {
        message: "Database is not on all head revisions".to_string(),
        details: vec![
            format!(
                "current: {}",
                if current.is_empty() {
                    "base (empty)".to_string()
                } else {
                    current.join(", ")
                }
            ),
            format!("heads: {}", heads.join(", ")),
            format!(
                "pending: {} revision(s): {}",
                revisions.len(),
                revisions.join(", ")
            ),
        ],
        hint: Some("run `cargo alembic upgrade heads`".to_string()),
    })
}
