//! The desired schema (`schema.sql`) read into the model: the file is run on a scratch database
//! of the project's dialect and that database is introspected, so that the desired schema and
//! the real one are both described by the same database's catalogue (parsing DDL ourselves
//! would have to agree with three databases on every default and alias).
//!
//! - SQLite: a database in memory, gone with its connection.
//! - PostgreSQL / MySQL: a temporary database on the same server
//!   (`alembic_scratch_<pid>_<n>`), dropped afterwards on every path, errors included.
//!
//! Statements run one at a time so that an error names the line of `schema.sql` where the
//! failing statement starts.
//!
//! This lives here rather than in the CLI because `cargo alembic test` and the runtime's
//! migration checks load `schema.sql` the same way; the CLI only says which server to use.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::model::Schema;
use crate::IntrospectError;

/// Loading the desired schema failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScratchError {
    /// The schema file could not be read.
    #[error("cannot read the desired schema {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A statement of the schema file failed on the scratch database.
    #[error("{}:{line}: {message}", path.display())]
    Statement {
        path: PathBuf,
        /// 1-based line where the failing statement starts.
        line: usize,
        message: String,
    },
    /// Creating, using or dropping the scratch database failed.
    #[error("scratch database {name}: {doing}: {message}")]
    Scratch {
        name: String,
        doing: String,
        message: String,
    },
    /// Reading the scratch database's catalogue failed.
    #[error(transparent)]
    Introspect(#[from] IntrospectError),
}

/// The schema file that applies for a dialect: `<stem>.<dialect>.sql` beside `base` when it
/// exists (dialect one of `sqlite`, `postgresql`, `mysql`), else `base` itself.
pub fn schema_file(base: &Path, dialect: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let specific = base.with_file_name(format!("{stem}.{dialect}.sql"));
    if specific.is_file() {
        specific
    } else {
        base.to_path_buf()
    }
}

