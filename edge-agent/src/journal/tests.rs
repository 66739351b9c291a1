use super::*;
use chrono::TimeZone;
use protocol::event::{Event, EventKind, Source};
use protocol::ids::EventId;
use protocol::plan::PlanVersion;
use std::collections::BTreeMap;

pub(super) fn edge() -> EdgeId {
    EdgeId::from("line-1")
}

pub(super) fn config(dir: &std::path::Path) -> JournalConfig {
    JournalConfig::new(dir.join("journal.db"), edge())
}

pub(super) fn body(n: u64) -> EventBody {
    EventBody {
        id: EventId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + n as u128,
        )),
        at: Utc.with_ymd_and_hms(2026, 11, 27, 8, 30, 0).unwrap(),
        source: Source {
            device: Some("press-1".into()),
            station: Some("st-10".into()),
        },
        kind: EventKind::ProductionReported {
            work_order: Some("WO-1001".into()),
            operation: Some(10),
            good: n,
            scrap: 0,
        },
    }
}

fn bodies(range: std::ops::Range<u64>) -> Vec<EventBody> {
    range.map(body).collect()
}

/// Parses a committed event and checks it is `body` committed at `seq` on this edge.
#[track_caller]
pub(super) fn assert_event(committed: &CommittedEvent, seq: Seq, body: &EventBody) {
    assert_eq!(committed.seq, seq);
    let event: Event = serde_json::from_str(&committed.json).unwrap();
    assert_eq!(event, Event::from_body(edge(), seq, body.clone()));
}

fn range(first: u64, last: u64) -> SeqRange {
    SeqRange {
        first: Seq(first),
        last: Seq(last),
    }
}

#[tokio::test]
async fn append_read_ack_prune() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    let all = bodies(0..5);
    assert_eq!(
        journal.append(all[..3].to_vec()).await.unwrap(),
        range(1, 3)
    );
    assert_eq!(
        journal.append(all[3..].to_vec()).await.unwrap(),
        range(4, 5)
    );
    assert_eq!(*journal.committed().borrow(), Seq(5));

    let read = journal.read_after(Seq::ZERO, 100).await.unwrap();
    assert_eq!(read.len(), 5);
    for (i, (event, body)) in read.iter().zip(&all).enumerate() {
        assert_event(event, Seq(i as u64 + 1), body);
    }
    let read = journal.read_after(Seq(2), 2).await.unwrap();
    assert_eq!(
        read.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [Seq(3), Seq(4)]
    );
    assert!(journal.read_after(Seq(5), 10).await.unwrap().is_empty());

    journal.ack(Seq(3)).await.unwrap();
    journal.ack(Seq(2)).await.unwrap(); // lower: ignored
    let stats = journal.stats().await.unwrap();
    assert_eq!(stats.acked_seq, Seq(3));
    assert_eq!(stats.last_seq, Seq(5));
    assert_eq!(stats.backlog, 2);
    assert!(stats.oldest_unacked_at.is_some());
    assert_eq!(stats.appended_total, 5);

    // Within retention nothing goes; past it only the acknowledged events go.
    assert_eq!(journal.prune(Utc::now()).await.unwrap(), 0);
    let later = Utc::now() + chrono::Duration::days(30);
    assert_eq!(journal.prune(later).await.unwrap(), 3);
    let read = journal.read_after(Seq::ZERO, 100).await.unwrap();
    assert_eq!(
        read.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [Seq(4), Seq(5)]
    );
    assert_eq!(journal.stats().await.unwrap().pruned_total, 3);
    journal.shutdown().await.unwrap();
}

