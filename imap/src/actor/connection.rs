//! The IMAP connection driver: it owns the socket, splits the byte stream into client
//! messages with imap-codec's `Fragmentizer` (lines and literals, with the `+` continuation
//! for synchronizing literals and the size limits), hands each whole message to the session,
//! and performs what the session asks: write, STARTTLS, IDLE, close.
//!
//! It also hears of `MailboxChanged` events of the logged-in account (through
//! [`Watchers`]): outside IDLE they only mark the session so the next command reports them;
//! during IDLE the session writes the updates at once.

use std::io;
use std::time::{Duration, Instant};

use actix::Addr;
use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use imap_codec::imap_types::core::LiteralMode;
use mailroom_shared::metrics::{Protocol, metrics};
use mailroom_shared::msg::MailboxChanged;
use mailroom_shared::net::{
    AccountSessions, Connection, READ_CHUNK, Socket, SocketSink, run_in_span,
};
use mailroom_store::MailboxStore;
use tokio::sync::mpsc;

use super::watchers::{Watchers, Watching};
use crate::proto::{self, write};
use crate::session::{Context, Flow, Session};

/// Read and write buffer size of a session between big messages.
const SMALL_BUFFER: usize = 4096;

/// RFC 9051 §5.4: an authenticated session's inactivity timer is at least 30 minutes.
const AUTHENTICATED_IDLE_MINIMUM: Duration = Duration::from_secs(30 * 60);

/// Run one IMAP connection to its end.
pub(crate) async fn run(
    conn: Connection,
    store: Addr<MailboxStore>,
    watchers: Watchers,
    sessions: AccountSessions,
) {
    let store = mailroom_store::actor::local_twin(&store).await;
    run_in_span(conn.span(), drive(conn, store, watchers, sessions)).await
}

