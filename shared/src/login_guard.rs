//! The login guard: the one rule every password check obeys — SMTP AUTH, IMAP LOGIN and
//! AUTHENTICATE, POP3 USER/PASS and AUTH, the admin panel's sign-in and the API's Basic auth.
//!
//! A [`LoginGuard`] is made only from the configuration's `[security]` keys
//! ([`LoginGuard::from_config`]), and the store's `Authenticate` message cannot be sent
//! without one, so no protocol can check a password outside it. What the guard guarantees,
//! whoever asks:
//!
//! - failures are counted per account and per client IP (in the store, shared by every
//!   protocol), and past `lockout_failures` / `lockout_failures_per_ip` the
//!   account or client is locked out for `lockout_secs`;
//! - a locked-out login is refused *before* the password is looked at, so the answer is the
//!   same whether the password was right or not;
//! - a failure and a lockout refusal both wait `auth_failure_delay_ms` before they are
//!   answered: guessing is slowed, and a lockout costs no password hash;
//! - every failure is an `AuthFailed` event, every new lockout a `LockedOut` event, and every
//!   attempt and lockout is counted in the metrics.
//!
//! This module holds the types and the policy; the counting lives in the store (which this
//! crate must not know), the replies in each protocol's session.

use mailroom_config::Config;
use std::net::IpAddr;
use std::time::Duration;

/// When failed logins lock an account or an address out: after `account_failures` (per
/// account) or `ip_failures` (per client) failures each within `secs` of the last, for
/// `secs`. A threshold of 0 never locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures of one account.
    pub account_failures: u32,
    /// Failures from one client address.
    pub ip_failures: u32,
    /// How long a lockout lasts and a failure is remembered.
    pub secs: u64,
}

impl LockoutPolicy {
    /// The `[security]` thresholds of `config`.
    pub fn from_config(config: &Config) -> Self {
        let s = &config.security;
        Self {
            account_failures: s.lockout_failures,
            ip_failures: s.lockout_failures_per_ip,
            secs: s.lockout_secs,
        }
    }

    /// The threshold of `scope` (0 = never).
    pub fn threshold(&self, scope: LockoutScope) -> u32 {
        match scope {
            LockoutScope::Account => self.account_failures,
            LockoutScope::Ip => self.ip_failures,
        }
    }
}

/// Which counter of failed logins a lockout comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockoutScope {
    /// One account, whoever tries it.
    Account,
    /// One client IP address, whatever accounts it tries.
    Ip,
}

impl LockoutScope {
    /// The name stored and shown (`account`, `ip`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Ip => "ip",
        }
    }
}

/// A run of failed logins; a lockout while it is at its threshold and `until` is ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    /// Account or IP.
    pub scope: LockoutScope,
    /// The account's address key, or the IP address as text.
    pub key: String,
    /// Failures counted.
    pub failures: u32,
    /// Unix seconds when it ends (is forgotten) unless another failure comes.
    pub until: i64,
}

impl Lockout {
    /// What a refused client is told: which counter, and until when (never anything about
    /// the password, which was not checked).
    pub fn refusal_text(&self) -> String {
        let what = match self.scope {
            LockoutScope::Account => "this account is",
            LockoutScope::Ip => "this client address is",
        };
        format!(
            "too many failed logins: {what} locked out until {}",
            crate::civil::rfc3339_utc(self.until)
        )
    }
}

/// The guard every password check goes through: the lockout policy and the delay before a
/// refusal. Made only from the configuration, so every protocol has the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginGuard {
    policy: LockoutPolicy,
    refusal_delay: Duration,
}

impl LoginGuard {
    /// The guard of `config`'s `[security]` section (the only way to make one).
    pub fn from_config(config: &Config) -> Self {
        Self {
            policy: LockoutPolicy::from_config(config),
            refusal_delay: Duration::from_millis(config.security.auth_failure_delay_ms),
        }
    }

    /// The lockout thresholds.
    pub fn policy(&self) -> &LockoutPolicy {
        &self.policy
    }

    /// How long a refusal (wrong password or lockout) waits before it is answered.
    pub fn refusal_delay(&self) -> Duration {
        self.refusal_delay
    }
}

/// The protocols a password is checked on: the `protocol` of events and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginProtocol {
    /// Submission AUTH (RFC 4954).
    Smtp,
    /// IMAP LOGIN and AUTHENTICATE.
    Imap,
    /// POP3 USER/PASS and AUTH.
    Pop3,
    /// The admin panel's sign-in and the API's Basic auth.
    Admin,
}

impl LoginProtocol {
    /// `smtp`, `imap`, `pop3`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Imap => "imap",
            Self::Pop3 => "pop3",
            Self::Admin => "admin",
        }
    }
}

/// Who tries to log in, how: for the counters, the events and the metrics.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    /// The protocol.
    pub protocol: LoginProtocol,
    /// The SASL mechanism or command (`PLAIN`, `LOGIN`, `USER`, `panel`, `basic`…).
    pub mechanism: String,
    /// The client's address.
    pub client: IpAddr,
}

/// The guard's answer to a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<A> {
    /// The password is right and the account enabled.
    Accepted(A),
    /// Wrong address or password, or a disabled account (never said which).
    Refused,
    /// Refused without checking the password: this account or client is locked out.
    LockedOut(Lockout),
    /// The password could not be checked (store down): a temporary failure, not counted.
    Unavailable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_takes_the_security_keys() {
        let mut config = Config::default();
        config.security.lockout_failures = 3;
        config.security.lockout_failures_per_ip = 7;
        config.security.lockout_secs = 60;
        config.security.auth_failure_delay_ms = 25;
        let guard = LoginGuard::from_config(&config);
        assert_eq!(guard.policy().threshold(LockoutScope::Account), 3);
        assert_eq!(guard.policy().threshold(LockoutScope::Ip), 7);
        assert_eq!(guard.policy().secs, 60);
        assert_eq!(guard.refusal_delay(), Duration::from_millis(25));
    }

    #[test]
    fn the_refusal_names_the_counter_and_the_end() {
        let l = Lockout {
            scope: LockoutScope::Ip,
            key: "192.0.2.1".into(),
            failures: 20,
            until: 1_700_000_000,
        };
        assert_eq!(
            l.refusal_text(),
            "too many failed logins: this client address is locked out until 2023-11-14T22:13:20Z"
        );
    }
}
