//! Scenarios run unchanged on every backend (SQLite, PostgreSQL, MySQL): each test binary
//! supplies a [`Harness`] over a fresh database of its kind.

use alembic_runtime::{Backend, Migrator, RunError, RunOptions, Tables};

use super::{directory, five_scripts, strings};

/// A fresh, empty database of one kind, and what the scenarios inspect on it.
pub trait Harness {
    /// A backend on this database (a new one for each run, as a new process would have).
    fn backend(&mut self) -> Box<dyn Backend + '_>;
    /// The version rows, sorted.
    fn heads(&mut self) -> Vec<String>;
    /// Which of `t1`..`t5` exist, sorted.
    fn user_tables(&mut self) -> Vec<String>;
    /// How many history rows there are.
    fn history_len(&mut self) -> usize;
}

pub fn upgrade_downgrade_stamp(h: &mut dyn Harness) {
    let scripts = directory(five_scripts());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let report = migrator
        .upgrade(&mut *h.backend(), "head")
        .expect("upgrade");
    assert_eq!(report.applied.len(), 5);
    assert_eq!(h.heads(), ["r5"]);
    assert_eq!(h.user_tables(), ["t1", "t2", "t3", "t4", "t5"]);
    assert!(migrator
        .upgrade(&mut *h.backend(), "head")
        .expect("no-op")
        .is_empty());
    migrator
        .downgrade(&mut *h.backend(), "-2")
        .expect("downgrade");
    assert_eq!(h.heads(), ["r3"]);
    assert_eq!(h.user_tables(), ["t1", "t2", "t3"]);
    migrator
        .stamp(&mut *h.backend(), &strings(&["base"]), false)
        .expect("stamp base");
    assert!(h.heads().is_empty());
    assert_eq!(h.user_tables(), ["t1", "t2", "t3"], "stamp runs no SQL");
    assert_eq!(h.history_len(), 5 + 2 + 1);
}

pub fn downgrade_without_sql_fails_before_running_anything(h: &mut dyn Harness) {
    let mut list = five_scripts();
    list[2].downgrade_sql = None;
    let scripts = directory(list);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    migrator
        .upgrade(&mut *h.backend(), "head")
        .expect("upgrade");
    let err = migrator
        .downgrade(&mut *h.backend(), "base")
        .expect_err("r3 has no downgrade");
    assert!(
        matches!(&err, RunError::NoDowngrade { revision, .. } if revision == "r3"),
        "{err}"
    );
    assert_eq!(h.heads(), ["r5"]);
    assert_eq!(h.user_tables().len(), 5);
}

pub fn unknown_database_revision_is_refused(h: &mut dyn Harness) {
    let scripts = directory(five_scripts());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    migrator.upgrade(&mut *h.backend(), "r1").expect("upgrade");
    let changed = h
        .backend()
        .execute("UPDATE alembic_version SET version_num = 'f00d'", &[])
        .expect("a newer build's revision");
    assert_eq!(changed, 1);
    let err = migrator
        .upgrade(&mut *h.backend(), "head")
        .expect_err("refused");
    assert!(
        err.to_string()
            .starts_with("the database is at revision f00d"),
        "{err}"
    );
    assert_eq!(h.user_tables(), ["t1"]);
    migrator
        .stamp(&mut *h.backend(), &strings(&["r1"]), true)
        .expect("stamp --purge recovers");
    assert_eq!(h.heads(), ["r1"]);
}

/// A database without the history table (as Python Alembic leaves it) at a revision no script
/// defines is refused untouched where DDL is transactional: no history table is kept.
pub fn a_refused_run_keeps_no_history_table(h: &mut dyn Harness) {
    let scripts = directory(five_scripts());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    migrator.upgrade(&mut *h.backend(), "r1").expect("upgrade");
    h.backend()
        .execute_batch(
            "DROP TABLE alembic_version_history; \
             UPDATE alembic_version SET version_num = 'f00d'",
        )
        .expect("a python-made database at a newer build's revision");
    migrator
        .upgrade(&mut *h.backend(), "head")
        .expect_err("refused");
    let mut backend = h.backend();
    let tables = Tables::new(backend.dialect(), migrator.options());
    let kept = backend
        .table_exists(&tables, "alembic_version_history")
        .expect("table lookup");
    if backend.transactional_ddl() {
        assert!(!kept, "a refused run kept the history table it created");
    }
}

/// Revision 3 of 5 fails on its second statement, in Alembic's default one-transaction mode.
pub fn failure_in_one_transaction_mode(h: &mut dyn Harness) {
    let mut list = five_scripts();
    list[2].upgrade_sql =
        "CREATE TABLE t3 (x INTEGER);\nINSERT INTO no_such_table VALUES (1);".into();
    let scripts = directory(list);
    let transactional = h.backend().transactional_ddl();
    let err = Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut *h.backend(), "head")
        .expect_err("r3 fails");
    let RunError::Migration {
        revision,
        half_applied,
        applied,
        ..
    } = &err
    else {
        panic!("expected a migration error, got {err:?}");
    };
    assert_eq!(revision, "r3");
    assert!(err.to_string().contains("no_such_table"), "{err}");
    if transactional {
        // All or nothing.
        assert!(!half_applied);
        assert!(applied.is_empty());
        assert!(h.heads().is_empty());
        assert!(h.user_tables().is_empty());
    } else {
        // DDL commits implicitly: what ran before r3 stays, with its version row; r3 is named
        // as possibly half-applied and not claimed.
        assert!(half_applied);
        assert_eq!(applied.applied.len(), 2);
        assert_eq!(h.heads(), ["r2"]);
        assert_eq!(h.user_tables(), ["t1", "t2", "t3"]);
    }
}

