//! USER, PASS, APOP, AUTH (SASL PLAIN and LOGIN, with initial response) and STLS (RFC 1939
//! §7, RFC 5034, RFC 2595 §4), and opening the maildrop at login.
//!
//! Credentials are taken only over TLS unless `[security] allow_plaintext_auth` is set;
//! before that USER, PASS and AUTH get `-ERR [AUTH]` saying why (RFC 3206 §4), and CAPA
//! does not offer them. Every password goes through the login guard: a wrong one gets
//! `-ERR [AUTH]` (RFC 3206 §4), a locked-out account or client `-ERR [SYS/TEMP]` (RFC 3206
//! §5), both after its delay. APOP needs a stored shared secret; the store keeps only argon2id hashes, so APOP is never offered.

use mailroom_shared::Secret;
use mailroom_shared::sasl::{self, SaslError};
use mailroom_store::Account;
use mailroom_store::actor::{Authenticate, LoginAttempt, LoginProtocol, Select, Verdict};

use super::maildrop::Maildrop;
use super::{Flow, Pending, Session, State, answer};
use crate::proto::reply::{self, AUTH, IN_USE, MECHANISMS, SYS_TEMP};

impl Session {
    /// RFC 2595 §4: STLS in the AUTHORIZATION state, once, on the plain port.
    pub(super) fn stls(&mut self, out: &mut Vec<u8>) -> Flow {
        if self.tls {
            return self.client_error(out, "TLS is already active");
        }
        out.extend(reply::ok("begin TLS negotiation now"));
        Flow::StartTls
    }

    /// Refuse credentials in clear text (RFC 2595 §2.2 lets a server require TLS first).
    fn refused_in_plaintext(&mut self, out: &mut Vec<u8>) -> Option<Flow> {
        if self.auth_allowed() {
            return None;
        }
        out.extend(reply::err_code(
            AUTH,
            "authentication needs TLS: use STLS or the pop3s port",
        ));
        Some(self.count_error(out))
    }

    /// RFC 1939 §7 USER: always `+OK` (it must not tell which names exist); PASS decides.
    pub(super) fn user(&mut self, name: String, out: &mut Vec<u8>) -> Flow {
        if let Some(flow) = self.refused_in_plaintext(out) {
            return flow;
        }
        out.extend(reply::ok("send PASS"));
        self.state = State::Authorization(Pending::User(name));
        Flow::Continue
    }

    /// RFC 1939 §7 PASS: only right after a USER.
    pub(super) async fn pass(&mut self, password: Secret, out: &mut Vec<u8>) -> Flow {
        if let Some(flow) = self.refused_in_plaintext(out) {
            return flow;
        }
        let user = match &mut self.state {
            State::Authorization(pending) => match std::mem::replace(pending, Pending::Nothing) {
                Pending::User(user) => user,
                _ => return self.client_error(out, "PASS must follow USER"),
            },
            _ => return self.client_error(out, "PASS is not valid in this state"),
        };
        self.check_credentials("USER", user, password, out).await
    }

    /// RFC 1939 §7 APOP needs the plain shared secret on the server; only hashes are kept.
    pub(super) fn apop(&mut self, out: &mut Vec<u8>) -> Flow {
        self.client_error(out, "APOP is not offered: use USER/PASS or AUTH")
    }

