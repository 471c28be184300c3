//! `ConfigWatcher`: reloads the configuration on request (SIGHUP, the admin's reload button).
//! It reads and validates the same sources as at start; an invalid file is logged with every
//! problem and the running configuration stays. Keys that need a restart keep their running
//! value and are named in the log. Listener changes are applied before the new configuration
//! is announced, and a failure there keeps the old one whole.

use crate::bus::Bus;
use crate::msg::{ConfigChanged, RebindHttp};
use crate::net::{Abort, Commit, ListenerSet, Prepare};
use crate::snapshot::Snapshot;
use actix::prelude::*;
use mailroom_config::{ConfigSource, load};
use std::sync::Arc;

/// The watcher actor; one per process.
pub struct ConfigWatcher {
    source: ConfigSource,
    current: Arc<Snapshot>,
    listeners: Addr<ListenerSet>,
    /// The admin server, once it runs: its listener moves in the same all-or-nothing step.
    http: Option<Recipient<RebindHttp>>,
    bus: Bus,
}

impl ConfigWatcher {
    /// A watcher whose running configuration is `current`, read from `source`.
    pub fn new(
        source: ConfigSource,
        current: Arc<Snapshot>,
        listeners: Addr<ListenerSet>,
        bus: Bus,
    ) -> Self {
        Self {
            source,
            current,
            listeners,
            http: None,
            bus,
        }
    }
}

/// Include the admin HTTP server in reloads. Sent by `main` once the admin server started.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachHttp(pub Recipient<RebindHttp>);

impl Handler<AttachHttp> for ConfigWatcher {
    type Result = ();
    fn handle(&mut self, msg: AttachHttp, _: &mut Context<Self>) {
        self.http = Some(msg.0);
    }
}

impl Actor for ConfigWatcher {
    type Context = Context<Self>;
}

/// Reload now. Sent by the signal task on SIGHUP and by the admin API; the answer is the new
/// generation, or every reason the reload was refused.
#[derive(Message)]
#[rtype(result = "Result<u64, Vec<String>>")]
pub struct Reload;

impl Handler<Reload> for ConfigWatcher {
    type Result = ResponseActFuture<Self, Result<u64, Vec<String>>>;

    fn handle(&mut self, _: Reload, _: &mut Context<Self>) -> Self::Result {
        let prepared = self.prepare();
        let listeners = self.listeners.clone();
        let http = self.http.clone();
        Box::pin(
            async move {
                let snapshot = prepared?;
                match listeners.send(Prepare(snapshot.clone())).await {
                    Ok(Ok(())) => {}
                    Ok(Err(why)) => return Err(vec![why]),
                    Err(e) => return Err(vec![format!("listener set unavailable: {e}")]),
                }
                let moved = match &http {
                    None => Ok(()),
                    Some(http) => match http.send(RebindHttp(snapshot.clone())).await {
                        Ok(result) => result,
                        Err(e) => Err(format!("admin server unavailable: {e}")),
                    },
                };
                // All or nothing: the old listeners closed only once every part succeeded.
                match moved {
                    Ok(()) => {
                        listeners.do_send(Commit);
                        Ok(snapshot)
                    }
                    Err(why) => {
                        listeners.do_send(Abort);
                        Err(vec![why])
                    }
                }
            }
            .into_actor(self)
            .map(|result, this, _| match result {
                Ok(snapshot) => {
                    let generation = snapshot.generation;
                    this.current = snapshot.clone();
                    this.bus.publish(ConfigChanged(snapshot));
                    tracing::info!(generation, "configuration reloaded");
                    Ok(generation)
                }
                Err(problems) => {
                    for problem in &problems {
                        tracing::error!(%problem, "reload refused; the running configuration stays");
                    }
                    Err(problems)
                }
            }),
        )
    }
}

impl ConfigWatcher {
    fn prepare(&self) -> Result<Arc<Snapshot>, Vec<String>> {
        let to_strings = |errors: Vec<mailroom_config::ConfigError>| {
            errors.iter().map(ToString::to_string).collect::<Vec<_>>()
        };
        let mut config = load(&self.source).map_err(to_strings)?;
        for key in self.current.config.restart_required(&config) {
            tracing::warn!(
                key,
                "this key needs a restart; its running value stays until then"
            );
        }
        for d in config.deprecations() {
            tracing::warn!(key = d.key, replacement = d.replacement, "{d}");
        }
        config.server.data_dir = self.current.config.server.data_dir.clone();
        let tls = crate::tls::acceptor(&config).map_err(|e| vec![e.to_string()])?;
        let dns = self
            .current
            .dns
            .rebuilt_for(&config.dns)
            .map_err(|e| vec![e])?;
        Ok(Arc::new(Snapshot {
            generation: self.current.generation + 1,
            config: Arc::new(config),
            tls,
            dns,
        }))
    }
}

/// The snapshot in force. Sent by the admin server (health check, config view).
#[derive(Message)]
#[rtype(result = "Arc<Snapshot>")]
pub struct Current;

impl Handler<Current> for ConfigWatcher {
    type Result = MessageResult<Current>;
    fn handle(&mut self, _: Current, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.current.clone())
    }
}