/// Reads a schema file (for the error naming it).
pub fn read(path: &Path) -> Result<String, ScratchError> {
    std::fs::read_to_string(path).map_err(|source| ScratchError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A name no other run of this process or another one uses at the same time.
pub fn scratch_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "alembic_scratch_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The statements of a SQL file with the 1-based line each starts on. Splits on `;` outside
/// quotes ('...', "...", `...`, PostgreSQL's $tag$...$tag$) and comments; a `CREATE TRIGGER`
/// runs to its `END;`.
pub fn split_statements(sql: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut line = 1;
    let mut start_line: Option<usize> = None;
    let mut i = 0;
    let push = |current: &mut String, start: &mut Option<usize>, out: &mut Vec<(usize, String)>| {
        let text = current.trim().to_string();
        if !text.is_empty() {
            out.push((start.unwrap_or(1), text));
        }
        current.clear();
        *start = None;
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 2;
            current.push(' ');
            continue;
        }
        if c == '\n' {
            line += 1;
            current.push(c);
            i += 1;
            continue;
        }
        if !c.is_whitespace() && start_line.is_none() {
            start_line = Some(line);
        }
        if c == '\'' || c == '"' || c == '`' {
            current.push(c);
            i += 1;
            while i < chars.len() {
                let d = chars[i];
                current.push(d);
                i += 1;
                if d == '\n' {
                    line += 1;
                }
                if d == c {
                    if chars.get(i) == Some(&c) {
                        current.push(c);
                        i += 1;
                        continue;
                    }
                    break;
                }
            }
            continue;
        }
        if c == '$' {
            // A dollar-quote tag: $$ or $name$.
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j < chars.len()
                && chars[j] == '$'
                && !chars[i + 1..j].iter().any(|c| c.is_ascii_digit())
            {
                let tag: String = chars[i..=j].iter().collect();
                current.push_str(&tag);
                i = j + 1;
                let tag_chars: Vec<char> = tag.chars().collect();
                while i < chars.len() {
                    if chars[i..].starts_with(&tag_chars) {
                        current.push_str(&tag);
                        i += tag_chars.len();
                        break;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    current.push(chars[i]);
                    i += 1;
                }
                continue;
            }
        }
        if c == ';' {
            let upper = current.trim().to_ascii_uppercase();
            let words: Vec<&str> = upper.split_whitespace().collect();
            let is_trigger =
                words.first() == Some(&"CREATE") && words.iter().take(4).any(|w| *w == "TRIGGER");
            if is_trigger && !words.last().is_some_and(|w| *w == "END") {
                current.push(c);
                i += 1;
                continue;
            }
            push(&mut current, &mut start_line, &mut out);
            i += 1;
            continue;
        }
        current.push(c);
        i += 1;
    }
    push(&mut current, &mut start_line, &mut out);
    out
}

/// Runs `sql` (read from `path`) statement by statement with `run`, naming the line of the
/// first that fails.
fn run_all(
    sql: &str,
    path: &Path,
    mut run: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), ScratchError> {
    for (line, statement) in split_statements(sql) {
        run(&statement).map_err(|message| ScratchError::Statement {
            path: path.to_path_buf(),
            line,
            message,
        })?;
    }
    Ok(())
}

/// The desired schema on SQLite: `sql` run on a database in memory, introspected.
#[cfg(feature = "sqlite")]
pub fn sqlite(sql: &str, path: &Path, exclude: &[&str]) -> Result<Schema, ScratchError> {
    let conn = rusqlite::Connection::open_in_memory().map_err(|e| ScratchError::Scratch {
        name: ":memory:".into(),
        doing: "opening".into(),
        message: e.to_string(),
    })?;
    run_all(sql, path, |s| {
        conn.execute_batch(s).map_err(|e| e.to_string())
    })?;
    Ok(crate::sqlite::introspect(&conn, exclude)?)
}

/// The desired schema on PostgreSQL: a database created with `admin` (a connection to the
/// same server), `sql` run in it through the client `connect` opens for the database name it
/// is given, introspected, and the database dropped again whatever happened.
#[cfg(feature = "postgres")]
pub fn postgres(
    admin: &mut postgres::Client,
    connect: impl FnOnce(&str) -> Result<postgres::Client, String>,
    sql: &str,
    path: &Path,
    exclude: &[&str],
) -> Result<Schema, ScratchError> {
    let name = scratch_name();
    let fail = |doing: &str, message: String| ScratchError::Scratch {
        name: name.clone(),
        doing: doing.to_string(),
        message,
    };
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .map_err(|e| fail("creating it", pg_message(&e)))?;
    let result: Result<Schema, ScratchError> = (|| {
        let mut client = connect(&name).map_err(|m| fail("connecting to it", m))?;
        run_all(sql, path, |s| {
            client.batch_execute(s).map_err(|e| pg_message(&e))
        })?;
        let schema = crate::postgres::introspect(&mut client, exclude)?;
        // The connection must be closed before the database can be dropped.
        drop(client);
        Ok(schema)
    })();
    let dropped = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .map_err(|e| fail("dropping it (drop it by hand)", pg_message(&e)));
    let schema = result?;
    dropped?;
    Ok(schema)
}

/// PostgreSQL's own message (the `db error: ` prefix of the client says nothing).
#[cfg(feature = "postgres")]
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}

/// The desired schema on MySQL / MariaDB: as [`postgres`], with `CREATE DATABASE`.
#[cfg(feature = "mysql")]
pub fn mysql(
    admin: &mut mysql::Conn,
    connect: impl FnOnce(&str) -> Result<mysql::Conn, String>,
    sql: &str,
    path: &Path,
    exclude: &[&str],
) -> Result<Schema, ScratchError> {
    use mysql::prelude::Queryable;
    let name = scratch_name();
    let fail = |doing: &str, message: String| ScratchError::Scratch {
        name: name.clone(),
        doing: doing.to_string(),
        message,
    };
    admin
        .query_drop(format!("CREATE DATABASE `{name}`"))
        .map_err(|e| fail("creating it", e.to_string()))?;
    let result: Result<Schema, ScratchError> = (|| {
        let mut conn = connect(&name).map_err(|m| fail("connecting to it", m))?;
        run_all(sql, path, |s| conn.query_drop(s).map_err(|e| e.to_string()))?;
        Ok(crate::mysql::introspect(&mut conn, exclude)?)
    })();
    let dropped = admin
        .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
        .map_err(|e| fail("dropping it (drop it by hand)", e.to_string()));
    let schema = result?;
    dropped?;
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_and_comments_with_their_lines() {
        let sql = "-- a comment; not a statement\nCREATE TABLE a (x TEXT DEFAULT ';');\n\n\
                   /* block; */ CREATE TABLE \"b;\" (y INT);\nCREATE TRIGGER t AFTER INSERT ON a \
                   BEGIN\n  DELETE FROM a;\nEND;\nSELECT $$ ; $$";
        let got = split_statements(sql);
        let lines: Vec<usize> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 4, 5, 8], "{got:?}");
        assert_eq!(got[0].1, "CREATE TABLE a (x TEXT DEFAULT ';')");
        assert!(got[2].1.ends_with("END"), "{got:?}");
        assert_eq!(got[3].1, "SELECT $$ ; $$");
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_scratch_names_the_failing_line() {
        let path = Path::new("migrations/schema.sql");
        let schema = sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY);", path, &[]).unwrap();
        assert!(schema.tables.contains_key("a"));
        let e = sqlite(
            "CREATE TABLE a (id INTEGER PRIMARY KEY);\n\nCREATE TABLE b (id INTEGER,,);",
            path,
            &[],
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("migrations/schema.sql:3: "), "{text}");
    }

    #[test]
    fn a_dialect_file_beside_the_schema_wins() {
        let dir = std::env::temp_dir().join(scratch_name());
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("schema.sql");
        assert_eq!(schema_file(&base, "postgresql"), base);
        std::fs::write(dir.join("schema.postgresql.sql"), "").unwrap();
        assert_eq!(
            schema_file(&base, "postgresql"),
            dir.join("schema.postgresql.sql")
        );
        assert_eq!(schema_file(&base, "mysql"), base);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
