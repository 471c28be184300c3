//! The `OutboundQueue` actor against a scripted SMTP server on 127.0.0.1: delivery, a 451
//! then recovery, a 550 bouncing into the owner's Inbox, expiry, and a restart with rows
//! pending that resends only what was not accepted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_store::actor::Flush;
use mailroom_store::actor::{FetchBody, Select, Submit};
use mailroom_store::outbound::DueQueue;
use mailroom_store::types::Role;
use mailroom_store::{MailboxStore, Notify, OutboundRecipient, StoreAdmin};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::OutboundQueue;

/// What the fake server answers and what it saw.
#[derive(Default)]
struct Script {
    /// Per recipient address: RCPT reply codes in turn (then 250).
    rcpt: HashMap<String, VecDeque<u16>>,
    /// Replies to the end of DATA in turn (then 250).
    data_end: VecDeque<u16>,
    /// Accepted messages: (recipients, body).
    received: Vec<(Vec<String>, String)>,
    /// DATA attempts (accepted or not).
    data_seen: usize,
    /// Advertise STARTTLS, then answer the handshake with garbage (a broken TLS stack).
    broken_tls: bool,
    /// STARTTLS commands seen.
    starttls_seen: usize,
}

type Shared = Arc<Mutex<Script>>;

/// A fake remote MX that answers 550 to RCPT TO:<nobody@remote.test> and accepts the rest.
async fn refusing_nobody() -> (Shared, u16) {
    let script = Shared::default();
    script
        .lock()
        .expect("lock")
        .rcpt
        .insert("nobody@remote.test".into(), VecDeque::from([550]));
    let port = fake_server(script.clone()).await;
    (script, port)
}

async fn fake_server(script: Shared) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    actix_rt::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let script = script.clone();
            actix_rt::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read);
                let _ = write.write_all(b"220 fake ESMTP\r\n").await;
                let mut rcpts: Vec<String> = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply = if upper.starts_with("EHLO") {
                        let tls = if script.lock().expect("lock").broken_tls {
                            "250-STARTTLS\r\n"
                        } else {
                            ""
                        };
                        format!("250-fake\r\n{tls}250-SIZE 10000000\r\n250 8BITMIME\r\n")
                    } else if upper.starts_with("STARTTLS") {
                        script.lock().expect("lock").starttls_seen += 1;
                        let _ = write
                            .write_all(b"220 go ahead\r\nthis is not TLS\r\n")
                            .await;
                        return;
                    } else if upper.starts_with("MAIL") {
                        rcpts.clear();
                        "250 2.1.0 ok\r\n".into()
                    } else if upper.starts_with("RCPT") {
                        let addr = line
                            [line.find('<').unwrap_or(0) + 1..line.find('>').unwrap_or(line.len())]
                            .to_string();
                        let code = script
                            .lock()
                            .expect("lock")
                            .rcpt
                            .get_mut(&addr)
                            .and_then(VecDeque::pop_front)
                            .unwrap_or(250);
                        if code == 250 {
                            rcpts.push(addr);
                        }
                        format!("{code} 4.0.0 rcpt {code}\r\n")
                            .replace("250 4.0.0", "250 2.1.5")
                            .replace("550 4.0.0", "550 5.1.1")
                    } else if upper.starts_with("DATA") {
                        let _ = write.write_all(b"354 go ahead\r\n").await;
                        let mut body = String::new();
                        loop {
                            line.clear();
                            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            body.push_str(&line);
                        }
                        let mut s = script.lock().expect("lock");
                        s.data_seen += 1;
                        let code = s.data_end.pop_front().unwrap_or(250);
                        if code == 250 {
                            s.received.push((rcpts.clone(), body));
                        }
                        format!("{code} data {code}\r\n")
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        "250 ok\r\n".into()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

struct World {
    dir: tempfile::TempDir,
    alice: i64,
}

/// A data directory with example.test and alice, set up through a store that is closed
/// again, so that each test starts its own.
async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("store");
    let admin = StoreAdmin::new(store.clone());
    admin.domain_add("example.test").await.expect("domain");
    let alice = admin
        .user_add(
            "alice@example.test",
            &Secret::new("password1"),
            Role::User,
            None,
        )
        .await
        .expect("alice")
        .id;
    store.send(Flush).await.expect("store").expect("flush");
    World { dir, alice }
}

