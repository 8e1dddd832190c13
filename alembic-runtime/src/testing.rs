//! Migration testing (feature `testing`): the up-and-down cycle `cargo alembic test` runs,
//! callable from an application's own tests on its embedded migrations.
//!
//! On an empty scratch database, [`check_migrations`]:
//!
//! 1. requires a single head (the cycle is defined on one line of history);
//! 2. upgrades one revision at a time, in the order `upgrade head` would run them, reading the
//!    schema after each step (the version, history and `_lock` tables left out);
//! 3. compares the head's schema with an expected one, when given (the desired schema of
//!    `schema.sql`);
//! 4. downgrades one revision at a time in exactly the reverse order, checking that each
//!    downgrade restores the schema read before that revision's upgrade, and fails naming the
//!    first revision whose downgrade does not, with the differences.
//!
//! Steps are one-revision plans cut from the `upgrade heads` plan, and the downgrade steps are
//! their mirror images (the same version-row changes undone in reverse). `upgrade +1` and
//! `downgrade -1` would do the same on a straight line, but on a graph with a merge `-1` from
//! two heads is ambiguous, and the schema "before the upgrade" is only defined if the
//! downgrades walk back exactly the way the upgrades came.
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # fn example(migrations: &alembic_runtime::Migrations) {
//! let mut conn = rusqlite::Connection::open_in_memory().unwrap();
//! let report = alembic_runtime::testing::check_embedded(migrations, &mut conn, None)
//!     .unwrap_or_else(|e| panic!("{e}"));
//! println!("{report}");
//! # }
//! ```

use std::fmt;
use std::path::PathBuf;

use alembic_core::plan::{self, Plan, Step, StepKind, VersionChange};
use alembic_schema::Change;

/// The schema crate the checks use (its `scratch` module loads a `schema.sql`).
pub use alembic_schema as schema;
pub use alembic_schema::{IntrospectError, Schema};

use crate::embedded::{Connection, Migrations};
use crate::error::RunError;
use crate::migrator::Migrator;

/// A connection the cycle can run on and read the schema of: `rusqlite::Connection` (feature
/// `sqlite`), `postgres::Client` (feature `postgres`), `mysql::Conn` (feature `mysql`).
pub trait ScratchConnection: Connection {
    /// The schema of the database, without the tables named in `exclude`.
    fn introspect(&mut self, exclude: &[&str]) -> Result<Schema, IntrospectError>;
}

#[cfg(feature = "sqlite")]
impl ScratchConnection for rusqlite::Connection {
    fn introspect(&mut self, exclude: &[&str]) -> Result<Schema, IntrospectError> {
        alembic_schema::sqlite::introspect(self, exclude)
    }
}

#[cfg(feature = "postgres")]
impl ScratchConnection for postgres::Client {
    fn introspect(&mut self, exclude: &[&str]) -> Result<Schema, IntrospectError> {
        alembic_schema::postgres::introspect(self, exclude)
    }
}

#[cfg(feature = "mysql")]
impl ScratchConnection for mysql::Conn {
    fn introspect(&mut self, exclude: &[&str]) -> Result<Schema, IntrospectError> {
        alembic_schema::mysql::introspect(self, exclude)
    }
}

/// The schema a SQL script (a `schema.sql`) describes, read back from a new in-memory SQLite
/// database it was run on: the expected schema of [`check_migrations`] for SQLite.
#[cfg(feature = "sqlite")]
pub fn sqlite_schema_of_sql(sql: &str) -> Result<Schema, CycleError> {
    let expected = |message: String| CycleError::ExpectedSchema { message };
    let conn = rusqlite::Connection::open_in_memory()
        .map_err(|e| expected(format!("opening an in-memory SQLite database: {e}")))?;
    conn.execute_batch(sql)
        .map_err(|e| expected(format!("running it on SQLite: {e}")))?;
    alembic_schema::sqlite::introspect(&conn, &[])
        .map_err(|e| expected(format!("reading it back: {e}")))
}

/// A backend that owns its client (the CLI's connection to a scratch database) works as well.
#[cfg(feature = "postgres")]
impl Connection for crate::PostgresBackend<'_> {
    fn with_backend<R>(
        &mut self,
        run: &mut dyn FnMut(&mut dyn crate::Backend) -> Result<R, RunError>,
    ) -> Result<R, RunError> {
        run(self)
    }
}

#[cfg(feature = "postgres")]
impl ScratchConnection for crate::PostgresBackend<'_> {
    fn introspect(&mut self, exclude: &[&str]) -> Result<Schema, IntrospectError> {
        alembic_schema::postgres::introspect(self.client(), exclude)
    }
}

