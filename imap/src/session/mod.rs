//! The IMAP session: RFC 9051 (IMAP4rev2) and RFC 3501 (IMAP4rev1) state machine with the
//! extensions we advertise.
//!
//! Input is one whole client message at a time (a command with its literals, a SASL
//! response, or IDLE's DONE), as the driver's `Fragmentizer` delimits them; output goes into
//! an [`Output`] buffer that the session asks to be flushed while it produces long answers.
//! The session asks the `MailboxStore` actor directly (so its tests run against a real
//! store in a temporary directory) and knows nothing of sockets, TLS or timers: the driver
//! performs what [`Flow`] says.
//!
//! States (RFC 9051 §3): Not Authenticated → Authenticated { account } → Selected
//! { account, mailbox } → Logout. Every command is checked against the state in one place,
//! [`allowed`], before it runs. One file per command group: `auth` (STARTTLS, LOGIN,
//! AUTHENTICATE, ENABLE, ID), `mailboxes` (CREATE … STATUS), `select`, `append`, `fetch`,
//! `store`, `copy`, `expunge`, `search`, `idle`.

mod append;
mod auth;
mod copy;
mod expunge;
mod fetch;
mod idle;
mod mailboxes;
mod search;
mod select;
pub(crate) mod selected;
mod store;
#[cfg(test)]
mod tests;

use std::io;

use actix::Addr;
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::mailbox::Mailbox;
use mailroom_config::Limits;
use mailroom_shared::net::{AccountGuard, AccountSessions};
use mailroom_store::actor::{Changes, ClaimRecent};
use mailroom_store::{Account, MailboxStore, StoreError};

use crate::proto::write::{self, Status};
use crate::proto::{self, CapabilityState};
use mailroom_shared::spool::Spool;
use selected::Selected;

/// Where the session writes its output; see [`mailroom_shared::net::Output`].
pub use mailroom_shared::net::Output;

/// What the driver must do after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next message.
    Continue,
    /// Write the output, run the TLS handshake, then call [`Session::tls_started`]; anything
    /// the client sent before the handshake is discarded (RFC 9051 §6.2.1).
    StartTls,
    /// The client is idling: read (for DONE) and also wake the session with
    /// [`Session::idle_wakeup`] when its mailbox changes.
    Idle,
    /// Write the output and close.
    Close,
}

/// Session-wide facts that do not change while it runs.
#[derive(Debug, Clone)]
pub struct Context {
    /// Our host name, for the greeting and BYE.
    pub host: String,
    /// The client's address, for events (failed logins).
    pub peer: std::net::IpAddr,
    /// Whether the connection started in TLS (imaps).
    pub tls: bool,
    /// `[security] allow_plaintext_auth`: LOGIN/AUTHENTICATE before TLS.
    pub allow_plaintext_auth: bool,
    /// Limits of the configuration the session was accepted under.
    pub limits: Limits,
    /// The login guard of that configuration: every LOGIN, AUTHENTICATE, PASS or AUTH goes
    /// through it (lockouts, and the delay before a refusal).
    pub login_guard: mailroom_shared::login_guard::LoginGuard,
    /// Logged-in sessions per account, shared by all IMAP sessions of the process.
    pub sessions: AccountSessions,
}

/// Where the next client message goes.
#[derive(Debug)]
enum Mode {
    Command,
    /// AUTHENTICATE PLAIN without an initial response: the next line is the response.
    SaslPlain {
        tag: String,
    },
    /// AUTHENTICATE LOGIN: the user name, then the password.
    SaslLoginUser {
        tag: String,
    },
    SaslLoginPass {
        tag: String,
        user: String,
    },
    /// IDLE until DONE (RFC 2177).
    Idle {
        tag: String,
    },
    Closed,
}

#[derive(Debug)]
enum State {
    NotAuthenticated,
    Authenticated {
        account: Account,
    },
    Selected {
        account: Account,
        mailbox: Box<Selected>,
    },
}

