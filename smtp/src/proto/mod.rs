//! SMTP wire format: command lines to [`Command`]s (smtp-proto's parser, except for the
//! numbers that frame or limit what follows: BDAT's chunk size and MAIL's SIZE), the end of
//! DATA, and the reply texts. No I/O, no state.

pub mod bdat;
pub mod data_end;
pub mod mail;
pub mod rcpt;
pub mod reply;

use smtp_proto::{Error as ParseError, Request};

/// A parsed command with owned fields.
pub type Command = Request<String>;

/// RFC 5321 §4.5.3.1.4 sets 512 octets for a command line; ESMTP parameters may lengthen it
/// (RFC 1869 §4.1.2), so accept up to a text line's 1000 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = 1000;

/// Why a command line was not accepted, already as the reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub reply::Reply);

/// Parse one command line (without its line ending).
pub fn parse_command(line: &[u8]) -> Result<Command, Rejected> {
    if let Some(bdat) = bdat::parse_bdat(line) {
        let (chunk_size, is_last) = bdat?;
        return Ok(Request::Bdat {
            chunk_size,
            is_last,
        });
    }
    let (line, size) = match mail::take_size(line) {
        Some(taken) => {
            let (rest, size) = taken?;
            (std::borrow::Cow::Owned(rest), Some(size))
        }
        None => (std::borrow::Cow::Borrowed(line), None),
    };
    let mut with_crlf = Vec::with_capacity(line.len() + 2);
    with_crlf.extend_from_slice(&line);
    with_crlf.extend_from_slice(b"\r\n");
    match Request::parse(&mut with_crlf.iter()) {
        Ok(request) => {
            let mut command = owned(request);
            match &mut command {
                Request::Mail { from } => {
                    if let Some(size) = size {
                        from.size = usize::try_from(size).unwrap_or(usize::MAX);
                    }
                }
                Request::Rcpt { to } if to.address.is_empty() && rcpt::is_postmaster(&line) => {
                    to.address = mailroom_shared::address::POSTMASTER.to_string();
                }
                _ => {}
            }
            Ok(command)
        }
        Err(e) => Err(Rejected(rejection(e))),
    }
}

fn rejection(e: ParseError) -> reply::Reply {
    use reply::Reply;
    match e {
        ParseError::UnknownCommand => Reply::new(500, "5.5.2", "command not recognized"),
        ParseError::InvalidSenderAddress => Reply::new(501, "5.1.7", "bad sender address syntax"),
        ParseError::InvalidRecipientAddress => {
            Reply::new(501, "5.1.3", "bad recipient address syntax")
        }
        ParseError::SyntaxError { syntax } => {
            Reply::new(501, "5.5.4", format!("syntax error, expected: {syntax}"))
        }
        ParseError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("invalid value for parameter {param}"))
        }
        ParseError::UnsupportedParameter { param } => {
            // RFC 5321 §4.1.1.11: 555 for MAIL/RCPT parameters not recognised.
            Reply::new(555, "5.5.4", format!("unsupported parameter {param}"))
        }
        ParseError::ResponseTooLong | ParseError::NeedsMoreData { .. } => {
            Reply::new(500, "5.5.6", "command line too long")
        }
        ParseError::InvalidResponse { .. } => Reply::new(500, "5.5.2", "command not recognized"),
    }
}

fn owned(r: Request<std::borrow::Cow<'_, str>>) -> Command {
    match r {
        Request::Ehlo { host } => Request::Ehlo { host: host.into() },
        Request::Lhlo { host } => Request::Lhlo { host: host.into() },
        Request::Helo { host } => Request::Helo { host: host.into() },
        Request::Mail { from } => Request::Mail {
            from: from.into_owned(),
        },
        Request::Rcpt { to } => Request::Rcpt {
            to: to.into_owned(),
        },
        Request::Bdat {
            chunk_size,
            is_last,
        } => Request::Bdat {
            chunk_size,
            is_last,
        },
        Request::Auth {
            mechanism,
            initial_response,
        } => Request::Auth {
            mechanism,
            initial_response: initial_response.into(),
        },
        Request::Noop { value } => Request::Noop {
            value: value.into(),
        },
        Request::Vrfy { value } => Request::Vrfy {
            value: value.into(),
        },
        Request::Expn { value } => Request::Expn {
            value: value.into(),
        },
        Request::Help { value } => Request::Help {
            value: value.into(),
        },
        Request::Etrn { name } => Request::Etrn { name: name.into() },
        Request::Atrn { domains } => Request::Atrn {
            domains: domains.into_iter().map(Into::into).collect(),
        },
        Request::Burl { uri, is_last } => Request::Burl {
            uri: uri.into(),
            is_last,
        },
        Request::StartTls => Request::StartTls,
        Request::Data => Request::Data,
        Request::Rset => Request::Rset,
        Request::Quit => Request::Quit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_with_esmtp_parameters() {
        let Ok(Request::Mail { from }) =
            parse_command(b"MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME SMTPUTF8")
        else {
            panic!("not a MAIL");
        };
        assert_eq!(from.address, "a@example.org");
        assert_eq!(from.size, 1000);
        assert_ne!(from.flags & smtp_proto::MAIL_BODY_8BITMIME, 0);
        assert_ne!(from.flags & smtp_proto::MAIL_SMTPUTF8, 0);
        assert!(matches!(
            parse_command(b"rcpt to:<b@example.test>"),
            Ok(Request::Rcpt { .. })
        ));
        assert!(matches!(
            parse_command(b"BDAT 10 LAST"),
            Ok(Request::Bdat {
                chunk_size: 10,
                is_last: true
            })
        ));
    }

    #[test]
    fn malformed_lines_become_replies() {
        let code = |line: &[u8]| parse_command(line).err().map(|r| r.0.code);
        assert_eq!(code(b"FROBNICATE"), Some(500));
        assert_eq!(code(b"MAIL FROM:<not an address"), Some(501));
        assert_eq!(code(b"MAIL FROM:<a@b.test> FOO=BAR"), Some(555));
        assert_eq!(code(b""), Some(500));
        assert_eq!(code(b"\xff\xfe"), Some(500));
    }
}