/// A stop's reason goes through the journal as it came, its `since` to the second and
/// beyond, across a reopen, and reads back as the kind it is.
#[tokio::test]
async fn a_stop_reason_round_trips_through_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    let mut given = body(1);
    given.source.device = None;
    given.kind = EventKind::StopReasonGiven {
        reason: "卡料 JAM".into(),
        since: Utc.with_ymd_and_hms(2026, 11, 27, 8, 13, 0).unwrap()
            + chrono::TimeDelta::microseconds(250_001),
    };
    let bodies = vec![body(0), given.clone()];
    assert_eq!(journal.append(bodies.clone()).await.unwrap(), range(1, 2));
    journal.shutdown().await.unwrap();
    let journal = open(config(dir.path())).unwrap();
    let read = journal.read_after(Seq::ZERO, 10).await.unwrap();
    assert_event(&read[1], Seq(2), &given);
    let event: Event = serde_json::from_str(&read[1].json).unwrap();
    assert_eq!(event.kind.name(), "stop_reason_given");
    assert!(
        read[1]
            .json
            .contains(r#""since":"2026-11-27T08:13:00.250001Z""#),
        "{}",
        read[1].json
    );
    journal.shutdown().await.unwrap();
}

#[tokio::test]
async fn seqs_continue_across_reopen_even_when_everything_was_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    journal.append(bodies(0..4)).await.unwrap();
    journal.ack(Seq(4)).await.unwrap();
    journal.shutdown().await.unwrap();

    let journal = open(config(dir.path())).unwrap();
    assert_eq!(*journal.committed().borrow(), Seq(4));
    assert_eq!(journal.append(bodies(4..5)).await.unwrap(), range(5, 5));
    journal.ack(Seq(5)).await.unwrap();
    let later = Utc::now() + chrono::Duration::days(30);
    assert_eq!(journal.prune(later).await.unwrap(), 5);
    drop(journal); // no shutdown: the thread exits when the last handle goes

    let journal = open(config(dir.path())).unwrap();
    let stats = journal.stats().await.unwrap();
    assert_eq!(
        (stats.last_seq, stats.acked_seq, stats.backlog),
        (Seq(5), Seq(5), 0)
    );
    assert_eq!(journal.append(bodies(5..7)).await.unwrap(), range(6, 7));
    journal.shutdown().await.unwrap();
}

#[tokio::test]
async fn ack_beyond_last_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    journal.append(bodies(0..2)).await.unwrap();
    let err = journal.ack(Seq(3)).await.unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::AckBeyondLast {
                through: Seq(3),
                last: Seq(2)
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "ack through seq 3 refused: the last committed seq is 2"
    );
    assert_eq!(journal.stats().await.unwrap().acked_seq, Seq::ZERO);
}

#[tokio::test]
async fn empty_append_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    assert!(matches!(
        journal.append(Vec::new()).await,
        Err(JournalError::EmptyAppend)
    ));
    assert_eq!(journal.append(bodies(0..1)).await.unwrap(), range(1, 1));
}

fn sample_plan(version: u64) -> Plan {
    use protocol::plan::{PlanOperation, PlanWorkOrder};
    Plan {
        edge_id: edge(),
        version: PlanVersion(version),
        published_at: Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).unwrap(),
        epoch: None,
        work_orders: vec![PlanWorkOrder {
            work_order: format!("WO-{version}").as_str().into(),
            item: "BRACKET".into(),
            qty: rust_decimal::Decimal::new(500, 0),
            uom: "pcs".into(),
            due: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            priority: 1,
            operations: vec![PlanOperation {
                operation: 10,
                description: "stamp".into(),
                station: Some("st-10".into()),
                allowed_components: vec!["STEEL-2MM".into()],
                components: vec![],
                skill: None,
            }],
            plc_parameters: BTreeMap::from([("target_qty".to_owned(), serde_json::json!(500))]),
            on_hold: false,
            made_for: Vec::new(),
        }],
        lots: vec![],
        gtins: BTreeMap::new(),
        operators: Vec::new(),
        rules: None,
        shipments: Vec::new(),
        requisitions: Vec::new(),
    }
}

#[tokio::test]
async fn plan_save_load_replace_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    assert_eq!(journal.load_plan().await.unwrap(), None);
    journal.save_plan(&sample_plan(3)).await.unwrap();
    assert_eq!(journal.load_plan().await.unwrap(), Some(sample_plan(3)));
    journal.save_plan(&sample_plan(4)).await.unwrap();
    assert_eq!(journal.load_plan().await.unwrap(), Some(sample_plan(4)));
    journal.shutdown().await.unwrap();

    let journal = open(config(dir.path())).unwrap();
    assert_eq!(journal.load_plan().await.unwrap(), Some(sample_plan(4)));
}

