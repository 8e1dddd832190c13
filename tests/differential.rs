//! Differential test: the same revision graphs and command sequences through Python Alembic
//! (the oracle, `tests/oracle/alembic_oracle.py`) and through `cargo-alembic`, on SQLite (every
//! graph), and on PostgreSQL and MariaDB/MySQL (the subset [`SERVER_GRAPHS`]; Alembic through
//! SQLAlchemy with psycopg2 / PyMySQL), where each tool has a database of its own on the server
//! of `ALEMBIC_TEST_POSTGRES_URL` / `ALEMBIC_TEST_MYSQL_URL`, created and dropped by the test.
//!
//! After every command both databases are compared: whether the command failed, the
//! `alembic_version` rows, and which revisions' upgrade()/downgrade() ran, in which order
//! (each script inserts a row into a `ran_log` table that lives outside version control).
//!
//! A different order of the same revisions passes when it is also a valid order (every revision
//! after what it needs on upgrade, before it on downgrade): SPEC section 5 asks for "an order
//! Alembic could have run them", and Alembic's own tie-breaking between independent branches
//! follows Python's string hash seed (docs/alembic-differences.md, section 3). Such steps are
//! logged as order variants.
//!
//! Deliberate differences are listed in [`DELIBERATE`] and in docs/alembic-differences.md.
//!
//! Environment: `ALEMBIC_PYTHON` (default `python3`) is the interpreter with `alembic` installed;
//! `ALEMBIC_TEST_REQUIRE_ALL=1` (set by CI) turns a missing oracle or server URL into a failure
//! instead of a loud skip; `DIFFERENTIAL_SEED` replays another seed; `DIFFERENTIAL_ONLY=NAME`
//! runs one graph (any graph, on a server too); `DIFFERENTIAL_FULL=1` runs every graph on the
//! servers too; `DIFFERENTIAL_KEEP=DIR` keeps both tools' projects in DIR for inspection (the
//! servers' in DIR/postgres and DIR/mysql).

#[path = "support/graphgen.rs"]
mod graphgen;
#[path = "support/server_db.rs"]
mod server_db;
#[path = "support/test_db.rs"]
mod test_db;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use graphgen::{Command, Graph};
use serde_json::{json, Value};
use test_db::{Dialect, TestDb};

/// Writes straight to stderr, past libtest's capture: the per-graph summary and the final line
/// belong in every CI log, not only in failing ones.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// The floor: a run that shrinks below it fails rather than passing on less evidence.
const MIN_GRAPHS: usize = 30;
const MIN_STEPS: usize = 200;

const DEFAULT_SEED: u64 = 0x00A1_E3B1_C202_6001;
const RANDOM_GRAPHS: usize = 30;

/// The graphs PostgreSQL and MySQL run: the full set takes each server several times as long as
/// SQLite (a client process and a server connection per command on both sides: minutes where
/// SQLite takes under one), and what differs between databases is not the planning, which
/// SQLite's run covers on every graph, but how each database takes the same plan: transactions
/// around a failing revision, the version table's writes, offline scripts in its own SQL. So the
/// servers get the hand-made graphs for branches, merges, depends_on and labels, the failing
/// revision (with and without transaction_per_migration), odd version rows, stamps and offline
/// scripts, and the first [`SERVER_RANDOM_GRAPHS`] random graphs.
const SERVER_GRAPHS: &[&str] = &[
    "branch-point",
    "merge-two",
    "labels-and-depends",
    "diamond-depends",
    "failing-revision",
    "failing-revision-per-migration",
    "odd-states",
    "stamps",
    "offline",
];
const SERVER_RANDOM_GRAPHS: usize = 2;

/// How many random graphs (after the hand-made ones) each database gets.
/// `DIFFERENTIAL_FULL=1` gives the servers every graph too (minutes each; 0 mismatches on
/// PostgreSQL and on MariaDB when last run).
fn random_graphs(dialect: Dialect) -> usize {
    match dialect {
        _ if env_flag("DIFFERENTIAL_FULL") => RANDOM_GRAPHS,
        Dialect::Sqlite => RANDOM_GRAPHS,
        _ => SERVER_RANDOM_GRAPHS,
    }
}
const STEPS_PER_RANDOM_GRAPH: usize = 10;

/// How many mismatches are reported in full (graph, outcomes, reproduction).
const DETAILED_REPORTS: usize = 25;

/// One command that hangs is a bug, not a reason to hang CI.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// What one tool did for one command.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    ok: bool,
    /// The error, as the tool printed it (empty on success).
    error: String,
    /// Python's exception was neither an `alembic.util.CommandError` nor a database error
    /// (Alembic crashed: an AssertionError, KeyError, ... rather than a message for the user).
    crashed: bool,
    /// The database refused a migration's SQL (Alembic's side: a SQLAlchemy exception).
    db_error: bool,
    versions: Vec<String>,
    /// (revision, "up" | "down") in the order the scripts ran.
    ran: Vec<(String, String)>,
    /// Offline commands: the version rows the printed script leaves when run on a scratch
    /// database holding the range's starting rows (when those are known from the command).
    offline_rows: Option<Vec<String>>,
}

impl Outcome {
    fn show(&self) -> String {
        let ran: Vec<String> = self.ran.iter().map(|(r, d)| format!("{r}:{d}")).collect();
        let status = if self.ok {
            "ok".to_string()
        } else {
            format!("FAILED ({})", self.error.trim())
        };
        format!(
            "{status}; versions [{}]; ran [{}]",
            self.versions.join(", "),
            ran.join(", ")
        )
    }
}

/// One compared step, as the deliberate-difference rules see it.
struct StepView<'a> {
    graph: &'a Graph,
    command: &'a Command,
    /// Version rows before the step (Alembic's, which ours were synced to).
    before: &'a [String],
    alembic: &'a Outcome,
    ours: &'a Outcome,
}

/// A place where we differ from Alembic on purpose: `applies` says whether it explains a step
/// whose outcomes differ. Keep in step with docs/alembic-differences.md.
struct Deliberate {
    name: &'static str,
    why: &'static str,
    applies: fn(&StepView) -> bool,
}

