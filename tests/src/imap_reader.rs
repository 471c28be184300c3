//! How tests read what the server stored: through IMAP, as a user's client does. Log in as
//! the account over implicit TLS (AUTHENTICATE PLAIN, RFC 4616, so any address works), EXAMINE
//! the mailbox (read-only: no flag and no `\Recent` changes, RFC 9051 §6.3.3) and fetch every
//! message's octets with `BODY.PEEK[]` (RFC 9051 §6.4.5), oldest first. Blocking.

use crate::LineClient;
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use std::path::Path;

/// Where and as whom to read.
pub struct ImapLogin<'a> {
    /// The `imaps` listener on 127.0.0.1.
    pub port: u16,
    /// The name its certificate is for.
    pub hostname: &'a str,
    /// The certificate to trust.
    pub ca_pem: &'a Path,
    pub address: &'a str,
    pub password: &'a str,
}

/// The raw messages of `mailbox` (`INBOX` in any case), by ascending UID.
pub fn read_mailbox(login: &ImapLogin<'_>, mailbox: &str) -> Result<Vec<Vec<u8>>> {
    let mut c = LineClient::connect_tls(login.port, login.hostname, login.ca_pem)
        .context("connect to imaps")?;
    let greeting = c.read_line()?;
    if !greeting.starts_with("* OK") {
        bail!("IMAP greeting {greeting:?}");
    }
    c.send("a1 AUTHENTICATE PLAIN")?;
    let go = c.read_line()?;
    if !go.starts_with('+') {
        bail!("AUTHENTICATE PLAIN answered {go:?}");
    }
    let plain = format!("\0{}\0{}", login.address, login.password);
    c.send(&base64::engine::general_purpose::STANDARD.encode(plain))?;
    let done = c.read_until(|l| l.starts_with("a1 "))?;
    if !done.lines().last().unwrap_or_default().starts_with("a1 OK") {
        bail!("login as {} refused: {done:?}", login.address);
    }
    let quoted = mailbox.replace('\\', "\\\\").replace('"', "\\\"");
    c.send(&format!("a2 EXAMINE \"{quoted}\""))?;
    let examined = c.read_until(|l| l.starts_with("a2 "))?;
    if !examined
        .lines()
        .last()
        .unwrap_or_default()
        .starts_with("a2 OK")
    {
        bail!("EXAMINE {mailbox} as {}: {examined:?}", login.address);
    }
    let exists = examined
        .lines()
        .filter_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .next_back()
        .unwrap_or(0u32);
    let mut messages = Vec::new();
    if exists > 0 {
        c.send("a3 FETCH 1:* (BODY.PEEK[])")?;
        messages = fetched(&mut c, "a3 ")?;
    }
    let _ = c.send("a4 LOGOUT");
    if messages.len() != exists as usize {
        bail!(
            "{mailbox} of {} has {exists} messages but {} came",
            login.address,
            messages.len()
        );
    }
    Ok(messages)
}

/// The first literal of each untagged FETCH response, up to the tagged answer.
fn fetched(c: &mut LineClient, tag: &str) -> Result<Vec<Vec<u8>>> {
    let mut bodies = Vec::new();
    loop {
        let mut line = c.read_line_bytes()?;
        if line.is_empty() {
            bail!("the server closed during FETCH");
        }
        if line.starts_with(tag.as_bytes()) {
            if !line.starts_with(format!("{tag}OK").as_bytes()) {
                bail!("FETCH: {}", String::from_utf8_lossy(&line));
            }
            return Ok(bodies);
        }
        let is_fetch = line.starts_with(b"* ") && line.windows(7).any(|w| w == b" FETCH ");
        let mut first = true;
        // A line ending in `{n}` is followed by n octets, then the rest of the response.
        while let Some(n) = literal_len(&line) {
            let literal = c.read_exact_bytes(n)?;
            if is_fetch && first {
                bodies.push(literal);
                first = false;
            }
            line = c.read_line_bytes()?;
        }
    }
}

/// `n` if `line` ends with the literal announcement `{n}` CRLF.
fn literal_len(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?;
    let inner = text.strip_suffix("}\r\n")?;
    let open = inner.rfind('{')?;
    inner[open + 1..].parse().ok()
}
