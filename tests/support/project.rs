//! A throw-away user project for the end-to-end tests: a temp dir holding an `alembic.toml`,
//! a `migrations/versions` folder and SQLite databases, plus helpers that run the built
//! `cargo-alembic` binary in it exactly as a user would and read back what it did.
//!
//! Shared by several test crates through `#[path = "support/project.rs"] mod project;`, so not
//! every helper is used by every crate.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

/// The config every ready-made project starts with: SQLite file `app.db` beside the config.
pub const DEFAULT_CONFIG: &str = "[alembic]\n\
script_location = \"migrations\"\n\
url = \"sqlite:///app.db\"\n";

/// A revision template: `${name}` values and `% if` lines, as `cargo alembic init` writes it.
pub const TEMPLATE: &str = "-- ${message}\n--\n-- Revision ID: ${up_revision}\n\
-- Revises: ${down_revision}\n-- Create Date: ${create_date}\n\
% if branch_labels:\n-- Branch Labels: ${branch_labels}\n% endif\n\
% if depends_on:\n-- Depends On: ${depends_on}\n% endif\n\n-- +upgrade\n\n\n-- +downgrade\n\n";

/// A user project in a temp dir, deleted when dropped.
pub struct Project {
    dir: TempDir,
}

/// What one run of the binary did, with its streams decoded for assertions.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics (failing the test) with both streams unless the run exited with `code`.
    pub fn expect_code(&self, code: i32, what: &str) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "`{what}` should exit {code}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn ok(&self, what: &str) -> &Run {
        self.expect_code(0, what)
    }

    /// stdout and stderr together, for facts that may reasonably go to either stream.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// A failure as SPEC section 9 wants it: exit 1, something on stderr, no panic or backtrace.
    pub fn expect_clean_failure(&self, what: &str) -> &Run {
        self.expect_code(1, what);
        assert!(
            !self.stderr.trim().is_empty(),
            "`{what}` failed without a message on stderr\n--- stdout:\n{}",
            self.stdout
        );
        self.expect_no_panic(what);
        self
    }

    pub fn expect_no_panic(&self, what: &str) -> &Run {
        for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            assert!(
                !self.all().contains(bad),
                "`{what}` printed `{bad}`: a panic instead of an error message\n{}",
                self.all()
            );
        }
        self
    }

    /// Asserts stderr contains `needle` (case-sensitive: ids, paths and keys are exact).
    pub fn stderr_has(&self, needle: &str, what: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "`{what}`: stderr should mention `{needle}`\n--- stderr:\n{}\n--- stdout:\n{}",
            self.stderr,
            self.stdout
        );
        self
    }

    /// Asserts stderr points at `file` line `line`, as `file:line` or `file` ... `line N`.
    pub fn stderr_has_location(&self, file: &str, line: usize, what: &str) -> &Run {
        let colon = format!("{file}:{line}");
        let words = format!("line {line}");
        let ok = self.stderr.contains(&colon)
            || (self.stderr.contains(file) && self.stderr.to_lowercase().contains(&words));
        assert!(
            ok,
            "`{what}`: stderr should point at {file} line {line} (as `{colon}`)\n--- stderr:\n{}",
            self.stderr
        );
        self
    }

    /// Error output should be a message, not a dump: a handful of lines at most.
    pub fn stderr_is_short(&self, max_lines: usize, what: &str) -> &Run {
        let n = self.stderr.lines().filter(|l| !l.trim().is_empty()).count();
        assert!(
            n <= max_lines,
            "`{what}`: expected one clear message (<= {max_lines} lines), got {n}:\n{}",
            self.stderr
        );
        self
    }

    /// The non-empty lines of stdout, trimmed at the end.
    pub fn lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// The path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cargo-alembic")
}

/// A bare command on the binary, with an environment that cannot leak in from the developer's
/// shell: no DATABASE_URL, no backtrace request (a panic would then print the RUST_BACKTRACE hint
/// that the tests look for), no colours.
pub fn command(cwd: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("TZ", "UTC");
    cmd
}

/// Runs a command and captures everything; never panics on a non-zero exit.
pub fn run_cmd(mut cmd: Command) -> Run {
    match cmd.output() {
        Ok(out) => Run::from_output(out),
        Err(e) => panic!("could not start {}: {e}", bin()),
    }
}

/// `sqlite:///` URL of an absolute path (gives SQLAlchemy's four-slash form on Unix).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite:///{}", path.display())
}

