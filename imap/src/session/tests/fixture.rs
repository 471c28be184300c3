//! The session fixture: a real store in a temporary directory, sessions on it, and a check
//! that every byte a session writes decodes with imap-codec's response decoder.
//!
//! Owns the test harness only; it asserts nothing about particular commands. What imap-codec
//! cannot decode although the RFCs allow it (see [`is_gap`]) is only skipped for tests that
//! compare the whole output with an exact string ([`T::exact`]).

use std::sync::Arc;

use actix::Addr;
use imap_codec::decode::{Decoder, GreetingDecodeError, ResponseDecodeError};
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::response::{Code, Response, Status, StatusKind};
use imap_codec::{GreetingCodec, ResponseCodec};
use mailroom_config::Limits;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_shared::net::AccountSessions;
use mailroom_store::actor::Deliver;
use mailroom_store::{MailboxStore, Role, StoreAdmin};
use tempfile::TempDir;

use crate::session::{Context, Flow, Session};

/// A small plain-text message.
pub(super) const MESSAGE: &str = "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\n\
Subject: hello\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@example.test>\r\n\
\r\nHello Alice,\r\nthis is the body.\r\n";

/// The LOGIN command line for alice.
pub(super) const LOGIN: &str = "a LOGIN alice@example.test password-1";

/// Whether `line` is a valid response imap-codec 2.0.0-alpha.10 does not decode: ESEARCH
/// (RFC 4731, RFC 9051 §7.3.4) and LIST extended data such as CHILDINFO (RFC 5258 §4, needs
/// the crate's `ext_list_extended`, which we do not build). Such lines are only skipped by
/// [`T::exact`], whose caller compares them octet for octet.
pub(super) fn is_gap(line: &[u8]) -> bool {
    let has = |needle: &[u8]| line.windows(needle.len()).any(|w| w == needle);
    line.starts_with(b"* ESEARCH") || (line.starts_with(b"* LIST ") && has(b"(\"CHILDINFO\""))
}

/// One test's store and session.
pub(super) struct T {
    pub(super) s: Session,
    pub(super) store: Addr<MailboxStore>,
    pub(super) alice: i64,
    /// Kept so the store's files outlive every session on it.
    pub(super) dir: Arc<TempDir>,
}

/// Limits for most tests: no tarpit, a short error budget.
pub(super) fn limits() -> Limits {
    Limits {
        tarpit_delay_ms: 0,
        max_errors_per_session: 8,
        ..Limits::default()
    }
}

/// The login guard of a configuration locking an account after `failures` failed logins
/// (a client after four times as many) and waiting `delay_ms` before each refusal.
pub(super) fn guard(failures: u32, delay_ms: u64) -> mailroom_shared::login_guard::LoginGuard {
    let mut config = mailroom_config::Config::default();
    config.security.lockout_failures = failures;
    config.security.lockout_failures_per_ip = failures * 4;
    config.security.auth_failure_delay_ms = delay_ms;
    mailroom_shared::login_guard::LoginGuard::from_config(&config)
}

pub(super) fn ctx(tls: bool) -> Context {
    Context {
        host: "imap.example.test".into(),
        peer: "192.0.2.9".parse().expect("ip"),
        tls,
        allow_plaintext_auth: false,
        limits: limits(),
        login_guard: guard(5, 0),
        sessions: AccountSessions::default(),
    }
}

/// A store with alice (no quota) and, when `quota` is set, bob@example.test with it.
pub(super) async fn t_with_ctx(ctx: Context, quota: Option<u64>) -> T {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("store");
    let admin = StoreAdmin::new(store.clone());
    admin.domain_add("example.test").await.expect("domain");
    let pw = Secret::new("password-1");
    let alice = admin
        .user_add("alice@example.test", &pw, Role::User, None)
        .await
        .expect("alice")
        .id;
    if let Some(q) = quota {
        admin
            .user_add("bob@example.test", &pw, Role::User, Some(q))
            .await
            .expect("bob");
    }
    T {
        s: Session::new(ctx, store.clone()),
        store,
        alice,
        dir: Arc::new(dir),
    }
}

pub(super) async fn t_with(tls: bool) -> T {
    t_with_ctx(ctx(tls), None).await
}

/// A session in TLS, not authenticated.
pub(super) async fn session() -> T {
    t_with(true).await
}

/// A session in TLS that tolerates many errors (tables of BAD commands).
pub(super) async fn lenient() -> T {
    let mut c = ctx(true);
    c.limits.max_errors_per_session = 10_000;
    t_with_ctx(c, None).await
}

