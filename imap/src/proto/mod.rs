//! IMAP on the wire, without I/O or session state: limits, capabilities, the response lines
//! we write by hand (tagged status lines, simple untagged data), string quoting, and the
//! encoding of data responses through imap-codec.
//!
//! Commands are decoded by imap-codec (`CommandCodec`, after its `Fragmentizer` split lines
//! and literals); only the ESEARCH and LIST-EXTENDED clauses it does not know are taken out
//! first (`crate::search`, `crate::names`).

pub mod write;

use std::num::NonZeroU32;

use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Data, Response};

/// Longest command line (without literals) accepted, CRLF included. RFC 9051 §4 sets no
/// limit; RFC 7162 §4 asks servers to accept lines of at least 8192 octets.
pub const MAX_LINE: usize = 64 * 1024;
/// Largest literal in any command but APPEND (a LOGIN password, a SEARCH string…).
pub const MAX_SMALL_LITERAL: u32 = 64 * 1024;
/// Largest literal before login. LOGIN's user name and password and AUTHENTICATE's
/// responses are short; RFC 7888 §4 (LITERAL-) allows 4096-octet non-synchronizing literals,
/// so twice that leaves room for any real client.
pub const MAX_PRE_AUTH_LITERAL: u32 = 8 * 1024;
/// Largest command before login, literals included.
pub const MAX_PRE_AUTH_MESSAGE: usize = 16 * 1024;
/// Octets of a whole command beyond the APPEND literal (line, flags, date).
pub const COMMAND_OVERHEAD: u32 = 64 * 1024;
/// Output buffered before the session asks the driver to write it: a long FETCH streams
/// instead of piling up in memory.
pub const FLUSH_AT: usize = 256 * 1024;

/// What the capability list depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapabilityState {
    /// The session is in TLS.
    pub tls: bool,
    /// LOGIN / AUTHENTICATE are allowed now (TLS, or plaintext allowed by the config).
    pub auth_allowed: bool,
    /// The user is logged in (no more STARTTLS, AUTH= or LOGINDISABLED).
    pub authenticated: bool,
}

/// The capability list (without the leading `CAPABILITY`), RFC 9051 §7.2.2.
pub fn capabilities(state: CapabilityState) -> String {
    let mut caps = String::from("IMAP4rev1 IMAP4rev2");
    if !state.authenticated {
        if !state.tls {
            caps.push_str(" STARTTLS");
        }
        if state.auth_allowed {
            caps.push_str(" AUTH=PLAIN AUTH=LOGIN");
        } else {
            // RFC 9051 §6.2.3: LOGIN is refused until the session is protected.
            caps.push_str(" LOGINDISABLED");
        }
    }
    caps.push_str(
        " SASL-IR LITERAL+ ENABLE ID IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN \
         SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH BINARY STATUS=SIZE",
    );
    caps
}

/// One FETCH data item (`ENVELOPE (...)`, `BODYSTRUCTURE (...)`) encoded by imap-codec,
/// which quotes and makes literals as the grammar needs; the rest of a FETCH response we
/// write ourselves (body sections are sent as stored, without a copy into imap-types).
pub fn encode_fetch_item(item: MessageDataItem<'_>, out: &mut Vec<u8>) {
    let data = Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::from(item),
    };
    let line = ResponseCodec::default()
        .encode(&Response::Data(data))
        .dump();
    // The encoder writes `* 1 FETCH (` + item + `)` CRLF; keep the item.
    let inner = line
        .strip_prefix(b"* 1 FETCH (")
        .and_then(|rest| rest.strip_suffix(b")\r\n"));
    if let Some(inner) = inner {
        out.extend_from_slice(inner);
    }
}

/// INTERNALDATE (RFC 9051 §9 `date-time`) of unix seconds, in UTC:
/// `"17-Jul-1996 09:44:25 +0000"`.
pub fn date_time(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    use mailroom_shared::civil::{SECS_PER_DAY, civil_from_days};
    let (days, secs) = (unix.div_euclid(SECS_PER_DAY), unix.rem_euclid(SECS_PER_DAY));
    let (year, month, day) = civil_from_days(days);
    format!(
        "\"{day:02}-{}-{year:04} {:02}:{:02}:{:02} +0000\"",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_dates() {
        assert_eq!(date_time(0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(date_time(837_596_665), "\"17-Jul-1996 09:44:25 +0000\"");
        assert_eq!(date_time(951_782_400), "\"29-Feb-2000 00:00:00 +0000\"");
        assert_eq!(date_time(-1), "\"31-Dec-1969 23:59:59 +0000\"");
    }

    #[test]
    fn a_fetch_item_is_cut_from_its_response() {
        let mut out = Vec::new();
        encode_fetch_item(MessageDataItem::Rfc822Size(42), &mut out);
        assert_eq!(out, b"RFC822.SIZE 42");
    }

    #[test]
    fn capabilities_follow_the_session() {
        let plain = capabilities(CapabilityState {
            tls: false,
            auth_allowed: false,
            authenticated: false,
        });
        assert!(plain.starts_with("IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED "));
        assert!(!plain.contains("AUTH="));
        let tls = capabilities(CapabilityState {
            tls: true,
            auth_allowed: true,
            authenticated: false,
        });
        assert!(tls.contains(" AUTH=PLAIN AUTH=LOGIN "));
        assert!(!tls.contains("STARTTLS") && !tls.contains("LOGINDISABLED"));
        let user = capabilities(CapabilityState {
            tls: true,
            auth_allowed: true,
            authenticated: true,
        });
        assert!(!user.contains("AUTH=") && user.contains(" IDLE "));
        for cap in [
            "IDLE",
            "NAMESPACE",
            "UIDPLUS",
            "MOVE",
            "SPECIAL-USE",
            "LITERAL+",
            "ENABLE",
            "ID",
            "UNSELECT",
            "CHILDREN",
            "SASL-IR",
            "ESEARCH",
            "BINARY",
        ] {
            assert!(user.split(' ').any(|c| c == cap), "{cap} missing");
        }
    }
}
