//! PromptPilot as its operators see it: the built binary, launched on a temporary SQLite file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use alembic_runtime::rusqlite::Connection;

/// Every revision in migrations/versions, in an order the first launch may apply them in
/// (the two `3_` revisions are siblings).
const REVISIONS: [&str; 6] = [
    "1_initial_migration",
    "2_add_indexes",
    "3_add_prompt_description",
    "3_add_user_role",
    "4_merge_description_and_roles",
    "5_backfill_prompt_version",
];
const HEAD: &str = "5_backfill_prompt_version";

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        // A folder that does not exist yet: the app creates it, as for data/ on first launch.
        let path = dir.path().join("data").join("promptpilot.db");
        Db { _dir: dir, path }
    }

    fn url(&self) -> String {
        format!("sqlite:///{}", self.path.display())
    }

    /// Runs promptpilot with `args` on this database, logging at info level.
    fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_promptpilot"))
            .args(args)
            .env("DATABASE_URL", self.url())
            .env("RUST_LOG", "info")
            .env_remove("PROMPTPILOT_REVERT_UNKNOWN_REVISIONS")
            .env_remove("PROMPTPILOT_WARN_ON_CHECKSUM_MISMATCH")
            .output()
            .expect("promptpilot runs");
        Run::from(output)
    }

    fn conn(&self) -> Connection {
        Connection::open(&self.path).expect("open the database")
    }
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    fn success(self) -> Run {
        assert!(
            self.ok,
            "promptpilot failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    fn failure(self) -> Run {
        assert!(
            !self.ok,
            "promptpilot succeeded\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn version_rows(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare("SELECT version_num FROM alembic_version ORDER BY version_num")
        .expect("version table");
    let rows = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<String>, _>>()
        .expect("rows");
    rows
}

#[test]
fn first_launch_migrates_the_second_is_a_no_op_and_the_demo_lists_the_library() {
    let db = Db::new();

    let first = db.run(&["demo"]).success();
    for revision in REVISIONS {
        assert!(
            first.stderr.contains(&format!("upgrade {revision}")),
            "first launch applies {revision}:\n{}",
            first.stderr
        );
    }
    assert!(
        first
            .stderr
            .contains(&format!("to {HEAD}: ran 6 migrations")),
        "{}",
        first.stderr
    );
    assert_eq!(version_rows(&db.path), [HEAD]);
    let listing = "\
PROMPT            VERSION  STATUS     OWNER                       DESCRIPTION
explain-error     1.1.0    published  grace@example.com (member)  teaching
release-notes     0.1.0    draft      grace@example.com (member)
summarize-ticket  1.0.0    published  ada@example.com (admin)     support triage
";
    assert_eq!(
        first.stdout,
        format!("added the sample data: 2 users, 3 prompts\n{listing}")
    );

    let second = db.run(&["demo"]).success();
    assert!(
        second.stderr.contains(&format!("is up to date at {HEAD}")),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("upgrade "),
        "the second launch runs no migration:\n{}",
        second.stderr
    );
    assert_eq!(
        second.stdout,
        format!("the library already has users: no sample data added\n{listing}")
    );
    assert_eq!(version_rows(&db.path), [HEAD]);
}

#[test]
fn the_job_uses_the_migrated_schema_and_refuses_bad_input_with_a_message() {
    let db = Db::new();
    db.run(&["add-user", "lin@example.com", "Lin", "--role", "admin"])
        .success();
    db.run(&[
        "add-prompt",
        "lin@example.com",
        "haiku",
        "Write a haiku about {topic}",
    ])
    .success();
    let published = db.run(&["publish", "haiku"]).success();
    assert_eq!(published.stdout, "published haiku as version 1.0.0\n");
    let list = db.run(&["list", "--owner", "lin@example.com"]).success();
    assert!(
        list.stdout
            .contains("haiku   1.0.0    published  lin@example.com (admin)"),
        "{}",
        list.stdout
    );

    // The owner foreign key and the app's own checks.
    let unknown = db
        .run(&["add-prompt", "nobody@example.com", "x", "y"])
        .failure();
    assert!(
        unknown
            .stderr
            .contains("error: no user has email nobody@example.com"),
        "{}",
        unknown.stderr
    );
    let role = db
        .run(&["add-user", "a@example.com", "A", "--role", "root"])
        .failure();
    assert!(
        role.stderr.contains("unknown role \"root\""),
        "{}",
        role.stderr
    );
    let url = Command::new(env!("CARGO_BIN_EXE_promptpilot"))
        .args(["--database-url", "postgresql://u@localhost/db", "list"])
        .output()
        .expect("runs");
    let url = Run::from(url).failure();
    assert!(
        url.stderr.contains("promptpilot keeps its data in SQLite"),
        "{}",
        url.stderr
    );
}

#[test]
fn the_data_migration_backfills_the_version_of_existing_prompts() {
    let db = Db::new();
    // The schema before 5_backfill_prompt_version, with prompts written by that older build.
    db.run(&["db", "upgrade", "4_merge_description_and_roles"])
        .success();
    assert_eq!(version_rows(&db.path), ["4_merge_description_and_roles"]);
    db.conn()
        .execute_batch(
            "INSERT INTO users (id, email, name) VALUES (1, 'old@example.com', 'Old');
             INSERT INTO prompts (name, body, status, owner_id) VALUES
                 ('shipped', 'b', 'published', 1), ('wip', 'b', 'draft', 1);",
        )
        .expect("rows of the old schema");

    let launch = db.run(&["list"]).success();
    assert!(
        launch
            .stderr
            .contains(&format!("to {HEAD}: ran 1 migration")),
        "{}",
        launch.stderr
    );
    let versions: Vec<(String, String)> = {
        let conn = db.conn();
        let mut stmt = conn
            .prepare("SELECT name, version FROM prompts ORDER BY name")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows
    };
    assert_eq!(
        versions,
        [
            ("shipped".to_string(), "1.0.0".to_string()),
            ("wip".to_string(), "0.1.0".to_string())
        ]
    );
    assert!(
        launch.stdout.contains("shipped  1.0.0"),
        "{}",
        launch.stdout
    );
}

#[test]
fn a_database_from_a_newer_build_is_refused_and_reverted_only_on_request() {
    let db = Db::new();
    db.run(&["demo"]).success();
    // What a newer build leaves: its revision 6 applied, with the downgrade SQL and parents
    // its history row stored (this build has no script for it).
    db.conn()
        .execute_batch(
            "CREATE TABLE prompt_tags (prompt_id INTEGER NOT NULL REFERENCES prompts (id),
                                       tag VARCHAR(50) NOT NULL);
             UPDATE alembic_version SET version_num = '6_add_prompt_tags';
             INSERT INTO alembic_version_history
                 (revision, operation, downgrade_sql, down_revisions, applied_at, tool)
             VALUES ('6_add_prompt_tags', 'upgrade', 'DROP TABLE prompt_tags;',
                     '5_backfill_prompt_version', '2026-11-24T00:00:00Z', 'promptpilot 0.2.0');",
        )
        .expect("pretend a newer build ran");

    let refused = db.run(&["list"]).failure();
    assert!(
        refused.stderr.contains("cannot migrate the database")
            && refused.stderr.contains("6_add_prompt_tags"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--revert-unknown-revisions"),
        "the hint says what to do:\n{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "no job ran: {}", refused.stdout);
    assert_eq!(version_rows(&db.path), ["6_add_prompt_tags"]);

    let reverted = db.run(&["--revert-unknown-revisions", "list"]).success();
    assert!(
        reverted.stderr.contains("reverted 6_add_prompt_tags"),
        "{}",
        reverted.stderr
    );
    assert!(
        reverted.stdout.contains("summarize-ticket"),
        "the job ran: {}",
        reverted.stdout
    );
    assert_eq!(version_rows(&db.path), [HEAD]);
    let tags: i64 = db
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'prompt_tags'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(tags, 0, "the stored downgrade SQL ran");
}

#[test]
fn a_revision_without_stored_downgrade_sql_is_refused_even_on_request() {
    let db = Db::new();
    db.run(&["demo"]).success();
    // A version row with no history behind it: nothing says how to undo it.
    db.conn()
        .execute(
            "UPDATE alembic_version SET version_num = '6_from_elsewhere'",
            [],
        )
        .expect("pretend another tool ran");

    let refused = db.run(&["list"]).failure();
    assert!(
        refused.stderr.contains("6_from_elsewhere")
            && refused.stderr.contains("deploy that build again")
            && !refused.stderr.contains("--revert-unknown-revisions"),
        "{}",
        refused.stderr
    );
    let still = db.run(&["--revert-unknown-revisions", "list"]).failure();
    assert!(
        still
            .stderr
            .contains("cannot revert revision 6_from_elsewhere"),
        "{}",
        still.stderr
    );
    assert!(still.stdout.is_empty(), "no job ran: {}", still.stdout);
    assert_eq!(version_rows(&db.path), ["6_from_elsewhere"]);
}

#[test]
fn an_edited_applied_script_stops_the_launch_with_the_revision_and_what_to_do() {
    let db = Db::new();
    db.run(&["demo"]).success();
    // What the database holds after it ran an older text of 2_add_indexes: other checksums for
    // it, and other chained checksums for it and everything above it.
    db.conn()
        .execute_batch(&format!(
            "UPDATE alembic_version_history SET checksum = '{zeros}'
                 WHERE revision = '2_add_indexes';
             UPDATE alembic_version_history SET chained_checksum = '{zeros}'
                 WHERE revision <> '1_initial_migration';",
            zeros = "0".repeat(64)
        ))
        .expect("pretend the script was edited");

    let refused = db.run(&["list"]).failure();
    assert!(
        refused.stderr.contains("revision 2_add_indexes")
            && refused.stderr.contains("changed after it was applied"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--warn-on-checksum-mismatch"),
        "the hint says how to start anyway:\n{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "no job ran: {}", refused.stdout);

    // The operator's opt-out: start, with a warning naming the edited revision.
    let warned = db.run(&["--warn-on-checksum-mismatch", "list"]).success();
    assert!(
        warned.stderr.contains("WARN") && warned.stderr.contains("2_add_indexes"),
        "{}",
        warned.stderr
    );
    assert!(
        warned.stdout.contains("summarize-ticket"),
        "the job ran: {}",
        warned.stdout
    );
}

#[test]
fn replicas_launched_at_once_apply_each_revision_once_and_all_start() {
    let db = Db::new();
    // Four processes on a new file: they also race to create its folder and the tables.
    let replicas: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_promptpilot"))
                .arg("list")
                .env("DATABASE_URL", db.url())
                .env("RUST_LOG", "info")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("replica starts")
        })
        .collect();
    for replica in replicas {
        let run = Run::from(replica.wait_with_output().expect("replica ends")).success();
        assert_eq!(
            run.stdout, "no prompts yet: add one with `promptpilot add-prompt`\n",
            "{}",
            run.stderr
        );
    }
    let upgrades: Vec<(String, i64)> = {
        let conn = db.conn();
        let mut stmt = conn
            .prepare(
                "SELECT revision, COUNT(*) FROM alembic_version_history \
                 WHERE operation = 'upgrade' GROUP BY revision ORDER BY revision",
            )
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows
    };
    let once: Vec<(String, i64)> = REVISIONS.iter().map(|r| (r.to_string(), 1)).collect();
    assert_eq!(upgrades, once, "each revision ran exactly once");
    assert_eq!(version_rows(&db.path), [HEAD]);
}
