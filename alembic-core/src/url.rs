//! Database URLs in SQLAlchemy's forms (SPEC section 3), so that a URL copied from a Python
//! project's `alembic.ini` works unchanged:
//!
//! | URL | meaning |
//! | --- | --- |
//! | `sqlite:///relative.db` | a SQLite file relative to the config file's folder |
//! | `sqlite:////abs/path.db` | a SQLite file at an absolute path |
//! | `sqlite://`, `sqlite:///:memory:` | SQLite in memory |
//! | `postgresql://user:pass@host:5432/db?sslmode=require` (or `postgres://`) | PostgreSQL |
//! | `mysql://user:pass@host:3306/db` (or `mariadb://`) | MySQL / MariaDB |
//!
//! A driver suffix (`postgresql+psycopg2://`, `mysql+pymysql://`) is accepted and ignored. As in
//! SQLAlchemy, the user name, password and database are percent-decoded, and query values are
//! form-decoded.
//!
//! A password is never printed: [`DatabaseUrl`]'s `Display` and `Debug` show it as `***`, and
//! [`UrlError`] messages carry only masked text. The real password is reachable through
//! [`DatabaseUrl::password`] for the backends that connect.

use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

/// The database family a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    /// Lowercase name, as used in messages and `--sql` headers.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgresql",
            Dialect::Mysql => "mysql",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a SQLite URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqliteTarget {
    /// An in-memory database (`sqlite://`, `sqlite:///:memory:`).
    Memory,
    /// A database file; relative URLs are already resolved against the base folder.
    File(PathBuf),
}

/// Why a string is not a usable database URL. Messages never contain a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    #[error(
        "the database URL is empty; set `url` in alembic.toml, DATABASE_URL or --url \
         (e.g. sqlite:///app.db)"
    )]
    Empty,
    #[error(
        "{url:?} is not a database URL: expected `dialect://...`, e.g. sqlite:///app.db or \
         postgresql://user:password@host/db"
    )]
    MissingScheme { url: String },
    #[error(
        "unsupported database {scheme:?} in {url:?}; use sqlite, postgresql (postgres) or \
         mysql (mariadb), optionally with a driver suffix such as postgresql+psycopg2"
    )]
    UnsupportedScheme { scheme: String, url: String },
    #[error("invalid port {port:?} in {url:?}; a port is a number from 0 to 65535")]
    InvalidPort { port: String, url: String },
    #[error("unclosed `[` in the host of {url:?}; write an IPv6 host as [::1]")]
    InvalidHost { url: String },
    #[error("unexpected {rest:?} after the host in {url:?}; the database name follows a `/`")]
    TrailingText { rest: String, url: String },
    #[error(
        "a SQLite URL has no host, user or port: {url:?}; write sqlite:///relative.db, \
         sqlite:////absolute/path.db or sqlite:// for memory"
    )]
    SqliteWithHost { url: String },
}

/// A parsed database URL. `Display` and `Debug` mask the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    original: String,
    /// Byte range of the (still encoded) password in `original`, for masking.
    password_span: Option<Range<usize>>,
    dialect: Dialect,
    backend: String,
    driver: Option<String>,
    username: Option<String>,
    password: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    query: Vec<(String, String)>,
}

/// The pieces of `scheme://[user[:password]@][host][:port][/database][?query]`, as byte ranges
/// of the input, before decoding. Shared by [`DatabaseUrl::parse`] and [`mask_password`] so that
/// both agree on where the password is.
struct Parts {
    scheme: Range<usize>,
    username: Option<Range<usize>>,
    password: Option<Range<usize>>,
    /// After the userinfo: `host[:port]` and what follows.
    rest: Range<usize>,
}

