//! EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1).
//!
//! Only messages this session knows are expunged: one that arrived after our last update
//! and is already flagged `\Deleted` stays until the client has seen it.

use imap_codec::imap_types::sequence::SequenceSet;
use mailroom_store::FLAG_DELETED;
use mailroom_store::actor::Expunge;

use super::{Session, State, answer, store_error};
use crate::proto::write::{self, Status};

impl Session {
    pub(super) async fn expunge(
        &mut self,
        tag: &str,
        only: Option<&SequenceSet>,
        out: &mut Vec<u8>,
    ) {
        self.updates(out, true).await;
        let State::Selected { account, mailbox } = &mut self.state else {
            return;
        };
        if !mailbox.check_writable(tag, out) {
            return;
        }
        let uids: Vec<u32> = match only {
            Some(set) => match mailbox.resolve(set, true) {
                Ok(p) => p.into_iter().map(|(_, u)| u).collect(),
                Err(_) => return,
            },
            None => mailbox
                .messages
                .iter()
                .filter(|m| m.flags & FLAG_DELETED != 0)
                .map(|m| m.uid)
                .collect(),
        };
        if !uids.is_empty() {
            let done = self
                .store
                .send(Expunge {
                    account_id: account.id,
                    mailbox_id: mailbox.info.id,
                    uids: Some(uids),
                })
                .await;
            match answer(done) {
                // Ascending UIDs: each EXPUNGE renumbers the ones after it (RFC 9051 §7.5.1).
                Ok(gone) => {
                    for uid in gone {
                        mailbox.remove(uid, Some(out));
                    }
                }
                Err(e) => return store_error(out, tag, &e),
            }
        }
        write::status(out, Some(tag), Status::Ok, None, "EXPUNGE completed");
    }
}