/// One IMAP session.
pub struct Session {
    ctx: Context,
    store: Addr<MailboxStore>,
    tls: bool,
    state: State,
    mode: Mode,
    /// ENABLE IMAP4rev2 (RFC 9051 §6.3.1): UTF-8 names, ESEARCH answers, no \Recent.
    rev2: bool,
    /// ENABLE UTF8=ACCEPT (RFC 6855) or IMAP4rev2: names are UTF-8, not modified UTF-7.
    utf8: bool,
    errors: u32,
    /// This session's place in `limits.max_sessions_per_account`, once logged in.
    _account_place: Option<AccountGuard>,
    /// The APPEND literal of the message being handled, when the driver streamed it to a
    /// spool instead of the command's buffer (the command then carries an empty literal).
    spooled: Option<Spool>,
}

/// Commands the RFCs allow in each state (RFC 9051 §6).
fn allowed(state: &State, body: &CommandBody<'_>) -> bool {
    use CommandBody as C;
    match body {
        C::Capability | C::Noop | C::Logout | C::Id { .. } => true,
        C::StartTLS | C::Authenticate { .. } | C::Login { .. } => {
            matches!(state, State::NotAuthenticated)
        }
        // RFC 5161 §3.1: ENABLE only in the authenticated state.
        C::Enable { .. } => matches!(state, State::Authenticated { .. }),
        C::Select { .. }
        | C::Examine { .. }
        | C::Create { .. }
        | C::Delete { .. }
        | C::Rename { .. }
        | C::Subscribe { .. }
        | C::Unsubscribe { .. }
        | C::List { .. }
        | C::Lsub { .. }
        | C::Namespace
        | C::Status { .. }
        | C::Append { .. }
        | C::Idle => !matches!(state, State::NotAuthenticated),
        C::Check
        | C::Close
        | C::Unselect
        | C::Expunge
        | C::ExpungeUid { .. }
        | C::Search { .. }
        | C::Fetch { .. }
        | C::Store { .. }
        | C::Copy { .. }
        | C::Move { .. } => matches!(state, State::Selected { .. }),
        _ => false,
    }
}

/// A store failure as the NO a client can act on (STYLE §6: mapped in one place).
pub(crate) fn store_error(out: &mut Vec<u8>, tag: &str, e: &StoreError) {
    let (code, text) = match e {
        StoreError::NotFound(_) => ("NONEXISTENT", e.to_string()),
        StoreError::Exists(_) => ("ALREADYEXISTS", e.to_string()),
        StoreError::Invalid(_) | StoreError::UnknownDomain(_) => ("CANNOT", e.to_string()),
        StoreError::QuotaExceeded { .. } => ("OVERQUOTA", e.to_string()),
        StoreError::Unavailable(_) => {
            tracing::warn!(error = %e, "store unavailable");
            (
                "UNAVAILABLE",
                "the mailbox store is unavailable, try again later".into(),
            )
        }
    };
    write::status(out, Some(tag), Status::No, Some(code), &text);
}

/// The answer of a message to the store actor, with a dead actor as `Unavailable`.
pub(crate) fn answer<T>(
    r: Result<Result<T, StoreError>, actix::MailboxError>,
) -> Result<T, StoreError> {
    r.unwrap_or_else(|e| Err(StoreError::Unavailable(e.to_string())))
}

impl Session {
    /// A new session; send [`Session::greeting`] first.
    pub fn new(ctx: Context, store: Addr<MailboxStore>) -> Self {
        Self {
            tls: ctx.tls,
            ctx,
            store,
            state: State::NotAuthenticated,
            mode: Mode::Command,
            rev2: false,
            utf8: false,
            errors: 0,
            _account_place: None,
            spooled: None,
        }
    }

    fn capability_state(&self) -> CapabilityState {
        CapabilityState {
            tls: self.tls,
            auth_allowed: self.tls || self.ctx.allow_plaintext_auth,
            authenticated: !matches!(self.state, State::NotAuthenticated),
        }
    }

    /// The untagged OK greeting with the capabilities (RFC 9051 §7.1.1).
    pub fn greeting(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let caps = proto::capabilities(self.capability_state());
        write::status(
            &mut out,
            None,
            Status::Ok,
            Some(&format!("CAPABILITY {caps}")),
            &format!("{} mailroom ready", self.ctx.host),
        );
        out
    }

