//! Any bytes as one command line: `parse_command` must not panic, and a rejection must be a
//! well-formed 5xx reply. Also fed: the input padded past the 1000-octet line limit, and
//! the input with an LF in it (the session never passes either, the parser must cope anyway).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_smtp::proto::{MAX_COMMAND_LINE, parse_command};

fn check(line: &[u8]) {
    if let Err(rejected) = parse_command(line) {
        let r = rejected.0;
        assert!((500..600).contains(&r.code), "rejection {r:?}");
        let wire = r.to_bytes();
        assert!(wire.ends_with(b"\r\n"), "{wire:?}");
        // CR and LF only as the line ends: no input can smuggle a line into the reply.
        let in_pairs = wire.windows(2).filter(|w| w == b"\r\n").count() * 2;
        let crlf = wire.iter().filter(|&&b| b == b'\r' || b == b'\n').count();
        assert_eq!(in_pairs, crlf, "stray CR/LF in {wire:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);

    // Over the limit: pad with the last byte (digits grow a SIZE= past u64, letters an address).
    let mut long = data.to_vec();
    let pad = data.last().copied().unwrap_or(b'a');
    long.resize(long.len().max(MAX_COMMAND_LINE + 1), pad);
    check(&long);

    // An LF inside the line (and at its end).
    let mid = data.len() / 2;
    let mut split = data[..mid].to_vec();
    split.push(b'\n');
    split.extend_from_slice(&data[mid..]);
    check(&split);
    split.push(b'\n');
    check(&split);
});
