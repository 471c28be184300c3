//! Delivery-time MIME analysis: everything IMAP FETCH ENVELOPE, FETCH BODYSTRUCTURE and
//! SEARCH/SORT need, computed once from the raw message so later commands never re-parse bodies.
//!
//! What it owns: turning raw RFC 5322 bytes into a [`MessageMeta`] (RFC 3501 §7.4.2 / RFC 9051
//! §7.5.2 ENVELOPE and BODYSTRUCTURE, plus decoded SEARCH/SORT keys).
//! What it must not do: any I/O, any storage, any IMAP wire encoding (quoting, literals,
//! NIL) — the IMAP layer maps these types onto its own. It never panics on hostile input.
//!
//! String conventions:
//! * ENVELOPE strings and the raw MIME fields (`id`, `description`, `encoding`, `md5`,
//!   `location`) are the header value as on the wire: encoded words are NOT decoded, folding
//!   is removed (every CR, LF and NUL is dropped, RFC 5322 §2.2.3, because IMAP strings cannot
//!   carry them) and surrounding spaces/tabs are trimmed. Non-UTF-8 octets become U+FFFD. An
//!   empty value is `None` (NIL).
//! * mail-parser lowercases media types, subtypes, disposition types and parameter names and
//!   decodes parameter values (RFC 2231 / encoded words); IMAP compares them case-insensitively,
//!   so they are kept as mail-parser returns them. Defaults we add are upper case.
use mail_parser::{
    Addr, Address as MpAddress, Attribute, Encoding, GetHeader, Header, HeaderName, HeaderValue,
    Message, MessageParser, MimeHeaders, PartType,
};
use serde::{Deserialize, Serialize};

/// Deepest nesting of multipart / message containers we expand; deeper containers become
/// APPLICATION/OCTET-STREAM leaves so hostile input cannot exhaust the stack. Kept below 32
/// because each message/rfc822 level nests 4 JSON levels: 24 levels serialize to at most
/// ~102, inside serde_json's default 128-level recursion limit with room for a wrapper.
pub const MAX_DEPTH: usize = 24;
/// Host used when an address has no domain: a NIL host would mean "group syntax"
/// (RFC 3501 §7.4.2), so like c-client and Dovecot we report this marker instead.
pub const MISSING_HOST: &str = ".MISSING-HOST-NAME.";

/// Everything about one message that is computed once at delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    pub envelope: Envelope,
    pub body: BodyStructure,
    pub search: SearchFields,
}

/// RFC 3501 §7.4.2 ENVELOPE, raw (undecoded) strings; None = NIL.
/// Sender and Reply-To already hold From when absent or empty, as §7.4.2 requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// One ENVELOPE address: (name adl mailbox host); a group start is {name:None, mailbox: Some(group name), host: None} and a group end is all None, as RFC 3501 says.
///
/// `name` is the raw display-name (encoded words kept, surrounding quotes removed) when it
/// uses RFC 2047 encoded words and can be found before `<addr-spec>` in the raw header;
/// otherwise it is mail-parser's decoded, unquoted name (identical for plain ASCII phrases).
/// Group names and comment-style names (`a@b (Name)`) are always the decoded form.
/// `adl` is always None: mail-parser drops obsolete source routes. A missing domain gives
/// `host = MISSING_HOST`; a bare word without `@` becomes the mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    pub name: Option<String>,
    pub adl: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

/// RFC 3501 BODYSTRUCTURE (extension data included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyStructure {
    Single {
        basic: BasicFields,
        kind: SingleKind,
        ext: SinglePartExt,
    },
    Multipart {
        parts: Vec<BodyStructure>,
        subtype: String,
        params: Vec<(String, String)>,
        ext: MultipartExt,
    },
}

/// body-fields of RFC 3501 §9; `size` is the raw (still transfer-encoded) body octet count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicFields {
    pub media_type: String,
    pub subtype: String,
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: String,
    pub size: u64,
}

