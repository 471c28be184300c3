//! APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315 §3), flags and date.

use std::sync::Arc;

use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use mailroom_shared::inflight::inflight;
use mailroom_store::StoreError;
use mailroom_store::actor::Append;

use super::{Session, answer, store_error};
use crate::proto::write::{self, Status};

/// System flag bits and keywords of a flag list (APPEND, STORE).
pub(crate) fn split_flags(flags: &[Flag<'_>]) -> Result<(u8, Vec<String>), String> {
    use mailroom_store::{FLAG_ANSWERED, FLAG_DELETED, FLAG_DRAFT, FLAG_FLAGGED, FLAG_SEEN};
    let mut bits = 0;
    let mut keywords = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => bits |= FLAG_SEEN,
            Flag::Answered => bits |= FLAG_ANSWERED,
            Flag::Flagged => bits |= FLAG_FLAGGED,
            Flag::Deleted => bits |= FLAG_DELETED,
            Flag::Draft => bits |= FLAG_DRAFT,
            Flag::Keyword(k) => keywords.push(k.as_ref().to_string()),
            // RFC 9051 §2.3.2: \Recent and unknown system flags cannot be set.
            other @ Flag::Extension(_) => return Err(format!("flag {other} cannot be set")),
        }
    }
    Ok((bits, keywords))
}

impl Session {
    pub(super) async fn append(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        flags: &[Flag<'_>],
        date: Option<&DateTime>,
        message: LiteralOrLiteral8<'_>,
        out: &mut Vec<u8>,
    ) {
        let Some(account_id) = self.account_id() else {
            return;
        };
        let Some(name) = self.name_or_no(tag, mailbox, out) else {
            return;
        };
        let (bits, keywords) = match split_flags(flags) {
            Ok(x) => x,
            Err(text) => {
                write::status(out, Some(tag), Status::Bad, None, &text);
                return;
            }
        };
        let spooled = self.spooled.take();
        let inline: &[u8] = match &message {
            LiteralOrLiteral8::Literal(l) => l.as_ref(),
            LiteralOrLiteral8::Literal8(l) => &l.data,
        };
        // A big literal was streamed to disk by the driver; reading it back takes its share
        // of the server's budget, waiting its turn: an APPEND under way always finishes.
        let (raw, _held): (Arc<[u8]>, _) = match spooled {
            Some(spool) if inline.is_empty() => {
                // The Vec read back and the Arc made of it exist together for a moment.
                let Ok(held) = inflight()
                    .budget
                    .reserve(spool.len().saturating_mul(2))
                    .await
                else {
                    write::status(out, Some(tag), Status::No, Some("LIMIT"), "server busy");
                    return;
                };
                // A read of up to max_message_size octets: off the session's arbiter.
                let read = tokio::task::spawn_blocking(move || spool.into_bytes())
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                match read {
                    Ok(data) => (Arc::from(data), Some(held)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read a spooled APPEND back");
                        write::status(
                            out,
                            Some(tag),
                            Status::No,
                            Some("UNAVAILABLE"),
                            "the message could not be kept, try again later",
                        );
                        return;
                    }
                }
            }
            _ => (Arc::from(inline), None),
        };
        if raw.len() as u64 > self.ctx.limits.max_message_size {
            write::status(
                out,
                Some(tag),
                Status::No,
                Some("TOOBIG"),
                "message too big",
            );
            return;
        }
        if raw.is_empty() {
            write::status(
                out,
                Some(tag),
                Status::No,
                None,
                "an empty message cannot be appended",
            );
            return;
        }
        let appended = self
            .store
            .send(Append {
                account_id,
                mailbox: name,
                flags: bits,
                keywords,
                internal_date: date.map(|d| d.as_ref().timestamp()),
                raw,
            })
            .await;
        match answer(appended) {
            Ok(a) => {
                // Our own message shows up as an update like anyone else's.
                self.mailbox_changed();
                self.updates(out, true).await;
                let code = format!("APPENDUID {} {}", a.uidvalidity, a.uid);
                write::status(out, Some(tag), Status::Ok, Some(&code), "APPEND completed");
            }
            // RFC 9051 §6.3.12: TRYCREATE when the target does not exist.
            Err(StoreError::NotFound(_)) => write::status(
                out,
                Some(tag),
                Status::No,
                Some("TRYCREATE"),
                "no such mailbox",
            ),
            Err(e) => store_error(out, tag, &e),
        }
    }
}
