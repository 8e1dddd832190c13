//! MySQL / MariaDB introspection: `information_schema` of the connection's current database,
//! into a [`Schema`].
//!
//! What MySQL reports its own way, normalised here:
//! - a unique index and a `UNIQUE` constraint are the same object there; both are read as a
//!   [`UniqueConstraint`];
//! - InnoDB creates an index for a foreign key that has none, named after the constraint: it
//!   is not read as an index of the user's;
//! - `RESTRICT`, which InnoDB reports for a foreign key action left unspecified, means what
//!   `NO ACTION` means there, the default;
//! - MariaDB quotes literal defaults (`'x'`) and writes `current_timestamp()`; identifiers in
//!   CHECK clauses come back quoted with backticks.

use std::collections::BTreeMap;

use mysql::prelude::Queryable;
use mysql::Conn;

use crate::model::{CheckConstraint, Column, ForeignKey, Index, Schema, Table, UniqueConstraint};
use crate::types::{normalise_default, normalise_expression, parse_type};
use crate::IntrospectError;

/// Reads every base table of the current database except those named in `exclude`.
pub fn introspect(conn: &mut Conn, exclude: &[&str]) -> Result<Schema, IntrospectError> {
    let names: Vec<String> = conn
        .query(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
        )
        .map_err(|e| database("listing the tables", e))?;
    let mut schema = Schema {
        tables: BTreeMap::new(),
    };
    for name in names {
        if exclude.iter().any(|e| e.eq_ignore_ascii_case(&name)) {
            continue;
        }
        let table = read_table(conn, &name)?;
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

fn read_table(conn: &mut Conn, name: &str) -> Result<Table, IntrospectError> {
    let mut table = Table {
        name: name.to_string(),
        ..Table::default()
    };
    let columns: Vec<(String, String, String, Option<String>)> = conn
        .exec(
            "SELECT column_name, column_type, is_nullable, column_default \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            (name,),
        )
        .map_err(|e| database("reading columns", e))?;
    for (column, declared, nullable, default) in columns {
        table.columns.push(Column {
            name: column,
            data_type: parse_type(&declared),
            nullable: nullable == "YES",
            default: default.as_deref().and_then(mysql_default),
        });
    }

    // Key columns of every PRIMARY KEY, UNIQUE and FOREIGN KEY constraint, in key order.
    type KeyRow = (String, String, String, Option<String>, Option<String>);
    let keys: Vec<KeyRow> = conn
        .exec(
            "SELECT tc.constraint_name, tc.constraint_type, k.column_name, \
                    k.referenced_table_name, k.referenced_column_name \
             FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage k \
               ON k.constraint_schema = tc.constraint_schema \
              AND k.table_name = tc.table_name AND k.constraint_name = tc.constraint_name \
             WHERE tc.table_schema = DATABASE() AND tc.table_name = ? \
             ORDER BY tc.constraint_name, k.ordinal_position",
            (name,),
        )
        .map_err(|e| database("reading constraints", e))?;
    // By constraint name, which is kept: MySQL drops these by name.
    let mut uniques: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut foreign: BTreeMap<String, ForeignKey> = BTreeMap::new();
    for (constraint, kind, column, referred_table, referred_column) in keys {
        match kind.as_str() {
            "PRIMARY KEY" => table.primary_key.push(column),
            "UNIQUE" => uniques.entry(constraint).or_default().push(column),
            "FOREIGN KEY" => {
                let fk = foreign
                    .entry(constraint.clone())
                    .or_insert_with(|| ForeignKey {
                        name: Some(constraint),
                        columns: Vec::new(),
                        referred_table: referred_table.unwrap_or_default(),
                        referred_columns: Vec::new(),
                        on_delete: None,
                        on_update: None,
                    });
                fk.columns.push(column);
                fk.referred_columns.extend(referred_column);
            }
            _ => {}
        }
    }
    let rules: Vec<(String, String, String)> = conn
        .exec(
            "SELECT constraint_name, update_rule, delete_rule \
             FROM information_schema.referential_constraints \
             WHERE constraint_schema = DATABASE() AND table_name = ?",
            (name,),
        )
        .map_err(|e| database("reading foreign key actions", e))?;
    for (constraint, on_update, on_delete) in rules {
        if let Some(fk) = foreign.get_mut(&constraint) {
            fk.on_update = action(&on_update);
            fk.on_delete = action(&on_delete);
        }
    }

    // Indexes of the user's: not the primary key, not a unique one (a constraint, above),
    // not one InnoDB made for a foreign key.
    let parts: Vec<(String, String)> = conn
        .exec(
            "SELECT index_name, column_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND non_unique = 1 \
             ORDER BY index_name, seq_in_index",
            (name,),
        )
        .map_err(|e| database("reading indexes", e))?;
    let mut indexes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (index, column) in parts {
        indexes.entry(index).or_default().push(column);
    }
    for (index, columns) in indexes {
        if foreign.contains_key(&index) {
            continue;
        }
        table.indexes.push(Index {
            name: index,
            columns,
            unique: false,
            predicate: None,
        });
    }

    table.uniques = uniques
        .into_iter()
        .map(|(name, columns)| UniqueConstraint {
            columns,
            name: Some(name),
        })
        .collect();
    table.foreign_keys = foreign.into_values().collect();
    table.checks = checks(conn, name)?
        .into_iter()
        .map(|(name, clause)| CheckConstraint {
            expression: normalise_expression(&clause.replace('`', "")),
            name: Some(name),
        })
        .collect();
    table.normalise();
    Ok(table)
}

/// The CHECK constraints of a table (name, clause). MariaDB's `check_constraints` names the table; MySQL 8's
/// does not (its constraint names are unique per schema), so it is joined through
/// `table_constraints` there.
fn checks(conn: &mut Conn, table: &str) -> Result<Vec<(String, String)>, IntrospectError> {
    let mariadb: Result<Vec<(String, String)>, _> = conn.exec(
        "SELECT constraint_name, check_clause FROM information_schema.check_constraints \
         WHERE constraint_schema = DATABASE() AND table_name = ?",
        (table,),
    );
    match mariadb {
        Ok(clauses) => Ok(clauses),
        Err(_) => conn
            .exec(
                "SELECT cc.constraint_name, cc.check_clause FROM information_schema.table_constraints tc \
                 JOIN information_schema.check_constraints cc \
                   ON cc.constraint_schema = tc.constraint_schema \
                  AND cc.constraint_name = tc.constraint_name \
                 WHERE tc.table_schema = DATABASE() AND tc.table_name = ? \
                   AND tc.constraint_type = 'CHECK'",
                (table,),
            )
            .map_err(|e| database("reading check constraints", e)),
    }
}

/// A column default as MySQL (unquoted literals) or MariaDB (quoted literals, `NULL` as text,
/// `current_timestamp()`) reports it.
fn mysql_default(reported: &str) -> Option<String> {
    let lower = reported.trim().to_ascii_lowercase();
    if lower == "current_timestamp()" || lower == "current_timestamp" {
        return Some("CURRENT_TIMESTAMP".to_string());
    }
    normalise_default(reported)
}

/// `NO ACTION` and `RESTRICT` are the same in InnoDB, and what an unspecified action means.
fn action(rule: &str) -> Option<String> {
    let upper = rule.trim().to_ascii_uppercase();
    (!matches!(upper.as_str(), "" | "NO ACTION" | "RESTRICT")).then_some(upper)
}

fn database(doing: &str, error: mysql::Error) -> IntrospectError {
    IntrospectError::Database {
        doing: doing.to_string(),
        message: error.to_string(),
    }
}
