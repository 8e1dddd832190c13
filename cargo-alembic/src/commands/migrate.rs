//! `upgrade`, `downgrade` and `stamp`: online through `alembic_runtime::Migrator` (the one
//! executor, with its lock, transactions and history rows), offline (`--sql`) by planning with
//! `alembic_core::plan` and printing the runtime's `offline_sql`, without connecting.

use alembic_core::plan::{self, Plan};
use alembic_core::source::ScriptDirectory;
use alembic_core::target;
use alembic_runtime::{Migrator, Report};

use crate::args::{GlobalOpts, StampArgs, UpgradeArgs};
use crate::commands::backup;
use crate::error::{CliError, CliResult};
use crate::output::{Printer, Ticker};
use crate::project::Project;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Up,
    Down,
}

pub fn upgrade(global: &GlobalOpts, args: &UpgradeArgs, printer: &Printer) -> CliResult {
    migrate(global, args, printer, Way::Up)
}

pub fn downgrade(global: &GlobalOpts, args: &UpgradeArgs, printer: &Printer) -> CliResult {
    migrate(global, args, printer, Way::Down)
}

fn migrate(global: &GlobalOpts, args: &UpgradeArgs, printer: &Printer, way: Way) -> CliResult {
    let range = target::split_range(&args.revision);
    if range.is_some() && !args.sql {
        return Err(CliError::Usage(format!(
            "Range revision not allowed: {} (FROM:TO ranges are for --sql)",
            args.revision
        )));
    }
    if way == Way::Down && args.sql && range.is_none() {
        return Err(CliError::Usage(
            "downgrade with --sql requires <fromrev>:<torev>".to_string(),
        ));
    }
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let mut options = project.run_options();
    // Deploy rollback from the command line: a downgrade to a revision on disk is explicit
    // intent to go back, so revisions the database has and the scripts do not (a newer
    // checkout migrated it) are reverted with the downgrade SQL their history rows stored.
    // A relative target (`-1`) would count from heads the scripts cannot see, and `upgrade`
    // never reverts: both refuse and say so.
    options.revert_unknown_revisions = way == Way::Down && !is_relative(&args.revision);
    if options.revert_unknown_revisions && !args.sql {
        // A target that names nothing must fail before any revert runs: with
        // transaction_per_migration (or on MySQL) the reverts would stay committed.
        target::resolve(scripts.map(), &args.revision, &[])?;
    }
    let migrator = Migrator::new(&scripts, options);

    if args.sql {
        let (from, to) = range.unwrap_or(("", args.revision.as_str()));
        let from_heads = offline_start(&scripts, from)?;
        let plan = match way {
            Way::Up => plan::upgrade(scripts.map(), &from_heads, to)?,
            Way::Down => plan::downgrade(scripts.map(), &from_heads, to)?,
        };
        return print_sql(&project, &migrator, &plan, printer);
    }

    if args.backup || project.config.backup {
        backup::run(&project, printer)?;
    }
    let mut conn = project.connect()?;
    let _ticker = Ticker::start(
        printer,
        &format!(
            "{} {}",
            if way == Way::Up {
                "upgrade"
            } else {
                "downgrade"
            },
            args.revision
        ),
    );
    let report = conn.with_backend(|backend| match way {
        Way::Up => migrator.upgrade(backend, &args.revision),
        Way::Down => migrator.downgrade(backend, &args.revision),
    })?;
    summary(&report, &args.revision);
    Ok(())
}

