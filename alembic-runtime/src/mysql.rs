//! The MySQL / MariaDB backend (the synchronous `mysql` client, feature `mysql`).
//!
//! The run lock is a named lock (`GET_LOCK`), keyed by the version table's database and name:
//! it belongs to the session, holds across commits and is freed if the session dies. MySQL
//! commits implicitly around DDL, so [`Backend::transactional_ddl`] is false: the executor runs
//! each revision outside a transaction, moves its version row right after it in a transaction
//! of its own, and reports a failed revision as possibly half-applied. Behind a proxy that
//! pools transactions, `LockMode::Lease` takes a lease row instead (see `lease.rs`).
//!
//! TLS follows the MySQL client's `ssl-mode` (see [`ssl_opts`]), through the client's
//! native-tls support (OpenSSL on Linux).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alembic_core::url::{DatabaseUrl, Dialect};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, SslOpts, Value};

use crate::backend::{lock_hash, with_causes, Backend, BackendError, LockSettings, SqlValue};
use crate::dialect::Tables;
use crate::lease::{self, Connector, Lease};
use crate::options::LockMode;

enum Connection<'c> {
    Borrowed(&'c mut Conn),
    Owned(Box<Conn>),
}

/// A [`Backend`] over a `mysql::Conn`, borrowed or owned.
pub struct MysqlBackend<'c> {
    conn: Connection<'c>,
    in_transaction: bool,
    /// The lock's name while it is held.
    locked: Option<String>,
    /// The lease while a lease lock is held.
    lease: Option<Lease>,
    /// A timeout set on the backend itself ([`MysqlBackend::with_lock_timeout`]).
    lock_timeout: Option<Duration>,
    /// The run's lock settings, from [`Backend::configure_lock`].
    settings: Option<LockSettings>,
    /// Opens another connection like this one, for the lease's heartbeat.
    connector: Option<Connector>,
}

impl<'c> MysqlBackend<'c> {
    /// Borrows a connected client for a run.
    pub fn new(conn: &'c mut Conn) -> Self {
        Self::over(Connection::Borrowed(conn), None)
    }

    /// Where the lease lock's heartbeat connects (`LockMode::Lease`): a backend over a
    /// borrowed client cannot open a second connection by itself.
    pub fn with_lease_url(mut self, url: &DatabaseUrl) -> Self {
        let url = url.clone();
        self.connector = Some(Arc::new(move || {
            MysqlBackend::connect_url(&url).map(|b| Box::new(b) as Box<dyn Backend + Send>)
        }));
        self
    }

