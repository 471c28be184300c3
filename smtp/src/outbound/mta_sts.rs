//! MTA-STS (RFC 8461): whether a destination domain asks for verified TLS to named MX hosts.
//! The parsers (the `_mta-sts` TXT record, the policy file, the HTTP response that carries
//! it) and the MX pattern match are sans-I/O; [`Policies`] fetches and caches by domain: a
//! TXT lookup through the snapshot's resolver, then, when the record's `id` is new, an HTTPS
//! GET of `https://mta-sts.<domain>/.well-known/mta-sts.txt` with certificate verification.
//!
//! Any failure to learn a policy means "no policy" unless a cached one is still valid
//! (RFC 8461 §5.1): MTA-STS must not stop mail to domains that never asked for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_auth::hickory_resolver::proto::rr::{RData, RecordType};
use mailroom_shared::dns::TokioResolver;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest policy accepted (RFC 8461 §3.3 suggests 64 KiB).
pub const MAX_POLICY: usize = 64 * 1024;
/// RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
const MAX_AGE_LIMIT: u64 = 31_557_600;
/// Room for the response's status line and headers on top of the body.
const MAX_HEADERS: usize = 8 * 1024;

/// The policy's `mode` (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only matching MX hosts, with verified TLS.
    Enforce,
    /// Report only: deliver as without a policy.
    Testing,
    /// The domain has withdrawn its policy.
    None,
}

/// A parsed policy file (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What to do with it.
    pub mode: Mode,
    /// `mx:` patterns, lowercase, without a trailing dot.
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
}

impl Policy {
    /// Whether `host` is one of the MX hosts the policy names (RFC 8461 §4.1).
    pub fn matches(&self, host: &str) -> bool {
        self.mx.iter().any(|p| mx_matches(p, host))
    }
}

/// RFC 8461 §4.1: an exact name, or `*.example.com`, which matches exactly one more label on
/// the left (`mx1.example.com`, not `example.com` nor `a.b.example.com`). Case-insensitive.
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => !host.is_empty() && host == pattern,
    }
}

/// The `id` of the domain's `_mta-sts` TXT record (RFC 8461 §3.1), from its TXT strings.
/// `None` when there is no STSv1 record, or more than one (§3.1: then there is no policy).
pub fn parse_txt(records: &[String]) -> Option<String> {
    let mut ids = records.iter().filter_map(|r| txt_id(r));
    let id = ids.next()?;
    if ids.next().is_some() {
        return None;
    }
    Some(id)
}

fn txt_id(record: &str) -> Option<String> {
    let mut fields = record.split(';').map(str::trim);
    // §3.1: `v=STSv1` must be the first field; other records at the name are not ours.
    if fields.next()? != "v=STSv1" {
        return None;
    }
    let mut id = None;
    for field in fields {
        if let Some((key, value)) = field.split_once('=')
            && key.trim() == "id"
        {
            id = Some(value.trim().to_string());
        }
    }
    // §3.1: id is 1–32 letters and digits.
    id.filter(|v| !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Parse a policy file (RFC 8461 §3.2): `key: value` lines (LF or CRLF), unknown keys ignored.
pub fn parse_policy(text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("policy line `{line}` is not `key: value`"));
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(format!("unknown policy mode `{other}`")),
                })
            }
            "max_age" => {
                let n = value
                    .parse::<u64>()
                    .map_err(|_| format!("max_age `{value}` is not a number"))?;
                max_age = Some(n.min(MAX_AGE_LIMIT));
            }
            "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
            _ => {} // §3.2: other keys are for extensions
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("the policy's version is not STSv1".into());
    }
    let mode = mode.ok_or("the policy has no mode")?;
    let max_age = max_age.ok_or("the policy has no max_age")?;
    if mode != Mode::None && mx.is_empty() {
        return Err("the policy names no mx".into());
    }
    Ok(Policy { mode, mx, max_age })
}

/// The body of an HTTP/1.x response carrying a policy: 200 (§3.3: redirects are not
/// followed), `Content-Type: text/plain`, at most [`MAX_POLICY`] octets.
pub fn parse_response(raw: &[u8]) -> Result<&[u8], String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the HTTP response has no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the HTTP headers are not text")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with("HTTP/1.") || code != "200" {
        return Err(format!("the policy server answered `{status}`"));
    }
    let mut plain = false;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim().to_ascii_lowercase());
        if name.eq_ignore_ascii_case("content-type") {
            plain = value.split(';').next().map(str::trim) == Some("text/plain");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.contains("chunked");
        }
    }
    if !plain {
        return Err("the policy is not served as text/plain".into());
    }
    if chunked {
        // We ask with HTTP/1.0, which a server must not answer chunked.
        return Err("the policy server sent a chunked response".into());
    }
    let body = &raw[end + 4..];
    if body.len() > MAX_POLICY {
        return Err(format!("the policy is larger than {MAX_POLICY} octets"));
    }
    Ok(body)
}

