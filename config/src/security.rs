//! `[security]`: plaintext authentication, and the login guard's settings (the delay after a
//! failed login, the lockouts) that apply to every password check: SMTP AUTH, IMAP, POP3,
//! the admin panel and the API.
//!
//! The guard's keys used to live in `[submission]` (and the admin's delay in `[admin]`).
//! Those old keys still work for one release: [`migrate`] copies a value set there into
//! `[security]` when `[security]` does not set it, and [`Config::deprecations`] names them
//! so that `mailroom config check` and the server's start can warn.

use crate::Config;
use serde::{Deserialize, Serialize};

/// `[security]` — all reloadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// Allows LOGIN/USER/AUTH before TLS; for tests and loopback-only setups.
    pub allow_plaintext_auth: bool,
    /// How long a failed login, or one refused because of a lockout, waits before it is
    /// answered, in milliseconds (the same for both, so timing tells a guesser nothing; other
    /// sessions go on meanwhile).
    pub auth_failure_delay_ms: u64,
    /// Failed logins of one account, within `lockout_secs` of one another, after which it is
    /// locked for `lockout_secs` on every protocol (`mailroom lockout clear` lifts it).
    /// 0 = never.
    pub lockout_failures: u32,
    /// The same for one client IP address (over all the accounts it tries). 0 = never.
    pub lockout_failures_per_ip: u32,
    /// How long a lockout lasts, and how long a failure is remembered, in seconds.
    pub lockout_secs: u64,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            allow_plaintext_auth: false,
            auth_failure_delay_ms: 1500,
            lockout_failures: 5,
            lockout_failures_per_ip: 20,
            lockout_secs: 900,
        }
    }
}

/// A deprecated key the configuration sets, and the key that replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecation {
    /// The old key, e.g. `submission.lockout_failures`.
    pub key: &'static str,
    /// Its replacement, e.g. `security.lockout_failures`.
    pub replacement: &'static str,
}

impl std::fmt::Display for Deprecation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: deprecated, use {} (it applies to every login; the old key stops working in the next release)",
            self.key, self.replacement
        )
    }
}

impl Config {
    /// The deprecated keys this configuration sets (each still works for this release).
    pub fn deprecations(&self) -> Vec<Deprecation> {
        let s = &self.submission;
        let set = [
            (
                s.auth_failure_delay_ms.is_some(),
                "submission.auth_failure_delay_ms",
                "security.auth_failure_delay_ms",
            ),
            (
                self.admin.login_failure_delay_ms.is_some(),
                "admin.login_failure_delay_ms",
                "security.auth_failure_delay_ms",
            ),
            (
                s.lockout_failures.is_some(),
                "submission.lockout_failures",
                "security.lockout_failures",
            ),
            (
                s.lockout_failures_per_ip.is_some(),
                "submission.lockout_failures_per_ip",
                "security.lockout_failures_per_ip",
            ),
            (
                s.lockout_secs.is_some(),
                "submission.lockout_secs",
                "security.lockout_secs",
            ),
        ];
        set.into_iter()
            .filter(|(on, _, _)| *on)
            .map(|(_, key, replacement)| Deprecation { key, replacement })
            .collect()
    }
}

/// Carry the deprecated keys' values into `[security]` where the operator did not set the
/// new key (`is_set` says whether the file or environment sets a dotted key). Where both the
/// submission and the admin delay are set, the submission one wins: it was the one guarding
/// mail logins.
pub(crate) fn migrate(config: &mut Config, is_set: impl Fn(&str) -> bool) {
    let s = &config.submission;
    let security = &mut config.security;
    if !is_set("security.auth_failure_delay_ms")
        && let Some(ms) = s
            .auth_failure_delay_ms
            .or(config.admin.login_failure_delay_ms)
    {
        security.auth_failure_delay_ms = ms;
    }
    if !is_set("security.lockout_failures")
        && let Some(n) = s.lockout_failures
    {
        security.lockout_failures = n;
    }
    if !is_set("security.lockout_failures_per_ip")
        && let Some(n) = s.lockout_failures_per_ip
    {
        security.lockout_failures_per_ip = n;
    }
    if !is_set("security.lockout_secs")
        && let Some(secs) = s.lockout_secs
    {
        security.lockout_secs = secs;
    }
}

