//! `StoreError`: the one error type of the store. Protocol crates map each variant to a reply
//! in one place (e.g. `QuotaExceeded` → `452 4.2.2` / `NO [OVERQUOTA]`, `Unavailable` →
//! `451 4.3.0` / `NO [UNAVAILABLE]`). The texts are lowercase and say what was wrong, without
//! ever containing a password.

/// Why a store operation failed.
///
/// `Clone` because one failed group commit answers every request of its batch with the same
/// error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The named domain, account, alias, mailbox or message does not exist (or belongs to
    /// another account, which callers must not be able to tell apart).
    #[error("{0} not found")]
    NotFound(String),
    /// The named thing already exists.
    #[error("{0} already exists")]
    Exists(String),
    /// The request is malformed: a bad address, a short password, a bad keyword…
    #[error("{0}")]
    Invalid(String),
    /// The address belongs to a domain this server does not host.
    #[error("domain {0} is not hosted here")]
    UnknownDomain(String),
    /// Storing the message would take the account over its quota.
    #[error("mailbox of {address} is over quota")]
    QuotaExceeded {
        /// The account that is full.
        address: String,
    },
    /// The store cannot serve the request now: I/O or the database failed, or the writer is gone.
    /// Nothing was changed; the caller may retry later (SMTP `451`).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Unavailable(format!("i/o: {e}"))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Unavailable(format!("stored metadata: {e}"))
    }
}
