//! `smtp-load`: a reproducible SMTP receive benchmark for loopback servers.
//!
//! N client threads with blocking std sockets send M messages of S bytes in all (the threads
//! take the next message from one shared counter, so a slow connection never holds back the
//! rest). Each message is one plain mail transaction, in lock-step (no PIPELINING):
//!
//! * `new` mode (the default): connect, 220, EHLO, MAIL, RCPT, DATA, body, `.`, 250, QUIT, 221;
//! * `reuse` mode (`--reuse`): one connection per thread, EHLO once, then a new MAIL
//!   transaction per message with no RSET (RFC 5321 §4.1.1.2: a 250 after the final dot
//!   leaves the session ready for the next MAIL), QUIT at the end.
//!
//! A message's latency runs from connect (`new`) or from sending MAIL (`reuse`) to the 250
//! after the final dot: the moment the server has taken responsibility for the message, i.e.
//! stored it durably. Throughput counts only messages acknowledged that way.
//!
//! Every reply that is not 2xx/3xx where one is expected is an error: it is counted, the first
//! few are printed to stderr, the connection is dropped (and in `reuse` mode re-opened for the
//! next message), and the process exits 1. The last line on stdout is the summary:
//!
//! ```text
//! RESULT target=HOST:PORT mode=new|reuse clients=N messages=M size=S elapsed_s=… \
//!        msgs_per_sec=… p50_ms=… p99_ms=… errors=… acked=…
//! ```
//!
//! It refuses any target that is not a loopback address: load tests never leave the machine.

use mailroom_tests::parse_loopback;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Connect, read and write timeout: a hung server fails its message instead of the run.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest reply line we read (RFC 5321 §4.5.3.1.5: 512 octets); longer is an error.
const MAX_REPLY_LINE: u64 = 4096;
/// Most lines in one multi-line reply, so a misbehaving peer cannot keep us reading forever.
const MAX_REPLY_LINES: usize = 100;
/// How many error messages are printed; the rest are only counted.
const ERRORS_SHOWN: u64 = 5;
/// Body line length before CRLF (RFC 5322 §2.1.1 recommends at most 78).
const LINE_LEN: usize = 76;

const USAGE: &str = "usage: smtp-load --host 127.0.0.1 --port P [--clients N=20] \
[--messages M=20000] [--size S=4096] --rcpt ADDR [--from ADDR=bench@remote.example] \
[--helo NAME=load.client.example] [--reuse]";

/// What the command line asked for.
#[derive(Debug, Clone)]
struct Options {
    host: IpAddr,
    port: u16,
    clients: u64,
    messages: u64,
    size: usize,
    rcpt: String,
    from: String,
    helo: String,
    reuse: bool,
}

fn parse_options(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut host = None;
    let mut port = None;
    let mut clients = 20u64;
    let mut messages = 20_000u64;
    let mut size = 4096usize;
    let mut rcpt = None;
    let mut from = "bench@remote.example".to_string();
    let mut helo = "load.client.example".to_string();
    let mut reuse = false;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--reuse" {
            reuse = true;
            continue;
        }
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
        match flag.as_str() {
            "--host" => host = Some(parse_loopback(&value)?),
            "--port" => {
                port = Some(
                    value
                        .parse::<u16>()
                        .map_err(|_| format!("--port must be a port number, not `{value}`"))?,
                );
            }
            "--clients" => clients = number("--clients")?,
            "--messages" => messages = number("--messages")?,
            "--size" => {
                size = usize::try_from(number("--size")?).map_err(|_| "--size is too large")?;
            }
            "--rcpt" => rcpt = Some(value),
            "--from" => from = value,
            "--helo" => helo = value,
            _ => return Err(format!("unknown option `{flag}`\n{USAGE}")),
        }
    }
    let host = host.ok_or_else(|| format!("--host is required\n{USAGE}"))?;
    let port = port.ok_or_else(|| format!("--port is required\n{USAGE}"))?;
    let rcpt = rcpt.ok_or_else(|| format!("--rcpt is required\n{USAGE}"))?;
    if clients == 0 || messages == 0 {
        return Err("--clients and --messages must be at least 1".into());
    }
    for (name, v) in [("--rcpt", &rcpt), ("--from", &from), ("--helo", &helo)] {
        if v.is_empty() || v.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(format!("{name} must be one word of printable characters"));
        }
    }
    Ok(Options {
        host,
        port,
        clients: clients.min(messages),
        messages,
        size,
        rcpt,
        from,
        helo,
        reuse,
    })
}

