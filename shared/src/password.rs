//! Password hashing with argon2id (RFC 9106) in PHC string form. Hashing is deliberately slow:
//! call these from a blocking thread, never on a session's arbiter.

use crate::secret::Secret;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted for a new account or a changed password.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Why a password could not be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_LEN`].
    #[error("password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    /// The hasher failed (no randomness, bad parameters).
    #[error("cannot hash password: {0}")]
    Hash(String),
}

fn hasher() -> Argon2<'static> {
    // OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): strong, and fast enough that a
    // burst of logins does not stall the blocking pool.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash `password` into a PHC string (`$argon2id$v=19$...`) with a fresh random salt.
pub fn hash_password(password: &Secret) -> Result<String, PasswordError> {
    if password.expose().chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    hasher()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `phc`; a malformed stored hash never matches.
pub fn verify_password(password: &Secret, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let phc = hash_password(&Secret::new("correct horse")).expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password(&Secret::new("correct horse"), &phc));
        assert!(!verify_password(&Secret::new("wrong horse"), &phc));
        assert!(!verify_password(&Secret::new("x"), "not a hash"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(
            hash_password(&Secret::new("short")),
            Err(PasswordError::TooShort)
        );
    }
}
