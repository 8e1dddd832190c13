//! Issue 4: migrations embedded in the application binary, side by side with refinery's
//! `embed_migrations!` and sqlx's `migrate!` over the same SQL, on SQLite.
//!
//! The bench generates four tiny applications (each its own cargo workspace, so that one
//! that cannot be built does not stop the others), builds them with cargo into one shared
//! target folder that survives between runs, and runs them:
//!
//! - `alembic-app`: `build.rs` calls `alembic_build::embed()` over the generated scripts;
//!   `main` upgrades to head with `alembic_runtime::embedded!()`;
//! - `refinery-app`: `embed_migrations!` over `V1__...sql` to `VN__...sql`;
//! - `sqlx-app`: `sqlx::migrate!` over `0001_...sql` to `N_...sql`, on a current-thread tokio
//!   runtime;
//! - `baseline-app`: rusqlite alone, the floors: `SELECT version_num FROM alembic_version`,
//!   and the same SQL executed directly in one transaction.
//!
//! Each application times its own work from a freshly opened connection and prints
//! `open_ns=.. op_ns=.. cpu_ns=.. applied=..` on one line; the bench times the whole process
//! around it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::generate::{self, History, Workload};
use crate::measure::{repeat, run_timed, Sample, Stats};
use crate::report::{Bench, Row, Target};
use crate::BenchError;

/// The applications, in the order their rows are shown.
pub const APPS: [&str; 4] = ["alembic-app", "refinery-app", "sqlx-app", "baseline-app"];

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |source| BenchError::Io {
        path: path.to_owned(),
        source,
    }
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    // Unchanged files are left alone, so that cargo does not rebuild what did not change.
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(io(path))
}

/// The manifest of one application: its own workspace, release builds as an app ships them.
fn manifest(name: &str, deps: &str, build_deps: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [workspace]\n\n[dependencies]\n{deps}\n[build-dependencies]\n{build_deps}\n\
         [profile.release]\nopt-level = 3\n"
    )
}

/// The shared part of every application's `main.rs`: argument parsing, the clocks, and the
/// one output line.
const COMMON: &str = r#"
fn cpu_ns() -> u128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

fn args() -> (String, String) {
    let mut a = std::env::args().skip(1);
    let mode = a.next().unwrap_or_default();
    let db = a.next().unwrap_or_else(|| {
        eprintln!("usage: APP MODE DATABASE");
        std::process::exit(2)
    });
    (mode, db)
}

fn emit(open: std::time::Duration, op: std::time::Duration, cpu: u128, applied: usize) {
    println!(
        "open_ns={} op_ns={} cpu_ns={} applied={}",
        open.as_nanos(),
        op.as_nanos(),
        cpu,
        applied
    );
}
"#;

