//! The POP3 session: the RFC 1939 state machine with RFC 2449 (CAPA, response codes,
//! pipelining), RFC 2595 (STLS), RFC 5034 (AUTH) and RFC 3206 (AUTH, SYS response codes).
//!
//! Input is one command line at a time (the driver splits and bounds them); output goes into
//! an [`Output`] buffer that the session asks to be flushed while it streams a long RETR.
//! The session asks the `MailboxStore` actor directly (so its tests run against a real store
//! in a temporary directory) and knows nothing of sockets, TLS or timers: the driver performs
//! what [`Flow`] says.
//!
//! States (RFC 1939 §3): AUTHORIZATION (with a pending USER or SASL exchange) → TRANSACTION
//! { maildrop } → UPDATE (at QUIT only) → closed. Every command is checked against the state
//! in one place, [`allowed`], before it runs. One file per command group: `auth` (USER,
//! PASS, APOP, AUTH, STLS), `maildrop` (the message list and the IN-USE lock), `list` (STAT,
//! LIST, UIDL), `retr` (RETR, TOP), `dele` (DELE, RSET), `quit` (QUIT and UPDATE).
//!
//! Invariants: message numbers and sizes are fixed at login for the whole session; nothing is
//! removed from the store except by QUIT in the TRANSACTION state, and then in one
//! transaction — a dropped connection, a timeout or a shutdown removes nothing.

mod auth;
mod dele;
mod list;
mod maildrop;
mod quit;
mod retr;
#[cfg(test)]
mod tests;

use std::io;
use std::time::Duration;

use actix::Addr;
use mailroom_config::Limits;
use mailroom_store::{MailboxStore, StoreError};

use crate::proto::reply::{self, CapaState};
use crate::proto::{self, Command, MAX_LINE, MAX_SASL_LINE};
use maildrop::Maildrop;
pub use maildrop::{Hold, Maildrops};

/// RFC 1939 §3: an autologout timer, if any, is at least 10 minutes.
pub const TRANSACTION_IDLE_MINIMUM: Duration = Duration::from_secs(10 * 60);

/// Where the session writes its output; see [`mailroom_shared::net::Output`].
pub use mailroom_shared::net::Output;

/// What the driver must do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Write the output, drop every line received so far, run the TLS handshake, then call
    /// [`Session::tls_started`] (RFC 2595 §4).
    StartTls,
    /// Write the output and close.
    Close,
}

/// Session-wide facts that do not change while it runs.
#[derive(Debug, Clone)]
pub struct Context {
    /// Our host name, for the greeting and goodbyes.
    pub host: String,
    /// The client's address, for events (failed logins).
    pub peer: std::net::IpAddr,
    /// Whether the connection started in TLS (pop3s).
    pub tls: bool,
    /// `[security] allow_plaintext_auth`: USER/PASS and AUTH before TLS.
    pub allow_plaintext_auth: bool,
    /// Limits of the configuration the session was accepted under.
    pub limits: Limits,
    /// The login guard of that configuration: every LOGIN, AUTHENTICATE, PASS or AUTH goes
    /// through it (lockouts, and the delay before a refusal).
    pub login_guard: mailroom_shared::login_guard::LoginGuard,
    /// The maildrops held by POP3 sessions of this process (RFC 1939 §8 exclusive lock).
    pub maildrops: Maildrops,
}

/// What the next line in the AUTHORIZATION state continues.
#[derive(Debug)]
enum Pending {
    Nothing,
    /// USER was accepted; PASS must follow (RFC 1939 §7).
    User(String),
    /// AUTH PLAIN without an initial response: the next line is the response.
    SaslPlain,
    /// AUTH LOGIN: the user name, then the password.
    SaslLoginUser,
    SaslLoginPass(String),
}

#[derive(Debug)]
enum State {
    Authorization(Pending),
    Transaction(Box<Maildrop>),
    /// After QUIT, a timeout, a shutdown or too many errors: nothing more is read.
    Closed,
}

