//! The executor on real SQLite files: version rows, history rows, transaction modes, failures.

#[macro_use]
mod support;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use alembic_core::plan::{Plan, Step, StepKind, VersionChange};
use alembic_core::Checksum;
use alembic_runtime::{
    backup_to, BackupError, Migrator, Operation, RunError, RunOptions, SqliteBackend,
    VersionRowError,
};
use support::*;

fn per_migration() -> RunOptions {
    let mut options = RunOptions::default();
    options.transaction_per_migration = true;
    options
}

#[test]
fn upgrade_downgrade_and_stamp_move_rows_and_write_history() {
    let db = new_db();
    let scripts = directory(five_scripts());
    let mut options = RunOptions::default();
    options.tool = "cargo-alembic 9.9.9".into();
    let migrator = Migrator::new(&scripts, options);
    let mut conn = open(&db.path);

    let report = migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("upgrade");
    let ran: Vec<&str> = report.applied.iter().filter_map(|a| a.revision()).collect();
    assert_eq!(ran, ["r1", "r2", "r3", "r4", "r5"]);
    assert!(report
        .applied
        .iter()
        .all(|a| a.operation() == Operation::Upgrade));
    assert!(
        report.to_string().starts_with("ran 5 migrations in "),
        "{report}"
    );
    assert_eq!(heads(&conn), ["r5"]);
    assert_eq!(user_tables(&conn), ["t1", "t2", "t3", "t4", "t5"]);
    let n: i64 = conn
        .query_row("SELECT x FROM t3", [], |r| r.get(0))
        .expect("t3 has its row");
    assert_eq!(n, 3);

    // Nothing to do the second time.
    let again = migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("no-op upgrade");
    assert!(again.is_empty());
    assert_eq!(again.to_string(), "no migrations ran");

    let report = migrator
        .downgrade(&mut SqliteBackend::new(&mut conn), "r2")
        .expect("downgrade");
    let ran: Vec<String> = report.applied.iter().map(|a| a.to_string()).collect();
    assert_eq!(ran.len(), 3);
    assert!(ran[0].starts_with("downgrade r5 ("), "{ran:?}");
    assert_eq!(heads(&conn), ["r2"]);
    assert_eq!(user_tables(&conn), ["t1", "t2"]);

    migrator
        .stamp(&mut SqliteBackend::new(&mut conn), &strings(&["r4"]), false)
        .expect("stamp");
    assert_eq!(heads(&conn), ["r4"]);
    assert_eq!(user_tables(&conn), ["t1", "t2"], "stamp runs no SQL");

    let mut expected: Vec<(String, String)> = Vec::new();
    for r in ["r1", "r2", "r3", "r4", "r5"] {
        expected.push((r.into(), "upgrade".into()));
    }
    for r in ["r5", "r4", "r3"] {
        expected.push((r.into(), "downgrade".into()));
    }
    expected.push(("r4".into(), "stamp".into()));
    assert_eq!(history(&conn), expected);

    assert_eq!(
        migrator
            .current_heads(&mut SqliteBackend::new(&mut conn))
            .expect("heads"),
        ["r4"]
    );
}

#[test]
fn history_rows_carry_checksums_downgrade_sql_time_and_tool() {
    let db = new_db();
    let list = five_scripts();
    let (r1_sum, r2_sum) = (list[0].checksum, list[1].checksum);
    let scripts = directory(list);
    let mut options = RunOptions::default();
    options.tool = "cargo-alembic 9.9.9".into();
    let mut conn = open(&db.path);
    Migrator::new(&scripts, options)
        .upgrade(&mut SqliteBackend::new(&mut conn), "r2")
        .expect("upgrade");

    let row = conn
        .query_row(
            "SELECT revision, operation, checksum, chained_checksum, downgrade_sql, applied_at, \
             duration_ms, tool FROM alembic_version_history WHERE revision = 'r2'",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, String>(7)?,
                ))
            },
        )
        .expect("history row of r2");
    assert_eq!(row.0, "r2");
    assert_eq!(row.1, "upgrade");
    assert_eq!(row.2, r2_sum.to_hex());
    let chained = Checksum::chained(&r2_sum, &[Checksum::chained(&r1_sum, &[])]);
    assert_eq!(row.3, chained.to_hex());
    assert_eq!(row.4.as_deref(), Some("DROP TABLE t2;"));
    // 2025-08-23T10:30:00.123Z
    assert_eq!(row.5.len(), 24, "{}", row.5);
    assert!(
        row.5.ends_with('Z') && row.5.as_bytes()[10] == b'T',
        "{}",
        row.5
    );
    assert!(row.6.is_some_and(|ms| ms >= 0));
    assert_eq!(row.7, "cargo-alembic 9.9.9");
}

