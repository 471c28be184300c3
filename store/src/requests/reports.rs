//! Read-only requests of the admin dashboard and policy pages: counts, sizes, recent events
//! and decisions, and the store's self-check.

use actix::Message;

use crate::error::StoreError;
use crate::types::{GreylistEntry, HourCount, SpamDecisionRow, StoreSizes};

/// Messages per hour since `since` (unix seconds), by what happened to them: `received`,
/// `rejected`, `greylisted`, `spam` and `sent`. Hours are unix seconds / 3600.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<HourCount>, StoreError>")]
pub struct HourlyCounts {
    /// Unix seconds.
    pub since: i64,
}

/// Rows in the outbound queue by status, and the size of the data.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<StoreSizes, StoreError>")]
pub struct Sizes;

/// The newest `limit` events of `kind` (`rejected`, `delivered`, …), newest first, as (id,
/// unix seconds, the event's JSON).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<(i64, i64, String)>, StoreError>")]
pub struct RecentEvents {
    /// The event kind.
    pub kind: String,
    /// Most rows.
    pub limit: u32,
}

/// The newest `limit` spam decisions, newest first.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<SpamDecisionRow>, StoreError>")]
pub struct SpamDecisions {
    /// Most rows.
    pub limit: u32,
}

/// Greylist triplets whose network, sender or recipient contains `query` (all if empty),
/// most recently seen first, at most `limit`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<GreylistEntry>, StoreError>")]
pub struct GreylistEntries {
    /// Text to look for.
    pub query: String,
    /// Most rows.
    pub limit: u32,
}

/// Check every stored body: present, the recorded size and SHA-256, referenced as often as
/// counted. One line per problem (empty = healthy). Reads every body: slow on a big store.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<Vec<String>, StoreError>")]
pub struct VerifyBodies;
