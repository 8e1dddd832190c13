//! The PostgreSQL backend (the synchronous `postgres` client, feature `postgres`).
//!
//! The run lock is a session-level advisory lock, keyed by the version table's schema and name:
//! it holds across the run's commits, PostgreSQL frees it if the session dies, and a waiting
//! process polls for it (see its `lock` for why it does not block). DDL is transactional, so a revision and its version
//! row commit together.
//!
//! A `Transactional: false` script is sent one statement at a time: PostgreSQL would run a
//! multi-statement batch as one implicit transaction, where `CREATE INDEX CONCURRENTLY` is
//! refused.
//!
//! Not yet: TLS connections.

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use alembic_core::url::{DatabaseUrl, Dialect};
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use crate::backend::{lock_hash, with_causes, Backend, BackendError, SqlValue};
use crate::dialect::{placeholder, Tables};
use crate::split::split_statements;

/// The `application_name` of the sessions this backend opens, unless the URL names one.
const APPLICATION_NAME: &str = "alembic-runtime";

enum Conn<'c> {
    Borrowed(&'c mut Client),
    Owned(Box<Client>),
}

/// A [`Backend`] over a `postgres::Client`, borrowed or owned.
pub struct PostgresBackend<'c> {
    client: Conn<'c>,
    in_transaction: bool,
    /// The advisory-lock key while the lock is held.
    locked: Option<i64>,
    /// How long to wait for another process's lock; `None`: as long as it takes.
    lock_timeout: Option<Duration>,
}

impl<'c> PostgresBackend<'c> {
    /// Borrows a connected client for a run.
    pub fn new(client: &'c mut Client) -> Self {
        PostgresBackend {
            client: Conn::Borrowed(client),
            in_transaction: false,
            locked: None,
            lock_timeout: None,
        }
    }

    /// Gives up waiting for another process's lock after `timeout` (default: wait as long as
    /// it takes, since the other process is applying the same migrations).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    fn client(&mut self) -> &mut Client {
        match &mut self.client {
            Conn::Borrowed(c) => c,
            Conn::Owned(c) => c,
        }
    }
}

impl PostgresBackend<'static> {
    /// Connects to `url` (`postgresql://user:password@host:port/database`), without TLS.
    pub fn connect(url: &str) -> Result<Self, BackendError> {
        let mut config: postgres::Config = url.parse().map_err(err)?;
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        let client = config.connect(NoTls).map_err(err)?;
        Ok(PostgresBackend {
            client: Conn::Owned(Box::new(client)),
            in_transaction: false,
            locked: None,
            lock_timeout: None,
        })
    }
}

impl PostgresBackend<'static> {
    /// Connects to a parsed URL (`postgresql[+driver]://user:password@host:port/database`,
    /// `?host=/socket/dir` for a Unix socket), without TLS. Messages show the URL masked.
    pub fn connect_url(url: &DatabaseUrl) -> Result<Self, BackendError> {
        // TLS is not built yet: a URL that demands it must not quietly get a plaintext
        // connection (`prefer`, `allow` and `disable` may fall back to one, as libpq's do).
        if let Some(mode) = url.query_param("sslmode") {
            if matches!(mode, "require" | "verify-ca" | "verify-full") {
                return Err(BackendError::msg(format!(
                    "cannot connect to {}: sslmode={mode} asks for TLS, which this build does \
                     not support yet; use a connection without TLS (sslmode=disable) on a \
                     trusted network, or a TLS-terminating proxy",
                    url.masked()
                )));
            }
        }
        let mut config = postgres::Config::new();
        if let Some(user) = url.username() {
            config.user(user);
        }
        if let Some(password) = url.password() {
            config.password(password);
        }
        config.host(
            url.host()
                .or(url.query_param("host"))
                .unwrap_or("localhost"),
        );
        if let Some(port) = url.port() {
            config.port(port);
        }
        if let Some(database) = url.database() {
            config.dbname(database);
        }
        // Named, so that a process waiting for the run lock can say who holds it.
        config.application_name(
            url.query_param("application_name")
                .unwrap_or(APPLICATION_NAME),
        );
        let client = config.connect(NoTls).map_err(|e| {
            let inner = err(e);
            BackendError::msg(format!("cannot connect to {}: {inner}", url.masked()))
        })?;
        Ok(PostgresBackend {
            client: Conn::Owned(Box::new(client)),
            in_transaction: false,
            locked: None,
            lock_timeout: None,
        })
    }
}

/// The server's message with its detail and hint, rather than the client's generic wrapper.
fn err(e: postgres::Error) -> BackendError {
    let message = match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                m.push_str(&format!(" (detail: {detail})"));
            }
            if let Some(hint) = db.hint() {
                m.push_str(&format!(" (hint: {hint})"));
            }
            m
        }
        // The client's own errors ("error connecting to server") keep their reason in the
        // cause chain.
        None => with_causes(&e),
    };
    BackendError::new(message, e)
}

/// A NULL of whatever type the server expects for the parameter.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn bind(params: &[SqlValue]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                SqlValue::Null => Box::new(Null),
                SqlValue::Text(s) => Box::new(s.clone()),
                SqlValue::Int(i) => Box::new(*i),
            }
        })
        .collect()
}