    fn over(conn: Connection<'c>, connector: Option<Connector>) -> Self {
        MysqlBackend {
            conn,
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

    /// How long to wait for the lock: the backend's own timeout, else the run's.
    fn effective_timeout(&self) -> Option<Duration> {
        self.lock_timeout
            .or_else(|| self.settings.as_ref().and_then(|s| s.timeout))
    }

    /// The connection underneath, e.g. to read the schema (`cargo alembic test`) between runs.
    pub fn conn(&mut self) -> &mut Conn {
        match &mut self.conn {
            Connection::Borrowed(c) => c,
            Connection::Owned(c) => c,
        }
    }
}

/// A connector that opens a backend with `opts`, for the lease heartbeat.
fn opts_connector(opts: Opts) -> Connector {
    Arc::new(move || {
        let conn = Conn::new(opts.clone()).map_err(err)?;
        Ok(
            Box::new(MysqlBackend::over(Connection::Owned(Box::new(conn)), None))
                as Box<dyn Backend + Send>,
        )
    })
}

impl MysqlBackend<'static> {
    /// Connects to `url` (`mysql://user:password@host:port/database`, with the `mysql`
    /// client's own parameters: TLS only through its `require_ssl`/`verify_ca`/
    /// `verify_identity`; [`MysqlBackend::connect_url`] reads the MySQL client's `ssl-mode`).
    pub fn connect(url: &str) -> Result<Self, BackendError> {
        let opts = Opts::from_url(url).map_err(|e| BackendError::new(e.to_string(), e))?;
        let conn = Conn::new(opts.clone()).map_err(err)?;
        Ok(Self::over(
            Connection::Owned(Box::new(conn)),
            Some(opts_connector(opts)),
        ))
    }
}

/// The TLS a URL asks for, in the MySQL client's terms (`ssl-mode`, or `ssl_mode`):
/// - `DISABLED`, or no TLS parameter: plaintext (PyMySQL's default, which Python Alembic
///   uses);
/// - `PREFERRED`: TLS when the server offers it, unverified, else plaintext;
/// - `REQUIRED` (or `ssl=true`): TLS or no connection, unverified;
/// - `VERIFY_CA`: TLS with a certificate signed by the CA of `ssl-ca` (the machine's store
///   without one);
/// - `VERIFY_IDENTITY`: `VERIFY_CA`, and the certificate names the host of the URL.
///
/// `ssl-ca` (or SQLAlchemy's/PyMySQL's `ssl_ca`) without a mode means `VERIFY_CA`, as in
/// PyMySQL. Client certificates (`ssl-cert`, `ssl-key`) are not supported yet and refused.
/// Returns the options and whether a failed TLS handshake may fall back to plaintext.
fn ssl_opts(url: &DatabaseUrl) -> Result<(Option<SslOpts>, bool), BackendError> {
    let param = |keys: &[&'static str]| -> Option<(&'static str, &str)> {
        keys.iter()
            .find_map(|k| url.query_param(k).map(|v| (*k, v)))
    };
    let refuse =
        |what: String| BackendError::msg(format!("cannot connect to {}: {what}", url.masked()));
    if let Some((key, _)) = param(&["ssl-cert", "ssl_cert", "ssl-key", "ssl_key"]) {
        return Err(refuse(format!(
            "{key}: client certificates are not supported yet; authenticate with a password, or \
             connect through a proxy that presents the certificate"
        )));
    }
    let ca = param(&["ssl-ca", "ssl_ca"]).map(|(_, v)| v);
    let mode = match param(&["ssl-mode", "ssl_mode"]) {
        Some((key, value)) => match value.to_ascii_uppercase().replace('-', "_").as_str() {
            "DISABLED" => "DISABLED",
            "PREFERRED" => "PREFERRED",
            "REQUIRED" => "REQUIRED",
            "VERIFY_CA" => "VERIFY_CA",
            "VERIFY_IDENTITY" => "VERIFY_IDENTITY",
            _ => {
                return Err(refuse(format!(
                    "{key}={value} is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, \
                     VERIFY_IDENTITY"
                )))
            }
        },
        None => match param(&["ssl"]) {
            Some((_, v)) if matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "on") => {
                if ca.is_some() {
                    "VERIFY_CA"
                } else {
                    "REQUIRED"
                }
            }
            _ if ca.is_some() => "VERIFY_CA",
            _ => "DISABLED",
        },
    };
    let opts = SslOpts::default();
    let opts = match mode {
        "DISABLED" => return Ok((None, false)),
        "PREFERRED" | "REQUIRED" => opts
            .with_danger_accept_invalid_certs(true)
            .with_danger_skip_domain_validation(true),
        verify => {
            let mut opts = opts.with_danger_skip_domain_validation(verify == "VERIFY_CA");
            if let Some(ca) = ca {
                let path = PathBuf::from(ca);
                // Read here, so that a wrong path is said as such rather than as an I/O error
                // of the handshake.
                if let Err(e) = std::fs::metadata(&path) {
                    return Err(refuse(format!(
                        "cannot read ssl-ca {}: {e}; give the PEM file of the CA that signed \
                         the server's certificate",
                        path.display()
                    )));
                }
                opts = opts.with_root_cert_path(Some(path));
            }
            opts
        }
    };
    Ok((Some(opts), mode == "PREFERRED"))
}

