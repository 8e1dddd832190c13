//! The lease lock (`LockMode::Lease`, `lock = "lease"`) on real servers: two runs contend and
//! one waits; a stale lease (expired, its holder a dead pid) is taken over; a live lease makes
//! the waiter time out naming the holder and since when; the heartbeat keeps a lease alive
//! past its duration.
//!
//! Servers: `ALEMBIC_TEST_POSTGRES_URL`, `ALEMBIC_TEST_MYSQL_URL`; unset, their tests skip
//! loudly (and fail under `ALEMBIC_TEST_REQUIRE_ALL=1`). Each test works in a schema
//! (PostgreSQL) or database (MySQL) of its own, dropped at the end.

#![cfg(any(feature = "postgres", feature = "mysql"))]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alembic_core::source::ScriptDirectory;
use alembic_core::url::{DatabaseUrl, Dialect};
use alembic_runtime::{
    Backend, LockGuard, LockMode, LockSettings, Migrator, RunError, RunOptions, Tables,
};
use support::*;

/// One test's server, schema and way to connect.
struct Server {
    dialect: Dialect,
    url: DatabaseUrl,
    schema: String,
}

impl Server {
    /// A fresh schema (PostgreSQL) or database (MySQL) on the server of `var`; `None` when the
    /// suite skips.
    fn new(dialect: Dialect) -> Option<Server> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let (var, name) = match dialect {
            Dialect::Postgres => ("ALEMBIC_TEST_POSTGRES_URL", "PostgreSQL"),
            _ => ("ALEMBIC_TEST_MYSQL_URL", "MySQL"),
        };
        let text = server_url(var, name)?;
        let url = DatabaseUrl::parse(&text).expect("the test URL parses");
        let schema = format!(
            "lease_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let server = Server {
            dialect,
            url,
            schema,
        };
        let mut admin = match server.try_connect() {
            Ok(b) => b,
            Err(e) => {
                server_unreachable(name, &server.url.masked(), &e);
                return None;
            }
        };
        let create = match dialect {
            Dialect::Postgres => format!(
                "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
                server.schema
            ),
            _ => format!(
                "DROP DATABASE IF EXISTS {0}; CREATE DATABASE {0}",
                server.schema
            ),
        };
        admin.execute_batch(&create).expect("create the schema");
        Some(server)
    }

    fn try_connect(&self) -> Result<Box<dyn Backend + Send>, alembic_runtime::BackendError> {
        match self.dialect {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => alembic_runtime::PostgresBackend::connect_url(&self.url)
                .map(|b| Box::new(b) as Box<dyn Backend + Send>),
            #[cfg(feature = "mysql")]
            Dialect::Mysql => alembic_runtime::MysqlBackend::connect_url(&self.url)
                .map(|b| Box::new(b) as Box<dyn Backend + Send>),
            other => panic!("no backend for {other} in this build"),
        }
    }

    fn connect(&self) -> Box<dyn Backend + Send> {
        self.try_connect().expect("connect")
    }

    /// Lease-mode options whose tables live in this test's schema.
    fn options(&self, lease: Duration, timeout: Option<Duration>) -> RunOptions {
        let mut options = RunOptions::default();
        options.version_table_schema = Some(self.schema.clone());
        options.lock_mode = LockMode::Lease;
        options.lease_duration = lease;
        options.lock_timeout = timeout;
        options.tool = "lease-test".to_string();
        options
    }

    fn tables(&self, options: &RunOptions) -> Tables {
        Tables::new(self.dialect, options)
    }

    /// `schema.alembic_version_lock`.
    fn lock_table(&self) -> String {
        format!("{}.alembic_version_lock", self.schema)
    }

    /// Five revisions creating tables in this schema.
    fn scripts(&self) -> ScriptDirectory {
        let scripts = (1..=5)
            .map(|n| {
                let id = format!("r{n}");
                let down = format!("r{}", n - 1);
                let downs: Vec<&str> = if n == 1 { vec![] } else { vec![down.as_str()] };
                script(
                    &id,
                    &downs,
                    &format!("CREATE TABLE {}.t{n} (x INTEGER);", self.schema),
                    Some(&format!("DROP TABLE {}.t{n};", self.schema)),
                )
            })
            .collect();
        directory(scripts)
    }

    /// A lease row written by hand, as another process would have left it: `expires_in`
    /// seconds from the server's now (negative: expired).
    fn plant_lease(&self, host: &str, pid: i64, tool: &str, expires_in: i64) {
        let mut admin = self.connect();
        let now = match self.dialect {
            Dialect::Postgres => "(clock_timestamp() AT TIME ZONE 'UTC')",
            _ => "UTC_TIMESTAMP(6)",
        };
        let expires = match self.dialect {
            Dialect::Postgres => format!("{now} + interval '{expires_in} seconds'"),
            _ => format!("DATE_ADD({now}, INTERVAL {expires_in} SECOND)"),
        };
        admin
            .execute_batch(&format!(
                "INSERT INTO {} (id, token, host, pid, tool, acquired_at, heartbeat_at, \
                 expires_at) VALUES (1, 'planted', '{host}', {pid}, '{tool}', \
                 {now} - interval '3' hour, {now} - interval '3' hour, {expires})",
                self.lock_table()
            ))
            .expect("plant a lease row");
    }

    /// The lease rows' holders (`host pid tool`).
    fn lease_rows(&self) -> Vec<String> {
        let sql = match self.dialect {
            Dialect::Postgres => format!(
                "SELECT host || ' ' || pid::text || ' ' || tool FROM {}",
                self.lock_table()
            ),
            _ => format!(
                "SELECT CONCAT(host, ' ', pid, ' ', tool) FROM {}",
                self.lock_table()
            ),
        };
        self.connect().query_strings(&sql, &[]).expect("lease rows")
    }

    fn heads(&self) -> Vec<String> {
        self.connect()
            .query_strings(
                &format!("SELECT version_num FROM {}.alembic_version", self.schema),
                &[],
            )
            .expect("heads")
    }

    /// How many upgrade history rows each revision has, `id:count`, sorted.
    fn upgrades(&self) -> Vec<String> {
        let sql = match self.dialect {
            Dialect::Postgres => format!(
                "SELECT revision || ':' || count(*)::text FROM {}.alembic_version_history \
                 WHERE operation = 'upgrade' GROUP BY revision ORDER BY revision",
                self.schema
            ),
            _ => format!(
                "SELECT CONCAT(revision, ':', COUNT(*)) FROM {}.alembic_version_history \
                 WHERE operation = 'upgrade' GROUP BY revision ORDER BY revision",
                self.schema
            ),
        };
        self.connect().query_strings(&sql, &[]).expect("history")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(mut admin) = self.try_connect() {
            let drop = match self.dialect {
                Dialect::Postgres => format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
                _ => format!("DROP DATABASE IF EXISTS {}", self.schema),
            };
            let _ = admin.execute_batch(&drop);
        }
    }
}

