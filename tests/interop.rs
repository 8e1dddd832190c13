//! Interop with the real Python Alembic on one SQLite file (SPEC section 6): a database migrated
//! by Python Alembic is continued by `cargo alembic`, and a database upgraded (downgraded,
//! stamped) by `cargo alembic` reads as current to Python Alembic, which continues it.
//!
//! Every project here holds one revision graph twice, side by side in `migrations/versions`:
//! Python migrations (`<id>.py`, one `op.execute(...)` per statement) and our `.sql` scripts
//! (SPEC section 4) with the same ids and the same SQL; `alembic.ini` and `alembic.toml` point at
//! the same `app.db`. Each revision's SQL also appends a row to `ran_log`, a table made outside
//! both tools' version control, so a test sees which revisions ran, in which order, whichever
//! tool ran them.
//!
//! What is right comes from Alembic itself, never from a hand-made table: each scenario runs
//! beside a twin project driven by Python Alembic alone through the same steps, and the two must
//! end with the same `alembic_version` rows, the same schema, the same set of revisions run, and
//! the same `alembic current` output.
//!
//! Environment: `ALEMBIC_PYTHON` (default `python3`) is the interpreter with `alembic` installed
//! (`pip install -r tests/requirements.txt`); Alembic runs as `$ALEMBIC_PYTHON -m alembic`.
//! Without it every test here prints a loud SKIPPED notice on stderr and passes, unless
//! `ALEMBIC_TEST_REQUIRE_ALL=1` (set by CI), which turns the missing tool into a failure.
//! `INTEROP_KEEP=1` keeps each project folder (printed on stderr) for rerunning a step by hand.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rusqlite::{Connection, OpenFlags};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// The revision graph, written once and rendered for both tools.
// ---------------------------------------------------------------------------------------------

/// One revision: its place in the graph and its SQL, the same for both tools.
struct Rev {
    id: &'static str,
    message: &'static str,
    down: &'static [&'static str],
    labels: &'static [&'static str],
    depends_on: &'static [&'static str],
    up: &'static [&'static str],
    down_sql: &'static [&'static str],
}

/// One lineage with everything SPEC section 6 must survive: a linear start (a1, b2), a branch
/// point (b2) whose two branches are c3 (branch label `posts`) and d4 (which depends_on c3, its
/// sibling), a merge (e5) and a revision after the merge (f6). One head: f6.
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
        up: &["ALTER TABLE users ADD COLUMN email TEXT"],
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

/// A second lineage (its own base, branch label `stats`) whose s2 depends_on d4 in MAIN: with it
/// the scripts have two heads, f6 and s2.
const STATS: &[Rev] = &[
    Rev {
        id: "s1",
        message: "create stats",
        down: &[],
        labels: &["stats"],
        depends_on: &[],
        up: &["CREATE TABLE stats (name TEXT PRIMARY KEY, value INTEGER)"],
        down_sql: &["DROP TABLE stats"],
    },
    Rev {
        id: "s2",
        message: "create tag_stats",
        down: &["s1"],
        labels: &[],
        depends_on: &["d4"],
        up: &["CREATE TABLE tag_stats (tag_id INTEGER PRIMARY KEY, uses INTEGER NOT NULL)"],
        down_sql: &["DROP TABLE tag_stats"],
    },
];

/// A lineage of its own whose ids use the whole width of `version_num` (32 characters) and
/// upper case, for the tests with a custom version table.
const WIDE: &[Rev] = &[
    Rev {
        id: "Wide_0123456789abcdefABCDEF_base",
        message: "create wide",
        down: &[],
        labels: &["wide"],
        depends_on: &[],
        up: &["CREATE TABLE wide (id INTEGER PRIMARY KEY)"],
        down_sql: &["DROP TABLE wide"],
    },
    Rev {
        id: "Wide_0123456789abcdefABCDEF_next",
        message: "widen wide",
        down: &["Wide_0123456789abcdefABCDEF_base"],
        labels: &[],
        depends_on: &["a1"],
        up: &["ALTER TABLE wide ADD COLUMN note TEXT"],
        down_sql: &["ALTER TABLE wide DROP COLUMN note"],
    },
];

/// A revision after f6 whose second statement fails, for runs that stop half-way.
const BROKEN: &[Rev] = &[Rev {
    id: "g7",
    message: "broken",
    down: &["f6"],
    labels: &[],
    depends_on: &[],
    up: &[
        "CREATE TABLE g7_table (id INTEGER PRIMARY KEY)",
        "INSERT INTO no_such_table (id) VALUES (1)",
    ],
    down_sql: &["DROP TABLE g7_table"],
}];

/// A revision after f6 that exists only as a Python migration: a database Python Alembic
/// upgraded past what the `.sql` scripts know.
const PYTHON_ONLY: Rev = Rev {
    id: "h8",
    message: "python only",
    down: &["f6"],
    labels: &[],
    depends_on: &[],
    up: &["CREATE TABLE h8_table (id INTEGER PRIMARY KEY)"],
    down_sql: &["DROP TABLE h8_table"],
};

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

