//! Command lines (RFC 1939 §3, RFC 2449 §3) to [`Command`]s.
//!
//! ```text
//! command  = keyword *(SP param) CRLF     ; keyword: 3 or 4 letters, any case
//! USER name | PASS string | APOP name digest | AUTH [mechanism [initial-response]]
//! STLS | CAPA | QUIT | NOOP | RSET | STAT
//! LIST [msg] | UIDL [msg] | RETR msg | DELE msg | TOP msg n
//! msg, n   = 1*DIGIT
//! ```
//! The line comes without its CRLF. PASS takes the rest of the line as the password (RFC
//! 1939 §7: a server may treat spaces in the argument as part of the password); elsewhere
//! arguments are separated by spaces. Parsing never allocates more than the line's size.

use mailroom_shared::Secret;

/// One POP3 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name` (RFC 1939 §7).
    User(String),
    /// `PASS string` (RFC 1939 §7).
    Pass(Secret),
    /// `APOP name digest` (RFC 1939 §7); never offered here, the arguments are not kept.
    Apop,
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 §4); bare AUTH lists the mechanisms.
    Auth {
        /// The SASL mechanism name, uppercased.
        mechanism: Option<String>,
        /// The initial response as sent: base64, or `=` for an empty one.
        initial: Option<String>,
    },
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `QUIT` (RFC 1939 §5, §6).
    Quit,
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST [msg]` (RFC 1939 §5).
    List(Option<u32>),
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl(Option<u32>),
    /// `RETR msg` (RFC 1939 §5).
    Retr(u32),
    /// `DELE msg` (RFC 1939 §5).
    Dele(u32),
    /// `TOP msg n` (RFC 1939 §7).
    Top(u32, u64),
}

impl Command {
    /// The keyword, for logs and "not valid in this state" replies.
    pub fn name(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop => "APOP",
            Command::Auth { .. } => "AUTH",
            Command::Stls => "STLS",
            Command::Capa => "CAPA",
            Command::Quit => "QUIT",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Uidl(_) => "UIDL",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Top(..) => "TOP",
        }
    }
}

/// Why a line is not a command; the text goes into the `-ERR` reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a keyword we know.
    #[error("unknown command")]
    Unknown,
    /// A required argument is missing.
    #[error("{0} needs an argument")]
    Missing(&'static str),
    /// More arguments than the command takes.
    #[error("too many arguments for {0}")]
    TooMany(&'static str),
    /// A message number or line count that is not a decimal number in range.
    #[error("{0} is not a valid number")]
    Number(String),
    /// An argument that is not UTF-8.
    #[error("arguments must be UTF-8")]
    NotUtf8,
}

/// Parse one command line (without CRLF).
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let (keyword, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    // RFC 1939 §3: keywords are case-insensitive, three or four characters.
    if !(3..=4).contains(&keyword.len()) {
        return Err(ParseError::Unknown);
    }
    let mut upper = [0u8; 4];
    upper[..keyword.len()].copy_from_slice(keyword);
    upper.make_ascii_uppercase();
    let keyword = &upper[..keyword.len()];
    if keyword == b"PASS" {
        // RFC 1939 §7: the password is the rest of the line, spaces and all.
        let password = std::str::from_utf8(rest).map_err(|_| ParseError::NotUtf8)?;
        if password.is_empty() {
            return Err(ParseError::Missing("PASS"));
        }
        return Ok(Command::Pass(Secret::new(password)));
    }
    let args: Vec<&[u8]> = rest
        .split(|&b| b == b' ')
        .filter(|a| !a.is_empty())
        .collect();
    let none = |name: &'static str, c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::TooMany(name))
        }
    };
    let optional_number = |name: &'static str| -> Result<Option<u32>, ParseError> {
        match args.as_slice() {
            [] => Ok(None),
            [n] => number(n).map(Some),
            _ => Err(ParseError::TooMany(name)),
        }
    };
    let one_number = |name: &'static str| -> Result<u32, ParseError> {
        match args.as_slice() {
            [] => Err(ParseError::Missing(name)),
            [n] => number(n),
            _ => Err(ParseError::TooMany(name)),
        }
    };
    match keyword {
        b"USER" => match args.as_slice() {
            [] => Err(ParseError::Missing("USER")),
            [name] => Ok(Command::User(text(name)?)),
            _ => Err(ParseError::TooMany("USER")),
        },
        b"APOP" => Ok(Command::Apop),
        b"AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial: None,
            }),
            [m] => Ok(Command::Auth {
                mechanism: Some(text(m)?.to_ascii_uppercase()),
                initial: None,
            }),
            [m, ir] => Ok(Command::Auth {
                mechanism: Some(text(m)?.to_ascii_uppercase()),
                initial: Some(text(ir)?),
            }),
            _ => Err(ParseError::TooMany("AUTH")),
        },
        b"STLS" => none("STLS", Command::Stls),
        b"CAPA" => none("CAPA", Command::Capa),
        b"QUIT" => none("QUIT", Command::Quit),
        b"NOOP" => none("NOOP", Command::Noop),
        b"RSET" => none("RSET", Command::Rset),
        b"STAT" => none("STAT", Command::Stat),
        b"LIST" => optional_number("LIST").map(Command::List),
        b"UIDL" => optional_number("UIDL").map(Command::Uidl),
        b"RETR" => one_number("RETR").map(Command::Retr),
        b"DELE" => one_number("DELE").map(Command::Dele),
        b"TOP" => match args.as_slice() {
            [] | [_] => Err(ParseError::Missing("TOP")),
            [msg, n] => Ok(Command::Top(number(msg)?, count(n)?)),
            _ => Err(ParseError::TooMany("TOP")),
        },
        _ => Err(ParseError::Unknown),
    }
}

fn text(arg: &[u8]) -> Result<String, ParseError> {
    std::str::from_utf8(arg)
        .map(str::to_string)
        .map_err(|_| ParseError::NotUtf8)
}

/// Digits only: no sign, no spaces (`str::parse` would take a leading `+`).
fn digits(arg: &[u8]) -> Option<&str> {
    if arg.is_empty() || !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(arg).ok()
}

fn shown(arg: &[u8]) -> String {
    // Bounded by the line limit; lossy so a reply never carries invalid UTF-8 or controls.
    String::from_utf8_lossy(arg)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// RFC 1939 §5: a message number (1 and up; 0 parses and is "no such message").
fn number(arg: &[u8]) -> Result<u32, ParseError> {
    digits(arg)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| ParseError::Number(shown(arg)))
}

/// RFC 1939 §7: TOP's line count, a non-negative number.
fn count(arg: &[u8]) -> Result<u64, ParseError> {
    digits(arg)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| ParseError::Number(shown(arg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1939_commands_in_any_case() {
        let cases: &[(&str, Command)] = &[
            ("USER mrose", Command::User("mrose".into())),
            ("user mrose", Command::User("mrose".into())),
            ("PASS secret", Command::Pass(Secret::new("secret"))),
            ("PASS two words ", Command::Pass(Secret::new("two words "))),
            ("APOP mrose c4c9334bac560ecc979e58001b3e22fb", Command::Apop),
            (
                "AUTH",
                Command::Auth {
                    mechanism: None,
                    initial: None,
                },
            ),
            (
                "auth plain",
                Command::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial: None,
                },
            ),
            (
                "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=",
                Command::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial: Some("dGVzdAB0ZXN0AHRlc3Q=".into()),
                },
            ),
            ("STLS", Command::Stls),
            ("capa", Command::Capa),
            ("QUIT", Command::Quit),
            ("NOOP", Command::Noop),
            ("RSET", Command::Rset),
            ("STAT", Command::Stat),
            ("LIST", Command::List(None)),
            ("LIST 2", Command::List(Some(2))),
            ("LIST 3 ", Command::List(Some(3))),
            ("UIDL", Command::Uidl(None)),
            ("UIDL 1", Command::Uidl(Some(1))),
            ("RETR 1", Command::Retr(1)),
            ("DELE 1", Command::Dele(1)),
            ("TOP 1 10", Command::Top(1, 10)),
            ("TOP 1 0", Command::Top(1, 0)),
            ("RETR 0", Command::Retr(0)),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_command(line.as_bytes()).as_ref(),
                Ok(want),
                "{line:?}"
            );
        }
    }

    #[test]
    fn bad_lines_are_errors_with_a_reason() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"", ParseError::Unknown),
            (b"XY", ParseError::Unknown),
            (b"FROBS", ParseError::Unknown),
            (b"FROB", ParseError::Unknown),
            (b" QUIT", ParseError::Unknown),
            (b"USER", ParseError::Missing("USER")),
            (b"USER a b", ParseError::TooMany("USER")),
            (b"USER \xff", ParseError::NotUtf8),
            (b"PASS", ParseError::Missing("PASS")),
            (b"PASS ", ParseError::Missing("PASS")),
            (b"PASS \xc3", ParseError::NotUtf8),
            (b"QUIT now", ParseError::TooMany("QUIT")),
            (b"STAT 1", ParseError::TooMany("STAT")),
            (b"LIST 1 2", ParseError::TooMany("LIST")),
            (b"LIST x", ParseError::Number("x".into())),
            (b"LIST -1", ParseError::Number("-1".into())),
            (b"LIST +1", ParseError::Number("+1".into())),
            (b"RETR", ParseError::Missing("RETR")),
            (
                b"RETR 99999999999",
                ParseError::Number("99999999999".into()),
            ),
            (b"DELE 1x", ParseError::Number("1x".into())),
            (b"TOP 1", ParseError::Missing("TOP")),
            (b"TOP 1 -5", ParseError::Number("-5".into())),
            (b"TOP 1 2 3", ParseError::TooMany("TOP")),
            (b"AUTH a b c", ParseError::TooMany("AUTH")),
            (b"LIST \x01", ParseError::Number("?".into())),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_command(line).as_ref(),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn error_texts_stay_on_one_line() {
        let e = parse_command(b"RETR 1\r2").expect_err("bad number");
        assert!(!e.to_string().contains(['\r', '\n']), "{e}");
    }

    #[test]
    fn passwords_are_not_in_debug_output() {
        let c = parse_command(b"PASS hunter2").expect("pass");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
