//! Deploy rollback: an older build (v1, without the newest scripts) started against a
//! database a newer build (v2) migrated. Refused by default; with
//! `RunOptions::revert_unknown_revisions`, the revisions it does not know are reverted with
//! the downgrade SQL their history rows stored, then its own plan runs. On SQLite, and on
//! PostgreSQL and MySQL/MariaDB when their URLs are set (see `support::server_url`).

#![cfg(feature = "sqlite")]

#[macro_use]
mod support;

use alembic_core::url::Dialect;
use alembic_runtime::rusqlite::Connection;
use alembic_runtime::Tables;
use alembic_runtime::{
    Backend, Migrator, Operation, RevertError, RunError, RunOptions, SqliteBackend, Unrevertible,
};
use support::scenarios::Harness;
use support::*;

/// v2's scripts: `r1`..`r5`, with `without_downgrade` (if any) lacking downgrade SQL.
fn v2(without_downgrade: Option<&str>) -> Vec<alembic_core::Script> {
    five_scripts()
        .into_iter()
        .map(|s| {
            if Some(s.revision.id.as_str()) == without_downgrade {
                let down: Vec<&str> = s
                    .revision
                    .down_revisions
                    .iter()
                    .map(String::as_str)
                    .collect();
                script(&s.revision.id, &down, &s.upgrade_sql, None)
            } else {
                s
            }
        })
        .collect()
}

/// v1's scripts: `r1`..`r3` only.
fn v1() -> Vec<alembic_core::Script> {
    five_scripts().into_iter().take(3).collect()
}

fn reverting(per_migration: bool) -> RunOptions {
    let mut options = RunOptions::default();
    options.revert_unknown_revisions = true;
    options.transaction_per_migration = per_migration;
    options
}

/// One column of a query, through the backend (the same text on every database).
fn column(h: &mut dyn Harness, sql: &str) -> Vec<String> {
    h.backend().query_strings(sql, &[]).expect(sql)
}

fn operations(h: &mut dyn Harness, revision: &str) -> Vec<String> {
    column(
        h,
        &format!(
            "SELECT operation FROM alembic_version_history WHERE revision = '{revision}' \
             ORDER BY id"
        ),
    )
}

