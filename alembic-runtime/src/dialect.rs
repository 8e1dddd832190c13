//! Every piece of SQL text that differs between databases: identifier and literal quoting,
//! placeholders, the DDL of the version tables, the existence check and the statements that
//! move version rows.
//!
//! Backends execute text built here; they never build SQL themselves. Adding PostgreSQL or
//! MySQL support therefore means a connection wrapper, not another copy of these statements.
//! Identifiers go through [`quote_ident`] and nothing else; values are bound as parameters
//! online and quoted by [`quote_literal`] only in offline scripts, which have no parameters.

use alembic_core::url::Dialect;

use crate::backend::SqlValue;
use crate::options::RunOptions;

/// Words that must be quoted when used as a table or schema name. Not every keyword of every
/// database: the ones a user could plausibly pick as a table name, plus what SQLAlchemy quotes,
/// so that default names come out bare exactly as Python Alembic writes them.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "as",
    "asc",
    "begin",
    "between",
    "both",
    "by",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "commit",
    "constraint",
    "create",
    "cross",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "database",
    "default",
    "delete",
    "desc",
    "distinct",
    "do",
    "drop",
    "else",
    "end",
    "except",
    "exists",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "join",
    "key",
    "leading",
    "left",
    "like",
    "limit",
    "lock",
    "natural",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "primary",
    "references",
    "right",
    "rollback",
    "schema",
    "select",
    "session_user",
    "some",
    "table",
    "then",
    "to",
    "trailing",
    "transaction",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "when",
    "where",
    "window",
    "with",
];

/// The one function that turns a table, schema or constraint name into SQL.
///
/// Names that need no quoting (lowercase letters, digits and `_`, not starting with a digit,
/// not reserved) stay bare, as SQLAlchemy leaves them, so the default tables are byte for byte
/// Python Alembic's. Anything else is quoted with the dialect's quote character, doubled inside.
pub fn quote_ident(dialect: Dialect, name: &str) -> String {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !RESERVED.contains(&name);
    if plain {
        return name.to_string();
    }
    let q = match dialect {
        Dialect::Mysql => '`',
        Dialect::Sqlite | Dialect::Postgres => '"',
    };
    let mut out = String::with_capacity(name.len() + 2);
    out.push(q);
    for c in name.chars() {
        if c == q {
            out.push(q);
        }
        out.push(c);
    }
    out.push(q);
    out
}

/// A string literal for offline scripts (revision ids, checksums, stored downgrade SQL).
///
/// Online code never calls this: it binds values. MySQL treats a backslash as an escape inside
/// literals by default, so it is doubled there; PostgreSQL (with its default
/// `standard_conforming_strings`) and SQLite only need the quote doubled.
pub fn quote_literal(dialect: Dialect, value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_literal(&mut out, dialect, value);
    out
}

/// [`quote_literal`] appended to `out`. Copies the runs between characters that need escaping
/// whole: `--sql` quotes every revision's downgrade SQL into its history row, megabytes at
/// 10,000 revisions.
pub fn push_literal(out: &mut String, dialect: Dialect, value: &str) {
    let escapes_backslash = dialect == Dialect::Mysql;
    out.reserve(value.len() + 2);
    out.push('\'');
    let mut run_start = 0;
    for (i, b) in value.bytes().enumerate() {
        // Both are ASCII, so `i` is always a char boundary.
        let escaped = match b {
            b'\'' => "''",
            b'\\' if escapes_backslash => "\\\\",
            _ => continue,
        };
        out.push_str(&value[run_start..i]);
        out.push_str(escaped);
        run_start = i + 1;
    }
    out.push_str(&value[run_start..]);
    out.push('\'');
}

/// The `n`th (1-based) bound-parameter marker.
pub fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
        Dialect::Mysql => "?".to_string(),
    }
}

