//! `mes bench scan` (issue 5): scan to committed to answer, p50 and p99, at a slow rate (one
//! scan per second: an operator) and a fast one (200 per second: a busy receiving dock), with
//! the journal commit alone and a bare HTTP round trip measured in the same run as baselines.
//!
//! One edge runs in this process with a plan (one work order at `st-10` whose component
//! `STEEL-2MM` has no quantity limit, so issues never run out) and a listening scanner source
//! with `ack`/`nak`; central is unreachable, as scanning never needs it. Per durability
//! (`normal`, the default, and `full`, fsync per commit):
//!
//! ```text
//!  path            what is timed, from the scheduled send time
//!  journal_commit  JournalHandle::append of one event (a separate journal, same durability)
//!  healthz         GET /healthz on the edge, body read (keep-alive client); the handler asks
//!                  the journal's writer for its stats, so this is an HTTP round trip plus
//!                  one trip through the journal's queue, without a commit
//!  http_scan       POST /api/v1/scans {station, code}, answer read and checked
//!  tcp_scan        code + CRLF on a scanner connection, until its ack/nak byte arrives
//! ```
//!
//! Load is open-loop: send `i` is scheduled at `start + i / rate` whether or not earlier ones
//! were answered, and its latency runs from that scheduled time, so a stall shows up in every
//! scan it delays (no coordinated omission). HTTP sends are each their own task (the client
//! opens more connections when one is busy); scanner codes go round-robin over several
//! connections, written on schedule and answered in order per connection, as a real scanner
//! sends on the trigger and beeps on the reply. At the slow rate the four paths run
//! interleaved (a quarter second apart), so they see the same machine; at the fast rate one
//! after the other. Every tenth code is a wrong item (refused, the refusal committed too).
//! Lots are distinct, so each accepted scan issues a new one.
//!
//! The bench fails unless the edge's journal holds exactly one `MaterialIssued` per accepted
//! scan and one `ScanRejected` per wrong one, and every answer (HTTP result, ack or nak byte)
//! is the one expected.

use super::{edge_toml, percentile, round3};
use anyhow::{Context, bail, ensure};
use edge_agent::journal::{self, Durability, JournalConfig, JournalHandle};
use protocol::{EdgeId, EventKind, Plan, PlanOperation, PlanVersion, PlanWorkOrder, Seq};
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const EDGE: &str = "bench-scan";
const STATION: &str = "st-10";
const SCANNER: &str = "bench-scanner";
const ACK: u8 = 0x06;
const NAK: u8 = 0x15;
/// Longest a phase may take beyond its schedule before the bench gives up (a hung edge must
/// fail the bench, not stall it).
const GRACE: Duration = Duration::from_secs(60);

/// What one run measures.
#[derive(Debug, Clone)]
pub struct ScanBench {
    /// Sends per path at `slow_rate`.
    pub slow_samples: usize,
    pub slow_rate: f64,
    /// Sends per path at `fast_rate`.
    pub fast_samples: usize,
    pub fast_rate: f64,
    pub durabilities: Vec<Durability>,
    /// Scanner connections the TCP path spreads its codes over.
    pub connections: usize,
}

/// The four timed paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path4 {
    JournalCommit,
    Healthz,
    HttpScan,
    TcpScan,
}

impl Path4 {
    const ALL: [Path4; 4] = [
        Path4::JournalCommit,
        Path4::Healthz,
        Path4::HttpScan,
        Path4::TcpScan,
    ];

    fn name(self) -> &'static str {
        match self {
            Path4::JournalCommit => "journal_commit",
            Path4::Healthz => "healthz",
            Path4::HttpScan => "http_scan",
            Path4::TcpScan => "tcp_scan",
        }
    }
}

/// One path at one rate and durability.
#[derive(Debug, Clone)]
pub struct Row {
    pub durability: Durability,
    pub rate: f64,
    pub path: Path4,
    /// Latencies from the scheduled send to the answer, sorted.
    pub latencies: Vec<Duration>,
    /// Answers per second, first to last answer.
    pub achieved_per_s: f64,
    /// p99 of the first and of the second half of the sends (in send order), in ms: a path
    /// whose cost grows with what was scanned before shows it here.
    pub p99_halves_ms: (f64, f64),
}

/// What the journal held after one durability's run, against what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub issued: u64,
    pub rejected: u64,
}

/// Latencies of one open-loop run, with when the first and last answers came.
struct Run {
    latencies: Vec<Duration>,
    p99_halves_ms: (f64, f64),
    first_done: Instant,
    last_done: Instant,
}

