//! STARTTLS, LOGIN, AUTHENTICATE (PLAIN, LOGIN; SASL-IR) and ENABLE (RFC 9051 §6.2, §6.3.1;
//! RFC 4959; RFC 5161).
//!
//! Credentials are checked only over TLS unless `[security] allow_plaintext_auth` is set;
//! before that LOGIN and AUTHENTICATE get `NO [PRIVACYREQUIRED]` (RFC 9051 §7.1). Every
//! password goes through the login guard: a wrong one gets `NO [AUTHENTICATIONFAILED]`, a
//! locked-out account or client `NO [UNAVAILABLE]` (RFC 5530 §3), both after its delay.

use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use mailroom_shared::Secret;
use mailroom_shared::sasl::{self, SaslError};
use mailroom_store::actor::{Authenticate, LoginAttempt, LoginProtocol, Verdict};

use super::{Flow, Mode, Session, State};
use crate::proto;
use crate::proto::write::{self, Status};

impl Session {
    pub(super) fn starttls(&mut self, tag: &str, out: &mut Vec<u8>) -> Flow {
        if self.tls {
            write::status(out, Some(tag), Status::Bad, None, "TLS is already active");
            self.count_error(out);
            return Flow::Continue;
        }
        write::status(
            out,
            Some(tag),
            Status::Ok,
            None,
            "begin TLS negotiation now",
        );
        Flow::StartTls
    }

    fn auth_refused_in_plaintext(&mut self, tag: &str, out: &mut Vec<u8>) -> bool {
        if self.tls || self.ctx.allow_plaintext_auth {
            return false;
        }
        write::status(
            out,
            Some(tag),
            Status::No,
            Some("PRIVACYREQUIRED"),
            "authentication needs TLS: use STARTTLS or the imaps port",
        );
        self.count_error(out);
        true
    }

    pub(super) async fn login(
        &mut self,
        tag: &str,
        user: &[u8],
        password: &[u8],
        out: &mut Vec<u8>,
    ) {
        if self.auth_refused_in_plaintext(tag, out) {
            return;
        }
        let (Ok(user), Ok(password)) = (std::str::from_utf8(user), std::str::from_utf8(password))
        else {
            write::status(
                out,
                Some(tag),
                Status::No,
                Some("AUTHENTICATIONFAILED"),
                "invalid credentials",
            );
            self.count_error(out);
            return;
        };
        self.check_credentials(tag, "LOGIN", user.to_string(), Secret::new(password), out)
            .await;
    }

    /// Check `user`'s password, logged in through `mechanism` (`LOGIN` for the command, else
    /// the SASL mechanism), through the login guard (which counts a failure, records it as an
    /// `AuthFailed` event and waits its delay before a refusal).
    async fn check_credentials(
        &mut self,
        tag: &str,
        mechanism: &str,
        user: String,
        password: Secret,
        out: &mut Vec<u8>,
    ) {
        let verdict = self
            .store
            .send(Authenticate {
                address: user,
                password,
                attempt: LoginAttempt {
                    protocol: LoginProtocol::Imap,
                    mechanism: mechanism.into(),
                    client: self.ctx.peer,
                },
                guard: self.ctx.login_guard,
            })
            .await
            .unwrap_or_else(|e| Verdict::Unavailable(e.to_string()));
        match verdict {
            Verdict::Accepted(account) => {
                let max = self.ctx.limits.max_sessions_per_account;
                let Some(place) = self.ctx.sessions.try_acquire(account.id, max) else {
                    // RFC 5530 LIMIT: the account's sessions are at the configured limit.
                    let text = format!("too many sessions for this account (at most {max})");
                    write::status(out, Some(tag), Status::No, Some("LIMIT"), &text);
                    return;
                };
                self._account_place = Some(place);
                tracing::info!(account = account.id, "logged in");
                self.state = State::Authenticated { account };
                let caps = proto::capabilities(self.capability_state());
                write::status(
                    out,
                    Some(tag),
                    Status::Ok,
                    Some(&format!("CAPABILITY {caps}")),
                    "logged in",
                );
            }
            Verdict::Refused => {
                write::status(
                    out,
                    Some(tag),
                    Status::No,
                    Some("AUTHENTICATIONFAILED"),
                    "invalid credentials",
                );
                self.count_error(out);
            }
            Verdict::LockedOut(lockout) => {
                // RFC 5530 §3 UNAVAILABLE: a temporary failure; try later. The password was
                // not checked, so this answer is the same whether it was right or not.
                write::status(
                    out,
                    Some(tag),
                    Status::No,
                    Some("UNAVAILABLE"),
                    &format!("{}; try later", lockout.refusal_text()),
                );
                self.count_error(out);
            }
            Verdict::Unavailable(e) => {
                write::status(
                    out,
                    Some(tag),
                    Status::No,
                    Some("UNAVAILABLE"),
                    "cannot check credentials now, try again later",
                );
                tracing::warn!(error = %e, "authentication failed on the store");
            }
        }
    }

