//! What the store derived from a body, kept in memory by the body's hash: header blocks for
//! SEARCH HEADER and the parsed analysis for FETCH ENVELOPE/BODYSTRUCTURE over whole
//! mailboxes.
//!
//! What it owns: a bounded map from a body's SHA-256 to a value derived from it. A body is
//! content-addressed and never changes, so an entry can never be stale: it is only found
//! through a message row that names the hash. What it must not do: decide which messages
//! exist (the caller reads the message rows from the database first) or grow past its
//! bound (oldest entries go first).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Octets of header blocks kept at most.
pub(crate) const HEADER_BYTES: usize = 16 << 20;
/// Octets (of their stored JSON) of analyses kept at most.
pub(crate) const META_BYTES: usize = 16 << 20;

/// See the module docs. `T` is shared out as `Arc<T>`; each entry is weighed in octets by
/// the caller.
#[derive(Debug)]
pub(crate) struct BlobCache<T: ?Sized> {
    max_bytes: usize,
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T: ?Sized> {
    /// Each value with its weight.
    map: HashMap<String, (Arc<T>, usize)>,
    /// Insertion order, for eviction.
    order: VecDeque<String>,
    bytes: usize,
}

impl<T: ?Sized> BlobCache<T> {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
            }),
        }
    }

    /// The value kept for body `hash`.
    pub(crate) fn get(&self, hash: &str) -> Option<Arc<T>> {
        let inner = self.inner.lock().ok()?;
        inner.map.get(hash).map(|(value, _)| value.clone())
    }

    /// Keep `value`, weighing `weight` octets, for body `hash`, evicting the oldest entries to
    /// make room. A value heavier than the whole bound is not kept.
    pub(crate) fn insert(&self, hash: &str, value: Arc<T>, weight: usize) {
        if weight > self.max_bytes {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.map.contains_key(hash) {
            return;
        }
        while inner.bytes + weight > self.max_bytes {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some((_, gone)) = inner.map.remove(&old) {
                inner.bytes -= gone;
            }
        }
        inner.bytes += weight;
        inner.order.push_back(hash.to_string());
        inner.map.insert(hash.to_string(), (value, weight));
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
        let cache: BlobCache<[u8]> = BlobCache::new(10);
        cache.insert("a", block(4), 4);
        cache.insert("b", block(4), 4);
        assert_eq!(cache.get("a").map(|h| h.len()), Some(4));
        cache.insert("c", block(4), 4); // 12 > 10: a goes
        assert!(cache.get("a").is_none());
        assert!(cache.get("b").is_some() && cache.get("c").is_some());
        cache.insert("d", block(10), 10); // only d fits
        assert!(cache.get("b").is_none() && cache.get("c").is_none());
        assert_eq!(cache.get("d").map(|h| h.len()), Some(10));
        cache.insert("e", block(11), 11); // larger than the bound: not kept, nothing evicted
        assert!(cache.get("e").is_none() && cache.get("d").is_some());
        cache.insert("d", block(1), 1); // already kept: unchanged
        assert_eq!(cache.get("d").map(|h| h.len()), Some(10));
        let inner = cache.inner.lock().expect("lock");
        assert_eq!(inner.bytes, 10);
        assert_eq!(inner.order.len(), inner.map.len());
    }
}
