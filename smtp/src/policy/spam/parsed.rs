//! What the rules and the tokenizer read of a message, taken out of it once by mail-parser
//! and bounded: a message of any size or shape gives at most [`MAX_TEXT`] characters of text,
//! [`MAX_URLS`] URLs and short header strings, so everything after this step is cheap.
//!
//! No network, no store: only the message bytes.

use mail_parser::{Addr, MessageParser, MimeHeaders, PartType};

/// Most characters of body text kept (over all text parts).
pub const MAX_TEXT: usize = 64 * 1024;
/// Most octets of one part scanned for URLs (HTML is scanned raw, for `href`s).
pub const MAX_URL_SCAN: usize = 256 * 1024;
/// Most URLs kept.
pub const MAX_URLS: usize = 200;
/// Longest header value kept (characters).
pub const MAX_HEADER: usize = 998; // RFC 5322 §2.1.1: a line is at most 998 characters

/// One From address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name, decoded.
    pub name: Option<String>,
    /// The address, lowercase.
    pub address: Option<String>,
}

impl Mailbox {
    /// The domain of the address, lowercase.
    pub fn domain(&self) -> Option<&str> {
        domain_of(self.address.as_deref()?)
    }
}

/// The parts of a message the spam rules and tokenizer look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Whether mail-parser found a message at all (a header block).
    pub parsed: bool,
    /// `Date:` present and parseable.
    pub has_date: bool,
    /// `Message-ID:` present.
    pub has_message_id: bool,
    /// The decoded `Subject:`, if any.
    pub subject: Option<String>,
    /// The first `From:` mailbox, if any.
    pub from: Option<Mailbox>,
    /// The first `Reply-To:` address, lowercase.
    pub reply_to: Option<String>,
    /// `X-Mailer:` or `User-Agent:`.
    pub mailer: Option<String>,
    /// The top-level content type, lowercase (`multipart/alternative`).
    pub content_type: Option<String>,
    /// Some body is HTML and none is plain text.
    pub html_only: bool,
    /// The body text (HTML converted to text), bounded by [`MAX_TEXT`].
    pub text: String,
    /// Hosts of `http://` and `https://` URLs in the bodies, lowercase, without port,
    /// brackets kept for IPv6 literals.
    pub url_hosts: Vec<String>,
}

