//! Typed configuration for mailroom: the `Config` structs with their defaults, loading through
//! figment (built-in defaults < TOML file < `MAILROOM_SECTION__KEY` environment), and
//! validation that reports every problem with its key path.
//!
//! This crate only reads and checks; it starts nothing and must not depend on any other
//! mailroom crate. Which keys reload on SIGHUP and which need a restart is decided here
//! ([`Config::restart_required`]) so that every caller agrees.

mod admin;
mod greylist;
mod listeners;
mod load;
mod outbound;
mod policy;
mod proxy_protocol;
mod security;
mod spam;
mod store;
mod submission;
mod validate;
mod webhooks;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use admin::{Admin, MtaStsMode, PublicPorts};
pub use greylist::{Greylist, Network};
pub use listeners::{ListenerAddrs, ListenerKind, Listeners};
pub use load::{ConfigError, ConfigSource, describe, load};
pub use outbound::{Outbound, RelayPassword};
pub use policy::{Auth, Dmarc, Dns, Dnsbl, OnReject, Spf};
pub use proxy_protocol::ProxyProtocol;
pub use security::{Deprecation, Security};
pub use spam::{SPAM_RULES, Spam};
pub use store::{Cluster, Store, StoreEngine};
pub use submission::Submission;
pub use webhooks::{WEBHOOK_EVENTS, Webhook, WebhookDelivery, WebhookSecret};

/// The whole configuration, as read from defaults, file and environment. (`PartialEq` only:
/// the spam thresholds are floating point.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Identity and storage of this server.
    pub server: Server,
    /// Which engine keeps the mail.
    pub store: Store,
    /// What the nodes of one deployment share.
    pub cluster: Cluster,
    /// Where each protocol listens; a protocol without an entry is off.
    pub listeners: Listeners,
    /// Certificate and key for STARTTLS and implicit TLS.
    pub tls: Tls,
    /// Security switches and the login guard (failure delay, lockouts).
    pub security: Security,
    /// Limits on every input.
    pub limits: Limits,
    /// Greylisting on the MX listener.
    pub greylist: Greylist,
    /// Listeners behind a load balancer that sends PROXY protocol headers.
    pub proxy_protocol: ProxyProtocol,
    /// Receivers of signed event POSTs (`[[webhooks]]`).
    pub webhooks: Vec<Webhook>,
    /// Retry and timeout of webhook POSTs.
    pub webhook_delivery: WebhookDelivery,
    /// Spam scoring thresholds and rule weights.
    pub spam: Spam,
    /// The resolver for SPF, DKIM, ARC, DMARC and DNSBL.
    pub dns: Dns,
    /// Whether MX mail is authenticated.
    pub auth: Auth,
    /// SPF policy.
    pub spf: Spf,
    /// DMARC policy.
    pub dmarc: Dmarc,
    /// DNS block lists.
    pub dnsbl: Dnsbl,
    /// What submission clients may do.
    pub submission: Submission,
    /// Delivery of outbound mail: MX port, relay, retries, limits.
    pub outbound: Outbound,
    /// The admin panel and JSON API: sign-in sessions, TLS.
    pub admin: Admin,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Fully qualified name used in banners, `Received:` fields and HELO. Reloadable.
    pub hostname: String,
    /// Directory holding the database, message bodies and the self-signed certificate.
    /// Needs a restart to change.
    pub data_dir: PathBuf,
    /// Seconds that SIGTERM/SIGINT waits for sessions to finish their current command.
    pub drain_timeout_secs: u64,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            hostname: "mail.example.test".into(),
            data_dir: PathBuf::from("./data"),
            drain_timeout_secs: 10,
        }
    }
}

/// `[tls]`: both absent means a self-signed certificate for `server.hostname` is made in
/// `data_dir` on first start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM file with the certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// `[limits]`; all reloadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message accepted, in octets.
    pub max_message_size: u64,
    /// Most recipients of one SMTP transaction.
    pub max_recipients: u32,
    /// Most open connections over all listeners.
    pub max_connections: u32,
    /// Most open connections from one IP address.
    pub max_connections_per_ip: u32,
    /// Seconds a session may wait for the client's next command.
    pub command_timeout_secs: u64,
    /// Error replies a session may earn before it is disconnected.
    pub max_errors_per_session: u32,
    /// Logged-in IMAP sessions one account may have at once.
    pub max_sessions_per_account: u32,
    /// Error replies after which every further reply is delayed (a tarpit for abusers).
    pub tarpit_after_errors: u32,
    /// The tarpit's delay per reply, in milliseconds.
    pub tarpit_delay_ms: u64,
    /// Octets of message data all sessions together may hold in memory (SMTP DATA/BDAT,
    /// submission, IMAP APPEND); past it new transactions get a temporary failure. Larger
    /// bodies wait on disk until their turn. Applies at start; a reload does not change it.
    pub max_inflight_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 26_214_400,
            max_recipients: 100,
            max_connections: 1000,
            max_connections_per_ip: 50,
            command_timeout_secs: 300,
            max_errors_per_session: 20,
            max_sessions_per_account: 20,
            tarpit_after_errors: 5,
            tarpit_delay_ms: 1000,
            max_inflight_bytes: 128 * 1024 * 1024,
        }
    }
}

impl Config {
    /// Keys whose change a reload cannot apply; the running value stays until a restart.
    pub fn restart_required(&self, new: &Config) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.server.data_dir != new.server.data_dir {
            keys.push("server.data_dir");
        }
        if self.store != new.store {
            keys.push("store");
        }
        if self.cluster != new.cluster {
            keys.push("cluster");
        }
        keys
    }
}