/// Why a message failed.
#[derive(Debug)]
enum Failure {
    /// The server answered, but not with what the step needed.
    Reply { step: &'static str, reply: String },
    /// The socket failed or closed.
    Io {
        step: &'static str,
        error: io::Error,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reply { step, reply } => write!(f, "{step}: server replied `{reply}`"),
            Self::Io { step, error } => write!(f, "{step}: {error}"),
        }
    }
}

/// One SMTP connection, in lock-step.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    /// Connect and read the greeting.
    fn open(addr: SocketAddr) -> Result<Self, Failure> {
        let io = |error| Failure::Io {
            step: "connect",
            error,
        };
        let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(io)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        tcp.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        // Lock-step commands are small writes each followed by a read: do not let Nagle hold
        // them back (smtp-source does the same).
        tcp.set_nodelay(true).map_err(io)?;
        let mut conn = Self {
            stream: BufReader::new(tcp),
        };
        conn.expect("greeting", 220)?;
        Ok(conn)
    }

    /// Send `line` (without CRLF) and expect a reply of class `code / 100` (2 or 3).
    fn command(&mut self, step: &'static str, line: &str, code: u16) -> Result<(), Failure> {
        let mut out = Vec::with_capacity(line.len() + 2);
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        self.send(step, &out)?;
        self.expect(step, code)
    }

    fn send(&mut self, step: &'static str, bytes: &[u8]) -> Result<(), Failure> {
        let tcp = self.stream.get_mut();
        tcp.write_all(bytes)
            .and_then(|()| tcp.flush())
            .map_err(|error| Failure::Io { step, error })
    }

    /// Read one reply (all its lines) and check its code is `code`.
    fn expect(&mut self, step: &'static str, code: u16) -> Result<(), Failure> {
        let reply = self.read_reply(step)?;
        let got = reply
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .unwrap_or(0);
        // Only the exact expected code moves the transaction on; any other 2xx/3xx is as
        // wrong for a lock-step client as a 4xx/5xx.
        if got == code {
            Ok(())
        } else {
            Err(Failure::Reply { step, reply })
        }
    }

    /// One reply: lines `NNN-text` ending with `NNN text` (RFC 5321 §4.2.1), joined by ` | `.
    fn read_reply(&mut self, step: &'static str) -> Result<String, Failure> {
        let mut text = String::new();
        for _ in 0..MAX_REPLY_LINES {
            let mut line = Vec::new();
            let n = (&mut self.stream)
                .take(MAX_REPLY_LINE)
                .read_until(b'\n', &mut line)
                .map_err(|error| Failure::Io { step, error })?;
            if n == 0 {
                return Err(Failure::Io {
                    step,
                    error: io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"),
                });
            }
            if line.last() != Some(&b'\n') {
                return Err(Failure::Reply {
                    step,
                    reply: format!("reply line longer than {MAX_REPLY_LINE} bytes"),
                });
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if !text.is_empty() {
                text.push_str(" | ");
            }
            text.push_str(line);
            let well_formed =
                line.len() >= 3 && line.as_bytes()[..3].iter().all(u8::is_ascii_digit);
            if !well_formed {
                return Err(Failure::Reply { step, reply: text });
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(text);
            }
        }
        Err(Failure::Reply {
            step,
            reply: format!("more than {MAX_REPLY_LINES} reply lines"),
        })
    }

    fn ehlo(&mut self, helo: &str) -> Result<(), Failure> {
        self.command("EHLO", &format!("EHLO {helo}"), 250)
    }

    /// One mail transaction, ending with the 250 after the final dot.
    fn transaction(&mut self, opts: &Options, data: &[u8]) -> Result<(), Failure> {
        self.command("MAIL", &format!("MAIL FROM:<{}>", opts.from), 250)?;
        self.command("RCPT", &format!("RCPT TO:<{}>", opts.rcpt), 250)?;
        self.command("DATA", "DATA", 354)?;
        self.send("message data", data)?;
        self.expect("end of data", 250)
    }

    fn quit(mut self) -> Result<(), Failure> {
        self.command("QUIT", "QUIT", 221)
    }
}

