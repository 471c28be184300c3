//! FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY).
//!
//! ENVELOPE and BODYSTRUCTURE come from the metadata the store computed at delivery; the raw
//! message is read only when a body section, RFC822 or BINARY item asks for it. Messages are
//! handled in batches, and the output is flushed between messages once it grows past
//! [`FLUSH_AT`], so a `FETCH 1:* BODY[]` of a large mailbox streams instead of piling up.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Part, Section,
};
use imap_codec::imap_types::sequence::SequenceSet;
use mailroom_store::actor::{FetchBodies, FetchMeta, SetFlags};
use mailroom_store::mime::MessageMeta;
use mailroom_store::{FLAG_SEEN, FlagOp, MessageInfo};

use super::{Output, Session, State, answer, store_error};
use crate::fetch as render;
use crate::proto::write::{self, Status};
use crate::proto::{FLUSH_AT, date_time, encode_fetch_item};

/// Messages whose metadata is read from the store in one request.
const BATCH: usize = 128;
/// Messages whose raw text is read in one request.
const BODY_BATCH: usize = 16;

/// `1.2`, `HEADER`, `1.HEADER.FIELDS (SUBJECT FROM)`, … as the client asked (RFC 9051 §7.5.2
/// `section`).
fn section_text(section: Option<&Section<'_>>) -> String {
    fn part(p: &Part) -> String {
        p.0.as_ref()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(".")
    }
    fn prefixed(p: Option<&Part>, what: &str) -> String {
        match p {
            Some(p) => format!("{}.{what}", part(p)),
            None => what.to_string(),
        }
    }
    fn fields(list: &[AString<'_>]) -> String {
        let names: Vec<String> = list
            .iter()
            .map(|f| {
                let mut out = Vec::new();
                write::string(&mut out, f.as_ref(), false);
                String::from_utf8_lossy(&out).into_owned()
            })
            .collect();
        names.join(" ")
    }
    match section {
        None => String::new(),
        Some(Section::Part(p)) => part(p),
        Some(Section::Header(p)) => prefixed(p.as_ref(), "HEADER"),
        Some(Section::HeaderFields(p, list)) => prefixed(
            p.as_ref(),
            &format!("HEADER.FIELDS ({})", fields(list.as_ref())),
        ),
        Some(Section::HeaderFieldsNot(p, list)) => prefixed(
            p.as_ref(),
            &format!("HEADER.FIELDS.NOT ({})", fields(list.as_ref())),
        ),
        Some(Section::Text(p)) => prefixed(p.as_ref(), "TEXT"),
        Some(Section::Mime(p)) => format!("{}.MIME", part(p)),
    }
}

/// A literal `{n}` CRLF octets.
fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

/// What the items need loaded.
struct Needs {
    meta: bool,
    body: bool,
    /// The items set `\Seen` (non-PEEK body sections, RFC822, RFC822.TEXT).
    sets_seen: bool,
}

fn needs(items: &[MessageDataItemName<'_>]) -> Needs {
    use MessageDataItemName as N;
    let mut n = Needs {
        meta: false,
        body: false,
        sets_seen: false,
    };
    for item in items {
        match item {
            N::Envelope | N::BodyStructure | N::Body => n.meta = true,
            N::BodyExt { peek, .. } | N::Binary { peek, .. } => {
                n.body = true;
                n.sets_seen |= !peek;
            }
            N::Rfc822 | N::Rfc822Text => {
                n.body = true;
                n.sets_seen = true;
            }
            N::Rfc822Header | N::BinarySize { .. } => n.body = true,
            _ => {}
        }
    }
    n
}

impl Session {
    #[allow(clippy::too_many_lines)]
    pub(super) async fn fetch(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        out: &mut impl Output,
    ) -> io::Result<()> {
        // RFC 9051 §7.5.1: no EXPUNGE during FETCH by sequence number; UID FETCH may have them.
        self.updates(out.buffer(), uid).await;
        let rev2 = self.rev2;
        let State::Selected { account, mailbox } = &self.state else {
            return Ok(());
        };
        let account_id = account.id;
        let mut items = match items {
            MacroOrMessageDataItemNames::Macro(m) => m
                .expand()
                .into_iter()
                .map(IntoStatic::into_static)
                .collect(),
            MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
        };
        // RFC 9051 §6.4.9: UID FETCH always returns the UID.
        if uid && !items.iter().any(|i| matches!(i, MessageDataItemName::Uid)) {
            items.insert(0, MessageDataItemName::Uid);
        }
        let Some(picked) = mailbox.pick(set, uid, tag, out.buffer()) else {
            self.count_error(out.buffer());
            return Ok(());
        };
        let need = needs(&items);
        let mailbox_id = mailbox.info.id;
        let read_only = mailbox.read_only;

        // RFC 9051 §6.4.5: fetching a body section sets \Seen (unless read-only); do it first
        // so the FLAGS we then return are the new ones.
        if need.sets_seen && !read_only {
            let unseen: Vec<u32> = picked
                .iter()
                .filter(|(seq, _)| mailbox.messages[*seq as usize - 1].flags & FLAG_SEEN == 0)
                .map(|(_, uid)| *uid)
                .collect();
            if !unseen.is_empty() {
                let done = self
                    .store
                    .send(SetFlags {
                        account_id,
                        mailbox_id,
                        uids: unseen,
                        op: FlagOp::Add,
                        flags: FLAG_SEEN,
                        keywords: vec![],
                        unchanged_since: None,
                    })
                    .await;
                match answer(done) {
                    Ok(result) => {
                        if let State::Selected { mailbox, .. } = &mut self.state {
                            // Another session may have added a keyword meanwhile.
                            mailbox.take_updated(result.updated, out.buffer());
                        }
                        if !items
                            .iter()
                            .any(|i| matches!(i, MessageDataItemName::Flags))
                        {
                            items.push(MessageDataItemName::Flags);
                        }
                    }
                    Err(e) => {
                        store_error(out.buffer(), tag, &e);
                        return Ok(());
                    }
                }
            }
        }

        // Bodies come in smaller batches than metadata, to bound the memory they take.
        let batch = if need.body { BODY_BATCH } else { BATCH };
        for chunk in picked.chunks(batch) {
            let mut metas: HashMap<u32, Arc<MessageMeta>> = HashMap::new();
            if need.meta {
                let asked = self
                    .store
                    .send(FetchMeta {
                        account_id,
                        mailbox_id,
                        uids: chunk.iter().map(|(_, u)| *u).collect(),
                    })
                    .await;
                match answer(asked) {
                    Ok(list) => metas.extend(list.into_iter().map(|(info, meta)| (info.uid, meta))),
                    Err(e) => {
                        store_error(out.buffer(), tag, &e);
                        return Ok(());
                    }
                }
            }
            let mut bodies: HashMap<u32, Arc<[u8]>> = HashMap::new();
            if need.body {
                let asked = self
                    .store
                    .send(FetchBodies {
                        account_id,
                        mailbox_id,
                        uids: chunk.iter().map(|(_, u)| *u).collect(),
                    })
                    .await;
                match answer(asked) {
                    Ok(list) => bodies.extend(list),
                    Err(e) => {
                        store_error(out.buffer(), tag, &e);
                        return Ok(());
                    }
                }
            }
            for &(seq, uid) in chunk {
                let State::Selected { mailbox, .. } = &self.state else {
                    return Ok(());
                };
                let Some(info) = mailbox.messages.get(seq as usize - 1).cloned() else {
                    continue;
                };
                let recent = !rev2 && mailbox.recent.contains(&uid);
                let meta = metas.get(&uid).map(|m| &**m);
                // Expunged by another session since we last looked: RFC 9051 §7.5.1 lets
                // the server leave it out.
                if need.meta && meta.is_none() {
                    continue;
                }
                let raw = bodies.remove(&uid);
                if need.body && raw.is_none() {
                    continue;
                }
                let buf = out.buffer();
                let start = buf.len();
                buf.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
                let mut first = true;
                for item in &items {
                    if !first {
                        buf.push(b' ');
                    }
                    first = false;
                    if let Err(code) = fetch_item(item, &info, recent, meta, raw.as_deref(), buf) {
                        // Drop the half-written response line and answer the error.
                        buf.truncate(start);
                        write::status(
                            buf,
                            Some(tag),
                            Status::No,
                            Some(code),
                            "cannot fetch that part",
                        );
                        return Ok(());
                    }
                }
                buf.extend_from_slice(b")\r\n");
                if buf.len() >= FLUSH_AT {
                    out.flush().await?;
                }
            }
        }
        write::status(out.buffer(), Some(tag), Status::Ok, None, "FETCH completed");
        Ok(())
    }
}

/// Write one data item of one message; `Err` is the response code of a BINARY that cannot
/// be decoded.
fn fetch_item(
    item: &MessageDataItemName<'_>,
    info: &MessageInfo,
    recent: bool,
    meta: Option<&MessageMeta>,
    raw: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), &'static str> {
    use MessageDataItemName as N;
    let raw = raw.unwrap_or_default();
    match item {
        N::Uid => out.extend_from_slice(format!("UID {}", info.uid).as_bytes()),
        N::Flags => {
            let flags = write::flag_list(info.flags, &info.keywords, recent);
            out.extend_from_slice(format!("FLAGS {flags}").as_bytes());
        }
        N::InternalDate => out.extend_from_slice(
            format!("INTERNALDATE {}", date_time(info.internal_date)).as_bytes(),
        ),
        N::Rfc822Size => out.extend_from_slice(format!("RFC822.SIZE {}", info.size).as_bytes()),
        N::Envelope => {
            if let Some(meta) = meta {
                encode_fetch_item(
                    MessageDataItem::Envelope(render::envelope(&meta.envelope)),
                    out,
                );
            }
        }
        N::BodyStructure => {
            if let Some(meta) = meta {
                let b = render::body_structure(&meta.body, true);
                encode_fetch_item(MessageDataItem::BodyStructure(b), out);
            }
        }
        N::Body => {
            if let Some(meta) = meta {
                let b = render::body_structure(&meta.body, false);
                encode_fetch_item(MessageDataItem::Body(b), out);
            }
        }
        N::BodyExt {
            section, partial, ..
        } => {
            let content = render::section(raw, section.as_ref());
            let bytes = render::partial(&content, *partial);
            out.extend_from_slice(format!("BODY[{}]", section_text(section.as_ref())).as_bytes());
            if let Some((origin, _)) = partial {
                out.extend_from_slice(format!("<{origin}>").as_bytes());
            }
            out.push(b' ');
            literal(out, bytes);
        }
        N::Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            literal(out, raw);
        }
        N::Rfc822Header => {
            let header = render::section(raw, Some(&Section::Header(None)));
            out.extend_from_slice(b"RFC822.HEADER ");
            literal(out, &header);
        }
        N::Rfc822Text => {
            let text = render::section(raw, Some(&Section::Text(None)));
            out.extend_from_slice(b"RFC822.TEXT ");
            literal(out, &text);
        }
        N::Binary {
            section, partial, ..
        } => {
            let decoded = render::binary(raw, section).map_err(|_| "UNKNOWN-CTE")?;
            let bytes = render::partial(&decoded, *partial);
            let part: Vec<String> = section.iter().map(|n| n.to_string()).collect();
            out.extend_from_slice(format!("BINARY[{}]", part.join(".")).as_bytes());
            if let Some((origin, _)) = partial {
                out.extend_from_slice(format!("<{origin}>").as_bytes());
            }
            // RFC 3516 §4.3: literal8 when the content has a NUL.
            if bytes.contains(&0) {
                out.extend_from_slice(b" ~");
            } else {
                out.push(b' ');
            }
            literal(out, bytes);
        }
        N::BinarySize { section } => {
            let decoded = render::binary(raw, section).map_err(|_| "UNKNOWN-CTE")?;
            let part: Vec<String> = section.iter().map(|n| n.to_string()).collect();
            out.extend_from_slice(
                format!("BINARY.SIZE[{}] {}", part.join("."), decoded.len()).as_bytes(),
            );
        }
        N::ModSeq => out.extend_from_slice(format!("MODSEQ ({})", info.modseq).as_bytes()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::imap_types::core::Vec1;
    use std::num::NonZeroU32;

    #[test]
    fn section_texts() {
        let p = |v: &[u32]| {
            Part(
                Vec1::try_from(
                    v.iter()
                        .map(|&n| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
                        .collect::<Vec<_>>(),
                )
                .expect("part"),
            )
        };
        assert_eq!(section_text(None), "");
        assert_eq!(section_text(Some(&Section::Part(p(&[1, 2])))), "1.2");
        assert_eq!(section_text(Some(&Section::Header(None))), "HEADER");
        assert_eq!(section_text(Some(&Section::Text(Some(p(&[3]))))), "3.TEXT");
        assert_eq!(section_text(Some(&Section::Mime(p(&[2])))), "2.MIME");
        let fields = Vec1::try_from(vec![
            AString::try_from("Subject").expect("atom"),
            AString::try_from("X Y").expect("quoted"),
        ])
        .expect("fields");
        assert_eq!(
            section_text(Some(&Section::HeaderFields(None, fields))),
            "HEADER.FIELDS (\"Subject\" \"X Y\")"
        );
    }
}
