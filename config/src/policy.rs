//! The inbound-policy sections: `[dns]` (the one resolver), `[auth]` (SPF, DKIM, ARC and
//! DMARC on the MX listener), `[spf]`, `[dmarc]` and `[dnsbl]`. All reload on SIGHUP; the
//! checks of their values are in `validate.rs` with the others.

use serde::{Deserialize, Serialize};

/// `[dns]`: the resolver used for SPF, DKIM, ARC, DMARC and DNSBL lookups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// Name servers as `ip:port`, asked over UDP and TCP; empty means the system's resolvers
    /// (`/etc/resolv.conf`).
    pub nameservers: Vec<String>,
    /// Milliseconds to wait for one answer before trying again.
    pub timeout_ms: u64,
    /// How many times a query is tried before it counts as a temporary error.
    pub attempts: u32,
}

impl Default for Dns {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            timeout_ms: 3000,
            attempts: 2,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Check SPF, DKIM, ARC and DMARC of mail received on the MX listener and add an
    /// `Authentication-Results:` field to it.
    pub enabled: bool,
}

impl Default for Auth {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[spf]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Spf {
    /// Refuse at MAIL (550 5.7.23) a sender whose SPF result is `fail`; false only records
    /// the result in `Authentication-Results:`.
    pub reject_fail: bool,
}

/// What to do with mail whose DMARC check fails under the domain's `p=reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnReject {
    /// Refuse it at the end of DATA with 550 5.7.1, as the domain asks.
    #[default]
    Reject,
    /// Accept it into the recipients' Junk mailboxes.
    Quarantine,
    /// Accept it into INBOX; only `Authentication-Results:` tells.
    Mark,
}

/// `[dmarc]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Dmarc {
    /// For `p=reject`: `reject`, `quarantine` or `mark`. `p=quarantine` always files to Junk.
    pub on_reject: OnReject,
}

/// `[dnsbl]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Dnsbl {
    /// DNS block list zones asked about every MX client at connect (RFC 5782); a listed client
    /// is refused with 554 naming the zone. Empty: no lookups.
    pub zones: Vec<String>,
}
