//! The IMAP session state machine, sans-I/O.

use crate::proto::{self, CAPABILITIES, MAX_LINE};
use mailroom_shared::net::lines::{LineSession, Step};

/// One IMAP session, in the Not Authenticated state (RFC 9051 §3.1).
pub struct Session {
    host: String,
}

impl Session {
    /// A session of the server named `host`.
    pub fn new(host: impl Into<String>) -> Self {
        Self { host: host.into() }
    }
}

impl LineSession for Session {
    fn max_line(&self) -> usize {
        MAX_LINE
    }

    fn greeting(&mut self) -> Vec<u8> {
        proto::greeting(&self.host)
    }

    fn command(&mut self, line: &[u8]) -> Step {
        let Some((tag, rest)) = proto::split_tag(line) else {
            return Step::Reply(b"* BAD missing or invalid tag\r\n".to_vec());
        };
        let name = rest.split(|&b| b == b' ').next().unwrap_or_default();
        match name.to_ascii_uppercase().as_slice() {
            b"CAPABILITY" => {
                let mut out = format!("* CAPABILITY {CAPABILITIES}\r\n").into_bytes();
                out.extend(proto::tagged(tag, "OK", "CAPABILITY completed"));
                Step::Reply(out)
            }
            b"NOOP" => Step::Reply(proto::tagged(tag, "OK", "NOOP completed")),
            b"LOGOUT" => {
                let mut out = proto::bye(&format!("{} logging out", self.host));
                out.extend(proto::tagged(tag, "OK", "LOGOUT completed"));
                Step::Close(out)
            }
            b"" => Step::Reply(proto::tagged(tag, "BAD", "missing command")),
            _ => Step::Reply(proto::tagged(
                tag,
                "BAD",
                "unknown command or not supported",
            )),
        }
    }

    fn line_too_long(&mut self) -> Step {
        Step::Reply(b"* BAD command line too long\r\n".to_vec())
    }

    fn timed_out(&mut self) -> Vec<u8> {
        proto::bye("autologout; idle for too long")
    }

    fn shutting_down(&mut self) -> Vec<u8> {
        proto::bye(&format!("{} shutting down", self.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(step: Step) -> (bool, String) {
        match step {
            Step::Reply(b) => (false, String::from_utf8_lossy(&b).into_owned()),
            Step::Close(b) => (true, String::from_utf8_lossy(&b).into_owned()),
        }
    }

    #[test]
    fn commands() {
        let mut s = Session::new("mx.test");
        assert_eq!(
            s.greeting(),
            b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2] mx.test mailroom ready\r\n"
        );
        assert_eq!(
            out(s.command(b"a1 capability")).1,
            "* CAPABILITY IMAP4rev1 IMAP4rev2\r\na1 OK CAPABILITY completed\r\n"
        );
        assert_eq!(out(s.command(b"a2 NOOP")).1, "a2 OK NOOP completed\r\n");
        assert_eq!(
            out(s.command(b"a3 FROB")).1,
            "a3 BAD unknown command or not supported\r\n"
        );
        assert_eq!(
            out(s.command(b"+x NOOP")).1,
            "* BAD missing or invalid tag\r\n"
        );
        assert_eq!(
            out(s.command(b"a4 LOGOUT")),
            (
                true,
                "* BYE mx.test logging out\r\na4 OK LOGOUT completed\r\n".into()
            )
        );
    }
}
