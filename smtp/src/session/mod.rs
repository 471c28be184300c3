//! The SMTP session state machine, sans-I/O (RFC 5321 with the ESMTP extensions we offer).
//!
//! The driver feeds it input with [`Session::advance`], which consumes what it can and returns
//! the next [`Action`]: read more, ask the store about a recipient, run a policy check (DNSBL
//! at connect, SPF at MAIL, DKIM/ARC/DMARC after the data; see `crate::policy`), deliver a
//! message, start TLS, pause (tarpit) or close. Replies pile up in an output buffer that the driver writes
//! whenever it is about to wait (RFC 2920: replies to pipelined commands may be batched).
//! Every reply, order and limit rule lives here, reachable by tests without a socket.

mod auth;
mod data;
mod hello;
mod mail;
mod rcpt;
mod submit;
mod trace;

use crate::policy::greylist;
use crate::policy::{Inspection, Listing, SenderAuth};
use crate::proto::reply::{self, Reply};
use crate::proto::{self, MAX_COMMAND_LINE};
use mailroom_config::Limits;
use mailroom_shared::events::{self, EventData, Greylisted, Rejected, Stage};
use mailroom_shared::metrics::{RejectReason, metrics};
use mailroom_shared::sasl::Credentials;
use mailroom_store::{Delivered, Resolution, StoreError};
use smtp_proto::Request;
use std::net::IpAddr;
use std::time::Duration;

pub use auth::{AuthAnswer, Login};
pub use data::Body;
pub use submit::{Authorization, RemoteRcpt, Submission};

/// Which listener the session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// MX (port 25 role): mail for our domains only, never relays, no AUTH.
    Mx,
    /// Submission (587/465): AUTH (over TLS) required before MAIL; the sender must be the
    /// account's; recipients anywhere.
    Submission,
}

/// A message on disk, for [`Action::Load`]. Compared by length: `Action` is compared in
/// tests, and two spools have no other identity to compare.
#[derive(Debug)]
pub struct Spooled(pub mailroom_shared::spool::Spool);

impl PartialEq for Spooled {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
    }
}

/// What the session needs from its driver next.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Write the pending replies, then read more input.
    NeedInput,
    /// Resolve this recipient address, say which of the accounts it resolves to cannot take
    /// `size` more octets, and hand both to [`Session::resolved`] (one store read).
    Resolve {
        /// The RCPT address.
        address: String,
        /// The SIZE declared at MAIL, 0 if none.
        size: u64,
    },
    /// Ask the greylist about this accepted recipient and hand its verdict to
    /// [`Session::greylisted`].
    Greylist {
        /// The client's address.
        client: IpAddr,
        /// The reverse-path; empty for `<>`.
        sender: String,
        /// The recipient as given.
        recipient: String,
        /// The sender's domain when SPF passed for it at MAIL.
        authenticated_domain: Option<String>,
    },
    /// Before the greeting: ask the DNS block lists about `ip`, then call
    /// [`Session::client_checked`].
    CheckClient {
        /// The client's address.
        ip: IpAddr,
    },
    /// At MAIL: run SPF for the HELO and MAIL FROM identities, then call
    /// [`Session::sender_checked`].
    CheckSender {
        /// The client's address.
        ip: IpAddr,
        /// The EHLO/HELO name.
        helo: String,
        /// The reverse-path; empty for `<>`.
        mail_from: String,
    },
    /// The message went to disk while it arrived: wait for its share of the server's memory
    /// budget (`mailroom_shared::inflight`), read it back and hand it to [`Session::loaded`];
    /// keep the share until the transaction's reply is written.
    Load(Spooled),
    /// After the data: run DKIM, ARC and DMARC on it, then hand it back with the verdict to
    /// [`Session::inspected`].
    Inspect(Inspection),
    /// Deliver this message durably and hand the outcome to [`Session::delivered`].
    Deliver(Delivery),
    /// Check these credentials (with the lockouts) and answer [`Session::authenticated`].
    Authenticate {
        /// `PLAIN` or `LOGIN`.
        mechanism: &'static str,
        /// What the client sent.
        credentials: Credentials,
    },
    /// Submission: say which of `addresses` the logged-in account may send as, and at MAIL
    /// whether it is over its sending rate; answer [`Session::authorized`].
    Authorize {
        /// The logged-in account.
        account_id: i64,
        /// The MAIL FROM address, or the `From:` addresses of the message.
        addresses: Vec<String>,
        /// True at MAIL (the rate limit applies), false after the data.
        at_mail: bool,
    },
    /// Submission: sign, store for the local accounts and queue for the remote recipients,
    /// durably, then hand the outcome to [`Session::delivered`].
    Submit(Submission),
    /// Write the pending replies, discard any input already received (RFC 3207 §4.2: nothing
    /// sent before the handshake may be acted on), run the TLS handshake, then call
    /// [`Session::tls_started`].
    StartTls,
    /// Write the pending replies, then wait this long before going on (tarpit).
    Pause(Duration),
    /// Write the pending replies and close the connection.
    Close,
}

