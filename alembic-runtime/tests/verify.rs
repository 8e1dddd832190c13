//! Checksum verification against the history table.

#[macro_use]
mod support;

use alembic_core::Checksum;
use alembic_runtime::{Migrator, RunError, RunOptions, SqliteBackend};
use support::*;

fn verifying() -> RunOptions {
    let mut options = RunOptions::default();
    options.verify_checksums = true;
    options
}

/// The five scripts with revision `n` (1-based) edited.
fn edited(n: usize) -> Vec<alembic_core::Script> {
    let mut list = five_scripts();
    list[n - 1].checksum = Checksum::of_file_bytes(b"-- edited after it ran\n");
    list
}

#[test]
fn unedited_heads_verify_and_an_edit_below_the_head_is_named() {
    let db = new_db();
    let mut conn = open(&db.path);
    let original = directory(five_scripts());
    Migrator::new(&original, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r3")
        .expect("upgrade");

    let found = Migrator::new(&original, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect("unedited");
    assert_eq!(found.verified, ["r3"]);
    assert!(found.unrecorded.is_empty());

    let changed = directory(edited(2));
    let err = Migrator::new(&changed, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect_err("r2 was edited");
    match &err {
        RunError::ChecksumMismatch(m) => {
            assert_eq!(m.revision, "r2");
            assert!(m.path.ends_with("r2.sql"));
            assert_eq!(
                m.current,
                changed.script("r2").expect("r2").checksum.to_hex()
            );
            assert_eq!(
                m.recorded,
                original.script("r2").expect("r2").checksum.to_hex()
            );
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("revision r2 (migrations/versions/r2.sql) changed after it was applied"),
        "{text}"
    );

    // An upgrade that verifies refuses before running anything...
    let err = Migrator::new(&changed, verifying())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect_err("refused");
    assert_eq!(err.revision(), Some("r2"));
    assert_eq!(heads(&conn), ["r3"]);
    assert_eq!(user_tables(&conn), ["t1", "t2", "t3"]);

    // ...one that does not verify goes ahead, and stamping never verifies.
    Migrator::new(&changed, RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r4")
        .expect("unverified upgrade");
    Migrator::new(&changed, verifying())
        .stamp(&mut SqliteBackend::new(&mut conn), &strings(&["r5"]), false)
        .expect("stamp");
    assert_eq!(heads(&conn), ["r5"]);
}

#[test]
fn an_edited_head_is_named() {
    let db = new_db();
    let mut conn = open(&db.path);
    Migrator::new(&directory(five_scripts()), RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("upgrade");
    let err = Migrator::new(&directory(edited(5)), verifying())
        .downgrade(&mut SqliteBackend::new(&mut conn), "-1")
        .expect_err("r5 was edited");
    assert_eq!(err.revision(), Some("r5"));
    assert_eq!(heads(&conn), ["r5"]);
}

#[test]
fn a_revision_applied_again_after_an_edit_verifies() {
    let db = new_db();
    let mut conn = open(&db.path);
    Migrator::new(&directory(five_scripts()), RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r2")
        .expect("upgrade");
    let changed = directory(edited(2));
    let migrator = Migrator::new(&changed, RunOptions::default());
    migrator
        .downgrade(&mut SqliteBackend::new(&mut conn), "r1")
        .expect("downgrade");
    migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "r2")
        .expect("upgrade the edited r2");
    let found = Migrator::new(&changed, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect("what ran is what is on disk");
    assert_eq!(found.verified, ["r2"]);
}

#[test]
fn heads_applied_by_python_alembic_are_not_checked() {
    let db = new_db();
    let conn = open(&db.path);
    conn.execute_batch(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, \
         CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));\
         INSERT INTO alembic_version VALUES ('r2');",
    )
    .expect("python-made database");
    drop(conn);
    let mut conn = open(&db.path);
    let scripts = directory(edited(1));
    let found = Migrator::new(&scripts, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect("nothing recorded");
    assert_eq!(found.unrecorded, ["r2"]);
    Migrator::new(&scripts, verifying())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r3")
        .expect("adopted, then verified from here on");
    let found = Migrator::new(&scripts, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect("r3 recorded");
    assert_eq!(found.verified, ["r3"]);
}
