//! The `Webhooks` actor: posts logged events as signed JSON to the configured receivers.
//!
//! The store's event log is the outbox. Each target (one `[[webhooks]]` entry, keyed by URL)
//! has a cursor in the store — the last event id its receiver acknowledged — and a delivery
//! loop ([`target`]) that reads the log after it. So nothing is lost across a crash or
//! restart: whatever was logged and not acknowledged is sent when the loop runs again.
//! `EventRecorded` on the bus only wakes the loops; the log is the truth.
//!
//! A target seen for the first time starts at the end of the log (no replay of history). On
//! `ConfigChanged`, removed targets stop (their cursors stay, so a target put back resumes
//! where it was), new ones start, and changed secrets or filters apply to the next POST.
//! Old events that every target has passed are pruned after [`RETENTION`].
//!
//! The admin server asks the actor for every target's state and last POSTs in one snapshot
//! ([`ListTargets`]), for one target's last POSTs ([`RecentDeliveries`]) and to send a signed `test` event at once ([`SendTest`]); a test
//! event has id 0 (never a logged id), is not logged and does not move the cursor.
//!
//! This module must not block: the loops are tasks on this actor's arbiter and wait on the
//! store and the network only through futures.

mod sign;
mod target;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use mailroom_config::{Config, StoreEngine};
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_shared::events::{EventKind, EventRecorded};
use mailroom_shared::msg::ConfigChanged;
use mailroom_store::MailboxStore;
use mailroom_store::actor::{LastEventId, PruneEvents, SetWebhookCursor, WebhookCursor};
use tokio::sync::{Notify, watch};

pub(crate) use target::{Attempt, HISTORY, HistoryView};
use target::{History, TargetConfig};

/// How long delivered events stay in the log.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A running target.
struct Running {
    config: watch::Sender<Arc<TargetConfig>>,
    wake: Arc<Notify>,
    history: Arc<History>,
    task: actix_rt::task::JoinHandle<()>,
}

/// The webhooks actor. Started by `mailroom serve` with the store and the bus.
pub struct Webhooks {
    store: Addr<MailboxStore>,
    targets: HashMap<String, Running>,
}

impl Actor for Webhooks {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(PRUNE_EVERY, |this, ctx| this.prune(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        for (_, running) in self.targets.drain() {
            running.task.abort();
        }
    }
}

/// The targets `config` asks for.
fn targets_of(config: &Config) -> Vec<TargetConfig> {
    let delivery = &config.webhook_delivery;
    config
        .webhooks
        .iter()
        .map(|hook| TargetConfig {
            url: hook.url.clone(),
            secret: Secret::new(hook.secret.expose()),
            // Validated at load; an unknown name cannot get here.
            kinds: hook
                .events
                .iter()
                .filter_map(|name| EventKind::parse(name))
                .collect(),
            max_backoff: Duration::from_secs(delivery.max_backoff_secs),
            timeout: Duration::from_secs(delivery.timeout_secs),
            poll: if config.store.engine == StoreEngine::Postgres {
                target::SHARED_POLL
            } else {
                target::IDLE_POLL
            },
        })
        .collect()
}

/// Where `url` resumes: its saved cursor, or (first sighting) the end of the log, saved at
/// once so that events logged from now on reach it even across a restart.
async fn start_cursor(store: &Addr<MailboxStore>, url: &str) -> Result<i64, String> {
    let ask = WebhookCursor {
        target: url.to_string(),
    };
    if let Some(cursor) = store
        .send(ask)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?
    {
        return Ok(cursor);
    }
    let end = store
        .send(LastEventId)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let save = SetWebhookCursor {
        target: url.to_string(),
        last_id: end,
    };
    store
        .send(save)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(end)
}

impl Webhooks {
    /// Start the actor on the current arbiter with the targets of `config`, subscribed to
    /// `EventRecorded` and `ConfigChanged` on `bus`. Each target's cursor is settled before
    /// this returns, so events logged after it are delivered to every configured target.
    pub async fn start(
        config: &Config,
        store: Addr<MailboxStore>,
        bus: &Bus,
    ) -> Result<Addr<Webhooks>, String> {
        let mut cursors = Vec::new();
        for target in targets_of(config) {
            let cursor = start_cursor(&store, &target.url)
                .await
                .map_err(|e| format!("webhooks: cannot read the cursor of {}: {e}", target.url))?;
            cursors.push((target, cursor));
        }
        let addr = Webhooks {
            store: store.clone(),
            targets: HashMap::new(),
        }
        .start();
        addr.send(Begin(cursors))
            .await
            .map_err(|e| format!("webhooks: {e}"))?;
        bus.subscribe(addr.clone().recipient::<EventRecorded>());
        bus.subscribe(addr.clone().recipient::<ConfigChanged>());
        Ok(addr)
    }

    fn spawn(&mut self, config: TargetConfig, cursor: i64) {
        let url = config.url.clone();
        let (tx, rx) = watch::channel(Arc::new(config));
        let wake = Arc::new(Notify::new());
        let history = Arc::new(History::starting_at(cursor));
        let task = actix_rt::spawn(target::run(
            self.store.clone(),
            rx,
            wake.clone(),
            history.clone(),
            cursor,
        ));
        tracing::info!(url = %url, cursor, "Webhook target started.");
        self.targets.insert(
            url,
            Running {
                config: tx,
                wake,
                history,
                task,
            },
        );
    }

