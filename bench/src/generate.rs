//! The generated workload: one revision history, written three ways from the same SQL —
//! cargo-alembic `.sql` scripts (SPEC section 4), a Python Alembic project whose migrations
//! `op.execute` that SQL, and one `BEGIN; ...; COMMIT;` file for the sqlite3 shell.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::BenchError;

/// How often (in revisions) a side branch is forked off the main line.
const BRANCH_EVERY: usize = 250;
/// How many revisions a side branch lives before it is merged back.
const BRANCH_LENGTH: usize = 20;

/// One generated revision.
#[derive(Clone, Debug)]
pub struct GenRevision {
    pub id: String,
    pub down_revisions: Vec<String>,
    pub message: String,
    pub upgrade_sql: String,
    pub downgrade_sql: String,
    /// Seconds after the generation epoch, for `Create Date`.
    pub seq: usize,
}

/// A generated history, in an order Alembic could apply it (parents before children).
#[derive(Clone, Debug)]
pub struct History {
    pub revisions: Vec<GenRevision>,
}

impl History {
    /// The single head every generated history ends in.
    pub fn head(&self) -> Option<&str> {
        self.revisions.last().map(|r| r.id.as_str())
    }

    /// How many merge revisions the history holds (for the report).
    pub fn merges(&self) -> usize {
        self.revisions
            .iter()
            .filter(|r| r.down_revisions.len() > 1)
            .count()
    }

    /// How many tables a database at head holds (besides version tables), to check a run.
    pub fn tables_at_head(&self) -> usize {
        self.revisions
            .iter()
            .filter(|r| r.upgrade_sql.starts_with("CREATE TABLE"))
            .count()
    }
}

/// The schema state at the tip of one line of development: what the next revision on that
/// line can alter without touching a table another branch created.
#[derive(Clone, Debug, Default)]
struct Tip {
    revision: Option<usize>,
    table: Option<String>,
    /// The most recently added column of `table`, to index.
    column: Option<String>,
}

/// Twelve lowercase hex characters, as Alembic's generated ids, derived deterministically
/// from the index so that every run benchmarks the same files.
fn revision_id(index: usize) -> String {
    // SplitMix64: a bijection, so ids never collide.
    let mut z = (index as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("{:012x}", z & 0xFFFF_FFFF_FFFF)
}

/// Builds a mostly linear history of `n` revisions: every [`BRANCH_EVERY`] revisions a side
/// branch forks off the main line, lives [`BRANCH_LENGTH`] revisions interleaved with the
/// main line, and is merged back, so the graph has branch points and merge points as real
/// projects do, and always ends in one head.
pub fn history(n: usize) -> History {
    let mut revisions: Vec<GenRevision> = Vec::with_capacity(n);
    let mut main = Tip::default();
    let mut side: Option<Tip> = None;
    let mut side_age = 0;

    for index in 0..n {
        let remaining = n - index;
        let is_merge = side.is_some() && (side_age >= BRANCH_LENGTH || remaining == 1);
        if side.is_none()
            && index > 0
            && index % BRANCH_EVERY == BRANCH_EVERY / 2
            && remaining > BRANCH_LENGTH + 2
        {
            // Fork: the side line starts from the main line's current tip.
            side = Some(main.clone());
            side_age = 0;
        }

        let id = revision_id(index);
        let (parents, tip_is_side) = if is_merge {
            let side_tip = side.take().unwrap_or_default();
            let parents: Vec<usize> = main.revision.into_iter().chain(side_tip.revision).collect();
            (parents, false)
        } else if let Some(side_tip) = side.as_ref().filter(|_| index % 2 == 1) {
            side_age += 1;
            (side_tip.revision.into_iter().collect(), true)
        } else {
            if side.is_some() {
                side_age += 1;
            }
            (main.revision.into_iter().collect(), false)
        };

        let tip = if tip_is_side {
            side.as_mut().unwrap_or(&mut main)
        } else {
            &mut main
        };
        let (message, upgrade_sql, downgrade_sql) = operation(index, &id, is_merge, tip);
        tip.revision = Some(index);

        revisions.push(GenRevision {
            down_revisions: parents.iter().map(|&p| revisions[p].id.clone()).collect(),
            id,
            message,
            upgrade_sql,
            downgrade_sql,
            seq: index,
        });
    }
    History { revisions }
}

/// The migration a revision makes, cycling through the three everyday kinds: create a
/// table, add a column to the line's latest table, index that column. Merges create a table.
fn operation(index: usize, id: &str, is_merge: bool, tip: &mut Tip) -> (String, String, String) {
    let kind = if is_merge { 0 } else { index % 3 };
    match (kind, tip.table.clone(), tip.column.clone()) {
        (1, Some(table), _) => {
            let column = format!("c_{index}");
            let up = format!("ALTER TABLE {table} ADD COLUMN {column} VARCHAR(64);\n");
            let down = format!("ALTER TABLE {table} DROP COLUMN {column};\n");
            tip.column = Some(column.clone());
            (format!("add column {column} to {table}"), up, down)
        }
        (2, Some(table), Some(column)) => {
            let index_name = format!("ix_{index}_{column}");
            let up = format!("CREATE INDEX {index_name} ON {table} ({column});\n");
            let down = format!("DROP INDEX {index_name};\n");
            (format!("index {table}.{column}"), up, down)
        }
        _ => {
            let table = format!("t_{id}");
            let up = format!(
                "CREATE TABLE {table} (\n    id INTEGER NOT NULL,\n    name VARCHAR(50) NOT NULL,\n    \
                 created_at TIMESTAMP,\n    PRIMARY KEY (id)\n);\n"
            );
            let down = format!("DROP TABLE {table};\n");
            tip.table = Some(table.clone());
            tip.column = Some("name".to_owned());
            let message = if is_merge {
                format!("merge heads and create {table}")
            } else {
                format!("create table {table}")
            };
            (message, up, down)
        }
    }
}

/// Paths of one written workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// cargo-alembic's `alembic.toml`.
    pub ours_config: PathBuf,
    /// The SQLite file both ours and Alembic's configurations point at (each in its own dir).
    pub ours_db: PathBuf,
    /// Python Alembic's `alembic.ini`.
    pub alembic_ini: PathBuf,
    pub alembic_db: PathBuf,
    /// The concatenated SQL in one transaction, for `sqlite3 db < all.sql`.
    pub shell_sql: PathBuf,
    pub shell_db: PathBuf,
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| BenchError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    fs::write(path, text).map_err(|source| BenchError::Io {
        path: path.to_owned(),
        source,
    })
}

