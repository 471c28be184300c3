//! The `Greylist` actor: defers the first attempt of an unknown (client network, sender,
//! recipient) triplet with `451 4.7.1` and accepts a retry after the delay, on the theory that
//! real mail servers retry and most spam engines do not.
//!
//! - A triplet is the client's /24 (IPv4) or /64 (IPv6), the reverse-path and the recipient,
//!   both in their canonical form (lowercase, domains as IDNA A-labels). A retry at least
//!   `delay_secs` after the first attempt and within `retry_window_secs` after that passes;
//!   later mail of a passed triplet passes at once until it has been quiet for
//!   `expire_days`. A triplet not retried in its window starts a new round.
//! - Never greylisted: configured networks, authenticated sessions (the session does not ask),
//!   a sender that delivered before from the same network, and — when the caller vouches for
//!   it with an SPF or DKIM pass — a sender domain that delivered before.
//! - It learns from `EventData::Delivered` on the bus: the delivered triplets count as passed,
//!   and the sender (per network) and its domain become known.
//! - The decision logic is [`State`], pure with the time passed in. The actor holds the most
//!   recently seen rows in memory (at most [`MAX_HOT_ROWS`] of each kind), asks the store for
//!   what it may have evicted, and writes every change through to the store, so the state
//!   survives restarts. Writes that start a round or pass a triplet are durable before the
//!   reply; refreshing `last_seen` of a passed triplet is not waited for.
//! - A store failure never blocks mail: the actor then lets the recipient through and logs.
//! - When the store is shared by several nodes (`store.engine = "postgres"`,
//!   [`Greylist::shared_store`]), other nodes change rows behind this one's memory: a round
//!   started on node A must count when the retry lands on node B, and an admin's edit on one
//!   node must hold on all. Memory then answers nothing alone: every check reads the
//!   triplet (and the known senders) from the store, which wins over memory. Deliveries are
//!   still learned only on the node that took them (`EventRecorded` does not cross nodes),
//!   and written to the store, where the others read them.
//!
//! This module must not reply to clients: the session turns a [`Verdict`] into SMTP.

use actix::prelude::*;
use mailroom_config::Network;
use mailroom_shared::address::{canonical, canonical_domain};
use mailroom_shared::bus::Bus;
use mailroom_shared::events::{Delivered, EventData, EventRecorded};
use mailroom_shared::msg::{ConfigChanged, EditGreylist, GreylistAction};
use mailroom_store::MailboxStore;
use mailroom_store::greylist::{
    ExpireGreylist, GreylistRows, KnownSender, LoadGreylist, LookupGreylist, SaveGreylist, Triplet,
    TripletState,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Most triplets (and, separately, known senders) held in memory; older ones are read back
/// from the store when they are asked about.
pub const MAX_HOT_ROWS: usize = 100_000;
/// How often expired rows are dropped from memory and the store.
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);
/// RFC-free convention (postgrey, mox): a client's neighbours in its /24 or /64 are the same
/// sender farm, so retries from another address of the pool still count.
const V4_PREFIX: u8 = 24;
const V6_PREFIX: u8 = 64;

/// The answer for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accept the recipient.
    Pass,
    /// Refuse it for now; a retry after this many seconds will pass.
    Defer {
        /// Seconds until the triplet's delay is over (at least 1).
        retry_after_secs: u64,
    },
}

/// Is this recipient greylisted? Sent by the SMTP connection driver after the store accepted
/// a RCPT on the MX listener; handled by [`Greylist`]. Never fails: when the greylist cannot
/// decide (store down), the answer is [`Verdict::Pass`].
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "Verdict")]
pub struct Check {
    /// The client's address.
    pub client: IpAddr,
    /// The reverse-path; empty for `<>`.
    pub sender: String,
    /// The recipient.
    pub recipient: String,
    /// A domain that passed SPF or DKIM for this message, if the caller checked: a domain
    /// that delivered before is then not greylisted.
    pub authenticated_domain: Option<String>,
}

/// The `[greylist]` settings in the form the decisions use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub enabled: bool,
    pub delay_secs: i64,
    pub retry_window_secs: i64,
    pub expire_secs: i64,
    pub whitelist: Vec<Network>,
}

impl From<&mailroom_config::Greylist> for Settings {
    fn from(c: &mailroom_config::Greylist) -> Self {
        let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Self {
            enabled: c.enabled,
            delay_secs: secs(c.delay_secs),
            retry_window_secs: secs(c.retry_window_secs),
            expire_secs: secs(c.expire_days.saturating_mul(86_400)),
            whitelist: c.networks(),
        }
    }
}

