//! refinery, the Rust peer: applies the same migrations to a fresh SQLite file in-process,
//! with refinery's runner, the way an application embedding refinery would at startup.

use std::path::Path;

use refinery::{Migration, Runner};

use crate::generate::History;
use crate::measure::{in_process, Sample};
use crate::BenchError;

/// Applies every revision of `history` (refinery needs a linear list of integer versions:
/// the generated order, which applies parents before children) to a new database at `db`.
/// `grouped` runs them in one transaction (as cargo-alembic and Alembic do by default);
/// otherwise refinery's default, one transaction per migration.
pub fn apply(history: &History, db: &Path, grouped: bool) -> Result<Sample, BenchError> {
    crate::generate::remove_db(db)?;
    let (sample, applied) = in_process(|| {
        let migrations = history
            .revisions
            .iter()
            .enumerate()
            .map(|(i, rev)| {
                Migration::unapplied(&format!("V{}__r_{}", i + 1, rev.id), &rev.upgrade_sql)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BenchError::Peer(format!("refinery migration list: {e}")))?;
        let mut conn = rusqlite::Connection::open(db)
            .map_err(|e| BenchError::Peer(format!("open {}: {e}", db.display())))?;
        let report = Runner::new(&migrations)
            .set_grouped(grouped)
            .run(&mut conn)
            .map_err(|e| BenchError::Peer(format!("refinery run: {e}")))?;
        // Closing is part of the work: a process exiting would close the file too.
        drop(conn);
        Ok(report.applied_migrations().len())
    })?;
    if applied != history.revisions.len() {
        return Err(BenchError::Peer(format!(
            "refinery applied {applied} of {} migrations",
            history.revisions.len()
        )));
    }
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refinery_applies_the_generated_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("r.db");
        let history = crate::generate::history(120);
        apply(&history, &db, true).expect("grouped run");
        // A second fresh run works too: the database is recreated, not reused.
        apply(&history, &db, false).expect("per-migration run");
        let conn = rusqlite::Connection::open(&db).expect("open");
        let tables: usize = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 't_%'",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(tables, history.tables_at_head());
    }
}