/// Revision 3 of 5 fails on its second statement.
fn failing_third() -> Vec<alembic_core::Script> {
    let mut list = five_scripts();
    list[2].upgrade_sql =
        "CREATE TABLE t3 (x INTEGER);\nINSERT INTO no_such_table VALUES (1);".into();
    list
}

#[test]
fn a_failure_in_one_transaction_mode_leaves_the_database_as_it_was() {
    let db = new_db();
    let scripts = directory(failing_third());
    let mut conn = open(&db.path);
    let err = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect_err("r3 fails");
    match &err {
        RunError::Migration {
            revision,
            path,
            operation,
            half_applied,
            applied,
            ..
        } => {
            assert_eq!(revision, "r3");
            assert!(path.ends_with("r3.sql"));
            assert_eq!(*operation, Operation::Upgrade);
            assert!(!half_applied);
            assert!(applied.is_empty(), "nothing committed: {applied}");
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("revision r3"), "{text}");
    assert!(text.contains("r3.sql"), "{text}");
    assert!(text.contains("no such table: no_such_table"), "{text}");
    assert!(text.contains("rolled back"), "{text}");

    // The whole run rolled back, version tables included.
    assert!(!table_exists(&conn, "alembic_version"));
    assert!(user_tables(&conn).is_empty());
    assert!(conn.is_autocommit(), "no transaction left open");
}

#[test]
fn a_failure_in_one_transaction_mode_keeps_the_previous_version() {
    let db = new_db();
    let scripts = directory(failing_third());
    let mut conn = open(&db.path);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "r1")
        .expect("r1");
    migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect_err("r3 fails");
    assert_eq!(heads(&conn), ["r1"]);
    assert_eq!(user_tables(&conn), ["t1"]);
    assert_eq!(history(&conn).len(), 1);
}

#[test]
fn a_failure_in_per_migration_mode_keeps_what_committed_before_it() {
    let db = new_db();
    let scripts = directory(failing_third());
    let mut conn = open(&db.path);
    let err = Migrator::new(&scripts, per_migration())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect_err("r3 fails");
    assert_eq!(err.revision(), Some("r3"));
    let applied: Vec<&str> = err
        .applied()
        .expect("a report")
        .applied
        .iter()
        .filter_map(|a| a.revision())
        .collect();
    assert_eq!(applied, ["r1", "r2"]);
    assert!(
        err.to_string()
            .ends_with("(committed before it: upgrade r1, upgrade r2)"),
        "{err}"
    );
    assert_eq!(heads(&conn), ["r2"]);
    assert_eq!(user_tables(&conn), ["t1", "t2"]);
    assert_eq!(history(&conn).len(), 2);
}

#[test]
fn a_non_transactional_revision_runs_outside_any_transaction() {
    let db = new_db();
    let mut list = five_scripts();
    // VACUUM cannot run inside a transaction: it succeeds only if the executor honours the flag.
    list[2].upgrade_sql = "CREATE TABLE t3 (x INTEGER);\nVACUUM;".into();
    list[2].transactional = false;
    let scripts = directory(list);
    let mut conn = open(&db.path);
    let report = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("upgrade with a non-transactional revision");
    assert_eq!(report.applied.len(), 5);
    assert_eq!(heads(&conn), ["r5"]);
    assert_eq!(history(&conn).len(), 5);
}

