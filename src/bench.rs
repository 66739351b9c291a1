//! `mes bench …`: the figures BENCHMARKS.md records, each measured in the same run as its
//! baseline. Every bench prints one JSON line per figure on stdout.

use anyhow::{Context, bail};
use clap::Subcommand;
use edge_agent::journal::{self, Durability, JournalConfig};
use protocol::{EdgeId, Seq};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

mod authz;
mod crm;
mod floor;
mod instances;
mod mqtt_ingest;
mod oa;
mod oee;
use mqtt_ingest::mqtt_ingest;
mod memory_poll;
mod scan;

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
    /// Drain a backlog from an edge to central over loopback, with one and with two batches
    /// in flight, against a raw SQLite-to-SQLite copy of the same rows.
    Drain {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Also drain into central on PostgreSQL (a scratch database on the server at
        /// MES_TEST_POSTGRES, default postgres://postgres@127.0.0.1:5432/postgres).
        #[arg(long)]
        postgres: bool,
    },
    /// The edge's resident memory with a backlog on disk (central unreachable).
    Memory {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
    },
    /// The edge's resident memory idle and polling simulated PLCs (issue 11), each after a
    /// warm-up, in the same run.
    MemoryPoll {
        #[arg(long, default_value_t = 10)]
        plcs: usize,
        /// u16 registers per PLC, read from 400001 (3 to 125: one request per poll).
        #[arg(long, default_value_t = 100)]
        registers: u16,
        #[arg(long, value_parser = crate::parse_duration, default_value = "100ms")]
        interval: Duration,
        /// How long each run goes before its memory is read.
        #[arg(long, value_parser = crate::parse_duration, default_value = "60s")]
        warmup: Duration,
    },
    /// One Modbus read (plan, read, check, decode) through the agent's read path against raw
    /// tokio-modbus reading the same registers of the same simulated PLC on loopback.
    ModbusRoundtrip {
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
        /// Consecutive u16 registers read from 400001 (at most 125).
        #[arg(long, default_value_t = 10)]
        registers: u16,
    },
    /// Simulated PLCs (in this process) polled by an edge (a separate process): its CPU,
    /// memory, and poll-start jitter measured where the requests arrive.
    ModbusFleet {
        #[arg(long, default_value_t = 100)]
        plcs: usize,
        /// u16 registers per PLC, read from 400001 (at most 125: one request per poll).
        #[arg(long, default_value_t = 100)]
        registers: u16,
        #[arg(long, value_parser = crate::parse_duration, default_value = "100ms")]
        interval: Duration,
        #[arg(long, value_parser = crate::parse_duration, default_value = "20s")]
        duration: Duration,
    },
    /// Central ingest of ERP-bearing edge events (stock ledger, genealogy, work-order
    /// progress of released orders) over HTTP from concurrent edges, each with one batch in
    /// flight.
    CentralIngest {
        #[arg(long, default_value_t = 20)]
        edges: usize,
        #[arg(long, default_value_t = 100_000)]
        events_per_edge: usize,
        #[arg(long, default_value_t = 5000)]
        batch: usize,
    },
    /// The floor's projections (issue 15): central's ingest with and without them, the OEE
    /// and board answers over a plant's history (p50, p95), and the time until a stop shows
    /// on many open live pages (p99).
    Oee {
        #[arg(long, default_value_t = 20)]
        lines: usize,
        #[arg(long, default_value_t = 90)]
        days: i64,
        #[arg(long, default_value_t = 10_000_000)]
        history_events: u64,
        #[arg(long, default_value_t = 1_000_000)]
        ingest_events: u64,
        #[arg(long, default_value_t = 200)]
        pages: usize,
        #[arg(long, default_value_t = 30)]
        samples: usize,
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// QoS 1 ingest from Mosquitto (127.0.0.1:1883) into the journal through the edge's MQTT
    /// source and processor, each message committed before its acknowledgement, against
    /// `mosquitto_sub -q 1 -C N` draining the same load from the same broker.
    MqttIngest {
        #[arg(long, default_value_t = 50_000)]
        messages: u64,
    },
    /// Scan to committed to answer (issue 5), p50 and p99, over HTTP and a TCP scanner, at
    /// an operator's rate and a busy dock's, open-loop, against the journal commit alone and
    /// `GET /healthz` in the same run.
    Scan {
        /// Sends per path at `--slow-rate`.
        #[arg(long, default_value_t = 60)]
        slow_samples: usize,
        #[arg(long, default_value_t = 1.0)]
        slow_rate: f64,
        /// Scans per second of the fast run.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// How long each path runs at `--rate`.
        #[arg(long, value_parser = crate::parse_duration, default_value = "10s")]
        duration: Duration,
        /// Journal durabilities to run: `normal`, `full` or both.
        #[arg(long, default_value = "normal,full")]
        durability: String,
        /// Scanner connections the TCP path spreads its codes over.
        #[arg(long, default_value_t = 8)]
        connections: usize,
    },
    /// The scan processor's memory over months of a busy line, with and without forgetting
    /// orders long out of the plan and lots long left alone (issue 11).
    Floor {
        #[arg(long, default_value_t = 180)]
        days: u64,
        #[arg(long, default_value_t = 40)]
        orders_per_day: u64,
    },
    /// Central on PostgreSQL with two instances against one central on SQLite, same run
    /// (issue 14): ingest from 20 edges split between the instances, and a plan published at
    /// one instance to a long poll waiting at the other (p50, p99). Needs PostgreSQL at
    /// MES_TEST_POSTGRES (default the local server, trust auth); makes and drops a database.
    Instances {
        #[arg(long, default_value_t = 20)]
        edges: usize,
        #[arg(long, default_value_t = 10_000)]
        events_per_edge: usize,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
    /// What central's policy check costs on a hot read route (with and without it, same
    /// run), and one argon2id sign-in verification (issue 13).
    Authz {
        /// Requests per caller per round.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
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
    /// Promise dates (issue 16): the engine alone on the generated 10k-item plant (4 BOM
    /// levels, 50 loaded work centers), indexed once, then each order timed: p50, p95, p99.
    Promise {
        #[arg(long, default_value_t = 200)]
        orders: usize,
        #[arg(long, default_value_t = 20)]
        lines: usize,
    },
    /// The CRM at a company's size (issue 16): customer search and order lists over 100k
    /// customers and 1M order lines against a hundredth of that (p50, p95, p99 by caller),
    /// and the time a price change takes to flag 10k open quotations against one that flags
    /// none.
    Crm {
        #[arg(long, default_value_t = 100_000)]
        customers: usize,
        #[arg(long, default_value_t = 100_000)]
        orders: usize,
        #[arg(long, default_value_t = 10)]
        lines: usize,
        #[arg(long, default_value_t = 10_000)]
        quotations: usize,
        #[arg(long, default_value_t = 50)]
        samples: usize,
    },
    /// OA requests at a company's size (issue 17): a manager's inbox and a requester's list
    /// over 100k open requests against a hundredth of that (p50, p95, p99), and approvals a
    /// second through the API, each a durable write.
    Oa {
        #[arg(long, default_value_t = 100_000)]
        requests: usize,
        #[arg(long, default_value_t = 50)]
        samples: usize,
        #[arg(long, default_value_t = 2_000)]
        approvals: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Reminders falling due at the same instant, fired as central's timer loop does.
        #[arg(long, default_value_t = 10_000)]
        timers: usize,
    },
}

pub fn run(which: Which) -> anyhow::Result<()> {
    if let Which::EdgeProcess { config } = &which {
        // On the runtime `mes edge` would build from this config, so memory figures are its.
        let config = edge_agent::EdgeConfig::load(config)?;
        let runtime = config.runtime.build()?;
        runtime.block_on(edge_agent::run(config, crate::shutdown_signal()))?;
        return Ok(());
    }
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
                    "journal_commits":r.journal_commits,
                    "raw_rusqlite_events_per_s":r.raw_events_per_s.round(),
                    "raw_rows_per_commit":r.raw_rows_per_commit,
                    "ratio":(r.ratio()*100.0).round()/100.0})
            );
            Ok(())
        }
        Which::Latency { samples } => runtime.block_on(latency(samples)),
        Which::Floor {
            days,
            orders_per_day,
        } => {
            floor::floor(days, orders_per_day);
            Ok(())
        }
        Which::Drain { events, postgres } => runtime.block_on(drain(events, postgres)),
        Which::Memory { events } => runtime.block_on(memory(events)),
        Which::MemoryPoll {
            plcs,
            registers,
            interval,
            warmup,
        } => runtime.block_on(memory_poll::memory_poll(plcs, registers, interval, warmup)),
        Which::Mrp {
            items,
            levels,
            bom_lines,
            demands,
            runs,
        } => mrp(items, levels, bom_lines, demands, runs),
        Which::Promise { orders, lines } => promise(orders, lines),
        Which::Crm {
            customers,
            orders,
            lines,
            quotations,
            samples,
        } => runtime.block_on(crm::crm(crm::CrmBench {
            customers,
            orders,
            lines,
            quotations,
            samples,
        })),
        Which::Oa {
            requests,
            samples,
            approvals,
            concurrency,
            timers,
        } => runtime.block_on(oa::oa(oa::OaBench {
            requests,
            samples,
            approvals,
            concurrency,
            timers,
        })),
        Which::ModbusRoundtrip { samples, registers } => {
            runtime.block_on(modbus_roundtrip(samples, registers))
        }
        Which::ModbusFleet {
            plcs,
            registers,
            interval,
            duration,
        } => runtime.block_on(modbus_fleet(plcs, registers, interval, duration)),
        Which::CentralIngest {
            edges,
            events_per_edge,
            batch,
        } => runtime.block_on(central_ingest(edges, events_per_edge, batch)),
        Which::MqttIngest { messages } => runtime.block_on(mqtt_ingest(messages)),
        Which::Oee {
            lines,
            days,
            history_events,
            ingest_events,
            pages,
            samples,
            rounds,
        } => runtime.block_on(oee::oee(oee::OeeBench {
            lines,
            days,
            history_events,
            ingest_events,
            pages,
            samples,
            rounds,
        })),
        Which::Instances {
            edges,
            events_per_edge,
            batch,
            samples,
        } => runtime.block_on(instances::instances(edges, events_per_edge, batch, samples)),
        Which::Authz { requests, rounds } => runtime.block_on(authz::authz(requests, rounds)),
        Which::Scan {
            slow_samples,
            slow_rate,
            rate,
            duration,
            durability,
            connections,
        } => runtime.block_on(scan::scan(scan::ScanBench {
            slow_samples,
            slow_rate,
            fast_samples: (rate * duration.as_secs_f64()).round() as usize,
            fast_rate: rate,
            durabilities: scan::parse_durabilities(&durability)?,
            connections,
        })),
        Which::EdgeProcess { .. } => unreachable!("run above on the edge's own runtime"),
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
    let store = central::open_sqlite_store(&dir.join("central")).await?;
    start_central_on(store, edge).await
}