impl Project {
    /// An empty temp dir: no config, no scripts.
    pub fn empty() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("alembic-e2e-")
            .tempdir()
            .expect("temp dir");
        Project { dir }
    }

    /// A project with [`DEFAULT_CONFIG`] and an empty `migrations/versions`.
    pub fn new() -> Project {
        let p = Project::empty();
        p.write("alembic.toml", DEFAULT_CONFIG);
        p.mkdir("migrations/versions");
        p
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn versions(&self) -> PathBuf {
        self.path("migrations/versions")
    }

    /// The database of [`DEFAULT_CONFIG`].
    pub fn db(&self) -> PathBuf {
        self.path("app.db")
    }

    pub fn mkdir(&self, rel: &str) {
        fs::create_dir_all(self.path(rel)).expect("mkdir");
    }

    pub fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir parent");
        }
        fs::write(&path, bytes).expect("write file");
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Writes `migrations/versions/<file>`, returning its relative path.
    pub fn script_file(&self, file: &str, text: &str) -> String {
        let rel = format!("migrations/versions/{file}");
        self.write(&rel, text);
        rel
    }

    /// Writes a well-formed revision `<id>_<slug>.sql`. `revises` is the raw header value
    /// (comma-separated, may be empty); `down` None leaves the revision without `-- +downgrade`.
    pub fn revision(&self, id: &str, revises: &str, up: &str, down: Option<&str>) -> String {
        self.revision_with(id, revises, "", up, down)
    }

    /// Like [`Project::revision`] with extra header lines (e.g. "-- Branch Labels: x\n").
    pub fn revision_with(
        &self,
        id: &str,
        revises: &str,
        extra_header: &str,
        up: &str,
        down: Option<&str>,
    ) -> String {
        let file = format!("{id}_rev.sql");
        self.script_file(&file, &script_text(id, revises, extra_header, up, down));
        file
    }

    /// Writes `migrations/script.sql.tmpl` in the CLI's template language (what `init` writes),
    /// for tests of `revision` and `merge` that do not go through `init`.
    pub fn write_template(&self) {
        self.write("migrations/script.sql.tmpl", TEMPLATE);
    }

    /// Runs the binary in the project root.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut cmd = command(self.root());
        cmd.args(args);
        run_cmd(cmd)
    }

    /// Runs the binary with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = command(self.root());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_cmd(cmd)
    }

    /// Runs and requires exit 0, returning the run.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        r.ok(&args.join(" "));
        r.expect_no_panic(&args.join(" "));
        r
    }

    /// Every file under the root with its bytes, sorted: a snapshot to prove "nothing changed".
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        walk(self.root(), self.root(), &mut out);
        out.sort();
        out
    }

    /// Files in `migrations/versions` whose names end in `.sql`, sorted.
    pub fn version_files(&self) -> Vec<String> {
        let mut names: Vec<String> = match fs::read_dir(self.versions()) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for entry in rd.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            // cargo may leave a target/ or lock file behind when init inspects the package
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            out.push((rel, fs::read(&path).unwrap_or_default()));
        }
    }
}

/// The text of a revision script in SPEC section 4's format.
pub fn script_text(
    id: &str,
    revises: &str,
    extra_header: &str,
    up: &str,
    down: Option<&str>,
) -> String {
    let mut s = format!(
        "-- revision {id}\n--\n-- Revision ID: {id}\n-- Revises: {revises}\n\
         -- Create Date: 2025-08-23 10:30:00.000000\n{extra_header}\n-- +upgrade\n{up}\n"
    );
    if let Some(down) = down {
        s.push_str(&format!("\n-- +downgrade\n{down}\n"));
    }
    s
}

/// Opens a SQLite database (creating it if missing).
pub fn open(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).expect("open sqlite db")
}

/// `alembic_version` rows, sorted; None when the table does not exist (or the file doesn't).
pub fn version_rows(db: &Path) -> Option<Vec<String>> {
    if !db.exists() {
        return None;
    }
    let conn = open(db);
    if !table_exists_in(&conn, "alembic_version") {
        return None;
    }
    let mut stmt = conn
        .prepare("SELECT version_num FROM alembic_version")
        .expect("prepare");
    let mut rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    rows.sort();
    Some(rows)
}

/// Rows as a sorted Vec, an absent table counting as no rows.
pub fn heads_in(db: &Path) -> Vec<String> {
    version_rows(db).unwrap_or_default()
}

pub fn table_exists(db: &Path, table: &str) -> bool {
    db.exists() && table_exists_in(&open(db), table)
}

fn table_exists_in(conn: &rusqlite::Connection, table: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .unwrap_or(false)
}

pub fn index_exists(db: &Path, index: &str) -> bool {
    db.exists()
        && open(db)
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [index],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .unwrap_or(false)
}

/// Makes `db` look exactly like a database Python Alembic 1.20 left behind on SQLite: its
/// version table DDL, byte for byte as SQLAlchemy emits it, and the given head rows.
pub fn make_python_alembic_db(db: &Path, heads: &[&str]) {
    let conn = open(db);
    conn.execute_batch(
        "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\t\
         CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)",
    )
    .expect("create alembic_version");
    for h in heads {
        conn.execute("INSERT INTO alembic_version (version_num) VALUES (?1)", [h])
            .expect("insert head");
    }
}
