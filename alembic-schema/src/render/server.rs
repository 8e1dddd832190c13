//! PostgreSQL and MySQL/MariaDB rendering. Both change tables in place with `ALTER TABLE`, so
//! the diff's order (foreign keys dropped first and added last, tables created before what
//! refers to them and dropped after) is the statements' order: one statement per change, each
//! leaving a valid schema. That matters on MySQL, where every DDL statement commits on its
//! own and a failed migration stops between two of them.
//!
//! Constraints are dropped by the name the database gave them (read by introspection into
//! the model's `name`). A constraint the wanted schema does not name (a schema built by hand,
//! or read from SQLite) is created under a deterministic name, PostgreSQL's own convention
//! (`table_col_key`, `table_col_fkey`), so that the same SQL gives the same names everywhere.

use std::collections::BTreeSet;

use crate::diff::Change;
use crate::model::{CheckConstraint, Column, DataType, ForeignKey, Index, Schema, Table};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Server {
    Postgres,
    Mysql,
}

/// The longest identifier: PostgreSQL truncates at 63 bytes, MySQL refuses more than 64.
const MAX_NAME: usize = 63;

pub(super) fn render(server: Server, changes: &[Change], from: &Schema) -> Vec<String> {
    let r = Renderer { server };
    let mut out = Vec::new();
    // Tables whose key changes: the old key goes before any of their columns change, since
    // neither database lets a key column become nullable, and MariaDB refuses to drop a
    // column of a composite key.
    let rekeyed: BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::SetPrimaryKey {
                table, from: old, ..
            } if !old.is_empty() => Some(table.as_str()),
            _ => None,
        })
        .collect();
    let mut keys_dropped = BTreeSet::new();
    for change in changes {
        let table = change.table();
        let column_level = matches!(
            change,
            Change::AddColumn { .. }
                | Change::DropColumn { .. }
                | Change::AlterColumn { .. }
                | Change::SetPrimaryKey { .. }
        );
        if column_level && rekeyed.contains(table) && keys_dropped.insert(table) {
            let name = from
                .tables
                .get(table)
                .and_then(|t| t.primary_key_name.as_deref());
            out.push(r.drop_primary_key(table, name));
        }
        if change.needs_review() {
            out.push(format!("-- REVIEW: {}", super::review_note(change)));
        }
        if let Change::DropTable(dropped) = change {
            // Tables that refer to each other cannot go one after the other: the diff drops
            // them in name order, so the foreign keys into this table from those still to
            // be dropped go first.
            for other in changes.iter().skip_while(|c| *c != change).skip(1) {
                let Change::DropTable(later) = other else {
                    continue;
                };
                for fk in later
                    .foreign_keys
                    .iter()
                    .filter(|fk| fk.referred_table == dropped.name)
                {
                    r.change(
                        &Change::DropForeignKey {
                            table: later.name.clone(),
                            foreign_key: fk.clone(),
                        },
                        from,
                        &mut out,
                    );
                }
            }
        }
        r.change(change, from, &mut out);
    }
    out
}

struct Renderer {
    server: Server,
}

