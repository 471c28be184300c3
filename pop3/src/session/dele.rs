//! DELE and RSET (RFC 1939 §5): marks only; the store is changed in the UPDATE state.

use super::list::NO_SUCH_MESSAGE;
use super::{Flow, Session, State};
use crate::proto::reply;

impl Session {
    /// RFC 1939 §5 DELE: mark message `n`; a marked message cannot be marked again.
    pub(super) fn dele(&mut self, n: u32, out: &mut Vec<u8>) -> Flow {
        let State::Transaction(drop) = &mut self.state else {
            return Flow::Continue;
        };
        let entry = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| drop.messages.get_mut(i));
        match entry {
            Some(e) if e.deleted => self.client_error(out, &format!("message {n} already deleted")),
            Some(e) => {
                e.deleted = true;
                out.extend(reply::ok(&format!("message {n} deleted")));
                Flow::Continue
            }
            None => self.client_error(out, NO_SUCH_MESSAGE),
        }
    }

    /// RFC 1939 §5 RSET: unmark every message.
    pub(super) fn rset(&mut self, out: &mut Vec<u8>) -> Flow {
        let State::Transaction(drop) = &mut self.state else {
            return Flow::Continue;
        };
        for e in &mut drop.messages {
            e.deleted = false;
        }
        let (n, size) = drop.totals();
        out.extend(reply::ok(&format!(
            "maildrop has {n} messages ({size} octets)"
        )));
        Flow::Continue
    }
}