#[tokio::test]
async fn state_put_get_and_atomic_with_append() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    assert_eq!(journal.get_state("press-1/good").await.unwrap(), None);
    journal.put_state("press-1/good", "41").await.unwrap();
    let seqs = journal
        .append_with_state(&bodies(0..1), vec![("press-1/good".into(), "42".into())])
        .await
        .unwrap();
    assert_eq!(seqs, range(1, 1));
    journal.shutdown().await.unwrap();

    let journal = open(config(dir.path())).unwrap();
    assert_eq!(
        journal.get_state("press-1/good").await.unwrap().as_deref(),
        Some("42")
    );
}

#[tokio::test]
async fn an_empty_state_value_deletes_the_key_with_the_events_it_came_with() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    journal
        .put_state("scan/issued/10/WO-1", "{}")
        .await
        .unwrap();
    journal
        .put_state("scan/issued/10/WO-2", "{}")
        .await
        .unwrap();
    journal
        .append_with_state(
            &bodies(0..1),
            vec![("scan/issued/10/WO-1".into(), String::new())],
        )
        .await
        .unwrap();
    journal.shutdown().await.unwrap();
    let journal = open(config(dir.path())).unwrap();
    let left = journal.state_with_prefix("scan/issued/").await.unwrap();
    assert_eq!(
        left,
        vec![("scan/issued/10/WO-2".to_owned(), "{}".to_owned())]
    );
}

#[tokio::test]
async fn reopen_under_another_edge_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    open(config(dir.path())).unwrap().shutdown().await.unwrap();
    let mut cfg = config(dir.path());
    cfg.edge_id = "line-2".into();
    let err = open(cfg).err().expect("edge mismatch");
    assert!(matches!(err, JournalError::EdgeMismatch { .. }), "{err}");
}

#[test]
fn durability_json_is_lowercase() {
    assert_eq!(
        serde_json::to_string(&Durability::Full).unwrap(),
        "\"full\""
    );
    assert_eq!(
        serde_json::from_str::<Durability>("\"normal\"").unwrap(),
        Durability::Normal
    );
}

fn tiny_quota(dir: &std::path::Path) -> JournalConfig {
    let mut cfg = config(dir);
    cfg.quota_bytes = 32 * 4096;
    cfg.alarm_ratio = 0.5;
    cfg.min_free_disk_bytes = 0;
    cfg
}

/// Appends batches of 10 until refused; returns how many events were committed and whether
/// the alarm was raised before the refusal.
async fn fill(journal: &JournalHandle, next_body: &mut u64) -> (u64, bool) {
    let mut committed = 0;
    let mut alarm_seen = false;
    loop {
        let stats = journal.stats().await.unwrap();
        alarm_seen |= stats.quota_alarm;
        let batch = bodies(*next_body..*next_body + 10);
        match journal.append(batch).await {
            Ok(seqs) => {
                assert_eq!(seqs.len(), 10);
                committed += 10;
                *next_body += 10;
            }
            Err(JournalError::Full { used, quota }) => {
                assert_eq!(quota, 32 * 4096);
                assert!(used > quota / 2, "used {used}");
                return (committed, alarm_seen);
            }
            Err(e) => panic!("unexpected error {e}"),
        }
        assert!(committed < 100_000, "quota never reached");
    }
}