impl Run {
    fn achieved_per_s(&self) -> f64 {
        let span = (self.last_done - self.first_done).as_secs_f64();
        if self.latencies.len() < 2 || span <= 0.0 {
            return 0.0;
        }
        (self.latencies.len() - 1) as f64 / span
    }
}

fn at(start: Instant, i: usize, rate: f64) -> Instant {
    start + Duration::from_secs_f64(i as f64 / rate)
}

/// Runs `op(i)` for `i in 0..n`, each started at its scheduled time on its own task whether
/// or not earlier ones have finished; each latency runs from the scheduled time.
async fn open_loop<F, Fut>(n: usize, rate: f64, start: Instant, op: F) -> anyhow::Result<Run>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let scheduled = at(start, i, rate);
        tokio::time::sleep_until(scheduled).await;
        let fut = op(i);
        tasks.spawn(async move {
            fut.await.with_context(|| format!("send {i}"))?;
            anyhow::Ok((scheduled, Instant::now()))
        });
    }
    let mut done = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        done.push(joined??);
    }
    finish(done)
}

fn finish(mut done: Vec<(Instant, Instant)>) -> anyhow::Result<Run> {
    done.sort();
    let half = |part: &[(Instant, Instant)]| {
        let mut l: Vec<Duration> = part.iter().map(|(s, d)| *d - *s).collect();
        l.sort();
        percentile(&l, 0.99)
    };
    let (first, second) = done.split_at(done.len() / 2);
    let p99_halves_ms = (half(first), half(second));
    let first_done = done.iter().map(|d| d.1).min().context("no sends")?;
    let last_done = done.iter().map(|d| d.1).max().context("no sends")?;
    let mut latencies: Vec<Duration> = done.iter().map(|(s, d)| *d - *s).collect();
    latencies.sort();
    Ok(Run {
        latencies,
        p99_halves_ms,
        first_done,
        last_done,
    })
}

/// Whether send `i` is a wrong item (every tenth): refused, and the refusal committed.
fn is_wrong(i: usize) -> bool {
    i % 10 == 9
}

/// The code of send `i` in a run tagged `tag` (distinct lots across runs).
fn code(tag: &str, i: usize) -> String {
    if is_wrong(i) {
        format!("(92)BOLT-M8(93)B-{tag}-{i:06}(94)100pcs")
    } else {
        format!("(92)STEEL-2MM(93)L-{tag}-{i:06}(94)1kg")
    }
}

/// The bench terminal's key.
const TERMINAL_KEY: &str = "bench-terminal-key-0123456789abcdef01";

/// An HTTP client that acts as the station's paired terminal.
fn terminal_client() -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {TERMINAL_KEY}"))?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

/// One work order at the station; its one component allowed without a quantity limit.
fn plan() -> Plan {
    Plan {
        edge_id: EDGE.into(),
        version: PlanVersion(1),
        published_at: chrono::Utc::now(),
        epoch: None,
        work_orders: vec![PlanWorkOrder {
            work_order: "WO-BENCH".into(),
            item: "BRACKET".into(),
            qty: rust_decimal::Decimal::new(1_000_000, 0),
            uom: "pcs".into(),
            due: chrono::Utc::now().date_naive(),
            priority: 1,
            operations: vec![PlanOperation {
                operation: 10,
                description: "stamp".into(),
                station: Some(STATION.into()),
                allowed_components: vec!["STEEL-2MM".into()],
                components: Vec::new(),
                skill: None,
            }],
            plc_parameters: Default::default(),
            on_hold: false,
            made_for: Vec::new(),
        }],
        lots: Vec::new(),
        gtins: Default::default(),
        operators: vec![protocol::PlanOperator {
            badge: "10442".into(),
            name: "Li Wei".into(),
            skills: Vec::new(),
            pin_hash: None,
        }],
        rules: None,
        shipments: Vec::new(),
        requisitions: Vec::new(),
    }
}

fn durability_name(d: Durability) -> &'static str {
    match d {
        Durability::Normal => "normal",
        Durability::Full => "full",
    }
}

/// `normal,full` → both.
pub fn parse_durabilities(s: &str) -> anyhow::Result<Vec<Durability>> {
    s.split(',')
        .map(|d| match d.trim() {
            "normal" => Ok(Durability::Normal),
            "full" => Ok(Durability::Full),
            other => bail!("durability {other:?}: expected normal, full or normal,full"),
        })
        .collect()
}