/// v2 migrates, v1 refuses by default, reverts r5 and r4 with the opt-in and runs, the history
/// says so, and v2 can migrate again afterwards.
fn v1_reverts_what_v2_applied(h: &mut dyn Harness, per_migration: bool) {
    let new = directory(v2(None));
    let old = directory(v1());
    Migrator::new(&new, RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect("v2 migrates");
    assert_eq!(h.heads(), ["r5"]);

    let err = Migrator::new(&old, RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect_err("v1 refuses by default");
    match &err {
        RunError::UnknownDatabaseRevision {
            revisions,
            revertible,
            ..
        } => {
            assert_eq!(revisions, &["r5"]);
            assert!(revertible, "the stored SQL allows it");
        }
        other => panic!("expected UnknownDatabaseRevision, got {other:?}"),
    }
    assert!(
        err.to_string().contains("revert_unknown_revisions"),
        "the refusal names the opt-in: {err}"
    );
    assert_eq!(h.heads(), ["r5"]);
    assert_eq!(h.user_tables(), ["t1", "t2", "t3", "t4", "t5"]);

    let options = reverting(per_migration);
    let report = Migrator::new(&old, options.clone())
        .upgrade(&mut *h.backend(), "head")
        .expect("v1 reverts with the opt-in");
    let ran: Vec<(Operation, Option<&str>)> = report
        .applied
        .iter()
        .map(|a| (a.operation(), a.revision()))
        .collect();
    assert_eq!(
        ran,
        [
            (Operation::Downgrade, Some("r5")),
            (Operation::Downgrade, Some("r4"))
        ]
    );
    assert_eq!(h.heads(), ["r3"]);
    assert_eq!(h.user_tables(), ["t1", "t2", "t3"]);
    assert_eq!(operations(h, "r5"), ["upgrade", "downgrade"]);
    assert_eq!(operations(h, "r4"), ["upgrade", "downgrade"]);
    assert_eq!(operations(h, "r3"), ["upgrade"]);
    let downgrade_rows = column(
        h,
        "SELECT CASE WHEN duration_ms IS NULL THEN 'no duration' ELSE tool END \
         FROM alembic_version_history WHERE operation = 'downgrade' AND reason LIKE \
         'deploy rollback%' ORDER BY id",
    );
    assert_eq!(downgrade_rows, [options.tool.clone(), options.tool.clone()]);

    // Nothing left to revert: the opt-in changes nothing on a database v1 knows.
    let again = Migrator::new(&old, options)
        .upgrade(&mut *h.backend(), "head")
        .expect("v1 again");
    assert!(again.is_empty(), "{again}");

    // v2 (redeployed) applies r4 and r5 again, its checksums verified.
    Migrator::new(&new, RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect("v2 again");
    assert_eq!(h.heads(), ["r5"]);
    assert_eq!(h.user_tables(), ["t1", "t2", "t3", "t4", "t5"]);
}

/// A revision whose upgrade row stored no downgrade SQL, or that has no upgrade row (applied
/// by Python Alembic), stops the revert before anything runs, naming it.
fn missing_stored_sql_is_refused(h: &mut dyn Harness) {
    let new = directory(v2(Some("r4")));
    let old = directory(v1());
    Migrator::new(&new, RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect("v2 migrates");

    let err = Migrator::new(&old, RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect_err("refused");
    assert!(
        matches!(
            err,
            RunError::UnknownDatabaseRevision {
                revertible: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains("revert_unknown_revisions"),
        "{err}"
    );

    let err = Migrator::new(&old, reverting(false))
        .upgrade(&mut *h.backend(), "head")
        .expect_err("r4 has no stored downgrade SQL");
    match &err {
        RunError::Revert(e) => match &**e {
            RevertError::NotRevertible { revision, why, .. } => {
                assert_eq!(revision, "r4");
                assert_eq!(*why, Unrevertible::NoDowngradeSql);
            }
            other => panic!("expected NotRevertible, got {other:?}"),
        },
        other => panic!("expected Revert, got {other:?}"),
    }
    assert_eq!(err.revision(), Some("r4"));
    assert!(
        err.to_string().contains("cannot revert revision r4"),
        "{err}"
    );
    // Planned before anything ran: r5's revert did not run either.
    assert_eq!(h.heads(), ["r5"]);
    assert_eq!(h.user_tables(), ["t1", "t2", "t3", "t4", "t5"]);
    assert_eq!(operations(h, "r5"), ["upgrade"]);

    // As if Python Alembic had applied r5: no upgrade row, nothing stored.
    h.backend()
        .execute(
            "DELETE FROM alembic_version_history WHERE revision = 'r5'",
            &[],
        )
        .expect("delete r5's rows");
    let err = Migrator::new(&old, reverting(false))
        .upgrade(&mut *h.backend(), "head")
        .expect_err("r5 was not recorded");
    match &err {
        RunError::Revert(e) => match &**e {
            RevertError::NotRevertible { revision, why, .. } => {
                assert_eq!((revision.as_str(), *why), ("r5", Unrevertible::NotRecorded));
            }
            other => panic!("expected NotRevertible, got {other:?}"),
        },
        other => panic!("expected Revert, got {other:?}"),
    }
    assert_eq!(h.heads(), ["r5"]);
}

/// A history table of the previous layout (before `down_revisions`, `actor`, `reason`) on
/// this database: a run adds the columns and goes on, and what it writes can be reverted.
fn a_previous_layout_gets_the_new_columns(h: &mut dyn Harness, dialect: Dialect) {
    let tables = Tables::new(dialect, &RunOptions::default());
    let current = tables.create_history_table();
    let old = current
        .split(",\n")
        .filter(|col| {
            !["down_revisions", "actor", "reason"]
                .iter()
                .any(|c| col.trim_start().starts_with(c))
        })
        .collect::<Vec<_>>()
        .join(",\n");
    let old = if old.ends_with(')') {
        old
    } else {
        format!("{old}\n)")
    };
    assert!(!old.contains("down_revisions"), "{old}");
    h.backend().execute_batch(&old).expect("old layout");
    Migrator::new(&directory(v2(None)), RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect("the run adds the columns");
    let stored = column(
        h,
        "SELECT down_revisions FROM alembic_version_history WHERE revision = 'r5'",
    );
    assert_eq!(stored, ["r4"]);
    Migrator::new(&directory(v1()), reverting(false))
        .upgrade(&mut *h.backend(), "head")
        .expect("reverted");
    assert_eq!(h.heads(), ["r3"]);
}

/// v2 has two branches joined by a merge; v1 knows only one branch. Reverting the merge puts
/// both parents in the version table, then the unknown branch is reverted to the root the
/// known one stands on.
fn a_merge_and_its_unknown_branch_are_reverted(h: &mut dyn Harness) {
    let r1 = || {
        script(
            "r1",
            &[],
            "CREATE TABLE t1 (x INTEGER);",
            Some("DROP TABLE t1;"),
        )
    };
    let r2 = || {
        script(
            "r2",
            &["r1"],
            "CREATE TABLE t2 (x INTEGER);",
            Some("DROP TABLE t2;"),
        )
    };
    let new = directory(vec![
        r1(),
        r2(),
        script(
            "r3",
            &["r1"],
            "CREATE TABLE t3 (x INTEGER);",
            Some("DROP TABLE t3;"),
        ),
        script(
            "r4",
            &["r2", "r3"],
            "CREATE TABLE t4 (x INTEGER);",
            Some("DROP TABLE t4;"),
        ),
    ]);
    let old = directory(vec![r1(), r2()]);
    Migrator::new(&new, RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect("v2 migrates");
    assert_eq!(h.heads(), ["r4"]);
    let report = Migrator::new(&old, reverting(false))
        .upgrade(&mut *h.backend(), "head")
        .expect("reverted");
    let reverted: Vec<Option<&str>> = report.applied.iter().map(|a| a.revision()).collect();
    assert_eq!(reverted, [Some("r4"), Some("r3")]);
    assert_eq!(h.heads(), ["r2"]);
    assert_eq!(h.user_tables(), ["t1", "t2"]);
}

/// A revision that depends on another branch: reverting it puts back the version row of the
/// dependency too (the parents stored are the ones version rows move along), as a downgrade
/// with its script would.
#[test]
fn a_dependency_comes_back_as_a_version_row() {
    let r1 = || {
        script(
            "r1",
            &[],
            "CREATE TABLE t1 (x INTEGER);",
            Some("DROP TABLE t1;"),
        )
    };
    let b1 = || {
        script(
            "b1",
            &[],
            "CREATE TABLE t2 (x INTEGER);",
            Some("DROP TABLE t2;"),
        )
    };
    let mut r2 = script(
        "r2",
        &["r1"],
        "CREATE TABLE t3 (x INTEGER);",
        Some("DROP TABLE t3;"),
    );
    r2.revision.depends_on = vec!["b1".to_string()];
    let new = directory(vec![r1(), b1(), r2.clone()]);
    let mut h = SqliteHarness::new();
    Migrator::new(&new, RunOptions::default())
        .upgrade(&mut *h.backend(), "heads")
        .expect("v2 migrates");
    assert_eq!(h.heads(), ["r2"], "b1 is implied by r2");
    // What a downgrade with the script does...
    let mut with_script = SqliteHarness::new();
    Migrator::new(&new, RunOptions::default())
        .upgrade(&mut *with_script.backend(), "heads")
        .expect("v2 migrates");
    Migrator::new(&new, RunOptions::default())
        .downgrade(&mut *with_script.backend(), "r2-1")
        .expect("downgrade r2");
    // ...the revert without it does too.
    Migrator::new(&directory(vec![r1(), b1()]), reverting(false))
        .upgrade(&mut *h.backend(), "r1")
        .expect("reverted");
    assert_eq!(h.heads(), with_script.heads());
    assert_eq!(h.heads(), ["b1", "r1"]);
    assert_eq!(h.user_tables(), ["t1", "t2"]);
}

// ---- SQLite ----

struct SqliteHarness {
    conn: Connection,
    _db: Db,
}

impl SqliteHarness {
    fn new() -> SqliteHarness {
        let db = new_db();
        SqliteHarness {
            conn: open(&db.path),
            _db: db,
        }
    }
}

impl Harness for SqliteHarness {
    fn backend(&mut self) -> Box<dyn Backend + '_> {
        Box::new(SqliteBackend::new(&mut self.conn))
    }

    fn heads(&mut self) -> Vec<String> {
        heads(&self.conn)
    }

    fn user_tables(&mut self) -> Vec<String> {
        user_tables(&self.conn)
    }

    fn history_len(&mut self) -> usize {
        history(&self.conn).len()
    }
}

#[test]
fn sqlite_v1_reverts_what_v2_applied() {
    v1_reverts_what_v2_applied(&mut SqliteHarness::new(), false);
}

#[test]
fn sqlite_v1_reverts_what_v2_applied_one_transaction_per_revision() {
    v1_reverts_what_v2_applied(&mut SqliteHarness::new(), true);
}

#[test]
fn sqlite_missing_stored_sql_is_refused() {
    missing_stored_sql_is_refused(&mut SqliteHarness::new());
}

#[test]
fn sqlite_a_previous_layout_gets_the_new_columns() {
    a_previous_layout_gets_the_new_columns(&mut SqliteHarness::new(), Dialect::Sqlite);
}

#[test]
fn sqlite_a_merge_and_its_unknown_branch_are_reverted() {
    a_merge_and_its_unknown_branch_are_reverted(&mut SqliteHarness::new());
}

/// The stored SQL fails: in the default mode the whole run rolls back, the version table
/// still names the unknown revision.
#[test]
fn a_failing_stored_downgrade_changes_nothing() {
    let mut h = SqliteHarness::new();
    let mut list = five_scripts();
    list[4] = script(
        "r5",
        &["r4"],
        "CREATE TABLE t5 (x INTEGER);",
        Some("DROP TABLE nope;"),
    );
    Migrator::new(&directory(list), RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect("v2 migrates");
    let err = Migrator::new(&directory(v1()), reverting(false))
        .upgrade(&mut *h.backend(), "head")
        .expect_err("the stored SQL fails");
    match &err {
        RunError::Revert(e) => match &**e {
            RevertError::Failed {
                revision,
                half_applied,
                ..
            } => {
                assert_eq!(revision, "r5");
                assert!(!half_applied);
            }
            other => panic!("expected Failed, got {other:?}"),
        },
        other => panic!("expected Revert, got {other:?}"),
    }
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(h.heads(), ["r5"]);
    assert_eq!(h.user_tables(), ["t1", "t2", "t3", "t4", "t5"]);
}

/// v1's own plan fails after the reverts: with one transaction per revision the reverts
/// committed and the error reports them; in the default mode everything rolls back and the
/// error reports nothing.
#[test]
fn a_failing_plan_after_the_reverts_reports_what_committed() {
    for per_migration in [true, false] {
        let mut h = SqliteHarness::new();
        Migrator::new(&directory(v2(None)), RunOptions::default())
            .upgrade(&mut *h.backend(), "head")
            .expect("v2 migrates");
        let mut old = v1();
        old.push(script("x4", &["r3"], "CREATE TABLE t3 (x INTEGER);", None));
        let err = Migrator::new(&directory(old), reverting(per_migration))
            .upgrade(&mut *h.backend(), "head")
            .expect_err("x4 fails: t3 exists");
        assert_eq!(err.revision(), Some("x4"), "{err}");
        let committed: Vec<String> = err
            .applied()
            .expect("a migration error carries its report")
            .applied
            .iter()
            .map(|a| a.to_string().split(" (").next().unwrap_or("").to_string())
            .collect();
        if per_migration {
            assert_eq!(committed, ["downgrade r5", "downgrade r4"]);
            assert_eq!(h.heads(), ["r3"]);
        } else {
            assert!(committed.is_empty(), "{committed:?}");
            assert_eq!(h.heads(), ["r5"]);
            assert_eq!(h.user_tables(), ["t1", "t2", "t3", "t4", "t5"]);
        }
    }
}

/// Stamping (without purge) and downgrading without the opt-in still refuse; only a migrating
/// run with the opt-in reverts.
#[test]
fn stamp_does_not_revert() {
    let mut h = SqliteHarness::new();
    Migrator::new(&directory(v2(None)), RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect("v2 migrates");
    let err = Migrator::new(&directory(v1()), reverting(false))
        .stamp(&mut *h.backend(), &strings(&["r3"]), false)
        .expect_err("stamp refuses");
    assert!(
        matches!(err, RunError::UnknownDatabaseRevision { .. }),
        "{err:?}"
    );
    assert_eq!(h.heads(), ["r5"]);
}

/// A history table made before the columns for rollback and rehash existed gets them added,
/// and the run goes on (its old rows, without stored parents, are simply not revertible).
#[test]
fn a_history_table_of_the_previous_layout_gets_the_new_columns() {
    let mut h = SqliteHarness::new();
    h.conn
        .execute_batch(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, \
             CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
             CREATE TABLE alembic_version_history (id INTEGER NOT NULL PRIMARY KEY, \
             revision VARCHAR(32) NOT NULL, operation VARCHAR(16) NOT NULL, \
             checksum VARCHAR(64), chained_checksum VARCHAR(64), downgrade_sql TEXT, \
             applied_at VARCHAR(32) NOT NULL, duration_ms BIGINT, tool VARCHAR(255) NOT NULL);
             CREATE TABLE t1 (x INTEGER);
             INSERT INTO alembic_version VALUES ('r1');
             INSERT INTO alembic_version_history (revision, operation, downgrade_sql, \
             applied_at, tool) VALUES ('r1', 'upgrade', 'DROP TABLE t1;', \
             '2026-01-01T00:00:00.000Z', 'old build');",
        )
        .expect("old layout");
    Migrator::new(&directory(v1()), RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect("the run adds the columns and goes on");
    assert_eq!(h.heads(), ["r3"]);
    let stored = column(
        &mut h,
        "SELECT revision || ':' || COALESCE(down_revisions, 'NULL') \
         FROM alembic_version_history ORDER BY id",
    );
    assert_eq!(stored, ["r1:NULL", "r2:r1", "r3:r2"]);

    // The old row records no parents: a build without r1's script cannot revert it.
    let err = Migrator::new(&directory(Vec::new()), reverting(false))
        .upgrade(&mut *h.backend(), "head")
        .expect_err("refused");
    assert_eq!(err.revision(), Some("r1"), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("does not record which revisions it revises"),
        "{text}"
    );
    assert_eq!(h.heads(), ["r3"], "r3 and r2 were not reverted either");
}

// ---- PostgreSQL ----

#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use alembic_runtime::postgres_client::{Client, NoTls};
    use alembic_runtime::{Backend, PostgresBackend};

    use super::support::scenarios::Harness;
    use super::support::*;

    struct PgHarness {
        client: Client,
        schema: String,
        url: String,
    }

    impl PgHarness {
        fn new() -> Option<PgHarness> {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let url = server_url("ALEMBIC_TEST_POSTGRES_URL", "PostgreSQL")?;
            let mut client = match Client::connect(&url, NoTls) {
                Ok(c) => c,
                Err(e) => {
                    server_unreachable("PostgreSQL", "ALEMBIC_TEST_POSTGRES_URL", &error_chain(&e));
                    return None;
                }
            };
            let schema = format!(
                "rb_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            client
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
                     SET search_path TO {schema}"
                ))
                .expect("schema");
            Some(PgHarness {
                client,
                schema,
                url,
            })
        }
    }

    impl Drop for PgHarness {
        fn drop(&mut self) {
            if let Ok(mut admin) = Client::connect(&self.url, NoTls) {
                let _ =
                    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
            }
        }
    }

    impl Harness for PgHarness {
        fn backend(&mut self) -> Box<dyn Backend + '_> {
            Box::new(PostgresBackend::new(&mut self.client))
        }

        fn heads(&mut self) -> Vec<String> {
            let mut b = PostgresBackend::new(&mut self.client);
            let tables = alembic_runtime::Tables::new(
                alembic_core::url::Dialect::Postgres,
                &alembic_runtime::RunOptions::default(),
            );
            b.read_heads(&tables).expect("heads")
        }

        fn user_tables(&mut self) -> Vec<String> {
            self.client
                .query(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name LIKE 't_' ORDER BY 1",
                    &[],
                )
                .expect("tables")
                .iter()
                .map(|r| r.get(0))
                .collect()
        }

        fn history_len(&mut self) -> usize {
            let n: i64 = self
                .client
                .query_one("SELECT count(*) FROM alembic_version_history", &[])
                .expect("history")
                .get(0);
            usize::try_from(n).unwrap_or(0)
        }
    }

    #[test]
    fn postgres_v1_reverts_what_v2_applied() {
        if let Some(mut h) = PgHarness::new() {
            super::v1_reverts_what_v2_applied(&mut h, false);
        }
    }

    #[test]
    fn postgres_missing_stored_sql_is_refused() {
        if let Some(mut h) = PgHarness::new() {
            super::missing_stored_sql_is_refused(&mut h);
        }
    }

    #[test]
    fn postgres_a_previous_layout_gets_the_new_columns() {
        if let Some(mut h) = PgHarness::new() {
            super::a_previous_layout_gets_the_new_columns(
                &mut h,
                alembic_core::url::Dialect::Postgres,
            );
        }
    }

    #[test]
    fn postgres_a_merge_and_its_unknown_branch_are_reverted() {
        if let Some(mut h) = PgHarness::new() {
            super::a_merge_and_its_unknown_branch_are_reverted(&mut h);
        }
    }
}

// ---- MySQL / MariaDB ----

#[cfg(feature = "mysql")]
mod mysql {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use alembic_runtime::mysql_client::prelude::Queryable;
    use alembic_runtime::mysql_client::{Conn, Opts};
    use alembic_runtime::{Backend, Migrator, MysqlBackend};

    use super::support::scenarios::Harness;
    use super::support::*;

    fn connect(url: &str) -> Result<Conn, String> {
        let opts = Opts::from_url(url).map_err(|e| e.to_string())?;
        Conn::new(opts).map_err(|e| e.to_string())
    }

    struct MyHarness {
        conn: Conn,
        name: String,
        server: String,
    }

    impl MyHarness {
        fn new() -> Option<MyHarness> {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let server = server_url("ALEMBIC_TEST_MYSQL_URL", "MySQL")?;
            let mut admin = match connect(&server) {
                Ok(c) => c,
                Err(e) => {
                    server_unreachable("MySQL", "ALEMBIC_TEST_MYSQL_URL", &e);
                    return None;
                }
            };
            let name = format!(
                "rb_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            admin
                .query_drop(format!("DROP DATABASE IF EXISTS {name}"))
                .expect("drop database");
            admin
                .query_drop(format!("CREATE DATABASE {name}"))
                .expect("create database");
            let root = server.rsplit_once('/').map_or(server.as_str(), |(r, _)| r);
            let conn = connect(&format!("{root}/{name}")).expect("connect");
            Some(MyHarness { conn, name, server })
        }
    }

    impl Drop for MyHarness {
        fn drop(&mut self) {
            if let Ok(mut admin) = connect(&self.server) {
                let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS {}", self.name));
            }
        }
    }

    impl Harness for MyHarness {
        fn backend(&mut self) -> Box<dyn Backend + '_> {
            Box::new(MysqlBackend::new(&mut self.conn))
        }

        fn heads(&mut self) -> Vec<String> {
            let mut b = MysqlBackend::new(&mut self.conn);
            let tables = alembic_runtime::Tables::new(
                alembic_core::url::Dialect::Mysql,
                &alembic_runtime::RunOptions::default(),
            );
            b.read_heads(&tables).expect("heads")
        }

        fn user_tables(&mut self) -> Vec<String> {
            self.conn
                .query(
                    "SELECT table_name FROM information_schema.tables \
                     WHERE table_schema = DATABASE() AND table_name LIKE 't_' ORDER BY 1",
                )
                .expect("tables")
        }

        fn history_len(&mut self) -> usize {
            let n: Option<u64> = self
                .conn
                .query_first("SELECT count(*) FROM alembic_version_history")
                .expect("history");
            usize::try_from(n.unwrap_or(0)).unwrap_or(0)
        }
    }

    /// On MySQL the stored SQL runs outside a transaction: a revert failing half-way marks the
    /// database dirty, the next reverting run refuses, and `stamp --purge` from v1 clears it.
    #[test]
    fn mysql_a_half_applied_revert_marks_the_database_dirty() {
        use alembic_runtime::{RevertError, RunError, RunOptions};
        let Some(mut h) = MyHarness::new() else {
            return;
        };
        let mut list = five_scripts();
        list[4] = script(
            "r5",
            &["r4"],
            "CREATE TABLE t5 (x INTEGER);",
            Some("DROP TABLE t5;\nDROP TABLE nope;"),
        );
        Migrator::new(&directory(list), RunOptions::default())
            .upgrade(&mut *h.backend(), "head")
            .expect("v2 migrates");
        let old = directory(super::v1());
        let err = Migrator::new(&old, super::reverting(false))
            .upgrade(&mut *h.backend(), "head")
            .expect_err("the stored SQL fails half-way");
        match &err {
            RunError::Revert(e) => match &**e {
                RevertError::Failed {
                    revision,
                    half_applied,
                    marked_dirty,
                    ..
                } => {
                    assert_eq!(revision, "r5");
                    assert!(*half_applied && *marked_dirty, "{err}");
                }
                other => panic!("expected Failed, got {other:?}"),
            },
            other => panic!("expected Revert, got {other:?}"),
        }
        assert_eq!(h.heads(), ["r5"]);
        assert_eq!(h.user_tables(), ["t1", "t2", "t3", "t4"], "t5 was dropped");

        let err = Migrator::new(&old, super::reverting(false))
            .upgrade(&mut *h.backend(), "head")
            .expect_err("dirty");
        match &err {
            RunError::Dirty(d) => {
                assert_eq!(d.revision, "r5");
                assert_eq!(d.stamp_targets(), ("r5".to_string(), "r4".to_string()));
            }
            other => panic!("expected Dirty, got {other:?}"),
        }
        Migrator::new(&old, RunOptions::default())
            .stamp(&mut *h.backend(), &strings(&["r3"]), true)
            .expect("stamp --purge clears it");
        assert_eq!(h.heads(), ["r3"]);
    }

    #[test]
    fn mysql_v1_reverts_what_v2_applied() {
        if let Some(mut h) = MyHarness::new() {
            super::v1_reverts_what_v2_applied(&mut h, false);
        }
    }

    #[test]
    fn mysql_missing_stored_sql_is_refused() {
        if let Some(mut h) = MyHarness::new() {
            super::missing_stored_sql_is_refused(&mut h);
        }
    }

    #[test]
    fn mysql_a_previous_layout_gets_the_new_columns() {
        if let Some(mut h) = MyHarness::new() {
            super::a_previous_layout_gets_the_new_columns(
                &mut h,
                alembic_core::url::Dialect::Mysql,
            );
        }
    }

    #[test]
    fn mysql_a_merge_and_its_unknown_branch_are_reverted() {
        if let Some(mut h) = MyHarness::new() {
            super::a_merge_and_its_unknown_branch_are_reverted(&mut h);
        }
    }
}
