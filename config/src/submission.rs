//! `[submission]`: what the submission listeners (587 STARTTLS, 465 implicit TLS) allow an
//! authenticated client, and how they slow down and lock out password guessing.

use serde::{Deserialize, Serialize};

/// `[submission]` — all reloadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Submission {
    /// How long a failed AUTH waits before its 535, in milliseconds (slows guessing down
    /// without costing the server anything: other sessions go on meanwhile).
    pub auth_failure_delay_ms: u64,
    /// Failed logins of one account, within `lockout_secs` of one another, after which it is
    /// locked for `lockout_secs` (`mailroom lockout clear` lifts it). 0 = never.
    pub lockout_failures: u32,
    /// The same for one client IP address (over all the accounts it tries). 0 = never.
    pub lockout_failures_per_ip: u32,
    /// How long a lockout lasts, and how long a failure is remembered, in seconds.
    pub lockout_secs: u64,
    /// Messages one account may submit per hour (sliding window). 0 = no limit.
    pub max_messages_per_hour: u32,
}

impl Default for Submission {
    fn default() -> Self {
        Self {
            auth_failure_delay_ms: 1500,
            lockout_failures: 5,
            lockout_failures_per_ip: 20,
            lockout_secs: 900,
            max_messages_per_hour: 500,
        }
    }
}
