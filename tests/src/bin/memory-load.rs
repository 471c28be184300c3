//! `memory-load`: the client side of `bench/memory.sh`, three groups of connections at once
//! against a loopback mailroom, to see what the server holds in memory while they run:
//!
//! * `--literals N`: IMAP connections that, before logging in, announce a huge
//!   non-synchronizing literal (`a LOGIN {999999999+}`) and stream `--size` octets of it;
//! * `--appends N`: IMAP connections that log in and APPEND a `--size`-octet message
//!   (synchronizing literal, streamed in 64 KiB writes);
//! * `--smtp N`: SMTP connections that send a `--size`-octet message with DATA.
//!
//! Meanwhile a probe opens a fresh IMAP connection (LOGIN, NOOP, LOGOUT) and a fresh SMTP one
//! (EHLO, QUIT) every 500 ms and times them: the server must keep serving newcomers.
//!
//! Each group's answers are counted (e.g. `250`, `452`, `OK`, `NO`, `BAD`); the last line on
//! stdout is the summary:
//!
//! ```text
//! RESULT literals=N literal_refused=… appends=N append_ok=… append_limit=… append_other=… \
//!        smtp=N smtp_250=… smtp_4xx=… smtp_other=… probes=… probe_failures=… probe_max_ms=… \
//!        elapsed_s=…
//! ```
//!
//! It refuses any target that is not a loopback address: load tests never leave the machine.

use mailroom_tests::parse_loopback;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A hung server fails its connection instead of the run.
const IO_TIMEOUT: Duration = Duration::from_secs(600);
/// Octets per write while streaming.
const CHUNK: usize = 64 * 1024;
/// Body line length before CRLF.
const LINE_LEN: usize = 76;

const USAGE: &str = "usage: memory-load --host 127.0.0.1 --imap-port P --smtp-port P \
--user ADDR --pass PASS [--size S=25000000] [--literals N=50] [--appends N=50] [--smtp N=50]";

#[derive(Debug, Clone)]
struct Options {
    host: IpAddr,
    imap: u16,
    smtp: u16,
    user: String,
    pass: String,
    size: usize,
    literals: usize,
    appends: usize,
    smtps: usize,
}

fn parse_options(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut map = BTreeMap::new();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        map.insert(flag, value);
    }
    let get = |k: &str| map.get(k).cloned();
    let num = |k: &str, d: usize| -> Result<usize, String> {
        get(k).map_or(Ok(d), |v| {
            v.parse().map_err(|_| format!("{k}: not a number"))
        })
    };
    let port = |k: &str| -> Result<u16, String> {
        get(k)
            .ok_or(format!("{k} is required"))?
            .parse()
            .map_err(|_| format!("{k}: not a port"))
    };
    Ok(Options {
        host: parse_loopback(&get("--host").ok_or("--host is required")?)?,
        imap: port("--imap-port")?,
        smtp: port("--smtp-port")?,
        user: get("--user").ok_or("--user is required")?,
        pass: get("--pass").ok_or("--pass is required")?,
        size: num("--size", 25_000_000)?,
        literals: num("--literals", 50)?,
        appends: num("--appends", 50)?,
        smtps: num("--smtp", 50)?,
    })
}

/// One connection, line reads through a buffer.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(host: IpAddr, port: u16) -> io::Result<Self> {
        let s = TcpStream::connect_timeout(&SocketAddr::new(host, port), IO_TIMEOUT)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        Ok(line)
    }

    /// Lines until one starts with `prefix`; that one.
    fn until(&mut self, prefix: &str) -> io::Result<String> {
        loop {
            let line = self.line()?;
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
    }

    /// An SMTP reply (the last line of a multi-line one).
    fn reply(&mut self) -> io::Result<String> {
        loop {
            let line = self.line()?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line);
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }
}

/// A `size`-octet message (headers, then 76-character lines; no line starts with a dot).
fn message(size: usize) -> Vec<u8> {
    let mut m =
        b"From: bench@test.example\r\nTo: bench@test.example\r\nSubject: memory bench\r\n\r\n"
            .to_vec();
    let mut i = 0u64;
    while m.len() + LINE_LEN + 2 <= size {
        let line = format!("{i:0>width$}", width = LINE_LEN);
        m.extend_from_slice(line.as_bytes());
        m.extend_from_slice(b"\r\n");
        i += 1;
    }
    while m.len() + 2 < size {
        m.push(b'x');
    }
    m.extend_from_slice(b"\r\n");
    m
}

fn stream(conn: &mut Conn, data: &[u8]) -> io::Result<()> {
    for chunk in data.chunks(CHUNK) {
        conn.send(chunk)?;
    }
    Ok(())
}

/// The first word of an IMAP tagged status after the tag (`OK`, `NO`, `BAD`) with its code.
fn imap_status(line: &str) -> String {
    let mut words = line.split_whitespace().skip(1);
    let status = words.next().unwrap_or("?").to_string();
    match words.next() {
        Some(code) if code.starts_with('[') => format!("{status} {}", code.trim_end_matches(']')),
        _ => status,
    }
}

fn literal(o: &Options, junk: &[u8]) -> io::Result<String> {
    let mut c = Conn::open(o.host, o.imap)?;
    c.line()?;
    c.send(b"a LOGIN {999999999+}\r\n")?;
    // The refusal may come at once (RFC 7888 §4) while we go on streaming; the server may
    // also close the connection: both are fine, what is counted is the answer.
    let _ = stream(&mut c, junk);
    c.until("a ").map(|l| imap_status(&l))
}

