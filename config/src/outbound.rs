//! `[outbound]`: how the outbound queue delivers mail to other servers. All reloadable: the
//! queue actor takes the new values for its next attempt; queued mail is not touched.

use serde::{Deserialize, Serialize};
use std::fmt;

/// `[outbound]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbound {
    /// The port MX hosts are contacted on: 25, except in tests that point delivery at another
    /// instance on loopback.
    pub mx_port: u16,
    /// A smarthost `host:port` that receives all outbound mail instead of the MX hosts.
    pub relay: Option<String>,
    /// Login for the relay (AUTH PLAIN, only after STARTTLS).
    pub relay_username: Option<String>,
    /// Password for the relay.
    pub relay_password: Option<RelayPassword>,
    /// Waits before the 1st, 2nd, … retry of a temporarily failed recipient, in seconds; the
    /// last one repeats until `max_age_secs`. Each wait gets up to `jitter_percent` added.
    pub retry_schedule_secs: Vec<u64>,
    /// Randomness added to each wait, in percent of it (spreads retries of many messages).
    pub jitter_percent: u8,
    /// Age after which a message still not delivered fails (RFC 5321 §4.5.4.1: 4–5 days).
    pub max_age_secs: u64,
    /// Age after which a "delayed" DSN is sent once to senders whose NOTIFY asks for it.
    pub delay_notify_secs: u64,
    /// Most outbound connections open at once.
    pub max_connections: u32,
    /// Most outbound connections to one destination domain at once.
    pub max_connections_per_domain: u32,
    /// Seconds to wait for a TCP connection to open.
    pub connect_timeout_secs: u64,
    /// Seconds to wait for each reply of the remote server (RFC 5321 §4.5.3.2 suggests
    /// minutes; the end of DATA waits ten times this, at most 10 minutes).
    pub command_timeout_secs: u64,
    /// Seconds between scans of the queue for due work (besides the wake-ups on new mail).
    pub poll_secs: u64,
    /// With a store shared by several nodes: how long a node keeps the recipients it took
    /// for an attempt before another node may take them (so the work of a node that died
    /// is taken over after this). Longer than an attempt can last; default 15 minutes.
    pub lease_secs: u64,
    /// Honour MTA-STS (RFC 8461): a domain whose policy says `enforce` gets mail only at the
    /// MX hosts it names, over STARTTLS with a certificate that verifies. Not for a relay.
    pub mta_sts: bool,
    /// The port policy servers are fetched from: 443, except in tests.
    pub mta_sts_port: u16,
    /// A PEM file of CA certificates trusted besides the system's, for MTA-STS policy
    /// servers and MX certificates (private CAs, tests). Empty: none.
    pub extra_ca_file: String,
}

impl Default for Outbound {
    fn default() -> Self {
        Self {
            mx_port: 25,
            relay: None,
            relay_username: None,
            relay_password: None,
            // Roughly doubling from 1 minute to 8 hours, repeated until 5 days.
            retry_schedule_secs: vec![60, 300, 900, 1800, 3600, 7200, 14400, 28800],
            jitter_percent: 20,
            max_age_secs: 5 * 24 * 3600,
            delay_notify_secs: 4 * 3600,
            max_connections: 100,
            max_connections_per_domain: 5,
            connect_timeout_secs: 30,
            command_timeout_secs: 300,
            poll_secs: 1,
            lease_secs: 15 * 60,
            mta_sts: true,
            mta_sts_port: 443,
            extra_ca_file: String::new(),
        }
    }
}

/// The relay password: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RelayPassword(String);

impl RelayPassword {
    /// Wrap a password.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for AUTH.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RelayPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Outbound {
    /// Problems, as (key, message).
    pub(crate) fn check(&self, err: &mut impl FnMut(&str, String)) {
        if self.mx_port == 0 {
            err("outbound.mx_port", "must be greater than 0".into());
        }
        if self.mta_sts_port == 0 {
            err("outbound.mta_sts_port", "must be greater than 0".into());
        }
        if !self.extra_ca_file.is_empty() && !std::path::Path::new(&self.extra_ca_file).is_file() {
            err(
                "outbound.extra_ca_file",
                format!("`{}` is not a readable file", self.extra_ca_file),
            );
        }
        if let Some(relay) = &self.relay {
            match relay.rsplit_once(':') {
                Some((host, port))
                    if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
                _ => err(
                    "outbound.relay",
                    format!("`{relay}` is not host:port such as smtp.example.net:587"),
                ),
            }
        }
        if self.relay_username.is_some() != self.relay_password.is_some() {
            err(
                "outbound.relay_password",
                "relay_username and relay_password go together".into(),
            );
        }
        if self.relay.is_none() && self.relay_username.is_some() {
            err("outbound.relay_username", "needs outbound.relay".into());
        }
        if self.retry_schedule_secs.is_empty() {
            err(
                "outbound.retry_schedule_secs",
                "must list at least one wait".into(),
            );
        }
        if self.retry_schedule_secs.contains(&0) {
            err(
                "outbound.retry_schedule_secs",
                "waits must be greater than 0".into(),
            );
        }
        if self.jitter_percent > 100 {
            err("outbound.jitter_percent", "must be at most 100".into());
        }
        for (key, value) in [
            ("outbound.max_age_secs", self.max_age_secs),
            ("outbound.max_connections", u64::from(self.max_connections)),
            (
                "outbound.max_connections_per_domain",
                u64::from(self.max_connections_per_domain),
            ),
            ("outbound.connect_timeout_secs", self.connect_timeout_secs),
            ("outbound.command_timeout_secs", self.command_timeout_secs),
            ("outbound.poll_secs", self.poll_secs),
            ("outbound.lease_secs", self.lease_secs),
        ] {
            if value == 0 {
                err(key, "must be greater than 0".into());
            }
        }
    }
}