/// A message ready to be stored.
#[derive(Debug, PartialEq)]
pub struct Delivery {
    /// Accounts to receive it (deduplicated).
    pub accounts: Vec<i64>,
    /// Those of `accounts` whose copy goes to Junk (the policy judged it suspect).
    pub junk: Vec<i64>,
    /// The message as it will be stored: trace header fields, then the client's data.
    pub raw: Vec<u8>,
    /// Its `Delivered` event, for the store to log in the delivery's own transaction (the
    /// store fills in `recipients` with the addresses of the accounts that got it).
    pub event: events::Delivered,
}

/// Session-wide facts that do not change while it runs.
#[derive(Debug, Clone)]
pub struct Context {
    /// Our host name, for greetings and trace fields.
    pub host: String,
    /// The listener's role.
    pub role: Role,
    /// The client's address.
    pub peer: IpAddr,
    /// Limits of the configuration the session was accepted under.
    pub limits: Limits,
    /// Whether the connection started in TLS (implicit TLS listeners).
    pub tls: bool,
    /// A short id for trace fields and logs.
    pub session_id: u64,
    /// Greylisting is on for this session (the configuration says so; it is never on for
    /// submission, whose clients authenticate).
    pub greylist: bool,
    /// Which policy checks run.
    pub checks: Checks,
    /// AUTH is allowed before TLS (`[security] allow_plaintext_auth`).
    pub allow_plaintext_auth: bool,
}

/// The policy checks a session runs; all off by default (submission, tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checks {
    /// Ask the DNS block lists before the greeting.
    pub dnsbl: bool,
    /// SPF at MAIL, DKIM/ARC/DMARC after the data, and an `Authentication-Results:` field.
    pub auth: bool,
    /// Refuse an SPF `fail` at MAIL (needs `auth`).
    pub spf_reject_fail: bool,
    /// Score the message for spam after the data.
    pub spam: bool,
}

/// What the client said in EHLO/HELO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Helo {
    pub(crate) name: String,
    pub(crate) extended: bool,
}

/// One mail transaction, from MAIL to the end of data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Transaction {
    /// The reverse-path; empty for the null sender `<>`.
    pub(crate) from: String,
    /// The SIZE the client declared, 0 if none.
    pub(crate) declared_size: u64,
    /// SMTPUTF8 was given (RFC 6531).
    pub(crate) utf8: bool,
    /// BODY=BINARYMIME was given (RFC 3030): only BDAT may carry the data.
    pub(crate) binary: bool,
    /// Accepted recipients: the address as given and the accounts it resolved to.
    pub(crate) rcpts: Vec<(String, Vec<i64>)>,
    /// Submission: accepted recipients on other domains, for the outbound queue.
    pub(crate) remote: Vec<RemoteRcpt>,
    /// RFC 3461 RET (smtp-proto's `MAIL_RET_*` bits of the MAIL flags).
    pub(crate) ret: u64,
    /// RFC 3461 ENVID, as given.
    pub(crate) envid: Option<String>,
    /// The SPF results of MAIL, when the checks ran.
    pub(crate) sender: Option<SenderAuth>,
}

/// Where input goes.
#[derive(Debug)]
enum Mode {
    /// Command lines.
    Command,
    /// After DATA's 354: the message, up to CRLF.CRLF.
    Data(Body),
    /// AUTH: the next line is a SASL response.
    Sasl(auth::Sasl),
    /// Inside a BDAT chunk with `left` octets to come; `refusal` is the reply owed for a BDAT
    /// that cannot be accepted (its chunk is read and dropped first).
    Bdat {
        left: usize,
        last: bool,
        refusal: Option<Reply>,
    },
    /// QUIT or a fatal error: nothing more is read.
    Closed,
}

