//! Offline (`--sql`) scripts: snapshots of what users read, and proof that the SQLite script
//! does to a database what an online run does.

#[macro_use]
mod support;

use alembic_core::plan::{self, Plan};
use alembic_core::url::Dialect;
use alembic_runtime::{offline_sql, Migrator, RunError, RunOptions};
use support::*;

fn options() -> RunOptions {
    let mut options = RunOptions::default();
    options.tool = "test-tool".into();
    options
}

fn upgrade_plan(scripts: &alembic_core::source::ScriptDirectory, from: &[&str], to: &str) -> Plan {
    plan::upgrade(scripts.map(), &strings(from), to).expect("plan")
}

const R1_SUM: &str = "d3c1e53321e8ad5ad4489577738d2ece4bdc41a1461c8a8a9418a3a7165b5eca";
const R1_CHAIN: &str = "f10fa76fab27c9e855a4bc1bc2b66253311e465135e08a2d2f5de8c7597a1f63";
const R2_SUM: &str = "22bf1d26d3f2aa9e679444b127be5f0f28251283e57160f955e7d1b3db848ba5";
const R2_CHAIN: &str = "58b0ddadbe01781e05804dc4b86371814bb286a9b7c5f88d3ccc295c5576167b";

#[test]
fn sqlite_upgrade_from_base_snapshot() {
    let scripts = directory(five_scripts());
    let sql = offline_sql(
        Dialect::Sqlite,
        &upgrade_plan(&scripts, &[], "r2"),
        &scripts,
        &options(),
    )
    .expect("offline sql");
    let expected = format!(
        "BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE IF NOT EXISTS alembic_version_history (
    id INTEGER NOT NULL PRIMARY KEY,
    revision VARCHAR(32) NOT NULL,
    operation VARCHAR(16) NOT NULL,
    checksum VARCHAR(64),
    chained_checksum VARCHAR(64),
    downgrade_sql TEXT,
    applied_at VARCHAR(32) NOT NULL,
    duration_ms BIGINT,
    tool VARCHAR(255) NOT NULL,
    down_revisions TEXT,
    actor VARCHAR(255),
    reason TEXT
);

-- Running upgrade  -> r1

CREATE TABLE t1 (x INTEGER);
INSERT INTO t1 VALUES (1);

INSERT INTO alembic_version (version_num) VALUES ('r1');

INSERT INTO alembic_version_history (revision, operation, checksum, chained_checksum, downgrade_sql, applied_at, duration_ms, tool, down_revisions, actor, reason) VALUES ('r1', 'upgrade', '{R1_SUM}', '{R1_CHAIN}', 'DROP TABLE t1;', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, 'test-tool', '', NULL, NULL);

-- Running upgrade r1 -> r2

CREATE TABLE t2 (x INTEGER);
INSERT INTO t2 VALUES (2);

UPDATE alembic_version SET version_num='r2' WHERE alembic_version.version_num = 'r1';

INSERT INTO alembic_version_history (revision, operation, checksum, chained_checksum, downgrade_sql, applied_at, duration_ms, tool, down_revisions, actor, reason) VALUES ('r2', 'upgrade', '{R2_SUM}', '{R2_CHAIN}', 'DROP TABLE t2;', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, 'test-tool', 'r1', NULL, NULL);

COMMIT;

"
    );
    assert_eq!(sql, expected);
}

#[test]
fn sqlite_downgrade_range_snapshot_creates_only_a_missing_history_table() {
    let scripts = directory(five_scripts());
    let plan = plan::downgrade(scripts.map(), &strings(&["r2"]), "base").expect("plan");
    let sql = offline_sql(Dialect::Sqlite, &plan, &scripts, &options()).expect("offline sql");
    let expected = format!(
        "BEGIN;

-- Running downgrade r2 -> r1

DROP TABLE t2;

UPDATE alembic_version SET version_num='r1' WHERE alembic_version.version_num = 'r2';

CREATE TABLE IF NOT EXISTS alembic_version_history (
    id INTEGER NOT NULL PRIMARY KEY,
    revision VARCHAR(32) NOT NULL,
    operation VARCHAR(16) NOT NULL,
    checksum VARCHAR(64),
    chained_checksum VARCHAR(64),
    downgrade_sql TEXT,
    applied_at VARCHAR(32) NOT NULL,
    duration_ms BIGINT,
    tool VARCHAR(255) NOT NULL,
    down_revisions TEXT,
    actor VARCHAR(255),
    reason TEXT
);

INSERT INTO alembic_version_history (revision, operation, checksum, chained_checksum, downgrade_sql, applied_at, duration_ms, tool, down_revisions, actor, reason) VALUES ('r2', 'downgrade', '{R2_SUM}', '{R2_CHAIN}', NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, 'test-tool', NULL, NULL, NULL);

-- Running downgrade r1 -> 

DROP TABLE t1;

DELETE FROM alembic_version WHERE alembic_version.version_num = 'r1';

INSERT INTO alembic_version_history (revision, operation, checksum, chained_checksum, downgrade_sql, applied_at, duration_ms, tool, down_revisions, actor, reason) VALUES ('r1', 'downgrade', '{R1_SUM}', '{R1_CHAIN}', NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL, 'test-tool', NULL, NULL, NULL);

COMMIT;

"
    );
    assert_eq!(sql, expected);
}

