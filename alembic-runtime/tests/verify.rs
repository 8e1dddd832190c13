//! Checksum verification against the history table.

#[macro_use]
mod support;

use alembic_core::Checksum;
use alembic_runtime::{Migrator, RunError, RunOptions, SqliteBackend};
use support::*;

/// Options of a run that does not check checksums (verification is on by default).
fn unverified() -> RunOptions {
    let mut options = RunOptions::default();
    options.verify_checksums = false;
    options
}

fn verifying() -> RunOptions {
    let mut options = unverified();
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
    Migrator::new(&original, unverified())
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
    Migrator::new(&changed, unverified())
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
    Migrator::new(&directory(five_scripts()), unverified())
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
    Migrator::new(&directory(five_scripts()), unverified())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r2")
        .expect("upgrade");
    let changed = directory(edited(2));
    let migrator = Migrator::new(&changed, unverified());
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

/// Moves the version table of a database at `r<from>` to `r<to>` as Python Alembic would: the
/// tables are created, no history row is written.
fn python_upgrade(conn: &alembic_runtime::rusqlite::Connection, from: usize, to: usize) {
    for n in from + 1..=to {
        conn.execute_batch(&format!("CREATE TABLE t{n} (x INTEGER);"))
            .expect("python's migration");
    }
    conn.execute(
        "UPDATE alembic_version SET version_num = ?1 WHERE version_num = ?2",
        [format!("r{to}"), format!("r{from}")],
    )
    .expect("python's version row");
}

#[test]
fn a_head_python_applied_is_verified_through_the_revisions_we_applied_below_it() {
    let db = new_db();
    let mut conn = open(&db.path);
    Migrator::new(&directory(five_scripts()), unverified())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r2")
        .expect("upgrade");
    python_upgrade(&conn, 2, 4);

    let found = Migrator::new(&directory(five_scripts()), verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect("unedited");
    assert_eq!(found.unrecorded, ["r4"]);
    assert_eq!(found.verified, ["r2"], "r2, recorded below r4, is checked");

    for n in [1, 2] {
        let changed = directory(edited(n));
        let err = Migrator::new(&changed, verifying())
            .verify(&mut SqliteBackend::new(&mut conn))
            .expect_err("an edit below python's head");
        assert_eq!(err.revision(), Some(format!("r{n}").as_str()), "{err}");
        let err = Migrator::new(&changed, verifying())
            .upgrade(&mut SqliteBackend::new(&mut conn), "head")
            .expect_err("an upgrade that verifies refuses");
        assert_eq!(err.revision(), Some(format!("r{n}").as_str()), "{err}");
        assert_eq!(heads(&conn), ["r4"]);
    }
    // Revisions python applied above the recorded ones are not covered.
    let found = Migrator::new(&directory(edited(3)), verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect("r3 was applied by python: unrecorded");
    assert_eq!(found.unrecorded, ["r4"]);
}

#[test]
fn an_edit_is_not_laundered_into_a_later_record_without_verification() {
    // Straight on, and with python applying a revision in between.
    for python_in_between in [false, true] {
        let db = new_db();
        let mut conn = open(&db.path);
        Migrator::new(&directory(five_scripts()), unverified())
            .upgrade(&mut SqliteBackend::new(&mut conn), "r2")
            .expect("upgrade");
        let at = if python_in_between {
            python_upgrade(&conn, 2, 3);
            "r3"
        } else {
            "r2"
        };
        // r1 is edited after it ran; an upgrade that does not verify records r4...
        let changed = directory(edited(1));
        Migrator::new(&changed, unverified())
            .upgrade(&mut SqliteBackend::new(&mut conn), "r4")
            .unwrap_or_else(|e| panic!("unverified upgrade from {at}: {e}"));
        // ...whose chain extends what ran, so the edit is still found.
        let err = Migrator::new(&changed, verifying())
            .verify(&mut SqliteBackend::new(&mut conn))
            .expect_err("r1 was edited after it ran");
        assert_eq!(err.revision(), Some("r1"), "from {at}: {err}");
        // With the original scripts everything verifies.
        let found = Migrator::new(&directory(five_scripts()), verifying())
            .verify(&mut SqliteBackend::new(&mut conn))
            .expect("original scripts");
        assert_eq!(found.verified, ["r4"], "from {at}");
    }
}

/// `list` with revision `n` (1-based) edited in another way than [`edited`].
fn also_edited(mut list: Vec<alembic_core::Script>, n: usize) -> Vec<alembic_core::Script> {
    list[n - 1].checksum = Checksum::of_file_bytes(b"-- another edit\n");
    list
}

#[test]
fn warn_on_checksum_mismatch_logs_and_runs() {
    let db = new_db();
    let mut conn = open(&db.path);
    Migrator::new(&directory(five_scripts()), unverified())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r3")
        .expect("upgrade");
    let changed = directory(edited(2));
    let err = Migrator::new(&changed, verifying())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r4")
        .expect_err("refused by default");
    assert_eq!(err.revision(), Some("r2"));
    assert_eq!(heads(&conn), ["r3"]);

    let mut warning = verifying();
    warning.warn_on_checksum_mismatch = true;
    Migrator::new(&changed, warning)
        .upgrade(&mut SqliteBackend::new(&mut conn), "r4")
        .expect("a warning, and the run goes on");
    assert_eq!(heads(&conn), ["r4"]);
    // The edit is not laundered: verification still names it.
    let err = Migrator::new(&changed, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect_err("still edited");
    assert_eq!(err.revision(), Some("r2"));
}

#[test]
fn a_rehash_records_the_edit_with_who_and_why_and_verification_passes_again() {
    let db = new_db();
    let mut conn = open(&db.path);
    Migrator::new(&directory(five_scripts()), RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r4")
        .expect("upgrade");
    let changed = directory(edited(2));
    let err = Migrator::new(&changed, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect_err("r2 edited");
    assert!(
        err.to_string().contains("cargo alembic rehash r2 --reason"),
        "the message says how to amend: {err}"
    );

    let amendment = alembic_runtime::rehash(
        &mut SqliteBackend::new(&mut conn),
        &changed,
        &RunOptions::default(),
        "r2",
        "alice",
        "fixed a comment",
    )
    .expect("rehash");
    assert_eq!(amendment.revision, "r2");
    assert_eq!(
        amendment.current,
        changed.script("r2").expect("r2").checksum.to_hex()
    );
    let revised: Vec<&str> = amendment.rows.iter().map(|r| r.revision.as_str()).collect();
    assert_eq!(revised, ["r2", "r3", "r4"]);

    let found = Migrator::new(&changed, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect("verifies after the rehash");
    assert_eq!(found.verified, ["r4"]);
    let audit: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT revision, actor, reason FROM alembic_version_history \
             WHERE operation = 'rehash' ORDER BY id",
        )
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(audit.len(), 3);
    assert_eq!(
        audit[0],
        ("r2".into(), "alice".into(), "fixed a comment".into())
    );
    assert!(audit[2].2.contains("rehash of r2"), "{audit:?}");

    // Runs verify and go on from there; the next rows extend the amended chain.
    Migrator::new(&changed, verifying())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("upgrade after the rehash");
    Migrator::new(&changed, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect("verifies at head");
    // A downgrade past it and an upgrade again record the script as it is: still verified.
    Migrator::new(&changed, verifying())
        .downgrade(&mut SqliteBackend::new(&mut conn), "r1")
        .expect("down");
    Migrator::new(&changed, verifying())
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("up");
}

#[test]
fn a_rehash_leaves_an_unamended_edit_above_it_visible() {
    let db = new_db();
    let mut conn = open(&db.path);
    Migrator::new(&directory(five_scripts()), RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r4")
        .expect("upgrade");
    let changed = directory(also_edited(edited(2), 3));
    alembic_runtime::rehash(
        &mut SqliteBackend::new(&mut conn),
        &changed,
        &RunOptions::default(),
        "r2",
        "alice",
        "whitespace",
    )
    .expect("rehash r2");
    let err = Migrator::new(&changed, verifying())
        .verify(&mut SqliteBackend::new(&mut conn))
        .expect_err("r3's edit was not amended");
    assert_eq!(err.revision(), Some("r3"), "{err}");
}

#[test]
fn a_rehash_is_refused_without_reason_unapplied_or_unchanged() {
    use alembic_runtime::RehashError;
    let db = new_db();
    let mut conn = open(&db.path);
    Migrator::new(&directory(five_scripts()), RunOptions::default())
        .upgrade(&mut SqliteBackend::new(&mut conn), "r3")
        .expect("upgrade");
    let changed = directory(also_edited(edited(2), 5));
    let mut rehash = |rev: &str, reason: &str| {
        alembic_runtime::rehash(
            &mut SqliteBackend::new(&mut conn),
            &changed,
            &RunOptions::default(),
            rev,
            "bob",
            reason,
        )
        .expect_err("refused")
    };
    assert!(matches!(rehash("r2", "  "), RehashError::NoReason));
    assert!(matches!(
        rehash("r5", "why"),
        RehashError::NotApplied { .. }
    ));
    let e = rehash("r1", "why");
    assert!(matches!(e, RehashError::Unchanged { .. }), "{e:?}");
    assert!(e.to_string().contains("r1"), "{e}");
    assert!(matches!(
        rehash("zz9", "why"),
        RehashError::UnknownRevision { .. }
    ));
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM alembic_version_history WHERE operation = 'rehash'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(rows, 0, "a refused rehash writes nothing");
}
