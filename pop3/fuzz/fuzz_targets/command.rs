//! Any bytes as what a POP3 client sends. Byte 0's low nibble is the size of the chunks the
//! rest arrives in (0: all at once); each line the bounded splitter yields goes to
//! `parse_command`. Checked: nothing panics; the splitter never holds more than one chunk
//! plus the line limit; a line it yields is within the limit; a rejection's text stays on
//! one line. The same bytes, as a message, go through the RETR and TOP dot-stuffer in those
//! chunks: un-stuffing the RETR answer gives the message back (with CRLF line ends), and no
//! line before the end is the lone `.` terminator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_pop3::proto::stuff::unstuff;
use mailroom_pop3::proto::{DotStuffer, Line, LineBuffer, MAX_LINE, Progress, parse_command};

fn lines(data: &[u8], chunk: usize) {
    let mut buffer = LineBuffer::new();
    for piece in data.chunks(chunk) {
        buffer.push(piece);
        while let Some(line) = buffer.next_line(MAX_LINE) {
            if let Line::Complete(line) = line {
                assert!(line.len() < MAX_LINE, "a line of {} octets", line.len());
                if let Err(e) = parse_command(&line) {
                    let text = e.to_string();
                    assert!(!text.contains(['\r', '\n']), "{text:?}");
                }
            }
        }
        assert!(buffer.held() < MAX_LINE + chunk, "held {}", buffer.held());
    }
}

/// What the client should see: line ends made CRLF, a last line closed.
fn normalized(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    match data.last() {
        None | Some(b'\n') => {}
        Some(b'\r') => out.push(b'\n'),
        Some(_) => out.extend_from_slice(b"\r\n"),
    }
    out
}

fn stuffed(data: &[u8], chunk: usize, mut s: DotStuffer) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        if s.push(piece, &mut out) == Progress::Done {
            break;
        }
    }
    s.finish(&mut out);
    let body = &out[..out.len() - 3];
    assert!(out.ends_with(b".\r\n"));
    assert!(
        !body.starts_with(b".\r\n") && !body.windows(5).any(|w| w == b"\r\n.\r\n"),
        "a terminator inside the answer"
    );
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else {
        return;
    };
    let chunk = match usize::from(knob & 0x0f) {
        0 => rest.len().max(1),
        n => n,
    };
    lines(rest, chunk);
    let retr = stuffed(rest, chunk, DotStuffer::whole());
    assert_eq!(unstuff(&retr), Some(normalized(rest)));
    stuffed(rest, chunk, DotStuffer::top(u64::from(knob >> 4)));
});
