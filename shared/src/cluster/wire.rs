//! What travels on the cluster channel: a bus message that crosses nodes, tagged with the
//! node (and the process) it comes from, as JSON. Pure: no Redis, no actors.

use serde::{Deserialize, Serialize};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::msg::{AccountRemoved, MailboxChanged};

/// The bus messages that cross nodes. Each is about data in the shared store, which every
/// node reads the same; see the module doc of `cluster` for the ones that do not cross.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Crossing {
    /// Wakes IDLE and untagged updates of sessions on other nodes.
    MailboxChanged(MailboxChanged),
    /// Ends the account's sessions on other nodes.
    AccountRemoved(AccountRemoved),
}

/// Who sent a message: the configured node name (for logs) and a number drawn at start, so
/// that two processes given the same name (a copied config) still hear each other and a
/// restarted node is a new sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub node: String,
    pub instance: u64,
}

impl Origin {
    /// A new origin for this process, named `node`.
    pub fn new(node: impl Into<String>) -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        Self {
            node: node.into(),
            instance: h.finish(),
        }
    }
}

/// One message on the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub origin: Origin,
    #[serde(flatten)]
    pub change: Crossing,
}

impl Envelope {
    /// The JSON sent to Redis.
    pub fn encode(&self) -> String {
        // Plain structs of strings and integers: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Read a payload from the channel; `None` for what no mailroom node sent (or a newer
    /// node's message this one does not know), which the caller skips.
    pub fn decode(payload: &[u8]) -> Option<Self> {
        serde_json::from_slice(payload).ok()
    }

    /// Whether this node should republish it: not when it sent it itself (Redis hands a
    /// publisher's own messages back to its subscription).
    pub fn is_from_elsewhere(&self, me: &Origin) -> bool {
        self.origin != *me
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::MailboxChange;

    fn changed() -> Crossing {
        Crossing::MailboxChanged(MailboxChanged {
            account_id: 3,
            mailbox_id: 9,
            change: MailboxChange::Added,
            modseq: 41,
        })
    }

    #[test]
    fn round_trips_and_reads_as_tagged_json() {
        let e = Envelope {
            origin: Origin {
                node: "a".into(),
                instance: 7,
            },
            change: changed(),
        };
        let json: serde_json::Value = serde_json::from_str(&e.encode()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "origin": {"node": "a", "instance": 7},
                "type": "mailbox_changed",
                "account_id": 3, "mailbox_id": 9, "change": "Added", "modseq": 41
            })
        );
        assert_eq!(Envelope::decode(e.encode().as_bytes()), Some(e));
    }

    #[test]
    fn account_removals_cross_too() {
        let e = Envelope {
            origin: Origin::new("b"),
            change: Crossing::AccountRemoved(AccountRemoved {
                account_id: 5,
                address: "u@example.test".into(),
            }),
        };
        assert_eq!(Envelope::decode(e.encode().as_bytes()), Some(e));
    }

    #[test]
    fn foreign_payloads_are_skipped() {
        assert_eq!(Envelope::decode(b"hello"), None);
        assert_eq!(
            Envelope::decode(br#"{"origin":{"node":"a","instance":1},"type":"config_changed"}"#),
            None
        );
    }

    #[test]
    fn a_node_ignores_only_its_own_messages() {
        let me = Origin::new("a");
        let same_name_other_process = Origin::new("a");
        assert_ne!(me, same_name_other_process);
        let from = |origin: Origin| Envelope {
            origin,
            change: changed(),
        };
        assert!(!from(me.clone()).is_from_elsewhere(&me));
        assert!(from(same_name_other_process).is_from_elsewhere(&me));
        assert!(from(Origin::new("b")).is_from_elsewhere(&me));
    }
}