impl Renderer {
    fn change(&self, change: &Change, from: &Schema, out: &mut Vec<String>) {
        let table = change.table();
        let alter = format!("ALTER TABLE {}", self.quote(table));
        match change {
            Change::CreateTable(t) => {
                out.push(self.create_table(t));
                out.extend(t.indexes.iter().map(|i| self.create_index(&t.name, i)));
            }
            Change::DropTable(t) => out.push(format!("DROP TABLE {}", self.quote(&t.name))),
            Change::AddColumn { column, .. } => {
                out.push(format!("{alter} ADD COLUMN {}", self.column_def(column)))
            }
            Change::DropColumn { column, .. } => {
                out.push(format!("{alter} DROP COLUMN {}", self.quote(&column.name)))
            }
            Change::AlterColumn { from: old, to, .. } => self.alter_column(table, old, to, out),
            // The old key was dropped before the table's first column change (`render`).
            Change::SetPrimaryKey { to: new_key, .. } => {
                if !new_key.is_empty() {
                    out.push(format!(
                        "{alter} ADD PRIMARY KEY ({})",
                        self.quote_list(new_key)
                    ));
                }
            }
            Change::AddUnique { unique, .. } => out.push(format!(
                "{alter} ADD CONSTRAINT {} UNIQUE ({})",
                self.quote(&unique_name(table, &unique.columns, &unique.name)),
                self.quote_list(&unique.columns)
            )),
            Change::DropUnique { unique, .. } => {
                let name = self.quote(&unique_name(table, &unique.columns, &unique.name));
                out.push(match self.server {
                    Server::Postgres => format!("{alter} DROP CONSTRAINT {name}"),
                    // A unique constraint is a unique index there.
                    Server::Mysql => format!("{alter} DROP INDEX {name}"),
                });
            }
            Change::CreateIndex { index, .. } => {
                if self.server == Server::Mysql && index.predicate.is_some() {
                    out.push(format!(
                        "-- REVIEW: MySQL has no partial indexes: index {} is created on every \
                         row, without its WHERE",
                        index.name
                    ));
                }
                out.push(self.create_index(table, index));
            }
            Change::DropIndex { index, .. } => out.push(match self.server {
                Server::Postgres => format!("DROP INDEX {}", self.quote(&index.name)),
                Server::Mysql => format!(
                    "DROP INDEX {} ON {}",
                    self.quote(&index.name),
                    self.quote(table)
                ),
            }),
            Change::AddForeignKey { foreign_key, .. } => out.push(format!(
                "{alter} ADD CONSTRAINT {} {}",
                self.quote(&foreign_key_name(table, foreign_key)),
                self.foreign_key(foreign_key)
            )),
            Change::DropForeignKey { foreign_key, .. } => {
                let name = foreign_key_name(table, foreign_key);
                match self.server {
                    Server::Postgres => {
                        out.push(format!("{alter} DROP CONSTRAINT {}", self.quote(&name)))
                    }
                    Server::Mysql => {
                        let mut text = format!("{alter} DROP FOREIGN KEY {}", self.quote(&name));
                        // InnoDB made an index under the constraint's name when no index
                        // began with the key's columns; it outlives the constraint unless
                        // dropped with it.
                        let covered = from
                            .tables
                            .get(table)
                            .is_some_and(|t| covered_by_index(t, &foreign_key.columns));
                        if !covered {
                            text.push_str(&format!(", DROP INDEX {}", self.quote(&name)));
                        }
                        out.push(text);
                    }
                }
            }
            Change::AddCheck { check, .. } => out.push(format!(
                "{alter} ADD CONSTRAINT {} CHECK ({})",
                self.quote(&check_name(table, check)),
                check.expression
            )),
            Change::DropCheck { check, .. } => out.push(format!(
                "{alter} DROP CONSTRAINT {}",
                self.quote(&check_name(table, check))
            )),
        }
    }

    /// `name`: the key's name as read; PostgreSQL's default name when not known.
    fn drop_primary_key(&self, table: &str, name: Option<&str>) -> String {
        let alter = format!("ALTER TABLE {}", self.quote(table));
        match self.server {
            Server::Postgres => format!(
                "{alter} DROP CONSTRAINT {}",
                self.quote(&name.map_or_else(|| fit(format!("{table}_pkey")), str::to_string))
            ),
            Server::Mysql => format!("{alter} DROP PRIMARY KEY"),
        }
    }

