//! AUTH (RFC 4954) on the submission listeners: PLAIN (RFC 4616) and LOGIN, only over TLS
//! (unless `[security] allow_plaintext_auth`), once per session, outside a transaction. The
//! credentials go to the driver ([`Action::Authenticate`]), which checks them through the
//! login guard (`mailroom_shared::login_guard`) and answers with [`Session::authenticated`].

use super::{Action, Mode, Role, Session};
use crate::proto::reply::{self, Reply};
use mailroom_shared::sasl::{self, Credentials, SaslError};
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};

/// Where a SASL exchange stands while the client owes a `334` continuation line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sasl {
    /// PLAIN without an initial response: the whole message comes next.
    Plain,
    /// LOGIN: the user name comes next.
    LoginUser,
    /// LOGIN: the password of `username` comes next.
    LoginPassword { username: String },
}

/// Who the session is logged in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The account.
    pub account_id: i64,
    /// Its address (the login name as stored).
    pub address: String,
}

/// The driver's answer to [`Action::Authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    /// The password is right.
    Accepted(Login),
    /// Wrong user name or password (never said which).
    Refused,
    /// Too many failures: the account or the client is locked out (the password was not
    /// checked); the text says which and until when.
    LockedOut(String),
    /// The store could not check.
    Unavailable,
}

/// `334` with the base64 text of `prompt` (RFC 4954 §4).
fn challenge(prompt: &str) -> Reply {
    use base64::Engine as _;
    Reply::new(
        334,
        "",
        base64::engine::general_purpose::STANDARD.encode(prompt),
    )
}

/// The reply to a SASL response that cannot be decoded (RFC 4954 §4: 501 for a bad
/// base64 response or a cancelled exchange).
fn sasl_error(e: SaslError) -> Reply {
    match e {
        SaslError::Cancelled => Reply::new(501, "5.0.0", "authentication cancelled"),
        other => Reply::new(501, "5.5.2", other.to_string()),
    }
}

impl Session {
    pub(super) fn auth(&mut self, mechanism: u64, initial: String) -> Option<Action> {
        if self.ctx.role == Role::Mx {
            self.respond(reply::not_offered("AUTH"));
            return None;
        }
        if !self.tls && !self.ctx.allow_plaintext_auth {
            // RFC 4954 §6: 538 when the mechanism needs an encrypted channel.
            self.respond(Reply::new(
                538,
                "5.7.11",
                "encryption required for authentication: use STARTTLS first",
            ));
            return None;
        }
        if self.helo.is_none() {
            self.respond(reply::bad_sequence("send EHLO first"));
            return None;
        }
        if self.login.is_some() {
            // RFC 4954 §4: AUTH only once per session.
            self.respond(reply::bad_sequence("already authenticated"));
            return None;
        }
        if self.tx.is_some() {
            self.respond(reply::bad_sequence(
                "AUTH is not allowed during a mail transaction",
            ));
            return None;
        }
        // RFC 4954 §4: "=" is an empty initial response.
        let initial = (!initial.is_empty()).then(|| {
            if initial == "=" {
                Vec::new()
            } else {
                initial.into_bytes()
            }
        });
        match mechanism {
            AUTH_PLAIN => match initial {
                None => {
                    self.mode = Mode::Sasl(Sasl::Plain);
                    challenge("").write_to(&mut self.out);
                    None
                }
                Some(line) => self.plain_response(&line),
            },
            AUTH_LOGIN => match initial {
                // RFC 4954 allows an initial response for LOGIN: it is the user name.
                Some(line) => self.sasl_line(Sasl::LoginUser, &line),
                None => {
                    self.mode = Mode::Sasl(Sasl::LoginUser);
                    challenge("Username:").write_to(&mut self.out);
                    None
                }
            },
            _ => {
                self.respond(Reply::new(
                    504,
                    "5.5.4",
                    "unrecognized authentication type; offered: PLAIN LOGIN",
                ));
                None
            }
        }
    }

    /// A continuation line of the exchange in `step`.
    pub(super) fn sasl_line(&mut self, step: Sasl, line: &[u8]) -> Option<Action> {
        self.mode = Mode::Command;
        match step {
            Sasl::Plain => self.plain_response(line),
            Sasl::LoginUser => {
                match sasl::decode_base64(line).and_then(|b| sasl::decode_login_field(&b)) {
                    Ok(username) => {
                        self.mode = Mode::Sasl(Sasl::LoginPassword { username });
                        challenge("Password:").write_to(&mut self.out);
                        None
                    }
                    Err(e) => {
                        self.respond(sasl_error(e));
                        None
                    }
                }
            }
            Sasl::LoginPassword { username } => {
                match sasl::decode_base64(line).and_then(|b| sasl::decode_login_field(&b)) {
                    Ok(password) => self.check(
                        "LOGIN",
                        Credentials {
                            username,
                            password: mailroom_shared::Secret::new(password),
                        },
                    ),
                    Err(e) => {
                        self.respond(sasl_error(e));
                        None
                    }
                }
            }
        }
    }

    fn plain_response(&mut self, line: &[u8]) -> Option<Action> {
        match sasl::decode_base64(line).and_then(|b| sasl::decode_plain(&b)) {
            Ok(credentials) => self.check("PLAIN", credentials),
            Err(e) => {
                self.respond(sasl_error(e));
                None
            }
        }
    }

    fn check(&mut self, mechanism: &'static str, credentials: Credentials) -> Option<Action> {
        self.authenticating = true;
        Some(Action::Authenticate {
            mechanism,
            credentials,
        })
    }

    /// The answer to [`Action::Authenticate`].
    pub fn authenticated(&mut self, answer: AuthAnswer) {
        if !std::mem::take(&mut self.authenticating) {
            return;
        }
        let r = match answer {
            AuthAnswer::Accepted(login) => {
                self.login = Some(login);
                Reply::new(235, "2.7.0", "authentication succeeded")
            }
            AuthAnswer::Refused => Reply::new(535, "5.7.8", "authentication credentials invalid"),
            // RFC 4954 §6: 454 4.7.0 is a temporary authentication failure; the same whether
            // or not the password was right, since it was not checked.
            AuthAnswer::LockedOut(why) => Reply::new(454, "4.7.0", format!("{why}; try later")),
            AuthAnswer::Unavailable => Reply::new(
                454,
                "4.7.0",
                "temporary authentication failure, try again later",
            ),
        };
        self.respond(r);
    }

    /// The account this session is logged in as.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }
}