/// Splits off the scheme and the user info, following SQLAlchemy's URL pattern: the user name
/// holds no `:` or `/`, the password runs up to the first `@`.
fn split_parts(text: &str) -> Option<Parts> {
    let sep = text.find("://")?;
    let scheme = &text[..sep];
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '+')
    {
        return None;
    }
    let after = sep + 3;
    let tail = &text[after..];
    let mut username = None;
    let mut password = None;
    let mut rest_start = after;
    if let Some(at) = tail.find('@') {
        let userinfo = &tail[..at];
        let user_end = userinfo.find(':').unwrap_or(userinfo.len());
        if !userinfo[..user_end].contains('/') {
            username = Some(after..after + user_end);
            if user_end < userinfo.len() {
                password = Some(after + user_end + 1..after + at);
            }
            rest_start = after + at + 1;
        }
    }
    Some(Parts {
        scheme: 0..sep,
        username,
        password,
        rest: rest_start..text.len(),
    })
}

/// `text` with the password of a URL replaced by `***`, even when the URL does not parse;
/// for messages about strings that may be URLs.
pub fn mask_password(text: &str) -> String {
    match split_parts(text).and_then(|p| p.password) {
        Some(span) => format!("{}***{}", &text[..span.start], &text[span.end..]),
        None => text.to_string(),
    }
}

