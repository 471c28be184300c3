//! RETR and TOP (RFC 1939 §5, §7): the message, dot-stuffed, streamed from the store in
//! pieces so that a large message never sits whole in memory: the store hands over an open
//! file, read in [`PIECE`]-sized chunks on tokio's blocking pool, each written out before
//! the next is read. TOP stops reading once it has the lines it needs.
//!
//! Once `+OK` is sent the answer cannot become `-ERR`: a read error in the middle ends the
//! session (nothing is removed).

use std::io;

use mailroom_store::actor::OpenBody;
use mailroom_store::{BodySource, StoreError};
use tokio::io::AsyncReadExt;

use super::list::NO_SUCH_MESSAGE;
use super::{Flow, Output, Session, State, answer};
use crate::proto::reply::{self, SYS_TEMP};
use crate::proto::{DotStuffer, Progress};

/// Octets read from a body file at a time.
pub const PIECE: usize = 64 * 1024;

impl Session {
    /// RETR `n` (`top` = None) or TOP `n` `lines`.
    pub(super) async fn retr(
        &mut self,
        n: u32,
        top: Option<u64>,
        out: &mut impl Output,
    ) -> io::Result<Flow> {
        let State::Transaction(drop) = &self.state else {
            return Ok(Flow::Continue);
        };
        let Some(entry) = drop.live(n) else {
            return Ok(self.client_error(out.buffer(), NO_SUCH_MESSAGE));
        };
        let (uid, size) = (entry.uid, entry.size);
        let opened = self
            .store
            .send(OpenBody {
                account_id: drop.account_id,
                mailbox_id: drop.mailbox_id,
                uid,
            })
            .await;
        let body = match answer(opened) {
            Ok(body) => body,
            Err(StoreError::NotFound(_)) => {
                // Expunged by an IMAP session since login; the number stays taken.
                out.buffer().extend(reply::err(&format!(
                    "message {n} was removed by another session"
                )));
                return Ok(Flow::Continue);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a message");
                out.buffer().extend(reply::err_code(
                    SYS_TEMP,
                    "cannot read the message now, try again later",
                ));
                return Ok(Flow::Continue);
            }
        };
        let (mut stuffer, head) = match top {
            None => (DotStuffer::whole(), format!("{size} octets")),
            Some(lines) => (DotStuffer::top(lines), "top of message follows".to_string()),
        };
        out.buffer().extend(reply::ok(&head));
        match body {
            BodySource::Inline(data) => {
                stuffer.push(&data, out.buffer());
            }
            BodySource::Stream(mut file, _) => {
                let mut piece = vec![0u8; PIECE];
                loop {
                    let read = file.read(&mut piece).await?;
                    if read == 0 || stuffer.push(&piece[..read], out.buffer()) == Progress::Done {
                        break;
                    }
                    // Out before the next piece is read: memory stays at about two pieces.
                    out.flush().await?;
                }
            }
        }
        stuffer.finish(out.buffer());
        Ok(Flow::Continue)
    }
}
