//! The project configuration (SPEC section 3): the `[alembic]` table of `alembic.toml`, or the
//! `[package.metadata.alembic]` table of a `Cargo.toml`, with the same keys.
//!
//! Reading a file gives a [`Config`] whose paths are already absolute-or-resolved against the
//! folder of the file the settings came from ([`Config::config_dir`]), never against the current
//! directory, so `cargo alembic -c other/alembic.toml` behaves the same from anywhere.
//!
//! Unknown keys are errors: a typo such as `scrip_location` must not silently fall back to the
//! default. The URL is kept as text and parsed on demand ([`Config::database_url`]), because
//! `--url` and `DATABASE_URL` may override it and commands such as `history` never connect.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::url::{join_clean, mask_password, DatabaseUrl, UrlError};

/// Alembic's defaults, shared by the loader and by `cargo alembic init`'s template.
pub const DEFAULT_SCRIPT_LOCATION: &str = "migrations";
pub const DEFAULT_FILE_TEMPLATE: &str = "%(rev)s_%(slug)s";
pub const DEFAULT_TRUNCATE_SLUG_LENGTH: usize = 40;
pub const DEFAULT_VERSION_TABLE: &str = "alembic_version";
/// The desired schema's file name in `script_location` when `schema` is not set.
pub const DEFAULT_SCHEMA_FILE: &str = "schema.sql";
/// Seconds a run waits for another process's migration lock before giving up.
pub const DEFAULT_LOCK_TIMEOUT_SECS: u64 = 60;

/// Which run lock a server run takes (`lock` in the configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockMode {
    /// The database's session lock (PostgreSQL advisory lock, MySQL `GET_LOCK`; on SQLite a
    /// lock file): freed by the server when the session dies.
    #[default]
    Advisory,
    /// A lease row in `<version_table>_lock`, renewed by a heartbeat and taken over once it
    /// expires: for connections through a transaction-pooling proxy (PgBouncer), where a
    /// session lock is lost between transactions.
    Lease,
}

impl LockMode {
    /// The configuration's spelling: `advisory` or `lease`.
    pub fn name(self) -> &'static str {
        match self {
            LockMode::Advisory => "advisory",
            LockMode::Lease => "lease",
        }
    }
}

/// The keys a configuration table may hold, for messages.
pub const CONFIG_KEYS: [&str; 13] = [
    "script_location",
    "url",
    "version_locations",
    "file_template",
    "truncate_slug_length",
    "version_table",
    "version_table_schema",
    "transaction_per_migration",
    "timezone",
    "backup",
    "lock_timeout",
    "lock",
    "schema",
];

/// Resolved project settings. `Debug` masks the URL's password.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// The file the settings were read from (`alembic.toml`, or the `Cargo.toml` of
    /// `[package.metadata.alembic]`).
    pub config_path: PathBuf,
    /// Which table of that file: `[alembic]` or `[package.metadata.alembic]`.
    pub table: &'static str,
    /// The folder relative paths are resolved against: `config_path`'s folder.
    pub config_dir: PathBuf,
    /// Folder with `script.sql.tmpl` and, by default, `versions/`.
    pub script_location: PathBuf,
    /// The database URL as written (`None` when absent or empty). Holds a password: print it
    /// only through [`mask_password`] or [`DatabaseUrl`].
    pub url: Option<String>,
    /// Every folder whose top-level `*.sql` files are revisions; default
    /// `[script_location/versions]`.
    pub version_locations: Vec<PathBuf>,
    /// File name pattern of new revisions (Alembic's `%(rev)s` tokens).
    pub file_template: String,
    pub truncate_slug_length: usize,
    pub version_table: String,
    pub version_table_schema: Option<String>,
    /// `false` (Alembic's default): one transaction for the whole run.
    pub transaction_per_migration: bool,
    /// IANA zone name for `Create Date`; `None` means local time.
    pub timezone: Option<String>,
    /// Back the database up before every `upgrade`.
    pub backup: bool,
    /// Seconds to wait for another process's migration lock before failing with an error
    /// that names the holder.
    pub lock_timeout: u64,
    /// Which run lock PostgreSQL and MySQL runs take (`advisory` by default, `lease` behind a
    /// transaction-pooling proxy).
    pub lock: LockMode,
    /// The desired schema autogenerate and `check` compare the database with (plain DDL);
    /// default `script_location/schema.sql`. A `<stem>.<dialect>.sql` beside it wins for
    /// that dialect (`alembic_schema::scratch::schema_file`).
    pub schema: PathBuf,
}

