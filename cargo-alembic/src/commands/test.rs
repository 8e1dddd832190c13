//! `test`: the seed's migration testing, on a scratch database, never the configured one.
//!
//! The cycle itself (a single head; up one revision at a time; the head's schema against
//! `schema.sql`; down one revision at a time, each downgrade restoring the schema from before
//! its upgrade) is `alembic_runtime::testing`, the function applications call from their own
//! tests. This command only provides the database:
//!
//! - SQLite: a database in memory.
//! - PostgreSQL / MySQL: `alembic_test_<pid>_<n>`, created on the configured server and
//!   dropped again on every path out (a failed cycle included).
//!
//! The expected schema is loaded the same way: SQLite in memory, a second scratch database on
//! the servers.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use alembic_core::url::{DatabaseUrl, Dialect};
use alembic_runtime::testing::schema::scratch;
use alembic_runtime::testing::{
    check_migrations_with, CycleError, CycleStep, Direction, Schema, ScratchConnection,
};
use alembic_runtime::{Backend, Migrator, MysqlBackend, PostgresBackend};
use serde_json::json;

use crate::args::{GlobalOpts, TestArgs};
use crate::error::{CliError, CliResult};
use crate::output::{display_path, Printer};
use crate::project::Project;

pub fn run(global: &GlobalOpts, args: &TestArgs, printer: &Printer) -> CliResult {
    // One line per step is printed here; the runtime's INFO line per revision would say the
    // same again (-v or RUST_LOG bring it back).
    if global.verbose == 0 && std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(log::LevelFilter::Warn.min(log::max_level()));
    }
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    // Without a URL the migrations are tested on SQLite: the cycle needs no configured
    // database, only its dialect.
    let url = project.url.clone();
    let dialect = url.as_ref().map_or(Dialect::Sqlite, DatabaseUrl::dialect);
    let migrator = Migrator::new(&scripts, project.run_options());

    let schema_path = scratch::schema_file(&project.config.schema, dialect_file_name(dialect));
    let schema_sql = if schema_path.is_file() {
        Some(
            std::fs::read_to_string(&schema_path)
                .map_err(|e| CliError::io("read", &schema_path, e))?,
        )
    } else {
        None
    };

    let json = args.json;
    let mut steps: Vec<serde_json::Value> = Vec::new();
    let mut on_step = |step: &CycleStep| {
        if json {
            steps.push(step_json(step));
        } else {
            printer.out(&step.to_string());
        }
    };
    if !json {
        printer.note(&format!(
            "Testing {} revision(s) on a scratch {} database",
            scripts.map().len(),
            dialect.name()
        ));
        printer.note(&if schema_sql.is_some() {
            format!("The head is compared with {}", display_path(&schema_path))
        } else {
            format!(
                "No {}: the head's schema is not compared with a desired schema",
                display_path(&schema_path)
            )
        });
    }

    let result = match dialect {
        Dialect::Sqlite => {
            let expected = match &schema_sql {
                Some(sql) => Some(scratch::sqlite(sql, &schema_path, &[]).map_err(|e| {
                    CliError::with_hint(
                        format!("loading the desired schema: {e}"),
                        "fix the schema file so that it runs on an empty database",
                    )
                })?),
                None => None,
            };
            let mut conn = rusqlite::Connection::open_in_memory().map_err(|e| {
                CliError::failed(format!("cannot open an in-memory SQLite database: {e}"))
            })?;
            check_migrations_with(&migrator, &mut conn, expected.as_ref(), &mut on_step)
        }
        Dialect::Postgres => {
            let url = url.as_ref().ok_or_else(no_url)?;
            let server = Server::<PostgresBackend<'static>>::postgres(url);
            server.cycle(&migrator, schema_sql.as_deref(), &schema_path, &mut on_step)?
        }
        Dialect::Mysql => {
            let url = url.as_ref().ok_or_else(no_url)?;
            let server = Server::<MysqlBackend<'static>>::mysql(url);
            server.cycle(&migrator, schema_sql.as_deref(), &schema_path, &mut on_step)?
        }
    };

    match result {
        Ok(report) => {
            if json {
                printer.json(&json!({
                    "ok": true,
                    "dialect": dialect.name(),
                    "compared_with_schema": report.compared_with_expected,
                    "steps": steps,
                }));
            } else {
                printer.out("OK");
            }
            Ok(())
        }
        Err(e) => {
            if json {
                printer.json(&json!({
                    "ok": false,
                    "dialect": dialect.name(),
                    "steps": steps,
                    "failed_revision": e.revision(),
                    "error": e.to_string(),
                }));
            }
            Err(cycle_error(&e))
        }
    }
}

fn no_url() -> CliError {
    CliError::failed("no database URL")
}

fn dialect_file_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgresql",
        Dialect::Mysql => "mysql",
    }
}

fn step_json(step: &CycleStep) -> serde_json::Value {
    json!({
        "direction": match step.direction {
            Direction::Upgrade => "upgrade",
            _ => "downgrade",
        },
        "revision": step.revision,
        "path": display_path(&step.path),
        "tables": step.tables,
    })
}

/// The failure, with what to do about it.
fn cycle_error(e: &CycleError) -> CliError {
    let hint = match e {
        CycleError::DowngradeMismatch { .. } => {
            "each difference is something the downgrade left behind or took away: compare the \
             script's -- +upgrade and -- +downgrade sections"
        }
        CycleError::HeadMismatch { .. } => {
            "schema.sql and the migrations disagree: write a revision (`cargo alembic revision \
             --autogenerate`) or fix schema.sql"
        }
        CycleError::NotSingleHead { .. } => {
            "merge the heads (`cargo alembic merge heads -m ...`), then test again"
        }
        _ => "fix the named revision and test again",
    };
    CliError::Failed {
        message: format!("migration test failed: {e}"),
        details: Vec::new(),
        hint: Some(hint.to_string()),
    }
}

