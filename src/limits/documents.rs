//! Stored documents in memory: opaque values under a key, each with a time to live, bounded in
//! total bytes with the oldest evicted first. What the in-memory store keeps of the Responses
//! API's stored responses (the Redis store keeps them as keys with an expiry instead).
//!
//! Insertion order is a queue of (key, generation) beside the map: a replaced or deleted
//! document leaves a stale queue entry that eviction skips, and the queue is compacted when
//! stale entries outnumber live ones, so it never grows past twice the documents held.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// What a document costs beyond its key and value (its map and queue entries), so a flood of
/// tiny documents is bounded too.
const ENTRY_OVERHEAD: usize = 96;
/// Stale queue entries tolerated before a compaction, besides twice the live ones.
const STALE_SLACK: usize = 64;

/// One document.
#[derive(Debug)]
struct Doc {
    value: Bytes,
    expires: Instant,
    generation: u64,
}

/// Documents under keys, bounded by bytes.
#[derive(Debug, Default)]
pub struct Documents {
    map: HashMap<String, Doc>,
    order: VecDeque<(String, u64)>,
    bytes: usize,
    next_generation: u64,
}

/// What one document costs against the bound.
fn cost(key: &str, value: &[u8]) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

impl Documents {
    /// The value under `key`, unless it has expired by `now`.
    pub fn get(&mut self, key: &str, now: Instant) -> Option<Bytes> {
        let expired = self.map.get(key)?.expires <= now;
        if expired {
            self.remove(key);
            return None;
        }
        self.map.get(key).map(|doc| doc.value.clone())
    }

    /// Stores `value` under `key` for `ttl`, evicting the oldest documents until all fit in
    /// `max_bytes`. A document larger than the whole bound is not stored (`false`), and any
    /// older value under its key is gone.
    pub fn put(
        &mut self,
        key: String,
        value: Bytes,
        ttl: Duration,
        max_bytes: usize,
        now: Instant,
    ) -> bool {
        self.remove(&key);
        let cost = cost(&key, &value);
        if cost > max_bytes {
            return false;
        }
        self.drop_expired(now);
        while self.bytes + cost > max_bytes && self.pop_oldest() {}
        let generation = self.next_generation;
        self.next_generation += 1;
        self.order.push_back((key.clone(), generation));
        self.bytes += cost;
        let expires = now.checked_add(ttl).unwrap_or(now);
        self.map.insert(
            key,
            Doc {
                value,
                expires,
                generation,
            },
        );
        true
    }

    /// Deletes the document under `key`; whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(doc) = self.map.remove(key) else {
            return false;
        };
        self.bytes -= cost(key, &doc.value);
        if self.order.len() > 2 * self.map.len() + STALE_SLACK {
            let map = &self.map;
            self.order.retain(|(key, generation)| {
                map.get(key).is_some_and(|d| d.generation == *generation)
            });
        }
        true
    }

    /// Bytes held, as the bound counts them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Documents held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no document is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Drops expired documents from the front of the queue (documents expire roughly in
    /// insertion order: one TTL for all, unless a reload changed it).
    fn drop_expired(&mut self, now: Instant) {
        while let Some((key, generation)) = self.order.front() {
            let live = self
                .map
                .get(key)
                .filter(|doc| doc.generation == *generation);
            if live.is_some_and(|doc| doc.expires > now) {
                return;
            }
            let is_live = live.is_some();
            // Popped before the removal, which may compact the queue under it.
            if let Some((key, _)) = self.order.pop_front()
                && is_live
            {
                self.remove(&key);
            }
        }
    }

    /// Evicts the oldest live document; `false` when there is none.
    fn pop_oldest(&mut self) -> bool {
        while let Some((key, generation)) = self.order.pop_front() {
            if self
                .map
                .get(&key)
                .is_some_and(|doc| doc.generation == generation)
            {
                self.remove(&key);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn value(len: usize) -> Bytes {
        Bytes::from(vec![b'x'; len])
    }

    #[test]
    fn oldest_documents_make_room_for_new_ones() {
        let now = Instant::now();
        let mut docs = Documents::default();
        let bound = 3 * cost("k0", &value(100));
        for i in 0..5 {
            assert!(docs.put(format!("k{i}"), value(100), TTL, bound, now));
            assert!(docs.bytes() <= bound);
        }
        assert_eq!(docs.len(), 3);
        assert!(docs.get("k0", now).is_none());
        assert!(docs.get("k1", now).is_none());
        assert_eq!(docs.get("k4", now), Some(value(100)));
    }

    #[test]
    fn expired_documents_are_not_returned_and_free_their_bytes() {
        let now = Instant::now();
        let mut docs = Documents::default();
        assert!(docs.put("a".into(), value(10), TTL, 10_000, now));
        assert!(docs.get("a", now + TTL).is_none());
        assert_eq!((docs.len(), docs.bytes()), (0, 0));
    }

    #[test]
    fn a_document_larger_than_the_bound_is_refused_and_replaces_nothing_stale() {
        let now = Instant::now();
        let mut docs = Documents::default();
        assert!(docs.put("a".into(), value(10), TTL, 500, now));
        assert!(!docs.put("a".into(), value(1_000), TTL, 500, now));
        assert!(docs.get("a", now).is_none());
        assert_eq!(docs.bytes(), 0);
    }

    #[test]
    fn replacing_and_deleting_keeps_the_queue_bounded() {
        let now = Instant::now();
        let mut docs = Documents::default();
        for i in 0..10_000 {
            assert!(docs.put("same".into(), value(i % 7), TTL, 10_000, now));
            if i % 2 == 0 {
                assert!(docs.remove("same"));
                assert!(!docs.remove("same"));
            }
        }
        assert!(docs.order.len() <= 2 * docs.len() + STALE_SLACK + 1);
        assert_eq!(
            docs.bytes(),
            docs.map
                .iter()
                .map(|(k, d)| cost(k, &d.value))
                .sum::<usize>()
        );
    }

    #[test]
    fn expired_documents_at_the_front_go_before_live_ones_are_evicted() {
        let now = Instant::now();
        let mut docs = Documents::default();
        // Room for two documents: the third fits only by dropping the expired one.
        let bound = 2 * cost("live", &value(50));
        assert!(docs.put("olds".into(), value(50), Duration::from_secs(1), bound, now));
        assert!(docs.put("live".into(), value(50), TTL, bound, now));
        let later = now + Duration::from_secs(2);
        assert!(docs.put("news".into(), value(50), TTL, bound, later));
        assert!(docs.get("live", later).is_some());
        assert!(docs.get("news", later).is_some());
        assert!(docs.get("olds", later).is_none());
    }
}