#[test]
fn a_failing_non_transactional_revision_is_reported_as_possibly_half_applied() {
    let db = new_db();
    let mut list = five_scripts();
    list[2].upgrade_sql =
        "CREATE TABLE t3 (x INTEGER);\nINSERT INTO no_such_table VALUES (1);".into();
    list[2].transactional = false;
    let scripts = directory(list);
    let mut conn = open(&db.path);
    let err = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect_err("r3 fails");
    match &err {
        RunError::Migration {
            revision,
            half_applied,
            applied,
            ..
        } => {
            assert_eq!(revision, "r3");
            assert!(half_applied);
            // What ran before it was committed first.
            assert_eq!(applied.applied.len(), 2);
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    assert!(err.to_string().contains("half-applied"), "{err}");
    assert_eq!(heads(&conn), ["r2"], "the version table does not claim r3");
    assert_eq!(
        user_tables(&conn),
        ["t1", "t2", "t3"],
        "its first statement stayed"
    );
}

#[test]
fn downgrade_through_a_revision_without_downgrade_sql_fails_before_running_anything() {
    let db = new_db();
    let mut list = five_scripts();
    list[2].downgrade_sql = None;
    let scripts = directory(list);
    let mut conn = open(&db.path);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("upgrade");
    let err = migrator
        .downgrade(&mut SqliteBackend::new(&mut conn), "base")
        .expect_err("r3 cannot be downgraded");
    match &err {
        RunError::NoDowngrade { revision, path } => {
            assert_eq!(revision, "r3");
            assert!(path.ends_with("r3.sql"));
        }
        other => panic!("expected NoDowngrade, got {other:?}"),
    }
    assert!(err.to_string().contains("r3.sql"), "{err}");
    assert_eq!(heads(&conn), ["r5"]);
    assert_eq!(
        user_tables(&conn).len(),
        5,
        "r5 and r4 were not downgraded either"
    );
    assert_eq!(history(&conn).len(), 5);
}

#[test]
fn a_database_at_an_unknown_revision_is_refused() {
    let db = new_db();
    let scripts = directory(five_scripts());
    let mut conn = open(&db.path);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "r2")
        .expect("upgrade");
    conn.execute("UPDATE alembic_version SET version_num = 'f00d'", [])
        .expect("simulate a newer build");
    let err = migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect_err("unknown revision");
    assert!(
        matches!(&err, RunError::UnknownDatabaseRevision { revisions, .. } if revisions == &["f00d"])
    );
    let text = err.to_string();
    assert!(
        text.contains("the database is at revision f00d, which none of the scripts in migrations/versions define: is this binary older than the database?"),
        "{text}"
    );
    assert_eq!(user_tables(&conn), ["t1", "t2"]);
    assert!(conn.is_autocommit(), "the lock was released");

    // Stamping with purge recovers, as in Alembic.
    migrator
        .stamp(&mut SqliteBackend::new(&mut conn), &strings(&["r2"]), true)
        .expect("stamp --purge");
    assert_eq!(heads(&conn), ["r2"]);
}

#[test]
fn a_database_made_by_python_alembic_is_adopted() {
    let db = new_db();
    let conn = open(&db.path);
    // Exactly what Python Alembic leaves: its version table at r2, and r1/r2's tables.
    conn.execute_batch(
        "CREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL, \n    \
         CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n);\n\
         INSERT INTO alembic_version (version_num) VALUES ('r2');\n\
         CREATE TABLE t1 (x INTEGER); CREATE TABLE t2 (x INTEGER);",
    )
    .expect("python-made database");
    drop(conn);

    let scripts = directory(five_scripts());
    let mut conn = open(&db.path);
    let report = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("upgrade");
    let ran: Vec<&str> = report.applied.iter().filter_map(|a| a.revision()).collect();
    assert_eq!(ran, ["r3", "r4", "r5"]);
    assert_eq!(heads(&conn), ["r5"]);
    assert!(table_exists(&conn, "alembic_version_history"));
    let names: Vec<String> = history(&conn).into_iter().map(|(r, _)| r).collect();
    assert_eq!(names, ["r3", "r4", "r5"]);
}

#[test]
fn the_version_table_is_pythons_and_its_name_is_configurable() {
    let db = new_db();
    let scripts = directory(five_scripts());
    let mut conn = open(&db.path);
    Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r1")
        .expect("upgrade");
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'alembic_version'",
            [],
            |r| r.get(0),
        )
        .expect("ddl");
    assert_eq!(
        sql,
        "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\t\
         CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)"
    );

    let mut options = RunOptions::default();
    options.version_table = "schema_version".into();
    options.version_table_schema = Some("main".into());
    let other = new_db();
    let mut conn = open(&other.path);
    Migrator::new(&scripts, options)
        .upgrade(&mut SqliteBackend::new(&mut conn), "r2")
        .expect("upgrade");
    assert!(table_exists(&conn, "schema_version"));
    assert!(table_exists(&conn, "schema_version_history"));
    assert!(!table_exists(&conn, "alembic_version"));
    let v: String = conn
        .query_row("SELECT version_num FROM schema_version", [], |r| r.get(0))
        .expect("row");
    assert_eq!(v, "r2");
}