/// An address where nothing listens: central is down for the whole bench.
fn dead_central() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}"))
}

/// Everything one durability's run talks to.
struct Target {
    edge: edge_agent::RunningEdge,
    /// The commit baseline's own journal (same durability as the edge's).
    baseline: JournalHandle,
    client: reqwest::Client,
    base_url: String,
    scanner: SocketAddr,
}

async fn start(dir: &Path, durability: Durability) -> anyhow::Result<Target> {
    // The line terminal that posts the HTTP scans (its key as a bearer credential).
    let source = format!(
        "\n[[terminals]]\nid = \"bench\"\nstations = [\"{STATION}\"]\nkey = \"{TERMINAL_KEY}\"\n\
         \n[[sources]]\ntype = \"scanner\"\nname = \"{SCANNER}\"\nstation = \"{STATION}\"\n\
         listen = \"127.0.0.1:0\"\nack = \"\\u0006\"\nnak = \"\\u0015\"\n"
    );
    let config = edge_agent::EdgeConfig::from_toml_str(&edge_toml(
        EDGE,
        &dead_central()?,
        "unused",
        &dir.join("edge.db"),
        durability_name(durability),
        &source,
    ))?;
    let j = journal::open(config.journal.journal_config(&config.edge_id))?;
    j.save_plan(&plan()).await?;
    j.shutdown().await?;
    let edge = edge_agent::start(config).await?;
    let scanner = listening_on(&edge).await?;
    let mut cfg = JournalConfig::new(dir.join("baseline.db"), EdgeId::from(EDGE));
    cfg.durability = durability;
    let baseline = journal::open(cfg)?;
    let base_url = format!("http://{}", edge.http_addr);
    Ok(Target {
        edge,
        baseline,
        client: terminal_client()?,
        base_url,
        scanner,
    })
}

