//! The dirty state after a failed non-transactional revision (SQLite with `Transactional:
//! false`, every revision on MySQL), and a PostgreSQL server that kills the migrating session.
//!
//! The server parts follow the server suites' rules: `ALEMBIC_TEST_MYSQL_URL` /
//! `ALEMBIC_TEST_POSTGRES_URL`, a database or schema of their own, a loud skip without a server
//! unless `ALEMBIC_TEST_REQUIRE_ALL=1`.

#[macro_use]
mod support;

use alembic_core::source::ScriptDirectory;
use alembic_core::Script;
use alembic_runtime::{Backend, Migrator, Operation, RunError, RunOptions, SqliteBackend};
use support::*;

/// `r1`..`r5` (as `five_scripts`), with each `(n, upgrade)` making `r<n>` a non-transactional
/// script running `upgrade`.
fn scripts_with(replaced: &[(usize, &str)]) -> ScriptDirectory {
    let mut list = five_scripts();
    for &(n, upgrade) in replaced {
        let id = format!("r{n}");
        let down = format!("r{}", n - 1);
        let mut s: Script = script(&id, &[&down], upgrade, Some(&format!("DROP TABLE t{n};")));
        s.transactional = false;
        list[n - 1] = s;
    }
    directory(list)
}

const BROKEN_R3: &str = "CREATE TABLE t3 (x INTEGER);\nINSERT INTO no_such_table VALUES (1);";
/// The fix: finishes what the broken script left half-done.
const FIXED_R3: &str = "INSERT INTO t3 VALUES (3);";
const BROKEN_R5: &str = "CREATE TABLE t5 (x INTEGER);\nINSERT INTO no_such_table VALUES (5);";

fn options() -> RunOptions {
    let mut options = RunOptions::default();
    // The markers must not disturb verification of what is applied.
    options.verify_checksums = true;
    options
}

fn heads_of(backend: &mut dyn Backend, scripts: &ScriptDirectory) -> Vec<String> {
    Migrator::new(scripts, options())
        .current_heads(backend)
        .expect("heads")
}

