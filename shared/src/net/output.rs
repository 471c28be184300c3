//! Where a protocol session writes its responses: a buffer it fills, and a flush that a long
//! answer (an IMAP FETCH over many messages, a POP3 RETR of a large one) calls between
//! pieces, so the whole answer is never held at once.
//!
//! What it must not do: parse or frame anything; the sessions own their protocols.

use std::io;

use super::socket::Socket;

/// Where a session writes its responses.
pub trait Output {
    /// The bytes not yet written.
    fn buffer(&mut self) -> &mut Vec<u8>;
    /// Write the buffer out.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>>;
}

/// Collects output in memory (tests, and a driver that batches).
impl Output for Vec<u8> {
    fn buffer(&mut self) -> &mut Vec<u8> {
        self
    }
    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A session's output buffer, written to the socket on flush.
pub struct SocketSink<'a> {
    /// The connection.
    pub socket: &'a mut Socket,
    /// Bytes not yet written.
    pub buf: Vec<u8>,
}

impl Output for SocketSink<'_> {
    fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
    async fn flush(&mut self) -> io::Result<()> {
        let r = self.socket.write_all(&self.buf).await;
        self.buf.clear();
        r
    }
}