/// Decode `bytes` as a sequence of whole responses until none are left; with `gaps`, lines
/// that [`is_gap`] are skipped unparsed. An error names the offending response.
pub(super) fn decode_all(bytes: &[u8], gaps: bool) -> Result<Vec<Response<'static>>, String> {
    let mut rest = bytes;
    let mut all = Vec::new();
    while !rest.is_empty() {
        let end = rest.windows(2).position(|w| w == b"\r\n");
        if let Some(end) = end
            && gaps
            && is_gap(&rest[..end])
        {
            rest = &rest[end + 2..];
            continue;
        }
        match ResponseCodec::default().decode(rest) {
            Ok((left, response)) => {
                all.push(response.into_static());
                rest = left;
            }
            Err(ResponseDecodeError::Incomplete | ResponseDecodeError::LiteralFound { .. }) => {
                return Err(format!(
                    "incomplete response {:?}",
                    String::from_utf8_lossy(rest)
                ));
            }
            Err(ResponseDecodeError::Failed) => {
                return Err(format!(
                    "imap-codec rejects {:?}",
                    String::from_utf8_lossy(rest)
                ));
            }
        }
    }
    Ok(all)
}

/// Panic unless every response in `bytes` decodes (no gaps allowed).
#[track_caller]
pub(super) fn check(bytes: &[u8]) -> Vec<Response<'static>> {
    match decode_all(bytes, false) {
        Ok(all) => all,
        Err(e) => panic!("{e}"),
    }
}

/// The atom of a response code as imap-codec decoded it (`Code::Other` for the codes it
/// has no variant for, e.g. NONEXISTENT), "" for none.
pub(super) fn code_atom(code: Option<&Code<'_>>) -> String {
    let name = match code {
        None => "",
        Some(Code::Other(other)) => {
            let raw = String::from_utf8_lossy(other.inner()).into_owned();
            return raw.split(' ').next().unwrap_or("").to_string();
        }
        Some(Code::Alert) => "ALERT",
        Some(Code::BadCharset { .. }) => "BADCHARSET",
        Some(Code::Capability(_)) => "CAPABILITY",
        Some(Code::Parse) => "PARSE",
        Some(Code::PermanentFlags(_)) => "PERMANENTFLAGS",
        Some(Code::ReadOnly) => "READ-ONLY",
        Some(Code::ReadWrite) => "READ-WRITE",
        Some(Code::TryCreate) => "TRYCREATE",
        Some(Code::UidNext(_)) => "UIDNEXT",
        Some(Code::UidValidity(_)) => "UIDVALIDITY",
        Some(Code::Unseen(_)) => "UNSEEN",
        Some(Code::OverQuota) => "OVERQUOTA",
        Some(Code::TooBig) => "TOOBIG",
        Some(Code::AppendUid { .. }) => "APPENDUID",
        Some(Code::CopyUid { .. }) => "COPYUID",
        Some(Code::Closed) => "CLOSED",
        Some(other) => return format!("{other:?}"),
    };
    name.to_string()
}

/// The kind and response code of the tagged status that ends `r`, as imap-codec reads it.
#[track_caller]
pub(super) fn tagged_code(r: &str) -> (StatusKind, String) {
    let all = check(r.as_bytes());
    match all.last() {
        Some(Response::Status(Status::Tagged(t))) => (t.body.kind, code_atom(t.body.code.as_ref())),
        other => panic!("no tagged status at the end of {r:?}: {other:?}"),
    }
}

impl T {
    /// Send one line (CRLF added); every response must decode.
    pub(super) async fn cmd(&mut self, line: &str) -> String {
        self.raw(format!("{line}\r\n").as_bytes()).await.0
    }

    /// Send one whole message; every response must decode.
    pub(super) async fn raw(&mut self, bytes: &[u8]) -> (String, Flow) {
        let mut out = Vec::new();
        let flow = self.s.message(bytes, &mut out).await.expect("output");
        check(&out);
        (String::from_utf8_lossy(&out).into_owned(), flow)
    }

    /// Send one line and assert the whole output; lines imap-codec cannot decode ([`is_gap`])
    /// are allowed here only, since the comparison checks them octet for octet.
    pub(super) async fn exact(&mut self, line: &str, expected: &str) {
        let mut out = Vec::new();
        self.s
            .message(format!("{line}\r\n").as_bytes(), &mut out)
            .await
            .expect("output");
        let got = String::from_utf8_lossy(&out).into_owned();
        assert_eq!(got, expected, "after {line:?}");
        if let Err(e) = decode_all(&out, true) {
            panic!("{e}");
        }
    }

    /// The status and code of the tagged answer to `line`.
    pub(super) async fn code(&mut self, line: &str) -> (StatusKind, String) {
        let r = self.cmd(line).await;
        tagged_code(&r)
    }

