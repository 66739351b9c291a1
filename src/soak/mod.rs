//! `mes soak`: the delivery promise (every fact reaches central once, in order, through any
//! crash) tested thousands of times against the real binaries (issue 14).
//!
//! Each scenario starts its own central (`mes central`, this binary), an edge (`mes edge`)
//! and whatever else it needs, then breaks things at random moments for its count of cycles:
//!
//! - `edge-kills`: the edge killed with SIGKILL 20-300 ms after each start while a simulated
//!   line produces; after every kill the journal must be contiguous and its acked seq within
//!   what central acknowledged;
//! - `link-cuts`: the link cut by a fault-injecting TCP proxy in this process (`proxy.rs`):
//!   connections reset, or a black hole that accepts and never answers, for 0.2-5 s;
//! - `central-kills`: central killed with SIGKILL while the edge drains a backlog into it;
//! - `broker-restarts`: the edge reads numbered QoS 1 messages from a Mosquitto this process
//!   starts; the broker is stopped and started again while traffic is in flight. Every
//!   message the publisher got a PUBACK for must be in central exactly once.
//!
//! Every scenario ends the same way: the edge started once more without sources until central
//! acknowledged its whole journal, stopped, and its journal compared with central's events
//! event by event (`compare.rs`): lost, duplicated, mismatched.

mod compare;
mod procs;
mod proxy;
mod publisher;

use anyhow::{Context, bail};
use compare::Tally;
use procs::{Central, EdgeHome, Mosquitto};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The scenarios, by the names `--only` takes.
const SCENARIOS: [&str; 4] = [
    "edge-kills",
    "link-cuts",
    "central-kills",
    "broker-restarts",
];

#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// Edge processes killed with SIGKILL (issue 14's full run: 1000).
    #[arg(long, default_value_t = 1000)]
    edge_kills: u32,
    /// Cuts of the edge's link to central (full run: 200).
    #[arg(long, default_value_t = 200)]
    link_cuts: u32,
    /// Central processes killed with SIGKILL mid-ingest (full run: 100).
    #[arg(long, default_value_t = 100)]
    central_kills: u32,
    /// Restarts of the MQTT broker with QoS 1 traffic in flight (full run: 100).
    #[arg(long, default_value_t = 100)]
    broker_restarts: u32,
    /// Run only these scenarios (comma-separated: edge-kills, link-cuts, central-kills,
    /// broker-restarts); the others are skipped whatever their count.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Shortest and longest link cut.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    cut_min: Duration,
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    cut_max: Duration,
    /// Seed of every random choice (printed; a fresh one if absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Passed to `mes central` as `--store VALUE` (e.g. `postgres://…`); central's default
    /// store (SQLite in its data directory) if absent.
    #[arg(long)]
    central_store: Option<String>,
    /// The `mosquitto` binary (default: found on PATH or in /usr/sbin).
    #[arg(long)]
    mosquitto: Option<PathBuf>,
    /// Directory for the processes' data and logs (kept); a temporary one removed after a
    /// clean run if absent.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write the summary as a markdown table (for RELIABILITY.md) to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    protocol::duration::parse(s).map_err(|e| e.to_string())
}