/// One POP3 session.
pub struct Session {
    ctx: Context,
    store: Addr<MailboxStore>,
    tls: bool,
    state: State,
    errors: u32,
    /// The address logged in as, for the admin panel's session list.
    login: Option<String>,
}

/// RFC 1939 §4–§6 (and RFC 2449 §5 for CAPA, RFC 2595 §4 for STLS, RFC 5034 §4 for AUTH):
/// the commands each state allows.
fn allowed(state: &State, command: &Command) -> bool {
    use Command as C;
    match command {
        C::Capa | C::Quit => true,
        C::User(_) | C::Pass(_) | C::Apop | C::Auth { .. } | C::Stls => {
            matches!(state, State::Authorization(_))
        }
        C::Noop
        | C::Rset
        | C::Stat
        | C::List(_)
        | C::Uidl(_)
        | C::Retr(_)
        | C::Dele(_)
        | C::Top(..) => matches!(state, State::Transaction(_)),
    }
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
            state: State::Authorization(Pending::Nothing),
            errors: 0,
            login: None,
        }
    }

    /// The address of the account logged in, once a login succeeded.
    pub fn login(&self) -> Option<&str> {
        self.login.as_deref()
    }

    /// The `+OK` greeting (RFC 1939 §4).
    pub fn greeting(&self) -> Vec<u8> {
        reply::greeting(&self.ctx.host)
    }

    /// Longest line the session takes next, CRLF included: a command, or a SASL response
    /// (RFC 5034 §4: not a command, so not held to 255 octets).
    pub fn max_line(&self) -> usize {
        match self.state {
            State::Authorization(
                Pending::SaslPlain | Pending::SaslLoginUser | Pending::SaslLoginPass(_),
            ) => MAX_SASL_LINE,
            _ => MAX_LINE,
        }
    }

    /// Whether the session holds a maildrop (TRANSACTION state).
    pub fn in_transaction(&self) -> bool {
        matches!(self.state, State::Transaction(_))
    }

    /// How long to wait for the next line when the configuration says `configured`: in the
    /// TRANSACTION state at least [`TRANSACTION_IDLE_MINIMUM`] (RFC 1939 §3); before login
    /// the configured time, so that silent connections do not tie up the server.
    pub fn idle_timeout(&self, configured: Duration) -> Duration {
        if self.in_transaction() {
            configured.max(TRANSACTION_IDLE_MINIMUM)
        } else {
            configured
        }
    }

    /// The TLS handshake after STLS succeeded. RFC 2595 §4: the server forgets what the
    /// client said before (a pending USER).
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.state = State::Authorization(Pending::Nothing);
    }

    /// The client was silent too long. RFC 1939 §3: the session ends without entering the
    /// UPDATE state, so nothing is removed.
    pub fn timed_out(&mut self) -> Vec<u8> {
        self.state = State::Closed;
        reply::err("idle for too long, closing connection")
    }

    /// The server is draining: goodbye without UPDATE (nothing is removed).
    pub fn shutting_down(&mut self) -> Vec<u8> {
        self.state = State::Closed;
        reply::err(&format!("{} shutting down", self.ctx.host))
    }

    /// An administrator ended the session: the `-ERR` to send before closing (no UPDATE
    /// state, so nothing marked deleted is removed, RFC 1939 §6).
    pub fn ended(&mut self) -> Vec<u8> {
        self.state = State::Closed;
        reply::err(&format!(
            "{} session ended by the administrator",
            self.ctx.host
        ))
    }

    /// The client sent a line over [`Session::max_line`]; it was dropped.
    pub fn line_too_long(&mut self, out: &mut Vec<u8>) -> Flow {
        // A SASL exchange cannot go on without its response (RFC 5034 §4: the exchange
        // fails); a USER stays pending only for the PASS right after it.
        if let State::Authorization(pending) = &mut self.state {
            *pending = Pending::Nothing;
        }
        out.extend(reply::err("command line too long"));
        self.count_error(out)
    }

    /// One line from the client, without its CRLF.
    pub async fn line(&mut self, line: &[u8], out: &mut impl Output) -> io::Result<Flow> {
        if matches!(self.state, State::Closed) {
            return Ok(Flow::Close);
        }
        if let State::Authorization(pending) = &mut self.state
            && matches!(
                pending,
                Pending::SaslPlain | Pending::SaslLoginUser | Pending::SaslLoginPass(_)
            )
        {
            let step = std::mem::replace(pending, Pending::Nothing);
            return Ok(self.sasl_response(step, line, out.buffer()).await);
        }
        let command = match proto::parse_command(line) {
            Ok(c) => c,
            Err(e) => {
                self.forget_user();
                out.buffer().extend(reply::err(&e.to_string()));
                return Ok(self.count_error(out.buffer()));
            }
        };
        tracing::trace!(command = command.name(), "command");
        if !allowed(&self.state, &command) {
            self.forget_user();
            let text = format!("{} is not valid in this state", command.name());
            out.buffer().extend(reply::err(&text));
            return Ok(self.count_error(out.buffer()));
        }
        // RFC 1939 §7: PASS only right after USER.
        if !matches!(command, Command::Pass(_)) {
            self.forget_user();
        }
        self.dispatch(command, out).await
    }

    async fn dispatch(&mut self, command: Command, out: &mut impl Output) -> io::Result<Flow> {
        use Command as C;
        let flow = match command {
            C::Capa => {
                out.buffer().extend(reply::capa(self.capa_state()));
                Flow::Continue
            }
            C::Quit => self.quit(out.buffer()).await,
            C::Noop => {
                out.buffer().extend(reply::ok("nothing to do"));
                Flow::Continue
            }
            C::User(name) => self.user(name, out.buffer()),
            C::Pass(password) => self.pass(password, out.buffer()).await,
            C::Apop => self.apop(out.buffer()),
            C::Auth { mechanism, initial } => {
                self.auth(mechanism.as_deref(), initial, out.buffer()).await
            }
            C::Stls => self.stls(out.buffer()),
            C::Stat => self.stat(out.buffer()),
            C::List(n) => self.list(n, out.buffer()),
            C::Uidl(n) => self.uidl(n, out.buffer()),
            C::Dele(n) => self.dele(n, out.buffer()),
            C::Rset => self.rset(out.buffer()),
            C::Retr(n) => self.retr(n, None, out).await?,
            C::Top(n, lines) => self.retr(n, Some(lines), out).await?,
        };
        Ok(flow)
    }

    fn capa_state(&self) -> CapaState {
        CapaState {
            tls: self.tls,
            auth_allowed: self.auth_allowed(),
            authorization: matches!(self.state, State::Authorization(_)),
        }
    }

    /// Whether credentials may be sent now (TLS, or `allow_plaintext_auth`).
    fn auth_allowed(&self) -> bool {
        self.tls || self.ctx.allow_plaintext_auth
    }

    fn forget_user(&mut self) {
        if let State::Authorization(pending @ Pending::User(_)) = &mut self.state {
            *pending = Pending::Nothing;
        }
    }

    /// Count an error reply; at `max_errors_per_session` the session says so and closes.
    fn count_error(&mut self, out: &mut Vec<u8>) -> Flow {
        self.errors += 1;
        if self.errors >= self.ctx.limits.max_errors_per_session {
            out.extend(reply::err("too many errors, closing connection"));
            self.state = State::Closed;
            return Flow::Close;
        }
        Flow::Continue
    }

    /// A client error (`-ERR text`), counted.
    fn client_error(&mut self, out: &mut Vec<u8>, text: &str) -> Flow {
        out.extend(reply::err(text));
        self.count_error(out)
    }
}