/// The client network of a triplet: /24 for IPv4, /64 for IPv6.
pub fn client_net(ip: IpAddr) -> String {
    let ip = ip.to_canonical();
    let prefix = if ip.is_ipv4() { V4_PREFIX } else { V6_PREFIX };
    Network::new(ip, prefix).to_string()
}

/// The domain of a reverse-path, canonical (lowercase, A-labels); `None` for `<>` or an
/// address without `@`.
fn sender_domain(sender: &str) -> Option<String> {
    sender
        .rsplit_once('@')
        .map(|(_, d)| canonical_domain(d))
        .filter(|d| !d.is_empty())
}

/// What [`State::check`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The verdict, and the triplet state to store; `durable` when the reply must wait for it.
    Done {
        verdict: Verdict,
        save: Option<(Triplet, TripletState)>,
        durable: bool,
    },
    /// Memory does not hold everything: ask the store this, [`State::absorb`] the answer and
    /// check again with `looked_up`.
    Lookup(LookupGreylist),
}

impl Step {
    fn pass() -> Self {
        Step::Done {
            verdict: Verdict::Pass,
            save: None,
            durable: false,
        }
    }
}

/// The greylist's memory and decisions; no I/O, time passed in (unix seconds).
#[derive(Debug)]
pub struct State {
    settings: Settings,
    triplets: HashMap<Triplet, TripletState>,
    known: HashMap<KnownSender, i64>,
    /// Memory holds every stored triplet (so a missing one is new).
    all_triplets: bool,
    /// Memory holds every stored known sender.
    all_known: bool,
    /// Other nodes write the same store: every check reads it, and what it says wins.
    shared: bool,
    cap: usize,
}

impl State {
    /// Empty state that has seen the whole (empty) store; `cap` rows of each kind in memory.
    pub fn new(settings: Settings, cap: usize) -> Self {
        Self {
            settings,
            triplets: HashMap::new(),
            known: HashMap::new(),
            all_triplets: true,
            all_known: true,
            shared: false,
            cap: cap.max(1),
        }
    }

    /// Other nodes write the same store: from now on every check looks its rows up, and the
    /// store's answer replaces what memory held.
    pub fn share_store(&mut self) {
        self.shared = true;
        self.all_triplets = false;
        self.all_known = false;
    }

    /// New settings (SIGHUP); the state stays.
    pub fn configure(&mut self, settings: Settings) {
        self.settings = settings;
    }

    /// Take in rows loaded at start.
    pub fn load(&mut self, rows: GreylistRows) {
        self.triplets.extend(rows.triplets);
        self.known.extend(rows.known);
        self.all_triplets = rows.all_triplets && !self.shared;
        self.all_known = rows.all_known && !self.shared;
        self.evict();
    }

    /// Take in the answer to a [`Step::Lookup`], then call [`State::check`] with `looked_up`;
    /// memory wins over what the store said, as it
    /// may be newer (a write still in flight).
    pub fn absorb(
        &mut self,
        triplet: Triplet,
        found: Option<TripletState>,
        known: Vec<(KnownSender, i64)>,
    ) {
        if self.shared {
            // Another node may have passed, restarted or (an admin) deleted the row; only a
            // `last_seen` refresh of ours may still be on its way to the store.
            match found {
                Some(s) => {
                    let last_seen = self
                        .triplets
                        .get(&triplet)
                        .map_or(s.last_seen, |m| m.last_seen.max(s.last_seen));
                    self.triplets
                        .insert(triplet, TripletState { last_seen, ..s });
                }
                None => {
                    self.triplets.remove(&triplet);
                }
            }
            for (k, seen) in known {
                let held = self.known.entry(k).or_insert(seen);
                *held = (*held).max(seen);
            }
            return;
        }
        if let Some(s) = found {
            self.triplets.entry(triplet).or_insert(s);
        }
        for (k, seen) in known {
            self.known.entry(k).or_insert(seen);
        }
        // No eviction here: the rows just read are the ones the next check needs (it evicts
        // after taking its decision).
    }