#[tokio::test]
async fn quota_refuses_when_full_keeps_everything_and_recovers_after_ack() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(tiny_quota(dir.path())).unwrap();
    let mut next_body = 0;
    let (committed, alarm_seen) = fill(&journal, &mut next_body).await;
    assert!(committed > 0);
    assert!(
        alarm_seen,
        "alarm must be raised before the journal is full"
    );

    // The failed append left no gap and no partial batch; all unacked events are readable.
    let stats = journal.stats().await.unwrap();
    assert_eq!(stats.last_seq, Seq(committed));
    assert!(stats.quota_alarm);
    let read = journal.read_after(Seq::ZERO, usize::MAX).await.unwrap();
    assert_eq!(read.len() as u64, committed);
    for (i, event) in read.iter().enumerate() {
        assert_event(event, Seq(i as u64 + 1), &body(i as u64));
    }
    let err = journal.append(bodies(0..10)).await.unwrap_err();
    assert!(err.to_string().starts_with("journal full: "), "{err}");
    assert!(err.to_string().contains("nothing dropped"), "{err}");

    // Ack half: the next full append prunes the acknowledged events (regardless of retention)
    // and succeeds, continuing the seqs.
    journal.ack(Seq(committed / 2)).await.unwrap();
    let seqs = journal
        .append(bodies(next_body..next_body + 10))
        .await
        .unwrap();
    assert_eq!(seqs, range(committed + 1, committed + 10));
    let stats = journal.stats().await.unwrap();
    assert!(stats.pruned_total >= committed / 2 - 10);
    let read = journal.read_after(Seq::ZERO, usize::MAX).await.unwrap();
    assert_eq!(read.first().unwrap().seq, Seq(committed / 2 + 1));
    assert_eq!(read.last().unwrap().seq, Seq(committed + 10));

    // Ack everything and prune by retention: the space is reused.
    next_body += 10;
    journal.ack(stats.last_seq).await.unwrap();
    let later = Utc::now() + chrono::Duration::days(30);
    journal.prune(later).await.unwrap();
    assert!(!journal.stats().await.unwrap().quota_alarm);
    let (committed_again, _) = fill(&journal, &mut next_body).await;
    assert!(
        committed_again >= committed / 2,
        "{committed_again} vs {committed}"
    );
}

#[tokio::test]
async fn a_refused_batch_in_a_group_leaves_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(tiny_quota(dir.path())).unwrap();
    let mut next_body = 0;
    let (committed, _) = fill(&journal, &mut next_body).await;
    // Several concurrent appends of the batch just refused: all refused, none half-committed.
    let refused = bodies(next_body..next_body + 10);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let journal = journal.clone();
            let refused = refused.clone();
            tokio::spawn(async move { journal.append(refused.clone()).await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(
            task.await.unwrap(),
            Err(JournalError::Full { .. })
        ));
    }
    assert_eq!(journal.stats().await.unwrap().last_seq, Seq(committed));
    journal.ack(Seq(committed)).await.unwrap();
    let seqs = journal.append(bodies(0..1)).await.unwrap();
    assert_eq!(seqs, range(committed + 1, committed + 1));
}

