//! The MySQL / MariaDB backend (the synchronous `mysql` client, feature `mysql`).
//!
//! The run lock is a named lock (`GET_LOCK`), keyed by the version table's database and name:
//! it belongs to the session, holds across commits and is freed if the session dies. MySQL
//! commits implicitly around DDL, so [`Backend::transactional_ddl`] is false: the executor runs
//! each revision outside a transaction, moves its version row right after it in a transaction
//! of its own, and reports a failed revision as possibly half-applied.
//!
//! Not yet: TLS connections.

use std::time::{Duration, Instant};

use alembic_core::url::{DatabaseUrl, Dialect};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, Value};

use crate::backend::{lock_hash, with_causes, Backend, BackendError, SqlValue};
use crate::dialect::Tables;

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
    /// How long to wait for another process's lock; `None`: as long as it takes.
    lock_timeout: Option<Duration>,
}

impl<'c> MysqlBackend<'c> {
    /// Borrows a connected client for a run.
    pub fn new(conn: &'c mut Conn) -> Self {
        MysqlBackend {
            conn: Connection::Borrowed(conn),
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

    fn conn(&mut self) -> &mut Conn {
        match &mut self.conn {
            Connection::Borrowed(c) => c,
            Connection::Owned(c) => c,
        }
    }
}

impl MysqlBackend<'static> {
    /// Connects to `url` (`mysql://user:password@host:port/database`), without TLS.
    pub fn connect(url: &str) -> Result<Self, BackendError> {
        let opts = Opts::from_url(url).map_err(|e| BackendError::new(e.to_string(), e))?;
        let conn = Conn::new(opts).map_err(err)?;
        Ok(MysqlBackend {
            conn: Connection::Owned(Box::new(conn)),
            in_transaction: false,
            locked: None,
            lock_timeout: None,
        })
    }
}

impl MysqlBackend<'static> {
    /// Connects to a parsed URL (`mysql[+driver]://user:password@host:port/database`,
    /// `?unix_socket=/path` for a Unix socket), without TLS. Messages show the URL masked.
    pub fn connect_url(url: &DatabaseUrl) -> Result<Self, BackendError> {
        // TLS is not built yet: a URL that asks for it must not quietly get plaintext.
        for key in [
            "ssl",
            "ssl_mode",
            "ssl-mode",
            "ssl_ca",
            "ssl-ca",
            "require_secure_transport",
        ] {
            if let Some(value) = url.query_param(key) {
                let off = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "false" | "0" | "disabled" | "off" | "preferred"
                );
                if !off {
                    return Err(BackendError::msg(format!(
                        "cannot connect to {}: {key}={value} asks for TLS, which this build does \
                         not support yet; connect without TLS on a trusted network, or through a \
                         TLS-terminating proxy",
                        url.masked()
                    )));
                }
            }
        }
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
        let conn = Conn::new(opts).map_err(|e| {
            let inner = err(e);
            BackendError::msg(format!("cannot connect to {}: {inner}", url.masked()))
        })?;
        Ok(MysqlBackend {
            conn: Connection::Owned(Box::new(conn)),
            in_transaction: false,
            locked: None,
            lock_timeout: None,
        })
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

impl Backend for MysqlBackend<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn lock(&mut self, tables: &Tables) -> Result<(), BackendError> {
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
            if let Some(limit) = self.lock_timeout {
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
        rolled_back
    }

    fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    fn begin(&mut self) -> Result<(), BackendError> {
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