/// The whole story on one database: fail, refused, fixed and rerun; fail again, refused,
/// stamped, rerun allowed, stamped past it.
fn dirty_story(backend: &mut dyn Backend) {
    let broken = scripts_with(&[(3, BROKEN_R3)]);
    let migrator = Migrator::new(&broken, options());

    // 1. The failure names the revision, says it may be half-applied, and marks the database.
    let err = migrator.upgrade(backend, "r4").expect_err("r3 fails");
    match &err {
        RunError::Migration {
            revision,
            half_applied,
            marked_dirty,
            applied,
            ..
        } => {
            assert_eq!(revision, "r3");
            assert!(half_applied);
            assert!(marked_dirty);
            assert_eq!(applied.applied.len(), 2);
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("r3") && text.contains("half-applied") && text.contains("dirty"),
        "{text}"
    );
    assert_eq!(heads_of(backend, &broken), ["r2"]);

    // 2. The next run refuses, naming the revision, when, and what to do; reads still work.
    let dirty = migrator
        .dirty(backend)
        .expect("read")
        .expect("the database is dirty");
    assert_eq!(dirty.revision, "r3");
    assert_eq!(dirty.operation, Operation::Upgrade);
    for run in [
        migrator.upgrade(backend, "head"),
        migrator.downgrade(backend, "base"),
    ] {
        match run {
            Err(RunError::Dirty(d)) => assert_eq!(d.revision, "r3"),
            other => panic!("expected the dirty refusal, got {other:?}"),
        }
    }
    let refusal = migrator
        .upgrade(backend, "head")
        .expect_err("refused")
        .to_string();
    for needed in [
        "r3",
        &dirty.failed_at,
        "half-applied",
        "cargo alembic stamp r2",
        "cargo alembic stamp r3",
        "fix the script",
    ] {
        assert!(refusal.contains(needed), "{needed:?} missing in: {refusal}");
    }
    assert_eq!(heads_of(backend, &broken), ["r2"], "nothing ran");
    migrator
        .verify(backend)
        .expect("verification reads still work");

    // 3. A changed script is the user's fix: it runs again, and the state is clean after.
    let fixed = scripts_with(&[(3, FIXED_R3)]);
    let migrator = Migrator::new(&fixed, options());
    let report = migrator
        .upgrade(backend, "r4")
        .expect("the fixed script runs");
    assert_eq!(report.applied.len(), 2);
    assert_eq!(heads_of(backend, &fixed), ["r4"]);
    assert_eq!(migrator.dirty(backend).expect("read"), None);
    migrator.verify(backend).expect("applied scripts verify");

    // 4. Fail again (r5), then stamp: the user says none of it took effect.
    let broken5 = scripts_with(&[(3, FIXED_R3), (5, BROKEN_R5)]);
    let migrator = Migrator::new(&broken5, options());
    migrator.upgrade(backend, "head").expect_err("r5 fails");
    assert!(matches!(
        migrator.upgrade(backend, "head"),
        Err(RunError::Dirty(_))
    ));
    // Stamping to where the version table already is moves nothing, and still resolves.
    migrator
        .stamp(backend, &strings(&["r4"]), false)
        .expect("stamp clears the dirty state");
    assert_eq!(migrator.dirty(backend).expect("read"), None);
    // So the unchanged script may run again (and fails again: its table is still there).
    match migrator.upgrade(backend, "head") {
        Err(RunError::Migration { revision, .. }) => assert_eq!(revision, "r5"),
        other => panic!("expected r5 to run and fail again, got {other:?}"),
    }
    // The user finishes r5 by hand and says so.
    migrator
        .stamp(backend, &strings(&["r5"]), false)
        .expect("stamp to r5");
    assert_eq!(heads_of(backend, &broken5), ["r5"]);
    assert_eq!(migrator.dirty(backend).expect("read"), None);
    migrator
        .upgrade(backend, "head")
        .expect("a no-op, not refused");
}

#[test]
fn a_failed_non_transactional_revision_on_sqlite_marks_the_database_dirty() {
    let db = new_db();
    let mut conn = open(&db.path);
    dirty_story(&mut SqliteBackend::new(&mut conn));
    let ops: Vec<String> = history(&conn).into_iter().map(|(_, op)| op).collect();
    assert!(ops.contains(&"failed upgrade".to_string()), "{ops:?}");
    assert!(ops.contains(&"resolved".to_string()), "{ops:?}");
}

#[test]
fn a_fixed_script_earns_a_rerun_of_itself_not_a_pass_for_another_run() {
    let db = new_db();
    let mut conn = open(&db.path);
    let mut backend = SqliteBackend::new(&mut conn);
    let broken = scripts_with(&[(3, BROKEN_R3)]);
    Migrator::new(&broken, options())
        .upgrade(&mut backend, "r4")
        .expect_err("r3 fails");
    let fixed = scripts_with(&[(3, FIXED_R3)]);
    let migrator = Migrator::new(&fixed, options());
    // Runs that do not upgrade r3 stay refused, although its script changed.
    for (what, run) in [
        ("downgrade r1", migrator.downgrade(&mut backend, "r1")),
        (
            "upgrade r2 (nothing to run)",
            migrator.upgrade(&mut backend, "r2"),
        ),
    ] {
        match run {
            Err(RunError::Dirty(d)) => assert_eq!(d.revision, "r3", "{what}"),
            other => panic!("{what}: expected the dirty refusal, got {other:?}"),
        }
    }
    assert_eq!(heads_of(&mut backend, &fixed), ["r2"], "nothing ran");
    // The run that reruns r3 is allowed, and leaves the database clean.
    migrator
        .upgrade(&mut backend, "r3")
        .expect("the fixed r3 runs");
    assert!(migrator.dirty(&mut backend).expect("read").is_none());
}

#[test]
fn a_failed_non_transactional_downgrade_marks_the_database_dirty_the_other_way_round() {
    let db = new_db();
    let mut conn = open(&db.path);
    let mut list = five_scripts();
    list[2].downgrade_sql = Some("DROP TABLE t3;\nDROP TABLE no_such_table;".into());
    list[2].transactional = false;
    let scripts = directory(list);
    let migrator = Migrator::new(&scripts, options());
    let mut backend = SqliteBackend::new(&mut conn);
    migrator.upgrade(&mut backend, "head").expect("upgrade");
    match migrator.downgrade(&mut backend, "base") {
        Err(RunError::Migration {
            revision,
            marked_dirty,
            ..
        }) => assert!(revision == "r3" && marked_dirty),
        other => panic!("expected r3's downgrade to fail, got {other:?}"),
    }
    assert_eq!(heads_of(&mut backend, &scripts), ["r3"]);
    let dirty = migrator.dirty(&mut backend).expect("read").expect("dirty");
    assert_eq!(dirty.operation, Operation::Downgrade);
    // Undone entirely: stamp r2; not at all: stamp r3.
    assert_eq!(dirty.stamp_targets(), ("r3".to_string(), "r2".to_string()));
    let refusal = migrator
        .upgrade(&mut backend, "head")
        .expect_err("refused")
        .to_string();
    assert!(
        refusal.contains("downgrade of revision r3") && refusal.contains("cargo alembic stamp r2"),
        "{refusal}"
    );
    // Verification ignores the marker: r3's applied record still verifies.
    migrator.verify(&mut backend).expect("verify");
    migrator
        .stamp(&mut backend, &strings(&["r2"]), false)
        .expect("stamp r2: its table is gone");
    assert_eq!(migrator.dirty(&mut backend).expect("read"), None);
    migrator
        .downgrade(&mut backend, "base")
        .expect("the rest downgrades");
    drop(backend);
    assert!(user_tables(&conn).is_empty());
}

#[test]
fn a_transactional_failure_does_not_mark_the_database_dirty() {
    let db = new_db();
    let mut conn = open(&db.path);
    let mut list = five_scripts();
    list[2].upgrade_sql = BROKEN_R3.into();
    let scripts = directory(list);
    let migrator = Migrator::new(&scripts, options());
    let mut backend = SqliteBackend::new(&mut conn);
    match migrator.upgrade(&mut backend, "head") {
        Err(RunError::Migration {
            half_applied,
            marked_dirty,
            ..
        }) => assert!(!half_applied && !marked_dirty),
        other => panic!("expected a migration error, got {other:?}"),
    }
    assert_eq!(migrator.dirty(&mut backend).expect("read"), None);
}

#[cfg(feature = "mysql")]
mod mysql {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use alembic_runtime::mysql_client::prelude::Queryable;
    use alembic_runtime::mysql_client::{Conn, Opts};
    use alembic_runtime::MysqlBackend;

    use super::support::*;

    fn connect(url: &str) -> Result<Conn, String> {
        let opts = Opts::from_url(url).map_err(|e| e.to_string())?;
        Conn::new(opts).map_err(|e| e.to_string())
    }

    #[test]
    fn a_failed_revision_on_mysql_marks_the_database_dirty() {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let Some(server) = server_url("ALEMBIC_TEST_MYSQL_URL", "MySQL") else {
            return;
        };
        let mut admin = match connect(&server) {
            Ok(c) => c,
            Err(e) => return server_unreachable("MySQL", "ALEMBIC_TEST_MYSQL_URL", &e),
        };
        let name = format!(
            "dirty_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        admin
            .query_drop(format!(
                "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"
            ))
            .expect("create database");
        let root = server.rsplit_once('/').map_or(server.as_str(), |(r, _)| r);
        let mut c = connect(&format!("{root}/{name}")).expect("connect");
        // Every MySQL revision runs outside a transaction, `Transactional` or not.
        super::dirty_story(&mut MysqlBackend::new(&mut c));
        let ops: Vec<String> = c
            .query("SELECT operation FROM alembic_version_history ORDER BY id")
            .expect("history");
        assert!(ops.contains(&"failed upgrade".to_string()), "{ops:?}");
        let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS {name}"));
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use alembic_runtime::postgres_client::{Client, NoTls};
    use alembic_runtime::{Migrator, PostgresBackend, RunError, RunOptions};

    use super::support::*;

    /// The server kills the migrating session while a revision runs (as a restart or an
    /// administrator would): the error says which revision and that it was rolled back,
    /// nothing of the run stays, and a rerun does all of it.
    #[test]
    fn a_session_killed_during_a_revision_leaves_no_trace_and_a_rerun_finishes() {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let Some(url) = server_url("ALEMBIC_TEST_POSTGRES_URL", "PostgreSQL") else {
            return;
        };
        let mut admin = match Client::connect(&url, NoTls) {
            Ok(c) => c,
            Err(e) => {
                return server_unreachable(
                    "PostgreSQL",
                    "ALEMBIC_TEST_POSTGRES_URL",
                    &error_chain(&e),
                )
            }
        };
        let name = format!(
            "dirty_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .expect("create schema");
        let client = |url: &str| {
            let mut c = Client::connect(url, NoTls).expect("connect");
            c.batch_execute(&format!("SET search_path TO {name}"))
                .expect("search_path");
            c
        };

        let mut list = five_scripts();
        list[1].upgrade_sql = "CREATE TABLE t2 (x INTEGER);\nSELECT pg_sleep(2);".into();
        let scripts = directory(list);
        let migrator = Migrator::new(&scripts, RunOptions::default());

        let mut victim = client(&url);
        let pid: i32 = victim
            .query_one("SELECT pg_backend_pid()", &[])
            .expect("pid")
            .get(0);
        let killer_url = url.clone();
        let killer = thread::spawn(move || -> Result<bool, String> {
            let mut c = Client::connect(&killer_url, NoTls).map_err(|e| e.to_string())?;
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                let sleeping = c
                    .query(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = $1 \
                         AND state = 'active' AND query LIKE '%pg_sleep%'",
                        &[&pid],
                    )
                    .map_err(|e| e.to_string())?;
                if !sleeping.is_empty() {
                    let row = c
                        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
                        .map_err(|e| e.to_string())?;
                    return Ok(row.get(0));
                }
                thread::sleep(Duration::from_millis(20));
            }
            Ok(false)
        });
        let result = migrator.upgrade(&mut PostgresBackend::new(&mut victim), "head");
        assert_eq!(killer.join().expect("killer thread"), Ok(true));
        let err = match result {
            Err(e) => e,
            Ok(report) => panic!("the run survived its session: {report}"),
        };
        match &err {
            RunError::Migration {
                revision,
                half_applied,
                applied,
                ..
            } => {
                assert_eq!(revision, "r2");
                assert!(!half_applied);
                assert!(applied.is_empty(), "nothing committed: {applied}");
            }
            other => panic!("expected a migration error naming r2, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("r2") && text.contains("rolled back") && text.contains("terminat"),
            "{text}"
        );

        // No trace: the run's one transaction took the tables with it.
        let mut check = client(&url);
        let left: i64 = check
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
                &[&name],
            )
            .expect("count")
            .get(0);
        assert_eq!(left, 0, "the killed run left tables behind");

        // A rerun (on a new session) does the whole job.
        let report = migrator
            .upgrade(&mut PostgresBackend::new(&mut check), "head")
            .expect("rerun");
        assert_eq!(report.applied.len(), 5);
        let heads: Vec<String> = check
            .query("SELECT version_num FROM alembic_version", &[])
            .expect("heads")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(heads, ["r5"]);
        let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
    }
}