/// Two runs started together: both succeed, each revision is applied exactly once, the lease
/// is gone afterwards. Then a holder keeps the lease while a run waits for it: the run applies
/// nothing until the holder releases, then migrates.
fn runs_contend_and_one_waits(server: &Server) {
    let options = server.options(Duration::from_secs(5), Some(Duration::from_secs(60)));
    let scripts = server.scripts();
    let results: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let mut backend = server.connect();
                let (scripts, options) = (&scripts, options.clone());
                scope.spawn(move || {
                    Migrator::new(scripts, options)
                        .upgrade(backend.as_mut(), "head")
                        .map(|report| report.applied.len())
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("the run thread"))
            .collect()
    });
    let mut applied: Vec<usize> = results
        .into_iter()
        .map(|r| r.expect("both runs succeed"))
        .collect();
    applied.sort();
    assert_eq!(
        applied,
        [0, 5],
        "one run applied everything, the other nothing"
    );
    assert_eq!(server.heads(), ["r5"]);
    assert_eq!(server.upgrades(), ["r1:1", "r2:1", "r3:1", "r4:1", "r5:1"]);
    assert!(server.lease_rows().is_empty(), "the lease is released");

    // A holder keeps the lease; a downgrade run waits for it.
    let mut holder = server.connect();
    let tables = server.tables(&options);
    let settings = LockSettings::from(&options);
    let guard = LockGuard::acquire_with(holder.as_mut(), &tables, &settings).expect("hold");
    assert_eq!(server.lease_rows().len(), 1);
    let hold = Duration::from_millis(1500);
    let waited = std::thread::scope(|scope| {
        let mut backend = server.connect();
        let (scripts, options) = (&scripts, options.clone());
        let run = scope.spawn(move || {
            let started = Instant::now();
            Migrator::new(scripts, options)
                .downgrade(backend.as_mut(), "base")
                .expect("the waiting run succeeds once the lease is free");
            started.elapsed()
        });
        std::thread::sleep(hold);
        assert_eq!(
            server.heads(),
            ["r5"],
            "nothing ran while the lease was held"
        );
        guard.release().expect("release");
        run.join().expect("the run thread")
    });
    // It cannot have finished before the release, which came after `hold`.
    assert!(waited >= hold, "the run waited only {waited:?}");
    assert!(server.heads().is_empty());
}

