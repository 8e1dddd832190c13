//! `--backup` (or `backup = true`): before anything runs, a SQLite database is copied with the
//! runtime's online backup to a dated file beside it (`app.db.20261123T223000.backup`); for
//! PostgreSQL and MySQL the dump command to run is printed, since a dump needs their own tools.

use std::path::{Path, PathBuf};

use alembic_core::url::{DatabaseUrl, Dialect, SqliteTarget};

use crate::error::{CliError, CliResult};
use crate::output::{display_path, Printer};
use crate::project::Project;

pub fn run(project: &Project, printer: &Printer) -> CliResult {
    let url = project.require_url()?;
    let stamp = chrono::Local::now().format("%Y%m%dT%H%M%S").to_string();
    match url.dialect() {
        Dialect::Sqlite => match project.sqlite_target(url) {
            Some(SqliteTarget::File(path)) => backup_sqlite(&path, &stamp, printer),
            _ => {
                printer.note("No backup: the database is in memory.");
                Ok(())
            }
        },
        Dialect::Postgres | Dialect::Mysql => {
            printer.note(&format!(
                "Back the database up before migrating; run:\n    {}",
                dump_command(url, &stamp)
            ));
            Ok(())
        }
    }
}

fn backup_sqlite(path: &Path, stamp: &str, printer: &Printer) -> CliResult {
    if !path.exists() {
        printer.note(&format!(
            "No backup: {} does not exist yet.",
            display_path(path)
        ));
        return Ok(());
    }
    // Scripted runs can follow each other within a second: each gets its own file.
    let dest = (1..100)
        .map(|n| {
            if n == 1 {
                backup_path(path, stamp)
            } else {
                backup_path(path, &format!("{stamp}-{n}"))
            }
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| backup_path(path, stamp));
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| {
                CliError::failed(format!(
                    "cannot open {} for the backup: {e}",
                    path.display()
                ))
            })?;
    alembic_runtime::backup_to(&conn, &dest).map_err(|e| {
        CliError::with_hint(
            e.to_string(),
            "nothing was migrated; fix the problem or run without --backup",
        )
    })?;
    printer.done(&format!(
        "Backing up {} to {}",
        display_path(path),
        display_path(&dest)
    ));
    Ok(())
}

/// `<db file>.<stamp>.backup`, beside the database.
pub fn backup_path(path: &Path, stamp: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{stamp}.backup"));
    path.with_file_name(name)
}

/// The dump command for a server database. The password is never part of it: pg_dump and
/// mysqldump prompt for it (or read PGPASSWORD / ~/.my.cnf).
pub fn dump_command(url: &DatabaseUrl, stamp: &str) -> String {
    let db = url.database().unwrap_or("");
    let file = format!("{}.{stamp}.sql", if db.is_empty() { "backup" } else { db });
    let mut parts: Vec<String> = Vec::new();
    match url.dialect() {
        Dialect::Postgres => {
            parts.push("pg_dump".into());
            if let Some(h) = url.host() {
                parts.push(format!("--host={h}"));
            }
            if let Some(p) = url.port() {
                parts.push(format!("--port={p}"));
            }
            if let Some(u) = url.username() {
                parts.push(format!("--username={u}"));
            }
            parts.push(format!("--file={file}"));
            parts.push(db.to_string());
        }
        _ => {
            parts.push("mysqldump".into());
            if let Some(h) = url.host() {
                parts.push(format!("--host={h}"));
            }
            if let Some(p) = url.port() {
                parts.push(format!("--port={p}"));
            }
            if let Some(u) = url.username() {
                parts.push(format!("--user={u}"));
            }
            if url.password().is_some() {
                parts.push("--password".into());
            }
            parts.push(format!("--result-file={file}"));
            parts.push(db.to_string());
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_file_is_dated_beside_the_database() {
        assert_eq!(
            backup_path(Path::new("/srv/data/promptpilot.db"), "20261123T223000"),
            PathBuf::from("/srv/data/promptpilot.db.20261123T223000.backup")
        );
    }

    #[test]
    fn dump_commands_never_hold_the_password() {
        let pg =
            DatabaseUrl::parse("postgresql+psycopg2://app:s3cret@db.local:5433/prompts").unwrap();
        assert_eq!(
            dump_command(&pg, "20261123T223000"),
            "pg_dump --host=db.local --port=5433 --username=app --file=prompts.20261123T223000.sql prompts"
        );
        let my = DatabaseUrl::parse("mysql://root:pw@127.0.0.1/app").unwrap();
        let cmd = dump_command(&my, "X");
        assert_eq!(
            cmd,
            "mysqldump --host=127.0.0.1 --user=root --password --result-file=app.X.sql app"
        );
        assert!(!cmd.contains("pw@"));
    }

    #[test]
    fn sqlite_backup_copies_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (42);")
            .unwrap();
        drop(conn);
        backup_sqlite(&db, "S", &Printer { quiet: true }).unwrap();
        let copy = rusqlite::Connection::open(dir.path().join("app.db.S.backup")).unwrap();
        let x: i64 = copy.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 42);
        // A second backup with the same stamp gets its own file; none is overwritten.
        backup_sqlite(&db, "S", &Printer { quiet: true }).unwrap();
        assert!(dir.path().join("app.db.S-2.backup").is_file());
    }
}
