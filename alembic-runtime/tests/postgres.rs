//! The executor on a real PostgreSQL server (feature `postgres`).
//!
//! Server: `ALEMBIC_TEST_POSTGRES_URL` (`.ci/run` sets `postgresql://postgres@127.0.0.1:5432/test`);
//! no default. Each test works in a schema of its own (dropped at the end). With the URL unset
//! or the server unreachable the tests print a loud skip notice and pass, unless
//! `ALEMBIC_TEST_REQUIRE_ALL=1` (CI), where they fail.

#![cfg(feature = "postgres")]

#[macro_use]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use alembic_core::plan;
use alembic_core::url::Dialect;
use alembic_runtime::postgres_client::{Client, NoTls};
use alembic_runtime::{offline_sql, Migrator, PostgresBackend, RunError, RunOptions};
use support::*;

/// The server's URL; `None` (after a loud notice) when the suite skips.
fn url() -> Option<String> {
    server_url("ALEMBIC_TEST_POSTGRES_URL", "PostgreSQL")
}

/// A schema of its own for one test, dropped when the test ends.
struct Schema {
    name: String,
    url: String,
}

impl Schema {
    fn new() -> Option<Schema> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let url = url()?;
        let mut admin = match Client::connect(&url, NoTls) {
            Ok(c) => c,
            Err(e) => {
                let masked = alembic_core::url::DatabaseUrl::parse(&url)
                    .map_or_else(|_| "the configured URL".to_string(), |u| u.masked());
                server_unreachable("PostgreSQL", &masked, &error_chain(&e));
                return None;
            }
        };
        let name = format!(
            "rt_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .expect("create schema");
        Some(Schema { name, url })
    }

