//! IDLE (RFC 2177, RFC 9051 §6.3.13): the client waits for updates until it sends DONE.
//!
//! The driver wakes the session with [`Session::idle_wakeup`] as soon as a `MailboxChanged`
//! event for the selected mailbox arrives, and the session then writes the untagged updates
//! at once — expunges included, since a command (IDLE) is in progress.

use std::io;

use super::{Flow, Mode, Output, Session};
use crate::proto::write::{self, Status};

impl Session {
    pub(super) async fn idle(&mut self, tag: &str, out: &mut Vec<u8>) -> Flow {
        write::continuation(out, "idling");
        self.updates(out, true).await;
        self.mode = Mode::Idle {
            tag: tag.to_string(),
        };
        Flow::Idle
    }

    /// The message that ends IDLE: `DONE` (any case), anything else is an error.
    pub(super) async fn idle_message(
        &mut self,
        tag: String,
        bytes: &[u8],
        out: &mut impl Output,
    ) -> io::Result<Flow> {
        let line = bytes.trim_ascii_end();
        if line.eq_ignore_ascii_case(b"DONE") {
            self.updates(out.buffer(), true).await;
            write::status(
                out.buffer(),
                Some(&tag),
                Status::Ok,
                None,
                "IDLE terminated",
            );
        } else {
            write::status(out.buffer(), Some(&tag), Status::Bad, None, "expected DONE");
            self.count_error(out.buffer());
        }
        Ok(Flow::Continue)
    }

    /// The selected mailbox changed while idling: write its updates now.
    pub async fn idle_wakeup(&mut self, out: &mut impl Output) -> io::Result<()> {
        self.mailbox_changed();
        if self.idling() {
            self.updates(out.buffer(), true).await;
        }
        Ok(())
    }
}
