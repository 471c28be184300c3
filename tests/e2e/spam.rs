//! Spam scoring end to end: the corpus in tests/data/spam is filed by its score (ham in INBOX,
//! spam in Junk, each with its X-Spam-* fields), and after a user moves 20 messages of a
//! campaign into Junk over IMAP, the next message like them scores higher for that account
//! only.

use crate::python;
use mailroom_tests::{LineClient, Server, wait_until};
use std::path::Path;
use std::time::Duration;

fn scoring_server() -> Server {
    let s = crate::server_with("[spam]\nenabled = true\n");
    s.add_users("example.test", &["alice@example.test", "bob@example.test"])
        .expect("users");
    s
}

/// Send `raw` (any line ends) to `to` over SMTP; it must be accepted.
fn send(s: &Server, to: &str, raw: &str) {
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    c.read_line().expect("greeting");
    c.send("EHLO client.example.org").expect("ehlo");
    c.read_until(|l| l.as_bytes().get(3) == Some(&b' '))
        .expect("ehlo reply");
    assert!(
        c.cmd("MAIL FROM:<sender@example.org>")
            .expect("mail")
            .starts_with("250 ")
    );
    assert!(
        c.cmd(&format!("RCPT TO:<{to}>"))
            .expect("rcpt")
            .starts_with("250 ")
    );
    assert!(c.cmd("DATA").expect("data").starts_with("354 "));
    let mut data = String::new();
    for line in raw.lines() {
        // RFC 5321 §4.5.2: a leading dot is doubled on the wire.
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    c.send_raw(data.as_bytes()).expect("body");
    let stored = c.read_line().expect("end of data");
    assert!(stored.starts_with("250 2.0.0 "), "{stored}");
    c.cmd("QUIT").expect("quit");
}

/// The value of header `name` in a stored message, unfolded.
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n").take_while(|l| !l.is_empty());
    let first = lines.find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))?;
    let folded = lines.take_while(|l| l.starts_with([' ', '\t']));
    Some(folded.fold(first, |v, l| v + " " + l.trim()))
}

fn score_of(raw: &[u8]) -> f64 {
    header(raw, "X-Spam-Score:")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no X-Spam-Score in {}", String::from_utf8_lossy(raw)))
}

fn corpus(kind: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/spam")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("corpus file"))
        .collect()
}

#[test]
fn the_corpus_is_filed_by_its_score_with_its_headers() {
    let s = scoring_server();
    let (ham, spam) = (corpus("ham"), corpus("spam"));
    assert!(ham.len() >= 10 && spam.len() >= 10);
    for m in &ham {
        send(&s, "alice@example.test", m);
    }
    for m in &spam {
        send(&s, "bob@example.test", m);
    }
    let inbox = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(inbox.len(), ham.len(), "every ham message in alice's INBOX");
    for m in &inbox {
        let status = header(m, "X-Spam-Status:").expect("status");
        assert!(status.starts_with("No, "), "{status}");
        assert!(score_of(m) < 5.0);
    }
    let junk = s.mailbox("bob@example.test", "Junk").expect("junk");
    assert_eq!(junk.len(), spam.len(), "every spam message in bob's Junk");
    assert!(s.inbox("bob@example.test").expect("inbox").is_empty());
    for m in &junk {
        let status = header(m, "X-Spam-Status:").expect("status");
        assert!(status.starts_with("Yes, "), "{status}");
        assert!(score_of(m) >= 5.0);
    }
    // The decision, with the rules that fired, is kept for each copy. It is written after the
    // 250 (a store failure there must not fail the delivery), so the last may lag the reply.
    let want = (ham.len() + spam.len()) as i64;
    let mut decisions = 0;
    let all_kept = wait_until(Duration::from_secs(10), || {
        decisions = s
            .api_get("/api/v1/policy/spam?limit=500")
            .expect("decisions")
            .as_array()
            .map_or(0, |d| d.len() as i64);
        decisions == want
    });
    assert!(
        all_kept,
        "{decisions} spam decisions kept for {want} copies"
    );
}

/// A casino campaign: proper headers, so its rules score alone stays low.
fn campaign(i: usize, to: &str) -> String {
    format!(
        "From: Lucky Palace <news{i}@lucky-palace.example>\nTo: {to}\n\
         Subject: Your exclusive casino bonus {i} is waiting\n\
         Date: Tue, 7 Mar 2023 10:00:00 +0000\nMessage-ID: <bonus-{i}@lucky-palace.example>\n\n\
         Claim your exclusive casino bonus now: free spins, jackpot winnings and instant \
         payouts. Use bonus code LUCKY{i} at https://lucky-palace.example/claim/{i} before \
         midnight. Roulette, blackjack and slots are waiting.\n"
    )
}

#[test]
fn moving_twenty_into_junk_over_imap_raises_like_mail_for_that_account_only() {
    let s = scoring_server();
    let alice = "alice@example.test";
    for i in 0..20 {
        send(&s, alice, &campaign(i, alice));
    }
    let before = s.inbox(alice).expect("inbox");
    assert_eq!(before.len(), 20, "the campaign passes the rules alone");
    let untrained = score_of(&before[0]);

    // The user moves them into Junk with a real IMAP client.
    python(&format!(
        "import imaplib, ssl\n\
         c = imaplib.IMAP4('127.0.0.1', {port})\n\
         c.starttls(ssl_context=ssl._create_unverified_context())\n\
         c.login('alice@example.test', 'password-1')\n\
         typ, data = c.select('INBOX')\n\
         assert data == [b'20'], data\n\
         typ, data = c.uid('MOVE', '1:*', 'Junk')\n\
         assert typ == 'OK', (typ, data)\n\
         c.logout()\n",
        port = s.ports.imap
    ));
    assert!(
        wait_until(Duration::from_secs(10), || {
            s.bayes_trained(alice).is_ok_and(|(spam, _)| spam == 20)
        }),
        "alice's classifier learns all 20: {:?}",
        s.bayes_trained(alice)
    );
    assert_eq!(s.bayes_trained("bob@example.test").expect("bob"), (0, 0));

    // The next message of the campaign, to each of them separately.
    send(&s, alice, &campaign(100, alice));
    send(&s, "bob@example.test", &campaign(101, "bob@example.test"));
    let alice_copy = s
        .mailbox(alice, "Junk")
        .expect("junk")
        .into_iter()
        .find(|m| String::from_utf8_lossy(m).contains("bonus-100@"))
        .expect("alice's new copy is filed in Junk");
    let bob_copy = s
        .inbox("bob@example.test")
        .expect("inbox")
        .pop()
        .expect("bob's copy stays in his INBOX");
    let (alice_score, bob_score) = (score_of(&alice_copy), score_of(&bob_copy));
    assert!(
        alice_score > untrained && alice_score > bob_score + 1.0,
        "alice {alice_score}, bob {bob_score}, before training {untrained}"
    );
    let status = header(&alice_copy, "X-Spam-Status:").unwrap_or_default();
    assert!(status.contains("BAYES_SPAM"), "{status}");
    assert!(!header(&bob_copy, "X-Spam-Status:").is_some_and(|v| v.contains("BAYES")));
}
