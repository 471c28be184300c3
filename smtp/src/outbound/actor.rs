//! The `OutboundQueue` actor: reads due recipients from the store, delivers each message to
//! each of its recipient domains over one connection (MX hosts in order, or the relay),
//! records the results and the DSNs they call for in one store write, and schedules retries.
//! A domain with an MTA-STS policy in `enforce` mode (RFC 8461) gets mail only at the MX
//! hosts the policy names, over STARTTLS whose certificate verifies; any failure of that is
//! a temporary failure of the host (§5), never a fallback to clear text or other hosts.
//!
//! Wake-ups: `QueueChanged` on the bus (a submission or an admin retry through the store),
//! the end of a delivery, and a poll every `outbound.poll_secs` (which also catches due
//! retries and changes the CLI made directly on the database).
//!
//! The no-resend guarantee: a recipient is sent only while its row is `queued`, and a row
//! the destination accepted (250 after DATA) is marked delivered by the first store write
//! after that reply. A crash after the commit never resends; a crash between the 250 and the
//! commit (milliseconds) resends once, the duplicate RFC 5321 §6.1 prefers to a loss.
//! Messages in flight are excluded from the scans, so one process never sends a row twice
//! at once. On a store that several nodes share (PostgreSQL), what a scan returns is leased
//! to this node until its results are recorded (or the lease runs out, if the node dies), so
//! no other node sends it meanwhile; a message read but not started (connection limits) stays
//! this node's, and its next scan gets it again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use mailroom_shared::bus::Bus;
use mailroom_shared::metrics::{DeliveryResult, metrics};
use mailroom_shared::msg::ConfigChanged;
use mailroom_shared::queue::QueueChanged;
use mailroom_shared::snapshot::Snapshot;
use mailroom_store::MailboxStore;
use mailroom_store::outbound::{
    AttemptResult, DueQueue, QueuedMessage, QueuedRecipient, RecordAttempts,
};

use super::client::{self, HostError, RcptOutcome, Transaction};
use super::dsn::{Action, RecipientReport, Report};
use super::mta_sts::{self, Mode, Policies};
use super::mx::{self, MxError};
use super::schedule::{Next, Schedule, jitter_random};

/// The queue actor. Start with [`OutboundQueue::start_on`].
pub struct OutboundQueue {
    store: Addr<MailboxStore>,
    snapshot: Arc<Snapshot>,
    tls: Arc<rustls::ClientConfig>,
    /// Verifies certificates (system roots + `outbound.extra_ca_file`), for MTA-STS.
    verified: Arc<rustls::ClientConfig>,
    policies: Policies,
    /// Message id → deliveries (one per domain) still running.
    in_flight: HashMap<i64, usize>,
    /// Domain → open connections.
    per_domain: HashMap<String, u32>,
    connections: u32,
    scanning: bool,
    rescan: bool,
    poll: Option<SpawnHandle>,
}

impl OutboundQueue {
    /// Start on the current arbiter, subscribed on `bus` to reloads and queue changes.
    pub fn start_on(
        bus: &Bus,
        store: Addr<MailboxStore>,
        snapshot: Arc<Snapshot>,
    ) -> Result<Addr<OutboundQueue>, rustls::Error> {
        let tls = client::opportunistic_tls()?;
        let verified = verifying_tls(&snapshot.config.outbound.extra_ca_file)?;
        let addr = OutboundQueue {
            store,
            snapshot,
            tls,
            verified,
            policies: Policies::default(),
            in_flight: HashMap::new(),
            per_domain: HashMap::new(),
            connections: 0,
            scanning: false,
            rescan: false,
            poll: None,
        }
        .start();
        bus.subscribe::<ConfigChanged>(addr.clone().recipient());
        bus.subscribe::<QueueChanged>(addr.clone().recipient());
        Ok(addr)
    }

    fn schedule_poll(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.poll.take() {
            ctx.cancel_future(handle);
        }
        let every = Duration::from_secs(self.snapshot.config.outbound.poll_secs.max(1));
        self.poll = Some(ctx.run_interval(every, |this, ctx| this.scan(ctx)));
    }