/// Whether DDL takes part in transactions, so that a script and its version row can commit
/// together. MySQL commits implicitly around DDL: each revision's version row moves right after
/// it, and a failure is reported as possibly half-applied.
pub fn transactional_ddl(dialect: Dialect) -> bool {
    match dialect {
        Dialect::Sqlite | Dialect::Postgres => true,
        Dialect::Mysql => false,
    }
}

/// The names of the two bookkeeping tables, quoted and qualified once per run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tables {
    pub dialect: Dialect,
    pub schema: Option<String>,
    /// Unquoted name of the version table.
    pub version: String,
    /// Unquoted name of the history table.
    pub history: String,
}

impl Tables {
    pub fn new(dialect: Dialect, options: &RunOptions) -> Tables {
        Tables {
            dialect,
            schema: options.version_table_schema.clone(),
            version: options.version_table.clone(),
            history: options.history_table(),
        }
    }

    fn qualified(&self, table: &str) -> String {
        match &self.schema {
            Some(schema) => format!(
                "{}.{}",
                quote_ident(self.dialect, schema),
                quote_ident(self.dialect, table)
            ),
            None => quote_ident(self.dialect, table),
        }
    }

    /// Schema-qualified, quoted version table.
    pub fn version_sql(&self) -> String {
        self.qualified(&self.version)
    }

    /// Schema-qualified, quoted history table.
    pub fn history_sql(&self) -> String {
        self.qualified(&self.history)
    }

    /// Python Alembic's version table, with its constraint name `<table>_pkc`, laid out as
    /// SQLAlchemy sends it to the database: columns indented by a tab (this exact text is
    /// what SQLite keeps in `sqlite_master`).
    pub fn create_version_table(&self) -> String {
        self.version_table_ddl("\t")
    }

    /// The same for offline scripts, indented by four spaces as Alembic's `--sql` prints it.
    pub fn create_version_table_offline(&self) -> String {
        self.version_table_ddl("    ")
    }

    fn version_table_ddl(&self, indent: &str) -> String {
        let pkc = quote_ident(self.dialect, &format!("{}_pkc", self.version));
        format!(
            "CREATE TABLE {} (\n{indent}version_num VARCHAR(32) NOT NULL, \n\
             {indent}CONSTRAINT {pkc} PRIMARY KEY (version_num)\n)",
            self.version_sql()
        )
    }

    /// The audit table: one row per upgrade, downgrade and stamp of a revision.
    pub fn create_history_table(&self) -> String {
        self.history_table_ddl("\t")
    }

