//! What submission (RFC 6409) adds to a transaction: the sender and the `From:` addresses
//! must be the logged-in account's (RFC 6409 §6.1 lets an MSA refuse them), recipients on
//! other domains go to the outbound queue, and a message without `Date:` or `Message-ID:`
//! gets them (RFC 6409 §8.2, §8.3).

use super::{Action, Session, Transaction};
use crate::proto::reply::Reply;
use mailroom_shared::events::Stage;

/// A recipient on another domain, with its RFC 3461 parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRcpt {
    /// The address as given.
    pub address: String,
    /// smtp-proto's `RCPT_NOTIFY_*` bits (0: the parameter was absent).
    pub notify: u64,
    /// ORCPT, as given (`rfc822;addr`).
    pub orcpt: Option<String>,
}

/// A submitted message, ready to be signed, stored and queued.
#[derive(Debug, PartialEq)]
pub struct Submission {
    /// The logged-in account: it gets the DSNs.
    pub account_id: i64,
    /// The reverse-path (never empty on submission).
    pub sender: String,
    /// Local accounts to store it for (deduplicated).
    pub local: Vec<i64>,
    /// Recipients on other domains.
    pub remote: Vec<RemoteRcpt>,
    /// The domain of the `From:` address: whose DKIM keys sign it.
    pub from_domain: String,
    /// The `Received:` field, then the message (with any added `Date:`/`Message-ID:`).
    pub raw: Vec<u8>,
    /// RFC 3461 RET (`MAIL_RET_*` bits, 0 when absent).
    pub ret: u64,
    /// RFC 3461 ENVID, as given.
    pub envid: Option<String>,
    /// Its `Delivered` event.
    pub event: mailroom_shared::events::Delivered,
}

/// The driver's answer to [`Action::Authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// One answer per address asked about, in order.
    Owned(Vec<bool>),
    /// At MAIL: the account has already sent `limit` messages in the last hour.
    OverRate {
        /// The configured hourly limit.
        limit: u32,
    },
    /// The store could not say.
    Unavailable,
}

/// What waits for an [`Authorization`].
#[derive(Debug)]
pub(crate) enum Authorizing {
    /// A MAIL: its transaction opens if the sender is the account's.
    Mail(Box<Transaction>),
    /// The end of the data: the message (without trace fields) and the `From:` domain.
    Data { data: Vec<u8>, from_domain: String },
}

/// An accepted remote recipient of a submission transaction.
pub(super) fn accept_remote(
    s: &mut Session,
    address: String,
    (notify, orcpt): (u64, Option<String>),
) {
    if let Some(tx) = &mut s.tx {
        tx.remote.push(RemoteRcpt {
            address,
            notify,
            orcpt,
        });
    }
    s.respond(Reply::new(250, "2.1.5", "recipient OK, will be relayed"));
}

