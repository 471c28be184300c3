//! What a listener hands to a protocol: the accepted socket with its peer, the snapshot of
//! the configuration it was accepted under, the shutdown signal and its place in the
//! connection counts.

use super::tracker::{ConnectionGuard, Refusal};
use crate::shutdown::Draining;
use crate::snapshot::Snapshot;
use mailroom_config::ListenerKind;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::Instrument;

/// A byte stream a session talks over: plain TCP or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + 'static> Stream for T {}

/// An accepted connection on its way to its session.
pub struct Connection {
    /// Unique within this process, for logs.
    pub session_id: u64,
    /// Which listener accepted it.
    pub kind: ListenerKind,
    /// The socket, in non-blocking mode, to be registered on the session's arbiter.
    pub socket: std::net::TcpStream,
    /// The client.
    pub peer: SocketAddr,
    /// The configuration in force when it was accepted; kept for the whole session.
    pub snapshot: Arc<Snapshot>,
    /// Fires when the server starts to drain.
    pub draining: Draining,
    /// Its place in the connection counts; released when dropped.
    pub guard: ConnectionGuard,
}

impl Connection {
    /// The connection's span (STYLE §11: `session_id`, `listener`, `peer`), for everything
    /// its session logs.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "session",
            session_id = self.session_id,
            listener = %self.kind,
            peer = %self.peer
        )
    }
}

/// Run a session's I/O inside `span` and log how it ended.
pub async fn run_in_span(span: tracing::Span, io: impl Future<Output = std::io::Result<()>>) {
    async move {
        match io.await {
            Ok(()) => tracing::debug!("session ended"),
            Err(e) => tracing::info!(error = %e, "session ended with an error"),
        }
    }
    .instrument(span)
    .await
}

/// A protocol served by listeners: SMTP, submission, IMAP, POP3 and their TLS forms.
pub trait Protocol: Send + Sync + 'static {
    /// Run the session for `conn`. Called on the arbiter the session belongs to; the session
    /// must be spawned there (`actix_rt::spawn` or an actor's `start`), never block.
    fn start(&self, conn: Connection);

    /// The bytes sent to a connection turned away before it gets a session (a 421, `* BYE`,
    /// `-ERR`), ending in CRLF.
    fn refusal(&self, hostname: &str, why: Refusal) -> Vec<u8>;
}