const DELIBERATE: &[Deliberate] = &[
    Deliberate {
        name: "alembic-crash",
        why: "Alembic crashed with an internal error (AssertionError, KeyError, ...), sometimes \
              after committing part of the version-table change; we refuse the command with a \
              message and leave the database as it was",
        applies: |s| {
            s.alembic.crashed
                && !s.ours.ok
                && s.ours.ran.is_empty()
                && s.ours.versions.as_slice() == s.before
        },
    },
    Deliberate {
        name: "sqlite-run-rolls-back-whole",
        why: "a migration's SQL failed: Alembic on SQLite commits each migration on its own, so \
              the ones before the failure stay applied; with transaction_per_migration = false \
              (the default, SPEC section 3) we run the whole command in one transaction and roll \
              all of it back",
        applies: |s| {
            matches!(s.command, Command::Upgrade(_) | Command::Downgrade(_))
                && s.alembic.db_error
                && !s.graph.transaction_per_migration
                && !s.ours.ok
                && s.ours.ran.is_empty()
                && s.ours.versions.as_slice() == s.before
        },
    },
];

/// A mismatch that was found, reported, and is waiting for the owners of the graph and
/// planning code to decide: fix it, or move it to [`DELIBERATE`] with a reason. Each occurrence
/// is printed in every run and counted on the final line, so it cannot be forgotten; it does
/// not fail the test, so that a reported difference does not block every other change.
/// docs/alembic-differences.md lists them under "Open".
///
/// The two found first (`downgrade heads:base --sql` with several heads succeeding, offline
/// range scripts needing our history table) were fixed in target.rs and the runtime.
/// (None now. The one found on MariaDB, a failed revision keeping the rows it inserted before
/// failing, was fixed: the runtime runs each revision in a transaction there too, as Alembic
/// does, so what ran since its last DDL statement rolls back.)
const KNOWN_MISMATCHES: &[Deliberate] = &[];

#[derive(Debug)]
enum Verdict {
    Same,
    /// Same revisions, same end state, another valid order.
    OrderVariant,
    /// Both failed, but Alembic by crashing rather than with a CommandError.
    AlembicCrashed,
    Deliberate(&'static str),
    /// A listed, reported, undecided mismatch ([`KNOWN_MISMATCHES`]).
    Known(&'static str),
    Mismatch(String),
}

#[derive(Default)]
struct Tally {
    steps: usize,
    same: usize,
    order_variants: usize,
    alembic_crashes: usize,
    deliberate: usize,
    known: usize,
    mismatches: usize,
}

struct Mismatch {
    graph: Graph,
    step: usize,
    before: Vec<String>,
    alembic: Outcome,
    ours: Outcome,
    why: String,
}

fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| v == "1" || v == "true")
        .unwrap_or(false)
}

fn python() -> String {
    std::env::var("ALEMBIC_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn workspace_root() -> PathBuf {
    // CARGO_MANIFEST_DIR is cargo-alembic/; the tests/ folder is beside it.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The pinned oracle version from tests/requirements.txt.
fn pinned_alembic() -> Option<String> {
    let text = std::fs::read_to_string(workspace_root().join("tests/requirements.txt")).ok()?;
    text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("alembic==")
            .map(|v| v.trim().to_string())
    })
}

