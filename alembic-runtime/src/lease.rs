//! The lease lock (`LockMode::Lease`), for PostgreSQL and MySQL reached through a
//! transaction-pooling proxy such as PgBouncer, where a session lock (advisory lock,
//! `GET_LOCK`) is taken on one server connection and the next statement may run on another.
//!
//! The lock is one row in `<version_table>_lock` next to the version table: who holds it (host,
//! pid, tool, a token unique to the run), when it was taken, its last heartbeat and when it
//! expires. Every change is one atomic statement, so it needs no session state:
//! - take: insert the row where there is none (`ON CONFLICT DO NOTHING` / `INSERT IGNORE`), or
//!   overwrite it where it expired (`UPDATE ... WHERE expires_at < now`): a crashed holder's
//!   lease is taken over once it expires;
//! - renew: `UPDATE ... WHERE token = ours`, from a heartbeat thread on a connection of its own,
//!   every third of the lease's duration;
//! - release: `DELETE ... WHERE token = ours`.
//!
//! Times are the server's clock (UTC), never the clients', so hosts with skewed clocks agree on
//! when a lease expired.
//!
//! Why a heartbeat thread rather than renewing between revisions: a single revision (an index
//! build, a backfill) can outlast any lease duration one would choose, and a lease that expires
//! mid-revision lets a second process take over and run the same revision concurrently. The
//! thread renews whatever the main connection is doing, at the cost of a second connection
//! during the run (through PgBouncer, a server connection only for each renewal's instant).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alembic_core::url::Dialect;

use crate::backend::{Backend, BackendError, LockSettings, SqlValue};
use crate::dialect::{placeholder, quote_ident, Tables};

/// Opens a second connection to the same database, for the heartbeat.
pub(crate) type Connector =
    Arc<dyn Fn() -> Result<Box<dyn Backend + Send>, BackendError> + Send + Sync>;

/// The one row's key: a lock table belongs to one version table.
const ROW_ID: i64 = 1;

/// A lease held by this process, until [`Lease::release`].
pub(crate) struct Lease {
    sql: LeaseSql,
    token: String,
    /// The heartbeat thread; `None` over a borrowed client that cannot open a second
    /// connection, where the backend renews the lease itself between transactions
    /// ([`Lease::renew_if_due`]).
    heartbeat: Option<Heartbeat>,
    duration: Duration,
    last_renewed: Instant,
}

struct Heartbeat {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
    /// Set by the thread when a renewal found the row no longer ours.
    lost: Arc<AtomicBool>,
}

/// The lease statements of one lock table in one dialect.
#[derive(Clone)]
struct LeaseSql {
    dialect: Dialect,
    /// The lock table, quoted and schema-qualified, for statements.
    table: String,
    /// The lock table as people write it, for messages.
    name: String,
}

impl LeaseSql {
    fn new(tables: &Tables) -> LeaseSql {
        let dialect = tables.dialect;
        let bare = lock_table_name(&tables.version);
        let (table, name) = match &tables.schema {
            Some(schema) => (
                format!(
                    "{}.{}",
                    quote_ident(dialect, schema),
                    quote_ident(dialect, &bare)
                ),
                format!("{schema}.{bare}"),
            ),
            None => (quote_ident(dialect, &bare), bare),
        };
        LeaseSql {
            dialect,
            table,
            name,
        }
    }

    fn p(&self, n: usize) -> String {
        placeholder(self.dialect, n)
    }

