//! Adopting a database Python Alembic made (a version table, no history table): the history
//! table is created in the run's transaction, and the adoption is announced only once that
//! has committed, so a refused or failed run neither keeps the table nor claims the adoption.

#[macro_use]
mod support;

use std::sync::{Mutex, Once};

use alembic_runtime::rusqlite::Connection;
use alembic_runtime::{Migrator, RunError, RunOptions, SqliteBackend};
use support::*;

/// Every log line of this test binary (tests tell theirs apart by their version table).
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Ok(mut lines) = LINES.lock() {
            lines.push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in this binary");
        log::set_max_level(log::LevelFilter::Info);
    });
}

/// How many "adopted" lines mention `history_table`.
fn adoptions(history_table: &str) -> usize {
    LINES
        .lock()
        .map(|lines| {
            lines
                .iter()
                .filter(|l| l.contains("adopted") && l.contains(history_table))
                .count()
        })
        .unwrap_or(0)
}

/// Options with a version table of the test's own, so that parallel tests' logs differ.
fn options(version_table: &str) -> RunOptions {
    let mut options = RunOptions::default();
    options.version_table = version_table.to_string();
    options
}

/// A database as Python Alembic leaves it, with `version_table` at `revision`.
fn python_made(version_table: &str, revision: &str) -> (Db, Connection) {
    let db = new_db();
    let conn = open(&db.path);
    conn.execute_batch(&format!(
        "CREATE TABLE {version_table} (version_num VARCHAR(32) NOT NULL, \
         CONSTRAINT {version_table}_pkc PRIMARY KEY (version_num));
         INSERT INTO {version_table} VALUES ('{revision}');
         CREATE TABLE t1 (x INTEGER); CREATE TABLE t2 (x INTEGER);"
    ))
    .expect("python-made database");
    (db, conn)
}

#[test]
fn a_refused_run_neither_keeps_the_history_table_nor_logs_an_adoption() {
    capture_logs();
    let (_db, mut conn) = python_made("v_refused", "py_only");
    let scripts = directory(five_scripts());
    for _ in 0..2 {
        let err = Migrator::new(&scripts, options("v_refused"))
            .upgrade(&mut SqliteBackend::new(&mut conn), "head")
            .expect_err("a revision no script defines");
        assert!(
            matches!(err, RunError::UnknownDatabaseRevision { .. }),
            "{err}"
        );
    }
    assert!(!table_exists(&conn, "v_refused_history"));
    assert_eq!(adoptions("v_refused_history"), 0);
}

#[test]
fn a_failed_run_neither_keeps_the_history_table_nor_logs_an_adoption() {
    capture_logs();
    let (_db, mut conn) = python_made("v_failed", "r2");
    let mut list = five_scripts();
    list[2].upgrade_sql = "CREATE TABLE t3 (x INTEGER); INSERT INTO nowhere VALUES (1);".into();
    let scripts = directory(list);
    for _ in 0..2 {
        Migrator::new(&scripts, options("v_failed"))
            .upgrade(&mut SqliteBackend::new(&mut conn), "head")
            .expect_err("r3 fails");
    }
    assert!(!table_exists(&conn, "v_failed_history"));
    assert_eq!(adoptions("v_failed_history"), 0);
}

#[test]
fn a_committed_adoption_is_logged_once() {
    capture_logs();
    let (_db, mut conn) = python_made("v_adopted", "r2");
    let scripts = directory(five_scripts());
    let migrator = Migrator::new(&scripts, options("v_adopted"));
    migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "r3")
        .expect("upgrade");
    migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("upgrade");
    assert!(table_exists(&conn, "v_adopted_history"));
    assert_eq!(adoptions("v_adopted_history"), 1);
}

#[test]
fn a_failed_run_that_committed_some_revisions_logs_the_adoption() {
    capture_logs();
    let (_db, mut conn) = python_made("v_partial", "r2");
    let mut list = five_scripts();
    list[3].upgrade_sql = "INSERT INTO nowhere VALUES (1);".into();
    let scripts = directory(list);
    let mut opts = options("v_partial");
    opts.transaction_per_migration = true;
    Migrator::new(&scripts, opts)
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect_err("r4 fails after r3 committed");
    assert!(table_exists(&conn, "v_partial_history"));
    assert_eq!(adoptions("v_partial_history"), 1);
}
