//! An applied script edited afterwards. The compiled-in script of a binary cannot change, so
//! the edit is what really happens in a deployment: a later build embeds a script that
//! differs from the one that ran. `embedded-fixture-edited` is that build: its `e1_users`
//! has one comment line more than this package's, its `e2_posts` is identical. Both run
//! against one database; the second must see `e1_users` as edited, by checksum alone (the
//! SQL that runs is the same).

mod support;

use alembic_embedded_tests::MIGRATIONS as ORIGINAL;
use alembic_runtime::RunError;
use embedded_fixture_edited::MIGRATIONS as EDITED;
use support::{has_table, open, version_rows};

/// The warnings logged through the `log` crate, as the application's logger would see them.
struct Warnings(std::sync::Mutex<Vec<String>>);

static WARNINGS: Warnings = Warnings(std::sync::Mutex::new(Vec::new()));

impl log::Log for Warnings {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            if let Ok(mut all) = self.0.lock() {
                all.push(record.args().to_string());
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per test binary) and returns what it holds so far.
fn warnings() -> Vec<String> {
    if log::set_logger(&WARNINGS).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    WARNINGS.0.lock().map(|w| w.clone()).unwrap_or_default()
}

fn at(target: &str) -> (tempfile::TempDir, alembic_runtime::rusqlite::Connection) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut conn = open(&dir.path().join("app.db"));
    ORIGINAL
        .upgrade(&mut conn, target)
        .expect("original upgrade");
    (dir, conn)
}

fn expect_mismatch(result: Result<alembic_runtime::Report, RunError>) -> String {
    match result {
        Err(error @ RunError::ChecksumMismatch(_)) => {
            assert_eq!(error.revision(), Some("e1_users"), "{error}");
            let message = error.to_string();
            for part in ["e1_users", "0001_users.sql", "changed after it was applied"] {
                assert!(message.contains(part), "{part:?} missing: {message}");
            }
            message
        }
        other => panic!("expected a checksum mismatch for e1_users, got {other:?}"),
    }
}

#[test]
fn an_edited_script_with_work_to_do_is_refused_before_anything_runs() {
    let (_dir, mut conn) = at("e1_users");
    expect_mismatch(EDITED.upgrade(&mut conn, "head"));
    assert_eq!(version_rows(&conn), ["e1_users"]);
    assert!(
        !has_table(&conn, "posts"),
        "e2_posts ran despite the mismatch"
    );
}

/// The no-op path (database already at this build's head) answers from the precomputed
/// chained checksums; it must still see an edited ancestor of the head.
#[test]
fn an_edited_ancestor_is_seen_when_there_is_nothing_to_do() {
    let (_dir, mut conn) = at("e2_posts");
    expect_mismatch(EDITED.upgrade(&mut conn, "head"));
    assert!(
        !matches!(EDITED.is_up_to_date(&mut conn), Ok(true)),
        "an edited database is not up to date for this build"
    );
    // The database itself is sound: the build it was migrated with carries on.
    let report = ORIGINAL.upgrade(&mut conn, "head").expect("original build");
    assert_eq!(report.applied.len(), 3, "{report}");
}

#[test]
fn the_opt_outs_let_the_edited_build_run() {
    warnings();
    let (_dir, mut conn) = at("e1_users");
    let mut warn = EDITED.options();
    warn.warn_on_checksum_mismatch = true;
    let report = EDITED
        .upgrade_with(&mut conn, "head", &warn)
        .expect("warn instead of failing");
    assert_eq!(report.applied.len(), 1, "{report}");
    assert_eq!(version_rows(&conn), ["e2_posts"]);
    let logged = warnings();
    assert!(
        logged
            .iter()
            .any(|w| w.contains("e1_users") && w.contains("0001_users.sql")),
        "no warning names the edited revision and its file: {logged:?}"
    );
    // Running anyway did not launder the edit: the default options still refuse.
    expect_mismatch(EDITED.upgrade(&mut conn, "head"));

    let (_dir, mut conn) = at("e1_users");
    let mut off = EDITED.options();
    off.verify_checksums = false;
    EDITED
        .upgrade_with(&mut conn, "head", &off)
        .expect("verification off");
    assert_eq!(version_rows(&conn), ["e2_posts"]);
}

#[test]
fn verification_is_on_by_default() {
    let options = EDITED.options();
    assert!(options.verify_checksums);
    assert!(!options.warn_on_checksum_mismatch);
    assert!(!options.revert_unknown_revisions);
}