    /// The greeting, which must decode with `GreetingCodec`.
    pub(super) fn greeting(&self) -> String {
        let g = self.s.greeting();
        match GreetingCodec::default().decode(&g) {
            Ok((b"", _)) => {}
            Ok((left, _)) => panic!("bytes after the greeting: {left:?}"),
            Err(GreetingDecodeError::Incomplete) => panic!("incomplete greeting {g:?}"),
            Err(GreetingDecodeError::Failed) => panic!("imap-codec rejects greeting {g:?}"),
        }
        String::from_utf8_lossy(&g).into_owned()
    }

    pub(super) async fn login(&mut self) {
        let r = self.cmd(LOGIN).await;
        assert!(r.starts_with("a OK [CAPABILITY "), "{r}");
    }

    /// Deliver `raw` to alice's INBOX (as the SMTP side would).
    pub(super) async fn deliver(&self, raw: &str) {
        self.store
            .send(Deliver {
                recipients: vec![self.alice],
                junk: Vec::new(),
                raw: Arc::from(raw.as_bytes()),
                internal_date: Some(760_000_000),
                event: None,
            })
            .await
            .expect("mailbox")
            .expect("deliver");
    }

    /// What the driver does on a `MailboxChanged` event while the session is idle or
    /// between commands.
    pub(super) async fn wakeup(&mut self) -> String {
        let mut out = Vec::new();
        self.s.idle_wakeup(&mut out).await.expect("wakeup");
        check(&out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Log in, deliver `n` messages and select INBOX. An earlier session selected it first
    /// and so had the messages as `\Recent` (RFC 3501 §2.3.2): they are not recent here, and
    /// only what arrives later is. The tests of `\Recent` itself set up their own sessions.
    pub(super) async fn selected(n: usize) -> T {
        let mut t = lenient().await;
        t.login().await;
        for _ in 0..n {
            t.deliver(MESSAGE).await;
        }
        let mut earlier = t.other().await;
        let r = earlier.cmd("s SELECT INBOX").await;
        assert!(r.contains(&format!("* {n} RECENT\r\n")), "{r}");
        let r = t.cmd("s SELECT INBOX").await;
        assert!(r.ends_with("s OK [READ-WRITE] SELECT completed\r\n"), "{r}");
        t
    }

    /// Like [`T::selected`], after ENABLE IMAP4rev2.
    pub(super) async fn selected_rev2(n: usize) -> T {
        let mut t = lenient().await;
        t.login().await;
        t.cmd("e ENABLE IMAP4rev2").await;
        for _ in 0..n {
            t.deliver(MESSAGE).await;
        }
        let r = t.cmd("s SELECT INBOX").await;
        assert!(r.ends_with("s OK [READ-WRITE] SELECT completed\r\n"), "{r}");
        t
    }

    /// A second session of alice on the same store, logged in, nothing selected.
    pub(super) async fn other(&self) -> T {
        let mut c = ctx(true);
        c.limits.max_errors_per_session = 10_000;
        let mut b = T {
            s: Session::new(c, self.store.clone()),
            store: self.store.clone(),
            alice: self.alice,
            dir: Arc::clone(&self.dir),
        };
        b.login().await;
        b
    }
}

/// Tagged OK, as [`T::code`] reports it.
pub(super) const OK: StatusKind = StatusKind::Ok;
/// Tagged NO.
pub(super) const NO: StatusKind = StatusKind::No;
/// Tagged BAD.
pub(super) const BAD: StatusKind = StatusKind::Bad;

#[test]
fn the_decoder_check_can_fail() {
    // A malformed response, a truncated literal and leftover bytes all fail the check.
    for bad in [
        &b"* 1 FETCH (FLAGS (\\Seen)\r\n"[..],
        b"* 1 FETCH (BODY[] {10}\r\nshort)\r\n",
        b"a OK done\r\nxyz",
        b"* 0 EXISTS extra\r\n",
        b"a MAYBE done\r\n",
    ] {
        assert!(decode_all(bad, false).is_err(), "{bad:?}");
        assert!(decode_all(bad, true).is_err(), "{bad:?}");
    }
    assert!(decode_all(b"* 3 EXISTS\r\na OK [READ-WRITE] done\r\n", false).is_ok());
}

#[test]
fn the_gaps_are_real() {
    // imap-codec alpha.10 rejects these valid responses, so `T::exact` must skip them.
    for line in [
        &b"* ESEARCH (TAG \"e\") MIN 1 MAX 3 COUNT 3\r\n"[..],
        b"* ESEARCH (TAG \"a\") UID ALL 2:3\r\n",
        b"* LIST () \"/\" \"a/b\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
    ] {
        assert!(decode_all(line, false).is_err(), "{line:?}");
        assert!(decode_all(line, true).is_ok(), "{line:?}");
    }
    // Only those: a plain LIST is decoded even where gaps are allowed.
    assert!(decode_all(b"* LIST () \"/\" \"a\" junk\r\n", true).is_err());
}
