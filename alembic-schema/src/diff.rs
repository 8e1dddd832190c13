//! Comparing two schemas: the changes that turn `from` into `to`, ordered so that foreign keys
//! hold at every step.
//!
//! The order is the one a migration must follow: constraints that point at what is about to
//! change are dropped first, tables are dropped after everything that refers to them and
//! created before anything that refers to them, and foreign keys are added last. Reversing a
//! diff is diffing the other way round (`diff(to, from)`), which is how a revision's downgrade
//! is made.
//!
//! What cannot be decided from two schemas alone is reported as it looks, with a flag for the
//! reviewer: a renamed column is a drop and an add (its data would be lost), and a type change
//! may not convert every value (`Change::AlterColumn::type_change`).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{CheckConstraint, Column, ForeignKey, Index, Schema, Table, UniqueConstraint};

/// One change of a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    CreateTable(Table),
    DropTable(Table),
    AddColumn {
        table: String,
        column: Column,
    },
    DropColumn {
        table: String,
        column: Column,
    },
    /// One column's type, nullability or default changed (`from` and `to` are the whole
    /// column, so both directions can be rendered).
    AlterColumn {
        table: String,
        from: Column,
        to: Column,
    },
    SetPrimaryKey {
        table: String,
        from: Vec<String>,
        to: Vec<String>,
    },
    AddUnique {
        table: String,
        unique: UniqueConstraint,
    },
    DropUnique {
        table: String,
        unique: UniqueConstraint,
    },
    CreateIndex {
        table: String,
        index: Index,
    },
    DropIndex {
        table: String,
        index: Index,
    },
    AddForeignKey {
        table: String,
        foreign_key: ForeignKey,
    },
    DropForeignKey {
        table: String,
        foreign_key: ForeignKey,
    },
    AddCheck {
        table: String,
        check: CheckConstraint,
    },
    DropCheck {
        table: String,
        check: CheckConstraint,
    },
}

impl Change {
    /// The table the change is about.
    pub fn table(&self) -> &str {
        match self {
            Change::CreateTable(t) | Change::DropTable(t) => &t.name,
            Change::AddColumn { table, .. }
            | Change::DropColumn { table, .. }
            | Change::AlterColumn { table, .. }
            | Change::SetPrimaryKey { table, .. }
            | Change::AddUnique { table, .. }
            | Change::DropUnique { table, .. }
            | Change::CreateIndex { table, .. }
            | Change::DropIndex { table, .. }
            | Change::AddForeignKey { table, .. }
            | Change::DropForeignKey { table, .. }
            | Change::AddCheck { table, .. }
            | Change::DropCheck { table, .. } => table,
        }
    }

    /// Whether the change can lose data and needs a person's review: a dropped table or
    /// column (a rename looks like this too), or a column type change.
    pub fn needs_review(&self) -> bool {
        match self {
            Change::DropTable(_) | Change::DropColumn { .. } => true,
            Change::AlterColumn { from, to, .. } => from.data_type != to.data_type,
            _ => false,
        }
    }
}

/// The changes that turn `from` into `to`, in an order that keeps foreign keys valid; empty
/// when the schemas are equal.
pub fn diff(from: &Schema, to: &Schema) -> Vec<Change> {
    let mut drops_fk = Vec::new();
    let mut drops_index = Vec::new();
    let mut drops_constraint = Vec::new();
    let mut table_drops: Vec<&Table> = Vec::new();
    let mut table_creates: Vec<&Table> = Vec::new();
    let mut columns = Vec::new();
    let mut adds_constraint = Vec::new();
    let mut adds_index = Vec::new();
    let mut adds_fk = Vec::new();

    for (name, old) in &from.tables {
        if !to.tables.contains_key(name) {
            table_drops.push(old);
            // Foreign keys of other kept tables that point here are dropped by their own
            // table's comparison below, since `to` cannot still have them.
        }
    }
    for (name, new) in &to.tables {
        let Some(old) = from.tables.get(name) else {
            table_creates.push(new);
            // A new table's foreign keys are added after every table exists, so that two new
            // tables may refer to each other.
            for fk in &new.foreign_keys {
                adds_fk.push(Change::AddForeignKey {
                    table: name.clone(),
                    foreign_key: fk.clone(),
                });
            }
            continue;
        };
        compare_set(&old.foreign_keys, &new.foreign_keys, |fk, added| {
            let change = if added {
                Change::AddForeignKey {
                    table: name.clone(),
                    foreign_key: fk.clone(),
                }
            } else {
                Change::DropForeignKey {
                    table: name.clone(),
                    foreign_key: fk.clone(),
                }
            };
            if added {
                adds_fk.push(change)
            } else {
                drops_fk.push(change)
            }
        });
        compare_indexes(name, old, new, &mut drops_index, &mut adds_index);
        compare_set(&old.uniques, &new.uniques, |unique, added| {
            let (list, change) = if added {
                (
                    &mut adds_constraint,
                    Change::AddUnique {
                        table: name.clone(),
                        unique: unique.clone(),
                    },
                )
            } else {
                (
                    &mut drops_constraint,
                    Change::DropUnique {
                        table: name.clone(),
                        unique: unique.clone(),
                    },
                )
            };
            list.push(change);
        });
        compare_set(&old.checks, &new.checks, |check, added| {
            let (list, change) = if added {
                (
                    &mut adds_constraint,
                    Change::AddCheck {
                        table: name.clone(),
                        check: check.clone(),
                    },
                )
            } else {
                (
                    &mut drops_constraint,
                    Change::DropCheck {
                        table: name.clone(),
                        check: check.clone(),
                    },
                )
            };
            list.push(change);
        });
        compare_columns(name, old, new, &mut columns);
        if old.primary_key != new.primary_key {
            columns.push(Change::SetPrimaryKey {
                table: name.clone(),
                from: old.primary_key.clone(),
                to: new.primary_key.clone(),
            });
        }
    }

    // Tables that are dropped lose their outgoing foreign keys with them; a dropped table
    // referred to by another dropped table must go after it.
    let table_drops = order_by_references(table_drops, true);
    let table_creates = order_by_references(table_creates, false);

    let mut out = Vec::new();
    out.extend(drops_fk);
    out.extend(drops_index);
    out.extend(drops_constraint);
    out.extend(table_drops.into_iter().cloned().map(Change::DropTable));
    out.extend(table_creates.into_iter().cloned().map(|mut t| {
        // Created without foreign keys; they come with the others at the end.
        t.foreign_keys.clear();
        Change::CreateTable(t)
    }));
    out.extend(columns);
    out.extend(adds_constraint);
    out.extend(adds_index);
    out.extend(adds_fk);
    out
}

