//! `check`: exit 1, with a message saying what is pending, when `upgrade heads` would run
//! anything, or when an applied script was edited since it ran (naming it, and suggesting
//! `rehash` for an edit without effect); then, when a desired schema (`schema.sql`) exists,
//! exit 1 listing the differences when `revision --autogenerate` would write anything, as
//! Alembic's `check` ("New upgrade operations detected"). Exit 0 otherwise.
//!
//! [`compare`] is the comparison autogenerate writes its revision from.

use alembic_core::plan::{self, Step};
use alembic_core::source::ScriptDirectory;
use alembic_core::url::{Dialect, SqliteTarget};
use alembic_runtime::{Dirty, Migrator, Mismatch, RunError};
use alembic_schema::scratch::{self, ScratchError};
use alembic_schema::{Change, Schema};
use std::path::PathBuf;

use crate::args::GlobalOpts;
use crate::error::{CliError, CliResult};
use crate::output::Printer;
use crate::project::Project;

/// The steps `upgrade heads` would run from `current`.
pub fn pending(scripts: &ScriptDirectory, current: &[String]) -> CliResult<Vec<Step>> {
    Ok(plan::upgrade(scripts.map(), current, "heads")?.steps)
}

/// Fails when an applied script was edited since it ran (the runtime compares one chained
/// checksum per head). Heads applied by another tool (no recorded checksum) are not checked.
fn verify_checksums(project: &Project, scripts: &ScriptDirectory, current: &[String]) -> CliResult {
    if current.is_empty() {
        return Ok(());
    }
    let migrator = Migrator::new(scripts, project.run_options());
    let verification = match project
        .connect()?
        .with_backend(|backend| migrator.verify(backend))
    {
        Ok(found) => found,
        Err(RunError::ChecksumMismatch(m)) => return Err(mismatch(&m)),
        Err(other) => return Err(other.into()),
    };
    if !verification.unrecorded.is_empty() {
        log::info!(
            "not verified (applied without a recorded checksum, e.g. by Python Alembic): {}",
            verification.unrecorded.join(", ")
        );
    }
    Ok(())
}

/// An applied script edited since it ran: exit 1 naming it, with the two ways out.
fn mismatch(m: &Mismatch) -> CliError {
    CliError::Failed {
        message: format!(
            "revision {} ({}) changed after it was applied",
            m.revision,
            m.path.display()
        ),
        details: vec![
            format!("recorded checksum: {}", m.recorded),
            format!("script checksum now: {}", m.current),
        ],
        hint: Some(format!(
            "revert the edit and make the change in a new revision; if the edit changes nothing \
             the database holds (a comment, whitespace), record it with `cargo alembic rehash {} \
             --reason \"...\"`",
            m.revision
        )),
    }
}

/// The dirty state a failed non-transactional revision left (see `alembic_runtime::Dirty`), if
/// any. A SQLite file that does not exist is clean, and a read command must not create it.
pub fn dirty_state(project: &Project, scripts: &ScriptDirectory) -> CliResult<Option<Dirty>> {
    let missing_file = matches!(
        project.sqlite_target(project.require_url()?),
        Some(SqliteTarget::File(path)) if !path.exists()
    );
    if missing_file {
        return Ok(None);
    }
    let migrator = Migrator::new(scripts, project.run_options());
    Ok(project
        .connect()?
        .with_backend(|backend| migrator.dirty(backend))?)
}

