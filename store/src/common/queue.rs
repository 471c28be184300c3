//! Engine-neutral rules of the outbound queue: the domain a recipient is routed by, how
//! stored counters come back, and how long a node's lease on the recipients it works on
//! lasts (engines that share a queue between nodes lease what [`crate::outbound::DueQueue`]
//! returns).

use crate::error::StoreError;

/// The shortest lease taken, whatever `DueQueue::lease_secs` asks: a lease must outlast the
/// scan that takes it.
pub(crate) const MIN_LEASE_SECS: i64 = 5;

/// When a lease of `secs` taken at `now` runs out. The lease must be longer than one
/// delivery attempt (an MX lookup and an SMTP transaction with its timeouts), so a live node
/// keeps the recipients it works on; a node that died frees them after it.
pub(crate) fn lease_until(now: i64, secs: i64) -> i64 {
    now.saturating_add(secs.max(MIN_LEASE_SECS))
}

/// The domain of an address, lowercase, without a trailing dot; an address without a local
/// part or a domain is refused.
pub(crate) fn domain_of(address: &str) -> Result<String, StoreError> {
    match address.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            Ok(domain.trim_end_matches('.').to_ascii_lowercase())
        }
        _ => Err(StoreError::Invalid(format!(
            "`{address}` is not an address with a domain"
        ))),
    }
}

/// A stored attempt counter as the queue reads it (never negative, at most `u32::MAX`).
pub(crate) fn attempts(stored: i64) -> u32 {
    stored.clamp(0, i64::from(u32::MAX)) as u32
}

/// A submission needs somebody to go to.
pub(crate) fn check_submission(local: &[i64], remote_count: usize) -> Result<(), StoreError> {
    if local.is_empty() && remote_count == 0 {
        return Err(StoreError::Invalid("a submission needs a recipient".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_lowercase_without_the_root_dot() {
        assert_eq!(domain_of("X@Remote.TEST.").expect("domain"), "remote.test");
        assert!(domain_of("nobody").is_err());
        assert!(domain_of("@example.test").is_err());
        assert!(domain_of("a@").is_err());
        assert_eq!(attempts(-3), 0);
        assert_eq!(attempts(i64::MAX), u32::MAX);
        assert_eq!(lease_until(100, 900), 1000);
        assert_eq!(lease_until(100, 0), 100 + MIN_LEASE_SECS);
    }
}
