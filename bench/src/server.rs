//! Issue 3: the same 1,000 revisions applied to a fresh PostgreSQL (or MySQL/MariaDB) database,
//! and the startup check (a fresh connection bringing an up-to-date database "to head", a
//! no-op), by every tool on the same server in one run: the cargo-alembic CLI, the runtime's
//! `Migrator` in-process, refinery, Python Alembic, and the floor (the same SQL sent directly).
//!
//! Every tool gets a database of its own, named `alembic_bench_<pid>_<tool>`, dropped and
//! recreated before each measured apply (not timed) and dropped at the end.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use alembic_core::config::Config;
use alembic_core::source::ScriptDirectory;
use alembic_runtime::mysql_client::prelude::Queryable;
use alembic_runtime::postgres_client::{Client as PgClient, NoTls};
use alembic_runtime::{mysql_client, Backend, Migrator, MysqlBackend, PostgresBackend, RunOptions};
use refinery::{Migration, Runner};

use crate::generate::{History, Workload};
use crate::measure::{in_process, repeat, run_timed};
use crate::report::{Bench, Row};
use crate::{dir_of, ours_args, BenchError, Tools};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Mysql,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Postgres => "PostgreSQL",
            Kind::Mysql => "MariaDB",
        }
    }

    /// The Python driver SQLAlchemy uses for it.
    fn python_driver(self) -> &'static str {
        match self {
            Kind::Postgres => "psycopg2",
            Kind::Mysql => "PyMySQL",
        }
    }

    pub fn file_tag(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }
}

fn fail(what: impl Display) -> impl FnOnce(String) -> BenchError {
    move |why| BenchError::Peer(format!("{what}: {why}"))
}

/// A connection of either kind, opened the same way for every in-process tool.
enum Conn {
    Pg(Box<PgClient>),
    My(Box<mysql_client::Conn>),
}

impl Conn {
    fn open(kind: Kind, url: &str) -> Result<Conn, BenchError> {
        match kind {
            Kind::Postgres => PgClient::connect(url, NoTls)
                .map(|c| Conn::Pg(Box::new(c)))
                .map_err(|e| fail(format!("connect to {url}"))(e.to_string())),
            Kind::Mysql => mysql_client::Opts::from_url(url)
                .map_err(|e| e.to_string())
                .and_then(|opts| mysql_client::Conn::new(opts).map_err(|e| e.to_string()))
                .map(|c| Conn::My(Box::new(c)))
                .map_err(fail(format!("connect to {url}"))),
        }
    }

    /// Runs statements (several, separated by `;`, are allowed), discarding any rows.
    fn batch(&mut self, sql: &str) -> Result<(), BenchError> {
        match self {
            Conn::Pg(c) => c.batch_execute(sql).map_err(|e| e.to_string()),
            Conn::My(c) => c.query_drop(sql).map_err(|e| e.to_string()),
        }
        .map_err(fail(format!("`{}`", sql.lines().next().unwrap_or(""))))
    }

    /// The first column of the first row, as text; `None` when there is no row.
    fn text(&mut self, sql: &str) -> Result<Option<String>, BenchError> {
        match self {
            Conn::Pg(c) => c
                .query_opt(sql, &[])
                .map(|row| row.map(|r| r.get::<_, String>(0)))
                .map_err(|e| e.to_string()),
            Conn::My(c) => c.query_first::<String, _>(sql).map_err(|e| e.to_string()),
        }
        .map_err(fail(format!("`{sql}`")))
    }

    fn count(&mut self, sql: &str) -> Result<i64, BenchError> {
        match self {
            Conn::Pg(c) => c
                .query_one(sql, &[])
                .map(|r| r.get::<_, i64>(0))
                .map_err(|e| e.to_string()),
            Conn::My(c) => c
                .query_first::<i64, _>(sql)
                .map(Option::unwrap_or_default)
                .map_err(|e| e.to_string()),
        }
        .map_err(fail(format!("`{sql}`")))
    }