/// The installed Alembic's version, or why there is none.
fn oracle_version() -> Result<String, String> {
    let out = Process::new(python())
        .args([
            "-c",
            "import alembic, sqlalchemy; print(alembic.__version__)",
        ])
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", python()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} -c 'import alembic'` failed: {}",
            python(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn command_json(c: &Command) -> Value {
    match c {
        Command::Upgrade(t) => json!({"op": "upgrade", "target": t}),
        Command::Downgrade(t) => json!({"op": "downgrade", "target": t}),
        Command::Stamp { targets, purge } => {
            json!({"op": "stamp", "targets": targets, "purge": purge})
        }
        Command::SetRows(rows) => json!({"op": "set_rows", "rows": rows}),
        Command::OfflineUpgrade(t) => json!({"op": "upgrade", "target": t, "sql": true}),
        Command::OfflineDowngrade(t) => json!({"op": "downgrade", "target": t, "sql": true}),
    }
}

fn graph_json(g: &Graph) -> Value {
    let revisions: Vec<Value> = g
        .revisions
        .iter()
        .map(
            |r| json!({"id": r.id, "down": r.down, "labels": r.labels, "depends_on": r.depends_on, "fails": r.fails}),
        )
        .collect();
    let commands: Vec<Value> = g.commands.iter().map(command_json).collect();
    json!({"name": g.name, "revisions": revisions, "commands": commands})
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs every graph through the oracle in one Python process; one Vec of outcomes per graph.
/// On a server, Alembic works in the `alembic` database of `dbs` (emptied before each graph)
/// and its offline scripts are applied here, on the `scratch` database, as ours are.
fn run_oracle(graphs: &[Graph], keep: Option<&Path>, dbs: &Databases) -> Vec<Vec<Outcome>> {
    let mut spec = json!({"graphs": graphs.iter().map(graph_json).collect::<Vec<_>>()});
    if let Some(k) = keep {
        spec["keep_dir"] = json!(k.join("alembic").display().to_string());
    }
    if let Some(servers) = &dbs.servers {
        spec["server"] = json!({
            "url": servers.alembic.sqlalchemy_url(),
            "ran_log_ddl": ran_log_ddl(dbs.dialect),
            "transaction_per_migration":
                graphs.iter().map(|g| g.transaction_per_migration).collect::<Vec<_>>(),
        });
    }
    let script = workspace_root().join("tests/oracle/alembic_oracle.py");
    let mut child = Process::new(python())
        .arg(&script)
        // Alembic's order between independent revisions follows Python's set iteration, which
        // depends on the string hash seed: fix it so a run is reproducible.
        .env("PYTHONHASHSEED", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the oracle {}: {e}", script.display()));
    let input = spec.to_string();
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Write from a thread so a large spec cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("oracle output");
    writer
        .join()
        .expect("writer thread")
        .expect("spec written to the oracle");
    assert!(
        out.status.success(),
        "the Alembic oracle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the oracle's output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    if let Some(k) = keep {
        let _ = std::fs::write(k.join("alembic-oracle-output.json"), &out.stdout);
    }
    let results = doc["graphs"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), graphs.len(), "one oracle result per graph");
    results
        .iter()
        .zip(graphs)
        .map(|(r, g)| {
            assert!(
                r["setup_error"].is_null(),
                "the oracle could not set up graph {}: {}",
                g.name,
                r["setup_error"]
            );
            let steps = r["steps"].as_array().cloned().unwrap_or_default();
            assert_eq!(steps.len(), g.commands.len(), "one oracle step per command");
            steps
                .iter()
                .zip(&g.commands)
                .map(|(s, c)| {
                    let ok = s["ok"].as_bool().unwrap_or(false);
                    let error = if ok {
                        String::new()
                    } else {
                        format!(
                            "{}: {}",
                            s["error"]["class"].as_str().unwrap_or("?"),
                            s["error"]["message"].as_str().unwrap_or("?")
                        )
                    };
                    let ran = s["ran"]
                        .as_array()
                        .map(|rows| {
                            rows.iter()
                                .map(|row| {
                                    let p = strings(row);
                                    (
                                        p.first().cloned().unwrap_or_default(),
                                        p.get(1).cloned().unwrap_or_default(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Outcome {
                        ok,
                        error,
                        crashed: !ok
                            && s["error"]["command_error"].as_bool() == Some(false)
                            && s["error"]["db_error"].as_bool() == Some(false),
                        db_error: !ok && s["error"]["db_error"].as_bool() == Some(true),
                        versions: strings(&s["versions"]),
                        ran,
                        offline_rows: match (s["offline_script"].as_str(), c) {
                            // A server run: the script comes back as text to apply here.
                            (
                                Some(script),
                                Command::OfflineUpgrade(t) | Command::OfflineDowngrade(t),
                            ) if ok => offline_start(g, t)
                                .map(|start| apply_offline_script(script, &start, dbs)),
                            _ => s["offline_rows"]
                                .as_array()
                                .map(|_| strings(&s["offline_rows"])),
                        },
                    }
                })
                .collect()
        })
        .collect()
}

/// What a failing revision's upgrade runs after logging itself (the same in the oracle).
const FAILING_SQL: &str = "INSERT INTO no_such_table (x) VALUES (1);\n";

/// The `.sql` script of one revision (SPEC section 4).
fn sql_script(r: &graphgen::Rev) -> String {
    let mut s = format!("-- revision {}\n--\n-- Revision ID: {}\n", r.id, r.id);
    s.push_str(&format!("-- Revises: {}\n", r.down.join(", ")));
    if !r.labels.is_empty() {
        s.push_str(&format!("-- Branch Labels: {}\n", r.labels.join(", ")));
    }
    if !r.depends_on.is_empty() {
        s.push_str(&format!("-- Depends On: {}\n", r.depends_on.join(", ")));
    }
    s.push_str(&format!(
        "\n-- +upgrade\nINSERT INTO ran_log (rev, direction) VALUES ('{0}', 'up');\n{1}\n\
         -- +downgrade\nINSERT INTO ran_log (rev, direction) VALUES ('{0}', 'down');\n",
        r.id,
        if r.fails { FAILING_SQL } else { "" }
    ));
    s
}

/// Our tool's project for `g`: alembic.toml, one script per revision, and a database (emptied
/// first: a server database serves graph after graph) that already has the ran_log table.
fn write_project(dir: &Path, g: &Graph, db: &TestDb) {
    let versions = dir.join("migrations/versions");
    std::fs::create_dir_all(&versions).expect("create versions folder");
    let url = match db {
        TestDb::Sqlite(_) => "sqlite:///test.db".to_string(),
        TestDb::Server(..) => db.url(),
    };
    std::fs::write(
        dir.join("alembic.toml"),
        format!(
            "[alembic]\nscript_location = \"migrations\"\nurl = \"{url}\"\n\
             transaction_per_migration = {}\n",
            g.transaction_per_migration
        ),
    )
    .expect("write alembic.toml");
    for (i, r) in g.revisions.iter().enumerate() {
        std::fs::write(
            versions.join(format!("r{i:03}_{}.sql", r.id)),
            sql_script(r),
        )
        .expect("write script");
    }
    db.empty();
    db.exec(&ran_log_ddl(db.dialect()));
}

/// The table every revision of both tools logs its runs in, outside version control; `seq`
/// numbers the runs in order.
fn ran_log_ddl(d: Dialect) -> String {
    match d {
        Dialect::Sqlite => {
            "CREATE TABLE ran_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
                            rev TEXT NOT NULL, direction TEXT NOT NULL)"
        }
        Dialect::Postgres => {
            "CREATE TABLE ran_log (seq SERIAL PRIMARY KEY, \
                              rev VARCHAR(64) NOT NULL, direction VARCHAR(8) NOT NULL)"
        }
        Dialect::Mysql => {
            "CREATE TABLE ran_log (seq INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                           rev VARCHAR(64) NOT NULL, direction VARCHAR(8) NOT NULL)"
        }
    }
    .to_string()
}

/// The version rows (sorted) and the ran_log rows after `after_seq`, and the new last seq.
fn read_state(db: &TestDb, after_seq: i64) -> (Vec<String>, Vec<(String, String)>, i64) {
    let ran_log =
        format!("SELECT seq, rev, direction FROM ran_log WHERE seq > {after_seq} ORDER BY seq");
    let (mut versions, ran_rows) = match db {
        TestDb::Sqlite(_) => (db.version_rows().unwrap_or_default(), db.query(&ran_log)),
        // One client process for both reads (this runs after every step): rows tagged by
        // query, the version table's absence (before the first command) read as no rows.
        TestDb::Server(..) => {
            let tagged_ran_log = format!(
                "SELECT 'r', seq, rev, direction FROM ran_log WHERE seq > {after_seq} ORDER BY seq"
            );
            let (rows, errors) = db.query_each(&[
                "SELECT 'v', version_num FROM alembic_version",
                &tagged_ran_log,
            ]);
            let missing_version_table = errors.contains("alembic_version")
                && (errors.contains("does not exist") || errors.contains("doesn't exist"))
                && errors.lines().filter(|l| l.contains("ERROR")).count() == 1;
            assert!(
                errors.is_empty() || missing_version_table,
                "reading the state failed: {errors}"
            );
            let (v, r): (Vec<String>, Vec<String>) =
                rows.into_iter().partition(|row| row.starts_with("v\t"));
            (
                v.iter().map(|row| row[2..].to_string()).collect(),
                r.iter().map(|row| row[2..].to_string()).collect(),
            )
        }
    };
    versions.sort();
    let rows: Vec<(i64, String, String)> = ran_rows
        .iter()
        .map(|row| {
            let mut cols = row.split('\t');
            let seq = cols
                .next()
                .and_then(|n| n.parse().ok())
                .expect("ran_log seq");
            let rev = cols.next().unwrap_or_default().to_string();
            let dir = cols.next().unwrap_or_default().to_string();
            (seq, rev, dir)
        })
        .collect();
    let last = rows.last().map(|r| r.0).unwrap_or(after_seq);
    (
        versions,
        rows.into_iter().map(|(_, r, d)| (r, d)).collect(),
        last,
    )
}

/// Puts the version rows where Alembic has them, so that one mismatch does not make every later
/// step of the graph differ too. Written directly: the table is Alembic's (SPEC section 6).
fn resync(db: &TestDb, versions: &[String]) {
    let mut batch = String::from(
        "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, \
         CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)); \
         DELETE FROM alembic_version;",
    );
    for v in versions {
        let _ = write!(
            batch,
            " INSERT INTO alembic_version (version_num) VALUES ('{v}');"
        );
    }
    if db.dialect() == Dialect::Sqlite {
        batch = format!("BEGIN; {batch} COMMIT;");
    }
    db.exec(&batch);
}

/// Runs `cargo-alembic ARGS` in `dir`; (succeeded, what it printed on failure, its stdout).
fn run_ours(dir: &Path, args: &[String]) -> (bool, String, String) {
    let mut child = Process::new(env!("CARGO_BIN_EXE_cargo-alembic"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cargo-alembic");
    // Drain both pipes in threads so a chatty run cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cargo-alembic") {
            break Some(status);
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    match status {
        None => (
            false,
            format!("TIMED OUT after {COMMAND_TIMEOUT:?}"),
            stdout,
        ),
        Some(s) if s.success() => (true, String::new(), stdout),
        Some(s) => {
            let code = s.code().map(|c| c.to_string()).unwrap_or("signal".into());
            let mut msg = format!("exit {code}: {}", stderr.trim());
            if !stdout.trim().is_empty() {
                let _ = write!(msg, " [stdout: {}]", stdout.trim());
            }
            (false, msg, stdout)
        }
    }
}

/// The migrations whose SQL an offline (`--sql`) script contains, in order: each script's
/// `INSERT INTO ran_log (rev, direction) VALUES ('ID', 'up');` starts a line where its SQL is.
/// Only line starts count: the same text quoted inside another statement (our history table
/// records each revision's downgrade SQL) is not a migration running.
fn offline_runs(sql: &str) -> Vec<(String, String)> {
    const MARK: &str = "INSERT INTO ran_log (rev, direction) VALUES ('";
    sql.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix(MARK)?;
            let (rev, after) = rest.split_once("', '")?;
            let (dir, _) = after.split_once('\'')?;
            Some((rev.to_string(), dir.to_string()))
        })
        .collect()
}

/// The version rows an offline script starts from, when the command says: none for no range
/// or a range from base, `[ID]` for a range from a full id, unknown (`None`) otherwise.
fn offline_start(g: &Graph, target: &str) -> Option<Vec<String>> {
    let Some((start, _)) = target.split_once(':') else {
        return Some(Vec::new());
    };
    if start == "base" {
        Some(Vec::new())
    } else if g.revisions.iter().any(|r| r.id == start) {
        Some(vec![start.to_string()])
    } else {
        None
    }
}

/// Runs an offline script on a scratch database holding `start` as its version rows and only
/// the tables Python Alembic makes (a range script must run on a database Alembic made, SPEC
/// section 6); the sorted rows it leaves, or why it could not run, as the one element.
fn apply_offline_script(script: &str, start: &[String], dbs: &Databases) -> Vec<String> {
    let Some(servers) = &dbs.servers else {
        return apply_offline_script_on_sqlite(script, start);
    };
    let db = &servers.scratch;
    let mut setup = String::from("CREATE TABLE ran_log (rev VARCHAR(64), direction VARCHAR(8)); ");
    if !start.is_empty() {
        setup.push_str(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, \
             CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));",
        );
        for r in start {
            let _ = write!(
                setup,
                " INSERT INTO alembic_version (version_num) VALUES ('{r}');"
            );
        }
    }
    match db.apply_script_on_empty(&setup, script) {
        Ok(()) => db.version_rows().unwrap_or_default(),
        Err(e) => vec![format!("<script failed: {e}>")],
    }
}

/// [`apply_offline_script`] on SQLite: an in-memory database.
fn apply_offline_script_on_sqlite(script: &str, start: &[String]) -> Vec<String> {
    let run = || -> rusqlite::Result<Vec<String>> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch("CREATE TABLE ran_log (rev TEXT, direction TEXT);")?;
        if !start.is_empty() {
            conn.execute_batch(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, \
                 CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));",
            )?;
            for r in start {
                conn.execute("INSERT INTO alembic_version (version_num) VALUES (?1)", [r])?;
            }
        }
        conn.execute_batch(script)?;
        let mut st = conn.prepare("SELECT version_num FROM alembic_version")?;
        let mut rows: Vec<String> = st
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        rows.sort();
        Ok(rows)
    };
    run().unwrap_or_else(|e| vec![format!("<script failed: {e}>")])
}

fn valid_order(g: &Graph, ran: &[(String, String)]) -> bool {
    let dirs: BTreeSet<&str> = ran.iter().map(|(_, d)| d.as_str()).collect();
    if dirs.len() != 1 {
        return false;
    }
    let upgrade = dirs.contains("up");
    let pos: BTreeMap<&str, usize> = ran
        .iter()
        .enumerate()
        .map(|(i, (r, _))| (r.as_str(), i))
        .collect();
    let req = g.requirements();
    ran.iter().enumerate().all(|(i, (r, _))| {
        req.get(r)
            .into_iter()
            .flatten()
            .all(|needed| match pos.get(needed.as_str()) {
                None => true,
                Some(&j) => {
                    if upgrade {
                        j < i
                    } else {
                        j > i
                    }
                }
            })
    })
}

fn judge(
    g: &Graph,
    command: &Command,
    before: &[String],
    alembic: &Outcome,
    ours: &Outcome,
) -> Verdict {
    let problem = if alembic.ok != ours.ok {
        Some(format!(
            "Alembic {}, we {}",
            if alembic.ok { "succeeded" } else { "failed" },
            if ours.ok { "succeeded" } else { "failed" }
        ))
    } else if alembic.versions != ours.versions {
        Some("different version rows".to_string())
    } else if alembic.offline_rows != ours.offline_rows {
        Some(format!(
            "the offline scripts leave different version rows: Alembic's {:?}, ours {:?}",
            alembic.offline_rows, ours.offline_rows
        ))
    } else if alembic.ran != ours.ran {
        let a: BTreeSet<_> = alembic.ran.iter().collect();
        let o: BTreeSet<_> = ours.ran.iter().collect();
        if a == o && alembic.ran.len() == ours.ran.len() {
            if valid_order(g, &ours.ran) {
                return Verdict::OrderVariant;
            }
            Some("same revisions, but in an order that breaks a dependency".to_string())
        } else {
            Some("different revisions ran".to_string())
        }
    } else {
        None
    };
    match problem {
        None if !alembic.ok && alembic.crashed => Verdict::AlembicCrashed,
        None => Verdict::Same,
        Some(why) => {
            let view = StepView {
                graph: g,
                command,
                before,
                alembic,
                ours,
            };
            if let Some(d) = DELIBERATE.iter().find(|d| (d.applies)(&view)) {
                Verdict::Deliberate(d.name)
            } else if let Some(k) = KNOWN_MISMATCHES.iter().find(|k| (k.applies)(&view)) {
                Verdict::Known(k.name)
            } else {
                Verdict::Mismatch(why)
            }
        }
    }
}

/// The databases of one run: SQLite files in each graph's folder, or on a server one database
/// for each tool (emptied before each graph: cheaper than a new database per graph, which costs
/// PostgreSQL a fifth of a second each) and a scratch one for applying offline scripts.
struct Databases {
    dialect: Dialect,
    servers: Option<Servers>,
}

struct Servers {
    ours: TestDb,
    alembic: TestDb,
    scratch: TestDb,
}

impl Databases {
    /// None (after the loud SKIPPED line) when the server's URL is not set.
    fn create(dialect: Dialect) -> Option<Databases> {
        if dialect == Dialect::Sqlite {
            return Some(Databases {
                dialect,
                servers: None,
            });
        }
        let what = "differential test against Python Alembic";
        let nowhere = Path::new("");
        let ours = TestDb::create(dialect, nowhere, "diff_ours", what)?;
        let alembic = TestDb::create(dialect, nowhere, "diff_alembic", what)?;
        let scratch = TestDb::create(dialect, nowhere, "diff_scratch", what)?;
        Some(Databases {
            dialect,
            servers: Some(Servers {
                ours,
                alembic,
                scratch,
            }),
        })
    }
}

/// After a failed run: a run that failed part-way through a revision that could not be rolled
/// back (every revision on MySQL, where DDL commits) leaves the database dirty, and ours then
/// refuses every command but `stamp` until told where the database is (docs/databases.md).
/// Alembic has no such state and carries on, so the harness does what the refusal tells a user
/// to do, stamping the rows the database holds; the failed step itself is still compared. Only
/// the servers get here: SQLite rolls a failed revision back (no graph has a revision marked
/// `Transactional: false`).
fn clear_dirty(dir: &Path, g: &Graph, step: usize, versions: &[String], log: &mut String) {
    let (_, _, json_out) = run_ours(dir, &["-q".into(), "current".into(), "--json".into()]);
    let state: Value = serde_json::from_str(&json_out).unwrap_or(Value::Null);
    if state["dirty"].is_null() {
        return;
    }
    let mut args = vec!["stamp".to_string()];
    if versions.is_empty() {
        args.push("base".into());
    } else {
        args.extend(versions.iter().cloned());
    }
    let (ok, error, _) = run_ours(dir, &args);
    assert!(
        ok,
        "{} step {step}: `{}` should clear the dirty state: {error}",
        g.name,
        args.join(" ")
    );
    let _ = writeln!(
        log,
        "  dirty after the failed step, cleared with `{}`: {} step {step}",
        args.join(" "),
        g.name
    );
}

/// Runs `g` through our tool, comparing each step with Alembic's outcome as it goes.
#[allow(clippy::too_many_arguments)]
fn run_graph(
    g: &Graph,
    alembic: &[Outcome],
    dir: &Path,
    dbs: &Databases,
    tally: &mut Tally,
    mismatches: &mut Vec<Mismatch>,
    log: &mut String,
    quiet: bool,
) {
    let sqlite;
    let db = match &dbs.servers {
        Some(servers) => &servers.ours,
        None => {
            sqlite = TestDb::Sqlite(dir.join("test.db"));
            &sqlite
        }
    };
    write_project(dir, g, db);
    let mut seq = 0;
    let mut before: Vec<String> = Vec::new();
    let mut t = Tally::default();
    for (i, (c, a)) in g.commands.iter().zip(alembic).enumerate() {
        // Every third command the way cargo hands it over (`cargo alembic downgrade -1` runs
        // `cargo-alembic alembic downgrade -1`), the others as the binary is run directly.
        let (ok, error, stdout) = match c {
            Command::SetRows(rows) => {
                resync(db, rows);
                (true, String::new(), String::new())
            }
            _ => {
                let mut args = c.args();
                if i % 3 == 2 {
                    args.insert(0, "alembic".to_string());
                }
                run_ours(dir, &args)
            }
        };
        let (versions, mut ran, last) = read_state(db, seq);
        seq = last;
        if !ok
            && dbs.dialect.is_server()
            && matches!(c, Command::Upgrade(_) | Command::Downgrade(_))
        {
            clear_dirty(dir, g, i, &versions, log);
        }
        if matches!(c, Command::OfflineUpgrade(_) | Command::OfflineDowngrade(_)) {
            // Offline mode must not touch the database: anything in ran_log is a bug that
            // the comparison shows, so it is kept in front of what the script holds.
            ran.extend(offline_runs(&stdout));
        }
        let ours = Outcome {
            ok,
            error,
            crashed: false,
            db_error: false,
            offline_rows: match (ok, c) {
                (true, Command::OfflineUpgrade(t) | Command::OfflineDowngrade(t)) => {
                    offline_start(g, t).map(|start| apply_offline_script(&stdout, &start, dbs))
                }
                _ => None,
            },
            versions,
            ran,
        };
        t.steps += 1;
        match judge(g, c, &before, a, &ours) {
            Verdict::Same => t.same += 1,
            Verdict::OrderVariant => {
                if t.order_variants == 0 {
                    let _ = write!(
                        log,
                        "  graph {} (for the order variants below):\n{}",
                        g.name,
                        g.describe()
                    );
                }
                t.order_variants += 1;
                let _ = writeln!(
                    log,
                    "  order variant: {} step {i} `{c}`\n    alembic: {}\n    ours:    {}",
                    g.name,
                    a.show(),
                    ours.show()
                );
            }
            Verdict::AlembicCrashed => {
                t.alembic_crashes += 1;
                let _ = writeln!(
                    log,
                    "  alembic crashed, we failed cleanly: {} step {i} `{c}`\n    alembic: {}\n    ours:    {}",
                    g.name,
                    a.error,
                    ours.error.trim()
                );
            }
            Verdict::Deliberate(name) => {
                t.deliberate += 1;
                let _ = writeln!(
                    log,
                    "  deliberate difference '{name}': {} step {i} `{c}`\n    alembic: {}\n    ours:    {}",
                    g.name,
                    a.show(),
                    ours.show()
                );
            }
            Verdict::Known(name) => {
                t.known += 1;
                let _ = writeln!(
                    log,
                    "  KNOWN MISMATCH, NOT YET RESOLVED '{name}': {} step {i} `{c}`\n    alembic: {}\n    ours:    {}",
                    g.name,
                    a.show(),
                    ours.show()
                );
            }
            Verdict::Mismatch(why) => {
                t.mismatches += 1;
                mismatches.push(Mismatch {
                    graph: g.clone(),
                    step: i,
                    before: before.clone(),
                    alembic: a.clone(),
                    ours: ours.clone(),
                    why,
                });
            }
        }
        if a.versions != ours.versions {
            resync(db, &a.versions);
        }
        before = a.versions.clone();
    }
    tally.steps += t.steps;
    tally.same += t.same;
    tally.order_variants += t.order_variants;
    tally.alembic_crashes += t.alembic_crashes;
    tally.deliberate += t.deliberate;
    tally.known += t.known;
    tally.mismatches += t.mismatches;
    if quiet {
        return;
    }
    say!(
        "graph {:<22} {:>3} revisions {:>3} steps: {} same, {} order variants, {} alembic crashes, {} deliberate, {} known, {} mismatches",
        g.name,
        g.revisions.len(),
        t.steps,
        t.same,
        t.order_variants,
        t.alembic_crashes,
        t.deliberate,
        t.known,
        t.mismatches
    );
}

/// The smallest replay of a mismatch: the graph, the version rows the step started from
/// (written directly, since no command may be able to make them), and the one command.
fn repro_graph(m: &Mismatch) -> Graph {
    let mut commands = Vec::new();
    if !m.before.is_empty() {
        commands.push(Command::SetRows(m.before.clone()));
    }
    commands.push(m.graph.commands[m.step].clone());
    Graph {
        name: format!("{}-step{}-repro", m.graph.name, m.step),
        revisions: m.graph.revisions.clone(),
        commands,
        transaction_per_migration: m.graph.transaction_per_migration,
    }
}

fn report(m: &Mismatch, repro: &Graph, reproduced: Option<bool>) -> String {
    let mut s = String::new();
    let c = &m.graph.commands[m.step];
    let _ = writeln!(
        s,
        "MISMATCH in graph {} at step {}: `{c}`: {}",
        m.graph.name, m.step, m.why
    );
    let _ = writeln!(s, "  graph:\n{}", m.graph.describe());
    let _ = writeln!(s, "  alembic: {}", m.alembic.show());
    let _ = writeln!(s, "  ours:    {}", m.ours.show());
    let _ = writeln!(
        s,
        "  version rows before the step: [{}]",
        m.before.join(", ")
    );
    let steps: Vec<String> = m.graph.commands[..=m.step]
        .iter()
        .map(|c| c.to_string())
        .collect();
    let _ = writeln!(s, "  full sequence up to here: {}", steps.join(" ; "));
    let cmds: Vec<String> = repro.commands.iter().map(|c| c.to_string()).collect();
    let _ = writeln!(
        s,
        "  minimal reproduction (same graph, from an empty database): {}{}",
        cmds.join(" ; "),
        match reproduced {
            Some(true) => "  [replayed: still differs]",
            Some(false) => "  [replayed: does NOT differ on its own; use the full sequence]",
            None => "",
        }
    );
    let _ = writeln!(
        s,
        "  as a hand-made graph (tests/support/graphgen.rs):\n{}",
        m.graph.as_rust()
    );
    s
}

fn keep_dir() -> Option<PathBuf> {
    std::env::var_os("DIFFERENTIAL_KEEP").map(PathBuf::from)
}

/// A fresh project folder for one graph: under DIFFERENTIAL_KEEP when set, else temporary.
fn project_dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create project folder");
    dir
}

#[test]
fn differential_against_python_alembic() {
    differential(Dialect::Sqlite);
}

/// The same comparison with both tools on PostgreSQL (Alembic through psycopg2), each in a
/// database of its own.
#[test]
fn differential_against_python_alembic_on_postgres() {
    differential(Dialect::Postgres);
}

/// The same on MariaDB/MySQL (Alembic through PyMySQL).
#[test]
fn differential_against_python_alembic_on_mysql() {
    differential(Dialect::Mysql);
}

fn differential(dialect: Dialect) {
    let version = match oracle_version() {
        Ok(v) => v,
        Err(why) => {
            assert!(
                !env_flag("ALEMBIC_TEST_REQUIRE_ALL"),
                "ALEMBIC_TEST_REQUIRE_ALL=1 but the Alembic oracle is missing: {why}\n\
                 install it with: {} -m pip install -r tests/requirements.txt",
                python()
            );
            say!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPED: the differential test against Python Alembic did NOT run.\n\
                 !!! {why}\n\
                 !!! Install the oracle: {} -m pip install -r tests/requirements.txt\n\
                 !!! (or point ALEMBIC_PYTHON at an interpreter that has it).\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
                python()
            );
            return;
        }
    };
    if let Some(pinned) = pinned_alembic() {
        if pinned != version {
            assert!(
                !env_flag("ALEMBIC_TEST_REQUIRE_ALL"),
                "the oracle is Alembic {version}, tests/requirements.txt pins {pinned}"
            );
            say!("WARNING: the oracle is Alembic {version}, tests/requirements.txt pins {pinned}");
        }
    }

    let seed = std::env::var("DIFFERENTIAL_SEED")
        .ok()
        .and_then(|s| {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        })
        .unwrap_or(DEFAULT_SEED);
    let Some(dbs) = Databases::create(dialect) else {
        return;
    };
    let only = std::env::var("DIFFERENTIAL_ONLY").ok();
    let mut graphs = graphgen::all_graphs(seed, random_graphs(dialect), STEPS_PER_RANDOM_GRAPH);
    if dialect.is_server() && only.is_none() && !env_flag("DIFFERENTIAL_FULL") {
        graphs
            .retain(|g| g.name.starts_with("random-") || SERVER_GRAPHS.contains(&g.name.as_str()));
        assert_eq!(
            graphs.len(),
            SERVER_GRAPHS.len() + SERVER_RANDOM_GRAPHS,
            "every graph of SERVER_GRAPHS exists"
        );
        let covers = |what: &str, has: &dyn Fn(&graphgen::Rev) -> bool| {
            assert!(
                graphs.iter().any(|g| g.revisions.iter().any(has)),
                "the {} subset must cover {what}",
                dialect.name()
            );
        };
        covers("merges", &|r| r.down.len() > 1);
        covers("depends_on", &|r| !r.depends_on.is_empty());
        covers("a failing revision", &|r| r.fails);
        assert!(
            graphs
                .iter()
                .any(|g| g.heads().len() > 1 && g.revisions.iter().all(|r| r.down.len() < 2)),
            "the {} subset must cover branches (several heads, no merge)",
            dialect.name()
        );
    }
    if let Some(name) = &only {
        // DIFFERENTIAL_ONLY picks from every graph, on a server too.
        graphs = graphgen::all_graphs(seed, RANDOM_GRAPHS, STEPS_PER_RANDOM_GRAPH);
        graphs.retain(|g| &g.name == name);
        assert!(
            !graphs.is_empty(),
            "DIFFERENTIAL_ONLY={name} names no graph"
        );
    }
    say!(
        "differential on {}: Alembic {version} vs cargo-alembic, seed {seed:#x}, {} graphs",
        dialect.name(),
        graphs.len()
    );

    // The SQLite run keeps its projects where it always did; the servers' go beside them.
    let keep = keep_dir().map(|k| match dialect {
        Dialect::Sqlite => k,
        _ => k.join(dialect.name()),
    });
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let started = Instant::now();
    let oracle = run_oracle(&graphs, keep.as_deref(), &dbs);
    say!("differential: oracle ran in {:.1?}", started.elapsed());

    let mut tally = Tally::default();
    let mut mismatches = Vec::new();
    let mut log = String::new();
    for (g, a) in graphs.iter().zip(&oracle) {
        let dir = project_dir(&root.join("ours"), &g.name);
        run_graph(
            g,
            a,
            &dir,
            &dbs,
            &mut tally,
            &mut mismatches,
            &mut log,
            false,
        );
    }

    // Replay each mismatch on its own (up to a bound: one oracle call for all of them), so the
    // report says whether the two-command reproduction is enough.
    let repros: Vec<Graph> = mismatches.iter().map(repro_graph).collect();
    let replayed: Vec<Option<bool>> = if repros.is_empty() {
        Vec::new()
    } else {
        let bounded = &repros[..repros.len().min(DETAILED_REPORTS)];
        let alembic = run_oracle(bounded, None, &dbs);
        let mut out = Vec::new();
        for (r, a) in bounded.iter().zip(&alembic) {
            let dir = project_dir(&root.join("repro"), &r.name);
            let mut t = Tally::default();
            let mut ms = Vec::new();
            let mut l = String::new();
            run_graph(r, a, &dir, &dbs, &mut t, &mut ms, &mut l, true);
            out.push(Some(ms.iter().any(|m| m.step + 1 == r.commands.len())));
        }
        out
    };

    if !log.is_empty() {
        say!("differential: logged differences that pass:\n{log}");
    }
    // Every mismatch in full up to a bound, then one line each: a broken build must not bury
    // the summary under thousands of lines.
    let mut failure = String::new();
    for (i, m) in mismatches.iter().enumerate() {
        if i < DETAILED_REPORTS {
            failure.push_str(&report(m, &repros[i], replayed.get(i).copied().flatten()));
            failure.push('\n');
        } else {
            let _ = writeln!(
                failure,
                "MISMATCH in graph {} at step {}: `{}`: {}",
                m.graph.name, m.step, m.graph.commands[m.step], m.why
            );
        }
    }
    say!("{failure}");
    say!(
        "differential on {}: {} graphs, {} steps, {} mismatches ({} same, {} order variants, {} alembic crashes, {} deliberate differences, {} KNOWN UNRESOLVED mismatches) in {:.1?}",
        dialect.name(),
        graphs.len(),
        tally.steps,
        tally.mismatches,
        tally.same,
        tally.order_variants,
        tally.alembic_crashes,
        tally.deliberate,
        tally.known,
        started.elapsed()
    );
    for d in DELIBERATE {
        say!("  deliberate difference '{}': {}", d.name, d.why);
    }
    for k in KNOWN_MISMATCHES {
        say!("  KNOWN UNRESOLVED MISMATCH '{}': {}", k.name, k.why);
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches between cargo-alembic and Alembic {version} on {} (details above)",
        mismatches.len(),
        dialect.name()
    );
    if only.is_none() && dialect == Dialect::Sqlite {
        assert!(
            graphs.len() >= MIN_GRAPHS && tally.steps >= MIN_STEPS,
            "the differential run must cover at least {MIN_GRAPHS} graphs and {MIN_STEPS} steps, \
             it covered {} and {}",
            graphs.len(),
            tally.steps
        );
    }
}

// The comparison itself is tested on literals, so that a harness that can no longer see a
// difference fails here rather than passing silently.

fn outcome(ok: bool, versions: &[&str], ran: &[(&str, &str)]) -> Outcome {
    Outcome {
        ok,
        error: if ok { String::new() } else { "boom".into() },
        crashed: false,
        db_error: false,
        versions: versions.iter().map(|s| s.to_string()).collect(),
        ran: ran
            .iter()
            .map(|(r, d)| (r.to_string(), d.to_string()))
            .collect(),
        offline_rows: None,
    }
}

fn diamond() -> Graph {
    use graphgen::Rev;
    Graph {
        name: "diamond".into(),
        revisions: vec![
            Rev::new("a", &[]),
            Rev::new("b", &["a"]),
            Rev::new("c", &["a"]).dep("b"),
            Rev::new("d", &["b", "c"]),
            Rev::new("x", &[]).label("lx"),
            Rev::new("y", &[]).dep("lx"),
        ],
        commands: Vec::new(),
        transaction_per_migration: false,
    }
}

#[test]
fn judge_sees_each_kind_of_difference() {
    let g = diamond();
    fn up<'a>(r: &[&'a str]) -> Vec<(&'a str, &'static str)> {
        r.iter().map(|r| (*r, "up")).collect()
    }
    let up_cmd = Command::Upgrade("head".into());
    let a = outcome(true, &["d"], &up(&["a", "b", "c", "d"]));
    assert!(matches!(
        judge(&g, &up_cmd, &[], &a, &a.clone()),
        Verdict::Same
    ));
    // Failure against success.
    let failed = outcome(false, &[], &[]);
    assert!(matches!(
        judge(&g, &up_cmd, &[], &a, &failed),
        Verdict::Mismatch(_)
    ));
    // Other version rows.
    let rows = outcome(true, &["c"], &up(&["a", "b", "c", "d"]));
    assert!(matches!(
        judge(&g, &up_cmd, &[], &a, &rows),
        Verdict::Mismatch(_)
    ));
    // A revision missing from the run.
    let fewer = outcome(true, &["d"], &up(&["a", "b", "d"]));
    assert!(matches!(
        judge(&g, &up_cmd, &[], &a, &fewer),
        Verdict::Mismatch(_)
    ));
    // c depends on b: running it first breaks a dependency.
    let broken = outcome(true, &["d"], &up(&["a", "c", "b", "d"]));
    assert!(matches!(
        judge(&g, &up_cmd, &[], &a, &broken),
        Verdict::Mismatch(_)
    ));
}

