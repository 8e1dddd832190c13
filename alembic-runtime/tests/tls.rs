//! TLS where the URL asks for it.
//!
//! PostgreSQL (`ALEMBIC_TEST_POSTGRES_URL`): the test server runs with `ssl = on` and Debian's
//! snakeoil certificate (self-signed, for `localhost`); the session's encryption is read from
//! `pg_stat_ssl`, the server's own view. MySQL/MariaDB (`ALEMBIC_TEST_MYSQL_URL`): the shared
//! test server has TLS off, so those tests check the parameters and that a URL demanding TLS
//! is refused rather than served in plaintext; and a private MariaDB with TLS on (a temporary
//! data directory, a certificate made by `openssl`, a free loopback port), started and stopped
//! by the test itself, checks the encrypted sessions without touching the shared server.

#![cfg(any(feature = "postgres", feature = "mysql"))]

mod support;

use support::*;

/// `url` with `params` appended to its query.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// `url` with a password (which the test servers ignore: trust / no password) and `params`,
/// so that messages can be checked for it.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn with_password(url: &str, params: &str) -> String {
    let url = with_params(url, params);
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, rest) = rest.split_once('@').expect("the test URL names a user");
    format!("{scheme}://{user}:Sup3rSecret@{rest}")
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use alembic_core::url::DatabaseUrl;
    use alembic_runtime::{Backend, PostgresBackend};

    const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

    fn url() -> Option<String> {
        let url = server_url("ALEMBIC_TEST_POSTGRES_URL", "PostgreSQL")?;
        let parsed = DatabaseUrl::parse(&url).expect("the test URL parses");
        if let Err(e) = PostgresBackend::connect_url(&parsed) {
            server_unreachable("PostgreSQL", &parsed.masked(), &e);
            return None;
        }
        Some(url)
    }

    fn connect(url: &str) -> Result<PostgresBackend<'static>, String> {
        let parsed = DatabaseUrl::parse(url).map_err(|e| e.to_string())?;
        PostgresBackend::connect_url(&parsed).map_err(|e| e.to_string())
    }

    /// The server's view of the session: `true <version>` when encrypted, `false` when not.
    fn session_ssl(backend: &mut PostgresBackend<'_>) -> String {
        backend
            .query_strings(
                "SELECT ssl::text || coalesce(' ' || version, '') FROM pg_stat_ssl \
                 WHERE pid = pg_backend_pid()",
                &[],
            )
            .expect("pg_stat_ssl")
            .concat()
    }

    fn server_has_ssl(url: &str) -> bool {
        let mut backend = connect(url).expect("connect");
        backend
            .query_strings("SELECT current_setting('ssl')", &[])
            .expect("ssl setting")
            .concat()
            == "on"
    }

    /// `localhost` instead of the URL's host: the name the snakeoil certificate holds.
    fn as_localhost(url: &str) -> String {
        let parsed = DatabaseUrl::parse(url).expect("the test URL parses");
        let host = parsed.host().expect("a host");
        url.replacen(&format!("@{host}"), "@localhost", 1)
    }

    #[test]
    fn sslmode_require_encrypts_the_session() {
        let Some(url) = url() else { return };
        assert!(
            server_has_ssl(&url),
            "the test server must run with ssl = on (see .ci/run)"
        );
        let mut backend = connect(&with_params(&url, "sslmode=require")).expect("require");
        let ssl = session_ssl(&mut backend);
        assert!(ssl.starts_with("true TLSv1."), "pg_stat_ssl says {ssl:?}");

        // The default is libpq's `prefer`: TLS when the server offers it.
        let mut backend = connect(&url).expect("prefer");
        assert!(session_ssl(&mut backend).starts_with("true "));

        let mut backend = connect(&with_params(&url, "sslmode=disable")).expect("disable");
        assert_eq!(session_ssl(&mut backend), "false");
    }

    #[test]
    fn verify_ca_and_verify_full_check_the_certificate() {
        let Some(url) = url() else { return };
        // The snakeoil certificate signs itself: as sslrootcert it is its own CA.
        let mut backend = connect(&with_params(
            &url,
            &format!("sslmode=verify-ca&sslrootcert={SNAKEOIL}"),
        ))
        .expect("verify-ca with the right CA");
        assert!(session_ssl(&mut backend).starts_with("true "));

        // verify-full: the certificate is for `localhost`, so connecting by that name passes
        let localhost = with_params(
            &as_localhost(&url),
            &format!("sslmode=verify-full&sslrootcert={SNAKEOIL}"),
        );
        let mut backend = connect(&localhost).expect("verify-full by the certificate's name");
        assert!(session_ssl(&mut backend).starts_with("true "));

        // ... and by an address the certificate does not name fails.
        if !url.contains("@localhost") {
            let error = connect(&with_password(
                &url,
                &format!("sslmode=verify-full&sslrootcert={SNAKEOIL}"),
            ))
            .err()
            .expect("verify-full by another name fails");
            assert!(error.contains("certificate"), "{error}");
            assert!(!error.contains("Sup3rSecret"), "password shown: {error}");
        }
    }

    #[test]
    fn verify_full_against_a_wrong_ca_fails_clearly() {
        let Some(url) = url() else { return };
        // The machine's public CAs did not sign the snakeoil certificate.
        let wrong_ca = "/etc/ssl/certs/ca-certificates.crt";
        assert!(
            std::path::Path::new(wrong_ca).is_file(),
            "{wrong_ca}: the ca-certificates package is needed"
        );
        let error = connect(&with_password(
            &as_localhost(&url),
            &format!("sslmode=verify-full&sslrootcert={wrong_ca}"),
        ))
        .err()
        .expect("a certificate no given CA signed is refused");
        for part in [
            "cannot connect to postgresql://",
            "certificate verify failed",
            "sslmode=verify-full, sslrootcert=/etc/ssl/certs/ca-certificates.crt",
            "check that sslrootcert is the CA that signed the server's certificate",
        ] {
            assert!(error.contains(part), "{part:?} missing from: {error}");
        }
        assert!(!error.contains("Sup3rSecret"), "password shown: {error}");

        // `require` with a root certificate verifies it, as in libpq.
        let error = connect(&with_params(
            &url,
            &format!("sslmode=require&sslrootcert={wrong_ca}"),
        ))
        .err()
        .expect("require + sslrootcert verifies");
        assert!(error.contains("certificate verify failed"), "{error}");
    }

    #[test]
    fn bad_tls_parameters_are_refused_by_name() {
        let Some(url) = url() else { return };
        let error = connect(&with_password(&url, "sslmode=always"))
            .err()
            .expect("unknown sslmode");
        assert!(
            error.contains("sslmode=always is not one of disable, allow, prefer, require"),
            "{error}"
        );
        assert!(!error.contains("Sup3rSecret"), "password shown: {error}");
        let error = connect(&with_params(
            &url,
            "sslmode=verify-ca&sslrootcert=/nonexistent/root.crt",
        ))
        .err()
        .expect("missing root certificate");
        assert!(
            error.contains("cannot read sslrootcert /nonexistent/root.crt"),
            "{error}"
        );
        let error = connect(&with_params(&url, "sslmode=require&sslcert=/c.pem"))
            .err()
            .expect("client certificates");
        assert!(
            error.contains("sslcert: client certificates are not supported"),
            "{error}"
        );
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;
    use alembic_core::url::DatabaseUrl;
    use alembic_runtime::{Backend, MysqlBackend};

    fn url() -> Option<String> {
        let url = server_url("ALEMBIC_TEST_MYSQL_URL", "MySQL")?;
        let parsed = DatabaseUrl::parse(&url).expect("the test URL parses");
        if let Err(e) = MysqlBackend::connect_url(&parsed) {
            server_unreachable("MySQL", &parsed.masked(), &e);
            return None;
        }
        Some(url)
    }

    fn connect(url: &str) -> Result<MysqlBackend<'static>, String> {
        let parsed = DatabaseUrl::parse(url).map_err(|e| e.to_string())?;
        MysqlBackend::connect_url(&parsed).map_err(|e| e.to_string())
    }

    /// Whether the server has TLS (`have_ssl` = YES).
    fn server_has_ssl(url: &str) -> bool {
        let mut backend = connect(url).expect("connect");
        backend
            .query_strings("SELECT @@have_ssl", &[])
            .expect("have_ssl")
            .concat()
            == "YES"
    }

    /// The session's cipher; empty when it is not encrypted.
    fn session_cipher(backend: &mut MysqlBackend<'_>) -> String {
        backend
            .query_strings(
                "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
                 WHERE VARIABLE_NAME = 'Ssl_cipher'",
                &[],
            )
            .expect("Ssl_cipher")
            .concat()
    }

    #[test]
    fn a_url_demanding_tls_is_never_served_in_plaintext() {
        let Some(url) = url() else { return };
        if server_has_ssl(&url) {
            // A server with TLS: the demanded session is encrypted.
            for params in ["ssl-mode=REQUIRED", "ssl_mode=required", "ssl=true"] {
                let mut backend = connect(&with_params(&url, params)).expect(params);
                assert!(!session_cipher(&mut backend).is_empty(), "{params}");
            }
            return;
        }
        for params in ["ssl-mode=REQUIRED", "ssl_mode=VERIFY_IDENTITY", "ssl=true"] {
            let error = connect(&with_password(&url, params))
                .err()
                .unwrap_or_else(|| panic!("{params}: plaintext was accepted"));
            assert!(error.contains("cannot connect to mysql://"), "{error}");
            assert!(
                error.contains("the server does not offer TLS (have_ssl is not YES)"),
                "{params}: {error}"
            );
            assert!(!error.contains("Sup3rSecret"), "password shown: {error}");
        }
        // PREFERRED falls back to plaintext, as the MySQL client does.
        let mut backend = connect(&with_params(&url, "ssl-mode=PREFERRED")).expect("preferred");
        assert_eq!(session_cipher(&mut backend), "");
        let mut backend = connect(&with_params(&url, "ssl-mode=DISABLED")).expect("disabled");
        assert_eq!(session_cipher(&mut backend), "");
    }

    #[test]
    fn bad_tls_parameters_are_refused_by_name() {
        let Some(url) = url() else { return };
        let error = connect(&with_password(&url, "ssl-mode=ALWAYS"))
            .err()
            .expect("unknown mode");
        assert!(
            error.contains("ssl-mode=ALWAYS is not one of DISABLED, PREFERRED, REQUIRED"),
            "{error}"
        );
        assert!(!error.contains("Sup3rSecret"), "password shown: {error}");
        for params in [
            "ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem",
            "ssl_ca=/nonexistent/ca.pem",
        ] {
            let error = connect(&with_params(&url, params))
                .err()
                .unwrap_or_else(|| panic!("{params}: accepted"));
            assert!(
                error.contains("cannot read ssl-ca /nonexistent/ca.pem"),
                "{error}"
            );
        }
        let error = connect(&with_params(&url, "ssl-mode=REQUIRED&ssl-cert=/c.pem"))
            .err()
            .expect("client certificates");
        assert!(
            error.contains("ssl-cert: client certificates are not supported"),
            "{error}"
        );
    }
}

