//! Where each IMAP part of a raw message lies: the part tree behind `BODY[section]` and BINARY.
//!
//! What it owns: one parse of the raw bytes with mail-parser, turned into a small tree of
//! byte ranges numbered as RFC 9051 §6.4.5 numbers parts, and the lookup of a part number.
//! What it must not do: describe parts (that is the stored BODYSTRUCTURE) or panic on any
//! input. The tree follows the same rules as `mailroom_store::mime::analyze` (which parts are
//! expanded, how deep, the digest default) so every part number the stored BODYSTRUCTURE shows
//! names the same bytes here, and its size field equals the length of that part's body.
use std::{num::NonZeroU32, ops::Range};

use mail_parser::{Encoding, GetHeader, HeaderName, Message, MessageParser, MimeHeaders, PartType};
use mailroom_store::mime::MAX_DEPTH;

/// One entity of the tree: a MIME part, or the top of an encapsulated message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    /// The part's own header block, blank line included (RFC 9051 §6.4.5 MIME). For the root
    /// of a message it is the message header (HEADER).
    pub header: Range<usize>,
    /// The part's body (what `BODY[n]` returns): for a message/rfc822 part, the whole
    /// encapsulated message.
    pub body: Range<usize>,
    /// The Content-Transfer-Encoding value as written (last occurrence, like mail-parser
    /// and the stored BODYSTRUCTURE), or `None` when absent.
    pub encoding: Option<String>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// Not expanded: a leaf, or a container past [`MAX_DEPTH`] or unusable.
    Leaf,
    /// A multipart and its body parts, numbered from 1.
    Multipart(Vec<Node>),
    /// A message/rfc822 (or message/global) part and the root part of the message it holds.
    Message(Box<Node>),
}

/// The part tree of one raw message. Parse once, then ask for as many sections as needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts<'a> {
    raw: &'a [u8],
    root: Node,
}

impl<'a> Parts<'a> {
    /// Parse `raw`. Input where mail-parser finds no header, or that makes it panic, is one
    /// text body with an empty header, as `mailroom_store::mime::analyze` describes it.
    pub fn new(raw: &'a [u8]) -> Self {
        let len = raw.len();
        let tree = || {
            let msg = MessageParser::default().parse(raw)?;
            msg.parts.first()?;
            Some(build(&msg, 0, raw, false, 0))
        };
        // Same guard as the store: a parser bug must not take the session down.
        let root = match std::panic::catch_unwind(tree) {
            Ok(Some(root)) => root,
            _ => Node {
                header: 0..0,
                body: 0..len,
                encoding: None,
                kind: Kind::Leaf,
            },
        };
        Parts { raw, root }
    }

    /// The raw message.
    pub(super) fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The root part of the top-level message.
    pub(super) fn root(&self) -> &Node {
        &self.root
    }

    /// Bounds-checked slice of the raw message.
    pub(super) fn bytes(&self, range: Range<usize>) -> &'a [u8] {
        let end = range.end.min(self.raw.len());
        self.raw.get(range.start..end).unwrap_or_default()
    }

    /// The part a part number names (RFC 9051 §6.4.5), or `None` when there is no such part.
    pub(super) fn find(&self, path: &[NonZeroU32]) -> Option<&Node> {
        let (first, rest) = path.split_first()?;
        let mut node = message_part(&self.root, *first)?;
        for &n in rest {
            node = match &node.kind {
                Kind::Multipart(children) => child(children, n)?,
                // RFC 9051 §6.4.5: the parts of a message/rfc822 part are those of the
                // message it holds.
                Kind::Message(inner) => message_part(inner, n)?,
                Kind::Leaf => return None,
            };
        }
        Some(node)
    }
}

/// Part `n` of a message whose root part is `root`: RFC 9051 §6.4.5 numbers the body parts of
/// a multipart message from 1, and a message that is not multipart has only part 1, its body.
fn message_part(root: &Node, n: NonZeroU32) -> Option<&Node> {
    match &root.kind {
        Kind::Multipart(children) => child(children, n),
        _ => (n.get() == 1).then_some(root),
    }
}

fn child(children: &[Node], n: NonZeroU32) -> Option<&Node> {
    let index = usize::try_from(n.get() - 1).ok()?;
    children.get(index)
}

/// Mirror of the store's `analyze` walk: same type defaults, same expansion conditions, same
/// depth limit, so both agree on the numbering.
fn build(msg: &Message<'_>, id: usize, raw: &[u8], digest: bool, depth: usize) -> Node {
    let Some(part) = msg.parts.get(id) else {
        // analyze describes a missing part as an empty text part.
        return Node {
            header: 0..0,
            body: 0..0,
            encoding: None,
            kind: Kind::Leaf,
        };
    };
    let (media_type, subtype) = match part.content_type() {
        // RFC 2045 §5.2: a Content-Type without a subtype counts as absent.
        Some(ct) if ct.c_subtype.is_some() => (
            ct.c_type.as_ref(),
            ct.c_subtype.as_deref().unwrap_or_default(),
        ),
        // RFC 2046 §5.1.5: inside multipart/digest the default is message/rfc822.
        _ if digest => ("message", "rfc822"),
        _ => ("text", "plain"),
    };
    let is_multipart = media_type.eq_ignore_ascii_case("multipart");
    let is_message = media_type.eq_ignore_ascii_case("message")
        && (subtype.eq_ignore_ascii_case("rfc822") || subtype.eq_ignore_ascii_case("global"));
    let kind = match &part.body {
        PartType::Multipart(ids) if is_multipart && depth < MAX_DEPTH => {
            let digest = subtype.eq_ignore_ascii_case("digest");
            Kind::Multipart(
                ids.iter()
                    .map(|&c| build(msg, c as usize, raw, digest, depth + 1))
                    .collect(),
            )
        }
        // Only an unencoded nested message has offsets into `raw` (mail-parser parses an
        // encoded one from the decoded bytes); analyze does not expand the others either.
        PartType::Message(nested)
            if is_message && part.encoding == Encoding::None && depth < MAX_DEPTH =>
        {
            Kind::Message(Box::new(build(nested, 0, raw, false, depth + 1)))
        }
        _ => Kind::Leaf,
    };
    let encoding = part
        .headers
        .header(HeaderName::ContentTransferEncoding)
        .map(|h| range(raw, h.offset_start, h.offset_end))
        .and_then(|r| raw.get(r))
        .map(|v| String::from_utf8_lossy(v).into_owned());
    Node {
        header: range(raw, part.offset_header, part.offset_body),
        body: range(raw, part.offset_body, part.offset_end),
        encoding,
        kind,
    }
}

/// A range inside `raw` from mail-parser offsets, clamped so slicing can never panic.
fn range(raw: &[u8], start: u32, end: u32) -> Range<usize> {
    let end = (end as usize).min(raw.len());
    let start = (start as usize).min(end);
    start..end
}
