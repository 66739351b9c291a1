//! `mes bench instances` (issue 14): central on PostgreSQL with two instances against one
//! central on SQLite, in the same run:
//! - ingest from 20 edges over HTTP (each edge one batch in flight; the edges split between
//!   the two instances), events per second;
//! - a plan published at one instance to the long poll waiting at the other (LISTEN/NOTIFY),
//!   p50 and p99, against the same with poll and publish at one instance.

use super::{encode_mix_batches, percentile_us, round3, send_batches};
use anyhow::bail;
use central::store::sql::pg::{ScratchDatabase, test_server_url};
use protocol::EdgeId;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One central instance served on loopback.
struct Instance {
    url: String,
    state: central::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Instance {
    async fn start(store: Arc<dyn central::Store>) -> anyhow::Result<Instance> {
        let config = central::CentralConfig::default();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = central::AppState::new(
            store,
            central::AdminToken::new(&central::new_token(), "a new random token")?,
            &config,
        );
        let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(central::serve(listener, state.clone(), async move {
            let _ = stopping.await;
        }));
        Ok(Instance {
            url,
            state,
            stop: Some(stop),
            task,
        })
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

/// A throwaway database named after `prefix` on the PostgreSQL server the tests use
/// (`MES_TEST_POSTGRES`), dropped with the value.
pub(super) async fn scratch(prefix: &'static str) -> anyhow::Result<ScratchDatabase> {
    let server = test_server_url();
    Ok(tokio::task::spawn_blocking(move || ScratchDatabase::create(&server, prefix)).await??)
}

/// Ingest of `edges` × `per_edge` events (the stock-booking mix) in batches of `batch`,
/// edge `i` sending to `instances[i % n]`; seconds.
async fn ingest(
    instances: &[Instance],
    edges: usize,
    per_edge: usize,
    batch: usize,
) -> anyhow::Result<f64> {
    let store = instances[0].state.store().clone();
    let ids: Vec<EdgeId> = (0..edges)
        .map(|i| EdgeId::from(format!("line-{i:02}").as_str()))
        .collect();
    let mut tokens = Vec::new();
    for id in &ids {
        let token = central::new_token();
        store.create_edge(id, central::hash_token(&token)).await?;
        tokens.push(token);
    }
    let (bodies, _) = encode_mix_batches(&ids, per_edge, batch, true)?;
    let sending = bodies
        .into_iter()
        .zip(tokens)
        .zip(ids.clone())
        .enumerate()
        .map(|(i, ((batches, token), id))| {
            let url = format!("{}/api/v1/sync/events", instances[i % instances.len()].url);
            (id, url, token, batches)
        })
        .collect();
    let seconds = send_batches(sending).await?.as_secs_f64();
    let mut stored = 0;
    for id in &ids {
        stored += store.count_events(id).await?;
    }
    if stored != (edges * per_edge) as u64 {
        bail!(
            "central holds {stored} events, expected {}",
            edges * per_edge
        );
    }
    Ok(seconds)
}

/// A poll waiting at `waiter`, a plan published at `publisher`: the time from the publish
/// request to the poll's answer, `samples` times.
async fn wake_ups(
    publisher: &Instance,
    waiter: &Instance,
    samples: usize,
    edge: &str,
) -> anyhow::Result<Vec<Duration>> {
    let edge = EdgeId::from(edge);
    let token = central::new_token();
    publisher
        .state
        .store()
        .create_edge(&edge, central::hash_token(&token))
        .await?;
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(samples);
    for have in 0..samples as u64 {
        let poll = {
            let client = client.clone();
            let url = format!("{}/api/v1/sync/plan?have={have}&wait_ms=20000", waiter.url);
            let token = token.clone();
            tokio::spawn(async move { client.get(url).bearer_auth(token).send().await })
        };
        // The poll has read the store and waits: only a publish can answer it now.
        let deadline = Instant::now() + Duration::from_secs(10);
        while waiter.state.plan_polls_waiting() == 0 {
            if poll.is_finished() {
                let reply = poll.await??;
                bail!(
                    "the poll answered at once: {} {}",
                    reply.status(),
                    reply.text().await?
                );
            }
            if Instant::now() > deadline {
                bail!("the poll never waited");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let t = Instant::now();
        let published = publisher
            .state
            .store()
            .publish_plan(&edge, protocol::PlanContent::default())
            .await?;
        publisher
            .state
            .notify_plan(&published.edge_id, published.version);
        let reply = poll.await??;
        times.push(t.elapsed());
        if reply.status() != reqwest::StatusCode::OK {
            bail!("the poll answered {}", reply.status());
        }
        // Until the next poll begins, none waits.
        while waiter.state.plan_polls_waiting() > 0 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    Ok(times)
}

pub async fn instances(
    edges: usize,
    per_edge: usize,
    batch: usize,
    samples: usize,
) -> anyhow::Result<()> {
    // One central on SQLite, the baseline.
    let dir = tempfile::tempdir()?;
    let sqlite = Instance::start(central::open_sqlite_store(dir.path()).await?).await?;
    let sqlite_s = ingest(std::slice::from_ref(&sqlite), edges, per_edge, batch).await?;
    let local = wake_ups(&sqlite, &sqlite, samples, "wake-local").await?;
    sqlite.stop().await;

    // Two instances on one PostgreSQL database.
    let db = scratch("bench").await?;
    let a = Instance::start(central::open_postgres_store(&db.url).await?).await?;
    let b = Instance::start(central::open_postgres_store(&db.url).await?).await?;
    let pair = [a, b];
    let pg_s = ingest(&pair, edges, per_edge, batch).await?;
    let across = wake_ups(&pair[0], &pair[1], samples, "wake-across").await?;
    let pg_one = wake_ups(&pair[0], &pair[0], samples, "wake-one").await?;
    for instance in pair {
        instance.stop().await;
    }
    drop(db);

    let total = (edges * per_edge) as f64;
    let sort = |mut v: Vec<Duration>| {
        v.sort();
        v
    };
    let (local, across, pg_one) = (sort(local), sort(across), sort(pg_one));
    println!(
        "{}",
        json!({
            "bench": "instances",
            "edges": edges, "events": total as u64, "batch": batch,
            "postgres_two_instances_events_per_s": (total / pg_s).round(),
            "baseline_sqlite_one_central_events_per_s": (total / sqlite_s).round(),
            "ratio": round3(sqlite_s / pg_s),
            "wake_samples": samples,
            "wake_across_instances_p50_us": percentile_us(&across, 0.5).round(),
            "wake_across_instances_p99_us": percentile_us(&across, 0.99).round(),
            "baseline_wake_one_sqlite_central_p50_us": percentile_us(&local, 0.5).round(),
            "baseline_wake_one_sqlite_central_p99_us": percentile_us(&local, 0.99).round(),
            "wake_one_postgres_instance_p99_us": percentile_us(&pg_one, 0.99).round(),
        })
    );
    Ok(())
}
