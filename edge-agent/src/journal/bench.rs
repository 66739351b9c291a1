//! Journal append throughput against raw rusqlite on the same schema and pragmas.
//!
//! [`append_vs_raw`] is synchronous (it is called from the CLI): it builds its own tokio
//! runtime for the journal side. Both sides run in the same process, one after the other, on
//! fresh files in `dir`, [`ROUNDS`] times alternating; each side's best round counts.
//!
//! The journal side runs [`PRODUCERS`] tasks on a one-worker runtime, so on a two-core
//! gateway the callers' JSON serialisation and the writer thread each have a core.
//!
//! Like with like: the journal group-commits what its producers queue (up to all four
//! producers' appends in one transaction), so the raw side commits the same number of
//! transactions as the journal did in that round (rows per transaction = events / the
//! journal's commits), not one per `batch`.

use super::{Durability, JournalConfig, JournalError, schema};
use chrono::Utc;
use protocol::event::{EventBody, EventKind, Source, encode_committed};
use protocol::ids::{EdgeId, EventId, Seq};
use rusqlite::params;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrent producer tasks on the journal side (like sources, terminal and processor feeding
/// the journal). Each awaits its own appends one after the other; the writer group-commits
/// what they queue.
pub const PRODUCERS: usize = 4;

/// Each side runs this many times, alternating, on fresh files; the best round counts.
pub const ROUNDS: usize = 3;

/// Throughput of both sides, in events per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AppendBench {
    pub n_events: usize,
    pub batch: usize,
    /// `PRODUCERS` tasks appending `batch` events per call, from the first append to the last
    /// commit (including serialising the bodies to JSON).
    pub journal_events_per_s: f64,
    /// One thread inserting the same pre-encoded rows, `raw_rows_per_commit` rows per
    /// transaction, cached prepared statement.
    pub raw_events_per_s: f64,
    /// Transactions the journal committed in its best round.
    pub journal_commits: u64,
    /// Rows per transaction on the raw side in that round: the journal's events per commit.
    pub raw_rows_per_commit: usize,
}

impl AppendBench {
    /// `journal_events_per_s / raw_events_per_s`; the target is at least 0.8.
    pub fn ratio(&self) -> f64 {
        self.journal_events_per_s / self.raw_events_per_s
    }
}

/// A realistic event: production reported for a work order by a PLC at a station.
pub fn sample_body(n: usize) -> EventBody {
    EventBody {
        id: EventId(uuid::Uuid::now_v7()),
        at: Utc::now(),
        source: Source {
            device: Some("press-1".into()),
            station: Some("st-10".into()),
        },
        kind: EventKind::ProductionReported {
            work_order: Some("WO-2026-001001".into()),
            operation: Some(10),
            good: (n % 7) as u64 + 1,
            scrap: u64::from(n.is_multiple_of(13)),
        },
    }
}

/// Measures the journal against raw rusqlite. Uses `dir/journal.db` and `dir/raw.db`
/// (deleted first if present).
pub fn append_vs_raw(
    dir: &Path,
    n_events: usize,
    batch: usize,
    durability: Durability,
) -> Result<AppendBench, JournalError> {
    let batch = batch.max(1);
    let edge_id = EdgeId::from("bench-edge");
    let bodies: Vec<EventBody> = (0..n_events).map(sample_body).collect();

    // Raw rows, encoded before the clock starts.
    let rows: Vec<String> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let body_json = serde_json::to_string(body).expect("event bodies always serialise");
            encode_committed(&edge_id, Seq(i as u64 + 1), &body_json)
        })
        .collect();

    // Alternate the two sides and keep each one's best round: a gateway (or CI machine) busy
    // with something else for a moment should not decide the comparison.
    let mut journal_elapsed = Duration::MAX;
    let mut raw_elapsed = Duration::MAX;
    let mut journal_commits = 0;
    let mut raw_rows_per_commit = batch;
    for _ in 0..ROUNDS {
        let (elapsed, commits) = run_journal(dir, &edge_id, bodies.clone(), batch, durability)?;
        // The raw side commits as many transactions as the journal just did.
        let rows_per_commit = n_events.div_ceil(usize::try_from(commits.max(1)).unwrap_or(1));
        if elapsed < journal_elapsed {
            journal_elapsed = elapsed;
            journal_commits = commits;
            raw_rows_per_commit = rows_per_commit;
        }
        raw_elapsed = raw_elapsed.min(run_raw(dir, &rows, rows_per_commit.max(1), durability)?);
    }
    Ok(AppendBench {
        n_events,
        batch,
        journal_events_per_s: n_events as f64 / journal_elapsed.as_secs_f64(),
        raw_events_per_s: n_events as f64 / raw_elapsed.as_secs_f64(),
        journal_commits,
        raw_rows_per_commit,
    })
}

fn fresh(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

fn run_journal(
    dir: &Path,
    edge_id: &EdgeId,
    bodies: Vec<EventBody>,
    batch: usize,
    durability: Durability,
) -> Result<(Duration, u64), JournalError> {
    let path = dir.join("journal.db");
    fresh(&path);
    let mut cfg = JournalConfig::new(&path, edge_id.clone());
    cfg.durability = durability;
    cfg.quota_bytes = 64 << 30;
    let journal = super::open(cfg)?;

    // Chunks dealt round-robin to the producers, before the clock starts.
    let mut per_producer: Vec<Vec<Vec<EventBody>>> = vec![Vec::new(); PRODUCERS];
    let mut bodies = bodies.into_iter();
    let mut i = 0;
    loop {
        let chunk: Vec<EventBody> = bodies.by_ref().take(batch).collect();
        if chunk.is_empty() {
            break;
        }
        per_producer[i % PRODUCERS].push(chunk);
        i += 1;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let elapsed = runtime.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = per_producer
            .into_iter()
            .map(|chunks| {
                let journal = journal.clone();
                tokio::spawn(async move {
                    for chunk in chunks {
                        journal.append(chunk).await?;
                    }
                    Ok::<_, JournalError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await.map_err(|e| {
                JournalError::Io(Arc::new(std::io::Error::other(format!(
                    "bench producer panicked: {e}"
                ))))
            })??;
        }
        let elapsed = start.elapsed();
        let commits = journal.stats().await?.commits_total;
        journal.shutdown().await?;
        Ok::<_, JournalError>((elapsed, commits))
    })?;
    Ok(elapsed)
}

fn run_raw(
    dir: &Path,
    rows: &[String],
    batch: usize,
    durability: Durability,
) -> Result<Duration, JournalError> {
    let path = dir.join("raw.db");
    fresh(&path);
    let (mut conn, _page_size) =
        schema::open_connection(&path, durability, 64 << 30, super::DEFAULT_CACHE_BYTES)?;
    schema::migrate(&mut conn, &EdgeId::from("bench-edge"))?;
    let start = Instant::now();
    let mut seq: i64 = 0;
    for chunk in rows.chunks(batch) {
        let now_ms = Utc::now().timestamp_millis();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (seq, committed_at_ms, json) VALUES (?1, ?2, ?3)",
            )?;
            for json in chunk {
                seq += 1;
                insert.execute(params![seq, now_ms, json])?;
            }
        }
        tx.commit()?;
    }
    let elapsed = start.elapsed();
    drop(conn);
    Ok(elapsed)
}
