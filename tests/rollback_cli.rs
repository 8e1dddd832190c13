//! Deploy rollback and audited amendments from the command line, on SQLite, PostgreSQL and
//! MariaDB/MySQL (servers from `ALEMBIC_TEST_POSTGRES_URL` / `ALEMBIC_TEST_MYSQL_URL`; a loud
//! SKIPPED line without them, a failure under `ALEMBIC_TEST_REQUIRE_ALL=1`): `downgrade` to a
//! revision on disk from a head only the database knows, `check` naming an edited applied
//! script (exit 1), and `rehash REV --reason TEXT`.

#[path = "support/project.rs"]
mod project;
#[path = "support/server_db.rs"]
mod server_db;
#[path = "support/test_db.rs"]
mod test_db;

use project::{Project, Run};
use test_db::{Dialect, TestDb};

/// One test per database, each calling `fn name(d: Dialect)`.
macro_rules! on_databases {
    ($test:ident) => {
        mod $test {
            #[test]
            fn sqlite() {
                super::$test(super::Dialect::named("sqlite"));
            }
            #[test]
            fn postgres() {
                super::$test(super::Dialect::named("postgres"));
            }
            #[test]
            fn mysql() {
                super::$test(super::Dialect::named("mysql"));
            }
        }
    };
}

/// The project's database on `d`; a server database's URL replaces the config's. `None` when
/// the server is not configured (after the loud SKIPPED line).
fn database_for(p: &Project, d: Dialect) -> Option<TestDb> {
    let db = TestDb::create(d, &p.db(), "rbcli", "rollback CLI test")?;
    if d.is_server() {
        let text = p.read("alembic.toml");
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                if line.trim_start().starts_with("url") {
                    format!("url = \"{}\"", db.url())
                } else {
                    line.to_string()
                }
            })
            .collect();
        p.write("alembic.toml", &(lines.join("\n") + "\n"));
    }
    Some(db)
}

/// a1 <- b2 <- c3, each creating table t<n>.
fn three_revisions() -> Project {
    let p = Project::new();
    p.revision(
        "a1",
        "",
        "CREATE TABLE t1 (x INTEGER);",
        Some("DROP TABLE t1;"),
    );
    p.revision(
        "b2",
        "a1",
        "CREATE TABLE t2 (x INTEGER);",
        Some("DROP TABLE t2;"),
    );
    p.revision(
        "c3",
        "b2",
        "CREATE TABLE t3 (x INTEGER);",
        Some("DROP TABLE t3;"),
    );
    p
}

/// Runs with an environment where git has no user.name, so the actor is `$USER`.
fn run_as(p: &Project, user: &str, args: &[&str]) -> Run {
    let home = p.path("home");
    std::fs::create_dir_all(&home).expect("home");
    let home = home.display().to_string();
    p.run_env(
        args,
        &[
            ("USER", user),
            ("HOME", &home),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("GIT_CONFIG_NOSYSTEM", "1"),
        ],
    )
}