pub fn stamp(global: &GlobalOpts, args: &StampArgs, printer: &Printer) -> CliResult {
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let migrator = Migrator::new(&scripts, project.run_options());
    if args.sql {
        // Alembic: each target may carry the same `FROM:` prefix; one starting point per run.
        let mut start: Option<&str> = None;
        let mut targets = Vec::new();
        for rev in &args.revisions {
            let to = match target::split_range(rev) {
                Some((from, to)) => {
                    match start {
                        Some(s) if s != from => {
                            return Err(CliError::Usage(
                                "Stamp operation with --sql only supports a single starting \
                                 revision at a time"
                                    .to_string(),
                            ))
                        }
                        _ => start = Some(from),
                    }
                    to
                }
                None => rev.as_str(),
            };
            targets.push(to.to_string());
        }
        let from_heads = offline_start(&scripts, start.unwrap_or(""))?;
        let plan = plan::stamp(scripts.map(), &from_heads, &targets, args.purge)?;
        return print_sql(&project, &migrator, &plan, printer);
    }
    if let Some(range) = args.revisions.iter().find(|r| r.contains(':')) {
        return Err(CliError::Usage(format!(
            "Range revision not allowed: {range} (FROM:TO ranges are for --sql)"
        )));
    }
    let mut conn = project.connect()?;
    let report =
        conn.with_backend(|backend| migrator.stamp(backend, &args.revisions, args.purge))?;
    summary(&report, &args.revisions.join(" "));
    Ok(())
}

/// Whether a target counts steps from the current heads (`-1`, `+2`, `ae10-1`, `feat@-2`).
fn is_relative(target: &str) -> bool {
    match target.rfind(['+', '-']) {
        Some(at) => {
            let steps = &target[at + 1..];
            !steps.is_empty() && steps.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// One closing log line; the runtime has already logged each step with its duration, so a run
/// of a thousand revisions does not repeat them all here.
fn summary(report: &Report, target: &str) {
    match report.applied.len() {
        0 => log::info!("nothing to do: the database is already at {target}"),
        1 => log::info!("ran 1 step in {} ms", report.duration().as_millis()),
        n => log::info!("ran {n} steps in {} ms", report.duration().as_millis()),
    }
}

/// The heads an offline script starts from: none (an empty database) when `from` is empty or
/// `base`, else the one revision `from` names (as Alembic reads `starting_rev`).
fn offline_start(scripts: &ScriptDirectory, from: &str) -> CliResult<Vec<String>> {
    Ok(target::resolve_start(scripts.map(), from)?)
}

fn print_sql(
    project: &Project,
    migrator: &Migrator<'_>,
    plan: &Plan,
    printer: &Printer,
) -> CliResult {
    let dialect = project.require_url()?.dialect();
    log::info!("Generating static SQL for {dialect}");
    let sql = migrator.offline_sql(dialect, plan)?;
    printer.out_raw(&sql);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Printer = Printer { quiet: true };

    fn args(revision: &str, sql: bool) -> UpgradeArgs {
        UpgradeArgs {
            revision: revision.to_string(),
            sql,
            backup: false,
        }
    }

    #[test]
    fn ranges_are_for_sql_only_and_offline_downgrade_needs_one() {
        // These are refused from the command line alone, before any configuration is read.
        let g = GlobalOpts::default();
        let e = upgrade(&g, &args("a1:b2", false), &QUIET).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().starts_with("Range revision not allowed"),
            "{e}"
        );
        let e = downgrade(&g, &args("a1", true), &QUIET).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "downgrade with --sql requires <fromrev>:<torev>"
        );
    }

    #[test]
    fn relative_targets_are_told_from_revisions() {
        for t in ["-1", "+2", "ae10-1", "feat@-2", "feat@+1"] {
            assert!(is_relative(t), "{t}");
        }
        for t in ["base", "ae1027a6acf", "head", "feat@head", "my-rev", "-"] {
            assert!(!is_relative(t), "{t}");
        }
    }

    #[test]
    fn offline_runs_start_from_nothing_for_base_or_no_start() {
        let dir = ScriptDirectory::from_scripts(Vec::new()).unwrap();
        assert!(offline_start(&dir, "").unwrap().is_empty());
        assert!(offline_start(&dir, "base").unwrap().is_empty());
        assert!(offline_start(&dir, "nope").is_err());
    }
}
