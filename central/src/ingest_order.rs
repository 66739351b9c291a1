//! Batches of one edge that are at this instance at the same time are stored in the order of
//! their seqs.
//!
//! An edge sends its next batch before the one before it is answered
//! (`central.batches_in_flight`), so that central reads one batch while it stores another.
//! The two travel on two connections and may be read in either order; stored in the wrong
//! order, the later one would leave a gap and be refused (`seq_gap`), and the edge would send
//! it again. Here a batch waits, after it is read and before it is stored, until no batch of
//! the same edge with lower seqs is still on its way through this instance. A batch that
//! follows one on another instance is not held: central's `(edge, seq)` rule still refuses
//! the gap, and the edge sends it again.

use protocol::EdgeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The longest a batch waits for the ones before it: past that it is stored anyway (and is
/// refused as a gap if they are still not stored). Longer than any store write takes.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// The batches of each edge at this instance, by their first seq.
#[derive(Default, Clone)]
pub struct IngestOrder {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Per edge, the first seqs of its batches between arriving and being answered.
    at_work: Mutex<HashMap<EdgeId, Vec<u64>>>,
    /// Bumped whenever a batch leaves, so the ones waiting look again.
    left: watch::Sender<u64>,
}

/// A batch's place in its edge's order, from when it is read until it is answered. Dropping
/// it (the batch stored, refused or its request gone) lets the batches after it go.
pub struct Turn {
    inner: Arc<Inner>,
    edge: EdgeId,
    first_seq: u64,
}

impl IngestOrder {
    /// Registers a batch of `edge` whose first event has `first_seq`.
    pub fn arrive(&self, edge: &EdgeId, first_seq: u64) -> Turn {
        self.inner
            .at_work
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(edge.clone())
            .or_default()
            .push(first_seq);
        Turn {
            inner: self.inner.clone(),
            edge: edge.clone(),
            first_seq,
        }
    }

    /// Batches between arriving and being answered, every edge's (for tests and metrics).
    pub fn at_work(&self) -> usize {
        self.inner
            .at_work
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }
}

impl Turn {
    /// Whether a batch of the same edge with lower seqs is still at work here.
    fn behind_another(&self) -> bool {
        self.inner
            .at_work
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.edge)
            .is_some_and(|seqs| seqs.iter().any(|s| *s < self.first_seq))
    }

    /// Waits until no batch of this edge with lower seqs is at work here, at most `max`.
    /// Returns whether it waited out `max`.
    pub async fn wait(&self, max: Duration) -> bool {
        let mut left = self.inner.left.subscribe();
        let waited = tokio::time::timeout(max, async {
            while self.behind_another() {
                if left.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        waited.is_err()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        {
            let mut at_work = self.inner.at_work.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(seqs) = at_work.get_mut(&self.edge) {
                if let Some(i) = seqs.iter().position(|s| *s == self.first_seq) {
                    seqs.swap_remove(i);
                }
                if seqs.is_empty() {
                    at_work.remove(&self.edge);
                }
            }
        }
        self.inner.left.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_later_batch_waits_for_the_earlier_one_of_its_edge_only() {
        let order = IngestOrder::default();
        let a = EdgeId::from("a");
        let b = EdgeId::from("b");
        let first = order.arrive(&a, 1);
        let second = order.arrive(&a, 101);
        let other_edge = order.arrive(&b, 500);
        // The first batch and another edge's go at once.
        assert!(!first.wait(Duration::from_secs(1)).await);
        assert!(!other_edge.wait(Duration::from_secs(1)).await);
        // The second waits until the first is answered.
        let waiting = tokio::spawn(async move { second.wait(MAX_WAIT).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        assert!(!waiting.await.unwrap(), "released, not timed out");
        drop(other_edge);
        assert_eq!(order.at_work(), 0, "every batch that left is forgotten");
    }

    #[tokio::test]
    async fn a_batch_stuck_ahead_holds_the_next_one_at_most_the_limit() {
        let order = IngestOrder::default();
        let a = EdgeId::from("a");
        let _stuck = order.arrive(&a, 1);
        let next = order.arrive(&a, 2);
        assert!(next.wait(Duration::from_millis(50)).await, "timed out");
    }

    #[tokio::test]
    async fn a_batch_that_arrives_first_with_higher_seqs_does_not_hold_an_earlier_one() {
        let order = IngestOrder::default();
        let a = EdgeId::from("a");
        let later = order.arrive(&a, 101);
        let earlier = order.arrive(&a, 1);
        assert!(!earlier.wait(Duration::from_secs(1)).await);
        let waiting = tokio::spawn(async move { later.wait(MAX_WAIT).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(earlier);
        assert!(!waiting.await.unwrap());
    }
}