    fn alter_column(&self, table: &str, old: &Column, new: &Column, out: &mut Vec<String>) {
        let alter = format!("ALTER TABLE {}", self.quote(table));
        let name = self.quote(&new.name);
        let type_changed = old.data_type != new.data_type;
        let default_changed = old.default != new.default;
        let becomes_not_null = old.nullable && !new.nullable;
        if becomes_not_null {
            match &new.default {
                // Rows holding NULL take the default, as a rebuild on SQLite does.
                Some(default) => {
                    if self.server == Server::Postgres && type_changed {
                        // Filled after the type change below, in the new type.
                    } else {
                        out.push(format!(
                            "UPDATE {} SET {name} = {} WHERE {name} IS NULL",
                            self.quote(table),
                            self.default_sql(default)
                        ));
                    }
                }
                None => out.push(format!(
                    "-- REVIEW: {table}.{} becomes NOT NULL without a default: rows where it \
                     is NULL make this fail; backfill them first",
                    new.name
                )),
            }
        }
        match self.server {
            Server::Mysql => {
                // MODIFY restates the whole column: type, nullability and default at once.
                out.push(format!("{alter} MODIFY COLUMN {}", self.column_def(new)));
            }
            Server::Postgres => {
                // The old default may not convert to the new type: it goes first and the
                // new one comes after.
                if old.default.is_some() && (type_changed || new.default.is_none()) {
                    out.push(format!("{alter} ALTER COLUMN {name} DROP DEFAULT"));
                }
                if type_changed {
                    let ty = self.type_sql(&new.data_type);
                    out.push(format!(
                        "-- REVIEW: {table}.{} converts with USING {}::{ty}; write the \
                         conversion if that cast is not what the values need",
                        new.name, new.name
                    ));
                    out.push(format!(
                        "{alter} ALTER COLUMN {name} TYPE {ty} USING {name}::{ty}"
                    ));
                }
                if let Some(default) = &new.default {
                    if type_changed || default_changed {
                        out.push(format!(
                            "{alter} ALTER COLUMN {name} SET DEFAULT {}",
                            self.default_sql(default)
                        ));
                    }
                    if becomes_not_null && type_changed {
                        out.push(format!(
                            "UPDATE {} SET {name} = {} WHERE {name} IS NULL",
                            self.quote(table),
                            self.default_sql(default)
                        ));
                    }
                }
                if becomes_not_null {
                    out.push(format!("{alter} ALTER COLUMN {name} SET NOT NULL"));
                } else if !old.nullable && new.nullable {
                    out.push(format!("{alter} ALTER COLUMN {name} DROP NOT NULL"));
                }
            }
        }
    }

    /// `CREATE TABLE` with columns, key, unique and check constraints; foreign keys come as
    /// their own changes (the diff adds them once every table exists).
    fn create_table(&self, table: &Table) -> String {
        let mut parts: Vec<String> = table.columns.iter().map(|c| self.column_def(c)).collect();
        if !table.primary_key.is_empty() {
            parts.push(format!(
                "PRIMARY KEY ({})",
                self.quote_list(&table.primary_key)
            ));
        }
        for unique in &table.uniques {
            parts.push(format!(
                "CONSTRAINT {} UNIQUE ({})",
                self.quote(&unique_name(&table.name, &unique.columns, &unique.name)),
                self.quote_list(&unique.columns)
            ));
        }
        for check in &table.checks {
            parts.push(format!(
                "CONSTRAINT {} CHECK ({})",
                self.quote(&check_name(&table.name, check)),
                check.expression
            ));
        }
        for fk in &table.foreign_keys {
            parts.push(format!(
                "CONSTRAINT {} {}",
                self.quote(&foreign_key_name(&table.name, fk)),
                self.foreign_key(fk)
            ));
        }
        format!(
            "CREATE TABLE {} (\n    {}\n)",
            self.quote(&table.name),
            parts.join(",\n    ")
        )
    }

    fn foreign_key(&self, fk: &ForeignKey) -> String {
        let mut text = format!(
            "FOREIGN KEY ({}) REFERENCES {} ({})",
            self.quote_list(&fk.columns),
            self.quote(&fk.referred_table),
            self.quote_list(&fk.referred_columns)
        );
        if let Some(action) = &fk.on_delete {
            text.push_str(&format!(" ON DELETE {action}"));
        }
        if let Some(action) = &fk.on_update {
            text.push_str(&format!(" ON UPDATE {action}"));
        }
        text
    }