    /// The same for offline scripts, as `CREATE TABLE IF NOT EXISTS`: a script for a range
    /// (`c3:head`) may run on a database that has the table (made by us) or not (made by
    /// Python Alembic), and cannot look first. SQLite, PostgreSQL (9.1+) and MySQL all accept
    /// the clause.
    pub fn create_history_table_offline(&self) -> String {
        self.history_table_ddl("    ")
            .replacen("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
    }

    fn history_table_ddl(&self, indent: &str) -> String {
        let id = match self.dialect {
            Dialect::Sqlite => "id INTEGER NOT NULL PRIMARY KEY",
            Dialect::Postgres => "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            Dialect::Mysql => "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
        };
        let columns = [
            id,
            "revision VARCHAR(32) NOT NULL",
            "operation VARCHAR(16) NOT NULL",
            "checksum VARCHAR(64)",
            "chained_checksum VARCHAR(64)",
            "downgrade_sql TEXT",
            "applied_at VARCHAR(32) NOT NULL",
            "duration_ms BIGINT",
            "tool VARCHAR(255) NOT NULL",
            // Added for deploy rollback and audited amendments; nullable, so that
            // `add_history_column` can add them to a table made before them.
            HISTORY_ADDED_COLUMNS[0].1,
            HISTORY_ADDED_COLUMNS[1].1,
            HISTORY_ADDED_COLUMNS[2].1,
        ];
        let body: Vec<String> = columns.iter().map(|c| format!("{indent}{c}")).collect();
        format!(
            "CREATE TABLE {} (\n{}\n)",
            self.history_sql(),
            body.join(",\n")
        )
    }

    /// The column names of the history table, one per row.
    pub fn select_history_columns(&self) -> (String, Vec<SqlValue>) {
        let table = SqlValue::Text(self.history.clone());
        let schema = match &self.schema {
            Some(s) => SqlValue::Text(s.clone()),
            None => SqlValue::Null,
        };
        match self.dialect {
            Dialect::Sqlite => match &self.schema {
                Some(s) => (
                    "SELECT name FROM pragma_table_info(?1, ?2)".to_string(),
                    vec![table, SqlValue::Text(s.clone())],
                ),
                None => (
                    "SELECT name FROM pragma_table_info(?1)".to_string(),
                    vec![table],
                ),
            },
            Dialect::Postgres => (
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2"
                    .to_string(),
                vec![schema, table],
            ),
            Dialect::Mysql => (
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?"
                    .to_string(),
                vec![schema, table],
            ),
        }
    }

    /// Adds one of [`HISTORY_ADDED_COLUMNS`] (its definition) to the history table. Every
    /// dialect accepts `ADD COLUMN` of a nullable column without a default.
    pub fn add_history_column(&self, definition: &str) -> String {
        format!("ALTER TABLE {} ADD COLUMN {definition}", self.history_sql())
    }

    /// A query returning one row when `table` exists (in the configured schema, or the
    /// connection's default one).
    pub fn table_exists_query(&self, table: &str) -> (String, Vec<SqlValue>) {
        let d = self.dialect;
        let schema = match &self.schema {
            Some(s) => SqlValue::Text(s.clone()),
            None => SqlValue::Null,
        };
        match d {
            Dialect::Sqlite => {
                let master = match &self.schema {
                    Some(s) => format!("{}.sqlite_master", quote_ident(d, s)),
                    None => "sqlite_master".to_string(),
                };
                (
                    format!("SELECT name FROM {master} WHERE type = 'table' AND name = ?1"),
                    vec![SqlValue::Text(table.to_string())],
                )
            }
            Dialect::Postgres => (
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2"
                    .to_string(),
                vec![schema, SqlValue::Text(table.to_string())],
            ),
            Dialect::Mysql => (
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?"
                    .to_string(),
                vec![schema, SqlValue::Text(table.to_string())],
            ),
        }
    }

    pub fn select_heads(&self) -> String {
        format!("SELECT version_num FROM {}", self.version_sql())
    }

    pub fn insert_version(&self) -> String {
        format!(
            "INSERT INTO {} (version_num) VALUES ({})",
            self.version_sql(),
            placeholder(self.dialect, 1)
        )
    }

    /// Parameters: new id, old id.
    pub fn update_version(&self) -> String {
        format!(
            "UPDATE {} SET version_num = {} WHERE version_num = {}",
            self.version_sql(),
            placeholder(self.dialect, 1),
            placeholder(self.dialect, 2)
        )
    }

    pub fn delete_version(&self) -> String {
        format!(
            "DELETE FROM {} WHERE version_num = {}",
            self.version_sql(),
            placeholder(self.dialect, 1)
        )
    }

    /// The text that marks a revision's latest history row as applying it with a recorded
    /// chain: its chained checksum on upgrade and stamp rows, `''` on others (a downgrade, a
    /// stamp that removed it) and where none was recorded.
    fn applied_chain_expr() -> &'static str {
        "COALESCE(CASE WHEN operation IN ('upgrade', 'stamp', 'rehash') THEN chained_checksum \
         END, '')"
    }