impl MysqlBackend<'static> {
    /// Connects to a parsed URL (`mysql[+driver]://user:password@host:port/database`,
    /// `?unix_socket=/path` for a Unix socket), with TLS per its `ssl-mode` and `ssl-ca` (see
    /// [`ssl_opts`]; a Unix socket is never encrypted). Messages show the URL masked.
    pub fn connect_url(url: &DatabaseUrl) -> Result<Self, BackendError> {
        let (ssl, may_fall_back) = ssl_opts(url)?;
        let mut opts = mysql::OptsBuilder::new()
            .user(url.username())
            .pass(url.password())
            .db_name(url.database())
            .ip_or_hostname(Some(url.host().unwrap_or("localhost")));
        if let Some(port) = url.port() {
            opts = opts.tcp_port(port);
        }
        if let Some(socket) = url.query_param("unix_socket") {
            opts = opts.socket(Some(socket));
        }
        // The client swaps a TCP connection to this machine for its Unix socket when it can
        // (`prefer_socket`), and never encrypts a socket: a URL that asks for TLS gets TCP.
        let tls = opts
            .clone()
            .ssl_opts(ssl.clone())
            .prefer_socket(ssl.is_none());
        let mut connected = Conn::new(tls.clone());
        // PREFERRED: a server without TLS gets a plaintext connection, as the MySQL client's.
        if may_fall_back
            && matches!(
                connected,
                Err(mysql::Error::DriverError(
                    mysql::DriverError::TlsNotSupported
                ))
            )
        {
            connected = Conn::new(opts.clone());
        }
        let conn = connected.map_err(|e| {
            let no_tls = matches!(
                e,
                mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)
            );
            let inner = err(e);
            let text = inner.message();
            let advice = if no_tls {
                " (the server does not offer TLS (have_ssl is not YES): turn TLS on in the \
                 server, or use ssl-mode=PREFERRED or DISABLED on a trusted network)"
            } else if ssl.is_some()
                && (text.contains("TLS") || text.contains("SSL") || text.contains("certificate"))
            {
                " (check that the server has TLS on (have_ssl), that ssl-ca is the CA that \
                 signed its certificate, and for VERIFY_IDENTITY that the URL's host is a name \
                 the certificate holds)"
            } else {
                ""
            };
            BackendError::msg(format!(
                "cannot connect to {}: {inner}{advice}",
                url.masked()
            ))
        })?;
        let opts: Opts = tls.into();
        Ok(Self::over(
            Connection::Owned(Box::new(conn)),
            Some(opts_connector(opts)),
        ))
    }
}

/// The server's code, state and message, as the mysql client prints them.
fn err(e: mysql::Error) -> BackendError {
    let message = match &e {
        mysql::Error::MySqlError(db) => {
            format!("ERROR {} ({}): {}", db.code, db.state, db.message)
        }
        other => with_causes(other),
    };
    BackendError::new(message, e)
}

/// Runs a multi-statement script and reads every result set, returning the first error.
fn run_all(conn: &mut Conn, sql: &str) -> Result<(), mysql::Error> {
    let mut result = conn.query_iter(sql)?;
    while let Some(set) = result.iter() {
        for row in set {
            row?;
        }
    }
    Ok(())
}

fn bind(params: &[SqlValue]) -> Vec<Value> {
    params
        .iter()
        .map(|p| match p {
            SqlValue::Null => Value::NULL,
            SqlValue::Text(s) => Value::Bytes(s.clone().into_bytes()),
            SqlValue::Int(i) => Value::Int(*i),
        })
        .collect()
}

