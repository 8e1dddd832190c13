//! `cargo alembic init [DIR]`: the migration environment (DIR/, DIR/versions/,
//! DIR/script.sql.tmpl), alembic.toml, build.rs, and the two dependencies in Cargo.toml.
//!
//! Idempotent: what exists is left alone (an existing build.rs gets advice, not an edit), and a
//! second run says that there was nothing to do. Without a Cargo.toml it creates the migration
//! environment and alembic.toml only, and says so.

use std::fs;
use std::path::{Path, PathBuf};

use alembic_core::config::{Config, DEFAULT_SCRIPT_LOCATION};

use crate::args::{GlobalOpts, InitArgs};
use crate::error::{CliError, CliResult};
use crate::manifest::{self, DependencySpec};
use crate::output::{display_path, Printer};
use crate::project::{self, CONFIG_FILE};
use crate::template::DEFAULT_TEMPLATE;

/// The line an application's build.rs needs.
pub const EMBED_CALL: &str = "alembic_build::embed().expect(\"migrations embedded\");";

pub fn run(global: &GlobalOpts, args: &InitArgs, printer: &Printer) -> CliResult {
    let cwd = std::env::current_dir().map_err(|e| CliError::io("read", ".", e))?;
    run_in(&cwd, global, args, printer).map(|_| ())
}

/// `init` from folder `cwd`; `true` when anything was created or changed.
fn run_in(cwd: &Path, global: &GlobalOpts, args: &InitArgs, printer: &Printer) -> CliResult<bool> {
    let cwd = cwd.to_path_buf();
    let package = project::find_package_manifest(global, &cwd)?;
    let root = match &package {
        Some(manifest_path) => manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cwd.clone()),
        None => cwd.clone(),
    };
    let config_path = root.join(CONFIG_FILE);
    // A second run follows the existing alembic.toml rather than creating a folder it does not
    // use.
    let existing = if config_path.is_file() {
        Some(
            Config::load(&config_path)
                .map_err(project::config_error)?
                .script_location,
        )
    } else {
        None
    };
    let wanted = args.directory.as_ref().map(|dir| {
        if dir.is_absolute() {
            dir.strip_prefix(&root)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| dir.clone())
        } else {
            dir.clone()
        }
    });
    let (script_location, location) = match (wanted, existing) {
        (Some(wanted), Some(existing)) => {
            let wanted_abs = std::path::absolute(root.join(&wanted)).unwrap_or(root.join(&wanted));
            if wanted_abs != existing {
                return Err(CliError::with_hint(
                    format!(
                        "{} already sets script_location to {}, not {}",
                        config_path.display(),
                        existing.display(),
                        wanted.display()
                    ),
                    "run `cargo alembic init` without DIR, or change script_location first",
                ));
            }
            (wanted, existing)
        }
        (None, Some(existing)) => (existing.clone(), existing),
        (wanted, None) => {
            let wanted = wanted.unwrap_or_else(|| PathBuf::from(DEFAULT_SCRIPT_LOCATION));
            let location = root.join(&wanted);
            (wanted, location)
        }
    };
    let mut changed = false;

    for dir in [location.clone(), location.join("versions")] {
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|e| CliError::io("create", &dir, e))?;
            printer.done(&format!("Creating directory {}", display_path(&dir)));
            changed = true;
        }
    }
    let template = location.join("script.sql.tmpl");
    changed |= write_new(&template, DEFAULT_TEMPLATE, printer)?;

    let manifest_text = match &package {
        Some(path) => Some(fs::read_to_string(path).map_err(|e| CliError::io("read", path, e))?),
        None => None,
    };
    let package_name = manifest_text.as_deref().and_then(manifest::package_name);
    let has_metadata_config = manifest_text
        .as_deref()
        .is_some_and(|t| t.contains("[package.metadata.alembic]"));
    let mut generated_config = false;
    if !has_metadata_config {
        let db_name = package_name.as_deref().unwrap_or("app").replace('-', "_");
        let text = config_text(&script_location, &db_name);
        generated_config = write_new(&config_path, &text, printer)?;
        changed |= generated_config;
    }

    let Some(manifest_path) = package else {
        printer.note(&format!(
            "No Cargo.toml found in {} or above: created the migration environment only. To embed \
             the migrations in an application, run `cargo alembic init` in its package, or add \
             alembic-runtime to [dependencies], alembic-build to [build-dependencies] and a \
             build.rs that calls {EMBED_CALL}",
            cwd.display()
        ));
        finish(printer, changed, generated_config, &config_path, &root);
        return Ok(changed);
    };
    let manifest_text = manifest_text.unwrap_or_default();

    changed |= ensure_build_script(&root, &manifest_text, printer)?;

    let (runtime, build) = dependency_specs();
    let (new_text, added) =
        manifest::add_dependencies(&manifest_text, &runtime, &build).map_err(|e| {
            CliError::with_hint(
                format!(
                    "cannot add the dependencies to {}: {e}",
                    manifest_path.display()
                ),
                "fix Cargo.toml (cargo build shows where), then run `cargo alembic init` again",
            )
        })?;
    if !added.is_empty() {
        fs::write(&manifest_path, new_text)
            .map_err(|e| CliError::io("write", &manifest_path, e))?;
        for a in &added {
            printer.done(&format!(
                "Adding {} to [{}] of {}",
                a.name,
                a.table,
                display_path(&manifest_path)
            ));
        }
        changed = true;
    }
    if changed {
        // The one step init cannot do for the user: where in main the app migrates.
        printer.note(&format!(
            "To migrate the database when the application starts, add to its main.rs:\n    \
             {MIGRATE_AT_STARTUP}\n(docs/embedding.md of cargo-alembic has the details)"
        ));
    }
    finish(printer, changed, generated_config, &config_path, &root);
    Ok(changed)
}

