//! The public FETCH rendering API, used from outside the crate as the session will use it.
use std::{borrow::Cow, num::NonZeroU32};

use imap_codec::imap_types::{body::BodyStructure, envelope::Envelope, fetch::Section};
use mailroom_imap::fetch::{self, BinaryError, Parts};
use mailroom_store::mime;

/// The signatures the lead asked for, as function pointer types.
type EnvelopeFn = fn(&mime::Envelope) -> Envelope<'static>;
type StructureFn = fn(&mime::BodyStructure, bool) -> BodyStructure<'static>;
type SectionFn = for<'a, 'b, 'c> fn(&'a [u8], Option<&'b Section<'c>>) -> Cow<'a, [u8]>;
type Origin = Option<(u32, NonZeroU32)>;
type PartialFn = for<'a> fn(&'a [u8], Origin) -> &'a [u8];
type Decoded<'a> = Result<Cow<'a, [u8]>, BinaryError>;
type BinaryFn = for<'a, 'b> fn(&'a [u8], &'b [NonZeroU32]) -> Decoded<'a>;

#[test]
fn signatures_are_the_agreed_ones() {
    let _: EnvelopeFn = fetch::envelope;
    let _: StructureFn = fetch::body_structure;
    let _: SectionFn = fetch::section;
    let _: PartialFn = fetch::partial;
    let _: BinaryFn = fetch::binary;
}

#[test]
fn one_parse_serves_many_sections() {
    let raw = b"Subject: hi\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n\
        --x\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--x--\r\n";
    let parts = Parts::new(raw);
    let one = [NonZeroU32::MIN];
    assert_eq!(parts.binary(&one).unwrap().as_ref(), b"hello");
    let header = parts.section(Some(&Section::Header(None)));
    assert_eq!(
        header.as_ref(),
        b"Subject: hi\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
    );
    // Only the first octets, as BODY[HEADER]<0.7> would ask.
    let seven = NonZeroU32::new(7).unwrap();
    assert_eq!(fetch::partial(&header, Some((0, seven))), b"Subject");
    // Sizes the stored BODYSTRUCTURE states are what the sections return.
    let meta = mime::analyze(raw);
    let mime::BodyStructure::Multipart { parts: list, .. } = &meta.body else {
        panic!("multipart expected");
    };
    let mime::BodyStructure::Single { basic, .. } = &list[0] else {
        panic!("single part expected");
    };
    let part = fetch::section(
        raw,
        Some(&Section::Part(imap_codec::imap_types::fetch::Part(
            one.to_vec().try_into().unwrap(),
        ))),
    );
    assert_eq!(part.len() as u64, basic.size);
    let error = BinaryError::UnknownCte("x-foo".into());
    assert_eq!(
        error.to_string(),
        "unknown content-transfer-encoding \"x-foo\""
    );
}
