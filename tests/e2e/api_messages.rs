//! An account's mailboxes and messages through the admin API
//! (`/api/v1/accounts/{address}/mailboxes…`): the lists show what an IMAP client sees, and a
//! message deleted through the API reaches an IMAP client idling on its mailbox as EXPUNGE at
//! once, because the API writes through the same store path as the protocols.

use crate::api::{ADMIN, ADMIN_PASSWORD, assert_error, basic, call, call_as};
use crate::pop3::{ca, deliver};
use crate::users;
use mailroom_tests::{LineClient, Server};
use serde_json::Value;
use std::time::{Duration, Instant};

const ALICE: &str = "alice@example.test";
const INBOX: &str = "/api/v1/accounts/alice@example.test/mailboxes/INBOX/messages";

/// alice and bob (`password-1`), an admin, and three messages in alice's INBOX.
fn server_with_mail() -> Server {
    let s = users();
    s.add_admin(ADMIN, ADMIN_PASSWORD).expect("admin");
    for subject in ["first", "second", "third"] {
        deliver(&s, subject);
    }
    s
}

/// An IMAP session over implicit TLS, logged in as alice.
fn imap(s: &Server) -> LineClient {
    let mut c = LineClient::connect_tls(s.ports.imaps, &s.hostname, &ca(s)).expect("imaps");
    assert!(c.read_line().expect("greeting").starts_with("* OK"));
    let ok = tagged(&mut c, "l", &format!("LOGIN {ALICE} password-1"));
    assert!(ok.contains("l OK"), "{ok}");
    c
}

/// Send `command` with `tag`; every line of the answer up to the tagged one.
fn tagged(c: &mut LineClient, tag: &str, command: &str) -> String {
    c.send(&format!("{tag} {command}")).expect("send");
    c.read_until(|l| l.starts_with(&format!("{tag} ")))
        .expect("answer")
}

/// The text after `key` in `line`, up to the first of `end`.
fn item<'a>(line: &'a str, key: &str, end: &[char]) -> Option<&'a str> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    Some(&rest[..rest.find(end).unwrap_or(rest.len())])
}

/// An IMAP INTERNALDATE (`"07-Dec-2026 17:45:38 +0000"`, RFC 9051 §9 date-time) in unix
/// seconds.
fn unix_of(date_time: &str) -> i64 {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = date_time.trim().split([' ', '-', ':']).collect();
    let [day, month, year, h, m, sec, zone] = parts[..] else {
        panic!("date-time {date_time:?}");
    };
    let month = MONTHS.iter().position(|&x| x == month).expect("month") as u32 + 1;
    let num = |t: &str| t.trim().parse::<i64>().expect("number");
    let days =
        mailroom_shared::civil::days_from_civil(num(year), month, num(day) as u32).expect("date");
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let offset = sign * (num(&zone[1..3]) * 3600 + num(&zone[3..5]) * 60);
    days * 86_400 + num(h) * 3600 + num(m) * 60 + num(sec) - offset
}

/// What IMAP says of each message of the selected mailbox: (uid, size, flags, internal date).
fn imap_messages(c: &mut LineClient) -> Vec<(u64, u64, Vec<String>, i64)> {
    let answer = tagged(c, "f", "UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)");
    assert!(answer.contains("f OK"), "{answer}");
    answer
        .lines()
        .filter(|l| l.starts_with("* ") && l.contains(" FETCH ("))
        .map(|l| {
            let number = |key: &str| {
                item(l, key, &[' ', ')'])
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{key} in {l}"))
            };
            let mut flags: Vec<String> = item(l, "FLAGS (", &[')'])
                .unwrap_or_else(|| panic!("FLAGS in {l}"))
                .split_whitespace()
                // \Recent belongs to one IMAP session (RFC 3501 §2.3.2), not to the message.
                .filter(|f| *f != "\\Recent")
                .map(str::to_string)
                .collect();
            flags.sort();
            let date = item(l, "INTERNALDATE \"", &['"']).expect("INTERNALDATE");
            (number("UID "), number("RFC822.SIZE "), flags, unix_of(date))
        })
        .collect()
}

fn json_list(answer: &mailroom_tests::HttpAnswer) -> Vec<Value> {
    assert_eq!(answer.status, 200, "{answer:?}");
    answer
        .json()
        .expect("JSON")
        .as_array()
        .expect("an array")
        .clone()
}

