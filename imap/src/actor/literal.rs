//! Literals the driver takes out of the byte stream instead of letting the `Fragmentizer`
//! buffer them: a refused one is read and dropped as it streams (RFC 7888 §4), a big APPEND
//! message goes to a [`Spool`]. Either way the connection holds at most one read chunk of it.

use std::io;

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer};
use mailroom_shared::spool::Spool;

/// Where the octets of the literal being read go.
#[derive(Debug)]
pub(super) enum Diversion {
    /// Refused: read and drop `left` more octets.
    Discard { left: u64 },
    /// An APPEND message: `left` more octets into `spool`; then the command goes on with
    /// `line`, the announcing line with an empty literal in place of this one.
    Spool {
        spool: Spool,
        left: u64,
        line: Vec<u8>,
    },
}

/// What a diversion turned into once its literal was read.
#[derive(Debug)]
pub(super) enum Diverted {
    /// Still reading.
    Reading(Diversion),
    /// A refused literal is gone.
    Dropped,
    /// A spooled literal is complete: feed `line` to a fresh fragmentizer and hand the spool
    /// to the session with the message that follows.
    Spooled { spool: Spool, line: Vec<u8> },
}

impl Diversion {
    fn left(&mut self) -> &mut u64 {
        match self {
            Diversion::Discard { left } | Diversion::Spool { left, .. } => left,
        }
    }

    /// Take what belongs to the literal from the front of `bytes`; the rest of `bytes`
    /// belongs to the command after it.
    pub(super) fn take(mut self, bytes: &[u8]) -> io::Result<(Diverted, &[u8])> {
        let n = usize::try_from(*self.left())
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let (mine, rest) = bytes.split_at(n);
        if let Diversion::Spool { spool, .. } = &mut self {
            spool.write(mine)?;
        }
        *self.left() -= n as u64;
        if *self.left() > 0 {
            return Ok((Diverted::Reading(self), rest));
        }
        let done = match self {
            Diversion::Discard { .. } => Diverted::Dropped,
            Diversion::Spool { spool, line, .. } => Diverted::Spooled { spool, line },
        };
        Ok((done, rest))
    }
}

/// Start diverting the literal just announced by the line that ends at `line_end` of the
/// current message. What the fragmentizer already holds of it is taken over and the
/// fragmentizer is replaced by a fresh one of `max_message` octets. `None` when the whole
/// literal was already there (a short one): the fragmentizer then goes on with the message.
pub(super) fn divert(
    fz: &mut Fragmentizer,
    line_end: usize,
    diversion: Diversion,
    max_message: u32,
) -> io::Result<Option<Diversion>> {
    // The fragmentizer holds at most one read chunk it has not parsed; this moves what of it
    // belongs to the literal into the message buffer.
    if let Some(FragmentInfo::Literal { .. }) = fz.progress() {
        return Ok(None);
    }
    let held = fz.message_bytes().get(line_end..).unwrap_or_default();
    let (diverted, _) = diversion.take(held)?;
    *fz = Fragmentizer::new(max_message);
    match diverted {
        Diverted::Reading(d) => Ok(Some(d)),
        // Cannot happen (the literal was not complete), but nothing is lost if it does.
        Diverted::Dropped => Ok(Some(Diversion::Discard { left: 0 })),
        Diverted::Spooled { spool, line } => Ok(Some(Diversion::Spool {
            spool,
            left: 0,
            line,
        })),
    }
}

/// The announcing line `line` (ending in `{N}`, `{N+}` or `~{N}` and CRLF) with an empty
/// non-synchronizing literal in place of the announced one.
pub(super) fn placeholder(line: &[u8]) -> Vec<u8> {
    let brace = line.iter().rposition(|&b| b == b'{').unwrap_or(line.len());
    let mut out = line[..brace].to_vec();
    out.extend_from_slice(b"{0+}\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_keeps_the_command() {
        assert_eq!(
            placeholder(b"a APPEND INBOX (\\Seen) {300000}\r\n"),
            b"a APPEND INBOX (\\Seen) {0+}\r\n"
        );
        assert_eq!(
            placeholder(b"a APPEND INBOX ~{300000+}\r\n"),
            b"a APPEND INBOX ~{0+}\r\n"
        );
    }

    #[test]
    fn a_discard_takes_only_its_octets() {
        let d = Diversion::Discard { left: 5 };
        let (d, rest) = d.take(b"abc").expect("take");
        assert!(rest.is_empty());
        let Diverted::Reading(d) = d else {
            panic!("still reading")
        };
        let (d, rest) = d.take(b"de\r\nb NOOP\r\n").expect("take");
        assert!(matches!(d, Diverted::Dropped));
        assert_eq!(rest, b"\r\nb NOOP\r\n");
    }

    #[test]
    fn a_literal_already_buffered_is_taken_over() {
        let mut fz = Fragmentizer::new(1 << 20);
        fz.enqueue_bytes(b"a LOGIN {10+}\r\n0123");
        let Some(FragmentInfo::Line { end, .. }) = fz.progress() else {
            panic!("a line")
        };
        let d = divert(&mut fz, end, Diversion::Discard { left: 10 }, 1 << 20)
            .expect("divert")
            .expect("not complete");
        assert!(fz.message_bytes().is_empty(), "a fresh fragmentizer");
        let (d, rest) = d.take(b"456789 x\r\n").expect("take");
        assert!(matches!(d, Diverted::Dropped));
        assert_eq!(rest, b" x\r\n");
    }
}
