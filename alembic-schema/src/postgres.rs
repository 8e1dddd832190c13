//! PostgreSQL introspection: `pg_catalog` of the connection's current schema, into a
//! [`Schema`].
//!
//! The catalogue's own renderings (`format_type`, `pg_get_expr`, `pg_get_constraintdef`) are
//! used rather than re-deriving SQL from raw catalogue fields: they are what PostgreSQL itself
//! considers the definition, and they are stable for one server, which is what a comparison
//! between a scratch database and the real one on the same server needs.

use std::collections::BTreeMap;

use postgres::Client;

use crate::model::{CheckConstraint, Column, ForeignKey, Index, Schema, Table, UniqueConstraint};
use crate::types::{normalise_default, normalise_expression, parse_type};
use crate::IntrospectError;

/// Reads every ordinary (and partitioned) table of the current schema except those named in
/// `exclude` (the migration tool's own tables).
pub fn introspect(client: &mut Client, exclude: &[&str]) -> Result<Schema, IntrospectError> {
    let names: Vec<(u32, String)> = client
        .query(
            "SELECT c.oid, c.relname FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             ORDER BY c.relname",
            &[],
        )
        .map_err(|e| database("listing the tables", e))?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut schema = Schema {
        tables: BTreeMap::new(),
    };
    for (oid, name) in names {
        if exclude.iter().any(|e| *e == name) {
            continue;
        }
        let table = read_table(client, oid, &name)?;
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

fn read_table(client: &mut Client, oid: u32, name: &str) -> Result<Table, IntrospectError> {
    let mut table = Table {
        name: name.to_string(),
        ..Table::default()
    };
    for row in client
        .query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                    pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_attribute a \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&oid],
        )
        .map_err(|e| database("reading columns", e))?
    {
        let declared: String = row.get(1);
        let default: Option<String> = row.get(3);
        table.columns.push(Column {
            name: row.get(0),
            data_type: parse_type(&declared),
            nullable: !row.get::<_, bool>(2),
            default: default
                .as_deref()
                .and_then(|d| normalise_default(&strip_casts(d))),
        });
    }

    // Constraints, with their columns in key order (`conkey` is an array of attnums).
    let constraints = client
        .query(
            "SELECT con.contype::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n \
                          ORDER BY k.i), \
                    pg_get_constraintdef(con.oid), \
                    ref.relname::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n \
                          ORDER BY k.i), \
                    con.confdeltype::text, con.confupdtype::text, con.conname::text \
             FROM pg_constraint con \
             LEFT JOIN pg_class ref ON ref.oid = con.confrelid \
             WHERE con.conrelid = $1 AND con.contype IN ('p', 'u', 'c', 'f')",
            &[&oid],
        )
        .map_err(|e| database("reading constraints", e))?;
    for row in constraints {
        let kind: String = row.get(0);
        let columns: Vec<String> = row.get(1);
        // Kept so that a migration can drop the constraint by the name it has.
        let name: Option<String> = row.get(7);
        match kind.as_str() {
            "p" => {
                table.primary_key = columns;
                table.primary_key_name = name;
            }
            "u" => table.uniques.push(UniqueConstraint { columns, name }),
            "c" => {
                let definition: String = row.get(2);
                table.checks.push(CheckConstraint {
                    expression: check_expression(&definition),
                    name,
                });
            }
            _ => table.foreign_keys.push(ForeignKey {
                columns,
                referred_table: row.get::<_, Option<String>>(3).unwrap_or_default(),
                referred_columns: row.get(4),
                on_delete: action(row.get::<_, Option<String>>(5).as_deref()),
                on_update: action(row.get::<_, Option<String>>(6).as_deref()),
                name,
            }),
        }
    }

    // Indexes of their own: not those a primary key, unique or exclusion constraint made.
    let indexes = client
        .query(
            "SELECT i.relname::text, ix.indisunique, \
                    ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k, true) \
                          FROM generate_series(1, ix.indnkeyatts) k ORDER BY k), \
                    pg_get_expr(ix.indpred, ix.indrelid) \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
             WHERE ix.indrelid = $1 AND NOT EXISTS \
                   (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid \
                    AND c.contype IN ('p', 'u', 'x'))",
            &[&oid],
        )
        .map_err(|e| database("reading indexes", e))?;
    for row in indexes {
        let columns: Vec<String> = row.get(2);
        let predicate: Option<String> = row.get(3);
        table.indexes.push(Index {
            name: row.get(0),
            columns: columns
                .iter()
                .map(|c| normalise_expression(&strip_casts(c)))
                .collect(),
            unique: row.get(1),
            predicate: predicate.map(|p| normalise_expression(&strip_casts(&p))),
        });
    }
    table.normalise();
    Ok(table)
}