/// Calls `f(item, added)` for each item only in `new` (`true`) or only in `old` (`false`).
fn compare_set<T: Ord>(old: &[T], new: &[T], mut f: impl FnMut(&T, bool)) {
    let old_set: BTreeSet<&T> = old.iter().collect();
    let new_set: BTreeSet<&T> = new.iter().collect();
    for item in old_set.difference(&new_set) {
        f(item, false);
    }
    for item in new_set.difference(&old_set) {
        f(item, true);
    }
}

/// Indexes by name: a changed index is dropped and created again.
fn compare_indexes(
    table: &str,
    old: &Table,
    new: &Table,
    drops: &mut Vec<Change>,
    adds: &mut Vec<Change>,
) {
    let old_by_name: BTreeMap<&str, &Index> =
        old.indexes.iter().map(|i| (i.name.as_str(), i)).collect();
    let new_by_name: BTreeMap<&str, &Index> =
        new.indexes.iter().map(|i| (i.name.as_str(), i)).collect();
    for (name, index) in &old_by_name {
        if new_by_name.get(name) != Some(index) {
            drops.push(Change::DropIndex {
                table: table.to_string(),
                index: (*index).clone(),
            });
        }
    }
    for (name, index) in &new_by_name {
        if old_by_name.get(name) != Some(index) {
            adds.push(Change::CreateIndex {
                table: table.to_string(),
                index: (*index).clone(),
            });
        }
    }
}

/// Columns by name: dropped, then altered, then added (in `new`'s table order).
fn compare_columns(table: &str, old: &Table, new: &Table, out: &mut Vec<Change>) {
    for column in &old.columns {
        if new.column(&column.name).is_none() {
            out.push(Change::DropColumn {
                table: table.to_string(),
                column: column.clone(),
            });
        }
    }
    for column in &new.columns {
        match old.column(&column.name) {
            Some(before) if before != column => out.push(Change::AlterColumn {
                table: table.to_string(),
                from: before.clone(),
                to: column.clone(),
            }),
            Some(_) => {}
            None => out.push(Change::AddColumn {
                table: table.to_string(),
                column: column.clone(),
            }),
        }
    }
}

/// Tables ordered so that a referred table comes before the tables that refer to it
/// (`reverse`: after them, for drops). Cycles (tables referring to each other) keep name
/// order among themselves; their foreign keys are handled separately for creates, and
/// dropped with the tables.
fn order_by_references(tables: Vec<&Table>, reverse: bool) -> Vec<&Table> {
    let names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut ordered: Vec<&Table> = Vec::with_capacity(tables.len());
    let mut remaining = tables;
    while !remaining.is_empty() {
        let before = ordered.len();
        let mut next = Vec::new();
        for table in remaining {
            let waits = table.foreign_keys.iter().any(|fk| {
                fk.referred_table != table.name
                    && names.contains(fk.referred_table.as_str())
                    && !placed.contains(fk.referred_table.as_str())
            });
            if waits {
                next.push(table);
            } else {
                ordered.push(table);
            }
        }
        for table in &ordered[before..] {
            placed.insert(table.name.as_str());
        }
        if ordered.len() == before {
            // A cycle: place the rest as they are.
            ordered.extend(next);
            break;
        }
        remaining = next;
    }
    if reverse {
        ordered.reverse();
    }
    ordered
}
