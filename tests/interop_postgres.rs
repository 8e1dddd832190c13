//! Interop with the real Python Alembic on PostgreSQL and MySQL/MariaDB (issue 3; SPEC
//! section 6): a database migrated by Python Alembic (through psycopg2 or PyMySQL) is continued
//! by `cargo alembic`, and a database `cargo alembic` migrated reads as current to Python
//! Alembic, which continues it. The SQLite counterpart, with many more scenarios, is
//! tests/interop.rs. Every scenario runs on both servers: `postgres::<name>` and `mysql::<name>`.
//!
//! Every project holds one revision graph twice, side by side in `migrations/versions`: Python
//! migrations (`<id>.py`, one `op.execute(...)` per statement) and our `.sql` scripts with the
//! same ids and SQL (SQL both servers accept), and `alembic.ini` and `alembic.toml` point at one
//! database. Each revision also appends a row to `ran_log`, a table made outside both tools, so
//! a test sees which revisions ran whichever tool ran them. What is right comes from Alembic
//! itself: a scenario runs beside a twin database that Python Alembic alone takes through the
//! same steps, and the two must end with the same version rows, schema (from
//! information_schema), applied revisions and `alembic current`.
//!
//! Each test creates its own databases (named after the scenario and this process) through the
//! server's client (`psql`, `mysql`) on `ALEMBIC_TEST_POSTGRES_URL` (CI:
//! postgresql://postgres@127.0.0.1:5432/test) or `ALEMBIC_TEST_MYSQL_URL` (CI:
//! mysql://root@127.0.0.1:3306/test), and drops them at the end. Without the URL, the client, or
//! Python Alembic with the driver (`$ALEMBIC_PYTHON`, default `python3`; `pip install -r
//! tests/requirements.txt`), a test prints a loud SKIPPED notice on stderr and passes, unless
//! `ALEMBIC_TEST_REQUIRE_ALL=1` (set by CI), which turns the missing piece into a failure.

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
        up: &["CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)"],
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
        // The index goes with its table: `DROP INDEX` is spelled differently on MySQL.
        down_sql: &["DROP TABLE posts"],
    },
    Rev {
        id: "d4",
        message: "create tags",
        down: &["b2"],
        labels: &[],
        depends_on: &["c3"],
        // VARCHAR, not TEXT: MySQL indexes (UNIQUE) no TEXT column without a prefix length.
        up: &["CREATE TABLE tags (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE)"],
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
        message: "create settings",
        down: &["e5"],
        labels: &[],
        depends_on: &[],
        up: &["CREATE TABLE settings (name VARCHAR(50) PRIMARY KEY, value TEXT)"],
        down_sql: &["DROP TABLE settings"],
    },
];

/// A revision after f6 whose second statement fails, for runs that stop half-way.
const BROKEN: Rev = Rev {
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

/// env.py without fileConfig(), so Alembic's stdout holds only what the command reports. It
/// takes `version_table_schema` from alembic.ini, as alembic.toml gives it to us.
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
        version_table_schema=config.get_main_option(\"version_table_schema\"),
    )
    with context.begin_transaction():
        context.run_migrations()
";

// ---------------------------------------------------------------------------------------------
// The environment: the server, its command-line client, Python Alembic with the driver.
// ---------------------------------------------------------------------------------------------

/// The server family a test runs on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Postgres,
    /// MySQL or MariaDB (CI runs MariaDB).
    Mysql,
}

