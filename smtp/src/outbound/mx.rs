//! Where mail for a domain goes (RFC 5321 §5.1): its MX hosts in preference order, or the
//! domain itself (its A/AAAA) when it has no MX; a null MX (RFC 7505: one MX of preference
//! 0 and exchange ".") means the domain accepts no mail, a permanent failure. Equal
//! preferences are shuffled (RFC 5321 §5.1 asks to spread load). The ordering is pure;
//! [`resolve`] asks the snapshot's resolver.

use mail_auth::hickory_resolver::proto::rr::{RData, RecordType};
use mailroom_shared::dns::TokioResolver;

/// Why a domain has no host to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxError {
    /// RFC 7505 null MX, or no such domain: fail now (5.1.2 / 5.1.10).
    Permanent(String),
    /// DNS failed: try later.
    Temporary(String),
}

/// The hosts to try, best first, from MX records (preference, exchange). `Ok(None)` when
/// there are none (then the domain itself is the host, RFC 5321 §5.1).
pub fn order(
    mut records: Vec<(u16, String)>,
    shuffle: u64,
) -> Result<Option<Vec<String>>, MxError> {
    if records.is_empty() {
        return Ok(None);
    }
    let is_null = |(_, name): &(u16, String)| name.trim_end_matches('.').is_empty();
    // RFC 7505 §3: a null MX is the only MX record; any null exchange means no mail.
    if records.iter().any(is_null) {
        return Err(MxError::Permanent(
            "the domain does not accept mail (null MX, RFC 7505)".into(),
        ));
    }
    // A deterministic rotation among equal preferences, chosen by the caller.
    records.sort_by_key(|(pref, name)| {
        let mut h: u64 = shuffle;
        for b in name.bytes() {
            h = h.wrapping_mul(31).wrapping_add(u64::from(b));
        }
        (*pref, h)
    });
    let mut hosts: Vec<String> = Vec::with_capacity(records.len());
    for (_, name) in records {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !hosts.contains(&name) {
            hosts.push(name);
        }
    }
    Ok(Some(hosts))
}

/// The hosts for `domain`: MX exchanges by preference, or the domain itself.
pub async fn resolve(resolver: &TokioResolver, domain: &str) -> Result<Vec<String>, MxError> {
    let fqdn = format!("{}.", domain.trim_end_matches('.'));
    let records = match resolver.lookup(fqdn.as_str(), RecordType::MX).await {
        Ok(lookup) => lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                _ => None,
            })
            .collect(),
        Err(e) if e.is_nx_domain() => {
            return Err(MxError::Permanent(format!(
                "domain {domain} does not exist"
            )));
        }
        Err(e) if e.is_no_records_found() => Vec::new(),
        Err(e) => return Err(MxError::Temporary(format!("MX lookup for {domain}: {e}"))),
    };
    Ok(order(records, super::schedule::jitter_random().to_bits())?
        .unwrap_or_else(|| vec![domain.trim_end_matches('.').to_ascii_lowercase()]))
}

/// The addresses of `host` (A and AAAA), for connecting.
pub async fn addresses(
    resolver: &TokioResolver,
    host: &str,
) -> Result<Vec<std::net::IpAddr>, MxError> {
    if let Ok(ip) = host.parse() {
        return Ok(vec![ip]);
    }
    let fqdn = format!("{}.", host.trim_end_matches('.'));
    match resolver.lookup_ip(fqdn.as_str()).await {
        Ok(ips) => Ok(ips.iter().collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
            Err(MxError::Temporary(format!("host {host} has no address")))
        }
        Err(e) => Err(MxError::Temporary(format!(
            "address lookup for {host}: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_order_and_fallback() {
        let hosts = order(
            vec![
                (20, "b.example.".into()),
                (10, "A.example.".into()),
                (30, "c.example".into()),
                (10, "a.example".into()),
            ],
            7,
        )
        .expect("ok")
        .expect("hosts");
        assert_eq!(hosts, ["a.example", "b.example", "c.example"]);
        // RFC 5321 §5.1: no MX at all → the domain's own address.
        assert_eq!(order(Vec::new(), 0), Ok(None));
    }

    #[test]
    fn equal_preferences_are_all_kept_in_some_order() {
        for seed in 0..20 {
            let mut hosts = order(
                vec![
                    (5, "x.example".into()),
                    (5, "y.example".into()),
                    (1, "w.example".into()),
                ],
                seed,
            )
            .expect("ok")
            .expect("hosts");
            assert_eq!(hosts[0], "w.example");
            hosts[1..].sort();
            assert_eq!(hosts[1..], ["x.example", "y.example"]);
        }
    }

    #[test]
    fn null_mx_is_permanent() {
        // RFC 7505 §3.
        assert!(matches!(
            order(vec![(0, ".".into())], 0),
            Err(MxError::Permanent(_))
        ));
    }
}