fn append(o: &Options, body: &[u8]) -> io::Result<String> {
    let mut c = Conn::open(o.host, o.imap)?;
    c.line()?;
    c.send(format!("a LOGIN \"{}\" \"{}\"\r\n", o.user, o.pass).as_bytes())?;
    let login = c.until("a ")?;
    if !login.starts_with("a OK") {
        return Ok(format!("login {}", imap_status(&login)));
    }
    c.send(format!("b APPEND INBOX {{{}}}\r\n", body.len()).as_bytes())?;
    let go = c.line()?;
    if !go.starts_with('+') {
        return Ok(imap_status(&go));
    }
    stream(&mut c, body)?;
    c.send(b"\r\n")?;
    let done = c.until("b ")?;
    let _ = c.send(b"c LOGOUT\r\n");
    Ok(imap_status(&done))
}

fn smtp(o: &Options, body: &[u8]) -> io::Result<String> {
    let mut c = Conn::open(o.host, o.smtp)?;
    c.reply()?;
    c.send(b"EHLO load.client.example\r\n")?;
    c.reply()?;
    c.send(b"MAIL FROM:<bench@remote.example>\r\n")?;
    c.reply()?;
    c.send(format!("RCPT TO:<{}>\r\n", o.user).as_bytes())?;
    let rcpt = c.reply()?;
    if !rcpt.starts_with('2') {
        return Ok(format!("rcpt {}", &rcpt[..3.min(rcpt.len())]));
    }
    c.send(b"DATA\r\n")?;
    let go = c.reply()?;
    if !go.starts_with("354") {
        return Ok(go[..3.min(go.len())].to_string());
    }
    stream(&mut c, body)?;
    c.send(b".\r\n")?;
    let done = c.reply()?;
    let _ = c.send(b"QUIT\r\n");
    Ok(done[..3.min(done.len())].to_string())
}

/// A newcomer: IMAP LOGIN + NOOP + LOGOUT, SMTP EHLO + QUIT.
fn probe(o: &Options) -> io::Result<()> {
    let mut c = Conn::open(o.host, o.imap)?;
    c.line()?;
    c.send(
        format!(
            "a LOGIN \"{}\" \"{}\"\r\nb NOOP\r\nc LOGOUT\r\n",
            o.user, o.pass
        )
        .as_bytes(),
    )?;
    let login = c.until("a ")?;
    let noop = c.until("b ")?;
    if !login.starts_with("a OK") || !noop.starts_with("b OK") {
        return Err(io::Error::other(format!("imap probe: {login} {noop}")));
    }
    let mut s = Conn::open(o.host, o.smtp)?;
    s.reply()?;
    s.send(b"EHLO probe.example\r\n")?;
    let ehlo = s.reply()?;
    let _ = s.send(b"QUIT\r\n");
    if !ehlo.starts_with("250") {
        return Err(io::Error::other(format!("smtp probe: {ehlo}")));
    }
    Ok(())
}

type Tally = Arc<Mutex<BTreeMap<String, usize>>>;

fn count(tally: &Tally, key: String) {
    *tally
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default() += 1;
}

fn main() -> ExitCode {
    let o = match parse_options(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("memory-load: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let body: Arc<[u8]> = Arc::from(message(o.size));
    let started = Instant::now();
    let tally: Tally = Arc::default();
    let mut threads = Vec::new();
    for (group, n) in [
        ("literal", o.literals),
        ("append", o.appends),
        ("smtp", o.smtps),
    ] {
        for _ in 0..n {
            let (o, body, tally) = (o.clone(), Arc::clone(&body), Arc::clone(&tally));
            threads.push(std::thread::spawn(move || {
                let answer = match group {
                    "literal" => literal(&o, &body),
                    "append" => append(&o, &body),
                    _ => smtp(&o, &body),
                };
                let key = match answer {
                    Ok(a) => format!("{group} {}", a.trim()),
                    Err(e) => format!("{group} error {}", e.kind()),
                };
                count(&tally, key);
            }));
        }
    }
    let done = Arc::new(AtomicBool::new(false));
    let prober = {
        let (o, done) = (o.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let (mut probes, mut failures, mut max) = (0u32, 0u32, Duration::ZERO);
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                match probe(&o) {
                    Ok(()) => max = max.max(t.elapsed()),
                    Err(e) => {
                        failures += 1;
                        eprintln!("memory-load: probe failed: {e}");
                    }
                }
                probes += 1;
                std::thread::sleep(Duration::from_millis(500));
            }
            (probes, failures, max)
        })
    };
    for t in threads {
        let _ = t.join();
    }
    done.store(true, Ordering::Relaxed);
    let (probes, failures, max) = prober.join().unwrap_or((0, 1, Duration::ZERO));
    let tally = tally.lock().unwrap_or_else(PoisonError::into_inner).clone();
    for (k, v) in &tally {
        println!("ANSWER {k}: {v}");
    }
    println!(
        "RESULT literals={} appends={} smtp={} size={} probes={probes} probe_failures={failures} \
         probe_max_ms={} elapsed_s={:.1}",
        o.literals,
        o.appends,
        o.smtps,
        o.size,
        max.as_millis(),
        started.elapsed().as_secs_f64()
    );
    if failures > 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
