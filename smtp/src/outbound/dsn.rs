//! Delivery status notifications (RFC 3464): a `multipart/report; report-type=delivery-status`
//! with a human-readable part, the `message/delivery-status` fields (RFC 3464 §2.2, §2.3)
//! and the original message (`message/rfc822`) or its header (`text/rfc822-headers`) as
//! RET asks (RFC 3461 §4.3). Built with mail-builder. Pure: the caller decides when a DSN is
//! due (never for a null sender, RFC 3461 §6.2 / RFC 5321 §6.1) and stores it.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};
use mailroom_store::DsnRet;

/// What happened to a recipient, as RFC 3464 §2.3.3 `Action` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Permanent failure or expiry.
    Failed,
    /// Still trying.
    Delayed,
    /// Delivered (NOTIFY=SUCCESS).
    Delivered,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
        }
    }
}

/// One recipient's line in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReport {
    /// The address delivery was attempted to.
    pub address: String,
    /// ORCPT as given at submission (`rfc822;addr`).
    pub orcpt: Option<String>,
    /// What happened.
    pub action: Action,
    /// The remote's reply or our reason (`550 5.1.1 no such user`).
    pub diagnostic: String,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// Our host name (Reporting-MTA, From: MAILER-DAEMON@…).
    pub reporting_mta: &'a str,
    /// The original envelope sender, who gets the DSN.
    pub sender: &'a str,
    /// ENVID of the submission.
    pub envid: Option<&'a str>,
    /// When the message was queued, unix seconds.
    pub arrival: i64,
    /// RET; absent = the whole message.
    pub ret: Option<DsnRet>,
    /// The recipients reported on (all with the same action makes the subject simple).
    pub recipients: Vec<RecipientReport>,
    /// The original message.
    pub original: &'a [u8],
    /// Now, unix seconds (Date:, Last-Attempt-Date).
    pub now: i64,
}

/// The RFC 3463 status code in a reply (`5.1.1` from `550 5.1.1 …`), or `X.0.0` from the
/// reply's class, or 5.0.0/4.0.0 for a reason of our own.
pub fn status_of(diagnostic: &str, action: Action) -> String {
    let mut words = diagnostic.split_whitespace();
    let code = words.next().unwrap_or("");
    if let Some(enhanced) = words.next() {
        let parts: Vec<&str> = enhanced.split('.').collect();
        if parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return enhanced.to_string();
        }
    }
    match (code.as_bytes().first(), action) {
        (_, Action::Delivered) => "2.0.0".into(),
        (Some(b'4'), _) | (_, Action::Delayed) => "4.0.0".into(),
        _ => "5.0.0".into(),
    }
}