    /// Largest literal the client may send in the message that starts with `so_far`:
    /// APPEND takes a message of up to `max_message_size`, any other command small strings.
    /// Before login a whole command, literals included, stays under
    /// [`proto::MAX_PRE_AUTH_MESSAGE`]: LOGIN and AUTHENTICATE need only short strings, and
    /// nobody unknown may make the server hold more.
    pub fn literal_limit(&self, so_far: &[u8]) -> u64 {
        if matches!(self.state, State::NotAuthenticated) {
            let room = proto::MAX_PRE_AUTH_MESSAGE.saturating_sub(so_far.len());
            return u64::from(proto::MAX_PRE_AUTH_LITERAL).min(room as u64);
        }
        if is_append(so_far) {
            self.ctx.limits.max_message_size
        } else {
            u64::from(proto::MAX_SMALL_LITERAL)
        }
    }

    /// Whether the literal of `length` octets announced after `so_far` (accepted by
    /// [`Session::literal_limit`]) is a message big enough to be streamed to a spool rather
    /// than held in the command's buffer; the driver then hands it over with
    /// [`Session::attach_literal`].
    pub fn spools_literal(&self, so_far: &[u8], length: u64) -> bool {
        !matches!(self.state, State::NotAuthenticated)
            && is_append(so_far)
            && length > mailroom_shared::spool::MEMORY_MAX as u64
    }

    /// The literal of the next message, streamed to `spool`; the message itself carries an
    /// empty literal in its place.
    pub fn attach_literal(&mut self, spool: Spool) {
        self.spooled = Some(spool);
    }

    /// The server's budget for message data is exhausted (`[limits] max_inflight_bytes`):
    /// the APPEND that starts with `so_far` is refused for now (RFC 5530 §3: LIMIT).
    pub fn no_room(&mut self, so_far: &[u8], out: &mut Vec<u8>) {
        let tag = tag_of(so_far);
        write::status(
            out,
            tag.as_deref(),
            Status::No,
            Some("LIMIT"),
            "the server is busy with other messages, try again later",
        );
    }

    /// Most octets of one client message the driver buffers.
    pub fn max_message(&self) -> u32 {
        let most = self.ctx.limits.max_message_size + u64::from(proto::COMMAND_OVERHEAD);
        u32::try_from(most).unwrap_or(u32::MAX)
    }

    /// The client announced a literal over [`Session::literal_limit`] in the message that
    /// starts with `so_far`. The driver skips the rest of the message.
    pub fn literal_refused(&mut self, so_far: &[u8], out: &mut Vec<u8>) {
        let tag = tag_of(so_far);
        let tag = tag.as_deref();
        if is_append(so_far) {
            // RFC 9051 §7.1: TOOBIG tells the client not to retry the same message.
            write::status(out, tag, Status::No, Some("TOOBIG"), "message too big");
        } else {
            // RFC 9051 §7.1 TOOBIG; RFC 7888 §4: a non-synchronizing literal over the
            // limit is answered with a tagged BAD, its octets are read and dropped.
            write::status(
                out,
                tag,
                Status::Bad,
                Some("TOOBIG"),
                "literal too big for this command",
            );
        }
        self.count_error(out);
    }

    /// The client's message was longer than [`Session::max_message`] and was dropped.
    pub fn message_too_long(&mut self, tag: Option<&str>, out: &mut Vec<u8>) {
        write::status(out, tag, Status::Bad, Some("TOOBIG"), "command too long");
        self.count_error(out);
    }

    /// The client was silent for the command timeout (RFC 9051 §5.4: autologout).
    pub fn timed_out(&mut self) -> Vec<u8> {
        self.mode = Mode::Closed;
        let mut out = Vec::new();
        write::bye(&mut out, "autologout; idle for too long");
        out
    }

    /// The server is draining.
    pub fn shutting_down(&mut self) -> Vec<u8> {
        self.mode = Mode::Closed;
        let mut out = Vec::new();
        write::bye(&mut out, &format!("{} shutting down", self.ctx.host));
        out
    }

    /// An administrator ended the session: the `* BYE` to send before closing.
    pub fn ended(&mut self) -> Vec<u8> {
        self.mode = Mode::Closed;
        let mut out = Vec::new();
        write::bye(
            &mut out,
            &format!("{} session ended by the administrator", self.ctx.host),
        );
        out
    }

