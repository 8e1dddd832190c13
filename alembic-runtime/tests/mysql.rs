//! The executor on a real MySQL / MariaDB server (feature `mysql`).
//!
//! Server: `ALEMBIC_TEST_MYSQL_URL` (`.ci/run` sets `mysql://root@127.0.0.1:3306/test`); no
//! default. Each test works in a database of its own (dropped at the end). With the URL unset
//! or the server unreachable the tests print a loud skip notice and pass, unless
//! `ALEMBIC_TEST_REQUIRE_ALL=1` (CI), where they fail.

#![cfg(feature = "mysql")]

#[macro_use]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use alembic_core::plan;
use alembic_core::url::Dialect;
use alembic_runtime::mysql_client::prelude::Queryable;
use alembic_runtime::mysql_client::{Conn, Opts};
use alembic_runtime::{offline_sql, Migrator, MysqlBackend, RunError, RunOptions};
use support::*;

/// The server's URL; `None` (after a loud notice) when the suite skips.
fn url() -> Option<String> {
    server_url("ALEMBIC_TEST_MYSQL_URL", "MySQL")
}

fn connect(url: &str) -> Result<Conn, String> {
    let opts = Opts::from_url(url).map_err(|e| e.to_string())?;
    Conn::new(opts).map_err(|e| e.to_string())
}

/// A database of its own for one test, dropped when the test ends.
struct Database {
    name: String,
    /// The server's URL (its own database aside).
    server: String,
}

impl Database {
    fn new() -> Option<Database> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let server = url()?;
        let mut admin = match connect(&server) {
            Ok(c) => c,
            Err(e) => {
                let masked = alembic_core::url::DatabaseUrl::parse(&server)
                    .map_or_else(|_| "the configured URL".to_string(), |u| u.masked());
                server_unreachable("MySQL", &masked, &e);
                return None;
            }
        };
        let name = format!(
            "rt_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        admin
            .query_drop(format!("DROP DATABASE IF EXISTS {name}"))
            .expect("drop database");
        admin
            .query_drop(format!("CREATE DATABASE {name}"))
            .expect("create database");
        Some(Database { name, server })
    }

    fn url(&self) -> String {
        let base = &self.server;
        let root = base
            .rsplit_once('/')
            .map_or(base.as_str(), |(root, _)| root);
        format!("{root}/{}", self.name)
    }

    fn conn(&self) -> Conn {
        connect(&self.url()).expect("connect")
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut admin) = connect(&self.server) {
            let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }
}

fn my_heads(c: &mut Conn) -> Vec<String> {
    c.query("SELECT version_num FROM alembic_version ORDER BY 1")
        .expect("version table")
}

fn my_tables(c: &mut Conn) -> Vec<String> {
    c.query(
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name LIKE 't_' ORDER BY 1",
    )
    .expect("tables")
}

fn my_history(c: &mut Conn) -> Vec<(String, String)> {
    c.query("SELECT revision, operation FROM alembic_version_history ORDER BY id")
        .expect("history")
}

#[test]
fn upgrade_downgrade_and_stamp_on_mysql() {
    let Some(db) = Database::new() else { return };
    let mut c = db.conn();
    let scripts = directory(five_scripts());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let report = migrator
        .upgrade(&mut MysqlBackend::new(&mut c), "head")
        .expect("upgrade");
    assert_eq!(report.applied.len(), 5);
    assert_eq!(my_heads(&mut c), ["r5"]);
    assert_eq!(my_tables(&mut c), ["t1", "t2", "t3", "t4", "t5"]);
    migrator
        .downgrade(&mut MysqlBackend::new(&mut c), "r2")
        .expect("downgrade");
    assert_eq!(my_heads(&mut c), ["r2"]);
    assert_eq!(my_tables(&mut c), ["t1", "t2"]);
    migrator
        .stamp(&mut MysqlBackend::new(&mut c), &strings(&["r4"]), false)
        .expect("stamp");
    assert_eq!(my_heads(&mut c), ["r4"]);
    assert_eq!(my_history(&mut c).len(), 9);
    let sum: Option<String> = c
        .query_first(
            "SELECT checksum FROM alembic_version_history \
             WHERE revision = 'r2' AND operation = 'upgrade'",
        )
        .expect("row");
    assert_eq!(
        sum,
        Some(scripts.script("r2").expect("r2").checksum.to_hex())
    );
}

