//! The DNS records a hosted domain should publish (MX, SPF, DKIM, DMARC, MTA-STS, TLSRPT,
//! client autoconfiguration), and a live check of each against the configured resolver.
//!
//! [`records`] is pure: the Domains page and the API show its list. [`check`] asks the
//! resolver of the running snapshot, all records at once under one timeout, and compares
//! what it finds loosely where operators legitimately differ (SRV priority and weight, the
//! MTA-STS `id`) and exactly where a difference breaks mail (the DKIM key, the MX host).

use crate::autoconfig::{Endpoint, endpoints};
use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{RData, RecordType};
use mailroom_config::{Config, ListenerKind};
use mailroom_store::dkim::DkimKey;
use std::time::Duration;

/// How long the whole check may take; a record not answered by then is [`RecordStatus::Unknown`].
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// One record to publish. Names and host values are absolute, without the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DnsRecord {
    /// Owner name, e.g. `_dmarc.example.com`.
    pub name: String,
    /// `MX`, `TXT`, `CNAME` or `SRV`.
    pub rtype: &'static str,
    /// The record data as a zone file writes it (without quotes for TXT): `10 mail.example.com`,
    /// `v=spf1 mx -all`, `0 1 993 mail.example.com`.
    pub value: String,
    /// What it is for, for the page.
    pub purpose: &'static str,
}

/// What the resolver said about one record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RecordStatus {
    /// Published as it should be.
    Found,
    /// No record of that kind at the name.
    Missing,
    /// Records of that kind are there, but not the right one: these are what was found.
    Wrong { found: Vec<String> },
    /// The lookup failed (timeout, SERVFAIL): nothing is known.
    Unknown { error: String },
}

/// The MTA-STS policy `id` (RFC 8461 §3.1: 1–32 alphanumerics, changed whenever the policy
/// changes): a hash of the policy text served, so it changes exactly when the text does.
pub fn mta_sts_id(policy: &str) -> String {
    // FNV-1a: stable across builds and processes, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in policy.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The records `domain` should publish for a server called `hostname` with `config`'s
/// listeners and the domain's active `dkim` keys (a key whose public half cannot be computed
/// is left out and logged).
pub fn records(domain: &str, hostname: &str, dkim: &[DkimKey], config: &Config) -> Vec<DnsRecord> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let host = hostname.trim_end_matches('.').to_ascii_lowercase();
    let rec = |name: String, rtype, value: String, purpose| DnsRecord {
        name,
        rtype,
        value,
        purpose,
    };
    let mut out = vec![
        rec(
            domain.clone(),
            "MX",
            format!("10 {host}"),
            "mail for the domain comes here",
        ),
        // RFC 7208 §5.4: `mx` authorises the hosts the MX names, which is this server;
        // `-all` because no other host sends for the domain.
        rec(
            domain.clone(),
            "TXT",
            "v=spf1 mx -all".into(),
            "SPF: who may send as the domain",
        ),
    ];
    for key in dkim {
        match key.txt_value() {
            Ok(value) => out.push(rec(
                key.dns_name().trim_end_matches('.').to_string(),
                "TXT",
                value,
                "DKIM public key for signed outgoing mail",
            )),
            Err(e) => {
                tracing::warn!(domain, selector = key.selector, error = %e, "DKIM key without a public key; not listed.");
            }
        }
    }
    out.extend([
        // RFC 7489 §6.3: quarantine, not reject, so that mail broken by a forwarder goes to
        // Junk instead of vanishing while the operator reads the aggregate reports; not
        // `none`, which would protect nothing.
        rec(
            format!("_dmarc.{domain}"),
            "TXT",
            format!("v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}"),
            "DMARC: what receivers do with mail failing SPF and DKIM",
        ),
        // RFC 8461 §3.1; the policy itself is served (crate::mta_sts) at
        // https://mta-sts.DOMAIN/.well-known/mta-sts.txt, which needs the CNAME below and a
        // certificate for that name.
        rec(
            format!("_mta-sts.{domain}"),
            "TXT",
            format!(
                "v=STSv1; id={}",
                mta_sts_id(&crate::mta_sts::policy(&host, config.admin.mta_sts_mode))
            ),
            "MTA-STS: senders must use TLS to the MX",
        ),
        rec(
            format!("mta-sts.{domain}"),
            "CNAME",
            host.clone(),
            "MTA-STS policy host (needs a certificate for this name)",
        ),
        // RFC 8460 §3.
        rec(
            format!("_smtp._tls.{domain}"),
            "TXT",
            format!("v=TLSRPTv1; rua=mailto:postmaster@{domain}"),
            "TLS reports from senders",
        ),
        rec(
            format!("autoconfig.{domain}"),
            "CNAME",
            host.clone(),
            "Thunderbird autoconfiguration",
        ),
        rec(
            format!("_autodiscover._tcp.{domain}"),
            "SRV",
            format!("0 0 443 {host}"),
            "Outlook autodiscover",
        ),
    ]);
    // RFC 6186 §3 (and RFC 8314 §5.1 for submissions): where clients find each service.
    for Endpoint { kind, port } in endpoints(config) {
        let service = match kind {
            ListenerKind::Submission => "_submission",
            ListenerKind::Submissions => "_submissions",
            ListenerKind::Imap => "_imap",
            ListenerKind::Imaps => "_imaps",
            ListenerKind::Pop3 => "_pop3",
            ListenerKind::Pop3s => "_pop3s",
            _ => continue,
        };
        out.push(rec(
            format!("{service}._tcp.{domain}"),
            "SRV",
            format!("0 1 {port} {host}"),
            "client autoconfiguration (RFC 6186)",
        ));
    }
    out
}