/// Writes the four applications under `dir` for `history` (whose cargo-alembic scripts
/// are in `w`), and returns their folders.
pub fn write_apps(dir: &Path, w: &Workload, history: &History) -> Result<Vec<PathBuf>, BenchError> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| BenchError::Setup("the bench has no parent folder".into()))?
        .canonicalize()
        .map_err(io(Path::new(env!("CARGO_MANIFEST_DIR"))))?;
    let path_dep = |krate: &str| {
        format!(
            "{krate} = {{ path = \"{}\" }}\n",
            workspace.join(krate).display()
        )
    };
    let libc = "libc = \"0.2\"\n";
    let rusqlite = "rusqlite = { version = \"0.32\", features = [\"bundled\"] }\n";

    // cargo-alembic's embedded migrations.
    let app = dir.join("alembic-app");
    write(
        &app.join("Cargo.toml"),
        &manifest(
            "alembic-app",
            &format!("{}{libc}", path_dep("alembic-runtime")),
            &path_dep("alembic-build"),
        ),
    )?;
    write(
        &app.join("alembic.toml"),
        "[alembic]\nscript_location = \"migrations\"\n",
    )?;
    write(
        &app.join("build.rs"),
        "fn main() {\n    alembic_build::embed().expect(\"migrations embedded\");\n}\n",
    )?;
    let versions = w
        .ours_config
        .parent()
        .map(|d| d.join("migrations/versions"))
        .ok_or_else(|| BenchError::Setup("workload without a folder".into()))?;
    copy_dir(&versions, &app.join("migrations/versions"))?;
    write(
        &app.join("src/main.rs"),
        &format!(
            "{COMMON}\n{}",
            r#"
use std::time::Instant;

static MIGRATIONS: alembic_runtime::Migrations = alembic_runtime::embedded!();

fn main() {
    let (mode, db) = args();
    let start = Instant::now();
    let mut conn = alembic_runtime::rusqlite::Connection::open(&db).expect("open");
    let open = start.elapsed();
    let cpu = cpu_ns();
    let start = Instant::now();
    let report = MIGRATIONS.upgrade(&mut conn, "head").unwrap_or_else(|e| {
        eprintln!("{mode}: {e}");
        std::process::exit(1)
    });
    let op = start.elapsed();
    let cpu = cpu_ns() - cpu;
    drop(conn);
    emit(open, op, cpu, report.applied.len());
}
"#
        ),
    )?;

    // refinery.
    let app = dir.join("refinery-app");
    write(
        &app.join("Cargo.toml"),
        &manifest(
            "refinery-app",
            &format!(
                "refinery = {{ version = \"0.8\", default-features = false, features = [\"rusqlite\"] }}\n{rusqlite}{libc}"
            ),
            "",
        ),
    )?;
    // refinery's documented way to rebuild when a migration changes.
    write(
        &app.join("build.rs"),
        "fn main() {\n    println!(\"cargo:rerun-if-changed=migrations\");\n}\n",
    )?;
    for (i, rev) in history.revisions.iter().enumerate() {
        write(
            &app.join(format!("migrations/V{}__r_{}.sql", i + 1, rev.id)),
            &rev.upgrade_sql,
        )?;
    }
    write(
        &app.join("src/main.rs"),
        &format!(
            "{COMMON}\n{}",
            r#"
use std::time::Instant;

refinery::embed_migrations!("migrations");

fn main() {
    let (mode, db) = args();
    let start = Instant::now();
    let mut conn = rusqlite::Connection::open(&db).expect("open");
    let open = start.elapsed();
    let cpu = cpu_ns();
    let start = Instant::now();
    // `apply-grouped`: one transaction, as cargo-alembic's default; otherwise refinery's
    // default, a transaction per migration.
    let report = migrations::runner()
        .set_grouped(mode == "apply-grouped")
        .run(&mut conn)
        .unwrap_or_else(|e| {
            eprintln!("{mode}: {e}");
            std::process::exit(1)
        });
    let op = start.elapsed();
    let cpu = cpu_ns() - cpu;
    drop(conn);
    emit(open, op, cpu, report.applied_migrations().len());
}
"#
        ),
    )?;

    // sqlx.
    let app = dir.join("sqlx-app");
    write(
        &app.join("Cargo.toml"),
        &manifest(
            "sqlx-app",
            &format!(
                "sqlx = {{ version = \"0.8\", default-features = false, features = [\"sqlite\", \"migrate\", \"macros\", \"runtime-tokio\"] }}\n\
                 tokio = {{ version = \"1\", features = [\"rt\"] }}\n{libc}"
            ),
            "",
        ),
    )?;
    // sqlx's documented way (`sqlx migrate build-script`) to rebuild when a migration changes.
    write(
        &app.join("build.rs"),
        "fn main() {\n    println!(\"cargo:rerun-if-changed=migrations\");\n}\n",
    )?;
    for (i, rev) in history.revisions.iter().enumerate() {
        write(
            &app.join(format!("migrations/{:04}_r_{}.sql", i + 1, rev.id)),
            &rev.upgrade_sql,
        )?;
    }
    write(
        &app.join("src/main.rs"),
        &format!(
            "{COMMON}\n{}",
            r#"
use std::time::Instant;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

fn main() {
    let (mode, db) = args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Counted on a connection of its own, so that the measured one starts cold.
        let before = {
            let mut c = SqliteConnectOptions::new()
                .filename(&db)
                .create_if_missing(true)
                .connect()
                .await
                .expect("open");
            let n = applied(&mut c).await;
            c.close().await.expect("close");
            n
        };
        let start = Instant::now();
        let mut conn = SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true)
            .connect()
            .await
            .expect("open");
        let open = start.elapsed();
        let cpu = cpu_ns();
        let start = Instant::now();
        MIGRATOR.run(&mut conn).await.unwrap_or_else(|e| {
            eprintln!("{mode}: {e}");
            std::process::exit(1)
        });
        let op = start.elapsed();
        let cpu = cpu_ns() - cpu;
        // Outside the timed span: sqlx's report does not say how many ran.
        let after = applied(&mut conn).await;
        conn.close().await.expect("close");
        emit(open, op, cpu, after - before);
    });
}

