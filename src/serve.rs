//! [`run`]: start the actors in dependency order, serve until the shutdown future resolves,
//! then drain in phases: stop accepting, let sessions finish their command and say goodbye
//! (bounded by `server.drain_timeout_secs`), flush the store, return `Ok`.
//!
//! `run` is the only wiring of the server: `main` and the tests both call it, so no test
//! rebuilds the wiring by hand.
//!
//! A store that fails fatally (see `mailroom_store::fatal`) ends the serving the same way the
//! shutdown future does, with the same drain; `run` then returns
//! [`ServeError::StoreFailed`], so that the process exits non-zero and a supervisor restarts
//! it, instead of a server that answers "unavailable" forever.

use mailroom_config::{Config, ConfigSource, ListenerKind, StoreEngine};
use mailroom_shared::bus::Bus;
use mailroom_shared::cluster::{ClusterBridge, Counters, Settings as ClusterSettings};
use mailroom_shared::net::{
    Apply, Arbiters, Bound, CloseAll, ConnectionTracker, ListenerSet, Protocol, Protocols,
};
use mailroom_shared::reload::ConfigWatcher;
use mailroom_shared::reload::Reload;
use mailroom_shared::shutdown::drain_signal;
use mailroom_shared::signals::Hangups;
use mailroom_shared::snapshot::Snapshot;
use mailroom_smtp::Policy;
use mailroom_smtp::outbound::{OutboundQueue, StopQueue};
use mailroom_smtp::policy::greylist::Greylist;
use mailroom_smtp::policy::spam::SpamScorer;
use mailroom_store::StoreError;
use mailroom_store::actor::{Flush, MailboxStore, WatchFatal};
use mailroom_store::fatal::Fatal;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;

/// What [`run`] starts the server with.
pub struct ServeConfig {
    /// The validated configuration.
    pub config: Config,
    /// Where it came from: a reload (SIGHUP, the admin's button) reads these sources again.
    pub source: ConfigSource,
    /// SIGHUPs to turn into reloads; `None` when nobody sends any (tests).
    pub hangups: Option<Hangups>,
}

/// Why [`run`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A part of the server could not start (a port taken, a bad certificate…).
    #[error("{part}: {reason}")]
    Start {
        /// Which part, as the configuration or the log names it.
        part: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The store could not be opened.
    #[error("cannot open the store in {}: {source}", dir.display())]
    OpenStore {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The store failed while the server ran; the server drained and stopped.
    #[error("the store failed: {0}")]
    StoreFailed(Fatal),
}

impl ServeError {
    fn start(part: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Start {
            part,
            reason: reason.to_string(),
        }
    }

    /// The process exit status for this failure (sysexits.h): 1 for a server that could not
    /// start; for a store that failed while running, 74 (`EX_IOERR`) when its storage failed
    /// and 70 (`EX_SOFTWARE`) when its own code did.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Start { .. } | Self::OpenStore { .. } => 1,
            Self::StoreFailed(Fatal::Io(_)) => 74,
            Self::StoreFailed(Fatal::Software(_)) => 70,
        }
    }
}

fn protocols(store: &actix::Addr<MailboxStore>, policy: Policy, bus: &Bus) -> Protocols {
    let smtp: Arc<dyn Protocol> = Arc::new(mailroom_smtp::Smtp::new(store.clone(), policy));
    let imap: Arc<dyn Protocol> = Arc::new(mailroom_imap::Imap::new(store.clone(), bus.clone()));
    let pop3: Arc<dyn Protocol> = Arc::new(mailroom_pop3::Pop3::new(store.clone()));
    [
        (ListenerKind::Smtp, smtp.clone()),
        (ListenerKind::Submission, smtp.clone()),
        (ListenerKind::Submissions, smtp),
        (ListenerKind::Imap, imap.clone()),
        (ListenerKind::Imaps, imap),
        (ListenerKind::Pop3, pop3.clone()),
        (ListenerKind::Pop3s, pop3),
    ]
    .into_iter()
    .collect()
}

