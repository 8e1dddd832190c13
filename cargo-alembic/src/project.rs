//! The project a command works on: which configuration (SPEC section 3: `-c FILE`, else
//! `./alembic.toml`, else `[package.metadata.alembic]` of the current cargo package), which
//! database URL (`--url` beats `DATABASE_URL`, which beats the file), and the scripts.
//!
//! `cargo metadata` runs only when neither `-c` nor an `alembic.toml` answers the question: it
//! is slow, and a project with an `alembic.toml` does not need it.

use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

use alembic_core::config::Config;
use alembic_core::source::ScriptDirectory;
use alembic_core::url::{DatabaseUrl, Dialect, SqliteTarget};
use alembic_runtime::{Migrator, RunOptions, SqliteBackend};

use crate::args::GlobalOpts;
use crate::error::{register_secret, CliError, CliResult};

/// The configuration file name looked for in the current directory.
pub const CONFIG_FILE: &str = "alembic.toml";

/// A loaded configuration and the database URL that applies.
pub struct Project {
    pub config: Config,
    /// `--url`, else `DATABASE_URL`, else the file's `url`; `None` when none is set.
    pub url: Option<DatabaseUrl>,
}

impl Project {
    /// Finds and reads the configuration; parses the URL that applies (without connecting).
    pub fn load(global: &GlobalOpts) -> CliResult<Project> {
        let cwd = std::env::current_dir().map_err(|e| CliError::io("read", ".", e))?;
        let config = find_config(global, &cwd)?;
        let url = pick_url(
            global.url.as_deref(),
            std::env::var("DATABASE_URL").ok(),
            &config,
        )?;
        Ok(Project { config, url })
    }

    /// The revision scripts of every version location, with every problem reported at once.
    ///
    /// Never dropped: every command loads the scripts once and exits soon after, when the
    /// operating system takes the memory back at once. Freeing a directory of 10,000 scripts
    /// one allocation at a time cost a few percent of `history`'s run time, for nothing.
    pub fn scripts(&self) -> CliResult<ManuallyDrop<ScriptDirectory>> {
        Ok(ManuallyDrop::new(ScriptDirectory::load(
            &self.config.version_locations,
        )?))
    }

    /// The URL, or an error saying where to set one.
    pub fn require_url(&self) -> CliResult<&DatabaseUrl> {
        self.url.as_ref().ok_or_else(|| {
            CliError::with_hint(
                format!(
                    "no database URL: {} sets no `url`",
                    self.config.config_path.display()
                ),
                "set `url` in the configuration, the DATABASE_URL environment variable, or pass \
                 --url (e.g. --url sqlite:///app.db)",
            )
        })
    }

    /// The run options from the configuration.
    pub fn run_options(&self) -> RunOptions {
        let mut options = RunOptions::default();
        options.version_table = self.config.version_table.clone();
        options.version_table_schema = self.config.version_table_schema.clone();
        options.transaction_per_migration = self.config.transaction_per_migration;
        options.tool = concat!("cargo-alembic ", env!("CARGO_PKG_VERSION")).to_string();
        // SPEC section 7: an applied script that was edited is an error naming it, before
        // anything runs; otherwise the next run would record checksums over the edit and hide
        // it. `stamp` never verifies, so it stays the way out.
        options.verify_checksums = true;
        // `lock_timeout` and `lock` reach every backend through the run's options.
        options.lock_timeout = Some(std::time::Duration::from_secs(self.config.lock_timeout));
        options.lock_mode = self.config.lock;
        options
    }

    /// Where a SQLite URL's database lives (relative paths from the config file's folder).
    pub fn sqlite_target(&self, url: &DatabaseUrl) -> Option<SqliteTarget> {
        url.sqlite_path(&self.config.config_dir)
    }

    /// The database's current heads, for the read commands: reads only (no lock, no table
    /// created), and a SQLite file that does not exist yet is an empty database, not created.
    pub fn read_heads(&self, scripts: &ScriptDirectory) -> CliResult<Vec<String>> {
        let url = self.require_url()?;
        if let Some(SqliteTarget::File(path)) = self.sqlite_target(url) {
            if !path.exists() {
                log::debug!("{} does not exist yet: no revision applied", path.display());
                return Ok(Vec::new());
            }
        }
        let migrator = Migrator::new(scripts, self.run_options());
        self.connect()?.current_heads(&migrator)
    }