    /// The server's current time in UTC, as a timestamp without zone.
    fn now(&self) -> &'static str {
        match self.dialect {
            // clock_timestamp: the time of the statement even inside a transaction.
            Dialect::Postgres => "(clock_timestamp() AT TIME ZONE 'UTC')",
            _ => "UTC_TIMESTAMP(6)",
        }
    }

    /// `now + parameter n` microseconds.
    fn now_plus(&self, n: usize) -> String {
        match self.dialect {
            Dialect::Postgres => format!(
                "({} + {}::bigint * interval '1 microsecond')",
                self.now(),
                self.p(n)
            ),
            _ => format!(
                "DATE_ADD({}, INTERVAL {} MICROSECOND)",
                self.now(),
                self.p(n)
            ),
        }
    }

    fn create_table(&self) -> String {
        let ts = match self.dialect {
            Dialect::Postgres => "TIMESTAMP",
            _ => "DATETIME(6)",
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n\
             \x20   id BIGINT NOT NULL PRIMARY KEY,\n\
             \x20   token VARCHAR(255) NOT NULL,\n\
             \x20   host VARCHAR(255) NOT NULL,\n\
             \x20   pid BIGINT NOT NULL,\n\
             \x20   tool VARCHAR(255) NOT NULL,\n\
             \x20   acquired_at {ts} NOT NULL,\n\
             \x20   heartbeat_at {ts} NOT NULL,\n\
             \x20   expires_at {ts} NOT NULL\n\
             )",
            self.table
        )
    }

    /// Parameters: id, token, host, pid, tool, lease duration (µs).
    fn insert_if_absent(&self) -> String {
        let (verb, tail) = match self.dialect {
            Dialect::Postgres => ("INSERT INTO", " ON CONFLICT (id) DO NOTHING"),
            // IGNORE turns only the duplicate key into a warning here: every value is bound
            // and fits its column.
            _ => ("INSERT IGNORE INTO", ""),
        };
        format!(
            "{verb} {} (id, token, host, pid, tool, acquired_at, heartbeat_at, expires_at) \
             VALUES ({}, {}, {}, {}, {}, {now}, {now}, {}){tail}",
            self.table,
            self.p(1),
            self.p(2),
            self.p(3),
            self.p(4),
            self.p(5),
            self.now_plus(6),
            now = self.now(),
        )
    }

    /// Parameters: token, host, pid, tool, lease duration (µs), id.
    fn take_over_expired(&self) -> String {
        format!(
            "UPDATE {} SET token = {}, host = {}, pid = {}, tool = {}, acquired_at = {now}, \
             heartbeat_at = {now}, expires_at = {} WHERE id = {} AND expires_at < {now}",
            self.table,
            self.p(1),
            self.p(2),
            self.p(3),
            self.p(4),
            self.now_plus(5),
            self.p(6),
            now = self.now(),
        )
    }

    /// Parameters: lease duration (µs), id, token.
    fn renew(&self) -> String {
        format!(
            "UPDATE {} SET heartbeat_at = {now}, expires_at = {} WHERE id = {} AND token = {}",
            self.table,
            self.now_plus(1),
            self.p(2),
            self.p(3),
            now = self.now(),
        )
    }

    /// Parameters: id, token.
    fn delete(&self) -> String {
        format!(
            "DELETE FROM {} WHERE id = {} AND token = {}",
            self.table,
            self.p(1),
            self.p(2)
        )
    }

    /// The holder, as one tab-separated text: host, pid, tool, taken at, seconds since,
    /// last heartbeat, seconds since, expires at, seconds until. Parameter: id.
    fn describe(&self) -> String {
        match self.dialect {
            Dialect::Postgres => format!(
                "SELECT concat_ws(chr(9), host, pid::text, tool, \
                   to_char(acquired_at, 'YYYY-MM-DD HH24:MI:SS'), \
                   floor(extract(epoch FROM {now} - acquired_at))::bigint::text, \
                   to_char(heartbeat_at, 'YYYY-MM-DD HH24:MI:SS'), \
                   floor(extract(epoch FROM {now} - heartbeat_at))::bigint::text, \
                   to_char(expires_at, 'YYYY-MM-DD HH24:MI:SS'), \
                   ceil(extract(epoch FROM expires_at - {now}))::bigint::text) \
                 FROM {} WHERE id = {}",
                self.table,
                self.p(1),
                now = self.now(),
            ),
            _ => format!(
                "SELECT CONCAT_WS(CHAR(9 USING utf8mb4), host, pid, tool, \
                   DATE_FORMAT(acquired_at, '%Y-%m-%d %H:%i:%s'), \
                   TIMESTAMPDIFF(SECOND, acquired_at, {now}), \
                   DATE_FORMAT(heartbeat_at, '%Y-%m-%d %H:%i:%s'), \
                   TIMESTAMPDIFF(SECOND, heartbeat_at, {now}), \
                   DATE_FORMAT(expires_at, '%Y-%m-%d %H:%i:%s'), \
                   TIMESTAMPDIFF(SECOND, {now}, expires_at)) \
                 FROM {} WHERE id = {}",
                self.table,
                self.p(1),
                now = self.now(),
            ),
        }
    }
}

/// The lock table of a version table: `<version_table>_lock`.
pub fn lock_table_name(version_table: &str) -> String {
    format!("{version_table}_lock")
}

