//! Session tests against a real store in a temporary directory: messages in, responses out,
//! no socket. RFC sections on the lines they check.

use std::sync::Arc;

use actix::Addr;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_shared::net::AccountSessions;
use mailroom_store::actor::Deliver;
use mailroom_store::{Admin, MailboxStore, Role};
use tempfile::TempDir;

use super::*;

const MESSAGE: &str = "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\n\
Subject: hello\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@example.test>\r\n\
\r\nHello Alice,\r\nthis is the body.\r\n";

struct T {
    s: Session,
    store: Addr<MailboxStore>,
    alice: i64,
    _dir: TempDir,
}

fn limits() -> Limits {
    Limits {
        tarpit_delay_ms: 0,
        max_errors_per_session: 8,
        ..Limits::default()
    }
}

fn ctx(tls: bool) -> Context {
    Context {
        host: "imap.example.test".into(),
        tls,
        allow_plaintext_auth: false,
        limits: limits(),
        sessions: AccountSessions::default(),
    }
}

async fn t_with(tls: bool) -> T {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Admin::open(dir.path()).expect("admin");
    admin.domain_add("example.test").expect("domain");
    let pw = Secret::new("password-1");
    let alice = admin
        .user_add("alice@example.test", &pw, Role::User, None)
        .expect("alice")
        .id;
    let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("store");
    T {
        s: Session::new(ctx(tls), store.clone()),
        store,
        alice,
        _dir: dir,
    }
}

async fn session() -> T {
    t_with(true).await
}

impl T {
    /// Send one message (CRLF added) and return what the session wrote.
    async fn cmd(&mut self, line: &str) -> String {
        self.raw(format!("{line}\r\n").as_bytes()).await.0
    }

    async fn raw(&mut self, bytes: &[u8]) -> (String, Flow) {
        let mut out = Vec::new();
        let flow = self.s.message(bytes, &mut out).await.expect("output");
        (String::from_utf8_lossy(&out).into_owned(), flow)
    }

    async fn login(&mut self) {
        let r = self.cmd("a LOGIN alice@example.test password-1").await;
        assert!(r.starts_with("a OK [CAPABILITY "), "{r}");
    }

    async fn deliver(&self, raw: &str) {
        self.store
            .send(Deliver {
                recipients: vec![self.alice],
                raw: Arc::from(raw.as_bytes()),
                internal_date: Some(760_000_000),
            })
            .await
            .expect("mailbox")
            .expect("deliver");
    }

    /// Log in, deliver `n` messages and select INBOX.
    async fn selected(n: usize) -> T {
        let mut t = session().await;
        t.login().await;
        for _ in 0..n {
            t.deliver(MESSAGE).await;
        }
        let r = t.cmd("s SELECT INBOX").await;
        assert!(r.ends_with("s OK [READ-WRITE] SELECT completed\r\n"), "{r}");
        t
    }
}

#[actix_rt::test]
async fn greeting_and_capabilities_follow_tls() {
    let mut plain = t_with(false).await;
    let g = String::from_utf8_lossy(&plain.s.greeting()).into_owned();
    assert!(
        g.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED "),
        "{g}"
    );
    // RFC 9051 §6.2.3: no LOGIN before TLS when LOGINDISABLED is advertised.
    let r = plain.cmd("a LOGIN alice@example.test password-1").await;
    assert_eq!(
        r,
        "a NO [PRIVACYREQUIRED] authentication needs TLS: use STARTTLS or the imaps port\r\n"
    );
    let r = plain
        .cmd("b AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC0x")
        .await;
    assert!(r.starts_with("b NO [PRIVACYREQUIRED]"), "{r}");
    let (r, flow) = plain.raw(b"c STARTTLS\r\n").await;
    assert_eq!(
        (r.as_str(), flow),
        ("c OK begin TLS negotiation now\r\n", Flow::StartTls)
    );
    plain.s.tls_started();
    let r = plain.cmd("d CAPABILITY").await;
    assert!(
        r.contains(" AUTH=PLAIN AUTH=LOGIN ") && !r.contains("STARTTLS"),
        "{r}"
    );
    let r = plain.cmd("e STARTTLS").await;
    assert_eq!(r, "e BAD TLS is already active\r\n");
}