/// One SMTP session.
pub struct Session {
    ctx: Context,
    tls: bool,
    helo: Option<Helo>,
    tx: Option<Transaction>,
    /// BDAT chunks received so far in this transaction.
    chunks: Option<Body>,
    mode: Mode,
    /// A command line that has not seen its LF yet.
    partial: Vec<u8>,
    /// The partial line went over [`MAX_COMMAND_LINE`]; drop input until its LF.
    overflow: bool,
    /// The RCPT address whose resolution is awaited.
    resolving: Option<String>,
    /// A recipient the store accepted, waiting for the greylist's verdict: address, accounts.
    greylisting: Option<(String, Vec<i64>)>,
    /// [`Action::Greylist`] is owed to the driver.
    greylist_due: bool,
    /// Events produced since the last [`Session::take_events`].
    events: Vec<EventData>,
    out: Vec<u8>,
    errors: u32,
    pause_due: bool,
    delivered: u64,
    /// An action owed to the driver before any more input is read.
    pending: Option<Action>,
    /// A MAIL whose SPF check is awaited.
    checking: Option<Transaction>,
    /// The data was handed out for inspection; the verdict is awaited.
    inspecting: bool,
    /// The spooled message is being read back ([`Action::Load`]); whether its lines are
    /// checked (not for BINARYMIME).
    loading: Option<bool>,
    /// The DSN parameters (NOTIFY bits, ORCPT) of the RCPT being resolved.
    resolving_dsn: (u64, Option<String>),
    /// Submission: the logged-in account.
    login: Option<Login>,
    /// Credentials were handed out; the answer is awaited.
    authenticating: bool,
    /// Submission: what waits for an [`Action::Authorize`] answer.
    authorizing: Option<submit::Authorizing>,
}

impl Session {
    /// A new session; send [`Session::greeting`] first.
    pub fn new(ctx: Context) -> Self {
        Self {
            tls: ctx.tls,
            ctx,
            helo: None,
            tx: None,
            chunks: None,
            mode: Mode::Command,
            partial: Vec::new(),
            overflow: false,
            resolving: None,
            greylisting: None,
            greylist_due: false,
            events: Vec::new(),
            out: Vec::new(),
            errors: 0,
            pause_due: false,
            delivered: 0,
            pending: None,
            checking: None,
            inspecting: false,
            loading: None,
            resolving_dsn: (0, None),
            login: None,
            authenticating: false,
            authorizing: None,
        }
    }

    /// The connection is open: greet the client, or first ask the block lists about it.
    pub fn connected(&mut self) {
        if self.ctx.checks.dnsbl {
            self.pending = Some(Action::CheckClient { ip: self.ctx.peer });
        } else {
            self.greeting();
        }
    }

    /// The answer to [`Action::CheckClient`]: greet, or refuse a listed client and close.
    pub fn client_checked(&mut self, listing: Option<Listing>) {
        match listing {
            None => self.greeting(),
            Some(listing) => {
                let r = reply::listed(&self.ctx.host, self.ctx.peer, &listing.zone);
                self.reject_event(Stage::Connect, &r, None);
                r.write_to(&mut self.out);
                self.mode = Mode::Closed;
            }
        }
    }

    /// Events produced since the last call, for the driver to record.
    pub fn take_events(&mut self) -> Vec<EventData> {
        std::mem::take(&mut self.events)
    }

    pub(crate) fn record(&mut self, event: EventData) {
        self.events.push(event);
    }

    /// Send refusal `r` at `stage` and record it as a `Rejected` event, with the current
    /// transaction's reverse-path and the recipient concerned.
    pub(crate) fn reject(&mut self, stage: Stage, r: Reply, rcpt_to: Option<String>) {
        let mail_from = self.tx.as_ref().map(|tx| tx.from.clone());
        self.reject_from(stage, r, mail_from, rcpt_to);
    }

    /// [`Session::reject`] naming the reverse-path (a refused MAIL has no transaction).
    pub(crate) fn reject_from(
        &mut self,
        stage: Stage,
        r: Reply,
        mail_from: Option<String>,
        rcpt_to: Option<String>,
    ) {
        self.record_rejection(stage, &r, mail_from, rcpt_to);
        self.respond(r);
    }