    /// Ask the store for due work, unless a scan is already running (then scan again after).
    fn scan(&mut self, ctx: &mut Context<Self>) {
        if self.scanning {
            self.rescan = true;
            return;
        }
        let config = &self.snapshot.config.outbound;
        let mut free = config.max_connections.saturating_sub(self.connections) as usize;
        if config.relay.is_some() {
            // Everything shares the relay's per-domain slots: read no more than can start.
            let busy = self.per_domain.get("").copied().unwrap_or(0);
            free = free.min(config.max_connections_per_domain.saturating_sub(busy) as usize);
        }
        if free == 0 {
            return;
        }
        self.scanning = true;
        let due = self.store.send(DueQueue {
            now: unix_now(),
            limit: free,
            exclude: self.in_flight.keys().copied().collect(),
            lease_secs: i64::try_from(config.lease_secs).unwrap_or(i64::MAX),
        });
        ctx.spawn(due.into_actor(self).map(|answer, this, ctx| {
            this.scanning = false;
            match answer {
                Ok(Ok(messages)) => {
                    for message in messages {
                        this.start_message(message, ctx);
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Could not read the outbound queue; will retry.")
                }
                Err(e) => tracing::warn!(error = %e, "Store unavailable for the outbound queue."),
            }
            if std::mem::take(&mut this.rescan) {
                this.scan(ctx);
            }
        }));
    }

    /// Start one delivery per destination domain of `message`, if the limits allow all.
    fn start_message(&mut self, message: QueuedMessage, ctx: &mut Context<Self>) {
        if self.in_flight.contains_key(&message.id) {
            return;
        }
        let config = &self.snapshot.config.outbound;
        let mut groups: Vec<(String, Vec<QueuedRecipient>)> = Vec::new();
        for rcpt in &message.recipients {
            // A relay takes everything: one connection for the whole message.
            let key = if config.relay.is_some() {
                String::new()
            } else {
                rcpt.domain.clone()
            };
            match groups.iter_mut().find(|(d, _)| *d == key) {
                Some((_, list)) => list.push(rcpt.clone()),
                None => groups.push((key, vec![rcpt.clone()])),
            }
        }
        let fits = self.connections as usize + groups.len() <= config.max_connections as usize
            && groups.iter().all(|(d, _)| {
                self.per_domain.get(d).copied().unwrap_or(0) < config.max_connections_per_domain
            });
        if !fits {
            return; // the next scan after a delivery ends picks it up
        }
        self.in_flight.insert(message.id, groups.len());
        let message = Arc::new(message);
        for (domain, recipients) in groups {
            self.connections += 1;
            *self.per_domain.entry(domain.clone()).or_insert(0) += 1;
            let job = Job {
                message: message.clone(),
                domain: domain.clone(),
                recipients,
                snapshot: self.snapshot.clone(),
                tls: self.tls.clone(),
                verified: self.verified.clone(),
                policies: self.policies.clone(),
                store: self.store.clone(),
            };
            let id = message.id;
            ctx.spawn(job.run().into_actor(self).map(move |(), this, ctx| {
                this.connections = this.connections.saturating_sub(1);
                if let Some(n) = this.per_domain.get_mut(&domain) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        this.per_domain.remove(&domain);
                    }
                }
                if let Some(left) = this.in_flight.get_mut(&id) {
                    *left -= 1;
                    if *left == 0 {
                        this.in_flight.remove(&id);
                    }
                }
                this.scan(ctx);
            }));
        }
    }
}

impl Actor for OutboundQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.schedule_poll(ctx);
        // Whatever a previous run left queued is due now or at its time.
        self.scan(ctx);
    }
}

/// Stop delivering (server shutdown). Deliveries in flight are abandoned: their recipients
/// stay queued and are sent after the restart.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopQueue;

