//! `[admin]`: how the admin panel and JSON API sign people in and how long that lasts.

use crate::ListenerKind;
use serde::{Deserialize, Serialize};

/// `[admin]` — all reloadable except `tls`, which applies when the admin listener is bound
/// (at start, and when a reload moves it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Serve the admin listener over TLS with the server's certificate (then the session
    /// cookie is `Secure`).
    pub tls: bool,
    /// How long a panel sign-in lasts without use, in seconds.
    pub session_idle_secs: u64,
    /// How long a panel sign-in lasts at most, in seconds.
    pub session_max_secs: u64,
    /// Deprecated: `security.auth_failure_delay_ms` (the one delay of every login).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_failure_delay_ms: Option<u64>,
    /// The mode of the MTA-STS policy served at `/.well-known/mta-sts.txt` (RFC 8461 §5):
    /// `testing` (the default: senders report but deliver anyway) until the certificate is
    /// one senders trust, then `enforce`; `none` withdraws a published policy.
    pub mta_sts_mode: MtaStsMode,
    /// The ports clients are told about (autoconfig, autodiscover, the SRV records) where
    /// they differ from the listen ports, as behind port forwarding.
    pub public_ports: PublicPorts,
}

/// `[admin.public_ports]`: a port per client listener; unset ones are the listen port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublicPorts {
    pub imap: Option<u16>,
    pub imaps: Option<u16>,
    pub pop3: Option<u16>,
    pub pop3s: Option<u16>,
    pub submission: Option<u16>,
    pub submissions: Option<u16>,
}

impl PublicPorts {
    /// The public port set for `kind`, if any.
    pub fn get(&self, kind: ListenerKind) -> Option<u16> {
        match kind {
            ListenerKind::Imap => self.imap,
            ListenerKind::Imaps => self.imaps,
            ListenerKind::Pop3 => self.pop3,
            ListenerKind::Pop3s => self.pop3s,
            ListenerKind::Submission => self.submission,
            ListenerKind::Submissions => self.submissions,
            ListenerKind::Smtp | ListenerKind::Admin => None,
        }
    }
}

/// RFC 8461 §5: what a sender does when TLS to the MX cannot be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtaStsMode {
    /// Do not deliver.
    Enforce,
    /// Deliver, and report the failure (TLSRPT).
    #[default]
    Testing,
    /// No policy in force.
    None,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            tls: false,
            session_idle_secs: 3600,
            session_max_secs: 12 * 3600,
            login_failure_delay_ms: None,
            mta_sts_mode: MtaStsMode::default(),
            public_ports: PublicPorts::default(),
        }
    }
}
