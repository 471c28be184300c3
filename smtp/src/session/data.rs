//! DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030): receiving the message, bounded by
//! `limits.max_message_size`, having it inspected (DKIM, ARC, DMARC) on the MX listener, and
//! handing it to the store with its trace fields and `Authentication-Results:`.

use super::{Action, Delivery, Mode, Session, Transaction};
use crate::policy::{Disposition, Inspection, Verdict, strip_our_results, strip_spam_fields};
use crate::proto::bdat::CHUNK_SIZE_OVERFLOW;
use crate::proto::data_end::{DataEnd, Scan};
use crate::proto::reply::{self, Reply};
use mailroom_shared::events::{self, Envelope, Stage};
use mailroom_shared::inflight::Exhausted;
use mailroom_shared::spool::Spool;

/// A message being received, into a [`Spool`]: a bounded buffer in memory, the rest on disk.
/// Counts at most `max` octets whatever the client sends.
pub struct Body {
    data: Spool,
    max: u64,
    overflow: bool,
    scanner: DataEnd,
    /// Writing to the spool failed (disk full…): the transaction ends in 451 4.3.0.
    failed: bool,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("len", &self.data.len())
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}

impl Body {
    /// A body with its place in the server's memory budget; `Exhausted` when there is none.
    pub(crate) fn new(max: u64) -> Result<Self, Exhausted> {
        Ok(Self {
            data: Spool::start()?,
            max,
            overflow: false,
            scanner: DataEnd::new(),
            failed: false,
        })
    }

    /// Octets received so far.
    pub(crate) fn len(&self) -> u64 {
        self.data.len()
    }

    /// Keep `bytes`, unless the message is already too big (then nothing more is kept).
    fn keep(&mut self, bytes: &[u8]) {
        if self.overflow || self.failed {
            return;
        }
        if self.data.len() + bytes.len() as u64 > self.max {
            self.overflow = true;
            self.data = Spool::with(0, None);
            return;
        }
        if let Err(e) = self.data.write(bytes) {
            tracing::warn!(error = %e, "cannot spool a message");
            self.failed = true;
            self.data = Spool::with(0, None);
        }
    }

    /// DATA: take input up to the end-of-data mark; true once it was seen, with `input` left
    /// at what follows it (pipelined commands). Only CRLF.CRLF ends the data (the SMTP
    /// smuggling defence, see [`DataEnd`]), and dot-stuffing is removed (RFC 5321 §4.5.2).
    pub(crate) fn ingest_data(&mut self, input: &mut &[u8]) -> bool {
        let mut scanner = std::mem::take(&mut self.scanner);
        let scan = scanner.scan(input, &mut |content: &[u8]| self.keep(content));
        self.scanner = scanner;
        match scan {
            Scan::More => {
                *input = &[];
                false
            }
            Scan::Ended { consumed } => {
                *input = &input[consumed..];
                true
            }
        }
    }

    /// BDAT: one chunk's octets, taken as they are.
    pub(crate) fn push_chunk(&mut self, bytes: &[u8]) {
        self.keep(bytes);
    }
}

/// RFC 5321 §2.3.8: lines end in CRLF; a lone LF or CR is how smuggling attacks and broken
/// clients show themselves.
fn has_bare_newline(data: &[u8]) -> bool {
    // Only the line ends are looked at (a vectorised search finds them), not every octet.
    memchr::memchr2_iter(b'\r', b'\n', data).any(|i| match data[i] {
        b'\n' => i == 0 || data[i - 1] != b'\r',
        _ => data.get(i + 1) != Some(&b'\n'),
    })
}

impl Session {
    pub(super) fn data(&mut self) {
        let Some(tx) = &self.tx else {
            return self.respond(reply::bad_sequence("need MAIL before DATA"));
        };
        if tx.rcpts.is_empty() && tx.remote.is_empty() {
            return self.respond(Reply::new(554, "5.5.1", "no valid recipients"));
        }
        if tx.binary {
            // RFC 3030 §3: BINARYMIME data can only travel in BDAT chunks.
            return self.respond(reply::bad_sequence("BODY=BINARYMIME needs BDAT, not DATA"));
        }
        if self.chunks.is_some() {
            return self.respond(reply::bad_sequence("DATA cannot follow BDAT"));
        }
        let Ok(body) = Body::new(self.ctx.limits.max_message_size) else {
            return self.respond(no_room());
        };
        Reply::new(354, "", "end data with <CR><LF>.<CR><LF>").write_to(&mut self.out);
        self.mode = Mode::Data(body);
    }