    /// The TLS handshake after STARTTLS succeeded.
    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    /// The account and mailbox whose changes this session must hear of.
    pub fn watching(&self) -> Option<(i64, i64)> {
        match &self.state {
            State::Selected { account, mailbox } => Some((account.id, mailbox.info.id)),
            _ => None,
        }
    }

    /// The logged-in account, if any.
    pub fn account_id(&self) -> Option<i64> {
        match &self.state {
            State::Authenticated { account } | State::Selected { account, .. } => Some(account.id),
            State::NotAuthenticated => None,
        }
    }

    /// The address of the account logged in, if any.
    pub fn account_address(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated { account } | State::Selected { account, .. } => {
                Some(&account.address)
            }
            State::NotAuthenticated => None,
        }
    }

    /// The selected mailbox changed in the store; the next command (or IDLE) reports it.
    pub fn mailbox_changed(&mut self) {
        if let State::Selected { mailbox, .. } = &mut self.state {
            mailbox.dirty = true;
        }
    }

    /// Whether the session is idling (the driver then also waits for mailbox changes).
    pub fn idling(&self) -> bool {
        matches!(self.mode, Mode::Idle { .. })
    }

    /// One whole client message (command, SASL response or DONE).
    pub async fn message(&mut self, bytes: &[u8], out: &mut impl Output) -> io::Result<Flow> {
        let flow = match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::Command => self.command(bytes, out).await?,
            Mode::Closed => {
                self.mode = Mode::Closed;
                Flow::Close
            }
            Mode::Idle { tag } => self.idle_message(tag, bytes, out).await?,
            mode @ (Mode::SaslPlain { .. }
            | Mode::SaslLoginUser { .. }
            | Mode::SaslLoginPass { .. }) => self.sasl_response(mode, bytes, out.buffer()).await,
        };
        // A spooled literal belongs to this message only.
        self.spooled = None;
        if matches!(self.mode, Mode::Closed) {
            return Ok(Flow::Close);
        }
        Ok(flow)
    }

    async fn command(&mut self, bytes: &[u8], out: &mut impl Output) -> io::Result<Flow> {
        let tag = tag_of(bytes);
        // Clauses imap-codec does not parse (ESEARCH RETURN, LIST-EXTENDED options) are
        // taken out first and handed to the command.
        let mut extras = match Extras::take(bytes) {
            Ok(x) => x,
            Err(text) => {
                write::status(out.buffer(), tag.as_deref(), Status::Bad, None, &text);
                self.count_error(out.buffer());
                return Ok(Flow::Continue);
            }
        };
        let rewritten = extras.rewritten.take();
        let bytes = rewritten.as_deref().unwrap_or(bytes);
        let command = match CommandCodec::default().decode(bytes) {
            Ok((b"", command)) => command,
            Ok(_) | Err(_) => {
                let text = match &tag {
                    Some(_) => "syntax error in command or arguments",
                    None => "missing or invalid tag",
                };
                write::status(out.buffer(), tag.as_deref(), Status::Bad, None, text);
                self.count_error(out.buffer());
                return Ok(Flow::Continue);
            }
        };
        let tag = command.tag.as_ref().to_string();
        if !allowed(&self.state, &command.body) {
            let text = format!("{} is not allowed in this state", command.body.name());
            write::status(out.buffer(), Some(&tag), Status::Bad, None, &text);
            self.count_error(out.buffer());
            return Ok(Flow::Continue);
        }
        self.dispatch(command, &tag, extras, out).await
    }

    async fn dispatch(
        &mut self,
        command: Command<'_>,
        tag: &str,
        extras: Extras,
        out: &mut impl Output,
    ) -> io::Result<Flow> {
        use CommandBody as C;
        let flow = match command.body {
            C::Capability => {
                let caps = proto::capabilities(self.capability_state());
                write::untagged(out.buffer(), &format!("CAPABILITY {caps}"));
                self.updates(out.buffer(), true).await;
                write::status(
                    out.buffer(),
                    Some(tag),
                    Status::Ok,
                    None,
                    "CAPABILITY completed",
                );
                Flow::Continue
            }
            C::Noop | C::Check => {
                // RFC 9051 drops CHECK; for IMAP4rev1 clients it is a NOOP (writes are
                // durable when acknowledged, so there is nothing to checkpoint).
                let done = if matches!(command.body, C::Check) {
                    "CHECK completed"
                } else {
                    "NOOP completed"
                };
                self.updates(out.buffer(), true).await;
                write::status(out.buffer(), Some(tag), Status::Ok, None, done);
                Flow::Continue
            }
            C::Logout => {
                write::bye(out.buffer(), &format!("{} logging out", self.ctx.host));
                write::status(
                    out.buffer(),
                    Some(tag),
                    Status::Ok,
                    None,
                    "LOGOUT completed",
                );
                self.mode = Mode::Closed;
                Flow::Close
            }
            C::Id { .. } => {
                write::untagged(
                    out.buffer(),
                    &format!(
                        "ID (\"name\" \"mailroom\" \"version\" \"{}\")",
                        env!("CARGO_PKG_VERSION")
                    ),
                );
                write::status(out.buffer(), Some(tag), Status::Ok, None, "ID completed");
                Flow::Continue
            }
            C::StartTLS => self.starttls(tag, out.buffer()),
            C::Login { username, password } => {
                self.login(
                    tag,
                    username.as_ref(),
                    password.declassify().as_ref(),
                    out.buffer(),
                )
                .await;
                Flow::Continue
            }
            C::Authenticate {
                mechanism,
                initial_response,
            } => {
                let ir = initial_response.map(|s| s.declassify().to_vec());
                self.authenticate(tag, &mechanism, ir, out.buffer()).await;
                Flow::Continue
            }
            C::Enable { capabilities } => {
                self.enable(tag, capabilities.as_ref(), out.buffer());
                Flow::Continue
            }
            C::Namespace => {
                // RFC 2342: one personal namespace, no others.
                write::untagged(out.buffer(), "NAMESPACE ((\"\" \"/\")) NIL NIL");
                write::status(
                    out.buffer(),
                    Some(tag),
                    Status::Ok,
                    None,
                    "NAMESPACE completed",
                );
                Flow::Continue
            }
            C::Select { mailbox, .. } => {
                self.select(tag, &mailbox, false, out.buffer()).await;
                Flow::Continue
            }
            C::Examine { mailbox, .. } => {
                self.select(tag, &mailbox, true, out.buffer()).await;
                Flow::Continue
            }
            C::Create { mailbox } => {
                self.create(tag, &mailbox, out.buffer()).await;
                Flow::Continue
            }
            C::Delete { mailbox } => {
                self.delete(tag, &mailbox, out.buffer()).await;
                Flow::Continue
            }
            C::Rename { from, to } => {
                self.rename(tag, &from, &to, out.buffer()).await;
                Flow::Continue
            }
            C::Subscribe { mailbox } => {
                self.subscribe(tag, &mailbox, true, out.buffer()).await;
                Flow::Continue
            }
            C::Unsubscribe { mailbox } => {
                self.subscribe(tag, &mailbox, false, out.buffer()).await;
                Flow::Continue
            }
            C::List {
                reference,
                mailbox_wildcard,
            } => {
                self.list(
                    tag,
                    &reference,
                    &mailbox_wildcard,
                    extras.list,
                    out.buffer(),
                )
                .await;
                Flow::Continue
            }
            C::Lsub {
                reference,
                mailbox_wildcard,
            } => {
                self.lsub(tag, &reference, &mailbox_wildcard, out.buffer())
                    .await;
                Flow::Continue
            }
            C::Status {
                mailbox,
                item_names,
            } => {
                self.status(tag, &mailbox, &item_names, out.buffer()).await;
                Flow::Continue
            }
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                self.append(tag, &mailbox, &flags, date.as_ref(), message, out.buffer())
                    .await;
                Flow::Continue
            }
            C::Idle => self.idle(tag, out.buffer()).await,
            C::Close => {
                self.close(tag, true, out.buffer()).await;
                Flow::Continue
            }
            C::Unselect => {
                self.close(tag, false, out.buffer()).await;
                Flow::Continue
            }
            C::Expunge => {
                self.expunge(tag, None, out.buffer()).await;
                Flow::Continue
            }
            C::ExpungeUid { sequence_set } => {
                self.expunge(tag, Some(&sequence_set), out.buffer()).await;
                Flow::Continue
            }
            C::Search {
                charset,
                criteria,
                uid,
            } => {
                self.search(
                    tag,
                    charset.as_ref(),
                    criteria.as_ref(),
                    uid,
                    extras.search,
                    out.buffer(),
                )
                .await;
                Flow::Continue
            }
            C::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                ..
            } => {
                self.fetch(tag, &sequence_set, macro_or_item_names, uid, out)
                    .await?;
                Flow::Continue
            }
            C::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                ..
            } => {
                self.store(
                    tag,
                    &sequence_set,
                    kind,
                    response,
                    &flags,
                    uid,
                    out.buffer(),
                )
                .await;
                Flow::Continue
            }
            C::Copy {
                sequence_set,
                mailbox,
                uid,
            } => {
                self.copy(tag, &sequence_set, &mailbox, uid, false, out.buffer())
                    .await;
                Flow::Continue
            }
            C::Move {
                sequence_set,
                mailbox,
                uid,
            } => {
                self.copy(tag, &sequence_set, &mailbox, uid, true, out.buffer())
                    .await;
                Flow::Continue
            }
            other => {
                let text = format!("{} is not supported", other.name());
                write::status(out.buffer(), Some(tag), Status::Bad, None, &text);
                self.count_error(out.buffer());
                Flow::Continue
            }
        };
        Ok(flow)
    }

    /// Count an error reply; after `max_errors_per_session` the session ends with BYE.
    fn count_error(&mut self, out: &mut Vec<u8>) {
        self.errors += 1;
        if self.errors >= self.ctx.limits.max_errors_per_session {
            write::bye(out, "too many errors");
            self.mode = Mode::Closed;
        }
    }

    /// Bring the selected mailbox up to date and write the untagged updates (RFC 9051
    /// §7.3, §7.5). `expunge_ok` is false while a sequence-number command answers.
    async fn updates(&mut self, out: &mut Vec<u8>, expunge_ok: bool) {
        let rev2 = self.rev2;
        let State::Selected { account, mailbox } = &mut self.state else {
            return;
        };
        if expunge_ok {
            mailbox.announce_expunges(out);
        }
        if !mailbox.dirty {
            return;
        }
        let asked = self
            .store
            .send(Changes {
                account_id: account.id,
                mailbox_id: mailbox.info.id,
                since_modseq: mailbox.modseq,
            })
            .await;
        match answer(asked) {
            Ok(changes) => {
                let mark = match mailbox.newest_unknown(&changes) {
                    Some(newest) if !rev2 => {
                        let unclaimed = changes.mailbox.recent_uid;
                        recent_mark(&self.store, account.id, mailbox, newest, unclaimed).await
                    }
                    _ => u32::MAX,
                };
                mailbox.apply(changes, mark, expunge_ok, rev2, out);
            }
            // The mailbox is gone (deleted by another session): RFC 9051 §7.1.5 lets the
            // server end the session; we say why and keep the connection for the client
            // to select another mailbox.
            Err(StoreError::NotFound(_)) => {
                write::status(
                    out,
                    None,
                    Status::No,
                    Some("NONEXISTENT"),
                    "the selected mailbox was deleted",
                );
                let account = account.clone();
                self.state = State::Authenticated { account };
            }
            Err(e) => tracing::warn!(error = %e, "could not read mailbox changes"),
        }
    }

    /// A name from the client as our UTF-8 name: modified UTF-7 decoded for IMAP4rev1
    /// sessions (RFC 3501 §5.1.3), as is after ENABLE IMAP4rev2 / UTF8=ACCEPT. The error is
    /// the text of the `NO [CANNOT]` that refuses the name: the command was well formed (any
    /// astring is a syntactically valid mailbox), only no mailbox can have this name.
    fn mailbox_name(&self, mailbox: &Mailbox<'_>) -> Result<String, String> {
        let raw = match mailbox {
            Mailbox::Inbox => return Ok("INBOX".into()),
            Mailbox::Other(other) => other.as_ref(),
        };
        let text = std::str::from_utf8(raw).map_err(|_| "mailbox name is not UTF-8".to_string())?;
        if self.utf8 {
            return Ok(text.to_string());
        }
        crate::names::decode_mutf7(text)
            .map_err(|e| format!("mailbox name is not valid modified UTF-7: {e}"))
    }

    /// The client's mailbox name, or the `NO [CANNOT]` written for it (see
    /// [`Session::mailbox_name`]). RFC 3501 §5.1.3 leaves a server free to refuse a name
    /// that is not valid modified UTF-7; a refusal is NO, not BAD, because the command's
    /// syntax was right, and it does not count towards the session's error limit.
    pub(super) fn name_or_no(
        &self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        out: &mut Vec<u8>,
    ) -> Option<String> {
        match self.mailbox_name(mailbox) {
            Ok(n) => Some(n),
            Err(text) => {
                write::status(out, Some(tag), Status::No, Some("CANNOT"), &text);
                None
            }
        }
    }

    /// Our name as the client must see it (the inverse of [`Session::mailbox_name`]).
    fn wire_name(&self, name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if self.utf8 {
            write::string(&mut out, name.as_bytes(), true);
        } else {
            write::string(&mut out, crate::names::encode_mutf7(name).as_bytes(), false);
        }
        out
    }
}