    /// Record the refusal `r` at `stage` (its reply is written by the caller).
    fn reject_event(&mut self, stage: Stage, r: &Reply, mail_from: Option<String>) {
        self.record_rejection(stage, r, mail_from, None);
    }

    fn record_rejection(
        &mut self,
        stage: Stage,
        r: &Reply,
        mail_from: Option<String>,
        rcpt_to: Option<String>,
    ) {
        metrics().message_rejected(reject_reason(stage, r));
        self.record(EventData::Rejected(Rejected {
            stage,
            code: r.code,
            reason: r.lines.join(" "),
            client: self.ctx.peer,
            mail_from,
            rcpt_to,
        }));
    }

    /// The 220 greeting, queued for output.
    pub fn greeting(&mut self) {
        reply::greeting(&self.ctx.host).write_to(&mut self.out);
    }

    /// Take the replies queued so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether the session is between commands, where it may be ended politely (drain).
    pub fn at_safe_point(&self) -> bool {
        matches!(self.mode, Mode::Command)
            && self.partial.is_empty()
            && self.resolving.is_none()
            && self.greylisting.is_none()
            && self.pending.is_none()
            && self.checking.is_none()
            && !self.inspecting
            && !self.authenticating
            && self.authorizing.is_none()
    }

    /// Queue the 421 of a server shutdown and stop reading.
    pub fn shutting_down(&mut self) {
        reply::shutting_down(&self.ctx.host).write_to(&mut self.out);
        self.mode = Mode::Closed;
    }

    /// Queue the 421 of a session an administrator ended and stop reading.
    pub fn ended(&mut self) {
        reply::ended(&self.ctx.host).write_to(&mut self.out);
        self.mode = Mode::Closed;
    }

    /// Queue the 421 of an idle timeout and stop reading.
    pub fn timed_out(&mut self) {
        reply::timeout(&self.ctx.host).write_to(&mut self.out);
        self.mode = Mode::Closed;
    }

    /// Consume as much of `input` as possible and say what is needed next.
    pub fn advance(&mut self, input: &mut &[u8]) -> Action {
        loop {
            if let Some(action) = self.pending.take() {
                return action;
            }
            if self.greylist_due {
                self.greylist_due = false;
                if let (Some((recipient, _)), Some(tx)) = (&self.greylisting, &self.tx) {
                    return Action::Greylist {
                        client: self.ctx.peer,
                        sender: tx.from.clone(),
                        recipient: recipient.clone(),
                        authenticated_domain: tx
                            .sender
                            .as_ref()
                            .and_then(|s| s.passed_domain(&tx.from)),
                    };
                }
            }
            if self.pause_due {
                self.pause_due = false;
                return Action::Pause(Duration::from_millis(self.ctx.limits.tarpit_delay_ms));
            }
            match &mut self.mode {
                Mode::Closed => return Action::Close,
                Mode::Data(body) => {
                    if !body.ingest_data(input) {
                        return Action::NeedInput;
                    }
                    if let Some(action) = self.end_of_data() {
                        return action;
                    }
                }
                Mode::Bdat {
                    left,
                    last,
                    refusal,
                } => {
                    let (chunk, rest) = input.split_at((*left).min(input.len()));
                    *left -= chunk.len();
                    if refusal.is_none()
                        && let Some(body) = self.chunks.as_mut()
                    {
                        body.push_chunk(chunk);
                    }
                    *input = rest;
                    if *left > 0 {
                        return Action::NeedInput;
                    }
                    let (last, refusal) = (*last, refusal.take());
                    self.mode = Mode::Command;
                    if let Some(action) = self.end_of_chunk(last, refusal) {
                        return action;
                    }
                }
                Mode::Command => {
                    let Some(line) = self.next_line(input) else {
                        return Action::NeedInput;
                    };
                    if let Some(action) = self.command(&line) {
                        return action;
                    }
                }
                Mode::Sasl(_) => {
                    let Some(line) = self.next_line(input) else {
                        return Action::NeedInput;
                    };
                    let Mode::Sasl(step) = std::mem::replace(&mut self.mode, Mode::Command) else {
                        continue;
                    };
                    if let Some(action) = self.sasl_line(step, &line) {
                        return action;
                    }
                }
            }
        }
    }

