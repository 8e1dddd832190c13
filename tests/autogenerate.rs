//! `revision --autogenerate` and `check` against a desired schema (issue 5, items 3 and 4):
//! the built binary driven as a user drives it, on each database (`on_databases!`, as in
//! tests/e2e.rs; a server variant creates its own database and prints a loud SKIPPED line
//! when its URL is unset, failing instead under ALEMBIC_TEST_REQUIRE_ALL=1).

#[path = "support/project.rs"]
mod project;
#[path = "support/server_db.rs"]
mod server_db;
#[path = "support/test_db.rs"]
mod test_db;

use project::{Project, Run};
use test_db::{Dialect, TestDb};

macro_rules! on_databases {
    ($test:ident) => {
        on_databases!($test: sqlite, postgres, mysql);
    };
    ($test:ident: $($dialect:ident),+) => {
        mod $test {
            $(
                #[test]
                fn $dialect() {
                    super::$test(super::Dialect::named(stringify!($dialect)));
                }
            )+
        }
    };
}

const SCHEMA_V1: &str = "\
-- The application's tables.
CREATE TABLE author (
    id INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL
);
CREATE TABLE book (
    id INTEGER NOT NULL PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES author (id),
    title VARCHAR(200) NOT NULL
);
";

/// V1 plus a column and an index.
const SCHEMA_V2: &str = "\
-- The application's tables.
CREATE TABLE author (
    id INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    email VARCHAR(200)
);
CREATE TABLE book (
    id INTEGER NOT NULL PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES author (id),
    title VARCHAR(200) NOT NULL
);
CREATE INDEX ix_book_title ON book (title);
";

/// A project on `d` with the revision template; `None` when the server is not configured.
fn project_on(d: Dialect) -> Option<(Project, TestDb)> {
    let p = Project::new();
    p.write_template();
    let db = TestDb::create(d, &p.path("app.db"), "autogen", "autogenerate test")?;
    p.write(
        "alembic.toml",
        &format!(
            "[alembic]\nscript_location = \"migrations\"\nurl = \"{}\"\n",
            db.url()
        ),
    );
    Some((p, db))
}

/// The revision file `revision --autogenerate` just wrote (the newest of the versions folder,
/// told apart by its slug).
fn written(p: &Project, slug: &str) -> String {
    let name = p
        .version_files()
        .into_iter()
        .find(|f| f.contains(slug))
        .unwrap_or_else(|| panic!("no revision named *{slug}*: {:?}", p.version_files()));
    p.read(&format!("migrations/versions/{name}"))
}