impl Handler<StopQueue> for OutboundQueue {
    type Result = ();
    fn handle(&mut self, _: StopQueue, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<QueueChanged> for OutboundQueue {
    type Result = ();
    fn handle(&mut self, _: QueueChanged, ctx: &mut Context<Self>) {
        self.scan(ctx);
    }
}

impl Handler<ConfigChanged> for OutboundQueue {
    type Result = ();
    fn handle(&mut self, msg: ConfigChanged, ctx: &mut Context<Self>) {
        let poll_changed =
            msg.0.config.outbound.poll_secs != self.snapshot.config.outbound.poll_secs;
        let extra_ca = &msg.0.config.outbound.extra_ca_file;
        if *extra_ca != self.snapshot.config.outbound.extra_ca_file {
            match verifying_tls(extra_ca) {
                Ok(verified) => self.verified = verified,
                Err(e) => {
                    tracing::error!(error = %e, "Keeping the previous CA certificates for MTA-STS.")
                }
            }
        }
        self.snapshot = msg.0;
        if poll_changed {
            self.schedule_poll(ctx);
        }
    }
}

/// The verifying TLS config; a CA file that does not parse is an error (the config check
/// only saw that it exists).
fn verifying_tls(extra_ca_file: &str) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    mta_sts::verifying_tls(extra_ca_file).map_err(rustls::Error::General)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One message to one domain (or to the relay).
struct Job {
    message: Arc<QueuedMessage>,
    /// Empty for the relay.
    domain: String,
    recipients: Vec<QueuedRecipient>,
    snapshot: Arc<Snapshot>,
    tls: Arc<rustls::ClientConfig>,
    verified: Arc<rustls::ClientConfig>,
    policies: Policies,
    store: Addr<MailboxStore>,
}

impl Job {
    async fn run(self) {
        let outcomes = self.attempt().await;
        let now = unix_now();
        let config = &self.snapshot.config.outbound;
        let schedule = Schedule::from_config(config);
        let mut results = Vec::with_capacity(outcomes.len());
        let (mut failed, mut delayed, mut delivered) = (Vec::new(), Vec::new(), Vec::new());
        for (rcpt, outcome) in self.recipients.iter().zip(outcomes) {
            let report = |action, diagnostic: &str| RecipientReport {
                address: rcpt.address.clone(),
                orcpt: rcpt.orcpt.clone(),
                action,
                diagnostic: diagnostic.to_string(),
            };
            match outcome {
                RcptOutcome::Delivered(reply) => {
                    tracing::info!(queue_id = self.message.id, recipient = %rcpt.address, %reply, "Delivered.");
                    if rcpt.notify.success {
                        delivered.push(report(Action::Delivered, &reply));
                    }
                    metrics().delivery_attempt(DeliveryResult::Delivered, &rcpt.address);
                    results.push((rcpt.id, AttemptResult::Delivered(reply)));
                }
                RcptOutcome::Permanent(error) => {
                    tracing::info!(queue_id = self.message.id, recipient = %rcpt.address, %error, "Delivery failed permanently.");
                    metrics().delivery_attempt(DeliveryResult::Failed, &rcpt.address);
                    if rcpt.notify.failure {
                        failed.push(report(Action::Failed, &error));
                    }
                    results.push((rcpt.id, AttemptResult::Failed(error)));
                }
                RcptOutcome::Temporary(error) => {
                    match schedule.next(
                        rcpt.attempts + 1,
                        self.message.created,
                        now,
                        jitter_random(),
                    ) {
                        Next::RetryAt(next_attempt) => {
                            tracing::info!(queue_id = self.message.id, recipient = %rcpt.address, %error, next_attempt, "Delivery deferred.");
                            metrics().delivery_attempt(DeliveryResult::Deferred, &rcpt.address);
                            let notify_delay = rcpt.notify.delay
                                && !rcpt.delay_notified
                                && now - self.message.created >= config.delay_notify_secs as i64;
                            if notify_delay {
                                delayed.push(report(Action::Delayed, &error));
                            }
                            results.push((
                                rcpt.id,
                                AttemptResult::Deferred {
                                    error,
                                    next_attempt,
                                    delay_notified: notify_delay,
                                },
                            ));
                        }
                        Next::Expired => {
                            let error = format!("delivery time expired; last error: {error}");
                            tracing::info!(queue_id = self.message.id, recipient = %rcpt.address, %error, "Delivery expired.");
                            metrics().delivery_attempt(DeliveryResult::Failed, &rcpt.address);
                            if rcpt.notify.failure {
                                failed.push(report(Action::Failed, &error));
                            }
                            results.push((rcpt.id, AttemptResult::Failed(error)));
                        }
                    }
                }
            }
        }
        let mut dsns = Vec::new();
        // RFC 3461 §6.2, RFC 5321 §6.1: never a DSN for a message with a null sender.
        if let (false, Some(account_id)) = (self.message.sender.is_empty(), self.message.account_id)
        {
            for group in [failed, delayed, delivered] {
                if group.is_empty() {
                    continue;
                }
                let raw = Report {
                    reporting_mta: &self.snapshot.config.server.hostname,
                    sender: &self.message.sender,
                    envid: self.message.envid.as_deref(),
                    arrival: self.message.created,
                    ret: self.message.ret,
                    recipients: group,
                    original: &self.message.body,
                    now,
                }
                .build();
                dsns.push((account_id, Arc::from(raw)));
            }
        }
        let record = RecordAttempts { results, dsns };
        // The results must land: a delivered row left queued would be sent again.
        for attempt in 0..5u64 {
            match self.store.send(record.clone()).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => {
                    tracing::error!(queue_id = self.message.id, error = %e, attempt, "Could not record delivery results.")
                }
                Err(e) => {
                    tracing::error!(queue_id = self.message.id, error = %e, attempt, "Store unavailable to record delivery results.")
                }
            }
            tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
        }
    }

    /// Try the hosts in order; per-recipient outcomes in the order of `self.recipients`.
    async fn attempt(&self) -> Vec<RcptOutcome> {
        let config = &self.snapshot.config.outbound;
        let all = |o: RcptOutcome| vec![o; self.recipients.len()];
        let (mut hosts, port) = match &config.relay {
            Some(relay) => match relay.rsplit_once(':') {
                Some((host, port)) => (
                    vec![host.trim_matches(['[', ']']).to_string()],
                    port.parse().unwrap_or(25),
                ),
                None => return all(RcptOutcome::Temporary(format!("bad relay `{relay}`"))),
            },
            None => match mx::resolve(self.snapshot.dns.resolver(), &self.domain).await {
                Ok(hosts) => (hosts, config.mx_port),
                Err(MxError::Permanent(e)) => {
                    return all(RcptOutcome::Permanent(format!("550 5.1.2 {e}")));
                }
                Err(MxError::Temporary(e)) => return all(RcptOutcome::Temporary(e)),
            },
        };
        // RFC 8461 §5: only for MX delivery; a relay is the operator's own choice.
        let mut enforce = false;
        if config.relay.is_none() && config.mta_sts {
            let fetch = mta_sts::Fetch {
                resolver: self.snapshot.dns.resolver(),
                tls: &self.verified,
                port: config.mta_sts_port,
                timeout: Duration::from_secs(config.command_timeout_secs.min(60)),
            };
            if let Some(policy) = self.policies.get(&self.domain, &fetch).await
                && policy.mode == Mode::Enforce
            {
                // RFC 8461 §4.1: MX hosts the policy does not name are not tried.
                hosts.retain(|h| policy.matches(h));
                if hosts.is_empty() {
                    return all(RcptOutcome::Temporary(format!(
                        "MTA-STS: no MX host of {} matches its enforced policy (mx: {})",
                        self.domain,
                        policy.mx.join(", ")
                    )));
                }
                enforce = true;
            }
        }
        let tls = if enforce { &self.verified } else { &self.tls };
        let addresses: Vec<String> = self.recipients.iter().map(|r| r.address.clone()).collect();
        let auth = match (&config.relay_username, &config.relay_password) {
            (Some(user), Some(password)) if config.relay.is_some() => {
                Some((user.as_str(), password.expose()))
            }
            _ => None,
        };
        let mut transaction = Transaction {
            helo: &self.snapshot.config.server.hostname,
            sender: &self.message.sender,
            recipients: &addresses,
            body: &self.message.body,
            auth,
            timeout: Duration::from_secs(config.command_timeout_secs),
            starttls: true,
            require_tls: enforce,
        };
        let connect_timeout = Duration::from_secs(config.connect_timeout_secs);
        let mut last = HostError {
            text: "no host to try".into(),
            permanent: false,
            tls_failed: false,
        };
        for host in &hosts {
            let ips = match mx::addresses(self.snapshot.dns.resolver(), host).await {
                Ok(ips) => ips,
                Err(MxError::Permanent(e) | MxError::Temporary(e)) => {
                    last = HostError {
                        text: e,
                        permanent: false,
                        tls_failed: false,
                    };
                    continue;
                }
            };
            for ip in ips {
                let addr = SocketAddr::new(ip, port);
                transaction.starttls = true;
                let mut tried =
                    client::deliver(addr, host, connect_timeout, tls, &transaction).await;
                // RFC 7435 §3: a broken TLS stack at the destination must not stop the mail;
                // the same host again in clear text (never for a relay login, never under
                // MTA-STS enforce, RFC 8461 §5: there it is a failure of this host).
                if matches!(&tried, Err(e) if e.tls_failed)
                    && transaction.auth.is_none()
                    && !enforce
                {
                    tracing::info!(%host, %addr, "STARTTLS handshake failed; retrying without TLS.");
                    transaction.starttls = false;
                    tried = client::deliver(addr, host, connect_timeout, tls, &transaction).await;
                }
                match tried {
                    Ok(outcomes) => return outcomes,
                    Err(e) if e.permanent => return all(RcptOutcome::Permanent(e.text)),
                    Err(e) => {
                        tracing::debug!(%host, %addr, error = %e.text, "Host failed; trying the next.");
                        // Under enforce the error names MTA-STS first, for the queue listing.
                        let text = if enforce {
                            let why = e.text.strip_prefix("MTA-STS: ").unwrap_or(&e.text);
                            format!("MTA-STS: {host}: {why}")
                        } else {
                            format!("{host}: {}", e.text)
                        };
                        last = HostError { text, ..e };
                    }
                }
            }
        }
        all(RcptOutcome::Temporary(last.text))
    }
}