    /// Decide for one recipient at `now`. With `looked_up`, what memory lacks is not stored.
    pub fn check(&mut self, q: &Check, now: i64, looked_up: bool) -> Step {
        let s = &self.settings;
        if !s.enabled || s.whitelist.iter().any(|n| n.contains(q.client)) {
            return Step::pass();
        }
        let net = client_net(q.client);
        let sender = canonical(&q.sender);
        let triplet = Triplet {
            net: net.clone(),
            sender: sender.clone(),
            recipient: canonical(&q.recipient),
        };
        let mut wanted = Vec::new();
        if !sender.is_empty() {
            wanted.push(KnownSender::Sender {
                net,
                address: sender,
            });
        }
        if let Some(d) = &q.authenticated_domain {
            let d = canonical_domain(d);
            if !d.is_empty() {
                wanted.push(KnownSender::Domain(d));
            }
        }
        if !looked_up {
            if self.shared {
                return Step::Lookup(LookupGreylist {
                    triplet,
                    known: wanted,
                });
            }
            let missing_triplet = !self.all_triplets && !self.triplets.contains_key(&triplet);
            let missing_known =
                !self.all_known && wanted.iter().any(|k| !self.known.contains_key(k));
            if missing_triplet || missing_known {
                return Step::Lookup(LookupGreylist {
                    triplet,
                    known: wanted,
                });
            }
        }
        let expire = self.settings.expire_secs;
        if wanted
            .iter()
            .any(|k| self.known.get(k).is_some_and(|&seen| now - seen <= expire))
        {
            return Step::pass();
        }
        let (verdict, state, durable) = decide(&self.settings, self.triplets.get(&triplet), now);
        self.triplets.insert(triplet.clone(), state);
        self.evict();
        Step::Done {
            verdict,
            save: Some((triplet, state)),
            durable,
        }
    }

    /// Learn from a delivery at `now`: its triplets passed, its sender and domain are known.
    /// Returns what to store.
    pub fn learn(&mut self, d: &Delivered, now: i64) -> SaveGreylist {
        let mut save = SaveGreylist::default();
        if !self.settings.enabled {
            return save;
        }
        let net = client_net(d.client);
        let sender = canonical(&d.envelope.mail_from);
        for rcpt in &d.envelope.rcpt_to {
            let triplet = Triplet {
                net: net.clone(),
                sender: sender.clone(),
                recipient: canonical(rcpt),
            };
            let old = self.triplets.get(&triplet);
            let state = TripletState {
                first_seen: old.map_or(now, |s| s.first_seen),
                last_seen: now,
                passed_at: Some(old.and_then(|s| s.passed_at).unwrap_or(now)),
                count: old.map_or(1, |s| s.count),
            };
            self.triplets.insert(triplet.clone(), state);
            save.triplets.push((triplet, state));
        }
        if !sender.is_empty() {
            let mut learned = vec![KnownSender::Sender {
                net,
                address: sender.clone(),
            }];
            learned.extend(sender_domain(&sender).map(KnownSender::Domain));
            for k in learned {
                self.known.insert(k.clone(), now);
                save.known.push((k, now));
            }
        }
        self.evict();
        save
    }

    /// Forget what expired by `now`; returns the matching store sweep.
    pub fn expire(&mut self, now: i64) -> ExpireGreylist {
        let s = &self.settings;
        let pending_before = now.saturating_sub(s.delay_secs.saturating_add(s.retry_window_secs));
        let passed_before = now.saturating_sub(s.expire_secs);
        self.triplets.retain(|_, t| match t.passed_at {
            None => t.first_seen >= pending_before,
            Some(_) => t.last_seen >= passed_before,
        });
        self.known.retain(|_, &mut seen| seen >= passed_before);
        ExpireGreylist {
            pending_before,
            passed_before,
        }
    }

    /// The triplet's state if memory holds it; when it does not and `all_triplets` is
    /// false, the store may still have it.
    fn in_memory(&self, t: &Triplet) -> Option<TripletState> {
        self.triplets.get(t).copied()
    }

    /// An admin's change to triplet `t`, whose stored state is `old`, at `now`: what to write,
    /// or `None` when there is no such entry.
    pub fn edit(
        &mut self,
        t: &Triplet,
        action: GreylistAction,
        old: Option<TripletState>,
        now: i64,
    ) -> Option<SaveGreylist> {
        let old = old?;
        let mut save = SaveGreylist::default();
        match action {
            GreylistAction::Delete => {
                self.triplets.remove(t);
                save.forget.push(t.clone());
            }
            GreylistAction::Whitelist => {
                let passed = TripletState {
                    last_seen: now,
                    passed_at: Some(now),
                    ..old
                };
                self.triplets.insert(t.clone(), passed);
                self.evict();
                save.triplets.push((t.clone(), passed));
            }
        }
        Some(save)
    }

    /// Rows held in memory (triplets, known senders).
    pub fn held(&self) -> (usize, usize) {
        (self.triplets.len(), self.known.len())
    }

    /// Keep memory bounded: over the cap, keep the most recently seen nine tenths. Memory
    /// then no longer holds every stored row, so misses are looked up.
    fn evict(&mut self) {
        let keep = self.cap - self.cap / 10;
        if self.triplets.len() > self.cap {
            keep_newest(&mut self.triplets, keep, |t| t.last_seen);
            self.all_triplets = false;
        }
        if self.known.len() > self.cap {
            keep_newest(&mut self.known, keep, |&seen| seen);
            self.all_known = false;
        }
    }
}

