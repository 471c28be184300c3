//! Any bytes as the octets after DATA's 354, in three reads: the DATA end scanner must agree
//! with a whole-buffer reading of RFC 5321 §4.1.1.4 and §4.5.2 on where the data ends, what
//! the content is (unstuffed) and how much input it used, whatever the reads. Bytes 0 and 1
//! pick the two split points (`len * b / 255`).
//!
//! Checked: no panic; the end (or no end) is where the reference finds the first
//! `CRLF "." CRLF` of `CRLF + input`; the content handed to the sink equals the reference's;
//! `consumed` never exceeds the read it ended in, and the octets after it are left alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_smtp::proto::data_end::{DataEnd, Scan};

/// Written apart from the scanner (and from the unit tests' model): find the end mark in the
/// whole buffer, then drop the dot that starts a line (a line starts after CR LF, and at the
/// start of the data) in what precedes it.
fn reference(input: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut framed = b"\r\n".to_vec();
    framed.extend_from_slice(input);
    let at = framed.windows(5).position(|w| w == b"\r\n.\r\n")?;
    let stuffed = &input[..at];
    let content = stuffed
        .iter()
        .enumerate()
        .filter(|&(i, &b)| {
            let line_start = i == 0 || (i >= 2 && &stuffed[i - 2..i] == b"\r\n");
            !(line_start && b == b'.')
        })
        .map(|(_, &b)| b)
        .collect();
    Some((content, at + 3))
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let (a, b) = (usize::from(*a), usize::from(*b));
    let first = rest.len() * a.min(b) / 255;
    let second = rest.len() * a.max(b) / 255;
    let reads = [&rest[..first], &rest[first..second], &rest[second..]];

    let mut scanner = DataEnd::new();
    let mut content = Vec::new();
    let mut found = None;
    let mut offset = 0;
    for read in reads {
        match scanner.scan(read, &mut |c: &[u8]| content.extend_from_slice(c)) {
            Scan::More => offset += read.len(),
            Scan::Ended { consumed } => {
                assert!(consumed >= 1 && consumed <= read.len(), "consumed {consumed}");
                found = Some(offset + consumed);
                break;
            }
        }
    }
    match reference(rest) {
        Some((expected, used)) => {
            assert_eq!(found, Some(used), "end of {:?}", rest.escape_ascii().to_string());
            assert_eq!(content, expected, "content of {:?}", rest.escape_ascii().to_string());
        }
        None => assert_eq!(found, None, "no end in {:?}", rest.escape_ascii().to_string()),
    }
});
