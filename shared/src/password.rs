//! Password hashing with argon2id (RFC 9106) in PHC string form. Hashing is deliberately slow:
//! call these from a blocking thread, never on a session's arbiter.

use crate::secret::Secret;
use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Condvar, Mutex, PoisonError};

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

/// At most this many argon2 computations run at once (one per core), each in a memory
/// buffer that is kept and reused. Allocating 19 MiB per login and freeing it left the
/// allocator holding fragments of every buffer: 7 MiB of resident memory per logged-in
/// session (measured with 200 and 2,000 IMAP logins). With reused buffers the cost is fixed
/// at `cores × 19 MiB`; waiting logins queue here, which costs no throughput as the work is
/// CPU-bound.
struct Slots {
    /// Buffers not in use; a slot is free when its buffer is here.
    free: Mutex<Option<Vec<Vec<Block>>>>,
    freed: Condvar,
}

static SLOTS: Slots = Slots {
    free: Mutex::new(None),
    freed: Condvar::new(),
};

/// A running argon2 computation's buffer; given back on drop.
struct Slot(Vec<Block>);

impl Slot {
    fn take() -> Slot {
        let mut free = SLOTS.free.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let buffers = free.get_or_insert_with(|| {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
                (0..cores).map(|_| Vec::new()).collect()
            });
            if let Some(buffer) = buffers.pop() {
                return Slot(buffer);
            }
            free = SLOTS
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The buffer, at least `blocks` long.
    fn memory(&mut self, blocks: usize) -> &mut [Block] {
        if self.0.len() < blocks {
            self.0.resize(blocks, Block::default());
        }
        &mut self.0[..blocks]
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        let mut free = SLOTS.free.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(buffers) = free.as_mut() {
            buffers.push(buffer);
        }
        SLOTS.freed.notify_one();
    }
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
    let _slot = Slot::take();
    hasher()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `phc`; a malformed stored hash, or one that is not argon2id
/// version 19, never matches.
pub fn verify_password(password: &Secret, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let argon2id = parsed.algorithm.as_str() == "argon2id";
    let v19 = parsed.version.is_none_or(|v| v == Version::V0x13 as u32);
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if !argon2id || !v19 {
        return false;
    }
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut slot = Slot::take();
    let computed = argon2.hash_password_into_with_memory(
        password.expose().as_bytes(),
        salt.as_ref(),
        &mut out,
        slot.memory(blocks),
    );
    drop(slot);
    // Compare every octet, so the time does not tell how much of a guess was right.
    computed.is_ok()
        && out
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
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
        // Only our own kind of hash counts: another algorithm or version never matches.
        let other = phc.replacen("$argon2id$", "$argon2i$", 1);
        assert!(!verify_password(&Secret::new("correct horse"), &other));
        let old = phc.replacen("$v=19$", "$v=16$", 1);
        assert!(!verify_password(&Secret::new("correct horse"), &old));
    }

    #[test]
    fn many_threads_at_once_all_get_their_answer() {
        let phc = hash_password(&Secret::new("correct horse")).expect("hash");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let phc = phc.clone();
                std::thread::spawn(move || {
                    let pw = if i % 2 == 0 {
                        "correct horse"
                    } else {
                        "wrong horse"
                    };
                    verify_password(&Secret::new(pw), &phc) == (i % 2 == 0)
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().expect("thread"));
        }
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(
            hash_password(&Secret::new("short")),
            Err(PasswordError::TooShort)
        );
    }
}
