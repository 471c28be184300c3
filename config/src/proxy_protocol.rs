//! `[proxy_protocol]`: which listeners sit behind a load balancer that sends a PROXY protocol
//! header (haproxy's v1 or v2), and which peers may send one.
//!
//! One table with a list of listener names and one list of trusted networks, rather than a
//! setting per listener: a deployment has one load balancer (or one pool of them) in front of
//! all its proxied ports, so the trusted networks are the same for every listener, and the
//! `[listeners]` table keeps its plain `name = address` form. Every key reloads on SIGHUP;
//! a reload applies to connections accepted after it.

use crate::{ListenerKind, Network};
use serde::{Deserialize, Serialize};

/// `[proxy_protocol]`; all reloadable. Off unless `listeners` names a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyProtocol {
    /// Listeners whose connections from a trusted peer must begin with a PROXY header, e.g.
    /// `["smtp", "imaps"]`. A connection to one of them from any other peer is closed
    /// without a greeting. The admin listener cannot be named.
    pub listeners: Vec<ListenerKind>,
    /// The load balancers' networks, as CIDR (`10.0.0.0/8`) or single addresses.
    pub trusted: Vec<String>,
}

impl ProxyProtocol {
    /// Whether connections to `kind` carry a PROXY header.
    pub fn enabled_on(&self, kind: ListenerKind) -> bool {
        self.listeners.contains(&kind)
    }

    /// The trusted networks, parsed; entries that do not parse are left out (validation
    /// refuses them, so a running configuration has none).
    pub fn trusted_networks(&self) -> Vec<Network> {
        self.trusted
            .iter()
            .filter_map(|s| Network::parse(s).ok())
            .collect()
    }
}