#[actix_rt::test]
async fn login_and_authenticate() {
    let mut t = session().await;
    let r = t.cmd("a LOGIN alice@example.test wrong").await;
    assert_eq!(r, "a NO [AUTHENTICATIONFAILED] invalid credentials\r\n");
    // RFC 4959 SASL-IR: PLAIN with the initial response in the command.
    let r = t
        .cmd("b AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC0x")
        .await;
    assert!(
        r.starts_with("b OK [CAPABILITY IMAP4rev1 IMAP4rev2 SASL-IR"),
        "{r}"
    );
    let r = t.cmd("c LOGIN alice@example.test password-1").await;
    assert_eq!(r, "c BAD LOGIN is not allowed in this state\r\n");

    // PLAIN in two steps, LOGIN in three, `*` cancels (RFC 9051 §6.2.2).
    let mut t = session().await;
    assert_eq!(t.cmd("a AUTHENTICATE PLAIN").await, "+ \r\n");
    let r = t.cmd("*").await;
    assert_eq!(r, "a BAD authentication cancelled\r\n");
    assert_eq!(t.cmd("b AUTHENTICATE LOGIN").await, "+ VXNlcm5hbWU6\r\n");
    assert_eq!(
        t.cmd("YWxpY2VAZXhhbXBsZS50ZXN0").await,
        "+ UGFzc3dvcmQ6\r\n"
    );
    let r = t.cmd("cGFzc3dvcmQtMQ==").await;
    assert!(r.starts_with("b OK [CAPABILITY "), "{r}");
    assert_eq!(t.s.account_id(), Some(t.alice));
}

#[actix_rt::test]
async fn commands_out_of_state_and_garbage() {
    let mut t = session().await;
    assert_eq!(
        t.cmd("a SELECT INBOX").await,
        "a BAD SELECT is not allowed in this state\r\n"
    );
    assert_eq!(
        t.cmd("a FROBNICATE").await,
        "a BAD syntax error in command or arguments\r\n"
    );
    assert_eq!(t.cmd("+++").await, "* BAD missing or invalid tag\r\n");
    t.login().await;
    assert_eq!(
        t.cmd("b FETCH 1 FLAGS").await,
        "b BAD FETCH is not allowed in this state\r\n"
    );
    // The error limit ends the session: 8 in these tests, 4 of them spent above.
    for _ in 0..3 {
        assert_eq!(
            t.cmd("x NOPE").await,
            "x BAD syntax error in command or arguments\r\n"
        );
    }
    let last = t.cmd("x NOPE").await;
    assert_eq!(
        last,
        "x BAD syntax error in command or arguments\r\n* BYE too many errors\r\n"
    );
    let (_, flow) = t.raw(b"y NOOP\r\n").await;
    assert_eq!(flow, Flow::Close);
}

#[actix_rt::test]
async fn select_reports_the_mailbox() {
    let mut t = session().await;
    t.login().await;
    t.deliver(MESSAGE).await;
    t.deliver(MESSAGE).await;
    let r = t.cmd("s SELECT inbox").await;
    // RFC 3501 §6.3.1 for an IMAP4rev1 session.
    for line in [
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
        "* 2 EXISTS\r\n",
        "* 0 RECENT\r\n",
        "* OK [UNSEEN 1] first unseen\r\n",
        "* OK [UIDNEXT 3] predicted next UID\r\n",
        "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags you can change\r\n",
        "s OK [READ-WRITE] SELECT completed\r\n",
    ] {
        assert!(r.contains(line), "{line:?} missing in {r}");
    }
    assert!(r.contains("* OK [UIDVALIDITY "), "{r}");
    let r = t.cmd("e EXAMINE INBOX").await;
    assert!(
        r.contains("* OK [PERMANENTFLAGS ()]")
            && r.ends_with("e OK [READ-ONLY] EXAMINE completed\r\n"),
        "{r}"
    );
    assert!(
        t.cmd("f STORE 1 +FLAGS (\\Seen)")
            .await
            .starts_with("f NO [READ-ONLY]")
    );
    let r = t.cmd("g SELECT nosuch").await;
    assert!(r.starts_with("g NO [NONEXISTENT]"), "{r}");
    // A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
    assert_eq!(
        t.cmd("h FETCH 1 FLAGS").await,
        "h BAD FETCH is not allowed in this state\r\n"
    );
}

