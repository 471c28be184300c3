//! Session tests: a scripted store, bytes in, replies out. RFC sections on the lines.

use super::*;
use crate::policy::{AuthSummary, Disposition, Verdict};
use mail_auth::{SpfOutput, SpfResult};
use mailroom_shared::events::{EventData, Stage};
use mailroom_store::Delivered;

/// A session with a scripted store: `alice@example.test` (1) and `bob@example.test` (2) exist,
/// `full@example.test` (3) is over quota at delivery, `broken@example.test` makes the store
/// fail, anything else `@example.test` is unknown, other domains are not ours.
pub(super) struct T {
    pub(super) s: Session,
    delivered: Vec<Delivery>,
    paused: u32,
    /// Messages read back from their spool ([`Action::Load`]).
    loads: u32,
    tls_starts: u32,
    closed: bool,
    /// Input left unread when the session asked for TLS (it must be dropped by the driver).
    left_at_tls: Vec<u8>,
    /// What the session asked the greylist: client, sender, recipient.
    greylist_asked: Vec<(IpAddr, String, String)>,
    /// The SPF-passed sender domain each greylist question carried.
    greylist_domains: Vec<Option<String>>,
    /// Recipients (lowercase) the scripted greylist defers; others pass.
    deferred: Vec<String>,
    /// The scripted SPF result of both identities, and the identities asked about.
    spf: SpfResult,
    spf_checked: Vec<(String, String)>,
    /// The scripted inspection verdict, and the inspections asked for.
    verdict: Option<Verdict>,
    inspected: Vec<Inspection>,
    /// Submission: messages handed over, and whether the account is over its rate.
    pub(super) submitted: Vec<Submission>,
    pub(super) over_rate: bool,
    /// Credentials checked: mechanism, user name.
    pub(super) logins: Vec<(&'static str, String)>,
}

pub(super) fn ctx(role: Role) -> Context {
    Context {
        host: "mx.example.test".into(),
        role,
        peer: "192.0.2.7".parse().expect("ip"),
        limits: Limits {
            max_message_size: 1000,
            max_recipients: 3,
            ..Limits::default()
        },
        tls: false,
        session_id: 0x2a,
        greylist: false,
        checks: Checks::default(),
        allow_plaintext_auth: false,
    }
}

fn t() -> T {
    with(ctx(Role::Mx))
}

pub(super) fn with(ctx: Context) -> T {
    let mut s = Session::new(ctx);
    s.greeting();
    let _ = s.take_output();
    T {
        s,
        delivered: Vec::new(),
        paused: 0,
        loads: 0,
        tls_starts: 0,
        closed: false,
        left_at_tls: Vec::new(),
        greylist_asked: Vec::new(),
        greylist_domains: Vec::new(),
        deferred: Vec::new(),
        spf: SpfResult::None,
        spf_checked: Vec::new(),
        verdict: None,
        inspected: Vec::new(),
        submitted: Vec::new(),
        over_rate: false,
        logins: Vec::new(),
    }
}

fn resolve(address: &str) -> Result<Resolution, StoreError> {
    let lower = address.to_ascii_lowercase();
    match lower.as_str() {
        "alice@example.test" | "alice+tag@example.test" | "jörg@example.test" => {
            Ok(Resolution::Local(vec![1]))
        }
        // The bare <Postmaster> of RFC 5321 §4.1.1.3, as the store resolves it.
        "postmaster" => Ok(Resolution::Local(vec![2])),
        // Only the A-label form: the session must have turned a U-label into it.
        "jöran@xn--exmple-cua.test" | "joran@xn--exmple-cua.test" => {
            Ok(Resolution::Local(vec![5]))
        }
        "bob@example.test" => Ok(Resolution::Local(vec![2])),
        "full@example.test" => Ok(Resolution::Local(vec![3])),
        "quota@example.test" => Ok(Resolution::Local(vec![4])),
        "broken@example.test" => Err(StoreError::Unavailable("disk on fire".into())),
        _ if lower.ends_with("@example.test") => Ok(Resolution::UnknownUser),
        _ => Ok(Resolution::NotOurDomain),
    }
}

impl T {
    /// Feed `bytes` in one packet; return everything the session replied.
    pub(super) fn send(&mut self, bytes: &[u8]) -> String {
        let mut input = bytes;
        let mut out = Vec::new();
        loop {
            match self.s.advance(&mut input) {
                Action::NeedInput => break,
                Action::Resolve { address, .. } => {
                    let answer = resolve(&address).map(|resolution| {
                        // Account 4 (`quota@example.test`) is full.
                        let over = match &resolution {
                            Resolution::Local(accounts) => {
                                accounts.iter().copied().filter(|&a| a == 4).collect()
                            }
                            _ => Vec::new(),
                        };
                        (resolution, over)
                    });
                    self.s.resolved(answer)
                }
                Action::Deliver(d) => {
                    let outcome = if d.accounts.contains(&3) {
                        Err(StoreError::QuotaExceeded {
                            address: "full@example.test".into(),
                        })
                    } else {
                        Ok(d.accounts
                            .iter()
                            .map(|&a| Delivered {
                                account_id: a,
                                mailbox_id: a,
                                uid: 1,
                            })
                            .collect())
                    };
                    self.delivered.push(d);
                    self.s.delivered(outcome);
                }
                Action::StartTls => {
                    self.tls_starts += 1;
                    self.left_at_tls = input.to_vec();
                    input = &[];
                    out.extend(self.s.take_output());
                    self.s.tls_started();
                }
                Action::Greylist {
                    client,
                    sender,
                    recipient,
                    authenticated_domain,
                } => {
                    self.greylist_domains.push(authenticated_domain);
                    let verdict = if self.deferred.contains(&recipient.to_lowercase()) {
                        greylist::Verdict::Defer {
                            retry_after_secs: 300,
                        }
                    } else {
                        greylist::Verdict::Pass
                    };
                    self.greylist_asked.push((client, sender, recipient));
                    assert!(!self.s.at_safe_point(), "a RCPT is in progress");
                    self.s.greylisted(verdict);
                }
                Action::Pause(_) => self.paused += 1,
                Action::Load(spool) => {
                    self.loads += 1;
                    self.s.loaded(spool.0.into_bytes());
                }
                Action::CheckClient { .. } => panic!("no DNSBL in these sessions"),
                Action::CheckSender {
                    helo, mail_from, ..
                } => {
                    let out =
                        |domain: &str| SpfOutput::new(domain.to_string()).with_result(self.spf);
                    let sender = SenderAuth {
                        helo: out(&helo),
                        mail_from: out(&mail_from),
                    };
                    self.spf_checked.push((helo, mail_from));
                    self.s.sender_checked(sender);
                }
                Action::Inspect(inspection) => {
                    let verdict = self.verdict.clone().expect("a scripted verdict");
                    self.inspected.push(inspection.clone());
                    self.s.inspected(inspection, verdict);
                }
                Action::Close => {
                    self.closed = true;
                    break;
                }
                Action::Authenticate {
                    mechanism,
                    credentials,
                } => {
                    self.logins.push((mechanism, credentials.username.clone()));
                    let answer =
                        match (credentials.username.as_str(), credentials.password.expose()) {
                            ("alice@example.test", "secret") => AuthAnswer::Accepted(Login {
                                account_id: 1,
                                address: "alice@example.test".into(),
                            }),
                            ("locked@example.test", _) => AuthAnswer::LockedOut(
                                "this account is locked out until later".into(),
                            ),
                            ("broken@example.test", _) => AuthAnswer::Unavailable,
                            _ => AuthAnswer::Refused,
                        };
                    self.s.authenticated(answer);
                }
                Action::Authorize {
                    account_id,
                    addresses,
                    at_mail,
                } => {
                    assert_eq!(account_id, 1);
                    let answer = if at_mail && self.over_rate {
                        Authorization::OverRate { limit: 10 }
                    } else {
                        let owned = [
                            "alice@example.test",
                            "alice+tag@example.test",
                            "team@example.test",
                        ];
                        Authorization::Owned(
                            addresses
                                .iter()
                                .map(|a| owned.contains(&a.to_ascii_lowercase().as_str()))
                                .collect(),
                        )
                    };
                    self.s.authorized(answer);
                }
                Action::Submit(submission) => {
                    let delivered = submission
                        .local
                        .iter()
                        .map(|&a| Delivered {
                            account_id: a,
                            mailbox_id: a,
                            uid: 1,
                        })
                        .collect();
                    self.submitted.push(submission);
                    self.s.delivered(Ok(delivered));
                }
            }
        }
        out.extend(self.s.take_output());
        String::from_utf8_lossy(&out).into_owned()
    }

