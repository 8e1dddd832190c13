//! alembic-bench: cargo-alembic side by side with Python Alembic, the sqlite3 shell and
//! refinery, on the same generated revision scripts, in one run (docs/benchmarks.md).
//!
//! `cargo run --release -p alembic-bench -- [--quick]`

mod autogen;
mod embedded;
mod error;
mod generate;
mod measure;
mod refinery_peer;
mod report;
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use clap::Parser;

pub use error::BenchError;
use generate::{History, Workload};
use measure::{repeat, run_timed, Stats};
use report::{Bench, Row};

#[derive(Parser, Debug)]
#[command(
    name = "alembic-bench",
    about = "cargo-alembic vs Python Alembic, sqlite3 and refinery"
)]
struct Args {
    /// A small smoke run: 1,000 revisions for the read commands, 200 for upgrade, few runs.
    #[arg(long)]
    quick: bool,
    /// The cargo-alembic binary. Default: build it with `cargo build --release -p
    /// cargo-alembic` next to this bench's own binary and use that.
    #[arg(long = "bin", value_name = "PATH")]
    bin: Option<PathBuf>,
    /// Python with Alembic installed (default: the real executable behind `python3`).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    #[arg(long, value_name = "PATH", default_value = "/usr/bin/sqlite3")]
    sqlite3: PathBuf,
    /// Revisions for `history`, `heads` and `upgrade head --sql` (default 10,000).
    #[arg(long, value_name = "N")]
    revisions: Option<usize>,
    /// Revisions for `upgrade head` on a fresh SQLite file (default 1,000).
    #[arg(long, value_name = "N")]
    upgrade_revisions: Option<usize>,
    /// Measured runs of the fast tools (cargo-alembic, sqlite3, refinery), after a warm-up.
    #[arg(long, value_name = "N")]
    reps: Option<usize>,
    /// Measured runs of the slow tools, after a warm-up: Python Alembic, and refinery with
    /// a transaction (so an fsync) per migration. Each run takes seconds.
    #[arg(long, value_name = "N")]
    alembic_reps: Option<usize>,
    /// Skip Python Alembic entirely (for iterating on cargo-alembic alone).
    #[arg(long)]
    no_alembic: bool,
    /// The PostgreSQL server of the server benchmarks (a URL ending in an existing database,
    /// through which the bench creates and drops its own `alembic_bench_*` databases).
    #[arg(long, value_name = "URL", env = "ALEMBIC_TEST_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// The MySQL/MariaDB server of the server benchmarks, like --postgres-url.
    #[arg(long, value_name = "URL", env = "ALEMBIC_TEST_MYSQL_URL")]
    mysql_url: Option<String>,
    /// Measured runs of each fast tool on PostgreSQL (default: --reps); each apply run also
    /// drops and recreates a database, untimed.
    #[arg(long, value_name = "N")]
    server_reps: Option<usize>,
    /// Revisions applied on MySQL/MariaDB (default 200): there every DDL statement commits
    /// on its own and 1,000 take a minute per run and tool, so every MariaDB apply is run
    /// --alembic-reps times.
    #[arg(long, value_name = "N")]
    mysql_revisions: Option<usize>,
    /// Which sections to run, comma-separated: sqlite, postgres, mysql, embedded, autogenerate
    /// (default: all; a
    /// server section whose URL is unset is skipped with a note).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "sqlite,postgres,mysql,embedded,autogenerate"
    )]
    only: Vec<Section>,
    /// Keep the generated projects and print where they are.
    #[arg(long)]
    keep: bool,
    /// Write the generated projects into DIR (kept) and stop, measuring nothing: to look at
    /// them, or to run the tools by hand.
    #[arg(long, value_name = "DIR")]
    generate_only: Option<PathBuf>,
}

/// A part of the run that can be chosen with --only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Section {
    Sqlite,
    Postgres,
    Mysql,
    /// Issue 4: migrations embedded in a tiny app (generated and built with cargo), with
    /// refinery's and sqlx's embedding side by side.
    Embedded,
    /// Issue 5: `check` and `revision --autogenerate` on a 200-table schema.sql, on SQLite
    /// and each server whose URL is set.
    Autogenerate,
}