/// A Python string literal (the SQL here holds single quotes, so use double ones).
fn py_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Alembic's spelling of a revision-list attribute: None, one string, or a tuple.
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
    format!(
        "\"\"\"{msg}\n\nRevision ID: {id}\nRevises: {revises}\n\"\"\"\nfrom alembic import op\n\n\
         revision = {rid}\ndown_revision = {down}\nbranch_labels = {labels}\ndepends_on = {deps}\n\n\n\
         def upgrade():\n{up}\n\ndef downgrade():\n{dn}",
        msg = rev.message,
        id = rev.id,
        revises = rev.down.join(", "),
        rid = py_str(rev.id),
        down = py_ids(rev.down),
        labels = if rev.labels.is_empty() {
            "None".to_string()
        } else {
            // A tuple even for one label, the way `alembic revision --branch-label` writes it.
            format!(
                "({},)",
                rev.labels
                    .iter()
                    .map(|s| py_str(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        deps = py_ids(rev.depends_on),
        up = body(upgrade_statements(rev)),
        dn = body(downgrade_statements(rev)),
    )
}

/// The same revision as a SPEC section 4 script.
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

/// env.py for SQLite online runs; without fileConfig(), so Alembic prints no log lines and its
/// stdout holds only what the command reports. It takes `version_table` and
/// `transaction_per_migration` from alembic.ini, as alembic.toml gives them to us.
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
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=config.get_main_option(\"version_table\", \"alembic_version\"),
        transaction_per_migration=config.get_main_option(
            \"transaction_per_migration\", \"false\"
        ) == \"true\",
    )
    with context.begin_transaction():
        context.run_migrations()
";

const ALEMBIC_INI: &str = "[alembic]\n\
script_location = %(here)s/migrations\n\
sqlalchemy.url = sqlite:///%(here)s/app.db\n";

const ALEMBIC_TOML: &str = "[alembic]\n\
script_location = \"migrations\"\n\
url = \"sqlite:///app.db\"\n";

// ---------------------------------------------------------------------------------------------
// The tools.
// ---------------------------------------------------------------------------------------------

fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        .unwrap_or(false)
}

fn python() -> String {
    std::env::var("ALEMBIC_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Alembic's version when `$ALEMBIC_PYTHON -m alembic` can run, else why not. Probed once.
fn probe_alembic() -> &'static Result<String, String> {
    static PROBE: OnceLock<Result<String, String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let out = Command::new(python())
            .args([
                "-c",
                "import alembic, sqlalchemy; import alembic.command; print(alembic.__version__)",
            ])
            .output()
            .map_err(|e| format!("cannot run `{}`: {e}", python()))?;
        if !out.status.success() {
            return Err(format!(
                "`{} -c 'import alembic, sqlalchemy'` failed: {}",
                python(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    })
}

/// True when Python Alembic is there. Otherwise fails under ALEMBIC_TEST_REQUIRE_ALL=1, or says
/// loudly on stderr that `test` did not run.
fn alembic_available(test: &str) -> bool {
    match probe_alembic() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                !env_flag("ALEMBIC_TEST_REQUIRE_ALL"),
                "ALEMBIC_TEST_REQUIRE_ALL=1 but Python Alembic is missing: {why}\n\
                 install it with: {} -m pip install -r tests/requirements.txt",
                python()
            );
            // Straight to the stderr handle: libtest captures eprintln!, and a skip must be
            // seen in a plain `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPED: interop test `{test}` against Python Alembic did NOT run.\n\
                 !!! {why}\n\
                 !!! Install it: {} -m pip install -r tests/requirements.txt\n\
                 !!! (or point ALEMBIC_PYTHON at an interpreter that has it).\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
                python()
            );
            false
        }
    }
}

/// What one command did.
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

    /// The non-empty stdout lines, trimmed and sorted (Alembic prints several heads in set order).
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

    /// The revision id opening each stdout line (`current`, `heads` output).
    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lines()
            .iter()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        ids.sort();
        ids
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
// A project holding both tools' migrations over one SQLite file.
// ---------------------------------------------------------------------------------------------

struct Project {
    dir: TempDir,
    revs: Vec<&'static Rev>,
    version_table: String,
}

/// Settings both tools' configurations get, each in its own syntax.
#[derive(Clone, Copy, Default)]
struct Settings {
    /// None: the default, `alembic_version`.
    version_table: Option<&'static str>,
    transaction_per_migration: bool,
}

/// Rows of the audit table, `(revision, operation)` in insertion order.
type HistoryRows = Vec<(String, String)>;

impl Project {
    fn new(lineages: &[&'static [Rev]]) -> Project {
        Project::with(lineages, Settings::default())
    }

    fn with(lineages: &[&'static [Rev]], settings: Settings) -> Project {
        // INTEROP_KEEP=1 keeps the projects to rerun either tool in them by hand.
        let keep = env_flag("INTEROP_KEEP");
        let dir = tempfile::Builder::new()
            .prefix("interop-")
            .disable_cleanup(keep)
            .tempdir()
            .expect("temp dir");
        if keep {
            eprintln!("interop: keeping {}", dir.path().display());
        }
        let revs: Vec<&'static Rev> = lineages.iter().flat_map(|l| l.iter()).collect();
        let versions = dir.path().join("migrations").join("versions");
        fs::create_dir_all(&versions).expect("create migrations/versions");
        let mut ini = ALEMBIC_INI.to_string();
        let mut toml = ALEMBIC_TOML.to_string();
        if let Some(table) = settings.version_table {
            ini.push_str(&format!("version_table = {table}\n"));
            toml.push_str(&format!("version_table = \"{table}\"\n"));
        }
        if settings.transaction_per_migration {
            ini.push_str("transaction_per_migration = true\n");
            toml.push_str("transaction_per_migration = true\n");
        }
        fs::write(dir.path().join("alembic.ini"), ini).expect("write alembic.ini");
        fs::write(dir.path().join("alembic.toml"), toml).expect("write alembic.toml");
        fs::write(dir.path().join("migrations").join("env.py"), ENV_PY).expect("write env.py");
        for rev in &revs {
            fs::write(
                versions.join(format!("{}.py", rev.id)),
                python_migration(rev),
            )
            .expect("write .py migration");
            fs::write(versions.join(format!("{}.sql", rev.id)), sql_script(rev))
                .expect("write .sql script");
        }
        let project = Project {
            dir,
            revs,
            version_table: settings
                .version_table
                .unwrap_or("alembic_version")
                .to_string(),
        };
        let conn = Connection::open(project.db()).expect("create app.db");
        conn.execute_batch(
            "CREATE TABLE ran_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
             rev TEXT NOT NULL, direction TEXT NOT NULL)",
        )
        .expect("create ran_log");
        project
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn db(&self) -> PathBuf {
        self.root().join("app.db")
    }

    fn rev(&self, id: &str) -> &'static Rev {
        self.revs
            .iter()
            .copied()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no revision {id} in this project"))
    }

    /// Python Alembic, as a user runs it: `python -m alembic -c alembic.ini ARGS`.
    fn py(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(python());
        cmd.arg("-m")
            .arg("alembic")
            .arg("-c")
            .arg(self.root().join("alembic.ini"))
            .args(args)
            .current_dir(self.root())
            // Alembic prints several heads in set order; a fixed seed keeps failures repeatable.
            .env("PYTHONHASHSEED", "0");
        run(cmd, format!("python -m alembic {}", args.join(" ")))
    }

    /// Our binary, as cargo runs it: `cargo-alembic alembic ARGS` in the project folder.
    fn ours(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-alembic"));
        cmd.arg("alembic")
            .args(args)
            .current_dir(self.root())
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG");
        run(cmd, format!("cargo alembic {}", args.join(" ")))
    }

    /// Our audit table: the version table's name with `_history` appended.
    fn history_table(&self) -> String {
        format!("{}_history", self.version_table)
    }

    fn conn(&self) -> Connection {
        Connection::open_with_flags(self.db(), OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open app.db")
    }

    fn has_table(&self, name: &str) -> bool {
        self.conn()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .expect("read sqlite_master")
            > 0
    }

    /// The alembic_version rows, sorted; None when the table does not exist.
    fn version_rows(&self) -> Option<Vec<String>> {
        if !self.has_table(&self.version_table) {
            return None;
        }
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!("SELECT version_num FROM {}", self.version_table))
            .expect("prepare");
        let mut rows: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query alembic_version")
            .collect::<Result<_, _>>()
            .expect("read alembic_version");
        rows.sort();
        Some(rows)
    }

    /// Every `(rev, direction)` the migrations logged, in the order they ran.
    fn ran(&self) -> Vec<(String, String)> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT rev, direction FROM ran_log ORDER BY seq")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .expect("query ran_log")
            .collect::<Result<_, _>>()
            .expect("read ran_log");
        rows
    }

    /// The audit table's rows; None when it does not exist (a database only Python touched).
    fn history(&self) -> Option<HistoryRows> {
        let table = self.history_table();
        if !self.has_table(&table) {
            return None;
        }
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT revision, operation FROM {table} ORDER BY id"
            ))
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .expect("query the history table")
            .collect::<Result<_, _>>()
            .expect("read the history table");
        Some(rows)
    }

    /// The migrations' own schema: every table and index but the tools' and the test's own,
    /// with its SQL whitespace-normalised.
    fn schema(&self) -> Vec<(String, String, String)> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT type, name, coalesce(sql, '') FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' AND tbl_name NOT IN ('ran_log', ?1, ?2) \
                 ORDER BY type, name",
            )
            .expect("prepare");
        let rows = stmt
            .query_map([&self.version_table, &self.history_table()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    normalise_sql(&r.get::<_, String>(2)?),
                ))
            })
            .expect("query sqlite_master")
            .collect::<Result<_, _>>()
            .expect("read sqlite_master");
        rows
    }

    /// `CREATE TABLE` text of a table as SQLite stored it.
    fn table_sql(&self, name: &str) -> Option<String> {
        self.conn()
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, String>(0),
            )
            .ok()
    }

    /// Creates a table behind both tools' backs (a database that predates migrations).
    fn execute(&self, sql: &str) {
        Connection::open(self.db())
            .and_then(|c| c.execute_batch(sql))
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
    }

    fn table_names(&self) -> BTreeSet<String> {
        self.schema()
            .into_iter()
            .filter(|(kind, _, _)| kind == "table")
            .map(|(_, name, _)| name)
            .collect()
    }
}

/// One line, single spaces, no spaces inside parentheses or before commas: SQLite keeps the
/// DDL text as written, and the two tools may indent differently.
fn normalise_sql(sql: &str) -> String {
    let collapsed = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" ,", ",")
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the scenarios.
// ---------------------------------------------------------------------------------------------

fn rows_after(before: usize, all: &[(String, String)]) -> Vec<(String, String)> {
    all[before..].to_vec()
}