async fn applied(conn: &mut sqlx::SqliteConnection) -> usize {
    let n: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(conn)
        .await;
    n.map_or(0, |n| n as usize)
}
"#
        ),
    )?;

    // The floors: rusqlite alone.
    let app = dir.join("baseline-app");
    write(
        &app.join("Cargo.toml"),
        &manifest("baseline-app", &format!("{rusqlite}{libc}"), ""),
    )?;
    let mut all = String::from("BEGIN;\n");
    for rev in &history.revisions {
        all.push_str(&rev.upgrade_sql);
    }
    all.push_str("COMMIT;\n");
    write(&app.join("src/all.sql"), &all)?;
    write(
        &app.join("src/main.rs"),
        &format!(
            "{COMMON}\n{}",
            r#"
use std::time::Instant;

const ALL: &str = include_str!("all.sql");

fn main() {
    let (mode, db) = args();
    let start = Instant::now();
    let conn = rusqlite::Connection::open(&db).expect("open");
    let open = start.elapsed();
    let cpu = cpu_ns();
    let start = Instant::now();
    let applied = if mode == "direct" {
        // Every revision's SQL, in order, in one transaction: no version table, no checks.
        conn.execute_batch(ALL).expect("direct SQL");
        1
    } else {
        let v: String = conn
            .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
            .expect("version");
        std::hint::black_box(v);
        0
    };
    let op = start.elapsed();
    let cpu = cpu_ns() - cpu;
    drop(conn);
    emit(open, op, cpu, applied);
}
"#
        ),
    )?;
    Ok(APPS.iter().map(|a| dir.join(a)).collect())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let text = std::fs::read_to_string(entry.path()).map_err(io(&entry.path()))?;
        write(&to.join(entry.file_name()), &text)?;
    }
    Ok(())
}

/// One application's output line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppTimes {
    pub open: Duration,
    pub op: Duration,
    pub cpu: Duration,
    pub applied: usize,
}

pub fn parse_line(text: &str) -> Option<AppTimes> {
    let line = text.lines().rev().find(|l| l.starts_with("open_ns="))?;
    let mut open = None;
    let mut op = None;
    let mut cpu = None;
    let mut applied = None;
    for field in line.split_whitespace() {
        let (key, value) = field.split_once('=')?;
        let n: u64 = value.parse().ok()?;
        match key {
            "open_ns" => open = Some(Duration::from_nanos(n)),
            "op_ns" => op = Some(Duration::from_nanos(n)),
            "cpu_ns" => cpu = Some(Duration::from_nanos(n)),
            "applied" => applied = Some(n as usize),
            _ => return None,
        }
    }
    Some(AppTimes {
        open: open?,
        op: op?,
        cpu: cpu?,
        applied: applied?,
    })
}