    /// Split the next command line off `input`, bounded by [`MAX_COMMAND_LINE`].
    fn next_line(&mut self, input: &mut &[u8]) -> Option<Vec<u8>> {
        let Some(lf) = input.iter().position(|&b| b == b'\n') else {
            if !self.overflow && self.partial.len() + input.len() > MAX_COMMAND_LINE {
                self.overflow = true;
                self.partial.clear();
            }
            if !self.overflow {
                self.partial.extend_from_slice(input);
            }
            *input = &[];
            return None;
        };
        let (head, rest) = input.split_at(lf + 1);
        *input = rest;
        if self.overflow || self.partial.len() + head.len() > MAX_COMMAND_LINE {
            self.overflow = false;
            self.partial.clear();
            self.respond(reply::line_too_long());
            return None;
        }
        let mut line = std::mem::take(&mut self.partial);
        line.extend_from_slice(head);
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(line)
    }

    /// Queue a reply; count errors, and end or slow down a session that earns too many.
    fn respond(&mut self, r: Reply) {
        r.write_to(&mut self.out);
        if r.is_error() {
            self.errors += 1;
            if self.errors >= self.ctx.limits.max_errors_per_session {
                reply::too_many_errors(&self.ctx.host).write_to(&mut self.out);
                self.mode = Mode::Closed;
            } else if self.errors >= self.ctx.limits.tarpit_after_errors {
                self.pause_due = true;
            }
        }
    }

