//! FETCH BODYSTRUCTURE and FETCH BODY: the stored [`mailroom_store::mime::BodyStructure`] as an
//! imap-types value.
//!
//! What it owns: the RFC 9051 §7.5.2 / §9 grammar choices: which fields each kind of part
//! carries, and the extension data that only BODYSTRUCTURE has.
//! What it must not do: look at message bytes; sizes, line counts and types come stored.
use imap_codec::imap_types::{
    body::{
        BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
        SinglePartExtensionData, SpecificFields,
    },
    core::{IString, Vec1},
};
use mailroom_store::mime::{self, SingleKind};

use super::{
    envelope::envelope,
    string::{istring, nstring},
};

/// BODYSTRUCTURE (`extensions = true`, with extension data) or BODY (`false`, RFC 9051 §7.5.2:
/// no extension data).
///
/// Every extension field is sent when asked for (NIL or an empty list when absent), as
/// RFC 9051 §7.5.2 allows a server to send trailing ones or not; always sending them keeps
/// the shape the same for every part. Sizes and line counts beyond `u32` are capped (the
/// grammar's `number` is 32 bits).
pub fn body_structure(b: &mime::BodyStructure, extensions: bool) -> BodyStructure<'static> {
    match b {
        mime::BodyStructure::Single { basic, kind, ext } => BodyStructure::Single {
            body: Body {
                basic: basic_fields(basic),
                specific: specific(basic, kind, extensions),
            },
            extension_data: extensions.then(|| SinglePartExtensionData {
                // RFC 9051 §7.5.2: body-ext-1part = md5, disposition, language, location.
                md5: nstring(ext.md5.as_deref()),
                tail: Some(disposition(
                    ext.disposition.as_ref(),
                    &ext.language,
                    ext.location.as_deref(),
                )),
            }),
        },
        mime::BodyStructure::Multipart {
            parts,
            subtype,
            params,
            ext,
        } => {
            let bodies: Vec<_> = parts
                .iter()
                .map(|p| body_structure(p, extensions))
                .collect();
            BodyStructure::Multi {
                // RFC 9051 §9 body-type-mpart = 1*body: the store never gives an empty list,
                // but a hand-made meta must still encode; an empty text part stands in.
                bodies: Vec1::try_from(bodies).unwrap_or_else(|_| Vec1::from(empty_text())),
                subtype: istring(subtype),
                extension_data: extensions.then(|| MultiPartExtensionData {
                    // RFC 9051 §7.5.2: body-ext-mpart = parameters, disposition, language,
                    // location; BODY has none of them, not even the parameters.
                    parameter_list: pairs(params),
                    tail: Some(disposition(
                        ext.disposition.as_ref(),
                        &ext.language,
                        ext.location.as_deref(),
                    )),
                }),
            }
        }
    }
}

/// RFC 9051 §9 body-fields: parameters, id, description, encoding, octets.
fn basic_fields(b: &mime::BasicFields) -> BasicFields<'static> {
    BasicFields {
        parameter_list: pairs(&b.params),
        id: nstring(b.id.as_deref()),
        description: nstring(b.description.as_deref()),
        content_transfer_encoding: istring(&b.encoding),
        size: capped(b.size),
    }
}

fn specific(b: &mime::BasicFields, kind: &SingleKind, extensions: bool) -> SpecificFields<'static> {
    match kind {
        // RFC 9051 §9 body-type-text: "TEXT" subtype fields lines.
        SingleKind::Text { lines } => SpecificFields::Text {
            subtype: istring(&b.subtype),
            number_of_lines: capped(*lines),
        },
        // RFC 9051 §9 body-type-msg: fields envelope body lines. imap-types writes the type
        // as "MESSAGE" "RFC822", so only that subtype may take this form.
        SingleKind::Message {
            envelope: e,
            body,
            lines,
        } if b.subtype.eq_ignore_ascii_case("rfc822") => SpecificFields::Message {
            envelope: Box::new(envelope(e)),
            body_structure: Box::new(body_structure(body, extensions)),
            number_of_lines: capped(*lines),
        },
        // message/global (RFC 6532) cannot be written with its own subtype as body-type-msg,
        // and calling it RFC822 would misdescribe its UTF-8 header: it goes as body-type-basic,
        // which RFC 3501 parsers (imap-codec's too) read for any subtype but RFC822.
        SingleKind::Basic | SingleKind::Message { .. } => SpecificFields::Basic {
            r#type: istring(&b.media_type),
            subtype: istring(&b.subtype),
        },
    }
}

/// RFC 9051 §9 body-fld-dsp SP body-fld-lang SP body-fld-loc, the tail both kinds share.
fn disposition(
    dsp: Option<&(String, Vec<(String, String)>)>,
    language: &[String],
    location: Option<&str>,
) -> Disposition<'static> {
    Disposition {
        disposition: dsp.map(|(kind, params)| (istring(kind), pairs(params))),
        tail: Some(Language {
            // An empty list is written NIL (body-fld-lang = nstring / "(" string *(SP string) ")").
            language: language.iter().map(|l| istring(l)).collect(),
            tail: Some(Location {
                location: nstring(location),
                extensions: Vec::new(),
            }),
        }),
    }
}

/// body-fld-param: an empty list is written NIL by imap-codec.
fn pairs(params: &[(String, String)]) -> Vec<(IString<'static>, IString<'static>)> {
    params
        .iter()
        .map(|(k, v)| (istring(k), istring(v)))
        .collect()
}

fn capped(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// RFC 2045 §5.2 default type, empty: the stand-in for a multipart without parts.
fn empty_text() -> BodyStructure<'static> {
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: vec![(istring("CHARSET"), istring("US-ASCII"))],
                id: nstring(None),
                description: nstring(None),
                content_transfer_encoding: istring("7BIT"),
                size: 0,
            },
            specific: SpecificFields::Text {
                subtype: istring("PLAIN"),
                number_of_lines: 0,
            },
        },
        extension_data: None,
    }
}
