//! Build-script helper: validates `migrations/versions` at compile time and embeds it into the
//! application for `alembic_runtime::embedded!()`.
//!
//! ```text
//! // build.rs
//! fn main() {
//!     alembic_build::embed().expect("migrations embedded");
//! }
//! ```
//!
//! [`embed`] reads the same configuration as `cargo alembic` (`alembic.toml` beside the
//! package's `Cargo.toml`, else `[package.metadata.alembic]`), parses every script of every
//! version location and checks the revision graph with the code the CLI uses. Each problem is
//! shown as a cargo warning naming its file and line, and the build fails. It then writes
//! `alembic_embedded.rs` into `OUT_DIR`: the scripts' SQL, checksums, chained checksums and
//! the graph's heads as static data. It tells cargo to rerun the build script when the
//! configuration, a version location or a script changes, and for nothing else.
//!
//! [`Embed`] is the same with options: another configuration file, or only the revisions up
//! to a given one (to build an older release of the schema, e.g. for a rollback test).

use std::path::{Path, PathBuf};

use alembic_core::config::{Config, ConfigError};
use alembic_core::source::{ScriptDirectory, SourceErrors};

mod generate;

/// Why the migrations could not be embedded. Each variant names the file at fault.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// `CARGO_MANIFEST_DIR` is unset: `embed` was called outside a build script.
    #[error("CARGO_MANIFEST_DIR is not set: call alembic_build::embed() from a build.rs")]
    NotInBuildScript,
    #[error("{}: cannot read: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("{}: no alembic.toml beside it and no [package.metadata.alembic] table in it; run `cargo alembic init`", path.display())]
    NoConfig { path: PathBuf },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Every problem of every script, one per line.
    #[error("the migration scripts have {count} problem(s):\n{errors}", count = .0.len(), errors = .0)]
    Scripts(SourceErrors),
    /// `OUT_DIR` is unset: `embed` was called outside a build script.
    #[error("OUT_DIR is not set: call alembic_build::embed() from a build.rs")]
    NoOutDir,
    /// [`Embed::up_to`] named a revision that no script declares.
    #[error("Embed::up_to({revision:?}): no script declares this revision id; check the id (`cargo alembic history`)")]
    UnknownRevision { revision: String },
    #[error("{}: cannot write the generated migrations: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

/// `Debug` is the message itself: a build script ends in `embed().expect(...)`, which prints
/// the error with `Debug`, and the user should read file:line problems, not a struct dump.
impl std::fmt::Debug for EmbedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Checks the package's migrations and embeds them (see the crate docs); the same as
/// `Embed::new().run()`.
pub fn embed() -> Result<(), EmbedError> {
    Embed::new().run()
}

/// [`embed`] with options.
///
/// ```text
/// alembic_build::Embed::new()
///     .config("db/alembic.toml")      // default: alembic.toml, else [package.metadata.alembic]
///     .up_to("ae1027a6acf")           // default: every revision
///     .run()
///     .expect("migrations embedded");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Embed {
    config: Option<PathBuf>,
    up_to: Option<String>,
}

impl Embed {
    pub fn new() -> Self {
        Embed::default()
    }

    /// Reads this configuration file (relative to the package root) instead of looking for
    /// `alembic.toml` and then `[package.metadata.alembic]`.
    pub fn config(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = Some(path.into());
        self
    }

    /// Embeds only `revision` and what it needs (its ancestors through `Revises` and
    /// `Depends On`): the schema as of that revision. Every script is still validated.
    pub fn up_to(mut self, revision: impl Into<String>) -> Self {
        self.up_to = Some(revision.into());
        self
    }

