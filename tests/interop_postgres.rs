//! Interop with the real Python Alembic on PostgreSQL (issue 3; SPEC section 6): a database
//! migrated by Python Alembic (through psycopg2) is continued by `cargo alembic`, and a database
//! `cargo alembic` migrated reads as current to Python Alembic, which continues it. The SQLite
//! counterpart, with many more scenarios, is tests/interop.rs.
//!
//! Every project holds one revision graph twice, side by side in `migrations/versions`: Python
//! migrations (`<id>.py`, one `op.execute(...)` per statement) and our `.sql` scripts with the
//! same ids and SQL, and `alembic.ini` and `alembic.toml` point at one database. Each revision
//! also appends a row to `ran_log`, a table made outside both tools, so a test sees which
//! revisions ran whichever tool ran them. What is right comes from Alembic itself: a scenario
//! runs beside a twin database that Python Alembic alone takes through the same steps.
//!
//! Each test creates its own database (named after the test and this process) through `psql`
//! on `ALEMBIC_TEST_POSTGRES_URL` (CI: postgresql://postgres@127.0.0.1:5432/test) and drops it
//! at the end. Without that URL, `psql`, or Python Alembic with psycopg2 (`$ALEMBIC_PYTHON`,
//! default `python3`; `pip install -r tests/requirements.txt`), every test prints a loud
//! SKIPPED notice on stderr and passes, unless `ALEMBIC_TEST_REQUIRE_ALL=1` (set by CI), which
//! turns the missing piece into a failure.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// The revision graph, written once and rendered for both tools.
// ---------------------------------------------------------------------------------------------

struct Rev {
    id: &'static str,
    message: &'static str,
    down: &'static [&'static str],
    labels: &'static [&'static str],
    depends_on: &'static [&'static str],
    up: &'static [&'static str],
    down_sql: &'static [&'static str],
}

/// A linear start (a1, b2), a branch point b2 whose branches are c3 (label `posts`) and d4
/// (which depends_on its sibling c3), a merge e5 and f6 after it. One head: f6.
const MAIN: &[Rev] = &[
    Rev {
        id: "a1",
        message: "create users",
        down: &[],
        labels: &[],
        depends_on: &[],
        up: &["CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"],
        down_sql: &["DROP TABLE users"],
    },
    Rev {
        id: "b2",
        message: "add users.email",
        down: &["a1"],
        labels: &[],
        depends_on: &[],
        up: &["ALTER TABLE users ADD COLUMN email VARCHAR(200)"],
        down_sql: &["ALTER TABLE users DROP COLUMN email"],
    },
    Rev {
        id: "c3",
        message: "create posts",
        down: &["b2"],
        labels: &["posts"],
        depends_on: &[],
        up: &[
            "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT)",
            "CREATE INDEX ix_posts_user ON posts (user_id)",
        ],
        down_sql: &["DROP INDEX ix_posts_user", "DROP TABLE posts"],
    },
    Rev {
        id: "d4",
        message: "create tags",
        down: &["b2"],
        labels: &[],
        depends_on: &["c3"],
        up: &["CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"],
        down_sql: &["DROP TABLE tags"],
    },
    Rev {
        id: "e5",
        message: "merge posts and tags",
        down: &["c3", "d4"],
        labels: &[],
        depends_on: &[],
        up: &[
            "CREATE TABLE post_tags (post_id INTEGER NOT NULL, tag_id INTEGER NOT NULL, \
               PRIMARY KEY (post_id, tag_id))",
        ],
        down_sql: &["DROP TABLE post_tags"],
    },
    Rev {
        id: "f6",
        message: "index users.email",
        down: &["e5"],
        labels: &[],
        depends_on: &[],
        up: &["CREATE INDEX ix_users_email ON users (email)"],
        down_sql: &["DROP INDEX ix_users_email"],
    },
];

fn upgrade_statements(rev: &Rev) -> Vec<String> {
    let mut sql: Vec<String> = rev.up.iter().map(|s| s.to_string()).collect();
    sql.push(format!(
        "INSERT INTO ran_log (rev, direction) VALUES ('{}', 'up')",
        rev.id
    ));
    sql
}

fn downgrade_statements(rev: &Rev) -> Vec<String> {
    let mut sql: Vec<String> = rev.down_sql.iter().map(|s| s.to_string()).collect();
    sql.push(format!(
        "INSERT INTO ran_log (rev, direction) VALUES ('{}', 'down')",
        rev.id
    ));
    sql
}

