//! `[submission]`: what the submission listeners (587 STARTTLS, 465 implicit TLS) allow an
//! authenticated client. The login guard's keys that used to be here moved to `[security]`
//! (see `security.rs`); they are still read for one release.

use serde::{Deserialize, Serialize};

/// `[submission]` — all reloadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Submission {
    /// Deprecated: `security.auth_failure_delay_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_failure_delay_ms: Option<u64>,
    /// Deprecated: `security.lockout_failures`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lockout_failures: Option<u32>,
    /// Deprecated: `security.lockout_failures_per_ip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lockout_failures_per_ip: Option<u32>,
    /// Deprecated: `security.lockout_secs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lockout_secs: Option<u64>,
    /// Messages one account may submit per hour (sliding window). 0 = no limit.
    pub max_messages_per_hour: u32,
}

impl Default for Submission {
    fn default() -> Self {
        Self {
            auth_failure_delay_ms: None,
            lockout_failures: None,
            lockout_failures_per_ip: None,
            lockout_secs: None,
            max_messages_per_hour: 500,
        }
    }
}
