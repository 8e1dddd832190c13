//! The PostgreSQL backend (the synchronous `postgres` client, feature `postgres`).
//!
//! The run lock is a session-level advisory lock, keyed by the version table's schema and name:
//! it holds across the run's commits, PostgreSQL frees it if the session dies, and a waiting
//! process polls for it (see its `lock` for why it does not block). Behind a
//! transaction-pooling proxy, where a session lock does not hold, `LockMode::Lease` takes a
//! lease row instead (see `lease.rs`). DDL is transactional, so a revision and its version
//! row commit together.
//!
//! A `Transactional: false` script is sent one statement at a time: PostgreSQL would run a
//! multi-statement batch as one implicit transaction, where `CREATE INDEX CONCURRENTLY` is
//! refused.
//!
//! TLS follows libpq's `sslmode` (see [`tls_settings`]), through native-tls (OpenSSL on Linux).

use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use alembic_core::url::{DatabaseUrl, Dialect};
use postgres::config::SslMode;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls};
use postgres_native_tls::MakeTlsConnector;

use crate::backend::{lock_hash, with_causes, Backend, BackendError, LockSettings, SqlValue};
use crate::dialect::{placeholder, Tables};
use crate::lease::{self, Connector, Lease};
use crate::options::LockMode;
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
    /// The lease while a lease lock is held.
    lease: Option<Lease>,
    /// A timeout set on the backend itself ([`PostgresBackend::with_lock_timeout`]).
    lock_timeout: Option<Duration>,
    /// The run's lock settings, from [`Backend::configure_lock`].
    settings: Option<LockSettings>,
    /// Opens another connection like this one, for the lease's heartbeat.
    connector: Option<Connector>,
}

impl<'c> PostgresBackend<'c> {
    /// Borrows a connected client for a run.
    pub fn new(client: &'c mut Client) -> Self {
        Self::over(Conn::Borrowed(client), None)
    }

    fn over(client: Conn<'c>, connector: Option<Connector>) -> Self {
        PostgresBackend {
            client,
            in_transaction: false,
            locked: None,
            lease: None,
            lock_timeout: None,
            settings: None,
            connector,
        }
    }

    /// Gives up waiting for another process's lock after `timeout`, whatever the run's
    /// `RunOptions::lock_timeout` says (without either: wait as long as it takes).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// Where the lease lock's heartbeat connects (`LockMode::Lease`): a backend over a
    /// borrowed client cannot open a second connection by itself.
    pub fn with_lease_url(mut self, url: &DatabaseUrl) -> Self {
        self.connector = Some(url_connector(url));
        self
    }

    /// How long to wait for the lock: the backend's own timeout, else the run's.
    fn effective_timeout(&self) -> Option<Duration> {
        self.lock_timeout
            .or_else(|| self.settings.as_ref().and_then(|s| s.timeout))
    }

    /// The client underneath, e.g. to read the schema (`cargo alembic test`) between runs.
    pub fn client(&mut self) -> &mut Client {
        match &mut self.client {
            Conn::Borrowed(c) => c,
            Conn::Owned(c) => c,
        }
    }
}

/// A connector that opens a backend to `url`, for the lease heartbeat.
fn url_connector(url: &DatabaseUrl) -> Connector {
    let url = url.clone();
    Arc::new(move || {
        PostgresBackend::connect_url(&url).map(|b| Box::new(b) as Box<dyn Backend + Send>)
    })
}

impl PostgresBackend<'static> {
    /// Connects to `url`: a `postgresql://` URL (TLS per its `sslmode`, see
    /// [`PostgresBackend::connect_url`]), or a libpq key-value string (`host=... user=...`),
    /// which gets libpq's default, `sslmode=prefer`.
    pub fn connect(url: &str) -> Result<Self, BackendError> {
        if let Ok(parsed) = DatabaseUrl::parse(url) {
            if parsed.dialect() == Dialect::Postgres {
                return Self::connect_url(&parsed);
            }
        }
        let mut config: postgres::Config = url.parse().map_err(err)?;
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        let client = config.connect(unverified_tls()?).map_err(err)?;
        Ok(Self::over(Conn::Owned(Box::new(client)), None))
    }
}

/// A TLS connector that encrypts without checking who the server is (libpq's `prefer` and
/// `require`): protects against eavesdropping, not against an impostor.
///
/// Built once per process: building one makes OpenSSL 3 load the machine's CA bundle (twice,
/// some 50 ms), which nothing here uses, and `prefer` is the default of every connection.
fn unverified_tls() -> Result<MakeTlsConnector, BackendError> {
    static CONNECTOR: OnceLock<Result<MakeTlsConnector, String>> = OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            native_tls::TlsConnector::builder()
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true)
                .disable_built_in_roots(true)
                .build()
                .map(MakeTlsConnector::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| BackendError::msg(format!("cannot set up TLS: {e}")))
}