fn ids_of(rows: &[(String, String)]) -> BTreeSet<String> {
    rows.iter().map(|(r, _)| r.clone()).collect()
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

/// Each step of `steps` ran in an order Alembic could have run it, starting from `applied`:
/// a revision goes up only after its down revisions and dependencies, and down only when no
/// applied revision still needs it (as a down revision or a dependency).
fn assert_valid_order(
    project: &Project,
    applied: &BTreeSet<String>,
    steps: &[(String, String)],
    what: &str,
) {
    let mut applied = applied.clone();
    for (i, (id, dir)) in steps.iter().enumerate() {
        let rev = project.rev(id);
        if dir == "up" {
            for needed in rev.down.iter().chain(rev.depends_on) {
                assert!(
                    applied.contains(*needed),
                    "{what}: step {i} upgraded {id} before {needed}, which it needs\nsteps: {steps:?}"
                );
            }
            assert!(
                applied.insert(id.clone()),
                "{what}: {id} upgraded twice\nsteps: {steps:?}"
            );
        } else {
            for other in &applied {
                let o = project.rev(other);
                assert!(
                    !o.down.contains(&id.as_str()) && !o.depends_on.contains(&id.as_str()),
                    "{what}: step {i} downgraded {id} while {other}, which needs it, was applied\n\
                     steps: {steps:?}"
                );
            }
            assert!(
                applied.remove(id),
                "{what}: {id} downgraded while not applied\nsteps: {steps:?}"
            );
        }
    }
}

/// Python Alembic reads `ours` exactly as it reads `twin`, which only Python Alembic touched:
/// the same `alembic current` lines, and every head marked `(head)` in both.
fn assert_python_reads_same(ours: &Project, twin: &Project, what: &str) -> Out {
    let theirs = twin.py(&["current"]).ok();
    let read = ours.py(&["current"]).ok();
    assert_eq!(
        read.lines(),
        theirs.lines(),
        "{what}: Python `alembic current` reads the database cargo alembic left differently \
         from the one Python Alembic left\n--- python current on ours stderr:\n{}",
        read.stderr
    );
    read
}

/// `current` as both tools print it on one database: the same lines.
fn assert_tools_agree_on_current(project: &Project, what: &str) -> Out {
    let python = project.py(&["current"]).ok();
    let ours = project.ours(&["current"]).ok();
    assert_eq!(
        ours.lines(),
        python.lines(),
        "{what}: `cargo alembic current` and Python `alembic current` differ on one database"
    );
    python
}

/// The database `ours` and its twin `twin` end alike: rows, schema, applied revisions.
fn assert_same_state(ours: &Project, twin: &Project, what: &str) {
    assert_eq!(
        ours.version_rows().unwrap_or_default(),
        twin.version_rows().unwrap_or_default(),
        "{what}: alembic_version rows differ (left: after cargo alembic, right: Python Alembic only)"
    );
    assert_eq!(
        ours.schema(),
        twin.schema(),
        "{what}: schema differs (left: after cargo alembic, right: Python Alembic only)"
    );
    assert_eq!(
        applied_by_log(&ours.ran()),
        applied_by_log(&twin.ran()),
        "{what}: the applied revisions differ (left: after cargo alembic, right: Python Alembic only)"
    );
}

/// `alembic heads` of the scripts, as ids.
fn python_heads(project: &Project) -> Vec<String> {
    project.py(&["heads"]).ok().ids()
}

/// Every line of `current` output marks a head.
fn assert_all_marked_head(out: &Out, what: &str) {
    let lines = out.lines();
    assert!(!lines.is_empty(), "{what}: `{}` printed nothing", out.what);
    for line in &lines {
        assert!(
            line.contains("(head)"),
            "{what}: `{}` line {line:?} lacks (head)\n{}",
            out.what,
            out.stdout
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Python Alembic migrates part-way, cargo alembic continues.
// ---------------------------------------------------------------------------------------------

fn python_then_ours_to_head(mid: &str) {
    let what = format!("python upgrade {mid}, then cargo alembic upgrade head");
    let ours = Project::new(&[MAIN]);
    let twin = Project::new(&[MAIN]);

    ours.py(&["upgrade", mid]).ok();
    twin.py(&["upgrade", mid]).ok();
    assert_tools_agree_on_current(&ours, &format!("{what} (after python upgrade {mid})"));
    assert!(
        ours.history().is_none(),
        "{what}: Python Alembic made alembic_version_history?"
    );
    let ran_before = ours.ran();
    assert!(!ran_before.is_empty(), "{what}: Python ran nothing");

    ours.ours(&["upgrade", "head"]).ok();
    let twin_before = twin.ran().len();
    twin.py(&["upgrade", "head"]).ok();

    // Our run applied exactly what Python Alembic would have applied next, in a valid order.
    let ran = ours.ran();
    let ours_steps = rows_after(ran_before.len(), &ran);
    let twin_steps = rows_after(twin_before, &twin.ran());
    assert_eq!(
        ids_of(&ours_steps),
        ids_of(&twin_steps),
        "{what}: cargo alembic ran {ours_steps:?}, Python Alembic would run {twin_steps:?}"
    );
    assert!(
        ours_steps.iter().all(|(_, d)| d == "up"),
        "{what}: {ours_steps:?}"
    );
    assert_valid_order(&ours, &applied_by_log(&ran_before), &ours_steps, &what);
    assert_same_state(&ours, &twin, &what);

    // The version rows are what Python Alembic calls the heads of the scripts.
    assert_eq!(
        ours.version_rows().unwrap_or_default(),
        python_heads(&ours),
        "{what}: alembic_version rows are not the heads Python Alembic reports"
    );
    let tables = ours.table_names();
    for t in ["users", "posts", "tags", "post_tags"] {
        assert!(tables.contains(t), "{what}: table {t} missing: {tables:?}");
    }
    assert!(
        ours.schema()
            .iter()
            .any(|(_, name, _)| name == "ix_users_email"),
        "{what}: f6's index missing"
    );

    // The audit table was adopted: it exists now and holds only what cargo alembic applied.
    let expected_history: HistoryRows = ours_steps
        .iter()
        .map(|(id, _)| (id.clone(), "upgrade".to_string()))
        .collect();
    assert_eq!(
        ours.history(),
        Some(expected_history.clone()),
        "{what}: alembic_version_history should hold exactly cargo alembic's upgrades"
    );

    // Python Alembic reads it as current, and is not disturbed by the audit table.
    let current = assert_python_reads_same(&ours, &twin, &what);
    assert_all_marked_head(&current, &what);
    assert_eq!(current.ids(), vec!["f6".to_string()], "{what}");
    assert_tools_agree_on_current(&ours, &what);
    let history = ours.py(&["history", "--indicate-current"]).ok();
    let twin_history = twin.py(&["history", "--indicate-current"]).ok();
    assert_eq!(
        history.stdout, twin_history.stdout,
        "{what}: history differs"
    );
    ours.py(&["upgrade", "head"]).ok();
    assert_eq!(ours.ran(), ran, "{what}: Python `upgrade head` ran more");
    ours.ours(&["check"]).ok();
    assert_eq!(ours.history(), Some(expected_history), "{what}");
}

#[test]
fn python_upgrade_linear_start_then_cargo_upgrade_head() {
    if alembic_available("python_upgrade_linear_start_then_cargo_upgrade_head") {
        python_then_ours_to_head("a1");
    }
}

#[test]
fn python_upgrade_one_branch_then_cargo_upgrade_head() {
    if alembic_available("python_upgrade_one_branch_then_cargo_upgrade_head") {
        // c3 is one side of the branch at b2 (branch label `posts`).
        python_then_ours_to_head("c3");
    }
}

#[test]
fn python_upgrade_through_depends_on_then_cargo_upgrade_head() {
    if alembic_available("python_upgrade_through_depends_on_then_cargo_upgrade_head") {
        // d4 depends_on c3: Python Alembic runs c3 too; which rows it keeps is its business.
        python_then_ours_to_head("d4");
    }
}

#[test]
fn python_upgrade_to_merge_then_cargo_upgrade_head() {
    if alembic_available("python_upgrade_to_merge_then_cargo_upgrade_head") {
        python_then_ours_to_head("e5");
    }
}

// ---------------------------------------------------------------------------------------------
// 1b. cargo alembic migrates part-way, Python Alembic reads and continues, cargo goes to base.
// ---------------------------------------------------------------------------------------------

fn ours_then_python_then_ours_to_base(mid: &str) {
    let what = format!("cargo alembic upgrade {mid}, python upgrade head, cargo downgrade base");
    let ours = Project::new(&[MAIN]);
    let twin = Project::new(&[MAIN]);

    ours.ours(&["upgrade", mid]).ok();
    twin.py(&["upgrade", mid]).ok();
    let ours_first = ours.ran();
    assert_valid_order(&ours, &BTreeSet::new(), &ours_first, &what);
    assert_same_state(&ours, &twin, &format!("{what} (after cargo upgrade {mid})"));
    assert_python_reads_same(&ours, &twin, &format!("{what} (after cargo upgrade {mid})"));
    assert_tools_agree_on_current(&ours, &format!("{what} (after cargo upgrade {mid})"));

    // Python Alembic continues where we stopped, running exactly the rest.
    let n = ours.ran().len();
    let tn = twin.ran().len();
    ours.py(&["upgrade", "head"]).ok();
    twin.py(&["upgrade", "head"]).ok();
    let py_steps = rows_after(n, &ours.ran());
    assert_eq!(
        ids_of(&py_steps),
        ids_of(&rows_after(tn, &twin.ran())),
        "{what}: Python continued differently from a database cargo alembic left"
    );
    assert_same_state(&ours, &twin, &format!("{what} (after python upgrade head)"));
    let current = assert_python_reads_same(&ours, &twin, &what);
    assert_all_marked_head(&current, &what);
    assert_tools_agree_on_current(&ours, &what);
    // Python's run left the audit table alone.
    let history_after_python = ours.history();
    let expected: HistoryRows = ours_first
        .iter()
        .map(|(id, _)| (id.clone(), "upgrade".to_string()))
        .collect();
    assert_eq!(history_after_python, Some(expected.clone()), "{what}");

    // cargo alembic takes everything down, Python's revisions included.
    let n = ours.ran().len();
    let before = applied_by_log(&ours.ran());
    ours.ours(&["downgrade", "base"]).ok();
    let down_steps = rows_after(n, &ours.ran());
    assert!(
        down_steps.iter().all(|(_, d)| d == "down"),
        "{what}: {down_steps:?}"
    );
    assert_eq!(
        ids_of(&down_steps),
        ours.revs.iter().map(|r| r.id.to_string()).collect(),
        "{what}: downgrade base did not take every revision down"
    );
    assert_valid_order(&ours, &before, &down_steps, &what);
    twin.py(&["downgrade", "base"]).ok();
    assert_same_state(&ours, &twin, &format!("{what} (after downgrade base)"));
    assert_eq!(
        ours.version_rows(),
        Some(vec![]),
        "{what}: alembic_version should be empty (and still there, as Python leaves it)"
    );
    assert!(ours.table_names().is_empty(), "{what}: {:?}", ours.schema());
    let current = ours.py(&["current"]).ok();
    assert!(
        current.lines().is_empty(),
        "{what}: Python `alembic current` should print nothing at base, printed {:?}",
        current.stdout
    );
    let mut expected = expected;
    expected.extend(
        down_steps
            .iter()
            .map(|(id, _)| (id.clone(), "downgrade".to_string())),
    );
    assert_eq!(ours.history(), Some(expected), "{what}: audit rows");

    // And Python Alembic can start over on it.
    ours.py(&["upgrade", "head"]).ok();
    twin.py(&["upgrade", "head"]).ok();
    assert_same_state(&ours, &twin, &format!("{what} (python upgrade head again)"));
}

#[test]
fn cargo_upgrade_before_branch_then_python_continues() {
    if alembic_available("cargo_upgrade_before_branch_then_python_continues") {
        ours_then_python_then_ours_to_base("b2");
    }
}

#[test]
fn cargo_upgrade_through_depends_on_then_python_continues() {
    if alembic_available("cargo_upgrade_through_depends_on_then_python_continues") {
        ours_then_python_then_ours_to_base("d4");
    }
}

#[test]
fn cargo_upgrade_branch_label_then_python_continues() {
    if alembic_available("cargo_upgrade_branch_label_then_python_continues") {
        // posts@c3: the `posts` branch up to c3, by its label.
        ours_then_python_then_ours_to_base("posts@c3");
    }
}

#[test]
fn cargo_upgrade_to_merge_then_python_continues() {
    if alembic_available("cargo_upgrade_to_merge_then_python_continues") {
        ours_then_python_then_ours_to_base("e5");
    }
}

// ---------------------------------------------------------------------------------------------
// Several heads: one tool upgrades, the other reads and continues.
// ---------------------------------------------------------------------------------------------

#[test]
fn several_heads_upgraded_by_python_read_by_cargo() {
    if !alembic_available("several_heads_upgraded_by_python_read_by_cargo") {
        return;
    }
    let what = "python upgrade heads, cargo alembic current";
    let ours = Project::new(&[MAIN, STATS]);
    ours.py(&["upgrade", "heads"]).ok();
    let heads = python_heads(&ours);
    assert_eq!(heads.len(), 2, "{what}: the scripts should have 2 heads");
    assert_eq!(ours.version_rows(), Some(heads), "{what}");

    let py_current = ours.py(&["current"]).ok();
    assert_all_marked_head(&py_current, what);
    let current = ours.ours(&["current"]).ok();
    assert_eq!(
        current.lines(),
        py_current.lines(),
        "{what}: `cargo alembic current` and Python `alembic current` differ"
    );
    let ran = ours.ran();
    ours.ours(&["upgrade", "heads"]).ok();
    assert_eq!(
        ours.ran(),
        ran,
        "{what}: cargo upgrade heads after Python's ran something"
    );
    ours.ours(&["check"]).ok();
    assert_eq!(
        ours.history().unwrap_or_default(),
        vec![],
        "{what}: nothing was applied by cargo alembic"
    );

    // cargo alembic takes one branch down; Python Alembic reads the rest.
    let twin = Project::new(&[MAIN, STATS]);
    twin.py(&["upgrade", "heads"]).ok();
    let n = ours.ran().len();
    ours.ours(&["downgrade", "stats@base"]).ok();
    twin.py(&["downgrade", "stats@base"]).ok();
    let steps = rows_after(n, &ours.ran());
    assert_valid_order(&ours, &applied_by_log(&ran), &steps, what);
    assert_same_state(
        &ours,
        &twin,
        &format!("{what} (cargo downgrade stats@base)"),
    );
    assert_python_reads_same(
        &ours,
        &twin,
        &format!("{what} (cargo downgrade stats@base)"),
    );
    ours.py(&["upgrade", "heads"]).ok();
    twin.py(&["upgrade", "heads"]).ok();
    assert_same_state(
        &ours,
        &twin,
        &format!("{what} (python upgrade heads again)"),
    );
}

#[test]
fn several_heads_upgraded_by_cargo_read_by_python() {
    if !alembic_available("several_heads_upgraded_by_cargo_read_by_python") {
        return;
    }
    let what = "cargo alembic upgrade heads, python current";
    let ours = Project::new(&[MAIN, STATS]);
    let twin = Project::new(&[MAIN, STATS]);
    ours.ours(&["upgrade", "heads"]).ok();
    twin.py(&["upgrade", "heads"]).ok();
    assert_valid_order(&ours, &BTreeSet::new(), &ours.ran(), what);
    assert_same_state(&ours, &twin, what);
    assert_eq!(
        ours.version_rows(),
        Some(python_heads(&ours)),
        "{what}: rows are not Python's heads"
    );
    let current = assert_python_reads_same(&ours, &twin, what);
    assert_all_marked_head(&current, what);
    assert_eq!(current.lines().len(), 2, "{what}: {}", current.stdout);
    let ran = ours.ran();
    ours.py(&["upgrade", "heads"]).ok();
    assert_eq!(
        ours.ran(),
        ran,
        "{what}: Python upgrade heads after ours ran something"
    );

    // Python Alembic takes a branch down; cargo alembic reads and restores it.
    ours.py(&["downgrade", "posts@c3"]).ok();
    twin.py(&["downgrade", "posts@c3"]).ok();
    assert_same_state(&ours, &twin, &format!("{what} (python downgrade posts@c3)"));
    let py_current = ours.py(&["current"]).ok();
    let current = ours.ours(&["current"]).ok();
    assert_eq!(
        current.lines(),
        py_current.lines(),
        "{what}: after Python's downgrade, the two tools' `current` differ"
    );
    let n = ours.ran().len();
    let before = applied_by_log(&ours.ran());
    ours.ours(&["upgrade", "heads"]).ok();
    twin.py(&["upgrade", "heads"]).ok();
    assert_valid_order(&ours, &before, &rows_after(n, &ours.ran()), what);
    assert_same_state(&ours, &twin, &format!("{what} (cargo upgrade heads again)"));
    assert_python_reads_same(&ours, &twin, what);
}

#[test]
fn one_branch_by_python_the_other_by_cargo() {
    if !alembic_available("one_branch_by_python_the_other_by_cargo") {
        return;
    }
    let what = "python upgrade stats@head, cargo alembic upgrade heads";
    let ours = Project::new(&[MAIN, STATS]);
    let twin = Project::new(&[MAIN, STATS]);
    // s2 depends_on d4: Python runs a1..d4 and the stats branch.
    ours.py(&["upgrade", "stats@head"]).ok();
    twin.py(&["upgrade", "stats@head"]).ok();
    let py_current = ours.py(&["current"]).ok();
    assert_eq!(
        ours.ours(&["current"]).ok().lines(),
        py_current.lines(),
        "{what}: the tools read Python's partial upgrade differently"
    );
    let n = ours.ran().len();
    let before = applied_by_log(&ours.ran());
    ours.ours(&["upgrade", "heads"]).ok();
    let tn = twin.ran().len();
    twin.py(&["upgrade", "heads"]).ok();
    let steps = rows_after(n, &ours.ran());
    assert_eq!(
        ids_of(&steps),
        ids_of(&rows_after(tn, &twin.ran())),
        "{what}: cargo ran {steps:?}"
    );
    assert_valid_order(&ours, &before, &steps, what);
    assert_same_state(&ours, &twin, what);
    let current = assert_python_reads_same(&ours, &twin, what);
    assert_all_marked_head(&current, what);
    assert_eq!(
        ours.history(),
        Some(
            steps
                .iter()
                .map(|(id, _)| (id.clone(), "upgrade".to_string()))
                .collect()
        ),
        "{what}: audit rows"
    );
}

// ---------------------------------------------------------------------------------------------
// stamp, both ways.
// ---------------------------------------------------------------------------------------------

#[test]
fn python_stamps_an_existing_database_cargo_upgrades() {
    if !alembic_available("python_stamps_an_existing_database_cargo_upgrades") {
        return;
    }
    let what = "python stamp a1 on a hand-made schema, cargo alembic upgrade head";
    let ours = Project::new(&[MAIN]);
    let twin = Project::new(&[MAIN]);
    // The database predates migrations: a1's table exists, made by hand.
    for p in [&ours, &twin] {
        p.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
        p.py(&["stamp", "a1"]).ok();
    }
    assert!(ours.ran().is_empty(), "{what}: stamp ran SQL");
    ours.ours(&["upgrade", "head"]).ok();
    twin.py(&["upgrade", "head"]).ok();
    let steps = ours.ran();
    assert_eq!(
        ids_of(&steps),
        ids_of(&twin.ran()),
        "{what}: cargo ran {steps:?}"
    );
    assert!(!ids_of(&steps).contains("a1"), "{what}: a1 re-run");
    let applied: BTreeSet<String> = ["a1".to_string()].into();
    assert_valid_order(&ours, &applied, &steps, what);
    assert_eq!(ours.version_rows(), twin.version_rows(), "{what}");
    assert_eq!(ours.schema(), twin.schema(), "{what}");
    let current = assert_python_reads_same(&ours, &twin, what);
    assert_all_marked_head(&current, what);
    let history = ours.history().unwrap_or_default();
    assert_eq!(
        ids_of(&history),
        ids_of(&steps),
        "{what}: the audit table should hold only cargo's upgrades"
    );
}

#[test]
fn cargo_stamps_python_reads() {
    if !alembic_available("cargo_stamps_python_reads") {
        return;
    }
    let what = "cargo alembic stamp after python upgrade head";
    let ours = Project::new(&[MAIN]);
    let twin = Project::new(&[MAIN]);
    ours.py(&["upgrade", "head"]).ok();
    twin.py(&["upgrade", "head"]).ok();
    let ran = ours.ran();

    // Back to the middle of a branch, across the merge.
    ours.ours(&["stamp", "c3"]).ok();
    twin.py(&["stamp", "c3"]).ok();
    assert_eq!(
        ours.version_rows(),
        twin.version_rows(),
        "{what}: stamp c3 from f6"
    );
    assert_python_reads_same(&ours, &twin, &format!("{what} (stamp c3)"));
    assert_tools_agree_on_current(&ours, &format!("{what} (stamp c3)"));

    // Forward again to head.
    ours.ours(&["stamp", "head"]).ok();
    twin.py(&["stamp", "head"]).ok();
    assert_eq!(
        ours.version_rows(),
        twin.version_rows(),
        "{what}: stamp head"
    );
    let current = assert_python_reads_same(&ours, &twin, &format!("{what} (stamp head)"));
    assert_all_marked_head(&current, what);

    // --purge: a fresh start from whatever the table holds.
    ours.ours(&["stamp", "--purge", "b2"]).ok();
    twin.py(&["stamp", "--purge", "b2"]).ok();
    assert_eq!(
        ours.version_rows(),
        twin.version_rows(),
        "{what}: stamp --purge b2"
    );
    assert_python_reads_same(&ours, &twin, &format!("{what} (stamp --purge b2)"));
    ours.ours(&["stamp", "head"]).ok();

    assert_eq!(ours.ran(), ran, "{what}: stamp ran SQL");
    let history = ours.history().unwrap_or_default();
    assert!(
        !history.is_empty() && history.iter().all(|(_, op)| op == "stamp"),
        "{what}: the audit table should hold only stamps: {history:?}"
    );
    ours.py(&["upgrade", "head"]).ok();
    assert_eq!(
        ours.ran(),
        ran,
        "{what}: Python upgrade head after our stamp ran SQL"
    );
}

#[test]
fn several_heads_stamped_by_one_tool_read_by_the_other() {
    if !alembic_available("several_heads_stamped_by_one_tool_read_by_the_other") {
        return;
    }
    let what = "stamp of two heads";
    // cargo stamps both heads by id on a fresh database (creating the version table).
    let ours = Project::new(&[MAIN, STATS]);
    let twin = Project::new(&[MAIN, STATS]);
    ours.ours(&["stamp", "f6", "s2"]).ok();
    twin.py(&["stamp", "f6", "s2"]).ok();
    assert_eq!(
        ours.version_rows(),
        twin.version_rows(),
        "{what}: cargo stamp f6 s2"
    );
    let current = assert_python_reads_same(&ours, &twin, what);
    assert_all_marked_head(&current, what);
    assert_eq!(current.lines().len(), 2, "{what}: {}", current.stdout);
    ours.py(&["upgrade", "heads"]).ok();
    assert!(
        ours.ran().is_empty(),
        "{what}: Python upgraded a stamped database"
    );

    // Python stamps `heads`; cargo reads it.
    let theirs = Project::new(&[MAIN, STATS]);
    theirs.py(&["stamp", "heads"]).ok();
    let py_current = theirs.py(&["current"]).ok();
    assert_eq!(
        theirs.ours(&["current"]).ok().lines(),
        py_current.lines(),
        "{what}: cargo reads Python's `stamp heads` differently"
    );
    theirs.ours(&["upgrade", "heads"]).ok();
    theirs.ours(&["check"]).ok();
    assert!(
        theirs.ran().is_empty(),
        "{what}: cargo upgraded a stamped database"
    );

    // Down to one branch point with --purge, then Python upgrades from there.
    ours.ours(&["stamp", "--purge", "b2"]).ok();
    twin.py(&["stamp", "--purge", "b2"]).ok();
    assert_eq!(ours.version_rows(), Some(vec!["b2".to_string()]), "{what}");
    assert_python_reads_same(&ours, &twin, what);
}

// ---------------------------------------------------------------------------------------------
// 2. The version table's DDL.
// ---------------------------------------------------------------------------------------------

/// What `PRAGMA table_info` and `index_list` say of a table: columns and their key index.
fn table_shape(project: &Project, table: &str) -> (Vec<String>, Vec<String>) {
    let conn = project.conn();
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .expect("prepare");
    let columns = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} {} notnull={} pk={}",
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(5)?
            ))
        })
        .expect("table_info")
        .collect::<Result<Vec<_>, _>>()
        .expect("read table_info");
    let mut stmt = conn
        .prepare(&format!("PRAGMA index_list({table})"))
        .expect("prepare");
    let indexes = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} unique={} origin={}",
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?
            ))
        })
        .expect("index_list")
        .collect::<Result<Vec<_>, _>>()
        .expect("read index_list");
    (columns, indexes)
}