/// A MariaDB server of the test's own, with TLS on: `mariadb-install-db` into a temporary
/// directory, a self-signed certificate for `localhost` (not for `127.0.0.1`) made by
/// `openssl`, `mariadbd` on a free loopback port. Stopped (its child process killed) and
/// deleted when dropped. Needs the MariaDB server and openssl binaries, which the test
/// machine has (the shared test server is one).
#[cfg(feature = "mysql")]
struct TlsMariadb {
    dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
    /// Whether root's password is set yet (`Sup3rSecret`, so that messages can be checked
    /// for it).
    password: bool,
}

#[cfg(feature = "mysql")]
impl TlsMariadb {
    /// Starts the server; `None` (after a loud skip, or a failure under
    /// `ALEMBIC_TEST_REQUIRE_ALL=1`) when a binary is missing.
    fn start() -> Option<TlsMariadb> {
        use std::process::{Command, Stdio};

        let tools = ["mariadb-install-db", "openssl"];
        let server = ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file());
        let missing: Vec<&str> = tools
            .into_iter()
            .filter(|t| {
                Command::new("sh")
                    .args(["-c", &format!("command -v {t}")])
                    .stdout(Stdio::null())
                    .status()
                    .map_or(true, |s| !s.success())
            })
            .collect();
        if server.is_none() || !missing.is_empty() {
            let why = format!("mariadbd, mariadb-install-db or openssl is missing ({missing:?})");
            assert!(!require_all(), "ALEMBIC_TEST_REQUIRE_ALL=1 but {why}");
            loud_skip("the MariaDB TLS test", &why);
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        let run = |cmd: &mut Command, what: &str| {
            let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                out.status.success(),
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", path("data").display()))
                .args([
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ]),
            "mariadb-install-db",
        );
        run(
            Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args([
                    "-subj",
                    "/CN=localhost",
                    "-addext",
                    "subjectAltName=DNS:localhost",
                ])
                .arg("-keyout")
                .arg(path("key.pem"))
                .arg("-out")
                .arg(path("cert.pem")),
            "openssl req",
        );
        // A port the system just gave out and took back: free unless another process grabs it
        // in between, which the start's error would say.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(server.unwrap_or_default())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", path("data").display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", path("sock").display()))
            .arg(format!("--pid-file={}", path("pid").display()))
            .arg(format!("--log-error={}", path("err.log").display()))
            .arg(format!("--ssl-cert={}", path("cert.pem").display()))
            .arg(format!("--ssl-key={}", path("key.pem").display()))
            .args([
                "--user=root",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let mut server = TlsMariadb {
            dir,
            port,
            child,
            password: false,
        };
        // Wait for it to accept connections: a bound, not a timed assertion.
        for _ in 0..120 {
            if let Ok(mut root) = server.connect("") {
                use alembic_runtime::Backend;
                root.execute_batch("ALTER USER root@localhost IDENTIFIED BY 'Sup3rSecret'")
                    .expect("set root's password");
                server.password = true;
                return Some(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(server.dir.path().join("err.log"));
                panic!("mariadbd exited ({status}): {}", log.unwrap_or_default());
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        let log = std::fs::read_to_string(server.dir.path().join("err.log"));
        panic!("mariadbd did not start: {}", log.unwrap_or_default());
    }

    fn cert(&self) -> String {
        self.dir.path().join("cert.pem").display().to_string()
    }

    fn url(&self, host: &str, params: &str) -> String {
        let password = if self.password { ":Sup3rSecret" } else { "" };
        let url = format!("mysql://root{password}@{host}:{}/mysql", self.port);
        if params.is_empty() {
            url
        } else {
            format!("{url}?{params}")
        }
    }

    /// A backend to `127.0.0.1` with `params`.
    fn connect(&self, params: &str) -> Result<alembic_runtime::MysqlBackend<'static>, String> {
        self.connect_to("127.0.0.1", params)
    }

    fn connect_to(
        &self,
        host: &str,
        params: &str,
    ) -> Result<alembic_runtime::MysqlBackend<'static>, String> {
        let url = alembic_core::url::DatabaseUrl::parse(&self.url(host, params))
            .map_err(|e| e.to_string())?;
        alembic_runtime::MysqlBackend::connect_url(&url).map_err(|e| e.to_string())
    }
}

#[cfg(feature = "mysql")]
impl Drop for TlsMariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The session's cipher as the server reports it; empty when not encrypted.
#[cfg(feature = "mysql")]
fn cipher(backend: &mut alembic_runtime::MysqlBackend<'_>) -> String {
    use alembic_runtime::Backend;
    backend
        .query_strings(
            "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
             WHERE VARIABLE_NAME = 'Ssl_cipher'",
            &[],
        )
        .expect("Ssl_cipher")
        .concat()
}

#[cfg(feature = "mysql")]
#[test]
fn mariadb_with_tls_encrypts_and_verifies_as_the_url_asks() {
    let Some(server) = TlsMariadb::start() else {
        return;
    };
    let cert = server.cert();

    // Unverified modes encrypt; no TLS parameter stays plaintext, as PyMySQL.
    for params in ["ssl-mode=REQUIRED", "ssl_mode=preferred", "ssl=true"] {
        let mut backend = server.connect(params).expect(params);
        assert!(!cipher(&mut backend).is_empty(), "{params}: not encrypted");
    }
    let mut plain = server.connect("").expect("no TLS parameter");
    assert_eq!(cipher(&mut plain), "");
    let mut plain = server.connect("ssl-mode=DISABLED").expect("DISABLED");
    assert_eq!(cipher(&mut plain), "");

    // VERIFY_CA: the right CA passes (also as SQLAlchemy's ssl_ca), another CA does not.
    for params in [
        format!("ssl-mode=VERIFY_CA&ssl-ca={cert}"),
        format!("ssl_ca={cert}"),
    ] {
        let mut backend = server.connect(&params).expect(&params);
        assert!(!cipher(&mut backend).is_empty(), "{params}");
    }
    let wrong_ca = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    if std::path::Path::new(wrong_ca).is_file() {
        let error = server
            .connect(&format!("ssl-mode=VERIFY_CA&ssl-ca={wrong_ca}"))
            .err()
            .expect("another CA is refused");
        assert!(error.contains("certificate verify failed"), "{error}");
        assert!(error.contains("ssl-ca is the CA that signed"), "{error}");
        assert!(!error.contains("Sup3rSecret"), "password shown: {error}");
    }

    // VERIFY_IDENTITY: the certificate names `localhost`, not `127.0.0.1`.
    let identity = format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={cert}");
    let mut backend = server
        .connect_to("localhost", &identity)
        .expect("the certificate's own name");
    assert!(!cipher(&mut backend).is_empty());
    let error = server
        .connect(&identity)
        .err()
        .expect("an address the certificate does not name");
    assert!(error.contains("certificate"), "{error}");
    assert!(!error.contains("Sup3rSecret"), "password shown: {error}");

    // A whole run over TLS, with the lease lock, whose heartbeat connects the same way.
    {
        use alembic_runtime::{Backend, LockMode, Migrator, RunOptions};
        let mut admin = server.connect("ssl-mode=REQUIRED").expect("admin");
        admin
            .execute_batch("CREATE DATABASE tls_run")
            .expect("create database");
        let mut options = RunOptions::default();
        options.version_table_schema = Some("tls_run".to_string());
        options.lock_mode = LockMode::Lease;
        let scripts = directory(vec![script(
            "r1",
            &[],
            "CREATE TABLE tls_run.t (x INTEGER);",
            Some("DROP TABLE tls_run.t;"),
        )]);
        let mut backend = server
            .connect_to("localhost", &identity)
            .expect("VERIFY_IDENTITY");
        let report = Migrator::new(&scripts, options)
            .upgrade(&mut backend, "head")
            .expect("a run over TLS");
        assert_eq!(report.applied.len(), 1);
        assert!(!cipher(&mut backend).is_empty());
    }
}
