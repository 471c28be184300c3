//! Mailbox names as IMAP clients see them: modified UTF-7 for IMAP4rev1 (RFC 3501 §5.1.3),
//! LIST / LSUB pattern matching (RFC 9051 §6.3.9, RFC 3501 §6.3.8–§6.3.9) with the
//! LIST-EXTENDED selection and return options (RFC 5258, RFC 6154 SPECIAL-USE, RFC 5819
//! LIST-STATUS), and the pre-parser that takes those options out of a LIST command before
//! imap-codec (which does not parse them with our features) decodes the rest.
//!
//! What it owns: which names a LIST or LSUB returns and with which attributes, and the name
//! encodings. What it must not do: any I/O or store access (the session passes the account's
//! mailboxes in as [`Listed`]), wire encoding of the reply lines (quoting, literals, the
//! delimiter) — the session does that from [`ListEntry`] — or panic on any input.
//!
//! Invariants: the hierarchy delimiter is [`DELIMITER`]; INBOX is matched case-insensitively
//! (RFC 9051 §5.1); names here are UTF-8, the session converts with [`decode_mutf7`] /
//! [`encode_mutf7`] for IMAP4rev1 clients; every accepted modified UTF-7 name is canonical,
//! so `encode_mutf7(&decode_mutf7(x)?) == x`.

mod extended;
mod list;
mod mutf7;

pub use extended::strip_list_extended;
pub use list::{list, list_patterns, lsub, matches_pattern};
pub use mutf7::{decode_mutf7, encode_mutf7};

/// Our hierarchy delimiter.
pub const DELIMITER: char = '/';

/// Why a client's modified UTF-7 mailbox name is refused (RFC 3501 §5.1.3); offsets are
/// octets into the name.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// `&` starts an encoded run that has no closing `-`.
    #[error("unterminated \"&\" at octet {0}")]
    Unterminated(usize),
    /// The run is not modified base64 (wrong alphabet, padding, stray bits, bad length).
    #[error("bad modified base64 at octet {0}")]
    BadBase64(usize),
    /// The run does not decode to whole UTF-16 code units or has an unpaired surrogate.
    #[error("bad UTF-16 in the encoded run at octet {0}")]
    BadUtf16(usize),
    /// Not the one canonical encoding: a printable ASCII character encoded, or two encoded
    /// runs next to each other.
    #[error("non-canonical modified UTF-7 at octet {0}")]
    NonCanonical(usize),
    /// A character that has to be encoded (control, non-ASCII) appears as is.
    #[error("character at octet {0} must be encoded")]
    Unencoded(usize),
}

/// One mailbox the account has (what the store's ListMailboxes returns, reduced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed<'a> {
    /// Full name, UTF-8, `/`-separated.
    pub name: &'a str,
    /// RFC 6154 attribute such as `\Sent`.
    pub special_use: Option<&'a str>,
    /// Whether the account subscribes to it.
    pub subscribed: bool,
}

/// LIST-EXTENDED options of one LIST command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Selection `SUBSCRIBED` (RFC 5258 §3.1): subscribed names only; implies
    /// `return_subscribed`.
    pub select_subscribed: bool,
    /// Selection `SPECIAL-USE` (RFC 6154 §3): mailboxes with a special use only.
    pub select_special_use: bool,
    /// Selection `RECURSIVEMATCH` (RFC 5258 §3.1): also list parents of matching mailboxes,
    /// with CHILDINFO.
    pub recursive_match: bool,
    /// Return `SUBSCRIBED` (RFC 5258 §3.2): add `\Subscribed`.
    pub return_subscribed: bool,
    /// Return `CHILDREN` (RFC 5258 §3.2); we always give `\HasChildren` / `\HasNoChildren`.
    pub return_children: bool,
    /// Return `SPECIAL-USE` (RFC 6154 §2): add the special-use attribute.
    pub return_special_use: bool,
    /// Return `STATUS (...)` (RFC 5819): the STATUS item names as given, upper case.
    pub return_status: Option<Vec<String>>,
    /// RFC 5258 §3: the patterns of a parenthesised list `LIST "" ("INBOX" "Sent")`, in order;
    /// empty for a single pattern. The stripped command carries the first one.
    pub patterns: Vec<String>,
}

/// A LIST reply line's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Full name, UTF-8.
    pub name: String,
    /// Mailbox attributes, e.g. `\HasNoChildren`, `\Sent`, `\Subscribed`, `\NonExistent`,
    /// `\Noselect`.
    pub attributes: Vec<&'static str>,
    /// RFC 5258 §4: append `("CHILDINFO" ("SUBSCRIBED"))`.
    pub child_info_subscribed: bool,
}