#[actix_rt::test]
async fn fetch_items() {
    let mut t = T::selected(1).await;
    let r = t
        .cmd("f FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE)")
        .await;
    assert_eq!(
        r,
        format!(
            "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE {} INTERNALDATE \"31-Jan-1994 07:06:40 +0000\")\r\nf OK FETCH completed\r\n",
            MESSAGE.len()
        )
    );
    // BODY.PEEK does not set \Seen; BODY[] does, and says so (RFC 9051 §6.4.5).
    let r = t.cmd("p FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert_eq!(
        r,
        "* 1 FETCH (BODY[HEADER.FIELDS (\"SUBJECT\")] {18}\r\nSubject: hello\r\n\r\n)\r\np OK FETCH completed\r\n"
    );
    let r = t.cmd("b FETCH 1 BODY[TEXT]<6.5>").await;
    assert_eq!(
        r,
        "* 1 FETCH (BODY[TEXT]<6> {5}\r\nAlice FLAGS (\\Seen))\r\nb OK FETCH completed\r\n"
    );
    let r = t.cmd("u UID FETCH 1:* (BODY[])").await;
    assert!(
        r.starts_with(&format!(
            "* 1 FETCH (UID 1 BODY[] {{{}}}\r\n{MESSAGE})",
            MESSAGE.len()
        )),
        "{r}"
    );
    let r = t.cmd("e FETCH 1 (ENVELOPE BODYSTRUCTURE)").await;
    assert!(
        r.starts_with("* 1 FETCH (ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"hello\" ((\"Bob\" NIL \"bob\" \"example.test\"))"),
        "{r}"
    );
    assert!(r.contains(" BODYSTRUCTURE (\"TEXT\" \"PLAIN\""), "{r}");
    assert_eq!(
        t.cmd("x FETCH 2 FLAGS").await,
        "x BAD invalid message sequence number\r\n"
    );
    assert_eq!(
        t.cmd("y UID FETCH 5:7 FLAGS").await,
        "y OK FETCH completed\r\n"
    );
}

#[actix_rt::test]
async fn store_expunge_and_renumbering() {
    let mut t = T::selected(3).await;
    let r = t.cmd("a STORE 1:2 +FLAGS (\\Deleted $Work)").await;
    assert_eq!(
        r,
        "* 1 FETCH (FLAGS (\\Deleted $Work))\r\n* 2 FETCH (FLAGS (\\Deleted $Work))\r\na OK STORE completed\r\n"
    );
    assert_eq!(
        t.cmd("b UID STORE 2 -FLAGS.SILENT ($Work)").await,
        "b OK STORE completed\r\n"
    );
    let r = t.cmd("c FETCH 1:* FLAGS").await;
    assert!(r.contains("* 2 FETCH (FLAGS (\\Deleted))"), "{r}");
    // RFC 9051 §7.5.1: each EXPUNGE renumbers at once, so both are "1".
    assert_eq!(
        t.cmd("d EXPUNGE").await,
        "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nd OK EXPUNGE completed\r\n"
    );
    assert_eq!(
        t.cmd("e FETCH 1 UID").await,
        "* 1 FETCH (UID 3)\r\ne OK FETCH completed\r\n"
    );
    // UID EXPUNGE only removes the named \Deleted messages (RFC 4315 §2.1).
    t.deliver(MESSAGE).await;
    t.s.mailbox_changed();
    let r = t.cmd("n NOOP").await;
    assert_eq!(r, "* 2 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed\r\n");
    t.cmd("f STORE 1:2 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(
        t.cmd("g UID EXPUNGE 4").await,
        "* 2 EXPUNGE\r\ng OK EXPUNGE completed\r\n"
    );
}