/// One scenario's result.
#[derive(Debug, Serialize)]
struct ScenarioReport {
    scenario: &'static str,
    cycles: u32,
    #[serde(flatten)]
    tally: Tally,
    /// Invariants broken between cycles (a journal with a gap, an ack the edge recorded that
    /// central never gave); each is named in `problems`.
    violations: u64,
    wall_s: f64,
    /// What the cycles hit, scenario by scenario (kills with a batch in flight, cuts of each
    /// kind, ...).
    notes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct Summary {
    date: String,
    machine: String,
    seed: u64,
    command: String,
    central_store: String,
    cycles: u64,
    events: u64,
    lost: u64,
    duplicated: u64,
    mismatched: u64,
    violations: u64,
    wall_s: f64,
    scenarios: Vec<ScenarioReport>,
}

struct Ctx {
    mes: PathBuf,
    root: PathBuf,
    admin_token: String,
    store: Option<String>,
    rng: StdRng,
    http: reqwest::Client,
}

pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    for name in &args.only {
        if !SCENARIOS.contains(&name.as_str()) {
            bail!(
                "--only {name:?}: the scenarios are {}",
                SCENARIOS.join(", ")
            );
        }
    }
    if args.cut_min > args.cut_max || args.cut_min.is_zero() {
        bail!("--cut-min must be above zero and at most --cut-max");
    }
    let selected = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let seed = args.seed.unwrap_or_else(rand::random);
    println!("soak: seed {seed} (replay with --seed {seed})");
    let mut temp = None;
    let root = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            let t = tempfile::Builder::new().prefix("mes-soak-").tempdir()?;
            let path = t.path().to_owned();
            temp = Some(t);
            path
        }
    };
    let mut ctx = Ctx {
        mes: std::env::current_exe().context("the path of this binary")?,
        root: root.clone(),
        admin_token: format!("soak-admin-{}", uuid::Uuid::new_v4().simple()),
        store: args.central_store.clone(),
        rng: StdRng::seed_from_u64(seed),
        http: procs::http_client(),
    };
    let started = Instant::now();
    let mut reports = Vec::new();
    if selected("edge-kills") && args.edge_kills > 0 {
        reports.push(edge_kills(&mut ctx, args.edge_kills).await?);
    }
    if selected("link-cuts") && args.link_cuts > 0 {
        reports.push(link_cuts(&mut ctx, args.link_cuts, args.cut_min, args.cut_max).await?);
    }
    if selected("central-kills") && args.central_kills > 0 {
        reports.push(central_kills(&mut ctx, args.central_kills).await?);
    }
    if selected("broker-restarts") && args.broker_restarts > 0 {
        let binary = Mosquitto::find(args.mosquitto.as_deref())?;
        reports.push(broker_restarts(&mut ctx, args.broker_restarts, binary).await?);
    }
    let mut total = Tally::default();
    let mut violations = 0u64;
    let mut cycles = 0u64;
    for r in &reports {
        total.add(&r.tally);
        violations += r.violations;
        cycles += u64::from(r.cycles);
    }
    let summary = Summary {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        machine: machine(),
        seed,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        central_store: args
            .central_store
            .clone()
            .map_or_else(|| "sqlite (default)".to_owned(), |s| redact(&s)),
        cycles,
        events: total.events,
        lost: total.lost,
        duplicated: total.duplicated,
        mismatched: total.mismatched,
        violations,
        wall_s: round1(started.elapsed().as_secs_f64()),
        scenarios: reports,
    };
    let json = serde_json::to_string(&summary)?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, markdown(&summary))
            .with_context(|| format!("write {}", path.display()))?;
    }
    for r in &summary.scenarios {
        for p in &r.tally.problems {
            println!("soak: {}: {p}", r.scenario);
        }
    }
    println!(
        "soak: {} cycles, {} events, {} lost, {} duplicated, {} mismatched, {} violations in {:.1} s",
        summary.cycles,
        summary.events,
        summary.lost,
        summary.duplicated,
        summary.mismatched,
        summary.violations,
        summary.wall_s
    );
    println!("{json}");
    if !total.is_clean() || violations > 0 {
        // Keep what the processes wrote, for reading the failure.
        if let Some(t) = &mut temp {
            t.disable_cleanup(true);
        }
        println!("soak: the processes' files are in {}", root.display());
        bail!("soak failed: the delivery promise was broken (see above)");
    }
    Ok(())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A store URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let auth = &url[scheme + 3..at];
            match auth.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `nproc`, the CPU model and the memory, as /proc says.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024 / 1024);
    format!("nproc {cpus}, {model}, {mem_gib} GiB")
}