fn create_date(seq: usize) -> String {
    // A fixed day; the seconds keep dates increasing and valid for up to 86,400 revisions.
    let (h, m, s) = (seq / 3600 % 24, seq / 60 % 60, seq % 60);
    format!("2025-08-23 {h:02}:{m:02}:{s:02}.000000")
}

fn slug(message: &str) -> String {
    let mut slug: String = message
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    slug.truncate(40);
    slug
}

/// Writes the workload for `history` under `dir`: `ours/`, `alembic/` and `shell/`.
pub fn write_workload(dir: &Path, history: &History) -> Result<Workload, BenchError> {
    let ours = dir.join("ours");
    let py = dir.join("alembic");
    let shell = dir.join("shell");

    write(
        &ours.join("alembic.toml"),
        "[alembic]\nscript_location = \"migrations\"\nurl = \"sqlite:///bench.db\"\n",
    )?;
    write(
        &ours.join("migrations/script.sql.tmpl"),
        "-- ${message}\n--\n-- Revision ID: ${up_revision}\n-- Revises: ${down_revision}\n\
         -- Create Date: ${create_date}\n\n-- +upgrade\n\n-- +downgrade\n",
    )?;
    write(&py.join("alembic.ini"), ALEMBIC_INI)?;
    write(&py.join("migrations/env.py"), ENV_PY)?;
    write(&py.join("migrations/script.py.mako"), SCRIPT_PY_MAKO)?;

    let mut all_sql = String::from("BEGIN;\n");
    for rev in &history.revisions {
        let name = format!("{}_{}", rev.id, slug(&rev.message));
        write(
            &ours.join(format!("migrations/versions/{name}.sql")),
            &ours_script(rev),
        )?;
        write(
            &py.join(format!("migrations/versions/{name}.py")),
            &python_script(rev),
        )?;
        all_sql.push_str(&rev.upgrade_sql);
    }
    all_sql.push_str("COMMIT;\n");
    write(&shell.join("all.sql"), &all_sql)?;

    Ok(Workload {
        ours_config: ours.join("alembic.toml"),
        ours_db: ours.join("bench.db"),
        alembic_ini: py.join("alembic.ini"),
        alembic_db: py.join("bench.db"),
        shell_sql: shell.join("all.sql"),
        shell_db: shell.join("bench.db"),
    })
}

