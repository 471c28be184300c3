//! DKIM signing of outgoing mail (RFC 6376, RFC 8463) with mail-auth: one signature per
//! active key of the signing domain (RSA and Ed25519), relaxed/relaxed.
//!
//! Which fields are signed: those of [`SIGNED_FIELDS`] that the message has (every occurrence,
//! RFC 6376 §5.4.2), plus `From` once more than it occurs, so that a `From:` added on the way
//! makes the signature fail (RFC 6376 §8.15, "oversigning"). Fields the message lacks are not
//! listed: a list server adding `List-Id` should not break a signature over fields we sent.
//!
//! Parsing a PKCS#8 RSA key costs about as much as a signature (aws-lc checks the key), so
//! [`DkimSigners`] keeps parsed keys per (domain, selector) and re-parses only when the key
//! bytes it is handed differ from the cached ones: the caller reads the keys from the store for
//! each message, so a new key is used from the next message on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mail_auth::common::crypto::{Algorithm, Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::{HeaderWriter as _, Writable};
use mail_auth::dkim::{Canonicalization, DkimSigner};
use mailroom_store::dkim::{DkimAlgorithm, DkimKey, DkimPrivateKey};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The fields signed when present (RFC 6376 §5.4.1's recommendations and the fields a
/// reader sees or a client threads by). `From` must stay first: it is the one oversigned.
pub const SIGNED_FIELDS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-Language",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Help",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Subscribe",
    "List-Post",
    "List-Owner",
    "List-Archive",
];

/// Why a message could not be signed. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    /// RFC 6376 §5.4: `From` must be signed, so a message without one cannot be.
    #[error("the message has no From: field to sign")]
    NoFrom,
    /// The stored key does not parse as PKCS#8 of its algorithm.
    #[error("DKIM key {selector} of {domain} does not parse")]
    BadKey {
        /// The signing domain.
        domain: String,
        /// The key's selector.
        selector: String,
    },
    /// mail-auth refused to sign.
    #[error("DKIM signing failed: {0}")]
    Sign(String),
}

/// A parsed private key.
enum Parsed {
    Rsa(RsaKey<Sha256>),
    Ed25519(Ed25519Key),
}

/// A parsed key shared between the cache and the signer of one message.
#[derive(Clone)]
struct SharedKey(Arc<Parsed>);

impl SigningKey for SharedKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        match &*self.0 {
            Parsed::Rsa(k) => k.sign(input),
            Parsed::Ed25519(k) => k.sign(input),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match &*self.0 {
            Parsed::Rsa(k) => k.algorithm(),
            Parsed::Ed25519(k) => k.algorithm(),
        }
    }
}

fn parse(key: &DkimKey) -> Result<SharedKey, DkimError> {
    let der = key.private_key.expose_pkcs8_der();
    let parsed = match key.algorithm {
        DkimAlgorithm::RsaSha256 => {
            RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)))
                .map(Parsed::Rsa)
        }
        DkimAlgorithm::Ed25519Sha256 => Ed25519Key::from_pkcs8_der(der).map(Parsed::Ed25519),
    };
    parsed
        .map(|p| SharedKey(Arc::new(p)))
        .map_err(|_| DkimError::BadKey {
            domain: key.domain.clone(),
            selector: key.selector.clone(),
        })
}

/// Parsed keys by (domain, selector), reused while the key bytes stay the same.
#[derive(Default)]
pub struct DkimSigners {
    cache: Mutex<HashMap<(String, String), (DkimPrivateKey, SharedKey)>>,
}

impl DkimSigners {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `DKIM-Signature:` fields for `raw` (a whole message, CRLF line ends), one per key,
    /// to be prepended to it as they are. `keys` are the signing domain's active keys
    /// (`mailroom_store::dkim::DkimKeys`); none gives an empty result.
    pub fn sign(&self, keys: &[DkimKey], raw: &[u8]) -> Result<Vec<u8>, DkimError> {
        let parsed = keys
            .iter()
            .map(|k| self.parsed(k))
            .collect::<Result<Vec<_>, _>>()?;
        sign_with(keys, parsed, raw)
    }

    fn parsed(&self, key: &DkimKey) -> Result<SharedKey, DkimError> {
        let id = (key.domain.clone(), key.selector.clone());
        if let Ok(cache) = self.cache.lock()
            && let Some((der, parsed)) = cache.get(&id)
            && *der == key.private_key
        {
            return Ok(parsed.clone());
        }
        let parsed = parse(key)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(id, (key.private_key.clone(), parsed.clone()));
        }
        Ok(parsed)
    }
}

/// [`DkimSigners::sign`] without a cache: parses every key on every call.
pub fn sign(keys: &[DkimKey], raw: &[u8]) -> Result<Vec<u8>, DkimError> {
    let parsed = keys.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
    sign_with(keys, parsed, raw)
}

fn sign_with(keys: &[DkimKey], parsed: Vec<SharedKey>, raw: &[u8]) -> Result<Vec<u8>, DkimError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let fields = fields_to_sign(raw)?;
    let mut out = Vec::new();
    for (key, parsed) in keys.iter().zip(parsed) {
        let signature = DkimSigner::from_key(parsed)
            .domain(key.domain.as_str())
            .selector(key.selector.as_str())
            .headers(fields.iter().copied())
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed)
            .sign(raw)
            .map_err(|e| DkimError::Sign(e.to_string()))?;
        out.extend_from_slice(signature.to_header().as_bytes());
    }
    Ok(out)
}

/// The `h=` list for `raw`: the [`SIGNED_FIELDS`] it has, and `From` a second time. mail-auth
/// signs every occurrence of a listed name and then adds each listed name it did not match
/// once more, so the second `From` becomes the oversigned empty instance.
fn fields_to_sign(raw: &[u8]) -> Result<Vec<&'static str>, DkimError> {
    let present = field_names(raw);
    let mut fields: Vec<&'static str> = SIGNED_FIELDS
        .iter()
        .copied()
        .filter(|f| present.iter().any(|p| p.eq_ignore_ascii_case(f.as_bytes())))
        .collect();
    if fields.first() != Some(&"From") {
        return Err(DkimError::NoFrom);
    }
    fields.push("From");
    Ok(fields)
}

/// The names of the header fields of `raw` (RFC 5322 §2.2), up to the empty line.
fn field_names(raw: &[u8]) -> Vec<&[u8]> {
    let mut names = Vec::new();
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue; // a folded continuation
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            names.push(line[..colon].trim_ascii_end());
        }
    }
    names
}

#[cfg(test)]
#[path = "dkim_tests.rs"]
mod tests;
