//! One database of any of the three kinds the CLI supports, for tests that run the same scenario
//! on SQLite, PostgreSQL and MariaDB/MySQL: a SQLite file read with rusqlite, or a throw-away
//! server database ([`ServerDb`], created and dropped with the server's own client) read with
//! `psql` / `mysql`. The queries here are the ones every dialect answers the same way, so a
//! test asserts once and runs three times.
//!
//! Needs `mod server_db` (tests/support/server_db.rs) at the crate root beside it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::server_db::ServerDb;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    /// The dialect a generated test is named after (`sqlite`, `postgres`, `mysql`).
    pub fn named(name: &str) -> Dialect {
        match name {
            "sqlite" => Dialect::Sqlite,
            "postgres" => Dialect::Postgres,
            "mysql" => Dialect::Mysql,
            other => panic!("no dialect is called {other}"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    pub fn is_server(self) -> bool {
        self != Dialect::Sqlite
    }
}

/// A database under test. Server databases are dropped when this is dropped.
pub enum TestDb {
    Sqlite(PathBuf),
    Server(Dialect, ServerDb),
}

/// Tells databases created in the same process (tests run on several threads) apart even when
/// two are created within the same clock tick.
static SERIAL: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    /// The SQLite file `path` (not created here), or a new empty database on the server of
    /// `dialect`; `None` after a loud SKIPPED notice when the server's URL is not set (a failure
    /// instead under ALEMBIC_TEST_REQUIRE_ALL=1, see [`ServerDb::create`]).
    pub fn create(
        dialect: Dialect,
        sqlite_path: &Path,
        prefix: &str,
        what: &str,
    ) -> Option<TestDb> {
        let prefix = format!("{prefix}{}", SERIAL.fetch_add(1, Ordering::Relaxed));
        match dialect {
            Dialect::Sqlite => Some(TestDb::Sqlite(sqlite_path.to_path_buf())),
            Dialect::Postgres => {
                ServerDb::create("ALEMBIC_TEST_POSTGRES_URL", "psql", &prefix, what)
                    .map(|db| TestDb::Server(dialect, db))
            }
            Dialect::Mysql => ServerDb::create("ALEMBIC_TEST_MYSQL_URL", "mysql", &prefix, what)
                .map(|db| TestDb::Server(dialect, db)),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            TestDb::Sqlite(_) => Dialect::Sqlite,
            TestDb::Server(d, _) => *d,
        }
    }

    /// The URL the CLI is given: `sqlite:///<absolute path>` or the server database's URL.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(path) => format!("sqlite:///{}", path.display()),
            TestDb::Server(_, db) => db.url.clone(),
        }
    }

    /// The database's name on its server, the schema `information_schema` files it under on
    /// MySQL (`public` on PostgreSQL).
    fn schema(&self) -> String {
        match self {
            TestDb::Server(Dialect::Mysql, db) => db.name.clone(),
            _ => "public".to_string(),
        }
    }

    /// Runs one query and returns its rows, columns separated by tabs. SQLite values are
    /// rendered as text (NULL as the empty string), as the servers' clients do.
    pub fn query(&self, sql: &str) -> Vec<String> {
        match self {
            TestDb::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open sqlite db");
                let mut st = conn.prepare(sql).unwrap_or_else(|e| panic!("`{sql}`: {e}"));
                let n = st.column_count();
                st.query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                                rusqlite::types::Value::Text(t) => t,
                                rusqlite::types::Value::Integer(v) => v.to_string(),
                                rusqlite::types::Value::Real(v) => v.to_string(),
                                rusqlite::types::Value::Blob(b) => {
                                    String::from_utf8_lossy(&b).into_owned()
                                }
                                rusqlite::types::Value::Null => String::new(),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<String>>>()
                        .map(|cols| cols.join("\t"))
                })
                .unwrap_or_else(|e| panic!("`{sql}`: {e}"))
                .collect::<rusqlite::Result<Vec<String>>>()
                .unwrap_or_else(|e| panic!("`{sql}`: {e}"))
            }
            TestDb::Server(..) => self
                .try_query(sql)
                .unwrap_or_else(|e| panic!("`{sql}` failed: {e}")),
        }
    }

    /// Several queries on a server database in one client process (each client process costs
    /// tens of milliseconds), going on past a query the server refuses: all the rows, in order,
    /// and what the client printed on stderr (the refusals).
    pub fn query_each(&self, queries: &[&str]) -> (Vec<String>, String) {
        let TestDb::Server(dialect, db) = self else {
            panic!("query_each is for server databases")
        };
        let out = if *dialect == Dialect::Postgres {
            let mut args = vec![db.url.as_str(), "-X", "-A", "-t", "-F", "\t"];
            for q in queries {
                args.extend(["-c", q]);
            }
            Command::new("psql").args(args).output()
        } else {
            let (user, host, port) = mysql_parts(&db.url);
            let joined = queries.join(";\n");
            Command::new("mysql")
                .args([
                    "-h", &host, "-P", &port, "-u", &user, "--force", "-N", "-B", &db.name, "-e",
                    &joined,
                ])
                .output()
        }
        .unwrap_or_else(|e| panic!("{}: {e}", db.client));
        let rows = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        (
            rows,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    }

    /// A query on a server database; Err with the client's message when the server refuses
    /// it. Columns are separated by tabs on both servers (psql's unaligned output would use `|`).
    fn try_query(&self, sql: &str) -> Result<Vec<String>, String> {
        let TestDb::Server(dialect, db) = self else {
            panic!("try_query is for server databases")
        };
        let out = if *dialect == Dialect::Postgres {
            Command::new("psql")
                .args([
                    db.url.as_str(),
                    "-X",
                    "-A",
                    "-t",
                    "-F",
                    "\t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    sql,
                ])
                .output()
        } else {
            let (user, host, port) = mysql_parts(&db.url);
            Command::new("mysql")
                .args([
                    "-h", &host, "-P", &port, "-u", &user, "-N", "-B", &db.name, "-e", sql,
                ])
                .output()
        }
        .unwrap_or_else(|e| panic!("{}: {e}", db.client));
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Runs statements (several, separated by `;`) for their effect.
    pub fn exec(&self, sql: &str) {
        match self {
            TestDb::Sqlite(path) => rusqlite::Connection::open(path)
                .expect("open sqlite db")
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("`{sql}`: {e}")),
            TestDb::Server(_, db) => {
                db.sql(&db.url, sql);
            }
        }
    }

    /// Runs a whole SQL script (an offline `--sql` script) the way a DBA would: `psql -f -`,
    /// `mysql < script`, or one SQLite batch. Err carries the client's message.
    pub fn apply_script(&self, script: &str) -> Result<(), String> {
        match self {
            TestDb::Sqlite(path) => rusqlite::Connection::open(path)
                .and_then(|c| c.execute_batch(script))
                .map_err(|e| e.to_string()),
            TestDb::Server(dialect, db) => {
                let mut cmd = if *dialect == Dialect::Postgres {
                    let mut c = Command::new("psql");
                    c.args([
                        db.url.as_str(),
                        "-X",
                        "-q",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-f",
                        "-",
                    ]);
                    c
                } else {
                    let (user, host, port) = mysql_parts(&db.url);
                    let mut c = Command::new("mysql");
                    c.args(["-h", &host, "-P", &port, "-u", &user, &db.name]);
                    c
                };
                let mut child = cmd
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("{}: {e}", db.client))?;
                let mut stdin = child.stdin.take().expect("piped stdin");
                let text = script.to_string();
                let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                let _ = writer.join();
                if out.status.success() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
                }
            }
        }
    }

    /// Drops everything in the database, leaving it as [`TestDb::create`] made it (a SQLite
    /// file is deleted). Cheaper than a new database for suites that run many scenarios.
    pub fn empty(&self) {
        match self {
            TestDb::Sqlite(path) => {
                let _ = std::fs::remove_file(path);
            }
            TestDb::Server(Dialect::Postgres, db) => {
                db.sql(&db.url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
            }
            TestDb::Server(_, db) => {
                db.sql(
                    &db.admin_url,
                    &format!("DROP DATABASE {0}; CREATE DATABASE {0}", db.name),
                );
            }
        }
    }

    /// The URL SQLAlchemy is given for this database, with the driver tests/requirements.txt
    /// pins (psycopg2, PyMySQL).
    pub fn sqlalchemy_url(&self) -> String {
        let url = self.url();
        if let Some(rest) = url.strip_prefix("postgresql://") {
            format!("postgresql+psycopg2://{rest}")
        } else if let Some(rest) = url.strip_prefix("mysql://") {
            format!("mysql+pymysql://{rest}")
        } else {
            url
        }
    }

    /// Empties a server database, runs `setup` and then `script`, all in one client process:
    /// [`TestDb::empty`], [`TestDb::exec`] and [`TestDb::apply_script`] in one round trip.
    pub fn apply_script_on_empty(&self, setup: &str, script: &str) -> Result<(), String> {
        let reset = match self {
            TestDb::Sqlite(_) => panic!("apply_script_on_empty is for server databases"),
            TestDb::Server(Dialect::Postgres, _) => {
                "DROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\n".to_string()
            }
            TestDb::Server(_, db) => format!(
                "DROP DATABASE {0};\nCREATE DATABASE {0};\nUSE {0};\n",
                db.name
            ),
        };
        self.apply_script(&format!("{reset}{setup}\n{script}"))
    }

    /// Names of the tables in the database, sorted (none for a SQLite file that does not exist).
    pub fn tables(&self) -> Vec<String> {
        let mut t = match self {
            TestDb::Sqlite(path) if !path.exists() => Vec::new(),
            TestDb::Sqlite(_) => self.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            ),
            TestDb::Server(..) => self.query(&format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}'",
                self.schema()
            )),
        };
        t.sort();
        t
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.tables().iter().any(|t| t == table)
    }

    /// Whether `table` has an index named `index`.
    pub fn has_index(&self, table: &str, index: &str) -> bool {
        let q = match self {
            TestDb::Sqlite(path) if !path.exists() => return false,
            TestDb::Sqlite(_) => format!(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' \
                 AND name = '{index}'"
            ),
            TestDb::Server(Dialect::Postgres, _) => format!(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' \
                 AND tablename = '{table}' AND indexname = '{index}'"
            ),
            TestDb::Server(..) => format!(
                "SELECT count(DISTINCT index_name) FROM information_schema.statistics \
                 WHERE table_schema = '{}' AND table_name = '{table}' AND index_name = '{index}'",
                self.schema()
            ),
        };
        self.query(&q).first().map(String::as_str) == Some("1")
    }

    /// The rows of `version_table` (default `alembic_version`), sorted; None when the table
    /// (or the SQLite file) does not exist.
    pub fn rows_of(&self, version_table: &str) -> Option<Vec<String>> {
        let select = format!("SELECT version_num FROM {version_table}");
        let mut rows = match self {
            TestDb::Sqlite(_) if !self.has_table(version_table) => return None,
            TestDb::Sqlite(_) => self.query(&select),
            // One round trip, not two: the suites read the version rows after nearly every
            // command, and a client process costs tens of milliseconds.
            TestDb::Server(..) => match self.try_query(&select) {
                Ok(rows) => rows,
                Err(e) if e.contains("does not exist") || e.contains("doesn't exist") => {
                    return None
                }
                Err(e) => panic!("`{select}` failed: {e}"),
            },
        };
        rows.sort();
        Some(rows)
    }

    pub fn version_rows(&self) -> Option<Vec<String>> {
        self.rows_of("alembic_version")
    }

    /// The version rows, an absent table counting as none.
    pub fn heads(&self) -> Vec<String> {
        self.version_rows().unwrap_or_default()
    }

    /// Makes the database look like one Python Alembic 1.20 left behind: the version table as
    /// SQLAlchemy creates it on this dialect, holding `heads`.
    pub fn make_python_alembic_db(&self, heads: &[&str]) {
        let ddl = match self.dialect() {
            // Byte for byte what SQLAlchemy emits on SQLite (the CLI keeps it as it is).
            Dialect::Sqlite => {
                "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\t\
                 CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)"
            }
            _ => {
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, \
                  CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            }
        };
        self.exec(ddl);
        for h in heads {
            self.exec(&format!(
                "INSERT INTO alembic_version (version_num) VALUES ('{h}')"
            ));
        }
    }

    /// The columns of `table` as `name type nullable` lines in column order, a dialect-neutral
    /// stand-in for its DDL (SQLite: the stored `CREATE TABLE` text itself).
    pub fn describe(&self, table: &str) -> Vec<String> {
        match self {
            TestDb::Sqlite(_) => self.query(&format!(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            )),
            TestDb::Server(..) => self.query(&format!(
                "SELECT column_name, data_type, character_maximum_length, is_nullable \
                 FROM information_schema.columns WHERE table_schema = '{}' \
                 AND table_name = '{table}' ORDER BY ordinal_position",
                self.schema()
            )),
        }
    }

    /// The name of `table`'s primary key constraint and its columns, as `name\tcolumn` rows.
    pub fn primary_key(&self, table: &str) -> Vec<String> {
        match self {
            TestDb::Sqlite(_) => panic!("SQLite keeps the constraint in the DDL: use describe"),
            TestDb::Server(..) => self.query(&format!(
                "SELECT tc.constraint_name, kcu.column_name \
                 FROM information_schema.table_constraints tc \
                 JOIN information_schema.key_column_usage kcu \
                   ON kcu.constraint_name = tc.constraint_name \
                  AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name \
                 WHERE tc.table_schema = '{}' AND tc.table_name = '{table}' \
                   AND tc.constraint_type = 'PRIMARY KEY'",
                self.schema()
            )),
        }
    }
}

/// (user, host, port) of a `mysql://user@host:port/db` URL, as `ServerDb::sql` splits it.
fn mysql_parts(url: &str) -> (String, String, String) {
    let rest = url.trim_start_matches("mysql://");
    let (user, rest) = rest.split_once('@').unwrap_or(("root", rest));
    let (hostport, _) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    (user.to_string(), host.to_string(), port.to_string())
}