/// `CHECK ((price >= (0)::numeric))` -> `price >= 0`.
fn check_expression(definition: &str) -> String {
    let body = definition
        .trim()
        .strip_prefix("CHECK")
        .unwrap_or(definition)
        .trim();
    let body = body.strip_suffix(" NOT VALID").unwrap_or(body);
    normalise_expression(&strip_casts(body))
}

/// Removes the casts PostgreSQL adds when it stores an expression (`'x'::text`,
/// `(0)::numeric`, `'a'::character varying`), which the schema's author did not write and
/// which differ with the column type rather than the meaning. A cast is `::` followed by a
/// type name (words, spaces inside `character varying`, an optional `(n)` and `[]`).
fn strip_casts(expression: &str) -> String {
    let bytes = expression.as_bytes();
    let mut out = String::with_capacity(expression.len());
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            out.push(b as char);
            if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if b == b'\'' || b == b'"' {
            quote = Some(b);
            out.push(b as char);
            i += 1;
            continue;
        }
        if b == b':' && bytes.get(i + 1) == Some(&b':') {
            i += 2;
            // The type name: words separated by single spaces while the next word continues
            // a known multi-word type, then an optional (args) and [].
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let rest = &expression[i..];
                let continues = ["varying", "precision", "without", "with", "time", "zone"]
                    .iter()
                    .any(|w| rest.strip_prefix(' ').is_some_and(|r| r.starts_with(w)));
                if continues {
                    i += 1;
                } else {
                    break;
                }
            }
            if bytes.get(i) == Some(&b'(') {
                while i < bytes.len() && bytes[i] != b')' {
                    i += 1;
                }
                i += 1;
            }
            while expression[i.min(bytes.len())..].starts_with("[]") {
                i += 2;
            }
            continue;
        }
        // Multi-byte characters are copied whole.
        let ch = expression[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// `confdeltype`/`confupdtype`: `a` is NO ACTION, the default.
fn action(code: Option<&str>) -> Option<String> {
    match code? {
        "r" => Some("RESTRICT".into()),
        "c" => Some("CASCADE".into()),
        "n" => Some("SET NULL".into()),
        "d" => Some("SET DEFAULT".into()),
        _ => None,
    }
}

fn database(doing: &str, error: postgres::Error) -> IntrospectError {
    IntrospectError::Database {
        doing: doing.to_string(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_postgres_added_are_removed() {
        assert_eq!(strip_casts("'x'::text"), "'x'");
        assert_eq!(strip_casts("'a'::character varying"), "'a'");
        assert_eq!(strip_casts("(price >= (0)::numeric)"), "(price >= (0))");
        assert_eq!(strip_casts("'it''s'::text"), "'it''s'");
        assert_eq!(strip_casts("now()::timestamp without time zone"), "now()");
        assert_eq!(strip_casts("'{}'::integer[]"), "'{}'");
        assert_eq!(strip_casts("'::'::text"), "'::'");
    }

    #[test]
    fn check_definitions_become_expressions() {
        assert_eq!(
            check_expression("CHECK ((price >= (0)::numeric))"),
            "price >= (0)"
        );
        assert_eq!(
            check_expression("CHECK ((length(title) > 0))"),
            "length(title) > 0"
        );
    }
}
