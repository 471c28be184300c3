//! DKIM signing keys of hosted domains: their types, generation and the DNS record that
//! publishes each public key. Signing itself is the smtp crate's (`mailroom_smtp::dkim`).
//!
//! Every domain has one active key per algorithm: RSA-2048 (`rsa-sha256`, what every
//! verifier understands) and Ed25519 (`ed25519-sha256`, RFC 8463, short and fast, but not yet
//! universally verified). Selectors name the year of creation and the algorithm:
//! `mr2026r` and `mr2026e`, so a later rotation gets a new selector without a clash.

use std::fmt;

use actix::Message;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::StoreError;

/// A DKIM signing algorithm (RFC 6376 §3.3, RFC 8463).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DkimAlgorithm {
    /// RSA-2048 with SHA-256.
    RsaSha256,
    /// Ed25519 over the SHA-256 of the canonical data (RFC 8463 §3).
    Ed25519Sha256,
}

impl DkimAlgorithm {
    /// Both algorithms, in the order a domain's keys are created and listed.
    pub const ALL: [DkimAlgorithm; 2] = [DkimAlgorithm::RsaSha256, DkimAlgorithm::Ed25519Sha256];

    /// The `a=` tag value, which is also the text stored in `dkim_keys.algorithm`.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa-sha256",
            DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// Parse the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// The key type of the DNS record (`k=`, RFC 6376 §3.6.1, RFC 8463 §4.2).
    pub fn key_type(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa",
            DkimAlgorithm::Ed25519Sha256 => "ed25519",
        }
    }

    /// The selector of a key of this algorithm created in `year`: `mr2026r`, `mr2026e`.
    pub fn selector(self, year: i64) -> String {
        let suffix = match self {
            DkimAlgorithm::RsaSha256 => 'r',
            DkimAlgorithm::Ed25519Sha256 => 'e',
        };
        format!("mr{year}{suffix}")
    }
}

impl fmt::Display for DkimAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A private key as PKCS#8 DER. Its `Debug` prints `[redacted]` so that it never reaches a
/// log through a `{:?}` of the key or of a message carrying it.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimPrivateKey(Vec<u8>);

impl DkimPrivateKey {
    /// Wrap PKCS#8 DER bytes (not checked here: signing parses them).
    pub fn from_pkcs8_der(der: Vec<u8>) -> Self {
        Self(der)
    }

    /// The DER bytes, for the one place that needs them (signing, storing).
    pub fn expose_pkcs8_der(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for DkimPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One DKIM key of a hosted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    /// The signing domain (`d=`), lowercase, no trailing dot.
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The algorithm (`a=`).
    pub algorithm: DkimAlgorithm,
    /// The private key.
    pub private_key: DkimPrivateKey,
    /// When it was created, Unix seconds.
    pub created: i64,
}

impl DkimKey {
    /// The public key as the `p=` tag carries it: the SubjectPublicKeyInfo DER for RSA
    /// (RFC 6376 §3.6.1), the raw 32 octets for Ed25519 (RFC 8463 §4.2).
    pub fn public_key(&self) -> Result<Vec<u8>, StoreError> {
        public_key(self.algorithm, &self.private_key)
    }

    /// The owner name of the TXT record: `SELECTOR._domainkey.DOMAIN.` (RFC 6376 §3.6.2.1).
    pub fn dns_name(&self) -> String {
        format!("{}._domainkey.{}.", self.selector, self.domain)
    }

    /// The TXT record's text: `v=DKIM1; k=rsa; p=…` (RFC 6376 §3.6.1).
    pub fn txt_value(&self) -> Result<String, StoreError> {
        Ok(format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm.key_type(),
            BASE64.encode(self.public_key()?)
        ))
    }

    /// The record in zone-file form, one line: the text split into quoted strings of at most
    /// 255 octets, because one character-string of a TXT record cannot be longer (RFC 1035
    /// §3.3.14); verifiers join them (RFC 6376 §3.6.2.2).
    pub fn zone_record(&self) -> Result<String, StoreError> {
        Ok(txt_zone_line(&self.dns_name(), &self.txt_value()?))
    }
}

/// A TXT record for `owner` (absolute, with its trailing dot) in zone-file form, as
/// [`DkimKey::zone_record`] writes it; also for a record read back through the API.
pub fn txt_zone_line(owner: &str, value: &str) -> String {
    // The value is ASCII (tags and base64), so splitting at any octet is safe.
    let strings: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("{owner} IN TXT {}", strings.join(" "))
}

/// A new private key of `algorithm`. RSA-2048 takes tens to hundreds of milliseconds: call it
/// outside any store transaction.
pub fn generate(algorithm: DkimAlgorithm) -> Result<DkimPrivateKey, StoreError> {
    let failed = |what: &str| StoreError::Unavailable(format!("cannot generate a {what} key"));
    let der = match algorithm {
        DkimAlgorithm::RsaSha256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| failed("RSA"))?;
            pair.as_der().map_err(|_| failed("RSA"))?.as_ref().to_vec()
        }
        DkimAlgorithm::Ed25519Sha256 => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| failed("Ed25519"))?
            .as_ref()
            .to_vec(),
    };
    Ok(DkimPrivateKey(der))
}

