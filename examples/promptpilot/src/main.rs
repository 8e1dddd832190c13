//! PromptPilot: a small prompt library (users own prompts, prompts have versions) that migrates
//! its own SQLite database every time it starts, then does its job on the migrated schema.
//!
//! The migrations are the scripts in `migrations/versions/`, checked and compiled into this
//! binary by `build.rs` (`alembic_build::embed()`); the same scripts are what `cargo alembic`
//! works on in this folder. See docs/embedding.md at the root of the repository.

mod store;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alembic_runtime::rusqlite::Connection;
use alembic_runtime::{Migrations, RunError};
use clap::{Parser, Subcommand};

/// Every script of `migrations/versions`, parsed and validated at compile time. At startup
/// nothing is parsed: an up-to-date database costs one version-table read and one checksum
/// comparison per head.
static MIGRATIONS: Migrations = alembic_runtime::embedded!();

/// Where the database is when neither --database-url nor DATABASE_URL says: the seed's
/// `sqlite:///./data/promptpilot.db`, relative to the current directory.
const DEFAULT_URL: &str = "sqlite:///./data/promptpilot.db";

#[derive(Parser, Debug)]
#[command(
    name = "promptpilot",
    version,
    about = "A prompt library that migrates its own database when it starts",
    after_help = "Every command except `db ...` first upgrades the database to the schema this \
                  build carries (a no-op when it is already there). RUST_LOG=warn quiets the log."
)]
struct Cli {
    /// The SQLite database: sqlite:///relative/path.db or sqlite:////absolute/path.db.
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_URL)]
    database_url: String,

    /// Deploy rollback: when the database was migrated by a newer build, revert the revisions
    /// this build does not know (with the downgrade SQL the newer build recorded), then start.
    #[arg(long, global = true, env = "PROMPTPILOT_REVERT_UNKNOWN_REVISIONS")]
    revert_unknown_revisions: bool,

    /// Start even when an applied migration script was edited since it ran (logs a warning).
    #[arg(long, global = true, env = "PROMPTPILOT_WARN_ON_CHECKSUM_MISMATCH")]
    warn_on_checksum_mismatch: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Job(Job),
    /// The schema itself, without migrating first.
    #[command(subcommand)]
    Db(DbCommand),
}

