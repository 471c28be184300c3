//! The PostgreSQL and Redis that the two-node and migration tests use: named by
//! `TEST_MAILROOM_POSTGRES` (a server where a test may create databases) and
//! `TEST_MAILROOM_REDIS`, which `scripts/services` prints and `scripts/test` sets. Without
//! them those tests say they were skipped and pass.

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Names the PostgreSQL server.
pub const POSTGRES_VAR: &str = "TEST_MAILROOM_POSTGRES";
/// Names the Redis server.
pub const REDIS_VAR: &str = "TEST_MAILROOM_REDIS";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Say that `test` was skipped and how to run it. Straight to stderr: the test harness
/// captures `eprintln!` of passing tests, and this is for the person running them.
fn skipped(test: &str, needs: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: set {needs} (`eval \"$(scripts/services)\"` starts them) to run it"
    );
}

/// The PostgreSQL server's URL, or `None` after saying `test` is skipped.
pub fn postgres(test: &str) -> Option<String> {
    let found = var(POSTGRES_VAR);
    if found.is_none() {
        skipped(test, POSTGRES_VAR);
    }
    found
}

/// The PostgreSQL and Redis URLs, or `None` after saying `test` is skipped.
pub fn postgres_and_redis(test: &str) -> Option<(String, String)> {
    match (var(POSTGRES_VAR), var(REDIS_VAR)) {
        (Some(pg), Some(redis)) => Some((pg, redis)),
        _ => {
            skipped(test, &format!("{POSTGRES_VAR} and {REDIS_VAR}"));
            None
        }
    }
}

/// A database of one test's own on the server at `admin_url`, dropped with the value.
pub struct Database {
    admin_url: String,
    name: String,
}

impl Database {
    /// Create it; the name says which test and process made it.
    pub fn create(admin_url: &str, test: &str) -> Database {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(30)
            .collect();
        let name = format!(
            "mr_e2e_{tag}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
        .to_ascii_lowercase();
        psql(
            admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        psql(admin_url, &format!("CREATE DATABASE {name}"));
        Database {
            admin_url: admin_url.into(),
            name,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.admin_url)
            .args(["-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// Run `sql` with psql (stopping at the first error, which fails the test); what it printed,
/// unaligned and trimmed.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `base` naming database `name` instead.
pub fn with_database(base: &str, name: &str) -> String {
    let server = base.split('?').next().unwrap_or(base);
    let server = match server.rsplit_once('/') {
        Some((head, _)) if head.contains("//") && !head.ends_with('/') => head,
        _ => server,
    };
    format!("{server}/{name}")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_url_names_another_database() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5/postgres", "x"),
            "postgres://u@127.0.0.1:5/x"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(
            with_database("postgres://u@h:5/db?sslmode=disable", "x"),
            "postgres://u@h:5/x"
        );
    }
}