impl PostgresBackend<'_> {
    /// Who holds the advisory lock `key` and since when, for the timeout's message: the
    /// session from `pg_stat_activity` (pid, application, user, address, connection time and
    /// current state). A bigint advisory key shows in `pg_locks` as its high and low halves
    /// (classid, objid) with objsubid 1. Never fails: a lookup error is said in the text.
    fn lock_holder(&mut self, key: i64) -> String {
        let bits = u64::from_ne_bytes(key.to_ne_bytes());
        let high = i64::from(u32::try_from(bits >> 32).unwrap_or(u32::MAX));
        let low = i64::from(u32::try_from(bits & 0xffff_ffff).unwrap_or(u32::MAX));
        let query =
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), \
                    coalesce(host(a.client_addr), 'local socket'), \
                    to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), \
                    extract(epoch FROM now() - a.backend_start)::bigint, \
                    coalesce(a.state, ''), \
                    coalesce(extract(epoch FROM now() - a.state_change)::bigint, 0) \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
               AND l.classid::bigint = $1 AND l.objid::bigint = $2 \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";
        let rows = match self.client().query(query, &[&high, &low]) {
            Ok(rows) => rows,
            Err(e) => return format!("another session (cannot tell which: {})", err(e)),
        };
        let Some(row) = rows.first() else {
            return "another session (it released the lock as we looked)".to_string();
        };
        let described = (|| -> Result<String, postgres::Error> {
            let pid: i32 = row.try_get(0)?;
            let application: String = row.try_get(1)?;
            let user: String = row.try_get(2)?;
            let address: String = row.try_get(3)?;
            let since: String = row.try_get(4)?;
            let age: i64 = row.try_get(5)?;
            let state: String = row.try_get(6)?;
            let state_age: i64 = row.try_get(7)?;
            let application = if application.is_empty() {
                "no application_name".to_string()
            } else {
                format!("application \"{application}\"")
            };
            Ok(format!(
                "PostgreSQL session pid {pid} ({application}, user {user}, from {address}), \
                 connected since {since} ({age} s ago), {state} for {state_age} s"
            ))
        })();
        described.unwrap_or_else(|e| format!("another session (cannot tell which: {})", err(e)))
    }
}

impl Backend for PostgresBackend<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn lock(&mut self, tables: &Tables) -> Result<(), BackendError> {
        let schema = match &tables.schema {
            Some(schema) => schema.clone(),
            None => self
                .client()
                .query_one("SELECT current_schema()::text", &[])
                .and_then(|row| row.try_get::<_, String>(0))
                .map_err(err)?,
        };
        let key = i64::from_ne_bytes(lock_hash(&schema, &tables.version).to_ne_bytes());
        // Poll with pg_try_advisory_lock rather than block in pg_advisory_lock: a session
        // blocked in a statement holds a snapshot, and the holder's `CREATE INDEX CONCURRENTLY`
        // waits for every such snapshot to end: a deadlock PostgreSQL would break by failing
        // one of them.
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let taken: bool = self
                .client()
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .and_then(|row| row.try_get(0))
                .map_err(err)?;
            if taken {
                self.locked = Some(key);
                return Ok(());
            }
            if let Some(limit) = self.lock_timeout {
                if started.elapsed() >= limit {
                    let holder = self.lock_holder(key);
                    return Err(BackendError::msg(format!(
                        "the migration lock of {schema}.{} is held by {holder}; gave up after \
                         waiting {} s",
                        tables.version,
                        limit.as_secs_f64()
                    )));
                }
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    fn unlock(&mut self) -> Result<(), BackendError> {
        let rolled_back = self.rollback();
        if let Some(key) = self.locked.take() {
            self.client()
                .execute("SELECT pg_advisory_unlock($1)", &[&key])
                .map_err(err)?;
        }
        rolled_back
    }

    fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    fn begin(&mut self) -> Result<(), BackendError> {
        self.client().batch_execute("BEGIN").map_err(err)?;
        self.in_transaction = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), BackendError> {
        // Whatever COMMIT returns, the transaction is over (a failed one is rolled back).
        self.in_transaction = false;
        self.client().batch_execute("COMMIT").map_err(err)
    }

    fn rollback(&mut self) -> Result<(), BackendError> {
        if !self.in_transaction {
            return Ok(());
        }
        self.in_transaction = false;
        self.client().batch_execute("ROLLBACK").map_err(err)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), BackendError> {
        if self.in_transaction {
            return self.client().batch_execute(sql).map_err(err);
        }
        // Outside a transaction (a `Transactional: false` script), one statement at a time:
        // sent together they would form one implicit transaction, where statements such as
        // `CREATE INDEX CONCURRENTLY` are refused.
        for statement in split_statements(sql) {
            self.client().batch_execute(statement).map_err(err)?;
        }
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, BackendError> {
        let values = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
        self.client().execute(sql, &refs).map_err(err)
    }

    fn query_strings(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<String>, BackendError> {
        let values = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
        let rows = self.client().query(sql, &refs).map_err(err)?;
        rows.iter()
            .map(|row| row.try_get::<_, String>(0).map_err(err))
            .collect()
    }

    // information_schema names are `sql_identifier`, which the client cannot read as text:
    // cast them.
    fn table_exists(&mut self, tables: &Tables, table: &str) -> Result<bool, BackendError> {
        let sql = format!(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = COALESCE({}::text, current_schema()) AND table_name = {}",
            placeholder(Dialect::Postgres, 1),
            placeholder(Dialect::Postgres, 2)
        );
        let schema = tables.schema.clone().into();
        let rows = self.query_strings(&sql, &[schema, SqlValue::Text(table.to_string())])?;
        Ok(!rows.is_empty())
    }
}