/// The text of a section (`+upgrade` or `+downgrade`) of a script.
fn section(script: &str, marker: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for line in script.lines() {
        if line.trim().starts_with("-- +") {
            inside = line.trim() == format!("-- {marker}");
            continue;
        }
        if inside && !line.trim().is_empty() {
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

fn all(r: &Run) -> String {
    format!("{}\n{}", r.stdout, r.stderr)
}

fn autogenerate_round_trip(d: Dialect) {
    let Some((p, db)) = project_on(d) else { return };
    p.write("migrations/schema.sql", SCHEMA_V1);

    // First revision: both tables, from an empty database.
    let r = p.ok(&["revision", "--autogenerate", "-m", "initial tables"]);
    assert!(all(&r).contains("Detected add_table author"), "{}", all(&r));
    let first = written(&p, "initial_tables");
    let up = section(&first, "+upgrade");
    assert!(
        up.contains("CREATE TABLE") && up.contains("author"),
        "{first}"
    );
    assert!(
        section(&first, "+downgrade").contains("DROP TABLE"),
        "{first}"
    );
    p.ok(&["upgrade", "head"]);
    assert!(db.has_table("author") && db.has_table("book"));

    // Nothing changed: an empty revision all the same, as Alembic writes.
    let r = p.ok(&["revision", "--autogenerate", "-m", "nothing"]);
    assert!(
        all(&r).contains("No changes in schema detected."),
        "{}",
        all(&r)
    );
    let empty = written(&p, "nothing");
    assert_eq!(
        section(&empty, "+upgrade"),
        "-- No changes in schema detected.",
        "{empty}"
    );
    p.ok(&["upgrade", "head"]);
    p.ok(&["check"]);

    // schema.sql gains a column and an index: check lists them and exits 1.
    p.write("migrations/schema.sql", SCHEMA_V2);
    let r = p.run(&["check"]);
    r.expect_code(1, "check with schema.sql edited");
    let text = all(&r);
    assert!(text.contains("New upgrade operations detected"), "{text}");
    assert!(text.contains("add_column author.email"), "{text}");
    assert!(text.contains("add_index ix_book_title"), "{text}");

    // Rows inserted before must still be there after the upgrade and its downgrade.
    db.exec("INSERT INTO author (id, name) VALUES (1, 'Ann')");
    db.exec("INSERT INTO book (id, author_id, title) VALUES (1, 1, 'First')");
    p.ok(&["revision", "--autogenerate", "-m", "email and title index"]);
    let second = written(&p, "email_and_title_index");
    assert!(section(&second, "+upgrade").contains("email"), "{second}");
    // Not up to date now: autogenerate refuses, as Alembic does, and writes nothing.
    let before = p.version_files();
    let r = p.run(&["revision", "--autogenerate", "-m", "too early"]);
    r.expect_code(1, "autogenerate before upgrading");
    assert!(
        all(&r).contains("Target database is not up to date."),
        "{}",
        all(&r)
    );
    assert_eq!(p.version_files(), before);

    p.ok(&["upgrade", "head"]);
    p.ok(&["check"]);
    assert!(db.has_index("book", "ix_book_title"));

    // Downgrade -1 restores the schema of V1 exactly: with the second revision gone and V1
    // back as the desired schema, check (which introspects and compares) finds nothing to do.
    p.ok(&["downgrade", "-1"]);
    assert!(!db.has_index("book", "ix_book_title"));
    assert_eq!(db.query("SELECT name FROM author"), ["Ann"]);
    assert_eq!(db.query("SELECT title FROM book"), ["First"]);
    let second_file = p
        .version_files()
        .into_iter()
        .find(|f| f.contains("email_and_title_index"))
        .unwrap();
    std::fs::remove_file(p.versions().join(second_file)).unwrap();
    p.write("migrations/schema.sql", SCHEMA_V2);
    let r = p.run(&["check"]);
    r.expect_code(1, "check at V1 against V2");
    assert!(all(&r).contains("add_column author.email"), "{}", all(&r));
    p.write("migrations/schema.sql", SCHEMA_V1);
    p.ok(&["check"]);
    if let TestDb::Sqlite(path) = &db {
        let conn = rusqlite::Connection::open(path).unwrap();
        let exclude = [
            "alembic_version",
            "alembic_version_history",
            "alembic_version_lock",
        ];
        let now = alembic_schema::sqlite::introspect(&conn, &exclude).unwrap();
        let wanted = alembic_schema::scratch::sqlite(
            SCHEMA_V1,
            std::path::Path::new("schema.sql"),
            &exclude,
        )
        .unwrap();
        assert_eq!(now, wanted);
    }
}
on_databases!(autogenerate_round_trip);

fn broken_schema_names_file_and_line(d: Dialect) {
    let Some((p, db)) = project_on(d) else { return };
    p.write(
        "migrations/schema.sql",
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n\nCREATE TABLE b (id INTEGER,, x);\n",
    );
    let before = p.version_files();
    let r = p.run(&["revision", "--autogenerate", "-m", "broken"]);
    r.expect_code(1, "autogenerate with a broken schema.sql");
    r.expect_no_panic("autogenerate with a broken schema.sql");
    let text = all(&r);
    assert!(text.contains("schema.sql:3:"), "{text}");
    assert_eq!(p.version_files(), before);
    let r = p.run(&["check"]);
    r.expect_code(1, "check with a broken schema.sql");
    assert!(all(&r).contains("schema.sql:3:"), "{}", all(&r));
    // No scratch database was left behind on the server: the scratch names carry the pid of
    // the process that made them (other tests' come and go meanwhile).
    let child = std::process::Command::new(project::bin())
        .current_dir(p.root())
        .args(["check"])
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start cargo-alembic");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for cargo-alembic");
    assert_eq!(out.status.code(), Some(1));
    let prefix = format!("alembic_scratch_{pid}_");
    let left: Vec<String> = scratch_databases(&db)
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "scratch databases left behind: {left:?}");
}
on_databases!(broken_schema_names_file_and_line);

/// The scratch databases on the server of `db` (none on SQLite, whose scratch is in memory).
fn scratch_databases(db: &TestDb) -> Vec<String> {
    match db {
        TestDb::Sqlite(_) => Vec::new(),
        TestDb::Server(Dialect::Postgres, _) => db.query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'alembic_scratch_%' ORDER BY 1",
        ),
        TestDb::Server(..) => db.query(
            "SELECT schema_name FROM information_schema.schemata \
             WHERE schema_name LIKE 'alembic_scratch_%' ORDER BY 1",
        ),
    }
}

#[test]
fn without_a_schema_file_check_keeps_its_old_behaviour_and_autogenerate_says_what_is_missing() {
    let p = Project::new();
    p.write_template();
    p.ok(&["check"]);
    let r = p.run(&["revision", "--autogenerate", "-m", "x"]);
    r.expect_code(1, "autogenerate without schema.sql");
    assert!(all(&r).contains("schema.sql does not exist"), "{}", all(&r));
    assert!(p.version_files().is_empty());
}

#[test]
fn a_schema_key_and_a_dialect_file_pick_the_schema() {
    let p = Project::new();
    p.write_template();
    p.write(
        "alembic.toml",
        "[alembic]\nscript_location = \"migrations\"\nurl = \"sqlite:///app.db\"\n\
         schema = \"db/wanted.sql\"\n",
    );
    p.write(
        "db/wanted.sql",
        "CREATE TABLE generic (id INTEGER PRIMARY KEY);\n",
    );
    p.write(
        "db/wanted.sqlite.sql",
        "CREATE TABLE only_sqlite (id INTEGER PRIMARY KEY);\n",
    );
    let r = p.run(&["check"]);
    r.expect_code(1, "check with a dialect schema file");
    assert!(all(&r).contains("add_table only_sqlite"), "{}", all(&r));
    assert!(!all(&r).contains("generic"), "{}", all(&r));
}
