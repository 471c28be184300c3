//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (with RFC 5258 / RFC 6154 / RFC 5819
//! options), LSUB and STATUS (RFC 9051 §6.3.4–§6.3.11, RFC 8438 STATUS=SIZE).

use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::status::StatusDataItemName;
use mailroom_store::actor::{
    CreateMailbox, DeleteMailbox, ListMailboxes, LostSubscriptions, RenameMailbox, SetSubscribed,
};
use mailroom_store::{MailboxInfo, StoreError};

use super::{Session, answer, store_error};
use crate::names::{self, ListEntry, ListOptions, Listed};
use crate::proto::write::{self, Status};

/// The octets of a LIST pattern as sent.
fn pattern_bytes<'a>(p: &'a ListMailbox<'_>) -> &'a [u8] {
    match p {
        ListMailbox::Token(t) => t.as_ref(),
        ListMailbox::String(s) => s.as_ref(),
    }
}

/// The account's mailboxes as LIST matching sees them.
fn listed(all: &[MailboxInfo]) -> Vec<Listed<'_>> {
    all.iter()
        .map(|m| Listed {
            name: &m.name,
            special_use: m.special_use.as_deref(),
            subscribed: m.subscribed,
        })
        .collect()
}

impl Session {
    /// A LIST/LSUB reference or pattern decoded like a mailbox name (RFC 3501 §5.1.3), or
    /// None when it is not UTF-8 or, for an IMAP4rev1 client, not valid modified UTF-7.
    /// Patterns are matched against our (UTF-8) names, and no name has an invalid wire
    /// form, so such a pattern matches nothing: the LIST answers OK with no names rather
    /// than BAD — its syntax was fine.
    fn pattern(&self, raw: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(raw).ok()?;
        if self.utf8 {
            Some(text.to_string())
        } else {
            names::decode_mutf7(text).ok()
        }
    }

    fn reference(&self, reference: &Mailbox<'_>) -> Option<String> {
        match reference {
            Mailbox::Inbox => Some("INBOX".to_string()),
            Mailbox::Other(o) => self.pattern(o.as_ref()),
        }
    }

    pub(super) async fn create(&mut self, tag: &str, mailbox: &Mailbox<'_>, out: &mut Vec<u8>) {
        let (Some(account_id), Some(name)) =
            (self.account_id(), self.name_or_no(tag, mailbox, out))
        else {
            return;
        };
        let done = self.store.send(CreateMailbox { account_id, name }).await;
        match answer(done) {
            Ok(_) => write::status(out, Some(tag), Status::Ok, None, "CREATE completed"),
            Err(e) => store_error(out, tag, &e),
        }
    }

    pub(super) async fn delete(&mut self, tag: &str, mailbox: &Mailbox<'_>, out: &mut Vec<u8>) {
        let (Some(account_id), Some(name)) =
            (self.account_id(), self.name_or_no(tag, mailbox, out))
        else {
            return;
        };
        let done = self.store.send(DeleteMailbox { account_id, name }).await;
        match answer(done) {
            Ok(()) => write::status(out, Some(tag), Status::Ok, None, "DELETE completed"),
            Err(e) => store_error(out, tag, &e),
        }
    }

    pub(super) async fn rename(
        &mut self,
        tag: &str,
        from: &Mailbox<'_>,
        to: &Mailbox<'_>,
        out: &mut Vec<u8>,
    ) {
        let Some(account_id) = self.account_id() else {
            return;
        };
        // One tagged answer, even when both names are refused.
        let Some(from) = self.name_or_no(tag, from, out) else {
            return;
        };
        let Some(to) = self.name_or_no(tag, to, out) else {
            return;
        };
        let done = self
            .store
            .send(RenameMailbox {
                account_id,
                from,
                to,
            })
            .await;
        match answer(done) {
            Ok(()) => write::status(out, Some(tag), Status::Ok, None, "RENAME completed"),
            Err(e) => store_error(out, tag, &e),
        }
    }

    pub(super) async fn subscribe(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        subscribed: bool,
        out: &mut Vec<u8>,
    ) {
        let (Some(account_id), Some(name)) =
            (self.account_id(), self.name_or_no(tag, mailbox, out))
        else {
            return;
        };
        let done = self
            .store
            .send(SetSubscribed {
                account_id,
                name,
                subscribed,
            })
            .await;
        let what = if subscribed {
            "SUBSCRIBE completed"
        } else {
            "UNSUBSCRIBE completed"
        };
        match answer(done) {
            Ok(()) => write::status(out, Some(tag), Status::Ok, None, what),
            Err(e) => store_error(out, tag, &e),
        }
    }

    async fn mailboxes(&self, tag: &str, out: &mut Vec<u8>) -> Option<Vec<MailboxInfo>> {
        let account_id = self.account_id()?;
        match answer(self.store.send(ListMailboxes { account_id }).await) {
            Ok(list) => Some(list),
            Err(e) => {
                store_error(out, tag, &e);
                None
            }
        }
    }

    /// The subscribed names whose mailbox was deleted (RFC 9051 §6.3.7), when `wanted`.
    async fn lost_subscriptions(
        &self,
        wanted: bool,
        tag: &str,
        out: &mut Vec<u8>,
    ) -> Option<Vec<String>> {
        if !wanted {
            return Some(Vec::new());
        }
        let account_id = self.account_id()?;
        match answer(self.store.send(LostSubscriptions { account_id }).await) {
            Ok(names) => Some(names),
            Err(e) => {
                store_error(out, tag, &e);
                None
            }
        }
    }

    fn list_line(&self, kind: &str, entry: &ListEntry, out: &mut Vec<u8>) {
        let mut line = format!("* {kind} ({}) \"/\" ", entry.attributes.join(" ")).into_bytes();
        line.extend(self.wire_name(&entry.name));
        if entry.child_info_subscribed {
            line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        }
        line.extend_from_slice(b"\r\n");
        out.extend(line);
    }