/// A TLS config that verifies certificates against `roots` (system roots plus the configured
/// extra CAs), aws-lc-rs only.
pub fn verifying_tls(extra_ca_file: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if !extra_ca_file.is_empty() {
        let certs = CertificateDer::pem_file_iter(extra_ca_file)
            .map_err(|e| format!("{extra_ca_file}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{extra_ca_file}: {e}"))?;
        // A file that holds no certificate is a mistake, not "no extra CAs".
        if certs.is_empty() {
            return Err(format!("{extra_ca_file}: no PEM certificate in it"));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{extra_ca_file}: {e}"))?;
        }
    } else if added == 0 {
        tracing::warn!("No system CA certificates found: MTA-STS policies cannot be verified.");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

struct Cached {
    id: String,
    policy: Policy,
    expires: Instant,
}

/// Policies by domain, shared by the queue's deliveries.
#[derive(Clone, Default)]
pub struct Policies {
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

/// How to reach policy servers.
pub struct Fetch<'a> {
    /// The snapshot's resolver (TXT and the policy host's address).
    pub resolver: &'a TokioResolver,
    /// The verifying TLS config.
    pub tls: &'a Arc<rustls::ClientConfig>,
    /// 443, except in tests.
    pub port: u16,
    /// For the whole fetch.
    pub timeout: Duration,
}

impl Policies {
    fn cached(&self, domain: &str, id: Option<&str>) -> Option<Policy> {
        let cache = self.cache.lock().ok()?;
        let c = cache.get(domain)?;
        (c.expires > Instant::now() && id.is_none_or(|id| id == c.id)).then(|| c.policy.clone())
    }

    /// The policy in force for `domain`, if any (RFC 8461 §5.1).
    pub async fn get(&self, domain: &str, fetch: &Fetch<'_>) -> Option<Policy> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let id = match txt_lookup(fetch.resolver, &domain).await {
            Ok(Some(id)) => id,
            // §5.1: no record (or DNS trouble) keeps a still-valid cached policy.
            Ok(None) | Err(_) => return self.cached(&domain, None),
        };
        if let Some(policy) = self.cached(&domain, Some(&id)) {
            return Some(policy);
        }
        match tokio::time::timeout(fetch.timeout, fetch_policy(&domain, fetch)).await {
            Ok(Ok(policy)) => {
                tracing::info!(%domain, %id, mode = ?policy.mode, "MTA-STS policy fetched.");
                if let Ok(mut cache) = self.cache.lock() {
                    // Expired entries go, so the cache holds only domains mailed within max_age.
                    let now = Instant::now();
                    cache.retain(|_, c| c.expires > now);
                    cache.insert(
                        domain,
                        Cached {
                            id,
                            policy: policy.clone(),
                            expires: Instant::now() + Duration::from_secs(policy.max_age),
                        },
                    );
                }
                Some(policy)
            }
            Ok(Err(e)) => {
                tracing::info!(%domain, error = %e, "MTA-STS policy not fetched.");
                self.cached(&domain, None)
            }
            Err(_) => {
                tracing::info!(%domain, "MTA-STS policy fetch timed out.");
                self.cached(&domain, None)
            }
        }
    }
}

async fn txt_lookup(resolver: &TokioResolver, domain: &str) -> Result<Option<String>, String> {
    let name = format!("_mta-sts.{domain}.");
    match resolver.lookup(name.as_str(), RecordType::TXT).await {
        Ok(lookup) => {
            let records: Vec<String> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    // RFC 8461 §3.1: the strings of one record are concatenated.
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect();
            Ok(parse_txt(&records))
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

async fn fetch_policy(domain: &str, fetch: &Fetch<'_>) -> Result<Policy, String> {
    let host = format!("mta-sts.{domain}");
    let ips = super::mx::addresses(fetch.resolver, &host)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let ip = ips
        .first()
        .ok_or_else(|| format!("{host} has no address"))?;
    let tcp = TcpStream::connect((*ip, fetch.port))
        .await
        .map_err(|e| format!("connecting to {host}: {e}"))?;
    let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
    let mut tls = tokio_rustls::TlsConnector::from(fetch.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS to {host}: {e}"))?;
    // HTTP/1.0 so that the answer is never chunked; Host for virtual hosting.
    let request = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: mailroom\r\nAccept: text/plain\r\n\r\n"
    );
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("writing to {host}: {e}"))?;
    let mut raw = Vec::new();
    let limit = (MAX_POLICY + MAX_HEADERS + 1) as u64;
    (&mut tls)
        .take(limit)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| format!("reading from {host}: {e}"))?;
    if raw.len() as u64 >= limit {
        return Err(format!("the response from {host} is too large"));
    }
    let body = parse_response(&raw)?;
    let text = std::str::from_utf8(body).map_err(|_| "the policy is not UTF-8".to_string())?;
    parse_policy(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_record_from_rfc_8461() {
        // RFC 8461 §3.1 example.
        let ok = vec!["v=STSv1; id=20160831085700Z;".to_string()];
        assert_eq!(parse_txt(&ok).as_deref(), Some("20160831085700Z"));
        // Other TXT records at the name are ignored; v must come first.
        let mixed = vec![
            "some other text".to_string(),
            "id=1; v=STSv1".to_string(),
            "v=STSv1;id=abc".to_string(),
        ];
        assert_eq!(parse_txt(&mixed).as_deref(), Some("abc"));
        // Two STSv1 records: no policy (§3.1).
        let two = vec!["v=STSv1; id=a".to_string(), "v=STSv1; id=b".to_string()];
        assert_eq!(parse_txt(&two), None);
        // A bad id is no record.
        assert_eq!(parse_txt(&["v=STSv1; id=not-alnum".to_string()]), None);
        assert_eq!(parse_txt(&["v=STSv1;".to_string()]), None);
    }

    #[test]
    fn policy_from_rfc_8461() {
        // RFC 8461 §3.2 example, CRLF line ends.
        let text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";
        let p = parse_policy(text).expect("policy");
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(
            p.mx,
            ["mail.example.com", "*.example.net", "backupmx.example.com"]
        );
        assert!(p.matches("mail.example.com"));
        assert!(p.matches("MX1.example.net."));
        assert!(!p.matches("example.net"));
        assert!(!p.matches("a.b.example.net"));
        assert!(!p.matches("evil.example.com"));
        // LF only, unknown keys ignored, max_age capped.
        let p = parse_policy(
            "version: STSv1\nmode: testing\nfoo: bar\nmx: a.test\nmax_age: 99999999999\n",
        )
        .expect("policy");
        assert_eq!(p.mode, Mode::Testing);
        assert_eq!(p.max_age, MAX_AGE_LIMIT);
        // mode none needs no mx.
        assert_eq!(
            parse_policy("version: STSv1\nmode: none\nmax_age: 1\n").map(|p| p.mode),
            Ok(Mode::None)
        );
    }

    #[test]
    fn bad_policies_are_refused() {
        for text in [
            "mode: enforce\nmx: a.test\nmax_age: 1\n", // no version
            "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n", // wrong version
            "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n", // bad mode
            "version: STSv1\nmode: enforce\nmax_age: 1\n", // no mx
            "version: STSv1\nmode: enforce\nmx: a.test\n", // no max_age
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n", // bad max_age
            "<html>not a policy</html>",
        ] {
            assert!(parse_policy(text).is_err(), "{text}");
        }
    }

    #[test]
    fn wildcards_match_one_label() {
        // RFC 8461 §4.1.
        assert!(mx_matches("*.example.com", "mx1.example.com"));
        assert!(!mx_matches("*.example.com", "example.com"));
        assert!(!mx_matches("*.example.com", ".example.com"));
        assert!(!mx_matches("*.example.com", "a.mx.example.com"));
        assert!(mx_matches("Mail.Example.com.", "mail.example.com"));
        assert!(!mx_matches("mail.example.com", "mail.example.org"));
    }

    #[test]
    fn extra_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        assert!(verifying_tls(&empty.to_string_lossy()).is_err());
        let made = rcgen::generate_simple_self_signed(vec!["ca.test".to_string()]).expect("cert");
        let good = dir.path().join("good.pem");
        std::fs::write(&good, made.cert.pem()).expect("write");
        assert!(verifying_tls(&good.to_string_lossy()).is_ok());
        assert!(verifying_tls("").is_ok());
    }

    #[test]
    fn http_responses() {
        let ok =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nversion: STSv1\r\n";
        assert_eq!(parse_response(ok), Ok(&b"version: STSv1\r\n"[..]));
        let redirect = b"HTTP/1.1 301 Moved\r\nLocation: x\r\nContent-Type: text/plain\r\n\r\n";
        assert!(parse_response(redirect).is_err());
        let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nversion: STSv1\r\n";
        assert!(parse_response(html).is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain").is_err());
        let mut big = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
        big.resize(big.len() + MAX_POLICY + 1, b'a');
        assert!(parse_response(&big).is_err());
    }
}
