//! Issue 4, deploy rollback: release v2 (`deploy_v2`, revisions d1..d3) migrates a database;
//! release v1 (`deploy_v1`, the same folder embedded up to d2) started against it refuses by
//! default, touching nothing, and with the opt-in (`--revert-unknown`, i.e.
//! `RunOptions::revert_unknown_revisions`) reverts d3 with the downgrade SQL the history
//! table stored when v2 applied it (v1 has no script for d3), then runs. On SQLite, and on
//! PostgreSQL and MySQL/MariaDB when their URLs are set (see `server_db.rs`).

mod support;

#[path = "../../support/server_db.rs"]
mod server_db;

use std::process::{Command, Output};

use server_db::ServerDb;

const V1: &str = env!("CARGO_BIN_EXE_deploy_v1");
const V2: &str = env!("CARGO_BIN_EXE_deploy_v2");

/// A database the releases run against, read with plain SQL (never through the runtime).
enum Db {
    Sqlite(tempfile::TempDir),
    Server(ServerDb),
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(support::scratch_dir())
    }

    /// What the applications get as their argument.
    fn arg(&self) -> String {
        match self {
            Db::Sqlite(dir) => dir.path().join("app.db").display().to_string(),
            Db::Server(db) => db.url.clone(),
        }
    }

    fn rows(&self, sql: &str) -> Vec<String> {
        match self {
            Db::Sqlite(dir) => support::column(&support::open(&dir.path().join("app.db")), sql),
            Db::Server(db) => db.sql(&db.url, sql),
        }
    }

    fn has_table(&self, name: &str) -> bool {
        let sql = match self {
            Db::Sqlite(_) => {
                format!("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '{name}'")
            }
            Db::Server(db) => format!(
                "SELECT table_name FROM information_schema.tables WHERE table_name = '{name}' \
                 AND table_schema = {}",
                if db.client == "psql" {
                    "current_schema()"
                } else {
                    "DATABASE()"
                }
            ),
        };
        !self.rows(&sql).is_empty()
    }

    fn versions(&self) -> Vec<String> {
        self.rows("SELECT version_num FROM alembic_version ORDER BY version_num")
    }

    /// `operation revision` of each history row, oldest first.
    fn history(&self) -> Vec<String> {
        let row = match self {
            Db::Server(db) if db.client == "mysql" => "CONCAT(operation, ' ', revision)",
            _ => "operation || ' ' || revision",
        };
        self.rows(&format!(
            "SELECT {row} FROM alembic_version_history ORDER BY id"
        ))
    }

    /// What the revisions' SQL wrote to `deploy_log`, sorted.
    fn log(&self) -> Vec<String> {
        self.rows("SELECT event FROM deploy_log ORDER BY event")
    }

    fn run(&self, exe: &str, extra: &[&str]) -> Output {
        Command::new(exe)
            .arg(self.arg())
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .unwrap_or_else(|e| panic!("start {exe}: {e}"))
    }

    fn run_ok(&self, exe: &str, extra: &[&str]) -> String {
        let out = self.run(exe, extra);
        assert!(out.status.success(), "{exe} {extra:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stdout:\n{}--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn server(var: &str, client: &'static str) -> Option<Db> {
    ServerDb::create(var, client, "embrollback", "embedded rollback test").map(Db::Server)
}

/// v2 migrates; v1 refuses and changes nothing.
fn older_release_refuses(db: &Db) {
    db.run_ok(V2, &[]);
    assert_eq!(db.versions(), ["d3_audit"]);
    let history_before = db.history();

    let out = db.run(V1, &[]);
    assert_eq!(out.status.code(), Some(1), "v1 must refuse: {}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("d3_audit"),
        "the error names the revision: {stderr}"
    );
    assert_eq!(db.versions(), ["d3_audit"], "v1 changed the version table");
    assert!(db.has_table("audit"), "v1 reverted d3 without the opt-in");
    assert_eq!(db.history(), history_before, "v1 wrote history");
}

/// v2 migrates; v1 with the opt-in reverts d3 from the stored SQL and runs; v1 again does
/// nothing; v2 redeploys d3.
fn older_release_reverts_with_the_opt_in(db: &Db) {
    db.run_ok(V2, &[]);
    db.run_ok(V1, &["--revert-unknown"]);
    assert_eq!(db.versions(), ["d2_sessions"]);
    assert!(!db.has_table("audit"), "d3's table is still there");
    assert!(db.has_table("sessions"), "d2 must stay applied");
    assert_eq!(
        db.log(),
        [
            "d1 upgraded",
            "d2 upgraded",
            "d3 reverted from stored SQL",
            "d3 upgraded",
        ],
        "d3's stored downgrade SQL ran once, and nothing else did"
    );
    assert_eq!(
        db.history().last().map(String::as_str),
        Some("downgrade d3_audit")
    );

    let again = db.run_ok(V1, &["--revert-unknown"]);
    assert!(again.contains("no migrations ran"), "{again}");
    db.run_ok(V2, &[]);
    assert_eq!(db.versions(), ["d3_audit"]);
    assert!(db.has_table("audit"));
    assert_eq!(
        db.log().iter().filter(|e| *e == "d3 upgraded").count(),
        2,
        "{:?}",
        db.log()
    );
}

#[test]
fn an_older_release_refuses_a_newer_database_by_default() {
    older_release_refuses(&Db::sqlite());
}

#[test]
fn with_the_opt_in_an_older_release_reverts_the_newer_revision_from_stored_sql() {
    older_release_reverts_with_the_opt_in(&Db::sqlite());
}

/// The opt-in reverts what this build does not know, and nothing else: on a database this
/// build is ahead of, it simply upgrades.
#[test]
fn the_opt_in_changes_nothing_for_a_database_the_release_knows() {
    let db = Db::sqlite();
    db.run_ok(V1, &["--revert-unknown"]);
    db.run_ok(V2, &["--revert-unknown"]);
    assert_eq!(db.versions(), ["d3_audit"]);
    assert_eq!(db.log(), ["d1 upgraded", "d2 upgraded", "d3 upgraded"]);
}

#[test]
fn deploy_rollback_on_postgres() {
    if let Some(db) = server("ALEMBIC_TEST_POSTGRES_URL", "psql") {
        older_release_refuses(&db);
    }
    if let Some(db) = server("ALEMBIC_TEST_POSTGRES_URL", "psql") {
        older_release_reverts_with_the_opt_in(&db);
    }
}

#[test]
fn deploy_rollback_on_mysql() {
    if let Some(db) = server("ALEMBIC_TEST_MYSQL_URL", "mysql") {
        older_release_refuses(&db);
    }
    if let Some(db) = server("ALEMBIC_TEST_MYSQL_URL", "mysql") {
        older_release_reverts_with_the_opt_in(&db);
    }
}

/// A rolling deploy: four replicas of each release start at once on a new database. Whatever
/// the interleaving, every v2 replica comes up, the database ends at d3 with each revision
/// applied exactly once and nothing reverted, and a v1 replica either came up (it ran, or
/// found the database at d2, before v2 moved it) or refused with the "older than the
/// database" error; it never fails otherwise. Five rounds.
#[test]
fn both_releases_starting_at_once_end_at_the_newer_one() {
    use std::process::{Child, Stdio};

    for round in 0..5 {
        let db = Db::sqlite();
        let start = |exe: &str| -> Child {
            Command::new(exe)
                .arg(db.arg())
                .env_remove("RUST_LOG")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a replica")
        };
        let replicas: Vec<(&str, Child)> = (0..4)
            .flat_map(|_| [("v1", start(V1)), ("v2", start(V2))])
            .collect();
        let mut v1_refused = 0;
        for (release, child) in replicas {
            let out = child.wait_with_output().expect("wait for a replica");
            let stderr = String::from_utf8_lossy(&out.stderr);
            match (release, out.status.code()) {
                (_, Some(0)) => {}
                ("v1", Some(1)) if stderr.contains("older than the database") => v1_refused += 1,
                _ => panic!("round {round}: a {release} replica failed: {}", text(&out)),
            }
        }
        assert_eq!(db.versions(), ["d3_audit"], "round {round}");
        assert_eq!(
            db.history(),
            [
                "upgrade d1_accounts",
                "upgrade d2_sessions",
                "upgrade d3_audit"
            ],
            "round {round}"
        );
        assert_eq!(
            db.log(),
            ["d1 upgraded", "d2 upgraded", "d3 upgraded"],
            "round {round}"
        );
        eprintln!("round {round}: {v1_refused} of 4 v1 replicas refused");
    }
}