on_databases!(downgrade_from_a_head_only_the_database_knows);
fn downgrade_from_a_head_only_the_database_knows(d: Dialect) {
    let p = three_revisions();
    let Some(db) = database_for(&p, d) else {
        return;
    };
    p.ok(&["upgrade", "head"]);
    assert_eq!(db.heads(), ["c3"]);

    // An older checkout: b2 and c3 are not on disk.
    std::fs::remove_file(p.versions().join("c3_rev.sql")).expect("rm c3");
    std::fs::remove_file(p.versions().join("b2_rev.sql")).expect("rm b2");

    // upgrade keeps refusing, and says what would work.
    p.run(&["upgrade", "head"])
        .expect_code(1, "upgrade with an unknown head")
        .stderr_has("c3", "names the unknown revision")
        .stderr_has("cargo alembic downgrade", "offers the downgrade");
    p.run(&["check"])
        .expect_code(1, "check with an unknown head")
        .stderr_has("c3", "names it")
        .stderr_has("cargo alembic downgrade <rev>", "offers the way back");
    // The read commands do not crash on it: `history` lists the scripts, `current` fails as
    // Python Alembic's does (it cannot describe a revision it has no script for), naming it.
    p.ok(&["history"]);
    p.run(&["current"])
        .expect_clean_failure("current with an unknown head")
        .stderr_has("c3", "names it");

    // A relative target counts from heads the scripts cannot see: refused.
    p.run(&["downgrade", "-1"])
        .expect_code(1, "relative downgrade from an unknown head")
        .stderr_has("c3", "names it");
    assert_eq!(db.heads(), ["c3"]);

    // A target that names nothing fails before any revert.
    p.run(&["downgrade", "nosuchrev"])
        .expect_clean_failure("downgrade to an unknown target")
        .stderr_has("nosuchrev", "names it");
    assert_eq!(db.heads(), ["c3"]);

    // To a revision on disk: c3 and b2 are reverted with their stored SQL.
    p.ok(&["downgrade", "a1"]);
    assert_eq!(db.heads(), ["a1"]);
    assert!(db.has_table("t1"));
    assert!(!db.has_table("t2"));
    assert!(!db.has_table("t3"));
    let reverted = db.query(
        "SELECT revision FROM alembic_version_history WHERE operation = 'downgrade' \
         AND reason LIKE 'deploy rollback%' ORDER BY id",
    );
    assert_eq!(reverted, ["c3", "b2"]);
    p.ok(&["check"]);
}

on_databases!(check_names_an_edited_applied_script_and_rehash_amends_it);
fn check_names_an_edited_applied_script_and_rehash_amends_it(d: Dialect) {
    let p = three_revisions();
    let Some(db) = database_for(&p, d) else {
        return;
    };
    p.ok(&["upgrade", "head"]);
    p.ok(&["check"]);

    // A comment fixed in b2 after it ran.
    let b2 = p.versions().join("b2_rev.sql");
    let text = std::fs::read_to_string(&b2).expect("b2");
    std::fs::write(
        &b2,
        text.replace("-- revision b2", "-- revision b2 (typo fixed)"),
    )
    .expect("edit b2");

    p.run(&["check"])
        .expect_code(1, "check with an edited applied script")
        .stderr_has("revision b2", "names the revision")
        .stderr_has("b2_rev.sql", "names the file")
        .stderr_has("cargo alembic rehash b2 --reason", "suggests rehash");
    p.run(&["upgrade", "head"])
        .expect_code(1, "upgrade refuses an edited applied script")
        .stderr_has("revision b2", "names it");

    // --reason is required.
    run_as(&p, "tester", &["rehash", "b2"]).expect_code(2, "rehash without --reason");
    run_as(&p, "tester", &["rehash", "b2", "--reason", " "])
        .expect_code(2, "rehash with an empty reason");

    let r = run_as(
        &p,
        "tester",
        &["rehash", "b2", "--reason", "typo in a comment"],
    );
    r.ok("rehash b2");
    assert!(r.stdout.contains("Rehashed b2"), "{}", r.stdout);
    assert!(
        r.stdout.contains("c3"),
        "the revision above is re-chained: {}",
        r.stdout
    );
    p.ok(&["check"]);
    p.ok(&["upgrade", "head"]);

    let audit = db.query(
        "SELECT revision, actor, reason FROM alembic_version_history \
         WHERE operation = 'rehash' ORDER BY id",
    );
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0], "b2\ttester\ttypo in a comment");
    assert!(audit[1].starts_with("c3\ttester\t"), "{audit:?}");

    // Nothing left to amend; a revision that is not applied cannot be amended.
    run_as(&p, "tester", &["rehash", "b2", "--reason", "again"])
        .expect_code(1, "rehash of an unchanged script")
        .stderr_has("unchanged", "says why");
    p.ok(&["downgrade", "a1"]);
    run_as(&p, "tester", &["rehash", "c3", "--reason", "x"])
        .expect_code(1, "rehash of a revision that is not applied")
        .stderr_has("not applied", "says why");
}
