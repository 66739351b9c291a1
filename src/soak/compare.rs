//! The end of every soak scenario: an edge's journal against what central holds, event by
//! event. Pure (no I/O), so the counting is unit-tested on made-up histories.

use protocol::Event;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// At most this many problems are described in words; the counts are always whole.
const MAX_PROBLEMS: usize = 20;

/// What a comparison found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Events the journals committed (or, for MQTT, messages the broker acknowledged).
    pub events: u64,
    /// Committed (acknowledged) but not in central.
    pub lost: u64,
    /// In central more than once (the same seq, the same event id at two seqs, the same
    /// MQTT message in two events).
    pub duplicated: u64,
    /// In central with another id or body than the edge committed, or in central and never
    /// committed by the edge.
    pub mismatched: u64,
    /// The first problems, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.events = self.events.saturating_add(other.events);
        self.lost = self.lost.saturating_add(other.lost);
        self.duplicated = self.duplicated.saturating_add(other.duplicated);
        self.mismatched = self.mismatched.saturating_add(other.mismatched);
        for p in &other.problems {
            self.problem(p.clone());
        }
    }

    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.mismatched == 0
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text);
        }
    }
}

/// Compares the journal of one edge (every event it committed, none pruned) with every event
/// central holds for that edge.
pub fn journal_against_central(edge: &str, journal: &[Event], central: &[Event]) -> Tally {
    let mut tally = Tally {
        events: journal.len() as u64,
        ..Tally::default()
    };
    // The journal itself: seqs 1..=n, each once.
    for (i, event) in journal.iter().enumerate() {
        let want = i as u64 + 1;
        if event.seq.0 != want {
            tally.mismatched += 1;
            tally.problem(format!(
                "{edge}: the journal's position {i} holds seq {}, expected {want}",
                event.seq
            ));
            break;
        }
    }
    let mut by_seq: BTreeMap<u64, Vec<&Event>> = BTreeMap::new();
    for event in central {
        by_seq.entry(event.seq.0).or_default().push(event);
    }
    let mut committed: HashMap<u64, &Event> = HashMap::with_capacity(journal.len());
    for want in journal {
        committed.insert(want.seq.0, want);
        match by_seq.get(&want.seq.0).map(Vec::as_slice) {
            None | Some([]) => {
                tally.lost += 1;
                tally.problem(format!(
                    "{edge}: seq {} ({}) is not in central",
                    want.seq, want.id
                ));
            }
            Some(held) => {
                if held.len() > 1 {
                    tally.duplicated += held.len() as u64 - 1;
                    tally.problem(format!(
                        "{edge}: central holds seq {} {} times",
                        want.seq,
                        held.len()
                    ));
                }
                let got = held[0];
                if got.id != want.id {
                    tally.mismatched += 1;
                    tally.problem(format!(
                        "{edge}: seq {}: central holds event {}, the edge committed {}",
                        want.seq, got.id, want.id
                    ));
                } else if got != want {
                    tally.mismatched += 1;
                    tally.problem(format!(
                        "{edge}: seq {} ({}): central's body differs from the journal's",
                        want.seq, want.id
                    ));
                }
            }
        }
    }
    for (seq, held) in &by_seq {
        if !committed.contains_key(seq) {
            tally.mismatched += held.len() as u64;
            tally.problem(format!(
                "{edge}: central holds seq {seq}, which the edge never committed"
            ));
        }
    }
    // One event id at two seqs is one fact stored twice.
    let mut seqs_of_id: HashMap<uuid::Uuid, u64> = HashMap::with_capacity(central.len());
    for event in central {
        *seqs_of_id.entry(event.id.0).or_default() += 1;
    }
    for (id, n) in seqs_of_id {
        if n > 1 {
            // Already counted when the copies share a seq.
            let seqs: Vec<u64> = central
                .iter()
                .filter(|e| e.id.0 == id)
                .map(|e| e.seq.0)
                .collect();
            let distinct = {
                let mut s = seqs.clone();
                s.sort_unstable();
                s.dedup();
                s.len() as u64
            };
            if distinct > 1 {
                tally.duplicated += distinct - 1;
                tally.problem(format!("event {id} is in central at seqs {seqs:?}"));
            }
        }
    }
    tally
}

/// Compares the messages a publisher got a PUBACK for with the message numbers central's
/// events carry: each acknowledged number exactly once. Numbers central holds that were not
/// acknowledged (the broker took them but its PUBACK was cut) may be there once.
pub fn acked_messages_against_central(acked: &[u64], in_central: &[u64]) -> Tally {
    let mut tally = Tally {
        events: acked.len() as u64,
        ..Tally::default()
    };
    let mut count: HashMap<u64, u64> = HashMap::with_capacity(in_central.len());
    for &n in in_central {
        *count.entry(n).or_default() += 1;
    }
    for &n in acked {
        if !count.contains_key(&n) {
            tally.lost += 1;
            tally.problem(format!(
                "mqtt message {n} was acknowledged by the broker and is not in central"
            ));
        }
    }
    let mut twice: Vec<(u64, u64)> = count.into_iter().filter(|&(_, c)| c > 1).collect();
    twice.sort_unstable();
    for (n, c) in twice {
        tally.duplicated += c - 1;
        tally.problem(format!("mqtt message {n} is in central {c} times"));
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{EdgeId, EventId, EventKind, Seq, Source};

    fn events(n: u64) -> Vec<Event> {
        (1..=n)
            .map(|seq| Event {
                edge_id: EdgeId::new("e"),
                seq: Seq(seq),
                id: EventId(uuid::Uuid::now_v7()),
                at: chrono::Utc::now(),
                source: Source::default(),
                kind: EventKind::ProductionReported {
                    work_order: None,
                    operation: None,
                    good: seq,
                    scrap: 0,
                },
            })
            .collect()
    }

    #[test]
    fn the_same_history_on_both_sides_is_clean() {
        let journal = events(5);
        let tally = journal_against_central("e", &journal, &journal.clone());
        assert_eq!(tally.events, 5);
        assert!(tally.is_clean(), "{tally:?}");
    }

    #[test]
    fn each_kind_of_difference_is_counted_once() {
        let journal = events(6);
        let mut central = journal.clone();
        central.remove(1); // seq 2 lost
        central.push(journal[3].clone()); // seq 4 twice
        central[3].id = EventId(uuid::Uuid::now_v7()); // seq 5: another id
        if let EventKind::ProductionReported { good, .. } = &mut central[4].kind {
            *good += 1; // seq 6: another body
        }
        let mut extra = journal[0].clone();
        extra.seq = Seq(7);
        extra.id = EventId(uuid::Uuid::now_v7());
        central.push(extra); // seq 7: never committed
        let tally = journal_against_central("e", &journal, &central);
        assert_eq!(
            (tally.events, tally.lost, tally.duplicated, tally.mismatched),
            (6, 1, 1, 3),
            "{tally:#?}"
        );
    }

    #[test]
    fn one_event_id_at_two_seqs_is_a_duplicate() {
        let journal = events(3);
        let mut central = journal.clone();
        central[2].id = central[1].id;
        let tally = journal_against_central("e", &journal, &central);
        assert_eq!((tally.duplicated, tally.mismatched), (1, 1), "{tally:#?}");
    }

    #[test]
    fn acked_messages_must_be_in_central_once_unacked_ones_at_most_once() {
        let tally = acked_messages_against_central(&[1, 2, 3], &[1, 3, 3, 4]);
        assert_eq!((tally.events, tally.lost, tally.duplicated), (3, 1, 1));
        assert!(acked_messages_against_central(&[1, 2], &[1, 2, 5]).is_clean());
    }
}