/// Drop all but the `keep` entries of `map` with the latest `seen` (runs once per tenth of
/// the cap of inserts, so its sort is amortised).
fn keep_newest<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    keep: usize,
    seen: impl Fn(&V) -> i64,
) {
    let mut by_age: Vec<(i64, K)> = map.iter().map(|(k, v)| (seen(v), k.clone())).collect();
    by_age.sort_unstable_by_key(|&(seen, _)| std::cmp::Reverse(seen));
    for (_, k) in by_age.into_iter().skip(keep) {
        map.remove(&k);
    }
}

/// One triplet's verdict at `now`, its new state, and whether the reply waits for the write
/// (it does when a round starts or the triplet passes: those must survive a crash).
fn decide(s: &Settings, old: Option<&TripletState>, now: i64) -> (Verdict, TripletState, bool) {
    if let Some(old) = old {
        let seen = TripletState {
            last_seen: now,
            count: old.count.saturating_add(1),
            ..*old
        };
        match old.passed_at {
            Some(_) if now - old.last_seen <= s.expire_secs => {
                return (Verdict::Pass, seen, false);
            }
            Some(_) => {} // quiet for too long: a new round
            None => {
                let ready = old.first_seen.saturating_add(s.delay_secs);
                if now < ready {
                    let retry_after_secs = u64::try_from(ready - now).unwrap_or(1).max(1);
                    return (Verdict::Defer { retry_after_secs }, seen, false);
                }
                if now <= ready.saturating_add(s.retry_window_secs) {
                    let passed = TripletState {
                        passed_at: Some(now),
                        ..seen
                    };
                    return (Verdict::Pass, passed, true);
                }
                // Retried too late: a new round.
            }
        }
    }
    let fresh = TripletState {
        first_seen: now,
        last_seen: now,
        passed_at: None,
        count: 1,
    };
    let retry_after_secs = u64::try_from(s.delay_secs).unwrap_or(u64::MAX).max(1);
    (Verdict::Defer { retry_after_secs }, fresh, true)
}

/// Now in unix seconds.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A clock in unix seconds; tests pass their own.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The greylist actor; one per process, started with the store and the bus.
pub struct Greylist {
    state: State,
    store: Addr<MailboxStore>,
    clock: Clock,
}

impl Greylist {
    /// A greylist over `store` with `config`, on the system clock.
    pub fn new(config: &mailroom_config::Greylist, store: Addr<MailboxStore>) -> Self {
        Self::with_clock(config, store, Arc::new(unix_now), MAX_HOT_ROWS)
    }

    /// Other nodes share the store (`store.engine = "postgres"`): read it on every check.
    pub fn shared_store(mut self, shared: bool) -> Self {
        if shared {
            self.state.share_store();
        }
        self
    }

    /// Like [`Greylist::new`] with a clock and a memory cap of `cap` rows per kind (tests).
    pub fn with_clock(
        config: &mailroom_config::Greylist,
        store: Addr<MailboxStore>,
        clock: Clock,
        cap: usize,
    ) -> Self {
        Self {
            state: State::new(Settings::from(config), cap),
            store,
            clock,
        }
    }

    /// Start on the current arbiter, subscribed on `bus` to reloads and recorded events.
    pub fn start_on(self, bus: &Bus) -> Addr<Greylist> {
        let addr = self.start();
        bus.subscribe::<ConfigChanged>(addr.clone().recipient());
        bus.subscribe::<EventRecorded>(addr.clone().recipient());
        addr
    }

    /// Store `save`; the returned future resolves once it is durable (or failed, logged).
    fn save(&self, save: SaveGreylist) -> impl Future<Output = ()> + 'static {
        let sent = self.store.send(save);
        async move {
            match sent.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "Could not store greylist state."),
                Err(e) => tracing::warn!(error = %e, "Store unavailable for greylist state."),
            }
        }
    }

    /// Carry out a finished step: write its state (waiting when it must be durable).
    fn finish(&self, step: Step) -> ResponseActFuture<Self, Verdict> {
        let Step::Done {
            verdict,
            save,
            durable,
        } = step
        else {
            // `check` with `looked_up` never asks again.
            return Box::pin(actix::fut::ready(Verdict::Pass));
        };
        let Some(row) = save else {
            return Box::pin(actix::fut::ready(verdict));
        };
        let write = self.save(SaveGreylist {
            triplets: vec![row],
            ..SaveGreylist::default()
        });
        if durable {
            Box::pin(
                async move {
                    write.await;
                    verdict
                }
                .into_actor(self),
            )
        } else {
            actix_rt::spawn(write);
            Box::pin(actix::fut::ready(verdict))
        }
    }
}

