//! This package's `build.rs` embeds `migrations/versions` (five revisions: e1 <- e2 <- (e3 on
//! branch `tags`, e4) <- e5 merge). The tests apply, re-apply and downgrade through the
//! embedded set on SQLite files, and read the results with plain SQL.

mod support;

use std::path::{Path, PathBuf};

use alembic_embedded_tests::MIGRATIONS;
use alembic_runtime::rusqlite::Connection;
use sha2::{Digest, Sha256};
use support::{column, has_table, history, open, version_rows};

const ALL: [&str; 5] = [
    "e1_users",
    "e2_posts",
    "e3_tags",
    "e4_posts_index",
    "e5_merge",
];

fn database() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    (dir, path)
}

fn migrate(path: &Path) -> Connection {
    open(path)
}

/// The revisions a report says ran, in order.
fn ran(report: &alembic_runtime::Report) -> Vec<String> {
    report
        .applied
        .iter()
        .map(|a| a.revision().expect("a revision step").to_string())
        .collect()
}

#[test]
fn the_embedded_set_is_the_fixture_folder() {
    assert_eq!(MIGRATIONS.heads(), ["e5_merge"]);
    assert_eq!(MIGRATIONS.len(), 5);
    let mut ids: Vec<&str> = MIGRATIONS.revision_ids().collect();
    ids.sort_unstable();
    assert_eq!(ids, ALL);
}

#[test]
fn upgrade_applies_every_revision_once_and_reapplying_is_a_no_op() {
    let (_dir, path) = database();
    let mut conn = migrate(&path);
    assert_eq!(
        MIGRATIONS.current(&mut conn).expect("current"),
        Vec::<String>::new()
    );
    assert!(!MIGRATIONS.is_up_to_date(&mut conn).expect("is_up_to_date"));

    let report = MIGRATIONS.upgrade(&mut conn, "head").expect("upgrade");
    let order = ran(&report);
    assert_eq!(order.len(), 5, "{report}");
    assert_eq!(&order[..2], ["e1_users", "e2_posts"], "{report}");
    assert_eq!(order[4], "e5_merge", "{report}");
    assert!(report.to_string().contains("e5_merge"), "Display: {report}");

    assert_eq!(version_rows(&conn), ["e5_merge"]);
    assert_eq!(
        MIGRATIONS.current(&mut conn).expect("current"),
        ["e5_merge"]
    );
    assert!(MIGRATIONS.is_up_to_date(&mut conn).expect("is_up_to_date"));
    for table in ["users", "posts", "tags", "settings"] {
        assert!(has_table(&conn, table), "{table} missing");
    }
    assert_eq!(
        column(&conn, "SELECT value FROM settings WHERE name = 'greeting'"),
        ["hello; world"],
        "the literal's semicolon split the statement"
    );
    let rows_after_first = history(&conn);
    assert_eq!(rows_after_first.len(), 5, "{rows_after_first:?}");
    assert!(rows_after_first.iter().all(|(_, op)| op == "upgrade"));

    // Again, from a fresh connection as a restarted application would: nothing runs.
    drop(conn);
    let mut conn = migrate(&path);
    let again = MIGRATIONS.upgrade(&mut conn, "head").expect("re-upgrade");
    assert!(again.is_empty(), "a second upgrade ran {again}");
    assert_eq!(again.to_string(), "no migrations ran");
    assert_eq!(
        history(&conn),
        rows_after_first,
        "no history rows for a no-op"
    );
    assert_eq!(
        column(&conn, "SELECT count(*) || '' FROM users"),
        ["1"],
        "e1's INSERT ran once"
    );
}

