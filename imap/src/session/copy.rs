//! COPY and MOVE, with their UID forms (RFC 9051 §6.4.7, §6.4.8; RFC 6851) and COPYUID
//! (RFC 4315 §3).

use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::sequence::SequenceSet;
use mailroom_store::actor::{Copy, ListMailboxes, Move};

use super::{Session, State, answer, store_error};
use crate::proto::write::{self, Status};
use crate::search::compact_set;

impl Session {
    pub(super) async fn copy(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        target: &Mailbox<'_>,
        uid: bool,
        moving: bool,
        out: &mut Vec<u8>,
    ) {
        self.updates(out, true).await;
        let Some(name) = self.name_or_no(tag, target, out) else {
            return;
        };
        let State::Selected { account, mailbox } = &mut self.state else {
            return;
        };
        if moving && !mailbox.check_writable(tag, out) {
            return;
        }
        let Some(picked) = mailbox.pick(set, uid, tag, out) else {
            return;
        };
        let listed = answer(
            self.store
                .send(ListMailboxes {
                    account_id: account.id,
                })
                .await,
        );
        let all = match listed {
            Ok(all) => all,
            Err(e) => return store_error(out, tag, &e),
        };
        let found = all
            .iter()
            .find(|m| m.name == name || (m.name == "INBOX" && name.eq_ignore_ascii_case("INBOX")));
        let Some(to) = found else {
            // RFC 9051 §6.4.7: TRYCREATE when the target does not exist.
            write::status(
                out,
                Some(tag),
                Status::No,
                Some("TRYCREATE"),
                "no such mailbox",
            );
            return;
        };
        let uids: Vec<u32> = picked.iter().map(|(_, u)| *u).collect();
        let (from, account_id) = (mailbox.info.id, account.id);
        let done = if moving {
            self.store
                .send(Move {
                    account_id,
                    from,
                    uids,
                    to: to.id,
                })
                .await
        } else {
            self.store
                .send(Copy {
                    account_id,
                    from,
                    uids,
                    to: to.id,
                })
                .await
        };
        let pairs = match answer(done) {
            Ok(p) => p,
            Err(e) => return store_error(out, tag, &e),
        };
        let what = if moving {
            "MOVE completed"
        } else {
            "COPY completed"
        };
        if pairs.is_empty() {
            write::status(out, Some(tag), Status::Ok, None, what);
            return;
        }
        let source: Vec<u32> = pairs.iter().map(|(s, _)| *s).collect();
        let dest: Vec<u32> = pairs.iter().map(|(_, d)| *d).collect();
        let code = format!(
            "COPYUID {} {} {}",
            to.uidvalidity,
            compact_set(&source),
            compact_set(&dest)
        );
        if moving {
            // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
            write::status(out, None, Status::Ok, Some(&code), "moved");
            for uid in &source {
                mailbox.remove(*uid, Some(out));
            }
        }
        if to.id == mailbox.info.id {
            // Into the selected mailbox: the new copies are announced (EXISTS) before the
            // tagged OK, as any other session hears of them (RFC 6851 §3.3, RFC 3501 §7.3.1).
            mailbox.dirty = true;
            self.updates(out, true).await;
        }
        if moving {
            write::status(out, Some(tag), Status::Ok, None, what);
        } else {
            write::status(out, Some(tag), Status::Ok, Some(&code), what);
        }
    }
}