#[test]
fn a_failed_revision_on_mysql_is_named_as_possibly_half_applied() {
    let Some(db) = Database::new() else { return };
    let mut c = db.conn();
    let mut list = five_scripts();
    list[2].upgrade_sql =
        "CREATE TABLE t3 (x INTEGER);\nINSERT INTO no_such_table VALUES (1);".into();
    let scripts = directory(list);
    let err = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut MysqlBackend::new(&mut c), "head")
        .expect_err("r3 fails");
    match &err {
        RunError::Migration {
            revision,
            half_applied,
            applied,
            ..
        } => {
            assert_eq!(revision, "r3");
            assert!(half_applied, "MySQL DDL commits implicitly");
            assert_eq!(applied.applied.len(), 2);
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("half-applied") && text.contains("no_such_table"),
        "{text}"
    );
    // The version table moved after each revision, and does not claim r3.
    assert_eq!(my_heads(&mut c), ["r2"]);
    assert_eq!(my_tables(&mut c), ["t1", "t2", "t3"]);
}

/// As Alembic does, a revision runs in a transaction even on MySQL: what ran since its last
/// DDL statement (here all of a data-only revision) is rolled back when it fails.
#[test]
fn a_failed_data_revision_on_mysql_rolls_its_rows_back() {
    let Some(db) = Database::new() else { return };
    let mut c = db.conn();
    let mut list = five_scripts();
    list[2].upgrade_sql =
        "INSERT INTO t2 VALUES (1);\nINSERT INTO t2 VALUES (2);\nINSERT INTO no_such_table VALUES (1);"
            .into();
    let scripts = directory(list);
    let err = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut MysqlBackend::new(&mut c), "head")
        .expect_err("r3 fails");
    assert_eq!(err.revision(), Some("r3"), "{err}");
    assert_eq!(my_heads(&mut c), ["r2"]);
    let rows: Vec<i64> = c.query("SELECT COUNT(*) FROM t2").expect("count");
    // r2's own row; r3's two inserts before the failure were rolled back.
    assert_eq!(rows, [1]);
}