#[test]
fn current_heads_reads_without_creating_anything() {
    let db = new_db();
    let scripts = directory(five_scripts());
    let mut conn = open(&db.path);
    let heads = Migrator::new(&scripts, RunOptions::default())
        .current_heads(&mut SqliteBackend::new(&mut conn))
        .expect("heads");
    assert!(heads.is_empty());
    assert!(!table_exists(&conn, "alembic_version"));
}

#[test]
fn a_version_row_that_moved_is_an_error_naming_the_revision_and_nothing_commits() {
    let db = new_db();
    let scripts = directory(five_scripts());
    let mut conn = open(&db.path);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "r1")
        .expect("upgrade");
    // A plan made from r1 whose version change claims the database is at r9.
    let plan = Plan {
        heads_before: strings(&["r1"]),
        steps: vec![Step {
            kind: StepKind::Upgrade {
                revision: "r2".into(),
            },
            version_changes: vec![VersionChange::Update {
                from: "r9".into(),
                to: "r2".into(),
            }],
        }],
        heads_after: strings(&["r2"]),
    };
    let err = migrator
        .execute(&mut SqliteBackend::new(&mut conn), &plan)
        .expect_err("row count check");
    match &err {
        RunError::VersionTable {
            revision,
            cause,
            sql_committed,
            ..
        } => {
            assert_eq!(revision, "r2");
            assert!(!sql_committed);
            assert!(matches!(
                **cause,
                VersionRowError::RowCount { rows: 0, ref id, .. } if id == "r9"
            ));
        }
        other => panic!("expected VersionTable, got {other:?}"),
    }
    assert!(
        err.to_string().contains("touched 0 rows instead of 1"),
        "{err}"
    );
    assert_eq!(heads(&conn), ["r1"]);
    assert_eq!(user_tables(&conn), ["t1"], "r2's SQL rolled back with it");
}

#[test]
fn execute_refuses_a_plan_made_from_other_heads() {
    let db = new_db();
    let scripts = directory(five_scripts());
    let mut conn = open(&db.path);
    let plan = Plan {
        heads_before: strings(&["r1"]),
        steps: vec![],
        heads_after: strings(&["r1"]),
    };
    let err = Migrator::new(&scripts, RunOptions::default())
        .execute(&mut SqliteBackend::new(&mut conn), &plan)
        .expect_err("database is empty");
    assert!(matches!(err, RunError::HeadsMoved { ref found, .. } if found.is_empty()));
}

