//! Migration testing (`testing::check_migrations`, feature `testing`): the up-and-down cycle
//! passes on good migrations and names the first revision whose downgrade does not restore
//! the schema.

#[macro_use]
mod support;

use alembic_runtime::testing::{check_migrations, sqlite_schema_of_sql, CycleError, Direction};
use alembic_runtime::{Migrator, RunOptions};
use rusqlite::Connection;
use support::*;

fn good() -> Vec<alembic_core::Script> {
    vec![
        script(
            "a1",
            &[],
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);",
            Some("DROP TABLE users;"),
        ),
        script(
            "b2",
            &["a1"],
            "CREATE INDEX ix_users_email ON users (email);",
            Some("DROP INDEX ix_users_email;"),
        ),
        script(
            "c3",
            &["b2"],
            "ALTER TABLE users ADD COLUMN name TEXT;",
            Some("ALTER TABLE users DROP COLUMN name;"),
        ),
    ]
}

#[test]
fn good_migrations_pass_up_and_down_one_step_at_a_time() {
    let scripts = directory(good());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let mut conn = Connection::open_in_memory().expect("memory db");
    let report = check_migrations(&migrator, &mut conn, None).expect("cycle passes");
    let steps: Vec<(Direction, &str)> = report
        .steps
        .iter()
        .map(|s| (s.direction, s.revision.as_str()))
        .collect();
    use Direction::*;
    assert_eq!(
        steps,
        [
            (Upgrade, "a1"),
            (Upgrade, "b2"),
            (Upgrade, "c3"),
            (Downgrade, "c3"),
            (Downgrade, "b2"),
            (Downgrade, "a1")
        ]
    );
    assert!(report.to_string().ends_with("OK"), "{report}");
    assert_eq!(user_tables(&conn), Vec::<String>::new(), "back at base");
}

#[test]
fn a_downgrade_that_forgets_an_index_is_named() {
    let mut scripts = good();
    scripts[1].downgrade_sql = Some("SELECT 1;".to_string());
    let scripts = directory(scripts);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let mut conn = Connection::open_in_memory().expect("memory db");
    let err = check_migrations(&migrator, &mut conn, None).expect_err("b2 forgets its index");
    match &err {
        CycleError::DowngradeMismatch {
            revision,
            differences,
            ..
        } => {
            assert_eq!(revision, "b2");
            assert_eq!(
                differences,
                &["index ix_users_email on users (email) is left over".to_string()]
            );
        }
        other => panic!("expected a downgrade mismatch, got {other}"),
    }
    assert!(err.to_string().contains("revision b2"), "{err}");
}

#[test]
fn a_downgrade_that_drops_the_wrong_column_is_named() {
    let mut scripts = good();
    scripts.push(script(
        "d4",
        &["c3"],
        "ALTER TABLE users ADD COLUMN nickname TEXT;",
        Some("ALTER TABLE users DROP COLUMN name;"),
    ));
    let scripts = directory(scripts);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let mut conn = Connection::open_in_memory().expect("memory db");
    let err = check_migrations(&migrator, &mut conn, None).expect_err("d4 drops name");
    assert_eq!(err.revision(), Some("d4"), "{err}");
    let text = err.to_string();
    assert!(text.contains("column users.name is missing"), "{text}");
    assert!(
        text.contains("column users.nickname is left over"),
        "{text}"
    );
}

#[test]
fn the_head_is_compared_with_the_expected_schema() {
    let scripts = directory(good());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let expected = sqlite_schema_of_sql(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, \
         age INTEGER); CREATE INDEX ix_users_email ON users (email);",
    )
    .expect("schema.sql loads");
    let mut conn = Connection::open_in_memory().expect("memory db");
    let err = check_migrations(&migrator, &mut conn, Some(&expected)).expect_err("age missing");
    match &err {
        CycleError::HeadMismatch {
            revision,
            differences,
            ..
        } => {
            assert_eq!(revision, "c3");
            assert_eq!(differences.len(), 1, "{differences:?}");
            assert!(differences[0].starts_with("column users.age is missing"));
        }
        other => panic!("expected a head mismatch, got {other}"),
    }
}

#[test]
fn two_heads_are_refused_with_their_names() {
    let mut scripts = good();
    scripts.push(script(
        "x9",
        &["a1"],
        "CREATE TABLE other (id INTEGER);",
        Some("DROP TABLE other;"),
    ));
    let scripts = directory(scripts);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let mut conn = Connection::open_in_memory().expect("memory db");
    let err = check_migrations(&migrator, &mut conn, None).expect_err("two heads");
    assert!(
        matches!(err, CycleError::NotSingleHead { ref heads } if heads == &["c3", "x9"]),
        "{err}"
    );
    assert!(user_tables(&conn).is_empty(), "nothing ran");
}

#[test]
fn a_database_with_tables_is_not_used() {
    let scripts = directory(good());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let mut conn = Connection::open_in_memory().expect("memory db");
    conn.execute_batch("CREATE TABLE precious (x INTEGER);")
        .expect("table");
    let err = check_migrations(&migrator, &mut conn, None).expect_err("not empty");
    assert!(matches!(err, CycleError::NotEmpty { .. }), "{err}");
}

#[test]
fn a_branch_and_merge_walk_back_the_way_they_came() {
    let scripts = directory(vec![
        script(
            "a1",
            &[],
            "CREATE TABLE a (id INTEGER);",
            Some("DROP TABLE a;"),
        ),
        script(
            "b1",
            &["a1"],
            "CREATE TABLE b (id INTEGER);",
            Some("DROP TABLE b;"),
        ),
        script(
            "c1",
            &["a1"],
            "CREATE TABLE c (id INTEGER);",
            Some("DROP TABLE c;"),
        ),
        script(
            "m1",
            &["b1", "c1"],
            "CREATE TABLE m (id INTEGER);",
            Some("DROP TABLE m;"),
        ),
    ]);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let mut conn = Connection::open_in_memory().expect("memory db");
    let report = check_migrations(&migrator, &mut conn, None).expect("cycle passes");
    assert_eq!(report.steps.len(), 8);
    let up: Vec<&str> = report.steps[..4]
        .iter()
        .map(|s| s.revision.as_str())
        .collect();
    let down: Vec<&str> = report.steps[4..]
        .iter()
        .map(|s| s.revision.as_str())
        .collect();
    let mut reversed = up.clone();
    reversed.reverse();
    assert_eq!(down, reversed);
    assert!(heads(&conn).is_empty());
}

#[test]
fn a_revision_without_downgrade_sql_is_named() {
    let mut scripts = good();
    scripts[2].downgrade_sql = None;
    let scripts = directory(scripts);
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let mut conn = Connection::open_in_memory().expect("memory db");
    let err = check_migrations(&migrator, &mut conn, None).expect_err("c3 cannot go down");
    assert!(
        matches!(
            &err,
            CycleError::Run { direction: Direction::Downgrade, revision, .. } if revision == "c3"
        ),
        "{err}"
    );
}