fn host_eq(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The tags of a `tag=value; …` record, names lowercased, values trimmed.
fn tags(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|t| {
            let (k, v) = t.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.split_whitespace().collect(),
            ))
        })
        .collect()
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The version tag a TXT record starts with (`v=spf1`, `v=DMARC1` …), lowercased.
fn version(text: &str) -> String {
    text.split([';', ' '])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a published TXT `found` (of the same version) says what `want` says.
fn txt_matches(want: &str, found: &str) -> bool {
    let v = version(want);
    if v == "v=spf1" {
        // SPF terms are order-sensitive; whitespace and case are not.
        let norm = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase()
        };
        return norm(want) == norm(found);
    }
    let (w, f) = (tags(want), tags(found));
    match v.as_str() {
        // RFC 6376 §3.6.1: the key is what matters (whitespace inside p= is allowed).
        "v=dkim1" => tag(&w, "p").is_some() && tag(&w, "p") == tag(&f, "p"),
        // The id is the operator's to choose; it only has to be there (RFC 8461 §3.1).
        "v=stsv1" => tag(&f, "id").is_some_and(|id| !id.is_empty()),
        // DMARC, TLSRPT: the same tags with the same values, in any order.
        _ => {
            let mut w = w;
            let mut f = f;
            w.sort();
            f.sort();
            w == f
        }
    }
}

/// The answers of one lookup as text, or `None` for "no such record".
async fn lookup(resolver: &TokioResolver, record: &DnsRecord) -> Result<Vec<String>, String> {
    let rtype = match record.rtype {
        "MX" => RecordType::MX,
        "TXT" => RecordType::TXT,
        "CNAME" => RecordType::CNAME,
        "SRV" => RecordType::SRV,
        other => return Err(format!("cannot check {other} records")),
    };
    // Absolute, so no search domain is tried.
    let name = format!("{}.", record.name);
    match resolver.lookup(name.as_str(), rtype).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) if rtype == RecordType::MX => Some(format!(
                    "{} {}",
                    mx.preference,
                    mx.exchange.to_ascii().trim_end_matches('.')
                )),
                RData::TXT(txt) if rtype == RecordType::TXT => {
                    // RFC 7208 §3.3, RFC 6376 §3.6.2.2: the strings are joined without spaces.
                    let bytes: Vec<u8> = txt
                        .txt_data
                        .iter()
                        .flat_map(|s| s.iter().copied())
                        .collect();
                    Some(String::from_utf8_lossy(&bytes).into_owned())
                }
                RData::CNAME(c) if rtype == RecordType::CNAME => {
                    Some(c.0.to_ascii().trim_end_matches('.').to_string())
                }
                RData::SRV(srv) if rtype == RecordType::SRV => Some(format!(
                    "{} {} {} {}",
                    srv.priority,
                    srv.weight,
                    srv.port,
                    srv.target.to_ascii().trim_end_matches('.')
                )),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// Compare what was `found` at a record's name with the record.
