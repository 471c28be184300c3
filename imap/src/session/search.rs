//! SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH results (RFC 4731, RFC 9051
//! §7.3.4). Flags, sizes, dates and UIDs are answered from the session's message list; the
//! stored metadata is read only for address, subject and date keys, the stored header blocks
//! only for HEADER, the raw messages only for BODY/TEXT.

use std::collections::HashMap;
use std::sync::Arc;

use imap_codec::imap_types::core::{Charset, Vec1};
use imap_codec::imap_types::search::SearchKey;
use mailroom_store::actor::{FetchBodies, FetchHeaders, FetchMeta};
use mailroom_store::mime::MessageMeta;

use super::{Session, State, answer, store_error};
use crate::proto::write::{self, Status};
use crate::search::{self as eval, Candidate, ReturnOptions, Scope};

/// Messages whose metadata is read in one request.
const BATCH: usize = 512;
/// Messages whose raw text is read in one request.
const BODY_BATCH: usize = 64;

impl Session {
    pub(super) async fn search(
        &mut self,
        tag: &str,
        charset: Option<&Charset<'_>>,
        criteria: &[SearchKey<'_>],
        uid: bool,
        options: Option<ReturnOptions>,
        out: &mut Vec<u8>,
    ) {
        if let Err(e) = eval::check_charset(charset) {
            write::status(
                out,
                Some(tag),
                Status::No,
                Some("BADCHARSET (UTF-8 US-ASCII)"),
                &e.to_string(),
            );
            return;
        }
        self.updates(out, uid).await;
        let rev2 = self.rev2;
        let State::Selected { account, mailbox } = &self.state else {
            return;
        };
        let key = match criteria {
            [one] => one.clone(),
            many => match Vec1::try_from(many.to_vec()) {
                Ok(all) => SearchKey::And(all),
                Err(_) => SearchKey::All,
            },
        };
        let need = eval::needs(&key);
        let scope = Scope {
            max_seq: mailbox.exists(),
            max_uid: mailbox.messages.last().map_or(0, |m| m.uid),
        };
        let mut found = Vec::new();
        // Bodies come in smaller batches than metadata, to bound the memory they take.
        let batch = if need.body { BODY_BATCH } else { BATCH };
        for (i, chunk) in mailbox.messages.chunks(batch).enumerate() {
            let mut metas: HashMap<u32, Arc<MessageMeta>> = HashMap::new();
            if need.meta {
                let asked = self
                    .store
                    .send(FetchMeta {
                        account_id: account.id,
                        mailbox_id: mailbox.info.id,
                        uids: chunk.iter().map(|m| m.uid).collect(),
                    })
                    .await;
                match answer(asked) {
                    Ok(list) => metas.extend(list.into_iter().map(|(info, meta)| (info.uid, meta))),
                    Err(e) => return store_error(out, tag, &e),
                }
            }
            // The whole messages for BODY/TEXT (HEADER reads their headers), else only the
            // header blocks for HEADER.
            let mut texts: HashMap<u32, Arc<[u8]>> = HashMap::new();
            if need.body || need.header {
                let (account_id, mailbox_id) = (account.id, mailbox.info.id);
                let uids: Vec<u32> = chunk.iter().map(|m| m.uid).collect();
                let asked = if need.body {
                    let m = FetchBodies {
                        account_id,
                        mailbox_id,
                        uids,
                    };
                    self.store.send(m).await
                } else {
                    let m = FetchHeaders {
                        account_id,
                        mailbox_id,
                        uids,
                    };
                    self.store.send(m).await
                };
                match answer(asked) {
                    Ok(list) => texts.extend(list),
                    Err(e) => return store_error(out, tag, &e),
                }
            }
            for (j, info) in chunk.iter().enumerate() {
                let seq = (i * batch + j) as u32 + 1;
                let text = texts.get(&info.uid).map(|t| &t[..]);
                // Expunged by another session since we last looked.
                if (need.body || need.header) && text.is_none() {
                    continue;
                }
                let candidate = Candidate {
                    seq,
                    info,
                    // RFC 9051 §2.3.2: no \Recent in IMAP4rev2.
                    recent: !rev2 && mailbox.recent.contains(&info.uid),
                    meta: metas.get(&info.uid).map(|m| &**m),
                    header: text.filter(|_| !need.body),
                    raw: text.filter(|_| need.body),
                };
                if eval::matches(&key, &candidate, &scope) {
                    found.push(if uid { info.uid } else { seq });
                }
            }
        }
        match options {
            Some(opts) => out.extend(eval::esearch(tag, uid, &found, &opts)),
            // RFC 9051 §6.4.4: an IMAP4rev2 client gets ESEARCH even without RETURN.
            None if rev2 => {
                let all = ReturnOptions {
                    all: true,
                    ..ReturnOptions::default()
                };
                out.extend(eval::esearch(tag, uid, &found, &all));
            }
            None => {
                let numbers: Vec<String> = found.iter().map(u32::to_string).collect();
                let sep = if numbers.is_empty() { "" } else { " " };
                write::untagged(out, &format!("SEARCH{sep}{}", numbers.join(" ")));
            }
        }
        write::status(out, Some(tag), Status::Ok, None, "SEARCH completed");
    }
}