/// The address the scanner source bound, from the edge's device status.
async fn listening_on(edge: &edge_agent::RunningEdge) -> anyhow::Result<SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let detail = edge
            .live
            .devices()
            .into_iter()
            .find(|d| d.device == SCANNER)
            .and_then(|d| d.detail);
        if let Some(addr) = detail
            .as_deref()
            .and_then(|d| d.strip_prefix("listening on "))
            .and_then(|d| d.split(';').next())
            .and_then(|a| a.parse().ok())
        {
            return Ok(addr);
        }
        ensure!(
            Instant::now() < deadline,
            "the scanner source did not start listening: {detail:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One scan over HTTP; checks the answer is the expected one.
async fn http_scan(
    client: reqwest::Client,
    url: String,
    code: String,
    accept: bool,
) -> anyhow::Result<()> {
    let reply = client
        .post(&url)
        .json(&json!({"station": STATION, "code": code}))
        .send()
        .await?;
    let status = reply.status();
    let body: serde_json::Value = reply.json().await?;
    ensure!(status.is_success(), "{code}: HTTP {status}: {body}");
    let want = if accept { "accepted" } else { "rejected" };
    ensure!(
        body["result"] == want,
        "{code}: expected {want}, the edge answered {body}"
    );
    Ok(())
}

impl Target {
    /// Signs an operator in and starts the work order: what a station does before issuing.
    async fn prepare(&self) -> anyhow::Result<()> {
        let url = format!("{}/api/v1/scans", self.base_url);
        for (code, action) in [("(96)10442", "signed_in"), ("]C191WO-BENCH", "started")] {
            let body: serde_json::Value = self
                .client
                .post(&url)
                .json(&json!({"station": STATION, "code": code}))
                .send()
                .await?
                .json()
                .await?;
            ensure!(body["action"] == action, "{code}: {body}");
        }
        Ok(())
    }

    /// One open-loop run of `path`: `n` sends at `rate` from `start`. `phase` keeps its lots
    /// apart from every other run's.
    async fn run(
        &self,
        path: Path4,
        n: usize,
        rate: f64,
        start: Instant,
        phase: &str,
        connections: usize,
    ) -> anyhow::Result<Run> {
        let tag = match path {
            Path4::TcpScan => format!("{phase}T"),
            _ => format!("{phase}H"),
        };
        let tag = tag.as_str();
        let deadline = Duration::from_secs_f64(n as f64 / rate) + GRACE;
        let run = async {
            match path {
                Path4::JournalCommit => {
                    let journal = self.baseline.clone();
                    open_loop(n, rate, start, move |i| {
                        let journal = journal.clone();
                        async move {
                            journal.append(vec![journal::bench::sample_body(i)]).await?;
                            Ok(())
                        }
                    })
                    .await
                }
                Path4::Healthz => {
                    let url = format!("{}/healthz", self.base_url);
                    let client = self.client.clone();
                    open_loop(n, rate, start, move |_| {
                        let request = client.get(&url).send();
                        async move {
                            request.await?.error_for_status()?.bytes().await?;
                            Ok(())
                        }
                    })
                    .await
                }
                Path4::HttpScan => {
                    let url = format!("{}/api/v1/scans", self.base_url);
                    let client = self.client.clone();
                    open_loop(n, rate, start, move |i| {
                        http_scan(client.clone(), url.clone(), code(tag, i), !is_wrong(i))
                    })
                    .await
                }
                Path4::TcpScan => {
                    tcp_open_loop(self.scanner, connections, n, rate, start, tag).await
                }
            }
        };
        tokio::time::timeout(deadline, run)
            .await
            .with_context(|| format!("{}: not answered within {deadline:?}", path.name()))?
    }

    /// Counts the scans' events in the edge's journal.
    async fn tally(&self) -> anyhow::Result<Tally> {
        let mut tally = Tally {
            issued: 0,
            rejected: 0,
        };
        let mut after = Seq::ZERO;
        loop {
            let rows = self.edge.journal.read_after(after, 10_000).await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for row in &rows {
                let event: protocol::Event = serde_json::from_str(&row.json)
                    .with_context(|| format!("journal event {}", row.seq.0))?;
                match event.kind {
                    EventKind::MaterialIssued { .. } => tally.issued += 1,
                    EventKind::ScanRejected { .. } => tally.rejected += 1,
                    _ => {}
                }
            }
        }
        Ok(tally)
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.edge.shutdown().await;
        self.baseline.shutdown().await?;
        Ok(())
    }
}

/// The scanner path: codes round-robin over `connections` scanner connections, each written
/// at its scheduled time without waiting for earlier replies; replies read in order per
/// connection and checked (ack for an accepted scan, nak for a wrong item).
async fn tcp_open_loop(
    addr: SocketAddr,
    connections: usize,
    n: usize,
    rate: f64,
    start: Instant,
    tag: &str,
) -> anyhow::Result<Run> {
    let connections = connections.clamp(1, n.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to the scanner source at {addr}"))?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    for (c, stream) in streams.into_iter().enumerate() {
        let (mut reader, mut writer) = stream.into_split();
        let (sent, mut answered) =
            tokio::sync::mpsc::unbounded_channel::<(Instant, bool, String)>();
        let mine: Vec<usize> = (c..n).step_by(connections).collect();
        let codes: Vec<String> = mine.iter().map(|&i| code(tag, i)).collect();
        let count = mine.len();
        tasks.spawn(async move {
            for (i, code) in mine.into_iter().zip(codes) {
                let scheduled = at(start, i, rate);
                tokio::time::sleep_until(scheduled).await;
                writer.write_all(format!("{code}\r\n").as_bytes()).await?;
                let _ = sent.send((scheduled, !is_wrong(i), code));
            }
            // Keep the connection open until the reader has every reply.
            anyhow::Ok((Vec::new(), Some(writer)))
        });
        tasks.spawn(async move {
            let mut done = Vec::with_capacity(count);
            for _ in 0..count {
                let (scheduled, accept, code) =
                    answered.recv().await.context("the writer stopped")?;
                let reply = reader
                    .read_u8()
                    .await
                    .with_context(|| format!("{code}: no reply from the edge"))?;
                let now = Instant::now();
                let want = if accept { ACK } else { NAK };
                ensure!(
                    reply == want,
                    "{code}: expected {want:#04x}, the edge replied {reply:#04x}"
                );
                done.push((scheduled, now));
            }
            anyhow::Ok((done, None))
        });
    }
    let mut done = Vec::with_capacity(n);
    let mut writers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (mut d, writer) = joined??;
        done.append(&mut d);
        writers.extend(writer);
    }
    drop(writers);
    finish(done)
}