/// The domain of an address, lowercase input expected.
pub fn domain_of(address: &str) -> Option<&str> {
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.');
    (!domain.is_empty()).then_some(domain)
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

fn mailbox(addr: &Addr<'_>) -> Mailbox {
    Mailbox {
        name: addr.name().map(|n| truncate(n, MAX_HEADER)),
        address: addr
            .address()
            .map(|a| truncate(a, MAX_HEADER).to_lowercase()),
    }
}

impl Parsed {
    /// Parse `raw`. Never fails: what cannot be read is simply absent.
    pub fn from_raw(raw: &[u8]) -> Self {
        let Some(msg) = MessageParser::default().parse(raw) else {
            return Self::default();
        };
        let mut out = Parsed {
            parsed: true,
            has_date: msg.date().is_some(),
            has_message_id: msg.message_id().is_some_and(|id| !id.trim().is_empty()),
            subject: msg.subject().map(|s| truncate(s, MAX_HEADER)),
            from: msg.from().and_then(|f| f.first()).map(mailbox),
            reply_to: msg
                .reply_to()
                .and_then(|r| r.first())
                .and_then(|a| a.address())
                .map(|a| truncate(a, MAX_HEADER).to_lowercase()),
            mailer: msg
                .header_raw("X-Mailer")
                .or_else(|| msg.header_raw("User-Agent"))
                .map(|m| truncate(m.trim(), 100)),
            // RFC 2045 §5.2: no Content-Type means text/plain.
            content_type: Some(msg.root_part().content_type().map_or_else(
                || "text/plain".to_string(),
                |ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_lowercase(),
            )),
            ..Parsed::default()
        };
        let any_text = msg
            .text_bodies()
            .any(|p| matches!(p.body, PartType::Text(_)));
        let any_html = msg
            .html_bodies()
            .any(|p| matches!(p.body, PartType::Html(_)));
        out.html_only = any_html && !any_text;

        for i in 0..msg.text_body_count() {
            let left = MAX_TEXT.saturating_sub(out.text.chars().count());
            if left == 0 {
                break;
            }
            if let Some(text) = msg.body_text(i) {
                out.text.extend(text.chars().take(left));
                out.text.push('\n');
            }
        }
        // URLs from the raw text and HTML of every body part (HTML as written, so that an
        // `href` hidden behind other link text is seen).
        for part in msg.text_bodies().chain(msg.html_bodies()) {
            let body = match &part.body {
                PartType::Text(t) | PartType::Html(t) => t.as_ref(),
                _ => continue,
            };
            let end = floor_char_boundary(body, MAX_URL_SCAN);
            collect_url_hosts(&body[..end], &mut out.url_hosts);
        }
        out.url_hosts.sort_unstable();
        out.url_hosts.dedup();
        out
    }

    /// The From domain, lowercase.
    pub fn from_domain(&self) -> Option<&str> {
        self.from.as_ref()?.domain()
    }
}

/// The largest index ≤ `at` that is a char boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    let mut i = at;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Push the host of every `http://` / `https://` URL in `text` (case-insensitive scheme),
/// up to [`MAX_URLS`] in `hosts`.
pub fn collect_url_hosts(text: &str, hosts: &mut Vec<String>) {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while hosts.len() < MAX_URLS {
        let Some(found) = lower[from..].find("http") else {
            break;
        };
        let start = from + found;
        let rest = &bytes[start..];
        let skip = if rest.starts_with(b"https://") {
            8
        } else if rest.starts_with(b"http://") {
            7
        } else {
            from = start + 4;
            continue;
        };
        let host_start = start + skip;
        let mut end = host_start;
        while end < bytes.len()
            && !matches!(bytes[end], b'/' | b'?' | b'#')
            && is_url_char(bytes[end])
        {
            end += 1;
        }
        if let Some(host) = host_of(&lower[host_start..end]) {
            hosts.push(host);
        }
        from = end.max(start + 4);
    }
}

fn is_url_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']' | b'@' | b'%')
}

/// The host of an authority `user@host:port`, without userinfo and port.
fn host_of(authority: &str) -> Option<String> {
    // RFC 3986 §3.2: authority = [ userinfo "@" ] host [ ":" port ]
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        // IP-literal: keep up to the closing bracket.
        &host[..host.find(']').map_or(host.len(), |i| i + 1)]
    } else {
        host.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty() && host.len() <= 253).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_are_found_in_text_and_html() {
        let mut hosts = Vec::new();
        collect_url_hosts(
            "see HTTPS://Bit.ly/x and <a href=\"http://user@192.0.2.7:8080/p\">here</a> \
             http://[2001:db8::1]/a, https://example.org. httpfoo http:/broken",
            &mut hosts,
        );
        assert_eq!(
            hosts,
            ["bit.ly", "192.0.2.7", "[2001:db8::1]", "example.org"]
        );
    }

    #[test]
    fn headers_and_bodies_are_read() {
        let raw = b"From: \"Ann\" <Ann@Example.ORG>\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n\
Date: Mon, 6 Mar 2023 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\
Content-Type: text/html\r\n\r\n<p>Hello <a href=\"https://t.co/x\">there</a></p>\r\n";
        let p = Parsed::from_raw(raw);
        assert!(p.parsed && p.has_date && p.has_message_id && p.html_only);
        assert_eq!(p.subject.as_deref(), Some("Café"));
        assert_eq!(p.from_domain(), Some("example.org"));
        assert_eq!(p.content_type.as_deref(), Some("text/html"));
        assert!(p.text.contains("Hello"), "{:?}", p.text);
        assert_eq!(p.url_hosts, ["t.co"]);
    }
}