#[test]
fn per_migration_mode_and_non_transactional_revisions_shape_the_transactions() {
    let mut list = five_scripts();
    list[1].transactional = false;
    let scripts = directory(list);
    let plan = upgrade_plan(&scripts, &["r1"], "r4");
    let outline = |sql: &str| -> Vec<String> {
        sql.lines()
            .filter(|l| {
                l.starts_with("BEGIN") || l.starts_with("COMMIT") || l.starts_with("-- Running")
            })
            .map(str::to_string)
            .collect()
    };

    let one = offline_sql(Dialect::Sqlite, &plan, &scripts, &options()).expect("sql");
    assert_eq!(
        outline(&one),
        [
            // r2 runs outside; its version row commits on its own; r3 and r4 share one.
            "-- Running upgrade r1 -> r2",
            "BEGIN;",
            "COMMIT;",
            "BEGIN;",
            "-- Running upgrade r2 -> r3",
            "-- Running upgrade r3 -> r4",
            "COMMIT;",
        ]
    );
    // r2's SQL comes before the BEGIN that records it.
    let r2_sql = one.find("CREATE TABLE t2").expect("r2 sql");
    let first_begin = one.find("BEGIN;").expect("begin");
    assert!(r2_sql < first_begin, "{one}");

    let mut per = options();
    per.transaction_per_migration = true;
    let each = offline_sql(Dialect::Sqlite, &plan, &scripts, &per).expect("sql");
    assert_eq!(
        outline(&each),
        [
            "-- Running upgrade r1 -> r2",
            "BEGIN;",
            "COMMIT;",
            "BEGIN;",
            "-- Running upgrade r2 -> r3",
            "COMMIT;",
            "BEGIN;",
            "-- Running upgrade r3 -> r4",
            "COMMIT;",
        ]
    );
}