    /// The rows that say what is applied: upgrades, downgrades and stamps, and rehashes (an
    /// applied revision's amended checksums). The markers of a failed non-transactional
    /// revision and of its resolution (see `dirty.rs`) say nothing about what is applied, so
    /// chains skip them.
    fn moves_versions() -> &'static str {
        "operation IN ('upgrade', 'downgrade', 'stamp', 'rehash')"
    }

    /// `a || b || ...` (SQLite, PostgreSQL) or `CONCAT(a, b, ...)` (MySQL).
    fn concat(&self, parts: &[&str]) -> String {
        match self.dialect {
            Dialect::Mysql => format!("CONCAT({})", parts.join(", ")),
            Dialect::Sqlite | Dialect::Postgres => parts.join(" || "),
        }
    }

    /// A revision's latest upgrade row as `checksum chained_checksum down_revisions...` (`-`
    /// for a missing checksum, and `?` alone in place of the parents when the row has none
    /// recorded), or no row; parameter: the id. What reverting a revision without its script
    /// reads (see `rollback.rs`).
    pub fn select_latest_upgrade(&self) -> String {
        let line = self.concat(&[
            "COALESCE(checksum, '-')",
            "' '",
            "COALESCE(chained_checksum, '-')",
            "' '",
            "COALESCE(down_revisions, '?')",
        ]);
        format!(
            "SELECT {line} FROM {} WHERE revision = {} AND operation = 'upgrade' \
             ORDER BY id DESC LIMIT 1",
            self.history_sql(),
            placeholder(self.dialect, 1)
        )
    }

    /// The downgrade SQL stored by a revision's latest upgrade row, prefixed with `s`, or `n`
    /// when that row stored none (so that an empty script is told from a missing one); no row
    /// when there is no upgrade row. Parameter: the id.
    pub fn select_latest_downgrade_sql(&self) -> String {
        let stored = self.concat(&["'s'", "downgrade_sql"]);
        format!(
            "SELECT CASE WHEN downgrade_sql IS NULL THEN 'n' ELSE {stored} END FROM {} \
             WHERE revision = {} AND operation = 'upgrade' ORDER BY id DESC LIMIT 1",
            self.history_sql(),
            placeholder(self.dialect, 1)
        )
    }

    /// One revision's latest applied chain (see `applied_chain_expr`); parameter: the id.
    pub fn select_latest_chain(&self) -> String {
        format!(
            "SELECT {} FROM {} WHERE revision = {} AND {} ORDER BY id DESC LIMIT 1",
            Self::applied_chain_expr(),
            self.history_sql(),
            placeholder(self.dialect, 1),
            Self::moves_versions()
        )
    }

    /// The latest history row as `revision checksum-or-'-' applied_at operation` (the
    /// operation last: a failure marker's text has a space), or no row: what tells whether the
    /// database is dirty, read with one indexed lookup.
    pub fn select_latest_history(&self) -> String {
        let parts = [
            "revision",
            "COALESCE(checksum, '-')",
            "applied_at",
            "operation",
        ];
        let line = match self.dialect {
            Dialect::Mysql => format!("CONCAT_WS(' ', {})", parts.join(", ")),
            Dialect::Sqlite | Dialect::Postgres => parts.join(" || ' ' || "),
        };
        format!(
            "SELECT {line} FROM {} ORDER BY id DESC LIMIT 1",
            self.history_sql()
        )
    }

    /// Every history row as `revision chain` (see `applied_chain_expr`), oldest first, in one
    /// column so that every backend's one-column query reads it.
    pub fn select_recorded_chains(&self) -> String {
        let line = match self.dialect {
            Dialect::Mysql => format!("CONCAT(revision, ' ', {})", Self::applied_chain_expr()),
            Dialect::Sqlite | Dialect::Postgres => {
                format!("revision || ' ' || {}", Self::applied_chain_expr())
            }
        };
        format!(
            "SELECT {line} FROM {} WHERE {} ORDER BY id",
            self.history_sql(),
            Self::moves_versions()
        )
    }

    /// Parameters in `HISTORY_COLUMNS` order.
    pub fn insert_history(&self) -> String {
        let marks: Vec<String> = (1..=HISTORY_COLUMNS.len())
            .map(|n| placeholder(self.dialect, n))
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.history_sql(),
            HISTORY_COLUMNS.join(", "),
            marks.join(", ")
        )
    }
}

