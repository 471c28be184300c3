//! Reply lines (RFC 1939 §3: `+OK` or `-ERR`, text, CRLF), the response codes of RFC 2449 §8
//! and RFC 3206, and the CAPA list (RFC 2449 §5).
//!
//! Texts are lowercase without a trailing period (STYLE §6); every text a client influences
//! is cleaned of CR and LF first, so no input can add a line to a reply.

/// RFC 2449 §8.1.1: the maildrop is locked by another POP3 session.
pub const IN_USE: &str = "IN-USE";
/// RFC 3206 §4: the failure is about the credentials (or, here, their sending in clear).
pub const AUTH: &str = "AUTH";
/// RFC 3206 §5: a temporary system failure; the client may retry later.
pub const SYS_TEMP: &str = "SYS/TEMP";

/// The SASL mechanisms offered (RFC 5034).
pub const MECHANISMS: [&str; 2] = ["PLAIN", "LOGIN"];

/// `+OK` greeting (RFC 1939 §4). No APOP timestamp: APOP is not offered.
pub fn greeting(host: &str) -> Vec<u8> {
    format!("+OK {} POP3 mailroom ready\r\n", clean(host)).into_bytes()
}

/// A one-line `+OK`.
pub fn ok(text: &str) -> Vec<u8> {
    format!("+OK {}\r\n", clean(text)).into_bytes()
}

/// A one-line `-ERR`.
pub fn err(text: &str) -> Vec<u8> {
    format!("-ERR {}\r\n", clean(text)).into_bytes()
}

/// A `-ERR [CODE] text` (RFC 2449 §8).
pub fn err_code(code: &str, text: &str) -> Vec<u8> {
    format!("-ERR [{code}] {}\r\n", clean(text)).into_bytes()
}

/// RFC 5034 §4: a server challenge, `+ ` and base64 (empty for an empty challenge).
pub fn challenge(base64: &str) -> Vec<u8> {
    format!("+ {}\r\n", clean(base64)).into_bytes()
}

/// What the CAPA list depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapaState {
    /// TLS is active.
    pub tls: bool,
    /// USER/PASS and AUTH may be used now (TLS, or `allow_plaintext_auth`).
    pub auth_allowed: bool,
    /// In the AUTHORIZATION state.
    pub authorization: bool,
}

/// RFC 2449 §5: the CAPA answer, a multi-line `+OK`. EXPIRE and LOGIN-DELAY are left out:
/// neither is enforced.
pub fn capa(state: CapaState) -> Vec<u8> {
    let mut out = b"+OK capability list follows\r\n".to_vec();
    let mut line = |s: &str| {
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    line("TOP");
    line("UIDL");
    if state.auth_allowed {
        // RFC 2595 §4 / RFC 2449 §6.2, §6.3: credentials are not invited in clear text.
        line("USER");
        line(&format!("SASL {}", MECHANISMS.join(" ")));
    }
    line("RESP-CODES");
    line("AUTH-RESP-CODE");
    line("PIPELINING");
    // RFC 2595 §4: STLS only before TLS and only in the AUTHORIZATION state.
    if !state.tls && state.authorization {
        line("STLS");
    }
    line(&format!(
        "IMPLEMENTATION mailroom {}",
        env!("CARGO_PKG_VERSION")
    ));
    out.extend_from_slice(b".\r\n");
    out
}

/// `text` with CR, LF and other controls replaced, so it stays on its line.
fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(bytes)
            .split("\r\n")
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn capa_follows_tls_and_state() {
        let plain = capa(CapaState {
            tls: false,
            auth_allowed: false,
            authorization: true,
        });
        let l = lines(&plain);
        assert_eq!(l[0], "+OK capability list follows");
        assert!(l.contains(&"STLS".to_string()));
        assert!(!l.iter().any(|x| x == "USER" || x.starts_with("SASL")));
        assert!(plain.ends_with(b"\r\n.\r\n"));

        let tls = capa(CapaState {
            tls: true,
            auth_allowed: true,
            authorization: true,
        });
        let l = lines(&tls);
        for want in [
            "TOP",
            "UIDL",
            "USER",
            "SASL PLAIN LOGIN",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
        ] {
            assert!(l.contains(&want.to_string()), "{want} missing from {l:?}");
        }
        assert!(!l.iter().any(|x| x == "STLS" || x.starts_with("EXPIRE")));
        assert!(!l.iter().any(|x| x.starts_with("LOGIN-DELAY")));
        assert!(l.iter().any(|x| x.starts_with("IMPLEMENTATION mailroom")));
    }

    #[test]
    fn replies_cannot_be_split_by_their_text() {
        assert_eq!(err("a\r\n+OK b"), b"-ERR a  +OK b\r\n");
        assert_eq!(err_code(IN_USE, "locked"), b"-ERR [IN-USE] locked\r\n");
        assert_eq!(ok("fine"), b"+OK fine\r\n");
        assert_eq!(challenge(""), b"+ \r\n");
    }
}