fn markdown(s: &Summary) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "`{}` on {} (seed {}), central store {}, {}.\n\n",
        s.command, s.machine, s.seed, s.central_store, s.date
    ));
    out.push_str("| scenario | cycles | events | lost | duplicated | mismatched | violations | wall time | what the cycles hit |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in &s.scenarios {
        let notes: Vec<String> = r.notes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} |\n",
            r.scenario,
            r.cycles,
            r.tally.events,
            r.tally.lost,
            r.tally.duplicated,
            r.tally.mismatched,
            r.violations,
            r.wall_s,
            notes.join(", ")
        ));
    }
    out.push_str(&format!(
        "| **all** | {} | {} | {} | {} | {} | {} | {:.1} s | |\n",
        s.cycles, s.events, s.lost, s.duplicated, s.mismatched, s.violations, s.wall_s
    ));
    out
}

fn simulated(rng: &mut StdRng, cycle_ms: u64) -> String {
    format!(
        "\n[[sources]]\ntype = \"simulated\"\nmachines = 3\ncycle = \"{cycle_ms}ms\"\nseed = {}\n",
        rng.random::<u32>()
    )
}

fn ms(rng: &mut StdRng, range: std::ops::RangeInclusive<u64>) -> Duration {
    Duration::from_millis(rng.random_range(range))
}

/// Drains the edge, reads its journal and central's events, and compares them.
async fn finish(
    ctx: &Ctx,
    central: &Central,
    home: &mut EdgeHome,
) -> anyhow::Result<(Tally, Vec<protocol::Event>)> {
    let journal = home.drain(&ctx.http).await?;
    let held = central.events(&home.edge_id).await?;
    let tally = compare::journal_against_central(&home.edge_id, &journal, &held);
    Ok((tally, held))
}

struct Violations {
    n: u64,
    problems: Vec<String>,
}

impl Violations {
    fn new() -> Violations {
        Violations {
            n: 0,
            problems: Vec::new(),
        }
    }
    fn add(&mut self, text: String) {
        self.n += 1;
        eprintln!("soak: VIOLATION: {text}");
        if self.problems.len() < 20 {
            self.problems.push(text);
        }
    }
}