#[actix_rt::test]
async fn append_copy_move() {
    let mut t = T::selected(1).await;
    let r = t
        .raw(
            format!(
                "a APPEND Drafts (\\Draft) \"14-Jul-2024 10:00:00 +0200\" {{{}}}\r\n{MESSAGE}\r\n",
                MESSAGE.len()
            )
            .as_bytes(),
        )
        .await
        .0;
    assert!(
        r.starts_with("a OK [APPENDUID ") && r.ends_with(" 1] APPEND completed\r\n"),
        "{r}"
    );
    let r = t.raw(b"b APPEND Nowhere {3}\r\nabc\r\n").await.0;
    assert_eq!(r, "b NO [TRYCREATE] no such mailbox\r\n");
    let r = t.cmd("c COPY 1 Archive").await;
    assert!(
        r.starts_with("c OK [COPYUID ") && r.ends_with(" 1 1] COPY completed\r\n"),
        "{r}"
    );
    assert_eq!(
        t.cmd("d COPY 1 Nowhere").await,
        "d NO [TRYCREATE] no such mailbox\r\n"
    );
    // RFC 6851 §4.3: COPYUID in an untagged OK, then the EXPUNGE, then the tagged OK.
    let r = t.cmd("e MOVE 1 Trash").await;
    assert!(r.starts_with("* OK [COPYUID "), "{r}");
    assert!(
        r.ends_with(" 1 1] moved\r\n* 1 EXPUNGE\r\ne OK MOVE completed\r\n"),
        "{r}"
    );
    let r = t.cmd("f STATUS Trash (MESSAGES UIDNEXT UNSEEN)").await;
    assert_eq!(
        r,
        "* STATUS \"Trash\" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)\r\nf OK STATUS completed\r\n"
    );
}

#[actix_rt::test]
async fn mailbox_management_and_list() {
    let mut t = session().await;
    t.login().await;
    assert_eq!(
        t.cmd("a CREATE Projects/2024/").await,
        "a OK CREATE completed\r\n"
    );
    assert!(
        t.cmd("b CREATE Projects")
            .await
            .starts_with("b NO [ALREADYEXISTS]")
    );
    assert_eq!(
        t.cmd("c RENAME Projects Work").await,
        "c OK RENAME completed\r\n"
    );
    assert_eq!(
        t.cmd("d SUBSCRIBE Work/2024").await,
        "d OK SUBSCRIBE completed\r\n"
    );
    let r = t.cmd("e LIST \"\" *").await;
    for line in [
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n",
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n",
        "* LIST (\\HasChildren) \"/\" \"Work\"\r\n",
        "* LIST (\\HasNoChildren) \"/\" \"Work/2024\"\r\n",
    ] {
        assert!(r.contains(line), "{line:?} missing in {r}");
    }
    assert_eq!(
        t.cmd("f LIST \"\" \"\"").await,
        "* LIST (\\Noselect) \"/\" \"\"\r\nf OK LIST completed\r\n"
    );
    let r = t.cmd("g LSUB \"\" Work/*").await;
    assert_eq!(
        r,
        "* LSUB () \"/\" \"Work/2024\"\r\ng OK LSUB completed\r\n"
    );
    assert!(t.cmd("h DELETE INBOX").await.starts_with("h NO [CANNOT]"));
    assert_eq!(
        t.cmd("i DELETE Work/2024").await,
        "i OK DELETE completed\r\n"
    );
    assert!(
        t.cmd("j DELETE Work/2024")
            .await
            .starts_with("j NO [NONEXISTENT]")
    );
    // RFC 3501 §5.1.3: IMAP4rev1 names are modified UTF-7; after ENABLE IMAP4rev2, UTF-8.
    assert_eq!(
        t.cmd("k CREATE Entw&APw-rfe").await,
        "k OK CREATE completed\r\n"
    );
    assert!(
        t.cmd("l LIST \"\" Entw*")
            .await
            .contains("\"/\" \"Entw&APw-rfe\"\r\n")
    );
    assert_eq!(
        t.cmd("m ENABLE IMAP4rev2").await,
        "* ENABLED IMAP4rev2\r\nm OK ENABLE completed\r\n"
    );
    assert!(
        t.cmd("n LIST \"\" Entw*")
            .await
            .contains("\"/\" \"Entwürfe\"\r\n")
    );
    assert_eq!(
        t.cmd("o NAMESPACE").await,
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\no OK NAMESPACE completed\r\n"
    );
}