    /// Connects to the database.
    pub fn connect(&self) -> CliResult<Connection> {
        let url = self.require_url()?;
        match url.dialect() {
            Dialect::Sqlite if self.config.lock == alembic_core::config::LockMode::Lease => {
                Err(CliError::with_hint(
                    format!(
                        "{}: lock = \"lease\" is for PostgreSQL and MySQL behind a \
                         transaction-pooling proxy; SQLite has only its lock file \
                         (<database>-alembic-lock)",
                        self.config.config_path.display()
                    ),
                    "remove `lock` from the configuration for a SQLite database",
                ))
            }
            Dialect::Sqlite => {
                let conn = match self.sqlite_target(url) {
                    Some(SqliteTarget::File(path)) => {
                        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                            if !parent.is_dir() {
                                return Err(CliError::with_hint(
                                    format!(
                                        "cannot open the SQLite database {}: folder {} does not exist",
                                        path.display(),
                                        parent.display()
                                    ),
                                    format!(
                                        "create it (mkdir -p {}) or fix `url` (relative paths start from {})",
                                        parent.display(),
                                        self.config.config_dir.display()
                                    ),
                                ));
                            }
                        }
                        rusqlite::Connection::open(&path).map_err(|e| {
                            CliError::failed(format!(
                                "cannot open the SQLite database {}: {e}",
                                path.display()
                            ))
                        })?
                    }
                    _ => rusqlite::Connection::open_in_memory().map_err(|e| {
                        CliError::failed(format!("cannot open an in-memory SQLite database: {e}"))
                    })?,
                };
                Ok(Connection::Sqlite(conn))
            }
            Dialect::Postgres => {
                let backend = alembic_runtime::PostgresBackend::connect_url(url)
                    .map_err(|e| connect_error(&e))?;
                Ok(Connection::Server(Box::new(backend)))
            }
            Dialect::Mysql => {
                let backend = alembic_runtime::MysqlBackend::connect_url(url)
                    .map_err(|e| connect_error(&e))?;
                Ok(Connection::Server(Box::new(backend)))
            }
        }
    }
}

impl Project {
    /// A plain PostgreSQL client for introspection (the runtime's backend keeps its own), to
    /// the URL's database or to `database` on the same server. Without TLS: a URL that asks
    /// for it (`sslmode=require`) is refused rather than silently sent in clear.
    pub fn postgres_client(&self, database: Option<&str>) -> CliResult<postgres::Client> {
        let url = self.require_url()?;
        refuse_tls(url)?;
        let mut config = postgres::Config::new();
        if let Some(user) = url.username() {
            config.user(user);
        }
        if let Some(password) = url.password() {
            config.password(password);
        }
        config.host(
            url.host()
                .or(url.query_param("host"))
                .unwrap_or("localhost"),
        );
        if let Some(port) = url.port() {
            config.port(port);
        }
        if let Some(db) = database.or(url.database()) {
            config.dbname(db);
        }
        config.application_name("cargo-alembic autogenerate");
        config.connect(postgres::NoTls).map_err(|e| {
            CliError::with_hint(
                format!("cannot connect to {}: {e}", url.masked()),
                "check that the server runs and accepts this user and database",
            )
        })
    }

    /// A plain MySQL connection for introspection, as [`Project::postgres_client`].
    pub fn mysql_conn(&self, database: Option<&str>) -> CliResult<mysql::Conn> {
        let url = self.require_url()?;
        refuse_tls(url)?;
        let mut opts = mysql::OptsBuilder::new()
            .user(url.username())
            .pass(url.password())
            .db_name(database.or(url.database()))
            .ip_or_hostname(Some(url.host().unwrap_or("localhost")));
        if let Some(port) = url.port() {
            opts = opts.tcp_port(port);
        }
        if let Some(socket) = url.query_param("unix_socket") {
            opts = opts.socket(Some(socket));
        }
        mysql::Conn::new(opts).map_err(|e| {
            CliError::with_hint(
                format!("cannot connect to {}: {e}", url.masked()),
                "check that the server runs and accepts this user and database",
            )
        })
    }
}

/// Introspection connects without TLS; a URL that requires it is refused, not downgraded.
fn refuse_tls(url: &DatabaseUrl) -> CliResult {
    let wants = ["sslmode", "ssl_mode", "ssl-mode"]
        .iter()
        .filter_map(|k| url.query_param(k))
        .any(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "disable" | "disabled" | "prefer" | "preferred" | "allow"
            )
        });
    if wants {
        return Err(CliError::with_hint(
            format!(
                "{}: autogenerate and check connect without TLS for now, and this URL requires it",
                url.masked()
            ),
            "run them against a development server that accepts plain connections",
        ));
    }
    Ok(())
}

/// The runtime's connection error (it names the masked URL), with the driver's causes, which
/// say what happened ("Connection refused") where its own message is generic.
fn connect_error(e: &alembic_runtime::BackendError) -> CliError {
    let mut text = e.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = match e.driver_error() {
        Some(d) => d.source(),
        None => None,
    };
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(&format!(": {c_text}"));
        }
        cause = c.source();
    }
    CliError::with_hint(
        text,
        "check that the server runs and accepts this user, database and password (--url, \
         DATABASE_URL or `url` in the configuration)",
    )
}