/// How a URL asks for TLS, libpq's way.
struct TlsSettings {
    mode: SslMode,
    /// `None`: no TLS at all (`sslmode=disable`).
    connector: Option<MakeTlsConnector>,
    /// What the URL said, for messages: `sslmode=verify-full`.
    described: String,
}

/// The TLS a URL asks for with libpq's parameters:
/// - `sslmode=disable`: plaintext;
/// - `allow`, `prefer` (libpq's default, and so the default here): TLS when the server offers
///   it, unverified, else plaintext;
/// - `require`: TLS or no connection, unverified, unless `sslrootcert` is given, which makes it
///   `verify-ca` (as in libpq);
/// - `verify-ca`: TLS with a certificate signed by the CA of `sslrootcert`;
/// - `verify-full`: `verify-ca`, and the certificate names the host of the URL.
///
/// `sslrootcert` is a PEM file of CA certificates (only those are trusted), or `system` for
/// the machine's store; without it, verification uses `~/.postgresql/root.crt` when it exists
/// (libpq's default), else the machine's store. Client certificates (`sslcert`, `sslkey`) are
/// not supported yet and refused rather than ignored.
fn tls_settings(url: &DatabaseUrl) -> Result<TlsSettings, BackendError> {
    let refuse =
        |what: String| BackendError::msg(format!("cannot connect to {}: {what}", url.masked()));
    for key in ["sslcert", "sslkey"] {
        if url.query_param(key).is_some() {
            return Err(refuse(format!(
                "{key}: client certificates are not supported yet; authenticate with a \
                 password, or connect through a proxy that presents the certificate"
            )));
        }
    }
    let root = url.query_param("sslrootcert");
    let mode = url.query_param("sslmode").unwrap_or("prefer");
    let described = match root {
        Some(root) => format!("sslmode={mode}, sslrootcert={root}"),
        None => format!("sslmode={mode}"),
    };
    let (ssl_mode, verify_ca, verify_host) = match mode {
        "disable" => {
            return Ok(TlsSettings {
                mode: SslMode::Disable,
                connector: None,
                described,
            })
        }
        "allow" | "prefer" => (SslMode::Prefer, false, false),
        "require" => (SslMode::Require, root.is_some(), false),
        "verify-ca" => (SslMode::Require, true, false),
        "verify-full" => (SslMode::Require, true, true),
        other => {
            return Err(refuse(format!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, \
                 verify-full"
            )))
        }
    };
    if !verify_ca {
        return Ok(TlsSettings {
            mode: ssl_mode,
            connector: Some(unverified_tls()?),
            described,
        });
    }
    let mut builder = native_tls::TlsConnector::builder();
    builder.danger_accept_invalid_hostnames(!verify_host);
    let default_root = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".postgresql/root.crt"))
        .filter(|p| p.is_file());
    let root_file = match root {
        Some("system") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => default_root,
    };
    if let Some(path) = root_file {
        let pem = std::fs::read(&path).map_err(|e| {
            refuse(format!(
                "cannot read sslrootcert {}: {e}; give the PEM file of the CA that signed the \
                 server's certificate, or sslrootcert=system for the machine's store",
                path.display()
            ))
        })?;
        let certificates = pem_certificates(&pem);
        if certificates.is_empty() {
            return Err(refuse(format!(
                "sslrootcert {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        for certificate in certificates {
            let certificate = native_tls::Certificate::from_pem(certificate).map_err(|e| {
                refuse(format!(
                    "sslrootcert {} holds a certificate that cannot be read: {e}",
                    path.display()
                ))
            })?;
            builder.add_root_certificate(certificate);
        }
        // Only the given CAs, as in libpq: a certificate some public CA signed for another
        // party must not pass.
        builder.disable_built_in_roots(true);
    }
    let connector = builder
        .build()
        .map_err(|e| BackendError::new(format!("cannot set up TLS: {e}"), e))?;
    Ok(TlsSettings {
        mode: ssl_mode,
        connector: Some(MakeTlsConnector::new(connector)),
        described,
    })
}

/// Each `-----BEGIN CERTIFICATE-----` block of a PEM file (a CA bundle holds several; the
/// parser reads one at a time).
fn pem_certificates(pem: &[u8]) -> Vec<&[u8]> {
    const END: &[u8] = b"-----END CERTIFICATE-----";
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = find(rest, BEGIN) {
        let Some(end) = find(&rest[start..], END) else {
            break;
        };
        let stop = start + end + END.len();
        out.push(&rest[start..stop]);
        rest = &rest[stop..];
    }
    out
}

impl PostgresBackend<'static> {
    /// Connects to a parsed URL (`postgresql[+driver]://user:password@host:port/database`,
    /// `?host=/socket/dir` for a Unix socket), with TLS per its `sslmode` and `sslrootcert`
    /// (see [`tls_settings`]). Messages show the URL masked.
    pub fn connect_url(url: &DatabaseUrl) -> Result<Self, BackendError> {
        let tls = tls_settings(url)?;
        let mut config = postgres::Config::new();
        config.ssl_mode(tls.mode);
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
        let connected = match tls.connector {
            Some(connector) => config.connect(connector),
            None => config.connect(NoTls),
        };
        let client = connected.map_err(|e| {
            let inner = err(e);
            let text = inner.message();
            let advice = if text.contains("TLS") || text.contains("certificate") {
                format!(
                    " (TLS with {}: check that sslrootcert is the CA that signed the server's \
                     certificate, and for verify-full that the URL's host is a name the \
                     certificate holds)",
                    tls.described
                )
            } else {
                String::new()
            };
            BackendError::msg(format!(
                "cannot connect to {}: {inner}{advice}",
                url.masked()
            ))
        })?;
        Ok(Self::over(
            Conn::Owned(Box::new(client)),
            Some(url_connector(url)),
        ))
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

/// Parameters with their types stated, so that a statement is parsed, bound and run in one
/// round trip (`query_typed`) instead of being prepared first (a round trip more per
/// statement: thousands when applying a long history). Text binds as TEXT (the bookkeeping
/// columns are VARCHAR/TEXT) and integers as BIGINT. `None` when a value is NULL: its type is
/// the column's, which only the server knows, so such a statement is prepared
/// ([`bind_untyped`]).
fn bind_typed(params: &[SqlValue]) -> Option<Vec<(Box<dyn ToSql + Sync>, Type)>> {
    params
        .iter()
        .map(|p| -> Option<(Box<dyn ToSql + Sync>, Type)> {
            match p {
                SqlValue::Null => None,
                SqlValue::Text(s) => Some((Box::new(s.clone()), Type::TEXT)),
                SqlValue::Int(i) => Some((Box::new(*i), Type::INT8)),
            }
        })
        .collect()
}

/// Parameters for a prepared statement, whose types the server infers.
fn bind_untyped(params: &[SqlValue]) -> Vec<Box<dyn ToSql + Sync>> {
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

impl PostgresBackend<'_> {
    /// Between transactions, with a lease lock: stop if the lease was lost, renew it when
    /// there is no heartbeat thread (see `Lease::renew_if_due`).
    fn keep_lease(&mut self) -> Result<(), BackendError> {
        if self.in_transaction {
            return Ok(());
        }
        match self.lease.take() {
            Some(mut lease) => {
                let kept = lease.renew_if_due(self);
                self.lease = Some(lease);
                kept
            }
            None => Ok(()),
        }
    }
}

impl Backend for PostgresBackend<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn configure_lock(&mut self, settings: &LockSettings) -> Result<(), BackendError> {
        self.settings = Some(settings.clone());
        Ok(())
    }

    fn lock(&mut self, tables: &Tables) -> Result<(), BackendError> {
        if let Some(settings) = self.settings.clone() {
            if settings.mode == LockMode::Lease {
                let connector = self.connector.clone();
                let settings = LockSettings {
                    timeout: self.effective_timeout(),
                    ..settings
                };
                self.lease = Some(lease::acquire(self, tables, &settings, connector.as_ref())?);
                return Ok(());
            }
        }
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
            if let Some(limit) = self.effective_timeout() {
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
        if let Some(lease) = self.lease.take() {
            lease.release(self)?;
        }
        rolled_back
    }

    fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    fn begin(&mut self) -> Result<(), BackendError> {
        self.keep_lease()?;
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
            self.keep_lease()?;
            self.client().batch_execute(statement).map_err(err)?;
        }
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, BackendError> {
        let Some(values) = bind_typed(params) else {
            let values = bind_untyped(params);
            let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
            return self.client().execute(sql, &refs).map_err(err);
        };
        let typed = values.iter().map(|(v, t)| (v.as_ref(), t.clone()));
        let mut rows = self.client().query_typed_raw(sql, typed).map_err(err)?;
        while rows.next().map_err(err)?.is_some() {}
        Ok(rows.rows_affected().unwrap_or(0))
    }

    fn query_strings(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<String>, BackendError> {
        let rows = match bind_typed(params) {
            Some(values) => {
                let typed: Vec<(&(dyn ToSql + Sync), Type)> = values
                    .iter()
                    .map(|(v, t)| (v.as_ref(), t.clone()))
                    .collect();
                self.client().query_typed(sql, &typed).map_err(err)?
            }
            None => {
                let values = bind_untyped(params);
                let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
                self.client().query(sql, &refs).map_err(err)?
            }
        };
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
        // Typed (one round trip, see `bind_typed`) even when the schema is NULL: the
        // statement casts it to text.
        let schema: Option<&str> = tables.schema.as_deref();
        let rows = self
            .client()
            .query_typed(&sql, &[(&schema, Type::TEXT), (&table, Type::TEXT)])
            .map_err(err)?;
        Ok(!rows.is_empty())
    }
}
