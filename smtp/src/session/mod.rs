//! The SMTP session state machine, sans-I/O: it takes command lines and returns replies.

use crate::proto::reply;
use crate::proto::{Verb, parse_command};
use mailroom_shared::net::lines::{LineSession, Step};

/// Where the session is in RFC 5321 §4.1.4's order of commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Greeted, waiting for EHLO/HELO.
    Connected,
    /// The client said who it is.
    Identified {
        /// The EHLO/HELO argument.
        client: String,
    },
}

/// One SMTP session.
pub struct Session {
    host: String,
    state: State,
}

impl Session {
    /// A session of the server named `host`.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            state: State::Connected,
        }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    fn hello(&mut self, arg: &[u8], extended: bool) -> Step {
        let client = String::from_utf8_lossy(arg).trim().to_string();
        if client.is_empty() || client.contains(' ') {
            return Step::Reply(reply::HELO_NEEDS_DOMAIN.to_vec());
        }
        let out = if extended {
            reply::ehlo(&self.host, &client)
        } else {
            reply::helo(&self.host)
        };
        // RFC 5321 §4.1.4: EHLO/HELO may come again and resets the session.
        self.state = State::Identified { client };
        Step::Reply(out)
    }
}

impl LineSession for Session {
    fn max_line(&self) -> usize {
        reply::MAX_COMMAND_LINE
    }

    fn greeting(&mut self) -> Vec<u8> {
        reply::greeting(&self.host)
    }

    fn command(&mut self, line: &[u8]) -> Step {
        match parse_command(line) {
            None => Step::Reply(reply::UNKNOWN.to_vec()),
            Some((Verb::Ehlo, arg)) => self.hello(arg, true),
            Some((Verb::Helo, arg)) => self.hello(arg, false),
            Some((Verb::Noop | Verb::Rset, _)) => Step::Reply(reply::OK.to_vec()),
            Some((Verb::Quit, _)) => Step::Close(reply::bye(&self.host)),
            Some((Verb::NotYet, _)) => Step::Reply(reply::NOT_IMPLEMENTED.to_vec()),
        }
    }

    fn line_too_long(&mut self) -> Step {
        Step::Reply(reply::LINE_TOO_LONG.to_vec())
    }

    fn timed_out(&mut self) -> Vec<u8> {
        reply::timeout(&self.host)
    }

    fn shutting_down(&mut self) -> Vec<u8> {
        reply::shutting_down(&self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(step: Step) -> (bool, String) {
        match step {
            Step::Reply(b) => (false, String::from_utf8_lossy(&b).into_owned()),
            Step::Close(b) => (true, String::from_utf8_lossy(&b).into_owned()),
        }
    }

    #[test]
    fn greeting_names_the_host() {
        assert_eq!(
            Session::new("mx.test").greeting(),
            b"220 mx.test ESMTP mailroom\r\n"
        );
    }

    #[test]
    fn ehlo_helo_and_errors() {
        let mut s = Session::new("mx.test");
        let (close, out) = text(s.command(b"ehlo client.test"));
        assert!(
            !close && out.starts_with("250-mx.test greets client.test\r\n"),
            "{out}"
        );
        assert!(out.ends_with("250 ENHANCEDSTATUSCODES\r\n"), "{out}");
        assert_eq!(
            s.state(),
            &State::Identified {
                client: "client.test".into()
            }
        );
        assert_eq!(
            text(s.command(b"HELO")).1,
            "501 5.5.4 EHLO and HELO need a domain or address literal\r\n"
        );
        assert_eq!(text(s.command(b"HELO x.test")).1, "250 mx.test\r\n");
        assert_eq!(text(s.command(b"NOOP")).1, "250 2.0.0 OK\r\n");
        assert_eq!(
            text(s.command(b"FROB")).1,
            "500 5.5.2 command not recognized\r\n"
        );
        assert_eq!(
            text(s.command(b"MAIL FROM:<a@b.test>")).1,
            "502 5.5.1 command not implemented\r\n"
        );
        assert_eq!(
            text(s.line_too_long()).1,
            "500 5.5.6 command line too long\r\n"
        );
        assert_eq!(
            text(s.command(b"quit")),
            (true, "221 2.0.0 mx.test closing connection\r\n".into())
        );
    }
}