/// Deletes a SQLite database and its journal files so the next run starts fresh.
pub fn remove_db(db: &Path) -> Result<(), BenchError> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = Path::new(&name);
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(BenchError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// A revision as cargo-alembic's `.sql` script (SPEC section 4).
fn ours_script(rev: &GenRevision) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "-- {}\n--", rev.message);
    let _ = writeln!(text, "-- Revision ID: {}", rev.id);
    let _ = writeln!(text, "-- Revises: {}", rev.down_revisions.join(", "));
    let _ = writeln!(text, "-- Create Date: {}", create_date(rev.seq));
    let _ = write!(
        text,
        "\n-- +upgrade\n{}\n-- +downgrade\n{}",
        rev.upgrade_sql, rev.downgrade_sql
    );
    text
}

/// The same revision as a Python Alembic migration, running the same SQL with `op.execute`.
fn python_script(rev: &GenRevision) -> String {
    let down_revision = match rev.down_revisions.as_slice() {
        [] => "None".to_owned(),
        [one] => format!("'{one}'"),
        many => {
            let quoted: Vec<String> = many.iter().map(|r| format!("'{r}'")).collect();
            format!("({})", quoted.join(", "))
        }
    };
    let revises = rev.down_revisions.join(", ");
    format!(
        "\"\"\"{message}\n\nRevision ID: {id}\nRevises: {revises}\nCreate Date: {date}\n\n\"\"\"\n\
         from alembic import op\n\n\n\
         # revision identifiers, used by Alembic.\n\
         revision = '{id}'\ndown_revision = {down_revision}\nbranch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n    op.execute(\"\"\"{up}\"\"\")\n\n\n\
         def downgrade():\n    op.execute(\"\"\"{down}\"\"\")\n",
        message = rev.message,
        id = rev.id,
        date = create_date(rev.seq),
        up = rev.upgrade_sql.trim_end(),
        down = rev.downgrade_sql.trim_end(),
    )
}

/// Alembic's `generic` template's configuration, pointed at a SQLite file beside it.
pub(crate) const ALEMBIC_INI: &str = "\
[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os
sqlalchemy.url = sqlite:///%(here)s/bench.db

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
";

/// Alembic's `generic` template's env.py, without autogenerate metadata.
const ENV_PY: &str = r#"from logging.config import fileConfig

from sqlalchemy import engine_from_config
from sqlalchemy import pool

from alembic import context

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = None


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )

    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"#;

const SCRIPT_PY_MAKO: &str = r#""""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_alembic_shaped() {
        let h = history(2_000);
        let ids: HashSet<&str> = h.revisions.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 2_000);
        assert!(h
            .revisions
            .iter()
            .all(|r| r.id.len() == 12 && r.id.bytes().all(|b| b.is_ascii_hexdigit())));
    }

    #[test]
    fn history_has_branches_merges_and_one_head() {
        let h = history(1_000);
        assert!(h.merges() >= 3, "merges: {}", h.merges());
        let mut parents: HashSet<&str> = HashSet::new();
        for r in &h.revisions {
            parents.extend(r.down_revisions.iter().map(String::as_str));
        }
        let heads: Vec<&str> = h
            .revisions
            .iter()
            .filter(|r| !parents.contains(r.id.as_str()))
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(heads, vec![h.head().unwrap_or_default()]);
        assert_eq!(
            h.revisions
                .iter()
                .filter(|r| r.down_revisions.is_empty())
                .count(),
            1
        );
    }

    #[test]
    fn sql_applies_in_sqlite() {
        let h = history(600);
        let conn = rusqlite::Connection::open_in_memory().expect("in-memory db");
        for r in &h.revisions {
            conn.execute_batch(&r.upgrade_sql)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", r.id, r.upgrade_sql));
        }
        let tables: usize = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(tables, h.tables_at_head());
        for r in h.revisions.iter().rev() {
            conn.execute_batch(&r.downgrade_sql)
                .unwrap_or_else(|e| panic!("down {}: {e}\n{}", r.id, r.downgrade_sql));
        }
    }
}