/// SQLAlchemy's `unquote`: `%xx` becomes the byte; anything malformed stays as written.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                let h = std::str::from_utf8(h).ok()?;
                u8::from_str_radix(h, 16).ok()
            });
            if let Some(value) = hex {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl DatabaseUrl {
    /// Parses a URL in one of SQLAlchemy's forms (see the module documentation).
    pub fn parse(text: &str) -> Result<DatabaseUrl, UrlError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UrlError::Empty);
        }
        let masked = mask_password(text);
        let parts = split_parts(text).ok_or_else(|| UrlError::MissingScheme {
            url: masked.clone(),
        })?;
        let scheme = text[parts.scheme.clone()].to_ascii_lowercase();
        let (backend, driver) = match scheme.split_once('+') {
            Some((backend, driver)) => (backend.to_string(), Some(driver.to_string())),
            None => (scheme.clone(), None),
        };
        let dialect = match backend.as_str() {
            "sqlite" => Dialect::Sqlite,
            "postgresql" | "postgres" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::Mysql,
            _ => {
                return Err(UrlError::UnsupportedScheme {
                    scheme: text[parts.scheme].to_string(),
                    url: masked,
                })
            }
        };

        // host[:port][/database][?query]
        let rest = &text[parts.rest.clone()];
        let (before_query, query_text) = match rest.find('?') {
            Some(q) => (&rest[..q], Some(&rest[q + 1..])),
            None => (rest, None),
        };
        let (hostport, database) = match before_query.find('/') {
            Some(slash) => (&before_query[..slash], Some(&before_query[slash + 1..])),
            None => (before_query, None),
        };
        let (host, port_text) = if let Some(inner) = hostport.strip_prefix('[') {
            let close = inner.find(']').ok_or_else(|| UrlError::InvalidHost {
                url: masked.clone(),
            })?;
            let after = &inner[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => {
                    return Err(UrlError::TrailingText {
                        rest: after.to_string(),
                        url: masked,
                    })
                }
            };
            (Some(&inner[..close]), port)
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (Some(host), Some(port)),
                None => (Some(hostport), None),
            }
        };
        let host = host.filter(|h| !h.is_empty()).map(str::to_string);
        let port = match port_text {
            None | Some("") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| UrlError::InvalidPort {
                port: p.to_string(),
                url: masked.clone(),
            })?),
        };

        let username = parts
            .username
            .clone()
            .map(|r| percent_decode(&text[r], false));
        let password = parts
            .password
            .clone()
            .map(|r| percent_decode(&text[r], false));
        let database = database.map(|d| percent_decode(d, false));
        let query = query_text
            .map(|q| {
                q.split('&')
                    .filter(|pair| !pair.is_empty())
                    .filter_map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        // As parse_qsl without keep_blank_values: blank values are dropped.
                        (!v.is_empty()).then(|| (percent_decode(k, true), percent_decode(v, true)))
                    })
                    .collect()
            })
            .unwrap_or_default();

        if dialect == Dialect::Sqlite
            && (host.is_some() || port.is_some() || parts.username.is_some())
        {
            return Err(UrlError::SqliteWithHost { url: masked });
        }

        Ok(DatabaseUrl {
            original: text.to_string(),
            password_span: parts.password,
            dialect,
            backend,
            driver,
            username,
            password,
            host,
            port,
            database,
            query,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The scheme's database part as written, lowercased (`postgres`, `postgresql`, `mariadb`...).
    pub fn backend_name(&self) -> &str {
        &self.backend
    }

    /// The ignored driver suffix (`psycopg2` in `postgresql+psycopg2://`), if any.
    pub fn driver(&self) -> Option<&str> {
        self.driver.as_deref()
    }

    /// Decoded user name.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// Decoded password. Never print it: use [`DatabaseUrl::masked`] for messages.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Host, without the brackets of an IPv6 address. `None` for a local socket.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Decoded database name (for SQLite: the path as written, `:memory:` included).
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// Decoded query parameters in order; blank values are dropped, as SQLAlchemy does.
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The first value of query parameter `key`.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The URL as given, with its password. Only for handing to a database driver.
    pub fn unmasked(&self) -> &str {
        &self.original
    }

    /// The URL with the password replaced by `***`: what every message and log shows.
    pub fn masked(&self) -> String {
        match &self.password_span {
            Some(span) => format!(
                "{}***{}",
                &self.original[..span.start],
                &self.original[span.end..]
            ),
            None => self.original.clone(),
        }
    }

    /// For a SQLite URL, where the database lives; relative paths are resolved against
    /// `base_dir` (the config file's folder). `None` for other dialects.
    pub fn sqlite_path(&self, base_dir: &Path) -> Option<SqliteTarget> {
        if self.dialect != Dialect::Sqlite {
            return None;
        }
        Some(match self.database.as_deref() {
            None | Some("") | Some(":memory:") => SqliteTarget::Memory,
            Some(path) => {
                let path = Path::new(path);
                if path.is_absolute() {
                    SqliteTarget::File(path.to_path_buf())
                } else {
                    SqliteTarget::File(join_clean(base_dir, path))
                }
            }
        })
    }
}

/// `base.join(rel)` without the `.` components, so that `sqlite:///./data/x.db` shows as
/// `<base>/data/x.db`. `..` is kept: removing it lexically would be wrong through symlinks.
pub(crate) fn join_clean(base: &Path, rel: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for component in rel.components() {
        match component {
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

impl fmt::Display for DatabaseUrl {
    /// The masked URL: a password is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("url", &self.masked())
            .field("dialect", &self.dialect)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("query", &self.query)
            .finish()
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatabaseUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> DatabaseUrl {
        DatabaseUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn sqlite_forms() {
        let base = Path::new("/proj");
        assert_eq!(
            url("sqlite:///relative.db").sqlite_path(base),
            Some(SqliteTarget::File(PathBuf::from("/proj/relative.db")))
        );
        assert_eq!(
            url("sqlite:///./data/promptpilot.db").sqlite_path(base),
            Some(SqliteTarget::File(PathBuf::from(
                "/proj/data/promptpilot.db"
            )))
        );
        assert_eq!(
            url("sqlite:///../up.db").sqlite_path(base),
            Some(SqliteTarget::File(PathBuf::from("/proj/../up.db")))
        );
        assert_eq!(
            url("sqlite:////abs/path.db").sqlite_path(base),
            Some(SqliteTarget::File(PathBuf::from("/abs/path.db")))
        );
        assert_eq!(
            url("sqlite://").sqlite_path(base),
            Some(SqliteTarget::Memory)
        );
        assert_eq!(
            url("sqlite:///").sqlite_path(base),
            Some(SqliteTarget::Memory)
        );
        assert_eq!(
            url("sqlite:///:memory:").sqlite_path(base),
            Some(SqliteTarget::Memory)
        );
        let s = url("sqlite+pysqlite:///x.db?timeout=5");
        assert_eq!(s.dialect(), Dialect::Sqlite);
        assert_eq!(s.driver(), Some("pysqlite"));
        assert_eq!(s.query_param("timeout"), Some("5"));
        assert_eq!(s.database(), Some("x.db"));
        // A database path may contain `@` without being taken for user info.
        assert_eq!(
            url("sqlite:///dir@x/a.db").sqlite_path(base),
            Some(SqliteTarget::File(PathBuf::from("/proj/dir@x/a.db")))
        );
        assert_eq!(url("postgresql://h/db").sqlite_path(base), None);
    }

    #[test]
    fn postgres_forms_and_components() {
        let u = url("postgresql://user:pass@host:5432/db?sslmode=require&application_name=my+app");
        assert_eq!(u.dialect(), Dialect::Postgres);
        assert_eq!(u.username(), Some("user"));
        assert_eq!(u.password(), Some("pass"));
        assert_eq!(u.host(), Some("host"));
        assert_eq!(u.port(), Some(5432));
        assert_eq!(u.database(), Some("db"));
        assert_eq!(u.query_param("sslmode"), Some("require"));
        assert_eq!(u.query_param("application_name"), Some("my app"));
        assert_eq!(u.query().len(), 2);
        assert_eq!(u.driver(), None);

        let p = url("postgres://localhost/app");
        assert_eq!(p.dialect(), Dialect::Postgres);
        assert_eq!(p.backend_name(), "postgres");
        assert_eq!(p.username(), None);
        assert_eq!(p.password(), None);
        assert_eq!(p.port(), None);

        let d = url("postgresql+psycopg2://u@h/db");
        assert_eq!(d.dialect(), Dialect::Postgres);
        assert_eq!(d.driver(), Some("psycopg2"));
        assert_eq!(d.username(), Some("u"));
        assert_eq!(d.password(), None);

        let socket = url("postgresql:///db");
        assert_eq!(socket.host(), None);
        assert_eq!(socket.database(), Some("db"));

        let v6 = url("postgresql://u:p@[::1]:6543/db");
        assert_eq!(v6.host(), Some("::1"));
        assert_eq!(v6.port(), Some(6543));

        let no_db = url("postgresql://h:1");
        assert_eq!(no_db.database(), None);
    }

    #[test]
    fn mysql_and_mariadb() {
        let m = url("mysql+pymysql://root:secret@127.0.0.1:3306/test?charset=utf8mb4");
        assert_eq!(m.dialect(), Dialect::Mysql);
        assert_eq!(m.driver(), Some("pymysql"));
        assert_eq!(m.host(), Some("127.0.0.1"));
        assert_eq!(m.query_param("charset"), Some("utf8mb4"));
        assert_eq!(url("mariadb://h/db").dialect(), Dialect::Mysql);
        assert_eq!(url("MySQL://h/db").dialect(), Dialect::Mysql);
    }

    #[test]
    fn percent_decoding_of_user_password_and_database() {
        let u = url("postgresql://us%40er:p%40ss%3Aw%2Fd@h/my%20db");
        assert_eq!(u.username(), Some("us@er"));
        assert_eq!(u.password(), Some("p@ss:w/d"));
        assert_eq!(u.database(), Some("my db"));
        // Malformed escapes stay as written, as in SQLAlchemy.
        let bad = url("postgresql://u:100%zz%4@h/db");
        assert_eq!(bad.password(), Some("100%zz%4"));
        // A password may hold `/` and `:` unencoded: it runs to the first `@`.
        let slash = url("postgresql://u:a/b:c@h/db");
        assert_eq!(slash.password(), Some("a/b:c"));
        assert_eq!(slash.host(), Some("h"));
    }

    #[test]
    fn masking_never_shows_the_password() {
        let u = url("postgresql://user:s3cr%40t@host:5432/db");
        assert_eq!(u.masked(), "postgresql://user:***@host:5432/db");
        assert_eq!(u.to_string(), u.masked());
        let debug = format!("{u:?}");
        assert!(!debug.contains("s3cr"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
        assert_eq!(u.unmasked(), "postgresql://user:s3cr%40t@host:5432/db");

        let no_password = url("mysql://user@h/db");
        assert_eq!(no_password.masked(), "mysql://user@h/db");
        assert_eq!(url("sqlite:///x.db").to_string(), "sqlite:///x.db");

        assert_eq!(
            mask_password("postgresql://u:hunter2@h:bad/db"),
            "postgresql://u:***@h:bad/db"
        );
        assert_eq!(mask_password("not a url"), "not a url");
    }

    #[test]
    fn errors_are_clear_and_masked() {
        assert_eq!(DatabaseUrl::parse("  "), Err(UrlError::Empty));
        let e = DatabaseUrl::parse("app.db").unwrap_err();
        assert!(matches!(e, UrlError::MissingScheme { .. }), "{e}");
        assert!(e.to_string().contains("sqlite:///app.db"), "{e}");

        let e = DatabaseUrl::parse("oracle://u:topsecret@h/db").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("unsupported database \"oracle\""), "{msg}");
        assert!(!msg.contains("topsecret"), "{msg}");
        assert!(msg.contains("u:***@h"), "{msg}");

        let e = DatabaseUrl::parse("postgresql://u:topsecret@h:99999/db").unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, UrlError::InvalidPort { ref port, .. } if port == "99999"),
            "{msg}"
        );
        assert!(!msg.contains("topsecret"), "{msg}");
        assert!(DatabaseUrl::parse("postgresql://h:x/db").is_err());

        assert!(matches!(
            DatabaseUrl::parse("postgresql://[::1/db"),
            Err(UrlError::InvalidHost { .. })
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://[::1]x/db"),
            Err(UrlError::TrailingText { .. })
        ));
        let e = DatabaseUrl::parse("sqlite://host/x.db").unwrap_err();
        assert!(matches!(e, UrlError::SqliteWithHost { .. }), "{e}");
        assert!(e.to_string().contains("sqlite:///relative.db"), "{e}");
        assert!(DatabaseUrl::parse("sqlite://u:p@/x.db").is_err());
    }

    #[test]
    fn dialect_names() {
        assert_eq!(Dialect::Sqlite.to_string(), "sqlite");
        assert_eq!(Dialect::Postgres.name(), "postgresql");
        assert_eq!(Dialect::Mysql.name(), "mysql");
        let parsed: DatabaseUrl = "sqlite://".parse().expect("parses");
        assert_eq!(parsed.dialect(), Dialect::Sqlite);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics(text in "[ -~]{0,60}") {
                let _ = DatabaseUrl::parse(&text);
                let _ = mask_password(&text);
            }

            #[test]
            fn passwords_decode_and_never_show(
                scheme in prop_oneof![Just("postgresql"), Just("postgres"), Just("mysql+pymysql"), Just("mariadb")],
                user in "[a-z]{1,8}",
                // Any printable password, percent-encoded except for unreserved characters.
                password in "[ -~]{1,16}",
                host in "[a-z]{1,8}",
                port in proptest::option::of(any::<u16>()),
                db in "[a-z_]{0,8}",
            ) {
                let encoded: String = password
                    .bytes()
                    .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                    .collect();
                let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
                let text = format!("{scheme}://{user}:ZZ{encoded}@{host}{port_text}/{db}");
                let u = DatabaseUrl::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let expected = format!("ZZ{password}");
                prop_assert_eq!(u.password(), Some(expected.as_str()));
                prop_assert_eq!(u.username(), Some(user.as_str()));
                prop_assert_eq!(u.host(), Some(host.as_str()));
                prop_assert_eq!(u.port(), port);
                prop_assert_eq!(u.database(), Some(db.as_str()));
                let masked = u.to_string();
                prop_assert!(!masked.contains("ZZ"), "{}", masked);
                prop_assert_eq!(masked, format!("{scheme}://{user}:***@{host}{port_text}/{db}"));
                let debug = format!("{:?}", u);
                prop_assert!(!debug.contains("ZZ"), "{}", debug);
            }
        }
    }
}