/// Which single-part grammar applies. `Message` covers message/rfc822 and message/global
/// (RFC 9051 §9 media-message); one that is transfer-encoded (forbidden by RFC 2046 §5.2.1)
/// or too deep is reported as a Basic APPLICATION/OCTET-STREAM instead, so the wire grammar
/// stays valid and part offsets stay relative to the stored bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SingleKind {
    Basic,
    Text {
        lines: u64,
    },
    Message {
        envelope: Box<Envelope>,
        body: Box<BodyStructure>,
        lines: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SinglePartExt {
    pub md5: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MultipartExt {
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<String>,
}

/// Decoded header values SEARCH/SORT need (RFC 3501 §6.4.4, RFC 5256 SORT): lowercase-insensitive matching will be done by the caller.
/// All come from the first occurrence of each header in the top-level header block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SearchFields {
    /// Decoded Subject.
    pub subject: Option<String>,
    /// Decoded "Name <a@b>, ..." text (groups as "Group: a@b;") for substring search.
    pub from: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
    pub bcc: Option<String>,
    /// First From mailbox (addr-mailbox, RFC 5256 §3) lowercased; group names are skipped.
    pub sort_from: Option<String>,
    pub sort_to: Option<String>,
    pub sort_cc: Option<String>,
    /// Date: header as unix seconds (UTC), None if absent/unparseable.
    pub date: Option<i64>,
    /// Message ids without angle brackets; `in_reply_to` is the first id only.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Octets of the header block incl. the blank line (RFC822.HEADER size).
    pub header_size: u64,
}

/// The header block (its fields with their line ends, without the empty line) and the body
/// (what follows the empty line). RFC 5322 §2.1: the header ends at the first empty line; we
/// accept bare LF line ends too. With no empty line the whole message is header.
pub fn split_header(raw: &[u8]) -> (&[u8], &[u8]) {
    // The message may start with the empty line (no header at all).
    if let Some(body) = raw
        .strip_prefix(b"\r\n")
        .or_else(|| raw.strip_prefix(b"\n"))
    {
        return (&[], body);
    }
    let mut i = 0;
    while let Some(off) = raw
        .get(i..)
        .and_then(|r| r.iter().position(|&b| b == b'\n'))
    {
        let nl = i + off;
        let next = &raw[nl + 1..];
        if next.starts_with(b"\r\n") {
            return (&raw[..nl + 1], &next[2..]);
        }
        if next.starts_with(b"\n") {
            return (&raw[..nl + 1], &next[1..]);
        }
        i = nl + 1;
    }
    (raw, &[])
}

/// Octets of `raw` up to and including the empty line that ends its header (all of it when
/// there is none): the header block the store keeps for header searches.
pub fn header_len(raw: &[u8]) -> usize {
    raw.len() - split_header(raw).1.len()
}

/// Parse `raw` (a full RFC 5322 message; may be malformed: never panic, always return something; a message with no headers or garbage still yields a meta with a text/plain body).
///
/// Input in which mail-parser finds no header is treated as all body (`header_size` 0), and
/// so is input that makes the parser panic.
pub fn analyze(raw: &[u8]) -> MessageMeta {
    let analyze = || {
        let parser = MessageParser::default();
        // Most mail is one text part. Its structure is all in the header block, while a full
        // parse would also decode the text into UTF-8 (more than half of the work, for a
        // charset such as us-ascii or latin-1) only to throw it away.
        let msg = match parser.parse_headers(raw) {
            Some(mut head) if is_single_leaf(&head) => {
                // `parse_headers` leaves the offsets as if there were no body.
                let root = head.parts.first_mut()?;
                root.offset_body = u32::try_from(header_len(raw)).ok()?;
                root.offset_end = u32::try_from(raw.len()).ok()?;
                head
            }
            _ => parser.parse(raw)?,
        };
        let root = msg.parts.first()?;
        Some(MessageMeta {
            envelope: envelope(&root.headers, raw),
            body: body(&msg, 0, raw, false, 0),
            search: search_fields(&root.headers, u64::from(root.offset_body)),
        })
    };
    // mail-parser promises not to panic; a parser bug must still not lose a delivery.
    match std::panic::catch_unwind(analyze) {
        Ok(Some(meta)) => meta,
        _ => fallback(raw),
    }
}

/// Whether a message parsed up to its body is one part that `body` describes from its
/// headers alone: no multipart to split and no message/* to look into.
fn is_single_leaf(head: &Message<'_>) -> bool {
    let Some(root) = head.parts.first() else {
        return false;
    };
    match root.content_type() {
        None => true,
        Some(ct) => {
            let container = ct.c_type.eq_ignore_ascii_case("multipart")
                || ct.c_type.eq_ignore_ascii_case("message");
            !container
        }
    }
}

fn fallback(raw: &[u8]) -> MessageMeta {
    MessageMeta {
        envelope: Envelope::default(),
        body: default_text(raw.len() as u64, count_lines(raw)),
        search: SearchFields::default(),
    }
}

/// RFC 2045 §5.2 default type: text/plain; charset=us-ascii, 7bit.
fn default_text(size: u64, lines: u64) -> BodyStructure {
    BodyStructure::Single {
        basic: BasicFields {
            media_type: "TEXT".into(),
            subtype: "PLAIN".into(),
            params: vec![("CHARSET".into(), "US-ASCII".into())],
            id: None,
            description: None,
            encoding: "7BIT".into(),
            size,
        },
        kind: SingleKind::Text { lines },
        ext: SinglePartExt::default(),
    }
}

/// Bounds-checked slice of the top-level message: every part offset (nested messages
/// included) is relative to it, and hostile offsets must not panic.
fn slice(raw: &[u8], start: u32, end: u32) -> &[u8] {
    let end = (end as usize).min(raw.len());
    raw.get(start as usize..end).unwrap_or_default()
}

/// RFC 3501 body-fld-lines: LF count, plus an unterminated last line if non-empty.
fn count_lines(body: &[u8]) -> u64 {
    let lf = body.iter().filter(|&&b| b == b'\n').count() as u64;
    lf + u64::from(body.last().is_some_and(|&b| b != b'\n'))
}

/// Raw header value: unfolded (RFC 5322 §2.2.3), trimmed, encoded words kept.
fn clean(bytes: &[u8]) -> Option<String> {
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect();
    let text = text.trim_matches([' ', '\t']);
    (!text.is_empty()).then(|| text.to_string())
}

fn raw_value(header: &Header<'_>, raw: &[u8]) -> Option<String> {
    clean(slice(raw, header.offset_start, header.offset_end))
}

/// First occurrence, as ENVELOPE wants; MIME headers instead use mail-parser's own lookup
/// (last occurrence) so our fields agree with the structure it parsed.
fn first<'a, 'x>(headers: &'a [Header<'x>], name: HeaderName<'_>) -> Option<&'a Header<'x>> {
    headers.iter().find(|h| h.name == name)
}

