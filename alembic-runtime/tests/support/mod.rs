//! Fixtures: scripts built in memory (no parser involved), SQLite files in temp dirs, and
//! small queries on the result.

#![allow(dead_code)] // each test binary uses its own subset

#[macro_use]
pub mod scenarios;

use std::path::PathBuf;

use alembic_core::source::ScriptDirectory;
use alembic_core::{Checksum, Revision, Script};
#[cfg(feature = "sqlite")]
use alembic_runtime::rusqlite::Connection;

/// A revision script as the parser would produce it.
pub fn script(id: &str, down: &[&str], upgrade: &str, downgrade: Option<&str>) -> Script {
    let path = PathBuf::from(format!("migrations/versions/{id}.sql"));
    let file = format!(
        "-- {id}\n-- Revision ID: {id}\n-- Revises: {}\n\n-- +upgrade\n{upgrade}\n-- +downgrade\n{}\n",
        down.join(", "),
        downgrade.unwrap_or("")
    );
    Script {
        revision: Revision::new(id, down),
        message: id.to_string(),
        create_date: None,
        transactional: true,
        upgrade_sql: upgrade.to_string(),
        downgrade_sql: downgrade.map(str::to_string),
        checksum: Checksum::of_file_bytes(file.as_bytes()),
        path,
        id_line: 2,
    }
}

pub fn directory(scripts: Vec<Script>) -> ScriptDirectory {
    match ScriptDirectory::from_scripts(scripts) {
        Ok(dir) => dir,
        Err(e) => panic!("fixture scripts are invalid: {e:?}"),
    }
}

/// `r1` .. `r5`, each creating table `t<n>` and dropping it on downgrade.
pub fn five_scripts() -> Vec<Script> {
    (1..=5)
        .map(|n| {
            let id = format!("r{n}");
            let down = format!("r{}", n - 1);
            let downs: Vec<&str> = if n == 1 { vec![] } else { vec![down.as_str()] };
            script(
                &id,
                &downs,
                &format!("CREATE TABLE t{n} (x INTEGER);\nINSERT INTO t{n} VALUES ({n});"),
                Some(&format!("DROP TABLE t{n};")),
            )
        })
        .collect()
}

pub struct Db {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn new_db() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    Db { dir, path }
}

#[cfg(feature = "sqlite")]
pub fn open(path: &std::path::Path) -> Connection {
    Connection::open(path).expect("open sqlite file")
}

#[cfg(feature = "sqlite")]
pub fn heads(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT version_num FROM alembic_version ORDER BY version_num")
        .expect("version table exists");
    let rows = stmt.query_map([], |r| r.get(0)).expect("query");
    rows.map(|r| r.expect("row")).collect()
}

#[cfg(feature = "sqlite")]
pub fn table_exists(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .expect("sqlite_master")
        == 1
}

/// Which of `t1`..`t5` exist.
#[cfg(feature = "sqlite")]
pub fn user_tables(conn: &Connection) -> Vec<String> {
    (1..=5)
        .map(|n| format!("t{n}"))
        .filter(|t| table_exists(conn, t))
        .collect()
}

/// `(revision, operation)` of every history row, in insertion order.
#[cfg(feature = "sqlite")]
pub fn history(conn: &Connection) -> Vec<(String, String)> {
    let mut stmt = conn
        .prepare("SELECT revision, operation FROM alembic_version_history ORDER BY id")
        .expect("history table exists");
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Whether `ALEMBIC_TEST_REQUIRE_ALL=1` (CI): no test may skip for want of a server.
pub fn require_all() -> bool {
    std::env::var("ALEMBIC_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// The team rule for a server suite's URL variable, decided without touching the process
/// environment: a set URL is used; an unset (or empty) one skips the suite, unless every test
/// is required to run, where it is an error saying what to set. There is no default URL: a
/// suite must never test whatever server happens to listen on a default port.
pub fn server_url_from(
    var: &str,
    value: Option<&str>,
    require_all: bool,
) -> Result<Option<String>, String> {
    match value.map(str::trim) {
        Some(url) if !url.is_empty() => Ok(Some(url.to_string())),
        _ if require_all => Err(format!(
            "ALEMBIC_TEST_REQUIRE_ALL=1 but {var} is not set: set it to the test server's URL"
        )),
        _ => Ok(None),
    }
}

/// A skip notice nobody can miss in the test output, once per suite and reason.
///
/// Written to the process's stderr directly: `eprintln!` inside a test is captured by the test
/// harness and hidden when the test passes, which a skipping test does.
pub fn loud_skip(what: &str, why: &str) {
    use std::io::Write;
    static SHOWN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let notice = format!("{what}: {why}");
    if let Ok(mut shown) = SHOWN.lock() {
        if shown.contains(&notice) {
            return;
        }
        shown.push(notice.clone());
    }
    let bar = "!".repeat(78);
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n{bar}\n!!! SKIPPED: {notice}\n!!! These tests did NOT run. \
         Set ALEMBIC_TEST_REQUIRE_ALL=1 to make this a failure.\n{bar}\n"
    );
}

/// The URL of a server suite's database from `var`, or `None` (after a loud notice) when the
/// suite skips. Panics when `ALEMBIC_TEST_REQUIRE_ALL=1` and the URL is unset.
pub fn server_url(var: &str, server: &str) -> Option<String> {
    let value = std::env::var(var).ok();
    match server_url_from(var, value.as_deref(), require_all()) {
        Ok(Some(url)) => Some(url),
        Ok(None) => {
            loud_skip(
                &format!("the {server} tests"),
                &format!("{var} is not set (e.g. in .ci/run)"),
            );
            None
        }
        Err(message) => panic!("{message}"),
    }
}

/// An error and its causes, `: `-separated (client errors keep the reason in their causes).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(&format!(": {e}"));
        cause = e.source();
    }
    text
}

/// A server suite's server did not answer at `masked_url`: a failure when every test is
/// required to run, otherwise a loud skip.
pub fn server_unreachable(server: &str, masked_url: &str, error: &dyn std::fmt::Display) {
    assert!(
        !require_all(),
        "ALEMBIC_TEST_REQUIRE_ALL=1 but {server} at {masked_url} is unreachable: {error}"
    );
    loud_skip(
        &format!("the {server} tests"),
        &format!("{server} at {masked_url} is unreachable: {error}"),
    );
}
