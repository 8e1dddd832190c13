//! The command line, as clap derive types: what the user typed, before any validation against
//! the configuration or the revision graph (that happens in the commands).
//!
//! Global options (`-c`, `--url`, `--manifest-path`, `-p`, `-v`, `-q`) are accepted before the
//! command, as Alembic wants them (`cargo alembic -c alembic_test.toml upgrade head`), and after
//! it, as cargo users expect.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Alembic's database-migration workflow, native to Rust.
#[derive(Debug, Parser)]
#[command(
    name = "cargo-alembic",
    bin_name = "cargo alembic",
    version,
    about = "Alembic's database-migration workflow, native to Rust",
    long_about = "Alembic's database-migration workflow, native to Rust: plain SQL revision \
                  scripts, Alembic's revision graph (branches, merges, labels, depends_on) and \
                  the same alembic_version table as Python Alembic.",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, before or after the command name.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalOpts {
    /// Configuration file (default: ./alembic.toml, else [package.metadata.alembic] of the
    /// current package).
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Database URL; beats DATABASE_URL, which beats the configuration file.
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,

    /// Path to Cargo.toml of the package whose [package.metadata.alembic] to use.
    #[arg(long, value_name = "PATH", global = true)]
    pub manifest_path: Option<PathBuf>,

    /// Package (of the workspace) whose [package.metadata.alembic] to use.
    #[arg(short = 'p', long, value_name = "SPEC", global = true)]
    pub package: Option<String>,

    /// Verbose output (Alembic's --verbose); repeat (-vv) for debug logging.
    #[arg(short = 'v', long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print only results and errors: no status lines, no progress, no INFO log.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create migrations/, its template and alembic.toml, and wire build.rs and Cargo.toml.
    Init(InitArgs),
    /// Create a new revision script.
    Revision(RevisionArgs),
    /// Upgrade to a later version.
    Upgrade(UpgradeArgs),
    /// Revert to a previous version.
    Downgrade(UpgradeArgs),
    /// Display the current revision(s) of the database.
    Current(ReadArgs),
    /// List revisions in chronological order, newest first.
    History(HistoryArgs),
    /// Show the current head revisions of the scripts.
    Heads(HeadsArgs),
    /// Show the branch points.
    Branches(ReadArgs),
    /// Show the revision(s) denoted by the given symbols.
    Show(ShowArgs),
    /// Set the version table to the given revision(s) without running any migration.
    Stamp(StampArgs),
    /// Create a merge revision of two or more revisions.
    Merge(MergeArgs),
    /// Exit 1 when the database is not at the head revisions, or an applied script was edited.
    Check,
    /// Record an applied script's edit that changes nothing in the database (audited).
    #[command(
        long_about = "Record the checksum of an applied script that was edited without changing \
                      what the database holds (a comment fixed, whitespace), so that \
                      verification (`check`, `upgrade`, `downgrade`) passes again. Writes a \
                      `rehash` row to the history table with who (git's user.name, else $USER), \
                      when and why, for the revision and for the applied revisions above it. \
                      Runs no SQL and moves no version row."
    )]
    Rehash(RehashArgs),
    /// Run every migration up and down on a scratch database, one revision at a time.
    #[command(
        long_about = "Migration testing on a scratch database (SQLite: in memory; PostgreSQL, \
                      MySQL: a temporary database on the configured server, dropped afterwards): \
                      requires a single head, upgrades one revision at a time to head, compares \
                      the head's schema with schema.sql when there is one, then downgrades one \
                      revision at a time, checking that each downgrade restores exactly the \
                      schema from before that revision's upgrade. Exit 1 naming the first \
                      revision that fails. The configured database is never migrated."
    )]
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RehashArgs {
    /// The applied revision whose script was edited (id or unique prefix).
    #[arg(value_name = "REV")]
    pub revision: String,
    /// Why the script was edited; recorded in the history table.
    #[arg(long, value_name = "TEXT", required = true)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder for the migration environment, relative to the package root (default:
    /// `migrations`, or the `script_location` of an existing alembic.toml).
    #[arg(value_name = "DIR")]
    pub directory: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RevisionArgs {
    /// Message of the revision: its first header line and its file name's slug.
    #[arg(short = 'm', long, value_name = "MESSAGE")]
    pub message: Option<String>,
    /// Revision id to use instead of a generated one.
    #[arg(long, value_name = "ID")]
    pub rev_id: Option<String>,
    /// Head (or `base`, `LABEL@head`) to base the new revision on.
    #[arg(long, value_name = "REV", default_value = "head")]
    pub head: String,
    /// Allow a non-head revision as --head, starting a new branch.
    #[arg(long)]
    pub splice: bool,
    /// Branch label to give the new revision.
    #[arg(long, value_name = "LABEL")]
    pub branch_label: Vec<String>,
    /// Revision(s) or label(s) the new revision depends on.
    #[arg(long, value_name = "REV")]
    pub depends_on: Vec<String>,
    /// Version location to write the new file to.
    #[arg(long, value_name = "PATH")]
    pub version_path: Option<PathBuf>,
    /// Compare the database with the schema (not available yet).
    #[arg(long)]
    pub autogenerate: bool,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Target: head, heads, base, an id or prefix, +N/-N, ID+N, LABEL@head, or FROM:TO with --sql.
    #[arg(value_name = "REVISION", allow_hyphen_values = true)]
    pub revision: String,
    /// Print the SQL script instead of running it (offline mode).
    #[arg(long)]
    pub sql: bool,
    /// Back the database up before running anything (SQLite: a copy beside it).
    #[arg(long)]
    pub backup: bool,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Range `[start]:[end]`, `[start]:` or `:[end]`; `current` may stand for either end.
    #[arg(
        short = 'r',
        long = "rev-range",
        value_name = "RANGE",
        allow_hyphen_values = true
    )]
    pub rev_range: Option<String>,
    /// Mark the revisions the database is at with (current).
    #[arg(short = 'i', long)]
    pub indicate_current: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HeadsArgs {
    /// Treat dependencies as down revisions when finding heads.
    #[arg(long)]
    pub resolve_dependencies: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct ShowArgs {
    /// Revisions to show (ids, prefixes, head, heads, LABEL@head, current...).
    #[arg(value_name = "REV", required = true)]
    pub revisions: Vec<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct StampArgs {
    /// Revision(s) to stamp; `base` empties the table, `heads` stamps every head.
    #[arg(value_name = "REVISION", required = true)]
    pub revisions: Vec<String>,
    /// Delete every row of the version table before stamping.
    #[arg(long)]
    pub purge: bool,
    /// Print the SQL instead of running it (offline mode; FROM:TO allowed).
    #[arg(long)]
    pub sql: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Revisions to merge (two or more; `heads` for all heads).
    #[arg(value_name = "REVISION", required = true)]
    pub revisions: Vec<String>,
    /// Message of the merge revision.
    #[arg(short = 'm', long, value_name = "MESSAGE")]
    pub message: Option<String>,
    /// Revision id to use instead of a generated one.
    #[arg(long, value_name = "ID")]
    pub rev_id: Option<String>,
    /// Branch label to give the merge revision.
    #[arg(long, value_name = "LABEL")]
    pub branch_label: Vec<String>,
}

/// The arguments without the `alembic` that cargo inserts when it runs `cargo alembic ...` as
/// `cargo-alembic alembic ...`; run directly as `cargo-alembic ...`, nothing is removed.
pub fn strip_cargo_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    if args.get(1).is_some_and(|a| a == "alembic") {
        args.remove(1);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[&str]) -> Result<Cli, clap::Error> {
        let args = strip_cargo_subcommand(line.iter().map(OsString::from).collect());
        Cli::try_parse_from(args)
    }

    #[test]
    fn rehash_requires_a_reason() {
        assert!(parse(&["x", "rehash", "ae10"]).is_err());
        let cli = parse(&["x", "rehash", "ae10", "--reason", "typo in a comment"]).unwrap();
        match cli.command {
            Command::Rehash(a) => {
                assert_eq!(a.revision, "ae10");
                assert_eq!(a.reason, "typo in a comment");
            }
            other => panic!("expected rehash, got {other:?}"),
        }
    }

    #[test]
    fn cargo_inserted_subcommand_name_is_removed() {
        let cli = parse(&["cargo-alembic", "alembic", "current"]).unwrap();
        assert!(matches!(cli.command, Command::Current(_)));
        let cli = parse(&["cargo-alembic", "current"]).unwrap();
        assert!(matches!(cli.command, Command::Current(_)));
    }

    #[test]
    fn global_options_before_and_after_the_command() {
        let before = parse(&[
            "x",
            "-c",
            "alembic_test.toml",
            "--url",
            "sqlite://",
            "upgrade",
            "head",
        ])
        .unwrap();
        let after = parse(&[
            "x",
            "upgrade",
            "head",
            "-c",
            "alembic_test.toml",
            "--url",
            "sqlite://",
        ])
        .unwrap();
        for cli in [before, after] {
            assert_eq!(
                cli.global.config.as_deref(),
                Some(std::path::Path::new("alembic_test.toml"))
            );
            assert_eq!(cli.global.url.as_deref(), Some("sqlite://"));
            match cli.command {
                Command::Upgrade(a) => assert_eq!(a.revision, "head"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn relative_targets_are_not_taken_for_flags() {
        let cli = parse(&["x", "downgrade", "-1"]).unwrap();
        match cli.command {
            Command::Downgrade(a) => {
                assert_eq!(a.revision, "-1");
                assert!(!a.sql);
            }
            other => panic!("{other:?}"),
        }
        for line in [
            ["x", "downgrade", "-1", "--sql"],
            ["x", "downgrade", "--sql", "-1"],
        ] {
            match parse(&line).unwrap().command {
                Command::Downgrade(a) => assert!(a.sql && a.revision == "-1", "{line:?}"),
                other => panic!("{other:?}"),
            }
        }
        let cli = parse(&["x", "stamp", "-1", "b2", "--sql"]).unwrap();
        match cli.command {
            Command::Stamp(a) => assert!(a.sql && a.revisions == ["-1", "b2"]),
            other => panic!("{other:?}"),
        }
        let cli = parse(&["x", "downgrade", "ae10:-2", "--sql"]).unwrap();
        match cli.command {
            Command::Downgrade(a) => assert!(a.sql && a.revision == "ae10:-2"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verbose_counts_and_conflicts_with_quiet() {
        let cli = parse(&["x", "history", "--verbose"]).unwrap();
        assert_eq!(cli.global.verbose, 1);
        let cli = parse(&["x", "-vv", "current"]).unwrap();
        assert_eq!(cli.global.verbose, 2);
        let err = parse(&["x", "-q", "-v", "current"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn revision_flags_as_alembic() {
        let cli = parse(&[
            "x",
            "revision",
            "-m",
            "add x",
            "--rev-id",
            "abc",
            "--head",
            "feat@head",
            "--splice",
            "--branch-label",
            "feat",
            "--depends-on",
            "ae1",
            "--depends-on",
            "b2",
        ])
        .unwrap();
        match cli.command {
            Command::Revision(a) => {
                assert_eq!(a.message.as_deref(), Some("add x"));
                assert_eq!(a.rev_id.as_deref(), Some("abc"));
                assert_eq!(a.head, "feat@head");
                assert!(a.splice);
                assert_eq!(a.branch_label, ["feat"]);
                assert_eq!(a.depends_on, ["ae1", "b2"]);
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["x", "revision"]).unwrap();
        match cli.command {
            Command::Revision(a) => assert_eq!(a.head, "head"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stamp_takes_several_targets_and_merge_needs_revisions() {
        let cli = parse(&["x", "stamp", "b2", "c3", "--purge"]).unwrap();
        match cli.command {
            Command::Stamp(a) => {
                assert_eq!(a.revisions, ["b2", "c3"]);
                assert!(a.purge && !a.sql);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(&["x", "merge", "-m", "m"]).unwrap_err().exit_code(),
            2
        );
        assert_eq!(parse(&["x", "stamp"]).unwrap_err().exit_code(), 2);
        assert_eq!(parse(&["x", "upgrade"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn history_range_and_flags() {
        let cli = parse(&[
            "x",
            "history",
            "-r",
            "current:",
            "--indicate-current",
            "--json",
        ])
        .unwrap();
        match cli.command {
            Command::History(a) => {
                assert_eq!(a.rev_range.as_deref(), Some("current:"));
                assert!(a.indicate_current && a.json);
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["x", "history", "-r", "-3:"]).unwrap();
        match cli.command {
            Command::History(a) => assert_eq!(a.rev_range.as_deref(), Some("-3:")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn init_directory_is_optional() {
        let cli = parse(&["x", "init"]).unwrap();
        match cli.command {
            Command::Init(a) => assert_eq!(a.directory, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
