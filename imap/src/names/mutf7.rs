//! RFC 3501 §5.1.3 modified UTF-7, the mailbox name encoding of IMAP4rev1 sessions
//! (IMAP4rev2 and UTF8=ACCEPT sessions use UTF-8 as is).
//!
//! What it owns: both directions, strictly. What it must not do: accept two spellings of one
//! name — decoding refuses everything our encoder would not have produced, so a name has one
//! wire form and a client cannot reach a mailbox under an alias.

use base64::Engine;
use base64::alphabet::IMAP_MUTF7;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use super::NameError;

/// RFC 3501 §5.1.3: "modified BASE64", RFC 2045 base64 with `,` for `/`, and "=" padding is
/// omitted; no stray bits allowed either, so each run has one spelling.
const MODIFIED_BASE64: GeneralPurpose = GeneralPurpose::new(
    &IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// RFC 3501 §5.1.3: "printable US-ASCII characters, except for '&', represent themselves".
fn is_direct(ch: char) -> bool {
    (' '..='~').contains(&ch) && ch != '&'
}

/// Decode a client's modified UTF-7 name to UTF-8. `&-` is `&`; anything malformed or not in
/// canonical form is refused (see [`NameError`]).
pub fn decode_mutf7(name: &str) -> Result<String, NameError> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    // Where the previous encoded run ended, to refuse `&AAA-&AAA-` (one run would do).
    let mut run_ended_at = None;
    while let Some(&b) = bytes.get(i) {
        if b != b'&' {
            if !is_direct(char::from(b)) {
                return Err(NameError::Unencoded(i));
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let run_start = i + 1;
        let Some(len) = bytes[run_start..].iter().position(|&c| c == b'-') else {
            return Err(NameError::Unterminated(i));
        };
        let run = &bytes[run_start..run_start + len];
        let next = run_start + len + 1;
        // RFC 3501 §5.1.3: '&' is represented by the two-octet sequence "&-".
        if run.is_empty() {
            out.push('&');
            i = next;
            continue;
        }
        if run_ended_at == Some(i) {
            return Err(NameError::NonCanonical(i));
        }
        let octets = MODIFIED_BASE64
            .decode(run)
            .map_err(|_| NameError::BadBase64(run_start))?;
        // RFC 3501 §5.1.3: the run is UTF-16 (big-endian, RFC 2152).
        if octets.len() % 2 != 0 {
            return Err(NameError::BadUtf16(run_start));
        }
        let units = octets
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
        for ch in char::decode_utf16(units) {
            let ch = ch.map_err(|_| NameError::BadUtf16(run_start))?;
            // RFC 3501 §5.1.3: "Modified BASE64 MUST NOT be used to represent any printing
            // US-ASCII character which can represent itself" (nor '&', which has "&-").
            if (' '..='~').contains(&ch) {
                return Err(NameError::NonCanonical(run_start));
            }
            out.push(ch);
        }
        run_ended_at = Some(next);
        i = next;
    }
    Ok(out)
}

/// Encode one of our (UTF-8) names for an IMAP4rev1 client.
pub fn encode_mutf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u8> = Vec::new();
    let flush = |out: &mut String, pending: &mut Vec<u8>| {
        if !pending.is_empty() {
            out.push('&');
            out.push_str(&MODIFIED_BASE64.encode(&pending[..]));
            out.push('-');
            pending.clear();
        }
    };
    for ch in name.chars() {
        if is_direct(ch) {
            flush(&mut out, &mut pending);
            out.push(ch);
        } else if ch == '&' {
            flush(&mut out, &mut pending);
            out.push_str("&-");
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                pending.extend_from_slice(&unit.to_be_bytes());
            }
        }
    }
    flush(&mut out, &mut pending);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_table() {
        let cases = [
            ("", ""),
            ("INBOX", "INBOX"),
            ("a&b", "a&-b"),
            ("&", "&-"),
            ("&&", "&-&-"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Gelöschte Elemente", "Gel&APY-schte Elemente"),
            // RFC 3501 §5.1.3's example, "~peter/mail/台北/日本語".
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Черновики", "&BCcENQRABD0EPgQyBDgEOgQ4-"),
            ("😀", "&2D3eAA-"),
            ("a😀b", "a&2D3eAA-b"),
            ("tab\there", "tab&AAk-here"),
            ("é&é", "&AOk-&-&AOk-"),
            ("~ \u{7f}", "~ &AH8-"),
        ];
        for (utf8, wire) in cases {
            assert_eq!(encode_mutf7(utf8), wire, "encode {utf8:?}");
            assert_eq!(decode_mutf7(wire).as_deref(), Ok(utf8), "decode {wire:?}");
        }
    }

    #[test]
    fn malformed_table() {
        let cases = [
            ("&", NameError::Unterminated(0)),
            ("abc&Jjo", NameError::Unterminated(3)),
            ("&-&", NameError::Unterminated(2)),
            // Wrong alphabet ('/' instead of ','), padding, stray bits, bad length.
            ("&U/BTFw-", NameError::BadBase64(1)),
            ("&AOk=-", NameError::BadBase64(1)),
            ("&AOl-", NameError::BadBase64(1)),
            ("&A-", NameError::BadBase64(1)),
            ("&*-", NameError::BadBase64(1)),
            // One octet, and a lone high / low surrogate.
            ("&AA-", NameError::BadUtf16(1)),
            ("&2D0-", NameError::BadUtf16(1)),
            ("&3gA-", NameError::BadUtf16(1)),
            // Printable ASCII encoded ("a", "&"), and two runs that should be one.
            ("&AGE-", NameError::NonCanonical(1)),
            ("&ACY-", NameError::NonCanonical(1)),
            ("&AOk-&AOk-", NameError::NonCanonical(5)),
            ("x&AOkAYQ-", NameError::NonCanonical(2)),
            // Characters that must be encoded.
            ("caf\u{e9}", NameError::Unencoded(3)),
            ("a\tb", NameError::Unencoded(1)),
            ("a\r\n", NameError::Unencoded(1)),
        ];
        for (wire, want) in cases {
            assert_eq!(decode_mutf7(wire), Err(want.clone()), "{wire:?}");
        }
    }

    #[test]
    fn amp_dash_separates_runs() {
        // "&-" between two runs is fine: it is a literal '&', not an empty run.
        assert_eq!(decode_mutf7("&AOk-&-&AOk-").as_deref(), Ok("é&é"));
        // A run right after "&-" is fine too.
        assert_eq!(decode_mutf7("&-&AOk-").as_deref(), Ok("&é"));
    }

    #[test]
    fn accepted_names_are_canonical() {
        // Whatever decodes must re-encode to the same octets, over many generated names.
        let alphabet = [
            "a", "&", "-", "A", ",", "+", "é", "台", "😀", " ", "/", "\t",
        ];
        let mut state: u32 = 12345;
        for _ in 0..2000 {
            let mut name = String::new();
            for _ in 0..8 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                name.push_str(alphabet[(state >> 16) as usize % alphabet.len()]);
            }
            let wire = encode_mutf7(&name);
            assert!(wire.is_ascii());
            assert_eq!(decode_mutf7(&wire).as_deref(), Ok(name.as_str()));
            // Random wire-like strings: either refused or canonical.
            let noisy: String = wire.chars().rev().collect();
            if let Ok(decoded) = decode_mutf7(&noisy) {
                assert_eq!(encode_mutf7(&decoded), noisy);
            }
        }
    }
}
