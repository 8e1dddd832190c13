//! Round trips on SQLite: for random pairs of schemas A and B, the SQL rendered from
//! diff(A, B) takes a database at A exactly to B, keeping the rows of the columns both have,
//! and the SQL of diff(B, A) takes it back to exactly A.

use alembic_schema::sqlite::introspect;
use alembic_schema::{
    diff, render, CheckConstraint, Column, DataType, ForeignKey, Index, Schema, Table,
    UniqueConstraint,
};
use proptest::prelude::*;
use rusqlite::Connection;

fn apply(conn: &Connection, statements: &[String]) {
    for statement in statements.iter().filter(|s| !s.starts_with("--")) {
        conn.execute_batch(statement)
            .unwrap_or_else(|e| panic!("{e}\n{statement}\nin:\n{}", statements.join(";\n")));
    }
}

/// SQLite's procedure for schema changes that rebuild tables: foreign keys off (rusqlite's
/// bundled SQLite enables them by default), the changes in a transaction, a foreign-key check
/// before committing.
fn migrate(conn: &Connection, to: &Schema) {
    let from = introspect(conn, &[]).expect("introspect");
    let changes = diff(&from, to);
    conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN")
        .expect("begin");
    apply(conn, &render::sqlite(&changes, &from, to));
    let mut check = conn.prepare("PRAGMA foreign_key_check").expect("check");
    let violations = check.query_map([], |_| Ok(())).expect("check").count();
    assert_eq!(violations, 0, "foreign key violations after the migration");
    drop(check);
    conn.execute_batch("COMMIT; PRAGMA foreign_keys = ON")
        .expect("commit");
}

fn column(name: &'static str) -> impl Strategy<Value = Column> {
    (
        prop::sample::select(vec![
            DataType::Integer,
            DataType::Text,
            DataType::BigInt,
            DataType::Varchar(Some(40)),
            DataType::Numeric(Some((10, 2))),
            DataType::Boolean,
            DataType::Timestamp,
        ]),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![
            "0",
            "1",
            "'x'",
            "CURRENT_TIMESTAMP",
        ])),
    )
        .prop_map(move |(data_type, nullable, default)| Column {
            name: name.to_string(),
            data_type,
            nullable,
            // A NOT NULL column added to a table with rows needs a default (the renderer
            // flags the case for review; it cannot invent values).
            default: default
                .map(str::to_string)
                .or_else(|| (!nullable).then(|| "0".to_string())),
        })
}

/// A table `name` with an integer key `id` and some of the columns a, b, c.
fn table(name: &'static str) -> impl Strategy<Value = Table> {
    (
        prop::option::of(column("a")),
        prop::option::of(column("b")),
        prop::option::of(column("c")),
        any::<(bool, bool, bool)>(),
    )
        .prop_map(move |(a, b, c, (indexed, unique, checked))| {
            let mut columns = vec![Column {
                name: "id".into(),
                data_type: DataType::Integer,
                nullable: false,
                default: None,
            }];
            columns.extend([a, b, c].into_iter().flatten());
            let first = columns.get(1).map(|c| c.name.clone());
            let mut t = Table {
                name: name.to_string(),
                columns,
                primary_key: vec!["id".into()],
                ..Table::default()
            };
            if let Some(first) = first {
                if indexed {
                    t.indexes.push(Index {
                        name: format!("ix_{name}_{first}"),
                        columns: vec![first.clone()],
                        unique: false,
                        predicate: None,
                    });
                }
                if unique {
                    t.uniques.push(UniqueConstraint {
                        name: None,
                        columns: vec![first.clone()],
                    });
                    // Added to a table with rows, a unique column must start out NULL: one
                    // default in every row would violate it (the renderer flags that case).
                    if let Some(column) = t.columns.iter_mut().find(|c| c.name == first) {
                        column.nullable = true;
                        column.default = None;
                    }
                }
                if checked {
                    t.checks.push(CheckConstraint {
                        name: None,
                        expression: format!("{first} IS NOT 7"),
                    });
                }
            }
            t
        })
}

fn schema() -> impl Strategy<Value = Schema> {
    (
        prop::option::of(table("parent")),
        prop::option::of(table("child")),
        any::<bool>(),
    )
        .prop_map(|(parent, child, linked)| {
            let mut tables = Vec::new();
            let has_parent = parent.is_some();
            tables.extend(parent);
            if let Some(mut child) = child {
                if linked && has_parent {
                    child.columns.push(Column {
                        name: "parent_id".into(),
                        data_type: DataType::Integer,
                        nullable: true,
                        default: None,
                    });
                    child.foreign_keys.push(ForeignKey {
                        name: None,
                        columns: vec!["parent_id".into()],
                        referred_table: "parent".into(),
                        referred_columns: vec!["id".into()],
                        on_delete: Some("CASCADE".into()),
                        on_update: None,
                    });
                }
                tables.push(child);
            }
            let mut schema = Schema::default();
            for mut t in tables {
                t.normalise();
                schema.tables.insert(t.name.clone(), t);
            }
            schema
        })
}

/// Rows in every table: ids 1 and 2, a value in every column.
fn insert_rows(conn: &Connection, schema: &Schema) {
    // Referred tables first.
    let mut tables: Vec<&Table> = schema.tables.values().collect();
    tables.sort_by_key(|t| t.foreign_keys.len());
    for table in tables {
        for id in [1, 2] {
            let mut names = vec!["id".to_string()];
            let mut values = vec![id.to_string()];
            for c in &table.columns {
                if c.name == "id" {
                    continue;
                }
                names.push(c.name.clone());
                values.push(if c.name == "parent_id" {
                    if schema.tables.contains_key("parent") {
                        id.to_string()
                    } else {
                        "NULL".into()
                    }
                } else {
                    // Distinct per row, for unique columns; SQLite takes text in any column.
                    format!("'{id}'")
                });
            }
            conn.execute_batch(&format!(
                "INSERT INTO \"{}\" ({}) VALUES ({})",
                table.name,
                names.join(", "),
                values.join(", ")
            ))
            .unwrap_or_else(|e| panic!("{e}: rows for {}", table.name));
        }
    }
}

fn ids(conn: &Connection, table: &str) -> Vec<i64> {
    let mut stmt = conn
        .prepare(&format!("SELECT id FROM \"{table}\" ORDER BY id"))
        .expect("select");
    let rows = stmt.query_map([], |r| r.get(0)).expect("rows");
    rows.collect::<Result<_, _>>().expect("ids")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn upgrade_reaches_b_and_downgrade_returns_to_a(a in schema(), b in schema()) {
        let conn = Connection::open_in_memory().expect("db");
        migrate(&conn, &a);
        prop_assert_eq!(&introspect(&conn, &[]).expect("introspect"), &a, "creating A");
        insert_rows(&conn, &a);

        migrate(&conn, &b);
        prop_assert_eq!(&introspect(&conn, &[]).expect("introspect"), &b, "upgrade A -> B");
        // Rows survive in every table both schemas have.
        for name in a.tables.keys().filter(|n| b.tables.contains_key(*n)) {
            prop_assert_eq!(ids(&conn, name), vec![1, 2], "rows of {} kept", name);
        }

        migrate(&conn, &a);
        prop_assert_eq!(&introspect(&conn, &[]).expect("introspect"), &a, "downgrade B -> A");
    }
}
