//! The cluster bridge against a real Redis: two nodes (two buses, two bridges) in one
//! process. Needs `TEST_MAILROOM_REDIS` (e.g. `redis://127.0.0.1:56379`); the restart test
//! also starts a `redis-server` of its own on a free port. Skipped, with a printed line,
//! without them.

use actix::prelude::*;
use mailroom_shared::bus::Bus;
use mailroom_shared::cluster::{ClusterBridge, Settings, Subscription};
use mailroom_shared::msg::{AccountRemoved, MailboxChange, MailboxChanged};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Generous enough for a loaded CI machine; the latency seen is printed.
const ARRIVAL: Duration = Duration::from_secs(2);
/// Reconnecting backs off up to 5 s.
const RECONNECT: Duration = Duration::from_secs(15);

fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_MAILROOM_REDIS").ok();
    if url.is_none() {
        println!(
            "skipped: Redis tests need TEST_MAILROOM_REDIS=redis://127.0.0.1:56379 \
             (scripts/services starts one)"
        );
    }
    url
}

/// A channel no other test (or helper sharing the Redis) uses.
fn channel(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("mailroom:test:{test}:{}:{nanos}", std::process::id())
}

/// Collects what the bus hands it, into a channel the test reads.
struct Sink<E>(mpsc::UnboundedSender<E>);
impl<E: Unpin + 'static> Actor for Sink<E> {
    type Context = Context<Self>;
}
impl<E: Message<Result = ()> + Unpin + 'static> Handler<E> for Sink<E> {
    type Result = ();
    fn handle(&mut self, m: E, _: &mut Context<Self>) {
        let _ = self.0.send(m);
    }
}

/// One node: a bus, its bridge, and what its bus delivers.
struct Node {
    bus: Bus,
    bridge: Addr<ClusterBridge>,
    changes: mpsc::UnboundedReceiver<MailboxChanged>,
    removals: mpsc::UnboundedReceiver<AccountRemoved>,
    _sinks: (Addr<Sink<MailboxChanged>>, Addr<Sink<AccountRemoved>>),
}

impl Node {
    fn start(url: &str, name: &str, channel: &str) -> Node {
        let bus = Bus::start();
        let bridge = ClusterBridge::start(
            Settings {
                url: url.into(),
                node: name.into(),
                channel: channel.into(),
            },
            &bus,
        )
        .expect("bridge");
        let (tx, changes) = mpsc::unbounded_channel();
        let changed = Sink(tx).start();
        bus.subscribe(changed.clone().recipient::<MailboxChanged>());
        let (tx, removals) = mpsc::unbounded_channel();
        let removed = Sink(tx).start();
        bus.subscribe(removed.clone().recipient::<AccountRemoved>());
        Node {
            bus,
            bridge,
            changes,
            removals,
            _sinks: (changed, removed),
        }
    }

    /// Wait until the bridge hears the channel (`true`) or has lost it (`false`).
    async fn subscribed(&self, state: bool) {
        let mut rx = self.bridge.send(Subscription).await.expect("bridge alive");
        tokio::time::timeout(RECONNECT, rx.wait_for(|s| *s == state))
            .await
            .unwrap_or_else(|_| panic!("subscription did not become {state}"))
            .expect("bridge alive");
    }

    /// The next change this node's bus delivers, and how long it took.
    async fn next_change(&mut self) -> (MailboxChanged, Duration) {
        let t = Instant::now();
        let m = tokio::time::timeout(ARRIVAL, self.changes.recv())
            .await
            .expect("a change in time")
            .expect("sink alive");
        (m, t.elapsed())
    }
}

fn change(modseq: u64) -> MailboxChanged {
    MailboxChanged {
        account_id: 1,
        mailbox_id: 2,
        change: MailboxChange::Added,
        modseq,
    }
}