impl Kind {
    fn url_var(self) -> &'static str {
        match self {
            Kind::Postgres => "ALEMBIC_TEST_POSTGRES_URL",
            Kind::Mysql => "ALEMBIC_TEST_MYSQL_URL",
        }
    }

    fn example_url(self) -> &'static str {
        match self {
            Kind::Postgres => "postgresql://postgres@127.0.0.1:5432/test",
            Kind::Mysql => "mysql://root@127.0.0.1:3306/test",
        }
    }

    /// The Python driver tests/requirements.txt pins, and the URL scheme naming it: SQLAlchemy
    /// 2.1 reads a bare postgresql:// as psycopg (3), and a bare mysql:// as mysqlclient.
    fn driver(self) -> (&'static str, &'static str) {
        match self {
            Kind::Postgres => ("psycopg2", "postgresql+psycopg2"),
            Kind::Mysql => ("pymysql", "mysql+pymysql"),
        }
    }

    fn client(self) -> &'static str {
        match self {
            Kind::Postgres => "psql",
            Kind::Mysql => "mysql",
        }
    }

    /// The SQL expression naming the schema the tools' tables land in by default.
    fn schema_expr(self) -> &'static str {
        match self {
            Kind::Postgres => "current_schema()",
            Kind::Mysql => "DATABASE()",
        }
    }

    /// `expr` (a number or NULL) as text, '' for NULL.
    fn text(self, expr: &str) -> String {
        match self {
            Kind::Postgres => format!("coalesce({expr}::text, '')"),
            Kind::Mysql => format!("coalesce(CAST({expr} AS CHAR), '')"),
        }
    }

    fn ran_log_ddl(self) -> &'static str {
        match self {
            Kind::Postgres => {
                "CREATE TABLE ran_log (seq SERIAL PRIMARY KEY, rev TEXT NOT NULL, \
                 direction TEXT NOT NULL)"
            }
            Kind::Mysql => {
                "CREATE TABLE ran_log (seq INTEGER AUTO_INCREMENT PRIMARY KEY, \
                 rev VARCHAR(40) NOT NULL, direction VARCHAR(10) NOT NULL)"
            }
        }
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        .unwrap_or(false)
}

