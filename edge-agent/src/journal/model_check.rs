//! Model check: random operation sequences against a simple in-memory model of the journal.
//!
//! Checked after every step: nothing committed is lost until acknowledged and pruned, nothing
//! is duplicated, order is kept, seqs are contiguous, the acknowledgement never goes back, and
//! every event read equals `Event::from_body` of the body appended.

use super::tests::{assert_event, config};
use super::*;
use proptest::prelude::*;
use protocol::event::{EventKind, MachineState, Source};
use protocol::ids::EventId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
enum Op {
    /// Append these bodies (1..=4), possibly from several concurrent callers.
    Append(Vec<EventBody>),
    /// Two appends sent concurrently (they may share one group commit).
    AppendConcurrently(Vec<EventBody>, Vec<EventBody>),
    /// Read after `last_seq * fraction`, at most `max` events.
    ReadAfter { fraction: f64, max: usize },
    /// Ack through `last_seq * fraction`, or beyond the last seq.
    Ack { fraction: f64, beyond: bool },
    /// Prune now (nothing is older than the retention) or a day later (all acked events go).
    Prune { later: bool },
    /// Snapshot the files as `kill -9` leaves them (WAL and all, no checkpoint), drop the
    /// handle without shutdown, reopen from the snapshot.
    Crash,
    /// Drop the handle without shutdown and reopen the same file at once.
    DropReopen,
    /// Clean shutdown and reopen.
    Reopen,
}

fn body_strategy() -> impl Strategy<Value = EventBody> {
    let kind = prop_oneof![
        (any::<u32>(), any::<u32>(), proptest::option::of(1u32..100)).prop_map(
            |(good, scrap, operation)| EventKind::ProductionReported {
                work_order: Some("WO-1".into()),
                operation,
                good: good.into(),
                scrap: scrap.into(),
            }
        ),
        (".{0,12}", "[a-z \"\\\\]{0,8}")
            .prop_map(|(raw, reason)| EventKind::ScanRejected { raw, reason }),
        proptest::option::of("\\PC{0,6}").prop_map(|reason| EventKind::MachineStateChanged {
            state: MachineState::Down,
            reason,
        }),
        ("\\PC{1,8}", 0i64..2_000_000_000_000).prop_map(|(reason, since_ms)| {
            EventKind::StopReasonGiven {
                reason,
                since: DateTime::from_timestamp_millis(since_ms).unwrap(),
            }
        }),
    ];
    (any::<u128>(), 0i64..2_000_000_000_000, kind).prop_map(|(id, at_ms, kind)| EventBody {
        id: EventId(uuid::Uuid::from_u128(id)),
        at: DateTime::from_timestamp_millis(at_ms).unwrap(),
        source: Source {
            device: Some("press-1".into()),
            station: None,
        },
        kind,
    })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let bodies = || proptest::collection::vec(body_strategy(), 1..=4);
    prop_oneof![
        4 => bodies().prop_map(Op::Append),
        1 => (bodies(), bodies()).prop_map(|(a, b)| Op::AppendConcurrently(a, b)),
        2 => (0.0..=1.0f64, 1usize..8).prop_map(|(fraction, max)| Op::ReadAfter { fraction, max }),
        2 => (0.0..=1.0f64, proptest::bool::weighted(0.1))
            .prop_map(|(fraction, beyond)| Op::Ack { fraction, beyond }),
        1 => any::<bool>().prop_map(|later| Op::Prune { later }),
        1 => Just(Op::Crash),
        1 => Just(Op::DropReopen),
        1 => Just(Op::Reopen),
    ]
}

/// What the journal must hold.
#[derive(Default)]
struct Model {
    /// Events not yet pruned, by seq.
    events: BTreeMap<Seq, EventBody>,
    last: Seq,
    acked: Seq,
}

impl Model {
    fn append(&mut self, bodies: &[EventBody], got: SeqRange) {
        assert_eq!(got.first, self.last.next(), "seqs contiguous");
        assert_eq!(got.len(), bodies.len() as u64);
        for (i, body) in bodies.iter().enumerate() {
            self.events
                .insert(Seq(got.first.0 + i as u64), body.clone());
        }
        self.last = got.last;
    }
}