/// RFC 3464 §2.1.1: `text` fields must be US-ASCII; replace anything else and line ends.
fn ascii_field(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The header block of a message (up to and including the blank line).
fn header_of(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
        .unwrap_or(raw.len());
    &raw[..end]
}

impl Report<'_> {
    /// The DSN message, ready to store.
    pub fn build(&self) -> Vec<u8> {
        let action = self
            .recipients
            .first()
            .map(|r| r.action)
            .unwrap_or(Action::Failed);
        let subject = match action {
            Action::Failed => "Undelivered Mail Returned to Sender",
            Action::Delayed => "Delivery Status Notification (Delay)",
            Action::Delivered => "Delivery Status Notification (Success)",
        };
        let mut human = String::new();
        human.push_str(match action {
            Action::Failed => "Your message could not be delivered to these recipients:\r\n\r\n",
            Action::Delayed => "Your message has not been delivered yet to these recipients; delivery will be retried:\r\n\r\n",
            Action::Delivered => "Your message was delivered to these recipients:\r\n\r\n",
        });
        for r in &self.recipients {
            human.push_str(&format!(
                "  <{}>: {}\r\n",
                r.address,
                ascii_field(&r.diagnostic)
            ));
        }
        human.push_str(&format!(
            "\r\n-- The mail system at {}\r\n",
            self.reporting_mta
        ));

        // RFC 3464 §2.2: per-message fields, a blank line, then per-recipient groups.
        let mut status = format!("Reporting-MTA: dns; {}\r\n", self.reporting_mta);
        if let Some(envid) = self.envid {
            status.push_str(&format!("Original-Envelope-Id: {}\r\n", ascii_field(envid)));
        }
        status.push_str(&format!(
            "Arrival-Date: {}\r\n",
            mail_builder::headers::date::Date::new(self.arrival).to_rfc822()
        ));
        for r in &self.recipients {
            status.push_str("\r\n");
            if let Some(orcpt) = &r.orcpt {
                // RFC 3461 §4.2: ORCPT is `addr-type;xtext`; echo it as given.
                let orcpt = ascii_field(orcpt);
                let (kind, value) = orcpt.split_once(';').unwrap_or(("rfc822", &orcpt));
                status.push_str(&format!("Original-Recipient: {kind};{value}\r\n"));
            }
            status.push_str(&format!(
                "Final-Recipient: rfc822;{}\r\nAction: {}\r\nStatus: {}\r\n",
                ascii_field(&r.address),
                r.action.as_str(),
                status_of(&r.diagnostic, r.action)
            ));
            if r.diagnostic
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_digit)
            {
                status.push_str(&format!(
                    "Diagnostic-Code: smtp; {}\r\n",
                    ascii_field(&r.diagnostic)
                ));
            } else {
                status.push_str(&format!(
                    "X-Mailroom-Reason: {}\r\n",
                    ascii_field(&r.diagnostic)
                ));
            }
            status.push_str(&format!(
                "Last-Attempt-Date: {}\r\n",
                mail_builder::headers::date::Date::new(self.now).to_rfc822()
            ));
        }

        let original = match self.ret {
            Some(DsnRet::Headers) => MimePart::new(
                "text/rfc822-headers",
                BodyPart::Binary(header_of(self.original).to_vec().into()),
            )
            .transfer_encoding("8bit"),
            _ => MimePart::new(
                "message/rfc822",
                BodyPart::Binary(self.original.to_vec().into()),
            )
            .transfer_encoding("8bit"),
        };
        let report = MimePart::new(
            ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
            vec![
                MimePart::new("text/plain", human),
                MimePart::new(
                    "message/delivery-status",
                    BodyPart::Binary(status.into_bytes().into()),
                )
                .transfer_encoding("7bit"),
                original,
            ],
        );
        let daemon = format!("MAILER-DAEMON@{}", self.reporting_mta);
        MessageBuilder::new()
            .from(Address::new_address(Some("Mail Delivery System"), daemon))
            .to(Address::new_address(None::<&str>, self.sender.to_string()))
            .subject(subject)
            .date(self.now)
            // RFC 3834 §5: a machine wrote this; auto-responders must not answer it.
            .header("Auto-Submitted", Raw::new("auto-replied"))
            .body(report)
            .write_to_vec()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, MimeHeaders};

    const ORIGINAL: &[u8] = b"From: alice@example.test\r\nSubject: lunch\r\n\r\nsee you\r\n";

    fn report(ret: Option<DsnRet>) -> Vec<u8> {
        Report {
            reporting_mta: "mx.example.test",
            sender: "alice@example.test",
            envid: Some("env-42"),
            arrival: 1_700_000_000,
            ret,
            recipients: vec![RecipientReport {
                address: "bob@remote.test".into(),
                orcpt: Some("rfc822;Bob@remote.test".into()),
                action: Action::Failed,
                diagnostic: "550 5.1.1 no such user".into(),
            }],
            original: ORIGINAL,
            now: 1_700_000_100,
        }
        .build()
    }

    #[test]
    fn a_failure_report_parses_back_per_rfc_3464() {
        let raw = report(None);
        let msg = MessageParser::default().parse(&raw).expect("parse");
        let ct = msg.content_type().expect("content type");
        assert_eq!(ct.ctype(), "multipart");
        assert_eq!(ct.subtype(), Some("report"));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        assert_eq!(msg.subject(), Some("Undelivered Mail Returned to Sender"));
        assert_eq!(
            msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
            Some("alice@example.test")
        );
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
        // The three parts, in RFC 3464 §2's order.
        let types: Vec<String> = msg
            .parts
            .iter()
            .skip(1)
            .filter_map(|p| {
                p.content_type()
                    .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            })
            .collect();
        assert_eq!(
            types[..3],
            ["text/plain", "message/delivery-status", "message/rfc822"]
        );
        for field in [
            "Reporting-MTA: dns; mx.example.test",
            "Original-Envelope-Id: env-42",
            "Original-Recipient: rfc822;Bob@remote.test",
            "Final-Recipient: rfc822;bob@remote.test",
            "Action: failed",
            "Status: 5.1.1",
            "Diagnostic-Code: smtp; 550 5.1.1 no such user",
        ] {
            assert!(text.contains(field), "missing {field}: {text}");
        }
        let attached = msg
            .attachments()
            .find_map(|a| a.message())
            .expect("the original");
        assert_eq!(attached.subject(), Some("lunch"));
        assert_eq!(attached.body_text(0).as_deref(), Some("see you\r\n"));
    }

    #[test]
    fn ret_hdrs_returns_only_the_header() {
        let raw = report(Some(DsnRet::Headers));
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("text/rfc822-headers"), "{text}");
        assert!(text.contains("Subject: lunch"));
        assert!(!text.contains("see you"), "the body stays out: {text}");
    }

    #[test]
    fn status_codes_come_from_the_reply_or_its_class() {
        assert_eq!(status_of("550 5.7.1 relay denied", Action::Failed), "5.7.1");
        assert_eq!(status_of("550 no", Action::Failed), "5.0.0");
        assert_eq!(status_of("451 later", Action::Delayed), "4.0.0");
        assert_eq!(status_of("message expired", Action::Failed), "5.0.0");
        assert_eq!(status_of("250 ok", Action::Delivered), "2.0.0");
    }
}
