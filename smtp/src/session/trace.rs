//! The trace fields added on delivery (RFC 5321 §4.4): `Return-Path:` with the reverse-path,
//! and `Received:` saying from whom, by whom, with what (RFC 3848 / RFC 6531 §4.3 keywords).

use super::{Session, Transaction};

pub(super) fn fields(s: &Session, tx: &Transaction, now: i64) -> Vec<u8> {
    let extended = s.helo.as_ref().is_some_and(|h| h.extended);
    let with = match (tx.utf8, extended, s.tls) {
        (true, _, false) => "UTF8SMTP",
        (true, _, true) => "UTF8SMTPS",
        (false, true, false) => "ESMTP",
        (false, true, true) => "ESMTPS",
        (false, false, _) => "SMTP",
    };
    let helo = s.helo.as_ref().map_or("unknown", |h| h.name.as_str());
    // Name a recipient only when there is one: the others should not learn who else got it.
    let for_clause = match tx.rcpts.as_slice() {
        [(only, _)] => format!("\r\n\tfor <{only}>"),
        _ => String::new(),
    };
    let date = mail_parser::DateTime::from_timestamp(now).to_rfc822();
    format!(
        "Return-Path: <{from}>\r\nReceived: from {helo} ([{peer}])\r\n\tby {host} (mailroom) with {with} id {id}{for_clause};\r\n\t{date}\r\n",
        from = tx.from,
        peer = s.ctx.peer,
        host = s.ctx.host,
        id = s.message_id(),
    )
    .into_bytes()
}
