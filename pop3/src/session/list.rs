//! STAT, LIST and UIDL (RFC 1939 §5, §7): counts, sizes and unique ids of the messages not
//! marked deleted, by the numbers fixed at login.

use super::{Flow, Session, State};
use crate::proto::reply;

/// RFC 1939 §5: the reply to a message number that is out of range or marked deleted.
pub(super) const NO_SUCH_MESSAGE: &str = "no such message";

impl Session {
    /// RFC 1939 §5 STAT: `+OK nn mm`, deleted messages not counted.
    pub(super) fn stat(&mut self, out: &mut Vec<u8>) -> Flow {
        let State::Transaction(drop) = &self.state else {
            return Flow::Continue;
        };
        let (n, size) = drop.totals();
        out.extend(reply::ok(&format!("{n} {size}")));
        Flow::Continue
    }

    /// RFC 1939 §5 LIST: one message's size, or all of them as a multi-line answer.
    pub(super) fn list(&mut self, n: Option<u32>, out: &mut Vec<u8>) -> Flow {
        self.scan(n, out, |_, e| e.size.to_string(), true)
    }

    /// RFC 1939 §7 UIDL: one message's unique id, or all of them.
    pub(super) fn uidl(&mut self, n: Option<u32>, out: &mut Vec<u8>) -> Flow {
        self.scan(n, out, |d, e| d.unique_id(e), false)
    }

    fn scan(
        &mut self,
        n: Option<u32>,
        out: &mut Vec<u8>,
        value: impl Fn(&super::maildrop::Maildrop, &super::maildrop::Entry) -> String,
        with_totals: bool,
    ) -> Flow {
        let State::Transaction(drop) = &self.state else {
            return Flow::Continue;
        };
        match n {
            Some(n) => match drop.live(n) {
                Some(e) => {
                    out.extend(reply::ok(&format!("{n} {}", value(drop, e))));
                    Flow::Continue
                }
                None => self.client_error(out, NO_SUCH_MESSAGE),
            },
            None => {
                let head = if with_totals {
                    let (count, size) = drop.totals();
                    format!("{count} messages ({size} octets)")
                } else {
                    "unique-id listing follows".to_string()
                };
                out.extend(reply::ok(&head));
                for (i, e) in drop.messages.iter().enumerate() {
                    if !e.deleted {
                        out.extend(format!("{} {}\r\n", i + 1, value(drop, e)).into_bytes());
                    }
                }
                out.extend_from_slice(b".\r\n");
                Flow::Continue
            }
        }
    }
}