pub fn run(global: &GlobalOpts, printer: &Printer) -> CliResult {
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let current = project.read_heads(&scripts)?;
    let unknown: Vec<&String> = current
        .iter()
        .filter(|h| scripts.script(h).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(CliError::with_hint(
            format!(
                "Database is at revision(s) {} which no script defines",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "check out the code that has their scripts (is this checkout older than the \
             database?), or go back to a revision on disk with `cargo alembic downgrade <rev>`, \
             which reverts them with the downgrade SQL stored when they were applied",
        ));
    }
    // A failed non-transactional revision left the database dirty: upgrades refuse until it
    // is resolved, so it is not "up to date" whatever its version table says.
    if let Some(dirty) = dirty_state(&project, &scripts)? {
        return Err(RunError::Dirty(Box::new(dirty)).into());
    }
    verify_checksums(&project, &scripts, &current)?;
    let steps = pending(&scripts, &current)?;
    let heads: Vec<&str> = scripts.map().real_heads();
    if steps.is_empty() {
        if let Some(found) = compare(&project)? {
            if !found.upgrade.is_empty() {
                return Err(CliError::Failed {
                    message: "New upgrade operations detected".to_string(),
                    details: found.upgrade.iter().map(describe).collect(),
                    hint: Some(format!(
                        "{} and the database differ: write the migration with `cargo alembic \
                         revision --autogenerate -m \"...\"` (or revert the edit of the schema \
                         file)",
                        found.schema_path.display()
                    )),
                });
            }
            printer.note(&format!(
                "No new upgrade operations detected: the database matches {}.",
                found.schema_path.display()
            ));
        }
        printer.note(&format!(
            "Database is up to date: at {}.",
            if heads.is_empty() {
                "base (there are no revisions)".to_string()
            } else {
                heads.join(", ")
            }
        ));
        return Ok(());
    }
    let revisions: Vec<&str> = steps.iter().filter_map(Step::revision).collect();
    Err(CliError::Failed {
        message: "Database is not on all head revisions".to_string(),
        details: vec![
            format!(
                "current: {}",
                if current.is_empty() {
                    "base (empty)".to_string()
                } else {
                    current.join(", ")
                }
            ),
            format!("heads: {}", heads.join(", ")),
            format!(
                "pending: {} revision(s): {}",
                revisions.len(),
                revisions.join(", ")
            ),
        ],
        hint: Some("run `cargo alembic upgrade heads`".to_string()),
    })
}

/// The database compared with the desired schema.
pub struct Comparison {
    pub dialect: Dialect,
    /// The schema file that applied (the dialect's own file when there is one).
    pub schema_path: PathBuf,
    /// The database as it is (without the migration tool's tables).
    pub current: Schema,
    /// `schema_path` as loaded into a scratch database.
    pub desired: Schema,
    /// `diff(current, desired)`: what an upgrade must do.
    pub upgrade: Vec<Change>,
}

/// The migration tool's own tables, never part of the compared schema.
pub fn excluded_tables(project: &Project) -> Vec<String> {
    let version = &project.config.version_table;
    vec![
        version.clone(),
        format!("{version}_history"),
        format!("{version}_lock"),
    ]
}

/// The dialect's name in a per-dialect schema file (`schema.postgresql.sql`).
fn dialect_file_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgresql",
        Dialect::Mysql => "mysql",
    }
}

/// The database (as it is now) compared with the desired schema; `None` when there is no
/// schema file (the project does not use autogenerate).
pub fn compare(project: &Project) -> CliResult<Option<Comparison>> {
    let url = project.require_url()?;
    let dialect = url.dialect();
    let schema_path = scratch::schema_file(&project.config.schema, dialect_file_name(dialect));
    if !schema_path.is_file() {
        log::info!(
            "no desired schema at {}: nothing to compare",
            schema_path.display()
        );
        return Ok(None);
    }
    let sql = scratch::read(&schema_path).map_err(scratch_error)?;
    let excluded = excluded_tables(project);
    let exclude: Vec<&str> = excluded.iter().map(String::as_str).collect();
    let introspect_error =
        |e: alembic_schema::IntrospectError| CliError::failed(format!("{}: {e}", url.masked()));
    let (current, desired) = match dialect {
        Dialect::Sqlite => {
            let desired = scratch::sqlite(&sql, &schema_path, &exclude).map_err(scratch_error)?;
            let missing_file = matches!(
                project.sqlite_target(url),
                Some(SqliteTarget::File(path)) if !path.exists()
            );
            let current = if missing_file {
                // A read command must not create the file: it is an empty database.
                Schema::default()
            } else {
                match project.connect()? {
                    crate::project::Connection::Sqlite(conn) => {
                        alembic_schema::sqlite::introspect(&conn, &exclude)
                            .map_err(introspect_error)?
                    }
                    crate::project::Connection::Server(_) => {
                        return Err(CliError::failed(
                            "a SQLite URL gave a server connection (a bug: please report it)",
                        ))
                    }
                }
            };
            (current, desired)
        }
        Dialect::Postgres => {
            let mut client = project.postgres_client(None)?;
            let current = alembic_schema::postgres::introspect(&mut client, &exclude)
                .map_err(introspect_error)?;
            let desired = scratch::postgres(
                &mut client,
                |name| {
                    project
                        .postgres_client(Some(name))
                        .map_err(|e| e.to_string())
                },
                &sql,
                &schema_path,
                &exclude,
            )
            .map_err(scratch_error)?;
            (current, desired)
        }
        Dialect::Mysql => {
            let mut conn = project.mysql_conn(None)?;
            let current =
                alembic_schema::mysql::introspect(&mut conn, &exclude).map_err(introspect_error)?;
            let desired = scratch::mysql(
                &mut conn,
                |name| project.mysql_conn(Some(name)).map_err(|e| e.to_string()),
                &sql,
                &schema_path,
                &exclude,
            )
            .map_err(scratch_error)?;
            (current, desired)
        }
    };
    let upgrade = alembic_schema::diff(&current, &desired);
    Ok(Some(Comparison {
        dialect,
        schema_path,
        current,
        desired,
        upgrade,
    }))
}