/// What an application's main.rs needs to migrate itself at startup.
const MIGRATE_AT_STARTUP: &str = "static MIGRATIONS: alembic_runtime::Migrations = \
     alembic_runtime::embedded!();\n    // in main(), with a rusqlite::Connection, \
     postgres::Client or mysql::Conn:\n    let report = MIGRATIONS.upgrade(&mut conn, \"head\")?;";

fn finish(printer: &Printer, changed: bool, generated_config: bool, config: &Path, root: &Path) {
    if !changed {
        printer.note(&format!(
            "Nothing to do: {} is already set up for cargo-alembic.",
            display_path(root)
        ));
    } else if generated_config {
        printer.note(&format!(
            "Please edit configuration/connection settings in {} before proceeding.",
            display_path(config)
        ));
    }
}

/// Writes `text` to `path` unless the file exists. `true` when it was written.
fn write_new(path: &Path, text: &str, printer: &Printer) -> CliResult<bool> {
    if path.exists() {
        return Ok(false);
    }
    fs::write(path, text).map_err(|e| CliError::io("write", path, e))?;
    printer.done(&format!("Generating {}", display_path(path)));
    Ok(true)
}

/// Creates build.rs, or advises how to change an existing one. `true` when a file was written.
fn ensure_build_script(root: &Path, manifest_text: &str, printer: &Printer) -> CliResult<bool> {
    let build_rs: PathBuf = root.join(
        manifest::declared_build_script(manifest_text).unwrap_or_else(|| "build.rs".to_string()),
    );
    match fs::read_to_string(&build_rs) {
        Ok(existing) if existing.contains("alembic_build") => Ok(false),
        Ok(_) => {
            printer.note(&format!(
                "{} exists: add this line to its fn main() so that the migrations are checked \
                 and embedded at build time:\n    {EMBED_CALL}",
                display_path(&build_rs)
            ));
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = format!(
                "// Checks migrations/versions and embeds it into the binary (cargo-alembic).\n\
                 fn main() {{\n    {EMBED_CALL}\n}}\n"
            );
            write_new(&build_rs, &text, printer)
        }
        Err(e) => Err(CliError::io("read", &build_rs, e)),
    }
}

