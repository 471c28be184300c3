//! POP3 on the wire: command lines to [`Command`]s ([`command`]), the bounded line splitter
//! ([`lines`]), reply texts and the CAPA list ([`reply`]), and the dot-stuffing of
//! multi-line answers ([`stuff`]).
//!
//! No I/O, no state beyond what one call needs, no store: everything here is fuzzed and
//! tested on bytes alone.

pub mod command;
pub mod lines;
pub mod reply;
pub mod stuff;

pub use command::{Command, ParseError, parse_command};
pub use lines::{Line, LineBuffer};
pub use stuff::{DotStuffer, Progress};

/// RFC 2449 §4: a command line is at most 255 octets, CRLF included.
pub const MAX_LINE: usize = 255;

/// Longest line of a SASL exchange's client response, CRLF included: RFC 5034 §4 lets a
/// response be longer than a command (the 255-octet limit is for commands), so it gets room
/// for the largest response `mailroom_shared::sasl` decodes, base64-encoded.
pub const MAX_SASL_LINE: usize = mailroom_shared::sasl::MAX_RESPONSE * 4 / 3 + 8;
