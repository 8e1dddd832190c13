//! The team rule for the server suites (`tests/postgres.rs`, `tests/mysql.rs`): they read their
//! URL from `ALEMBIC_TEST_POSTGRES_URL` / `ALEMBIC_TEST_MYSQL_URL` and never fall back to a
//! default; unset, they skip loudly, unless `ALEMBIC_TEST_REQUIRE_ALL=1`, where they fail.

#[macro_use]
mod support;

use support::server_url_from;

#[test]
fn server_urls_are_never_defaulted() {
    let var = "ALEMBIC_TEST_SOME_URL";
    assert_eq!(
        server_url_from(var, Some("postgresql://h/db"), false),
        Ok(Some("postgresql://h/db".to_string()))
    );
    assert_eq!(
        server_url_from(var, Some("postgresql://h/db"), true),
        Ok(Some("postgresql://h/db".to_string()))
    );
    assert_eq!(server_url_from(var, None, false), Ok(None), "unset: skip");
    assert_eq!(
        server_url_from(var, Some(" "), false),
        Ok(None),
        "empty: skip"
    );
    let err = server_url_from(var, None, true).expect_err("unset under REQUIRE_ALL fails");
    assert!(err.contains(var), "{err}");
    assert!(server_url_from(var, Some(""), true).is_err());
}