/// Why a configuration could not be read. Each names the file, and the line where known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{}: cannot read the configuration: {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// Bad TOML, an unknown key or a value of the wrong type. `line` is known for files read
    /// from text, not for tables handed over already parsed.
    #[error("{}{}: {message} in {table}", path.display(), fmt_line(*line))]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        table: &'static str,
        message: String,
    },
    #[error(
        "{}: no [alembic] table; add one with at least `script_location = \"migrations\"` \
         (`cargo alembic init` writes it)",
        path.display()
    )]
    MissingTable { path: PathBuf },
    #[error("{}{}: `{key}` in {table}: {message}", path.display(), fmt_line(*line))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        table: &'static str,
        key: &'static str,
        message: String,
    },
    #[error("{}: `url` in {table}: {error}", path.display())]
    Url {
        path: PathBuf,
        table: &'static str,
        error: UrlError,
    },
}

fn fmt_line(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// `version_locations` as a list, or one path as a plain string.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "invalid type: expected a folder or a list of folders"
)]
enum Locations {
    One(String),
    Many(Vec<String>),
}

/// The table as written; every key optional, unknown keys refused.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    script_location: Option<String>,
    url: Option<String>,
    version_locations: Option<Locations>,
    file_template: Option<String>,
    truncate_slug_length: Option<usize>,
    version_table: Option<String>,
    version_table_schema: Option<String>,
    transaction_per_migration: Option<bool>,
    timezone: Option<String>,
    backup: Option<bool>,
    lock_timeout: Option<u64>,
    lock: Option<String>,
    schema: Option<String>,
}

/// An `alembic.toml` file: only the `[alembic]` table, so a misspelt table name is caught.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    alembic: Option<RawConfig>,
}

const ALEMBIC_TABLE: &str = "[alembic]";
const METADATA_TABLE: &str = "[package.metadata.alembic]";

/// One line of text from a `toml` message (some span several lines), prefixed with the key it
/// is about when known: `toml`'s type errors do not name the key.
fn describe_toml_error(message: &str, key: Option<&str>) -> String {
    let text = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match key {
        Some(key) if !text.contains(key) => format!("`{key}`: {text}"),
        _ => text,
    }
}