#[cfg(feature = "mysql")]
impl Connection for crate::MysqlBackend<'_> {
    fn with_backend<R>(
        &mut self,
        run: &mut dyn FnMut(&mut dyn crate::Backend) -> Result<R, RunError>,
    ) -> Result<R, RunError> {
        run(self)
    }
}

#[cfg(feature = "mysql")]
impl ScratchConnection for crate::MysqlBackend<'_> {
    fn introspect(&mut self, exclude: &[&str]) -> Result<Schema, IntrospectError> {
        alembic_schema::mysql::introspect(self.conn(), exclude)
    }
}

/// Which way a step of the cycle ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Upgrade,
    Downgrade,
}

/// One revision run by the cycle, and that the schema was as expected after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleStep {
    pub direction: Direction,
    pub revision: String,
    /// The revision's script.
    pub path: PathBuf,
    /// How many tables the schema had after the step.
    pub tables: usize,
}

impl fmt::Display for CycleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.direction {
            Direction::Upgrade => "upgrade  ",
            Direction::Downgrade => "downgrade",
        };
        write!(
            f,
            "{what} {} ({}): ok, {} table(s)",
            self.revision,
            self.path.display(),
            self.tables
        )
    }
}

/// A cycle that passed: every step, upgrades then downgrades.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub steps: Vec<CycleStep>,
    /// Whether the head's schema was compared with an expected schema.
    pub compared_with_expected: bool,
}

impl fmt::Display for CycleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(f, "{step}")?;
        }
        write!(f, "OK")
    }
}

/// Why the cycle failed. Each names the revision (and its file) where it stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CycleError {
    /// The cycle needs one line of history to walk up and down.
    #[error(
        "the migrations have {} heads ({}): migration testing needs a single head; \
         merge them first (`cargo alembic merge heads -m ...`)",
        heads.len(), heads.join(", ")
    )]
    NotSingleHead { heads: Vec<String> },
    /// The scratch database already holds tables: the cycle only runs on an empty database,
    /// so that it never touches real data and its schemas mean what they say.
    #[error(
        "the scratch database is not empty (tables: {}): migration testing runs on a new, \
         empty database",
        tables.join(", ")
    )]
    NotEmpty { tables: Vec<String> },
    /// The expected schema could not be loaded.
    #[error("loading the expected schema: {message}")]
    ExpectedSchema { message: String },
    /// The upgrade plan could not be made (a graph the runtime refuses).
    #[error("planning the upgrade to head: {0}")]
    Plan(#[from] plan::PlanError),
    /// A revision's SQL failed.
    #[error("the cycle stopped at {} of revision {revision}: {source}", direction_word(*direction))]
    Run {
        direction: Direction,
        revision: String,
        path: PathBuf,
        #[source]
        source: Box<RunError>,
    },
    /// The schema could not be read.
    #[error("reading the schema after {what}: {source}")]
    Introspect {
        what: String,
        #[source]
        source: IntrospectError,
    },
    /// The schema at head is not the expected one.
    #[error(
        "the schema at head {revision} ({}) is not the expected schema:\n{}\n\
         write a revision that makes the difference (or fix the expected schema)",
        path.display(), bullets(differences)
    )]
    HeadMismatch {
        revision: String,
        path: PathBuf,
        differences: Vec<String>,
    },
    /// A downgrade did not restore the schema from before its revision's upgrade.
    #[error(
        "the downgrade of revision {revision} ({}) does not restore the schema from before \
         its upgrade:\n{}\nfix its downgrade SQL so that it undoes the upgrade exactly",
        path.display(), bullets(differences)
    )]
    DowngradeMismatch {
        revision: String,
        path: PathBuf,
        /// What differs after the downgrade, compared with before the upgrade.
        differences: Vec<String>,
    },
}

impl CycleError {
    /// The revision the cycle stopped at, if it stopped at one.
    pub fn revision(&self) -> Option<&str> {
        match self {
            CycleError::Run { revision, .. }
            | CycleError::HeadMismatch { revision, .. }
            | CycleError::DowngradeMismatch { revision, .. } => Some(revision),
            _ => None,
        }
    }
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::Upgrade => "the upgrade",
        Direction::Downgrade => "the downgrade",
    }
}

