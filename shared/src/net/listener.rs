//! `Listener`: one bound address of one protocol. It accepts, checks the connection limits,
//! and hands each connection to the next arbiter in turn. It is `Supervised`: when its accept
//! loop fails it stops and is restarted on the same socket, without losing the port.
//! It stops for good when its owner (`ListenerSet`) drops its address and sends [`Close`].

use super::arbiters::Arbiters;
use super::connection::{Connection, Protocol};
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
        let config = &self.snapshot.config;
        metrics().connection_accepted(self.kind);
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