/// The UID above which the messages up to `newest` are `\Recent` in this session (RFC 3501
/// §2.3.2: in exactly one session, the first told of them), given the store's mark
/// `unclaimed` as last read. A read-write session claims them from the store, which runs
/// claims one at a time and so gives each message to one session only; a read-only one
/// takes those nobody has claimed, without claiming (RFC 3501 §6.3.2). IMAP4rev2 has no
/// `\Recent` (RFC 9051 §2.3.2): such sessions neither show nor claim it, so they take it
/// from no IMAP4rev1 client; they do not call this.
async fn recent_mark(
    store: &Addr<MailboxStore>,
    account_id: i64,
    mailbox: &Selected,
    newest: u32,
    unclaimed: u32,
) -> u32 {
    if mailbox.read_only || newest <= unclaimed {
        return unclaimed;
    }
    let claimed = store
        .send(ClaimRecent {
            account_id,
            mailbox_id: mailbox.info.id,
            up_to: newest,
        })
        .await;
    answer(claimed).unwrap_or_else(|e| {
        // \Recent is advisory: the command goes on without it.
        tracing::warn!(error = %e, "could not claim recent messages");
        u32::MAX
    })
}

/// Whether the message is an APPEND (whose literal is a whole message).
fn is_append(message: &[u8]) -> bool {
    message
        .split(|&b| b == b' ')
        .nth(1)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND"))
}

