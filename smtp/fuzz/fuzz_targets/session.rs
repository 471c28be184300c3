//! Any bytes as two packets from a client, through an MX `Session` with a scripted store.
//! Byte 0 picks the split point (0 = all in the second packet, 255 = all in the first).
//!
//! Store: `*@example.test` is account 1, except local parts starting `x` (unknown user);
//! other domains are not ours; no quota is ever full; delivery always succeeds.
//! Policy (every check on): no client is listed, SPF has no result, the greylist defers
//! recipients whose local part starts with `g`, and the inspection verdict cycles through
//! deliver, Junk and refuse.
//! The driver drops unread input at STARTTLS (RFC 3207 §4.2) and ignores tarpit pauses.
//!
//! Checked: no panic; the driver loop ends (a bound on actions per input byte); everything
//! written at each wait point is whole reply lines `NNN[ -]text\r\n`, NNN in 200..=599, CR
//! and LF only as line ends, a multi-line reply kept to one code and finished.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_config::Limits;
use mailroom_smtp::policy::{Disposition, SenderAuth, Verdict, greylist};
use mailroom_smtp::session::{Action, Checks, Context, Role, Session};
use mailroom_store::{Delivered, Resolution};

fn resolve(address: &str) -> Resolution {
    let lower = address.to_ascii_lowercase();
    if !lower.ends_with("@example.test") {
        Resolution::NotOurDomain
    } else if lower.starts_with('x') {
        Resolution::UnknownUser
    } else {
        Resolution::Local(vec![1])
    }
}

/// `out` is what the session wants written before it waits: whole replies only.
fn check_output(out: &[u8]) {
    if out.is_empty() {
        return;
    }
    assert!(
        out.ends_with(b"\r\n"),
        "output not CRLF-terminated: {out:?}"
    );
    let body = &out[..out.len() - 1]; // each line below still ends in its CR
    let mut open: Option<&[u8]> = None; // code of an unfinished multi-line reply
    for line in body.split(|&b| b == b'\n') {
        let line = line
            .strip_suffix(b"\r")
            .unwrap_or_else(|| panic!("bare LF in output: {out:?}"));
        assert!(!line.contains(&b'\r'), "bare CR in output: {out:?}");
        assert!(line.len() >= 4, "short reply line {line:?} in {out:?}");
        let code = &line[..3];
        assert!(
            (b'2'..=b'5').contains(&code[0]) && code[1..].iter().all(u8::is_ascii_digit),
            "bad reply code in {line:?}"
        );
        if let Some(open) = open {
            assert_eq!(
                open, code,
                "code changed inside a multi-line reply: {out:?}"
            );
        }
        open = match line[3] {
            b'-' => Some(code),
            b' ' => None,
            _ => panic!("no space or hyphen after the code: {line:?}"),
        };
    }
    assert!(open.is_none(), "multi-line reply left unfinished: {out:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&at, rest)) = data.split_first() else {
        return;
    };
    let split = rest.len() * usize::from(at) / 255;
    let packets = [&rest[..split], &rest[split..]];

    let mut s = Session::new(Context {
        host: "mx.example.test".into(),
        role: Role::Mx,
        peer: "192.0.2.7".parse().expect("ip"),
        limits: Limits::default(),
        tls: false,
        session_id: 1,
        greylist: true,
        checks: Checks {
            dnsbl: true,
            auth: true,
            spf_reject_fail: true,
            spam: true,
        },
    });
    s.connected();
    check_output(&s.take_output());
    let mut inspections = 0usize;

    // Each action answers at most a few input lines' worth of work (a line is >= 1 octet:
    // reply, resolve, quota, pause; a message: deliver, pause); far above that is a loop.
    let budget = 8 * rest.len() + 64;
    let mut actions = 0;
    // Like the connection driver: input not consumed at NeedInput stays buffered and is
    // offered again, ahead of the next packet.
    let mut buf: Vec<u8> = Vec::new();
    'packets: for packet in packets {
        buf.extend_from_slice(packet);
        loop {
            actions += 1;
            assert!(
                actions <= budget,
                "driver loop did not end ({actions} actions)"
            );
            let mut input: &[u8] = &buf;
            let action = s.advance(&mut input);
            let consumed = buf.len() - input.len();
            buf.drain(..consumed);
            match action {
                Action::NeedInput => {
                    check_output(&s.take_output());
                    break;
                }
                Action::Resolve { address, .. } => {
                    s.resolved(Ok((resolve(&address), Vec::new())))
                }
                Action::Greylist { recipient, .. } => {
                    s.greylisted(if recipient.starts_with(['g', 'G']) {
                        greylist::Verdict::Defer {
                            retry_after_secs: 300,
                        }
                    } else {
                        greylist::Verdict::Pass
                    })
                }
                Action::CheckClient { .. } => s.client_checked(None),
                Action::CheckSender { .. } => s.sender_checked(SenderAuth::default()),
                Action::Inspect(inspection) => {
                    let mut verdict = Verdict::unchecked();
                    inspections += 1;
                    verdict.disposition = match inspections % 3 {
                        0 => Disposition::Deliver,
                        1 => Disposition::Junk,
                        _ => Disposition::Reject("refused by policy".into()),
                    };
                    s.inspected(inspection, verdict);
                }
                Action::Deliver(d) => {
                    let stored = d
                        .accounts
                        .iter()
                        .map(|&account_id| Delivered {
                            account_id,
                            mailbox_id: account_id,
                            uid: 1,
                        })
                        .collect();
                    s.delivered(Ok(stored));
                }
                Action::StartTls => {
                    buf.clear(); // RFC 3207 §4.2: nothing sent before the handshake counts
                    check_output(&s.take_output());
                    s.tls_started();
                }
                Action::Pause(_) => check_output(&s.take_output()),
                Action::Close => {
                    check_output(&s.take_output());
                    break 'packets;
                }
            }
        }
    }
});
