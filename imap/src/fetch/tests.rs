//! Tests of FETCH rendering: wire strings through imap-codec's `ResponseCodec`, sections of
//! nested messages, agreement with the stored BODYSTRUCTURE, and hostile input.
use std::num::NonZeroU32;

use imap_codec::{
    CommandCodec, ResponseCodec,
    decode::Decoder,
    encode::Encoder,
    imap_types::{
        command::CommandBody,
        core::{Literal, Vec1},
        fetch::{MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Part},
        response::{Data, Response},
    },
};
use mailroom_store::mime::{self, BodyStructure, SingleKind, analyze};

use super::*;

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn part(path: &[NonZeroU32]) -> Part {
    Part(Vec1::try_from(path.to_vec()).unwrap())
}

/// `* 12 FETCH (items)` as imap-codec writes it, checked by reading it back.
fn wire(items: Vec<MessageDataItem<'static>>) -> String {
    let (response, out) = encode(items);
    // imap-codec must read back exactly what we sent: the output is valid IMAP.
    let Ok((rest, decoded)) = ResponseCodec::default().decode(&out) else {
        panic!("imap-codec cannot read {:?}", String::from_utf8_lossy(&out));
    };
    assert_eq!((rest, &decoded), (&b""[..], &response), "round trip");
    String::from_utf8(out).unwrap()
}

fn encode(items: Vec<MessageDataItem<'static>>) -> (Response<'static>, Vec<u8>) {
    let data = Data::Fetch {
        seq: nz(12),
        items: Vec1::try_from(items).unwrap(),
    };
    let response = Response::Data(data);
    let out = ResponseCodec::default().encode(&response).dump();
    (response, out)
}

/// Nesting of a structure in parentheses levels, as a client's parser sees it.
fn depth(body: &BodyStructure) -> usize {
    match body {
        BodyStructure::Multipart { parts, .. } => 1 + parts.iter().map(depth).max().unwrap_or(0),
        BodyStructure::Single {
            kind: SingleKind::Message { body, .. },
            ..
        } => 1 + depth(body),
        BodyStructure::Single { .. } => 1,
    }
}

/// The data item names of `a FETCH 1 (items)` as a client would send them.
fn names(items: &str) -> Vec<MessageDataItemName<'static>> {
    let line = format!("a FETCH 1 ({items})\r\n");
    let (_, cmd) = CommandCodec::default()
        .decode_static(line.as_bytes())
        .unwrap();
    match cmd.body {
        CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
            ..
        } => names,
        other => panic!("not a FETCH: {other:?}"),
    }
}

/// What `BODY[...]<...>` or `BINARY[...]<...>` (client syntax) returns for `raw`.
fn fetch(raw: &[u8], item: &str) -> Result<Vec<u8>, BinaryError> {
    let parts = Parts::new(raw);
    match names(item).pop().unwrap() {
        MessageDataItemName::BodyExt {
            section: s,
            partial: p,
            ..
        } => {
            let whole = section(raw, s.as_ref());
            assert_eq!(whole, parts.section(s.as_ref()), "Parts and section agree");
            Ok(partial(&whole, p).to_vec())
        }
        MessageDataItemName::Binary {
            section: s,
            partial: p,
            ..
        } => {
            let whole = binary(raw, &s)?;
            assert_eq!(
                Ok(whole.clone()),
                parts.binary(&s),
                "Parts and binary agree"
            );
            Ok(partial(&whole, p).to_vec())
        }
        other => panic!("not a section item: {other:?}"),
    }
}

fn text(raw: &[u8], item: &str) -> String {
    String::from_utf8_lossy(&fetch(raw, item).unwrap()).replace("\r\n", "\n")
}

// ---------------------------------------------------------------- ENVELOPE and BODY(STRUCTURE)