/// The apps' shared target folder: beside the bench's own binary, so that it is warm from
/// one run to the next.
fn target_dir() -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe().map_err(io(Path::new("current executable")))?;
    Ok(exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join("alembic-bench-apps"))
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo build --release` of one app; its binary's path, or why it could not be built.
fn build(app: &Path, target: &Path) -> Result<(Duration, PathBuf), String> {
    let start = Instant::now();
    let out = Command::new(cargo())
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(app)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let took = start.elapsed();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(tail.join("\n"));
    }
    let name = app
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((took, target.join("release").join(name)))
}

/// Runs an app on `db` and returns the whole-process sample and the app's own figures.
fn run_app(bin: &Path, mode: &str, db: &Path) -> Result<(Sample, AppTimes), BenchError> {
    let db_s = db.to_string_lossy().into_owned();
    let (sample, out) = run_timed(
        bin,
        &[mode, db_s.as_str()],
        db.parent().unwrap_or(Path::new(".")),
        None,
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let times = parse_line(&text).ok_or_else(|| BenchError::Check {
        tool: bin.display().to_string(),
        what: mode.into(),
        why: format!("no timing line in its output: {text}"),
    })?;
    Ok((sample, times))
}

/// What the embedded section measured.
pub struct Section {
    pub benches: Vec<Bench>,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
    /// Free-form lines for the report: build times and sizes.
    pub facts: Vec<String>,
}

/// Builds the apps and measures them.
pub fn run(
    root: &Path,
    w: &Workload,
    history: &History,
    reps: usize,
    slow_reps: usize,
) -> Result<Section, BenchError> {
    let n = history.revisions.len();
    let dir = root.join("embedded");
    let apps = write_apps(&dir, w, history)?;
    let target = target_dir()?;
    let mut notes = Vec::new();
    let mut facts = Vec::new();
    let mut bins: Vec<Option<PathBuf>> = Vec::new();
    for app in &apps {
        let name = app
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprintln!(
            "building {name} (cargo build --release in {})...",
            app.display()
        );
        match build(app, &target) {
            Ok((took, bin)) => {
                eprintln!("  built in {}", crate::measure::human(took));
                bins.push(Some(bin));
            }
            Err(why) => {
                notes.push(format!(
                    "{name} could not be built, so its rows are missing:\n{why}"
                ));
                bins.push(None);
            }
        }
    }
    let [alembic, refinery, sqlx, baseline] = [0, 1, 2, 3].map(|i| bins[i].clone());
    let Some(baseline) = baseline else {
        return Err(BenchError::Setup(
            "the rusqlite baseline app could not be built".into(),
        ));
    };
    let dbs = dir.join("dbs");
    std::fs::create_dir_all(&dbs).map_err(io(&dbs))?;
    let db = |tool: &str| dbs.join(format!("{tool}.db"));

    // Applying every revision to a fresh file.
    let mut apply_rows = Vec::new();
    let mut startup_rows = Vec::new();
    let mut process_rows = Vec::new();
    let in_app = |bin: &Path,
                  mode: &str,
                  db: &Path,
                  fresh: bool,
                  want: usize|
     -> Result<(Sample, Sample), BenchError> {
        if fresh {
            generate::remove_db(db)?;
        }
        let (whole, t) = run_app(bin, mode, db)?;
        if t.applied != want {
            return Err(BenchError::Check {
                tool: bin.display().to_string(),
                what: format!("{mode} {}", db.display()),
                why: format!("applied {} revisions, expected {want}", t.applied),
            });
        }
        Ok((
            Sample {
                wall: t.op,
                cpu: t.cpu,
            },
            whole,
        ))
    };
    let measure = |label: &str,
                   bin: &Path,
                   mode: &str,
                   db: &Path,
                   fresh: bool,
                   want: usize,
                   reps: usize,
                   rows: &mut Vec<Row>,
                   whole_rows: Option<&mut Vec<Row>>|
     -> Result<(), BenchError> {
        let mut wholes = Vec::new();
        let stats = repeat(reps, || {
            let (inner, whole) = in_app(bin, mode, db, fresh, want)?;
            wholes.push(whole);
            Ok(inner)
        })?;
        rows.push(Row {
            tool: label.to_owned(),
            stats,
        });
        if let Some(whole_rows) = whole_rows {
            // The first sample was the warm-up.
            whole_rows.push(Row {
                tool: label.to_owned(),
                stats: Stats {
                    samples: wholes.split_off(1),
                },
            });
        }
        Ok(())
    };

    eprintln!("measuring embedded apply of {n} revisions...");
    if let Some(bin) = &alembic {
        measure(
            "alembic-runtime, embedded (`MIGRATIONS.upgrade`)",
            bin,
            "apply",
            &db("alembic"),
            true,
            n,
            reps,
            &mut apply_rows,
            None,
        )?;
        check_sqlite("alembic-app", &db("alembic"), history, true)?;
    }
    measure(
        "same SQL executed directly in one transaction (rusqlite `execute_batch`)",
        &baseline,
        "direct",
        &db("direct"),
        true,
        1,
        reps,
        &mut apply_rows,
        None,
    )?;
    check_sqlite("baseline-app", &db("direct"), history, false)?;
    if let Some(bin) = &refinery {
        measure(
            "refinery 0.8 `embed_migrations!` (grouped: one transaction)",
            bin,
            "apply-grouped",
            &db("refinery"),
            true,
            n,
            reps,
            &mut apply_rows,
            None,
        )?;
        check_sqlite("refinery-app", &db("refinery"), history, false)?;
        measure(
            "refinery 0.8 `embed_migrations!` (default: transaction per migration)",
            bin,
            "apply",
            &db("refinery"),
            true,
            n,
            slow_reps,
            &mut apply_rows,
            None,
        )?;
    }
    if let Some(bin) = &sqlx {
        measure(
            "sqlx 0.8 `migrate!` (a transaction per migration)",
            bin,
            "apply",
            &db("sqlx"),
            true,
            n,
            slow_reps,
            &mut apply_rows,
            None,
        )?;
        check_sqlite("sqlx-app", &db("sqlx"), history, false)?;
    }

    eprintln!("measuring embedded startup on an up-to-date database...");
    if let Some(bin) = &alembic {
        measure(
            "alembic-runtime, embedded (`MIGRATIONS.upgrade(conn, \"head\")`)",
            bin,
            "check",
            &db("alembic"),
            false,
            0,
            reps,
            &mut startup_rows,
            Some(&mut process_rows),
        )?;
    }
    if alembic.is_some() {
        // The floor reads the version table cargo-alembic wrote.
        measure(
            "floor: one `SELECT version_num FROM alembic_version` (rusqlite)",
            &baseline,
            "floor",
            &db("alembic"),
            false,
            0,
            reps,
            &mut startup_rows,
            Some(&mut process_rows),
        )?;
    }
    if let Some(bin) = &refinery {
        measure(
            "refinery 0.8 `embed_migrations!`",
            bin,
            "check",
            &db("refinery"),
            false,
            0,
            reps,
            &mut startup_rows,
            Some(&mut process_rows),
        )?;
    }
    if let Some(bin) = &sqlx {
        measure(
            "sqlx 0.8 `migrate!`",
            bin,
            "check",
            &db("sqlx"),
            false,
            0,
            reps,
            &mut startup_rows,
            Some(&mut process_rows),
        )?;
    }

    let benches = vec![
        Bench { name: format!("embedded: apply {n} revisions to a fresh SQLite file (in-app time)"), rows: apply_rows },
        Bench { name: format!("embedded: startup check on an up-to-date SQLite file, {n} revisions (in-app time of the call, connection already open)"), rows: startup_rows },
        Bench { name: "embedded: the same startup check, whole process of the tiny app (spawn to exit)".into(), rows: process_rows },
    ];
    let targets = embedded_targets(&benches);

    // Build-script time and rebuild times, then binary sizes.
    if let Some(bin) = &alembic {
        let _ = bin;
        eprintln!("measuring the build script and rebuilds...");
        match build_script_time(&apps[0], &target, slow_reps.max(3)) {
            Ok((stats, written)) => facts.push(format!(
                "alembic-app's build script (`alembic_build::embed()` over {n} scripts), run directly with cargo's environment: median {} (min {}, CPU {}), {} runs; it writes {written} bytes into OUT_DIR",
                crate::measure::human(stats.median()), crate::measure::human(stats.min()), crate::measure::human(stats.cpu_median()), stats.samples.len()
            )),
            Err(e) => notes.push(format!("could not time alembic-app's build script on its own: {e}")),
        }
    }
    for (i, app) in apps.iter().enumerate() {
        if bins[i].is_none() || i == 3 {
            continue;
        }
        match rebuild_time(app, &target, history, i, slow_reps.max(3)) {
            Ok(stats) => facts.push(format!(
                "{}: `cargo build --release` after one migration file changed: median {} (min {}), {} runs",
                APPS[i], crate::measure::human(stats.median()), crate::measure::human(stats.min()), stats.samples.len()
            )),
            Err(e) => notes.push(format!("{}: rebuild not timed: {e}", APPS[i])),
        }
    }
    let base_size = stripped_size(&baseline);
    for (i, bin) in bins.iter().enumerate() {
        if let Some(bin) = bin {
            let size = stripped_size(bin);
            let line = match (size, &base_size) {
                (Ok(s), Ok(b)) if i != 3 => format!(
                    "{}: stripped binary {} bytes, {:+} bytes over the rusqlite-only baseline app",
                    APPS[i],
                    s,
                    s as i64 - *b as i64
                ),
                (Ok(s), _) => format!("{}: stripped binary {} bytes", APPS[i], s),
                (Err(e), _) => format!("{}: size unknown: {e}", APPS[i]),
            };
            facts.push(line);
        }
    }
    Ok(Section {
        benches,
        targets,
        notes,
        facts,
    })
}

