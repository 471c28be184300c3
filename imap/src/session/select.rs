//! SELECT, EXAMINE (RFC 9051 §6.3.2, §6.3.3), CLOSE (§6.4.1) and UNSELECT (RFC 3691).

use imap_codec::imap_types::mailbox::Mailbox;
use mailroom_store::FLAG_SEEN;
use mailroom_store::actor::{Expunge, Select};

use super::selected::Selected;
use super::{Session, State, answer, recent_mark, store_error};
use crate::proto::write::{self, Status};

impl Session {
    pub(super) async fn select(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        read_only: bool,
        out: &mut Vec<u8>,
    ) {
        let account = match &self.state {
            State::Authenticated { account } | State::Selected { account, .. } => account.clone(),
            State::NotAuthenticated => return,
        };
        // RFC 9051 §6.3.2: a SELECT deselects first, even when it then fails; IMAP4rev2
        // clients are told with the CLOSED response code.
        if matches!(self.state, State::Selected { .. }) {
            if self.rev2 {
                write::status(
                    out,
                    None,
                    Status::Ok,
                    Some("CLOSED"),
                    "previous mailbox closed",
                );
            }
            self.state = State::Authenticated {
                account: account.clone(),
            };
        }
        let Some(name) = self.name_or_no(tag, mailbox, out) else {
            return;
        };
        let opened = self
            .store
            .send(Select {
                account_id: account.id,
                name,
            })
            .await;
        let (info, messages) = match answer(opened) {
            Ok(x) => x,
            Err(e) => return store_error(out, tag, &e),
        };
        let mut mailbox = Box::new(Selected::new(info, messages, read_only));
        if !self.rev2 {
            // RFC 3501 §2.3.2: SELECT takes the messages no session has had as \Recent, so
            // that no later session sees them so; EXAMINE shows them without taking them.
            let newest = mailbox.messages.last().map_or(0, |m| m.uid);
            let unclaimed = mailbox.info.recent_uid;
            let mark = recent_mark(&self.store, account.id, &mailbox, newest, unclaimed).await;
            mailbox.recent_above(mark);
        }
        mailbox.write_flags(out);
        write::untagged(out, &format!("{} EXISTS", mailbox.exists()));
        if !self.rev2 {
            // RFC 3501 §6.3.1 requires RECENT.
            write::untagged(out, &format!("{} RECENT", mailbox.recent.len()));
            if let Some(i) = mailbox
                .messages
                .iter()
                .position(|m| m.flags & FLAG_SEEN == 0)
            {
                write::status(
                    out,
                    None,
                    Status::Ok,
                    Some(&format!("UNSEEN {}", i + 1)),
                    "first unseen",
                );
            }
        }
        write::status(
            out,
            None,
            Status::Ok,
            Some(&format!("UIDVALIDITY {}", mailbox.info.uidvalidity)),
            "UIDs valid",
        );
        write::status(
            out,
            None,
            Status::Ok,
            Some(&format!("UIDNEXT {}", mailbox.info.uidnext)),
            "predicted next UID",
        );
        mailbox.write_permanent_flags(out);
        if self.rev2 {
            // RFC 9051 §6.3.2: the LIST response gives the name as the server spells it.
            let mut line = b"* LIST () \"/\" ".to_vec();
            line.extend(self.wire_name(&mailbox.info.name));
            line.extend_from_slice(b"\r\n");
            out.extend(line);
        }
        let (code, done) = if read_only {
            ("READ-ONLY", "EXAMINE completed")
        } else {
            ("READ-WRITE", "SELECT completed")
        };
        write::status(out, Some(tag), Status::Ok, Some(code), done);
        self.state = State::Selected { account, mailbox };
    }

    /// CLOSE (`expunge`: removes `\Deleted` messages silently, RFC 9051 §6.4.1) or UNSELECT.
    pub(super) async fn close(&mut self, tag: &str, expunge: bool, out: &mut Vec<u8>) {
        let State::Selected { account, mailbox } = &self.state else {
            return;
        };
        if expunge && !mailbox.read_only {
            let known: Vec<u32> = mailbox.messages.iter().map(|m| m.uid).collect();
            let removed = self
                .store
                .send(Expunge {
                    account_id: account.id,
                    mailbox_id: mailbox.info.id,
                    uids: Some(known),
                })
                .await;
            if let Err(e) = answer(removed) {
                return store_error(out, tag, &e);
            }
        }
        self.state = State::Authenticated {
            account: account.clone(),
        };
        let done = if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        };
        write::status(out, Some(tag), Status::Ok, None, done);
    }
}