/// Build message `index`: headers with a unique Message-ID, then filler lines, exactly `size`
/// bytes in all when that leaves room for at least one line (CRLF) after the headers;
/// dot-stuffed and terminated with `CRLF.CRLF`.
fn message(opts: &Options, run_id: &str, index: u64, date: &str) -> Vec<u8> {
    let mut text = format!(
        "From: <{from}>\r\nTo: <{rcpt}>\r\nSubject: smtp-load message {index}\r\n\
         Date: {date}\r\nMessage-ID: <{run_id}.{index}@smtp-load.invalid>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
        from = opts.from,
        rcpt = opts.rcpt,
    );
    let mut left = opts.size.saturating_sub(text.len());
    let mut line_no = 0usize;
    while left >= 2 {
        // Each line is `chars` printable bytes plus CRLF; never leave a 1-byte remainder,
        // which no line could fill.
        let mut chunk = left.min(LINE_LEN + 2);
        if left - chunk == 1 {
            chunk -= 1;
        }
        let chars = chunk - 2;
        // The pattern holds a '.', kept off the start of a line, so that no stuffing is
        // needed and the size stays exact; `dot_stuff` still guards any change of pattern.
        let pattern = b"abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ.";
        for k in 0..chars {
            let c = pattern[(line_no * 7 + k) % pattern.len()];
            text.push(char::from(if k == 0 && c == b'.' { b'x' } else { c }));
        }
        text.push_str("\r\n");
        left -= chunk;
        line_no += 1;
    }
    dot_stuff(text.as_bytes())
}

/// RFC 5321 §4.5.2: a line starting with '.' gets one more; then the terminating `.CRLF`.
/// `text` is CRLF-terminated lines.
fn dot_stuff(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 16);
    let mut at_line_start = true;
    for &b in text {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// RFC 5322 §3.3 date-time in UTC for `secs` since the Unix epoch.
fn rfc5322_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// What all client threads share.
struct Shared {
    opts: Options,
    addr: SocketAddr,
    run_id: String,
    date: String,
    next: AtomicU64,
    errors: AtomicU64,
}

impl Shared {
    /// The next message index to send, or `None` when all are taken.
    fn take(&self) -> Option<u64> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.opts.messages).then_some(i)
    }

    fn fail(&self, failure: &Failure) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed);
        if n < ERRORS_SHOWN {
            eprintln!("smtp-load: error: {failure}");
        } else if n == ERRORS_SHOWN {
            eprintln!("smtp-load: more errors; counting only");
        }
    }
}