/// An open database connection.
pub enum Connection {
    /// A SQLite connection (a run's lock timeout comes with its options).
    Sqlite(rusqlite::Connection),
    /// PostgreSQL or MySQL: the runtime's backend owns the client.
    Server(Box<dyn alembic_runtime::Backend>),
}

impl Connection {
    /// Runs `f` with a runtime backend over this connection.
    pub fn with_backend<T>(&mut self, f: impl FnOnce(&mut dyn alembic_runtime::Backend) -> T) -> T {
        match self {
            Connection::Sqlite(conn) => f(&mut SqliteBackend::new(conn)),
            Connection::Server(backend) => f(backend.as_mut()),
        }
    }

    /// The database's current heads (reads only: no lock, no table created).
    pub fn current_heads(&mut self, migrator: &Migrator<'_>) -> CliResult<Vec<String>> {
        self.with_backend(|backend| migrator.current_heads(backend))
            .map_err(CliError::from)
    }
}

/// `--url`, else `DATABASE_URL`, else the configuration's `url`. Every password met is
/// registered for masking before anything can print it.
fn pick_url(
    flag: Option<&str>,
    env: Option<String>,
    config: &Config,
) -> CliResult<Option<DatabaseUrl>> {
    let (text, origin) = match (flag, env.filter(|e| !e.trim().is_empty())) {
        (Some(flag), _) => (flag.to_string(), "--url"),
        (None, Some(env)) => (env, "DATABASE_URL"),
        (None, None) => {
            let url = config.database_url().map_err(config_error)?;
            if let Some(pw) = url.as_ref().and_then(DatabaseUrl::password) {
                register_secret(pw);
            }
            return Ok(url);
        }
    };
    let url = DatabaseUrl::parse(&text).map_err(|e| CliError::failed(format!("{origin}: {e}")))?;
    if let Some(pw) = url.password() {
        register_secret(pw);
    }
    Ok(Some(url))
}

pub fn config_error(e: alembic_core::config::ConfigError) -> CliError {
    CliError::with_hint(
        e.to_string(),
        "fix the configuration; `cargo alembic init` writes a documented alembic.toml",
    )
}

/// SPEC section 3's search: `-c FILE`; else `alembic.toml` in the current directory (unless
/// `--manifest-path`/`-p` name a package); else `alembic.toml` beside the package's Cargo.toml;
/// else its `[package.metadata.alembic]`.
fn find_config(global: &GlobalOpts, cwd: &Path) -> CliResult<Config> {
    if let Some(path) = &global.config {
        if !path.is_file() {
            return Err(CliError::with_hint(
                format!("No config file {} found", path.display()),
                "check the path given to -c/--config",
            ));
        }
        return load_file(path);
    }
    let explicit_package = global.manifest_path.is_some() || global.package.is_some();
    if !explicit_package {
        let local = cwd.join(CONFIG_FILE);
        if local.is_file() {
            return load_file(&local);
        }
    }
    let manifest = match find_package_manifest(global, cwd)? {
        Some(m) => m,
        None => {
            return Err(CliError::with_hint(
                format!(
                    "No configuration found: no {CONFIG_FILE} in {} and no Cargo.toml above it",
                    cwd.display()
                ),
                "run `cargo alembic init`, or pass -c FILE",
            ))
        }
    };
    // The package's own alembic.toml, for commands run from a subfolder (src/) or with
    // --manifest-path / -p.
    if let Some(dir) = manifest.parent() {
        let beside = dir.join(CONFIG_FILE);
        if beside.is_file() {
            return load_file(&beside);
        }
    }
    metadata_config(global, &manifest)
}

fn load_file(path: &Path) -> CliResult<Config> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    Config::load(&path).map_err(config_error)
}

/// `[package.metadata.alembic]` of the package at `manifest`, through `cargo metadata`.
fn metadata_config(global: &GlobalOpts, manifest: &Path) -> CliResult<Config> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(manifest)
        .no_deps()
        .exec()
        .map_err(|e| {
            CliError::failed(format!(
                "cargo metadata failed for {}: {e}",
                manifest.display()
            ))
        })?;
    let package = metadata
        .packages
        .iter()
        .find(|p| match &global.package {
            Some(name) => p.name.as_str() == name.as_str(),
            None => p.manifest_path.as_std_path() == manifest,
        })
        .ok_or_else(|| {
            CliError::failed(format!(
                "package {} not found in the workspace of {}",
                global.package.as_deref().unwrap_or("?"),
                manifest.display()
            ))
        })?;
    let manifest_path = package.manifest_path.as_std_path();
    match package.metadata.get("alembic") {
        Some(table) => Config::from_json(table, manifest_path).map_err(config_error),
        None => Err(CliError::with_hint(
            format!(
                "No configuration found: no {CONFIG_FILE} in {} and no [package.metadata.alembic] in {}",
                manifest_path.parent().unwrap_or(manifest_path).display(),
                manifest_path.display()
            ),
            "run `cargo alembic init`, or pass -c FILE",
        )),
    }
}