/// The version table either tool makes, first by `upgrade`, then by `stamp`, is the same.
fn check_version_table_ddl(settings: Settings) {
    let table = settings.version_table.unwrap_or("alembic_version");
    for (how, args) in [
        ("upgrade", &["upgrade", "a1"][..]),
        ("stamp", &["stamp", "b2"][..]),
    ] {
        let theirs = Project::with(&[MAIN], settings);
        let ours = Project::with(&[MAIN], settings);
        theirs.py(args).ok();
        ours.ours(args).ok();
        let python_sql = theirs
            .table_sql(table)
            .unwrap_or_else(|| panic!("Python Alembic {how} made no {table}"));
        let our_sql = ours
            .table_sql(table)
            .unwrap_or_else(|| panic!("cargo alembic {how} made no {table}"));
        assert_eq!(
            normalise_sql(&our_sql),
            normalise_sql(&python_sql),
            "{table} made by `{how}` differs from Python Alembic's\n\
             --- ours:\n{our_sql}\n--- Python Alembic:\n{python_sql}"
        );
        // The facts the SPEC names, spelled out so a failure says which one broke.
        let ours_norm = normalise_sql(&our_sql);
        for fact in [
            "version_num VARCHAR(32) NOT NULL".to_string(),
            format!("CONSTRAINT {table}_pkc PRIMARY KEY (version_num)"),
        ] {
            assert!(
                ours_norm.contains(&fact),
                "`{how}`: our {table} lacks `{fact}`: {our_sql}"
            );
        }
        assert_eq!(
            table_shape(&ours, table),
            table_shape(&theirs, table),
            "`{how}`: columns or key index of {table} differ from Python Alembic's"
        );
        assert!(
            theirs.history().is_none(),
            "Python Alembic made {}?",
            theirs.history_table()
        );
        assert!(
            ours.history().is_some(),
            "cargo alembic {how} made no {}",
            ours.history_table()
        );
        if table != "alembic_version" {
            assert!(
                !ours.has_table("alembic_version") && !theirs.has_table("alembic_version"),
                "a version_table of {table} still made alembic_version"
            );
        }
    }
}