/// One client thread: send messages until none are left. Returns per-message latencies of
/// acknowledged messages, in microseconds.
fn client(shared: &Shared) -> Vec<u64> {
    let mut latencies = Vec::new();
    let mut open: Option<Conn> = None;
    while let Some(index) = shared.take() {
        let data = message(&shared.opts, &shared.run_id, index, &shared.date);
        let start = Instant::now();
        let result = (|| {
            let mut conn = match open.take() {
                Some(conn) => conn,
                None => {
                    let mut conn = Conn::open(shared.addr)?;
                    conn.ehlo(&shared.opts.helo)?;
                    conn
                }
            };
            // In reuse mode the clock starts at MAIL, after any (re)connect.
            let start = if shared.opts.reuse {
                Instant::now()
            } else {
                start
            };
            conn.transaction(&shared.opts, &data)?;
            let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
            Ok::<_, Failure>((conn, micros))
        })();
        match result {
            Ok((conn, micros)) => {
                latencies.push(micros);
                if shared.opts.reuse {
                    open = Some(conn);
                } else if let Err(failure) = conn.quit() {
                    // The message itself was acknowledged; the session still misbehaved.
                    shared.fail(&failure);
                }
            }
            Err(failure) => shared.fail(&failure),
        }
    }
    if let Some(conn) = open
        && let Err(failure) = conn.quit()
    {
        shared.fail(&failure);
    }
    latencies
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

fn main() -> ExitCode {
    let opts = match parse_options(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("smtp-load: {e}");
            return ExitCode::from(2);
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let shared = Arc::new(Shared {
        addr: SocketAddr::new(opts.host, opts.port),
        run_id: format!("{}.{}", std::process::id(), now.as_nanos()),
        date: rfc5322_date(now.as_secs()),
        next: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        opts,
    });
    let all = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut threads = Vec::new();
    for i in 0..shared.opts.clients {
        let (shared, all) = (shared.clone(), all.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("smtp-load-{i}"))
            .spawn(move || {
                let latencies = client(&shared);
                all.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(latencies);
            });
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(e) => {
                eprintln!("smtp-load: cannot start client thread {i}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut panicked = false;
    for t in threads {
        panicked |= t.join().is_err();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = std::mem::take(&mut *all.lock().unwrap_or_else(PoisonError::into_inner));
    latencies.sort_unstable();
    let acked = latencies.len() as u64;
    let errors = shared.errors.load(Ordering::Relaxed);
    let o = &shared.opts;
    println!(
        "RESULT target={}:{} mode={} clients={} messages={} size={} elapsed_s={:.2} \
         msgs_per_sec={:.0} p50_ms={:.2} p99_ms={:.2} errors={} acked={}",
        shared.addr.ip(),
        o.port,
        if o.reuse { "reuse" } else { "new" },
        o.clients,
        o.messages,
        o.size,
        elapsed,
        acked as f64 / elapsed.max(f64::MIN_POSITIVE),
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0),
        errors,
        acked,
    );
    if errors > 0 || panicked || acked != o.messages {
        eprintln!(
            "smtp-load: FAILED: {errors} errors, {acked} of {} messages acknowledged",
            o.messages
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(size: usize) -> Options {
        parse_options(
            [
                "--host",
                "127.0.0.1",
                "--port",
                "25",
                "--rcpt",
                "a@b.example",
                "--size",
                &size.to_string(),
            ]
            .map(String::from),
        )
        .unwrap()
    }

    #[test]
    fn refuses_non_loopback_hosts() {
        assert!(parse_loopback("127.0.0.1").is_ok());
        assert!(parse_loopback("127.5.6.7").is_ok());
        assert!(parse_loopback("::1").is_ok());
        assert!(parse_loopback("[::1]").is_ok());
        assert!(parse_loopback("localhost").is_ok());
        for bad in [
            "10.0.0.1",
            "192.168.1.1",
            "8.8.8.8",
            "example.com",
            "0.0.0.0",
        ] {
            assert!(parse_loopback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_has_the_requested_size_and_is_terminated() {
        let sizes = (0..600).chain([4096, 10_000, 65_537]);
        for size in sizes {
            let o = opts(size);
            let m = message(&o, "run", 7, "Thu, 1 Jan 1970 00:00:00 +0000");
            assert!(m.ends_with(b"\r\n.\r\n"));
            let body = &m[..m.len() - 3];
            let header_len = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            // One byte more than the headers cannot be filled with a line.
            let want = if size == header_len + 1 {
                header_len
            } else {
                size.max(header_len)
            };
            assert_eq!(body.len(), want, "size {size}");
            assert!(body.split(|&b| b == b'\n').all(|l| l.len() <= 1000));
        }
    }

    #[test]
    fn messages_have_unique_ids() {
        let o = opts(200);
        let a = message(&o, "run", 1, "d");
        let b = message(&o, "run", 2, "d");
        assert_ne!(a, b);
        assert!(String::from_utf8_lossy(&a).contains("Message-ID: <run.1@smtp-load.invalid>"));
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots() {
        assert_eq!(
            dot_stuff(b".a\r\nb.\r\n..\r\n"),
            b"..a\r\nb.\r\n...\r\n.\r\n"
        );
        assert_eq!(dot_stuff(b"x"), b"x\r\n.\r\n");
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_000_000),
            "Wed, 18 Nov 2026 11:06:40 +0000"
        );
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&v, 50.0), 50.0);
        assert_eq!(percentile_ms(&v, 99.0), 99.0);
        assert_eq!(percentile_ms(&[5000], 99.0), 5.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
    }
}
