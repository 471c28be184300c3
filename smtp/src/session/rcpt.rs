//! RCPT (RFC 5321 §4.1.1.3): every recipient is checked against the store while the client
//! waits, so unknown users are refused here and never bounced later, and the MX never relays.

use super::{Action, Session};
use crate::proto::reply::{self, Reply};
use mailroom_shared::address::{Address, POSTMASTER};
use mailroom_shared::events::Stage;
use mailroom_store::{Resolution, StoreError};
use smtp_proto::RcptTo;

impl Session {
    pub(super) fn rcpt(&mut self, to: RcptTo<String>) -> Option<Action> {
        let Some(tx) = &self.tx else {
            self.respond(reply::bad_sequence("need MAIL before RCPT"));
            return None;
        };
        // RFC 5321 §4.5.3.1.8: 452 for too many recipients, so the client retries the rest.
        if tx.rcpts.len() + tx.remote.len() >= self.ctx.limits.max_recipients as usize {
            let r = Reply::new(452, "4.5.3", "too many recipients");
            self.reject(Stage::Rcpt, r, Some(to.address));
            return None;
        }
        if !tx.utf8 && !to.address.is_ascii() {
            self.respond(Reply::new(
                553,
                "5.6.7",
                "non-ASCII address needs the SMTPUTF8 parameter",
            ));
            return None;
        }
        let address = if to.address.eq_ignore_ascii_case(POSTMASTER) {
            // RFC 5321 §4.1.1.3, §4.5.1: <Postmaster> with no domain is always accepted; the
            // store knows whose it is.
            POSTMASTER.to_string()
        } else {
            // RFC 6531 §3.3: a U-label domain is valid here; it goes on as its A-label.
            match Address::parse(&to.address) {
                Ok(a) => a.to_string(),
                Err(e) => {
                    self.respond(Reply::new(
                        501,
                        "5.1.3",
                        format!("bad recipient address: {e}"),
                    ));
                    return None;
                }
            }
        };
        let size = tx.declared_size;
        self.resolving = Some(address.clone());
        // RFC 3461 §4: kept for the outbound queue of a remote recipient.
        self.resolving_dsn = (to.flags, to.orcpt);
        Some(Action::Resolve { address, size })
    }
}

/// The store's answer about a RCPT: the recipient's accounts, or the reply.
pub(super) fn resolution_reply(
    address: String,
    answer: Result<Resolution, StoreError>,
) -> Result<(String, Vec<i64>), Reply> {
    match answer {
        Ok(Resolution::Local(accounts)) if !accounts.is_empty() => Ok((address, accounts)),
        Ok(Resolution::Local(_) | Resolution::UnknownUser) => Err(Reply::new(
            550,
            "5.1.1",
            format!("<{address}>: no such user here"),
        )),
        Ok(Resolution::NotOurDomain) => Err(Reply::new(
            550,
            "5.7.1",
            format!("<{address}>: relaying denied"),
        )),
        Ok(Resolution::Invalid(why)) => Err(Reply::new(553, "5.1.3", why)),
        Err(e) => {
            tracing::warn!(error = %e, "recipient lookup failed");
            Err(reply::try_later())
        }
    }
}

/// The reply for a local recipient, given which of its accounts are over quota; an accepted
/// recipient joins the transaction.
pub(super) fn quota_reply(
    s: &mut Session,
    address: String,
    accounts: Vec<i64>,
    over: &[i64],
) -> Reply {
    // RFC 5321 §4.5.3.1.10 / RFC 3463 4.2.2: a full mailbox is a temporary failure, so the
    // sender retries (the owner may make room).
    if !over.is_empty() {
        return Reply::new(452, "4.2.2", format!("<{address}>: mailbox full"));
    }
    if let Some(tx) = &mut s.tx {
        tx.rcpts.push((address, accounts));
    }
    Reply::new(250, "2.1.5", "recipient OK")
}
