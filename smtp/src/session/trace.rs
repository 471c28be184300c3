//! The trace fields added on delivery (RFC 5321 §4.4): `Return-Path:` with the reverse-path,
//! and `Received:` saying from whom, by whom, with what (RFC 3848 / RFC 6531 §4.3 keywords).

use super::{Session, Transaction};

pub(super) fn fields(s: &Session, tx: &Transaction, now: i64) -> Vec<u8> {
    let extended = s.helo.as_ref().is_some_and(|h| h.extended);
    // RFC 3848 §2: the A of ESMTPA / ESMTPSA says the client authenticated.
    let with = match (tx.utf8, extended, s.tls, s.login.is_some()) {
        (true, _, false, _) => "UTF8SMTP",
        (true, _, true, false) => "UTF8SMTPS",
        (true, _, true, true) => "UTF8SMTPSA",
        (false, true, false, false) => "ESMTP",
        (false, true, false, true) => "ESMTPA",
        (false, true, true, false) => "ESMTPS",
        (false, true, true, true) => "ESMTPSA",
        (false, false, _, _) => "SMTP",
    };
    let helo = s.helo.as_ref().map_or("unknown", |h| h.name.as_str());
    // Name a recipient only when there is one: the others should not learn who else got it.
    let for_clause = match (tx.rcpts.as_slice(), tx.remote.as_slice()) {
        ([(only, _)], []) => format!("\r\n\tfor <{only}>"),
        ([], [only]) => format!("\r\n\tfor <{}>", only.address),
        _ => String::new(),
    };
    let date = mail_parser::DateTime::from_timestamp(now).to_rfc822();
    // RFC 5321 §4.4: Return-Path is added at final delivery; a submitted message travels on
    // (its local copies are stored without one).
    let return_path = if s.login.is_some() {
        String::new()
    } else {
        format!("Return-Path: <{}>\r\n", tx.from)
    };
    format!(
        "{return_path}Received: from {helo} ([{peer}])\r\n\tby {host} (mailroom) with {with} id {id}{for_clause};\r\n\t{date}\r\n",
        peer = s.ctx.peer,
        host = s.ctx.host,
        id = s.message_id(),
    )
    .into_bytes()
}
