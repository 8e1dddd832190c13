//! Turning a diff into SQL ([`render`] for any dialect). PostgreSQL and MySQL change tables in
//! place (`render/server.rs`). On SQLite, what `ALTER TABLE` cannot do there is written as
//! the table rebuild SQLite documents (<https://sqlite.org/lang_altertable.html>, "other kinds
//! of table schema changes"; Alembic's batch mode): create the new table under a temporary
//! name, copy the rows of the columns both tables have, drop the old one, rename, recreate
//! the indexes.
//!
//! A rebuild drops and recreates the table: with foreign-key enforcement on, dropping a table
//! that other tables refer to deletes (or cascades into) their rows. Run such a migration with
//! `PRAGMA foreign_keys = OFF` and check with `PRAGMA foreign_key_check` before committing,
//! as SQLite's procedure says (the pragma cannot change inside a transaction).

use std::collections::BTreeSet;

mod server;

use alembic_core::url::Dialect;

use crate::diff::Change;
use crate::model::{Column, Schema, Table};

/// The SQL of a diff for `dialect`, one statement per entry (without the `;`), with `-- `
/// comment lines for the reviewer. `from` and `to` are the schemas the diff was made from
/// (renderers need whole tables, for example to rebuild one on SQLite).
pub fn render(dialect: Dialect, changes: &[Change], from: &Schema, to: &Schema) -> Vec<String> {
    match dialect {
        Dialect::Sqlite => sqlite(changes, from, to),
        Dialect::Postgres => server::render(server::Server::Postgres, changes, from),
        Dialect::Mysql => server::render(server::Server::Mysql, changes, from),
    }
}

/// The SQL of a diff, one statement per entry (without the `;`), with the comments a reviewer
/// needs (data that may be lost) as `-- ` lines of their own.
pub fn sqlite(changes: &[Change], from: &Schema, to: &Schema) -> Vec<String> {
    let created = created_tables(changes);
    let rebuilt = rebuilt_tables(changes, from, to);

    // Rebuilds go after the tables this diff creates (a rebuilt table may refer to one) and
    // before the tables it drops (a rebuilt table may stop referring to one, which must
    // happen before that table goes).
    let mut before = Vec::new();
    let mut drops = Vec::new();
    let mut after = Vec::new();
    let mut seen_creates_or_later = false;
    for change in changes {
        let table = change.table();
        let note = change
            .needs_review()
            .then(|| format!("-- REVIEW: {}", review_note(change)));
        if rebuilt.contains(table) {
            before.extend(note);
            continue;
        }
        let target = match change {
            Change::DropTable(_) => &mut drops,
            Change::CreateTable(_) => {
                seen_creates_or_later = true;
                &mut before
            }
            _ if seen_creates_or_later => &mut after,
            _ => &mut before,
        };
        target.extend(note);
        match change {
            Change::CreateTable(_) => {
                // The whole table as wanted, foreign keys included: SQLite cannot add them
                // later, and does not check that the referred table exists yet.
                let full = &to.tables[table];
                target.push(create_table(full, &full.name));
                target.extend(full.indexes.iter().map(|i| create_index(table, i)));
            }
            // Written with the table.
            Change::AddForeignKey { .. } | Change::CreateIndex { .. }
                if created.contains(table) => {}
            Change::DropTable(t) => target.push(format!("DROP TABLE {}", quote(&t.name))),
            Change::AddColumn { column, .. } => target.push(format!(
                "ALTER TABLE {} ADD COLUMN {}",
                quote(table),
                column_def(column)
            )),
            Change::CreateIndex { index, .. } => target.push(create_index(table, index)),
            Change::DropIndex { index, .. } => {
                target.push(format!("DROP INDEX {}", quote(&index.name)))
            }
            // Everything else rebuilds the table (see `needs_rebuild`).
            _ => {}
        }
    }
    let mut out = before;
    for table in &rebuilt {
        out.extend(rebuild(&from.tables[*table], &to.tables[*table]));
    }
    out.extend(drops);
    out.extend(after);
    out
}

/// The tables a diff creates.
fn created_tables(changes: &[Change]) -> BTreeSet<&str> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::CreateTable(t) => Some(t.name.as_str()),
            _ => None,
        })
        .collect()
}

/// The tables [`sqlite`] rebuilds for `changes`: existing tables with a change SQLite's
/// `ALTER TABLE` cannot make in place.
fn rebuilt_tables<'c>(changes: &'c [Change], from: &Schema, to: &Schema) -> BTreeSet<&'c str> {
    let created = created_tables(changes);
    changes
        .iter()
        .filter(|c| !created.contains(c.table()) && needs_rebuild(c))
        .map(Change::table)
        .filter(|t| from.tables.contains_key(*t) && to.tables.contains_key(*t))
        .collect()
}