#[test]
fn version_table_ddl_is_python_alembics() {
    if alembic_available("version_table_ddl_is_python_alembics") {
        check_version_table_ddl(Settings::default());
    }
}

#[test]
fn custom_version_table_ddl_is_python_alembics() {
    if alembic_available("custom_version_table_ddl_is_python_alembics") {
        check_version_table_ddl(Settings {
            version_table: Some("app_versions"),
            ..Settings::default()
        });
    }
}

#[test]
fn scripts_of_both_tools_describe_one_graph() {
    if !alembic_available("scripts_of_both_tools_describe_one_graph") {
        return;
    }
    // The premise of every test above: both tools see the same graph in the shared folder
    // (our loader skips the .py files and Python's __pycache__, Alembic skips the .sql files).
    let project = Project::new(&[MAIN, STATS]);
    // What a Python project's versions folder also holds: compiled modules in __pycache__.
    let cache = project.root().join("migrations/versions/__pycache__");
    fs::create_dir_all(&cache).expect("create __pycache__");
    fs::write(cache.join("a1.cpython-311.pyc"), b"\x00").expect("write .pyc");
    let py_heads = project.py(&["heads"]).ok();
    let heads = project.ours(&["heads"]).ok();
    assert_eq!(
        heads.ids(),
        py_heads.ids(),
        "`cargo alembic heads` and Python `alembic heads` disagree"
    );
    assert_eq!(heads.ids(), vec!["f6".to_string(), "s2".to_string()]);
    // And read one database alike: Python migrated it part-way (s2 depends_on d4, which
    // `current` lists beside the head).
    project.py(&["upgrade", "stats@head"]).ok();
    assert_tools_agree_on_current(&project, "after python upgrade stats@head");
    assert_eq!(
        project.ours(&["history", "--indicate-current"]).ok().stdout,
        project.py(&["history", "--indicate-current"]).ok().stdout,
        "`history --indicate-current` differs between the tools on one database"
    );
    let py_branches = project.py(&["branches"]).ok();
    let branches = project.ours(&["branches"]).ok();
    assert_eq!(
        branches.ids(),
        py_branches.ids(),
        "`cargo alembic branches` and Python `alembic branches` disagree"
    );
}