fn report(
    scenario: &'static str,
    cycles: u32,
    mut tally: Tally,
    violations: Violations,
    started: Instant,
    notes: serde_json::Value,
) -> ScenarioReport {
    tally.problems.extend(violations.problems);
    let report = ScenarioReport {
        scenario,
        cycles,
        tally,
        violations: violations.n,
        wall_s: round1(started.elapsed().as_secs_f64()),
        notes: match notes {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    };
    println!(
        "soak: {scenario}: {cycles} cycles, {} events, {} lost, {} duplicated, {} mismatched, {} violations in {:.1} s",
        report.tally.events,
        report.tally.lost,
        report.tally.duplicated,
        report.tally.mismatched,
        report.violations,
        report.wall_s
    );
    report
}

/// The edge killed with SIGKILL at random moments while a simulated line produces.
async fn edge_kills(ctx: &mut Ctx, n: u32) -> anyhow::Result<ScenarioReport> {
    let started = Instant::now();
    let dir = ctx.root.join("edge-kills");
    let central = Central::start(
        &ctx.mes,
        &dir.join("central"),
        ctx.store.as_deref(),
        &ctx.admin_token,
    )
    .await?;
    let edge_id = "soak-edge-kills";
    let token = central.create_edge(edge_id).await?;
    let mut home = EdgeHome::new(
        &ctx.mes,
        &dir.join("edge"),
        edge_id,
        &token,
        &central.url(),
        50,
    )?;
    let journal = home.journal_path();
    let mut violations = Violations::new();
    let (mut ack_in_flight, mut backlog_at_kill) = (0u32, 0u32);
    for kill in 1..=n {
        let sources = simulated(&mut ctx.rng, 5);
        let mut edge = home.spawn(&sources)?;
        // The random moment: the edge may be opening its journal, producing, shipping a batch
        // or recording an ack. Not a synchronisation.
        tokio::time::sleep(ms(&mut ctx.rng, 20..=300)).await;
        edge.proc.kill();
        let (first, last, rows, acked) = procs::journal_summary(&journal)
            .with_context(|| format!("kill {kill}: the journal is unreadable"))?;
        if rows > 0 && (first != 1 || rows != last - first + 1) {
            violations.add(format!(
                "kill {kill}: the journal holds {rows} rows for seqs {first}..={last}"
            ));
        }
        let central_acked = central.acked_seq(edge_id).await.unwrap_or(0);
        if acked > central_acked {
            violations.add(format!(
                "kill {kill}: the journal records ack {acked}, central acknowledged {central_acked}"
            ));
        }
        if central_acked > last {
            violations.add(format!(
                "kill {kill}: central acknowledged {central_acked}, the journal holds {last}"
            ));
        }
        if central_acked > acked {
            ack_in_flight += 1;
        }
        if last > central_acked {
            backlog_at_kill += 1;
        }
        if kill % 100 == 0 {
            println!(
                "soak: edge-kills: {kill}/{n}, journal at seq {last}, central acked {central_acked}"
            );
        }
    }
    let (tally, _) = finish(ctx, &central, &mut home).await?;
    Ok(report(
        "edge-kills",
        n,
        tally,
        violations,
        started,
        serde_json::json!({
            "kills_with_an_ack_in_flight": ack_in_flight,
            "kills_with_a_backlog": backlog_at_kill,
        }),
    ))
}

/// The link cut through the proxy: resets and black holes of 0.2-5 s.
async fn link_cuts(
    ctx: &mut Ctx,
    n: u32,
    cut_min: Duration,
    cut_max: Duration,
) -> anyhow::Result<ScenarioReport> {
    let started = Instant::now();
    let dir = ctx.root.join("link-cuts");
    let central = Central::start(
        &ctx.mes,
        &dir.join("central"),
        ctx.store.as_deref(),
        &ctx.admin_token,
    )
    .await?;
    let proxy = proxy::Proxy::start(central.addr).await?;
    let edge_id = "soak-link-cuts";
    let token = central.create_edge(edge_id).await?;
    let url = format!("http://{}", proxy.addr);
    let mut home = EdgeHome::new(&ctx.mes, &dir.join("edge"), edge_id, &token, &url, 50)?;
    let sources = simulated(&mut ctx.rng, 5);
    let mut edge = home.spawn(&sources)?;
    edge.wait_ready().await?;
    let (mut resets, mut black_holes, mut cut_ms) = (0u32, 0u32, 0u128);
    // Cuts during which central stored a batch whose answer the cut then lost (read from
    // central directly, past the proxy): the edge must send that batch again.
    let mut stored_during = 0u32;
    for cut in 1..=n {
        // Traffic flows for a while, then the link goes.
        tokio::time::sleep(ms(&mut ctx.rng, 100..=1000)).await;
        let before = central.acked_seq(edge_id).await.unwrap_or(0);
        let mode = if ctx.rng.random_bool(0.5) {
            resets += 1;
            proxy::Mode::Reset
        } else {
            black_holes += 1;
            proxy::Mode::BlackHole
        };
        let length = Duration::from_millis(
            ctx.rng
                .random_range(cut_min.as_millis() as u64..=cut_max.as_millis() as u64),
        );
        proxy.set(mode);
        tokio::time::sleep(length).await;
        if central.acked_seq(edge_id).await.unwrap_or(0) > before {
            stored_during += 1;
        }
        proxy.set(proxy::Mode::Pass);
        cut_ms += length.as_millis();
        if let Some(status) = edge.proc.exited() {
            bail!(
                "link-cuts: the edge exited with {status} at cut {cut}:\n{}",
                procs::tail(&edge.proc.log_text())
            );
        }
        if cut % 20 == 0 {
            println!("soak: link-cuts: {cut}/{n}");
        }
    }
    edge.proc.terminate().await?;
    let (tally, _) = finish(ctx, &central, &mut home).await?;
    Ok(report(
        "link-cuts",
        n,
        tally,
        Violations::new(),
        started,
        serde_json::json!({
            "resets": resets,
            "black_holes": black_holes,
            "cut_seconds": round1(cut_ms as f64 / 1000.0),
            "cuts_with_a_batch_stored_but_its_answer_cut": stored_during,
        }),
    ))
}

/// Central killed with SIGKILL while the edge drains into it.
async fn central_kills(ctx: &mut Ctx, n: u32) -> anyhow::Result<ScenarioReport> {
    let started = Instant::now();
    let dir = ctx.root.join("central-kills");
    let mut central = Central::start(
        &ctx.mes,
        &dir.join("central"),
        ctx.store.as_deref(),
        &ctx.admin_token,
    )
    .await?;
    let edge_id = "soak-central-kills";
    let token = central.create_edge(edge_id).await?;
    // Small batches: the backlog built while central is down drains in many requests.
    let mut home = EdgeHome::new(
        &ctx.mes,
        &dir.join("edge"),
        edge_id,
        &token,
        &central.url(),
        20,
    )?;
    let sources = simulated(&mut ctx.rng, 5);
    let mut edge = home.spawn(&sources)?;
    edge.wait_ready().await?;
    let mut violations = Violations::new();
    let mut mid_ingest = 0u32;
    let mut acked_at_start = central.acked_seq(edge_id).await.unwrap_or(0);
    for kill in 1..=n {
        tokio::time::sleep(ms(&mut ctx.rng, 20..=300)).await;
        let acked = central.acked_seq(edge_id).await.unwrap_or(0);
        if acked > acked_at_start {
            mid_ingest += 1;
        }
        central.kill();
        central.launch().await?;
        let after = central.acked_seq(edge_id).await.unwrap_or(0);
        if after < acked {
            violations.add(format!(
                "kill {kill}: central acknowledged {acked} before the kill and {after} after the restart"
            ));
        }
        acked_at_start = after;
        if kill % 20 == 0 {
            println!("soak: central-kills: {kill}/{n}, central acked {after}");
        }
    }
    edge.proc.terminate().await?;
    let (tally, _) = finish(ctx, &central, &mut home).await?;
    central.terminate().await?;
    Ok(report(
        "central-kills",
        n,
        tally,
        violations,
        started,
        serde_json::json!({ "kills_while_central_was_acknowledging": mid_ingest }),
    ))
}

/// The characteristic the edge's MQTT rule gives the numbered messages.
const MQTT_CHARACTERISTIC: &str = "soak-message";

/// The MQTT broker stopped and started again with QoS 1 traffic in flight.
async fn broker_restarts(ctx: &mut Ctx, n: u32, binary: PathBuf) -> anyhow::Result<ScenarioReport> {
    let started = Instant::now();
    let dir = ctx.root.join("broker-restarts");
    let central = Central::start(
        &ctx.mes,
        &dir.join("central"),
        ctx.store.as_deref(),
        &ctx.admin_token,
    )
    .await?;
    let edge_id = "soak-broker-restarts";
    let token = central.create_edge(edge_id).await?;
    let mut broker = Mosquitto::start(binary, &dir.join("mosquitto")).await?;
    let mut home = EdgeHome::new(
        &ctx.mes,
        &dir.join("edge"),
        edge_id,
        &token,
        &central.url(),
        100,
    )?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    // The same client id on every connection: the broker keeps the session and the messages
    // not yet acknowledged while the edge is away. A short reconnect policy, so that each
    // restart is followed by traffic rather than by the edge's growing wait.
    let sources = format!(
        r#"
[[sources]]
type = "mqtt"
broker = "mqtt://{broker}"
client_id = "soak-{run}"
keep_alive = "5s"
inflight = 20
reconnect_max = "500ms"
[[sources.rules]]
topic = "soak/{run}/+"
device = "{{1}}"
payload = "plain"
yields = "measurement"
characteristic = "{MQTT_CHARACTERISTIC}"
unit = "n"
"#,
        broker = broker.addr
    );
    let mut edge = home.spawn(&sources)?;
    edge.wait_ready().await?;
    let journal = home.journal_path();
    // Messages published before the edge subscribed have no session to wait in: publish a
    // warm-up (number 0, not counted) until the edge has committed one.
    {
        let warm = publisher::Publisher::start(
            broker.addr,
            format!("soak-warm-{run}"),
            format!("soak/{run}/warmup"),
            Duration::from_millis(50),
            Some("0"),
        );
        let start = Instant::now();
        while procs::journal_summary(&journal)?.1 == 0 {
            if start.elapsed() > procs::DEADLINE {
                bail!(
                    "broker-restarts: the edge committed no message within {:?}:\n{}",
                    procs::DEADLINE,
                    procs::tail(&edge.proc.log_text())
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        warm.stop().await;
    }
    let publisher = publisher::Publisher::start(
        broker.addr,
        format!("soak-pub-{run}"),
        format!("soak/{run}/press"),
        Duration::from_millis(2),
        None,
    );
    let mut waited_for_traffic = 0u32;
    for restart in 1..=n {
        // Traffic in flight: wait until the edge has committed something since the last
        // restart, then let it run a random while.
        let (_, at_restart, _, _) = procs::journal_summary(&journal)?;
        let start = Instant::now();
        while procs::journal_summary(&journal)?.1 <= at_restart {
            if start.elapsed() > procs::DEADLINE {
                bail!(
                    "broker-restarts: no message reached the edge within {:?} of restart {restart}",
                    procs::DEADLINE
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        waited_for_traffic += 1;
        tokio::time::sleep(ms(&mut ctx.rng, 20..=300)).await;
        broker.stop().await?;
        broker.run().await?;
        if let Some(status) = edge.proc.exited() {
            bail!(
                "broker-restarts: the edge exited with {status} at restart {restart}:\n{}",
                procs::tail(&edge.proc.log_text())
            );
        }
        if restart % 20 == 0 {
            println!("soak: broker-restarts: {restart}/{n}");
        }
    }
    let published = publisher.stop().await;
    // Every acknowledged message reaches the edge once the broker has handed over its queue:
    // wait until central holds them all (or the deadline, then the comparison says what is
    // missing).
    let start = Instant::now();
    while start.elapsed() < procs::DEADLINE {
        let have: std::collections::HashSet<u64> = message_numbers(&central.events(edge_id).await?)
            .into_iter()
            .collect();
        if published.acked.iter().all(|n| have.contains(n)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    edge.proc.terminate().await?;
    let (mut tally, held) = finish(ctx, &central, &mut home).await?;
    let by_message =
        compare::acked_messages_against_central(&published.acked, &message_numbers(&held));
    // Events are the journal's; the messages are counted in the notes.
    tally.lost += by_message.lost;
    tally.duplicated += by_message.duplicated;
    tally.problems.extend(by_message.problems);
    broker.stop().await?;
    Ok(report(
        "broker-restarts",
        n,
        tally,
        Violations::new(),
        started,
        serde_json::json!({
            "messages_sent": published.sent,
            "messages_acked_by_broker": published.acked.len(),
            "restarts_with_traffic_flowing": waited_for_traffic,
        }),
    ))
}

/// The message numbers of the soak's MQTT measurements (the warm-up's 0 left out).
fn message_numbers(events: &[protocol::Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            protocol::EventKind::Measurement {
                characteristic,
                value,
                ..
            } if characteristic == MQTT_CHARACTERISTIC
                && *value >= 1.0
                && value.fract() == 0.0
                && *value < 9.0e15 =>
            {
                Some(*value as u64)
            }
            _ => None,
        })
        .collect()
}