/// The key a `[security]` value is reported under: the deprecated key it came from, if the
/// operator wrote that one (so an error names what is in the file).
pub(crate) fn source_key(config: &Config, key: &'static str) -> &'static str {
    let s = &config.submission;
    let old = match key {
        "security.auth_failure_delay_ms" => s
            .auth_failure_delay_ms
            .map(|ms| ("submission.auth_failure_delay_ms", ms))
            .or(config
                .admin
                .login_failure_delay_ms
                .map(|ms| ("admin.login_failure_delay_ms", ms)))
            .filter(|(_, ms)| *ms == config.security.auth_failure_delay_ms)
            .map(|(k, _)| k),
        "security.lockout_secs" => s
            .lockout_secs
            .filter(|v| *v == config.security.lockout_secs)
            .map(|_| "submission.lockout_secs"),
        _ => None,
    };
    old.unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConfigSource, load};

    fn load_text(text: &str) -> Result<Config, Vec<crate::ConfigError>> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).expect("write");
        load(&ConfigSource::file_only(&path))
    }

    #[test]
    fn the_defaults_are_the_former_submission_ones_and_nothing_is_deprecated() {
        let c = load_text("").expect("valid");
        assert_eq!(c.security.auth_failure_delay_ms, 1500);
        assert_eq!(c.security.lockout_failures, 5);
        assert_eq!(c.security.lockout_failures_per_ip, 20);
        assert_eq!(c.security.lockout_secs, 900);
        assert!(c.deprecations().is_empty());
    }

    #[test]
    fn old_keys_still_work_and_are_named_as_deprecated() {
        let c = load_text(
            "[submission]\nauth_failure_delay_ms = 7\nlockout_failures = 3\nlockout_failures_per_ip = 9\nlockout_secs = 60\n",
        )
        .expect("valid");
        assert_eq!(c.security.auth_failure_delay_ms, 7);
        assert_eq!(c.security.lockout_failures, 3);
        assert_eq!(c.security.lockout_failures_per_ip, 9);
        assert_eq!(c.security.lockout_secs, 60);
        let keys: Vec<&str> = c.deprecations().iter().map(|d| d.key).collect();
        assert_eq!(
            keys,
            [
                "submission.auth_failure_delay_ms",
                "submission.lockout_failures",
                "submission.lockout_failures_per_ip",
                "submission.lockout_secs"
            ]
        );
        let text = c.deprecations()[1].to_string();
        assert!(text.contains("use security.lockout_failures"), "{text}");
    }

    #[test]
    fn the_admin_delay_key_still_works() {
        let c = load_text("[admin]\nlogin_failure_delay_ms = 10\n").expect("valid");
        assert_eq!(c.security.auth_failure_delay_ms, 10);
        assert_eq!(c.deprecations()[0].key, "admin.login_failure_delay_ms");
    }

    #[test]
    fn a_new_key_wins_over_its_old_one() {
        let c = load_text("[security]\nlockout_failures = 4\n[submission]\nlockout_failures = 3\n")
            .expect("valid");
        assert_eq!(c.security.lockout_failures, 4);
        assert_eq!(c.deprecations().len(), 1);
    }

    #[test]
    fn errors_name_the_key_that_was_written() {
        let errors = load_text("[security]\nlockout_secs = 0\nauth_failure_delay_ms = 60001\n")
            .expect_err("invalid");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["security.lockout_secs", "security.auth_failure_delay_ms"]
        );
        let errors = load_text("[submission]\nlockout_secs = 0\n").expect_err("invalid");
        assert_eq!(errors[0].key, "submission.lockout_secs");
    }
}