/// The host this process runs on, for the lease row: what an operator needs to find the
/// holder.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// A token no other run shares: host, pid, time and a counter (two runs of one process).
fn new_token(host: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut token = format!("{host}:{}:{nanos}:{n}", std::process::id());
    token.truncate(255);
    token
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Who holds the lease, in words, for messages; never fails (a lookup error is said in the
/// text).
fn describe_holder(backend: &mut dyn Backend, sql: &LeaseSql) -> String {
    let rows = match backend.query_strings(&sql.describe(), &[SqlValue::Int(ROW_ID)]) {
        Ok(rows) => rows,
        Err(e) => return format!("another process (cannot tell which: {e})"),
    };
    let Some(row) = rows.first() else {
        return "another process (it released the lease as we looked)".to_string();
    };
    let f: Vec<&str> = row.split('\t').collect();
    if f.len() != 9 {
        return format!("another process ({row})");
    }
    let expiry = match f[8].parse::<i64>() {
        Ok(s) if s >= 0 => format!("expires at {} UTC (in {s} s)", f[7]),
        Ok(s) => format!("expired at {} UTC ({} s ago)", f[7], -s),
        Err(_) => format!("expires at {} UTC", f[7]),
    };
    format!(
        "{} (pid {} on host {}), holding the lease since {} UTC ({} s ago), last heartbeat at \
         {} UTC ({} s ago), {expiry}",
        f[2], f[1], f[0], f[3], f[4], f[5], f[6]
    )
}

/// Creates the lock table where missing. Two runs may create it at once: PostgreSQL can fail
/// one `CREATE TABLE IF NOT EXISTS` of a pair on its catalog's unique index, so an error is
/// only one when the table still does not exist.
fn ensure_table(
    backend: &mut dyn Backend,
    tables: &Tables,
    sql: &LeaseSql,
) -> Result<(), BackendError> {
    let bare = lock_table_name(&tables.version);
    if backend.table_exists(tables, &bare)? {
        return Ok(());
    }
    match backend.execute_batch(&sql.create_table()) {
        Ok(()) => Ok(()),
        Err(e) if backend.table_exists(tables, &bare).unwrap_or(false) => {
            log::debug!("another run created {} first ({e})", sql.name);
            Ok(())
        }
        Err(e) => Err(BackendError::msg(format!(
            "cannot create the lease lock table {}: {e}",
            sql.name
        ))),
    }
}

/// Takes the lease of `tables`' version table, waiting for a live holder up to
/// `settings.timeout`, then starts its heartbeat on a connection from `connect`. Without one
/// (a borrowed client), the backend renews the lease between transactions instead, which a
/// single transaction longer than the lease's duration outlasts: that is logged.
pub(crate) fn acquire(
    backend: &mut dyn Backend,
    tables: &Tables,
    settings: &LockSettings,
    connect: Option<&Connector>,
) -> Result<Lease, BackendError> {
    if backend.in_transaction() {
        return Err(BackendError::msg(
            "the connection is inside a transaction: commit or roll it back before migrating",
        ));
    }
    let sql = LeaseSql::new(tables);
    ensure_table(backend, tables, &sql)?;
    // The heartbeat's connection first: failing to open it must not leave a lease behind.
    let heartbeat_conn = match connect {
        Some(connect) => Some(connect().map_err(|e| {
            BackendError::msg(format!("cannot open the lease heartbeat's connection: {e}"))
        })?),
        None => None,
    };
    let duration = settings.lease_duration.max(Duration::from_millis(300));
    let host = host_name();
    let token = new_token(&host);
    let pid = i64::from(std::process::id());
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let inserted = backend.execute(
            &sql.insert_if_absent(),
            &[
                SqlValue::Int(ROW_ID),
                SqlValue::Text(token.clone()),
                SqlValue::Text(host.clone()),
                SqlValue::Int(pid),
                SqlValue::Text(settings.tool.clone()),
                SqlValue::Int(micros(duration)),
            ],
        )?;
        if inserted == 1 {
            break;
        }
        let previous = describe_holder(backend, &sql);
        let taken = backend.execute(
            &sql.take_over_expired(),
            &[
                SqlValue::Text(token.clone()),
                SqlValue::Text(host.clone()),
                SqlValue::Int(pid),
                SqlValue::Text(settings.tool.clone()),
                SqlValue::Int(micros(duration)),
                SqlValue::Int(ROW_ID),
            ],
        )?;
        if taken == 1 {
            log::warn!(
                "took over the expired migration lease of {}: it was held by {previous}; that \
                 run ended without releasing it (crashed?), so a revision it was running may \
                 be half-applied",
                sql.name
            );
            break;
        }
        if let Some(limit) = settings.timeout {
            if started.elapsed() >= limit {
                return Err(BackendError::msg(format!(
                    "the migration lease of {} is held by {}; gave up after waiting {} s (a \
                     crashed holder's lease is taken over once it expires)",
                    sql.name,
                    describe_holder(backend, &sql),
                    limit.as_secs_f64()
                )));
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(500));
    }
    let heartbeat = match heartbeat_conn {
        Some(conn) => Some(start_heartbeat(conn, sql.clone(), token.clone(), duration)),
        None => {
            log::warn!(
                "the migration lease of {} is renewed between transactions only (the backend \
                 borrows a client and has no URL for a heartbeat connection): a transaction \
                 longer than the lease's {} s lets another process take it over; give the URL \
                 with with_lease_url, or a lease_duration longer than the longest revision",
                sql.name,
                duration.as_secs_f64()
            );
            None
        }
    };
    Ok(Lease {
        sql,
        token,
        heartbeat,
        duration,
        last_renewed: Instant::now(),
    })
}

/// Renews the lease every third of its duration until told to stop. A failed renewal is
/// retried at the next beat (the lease survives two misses); a renewal that finds the row no
/// longer ours means another process took the lease over, which is logged and remembered.
fn start_heartbeat(
    mut conn: Box<dyn Backend + Send>,
    sql: LeaseSql,
    token: String,
    duration: Duration,
) -> Heartbeat {
    let (stop, stopped) = mpsc::channel::<()>();
    let lost = Arc::new(AtomicBool::new(false));
    let lost_flag = Arc::clone(&lost);
    let interval = duration / 3;
    let thread = std::thread::spawn(move || loop {
        match stopped.recv_timeout(interval) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Told to stop, or the lease was dropped.
            _ => return,
        }
        let renewed = conn.execute(
            &sql.renew(),
            &[
                SqlValue::Int(micros(duration)),
                SqlValue::Int(ROW_ID),
                SqlValue::Text(token.clone()),
            ],
        );
        match renewed {
            Ok(1) => log::trace!("renewed the migration lease of {}", sql.name),
            Ok(_) => {
                let holder = describe_holder(conn.as_mut(), &sql);
                log::error!(
                    "the migration lease of {} is no longer this run's: it is held by {holder}; \
                     the lease expired (missed heartbeats) and was taken over",
                    sql.name
                );
                lost_flag.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => log::warn!(
                "renewing the migration lease of {} failed (retrying in {} ms): {e}",
                sql.name,
                interval.as_millis()
            ),
        }
    });
    Heartbeat { stop, thread, lost }
}

impl Lease {
    /// Between transactions: fails when the lease was lost (another process took it over, so
    /// the run must not go on), and renews it from the run's own connection when there is no
    /// heartbeat thread and a third of its duration has passed.
    pub(crate) fn renew_if_due(&mut self, backend: &mut dyn Backend) -> Result<(), BackendError> {
        if let Some(heartbeat) = &self.heartbeat {
            if heartbeat.lost.load(Ordering::SeqCst) {
                return Err(self.lost_error(backend));
            }
            return Ok(());
        }
        if self.last_renewed.elapsed() < self.duration / 3 {
            return Ok(());
        }
        let renewed = backend.execute(
            &self.sql.renew(),
            &[
                SqlValue::Int(micros(self.duration)),
                SqlValue::Int(ROW_ID),
                SqlValue::Text(self.token.clone()),
            ],
        )?;
        if renewed != 1 {
            return Err(self.lost_error(backend));
        }
        self.last_renewed = Instant::now();
        Ok(())
    }

    fn lost_error(&self, backend: &mut dyn Backend) -> BackendError {
        let holder = describe_holder(backend, &self.sql);
        BackendError::msg(format!(
            "the migration lease of {} was lost during the run (it expired without renewal) \
             and is now held by {holder}: another process may be migrating at the same time; \
             check the version table and history",
            self.sql.name
        ))
    }

    /// Stops the heartbeat and deletes the lease row, if it is still ours.
    pub(crate) fn release(mut self, backend: &mut dyn Backend) -> Result<(), BackendError> {
        let mut lost = false;
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.stop.send(());
            if heartbeat.thread.join().is_err() {
                log::warn!("the lease heartbeat thread panicked");
            }
            lost = heartbeat.lost.load(Ordering::SeqCst);
        }
        let deleted = backend.execute(
            &self.sql.delete(),
            &[SqlValue::Int(ROW_ID), SqlValue::Text(self.token.clone())],
        )?;
        if lost || deleted != 1 {
            return Err(self.lost_error(backend));
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Released without `release` (a panic): stop the heartbeat so that the row expires.
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.stop.send(());
        }
    }
}