#[test]
fn two_sessions_upgrading_at_once_both_succeed_on_mysql() {
    let Some(db) = Database::new() else { return };
    let mut list = five_scripts();
    list[0].upgrade_sql = "CREATE TABLE t1 (x INTEGER); DO SLEEP(0.3);".into();
    let scripts = Arc::new(directory(list));
    let db = Arc::new(db);
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (scripts, db, barrier) = (scripts.clone(), db.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut c = db.conn();
                barrier.wait();
                Migrator::new(&scripts, RunOptions::default())
                    .upgrade(&mut MysqlBackend::new(&mut c), "head")
                    .map(|r| r.applied.len())
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut counts: Vec<usize> = threads
        .into_iter()
        .map(|t| t.join().expect("thread").expect("both succeed"))
        .collect();
    counts.sort();
    assert_eq!(counts, [0, 5]);
    let mut c = db.conn();
    assert_eq!(my_heads(&mut c), ["r5"]);
    assert_eq!(my_history(&mut c).len(), 5);
}

#[test]
fn the_offline_mysql_script_does_what_an_online_run_does() {
    let Some(db) = Database::new() else { return };
    let mut c = db.conn();
    let mut list = five_scripts();
    list[0].downgrade_sql = Some("DROP TABLE t1; -- it's a \\ backslash".into());
    let scripts = directory(list);
    let p = plan::upgrade(scripts.map(), &[], "head").expect("plan");
    let sql = offline_sql(Dialect::Mysql, &p, &scripts, &RunOptions::default()).expect("sql");
    // Read every result set: a later statement's error comes with its set.
    let mut result = c.query_iter(&sql).expect("the script starts");
    while let Some(set) = result.iter() {
        for row in set {
            row.expect("every statement runs");
        }
    }
    drop(result);
    assert_eq!(my_heads(&mut c), ["r5"]);
    assert_eq!(my_history(&mut c).len(), 5);
    let stored: Option<String> = c
        .query_first("SELECT downgrade_sql FROM alembic_version_history WHERE revision = 'r1'")
        .expect("row");
    assert_eq!(
        stored.as_deref(),
        Some("DROP TABLE t1; -- it's a \\ backslash")
    );
    let at: Option<String> = c
        .query_first("SELECT applied_at FROM alembic_version_history LIMIT 1")
        .expect("row");
    assert!(
        at.as_ref()
            .is_some_and(|a| a.len() == 24 && a.ends_with('Z')),
        "milliseconds, like online rows: {at:?}"
    );
    // A range's script on a database without the history table (as Python Alembic leaves
    // it) creates the table; the version table is left as it is.
    c.query_drop("DROP TABLE alembic_version_history")
        .expect("drop history");
    let range = plan::downgrade(scripts.map(), &strings(&["r5"]), "r4").expect("plan");
    let sql = offline_sql(Dialect::Mysql, &range, &scripts, &RunOptions::default()).expect("sql");
    let mut result = c.query_iter(&sql).expect("the range script starts");
    while let Some(set) = result.iter() {
        for row in set {
            row.expect("every statement of the range script runs");
        }
    }
    drop(result);
    assert_eq!(my_heads(&mut c), ["r4"]);
    assert_eq!(my_history(&mut c).len(), 1);
    Migrator::new(&scripts, RunOptions::default())
        .downgrade(&mut MysqlBackend::new(&mut c), "base")
        .expect("online downgrade continues it");
    assert!(my_heads(&mut c).is_empty());
    assert!(my_tables(&mut c).is_empty());
}

#[test]
fn connect_url_takes_a_python_style_url_and_masks_the_password() {
    let Some(db) = Database::new() else { return };
    let text = db.url().replacen("mysql://", "mysql+pymysql://", 1);
    let parsed = alembic_core::url::DatabaseUrl::parse(&text).expect("url");
    let mut backend = MysqlBackend::connect_url(&parsed).expect("connect");
    let scripts = directory(five_scripts());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    migrator.upgrade(&mut backend, "r1").expect("upgrade");
    assert_eq!(migrator.current_heads(&mut backend).expect("heads"), ["r1"]);

    let bad = alembic_core::url::DatabaseUrl::parse("mysql://nobody:s3cret@127.0.0.1:1/none")
        .expect("url");
    let err = match MysqlBackend::connect_url(&bad) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(
        err.contains("cannot connect to mysql://nobody:***@127.0.0.1:1/none"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

/// A fresh database for the cross-backend scenarios.
struct MyHarness {
    conn: Conn,
    _db: Database,
}

impl MyHarness {
    fn new() -> Option<MyHarness> {
        let db = Database::new()?;
        Some(MyHarness {
            conn: db.conn(),
            _db: db,
        })
    }
}

impl support::scenarios::Harness for MyHarness {
    fn backend(&mut self) -> Box<dyn alembic_runtime::Backend + '_> {
        Box::new(MysqlBackend::new(&mut self.conn))
    }

    fn heads(&mut self) -> Vec<String> {
        let exists: Option<i64> = self
            .conn
            .query_first(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = 'alembic_version'",
            )
            .expect("information_schema");
        if exists == Some(1) {
            my_heads(&mut self.conn)
        } else {
            Vec::new()
        }
    }

    fn user_tables(&mut self) -> Vec<String> {
        my_tables(&mut self.conn)
    }

    fn history_len(&mut self) -> usize {
        my_history(&mut self.conn).len()
    }
}

scenario_tests!(MyHarness::new());

/// No server needed: nothing listens on port 1. The error must say why (the refused
/// connection), the password still masked.
#[test]
fn a_connection_error_keeps_its_cause_and_masks_the_password() {
    let bad = alembic_core::url::DatabaseUrl::parse("mysql://nobody:s3cret@127.0.0.1:1/none")
        .expect("url");
    let err = match MysqlBackend::connect_url(&bad) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(err.contains("nobody:***@127.0.0.1:1"), "{err}");
    assert!(
        err.to_lowercase().contains("refused"),
        "the cause is lost: {err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}