/// The tag of a message, if it has a valid one (RFC 9051 §9 `tag`).
fn tag_of(bytes: &[u8]) -> Option<String> {
    let end = bytes
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
    let tag = &bytes[..end];
    let valid = !tag.is_empty()
        && tag.iter().all(|&b| {
            b.is_ascii_graphic()
                && !matches!(b, b'+' | b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
        });
    valid.then(|| String::from_utf8_lossy(tag).into_owned())
}

/// Clauses of a command that imap-codec does not parse, taken out before it decodes.
#[derive(Debug, Default)]
struct Extras {
    search: Option<crate::search::ReturnOptions>,
    list: Option<crate::names::ListOptions>,
    rewritten: Option<Vec<u8>>,
}

impl Extras {
    fn take(bytes: &[u8]) -> Result<Self, String> {
        let name = bytes
            .split(|&b| b == b' ')
            .skip(1)
            .find(|w| !w.eq_ignore_ascii_case(b"UID"));
        let mut x = Extras::default();
        match name {
            Some(w) if w.eq_ignore_ascii_case(b"SEARCH") => {
                if let Some((opts, rest)) = crate::search::strip_search_return(bytes)? {
                    x.search = Some(opts);
                    x.rewritten = Some(rest);
                }
            }
            Some(w) if w.eq_ignore_ascii_case(b"LIST") => {
                if let Some((opts, rest)) = crate::names::strip_list_extended(bytes)? {
                    x.list = Some(opts);
                    x.rewritten = Some(rest);
                }
            }
            _ => {}
        }
        Ok(x)
    }
}
