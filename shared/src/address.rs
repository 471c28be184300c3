//! Mail addresses as mailroom stores them: `local@domain`, with the domain lowercased and
//! checked, and the local part kept as written (RFC 5321 §2.4 lets it be case-sensitive;
//! lookups compare it case-insensitively, as every mainstream server does).
//!
//! Domains have one canonical form everywhere (hosted domains, aliases, accounts, envelope
//! addresses, greylist triplets): lowercase ASCII, with internationalised labels as IDNA
//! A-labels (`exämple.org` is `xn--exmple-cua.org`, RFC 5890 §2.3.2.1), so a U-label and its
//! A-label name the same domain (RFC 6531 §3.3 lets SMTPUTF8 clients send either). Whether a
//! U-label may appear at all (only with SMTPUTF8) is the protocol's rule, not this module's.

use std::fmt;

/// Longest address accepted (RFC 5321 §4.5.3.1.3: a path is at most 256 octets, with <>).
pub const MAX_ADDRESS_LEN: usize = 254;

/// RFC 5321 §4.1.1.3: `RCPT TO:<Postmaster>`, with no domain (any case), must be accepted;
/// it is carried as this word, and the store delivers it to a hosted domain's postmaster.
pub const POSTMASTER: &str = "postmaster";

/// A checked `local@domain` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    local: String,
    domain: String,
}

/// Why text is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `@`, or nothing before or after it.
    #[error("`{0}` is not an address of the form local@domain")]
    Form(String),
    /// Longer than [`MAX_ADDRESS_LEN`].
    #[error("address is longer than {MAX_ADDRESS_LEN} octets")]
    TooLong,
    /// The local part has a character we do not accept.
    #[error("`{0}` has a character not allowed in a local part")]
    Local(String),
    /// The domain is not a host name.
    #[error("`{0}` is not a valid domain")]
    Domain(String),
}

