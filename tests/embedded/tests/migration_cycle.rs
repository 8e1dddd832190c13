//! Issue 5 item 5 from an application's side: the migration-testing cycle
//! (`alembic_runtime::testing::check_embedded`, feature `testing`) called from the app's own
//! tests on its embedded migrations. This package's set (a branch and a merge) passes; the
//! `bad_downgrade` fixture (e4_posts_index's downgrade forgets its index) is caught and named.
//! On SQLite in memory, and on PostgreSQL databases created for the test (skipped loudly
//! without the URL, a failure under ALEMBIC_TEST_REQUIRE_ALL=1). Not on MySQL: this
//! package's set is written for SQLite and PostgreSQL (`DROP INDEX name;`, which MySQL does
//! not accept; the cycle says so, naming e4_posts_index). `cargo alembic test` runs the same
//! function on all three databases (tests/migration_test.rs).

#[path = "../../support/server_db.rs"]
mod server_db;

use alembic_runtime::testing::{check_embedded, CycleError, Direction, ScratchConnection};
use alembic_runtime::Migrations;
use server_db::ServerDb;

/// The cycle passes on the good set and names e4_posts_index on the bad one.
fn both_sets<C: ScratchConnection>(mut conn: impl FnMut() -> C) {
    let report = check_embedded(&alembic_embedded_tests::MIGRATIONS, &mut conn(), None)
        .unwrap_or_else(|e| panic!("the embedded set passes: {e}"));
    let up: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.direction == Direction::Upgrade)
        .map(|s| s.revision.as_str())
        .collect();
    let mut down: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.direction == Direction::Downgrade)
        .map(|s| s.revision.as_str())
        .collect();
    assert_eq!(up.len(), 5, "{report}");
    down.reverse();
    assert_eq!(up, down, "walks back the way it came:\n{report}");

    let bad: &Migrations = &embedded_fixture_bad_downgrade::MIGRATIONS;
    match check_embedded(bad, &mut conn(), None) {
        Err(CycleError::DowngradeMismatch {
            revision,
            path,
            differences,
            ..
        }) => {
            assert_eq!(revision, "e4_posts_index");
            assert!(path.ends_with("0004_posts_index.sql"), "{}", path.display());
            assert_eq!(
                differences,
                ["index ix_posts_user on posts (user_id) is left over"]
            );
        }
        Err(other) => panic!("expected e4_posts_index's downgrade to be named, got: {other}"),
        Ok(report) => panic!("the planted bad downgrade passed:\n{report}"),
    }
}

#[test]
fn sqlite() {
    both_sets(|| {
        alembic_runtime::rusqlite::Connection::open_in_memory().expect("in-memory database")
    });
}

#[test]
fn postgres() {
    use alembic_runtime::postgres_client::{Client, NoTls};
    // Two databases: each cycle needs an empty one.
    let dbs: Vec<ServerDb> = (0..2)
        .filter_map(|_| {
            ServerDb::create(
                "ALEMBIC_TEST_POSTGRES_URL",
                "psql",
                "embcycle",
                "embedded migration testing",
            )
        })
        .collect();
    if dbs.len() < 2 {
        return;
    }
    let mut next = dbs.iter();
    both_sets(|| {
        let db = next.next().expect("a database per cycle");
        Client::connect(&db.url, NoTls).expect("connect to PostgreSQL")
    });
}
