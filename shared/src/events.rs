//! Delivery events: what happened to mail, for the policy actors that learn from it and for
//! webhooks that tell the outside world. Each event is recorded durably in the store's event
//! log first (with the change it describes when the store made it) and then published on the
//! bus as [`EventRecorded`], so a subscriber that was down can read what it missed from the log.
//!
//! The serialised form is the webhook body: `{"id", "type", "timestamp", …fields}`.

use actix::Message;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The kinds of event, as named in webhook filters (`events = ["delivered", …]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Mail was stored for local recipients.
    Delivered,
    /// A client's mail (or the client) was refused.
    Rejected,
    /// A recipient was deferred by greylisting.
    Greylisted,
    /// A user moved messages between mailboxes.
    MessageMoved,
    /// A login failed.
    AuthFailed,
    /// Failed logins locked an account or a client address out.
    LockedOut,
}

impl EventKind {
    /// Every kind, for validating filters.
    pub const ALL: [EventKind; 6] = [
        EventKind::Delivered,
        EventKind::Rejected,
        EventKind::Greylisted,
        EventKind::MessageMoved,
        EventKind::AuthFailed,
        EventKind::LockedOut,
    ];

    /// The name used in configuration and in the `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Delivered => "delivered",
            EventKind::Rejected => "rejected",
            EventKind::Greylisted => "greylisted",
            EventKind::MessageMoved => "message_moved",
            EventKind::AuthFailed => "auth_failed",
            EventKind::LockedOut => "locked_out",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// The SMTP envelope of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The reverse-path; empty for the null sender.
    pub mail_from: String,
    /// The forward-paths accepted at RCPT, as the client wrote them.
    pub rcpt_to: Vec<String>,
}

/// Mail stored for local recipients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    /// Our id for the message (the `id` of its `Received:` field).
    pub message_id: String,
    /// The client's address.
    pub client: IpAddr,
    /// How it arrived.
    pub envelope: Envelope,
    /// Addresses of the accounts that received it.
    pub recipients: Vec<String>,
    /// Size in octets as stored.
    pub size: u64,
    /// The spam score, when the message was scored.
    pub spam_score: Option<f64>,
    /// The `Authentication-Results:` value added, when authentication ran.
    pub auth_results: Option<String>,
}

/// Where in a session a refusal happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// On connect (DNSBL, connection limits).
    Connect,
    /// At MAIL FROM.
    Mail,
    /// At RCPT TO.
    Rcpt,
    /// At the end of DATA or BDAT.
    Data,
}

/// A refusal with a permanent (5xx) or temporary (4xx) reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// Where it happened.
    pub stage: Stage,
    /// The reply code sent.
    pub code: u16,
    /// Why, as told to the client.
    pub reason: String,
    /// The client's address.
    pub client: IpAddr,
    /// The reverse-path, when the transaction had one.
    pub mail_from: Option<String>,
    /// The recipient concerned, for a refusal at RCPT.
    pub rcpt_to: Option<String>,
}

/// A recipient deferred by greylisting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Greylisted {
    /// The client's address.
    pub client: IpAddr,
    /// The reverse-path.
    pub mail_from: String,
    /// The recipient.
    pub rcpt_to: String,
    /// Seconds until a retry of this triplet will pass.
    pub retry_after_secs: u64,
}

/// A user moved messages from one mailbox to another (IMAP MOVE, or COPY then EXPUNGE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageMoved {
    /// The account address.
    pub account: String,
    /// The account id, for actors that key by it.
    pub account_id: i64,
    /// The source mailbox name and its special use (RFC 6154, e.g. `\Junk`), if any.
    pub from_mailbox: String,
    pub from_special_use: Option<String>,
    /// The destination mailbox name and its special use, if any.
    pub to_mailbox: String,
    pub to_special_use: Option<String>,
    /// Content hashes of the moved bodies (the store's blob keys).
    pub blobs: Vec<String>,
}

/// A failed login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthFailed {
    /// `smtp`, `imap`, `pop3` or `admin`.
    pub protocol: String,
    /// The SASL mechanism or command (`PLAIN`, `LOGIN`, `USER`…).
    pub mechanism: String,
    /// The client's address.
    pub client: IpAddr,
    /// The user name tried (never the password).
    pub username: String,
}

/// Failed logins reached a lockout threshold (`[security] lockout_failures` or
/// `lockout_failures_per_ip`): logins of the account, or from the client, are refused until
/// `until` on every protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedOut {
    /// The protocol of the failure that locked (`smtp`, `imap`, `pop3`, `admin`).
    pub protocol: String,
    /// `account` or `ip`.
    pub scope: String,
    /// The locked account's address (as counted), or the client IP address.
    pub target: String,
    /// Failures counted.
    pub failures: u32,
    /// The client whose failure locked.
    pub client: IpAddr,
    /// Unix seconds when the lockout ends unless lifted.
    pub until: i64,
}

/// What happened, with the fields of its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventData {
    Delivered(Delivered),
    Rejected(Rejected),
    Greylisted(Greylisted),
    MessageMoved(MessageMoved),
    AuthFailed(AuthFailed),
    LockedOut(LockedOut),
}

impl EventData {
    /// The kind of this event.
    pub fn kind(&self) -> EventKind {
        match self {
            EventData::Delivered(_) => EventKind::Delivered,
            EventData::Rejected(_) => EventKind::Rejected,
            EventData::Greylisted(_) => EventKind::Greylisted,
            EventData::MessageMoved(_) => EventKind::MessageMoved,
            EventData::AuthFailed(_) => EventKind::AuthFailed,
            EventData::LockedOut(_) => EventKind::LockedOut,
        }
    }
}

/// An event as recorded in the store's log: its id (increasing; the webhook's de-duplication
/// key), when it happened (unix seconds) and what. Published on the bus by `MailboxStore`
/// once it is durable; handled by webhooks and the policy actors that learn.
#[derive(Message, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct EventRecorded {
    pub id: i64,
    pub timestamp: i64,
    #[serde(flatten)]
    pub data: EventData,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_webhook_body() {
        let e = EventRecorded {
            id: 7,
            timestamp: 1_700_000_000,
            data: EventData::Greylisted(Greylisted {
                client: "192.0.2.1".parse().expect("ip"),
                mail_from: "a@example.org".into(),
                rcpt_to: "b@example.test".into(),
                retry_after_secs: 300,
            }),
        };
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "id": 7, "timestamp": 1_700_000_000, "type": "greylisted",
                "client": "192.0.2.1", "mail_from": "a@example.org",
                "rcpt_to": "b@example.test", "retry_after_secs": 300
            })
        );
        let back: EventRecorded = serde_json::from_value(json).expect("parse");
        assert_eq!(back, e);
    }

    #[test]
    fn kinds_round_trip_their_names() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }

    #[test]
    fn config_accepts_exactly_these_kinds() {
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, mailroom_config::WEBHOOK_EVENTS);
    }
}
