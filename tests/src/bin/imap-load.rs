//! `imap-load`: a reproducible IMAP benchmark for loopback servers (mailroom, Dovecot).
//!
//! It owns only client-side load and measurement; it never sends traffic off the machine
//! (every target must be a loopback address) and never changes a server other than through
//! IMAP (and SMTP in `--idle-latency`). Every server message it reads is framed (line plus
//! literals) and decoded with imap-codec's `GreetingCodec`/`ResponseCodec`; a message that
//! does not decode completely is a protocol error.
//!
//! Modes:
//!
//! * mix (the default): N clients on one tokio thread, each LOGIN, SELECT INBOX, then a
//!   random mix (fixed seed per client) of FETCH FLAGS of a range, FETCH ENVELOPE of a range,
//!   FETCH RFC822.SIZE BODY.PEEK[] of one message, UID SEARCH HEADER (the client's own marker
//!   header, so the expected UIDs are known exactly), STORE +FLAGS/-FLAGS (\Flagged), APPEND,
//!   EXPUNGE (UID STORE +FLAGS.SILENT (\Deleted) on one message this client appended, then
//!   UID EXPUNGE of it: RFC 4315 §2.1, so that concurrent clients of the same user never
//!   expunge each other's messages) and NOOP, for `--duration` seconds or `--ops` per client.
//!   One `RESULT … class=C …` line per command class and one `class=all`.
//! * `--idle N`: N sessions LOGIN, SELECT INBOX and IDLE (RFC 2177); `IDLING ready=N …` is
//!   printed once all are idling; they stay until SIGINT or `--hold SECS`, then DONE, LOGOUT.
//! * `--idle-latency K`: one session idles; K times a message is delivered over SMTP
//!   (`--smtp-port`, `--rcpt`) and the time from the 250 after DATA to the untagged
//!   `* n EXISTS` is measured.
//! * `--fill MBOX`: empty each `--user`'s INBOX, then APPEND every message of the mbox (the
//!   benchmark's pre-filled mailboxes, identical on both servers).
//!
//! A protocol error is a response that does not decode, a tagged NO/BAD that was not
//! expected, a BYE, or an answer with the wrong count (a FETCH that misses messages of its
//! range, a sequence number beyond the mailbox, a SEARCH that does not return exactly this
//! client's messages, a BODY[] whose length is not its RFC822.SIZE). Errors are counted, the
//! first few are printed to stderr, and the process exits 1. Summary lines on stdout:
//!
//! ```text
//! RESULT target=HOST:PORT mode=mix class=fetch_flags clients=N elapsed_s=… ops=… \
//!        ops_per_sec=… p50_ms=… p99_ms=… errors=…
//! RESULT target=HOST:PORT mode=idle sessions=N ready=R connect_s=… errors=…
//! RESULT target=HOST:PORT mode=idle-latency deliveries=K p50_ms=… p99_ms=… max_ms=… errors=…
//! ```

use mailroom_tests::parse_loopback;
use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use imap_codec::decode::{Decoder, GreetingDecodeError, ResponseDecodeError};
use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, FlagFetch};
use imap_codec::imap_types::response::{
    Code, Data, Greeting, GreetingKind, Response, Status, StatusKind,
};
use imap_codec::{GreetingCodec, ResponseCodec};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, Semaphore, mpsc, watch};

/// Connect and per-response timeout: a hung server fails its command instead of the run.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest response line (without literals) we accept; longer is a protocol error.
const MAX_LINE: usize = 1 << 20;
/// Largest literal we accept in a response (a BODY[] of a benchmark message is far smaller).
const MAX_LITERAL: u64 = 64 << 20;
/// Most literals in one response message, so a hostile server cannot keep us reading forever.
const MAX_LITERALS: usize = 1024;
/// How many error messages are printed; the rest are only counted.
const ERRORS_SHOWN: u64 = 8;
/// Most messages one FETCH range covers.
const RANGE_LEN: u32 = 20;
/// Wait for the `* n EXISTS` after a delivery before counting it as lost.
const EXISTS_TIMEOUT: Duration = Duration::from_secs(10);

const USAGE: &str = "usage: imap-load --host 127.0.0.1 --port P --user U[,U…] --pass PW \
[--clients N=10] [--duration SECS=20 | --ops N] [--seed S=1] [--mailbox INBOX]
       imap-load … --idle N [--hold SECS] [--connect-concurrency C=100]
       imap-load … --idle-latency K --smtp-port P --rcpt ADDR
       imap-load … --fill MBOX";

/// The command classes of the mix, in the order they are reported.
const CLASSES: [&str; 8] = [
    "fetch_flags",
    "fetch_envelope",
    "fetch_body",
    "search",
    "store",
    "append",
    "expunge",
    "noop",
];
/// Relative weights of [`CLASSES`] in the mix.
const WEIGHTS: [u64; 8] = [20, 15, 15, 10, 15, 10, 5, 10];

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Mix,
    Idle { sessions: u64 },
    IdleLatency { deliveries: u64 },
    Fill { mbox: String },
}

/// What the command line asked for.
#[derive(Debug, Clone)]
struct Options {
    host: IpAddr,
    port: u16,
    users: Vec<String>,
    pass: String,
    mailbox: String,
    clients: u64,
    duration: Duration,
    ops: Option<u64>,
    seed: u64,
    mode: Mode,
    hold: Option<Duration>,
    connect_concurrency: usize,
    smtp_port: Option<u16>,
    rcpt: Option<String>,
}

fn parse_options(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut host = None;
    let mut port = None;
    let mut users = None;
    let mut pass = None;
    let mut mailbox = "INBOX".to_string();
    let mut clients = 10u64;
    let mut duration = 20u64;
    let mut ops = None;
    let mut seed = 1u64;
    let mut mode = Mode::Mix;
    let mut hold = None;
    let mut connect_concurrency = 100u64;
    let mut smtp_port = None;
    let mut rcpt = None;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse::<u64>()
                .map_err(|_| format!("{what} must be a number, not `{value}`"))
        };
        let port_number = |what: &str| -> Result<u16, String> {
            value
                .parse::<u16>()
                .map_err(|_| format!("{what} must be a port number, not `{value}`"))
        };
        match flag.as_str() {
            "--host" => host = Some(parse_loopback(&value)?),
            "--port" => port = Some(port_number("--port")?),
            "--user" => {
                users = Some(
                    value
                        .split(',')
                        .map(str::to_string)
                        .collect::<Vec<String>>(),
                );
            }
            "--pass" => pass = Some(value),
            "--mailbox" => mailbox = value,
            "--clients" => clients = number("--clients")?,
            "--duration" => duration = number("--duration")?,
            "--ops" => ops = Some(number("--ops")?),
            "--seed" => seed = number("--seed")?,
            "--idle" => {
                mode = Mode::Idle {
                    sessions: number("--idle")?,
                }
            }
            "--idle-latency" => {
                mode = Mode::IdleLatency {
                    deliveries: number("--idle-latency")?,
                }
            }
            "--fill" => mode = Mode::Fill { mbox: value },
            "--hold" => hold = Some(Duration::from_secs(number("--hold")?)),
            "--connect-concurrency" => connect_concurrency = number("--connect-concurrency")?,
            "--smtp-port" => smtp_port = Some(port_number("--smtp-port")?),
            "--rcpt" => rcpt = Some(value),
            _ => return Err(format!("unknown option `{flag}`\n{USAGE}")),
        }
    }
    let host = host.ok_or_else(|| format!("--host is required\n{USAGE}"))?;
    let port = port.ok_or_else(|| format!("--port is required\n{USAGE}"))?;
    let users = users.ok_or_else(|| format!("--user is required\n{USAGE}"))?;
    let pass = pass.ok_or_else(|| format!("--pass is required\n{USAGE}"))?;
    // Everything goes into quoted strings (RFC 9051 §4.3): keep to what needs no escaping.
    for (name, v) in users
        .iter()
        .map(|u| ("--user", u))
        .chain([("--pass", &pass), ("--mailbox", &mailbox)])
    {
        if v.is_empty()
            || v.bytes()
                .any(|b| !(0x21..0x7f).contains(&b) || b == b'"' || b == b'\\')
        {
            return Err(format!(
                "{name} must be printable ASCII without spaces, quotes or backslashes"
            ));
        }
    }
    if clients == 0 || duration == 0 || ops == Some(0) || connect_concurrency == 0 {
        return Err(
            "--clients, --duration, --ops and --connect-concurrency must be at least 1".into(),
        );
    }
    match &mode {
        Mode::Idle { sessions: 0 } | Mode::IdleLatency { deliveries: 0 } => {
            return Err("--idle and --idle-latency must be at least 1".into());
        }
        Mode::IdleLatency { .. } if smtp_port.is_none() || rcpt.is_none() => {
            return Err("--idle-latency needs --smtp-port and --rcpt".into());
        }
        _ => {}
    }
    if let Some(r) = &rcpt
        && (r.is_empty()
            || r.bytes()
                .any(|b| b.is_ascii_control() || b == b' ' || b == b'>'))
    {
        return Err("--rcpt must be one word of printable characters".into());
    }
    Ok(Options {
        host,
        port,
        users,
        pass,
        mailbox,
        clients,
        duration: Duration::from_secs(duration),
        ops,
        seed,
        mode,
        hold,
        connect_concurrency: usize::try_from(connect_concurrency).unwrap_or(usize::MAX),
        smtp_port,
        rcpt,
    })
}