/// The whole bench: every durability, both rates, all four paths. Fails unless the journal
/// holds exactly the scans' events. Returns the rows (slow rate first, paths in
/// [`Path4::ALL`] order) and each durability's tally.
pub async fn measure(bench: &ScanBench) -> anyhow::Result<(Vec<Row>, Vec<Tally>)> {
    let mut rows = Vec::new();
    let mut tallies = Vec::new();
    for &durability in &bench.durabilities {
        let dir = tempfile::tempdir()?;
        let target = start(dir.path(), durability).await?;
        target.prepare().await?;
        let mut sent_ok = 0u64;
        let mut sent_wrong = 0u64;
        let mut count = |path: Path4, n: usize| {
            if matches!(path, Path4::HttpScan | Path4::TcpScan) {
                let wrong = (0..n).filter(|&i| is_wrong(i)).count() as u64;
                sent_wrong += wrong;
                sent_ok += n as u64 - wrong;
            }
        };
        // Warm-up (not timed): connections made, pages cached, the processor's first scans.
        for path in Path4::ALL {
            target
                .run(path, 10, 100.0, Instant::now(), "W", bench.connections)
                .await?;
            count(path, 10);
        }
        let name = durability_name(durability);
        eprintln!(
            "scan bench ({name}): {} sends per path at {}/s, interleaved…",
            bench.slow_samples, bench.slow_rate
        );
        // Slow: the four paths interleaved, a quarter of the interval apart.
        let start = Instant::now() + Duration::from_millis(50);
        let offset = |k: u32| Duration::from_secs_f64(k as f64 / (4.0 * bench.slow_rate));
        let (commit, healthz, http, tcp) = tokio::try_join!(
            target.run(
                Path4::JournalCommit,
                bench.slow_samples,
                bench.slow_rate,
                start,
                "S",
                bench.connections
            ),
            target.run(
                Path4::Healthz,
                bench.slow_samples,
                bench.slow_rate,
                start + offset(1),
                "S",
                bench.connections
            ),
            target.run(
                Path4::HttpScan,
                bench.slow_samples,
                bench.slow_rate,
                start + offset(2),
                "S",
                bench.connections
            ),
            target.run(
                Path4::TcpScan,
                bench.slow_samples,
                bench.slow_rate,
                start + offset(3),
                "S",
                bench.connections
            ),
        )?;
        for (path, run) in Path4::ALL.into_iter().zip([commit, healthz, http, tcp]) {
            count(path, bench.slow_samples);
            rows.push(row(durability, bench.slow_rate, path, run));
        }
        // Fast: one path after the other.
        eprintln!(
            "scan bench ({name}): {} sends per path at {}/s, one path at a time…",
            bench.fast_samples, bench.fast_rate
        );
        for path in Path4::ALL {
            let start = Instant::now() + Duration::from_millis(50);
            let run = target
                .run(
                    path,
                    bench.fast_samples,
                    bench.fast_rate,
                    start,
                    "F",
                    bench.connections,
                )
                .await?;
            count(path, bench.fast_samples);
            rows.push(row(durability, bench.fast_rate, path, run));
        }
        let tally = target.tally().await?;
        target.stop().await?;
        if tally.issued != sent_ok || tally.rejected != sent_wrong {
            bail!(
                "{name}: the journal holds {} MaterialIssued and {} ScanRejected events; \
                 {sent_ok} accepted and {sent_wrong} wrong-item scans were sent",
                tally.issued,
                tally.rejected
            );
        }
        tallies.push(tally);
    }
    Ok((rows, tallies))
}

fn row(durability: Durability, rate: f64, path: Path4, run: Run) -> Row {
    Row {
        durability,
        rate,
        path,
        achieved_per_s: run.achieved_per_s(),
        p99_halves_ms: run.p99_halves_ms,
        latencies: run.latencies,
    }
}

