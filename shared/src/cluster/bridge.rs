//! The `ClusterBridge` actor and its two Redis tasks: one publishes this node's changes,
//! one listens to the other nodes' and hands them to the actor, which republishes them on
//! the local bus. The actor only queues and forwards, so the bus never waits on Redis.

use actix::WeakAddr;
use actix::prelude::*;
use bb8_redis::RedisConnectionManager;
use bb8_redis::redis::{self, AsyncCommands};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, timeout};

use super::wire::{Crossing, Envelope, Origin};
use crate::bus::Bus;
use crate::msg::{AccountRemoved, MailboxChanged};

/// The channel all nodes of a deployment share, followed by `:` and the database number of
/// the URL: pub/sub channels are global to a Redis server, not per database, and one
/// deployment per database is the rule for its keys.
pub const DEFAULT_CHANNEL: &str = "mailroom:changes";
/// Changes waiting to be published; past it (Redis slow or down) new ones are dropped.
const OUTGOING_CAPACITY: usize = 1024;
/// First wait before reconnecting, doubled on each failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest wait for a connection or a command before Redis counts as down.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an idle subscription checks that Redis still answers (a silent peer, e.g. a
/// network partition, closes no socket).
const PING_EVERY: Duration = Duration::from_secs(5);

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The address is not one Redis understands. The address itself is not repeated: it
    /// may hold a password.
    #[error("cluster.redis is not a usable Redis address: {0}")]
    Address(String),
}

/// Where and as whom the bridge talks.
#[derive(Clone)]
pub struct Settings {
    /// `redis://host:port/db` (never logged: it may hold a password).
    pub url: String,
    /// This node's name, for the other nodes' logs.
    pub node: String,
    /// The pub/sub channel; [`DEFAULT_CHANNEL`] unless a test wants one of its own.
    pub channel: String,
}

impl Settings {
    /// The settings for `url`, named `node`, on the default channel of the URL's database.
    pub fn new(url: impl Into<String>, node: impl Into<String>) -> Self {
        let url = url.into();
        let db = redis::Client::open(url.as_str())
            .map_or(0, |c| c.get_connection_info().redis_settings().db());
        Self {
            url,
            node: node.into(),
            channel: format!("{DEFAULT_CHANNEL}:{db}"),
        }
    }
}

/// The bridge actor; one per node, started by the server when `[cluster] redis` is set and
/// held for its life (the bus keeps only weak references). Dropping the last address stops
/// it and both tasks.
pub struct ClusterBridge {
    bus: Bus,
    origin: Origin,
    outgoing: mpsc::Sender<String>,
    /// Whether a full queue was logged since the queue last had room.
    full_logged: bool,
    subscribed: watch::Receiver<bool>,
    /// Dropped with the actor: tells the subscription task to end.
    _stop: oneshot::Sender<()>,
}

impl Actor for ClusterBridge {
    type Context = Context<Self>;
}

impl ClusterBridge {
    /// Start the bridge on the current arbiter (inside a running actix System), subscribed on
    /// `bus` to the messages that cross. Redis need not be up: the bridge connects (and
    /// reconnects) in the background.
    pub fn start(settings: Settings, bus: &Bus) -> Result<Addr<ClusterBridge>, ClusterError> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| ClusterError::Address(format!("{:?}", e.kind())))?;
        let manager = RedisConnectionManager::new(settings.url.as_str())
            .map_err(|e| ClusterError::Address(format!("{:?}", e.kind())))?;
        // Unchecked: a node starts and serves its own clients while Redis is away.
        let pool = bb8::Pool::builder()
            .max_size(2)
            .connection_timeout(IO_TIMEOUT)
            .build_unchecked(manager);
        let origin = Origin::new(settings.node.clone());
        let (outgoing, queued) = mpsc::channel(OUTGOING_CAPACITY);
        let (subscribed_tx, subscribed) = watch::channel(false);
        let (stop, stopped) = oneshot::channel();
        let bridge = ClusterBridge {
            bus: bus.clone(),
            origin: origin.clone(),
            outgoing,
            full_logged: false,
            subscribed,
            _stop: stop,
        };
        let addr = bridge.start();
        bus.subscribe::<MailboxChanged>(addr.clone().recipient());
        bus.subscribe::<AccountRemoved>(addr.clone().recipient());
        actix_rt::spawn(publish_loop(queued, pool, settings.channel.clone()));
        actix_rt::spawn(
            Listen {
                client,
                channel: settings.channel,
                origin,
                bridge: addr.downgrade(),
                subscribed: subscribed_tx,
            }
            .run(stopped),
        );
        tracing::info!(node = %settings.node, "Cluster bridge started; connecting to Redis.");
        Ok(addr)
    }

    /// Queue a local change for the other nodes, never waiting.
    fn send_out(&mut self, change: Crossing) {
        let payload = Envelope {
            origin: self.origin.clone(),
            change,
        }
        .encode();
        match self.outgoing.try_send(payload) {
            Ok(()) => self.full_logged = false,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.full_logged {
                    tracing::warn!(
                        "Redis is not taking changes as fast as they come; dropping \
                         notifications for the other nodes (their sessions see the changes at \
                         their next command)."
                    );
                    self.full_logged = true;
                }
            }
            // The publishing task ended: the system is stopping.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl Handler<MailboxChanged> for ClusterBridge {
    type Result = ();
    fn handle(&mut self, m: MailboxChanged, _: &mut Context<Self>) {
        self.send_out(Crossing::MailboxChanged(m));
    }
}