    pub(super) async fn list(
        &mut self,
        tag: &str,
        reference: &Mailbox<'_>,
        pattern: &ListMailbox<'_>,
        options: Option<ListOptions>,
        out: &mut Vec<u8>,
    ) {
        let mut options = options.unwrap_or_default();
        // RFC 6154 §2: special-use attributes MAY be in every LIST reply; clients that
        // do not ask with RETURN (SPECIAL-USE) find their Sent and Trash that way too.
        options.return_special_use = true;
        let raw_pattern = pattern_bytes(pattern);
        if raw_pattern.is_empty() && options.patterns.is_empty() && options.return_status.is_none()
        {
            // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root.
            write::untagged(out, "LIST (\\Noselect) \"/\" \"\"");
            write::status(out, Some(tag), Status::Ok, None, "LIST completed");
            return;
        }
        let Some(all) = self.mailboxes(tag, out).await else {
            return;
        };
        let Some(lost) = self
            .lost_subscriptions(options.select_subscribed, tag, out)
            .await
        else {
            return;
        };
        let listed = listed(&all);
        // RFC 5258 §3: several patterns, each name listed once; the stripped command
        // carries the first. Patterns that are no name match nothing (see `pattern`).
        let raw_patterns: Vec<&[u8]> = if options.patterns.is_empty() {
            vec![raw_pattern]
        } else {
            options.patterns.iter().map(|p| p.as_bytes()).collect()
        };
        let patterns: Vec<String> = raw_patterns
            .iter()
            .filter_map(|p| self.pattern(p))
            .collect();
        let entries = match self.reference(reference) {
            Some(reference) => {
                names::list_patterns(&listed, &lost, &reference, &patterns, &options, self.rev2)
            }
            None => Vec::new(),
        };
        for entry in &entries {
            self.list_line("LIST", entry, out);
            // RFC 5819: LIST-STATUS answers STATUS right after each selectable mailbox.
            if let Some(items) = &options.return_status
                && let Some(info) = all.iter().find(|m| m.name == entry.name)
            {
                self.status_line(info, items.iter().map(String::as_str), out);
            }
        }
        write::status(out, Some(tag), Status::Ok, None, "LIST completed");
    }

    pub(super) async fn lsub(
        &mut self,
        tag: &str,
        reference: &Mailbox<'_>,
        pattern: &ListMailbox<'_>,
        out: &mut Vec<u8>,
    ) {
        let Some(all) = self.mailboxes(tag, out).await else {
            return;
        };
        let Some(lost) = self.lost_subscriptions(true, tag, out).await else {
            return;
        };
        let listed = listed(&all);
        let reference = self.reference(reference);
        let pattern = self.pattern(pattern_bytes(pattern));
        if let (Some(reference), Some(pattern)) = (reference, pattern) {
            for entry in names::lsub(&listed, &lost, &reference, &pattern) {
                self.list_line("LSUB", &entry, out);
            }
        }
        write::status(out, Some(tag), Status::Ok, None, "LSUB completed");
    }

    /// `* STATUS name (items)` for the item names given (upper case).
    fn status_line<'a>(
        &self,
        info: &MailboxInfo,
        items: impl Iterator<Item = &'a str>,
        out: &mut Vec<u8>,
    ) {
        let mut parts = Vec::new();
        for item in items {
            let value = match item {
                "MESSAGES" => u64::from(info.exists),
                "UNSEEN" => u64::from(info.unseen),
                "UIDNEXT" => u64::from(info.uidnext),
                "UIDVALIDITY" => u64::from(info.uidvalidity),
                // RFC 3501 §6.3.10: the messages no session has claimed as \Recent yet.
                "RECENT" => u64::from(info.recent),
                "DELETED" => u64::from(info.deleted),
                "SIZE" => info.size,
                _ => continue,
            };
            parts.push(format!("{item} {value}"));
        }
        let mut line = b"* STATUS ".to_vec();
        line.extend(self.wire_name(&info.name));
        line.extend(format!(" ({})\r\n", parts.join(" ")).into_bytes());
        out.extend(line);
    }

    pub(super) async fn status(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        items: &[StatusDataItemName],
        out: &mut Vec<u8>,
    ) {
        // RFC 9051 §9: `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`
        // needs one item at least; imap-codec also takes `()`.
        if items.is_empty() {
            write::status(out, Some(tag), Status::Bad, None, "STATUS needs an item");
            self.count_error(out);
            return;
        }
        let Some(name) = self.name_or_no(tag, mailbox, out) else {
            return;
        };
        let Some(all) = self.mailboxes(tag, out).await else {
            return;
        };
        let wanted = |m: &&MailboxInfo| {
            m.name == name || (name.eq_ignore_ascii_case("INBOX") && m.name == "INBOX")
        };
        let Some(info) = all.iter().find(wanted) else {
            return store_error(out, tag, &StoreError::NotFound(format!("mailbox {name}")));
        };
        let names: Vec<&str> = items
            .iter()
            .map(|i| match i {
                StatusDataItemName::Messages => "MESSAGES",
                StatusDataItemName::Recent => "RECENT",
                StatusDataItemName::UidNext => "UIDNEXT",
                StatusDataItemName::UidValidity => "UIDVALIDITY",
                StatusDataItemName::Unseen => "UNSEEN",
                StatusDataItemName::Deleted => "DELETED",
                StatusDataItemName::Size => "SIZE",
                _ => "",
            })
            .collect();
        self.status_line(info, names.into_iter(), out);
        write::status(out, Some(tag), Status::Ok, None, "STATUS completed");
    }
}