    pub(super) fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes())
    }

    /// EHLO and MAIL FROM a remote sender.
    fn ready(&mut self) {
        self.cmd("EHLO client.example.org");
        assert_eq!(
            self.cmd("MAIL FROM:<sender@example.org>"),
            "250 2.1.0 sender OK\r\n"
        );
    }

    fn body(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.delivered[i].raw).into_owned()
    }
}

#[test]
fn greeting_and_ehlo_list_the_extensions() {
    let mut s = Session::new(ctx(Role::Mx));
    s.greeting();
    assert_eq!(s.take_output(), b"220 mx.example.test ESMTP mailroom\r\n");
    let mut t = t();
    let ehlo = t.cmd("EHLO client.example.org");
    assert!(
        ehlo.starts_with("250-mx.example.test greets client.example.org\r\n"),
        "{ehlo}"
    );
    for ext in [
        "PIPELINING",
        "SIZE 1000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "BINARYMIME",
        "DSN",
    ] {
        assert!(
            ehlo.contains(&format!("250-{ext}\r\n")),
            "{ext} missing: {ehlo}"
        );
    }
    assert!(ehlo.ends_with("250 STARTTLS\r\n"), "{ehlo}");
    assert_eq!(t.cmd("HELO client.example.org"), "250 mx.example.test\r\n");
    assert_eq!(
        t.cmd("HELO"),
        "501 5.5.4 syntax error, expected: HELO domain\r\n"
    );
}

#[test]
fn commands_out_of_order_get_503() {
    let mut t = t();
    // RFC 5321 §4.1.4: MAIL needs EHLO/HELO first.
    assert_eq!(
        t.cmd("MAIL FROM:<a@example.org>"),
        "503 5.5.1 send EHLO or HELO first\r\n"
    );
    t.cmd("EHLO c.example.org");
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>"),
        "503 5.5.1 need MAIL before RCPT\r\n"
    );
    assert_eq!(t.cmd("DATA"), "503 5.5.1 need MAIL before DATA\r\n");
    assert_eq!(
        t.cmd("MAIL FROM:<a@example.org>"),
        "250 2.1.0 sender OK\r\n"
    );
    assert_eq!(
        t.cmd("MAIL FROM:<a@example.org>"),
        "503 5.5.1 nested MAIL command\r\n"
    );
    // RFC 5321 §3.3: DATA without an accepted recipient.
    assert_eq!(t.cmd("DATA"), "554 5.5.1 no valid recipients\r\n");
    assert_eq!(t.cmd("RSET"), "250 2.0.0 OK\r\n");
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>"),
        "503 5.5.1 need MAIL before RCPT\r\n"
    );
}

#[test]
fn simple_commands() {
    let mut t = t();
    assert_eq!(t.cmd("NOOP"), "250 2.0.0 OK\r\n");
    assert!(t.cmd("VRFY alice").starts_with("252 2.5.0 "));
    assert!(t.cmd("HELP").starts_with("214-2.0.0 commands:"));
    assert_eq!(
        t.cmd("EXPN staff"),
        "502 5.5.1 EXPN is not available here\r\n"
    );
    assert_eq!(
        t.cmd("AUTH PLAIN AGFAYg=="),
        "502 5.5.1 AUTH is not available here\r\n"
    );
    assert_eq!(t.cmd("FROBNICATE"), "500 5.5.2 command not recognized\r\n");
    assert_eq!(
        t.cmd("QUIT"),
        "221 2.0.0 mx.example.test closing connection\r\n"
    );
    assert!(t.closed);
}