/// The application's work, done on the migrated schema.
#[derive(Subcommand, Debug)]
enum Job {
    /// Add the sample users and prompts (the first time only), then list the prompts.
    Demo,
    /// Add a user.
    AddUser {
        email: String,
        name: String,
        /// `member` or `admin`.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Add a prompt, owned by the user with this email, as a draft (version 0.1.0).
    AddPrompt {
        owner_email: String,
        name: String,
        body: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Publish a prompt: a draft becomes 1.0.0, a published prompt gets the next minor version.
    Publish { name: String },
    /// List the prompts with their owner and version.
    List {
        /// Only the prompts of the user with this email.
        #[arg(long)]
        owner: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// The database's revision, and whether it is at this build's head.
    Status,
    /// The head revisions compiled into this build.
    Heads,
    /// Upgrade to TARGET (default: head).
    Upgrade {
        #[arg(default_value = "head")]
        target: String,
    },
    /// Downgrade to TARGET: a revision id, -1, or base.
    Downgrade {
        // `-1` is a target here, not a flag.
        #[arg(allow_hyphen_values = true)]
        target: String,
    },
}

fn main() -> ExitCode {
    // env_logger: the runtime logs through the `log` facade, and env_logger is the usual
    // backend for a command-line program (RUST_LOG works as everywhere; already in this
    // workspace's lock file). Info by default, so that each launch shows what migrated.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("promptpilot: error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("promptpilot: hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), AppError> {
    let path = sqlite_path(&cli.database_url)?;
    let mut conn = open(&path)?;
    let options = {
        let mut options = MIGRATIONS.options();
        options.revert_unknown_revisions = cli.revert_unknown_revisions;
        options.warn_on_checksum_mismatch = cli.warn_on_checksum_mismatch;
        options
    };
    let job = match &cli.command {
        Command::Db(db) => return run_db(db, &mut conn, &options),
        Command::Job(job) => job,
    };

    // Self-migration: many instances may start at once; the runtime's lock makes each revision
    // run exactly once and every instance come up on the new schema.
    let report = MIGRATIONS
        .upgrade_with(&mut conn, "head", &options)
        .map_err(AppError::Migrate)?;
    let heads = MIGRATIONS.heads().join(", ");
    if report.is_empty() {
        log::info!("database {} is up to date at {heads}", path.display());
    } else {
        log::info!("migrated database {} to {heads}: {report}", path.display());
    }
    store::prepare(&conn)?;

    match job {
        Job::Demo => store::demo(&mut conn)?,
        Job::AddUser { email, name, role } => {
            store::add_user(&conn, email, name, role)?;
            println!("added user {email}");
        }
        Job::AddPrompt {
            owner_email,
            name,
            body,
            description,
        } => {
            store::add_prompt(&conn, owner_email, name, body, description.as_deref())?;
            println!(
                "added prompt {name} (draft, version {})",
                store::FIRST_DRAFT
            );
        }
        Job::Publish { name } => {
            let version = store::publish(&mut conn, name)?;
            println!("published {name} as version {version}");
        }
        Job::List { owner } => print!("{}", store::list(&conn, owner.as_deref())?),
    }
    Ok(())
}

fn run_db(
    command: &DbCommand,
    conn: &mut Connection,
    options: &alembic_runtime::RunOptions,
) -> Result<(), AppError> {
    match command {
        DbCommand::Status => {
            let current = MIGRATIONS.current(conn).map_err(AppError::Migrate)?;
            let heads = MIGRATIONS.heads();
            if current.is_empty() {
                println!("base (no revision applied)");
            }
            for revision in &current {
                let mark = if heads.contains(&revision.as_str()) {
                    " (head)"
                } else {
                    ""
                };
                println!("{revision}{mark}");
            }
            let up_to_date = MIGRATIONS.is_up_to_date(conn).map_err(AppError::Migrate)?;
            println!(
                "{}",
                if up_to_date {
                    "up to date"
                } else {
                    "not up to date: the next launch migrates"
                }
            );
        }
        DbCommand::Heads => {
            for head in MIGRATIONS.heads() {
                println!("{head}");
            }
        }
        DbCommand::Upgrade { target } => {
            let report = MIGRATIONS
                .upgrade_with(conn, target, options)
                .map_err(AppError::Migrate)?;
            println!("{report}");
        }
        DbCommand::Downgrade { target } => {
            let report = MIGRATIONS
                .downgrade_with(conn, target, options)
                .map_err(AppError::Migrate)?;
            println!("{report}");
        }
    }
    Ok(())
}

/// The file a `sqlite:` URL names. SQLAlchemy's forms, as `cargo alembic` takes them, so that
/// one DATABASE_URL serves both: `sqlite:///relative.db`, `sqlite:////absolute.db`, and a
/// driver suffix (`sqlite+pysqlite:///...`).
fn sqlite_path(url: &str) -> Result<PathBuf, AppError> {
    let unsupported = || AppError::Url(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(unsupported)?;
    if scheme != "sqlite" && !scheme.starts_with("sqlite+") {
        return Err(unsupported());
    }
    // `sqlite:///x.db` -> `/x.db` after the scheme: the host part is empty, the path relative.
    let path = rest.strip_prefix('/').ok_or_else(unsupported)?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() {
        return Err(unsupported());
    }
    Ok(PathBuf::from(path))
}

/// Opens (creating if needed) the database file and its folder.
fn open(path: &Path) -> Result<Connection, AppError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| AppError::Open {
            path: path.to_path_buf(),
            cause: e.to_string(),
        })?;
    }
    Connection::open(path).map_err(|e| AppError::Open {
        path: path.to_path_buf(),
        cause: e.to_string(),
    })
}

/// Why promptpilot stopped: one line of what went wrong, and a hint of what to do.
#[derive(Debug)]
enum AppError {
    Url(String),
    Open { path: PathBuf, cause: String },
    Migrate(RunError),
    Job(store::JobError),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Url(url) => write!(
                f,
                "cannot use database URL {url:?}: promptpilot keeps its data in SQLite"
            ),
            AppError::Open { path, cause } => {
                write!(f, "cannot open database {}: {cause}", path.display())
            }
            AppError::Migrate(e) => write!(f, "cannot migrate the database: {e}"),
            AppError::Job(e) => write!(f, "{e}"),
        }
    }
}

impl AppError {
    /// What the operator can do about it, beyond what the message says.
    fn hint(&self) -> Option<String> {
        match self {
            AppError::Url(_) => Some(format!(
                "pass --database-url (or set DATABASE_URL) to a sqlite:///relative/path.db or \
                 sqlite:////absolute/path.db URL; the default is {DEFAULT_URL}"
            )),
            AppError::Migrate(RunError::UnknownDatabaseRevision { revertible, .. }) => {
                Some(if *revertible {
                    "a newer build of promptpilot migrated this database. Deploy that build \
                     again, or roll the schema back to this build's with \
                     --revert-unknown-revisions (PROMPTPILOT_REVERT_UNKNOWN_REVISIONS=1)"
                        .to_string()
                } else {
                    "a newer build of promptpilot (or another tool) migrated this database, and \
                     did not store how to undo it: deploy that build again"
                        .to_string()
                })
            }
            AppError::Migrate(RunError::ChecksumMismatch(_)) => Some(
                "restore the script to what was applied and rebuild; to start anyway, pass \
                 --warn-on-checksum-mismatch (PROMPTPILOT_WARN_ON_CHECKSUM_MISMATCH=1)"
                    .to_string(),
            ),
            AppError::Migrate(RunError::Lock { .. }) => Some(
                "another instance is migrating the database: start again once it has finished"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

impl From<store::JobError> for AppError {
    fn from(e: store::JobError) -> Self {
        AppError::Job(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_files_and_other_databases_are_refused() {
        let path = |url| sqlite_path(url).map_err(|e| e.to_string());
        assert_eq!(
            path("sqlite:///./data/p.db"),
            Ok(PathBuf::from("./data/p.db"))
        );
        assert_eq!(path("sqlite:////tmp/p.db"), Ok(PathBuf::from("/tmp/p.db")));
        assert_eq!(path("sqlite+pysqlite:///p.db"), Ok(PathBuf::from("p.db")));
        for url in [
            "postgresql://u@h/db",
            "data/p.db",
            "sqlite://",
            "sqlite:///",
        ] {
            let err = path(url).expect_err(url);
            assert!(err.contains("SQLite"), "{err}");
        }
    }
}