/// The configuration key written on 1-based `line` of `text`, if that line is `key = ...`.
fn key_on_line(text: &str, line: usize) -> Option<&'static str> {
    let (key, _) = text.lines().nth(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim().trim_matches('"');
    CONFIG_KEYS.iter().copied().find(|k| *k == key)
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Reads `path` (an `alembic.toml`).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Config::from_toml_str(&text, path)
    }

    /// Parses the text of an `alembic.toml` read from `config_path` (used for messages and as
    /// the base of relative paths).
    pub fn from_toml_str(text: &str, config_path: &Path) -> Result<Config, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start));
            ConfigError::Parse {
                path: config_path.to_path_buf(),
                line,
                table: ALEMBIC_TABLE,
                message: describe_toml_error(e.message(), line.and_then(|l| key_on_line(text, l))),
            }
        })?;
        let raw = raw.alembic.ok_or_else(|| ConfigError::MissingTable {
            path: config_path.to_path_buf(),
        })?;
        // Values are checked again after deserialising; find their lines for those messages.
        let lines = KeyLines::find(text);
        Config::resolve(raw, config_path, ALEMBIC_TABLE, &lines)
    }

    /// Reads the `[package.metadata.alembic]` table of a package, given as the `toml::Table`
    /// under `alembic` (what `toml` or `toml_edit` give for that table). `manifest_path` is the
    /// package's `Cargo.toml`: messages name it and relative paths start from its folder.
    ///
    /// `cargo metadata` hands the table over as JSON; convert it with
    /// `toml::Table::try_from(json_value)` or use [`Config::from_json`].
    pub fn from_table(table: &toml::Table, manifest_path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e| ConfigError::Parse {
                    path: manifest_path.to_path_buf(),
                    line: None,
                    table: METADATA_TABLE,
                    message: e.message().trim_end().to_string(),
                })?;
        Config::resolve(raw, manifest_path, METADATA_TABLE, &KeyLines::default())
    }

    /// [`Config::from_table`] for the JSON value `cargo metadata` gives for
    /// `package.metadata.alembic`.
    pub fn from_json(
        value: &serde_json::Value,
        manifest_path: &Path,
    ) -> Result<Config, ConfigError> {
        let raw = RawConfig::deserialize(value).map_err(|e| ConfigError::Parse {
            path: manifest_path.to_path_buf(),
            line: None,
            table: METADATA_TABLE,
            message: e.to_string(),
        })?;
        Config::resolve(raw, manifest_path, METADATA_TABLE, &KeyLines::default())
    }

    /// Every setting at its default, as if `config_path` held an empty `[alembic]` table.
    pub fn defaults(config_path: &Path) -> Config {
        let config_dir = dir_of(config_path);
        let script_location = join_clean(&config_dir, Path::new(DEFAULT_SCRIPT_LOCATION));
        Config {
            config_path: config_path.to_path_buf(),
            table: ALEMBIC_TABLE,
            schema: script_location.join(DEFAULT_SCHEMA_FILE),
            version_locations: vec![script_location.join("versions")],
            script_location,
            config_dir,
            url: None,
            file_template: DEFAULT_FILE_TEMPLATE.to_string(),
            truncate_slug_length: DEFAULT_TRUNCATE_SLUG_LENGTH,
            version_table: DEFAULT_VERSION_TABLE.to_string(),
            version_table_schema: None,
            transaction_per_migration: false,
            timezone: None,
            backup: false,
            lock_timeout: DEFAULT_LOCK_TIMEOUT_SECS,
            lock: LockMode::Advisory,
        }
    }

    fn resolve(
        raw: RawConfig,
        config_path: &Path,
        table: &'static str,
        lines: &KeyLines,
    ) -> Result<Config, ConfigError> {
        let config_dir = dir_of(config_path);
        let invalid = |key: &'static str, message: &str| ConfigError::Invalid {
            path: config_path.to_path_buf(),
            line: lines.get(key),
            table,
            key,
            message: message.to_string(),
        };
        let resolve_path = |text: &str| -> PathBuf {
            let text = expand_here(text, &config_dir);
            let path = Path::new(&text);
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                join_clean(&config_dir, path)
            }
        };
        let non_empty = |key: &'static str, value: Option<String>, default: &str| match value {
            None => Ok(default.to_string()),
            Some(v) if v.trim().is_empty() => Err(invalid(
                key,
                "must not be empty; remove the line for the default",
            )),
            Some(v) => Ok(v),
        };

        let script_location = resolve_path(&non_empty(
            "script_location",
            raw.script_location,
            DEFAULT_SCRIPT_LOCATION,
        )?);
        let version_locations = match raw.version_locations {
            None => vec![script_location.join("versions")],
            Some(locations) => {
                let list = match locations {
                    Locations::One(one) => vec![one],
                    Locations::Many(many) => many,
                };
                if list.is_empty() {
                    return Err(invalid(
                        "version_locations",
                        "must list at least one folder; remove the line for the default \
                         (script_location/versions)",
                    ));
                }
                if list.iter().any(|p| p.trim().is_empty()) {
                    return Err(invalid("version_locations", "holds an empty path"));
                }
                list.iter().map(|p| resolve_path(p)).collect()
            }
        };
        let schema = match raw.schema {
            None => script_location.join(DEFAULT_SCHEMA_FILE),
            Some(s) if s.trim().is_empty() => {
                return Err(invalid(
                    "schema",
                    "must not be empty; remove the line for the default \
                     (script_location/schema.sql)",
                ))
            }
            Some(s) => resolve_path(s.trim()),
        };
        let version_table = non_empty("version_table", raw.version_table, DEFAULT_VERSION_TABLE)?;
        if version_table.len() > 63 {
            return Err(invalid(
                "version_table",
                "is longer than 63 characters, the limit of PostgreSQL identifiers",
            ));
        }
        let lock = match raw.lock.as_deref().map(str::trim) {
            None | Some("advisory") => LockMode::Advisory,
            Some("lease") => LockMode::Lease,
            Some(other) => {
                return Err(invalid(
                    "lock",
                    &format!(
                        "is {other:?}; use \"advisory\" (the default: a session lock) or \
                         \"lease\" (a lease row, for PgBouncer's transaction pooling)"
                    ),
                ))
            }
        };

        Ok(Config {
            config_path: config_path.to_path_buf(),
            table,
            config_dir: config_dir.clone(),
            script_location,
            // `url = ""` is how an unset URL is often written (Alembic's ini has it).
            url: raw
                .url
                .map(|u| expand_here(u.trim(), &config_dir))
                .filter(|u| !u.is_empty()),
            version_locations,
            file_template: non_empty("file_template", raw.file_template, DEFAULT_FILE_TEMPLATE)?,
            truncate_slug_length: raw
                .truncate_slug_length
                .unwrap_or(DEFAULT_TRUNCATE_SLUG_LENGTH),
            version_table,
            version_table_schema: raw.version_table_schema.filter(|s| !s.trim().is_empty()),
            transaction_per_migration: raw.transaction_per_migration.unwrap_or(false),
            timezone: raw.timezone.filter(|s| !s.trim().is_empty()),
            backup: raw.backup.unwrap_or(false),
            lock_timeout: raw.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT_SECS),
            lock,
            schema,
        })
    }

    /// The configured URL, parsed; `Ok(None)` when the file sets none. Errors name the file.
    /// (`--url` and `DATABASE_URL` take precedence; the CLI applies them before this.)
    pub fn database_url(&self) -> Result<Option<DatabaseUrl>, ConfigError> {
        self.url
            .as_deref()
            .map(|text| {
                DatabaseUrl::parse(text).map_err(|error| ConfigError::Url {
                    path: self.config_path.clone(),
                    table: self.table,
                    error,
                })
            })
            .transpose()
    }

    /// The template new revisions are made from: `script_location/script.sql.tmpl`.
    pub fn template_path(&self) -> PathBuf {
        self.script_location.join("script.sql.tmpl")
    }
}

