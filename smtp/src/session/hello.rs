//! EHLO and HELO (RFC 5321 §4.1.1.1): identify the client and list our extensions.

use super::{Helo, Role, Session};
use crate::proto::reply::Reply;

impl Session {
    pub(super) fn hello(&mut self, host: String, extended: bool) {
        if host.is_empty() {
            self.respond(Reply::new(
                501,
                "5.5.4",
                "EHLO and HELO need a domain or address literal",
            ));
            return;
        }
        // RFC 5321 §4.1.4: EHLO/HELO may come again; it ends any transaction in progress.
        self.reset_transaction();
        let greeting = format!("{} greets {host}", self.ctx.host);
        self.helo = Some(Helo {
            name: host,
            extended,
        });
        if !extended {
            self.respond(Reply::new(250, "", self.ctx.host.clone()));
            return;
        }
        let mut lines = vec![
            greeting,
            "PIPELINING".into(),
            format!("SIZE {}", self.ctx.limits.max_message_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "CHUNKING".into(),
            "BINARYMIME".into(),
            "DSN".into(),
        ];
        if !self.tls {
            lines.push("STARTTLS".into());
        }
        // RFC 4954 §4: AUTH only where it may be used (submission, over TLS), and not again.
        let auth_usable = self.tls || self.ctx.allow_plaintext_auth;
        if self.ctx.role == Role::Submission && auth_usable && self.login.is_none() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        // RFC 2034 §3: the EHLO reply lines carry keywords, not enhanced codes.
        self.respond(Reply::multi(250, "", lines));
    }
}