    fn prune(&mut self, ctx: &mut Context<Self>) {
        let before = std::time::SystemTime::now()
            .checked_sub(RETENTION)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        let m = PruneEvents {
            before,
            targets: self.targets.keys().cloned().collect(),
        };
        let store = self.store.clone();
        ctx.spawn(
            async move {
                match store.send(m).await {
                    Ok(Ok(n)) if n > 0 => tracing::info!(pruned = n, "Pruned old events."),
                    Ok(Err(e)) => tracing::warn!(error = %e, "Pruning old events failed."),
                    _ => {}
                }
            }
            .into_actor(self),
        );
    }
}

/// Start the loops of targets whose cursors are settled. Sent by [`Webhooks::start`] and by
/// the actor itself after a reload added targets.
#[derive(Message)]
#[rtype(result = "()")]
struct Begin(Vec<(TargetConfig, i64)>);

impl Handler<Begin> for Webhooks {
    type Result = ();
    fn handle(&mut self, m: Begin, _: &mut Context<Self>) {
        for (config, cursor) in m.0 {
            if let Some(running) = self.targets.get(&config.url) {
                // Added twice by quick reloads: the running loop just takes the config.
                running.config.send_replace(Arc::new(config));
                continue;
            }
            self.spawn(config, cursor);
        }
    }
}

impl Handler<EventRecorded> for Webhooks {
    type Result = ();
    fn handle(&mut self, _: EventRecorded, _: &mut Context<Self>) {
        // A permit is stored if the loop is busy, so a wake-up is never lost.
        for running in self.targets.values() {
            running.wake.notify_one();
        }
    }
}

impl Handler<ConfigChanged> for Webhooks {
    type Result = ();
    fn handle(&mut self, m: ConfigChanged, ctx: &mut Context<Self>) {
        let wanted = targets_of(&m.0.config);
        self.targets.retain(|url, running| {
            let keep = wanted.iter().any(|t| &t.url == url);
            if !keep {
                tracing::info!(url = %url, "Webhook target removed.");
                running.task.abort();
            }
            keep
        });
        let mut added = Vec::new();
        for target in wanted {
            match self.targets.get(&target.url) {
                Some(running) => {
                    running.config.send_replace(Arc::new(target));
                }
                None => added.push(target),
            }
        }
        if added.is_empty() {
            return;
        }
        let store = self.store.clone();
        ctx.spawn(
            async move {
                let mut ready = Vec::new();
                for target in added {
                    match start_cursor(&store, &target.url).await {
                        Ok(cursor) => ready.push((target, cursor)),
                        Err(e) => tracing::error!(
                            url = %target.url, error = %e,
                            "Cannot start a webhook target; it starts with the next reload."
                        ),
                    }
                }
                ready
            }
            .into_actor(self)
            .map(|ready, this, ctx| {
                this.handle(Begin(ready), ctx);
            }),
        );
    }
}

/// A running target as the admin server shows it (never its secret).
#[derive(Debug, Clone)]
pub(crate) struct TargetStatus {
    pub url: String,
    /// The event types it wants.
    pub events: Vec<&'static str>,
    pub history: HistoryView,
    /// Its last POSTs, newest first, as many as asked for.
    pub recent: Vec<Attempt>,
}

/// Every running target, by URL, each with its last `recent` POSTs.
#[derive(Message)]
#[rtype(result = "Vec<TargetStatus>")]
pub(crate) struct ListTargets {
    pub recent: usize,
}

impl Handler<ListTargets> for Webhooks {
    type Result = Vec<TargetStatus>;
    fn handle(&mut self, m: ListTargets, _: &mut Context<Self>) -> Vec<TargetStatus> {
        let mut out: Vec<TargetStatus> = self
            .targets
            .iter()
            .map(|(url, running)| TargetStatus {
                url: url.clone(),
                events: running
                    .config
                    .borrow()
                    .kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect(),
                history: running.history.view(),
                recent: running.history.recent(m.recent),
            })
            .collect();
        out.sort_by(|a, b| a.url.cmp(&b.url));
        out
    }
}

/// The last `limit` POSTs to `url`, newest first; `None` if no such target runs.
#[derive(Message)]
#[rtype(result = "Option<Vec<Attempt>>")]
pub(crate) struct RecentDeliveries {
    pub url: String,
    pub limit: usize,
}

impl Handler<RecentDeliveries> for Webhooks {
    type Result = Option<Vec<Attempt>>;
    fn handle(&mut self, m: RecentDeliveries, _: &mut Context<Self>) -> Self::Result {
        self.targets
            .get(&m.url)
            .map(|running| running.history.recent(m.limit))
    }
}

/// POST a signed `test` event to `url` now; the attempt, or `None` if no such target runs.
#[derive(Message)]
#[rtype(result = "Option<Attempt>")]
pub(crate) struct SendTest {
    pub url: String,
}

impl Handler<SendTest> for Webhooks {
    type Result = ResponseFuture<Option<Attempt>>;
    fn handle(&mut self, m: SendTest, _: &mut Context<Self>) -> Self::Result {
        let Some(running) = self.targets.get(&m.url) else {
            return Box::pin(async { None });
        };
        let config = running.config.borrow().clone();
        Box::pin(async move {
            let timestamp = target::unix_now();
            let body = serde_json::json!({
                "id": 0,
                "timestamp": timestamp,
                "type": "test",
                "message": "A test event, sent on an admin's request.",
            })
            .to_string();
            let client = awc::Client::builder().disable_timeout().finish();
            let (_, attempt) =
                target::timed_post(&client, &config, 0, "test", body.as_bytes()).await;
            Some(attempt)
        })
    }
}
