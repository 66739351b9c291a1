//! The uplink's decisions, without I/O: what to send next, what an answer from central means,
//! and when to retry. The task in `uplink.rs` only carries them out.

use protocol::Seq;

/// What central said to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Everything through this seq is durably stored at central.
    Acked(Seq),
    /// The batch would leave a gap; central expects this seq next.
    Gap { expected: Seq },
}

/// What the uplink must do after a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Record central's acknowledgement in the journal, then send what follows it.
    PersistAck(Seq),
    /// Central is behind what it acknowledged before (restored from a backup, say): send
    /// again from `from` (exclusive). The journal still holds those events.
    Resend { from: Seq },
    /// Central expects events this edge no longer holds, or acknowledges events this edge never
    /// committed. Nothing can repair this automatically; it is reported and retried slowly.
    Inconsistent(String),
}

/// The uplink's view of the delivery contract.
#[derive(Debug, Clone)]
pub struct UplinkState {
    /// Highest seq central has acknowledged (as persisted in the journal).
    acked: Seq,
    /// The next batch starts after this seq.
    cursor: Seq,
    /// Highest seq committed in the journal.
    last_committed: Seq,
    /// Oldest seq still held by the journal (events before it were pruned after an ack).
    oldest_held: Seq,
}

impl UplinkState {
    /// `oldest_held` is the first seq still in the journal (`acked + 1` when nothing acked is kept).
    pub fn new(acked: Seq, last_committed: Seq, oldest_held: Seq) -> UplinkState {
        UplinkState {
            acked,
            cursor: acked,
            last_committed,
            oldest_held,
        }
    }

    pub fn acked(&self) -> Seq {
        self.acked
    }

    pub fn cursor(&self) -> Seq {
        self.cursor
    }

    pub fn on_committed(&mut self, last: Seq) {
        self.last_committed = self.last_committed.max(last);
    }

    pub fn on_pruned(&mut self, oldest_held: Seq) {
        self.oldest_held = self.oldest_held.max(oldest_held);
    }

    /// Whether there is something to send, and after which seq.
    pub fn next_batch_after(&self) -> Option<Seq> {
        self.next_batch_after_seq(self.cursor)
    }

    /// Whether there is something to send after `sent`, the last seq of the batches in flight
    /// (the cursor when none is), and after which seq: never behind what central acknowledged.
    pub fn next_batch_after_seq(&self, sent: Seq) -> Option<Seq> {
        (sent.max(self.cursor) < self.last_committed).then_some(sent.max(self.cursor))
    }