#[test]
fn a_message_deleted_through_the_api_is_expunged_in_an_idle_session_within_100_ms() {
    let s = server_with_mail();
    let mut idler = imap(&s);
    let selected = tagged(&mut idler, "s", "SELECT INBOX");
    assert!(selected.contains("* 3 EXISTS"), "{selected}");
    // RFC 2177: the server answers IDLE with a continuation, then sends updates as they come.
    idler.send("i IDLE").expect("IDLE");
    assert!(idler.read_line().expect("continuation").starts_with('+'));

    // The second message (UID 2, sequence number 2) goes.
    let removed = call(&s, "DELETE", &format!("{INBOX}/2"), None);
    let answered = Instant::now();
    assert_eq!(removed.status, 204, "{removed:?}");
    let expunge = idler
        .read_until(|l| l.ends_with(" EXPUNGE\r\n"))
        .expect("an EXPUNGE");
    let waited = answered.elapsed();
    assert!(expunge.ends_with("* 2 EXPUNGE\r\n"), "{expunge}");
    assert!(
        waited < Duration::from_millis(100),
        "EXPUNGE came {waited:?} after the API's answer"
    );
    idler.send("DONE").expect("DONE");
    let done = idler.read_until(|l| l.starts_with("i ")).expect("IDLE end");
    assert!(done.starts_with("i OK"), "{done}");

    // Gone for every reader: the API, a new IMAP session, and a second delete.
    let uids: Vec<u64> = json_list(&call(&s, "GET", INBOX, None))
        .iter()
        .map(|m| m["uid"].as_u64().expect("uid"))
        .collect();
    assert_eq!(uids, [1, 3]);
    let mut other = imap(&s);
    let examined = tagged(&mut other, "e", "EXAMINE INBOX");
    assert!(examined.contains("* 2 EXISTS"), "{examined}");
    assert_error(
        &call(&s, "DELETE", &format!("{INBOX}/2"), None),
        404,
        "no message with UID 2",
    );
}