/// A Python string literal (the SQL holds single quotes, so use double ones).
fn py_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn py_ids(items: &[&str]) -> String {
    match items {
        [] => "None".to_string(),
        [one] => py_str(one),
        many => format!(
            "({})",
            many.iter()
                .map(|s| py_str(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn python_migration(rev: &Rev) -> String {
    let body = |stmts: Vec<String>| {
        stmts
            .iter()
            .map(|s| format!("    op.execute({})\n", py_str(s)))
            .collect::<String>()
    };
    let labels = if rev.labels.is_empty() {
        "None".to_string()
    } else {
        let quoted: Vec<String> = rev.labels.iter().map(|s| py_str(s)).collect();
        format!("({},)", quoted.join(", "))
    };
    format!(
        "\"\"\"{msg}\n\nRevision ID: {id}\nRevises: {revises}\n\"\"\"\nfrom alembic import op\n\n\
         revision = {rid}\ndown_revision = {down}\nbranch_labels = {labels}\ndepends_on = {deps}\n\n\n\
         def upgrade():\n{up}\n\ndef downgrade():\n{dn}",
        msg = rev.message,
        id = rev.id,
        revises = rev.down.join(", "),
        rid = py_str(rev.id),
        down = py_ids(rev.down),
        deps = py_ids(rev.depends_on),
        up = body(upgrade_statements(rev)),
        dn = body(downgrade_statements(rev)),
    )
}

fn sql_script(rev: &Rev) -> String {
    let mut text = format!(
        "-- {}\n--\n-- Revision ID: {}\n-- Revises: {}\n-- Create Date: 2026-01-01 00:00:00.000000\n",
        rev.message,
        rev.id,
        rev.down.join(", ")
    );
    if !rev.labels.is_empty() {
        text.push_str(&format!("-- Branch Labels: {}\n", rev.labels.join(", ")));
    }
    if !rev.depends_on.is_empty() {
        text.push_str(&format!("-- Depends On: {}\n", rev.depends_on.join(", ")));
    }
    let section = |stmts: Vec<String>| stmts.iter().map(|s| format!("{s};\n")).collect::<String>();
    text.push_str("\n-- +upgrade\n");
    text.push_str(&section(upgrade_statements(rev)));
    text.push_str("\n-- +downgrade\n");
    text.push_str(&section(downgrade_statements(rev)));
    text
}

/// env.py without fileConfig(), so Alembic's stdout holds only what the command reports.
const ENV_PY: &str = "\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config

connectable = engine_from_config(
    config.get_section(config.config_ini_section, {}),
    prefix=\"sqlalchemy.\",
    poolclass=pool.NullPool,
)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
";

// ---------------------------------------------------------------------------------------------
// The environment: the server, psql, Python Alembic with psycopg2.
// ---------------------------------------------------------------------------------------------

fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        .unwrap_or(false)
}

fn python() -> String {
    std::env::var("ALEMBIC_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// The server URL when everything these tests need is there, else why not. Probed once.
fn probe() -> &'static Result<String, String> {
    static PROBE: OnceLock<Result<String, String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let url = std::env::var("ALEMBIC_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| "ALEMBIC_TEST_POSTGRES_URL is not set".to_string())?;
        let out = Command::new(python())
            .args(["-c", "import alembic.command, sqlalchemy, psycopg2"])
            .output()
            .map_err(|e| format!("cannot run `{}`: {e}", python()))?;
        if !out.status.success() {
            return Err(format!(
                "Python Alembic with psycopg2 is missing: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        psql(&url, "SELECT 1").map_err(|e| format!("cannot reach the server with psql: {e}"))?;
        Ok(url)
    })
}

/// The server URL, or None after failing (ALEMBIC_TEST_REQUIRE_ALL=1) or a loud skip notice.
fn server(test: &str) -> Option<String> {
    match probe() {
        Ok(url) => Some(url.clone()),
        Err(why) => {
            assert!(
                !env_flag("ALEMBIC_TEST_REQUIRE_ALL"),
                "ALEMBIC_TEST_REQUIRE_ALL=1 but the PostgreSQL interop tests cannot run: {why}"
            );
            // Straight to the stderr handle: libtest captures eprintln! in passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPED: PostgreSQL interop test `{test}` did NOT run.\n\
                 !!! {why}\n\
                 !!! Needs ALEMBIC_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test),\n\
                 !!! psql, and {} -m pip install -r tests/requirements.txt\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
                python()
            );
            None
        }
    }
}

/// Runs `sql` through psql on `url`; the unaligned rows, one per line, fields split by `|`.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1"])
        .arg(url)
        .arg("-c")
        .arg(sql)
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `url` with its database name replaced by `db` (the query string, if any, kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    // The database is the path after the authority (`scheme://authority/db`).
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..authority_end])
}

/// One database of the test's own, dropped when it goes out of scope.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    fn create(admin_url: &str, tag: &str) -> Database {
        let name = format!("alembic_interop_{tag}_{}", std::process::id());
        // A leftover from a killed run of the same process id would fail CREATE.
        psql(admin_url, &format!("DROP DATABASE IF EXISTS {name}")).expect("drop leftover");
        psql(admin_url, &format!("CREATE DATABASE {name}")).expect("create database");
        let db = Database {
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
        };
        db.sql("CREATE TABLE ran_log (seq SERIAL PRIMARY KEY, rev TEXT NOT NULL, direction TEXT NOT NULL)");
        db
    }

    fn sql(&self, sql: &str) -> String {
        psql(&self.url, sql).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rows(&self, sql: &str) -> Vec<String> {
        self.sql(sql)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // WITH (FORCE) (PostgreSQL 13+) ends a session a failed tool may have left behind.
        if let Err(e) = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            let _ = writeln!(std::io::stderr(), "could not drop {}: {e}", self.name);
        }
    }
}

struct Out {
    what: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self) -> Out {
        assert_eq!(
            self.code,
            Some(0),
            "`{}` failed\n--- stdout:\n{}\n--- stderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The non-empty stdout lines, trimmed and sorted.
    fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }
}

fn run(mut cmd: Command, what: String) -> Out {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    Out {
        what,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// A project holding both tools' migrations over one PostgreSQL database.
// ---------------------------------------------------------------------------------------------

struct Project {
    dir: TempDir,
    db: Database,
}

impl Project {
    fn new(server: &str, tag: &str) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("interop-pg-")
            .tempdir()
            .expect("temp dir");
        let db = Database::create(server, tag);
        let versions = dir.path().join("migrations").join("versions");
        fs::create_dir_all(&versions).expect("create migrations/versions");
        // SQLAlchemy 2.1 reads a bare postgresql:// as psycopg (3); name psycopg2, the driver
        // tests/requirements.txt pins. configparser interpolates `%`; a password may hold one.
        let python_url = match db.url.split_once("://") {
            Some((_, rest)) => format!("postgresql+psycopg2://{rest}"),
            None => db.url.clone(),
        };
        let ini = format!(
            "[alembic]\nscript_location = %(here)s/migrations\nsqlalchemy.url = {}\n",
            python_url.replace('%', "%%")
        );
        let toml = format!(
            "[alembic]\nscript_location = \"migrations\"\nurl = \"{}\"\n",
            db.url
        );
        fs::write(dir.path().join("alembic.ini"), ini).expect("write alembic.ini");
        fs::write(dir.path().join("alembic.toml"), toml).expect("write alembic.toml");
        fs::write(dir.path().join("migrations").join("env.py"), ENV_PY).expect("write env.py");
        for rev in MAIN {
            fs::write(
                versions.join(format!("{}.py", rev.id)),
                python_migration(rev),
            )
            .expect("write .py migration");
            fs::write(versions.join(format!("{}.sql", rev.id)), sql_script(rev))
                .expect("write .sql script");
        }
        Project { dir, db }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn py(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(python());
        cmd.args(["-m", "alembic", "-c"])
            .arg(self.root().join("alembic.ini"))
            .args(args)
            .current_dir(self.root())
            .env("PYTHONHASHSEED", "0");
        run(cmd, format!("python -m alembic {}", args.join(" ")))
    }

    fn ours(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-alembic"));
        cmd.arg("alembic")
            .args(args)
            .current_dir(self.root())
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG");
        run(cmd, format!("cargo alembic {}", args.join(" ")))
    }

    fn has_table(&self, name: &str) -> bool {
        !self
            .db
            .rows(&format!(
                "SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_name = '{name}'"
            ))
            .is_empty()
    }

    /// The alembic_version rows, sorted; empty when the table does not exist.
    fn version_rows(&self) -> Vec<String> {
        if !self.has_table("alembic_version") {
            return Vec::new();
        }
        let mut rows = self.db.rows("SELECT version_num FROM alembic_version");
        rows.sort();
        rows
    }

    fn ran(&self) -> Vec<(String, String)> {
        self.db
            .rows("SELECT rev, direction FROM ran_log ORDER BY seq")
            .into_iter()
            .map(|l| match l.split_once('|') {
                Some((r, d)) => (r.to_string(), d.to_string()),
                None => (l, String::new()),
            })
            .collect()
    }

    /// The migrations' own schema: columns and indexes of every table but the tools' and the
    /// test's own.
    fn schema(&self) -> Vec<String> {
        let skip = "('ran_log', 'alembic_version', 'alembic_version_history')";
        let mut rows = self.db.rows(&format!(
            "SELECT 'column', table_name, column_name, data_type, \
                    coalesce(character_maximum_length::text, ''), is_nullable \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name NOT IN {skip} \
             ORDER BY table_name, column_name"
        ));
        rows.extend(self.db.rows(&format!(
            "SELECT 'index', indexname, indexdef FROM pg_indexes \
             WHERE schemaname = 'public' AND tablename NOT IN {skip} ORDER BY indexname"
        )));
        rows
    }

    /// The version table as the catalog describes it: columns, then constraints.
    fn version_table_shape(&self) -> Vec<String> {
        let mut rows = self.db.rows(
            "SELECT column_name, data_type, coalesce(character_maximum_length::text, ''), \
                    is_nullable, coalesce(column_default, '') \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = 'alembic_version' \
             ORDER BY ordinal_position",
        );
        rows.extend(self.db.rows(
            "SELECT tc.constraint_name, tc.constraint_type, kcu.column_name \
             FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu \
               ON kcu.constraint_name = tc.constraint_name \
              AND kcu.table_schema = tc.table_schema \
             WHERE tc.table_schema = 'public' AND tc.table_name = 'alembic_version' \
             ORDER BY tc.constraint_name, kcu.column_name",
        ));
        rows
    }
}

/// The revisions the migrations say are applied, replaying ran_log from the start.
fn applied_by_log(ran: &[(String, String)]) -> BTreeSet<String> {
    let mut applied = BTreeSet::new();
    for (rev, dir) in ran {
        if dir == "up" {
            applied.insert(rev.clone());
        } else {
            applied.remove(rev);
        }
    }
    applied
}

/// `ours` (handed between the tools) and `twin` (Python Alembic alone) end alike: version rows,
/// schema, applied revisions, and Python's `alembic current` reads both the same way, as does
/// ours on `ours`.
fn assert_same_state(ours: &Project, twin: &Project, what: &str) {
    assert_eq!(
        ours.version_rows(),
        twin.version_rows(),
        "{what}: alembic_version rows differ (left: handed over, right: Python Alembic only)"
    );
    assert_eq!(
        ours.schema(),
        twin.schema(),
        "{what}: schema differs (left: handed over, right: Python Alembic only)"
    );
    assert_eq!(
        applied_by_log(&ours.ran()),
        applied_by_log(&twin.ran()),
        "{what}: the revisions applied differ"
    );
    let python_on_ours = ours.py(&["current"]).ok();
    assert_eq!(
        python_on_ours.lines(),
        twin.py(&["current"]).ok().lines(),
        "{what}: Python `alembic current` reads the two databases differently"
    );
    assert_eq!(
        ours.ours(&["current"]).ok().lines(),
        python_on_ours.lines(),
        "{what}: `cargo alembic current` and Python `alembic current` differ on one database"
    );
}

/// Every revision ran exactly once in `ran`, in an order the graph allows.
fn assert_ran_once_in_order(ran: &[(String, String)], what: &str) {
    let mut applied: BTreeSet<&str> = BTreeSet::new();
    for (id, dir) in ran {
        assert_eq!(dir, "up", "{what}: unexpected downgrade of {id}: {ran:?}");
        let rev = MAIN
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{what}: unknown revision {id} in ran_log"));
        for needed in rev.down.iter().chain(rev.depends_on) {
            assert!(
                applied.contains(needed),
                "{what}: {id} ran before {needed}: {ran:?}"
            );
        }
        assert!(applied.insert(id), "{what}: {id} ran twice: {ran:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The scenarios.
// ---------------------------------------------------------------------------------------------

#[test]
fn python_upgrade_one_branch_then_cargo_upgrade_head() {
    let Some(server) = server("python_upgrade_one_branch_then_cargo_upgrade_head") else {
        return;
    };
    let ours = Project::new(&server, "py_then_cargo");
    let twin = Project::new(&server, "py_then_cargo_twin");
    ours.py(&["upgrade", "c3"]).ok();
    twin.py(&["upgrade", "c3"]).ok();
    assert_eq!(ours.version_rows(), ["c3"]);
    // Ours reads the database Python Alembic left.
    assert_eq!(
        ours.ours(&["current"]).ok().lines(),
        ours.py(&["current"]).ok().lines(),
        "cargo alembic reads Python Alembic's database differently"
    );
    ours.ours(&["upgrade", "head"]).ok();
    twin.py(&["upgrade", "head"]).ok();
    assert_eq!(ours.version_rows(), ["f6"]);
    assert_same_state(&ours, &twin, "python to c3, cargo to head");
    assert_ran_once_in_order(&ours.ran(), "python to c3, cargo to head");
}

#[test]
fn cargo_upgrade_then_python_continues_then_cargo_downgrades_to_base() {
    let Some(server) = server("cargo_upgrade_then_python_continues_then_cargo_downgrades_to_base")
    else {
        return;
    };
    let ours = Project::new(&server, "cargo_then_py");
    let twin = Project::new(&server, "cargo_then_py_twin");
    // d4 depends on c3: both tools must pull c3 in, leaving one row, d4.
    ours.ours(&["upgrade", "d4"]).ok();
    twin.py(&["upgrade", "d4"]).ok();
    assert_same_state(&ours, &twin, "upgrade d4");
    ours.py(&["upgrade", "head"]).ok();
    twin.py(&["upgrade", "head"]).ok();
    assert_same_state(&ours, &twin, "cargo to d4, python to head");
    assert_ran_once_in_order(&ours.ran(), "cargo to d4, python to head");
    ours.ours(&["downgrade", "base"]).ok();
    twin.py(&["downgrade", "base"]).ok();
    assert_same_state(&ours, &twin, "cargo downgrade base");
    assert!(ours.version_rows().is_empty());
    assert!(
        !ours.has_table("users"),
        "downgrade base left the users table"
    );
}

#[test]
fn stamps_cross_over_both_ways() {
    let Some(server) = server("stamps_cross_over_both_ways") else {
        return;
    };
    let ours = Project::new(&server, "stamps");
    let twin = Project::new(&server, "stamps_twin");
    // One branch stamped (c3, label `posts`): the row says the other branch is not applied.
    ours.ours(&["stamp", "c3"]).ok();
    twin.py(&["stamp", "c3"]).ok();
    assert_eq!(ours.version_rows(), ["c3"]);
    assert_same_state(&ours, &twin, "stamp c3");
    assert!(ours.ran().is_empty(), "a stamp ran migrations");
    // Python runs the other branch and the merge from our row; ours reads the result and
    // stamps back down across the merge.
    ours.py(&["upgrade", "e5"]).ok();
    twin.py(&["upgrade", "e5"]).ok();
    assert_same_state(&ours, &twin, "python upgrade e5 after our stamp");
    ours.ours(&["stamp", "b2"]).ok();
    twin.py(&["stamp", "b2"]).ok();
    assert_same_state(&ours, &twin, "cargo stamp b2 from e5");
    ours.ours(&["stamp", "base"]).ok();
    twin.py(&["stamp", "base"]).ok();
    assert_same_state(&ours, &twin, "cargo stamp base");
}

#[test]
fn version_table_ddl_is_python_alembics() {
    let Some(server) = server("version_table_ddl_is_python_alembics") else {
        return;
    };
    for (how, args) in [
        ("upgrade", &["upgrade", "a1"][..]),
        ("stamp", &["stamp", "b2"][..]),
    ] {
        let ours = Project::new(&server, &format!("ddl_{how}"));
        let twin = Project::new(&server, &format!("ddl_{how}_twin"));
        ours.ours(args).ok();
        twin.py(args).ok();
        let shape = ours.version_table_shape();
        assert_eq!(
            shape,
            twin.version_table_shape(),
            "`{how}`: alembic_version differs from Python Alembic's (left: ours)"
        );
        // The facts the SPEC names, spelled out so a failure says which one broke.
        assert_eq!(
            shape,
            [
                "version_num|character varying|32|NO|",
                "alembic_version_pkc|PRIMARY KEY|version_num",
            ],
            "`{how}`: alembic_version is not version_num varchar(32) not null with \
             primary key alembic_version_pkc"
        );
        assert_eq!(ours.version_rows(), twin.version_rows());
    }
}