/// The message of RFC 3501 §8's FETCH example, rebuilt: 92 lines in 3028 octets of body.
fn rfc3501_example() -> Vec<u8> {
    let mut raw = crlf(
        "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)
From: Terry Gray <gray@cac.washington.edu>
Subject: IMAP4rev1 WG mtg summary and minutes
To: imap@cac.washington.edu
cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>
Message-Id: <B27397-0100000@cac.washington.edu>
MIME-Version: 1.0

",
    );
    for _ in 0..91 {
        raw.extend_from_slice(&[b'x'; 31]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(&[b'y'; 23]);
    raw.extend_from_slice(b"\r\n");
    raw
}

#[test]
fn rfc3501_example_envelope_and_body() {
    let meta = analyze(&rfc3501_example());
    let got = wire(vec![
        MessageDataItem::Envelope(envelope(&meta.envelope)),
        MessageDataItem::Body(body_structure(&meta.body, false)),
    ]);
    // RFC 3501 §8, byte for byte (the example's line breaks removed).
    let expected = "* 12 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \
        \"IMAP4rev1 WG mtg summary and minutes\" \
        ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
        ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
        ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
        ((NIL NIL \"imap\" \"cac.washington.edu\")) \
        ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) \
        NIL NIL \"<B27397-0100000@cac.washington.edu>\") \
        BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n";
    assert_eq!(got, expected);
}

fn plain(size: u64, lines: u64, params: &[(&str, &str)], id: Option<&str>) -> BodyStructure {
    BodyStructure::Single {
        basic: mime::BasicFields {
            media_type: "TEXT".into(),
            subtype: "PLAIN".into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            id: id.map(Into::into),
            description: None,
            encoding: "7BIT".into(),
            size,
        },
        kind: SingleKind::Text { lines },
        ext: mime::SinglePartExt::default(),
    }
}

#[test]
fn rfc3501_multipart_bodystructure_example() {
    // RFC 3501 §7.4.2 BODYSTRUCTURE example, which has no extension data: our BODY form.
    let charset = ("CHARSET", "US-ASCII");
    let mut diff = plain(
        4554,
        73,
        &[charset, ("NAME", "cc.diff")],
        Some("<960723163407.20117h@cac.washington.edu>"),
    );
    if let BodyStructure::Single { basic, .. } = &mut diff {
        basic.description = Some("Compiler diff".into());
        basic.encoding = "BASE64".into();
    }
    let b = BodyStructure::Multipart {
        parts: vec![plain(1152, 23, &[charset], None), diff],
        subtype: "MIXED".into(),
        params: vec![("BOUNDARY".into(), "x".into())],
        ext: mime::MultipartExt::default(),
    };
    let got = wire(vec![MessageDataItem::BodyStructure(body_structure(
        &b, false,
    ))]);
    let expected = "* 12 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \
        \"7BIT\" 1152 23)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") \
        \"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) \
        \"MIXED\"))\r\n";
    assert_eq!(got, expected);
    // With extension data the multipart gains its parameters and the NIL tail.
    let got = wire(vec![MessageDataItem::BodyStructure(body_structure(
        &b, true,
    ))]);
    assert!(
        got.ends_with(" \"MIXED\" (\"BOUNDARY\" \"x\") NIL NIL NIL))\r\n"),
        "{got}"
    );
    assert!(got.contains("1152 23 NIL NIL NIL NIL)"), "{got}");
}

const MIXED: &str = "From: Fred Foobar <foobar@Blurdybloop.example>
To: mooch@owatagu.siam.edu.example
Subject: mixed
Date: Mon, 7 Feb 1994 21:52:25 -0800
Message-ID: <B27397-0100000@Blurdybloop.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"outer\"
Content-Language: en

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

<p>Hello=20w=C3=B6rld</p>
--inner--
--outer
Content-Type: application/octet-stream; name=\"a.bin\"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename=\"a.bin\"
Content-ID: <part3@x>
Content-Description: six octets
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Language: en, de
Content-Location: http://example.com/a.bin

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
fn mixed_bodystructure_with_extension_data() {
    let meta = analyze(&crlf(MIXED));
    let got = wire(vec![MessageDataItem::BodyStructure(body_structure(
        &meta.body, true,
    ))]);
    let inner = "((NIL NIL \"inner\" \"example.com\"))";
    let expected = format!(
        "* 12 FETCH (BODYSTRUCTURE (\
        ((\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 12 2 NIL NIL NIL NIL)\
        (\"TEXT\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"quoted-printable\" 25 1 NIL NIL NIL NIL) \
        \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)\
        (\"application\" \"octet-stream\" (\"name\" \"a.bin\") \"<part3@x>\" \"six octets\" \"base64\" 8 \
        \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"a.bin\")) (\"en\" \"de\") \
        \"http://example.com/a.bin\")\
        (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 63 \
        (NIL \"Inner\" {inner} {inner} {inner} NIL NIL NIL NIL NIL) \
        (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 2 NIL NIL NIL NIL) 5 \
        NIL NIL NIL NIL) \
        \"mixed\" (\"boundary\" \"outer\") NIL (\"en\") NIL))\r\n"
    );
    assert_eq!(got, expected);
}

#[test]
fn mixed_body_has_no_extension_data_at_any_depth() {
    let meta = analyze(&crlf(MIXED));
    let got = wire(vec![MessageDataItem::Body(body_structure(
        &meta.body, false,
    ))]);
    let inner = "((NIL NIL \"inner\" \"example.com\"))";
    let expected = format!(
        "* 12 FETCH (BODY (\
        ((\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 12 2)\
        (\"TEXT\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"quoted-printable\" 25 1) \
        \"alternative\")\
        (\"application\" \"octet-stream\" (\"name\" \"a.bin\") \"<part3@x>\" \"six octets\" \"base64\" 8)\
        (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 63 \
        (NIL \"Inner\" {inner} {inner} {inner} NIL NIL NIL NIL NIL) \
        (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 2) 5) \
        \"mixed\"))\r\n"
    );
    assert_eq!(got, expected);
}

fn addr(name: Option<&str>, mailbox: Option<&str>, host: Option<&str>) -> mime::Address {
    mime::Address {
        name: name.map(Into::into),
        adl: None,
        mailbox: mailbox.map(Into::into),
        host: host.map(Into::into),
    }
}

#[test]
fn envelope_groups_nil_and_literals() {
    let e = mime::Envelope {
        date: None,
        subject: Some("=?UTF-8?B?SGVsbG8gV8O2cmxk?= folded".into()),
        from: vec![addr(Some("Jörg"), Some("j"), Some("example.com"))],
        to: vec![
            addr(None, Some("A Group"), None),
            addr(None, Some("a"), Some("b.example")),
            addr(None, None, None),
            addr(None, Some("someone"), Some(mime::MISSING_HOST)),
        ],
        cc: vec![
            addr(None, Some("undisclosed-recipients"), None),
            addr(None, None, None),
        ],
        in_reply_to: Some("<x@y> \"quoted\\\"".into()),
        message_id: Some("<nul\0id@x>".into()),
        ..mime::Envelope::default()
    };
    let got = wire(vec![MessageDataItem::Envelope(envelope(&e))]);
    // RFC 9051 §7.5.2: NIL for absent fields and empty lists; group start (NIL NIL name NIL)
    // and end (NIL NIL NIL NIL); encoded words kept; 8-bit text as a literal; quotes and
    // backslashes escaped; NUL, which IMAP cannot carry, dropped.
    let expected = "* 12 FETCH (ENVELOPE (NIL \"=?UTF-8?B?SGVsbG8gV8O2cmxk?= folded\" \
        (({5}\r\nJörg NIL \"j\" \"example.com\")) NIL NIL \
        ((NIL NIL \"A Group\" NIL)(NIL NIL \"a\" \"b.example\")(NIL NIL NIL NIL)\
        (NIL NIL \"someone\" \".MISSING-HOST-NAME.\")) \
        ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL \
        \"<x@y> \\\"quoted\\\\\\\"\" \"<nulid@x>\"))\r\n";
    assert_eq!(got, expected);
}

#[test]
fn strings_with_line_breaks_become_literals_anywhere() {
    // A hand-made meta (the store strips CR/LF, but the mapping must not rely on it).
    let mut b = plain(1, 1, &[("name", "two\r\nlines")], Some("ü"));
    if let BodyStructure::Single { ext, .. } = &mut b {
        ext.language = vec!["de\nch".into()];
    }
    let got = wire(vec![MessageDataItem::BodyStructure(body_structure(
        &b, true,
    ))]);
    let expected = "* 12 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"name\" {10}\r\ntwo\r\nlines) \
        {2}\r\nü NIL \"7BIT\" 1 1 NIL NIL ({5}\r\nde\nch) NIL))\r\n";
    assert_eq!(got, expected);
}

#[test]
fn huge_sizes_are_capped_and_message_global_is_basic() {
    let b = plain(u64::MAX, 1 << 40, &[], None);
    let got = wire(vec![MessageDataItem::Body(body_structure(&b, false))]);
    assert!(got.contains("\"7BIT\" 4294967295 4294967295)"), "{got}");
    // message/global (RFC 6532) cannot be written as "MESSAGE" "RFC822": basic form.
    let raw = crlf("Content-Type: message/global\n\nSubject: x\n\nbody\n");
    let meta = analyze(&raw);
    assert!(matches!(
        &meta.body,
        BodyStructure::Single {
            kind: SingleKind::Message { .. },
            ..
        }
    ));
    let got = wire(vec![MessageDataItem::Body(body_structure(
        &meta.body, false,
    ))]);
    assert_eq!(
        got,
        "* 12 FETCH (BODY (\"message\" \"global\" NIL NIL NIL \"7BIT\" 20))\r\n"
    );
    // Its part numbers still work as for message/rfc822.
    assert_eq!(text(&raw, "BODY[1.HEADER]"), "Subject: x\n\n");
    assert_eq!(text(&raw, "BODY[1.1]"), "body\n");
}

#[test]
fn empty_multipart_meta_still_encodes() {
    let b = BodyStructure::Multipart {
        parts: Vec::new(),
        subtype: "mixed".into(),
        params: Vec::new(),
        ext: mime::MultipartExt::default(),
    };
    let got = wire(vec![MessageDataItem::Body(body_structure(&b, false))]);
    let expected = "* 12 FETCH (BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \
        \"7BIT\" 0 0) \"mixed\"))\r\n";
    assert_eq!(got, expected);
}

#[test]
fn body_section_on_the_wire() {
    let raw = crlf(MIXED);
    let data = section(&raw, None);
    let literal = Literal::try_from(data.to_vec()).unwrap();
    let got = wire(vec![MessageDataItem::BodyExt {
        section: None,
        origin: None,
        data: literal.into(),
    }]);
    let expected = format!(
        "* 12 FETCH (BODY[] {{{}}}\r\n{})\r\n",
        raw.len(),
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(got, expected);
}

// ---------------------------------------------------------------- BODY[section]

/// RFC 3501 §6.4.5's example of a complex message, built part for part:
/// 1 TEXT/PLAIN, 2 APPLICATION/OCTET-STREAM, 3 MESSAGE/RFC822 (3.1 TEXT/PLAIN,
/// 3.2 APPLICATION/OCTET-STREAM), 4 MULTIPART/MIXED (4.1 IMAGE/GIF, 4.2 MESSAGE/RFC822
/// (4.2.1 TEXT/PLAIN, 4.2.2 MULTIPART/ALTERNATIVE (4.2.2.1 TEXT/PLAIN, 4.2.2.2 TEXT/RICHTEXT))).
const COMPLEX: &str = "From: Outer <outer@example.com>
To: you@example.org
Subject: complex
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"b1\"

preamble
--b1
Content-Type: text/plain; charset=us-ascii

part one
--b1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQF
--b1
Content-Type: message/rfc822

From: three@example.com
Subject: part three
Content-Type: multipart/mixed; boundary=\"b3\"

--b3
Content-Type: text/plain

three one
--b3
Content-Type: application/octet-stream

three two
--b3--
--b1
Content-Type: multipart/mixed; boundary=\"b4\"

--b4
Content-Type: image/gif
Content-Transfer-Encoding: base64

R0lGODlh
--b4
Content-Type: message/rfc822

From: four@example.com
Subject: four two
Content-Type: multipart/mixed; boundary=\"b42\"

--b42
Content-Type: text/plain

four two one
--b42
Content-Type: multipart/alternative; boundary=\"b422\"

--b422
Content-Type: text/plain

plain alt
--b422
Content-Type: text/richtext

<bold>rich</bold>
--b422--
--b42--
--b4--
--b1--
epilogue
";

#[test]
fn every_section_of_the_rfc3501_complex_message() {
    let raw = crlf(COMPLEX);
    let header = "From: Outer <outer@example.com>\nTo: you@example.org\nSubject: complex\n\
        MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n";
    let h3 = "From: three@example.com\nSubject: part three\n\
        Content-Type: multipart/mixed; boundary=\"b3\"\n\n";
    let t3 = "--b3\nContent-Type: text/plain\n\nthree one\n--b3\n\
        Content-Type: application/octet-stream\n\nthree two\n--b3--";
    let h42 = "From: four@example.com\nSubject: four two\n\
        Content-Type: multipart/mixed; boundary=\"b42\"\n\n";
    let t4222 = "--b422\nContent-Type: text/plain\n\nplain alt\n--b422\n\
        Content-Type: text/richtext\n\n<bold>rich</bold>\n--b422--";
    let t42 = format!(
        "--b42\nContent-Type: text/plain\n\nfour two one\n--b42\n\
        Content-Type: multipart/alternative; boundary=\"b422\"\n\n{t4222}\n--b42--"
    );
    let t4 = format!(
        "--b4\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n--b4\n\
        Content-Type: message/rfc822\n\n{h42}{t42}\n--b4--"
    );
    let all = String::from_utf8_lossy(&raw).replace("\r\n", "\n");
    let table: &[(&str, &str)] = &[
        ("BODY[]", &all),
        ("BODY[HEADER]", header),
        ("BODY[TEXT]", &all[header.len()..]),
        ("BODY[1]", "part one"),
        (
            "BODY[1.MIME]",
            "Content-Type: text/plain; charset=us-ascii\n\n",
        ),
        ("BODY[2]", "AAECAwQF"),
        ("BODY[3]", &format!("{h3}{t3}")),
        ("BODY[3.MIME]", "Content-Type: message/rfc822\n\n"),
        ("BODY[3.HEADER]", h3),
        ("BODY[3.TEXT]", t3),
        ("BODY[3.1]", "three one"),
        ("BODY[3.1.MIME]", "Content-Type: text/plain\n\n"),
        ("BODY[3.2]", "three two"),
        ("BODY[4]", &t4),
        (
            "BODY[4.MIME]",
            "Content-Type: multipart/mixed; boundary=\"b4\"\n\n",
        ),
        ("BODY[4.1]", "R0lGODlh"),
        (
            "BODY[4.1.MIME]",
            "Content-Type: image/gif\nContent-Transfer-Encoding: base64\n\n",
        ),
        ("BODY[4.2]", &format!("{h42}{t42}")),
        ("BODY[4.2.HEADER]", h42),
        ("BODY[4.2.TEXT]", &t42),
        ("BODY[4.2.1]", "four two one"),
        ("BODY[4.2.2]", t4222),
        ("BODY[4.2.2.1]", "plain alt"),
        ("BODY[4.2.2.2]", "<bold>rich</bold>"),
        ("BODY[4.2.2.2.MIME]", "Content-Type: text/richtext\n\n"),
        ("BODY[4.2.HEADER.FIELDS (subject)]", "Subject: four two\n\n"),
        (
            "BODY[3.HEADER.FIELDS.NOT (From Content-Type)]",
            "Subject: part three\n\n",
        ),
        // Parts that do not exist, and prefixes that are no message/rfc822, are empty.
        ("BODY[5]", ""),
        ("BODY[1.1]", ""),
        ("BODY[2.HEADER]", ""),
        ("BODY[4.TEXT]", ""),
        ("BODY[4.HEADER.FIELDS (From)]", ""),
        ("BODY[4.3]", ""),
        ("BODY[4.2.3]", ""),
        ("BODY[4.2.2.3.MIME]", ""),
        ("BODY[4.2.2.1.1]", ""),
        ("BODY[4294967295]", ""),
    ];
    for (item, expected) in table {
        assert_eq!(text(&raw, item), *expected, "{item}");
    }
}

#[test]
fn single_part_message_has_part_one_only() {
    let raw = crlf("Subject: one\nContent-Type: text/plain\n\nbody line\n");
    // RFC 9051 §6.4.5: a message that is not multipart has only part 1, its body; the
    // MIME header of that part is the message header.
    assert_eq!(text(&raw, "BODY[1]"), "body line\n");
    assert_eq!(text(&raw, "BODY[TEXT]"), "body line\n");
    assert_eq!(
        text(&raw, "BODY[1.MIME]"),
        "Subject: one\nContent-Type: text/plain\n\n"
    );
    assert_eq!(text(&raw, "BODY[2]"), "");
    assert_eq!(text(&raw, "BODY[1.1]"), "");
    assert_eq!(text(&raw, "BODY[1.HEADER]"), "");
}

#[test]
fn top_level_message_rfc822_numbers_through_part_one() {
    let raw = crlf(
        "Subject: outer\nContent-Type: message/rfc822\n\n\
         Subject: inner\nContent-Type: multipart/mixed; boundary=x\n\n\
         --x\n\nfirst\n--x\n\nsecond\n--x--\n",
    );
    assert_eq!(
        text(&raw, "BODY[1.HEADER]"),
        "Subject: inner\nContent-Type: multipart/mixed; boundary=x\n\n"
    );
    assert_eq!(text(&raw, "BODY[1.1]"), "first");
    assert_eq!(text(&raw, "BODY[1.2]"), "second");
    assert_eq!(text(&raw, "BODY[1.2.MIME]"), "\n");
    assert_eq!(text(&raw, "BODY[1.3]"), "");
}

const FOLDED: &str = "Received: from a\n\tby b; Mon, 7 Feb 1994\nSubject: first\n  folded subject\n\
    X-Empty:\nsubject : obsolete space\nFrom: f@example.com\nTo: t@example.com\n\nbody\n";

#[test]
fn header_fields_keep_order_and_folding() {
    let raw = crlf(FOLDED);
    let table: &[(&str, &str)] = &[
        // Case-insensitive names, original order, folding kept, blank line last.
        (
            "BODY[HEADER.FIELDS (SUBJECT FROM)]",
            "Subject: first\n  folded subject\nsubject : obsolete space\nFrom: f@example.com\n\n",
        ),
        (
            "BODY[HEADER.FIELDS (to received)]",
            "Received: from a\n\tby b; Mon, 7 Feb 1994\nTo: t@example.com\n\n",
        ),
        ("BODY[HEADER.FIELDS (X-Empty)]", "X-Empty:\n\n"),
        // Nothing matched: still the blank line.
        ("BODY[HEADER.FIELDS (Cc Bcc)]", "\n"),
        // Exact match only: no prefixes.
        ("BODY[HEADER.FIELDS (Subj X)]", "\n"),
        (
            "BODY[HEADER.FIELDS.NOT (Subject Received X-Empty)]",
            "From: f@example.com\nTo: t@example.com\n\n",
        ),
        (
            "BODY[HEADER.FIELDS.NOT (Nothing)]",
            &FOLDED[..FOLDED.len() - 5],
        ),
        // RFC 9051 §6.4.5 partial: origin and length inside the filtered result.
        ("BODY[HEADER.FIELDS (To)]<4.9>", "t@example"),
    ];
    for (item, expected) in table {
        assert_eq!(text(&raw, item), *expected, "{item}");
    }
}

#[test]
fn header_fields_of_odd_headers() {
    // No blank line and no body (RFC 9051 §6.4.5: then there is no blank line to return).
    let raw = b"Subject: only a header\r\nFrom: x@y";
    assert_eq!(text(raw, "BODY[HEADER.FIELDS (From)]"), "From: x@y\n");
    assert_eq!(text(raw, "BODY[HEADER.FIELDS (Cc)]"), "");
    // Bare LF headers: fields split on LF; the added blank line is CRLF.
    let raw = b"Subject: bare\nX: 1\n continued\n\nbody";
    assert_eq!(
        fetch(raw, "BODY[HEADER.FIELDS (X)]").unwrap(),
        b"X: 1\n continued\n\r\n"
    );
    assert_eq!(
        fetch(raw, "BODY[HEADER]").unwrap(),
        b"Subject: bare\nX: 1\n continued\n\n"
    );
    // No header at all: everything is text.
    let raw = b"no header here\r\njust text\r\n";
    assert_eq!(fetch(raw, "BODY[HEADER]").unwrap(), b"");
    assert_eq!(
        fetch(raw, "BODY[HEADER.FIELDS (Subject)]").unwrap(),
        b"\r\n"
    );
    assert_eq!(fetch(raw, "BODY[TEXT]").unwrap(), raw);
    assert_eq!(fetch(raw, "BODY[1]").unwrap(), raw);
}

#[test]
fn partial_table() {
    let bytes = b"0123456789";
    type Case = (Option<(u32, u32)>, &'static [u8]);
    let cases: &[Case] = &[
        (None, b"0123456789"),
        (Some((0, 1)), b"0"),
        (Some((0, 10)), b"0123456789"),
        (Some((0, 4_000_000_000)), b"0123456789"),
        (Some((3, 4)), b"3456"),
        (Some((9, 5)), b"9"),
        // RFC 9051 §6.4.5: an origin past the end gives an empty string.
        (Some((10, 1)), b""),
        (Some((11, 1)), b""),
        (Some((u32::MAX, u32::MAX)), b""),
    ];
    for (p, expected) in cases {
        let p = p.map(|(o, l)| (o, nz(l)));
        assert_eq!(partial(bytes, p), *expected, "{p:?}");
    }
    assert_eq!(partial(b"", Some((0, nz(5)))), b"");
    let raw = crlf(COMPLEX);
    assert_eq!(text(&raw, "BODY[4.2.1]<5.3>"), "two");
    assert_eq!(text(&raw, "BODY[4.2.1]<100.3>"), "");
    assert_eq!(text(&raw, "BODY.PEEK[HEADER]<0.5>"), "From:");
}

// ---------------------------------------------------------------- BINARY

#[test]
fn binary_decodes_base64_and_quoted_printable() {
    let raw = crlf(MIXED);
    let bin = |item| fetch(&raw, item);
    assert_eq!(bin("BINARY[2]"), Ok(vec![0, 1, 2, 3, 4, 5]));
    assert_eq!(bin("BINARY[2]<2.3>"), Ok(vec![2, 3, 4]));
    assert_eq!(
        bin("BINARY[1.2]"),
        Ok("<p>Hello wörld</p>".as_bytes().to_vec())
    );
    assert_eq!(bin("BINARY[1.1]"), Ok(b"Hello\r\nworld".to_vec()));
    // message/rfc822 is never encoded (RFC 2046 §5.2.1): as is.
    assert_eq!(bin("BINARY[3]"), fetch(&raw, "BODY[3]"));
    assert_eq!(bin("BINARY[3.1]"), Ok(b"Inner body\r\nline two".to_vec()));
    assert_eq!(bin("BINARY[]"), Ok(raw.clone()));
    assert_eq!(bin("BINARY[1]"), Err(BinaryError::Multipart));
    assert_eq!(bin("BINARY[9]"), Ok(Vec::new()));
    assert_eq!(bin("BINARY[2.1]"), Ok(Vec::new()));
}

#[test]
fn binary_of_a_long_base64_attachment() {
    let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let encoded = {
        let mut s = String::new();
        for chunk in payload.chunks(57) {
            s += &base64_encode(chunk);
            s += "\r\n";
        }
        s
    };
    let raw = format!(
        "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\
         Content-Type: image/png\r\nContent-Transfer-Encoding: BASE64\r\n\r\n{encoded}--z--\r\n"
    );
    assert_eq!(
        binary(raw.as_bytes(), &[nz(1)]).unwrap().as_ref(),
        &payload[..]
    );
    let whole = binary(raw.as_bytes(), &[nz(1)]).unwrap();
    assert_eq!(partial(&whole, Some((996, nz(10)))), &payload[996..]);
}

/// A plain base64 encoder, to build test input (RFC 4648 §4).
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn binary_unknown_cte_and_identity_encodings() {
    let part = |cte: &str| {
        crlf(&format!(
            "Content-Type: multipart/mixed; boundary=z\n\n--z\n\
             Content-Transfer-Encoding: {cte}\n\nbegin 644 x\n=41\n--z--\n"
        ))
    };
    let unknown = BinaryError::UnknownCte("x-uuencode".into());
    assert_eq!(binary(&part("x-uuencode"), &[nz(1)]), Err(unknown));
    for cte in ["7bit", "8BIT", "binary"] {
        let raw = part(cte);
        let got = binary(&raw, &[nz(1)]).unwrap();
        assert_eq!(got.as_ref(), b"begin 644 x\r\n=41", "{cte}");
    }
    let raw = part("quoted-printable");
    let got = binary(&raw, &[nz(1)]).unwrap();
    assert_eq!(got.as_ref(), b"begin 644 x\r\nA");
    // The top-level body of a single-part message is part 1.
    let raw = crlf("Content-Transfer-Encoding: base64\n\nSGk=\n");
    assert_eq!(binary(&raw, &[nz(1)]).unwrap().as_ref(), b"Hi");
    assert_eq!(binary(&raw, &[]).unwrap().as_ref(), &raw[..]);
    // An encoded message/rfc822 is a leaf (the store says APPLICATION/OCTET-STREAM): decoded.
    let raw = crlf(
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQpib2R5\n",
    );
    assert_eq!(
        binary(&raw, &[nz(1)]).unwrap().as_ref(),
        b"Subject: x\r\n\r\nbody"
    );
}

// ---------------------------------------------------------------- agreement with BODYSTRUCTURE

/// Every part number the stored BODYSTRUCTURE shows, with the size it states (None for a
/// multipart, which has no size field).
fn numbered(body: &BodyStructure) -> Vec<(Vec<u32>, Option<u64>)> {
    fn message_parts(body: &BodyStructure, prefix: &[u32], out: &mut Vec<(Vec<u32>, Option<u64>)>) {
        match body {
            BodyStructure::Multipart { parts, .. } => {
                for (i, p) in parts.iter().enumerate() {
                    walk(p, &[prefix, &[i as u32 + 1]].concat(), out);
                }
            }
            single => walk(single, &[prefix, &[1]].concat(), out),
        }
    }
    fn walk(body: &BodyStructure, number: &[u32], out: &mut Vec<(Vec<u32>, Option<u64>)>) {
        match body {
            BodyStructure::Multipart { .. } => {
                out.push((number.to_vec(), None));
                message_parts(body, number, out);
            }
            BodyStructure::Single { basic, kind, .. } => {
                out.push((number.to_vec(), Some(basic.size)));
                if let SingleKind::Message { body, .. } = kind {
                    message_parts(body, number, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    message_parts(body, &[], &mut out);
    out
}

/// Every part BODYSTRUCTURE shows is fetchable, with exactly the stated size; returns how
/// many parts were checked.
fn assert_agrees(raw: &[u8]) -> usize {
    let meta = analyze(raw);
    let parts = Parts::new(raw);
    let numbers = numbered(&meta.body);
    for (number, size) in &numbers {
        let path: Vec<NonZeroU32> = number.iter().map(|&n| nz(n)).collect();
        let node = parts.find(&path);
        let label = format!(
            "{number:?} of {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(60)])
        );
        if let Some(size) = size {
            let body = section(raw, Some(&Section::Part(part(&path))));
            assert_eq!(body.len() as u64, *size, "size of {label}");
        } else {
            assert!(
                matches!(node.map(|n| &n.kind), Some(parts::Kind::Multipart(_))),
                "multipart {label}"
            );
        }
    }
    // RFC822.HEADER size stored at delivery = BODY[HEADER] here.
    let header = section(raw, Some(&Section::Header(None)));
    assert_eq!(header.len() as u64, meta.search.header_size, "header size");
    numbers.len()
}

#[test]
fn part_numbers_and_sizes_agree_with_the_stored_bodystructure() {
    let digest = "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst\n\
        --d\nContent-Type: text/plain\n\nnot a message\n--d\n\nSubject: three\n\nthird\n--d--\n";
    let rfc822_in_alternative = "Content-Type: multipart/alternative; boundary=a\n\n--a\n\
        Content-Type: message/rfc822\n\nSubject: s\nContent-Type: text/html\n\n<b>x</b>\n--a--\n";
    let no_subtype = "Content-Type: multipart; boundary=q\n\n--q\n\nx\n--q--\n";
    let cases = [
        (COMPLEX, 12),
        (MIXED, 6),
        (digest, 5),
        (rfc822_in_alternative, 2),
        (no_subtype, 1),
        (FOLDED, 1),
    ];
    for (message, count) in cases {
        for raw in [crlf(message), message.as_bytes().to_vec()] {
            assert_eq!(assert_agrees(&raw), count, "{message}");
        }
    }
    assert_agrees(&rfc3501_example());
}

// ---------------------------------------------------------------- hostile input

fn nested_multiparts(depth: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..depth {
        s += &format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n");
    }
    s += "Content-Type: text/plain\n\nleaf\n";
    s.extend((0..depth).rev().map(|i| format!("--b{i}--\n")));
    crlf(&s)
}

fn nested_messages(depth: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..depth {
        s += &format!("From: u{i}@example.com\nContent-Type: message/rfc822\n\n");
    }
    s += "Subject: innermost\n\nx\n";
    crlf(&s)
}

/// Inputs that must neither panic nor disagree with the stored BODYSTRUCTURE.
fn hostile() -> Vec<Vec<u8>> {
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut cases: Vec<Vec<u8>> = [
        "",
        "\r\n",
        "\n\n\n",
        ":",
        "no header at all",
        "Subject: bare\nFrom: lf\n\nbody\n",
        "Subject: no body",
        "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nunterminated",
        "Content-Type: multipart/mixed; boundary=x\r\n\r\nno boundary ever",
        "Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nno boundary parameter\r\n--x--\r\n",
        "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n--x\r\n",
        "Content-Type: multipart/digest; boundary=y\r\n\r\n--y\r\n\r\n--y",
        "Content-Type: message/rfc822\r\n\r\n",
        "Content-Type: message/rfc822\r\n\r\nSubject: truncated inner",
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!*** not base64 ===\r\nQQ\r\n",
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=\r\n=Z=\r=",
        "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx\r\n----\r\n",
        "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n",
        "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n--x\r\n--x--",
        "\0\0\0: \0\r\n\r\n\0",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    cases.push(noise);
    cases.push(nested_multiparts(1000));
    cases.push(nested_messages(1000));
    cases.push(crlf(COMPLEX)[..crlf(COMPLEX).len() / 2].to_vec());
    cases.push(crlf(MIXED)[..700].to_vec());
    cases
}

#[test]
fn hostile_inputs_do_not_panic_and_still_agree() {
    let paths: Vec<Vec<NonZeroU32>> = [
        &[][..],
        &[1],
        &[2],
        &[1, 1],
        &[1, 2, 3],
        &[1; 30],
        &[u32::MAX],
    ]
    .iter()
    .map(|p| p.iter().map(|&n| nz(n)).collect())
    .collect();
    let items = [
        "BODY[]",
        "BODY[HEADER]",
        "BODY[TEXT]",
        "BODY[1]",
        "BODY[1.MIME]",
        "BODY[1.HEADER]",
        "BODY[1.TEXT]",
        "BODY[1.1.1]",
        "BODY[HEADER.FIELDS (Subject Content-Type)]",
        "BODY[1.HEADER.FIELDS.NOT (From)]",
        "BODY[2]<0.10>",
        "BODY[TEXT]<4294967295.4294967295>",
    ];
    for raw in hostile() {
        assert_agrees(&raw);
        for item in items {
            let got = fetch(&raw, item).unwrap();
            assert!(got.len() <= raw.len() + 4, "{item}");
        }
        for path in &paths {
            // Ok or a typed error; never a panic.
            let _ = binary(&raw, path);
        }
        let meta = analyze(&raw);
        for extensions in [false, true] {
            let items = vec![
                MessageDataItem::Envelope(envelope(&meta.envelope)),
                MessageDataItem::BodyStructure(body_structure(&meta.body, extensions)),
            ];
            // imap-codec's parser stops at 8 levels of body nesting (a client-side limit;
            // the grammar has none): deeper structures are only encoded.
            let out = if depth(&meta.body) <= 8 {
                wire(items)
            } else {
                String::from_utf8(encode(items).1).unwrap()
            };
            assert!(out.starts_with("* 12 FETCH (ENVELOPE ("));
        }
    }
}

#[test]
fn deep_nesting_is_numbered_to_the_store_limit() {
    let depth = mime::MAX_DEPTH;
    let raw = nested_multiparts(1000);
    // MAX_DEPTH multiparts are expanded; the next container is one leaf with all the rest.
    let inner = vec![nz(1); depth];
    let leaf = fetch_path(&raw, &inner);
    let next = format!("--b{depth}\r\n");
    assert!(leaf.starts_with(next.as_bytes()), "{:?}", &leaf[..20]);
    assert!(fetch_path(&raw, &vec![nz(1); depth + 1]).is_empty());
    let raw = nested_messages(1000);
    // Each message/rfc822 level is part 1 of the one before; its header is N.HEADER.
    let header = section(&raw, Some(&Section::Header(Some(part(&[nz(1); 3])))));
    assert_eq!(
        header.as_ref(),
        b"From: u3@example.com\r\nContent-Type: message/rfc822\r\n\r\n"
    );
}

fn fetch_path(raw: &[u8], path: &[NonZeroU32]) -> Vec<u8> {
    section(raw, Some(&Section::Part(part(path)))).into_owned()
}