/// Why a command failed.
#[derive(Debug)]
enum Failure {
    /// The socket failed, closed or timed out.
    Io { step: String, error: io::Error },
    /// The server sent bytes that are not one well-formed response (framing or imap-codec).
    Parse { step: String, bytes: Vec<u8> },
    /// A tagged NO/BAD, a BYE, or a response that makes no sense where it came.
    Status { step: String, response: String },
    /// The answer decoded, but its content or count is wrong.
    Check { step: String, what: String },
}

impl Failure {
    /// Whether the connection can carry on (the server's framing is still known).
    fn connection_usable(&self) -> bool {
        matches!(self, Self::Status { .. } | Self::Check { .. })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { step, error } => write!(f, "{step}: {error}"),
            Self::Parse { step, bytes } => {
                let shown = &bytes[..bytes.len().min(300)];
                write!(
                    f,
                    "{step}: undecodable response `{}`{}",
                    String::from_utf8_lossy(shown).escape_debug(),
                    if bytes.len() > shown.len() { "…" } else { "" }
                )
            }
            Self::Status { step, response } => write!(f, "{step}: server replied `{response}`"),
            Self::Check { step, what } => write!(f, "{step}: {what}"),
        }
    }
}

fn io_failure(step: &str, error: io::Error) -> Failure {
    Failure::Io {
        step: step.to_string(),
        error,
    }
}

fn check_failure(step: &str, what: String) -> Failure {
    Failure::Check {
        step: step.to_string(),
        what,
    }
}

/// If `line` (ending in CRLF or LF) ends with a literal announcement `{N}` or `~{N}`
/// (RFC 9051 §4.3, RFC 3516 literal8), its length N.
fn literal_at_end(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    // RFC 9051 §9: number = 1*DIGIT, at most 4,294,967,295.
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse::<u64>().ok()
}

/// One IMAP connection in lock-step, generic over the stream so tests can script a server.
struct Conn<S> {
    stream: BufReader<S>,
    /// The message count of the selected mailbox as the server has told it (EXISTS minus
    /// EXPUNGEs); 0 before SELECT.
    exists: u32,
    /// Set by SELECT: whether sequence numbers are checked against `exists`.
    selected: bool,
    next_tag: u64,
}