#[allow(clippy::too_many_lines)]
async fn drive(
    conn: Connection,
    store: Addr<MailboxStore>,
    watchers: Watchers,
    sessions: AccountSessions,
) -> io::Result<()> {
    let Connection {
        kind,
        socket,
        peer,
        snapshot,
        mut draining,
        guard,
        ..
    } = conn;
    let config = &snapshot.config;
    let timeout = Duration::from_secs(config.limits.command_timeout_secs);
    let implicit = kind.implicit_tls();
    let _active = metrics().session_started(kind);
    let mut socket = Socket::open(socket, kind, implicit, &snapshot.tls, timeout).await?;
    let mut session = Session::new(
        Context {
            host: config.server.hostname.clone(),
            peer: peer.ip(),
            tls: implicit,
            allow_plaintext_auth: config.security.allow_plaintext_auth,
            limits: config.limits.clone(),
            login_guard: mailroom_shared::login_guard::LoginGuard::from_config(config),
            sessions,
        },
        store,
    );
    socket.write_all(&session.greeting()).await?;

    let mut fz = Fragmentizer::new(session.max_message());
    // Buffers start small and shrink back after a big message: an idle session should cost
    // a few KiB, not the size of the largest APPEND or FETCH it ever did.
    let mut chunk = vec![0u8; SMALL_BUFFER];
    let mut big_message = false;
    let mut out: Vec<u8> = Vec::new();
    // Octets read since the last fragment, and how many the current fragment may have: a
    // line without its LF may not grow without bound (RFC 9051 §4 sets no limit; we do).
    let mut pending: usize = 0;
    let mut allowed: usize = proto::MAX_LINE;
    let mut refused_literal = false;
    let (tx, mut changes) = mpsc::unbounded_channel::<MailboxChanged>();
    let mut watching: Option<Watching> = None;
    loop {
        match fz.progress() {
            Some(info) => {
                pending = 0;
                allowed = proto::MAX_LINE;
                if let FragmentInfo::Line {
                    announcement: Some(LiteralAnnouncement { mode, length }),
                    ..
                } = info
                {
                    let length64 = u64::from(length);
                    if length64 > session.literal_limit(fz.message_bytes()) {
                        if mode == LiteralMode::Sync {
                            // RFC 9051 §7.5: refuse instead of sending "+"; the client then
                            // does not send the literal.
                            session.literal_refused(fz.message_bytes(), &mut out);
                            fz.skip_message();
                        } else {
                            // RFC 7888 §4: a non-synchronizing literal comes anyway; read and
                            // drop it, then refuse the command.
                            fz.poison_message();
                            refused_literal = true;
                            allowed = usize::try_from(length).unwrap_or(usize::MAX);
                        }
                    } else {
                        allowed = usize::try_from(length).unwrap_or(usize::MAX);
                        if mode == LiteralMode::Sync {
                            write::continuation(&mut out, "ready for the literal");
                            socket.write_all(&out).await?;
                            out.clear();
                        }
                    }
                    continue;
                }
                if !fz.is_message_complete() {
                    continue;
                }
                if std::mem::take(&mut refused_literal) {
                    session.literal_refused(fz.message_bytes(), &mut out);
                    continue;
                }
                if fz.is_max_message_size_exceeded() {
                    let tag = fz.decode_tag().map(|t| t.as_ref().to_string());
                    session.message_too_long(tag.as_deref(), &mut out);
                    continue;
                }
                let mut sink = SocketSink {
                    socket: &mut socket,
                    buf: std::mem::take(&mut out),
                };
                let arrived = Instant::now();
                let flow = session.message(fz.message_bytes(), &mut sink).await?;
                metrics().command_took(Protocol::Imap, arrived.elapsed());
                out = sink.buf;
                big_message |= fz.message_bytes().len() > READ_CHUNK;
                if let Some(account_id) = session.account_id()
                    && watching
                        .as_ref()
                        .is_none_or(|w| w.account_id() != account_id)
                {
                    watching = Some(watchers.watch(account_id, tx.clone()));
                    // The login changed (LOGIN, AUTHENTICATE): the session list shows it.
                    if let Some(address) = session.account_address() {
                        guard.set_account(address);
                    }
                }
                match flow {
                    Flow::Continue | Flow::Idle => {}
                    Flow::StartTls => {
                        socket.write_all(&out).await?;
                        out.clear();
                        // RFC 9051 §6.2.1: whatever the client sent before the handshake is
                        // not acted on.
                        fz = Fragmentizer::new(session.max_message());
                        socket = socket.upgrade(kind, &snapshot.tls, timeout).await?;
                        session.tls_started();
                    }
                    Flow::Close => {
                        socket.write_all(&out).await?;
                        socket.shutdown().await;
                        return Ok(());
                    }
                }
            }
            None => {
                if pending > allowed.saturating_add(proto::MAX_LINE) {
                    write::bye(&mut out, "command line too long");
                    socket.write_all(&out).await?;
                    socket.shutdown().await;
                    return Ok(());
                }
                socket.write_all(&out).await?;
                out.clear();
                let safe = fz.message_bytes().is_empty();
                if safe {
                    // Nothing of a next message is buffered: fresh buffers lose nothing.
                    if std::mem::take(&mut big_message) {
                        fz = Fragmentizer::new(session.max_message());
                    }
                    out.shrink_to(SMALL_BUFFER);
                    if chunk.len() > SMALL_BUFFER {
                        chunk = vec![0u8; SMALL_BUFFER];
                    }
                }
                let wait = if session.account_id().is_some() {
                    timeout.max(AUTHENTICATED_IDLE_MINIMUM)
                } else {
                    timeout
                };
                tokio::select! {
                    biased;
                    () = draining.started(), if safe => {
                        out.extend(session.shutting_down());
                        socket.write_all(&out).await?;
                        socket.shutdown().await;
                        return Ok(());
                    }
                    // Ended from the admin panel: at once, also inside IDLE or a literal.
                    () = guard.ended() => {
                        out.extend(session.ended());
                        socket.write_all(&out).await?;
                        socket.shutdown().await;
                        return Ok(());
                    }
                    Some(change) = changes.recv() => {
                        if session.watching().is_some_and(|(_, mailbox)| mailbox == change.mailbox_id) {
                            let mut sink = SocketSink { socket: &mut socket, buf: std::mem::take(&mut out) };
                            session.idle_wakeup(&mut sink).await?;
                            out = sink.buf;
                        }
                    }
                    read = tokio::time::timeout(wait, socket.read(&mut chunk)) => match read {
                        Err(_) => {
                            out.extend(session.timed_out());
                            socket.write_all(&out).await?;
                            socket.shutdown().await;
                            return Ok(());
                        }
                        Ok(Ok(0)) => return Ok(()),
                        Ok(Ok(n)) => {
                            pending += n;
                            fz.enqueue_bytes(&chunk[..n]);
                            // A full read means more is coming (a literal): read bigger.
                            if n == chunk.len() && chunk.len() < READ_CHUNK {
                                chunk.resize(READ_CHUNK, 0);
                            }
                        }
                        Ok(Err(e)) => return Err(e),
                    },
                }
            }
        }
    }
}