#[actix_rt::test]
async fn search_and_esearch() {
    let mut t = T::selected(3).await;
    t.cmd("a STORE 2 +FLAGS (\\Flagged)").await;
    assert_eq!(
        t.cmd("b SEARCH FLAGGED").await,
        "* SEARCH 2\r\nb OK SEARCH completed\r\n"
    );
    assert_eq!(
        t.cmd("c UID SEARCH UNFLAGGED SUBJECT hello").await,
        "* SEARCH 1 3\r\nc OK SEARCH completed\r\n"
    );
    assert_eq!(
        t.cmd("d SEARCH BODY nothere").await,
        "* SEARCH\r\nd OK SEARCH completed\r\n"
    );
    let r = t.cmd("e SEARCH RETURN (MIN MAX COUNT) ALL").await;
    assert_eq!(
        r,
        "* ESEARCH (TAG \"e\") MIN 1 MAX 3 COUNT 3\r\ne OK SEARCH completed\r\n"
    );
    assert!(
        t.cmd("f SEARCH CHARSET KOI8-R ALL")
            .await
            .starts_with("f NO [BADCHARSET")
    );
}

#[actix_rt::test]
async fn another_session_s_changes_arrive_at_the_right_moments() {
    let mut a = T::selected(2).await;
    let mut b = T {
        s: Session::new(ctx(true), a.store.clone()),
        store: a.store.clone(),
        alice: a.alice,
        _dir: tempfile::tempdir().expect("unused"),
    };
    b.login().await;
    b.cmd("s SELECT INBOX").await;
    b.cmd("x STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("y EXPUNGE").await;
    a.s.mailbox_changed();
    // RFC 9051 §7.5.1: no EXPUNGE while answering FETCH by sequence number…
    let r = a.cmd("f FETCH 2 UID").await;
    assert_eq!(r, "* 2 FETCH (UID 2)\r\nf OK FETCH completed\r\n");
    // …but at the next command that allows it.
    assert_eq!(
        a.cmd("n NOOP").await,
        "* 1 EXPUNGE\r\nn OK NOOP completed\r\n"
    );
    // IDLE: the update is written as soon as the session is woken (RFC 2177).
    let (r, flow) = a.raw(b"i IDLE\r\n").await;
    assert_eq!((r.as_str(), flow), ("+ idling\r\n", Flow::Idle));
    a.deliver(MESSAGE).await;
    let mut out = Vec::new();
    a.s.idle_wakeup(&mut out).await.expect("wakeup");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "* 2 EXISTS\r\n* 1 RECENT\r\n"
    );
    assert_eq!(a.cmd("DONE").await, "i OK IDLE terminated\r\n");
}

#[actix_rt::test]
async fn literal_limits() {
    let mut t = session().await;
    assert_eq!(
        t.s.literal_limit(b"a LOGIN {5}"),
        u64::from(crate::proto::MAX_SMALL_LITERAL)
    );
    t.login().await;
    assert_eq!(
        t.s.literal_limit(b"a APPEND INBOX {5}"),
        limits().max_message_size
    );
    let mut out = Vec::new();
    t.s.literal_refused(b"a APPEND INBOX {99999999}\r\n", &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "a NO [TOOBIG] message too big\r\n"
    );
    let mut out = Vec::new();
    t.s.literal_refused(b"b LOGIN {99999999}\r\n", &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "b BAD literal too big for this command\r\n"
    );
}

#[actix_rt::test]
async fn sessions_per_account_are_limited() {
    let mut a = session().await;
    let shared = AccountSessions::default();
    let limited = |store: &Addr<MailboxStore>| {
        let mut c = ctx(true);
        c.limits.max_sessions_per_account = 1;
        c.sessions = shared.clone();
        Session::new(c, store.clone())
    };
    a.s = limited(&a.store);
    a.login().await;
    let mut b = T {
        s: limited(&a.store),
        store: a.store.clone(),
        alice: a.alice,
        _dir: tempfile::tempdir().expect("unused"),
    };
    let r = b.cmd("a LOGIN alice@example.test password-1").await;
    assert_eq!(
        r,
        "a NO [LIMIT] too many sessions for this account (at most 1)\r\n"
    );
    // The place comes back when the first session ends.
    drop(a.s);
    assert_eq!(shared.count(b.alice), 0);
    b.login().await;
}

#[actix_rt::test]
async fn logout() {
    let mut t = session().await;
    let (r, flow) = t.raw(b"z LOGOUT\r\n").await;
    assert_eq!(
        r,
        "* BYE imap.example.test logging out\r\nz OK LOGOUT completed\r\n"
    );
    assert_eq!(flow, Flow::Close);
}