fn judge(record: &DnsRecord, found: Vec<String>) -> RecordStatus {
    let matches = |f: &String| -> bool {
        match record.rtype {
            // Preference and host (RFC 5321 §5.1).
            "MX" => {
                let (wp, wh) = record.value.split_once(' ').unwrap_or(("", &record.value));
                f.split_once(' ')
                    .is_some_and(|(p, h)| p == wp && host_eq(h, wh))
            }
            "CNAME" => host_eq(f, &record.value),
            // Port and target; priority and weight are the operator's choice.
            "SRV" => {
                let w: Vec<&str> = record.value.split_whitespace().collect();
                let g: Vec<&str> = f.split_whitespace().collect();
                w.len() == 4 && g.len() == 4 && w[2] == g[2] && host_eq(w[3], g[3])
            }
            _ => txt_matches(&record.value, f),
        }
    };
    // TXT: only the records of the same kind count (an SPF record is not a wrong DMARC one).
    let relevant: Vec<String> = if record.rtype == "TXT" {
        let v = version(&record.value);
        found.into_iter().filter(|f| version(f) == v).collect()
    } else {
        found
    };
    if relevant.is_empty() {
        RecordStatus::Missing
    } else if relevant.iter().any(matches) {
        RecordStatus::Found
    } else {
        RecordStatus::Wrong { found: relevant }
    }
}