    pub(super) fn end_of_data(&mut self) -> Option<Action> {
        let Mode::Data(body) = std::mem::replace(&mut self.mode, Mode::Command) else {
            return None;
        };
        self.finish(body, true)
    }

    pub(super) fn bdat(&mut self, size: usize, last: bool) {
        if size == CHUNK_SIZE_OVERFLOW {
            // RFC 3030 §2: chunk-size octets follow the command; a size past any number we
            // hold cannot be read through, and its octets must not be taken for commands.
            let max = self.ctx.limits.max_message_size;
            let r = Reply::new(
                552,
                "5.3.4",
                format!("chunk size exceeds the fixed maximum of {max} octets; closing connection"),
            );
            self.reject(Stage::Data, r, None);
            self.reset_transaction();
            self.mode = Mode::Closed;
            return;
        }
        // RFC 3030 §2: a refused BDAT's chunk is still read (and dropped); its reply comes
        // after the chunk.
        let refusal = match &self.tx {
            None => Some(reply::bad_sequence("need MAIL before BDAT")),
            Some(tx) if tx.rcpts.is_empty() && tx.remote.is_empty() => {
                Some(Reply::new(554, "5.5.1", "no valid recipients"))
            }
            Some(_) => None,
        };
        let mut refusal = refusal;
        if refusal.is_none() && self.chunks.is_none() {
            match Body::new(self.ctx.limits.max_message_size) {
                Ok(body) => self.chunks = Some(body),
                Err(Exhausted) => refusal = Some(no_room()),
            }
        }
        self.mode = Mode::Bdat {
            left: size,
            last,
            refusal,
        };
    }

    pub(super) fn end_of_chunk(&mut self, last: bool, refusal: Option<Reply>) -> Option<Action> {
        if let Some(r) = refusal {
            if last {
                self.reset_transaction();
            }
            self.respond(r);
            return None;
        }
        let body = self.chunks.take()?;
        if !last {
            let received = body.len();
            self.chunks = Some(body);
            self.respond(Reply::new(
                250,
                "2.0.0",
                format!("{received} octets received"),
            ));
            return None;
        }
        let check_lines = !self.tx.as_ref().is_some_and(|tx| tx.binary);
        self.finish(body, check_lines)
    }

    /// The data is complete: refuse it, or (once it is in memory) ask the store to deliver it.
    fn finish(&mut self, body: Body, check_lines: bool) -> Option<Action> {
        self.tx.as_ref()?;
        if body.failed {
            self.reset_transaction();
            self.respond(Reply::new(
                451,
                "4.3.0",
                "the message could not be kept, try again later",
            ));
            return None;
        }
        if body.overflow {
            let max = self.ctx.limits.max_message_size;
            let r = Reply::new(
                552,
                "5.3.4",
                format!("message exceeds the fixed maximum of {max} octets"),
            );
            self.reject(Stage::Data, r, None);
            self.reset_transaction();
            return None;
        }
        if body.data.on_disk() {
            self.loading = Some(check_lines);
            return Some(Action::Load(super::Spooled(body.data)));
        }
        match body.data.into_bytes() {
            Ok(data) => self.finish_bytes(data, check_lines),
            Err(e) => {
                self.loaded(Err(e));
                None
            }
        }
    }

    /// The answer to [`Action::Load`]: the spooled message, read back.
    pub fn loaded(&mut self, data: std::io::Result<Vec<u8>>) {
        let check_lines = self.loading.take().unwrap_or(true);
        match data {
            Ok(data) => {
                self.pending = self.finish_bytes(data, check_lines);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a spooled message back");
                self.reset_transaction();
                self.respond(Reply::new(
                    451,
                    "4.3.0",
                    "the message could not be kept, try again later",
                ));
            }
        }
    }

