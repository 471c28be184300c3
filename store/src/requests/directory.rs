//! Requests about who is who: recipients, addresses an account may send as, and logins.

use actix::Message;
use mailroom_shared::Secret;
pub use mailroom_shared::login_guard::{LoginAttempt, LoginGuard, LoginProtocol, Verdict};

use crate::error::StoreError;
use crate::types::{Account, Resolution};

/// Who an address delivers to. Sent by SMTP sessions at RCPT TO.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Resolution, StoreError>")]
pub struct ResolveRecipient {
    /// The address as given, without angle brackets.
    pub address: String,
}

/// [`ResolveRecipient`], and which of the accounts it resolves to cannot take `size` more
/// octets within their quota, in one read: the SMTP RCPT check, so that an unknown or full
/// recipient is refused before the data is sent.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(Resolution, Vec<i64>), StoreError>")]
pub struct CheckRecipient {
    /// As for [`ResolveRecipient`].
    pub address: String,
    /// Octets about to arrive (the SMTP SIZE parameter; 0 when unknown: then only accounts
    /// already at or over their quota are named).
    pub size: u64,
}

/// Which of `addresses` the account may send as (submission's MAIL FROM and From: checks):
/// its own address, with or without a `+tag`, or an alias (not a catch-all) that delivers to
/// it. One answer per address, in order.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<bool>, StoreError>")]
pub struct OwnsAddresses {
    /// The authenticated account.
    pub account_id: i64,
    /// Addresses as given, without angle brackets.
    pub addresses: Vec<String>,
}

/// Check a login through the login guard. Sent by SMTP submission (AUTH), IMAP
/// (LOGIN/AUTHENTICATE), POP3 (USER/PASS, AUTH), the admin panel's sign-in and the API's
/// Basic auth: the only way a password is checked, and it cannot be sent without the
/// configuration's [`LoginGuard`].
///
/// A locked-out account or client is refused without the password being looked at; a
/// failure is counted (per account and per client IP) and recorded as an `AuthFailed` event,
/// a failure that reaches a threshold as a `LockedOut` event; both refusals are answered only
/// after the guard's delay. Every attempt is counted in `mailroom_auth_attempts_total`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Verdict<Account>")]
pub struct Authenticate {
    /// The login name, an account address.
    pub address: String,
    /// The password.
    pub password: Secret,
    /// Who tried, how.
    pub attempt: LoginAttempt,
    /// The `[security]` policy and delay of the configuration the session runs under.
    pub guard: LoginGuard,
}
