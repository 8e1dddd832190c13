//! Bad input, end to end (SPEC section 9): every failure exits 1 with one clear message on
//! stderr that names what and where (file:line, revision ids), never a panic or a backtrace, and
//! never a half-applied database. Assertions are on the facts the SPEC fixes (file names, line
//! numbers, ids, keys, exit codes, version rows), not on wording.

#[path = "support/project.rs"]
mod project;

use project::{
    heads_in, make_python_alembic_db, script_text, table_exists, version_rows, Project, Run,
};

/// Runs `args` and requires a clean failure: exit 1, a message, no panic, and short enough to be
/// one message (a few lines of what/where/why/what to do), not a dump.
fn fails(p: &Project, args: &[&str]) -> Run {
    let r = p.run(args);
    let what = args.join(" ");
    // shown by the test harness on failure (and with --nocapture, to review the wording)
    eprintln!("$ cargo alembic {what}\n{}", r.stderr);
    r.expect_clean_failure(&what);
    r.stderr_is_short(12, &what);
    r
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A project with one good base revision `a1` creating `t_a`.
fn with_base() -> Project {
    let p = Project::new();
    p.revision(
        "a1",
        "",
        "CREATE TABLE t_a (id INTEGER);",
        Some("DROP TABLE t_a;"),
    );
    p
}

/// Bad scripts must be caught before the database is opened: nothing is created.
fn assert_db_untouched(p: &Project) {
    assert!(
        !p.db().exists() || version_rows(&p.db()).unwrap_or_default().is_empty(),
        "a run that failed on bad scripts must not migrate the database"
    );
}

// ---------------------------------------------------------------------------------------------
// malformed scripts: named by file and line

#[test]
fn unknown_header_key_names_key_file_and_line() {
    let p = with_base();
    // line 6: the extra header line (see project::script_text)
    p.revision_with(
        "b2",
        "a1",
        "-- Brnach Labels: feature\n",
        "SELECT 1;",
        Some("SELECT 1;"),
    );
    for cmd in [&["upgrade", "head"][..], &["heads"][..]] {
        let r = fails(&p, cmd);
        r.stderr_has("Brnach Labels", "unknown header key")
            .stderr_has_location("b2_rev.sql", 6, "unknown header key");
    }
    assert_db_untouched(&p);
}

#[test]
fn missing_revision_id_names_the_file() {
    let p = with_base();
    p.script_file(
        "no_id.sql",
        "-- forgot the id\n--\n-- Revises: a1\n\n-- +upgrade\nSELECT 1;\n",
    );
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("no_id.sql", "missing Revision ID")
        .stderr_has("Revision ID", "missing Revision ID");
    assert_db_untouched(&p);
}

#[test]
fn bad_id_characters_name_id_file_and_line() {
    let p = with_base();
    p.script_file(
        "dash.sql",
        &script_text("bad-id", "a1", "", "SELECT 1;", Some("SELECT 1;")),
    );
    let r = fails(&p, &["heads"]);
    r.stderr_has("bad-id", "bad id characters")
        .stderr_has_location("dash.sql", 3, "bad id characters");
}

#[test]
fn id_longer_than_32_is_rejected_and_32_is_accepted() {
    let long = "a".repeat(33);
    let p = with_base();
    p.script_file(
        "long.sql",
        &script_text(&long, "a1", "", "SELECT 1;", Some("SELECT 1;")),
    );
    let r = fails(&p, &["heads"]);
    r.stderr_has_location("long.sql", 3, "id of 33 characters");
    assert!(
        r.stderr.contains(&long) || r.stderr.contains("32"),
        "the message names the id or the 32-character limit:\n{}",
        r.stderr
    );

    // the boundary: 32 characters is Alembic's version_num width and works end to end
    let ok = with_base();
    let id32 = "b".repeat(32);
    ok.script_file(
        "ok32.sql",
        &script_text(&id32, "a1", "", "SELECT 1;", Some("SELECT 1;")),
    );
    ok.ok(&["upgrade", "head"]);
    assert_eq!(version_rows(&ok.db()), Some(vec![id32]));
}

#[test]
fn duplicate_id_across_two_files_names_both() {
    let p = with_base();
    p.script_file(
        "first.sql",
        &script_text("dup", "a1", "", "SELECT 1;", None),
    );
    p.script_file(
        "second.sql",
        &script_text("dup", "a1", "", "SELECT 2;", None),
    );
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("dup", "duplicate id")
        .stderr_has("first.sql", "duplicate id")
        .stderr_has("second.sql", "duplicate id");
    assert_db_untouched(&p);
}

#[test]
fn missing_upgrade_marker_names_the_file() {
    let p = with_base();
    p.script_file(
        "no_marker.sql",
        "-- no marker\n--\n-- Revision ID: b2\n-- Revises: a1\n\nCREATE TABLE t_b (id INTEGER);\n",
    );
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("no_marker.sql", "missing -- +upgrade")
        .stderr_has("+upgrade", "missing -- +upgrade");
    assert_db_untouched(&p);
}

#[test]
fn non_utf8_file_names_the_file() {
    let p = with_base();
    let mut bytes = script_text("b2", "a1", "", "", None).into_bytes();
    bytes.extend_from_slice(b"INSERT INTO t_a VALUES ('caf\xe9 \xff');\n");
    p.write_bytes("migrations/versions/latin1.sql", &bytes);
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("latin1.sql", "non-UTF-8 file");
    assert!(
        r.stderr.contains("UTF-8") || r.stderr.contains("utf-8"),
        "{}",
        r.stderr
    );
    assert_db_untouched(&p);
}

#[test]
fn empty_file_names_the_file() {
    let p = with_base();
    p.write_bytes("migrations/versions/empty.sql", b"");
    let r = fails(&p, &["heads"]);
    r.stderr_has("empty.sql", "empty script");
}

// ---------------------------------------------------------------------------------------------
// graph errors: named by revision and file

#[test]
fn unknown_parent_in_revises_names_it_and_the_file() {
    let p = with_base();
    p.revision("b2", "nothere", "SELECT 1;", Some("SELECT 1;"));
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("nothere", "unknown parent")
        .stderr_has("b2", "unknown parent")
        .stderr_has_location("b2_rev.sql", 4, "unknown parent");
    assert_db_untouched(&p);
}

#[test]
fn unknown_depends_on_names_it_and_the_file() {
    let p = with_base();
    p.revision_with(
        "b2",
        "a1",
        "-- Depends On: ghost\n",
        "SELECT 1;",
        Some("SELECT 1;"),
    );
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("ghost", "unknown Depends On")
        .stderr_has("b2_rev.sql", "unknown Depends On");
    assert_db_untouched(&p);
}

#[test]
fn a_cycle_names_its_revisions() {
    let p = with_base();
    p.revision("b2", "a1, c3", "SELECT 1;", Some("SELECT 1;"));
    p.revision("c3", "b2", "SELECT 1;", Some("SELECT 1;"));
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("b2", "cycle").stderr_has("c3", "cycle");
    assert_db_untouched(&p);

    // a cycle with no base at all
    let q = Project::new();
    q.revision("x1", "y2", "SELECT 1;", Some("SELECT 1;"));
    q.revision("y2", "x1", "SELECT 1;", Some("SELECT 1;"));
    let r = fails(&q, &["heads"]);
    r.stderr_has("x1", "pure cycle")
        .stderr_has("y2", "pure cycle");
}

#[test]
fn duplicate_branch_label_names_label_and_both_revisions() {
    let p = with_base();
    p.revision_with("b2", "a1", "-- Branch Labels: feat\n", "SELECT 1;", None);
    p.revision_with("c3", "a1", "-- Branch Labels: feat\n", "SELECT 1;", None);
    let r = fails(&p, &["heads"]);
    r.stderr_has("feat", "duplicate label")
        .stderr_has("b2", "duplicate label")
        .stderr_has("c3", "duplicate label");
}

#[test]
fn several_bad_files_are_all_reported_at_once() {
    let p = with_base();
    p.revision_with("b2", "a1", "-- Revizes: a1\n", "SELECT 1;", None);
    p.script_file(
        "no_marker.sql",
        "-- no marker\n--\n-- Revision ID: c3\n-- Revises: a1\n\nSELECT 1;\n",
    );
    p.script_file("dash.sql", &script_text("d-4", "a1", "", "SELECT 1;", None));
    let r = p.run(&["upgrade", "head"]);
    r.expect_clean_failure("upgrade head with three bad files");
    r.stderr_has_location("b2_rev.sql", 6, "first bad file")
        .stderr_has("no_marker.sql", "second bad file")
        .stderr_has_location("dash.sql", 3, "third bad file");
    assert_db_untouched(&p);
}

#[test]
fn a_malformed_file_does_not_hide_another_files_unknown_parent() {
    // a1_rev.sql has a readable `Revision ID: a1` and one bad header line; b2 revises "zz",
    // which no file (parsed or not) declares: both problems are reported in one run.
    let p = Project::new();
    p.revision_with("a1", "", "-- Bogus: 1\n", "SELECT 1;", None);
    p.revision("b2", "zz", "SELECT 1;", None);
    let r = fails(&p, &["heads"]);
    r.stderr_has_location("a1_rev.sql", 6, "malformed file")
        .stderr_has("zz", "unknown parent next to a malformed file")
        .stderr_has_location("b2_rev.sql", 4, "unknown parent next to a malformed file");
}

// ---------------------------------------------------------------------------------------------
// targets

#[test]
fn unknown_target_is_named() {
    let p = with_base();
    for cmd in ["upgrade", "downgrade", "stamp", "show"] {
        let r = fails(&p, &[cmd, "nosuch"]);
        r.stderr_has("nosuch", cmd);
    }
    assert_db_untouched(&p);
}

#[test]
fn ambiguous_prefix_lists_the_candidates() {
    let p = Project::new();
    p.revision("abc1", "", "SELECT 1;", Some("SELECT 1;"));
    p.revision("abc2", "abc1", "SELECT 1;", Some("SELECT 1;"));
    let r = fails(&p, &["upgrade", "abc"]);
    r.stderr_has("abc1", "ambiguous prefix")
        .stderr_has("abc2", "ambiguous prefix");
    assert_db_untouched(&p);
}

#[test]
fn upgrade_head_with_two_heads_names_both_and_suggests_heads_or_merge() {
    let p = with_base();
    p.revision("left", "a1", "CREATE TABLE t_l (id INTEGER);", None);
    p.revision("right", "a1", "CREATE TABLE t_r (id INTEGER);", None);
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("left", "two heads")
        .stderr_has("right", "two heads");
    assert!(
        r.stderr.contains("heads") || r.stderr.contains("merge"),
        "the message suggests `heads` or a merge:\n{}",
        r.stderr
    );
    assert_db_untouched(&p);
    assert!(!table_exists(&p.db(), "t_a"), "nothing ran");
}

#[test]
fn relative_downgrade_below_base_fails_cleanly() {
    let p = with_base();
    p.ok(&["upgrade", "head"]);
    fails(&p, &["downgrade", "-2"]);
    assert_eq!(heads_in(&p.db()), strings(&["a1"]));
}

// ---------------------------------------------------------------------------------------------
// database state and failing SQL

#[test]
fn downgrade_through_a_revision_without_downgrade_names_it_and_runs_nothing() {
    let p = with_base();
    p.revision("b2", "a1", "CREATE TABLE t_b (id INTEGER);", None);
    p.revision(
        "c3",
        "b2",
        "CREATE TABLE t_c (id INTEGER);",
        Some("DROP TABLE t_c;"),
    );
    p.ok(&["upgrade", "head"]);
    let r = fails(&p, &["downgrade", "base"]);
    r.stderr_has("b2", "no downgrade section");
    assert_eq!(
        version_rows(&p.db()),
        Some(strings(&["c3"])),
        "version table unchanged"
    );
    assert!(
        table_exists(&p.db(), "t_c"),
        "c3's downgrade must not have run"
    );
    // stepping down to b2 only is fine
    p.ok(&["downgrade", "-1"]);
    assert_eq!(version_rows(&p.db()), Some(strings(&["b2"])));
}

#[test]
fn empty_downgrade_section_counts_as_missing() {
    let p = with_base();
    p.revision("b2", "a1", "CREATE TABLE t_b (id INTEGER);", Some(""));
    p.ok(&["upgrade", "head"]);
    let r = fails(&p, &["downgrade", "a1"]);
    r.stderr_has("b2", "empty downgrade section");
    assert_eq!(version_rows(&p.db()), Some(strings(&["b2"])));
    assert!(table_exists(&p.db(), "t_b"));
}

#[test]
fn database_at_an_unknown_revision_is_refused() {
    let p = with_base();
    make_python_alembic_db(&p.db(), &["f00dfeed1234"]);
    for cmd in [&["upgrade", "head"][..], &["downgrade", "base"][..]] {
        let r = fails(&p, cmd);
        r.stderr_has("f00dfeed1234", "unknown database revision");
    }
    assert_eq!(version_rows(&p.db()), Some(strings(&["f00dfeed1234"])));
    assert!(!table_exists(&p.db(), "t_a"));
}

fn failing_project(config_extra: &str) -> Project {
    let p = Project::new();
    p.write(
        "alembic.toml",
        &format!("{}{config_extra}", project::DEFAULT_CONFIG),
    );
    p.revision(
        "a1",
        "",
        "CREATE TABLE t_a (id INTEGER);",
        Some("DROP TABLE t_a;"),
    );
    p.revision(
        "b2",
        "a1",
        "CREATE TABLE t_b (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
        Some("DROP TABLE t_b;"),
    );
    p
}

#[test]
fn failing_sql_names_revision_file_and_database_message_and_rolls_back_the_run() {
    let p = failing_project("");
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("b2", "failing SQL")
        .stderr_has("b2_rev.sql", "failing SQL")
        .stderr_has("no such table: no_such_table", "failing SQL");
    assert_eq!(
        heads_in(&p.db()),
        Vec::<String>::new(),
        "the version table claims nothing"
    );
    assert!(
        !table_exists(&p.db(), "t_a"),
        "one transaction per run (Alembic's default): a1's table is rolled back too"
    );
    assert!(!table_exists(&p.db(), "t_b"), "b2's own DDL is rolled back");
}

#[test]
fn failing_sql_with_transaction_per_migration_keeps_the_earlier_revision() {
    let p = failing_project("transaction_per_migration = true\n");
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("b2", "failing SQL, per-migration transactions");
    assert_eq!(version_rows(&p.db()), Some(strings(&["a1"])));
    assert!(table_exists(&p.db(), "t_a"));
    assert!(!table_exists(&p.db(), "t_b"));
}

#[test]
fn failing_sql_from_a_migrated_database_leaves_its_version() {
    let p = failing_project("");
    p.ok(&["upgrade", "a1"]);
    fails(&p, &["upgrade", "head"]);
    assert_eq!(version_rows(&p.db()), Some(strings(&["a1"])));
    assert!(table_exists(&p.db(), "t_a") && !table_exists(&p.db(), "t_b"));
}

#[test]
fn revision_refuses_bad_or_duplicate_ids_and_ambiguous_heads_writing_nothing() {
    let p = with_base();
    p.write_template();
    let before = p.version_files();
    let r = fails(&p, &["revision", "-m", "x", "--rev-id", "bad-id"]);
    r.stderr_has("bad-id", "revision --rev-id with a dash");
    let r = fails(&p, &["revision", "-m", "x", "--rev-id", "a1"]);
    r.stderr_has("a1", "revision --rev-id of an existing id");
    assert_eq!(
        p.version_files(),
        before,
        "a refused revision writes no file"
    );

    p.revision("left", "a1", "SELECT 1;", None);
    p.revision("right", "a1", "SELECT 1;", None);
    let before = p.version_files();
    let r = fails(&p, &["revision", "-m", "on which head?"]);
    assert!(
        (r.stderr.contains("left") && r.stderr.contains("right")) || r.stderr.contains("--head"),
        "the message names the heads or tells to pick one with --head:\n{}",
        r.stderr
    );
    assert_eq!(
        p.version_files(),
        before,
        "a refused revision writes no file"
    );
}

#[test]
fn failing_downgrade_sql_rolls_back_and_keeps_the_version() {
    let p = with_base();
    p.revision(
        "b2",
        "a1",
        "CREATE TABLE t_b (id INTEGER);",
        Some("DROP TABLE t_b;\nDROP TABLE no_such_table;"),
    );
    p.ok(&["upgrade", "head"]);
    let r = fails(&p, &["downgrade", "base"]);
    r.stderr_has("b2", "failing downgrade SQL")
        .stderr_has("b2_rev.sql", "failing downgrade SQL")
        .stderr_has("no such table: no_such_table", "failing downgrade SQL");
    assert_eq!(version_rows(&p.db()), Some(strings(&["b2"])));
    assert!(
        table_exists(&p.db(), "t_b"),
        "b2's downgrade was rolled back"
    );
    assert!(table_exists(&p.db(), "t_a"), "a1's downgrade never ran");
}

#[test]
fn failing_non_transactional_revision_says_it_may_be_half_applied() {
    let p = with_base();
    p.revision_with(
        "b2",
        "a1",
        "-- Transactional: false\n",
        "CREATE TABLE t_b (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
        Some("DROP TABLE t_b;"),
    );
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("b2", "failing non-transactional revision")
        .stderr_has(
            "no such table: no_such_table",
            "failing non-transactional revision",
        );
    assert!(
        r.stderr.to_lowercase().contains("half") || r.stderr.to_lowercase().contains("partial"),
        "outside a transaction the user must be told the revision may be half-applied:\n{}",
        r.stderr
    );
    assert_eq!(
        version_rows(&p.db()),
        Some(strings(&["a1"])),
        "the version table never claims b2; a1 before it is committed"
    );
}

#[test]
fn stamp_of_a_database_at_an_unknown_revision_needs_purge() {
    let p = with_base();
    make_python_alembic_db(&p.db(), &["f00dfeed1234"]);
    let r = fails(&p, &["stamp", "a1"]);
    r.stderr_has("f00dfeed1234", "stamp from an unknown revision");
    assert_eq!(version_rows(&p.db()), Some(strings(&["f00dfeed1234"])));
}

// ---------------------------------------------------------------------------------------------
// configuration

#[test]
fn unknown_key_in_alembic_toml_names_key_and_file() {
    let p = with_base();
    p.write(
        "alembic.toml",
        "[alembic]\nscript_location = \"migrations\"\nurl = \"sqlite:///app.db\"\ntransaction_per_migraton = true\n",
    );
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("transaction_per_migraton", "unknown config key")
        .stderr_has("alembic.toml", "unknown config key");
    assert!(!p.db().exists());
}

#[test]
fn malformed_alembic_toml_names_file_and_line() {
    let p = with_base();
    p.write(
        "alembic.toml",
        "[alembic]\nscript_location = \"migrations\"\nurl = sqlite:///app.db\n",
    );
    let r = fails(&p, &["heads"]);
    r.stderr_has("alembic.toml", "bad TOML");
    assert!(
        r.stderr.contains(":3") || r.stderr.to_lowercase().contains("line 3"),
        "the TOML error points at line 3:\n{}",
        r.stderr
    );
}

#[test]
fn missing_alembic_toml_is_named() {
    let p = Project::empty();
    let r = fails(&p, &["upgrade", "head"]);
    r.stderr_has("alembic.toml", "no config");

    let r = fails(&p, &["-c", "alembic_test.toml", "upgrade", "head"]);
    r.stderr_has("alembic_test.toml", "-c to a missing file");
}

#[test]
fn unsupported_url_scheme_is_named_and_password_masked() {
    let p = with_base();
    let r = fails(
        &p,
        &["--url", "oracle://scott:tiger_pw@db/x", "upgrade", "head"],
    );
    r.stderr_has("oracle", "unsupported URL");
    assert!(
        !r.all().contains("tiger_pw"),
        "password printed:\n{}",
        r.all()
    );
}

#[test]
fn missing_script_location_is_named() {
    let p = Project::empty();
    p.write(
        "alembic.toml",
        "[alembic]\nscript_location = \"nowhere\"\nurl = \"sqlite:///app.db\"\n",
    );
    let r = fails(&p, &["heads"]);
    r.stderr_has("nowhere", "missing script folder");
}

// ---------------------------------------------------------------------------------------------
// edited applied scripts (SPEC sections 6 and 7: the history table's checksums)

fn edit_applied(p: &Project, file: &str) {
    let rel = format!("migrations/versions/{file}");
    let text = p.read(&rel).replace(
        "CREATE TABLE t_a (id INTEGER);",
        "CREATE TABLE t_a (id INTEGER, x TEXT);",
    );
    p.write(&rel, &text);
}

#[test]
fn check_names_an_applied_script_that_was_edited() {
    let p = with_base();
    p.revision(
        "b2",
        "a1",
        "CREATE TABLE t_b (id INTEGER);",
        Some("DROP TABLE t_b;"),
    );
    p.ok(&["upgrade", "head"]);
    p.ok(&["check"]);
    edit_applied(&p, "a1_rev.sql");
    let r = fails(&p, &["check"]);
    r.stderr_has("a1", "edited applied script")
        .stderr_has("a1_rev.sql", "edited applied script");
}

#[test]
fn an_edit_to_an_applied_script_is_not_laundered_by_the_next_upgrade() {
    // a1 and b2 applied; a1 is then edited; a later `upgrade head` must either refuse (naming
    // a1) or leave the edit detectable: `check` must not start passing because c3's recorded
    // chained checksum was computed over the edited a1.
    let p = with_base();
    p.revision(
        "b2",
        "a1",
        "CREATE TABLE t_b (id INTEGER);",
        Some("DROP TABLE t_b;"),
    );
    p.revision(
        "c3",
        "b2",
        "CREATE TABLE t_c (id INTEGER);",
        Some("DROP TABLE t_c;"),
    );
    p.ok(&["upgrade", "b2"]);
    edit_applied(&p, "a1_rev.sql");
    let up = p.run(&["upgrade", "head"]);
    up.expect_no_panic("upgrade head after editing an applied script");
    if up.code == Some(1) {
        up.stderr_has("a1", "upgrade refusing an edited applied script");
        assert_eq!(version_rows(&p.db()), Some(strings(&["b2"])));
    } else {
        up.ok("upgrade head after editing an applied script");
        let r = p.run(&["check"]);
        r.expect_clean_failure("check after the edit was followed by an upgrade");
        r.stderr_has("a1", "check after the edit was followed by an upgrade");
    }
}
