//! `mes bench …`: the figures BENCHMARKS.md records, each measured in the same run as its
//! baseline. Every bench prints one JSON line per figure on stdout.

use anyhow::{Context, bail};
use clap::Subcommand;
use edge_agent::journal::{self, Durability, JournalConfig};
use protocol::{EdgeId, Seq};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Subcommand, Clone)]
pub enum Which {
    /// Journal append throughput against raw rusqlite inserting the same rows.
    Journal {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        #[arg(long, default_value = "normal")]
        durability: String,
    },
    /// One event, commit to central's acknowledgement, in `full` mode: p50 and p99.
    Latency {
        #[arg(long, default_value_t = 500)]
        samples: usize,
    },
    /// Drain a backlog from an edge to central over loopback.
    Drain {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
    },
    /// The edge's resident memory with a backlog on disk (central unreachable).
    Memory {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
    },
    /// Used by `memory`: run an edge from a config file (a separate process to measure).
    #[command(hide = true)]
    EdgeProcess { config: std::path::PathBuf },
    /// MRP on a generated plant: time and peak memory of the run.
    Mrp {
        #[arg(long, default_value_t = 10_000)]
        items: usize,
        #[arg(long, default_value_t = 6)]
        levels: usize,
        #[arg(long, default_value_t = 100_000)]
        bom_lines: usize,
        #[arg(long, default_value_t = 10_000)]
        demands: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

pub fn run(which: Which) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    match which {
        Which::Journal {
            events,
            batch,
            durability,
        } => {
            let durability = match durability.as_str() {
                "normal" => Durability::Normal,
                "full" => Durability::Full,
                other => bail!("durability {other:?}: expected normal or full"),
            };
            let dir = tempfile::tempdir()?;
            let r = journal::bench::append_vs_raw(dir.path(), events, batch, durability)?;
            println!(
                "{}",
                json!({"bench":"journal_append","events":events,"batch":batch,
                    "durability":format!("{durability:?}").to_lowercase(),
                    "journal_events_per_s":r.journal_events_per_s.round(),
                    "raw_rusqlite_events_per_s":r.raw_events_per_s.round(),
                    "ratio":(r.ratio()*100.0).round()/100.0})
            );
            Ok(())
        }
        Which::Latency { samples } => runtime.block_on(latency(samples)),
        Which::Drain { events } => runtime.block_on(drain(events)),
        Which::Memory { events } => runtime.block_on(memory(events)),
        Which::Mrp {
            items,
            levels,
            bom_lines,
            demands,
            runs,
        } => mrp(items, levels, bom_lines, demands, runs),
        Which::EdgeProcess { config } => runtime.block_on(async {
            let config = edge_agent::EdgeConfig::load(&config)?;
            edge_agent::run(config, crate::shutdown_signal()).await?;
            Ok(())
        }),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// A central on loopback with one registered edge; returns its URL and the edge's token.
struct TestCentral {
    url: String,
    token: String,
    store: std::sync::Arc<dyn central::Store>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_central(dir: &Path, edge: &EdgeId) -> anyhow::Result<TestCentral> {
    let config = central::CentralConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        data_dir: dir.join("central"),
        ..Default::default()
    };
    let store = central::open_sqlite_store(&config.data_dir).await?;
    let token = central::new_token();
    store.create_edge(edge, central::hash_token(&token)).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = central::AppState::new(store.clone(), central::new_token(), &config);
    let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(central::serve(listener, state, async move {
        let _ = stopping.await;
    }));
    Ok(TestCentral {
        url,
        token,
        store,
        stop: Some(stop),
        task,
    })
}

impl TestCentral {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

fn edge_toml(
    edge: &str,
    url: &str,
    token: &str,
    journal: &Path,
    durability: &str,
    extra: &str,
) -> String {
    format!(
        r#"edge_id = "{edge}"
[central]
url = "{url}"
token = "{token}"
batch_max_events = 5000
backoff_max = "2s"
[journal]
path = "{}"
durability = "{durability}"
quota = "8 GiB"
[http]
listen = "127.0.0.1:0"
{extra}"#,
        journal.display()
    )
}

/// Fills a journal with `n` realistic events (nothing acknowledged).
async fn prefill(path: &Path, edge: &EdgeId, n: usize) -> anyhow::Result<()> {
    let mut cfg = JournalConfig::new(path, edge.clone());
    cfg.quota_bytes = 8 << 30;
    let journal = journal::open(cfg)?;
    let mut i = 0;
    while i < n {
        let k = (n - i).min(10_000);
        journal
            .append((i..i + k).map(journal::bench::sample_body).collect())
            .await?;
        i += k;
    }
    journal.shutdown().await?;
    Ok(())
}

async fn latency(samples: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let edge_id = EdgeId::from("bench-latency");
    let central = start_central(dir.path(), &edge_id).await?;
    let config = edge_agent::EdgeConfig::from_toml_str(&edge_toml(
        edge_id.as_str(),
        &central.url,
        &central.token,
        &dir.path().join("edge.db"),
        "full",
        "",
    ))?;
    let edge = edge_agent::start(config).await?;
    let mut acked = edge.live.watch_acked();
    let mut through_mes = Vec::with_capacity(samples);
    for i in 0..samples {
        let t0 = Instant::now();
        let range = edge
            .journal
            .append(vec![journal::bench::sample_body(i)])
            .await?;
        let committed = Instant::now();
        acked.wait_for(|a| *a >= range.last).await?;
        let _ = t0;
        through_mes.push(committed.elapsed());
    }
    edge.shutdown().await;
    central.stop().await;

    // Baseline: what the path costs at its floor: a synchronous=FULL commit on each side and
    // one HTTP round trip, with nothing of ours in between.
    let baseline = baseline_latency(dir.path(), samples).await?;
    through_mes.sort();
    let mut base = baseline;
    base.sort();
    println!(
        "{}",
        json!({"bench":"commit_to_ack_full","samples":samples,
            "p50_ms":round3(percentile(&through_mes,0.5)),"p99_ms":round3(percentile(&through_mes,0.99)),
            "baseline_p50_ms":round3(percentile(&base,0.5)),"baseline_p99_ms":round3(percentile(&base,0.99)),
            "ratio_p50":round3(percentile(&through_mes,0.5)/percentile(&base,0.5))})
    );
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn baseline_latency(dir: &Path, samples: usize) -> anyhow::Result<Vec<Duration>> {
    use axum::routing::post;
    use std::sync::{Arc, Mutex};
    fn full_db(path: &Path) -> anyhow::Result<rusqlite::Connection> {
        let c = rusqlite::Connection::open(path)?;
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "FULL")?;
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS t(seq INTEGER PRIMARY KEY, json TEXT NOT NULL)",
        )?;
        Ok(c)
    }
    let far = Arc::new(Mutex::new(full_db(&dir.join("baseline-central.db"))?));
    let app = axum::Router::new().route(
        "/",
        post(move |body: String| {
            let far = far.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let c = far.lock().unwrap_or_else(|e| e.into_inner());
                    c.execute("INSERT INTO t(json) VALUES (?1)", [body])
                        .map(|_| ())
                })
                .await
                .ok();
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let near = full_db(&dir.join("baseline-edge.db"))?;
    let client = reqwest::Client::new();
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let json = serde_json::to_string(&journal::bench::sample_body(i))?;
        near.execute("INSERT INTO t(json) VALUES (?1)", [&json])?;
        let t = Instant::now();
        client
            .post(&url)
            .body(json)
            .send()
            .await?
            .error_for_status()?;
        near.execute(
            "UPDATE t SET json = json WHERE seq = last_insert_rowid()",
            [],
        )?;
        out.push(t.elapsed());
    }
    server.abort();
    Ok(out)
}

async fn drain(events: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let edge_id = EdgeId::from("bench-drain");
    let journal_path = dir.path().join("edge.db");
    eprintln!("filling the edge journal with {events} events…");
    prefill(&journal_path, &edge_id, events).await?;

    // Baseline: copy the same rows from one SQLite file into a table shaped like central's,
    // with central's durability, in one process, nothing else in between.
    let raw = raw_copy(&journal_path, &dir.path().join("raw-central.db"))?;

    let central = start_central(dir.path(), &edge_id).await?;
    let config = edge_agent::EdgeConfig::from_toml_str(&edge_toml(
        edge_id.as_str(),
        &central.url,
        &central.token,
        &journal_path,
        "normal",
        "",
    ))?;
    let t = Instant::now();
    let edge = edge_agent::start(config).await?;
    let mut acked = edge.live.watch_acked();
    acked
        .wait_for(|a| *a >= Seq(events as u64))
        .await
        .context("edge stopped before draining")?;
    let elapsed = t.elapsed();
    let at_central = central.store.count_events(&edge_id).await?;
    edge.shutdown().await;
    central.stop().await;
    if at_central != events as u64 {
        bail!("central holds {at_central} events, expected {events}");
    }
    let rate = events as f64 / elapsed.as_secs_f64();
    println!(
        "{}",
        json!({"bench":"backlog_drain","events":events,"seconds":round3(elapsed.as_secs_f64()),
            "events_per_s":rate.round(),"baseline_raw_copy_events_per_s":raw.round(),
            "ratio":round3(rate/raw)})
    );
    Ok(())
}

fn raw_copy(from: &Path, to: &Path) -> anyhow::Result<f64> {
    let src = rusqlite::Connection::open(from)?;
    let mut dst = rusqlite::Connection::open(to)?;
    dst.pragma_update(None, "journal_mode", "WAL")?;
    dst.pragma_update(None, "synchronous", "FULL")?;
    dst.execute_batch(
        "CREATE TABLE events(edge_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY(edge_id, seq))",
    )?;
    let t = Instant::now();
    let mut n = 0usize;
    let mut stmt = src.prepare("SELECT seq, json FROM events ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut tx = dst.transaction()?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let json: String = row.get(1)?;
        tx.prepare_cached("INSERT INTO events(edge_id, seq, body) VALUES ('e', ?1, ?2)")?
            .execute(rusqlite::params![seq, json])?;
        n += 1;
        if n.is_multiple_of(5000) {
            tx.commit()?;
            tx = dst.transaction()?;
        }
    }
    tx.commit()?;
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

async fn memory(events: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let edge_id = EdgeId::from("bench-memory");
    // A central that is not there: a port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut results = Vec::new();
    for (label, n) in [("empty_journal", 0), ("backlog", events)] {
        let journal_path = dir.path().join(format!("{label}.db"));
        if n > 0 {
            eprintln!("filling the edge journal with {n} events…");
        }
        prefill(&journal_path, &edge_id, n).await?;
        let config_path = dir.path().join(format!("{label}.toml"));
        std::fs::write(
            &config_path,
            edge_toml(edge_id.as_str(), &url, "t", &journal_path, "normal", ""),
        )?;
        let exe = std::env::current_exe()?;
        let mut child = std::process::Command::new(exe)
            .args(["bench", "edge-process"])
            .arg(&config_path)
            .env("RUST_LOG", "error")
            .spawn()?;
        // Let it start, read its backlog and fail to reach central a few times.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .context("cannot read the edge process's memory")?;
        let kb = |key: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        results.push((label, kb("VmRSS:"), kb("VmHWM:")));
        let _ = child.kill();
        let _ = child.wait();
    }
    let (_, base_rss, base_hwm) = results[0];
    let (_, rss, hwm) = results[1];
    println!(
        "{}",
        json!({"bench":"edge_memory","backlog_events":events,"rss_mib":round3(rss as f64/1024.0),
            "peak_rss_mib":round3(hwm as f64/1024.0),"baseline_empty_rss_mib":round3(base_rss as f64/1024.0),
            "baseline_empty_peak_rss_mib":round3(base_hwm as f64/1024.0)})
    );
    Ok(())
}

/// This process's memory figures in KiB (`VmRSS`, `VmHWM`) from `/proc/self/status`.
fn own_memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// MRP on a generated plant. Peak memory is the process's high-water mark during the runs
/// (reset before them through `/proc/self/clear_refs` where the kernel allows) minus the
/// resident size with the plant loaded.
fn mrp(
    items: usize,
    levels: usize,
    bom_lines: usize,
    demands: usize,
    runs: usize,
) -> anyhow::Result<()> {
    use central::erp::{bench, mrp};
    let size = bench::PlantSize {
        items,
        levels,
        bom_lines,
        demands,
        ..Default::default()
    };
    let as_of = chrono::NaiveDate::from_ymd_opt(2025, 1, 6).context("date")?;
    let t = Instant::now();
    let input = bench::generate_plant(size, 42, as_of);
    let generate_s = t.elapsed().as_secs_f64();
    let (rss_loaded, _) = own_memory_kib();
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let mut times = Vec::new();
    let mut plan = mrp::MrpPlan::default();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        plan = mrp::run(&input)?;
        times.push(t.elapsed());
    }
    let (_, hwm) = own_memory_kib();
    let t = Instant::now();
    let json_bytes = serde_json::to_vec(&plan)?.len();
    let json_s = t.elapsed().as_secs_f64();
    times.sort();
    let pegs: usize = plan.planned_orders.iter().map(|p| p.pegged_to.len()).sum();
    println!(
        "{}",
        json!({"bench":"mrp","items":input.items.len(),"levels":levels,"bom_lines":input.bom.len(),
            "demands":input.demands.len(),"receipts":input.receipts.len(),"runs":times.len(),
            "run_seconds_min":round3(times[0].as_secs_f64()),
            "run_seconds_median":round3(percentile_s(&times, 0.5)),
            "planned_orders":plan.planned_orders.len(),"messages":plan.messages.len(),
            "peg_entries":pegs,"plan_json_mib":round3(json_bytes as f64/1048576.0),
            "json_seconds":round3(json_s),"generate_seconds":round3(generate_s),
            "rss_with_plant_mib":round3(rss_loaded as f64/1024.0),
            "peak_rss_mib":round3(hwm as f64/1024.0),
            "peak_over_loaded_mib":round3(hwm.saturating_sub(rss_loaded) as f64/1024.0),
            "peak_reset_before_runs":hwm_reset})
    );
    Ok(())
}

fn percentile_s(sorted: &[Duration], p: f64) -> f64 {
    percentile(sorted, p) / 1e3
}
