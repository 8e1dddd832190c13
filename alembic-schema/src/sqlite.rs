//! SQLite introspection: `sqlite_schema` and the table pragmas, into a [`Schema`].
//!
//! SQLite keeps less in its catalogue than the server databases: no constraint names, and
//! CHECK constraints only as part of the `CREATE TABLE` text, which is scanned for them here.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::model::{CheckConstraint, Column, ForeignKey, Index, Schema, Table, UniqueConstraint};
use crate::types::{normalise_default, normalise_expression, parse_type};
use crate::IntrospectError;

/// Reads every table of `conn`'s main database except SQLite's own and those named in
/// `exclude` (the version and history tables of the migration tool).
pub fn introspect(conn: &Connection, exclude: &[&str]) -> Result<Schema, IntrospectError> {
    let tables: Vec<(String, String)> = query(
        conn,
        "listing the tables",
        "SELECT name, sql FROM sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        |row| {
            Ok((
                row.get(0)?,
                row.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        },
    )?;
    let mut schema = Schema {
        tables: BTreeMap::new(),
    };
    for (name, sql) in tables {
        if exclude.iter().any(|e| e.eq_ignore_ascii_case(&name)) {
            continue;
        }
        let table = read_table(conn, &name, &sql)?;
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

fn read_table(conn: &Connection, name: &str, sql: &str) -> Result<Table, IntrospectError> {
    let quoted = quote_ident(name);
    let mut table = Table {
        name: name.to_string(),
        ..Table::default()
    };

    // cid, name, type, notnull, dflt_value, pk, hidden (hidden 1: a virtual table's hidden
    // column, not part of the table's shape).
    let columns: Vec<(String, String, bool, Option<String>, i64, i64)> = query(
        conn,
        "reading columns",
        &format!("PRAGMA table_xinfo({quoted})"),
        |row| {
            Ok((
                row.get(1)?,
                row.get(2)?,
                row.get::<_, i64>(3)? != 0,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            ))
        },
    )?;
    let mut key: Vec<(i64, String)> = Vec::new();
    for (column, declared, not_null, default, pk, hidden) in columns {
        if hidden == 1 {
            continue;
        }
        if pk > 0 {
            key.push((pk, column.clone()));
        }
        table.columns.push(Column {
            name: column,
            data_type: parse_type(&declared),
            nullable: !not_null,
            default: default.as_deref().and_then(normalise_default),
        });
    }
    key.sort();
    table.primary_key = key.into_iter().map(|(_, c)| c).collect();

    // seq, name, unique, origin ('c' CREATE INDEX, 'u' UNIQUE constraint, 'pk'), partial.
    let indexes: Vec<(String, bool, String)> = query(
        conn,
        "listing indexes",
        &format!("PRAGMA index_list({quoted})"),
        |row| Ok((row.get(1)?, row.get::<_, i64>(2)? != 0, row.get(3)?)),
    )?;
    for (index, unique, origin) in indexes {
        let columns = index_columns(conn, &index)?;
        match origin.as_str() {
            "pk" => {}
            "u" => table.uniques.push(UniqueConstraint {
                columns,
                name: None,
            }),
            _ => {
                let index_sql: Option<String> = conn
                    .query_row(
                        "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?1",
                        [&index],
                        |row| row.get(0),
                    )
                    .map_err(|e| database("reading an index", e))?;
                table.indexes.push(Index {
                    name: index,
                    columns,
                    unique,
                    predicate: index_sql.as_deref().and_then(partial_predicate),
                });
            }
        }
    }

    // id, seq, table, from, to, on_update, on_delete, match; one row per column pair.
    type FkRow = (i64, String, String, Option<String>, String, String);
    let rows: Vec<FkRow> = query(
        conn,
        "reading foreign keys",
        &format!("PRAGMA foreign_key_list({quoted})"),
        |row| {
            Ok((
                row.get(0)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            ))
        },
    )?;
    let mut by_id: BTreeMap<i64, ForeignKey> = BTreeMap::new();
    for (id, referred, from, to, on_update, on_delete) in rows {
        let fk = by_id.entry(id).or_insert_with(|| ForeignKey {
            name: None,
            columns: Vec::new(),
            referred_table: referred.clone(),
            referred_columns: Vec::new(),
            on_delete: action(&on_delete),
            on_update: action(&on_update),
        });
        fk.columns.push(from);
        if let Some(to) = to {
            fk.referred_columns.push(to);
        }
    }
    for mut fk in by_id.into_values() {
        // `REFERENCES parent` without columns means the parent's primary key.
        if fk.referred_columns.is_empty() {
            fk.referred_columns = primary_key_of(conn, &fk.referred_table)?;
        }
        table.foreign_keys.push(fk);
    }

    table.checks = check_constraints(sql)
        .into_iter()
        .map(|expression| CheckConstraint {
            expression,
            name: None,
        })
        .collect();
    table.normalise();
    Ok(table)
}

fn index_columns(conn: &Connection, index: &str) -> Result<Vec<String>, IntrospectError> {
    // seqno, cid, name (NULL for an expression), desc, coll, key.
    let parts: Vec<(Option<String>, bool)> = query(
        conn,
        "reading index columns",
        &format!("PRAGMA index_xinfo({})", quote_ident(index)),
        |row| Ok((row.get(2)?, row.get::<_, i64>(5)? != 0)),
    )?;
    Ok(parts
        .into_iter()
        .filter(|(_, key)| *key)
        .map(|(name, _)| name.unwrap_or_else(|| "<expression>".to_string()))
        .collect())
}

fn primary_key_of(conn: &Connection, table: &str) -> Result<Vec<String>, IntrospectError> {
    let mut key: Vec<(i64, String)> = query(
        conn,
        "reading a referred primary key",
        &format!("PRAGMA table_info({})", quote_ident(table)),
        |row| Ok((row.get(5)?, row.get(1)?)),
    )?
    .into_iter()
    .filter(|(pk, _)| *pk > 0)
    .collect();
    key.sort();
    Ok(key.into_iter().map(|(_, c)| c).collect())
}

/// `NO ACTION` is the default however it is spelled.
fn action(text: &str) -> Option<String> {
    let upper = text.trim().to_ascii_uppercase();
    (!upper.is_empty() && upper != "NO ACTION").then_some(upper)
}

/// The `WHERE` clause of a `CREATE INDEX` statement, normalised.
fn partial_predicate(sql: &str) -> Option<String> {
    let tokens = scan(sql);
    let at = tokens
        .iter()
        .find(|t| t.depth == 0 && t.word.eq_ignore_ascii_case("where"))?;
    Some(normalise_expression(&sql[at.end..]))
}

/// The expressions of the CHECK constraints of a `CREATE TABLE` statement (column and table
/// constraints alike), normalised.
fn check_constraints(create_table: &str) -> Vec<String> {
    let tokens = scan(create_table);
    let mut out = Vec::new();
    for token in tokens
        .iter()
        .filter(|t| t.word.eq_ignore_ascii_case("check"))
    {
        if let Some(body) = balanced_parens(create_table, token.end) {
            out.push(normalise_expression(body));
        }
    }
    out
}

/// A bare word of SQL text outside literals, quoted identifiers and comments, with its
/// parenthesis depth and where it ends.
struct Word<'a> {
    word: &'a str,
    end: usize,
    depth: usize,
}

fn scan(sql: &str) -> Vec<Word<'_>> {
    let bytes = sql.as_bytes();
    let mut words = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' | b'`' => {
                let q = bytes[i];
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == q {
                        if bytes.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'[' => {
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                words.push(Word {
                    word: &sql[start..i],
                    end: i,
                    depth,
                });
            }
            _ => i += 1,
        }
    }
    words
}

/// The text inside the parentheses that open at or after `from` (skipping whitespace).
fn balanced_parens(sql: &str, from: usize) -> Option<&str> {
    let rest = &sql[from..];
    let open = from + rest.find(|c: char| !c.is_whitespace())?;
    if sql.as_bytes()[open] != b'(' {
        return None;
    }
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for (i, &b) in sql.as_bytes().iter().enumerate().skip(open) {
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'\'' | b'"' | b'`' => quote = Some(b),
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&sql[open + 1..i]);
                }
            }
            _ => {}
        }
    }
    None
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn database(doing: &str, error: rusqlite::Error) -> IntrospectError {
    IntrospectError::Database {
        doing: doing.to_string(),
        message: error.to_string(),
    }
}

fn query<T>(
    conn: &Connection,
    doing: &str,
    sql: &str,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, IntrospectError> {
    let mut statement = conn.prepare(sql).map_err(|e| database(doing, e))?;
    let rows = statement
        .query_map([], map)
        .map_err(|e| database(doing, e))?;
    rows.collect::<Result<Vec<T>, _>>()
        .map_err(|e| database(doing, e))
}
