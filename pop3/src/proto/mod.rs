//! POP3 wire texts. No I/O, no state.

/// RFC 2449 §4: a command line is at most 255 octets, CRLF included.
pub const MAX_LINE: usize = 255;

/// `+OK` greeting (RFC 1939 §4).
pub fn greeting(host: &str) -> Vec<u8> {
    format!("+OK {host} POP3 mailroom ready\r\n").into_bytes()
}
/// A one-line `+OK`.
pub fn ok(text: &str) -> Vec<u8> {
    format!("+OK {text}\r\n").into_bytes()
}
/// A one-line `-ERR`.
pub fn err(text: &str) -> Vec<u8> {
    format!("-ERR {text}\r\n").into_bytes()
}
/// RFC 2449 CAPA answer: the capabilities served now.
pub const CAPA: &[u8] = b"+OK capability list follows\r\nIMPLEMENTATION mailroom\r\n.\r\n";
