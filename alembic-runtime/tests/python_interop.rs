//! Python Alembic and this runtime continue each other's SQLite databases.
//!
//! Needs Python with the `alembic` package (`ALEMBIC_PYTHON`, default `python3`). Without it the
//! test says so and passes, unless `ALEMBIC_TEST_REQUIRE_ALL=1` (CI), where it fails.

#[macro_use]
mod support;

use std::path::Path;
use std::process::Command;

use alembic_runtime::{Migrator, RunOptions, SqliteBackend};
use support::*;

fn python() -> String {
    std::env::var("ALEMBIC_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs `python -m alembic ARGS` in `dir`; returns stdout.
fn alembic(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(python())
        .args(["-m", "alembic"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "alembic {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn alembic_available() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import alembic"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let required = std::env::var("ALEMBIC_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "ALEMBIC_TEST_REQUIRE_ALL=1 but {} cannot import alembic",
            python()
        );
        eprintln!("skipping: {} cannot import alembic", python());
    }
    ok
}

/// A Python Alembic project whose revisions run the same SQL as `five_scripts()`.
fn python_project(dir: &Path, db: &Path) {
    alembic(dir, &["init", "mig"]);
    let ini = dir.join("alembic.ini");
    let text = std::fs::read_to_string(&ini).expect("alembic.ini");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("sqlalchemy.url") {
                format!("sqlalchemy.url = sqlite:///{}", db.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&ini, text).expect("write alembic.ini");
    for script in five_scripts() {
        let calls = |sql: &str| -> String {
            sql.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| format!("    op.execute({s:?})\n"))
                .collect()
        };
        let down = script
            .revision
            .down_revisions
            .first()
            .map_or("None".to_string(), |d| format!("{d:?}"));
        let body = format!(
            "from alembic import op\n\nrevision = {:?}\ndown_revision = {down}\nbranch_labels = None\n\
             depends_on = None\n\n\ndef upgrade():\n{}\n\ndef downgrade():\n{}",
            script.revision.id,
            calls(&script.upgrade_sql),
            calls(script.downgrade_sql.as_deref().unwrap_or("")),
        );
        std::fs::write(
            dir.join("mig/versions")
                .join(format!("{}.py", script.revision.id)),
            body,
        )
        .expect("write revision");
    }
}

#[test]
fn python_alembic_and_the_runtime_continue_each_other() {
    if !alembic_available() {
        return;
    }
    let db = new_db();
    let project = db.dir.path().join("py");
    std::fs::create_dir(&project).expect("project dir");
    python_project(&project, &db.path);

    // Python first...
    alembic(&project, &["upgrade", "r2"]);
    // ...then the runtime adopts the database and goes on...
    let scripts = directory(five_scripts());
    let migrator = Migrator::new(&scripts, RunOptions::default());
    let mut conn = open(&db.path);
    let report = migrator
        .upgrade(&mut SqliteBackend::new(&mut conn), "head")
        .expect("continue Python's database");
    let ran: Vec<&str> = report.applied.iter().filter_map(|a| a.revision()).collect();
    assert_eq!(ran, ["r3", "r4", "r5"]);
    drop(conn);
    // ...and Python sees where it ended and can go back down from there.
    assert!(alembic(&project, &["current"]).contains("r5 (head)"));
    alembic(&project, &["downgrade", "r3"]);
    let mut conn = open(&db.path);
    assert_eq!(
        migrator
            .current_heads(&mut SqliteBackend::new(&mut conn))
            .expect("heads"),
        ["r3"]
    );
    assert_eq!(user_tables(&conn), ["t1", "t2", "t3"]);

    // The version table this runtime creates is the one Python created.
    let python_ddl: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'alembic_version'",
            [],
            |r| r.get(0),
        )
        .expect("ddl");
    let ours = new_db();
    let mut fresh = open(&ours.path);
    migrator
        .upgrade(&mut SqliteBackend::new(&mut fresh), "r1")
        .expect("fresh database");
    let our_ddl: String = fresh
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'alembic_version'",
            [],
            |r| r.get(0),
        )
        .expect("ddl");
    assert_eq!(our_ddl, python_ddl);
}
