//! The `[listeners]` table: which protocol listens where. Each key takes one address or a
//! list; a key that is absent (or an empty list) turns that listener off.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;

/// Every listener mailroom has, named as in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerKind {
    /// MX role: mail for our domains, never relays.
    Smtp,
    /// Port 587 role: STARTTLS then AUTH.
    Submission,
    /// Port 465 role: implicit TLS then AUTH.
    Submissions,
    /// IMAP with STARTTLS.
    Imap,
    /// IMAP over implicit TLS.
    Imaps,
    /// POP3 with STLS.
    Pop3,
    /// POP3 over implicit TLS.
    Pop3s,
    /// The admin panel, JSON API and health check (HTTP).
    Admin,
}

impl ListenerKind {
    /// All kinds, in config order.
    pub const ALL: [ListenerKind; 8] = [
        Self::Smtp,
        Self::Submission,
        Self::Submissions,
        Self::Imap,
        Self::Imaps,
        Self::Pop3,
        Self::Pop3s,
        Self::Admin,
    ];

    /// The config key of this listener.
    pub fn key(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Submission => "submission",
            Self::Submissions => "submissions",
            Self::Imap => "imap",
            Self::Imaps => "imaps",
            Self::Pop3 => "pop3",
            Self::Pop3s => "pop3s",
            Self::Admin => "admin",
        }
    }

    /// Whether TLS starts before the first byte (as opposed to STARTTLS/STLS or none).
    pub fn implicit_tls(self) -> bool {
        matches!(self, Self::Submissions | Self::Imaps | Self::Pop3s)
    }
}

impl fmt::Display for ListenerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One address or a list of them, as written in the file. Kept as text so that validation
/// can name the key of an address that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ListenerAddrs {
    /// `smtp = "127.0.0.1:2525"`
    One(String),
    /// `smtp = ["127.0.0.1:2525", "[::1]:2525"]`
    Many(Vec<String>),
}

impl ListenerAddrs {
    /// The addresses as written.
    pub fn as_strs(&self) -> Vec<&str> {
        match self {
            Self::One(s) => vec![s.as_str()],
            Self::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }

    /// The addresses that parse; validation has reported the others.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        self.as_strs()
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    }
}

/// `[listeners]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listeners {
    /// MX role: no AUTH needed for local recipients, never relays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<ListenerAddrs>,
    /// STARTTLS, then AUTH required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submission: Option<ListenerAddrs>,
    /// Implicit TLS, AUTH required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submissions: Option<ListenerAddrs>,
    /// IMAP (STARTTLS available).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap: Option<ListenerAddrs>,
    /// IMAP over implicit TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imaps: Option<ListenerAddrs>,
    /// POP3 (STLS available).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pop3: Option<ListenerAddrs>,
    /// POP3 over implicit TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pop3s: Option<ListenerAddrs>,
    /// Admin HTTP: panel, API, `/healthz`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<ListenerAddrs>,
}

impl Default for Listeners {
    /// Unprivileged loopback ports, so that `mailroom serve` runs anywhere without root.
    fn default() -> Self {
        let one = |s: &str| Some(ListenerAddrs::One(s.into()));
        Self {
            smtp: one("127.0.0.1:2525"),
            submission: one("127.0.0.1:2587"),
            submissions: one("127.0.0.1:2465"),
            imap: one("127.0.0.1:2143"),
            imaps: one("127.0.0.1:2993"),
            pop3: one("127.0.0.1:2110"),
            pop3s: one("127.0.0.1:2995"),
            admin: one("127.0.0.1:8080"),
        }
    }
}

impl Listeners {
    /// No listener at all.
    pub fn none() -> Self {
        Self {
            smtp: None,
            submission: None,
            submissions: None,
            imap: None,
            imaps: None,
            pop3: None,
            pop3s: None,
            admin: None,
        }
    }

    /// The configured entry of one kind.
    pub fn get(&self, kind: ListenerKind) -> Option<&ListenerAddrs> {
        match kind {
            ListenerKind::Smtp => self.smtp.as_ref(),
            ListenerKind::Submission => self.submission.as_ref(),
            ListenerKind::Submissions => self.submissions.as_ref(),
            ListenerKind::Imap => self.imap.as_ref(),
            ListenerKind::Imaps => self.imaps.as_ref(),
            ListenerKind::Pop3 => self.pop3.as_ref(),
            ListenerKind::Pop3s => self.pop3s.as_ref(),
            ListenerKind::Admin => self.admin.as_ref(),
        }
    }

    /// Every (kind, address) pair that is on, in config order.
    pub fn bindings(&self) -> Vec<(ListenerKind, SocketAddr)> {
        let mut out = Vec::new();
        for kind in ListenerKind::ALL {
            if let Some(addrs) = self.get(kind) {
                for addr in addrs.socket_addrs() {
                    out.push((kind, addr));
                }
            }
        }
        out
    }
}