#[test]
fn execute_runs_a_hand_made_plan_with_a_merge_and_a_stamp() {
    let db = new_db();
    let scripts = directory(vec![
        script("a", &[], "CREATE TABLE ta (x);", Some("DROP TABLE ta;")),
        script("b", &[], "CREATE TABLE tb (x);", Some("DROP TABLE tb;")),
        script("m", &["a", "b"], "", Some("")),
    ]);
    let mut conn = open(&db.path);
    let up = |id: &str, changes| Step {
        kind: StepKind::Upgrade {
            revision: id.to_string(),
        },
        version_changes: changes,
    };
    let plan = Plan {
        heads_before: vec![],
        steps: vec![
            up("a", vec![VersionChange::Insert { id: "a".into() }]),
            up("b", vec![VersionChange::Insert { id: "b".into() }]),
            up(
                "m",
                vec![
                    VersionChange::Delete { id: "a".into() },
                    VersionChange::Update {
                        from: "b".into(),
                        to: "m".into(),
                    },
                ],
            ),
        ],
        heads_after: strings(&["m"]),
    };
    let migrator = Migrator::new(&scripts, per_migration());
    migrator
        .execute(&mut SqliteBackend::new(&mut conn), &plan)
        .expect("merge plan");
    assert_eq!(heads(&conn), ["m"]);

    let stamp = Plan {
        heads_before: strings(&["m"]),
        steps: vec![Step {
            kind: StepKind::Stamp {
                from: strings(&["m"]),
                to: vec![],
            },
            version_changes: vec![VersionChange::Delete { id: "m".into() }],
        }],
        heads_after: vec![],
    };
    migrator
        .execute(&mut SqliteBackend::new(&mut conn), &stamp)
        .expect("stamp base");
    assert!(heads(&conn).is_empty());
    let last = history(&conn).pop().expect("rows");
    assert_eq!(last, ("m".to_string(), "stamp".to_string()));
    let checksum: Option<String> = conn
        .query_row(
            "SELECT checksum FROM alembic_version_history ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(
        checksum, None,
        "a stamp that removes a revision records no checksum"
    );
}

