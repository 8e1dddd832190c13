//! The startup of the test applications: open the database, upgrade to head with the
//! embedded migrations, print the report.
//!
//! `<bin> DATABASE [--revert-unknown] [--whole-run]`
//!
//! - `DATABASE`: a `postgresql://` or `mysql://` URL, else the path of an SQLite file.
//! - `--revert-unknown`: opt in to deploy rollback (`RunOptions::revert_unknown_revisions`).
//! - `--whole-run`: one transaction for the whole run, whatever `alembic.toml` said.
//!
//! Before upgrading it prints `upgrading` on stdout, so that a test can time a kill from the
//! moment the process is about to migrate rather than from its spawn. Exit code 0 on success,
//! 1 with the error on stderr otherwise, 2 for bad arguments.

use std::process::ExitCode;

use alembic_runtime::Connection;
use alembic_runtime::{Migrations, Report, RunOptions};

struct Args {
    database: String,
    revert_unknown: bool,
    whole_run: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut database = None;
    let mut parsed = Args {
        database: String::new(),
        revert_unknown: false,
        whole_run: false,
    };
    for arg in args {
        match arg.as_str() {
            "--revert-unknown" => parsed.revert_unknown = true,
            "--whole-run" => parsed.whole_run = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path if database.is_none() => database = Some(path.to_string()),
            extra => return Err(format!("unexpected argument {extra}")),
        }
    }
    parsed.database = database.ok_or("usage: DATABASE [--revert-unknown] [--whole-run]")?;
    Ok(parsed)
}

/// Runs the application on the process's arguments.
pub fn main(migrations: &Migrations) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(migrations, &args) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(migrations: &Migrations, args: &Args) -> Result<Report, String> {
    let mut options = migrations.options();
    options.revert_unknown_revisions = args.revert_unknown;
    if args.whole_run {
        options.transaction_per_migration = false;
    }
    let url = args.database.as_str();
    if url.starts_with("postgres") {
        use alembic_runtime::postgres_client::{Client, NoTls};
        let mut client = Client::connect(url, NoTls).map_err(|e| format!("{url}: {e}"))?;
        upgrade(migrations, &mut client, &options)
    } else if url.starts_with("mysql") {
        use alembic_runtime::mysql_client::{Conn, Opts};
        let opts = Opts::from_url(url).map_err(|e| format!("{url}: {e}"))?;
        let mut conn = Conn::new(opts).map_err(|e| format!("{url}: {e}"))?;
        upgrade(migrations, &mut conn, &options)
    } else {
        let mut conn =
            alembic_runtime::rusqlite::Connection::open(url).map_err(|e| format!("{url}: {e}"))?;
        upgrade(migrations, &mut conn, &options)
    }
}

fn upgrade<C: Connection>(
    migrations: &Migrations,
    conn: &mut C,
    options: &RunOptions,
) -> Result<Report, String> {
    println!("upgrading");
    migrations
        .upgrade_with(conn, "head", options)
        .map_err(|e| e.to_string())
}