fn bullets(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("  - {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the cycle (module documentation) with the migrations a [`Migrator`] holds, on an empty
/// scratch database, with the migrator's options (version table, transaction mode).
pub fn check_migrations<C: ScratchConnection + ?Sized>(
    migrator: &Migrator<'_>,
    conn: &mut C,
    expected: Option<&Schema>,
) -> Result<CycleReport, CycleError> {
    check_migrations_with(migrator, conn, expected, &mut |_| {})
}

/// [`check_migrations`] on migrations compiled into the application.
pub fn check_embedded<C: ScratchConnection + ?Sized>(
    migrations: &Migrations,
    conn: &mut C,
    expected: Option<&Schema>,
) -> Result<CycleReport, CycleError> {
    let migrator = Migrator::embedded(migrations, migrations.options());
    check_migrations(&migrator, conn, expected)
}

/// [`check_migrations`], telling `on_step` about each step as it passes (the CLI prints them
/// as they happen).
pub fn check_migrations_with<C: ScratchConnection + ?Sized>(
    migrator: &Migrator<'_>,
    conn: &mut C,
    expected: Option<&Schema>,
    on_step: &mut dyn FnMut(&CycleStep),
) -> Result<CycleReport, CycleError> {
    let scripts = migrator.scripts();
    let map = scripts.map();
    let mut heads: Vec<String> = map.heads().into_iter().map(str::to_string).collect();
    heads.sort();
    if heads.len() > 1 {
        return Err(CycleError::NotSingleHead { heads });
    }

    let options = migrator.options().clone();
    let history = options.history_table();
    let lock = format!("{}_lock", options.version_table);
    let exclude = [
        options.version_table.as_str(),
        history.as_str(),
        lock.as_str(),
    ];
    let read = |conn: &mut C, what: &dyn Fn() -> String| {
        conn.introspect(&exclude)
            .map_err(|source| CycleError::Introspect {
                what: what(),
                source,
            })
    };

    let empty = read(conn, &|| "opening the scratch database".to_string())?;
    if !empty.tables.is_empty() {
        return Err(CycleError::NotEmpty {
            tables: empty.tables.keys().cloned().collect(),
        });
    }

    let full = plan::upgrade(map, &[], "heads")?;
    let path_of = |id: &str| {
        scripts
            .script(id)
            .map(|s| s.path.clone())
            .unwrap_or_default()
    };
    let mut report = CycleReport {
        steps: Vec::new(),
        compared_with_expected: expected.is_some(),
    };
    let mut pass = |report: &mut CycleReport, step: CycleStep| {
        on_step(&step);
        report.steps.push(step);
    };

    // Up: one revision per plan, the schema read before each (`before[i]` is the schema before
    // step i's upgrade).
    let mut rows: Vec<String> = Vec::new();
    let mut before: Vec<Schema> = Vec::with_capacity(full.steps.len());
    let mut schema = empty;
    for step in &full.steps {
        let revision = step.revision().unwrap_or_default().to_string();
        let one = one_step(&rows, step.clone());
        conn.with_backend(&mut |backend| migrator.execute(backend, &one))
            .map_err(|source| CycleError::Run {
                direction: Direction::Upgrade,
                revision: revision.clone(),
                path: path_of(&revision),
                source: Box::new(source),
            })?;
        rows = one.heads_after;
        let after = read(conn, &|| format!("upgrading {revision}"))?;
        before.push(std::mem::replace(&mut schema, after));
        pass(
            &mut report,
            CycleStep {
                direction: Direction::Upgrade,
                revision: revision.clone(),
                path: path_of(&revision),
                tables: schema.tables.len(),
            },
        );
    }

    if let (Some(expected), Some(head)) = (expected, heads.first()) {
        let changes = alembic_schema::diff(&schema, expected);
        if !changes.is_empty() {
            return Err(CycleError::HeadMismatch {
                revision: head.clone(),
                path: path_of(head),
                differences: changes.iter().map(describe).collect(),
            });
        }
    }

    // Down: the mirror image of each upgrade step, last first.
    for (step, wanted) in full.steps.iter().zip(before).rev() {
        let revision = step.revision().unwrap_or_default().to_string();
        let down = mirror(step);
        let one = one_step(&rows, down);
        conn.with_backend(&mut |backend| migrator.execute(backend, &one))
            .map_err(|source| CycleError::Run {
                direction: Direction::Downgrade,
                revision: revision.clone(),
                path: path_of(&revision),
                source: Box::new(source),
            })?;
        rows = one.heads_after;
        let after = read(conn, &|| format!("downgrading {revision}"))?;
        // The changes that would turn what the downgrade left into what was there before the
        // upgrade: exactly what the downgrade failed to do.
        let changes = alembic_schema::diff(&after, &wanted);
        if !changes.is_empty() {
            return Err(CycleError::DowngradeMismatch {
                path: path_of(&revision),
                revision,
                differences: changes.iter().map(describe).collect(),
            });
        }
        pass(
            &mut report,
            CycleStep {
                direction: Direction::Downgrade,
                revision: revision.clone(),
                path: path_of(&revision),
                tables: after.tables.len(),
            },
        );
    }
    Ok(report)
}

/// A plan of the one step `step`, from the version rows `rows`.
fn one_step(rows: &[String], step: Step) -> Plan {
    let mut after = rows.to_vec();
    for change in &step.version_changes {
        match change {
            VersionChange::Insert { id } => after.push(id.clone()),
            VersionChange::Delete { id } => after.retain(|r| r != id),
            VersionChange::Update { from, to } => {
                for r in after.iter_mut().filter(|r| *r == from) {
                    *r = to.clone();
                }
            }
        }
    }
    after.sort();
    let mut heads_before = rows.to_vec();
    heads_before.sort();
    Plan {
        heads_before,
        steps: vec![step],
        heads_after: after,
    }
}

/// The downgrade undoing an upgrade step: its revision's downgrade SQL, and its version-row
/// changes undone in reverse order.
fn mirror(step: &Step) -> Step {
    let revision = step.revision().unwrap_or_default().to_string();
    let version_changes = step
        .version_changes
        .iter()
        .rev()
        .map(|change| match change {
            VersionChange::Insert { id } => VersionChange::Delete { id: id.clone() },
            VersionChange::Delete { id } => VersionChange::Insert { id: id.clone() },
            VersionChange::Update { from, to } => VersionChange::Update {
                from: to.clone(),
                to: from.clone(),
            },
        })
        .collect();
    Step {
        kind: StepKind::Downgrade { revision },
        version_changes,
    }
}

/// One difference, said from the side of the schema that was found: `diff(found, wanted)`
/// lists what would make `found` into `wanted`, so a `DropIndex` is an index left over.
pub fn describe(change: &Change) -> String {
    fn cols(c: &[String]) -> String {
        c.join(", ")
    }
    fn column(c: &alembic_schema::Column) -> String {
        format!(
            "{} {}{}{}",
            c.name,
            c.data_type,
            if c.nullable { "" } else { " NOT NULL" },
            c.default
                .as_ref()
                .map(|d| format!(" DEFAULT {d}"))
                .unwrap_or_default()
        )
    }
    match change {
        Change::CreateTable(t) => format!("table {} is missing", t.name),
        Change::DropTable(t) => format!("table {} is left over", t.name),
        Change::AddColumn { table, column: c } => {
            format!("column {table}.{} is missing ({})", c.name, column(c))
        }
        Change::DropColumn { table, column: c } => {
            format!("column {table}.{} is left over ({})", c.name, column(c))
        }
        Change::AlterColumn { table, from, to } => format!(
            "column {table}.{} is `{}`, expected `{}`",
            from.name,
            column(from),
            column(to)
        ),
        Change::SetPrimaryKey { table, from, to } => format!(
            "primary key of {table} is ({}), expected ({})",
            cols(from),
            cols(to)
        ),
        Change::AddUnique { table, unique } => {
            format!("unique ({}) on {table} is missing", cols(&unique.columns))
        }
        Change::DropUnique { table, unique } => {
            format!("unique ({}) on {table} is left over", cols(&unique.columns))
        }
        Change::CreateIndex { table, index } => format!(
            "index {} on {table} ({}) is missing",
            index.name,
            cols(&index.columns)
        ),
        Change::DropIndex { table, index } => format!(
            "index {} on {table} ({}) is left over",
            index.name,
            cols(&index.columns)
        ),
        Change::AddForeignKey { table, foreign_key } => format!(
            "foreign key {table} ({}) -> {} ({}) is missing",
            cols(&foreign_key.columns),
            foreign_key.referred_table,
            cols(&foreign_key.referred_columns)
        ),
        Change::DropForeignKey { table, foreign_key } => format!(
            "foreign key {table} ({}) -> {} ({}) is left over",
            cols(&foreign_key.columns),
            foreign_key.referred_table,
            cols(&foreign_key.referred_columns)
        ),
        Change::AddCheck { table, check } => {
            format!("check ({}) on {table} is missing", check.expression)
        }
        Change::DropCheck { table, check } => {
            format!("check ({}) on {table} is left over", check.expression)
        }
    }
}