// ---------------------------------------------------------------------------------------------
// A custom version table, ids 32 characters wide.
// ---------------------------------------------------------------------------------------------

#[test]
fn custom_version_table_and_full_width_ids_cross_over() {
    if !alembic_available("custom_version_table_and_full_width_ids_cross_over") {
        return;
    }
    let what = "version_table = app_versions, 32-character ids";
    for rev in WIDE {
        assert_eq!(rev.id.len(), 32, "{} should use the full width", rev.id);
    }
    let settings = Settings {
        version_table: Some("app_versions"),
        ..Settings::default()
    };
    let ours = Project::with(&[MAIN, WIDE], settings);
    let twin = Project::with(&[MAIN, WIDE], settings);
    ours.py(&["upgrade", "wide@base"]).ok();
    twin.py(&["upgrade", "wide@base"]).ok();
    assert_tools_agree_on_current(&ours, &format!("{what} (python upgrade wide@base)"));
    let n = ours.ran().len();
    let before = applied_by_log(&ours.ran());
    ours.ours(&["upgrade", "heads"]).ok();
    twin.py(&["upgrade", "heads"]).ok();
    assert_valid_order(&ours, &before, &rows_after(n, &ours.ran()), what);
    assert_same_state(&ours, &twin, what);
    let current = assert_python_reads_same(&ours, &twin, what);
    assert_all_marked_head(&current, what);
    assert!(
        ours.version_rows()
            .unwrap_or_default()
            .contains(&"Wide_0123456789abcdefABCDEF_next".to_string()),
        "{what}: {:?}",
        ours.version_rows()
    );
    assert!(
        !ours.has_table("alembic_version"),
        "{what}: cargo alembic made alembic_version despite version_table"
    );
    ours.ours(&["downgrade", "base"]).ok();
    assert_eq!(ours.version_rows(), Some(vec![]), "{what}: downgrade base");
    assert!(
        ours.py(&["current"]).ok().lines().is_empty(),
        "{what}: Python reads something at base"
    );
    ours.py(&["upgrade", "heads"]).ok();
    assert_same_state(
        &ours,
        &twin,
        &format!("{what} (python upgrade heads after ours)"),
    );
}

// ---------------------------------------------------------------------------------------------
// Offline scripts (`--sql`) run by hand against the database.
// ---------------------------------------------------------------------------------------------

