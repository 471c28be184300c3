//! The process-wide metrics registry: counters, gauges and histograms for connections,
//! messages, logins, TLS, the outbound queue, the inbound policy and the store, reached by
//! [`metrics()`] from any crate without plumbing, encoded for `GET /metrics` in the Prometheus
//! text format (0.0.4) by [`Metrics::encode`], and readable from Rust for the admin dashboard.
//!
//! Every label value is one of a small fixed set (`&'static str` from the enums here, a
//! listener key, a SASL mechanism name): a sample never carries an address or a host name, so
//! the number of series is bounded (STYLE §11). Counting is an atomic increment after a
//! lookup under a read lock; nothing is formatted or allocated per message.
//!
//! Values are cumulative for the process and start again at zero after a restart, as
//! Prometheus expects of counters.

use crate::net::Socket;
use mailroom_config::ListenerKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// The registry of this process.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// The listeners whose series exist from the start (at zero), so that a first event is a
/// change a scraper sees, not a new series. The admin listener is HTTP and not counted here.
const MAIL_LISTENERS: [ListenerKind; 7] = [
    ListenerKind::Smtp,
    ListenerKind::Submission,
    ListenerKind::Submissions,
    ListenerKind::Imap,
    ListenerKind::Imaps,
    ListenerKind::Pop3,
    ListenerKind::Pop3s,
];

/// The mail protocols, for per-protocol series (command latency, active sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    Imap,
    Pop3,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Smtp, Protocol::Imap, Protocol::Pop3];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        }
    }

    /// The protocol a listener speaks; `None` for the admin listener.
    pub fn of(kind: ListenerKind) -> Option<Self> {
        match kind {
            ListenerKind::Smtp | ListenerKind::Submission | ListenerKind::Submissions => {
                Some(Protocol::Smtp)
            }
            ListenerKind::Imap | ListenerKind::Imaps => Some(Protocol::Imap),
            ListenerKind::Pop3 | ListenerKind::Pop3s => Some(Protocol::Pop3),
            ListenerKind::Admin => None,
        }
    }
}

/// Why mail (a message or one recipient) was refused: the `reason` of
/// `mailroom_messages_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// RCPT for an address of our domains that has no account (`550 5.1.1`).
    UnknownRecipient,
    /// RCPT for a domain that is not ours, on the MX listener (`550 5.7.1`).
    RelayDenied,
    /// The recipient's mailbox is full (`452 4.2.2`, `552 5.2.2`).
    OverQuota,
    /// Larger than `limits.max_message_size` (`552 5.3.4`).
    Size,
    /// Refused by the inbound policy: DNSBL, SPF, DMARC, spam score, a sender the account
    /// does not own.
    Policy,
    /// A recipient deferred by greylisting.
    Greylisted,
    /// The submission sending rate was reached (`450 4.7.1`).
    Rate,
    /// More recipients than `limits.max_recipients` (`452 4.5.3`).
    TooManyRecipients,
    /// A malformed address or message (bare LF, no `From:`).
    Syntax,
    /// The store failed; the client retries (`451 4.3.0`).
    StoreError,
    /// Anything else.
    Other,
}

impl RejectReason {
    pub const ALL: [RejectReason; 11] = [
        RejectReason::UnknownRecipient,
        RejectReason::RelayDenied,
        RejectReason::OverQuota,
        RejectReason::Size,
        RejectReason::Policy,
        RejectReason::Greylisted,
        RejectReason::Rate,
        RejectReason::TooManyRecipients,
        RejectReason::Syntax,
        RejectReason::StoreError,
        RejectReason::Other,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::UnknownRecipient => "unknown_recipient",
            RejectReason::RelayDenied => "relay_denied",
            RejectReason::OverQuota => "over_quota",
            RejectReason::Size => "size",
            RejectReason::Policy => "policy",
            RejectReason::Greylisted => "greylisted",
            RejectReason::Rate => "rate",
            RejectReason::TooManyRecipients => "too_many_recipients",
            RejectReason::Syntax => "syntax",
            RejectReason::StoreError => "store_error",
            RejectReason::Other => "other",
        }
    }
}

/// How a login ended: the `result` of `mailroom_auth_attempts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Success,
    Failure,
    /// Refused without a check: the account or client is locked out.
    LockedOut,
    /// The store could not answer.
    Error,
}

