//! SQLite introspection on real databases: what a schema declares is what the model holds,
//! and different spellings of one schema compare equal.

use alembic_schema::sqlite::introspect;
use alembic_schema::{CheckConstraint, DataType, ForeignKey, Index, Schema, UniqueConstraint};
use rusqlite::Connection;

fn schema_of(sql: &str) -> Schema {
    let conn = Connection::open_in_memory().expect("in-memory database");
    conn.execute_batch(sql).expect("schema SQL");
    introspect(&conn, &["alembic_version", "alembic_version_history"]).expect("introspect")
}

const PROMPTS: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE prompts (
    id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL,
    title TEXT NOT NULL DEFAULT 'untitled',
    price NUMERIC(10, 2) CHECK (price >= 0),
    published BOOLEAN NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    CONSTRAINT fk_prompt_owner FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uq_owner_title UNIQUE (owner_id, title),
    CHECK (length(title) > 0)
);
CREATE INDEX ix_prompts_owner ON prompts (owner_id);
CREATE UNIQUE INDEX ix_prompts_published ON prompts (title) WHERE published = 1;
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
";

#[test]
fn every_kind_of_object_is_read() {
    let schema = schema_of(PROMPTS);
    assert_eq!(
        schema.tables.keys().collect::<Vec<_>>(),
        ["prompts", "users"],
        "the version table is excluded"
    );
    let users = &schema.tables["users"];
    assert_eq!(users.primary_key, ["id"]);
    assert_eq!(
        users.column("email").unwrap().data_type,
        DataType::Varchar(Some(255))
    );
    assert!(
        !users.column("id").unwrap().nullable,
        "key columns are NOT NULL"
    );
    assert_eq!(
        users.column("created_at").unwrap().default.as_deref(),
        Some("CURRENT_TIMESTAMP")
    );
    assert_eq!(
        users.uniques,
        [UniqueConstraint {
            name: None,
            columns: vec!["email".into()]
        }]
    );

    let prompts = &schema.tables["prompts"];
    assert_eq!(
        prompts
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["id", "owner_id", "title", "price", "published"]
    );
    assert_eq!(
        prompts.column("price").unwrap().data_type,
        DataType::Numeric(Some((10, 2)))
    );
    assert!(prompts.column("price").unwrap().nullable);
    assert_eq!(
        prompts.column("title").unwrap().default.as_deref(),
        Some("'untitled'")
    );
    assert_eq!(
        prompts.foreign_keys,
        [ForeignKey {
            name: None,
            columns: vec!["owner_id".into()],
            referred_table: "users".into(),
            referred_columns: vec!["id".into()],
            on_delete: Some("CASCADE".into()),
            on_update: None,
        }]
    );
    assert_eq!(
        prompts.uniques,
        [UniqueConstraint {
            name: None,
            columns: vec!["owner_id".into(), "title".into()]
        }]
    );
    assert_eq!(
        prompts.indexes,
        [
            Index {
                name: "ix_prompts_owner".into(),
                columns: vec!["owner_id".into()],
                unique: false,
                predicate: None,
            },
            Index {
                name: "ix_prompts_published".into(),
                columns: vec!["title".into()],
                unique: true,
                predicate: Some("published = 1".into()),
            },
        ]
    );
    assert_eq!(
        prompts.checks,
        [
            CheckConstraint {
                name: None,
                expression: "length(title) > 0".into()
            },
            CheckConstraint {
                name: None,
                expression: "price >= 0".into()
            },
        ]
    );
}

#[test]
fn one_schema_spelled_two_ways_compares_equal() {
    let a = schema_of(
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, n integer default (0), \
         s character varying(20) CHECK ((s <> '')), parent INT REFERENCES t);",
    );
    let b = schema_of(
        "CREATE TABLE t (\n  id INTEGER,\n  n INTEGER DEFAULT 0,\n  s VARCHAR( 20 ),\n  \
         parent INTEGER,\n  PRIMARY KEY (id),\n  CONSTRAINT s_not_empty CHECK (s <> ''),\n  \
         FOREIGN KEY (parent) REFERENCES t (id) ON DELETE NO ACTION\n);",
    );
    assert_eq!(a, b);
}

#[test]
fn a_real_difference_is_seen() {
    let base = "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER DEFAULT 0);";
    for changed in [
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER DEFAULT 1);",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n BIGINT DEFAULT 0);",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0);",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER DEFAULT 0, m TEXT);",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER DEFAULT 0 CHECK (n > 0));",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER DEFAULT 0 UNIQUE);",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER DEFAULT 0); CREATE INDEX i ON t (n);",
    ] {
        assert_ne!(schema_of(base), schema_of(changed), "{changed}");
    }
}

#[test]
fn check_keywords_inside_literals_and_identifiers_are_not_constraints() {
    let schema = schema_of(
        "CREATE TABLE \"check\" (\"check (x)\" TEXT DEFAULT 'CHECK (1)', -- CHECK (2)\n \
         v INTEGER CHECK (v IN (1, 2)));",
    );
    assert_eq!(
        schema.tables["check"].checks,
        [CheckConstraint {
            name: None,
            expression: "v IN (1, 2)".into()
        }]
    );
}
