//! The checks a team would otherwise run with `cargo alembic` before shipping, done through the
//! migrations embedded in the binary: one head, and a full round trip down to base and back.

use std::process::Command;

use alembic_runtime::rusqlite::Connection;

fn promptpilot(url: &str, args: &[&str]) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_promptpilot"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .env_remove("PROMPTPILOT_REVERT_UNKNOWN_REVISIONS")
        .env_remove("PROMPTPILOT_WARN_ON_CHECKSUM_MISMATCH")
        .output()
        .expect("promptpilot runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "promptpilot {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// The tables and indexes of the database, without SQLite's own and the version tables.
fn schema(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT type || ' ' || name FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'alembic_version%' ORDER BY name",
        )
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<String>, _>>()
        .expect("rows");
    rows
}

fn columns(conn: &Connection, table: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<String>, _>>()
        .expect("rows");
    rows
}

#[test]
fn the_embedded_graph_has_a_single_head() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:///{}", dir.path().join("p.db").display());
    let (heads, _) = promptpilot(&url, &["db", "heads"]);
    assert_eq!(
        heads, "5_backfill_prompt_version\n",
        "one head: a second one means two revisions were added on the same parent and need \
         `cargo alembic merge heads`"
    );
}

#[test]
fn downgrade_to_base_and_back_through_the_embedded_scripts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("p.db");
    let url = format!("sqlite:///{}", path.display());

    promptpilot(&url, &["demo"]);
    let at_head = {
        let conn = Connection::open(&path).expect("open");
        assert_eq!(
            columns(&conn, "prompts"),
            [
                "id",
                "name",
                "body",
                "status",
                "owner_id",
                "created_at",
                "description",
                "version"
            ]
        );
        assert_eq!(
            columns(&conn, "users"),
            ["id", "email", "name", "created_at", "role"]
        );
        schema(&conn)
    };
    assert_eq!(
        at_head,
        [
            "index ix_prompts_name",
            "index ix_prompts_owner_id",
            "index ix_prompts_status",
            "table prompts",
            "table users"
        ]
    );

    // One step: the data migration's downgrade drops the version column.
    let (one, _) = promptpilot(&url, &["db", "downgrade", "-1"]);
    assert!(
        one.starts_with("ran 1 migration") && one.contains("downgrade 5_backfill_prompt_version"),
        "{one}"
    );
    let conn = Connection::open(&path).expect("open");
    assert!(!columns(&conn, "prompts").contains(&"version".to_string()));
    drop(conn);

    // The rest, through the merge and both branches.
    let (rest, _) = promptpilot(&url, &["db", "downgrade", "base"]);
    assert!(rest.starts_with("ran 5 migrations"), "{rest}");
    for revision in [
        "4_merge_description_and_roles",
        "3_add_prompt_description",
        "3_add_user_role",
        "2_add_indexes",
        "1_initial_migration",
    ] {
        assert!(rest.contains(&format!("downgrade {revision}")), "{rest}");
    }
    let conn = Connection::open(&path).expect("open");
    assert_eq!(schema(&conn), Vec::<String>::new(), "base leaves no table");
    let (status, _) = promptpilot(&url, &["db", "status"]);
    assert_eq!(
        status,
        "base (no revision applied)\nnot up to date: the next launch migrates\n"
    );

    // And up again: the next launch rebuilds the same schema.
    let (_, log) = promptpilot(&url, &["list"]);
    assert!(log.contains("ran 6 migrations"), "{log}");
    assert_eq!(schema(&conn), at_head);
    let (status, _) = promptpilot(&url, &["db", "status"]);
    assert_eq!(status, "5_backfill_prompt_version (head)\nup to date\n");
}
