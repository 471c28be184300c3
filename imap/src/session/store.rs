//! STORE and UID STORE (RFC 9051 §6.4.6): `FLAGS`, `+FLAGS`, `-FLAGS`, each `.SILENT` or not.

use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::sequence::SequenceSet;
use mailroom_store::FlagOp;
use mailroom_store::actor::SetFlags;

use super::append::split_flags;
use super::{Session, State, answer, store_error};
use crate::proto::write::{self, Status};

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: &[Flag<'_>],
        uid: bool,
        out: &mut Vec<u8>,
    ) {
        self.updates(out, uid).await;
        let rev2 = self.rev2;
        let State::Selected { account, mailbox } = &mut self.state else {
            return;
        };
        if !mailbox.check_writable(tag, out) {
            return;
        }
        let Some(picked) = mailbox.pick(set, uid, tag, out) else {
            return;
        };
        let (bits, keywords) = match split_flags(flags) {
            Ok(x) => x,
            Err(text) => {
                write::status(out, Some(tag), Status::Bad, None, &text);
                return;
            }
        };
        let op = match kind {
            StoreType::Add => FlagOp::Add,
            StoreType::Remove => FlagOp::Remove,
            StoreType::Replace => FlagOp::Replace,
        };
        let done = self
            .store
            .send(SetFlags {
                account_id: account.id,
                mailbox_id: mailbox.info.id,
                uids: picked.iter().map(|(_, u)| *u).collect(),
                op,
                flags: bits,
                keywords,
                unchanged_since: None,
            })
            .await;
        let result = match answer(done) {
            Ok(r) => r,
            Err(e) => return store_error(out, tag, &e),
        };
        // RFC 3501 §7.2.6: a keyword new to the mailbox is announced in FLAGS before the
        // FETCH responses carry it (with .SILENT too: later FETCHes will).
        mailbox.take_updated(result.updated, out);
        // RFC 9051 §6.4.6: without .SILENT, the new flags of every message named.
        if response == StoreResponse::Answer {
            for (seq, u) in picked {
                let Some(m) = mailbox.messages.get(seq as usize - 1) else {
                    continue;
                };
                let recent = !rev2 && mailbox.recent.contains(&u);
                let flags = write::flag_list(m.flags, &m.keywords, recent);
                let uid_item = if uid {
                    format!(" UID {u}")
                } else {
                    String::new()
                };
                write::untagged(out, &format!("{seq} FETCH (FLAGS {flags}{uid_item})"));
            }
        }
        write::status(out, Some(tag), Status::Ok, None, "STORE completed");
    }
}
