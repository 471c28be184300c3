//! `[greylist]`: the greylisting policy of the MX listener, and the network (CIDR) type its
//! whitelist is written in. Every key here reloads on SIGHUP; the greylist state itself lives
//! in the store and survives reloads and restarts.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// `[greylist]`; all reloadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Greylist {
    /// Defer first attempts of unknown (client network, sender, recipient) triplets on the MX
    /// listener. Off in the built-in defaults so that a fresh loopback install accepts mail
    /// at once; the example configuration turns it on.
    pub enabled: bool,
    /// Seconds a new triplet is deferred before a retry is accepted.
    pub delay_secs: u64,
    /// Seconds after the delay during which a retry still counts; a triplet not retried in
    /// time starts over.
    pub retry_window_secs: u64,
    /// Days a passed triplet (and a sender learned from deliveries) is remembered without
    /// new mail.
    pub expire_days: u64,
    /// Client networks that are never greylisted, as CIDR (`192.0.2.0/24`, `2001:db8::/32`)
    /// or single addresses.
    pub whitelist: Vec<String>,
}

impl Default for Greylist {
    fn default() -> Self {
        Self {
            enabled: false,
            delay_secs: 300,
            retry_window_secs: 2 * 24 * 3600,
            expire_days: 36,
            whitelist: Vec::new(),
        }
    }
}

impl Greylist {
    /// The whitelist, parsed; entries that do not parse are left out (validation refuses
    /// them, so a running configuration has none).
    pub fn networks(&self) -> Vec<Network> {
        self.whitelist
            .iter()
            .filter_map(|s| Network::parse(s).ok())
            .collect()
    }
}

/// An IP network: an address and a prefix length, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parse `addr/prefix` or a bare address (a host network). IPv4-mapped IPv6 addresses
    /// are taken as IPv4, as [`Network::contains`] does with the client's address.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.trim().parse().map_err(|_| {
            format!("`{text}` is not an IP address or network such as 192.0.2.0/24")
        })?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("`{text}`: the prefix length must be 0 to {max}")),
            },
        };
        Ok(Self::new(addr, prefix))
    }

    /// The network of `prefix` bits around `addr` (host bits cleared; `prefix` capped at the
    /// address length).
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        match addr.to_canonical() {
            IpAddr::V4(a) => {
                let prefix = prefix.min(32);
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                Self {
                    addr: IpAddr::from((u32::from(a) & mask).to_be_bytes()),
                    prefix,
                }
            }
            IpAddr::V6(a) => {
                let prefix = prefix.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                Self {
                    addr: IpAddr::from((u128::from(a) & mask).to_be_bytes()),
                    prefix,
                }
            }
        }
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && Self::new(ip, self.prefix).addr == self.addr
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn networks_parse_and_clear_host_bits() {
        assert_eq!(
            Network::parse("192.0.2.77/24").expect("v4").to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            Network::parse("2001:db8::1:2/64").expect("v6").to_string(),
            "2001:db8::/64"
        );
        assert_eq!(
            Network::parse("10.1.2.3").expect("host").to_string(),
            "10.1.2.3/32"
        );
        assert_eq!(
            Network::parse("0.0.0.0/0").expect("all").to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            Network::parse("::ffff:192.0.2.1/24")
                .expect("mapped")
                .to_string(),
            "192.0.2.0/24"
        );
        for bad in [
            "",
            "nope",
            "192.0.2.0/33",
            "::/129",
            "192.0.2.0/x",
            "192.0.2/24",
        ] {
            assert!(Network::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn contains_by_prefix_and_family() {
        let n = Network::parse("192.0.2.0/24").expect("v4");
        assert!(n.contains(ip("192.0.2.255")));
        assert!(n.contains(ip("::ffff:192.0.2.9")));
        assert!(!n.contains(ip("192.0.3.1")));
        assert!(!n.contains(ip("::1")));
        let n = Network::parse("2001:db8::/32").expect("v6");
        assert!(n.contains(ip("2001:db8:ffff::1")));
        assert!(!n.contains(ip("2001:db9::1")));
        assert!(!n.contains(ip("192.0.2.1")));
        assert!(
            Network::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("203.0.113.5"))
        );
    }
}