pub fn an_edited_script_is_named_by_verification(h: &mut dyn Harness) {
    let scripts = directory(five_scripts());
    Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut *h.backend(), "r4")
        .expect("upgrade");
    let mut list = five_scripts();
    list[1].checksum = alembic_core::Checksum::of_file_bytes(b"-- edited\n");
    let edited = directory(list);
    let mut options = RunOptions::default();
    options.verify_checksums = true;
    let err = Migrator::new(&edited, options.clone())
        .upgrade(&mut *h.backend(), "head")
        .expect_err("r2 edited");
    assert_eq!(err.revision(), Some("r2"), "{err}");
    assert_eq!(h.heads(), ["r4"]);
    let found = Migrator::new(&scripts, options)
        .verify(&mut *h.backend())
        .expect("the originals verify");
    assert_eq!(found.verified, ["r4"]);
}

/// A head another tool applied (no history row) is verified through the recorded revision
/// below it, and an edit below is not laundered by an upgrade that does not verify.
pub fn an_edit_below_a_head_another_tool_applied_is_caught(h: &mut dyn Harness) {
    let scripts = directory(five_scripts());
    Migrator::new(&scripts, RunOptions::default())
        .upgrade(&mut *h.backend(), "r2")
        .expect("upgrade");
    // Python Alembic applies r3 (its SQL does not matter here): only the version row moves.
    h.backend()
        .execute_batch("UPDATE alembic_version SET version_num = 'r3' WHERE version_num = 'r2'")
        .expect("python's version row");
    let mut verifying = RunOptions::default();
    verifying.verify_checksums = true;
    let found = Migrator::new(&scripts, verifying.clone())
        .verify(&mut *h.backend())
        .expect("unedited");
    assert_eq!(found.unrecorded, ["r3"]);
    assert_eq!(found.verified, ["r2"]);

    let mut list = five_scripts();
    list[0].checksum = alembic_core::Checksum::of_file_bytes(b"-- edited\n");
    let edited = directory(list);
    let err = Migrator::new(&edited, verifying.clone())
        .verify(&mut *h.backend())
        .expect_err("r1 edited");
    assert_eq!(err.revision(), Some("r1"), "{err}");
    let mut unverified = RunOptions::default();
    unverified.verify_checksums = false;
    Migrator::new(&edited, unverified)
        .upgrade(&mut *h.backend(), "r4")
        .expect("an upgrade that does not verify");
    let err = Migrator::new(&edited, verifying.clone())
        .verify(&mut *h.backend())
        .expect_err("r1's edit is still found under r4");
    assert_eq!(err.revision(), Some("r1"), "{err}");
    let found = Migrator::new(&scripts, verifying)
        .verify(&mut *h.backend())
        .expect("the originals verify");
    assert_eq!(found.verified, ["r4"]);
}

/// One `#[test]` per scenario, each on a fresh harness from `$fresh` (an expression giving
/// `Option<impl Harness>`: `None` when the database server is unavailable and may be skipped).
#[allow(unused_macros)] // only the backend suites expand it
macro_rules! scenario_tests {
    ($fresh:expr) => {
        #[test]
        fn scenario_upgrade_downgrade_stamp() {
            if let Some(mut h) = $fresh {
                support::scenarios::upgrade_downgrade_stamp(&mut h);
            }
        }

        #[test]
        fn scenario_downgrade_without_sql_fails_before_running_anything() {
            if let Some(mut h) = $fresh {
                support::scenarios::downgrade_without_sql_fails_before_running_anything(&mut h);
            }
        }

        #[test]
        fn scenario_unknown_database_revision_is_refused() {
            if let Some(mut h) = $fresh {
                support::scenarios::unknown_database_revision_is_refused(&mut h);
            }
        }

        #[test]
        fn scenario_a_refused_run_keeps_no_history_table() {
            if let Some(mut h) = $fresh {
                support::scenarios::a_refused_run_keeps_no_history_table(&mut h);
            }
        }

        #[test]
        fn scenario_failure_in_one_transaction_mode() {
            if let Some(mut h) = $fresh {
                support::scenarios::failure_in_one_transaction_mode(&mut h);
            }
        }

        #[test]
        fn scenario_an_edited_script_is_named_by_verification() {
            if let Some(mut h) = $fresh {
                support::scenarios::an_edited_script_is_named_by_verification(&mut h);
            }
        }

        #[test]
        fn scenario_an_edit_below_a_head_another_tool_applied_is_caught() {
            if let Some(mut h) = $fresh {
                support::scenarios::an_edit_below_a_head_another_tool_applied_is_caught(&mut h);
            }
        }
    };
}