/// The folder of `config_path`; `.` for a bare file name.
fn dir_of(config_path: &Path) -> PathBuf {
    config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Alembic's ini files may write `%(here)s` for the config file's folder; accept it so that
/// values copied from one keep working.
fn expand_here(text: &str, config_dir: &Path) -> String {
    if text.contains("%(here)s") {
        text.replace("%(here)s", &config_dir.to_string_lossy())
    } else {
        text.to_string()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("config_path", &self.config_path)
            .field("table", &self.table)
            .field("config_dir", &self.config_dir)
            .field("script_location", &self.script_location)
            .field("url", &self.url.as_deref().map(mask_password))
            .field("version_locations", &self.version_locations)
            .field("file_template", &self.file_template)
            .field("truncate_slug_length", &self.truncate_slug_length)
            .field("version_table", &self.version_table)
            .field("version_table_schema", &self.version_table_schema)
            .field("transaction_per_migration", &self.transaction_per_migration)
            .field("timezone", &self.timezone)
            .field("backup", &self.backup)
            .field("lock_timeout", &self.lock_timeout)
            .field("lock", &self.lock)
            .field("schema", &self.schema)
            .finish()
    }
}

/// Lines of the keys in the `[alembic]` table of a file's text, found with `toml_edit`-free
/// scanning: `toml` does not keep spans in its tables. Good enough for `key = value` lines,
/// which is how every example writes them.
#[derive(Default)]
struct KeyLines(Vec<(&'static str, usize)>);

impl KeyLines {
    fn find(text: &str) -> KeyLines {
        let mut found = Vec::new();
        let mut in_alembic = false;
        for (index, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if let Some(header) = trimmed.strip_prefix('[') {
                // `[alembic]  # comment`: the name is what stands between the brackets.
                let name = header.split(']').next().unwrap_or("");
                in_alembic = name.trim() == "alembic";
                continue;
            }
            if !in_alembic {
                continue;
            }
            if let Some((key, _)) = trimmed.split_once('=') {
                let key = key.trim().trim_matches('"');
                if let Some(known) = CONFIG_KEYS.iter().find(|k| **k == key) {
                    found.push((*known, index + 1));
                }
            }
        }
        KeyLines(found)
    }

    fn get(&self, key: &str) -> Option<usize> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, l)| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("/proj/alembic.toml"))
    }

    #[test]
    fn defaults_as_alembic() {
        let c = parse("[alembic]\n").expect("valid");
        assert_eq!(c.config_dir, Path::new("/proj"));
        assert_eq!(c.config_path, Path::new("/proj/alembic.toml"));
        assert_eq!(c.table, "[alembic]");
        assert_eq!(c.script_location, Path::new("/proj/migrations"));
        assert_eq!(
            c.version_locations,
            vec![PathBuf::from("/proj/migrations/versions")]
        );
        assert_eq!(c.url, None);
        assert_eq!(c.file_template, "%(rev)s_%(slug)s");
        assert_eq!(c.truncate_slug_length, 40);
        assert_eq!(c.version_table, "alembic_version");
        assert_eq!(c.version_table_schema, None);
        assert!(!c.transaction_per_migration);
        assert_eq!(c.timezone, None);
        assert!(!c.backup);
        assert_eq!(c.lock_timeout, 60);
        assert_eq!(c.lock, LockMode::Advisory);
        assert_eq!(c.schema, Path::new("/proj/migrations/schema.sql"));
        assert_eq!(
            c.template_path(),
            Path::new("/proj/migrations/script.sql.tmpl")
        );
        assert_eq!(Config::defaults(Path::new("/proj/alembic.toml")), c);
        assert_eq!(c.database_url(), Ok(None));
    }

    #[test]
    fn schema_is_relative_to_the_config_file_and_not_empty() {
        let c = parse("[alembic]\nschema = \"db/wanted.sql\"\n").expect("valid");
        assert_eq!(c.schema, Path::new("/proj/db/wanted.sql"));
        let e = parse("[alembic]\n\nschema = \" \"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3:") && e.contains("schema"), "{e}");
    }

    #[test]
    fn every_key_and_relative_paths() {
        let c = parse(
            r#"
[alembic]
script_location = "db"
url = "sqlite:///./data/promptpilot.db"
version_locations = ["db/versions", "./other", "/abs/versions", "%(here)s/here"]
file_template = "%(year)d_%(rev)s"
truncate_slug_length = 20
version_table = "my_version"
version_table_schema = "public"
transaction_per_migration = true
timezone = "UTC"
backup = true
lock_timeout = 5
lock = "lease"
"#,
        )
        .expect("valid");
        assert_eq!(c.script_location, Path::new("/proj/db"));
        assert_eq!(
            c.version_locations,
            vec![
                PathBuf::from("/proj/db/versions"),
                PathBuf::from("/proj/other"),
                PathBuf::from("/abs/versions"),
                PathBuf::from("/proj/here"),
            ]
        );
        assert_eq!(c.url.as_deref(), Some("sqlite:///./data/promptpilot.db"));
        assert_eq!(c.file_template, "%(year)d_%(rev)s");
        assert_eq!(c.truncate_slug_length, 20);
        assert_eq!(c.version_table, "my_version");
        assert_eq!(c.version_table_schema.as_deref(), Some("public"));
        assert!(c.transaction_per_migration);
        assert_eq!(c.timezone.as_deref(), Some("UTC"));
        assert!(c.backup);
        assert_eq!(c.lock_timeout, 5);
        assert_eq!(c.lock, LockMode::Lease);

        let url = c.database_url().expect("valid url").expect("set");
        assert_eq!(
            url.sqlite_path(&c.config_dir),
            Some(crate::url::SqliteTarget::File(PathBuf::from(
                "/proj/data/promptpilot.db"
            )))
        );
    }

    #[test]
    fn default_version_location_follows_script_location() {
        let c = parse("[alembic]\nscript_location = \"db/migr\"\n").expect("valid");
        assert_eq!(
            c.version_locations,
            vec![PathBuf::from("/proj/db/migr/versions")]
        );
        let one = parse("[alembic]\nversion_locations = \"v\"\n").expect("valid");
        assert_eq!(one.version_locations, vec![PathBuf::from("/proj/v")]);
    }

    #[test]
    fn config_in_current_directory_resolves_against_dot() {
        let c = Config::from_toml_str("[alembic]\n", Path::new("alembic.toml")).expect("valid");
        assert_eq!(c.config_dir, Path::new("."));
        assert_eq!(c.script_location, Path::new("./migrations"));
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let e = parse("[alembic]\nurl = \"sqlite://\"\nscrip_location = \"m\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("/proj/alembic.toml:3: unknown field `scrip_location`"),
            "{msg}"
        );
        assert!(msg.contains("in [alembic]"), "{msg}");
        assert!(
            msg.contains("expected one of `script_location`, `url`"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_table_and_missing_table() {
        let e = parse("[alembc]\nurl = \"x\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("/proj/alembic.toml:1: unknown field `alembc`"),
            "{msg}"
        );
        let e = parse("# nothing\n").unwrap_err();
        assert_eq!(
            e,
            ConfigError::MissingTable {
                path: "/proj/alembic.toml".into()
            }
        );
        assert!(e.to_string().contains("no [alembic] table"), "{e}");
    }

    #[test]
    fn wrong_types_and_bad_toml_name_file_and_line() {
        let e = parse("[alembic]\n\ntruncate_slug_length = \"forty\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("/proj/alembic.toml:3: "), "{msg}");
        assert_eq!(
            msg,
            "/proj/alembic.toml:3: `truncate_slug_length`: invalid type: string \"forty\", \
             expected usize in [alembic]"
        );
        let e = parse("[alembic]\nversion_locations = 5\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/proj/alembic.toml:2: `version_locations`: invalid type: expected a folder or a list \
             of folders in [alembic]"
        );
        let e = parse("[alembic]\nbackup = yes\n").unwrap_err();
        assert!(e.to_string().starts_with("/proj/alembic.toml:2: "), "{e}");
        let e = parse("[alembic]\ntruncate_slug_length = -1\n").unwrap_err();
        assert!(e.to_string().starts_with("/proj/alembic.toml:2: "), "{e}");
    }

    #[test]
    fn invalid_values_name_key_file_and_line() {
        let e = parse("[alembic]  # settings\nversion_table = \"\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/proj/alembic.toml:2: `version_table` in [alembic]: must not be empty; remove the \
             line for the default"
        );
        let e = parse("[alembic]\nurl = \"x\"\nversion_locations = []\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/proj/alembic.toml:3: `version_locations` in [alembic]: must list"),
            "{e}"
        );
        let e = parse(&format!(
            "[alembic]\nversion_table = \"{}\"\n",
            "t".repeat(64)
        ))
        .unwrap_err();
        assert!(e.to_string().contains("63 characters"), "{e}");
    }

    #[test]
    fn url_errors_name_the_file_and_never_the_password() {
        let c = parse("[alembic]\nurl = \"oracle://u:hunter2@h/db\"\n").expect("lazy url");
        let e = c.database_url().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("/proj/alembic.toml: `url` in [alembic]: "),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("u:***@h"), "{debug}");
        // Empty means unset.
        assert_eq!(parse("[alembic]\nurl = \"\"\n").expect("valid").url, None);
    }

    #[test]
    fn package_metadata_table_from_toml_and_json() {
        let manifest = Path::new("/ws/app/Cargo.toml");
        let table: toml::Table =
            toml::from_str("script_location = \"db\"\nurl = \"sqlite:///app.db\"\n").expect("toml");
        let c = Config::from_table(&table, manifest).expect("valid");
        assert_eq!(c.table, "[package.metadata.alembic]");
        assert_eq!(c.config_dir, Path::new("/ws/app"));
        assert_eq!(c.script_location, Path::new("/ws/app/db"));
        assert_eq!(
            c.version_locations,
            vec![PathBuf::from("/ws/app/db/versions")]
        );

        let json = serde_json::json!({"script_location": "db", "url": "sqlite:///app.db"});
        assert_eq!(Config::from_json(&json, manifest).expect("valid"), c);

        let bad: toml::Table = toml::from_str("scriptlocation = \"db\"\n").expect("toml");
        let msg = Config::from_table(&bad, manifest).unwrap_err().to_string();
        assert!(
            msg.starts_with("/ws/app/Cargo.toml: unknown field `scriptlocation`"),
            "{msg}"
        );
        assert!(msg.contains("[package.metadata.alembic]"), "{msg}");
        let msg = Config::from_json(&serde_json::json!({"backup": "yes"}), manifest)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("/ws/app/Cargo.toml: "), "{msg}");
        assert!(msg.contains("[package.metadata.alembic]"), "{msg}");
    }

    #[test]
    fn load_reads_the_file_and_reports_a_missing_one() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("alembic.toml");
        std::fs::write(&path, "[alembic]\nscript_location = \"m\"\n").expect("write");
        let c = Config::load(&path).expect("valid");
        assert_eq!(c.script_location, tmp.path().join("m"));
        let missing = tmp.path().join("nope.toml");
        let e = Config::load(&missing).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("{}: cannot read", missing.display())),
            "{e}"
        );
    }

    #[test]
    fn lock_must_be_advisory_or_lease() {
        let e = parse("[alembic]\nlock = \"mutex\"\n").expect_err("invalid lock");
        let text = e.to_string();
        assert!(text.contains("lock") && text.contains("mutex"), "{text}");
        assert!(
            text.contains("advisory") && text.contains("lease"),
            "{text}"
        );
        assert!(text.contains(":2"), "names the line: {text}");
    }
}