fn python() -> String {
    std::env::var("ALEMBIC_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// The server URL when everything the tests of `kind` need is there, else why not.
fn probe(kind: Kind) -> Result<String, String> {
    let url = std::env::var(kind.url_var())
        .ok()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| format!("{} is not set", kind.url_var()))?;
    let (module, _) = kind.driver();
    let out = Command::new(python())
        .args([
            "-c",
            &format!("import alembic.command, sqlalchemy, {module}"),
        ])
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", python()))?;
    if !out.status.success() {
        return Err(format!(
            "Python Alembic with {module} is missing: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    client_sql(kind, &url, "SELECT 1")
        .map_err(|e| format!("cannot reach the server with {}: {e}", kind.client()))?;
    Ok(url)
}

/// The server URL, or None after failing (ALEMBIC_TEST_REQUIRE_ALL=1) or a loud skip notice.
fn server(kind: Kind, test: &str) -> Option<String> {
    static POSTGRES: OnceLock<Result<String, String>> = OnceLock::new();
    static MYSQL: OnceLock<Result<String, String>> = OnceLock::new();
    let probed = match kind {
        Kind::Postgres => POSTGRES.get_or_init(|| probe(kind)),
        Kind::Mysql => MYSQL.get_or_init(|| probe(kind)),
    };
    match probed {
        Ok(url) => Some(url.clone()),
        Err(why) => {
            assert!(
                !env_flag("ALEMBIC_TEST_REQUIRE_ALL"),
                "ALEMBIC_TEST_REQUIRE_ALL=1 but the {kind:?} interop tests cannot run: {why}"
            );
            // Straight to the stderr handle: libtest captures eprintln! in passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPED: {kind:?} interop test `{test}` did NOT run.\n\
                 !!! {why}\n\
                 !!! Needs {} (e.g. {}),\n\
                 !!! {}, and {} -m pip install -r tests/requirements.txt\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
                kind.url_var(),
                kind.example_url(),
                kind.client(),
                python()
            );
            None
        }
    }
}

/// The parts of `scheme://user:password@host:port/database` the mysql client takes as options
/// (no percent-decoding: test URLs are plain).
struct UrlParts {
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<String>,
    database: Option<String>,
}

fn url_parts(url: &str) -> UrlParts {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    let (authority, database) = match rest.split_once('/') {
        Some((a, d)) => (a, Some(d.to_string()).filter(|d| !d.is_empty())),
        None => (rest, None),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((name, pass)) => (Some(name.to_string()), Some(pass.to_string())),
            None => (Some(u.to_string()), None),
        },
        None => (None, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), Some(p.to_string())),
        None => (hostport.to_string(), None),
    };
    UrlParts {
        user,
        password,
        host,
        port,
        database,
    }
}

/// Runs `sql` through the server's command-line client on `url`; the rows, one per line,
/// fields split by `|`.
fn client_sql(kind: Kind, url: &str, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new(kind.client());
    match kind {
        Kind::Postgres => {
            cmd.args(["-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1"])
                .arg(url)
                .arg("-c")
                .arg(sql);
        }
        Kind::Mysql => {
            let parts = url_parts(url);
            cmd.args(["--protocol=TCP", "-N", "-B", "-h", &parts.host]);
            if let Some(port) = &parts.port {
                cmd.arg(format!("--port={port}"));
            }
            if let Some(user) = &parts.user {
                cmd.arg(format!("--user={user}"));
            }
            if let Some(password) = &parts.password {
                // The environment rather than argv: other processes can read argv.
                cmd.env("MYSQL_PWD", password);
            }
            cmd.arg("-e").arg(sql);
            if let Some(database) = &parts.database {
                cmd.arg(database);
            }
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", kind.client()))?;
    if !out.status.success() {
        return Err(format!(
            "{} `{sql}` failed: {}",
            kind.client(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).replace('\t', "|"))
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
    kind: Kind,
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    fn create(kind: Kind, admin_url: &str, tag: &str) -> Database {
        let name = format!("alembic_interop_{tag}_{}", std::process::id());
        // A leftover from a killed run of the same process id would fail CREATE.
        client_sql(kind, admin_url, &format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap_or_else(|e| panic!("{e}"));
        client_sql(kind, admin_url, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let db = Database {
            kind,
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
        };
        db.sql(kind.ran_log_ddl());
        db
    }

    fn sql(&self, sql: &str) -> String {
        client_sql(self.kind, &self.url, sql).unwrap_or_else(|e| panic!("{e}"))
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
        let sql = match self.kind {
            Kind::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Kind::Mysql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        if let Err(e) = client_sql(self.kind, &self.admin_url, &sql) {
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
// A project holding both tools' migrations over one server database.
// ---------------------------------------------------------------------------------------------

struct Project {
    dir: TempDir,
    db: Database,
}

/// The tools' tables and the test's own, left out of the schema comparison.
const SKIP_TABLES: &str = "('ran_log', 'alembic_version', 'alembic_version_history')";

impl Project {
    fn new(kind: Kind, server: &str, tag: &str) -> Project {
        Project::with_revs(kind, server, tag, &[])
    }

    /// A project whose version tables live in `schema` (created here, as neither tool does).
    fn in_schema(kind: Kind, server: &str, tag: &str, schema: &str) -> Project {
        let project = Project::with_revs(kind, server, tag, &[]);
        project.db.sql(&format!("CREATE SCHEMA {schema}"));
        let append = |file: &str, line: String| {
            let path = project.root().join(file);
            let mut text = fs::read_to_string(&path).expect("read config");
            text.push_str(&line);
            fs::write(&path, text).expect("write config");
        };
        append("alembic.ini", format!("version_table_schema = {schema}\n"));
        append(
            "alembic.toml",
            format!("version_table_schema = \"{schema}\"\n"),
        );
        project
    }

    /// A project with MAIN and `extra` revisions.
    fn with_revs(kind: Kind, server: &str, tag: &str, extra: &[&Rev]) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("interop-server-")
            .tempdir()
            .expect("temp dir");
        let db = Database::create(kind, server, tag);
        let versions = dir.path().join("migrations").join("versions");
        fs::create_dir_all(&versions).expect("create migrations/versions");
        let (_, scheme) = kind.driver();
        let python_url = match db.url.split_once("://") {
            Some((_, rest)) => format!("{scheme}://{rest}"),
            None => db.url.clone(),
        };
        // configparser interpolates `%`; a password may hold one.
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
        for rev in MAIN.iter().chain(extra.iter().copied()) {
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

    fn kind(&self) -> Kind {
        self.db.kind
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
                 WHERE table_schema = {} AND table_name = '{name}'",
                self.kind().schema_expr()
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
        let kind = self.kind();
        let mut rows = self.db.rows(&format!(
            "SELECT 'column', table_name, column_name, data_type, {}, is_nullable \
             FROM information_schema.columns \
             WHERE table_schema = {} AND table_name NOT IN {SKIP_TABLES} \
             ORDER BY table_name, column_name",
            kind.text("character_maximum_length"),
            kind.schema_expr()
        ));
        rows.extend(self.db.rows(&match kind {
            Kind::Postgres => format!(
                "SELECT 'index', indexname, indexdef FROM pg_indexes \
                 WHERE schemaname = current_schema() AND tablename NOT IN {SKIP_TABLES} \
                 ORDER BY indexname"
            ),
            Kind::Mysql => format!(
                "SELECT 'index', table_name, index_name, column_name, non_unique \
                 FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND table_name NOT IN {SKIP_TABLES} \
                 ORDER BY table_name, index_name, seq_in_index"
            ),
        }));
        rows
    }

    /// The version table as the catalog describes it: columns, then key constraints.
    fn version_table_shape(&self) -> Vec<String> {
        let kind = self.kind();
        let mut rows = self.db.rows(&format!(
            "SELECT column_name, data_type, {}, is_nullable, coalesce(column_default, '') \
             FROM information_schema.columns \
             WHERE table_schema = {} AND table_name = 'alembic_version' \
             ORDER BY ordinal_position",
            kind.text("character_maximum_length"),
            kind.schema_expr()
        ));
        rows.extend(self.db.rows(&format!(
            "SELECT tc.constraint_name, tc.constraint_type, kcu.column_name \
             FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu \
               ON kcu.constraint_name = tc.constraint_name \
              AND kcu.table_schema = tc.table_schema \
              AND kcu.table_name = tc.table_name \
             WHERE tc.table_schema = {} AND tc.table_name = 'alembic_version' \
             ORDER BY tc.constraint_name, kcu.column_name",
            kind.schema_expr()
        )));
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
// The scenarios, each run on both servers.
// ---------------------------------------------------------------------------------------------

/// Python Alembic upgrades one branch; ours reads that and upgrades to head.
fn python_upgrade_one_branch_then_cargo_upgrade_head(kind: Kind, test: &str) {
    let Some(server) = server(kind, test) else {
        return;
    };
    let ours = Project::new(kind, &server, "py_then_cargo");
    let twin = Project::new(kind, &server, "py_then_cargo_twin");
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

/// Ours upgrades through a dependency; Python Alembic reads that and continues; ours takes the
/// database back to base.
fn cargo_upgrade_then_python_continues_then_cargo_downgrades_to_base(kind: Kind, test: &str) {
    let Some(server) = server(kind, test) else {
        return;
    };
    let ours = Project::new(kind, &server, "cargo_then_py");
    let twin = Project::new(kind, &server, "cargo_then_py_twin");
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

/// Stamps by one tool read and continued by the other.
fn stamps_cross_over_both_ways(kind: Kind, test: &str) {
    let Some(server) = server(kind, test) else {
        return;
    };
    let ours = Project::new(kind, &server, "stamps");
    let twin = Project::new(kind, &server, "stamps_twin");
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

/// The version table ours creates (by upgrade and by stamp) is the one Python Alembic creates,
/// as the catalog describes it.
fn version_table_ddl_is_python_alembics(kind: Kind, test: &str) {
    let Some(server) = server(kind, test) else {
        return;
    };
    // MySQL names every primary key PRIMARY, whatever the DDL called it.
    let key = match kind {
        Kind::Postgres => "alembic_version_pkc|PRIMARY KEY|version_num",
        Kind::Mysql => "PRIMARY|PRIMARY KEY|version_num",
    };
    let varchar = match kind {
        Kind::Postgres => "version_num|character varying|32|NO|",
        Kind::Mysql => "version_num|varchar|32|NO|",
    };
    for (how, args) in [
        ("upgrade", &["upgrade", "a1"][..]),
        ("stamp", &["stamp", "b2"][..]),
    ] {
        let ours = Project::new(kind, &server, &format!("ddl_{how}"));
        let twin = Project::new(kind, &server, &format!("ddl_{how}_twin"));
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
            [varchar, key],
            "`{how}`: alembic_version is not version_num varchar(32) not null, primary key"
        );
        assert_eq!(ours.version_rows(), twin.version_rows());
    }
}

/// A run that fails in its last revision leaves what the database's DDL allows, exactly as
/// Python Alembic's run leaves it, and Python Alembic reads the result: on PostgreSQL the whole
/// run rolls back; on MySQL the revisions before commit and the failing one is half-applied.
fn failed_run_hands_over(kind: Kind, test: &str) {
    let Some(server) = server(kind, test) else {
        return;
    };
    let ours = Project::with_revs(kind, &server, "failed", &[&BROKEN]);
    let twin = Project::with_revs(kind, &server, "failed_twin", &[&BROKEN]);
    ours.py(&["upgrade", "e5"]).ok();
    twin.py(&["upgrade", "e5"]).ok();
    let failed = ours.ours(&["upgrade", "head"]);
    assert_ne!(
        failed.code,
        Some(0),
        "the broken revision did not fail ours"
    );
    assert!(
        failed.stderr.contains("g7") || failed.stdout.contains("g7"),
        "the failure does not name g7:\n{}{}",
        failed.stdout,
        failed.stderr
    );
    assert_ne!(twin.py(&["upgrade", "head"]).code, Some(0));
    assert_same_state(&ours, &twin, "failed upgrade head");
    match kind {
        Kind::Postgres => {
            assert_eq!(ours.version_rows(), ["e5"], "the run was not rolled back");
            assert!(!ours.has_table("settings") && !ours.has_table("g7_table"));
        }
        Kind::Mysql => {
            assert_eq!(ours.version_rows(), ["f6"], "f6 committed before g7 failed");
            assert!(ours.has_table("settings"), "f6's DDL is gone");
            assert!(
                ours.has_table("g7_table"),
                "g7's first statement did not commit"
            );
        }
    }
}

/// The version rows in `schema.alembic_version`, sorted; empty when the table is not there.
fn version_rows_in(project: &Project, schema: &str) -> Vec<String> {
    let found = project.db.rows(&format!(
        "SELECT 1 FROM information_schema.tables \
         WHERE table_schema = '{schema}' AND table_name = 'alembic_version'"
    ));
    if found.is_empty() {
        return Vec::new();
    }
    let mut rows = project
        .db
        .rows(&format!("SELECT version_num FROM {schema}.alembic_version"));
    rows.sort();
    rows
}

/// PostgreSQL only (on MySQL a schema is another database): `version_table_schema` puts the
/// version table where Python Alembic looks for it with the same setting, and each tool
/// continues the other's database there.
#[test]
fn postgres_version_table_schema_crosses_over() {
    let kind = Kind::Postgres;
    let Some(server) = server(kind, "postgres_version_table_schema_crosses_over") else {
        return;
    };
    let ours = Project::in_schema(kind, &server, "schema", "audit");
    let twin = Project::in_schema(kind, &server, "schema_twin", "audit");
    ours.ours(&["upgrade", "c3"]).ok();
    twin.py(&["upgrade", "c3"]).ok();
    assert_eq!(version_rows_in(&ours, "audit"), ["c3"]);
    assert!(
        !ours.has_table("alembic_version"),
        "version_table_schema = audit still made public.alembic_version"
    );
    let history = ours.db.rows(
        "SELECT 1 FROM information_schema.tables \
         WHERE table_schema = 'audit' AND table_name = 'alembic_version_history'",
    );
    assert_eq!(
        history.len(),
        1,
        "no alembic_version_history beside the version table"
    );
    ours.py(&["upgrade", "head"]).ok();
    twin.py(&["upgrade", "head"]).ok();
    assert_eq!(
        version_rows_in(&ours, "audit"),
        version_rows_in(&twin, "audit")
    );
    assert_eq!(version_rows_in(&ours, "audit"), ["f6"]);
    assert_same_state(&ours, &twin, "version_table_schema audit");
    assert_ran_once_in_order(&ours.ran(), "version_table_schema audit");
}

/// One `#[test]` per scenario and server: `postgres::<scenario>` and `mysql::<scenario>`.
macro_rules! on_both_servers {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario(super::Kind::Postgres, concat!("postgres::", stringify!($scenario)));
                }
            )*
        }
        mod mysql {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario(super::Kind::Mysql, concat!("mysql::", stringify!($scenario)));
                }
            )*
        }
    };
}

on_both_servers!(
    python_upgrade_one_branch_then_cargo_upgrade_head,
    cargo_upgrade_then_python_continues_then_cargo_downgrades_to_base,
    stamps_cross_over_both_ways,
    version_table_ddl_is_python_alembics,
    failed_run_hands_over,
);
