//! The one DNS resolver of the process: a hickory [`TokioResolver`] (with hickory's answer
//! cache) built from `[dns]`, used by SPF, DKIM, ARC, DMARC and DNSBL lookups alike.
//!
//! It lives in the [`Snapshot`](crate::snapshot::Snapshot), built once at start and again only
//! when a reload changes `[dns]`, so every session shares one cache. This module builds the
//! resolver; it makes no queries and knows nothing of mail.

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use std::net::SocketAddr;
use std::time::Duration;

pub use hickory_resolver::TokioResolver;

/// The resolver and the `[dns]` it was built from.
#[derive(Clone)]
pub struct Dns {
    config: mailroom_config::Dns,
    resolver: TokioResolver,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns").field("config", &self.config).finish()
    }
}

impl Dns {
    /// A resolver for `config`: its name servers over UDP and TCP, or the system's when it
    /// names none. A system configuration that cannot be read leaves a resolver without
    /// servers (every lookup a temporary error) and a warning, rather than no server at all.
    pub fn build(config: &mailroom_config::Dns) -> Result<Self, String> {
        let (resolver_config, mut options) = if config.nameservers.is_empty() {
            match hickory_resolver::system_conf::read_system_conf() {
                Ok(system) => system,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the system resolver configuration; DNS lookups will fail until [dns] nameservers is set");
                    (
                        ResolverConfig::from_name_servers(Vec::new()),
                        ResolverOpts::default(),
                    )
                }
            }
        } else {
            let mut servers = Vec::with_capacity(config.nameservers.len());
            for text in &config.nameservers {
                let addr: SocketAddr = text
                    .parse()
                    .map_err(|_| format!("dns.nameservers: `{text}` is not ip:port"))?;
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                servers.push(server);
            }
            let mut options = ResolverOpts::default();
            // Configured servers are the whole truth: /etc/hosts must not answer instead.
            options.use_hosts_file = ResolveHosts::Never;
            (ResolverConfig::from_name_servers(servers), options)
        };
        options.timeout = Duration::from_millis(config.timeout_ms);
        options.attempts = config.attempts as usize;
        let resolver =
            TokioResolver::builder_with_config(resolver_config, TokioRuntimeProvider::default())
                .with_options(options)
                .build()
                .map_err(|e| format!("dns: cannot build the resolver: {e}"))?;
        Ok(Self {
            config: config.clone(),
            resolver,
        })
    }

    /// The resolver for `config`: this one (and its cache) when `[dns]` did not change, a new
    /// one when it did.
    pub fn rebuilt_for(&self, config: &mailroom_config::Dns) -> Result<Self, String> {
        if *config == self.config {
            Ok(self.clone())
        } else {
            Self::build(config)
        }
    }

    /// The resolver. Clones share the cache.
    pub fn resolver(&self) -> &TokioResolver {
        &self.resolver
    }
}

#[cfg(test)]
mod tests {
    use super::Dns;

    #[actix_rt::test]
    async fn rebuilt_only_when_the_section_changes() {
        let a = mailroom_config::Dns {
            nameservers: vec!["127.0.0.1:5353".into()],
            ..Default::default()
        };
        let dns = Dns::build(&a).expect("build");
        let same = dns.rebuilt_for(&a).expect("same");
        assert_eq!(same.config, a);
        let b = mailroom_config::Dns {
            nameservers: vec!["127.0.0.1:5354".into(), "[::1]:53".into()],
            ..Default::default()
        };
        let other = dns.rebuilt_for(&b).expect("other");
        assert_eq!(other.config, b);
        assert!(
            Dns::build(&mailroom_config::Dns {
                nameservers: vec!["nope".into()],
                ..Default::default()
            })
            .is_err()
        );
    }
}