/// Central on `store`, serving `edge` (made here) on a free loopback port.
async fn start_central_on(
    store: std::sync::Arc<dyn central::Store>,
    edge: &EdgeId,
) -> anyhow::Result<TestCentral> {
    let config = central::CentralConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..Default::default()
    };
    let token = central::new_token();
    store.create_edge(edge, central::hash_token(&token)).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = central::AppState::new(
        store.clone(),
        central::AdminToken::new(&central::new_token(), "a new random token")?,
        &config,
    );
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

async fn drain(events: usize, postgres: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let edge_id = EdgeId::from("bench-drain");
    let filled = dir.path().join("filled.db");
    eprintln!("filling the edge journal with {events} events…");
    prefill(&filled, &edge_id, events).await?;

    // Baseline: copy the same rows from one SQLite file into a table shaped like central's,
    // with central's durability, in one process, nothing else in between.
    let cpu = own_cpu_seconds();
    let raw = raw_copy(&filled, &dir.path().join("raw-central.db"))?;
    let raw_cpu_us = (own_cpu_seconds() - cpu) * 1e6 / events as f64;

    // The same backlog drained with one batch in flight (the edge waits for each answer) and
    // with two (central reads one while it stores the other, the default), and on PostgreSQL.
    let mut runs = Vec::new();
    let mut setups = vec![("sqlite", 1usize), ("sqlite", 2)];
    if postgres {
        setups.extend([("postgres", 1), ("postgres", 2)]);
    }
    for (engine, in_flight) in setups {
        let run_dir = dir.path().join(format!("{engine}-in-flight-{in_flight}"));
        std::fs::create_dir_all(&run_dir)?;
        let journal_path = run_dir.join("edge.db");
        std::fs::copy(&filled, &journal_path)?;
        let wal = filled.with_extension("db-wal");
        if wal.exists() {
            std::fs::copy(&wal, journal_path.with_extension("db-wal"))?;
        }
        let (store, scratch) = if engine == "postgres" {
            let db = instances::scratch("bench_drain").await?;
            (central::open_postgres_store(&db.url).await?, Some(db))
        } else {
            (
                central::open_sqlite_store(&run_dir.join("central")).await?,
                None,
            )
        };
        let central = start_central_on(store, &edge_id).await?;
        let mut config = edge_agent::EdgeConfig::from_toml_str(&edge_toml(
            edge_id.as_str(),
            &central.url,
            &central.token,
            &journal_path,
            "normal",
            "",
        ))?;
        config.central.batches_in_flight = in_flight;
        let t = Instant::now();
        let cpu = own_cpu_seconds();
        let edge = edge_agent::start(config).await?;
        let mut acked = edge.live.watch_acked();
        acked
            .wait_for(|a| *a >= Seq(events as u64))
            .await
            .context("edge stopped before draining")?;
        let elapsed = t.elapsed();
        // Edge and central both: they run in this process (PostgreSQL's server does not).
        let cpu_us = (own_cpu_seconds() - cpu) * 1e6 / events as f64;
        let at_central = central.store.count_events(&edge_id).await?;
        edge.shutdown().await;
        central.stop().await;
        if at_central != events as u64 {
            bail!("central holds {at_central} events, expected {events}");
        }
        let rate = events as f64 / elapsed.as_secs_f64();
        // The scratch database goes once central let go of it.
        drop(scratch);
        runs.push(json!({"central":engine,"batches_in_flight":in_flight,
            "seconds":round3(elapsed.as_secs_f64()),"events_per_s":rate.round(),
            "ratio":round3(rate/raw),"cpu_us_per_event":round3(cpu_us)}));
    }
    println!(
        "{}",
        json!({"bench":"backlog_drain","events":events,
            "baseline_raw_copy_events_per_s":raw.round(),
            "baseline_raw_copy_cpu_us_per_event":round3(raw_cpu_us),"runs":runs})
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

/// CPU time this process has used, user and system, in seconds (`/proc/self/stat`, in the
/// kernel's 100 Hz ticks).
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name in parentheses: state is the 1st field, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
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
        // The previous run's plan goes first, so the peak is one run's, however many runs.
        drop(std::mem::take(&mut plan));
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
            "phantoms":input.items.iter().filter(|i| i.phantom).count(),
            "supplier_items":input.supplier_items.len(),
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

fn promise(orders: usize, lines: usize) -> anyhow::Result<()> {
    let t = central::crm::promise::bench::time_orders(42, orders.max(1), lines)?;
    let ms = |d: Duration| round3(d.as_secs_f64() * 1e3);
    let by_limit: serde_json::Map<String, serde_json::Value> = t
        .by_limit
        .iter()
        .map(|(code, n)| ((*code).to_owned(), json!(n)))
        .collect();
    println!(
        "{}",
        json!({"bench":"promise","items":t.items,"bom_lines":t.bom_lines,
            "operations":t.operations,"orders":t.orders.len(),"lines_per_order":lines,
            "index_ms":ms(t.index),"order_ms_p50":ms(t.percentile(50.0)),
            "order_ms_p95":ms(t.percentile(95.0)),"order_ms_p99":ms(t.percentile(99.0)),
            "order_ms_max":ms(t.percentile(100.0)),"late_lines":t.late_lines,
            "lines":t.lines,"lines_by_limit":by_limit})
    );
    Ok(())
}

fn percentile_s(sorted: &[Duration], p: f64) -> f64 {
    percentile(sorted, p) / 1e3
}

/// A simulated press on 127.0.0.1:0, served until the returned sender is dropped or fired.
async fn start_plc(
    options: edge_agent::sim::plc::PlcOptions,
) -> anyhow::Result<(
    edge_agent::sim::plc::Plc,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
)> {
    let plc = edge_agent::sim::plc::Plc::new(&options);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
    let server = plc.clone();
    tokio::spawn(async move {
        let _ = server
            .serve(listener, options, async move {
                let _ = stopping.await;
            })
            .await;
    });
    Ok((plc, addr, stop))
}

/// `[[sources]]` for a device reading `registers` u16 registers from 400001.
fn modbus_source(
    device: &str,
    addr: std::net::SocketAddr,
    registers: u16,
    interval: Duration,
) -> String {
    let mut s = format!(
        "[[sources]]\ntype = \"modbus\"\ndevice = \"{device}\"\nhost = \"{addr}\"\ninterval = \"{}ms\"\ntimeout = \"1s\"\nbackoff_min = \"50ms\"\nbackoff_max = \"1s\"\n",
        interval.as_millis()
    );
    for r in 0..u32::from(registers) {
        s.push_str(&format!(
            "[[sources.tags]]\nname = \"r{r}\"\naddress = \"{}\"\ntype = \"u16\"\n",
            400_001 + r
        ));
    }
    s
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    (percentile(sorted, p) * 1000.0 * 10.0).round() / 10.0
}

async fn modbus_roundtrip(samples: usize, registers: u16) -> anyhow::Result<()> {
    use edge_agent::config::modbus::MAX_READ_REGISTERS;
    use edge_agent::sim::plc::PlcOptions;
    use edge_agent::sources::modbus::{self, ChangeFilter, plan::plan_reads};
    use tokio_modbus::client::Reader;
    if registers == 0 || registers > MAX_READ_REGISTERS {
        bail!("registers must be 1..={MAX_READ_REGISTERS}");
    }
    // A press that stands still: both readers see the same registers every time.
    let options = PlcOptions {
        cycle: None,
        ..Default::default()
    };
    let (_plc, addr, stop) = start_plc(options).await?;
    let config = edge_agent::EdgeConfig::from_toml_str(&format!(
        "edge_id = \"bench\"\n[central]\nurl = \"http://127.0.0.1:9\"\ntoken = \"t\"\n{}",
        modbus_source("bench-plc", addr, registers, Duration::from_millis(100))
    ))?;
    let device = match &config.sources[0] {
        edge_agent::config::SourceConfig::Modbus(m) => {
            m.device().map_err(|e| anyhow::anyhow!("{e:?}"))?.clone()
        }
        _ => bail!("not a modbus source"),
    };
    let group = &device.groups[0];
    let plan = plan_reads(&group.tags, device.max_gap_registers, device.max_gap_bits);
    if plan.len() != 1 {
        bail!("expected one planned read, got {}", plan.len());
    }
    let mut agent = modbus::connect(&device.host, device.unit, device.timeout)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut raw =
        tokio_modbus::client::tcp::connect_slave(addr, tokio_modbus::Slave(device.unit)).await?;
    let mut filter = ChangeFilter::default();
    let mut decoded = 0usize;
    // The agent's path: each planned read with its timeout and reply checks, then every tag
    // decoded and passed through the change filter, as the device task does per poll.
    let mut through_agent =
        async |filter: &mut ChangeFilter, decoded: &mut usize| -> anyhow::Result<Duration> {
            let t = Instant::now();
            for request in &plan {
                let data = modbus::read(
                    &mut agent,
                    request.table,
                    request.start,
                    request.count,
                    device.timeout,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                for (i, value) in modbus::extract(&group.tags, request, &data) {
                    let value = value.map_err(anyhow::Error::msg)?;
                    if filter.should_report(&group.tags[i], &value) {
                        *decoded += 1;
                    }
                }
            }
            Ok(t.elapsed())
        };
    let mut agent_times = Vec::with_capacity(samples);
    let mut raw_times = Vec::with_capacity(samples);
    let warmup = (samples / 10).max(100);
    // Interleaved, so both see the same machine at the same moment.
    for i in 0..warmup + samples {
        let a = through_agent(&mut filter, &mut decoded).await?;
        let t = Instant::now();
        let words = raw.read_holding_registers(0, registers).await??;
        let r = t.elapsed();
        std::hint::black_box(words);
        if i >= warmup {
            agent_times.push(a);
            raw_times.push(r);
        }
    }
    let _ = stop.send(());
    agent_times.sort();
    raw_times.sort();
    let (a50, a99) = (
        percentile_us(&agent_times, 0.5),
        percentile_us(&agent_times, 0.99),
    );
    let (r50, r99) = (
        percentile_us(&raw_times, 0.5),
        percentile_us(&raw_times, 0.99),
    );
    println!(
        "{}",
        json!({"bench":"modbus_roundtrip","samples":samples,"registers":registers,
            "agent_p50_us":a50,"agent_p99_us":a99,"raw_tokio_modbus_p50_us":r50,
            "raw_tokio_modbus_p99_us":r99,"added_p50_us":((a50-r50)*10.0).round()/10.0,
            "added_p99_us":((a99-r99)*10.0).round()/10.0,"target_added_p99_us":50})
    );
    Ok(())
}

/// CPU time (user + system) of a process in seconds, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32, ticks_per_s: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / ticks_per_s)
}

/// The edge's poll-start lateness histogram (`le` in seconds, cumulative count) from /metrics.
async fn lateness_histogram(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<Vec<(f64, u64)>> {
    let text = client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let prefix = "mes_edge_modbus_poll_start_lateness_seconds_bucket{le=\"";
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(prefix) else {
            continue;
        };
        let Some((le, count)) = rest.split_once("\"}") else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse()?
        };
        out.push((le, count.trim().parse()?));
    }
    if out.is_empty() {
        bail!("no poll lateness histogram at {url}");
    }
    Ok(out)
}

/// Polls counted between two scrapes, and the smallest bucket bound holding 99 % of them.
fn edge_p99_bound(before: &[(f64, u64)], after: &[(f64, u64)]) -> (u64, Option<f64>) {
    let delta: Vec<(f64, u64)> = after
        .iter()
        .map(|(le, n)| {
            let b = before.iter().find(|(l, _)| l == le).map_or(0, |(_, n)| *n);
            (*le, n.saturating_sub(b))
        })
        .collect();
    let total = delta.last().map_or(0, |(_, n)| *n);
    let bound = delta
        .iter()
        .find(|(_, n)| (*n as f64) >= 0.99 * total as f64)
        .map(|(le, _)| *le)
        .filter(|le| le.is_finite());
    (total, bound)
}

/// Poll-start lateness from the arrival times of one device's requests (one request per poll):
/// each arrival is placed on the poll grid (the nearest multiple of the interval from the
/// first), and its lateness is its offset from the grid minus the smallest offset seen (the
/// constant part: loopback and server). Also returns the number of grid slots with no arrival.
fn lateness(arrivals: &[std::time::Instant], interval: Duration) -> (Vec<Duration>, usize) {
    let Some(first) = arrivals.first() else {
        return (Vec::new(), 0);
    };
    let i = interval.as_secs_f64();
    let mut offsets = Vec::with_capacity(arrivals.len());
    let mut last_slot = 0i64;
    let mut missed = 0usize;
    for (n, a) in arrivals.iter().enumerate() {
        let t = a.duration_since(*first).as_secs_f64();
        let slot = (t / i).round() as i64;
        if n > 0 && slot > last_slot + 1 {
            missed += (slot - last_slot - 1) as usize;
        }
        last_slot = slot;
        offsets.push(t - slot as f64 * i);
    }
    let min = offsets.iter().copied().fold(f64::INFINITY, f64::min);
    let late = offsets
        .into_iter()
        .map(|o| Duration::from_secs_f64(o - min))
        .collect();
    (late, missed)
}

async fn modbus_fleet(
    plcs: usize,
    registers: u16,
    interval: Duration,
    duration: Duration,
) -> anyhow::Result<()> {
    use edge_agent::sim::plc::PlcOptions;
    let dir = tempfile::tempdir()?;
    let mut sims = Vec::with_capacity(plcs);
    let mut sources = String::new();
    for n in 0..plcs {
        let options = PlcOptions {
            cycle: Some(Duration::from_millis(500)),
            seed: Some(n as u64),
            ..Default::default()
        };
        let (plc, addr, stop) = start_plc(options).await?;
        sources.push_str(&modbus_source(
            &format!("plc-{n:03}"),
            addr,
            registers,
            interval,
        ));
        sims.push((plc, stop));
    }
    // A central that is not there: the edge journals and keeps retrying.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // The edge's HTTP on a port that was free a moment ago, to read its lateness histogram.
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config_path = dir.path().join("fleet.toml");
    std::fs::write(
        &config_path,
        edge_toml(
            "bench-fleet",
            &format!("http://127.0.0.1:{port}"),
            "t",
            &dir.path().join("edge.db"),
            "normal",
            &sources,
        )
        .replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{http_port}\""),
        ),
    )?;
    let metrics_url = format!("http://127.0.0.1:{http_port}/metrics");
    let client = reqwest::Client::new();
    let ticks: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0);
    for (plc, _) in &sims {
        plc.record_arrivals(true);
    }
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["bench", "edge-process"])
        .arg(&config_path)
        .env("RUST_LOG", "error")
        .spawn()?;
    let pid = child.id();
    let measured = async {
        // Wait until every PLC is being polled, then let the edge settle.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut polled = vec![false; plcs];
        while !polled.iter().all(|p| *p) {
            if Instant::now() > deadline {
                bail!(
                    "only {} of {plcs} PLCs polled after 30 s",
                    polled.iter().filter(|p| **p).count()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            for (n, (plc, _)) in sims.iter().enumerate() {
                polled[n] |= !plc.take_arrivals().is_empty();
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        for (plc, _) in &sims {
            plc.record_arrivals(true);
        }
        let hist0 = lateness_histogram(&client, &metrics_url).await?;
        let cpu0 = cpu_seconds(pid, ticks)?;
        let t0 = Instant::now();
        tokio::time::sleep(duration).await;
        let cpu1 = cpu_seconds(pid, ticks)?;
        let hist1 = lateness_histogram(&client, &metrics_url).await?;
        let wall = t0.elapsed().as_secs_f64();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = |key: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let mut late = Vec::new();
        let mut missed = 0;
        let mut polls = 0;
        for (plc, _) in &sims {
            let arrivals = plc.take_arrivals();
            polls += arrivals.len();
            let (l, m) = lateness(&arrivals, interval);
            late.extend(l);
            missed += m;
        }
        Ok((
            (cpu1 - cpu0) / wall,
            wall,
            kb("VmRSS:"),
            kb("VmHWM:"),
            late,
            polls,
            missed,
            edge_p99_bound(&hist0, &hist1),
        ))
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let (cores, wall, rss, hwm, mut late, polls, missed, (edge_polls, edge_p99)) = measured?;
    late.sort();
    let i_ms = interval.as_secs_f64() * 1e3;
    let p99 = percentile(&late, 0.99);
    println!(
        "{}",
        json!({"bench":"modbus_fleet","plcs":plcs,"registers_per_plc":registers,
            "points":plcs*usize::from(registers),"interval_ms":i_ms,"seconds":round3(wall),
            "edge_cpu_cores":round3(cores),"edge_rss_mib":round3(rss as f64/1024.0),
            "edge_peak_rss_mib":round3(hwm as f64/1024.0),
            "polls":polls,"expected_polls":(wall*1e3/i_ms).floor() as usize*plcs,
            "missed_polls":missed,
            "poll_start_lateness_p50_ms":round3(percentile(&late,0.5)),
            "poll_start_lateness_p99_ms":round3(p99),
            "poll_start_lateness_max_ms":round3(late.last().map_or(0.0,|d|d.as_secs_f64()*1e3)),
            "jitter_p99_fraction_of_interval":round3(p99/i_ms),
            "edge_histogram_polls":edge_polls,
            "edge_poll_start_lateness_p99_ms_at_most":edge_p99.map(|s| round3(s*1e3)),
            "target_jitter_fraction":0.1,"target_rss_mib":63})
    );
    Ok(())
}

/// Cycles (of ten events) per work order in the central-ingest mix.
const INGEST_CYCLES_PER_ORDER: usize = 1000;

/// Event `n` of an edge in the central-ingest mix, ten to a cycle: a receipt, a move to the
/// line, two issues, a produced lot (with its consumed lot) and five production reports, of
/// which the first of each work order is a `work_order_started` instead.
fn ingest_mix_event(edge: &EdgeId, n: usize, mix: bool) -> protocol::Event {
    use protocol::EventKind;
    let cycle = n / 10;
    let line = edge.as_str();
    let raw = format!("R-{line}-{cycle}");
    let wo = format!("WO-{line}-{}", cycle / INGEST_CYCLES_PER_ORDER);
    let qty = |x: i64| rust_decimal::Decimal::new(x, 1);
    let kind = match if mix { n % 10 } else { 9 } {
        5 if cycle.is_multiple_of(INGEST_CYCLES_PER_ORDER) => EventKind::WorkOrderStarted {
            work_order: wo.as_str().into(),
            operation: Some(10),
        },
        0 => EventKind::MaterialReceived {
            item: "STEEL".into(),
            lot: raw.as_str().into(),
            qty: qty(1000),
            uom: "kg".into(),
            location: "WH1".into(),
            purchase_order: None,
        },
        1 => EventKind::MaterialMoved {
            item: "STEEL".into(),
            lot: raw.as_str().into(),
            qty: qty(600),
            uom: "kg".into(),
            from: "WH1".into(),
            to: line.into(),
        },
        2 | 3 => EventKind::MaterialIssued {
            work_order: wo.as_str().into(),
            operation: Some(10),
            item: "STEEL".into(),
            lot: raw.as_str().into(),
            qty: qty(125),
            uom: "kg".into(),
        },
        4 => EventKind::LotProduced {
            work_order: wo.as_str().into(),
            item: "FRAME".into(),
            lot: format!("F-{line}-{cycle}").as_str().into(),
            qty: qty(40),
            uom: "ea".into(),
            consumed_lots: vec![raw.as_str().into()],
        },
        _ => EventKind::ProductionReported {
            work_order: Some(wo.as_str().into()),
            operation: Some(10),
            good: (n % 7) as u64 + 1,
            scrap: u64::from(n.is_multiple_of(13)),
        },
    };
    protocol::Event {
        edge_id: edge.clone(),
        seq: Seq(n as u64 + 1),
        id: protocol::EventId(uuid::Uuid::now_v7()),
        at: chrono::Utc::now(),
        source: protocol::Source {
            device: Some("press-1".into()),
            station: Some("st-10".into()),
        },
        kind,
    }
}

async fn central_ingest(edges: usize, per_edge: usize, batch: usize) -> anyhow::Result<()> {
    // Baselines: the same run with production reports only, which book nothing in the
    // ledger; and the mix without work orders at central, so no progress is booked.
    let (base_s, _, _) = ingest_round(edges, per_edge, batch, false, true).await?;
    let (no_wo_s, _, _) = ingest_round(edges, per_edge, batch, true, false).await?;
    let (seconds, ledger, orders) = ingest_round(edges, per_edge, batch, true, true).await?;
    let total = (edges * per_edge) as f64;
    let rate = total / seconds;
    let base = total / base_s;
    let no_wo = total / no_wo_s;
    println!(
        "{}",
        json!({"bench":"central_ingest","edges":edges,"events":total as u64,"batch":batch,
            "seconds":round3(seconds),"events_per_s":rate.round(),"ledger_rows":ledger,
            "work_orders":orders,
            "baseline_production_reports_only_events_per_s":base.round(),
            "ratio":round3(rate/base),
            "baseline_mix_without_work_orders_events_per_s":no_wo.round(),
            "ratio_to_without_work_orders":round3(rate/no_wo),
            "target_events_per_s":100_000})
    );
    Ok(())
}

/// Master data for the central-ingest mix: per edge a line run by it, a work center at
/// `st-10`, an item `FRAME-{edge}` routed there (0.5 kg STEEL each) and its released work
/// orders `WO-{edge}-{k}`, which the mix's events name. Returns the number of orders.
async fn ingest_work_orders(
    store: &std::sync::Arc<dyn central::Store>,
    ids: &[EdgeId],
    per_edge: usize,
) -> anyhow::Result<usize> {
    use central::erp::import::{ImportKind, parse};
    use central::erp::work_order::Action;
    use central::store::work_orders::{
        Line, NewWorkOrder, Routing, RoutingOperation, WoRejection, WorkCenter,
    };
    let mut items = String::from(
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\nSTEEL,steel,buy,kg,1,lfl,,\n",
    );
    let mut boms = String::from("parent,component,qty_per,scrap_pct\n");
    for id in ids {
        items.push_str(&format!("FRAME-{id},frame,make,ea,1,lfl,,\n"));
        boms.push_str(&format!("FRAME-{id},STEEL,0.5,0\n"));
    }
    for (kind, csv) in [(ImportKind::Items, items), (ImportKind::Boms, boms)] {
        let batch = parse(kind, csv.as_bytes()).map_err(|(e, _)| anyhow::anyhow!("{e:?}"))?;
        store
            .import(batch)
            .await?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let n_orders = per_edge.div_ceil(10 * INGEST_CYCLES_PER_ORDER);
    let due = chrono::Utc::now().date_naive();
    let refused = |e: WoRejection| anyhow::anyhow!("{e:?}");
    for id in ids {
        let line = id.as_str().to_owned();
        store
            .put_line(Line {
                line: line.clone(),
                description: String::new(),
                edge_id: Some(line.clone()),
                plant: "default".into(),
            })
            .await?
            .map_err(refused)?;
        store
            .put_work_center(WorkCenter {
                work_center: format!("WC-{line}"),
                description: String::new(),
                line: line.clone(),
                station: Some("st-10".into()),
                hours_per_day: None,
            })
            .await?
            .map_err(refused)?;
        store
            .put_routing(Routing {
                item: format!("FRAME-{line}"),
                operations: vec![RoutingOperation {
                    operation: 10,
                    description: "weld".into(),
                    work_center: format!("WC-{line}"),
                    ideal_cycle_s: None,
                }],
            })
            .await?
            .map_err(refused)?;
        for k in 0..n_orders {
            let work_order = format!("WO-{line}-{k}");
            store
                .create_work_order(
                    NewWorkOrder {
                        work_order: Some(work_order.clone()),
                        item: format!("FRAME-{line}"),
                        qty: rust_decimal::Decimal::from(40_000),
                        due,
                        priority: 0,
                        line: line.clone(),
                    },
                    chrono::Utc::now(),
                )
                .await?
                .map_err(refused)?;
            store
                .work_order_action(
                    work_order,
                    Action::Release,
                    "admin".into(),
                    chrono::Utc::now(),
                )
                .await?
                .map_err(refused)?;
        }
    }
    Ok(n_orders * ids.len())
}

/// One run on a fresh central; `mix`: the ERP mix, else production reports only;
/// `orders`: central knows the work orders the events name (else every event's order is
/// unmatched). Returns the seconds from the first request to the last ack, the ledger rows
/// booked and the work orders; checks that the orders' good counts add up to the events'.
/// The mix's events of every edge in `ids`, `per_edge` each, encoded as the `EventBatch`
/// bodies of `batch` events an edge sends; and the good parts they report in all.
fn encode_mix_batches(
    ids: &[EdgeId],
    per_edge: usize,
    batch: usize,
    mix: bool,
) -> anyhow::Result<(Vec<Vec<String>>, u64)> {
    let mut good_total = 0u64;
    let mut bodies = Vec::with_capacity(ids.len());
    for id in ids {
        let mut batches = Vec::new();
        let mut n = 0;
        while n < per_edge {
            let k = (per_edge - n).min(batch.max(1));
            let events: Vec<protocol::Event> =
                (n..n + k).map(|i| ingest_mix_event(id, i, mix)).collect();
            for e in &events {
                if let protocol::EventKind::ProductionReported { good, .. } = e.kind {
                    good_total += good;
                }
            }
            batches.push(serde_json::to_string(&protocol::EventBatch {
                protocol: protocol::PROTOCOL_VERSION,
                edge_id: id.clone(),
                events,
            })?);
            n += k;
        }
        bodies.push(batches);
    }
    Ok((bodies, good_total))
}

/// Sends each edge's `(edge, events URL, token, batch bodies)`, the edges at once and each with one
/// batch in flight, as edges do; the wall time until every batch was acknowledged.
async fn send_batches(
    edges: Vec<(EdgeId, String, String, Vec<String>)>,
) -> anyhow::Result<Duration> {
    let client = reqwest::Client::new();
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (id, url, token, batches) in edges {
        let client = client.clone();
        tasks.spawn(async move {
            for body in batches {
                let reply = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = reply.status();
                if !status.is_success() {
                    bail!("{id}: central answered {status}: {}", reply.text().await?);
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(t.elapsed())
}

async fn ingest_round(
    edges: usize,
    per_edge: usize,
    batch: usize,
    mix: bool,
    orders: bool,
) -> anyhow::Result<(f64, i64, usize)> {
    let dir = tempfile::tempdir()?;
    let ids: Vec<EdgeId> = (0..edges)
        .map(|i| EdgeId::from(format!("line-{i:02}").as_str()))
        .collect();
    let central = start_central(dir.path(), &ids[0]).await?;
    let mut tokens = vec![central.token.clone()];
    for id in &ids[1..] {
        let token = central::new_token();
        central
            .store
            .create_edge(id, central::hash_token(&token))
            .await?;
        tokens.push(token);
    }
    let n_orders = if orders {
        ingest_work_orders(&central.store, &ids, per_edge).await?
    } else {
        0
    };
    eprintln!(
        "encoding {} events (mix: {mix}, work orders: {n_orders})…",
        edges * per_edge
    );
    // Every batch is encoded before the clock starts, as an edge's journal holds it.
    let (bodies, expected_good) = encode_mix_batches(&ids, per_edge, batch, mix)?;
    let url = format!("{}/api/v1/sync/events", central.url);
    let elapsed = send_batches(
        bodies
            .into_iter()
            .zip(tokens)
            .zip(ids.clone())
            .map(|((batches, token), id)| (id, url.clone(), token, batches))
            .collect(),
    )
    .await?;
    let mut stored = 0;
    for id in &ids {
        stored += central.store.count_events(id).await?;
    }
    let total = (edges * per_edge) as u64;
    if stored != total {
        bail!("central holds {stored} events, expected {total}");
    }
    central.stop().await;
    let db = rusqlite::Connection::open(
        dir.path()
            .join("central")
            .join(central::store::sql::DB_FILE),
    )?;
    let ledger: i64 = db.query_row("SELECT COUNT(*) FROM inv_ledger", [], |r| r.get(0))?;
    let good: i64 = db.query_row(
        "SELECT COALESCE(SUM(good), 0) FROM wo_operations",
        [],
        |r| r.get(0),
    )?;
    let unmatched: i64 = db.query_row(
        "SELECT COALESCE(SUM(events), 0) FROM wo_unmatched",
        [],
        |r| r.get(0),
    )?;
    if orders && (good as u64 != expected_good || unmatched != 0) {
        bail!(
            "work orders hold {good} good and {unmatched} unmatched events, expected {expected_good} and 0"
        );
    }
    if !orders && good != 0 {
        bail!("no work orders, yet {good} good booked");
    }
    Ok((elapsed.as_secs_f64(), ledger, n_orders))
}
