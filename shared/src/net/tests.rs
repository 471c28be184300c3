//! In-process tests of the listener machinery on 127.0.0.1:0: supervision, panic isolation,
//! closing on reload.

use super::*;
use crate::bus::Bus;
use crate::shutdown::drain_signal;
use crate::snapshot::Snapshot;
use actix::prelude::*;
use mailroom_config::{Config, ListenerAddrs, ListenerKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Echoes lines; panics on `PANIC`.
struct Echo;

impl Protocol for Echo {
    fn start(&self, conn: Connection) {
        actix_rt::spawn(async move {
            let _guard = conn.guard;
            let Ok(tcp) = TcpStream::from_std(conn.socket) else {
                return;
            };
            let mut stream = BufReader::new(tcp);
            let mut line = String::new();
            while stream.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                assert!(line.trim() != "PANIC", "session asked to panic");
                if stream.get_mut().write_all(line.as_bytes()).await.is_err() {
                    return;
                }
                line.clear();
            }
        });
    }

    fn refusal(&self, _: &str, _: Refusal) -> Vec<u8> {
        b"refused\r\n".to_vec()
    }
}

fn snapshot(port: u16, dir: &std::path::Path) -> Arc<Snapshot> {
    crate::tls::install_provider();
    let mut config = Config::default();
    config.server.data_dir = dir.to_path_buf();
    config.listeners = mailroom_config::Listeners::none();
    config.listeners.smtp = Some(ListenerAddrs::One(format!("127.0.0.1:{port}")));
    config.dns.nameservers = vec!["127.0.0.1:9".into()];
    let tls = crate::tls::acceptor(&config).expect("tls");
    let dns = crate::dns::Dns::build(&config.dns).expect("dns");
    Arc::new(Snapshot {
        generation: 1,
        config: Arc::new(config),
        tls,
        dns,
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn echo(port: u16, text: &str) -> std::io::Result<String> {
    let mut s = BufReader::new(TcpStream::connect(("127.0.0.1", port)).await?);
    s.get_mut()
        .write_all(format!("{text}\n").as_bytes())
        .await?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::other("timeout"))??;
    Ok(line)
}

fn set(tracker: &ConnectionTracker) -> Addr<ListenerSet> {
    let (switch, draining) = drain_signal();
    std::mem::forget(switch);
    let protocols: Protocols = [(ListenerKind::Smtp, Arc::new(Echo) as Arc<dyn Protocol>)]
        .into_iter()
        .collect();
    ListenerSet::new(
        protocols,
        tracker.clone(),
        Arbiters::start(2),
        draining,
        Bus::start(),
    )
    .start()
}

#[actix_rt::test]
async fn a_panicking_session_ends_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let tracker = ConnectionTracker::default();
    let listeners = set(&tracker);
    listeners
        .send(Apply(snapshot(port, dir.path())))
        .await
        .expect("mailbox")
        .expect("bind");

    let mut other = BufReader::new(
        TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect"),
    );
    other.get_mut().write_all(b"hello\n").await.expect("write");
    let mut line = String::new();
    other.read_line(&mut line).await.expect("echo");
    assert_eq!(line, "hello\n");

    // The panicking session's connection is closed and its place released.
    let mut doomed = BufReader::new(
        TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect"),
    );
    doomed.get_mut().write_all(b"PANIC\n").await.expect("write");
    let mut rest = String::new();
    assert_eq!(doomed.read_line(&mut rest).await.unwrap_or(0), 0);
    let t = tracker.clone();
    tokio::time::timeout(Duration::from_secs(5), async move {
        while t.open() != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the panicked session's place was not released");

    // The other session and the listener are unaffected.
    line.clear();
    other
        .get_mut()
        .write_all(b"still here\n")
        .await
        .expect("write");
    other.read_line(&mut line).await.expect("echo");
    assert_eq!(line, "still here\n");
    assert_eq!(echo(port, "new").await.expect("new session"), "new\n");
}

/// One supervised Echo listener on `port`, and the switch that drains it.
fn supervised(port: u16, dir: &std::path::Path) -> (Addr<Listener>, crate::shutdown::DrainSwitch) {
    let socket = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let (switch, draining) = drain_signal();
    let env = listener::ListenerEnv {
        protocol: Arc::new(Echo),
        tracker: ConnectionTracker::default(),
        arbiters: Arbiters::start(1),
        draining,
    };
    let l = Listener::new(ListenerKind::Smtp, socket, snapshot(port, dir), env).expect("listener");
    (Supervisor::start(move |_| l), switch)
}

#[actix_rt::test]
async fn a_failed_listener_is_restarted_on_the_same_port() {
    let (dir, port) = (tempfile::tempdir().expect("tempdir"), free_port());
    let (addr, switch) = supervised(port, dir.path());
    assert_eq!(echo(port, "one").await.expect("before"), "one\n");
    addr.send(listener::Fail).await.expect("fail");
    assert_eq!(echo(port, "two").await.expect("after restart"), "two\n");

    // Closing for good: once its owner lets go, it is not restarted and the port is freed.
    addr.do_send(listener::Close);
    drop(addr);
    let freed = tokio::time::timeout(Duration::from_secs(5), async {
        while TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "closed listener still accepts");
    drop(switch);
}

#[actix_rt::test]
async fn draining_listeners_refuse_new_sessions() {
    let (dir, port) = (tempfile::tempdir().expect("tempdir"), free_port());
    let (_addr, switch) = supervised(port, dir.path());
    switch.start();
    let mut s = BufReader::new(
        TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect"),
    );
    let mut line = String::new();
    s.read_line(&mut line).await.expect("read");
    assert_eq!(line, "refused\r\n");
}
