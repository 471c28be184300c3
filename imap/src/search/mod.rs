//! IMAP SEARCH: which messages a decoded search program selects, and the ESEARCH result.
//!
//! What it owns: evaluating imap-types'
//! [`SearchKey`](imap_codec::imap_types::search::SearchKey) against one message at a time
//! (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 7162 §3.1.5 MODSEQ), the CHARSET check, the
//! pre-parser that takes SEARCH's `RETURN (...)` clause out of a command before imap-codec
//! sees it (RFC 4731, RFC 9051 §6.4.4.1), and the `* ESEARCH` reply (RFC 9051 §7.3.4).
//!
//! What it must not do: any I/O or store access (the session loads what [`needs`] asks for
//! and passes it in a [`Candidate`]), keep state between calls, or panic on any input — a
//! hostile message or search string only ever makes a key not match.
//!
//! Invariants: a key that needs data the candidate lacks (no `meta`, `header` or `raw`) does not match,
//! except a substring key with an empty string, which matches every message. Sequence numbers
//! and UIDs use `*` = the largest one in [`Scope`].

mod args;
mod esearch;
mod eval;
mod sent;
mod text;

#[cfg(test)]
pub(crate) use args::hostile_inputs;
pub(crate) use args::{ArgError, Args, Item, printable};
pub use esearch::{
    ReturnOptions, compact_set, esearch, esearch_with_modseq, saved_result, strip_search_return,
};
pub use eval::{matches, matches_all, needs, needs_all, uses_modseq};

use imap_codec::imap_types::core::Charset;
use mailroom_store::MessageInfo;
use mailroom_store::mime::MessageMeta;

/// The CHARSETs we accept, as the RFC 9051 §6.4.4 BADCHARSET response code lists them.
pub const SUPPORTED_CHARSETS: &str = "(UTF-8 US-ASCII)";

/// One message as SEARCH sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Message sequence number in this session.
    pub seq: u32,
    /// UID, flags, keywords, MODSEQ, INTERNALDATE and size.
    pub info: &'a MessageInfo,
    /// \Recent in this session (RFC 3501 §2.3.2).
    pub recent: bool,
    /// The stored analysis; present when `needs().meta`.
    pub meta: Option<&'a MessageMeta>,
    /// The header block (up to the empty line); present when `needs().header`. HEADER keys
    /// read `raw` instead when that is present.
    pub header: Option<&'a [u8]>,
    /// The raw RFC 5322 message; present when `needs().body`.
    pub raw: Option<&'a [u8]>,
}

/// What a search needs loaded per message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The stored [`MessageMeta`] (address, subject and Date: keys).
    pub meta: bool,
    /// The header block only (HEADER).
    pub header: bool,
    /// The raw message (BODY, TEXT).
    pub body: bool,
}

/// The mailbox a search runs in: what `*` stands for.
///
/// RFC 5182's `$` (saved result) is not here: imap-codec 2.0.0-alpha.10 does not parse `$`
/// in a sequence set, so no decoded key can refer to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope {
    /// Largest message sequence number (the number of messages).
    pub max_seq: u32,
    /// Largest UID in use (RFC 9051 §6.4.8: `*` in a UID set).
    pub max_uid: u32,
}

/// Why a SEARCH is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// Reply `NO [BADCHARSET (UTF-8 US-ASCII)]` (RFC 9051 §6.4.4); see [`SUPPORTED_CHARSETS`].
    #[error("unsupported charset {0}")]
    BadCharset(String),
}

/// RFC 9051 §6.4.4: CHARSET must be UTF-8 or US-ASCII (case-insensitive), else
/// `NO [BADCHARSET (UTF-8 US-ASCII)]`. No CHARSET is fine: RFC 9051 strings are UTF-8 and
/// RFC 3501's default is US-ASCII, a subset.
pub fn check_charset(charset: Option<&Charset<'_>>) -> Result<(), SearchError> {
    let Some(charset) = charset else {
        return Ok(());
    };
    let name = match charset {
        Charset::Atom(atom) => atom.as_ref(),
        Charset::Quoted(quoted) => quoted.inner(),
    };
    if name.eq_ignore_ascii_case("UTF-8") || name.eq_ignore_ascii_case("US-ASCII") {
        Ok(())
    } else {
        Err(SearchError::BadCharset(printable(name.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::imap_types::core::{Atom, Quoted};

    #[test]
    fn charsets_table() {
        let ok = ["UTF-8", "utf-8", "Utf-8", "US-ASCII", "us-ascii"];
        for name in ok {
            let atom = Charset::Atom(Atom::try_from(name).unwrap());
            assert_eq!(check_charset(Some(&atom)), Ok(()), "{name}");
            let quoted = Charset::Quoted(Quoted::try_from(name).unwrap());
            assert_eq!(check_charset(Some(&quoted)), Ok(()), "{name}");
        }
        assert_eq!(check_charset(None), Ok(()));
        let bad = ["ISO-8859-1", "UTF8", "UTF-16", "KOI8-R", "x"];
        for name in bad {
            let atom = Charset::Atom(Atom::try_from(name).unwrap());
            assert_eq!(
                check_charset(Some(&atom)),
                Err(SearchError::BadCharset(name.to_owned())),
                "{name}"
            );
        }
        let odd = Charset::Quoted(Quoted::try_from("utf-8 ").unwrap());
        assert!(check_charset(Some(&odd)).is_err());
    }

    #[test]
    fn badcharset_text() {
        let err = SearchError::BadCharset("KOI8-R".into());
        assert_eq!(err.to_string(), "unsupported charset KOI8-R");
        assert_eq!(SUPPORTED_CHARSETS, "(UTF-8 US-ASCII)");
    }
}