/// Issue 4's targets, judged on medians of the in-app times.
fn embedded_targets(benches: &[Bench]) -> Vec<Target> {
    let mut out = Vec::new();
    let find = |b: &Bench, prefix: &str| {
        b.rows
            .iter()
            .find(|r| r.tool.starts_with(prefix))
            .map(|r| r.stats.median())
    };
    let human = crate::measure::human;
    if let Some(apply) = benches.first() {
        if let (Some(ours), Some(direct)) =
            (find(apply, "alembic-runtime"), find(apply, "same SQL"))
        {
            let r = ours.as_secs_f64() / direct.as_secs_f64();
            out.push(Target {
                what: format!(
                    "{}: ≤ 1.5× the same SQL executed directly in one transaction",
                    apply.name
                ),
                met: r <= 1.5,
                detail: format!("{r:.2}× ({} vs {})", human(ours), human(direct)),
            });
        }
    }
    if let Some(startup) = benches.get(1) {
        if let (Some(ours), Some(floor)) =
            (find(startup, "alembic-runtime"), find(startup, "floor"))
        {
            let r = ours.as_secs_f64() / floor.as_secs_f64();
            out.push(Target {
                what: format!(
                    "{}: ≤ 2× one bare SELECT on a freshly opened connection",
                    startup.name
                ),
                met: r <= 2.0,
                detail: format!("{r:.2}× ({} vs {})", human(ours), human(floor)),
            });
            for peer in ["refinery", "sqlx"] {
                if let Some(theirs) = find(startup, peer) {
                    out.push(Target {
                        what: format!("embedded startup check faster than {peer}"),
                        met: ours < theirs,
                        detail: format!(
                            "{} vs {} ({:.2}×)",
                            human(ours),
                            human(theirs),
                            theirs.as_secs_f64() / ours.as_secs_f64()
                        ),
                    });
                }
            }
        }
    }
    out
}

