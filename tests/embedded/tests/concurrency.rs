//! Issue 4: eight processes of an application (`migrate_once`, 50 embedded revisions) start
//! at once against one database; all exit 0, every revision ran exactly once (its history
//! row, its table, its `ran_log` row) and the database is at head. Twenty rounds on SQLite,
//! one on PostgreSQL and one on MySQL/MariaDB (skipped loudly without their URLs, a failure
//! under ALEMBIC_TEST_REQUIRE_ALL=1). Server databases are created, read and dropped with the
//! servers' own clients, sharing no code with the runtime. And an up-to-date application
//! starts while another process holds the run lock.

mod support;

#[path = "../../support/server_db.rs"]
mod server_db;

use std::process::{Child, Command, Stdio};
use std::time::Instant;

use server_db::ServerDb;

const PROCESSES: usize = 8;
const ROUNDS: usize = 20;
const REVISIONS: usize = 50;

fn start(database: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_migrate_once"))
        .arg(database)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start migrate_once")
}

/// Starts every process before waiting for any; fails naming each one that did not exit 0.
/// Then, from the processes' own reports: the whole run is one transaction, so exactly one
/// process applied all the revisions and every other one found nothing to do.
fn launch_all(database: &str) {
    let children: Vec<Child> = (0..PROCESSES).map(|_| start(database)).collect();
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait for migrate_once");
        reports.push(String::from_utf8_lossy(&out.stdout).into_owned());
        if !out.status.success() {
            failures.push(format!(
                "process {i}: {}\n--- stdout:\n{}--- stderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let did_all = reports
        .iter()
        .filter(|r| r.contains(&format!("ran {REVISIONS} migrations")))
        .count();
    let did_none = reports
        .iter()
        .filter(|r| r.contains("no migrations ran"))
        .count();
    assert_eq!(
        (did_all, did_none),
        (1, PROCESSES - 1),
        "one process applies everything, the others nothing:\n{}",
        reports.join("\n")
    );
}

fn ids() -> Vec<String> {
    (1..=REVISIONS).map(|n| format!("c{n:03}")).collect()
}

fn tables() -> Vec<String> {
    (1..=REVISIONS).map(|n| format!("c_{n:03}")).collect()
}

/// The promises, on rows read from the database (each list sorted): `ran_log`, the
/// revisions of the history's upgrade rows, the generated tables, the version rows.
fn check(
    ran_log: Vec<String>,
    upgraded: Vec<String>,
    tables_found: Vec<String>,
    versions: Vec<String>,
) {
    assert_eq!(ran_log, ids(), "each revision's SQL must run exactly once");
    assert_eq!(
        upgraded,
        ids(),
        "each revision must have exactly one upgrade row"
    );
    assert_eq!(tables_found, tables(), "each revision's table must exist");
    assert_eq!(versions, ["c050"], "the database must be at head");
}

#[test]
fn eight_processes_at_once_on_sqlite_twenty_times() {
    let started = Instant::now();
    for round in 1..=ROUNDS {
        let dir = support::scratch_dir();
        let db = dir.path().join("app.db");
        let round_started = Instant::now();
        launch_all(db.to_str().expect("utf-8 path"));
        let conn = support::open(&db);
        check(
            support::column(&conn, "SELECT rev FROM ran_log ORDER BY rev"),
            support::column(
                &conn,
                "SELECT revision FROM alembic_version_history \
                 WHERE operation = 'upgrade' ORDER BY revision",
            ),
            support::tables_with_prefix(&conn, "c_"),
            support::version_rows(&conn),
        );
        eprintln!("round {round}: {:?}", round_started.elapsed());
    }
    eprintln!(
        "{ROUNDS} rounds of {PROCESSES} processes x {REVISIONS} revisions: {:?}",
        started.elapsed()
    );
}

impl ServerDb {
    fn run_once(&self, tables_query: &str) {
        let started = Instant::now();
        launch_all(&self.url);
        eprintln!(
            "{}: {PROCESSES} processes: {:?}",
            self.client,
            started.elapsed()
        );
        check(
            self.sql(&self.url, "SELECT rev FROM ran_log ORDER BY rev"),
            self.sql(
                &self.url,
                "SELECT revision FROM alembic_version_history \
                 WHERE operation = 'upgrade' ORDER BY revision",
            ),
            self.sql(&self.url, tables_query),
            self.sql(
                &self.url,
                "SELECT version_num FROM alembic_version ORDER BY version_num",
            ),
        );
    }
}

#[test]
fn eight_processes_at_once_on_postgres() {
    if let Some(db) = ServerDb::create(
        "ALEMBIC_TEST_POSTGRES_URL",
        "psql",
        "embconc",
        "embedded concurrency test",
    ) {
        db.run_once(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name LIKE 'c\\_%' \
             ORDER BY table_name",
        );
    }
}

#[test]
fn eight_processes_at_once_on_mysql() {
    if let Some(db) = ServerDb::create(
        "ALEMBIC_TEST_MYSQL_URL",
        "mysql",
        "embconc",
        "embedded concurrency test",
    ) {
        db.run_once(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name LIKE 'c\\_%' \
             ORDER BY table_name",
        );
    }
}

/// Replicas starting while one of them migrates: one that finds the database already at its
/// head must start without waiting for the run lock (SPEC 7: "all come up"). Deterministic,
/// not timed: the lock (SQLite's sidecar `<database>-alembic-lock`, held here with
/// `BEGIN IMMEDIATE` as a migrating process holds it) stays taken throughout, and the lock
/// timeout is a millisecond, so any attempt to take it fails.
#[test]
fn an_up_to_date_app_starts_while_another_process_holds_the_lock() {
    use alembic_embedded_tests::MIGRATIONS;

    let dir = support::scratch_dir();
    let db = dir.path().join("app.db");
    let mut conn = support::open(&db);
    MIGRATIONS.upgrade(&mut conn, "head").expect("first deploy");

    let holder = support::open(&dir.path().join("app.db-alembic-lock"));
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the run lock");
    let mut options = MIGRATIONS.options();
    options.lock_timeout = Some(std::time::Duration::from_millis(1));

    let report = MIGRATIONS
        .upgrade_with(&mut conn, "head", &options)
        .expect("an up-to-date database needs no lock");
    assert!(report.is_empty(), "{report}");

    // With work to do, the lock is needed, so the setup above really holds it.
    let err = MIGRATIONS
        .downgrade_with(&mut conn, "e4_posts_index", &options)
        .expect_err("a downgrade waits for the lock");
    assert!(
        matches!(err, alembic_runtime::RunError::Lock { .. }),
        "{err}"
    );
    holder.execute_batch("ROLLBACK").expect("release");
    MIGRATIONS
        .downgrade_with(&mut conn, "e4_posts_index", &options)
        .expect("the lock is free");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the run lock again");
    let err = MIGRATIONS
        .upgrade_with(&mut conn, "head", &options)
        .expect_err("an upgrade with work to do waits for the lock");
    assert!(
        matches!(err, alembic_runtime::RunError::Lock { .. }),
        "{err}"
    );
}
