//! Requests that manage the directory: domains, accounts, aliases, API tokens and login
//! lockouts. Sent by the admin panel, the API and the CLI; the writes go through the same
//! writer as the protocols' and publish what they change once it is durable (removing an
//! account publishes `AccountRemoved`, which ends its sessions).

use actix::Message;
use mailroom_shared::Secret;

use crate::dkim::DkimKey;
use crate::error::StoreError;
use crate::types::{Account, AccountChange, Alias, ApiToken, Domain, Lockout, LockoutPolicy, Role};

/// Host mail for `name`, with its DKIM keys (RSA-2048 and Ed25519, see [`crate::dkim`]).
/// `Invalid` if it is not a host name, `Exists` if already hosted.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Domain, StoreError>")]
pub struct AddDomain {
    /// The domain.
    pub name: String,
}

/// Stop hosting `name`; refused (`Invalid`) while it has accounts. Its aliases go with it.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct RemoveDomain {
    /// The domain.
    pub name: String,
}

/// Every hosted domain, by name.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<Vec<Domain>, StoreError>")]
pub struct ListDomains;

/// The active DKIM keys of `name`, RSA first; `NotFound` if it is not hosted.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<DkimKey>, StoreError>")]
pub struct DomainDkim {
    /// The domain.
    pub name: String,
}

/// The role addresses of `domain` (`postmaster`, `abuse`) that reach no account; the panel
/// and the CLI warn about them.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<String>, StoreError>")]
pub struct MissingRoleAddresses {
    /// The domain.
    pub domain: String,
}

/// Create an account with the default mailboxes (INBOX, Sent, Drafts, Junk, Trash, Archive).
/// The password is hashed on the blocking pool before the write is sent.
#[derive(Message, Clone)]
#[rtype(result = "Result<Account, StoreError>")]
pub struct AddAccount {
    /// Its address, in a hosted domain.
    pub address: String,
    /// At least 8 characters.
    pub password: Secret,
    /// User or admin.
    pub role: Role,
    /// Octets; `None` or 0 = unlimited.
    pub quota: Option<u64>,
}

/// Set a new password (at least 8 characters), hashed before the write.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct SetPassword {
    /// The account.
    pub address: String,
    /// The new password.
    pub password: Secret,
}

/// The account at `address`; `NotFound` if there is none.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Account, StoreError>")]
pub struct GetAccount {
    /// The account.
    pub address: String,
}

/// Every account, by address.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<Vec<Account>, StoreError>")]
pub struct ListAccounts;

/// Change an account's quota, role or switch; refused (`Invalid`) when it would leave no
/// enabled admin.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Account, StoreError>")]
pub struct ChangeAccount {
    /// The account.
    pub address: String,
    /// What to change.
    pub change: AccountChange,
}

/// Delete an account with its mailboxes and messages. Once durable, `AccountRemoved` is
/// published: its IMAP, POP3 and submission sessions end.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct RemoveAccount {
    /// The account.
    pub address: String,
}

/// Add an alias: `source` is `local@domain` or `@domain` (catch-all) in a hosted domain;
/// `targets` are addresses anywhere. `Exists` if the source already is an alias or an
/// account.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Alias, StoreError>")]
pub struct AddAlias {
    /// The alias.
    pub source: String,
    /// Where its mail goes.
    pub targets: Vec<String>,
}

/// Every alias, by source.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<Vec<Alias>, StoreError>")]
pub struct ListAliases;

/// Remove the alias with this source.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct RemoveAlias {
    /// The alias.
    pub source: String,
}

/// Make an API token acting as the admin `address`: the token, and its secret (shown once,
/// never stored).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(ApiToken, String), StoreError>")]
pub struct CreateToken {
    /// The admin account.
    pub address: String,
    /// What to call it.
    pub name: String,
}

/// Every API token, oldest first.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<Vec<ApiToken>, StoreError>")]
pub struct ListTokens;

/// Revoke an API token.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct DeleteToken {
    /// Its id.
    pub id: i64,
}

/// The enabled admin account an API token acts as, if any; records the use.
#[derive(Message, Clone)]
#[rtype(result = "Result<Option<Account>, StoreError>")]
pub struct TokenAccount {
    /// The token's secret, as presented.
    pub secret: Secret,
}

/// Runs of failed logins still remembered, oldest first, each with whether it is a lockout
/// under `policy` now.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<(Lockout, bool)>, StoreError>")]
pub struct ListLockouts {
    /// The `[security]` policy in force.
    pub policy: LockoutPolicy,
}

/// Lift the lockout of (forget the failures of) `target`: an IP address, or an account's
/// address. `NotFound` if there is nothing to lift.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct ClearLockout {
    /// An IP address or an account address.
    pub target: String,
}

/// [`AddAccount`] as the engine gets it: the password already hashed (PHC string).
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Its address.
    pub address: String,
    /// The argon2 PHC string.
    pub password_hash: String,
    /// User or admin.
    pub role: Role,
    /// Octets; `None` or 0 = unlimited.
    pub quota: Option<u64>,
}

/// [`SetPassword`] as the engine gets it.
#[derive(Debug, Clone)]
pub struct NewPassword {
    /// The account.
    pub address: String,
    /// The argon2 PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for AddAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddAccount")
            .field("address", &self.address)
            .field("role", &self.role)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPassword")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TokenAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAccount").finish_non_exhaustive()
    }
}
