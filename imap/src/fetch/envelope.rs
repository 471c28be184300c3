//! FETCH ENVELOPE: the stored [`mailroom_store::mime::Envelope`] as an imap-types value.
//!
//! What it owns: the mapping field by field (RFC 9051 §7.5.2), NIL for absent values.
//! What it must not do: parse or decode anything: the store already chose the strings (raw,
//! encoded words kept) and the group markers; they are passed on as they are.
use imap_codec::imap_types::envelope::{Address, Envelope};
use mailroom_store::mime;

use super::string::nstring;

/// RFC 9051 §7.5.2 ENVELOPE from the stored meta.
pub fn envelope(e: &mime::Envelope) -> Envelope<'static> {
    Envelope {
        date: nstring(e.date.as_deref()),
        subject: nstring(e.subject.as_deref()),
        from: addresses(&e.from),
        sender: addresses(&e.sender),
        reply_to: addresses(&e.reply_to),
        to: addresses(&e.to),
        cc: addresses(&e.cc),
        bcc: addresses(&e.bcc),
        in_reply_to: nstring(e.in_reply_to.as_deref()),
        message_id: nstring(e.message_id.as_deref()),
    }
}

/// An address list; an empty one is encoded as NIL by imap-codec (RFC 9051 §7.5.2).
/// Group start `(NIL NIL "group" NIL)` and end `(NIL NIL NIL NIL)` markers come stored.
fn addresses(list: &[mime::Address]) -> Vec<Address<'static>> {
    list.iter()
        .map(|a| Address {
            name: nstring(a.name.as_deref()),
            adl: nstring(a.adl.as_deref()),
            mailbox: nstring(a.mailbox.as_deref()),
            host: nstring(a.host.as_deref()),
        })
        .collect()
}
