//! `Listener`: one bound address of one protocol. It accepts, checks the connection limits,
//! and hands each connection to the next arbiter in turn. It is `Supervised`: when its accept
//! loop fails it stops and is restarted on the same socket, without losing the port.
//! It stops for good when its owner (`ListenerSet`) drops its address and sends [`Close`].
//! On a listener named in `[proxy_protocol]` it first reads the PROXY header of a trusted
//! peer, and from then on the client that header names is the connection's peer everywhere.

use super::arbiters::Arbiters;
use super::connection::{Connection, Protocol};
use super::proxy_header::{self, Parsed, ProxiedAddrs, ProxyError};
use super::tracker::{ConnectionTracker, Refusal};
use crate::metrics::metrics;
use crate::msg::ConfigChanged;
use crate::shutdown::Draining;
use crate::snapshot::Snapshot;
use actix::prelude::*;
use futures_util::stream;
use mailroom_config::ListenerKind;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// What a listener needs besides its socket; shared by all listeners.
#[derive(Clone)]
pub(crate) struct ListenerEnv {
    pub(crate) protocol: Arc<dyn Protocol>,
    pub(crate) tracker: ConnectionTracker,
    pub(crate) arbiters: Arbiters,
    pub(crate) draining: Draining,
}

/// The listener actor.
pub struct Listener {
    kind: ListenerKind,
    addr: SocketAddr,
    /// The bound socket. The accept loop works on a duplicate of it, so a restart after a
    /// failure keeps the port bound throughout.
    socket: std::net::TcpListener,
    snapshot: Arc<Snapshot>,
    env: ListenerEnv,
}

impl Listener {
    pub(crate) fn new(
        kind: ListenerKind,
        socket: std::net::TcpListener,
        snapshot: Arc<Snapshot>,
        env: ListenerEnv,
    ) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            kind,
            addr: socket.local_addr()?,
            socket,
            snapshot,
            env,
        })
    }

    fn accept_stream(
        &self,
    ) -> io::Result<
        impl futures_util::Stream<Item = io::Result<(tokio::net::TcpStream, SocketAddr)>> + use<>,
    > {
        let listener = tokio::net::TcpListener::from_std(self.socket.try_clone()?)?;
        Ok(stream::unfold(listener, |l| async move {
            let next = l.accept().await;
            Some((next, l))
        }))
    }

    fn dispatch(&self, tcp: tokio::net::TcpStream, peer: SocketAddr) {
        metrics().connection_accepted(self.kind);
        let admission = Admission {
            kind: self.kind,
            snapshot: self.snapshot.clone(),
            env: self.env.clone(),
        };
        let proxy = &self.snapshot.config.proxy_protocol;
        if !proxy.enabled_on(self.kind) {
            return admission.admit(tcp, peer);
        }
        if !proxy
            .trusted_networks()
            .iter()
            .any(|net| net.contains(peer.ip()))
        {
            // Closed without a word: a greeting would tell a scanner what runs here, and a
            // client that talks directly to a proxied port is misconfigured anyway.
            tracing::warn!(listener = %self.kind, %peer, "connection refused: this listener takes PROXY headers only from proxy_protocol.trusted");
            metrics().connection_refused(self.kind);
            return;
        }
        // The header comes before the greeting, so the session, the limits and every log line
        // see the client it names; the accept loop does not wait for it.
        actix_rt::spawn(async move {
            let mut tcp = tcp;
            let header =
                actix_rt::time::timeout(PROXY_HEADER_DEADLINE, read_proxy_header(&mut tcp));
            let why = match header.await {
                Ok(Ok(Ok(ProxiedAddrs::Proxied { client, server }))) => {
                    tracing::debug!(listener = %admission.kind, %client, %server, proxy = %peer, "PROXY header");
                    return admission.admit(tcp, client);
                }
                Ok(Ok(Ok(ProxiedAddrs::Local))) => return admission.admit(tcp, peer),
                Ok(Ok(Err(bad))) => bad.to_string(),
                Ok(Err(e)) => format!("reading the PROXY header: {e}"),
                Err(_) => "no PROXY header in time".to_string(),
            };
            tracing::warn!(listener = %admission.kind, %peer, why, "connection refused");
            metrics().connection_refused(admission.kind);
        });
    }
}

/// How long a trusted proxy has to send its header; it sends it at once, so this only bounds
/// a stalled or misconfigured peer.
const PROXY_HEADER_DEADLINE: Duration = Duration::from_secs(5);