/// The history columns a row insert fills (`id` is generated).
pub const HISTORY_COLUMNS: [&str; 11] = [
    "revision",
    "operation",
    "checksum",
    "chained_checksum",
    "downgrade_sql",
    "applied_at",
    "duration_ms",
    "tool",
    "down_revisions",
    "actor",
    "reason",
];

/// The history columns added after the table's first layout, with their definitions: a
/// history table made by an earlier build gets them added when a run finds them missing
/// (`history::add_missing_columns`).
pub const HISTORY_ADDED_COLUMNS: [(&str, &str); 3] = [
    ("down_revisions", "down_revisions TEXT"),
    ("actor", "actor VARCHAR(255)"),
    ("reason", "reason TEXT"),
];

/// The current UTC time as ISO-8601 text with milliseconds, computed by the database, for
/// offline scripts (online runs bind the time measured by the runtime, in the same format).
pub fn now_utc_text(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        Dialect::Postgres => {
            "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        }
        // %f is microseconds: keep the first three digits, like the other dialects.
        Dialect::Mysql => {
            "CONCAT(LEFT(DATE_FORMAT(UTC_TIMESTAMP(3), '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_stay_bare_and_others_are_quoted() {
        assert_eq!(
            quote_ident(Dialect::Sqlite, "alembic_version"),
            "alembic_version"
        );
        assert_eq!(quote_ident(Dialect::Sqlite, "_v2"), "_v2");
        assert_eq!(quote_ident(Dialect::Sqlite, "order"), "\"order\"");
        assert_eq!(quote_ident(Dialect::Postgres, "Versions"), "\"Versions\"");
        assert_eq!(quote_ident(Dialect::Sqlite, "2fast"), "\"2fast\"");
        assert_eq!(quote_ident(Dialect::Sqlite, "a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident(Dialect::Mysql, "a`b c"), "`a``b c`");
        assert_eq!(quote_ident(Dialect::Mysql, ""), "``");
    }

    #[test]
    fn literals_double_quotes_and_mysql_backslashes() {
        assert_eq!(quote_literal(Dialect::Sqlite, "it's"), "'it''s'");
        assert_eq!(quote_literal(Dialect::Postgres, "a\\b"), "'a\\b'");
        assert_eq!(quote_literal(Dialect::Mysql, "a\\b'"), "'a\\\\b'''");
        // Escapes at both ends, runs of non-ASCII text between them, nothing at all.
        assert_eq!(quote_literal(Dialect::Sqlite, "'é''x'"), "'''é''''x'''");
        assert_eq!(quote_literal(Dialect::Mysql, "\\ü\\"), "'\\\\ü\\\\'");
        assert_eq!(quote_literal(Dialect::Postgres, ""), "''");
    }

    #[test]
    fn version_table_is_pythons_and_schema_is_qualified() {
        let mut options = RunOptions::default();
        let t = Tables::new(Dialect::Sqlite, &options);
        assert_eq!(
            t.create_version_table(),
            "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\t\
             CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)"
        );
        assert_eq!(
            t.create_version_table_offline(),
            "CREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL, \n    \
             CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)"
        );
        assert_eq!(t.history_sql(), "alembic_version_history");
        options.version_table = "Ver".into();
        options.version_table_schema = Some("app".into());
        let t = Tables::new(Dialect::Postgres, &options);
        assert_eq!(t.version_sql(), "app.\"Ver\"");
        assert_eq!(t.history_sql(), "app.\"Ver_history\"");
        assert!(t.create_version_table().contains("CONSTRAINT \"Ver_pkc\""));
        assert_eq!(
            t.update_version(),
            "UPDATE app.\"Ver\" SET version_num = $1 WHERE version_num = $2"
        );
        let m = Tables::new(Dialect::Mysql, &RunOptions::default());
        assert_eq!(
            m.insert_history(),
            "INSERT INTO alembic_version_history (revision, operation, checksum, \
             chained_checksum, downgrade_sql, applied_at, duration_ms, tool, down_revisions, \
             actor, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
    }
}