fn envelope(headers: &[Header<'_>], raw: &[u8]) -> Envelope {
    let text = |name| first(headers, name).and_then(|h| raw_value(h, raw));
    let addrs = |name| {
        first(headers, name)
            .map(|h| addresses(h, raw))
            .unwrap_or_default()
    };
    let from = addrs(HeaderName::From);
    // RFC 3501 §7.4.2: absent or empty Sender / Reply-To take the value of From.
    let or_from = |list: Vec<Address>| if list.is_empty() { from.clone() } else { list };
    Envelope {
        date: text(HeaderName::Date),
        subject: text(HeaderName::Subject),
        sender: or_from(addrs(HeaderName::Sender)),
        reply_to: or_from(addrs(HeaderName::ReplyTo)),
        to: addrs(HeaderName::To),
        cc: addrs(HeaderName::Cc),
        bcc: addrs(HeaderName::Bcc),
        in_reply_to: text(HeaderName::InReplyTo),
        message_id: text(HeaderName::MessageId),
        from,
    }
}

/// RFC 3501 §7.4.2 address list, with group start/end markers.
fn addresses(header: &Header<'_>, raw: &[u8]) -> Vec<Address> {
    let text = raw_value(header, raw).unwrap_or_default();
    // mail-parser reports a comment standing alone (`group2: (foo) ;`, `Cc: (none)`) as a
    // member named by the comment; the header without its comments tells them apart.
    let bare = strip_comments(&text);
    let groups: Vec<(Option<&str>, &[Addr<'_>])> = match header.value.as_address() {
        Some(MpAddress::List(list)) => vec![(None, list)],
        Some(MpAddress::Group(groups)) => groups
            .iter()
            .map(|g| (g.name.as_deref(), g.addresses.as_slice()))
            .collect(),
        None => Vec::new(),
    };
    let (mut out, mut cursor) = (Vec::new(), 0);
    for (name, members) in groups {
        // RFC 3501 §7.4.2 group start (mailbox = group name, host NIL) and end (all NIL).
        // mail-parser puts ungrouped mailboxes in nameless groups: those get no markers.
        let start = name.map(|n| Address {
            mailbox: Some(n.into()),
            ..Address::default()
        });
        out.extend(start);
        out.extend(
            members
                .iter()
                .filter_map(|a| mailbox(a, &text, &bare, &mut cursor)),
        );
        out.extend(name.map(|_| Address::default()));
    }
    out
}

/// One ENVELOPE address, or None for an entry that is no mailbox: nothing at all, or only a
/// comment (RFC 5322 §3.4: `group = display-name ":" [group-list] ";" [CFWS]`, where a
/// group-list of CFWS alone is an empty group, and §3.2.2: a comment is not part of any
/// address). `bare` is `header_text` without its comments.
fn mailbox(addr: &Addr<'_>, header_text: &str, bare: &str, cursor: &mut usize) -> Option<Address> {
    let spec = addr.address.as_deref().filter(|a| !a.is_empty());
    let raw_name = spec.and_then(|spec| raw_phrase(header_text, cursor, spec));
    let name = raw_name.or_else(|| addr.name.as_deref().map(str::to_string));
    let name = name.filter(|n| !n.is_empty());
    let (name, spec) = match spec {
        Some(spec) => (name, spec.to_string()),
        // A bare word ("To: someone") has no addr-spec: it is the mailbox, without a host;
        // a comment ("(someone)") is nothing.
        None => {
            let word = name?;
            if !outside_comments(bare, &word) {
                return None;
            }
            (None, word)
        }
    };
    let split = spec.rsplit_once('@').filter(|(_, host)| !host.is_empty());
    let (local, host) = split.unwrap_or((spec.trim_end_matches('@'), MISSING_HOST));
    let mut out = Address::default();
    (out.name, out.mailbox, out.host) = (name, Some(local.into()), Some(host.into()));
    Some(out)
}

/// Does the first word of `name` appear as a word of `bare` (a header value without its
/// comments, quotes trimmed from its words)?
fn outside_comments(bare: &str, name: &str) -> bool {
    let Some(first) = name.split_whitespace().next() else {
        return false;
    };
    bare.split(|c: char| c.is_whitespace() || matches!(c, ',' | ':' | ';' | '<' | '>'))
        .any(|word| word.trim_matches('"') == first)
}

/// `text` with its RFC 5322 §3.2.2 comments (nested, with quoted-pairs) each replaced by a
/// space; quoted strings are kept whole, so a `(` inside quotes starts no comment. An
/// unclosed comment runs to the end. Never panics.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            // RFC 5322 §3.2.1 quoted-pair, inside a comment or a quoted string.
            '\\' if depth > 0 => {
                chars.next();
            }
            '\\' if quoted => {
                out.push(c);
                out.extend(chars.next());
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            _ if quoted => out.push(c),
            '(' => {
                depth += 1;
                if depth == 1 {
                    out.push(' ');
                }
            }
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

/// Best-effort raw display-name of `spec`, searched from `*cursor` in the unfolded header:
/// for `phrase <spec>` the text back to the previous `,` `:` `;`, quotes trimmed, kept only
/// if it holds RFC 2047 encoded words (which cannot contain those separators). The cursor
/// moves past each match so a huge list is scanned once; after a miss, lookups stop.
fn raw_phrase(text: &str, cursor: &mut usize, spec: &str) -> Option<String> {
    let start = *cursor;
    let Some(pos) = text.get(start..).and_then(|rest| rest.find(spec)) else {
        *cursor = text.len();
        return None;
    };
    *cursor = start + pos + spec.len();
    let before = text.get(start..start + pos)?.strip_suffix('<')?;
    let phrase = before.rsplit([',', ':', ';']).next().unwrap_or_default();
    let phrase = phrase.trim().trim_matches('"');
    phrase.contains("=?").then(|| phrase.to_string())
}

fn body(msg: &Message<'_>, id: usize, raw: &[u8], digest: bool, depth: usize) -> BodyStructure {
    let Some(part) = msg.parts.get(id) else {
        return default_text(0, 0);
    };
    let octets = slice(raw, part.offset_body, part.offset_end);
    let (mut media_type, mut subtype, mut params) = match part.content_type() {
        // RFC 2045 §5.2: a Content-Type without a subtype is unusable, so it counts as absent.
        Some(ct) if ct.c_subtype.is_some() => {
            let sub = ct.c_subtype.as_deref().unwrap_or_default();
            (
                ct.c_type.to_string(),
                sub.to_string(),
                attr_pairs(ct.attributes()),
            )
        }
        // RFC 2046 §5.1.5: inside multipart/digest the default is message/rfc822.
        _ if digest => ("MESSAGE".into(), "RFC822".into(), Vec::new()),
        // RFC 2045 §5.2: otherwise text/plain; charset=us-ascii.
        _ => (
            "TEXT".into(),
            "PLAIN".into(),
            vec![("CHARSET".into(), "US-ASCII".into())],
        ),
    };
    let mime_raw = |name| part.headers.header(name).and_then(|h| raw_value(h, raw));
    let mut ext = SinglePartExt {
        md5: mime_raw(HeaderName::ContentMd5),
        disposition: part
            .content_disposition()
            .map(|d| (d.c_type.to_string(), attr_pairs(d.attributes()))),
        language: match part.content_language() {
            HeaderValue::Text(t) => vec![t.to_string()],
            HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        },
        location: mime_raw(HeaderName::ContentLocation),
    };
    let is_multipart = media_type.eq_ignore_ascii_case("multipart");
    let is_message = media_type.eq_ignore_ascii_case("message")
        && (subtype.eq_ignore_ascii_case("rfc822") || subtype.eq_ignore_ascii_case("global"));
    let kind = match &part.body {
        PartType::Multipart(ids) if is_multipart && depth < MAX_DEPTH => {
            let digest = subtype.eq_ignore_ascii_case("digest");
            let mut parts: Vec<_> = ids
                .iter()
                .map(|&c| body(msg, c as usize, raw, digest, depth + 1))
                .collect();
            if parts.is_empty() {
                // RFC 3501 body-type-mpart needs 1*body: stand in an empty text part.
                parts.push(default_text(0, 0));
            }
            let (disposition, language) =
                (ext.disposition.take(), std::mem::take(&mut ext.language));
            let ext = MultipartExt {
                disposition,
                language,
                location: ext.location,
            };
            return BodyStructure::Multipart {
                parts,
                subtype,
                params,
                ext,
            };
        }
        // Offsets of an unencoded nested message are relative to `raw`; an encoded one was
        // parsed from decoded bytes, so it is not described (see SingleKind).
        PartType::Message(nested)
            if is_message && part.encoding == Encoding::None && depth < MAX_DEPTH =>
        {
            let headers = nested.parts.first().map(|p| p.headers.as_slice());
            SingleKind::Message {
                envelope: Box::new(envelope(headers.unwrap_or_default(), raw)),
                body: Box::new(body(nested, 0, raw, false, depth + 1)),
                lines: count_lines(octets),
            }
        }
        _ if is_multipart || is_message => {
            // A container we do not expand cannot be sent as one (RFC 3501 §9 grammar), so
            // it becomes an opaque octet stream.
            (media_type, subtype, params) =
                ("APPLICATION".into(), "OCTET-STREAM".into(), Vec::new());
            SingleKind::Basic
        }
        _ if media_type.eq_ignore_ascii_case("text") => SingleKind::Text {
            lines: count_lines(octets),
        },
        _ => SingleKind::Basic,
    };
    let basic = BasicFields {
        media_type,
        subtype,
        params,
        id: mime_raw(HeaderName::ContentId),
        description: mime_raw(HeaderName::ContentDescription),
        // RFC 2045 §6.1: no Content-Transfer-Encoding means 7bit.
        encoding: mime_raw(HeaderName::ContentTransferEncoding).unwrap_or_else(|| "7BIT".into()),
        size: octets.len() as u64,
    };
    BodyStructure::Single { basic, kind, ext }
}

fn attr_pairs(attrs: Option<&[Attribute<'_>]>) -> Vec<(String, String)> {
    let attrs = attrs.unwrap_or_default().iter();
    attrs
        .map(|a| (a.name.to_string(), a.value.to_string()))
        .collect()
}

fn search_fields(headers: &[Header<'_>], header_size: u64) -> SearchFields {
    let value = |name| first(headers, name).map(|h| &h.value);
    let text = |name| value(name).and_then(|v| v.as_text()).map(str::to_string);
    let list = |name| value(name).and_then(|v| v.as_address());
    let ids = |name| match value(name) {
        Some(HeaderValue::Text(t)) => vec![t.to_string()],
        Some(HeaderValue::TextList(l)) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };
    SearchFields {
        subject: text(HeaderName::Subject),
        from: list(HeaderName::From).map(address_text),
        to: list(HeaderName::To).map(address_text),
        cc: list(HeaderName::Cc).map(address_text),
        bcc: list(HeaderName::Bcc).map(address_text),
        sort_from: list(HeaderName::From).and_then(sort_mailbox),
        sort_to: list(HeaderName::To).and_then(sort_mailbox),
        sort_cc: list(HeaderName::Cc).and_then(sort_mailbox),
        date: value(HeaderName::Date)
            .and_then(|v| v.as_datetime())
            .filter(|d| d.is_valid())
            .map(|d| d.to_timestamp()),
        message_id: ids(HeaderName::MessageId).into_iter().next(),
        in_reply_to: ids(HeaderName::InReplyTo).into_iter().next(),
        references: ids(HeaderName::References),
        header_size,
    }
}

/// Decoded, human-readable list for substring SEARCH FROM/TO/CC/BCC.
fn address_text(list: &MpAddress<'_>) -> String {
    let one = |a: &Addr<'_>| match (a.name.as_deref(), a.address.as_deref()) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (n, e) => n.or(e).unwrap_or_default().to_string(),
    };
    let join = |l: &[Addr<'_>]| l.iter().map(one).collect::<Vec<_>>().join(", ");
    match list {
        MpAddress::List(l) => join(l),
        MpAddress::Group(groups) => groups
            .iter()
            .map(|g| match g.name.as_deref() {
                Some(n) => format!("{n}: {};", join(&g.addresses)),
                None => join(&g.addresses),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// RFC 5256 §3: SORT FROM/TO/CC use the addr-mailbox (local part) of the first address.
fn sort_mailbox(list: &MpAddress<'_>) -> Option<String> {
    let spec = list.iter().find_map(|a| a.address.as_deref())?;
    let local = spec.rsplit_once('@').map_or(spec, |(m, _)| m);
    Some(local.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf(s: &str) -> Vec<u8> {
        s.replace('\n', "\r\n").into_bytes()
    }

    fn meta(s: &str) -> MessageMeta {
        analyze(&crlf(s))
    }

    fn addr(name: Option<&str>, mailbox: &str, host: &str) -> Address {
        let mut a = Address::default();
        (a.name, a.mailbox, a.host) = (
            name.map(Into::into),
            Some(mailbox.into()),
            Some(host.into()),
        );
        a
    }

    /// Compact picture of a structure: "type/subtype encoding size [Llines] [nested]".
    fn shape(b: &BodyStructure) -> String {
        match b {
            BodyStructure::Multipart { parts, subtype, .. } => {
                let parts: Vec<_> = parts.iter().map(shape).collect();
                format!("({} {subtype})", parts.join(" "))
            }
            BodyStructure::Single { basic: b, kind, .. } => {
                let head = format!("{}/{} {} {}", b.media_type, b.subtype, b.encoding, b.size);
                match kind {
                    SingleKind::Basic => head,
                    SingleKind::Text { lines } => format!("{head} L{lines}"),
                    SingleKind::Message { body, lines, .. } => {
                        format!("{head} L{lines} [{}]", shape(body))
                    }
                }
            }
        }
    }

    fn single(b: &BodyStructure) -> Option<(&BasicFields, &SingleKind, &SinglePartExt)> {
        match b {
            BodyStructure::Single { basic, kind, ext } => Some((basic, kind, ext)),
            BodyStructure::Multipart { .. } => None,
        }
    }

    fn nested(b: &BodyStructure) -> Option<(&Envelope, &BodyStructure)> {
        match single(b)?.1 {
            SingleKind::Message { envelope, body, .. } => Some((envelope, body)),
            _ => None,
        }
    }

    fn round_trips(meta: &MessageMeta) -> bool {
        let json = serde_json::to_string(meta).unwrap_or_default();
        serde_json::from_str::<MessageMeta>(&json).ok().as_ref() == Some(meta)
    }

    /// The header-only fast path must describe a message exactly as the full parse does.
    #[test]
    fn single_parts_are_described_from_their_headers_as_the_full_parse_does() {
        let cases = [
            "From: a@example.org\nSubject: no type\n\nline one\nline two\n",
            "Subject: us-ascii\nContent-Type: text/plain; charset=us-ascii\n\nhello\n",
            "Subject: latin1\nContent-Type: text/plain; charset=\"iso-8859-1\"; format=flowed\n\
             Content-Transfer-Encoding: quoted-printable\n\ncaf=E9\n",
            "Content-Type: text/html; charset=utf-8\nContent-ID: <x@y>\nContent-Language: en\n\
             Content-Disposition: inline\n\n<p>hi</p>",
            "Content-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\
             Content-Description: a file\nContent-Location: http://example.org/a\n\
             Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n\nJVBERi0xLjQK\n",
            "Content-Type: text\n\nno subtype, so defaults\n",
            "Subject: headers only, no blank line\n",
            "Subject: empty body\n\n",
            "Subject: bare LF\nContent-Type: text/plain\n\nline\n",
        ];
        for case in cases {
            for raw in [crlf(case), case.as_bytes().to_vec()] {
                let full = MessageParser::default().parse(&raw[..]).expect("parses");
                let root = full.parts.first().expect("root");
                let expected = MessageMeta {
                    envelope: envelope(&root.headers, &raw),
                    body: body(&full, 0, &raw, false, 0),
                    search: search_fields(&root.headers, u64::from(root.offset_body)),
                };
                let head = MessageParser::default()
                    .parse_headers(&raw[..])
                    .expect("head");
                assert!(is_single_leaf(&head), "{case:?} takes the fast path");
                assert_eq!(analyze(&raw), expected, "{case:?}");
            }
        }
        for container in [
            "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n",
            "Content-Type: message/rfc822\n\nSubject: inner\n\nbody\n",
        ] {
            let raw = crlf(container);
            let head = MessageParser::default()
                .parse_headers(&raw[..])
                .expect("head");
            assert!(!is_single_leaf(&head), "{container:?} needs the full parse");
        }
    }

    #[test]
    fn plain_message_without_content_type_uses_defaults() {
        let m = meta("From: Fred <fred@example.org>\nSubject: hi\n\nline one\nline two");
        // "line one\r\nline two" = 8 + 2 + 8 octets; the unterminated last line still counts.
        assert_eq!(shape(&m.body), "TEXT/PLAIN 7BIT 18 L2");
        let (basic, _, ext) = single(&m.body).unwrap();
        let charset = ("CHARSET".to_string(), "US-ASCII".to_string());
        assert_eq!(
            (&basic.params, ext),
            (&vec![charset], &SinglePartExt::default())
        );
        // "From: Fred <fred@example.org>\r\n" (31) + "Subject: hi\r\n" (13) + "\r\n" (2).
        assert_eq!(m.search.header_size, 46);
        let fred = vec![addr(Some("Fred"), "fred", "example.org")];
        // RFC 3501 §7.4.2: missing Sender / Reply-To fall back to From.
        let e = &m.envelope;
        assert_eq!([&e.from, &e.sender, &e.reply_to], [&fred; 3]);
        assert_eq!(m.search.sort_from.as_deref(), Some("fred"));
    }

    const NESTED: &str = "From: Fred Foobar <foobar@Blurdybloop.example>
To: mooch@owatagu.siam.edu.example
Date: Mon, 7 Feb 1994 21:52:25 -0800
Message-ID: <B27397-0100000@Blurdybloop.example>
References: <a@x> <b@y>
In-Reply-To: <b@y>
Content-Type: multipart/mixed; boundary=\"outer\"

preamble
--outer
Content-Type: multipart/alternative; boundary=\"inner\"

--inner
Content-Type: text/plain; charset=us-ascii

Hello
world
--inner
Content-Type: text/html; charset=us-ascii
Content-Transfer-Encoding: quoted-printable

<p>Hello</p>
--inner--
--outer
Content-Type: application/octet-stream; name=\"a.bin\"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename=\"a.bin\"
Content-ID: <part3@x>
Content-Language: en, de

AAECAwQF
--outer
Content-Type: message/rfc822

From: inner@example.com
Subject: Inner

Inner body
line two
--outer--
";

    #[test]
    fn nested_multipart_with_attachment_and_rfc822() {
        let raw = crlf(NESTED);
        let m = analyze(&raw);
        // Sizes by hand (the CRLF before a delimiter belongs to the delimiter, RFC 2046 §5.1.1):
        // "Hello\r\nworld" 12 octets / 2 lines; "<p>Hello</p>" 12 / 1; "AAECAwQF" 8;
        // rfc822 body "From: inner@example.com\r\n" 25 + "Subject: Inner\r\n" 16 + "\r\n" 2
        // + "Inner body\r\n" 12 + "line two" 8 = 63 octets / 5 lines; its body 20 / 2.
        let expected = "((text/plain 7BIT 12 L2 text/html quoted-printable 12 L1 alternative) \
            application/octet-stream base64 8 message/rfc822 7BIT 63 L5 [TEXT/PLAIN 7BIT 20 L2] mixed)";
        assert_eq!(shape(&m.body), expected);
        let BodyStructure::Multipart { parts, params, .. } = &m.body else {
            unreachable!()
        };
        assert_eq!(params, &[("boundary".into(), "outer".into())]);
        let (basic, _, ext) = single(&parts[1]).unwrap();
        assert_eq!(basic.id.as_deref(), Some("<part3@x>"));
        assert_eq!(basic.params, [("name".into(), "a.bin".into())]);
        let file = vec![("filename".into(), "a.bin".into())];
        assert_eq!(ext.disposition, Some(("attachment".into(), file)));
        assert_eq!(ext.language, ["en", "de"].map(String::from));
        let (inner, _) = nested(&parts[2]).unwrap();
        assert_eq!(inner.subject.as_deref(), Some("Inner"));
        assert_eq!(inner.from, [addr(None, "inner", "example.com")]);

        let e = &m.envelope;
        assert_eq!(e.date.as_deref(), Some("Mon, 7 Feb 1994 21:52:25 -0800"));
        let id = "B27397-0100000@Blurdybloop.example";
        assert_eq!(e.message_id, Some(format!("<{id}>")));
        assert_eq!(e.in_reply_to.as_deref(), Some("<b@y>"));
        assert_eq!(e.to, [addr(None, "mooch", "owatagu.siam.edu.example")]);
        let s = &m.search;
        assert_eq!(s.message_id.as_deref(), Some(id));
        assert_eq!(s.in_reply_to.as_deref(), Some("b@y"));
        assert_eq!(s.references, ["a@x", "b@y"].map(String::from));
        let sort = (s.sort_from.as_deref(), s.sort_to.as_deref());
        assert_eq!(sort, (Some("foobar"), Some("mooch")));
        let blank = raw.windows(4).position(|w| w == b"\r\n\r\n");
        assert_eq!(Some(s.header_size), blank.map(|p| p as u64 + 4));
    }

    #[test]
    fn encoded_words_stay_raw_in_envelope_and_decoded_in_search() {
        let m = meta(
            "From: =?UTF-8?Q?Jos=C3=A9?= <jose@x.example>, \"Plain, Name\" <p@x.example>\n\
             Subject: =?UTF-8?B?SGVsbG8gV8O2cmxk?=\n folded\n\nbody\n",
        );
        // Folding CRLF removed, encoded word untouched.
        let raw_subject = "=?UTF-8?B?SGVsbG8gV8O2cmxk?= folded";
        assert_eq!(m.envelope.subject.as_deref(), Some(raw_subject));
        assert_eq!(m.search.subject.as_deref(), Some("Hello Wörld folded"));
        let jose = addr(Some("=?UTF-8?Q?Jos=C3=A9?="), "jose", "x.example");
        let plain = addr(Some("Plain, Name"), "p", "x.example");
        assert_eq!(m.envelope.from, [jose, plain]);
        let from = "José <jose@x.example>, Plain, Name <p@x.example>";
        assert_eq!(m.search.from.as_deref(), Some(from));
    }

    #[test]
    fn group_addresses_have_start_and_end_markers() {
        let e = meta(
            "To: A Group: a@b.example, =?UTF-8?Q?Q?= <c@d.example>;, plain@e.example\n\
             Cc: undisclosed-recipients:;\nBcc: someone\n\nx",
        )
        .envelope;
        let start = |n: &str| Address {
            mailbox: Some(n.into()),
            ..Address::default()
        };
        let end = Address::default();
        let a = addr(None, "a", "b.example");
        let q = addr(Some("=?UTF-8?Q?Q?="), "c", "d.example");
        let plain = addr(None, "plain", "e.example");
        assert_eq!(e.to, [start("A Group"), a, q, end.clone(), plain]);
        assert_eq!(e.cc, [start("undisclosed-recipients"), end]);
        assert_eq!(e.bcc, [addr(None, "someone", MISSING_HOST)]);
    }

    #[test]
    fn comments_are_not_group_members() {
        // RFC 3501 §7.4.2 group syntax; RFC 5322 §3.4: a group whose list is only a comment
        // is empty, and §3.2.2: a comment is no address.
        let e = meta(
            "To: g: (c) a@b.example (d), x <y@z.example> ;\n\
             Cc: group:;, group2: (foo) ;\n\
             Bcc: (nobody), plain\n\
             Reply-To: \"q (not a comment)\" <r@s.example>\n\nx",
        )
        .envelope;
        let start = |n: &str| Address {
            mailbox: Some(n.into()),
            ..Address::default()
        };
        let end = Address::default();
        assert_eq!(
            e.cc,
            [start("group"), end.clone(), start("group2"), end.clone()]
        );
        assert_eq!(
            e.to,
            [
                start("g"),
                addr(Some("c d"), "a", "b.example"),
                addr(Some("x"), "y", "z.example"),
                end
            ]
        );
        assert_eq!(e.bcc, [addr(None, "plain", MISSING_HOST)]);
        assert_eq!(
            e.reply_to,
            [addr(Some("q (not a comment)"), "r", "s.example")]
        );
    }

    #[test]
    fn strip_comments_table() {
        let cases = [
            ("a (b) c", "a   c"),
            ("a (b (c) d) e", "a   e"),
            ("a (b \\) c) d", "a   d"),
            ("\"x (y)\" z", "\"x (y)\" z"),
            ("\"x \\\" (y)\" (z)", "\"x \\\" (y)\"  "),
            ("(open", " "),
            ("close) x", "close) x"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(strip_comments(text), want, "{text:?}");
        }
    }

    #[test]
    fn missing_headers_are_nil() {
        let m = meta("X-Other: 1\n\nbody\n");
        assert_eq!(m.envelope, Envelope::default());
        // "X-Other: 1\r\n\r\n" = 14 octets of header block; nothing else is known.
        let expected = SearchFields {
            header_size: 14,
            ..SearchFields::default()
        };
        assert_eq!(m.search, expected);
    }

    /// Truncated and contradictory inputs, separated by '|'.
    const HOSTILE: &str = "\r\n|:|\n\n\n|Content-Type: multipart/x\n\n|\
        Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\n--x\n\
        Content-Type: multipart/digest; boundary=y\n\n--y\n\n--y";

    #[test]
    fn garbage_and_empty_input_do_not_panic() {
        assert_eq!(shape(&analyze(b"").body), "TEXT/PLAIN 7BIT 0 L0");
        let noise: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for input in HOSTILE.split('|').map(crlf).chain([noise]) {
            assert!(analyze(&input).search.header_size <= input.len() as u64);
        }
        // No header line at all: everything is body.
        let m = analyze(b"garbage line no colon\r\nmore\r\n");
        assert_eq!(shape(&m.body), "TEXT/PLAIN 7BIT 29 L2");
        // A base64 message/rfc822 is not described as a message (RFC 2046 §5.2.1).
        let m = meta(
            "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdA==\n",
        );
        assert_eq!(shape(&m.body), "APPLICATION/OCTET-STREAM base64 14");
        // An empty multipart still gets the 1*body RFC 3501 requires.
        let m = meta("Content-Type: multipart/mixed; boundary=d\n\n--d--\n");
        assert_eq!(shape(&m.body), "(TEXT/PLAIN 7BIT 0 L0 mixed)");
    }

    #[test]
    fn deep_nesting_is_flattened_at_the_limit() {
        let (mut multi, mut chain) = (String::new(), String::new());
        for i in 0..200 {
            multi += &format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n");
            chain += &format!("From: u{i}@example.com\nContent-Type: message/rfc822\n\n");
        }
        multi += "Content-Type: text/plain\n\nleaf\n";
        multi.extend((0..200).rev().map(|i| format!("--b{i}--\n")));
        chain += "Subject: innermost\n\nx\n";
        for m in [meta(&multi), meta(&chain)] {
            let (mut node, mut depth) = (&m.body, 0);
            while let Some(next) = match node {
                BodyStructure::Multipart { parts, .. } => parts.first(),
                single => nested(single).map(|(_, body)| body),
            } {
                (node, depth) = (next, depth + 1);
            }
            assert_eq!(depth, MAX_DEPTH);
            let leaf = single(node).map(|(b, k, _)| (b.media_type.as_str(), k));
            assert_eq!(leaf, Some(("APPLICATION", &SingleKind::Basic)));
            assert!(
                round_trips(&m),
                "the deepest structure must survive serde_json"
            );
        }
    }

    #[test]
    fn date_is_parsed_to_unix_seconds() {
        let date = |d: &str| meta(&format!("Date: {d}\n\nx")).search.date;
        // 1994-02-07 21:52:25 -0800 = 1994-02-08 05:52:25 UTC.
        assert_eq!(date("Mon, 7 Feb 1994 21:52:25 -0800"), Some(760_686_745));
        assert_eq!(date("Thu, 29 Feb 2024 13:00:00 +0100"), Some(1_709_208_000));
        assert_eq!(date("not a date"), None);
    }

    #[test]
    fn serde_json_round_trip() {
        for raw in [NESTED, "", "To: G: a@b;\n\nx"] {
            assert!(round_trips(&meta(raw)));
        }
    }
}
