//! Mail addresses as mailroom stores them: `local@domain`, with the domain lowercased and
//! checked, and the local part kept as written (RFC 5321 §2.4 lets it be case-sensitive;
//! lookups compare it case-insensitively, as every mainstream server does).

use std::fmt;

/// Longest address accepted (RFC 5321 §4.5.3.1.3: a path is at most 256 octets, with <>).
pub const MAX_ADDRESS_LEN: usize = 254;

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

/// Check and lowercase a domain name (RFC 1035 §2.3.1 labels; a trailing dot is dropped).
pub fn parse_domain(text: &str) -> Result<String, AddressError> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(AddressError::Domain(text.to_string()));
    }
    Ok(name)
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
}
