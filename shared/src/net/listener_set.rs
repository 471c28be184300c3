//! `ListenerSet`: owns every protocol listener and applies the `[listeners]` of a new
//! configuration in two phases. [`Prepare`] binds every new address while the old listeners
//! keep running; if any bind fails, the ones just bound are closed again. [`Commit`] then
//! closes the listeners the new configuration no longer has, or [`Abort`] closes the ones
//! `Prepare` added. So a bad reload never leaves the server deaf, and other parts of a reload
//! (the admin listener) can fail without a listener having been closed.

use super::arbiters::Arbiters;
use super::connection::Protocol;
use super::listener::{Close, Listener, ListenerEnv};
use super::tracker::ConnectionTracker;
use crate::bus::Bus;
use crate::msg::{AccountRemoved, ConfigChanged};
use crate::shutdown::Draining;
use crate::snapshot::Snapshot;
use actix::prelude::*;
use mailroom_config::ListenerKind;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

/// The protocol behind each listener kind that has one (all but `admin`, which is HTTP).
pub type Protocols = HashMap<ListenerKind, Arc<dyn Protocol>>;

/// The listener set actor; one per process, on the System arbiter.
pub struct ListenerSet {
    protocols: Protocols,
    tracker: ConnectionTracker,
    arbiters: Arbiters,
    draining: Draining,
    bus: Bus,
    running: BTreeMap<(ListenerKind, SocketAddr), Addr<Listener>>,
    /// Between `Prepare` and `Commit`/`Abort`: what the new configuration wants, and what
    /// `Prepare` added for it.
    pending: Option<Pending>,
}

struct Pending {
    wanted: Vec<(ListenerKind, SocketAddr)>,
    added: Vec<(ListenerKind, SocketAddr)>,
}

impl ListenerSet {
    /// A set with no listener yet; [`Apply`] the first snapshot to start listening.
    pub fn new(
        protocols: Protocols,
        tracker: ConnectionTracker,
        arbiters: Arbiters,
        draining: Draining,
        bus: Bus,
    ) -> Self {
        Self {
            protocols,
            tracker,
            arbiters,
            draining,
            bus,
            running: BTreeMap::new(),
            pending: None,
        }
    }

    fn start_listener(
        &self,
        kind: ListenerKind,
        socket: std::net::TcpListener,
        snapshot: &Arc<Snapshot>,
    ) -> std::io::Result<Addr<Listener>> {
        let Some(protocol) = self.protocols.get(&kind) else {
            return Err(std::io::Error::other("no protocol for this listener"));
        };
        let env = ListenerEnv {
            protocol: protocol.clone(),
            tracker: self.tracker.clone(),
            arbiters: self.arbiters.clone(),
            draining: self.draining.clone(),
        };
        let listener = Listener::new(kind, socket, snapshot.clone(), env)?;
        let addr = Supervisor::start(move |_| listener);
        self.bus
            .subscribe::<ConfigChanged>(addr.clone().recipient());
        Ok(addr)
    }
}

impl Actor for ListenerSet {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.bus
            .subscribe::<AccountRemoved>(ctx.address().recipient());
    }
}

/// End the sessions of a removed account: they are logged in as someone who no longer
/// exists.
impl Handler<AccountRemoved> for ListenerSet {
    type Result = ();

    fn handle(&mut self, msg: AccountRemoved, _: &mut Context<Self>) {
        let ended = self.tracker.end_account(&msg.address);
        if ended > 0 {
            tracing::info!(
                account = %msg.address,
                sessions = ended,
                "Ended the sessions of a removed account."
            );
        }
    }
}

/// Bind the listeners of `0.config` that are not running yet, keeping the others; sent by
/// `ConfigWatcher` on reload. On error nothing changed, and the text names the address.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct Prepare(pub Arc<Snapshot>);

impl Handler<Prepare> for ListenerSet {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: Prepare, ctx: &mut Context<Self>) -> Self::Result {
        // A prepare nobody committed is abandoned, not merged.
        self.handle(Abort, ctx);
        let wanted: Vec<(ListenerKind, SocketAddr)> = msg
            .0
            .config
            .listeners
            .bindings()
            .into_iter()
            .filter(|(kind, _)| self.protocols.contains_key(kind))
            .collect();
        let mut bound = Vec::new();
        for &(kind, addr) in &wanted {
            if self.running.contains_key(&(kind, addr)) {
                continue;
            }
            // On failure, the sockets bound so far close when `bound` is dropped.
            let socket = std::net::TcpListener::bind(addr)
                .map_err(|e| format!("listeners.{kind}: cannot listen on {addr}: {e}"))?;
            bound.push((kind, addr, socket));
        }
        let mut added = Vec::new();
        for (kind, addr, socket) in bound {
            match self.start_listener(kind, socket, &msg.0) {
                Ok(listener) => {
                    self.running.insert((kind, addr), listener);
                    added.push((kind, addr));
                }
                Err(e) => {
                    self.pending = Some(Pending { wanted, added });
                    self.handle(Abort, ctx);
                    return Err(format!("listeners.{kind}: cannot listen on {addr}: {e}"));
                }
            }
        }
        self.pending = Some(Pending { wanted, added });
        Ok(())
    }
}

/// Close the listeners the prepared configuration does not have. Sent by `ConfigWatcher`
/// once every part of a reload succeeded.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Commit;

impl Handler<Commit> for ListenerSet {
    type Result = ();
    fn handle(&mut self, _: Commit, _: &mut Context<Self>) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let removed: Vec<_> = self
            .running
            .keys()
            .filter(|key| !pending.wanted.contains(key))
            .copied()
            .collect();
        for key in removed {
            if let Some(listener) = self.running.remove(&key) {
                listener.do_send(Close);
            }
        }
    }
}

/// Close the listeners the last [`Prepare`] added. Sent by `ConfigWatcher` when another part
/// of a reload failed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Abort;

impl Handler<Abort> for ListenerSet {
    type Result = ();
    fn handle(&mut self, _: Abort, _: &mut Context<Self>) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        for key in pending.added {
            if let Some(listener) = self.running.remove(&key) {
                listener.do_send(Close);
            }
        }
    }
}

/// [`Prepare`] then [`Commit`] in one step: what `main` sends at start.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct Apply(pub Arc<Snapshot>);

impl Handler<Apply> for ListenerSet {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: Apply, ctx: &mut Context<Self>) -> Self::Result {
        self.handle(Prepare(msg.0), ctx)?;
        self.handle(Commit, ctx);
        Ok(())
    }
}

/// Close every listener (the first step of shutdown). Sent by `main`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll;

impl Handler<CloseAll> for ListenerSet {
    type Result = ();
    fn handle(&mut self, _: CloseAll, _: &mut Context<Self>) {
        for (_, listener) in std::mem::take(&mut self.running) {
            listener.do_send(Close);
        }
    }
}

/// The addresses listened on now, per kind. Sent by `main` to print them.
#[derive(Message)]
#[rtype(result = "Vec<(ListenerKind, SocketAddr)>")]
pub struct Bound;

impl Handler<Bound> for ListenerSet {
    type Result = MessageResult<Bound>;
    fn handle(&mut self, _: Bound, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.running.keys().copied().collect())
    }
}
