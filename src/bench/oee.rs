//! `mes bench oee` (issue 15): what the floor's projections cost and what they buy.
//!
//! 1. Central's ingest of the same events with the projections on and off, same run (goal:
//!    at most 10 % lower with them).
//! 2. A plant of `lines` lines with `days` days of history (`history_events` in all, 10 M by
//!    default), then `GET /api/v1/floor/oee` (a month by day, a week by shift) and
//!    `GET /api/v1/floor/board`, p50 and p95 (goal: 300 ms at p95), against `GET /healthz`.
//! 3. `pages` live pages (`GET /api/v1/floor/live`) open on that plant: a state change posted
//!    by an edge, until every page has a board showing it, p50 and p99 (goal: 1 s at p99).

use super::{ingest_work_orders, percentile, round3};
use anyhow::{Context, bail};
use protocol::{EdgeId, EventKind, MachineState, Seq};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct OeeBench {
    pub lines: usize,
    pub days: i64,
    pub history_events: u64,
    pub ingest_events: u64,
    pub pages: usize,
    pub samples: usize,
    pub rounds: usize,
}

/// A central on loopback whose admin token the bench holds.
struct Central {
    url: String,
    admin: String,
    store: Arc<dyn central::Store>,
    state: central::AppState,
    tokens: Vec<String>,
    ids: Vec<EdgeId>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Central {
    async fn start(lines: usize, per_edge: usize) -> anyhow::Result<Central> {
        let dir = tempfile::tempdir()?;
        let store = central::open_sqlite_store(&dir.path().join("central")).await?;
        let ids: Vec<EdgeId> = (0..lines)
            .map(|i| EdgeId::from(format!("line-{i:02}").as_str()))
            .collect();
        let mut tokens = Vec::new();
        for id in &ids {
            let token = central::new_token();
            store.create_edge(id, central::hash_token(&token)).await?;
            tokens.push(token);
        }
        ingest_work_orders(&store, &ids, per_edge).await?;
        // Every line's operation with an ideal cycle time, so OEE has its performance.
        for id in &ids {
            use central::store::work_orders::{Routing, RoutingOperation};
            store
                .put_routing(Routing {
                    item: format!("FRAME-{id}"),
                    operations: vec![RoutingOperation {
                        operation: 10,
                        description: "weld".into(),
                        work_center: format!("WC-{id}"),
                        ideal_cycle_s: Some(rust_decimal::Decimal::new(25, 1)),
                    }],
                })
                .await?
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        let config = central::CentralConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            ..Default::default()
        };
        let admin = central::new_token();
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = central::AppState::new(
            store.clone(),
            central::AdminToken::new(&admin, "the bench")?,
            &config,
        );
        let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(central::serve(listener, state.clone(), async move {
            let _ = stopping.await;
        }));
        Ok(Central {
            url,
            admin,
            store,
            state,
            tokens,
            ids,
            stop: Some(stop),
            task,
            _dir: dir,
        })
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }

    async fn put(&self, http: &reqwest::Client, path: &str, body: Value) -> anyhow::Result<()> {
        let reply = http
            .put(format!("{}{path}", self.url))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await?;
        if !reply.status().is_success() {
            bail!("PUT {path}: {} {}", reply.status(), reply.text().await?);
        }
        Ok(())
    }

    /// Shanghai's three shifts with their breaks, and five stop reasons.
    async fn plant_calendar(&self, http: &reqwest::Client) -> anyhow::Result<()> {
        let days = json!(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
        self.put(
            http,
            "/api/v1/plants/default/shifts",
            json!({"time_zone": "Asia/Shanghai", "shifts": [
                {"name": "early", "start": "06:00", "end": "14:00", "days": days,
                 "breaks": [{"name": "meal", "start": "10:00", "end": "10:30"}]},
                {"name": "late", "start": "14:00", "end": "22:00", "days": days,
                 "breaks": [{"name": "meal", "start": "18:00", "end": "18:30"}]},
                {"name": "night", "start": "22:00", "end": "06:00", "days": days,
                 "breaks": [{"name": "meal", "start": "02:00", "end": "02:30"}]}
            ]}),
        )
        .await?;
        let reasons: Vec<Value> = REASONS
            .iter()
            .map(|(code, category, planned)| {
                json!({"code": code, "name": code, "category": category, "planned": planned})
            })
            .collect();
        self.put(
            http,
            "/api/v1/plants/default/stop-reasons",
            json!({ "reasons": reasons }),
        )
        .await
    }
}

const REASONS: [(&str, &str, bool); 5] = [
    ("JAM", "mechanical", false),
    ("NOMAT", "material", false),
    ("QC", "quality", false),
    ("TOOL", "changeover", false),
    ("PM", "maintenance", true),
];

/// Event `n` of an edge: every tenth a state change (running, down with a reason, running,
/// idle, running, setup, ...), the rest production reports of the line's work order.
fn floor_event(edge: &EdgeId, n: u64, at: chrono::DateTime<chrono::Utc>) -> protocol::Event {
    let kind = if n.is_multiple_of(10) {
        let k = n / 10;
        let (state, reason) = match k % 6 {
            1 => (MachineState::Down, Some(REASONS[(k / 6 % 5) as usize].0)),
            3 => (MachineState::Idle, None),
            5 => (MachineState::Setup, Some("TOOL")),
            _ => (MachineState::Running, None),
        };
        EventKind::MachineStateChanged {
            state,
            reason: reason.map(str::to_owned),
        }
    } else {
        EventKind::ProductionReported {
            work_order: Some(format!("WO-{edge}-{}", n / 10 / 1000).as_str().into()),
            operation: Some(10),
            good: n % 5 + 1,
            scrap: u64::from(n.is_multiple_of(17)),
        }
    };
    protocol::Event {
        edge_id: edge.clone(),
        seq: Seq(n + 1),
        id: protocol::EventId(uuid::Uuid::now_v7()),
        at,
        source: protocol::Source {
            device: Some("plc".into()),
            station: Some("st-10".into()),
        },
        kind,
    }
}

/// Sends `per_edge` events of every edge, spread evenly over `[from, to)`, in batches of
/// 5000, the edges at once; the wall time.
async fn send_history(
    c: &Central,
    per_edge: u64,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Duration> {
    const BATCH: u64 = 5000;
    let http = reqwest::Client::new();
    let step = (to - from) / i32::try_from(per_edge.max(1)).unwrap_or(i32::MAX);
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (id, token) in c.ids.iter().cloned().zip(c.tokens.clone()) {
        let (http, url) = (http.clone(), format!("{}/api/v1/sync/events", c.url));
        tasks.spawn(async move {
            let mut n = 0;
            while n < per_edge {
                let k = (per_edge - n).min(BATCH);
                // Encoded off the runtime's threads, batch by batch, as a journal holds them.
                let (edge, first) = (id.clone(), n);
                let body = tokio::task::spawn_blocking(move || {
                    let events: Vec<protocol::Event> = (first..first + k)
                        .map(|i| {
                            let at = from + step * i32::try_from(i).unwrap_or(i32::MAX);
                            floor_event(&edge, i, at)
                        })
                        .collect();
                    serde_json::to_string(&protocol::EventBatch {
                        protocol: protocol::PROTOCOL_VERSION,
                        edge_id: edge,
                        events,
                    })
                })
                .await??;
                let reply = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await?;
                if !reply.status().is_success() {
                    bail!("{id}: {} {}", reply.status(), reply.text().await?);
                }
                n += k;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(t.elapsed())
}

/// `GET path` `samples` times one after another: the sorted durations.
/// How the OEE figures are asked for.
#[derive(Clone, Copy, PartialEq)]
enum Asked {
    /// One after another, the ended shifts' figures kept by the first.
    Warm,
    /// With the kept figures forgotten before each, in memory and in the database: the first
    /// page after a rebuild, a routing's new ideal cycle time or a late fact at every station.
    Cold,
    /// With the figures kept in memory forgotten before each, those in the database kept: the
    /// first page after central starts, or at another instance.
    Restarted,
    /// Warm, with every edge reporting a part (a batch each) before each page, as a plant
    /// does all day: each batch changes its station's open run.
    WhileReporting,
}

/// One part at `st-10` of every edge, now: a batch each, the next seq.
async fn report_parts(c: &Central, http: &reqwest::Client) -> anyhow::Result<()> {
    for (edge, token) in c.ids.iter().zip(&c.tokens) {
        let seq = c.store.acked_through(edge).await?.map_or(0, |s| s.0) + 1;
        let event = protocol::Event {
            edge_id: edge.clone(),
            seq: Seq(seq),
            id: protocol::EventId(uuid::Uuid::now_v7()),
            at: chrono::Utc::now(),
            source: protocol::Source {
                device: Some("plc".into()),
                station: Some("st-10".into()),
            },
            kind: protocol::EventKind::ProductionReported {
                work_order: None,
                operation: None,
                good: 1,
                scrap: 0,
            },
        };
        let reply = http
            .post(format!("{}/api/v1/sync/events", c.url))
            .bearer_auth(token)
            .json(&protocol::EventBatch {
                protocol: protocol::PROTOCOL_VERSION,
                edge_id: edge.clone(),
                events: vec![event],
            })
            .send()
            .await?;
        if !reply.status().is_success() {
            bail!("reporting a part: {}", reply.status());
        }
    }
    Ok(())
}

/// `samples` GETs of `path` one after another, asked as `asked` says; only the GETs timed.
async fn timed_gets(
    c: &Central,
    path: &str,
    samples: usize,
    asked: Asked,
) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        match asked {
            Asked::Cold => {
                c.state.oee_runs().clear();
                c.store.forget_kept_runs().await?;
            }
            Asked::Restarted => c.state.oee_runs().clear(),
            Asked::WhileReporting => report_parts(c, &http).await?,
            Asked::Warm => {}
        }
        let t = Instant::now();
        let reply = http
            .get(format!("{}{path}", c.url))
            .bearer_auth(&c.admin)
            .send()
            .await?;
        let status = reply.status();
        let body = reply.bytes().await?;
        times.push(t.elapsed());
        if !status.is_success() {
            bail!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
        }
    }
    times.sort();
    Ok(times)
}

pub async fn oee(b: OeeBench) -> anyhow::Result<()> {
    // 1. Ingest with and without the projections, the same events, fresh centrals, three
    //    pairs alternating (a run varies by several percent on a shared VM): the medians.
    let per_edge = b.ingest_events / b.lines.max(1) as u64;
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for projections in [false, true, false, true, false, true] {
        central::store::sql::floor::set_projections_for_bench(projections);
        let c = Central::start(b.lines, per_edge as usize).await?;
        let now = chrono::Utc::now();
        let elapsed = send_history(&c, per_edge, now - chrono::Duration::days(1), now).await?;
        let rate = (per_edge * b.lines as u64) as f64 / elapsed.as_secs_f64();
        if projections { &mut on } else { &mut off }.push(rate);
        c.stop().await;
    }
    central::store::sql::floor::set_projections_for_bench(true);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let runs = |v: &[f64]| v.iter().map(|r| r.round()).collect::<Vec<_>>();
    let (runs_off, runs_on) = (runs(&off), runs(&on));
    let (m_off, m_on) = (median(&mut off), median(&mut on));
    println!(
        "{}",
        json!({"bench": "oee_ingest", "edges": b.lines, "events": per_edge * b.lines as u64,
            "events_per_s_with_projections": m_on.round(), "runs_with": runs_on,
            "baseline_events_per_s_without_projections": m_off.round(), "runs_without": runs_off,
            "ratio": round3(m_on / m_off), "goal_ratio_at_least": 0.9})
    );

    // 2. A plant's history, then the pages' questions.
    let per_edge = b.history_events / b.lines.max(1) as u64;
    let c = Central::start(b.lines, per_edge as usize).await?;
    let http = reqwest::Client::new();
    c.plant_calendar(&http).await?;
    let now = chrono::Utc::now();
    eprintln!(
        "ingesting {} events over {} days…",
        per_edge * b.lines as u64,
        b.days
    );
    let took = send_history(&c, per_edge, now - chrono::Duration::days(b.days), now).await?;
    eprintln!("ingested in {:.0} s", took.as_secs_f64());
    let month = format!(
        "/api/v1/floor/oee?plant=default&by=day&from={}",
        (now - chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let week = format!(
        "/api/v1/floor/oee?plant=default&by=shift&from={}",
        (now - chrono::Duration::days(7)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let stops = format!(
        "/api/v1/floor/losses?plant=default&kind=down&from={}",
        (now - chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let scrap = stops.replace("kind=down", "kind=scrap");
    let mut figures = json!({"bench": "oee_pages", "lines": b.lines, "days": b.days,
        "events": per_edge * b.lines as u64, "samples": b.samples});
    // Each OEE figure four ways: with nothing kept (cold), with only the database's kept
    // figures (after a restart), as pages ask one after another (warm), and warm with every
    // edge reporting between pages.
    for (name, path, asked) in [
        ("healthz_baseline", "/healthz".to_owned(), Asked::Warm),
        (
            "board",
            "/api/v1/floor/board?plant=default".to_owned(),
            Asked::Warm,
        ),
        ("oee_30_days_by_day_cold", month.clone(), Asked::Cold),
        (
            "oee_30_days_by_day_after_restart",
            month.clone(),
            Asked::Restarted,
        ),
        ("oee_30_days_by_day", month.clone(), Asked::Warm),
        (
            "oee_30_days_by_day_while_reporting",
            month,
            Asked::WhileReporting,
        ),
        ("oee_7_days_by_shift_cold", week.clone(), Asked::Cold),
        (
            "oee_7_days_by_shift_after_restart",
            week.clone(),
            Asked::Restarted,
        ),
        ("oee_7_days_by_shift", week, Asked::Warm),
        // What a Pareto bar of the month leads to: every stop of the plant, and its scrap.
        ("stops_30_days", stops, Asked::Warm),
        ("scrap_30_days", scrap, Asked::Warm),
    ] {
        let times = timed_gets(&c, &path, b.samples, asked).await?;
        figures[format!("{name}_p50_ms")] = json!(round3(percentile(&times, 0.5)));
        figures[format!("{name}_p95_ms")] = json!(round3(percentile(&times, 0.95)));
    }
    figures["goal_p95_ms"] = json!(300);
    println!("{figures}");

    // 3. Live pages.
    let latencies = live_pages(&c, b.pages, b.rounds).await?;
    println!(
        "{}",
        json!({"bench": "oee_live", "pages": b.pages, "rounds": b.rounds,
            "stations_on_the_board": b.lines,
            "p50_ms": round3(percentile(&latencies, 0.5)),
            "p99_ms": round3(percentile(&latencies, 0.99)),
            "max_ms": round3(percentile(&latencies, 1.0)),
            "goal_p99_ms": 1000})
    );
    c.stop().await;
    Ok(())
}

/// Opens `pages` live feeds of the plant, then `rounds` times: an edge reports a stop with a
/// reason new to this round, and each page's time until a board shows it. The latencies,
/// sorted.
async fn live_pages(c: &Central, pages: usize, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::new();
    let (tx, _) = tokio::sync::broadcast::channel::<(String, Instant)>(16);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    let mut tasks = tokio::task::JoinSet::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for _ in 0..pages {
        let mut reply = http
            .get(format!("{}/api/v1/floor/live?plant=default", c.url))
            .bearer_auth(&c.admin)
            .send()
            .await?;
        if !reply.status().is_success() {
            bail!("live: {}", reply.status());
        }
        let mut rounds_rx = tx.subscribe();
        let (done, ready) = (done_tx.clone(), ready_tx.clone());
        tasks.spawn(async move {
            let mut text = String::new();
            let mut waiting: Option<(String, Instant)> = None;
            let mut first = true;
            loop {
                tokio::select! {
                    round = rounds_rx.recv() => match round {
                        Ok(r) => waiting = Some(r),
                        Err(_) => return anyhow::Ok(()),
                    },
                    chunk = reply.chunk() => {
                        let Some(chunk) = chunk? else { return anyhow::Ok(()) };
                        text.push_str(&String::from_utf8_lossy(&chunk));
                        while let Some(end) = text.find("\n\n") {
                            let block: String = text.drain(..end + 2).collect();
                            if first {
                                first = false;
                                let _ = ready.send(());
                            }
                            let Some((marker, sent)) = &waiting else { continue };
                            if block.contains(&format!("\"reason\":\"{marker}\"")) {
                                let _ = done.send(sent.elapsed());
                                waiting = None;
                            }
                        }
                    }
                }
            }
        });
    }
    for _ in 0..pages {
        ready_rx.recv().await.context("a live page ended early")?;
    }
    let edge = c.ids[0].clone();
    let token = c.tokens[0].clone();
    let mut seq = c.store.acked_through(&edge).await?.map_or(0, |s| s.0);
    let mut latencies = Vec::with_capacity(pages * rounds);
    for round in 0..rounds {
        let marker = format!("BENCH-{round}");
        seq += 1;
        let event = protocol::Event {
            edge_id: edge.clone(),
            seq: Seq(seq),
            id: protocol::EventId(uuid::Uuid::now_v7()),
            at: chrono::Utc::now(),
            source: protocol::Source {
                device: Some("plc".into()),
                station: Some("st-10".into()),
            },
            kind: EventKind::MachineStateChanged {
                state: MachineState::Down,
                reason: Some(marker.clone()),
            },
        };
        let sent = Instant::now();
        let _ = tx.send((marker, sent));
        let reply = http
            .post(format!("{}/api/v1/sync/events", c.url))
            .bearer_auth(&token)
            .json(&protocol::EventBatch {
                protocol: protocol::PROTOCOL_VERSION,
                edge_id: edge.clone(),
                events: vec![event],
            })
            .send()
            .await?;
        if !reply.status().is_success() {
            bail!("live round {round}: {}", reply.status());
        }
        for _ in 0..pages {
            let latency = tokio::time::timeout(Duration::from_secs(30), done_rx.recv())
                .await
                .context("a live page did not show the stop within 30 s")?
                .context("the live pages ended")?;
            latencies.push(latency);
        }
    }
    drop(tx);
    tasks.abort_all();
    latencies.sort();
    Ok(latencies)
}
