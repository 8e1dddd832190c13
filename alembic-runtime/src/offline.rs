//! Offline mode (`--sql`): the SQL script a plan would run, for a DBA to review and apply,
//! written without a database connection.
//!
//! The layout follows Python Alembic's `--sql` output: the version table's `CREATE TABLE` when
//! the range starts from nothing (and the history table's `CREATE TABLE IF NOT EXISTS` in every
//! script that writes history rows), a `-- Running upgrade a -> b` comment per step, the script's
//! SQL, then the version-table statement with literal ids. Transactions follow the same modes
//! as online runs; dialects without transactional DDL (MySQL) get no `BEGIN;`/`COMMIT;`, as
//! in Alembic. History rows are written too, so a database migrated from a reviewed script
//! can be verified like one migrated online.

use alembic_core::plan::{Plan, StepKind, VersionChange};
use alembic_core::source::ScriptDirectory;
use alembic_core::url::Dialect;
use alembic_core::Script;

use crate::dialect::{self, push_literal, quote_literal, Tables};
use crate::error::RunError;
use crate::executor::{check_plan, history_rows, Context};
use crate::history::{ChainedChecksums, HistoryRow};
use crate::options::RunOptions;

/// The whole SQL script of `plan` in `dialect`.
///
/// Fails, as an online run would, when a step's revision has no script or a downgrade step's
/// script has no downgrade SQL.
pub fn offline_sql(
    dialect: Dialect,
    plan: &Plan,
    scripts: &ScriptDirectory,
    options: &RunOptions,
) -> Result<String, RunError> {
    let ctx = Context {
        scripts,
        options,
        tables: Tables::new(dialect, options),
    };
    check_plan(&ctx, plan)?;
    let transactional = dialect::transactional_ddl(dialect);
    let mut chain = ChainedChecksums::new(scripts);
    let mut out = Output::default();

    // Like Alembic: a range that starts from a revision assumes the version table exists.
    // The history table may not (a database Python Alembic made), so a range's script
    // creates it where missing, just before its first history row (inside the transaction
    // that records it).
    let mut history_created = false;
    if plan.heads_before.is_empty() {
        if transactional {
            out.begin();
        }
        out.statement(&ctx.tables.create_version_table_offline());
        out.statement(&ctx.tables.create_history_table_offline());
        history_created = true;
    }

    for step in &plan.steps {
        let script = match step.revision() {
            Some(id) => Some(ctx.script(id)?),
            None => None,
        };
        let outside = transactional && script.is_some_and(|s| !s.transactional);
        if outside {
            out.commit();
        } else if transactional {
            out.begin();
        }

        out.comment(&running_comment(&step.kind, script));
        if let Some(script) = script {
            let sql = match step.kind {
                StepKind::Downgrade { .. } => script.downgrade_sql.as_deref().unwrap_or(""),
                _ => script.upgrade_sql.as_str(),
            };
            out.script_sql(sql);
        }
        if outside {
            out.begin();
        }
        for change in &step.version_changes {
            out.statement(&version_statement(&ctx.tables, change));
        }
        for row in history_rows(step, script, &ctx, &mut chain, String::new(), None) {
            if !history_created {
                out.statement(&ctx.tables.create_history_table_offline());
                history_created = true;
            }
            out.statement(&history_insert(&ctx.tables, &row));
        }
        if transactional && (options.transaction_per_migration || outside) {
            out.commit();
        }
    }
    out.commit();
    Ok(out.text)
}

/// The script being written, and whether it has a transaction open.
#[derive(Default)]
struct Output {
    text: String,
    open: bool,
}

impl Output {
    fn begin(&mut self) {
        if !self.open {
            self.text.push_str("BEGIN;\n\n");
            self.open = true;
        }
    }

    fn commit(&mut self) {
        if self.open {
            self.text.push_str("COMMIT;\n\n");
            self.open = false;
        }
    }

    fn comment(&mut self, line: &str) {
        self.text.push_str("-- ");
        self.text.push_str(line);
        self.text.push_str("\n\n");
    }

    fn statement(&mut self, sql: &str) {
        self.text.push_str(sql);
        self.text.push_str(";\n\n");
    }

    /// A revision's SQL as written, terminated so that the next statement cannot run into it.
    fn script_sql(&mut self, sql: &str) {
        let sql = sql.trim();
        if sql.is_empty() {
            return;
        }
        self.text.push_str(sql);
        let last_line = sql.lines().last().unwrap_or("").trim_start();
        if !sql.ends_with(';') && !last_line.starts_with("--") {
            self.text.push(';');
        }
        self.text.push_str("\n\n");
    }
}

/// Alembic's step comment: `Running upgrade a -> b`, `Running downgrade b -> a`,
/// `Running stamp_revision a -> b` (an empty side, the base, left blank as Alembic does).
fn running_comment(kind: &StepKind, script: Option<&Script>) -> String {
    let downs = script
        .map(|s| s.revision.down_revisions.join(", "))
        .unwrap_or_default();
    match kind {
        StepKind::Upgrade { revision } => format!("Running upgrade {downs} -> {revision}"),
        StepKind::Downgrade { revision } => format!("Running downgrade {revision} -> {downs}"),
        StepKind::Stamp { from, to } => {
            format!(
                "Running stamp_revision {} -> {}",
                from.join(", "),
                to.join(", ")
            )
        }
    }
}

fn version_statement(tables: &Tables, change: &VersionChange) -> String {
    let d = tables.dialect;
    let table = tables.version_sql();
    match change {
        VersionChange::Insert { id } => format!(
            "INSERT INTO {table} (version_num) VALUES ({})",
            quote_literal(d, id)
        ),
        VersionChange::Update { from, to } => format!(
            "UPDATE {table} SET version_num={} WHERE {table}.version_num = {}",
            quote_literal(d, to),
            quote_literal(d, from)
        ),
        VersionChange::Delete { id } => format!(
            "DELETE FROM {table} WHERE {table}.version_num = {}",
            quote_literal(d, id)
        ),
    }
}

/// A history row with literal values; the time is the database's clock when the script runs.
fn history_insert(tables: &Tables, row: &HistoryRow) -> String {
    let d = tables.dialect;
    // Built in place rather than with format!: one of these per revision, each holding the
    // revision's downgrade SQL.
    let mut sql = String::with_capacity(
        256 + row
            .downgrade_sql
            .as_ref()
            .map_or(0, |s| s.len() + s.len() / 16),
    );
    sql.push_str("INSERT INTO ");
    sql.push_str(&tables.history_sql());
    sql.push_str(" (");
    sql.push_str(&dialect::HISTORY_COLUMNS.join(", "));
    sql.push_str(") VALUES (");
    let text = |sql: &mut String, v: Option<&str>| {
        match v {
            Some(s) => push_literal(sql, d, s),
            None => sql.push_str("NULL"),
        }
        sql.push_str(", ");
    };
    text(&mut sql, Some(&row.revision));
    text(&mut sql, Some(row.operation.as_str()));
    text(&mut sql, row.checksum.as_deref());
    text(&mut sql, row.chained_checksum.as_deref());
    text(&mut sql, row.downgrade_sql.as_deref());
    sql.push_str(dialect::now_utc_text(d));
    sql.push_str(", NULL, ");
    text(&mut sql, Some(&row.tool));
    text(&mut sql, row.down_revisions.as_deref());
    text(&mut sql, row.actor.as_deref());
    match &row.reason {
        Some(reason) => push_literal(&mut sql, d, reason),
        None => sql.push_str("NULL"),
    }
    sql.push(')');
    sql
}