#[test]
fn downgrade_walks_back_past_the_merge_to_base_and_up_again() {
    let (_dir, path) = database();
    let mut conn = migrate(&path);
    MIGRATIONS.upgrade(&mut conn, "head").expect("upgrade");

    // To one parent of the merge: as in Alembic, only the target's descendants go (the
    // merge), and both branches are heads again.
    let report = MIGRATIONS
        .downgrade(&mut conn, "e4_posts_index")
        .expect("downgrade to e4");
    assert_eq!(ran(&report), ["e5_merge"]);
    assert_eq!(
        MIGRATIONS.current(&mut conn).expect("current"),
        ["e3_tags", "e4_posts_index"]
    );
    assert!(!has_table(&conn, "settings"));
    assert!(!MIGRATIONS.is_up_to_date(&mut conn).expect("is_up_to_date"));

    let report = MIGRATIONS.downgrade(&mut conn, "e2_posts").expect("to e2");
    let mut order = ran(&report);
    order.sort();
    assert_eq!(order, ["e3_tags", "e4_posts_index"]);
    assert_eq!(version_rows(&conn), ["e2_posts"]);
    assert!(!has_table(&conn, "tags"));

    let report = MIGRATIONS.downgrade(&mut conn, "-1").expect("downgrade -1");
    assert_eq!(ran(&report), ["e2_posts"]);
    assert_eq!(version_rows(&conn), ["e1_users"]);
    assert!(!has_table(&conn, "posts"));

    let report = MIGRATIONS.downgrade(&mut conn, "base").expect("to base");
    assert_eq!(ran(&report), ["e1_users"]);
    assert_eq!(version_rows(&conn), Vec::<String>::new());
    for table in ["users", "posts", "tags", "settings"] {
        assert!(!has_table(&conn, table), "{table} left behind");
    }

    // One branch, then the rest: the same plans the CLI would make.
    let report = MIGRATIONS.upgrade(&mut conn, "e3_tags").expect("to e3");
    assert_eq!(ran(&report), ["e1_users", "e2_posts", "e3_tags"]);
    let report = MIGRATIONS.upgrade(&mut conn, "head").expect("rest");
    assert_eq!(ran(&report), ["e4_posts_index", "e5_merge"]);
    assert_eq!(version_rows(&conn), ["e5_merge"]);

    let ops: Vec<String> = history(&conn)
        .into_iter()
        .map(|(rev, op)| format!("{op} {rev}"))
        .collect();
    assert_eq!(ops.iter().filter(|o| o.starts_with("upgrade")).count(), 10);
    assert_eq!(ops.iter().filter(|o| o.starts_with("downgrade")).count(), 5);
}

/// The checksum the build embedded and the runtime records is SPEC 4's: the SHA-256 of the
/// file on disk, as the CLI computes it, so that CLI and application agree on "edited".
#[test]
fn recorded_checksums_are_the_sha256_of_the_files() {
    let (_dir, path) = database();
    let mut conn = migrate(&path);
    MIGRATIONS.upgrade(&mut conn, "head").expect("upgrade");
    let versions = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/versions");
    for (file, id) in [
        ("0001_users.sql", "e1_users"),
        ("0002_posts.sql", "e2_posts"),
        ("0003_tags.sql", "e3_tags"),
        ("0004_posts_index.sql", "e4_posts_index"),
        ("0005_merge_settings.sql", "e5_merge"),
    ] {
        let text = std::fs::read_to_string(versions.join(file)).expect("read script");
        let expected: String = Sha256::digest(text.replace("\r\n", "\n").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let recorded = column(
            &conn,
            &format!(
                "SELECT checksum FROM alembic_version_history \
                 WHERE revision = '{id}' AND operation = 'upgrade'"
            ),
        );
        assert_eq!(recorded, [expected], "{file}");
    }
}

/// `upgrade` on an up-to-date database is the startup path of every deploy: it must not
/// write anything, not even the lock's bookkeeping, so a read-only copy of the database
/// answers it.
#[test]
fn an_up_to_date_database_is_only_read() {
    let (_dir, path) = database();
    {
        let mut conn = migrate(&path);
        MIGRATIONS.upgrade(&mut conn, "head").expect("upgrade");
    }
    let mut conn = Connection::open_with_flags(
        &path,
        alembic_runtime::rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open read-only");
    let report = MIGRATIONS
        .upgrade(&mut conn, "head")
        .expect("no-op on a read-only db");
    assert!(report.is_empty(), "{report}");
    assert!(MIGRATIONS.is_up_to_date(&mut conn).expect("is_up_to_date"));
}
