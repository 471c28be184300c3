//! DNS block lists at connect (RFC 5782): the client's address, reversed, under each zone; an
//! A record in 127.0.0.0/8 means listed. A lookup error counts as not listed.

use mail_auth::hickory_resolver::proto::rr::RData;
use mailroom_shared::dns::TokioResolver;
use std::net::IpAddr;

/// A client found on a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The zone that lists it.
    pub zone: String,
}

/// The name to look up for `ip` in `zone` (RFC 5782 §2.1 for IPv4, §2.4 for IPv6 nibbles).
pub(crate) fn query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}.")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(64 + zone.len() + 1);
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name.push_str(zone);
            name.push('.');
            name
        }
    }
}

/// The first of `zones` listing `ip`, asked in order.
pub async fn check_client(
    resolver: &TokioResolver,
    ip: IpAddr,
    zones: &[String],
) -> Option<Listing> {
    for zone in zones {
        let name = query_name(ip, zone);
        match resolver.ipv4_lookup(name.as_str()).await {
            // RFC 5782 §2.3: answers are 127.0.0.x; anything else is not a listing.
            Ok(lookup) => {
                let listed = lookup
                    .answers()
                    .iter()
                    .any(|r| matches!(&r.data, RData::A(a) if a.0.octets()[0] == 127));
                if listed {
                    return Some(Listing { zone: zone.clone() });
                }
            }
            Err(e) if e.is_no_records_found() => {}
            Err(e) => {
                tracing::warn!(%zone, error = %e, "DNSBL lookup failed; treating the client as not listed");
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::query_name;

    #[test]
    fn names_are_reversed_under_the_zone() {
        assert_eq!(
            query_name("192.0.2.99".parse().expect("ip"), "bl.example."),
            "99.2.0.192.bl.example."
        );
        // RFC 5782 §2.4's example.
        assert_eq!(
            query_name(
                "2001:db8:1:2:3:4:567:89ab".parse().expect("ip"),
                "ugly.example"
            ),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example."
        );
    }
}