#[actix_rt::test]
async fn a_change_on_one_node_reaches_the_other_once_and_does_not_come_back() {
    let Some(url) = redis_url() else { return };
    let ch = channel("once");
    // A third listener counts what goes over the channel itself.
    let client = bb8_redis::redis::Client::open(url.as_str()).expect("url");
    let mut raw = client.get_async_pubsub().await.expect("redis");
    raw.subscribe(&ch).await.expect("subscribe");
    let mut a = Node::start(&url, "a", &ch);
    let mut b = Node::start(&url, "b", &ch);
    a.subscribed(true).await;
    b.subscribed(true).await;

    a.bus.publish(change(1));
    let (seen, took) = b.next_change().await;
    println!("cross-node change arrived in {took:?}");
    assert_eq!(seen, change(1));
    // A barrier each way: B answers after it heard 1, A waits for B's answer. Had B sent 1
    // back, it would reach A before 2 (one channel, one order).
    b.bus.publish(change(2));
    assert_eq!(a.next_change().await.0, change(1), "A's own change, once");
    assert_eq!(a.next_change().await.0, change(2));
    assert_eq!(b.next_change().await.0, change(2), "B's own change, once");
    assert!(a.changes.try_recv().is_err(), "nothing came back to A");

    let mut on_channel = Vec::new();
    let mut stream = raw.on_message();
    use futures_util::StreamExt;
    while on_channel.len() < 2 {
        let m = tokio::time::timeout(ARRIVAL, stream.next())
            .await
            .expect("channel message")
            .expect("raw subscription");
        on_channel.push(m.get_payload::<String>().expect("text"));
    }
    drop(stream);
    // One more round trip: anything else the bridges sent would be on the channel by now.
    a.bus.publish(change(3));
    assert_eq!(b.next_change().await.0, change(3));
    let mut stream = raw.on_message();
    let third = tokio::time::timeout(ARRIVAL, stream.next())
        .await
        .expect("channel message")
        .expect("raw subscription")
        .get_payload::<String>()
        .expect("text");
    assert!(third.contains(r#""modseq":3"#), "no echo before 3: {third}");
    assert!(on_channel[0].contains(r#""node":"a""#) && on_channel[0].contains(r#""modseq":1"#));
    assert!(on_channel[1].contains(r#""node":"b""#) && on_channel[1].contains(r#""modseq":2"#));
}

#[actix_rt::test]
async fn an_account_removal_crosses() {
    let Some(url) = redis_url() else { return };
    let ch = channel("removal");
    let a = Node::start(&url, "a", &ch);
    let mut b = Node::start(&url, "b", &ch);
    a.subscribed(true).await;
    b.subscribed(true).await;
    let gone = AccountRemoved {
        account_id: 7,
        address: "gone@example.test".into(),
    };
    a.bus.publish(gone.clone());
    let heard = tokio::time::timeout(ARRIVAL, b.removals.recv())
        .await
        .expect("in time")
        .expect("sink alive");
    assert_eq!(heard, gone);
}

/// A `redis-server` of this test's own, on a free loopback port, keeping nothing on disk.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Option<OwnRedis> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut own = OwnRedis { port, child: None };
        if !own.spawn() {
            println!("skipped: no redis-server to start (apt-get install redis-server)");
            return None;
        }
        Some(own)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Start the server (again) on the same port and wait until it accepts.
    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[actix_rt::test]
async fn the_bridge_reconnects_after_redis_restarts() {
    if redis_url().is_none() {
        return;
    }
    let Some(mut redis) = OwnRedis::start() else {
        return;
    };
    let ch = channel("restart");
    let mut a = Node::start(&redis.url(), "a", &ch);
    let mut b = Node::start(&redis.url(), "b", &ch);
    a.subscribed(true).await;
    b.subscribed(true).await;
    a.bus.publish(change(1));
    assert_eq!(b.next_change().await.0, change(1));
    assert_eq!(a.next_change().await.0, change(1));

    redis.kill();
    a.subscribed(false).await;
    b.subscribed(false).await;
    // Redis down: the local bus still delivers at once.
    a.bus.publish(change(2));
    assert_eq!(a.next_change().await.0, change(2));

    assert!(redis.spawn(), "redis-server restarts");
    a.subscribed(true).await;
    b.subscribed(true).await;
    a.bus.publish(change(3));
    // 2 may arrive first (it waited in A's queue), or not (B was not yet subscribed).
    let deadline = Instant::now() + RECONNECT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, b.changes.recv())
            .await
            .expect("3 crosses after the restart")
            .expect("sink alive");
        if m == change(3) {
            break;
        }
        assert_eq!(m, change(2));
    }
}

#[test]
fn each_redis_database_has_its_own_channel() {
    assert_eq!(
        Settings::new("redis://127.0.0.1:6379", "a").channel,
        "mailroom:changes:0"
    );
    assert_eq!(
        Settings::new("redis://127.0.0.1:6379/3", "a").channel,
        "mailroom:changes:3"
    );
}

/// The bridge's keep-alive PING on the subscribed connection (answered, in RESP2, with
/// `["pong", ""]`, as Redis documents for subscribed clients) must not count
/// as a lost connection: after more than one PING period the subscription is still the
/// first one and changes still cross at once.
#[actix_rt::test]
async fn the_subscription_outlives_its_keep_alive_pings() {
    let Some(url) = redis_url() else { return };
    let ch = channel("pings");
    let a = Node::start(&url, "a", &ch);
    let mut b = Node::start(&url, "b", &ch);
    a.subscribed(true).await;
    b.subscribed(true).await;
    let mut watch = b.bridge.send(Subscription).await.expect("bridge alive");
    watch.borrow_and_update();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(
        !watch.has_changed().expect("bridge alive"),
        "the subscription was lost and made again during two PING periods"
    );
    a.bus.publish(change(7));
    assert_eq!(b.next_change().await.0, change(7));
}
