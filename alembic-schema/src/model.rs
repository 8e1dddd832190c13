//! The neutral schema model: what a schema holds once each database's way of saying it has
//! been normalised away. Equality of two [`Schema`]s is "no migration needed".
//!
//! Ordered collections where order carries no meaning (tables, a table's indexes, unique
//! constraints, foreign keys, checks) are kept sorted, so that `==` compares content, not the
//! order a catalogue happened to list things in. Column order is kept (it is what the table
//! looks like, and a rebuild reproduces it) but not compared: `ADD COLUMN` can only append,
//! so an order difference is not a change a migration makes, and Alembic's autogenerate does
//! not report one either.

use std::collections::BTreeMap;
use std::fmt;

/// Tables by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
}

#[derive(Clone, Debug, Default, Eq)]
pub struct Table {
    pub name: String,
    /// In table order.
    pub columns: Vec<Column>,
    /// Column names in key order; empty when the table has none.
    pub primary_key: Vec<String>,
    /// The key constraint's name where the database names it (PostgreSQL), so that a
    /// migration can drop it; not compared, as constraint names are not.
    pub primary_key_name: Option<String>,
    /// Sorted.
    pub uniques: Vec<UniqueConstraint>,
    /// Indexes created with `CREATE INDEX`, not those backing a primary key or a unique
    /// constraint (every database makes those implicitly). Sorted by name.
    pub indexes: Vec<Index>,
    /// Sorted.
    pub foreign_keys: Vec<ForeignKey>,
    /// Sorted.
    pub checks: Vec<CheckConstraint>,
}

impl PartialEq for Table {
    /// Equal content; the order of columns does not count (see the module documentation).
    fn eq(&self, other: &Table) -> bool {
        fn by_name(t: &Table) -> Vec<&Column> {
            let mut columns: Vec<&Column> = t.columns.iter().collect();
            columns.sort_by(|a, b| a.name.cmp(&b.name));
            columns
        }
        self.name == other.name
            && self.columns.len() == other.columns.len()
            && by_name(self) == by_name(other)
            && self.primary_key == other.primary_key
            && self.uniques == other.uniques
            && self.indexes == other.indexes
            && self.foreign_keys == other.foreign_keys
            && self.checks == other.checks
    }
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Sorts the unordered collections, so that equal content compares equal.
    pub fn normalise(&mut self) {
        self.uniques.sort();
        self.indexes.sort();
        self.foreign_keys.sort();
        self.checks.sort();
        for column in &mut self.columns {
            if self.primary_key.contains(&column.name) {
                // SQLite lets a non-INTEGER primary key column hold NULL for backward
                // compatibility, and reports it nullable; every other database, and every
                // schema a user means, makes key columns NOT NULL.
                column.nullable = false;
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    pub nullable: bool,
    /// The default expression, normalised (see `types::normalise_default`); `None` when the
    /// column has none (or `DEFAULT NULL`, which means the same).
    pub default: Option<String>,
}

/// A column type, with the aliases of the three databases folded together.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataType {
    SmallInt,
    Integer,
    BigInt,
    Boolean,
    Real,
    Double,
    /// `NUMERIC`/`DECIMAL`, with precision and scale when given.
    Numeric(Option<(u32, u32)>),
    /// `VARCHAR(n)`; `None` for an unbounded `VARCHAR` (PostgreSQL).
    Varchar(Option<u32>),
    Char(u32),
    Text,
    Blob,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Json,
    Jsonb,
    Uuid,
    /// Anything else, lower-cased with single spaces, as declared.
    Other(String),
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::SmallInt => f.write_str("SMALLINT"),
            DataType::Integer => f.write_str("INTEGER"),
            DataType::BigInt => f.write_str("BIGINT"),
            DataType::Boolean => f.write_str("BOOLEAN"),
            DataType::Real => f.write_str("REAL"),
            DataType::Double => f.write_str("DOUBLE PRECISION"),
            DataType::Numeric(None) => f.write_str("NUMERIC"),
            DataType::Numeric(Some((p, s))) => write!(f, "NUMERIC({p}, {s})"),
            DataType::Varchar(None) => f.write_str("VARCHAR"),
            DataType::Varchar(Some(n)) => write!(f, "VARCHAR({n})"),
            DataType::Char(n) => write!(f, "CHAR({n})"),
            DataType::Text => f.write_str("TEXT"),
            DataType::Blob => f.write_str("BLOB"),
            DataType::Date => f.write_str("DATE"),
            DataType::Time => f.write_str("TIME"),
            DataType::Timestamp => f.write_str("TIMESTAMP"),
            DataType::TimestampTz => f.write_str("TIMESTAMP WITH TIME ZONE"),
            DataType::Json => f.write_str("JSON"),
            DataType::Jsonb => f.write_str("JSONB"),
            DataType::Uuid => f.write_str("UUID"),
            DataType::Other(text) => f.write_str(&text.to_uppercase()),
        }
    }
}

/// A `UNIQUE` constraint. Names are not compared: SQLite does not keep them, and the other
/// databases invent one when none is given.
#[derive(Clone, Debug)]
pub struct UniqueConstraint {
    pub columns: Vec<String>,
    /// The constraint's name in the database it was read from (`None` for SQLite, or for a
    /// constraint built by hand). Not compared; renderers need it to drop the constraint on
    /// PostgreSQL and MySQL, and name new ones after it.
    pub name: Option<String>,
}

/// Equality and order of a constraint's content only, without its name (see
/// [`UniqueConstraint`]); `Ord` agrees with `Eq`, so sets and sorting ignore names too.
macro_rules! compared_without_name {
    ($type:ty, |$v:ident| $key:expr) => {
        impl PartialEq for $type {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other).is_eq()
            }
        }
        impl Eq for $type {}
        impl PartialOrd for $type {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $type {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                fn key($v: &$type) -> impl Ord + '_ {
                    $key
                }
                key(self).cmp(&key(other))
            }
        }
    };
}

compared_without_name!(UniqueConstraint, |u| &u.columns);
compared_without_name!(ForeignKey, |f| (
    &f.columns,
    &f.referred_table,
    &f.referred_columns,
    &f.on_delete,
    &f.on_update
));
compared_without_name!(CheckConstraint, |c| &c.expression);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    pub name: String,
    /// Column names in index order; an expression part is kept as its normalised text.
    pub columns: Vec<String>,
    pub unique: bool,
    /// The `WHERE` of a partial index, normalised.
    pub predicate: Option<String>,
}

/// Compared without its name, as [`UniqueConstraint`].
#[derive(Clone, Debug)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub referred_table: String,
    pub referred_columns: Vec<String>,
    /// `None` for the default (`NO ACTION`), which databases report in different ways.
    pub on_delete: Option<String>,
    pub on_update: Option<String>,
    /// As [`UniqueConstraint::name`].
    pub name: Option<String>,
}

/// A `CHECK` constraint: its expression, normalised (names are not compared, as for unique
/// constraints).
#[derive(Clone, Debug)]
pub struct CheckConstraint {
    pub expression: String,
    /// As [`UniqueConstraint::name`].
    pub name: Option<String>,
}
