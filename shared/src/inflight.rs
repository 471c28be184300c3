//! The server-wide budget for message data held in memory (`[limits] max_inflight_bytes`):
//! one [`InflightBudget`] shared by SMTP DATA/BDAT, submission and IMAP APPEND.
//!
//! A session reserves octets before it holds them and the [`Reservation`] gives them back when
//! it is dropped, whatever path the session ends on. Two ways to ask:
//! - [`InflightBudget::try_reserve`] when a transaction starts: no room (or others already
//!   waiting) is a temporary failure for the client (SMTP `452 4.3.1`, IMAP `NO [LIMIT]`);
//! - [`InflightBudget::reserve`] for a transaction already under way whose body, spooled to
//!   disk, must now be read back to be delivered: it waits its turn (first come, first served),
//!   so transactions that started always finish.
//!
//! A request larger than the whole budget is cut to the whole budget: it then runs alone
//! instead of never.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits are KiB: a u32 count of them covers 4 TiB.
const UNIT: u64 = 1024;

/// Default of `[limits] max_inflight_bytes`.
pub const DEFAULT_BUDGET: u64 = 128 * 1024 * 1024;

/// Octets of message data the server's sessions may hold in memory together.
#[derive(Debug, Clone)]
pub struct InflightBudget {
    permits: Arc<Semaphore>,
    /// In units.
    capacity: u32,
}

/// Octets held against an [`InflightBudget`]; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
}

impl Reservation {
    /// Octets this reservation stands for (rounded up to whole KiB, cut to the budget).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// No room in the budget now: a temporary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server's memory for message data is exhausted, try again later")]
pub struct Exhausted;

impl InflightBudget {
    /// A budget of `bytes` octets (at least one KiB).
    pub fn new(bytes: u64) -> Self {
        let capacity = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            permits: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// The whole budget in octets.
    pub fn capacity(&self) -> u64 {
        u64::from(self.capacity) * UNIT
    }

    /// Octets free now.
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }

    fn units(&self, bytes: u64) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.capacity)
    }

    /// Reserve `bytes` now, or fail at once. Also fails while earlier callers of
    /// [`InflightBudget::reserve`] wait: a new transaction never overtakes one under way.
    pub fn try_reserve(&self, bytes: u64) -> Result<Reservation, Exhausted> {
        let units = self.units(bytes);
        let permit = Arc::clone(&self.permits)
            .try_acquire_many_owned(units)
            .map_err(|_| Exhausted)?;
        Ok(Reservation {
            _permit: permit,
            bytes: u64::from(units) * UNIT,
        })
    }

    /// Reserve `bytes`, waiting (in arrival order) until they are free.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation, Exhausted> {
        let units = self.units(bytes);
        let permit = Arc::clone(&self.permits)
            .acquire_many_owned(units)
            .await
            .map_err(|_| Exhausted)?;
        Ok(Reservation {
            _permit: permit,
            bytes: u64::from(units) * UNIT,
        })
    }
}

/// The process's budget and where its spooled bodies go.
#[derive(Debug)]
pub struct Inflight {
    /// `[limits] max_inflight_bytes`.
    pub budget: InflightBudget,
    /// The data directory's `tmp/` (emptied by the store at start).
    pub tmp_dir: PathBuf,
}

static GLOBAL: OnceLock<Inflight> = OnceLock::new();

/// Set the process's budget and spool directory, once at start (later calls are ignored:
/// the budget is not resized by a reload, so reservations already made stay valid).
pub fn configure(max_inflight_bytes: u64, tmp_dir: PathBuf) {
    let _ = GLOBAL.set(Inflight {
        budget: InflightBudget::new(max_inflight_bytes),
        tmp_dir,
    });
}

/// The process's budget; before [`configure`] (unit tests) the default budget and the
/// system's temp directory.
pub fn inflight() -> &'static Inflight {
    GLOBAL.get_or_init(|| Inflight {
        budget: InflightBudget::new(DEFAULT_BUDGET),
        tmp_dir: std::env::temp_dir(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_come_back_on_drop() {
        let budget = InflightBudget::new(10 * 1024);
        let a = budget.try_reserve(4 * 1024).expect("room");
        let b = budget.try_reserve(6 * 1024).expect("room");
        assert_eq!(budget.available(), 0);
        assert!(matches!(budget.try_reserve(1), Err(Exhausted)));
        drop(a);
        assert_eq!(budget.available(), 4 * 1024);
        drop(b);
        assert_eq!(budget.available(), budget.capacity());
    }

    #[test]
    fn sizes_round_up_to_kib_and_are_cut_to_the_budget() {
        let budget = InflightBudget::new(8 * 1024);
        assert_eq!(budget.try_reserve(1).expect("room").bytes(), 1024);
        assert_eq!(budget.try_reserve(0).expect("room").bytes(), 1024);
        let all = budget
            .try_reserve(u64::MAX)
            .expect("cut to the whole budget");
        assert_eq!(all.bytes(), 8 * 1024);
        assert!(budget.try_reserve(1).is_err());
    }

    #[tokio::test]
    async fn a_waiting_transaction_goes_first() {
        let budget = InflightBudget::new(4 * 1024);
        let held = budget.try_reserve(3 * 1024).expect("room");
        let b = budget.clone();
        let waiter = tokio::spawn(async move { b.reserve(2 * 1024).await.map(|r| r.bytes()) });
        // Let the waiter queue up.
        while budget.permits.available_permits() != 0 {
            tokio::task::yield_now().await;
            if waiter.is_finished() {
                break;
            }
        }
        // 1 KiB is free, but a new transaction must not overtake the one waiting.
        assert!(budget.try_reserve(1024).is_err());
        drop(held);
        assert_eq!(waiter.await.expect("task"), Ok(2 * 1024));
        assert_eq!(budget.available(), budget.capacity());
    }
}