/// Two connections (as two replicas would) upgrade the same file at once.
fn race(options: RunOptions, wal: bool) {
    let db = new_db();
    if wal {
        let conn = open(&db.path);
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .expect("wal");
        assert_eq!(mode, "wal");
    }
    let mut list = five_scripts();
    // Slow enough that the second upgrader really starts while the first holds the lock.
    list[0].upgrade_sql = "CREATE TABLE t1 (x INTEGER);\n\
         WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 200000) \
         INSERT INTO t1 SELECT n FROM c;"
        .into();
    let scripts = Arc::new(directory(list));
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (scripts, barrier, path) = (scripts.clone(), barrier.clone(), db.path.clone());
            let options = options.clone();
            std::thread::spawn(move || {
                let mut conn = open(&path);
                barrier.wait();
                let mut backend =
                    SqliteBackend::new(&mut conn).with_busy_timeout(Duration::from_secs(30));
                Migrator::new(&scripts, options)
                    .upgrade(&mut backend, "head")
                    .map(|report| report.applied.len())
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut counts: Vec<usize> = threads
        .into_iter()
        .map(|t| t.join().expect("thread").expect("both upgrades succeed"))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [0, 5],
        "one ran everything, the other found nothing to do"
    );
    let conn = open(&db.path);
    assert_eq!(heads(&conn), ["r5"]);
    assert_eq!(history(&conn).len(), 5);
}

#[test]
fn two_processes_upgrading_at_once_both_succeed_and_each_revision_runs_once() {
    race(RunOptions::default(), false);
}

#[test]
fn the_lock_holds_across_commits_in_per_migration_mode() {
    race(per_migration(), false);
}

#[test]
fn the_lock_holds_across_commits_in_wal_mode() {
    race(per_migration(), true);
    race(RunOptions::default(), true);
}

#[test]
fn the_lock_is_released_and_the_busy_timeout_restored_after_a_failure() {
    let db = new_db();
    let scripts = directory(failing_third());
    let mut conn = open(&db.path);
    conn.busy_timeout(Duration::from_millis(1234)).expect("set");
    Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect_err("r3 fails");
    assert!(conn.is_autocommit());
    let ms: i64 = conn
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(ms, 1234);
    // Another connection can write at once.
    let other = open(&db.path);
    other
        .execute_batch("CREATE TABLE free (x)")
        .expect("database not locked");
}

#[test]
fn a_connection_inside_a_transaction_is_refused() {
    let db = new_db();
    let scripts = directory(five_scripts());
    let mut conn = open(&db.path);
    conn.execute_batch("BEGIN").expect("begin");
    let err = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect_err("refused");
    assert!(matches!(err, RunError::Lock { .. }), "{err:?}");
    assert!(err.to_string().contains("inside a transaction"), "{err}");
}

#[test]
fn backup_copies_the_database_and_never_overwrites() {
    let db = new_db();
    let scripts = directory(five_scripts());
    let mut conn = open(&db.path);
    Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r2")
        .expect("upgrade");
    let dest = db.dir.path().join("app.backup.db");
    let written = backup_to(&conn, &dest).expect("backup");
    assert_eq!(written, dest);
    let copy = open(&dest);
    assert_eq!(heads(&copy), ["r2"]);
    assert_eq!(user_tables(&copy), ["t1", "t2"]);
    match backup_to(&conn, &dest) {
        Err(e @ BackupError::Exists { .. }) => {
            assert!(e.to_string().contains("already exists"), "{e}")
        }
        other => panic!("expected Exists, got {other:?}"),
    }
}

/// Whether another migrator could take the run lock right now.
fn can_lock(path: &std::path::Path) -> bool {
    use alembic_runtime::Backend;
    let mut other = SqliteBackend::from_connection(open(path)).with_busy_timeout(Duration::ZERO);
    let tables =
        alembic_runtime::Tables::new(alembic_core::url::Dialect::Sqlite, &RunOptions::default());
    let ok = other.lock(&tables).is_ok();
    if ok {
        other.unlock().expect("unlock");
    }
    ok
}

fn lock_spans_commits(wal: bool) {
    use alembic_runtime::Backend;
    let db = new_db();
    let mut conn = open(&db.path);
    if wal {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .expect("wal");
        assert_eq!(mode, "wal");
    }
    {
        let mut backend = SqliteBackend::new(&mut conn);
        let tables = alembic_runtime::Tables::new(
            alembic_core::url::Dialect::Sqlite,
            &RunOptions::default(),
        );
        backend.lock(&tables).expect("lock");
        assert!(
            backend.in_transaction(),
            "the run starts inside a write transaction"
        );
        assert!(!can_lock(&db.path), "locked");
        backend.execute_batch("CREATE TABLE a (x)").expect("ddl");
        backend.commit().expect("commit");
        assert!(!can_lock(&db.path), "still locked between two transactions");
        // Other connections may still use the database meanwhile.
        open(&db.path)
            .execute_batch("CREATE TABLE app_data (x)")
            .expect("not blocked");
        backend.begin().expect("begin");
        backend.execute_batch("CREATE TABLE b (x)").expect("ddl");
        backend.commit().expect("commit");
        backend
            .execute_batch("CREATE TABLE c (x)")
            .expect("outside a transaction");
        assert!(
            !can_lock(&db.path),
            "still locked after autocommit statements"
        );
        backend.unlock().expect("unlock");
    }
    assert!(can_lock(&db.path), "released");
}

#[test]
fn the_sqlite_lock_spans_commits_until_unlocked() {
    lock_spans_commits(false);
}

#[test]
fn the_sqlite_lock_spans_commits_until_unlocked_in_wal_mode() {
    lock_spans_commits(true);
}

#[test]
fn an_in_memory_database_needs_no_lock_file() {
    let scripts = directory(five_scripts());
    let mut conn = alembic_runtime::rusqlite::Connection::open_in_memory().expect("memory");
    Migrator::new(&scripts, per_migration())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("upgrade");
    assert_eq!(heads(&conn), ["r5"]);
}

/// Set in the child processes of the test below.
const CHILD_DB: &str = "ALEMBIC_RUNTIME_TEST_CHILD_DB";

#[test]
fn two_os_processes_upgrading_at_once_both_succeed() {
    // The child side: upgrade the given file and print how many revisions this process ran.
    if let Ok(path) = std::env::var(CHILD_DB) {
        let scripts = directory(five_scripts());
        let mut conn = open(std::path::Path::new(&path));
        let report = Migrator::new(&scripts, per_migration())
            .upgrade(&mut SqliteBackend::new(&mut conn), "head")
            .expect("child upgrade");
        println!("CHILD-RAN {}", report.applied.len());
        return;
    }
    let db = new_db();
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "two_os_processes_upgrading_at_once_both_succeed",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DB, &db.path)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    let mut counts: Vec<usize> = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().expect("child output");
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(out.status.success(), "child failed: {stdout}");
            stdout
                .lines()
                .find_map(|l| l.split("CHILD-RAN ").nth(1))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("no count in child output: {stdout}"))
        })
        .collect();
    counts.sort();
    // Which child wins is up to the scheduler; between them each revision ran exactly once.
    assert_eq!(counts.iter().sum::<usize>(), 5, "{counts:?}");
    let conn = open(&db.path);
    assert_eq!(heads(&conn), ["r5"]);
    assert_eq!(history(&conn).len(), 5);
}