/// Read the PROXY header at the start of `tcp`, octet-exact: the parser never asks for more
/// than the header still holds, so what follows it (a TLS ClientHello, a command) stays in
/// the socket for the session.
async fn read_proxy_header(
    tcp: &mut tokio::net::TcpStream,
) -> io::Result<Result<ProxiedAddrs, ProxyError>> {
    use tokio::io::AsyncReadExt;
    // Both versions' maximum (v1 is at most 107 octets).
    let mut buf = [0u8; 16 + proxy_header::V2_MAX_PAYLOAD];
    let mut have = 0;
    loop {
        match proxy_header::parse(&buf[..have]) {
            Ok(Parsed::Done { addrs, .. }) => return Ok(Ok(addrs)),
            Err(bad) => return Ok(Err(bad)),
            Ok(Parsed::Incomplete { at_least }) => {
                let Some(room) = buf.get_mut(have..have + at_least) else {
                    return Ok(Err(ProxyError::TooLong));
                };
                let n = tcp.read(room).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                have += n;
            }
        }
    }
}

/// What it takes to turn an accepted connection into a session, apart from the listener
/// actor, so that a connection can be admitted after its PROXY header is read.
struct Admission {
    kind: ListenerKind,
    snapshot: Arc<Snapshot>,
    env: ListenerEnv,
}

impl Admission {
    /// Check the limits for `peer` (the client: the socket's peer, or the one its PROXY header
    /// names) and hand the connection to the next arbiter.
    fn admit(self, tcp: tokio::net::TcpStream, peer: SocketAddr) {
        let config = &self.snapshot.config;
        let refuse = |why: Refusal| {
            tracing::info!(listener = %self.kind, %peer, ?why, "connection refused");
            metrics().connection_refused(self.kind);
            let bytes = self.env.protocol.refusal(&config.server.hostname, why);
            // Best effort: the socket is new, so its send buffer has room for one line.
            let _ = tcp.try_write(&bytes);
        };
        if self.env.draining.is_draining() {
            return refuse(Refusal::ShuttingDown);
        }
        let session_id = NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed);
        let guard = match self
            .env
            .tracker
            .try_acquire(session_id, self.kind, peer, &config.limits)
        {
            Ok(guard) => guard,
            Err(why) => return refuse(why),
        };
        let socket = match tcp.into_std() {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!(listener = %self.kind, %peer, error = %e, "cannot hand over connection");
                return;
            }
        };
        let conn = Connection {
            session_id,
            kind: self.kind,
            socket,
            peer,
            snapshot: self.snapshot.clone(),
            draining: self.env.draining.clone(),
            guard,
        };
        let protocol = self.env.protocol.clone();
        if !self
            .env
            .arbiters
            .pick()
            .spawn_fn(move || protocol.start(conn))
        {
            tracing::warn!(listener = %self.kind, %peer, "session arbiter is gone; connection dropped");
        }
    }
}

impl Actor for Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match self.accept_stream() {
            Ok(accepts) => {
                ctx.add_stream(accepts);
                tracing::info!(listener = %self.kind, addr = %self.addr, "listening");
            }
            Err(e) => {
                tracing::error!(listener = %self.kind, addr = %self.addr, error = %e, "cannot listen; retrying");
                ctx.run_later(Duration::from_secs(1), |_, ctx| ctx.stop());
            }
        }
    }
}

impl Supervised for Listener {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!(listener = %self.kind, addr = %self.addr, "listener restarting");
    }
}

impl StreamHandler<io::Result<(tokio::net::TcpStream, SocketAddr)>> for Listener {
    fn handle(
        &mut self,
        item: io::Result<(tokio::net::TcpStream, SocketAddr)>,
        ctx: &mut Context<Self>,
    ) {
        match item {
            Ok((tcp, peer)) => self.dispatch(tcp, peer),
            Err(e) => match e.kind() {
                // The peer gave up between SYN and accept: nothing to do.
                io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock => {}
                // Out of file descriptors or memory (EMFILE, ENFILE, ENOBUFS): pause instead of
                // spinning on the same error.
                _ if matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12)) => {
                    tracing::warn!(listener = %self.kind, error = %e, "accept failed; pausing");
                    ctx.wait(actix::clock::sleep(Duration::from_millis(100)).into_actor(self));
                }
                _ => {
                    tracing::error!(listener = %self.kind, error = %e, "accept failed; restarting listener");
                    ctx.stop();
                }
            },
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The accept stream never ends on its own; if it does, start over.
        ctx.stop();
    }
}

/// Stop listening for good; sent by `ListenerSet` right before it drops its address.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Close;

impl Handler<Close> for Listener {
    type Result = ();
    fn handle(&mut self, _: Close, ctx: &mut Context<Self>) {
        tracing::info!(listener = %self.kind, addr = %self.addr, "listener closed");
        ctx.stop();
    }
}

impl Handler<ConfigChanged> for Listener {
    type Result = ();
    fn handle(&mut self, msg: ConfigChanged, _: &mut Context<Self>) {
        self.snapshot = msg.0;
    }
}

/// Make the accept loop fail as an accept error would, to exercise supervision in tests.
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Fail;

#[cfg(test)]
impl Handler<Fail> for Listener {
    type Result = ();
    fn handle(&mut self, _: Fail, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