/// The responses to one command: the untagged ones, and the tagged status.
#[derive(Debug)]
struct Reply {
    untagged: Vec<Response<'static>>,
    code: Option<Code<'static>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S) -> Self {
        Self {
            stream: BufReader::new(stream),
            exists: 0,
            selected: false,
            next_tag: 1,
        }
    }

    /// Read and decode the greeting; anything but OK is an error (PREAUTH is not expected).
    async fn greeting(&mut self) -> Result<(), Failure> {
        let bytes = self.read_message("greeting").await?;
        match GreetingCodec::default().decode(&bytes) {
            Ok((
                [],
                Greeting {
                    kind: GreetingKind::Ok,
                    ..
                },
            )) => Ok(()),
            Ok(([], _)) => Err(Failure::Status {
                step: "greeting".into(),
                response: String::from_utf8_lossy(&bytes).trim_end().to_string(),
            }),
            Ok(_) | Err(GreetingDecodeError::Failed | GreetingDecodeError::Incomplete) => {
                Err(Failure::Parse {
                    step: "greeting".into(),
                    bytes,
                })
            }
        }
    }

    /// One whole server message: a line and, for each literal it announces, the literal
    /// and the rest of the line after it.
    async fn read_message(&mut self, step: &str) -> Result<Vec<u8>, Failure> {
        let mut out = Vec::new();
        for _ in 0..MAX_LITERALS {
            let start = out.len();
            let read = tokio::time::timeout(IO_TIMEOUT, async {
                (&mut self.stream)
                    .take(MAX_LINE as u64 + 1)
                    .read_until(b'\n', &mut out)
                    .await
            })
            .await
            .map_err(|_| io_failure(step, io::ErrorKind::TimedOut.into()))?
            .map_err(|e| io_failure(step, e))?;
            if read == 0 {
                return Err(io_failure(
                    step,
                    io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"),
                ));
            }
            if out.last() != Some(&b'\n') {
                return Err(Failure::Parse {
                    step: format!("{step} (line longer than {MAX_LINE} bytes)"),
                    bytes: out,
                });
            }
            let Some(len) = literal_at_end(&out[start..]) else {
                return Ok(out);
            };
            if len > MAX_LITERAL {
                return Err(Failure::Parse {
                    step: format!("{step} (literal of {len} bytes)"),
                    bytes: out,
                });
            }
            let at = out.len();
            out.resize(at + len as usize, 0);
            tokio::time::timeout(IO_TIMEOUT, self.stream.read_exact(&mut out[at..]))
                .await
                .map_err(|_| io_failure(step, io::ErrorKind::TimedOut.into()))?
                .map_err(|e| io_failure(step, e))?;
        }
        Err(Failure::Parse {
            step: format!("{step} (more than {MAX_LITERALS} literals)"),
            bytes: out,
        })
    }

    /// Read one response and decode it; it must decode completely.
    async fn read_response(&mut self, step: &str) -> Result<Response<'static>, Failure> {
        let bytes = self.read_message(step).await?;
        match ResponseCodec::default().decode_static(&bytes) {
            Ok(([], response)) => {
                self.track(step, &response)?;
                Ok(response)
            }
            Ok(_)
            | Err(
                ResponseDecodeError::Failed
                | ResponseDecodeError::Incomplete
                | ResponseDecodeError::LiteralFound { .. },
            ) => Err(Failure::Parse {
                step: step.to_string(),
                bytes,
            }),
        }
    }

    /// Keep `exists` up to date and check sequence numbers against it.
    fn track(&mut self, step: &str, response: &Response<'_>) -> Result<(), Failure> {
        match response {
            Response::Data(Data::Exists(n)) => {
                // RFC 9051 §7.4.1: EXISTS never reports fewer messages than the client
                // knows of, except through EXPUNGE responses, which come first.
                if self.selected && *n < self.exists {
                    return Err(check_failure(
                        step,
                        format!("* {n} EXISTS after {} known messages", self.exists),
                    ));
                }
                self.exists = *n;
            }
            Response::Data(Data::Expunge(n)) if self.selected => {
                // RFC 9051 §7.5.1: the number is that of a message the client knows.
                if n.get() > self.exists {
                    return Err(check_failure(
                        step,
                        format!("* {n} EXPUNGE with only {} messages", self.exists),
                    ));
                }
                self.exists -= 1;
            }
            Response::Data(Data::Fetch { seq, .. }) if self.selected && seq.get() > self.exists => {
                return Err(check_failure(
                    step,
                    format!("* {seq} FETCH with only {} messages", self.exists),
                ));
            }
            Response::Status(Status::Bye(bye)) => {
                return Err(Failure::Status {
                    step: step.to_string(),
                    response: format!("* BYE {}", bye.text.inner()),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn tag(&mut self) -> String {
        let tag = format!("L{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    async fn send(&mut self, step: &str, bytes: &[u8]) -> Result<(), Failure> {
        let s = self.stream.get_mut();
        tokio::time::timeout(IO_TIMEOUT, async {
            s.write_all(bytes).await?;
            s.flush().await
        })
        .await
        .map_err(|_| io_failure(step, io::ErrorKind::TimedOut.into()))?
        .map_err(|e| io_failure(step, e))
    }

    /// Send `tag SP command CRLF` and collect the responses up to the tagged one, which
    /// must be OK.
    async fn command(&mut self, step: &str, command: &str) -> Result<Reply, Failure> {
        let tag = self.tag();
        self.send(step, format!("{tag} {command}\r\n").as_bytes())
            .await?;
        self.until_tagged(step, &tag).await
    }

    /// A command with one synchronizing literal (RFC 9051 §4.3): `tag prefix {N}`, wait for
    /// the continuation request, then the literal and CRLF.
    async fn command_with_literal(
        &mut self,
        step: &str,
        prefix: &str,
        literal: &[u8],
    ) -> Result<Reply, Failure> {
        let tag = self.tag();
        self.send(
            step,
            format!("{tag} {prefix} {{{}}}\r\n", literal.len()).as_bytes(),
        )
        .await?;
        let mut untagged = Vec::new();
        loop {
            match self.read_response(step).await? {
                Response::CommandContinuationRequest(_) => break,
                Response::Status(Status::Tagged(t)) if t.tag.inner() == tag => {
                    return Err(Failure::Status {
                        step: step.to_string(),
                        response: format!("{tag} {:?} {}", t.body.kind, t.body.text.inner()),
                    });
                }
                other => untagged.push(other),
            }
        }
        let mut out = Vec::with_capacity(literal.len() + 2);
        out.extend_from_slice(literal);
        out.extend_from_slice(b"\r\n");
        self.send(step, &out).await?;
        let mut reply = self.until_tagged(step, &tag).await?;
        untagged.append(&mut reply.untagged);
        reply.untagged = untagged;
        Ok(reply)
    }

    async fn until_tagged(&mut self, step: &str, tag: &str) -> Result<Reply, Failure> {
        let mut untagged = Vec::new();
        loop {
            match self.read_response(step).await? {
                Response::Status(Status::Tagged(t)) => {
                    if t.tag.inner() != tag {
                        return Err(Failure::Status {
                            step: step.to_string(),
                            response: format!("tagged reply for unknown tag `{}`", t.tag.inner()),
                        });
                    }
                    if t.body.kind != StatusKind::Ok {
                        return Err(Failure::Status {
                            step: step.to_string(),
                            response: format!("{tag} {:?} {}", t.body.kind, t.body.text.inner()),
                        });
                    }
                    return Ok(Reply {
                        untagged,
                        code: t.body.code,
                    });
                }
                Response::CommandContinuationRequest(_) => {
                    return Err(Failure::Status {
                        step: step.to_string(),
                        response: "unexpected continuation request".into(),
                    });
                }
                other => untagged.push(other),
            }
        }
    }

    async fn login(&mut self, user: &str, pass: &str) -> Result<(), Failure> {
        self.command("LOGIN", &format!("LOGIN \"{user}\" \"{pass}\""))
            .await
            .map(drop)
    }

    /// SELECT; returns the message count.
    async fn select(&mut self, mailbox: &str) -> Result<u32, Failure> {
        self.selected = false;
        self.exists = 0;
        let reply = self
            .command("SELECT", &format!("SELECT \"{mailbox}\""))
            .await?;
        // RFC 9051 §6.3.2: SELECT answers with the EXISTS count (REQUIRED).
        if !reply
            .untagged
            .iter()
            .any(|r| matches!(r, Response::Data(Data::Exists(_))))
        {
            return Err(check_failure("SELECT", "no * n EXISTS".into()));
        }
        self.selected = true;
        Ok(self.exists)
    }
}

async fn connect(addr: SocketAddr) -> Result<Conn<TcpStream>, Failure> {
    let tcp = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io_failure("connect", io::ErrorKind::TimedOut.into()))?
        .map_err(|e| io_failure("connect", e))?;
    // Lock-step commands are small writes each followed by a read: no Nagle delay.
    tcp.set_nodelay(true)
        .map_err(|e| io_failure("connect", e))?;
    let mut conn = Conn::new(tcp);
    conn.greeting().await?;
    Ok(conn)
}

/// splitmix64: a small deterministic generator, so a seed gives the same mix every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n ≥ 1; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Index into [`CLASSES`] by [`WEIGHTS`].
    fn class(&mut self) -> usize {
        let total: u64 = WEIGHTS.iter().sum();
        let mut pick = self.below(total);
        for (i, w) in WEIGHTS.iter().enumerate() {
            if pick < *w {
                return i;
            }
            pick -= w;
        }
        WEIGHTS.len() - 1
    }
}

/// The sequence numbers that have a FETCH response carrying an item `wanted` accepts.
fn fetched_seqs(
    untagged: &[Response<'_>],
    wanted: impl Fn(&MessageDataItem<'_>) -> bool,
) -> BTreeSet<u32> {
    untagged
        .iter()
        .filter_map(|r| match r {
            Response::Data(Data::Fetch { seq, items }) if items.as_ref().iter().any(&wanted) => {
                Some(seq.get())
            }
            _ => None,
        })
        .collect()
}

/// RFC 9051 §6.4.5: a FETCH of `lo:hi` answers one FETCH per message of the range.
fn check_range(step: &str, got: &BTreeSet<u32>, lo: u32, hi: u32) -> Result<(), Failure> {
    let missing: Vec<u32> = (lo..=hi).filter(|s| !got.contains(s)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(check_failure(
            step,
            format!(
                "FETCH {lo}:{hi} answered {} of {} messages (first missing {})",
                got.range(lo..=hi).count(),
                hi - lo + 1,
                missing[0]
            ),
        ))
    }
}

/// The BODY[] of message `seq` must be there and as long as its RFC822.SIZE.
fn check_body(untagged: &[Response<'_>], seq: u32) -> Result<(), Failure> {
    let mut size = None;
    let mut body = None;
    for r in untagged {
        if let Response::Data(Data::Fetch { seq: s, items }) = r
            && s.get() == seq
        {
            for item in items.as_ref() {
                match item {
                    MessageDataItem::Rfc822Size(n) => size = Some(u64::from(*n)),
                    MessageDataItem::BodyExt {
                        section: None,
                        origin: None,
                        data,
                    } => {
                        body = Some(
                            data.0
                                .as_ref()
                                .map_or(0, |s: &IString<'_>| s.as_ref().len()),
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    match (size, body) {
        (Some(size), Some(len)) if size == len as u64 && size > 0 => Ok(()),
        (size, body) => Err(check_failure(
            "fetch_body",
            format!("message {seq}: RFC822.SIZE {size:?}, BODY[] of {body:?} bytes"),
        )),
    }
}

/// After STORE ±FLAGS (\Flagged) on `seq`, any FETCH FLAGS for it must show the change.
fn check_store(untagged: &[Response<'_>], seq: u32, add: bool) -> Result<(), Failure> {
    for r in untagged {
        if let Response::Data(Data::Fetch { seq: s, items }) = r
            && s.get() == seq
        {
            for item in items.as_ref() {
                if let MessageDataItem::Flags(flags) = item {
                    let flagged = flags
                        .iter()
                        .any(|f| matches!(f, FlagFetch::Flag(Flag::Flagged)));
                    if flagged != add {
                        return Err(check_failure(
                            "store",
                            format!(
                                "STORE {seq} {}FLAGS (\\Flagged) answered FLAGS {flags:?}",
                                if add { '+' } else { '-' }
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// How far the EXISTS responses in `untagged` raised the count above `before` (0 if none).
fn exists_growth(untagged: &[Response<'_>], before: u32) -> u32 {
    let mut count = before;
    let mut grown = 0;
    for r in untagged {
        match r {
            Response::Data(Data::Exists(n)) => {
                grown += n.saturating_sub(count);
                count = *n;
            }
            Response::Data(Data::Expunge(_)) => count = count.saturating_sub(1),
            _ => {}
        }
    }
    grown
}

/// The UIDs of a SEARCH answer (RFC 9051 §7.3.4 / RFC 3501 §7.2.5).
fn searched(untagged: &[Response<'_>]) -> Option<BTreeSet<u32>> {
    let mut found = None;
    for r in untagged {
        if let Response::Data(Data::Search(uids, ..)) = r {
            found
                .get_or_insert_with(BTreeSet::new)
                .extend(uids.iter().map(|u| u.get()));
        }
    }
    found
}

/// RFC 4315 §3: `APPENDUID uidvalidity uid` in the tagged OK of APPEND.
fn append_uid(code: Option<&Code<'_>>) -> Option<NonZeroU32> {
    match code {
        Some(Code::AppendUid { uid, .. }) => Some(*uid),
        _ => None,
    }
}

/// Message `n` this client appends: about 2 KiB, CRLF lines, with the client's marker header
/// (which UID SEARCH looks for) and a unique Message-ID.
fn append_message(marker: &str, n: u64) -> Vec<u8> {
    let mut m = format!(
        "From: imap-load <load@test.example>\r\nTo: <bench@test.example>\r\n\
         Subject: imap-load message {n}\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <{marker}.{n}@imap-load.invalid>\r\nX-Imap-Load: {marker}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    );
    for line in 0..26 {
        m.push_str(&format!(
            "line {line:02} of message {n}: the quick brown fox jumps over the lazy dog\r\n"
        ));
    }
    m.into_bytes()
}

/// What all mix clients share.
struct Shared {
    opts: Options,
    addr: SocketAddr,
    run_id: String,
    errors: AtomicU64,
}

impl Shared {
    fn fail(&self, failure: &Failure) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed);
        if n < ERRORS_SHOWN {
            eprintln!("imap-load: error: {failure}");
        } else if n == ERRORS_SHOWN {
            eprintln!("imap-load: more errors; counting only");
        }
    }
}

/// One mix client's state beyond its connection.
struct Client {
    index: u64,
    user: String,
    marker: String,
    rng: Rng,
    /// UIDs this client appended and has not expunged.
    own: BTreeSet<u32>,
    /// The mailbox size at SELECT: FETCH and STORE stay below it (messages other clients
    /// may expunge all lie beyond).
    base: u32,
    appended: u64,
    /// Per class, latencies in microseconds.
    latencies: Vec<Vec<u64>>,
    /// Per class, failed commands (connection setup failures count only in the total).
    errors: Vec<u64>,
}

impl Client {
    async fn open(&mut self, shared: &Shared) -> Result<Conn<TcpStream>, Failure> {
        let mut conn = connect(shared.addr).await?;
        conn.login(&self.user, &shared.opts.pass).await?;
        let exists = conn.select(&shared.opts.mailbox).await?;
        // Keep the smallest count seen: a later SELECT may count others' appended messages,
        // which their owners expunge at any time (a FETCH of those may then return nothing).
        self.base = if self.base == 0 {
            exists
        } else {
            self.base.min(exists)
        };
        Ok(conn)
    }

    /// A random range `lo:hi` of at most [`RANGE_LEN`] messages below `base`.
    fn range(&mut self) -> (u32, u32) {
        let lo = 1 + self.rng.below(u64::from(self.base)) as u32;
        let len = 1 + self.rng.below(u64::from(RANGE_LEN)) as u32;
        (lo, lo.saturating_add(len - 1).min(self.base))
    }

    /// A message for STORE: among those this client owns by index, so that concurrent
    /// clients on one mailbox do not race on the same flags.
    fn store_target(&mut self, clients: u64) -> u32 {
        let base = u64::from(self.base);
        if base >= clients {
            let slots = base / clients;
            (self.rng.below(slots) * clients + self.index % clients + 1) as u32
        } else {
            1 + self.rng.below(base) as u32
        }
    }

    async fn append(&mut self, conn: &mut Conn<TcpStream>, mailbox: &str) -> Result<(), Failure> {
        self.appended += 1;
        let message = append_message(&self.marker, self.appended);
        let reply = conn
            .command_with_literal(
                "append",
                &format!("APPEND \"{mailbox}\" (\\Seen)"),
                &message,
            )
            .await?;
        let uid = append_uid(reply.code.as_ref())
            .ok_or_else(|| check_failure("append", "tagged OK without APPENDUID".into()))?;
        self.own.insert(uid.get());
        Ok(())
    }

    /// Run command class `class` once.
    async fn op(
        &mut self,
        conn: &mut Conn<TcpStream>,
        class: usize,
        shared: &Shared,
    ) -> Result<(), Failure> {
        let mailbox = &shared.opts.mailbox;
        match CLASSES[class] {
            "fetch_flags" => {
                let (lo, hi) = self.range();
                let r = conn
                    .command("fetch_flags", &format!("FETCH {lo}:{hi} (FLAGS)"))
                    .await?;
                let got = fetched_seqs(&r.untagged, |i| matches!(i, MessageDataItem::Flags(_)));
                check_range("fetch_flags", &got, lo, hi)
            }
            "fetch_envelope" => {
                let (lo, hi) = self.range();
                let r = conn
                    .command("fetch_envelope", &format!("FETCH {lo}:{hi} (ENVELOPE)"))
                    .await?;
                let got = fetched_seqs(&r.untagged, |i| matches!(i, MessageDataItem::Envelope(_)));
                check_range("fetch_envelope", &got, lo, hi)
            }
            "fetch_body" => {
                let seq = 1 + self.rng.below(u64::from(self.base)) as u32;
                // PEEK: reading must not change \Seen, so every run starts from the same flags.
                let r = conn
                    .command(
                        "fetch_body",
                        &format!("FETCH {seq} (RFC822.SIZE BODY.PEEK[])"),
                    )
                    .await?;
                check_body(&r.untagged, seq)
            }
            "search" => {
                let r = conn
                    .command(
                        "search",
                        &format!("UID SEARCH HEADER X-Imap-Load \"{}\"", self.marker),
                    )
                    .await?;
                let got = searched(&r.untagged)
                    .ok_or_else(|| check_failure("search", "no * SEARCH response".into()))?;
                if got != self.own {
                    return Err(check_failure(
                        "search",
                        format!(
                            "UID SEARCH for this client's marker found {} UIDs {:?}…, expected {} {:?}…",
                            got.len(),
                            got.iter().take(5).collect::<Vec<_>>(),
                            self.own.len(),
                            self.own.iter().take(5).collect::<Vec<_>>()
                        ),
                    ));
                }
                Ok(())
            }
            "store" => {
                let seq = self.store_target(shared.opts.clients);
                let add = self.rng.below(2) == 0;
                let sign = if add { '+' } else { '-' };
                let r = conn
                    .command("store", &format!("STORE {seq} {sign}FLAGS (\\Flagged)"))
                    .await?;
                check_store(&r.untagged, seq, add)
            }
            "append" => self.append(conn, mailbox).await,
            "expunge" => {
                let Some(uid) = self.own.first().copied() else {
                    // Nothing of ours to expunge yet: append instead (counted as expunge,
                    // which is rare and only at the start).
                    return self.append(conn, mailbox).await;
                };
                conn.command(
                    "expunge",
                    &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
                )
                .await?;
                let before = conn.exists;
                let r = conn
                    .command("expunge", &format!("UID EXPUNGE {uid}"))
                    .await?;
                self.own.remove(&uid);
                let added = exists_growth(&r.untagged, before);
                // RFC 4315 §2.1: the message goes, with an untagged EXPUNGE for it.
                let expunged = r
                    .untagged
                    .iter()
                    .filter(|r| matches!(r, Response::Data(Data::Expunge(_))))
                    .count();
                // (EXISTS may still grow: other clients' APPENDs are reported here too.)
                if expunged == 0 || conn.exists >= before + added {
                    return Err(check_failure(
                        "expunge",
                        format!("UID EXPUNGE {uid} sent {expunged} EXPUNGE responses"),
                    ));
                }
                Ok(())
            }
            _ => conn.command("noop", "NOOP").await.map(drop),
        }
    }
}

async fn mix_client(
    shared: Arc<Shared>,
    index: u64,
    barrier: Arc<Barrier>,
) -> (Vec<Vec<u64>>, Vec<u64>) {
    let o = &shared.opts;
    let mut client = Client {
        index,
        user: o.users[(index % o.users.len() as u64) as usize].clone(),
        marker: format!("{}c{index}z", shared.run_id),
        rng: Rng(o.seed.wrapping_mul(1_000_003).wrapping_add(index)),
        own: BTreeSet::new(),
        base: 0,
        appended: 0,
        latencies: vec![Vec::new(); CLASSES.len()],
        errors: vec![0; CLASSES.len()],
    };
    // Every client SELECTs before any APPENDs, so that all see only the pre-filled messages.
    let mut conn = match client.open(&shared).await {
        Ok(c) => Some(c),
        Err(f) => {
            shared.fail(&f);
            None
        }
    };
    barrier.wait().await;
    if conn.is_some() && client.base == 0 {
        shared.fail(&check_failure("SELECT", "the mailbox is empty".into()));
        return (client.latencies, client.errors);
    }
    let deadline = Instant::now() + o.duration;
    let mut done = 0u64;
    loop {
        let finished = match o.ops {
            Some(n) => done >= n,
            None => Instant::now() >= deadline,
        };
        if finished {
            break;
        }
        let mut c = match conn.take() {
            Some(c) => c,
            None => match client.open(&shared).await {
                Ok(c) if client.base > 0 => c,
                Ok(_) => {
                    shared.fail(&check_failure("SELECT", "the mailbox is empty".into()));
                    break;
                }
                Err(f) => {
                    shared.fail(&f);
                    // Do not spin on a server that refuses us.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    done += 1;
                    continue;
                }
            },
        };
        let class = client.rng.class();
        let start = Instant::now();
        match client.op(&mut c, class, &shared).await {
            Ok(()) => {
                let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                client.latencies[class].push(micros);
                conn = Some(c);
            }
            Err(f) => {
                shared.fail(&f);
                client.errors[class] += 1;
                if f.connection_usable() {
                    conn = Some(c);
                }
            }
        }
        done += 1;
    }
    if let Some(mut c) = conn
        && let Err(f) = c.command("LOGOUT", "LOGOUT").await
    {
        // RFC 9051 §6.1.3: BYE comes first; `track` reports it, so expect exactly that.
        if !matches!(&f, Failure::Status { response, .. } if response.starts_with("* BYE")) {
            shared.fail(&f);
        }
    }
    (client.latencies, client.errors)
}

/// Nearest-rank percentile `p` (0–100) of sorted `values`, in milliseconds.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

async fn run_mix(opts: Options, addr: SocketAddr) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let shared = Arc::new(Shared {
        addr,
        run_id: format!("r{}x{}", std::process::id(), now.as_millis()),
        errors: AtomicU64::new(0),
        opts,
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    let barrier = Arc::new(Barrier::new(
        usize::try_from(shared.opts.clients).unwrap_or(usize::MAX),
    ));
    for i in 0..shared.opts.clients {
        tasks.push(tokio::spawn(mix_client(shared.clone(), i, barrier.clone())));
    }
    let mut all: Vec<Vec<u64>> = vec![Vec::new(); CLASSES.len()];
    let mut class_errors = vec![0u64; CLASSES.len()];
    for t in tasks {
        match t.await {
            Ok((lat, errs)) => {
                for (a, l) in all.iter_mut().zip(lat) {
                    a.extend(l);
                }
                for (a, e) in class_errors.iter_mut().zip(errs) {
                    *a += e;
                }
            }
            Err(e) => shared.fail(&check_failure("client", format!("task failed: {e}"))),
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
    let errors = shared.errors.load(Ordering::Relaxed);
    let mut total = Vec::new();
    let line = |class: &str, lat: &mut Vec<u64>, errors: String| {
        lat.sort_unstable();
        println!(
            "RESULT target={addr} mode=mix class={class} clients={} elapsed_s={elapsed:.2} \
             ops={} ops_per_sec={:.1} p50_ms={:.2} p99_ms={:.2} errors={errors}",
            shared.opts.clients,
            lat.len(),
            lat.len() as f64 / elapsed,
            percentile_ms(lat, 50.0),
            percentile_ms(lat, 99.0),
        );
    };
    for ((class, lat), errs) in CLASSES.iter().zip(all.iter_mut()).zip(&class_errors) {
        total.extend_from_slice(lat);
        line(class, lat, errs.to_string());
    }
    line("all", &mut total, errors.to_string());
    errors
}

/// One idling session: returns when shutdown says so (after DONE and LOGOUT) or on failure.
async fn idle_session(
    opts: &Options,
    addr: SocketAddr,
    index: u64,
    permits: &Semaphore,
    ready: &mpsc::UnboundedSender<Result<(), Failure>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Failure> {
    let setup = async {
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| check_failure("idle", "semaphore closed".into()))?;
        let mut conn = connect(addr).await?;
        conn.login(
            &opts.users[(index % opts.users.len() as u64) as usize],
            &opts.pass,
        )
        .await?;
        conn.select(&opts.mailbox).await?;
        let tag = conn.tag();
        conn.send("IDLE", format!("{tag} IDLE\r\n").as_bytes())
            .await?;
        // RFC 2177 §3: the server answers IDLE with a continuation request.
        loop {
            match conn.read_response("IDLE").await? {
                Response::CommandContinuationRequest(_) => break,
                Response::Status(Status::Tagged(t)) => {
                    return Err(Failure::Status {
                        step: "IDLE".into(),
                        response: format!(
                            "{} {:?} {}",
                            t.tag.inner(),
                            t.body.kind,
                            t.body.text.inner()
                        ),
                    });
                }
                _ => {}
            }
        }
        Ok::<_, Failure>((conn, tag))
    };
    let (mut conn, tag) = match setup.await {
        Ok(c) => c,
        Err(f) => {
            let text = f.to_string();
            let _ = ready.send(Err(f));
            return Err(check_failure("idle", text));
        }
    };
    let _ = ready.send(Ok(()));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = async {
                // While idling, the only limit is the server's (RFC 2177: 29 minutes).
                conn.stream.fill_buf().await.map(|b| b.is_empty())
            } => match r {
                Ok(false) => { conn.read_response("IDLE (waiting)").await?; }
                Ok(true) => return Err(io_failure("IDLE (waiting)", io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"))),
                Err(e) => return Err(io_failure("IDLE (waiting)", e)),
            },
        }
    }
    conn.send("DONE", b"DONE\r\n").await?;
    conn.until_tagged("DONE", &tag).await?;
    match conn.command("LOGOUT", "LOGOUT").await {
        Err(Failure::Status { response, .. }) if response.starts_with("* BYE") => Ok(()),
        Err(f) => Err(f),
        Ok(_) => Ok(()),
    }
}

async fn run_idle(opts: Options, addr: SocketAddr, sessions: u64) -> u64 {
    let opts = Arc::new(opts);
    let permits = Arc::new(Semaphore::new(opts.connect_concurrency));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..sessions {
        let (opts, permits, ready, stop, errors) = (
            opts.clone(),
            permits.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            if let Err(f) = idle_session(&opts, addr, i, &permits, &ready, stop).await {
                let n = errors.fetch_add(1, Ordering::Relaxed);
                if n < ERRORS_SHOWN {
                    eprintln!("imap-load: idle session {i}: {f}");
                }
            }
        }));
    }
    drop(ready_tx);
    let (mut ok, mut failed) = (0u64, 0u64);
    while ok + failed < sessions {
        match ready_rx.recv().await {
            Some(Ok(())) => ok += 1,
            Some(Err(_)) => failed += 1,
            None => break,
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    println!(
        "IDLING target={addr} sessions={sessions} ready={ok} failed={failed} connect_s={connect_s:.2}"
    );
    let hold = async {
        match opts.hold {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = hold => {}
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        if t.await.is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "RESULT target={addr} mode=idle sessions={sessions} ready={ok} connect_s={connect_s:.2} \
         held_s={:.2} errors={errors}",
        started.elapsed().as_secs_f64() - connect_s
    );
    errors
}

/// A minimal lock-step SMTP client for `--idle-latency` deliveries.
struct Smtp {
    stream: BufReader<TcpStream>,
}

impl Smtp {
    /// Read one reply (RFC 5321 §4.2.1: `NNN-` lines, then `NNN `) and check its code.
    async fn expect(&mut self, step: &str, code: &str) -> Result<(), Failure> {
        for _ in 0..100 {
            let mut line = Vec::new();
            let n = tokio::time::timeout(
                IO_TIMEOUT,
                (&mut self.stream).take(4096).read_until(b'\n', &mut line),
            )
            .await
            .map_err(|_| io_failure(step, io::ErrorKind::TimedOut.into()))?
            .map_err(|e| io_failure(step, e))?;
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if n == 0 || !text.starts_with(code) {
                return Err(Failure::Status {
                    step: format!("SMTP {step}"),
                    response: text,
                });
            }
            if line.get(3) != Some(&b'-') {
                return Ok(());
            }
        }
        Err(check_failure(
            step,
            "SMTP reply of more than 100 lines".into(),
        ))
    }

    async fn command(&mut self, step: &str, line: &str, code: &str) -> Result<(), Failure> {
        self.stream
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| io_failure(step, e))?;
        self.expect(step, code).await
    }
}

async fn run_idle_latency(opts: Options, addr: SocketAddr, deliveries: u64) -> u64 {
    let errors = AtomicU64::new(0);
    let fail = |f: &Failure| {
        if errors.fetch_add(1, Ordering::Relaxed) < ERRORS_SHOWN {
            eprintln!("imap-load: error: {f}");
        }
    };
    let (smtp_port, rcpt) = match (opts.smtp_port, opts.rcpt.clone()) {
        (Some(p), Some(r)) => (p, r),
        _ => return 1,
    };
    let setup = async {
        let mut conn = connect(addr).await?;
        conn.login(&opts.users[0], &opts.pass).await?;
        conn.select(&opts.mailbox).await?;
        let tag = conn.tag();
        conn.send("IDLE", format!("{tag} IDLE\r\n").as_bytes())
            .await?;
        loop {
            if let Response::CommandContinuationRequest(_) = conn.read_response("IDLE").await? {
                break;
            }
        }
        let tcp = TcpStream::connect(SocketAddr::new(opts.host, smtp_port))
            .await
            .map_err(|e| io_failure("SMTP connect", e))?;
        tcp.set_nodelay(true)
            .map_err(|e| io_failure("SMTP connect", e))?;
        let mut smtp = Smtp {
            stream: BufReader::new(tcp),
        };
        smtp.expect("greeting", "220").await?;
        smtp.command("EHLO", "EHLO load.client.example", "250")
            .await?;
        Ok::<_, Failure>((conn, smtp))
    };
    let (mut conn, mut smtp) = match setup.await {
        Ok(x) => x,
        Err(f) => {
            fail(&f);
            return errors.load(Ordering::Relaxed).max(1);
        }
    };
    // The IMAP reader runs beside the SMTP client, stamping every EXISTS as it arrives.
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<(Instant, u32), Failure>>();
    let reader = tokio::spawn(async move {
        loop {
            let r = match conn.read_response("IDLE (waiting)").await {
                Ok(Response::Data(Data::Exists(n))) => Ok((Instant::now(), n)),
                Ok(_) => continue,
                Err(f) => Err(f),
            };
            let stop = r.is_err();
            if tx.send(r).is_err() || stop {
                return;
            }
        }
    });
    let mut latencies = Vec::new();
    let mut early = 0u64;
    let mut last_exists = 0u32;
    let run_id = format!("{}", std::process::id());
    'outer: for i in 0..deliveries {
        let body = format!(
            "From: <load@remote.example>\r\nTo: <{rcpt}>\r\nSubject: idle latency {i}\r\n\
             Message-ID: <idle.{run_id}.{i}@imap-load.invalid>\r\n\r\nmessage {i}\r\n.\r\n"
        );
        let sent = async {
            smtp.command("MAIL", "MAIL FROM:<load@remote.example>", "250")
                .await?;
            smtp.command("RCPT", &format!("RCPT TO:<{rcpt}>"), "250")
                .await?;
            smtp.command("DATA", "DATA", "354").await?;
            smtp.stream
                .get_mut()
                .write_all(body.as_bytes())
                .await
                .map_err(|e| io_failure("DATA", e))?;
            smtp.expect("end of data", "250").await?;
            Ok::<_, Failure>(Instant::now())
        };
        let acked = match sent.await {
            Ok(t) => t,
            Err(f) => {
                fail(&f);
                break;
            }
        };
        loop {
            match tokio::time::timeout(EXISTS_TIMEOUT, rx.recv()).await {
                Ok(Some(Ok((at, n)))) if n > last_exists => {
                    last_exists = n;
                    // The EXISTS may be stamped before the 250 is read: count it as 0.
                    if at < acked {
                        early += 1;
                    }
                    let micros = at.saturating_duration_since(acked).as_micros();
                    latencies.push(u64::try_from(micros).unwrap_or(u64::MAX));
                    break;
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(f))) => {
                    fail(&f);
                    break 'outer;
                }
                Ok(None) => break 'outer,
                Err(_) => {
                    fail(&check_failure(
                        "idle latency",
                        format!("no * n EXISTS within {EXISTS_TIMEOUT:?} of delivery {i}"),
                    ));
                    break;
                }
            }
        }
    }
    reader.abort();
    let _ = smtp.command("QUIT", "QUIT", "221").await;
    latencies.sort_unstable();
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "RESULT target={addr} mode=idle-latency deliveries={} measured={} early={early} \
         p50_ms={:.2} p99_ms={:.2} max_ms={:.2} errors={errors}",
        deliveries,
        latencies.len(),
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0),
        percentile_ms(&latencies, 100.0),
    );
    if latencies.len() as u64 != deliveries {
        return errors.max(1);
    }
    errors
}

/// The messages of an mbox (`From ` separator lines; `>From ` un-escaped, mboxrd), with
/// CRLF line ends as IMAP APPEND wants them (RFC 9051 §6.3.12).
fn split_mbox(text: &[u8]) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                messages.push(m);
            }
            current = Some(Vec::new());
            continue;
        }
        let Some(m) = current.as_mut() else { continue };
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        // mboxrd: one '>' was added to every line matching ^>*From .
        let unquoted = match body.iter().position(|&b| b != b'>') {
            Some(k) if k > 0 && body[k..].starts_with(b"From ") => &body[1..],
            _ => body,
        };
        m.extend_from_slice(unquoted);
        m.extend_from_slice(b"\r\n");
    }
    if let Some(m) = current {
        messages.push(m);
    }
    // The separator is preceded by a blank line that belongs to the format, not the message.
    for m in &mut messages {
        while m.ends_with(b"\r\n\r\n") {
            m.truncate(m.len() - 2);
        }
    }
    messages
}

async fn run_fill(opts: Options, addr: SocketAddr, mbox: &str) -> u64 {
    let text = match std::fs::read(mbox) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("imap-load: cannot read {mbox}: {e}");
            return 1;
        }
    };
    let messages = split_mbox(&text);
    let mut errors = 0;
    for user in &opts.users {
        let started = Instant::now();
        let result = async {
            let mut conn = connect(addr).await?;
            conn.login(user, &opts.pass).await?;
            if conn.select(&opts.mailbox).await? > 0 {
                conn.command("STORE", "STORE 1:* +FLAGS.SILENT (\\Deleted)")
                    .await?;
                conn.command("EXPUNGE", "EXPUNGE").await?;
            }
            for m in &messages {
                conn.command_with_literal("APPEND", &format!("APPEND \"{}\"", opts.mailbox), m)
                    .await?;
            }
            let n = conn.select(&opts.mailbox).await?;
            if n as usize != messages.len() {
                return Err(check_failure(
                    "fill",
                    format!("{n} messages after appending {}", messages.len()),
                ));
            }
            conn.command("LOGOUT", "LOGOUT")
                .await
                .map(drop)
                .or_else(|f| match &f {
                    Failure::Status { response, .. } if response.starts_with("* BYE") => Ok(()),
                    _ => Err(f),
                })
        };
        match result.await {
            Ok(()) => println!(
                "RESULT target={addr} mode=fill user={user} messages={} elapsed_s={:.2} errors=0",
                messages.len(),
                started.elapsed().as_secs_f64()
            ),
            Err(f) => {
                eprintln!("imap-load: fill {user}: {f}");
                errors += 1;
            }
        }
    }
    errors
}

fn main() -> ExitCode {
    let opts = match parse_options(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("imap-load: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("imap-load: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::new(opts.host, opts.port);
    let errors = runtime.block_on(async move {
        match opts.mode.clone() {
            Mode::Mix => run_mix(opts, addr).await,
            Mode::Idle { sessions } => run_idle(opts, addr, sessions).await,
            Mode::IdleLatency { deliveries } => run_idle_latency(opts, addr, deliveries).await,
            Mode::Fill { mbox } => run_fill(opts, addr, &mbox).await,
        }
    });
    if errors > 0 {
        eprintln!("imap-load: FAILED: {errors} errors");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Vec<String> {
        [
            "--host",
            "127.0.0.1",
            "--port",
            "143",
            "--user",
            "a@x,b@x",
            "--pass",
            "pw",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn options_parse_modes_and_defaults() {
        let o = parse_options(args(&[])).unwrap();
        assert_eq!(o.mode, Mode::Mix);
        assert_eq!(
            (o.clients, o.duration, o.ops),
            (10, Duration::from_secs(20), None)
        );
        assert_eq!(o.users, ["a@x", "b@x"]);
        let o = parse_options(args(&["--idle", "500", "--hold", "3"])).unwrap();
        assert_eq!(o.mode, Mode::Idle { sessions: 500 });
        assert_eq!(o.hold, Some(Duration::from_secs(3)));
        let o = parse_options(args(&[
            "--idle-latency",
            "5",
            "--smtp-port",
            "25",
            "--rcpt",
            "a@x",
        ]))
        .unwrap();
        assert_eq!(o.mode, Mode::IdleLatency { deliveries: 5 });
    }

    #[test]
    fn options_refuse_bad_input() {
        for bad in [
            &["--clients", "0"][..],
            &["--ops", "0"],
            &["--idle", "0"],
            &["--idle-latency", "3"],
            &["--idle-latency", "3", "--smtp-port", "25"],
            &["--pass", "a\"b"],
            &["--mailbox", "In box"],
            &["--port", "70000"],
            &["--bogus", "1"],
            &["--clients"],
        ] {
            assert!(parse_options(args(bad)).is_err(), "{bad:?}");
        }
        assert!(parse_options(["--host", "10.0.0.1"].map(String::from)).is_err());
    }

    #[test]
    fn refuses_non_loopback_hosts() {
        for good in ["127.0.0.1", "127.5.6.7", "::1", "[::1]", "localhost"] {
            assert!(parse_loopback(good).is_ok(), "{good}");
        }
        for bad in ["10.0.0.1", "8.8.8.8", "example.com", "0.0.0.0", ""] {
            assert!(parse_loopback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn literal_announcements_are_found_at_line_end() {
        let table: &[(&[u8], Option<u64>)] = &[
            (b"* 1 FETCH (BODY[] {5}\r\n", Some(5)),
            (b"* 1 FETCH (BINARY[] ~{12}\r\n", Some(12)),
            (b"* 1 FETCH (BODY[] {0}\n", Some(0)),
            (b"* OK {5}x\r\n", None),
            (b"* OK {}\r\n", None),
            (b"* OK {-1}\r\n", None),
            (b"* OK {99999999999}\r\n", None),
            (b"* OK hello\r\n", None),
            (b"{5}", None),
        ];
        for (line, want) in table {
            assert_eq!(
                literal_at_end(line),
                *want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// A connection whose server side sends `script` and then closes.
    fn scripted(script: &[u8]) -> Conn<tokio::io::DuplexStream> {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let script = script.to_vec();
        tokio::spawn(async move {
            let _ = server.write_all(&script).await;
            // EOF after the script, so a truncated response fails at once, not by timeout.
            let _ = server.shutdown().await;
            // Keep reading whatever the client sends until it is done.
            let mut sink = vec![0u8; 4096];
            while matches!(server.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        Conn::new(client)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn fetch_with_literal_is_framed_and_decoded() {
        rt().block_on(async {
            let mut c = scripted(
                b"* 3 EXISTS\r\n* 2 FETCH (RFC822.SIZE 5 BODY[] {5}\r\nhello)\r\nL1 OK done\r\n",
            );
            c.selected = true;
            let r = c
                .command("t", "FETCH 2 (RFC822.SIZE BODY.PEEK[])")
                .await
                .unwrap();
            assert_eq!(c.exists, 3);
            check_body(&r.untagged, 2).unwrap();
            assert!(check_body(&r.untagged, 1).is_err());
        });
    }

    #[test]
    fn body_size_mismatch_is_an_error() {
        rt().block_on(async {
            let mut c =
                scripted(b"* 1 FETCH (RFC822.SIZE 6 BODY[] {5}\r\nhello)\r\nL1 OK done\r\n");
            let r = c.command("t", "FETCH").await.unwrap();
            assert!(check_body(&r.untagged, 1).is_err());
        });
    }

    #[test]
    fn hostile_responses_are_errors_not_panics() {
        let cases: &[&[u8]] = &[
            b"garbage\r\n",
            b"* 1 FETCH (BODY[] {5}\r\nhel",
            b"* 1 FETCH (BODY[] {4294967295}\r\n",
            b"* 1 FETCH (BODY[] {3}\r\nhello)\r\n",
            b"* OK no end",
            b"L9 OK wrong tag\r\n",
            b"L1 NO [TRYCREATE] no\r\n",
            b"L1 BAD what\r\n",
            b"* BYE going\r\n",
            b"+ go ahead\r\n",
            b"",
        ];
        rt().block_on(async {
            for case in cases {
                let mut c = scripted(case);
                assert!(
                    c.command("t", "NOOP").await.is_err(),
                    "{}",
                    String::from_utf8_lossy(case)
                );
            }
            let mut long = vec![b'*'; MAX_LINE + 10];
            long.extend_from_slice(b"\r\n");
            let mut c = scripted(&long);
            assert!(matches!(
                c.command("t", "NOOP").await,
                Err(Failure::Parse { .. })
            ));
        });
    }

    #[test]
    fn sequence_numbers_are_checked_against_exists() {
        let cases: &[&[u8]] = &[
            b"* 5 FETCH (FLAGS ())\r\nL1 OK done\r\n",
            b"* 5 EXPUNGE\r\nL1 OK done\r\n",
            b"* 2 EXISTS\r\nL1 OK done\r\n",
        ];
        rt().block_on(async {
            for case in cases {
                let mut c = scripted(case);
                c.selected = true;
                c.exists = 4;
                assert!(
                    matches!(c.command("t", "NOOP").await, Err(Failure::Check { .. })),
                    "{}",
                    String::from_utf8_lossy(case)
                );
            }
            let mut c = scripted(b"* 4 EXPUNGE\r\n* 1 EXPUNGE\r\n* 3 EXISTS\r\nL1 OK done\r\n");
            c.selected = true;
            c.exists = 4;
            c.command("t", "NOOP").await.unwrap();
            assert_eq!(c.exists, 3);
        });
    }

    #[test]
    fn select_requires_exists_and_greeting_must_be_ok() {
        rt().block_on(async {
            let mut c = scripted(b"* FLAGS (\\Seen)\r\nL1 OK [READ-WRITE] done\r\n");
            assert!(c.select("INBOX").await.is_err());
            let mut c = scripted(b"* 7 EXISTS\r\nL1 OK [READ-WRITE] done\r\n");
            assert_eq!(c.select("INBOX").await.unwrap(), 7);
            for (greeting, ok) in [
                (&b"* OK [CAPABILITY IMAP4rev1] hi\r\n"[..], true),
                (b"* BYE busy\r\n", false),
                (b"* PREAUTH hi\r\n", false),
                (b"hello\r\n", false),
            ] {
                assert_eq!(scripted(greeting).greeting().await.is_ok(), ok);
            }
        });
    }

    #[test]
    fn append_waits_for_continuation_and_reads_appenduid() {
        rt().block_on(async {
            let mut c = scripted(b"+ go\r\n* 8 EXISTS\r\nL1 OK [APPENDUID 9 42] done\r\n");
            let r = c
                .command_with_literal("a", "APPEND INBOX", b"x")
                .await
                .unwrap();
            assert_eq!(append_uid(r.code.as_ref()).map(|u| u.get()), Some(42));
            let mut c = scripted(b"L1 NO [TOOBIG] too big\r\n");
            assert!(
                c.command_with_literal("a", "APPEND INBOX", b"x")
                    .await
                    .is_err()
            );
            let mut c = scripted(b"+ go\r\nL1 OK done\r\n");
            let r = c
                .command_with_literal("a", "APPEND INBOX", b"x")
                .await
                .unwrap();
            assert_eq!(append_uid(r.code.as_ref()), None);
        });
    }

    #[test]
    fn fetch_range_and_search_checks() {
        rt().block_on(async {
            let mut c = scripted(
                b"* 2 FETCH (FLAGS (\\Seen))\r\n* 3 FETCH (FLAGS ())\r\n* 9 FETCH (UID 4)\r\n\
                  * SEARCH 4 7\r\nL1 OK done\r\n",
            );
            let r = c.command("t", "x").await.unwrap();
            let got = fetched_seqs(&r.untagged, |i| matches!(i, MessageDataItem::Flags(_)));
            assert_eq!(got, BTreeSet::from([2, 3]));
            check_range("f", &got, 2, 3).unwrap();
            assert!(check_range("f", &got, 2, 4).is_err());
            assert!(check_range("f", &got, 1, 3).is_err());
            assert_eq!(searched(&r.untagged), Some(BTreeSet::from([4, 7])));
            assert_eq!(searched(&[]), None);
        });
    }

    #[test]
    fn store_check_sees_the_flag_change() {
        rt().block_on(async {
            let mut c = scripted(b"* 2 FETCH (FLAGS (\\Seen \\Flagged))\r\nL1 OK done\r\n");
            let r = c.command("t", "x").await.unwrap();
            check_store(&r.untagged, 2, true).unwrap();
            assert!(check_store(&r.untagged, 2, false).is_err());
            // No FETCH for the message at all is allowed (the flags may not have changed).
            check_store(&r.untagged, 5, false).unwrap();
        });
    }

    #[test]
    fn mbox_is_split_unescaped_and_crlf() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n>From me\n\n\
                     From a@b Mon Jan  1 00:00:00 2024\nSubject: two\n\n>>From x\nlast\n";
        let m = split_mbox(mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], b"Subject: one\r\n\r\nbody\r\nFrom me\r\n");
        assert_eq!(m[1], b"Subject: two\r\n\r\n>From x\r\nlast\r\n");
        assert!(split_mbox(b"").is_empty());
        assert!(split_mbox(b"no separator\n").is_empty());
    }

    #[test]
    fn rng_is_deterministic_and_covers_every_class() {
        let mut a = Rng(7);
        let mut b = Rng(7);
        let mut seen = [0u32; CLASSES.len()];
        for _ in 0..10_000 {
            let c = a.class();
            assert_eq!(c, b.class());
            seen[c] += 1;
        }
        assert!(seen.iter().all(|&n| n > 200), "{seen:?}");
        assert_eq!(Rng(1).below(1), 0);
    }

    #[test]
    fn store_targets_are_disjoint_between_clients() {
        let mut targets = Vec::new();
        for index in 0..4 {
            let mut c = Client {
                index,
                user: String::new(),
                marker: String::new(),
                rng: Rng(index),
                own: BTreeSet::new(),
                base: 100,
                appended: 0,
                latencies: Vec::new(),
                errors: Vec::new(),
            };
            let t: BTreeSet<u32> = (0..200).map(|_| c.store_target(4)).collect();
            assert!(t.iter().all(|&s| (1..=100).contains(&s)));
            targets.push(t);
        }
        for i in 0..4 {
            for j in i + 1..4 {
                assert!(targets[i].is_disjoint(&targets[j]));
            }
        }
    }

    #[test]
    fn appended_messages_carry_the_marker() {
        let m = String::from_utf8(append_message("r1c3z", 9)).unwrap();
        assert!(m.contains("\r\nX-Imap-Load: r1c3z\r\n"));
        assert!(m.contains("<r1c3z.9@imap-load.invalid>"));
        assert!(m.lines().all(|l| l.len() < 100));
        assert!(!m.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&v, 50.0), 50.0);
        assert_eq!(percentile_ms(&v, 99.0), 99.0);
        assert_eq!(percentile_ms(&v, 100.0), 100.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
    }
}
