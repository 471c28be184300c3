//! Engine-neutral rules of the inbound policy's state: how a trained message's tokens are
//! stored, what one message adds to the Bayes counts, how greylist rows and spam scores are
//! read and checked.

use std::collections::BTreeSet;

use crate::error::StoreError;
use crate::greylist::TripletState;
use crate::spam::SpamClass;

/// Token hashes as stored with a trained message (`bayes_trained.tokens`): little-endian
/// i64s, so retraining can take back exactly what was added.
pub(crate) fn tokens_to_blob(tokens: &BTreeSet<i64>) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
}

/// Back from [`tokens_to_blob`]; a trailing partial token is ignored.
pub(crate) fn tokens_from_blob(data: &[u8]) -> Vec<i64> {
    data.chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            i64::from_le_bytes(b)
        })
        .collect()
}

/// (spam, ham) increments for one message of `class`.
pub(crate) fn unit(class: SpamClass) -> (i64, i64) {
    match class {
        SpamClass::Spam => (1, 0),
        SpamClass::Ham => (0, 1),
    }
}

/// A stored Bayes count as the scorer reads it (never negative).
pub(crate) fn count(stored: i64) -> u64 {
    stored.max(0) as u64
}

/// A spam score must be a number to be kept.
pub(crate) fn check_score(score: f64) -> Result<(), StoreError> {
    if score.is_finite() {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("spam score {score}")))
    }
}

/// A greylist row as the actor reads it.
pub(crate) fn triplet_state(
    first_seen: i64,
    last_seen: i64,
    passed_at: Option<i64>,
    count: i64,
) -> TripletState {
    TripletState {
        first_seen,
        last_seen,
        passed_at,
        count: u32::try_from(count).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trained_tokens_round_trip_and_units_count_one_class() {
        let tokens: BTreeSet<i64> = [-1, 0, i64::MAX, 42].into_iter().collect();
        let back = tokens_from_blob(&tokens_to_blob(&tokens));
        assert_eq!(back, tokens.into_iter().collect::<Vec<_>>());
        assert_eq!(unit(SpamClass::Spam), (1, 0));
        assert_eq!(unit(SpamClass::Ham), (0, 1));
        assert!(check_score(f64::NAN).is_err());
        assert_eq!(triplet_state(1, 2, None, i64::MAX).count, u32::MAX);
    }
}
