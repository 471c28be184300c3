//! SASL mechanisms every protocol offers: PLAIN (RFC 4616) and LOGIN (the widely used
//! draft-murchison-sasl-login). Decoding only: the protocols frame the exchange (IMAP
//! AUTHENTICATE, SMTP AUTH, POP3 AUTH) and check the credentials with the store.
//!
//! What it must not do: log or keep a password anywhere but in a [`Secret`].

use crate::Secret;

/// Longest SASL response accepted, decoded: an authzid, an authcid and a password of a few
/// hundred octets each are far below it.
pub const MAX_RESPONSE: usize = 4096;

/// Credentials from a SASL exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The login name (authcid).
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// Why a SASL response was refused; the texts are for a protocol's error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// Not valid base64.
    #[error("the response is not valid base64")]
    Base64,
    /// Not `[authzid] NUL authcid NUL passwd`, or not UTF-8.
    #[error("the PLAIN response is malformed")]
    Malformed,
    /// Authorization as someone else (RFC 4616 §2) is not offered.
    #[error("authorizing as another user is not allowed")]
    OtherIdentity,
    /// Longer than [`MAX_RESPONSE`].
    #[error("the response is too long")]
    TooLong,
    /// The client sent `*` (RFC 4422 §3.7).
    #[error("authentication cancelled")]
    Cancelled,
}

/// Decode one base64 line of a SASL exchange (`*` cancels, RFC 4422 §3.7).
pub fn decode_base64(line: &[u8]) -> Result<Vec<u8>, SaslError> {
    use base64::Engine as _;
    let line = line.trim_ascii();
    if line == b"*" {
        return Err(SaslError::Cancelled);
    }
    if line.len() > MAX_RESPONSE * 4 / 3 + 4 {
        return Err(SaslError::TooLong);
    }
    base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|_| SaslError::Base64)
}

/// RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`, already base64-decoded.
/// An authzid is accepted only when empty or equal to the authcid.
pub fn decode_plain(message: &[u8]) -> Result<Credentials, SaslError> {
    if message.len() > MAX_RESPONSE {
        return Err(SaslError::TooLong);
    }
    let mut fields = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SaslError::Malformed);
    };
    fn text(b: &[u8]) -> Result<&str, SaslError> {
        std::str::from_utf8(b).map_err(|_| SaslError::Malformed)
    }
    let (authzid, authcid, passwd) = (text(authzid)?, text(authcid)?, text(passwd)?);
    if authcid.is_empty() || passwd.is_empty() {
        return Err(SaslError::Malformed);
    }
    if !authzid.is_empty() && authzid != authcid {
        return Err(SaslError::OtherIdentity);
    }
    Ok(Credentials {
        username: authcid.to_string(),
        password: Secret::new(passwd),
    })
}

/// A LOGIN mechanism field (user name or password), already base64-decoded.
pub fn decode_login_field(field: &[u8]) -> Result<String, SaslError> {
    if field.len() > MAX_RESPONSE {
        return Err(SaslError::TooLong);
    }
    String::from_utf8(field.to_vec()).map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_rfc4616_examples() {
        // RFC 4616 §4: "\0tim\0tanstaaftanstaaf"
        let c = decode_plain(b"\0tim\0tanstaaftanstaaf").expect("plain");
        assert_eq!(c.username, "tim");
        assert_eq!(c.password.expose(), "tanstaaftanstaaf");
        let same = decode_plain(b"tim\0tim\0pw").expect("authzid = authcid");
        assert_eq!(same.username, "tim");
        assert_eq!(
            decode_plain(b"Ursel\0Kurt\0xipj3plmq"),
            Err(SaslError::OtherIdentity)
        );
        for bad in [
            &b""[..],
            b"\0",
            b"\0tim",
            b"\0\0pw",
            b"\0tim\0",
            b"a\0b\0c\0d",
            b"\0\xff\0pw",
        ] {
            assert_eq!(decode_plain(bad), Err(SaslError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn base64_lines() {
        assert_eq!(
            decode_base64(b"AHRpbQB0YW5zdGFhZg==\r\n").expect("b64"),
            b"\0tim\0tanstaaf"
        );
        assert_eq!(decode_base64(b"*"), Err(SaslError::Cancelled));
        assert_eq!(decode_base64(b"!!!"), Err(SaslError::Base64));
        assert_eq!(decode_base64(&[b'A'; 10_000]), Err(SaslError::TooLong));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = decode_plain(b"\0tim\0hunter2").expect("plain");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