/// The Cargo.toml of the package to work on: `--manifest-path`; `-p NAME` (through cargo
/// metadata); else the nearest Cargo.toml at or above `cwd`. `None` when there is none. A
/// workspace manifest without `[package]` is an error unless `-p` picks a member.
pub fn find_package_manifest(global: &GlobalOpts, cwd: &Path) -> CliResult<Option<PathBuf>> {
    if let Some(name) = &global.package {
        let mut cmd = cargo_metadata::MetadataCommand::new();
        cmd.no_deps().current_dir(cwd);
        if let Some(path) = &global.manifest_path {
            cmd.manifest_path(path);
        }
        let metadata = cmd
            .exec()
            .map_err(|e| CliError::failed(format!("cargo metadata failed: {e}")))?;
        let package = metadata
            .packages
            .iter()
            .find(|p| p.name.as_str() == name.as_str())
            .ok_or_else(|| {
                let names: Vec<&str> = metadata.packages.iter().map(|p| p.name.as_str()).collect();
                CliError::with_hint(
                    format!("package `{name}` is not in the workspace"),
                    format!("packages: {}", names.join(", ")),
                )
            })?;
        return Ok(Some(package.manifest_path.clone().into_std_path_buf()));
    }
    if let Some(path) = &global.manifest_path {
        if !path.is_file() {
            return Err(CliError::failed(format!(
                "manifest path `{}` does not exist",
                path.display()
            )));
        }
        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        return Ok(Some(path));
    }
    for dir in cwd.ancestors() {
        let candidate = dir.join("Cargo.toml");
        if !candidate.is_file() {
            continue;
        }
        let text =
            std::fs::read_to_string(&candidate).map_err(|e| CliError::io("read", &candidate, e))?;
        return match crate::manifest::has_package(&text) {
            Ok(true) => Ok(Some(candidate)),
            Ok(false) => Err(CliError::with_hint(
                format!("{} is a workspace manifest without [package]", candidate.display()),
                "run the command in a package's folder, or pick one with -p NAME or --manifest-path",
            )),
            Err(e) => Err(CliError::failed(format!("{}: {e}", candidate.display()))),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with_url(url: Option<&str>) -> Config {
        let mut c = Config::defaults(Path::new("/p/alembic.toml"));
        c.url = url.map(str::to_string);
        c
    }

    #[test]
    fn url_precedence_flag_then_env_then_file() {
        let c = config_with_url(Some("sqlite:///file.db"));
        let pick = |flag: Option<&str>, env: Option<&str>| {
            pick_url(flag, env.map(str::to_string), &c)
                .unwrap()
                .map(|u| u.masked())
        };
        assert_eq!(
            pick(Some("sqlite:///flag.db"), Some("sqlite:///env.db")).as_deref(),
            Some("sqlite:///flag.db")
        );
        assert_eq!(
            pick(None, Some("sqlite:///env.db")).as_deref(),
            Some("sqlite:///env.db")
        );
        assert_eq!(pick(None, Some("  ")).as_deref(), Some("sqlite:///file.db"));
        assert_eq!(pick(None, None).as_deref(), Some("sqlite:///file.db"));
        let none = config_with_url(None);
        assert!(pick_url(None, None, &none).unwrap().is_none());
    }

    #[test]
    fn bad_urls_name_their_origin_and_passwords_are_registered() {
        let c = config_with_url(None);
        let e = pick_url(Some("nonsense"), None, &c).expect_err("error");
        assert!(e.to_string().starts_with("--url: "), "{e}");
        let _ = pick_url(None, Some("postgresql://u:hunter22@h/db".into()), &c).unwrap();
        assert_eq!(crate::error::mask_secrets("x hunter22 y"), "x *** y");
    }

    #[test]
    fn lock_settings_reach_the_run_options() {
        let mut config = config_with_url(None);
        let project = Project {
            config: config.clone(),
            url: None,
        };
        let options = project.run_options();
        assert_eq!(
            options.lock_timeout,
            Some(std::time::Duration::from_secs(60))
        );
        assert_eq!(options.lock_mode, alembic_runtime::LockMode::Advisory);
        config.lock_timeout = 3;
        config.lock = alembic_core::config::LockMode::Lease;
        let options = Project { config, url: None }.run_options();
        assert_eq!(
            options.lock_timeout,
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(options.lock_mode, alembic_runtime::LockMode::Lease);
    }
}