    /// RFC 5034 §4 AUTH: bare AUTH lists the mechanisms (the older RFC 1734 form clients
    /// still probe with); PLAIN and LOGIN, with or without an initial response.
    pub(super) async fn auth(
        &mut self,
        mechanism: Option<&str>,
        initial: Option<String>,
        out: &mut Vec<u8>,
    ) -> Flow {
        let Some(mechanism) = mechanism else {
            out.extend(reply::ok("mechanisms follow"));
            if self.auth_allowed() {
                for m in MECHANISMS {
                    out.extend_from_slice(m.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
            out.extend_from_slice(b".\r\n");
            return Flow::Continue;
        };
        if let Some(flow) = self.refused_in_plaintext(out) {
            return flow;
        }
        // RFC 5034 §4: `=` is an empty initial response.
        let initial = match initial.as_deref() {
            None => None,
            Some("=") => Some(Vec::new()),
            Some(b64) => match sasl::decode_base64(b64.as_bytes()) {
                Ok(bytes) => Some(bytes),
                Err(e) => return self.sasl_failed(&e, out),
            },
        };
        match (mechanism, initial) {
            ("PLAIN", Some(message)) => self.finish_plain(&message, out).await,
            ("PLAIN", None) => {
                out.extend(reply::challenge(""));
                self.state = State::Authorization(Pending::SaslPlain);
                Flow::Continue
            }
            ("LOGIN", Some(user)) => match sasl::decode_login_field(&user) {
                Ok(user) => {
                    out.extend(reply::challenge("UGFzc3dvcmQ6")); // "Password:"
                    self.state = State::Authorization(Pending::SaslLoginPass(user));
                    Flow::Continue
                }
                Err(e) => self.sasl_failed(&e, out),
            },
            ("LOGIN", None) => {
                out.extend(reply::challenge("VXNlcm5hbWU6")); // "Username:"
                self.state = State::Authorization(Pending::SaslLoginUser);
                Flow::Continue
            }
            _ => self.client_error(out, "unsupported mechanism: PLAIN and LOGIN are offered"),
        }
    }

    /// A client response line of an AUTH exchange (RFC 5034 §4: base64, or `*` to cancel).
    pub(super) async fn sasl_response(
        &mut self,
        step: Pending,
        line: &[u8],
        out: &mut Vec<u8>,
    ) -> Flow {
        let decoded = match sasl::decode_base64(line) {
            Ok(d) => d,
            Err(e) => return self.sasl_failed(&e, out),
        };
        match step {
            Pending::SaslPlain => self.finish_plain(&decoded, out).await,
            Pending::SaslLoginUser => match sasl::decode_login_field(&decoded) {
                Ok(user) => {
                    out.extend(reply::challenge("UGFzc3dvcmQ6"));
                    self.state = State::Authorization(Pending::SaslLoginPass(user));
                    Flow::Continue
                }
                Err(e) => self.sasl_failed(&e, out),
            },
            Pending::SaslLoginPass(user) => match sasl::decode_login_field(&decoded) {
                Ok(password) => {
                    self.check_credentials("LOGIN", user, Secret::new(password), out)
                        .await
                }
                Err(e) => self.sasl_failed(&e, out),
            },
            Pending::Nothing | Pending::User(_) => Flow::Continue,
        }
    }

    async fn finish_plain(&mut self, message: &[u8], out: &mut Vec<u8>) -> Flow {
        match sasl::decode_plain(message) {
            Ok(c) => {
                self.check_credentials("PLAIN", c.username, c.password, out)
                    .await
            }
            Err(e) => self.sasl_failed(&e, out),
        }
    }

    fn sasl_failed(&mut self, e: &SaslError, out: &mut Vec<u8>) -> Flow {
        // RFC 5034 §4: a cancelled or malformed exchange is rejected with -ERR.
        self.client_error(out, &e.to_string())
    }

    /// Check `user`'s password, given through `mechanism` (`USER` for USER/PASS, else the SASL
    /// mechanism), through the login guard (which counts a failure, records it as an
    /// `AuthFailed` event and waits its delay before a refusal).
    async fn check_credentials(
        &mut self,
        mechanism: &str,
        user: String,
        password: Secret,
        out: &mut Vec<u8>,
    ) -> Flow {
        let verdict = self
            .store
            .send(Authenticate {
                address: user,
                password,
                attempt: LoginAttempt {
                    protocol: LoginProtocol::Pop3,
                    mechanism: mechanism.into(),
                    client: self.ctx.peer,
                },
                guard: self.ctx.login_guard,
            })
            .await
            .unwrap_or_else(|e| Verdict::Unavailable(e.to_string()));
        match verdict {
            Verdict::Accepted(account) => self.open_maildrop(account, out).await,
            Verdict::Refused => {
                // RFC 3206 §4: [AUTH] says the credentials were the problem.
                out.extend(reply::err_code(AUTH, "invalid credentials"));
                self.count_error(out)
            }
            Verdict::LockedOut(lockout) => {
                // RFC 3206 §5 SYS/TEMP: a temporary problem, try later; not [AUTH], since the
                // credentials were not checked (the answer is the same whether they were right).
                out.extend(reply::err_code(
                    SYS_TEMP,
                    &format!("{}; try later", lockout.refusal_text()),
                ));
                self.count_error(out)
            }
            Verdict::Unavailable(e) => {
                tracing::warn!(error = %e, "authentication failed on the store");
                out.extend(reply::err_code(
                    SYS_TEMP,
                    "cannot check credentials now, try again later",
                ));
                Flow::Continue
            }
        }
    }

    /// RFC 1939 §4: lock the maildrop, then read it; on failure stay in AUTHORIZATION.
    async fn open_maildrop(&mut self, account: Account, out: &mut Vec<u8>) -> Flow {
        let Some(hold) = self.ctx.maildrops.try_hold(account.id) else {
            // RFC 2449 §8.1.1: another POP3 session has the maildrop.
            out.extend(reply::err_code(
                IN_USE,
                "the maildrop is in use by another POP3 session",
            ));
            return Flow::Continue;
        };
        let selected = self
            .store
            .send(Select {
                account_id: account.id,
                name: "INBOX".into(),
            })
            .await;
        match answer(selected) {
            Ok((inbox, messages)) => {
                let drop = Maildrop::new(account.id, inbox.id, inbox.uidvalidity, &messages, hold);
                let (n, size) = drop.totals();
                tracing::info!(account = account.id, messages = n, "logged in");
                out.extend(reply::ok(&format!(
                    "maildrop has {n} messages ({size} octets)"
                )));
                self.state = State::Transaction(Box::new(drop));
                self.login = Some(account.address.clone());
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the maildrop");
                out.extend(reply::err_code(
                    SYS_TEMP,
                    "cannot open the maildrop now, try again later",
                ));
            }
        }
        Flow::Continue
    }
}
