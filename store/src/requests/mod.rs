//! The requests the [`MailboxStore`](crate::actor::MailboxStore) actor answers, by concern.
//! Engine-neutral: they name no engine, and both the actor and the engines' role traits
//! ([`crate::engine`]) take them as they are.
//!
//! The requests of the outbound queue and of the spam, greylist and DKIM state live beside
//! their value types (in [`crate::outbound`], [`crate::spam`], [`crate::greylist`],
//! [`crate::dkim`]); [`queue`] and [`policy`] gather them.

pub mod accounts;
pub mod directory;
pub mod events;
pub mod mail;
pub mod policy;
pub mod queue;
pub mod reports;

use actix::Message;

use crate::error::StoreError;
use crate::types::StoreStats;

pub use accounts::*;
pub use directory::*;
pub use events::*;
pub use mail::*;
pub use policy::*;
pub use queue::*;
pub use reports::*;

/// Group-commit counters. Sent by the admin panel (/metrics) and tests.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<StoreStats, StoreError>")]
pub struct Stats;

/// Commit every write submitted before this, then close the database (checkpointing the
/// WAL). Later writes fail with `Unavailable`. Sent by the shutdown coordinator, once the
/// sessions have finished.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Flush;

/// A watch on the engine's fatal failures (see [`crate::fatal`]). Sent once by
/// `mailroom::run`, which stops the server when the watch fires.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "crate::fatal::FatalWatch")]
pub struct WatchFatal;