/// Look every record up at once through `resolver` (the snapshot's, `Snapshot.dns.resolver()`)
/// and say for each whether it is published, missing or wrong; within [`CHECK_TIMEOUT`].
pub async fn check(
    resolver: &TokioResolver,
    records: &[DnsRecord],
) -> Vec<(DnsRecord, RecordStatus)> {
    let lookups = records.iter().map(|record| async move {
        let status = match tokio::time::timeout(CHECK_TIMEOUT, lookup(resolver, record)).await {
            Ok(Ok(found)) => judge(record, found),
            Ok(Err(error)) => RecordStatus::Unknown { error },
            Err(_) => RecordStatus::Unknown {
                error: "no answer in time".into(),
            },
        };
        (record.clone(), status)
    });
    futures_util::future::join_all(lookups).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta_sts::policy;
    use mailroom_config::{ListenerAddrs, Listeners, MtaStsMode};
    use mailroom_store::dkim::{DkimAlgorithm, generate};

    fn config() -> Config {
        Config {
            listeners: Listeners {
                smtp: Some(ListenerAddrs::One("0.0.0.0:25".into())),
                submission: Some(ListenerAddrs::One("0.0.0.0:587".into())),
                imaps: Some(ListenerAddrs::One("0.0.0.0:993".into())),
                ..Listeners::none()
            },
            ..Config::default()
        }
    }

    fn key() -> DkimKey {
        DkimKey {
            domain: "example.test".into(),
            selector: "ed2026".into(),
            algorithm: DkimAlgorithm::Ed25519Sha256,
            private_key: generate(DkimAlgorithm::Ed25519Sha256).expect("key"),
            created: 0,
        }
    }

    fn find<'a>(rs: &'a [DnsRecord], name: &str, rtype: &str) -> Vec<&'a str> {
        rs.iter()
            .filter(|r| r.name == name && r.rtype == rtype)
            .map(|r| r.value.as_str())
            .collect()
    }

    #[test]
    fn records_cover_mail_auth_and_configured_services() {
        let k = key();
        let rs = records(
            "Example.Test.",
            "Mail.Example.Test",
            std::slice::from_ref(&k),
            &config(),
        );
        assert_eq!(find(&rs, "example.test", "MX"), ["10 mail.example.test"]);
        assert_eq!(find(&rs, "example.test", "TXT"), ["v=spf1 mx -all"]);
        let dkim = find(&rs, "ed2026._domainkey.example.test", "TXT");
        assert_eq!(dkim, [k.txt_value().expect("txt").as_str()]);
        assert!(dkim[0].starts_with("v=DKIM1; k=ed25519; p="));
        assert_eq!(
            find(&rs, "_dmarc.example.test", "TXT"),
            ["v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test"]
        );
        let sts = find(&rs, "_mta-sts.example.test", "TXT");
        assert_eq!(
            sts,
            [format!(
                "v=STSv1; id={}",
                mta_sts_id(&policy("mail.example.test", MtaStsMode::Testing))
            )
            .as_str()]
        );
        assert_eq!(
            find(&rs, "mta-sts.example.test", "CNAME"),
            ["mail.example.test"]
        );
        assert_eq!(
            find(&rs, "autoconfig.example.test", "CNAME"),
            ["mail.example.test"]
        );
        assert_eq!(
            find(&rs, "_smtp._tls.example.test", "TXT"),
            ["v=TLSRPTv1; rua=mailto:postmaster@example.test"]
        );
        assert_eq!(
            find(&rs, "_autodiscover._tcp.example.test", "SRV"),
            ["0 0 443 mail.example.test"]
        );
        assert_eq!(
            find(&rs, "_imaps._tcp.example.test", "SRV"),
            ["0 1 993 mail.example.test"]
        );
        assert_eq!(
            find(&rs, "_submission._tcp.example.test", "SRV"),
            ["0 1 587 mail.example.test"]
        );
        // Not configured: not advertised.
        assert!(find(&rs, "_imap._tcp.example.test", "SRV").is_empty());
        assert!(find(&rs, "_pop3s._tcp.example.test", "SRV").is_empty());
        assert!(find(&rs, "_submissions._tcp.example.test", "SRV").is_empty());
    }

    #[test]
    fn mta_sts_id_is_short_alphanumeric_and_follows_the_policy() {
        let id = |host, mode| mta_sts_id(&policy(host, mode));
        let testing = id("mail.example.test", MtaStsMode::Testing);
        assert!(testing.len() <= 32 && testing.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(testing, id("MAIL.example.test", MtaStsMode::Testing));
        assert_ne!(testing, id("mx2.example.test", MtaStsMode::Testing));
        assert_ne!(testing, id("mail.example.test", MtaStsMode::Enforce));
    }

    fn r(rtype: &'static str, value: &str) -> DnsRecord {
        DnsRecord {
            name: "example.test".into(),
            rtype,
            value: value.into(),
            purpose: "",
        }
    }

    #[test]
    fn judging_compares_what_matters() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            judge(
                &r("MX", "10 mail.example.test"),
                s(&["10 MAIL.example.test."])
            ),
            RecordStatus::Found
        );
        assert_eq!(
            judge(
                &r("MX", "10 mail.example.test"),
                s(&["20 mail.example.test"])
            ),
            RecordStatus::Wrong {
                found: s(&["20 mail.example.test"])
            }
        );
        assert_eq!(
            judge(&r("MX", "10 mail.example.test"), vec![]),
            RecordStatus::Missing
        );
        // Another TXT kind at the name is not a wrong SPF record.
        assert_eq!(
            judge(
                &r("TXT", "v=spf1 mx -all"),
                s(&["google-site-verification=x"])
            ),
            RecordStatus::Missing
        );
        assert_eq!(
            judge(&r("TXT", "v=spf1 mx -all"), s(&["v=spf1  MX -all", "x"])),
            RecordStatus::Found
        );
        assert!(matches!(
            judge(&r("TXT", "v=spf1 mx -all"), s(&["v=spf1 -all"])),
            RecordStatus::Wrong { .. }
        ));
        let dmarc = "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test";
        assert_eq!(
            judge(
                &r("TXT", dmarc),
                s(&["v=DMARC1;rua=mailto:postmaster@example.test; p=quarantine"])
            ),
            RecordStatus::Found
        );
        assert!(matches!(
            judge(&r("TXT", dmarc), s(&["v=DMARC1; p=none"])),
            RecordStatus::Wrong { .. }
        ));
        assert_eq!(
            judge(
                &r("TXT", "v=DKIM1; k=rsa; p=AB CD"),
                s(&["v=DKIM1; p=ABCD"])
            ),
            RecordStatus::Found
        );
        assert!(matches!(
            judge(&r("TXT", "v=DKIM1; k=rsa; p=ABCD"), s(&["v=DKIM1; p=ABCE"])),
            RecordStatus::Wrong { .. }
        ));
        assert_eq!(
            judge(&r("TXT", "v=STSv1; id=1"), s(&["v=STSv1; id=20260101"])),
            RecordStatus::Found
        );
        assert_eq!(
            judge(
                &r("SRV", "0 1 993 mail.example.test"),
                s(&["10 5 993 mail.example.test."])
            ),
            RecordStatus::Found
        );
        assert!(matches!(
            judge(
                &r("SRV", "0 1 993 mail.example.test"),
                s(&["0 1 143 mail.example.test"])
            ),
            RecordStatus::Wrong { .. }
        ));
        assert_eq!(
            judge(&r("CNAME", "mail.example.test"), s(&["Mail.Example.Test."])),
            RecordStatus::Found
        );
    }
}