fn scratch_error(e: ScratchError) -> CliError {
    let hint = match &e {
        ScratchError::Statement { path, .. } => format!(
            "fix the statement in {} (it must be plain DDL the database accepts)",
            path.display()
        ),
        ScratchError::Scratch { .. } => {
            "the user of the URL must be allowed to CREATE and DROP DATABASE on its server"
                .to_string()
        }
        _ => "see the message above".to_string(),
    };
    CliError::with_hint(format!("loading the desired schema: {e}"), hint)
}

/// One change as a line of the list `check` prints, with Alembic's operation names.
pub fn describe(change: &Change) -> String {
    let cols = |c: &[String]| c.join(", ");
    match change {
        Change::CreateTable(t) => format!("add_table {}", t.name),
        Change::DropTable(t) => format!("remove_table {}", t.name),
        Change::AddColumn { table, column } => format!("add_column {table}.{}", column.name),
        Change::DropColumn { table, column } => {
            format!("remove_column {table}.{}", column.name)
        }
        Change::AlterColumn { table, from, to } => {
            let mut what = Vec::new();
            if from.data_type != to.data_type {
                what.push("modify_type");
            }
            if from.nullable != to.nullable {
                what.push("modify_nullable");
            }
            if from.default != to.default {
                what.push("modify_default");
            }
            format!("{} {table}.{}", what.join(", "), to.name)
        }
        Change::SetPrimaryKey { table, from, to } => format!(
            "modify_primary_key {table} ({}) -> ({})",
            cols(from),
            cols(to)
        ),
        Change::AddUnique { table, unique } => {
            format!("add_constraint UNIQUE {table} ({})", cols(&unique.columns))
        }
        Change::DropUnique { table, unique } => {
            format!(
                "remove_constraint UNIQUE {table} ({})",
                cols(&unique.columns)
            )
        }
        Change::CreateIndex { table, index } => format!(
            "add_index {} on {table} ({})",
            index.name,
            cols(&index.columns)
        ),
        Change::DropIndex { table, index } => format!(
            "remove_index {} on {table} ({})",
            index.name,
            cols(&index.columns)
        ),
        Change::AddForeignKey { table, foreign_key } => format!(
            "add_fk {table} ({}) -> {} ({})",
            cols(&foreign_key.columns),
            foreign_key.referred_table,
            cols(&foreign_key.referred_columns)
        ),
        Change::DropForeignKey { table, foreign_key } => format!(
            "remove_fk {table} ({}) -> {} ({})",
            cols(&foreign_key.columns),
            foreign_key.referred_table,
            cols(&foreign_key.referred_columns)
        ),
        Change::AddCheck { table, check } => {
            format!("add_constraint CHECK {table} ({})", check.expression)
        }
        Change::DropCheck { table, check } => {
            format!("remove_constraint CHECK {table} ({})", check.expression)
        }
    }
}