    fn create_index(&self, table: &str, index: &Index) -> String {
        let parts: Vec<String> = index
            .columns
            .iter()
            .map(|part| {
                if is_identifier(part) {
                    self.quote(part)
                } else {
                    // An expression, kept as read.
                    format!("({part})")
                }
            })
            .collect();
        let mut text = format!(
            "CREATE {}INDEX {} ON {} ({})",
            if index.unique { "UNIQUE " } else { "" },
            self.quote(&index.name),
            self.quote(table),
            parts.join(", ")
        );
        if let (Some(predicate), Server::Postgres) = (&index.predicate, self.server) {
            text.push_str(&format!(" WHERE {predicate}"));
        }
        text
    }

    fn column_def(&self, column: &Column) -> String {
        let mut text = format!(
            "{} {}",
            self.quote(&column.name),
            self.type_sql(&column.data_type)
        );
        if !column.nullable {
            text.push_str(" NOT NULL");
        }
        if let Some(default) = &column.default {
            text.push_str(&format!(" DEFAULT {}", self.default_sql(default)));
        }
        text
    }

    /// A default as the column definition takes it. MySQL takes a literal or
    /// `CURRENT_TIMESTAMP` bare and any other expression only in parentheses (8.0.13+,
    /// MariaDB 10.2+).
    fn default_sql(&self, default: &str) -> String {
        let bare =
            is_literal(default) || default.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
        if bare || self.server == Server::Postgres {
            default.to_string()
        } else {
            format!("({default})")
        }
    }

    fn type_sql(&self, data_type: &DataType) -> String {
        match (self.server, data_type) {
            (Server::Postgres, DataType::Blob) => "BYTEA".into(),
            (Server::Mysql, DataType::Double) => "DOUBLE".into(),
            // MySQL's TIMESTAMP converts to and from the session's time zone: DATETIME is
            // the plain timestamp (and what introspection reads as `Timestamp`).
            (Server::Mysql, DataType::Timestamp) => "DATETIME".into(),
            (Server::Mysql, DataType::TimestampTz) => "TIMESTAMP".into(),
            (Server::Mysql, DataType::Jsonb) => "JSON".into(),
            (Server::Mysql, DataType::Varchar(None)) => "TEXT".into(),
            (_, other) => other.to_string(),
        }
    }

