//! QUIT (RFC 1939 §5, §6): in AUTHORIZATION just goodbye; in TRANSACTION the UPDATE state
//! removes the messages marked deleted, all in one store transaction, then says goodbye.
//! If the store fails nothing was removed and the reply says so (`-ERR [SYS/TEMP]`).

use mailroom_store::actor::RemoveMessages;

use super::{Flow, Session, State, answer};
use crate::proto::reply::{self, SYS_TEMP};

impl Session {
    pub(super) async fn quit(&mut self, out: &mut Vec<u8>) -> Flow {
        let state = std::mem::replace(&mut self.state, State::Closed);
        let State::Transaction(drop) = state else {
            out.extend(reply::ok(&format!("{} signing off", self.ctx.host)));
            return Flow::Close;
        };
        let uids = drop.deleted_uids();
        let (left, _) = drop.totals();
        if uids.is_empty() {
            out.extend(reply::ok(&format!(
                "{} signing off ({left} messages left)",
                self.ctx.host
            )));
            return Flow::Close;
        }
        // RFC 1939 §6: the UPDATE state. The maildrop lock (in `drop`) is held until the
        // removal is done, so no other POP3 session sees a half-updated maildrop.
        let removed = self
            .store
            .send(RemoveMessages {
                account_id: drop.account_id,
                mailbox_id: drop.mailbox_id,
                uids,
            })
            .await;
        match answer(removed) {
            Ok(removed) => {
                tracing::info!(removed = removed.len(), "maildrop updated");
                out.extend(reply::ok(&format!(
                    "{} signing off ({left} messages left)",
                    self.ctx.host
                )));
            }
            Err(e) => {
                tracing::warn!(error = %e, "POP3 update failed; nothing was removed");
                out.extend(reply::err_code(
                    SYS_TEMP,
                    "some deleted messages not removed, try again later",
                ));
            }
        }
        Flow::Close
    }
}