#[test]
fn recipients_are_checked_while_the_client_waits() {
    let mut t = t();
    t.ready();
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    assert_eq!(
        t.cmd("RCPT TO:<nobody@example.test>"),
        "550 5.1.1 <nobody@example.test>: no such user here\r\n"
    );
    // The MX never relays (RFC 5321 §3.6.2), whoever asks.
    assert_eq!(
        t.cmd("RCPT TO:<someone@elsewhere.example>"),
        "550 5.7.1 <someone@elsewhere.example>: relaying denied\r\n"
    );
    assert_eq!(
        t.cmd("RCPT TO:<broken@example.test>"),
        "451 4.3.0 local error, try again later\r\n"
    );
    assert!(t.cmd("RCPT TO:<not an address>").starts_with("501 "));
    assert_eq!(
        t.cmd("RCPT TO:<bob@example.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    assert_eq!(
        t.cmd("RCPT TO:<alice+tag@example.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    // RFC 5321 §4.5.3.1.8: over the limit is 452, not 5xx.
    assert_eq!(
        t.cmd("RCPT TO:<bob@example.test>"),
        "452 4.5.3 too many recipients\r\n"
    );
}

#[test]
fn a_message_is_delivered_once_with_trace_fields() {
    let mut t = t();
    t.ready();
    t.cmd("RCPT TO:<alice@example.test>");
    t.cmd("RCPT TO:<alice+tag@example.test>");
    t.cmd("RCPT TO:<bob@example.test>");
    assert_eq!(t.cmd("DATA"), "354 end data with <CR><LF>.<CR><LF>\r\n");
    let reply = t.send(b"Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\n");
    assert_eq!(reply, "250 2.0.0 OK, stored as 2a.0\r\n");
    assert_eq!(t.delivered.len(), 1);
    assert_eq!(
        t.delivered[0].accounts,
        [1, 2],
        "same account twice is stored once"
    );
    let raw = t.body(0);
    assert!(raw.starts_with("Return-Path: <sender@example.org>\r\nReceived: from client.example.org ([192.0.2.7])\r\n\tby mx.example.test (mailroom) with ESMTP id 2a.0;\r\n\t"), "{raw}");
    // RFC 5321 §4.5.2: the stuffed dot is removed; the end mark is not part of the data.
    assert!(
        raw.ends_with("\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n"),
        "{raw}"
    );
    // The transaction is over: a new MAIL is allowed.
    assert_eq!(t.cmd("MAIL FROM:<>"), "250 2.1.0 sender OK\r\n");
}

#[test]
fn pipelined_commands_in_one_packet_are_answered_in_order() {
    let mut t = t();
    // RFC 2920 §3.1: EHLO, MAIL, RCPTs, DATA in one packet.
    let out = t.send(b"EHLO c.example.org\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
    let codes: Vec<&str> = out
        .lines()
        .map(|l| &l[..4])
        .filter(|c| !c.ends_with('-'))
        .collect();
    assert_eq!(
        codes,
        ["250 ", "250 ", "250 ", "550 ", "250 ", "354 "],
        "{out}"
    );
    assert_eq!(
        t.send(b"hello\r\n.\r\nQUIT\r\n"),
        "250 2.0.0 OK, stored as 2a.0\r\n221 2.0.0 mx.example.test closing connection\r\n"
    );
    assert_eq!(t.delivered[0].accounts, [1, 2]);
}

#[test]
fn data_split_across_packets_in_every_chunk_size() {
    let msg = b"Subject: x\r\n\r\nline one\r\n..two\r\n.\r\n";
    for size in [1, 2, 3, 5, 8, 64] {
        let mut t = t();
        t.ready();
        t.cmd("RCPT TO:<alice@example.test>");
        t.cmd("DATA");
        let mut out = String::new();
        for chunk in msg.chunks(size) {
            out.push_str(&t.send(chunk));
        }
        assert_eq!(out, "250 2.0.0 OK, stored as 2a.0\r\n", "chunk size {size}");
        assert!(
            t.body(0)
                .ends_with("\r\nSubject: x\r\n\r\nline one\r\n.two\r\n")
        );
    }
}

#[test]
fn only_crlf_dot_crlf_ends_the_data_and_bare_lf_is_refused() {
    let mut t = t();
    t.ready();
    t.cmd("RCPT TO:<alice@example.test>");
    t.cmd("DATA");
    // SMTP smuggling: LF.LF and LF.CRLF must not end the data, or a second message hidden
    // inside would be read as commands.
    let out = t.send(b"Subject: a\r\n\r\nx\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\n.\r\ny\r\n.\r\n");
    assert_eq!(
        out,
        "554 5.6.0 message has a bare LF or CR; lines must end with CRLF\r\n"
    );
    assert!(t.delivered.is_empty());
    // A bare CR is refused just the same.
    t.ready();
    t.cmd("RCPT TO:<alice@example.test>");
    t.cmd("DATA");
    assert!(t.send(b"a\rb\r\n.\r\n").starts_with("554 5.6.0 "));
}

#[test]
fn size_is_enforced_at_mail_and_during_data() {
    let mut t = t();
    t.cmd("EHLO c.example.org");
    // RFC 1870 §6.2: a declared size over the limit is refused at MAIL.
    assert_eq!(
        t.cmd("MAIL FROM:<a@example.org> SIZE=1001"),
        "552 5.3.4 message size exceeds the fixed maximum of 1000 octets\r\n"
    );
    assert_eq!(
        t.cmd("MAIL FROM:<a@example.org> SIZE=900"),
        "250 2.1.0 sender OK\r\n"
    );
    t.cmd("RCPT TO:<alice@example.test>");
    t.cmd("DATA");
    let big = format!("{}\r\n.\r\n", "x".repeat(1200));
    assert_eq!(
        t.send(big.as_bytes()),
        "552 5.3.4 message exceeds the fixed maximum of 1000 octets\r\n"
    );
    assert!(t.delivered.is_empty());
    assert_eq!(t.cmd("NOOP"), "250 2.0.0 OK\r\n", "the session goes on");
}

/// A message over the spool's memory part: dot-unstuffed on its way to disk, read back whole
/// for delivery.
fn big_message() -> (Vec<u8>, Vec<u8>) {
    let mut wire = b"Subject: big\r\n\r\n".to_vec();
    let mut stored = wire.clone();
    let mut i = 0;
    while wire.len() < 3 * mailroom_shared::spool::MEMORY_MAX {
        // RFC 5321 §4.5.2: a leading dot is doubled on the wire.
        wire.extend_from_slice(format!("..line {i} starts with a dot\r\n").as_bytes());
        stored.extend_from_slice(format!(".line {i} starts with a dot\r\n").as_bytes());
        i += 1;
    }
    (wire, stored)
}

fn big_limits() -> T {
    let mut c = ctx(Role::Mx);
    c.limits.max_message_size = 1 << 20;
    with(c)
}

#[test]
fn a_big_data_message_is_spooled_and_delivered_whole() {
    let (mut wire, stored) = big_message();
    wire.extend_from_slice(b".\r\n");
    let mut t = big_limits();
    t.ready();
    t.cmd("RCPT TO:<alice@example.test>");
    t.cmd("DATA");
    let mut out = String::new();
    for chunk in wire.chunks(64 * 1024) {
        out.push_str(&t.send(chunk));
    }
    assert!(out.starts_with("250 2.0.0 "), "{out}");
    assert_eq!(t.loads, 1, "read back from its spool");
    assert!(t.delivered[0].raw.ends_with(&stored));
}

#[test]
fn a_big_bdat_message_is_spooled_and_delivered_whole() {
    let (_, stored) = big_message();
    let mut t = big_limits();
    t.ready();
    t.cmd("RCPT TO:<alice@example.test>");
    let (a, b) = stored.split_at(stored.len() / 2);
    let mut packet = format!("BDAT {}\r\n", a.len()).into_bytes();
    packet.extend_from_slice(a);
    assert_eq!(
        t.send(&packet),
        format!("250 2.0.0 {} octets received\r\n", a.len())
    );
    let mut packet = format!("BDAT {} LAST\r\n", b.len()).into_bytes();
    packet.extend_from_slice(b);
    let out = t.send(&packet);
    assert!(out.starts_with("250 2.0.0 "), "{out}");
    assert_eq!(t.loads, 1);
    assert!(t.delivered[0].raw.ends_with(&stored));
}

#[test]
fn bdat_carries_binary_data_in_chunks() {
    let mut t = t();
    t.cmd("EHLO c.example.org");
    assert_eq!(
        t.cmd("MAIL FROM:<a@example.org> BODY=BINARYMIME"),
        "250 2.1.0 sender OK\r\n"
    );
    t.cmd("RCPT TO:<alice@example.test>");
    // RFC 3030 §3: BINARYMIME data cannot go through DATA.
    assert_eq!(
        t.cmd("DATA"),
        "503 5.5.1 BODY=BINARYMIME needs BDAT, not DATA\r\n"
    );
    let binary: Vec<u8> = (0..=255u8).collect();
    let head = b"Subject: bin\r\n\r\n";
    let mut packet = format!("BDAT {}\r\n", head.len()).into_bytes();
    packet.extend_from_slice(head);
    packet.extend_from_slice(format!("BDAT {} LAST\r\n", binary.len()).as_bytes());
    packet.extend_from_slice(&binary);
    assert_eq!(
        t.send(&packet),
        "250 2.0.0 16 octets received\r\n250 2.0.0 OK, stored as 2a.0\r\n"
    );
    let raw = &t.delivered[0].raw;
    assert!(raw.ends_with(&[b"Subject: bin\r\n\r\n".as_slice(), &binary].concat()));
}

#[test]
fn a_refused_bdat_chunk_is_read_and_dropped() {
    let mut t = t();
    t.cmd("EHLO c.example.org");
    // No MAIL: the 6 octets must not be taken for commands.
    assert_eq!(
        t.send(b"BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n"),
        "503 5.5.1 need MAIL before BDAT\r\n250 2.0.0 OK\r\n"
    );
    assert!(!t.closed);
}

#[test]
fn starttls_discards_commands_sent_before_the_handshake() {
    let mut t = t();
    t.cmd("EHLO c.example.org");
    // RFC 3207 §4.2 / CVE-2011-0411: the injected MAIL must not be executed.
    let out = t.send(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n");
    assert_eq!(out, "220 2.0.0 ready to start TLS\r\n");
    assert_eq!(t.tls_starts, 1);
    assert_eq!(t.left_at_tls, b"MAIL FROM:<injected@example.org>\r\n");
    // The session starts over: EHLO is needed again, and STARTTLS is not offered twice.
    assert_eq!(
        t.cmd("MAIL FROM:<a@example.org>"),
        "503 5.5.1 send EHLO or HELO first\r\n"
    );
    let ehlo = t.cmd("EHLO c.example.org");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert_eq!(t.cmd("STARTTLS"), "503 5.5.1 TLS is already active\r\n");
    t.cmd("MAIL FROM:<a@example.org>");
    t.cmd("RCPT TO:<alice@example.test>");
    t.cmd("DATA");
    t.send(b"x\r\n.\r\n");
    assert!(t.body(0).contains(" with ESMTPS id "));
}

#[test]
fn smtputf8_addresses_need_the_parameter() {
    let mut t = t();
    t.cmd("EHLO c.example.org");
    assert_eq!(
        t.cmd("MAIL FROM:<jörg@example.org>"),
        "553 5.6.7 non-ASCII address needs the SMTPUTF8 parameter\r\n"
    );
    assert_eq!(
        t.cmd("MAIL FROM:<jörg@example.org> SMTPUTF8"),
        "250 2.1.0 sender OK\r\n"
    );
    assert_eq!(
        t.cmd("RCPT TO:<jörg@example.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    t.cmd("DATA");
    assert!(
        t.send("Subject: Grüße\r\n\r\nÄ\r\n.\r\n".as_bytes())
            .starts_with("250 ")
    );
    assert!(t.body(0).contains(" with UTF8SMTP id "));
    assert!(t.body(0).ends_with("Subject: Grüße\r\n\r\nÄ\r\n"));
}

#[test]
fn a_full_mailbox_is_refused_at_rcpt_with_452() {
    let mut t = t();
    t.ready();
    assert_eq!(
        t.cmd("RCPT TO:<quota@example.test>"),
        "452 4.2.2 <quota@example.test>: mailbox full\r\n"
    );
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    t.cmd("DATA");
    t.send(b"x\r\n.\r\n");
    assert_eq!(t.delivered[0].accounts, [1]);
}

#[test]
fn over_quota_and_store_failures_keep_nothing() {
    let mut t = t();
    t.ready();
    t.cmd("RCPT TO:<full@example.test>");
    t.cmd("DATA");
    assert_eq!(
        t.send(b"x\r\n.\r\n"),
        "552 5.2.2 mailbox of full@example.test is full\r\n"
    );
    t.cmd("MAIL FROM:<a@example.org>");
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
}

#[test]
fn long_lines_errors_and_the_tarpit() {
    let mut t = t();
    let long = format!("NOOP {}\r\n", "x".repeat(2000));
    assert_eq!(
        t.send(long.as_bytes()),
        "500 5.5.6 command line too long\r\n"
    );
    // The same line split across packets.
    let mut out = String::new();
    for chunk in long.as_bytes().chunks(300) {
        out.push_str(&t.send(chunk));
    }
    assert_eq!(out, "500 5.5.6 command line too long\r\n");
    assert_eq!(t.cmd("NOOP"), "250 2.0.0 OK\r\n");
    assert_eq!(t.paused, 0);
    // Defaults: the tarpit after 5 errors, the door after 20.
    for _ in 0..3 {
        t.cmd("BOGUS");
    }
    assert_eq!(t.paused, 1);
    for _ in 0..14 {
        assert!(!t.closed);
        t.cmd("BOGUS");
    }
    assert!(
        t.cmd("BOGUS")
            .ends_with("421 4.7.0 mx.example.test too many errors, closing connection\r\n")
    );
    assert!(t.closed);
}

#[test]
fn submission_refuses_mail_without_authentication() {
    let mut t = with(ctx(Role::Submission));
    t.cmd("EHLO c.example.org");
    assert_eq!(
        t.cmd("MAIL FROM:<alice@example.test>"),
        "530 5.7.0 authentication required\r\n"
    );
}

#[test]
fn drain_and_timeout_say_goodbye() {
    let mut t = t();
    assert!(t.s.at_safe_point());
    t.send(b"NOO");
    assert!(!t.s.at_safe_point(), "half a command is in flight");
    t.send(b"P\r\n");
    t.s.shutting_down();
    assert_eq!(
        t.send(b""),
        "421 4.3.2 mx.example.test shutting down, try again later\r\n"
    );
    assert!(t.closed);
    let mut t = self::t();
    t.s.timed_out();
    assert!(t.send(b"").starts_with("421 4.4.2 "));
}

#[test]
fn ended_by_the_administrator_says_421_and_closes() {
    let mut t = t();
    t.cmd("EHLO c.example.org");
    // Mid-transaction too: nothing was acknowledged, so nothing is lost.
    t.cmd("MAIL FROM:<a@example.org>");
    t.s.ended();
    assert_eq!(
        t.send(b""),
        "421 4.3.2 mx.example.test session ended by the administrator\r\n"
    );
    assert!(t.closed);
}

/// A session with greylisting on that defers `deferred`.
fn greylisting(deferred: &[&str]) -> T {
    let mut t = with(Context {
        greylist: true,
        ..ctx(Role::Mx)
    });
    t.deferred = deferred.iter().map(|s| s.to_string()).collect();
    t
}

#[test]
fn a_greylisted_recipient_gets_451_and_is_not_added() {
    let mut t = greylisting(&["alice@example.test"]);
    t.ready();
    // RFC 6647 §2.1: greylisting is a temporary failure; the text names the delay.
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>"),
        "451 4.7.1 <alice@example.test>: greylisted, try again in 300 seconds\r\n"
    );
    assert_eq!(
        t.greylist_asked,
        [(
            "192.0.2.7".parse().expect("ip"),
            "sender@example.org".to_string(),
            "alice@example.test".to_string()
        )]
    );
    assert_eq!(t.cmd("DATA"), "554 5.5.1 no valid recipients\r\n");
    assert_eq!(
        t.s.take_events(),
        [EventData::Greylisted(Greylisted {
            client: "192.0.2.7".parse().expect("ip"),
            mail_from: "sender@example.org".into(),
            rcpt_to: "alice@example.test".into(),
            retry_after_secs: 300,
        })]
    );
    assert!(t.s.take_events().is_empty(), "taken once");
}

#[test]
fn a_passing_recipient_is_accepted_and_receives_the_message() {
    let mut t = greylisting(&["alice@example.test"]);
    t.ready();
    // Pipelined (RFC 2920): the replies keep their order around the greylist's answers.
    let out = t
        .send(b"RCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nhi\r\n.\r\n");
    assert_eq!(
        out,
        "451 4.7.1 <alice@example.test>: greylisted, try again in 300 seconds\r\n\
         250 2.1.5 recipient OK\r\n\
         354 end data with <CR><LF>.<CR><LF>\r\n\
         250 2.0.0 OK, stored as 2a.0\r\n"
    );
    assert_eq!(t.delivered.len(), 1);
    assert_eq!(t.delivered[0].accounts, [2]);
    assert_eq!(t.s.take_events().len(), 1);
}

#[test]
fn the_greylist_is_asked_only_about_recipients_the_store_accepted() {
    let mut t = greylisting(&[]);
    t.ready();
    assert_eq!(
        t.cmd("RCPT TO:<nobody@example.test>"),
        "550 5.1.1 <nobody@example.test>: no such user here\r\n"
    );
    assert_eq!(
        t.cmd("RCPT TO:<quota@example.test>"),
        "452 4.2.2 <quota@example.test>: mailbox full\r\n"
    );
    assert_eq!(
        t.cmd("RCPT TO:<x@elsewhere.example>"),
        "550 5.7.1 <x@elsewhere.example>: relaying denied\r\n"
    );
    assert!(t.greylist_asked.is_empty());
    assert_eq!(
        t.cmd("RCPT TO:<bob@example.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    assert_eq!(t.greylist_asked.len(), 1);
}

#[test]
fn greylisting_off_or_on_submission_never_asks() {
    let mut t = t();
    t.deferred = vec!["alice@example.test".into()];
    t.ready();
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    assert!(t.greylist_asked.is_empty());
    // Submission clients authenticate: greylisting never applies there.
    let s = Session::new(Context {
        greylist: true,
        ..ctx(Role::Submission)
    });
    assert!(!s.greylist_applies());
    assert!(greylisting(&[]).s.greylist_applies());
}

#[test]
fn deferrals_do_not_count_as_client_errors() {
    let mut t = greylisting(&["alice@example.test"]);
    t.ready();
    // More deferrals than the tarpit threshold (5) and the error limit (20): no pause, no close.
    for _ in 0..25 {
        assert!(
            t.cmd("RCPT TO:<alice@example.test>")
                .starts_with("451 4.7.1 ")
        );
    }
    assert_eq!((t.paused, t.closed), (0, false));
    assert_eq!(t.s.take_events().len(), 25);
}

/// The `Rejected` events taken from the session, as (stage, code, mail_from, rcpt_to).
fn rejections(t: &mut T) -> Vec<(Stage, u16, Option<String>, Option<String>)> {
    t.s.take_events()
        .into_iter()
        .map(|e| match e {
            EventData::Rejected(r) => {
                assert_eq!(r.client, "192.0.2.7".parse::<IpAddr>().expect("ip"));
                (r.stage, r.code, r.mail_from, r.rcpt_to)
            }
            other => panic!("unexpected event {other:?}"),
        })
        .collect()
}

fn checked(spf_reject_fail: bool) -> T {
    let mut c = ctx(Role::Mx);
    c.checks = Checks {
        dnsbl: false,
        auth: true,
        spf_reject_fail,
        spam: false,
    };
    with(c)
}

fn auth_rejections(s: &mut Session) -> Vec<(Stage, u16, String)> {
    s.take_events()
        .into_iter()
        .filter_map(|e| match e {
            EventData::Rejected(r) => Some((r.stage, r.code, r.reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn refusals_are_recorded_as_rejected_events_and_acceptances_are_not() {
    let mut t = t();
    t.ready();
    let from = Some("sender@example.org".to_string());
    t.cmd("RCPT TO:<alice@example.test>");
    assert_eq!(rejections(&mut t), [], "an accepted recipient is no event");
    t.cmd("RCPT TO:<nobody@example.test>");
    t.cmd("RCPT TO:<x@elsewhere.example>");
    t.cmd("RCPT TO:<quota@example.test>");
    t.cmd("RCPT TO:<bob@example.test>");
    t.cmd("RCPT TO:<bob@example.test>");
    t.cmd("RCPT TO:<bob@example.test>"); // the fourth accepted: over max_recipients 3
    let rcpt = |a: &str| Some(a.to_string());
    assert_eq!(
        rejections(&mut t),
        [
            (Stage::Rcpt, 550, from.clone(), rcpt("nobody@example.test")),
            (Stage::Rcpt, 550, from.clone(), rcpt("x@elsewhere.example")),
            (Stage::Rcpt, 452, from.clone(), rcpt("quota@example.test")),
            (Stage::Rcpt, 452, from.clone(), rcpt("bob@example.test")),
        ]
    );
    // DATA too big (max 1000 octets).
    let big = format!("DATA\r\n{}\r\n.\r\n", "x".repeat(1200));
    assert!(t.send(big.as_bytes()).contains("552 5.3.4"));
    assert_eq!(rejections(&mut t), [(Stage::Data, 552, from.clone(), None)]);
    // Bare LF.
    t.ready();
    t.cmd("RCPT TO:<alice@example.test>");
    assert!(t.send(b"DATA\r\nbad\nline\r\n.\r\n").contains("554 5.6.0"));
    assert_eq!(rejections(&mut t), [(Stage::Data, 554, from.clone(), None)]);
    // The store refusing the delivery (account 3 is full at delivery).
    t.ready();
    t.cmd("RCPT TO:<full@example.test>");
    assert!(
        t.send(b"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
            .contains("552 5.2.2")
    );
    assert_eq!(rejections(&mut t), [(Stage::Data, 552, from, None)]);
    // MAIL: declared too big, bad sender; the sender is named though no transaction began.
    assert!(
        t.cmd("MAIL FROM:<big@example.org> SIZE=5000")
            .starts_with("552")
    );
    let long = format!("{}@example.org", "x".repeat(65));
    let bad = t.cmd(&format!("MAIL FROM:<{long}>"));
    assert!(bad.starts_with("553 5.1.7"), "{bad}");
    assert_eq!(
        rejections(&mut t),
        [
            (Stage::Mail, 552, Some("big@example.org".into()), None),
            (Stage::Mail, 553, Some(long), None),
        ]
    );
    let all = t.s.take_events();
    assert!(all.is_empty(), "taken once: {all:?}");
}

#[test]
fn a_delivery_carries_its_delivered_event() {
    let mut t = t();
    t.ready();
    t.cmd("RCPT TO:<alice+tag@example.test>");
    t.cmd("RCPT TO:<bob@example.test>");
    let reply = t.send(b"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n");
    assert!(
        reply.ends_with("250 2.0.0 OK, stored as 2a.0\r\n"),
        "{reply}"
    );
    let d = &t.delivered[0];
    assert_eq!(d.event.message_id, "2a.0", "the id of the Received: field");
    assert_eq!(d.event.client, "192.0.2.7".parse::<IpAddr>().expect("ip"));
    assert_eq!(d.event.envelope.mail_from, "sender@example.org");
    assert_eq!(
        d.event.envelope.rcpt_to,
        ["alice+tag@example.test", "bob@example.test"]
    );
    assert_eq!(d.event.size, d.raw.len() as u64);
    assert!(
        t.s.take_events().is_empty(),
        "the store logs it with the mail"
    );
}

#[test]
fn a_client_on_a_block_list_gets_554_instead_of_the_greeting() {
    let mut c = ctx(Role::Mx);
    c.checks.dnsbl = true;
    let mut s = Session::new(c.clone());
    s.connected();
    assert!(
        s.take_output().is_empty(),
        "no greeting before the lists answered"
    );
    assert!(!s.at_safe_point());
    let ip = c.peer;
    assert_eq!(s.advance(&mut &b""[..]), Action::CheckClient { ip });
    s.client_checked(Some(Listing {
        zone: "bl.example.org".into(),
    }));
    assert_eq!(s.advance(&mut &b"EHLO x\r\n"[..]), Action::Close);
    let out = String::from_utf8(s.take_output()).expect("utf8");
    assert_eq!(
        out,
        "554 5.7.1 mx.example.test refuses mail from 192.0.2.7: listed by bl.example.org\r\n"
    );
    let reason = "mx.example.test refuses mail from 192.0.2.7: listed by bl.example.org";
    assert_eq!(
        auth_rejections(&mut s),
        [(Stage::Connect, 554, reason.into())]
    );

    // Not listed: the usual greeting, then commands.
    let mut s = Session::new(c);
    s.connected();
    assert_eq!(s.advance(&mut &b""[..]), Action::CheckClient { ip });
    s.client_checked(None);
    assert_eq!(s.advance(&mut &b""[..]), Action::NeedInput);
    assert!(String::from_utf8_lossy(&s.take_output()).starts_with("220 mx.example.test "));
    assert!(s.take_events().is_empty());
}

#[test]
fn spf_runs_at_mail_for_both_identities() {
    let mut t = checked(false);
    t.spf = SpfResult::Fail;
    t.cmd("EHLO client.example.org");
    // Only marks by default: the fail is kept for the verdict, and pipelined commands after
    // MAIL are answered in order once the check is back.
    assert_eq!(
        t.send(b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<alice@example.test>\r\n"),
        "250 2.1.0 sender OK\r\n250 2.1.5 recipient OK\r\n"
    );
    assert_eq!(
        t.spf_checked,
        [("client.example.org".into(), "sender@example.org".into())]
    );
    assert_eq!(
        t.s.tx
            .as_ref()
            .and_then(|tx| tx.sender.as_ref())
            .map(|a| a.mail_from.result()),
        Some(SpfResult::Fail)
    );
    assert!(t.s.take_events().is_empty());
}

#[test]
fn an_spf_fail_is_refused_at_mail_when_configured() {
    let mut t = checked(true);
    t.spf = SpfResult::Fail;
    t.cmd("EHLO client.example.org");
    // RFC 7372 §3.2: 5.7.23 for an SPF failure.
    let text = "SPF check failed: example.org does not designate 192.0.2.7 as a permitted sender";
    assert_eq!(
        t.cmd("MAIL FROM:<sender@example.org>"),
        format!("550 5.7.23 {text}\r\n")
    );
    assert_eq!(auth_rejections(&mut t.s), [(Stage::Mail, 550, text.into())]);
    // No transaction was opened.
    assert_eq!(
        t.cmd("RCPT TO:<alice@example.test>"),
        "503 5.5.1 need MAIL before RCPT\r\n"
    );
    // Softfail and the rest pass through.
    t.spf = SpfResult::SoftFail;
    assert_eq!(
        t.cmd("MAIL FROM:<sender@example.org>"),
        "250 2.1.0 sender OK\r\n"
    );
}

fn verdict(disposition: Disposition) -> Verdict {
    Verdict {
        headers: b"Authentication-Results: mx.example.test;\r\n\tdmarc=pass\r\n".to_vec(),
        disposition,
        auth: AuthSummary::default(),
        auth_results: Some("mx.example.test; dmarc=pass".into()),
        junk: Vec::new(),
        spam_score: None,
    }
}

const FORGED: &str = "Authentication-Results: mx.example.test; dkim=pass\r\n\
Authentication-Results: elsewhere.example; spf=pass\r\nSubject: hi\r\n\r\nbody\r\n";

fn send_message(t: &mut T) -> String {
    t.cmd("EHLO client.example.org");
    t.cmd("MAIL FROM:<sender@example.org>");
    t.cmd("RCPT TO:<alice@example.test>");
    t.cmd("RCPT TO:<bob@example.test>");
    t.cmd("DATA");
    t.send(format!("{FORGED}.\r\n").as_bytes())
}

#[test]
fn the_verdict_header_follows_the_trace_fields_and_forged_results_go() {
    let mut t = checked(false);
    t.verdict = Some(verdict(Disposition::Deliver));
    assert_eq!(send_message(&mut t), "250 2.0.0 OK, stored as 2a.0\r\n");
    // The inspection saw the data as the client sent it (DKIM may cover the forged field).
    assert_eq!(t.inspected.len(), 1);
    assert_eq!(t.inspected[0].data, FORGED.as_bytes());
    assert_eq!(t.inspected[0].mail_from, "sender@example.org");
    assert_eq!(t.inspected[0].helo, "client.example.org");
    assert_eq!(t.delivered[0].junk, Vec::<i64>::new());
    let raw = t.body(0);
    let (trace, rest) = raw
        .split_once("\r\nAuthentication-Results: mx.example.test;\r\n\tdmarc=pass\r\n")
        .expect("our field");
    assert!(
        trace.starts_with("Return-Path: <sender@example.org>\r\nReceived: "),
        "{raw}"
    );
    // RFC 8601 §5: ours (forged) removed, the other server's kept.
    assert_eq!(
        rest,
        "Authentication-Results: elsewhere.example; spf=pass\r\nSubject: hi\r\n\r\nbody\r\n"
    );
}

#[test]
fn quarantine_files_every_copy_in_junk() {
    let mut t = checked(false);
    t.verdict = Some(verdict(Disposition::Junk));
    assert_eq!(send_message(&mut t), "250 2.0.0 OK, stored as 2a.0\r\n");
    assert_eq!(t.delivered[0].accounts, [1, 2]);
    assert_eq!(t.delivered[0].junk, [1, 2]);
    assert_eq!(
        t.delivered[0].event.auth_results.as_deref(),
        Some("mx.example.test; dmarc=pass"),
        "the Delivered event carries the results"
    );
}

#[test]
fn the_greylist_hears_of_a_sender_domain_that_passed_spf() {
    for (spf, expected) in [
        (SpfResult::Pass, Some("example.org".to_string())),
        (SpfResult::Fail, None),
        (SpfResult::None, None),
    ] {
        let mut t = checked(false);
        t.s = Session::new(Context {
            greylist: true,
            ..t.s.ctx.clone()
        });
        t.spf = spf;
        t.cmd("EHLO client.example.org");
        t.cmd("MAIL FROM:<sender@Example.ORG>");
        assert_eq!(
            t.cmd("RCPT TO:<alice@example.test>"),
            "250 2.1.5 recipient OK\r\n"
        );
        assert_eq!(t.greylist_domains, [expected], "{spf:?}");
    }
}

#[test]
fn spam_scoring_alone_inspects_and_files_each_recipients_copy_where_its_score_says() {
    let mut c = ctx(Role::Mx);
    c.checks.spam = true;
    let mut t = with(c);
    let mut v = Verdict::unchecked();
    v.headers = b"X-Spam-Score: 6.0\r\n".to_vec();
    v.junk = vec![2];
    v.spam_score = Some(6.0);
    t.verdict = Some(v);
    assert_eq!(send_message(&mut t), "250 2.0.0 OK, stored as 2a.0\r\n");
    assert_eq!(
        t.inspected[0].accounts,
        [1, 2],
        "the scorer is told the recipients"
    );
    let d = &t.delivered[0];
    assert_eq!(
        (d.accounts.as_slice(), d.junk.as_slice()),
        (&[1, 2][..], &[2][..])
    );
    assert_eq!(d.event.spam_score, Some(6.0));
    assert!(t.body(0).contains("\r\nX-Spam-Score: 6.0\r\n"));

    // A verdict the message came with is the sender's claim, not ours: it goes.
    t.cmd("MAIL FROM:<sender@example.org>");
    t.cmd("RCPT TO:<alice@example.test>");
    t.cmd("DATA");
    t.send(b"X-Spam-Status: No, score=-50\r\nSubject: trust me\r\n\r\nhi\r\n.\r\n");
    let body = t.body(1);
    assert!(!body.contains("score=-50"), "{body}");
    assert!(
        body.ends_with("X-Spam-Score: 6.0\r\nSubject: trust me\r\n\r\nhi\r\n"),
        "{body}"
    );
}

#[test]
fn a_dmarc_reject_refuses_the_message_and_the_session_goes_on() {
    let mut t = checked(false);
    let text = "message refused: it fails the DMARC policy (p=reject) of example.org";
    t.verdict = Some(verdict(Disposition::Reject(text.into())));
    assert_eq!(send_message(&mut t), format!("550 5.7.1 {text}\r\n"));
    assert!(t.delivered.is_empty(), "nothing stored");
    assert_eq!(auth_rejections(&mut t.s), [(Stage::Data, 550, text.into())]);
    assert!(t.s.at_safe_point());
    assert_eq!(t.cmd("MAIL FROM:<>"), "250 2.1.0 sender OK\r\n");
}

#[test]
fn bdat_data_is_inspected_too() {
    let mut t = checked(false);
    t.verdict = Some(verdict(Disposition::Junk));
    t.cmd("EHLO client.example.org");
    t.cmd("MAIL FROM:<sender@example.org>");
    t.cmd("RCPT TO:<alice@example.test>");
    assert_eq!(
        t.send(b"BDAT 5\r\nSubje"),
        "250 2.0.0 5 octets received\r\n"
    );
    assert_eq!(
        t.send(b"BDAT 13 LAST\r\nct: x\r\n\r\nhi\r\n"),
        "250 2.0.0 OK, stored as 2a.0\r\n"
    );
    assert_eq!(t.inspected[0].data, b"Subject: x\r\n\r\nhi\r\n");
    assert_eq!(t.delivered[0].junk, [1]);
    assert!(
        t.body(0)
            .ends_with("\tdmarc=pass\r\nSubject: x\r\n\r\nhi\r\n")
    );
}

#[test]
fn refusals_are_counted_under_their_reason() {
    use mailroom_shared::metrics::RejectReason as R;
    let refused = |answer| match rcpt::resolution_reply("a@example.test".into(), answer) {
        Err(r) => r,
        Ok(_) => panic!("accepted"),
    };
    let cases = [
        (
            Stage::Rcpt,
            refused(Ok(Resolution::UnknownUser)),
            R::UnknownRecipient,
        ),
        (
            Stage::Rcpt,
            refused(Ok(Resolution::NotOurDomain)),
            R::RelayDenied,
        ),
        (
            Stage::Rcpt,
            refused(Ok(Resolution::Invalid("bad".into()))),
            R::Syntax,
        ),
        (
            Stage::Rcpt,
            refused(Err(StoreError::Unavailable("down".into()))),
            R::StoreError,
        ),
        (
            Stage::Connect,
            reply::listed("mx.test", "192.0.2.1".parse().expect("ip"), "bl.test"),
            R::Policy,
        ),
        (Stage::Mail, reply::spf_failed("spf fail".into()), R::Policy),
        (
            Stage::Data,
            reply::policy_refused("dmarc".into()),
            R::Policy,
        ),
        (Stage::Data, Reply::new(452, "4.2.2", "full"), R::OverQuota),
        (Stage::Data, Reply::new(552, "5.3.4", "too big"), R::Size),
        (Stage::Mail, Reply::new(450, "4.7.1", "rate"), R::Rate),
        (
            Stage::Rcpt,
            Reply::new(452, "4.5.3", "too many"),
            R::TooManyRecipients,
        ),
        (Stage::Data, Reply::new(554, "5.9.9", "odd"), R::Other),
    ];
    for (stage, r, want) in cases {
        assert_eq!(reject_reason(stage, &r), want, "{r:?} at {stage:?}");
    }
}

/// A transaction to alice up to the 354, then `data` in the reads `splits` (offsets).
fn data_in_reads(data: &[u8], splits: &[usize]) -> (T, String) {
    let mut t = t();
    t.ready();
    t.cmd("RCPT TO:<alice@example.test>");
    assert!(t.cmd("DATA").starts_with("354 "));
    let mut out = String::new();
    let mut from = 0;
    for &to in splits.iter().chain([&data.len()]) {
        out.push_str(&t.send(&data[from..to]));
        from = to;
    }
    (t, out)
}

#[test]
fn smuggling_end_marks_are_content_and_the_message_is_refused_whole() {
    // RFC 5321 §4.1.1.4: only CRLF.CRLF ends the data. Each of these "ends" is content, so
    // the MAIL/RCPT/DATA after it are part of the one message, which has a bare CR or LF
    // (RFC 5321 §2.3.8) and is refused whole; the QUIT after the real end runs.
    for mark in [
        &b"\r\n.\r\r\n"[..],
        b"\r\n.\r\r\r\n",
        b"\n.\n",
        b"\r.\r\n",
        b"\n.\r\n",
        b"\r\n.\n",
    ] {
        let mut data = b"Subject: one\r\n\r\nfirst".to_vec();
        data.extend_from_slice(mark);
        data.extend_from_slice(
            b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n\
              Subject: two\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n",
        );
        // In one read, and split inside the mark at every point.
        let at = b"Subject: one\r\n\r\nfirst".len();
        for split in [vec![]]
            .into_iter()
            .chain((at..=at + mark.len()).map(|i| vec![i]))
        {
            let (t, out) = data_in_reads(&data, &split);
            let shown = mark.escape_ascii();
            assert_eq!(
                out,
                "554 5.6.0 message has a bare LF or CR; lines must end with CRLF\r\n\
                 221 2.0.0 mx.example.test closing connection\r\n",
                "end mark {shown}, reads split at {split:?}"
            );
            assert!(t.delivered.is_empty(), "end mark {shown}");
            assert!(t.closed);
        }
    }
}

#[test]
fn a_dot_line_right_after_354_is_an_empty_message() {
    // The data starts at the start of a line (RFC 5321 §4.1.1.4): "." CRLF ends it at once.
    let (t, out) = data_in_reads(b".\r\nNOOP\r\n", &[]);
    assert_eq!(out, "250 2.0.0 OK, stored as 2a.0\r\n250 2.0.0 OK\r\n");
    assert_eq!(t.delivered.len(), 1);
    // Nothing after the trace fields, whose last line is the Received: date.
    let raw = t.body(0);
    let last = raw
        .trim_end_matches("\r\n")
        .rsplit("\r\n")
        .next()
        .unwrap_or("");
    assert!(last.starts_with('\t') && raw.ends_with("\r\n"), "{raw}");
    // A first line starting with a dot is unstuffed (RFC 5321 §4.5.2).
    let (t, _) = data_in_reads(b"..x\r\n.\r\n", &[1, 2, 3]);
    assert!(t.body(0).ends_with("\r\n.x\r\n"), "{}", t.body(0));
}

#[test]
fn a_size_too_large_for_any_number_is_refused_at_mail() {
    let mut t = t();
    t.cmd("EHLO c.example.org");
    // RFC 1870 §6.2: 552 5.3.4 for a declared size over the limit, however many digits.
    for size in [
        "99999999999999999999999",
        "18446744073709551616",
        "1000000000000",
    ] {
        assert_eq!(
            t.cmd(&format!("MAIL FROM:<a@example.org> SIZE={size}")),
            "552 5.3.4 message size exceeds the fixed maximum of 1000 octets\r\n",
            "SIZE={size}"
        );
    }
    // RFC 1870 §3: size-value is digits.
    assert_eq!(
        t.cmd("MAIL FROM:<a@example.org> SIZE=12x"),
        "501 5.5.4 invalid value for parameter SIZE\r\n"
    );
    assert_eq!(
        t.cmd("MAIL FROM:<a@example.org> SIZE=999 BODY=8BITMIME"),
        "250 2.1.0 sender OK\r\n"
    );
}

#[test]
fn a_bdat_chunk_size_too_large_for_any_number_closes_the_session() {
    let mut t = t();
    t.ready();
    t.cmd("RCPT TO:<alice@example.test>");
    // RFC 3030 §2: chunk-size octets follow; this many cannot be read through, and they must
    // not be taken for commands (smtp-proto read the size as 999).
    let out = t.send(b"BDAT 99999999999999999999999\r\nQUIT\r\nNOOP\r\n");
    assert_eq!(
        out,
        "552 5.3.4 chunk size exceeds the fixed maximum of 1000 octets; closing connection\r\n"
    );
    assert!(t.closed);
    assert!(t.delivered.is_empty());
}

#[test]
fn rcpt_postmaster_without_a_domain_is_accepted() {
    let mut t = t();
    t.ready();
    // RFC 5321 §4.1.1.3: <Postmaster>, any case, with no domain, must be accepted; the store
    // says who it is (§4.5.1).
    assert_eq!(t.cmd("RCPT TO:<Postmaster>"), "250 2.1.5 recipient OK\r\n");
    assert_eq!(t.cmd("RCPT TO:<postmaster>"), "250 2.1.5 recipient OK\r\n");
    // The null path is still no recipient.
    assert!(t.cmd("RCPT TO:<>").starts_with("501 5.1.3 "));
    t.cmd("DATA");
    t.send(b"Subject: hello postmaster\r\n\r\nhi\r\n.\r\n");
    assert_eq!(t.delivered[0].accounts, [2]);
}

#[test]
fn internationalised_domains_are_valid_under_smtputf8_and_compare_as_a_labels() {
    let mut t = t();
    t.cmd("EHLO c.example.org");
    // RFC 6531 §3.3: with SMTPUTF8, a domain may be a U-label.
    assert_eq!(
        t.cmd("MAIL FROM:<jöran@exämple.org> SMTPUTF8"),
        "250 2.1.0 sender OK\r\n"
    );
    // The store is asked about the A-label form only (RFC 5890 §2.3.2.1: the same name).
    assert_eq!(
        t.cmd("RCPT TO:<jöran@exämple.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    assert_eq!(
        t.cmd("RCPT TO:<jöran@XN--EXMPLE-CUA.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    t.cmd("DATA");
    assert!(
        t.send(b"Subject: idn\r\n\r\nhi\r\n.\r\n")
            .starts_with("250 ")
    );
    assert_eq!(t.delivered[0].accounts, [5]);
    let raw = t.body(0);
    assert!(
        raw.starts_with("Return-Path: <jöran@xn--exmple-cua.org>\r\n"),
        "{raw}"
    );
    // RFC 6531 §3.4: without SMTPUTF8, only the A-label may be used.
    t.cmd("MAIL FROM:<joran@example.org>");
    assert_eq!(
        t.cmd("RCPT TO:<joran@exämple.test>"),
        "553 5.6.7 non-ASCII address needs the SMTPUTF8 parameter\r\n"
    );
    assert_eq!(
        t.cmd("RCPT TO:<joran@xn--exmple-cua.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    // A malformed A-label is not a domain.
    assert!(
        t.cmd("RCPT TO:<joran@xn--zz.test>")
            .starts_with("501 5.1.3 ")
    );
}

#[test]
fn the_greylist_is_asked_about_a_labels() {
    let mut t = greylisting(&[]);
    t.cmd("EHLO c.example.org");
    t.cmd("MAIL FROM:<Jöran@Exämple.org> SMTPUTF8");
    assert_eq!(
        t.cmd("RCPT TO:<jöran@exämple.test>"),
        "250 2.1.5 recipient OK\r\n"
    );
    let (_, sender, recipient) = &t.greylist_asked[0];
    assert_eq!(sender, "Jöran@xn--exmple-cua.org");
    assert_eq!(recipient, "jöran@xn--exmple-cua.test");
}
