//! Reply codes and texts, each with its enhanced status code (RFC 3463).

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = 512;

/// 220 greeting.
pub fn greeting(host: &str) -> Vec<u8> {
    format!("220 {host} ESMTP mailroom\r\n").into_bytes()
}
/// 250 to EHLO; only extensions actually served are listed.
pub fn ehlo(host: &str, client: &str) -> Vec<u8> {
    format!("250-{host} greets {client}\r\n250 ENHANCEDSTATUSCODES\r\n").into_bytes()
}
/// 250 to HELO.
pub fn helo(host: &str) -> Vec<u8> {
    format!("250 {host}\r\n").into_bytes()
}
/// 250 OK.
pub const OK: &[u8] = b"250 2.0.0 OK\r\n";
/// 221 to QUIT.
pub fn bye(host: &str) -> Vec<u8> {
    format!("221 2.0.0 {host} closing connection\r\n").into_bytes()
}
/// 501: EHLO/HELO without a domain.
pub const HELO_NEEDS_DOMAIN: &[u8] =
    b"501 5.5.4 EHLO and HELO need a domain or address literal\r\n";
/// 500: not a command.
pub const UNKNOWN: &[u8] = b"500 5.5.2 command not recognized\r\n";
/// 502: a command this server does not serve yet.
pub const NOT_IMPLEMENTED: &[u8] = b"502 5.5.1 command not implemented\r\n";
/// 500: the line was longer than [`MAX_COMMAND_LINE`].
pub const LINE_TOO_LONG: &[u8] = b"500 5.5.6 command line too long\r\n";
/// 421: idle for the command timeout.
pub fn timeout(host: &str) -> Vec<u8> {
    format!("421 4.4.2 {host} timeout waiting for a command, closing connection\r\n").into_bytes()
}
/// 421: the server is shutting down.
pub fn shutting_down(host: &str) -> Vec<u8> {
    format!("421 4.3.2 {host} shutting down, try again later\r\n").into_bytes()
}
/// 421: over a connection limit.
pub fn too_many(host: &str) -> Vec<u8> {
    format!("421 4.7.0 {host} too many connections, try again later\r\n").into_bytes()
}