/// The `From:` addresses of a message's header (RFC 5322 §3.6.2), lowercase-insensitive
/// duplicates removed; `None` when there is no `From:` field or no address in it.
fn from_addresses(data: &[u8]) -> Option<Vec<String>> {
    let message = mail_parser::MessageParser::new().parse_headers(data)?;
    let mut out: Vec<String> = Vec::new();
    for addr in message.from()?.iter() {
        if let Some(a) = addr.address()
            && !out.iter().any(|o| o.eq_ignore_ascii_case(a))
        {
            out.push(a.to_string());
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Which of `Date:` and `Message-ID:` the header of `data` lacks, as fields to add.
fn missing_fields(data: &[u8], host: &str, now: i64, id: &str) -> Vec<u8> {
    let end = mailroom_store::mime::header_len(data);
    let header = &data[..end.min(data.len())];
    let has = |name: &str| {
        header.split(|&b| b == b'\n').any(|line| {
            line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()] == b':'
        })
    };
    let mut out = Vec::new();
    if !has("date") {
        let date = mail_parser::DateTime::from_timestamp(now).to_rfc822();
        out.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
    }
    if !has("message-id") {
        out.extend_from_slice(format!("Message-ID: <{id}@{host}>\r\n").as_bytes());
    }
    out
}

impl Session {
    /// The end of a submission's data: the `From:` addresses must be checked first.
    pub(super) fn submit_data(&mut self, data: Vec<u8>) -> Option<Action> {
        let account_id = self.login.as_ref()?.account_id;
        let Some(addresses) = from_addresses(&data) else {
            let r = Reply::new(
                550,
                "5.6.0",
                "the message has no From: field with an address",
            );
            self.reject(Stage::Data, r, None);
            self.reset_transaction();
            return None;
        };
        let from_domain = addresses[0]
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        self.authorizing = Some(Authorizing::Data { data, from_domain });
        Some(Action::Authorize {
            account_id,
            addresses,
            at_mail: false,
        })
    }

    /// The answer to [`Action::Authorize`].
    pub fn authorized(&mut self, answer: Authorization) {
        let Some(waiting) = self.authorizing.take() else {
            return;
        };
        let refusal = match &answer {
            Authorization::Owned(owned) if owned.iter().all(|&o| o) => None,
            Authorization::Owned(_) => Some(match &waiting {
                Authorizing::Mail(_) => Reply::new(
                    550,
                    "5.7.1",
                    "sender address is not owned by the authenticated account",
                ),
                Authorizing::Data { .. } => Reply::new(
                    550,
                    "5.7.1",
                    "From: address is not owned by the authenticated account",
                ),
            }),
            Authorization::OverRate { limit } => Some(Reply::new(
                450,
                "4.7.1",
                format!("sending rate limit reached ({limit} messages per hour); try later"),
            )),
            Authorization::Unavailable => Some(crate::proto::reply::try_later()),
        };
        match waiting {
            Authorizing::Mail(tx) => match refusal {
                None => {
                    self.tx = Some(*tx);
                    self.respond(Reply::new(250, "2.1.0", "sender OK"));
                }
                Some(r) => self.reject_from(Stage::Mail, r, Some(tx.from), None),
            },
            Authorizing::Data { data, from_domain } => match refusal {
                None => self.pending = self.submission(data, from_domain).map(Action::Submit),
                Some(r) => {
                    self.reject(Stage::Data, r, None);
                    self.reset_transaction();
                }
            },
        }
    }

    fn submission(&self, data: Vec<u8>, from_domain: String) -> Option<Submission> {
        let tx = self.tx.as_ref()?;
        let login = self.login.as_ref()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut raw = super::trace::fields(self, tx, now);
        raw.extend_from_slice(&missing_fields(
            &data,
            &self.ctx.host,
            now,
            // The time makes it unique across restarts, which start session ids over.
            &format!("{now:x}.{}", self.message_id()),
        ));
        raw.extend_from_slice(&data);
        let mut event = self.delivered_event(tx, raw.len(), None);
        event
            .envelope
            .rcpt_to
            .extend(tx.remote.iter().map(|r| r.address.clone()));
        Some(Submission {
            account_id: login.account_id,
            sender: tx.from.clone(),
            local: super::data::accounts(tx),
            remote: tx.remote.clone(),
            from_domain,
            raw,
            ret: tx.ret,
            envid: tx.envid.clone(),
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{from_addresses, missing_fields};

    #[test]
    fn from_addresses_are_read_from_the_header_only() {
        let m = b"From: A <a@x.test>, b@Y.test\r\nTo: c@z.test\r\n\r\nFrom: evil@e.test\r\n";
        assert_eq!(
            from_addresses(m),
            Some(vec!["a@x.test".to_string(), "b@Y.test".to_string()])
        );
        assert_eq!(from_addresses(b"To: c@z.test\r\n\r\nbody\r\n"), None);
        assert_eq!(from_addresses(b"From: undisclosed:;\r\n\r\n"), None);
    }

    #[test]
    fn only_missing_date_and_message_id_are_added() {
        let none = missing_fields(b"Subject: x\r\n\r\nDate: no\r\n", "h.test", 0, "1.2");
        let text = String::from_utf8(none).expect("ascii");
        assert!(
            text.starts_with("Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n"),
            "{text}"
        );
        assert!(text.ends_with("Message-ID: <1.2@h.test>\r\n"), "{text}");
        let both = b"date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMESSAGE-ID: <a@b>\r\n\r\n";
        assert!(missing_fields(both, "h.test", 0, "1.2").is_empty());
    }
}