    pub(super) async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &AuthMechanism<'_>,
        initial: Option<Vec<u8>>,
        out: &mut Vec<u8>,
    ) {
        if self.auth_refused_in_plaintext(tag, out) {
            return;
        }
        let tag = tag.to_string();
        match (mechanism, initial) {
            (AuthMechanism::Plain, Some(ir)) => self.finish_plain(&tag, &ir, out).await,
            (AuthMechanism::Plain, None) => {
                write::continuation(out, "");
                self.mode = Mode::SaslPlain { tag };
            }
            (AuthMechanism::Login, Some(user)) => match sasl::decode_login_field(&user) {
                Ok(user) => {
                    write::continuation(out, "UGFzc3dvcmQ6"); // "Password:"
                    self.mode = Mode::SaslLoginPass { tag, user };
                }
                Err(e) => self.sasl_failed(&tag, &e, out),
            },
            (AuthMechanism::Login, None) => {
                write::continuation(out, "VXNlcm5hbWU6"); // "Username:"
                self.mode = Mode::SaslLoginUser { tag };
            }
            _ => {
                write::status(
                    out,
                    Some(&tag),
                    Status::No,
                    Some("CANNOT"),
                    "unsupported mechanism: PLAIN and LOGIN are offered",
                );
                self.count_error(out);
            }
        }
    }

    /// A continuation line of an AUTHENTICATE exchange (RFC 9051 §6.2.2: base64, or `*`).
    pub(super) async fn sasl_response(
        &mut self,
        mode: Mode,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Flow {
        let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let decoded = sasl::decode_base64(line);
        match (mode, decoded) {
            (
                Mode::SaslPlain { tag }
                | Mode::SaslLoginUser { tag }
                | Mode::SaslLoginPass { tag, .. },
                Err(e),
            ) => self.sasl_failed(&tag, &e, out),
            (Mode::SaslPlain { tag }, Ok(message)) => self.finish_plain(&tag, &message, out).await,
            (Mode::SaslLoginUser { tag }, Ok(user)) => match sasl::decode_login_field(&user) {
                Ok(user) => {
                    write::continuation(out, "UGFzc3dvcmQ6");
                    self.mode = Mode::SaslLoginPass { tag, user };
                }
                Err(e) => self.sasl_failed(&tag, &e, out),
            },
            (Mode::SaslLoginPass { tag, user }, Ok(password)) => {
                match sasl::decode_login_field(&password) {
                    Ok(password) => {
                        self.check_credentials(&tag, "LOGIN", user, Secret::new(password), out)
                            .await
                    }
                    Err(e) => self.sasl_failed(&tag, &e, out),
                }
            }
            (mode, _) => self.mode = mode,
        }
        Flow::Continue
    }

    async fn finish_plain(&mut self, tag: &str, message: &[u8], out: &mut Vec<u8>) {
        match sasl::decode_plain(message) {
            Ok(c) => {
                self.check_credentials(tag, "PLAIN", c.username, c.password, out)
                    .await
            }
            Err(e) => self.sasl_failed(tag, &e, out),
        }
    }

    fn sasl_failed(&mut self, tag: &str, e: &SaslError, out: &mut Vec<u8>) {
        // RFC 9051 §6.2.2: a cancelled exchange is BAD, a malformed one NO or BAD.
        let status = if *e == SaslError::Cancelled {
            Status::Bad
        } else {
            Status::No
        };
        write::status(out, Some(tag), status, None, &e.to_string());
        self.count_error(out);
    }

    /// ENABLE (RFC 5161, RFC 9051 §6.3.1): IMAP4rev2 and UTF8=ACCEPT; others are ignored.
    pub(super) fn enable(&mut self, tag: &str, caps: &[CapabilityEnable<'_>], out: &mut Vec<u8>) {
        let mut enabled = Vec::new();
        for cap in caps {
            let name = cap.to_string();
            if name.eq_ignore_ascii_case("IMAP4rev2") && !self.rev2 {
                self.rev2 = true;
                self.utf8 = true;
                enabled.push("IMAP4rev2");
            } else if name.eq_ignore_ascii_case("UTF8=ACCEPT") && !self.utf8 {
                self.utf8 = true;
                enabled.push("UTF8=ACCEPT");
            }
        }
        if !enabled.is_empty() {
            write::untagged(out, &format!("ENABLED {}", enabled.join(" ")));
        }
        write::status(out, Some(tag), Status::Ok, None, "ENABLE completed");
    }
}
