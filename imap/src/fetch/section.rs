//! FETCH `BODY[section]<origin.length>`: the octets a section names.
//!
//! What it owns: RFC 9051 §6.4.5 section semantics (HEADER, HEADER.FIELDS[.NOT], TEXT, MIME,
//! part numbers and their prefixes) and partial fetches, on top of the part tree.
//! What it must not do: decode anything (that is BINARY) or allocate when a slice will do.
use std::{borrow::Cow, num::NonZeroU32, ops::Range};

use imap_codec::imap_types::{
    core::AString,
    fetch::{Part, Section},
};

use super::parts::{Kind, Node, Parts};

impl<'a> Parts<'a> {
    /// The octets of `BODY[section]`; `None` = the whole message. See [`super::section`].
    pub fn section(&self, section: Option<&Section<'_>>) -> Cow<'a, [u8]> {
        let Some(section) = section else {
            // RFC 9051 §6.4.5: an empty section specification refers to the entire message.
            return Cow::Borrowed(self.raw());
        };
        match section {
            Section::Part(part) => self.found(part.0.as_ref(), |node| node.body.clone()),
            // RFC 9051 §6.4.5: MIME is the header of the part itself, blank line included.
            Section::Mime(part) => self.found(part.0.as_ref(), |node| node.header.clone()),
            Section::Header(part) => self.of_message(part.as_ref(), |m| m.header()),
            Section::Text(part) => self.of_message(part.as_ref(), |m| m.text()),
            Section::HeaderFields(part, names) => self.fields(part.as_ref(), names.as_ref(), true),
            Section::HeaderFieldsNot(part, names) => {
                self.fields(part.as_ref(), names.as_ref(), false)
            }
        }
    }

    /// The bytes `pick` chooses from the part `path` names; a part that does not exist is
    /// empty (see [`super::section`] for why).
    fn found(&self, path: &[NonZeroU32], pick: impl Fn(&Node) -> Range<usize>) -> Cow<'a, [u8]> {
        let range = self.find(path).map(pick);
        Cow::Borrowed(range.map(|r| self.bytes(r)).unwrap_or_default())
    }

    /// The message HEADER / TEXT / HEADER.FIELDS apply to: the top-level one, or the one a
    /// message/rfc822 part holds.
    fn message(&self, part: Option<&Part>) -> Option<Msg<'_>> {
        let Some(part) = part else {
            return Some(Msg {
                root: self.root(),
                end: self.raw().len(),
            });
        };
        let node = self.find(part.0.as_ref())?;
        match &node.kind {
            // RFC 9051 §6.4.5: a part-number prefix must name a MESSAGE/RFC822 part.
            Kind::Message(inner) => Some(Msg {
                root: inner,
                end: node.body.end,
            }),
            _ => None,
        }
    }

    /// The bytes `pick` chooses from the message `part` names (the top-level one for `None`).
    fn of_message(
        &self,
        part: Option<&Part>,
        pick: impl Fn(&Msg<'_>) -> Range<usize>,
    ) -> Cow<'a, [u8]> {
        let range = self.message(part).map(|m| pick(&m));
        Cow::Borrowed(range.map(|r| self.bytes(r)).unwrap_or_default())
    }

    /// HEADER.FIELDS (`wanted`) or HEADER.FIELDS.NOT of the message `part` names.
    fn fields(&self, part: Option<&Part>, names: &[AString<'_>], wanted: bool) -> Cow<'a, [u8]> {
        let Some(msg) = self.message(part) else {
            return Cow::Borrowed(&[]);
        };
        let header = self.bytes(msg.header());
        let has_body = !self.bytes(msg.text()).is_empty();
        Cow::Owned(header_fields(header, names, wanted, has_body))
    }
}

/// A message inside the raw bytes: its root part and where the message ends.
struct Msg<'p> {
    root: &'p Node,
    end: usize,
}

impl Msg<'_> {
    /// RFC 9051 §6.4.5 HEADER: the RFC 5322 header, blank line included.
    fn header(&self) -> Range<usize> {
        self.root.header.clone()
    }

    /// RFC 9051 §6.4.5 TEXT: the body of the message, after the header's blank line.
    fn text(&self) -> Range<usize> {
        let start = self.root.body.start.min(self.end);
        start..self.end
    }
}

/// RFC 9051 §6.4.5 HEADER.FIELDS (`wanted = true`) or HEADER.FIELDS.NOT (`false`) of a header
/// block: the fields whose name matches one of `names` (or does not), in their original order
/// with their folding, then the blank line.
///
/// "The field-matching is case-insensitive but otherwise exact." A line that is no field
/// (no colon) has no name, so it matches nothing: HEADER.FIELDS.NOT keeps it. The blank
/// line is "included in all header fetches, except in the case of a message which has no
/// body and no blank line": it is added (as CRLF) even when nothing matched.
fn header_fields(header: &[u8], names: &[AString<'_>], wanted: bool, has_body: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut terminated = false;
    for field in fields(header) {
        if field.is_blank() {
            terminated = true;
            break;
        }
        let matches = field
            .name()
            .is_some_and(|name| names.iter().any(|n| n.as_ref().eq_ignore_ascii_case(name)));
        if matches == wanted {
            out.extend_from_slice(field.0);
            // A last field cut off without its line end still ends its line in the reply.
            if !field.0.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    if terminated || has_body {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One header field with its continuation lines, or the blank line, as raw bytes.
struct Field<'h>(&'h [u8]);

impl Field<'_> {
    fn is_blank(&self) -> bool {
        matches!(self.0, b"\r\n" | b"\n")
    }

    /// RFC 5322 §2.2 field-name, before the colon; obsolete syntax (RFC 5322 §4.5) allows
    /// white space before the colon, which is not part of the name.
    fn name(&self) -> Option<&[u8]> {
        let colon = self.0.iter().position(|&b| b == b':')?;
        let line_end = self
            .0
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(self.0.len());
        let name = self.0.get(..colon).filter(|_| colon < line_end)?;
        let name = name.trim_ascii_end();
        (!name.is_empty()).then_some(name)
    }
}

/// Split a header block into fields: a line that starts with SP or HTAB continues the field
/// before it (RFC 5322 §2.2.3 folding). Lines end at LF, so bare-LF headers split too.
fn fields(header: &[u8]) -> impl Iterator<Item = Field<'_>> {
    let mut rest = header;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = line_end(rest, 0);
        // The blank line is never folded into anything.
        if !matches!(&rest[..end], b"\r\n" | b"\n") {
            while end < rest.len() && matches!(rest[end], b' ' | b'\t') {
                end = line_end(rest, end);
            }
        }
        let (field, tail) = rest.split_at(end);
        rest = tail;
        Some(Field(field))
    })
}

/// Index just past the LF that ends the line starting at `from`, or the end of `bytes`.
fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|tail| tail.iter().position(|&b| b == b'\n'))
        .map_or(bytes.len(), |i| from + i + 1)
}

/// Apply `<origin.length>` (RFC 9051 §6.4.5): origin past the end gives empty, a length past
/// the end is cut at the end.
pub fn partial(bytes: &[u8], partial: Option<(u32, NonZeroU32)>) -> &[u8] {
    let Some((origin, length)) = partial else {
        return bytes;
    };
    let start = usize::try_from(origin)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let length = usize::try_from(length.get()).unwrap_or(usize::MAX);
    let end = start.saturating_add(length).min(bytes.len());
    bytes.get(start..end).unwrap_or_default()
}
