//! The run lock's timeout error names the holder: a second session holds the lock and a run
//! with a short timeout gives up, saying who holds it and since when (PostgreSQL, MySQL /
//! MariaDB) or which lock file is held (SQLite).
//!
//! Servers: `ALEMBIC_TEST_POSTGRES_URL`, `ALEMBIC_TEST_MYSQL_URL`; unset, their tests skip
//! loudly (and fail under `ALEMBIC_TEST_REQUIRE_ALL=1`). Each test locks a version table of a
//! name of its own, so that it never waits on another suite's run on the same server.

mod support;

use std::time::{Duration, Instant};

use alembic_runtime::{Migrator, RunError, RunOptions};
use support::*;

/// Options whose version table no other test uses: the lock is keyed by its name.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn own_options(tag: &str) -> RunOptions {
    let mut options = RunOptions::default();
    options.version_table = format!("locks_{tag}_{}", std::process::id());
    options
}

/// Runs an upgrade that must give up on the lock within a few seconds; returns its message.
fn timed_out(
    backend: &mut dyn alembic_runtime::Backend,
    options: RunOptions,
    timeout: Duration,
) -> String {
    let scripts = directory(five_scripts());
    let started = Instant::now();
    let result = Migrator::new(&scripts, options).upgrade(backend, "head");
    let waited = started.elapsed();
    let error = match result {
        Err(e @ RunError::Lock { .. }) => e.to_string(),
        other => panic!("expected a lock timeout, got {other:?}"),
    };
    assert!(
        waited >= timeout && waited < timeout + Duration::from_secs(5),
        "gave up after {waited:?} for a timeout of {timeout:?}"
    );
    error
}

