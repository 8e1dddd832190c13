//! `cargo build` run as a subprocess on a tiny package that embeds its migrations, the way a
//! user's build runs: a bad script must fail the build with its file:line, and the build
//! script must rerun when a migration changes and only then.
//!
//! The package is written to a temp dir with path dependencies on this workspace's
//! alembic-build and alembic-runtime. All builds share one target dir,
//! `<this target dir>/embedded-subprocess`, so only the first build after a clean compiles
//! the dependencies. The package's build script appends a line to `build-runs.log` in the
//! package each time it runs; that count is what the rebuild test reads.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Instant, SystemTime};

/// The probe's build script: counts its runs in `build-runs.log`, then embeds.
const PROBE_BUILD_RS: &str = r#"use std::io::Write;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let log = std::path::Path::new(&dir).join("build-runs.log");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    writeln!(f, "ran").unwrap();
    alembic_build::embed().expect("migrations embedded");
}
"#;

/// The probe's program: prints the heads it embedded.
const PROBE_MAIN_RS: &str = r#"static MIGRATIONS: alembic_runtime::Migrations = alembic_runtime::embedded!();

fn main() {
    println!("heads={}", MIGRATIONS.heads().join(","));
}
"#;

struct Probe {
    name: String,
    dir: tempfile::TempDir,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// `<target>/debug/deps/<test binary>` -> `<target>/embedded-subprocess`.
fn shared_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/<profile>/deps");
    target.join("embedded-subprocess")
}

/// A script `id` revising `revises` (comma-separated), with a one-line upgrade.
fn script(id: &str, revises: &str) -> String {
    format!(
        "-- Revision {id}\n--\n-- Revision ID: {id}\n-- Revises: {revises}\n\n\
         -- +upgrade\nCREATE TABLE t_{id} (id INTEGER);\n\n-- +downgrade\nDROP TABLE t_{id};\n"
    )
}