impl AuthOutcome {
    fn as_str(self) -> &'static str {
        match self {
            AuthOutcome::Success => "success",
            AuthOutcome::Failure => "failure",
            AuthOutcome::LockedOut => "locked_out",
            AuthOutcome::Error => "error",
        }
    }
}

/// One outbound delivery attempt to one recipient: the `result` of
/// `mailroom_delivery_attempts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    Delivered,
    /// A temporary failure; the queue tries again later.
    Deferred,
    /// A permanent failure, or retries gave out: the sender gets a bounce.
    Failed,
}

impl DeliveryResult {
    pub const ALL: [DeliveryResult; 3] = [
        DeliveryResult::Delivered,
        DeliveryResult::Deferred,
        DeliveryResult::Failed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Delivered => "delivered",
            DeliveryResult::Deferred => "deferred",
            DeliveryResult::Failed => "failed",
        }
    }
}

/// The spam scorer's verdict on a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpamVerdict {
    /// Delivered to the INBOX of every recipient.
    Ham,
    /// Filed in Junk for at least one recipient.
    Junk,
    /// Refused at the end of DATA.
    Reject,
}

impl SpamVerdict {
    fn as_str(self) -> &'static str {
        match self {
            SpamVerdict::Ham => "ham",
            SpamVerdict::Junk => "junk",
            SpamVerdict::Reject => "reject",
        }
    }
}

/// The greylist's verdict on one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GreylistVerdict {
    Pass,
    Defer,
}

impl GreylistVerdict {
    fn as_str(self) -> &'static str {
        match self {
            GreylistVerdict::Pass => "pass",
            GreylistVerdict::Defer => "defer",
        }
    }
}

/// A message authentication method of the inbound checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Spf,
    Dkim,
    Dmarc,
}

impl AuthMethod {
    fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Spf => "spf",
            AuthMethod::Dkim => "dkim",
            AuthMethod::Dmarc => "dmarc",
        }
    }
}

/// The SASL mechanisms and login commands a label may name; anything else counts as `other`,
/// so a client cannot make new series.
const MECHANISMS: [&str; 6] = ["PLAIN", "LOGIN", "USER", "APOP", "CRAM-MD5", "XOAUTH2"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    protocol: &'static str,
    mechanism: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LockoutLabels {
    protocol: &'static str,
    scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsLabels {
    listener: &'static str,
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    listener: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DomainLabels {
    recipient_domain: String,
    outcome: &'static str,
}

/// Most recipient domains with series of their own; later ones count as `other`, so mail to
/// many domains cannot grow the metrics without bound.
pub const MAX_DOMAIN_LABELS: usize = 200;

/// The label for `address`'s domain: its domain lowercase (never the local part), or
/// `other` once [`MAX_DOMAIN_LABELS`] domains have their own series.
fn domain_label(seen: &Mutex<HashSet<String>>, address: &str) -> String {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return "none".into();
    };
    let domain = domain.trim_end_matches('>').to_ascii_lowercase();
    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    if seen.contains(&domain) {
        return domain;
    }
    if seen.len() >= MAX_DOMAIN_LABELS {
        return "other".into();
    }
    seen.insert(domain.clone());
    domain
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Command latency buckets: 0.25 ms to about 8 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Batch size buckets: 1 to 256 requests (the writer's batches are at most a few hundred).
fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 9))
}

/// All series of the process. Reach it with [`metrics()`].
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections: Family<ListenerLabels, Counter>,
    connections_refused: Family<ListenerLabels, Counter>,
    connections_active: Family<ListenerLabels, Gauge>,
    messages_received: Family<ListenerLabels, Counter>,
    messages_rejected: Family<ReasonLabels, Counter>,
    auth_attempts: Family<AuthLabels, Counter>,
    lockouts: Family<LockoutLabels, Counter>,
    tls_handshakes: Family<TlsLabels, Counter>,
    tls_failures: Family<FailureLabels, Counter>,
    recipients: Family<DomainLabels, Counter>,
    /// Recipient domains with series of their own.
    domains: Mutex<HashSet<String>>,
    queue_messages: Gauge,
    delivery_attempts: Family<ResultLabels, Counter>,
    spam_verdicts: Family<VerdictLabels, Counter>,
    greylist: Family<VerdictLabels, Counter>,
    auth_results: Family<MethodLabels, Counter>,
    command_seconds: Histograms<ProtocolLabels>,
    store_commit_seconds: Histogram,
    store_batch_size: Histogram,
    store_wal_bytes: Gauge,
    store_wal_checkpoints: Family<ResultLabels, Counter>,
}

