//! A session's socket, plain or TLS, with the STARTTLS upgrade (RFC 3207, RFC 9051 §6.2.1,
//! RFC 2595): the few operations protocol drivers need, the same for all of them.

use crate::metrics::metrics;
use mailroom_config::ListenerKind;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Octets read from the socket at a time.
pub const READ_CHUNK: usize = 64 * 1024;

/// A connection in plain text or TLS.
pub enum Socket {
    /// Plain TCP.
    Plain(TcpStream),
    /// After the handshake.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Socket {
    /// Take over an accepted socket of `kind`'s listener on the current arbiter; with
    /// `implicit_tls` (submissions, imaps, pop3s) run the handshake within `deadline` first.
    pub async fn open(
        socket: std::net::TcpStream,
        kind: ListenerKind,
        implicit_tls: bool,
        tls: &TlsAcceptor,
        deadline: Duration,
    ) -> io::Result<Self> {
        let tcp = TcpStream::from_std(socket)?;
        // Replies are small and the sessions batch them already; Nagle only adds latency.
        let _ = tcp.set_nodelay(true);
        let plain = Socket::Plain(tcp);
        if implicit_tls {
            plain.upgrade(kind, tls, deadline).await
        } else {
            Ok(plain)
        }
    }

    /// Read what is there, up to `buf.len()` octets; 0 at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(s) => s.read(buf).await,
            Socket::Tls(s) => s.read(buf).await,
        }
    }

    /// Append what is there to `buf` (at least [`READ_CHUNK`] octets of room are made); 0 at
    /// the end of the stream. Reading into the buffer's spare room spares a zeroed scratch
    /// buffer per connection and a copy per read.
    pub async fn read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.reserve(READ_CHUNK);
        match self {
            Socket::Plain(s) => s.read_buf(buf).await,
            Socket::Tls(s) => s.read_buf(buf).await,
        }
    }

    /// Write all of `bytes` (and flush, in TLS).
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self {
            Socket::Plain(s) => s.write_all(bytes).await,
            Socket::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    /// Close our side; errors do not matter any more.
    pub async fn shutdown(&mut self) {
        let _ = match self {
            Socket::Plain(s) => s.shutdown().await,
            Socket::Tls(s) => s.shutdown().await,
        };
    }

    /// RFC 3207: switch to TLS on `kind`'s listener. Only a plain connection can be upgraded.
    /// The handshake, done or failed, is counted in the metrics.
    pub async fn upgrade(
        self,
        kind: ListenerKind,
        tls: &TlsAcceptor,
        deadline: Duration,
    ) -> io::Result<Self> {
        let Socket::Plain(tcp) = self else {
            return Err(io::Error::other("TLS is already active"));
        };
        let stream = match tokio::time::timeout(deadline, tls.accept(tcp)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                metrics().tls_handshake_failed(kind, "error");
                return Err(e);
            }
            Err(_) => {
                metrics().tls_handshake_failed(kind, "timeout");
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "tls handshake timed out",
                ));
            }
        };
        let socket = Socket::Tls(Box::new(stream));
        metrics().tls_handshake(kind, &socket);
        Ok(socket)
    }
}
