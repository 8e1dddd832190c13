//! The diff on schemas read from real SQLite databases: equal schemas give nothing, each kind
//! of change is found once, and the order keeps foreign keys valid.

use alembic_schema::sqlite::introspect;
use alembic_schema::{diff, Change, Schema};
use rusqlite::Connection;

fn schema_of(sql: &str) -> Schema {
    let conn = Connection::open_in_memory().expect("in-memory database");
    conn.execute_batch(sql).expect("schema SQL");
    introspect(&conn, &[]).expect("introspect")
}

fn kinds(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            let debug = format!("{c:?}");
            let kind = debug
                .split([' ', '('])
                .next()
                .unwrap_or_default()
                .to_string();
            format!("{kind} {}", c.table())
        })
        .collect()
}

const BASE: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT);
CREATE TABLE prompts (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES users (id), body TEXT);
CREATE INDEX ix_prompts_owner ON prompts (owner_id);
";

#[test]
fn equal_schemas_differ_in_nothing() {
    assert!(diff(&schema_of(BASE), &schema_of(BASE)).is_empty());
}

#[test]
fn each_kind_of_change_is_found_once() {
    let to = schema_of(
        "
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name VARCHAR(80) NOT NULL,
                    role TEXT DEFAULT 'user' CHECK (role IN ('user', 'admin')));
CREATE TABLE prompts (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES users (id), body TEXT);
CREATE INDEX ix_prompts_body ON prompts (body);
CREATE TABLE tags (id INTEGER PRIMARY KEY, prompt_id INTEGER NOT NULL REFERENCES prompts (id));
",
    );
    let changes = diff(&schema_of(BASE), &to);
    assert_eq!(
        kinds(&changes),
        [
            "DropIndex prompts",
            "DropUnique users",
            "CreateTable tags",
            "AlterColumn users",
            "AddColumn users",
            "AddCheck users",
            "CreateIndex prompts",
            "AddForeignKey tags",
        ],
        "{changes:#?}"
    );
    let review: Vec<bool> = changes.iter().map(Change::needs_review).collect();
    assert_eq!(
        review.iter().filter(|r| **r).count(),
        1,
        "the type change of users.name"
    );
}

#[test]
fn tables_are_created_before_and_dropped_after_what_refers_to_them() {
    let empty = schema_of("");
    let chain = schema_of(
        "CREATE TABLE c (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b (id));
         CREATE TABLE a (id INTEGER PRIMARY KEY);
         CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id));",
    );
    let up = diff(&empty, &chain);
    assert_eq!(
        kinds(&up),
        [
            "CreateTable a",
            "CreateTable b",
            "CreateTable c",
            "AddForeignKey b",
            "AddForeignKey c"
        ]
    );
    let down = diff(&chain, &empty);
    assert_eq!(kinds(&down), ["DropTable c", "DropTable b", "DropTable a"]);
}

#[test]
fn tables_that_refer_to_each_other_are_created_then_linked() {
    let cycle = schema_of(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b (id));
         CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id));",
    );
    let up = diff(&schema_of(""), &cycle);
    assert_eq!(
        kinds(&up),
        [
            "CreateTable a",
            "CreateTable b",
            "AddForeignKey a",
            "AddForeignKey b"
        ]
    );
    match &up[0] {
        Change::CreateTable(t) => assert!(t.foreign_keys.is_empty()),
        other => panic!("{other:?}"),
    }
}

mod properties {
    use alembic_schema::{diff, Column, DataType, Index, Schema, Table};
    use proptest::prelude::*;

    fn column() -> impl Strategy<Value = Column> {
        (
            prop::sample::select(vec!["a", "b", "c", "d"]),
            prop::sample::select(vec![DataType::Integer, DataType::Text, DataType::BigInt]),
            any::<bool>(),
            prop::option::of(prop::sample::select(vec!["0", "1", "'x'"])),
        )
            .prop_map(|(name, data_type, nullable, default)| Column {
                name: name.to_string(),
                data_type,
                nullable,
                default: default.map(str::to_string),
            })
    }

    fn table(name: &'static str) -> impl Strategy<Value = Table> {
        (
            prop::collection::vec(column(), 1..4),
            prop::option::of(prop::sample::select(vec!["a", "b"])),
        )
            .prop_map(move |(mut columns, indexed)| {
                columns.sort_by(|x, y| x.name.cmp(&y.name));
                columns.dedup_by(|x, y| x.name == y.name);
                let indexes = indexed
                    .filter(|c| columns.iter().any(|col| col.name == *c))
                    .map(|c| Index {
                        name: format!("ix_{name}_{c}"),
                        columns: vec![c.to_string()],
                        unique: false,
                        predicate: None,
                    })
                    .into_iter()
                    .collect();
                Table {
                    name: name.to_string(),
                    columns,
                    indexes,
                    ..Table::default()
                }
            })
    }

    fn schema() -> impl Strategy<Value = Schema> {
        (prop::option::of(table("t1")), prop::option::of(table("t2"))).prop_map(|(a, b)| Schema {
            tables: a
                .into_iter()
                .chain(b)
                .map(|t| (t.name.clone(), t))
                .collect(),
        })
    }

    proptest! {
        /// Nothing to do exactly when the schemas are equal, in both directions, and each
        /// direction changes as many objects as the other.
        #[test]
        fn a_diff_is_empty_exactly_when_the_schemas_are_equal(a in schema(), b in schema()) {
            let up = diff(&a, &b);
            let down = diff(&b, &a);
            prop_assert_eq!(up.is_empty(), a == b);
            prop_assert_eq!(down.is_empty(), a == b);
            prop_assert_eq!(up.len(), down.len());
        }
    }
}