/// How the tools are run.
struct Tools {
    ours: PathBuf,
    /// Arguments before ours' own: `alembic` when the binary expects to be run by cargo.
    ours_prefix: Vec<String>,
    python: Option<PathBuf>,
    alembic_label: String,
    sqlite3: PathBuf,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("alembic-bench: error: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), BenchError> {
    let n_read = args
        .revisions
        .unwrap_or(if args.quick { 1_000 } else { 10_000 });
    let n_up = args
        .upgrade_revisions
        .unwrap_or(if args.quick { 200 } else { 1_000 });
    let reps = args.reps.unwrap_or(if args.quick { 3 } else { 10 });
    let py_reps = args.alembic_reps.unwrap_or(if args.quick { 1 } else { 3 });

    if let Some(dir) = &args.generate_only {
        let read_history = generate::history(n_read);
        generate::write_workload(&dir.join("read"), &read_history)?;
        let up_history = generate::history(n_up);
        let up = generate::write_workload(&dir.join("upgrade"), &up_history)?;
        embedded::write_apps(&dir.join("embedded"), &up, &up_history)?;
        println!(
            "wrote {n_read} revisions to {0}/read and {n_up} to {0}/upgrade \
             (ours/, alembic/, shell/ in each), and the embedded section's apps to \
             {0}/embedded (build each with `cargo build --release` in its folder)",
            dir.display()
        );
        return Ok(());
    }

    let tools = tools(&args)?;
    let load_before = machine_load();
    eprintln!("cargo-alembic: {}", tools.ours.display());
    eprintln!("peer: {}", tools.alembic_label);
    eprintln!("sqlite3: {}", version_line(&tools.sqlite3, &["--version"]));

    let tmp = tempfile::Builder::new()
        .prefix("alembic-bench-")
        .tempdir()
        .map_err(|source| BenchError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let root = tmp.path().to_owned();

    let started = Instant::now();
    // The 10,000-revision project serves the SQLite read commands only.
    let n_read = if args.only.contains(&Section::Sqlite) {
        n_read
    } else {
        0
    };
    let read_history = generate::history(n_read);
    let read = generate::write_workload(&root.join("read"), &read_history)?;
    let up_history = generate::history(n_up);
    let up = generate::write_workload(&root.join("upgrade"), &up_history)?;
    eprintln!(
        "generated {n_read} revisions ({} merges) and {n_up} revisions in {} under {}",
        read_history.merges(),
        measure::human(started.elapsed()),
        root.display()
    );

    let mut benches = Vec::new();
    let mut notes = Vec::new();
    let mut targets: Vec<report::Target> = Vec::new();
    if args.only.contains(&Section::Sqlite) {
        let read_cmds: [(&str, &[&str]); 3] = [
            ("history", &["history"]),
            ("heads", &["heads"]),
            ("upgrade head --sql", &["upgrade", "head", "--sql"]),
        ];
        for (name, cmd) in read_cmds {
            let label = format!("`{name}`, {n_read} revisions");
            eprintln!("measuring {label}...");
            let mut rows = vec![Row {
                tool: "cargo-alembic".into(),
                stats: ours_read(&tools, &read, &read_history, name, cmd, reps)?,
            }];
            if let Some(python) = tools.python.as_deref().filter(|_| !args.no_alembic) {
                match alembic_read(python, &read, &read_history, name, cmd, py_reps) {
                    Ok(stats) => rows.push(Row {
                        tool: tools.alembic_label.clone(),
                        stats,
                    }),
                    Err(e) => notes.push(format!(
                        "Alembic failed `{name}` at {n_read} revisions: {e}"
                    )),
                }
            }
            benches.push(Bench { name: label, rows });
        }

        let label = format!("`upgrade head`, {n_up} revisions, fresh SQLite file");
        eprintln!("measuring {label}...");
        let mut rows = vec![Row {
            tool: "cargo-alembic".into(),
            stats: ours_upgrade(&tools, &up, &up_history, reps)?,
        }];
        rows.push(Row {
            tool: "sqlite3 shell, same SQL in one transaction".into(),
            stats: shell_upgrade(&tools, &up, &up_history, reps)?,
        });
        let refinery_db = root.join("upgrade/refinery.db");
        rows.push(Row {
            tool: "refinery 0.8 (in-process, grouped: one transaction)".into(),
            stats: repeat(reps, || {
                refinery_peer::apply(&up_history, &refinery_db, true)
            })?,
        });
        rows.push(Row {
            tool: "refinery 0.8 (in-process, default: transaction per migration)".into(),
            stats: repeat(py_reps, || {
                refinery_peer::apply(&up_history, &refinery_db, false)
            })?,
        });
        if let Some(python) = tools.python.as_deref().filter(|_| !args.no_alembic) {
            match alembic_upgrade(python, &up, &up_history, py_reps) {
                Ok(stats) => rows.push(Row {
                    tool: tools.alembic_label.clone(),
                    stats,
                }),
                Err(e) => notes.push(format!(
                    "Alembic failed `upgrade head` at {n_up} revisions: {e}"
                )),
            }
        }
        let upgrade_bench = Bench { name: label, rows };

        targets.extend(benches.iter().filter_map(report::read_target));
        targets.extend(report::upgrade_target(&upgrade_bench));
        benches.push(upgrade_bench);
    }
    let servers = [
        (
            Section::Postgres,
            server::Kind::Postgres,
            &args.postgres_url,
        ),
        (Section::Mysql, server::Kind::Mysql, &args.mysql_url),
    ];
    for (section, kind, url) in servers {
        if !args.only.contains(&section) {
            continue;
        }
        let Some(admin_url) = url.as_deref().filter(|u| !u.trim().is_empty()) else {
            notes.push(format!(
                "SKIPPED the {} section: no server URL (--{}-url or ALEMBIC_TEST_{}_URL)",
                kind.label(),
                kind.file_tag(),
                kind.file_tag().to_ascii_uppercase()
            ));
            continue;
        };
        let section = match kind {
            server::Kind::Postgres => {
                let plan = server::Plan {
                    kind,
                    admin_url,
                    reps: args.server_reps.unwrap_or(reps),
                    apply_reps: args.server_reps.unwrap_or(reps),
                    slow_reps: py_reps,
                    alembic: !args.no_alembic,
                };
                server::run(&plan, &tools, &up, &up_history)
            }
            server::Kind::Mysql => {
                let n = args.mysql_revisions.unwrap_or(200);
                let history = generate::history(n);
                let w = generate::write_workload(&root.join("mysql"), &history)?;
                let plan = server::Plan {
                    kind,
                    admin_url,
                    reps: args.server_reps.unwrap_or(reps),
                    apply_reps: py_reps,
                    slow_reps: py_reps,
                    alembic: !args.no_alembic,
                };
                server::run(&plan, &tools, &w, &history)
            }
        };
        let section = section?;
        benches.extend(section.benches);
        notes.extend(section.notes);
    }
    let mut facts = Vec::new();
    if args.only.contains(&Section::Embedded) {
        let section = embedded::run(&root, &up, &up_history, reps, py_reps)?;
        benches.extend(section.benches);
        targets.extend(section.targets);
        notes.extend(section.notes);
        facts = section.facts;
    }

    if args.only.contains(&Section::Autogenerate) {
        let servers = [
            (server::Kind::Postgres, args.postgres_url.as_deref()),
            (server::Kind::Mysql, args.mysql_url.as_deref()),
        ];
        let section = autogen::run(&tools, &root, &servers, reps)?;
        benches.extend(section.benches);
        notes.extend(section.notes);
    }

    println!("{}", report::table(&benches));
    println!("{}", report::targets(&targets));
    for fact in &facts {
        println!("- {fact}");
    }
    for note in &notes {
        println!("NOTE: {note}");
    }
    println!(
        "runs: {reps} of each fast tool, {py_reps} of each slow one (Alembic, refinery with a \
         transaction per migration), each after 1 warm-up run; cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("machine load before: {load_before}");
    println!("machine load after:  {}", machine_load());
    if args.keep {
        let kept = tmp.keep();
        println!("generated projects kept in {}", kept.display());
    }
    Ok(())
}

/// Finds (or builds) every tool, and asks each for its version.
fn tools(args: &Args) -> Result<Tools, BenchError> {
    let ours = match &args.bin {
        Some(path) => path.clone(),
        None => build_ours()?,
    };
    if !ours.is_file() {
        return Err(BenchError::Setup(format!(
            "no cargo-alembic binary at {}: build it with `cargo build --release -p cargo-alembic` \
             or pass --bin PATH",
            ours.display()
        )));
    }
    // A cargo subcommand is run as `cargo-alembic alembic ARGS`; accept binaries that want
    // that and binaries that do not.
    let wants_prefix = Command::new(&ours)
        .args(["alembic", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    let ours_prefix = if wants_prefix {
        vec!["alembic".to_owned()]
    } else {
        Vec::new()
    };

    let python = if args.no_alembic {
        None
    } else {
        Some(match &args.python {
            Some(p) => p.clone(),
            None => real_python()?,
        })
    };
    let alembic_label = match &python {
        Some(p) => {
            let v = version_line(
                p,
                &[
                    "-c",
                    "import alembic, sys; print(f'Alembic {alembic.__version__} \
                     (Python {sys.version.split()[0]})')",
                ],
            );
            if v.starts_with("Alembic") {
                v
            } else {
                return Err(BenchError::Setup(format!(
                    "{} cannot import alembic ({v}); `pip install alembic` or pass --no-alembic",
                    p.display()
                )));
            }
        }
        None => "Alembic (skipped)".to_owned(),
    };
    Ok(Tools {
        ours,
        ours_prefix,
        python,
        alembic_label,
        sqlite3: args.sqlite3.clone(),
    })
}

/// Builds the release cargo-alembic into the target folder this bench itself was built in,
/// so that `cargo run --release -p alembic-bench` always measures the current sources.
fn build_ours() -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe().map_err(|source| BenchError::Io {
        path: PathBuf::from("current executable"),
        source,
    })?;
    let dir = exe
        .parent()
        .ok_or_else(|| BenchError::Setup(format!("{} has no parent folder", exe.display())))?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building cargo-alembic (cargo build --release -p cargo-alembic)...");
    let status = Command::new(&cargo)
        .args(["build", "--release", "-p", "cargo-alembic"])
        .current_dir(&workspace)
        .status()
        .map_err(|source| BenchError::Spawn {
            command: "cargo build --release -p cargo-alembic".into(),
            source,
        })?;
    if !status.success() {
        return Err(BenchError::Setup(
            "`cargo build --release -p cargo-alembic` failed; pass --bin PATH to use a built binary"
                .into(),
        ));
    }
    Ok(dir.join("cargo-alembic"))
}

/// The interpreter itself rather than a pyenv shim, whose shell wrapper would add its own
/// start-up time to every Alembic run.
fn real_python() -> Result<PathBuf, BenchError> {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .map_err(|source| BenchError::Spawn {
            command: "python3".into(),
            source,
        })?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || path.is_empty() {
        return Err(BenchError::Setup(
            "python3 did not report its executable; pass --python PATH or --no-alembic".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

/// The load average and the share of time tasks waited for a CPU (Linux PSI), so a reader
/// can tell a run on a busy shared machine from one on an idle one.
fn machine_load() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let loadavg: Vec<String> = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .map(str::to_owned)
        .collect();
    let pressure = read("/proc/pressure/cpu")
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().find(|f| f.starts_with("avg60=")))
        .map(|f| f.trim_start_matches("avg60=").to_owned());
    format!(
        "load average {}; CPU pressure (some, 60 s) {}%",
        loadavg.join(" "),
        pressure.unwrap_or_else(|| "?".into())
    )
}

fn version_line(program: &Path, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(o) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        }
        Err(e) => format!("unavailable: {e}"),
    }
}

fn dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

fn ours_args<'a>(tools: &'a Tools, config: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
    let mut all: Vec<&str> = tools.ours_prefix.iter().map(String::as_str).collect();
    all.extend(["-c", config]);
    all.extend(cmd);
    all
}

/// Checks that a read command printed what it must: the head (and, for history, the base)
/// revision, or for `--sql` the version-table row of the head.
fn check_read(tool: &str, name: &str, history: &History, out: &Output) -> Result<(), BenchError> {
    let text = String::from_utf8_lossy(&out.stdout);
    let head = history.head().unwrap_or_default();
    let mut needed = vec![head];
    if name == "history" {
        needed.extend(history.revisions.first().map(|r| r.id.as_str()));
    }
    match needed.iter().find(|id| !text.contains(**id)) {
        Some(missing) => Err(BenchError::Check {
            tool: tool.into(),
            what: name.into(),
            why: format!("output does not mention revision {missing}"),
        }),
        None => Ok(()),
    }
}

fn ours_read(
    tools: &Tools,
    w: &Workload,
    history: &History,
    name: &str,
    cmd: &[&str],
    reps: usize,
) -> Result<Stats, BenchError> {
    let config = w.ours_config.to_string_lossy().into_owned();
    let args = ours_args(tools, &config, cmd);
    repeat(reps, || {
        let (sample, out) = run_timed(&tools.ours, &args, dir_of(&w.ours_config), None)?;
        check_read("cargo-alembic", name, history, &out)?;
        Ok(sample)
    })
}

fn alembic_read(
    python: &Path,
    w: &Workload,
    history: &History,
    name: &str,
    cmd: &[&str],
    reps: usize,
) -> Result<Stats, BenchError> {
    let ini = w.alembic_ini.to_string_lossy().into_owned();
    let mut args = vec!["-m", "alembic", "-c", ini.as_str()];
    args.extend(cmd);
    repeat(reps, || {
        let (sample, out) = run_timed(python, &args, dir_of(&w.alembic_ini), None)?;
        check_read("Alembic", name, history, &out)?;
        Ok(sample)
    })
}

/// Checks a migrated database: at the head, with every table the history creates.
fn check_db(
    tool: &str,
    db: &Path,
    history: &History,
    version_table: bool,
) -> Result<(), BenchError> {
    let fail = |why: String| BenchError::Check {
        tool: tool.into(),
        what: format!("upgrade of {}", db.display()),
        why,
    };
    let conn = rusqlite::Connection::open(db).map_err(|e| fail(e.to_string()))?;
    let tables: usize = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 't\\_%' ESCAPE '\\'",
            [],
            |row| row.get(0),
        )
        .map_err(|e| fail(e.to_string()))?;
    if tables != history.tables_at_head() {
        return Err(fail(format!(
            "{tables} tables, expected {}",
            history.tables_at_head()
        )));
    }
    if version_table {
        let version: String = conn
            .query_row("SELECT version_num FROM alembic_version", [], |row| {
                row.get(0)
            })
            .map_err(|e| fail(format!("alembic_version: {e}")))?;
        if Some(version.as_str()) != history.head() {
            return Err(fail(format!("alembic_version holds {version}")));
        }
    }
    Ok(())
}

fn ours_upgrade(
    tools: &Tools,
    w: &Workload,
    history: &History,
    reps: usize,
) -> Result<Stats, BenchError> {
    let config = w.ours_config.to_string_lossy().into_owned();
    let args = ours_args(tools, &config, &["upgrade", "head"]);
    repeat(reps, || {
        generate::remove_db(&w.ours_db)?;
        let (sample, _) = run_timed(&tools.ours, &args, dir_of(&w.ours_config), None)?;
        check_db("cargo-alembic", &w.ours_db, history, true)?;
        Ok(sample)
    })
}

fn alembic_upgrade(
    python: &Path,
    w: &Workload,
    history: &History,
    reps: usize,
) -> Result<Stats, BenchError> {
    let ini = w.alembic_ini.to_string_lossy().into_owned();
    let args = ["-m", "alembic", "-c", ini.as_str(), "upgrade", "head"];
    repeat(reps, || {
        generate::remove_db(&w.alembic_db)?;
        let (sample, _) = run_timed(python, &args, dir_of(&w.alembic_ini), None)?;
        check_db("Alembic", &w.alembic_db, history, true)?;
        Ok(sample)
    })
}

fn shell_upgrade(
    tools: &Tools,
    w: &Workload,
    history: &History,
    reps: usize,
) -> Result<Stats, BenchError> {
    let db = w.shell_db.to_string_lossy().into_owned();
    repeat(reps, || {
        generate::remove_db(&w.shell_db)?;
        let (sample, _) = run_timed(
            &tools.sqlite3,
            &[db.as_str()],
            dir_of(&w.shell_sql),
            Some(&w.shell_sql),
        )?;
        check_db("sqlite3", &w.shell_db, history, false)?;
        Ok(sample)
    })
}
