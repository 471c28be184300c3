//! SMTP replies: a code, an enhanced status code (RFC 3463, sent on every reply as RFC 2034
//! asks once ENHANCEDSTATUSCODES is offered) and text, one or more lines.

use std::fmt::Write as _;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The enhanced status code, e.g. `2.1.0`; empty for 220/221/354/334 greetings and
    /// intermediates where RFC 2034 does not use one.
    pub enhanced: &'static str,
    /// The text lines (at least one).
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply (EHLO, HELP).
    pub fn multi(code: u16, enhanced: &'static str, lines: Vec<String>) -> Self {
        Self {
            code,
            enhanced,
            lines,
        }
    }

    /// Whether this reply counts as an error for the session's error limit.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// Append the wire form to `out` (RFC 5321 §4.2.1: `code-text` for all but the last line).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut text = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let _ = if self.enhanced.is_empty() {
                write!(text, "{}{sep}{line}\r\n", self.code)
            } else {
                write!(text, "{}{sep}{} {line}\r\n", self.code, self.enhanced)
            };
        }
        out.extend_from_slice(text.as_bytes());
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

/// 220 greeting.
pub fn greeting(host: &str) -> Reply {
    Reply::new(220, "", format!("{host} ESMTP mailroom"))
}
/// 221 to QUIT.
pub fn bye(host: &str) -> Reply {
    Reply::new(221, "2.0.0", format!("{host} closing connection"))
}
/// 250 OK.
pub fn ok() -> Reply {
    Reply::new(250, "2.0.0", "OK")
}
/// 421: idle for the command timeout.
pub fn timeout(host: &str) -> Reply {
    Reply::new(
        421,
        "4.4.2",
        format!("{host} timeout waiting for a command, closing connection"),
    )
}
/// 421: the server is shutting down.
pub fn shutting_down(host: &str) -> Reply {
    Reply::new(
        421,
        "4.3.2",
        format!("{host} shutting down, try again later"),
    )
}
/// 421: an administrator ended the session (the admin panel's Sessions page).
pub fn ended(host: &str) -> Reply {
    Reply::new(
        421,
        "4.3.2",
        format!("{host} session ended by the administrator"),
    )
}
/// 421: over a connection limit.
pub fn too_many_connections(host: &str) -> Reply {
    Reply::new(
        421,
        "4.7.0",
        format!("{host} too many connections, try again later"),
    )
}
/// 421: too many errors in this session.
pub fn too_many_errors(host: &str) -> Reply {
    Reply::new(
        421,
        "4.7.0",
        format!("{host} too many errors, closing connection"),
    )
}
/// 500: the line was too long.
pub fn line_too_long() -> Reply {
    Reply::new(500, "5.5.6", "command line too long")
}
/// 503: a command out of order (RFC 5321 §4.1.4).
pub fn bad_sequence(text: &str) -> Reply {
    Reply::new(503, "5.5.1", text)
}
/// 502: a command this listener does not offer.
pub fn not_offered(command: &str) -> Reply {
    Reply::new(502, "5.5.1", format!("{command} is not available here"))
}
/// 451: the store failed; the client should retry.
pub fn try_later() -> Reply {
    Reply::new(451, "4.3.0", "local error, try again later")
}
/// 451 4.7.1: greylisted (RFC 6647 §2.1: a temporary failure, so a real MTA retries; RFC 3463
/// 4.7.1: refused by policy). The text says when a retry will pass.
pub fn greylisted(recipient: &str, retry_after_secs: u64) -> Reply {
    Reply::new(
        451,
        "4.7.1",
        format!("<{recipient}>: greylisted, try again in {retry_after_secs} seconds"),
    )
}

/// RFC 5782 / RFC 5321 §3.1: a client on a block list is refused instead of greeted.
pub fn listed(host: &str, client: std::net::IpAddr, zone: &str) -> Reply {
    Reply::new(
        554,
        "5.7.1",
        format!("{host} refuses mail from {client}: listed by {zone}"),
    )
}

/// RFC 7372 §3.2: the sender's SPF check failed.
pub fn spf_failed(text: String) -> Reply {
    Reply::new(550, "5.7.23", text)
}

/// RFC 7372 §3.1 family: the message fails the sender domain's DMARC policy.
pub fn policy_refused(text: String) -> Reply {
    Reply::new(550, "5.7.1", text)
}