#[test]
fn a_lock_held_past_the_busy_timeout_is_a_lock_error() {
    use alembic_runtime::Backend;
    let db = new_db();
    let scripts = directory(five_scripts());
    let mut holder = SqliteBackend::from_connection(open(&db.path));
    let tables =
        alembic_runtime::Tables::new(alembic_core::url::Dialect::Sqlite, &RunOptions::default());
    holder.lock(&tables).expect("first migrator holds the lock");
    let mut conn = open(&db.path);
    let err = Migrator::new(&scripts, RunOptions::default())
        .upgrade(
            &mut SqliteBackend::new(&mut conn).with_busy_timeout(Duration::from_millis(200)),
            "head",
        )
        .expect_err("lock busy");
    assert!(matches!(err, RunError::Lock { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("could not take the migration lock: the migration lock file ")
            && text.ends_with("database is locked"),
        "{text}"
    );
    assert!(
        text.contains("another process migrating this database"),
        "{text}"
    );
    assert!(conn.is_autocommit());
    holder.unlock().expect("unlock");
    Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("free again");
}

/// A fresh SQLite file for the cross-backend scenarios.
struct SqliteHarness {
    db: Db,
}

impl support::scenarios::Harness for SqliteHarness {
    fn backend(&mut self) -> Box<dyn alembic_runtime::Backend + '_> {
        Box::new(SqliteBackend::from_connection(open(&self.db.path)))
    }

    fn heads(&mut self) -> Vec<String> {
        let conn = open(&self.db.path);
        if table_exists(&conn, "alembic_version") {
            heads(&conn)
        } else {
            Vec::new()
        }
    }

    fn user_tables(&mut self) -> Vec<String> {
        user_tables(&open(&self.db.path))
    }

    fn history_len(&mut self) -> usize {
        history(&open(&self.db.path)).len()
    }
}

scenario_tests!(Some(SqliteHarness { db: new_db() }));

#[test]
fn a_lock_file_that_cannot_be_created_falls_back_to_the_database_lock() {
    let db = new_db();
    // A directory where the lock file would go: SQLite cannot open it as a database.
    std::fs::create_dir(db.dir.path().join("app.db-alembic-lock")).expect("blocker");
    let scripts = directory(five_scripts());
    let mut conn = open(&db.path);
    Migrator::new(&scripts, per_migration())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("migrates without the lock file");
    assert_eq!(heads(&conn), ["r5"]);
}