    fn quote(&self, name: &str) -> String {
        match self.server {
            Server::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Server::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    fn quote_list(&self, names: &[String]) -> String {
        names
            .iter()
            .map(|n| self.quote(n))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether an index, the unique constraints or the key already begins with `columns` (then
/// InnoDB used it for a foreign key and made no index of its own).
fn covered_by_index(table: &Table, columns: &[String]) -> bool {
    let starts = |keys: &[String]| keys.len() >= columns.len() && keys[..columns.len()] == *columns;
    starts(&table.primary_key)
        || table.uniques.iter().any(|u| starts(&u.columns))
        || table.indexes.iter().any(|i| starts(&i.columns))
}

fn unique_name(table: &str, columns: &[String], given: &Option<String>) -> String {
    given
        .clone()
        .unwrap_or_else(|| fit(format!("{table}_{}_key", columns.join("_"))))
}

fn foreign_key_name(table: &str, fk: &ForeignKey) -> String {
    fk.name
        .clone()
        .unwrap_or_else(|| fit(format!("{table}_{}_fkey", fk.columns.join("_"))))
}

/// A check has no columns of its own in the model: its name carries a hash of the
/// expression, so that two checks of one table get two names and the same check the same.
fn check_name(table: &str, check: &CheckConstraint) -> String {
    check
        .name
        .clone()
        .unwrap_or_else(|| fit(format!("{table}_check_{:08x}", fnv1a(&check.expression))))
}

/// A generated name shortened to what both databases accept, keeping it unique with a hash.
fn fit(name: String) -> String {
    if name.len() <= MAX_NAME {
        return name;
    }
    let mut cut = MAX_NAME - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{:08x}", &name[..cut], fnv1a(&name))
}

fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_literal(expression: &str) -> bool {
    expression.starts_with('\'') || expression.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::diff;
    use crate::model::UniqueConstraint;

    fn column(name: &str, data_type: DataType, nullable: bool) -> Column {
        Column {
            name: name.into(),
            data_type,
            nullable,
            default: None,
        }
    }

    fn schema(tables: Vec<Table>) -> Schema {
        let mut schema = Schema::default();
        for mut t in tables {
            t.normalise();
            schema.tables.insert(t.name.clone(), t);
        }
        schema
    }

    /// `parent`, and `child` referring to it; names as a server read them.
    fn linked() -> Schema {
        let parent = Table {
            name: "parent".into(),
            columns: vec![column("id", DataType::Integer, false)],
            primary_key: vec!["id".into()],
            primary_key_name: Some("parent_pk".into()),
            ..Table::default()
        };
        let child = Table {
            name: "child".into(),
            columns: vec![
                column("id", DataType::Integer, false),
                column("parent_id", DataType::Integer, true),
                column("code", DataType::Varchar(Some(10)), true),
            ],
            primary_key: vec!["id".into()],
            uniques: vec![UniqueConstraint {
                columns: vec!["code".into()],
                name: Some("child_code_uq".into()),
            }],
            foreign_keys: vec![ForeignKey {
                columns: vec!["parent_id".into()],
                referred_table: "parent".into(),
                referred_columns: vec!["id".into()],
                on_delete: None,
                on_update: None,
                name: Some("child_parent_fk".into()),
            }],
            checks: vec![CheckConstraint {
                expression: "id > 0".into(),
                name: Some("child_positive".into()),
            }],
            ..Table::default()
        };
        schema(vec![parent, child])
    }

    fn unlinked() -> Schema {
        let mut s = linked();
        let child = s.tables.get_mut("child").expect("child");
        child.foreign_keys.clear();
        child.uniques.clear();
        child.checks.clear();
        child.columns[2].data_type = DataType::Integer;
        child.columns[2].nullable = false;
        child.columns[2].default = Some("0".into());
        s
    }

    #[test]
    fn postgres_drops_constraints_by_their_names_and_converts_with_using() {
        let (from, to) = (linked(), unlinked());
        let sql = render(Server::Postgres, &diff(&from, &to), &from);
        for expected in [
            r#"ALTER TABLE "child" DROP CONSTRAINT "child_parent_fk""#,
            r#"ALTER TABLE "child" DROP CONSTRAINT "child_code_uq""#,
            r#"ALTER TABLE "child" DROP CONSTRAINT "child_positive""#,
            r#"ALTER TABLE "child" ALTER COLUMN "code" TYPE INTEGER USING "code"::INTEGER"#,
            r#"ALTER TABLE "child" ALTER COLUMN "code" SET DEFAULT 0"#,
            r#"UPDATE "child" SET "code" = 0 WHERE "code" IS NULL"#,
            r#"ALTER TABLE "child" ALTER COLUMN "code" SET NOT NULL"#,
        ] {
            assert!(sql.iter().any(|s| s == expected), "{expected} in {sql:#?}");
        }
        assert!(
            sql.iter()
                .any(|s| s.starts_with("-- REVIEW:") && s.contains("USING code::INTEGER")),
            "{sql:#?}"
        );
        // Back: the constraints come again under the names the wanted schema has.
        let back = render(Server::Postgres, &diff(&to, &from), &to);
        assert!(
            back.iter().any(|s| s
                == r#"ALTER TABLE "child" ADD CONSTRAINT "child_parent_fk" FOREIGN KEY ("parent_id") REFERENCES "parent" ("id")"#),
            "{back:#?}"
        );
    }

    #[test]
    fn mysql_modifies_whole_columns_and_drops_the_foreign_keys_index() {
        let (from, to) = (linked(), unlinked());
        let sql = render(Server::Mysql, &diff(&from, &to), &from);
        for expected in [
            "ALTER TABLE `child` DROP FOREIGN KEY `child_parent_fk`, DROP INDEX `child_parent_fk`",
            "ALTER TABLE `child` DROP INDEX `child_code_uq`",
            "ALTER TABLE `child` DROP CONSTRAINT `child_positive`",
            "UPDATE `child` SET `code` = 0 WHERE `code` IS NULL",
            "ALTER TABLE `child` MODIFY COLUMN `code` INTEGER NOT NULL DEFAULT 0",
        ] {
            assert!(sql.iter().any(|s| s == expected), "{expected} in {sql:#?}");
        }
        // The backfill comes before the column becomes NOT NULL: each statement commits.
        let update = sql.iter().position(|s| s.starts_with("UPDATE"));
        let modify = sql.iter().position(|s| s.contains("MODIFY"));
        assert!(update < modify, "{sql:#?}");
    }

    #[test]
    fn a_new_key_replaces_the_old_one_before_columns_change() {
        let from = linked();
        let mut to = linked();
        let child = to.tables.get_mut("child").expect("child");
        child.primary_key = vec!["id".into(), "code".into()];
        child.normalise();
        let pg = render(Server::Postgres, &diff(&from, &to), &from);
        let drop = pg
            .iter()
            .position(|s| s.contains("DROP CONSTRAINT \"child_pkey\""));
        let not_null = pg.iter().position(|s| s.contains("SET NOT NULL"));
        let add = pg
            .iter()
            .position(|s| s.contains("ADD PRIMARY KEY (\"id\", \"code\")"));
        assert!(
            drop.is_some() && drop < not_null && not_null < add,
            "{pg:#?}"
        );
        // A key read with its name is dropped by it.
        let mut named = from.clone();
        named
            .tables
            .get_mut("child")
            .expect("child")
            .primary_key_name = Some("ck".into());
        let pg = render(Server::Postgres, &diff(&named, &to), &named);
        assert!(
            pg.iter()
                .any(|s| s == r#"ALTER TABLE "child" DROP CONSTRAINT "ck""#),
            "{pg:#?}"
        );
        let my = render(Server::Mysql, &diff(&from, &to), &from);
        assert_eq!(
            my.first().map(String::as_str),
            Some("ALTER TABLE `child` DROP PRIMARY KEY")
        );
    }

    #[test]
    fn tables_referring_to_each_other_are_dropped_after_their_foreign_keys() {
        let mut from = linked();
        let parent = from.tables.get_mut("parent").expect("parent");
        parent
            .columns
            .push(column("child_id", DataType::Integer, true));
        parent.foreign_keys.push(ForeignKey {
            columns: vec!["child_id".into()],
            referred_table: "child".into(),
            referred_columns: vec!["id".into()],
            on_delete: None,
            on_update: None,
            name: Some("parent_child_fk".into()),
        });
        let to = Schema::default();
        for server in [Server::Postgres, Server::Mysql] {
            let sql = render(server, &diff(&from, &to), &from);
            let statements: Vec<&String> = sql.iter().filter(|s| !s.starts_with("--")).collect();
            let first_drop = statements.iter().position(|s| s.starts_with("DROP TABLE"));
            let fk_drops = statements
                .iter()
                .take(first_drop.unwrap_or(0))
                .filter(|s| s.contains("_fk"))
                .count();
            // Whichever table goes first, the other's key into it went before.
            assert_eq!(fk_drops, 1, "{sql:#?}");
            assert_eq!(statements.len(), 3, "{sql:#?}");
        }
    }

    #[test]
    fn generated_names_fit_and_stay_distinct() {
        let long = "t".repeat(80);
        let a = fit(format!("{long}_a_key"));
        let b = fit(format!("{long}_b_key"));
        assert!(a.len() <= MAX_NAME && b.len() <= MAX_NAME);
        assert_ne!(a, b);
        assert_eq!(fit("short".into()), "short");
    }
}