impl Metrics {
    /// A registry with every series registered; fixed label sets start at zero.
    fn new() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            connections: Family::default(),
            connections_refused: Family::default(),
            connections_active: Family::default(),
            messages_received: Family::default(),
            messages_rejected: Family::default(),
            auth_attempts: Family::default(),
            lockouts: Family::default(),
            tls_handshakes: Family::default(),
            tls_failures: Family::default(),
            recipients: Family::default(),
            domains: Mutex::new(HashSet::new()),
            queue_messages: Gauge::default(),
            delivery_attempts: Family::default(),
            spam_verdicts: Family::default(),
            greylist: Family::default(),
            auth_results: Family::default(),
            command_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            store_commit_seconds: latency_histogram(),
            store_batch_size: batch_histogram(),
            store_wal_bytes: Gauge::default(),
            store_wal_checkpoints: Family::default(),
        };
        m.register()
    }

    fn register(mut self) -> Self {
        // Series with a fixed label set exist from the start, at zero (`let _` drops each
        // read guard at once).
        for kind in MAIL_LISTENERS {
            let l = listener(kind);
            let _ = self.connections.get_or_create(&l);
            let _ = self.connections_refused.get_or_create(&l);
            let _ = self.connections_active.get_or_create(&l);
            let _ = self.messages_received.get_or_create(&l);
        }
        for reason in RejectReason::ALL {
            let _ = self.messages_rejected.get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            });
        }
        for result in DeliveryResult::ALL {
            let _ = self.delivery_attempts.get_or_create(&ResultLabels {
                result: result.as_str(),
            });
        }
        for result in ["done", "busy"] {
            let _ = self
                .store_wal_checkpoints
                .get_or_create(&ResultLabels { result });
        }
        for p in Protocol::ALL {
            let _ = self.command_seconds.get_or_create(&ProtocolLabels {
                protocol: p.as_str(),
            });
        }
        let r = &mut self.registry;
        // Counters are registered without `_total`: the encoder adds it.
        r.register(
            "mailroom_connections",
            "Connections accepted (those then refused too), per listener",
            self.connections.clone(),
        );
        r.register(
            "mailroom_connections_refused",
            "Connections turned away (connection limits, shutdown), per listener",
            self.connections_refused.clone(),
        );
        r.register(
            "mailroom_connections_active",
            "Sessions open now, per listener",
            self.connections_active.clone(),
        );
        r.register(
            "mailroom_messages_received",
            "Messages accepted and stored or queued, per listener",
            self.messages_received.clone(),
        );
        r.register(
            "mailroom_messages_rejected",
            "Messages or recipients refused, by reason",
            self.messages_rejected.clone(),
        );
        r.register(
            "mailroom_auth_attempts",
            "Logins, by protocol, mechanism and result",
            self.auth_attempts.clone(),
        );
        r.register(
            "mailroom_auth_lockouts",
            "Lockouts begun by failed logins, by the protocol of the failure that began one and by scope (account, ip)",
            self.lockouts.clone(),
        );
        r.register(
            "mailroom_tls_handshakes",
            "TLS handshakes completed, by listener and protocol version",
            self.tls_handshakes.clone(),
        );
        r.register(
            "mailroom_tls_handshake_failures",
            "TLS handshakes that failed or timed out, by listener",
            self.tls_failures.clone(),
        );
        r.register(
            "mailroom_recipients",
            "Recipients handled, by recipient domain and outcome (stored here; delivered, \
             deferred or failed by the outbound queue)",
            self.recipients.clone(),
        );
        r.register(
            "mailroom_queue_messages",
            "Messages in the outbound queue",
            self.queue_messages.clone(),
        );
        r.register(
            "mailroom_delivery_attempts",
            "Outbound delivery attempts to one recipient, by result",
            self.delivery_attempts.clone(),
        );
        r.register(
            "mailroom_spam_verdicts",
            "Spam scorer verdicts on received messages",
            self.spam_verdicts.clone(),
        );
        r.register(
            "mailroom_greylist",
            "Greylist verdicts on recipients",
            self.greylist.clone(),
        );
        r.register(
            "mailroom_auth_results",
            "SPF, DKIM and DMARC results of received messages",
            self.auth_results.clone(),
        );
        r.register(
            "mailroom_command_seconds",
            "Time from a command's arrival to its reply being written, per protocol",
            self.command_seconds.clone(),
        );
        r.register(
            "mailroom_store_commit_seconds",
            "Time the store writer takes for one batch, from its first op to its commit",
            self.store_commit_seconds.clone(),
        );
        r.register(
            "mailroom_store_batch_size",
            "Requests in one store commit",
            self.store_batch_size.clone(),
        );
        r.register(
            "mailroom_store_wal_bytes",
            "Size of the SQLite write-ahead log file (mailroom.db-wal), as the store writer \
             last saw it",
            self.store_wal_bytes.clone(),
        );
        r.register(
            "mailroom_store_wal_checkpoints",
            "Checkpoints the store writer ran because the WAL passed its limit, by result \
             (done: the WAL was reset; busy: a reader still needed it, retried later)",
            self.store_wal_checkpoints.clone(),
        );
        self
    }

    /// Everything in the Prometheus text exposition format, version 0.0.4.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; a failing metric would be a bug in the encoder.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "Encoding the metrics failed.");
        }
        out
    }

    /// A connection was accepted by `kind`'s listener.
    pub fn connection_accepted(&self, kind: ListenerKind) {
        self.connections.get_or_create(&listener(kind)).inc();
    }

    /// A connection was turned away before it got a session.
    pub fn connection_refused(&self, kind: ListenerKind) {
        self.connections_refused
            .get_or_create(&listener(kind))
            .inc();
    }

    /// A session on `kind`'s listener starts; it counts as active until the guard is dropped
    /// (also when the session panics).
    pub fn session_started(&self, kind: ListenerKind) -> ActiveSession {
        let gauge = self.connections_active.get_or_create_owned(&listener(kind));
        gauge.inc();
        ActiveSession { gauge }
    }

    /// A TLS handshake completed on `kind`'s listener; a plain socket counts nothing.
    pub fn tls_handshake(&self, kind: ListenerKind, socket: &Socket) {
        let Socket::Tls(tls) = socket else {
            return;
        };
        let version = match tls.get_ref().1.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "other",
        };
        self.tls_handshakes
            .get_or_create(&TlsLabels {
                listener: kind.key(),
                version,
            })
            .inc();
    }

    /// A TLS handshake on `kind`'s listener failed (`error`) or ran out of time (`timeout`).
    pub fn tls_handshake_failed(&self, kind: ListenerKind, reason: &'static str) {
        self.tls_failures
            .get_or_create(&FailureLabels {
                listener: kind.key(),
                reason,
            })
            .inc();
    }

    /// A copy for `recipient` was stored in a local mailbox.
    pub fn recipient_stored(&self, recipient: &str) {
        self.recipient(recipient, "stored");
    }

    fn recipient(&self, address: &str, outcome: &'static str) {
        let recipient_domain = domain_label(&self.domains, address);
        self.recipients
            .get_or_create(&DomainLabels {
                recipient_domain,
                outcome,
            })
            .inc();
    }

    /// A message was accepted (stored, or queued for remote recipients) on `kind`'s listener.
    pub fn message_received(&self, kind: ListenerKind) {
        self.messages_received.get_or_create(&listener(kind)).inc();
    }

    /// A message or recipient was refused.
    pub fn message_rejected(&self, reason: RejectReason) {
        self.messages_rejected
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// A login on `protocol` (`smtp`, `imap`, `pop3`, `admin`) with `mechanism` ended so.
    pub fn auth_attempt(&self, protocol: &'static str, mechanism: &str, outcome: AuthOutcome) {
        let mechanism = MECHANISMS
            .into_iter()
            .find(|m| m.eq_ignore_ascii_case(mechanism))
            .unwrap_or("other");
        self.auth_attempts
            .get_or_create(&AuthLabels {
                protocol,
                mechanism,
                result: outcome.as_str(),
            })
            .inc();
    }

    /// A failed login on `protocol` locked an account or client out (`scope`: `account`,
    /// `ip`).
    pub fn lockout(&self, protocol: &'static str, scope: &'static str) {
        self.lockouts
            .get_or_create(&LockoutLabels { protocol, scope })
            .inc();
    }

    /// The outbound queue holds `n` messages now.
    pub fn set_queue_messages(&self, n: u64) {
        self.queue_messages
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// One outbound delivery attempt to `recipient` ended so.
    pub fn delivery_attempt(&self, result: DeliveryResult, recipient: &str) {
        self.recipient(recipient, result.as_str());
        self.delivery_attempts
            .get_or_create(&ResultLabels {
                result: result.as_str(),
            })
            .inc();
    }

    /// The spam scorer judged a received message.
    pub fn spam_verdict(&self, verdict: SpamVerdict) {
        self.spam_verdicts
            .get_or_create(&VerdictLabels {
                verdict: verdict.as_str(),
            })
            .inc();
    }

    /// The greylist judged a recipient.
    pub fn greylist_verdict(&self, verdict: GreylistVerdict) {
        self.greylist
            .get_or_create(&VerdictLabels {
                verdict: verdict.as_str(),
            })
            .inc();
    }

    /// An inbound authentication check gave `result` (an RFC 8601 keyword: `pass`, `fail`…).
    pub fn auth_result(&self, method: AuthMethod, result: &'static str) {
        self.auth_results
            .get_or_create(&MethodLabels {
                method: method.as_str(),
                result,
            })
            .inc();
    }

    /// A command of `protocol` was answered `took` after it arrived.
    pub fn command_took(&self, protocol: Protocol, took: Duration) {
        self.command_seconds
            .get_or_create(&ProtocolLabels {
                protocol: protocol.as_str(),
            })
            .observe(took.as_secs_f64());
    }

    /// The store writer committed a batch of `size` requests, which took `took`.
    pub fn store_commit(&self, size: usize, took: Duration) {
        self.store_commit_seconds.observe(took.as_secs_f64());
        self.store_batch_size.observe(size as f64);
    }

    /// The store's write-ahead log is `bytes` long now.
    pub fn set_store_wal_bytes(&self, bytes: u64) {
        self.store_wal_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The store writer ran a checkpoint to bound the WAL; `reset` says whether it completed
    /// (the WAL starts over) or a reader kept it from completing.
    pub fn store_wal_checkpoint(&self, reset: bool) {
        let result = if reset { "done" } else { "busy" };
        self.store_wal_checkpoints
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    // What the dashboard reads.

    /// Sessions open now on the listeners of `protocol`.
    pub fn active_sessions(&self, protocol: Protocol) -> i64 {
        MAIL_LISTENERS
            .into_iter()
            .filter(|&k| Protocol::of(k) == Some(protocol))
            .map(|k| self.connections_active.get_or_create(&listener(k)).get())
            .sum()
    }

    /// Messages received on all listeners since the start.
    pub fn messages_received_total(&self) -> u64 {
        MAIL_LISTENERS
            .into_iter()
            .map(|k| self.messages_received.get_or_create(&listener(k)).get())
            .sum()
    }

    /// Messages and recipients refused since the start, for every reason.
    pub fn messages_rejected_total(&self) -> u64 {
        RejectReason::ALL
            .into_iter()
            .map(|r| {
                self.messages_rejected
                    .get_or_create(&ReasonLabels { reason: r.as_str() })
                    .get()
            })
            .sum()
    }

    /// Recipients delivered to by the outbound queue since the start.
    pub fn messages_sent_total(&self) -> u64 {
        self.delivery_attempts
            .get_or_create(&ResultLabels {
                result: DeliveryResult::Delivered.as_str(),
            })
            .get()
    }
}

fn listener(kind: ListenerKind) -> ListenerLabels {
    ListenerLabels {
        listener: kind.key(),
    }
}

/// A session's place in `mailroom_connections_active`; given back when dropped.
#[derive(Debug)]
pub struct ActiveSession {
    gauge: Gauge,
}

impl Drop for ActiveSession {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_domains_are_lowercase_without_the_local_part_and_bounded() {
        let seen = Mutex::new(HashSet::new());
        assert_eq!(domain_label(&seen, "Alice@Example.TEST"), "example.test");
        assert_eq!(domain_label(&seen, "postmaster"), "none");
        for n in 1..MAX_DOMAIN_LABELS {
            assert_eq!(
                domain_label(&seen, &format!("a@d{n}.test")),
                format!("d{n}.test")
            );
        }
        assert_eq!(domain_label(&seen, "a@one-too-many.test"), "other");
        assert_eq!(domain_label(&seen, "b@example.test"), "example.test");
    }

    /// The value of the sample `line_start` (name and labels) in `text`.
    fn sample(text: &str, line_start: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
    }

    #[test]
    fn fixed_series_start_at_zero_and_counters_end_in_total() {
        let m = Metrics::new();
        let text = m.encode();
        assert!(
            text.contains("# TYPE mailroom_connections_total counter"),
            "{text}"
        );
        assert_eq!(
            sample(&text, r#"mailroom_connections_total{listener="smtp"}"#),
            Some(0.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"mailroom_messages_rejected_total{reason="unknown_recipient"}"#
            ),
            Some(0.0)
        );
        assert_eq!(sample(&text, "mailroom_queue_messages"), Some(0.0));
        assert!(text.contains("# TYPE mailroom_command_seconds histogram"));
        // Prometheus text 0.0.4 has no `# EOF` (that is OpenMetrics).
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn counting_moves_the_samples_and_the_totals() {
        let m = Metrics::new();
        m.connection_accepted(ListenerKind::Imap);
        m.message_received(ListenerKind::Smtp);
        m.message_received(ListenerKind::Submission);
        m.message_rejected(RejectReason::UnknownRecipient);
        m.message_rejected(RejectReason::UnknownRecipient);
        m.auth_attempt("imap", "login", AuthOutcome::Success);
        m.auth_attempt("smtp", "SHOUTING-MECH", AuthOutcome::Failure);
        m.delivery_attempt(DeliveryResult::Delivered, "b@remote.test");
        m.set_queue_messages(3);
        m.command_took(Protocol::Pop3, Duration::from_millis(2));
        m.store_commit(5, Duration::from_millis(3));
        m.set_store_wal_bytes(4_194_304);
        m.store_wal_checkpoint(true);
        m.store_wal_checkpoint(true);
        m.store_wal_checkpoint(false);
        let text = m.encode();
        assert_eq!(
            sample(&text, r#"mailroom_connections_total{listener="imap"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"mailroom_messages_rejected_total{reason="unknown_recipient"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"mailroom_auth_attempts_total{protocol="imap",mechanism="LOGIN",result="success"}"#
            ),
            Some(1.0)
        );
        // A mechanism outside the fixed set makes no series of its own.
        assert!(!text.contains("SHOUTING"));
        assert_eq!(
            sample(
                &text,
                r#"mailroom_auth_attempts_total{protocol="smtp",mechanism="other",result="failure"}"#
            ),
            Some(1.0)
        );
        assert_eq!(sample(&text, "mailroom_queue_messages"), Some(3.0));
        assert_eq!(
            sample(&text, r#"mailroom_command_seconds_count{protocol="pop3"}"#),
            Some(1.0)
        );
        // 2 ms falls in the 0.002 bucket (le is inclusive), not in 0.001.
        assert_eq!(
            sample(
                &text,
                r#"mailroom_command_seconds_bucket{protocol="pop3",le="0.001"}"#
            ),
            Some(0.0)
        );
        assert_eq!(sample(&text, "mailroom_store_batch_size_sum"), Some(5.0));
        assert_eq!(sample(&text, "mailroom_store_wal_bytes"), Some(4_194_304.0));
        assert_eq!(
            sample(
                &text,
                r#"mailroom_store_wal_checkpoints_total{result="done"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"mailroom_store_wal_checkpoints_total{result="busy"}"#
            ),
            Some(1.0)
        );
        assert_eq!(m.messages_received_total(), 2);
        assert_eq!(m.messages_rejected_total(), 2);
        assert_eq!(m.messages_sent_total(), 1);
    }

    #[test]
    fn an_active_session_is_counted_until_dropped() {
        let m = Metrics::new();
        let a = m.session_started(ListenerKind::Imap);
        let b = m.session_started(ListenerKind::Imaps);
        let c = m.session_started(ListenerKind::Smtp);
        assert_eq!(m.active_sessions(Protocol::Imap), 2);
        assert_eq!(m.active_sessions(Protocol::Smtp), 1);
        drop(a);
        drop(c);
        assert_eq!(m.active_sessions(Protocol::Imap), 1);
        assert_eq!(m.active_sessions(Protocol::Smtp), 0);
        assert_eq!(
            sample(
                &m.encode(),
                r#"mailroom_connections_active{listener="imaps"}"#
            ),
            Some(1.0)
        );
        drop(b);
    }
}