/// Serve with `settings` until `shutdown` resolves (with the name of what asked, for the
/// log), then drain and return `Ok`. Must run inside an actix System; the caller installs
/// any signal handlers before calling (a supervisor that sees a port open may signal at
/// once).
pub async fn run(
    settings: ServeConfig,
    shutdown: impl Future<Output = &'static str>,
) -> Result<(), ServeError> {
    let ServeConfig {
        config,
        source,
        hangups,
    } = settings;
    for d in config.deprecations() {
        tracing::warn!(key = d.key, replacement = d.replacement, "{d}");
    }
    let tls = mailroom_shared::tls::acceptor(&config).map_err(|e| ServeError::start("tls", e))?;
    let dns =
        mailroom_shared::dns::Dns::build(&config.dns).map_err(|e| ServeError::start("dns", e))?;
    let snapshot = Arc::new(Snapshot {
        generation: 1,
        config: Arc::new(config),
        tls,
        dns,
    });
    let bus = Bus::start();
    let data_dir = snapshot.config.server.data_dir.clone();
    // Bodies too big to keep in memory wait in the store's tmp/ (emptied at open).
    mailroom_shared::inflight::configure(
        snapshot.config.limits.max_inflight_bytes,
        data_dir.join("tmp"),
    );
    // The engine `[store]` names: the embedded one in the data directory, or PostgreSQL.
    let store = mailroom_store::start(&snapshot.config, bus.clone()).map_err(|source| {
        ServeError::OpenStore {
            dir: data_dir.clone(),
            source,
        }
    })?;
    // With `[cluster] redis`, the changes that concern the shared store cross to the other
    // nodes and theirs come here. Held for the server's life: the bus keeps only weak
    // references.
    let _cluster = match &snapshot.config.cluster.redis {
        Some(url) => Some(
            ClusterBridge::start(
                ClusterSettings::new(url.clone(), mailroom_store::node_name(&snapshot.config)),
                &bus,
            )
            .map_err(|e| ServeError::start("cluster", e))?,
        ),
        None => None,
    };
    let mut store_failure = store
        .send(WatchFatal)
        .await
        .map_err(|e| ServeError::start("store", e))?;
    // Subscribed to ConfigChanged (reload) and EventRecorded (learning from deliveries).
    // Nodes sharing a PostgreSQL store read each other's greylist rows from it.
    let greylist = Greylist::new(&snapshot.config.greylist, store.clone())
        .shared_store(snapshot.config.store.engine == StoreEngine::Postgres)
        .start_on(&bus);
    // Subscribed to ConfigChanged (thresholds, weights) and EventRecorded (MessageMoved
    // trains each account's classifier).
    let spam = SpamScorer::start_on(&bus, store.clone(), &snapshot.config.spam);
    // Submissions per account and hour: counted in Redis across the nodes when there is one.
    let send_rate = match &snapshot.config.cluster.redis {
        Some(url) => mailroom_smtp::SendRate::shared(
            Counters::new(url).map_err(|e| ServeError::start("cluster", e))?,
        ),
        None => mailroom_smtp::SendRate::default(),
    };
    let policy = Policy {
        greylist: greylist.clone(),
        spam,
        send_rate,
        dkim: std::sync::Arc::new(mailroom_smtp::dkim::DkimSigners::new()),
    };
    // Before any session can log an event, so every configured target gets it. Held for the
    // server's life: the bus keeps only weak references.
    let webhooks = mailroom_admin::Webhooks::start(&snapshot.config, store.clone(), &bus)
        .await
        .map_err(|e| ServeError::start("webhooks", e))?;

    let (drain_switch, draining) = drain_signal();
    let tracker = ConnectionTracker::default();
    let arbiters = Arbiters::per_core();
    let listeners = ListenerSet::new(
        protocols(&store, policy, &bus),
        tracker.clone(),
        arbiters.clone(),
        draining,
        bus.clone(),
    )
    .start();
    listeners
        .send(Apply(snapshot.clone()))
        .await
        .map_err(|e| ServeError::start("listeners", e))?
        .map_err(|e| ServeError::start("listeners", e))?;
    let watcher =
        ConfigWatcher::new(source, snapshot.clone(), listeners.clone(), bus.clone()).start();
    let (admin, control) = mailroom_admin::AdminServer::start(
        &snapshot,
        mailroom_admin::AdminDeps {
            watcher: watcher.clone(),
            store: store.clone(),
            tracker: tracker.clone(),
            greylist: greylist.clone().recipient(),
            webhooks: webhooks.clone(),
        },
    )
    .map_err(|e| ServeError::start("listeners.admin", format!("cannot listen: {e}")))?;

    // Subscribed to ConfigChanged and QueueChanged (a submission queued mail). Started once
    // the listeners and the admin server are up, so that a failed start leaves no delivery (or its store reads)
    // in flight; whatever the last run left in the queue is picked up at once.
    let outbound = OutboundQueue::start_on(&bus, store.clone(), snapshot.clone())
        .map_err(|e| ServeError::start("outbound", format!("cannot set up TLS: {e}")))?;
    let bound = listeners
        .send(Bound)
        .await
        .map_err(|e| ServeError::start("listeners", e))?;
    for (kind, addr) in bound {
        println!("mailroom: {kind} listening on {addr}");
    }
    if let Some(addrs) = &snapshot.config.listeners.admin {
        for addr in addrs.socket_addrs() {
            println!("mailroom: admin listening on http://{addr}/");
        }
    }
    // Last, so that the command line finds the file only once the server takes orders.
    crate::control_file::ControlFile {
        addr: control.addr,
        secret: control.secret,
    }
    .write(&data_dir)
    .map_err(|e| ServeError::start("control file", e))?;
    let control_file = crate::control_file::RemoveOnDrop(crate::control_file::path(&data_dir));
    println!("mailroom: data in {}, ready", data_dir.display());

    let reloads = async {
        let Some(mut hangups) = hangups else {
            return std::future::pending::<std::convert::Infallible>().await;
        };
        loop {
            hangups.next().await;
            tracing::info!("SIGHUP: reloading the configuration");
            // The outcome is logged by the watcher itself.
            let _ = watcher.send(Reload).await;
        }
    };
    let failed = tokio::select! {
        signal = shutdown => {
            tracing::info!(signal, "shutting down: no longer accepting connections");
            None
        }
        fatal = store_failure.failed() => {
            tracing::error!(cause = %fatal, "The store failed; stopping the server so that it can be restarted.");
            Some(fatal)
        }
        never = reloads => match never {},
    };
    let _ = listeners.send(CloseAll).await;
    let _ = admin.send(mailroom_admin::StopAdmin).await;
    // The server takes no more orders: the command line must not find it any longer.
    drop(control_file);

    let open = tracker.open();
    tracing::info!(open, "asking sessions to finish");
    drain_switch.start();
    let deadline = Duration::from_secs(snapshot.config.server.drain_timeout_secs);
    if tokio::time::timeout(deadline, tracker.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!(
            left = tracker.open(),
            "drain deadline passed; closing the rest"
        );
    }

    // Its polling keeps it running whatever holds its address: stopped here, while the
    // runtime still runs, so no delivery or store read of it is left for the teardown.
    let _ = outbound.send(StopQueue).await;

    tracing::info!("flushing the store");
    match store.send(Flush).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "store flush failed"),
        Err(e) => tracing::error!(error = %e, "store unavailable at shutdown"),
    }
    arbiters.stop_all();
    tracing::info!("stopped");
    match failed {
        None => Ok(()),
        Some(fatal) => Err(ServeError::StoreFailed(fatal)),
    }
}