/// How `init` writes the two dependencies: this tool's version, plus the path of the crates'
/// sources when this binary was built from a checkout that still exists (the crates are not on
/// a registry yet, and a path dependency makes the scaffolded package build as is).
fn dependency_specs() -> (DependencySpec, DependencySpec) {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let spec = |crate_dir: &str| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(crate_dir);
        let path = source
            .join("Cargo.toml")
            .is_file()
            .then(|| fs::canonicalize(&source).ok())
            .flatten()
            .map(|p| p.display().to_string());
        DependencySpec {
            version: version.clone(),
            path,
        }
    };
    (spec("alembic-runtime"), spec("alembic-build"))
}

/// The alembic.toml `init` writes: every key, documented, the optional ones commented out.
pub fn config_text(script_location: &Path, db_name: &str) -> String {
    let location = script_location.display().to_string().replace('\\', "/");
    let location = toml_edit::Value::from(location.as_str()).to_string();
    format!(
        r#"# cargo-alembic configuration (Alembic's alembic.ini). Relative paths, including a SQLite
# file in `url`, are relative to this file's folder.

[alembic]
# Folder holding script.sql.tmpl and versions/.
script_location = {location}

# The database. --url and the DATABASE_URL environment variable override it. Forms:
# sqlite:///relative.db, sqlite:////absolute/path.db, postgresql://user:pass@host:5432/db,
# mysql://user:pass@host:3306/db.
url = "sqlite:///./{db_name}.db"

# Folders holding revision scripts (default: <script_location>/versions).
# version_locations = ["migrations/versions"]

# File name of new revisions, without .sql: %(rev)s, %(slug)s, %(year)d, %(month).2d,
# %(day).2d, %(hour).2d, %(minute).2d, %(second).2d, %(epoch)s.
# file_template = "%(rev)s_%(slug)s"

# Longest slug made from a revision's message.
# truncate_slug_length = 40

# Name and schema of the version table.
# version_table = "alembic_version"
# version_table_schema = "public"

# false: one transaction for the whole run (Alembic's default); true: one per revision.
# transaction_per_migration = false

# Time zone of the Create Date of new revisions (default: local time).
# timezone = "UTC"

# Back the database up before every upgrade (as --backup).
# backup = false
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Printer = Printer { quiet: true };

    fn init(dir: &Path) -> bool {
        let args = InitArgs { directory: None };
        run_in(dir, &GlobalOpts::default(), &args, &QUIET).expect("init succeeds")
    }

    fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path.clone());
                    out.push((path, String::new()));
                } else {
                    out.push((path.clone(), fs::read_to_string(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn init_in_a_package_creates_everything_then_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = "[package]\nname = \"prompt-pilot\" # the app\nversion = \"0.1.0\"\n\n[dependencies]\n# none yet\n";
        fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        assert!(init(dir.path()));
        for file in ["migrations/script.sql.tmpl", "alembic.toml", "build.rs"] {
            assert!(dir.path().join(file).is_file(), "{file}");
        }
        assert!(dir.path().join("migrations/versions").is_dir());
        let cargo = fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
        assert!(
            cargo.starts_with("[package]\nname = \"prompt-pilot\" # the app\n"),
            "{cargo}"
        );
        assert!(
            cargo.contains("[dependencies]\n# none yet\nalembic-runtime = "),
            "{cargo}"
        );
        assert!(
            cargo.contains("[build-dependencies]\nalembic-build = "),
            "{cargo}"
        );
        let config = fs::read_to_string(dir.path().join("alembic.toml")).unwrap();
        assert!(
            config.contains("url = \"sqlite:///./prompt_pilot.db\""),
            "{config}"
        );

        let before = snapshot(dir.path());
        assert!(!init(dir.path()), "second run changes nothing");
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn init_from_a_subfolder_uses_the_package_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"a\"\n").unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        assert!(init(&dir.path().join("src")));
        assert!(dir.path().join("alembic.toml").is_file());
        assert!(dir.path().join("migrations/versions").is_dir());
        assert!(!dir.path().join("src/migrations").exists());
    }

    #[test]
    fn a_second_run_follows_the_existing_script_location() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"a\"\n").unwrap();
        let custom = InitArgs {
            directory: Some(PathBuf::from("db/migrations")),
        };
        assert!(run_in(dir.path(), &GlobalOpts::default(), &custom, &QUIET).unwrap());
        assert!(dir.path().join("db/migrations/versions").is_dir());
        assert!(
            !init(dir.path()),
            "init without DIR uses db/migrations: nothing to do"
        );
        assert!(!dir.path().join("migrations").exists());
        let other = InitArgs {
            directory: Some(PathBuf::from("elsewhere")),
        };
        let e = run_in(dir.path(), &GlobalOpts::default(), &other, &QUIET).unwrap_err();
        assert!(
            e.to_string().contains("already sets script_location"),
            "{e}"
        );
        assert!(!dir.path().join("elsewhere").exists());
    }

    #[test]
    fn existing_build_rs_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"a\"\n").unwrap();
        let build = "fn main() { println!(\"cargo:rerun-if-changed=x\"); }\n";
        fs::write(dir.path().join("build.rs"), build).unwrap();
        init(dir.path());
        assert_eq!(
            fs::read_to_string(dir.path().join("build.rs")).unwrap(),
            build
        );
    }

    #[test]
    fn without_cargo_toml_only_the_migration_files() {
        let dir = tempfile::tempdir().unwrap();
        // A temp dir may sit below a folder with a Cargo.toml; only run where none is above.
        if dir
            .path()
            .ancestors()
            .any(|a| a.join("Cargo.toml").is_file())
        {
            return;
        }
        assert!(init(dir.path()));
        assert!(dir.path().join("migrations/script.sql.tmpl").is_file());
        assert!(dir.path().join("alembic.toml").is_file());
        assert!(!dir.path().join("build.rs").exists());
        assert!(!dir.path().join("Cargo.toml").exists());
        assert!(!init(dir.path()));
    }

    #[test]
    fn the_default_template_renders_a_script_the_parser_accepts() {
        let mut values = crate::template::Values::new();
        values
            .set("message", "Add indexes")
            .set("up_revision", "2_add_indexes")
            .set("down_revision", "1_initial, 0_other")
            .set("create_date", "2025-08-23 10:30:00.000000")
            .set("branch_labels", "analytics")
            .set("depends_on", "5a1b2c3d4e5f");
        let text = crate::template::render(DEFAULT_TEMPLATE, &values).unwrap();
        let script = alembic_core::script::parse_script(Path::new("x.sql"), text.as_bytes())
            .expect("parses");
        assert_eq!(script.revision.id, "2_add_indexes");
        assert_eq!(script.revision.down_revisions, ["1_initial", "0_other"]);
        assert_eq!(script.revision.branch_labels, ["analytics"]);
        assert_eq!(script.revision.depends_on, ["5a1b2c3d4e5f"]);
        assert_eq!(script.message, "Add indexes");
        values
            .set("down_revision", "")
            .set("branch_labels", "")
            .set("depends_on", "");
        let text = crate::template::render(DEFAULT_TEMPLATE, &values).unwrap();
        let base = alembic_core::script::parse_script(Path::new("x.sql"), text.as_bytes())
            .expect("a base parses");
        assert!(base.revision.down_revisions.is_empty());
    }

    #[test]
    fn config_text_is_valid_toml_with_the_location() {
        let text = config_text(Path::new("db/migrations"), "promptpilot");
        let doc: toml_edit::DocumentMut = text.parse().expect("valid TOML");
        assert_eq!(
            doc["alembic"]["script_location"].as_str(),
            Some("db/migrations")
        );
        assert_eq!(
            doc["alembic"]["url"].as_str(),
            Some("sqlite:///./promptpilot.db")
        );
        // Windows-style and quote-bearing paths stay valid TOML.
        let text = config_text(Path::new("we\"ird"), "x");
        let doc: toml_edit::DocumentMut = text.parse().expect("valid TOML");
        assert_eq!(doc["alembic"]["script_location"].as_str(), Some("we\"ird"));
    }
}
