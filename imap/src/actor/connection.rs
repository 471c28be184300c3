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
use mailroom_shared::spool::Spool;
use mailroom_store::MailboxStore;
use tokio::sync::mpsc;

use super::literal::{self, Diversion, Diverted, divert};
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
    // A literal taken out of the stream (refused, or an APPEND going to a spool).
    let mut diversion: Option<Diversion> = None;
    // The next complete message is (the rest of) a command already answered: drop it.
    let mut answered = false;
    // The spooled literal of the message being read, for the session.
    let mut spooled: Option<Spool> = None;
    let (tx, mut changes) = mpsc::unbounded_channel::<MailboxChanged>();
    let mut watching: Option<Watching> = None;
    loop {
        match fz.progress() {
            Some(info) => {
                pending = 0;
                allowed = proto::MAX_LINE;
                if let FragmentInfo::Line {
                    start,
                    end,
                    announcement: Some(LiteralAnnouncement { mode, length }),
                    ..
                } = info
                {
                    let length64 = u64::from(length);
                    let max = session.max_message();
                    if answered {
                        // More literals of a refused command: dropped as well; a client
                        // that waits for "+" has had its answer.
                        if mode == LiteralMode::Sync {
                            fz.skip_message();
                            answered = false;
                        } else {
                            diversion =
                                divert(&mut fz, end, Diversion::Discard { left: length64 }, max)?;
                        }
                        continue;
                    }
                    if spooled.is_some() && length == 0 {
                        // The stand-in for the literal that went to the spool.
                        continue;
                    }
                    let so_far = fz.message_bytes();
                    if length64 > session.literal_limit(so_far) {
                        session.literal_refused(so_far, &mut out);
                        refuse(
                            &mut fz,
                            end,
                            mode,
                            length64,
                            max,
                            &mut diversion,
                            &mut answered,
                        )?;
                        continue;
                    }
                    // Spooled when the command so far is this one line (no literal before
                    // it to be read again when the command is fed anew with a stand-in).
                    if start == 0 && session.spools_literal(so_far, length64) {
                        match Spool::start() {
                            Err(_) => {
                                session.no_room(so_far, &mut out);
                                refuse(
                                    &mut fz,
                                    end,
                                    mode,
                                    length64,
                                    max,
                                    &mut diversion,
                                    &mut answered,
                                )?;
                            }
                            Ok(spool) => {
                                let line = literal::placeholder(&so_far[..end.min(so_far.len())]);
                                if mode == LiteralMode::Sync {
                                    write::continuation(&mut out, "ready for the literal");
                                    socket.write_all(&out).await?;
                                    out.clear();
                                }
                                let d = Diversion::Spool {
                                    spool,
                                    left: length64,
                                    line,
                                };
                                diversion = divert(&mut fz, end, d, max)?;
                            }
                        }
                        continue;
                    }
                    // Only a literal the fragmentizer reads may make its message longer.
                    allowed = usize::try_from(length).unwrap_or(usize::MAX);
                    if mode == LiteralMode::Sync {
                        write::continuation(&mut out, "ready for the literal");
                        socket.write_all(&out).await?;
                        out.clear();
                    }
                    continue;
                }
                if !fz.is_message_complete() {
                    continue;
                }
                if std::mem::take(&mut answered) {
                    continue;
                }
                if fz.is_max_message_size_exceeded() {
                    let tag = fz.decode_tag().map(|t| t.as_ref().to_string());
                    session.message_too_long(tag.as_deref(), &mut out);
                    continue;
                }
                if let Some(spool) = spooled.take() {
                    session.attach_literal(spool);
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
                let safe =
                    fz.message_bytes().is_empty() && diversion.is_none() && spooled.is_none();
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
                            let mut bytes = &chunk[..n];
                            if let Some(d) = diversion.take() {
                                let (diverted, rest) = d.take(bytes)?;
                                bytes = rest;
                                match diverted {
                                    Diverted::Reading(d) => diversion = Some(d),
                                    Diverted::Dropped => {}
                                    Diverted::Spooled { spool, line } => {
                                        fz.enqueue_bytes(&line);
                                        spooled = Some(spool);
                                    }
                                }
                            }
                            pending += bytes.len();
                            fz.enqueue_bytes(bytes);
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

/// A literal announced in a command that was just refused: a synchronizing one is never sent
/// (the client got its answer instead of "+"), a non-synchronizing one comes anyway and is
/// read and dropped as it streams (RFC 7888 §4), never buffered; the rest of the command is
/// dropped too.
fn refuse(
    fz: &mut Fragmentizer,
    line_end: usize,
    mode: LiteralMode,
    length: u64,
    max_message: u32,
    diversion: &mut Option<Diversion>,
    answered: &mut bool,
) -> io::Result<()> {
    if mode == LiteralMode::Sync {
        fz.skip_message();
        return Ok(());
    }
    *diversion = divert(
        fz,
        line_end,
        Diversion::Discard { left: length },
        max_message,
    )?;
    *answered = true;
    Ok(())
}
