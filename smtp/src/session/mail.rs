//! MAIL (RFC 5321 §4.1.1.2) with SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8
//! (RFC 6531) and the DSN parameters RET/ENVID (RFC 3461, accepted).

use super::{Role, Session, Transaction};
use crate::proto::reply::{self, Reply};
use mailroom_shared::address::Address;
use mailroom_shared::events::Stage;
use smtp_proto::{MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8, MailFrom};

impl Session {
    pub(super) fn mail(&mut self, from: MailFrom<String>) {
        if self.helo.is_none() {
            return self.respond(reply::bad_sequence("send EHLO or HELO first"));
        }
        if self.tx.is_some() {
            return self.respond(reply::bad_sequence("nested MAIL command"));
        }
        if self.ctx.role == Role::Submission {
            return self.respond(Reply::new(530, "5.7.0", "authentication required"));
        }
        let utf8 = from.flags & MAIL_SMTPUTF8 != 0;
        if !from.address.is_empty() {
            // RFC 6531 §3.4: without SMTPUTF8, addresses are ASCII.
            if !utf8 && !from.address.is_ascii() {
                return self.respond(Reply::new(
                    553,
                    "5.6.7",
                    "non-ASCII address needs the SMTPUTF8 parameter",
                ));
            }
            if let Err(e) = Address::parse(&from.address) {
                let r = Reply::new(553, "5.1.7", format!("bad sender address: {e}"));
                return self.reject_mail(r, &from.address);
            }
        }
        let max = self.ctx.limits.max_message_size;
        let declared_size = from.size as u64;
        // RFC 1870 §6.2: refuse at MAIL a message declared larger than we take.
        if declared_size > max {
            let r = Reply::new(
                552,
                "5.3.4",
                format!("message size exceeds the fixed maximum of {max} octets"),
            );
            return self.reject_mail(r, &from.address);
        }
        self.tx = Some(Transaction {
            from: from.address,
            declared_size,
            utf8,
            binary: from.flags & MAIL_BODY_BINARYMIME != 0,
            rcpts: Vec::new(),
        });
        self.respond(Reply::new(250, "2.1.0", "sender OK"));
    }

    /// A refused MAIL: no transaction exists yet, so the event names the sender itself.
    fn reject_mail(&mut self, r: Reply, from: &str) {
        self.reject_from(Stage::Mail, r, Some(from.to_string()), None);
    }
}