#[cfg(feature = "postgres")]
#[test]
fn a_held_lock_on_postgres_names_the_holding_session() {
    use alembic_core::url::DatabaseUrl;
    use alembic_runtime::{LockGuard, PostgresBackend, Tables};

    let Some(url) = server_url("ALEMBIC_TEST_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let options = own_options("pg");
    let sep = if url.contains('?') { '&' } else { '?' };
    let holder_url = DatabaseUrl::parse(&format!("{url}{sep}application_name=locks-test-holder"))
        .expect("the test URL parses");
    let mut holder = match PostgresBackend::connect_url(&holder_url) {
        Ok(b) => b,
        Err(e) => {
            server_unreachable("PostgreSQL", &holder_url.masked(), &e);
            return;
        }
    };
    let tables = Tables::new(alembic_core::url::Dialect::Postgres, &options);
    let mut guard = LockGuard::acquire(&mut holder, &tables).expect("the holder takes the lock");
    let pid = guard
        .query_strings("SELECT pg_backend_pid()::text", &[])
        .expect("the holder's pid");

    let timeout = Duration::from_millis(400);
    let mut waiter = PostgresBackend::connect(&url)
        .expect("second session")
        .with_lock_timeout(timeout);
    let message = timed_out(&mut waiter, options.clone(), timeout);
    for part in [
        &format!("PostgreSQL session pid {} (", pid.concat()),
        "application \"locks-test-holder\"",
        "connected since ",
        &options.version_table,
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }

    // released, the same waiter takes it at once
    guard.release().expect("release");
    let mut waiter = PostgresBackend::connect(&url)
        .expect("third session")
        .with_lock_timeout(timeout);
    LockGuard::acquire(&mut waiter, &tables).expect("a free lock is taken");
}

#[cfg(feature = "postgres")]
#[test]
fn our_postgres_sessions_are_named() {
    use alembic_runtime::{Backend, PostgresBackend};

    let Some(url) = server_url("ALEMBIC_TEST_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let parsed = alembic_core::url::DatabaseUrl::parse(&url).expect("the test URL parses");
    let Ok(mut a) = PostgresBackend::connect_url(&parsed) else {
        server_unreachable("PostgreSQL", &parsed.masked(), &"cannot connect");
        return;
    };
    let mut b = PostgresBackend::connect(&url).expect("connect");
    let query = "SELECT current_setting('application_name')";
    for backend in [&mut a as &mut dyn Backend, &mut b] {
        assert_eq!(
            backend.query_strings(query, &[]).expect("query"),
            ["alembic-runtime"]
        );
    }
}

#[cfg(feature = "mysql")]
#[test]
fn a_held_lock_on_mysql_names_the_holding_connection() {
    use alembic_runtime::{LockGuard, MysqlBackend, Tables};

    let Some(url) = server_url("ALEMBIC_TEST_MYSQL_URL", "MySQL") else {
        return;
    };
    let options = own_options("my");
    let mut holder = match MysqlBackend::connect(&url) {
        Ok(b) => b,
        Err(e) => {
            server_unreachable("MySQL", "the configured URL", &e);
            return;
        }
    };
    let tables = Tables::new(alembic_core::url::Dialect::Mysql, &options);
    let mut guard = LockGuard::acquire(&mut holder, &tables).expect("the holder takes the lock");
    let id = guard
        .query_strings("SELECT CAST(CONNECTION_ID() AS CHAR)", &[])
        .expect("the holder's connection id")
        .concat();

    let timeout = Duration::from_millis(1500);
    let mut waiter = MysqlBackend::connect(&url)
        .expect("second connection")
        .with_lock_timeout(timeout);
    let message = timed_out(&mut waiter, options.clone(), timeout);
    for part in ["connection id ", "user ", "host ", &options.version_table] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert!(
        message.contains(&format!("connection id {id} (")),
        "the holder's connection {id} is not named in: {message}"
    );

    guard.release().expect("release");
    let mut waiter = MysqlBackend::connect(&url)
        .expect("third connection")
        .with_lock_timeout(timeout);
    LockGuard::acquire(&mut waiter, &tables).expect("a free lock is taken");
}

#[cfg(feature = "sqlite")]
#[test]
fn a_held_lock_on_sqlite_names_the_lock_file() {
    use alembic_runtime::{LockGuard, SqliteBackend, Tables};

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("app.db");
    let options = RunOptions::default();
    let tables = Tables::new(alembic_core::url::Dialect::Sqlite, &options);
    let mut holder = SqliteBackend::open(&db).expect("open");
    let guard = LockGuard::acquire(&mut holder, &tables).expect("the holder takes the lock");

    let timeout = Duration::from_millis(300);
    let mut waiter = SqliteBackend::open(&db)
        .expect("open")
        .with_busy_timeout(timeout);
    let message = timed_out(&mut waiter, options, timeout);
    let lock_file = format!("{}-alembic-lock", db.display());
    assert!(
        message.contains(&lock_file) && message.contains("held by another process"),
        "{message}"
    );
    guard.release().expect("release");
}

/// `RunOptions::lock_timeout` alone (no timeout set on the backend) bounds the wait on every
/// backend, as the embedded API and the CLI set it.
#[cfg(feature = "postgres")]
#[test]
fn run_options_lock_timeout_bounds_the_wait_on_postgres() {
    use alembic_runtime::{LockGuard, PostgresBackend, Tables};

    let Some(url) = server_url("ALEMBIC_TEST_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let mut options = own_options("pgopt");
    let Ok(mut holder) = PostgresBackend::connect(&url) else {
        server_unreachable("PostgreSQL", "the configured URL", &"cannot connect");
        return;
    };
    let tables = Tables::new(alembic_core::url::Dialect::Postgres, &options);
    let guard = LockGuard::acquire(&mut holder, &tables).expect("the holder takes the lock");
    let timeout = Duration::from_millis(500);
    options.lock_timeout = Some(timeout);
    let mut waiter = PostgresBackend::connect(&url).expect("second session");
    let message = timed_out(&mut waiter, options, timeout);
    assert!(
        message.contains("PostgreSQL session pid ") && message.contains("gave up after"),
        "{message}"
    );
    guard.release().expect("release");
}

#[cfg(feature = "mysql")]
#[test]
fn run_options_lock_timeout_bounds_the_wait_on_mysql() {
    use alembic_runtime::{LockGuard, MysqlBackend, Tables};

    let Some(url) = server_url("ALEMBIC_TEST_MYSQL_URL", "MySQL") else {
        return;
    };
    let mut options = own_options("myopt");
    let Ok(mut holder) = MysqlBackend::connect(&url) else {
        server_unreachable("MySQL", "the configured URL", &"cannot connect");
        return;
    };
    let tables = Tables::new(alembic_core::url::Dialect::Mysql, &options);
    let guard = LockGuard::acquire(&mut holder, &tables).expect("the holder takes the lock");
    let timeout = Duration::from_millis(1500);
    options.lock_timeout = Some(timeout);
    let mut waiter = MysqlBackend::connect(&url).expect("second connection");
    let message = timed_out(&mut waiter, options, timeout);
    assert!(
        message.contains("connection id ") && message.contains("gave up after"),
        "{message}"
    );
    guard.release().expect("release");
}

#[cfg(feature = "sqlite")]
#[test]
fn run_options_lock_timeout_bounds_the_wait_on_sqlite() {
    use alembic_runtime::{LockGuard, SqliteBackend, Tables};

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("app.db");
    let mut options = RunOptions::default();
    let tables = Tables::new(alembic_core::url::Dialect::Sqlite, &options);
    let mut holder = SqliteBackend::open(&db).expect("open");
    let guard = LockGuard::acquire(&mut holder, &tables).expect("the holder takes the lock");
    let timeout = Duration::from_millis(300);
    options.lock_timeout = Some(timeout);
    let mut waiter = SqliteBackend::open(&db).expect("open");
    let message = timed_out(&mut waiter, options, timeout);
    assert!(message.contains("waited 300 ms"), "{message}");
    guard.release().expect("release");
}