    /// Handle one command line; `Some` when the driver must act before the next one.
    fn command(&mut self, line: &[u8]) -> Option<Action> {
        let command = match proto::parse_command(line) {
            Ok(c) => c,
            Err(rejected) => {
                self.respond(rejected.0);
                return None;
            }
        };
        match command {
            Request::Ehlo { host } => self.hello(host, true),
            Request::Helo { host } => self.hello(host, false),
            Request::Mail { from } => return self.mail(from),
            Request::Rcpt { to } => return self.rcpt(to),
            Request::Data => self.data(),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last),
            Request::Rset => {
                self.reset_transaction();
                self.respond(reply::ok());
            }
            Request::Noop { .. } => self.respond(reply::ok()),
            Request::Quit => {
                self.respond(reply::bye(&self.ctx.host));
                self.mode = Mode::Closed;
            }
            // RFC 5321 §3.5.3: 252 when we will not say whether an address exists.
            Request::Vrfy { .. } => self.respond(Reply::new(
                252,
                "2.5.0",
                "cannot verify the user, but will accept the message and attempt delivery",
            )),
            Request::Help { .. } => self.respond(Reply::multi(
                214,
                "2.0.0",
                vec![
                    "commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS"
                        .into(),
                    "see RFC 5321".into(),
                ],
            )),
            Request::StartTls => return self.starttls(),
            Request::Auth {
                mechanism,
                initial_response,
            } => return self.auth(mechanism, initial_response),
            Request::Expn { .. } => self.respond(reply::not_offered("EXPN")),
            Request::Etrn { .. } => self.respond(reply::not_offered("ETRN")),
            Request::Atrn { .. } => self.respond(reply::not_offered("ATRN")),
            Request::Burl { .. } => self.respond(reply::not_offered("BURL")),
            Request::Lhlo { .. } => self.respond(reply::not_offered("LHLO")),
        }
        None
    }

    fn starttls(&mut self) -> Option<Action> {
        if self.tls {
            self.respond(reply::bad_sequence("TLS is already active"));
            return None;
        }
        Reply::new(220, "2.0.0", "ready to start TLS").write_to(&mut self.out);
        Some(Action::StartTls)
    }

    /// The handshake succeeded: RFC 3207 §4.2, forget everything said before it.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.helo = None;
        self.reset_transaction();
        self.partial.clear();
        self.overflow = false;
    }

    fn reset_transaction(&mut self) {
        self.tx = None;
        self.chunks = None;
        self.checking = None;
        self.inspecting = false;
        self.loading = None;
        self.authorizing = None;
    }

    /// The store's answer to [`Action::Resolve`]: who the recipient is, and which of its
    /// accounts are over quota.
    pub fn resolved(&mut self, answer: Result<(Resolution, Vec<i64>), StoreError>) {
        let Some(address) = self.resolving.take() else {
            return;
        };
        let (resolution, over) = match answer {
            Ok((resolution, over)) => (Ok(resolution), over),
            Err(e) => (Err(e), Vec::new()),
        };
        let dsn = std::mem::take(&mut self.resolving_dsn);
        if self.ctx.role == Role::Submission && matches!(resolution, Ok(Resolution::NotOurDomain)) {
            // An authenticated client may send anywhere: the outbound queue takes it.
            return submit::accept_remote(self, address, dsn);
        }
        let r = match rcpt::resolution_reply(address.clone(), resolution) {
            Ok((address, accounts)) if over.is_empty() && self.greylist_applies() => {
                // The reply waits for the greylist (the next `advance` asks it).
                self.greylisting = Some((address, accounts));
                self.greylist_due = true;
                return;
            }
            Ok((address, accounts)) => rcpt::quota_reply(self, address, accounts, &over),
            Err(r) => r,
        };
        if r.is_error() {
            self.reject(Stage::Rcpt, r, Some(address));
        } else {
            self.respond(r);
        }
    }

    /// Whether a recipient the store accepted must also pass the greylist: on when the
    /// configuration says so, and only on the MX listener (submission clients authenticate).
    fn greylist_applies(&self) -> bool {
        self.ctx.greylist && self.ctx.role == Role::Mx
    }

    /// The greylist's answer to [`Action::Greylist`]: accept the recipient, or defer it.
    pub fn greylisted(&mut self, verdict: greylist::Verdict) {
        let Some((address, accounts)) = self.greylisting.take() else {
            return;
        };
        let r = match verdict {
            greylist::Verdict::Pass => rcpt::quota_reply(self, address, accounts, &[]),
            greylist::Verdict::Defer { retry_after_secs } => {
                let mail_from = self.tx.as_ref().map(|t| t.from.clone()).unwrap_or_default();
                self.record(EventData::Greylisted(Greylisted {
                    client: self.ctx.peer,
                    mail_from,
                    rcpt_to: address.clone(),
                    retry_after_secs,
                }));
                // Our policy, not the client's fault: not counted towards the error limit
                // or the tarpit, which would punish a sender for having many recipients.
                reply::greylisted(&address, retry_after_secs).write_to(&mut self.out);
                return;
            }
        };
        self.respond(r);
    }

    /// The store's answer to [`Action::Deliver`].
    pub fn delivered(&mut self, outcome: Result<Vec<Delivered>, StoreError>) {
        let r = match outcome {
            Ok(_) => {
                // The id named in the Received: field of this message.
                let id = self.message_id();
                self.delivered += 1;
                self.reset_transaction();
                // Its Delivered event was logged by the store with the delivery.
                return self.respond(Reply::new(250, "2.0.0", format!("OK, stored as {id}")));
            }
            Err(StoreError::QuotaExceeded { address }) => {
                Reply::new(552, "5.2.2", format!("mailbox of {address} is full"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "delivery failed");
                reply::try_later()
            }
        };
        self.reject(Stage::Data, r, None);
        self.reset_transaction();
    }

    /// The id this session's current message gets, for the trace field and the 250.
    fn message_id(&self) -> String {
        format!("{:x}.{}", self.ctx.session_id, self.delivered)
    }
}

/// The metrics reason of a refusal, from its RFC 3463 enhanced status code: every refusal
/// that becomes a `Rejected` event comes through here, so the table is complete for them.
/// (Greylisting defers through its own path and is counted by the driver.)
pub(crate) fn reject_reason(stage: Stage, r: &Reply) -> RejectReason {
    match r.enhanced {
        "5.1.1" => RejectReason::UnknownRecipient,
        // X.7.1 at RCPT is the MX refusing a domain not ours; elsewhere it is our policy
        // (DNS block list, DMARC, spam, a sender the account does not own).
        "5.7.1" if stage == Stage::Rcpt => RejectReason::RelayDenied,
        "5.7.1" | "5.7.23" => RejectReason::Policy,
        "4.2.2" | "5.2.2" => RejectReason::OverQuota,
        "5.3.4" => RejectReason::Size,
        "4.7.1" => RejectReason::Rate,
        "4.5.3" => RejectReason::TooManyRecipients,
        "5.1.3" | "5.1.7" | "5.6.0" | "5.6.7" => RejectReason::Syntax,
        "4.3.0" => RejectReason::StoreError,
        _ => RejectReason::Other,
    }
}

#[cfg(test)]
mod submission_tests;
#[cfg(test)]
mod tests;
