//! FETCH rendering: ENVELOPE, BODY / BODYSTRUCTURE, `BODY[section]<partial>` and `BINARY[part]`.
//!
//! What it owns: pure functions from what the store keeps to imap-types values and octets.
//! ENVELOPE and BODYSTRUCTURE come from the [`mailroom_store::mime::MessageMeta`] computed at
//! delivery, never from the message bytes; `BODY[section]` and BINARY need the raw message,
//! which the session fetches only when a FETCH asks for them.
//! What it must not do: I/O, session state (\Seen, sequence numbers), choosing between
//! string and literal8 for BINARY, or panicking on any stored meta or raw message.
//!
//! Part numbers follow RFC 9051 §6.4.5 and agree with the stored BODYSTRUCTURE: both walk the
//! same mail-parser tree with the same rules (module `parts`).
use std::{borrow::Cow, num::NonZeroU32};

use imap_codec::imap_types::fetch::Section;

mod binary;
mod envelope;
mod parts;
mod section;
mod string;
mod structure;
#[cfg(test)]
mod tests;

pub use binary::BinaryError;
pub use envelope::envelope;
pub use parts::Parts;
pub use section::partial;
pub use structure::body_structure;

/// The octets of `BODY[section]` (RFC 9051 §6.4.5) of the raw message; `None` section = the
/// whole message.
///
/// Covers HEADER, HEADER.FIELDS (list), HEADER.FIELDS.NOT (list), TEXT, MIME, part numbers at
/// any depth, and part-number prefixes (2.HEADER for a message/rfc822 part 2).
///
/// A part that does not exist, or a HEADER/TEXT prefix that is not a message/rfc822 part,
/// gives an empty string: RFC 9051 §6.4.5 makes no error of it, §7.5.2 describes the
/// `BODY[<section>]` response as "a string expressing the body contents of the specified
/// section", and §6.4.5 already answers an origin past the end with "an empty string"; NIL
/// would claim the section has no value at all. To fetch several sections of one message,
/// build [`Parts`] once and call [`Parts::section`].
pub fn section<'a>(raw: &'a [u8], section: Option<&Section<'_>>) -> Cow<'a, [u8]> {
    Parts::new(raw).section(section)
}

/// `BINARY[part]` (RFC 3516 / RFC 9051 §6.4.5): the part's content with its
/// Content-Transfer-Encoding removed (base64, quoted-printable; 7bit/8bit/binary as is).
/// Empty `part` = the whole message as is; a part that does not exist is empty, as for
/// [`section`].
pub fn binary<'a>(raw: &'a [u8], part: &[NonZeroU32]) -> Result<Cow<'a, [u8]>, BinaryError> {
    Parts::new(raw).binary(part)
}