fn snapshot(
    dir: &std::path::Path,
    port: u16,
    max_age: u64,
) -> Arc<mailroom_shared::snapshot::Snapshot> {
    let mut config = mailroom_config::Config::default();
    config.server.data_dir = dir.to_path_buf();
    config.server.hostname = "mx.example.test".into();
    config.outbound.relay = Some(format!("127.0.0.1:{port}"));
    config.outbound.retry_schedule_secs = vec![1];
    config.outbound.jitter_percent = 0;
    config.outbound.max_age_secs = max_age;
    config.outbound.command_timeout_secs = 5;
    Arc::new(mailroom_shared::snapshot::Snapshot {
        generation: 1,
        tls: mailroom_shared::tls::acceptor(&config).expect("tls"),
        dns: mailroom_shared::dns::Dns::build(&config.dns).expect("dns"),
        config: Arc::new(config),
    })
}

fn submission(alice: i64, to: &[&str]) -> Submit {
    Submit {
        sender: "alice@example.test".into(),
        account_id: alice,
        local: Vec::new(),
        remote: to
            .iter()
            .map(|a| OutboundRecipient {
                address: (*a).into(),
                notify: Notify::default(),
                orcpt: None,
            })
            .collect(),
        raw: b"From: alice@example.test\r\nSubject: hello\r\n\r\n.dot line\r\nbye\r\n".to_vec(),
        ret: None,
        envid: Some("E1".into()),
        event: None,
    }
}

