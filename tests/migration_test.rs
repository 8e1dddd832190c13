//! `cargo alembic test` (issue 5 item 5): the up-and-down cycle on a scratch database catches a
//! planted bad downgrade (naming its revision), passes on good migrations and on the example
//! app, refuses two heads, compares the head with schema.sql, and never touches the configured
//! database. Server variants (`on_databases!`) create the scratch databases on the test server.

#[path = "support/project.rs"]
mod project;
#[path = "support/server_db.rs"]
mod server_db;
#[path = "support/test_db.rs"]
mod test_db;

use std::path::Path;

use project::{command, run_cmd, Project};
use test_db::{Dialect, TestDb};

macro_rules! on_databases {
    ($test:ident) => {
        mod $test {
            #[test]
            fn sqlite() {
                super::$test(super::Dialect::Sqlite);
            }
            #[test]
            fn postgres() {
                super::$test(super::Dialect::Postgres);
            }
            #[test]
            fn mysql() {
                super::$test(super::Dialect::Mysql);
            }
        }
    };
}

/// A project on `d` with three good revisions: a table, an index, a column. `None` when the
/// server is not configured (after the loud SKIPPED line). The database the config names is
/// returned so that a test can check it was not touched.
fn good_project(d: Dialect) -> Option<(Project, TestDb)> {
    let p = Project::new();
    let db = TestDb::create(d, &p.db(), "migtest", "cargo alembic test")?;
    if d.is_server() {
        p.write(
            "alembic.toml",
            &format!(
                "[alembic]\nscript_location = \"migrations\"\nurl = \"{}\"\n",
                db.url()
            ),
        );
    }
    p.revision(
        "a1",
        "",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL);",
        Some("DROP TABLE users;"),
    );
    p.revision(
        "b2",
        "a1",
        "CREATE INDEX ix_users_email ON users (email);",
        Some(drop_index(d)),
    );
    p.revision(
        "c3",
        "b2",
        "ALTER TABLE users ADD COLUMN name VARCHAR(100);",
        Some("ALTER TABLE users DROP COLUMN name;"),
    );
    Some((p, db))
}

fn drop_index(d: Dialect) -> &'static str {
    match d {
        Dialect::Mysql => "DROP INDEX ix_users_email ON users;",
        _ => "DROP INDEX ix_users_email;",
    }
}

/// Nothing was written to the configured database.
fn untouched(db: &TestDb) -> bool {
    match db {
        TestDb::Sqlite(path) => !path.exists(),
        TestDb::Server(..) => db.tables().is_empty(),
    }
}

fn good_migrations_pass(d: Dialect) {
    let Some((p, db)) = good_project(d) else {
        return;
    };
    let run = p.run(&["test"]);
    run.ok("cargo alembic test on good migrations");
    let lines = run.lines();
    let steps: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("upgrade") || l.starts_with("downgrade"))
        .collect();
    assert_eq!(steps.len(), 6, "one line per step:\n{}", run.all());
    assert!(steps[0].starts_with("upgrade   a1"), "{}", run.all());
    assert!(steps[3].starts_with("downgrade c3"), "{}", run.all());
    assert_eq!(
        lines.last().map(String::as_str),
        Some("OK"),
        "{}",
        run.all()
    );
    assert!(
        untouched(&db),
        "the configured database was used:\n{}",
        run.all()
    );
}
on_databases!(good_migrations_pass);

fn a_planted_bad_downgrade_is_named(d: Dialect) {
    let Some((p, db)) = good_project(d) else {
        return;
    };
    // b2's downgrade forgets to drop its index.
    p.revision(
        "b2",
        "a1",
        "CREATE INDEX ix_users_email ON users (email);",
        Some("SELECT 1;"),
    );
    let run = p.run(&["test"]);
    run.expect_code(1, "a downgrade that leaves an index behind");
    run.stderr_has("revision b2", "names the revision");
    run.stderr_has("migrations/versions/b2_rev.sql", "names its file");
    run.stderr_has(
        "index ix_users_email on users (email) is left over",
        "says what differs",
    );
    assert!(
        untouched(&db),
        "the configured database was used:\n{}",
        run.all()
    );
}
on_databases!(a_planted_bad_downgrade_is_named);

fn a_downgrade_dropping_the_wrong_column_is_named(d: Dialect) {
    let Some((p, _db)) = good_project(d) else {
        return;
    };
    p.revision(
        "d4",
        "c3",
        "ALTER TABLE users ADD COLUMN nickname VARCHAR(100);",
        Some("ALTER TABLE users DROP COLUMN name;"),
    );
    let run = p.run(&["test", "--json"]);
    run.expect_code(1, "a downgrade dropping the wrong column");
    let out: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("--json prints one JSON document ({e}):\n{}", run.all()));
    assert_eq!(out["ok"], false);
    assert_eq!(out["failed_revision"], "d4", "{out}");
    assert_eq!(out["steps"].as_array().map(Vec::len), Some(4), "{out}");
    let error = out["error"].as_str().unwrap_or_default();
    assert!(error.contains("column users.name is missing"), "{error}");
    assert!(
        error.contains("column users.nickname is left over"),
        "{error}"
    );
}
on_databases!(a_downgrade_dropping_the_wrong_column_is_named);

#[test]
fn two_heads_are_refused_naming_them() {
    let Some((p, _db)) = good_project(Dialect::Sqlite) else {
        return;
    };
    p.revision(
        "x9",
        "a1",
        "CREATE TABLE other (id INTEGER);",
        Some("DROP TABLE other;"),
    );
    let run = p.run(&["test"]);
    run.expect_code(1, "two heads");
    run.stderr_has("2 heads (c3, x9)", "names the heads");
    run.stderr_has("single head", "says why");
}

fn the_head_is_compared_with_schema_sql(d: Dialect) {
    let Some((p, db)) = good_project(d) else {
        return;
    };
    p.write(
        "migrations/schema.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL,\n\
         name VARCHAR(100));\nCREATE INDEX ix_users_email ON users (email);\n",
    );
    p.run(&["test"]).ok("schema.sql matches the head");

    p.write(
        "migrations/schema.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL,\n\
         name VARCHAR(100), age INTEGER);\nCREATE INDEX ix_users_email ON users (email);\n",
    );
    let run = p.run(&["test"]);
    run.expect_code(1, "schema.sql has a column no migration adds");
    run.stderr_has("head c3", "names the head");
    run.stderr_has("column users.age is missing", "says what differs");
    assert!(
        untouched(&db),
        "the configured database was used:\n{}",
        run.all()
    );
}
on_databases!(the_head_is_compared_with_schema_sql);

#[test]
fn the_example_app_passes() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/promptpilot");
    // The configured database (data/promptpilot.db) is not the one tested: it is left exactly
    // as it was, or not created.
    let configured = example.join("data/promptpilot.db");
    let before = std::fs::read(&configured).ok();
    let mut cmd = command(&example);
    cmd.arg("test");
    let run = run_cmd(cmd);
    run.ok("cargo alembic test on examples/promptpilot");
    assert_eq!(
        run.lines().last().map(String::as_str),
        Some("OK"),
        "{}",
        run.all()
    );
    assert!(
        run.lines().iter().any(|l| l.starts_with("downgrade 1")),
        "walks down to the first revision:\n{}",
        run.all()
    );
    assert_eq!(
        std::fs::read(&configured).ok(),
        before,
        "the configured database changed"
    );
}