/// The tables that [`sqlite`]'s SQL for `changes` rebuilds (drops and creates again), sorted:
/// a caller that runs it with foreign keys enforced must know, since dropping a table that
/// others refer to deletes or fails on their rows.
pub fn sqlite_rebuilt_tables(changes: &[Change], from: &Schema, to: &Schema) -> Vec<String> {
    rebuilt_tables(changes, from, to)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Whether SQLite's `ALTER TABLE` cannot make the change in place.
fn needs_rebuild(change: &Change) -> bool {
    match change {
        Change::CreateIndex { .. } | Change::DropIndex { .. } => false,
        Change::CreateTable(_) | Change::DropTable(_) => false,
        // ADD COLUMN takes only a constant default (not CURRENT_TIMESTAMP or an
        // expression), and NOT NULL only with one.
        Change::AddColumn { column, .. } => {
            let constant_or_none = column.default.as_deref().map_or(true, is_constant);
            !(constant_or_none && (column.nullable || column.default.is_some()))
        }
        _ => true,
    }
}

/// A literal number or string, which `ADD COLUMN ... DEFAULT` accepts.
fn is_constant(expression: &str) -> bool {
    expression.starts_with('\'') || expression.parse::<f64>().is_ok()
}

fn review_note(change: &Change) -> String {
    match change {
        Change::DropTable(t) => format!(
            "drops table {} and its rows; if it was renamed, write ALTER TABLE ... RENAME TO instead",
            t.name
        ),
        Change::DropColumn { table, column } => format!(
            "drops column {table}.{} and its values; if it was renamed, write ALTER TABLE ... \
             RENAME COLUMN instead",
            column.name
        ),
        Change::AlterColumn { table, from, to } => format!(
            "changes the type of {table}.{} from {} to {}: values that do not convert may \
             change or fail",
            to.name, from.data_type, to.data_type
        ),
        _ => String::new(),
    }
}

/// The documented twelve-step rebuild, in the statements a migration can run inside its
/// transaction.
fn rebuild(old: &Table, new: &Table) -> Vec<String> {
    let temporary = format!("_alembic_tmp_{}", new.name);
    let mut out = vec![format!(
        "-- {}: rebuilt (SQLite's ALTER TABLE cannot make this change), rows kept",
        new.name
    )];
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for column in &new.columns {
        match old.column(&column.name) {
            Some(before) => {
                targets.push(quote(&column.name));
                // A column becoming NOT NULL takes its default where it held NULL.
                sources.push(
                    match (&column.default, before.nullable && !column.nullable) {
                        (Some(default), true) => {
                            format!(
                                "COALESCE({}, {})",
                                quote(&column.name),
                                default_sql(default)
                            )
                        }
                        _ => quote(&column.name),
                    },
                );
                if before.nullable && !column.nullable && column.default.is_none() {
                    out.push(format!(
                        "-- REVIEW: {}.{} becomes NOT NULL without a default: rows where it is \
                         NULL make this fail; backfill them first",
                        new.name, column.name
                    ));
                }
            }
            None if !column.nullable && column.default.is_none() => out.push(format!(
                "-- REVIEW: new column {}.{} is NOT NULL without a default: this fails if the \
                 table has rows; give it a default or fill it in",
                new.name, column.name
            )),
            None if column.default.is_some()
                && new
                    .uniques
                    .iter()
                    .any(|u| u.columns == [column.name.clone()]) =>
            {
                out.push(format!(
                    "-- REVIEW: new column {}.{} is unique and has a default: every existing \
                     row gets the same value, which fails with more than one row",
                    new.name, column.name
                ))
            }
            None => {}
        }
    }
    out.push(create_table(new, &temporary));
    if !targets.is_empty() {
        out.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            quote(&temporary),
            targets.join(", "),
            sources.join(", "),
            quote(&old.name)
        ));
    }
    out.push(format!("DROP TABLE {}", quote(&old.name)));
    out.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        quote(&temporary),
        quote(&new.name)
    ));
    out.extend(new.indexes.iter().map(|i| create_index(&new.name, i)));
    out
}

/// `CREATE TABLE name (...)` with every column and constraint of `table`.
pub(crate) fn create_table(table: &Table, name: &str) -> String {
    let mut parts: Vec<String> = table.columns.iter().map(column_def).collect();
    if !table.primary_key.is_empty() {
        parts.push(format!("PRIMARY KEY ({})", quote_list(&table.primary_key)));
    }
    for unique in &table.uniques {
        parts.push(format!("UNIQUE ({})", quote_list(&unique.columns)));
    }
    for check in &table.checks {
        parts.push(format!("CHECK ({})", check.expression));
    }
    for fk in &table.foreign_keys {
        let mut text = format!(
            "FOREIGN KEY ({}) REFERENCES {} ({})",
            quote_list(&fk.columns),
            quote(&fk.referred_table),
            quote_list(&fk.referred_columns)
        );
        if let Some(action) = &fk.on_delete {
            text.push_str(&format!(" ON DELETE {action}"));
        }
        if let Some(action) = &fk.on_update {
            text.push_str(&format!(" ON UPDATE {action}"));
        }
        parts.push(text);
    }
    format!(
        "CREATE TABLE {} (\n    {}\n)",
        quote(name),
        parts.join(",\n    ")
    )
}

fn column_def(column: &Column) -> String {
    let mut text = format!("{} {}", quote(&column.name), column.data_type);
    if !column.nullable {
        text.push_str(" NOT NULL");
    }
    if let Some(default) = &column.default {
        if is_constant(default) || default.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            text.push_str(&format!(" DEFAULT {default}"));
        } else {
            // An expression default must be parenthesised in SQLite.
            text.push_str(&format!(" DEFAULT ({default})"));
        }
    }
    text
}

/// A default as an expression usable in a query.
fn default_sql(default: &str) -> String {
    if is_constant(default) {
        default.to_string()
    } else {
        format!("({default})")
    }
}

fn create_index(table: &str, index: &crate::model::Index) -> String {
    let mut text = format!(
        "CREATE {}INDEX {} ON {} ({})",
        if index.unique { "UNIQUE " } else { "" },
        quote(&index.name),
        quote(table),
        quote_list(&index.columns)
    );
    if let Some(predicate) = &index.predicate {
        text.push_str(&format!(" WHERE {predicate}"));
    }
    text
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote(n))
        .collect::<Vec<_>>()
        .join(", ")
}