#[test]
fn the_mailbox_and_message_lists_show_what_imap_sees() {
    let s = server_with_mail();
    let mut c = imap(&s);
    // Some state to see: a flag, a keyword, a message read, and a mailbox of alice's own.
    let created = tagged(&mut c, "c", "CREATE Projects");
    assert!(created.contains("c OK"), "{created}");
    let selected = tagged(&mut c, "s", "SELECT INBOX");
    assert!(selected.contains("s OK"), "{selected}");
    let stored = tagged(&mut c, "t", "UID STORE 1 +FLAGS (\\Flagged $Important)");
    assert!(stored.contains("t OK"), "{stored}");
    let read = tagged(&mut c, "r", "UID FETCH 3 BODY[]");
    assert!(read.contains("r OK"), "{read}");

    // The mailboxes: the same names as LIST, the same counters as STATUS.
    let listed = tagged(&mut c, "l", "LIST \"\" \"*\"");
    let mut imap_names: Vec<String> = listed
        .lines()
        .filter(|l| l.starts_with("* LIST "))
        .map(|l| {
            let name = l.rsplit(' ').next().expect("name");
            name.trim_matches('"').to_string()
        })
        .collect();
    imap_names.sort();
    let mailboxes = json_list(&call(
        &s,
        "GET",
        "/api/v1/accounts/alice@example.test/mailboxes",
        None,
    ));
    let mut api_names: Vec<String> = mailboxes
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect();
    api_names.sort();
    assert_eq!(api_names, imap_names);
    assert!(api_names.contains(&"Projects".to_string()), "{api_names:?}");
    let inbox = mailboxes
        .iter()
        .find(|m| m["name"] == "INBOX")
        .expect("INBOX listed");
    let status = tagged(
        &mut c,
        "u",
        "STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)",
    );
    let line = status
        .lines()
        .find(|l| l.starts_with("* STATUS"))
        .expect("STATUS");
    for (key, field) in [
        ("MESSAGES ", "exists"),
        ("UNSEEN ", "unseen"),
        ("UIDNEXT ", "uidnext"),
        ("UIDVALIDITY ", "uidvalidity"),
    ] {
        let imap_value: u64 = item(line, key, &[' ', ')'])
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {line}"));
        assert_eq!(inbox[field].as_u64(), Some(imap_value), "{field}: {line}");
    }
    assert_eq!(inbox["exists"], 3);
    assert_eq!(inbox["unseen"], 2, "UID 3 was read");

    // The messages: UID, size, flags and INTERNALDATE as FETCH gives them; subject and
    // sender from the stored envelope.
    let api = json_list(&call(&s, "GET", INBOX, None));
    let fetched = imap_messages(&mut c);
    assert_eq!(api.len(), fetched.len());
    for (m, (uid, size, flags, date)) in api.iter().zip(&fetched) {
        assert_eq!(m["uid"].as_u64(), Some(*uid), "{m}");
        assert_eq!(m["size"].as_u64(), Some(*size), "{m}");
        assert_eq!(m["internal_date"].as_i64(), Some(*date), "{m}");
        let mut api_flags: Vec<String> = m["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .map(|f| f.as_str().expect("flag").to_string())
            .collect();
        api_flags.sort();
        assert_eq!(&api_flags, flags, "{m}");
        assert_eq!(m["from"][0]["address"], "sender@example.org", "{m}");
    }
    let subjects: Vec<&str> = api
        .iter()
        .map(|m| m["subject"].as_str().expect("subject"))
        .collect();
    assert_eq!(subjects, ["first", "second", "third"]);
    assert!(
        fetched[0].2.contains(&"\\Flagged".to_string())
            && fetched[0].2.contains(&"$Important".to_string()),
        "{fetched:?}"
    );
    assert!(fetched[2].2.contains(&"\\Seen".to_string()), "{fetched:?}");
    // Another mailbox, by its name; "inbox" in any case is the INBOX.
    assert!(
        json_list(&call(
            &s,
            "GET",
            "/api/v1/accounts/alice@example.test/mailboxes/Projects/messages",
            None
        ))
        .is_empty()
    );
    assert_eq!(
        json_list(&call(
            &s,
            "GET",
            "/api/v1/accounts/alice@example.test/mailboxes/inbox/messages",
            None
        ))
        .len(),
        3
    );
}

#[test]
fn only_an_admin_may_list_or_delete_and_what_is_not_there_is_404() {
    let s = server_with_mail();
    let user = basic(ALICE, "password-1");
    for (method, path) in [
        (
            "GET",
            "/api/v1/accounts/alice@example.test/mailboxes".to_string(),
        ),
        ("GET", INBOX.to_string()),
        ("DELETE", format!("{INBOX}/1")),
    ] {
        let refused = call_as(&s, &user, method, &path, None);
        assert_eq!(refused.status, 403, "{method} {path}: {refused:?}");
    }
    // Nothing was removed by the refused DELETE.
    assert_eq!(json_list(&call(&s, "GET", INBOX, None)).len(), 3);

    assert_error(
        &call(&s, "DELETE", &format!("{INBOX}/99"), None),
        404,
        "no message with UID 99",
    );
    assert_error(
        &call(
            &s,
            "GET",
            "/api/v1/accounts/alice@example.test/mailboxes/Nowhere/messages",
            None,
        ),
        404,
        "no mailbox",
    );
    assert_error(
        &call(
            &s,
            "DELETE",
            "/api/v1/accounts/alice@example.test/mailboxes/Nowhere/messages/1",
            None,
        ),
        404,
        "no mailbox",
    );
    assert_error(
        &call(
            &s,
            "GET",
            "/api/v1/accounts/nobody@example.test/mailboxes",
            None,
        ),
        404,
        "nobody@example.test",
    );
    assert_error(
        &call(&s, "DELETE", &format!("{INBOX}/abc"), None),
        400,
        "bad path",
    );
    // bob's messages are not alice's: his INBOX is empty, and her UIDs are not in it.
    assert!(
        json_list(&call(
            &s,
            "GET",
            "/api/v1/accounts/bob@example.test/mailboxes/INBOX/messages",
            None
        ))
        .is_empty()
    );
    assert_eq!(
        call(
            &s,
            "DELETE",
            "/api/v1/accounts/bob@example.test/mailboxes/INBOX/messages/1",
            None
        )
        .status,
        404
    );
    assert_eq!(json_list(&call(&s, "GET", INBOX, None)).len(), 3);
}
