//! Header blocks kept in memory by body hash, for SEARCH HEADER over whole mailboxes.
//!
//! What it owns: a bounded map from a body's SHA-256 to its header block. A body is
//! content-addressed and never changes, so an entry can never be stale: it is only found
//! through a message row that names the hash. What it must not do: decide which messages
//! exist (the caller reads the message rows from the database first) or grow past its
//! bound (oldest entries go first).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Octets of header blocks kept at most.
pub(crate) const MAX_BYTES: usize = 16 << 20;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct HeaderCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Arc<[u8]>>,
    /// Insertion order, for eviction.
    order: VecDeque<String>,
    bytes: usize,
}

impl HeaderCache {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The header block of body `hash`, if kept.
    pub(crate) fn get(&self, hash: &str) -> Option<Arc<[u8]>> {
        let inner = self.inner.lock().ok()?;
        inner.map.get(hash).cloned()
    }

    /// Keep `header` as the header block of `hash`, evicting the oldest entries to make room.
    /// A block larger than the whole bound is not kept.
    pub(crate) fn insert(&self, hash: &str, header: Arc<[u8]>) {
        if header.len() > self.max_bytes {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.map.contains_key(hash) {
            return;
        }
        while inner.bytes + header.len() > self.max_bytes {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(gone) = inner.map.remove(&old) {
                inner.bytes -= gone.len();
            }
        }
        inner.bytes += header.len();
        inner.order.push_back(hash.to_string());
        inner.map.insert(hash.to_string(), header);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize) -> Arc<[u8]> {
        Arc::from(vec![b'h'; n])
    }

    #[test]
    fn keeps_within_its_bound_oldest_out_first() {
        let cache = HeaderCache::new(10);
        cache.insert("a", block(4));
        cache.insert("b", block(4));
        assert_eq!(cache.get("a").map(|h| h.len()), Some(4));
        cache.insert("c", block(4)); // 12 > 10: a goes
        assert!(cache.get("a").is_none());
        assert!(cache.get("b").is_some() && cache.get("c").is_some());
        cache.insert("d", block(10)); // only d fits
        assert!(cache.get("b").is_none() && cache.get("c").is_none());
        assert_eq!(cache.get("d").map(|h| h.len()), Some(10));
        cache.insert("e", block(11)); // larger than the bound: not kept, nothing evicted
        assert!(cache.get("e").is_none() && cache.get("d").is_some());
        cache.insert("d", block(1)); // already kept: unchanged
        assert_eq!(cache.get("d").map(|h| h.len()), Some(10));
        let inner = cache.inner.lock().expect("lock");
        assert_eq!(inner.bytes, 10);
        assert_eq!(inner.order.len(), inner.map.len());
    }
}