    fn finish_bytes(&mut self, data: Vec<u8>, check_lines: bool) -> Option<Action> {
        let tx = self.tx.as_ref()?;
        if check_lines && has_bare_newline(&data) {
            let r = Reply::new(
                554,
                "5.6.0",
                "message has a bare LF or CR; lines must end with CRLF",
            );
            self.reject(Stage::Data, r, None);
            self.reset_transaction();
            return None;
        }
        if self.login.is_some() {
            return self.submit_data(data);
        }
        if self.ctx.checks.auth || self.ctx.checks.spam {
            let inspection = Inspection {
                data,
                peer: self.ctx.peer,
                helo: self
                    .helo
                    .as_ref()
                    .map(|h| h.name.clone())
                    .unwrap_or_default(),
                mail_from: tx.from.clone(),
                sender: tx.sender.clone().unwrap_or_default(),
                accounts: accounts(tx),
            };
            self.inspecting = true;
            return Some(Action::Inspect(inspection));
        }
        let accounts = accounts(tx);
        let mut raw = self.trace_fields(tx);
        raw.extend_from_slice(&data);
        let event = self.delivered_event(tx, raw.len(), None);
        Some(Action::Deliver(Delivery {
            accounts,
            junk: Vec::new(),
            raw,
            event,
        }))
    }

    /// The `Delivered` event of the transaction's message of `size` octets as stored.
    pub(super) fn delivered_event(
        &self,
        tx: &Transaction,
        size: usize,
        auth_results: Option<String>,
    ) -> events::Delivered {
        events::Delivered {
            message_id: self.message_id(),
            client: self.ctx.peer,
            envelope: Envelope {
                mail_from: tx.from.clone(),
                rcpt_to: tx
                    .rcpts
                    .iter()
                    .map(|(address, _)| address.clone())
                    .collect(),
            },
            recipients: Vec::new(),
            size: size as u64,
            spam_score: None,
            auth_results,
        }
    }

    fn trace_fields(&self, tx: &Transaction) -> Vec<u8> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        super::trace::fields(self, tx, now)
    }

    /// The answer to [`Action::Inspect`]: refuse the message, or deliver it (to INBOX or Junk)
    /// with the verdict's header fields after the trace fields and without forged
    /// `Authentication-Results:` of ours (RFC 8601 §5).
    pub fn inspected(&mut self, inspection: Inspection, verdict: Verdict) {
        if !std::mem::take(&mut self.inspecting) {
            return;
        }
        let Some(tx) = self.tx.as_ref() else {
            return;
        };
        let accounts = accounts(tx);
        let junk = match verdict.disposition {
            Disposition::Reject(text) => {
                let r = reply::policy_refused(text);
                let from = tx.from.clone();
                self.reject_event(Stage::Data, &r, Some(from));
                self.reset_transaction();
                return self.respond(r);
            }
            Disposition::Junk => accounts.clone(),
            // Some recipients' own scores may still send their copy to Junk.
            Disposition::Deliver => verdict.junk.clone(),
        };
        let mut raw = self.trace_fields(tx);
        raw.extend_from_slice(&verdict.headers);
        let data = strip_our_results(&inspection.data, &self.ctx.host);
        if verdict.spam_score.is_some() {
            raw.extend_from_slice(&strip_spam_fields(&data));
        } else {
            raw.extend_from_slice(&data);
        }
        let mut event = self.delivered_event(tx, raw.len(), verdict.auth_results.clone());
        event.spam_score = verdict.spam_score;
        self.pending = Some(Action::Deliver(Delivery {
            accounts,
            junk,
            raw,
            event,
        }));
    }
}

/// RFC 3463 4.3.1 (mail system full): the server's budget for message data in memory
/// (`[limits] max_inflight_bytes`) has no room for another message now.
fn no_room() -> Reply {
    Reply::new(
        452,
        "4.3.1",
        "insufficient system resources, try again later",
    )
}

/// The transaction's accounts, each once.
pub(super) fn accounts(tx: &Transaction) -> Vec<i64> {
    let mut accounts: Vec<i64> = tx
        .rcpts
        .iter()
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    accounts.sort_unstable();
    accounts.dedup();
    accounts
}

#[cfg(test)]
mod tests {
    use super::has_bare_newline;

    #[test]
    fn bare_newlines() {
        assert!(!has_bare_newline(b"a\r\nb\r\n"));
        assert!(has_bare_newline(b"a\nb\r\n"));
        assert!(has_bare_newline(b"a\rb\r\n"));
        assert!(has_bare_newline(b"\n"));
        assert!(has_bare_newline(b"end\r"));
        assert!(!has_bare_newline(b""));
    }
}
