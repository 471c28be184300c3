//! The driver for line-based protocols (SMTP, POP3): it owns the socket, does implicit TLS,
//! reads one command line at a time with a length limit and the command timeout, and writes
//! what the sans-I/O session returns. Draining is noticed only while waiting for the next
//! command, so a command in progress always finishes.

use super::connection::{Connection, Stream};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What the session wants after a command.
pub enum Step {
    /// Write these bytes and read the next command.
    Reply(Vec<u8>),
    /// Write these bytes and close the connection.
    Close(Vec<u8>),
}

/// A sans-I/O line protocol session.
pub trait LineSession {
    /// Longest command line accepted, CRLF included.
    fn max_line(&self) -> usize;
    /// The greeting sent on connect.
    fn greeting(&mut self) -> Vec<u8>;
    /// One command line, without its line ending.
    fn command(&mut self, line: &[u8]) -> Step;
    /// The client sent a line longer than [`LineSession::max_line`] (it was discarded).
    fn line_too_long(&mut self) -> Step;
    /// The client was silent for the command timeout.
    fn timed_out(&mut self) -> Vec<u8>;
    /// The server is draining; the goodbye to send before closing.
    fn shutting_down(&mut self) -> Vec<u8>;
}

/// Outcome of reading one line.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A whole line is in the buffer (without CR LF).
    Line,
    /// The line was longer than the limit; it was read to its end and dropped.
    TooLong,
    /// The peer closed the connection.
    Eof,
}

/// Read one LF-terminated line into `buf` (cleared first), holding at most `max` octets in
/// memory whatever the client sends. A trailing CR is removed with the LF.
pub async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(LineRead::Eof);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long && buf.len() + used <= max {
            buf.extend_from_slice(chunk);
        } else {
            too_long = true;
            buf.clear();
        }
        reader.consume(used);
        if done {
            if too_long {
                return Ok(LineRead::TooLong);
            }
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(LineRead::Line);
        }
    }
}

/// Run `session` on `conn` to the end. Spawn this on the session's arbiter.
pub async fn drive<S: LineSession>(conn: Connection, session: S) {
    super::run_in_span(conn.span(), run(conn, session)).await
}

async fn run<S: LineSession>(conn: Connection, mut session: S) -> io::Result<()> {
    let Connection {
        socket,
        snapshot,
        mut draining,
        kind,
        guard: _guard,
        ..
    } = conn;
    let timeout = Duration::from_secs(snapshot.config.limits.command_timeout_secs);
    let tcp = tokio::net::TcpStream::from_std(socket)?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if kind.implicit_tls() {
        let tls = tokio::time::timeout(timeout, snapshot.tls.accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "tls handshake timed out"))??;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut stream = BufReader::new(stream);
    stream.write_all(&session.greeting()).await?;
    stream.flush().await?;
    let mut line = Vec::new();
    loop {
        let max = session.max_line();
        let read = tokio::select! {
            biased;
            () = draining.started() => {
                stream.write_all(&session.shutting_down()).await?;
                stream.flush().await?;
                return Ok(());
            }
            read = tokio::time::timeout(timeout, read_line_bounded(&mut stream, &mut line, max)) => read,
        };
        let step = match read {
            Err(_) => Step::Close(session.timed_out()),
            Ok(read) => match read? {
                LineRead::Eof => return Ok(()),
                LineRead::TooLong => session.line_too_long(),
                LineRead::Line => session.command(&line),
            },
        };
        match step {
            Step::Reply(bytes) => {
                stream.write_all(&bytes).await?;
                stream.flush().await?;
            }
            Step::Close(bytes) => {
                stream.write_all(&bytes).await?;
                stream.flush().await?;
                return stream.shutdown().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<(LineRead, Vec<u8>)> {
        // One byte per read, the worst case for a line splitter.
        let mut reader = BufReader::with_capacity(1, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            let r = read_line_bounded(&mut reader, &mut buf, max)
                .await
                .expect("read");
            let eof = r == LineRead::Eof;
            out.push((r, buf.clone()));
            if eof {
                return out;
            }
        }
    }

    #[actix_rt::test]
    async fn splits_lines_and_bounds_them() {
        let got = lines(b"NOOP\r\nQUIT\nthis line is too long\r\nok\r\npartial", 10).await;
        assert_eq!(
            got,
            vec![
                (LineRead::Line, b"NOOP".to_vec()),
                (LineRead::Line, b"QUIT".to_vec()),
                (LineRead::TooLong, vec![]),
                (LineRead::Line, b"ok".to_vec()),
                (LineRead::Eof, b"partial".to_vec()),
            ]
        );
    }
}