impl Address {
    /// Parse `text` (no angle brackets). The local part may be any printable non-space
    /// characters but `@`, `<`, `>`, `"`, `\`, `,`, `;` and `:` (dot-atom and UTF-8 per
    /// RFC 6531; quoted local parts are not accepted for accounts).
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        if text.len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong);
        }
        let (local, domain) = text
            .rsplit_once('@')
            .filter(|(l, d)| !l.is_empty() && !d.is_empty())
            .ok_or_else(|| AddressError::Form(text.to_string()))?;
        // RFC 5321 §4.5.3.1.1: local part at most 64 octets.
        let bad_char = |c: char| {
            c.is_control()
                || c.is_whitespace()
                || matches!(
                    c,
                    '@' | '<' | '>' | '"' | '\\' | ',' | ';' | ':' | '(' | ')' | '[' | ']'
                )
        };
        if local.len() > 64
            || local.chars().any(bad_char)
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(AddressError::Local(text.to_string()));
        }
        Ok(Self {
            local: local.to_string(),
            domain: parse_domain(domain)?,
        })
    }

    /// The local part as written.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain, lowercase.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// `local@domain` without the `+tag` of sub-addressing (RFC 5233), if it has one.
    pub fn without_tag(&self) -> Option<Address> {
        let (base, _tag) = self.local.split_once('+')?;
        (!base.is_empty()).then(|| Address {
            local: base.to_string(),
            domain: self.domain.clone(),
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Check a domain name and put it in its canonical form: lowercase, internationalised labels
/// as A-labels (UTS #46 mapping, then RFC 1035 §2.3.1 labels); a trailing dot is dropped.
pub fn parse_domain(text: &str) -> Result<String, AddressError> {
    let bad = || AddressError::Domain(text.to_string());
    let name = text.strip_suffix('.').unwrap_or(text);
    let name = if name.is_ascii() && !has_a_label(name) {
        name.to_ascii_lowercase()
    } else {
        // U-labels become A-labels; A-labels are decoded and checked, so a malformed
        // `xn--` label is refused rather than stored as a second name of some domain.
        idna::uts46::Uts46::new()
            .to_ascii(
                name.as_bytes(),
                idna::uts46::AsciiDenyList::STD3,
                idna::uts46::Hyphens::CheckFirstLast,
                idna::uts46::DnsLength::Ignore,
            )
            .map_err(|_| bad())?
            .into_owned()
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(name)
}

/// Whether an ASCII name has a label in the A-label form (`xn--`, any case).
fn has_a_label(name: &str) -> bool {
    name.split('.')
        .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"))
}

/// The form in which two addresses compare equal when they name the same mailbox: lowercase,
/// with the domain canonical (see [`parse_domain`]). Text that is not an address (a null
/// reverse-path, a bare `postmaster`) is only lowercased.
pub fn canonical(text: &str) -> String {
    match Address::parse(text) {
        Ok(a) => a.to_string().to_lowercase(),
        Err(_) => text.to_lowercase(),
    }
}

/// [`canonical`] for a domain: its canonical form, or, if it is not a valid domain, the text
/// lowercased without a trailing dot.
pub fn canonical_domain(text: &str) -> String {
    parse_domain(text).unwrap_or_else(|_| text.trim_end_matches('.').to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases_the_domain() {
        let a = Address::parse("Alice.B@Example.TEST").expect("valid");
        assert_eq!(a.to_string(), "Alice.B@example.test");
        assert_eq!(a.domain(), "example.test");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "alice",
            "@example.test",
            "alice@",
            "a b@example.test",
            "a@b@",
            "a..b@x.test",
            ".a@x.test",
            "a@-x.test",
            "a@x..test",
            "a<b@x.test",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            Address::parse(&format!("{}@x.test", "a".repeat(65))),
            Err(AddressError::Local(format!("{}@x.test", "a".repeat(65))))
        );
        assert_eq!(Address::parse(&"a".repeat(300)), Err(AddressError::TooLong));
    }

    #[test]
    fn sub_addressing() {
        let a = Address::parse("bob+lists@x.test").expect("valid");
        assert_eq!(
            a.without_tag().map(|b| b.to_string()),
            Some("bob@x.test".into())
        );
        assert_eq!(
            Address::parse("bob@x.test").expect("valid").without_tag(),
            None
        );
        assert_eq!(
            Address::parse("+x@x.test").expect("valid").without_tag(),
            None
        );
    }

    #[test]
    fn utf8_local_parts_are_allowed() {
        assert!(Address::parse("jörg@example.test").is_ok());
    }

    #[test]
    fn internationalised_domains_are_kept_as_a_labels() {
        // RFC 6531 §3.3: a UTF-8 domain is valid in an address; RFC 5890 §2.3.2.1: its
        // A-label is the same name.
        let u = Address::parse("jöran@exämple.org").expect("U-label");
        let a = Address::parse("jöran@XN--EXMPLE-CUA.org").expect("A-label");
        assert_eq!(u.domain(), "xn--exmple-cua.org");
        assert_eq!(u, a);
        assert_eq!(u.to_string(), "jöran@xn--exmple-cua.org");
        // UTS #46 maps case (and compatibility forms) before encoding.
        assert_eq!(
            parse_domain("EXÄMPLE.org.").as_deref(),
            Ok("xn--exmple-cua.org")
        );
        assert_eq!(
            parse_domain("bücher.例え.テスト").as_deref(),
            Ok("xn--bcher-kva.xn--r8jz45g.xn--zckzah")
        );
        for bad in [
            "xn--zz.org",
            "ex ämple.org",
            "exä_mple.org",
            "-ä.org",
            "ä..org",
            "xn--.org",
        ] {
            assert!(parse_domain(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn canonical_forms_compare_equal() {
        assert_eq!(canonical("Jöran@Exämple.ORG"), "jöran@xn--exmple-cua.org");
        assert_eq!(
            canonical("jöran@xn--exmple-cua.org"),
            "jöran@xn--exmple-cua.org"
        );
        assert_eq!(canonical(""), "");
        assert_eq!(canonical("Postmaster"), "postmaster");
        assert_eq!(canonical_domain("Exämple.org."), "xn--exmple-cua.org");
        assert_eq!(canonical_domain("not a domain."), "not a domain");
    }
}
