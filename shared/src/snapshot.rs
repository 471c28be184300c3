//! `Snapshot`: the configuration in force plus what was built from it (the TLS acceptor, the
//! DNS resolver).
//! A session takes the snapshot current when it was accepted and keeps it to the end, so a
//! reload never changes the rules under a session's feet.

use mailroom_config::Config;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// One generation of the running configuration.
#[derive(Clone)]
pub struct Snapshot {
    /// 1 at start, one more on every successful reload.
    pub generation: u64,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// TLS for STARTTLS and implicit-TLS listeners, built from `config.tls`.
    pub tls: TlsAcceptor,
    /// The resolver built from `config.dns`; the same one (and cache) across reloads that
    /// leave `[dns]` alone.
    pub dns: crate::dns::Dns,
}