    /// A client whose default schema is this one.
    fn client(&self) -> Client {
        let mut c = Client::connect(&self.url, NoTls).expect("connect");
        c.batch_execute(&format!("SET search_path TO {}", self.name))
            .expect("search_path");
        c
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(&self.url, NoTls) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn pg_heads(c: &mut Client) -> Vec<String> {
    c.query("SELECT version_num FROM alembic_version ORDER BY 1", &[])
        .expect("version table")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn pg_tables(c: &mut Client) -> Vec<String> {
    c.query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name LIKE 't_' ORDER BY 1",
        &[],
    )
    .expect("tables")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn pg_history(c: &mut Client) -> Vec<(String, String)> {
    c.query(
        "SELECT revision, operation FROM alembic_version_history ORDER BY id",
        &[],
    )
    .expect("history")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn per_migration() -> RunOptions {
    let mut options = RunOptions::default();
    options.transaction_per_migration = true;
    options
}

#[test]
fn upgrade_downgrade_and_stamp_on_postgres() {
    let Some(schema) = Schema::new() else { return };
    let mut c = schema.client();
    let scripts = directory(five_scripts());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let report = migrator
        .upgrade(&mut PostgresBackend::new(&mut c), "head")
        .expect("upgrade");
    assert_eq!(report.applied.len(), 5);
    assert_eq!(pg_heads(&mut c), ["r5"]);
    assert_eq!(pg_tables(&mut c), ["t1", "t2", "t3", "t4", "t5"]);
    migrator
        .downgrade(&mut PostgresBackend::new(&mut c), "r2")
        .expect("downgrade");
    assert_eq!(pg_heads(&mut c), ["r2"]);
    assert_eq!(pg_tables(&mut c), ["t1", "t2"]);
    migrator
        .stamp(&mut PostgresBackend::new(&mut c), &strings(&["r4"]), false)
        .expect("stamp");
    assert_eq!(pg_heads(&mut c), ["r4"]);
    assert_eq!(pg_history(&mut c).len(), 9);
    assert_eq!(
        migrator
            .current_heads(&mut PostgresBackend::new(&mut c))
            .expect("heads"),
        ["r4"]
    );
    let sql: String = c
        .query_one(
            "SELECT checksum FROM alembic_version_history WHERE revision = 'r2' \
             AND operation = 'upgrade'",
            &[],
        )
        .expect("row")
        .get(0);
    assert_eq!(sql, scripts.script("r2").expect("r2").checksum.to_hex());
}

fn failing_third() -> Vec<alembic_core::Script> {
    let mut list = five_scripts();
    list[2].upgrade_sql =
        "CREATE TABLE t3 (x INTEGER);\nINSERT INTO no_such_table VALUES (1);".into();
    list
}

#[test]
fn a_failure_rolls_back_the_whole_run_on_postgres() {
    let Some(schema) = Schema::new() else { return };
    let mut c = schema.client();
    let scripts = directory(failing_third());
    let err = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut PostgresBackend::new(&mut c), "head")
        .expect_err("r3 fails");
    assert_eq!(err.revision(), Some("r3"));
    let text = err.to_string();
    assert!(text.contains("r3.sql"), "{text}");
    assert!(
        text.contains("relation \"no_such_table\" does not exist"),
        "{text}"
    );
    // As in Alembic, the version tables were created in the run's transaction: rolled back.
    let version_tables: i64 = c
        .query_one(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name LIKE 'alembic_version%'",
            &[],
        )
        .expect("count")
        .get(0);
    assert_eq!(version_tables, 0);
    assert!(pg_tables(&mut c).is_empty(), "DDL rolled back too");
}

#[test]
fn a_failure_in_per_migration_mode_keeps_what_committed_on_postgres() {
    let Some(schema) = Schema::new() else { return };
    let mut c = schema.client();
    let scripts = directory(failing_third());
    let err = Migrator::new(&scripts, per_migration())
        .upgrade(&mut PostgresBackend::new(&mut c), "head")
        .expect_err("r3 fails");
    assert_eq!(err.applied().map(|r| r.applied.len()), Some(2));
    assert_eq!(pg_heads(&mut c), ["r2"]);
    assert_eq!(pg_tables(&mut c), ["t1", "t2"]);
    assert_eq!(pg_history(&mut c).len(), 2);
}

#[test]
fn create_index_concurrently_runs_outside_a_transaction_on_postgres() {
    let Some(schema) = Schema::new() else { return };
    let mut c = schema.client();
    let mut list = five_scripts();
    list[2].upgrade_sql = "CREATE INDEX CONCURRENTLY ix_t2 ON t2 (x);\n\
                           CREATE INDEX CONCURRENTLY ix_t1 ON t1 (x);\n\
                           CREATE TABLE t3 (x INTEGER);"
        .into();
    list[2].transactional = false;
    let scripts = directory(list.clone());
    Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut PostgresBackend::new(&mut c), "head")
        .expect("upgrade");
    assert_eq!(pg_heads(&mut c), ["r5"]);

    // The same script marked transactional fails: the flag is what made it work.
    let Some(other) = Schema::new() else { return };
    let mut c = other.client();
    list[2].transactional = true;
    let scripts = directory(list);
    let err = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut PostgresBackend::new(&mut c), "head")
        .expect_err("CONCURRENTLY inside a transaction");
    assert!(
        matches!(&err, RunError::Migration { revision, .. } if revision == "r3"),
        "{err}"
    );
}

#[test]
fn two_sessions_upgrading_at_once_both_succeed_on_postgres() {
    let Some(schema) = Schema::new() else { return };
    let mut list = five_scripts();
    list[0].upgrade_sql = "CREATE TABLE t1 (x INTEGER); SELECT pg_sleep(0.3);".into();
    // CREATE INDEX CONCURRENTLY waits for every open snapshot, a waiting replica's included:
    // a replica blocked inside pg_advisory_lock would deadlock with it.
    list[2].upgrade_sql = "CREATE INDEX CONCURRENTLY ix_t2 ON t2 (x)".into();
    list[2].transactional = false;
    let scripts = Arc::new(directory(list));
    let schema = Arc::new(schema);
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (scripts, schema, barrier) = (scripts.clone(), schema.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut c = schema.client();
                barrier.wait();
                Migrator::new(&scripts, per_migration())
                    .upgrade(&mut PostgresBackend::new(&mut c), "head")
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
    let mut c = schema.client();
    assert_eq!(pg_heads(&mut c), ["r5"]);
    assert_eq!(pg_history(&mut c).len(), 5);
}

#[test]
fn the_offline_postgres_script_does_what_an_online_run_does() {
    let Some(schema) = Schema::new() else { return };
    let mut c = schema.client();
    let scripts = directory(five_scripts());
    let p = plan::upgrade(scripts.map(), &[], "head").expect("plan");
    let sql = offline_sql(Dialect::Postgres, &p, &scripts, &RunOptions::default()).expect("sql");
    c.batch_execute(&sql)
        .expect("the script runs in psql's dialect");
    assert_eq!(pg_heads(&mut c), ["r5"]);
    assert_eq!(pg_history(&mut c).len(), 5);
    let at: String = c
        .query_one(
            "SELECT applied_at FROM alembic_version_history LIMIT 1",
            &[],
        )
        .expect("row")
        .get(0);
    assert_eq!(at.len(), 24, "{at}");
    // A range's script on a database without the history table (as Python Alembic leaves
    // it) creates the table; the version table is left as it is.
    c.batch_execute("DROP TABLE alembic_version_history")
        .expect("drop history");
    let range = plan::downgrade(scripts.map(), &strings(&["r5"]), "r4").expect("plan");
    let sql =
        offline_sql(Dialect::Postgres, &range, &scripts, &RunOptions::default()).expect("sql");
    c.batch_execute(&sql)
        .expect("a range script runs without the history table");
    assert_eq!(pg_heads(&mut c), ["r4"]);
    assert_eq!(pg_history(&mut c).len(), 1);
    // The online runtime continues it.
    Migrator::new(&scripts, RunOptions::default())
        .downgrade(&mut PostgresBackend::new(&mut c), "base")
        .expect("downgrade");
    assert!(pg_heads(&mut c).is_empty());
    assert!(pg_tables(&mut c).is_empty());
}

#[test]
fn connect_url_takes_a_python_style_url_and_masks_the_password() {
    let Some(schema) = Schema::new() else { return };
    let text = schema
        .url
        .replacen("postgresql://", "postgresql+psycopg2://", 1);
    let parsed = alembic_core::url::DatabaseUrl::parse(&text).expect("url");
    let mut backend = PostgresBackend::connect_url(&parsed).expect("connect");
    let scripts = directory(five_scripts());
    let mut options = RunOptions::default();
    options.version_table_schema = Some(schema.name.clone());
    Migrator::new(&scripts, options.clone())
        .stamp(&mut backend, &strings(&["r1"]), false)
        .expect("stamp in the schema");
    assert_eq!(
        Migrator::new(&scripts, options)
            .current_heads(&mut backend)
            .expect("heads"),
        ["r1"]
    );

    let bad = alembic_core::url::DatabaseUrl::parse("postgresql://nobody:s3cret@127.0.0.1:1/none")
        .expect("url");
    let err = match PostgresBackend::connect_url(&bad) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(
        err.contains("cannot connect to postgresql://nobody:***@127.0.0.1:1/none"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

/// A fresh schema for the cross-backend scenarios.
struct PgHarness {
    client: Client,
    _schema: Schema,
}

impl PgHarness {
    fn new() -> Option<PgHarness> {
        let schema = Schema::new()?;
        Some(PgHarness {
            client: schema.client(),
            _schema: schema,
        })
    }
}

impl support::scenarios::Harness for PgHarness {
    fn backend(&mut self) -> Box<dyn alembic_runtime::Backend + '_> {
        Box::new(PostgresBackend::new(&mut self.client))
    }

    fn heads(&mut self) -> Vec<String> {
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass('alembic_version') IS NOT NULL", &[])
            .expect("regclass")
            .get(0);
        if exists {
            pg_heads(&mut self.client)
        } else {
            Vec::new()
        }
    }

    fn user_tables(&mut self) -> Vec<String> {
        pg_tables(&mut self.client)
    }

    fn history_len(&mut self) -> usize {
        pg_history(&mut self.client).len()
    }
}

scenario_tests!(PgHarness::new());

/// No server needed: nothing listens on port 1. The client's generic "error connecting to
/// server" must come with its cause (the refused connection), the password still masked.
#[test]
fn a_connection_error_keeps_its_cause_and_masks_the_password() {
    let bad = alembic_core::url::DatabaseUrl::parse("postgresql://nobody:s3cret@127.0.0.1:1/none")
        .expect("url");
    let err = match PostgresBackend::connect_url(&bad) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(
        err.contains("cannot connect to postgresql://nobody:***@127.0.0.1:1/none"),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("refused"),
        "the cause is lost: {err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}