    /// Validates, writes `OUT_DIR/alembic_embedded.rs` and emits `cargo:rerun-if-changed`.
    /// Problems are also printed as cargo warnings, one per line with file:line.
    pub fn run(self) -> Result<(), EmbedError> {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .ok_or(EmbedError::NotInBuildScript)?;
        let out_dir = std::env::var_os("OUT_DIR")
            .map(PathBuf::from)
            .ok_or(EmbedError::NoOutDir)?;
        let checked = check_with(&manifest_dir, self.config.as_deref());
        for path in &checked.watched {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        match &checked.result {
            Err(EmbedError::Scripts(errors)) => {
                // Cargo shows warnings of a failed build script one per line, which is where
                // the user looks; the returned error repeats them for the panic message.
                for error in errors.iter() {
                    println!("cargo:warning={error}");
                }
            }
            Err(error) => println!("cargo:warning={error}"),
            Ok(_) => {}
        }
        let (config, scripts) = checked.result?;
        let scripts = match &self.up_to {
            Some(revision) => select_up_to(scripts, revision)?,
            None => scripts,
        };
        let path = out_dir.join(generate::FILE_NAME);
        let text = generate::render(&scripts, &config, &manifest_dir);
        std::fs::write(&path, text).map_err(|e| EmbedError::Write {
            path,
            message: e.to_string(),
        })
    }
}

/// `revision` and its ancestors, as a directory of their own (in the same map order).
fn select_up_to(scripts: ScriptDirectory, revision: &str) -> Result<ScriptDirectory, EmbedError> {
    if scripts.script(revision).is_none() {
        return Err(EmbedError::UnknownRevision {
            revision: revision.to_string(),
        });
    }
    let mut keep: std::collections::HashSet<String> = scripts
        .map()
        .ancestors(revision)
        .into_iter()
        .map(str::to_string)
        .collect();
    keep.insert(revision.to_string());
    let (all, _) = scripts.into_parts();
    let kept = all.into_iter().filter(|s| keep.contains(s.id())).collect();
    // A subset closed under ancestry is a valid graph of its own.
    ScriptDirectory::from_scripts(kept).map_err(EmbedError::Scripts)
}

/// What a check found, and the paths whose change must rerun it (known even when it failed).
struct Checked {
    result: Result<(Config, ScriptDirectory), EmbedError>,
    watched: Vec<PathBuf>,
}

#[cfg(test)]
fn check(manifest_dir: &Path) -> Checked {
    check_with(manifest_dir, None)
}

fn check_with(manifest_dir: &Path, config_path: Option<&Path>) -> Checked {
    let toml_path = manifest_dir.join(config_path.unwrap_or(Path::new("alembic.toml")));
    let manifest_path = manifest_dir.join("Cargo.toml");
    // Both files decide which configuration applies (a new alembic.toml wins over the
    // manifest's table), so both are watched even when absent.
    let mut watched = vec![toml_path.clone(), manifest_path.clone()];
    let loaded = if config_path.is_some() {
        Config::load(&toml_path).map_err(EmbedError::from)
    } else {
        load_config(&toml_path, &manifest_path)
    };
    let config = match loaded {
        Ok(config) => config,
        Err(error) => {
            return Checked {
                result: Err(error),
                watched,
            }
        }
    };
    // A version location as a whole covers scripts being added and removed; each script,
    // edits to it.
    watched.extend(config.version_locations.iter().cloned());
    let result = ScriptDirectory::load(&config.version_locations).map_err(EmbedError::Scripts);
    if let Ok(dir) = &result {
        watched.extend(dir.scripts().iter().map(|s| s.path.clone()));
    }
    Checked {
        result: result.map(|dir| (config, dir)),
        watched,
    }
}

fn load_config(toml_path: &Path, manifest_path: &Path) -> Result<Config, EmbedError> {
    if toml_path.is_file() {
        return Ok(Config::load(toml_path)?);
    }
    let text = std::fs::read_to_string(manifest_path).map_err(|e| EmbedError::Read {
        path: manifest_path.to_path_buf(),
        message: e.to_string(),
    })?;
    let manifest: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| EmbedError::Read {
            path: manifest_path.to_path_buf(),
            message: e.message().to_string(),
        })?;
    let table = manifest
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("alembic"))
        .and_then(|a| a.as_table())
        .ok_or_else(|| EmbedError::NoConfig {
            path: manifest_path.to_path_buf(),
        })?;
    Ok(Config::from_table(table, manifest_path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(id: &str, revises: &str) -> String {
        format!("-- m\n--\n-- Revision ID: {id}\n-- Revises: {revises}\n\n-- +upgrade\nSELECT 1;\n\n-- +downgrade\nSELECT 1;\n")
    }

    fn package(config: Option<&str>, metadata: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("Cargo.toml"),
            format!("[package]\nname = \"app\"\nversion = \"0.1.0\"\n{metadata}"),
        )
        .expect("write manifest");
        if let Some(config) = config {
            std::fs::write(dir.path().join("alembic.toml"), config).expect("write config");
        }
        std::fs::create_dir_all(dir.path().join("migrations/versions")).expect("mkdir");
        dir
    }

    #[test]
    fn a_sound_directory_passes_and_watches_config_locations_and_scripts() {
        let dir = package(Some("[alembic]\n"), "");
        let versions = dir.path().join("migrations/versions");
        std::fs::write(versions.join("a.sql"), script("a", "")).expect("write");
        std::fs::write(versions.join("b.sql"), script("b", "a")).expect("write");
        let checked = check(dir.path());
        let (_, scripts) = checked.result.expect("valid");
        assert_eq!(scripts.scripts().len(), 2);
        assert!(checked.watched.contains(&dir.path().join("alembic.toml")));
        assert!(checked.watched.contains(&dir.path().join("Cargo.toml")));
        assert!(checked.watched.iter().any(|p| p.ends_with("versions")));
        assert!(checked.watched.iter().any(|p| p.ends_with("b.sql")));
    }

    #[test]
    fn every_bad_script_is_reported_with_file_and_line() {
        let dir = package(Some("[alembic]\n"), "");
        let versions = dir.path().join("migrations/versions");
        std::fs::write(versions.join("a.sql"), script("a", "nothere")).expect("write");
        std::fs::write(
            versions.join("b.sql"),
            "-- m\n-- Revison ID: b\n-- +upgrade\n",
        )
        .expect("write");
        let checked = check(dir.path());
        let Err(EmbedError::Scripts(errors)) = checked.result else {
            panic!("expected script errors");
        };
        let text = errors.to_string();
        assert!(text.contains("a.sql:4"), "{text}");
        assert!(text.contains("nothere"), "{text}");
        assert!(text.contains("b.sql:2"), "{text}");
        // Still watched, so fixing the files reruns the check.
        assert!(checked.watched.iter().any(|p| p.ends_with("versions")));
    }

    #[test]
    fn package_metadata_is_read_when_there_is_no_alembic_toml() {
        let dir = package(
            None,
            "\n[package.metadata.alembic]\nscript_location = \"db\"\n",
        );
        std::fs::create_dir_all(dir.path().join("db/versions")).expect("mkdir");
        std::fs::write(dir.path().join("db/versions/a.sql"), script("a", "")).expect("write");
        let (_, scripts) = check(dir.path()).result.expect("valid");
        assert_eq!(scripts.scripts()[0].revision.id, "a");
    }

    #[test]
    fn debug_reads_as_the_message_for_expect() {
        let dir = package(Some("[alembic]\n"), "");
        let versions = dir.path().join("migrations/versions");
        std::fs::write(versions.join("a.sql"), script("a", "nothere")).expect("write");
        let err = check(dir.path()).result.expect_err("bad parent");
        assert_eq!(format!("{err:?}"), err.to_string());
        assert!(format!("{err:?}").contains("a.sql:4"), "{err:?}");
    }

    #[test]
    fn no_configuration_says_how_to_make_one() {
        let dir = package(None, "");
        let err = check(dir.path()).result.expect_err("no config");
        assert!(err.to_string().contains("cargo alembic init"), "{err}");
    }

    #[test]
    fn an_unknown_config_key_fails_the_build() {
        let dir = package(Some("[alembic]\nscript_locaton = \"x\"\n"), "");
        let err = check(dir.path()).result.expect_err("typo");
        assert!(err.to_string().contains("script_locaton"), "{err}");
    }
}
