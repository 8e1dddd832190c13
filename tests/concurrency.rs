//! Eight processes of the real `cargo-alembic` launched at once against one fresh database
//! (issue 3): every one exits 0, each revision's SQL ran exactly once (each script INSERTs its
//! id into `ran_log`), and the version table is at head. On SQLite always; on PostgreSQL and
//! MySQL/MariaDB when `ALEMBIC_TEST_POSTGRES_URL` / `ALEMBIC_TEST_MYSQL_URL` is set (skipped
//! loudly otherwise, a failure under `ALEMBIC_TEST_REQUIRE_ALL=1`). Server databases are
//! created and dropped with the server's own command-line client, sharing no code with the
//! product.

#[path = "support/project.rs"]
mod project;
#[path = "support/server_db.rs"]
mod server_db;

use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use server_db::ServerDb;

use project::{bin, sqlite_url, Project, DEFAULT_CONFIG};

const PROCESSES: usize = 8;

/// A graph with a branch and a merge: r1 <- r2 <- (r3, r4) <- r5 (merge) <- r6. Each script
/// records itself in `ran_log` and pauses (`sleep`), so that the runs overlap.
fn write_scripts(p: &Project, sleep: &str) {
    let graph: [(&str, &str); 6] = [
        ("r1", ""),
        ("r2", "r1"),
        ("r3", "r2"),
        ("r4", "r2"),
        ("r5", "r3, r4"),
        ("r6", "r5"),
    ];
    for (id, revises) in graph {
        let create = if id == "r1" {
            "CREATE TABLE ran_log (rev VARCHAR(16) NOT NULL);\n".to_string()
        } else {
            format!("CREATE TABLE t_{id} (id INTEGER);\n")
        };
        let up = format!("{create}INSERT INTO ran_log (rev) VALUES ('{id}');\n{sleep}");
        p.revision(id, revises, &up, None);
    }
}

/// Starts `cargo-alembic --url <url> upgrade head` in the project, its output captured.
fn start_upgrade(p: &Project, url: &str) -> std::process::Child {
    Command::new(bin())
        .current_dir(p.root())
        .args(["--url", url, "upgrade", "head"])
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin()))
}

/// A finished process's exit code, and its streams for messages.
fn finish(child: std::process::Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("wait for cargo-alembic");
    let text = format!(
        "--- stdout:\n{}--- stderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Starts all processes before waiting for any, and returns each one's exit code and output.
fn launch_all(p: &Project, url: &str) -> Vec<(Option<i32>, String)> {
    let children: Vec<_> = (0..PROCESSES).map(|_| start_upgrade(p, url)).collect();
    children.into_iter().map(finish).collect()
}

/// The promises: all exited 0, `ran_log` holds each revision exactly once, the version rows
/// are the head. `ran_log` and `version_rows` are the database's rows, sorted.
fn check(outcomes: &[(Option<i32>, String)], ran_log: Vec<String>, version_rows: Vec<String>) {
    for (i, (code, text)) in outcomes.iter().enumerate() {
        assert_eq!(*code, Some(0), "process {i} failed\n{text}");
    }
    assert_eq!(
        ran_log,
        ["r1", "r2", "r3", "r4", "r5", "r6"],
        "each revision's SQL must run exactly once"
    );
    assert_eq!(version_rows, ["r6"]);
}

#[test]
fn eight_processes_at_once_on_sqlite() {
    let p = Project::new();
    write_scripts(&p, "");
    let url = sqlite_url(&p.db());
    let outcomes = launch_all(&p, &url);
    let conn = project::open(&p.db());
    let column = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        rows
    };
    let ran_log = column("SELECT rev FROM ran_log ORDER BY rev");
    let versions = column("SELECT version_num FROM alembic_version ORDER BY 1");
    check(&outcomes, ran_log, versions);
}

impl ServerDb {
    fn run(&self, sleep: &str) {
        let p = Project::new();
        write_scripts(&p, sleep);
        let outcomes = launch_all(&p, &self.url);
        let ran_log = self.sql(&self.url, "SELECT rev FROM ran_log ORDER BY rev");
        let versions = self.sql(
            &self.url,
            "SELECT version_num FROM alembic_version ORDER BY 1",
        );
        check(&outcomes, ran_log, versions);
    }

    /// `lock_timeout` in alembic.toml: while one CLI run holds the lock (its first script
    /// sleeps `sleep`, seen by `holding_query` returning a non-zero count), a second run with
    /// `lock_timeout = 1` fails after about a second, naming the holder (`holder_says`); the
    /// first run then finishes normally.
    fn held_lock_times_out(&self, sleep: &str, holding_query: &str, holder_says: &str) {
        let holder = Project::new();
        holder.revision("r1", "", sleep, None);
        let mut first = Some(start_upgrade(&holder, &self.url));
        let started = Instant::now();
        while self
            .sql(&self.admin_url, holding_query)
            .first()
            .map(String::as_str)
            == Some("0")
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the first run never took the lock"
            );
            if let Some(done) = first.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let text = finish(first.take().expect("child")).1;
                panic!("the first run ended ({done}) before it was seen holding the lock\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }

        let waiter = Project::new();
        waiter.write(
            "alembic.toml",
            &format!("{DEFAULT_CONFIG}lock_timeout = 1\n"),
        );
        waiter.revision("r1", "", sleep, None);
        let asked = Instant::now();
        let (code, text) = finish(start_upgrade(&waiter, &self.url));
        let waited = asked.elapsed();
        assert_ne!(code, Some(0), "the second run must give up\n{text}");
        for part in ["could not take the migration lock", holder_says] {
            assert!(text.contains(part), "{part:?} missing\n{text}");
        }
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_secs(15),
            "gave up after {waited:?} with lock_timeout = 1\n{text}"
        );
        let (code, text) = finish(first.take().expect("the first run"));
        assert_eq!(code, Some(0), "the holder finishes\n{text}");
    }
}

#[test]
fn eight_processes_at_once_on_postgres() {
    if let Some(db) = ServerDb::create(
        "ALEMBIC_TEST_POSTGRES_URL",
        "psql",
        "conc",
        "concurrency test",
    ) {
        db.run("SELECT pg_sleep(0.1);");
    }
}

#[test]
fn a_held_lock_times_out_naming_the_session_on_postgres() {
    if let Some(db) = ServerDb::create(
        "ALEMBIC_TEST_POSTGRES_URL",
        "psql",
        "conc",
        "concurrency test",
    ) {
        let holding = format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = '{}')",
            db.name
        );
        db.held_lock_times_out(
            "SELECT pg_sleep(4);",
            &holding,
            "application \"alembic-runtime\"",
        );
    }
}

#[test]
fn a_held_lock_times_out_naming_the_connection_on_mysql() {
    if let Some(db) = ServerDb::create(
        "ALEMBIC_TEST_MYSQL_URL",
        "mysql",
        "conc",
        "concurrency test",
    ) {
        let holding = format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{}' \
             AND INFO LIKE '%SLEEP(4)%' AND ID <> CONNECTION_ID()",
            db.name
        );
        db.held_lock_times_out(
            "SELECT SLEEP(4);",
            &holding,
            &format!("database {})", db.name),
        );
    }
}

#[test]
fn eight_processes_at_once_on_mysql() {
    if let Some(db) = ServerDb::create(
        "ALEMBIC_TEST_MYSQL_URL",
        "mysql",
        "conc",
        "concurrency test",
    ) {
        db.run("SELECT SLEEP(0.1);");
    }
}