#[tokio::test]
async fn too_small_quota_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.quota_bytes = 4096;
    let err = open(cfg).err().expect("refused");
    assert!(matches!(err, JournalError::InvalidConfig(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_gives_concurrent_appends_contiguous_seqs_in_commit_order() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    let mut committed = journal.committed();
    let watcher = tokio::spawn(async move {
        let mut seen = vec![*committed.borrow_and_update()];
        while committed.changed().await.is_ok() {
            seen.push(*committed.borrow_and_update());
        }
        seen
    });
    const TASKS: u64 = 8;
    const APPENDS: u64 = 50;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let journal = journal.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for append in 0..APPENDS {
                    let n = 1 + (task + append) % 4;
                    let first_body = (task * 1000 + append) * 10;
                    let batch = bodies(first_body..first_body + n);
                    let seqs = journal.append(batch.clone()).await.unwrap();
                    assert_eq!(seqs.len(), n);
                    got.push((seqs, batch));
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let got = task.await.unwrap();
        // One task's appends get increasing seqs: commit order follows call order.
        for pair in got.windows(2) {
            assert!(pair[0].0.last < pair[1].0.first);
        }
        all.extend(got);
    }
    all.sort_by_key(|(seqs, _)| seqs.first);
    let mut expected_next = Seq(1);
    for (seqs, _) in &all {
        assert_eq!(seqs.first, expected_next, "no gap, no overlap");
        expected_next = seqs.last.next();
    }
    let last = Seq(expected_next.0 - 1);

    let read = journal.read_after(Seq::ZERO, usize::MAX).await.unwrap();
    assert_eq!(read.len() as u64, last.0);
    for (seqs, batch) in &all {
        for (offset, body) in batch.iter().enumerate() {
            let seq = Seq(seqs.first.0 + offset as u64);
            assert_event(&read[seq.0 as usize - 1], seq, body);
        }
    }
    journal.shutdown().await.unwrap();
    let seen = watcher.await.unwrap();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(*seen.last().unwrap(), last);
    // That appends are grouped is shown by the next test (a watch merges notifications
    // whether or not they were).
}

/// Appends that queue while a commit is under way go into one transaction together. Another
/// connection holds SQLite's write lock, so the writer's first transaction waits on it (the
/// busy timeout is 5 s) while the other appends queue; once the lock is let go, the first
/// append commits alone and the queued ones commit in one more transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_queued_behind_a_commit_share_one_transaction() {
    const QUEUED: usize = 19;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let path = cfg.path.clone();
    let journal = open(cfg).unwrap();
    let queued = |journal: &JournalHandle| COMMAND_CAPACITY - journal.commands.capacity();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let append = |n: u64| {
        let journal = journal.clone();
        tokio::spawn(async move { journal.append(vec![body(n)]).await.unwrap() })
    };
    // The first append is sent by hand, so that the test knows it is in the queue before it
    // waits for the writer to take it off.
    let (reply, first) = tokio::sync::oneshot::channel();
    journal
        .commands
        .send(Command::Append {
            bodies: vec![encode_body(&body(0)).unwrap()],
            state: Vec::new(),
            reply,
        })
        .await
        .unwrap();
    // The writer has taken the first append off its queue and waits for the lock.
    while queued(&journal) > 0 {
        tokio::task::yield_now().await;
    }
    let rest: Vec<_> = (1..=QUEUED as u64).map(append).collect();
    // They wait in the queue, behind the first append's transaction.
    while queued(&journal) < QUEUED {
        tokio::task::yield_now().await;
    }
    blocker.execute_batch("ROLLBACK").unwrap();

    assert_eq!(first.await.unwrap().unwrap(), range(1, 1));
    let mut seqs: Vec<Seq> = Vec::new();
    for task in rest {
        let got = task.await.unwrap();
        assert_eq!(got.len(), 1);
        seqs.push(got.first);
    }
    seqs.sort();
    assert_eq!(seqs, (2..=QUEUED as u64 + 1).map(Seq).collect::<Vec<_>>());
    let stats = journal.stats().await.unwrap();
    assert_eq!(stats.appended_total, QUEUED as u64 + 1);
    assert_eq!(
        stats.commits_total, 2,
        "the first append alone, then the {QUEUED} queued behind it in one transaction"
    );
    journal.shutdown().await.unwrap();
}

/// The disk-nearly-full alarm: free space on the journal's filesystem below
/// `min_free_disk_bytes` raises `quota_alarm` however little the journal itself uses, and a
/// threshold below the free space does not.
#[tokio::test]
async fn free_disk_below_the_threshold_raises_the_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let free = {
        let journal = open(config(dir.path())).unwrap();
        let stats = journal.stats().await.unwrap();
        journal.shutdown().await.unwrap();
        stats.disk_free_bytes.expect("statvfs reads the free space")
    };
    for (threshold, alarm) in [(free.saturating_mul(2).max(1 << 40), true), (0, false)] {
        let mut cfg = config(dir.path());
        cfg.min_free_disk_bytes = threshold;
        let journal = open(cfg).unwrap();
        journal.append(bodies(0..3)).await.unwrap();
        let stats = journal.stats().await.unwrap();
        assert!(
            (stats.bytes_used as f64) < cfg_alarm_ratio() * stats.quota_bytes as f64,
            "the journal itself is far from its quota"
        );
        assert_eq!(
            stats.quota_alarm, alarm,
            "{:?} bytes free, threshold {threshold}",
            stats.disk_free_bytes
        );
        journal.shutdown().await.unwrap();
    }
}

fn cfg_alarm_ratio() -> f64 {
    config(std::path::Path::new("/")).alarm_ratio
}

#[tokio::test]
async fn handles_see_closed_after_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let journal = open(config(dir.path())).unwrap();
    let other = journal.clone();
    journal.shutdown().await.unwrap();
    assert!(matches!(other.stats().await, Err(JournalError::Closed)));
}