#[test]
fn postgres_and_mysql_use_their_quoting_types_and_transactions() {
    let scripts = directory(five_scripts());
    let plan = upgrade_plan(&scripts, &[], "r1");
    let mut opts = options();
    opts.version_table = "Versions".into();
    opts.version_table_schema = Some("app".into());

    let pg = offline_sql(Dialect::Postgres, &plan, &scripts, &opts).expect("pg");
    assert!(
        pg.starts_with("BEGIN;\n\nCREATE TABLE app.\"Versions\" (\n"),
        "{pg}"
    );
    assert!(
        pg.contains("CONSTRAINT \"Versions_pkc\" PRIMARY KEY (version_num)"),
        "{pg}"
    );
    assert!(
        pg.contains("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
        "{pg}"
    );
    assert!(
        pg.contains("INSERT INTO app.\"Versions\" (version_num) VALUES ('r1');"),
        "{pg}"
    );
    assert!(
        pg.contains("INSERT INTO app.\"Versions_history\" ("),
        "{pg}"
    );
    assert!(pg.contains("to_char(now() AT TIME ZONE 'UTC'"), "{pg}");
    assert!(pg.ends_with("COMMIT;\n\n"), "{pg}");

    let my = offline_sql(Dialect::Mysql, &plan, &scripts, &opts).expect("mysql");
    assert!(!my.contains("BEGIN;") && !my.contains("COMMIT;"), "{my}");
    assert!(my.starts_with("CREATE TABLE app.`Versions` (\n"), "{my}");
    assert!(
        my.contains("id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"),
        "{my}"
    );
    assert!(my.contains("UTC_TIMESTAMP(3)"), "{my}");
}

#[test]
fn stored_downgrade_sql_is_quoted_as_a_literal() {
    let mut list = five_scripts();
    list[0].downgrade_sql = Some("DELETE FROM t WHERE name = 'it''s';".into());
    let scripts = directory(list);
    let plan = upgrade_plan(&scripts, &[], "r1");
    let sql = offline_sql(Dialect::Sqlite, &plan, &scripts, &options()).expect("sql");
    assert!(
        sql.contains("'DELETE FROM t WHERE name = ''it''''s'';'"),
        "{sql}"
    );
}

#[test]
fn a_script_without_a_final_semicolon_is_terminated() {
    let mut list = five_scripts();
    list[0].upgrade_sql = "CREATE TABLE t1 (x INTEGER)\n".into();
    list[1].upgrade_sql = "CREATE TABLE t2 (x INTEGER);\n-- done\n".into();
    let scripts = directory(list);
    let plan = upgrade_plan(&scripts, &[], "r2");
    let sql = offline_sql(Dialect::Sqlite, &plan, &scripts, &options()).expect("sql");
    assert!(sql.contains("CREATE TABLE t1 (x INTEGER);\n\n"), "{sql}");
    assert!(sql.contains("-- done\n\nUPDATE"), "{sql}");
}

#[test]
fn offline_downgrade_through_a_revision_without_downgrade_sql_fails() {
    let mut list = five_scripts();
    list[0].downgrade_sql = None;
    let scripts = directory(list);
    let plan = plan::downgrade(scripts.map(), &strings(&["r2"]), "base").expect("plan");
    let err = offline_sql(Dialect::Sqlite, &plan, &scripts, &options()).expect_err("no sql");
    assert!(matches!(err, RunError::NoDowngrade { ref revision, .. } if revision == "r1"));
}

#[test]
fn the_sqlite_script_does_what_an_online_run_does() {
    let scripts = directory(five_scripts());
    let offline_db = new_db();
    let conn = open(&offline_db.path);
    let up = offline_sql(
        Dialect::Sqlite,
        &upgrade_plan(&scripts, &[], "head"),
        &scripts,
        &options(),
    )
    .expect("sql");
    conn.execute_batch(&up).expect("the script runs");
    assert_eq!(heads(&conn), ["r5"]);
    assert_eq!(user_tables(&conn), ["t1", "t2", "t3", "t4", "t5"]);
    assert_eq!(history(&conn).len(), 5);

    // The online runtime continues a database migrated offline.
    let mut conn = conn;
    let migrator = Migrator::new(&scripts, options());
    migrator
        .downgrade(&mut alembic_runtime::SqliteBackend::new(&mut conn), "r3")
        .expect("online downgrade");
    assert_eq!(heads(&conn), ["r3"]);

    // Online and offline leave the same history shape.
    let online_db = new_db();
    let mut online = open(&online_db.path);
    migrator
        .upgrade(
            &mut alembic_runtime::SqliteBackend::new(&mut online),
            "head",
        )
        .expect("online upgrade");
    let checksums = |c: &alembic_runtime::rusqlite::Connection| -> Vec<(String, String)> {
        let mut stmt = c
            .prepare(
                "SELECT checksum, chained_checksum FROM alembic_version_history \
                 WHERE operation = 'upgrade' ORDER BY id",
            )
            .expect("query");
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows");
        rows.map(|r| r.expect("row")).collect()
    };
    assert_eq!(checksums(&conn), checksums(&online));
}

/// A database as Python Alembic leaves it at `r2`: its tables and version row, no history table.
fn python_made_db_at_r2() -> (Db, alembic_runtime::rusqlite::Connection) {
    let db = new_db();
    let conn = open(&db.path);
    conn.execute_batch(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, \
         CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
         INSERT INTO alembic_version VALUES ('r2');
         CREATE TABLE t1 (x INTEGER); CREATE TABLE t2 (x INTEGER);",
    )
    .expect("python-made database");
    (db, conn)
}

#[test]
fn range_scripts_run_on_a_database_without_the_history_table() {
    let scripts = directory(five_scripts());
    let from = strings(&["r2"]);
    let cases: Vec<(&str, Plan, Vec<&str>)> = vec![
        (
            "upgrade r2:r4",
            plan::upgrade(scripts.map(), &from, "r4").expect("plan"),
            vec!["r4"],
        ),
        (
            "downgrade r2:r1",
            plan::downgrade(scripts.map(), &from, "r1").expect("plan"),
            vec!["r1"],
        ),
        (
            "stamp r2:r3",
            plan::stamp(scripts.map(), &from, &strings(&["r3"]), false).expect("plan"),
            vec!["r3"],
        ),
    ];
    for (what, plan, expected_heads) in cases {
        for per_migration in [false, true] {
            let mut opts = options();
            opts.transaction_per_migration = per_migration;
            let sql = offline_sql(Dialect::Sqlite, &plan, &scripts, &opts).expect("sql");
            assert!(
                !sql.contains("CREATE TABLE alembic_version ("),
                "{what}: a range must not create the version table:\n{sql}"
            );
            let (_db, conn) = python_made_db_at_r2();
            if let Err(e) = conn.execute_batch(&sql) {
                panic!("{what}: the script fails on a Python-made database: {e}\n{sql}");
            }
            assert_eq!(heads(&conn), expected_heads, "{what}");
            assert_eq!(history(&conn).len(), plan.steps.len(), "{what}");
            // Run again from the same state, now with the table present: still fine.
            conn.execute_batch("DELETE FROM alembic_version; INSERT INTO alembic_version VALUES ('r2'); DROP TABLE IF EXISTS t3; DROP TABLE IF EXISTS t4; CREATE TABLE IF NOT EXISTS t2 (x INTEGER);")
                .expect("reset");
            if let Err(e) = conn.execute_batch(&sql) {
                panic!("{what}: the script fails where the history table exists: {e}");
            }
        }
    }
}