impl Handler<AccountRemoved> for ClusterBridge {
    type Result = ();
    fn handle(&mut self, m: AccountRemoved, _: &mut Context<Self>) {
        self.send_out(Crossing::AccountRemoved(m));
    }
}

/// Another node's change, heard on the channel. Sent by the subscription task; handled by
/// [`ClusterBridge`], which republishes it on the local bus to everyone but itself.
#[derive(Message)]
#[rtype(result = "()")]
struct Heard(Crossing);

impl Handler<Heard> for ClusterBridge {
    type Result = ();
    fn handle(&mut self, Heard(change): Heard, ctx: &mut Context<Self>) {
        match change {
            Crossing::MailboxChanged(m) => self
                .bus
                .publish_except(m, ctx.address().recipient::<MailboxChanged>()),
            Crossing::AccountRemoved(m) => self
                .bus
                .publish_except(m, ctx.address().recipient::<AccountRemoved>()),
        }
    }
}

/// Whether the bridge currently hears the other nodes. Sent by whoever must wait for it
/// (tests, a health check); handled by [`ClusterBridge`]. The answer follows the state:
/// `wait_for(|s| *s)` on it waits until the subscription is up.
#[derive(Message)]
#[rtype(result = "watch::Receiver<bool>")]
pub struct Subscription;

impl Handler<Subscription> for ClusterBridge {
    type Result = MessageResult<Subscription>;
    fn handle(&mut self, _: Subscription, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.subscribed.clone())
    }
}

/// Publish queued changes in order. When Redis is down the change at the head waits and is
/// retried after the back-off, so what happened during a short outage still reaches the
/// other nodes once it is back (late news wakes a session that would otherwise wait for its
/// next command); meanwhile the queue fills and the bridge drops what does not fit.
async fn publish_loop(
    mut queued: mpsc::Receiver<String>,
    pool: bb8::Pool<RedisConnectionManager>,
    channel: String,
) {
    let mut backoff = MIN_BACKOFF;
    let mut down = false;
    let mut retry: Option<String> = None;
    loop {
        let payload = match retry.take() {
            Some(p) => p,
            None => match queued.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let sent = timeout(IO_TIMEOUT, async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            conn.publish::<_, _, i64>(&channel, &payload)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        match sent {
            Ok(_) => {
                if std::mem::take(&mut down) {
                    tracing::info!("Redis is back: changes reach the other nodes again.");
                }
                backoff = MIN_BACKOFF;
            }
            Err(e) => {
                if !down {
                    tracing::warn!(
                        error = %e,
                        "Cannot publish to Redis: until it is back, sessions on the other nodes \
                         see this node's changes at their next command."
                    );
                    down = true;
                }
                // The bridge is gone (the server stops): nobody is left to wait for.
                if queued.is_closed() {
                    return;
                }
                sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                retry = Some(payload);
            }
        }
    }
}

/// The subscription task's state.
struct Listen {
    client: redis::Client,
    channel: String,
    origin: Origin,
    bridge: WeakAddr<ClusterBridge>,
    subscribed: watch::Sender<bool>,
}

/// How a subscription ended.
enum Ended {
    /// The bridge is gone: stop.
    Stopped,
    /// Redis went away (or never came): reconnect after the back-off.
    Lost(String),
}

impl Listen {
    /// Subscribe, pass on what is heard, and resubscribe with back-off whenever Redis goes,
    /// until `stopped` fires (the bridge was dropped).
    async fn run(self, mut stopped: oneshot::Receiver<()>) {
        let mut backoff = MIN_BACKOFF;
        let mut down = false;
        loop {
            let ended = tokio::select! {
                _ = &mut stopped => Ended::Stopped,
                ended = self.session(&mut down, &mut backoff) => ended,
            };
            self.subscribed.send_replace(false);
            match ended {
                Ended::Stopped => return,
                Ended::Lost(e) => {
                    if !down {
                        tracing::warn!(
                            error = %e,
                            "Lost Redis: until it is back, sessions here see the other nodes' \
                             changes at their next command; reconnecting."
                        );
                        down = true;
                    }
                }
            }
            tokio::select! {
                _ = &mut stopped => return,
                () = sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One subscription, from connecting until it is lost.
    async fn session(&self, down: &mut bool, backoff: &mut Duration) -> Ended {
        let connected = timeout(IO_TIMEOUT, async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match connected {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Ended::Lost(e.to_string()),
            Err(_) => return Ended::Lost("timed out connecting".into()),
        };
        if std::mem::take(down) {
            tracing::info!("Redis is back: hearing the other nodes' changes again.");
        }
        *backoff = MIN_BACKOFF;
        self.subscribed.send_replace(true);
        let (mut sink, mut stream) = pubsub.split();
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            tokio::select! {
                heard = stream.next() => {
                    let Some(msg) = heard else {
                        return Ended::Lost("connection closed".into());
                    };
                    let Some(envelope) = Envelope::decode(msg.get_payload_bytes()) else {
                        tracing::debug!("Skipped a message on the cluster channel that is not ours.");
                        continue;
                    };
                    if !envelope.is_from_elsewhere(&self.origin) {
                        continue;
                    }
                    let Some(bridge) = self.bridge.upgrade() else {
                        return Ended::Stopped;
                    };
                    bridge.do_send(Heard(envelope.change));
                }
                _ = ping.tick() => {
                    match timeout(IO_TIMEOUT, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Ended::Lost(e.to_string()),
                        Err(_) => return Ended::Lost("no answer to PING".into()),
                    }
                }
            }
        }
    }
}