/// Runs an offline script the way a DBA would feed it to the database.
fn apply_script(project: &Project, sql: &str, what: &str) {
    if let Err(e) = try_apply_script(project, sql) {
        panic!("{what}: the offline script failed: {e}\n--- script:\n{sql}");
    }
}

#[test]
fn offline_script_from_base_reads_as_current_to_python() {
    if !alembic_available("offline_script_from_base_reads_as_current_to_python") {
        return;
    }
    let what = "cargo alembic upgrade head --sql, run by hand";
    let ours = Project::new(&[MAIN]);
    let twin = Project::new(&[MAIN]);
    let script = ours.ours(&["-q", "upgrade", "head", "--sql"]).ok().stdout;
    apply_script(&ours, &script, what);
    twin.py(&["upgrade", "head"]).ok();
    assert_valid_order(&ours, &BTreeSet::new(), &ours.ran(), what);
    assert_same_state(&ours, &twin, what);
    let current = assert_python_reads_same(&ours, &twin, what);
    assert_all_marked_head(&current, what);
    assert_eq!(
        normalise_sql(&ours.table_sql("alembic_version").unwrap_or_default()),
        normalise_sql(&twin.table_sql("alembic_version").unwrap_or_default()),
        "{what}: the offline script's version table differs from Python Alembic's"
    );
    let ran = ours.ran();
    ours.py(&["upgrade", "head"]).ok();
    assert_eq!(ours.ran(), ran, "{what}: Python upgrade head ran more");

    let what = "cargo alembic downgrade f6:base --sql, run by hand";
    let script = ours
        .ours(&["-q", "downgrade", "f6:base", "--sql"])
        .ok()
        .stdout;
    apply_script(&ours, &script, what);
    let steps = rows_after(ran.len(), &ours.ran());
    assert_valid_order(&ours, &applied_by_log(&ran), &steps, what);
    assert_eq!(ours.version_rows(), Some(vec![]), "{what}");
    assert!(ours.table_names().is_empty(), "{what}: {:?}", ours.schema());
    assert!(
        ours.py(&["current"]).ok().lines().is_empty(),
        "{what}: Python reads something at base"
    );
}

/// Runs an offline script, returning the database's error instead of failing the test.
fn try_apply_script(project: &Project, sql: &str) -> Result<(), String> {
    Connection::open(project.db())
        .and_then(|c| c.execute_batch(sql))
        .map_err(|e| e.to_string())
}

