//! TLS where the URL asks for it.
//!
//! PostgreSQL (`ALEMBIC_TEST_POSTGRES_URL`): the test server runs with `ssl = on` and Debian's
//! snakeoil certificate (self-signed, for `localhost`); the session's encryption is read from
//! `pg_stat_ssl`, the server's own view. MySQL/MariaDB (`ALEMBIC_TEST_MYSQL_URL`): the shared
//! test server has TLS off, so these tests check the parameters and that a URL demanding TLS
//! is refused rather than served in plaintext.

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