/// Wait for `cond`, failing after 20 seconds.
async fn until<F: AsyncFnMut() -> bool>(what: &str, mut cond: F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn queue_len(store: &Addr<MailboxStore>) -> usize {
    store
        .send(DueQueue {
            now: i64::MAX,
            limit: 1000,
            exclude: Vec::new(),
            lease_secs: 900,
        })
        .await
        .expect("mailbox")
        .expect("due")
        .iter()
        .map(|m| m.recipients.len())
        .sum()
}

async fn inbox(store: &Addr<MailboxStore>, account_id: i64) -> Vec<String> {
    let (info, messages) = store
        .send(Select {
            account_id,
            name: "INBOX".into(),
        })
        .await
        .expect("mailbox")
        .expect("select");
    let mut out = Vec::new();
    for m in messages {
        let body = store
            .send(FetchBody {
                account_id,
                mailbox_id: info.id,
                uid: m.uid,
            })
            .await
            .expect("mailbox")
            .expect("body");
        out.push(String::from_utf8_lossy(&body).into_owned());
    }
    out
}

fn start(w: &World, port: u16, max_age: u64) -> (Addr<MailboxStore>, Addr<OutboundQueue>) {
    let bus = Bus::start();
    let store = MailboxStore::start_embedded(w.dir.path(), bus.clone()).expect("store");
    let queue = OutboundQueue::start_on(&bus, store.clone(), snapshot(w.dir.path(), port, max_age))
        .expect("queue");
    (store, queue)
}

#[actix_rt::test]
async fn a_message_is_delivered_once_and_leaves_the_queue() {
    let w = world().await;
    let script = Shared::default();
    let port = fake_server(script.clone()).await;
    let (store, _queue) = start(&w, port, 3600);
    store
        .send(submission(
            w.alice,
            &["bob@remote.test", "carol@remote.test"],
        ))
        .await
        .expect("mailbox")
        .expect("submit");
    until("the delivery", async || {
        !script.lock().expect("lock").received.is_empty()
    })
    .await;
    until("an empty queue", async || queue_len(&store).await == 0).await;
    let received = script.lock().expect("lock").received.clone();
    assert_eq!(received.len(), 1, "one connection carried both recipients");
    assert_eq!(received[0].0, ["bob@remote.test", "carol@remote.test"]);
    // Dot-stuffed on the wire, as RFC 5321 §4.5.2 asks.
    assert!(
        received[0].1.contains("\r\n..dot line\r\n"),
        "{}",
        received[0].1
    );
    assert!(
        inbox(&store, w.alice).await.is_empty(),
        "no DSN without NOTIFY=SUCCESS"
    );
}

#[actix_rt::test]
async fn a_451_is_retried_and_delivered_when_the_server_recovers() {
    let w = world().await;
    let script = Shared::default();
    script.lock().expect("lock").data_end.push_back(451);
    let port = fake_server(script.clone()).await;
    let (store, _queue) = start(&w, port, 3600);
    store
        .send(submission(w.alice, &["bob@remote.test"]))
        .await
        .expect("mailbox")
        .expect("submit");
    until("the retry's delivery", async || {
        !script.lock().expect("lock").received.is_empty()
    })
    .await;
    until("an empty queue", async || queue_len(&store).await == 0).await;
    assert_eq!(script.lock().expect("lock").data_seen, 2);
    assert!(
        inbox(&store, w.alice).await.is_empty(),
        "a delay shorter than delay_notify_secs sends no DSN"
    );
}

#[actix_rt::test]
async fn a_550_bounces_into_the_owners_inbox() {
    let w = world().await;
    let (script, port) = refusing_nobody().await;
    let (store, _queue) = start(&w, port, 3600);
    store
        .send(submission(
            w.alice,
            &["nobody@remote.test", "bob@remote.test"],
        ))
        .await
        .expect("mailbox")
        .expect("submit");
    until("the DSN", async || !inbox(&store, w.alice).await.is_empty()).await;
    until("an empty queue", async || queue_len(&store).await == 0).await;
    let dsn = inbox(&store, w.alice).await.remove(0);
    assert!(
        dsn.contains("report-type=delivery-status")
            || dsn.contains("report-type=\"delivery-status\""),
        "{dsn}"
    );
    assert!(
        dsn.contains("Final-Recipient: rfc822;nobody@remote.test"),
        "{dsn}"
    );
    assert!(dsn.contains("Status: 5.1.1"), "{dsn}");
    assert!(dsn.contains("Original-Envelope-Id: E1"), "{dsn}");
    assert!(
        !dsn.contains("rfc822;bob@remote.test"),
        "the delivered recipient is not reported: {dsn}"
    );
    assert_eq!(
        script.lock().expect("lock").received[0].0,
        ["bob@remote.test"]
    );
}

#[actix_rt::test]
async fn a_550_to_a_null_sender_is_not_bounced() {
    let w = world().await;
    let (_script, port) = refusing_nobody().await;
    let (store, _queue) = start(&w, port, 3600);
    let mut bounce = submission(w.alice, &["nobody@remote.test"]);
    bounce.sender = String::new();
    store.send(bounce).await.expect("mailbox").expect("submit");
    until("the failed recipient leaves the queue", async || {
        queue_len(&store).await == 0
    })
    .await;
    // RFC 3461 §6.2, RFC 5321 §6.1: never a DSN about a message with a null sender.
    assert!(inbox(&store, w.alice).await.is_empty());
}

#[actix_rt::test]
async fn expiry_fails_the_message_with_a_dsn() {
    let w = world().await;
    let script = Shared::default();
    script.lock().expect("lock").data_end.extend([451; 10]);
    let port = fake_server(script.clone()).await;
    let (store, _queue) = start(&w, port, 2);
    store
        .send(submission(w.alice, &["slow@remote.test"]))
        .await
        .expect("mailbox")
        .expect("submit");
    until("the expiry DSN", async || {
        !inbox(&store, w.alice).await.is_empty()
    })
    .await;
    assert_eq!(queue_len(&store).await, 0);
    let dsn = inbox(&store, w.alice).await.remove(0);
    assert!(dsn.contains("Action: failed"), "{dsn}");
    assert!(dsn.contains("expired"), "{dsn}");
    assert!(
        script.lock().expect("lock").data_seen >= 2,
        "retried before expiring"
    );
}

#[test]
fn a_restart_sends_only_what_was_not_accepted() {
    let w = actix_rt::System::new().block_on(world());
    let script = Shared::default();
    // `later` is refused for a while; `now` is taken at the first attempt.
    script.lock().expect("lock").rcpt.insert(
        "later@remote.test".into(),
        VecDeque::from([451, 451, 451, 451]),
    );
    let data = w.dir.path().to_path_buf();
    let alice = w.alice;
    let (script1, data1) = (script.clone(), data.clone());
    // The first server: queue, one attempt, then the whole System goes away (as kill -9
    // would end it, between attempts).
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let port = fake_server(script1.clone()).await;
            let bus = Bus::start();
            let store = MailboxStore::start_embedded(&data1, bus.clone()).expect("store");
            let mut snap = (*snapshot(&data1, port, 3600)).clone();
            let mut config = (*snap.config).clone();
            config.outbound.retry_schedule_secs = vec![3600];
            snap.config = Arc::new(config);
            let _queue =
                OutboundQueue::start_on(&bus, store.clone(), Arc::new(snap)).expect("queue");
            store
                .send(submission(alice, &["now@remote.test", "later@remote.test"]))
                .await
                .expect("mailbox")
                .expect("submit");
            until("the first delivery", async || {
                !script1.lock().expect("lock").received.is_empty()
            })
            .await;
            until("the deferral recorded", async || {
                let due = store
                    .send(DueQueue {
                        now: i64::MAX,
                        limit: 10,
                        exclude: Vec::new(),
                        lease_secs: 900,
                    })
                    .await
                    .expect("mailbox")
                    .expect("due");
                due.len() == 1 && due[0].recipients.len() == 1 && due[0].recipients[0].attempts == 1
            })
            .await;
        })
    })
    .join()
    .expect("first server");
    script.lock().expect("lock").rcpt.clear();
    actix_rt::System::new().block_on(async move {
        let port = fake_server(script.clone()).await;
        let bus = Bus::start();
        let store = MailboxStore::start_embedded(&data, bus.clone()).expect("store");
        let _queue = OutboundQueue::start_on(&bus, store.clone(), snapshot(&data, port, 3600))
            .expect("queue");
        // The retry is an hour away; an admin "retry now" brings it forward.
        store
            .send(mailroom_shared::queue::QueueAdmin(
                mailroom_shared::queue::QueueRequest::Retry(1),
            ))
            .await
            .expect("mailbox")
            .expect("retry");
        until("the second delivery", async || {
            script.lock().expect("lock").received.len() == 2
        })
        .await;
        until("an empty queue", async || queue_len(&store).await == 0).await;
        let s = script.lock().expect("lock");
        assert_eq!(s.received[0].0, ["now@remote.test"]);
        assert_eq!(
            s.received[1].0,
            ["later@remote.test"],
            "the accepted recipient was not sent again"
        );
    });
}

#[actix_rt::test]
async fn a_broken_starttls_falls_back_to_clear_text() {
    let w = world().await;
    let script = Shared::default();
    script.lock().expect("lock").broken_tls = true;
    let port = fake_server(script.clone()).await;
    let (store, _queue) = start(&w, port, 3600);
    store
        .send(submission(w.alice, &["bob@remote.test"]))
        .await
        .expect("mailbox")
        .expect("submit");
    until("the delivery", async || {
        !script.lock().expect("lock").received.is_empty()
    })
    .await;
    // RFC 7435 §3: tried TLS once, then delivered without it on the same attempt.
    assert_eq!(script.lock().expect("lock").starttls_seen, 1);
    until("an empty queue", async || queue_len(&store).await == 0).await;
}