/// The `p=` bytes of the public half of `key` (see [`DkimKey::public_key`]).
pub fn public_key(algorithm: DkimAlgorithm, key: &DkimPrivateKey) -> Result<Vec<u8>, StoreError> {
    let bad = || StoreError::Invalid(format!("stored {algorithm} DKIM key does not parse"));
    match algorithm {
        DkimAlgorithm::RsaSha256 => {
            let pair = RsaKeyPair::from_pkcs8(&key.0).map_err(|_| bad())?;
            Ok(pair
                .public_key()
                .as_der()
                .map_err(|_| bad())?
                .as_ref()
                .to_vec())
        }
        DkimAlgorithm::Ed25519Sha256 => {
            let pair = Ed25519KeyPair::from_pkcs8(&key.0).map_err(|_| bad())?;
            Ok(pair.public_key().as_ref().to_vec())
        }
    }
}

/// The proleptic Gregorian year of Unix time `secs` (UTC), for selectors.
pub fn year_of(secs: i64) -> i64 {
    use mailroom_shared::civil::{SECS_PER_DAY, civil_from_days};
    civil_from_days(secs.div_euclid(SECS_PER_DAY)).0
}

/// The active DKIM keys of `domain` (any case, a trailing dot ignored), RSA first; empty if
/// the domain is not hosted. Sent by the submission path to sign outgoing mail.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<DkimKey>, StoreError>")]
pub struct DkimKeys {
    /// The signing domain, usually the From: address's.
    pub domain: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(algorithm: DkimAlgorithm) -> DkimKey {
        DkimKey {
            domain: "example.test".into(),
            selector: algorithm.selector(2026),
            algorithm,
            private_key: generate(algorithm).expect("generate"),
            created: 0,
        }
    }

    #[test]
    fn generated_keys_parse_and_the_record_carries_their_public_key() {
        for algorithm in DkimAlgorithm::ALL {
            let k = key(algorithm);
            let public = k.public_key().expect("public key");
            let value = k.txt_value().expect("txt");
            let prefix = format!("v=DKIM1; k={}; p=", algorithm.key_type());
            let p = value.strip_prefix(&prefix).expect("tags");
            assert_eq!(BASE64.decode(p).expect("base64"), public);
            match algorithm {
                DkimAlgorithm::Ed25519Sha256 => assert_eq!(public.len(), 32),
                // SubjectPublicKeyInfo of a 2048-bit modulus: 294 octets.
                DkimAlgorithm::RsaSha256 => assert_eq!(public.len(), 294),
            }
        }
    }

    #[test]
    fn zone_record_splits_long_values_into_255_octet_strings() {
        let k = key(DkimAlgorithm::RsaSha256);
        let record = k.zone_record().expect("record");
        let rest = record
            .strip_prefix("mr2026r._domainkey.example.test. IN TXT ")
            .expect("owner");
        let strings: Vec<&str> = rest.split("\" \"").map(|s| s.trim_matches('"')).collect();
        assert!(strings.len() >= 2, "{record}");
        assert!(strings.iter().all(|s| s.len() <= 255));
        assert_eq!(strings[0].len(), 255);
        assert_eq!(strings.concat(), k.txt_value().expect("txt"));
        let e = key(DkimAlgorithm::Ed25519Sha256)
            .zone_record()
            .expect("record");
        assert_eq!(
            e.matches('"').count(),
            2,
            "a short value is one string: {e}"
        );
    }

    #[test]
    fn private_keys_are_not_printed() {
        let k = key(DkimAlgorithm::Ed25519Sha256);
        let shown = format!("{k:?}");
        assert!(shown.contains("[redacted]"), "{shown}");
        let der = k.private_key.expose_pkcs8_der();
        assert!(!shown.contains(&format!("{:?}", &der[..8])), "{shown}");
    }

    #[test]
    fn years_of_unix_times() {
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(1_767_225_599), 2025); // 2025-12-31T23:59:59Z
        assert_eq!(year_of(1_767_225_600), 2026); // 2026-01-01T00:00:00Z
        assert_eq!(year_of(951_782_400), 2000); // 2000-02-29
        assert_eq!(year_of(-1), 1969);
    }

    #[test]
    fn selectors_and_algorithm_names() {
        assert_eq!(DkimAlgorithm::RsaSha256.selector(2026), "mr2026r");
        assert_eq!(DkimAlgorithm::Ed25519Sha256.selector(2026), "mr2026e");
        for a in DkimAlgorithm::ALL {
            assert_eq!(DkimAlgorithm::parse(a.as_str()), Some(a));
        }
        assert_eq!(DkimAlgorithm::parse("rsa-sha1"), None);
    }
}