    fn backend(&mut self) -> Box<dyn Backend + '_> {
        match self {
            Conn::Pg(c) => Box::new(PostgresBackend::new(c)),
            Conn::My(c) => Box::new(MysqlBackend::new(c)),
        }
    }

    /// refinery's runner over the same connection type its users hand it.
    fn refinery(&mut self, migrations: &[Migration], grouped: bool) -> Result<usize, BenchError> {
        let runner = Runner::new(migrations).set_grouped(grouped);
        let report = match self {
            Conn::Pg(c) => runner.run(c.as_mut()),
            Conn::My(c) => runner.run(c.as_mut()),
        }
        .map_err(|e| BenchError::Peer(format!("refinery run: {e}")))?;
        Ok(report.applied_migrations().len())
    }
}

/// One database of the run: the server's admin URL it is created through, and its own URL.
pub(crate) struct Db {
    kind: Kind,
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

impl Db {
    pub(crate) fn new(kind: Kind, admin_url: &str, tool: &str) -> Result<Db, BenchError> {
        let (base, _) = admin_url.rsplit_once('/').ok_or_else(|| {
            BenchError::Setup(format!("{admin_url}: the server URL must end in /DATABASE"))
        })?;
        let name = format!("alembic_bench_{}_{tool}", std::process::id());
        Ok(Db {
            kind,
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    fn drop_sql(&self) -> String {
        match self.kind {
            Kind::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Kind::Mysql => format!("DROP DATABASE IF EXISTS {}", self.name),
        }
    }

    /// Drops and creates the database: a fresh one for the next measured run.
    pub(crate) fn reset(&self) -> Result<(), BenchError> {
        let mut admin = Conn::open(self.kind, &self.admin_url)?;
        admin.batch(&self.drop_sql())?;
        admin.batch(&format!("CREATE DATABASE {}", self.name))
    }

    /// The URL SQLAlchemy wants: the driver named in the scheme.
    fn sqlalchemy_url(&self) -> String {
        match self.kind {
            Kind::Postgres => {
                let rest = self
                    .url
                    .split_once("://")
                    .map_or(self.url.as_str(), |(_, r)| r);
                format!("postgresql+psycopg2://{rest}")
            }
            Kind::Mysql => self.url.replacen("mysql://", "mysql+pymysql://", 1),
        }
    }

    /// Checks a migrated database: every table the history creates and, when
    /// `version_table`, the head in `alembic_version`.
    fn check(&self, tool: &str, history: &History, version_table: bool) -> Result<(), BenchError> {
        let wrong = |why: String| BenchError::Check {
            tool: tool.into(),
            what: format!("upgrade of {} database {}", self.kind.label(), self.name),
            why,
        };
        let mut conn = Conn::open(self.kind, &self.url)?;
        let schema = match self.kind {
            Kind::Postgres => "current_schema()",
            Kind::Mysql => "DATABASE()",
        };
        let tables = conn.count(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = {schema} \
             AND table_name LIKE 't\\_%'"
        ))?;
        if tables as usize != history.tables_at_head() {
            return Err(wrong(format!(
                "{tables} tables, expected {}",
                history.tables_at_head()
            )));
        }
        if version_table {
            let version = conn.text("SELECT version_num FROM alembic_version")?;
            if version.as_deref() != history.head() {
                return Err(wrong(format!("alembic_version holds {version:?}")));
            }
        }
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Best effort: a database left behind must not hide the run's own error.
        if let Ok(mut admin) = Conn::open(self.kind, &self.admin_url) {
            let _ = admin.batch(&self.drop_sql());
        }
    }
}

/// The configuration files pointing each CLI at one database, next to the SQLite ones so
/// that they share the generated scripts.
fn write_configs(
    kind: Kind,
    w: &Workload,
    cli: &Db,
    py: &Db,
) -> Result<(PathBuf, PathBuf), BenchError> {
    let tag = kind.file_tag();
    let ours = dir_of(&w.ours_config).join(format!("alembic-{tag}.toml"));
    let text = format!(
        "[alembic]\nscript_location = \"migrations\"\nurl = \"{}\"\n",
        cli.url
    );
    write(&ours, &text)?;
    let ini = dir_of(&w.alembic_ini).join(format!("alembic-{tag}.ini"));
    let text = crate::generate::ALEMBIC_INI.replace(
        "sqlalchemy.url = sqlite:///%(here)s/bench.db",
        &format!("sqlalchemy.url = {}", py.sqlalchemy_url()),
    );
    write(&ini, &text)?;
    Ok((ours, ini))
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|source| BenchError::Io {
        path: path.to_owned(),
        source,
    })
}

/// What an app that migrates from its script directory does before it runs: read the
/// configuration and load (parse, checksum, map) every script.
fn load_scripts(config: &Path) -> Result<ScriptDirectory, BenchError> {
    let config = Config::load(config).map_err(|e| BenchError::Peer(e.to_string()))?;
    ScriptDirectory::load(&config.version_locations).map_err(|e| BenchError::Peer(e.to_string()))
}

fn api_upgrade(scripts: &ScriptDirectory, conn: &mut Conn) -> Result<usize, BenchError> {
    let report = Migrator::new(scripts, RunOptions::default())
        .upgrade(conn.backend().as_mut(), "head")
        .map_err(|e| BenchError::Peer(format!("runtime upgrade: {e}")))?;
    Ok(report.applied.len())
}

fn refinery_migrations(history: &History) -> Result<Vec<Migration>, BenchError> {
    history
        .revisions
        .iter()
        .enumerate()
        .map(|(i, rev)| {
            Migration::unapplied(&format!("V{}__r_{}", i + 1, rev.id), &rev.upgrade_sql)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BenchError::Peer(format!("refinery migration list: {e}")))
}

/// The figures of one server.
pub struct Section {
    pub benches: Vec<Bench>,
    pub notes: Vec<String>,
}

/// Options of the server runs.
pub struct Plan<'a> {
    pub kind: Kind,
    pub admin_url: &'a str,
    /// Runs of the fast tools' startup checks.
    pub reps: usize,
    /// Runs of the fast tools' applies.
    pub apply_reps: usize,
    /// Runs of Python Alembic and of refinery's transaction-per-migration mode.
    pub slow_reps: usize,
    pub alembic: bool,
}

/// Applies `history` (written as `w`) to a fresh database with every tool, then times the
/// startup check of each on the database it migrated.
pub fn run(
    plan: &Plan,
    tools: &Tools,
    w: &Workload,
    history: &History,
) -> Result<Section, BenchError> {
    let kind = plan.kind;
    let n = history.revisions.len();
    let cli = Db::new(kind, plan.admin_url, "cli")?;
    let api = Db::new(kind, plan.admin_url, "api")?;
    let floor = Db::new(kind, plan.admin_url, "floor")?;
    let refinery_db = Db::new(kind, plan.admin_url, "refinery")?;
    let py = Db::new(kind, plan.admin_url, "alembic")?;
    let (ours_config, ini) = write_configs(kind, w, &cli, &py)?;
    let ours_config_s = ours_config.to_string_lossy().into_owned();
    let ini_s = ini.to_string_lossy().into_owned();
    let all_sql = std::fs::read_to_string(&w.shell_sql).map_err(|source| BenchError::Io {
        path: w.shell_sql.clone(),
        source,
    })?;
    let mut notes = Vec::new();

    // Applying every revision to a fresh database.
    let label = format!(
        "`upgrade head`, {n} revisions, fresh {} database",
        kind.label()
    );
    eprintln!("measuring {label}...");
    let mut rows = Vec::new();
    let up_args = ours_args(tools, &ours_config_s, &["upgrade", "head"]);
    rows.push(Row {
        tool: "cargo-alembic CLI".into(),
        stats: repeat(plan.apply_reps, || {
            cli.reset()?;
            let (sample, _) = run_timed(&tools.ours, &up_args, dir_of(&ours_config), None)?;
            cli.check("cargo-alembic", history, true)?;
            Ok(sample)
        })?,
    });
    rows.push(Row {
        tool: "alembic-runtime `Migrator` (in-process: load scripts, connect, upgrade)".into(),
        stats: repeat(plan.apply_reps, || {
            api.reset()?;
            let (sample, applied) = in_process(|| {
                let scripts = load_scripts(&ours_config)?;
                let mut conn = Conn::open(kind, &api.url)?;
                api_upgrade(&scripts, &mut conn)
            })?;
            if applied != n {
                return Err(BenchError::Peer(format!(
                    "runtime applied {applied} of {n}"
                )));
            }
            api.check("alembic-runtime", history, true)?;
            Ok(sample)
        })?,
    });
    let floor_label = match kind {
        Kind::Postgres => {
            "same SQL sent directly in one transaction (in-process: connect, one batch)"
        }
        // DDL commits implicitly on MySQL/MariaDB: one batch, but no one transaction.
        Kind::Mysql => {
            "same SQL sent directly as one batch (in-process: connect, one batch; DDL autocommits)"
        }
    };
    rows.push(Row {
        tool: floor_label.into(),
        stats: repeat(plan.apply_reps, || {
            floor.reset()?;
            let (sample, ()) = in_process(|| {
                let mut conn = Conn::open(kind, &floor.url)?;
                conn.batch(&all_sql)
            })?;
            floor.check("direct SQL", history, false)?;
            Ok(sample)
        })?,
    });
    for (grouped, reps, what) in [
        (true, plan.apply_reps, "grouped: one transaction"),
        (false, plan.slow_reps, "default: transaction per migration"),
    ] {
        rows.push(Row {
            tool: format!("refinery 0.8 (in-process, {what})"),
            stats: repeat(reps, || {
                refinery_db.reset()?;
                let (sample, applied) = in_process(|| {
                    let migrations = refinery_migrations(history)?;
                    let mut conn = Conn::open(kind, &refinery_db.url)?;
                    conn.refinery(&migrations, grouped)
                })?;
                if applied != n {
                    return Err(BenchError::Peer(format!(
                        "refinery applied {applied} of {n}"
                    )));
                }
                refinery_db.check("refinery", history, false)?;
                Ok(sample)
            })?,
        });
    }
    let py_up = ["-m", "alembic", "-c", ini_s.as_str(), "upgrade", "head"];
    let python = tools.python.as_deref().filter(|_| plan.alembic);
    if let Some(python) = python {
        let stats = repeat(plan.slow_reps, || {
            py.reset()?;
            let (sample, _) = run_timed(python, &py_up, dir_of(&ini), None)?;
            py.check("Alembic", history, true)?;
            Ok(sample)
        });
        match stats {
            Ok(stats) => rows.push(Row {
                tool: format!("{} + {}", tools.alembic_label, kind.python_driver()),
                stats,
            }),
            Err(e) => notes.push(format!(
                "Alembic failed `upgrade head` on {}: {e}",
                kind.label()
            )),
        }
    }
    let apply = Bench { name: label, rows };

    // The startup check: each tool, from a fresh connection (or process), on the database it
    // brought to head above.
    let label = format!(
        "startup check: `upgrade head` on an up-to-date {} database, {n} revisions",
        kind.label()
    );
    eprintln!("measuring {label}...");
    let mut rows = Vec::new();
    rows.push(Row {
        tool: "cargo-alembic CLI".into(),
        stats: repeat(plan.reps, || {
            run_timed(&tools.ours, &up_args, dir_of(&ours_config), None).map(|(s, _)| s)
        })?,
    });
    rows.push(Row {
        tool: "alembic-runtime `Migrator` (in-process: load scripts, connect, upgrade)".into(),
        stats: repeat(plan.reps, || {
            let (sample, applied) = in_process(|| {
                let scripts = load_scripts(&ours_config)?;
                let mut conn = Conn::open(kind, &api.url)?;
                api_upgrade(&scripts, &mut conn)
            })?;
            expect_none("alembic-runtime", applied)?;
            Ok(sample)
        })?,
    });
    let scripts = load_scripts(&ours_config)?;
    rows.push(Row {
        tool: "alembic-runtime `Migrator` (in-process, scripts already loaded: connect, upgrade)"
            .into(),
        stats: repeat(plan.reps, || {
            let (sample, applied) = in_process(|| {
                let mut conn = Conn::open(kind, &api.url)?;
                api_upgrade(&scripts, &mut conn)
            })?;
            expect_none("alembic-runtime", applied)?;
            Ok(sample)
        })?,
    });
    rows.push(Row {
        tool: "floor: connect, `SELECT version_num FROM alembic_version` (in-process)".into(),
        stats: repeat(plan.reps, || {
            let (sample, version) = in_process(|| {
                let mut conn = Conn::open(kind, &api.url)?;
                conn.text("SELECT version_num FROM alembic_version")
            })?;
            if version.as_deref() != history.head() {
                return Err(BenchError::Peer(format!(
                    "alembic_version holds {version:?}"
                )));
            }
            Ok(sample)
        })?,
    });
    rows.push(Row {
        tool: "refinery 0.8 (in-process: migration list, connect, run)".into(),
        stats: repeat(plan.reps, || {
            let (sample, applied) = in_process(|| {
                let migrations = refinery_migrations(history)?;
                let mut conn = Conn::open(kind, &refinery_db.url)?;
                conn.refinery(&migrations, true)
            })?;
            expect_none("refinery", applied)?;
            Ok(sample)
        })?,
    });
    if let Some(python) = python.filter(|_| py.check("Alembic", history, true).is_ok()) {
        rows.push(Row {
            tool: format!("{} + {}", tools.alembic_label, kind.python_driver()),
            stats: repeat(plan.slow_reps, || {
                run_timed(python, &py_up, dir_of(&ini), None).map(|(s, _)| s)
            })?,
        });
    }
    if kind == Kind::Postgres {
        // The URL above leaves sslmode at its default, `prefer`: against a server with ssl =
        // on, the CLI then sets up TLS (native-tls, OpenSSL) as libpq does. Without it:
        let plain = dir_of(&ours_config).join("alembic-postgres-plain.toml");
        write(
            &plain,
            &format!(
                "[alembic]\nscript_location = \"migrations\"\nurl = \"{}?sslmode=disable\"\n",
                cli.url
            ),
        )?;
        let plain_s = plain.to_string_lossy().into_owned();
        let args = ours_args(tools, &plain_s, &["upgrade", "head"]);
        rows.insert(
            1,
            Row {
                tool: "cargo-alembic CLI, URL with `?sslmode=disable` (no TLS)".into(),
                stats: repeat(plan.reps, || {
                    run_timed(&tools.ours, &args, dir_of(&plain), None).map(|(s, _)| s)
                })?,
            },
        );
    }
    let startup = Bench { name: label, rows };
    drop(scripts);
    Ok(Section {
        benches: vec![apply, startup],
        notes,
    })
}

fn expect_none(tool: &str, applied: usize) -> Result<(), BenchError> {
    if applied == 0 {
        Ok(())
    } else {
        Err(BenchError::Check {
            tool: tool.into(),
            what: "startup check".into(),
            why: format!("applied {applied} revisions to an up-to-date database"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_the_server_and_name_the_driver() {
        let db = Db::new(
            Kind::Postgres,
            "postgresql://postgres@127.0.0.1:5432/test",
            "cli",
        )
        .expect("db");
        assert!(db
            .url
            .starts_with("postgresql://postgres@127.0.0.1:5432/alembic_bench_"));
        assert!(db
            .sqlalchemy_url()
            .starts_with("postgresql+psycopg2://postgres@127.0.0.1:5432/alembic_bench_"));
        // Not dropping: the database was never created (the drop is best effort anyway).
        std::mem::forget(db);
        let my = Db::new(Kind::Mysql, "mysql://root@127.0.0.1:3306/test", "cli").expect("db");
        assert!(my
            .sqlalchemy_url()
            .starts_with("mysql+pymysql://root@127.0.0.1:3306/alembic_bench_"));
        std::mem::forget(my);
        assert!(Db::new(Kind::Mysql, "mysql:", "x").is_err());
    }
}