/// A server the scratch databases are created on, through a connection to the configured
/// database (which is only used to create and drop them).
struct Server<'u, B> {
    url: &'u DatabaseUrl,
    connect: fn(&DatabaseUrl) -> Result<B, alembic_runtime::BackendError>,
    quote: fn(&str) -> String,
}

impl<'u> Server<'u, PostgresBackend<'static>> {
    fn postgres(url: &'u DatabaseUrl) -> Self {
        Server {
            url,
            connect: PostgresBackend::connect_url,
            quote: |name| format!("\"{name}\""),
        }
    }
}

impl<'u> Server<'u, MysqlBackend<'static>> {
    fn mysql(url: &'u DatabaseUrl) -> Self {
        Server {
            url,
            connect: MysqlBackend::connect_url,
            quote: |name| format!("`{name}`"),
        }
    }
}

impl<B: Backend + ScratchConnection> Server<'_, B> {
    /// The cycle on a scratch database, the expected schema loaded into a second one; both
    /// dropped whatever happens. The outer error is about the scratch databases, the inner
    /// one is the cycle's verdict.
    fn cycle(
        &self,
        migrator: &Migrator<'_>,
        schema_sql: Option<&str>,
        schema_path: &Path,
        on_step: &mut dyn FnMut(&CycleStep),
    ) -> CliResult<Result<alembic_runtime::testing::CycleReport, CycleError>> {
        let mut admin = (self.connect)(self.url).map_err(|e| {
            CliError::with_hint(
                format!("connecting to {}: {e}", self.url.masked()),
                "`cargo alembic test` creates its scratch databases on the configured server: \
                 check the URL, and that its user may CREATE DATABASE",
            )
        })?;
        let expected = match schema_sql {
            Some(sql) => {
                Some(self.with_scratch(&mut admin, |conn| load_schema(conn, sql, schema_path))??)
            }
            None => None,
        };
        self.with_scratch(&mut admin, |conn| {
            check_migrations_with(migrator, conn, expected.as_ref(), on_step)
        })
    }

    /// Runs `body` on a new database, then drops it (also when `body` failed).
    fn with_scratch<R>(&self, admin: &mut B, body: impl FnOnce(&mut B) -> R) -> CliResult<R> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "alembic_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let quoted = (self.quote)(&name);
        admin
            .execute_batch(&format!("CREATE DATABASE {quoted}"))
            .map_err(|e| {
                CliError::with_hint(
                    format!("creating the scratch database {name}: {e}"),
                    "the configured user needs the right to CREATE DATABASE",
                )
            })?;
        let result = with_database(self.url, &name).and_then(|url| {
            let mut conn = (self.connect)(&url).map_err(|e| {
                CliError::failed(format!("connecting to the scratch database {name}: {e}"))
            })?;
            let out = body(&mut conn);
            // Closed before the drop: PostgreSQL refuses to drop a database in use.
            drop(conn);
            Ok(out)
        });
        let dropped = admin.execute_batch(&format!("DROP DATABASE IF EXISTS {quoted}"));
        let out = result?;
        dropped.map_err(|e| {
            CliError::failed(format!(
                "dropping the scratch database {name}: {e} (drop it by hand)"
            ))
        })?;
        Ok(out)
    }
}

/// Runs `schema.sql` statement by statement (an error names its line) and reads it back.
fn load_schema<B: Backend + ScratchConnection>(
    conn: &mut B,
    sql: &str,
    path: &Path,
) -> CliResult<Schema> {
    for (line, statement) in scratch::split_statements(sql) {
        conn.execute_batch(&statement).map_err(|e| {
            CliError::with_hint(
                format!("{}:{line}: {e}", display_path(path)),
                "fix the schema file so that it runs on an empty database",
            )
        })?;
    }
    conn.introspect(&[])
        .map_err(|e| CliError::failed(format!("reading the desired schema back: {e}")))
}

/// `url` naming database `name` instead of its own (the query, e.g. sslmode, kept).
fn with_database(url: &DatabaseUrl, name: &str) -> CliResult<DatabaseUrl> {
    let text = url.unmasked();
    let (main, query) = match text.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (text, None),
    };
    let authority_start = main.find("://").map_or(0, |at| at + 3);
    let base = match main[authority_start..].find('/') {
        Some(slash) => &main[..authority_start + slash],
        None => main,
    };
    let mut out = format!("{base}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    DatabaseUrl::parse(&out).map_err(|e| {
        CliError::failed(format!(
            "cannot make the scratch database's URL from {}: {e}",
            url.masked()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_url_keeps_everything_but_the_database() {
        let url = DatabaseUrl::parse("postgresql://u:p@db.example:5433/app?sslmode=require")
            .expect("url");
        let scratch = with_database(&url, "alembic_test_1_0").expect("scratch url");
        assert_eq!(
            scratch.unmasked(),
            "postgresql://u:p@db.example:5433/alembic_test_1_0?sslmode=require"
        );
        let bare = DatabaseUrl::parse("mysql://root@127.0.0.1:3306").expect("url");
        assert_eq!(
            with_database(&bare, "x").expect("scratch url").unmasked(),
            "mysql://root@127.0.0.1:3306/x"
        );
    }
}