#[test]
fn offline_ranges_continue_a_python_database() {
    if !alembic_available("offline_ranges_continue_a_python_database") {
        return;
    }
    // (Python's preparation, our offline command, what Python does online to the twin).
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (
            &["upgrade", "c3"],
            &["upgrade", "c3:head", "--sql"],
            &["upgrade", "head"],
        ),
        (
            &["upgrade", "head"],
            &["downgrade", "f6:c3", "--sql"],
            &["downgrade", "c3"],
        ),
        (
            &["upgrade", "head"],
            &["stamp", "f6:b2", "--sql"],
            &["stamp", "b2"],
        ),
    ];
    // Every case runs before any verdict, so one report shows all that break.
    let mut failures = Vec::new();
    for (prepare, offline, online) in cases {
        let what = format!(
            "python {}, then cargo alembic {} run by hand",
            prepare.join(" "),
            offline.join(" ")
        );
        let ours = Project::new(&[MAIN]);
        let twin = Project::new(&[MAIN]);
        ours.py(prepare).ok();
        twin.py(prepare).ok();
        let before = ours.ran();
        let mut args = vec!["-q"];
        args.extend_from_slice(offline);
        let script = ours.ours(&args).ok().stdout;
        // A database only Python Alembic touched has no history table: the script must cope.
        if let Err(e) = try_apply_script(&ours, &script) {
            failures.push(format!(
                "{what}: the offline script failed: {e}\n--- script:\n{script}"
            ));
            continue;
        }
        twin.py(online).ok();
        let steps = rows_after(before.len(), &ours.ran());
        assert_valid_order(&ours, &applied_by_log(&before), &steps, &what);
        assert_same_state(&ours, &twin, &what);
        assert_python_reads_same(&ours, &twin, &what);
        let history = ours.history().unwrap_or_default();
        assert!(
            ids_of(&steps).is_subset(&ids_of(&history)),
            "{what}: the history table lacks the script's steps: {history:?}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------------
// A run that fails half-way leaves a database Python Alembic reads and continues.
// ---------------------------------------------------------------------------------------------

fn failed_run_hands_over(transaction_per_migration: bool) {
    let what = format!(
        "python upgrade c3, cargo upgrade head fails at g7 (transaction_per_migration = \
         {transaction_per_migration})"
    );
    let settings = Settings {
        transaction_per_migration,
        ..Settings::default()
    };
    let ours = Project::with(&[MAIN, BROKEN], settings);
    ours.py(&["upgrade", "c3"]).ok();
    let before = ours.ran();
    let failed = ours.ours(&["upgrade", "head"]);
    assert_eq!(
        failed.code,
        Some(1),
        "{what}: should fail\n{}\n{}",
        failed.stdout,
        failed.stderr
    );
    assert!(
        failed.stderr.contains("g7"),
        "{what}: the error should name g7: {}",
        failed.stderr
    );
    // One transaction for the run rolls everything back; one per migration keeps d4, e5, f6.
    let expected = if transaction_per_migration {
        "f6"
    } else {
        "c3"
    };
    let twin = Project::with(&[MAIN, BROKEN], settings);
    twin.py(&["upgrade", expected]).ok();
    assert_same_state(&ours, &twin, &what);
    assert_eq!(
        ours.version_rows(),
        Some(vec![expected.to_string()]),
        "{what}"
    );
    assert!(
        !ours.table_names().contains("g7_table"),
        "{what}: g7's first statement was not rolled back"
    );
    assert_python_reads_same(&ours, &twin, &what);
    assert_tools_agree_on_current(&ours, &what);
    let steps = rows_after(before.len(), &ours.ran());
    assert_eq!(
        ours.history().map(|h| ids_of(&h)).unwrap_or_default(),
        ids_of(&steps),
        "{what}: the history table should hold exactly what stayed applied"
    );

    // The author removes the broken revision; Python Alembic finishes the job.
    for ext in ["py", "sql"] {
        fs::remove_file(ours.root().join(format!("migrations/versions/g7.{ext}")))
            .expect("remove g7");
    }
    ours.py(&["upgrade", "head"]).ok();
    assert_eq!(ours.version_rows(), Some(vec!["f6".to_string()]), "{what}");
    assert_eq!(
        ids_of(&rows_after(before.len(), &ours.ran())),
        ["d4", "e5", "f6"].iter().map(|s| s.to_string()).collect(),
        "{what}: Python ran the rest exactly once"
    );
}

#[test]
fn failed_run_in_one_transaction_hands_over_to_python() {
    if alembic_available("failed_run_in_one_transaction_hands_over_to_python") {
        failed_run_hands_over(false);
    }
}

#[test]
fn failed_run_per_migration_hands_over_to_python() {
    if alembic_available("failed_run_per_migration_hands_over_to_python") {
        failed_run_hands_over(true);
    }
}

// ---------------------------------------------------------------------------------------------
// An empty version table left by Python's downgrade to base.
// ---------------------------------------------------------------------------------------------

#[test]
fn python_downgrade_base_then_cargo_upgrades() {
    if !alembic_available("python_downgrade_base_then_cargo_upgrades") {
        return;
    }
    let what = "python upgrade head + downgrade base, cargo alembic upgrade head";
    let ours = Project::new(&[MAIN]);
    let twin = Project::new(&[MAIN]);
    for p in [&ours, &twin] {
        p.py(&["upgrade", "head"]).ok();
        p.py(&["downgrade", "base"]).ok();
    }
    assert_eq!(
        ours.version_rows(),
        Some(vec![]),
        "{what}: Python leaves an empty table"
    );
    assert!(
        ours.ours(&["current"]).ok().lines().is_empty(),
        "{what}: cargo alembic current at base should print nothing"
    );
    let n = ours.ran().len();
    ours.ours(&["upgrade", "head"]).ok();
    twin.py(&["upgrade", "head"]).ok();
    let steps = rows_after(n, &ours.ran());
    assert_valid_order(&ours, &BTreeSet::new(), &steps, what);
    assert_same_state(&ours, &twin, what);
    let current = assert_python_reads_same(&ours, &twin, what);
    assert_all_marked_head(&current, what);
    assert_eq!(
        ours.history().map(|h| ids_of(&h)),
        Some(ids_of(&steps)),
        "{what}: history"
    );
}

// ---------------------------------------------------------------------------------------------
// A database ahead of the .sql scripts.
// ---------------------------------------------------------------------------------------------

#[test]
fn database_at_a_python_only_revision_is_refused_untouched() {
    if !alembic_available("database_at_a_python_only_revision_is_refused_untouched") {
        return;
    }
    let what = "Python upgraded to h8, which has no .sql script";
    let ours = Project::new(&[MAIN]);
    fs::write(
        ours.root().join("migrations/versions/h8.py"),
        python_migration(&PYTHON_ONLY),
    )
    .expect("write h8.py");
    ours.py(&["upgrade", "head"]).ok();
    assert_eq!(ours.version_rows(), Some(vec!["h8".to_string()]), "{what}");
    let ran = ours.ran();
    let schema = ours.schema();
    for args in [
        &["upgrade", "head"][..],
        &["downgrade", "-1"][..],
        &["downgrade", "base"][..],
        &["stamp", "head"][..],
        &["check"][..],
    ] {
        let out = ours.ours(args);
        assert_eq!(
            out.code,
            Some(1),
            "{what}: `{}` should fail\n{}\n{}",
            out.what,
            out.stdout,
            out.stderr
        );
        assert!(
            out.stderr.contains("h8"),
            "{what}: `{}` should name h8: {}",
            out.what,
            out.stderr
        );
        assert!(
            !out.stderr.contains("panicked"),
            "{what}: `{}` panicked: {}",
            out.what,
            out.stderr
        );
        assert_eq!(ours.ran(), ran, "{what}: `{}` ran SQL", out.what);
        assert_eq!(
            ours.schema(),
            schema,
            "{what}: `{}` changed the schema",
            out.what
        );
        assert_eq!(
            ours.version_rows(),
            Some(vec!["h8".to_string()]),
            "{what}: `{}` moved the version row",
            out.what
        );
        assert!(
            ours.history().is_none(),
            "{what}: `{}` left a history table behind although it refused",
            out.what
        );
    }
    // Alembic's way out, spelled the same in both tools.
    ours.ours(&["stamp", "--purge", "f6"]).ok();
    assert_eq!(ours.version_rows(), Some(vec!["f6".to_string()]), "{what}");
    let current = ours.py(&["current"]).ok();
    assert_eq!(
        current.ids(),
        vec!["f6".to_string()],
        "{what}: {}",
        current.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// The tools take turns on one database, with relative and label targets.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tool {
    Python,
    Cargo,
}

/// Each step runs on a shared database with the tool named, and with Python Alembic on a twin;
/// after each, the two databases must agree. Steps are ones Python Alembic accepts (relative
/// walks through a merge are "Ambiguous walk" to it), so the test is about the hand-overs.
const TURNS: &[(Tool, &[&str])] = &[
    (Tool::Python, &["upgrade", "a1"]),
    (Tool::Cargo, &["upgrade", "a1+1"]),
    (Tool::Python, &["upgrade", "c3"]),
    (Tool::Cargo, &["upgrade", "stats@+1"]),
    (Tool::Python, &["upgrade", "stats@head"]),
    (Tool::Cargo, &["upgrade", "heads"]),
    (Tool::Python, &["downgrade", "stats@base"]),
    (Tool::Cargo, &["downgrade", "e5"]),
    (Tool::Python, &["upgrade", "posts@head"]),
    (Tool::Cargo, &["downgrade", "-1"]),
    (Tool::Python, &["downgrade", "c3"]),
    (Tool::Cargo, &["upgrade", "e5"]),
    (Tool::Python, &["upgrade", "+1"]),
    (Tool::Cargo, &["downgrade", "b2"]),
    (Tool::Python, &["upgrade", "d4"]),
    (Tool::Cargo, &["upgrade", "heads"]),
    (Tool::Python, &["stamp", "--purge", "e5"]),
    (Tool::Cargo, &["stamp", "heads"]),
    (Tool::Python, &["downgrade", "base"]),
    (Tool::Cargo, &["upgrade", "heads"]),
    (Tool::Python, &["downgrade", "base"]),
];

fn take_turns(swap: bool) {
    let ours = Project::new(&[MAIN, STATS]);
    let twin = Project::new(&[MAIN, STATS]);
    for (i, (tool, args)) in TURNS.iter().enumerate() {
        let tool = match (tool, swap) {
            (Tool::Python, true) => Tool::Cargo,
            (Tool::Cargo, true) => Tool::Python,
            (t, false) => *t,
        };
        let what = format!("step {i}: {tool:?} {}", args.join(" "));
        twin.py(args).ok();
        let before = ours.ran();
        match tool {
            Tool::Python => ours.py(args).ok(),
            Tool::Cargo => ours.ours(args).ok(),
        };
        assert_valid_order(
            &ours,
            &applied_by_log(&before),
            &rows_after(before.len(), &ours.ran()),
            &what,
        );
        assert_same_state(&ours, &twin, &what);
        // One Python `current` on the shared database serves both comparisons.
        let read = assert_python_reads_same(&ours, &twin, &what);
        assert_eq!(
            ours.ours(&["current"]).ok().lines(),
            read.lines(),
            "{what}: `cargo alembic current` and Python `alembic current` differ"
        );
    }
}

#[test]
fn tools_take_turns_with_relative_and_label_targets() {
    if alembic_available("tools_take_turns_with_relative_and_label_targets") {
        take_turns(false);
    }
}

#[test]
fn tools_take_the_other_turns() {
    if alembic_available("tools_take_the_other_turns") {
        take_turns(true);
    }
}

// ---------------------------------------------------------------------------------------------
// Checksum verification across hand-overs (SPEC section 6: verification covers what cargo
// alembic applied after adopting the database).
// ---------------------------------------------------------------------------------------------

#[test]
fn an_edit_to_a_script_cargo_applied_is_caught_after_python_continued() {
    if !alembic_available("an_edit_to_a_script_cargo_applied_is_caught_after_python_continued") {
        return;
    }
    let cases: &[(&str, &[(Tool, &str)])] = &[
        (
            "cargo upgrade b2, python upgrade e5, cargo upgrade head",
            &[
                (Tool::Cargo, "b2"),
                (Tool::Python, "e5"),
                (Tool::Cargo, "head"),
            ],
        ),
        (
            "cargo upgrade b2, python upgrade head",
            &[(Tool::Cargo, "b2"), (Tool::Python, "head")],
        ),
    ];
    // Every case runs before any verdict, so one report shows all that break.
    let mut failures = Vec::new();
    for (what, steps) in cases {
        let project = Project::new(&[MAIN]);
        for (tool, target) in *steps {
            match tool {
                Tool::Python => project.py(&["upgrade", target]).ok(),
                Tool::Cargo => project.ours(&["upgrade", target]).ok(),
            };
        }
        project.ours(&["check"]).ok();
        // b2 was applied by cargo alembic, with its checksum recorded; now someone edits it.
        let path = project.root().join("migrations/versions/b2.sql");
        let mut text = fs::read_to_string(&path).expect("read b2.sql");
        text.push_str("-- edited after it was applied\n");
        fs::write(&path, text).expect("edit b2.sql");
        let check = project.ours(&["check"]);
        if check.code != Some(1) || !check.stderr.contains("b2") {
            failures.push(format!(
                "{what}: `cargo alembic check` after b2.sql was edited should exit 1 naming b2, \
                 exited {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                check.code, check.stdout, check.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
