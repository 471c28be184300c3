//! The POP3 session state machine, sans-I/O, in the AUTHORIZATION state (RFC 1939 §4).

use crate::proto::{self, MAX_LINE};
use mailroom_shared::net::lines::{LineSession, Step};

/// One POP3 session.
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
        let name = line.split(|&b| b == b' ').next().unwrap_or_default();
        match name.to_ascii_uppercase().as_slice() {
            b"CAPA" => Step::Reply(proto::CAPA.to_vec()),
            b"QUIT" => Step::Close(proto::ok(&format!("{} signing off", self.host))),
            b"USER" | b"PASS" | b"APOP" | b"AUTH" | b"STLS" => {
                Step::Reply(proto::err("command not implemented"))
            }
            _ => Step::Reply(proto::err("unknown command")),
        }
    }

    fn line_too_long(&mut self) -> Step {
        Step::Reply(proto::err("command line too long"))
    }

    fn timed_out(&mut self) -> Vec<u8> {
        proto::err("idle for too long, closing connection")
    }

    fn shutting_down(&mut self) -> Vec<u8> {
        proto::err(&format!("{} shutting down", self.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        let mut s = Session::new("mx.test");
        assert_eq!(s.greeting(), b"+OK mx.test POP3 mailroom ready\r\n");
        assert!(matches!(s.command(b"capa"), Step::Reply(b) if b.ends_with(b"\r\n.\r\n")));
        assert!(matches!(s.command(b"FROB"), Step::Reply(b) if b == b"-ERR unknown command\r\n"));
        assert!(
            matches!(s.command(b"QUIT"), Step::Close(b) if b == b"+OK mx.test signing off\r\n")
        );
    }
}
