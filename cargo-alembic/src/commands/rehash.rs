//! `rehash REV --reason TEXT`: the audited amendment of an applied script that was edited
//! without changing what the database holds (see `alembic_runtime::rehash`).

use std::path::Path;
use std::process::Command;

use alembic_core::target;
use alembic_runtime::RehashError;

use crate::args::{GlobalOpts, RehashArgs};
use crate::error::{CliError, CliResult};
use crate::output::Printer;
use crate::project::Project;

pub fn run(global: &GlobalOpts, args: &RehashArgs, printer: &Printer) -> CliResult {
    if args.reason.trim().is_empty() {
        return Err(CliError::Usage(
            "rehash needs a reason: --reason \"what was edited and why it changes nothing\""
                .to_string(),
        ));
    }
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let revision = match target::resolve_start(scripts.map(), &args.revision)?
        .into_iter()
        .next()
    {
        Some(id) => id,
        None => {
            return Err(CliError::Usage(format!(
                "rehash needs one revision, not {}",
                args.revision
            )))
        }
    };
    let actor = actor(&project.config.config_dir);
    let options = project.run_options();
    let amendment = project
        .connect()?
        .with_backend(|backend| {
            alembic_runtime::rehash(backend, &scripts, &options, &revision, &actor, &args.reason)
        })
        .map_err(cli_error)?;
    let above: Vec<&str> = amendment
        .rows
        .iter()
        .skip(1)
        .map(|r| r.revision.as_str())
        .collect();
    printer.note(&format!(
        "Rehashed {revision}: checksum {} -> {}, recorded by {actor}: {}",
        short(&amendment.previous),
        short(&amendment.current),
        args.reason.trim()
    ));
    if !above.is_empty() {
        printer.note(&format!(
            "Chained checksums recorded again for the applied revisions above it: {}",
            above.join(", ")
        ));
    }
    Ok(())
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

fn cli_error(e: RehashError) -> CliError {
    match e {
        RehashError::Run(run) => run.into(),
        RehashError::Unchanged { .. } => CliError::with_hint(
            e.to_string(),
            "`cargo alembic check` verifies every applied script and names an edited one",
        ),
        RehashError::NotApplied { .. } => CliError::with_hint(
            e.to_string(),
            "`cargo alembic current` shows what is applied",
        ),
        other => CliError::failed(other.to_string()),
    }
}

/// Who amends: git's `user.name` (as configured for the project's folder), else `$USER`
/// (`%USERNAME%` on Windows), else `unknown`.
fn actor(dir: &Path) -> String {
    let from_git = Command::new("git")
        .arg("-C")
        .arg(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .args(["config", "user.name"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty());
    from_git
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("USERNAME").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}