impl Probe {
    /// The package `name`, with `scripts` as `(file name, text)` in `migrations/versions`.
    /// Each test names its own package: the binaries of one target dir are named after them.
    fn new(name: &str, scripts: &[(&str, String)]) -> Probe {
        let probe = Probe {
            name: name.to_string(),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let root = workspace_root();
        // `[workspace]`: the package is its own workspace wherever the temp dir is.
        probe.write(
            "Cargo.toml",
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
                 publish = false\n\n[dependencies]\nalembic-runtime = {{ path = {runtime:?}, \
                 default-features = false }}\n\n[build-dependencies]\nalembic-build = \
                 {{ path = {build:?} }}\n\n[workspace]\n",
                runtime = root.join("alembic-runtime"),
                build = root.join("alembic-build"),
            ),
        );
        // The workspace's versions of every dependency: nothing to resolve or download, and
        // the shared target dir's artifacts match.
        fs::copy(root.join("Cargo.lock"), probe.path("Cargo.lock")).expect("copy Cargo.lock");
        probe.write("build.rs", PROBE_BUILD_RS);
        probe.write("src/main.rs", PROBE_MAIN_RS);
        probe.write("README.md", "A package that embeds its migrations.\n");
        probe.write(
            "alembic.toml",
            "[alembic]\nscript_location = \"migrations\"\n",
        );
        fs::create_dir_all(probe.path("migrations/versions")).expect("mkdir versions");
        for (name, text) in scripts {
            probe.write(&format!("migrations/versions/{name}"), text);
        }
        probe
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Sets the file's modification time to now without changing its content, as `touch`.
    fn touch(&self, rel: &str) {
        let file = fs::File::options()
            .append(true)
            .open(self.path(rel))
            .unwrap_or_else(|e| panic!("open {rel}: {e}"));
        file.set_modified(SystemTime::now()).expect("set mtime");
    }

    fn build(&self) -> Output {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let started = Instant::now();
        let out = Command::new(cargo)
            .current_dir(self.dir.path())
            .args(["build", "--offline", "--color", "never"])
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .output()
            .expect("run cargo build");
        eprintln!("cargo build took {:?}", started.elapsed());
        out
    }

    /// Builds, expecting success; returns the number of build-script runs so far.
    fn build_ok(&self) -> usize {
        let out = self.build();
        assert!(out.status.success(), "build failed:\n{}", text(&out));
        self.build_script_runs()
    }

    fn build_script_runs(&self) -> usize {
        fs::read_to_string(self.path("build-runs.log"))
            .map(|log| log.lines().count())
            .unwrap_or(0)
    }

    /// What the built binary prints: `heads=<the embedded heads>`.
    fn run(&self) -> String {
        let exe = shared_target_dir().join("debug").join(&self.name);
        let out = Command::new(&exe)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn text(out: &Output) -> String {
    format!(
        "--- stdout:\n{}\n--- stderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Builds, expecting the build script to fail, and returns cargo's stderr.
fn build_fails(probe: &Probe) -> String {
    let out = probe.build();
    assert!(!out.status.success(), "the build passed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_script_fails_the_build_with_its_file_and_line() {
    // A cycle: a revises b, b revises a (c is a sound base beside them).
    let probe = Probe::new(
        "embed-probe-bad-script",
        &[
            ("a.sql", script("a", "b")),
            ("b.sql", script("b", "a")),
            ("c.sql", script("c", "")),
        ],
    );
    let stderr = build_fails(&probe);
    for part in ["a.sql:4: cycle detected in revisions (a, b)", "b.sql:3"] {
        assert!(stderr.contains(part), "{part:?} missing:\n{stderr}");
    }

    // A misspelt header key, on line 3 of b.sql.
    probe.write("migrations/versions/a.sql", &script("a", "c"));
    probe.write(
        "migrations/versions/b.sql",
        &script("b", "a").replace("Revision ID", "Revison ID"),
    );
    let stderr = build_fails(&probe);
    for part in ["b.sql:3", "Revison ID"] {
        assert!(stderr.contains(part), "{part:?} missing:\n{stderr}");
    }
    assert!(!stderr.contains("a.sql:"), "a.sql is sound now:\n{stderr}");

    // Fixed: the build passes and the binary holds the graph.
    probe.write("migrations/versions/b.sql", &script("b", "a"));
    probe.build_ok();
    assert_eq!(probe.run(), "heads=b");
}

#[test]
fn only_a_migration_change_reruns_the_build_script() {
    let probe = Probe::new(
        "embed-probe-rebuild",
        &[("a.sql", script("a", "")), ("b.sql", script("b", "a"))],
    );
    assert_eq!(probe.build_ok(), 1);
    assert_eq!(probe.run(), "heads=b");

    assert_eq!(
        probe.build_ok(),
        1,
        "a build with no change reran the build script"
    );
    probe.touch("src/main.rs");
    assert_eq!(
        probe.build_ok(),
        1,
        "touching src/main.rs reran the build script"
    );
    probe.touch("README.md");
    assert_eq!(
        probe.build_ok(),
        1,
        "touching README.md reran the build script"
    );

    probe.touch("migrations/versions/a.sql");
    assert_eq!(
        probe.build_ok(),
        2,
        "touching a script did not rerun the build script"
    );
    probe.write(
        "migrations/versions/b.sql",
        &format!("{}-- a comment\n", script("b", "a")),
    );
    assert_eq!(probe.build_ok(), 3, "editing a script did not rerun it");

    probe.write("migrations/versions/c.sql", &script("c", "b"));
    assert_eq!(probe.build_ok(), 4, "adding a script did not rerun it");
    assert_eq!(probe.run(), "heads=c", "the new script is embedded");
    fs::remove_file(probe.path("migrations/versions/c.sql")).expect("remove c.sql");
    assert_eq!(probe.build_ok(), 5, "removing a script did not rerun it");
    assert_eq!(
        probe.run(),
        "heads=b",
        "the removed script is gone from the binary"
    );

    probe.touch("alembic.toml");
    assert_eq!(
        probe.build_ok(),
        6,
        "the configuration decides the folders: it is watched"
    );
    assert_eq!(probe.build_ok(), 6);
}
