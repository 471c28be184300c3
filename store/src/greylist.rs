//! Greylisting state in the store: triplets (client network, sender, recipient) with when
//! they were first and last seen and when they passed, and the senders learned from
//! deliveries. The `Greylist` policy actor (smtp crate) keeps the hot part in memory and
//! writes through with these messages, so the state survives restarts.
//!
//! The store only keeps rows; every decision (delay, window, expiry) is the actor's. Writes go
//! through the group-commit writer like every other write; `Ok` means durable.

use actix::Message;

use crate::error::StoreError;

/// The key of greylisting: the client's network (`192.0.2.0/24`, `2001:db8::/64`), the
/// reverse-path (lowercase, empty for `<>`) and the recipient (lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Triplet {
    /// The client network, as text.
    pub net: String,
    /// The envelope sender.
    pub sender: String,
    /// The envelope recipient.
    pub recipient: String,
}

/// What is remembered of a triplet; times are unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TripletState {
    /// The first attempt of the current round (a round starts over after the retry window).
    pub first_seen: i64,
    /// The last attempt or delivery.
    pub last_seen: i64,
    /// When a retry (or a delivery) passed; `None` while still pending.
    pub passed_at: Option<i64>,
    /// Attempts seen.
    pub count: u32,
}

/// A sender that delivered mail before.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KnownSender {
    /// This reverse-path delivered from this client network.
    Sender {
        /// The client network, as in [`Triplet::net`].
        net: String,
        /// The reverse-path, lowercase.
        address: String,
    },
    /// Mail from this domain (lowercase) was delivered; counts only together with an SPF or
    /// DKIM pass for the domain, since anyone can write it in MAIL FROM.
    Domain(String),
}

impl KnownSender {
    /// The `kind` column.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            KnownSender::Sender { .. } => "sender",
            KnownSender::Domain(_) => "domain",
        }
    }

    /// The `key` column: `net address` (a network has no space) or the domain.
    pub(crate) fn key(&self) -> String {
        match self {
            KnownSender::Sender { net, address } => format!("{net} {address}"),
            KnownSender::Domain(domain) => domain.clone(),
        }
    }

    /// Back from the columns; `None` for a kind this build does not know.
    pub(crate) fn from_columns(kind: &str, key: &str) -> Option<Self> {
        match kind {
            "sender" => key
                .split_once(' ')
                .map(|(net, address)| KnownSender::Sender {
                    net: net.to_string(),
                    address: address.to_string(),
                }),
            "domain" => Some(KnownSender::Domain(key.to_string())),
            _ => None,
        }
    }
}

/// What [`LoadGreylist`] found: the most recently seen rows, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GreylistRows {
    /// Triplets, at most `limit`.
    pub triplets: Vec<(Triplet, TripletState)>,
    /// Whether that is every triplet stored (fewer than `limit`): then a triplet not among
    /// them is not stored at all, and the caller need not ask [`LookupGreylist`].
    pub all_triplets: bool,
    /// Known senders with when they last delivered, at most `limit`.
    pub known: Vec<(KnownSender, i64)>,
    /// Whether that is every known sender stored.
    pub all_known: bool,
}

/// Read the greylist state: the `limit` most recently seen triplets and known senders. Sent
/// by the `Greylist` actor when it starts.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<GreylistRows, StoreError>")]
pub struct LoadGreylist {
    /// Most rows of each table.
    pub limit: usize,
}

/// The answer to [`LookupGreylist`]: the triplet's row, if stored, and the known senders
/// asked about that are stored, with when they last delivered.
pub type GreylistLookup = (Option<TripletState>, Vec<(KnownSender, i64)>);

/// One triplet and some known senders, as stored. Sent by the `Greylist` actor for what it
/// does not hold in memory (when [`GreylistRows`] was not complete).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "Result<GreylistLookup, StoreError>")]
pub struct LookupGreylist {
    /// The triplet wanted.
    pub triplet: Triplet,
    /// The known senders wanted; those stored come back with their last delivery.
    pub known: Vec<KnownSender>,
}

/// Store triplet states (replacing what was stored for each) and known senders (keeping the
/// later `last_seen`), and forget triplets, in one transaction. Sent by the `Greylist` actor.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<(), StoreError>")]
pub struct SaveGreylist {
    /// Triplets and their new state.
    pub triplets: Vec<(Triplet, TripletState)>,
    /// Known senders and when they last delivered.
    pub known: Vec<(KnownSender, i64)>,
    /// Triplets to delete (an admin removed them: the next attempt starts a new round).
    pub forget: Vec<Triplet>,
}

/// Forget old greylist rows: pending triplets first seen before `pending_before`, passed
/// triplets and known senders last seen before `passed_before`. Returns how many rows went.
/// Sent by the `Greylist` actor from time to time.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<u64, StoreError>")]
pub struct ExpireGreylist {
    /// Pending triplets whose retry window closed before this (unix seconds).
    pub pending_before: i64,
    /// Passed triplets and known senders not seen since this.
    pub passed_before: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sender_columns_round_trip() {
        for k in [
            KnownSender::Sender {
                net: "2001:db8::/64".into(),
                address: "x@example.org".into(),
            },
            KnownSender::Domain("example.org".into()),
        ] {
            assert_eq!(KnownSender::from_columns(k.kind(), &k.key()), Some(k));
        }
        assert_eq!(KnownSender::from_columns("other", "x"), None);
    }
}