fn snapshot(from: &Path, to: &Path) {
    for suffix in ["", "-wal"] {
        let mut src = from.as_os_str().to_owned();
        src.push(suffix);
        let mut dst = to.as_os_str().to_owned();
        dst.push(suffix);
        if Path::new(&src).exists() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

async fn check(journal: &JournalHandle, model: &Model) {
    let stats = journal.stats().await.unwrap();
    assert_eq!(stats.last_seq, model.last);
    assert_eq!(stats.acked_seq, model.acked);
    assert_eq!(stats.backlog, model.last.0 - model.acked.0);
    assert_eq!(*journal.committed().borrow(), model.last);
    let all = journal.read_after(Seq::ZERO, usize::MAX).await.unwrap();
    assert_eq!(
        all.len(),
        model.events.len(),
        "nothing lost, nothing duplicated"
    );
    for (event, (seq, body)) in all.iter().zip(&model.events) {
        assert_event(event, *seq, body);
    }
}

async fn run(ops: Vec<Op>, durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let mut generation = 0;
    let path_of = |generation: u32| -> PathBuf { dir.path().join(format!("gen-{generation}")) };
    let cfg_at = |generation: u32| {
        let mut cfg = config(&path_of(generation));
        cfg.durability = durability;
        cfg.retention = std::time::Duration::from_secs(3600);
        cfg
    };
    let mut journal = open(cfg_at(generation)).unwrap();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Append(bodies) => {
                let got = journal.append(bodies.clone()).await.unwrap();
                model.append(&bodies, got);
            }
            Op::AppendConcurrently(a, b) => {
                let (got_a, got_b) =
                    tokio::join!(journal.append(a.clone()), journal.append(b.clone()));
                let (got_a, got_b) = (got_a.unwrap(), got_b.unwrap());
                if got_a.first < got_b.first {
                    model.append(&a, got_a);
                    model.append(&b, got_b);
                } else {
                    model.append(&b, got_b);
                    model.append(&a, got_a);
                }
            }
            Op::ReadAfter { fraction, max } => {
                let after = Seq((model.last.0 as f64 * fraction) as u64);
                let read = journal.read_after(after, max).await.unwrap();
                let expected: Vec<_> = model.events.range(after.next()..).take(max).collect();
                assert_eq!(read.len(), expected.len());
                for (event, (seq, body)) in read.iter().zip(expected) {
                    assert_event(event, *seq, body);
                }
            }
            Op::Ack { fraction, beyond } => {
                if beyond {
                    let through = Seq(model.last.0 + 1);
                    let err = journal.ack(through).await.unwrap_err();
                    assert!(matches!(err, JournalError::AckBeyondLast { .. }), "{err}");
                } else {
                    let through = Seq((model.last.0 as f64 * fraction) as u64);
                    journal.ack(through).await.unwrap();
                    model.acked = model.acked.max(through);
                }
            }
            Op::Prune { later } => {
                let now = if later {
                    Utc::now() + chrono::Duration::days(1)
                } else {
                    Utc::now()
                };
                let pruned = journal.prune(now).await.unwrap();
                let expected = if later {
                    let keep = model.events.split_off(&model.acked.next());
                    std::mem::replace(&mut model.events, keep).len() as u64
                } else {
                    0
                };
                assert_eq!(pruned, expected, "only acked events past retention");
            }
            Op::Crash => {
                snapshot(&path_of(generation).join("journal.db"), &{
                    std::fs::create_dir_all(path_of(generation + 1)).unwrap();
                    path_of(generation + 1).join("journal.db")
                });
                drop(journal);
                generation += 1;
                journal = open(cfg_at(generation)).unwrap();
            }
            Op::DropReopen => {
                drop(journal);
                journal = open(cfg_at(generation)).unwrap();
            }
            Op::Reopen => {
                journal.shutdown().await.unwrap();
                journal = open(cfg_at(generation)).unwrap();
            }
        }
        check(&journal, &model).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn journal_matches_model(
        ops in proptest::collection::vec(op_strategy(), 1..24),
        full in proptest::bool::weighted(0.2),
    ) {
        let durability = if full { Durability::Full } else { Durability::Normal };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(ops, durability));
    }
}
