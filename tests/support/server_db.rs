//! A throw-away database on a PostgreSQL or MySQL server for the end-to-end tests, created and
//! dropped with the server's own command-line client (`psql`, `mysql`) so that the tests share
//! no code with the product. Each test file adds the queries it needs in an `impl ServerDb`
//! block of its own.

use std::io::Write;
use std::process::Command;

pub struct ServerDb {
    /// `"psql"` or `"mysql"`.
    pub client: &'static str,
    /// The server URL from the environment, used to create and drop the database.
    pub admin_url: String,
    /// The database's name.
    pub name: String,
    /// The URL of the database itself.
    pub url: String,
}

impl ServerDb {
    /// A new database named `<prefix>_<pid>_<nanos>` on the server of `env_var`; `None` (after
    /// a loud notice naming `what` did not run) when `env_var` is unset, unless CI requires
    /// every backend (ALEMBIC_TEST_REQUIRE_ALL=1), where it fails.
    pub fn create(
        env_var: &str,
        client: &'static str,
        prefix: &str,
        what: &str,
    ) -> Option<ServerDb> {
        let Ok(admin_url) = std::env::var(env_var) else {
            assert!(
                std::env::var("ALEMBIC_TEST_REQUIRE_ALL").map_or(true, |v| v != "1"),
                "ALEMBIC_TEST_REQUIRE_ALL=1 but {env_var} is not set"
            );
            // Straight to stderr: libtest hides eprintln! output of a passing test, and a
            // skipped backend must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "!!! SKIPPED: {env_var} is not set, so the {client} {what} did not run"
            );
            return None;
        };
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() % 1_000_000_000)
                .unwrap_or_default()
        );
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .expect("server URL ends in /database");
        let db = ServerDb {
            client,
            url: format!("{base}/{name}"),
            admin_url,
            name,
        };
        db.sql(&db.admin_url, &format!("CREATE DATABASE {}", db.name));
        Some(db)
    }

    /// Runs one statement with the server's client; returns its rows as tab-separated lines.
    pub fn sql(&self, url: &str, statement: &str) -> Vec<String> {
        let out = if self.client == "psql" {
            Command::new("psql")
                .args([
                    url,
                    "-X",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    statement,
                ])
                .output()
        } else {
            // mysql://user@host:port/db -> mysql -h host -P port -u user db
            let rest = url.trim_start_matches("mysql://");
            let (user, rest) = rest.split_once('@').unwrap_or(("root", rest));
            let (hostport, dbname) = rest.split_once('/').unwrap_or((rest, ""));
            let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
            Command::new("mysql")
                .args([
                    "-h", host, "-P", port, "-u", user, "-N", "-B", dbname, "-e", statement,
                ])
                .output()
        }
        .unwrap_or_else(|e| panic!("{} client: {e}", self.client));
        assert!(
            out.status.success(),
            "{} `{statement}` failed: {}",
            self.client,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for ServerDb {
    fn drop(&mut self) {
        // Best effort: a failed drop must not hide the test's own failure.
        let stmt = if self.client == "psql" {
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
        } else {
            format!("DROP DATABASE IF EXISTS {}", self.name)
        };
        let url = self.admin_url.clone();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.sql(&url, &stmt)));
    }
}