/// An expired lease of a dead process is taken over at once.
fn a_stale_lease_is_taken_over(server: &Server) {
    let options = server.options(Duration::from_secs(5), Some(Duration::from_secs(30)));
    let scripts = server.scripts();
    // The first run creates the lock table.
    Migrator::new(&scripts, options.clone())
        .upgrade(server.connect().as_mut(), "r1")
        .expect("first run");
    server.plant_lease("crashed-host", 999_999_999, "crashed-tool", -60);
    assert_eq!(server.lease_rows(), ["crashed-host 999999999 crashed-tool"]);
    let report = Migrator::new(&scripts, options)
        .upgrade(server.connect().as_mut(), "head")
        .expect("the stale lease is taken over");
    assert_eq!(report.applied.len(), 4);
    assert!(server.lease_rows().is_empty(), "released after the run");
}

/// A live lease of another process: the run gives up after its timeout, naming the holder
/// and since when.
fn a_live_lease_times_out_naming_the_holder(server: &Server) {
    let timeout = Duration::from_millis(800);
    let options = server.options(Duration::from_secs(5), Some(timeout));
    let scripts = server.scripts();
    Migrator::new(&scripts, options.clone())
        .upgrade(server.connect().as_mut(), "r1")
        .expect("first run");
    server.plant_lease("busy-host", 4242, "other-tool 1.0", 600);
    let started = Instant::now();
    let result = Migrator::new(&scripts, options).upgrade(server.connect().as_mut(), "head");
    let waited = started.elapsed();
    let message = match result {
        Err(e @ RunError::Lock { .. }) => e.to_string(),
        other => panic!("expected a lock timeout, got {other:?}"),
    };
    assert!(waited >= timeout, "gave up after {waited:?}");
    for part in [
        "other-tool 1.0 (pid 4242 on host busy-host)",
        "holding the lease since ",
        "last heartbeat at ",
        "expires at ",
        &server.lock_table(),
        "gave up after waiting 0.8 s",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert_eq!(server.heads(), ["r1"], "nothing ran");
    assert_eq!(server.lease_rows(), ["busy-host 4242 other-tool 1.0"]);
}

/// A lease of 1.2 s held for three times that: the heartbeat renews it, so a waiter still
/// finds it live and the holder still owns it when it releases.
fn the_heartbeat_keeps_the_lease_alive(server: &Server) {
    let options = server.options(Duration::from_millis(1200), Some(Duration::from_secs(5)));
    let tables = server.tables(&options);
    let mut holder = server.connect();
    let guard = LockGuard::acquire_with(holder.as_mut(), &tables, &LockSettings::from(&options))
        .expect("hold");
    std::thread::sleep(Duration::from_millis(3600));
    let mut waiter_options = options.clone();
    waiter_options.lock_timeout = Some(Duration::from_millis(300));
    let mut waiter = server.connect();
    let refused = LockGuard::acquire_with(
        waiter.as_mut(),
        &tables,
        &LockSettings::from(&waiter_options),
    );
    let message = match refused {
        Err(e) => e.to_string(),
        Ok(_) => panic!("the lease expired although its holder's heartbeat runs"),
    };
    assert!(
        message.contains("lease-test (pid ") && message.contains("expires at"),
        "{message}"
    );
    guard
        .release()
        .expect("the holder still owns its lease when it releases it");
    assert!(server.lease_rows().is_empty());
}

/// A backend over a borrowed client has no second connection for a heartbeat: it renews the
/// lease itself before each transaction and each statement outside one. Kept alive that way
/// past its duration, the lease stays the holder's; left alone past its expiry, it is taken
/// over, and the holder's next transaction refuses to start.
fn a_borrowed_client_renews_between_transactions(server: &Server, holder: &mut dyn Backend) {
    // Margins of a second or more: the machine may be loaded, and the waiter must find the
    // lease live whatever its connection costs.
    let options = server.options(Duration::from_millis(1500), Some(Duration::from_secs(5)));
    let tables = server.tables(&options);
    let mut guard =
        LockGuard::acquire_with(holder, &tables, &LockSettings::from(&options)).expect("hold");
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(600));
        guard.begin().expect("begin renews the lease");
        guard.commit().expect("commit");
    }
    let mut waiter_options = options.clone();
    waiter_options.lock_timeout = Some(Duration::from_millis(300));
    let refused = LockGuard::acquire_with(
        server.connect().as_mut(),
        &tables,
        &LockSettings::from(&waiter_options),
    )
    .map(|_| ());
    let message = refused
        .expect_err("the renewed lease is still live")
        .to_string();
    assert!(message.contains("lease-test (pid "), "{message}");

    // Left alone past its expiry: another run takes it over, and the holder stops.
    std::thread::sleep(Duration::from_millis(2000));
    let mut other = server.connect();
    let taker = LockGuard::acquire_with(other.as_mut(), &tables, &LockSettings::from(&options))
        .expect("the expired lease is taken over");
    let error = guard.begin().expect_err("the holder's lease was lost");
    assert!(
        error.to_string().contains("was lost during the run"),
        "{error}"
    );
    let _ = guard.release();
    taker.release().expect("the new holder releases");
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_a_borrowed_client_renews_between_transactions() {
    use alembic_runtime::postgres_client::{Client, NoTls};
    use alembic_runtime::PostgresBackend;

    let Some(server) = Server::new(Dialect::Postgres) else {
        return;
    };
    let mut client = Client::connect(server.url.unmasked(), NoTls).expect("connect");
    a_borrowed_client_renews_between_transactions(&server, &mut PostgresBackend::new(&mut client));
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_a_borrowed_client_renews_between_transactions() {
    use alembic_runtime::mysql_client::{Conn, Opts};
    use alembic_runtime::MysqlBackend;

    let Some(server) = Server::new(Dialect::Mysql) else {
        return;
    };
    let opts = Opts::from_url(server.url.unmasked()).expect("the test URL");
    let mut conn = Conn::new(opts).expect("connect");
    a_borrowed_client_renews_between_transactions(&server, &mut MysqlBackend::new(&mut conn));
}

#[test]
fn sqlite_refuses_the_lease_lock() {
    #[cfg(feature = "sqlite")]
    {
        let db = new_db();
        let mut options = RunOptions::default();
        options.lock_mode = LockMode::Lease;
        let error = Migrator::new(&directory(five_scripts()), options)
            .upgrade(
                &mut alembic_runtime::SqliteBackend::open(&db.path).expect("open"),
                "head",
            )
            .expect_err("refused");
        let text = error.to_string();
        assert!(
            text.contains("SQLite has only its lock file") && text.contains("lease"),
            "{text}"
        );
        assert!(
            !table_exists(&open(&db.path), "alembic_version"),
            "nothing ran"
        );
    }
}

macro_rules! server_tests {
    ($feature:literal, $dialect:expr, $($name:ident => $body:ident),* $(,)?) => {
        $(
            #[cfg(feature = $feature)]
            #[test]
            fn $name() {
                if let Some(server) = Server::new($dialect) {
                    $body(&server);
                }
            }
        )*
    };
}

server_tests!(
    "postgres",
    Dialect::Postgres,
    postgres_runs_contend_and_one_waits => runs_contend_and_one_waits,
    postgres_a_stale_lease_is_taken_over => a_stale_lease_is_taken_over,
    postgres_a_live_lease_times_out_naming_the_holder => a_live_lease_times_out_naming_the_holder,
    postgres_the_heartbeat_keeps_the_lease_alive => the_heartbeat_keeps_the_lease_alive,
);

server_tests!(
    "mysql",
    Dialect::Mysql,
    mysql_runs_contend_and_one_waits => runs_contend_and_one_waits,
    mysql_a_stale_lease_is_taken_over => a_stale_lease_is_taken_over,
    mysql_a_live_lease_times_out_naming_the_holder => a_live_lease_times_out_naming_the_holder,
    mysql_the_heartbeat_keeps_the_lease_alive => the_heartbeat_keeps_the_lease_alive,
);
