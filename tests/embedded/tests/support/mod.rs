//! Helpers shared by the embedded-migrations tests: reading an SQLite database directly
//! (never through the runtime under test), and a small seeded random number generator.

#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;

use alembic_runtime::rusqlite::{self, Connection};

/// A temp dir for databases, in memory (`/dev/shm`) where the machine has one. The process
/// tests kill and restart applications hundreds of times; a crash of a process (not of the
/// machine) is what they test, so the disk's fsync costs them time and proves nothing.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

/// Opens an SQLite file for inspection.
pub fn open(path: &Path) -> Connection {
    Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// The first column of every row of `sql`, as text.
pub fn column(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(sql)
        .unwrap_or_else(|e| panic!("prepare `{sql}`: {e}"));
    let rows = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("query `{sql}`: {e}"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("rows of `{sql}`: {e}"));
    rows
}

/// Whether table `name` exists.
pub fn has_table(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |row| row.get::<_, i64>(0),
    )
    .expect("read sqlite_master")
        == 1
}

/// The names of the tables starting with `prefix`, sorted.
pub fn tables_with_prefix(conn: &Connection, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> =
        column(conn, "SELECT name FROM sqlite_master WHERE type = 'table'")
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect();
    names.sort();
    names
}

/// The version rows, sorted; empty when the version table does not exist.
pub fn version_rows(conn: &Connection) -> Vec<String> {
    if !has_table(conn, "alembic_version") {
        return Vec::new();
    }
    column(
        conn,
        "SELECT version_num FROM alembic_version ORDER BY version_num",
    )
}

/// `(revision, operation)` of every history row, oldest first; empty without the table.
pub fn history(conn: &Connection) -> Vec<(String, String)> {
    if !has_table(conn, "alembic_version_history") {
        return Vec::new();
    }
    let mut stmt = conn
        .prepare("SELECT revision, operation FROM alembic_version_history ORDER BY id")
        .expect("prepare history");
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query history")
        .collect::<Result<Vec<_>, rusqlite::Error>>()
        .expect("history rows");
    rows
}

/// SplitMix64: a few lines instead of a dependency, and the same sequence for a seed on
/// every platform, so that a printed seed replays a failing run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}
