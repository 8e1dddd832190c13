//! Issue 5: `cargo alembic check` and `cargo alembic revision --autogenerate` on a 200-table
//! schema, per database. Each database gets a project whose one revision creates the schema
//! that `schema.sql` declares; once it is applied, `check` finds nothing (exit 0). Then
//! `schema.sql` gains a column in 20 tables, and `revision --autogenerate` writes the revision
//! for it (the file is removed after each run) while `check` reports it (exit 1).
//!
//! The work measured is the command as a user runs it: load schema.sql into a scratch
//! database (in memory on SQLite, a temporary database on the servers), introspect both,
//! diff, render.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use std::process::Command;
use std::time::Instant;

use crate::measure::{cpu_time, repeat, run_timed, Sample};
use crate::report::{Bench, Row};
use crate::server::{Db, Kind};
use crate::{ours_args, BenchError, Tools};

pub const TABLES: usize = 200;
const CHANGED: usize = 20;

/// The benchmarks of each database given, and notes on what was skipped.
pub struct Section {
    pub benches: Vec<Bench>,
    pub notes: Vec<String>,
}

/// `CREATE TABLE` statements of the schema: `TABLES` tables, each with a key, two columns, a
/// foreign key to the table before it and an index; with `extra`, the first `CHANGED` tables
/// also have an `extra` column.
fn schema_sql(extra: bool) -> String {
    let mut out = String::new();
    for i in 0..TABLES {
        let _ = write!(
            out,
            "CREATE TABLE t{i:03} (\n    id INTEGER NOT NULL PRIMARY KEY,\n    name VARCHAR(100) NOT NULL,\n    value INTEGER DEFAULT 0"
        );
        if extra && i < CHANGED {
            out.push_str(",\n    extra VARCHAR(40)");
        }
        if i > 0 {
            let _ = write!(
                out,
                ",\n    parent_id INTEGER,\n    FOREIGN KEY (parent_id) REFERENCES t{:03} (id)",
                i - 1
            );
        }
        let _ = writeln!(out, "\n);\nCREATE INDEX ix_t{i:03}_name ON t{i:03} (name);");
    }
    out
}

fn drop_sql() -> String {
    (0..TABLES)
        .rev()
        .map(|i| format!("DROP TABLE t{i:03};\n"))
        .collect()
}

/// A project at `dir` whose one revision creates the schema, pointing at `url`.
fn write_project(tools: &Tools, dir: &Path, url: &str) -> Result<(), BenchError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BenchError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut init: Vec<&str> = tools.ours_prefix.iter().map(String::as_str).collect();
    init.extend(["init", "migrations"]);
    let (_, out) = run_timed(&tools.ours, &init, dir, None)?;
    if !out.status.success() {
        return Err(BenchError::Setup(format!(
            "cargo alembic init: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let config = dir.join("alembic.toml");
    let text = fs::read_to_string(&config).map_err(io(&config))?;
    let text = text.replace("url = \"sqlite:///./app.db\"", &format!("url = \"{url}\""));
    fs::write(&config, text).map_err(io(&config))?;
    let schema = dir.join("migrations/schema.sql");
    fs::write(&schema, schema_sql(false)).map_err(io(&schema))?;
    let revision = dir.join("migrations/versions/a000_initial.sql");
    let script = format!(
        "-- initial schema\n--\n-- Revision ID: a000\n-- Revises:\n-- Create Date: 2026-11-24 00:00:00\n\n-- +upgrade\n{}\n-- +downgrade\n{}",
        schema_sql(false),
        drop_sql()
    );
    fs::write(&revision, script).map_err(io(&revision))?;
    Ok(())
}

/// Runs ours with `cmd` in `dir`, timed, checking the exit code (`check` exits 1 when it
/// finds differences, which `run_timed` would take for a failure).
fn ours(tools: &Tools, dir: &Path, cmd: &[&str], expect: i32) -> Result<Sample, BenchError> {
    let args = ours_args(tools, "alembic.toml", cmd);
    let cpu = cpu_time(false);
    let start = Instant::now();
    let out = Command::new(&tools.ours)
        .args(&args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .output()
        .map_err(|source| BenchError::Spawn {
            command: args.join(" "),
            source,
        })?;
    let sample = Sample {
        wall: start.elapsed(),
        cpu: cpu_time(false).saturating_sub(cpu),
    };
    if out.status.code() != Some(expect) {
        return Err(BenchError::Check {
            tool: "cargo-alembic".into(),
            what: cmd.join(" "),
            why: format!(
                "exit {:?}, expected {expect}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(sample)
}

/// The benchmarks of one database, at `url` (a project in `dir`).
fn measure(
    tools: &Tools,
    label: &str,
    dir: &Path,
    url: &str,
    reps: usize,
) -> Result<Vec<Bench>, BenchError> {
    write_project(tools, dir, url)?;
    ours(tools, dir, &["upgrade", "head"], 0)?;
    let clean = repeat(reps, || ours(tools, dir, &["check"], 0))?;

    let schema = dir.join("migrations/schema.sql");
    fs::write(&schema, schema_sql(true)).map_err(|source| BenchError::Io {
        path: schema.clone(),
        source,
    })?;
    let changed = repeat(reps, || ours(tools, dir, &["check"], 1))?;
    let versions = dir.join("migrations/versions");
    let autogenerate = repeat(reps, || {
        let sample = ours(
            tools,
            dir,
            &["revision", "--autogenerate", "-m", "bench"],
            0,
        )?;
        // Only the initial revision stays, so that every run sees the same database state.
        for entry in fs::read_dir(&versions).map_err(|source| BenchError::Io {
            path: versions.clone(),
            source,
        })? {
            let path: PathBuf = entry
                .map_err(|source| BenchError::Io {
                    path: versions.clone(),
                    source,
                })?
                .path();
            if !path.ends_with("a000_initial.sql") {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(sample)
    })?;
    let row = |stats| Row {
        tool: "cargo-alembic CLI".into(),
        stats,
    };
    Ok(vec![
        Bench {
            name: format!("`check`, {TABLES}-table schema.sql, {label}, no difference (exit 0)"),
            rows: vec![row(clean)],
        },
        Bench {
            name: format!("`check`, {TABLES}-table schema.sql, {label}, {CHANGED} new columns (exit 1)"),
            rows: vec![row(changed)],
        },
        Bench {
            name: format!("`revision --autogenerate`, {TABLES}-table schema.sql, {label}, {CHANGED} new columns"),
            rows: vec![row(autogenerate)],
        },
    ])
}

/// SQLite always; each server whose admin URL is given.
pub fn run(
    tools: &Tools,
    root: &Path,
    servers: &[(Kind, Option<&str>)],
    reps: usize,
) -> Result<Section, BenchError> {
    let mut benches = Vec::new();
    let mut notes = Vec::new();
    let sqlite_dir = root.join("autogen-sqlite");
    benches.extend(measure(
        tools,
        "SQLite",
        &sqlite_dir,
        "sqlite:///./app.db",
        reps,
    )?);
    for (kind, url) in servers {
        let Some(admin_url) = url else {
            notes.push(format!(
                "SKIPPED autogenerate on {}: no server URL",
                kind.label()
            ));
            continue;
        };
        let db = Db::new(*kind, admin_url, "autogen")?;
        db.reset()?;
        let dir = root.join(format!("autogen-{}", kind.file_tag()));
        benches.extend(measure(tools, kind.label(), &dir, &db.url, reps)?);
    }
    Ok(Section { benches, notes })
}