    /// Central answered a batch (or an empty probe).
    pub fn on_reply(&mut self, reply: Reply) -> Effect {
        match reply {
            Reply::Acked(through) if through > self.last_committed => {
                Effect::Inconsistent(format!(
                    "central acknowledges events through seq {through}, but this edge has committed only through {}: \
                 is another agent running with this edge id, or was this journal replaced?",
                    self.last_committed
                ))
            }
            Reply::Acked(through) => {
                self.cursor = self.cursor.max(through);
                if through > self.acked {
                    self.acked = through;
                    Effect::PersistAck(through)
                } else {
                    // Central is behind our ack (it lost data) but accepted the batch anyway:
                    // it can only do that if the batch began at what it expects, so simply
                    // carry on from where it is.
                    Effect::PersistAck(self.acked)
                }
            }
            Reply::Gap { expected } => {
                if expected == Seq::ZERO {
                    return Effect::Inconsistent(
                        "central expects seq 0, which no event has".into(),
                    );
                }
                let from = Seq(expected.0 - 1);
                if expected > self.last_committed.next() {
                    Effect::Inconsistent(format!(
                        "central expects seq {expected}, but this edge has committed only through {}: \
                         is another agent running with this edge id, or was this journal replaced?",
                        self.last_committed
                    ))
                } else if expected < self.oldest_held {
                    Effect::Inconsistent(format!(
                        "central expects seq {expected}, but this edge holds events only from seq {}: \
                         the ones before were acknowledged by central earlier and pruned; central lost them",
                        self.oldest_held
                    ))
                } else {
                    self.cursor = from;
                    Effect::Resend { from }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(acked: u64, last: u64, oldest: u64) -> UplinkState {
        UplinkState::new(Seq(acked), Seq(last), Seq(oldest))
    }

    #[test]
    fn nothing_to_send_until_something_is_committed() {
        let mut s = state(0, 0, 1);
        assert_eq!(s.next_batch_after(), None);
        s.on_committed(Seq(3));
        assert_eq!(s.next_batch_after(), Some(Seq(0)));
    }

    #[test]
    fn with_batches_in_flight_the_next_follows_the_newest_and_never_an_acked_seq() {
        let mut s = state(0, 30, 1);
        // Batches 1..=10 and 11..=20 in flight: the next one follows 20.
        assert_eq!(s.next_batch_after_seq(Seq(20)), Some(Seq(20)));
        // Central has acknowledged more than the newest in flight: follow its ack.
        assert_eq!(
            s.on_reply(Reply::Acked(Seq(25))),
            Effect::PersistAck(Seq(25))
        );
        assert_eq!(s.next_batch_after_seq(Seq(20)), Some(Seq(25)));
        // Everything committed is in flight: nothing more to send.
        assert_eq!(s.next_batch_after_seq(Seq(30)), None);
    }

    #[test]
    fn ack_advances_and_is_persisted() {
        let mut s = state(0, 10, 1);
        assert_eq!(s.on_reply(Reply::Acked(Seq(5))), Effect::PersistAck(Seq(5)));
        assert_eq!(s.acked(), Seq(5));
        assert_eq!(s.next_batch_after(), Some(Seq(5)));
        assert_eq!(
            s.on_reply(Reply::Acked(Seq(10))),
            Effect::PersistAck(Seq(10))
        );
        assert_eq!(s.next_batch_after(), None);
    }

    #[test]
    fn restart_resumes_from_the_persisted_ack() {
        // After a restart the journal says acked 7 of 12: the next batch starts at 8.
        let s = state(7, 12, 1);
        assert_eq!(s.next_batch_after(), Some(Seq(7)));
    }

    #[test]
    fn ack_we_already_had_is_harmless() {
        // A reply to a retry of a batch central had already applied.
        let mut s = state(5, 10, 1);
        assert_eq!(s.on_reply(Reply::Acked(Seq(5))), Effect::PersistAck(Seq(5)));
        assert_eq!(s.acked(), Seq(5));
        assert_eq!(s.next_batch_after(), Some(Seq(5)));
    }

    #[test]
    fn gap_rewinds_when_we_still_hold_the_events() {
        // Central was restored from a backup and only has through 3.
        let mut s = state(8, 10, 1);
        assert_eq!(
            s.on_reply(Reply::Gap { expected: Seq(4) }),
            Effect::Resend { from: Seq(3) }
        );
        assert_eq!(s.next_batch_after(), Some(Seq(3)));
        // The acknowledgement we persisted is not lowered: it only protects against pruning,
        // and the resend will raise central back past it.
        assert_eq!(s.acked(), Seq(8));
    }

    #[test]
    fn gap_into_pruned_events_is_reported_not_papered_over() {
        let mut s = state(8, 10, 6);
        assert!(matches!(
            s.on_reply(Reply::Gap { expected: Seq(4) }),
            Effect::Inconsistent(m) if m.contains("pruned")
        ));
    }

    #[test]
    fn central_ahead_of_this_journal_is_reported() {
        let mut s = state(0, 10, 1);
        assert!(matches!(
            s.on_reply(Reply::Acked(Seq(11))),
            Effect::Inconsistent(m) if m.contains("another agent")
        ));
        assert!(matches!(
            s.on_reply(Reply::Gap { expected: Seq(13) }),
            Effect::Inconsistent(_)
        ));
        assert_eq!(s.acked(), Seq(0));
    }

    #[test]
    fn gap_at_exactly_the_next_uncommitted_seq_is_a_resend_of_nothing() {
        // Central has all 10: a late gap answer for an older batch changes nothing harmful.
        let mut s = state(10, 10, 1);
        assert_eq!(
            s.on_reply(Reply::Gap { expected: Seq(11) }),
            Effect::Resend { from: Seq(10) }
        );
        assert_eq!(s.next_batch_after(), None);
    }
}
