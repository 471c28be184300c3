//! A plain standard submission client (RFC 6409): connect to the `submission` listener,
//! EHLO, STARTTLS (RFC 3207, trusting only the server's self-signed certificate), EHLO
//! again, AUTH PLAIN (RFC 4954), MAIL, RCPT, DATA. Blocking, for end-to-end tests.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::LineClient;

/// Read one (possibly multi-line) SMTP reply from a plain stream.
fn plain_reply(reader: &mut BufReader<TcpStream>) -> Result<String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            bail!("connection closed after {all:?}");
        }
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(all);
        }
    }
}

fn expect(reply: String, code: &str, what: &str) -> Result<String> {
    if !reply.starts_with(code) {
        bail!("{what}: expected {code}, got {reply:?}");
    }
    Ok(reply)
}

/// Submit `message` (CRLF line ends) from `from` to `to` as `user`/`password` over the
/// submission listener on 127.0.0.1:`port`. Returns the reply to the end of DATA.
#[allow(clippy::too_many_arguments)]
pub fn submit(
    port: u16,
    hostname: &str,
    ca_pem: &Path,
    user: &str,
    password: &str,
    from: &str,
    to: &[&str],
    message: &str,
) -> Result<String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).context("connect to submission")?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(tcp.try_clone()?);
    let mut writer = tcp.try_clone()?;
    expect(plain_reply(&mut reader)?, "220", "greeting")?;
    writer.write_all(b"EHLO client.example.org\r\n")?;
    let ehlo = expect(plain_reply(&mut reader)?, "250", "EHLO")?;
    if !ehlo.contains("STARTTLS") {
        bail!("submission offers no STARTTLS: {ehlo:?}");
    }
    writer.write_all(b"STARTTLS\r\n")?;
    expect(plain_reply(&mut reader)?, "220", "STARTTLS")?;
    drop(reader);
    let mut c = LineClient::tls_over(tcp, hostname, ca_pem)?;
    let done = |l: &str| l.as_bytes().get(3) == Some(&b' ');
    c.send("EHLO client.example.org")?;
    expect(c.read_until(done)?, "250", "EHLO after TLS")?;
    let blob = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    c.send(&format!("AUTH PLAIN {blob}"))?;
    expect(c.read_until(done)?, "235", "AUTH")?;
    c.send(&format!("MAIL FROM:<{from}>"))?;
    expect(c.read_until(done)?, "250", "MAIL")?;
    for rcpt in to {
        c.send(&format!("RCPT TO:<{rcpt}>"))?;
        expect(c.read_until(done)?, "250", "RCPT")?;
    }
    c.send("DATA")?;
    expect(c.read_until(done)?, "354", "DATA")?;
    let mut data = String::new();
    for line in message.split_inclusive("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
    }
    if !data.ends_with("\r\n") {
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    c.send_raw(data.as_bytes())?;
    let end = c.read_until(done)?;
    let _ = c.send("QUIT");
    Ok(end)
}
