//! The POP3 connection driver: it owns the socket, splits the byte stream into bounded lines
//! ([`LineBuffer`]), hands each to the session in order (pipelined commands are answered in
//! one write), and performs what the session asks: write, STLS, close. It also owns the
//! timers (the idle timeout) and notices draining between commands.
//!
//! After STLS every line already received is dropped unread (RFC 2595 §4): plain text sent
//! with or after STLS cannot be injected into the TLS session.

use std::io;
use std::time::{Duration, Instant};

use actix::Addr;
use mailroom_shared::metrics::{Protocol, metrics};
use mailroom_shared::net::{Connection, Socket, SocketSink, run_in_span};
use mailroom_store::MailboxStore;

use crate::proto::{Line, LineBuffer};
use crate::session::{Context, Flow, Maildrops, Session};

/// Octets read from the socket at a time, and the size buffers shrink back to.
const SMALL_BUFFER: usize = 4096;

/// Run one POP3 connection to its end.
pub(crate) async fn run(conn: Connection, store: Addr<MailboxStore>, maildrops: Maildrops) {
    let store = mailroom_store::actor::local_twin(&store).await;
    run_in_span(conn.span(), drive(conn, store, maildrops)).await
}

async fn drive(
    conn: Connection,
    store: Addr<MailboxStore>,
    maildrops: Maildrops,
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
            maildrops,
        },
        store,
    );
    socket.write_all(&session.greeting()).await?;

    let mut lines = LineBuffer::new();
    let mut chunk = vec![0u8; SMALL_BUFFER];
    let mut out: Vec<u8> = Vec::new();
    // Whether the session list has the login already (a POP3 login cannot change).
    let mut listed = false;
    loop {
        let flow = match lines.next_line(session.max_line()) {
            Some(Line::Complete(line)) => {
                let mut sink = SocketSink {
                    socket: &mut socket,
                    buf: std::mem::take(&mut out),
                };
                let arrived = Instant::now();
                let flow = session.line(&line, &mut sink).await?;
                metrics().command_took(Protocol::Pop3, arrived.elapsed());
                out = sink.buf;
                if let Some(login) = session.login()
                    && !listed
                {
                    guard.set_account(login);
                    listed = true;
                }
                flow
            }
            Some(Line::TooLong) => session.line_too_long(&mut out),
            None => {
                // Every whole line received is answered: write the answers in one go.
                socket.write_all(&out).await?;
                out.clear();
                out.shrink_to(SMALL_BUFFER);
                lines.shrink(SMALL_BUFFER);
                let safe = lines.is_empty();
                let wait = session.idle_timeout(timeout);
                tokio::select! {
                    biased;
                    () = draining.started(), if safe => {
                        socket.write_all(&session.shutting_down()).await?;
                        socket.shutdown().await;
                        return Ok(());
                    }
                    // Ended from the admin panel: at once, pipelined input or not.
                    () = guard.ended() => {
                        socket.write_all(&session.ended()).await?;
                        socket.shutdown().await;
                        return Ok(());
                    }
                    read = tokio::time::timeout(wait, socket.read(&mut chunk)) => match read {
                        Err(_) => {
                            socket.write_all(&session.timed_out()).await?;
                            socket.shutdown().await;
                            return Ok(());
                        }
                        // A dropped connection: the session ends without UPDATE.
                        Ok(Ok(0)) => return Ok(()),
                        Ok(Ok(n)) => lines.push(&chunk[..n]),
                        Ok(Err(e)) => return Err(e),
                    },
                }
                continue;
            }
        };
        match flow {
            Flow::Continue => {}
            Flow::StartTls => {
                socket.write_all(&out).await?;
                out.clear();
                // RFC 2595 §4 (as RFC 3207 §4.2): what came with or after STLS in plain
                // text is dropped, not acted on.
                lines.clear();
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
}