/// `durability = full` is `PRAGMA synchronous = FULL` (2) on the connection that commits, and
/// `normal` is NORMAL (1); SQLite keeps the setting per connection, not in the file, so it is
/// read from the writer's own connection.
#[tokio::test]
async fn full_durability_commits() {
    let dir = tempfile::tempdir().unwrap();
    for (durability, expected) in [(Durability::Full, 2), (Durability::Normal, 1)] {
        let mut cfg = config(dir.path());
        cfg.durability = durability;
        let writer = writer::Writer::open(&cfg).unwrap();
        assert_eq!(writer.synchronous(), expected, "{durability:?}");
    }
    let mut cfg = config(dir.path());
    cfg.durability = Durability::Full;
    let journal = open(cfg).unwrap();
    assert_eq!(journal.append(bodies(0..3)).await.unwrap(), range(1, 3));
    journal.shutdown().await.unwrap();
}

/// `cargo test --release -p edge-agent journal::tests::bench_append_vs_raw -- --ignored --nocapture`
#[test]
#[ignore = "benchmark; run in release"]
fn bench_append_vs_raw() {
    let dir = tempfile::tempdir().unwrap();
    for durability in [Durability::Normal, Durability::Full] {
        for batch in [1, 10, 100, 1000] {
            let n_events = match (durability, batch) {
                (Durability::Full, 1) => 2_000,
                (Durability::Full, 10) => 20_000,
                (_, 1) => 20_000,
                _ => 200_000,
            };
            let result = bench::append_vs_raw(dir.path(), n_events, batch, durability).unwrap();
            println!(
                "{durability:?} batch {batch:>4} n {n_events:>6}: journal {:>9.0} ev/s, raw {:>9.0} ev/s, ratio {:.2}",
                result.journal_events_per_s,
                result.raw_events_per_s,
                result.ratio()
            );
        }
    }
}

/// Mode bits of a file or directory.
#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Issue 11: the journal (every event, the plan) was created 0644, readable by every user of
/// the gateway. Now the database, its -wal and -shm are 0600 and a directory it creates 0700,
/// whatever the umask; an older journal's loose modes are repaired when it is opened.
#[cfg(unix)]
#[tokio::test]
async fn issue_11_journal_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A directory the journal creates, under one that exists (and keeps its mode).
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("data").join("line-1").join("journal.db");
    let journal = open(JournalConfig::new(&path, edge())).unwrap();
    journal.append(bodies(0..3)).await.unwrap();
    let wal = path.with_file_name("journal.db-wal");
    let shm = path.with_file_name("journal.db-shm");
    for file in [&path, &wal, &shm] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&dir.path().join("data/line-1")), 0o700);
    assert_eq!(
        mode(dir.path()),
        0o755,
        "an existing directory is left alone"
    );
    journal.shutdown().await.unwrap();

    // A journal left 0644 by an older agent is made private when opened again.
    for file in [&path, &wal, &shm] {
        if file.exists() {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let journal = open(JournalConfig::new(&path, edge())).unwrap();
    journal.append(bodies(3..4)).await.unwrap();
    for file in [&path, &wal, &shm] {
        assert_eq!(mode(file), 0o600, "{} after reopening", file.display());
    }
    journal.shutdown().await.unwrap();
}

/// Issue 11: the page cache was 16 MiB, most of a small gateway's memory once the journal
/// grows; it is bounded by `cache_bytes` (2 MiB unless configured).
#[test]
fn issue_11_the_page_cache_is_bounded_by_the_config() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(config(dir.path()).cache_bytes, 2 << 20);
    let (conn, _) = schema::open_connection(
        &dir.path().join("journal.db"),
        Durability::Normal,
        1 << 30,
        config(dir.path()).cache_bytes,
    )
    .unwrap();
    let kib: i64 = conn
        .pragma_query_value(None, "cache_size", |row| row.get(0))
        .unwrap();
    assert_eq!(kib, -2048, "negative: KiB");
    let (conn, _) = schema::open_connection(
        &dir.path().join("other.db"),
        Durability::Normal,
        1 << 30,
        512 << 10,
    )
    .unwrap();
    let kib: i64 = conn
        .pragma_query_value(None, "cache_size", |row| row.get(0))
        .unwrap();
    assert_eq!(kib, -512);
}
