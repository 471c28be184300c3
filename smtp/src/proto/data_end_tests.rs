//! The DATA end scanner against a whole-buffer reference model, on every short sequence of
//! the octets that matter, split into reads in every way.

use super::{DataEnd, Scan};

/// The reference: RFC 5321 §4.1.1.4 and §4.5.2 read literally on the whole input. The data
/// starts at the start of a line, so the end mark is the first `CRLF . CRLF` of
/// `CRLF + input`; the content is what comes before its `.`, and every line of it (lines end
/// at CRLF, nowhere else) that starts with a dot loses that dot.
/// Returns the content and the input octets used, or `None` without an end mark.
fn reference(input: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut framed = b"\r\n".to_vec();
    framed.extend_from_slice(input);
    let at = framed.windows(5).position(|w| w == b"\r\n.\r\n")?;
    // In `input`, the end mark's "." is at `at` and its CR LF end at `at + 3`.
    let stuffed = &input[..at];
    let mut content = Vec::new();
    let mut rest = stuffed;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |p| p + 2);
        let (line, tail) = rest.split_at(line_end);
        content.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        if tail.is_empty() {
            break;
        }
        rest = tail;
    }
    Some((content, at + 3))
}

/// Feed `reads` to a new scanner in turn; the content and the octets used up to the end mark
/// (counted across reads), or `None` if it never ended. Reads after the end are not fed.
fn scan(reads: &[&[u8]]) -> Option<(Vec<u8>, usize)> {
    let mut scanner = DataEnd::new();
    let mut content = Vec::new();
    let mut offset = 0;
    for read in reads {
        match scanner.scan(read, &mut |b: &[u8]| content.extend_from_slice(b)) {
            Scan::More => offset += read.len(),
            Scan::Ended { consumed } => {
                assert!(consumed <= read.len());
                return Some((content, offset + consumed));
            }
        }
    }
    None
}

/// Every sequence of up to `max` octets over `alphabet`.
fn sequences(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut all = vec![Vec::new()];
    let mut last = vec![Vec::new()];
    for _ in 0..max {
        let mut next = Vec::new();
        for s in &last {
            for &b in alphabet {
                let mut t = s.clone();
                t.push(b);
                next.push(t);
            }
        }
        all.extend(next.iter().cloned());
        last = next;
    }
    all
}

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[test]
fn every_short_sequence_in_every_split_matches_the_reference() {
    // After a line and at the very start of the data; a final end mark so every case ends,
    // and a pipelined command after it that must be left alone.
    let mut cases = 0;
    for seq in sequences(b"\r\n.x", 5) {
        for prefix in [&b"line\r\n"[..], b""] {
            let mut input = prefix.to_vec();
            input.extend_from_slice(&seq);
            input.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
            let expected = reference(&input).expect("the final end mark");
            let n = input.len();
            // One read; two reads at every split; three at every pair of splits.
            for a in 0..=n {
                for b in a..=n {
                    let reads = [&input[..a], &input[a..b], &input[b..]];
                    assert_eq!(
                        scan(&reads),
                        Some(expected.clone()),
                        "input {} split at {a}, {b}",
                        show(&input)
                    );
                    cases += 1;
                }
            }
            // Octet by octet.
            let octets: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(scan(&octets), Some(expected), "{} by octets", show(&input));
        }
    }
    assert!(cases > 500_000, "{cases}");
}

#[test]
fn without_an_end_mark_everything_is_used_and_nothing_ends() {
    for seq in sequences(b"\r\n.x", 5) {
        let mut input = b"line\r\n".to_vec();
        input.extend_from_slice(&seq);
        if reference(&input).is_some() {
            continue;
        }
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(scan(&[a, b]), None, "{}", show(&input));
        }
    }
}

#[test]
fn the_reference_reads_the_rfc() {
    // RFC 5321 §4.1.1.4: CRLF.CRLF ends the data; the CRLF before the dot is content.
    assert_eq!(reference(b"a\r\n.\r\n"), Some((b"a\r\n".to_vec(), 6)));
    // The data starts at a line start: an immediate "." line is an empty message.
    assert_eq!(reference(b".\r\nNOOP\r\n"), Some((Vec::new(), 3)));
    // RFC 5321 §4.5.2: a leading dot is removed, on the first line too.
    assert_eq!(
        reference(b"..a\r\n..\r\n.\r\n"),
        Some((b".a\r\n.\r\n".to_vec(), 12))
    );
    assert_eq!(reference(b"a\n.\n"), None);
}

#[test]
fn smuggling_sequences_do_not_end_the_data() {
    // The published SMTP smuggling end marks: none of them ends the data, so the "second
    // message" after them stays inside the first; the real end mark comes last.
    for mark in [
        &b"\r\n.\r\r\n"[..],
        b"\r\n.\r\r\r\n",
        b"\n.\n",
        b"\r.\r\n",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\n.\r",
    ] {
        let mut input = b"Subject: one\r\n\r\nfirst".to_vec();
        input.extend_from_slice(mark);
        let smuggled = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n\
                         Subject: two\r\n\r\nsecond\r\n";
        input.extend_from_slice(smuggled);
        let end = input.len();
        input.extend_from_slice(b".\r\nQUIT\r\n");
        let (content, consumed) = scan(&[&input]).expect("the real end mark");
        assert_eq!(consumed, end + 3, "{}", show(mark));
        assert!(
            content.ends_with(smuggled),
            "{}: {}",
            show(mark),
            show(&content)
        );
    }
}

#[test]
fn a_read_that_ends_on_a_held_octet() {
    let mut s = DataEnd::new();
    let mut content = Vec::new();
    let mut sink = |b: &[u8]| content.extend_from_slice(b);
    assert_eq!(s.scan(b"a\r\n.", &mut sink), Scan::More);
    assert_eq!(s.scan(b"\r", &mut sink), Scan::More);
    // The held ".\r" turns out to be a stuffed dot and a CR of the content.
    assert_eq!(s.scan(b"x\r\n.\r", &mut sink), Scan::More);
    assert_eq!(
        s.scan(b"\nRSET\r\n", &mut sink),
        Scan::Ended { consumed: 1 }
    );
    assert_eq!(content, b"a\r\n\rx\r\n");
}