fn check_sqlite(
    tool: &str,
    db: &Path,
    history: &History,
    version_table: bool,
) -> Result<(), BenchError> {
    crate::check_db(tool, db, history, version_table)
}

/// Runs alembic-app's compiled build script directly, with the environment cargo gives it,
/// into a scratch OUT_DIR: the build-script time alone, without cargo's and rustc's.
fn build_script_time(app: &Path, target: &Path, reps: usize) -> Result<(Stats, u64), BenchError> {
    let build = target.join("release/build");
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(&build).map_err(io(&build))? {
        let entry = entry.map_err(io(&build))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let exe = entry.path().join("build-script-build");
        if name.starts_with("alembic-app-") && exe.is_file() {
            let modified = exe
                .metadata()
                .and_then(|m| m.modified())
                .map_err(io(&exe))?;
            if newest.as_ref().map_or(true, |(t, _)| modified > *t) {
                newest = Some((modified, exe));
            }
        }
    }
    let (_, exe) = newest.ok_or_else(|| {
        BenchError::Setup(format!(
            "no alembic-app build script under {}",
            build.display()
        ))
    })?;
    let out_dir = tempfile::tempdir().map_err(io(&build))?;
    let host = rustc_host();
    let stats = repeat(reps, || {
        let cpu = crate::measure::cpu_time(false);
        let start = Instant::now();
        let out = Command::new(&exe)
            .current_dir(app)
            .env("CARGO_MANIFEST_DIR", app)
            .env("CARGO_PKG_NAME", "alembic-app")
            .env("CARGO_PKG_VERSION", "0.0.0")
            .env("OUT_DIR", out_dir.path())
            .env("TARGET", &host)
            .env("HOST", &host)
            .env("PROFILE", "release")
            .env("OPT_LEVEL", "3")
            .env("DEBUG", "false")
            .env("NUM_JOBS", "2")
            .env("CARGO_CFG_TARGET_OS", std::env::consts::OS)
            .env("CARGO_CFG_TARGET_FAMILY", std::env::consts::FAMILY)
            .env("CARGO_CFG_TARGET_ARCH", std::env::consts::ARCH)
            .output()
            .map_err(|source| BenchError::Spawn {
                command: exe.display().to_string(),
                source,
            })?;
        let sample = Sample {
            wall: start.elapsed(),
            cpu: crate::measure::cpu_time(false).saturating_sub(cpu),
        };
        if !out.status.success() {
            return Err(BenchError::Failed {
                command: exe.display().to_string(),
                status: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(sample)
    })?;
    // What the build script wrote: the data compiled into the app.
    let mut written = 0;
    for entry in std::fs::read_dir(out_dir.path()).map_err(io(out_dir.path()))? {
        let entry = entry.map_err(io(out_dir.path()))?;
        written += entry.metadata().map_err(io(&entry.path()))?.len();
    }
    Ok((stats, written))
}

fn rustc_host() -> String {
    Command::new("rustc")
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        })
        .unwrap_or_else(|| "x86_64-unknown-linux-gnu".into())
}

/// `cargo build --release` after the last migration file was changed (a comment appended,
/// which every tool must notice): what a developer waits for after editing one script.
fn rebuild_time(
    app: &Path,
    target: &Path,
    history: &History,
    which: usize,
    reps: usize,
) -> Result<Stats, BenchError> {
    let n = history.revisions.len();
    let last = history
        .revisions
        .last()
        .ok_or_else(|| BenchError::Setup("empty history".into()))?;
    let file = match which {
        0 => {
            let dir = app.join("migrations/versions");
            let mut found = None;
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
                let entry = entry.map_err(io(&dir))?;
                if entry.file_name().to_string_lossy().starts_with(&last.id) {
                    found = Some(entry.path());
                }
            }
            found.ok_or_else(|| {
                BenchError::Setup(format!("no script of {} in {}", last.id, dir.display()))
            })?
        }
        1 => app.join(format!("migrations/V{n}__r_{}.sql", last.id)),
        _ => app.join(format!("migrations/{n:04}_r_{}.sql", last.id)),
    };
    let original = std::fs::read_to_string(&file).map_err(io(&file))?;
    let mut round = 0;
    let result = repeat(reps, || {
        round += 1;
        let mut text = original.clone();
        let _ = writeln!(text, "-- edited {round}");
        std::fs::write(&file, text).map_err(io(&file))?;
        let cpu = crate::measure::cpu_time(false);
        let (took, _) = build(app, target).map_err(BenchError::Setup)?;
        Ok(Sample {
            wall: took,
            cpu: crate::measure::cpu_time(false).saturating_sub(cpu),
        })
    });
    // Put the script back (and rebuild) so that the measured binary matches the database.
    std::fs::write(&file, &original).map_err(io(&file))?;
    build(app, target).map_err(BenchError::Setup)?;
    result
}

fn stripped_size(bin: &Path) -> Result<u64, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = tmp.path().join("stripped");
    let status = Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(bin)
        .status()
        .map_err(|e| format!("strip: {e}"))?;
    if !status.success() {
        return Err(format!("strip failed on {}", bin.display()));
    }
    std::fs::metadata(&out)
        .map(|m| m.len())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_app_line() {
        let t = parse_line("noise\nopen_ns=10 op_ns=2000 cpu_ns=30 applied=4\n").expect("line");
        assert_eq!(t.op, Duration::from_micros(2));
        assert_eq!(t.applied, 4);
        assert!(parse_line("open_ns=1 op_ns=x cpu_ns=1 applied=0").is_none());
        assert!(parse_line("nothing").is_none());
    }
}
