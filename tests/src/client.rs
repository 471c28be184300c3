//! Small blocking clients for tests: a line-oriented client over TCP or TLS, and a minimal
//! HTTP GET.

use anyhow::{Context, Result, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Read/write timeout of test clients: long enough for a loaded CI machine, short enough that
/// a hung server fails the test instead of the whole run.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

/// A client that sends lines and reads CRLF-terminated replies.
pub struct LineClient {
    stream: BufReader<Box<dyn Io>>,
}

impl LineClient {
    /// Connect in plain text to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> Result<Self> {
        let tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Self::from_tcp(tcp))
    }

    /// A client over a connection the test has already written to (e.g. a PROXY header).
    pub fn from_tcp(tcp: TcpStream) -> Self {
        Self {
            stream: BufReader::new(Box::new(tcp)),
        }
    }

    /// Connect with implicit TLS, trusting only the certificate in `ca_pem` for `hostname`.
    pub fn connect_tls(port: u16, hostname: &str, ca_pem: &Path) -> Result<Self> {
        let tcp = TcpStream::connect(("127.0.0.1", port))?;
        Self::tls_over(tcp, hostname, ca_pem)
    }

    /// Start TLS on an open connection (after STARTTLS/STLS was answered), trusting only the
    /// certificate in `ca_pem` for `hostname`.
    pub fn tls_over(tcp: TcpStream, hostname: &str, ca_pem: &Path) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_pem)? {
            roots.add(cert?)?;
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(hostname.to_string())?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Self {
            stream: BufReader::new(Box::new(rustls::StreamOwned::new(conn, tcp))),
        })
    }

    /// Read one line, CRLF included; an empty string means the server closed.
    pub fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        self.stream
            .read_line(&mut line)
            .context("reading a reply")?;
        Ok(line)
    }

    /// Read one line as bytes, CRLF included (a message may hold any octet); empty means
    /// the server closed.
    pub fn read_line_bytes(&mut self) -> Result<Vec<u8>> {
        let mut line = Vec::new();
        self.stream
            .read_until(b'\n', &mut line)
            .context("reading a reply")?;
        Ok(line)
    }

    /// Read exactly `n` octets (an IMAP literal).
    pub fn read_exact_bytes(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut bytes = vec![0; n];
        self.stream
            .read_exact(&mut bytes)
            .with_context(|| format!("reading {n} octets"))?;
        Ok(bytes)
    }

    /// Read lines until one matches `done` (e.g. an SMTP line whose 4th octet is a space).
    pub fn read_until(&mut self, done: impl Fn(&str) -> bool) -> Result<String> {
        let mut all = String::new();
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                bail!("connection closed after {all:?}");
            }
            all.push_str(&line);
            if done(&line) {
                return Ok(all);
            }
        }
    }

    /// Send `line` followed by CRLF.
    pub fn send(&mut self, line: &str) -> Result<()> {
        self.send_raw(format!("{line}\r\n").as_bytes())
    }

    /// Send bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = self.stream.get_mut();
        stream.write_all(bytes)?;
        stream.flush()?;
        Ok(())
    }

    /// Send a command line and read one reply line.
    pub fn cmd(&mut self, line: &str) -> Result<String> {
        self.send(line)?;
        self.read_line()
    }

    /// Send a command line and read its whole reply (SMTP multi-line: up to the line whose
    /// fourth octet is a space).
    pub fn reply(&mut self, line: &str) -> Result<String> {
        self.send(line)?;
        self.read_until(|l| l.len() < 4 || l.as_bytes()[3] == b' ')
    }

    /// Whether the server has closed the connection (reads to the end).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest).is_ok()
    }
}

/// An HTTP answer: status, header fields (names lowercase), body.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }
}

/// One HTTP/1.1 request on its own connection to 127.0.0.1:`port` (the body, if any, is
/// sent as is with its length; give a Content-Type in `headers`).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<HttpAnswer> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes())?;
    if let Some(b) = body {
        tcp.write_all(b.as_bytes())?;
    }
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)?;
    let response = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end of the header")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    })
}

/// `GET path` on 127.0.0.1:`port`; returns the status code and the body.
pub fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    tcp.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