#[test]
fn valid_order_follows_down_revisions_and_depends_on() {
    let g = diamond();
    let run = |dir: &str, r: &[&str]| -> Vec<(String, String)> {
        r.iter().map(|r| (r.to_string(), dir.to_string())).collect()
    };
    assert!(valid_order(&g, &run("up", &["x", "a", "y", "b", "c", "d"])));
    assert!(valid_order(&g, &run("up", &["a", "x", "b", "c", "y", "d"])));
    // y depends on the revision that declares label lx.
    assert!(!valid_order(&g, &run("up", &["y", "x"])));
    assert!(!valid_order(&g, &run("up", &["a", "c", "b"])));
    assert!(valid_order(
        &g,
        &run("down", &["d", "c", "b", "y", "x", "a"])
    ));
    assert!(!valid_order(&g, &run("down", &["b", "c"])));
    // A run never mixes directions.
    let mut mixed = run("up", &["a"]);
    mixed.extend(run("down", &["x"]));
    assert!(!valid_order(&g, &mixed));
}

#[test]
fn generated_graphs_are_valid_and_deterministic() {
    let graphs = graphgen::all_graphs(DEFAULT_SEED, RANDOM_GRAPHS, STEPS_PER_RANDOM_GRAPH);
    let again = graphgen::all_graphs(DEFAULT_SEED, RANDOM_GRAPHS, STEPS_PER_RANDOM_GRAPH);
    assert!(graphs.len() >= MIN_GRAPHS);
    let steps: usize = graphs.iter().map(|g| g.commands.len()).sum();
    assert!(steps >= MIN_STEPS, "{steps} steps");
    for (g, h) in graphs.iter().zip(&again) {
        assert_eq!(g.revisions, h.revisions, "{}", g.name);
        assert_eq!(g.commands, h.commands, "{}", g.name);
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut labels: BTreeSet<&str> = BTreeSet::new();
        for r in &g.revisions {
            assert!(
                !r.id.is_empty()
                    && r.id.len() <= 32
                    && r.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{}: bad id {}",
                g.name,
                r.id
            );
            // Written in topological order: every parent and dependency comes earlier, so
            // there is no cycle.
            for d in &r.down {
                assert!(
                    seen.contains(d.as_str()),
                    "{}: {} revises later {d}",
                    g.name,
                    r.id
                );
            }
            for d in &r.depends_on {
                assert!(
                    seen.contains(d.as_str()) || labels.contains(d.as_str()),
                    "{}: {} depends on later {d}",
                    g.name,
                    r.id
                );
            }
            assert!(seen.insert(&r.id), "{}: duplicate id {}", g.name, r.id);
            for l in &r.labels {
                assert!(labels.insert(l), "{}: duplicate label {l}", g.name);
            }
        }
    }
}
