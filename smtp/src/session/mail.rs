//! MAIL (RFC 5321 §4.1.1.2) with SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8
//! (RFC 6531) and the DSN parameters RET/ENVID (RFC 3461, accepted); on the MX listener, SPF
//! (RFC 7208) for the HELO and MAIL FROM identities before the 250.

use super::{Action, Role, Session, Transaction};
use crate::policy::SenderAuth;
use crate::proto::reply::{self, Reply};
use mailroom_shared::address::Address;
use mailroom_shared::events::Stage;
use smtp_proto::{MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8, MailFrom};

impl Session {
    pub(super) fn mail(&mut self, from: MailFrom<String>) -> Option<Action> {
        let sender = from.address.clone();
        let tx = match self.check_mail(from) {
            Ok(tx) => tx,
            // A sender or size we refuse is an event; a command out of sequence is not.
            Err(r) if matches!(r.code, 552 | 553) => {
                self.reject_mail(r, &sender);
                return None;
            }
            Err(r) => {
                self.respond(r);
                return None;
            }
        };
        if let Some(login) = &self.login {
            // Submission: the account must own the sender address (answered in `authorized`).
            let action = Action::Authorize {
                account_id: login.account_id,
                addresses: vec![tx.from.clone()],
                at_mail: true,
            };
            self.authorizing = Some(super::submit::Authorizing::Mail(Box::new(tx)));
            return Some(action);
        }
        if !self.ctx.checks.auth {
            self.tx = Some(tx);
            self.respond(Reply::new(250, "2.1.0", "sender OK"));
            return None;
        }
        let helo = self
            .helo
            .as_ref()
            .map(|h| h.name.clone())
            .unwrap_or_default();
        let action = Action::CheckSender {
            ip: self.ctx.peer,
            helo,
            mail_from: tx.from.clone(),
        };
        self.checking = Some(tx);
        Some(action)
    }

    /// The transaction MAIL opens, or the reply refusing it.
    fn check_mail(&self, from: MailFrom<String>) -> Result<Transaction, Reply> {
        if self.helo.is_none() {
            return Err(reply::bad_sequence("send EHLO or HELO first"));
        }
        if self.tx.is_some() {
            return Err(reply::bad_sequence("nested MAIL command"));
        }
        if self.ctx.role == Role::Submission {
            if self.login.is_none() {
                // RFC 4954 §6.
                return Err(Reply::new(530, "5.7.0", "authentication required"));
            }
            if from.address.is_empty() {
                return Err(Reply::new(
                    553,
                    "5.7.1",
                    "the null sender <> cannot be used on submission",
                ));
            }
        }
        let utf8 = from.flags & MAIL_SMTPUTF8 != 0;
        let mut address = String::new();
        if !from.address.is_empty() {
            // RFC 6531 §3.4: without SMTPUTF8, addresses are ASCII.
            if !utf8 && !from.address.is_ascii() {
                return Err(Reply::new(
                    553,
                    "5.6.7",
                    "non-ASCII address needs the SMTPUTF8 parameter",
                ));
            }
            // RFC 6531 §3.3: the domain may be a U-label; from here on it is its A-label, the
            // one form that SPF, the greylist and the store compare.
            match Address::parse(&from.address) {
                Ok(a) => address = a.to_string(),
                Err(e) => {
                    return Err(Reply::new(553, "5.1.7", format!("bad sender address: {e}")));
                }
            }
        }
        let max = self.ctx.limits.max_message_size;
        let declared_size = from.size as u64;
        // RFC 1870 §6.2: refuse at MAIL a message declared larger than we take.
        if declared_size > max {
            return Err(Reply::new(
                552,
                "5.3.4",
                format!("message size exceeds the fixed maximum of {max} octets"),
            ));
        }
        Ok(Transaction {
            from: address,
            declared_size,
            utf8,
            binary: from.flags & MAIL_BODY_BINARYMIME != 0,
            rcpts: Vec::new(),
            remote: Vec::new(),
            ret: from.flags & (smtp_proto::MAIL_RET_FULL | smtp_proto::MAIL_RET_HDRS),
            envid: from.env_id,
            sender: None,
        })
    }

    /// The answer to [`Action::CheckSender`]: open the transaction, or refuse an SPF `fail`
    /// when `[spf] reject_fail` asks for it (RFC 7208 §8.4, RFC 7372 §3.2).
    pub fn sender_checked(&mut self, sender: SenderAuth) {
        let Some(mut tx) = self.checking.take() else {
            return;
        };
        if self.ctx.checks.spf_reject_fail {
            let helo = self.helo.as_ref().map_or("", |h| h.name.as_str());
            if let Some(text) = sender.failure(self.ctx.peer, helo, &tx.from) {
                let r = reply::spf_failed(text);
                self.reject_event(Stage::Mail, &r, Some(tx.from));
                return self.respond(r);
            }
        }
        tx.sender = Some(sender);
        self.tx = Some(tx);
        self.respond(Reply::new(250, "2.1.0", "sender OK"));
    }

    /// A refused MAIL: no transaction exists yet, so the event names the sender itself.
    fn reject_mail(&mut self, r: Reply, from: &str) {
        self.reject_from(Stage::Mail, r, Some(from.to_string()), None);
    }
}
