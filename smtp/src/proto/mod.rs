//! SMTP wire format: command verbs and reply texts. No I/O, no state.

pub mod reply;

/// The command verbs this server knows (RFC 5321 §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// EHLO
    Ehlo,
    /// HELO
    Helo,
    /// MAIL, RCPT, DATA, BDAT, VRFY, EXPN, HELP, STARTTLS, AUTH: known, not served yet.
    NotYet,
    /// NOOP
    Noop,
    /// RSET
    Rset,
    /// QUIT
    Quit,
}

/// Split a command line into its verb and argument. Verbs are case-insensitive (RFC 5321
/// §2.4); `None` for a line that is not a known command.
pub fn parse_command(line: &[u8]) -> Option<(Verb, &[u8])> {
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    let verb = match verb.to_ascii_uppercase().as_slice() {
        b"EHLO" => Verb::Ehlo,
        b"HELO" => Verb::Helo,
        b"NOOP" => Verb::Noop,
        b"RSET" => Verb::Rset,
        b"QUIT" => Verb::Quit,
        b"MAIL" | b"RCPT" | b"DATA" | b"BDAT" | b"VRFY" | b"EXPN" | b"HELP" | b"STARTTLS"
        | b"AUTH" => Verb::NotYet,
        _ => return None,
    };
    Some((verb, arg))
}