/// `model name` from /proc/cpuinfo, if there is one.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Prints one JSON line per row (scan rows with their ratios to the commit baseline of the
/// same durability and rate), a table on stderr, and the machine line.
pub fn report(rows: &[Row], tallies: &[Tally]) {
    let find = |r: &Row, path: Path4| {
        rows.iter()
            .find(|b| b.durability == r.durability && b.rate == r.rate && b.path == path)
    };
    // The table goes to stderr after the JSON lines, so the two do not interleave.
    let mut table = vec![format!(
        "{:<8} {:>6} {:<15} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "journal",
        "rate/s",
        "path",
        "sends",
        "p50 ms",
        "p99 ms",
        "max ms",
        "got/s",
        "p50/commit",
        "p99/commit"
    )];
    for r in rows {
        let p50 = percentile(&r.latencies, 0.5);
        let p99 = percentile(&r.latencies, 0.99);
        let max = r
            .latencies
            .last()
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0);
        let mut line = json!({"bench":"scan_latency","durability":durability_name(r.durability),
            "rate_per_s":r.rate,"path":r.path.name(),"sends":r.latencies.len(),
            "p50_ms":round3(p50),"p99_ms":round3(p99),"max_ms":round3(max),
            "achieved_per_s":(r.achieved_per_s * 10.0).round() / 10.0,
            "p99_first_half_ms":round3(r.p99_halves_ms.0),
            "p99_second_half_ms":round3(r.p99_halves_ms.1)});
        let (mut r50, mut r99) = (String::new(), String::new());
        if let (Some(commit), Some(healthz)) =
            (find(r, Path4::JournalCommit), find(r, Path4::Healthz))
            && matches!(r.path, Path4::HttpScan | Path4::TcpScan)
        {
            let c50 = percentile(&commit.latencies, 0.5);
            let c99 = percentile(&commit.latencies, 0.99);
            line["baseline_commit_p50_ms"] = json!(round3(c50));
            line["baseline_commit_p99_ms"] = json!(round3(c99));
            line["ratio_p50"] = json!(round3(p50 / c50));
            line["ratio_p99"] = json!(round3(p99 / c99));
            line["added_p50_ms"] = json!(round3(p50 - c50));
            line["baseline_healthz_p50_ms"] = json!(round3(percentile(&healthz.latencies, 0.5)));
            line["baseline_healthz_p99_ms"] = json!(round3(percentile(&healthz.latencies, 0.99)));
            r50 = format!("{:.2}", p50 / c50);
            r99 = format!("{:.2}", p99 / c99);
        }
        println!("{line}");
        table.push(format!(
            "{:<8} {:>6} {:<15} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>9.1} {:>10} {:>10}",
            durability_name(r.durability),
            r.rate,
            r.path.name(),
            r.latencies.len(),
            p50,
            p99,
            max,
            r.achieved_per_s,
            r50,
            r99
        ));
    }
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let events: Vec<_> = tallies
        .iter()
        .map(|t| json!({"material_issued": t.issued, "scan_rejected": t.rejected}))
        .collect();
    println!(
        "{}",
        json!({"bench":"scan_latency_machine","nproc":nproc,"cpu":cpu_model(),
            "date":chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            "journal_checked":events})
    );
    eprintln!("{}", table.join("\n"));
}

pub async fn scan(bench: ScanBench) -> anyhow::Result<()> {
    ensure!(
        bench.slow_samples >= 2 && bench.fast_samples >= 2,
        "at least 2 sends per path and rate"
    );
    ensure!(
        bench.slow_rate > 0.0 && bench.fast_rate > 0.0,
        "rates must be above 0"
    );
    let (rows, tallies) = measure(&bench).await?;
    report(&rows, &tallies);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench's core at a tiny scale, so it cannot rot: every path answers every send,
    /// the answers are the expected ones, and the journal's count check passes. No timing
    /// is asserted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_scan_bench_runs_at_a_tiny_scale_and_checks_the_journal() {
        let bench = ScanBench {
            slow_samples: 3,
            slow_rate: 20.0,
            fast_samples: 12,
            fast_rate: 100.0,
            durabilities: vec![Durability::Normal],
            connections: 3,
        };
        let (rows, tallies) = measure(&bench).await.expect("the bench runs");
        assert_eq!(rows.len(), 8, "{rows:?}");
        for r in &rows {
            let want = if r.rate == 20.0 { 3 } else { 12 };
            assert_eq!(r.latencies.len(), want, "{:?} at {}", r.path, r.rate);
        }
        // Warm-up 10 + 3 + 12 per scan path, two scan paths; every tenth send a wrong item.
        let wrong = |n: usize| (0..n).filter(|&i| is_wrong(i)).count() as u64;
        let rejected = 2 * (wrong(10) + wrong(3) + wrong(12));
        assert_eq!(
            tallies,
            vec![Tally {
                issued: 2 * 25 - rejected,
                rejected
            }]
        );
        report(&rows, &tallies);
    }

    #[test]
    fn every_tenth_code_is_a_wrong_item_and_lots_are_distinct() {
        assert_eq!(code("X", 0), "(92)STEEL-2MM(93)L-X-000000(94)1kg");
        assert_eq!(code("X", 9), "(92)BOLT-M8(93)B-X-000009(94)100pcs");
        assert_ne!(code("SH", 1), code("ST", 1));
        assert!(parse_durabilities("normal,fsync").is_err());
        assert_eq!(
            parse_durabilities("normal,full").unwrap(),
            vec![Durability::Normal, Durability::Full]
        );
    }
}