impl Actor for Greylist {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Checks wait until the stored state is in memory (`wait` holds the mailbox).
        let load = self.store.send(LoadGreylist {
            limit: self.state.cap,
        });
        ctx.wait(load.into_actor(self).map(|answer, act, _| match answer {
            Ok(Ok(rows)) => {
                act.state.load(rows);
                let (triplets, known) = act.state.held();
                tracing::info!(triplets, known, "Greylist state loaded.");
            }
            // Without the stored rows, every triplet not in memory is looked up instead.
            Ok(Err(e)) => {
                act.state.all_triplets = false;
                act.state.all_known = false;
                tracing::warn!(error = %e, "Could not load greylist state; looking rows up as needed.");
            }
            Err(e) => {
                act.state.all_triplets = false;
                act.state.all_known = false;
                tracing::warn!(error = %e, "Store unavailable for the greylist load.");
            }
        }));
        ctx.run_interval(EXPIRE_EVERY, |act, _| {
            let sweep = act.state.expire((act.clock)());
            let sent = act.store.send(sweep);
            actix_rt::spawn(async move {
                match sent.await {
                    Ok(Ok(n)) if n > 0 => tracing::info!(removed = n, "Expired greylist rows."),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "Greylist expiry failed."),
                    Err(e) => tracing::warn!(error = %e, "Store unavailable for greylist expiry."),
                }
            });
        });
    }
}

impl Handler<Check> for Greylist {
    type Result = ResponseActFuture<Self, Verdict>;

    fn handle(&mut self, q: Check, _: &mut Context<Self>) -> Self::Result {
        let step = self.state.check(&q, (self.clock)(), false);
        let Step::Lookup(lookup) = step else {
            return self.finish(step);
        };
        let triplet = lookup.triplet.clone();
        Box::pin(
            self.store
                .send(lookup)
                .into_actor(self)
                .then(move |answer, act, _| match answer {
                    Ok(Ok((found, known))) => {
                        act.state.absorb(triplet, found, known);
                        let step = act.state.check(&q, (act.clock)(), true);
                        act.finish(step)
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "Greylist lookup failed; letting the recipient through.");
                        Box::pin(actix::fut::ready(Verdict::Pass))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Store unavailable for a greylist lookup; letting the recipient through.");
                        Box::pin(actix::fut::ready(Verdict::Pass))
                    }
                }),
        )
    }
}

impl Handler<EventRecorded> for Greylist {
    type Result = ();

    fn handle(&mut self, event: EventRecorded, _: &mut Context<Self>) {
        let EventData::Delivered(delivered) = &event.data else {
            return;
        };
        let save = self.state.learn(delivered, (self.clock)());
        if !save.triplets.is_empty() || !save.known.is_empty() {
            actix_rt::spawn(self.save(save));
        }
    }
}

impl Handler<ConfigChanged> for Greylist {
    type Result = ();

    fn handle(&mut self, msg: ConfigChanged, _: &mut Context<Self>) {
        self.state.configure(Settings::from(&msg.0.config.greylist));
    }
}

#[cfg(test)]
mod tests;

impl Handler<EditGreylist> for Greylist {
    type Result = ResponseActFuture<Self, Result<bool, String>>;

    fn handle(&mut self, m: EditGreylist, _: &mut Context<Self>) -> Self::Result {
        let t = Triplet {
            net: m.net,
            sender: canonical(&m.sender),
            recipient: canonical(&m.recipient),
        };
        let held = self.state.in_memory(&t);
        let ask = self.state.shared || (held.is_none() && !self.state.all_triplets);
        let lookup = ask.then(|| {
            self.store.send(LookupGreylist {
                triplet: t.clone(),
                known: Vec::new(),
            })
        });
        let store = self.store.clone();
        let old = async move {
            let Some(asked) = lookup else {
                return Ok(held);
            };
            match asked.await {
                Ok(Ok((found, _))) => Ok(found),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        Box::pin(old.into_actor(self).then(move |old, act, _| {
            let save = old.map(|old| act.state.edit(&t, m.action, old, (act.clock)()));
            async move {
                match save {
                    Err(e) => Err(e),
                    Ok(None) => Ok(false),
                    Ok(Some(save)) => match store.send(save).await {
                        Ok(Ok(())) => Ok(true),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(e.to_string()),
                    },
                }
            }
            .into_actor(act)
        }))
    }
}