impl MysqlBackend<'_> {
    /// Who holds the named lock and since when, for the timeout's message: its connection id
    /// (`IS_USED_LOCK`) and that connection's row in `information_schema.PROCESSLIST` (user,
    /// host, database, command and how long it has been in its current state; the server does
    /// not record when a named lock was taken). Never fails: a lookup error is said in the text.
    fn lock_holder(&mut self, name: &str) -> String {
        let id: Option<u64> = match self
            .conn()
            .exec_first::<Option<u64>, _, _>("SELECT IS_USED_LOCK(?)", (name,))
        {
            Ok(id) => id.flatten(),
            Err(e) => return format!("another connection (cannot tell which: {})", err(e)),
        };
        let Some(id) = id else {
            return "another connection (it released the lock as we looked)".to_string();
        };
        type Row = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let row: Result<Option<Row>, _> = self.conn().exec_first(
            "SELECT USER, HOST, DB, COMMAND, TIME FROM information_schema.PROCESSLIST \
             WHERE ID = ?",
            (id,),
        );
        match row {
            Ok(Some((user, host, db, command, time))) => {
                let or = |v: Option<String>, none: &str| v.unwrap_or_else(|| none.to_string());
                format!(
                    "connection id {id} (user {}, host {}, database {}), in command {} for {} s",
                    or(user, "?"),
                    or(host, "?"),
                    or(db, "none"),
                    or(command, "?"),
                    time.unwrap_or(0)
                )
            }
            Ok(None) => format!(
                "connection id {id} (not in PROCESSLIST: seeing other users' connections \
                 needs the PROCESS privilege)"
            ),
            Err(e) => format!("connection id {id} (cannot tell more: {})", err(e)),
        }
    }
}

impl MysqlBackend<'_> {
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

impl Backend for MysqlBackend<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
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
        let database = match &tables.schema {
            Some(schema) => schema.clone(),
            None => self
                .conn()
                .query_first::<Option<String>, _>("SELECT DATABASE()")
                .map_err(err)?
                .flatten()
                .ok_or_else(|| {
                    BackendError::msg("no database selected: put one in the URL's path")
                })?,
        };
        // GET_LOCK names are at most 64 characters: a hash fits whatever the names.
        let name = format!(
            "cargo-alembic:{:016x}",
            lock_hash(&database, &tables.version)
        );
        let started = Instant::now();
        loop {
            // Wait one second at a time, so that a lock timeout can be honoured.
            let taken: Option<Option<i64>> = self
                .conn()
                .exec_first("SELECT GET_LOCK(?, 1)", (name.as_str(),))
                .map_err(err)?;
            if taken.flatten() == Some(1) {
                self.locked = Some(name);
                return Ok(());
            }
            if let Some(limit) = self.effective_timeout() {
                if started.elapsed() >= limit {
                    let holder = self.lock_holder(&name);
                    return Err(BackendError::msg(format!(
                        "the migration lock of {database}.{} (GET_LOCK name {name}) is held by \
                         {holder}; gave up after waiting {} s",
                        tables.version,
                        limit.as_secs_f64()
                    )));
                }
            }
        }
    }

    fn unlock(&mut self) -> Result<(), BackendError> {
        let rolled_back = self.rollback();
        if let Some(name) = self.locked.take() {
            self.conn()
                .exec_drop("SELECT RELEASE_LOCK(?)", (name,))
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
        self.conn().query_drop("START TRANSACTION").map_err(err)?;
        self.in_transaction = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), BackendError> {
        self.in_transaction = false;
        self.conn().query_drop("COMMIT").map_err(err)
    }

    fn rollback(&mut self) -> Result<(), BackendError> {
        if !self.in_transaction {
            return Ok(());
        }
        self.in_transaction = false;
        self.conn().query_drop("ROLLBACK").map_err(err)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), BackendError> {
        if sql.trim().is_empty() {
            return Ok(());
        }
        // The client enables multi-statements. Every result set is read here: the error of a
        // later statement arrives with its set, and `query_drop` would silently drop it.
        self.keep_lease()?;
        let result = run_all(self.conn(), sql);
        match result {
            // ER_EMPTY_QUERY: a script of comments only, as a merge revision may be.
            Err(mysql::Error::MySqlError(e)) if e.code == 1065 => Ok(()),
            other => other.map_err(err),
        }
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, BackendError> {
        let conn = self.conn();
        conn.exec_drop(sql, bind(params)).map_err(err)?;
        Ok(conn.affected_rows())
    }

    fn query_strings(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<String>, BackendError> {
        self.conn()
            .exec::<String, _, _>(sql, bind(params))
            .map_err(err)
    }
}
