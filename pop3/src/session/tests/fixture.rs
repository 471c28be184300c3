//! The session fixture: a real store in a temporary directory with alice and bob, sessions
//! on it sharing one maildrop registry, and an [`Output`] that records how much it held
//! between flushes.

use std::sync::Arc;

use actix::Addr;
use mailroom_config::Limits;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_store::actor::{Deliver, Select};
use mailroom_store::{MailboxInfo, MailboxStore, MessageInfo, Role, StoreAdmin};
use tempfile::TempDir;

use crate::session::{Context, Flow, Maildrops, Output, Session};

/// A small message with a line that needs dot-stuffing.
pub(super) const MESSAGE: &str = "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\n\
Subject: hello\r\n\r\nHello Alice,\r\n.this line starts with a dot\r\nbye\r\n";

/// Records output like a socket would: everything written, and the most held unflushed.
#[derive(Default)]
pub(super) struct Recorder {
    pub(super) buf: Vec<u8>,
    pub(super) written: Vec<u8>,
    pub(super) most_held: usize,
    pub(super) flushes: usize,
}

impl Output for Recorder {
    fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
    async fn flush(&mut self) -> std::io::Result<()> {
        self.most_held = self.most_held.max(self.buf.len());
        self.flushes += 1;
        self.written.append(&mut self.buf);
        Ok(())
    }
}

/// One test's store and session.
pub(super) struct T {
    pub(super) s: Session,
    pub(super) store: Addr<MailboxStore>,
    pub(super) alice: i64,
    pub(super) maildrops: Maildrops,
    pub(super) ctx: Context,
    /// Kept so the store's files outlive every session on it.
    pub(super) _dir: Arc<TempDir>,
}

/// Limits for most tests: no tarpit, a short error budget.
pub(super) fn limits() -> Limits {
    Limits {
        tarpit_delay_ms: 0,
        max_errors_per_session: 50,
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
        host: "pop.example.test".into(),
        peer: "192.0.2.9".parse().expect("ip"),
        tls,
        allow_plaintext_auth: false,
        limits: limits(),
        login_guard: guard(5, 0),
        maildrops: Maildrops::default(),
    }
}

/// A store with alice and bob (password `password-1`) and a session with `ctx`.
pub(super) async fn t_with_ctx(ctx: Context) -> T {
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
    admin
        .user_add("bob@example.test", &pw, Role::User, None)
        .await
        .expect("bob");
    T {
        s: Session::new(ctx.clone(), store.clone()),
        store,
        alice,
        maildrops: ctx.maildrops.clone(),
        ctx,
        _dir: Arc::new(dir),
    }
}

/// A session over TLS (pop3s), not logged in.
pub(super) async fn session() -> T {
    t_with_ctx(ctx(true)).await
}

/// A session on the plain port before STLS.
pub(super) async fn plain() -> T {
    t_with_ctx(ctx(false)).await
}

/// A session over TLS with `n` messages delivered, logged in as alice.
pub(super) async fn logged_in(n: usize) -> T {
    let mut t = session().await;
    for i in 0..n {
        t.deliver(&numbered(i + 1)).await;
    }
    t.login().await;
    t
}

/// Message `i`: distinct content and size.
pub(super) fn numbered(i: usize) -> String {
    format!("Subject: message {i}\r\n\r\n{}\r\n", "x".repeat(i))
}

impl T {
    /// Send one line; the whole output.
    pub(super) async fn cmd(&mut self, line: &str) -> String {
        self.raw(line.as_bytes()).await.0
    }

    /// Send one line as bytes; the output and the flow.
    pub(super) async fn raw(&mut self, line: &[u8]) -> (String, Flow) {
        let mut out = Vec::new();
        let flow = self.s.line(line, &mut out).await.expect("line");
        (String::from_utf8_lossy(&out).into_owned(), flow)
    }

    /// USER/PASS as alice; panics unless it worked.
    pub(super) async fn login(&mut self) {
        assert_eq!(
            self.cmd("USER alice@example.test").await,
            "+OK send PASS\r\n"
        );
        let r = self.cmd("PASS password-1").await;
        assert!(r.starts_with("+OK maildrop has "), "{r}");
    }

    /// Another session on the same store and maildrop registry.
    pub(super) fn another(&self) -> Session {
        Session::new(self.ctx.clone(), self.store.clone())
    }

    /// Deliver `raw` to alice.
    pub(super) async fn deliver(&self, raw: &str) {
        self.store
            .send(Deliver {
                recipients: vec![self.alice],
                junk: Vec::new(),
                raw: Arc::from(raw.as_bytes()),
                internal_date: None,
                event: None,
            })
            .await
            .expect("mailbox")
            .expect("deliver");
    }

    /// Alice's INBOX as the store has it now.
    pub(super) async fn inbox(&self) -> (MailboxInfo, Vec<MessageInfo>) {
        self.store
            .send(Select {
                account_id: self.alice,
                name: "INBOX".into(),
            })
            .await
            .expect("mailbox")
            .expect("select")
    }
}

/// Run one line on another session.
pub(super) async fn on(s: &mut Session, line: &str) -> String {
    let mut out = Vec::new();
    s.line(line.as_bytes(), &mut out).await.expect("line");
    String::from_utf8_lossy(&out).into_owned()
}
