//! `mes bench memory-poll`: the edge's resident memory idle and while it polls simulated PLCs
//! (issue 11's small-gateway figure), measured in the same run.
//!
//! The edge runs as its own process (`mes bench edge-process`), so the simulators, which run
//! in this process, are not counted. Its `VmRSS` and `VmHWM` are read from
//! `/proc/PID/status`, the same lines the edge would read from `/proc/self/status`, after the
//! warm-up: first with no sources (idle, the baseline), then polling `plcs` simulated presses
//! (`edge_agent::sim::plc`), `registers` holding registers each, every `interval`. The first
//! three registers of each press carry meaning (good and scrap counters, the machine state),
//! so production events are journalled as they would be on a line; the others are plain
//! registers reported on change. Central is unreachable in both runs: the uplink retries and
//! the journal keeps every event.

use super::{edge_toml, round3, start_plc};
use anyhow::{Context, bail};
use edge_agent::sim::plc::PlcOptions;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// What one run of the edge process measured.
struct Figures {
    rss_kib: u64,
    hwm_kib: u64,
    /// Of `rss_kib`: anonymous memory (heap, stacks, SQLite's cache)…
    anon_kib: u64,
    /// …and file pages (the binary's code and data, shared libraries).
    file_kib: u64,
    threads: u64,
}

/// The `[[sources]]` of press `n`: good and scrap counters, the state, then plain registers.
fn press_source(
    n: usize,
    addr: std::net::SocketAddr,
    registers: u16,
    interval: Duration,
) -> String {
    let mut s = format!(
        "[[sources]]\ntype = \"modbus\"\ndevice = \"plc-{n:02}\"\nstation = \"st-{n:02}\"\n\
         host = \"{addr}\"\ninterval = \"{}ms\"\ntimeout = \"1s\"\nbackoff_min = \"50ms\"\n\
         backoff_max = \"1s\"\n",
        interval.as_millis()
    );
    for r in 0..u32::from(registers) {
        let address = 400_001 + r;
        let meaning = match r {
            0 => "role = \"counter\"\ncounts = \"good\"\n",
            1 => "role = \"counter\"\ncounts = \"scrap\"\n",
            2 => {
                "role = \"state\"\nstates = { 0 = \"off\", 1 = \"running\", 2 = \"idle\", \
                  3 = \"down: jam\", 4 = \"down: tool change\", 5 = \"setup\" }\n"
            }
            _ => "",
        };
        s.push_str(&format!(
            "[[sources.tags]]\nname = \"r{r}\"\naddress = \"{address}\"\ntype = \"u16\"\n{meaning}"
        ));
    }
    s
}

/// Memory figures of a process, in KiB, from `/proc/PID/status`.
fn process_memory(pid: u32) -> anyhow::Result<Figures> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("cannot read the edge process's /proc status")?;
    let field = |key: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {key} in /proc/{pid}/status"))
    };
    Ok(Figures {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        anon_kib: field("RssAnon:")?,
        file_kib: field("RssFile:")?,
        threads: field("Threads:")?,
    })
}

/// Runs the edge from `config` as a child process until `ready` says so and `warmup` has
/// passed, then reads its memory and stops it.
async fn measure_edge(
    config: &Path,
    warmup: Duration,
    mut ready: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Figures> {
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["bench", "edge-process"])
        .arg(config)
        .env("RUST_LOG", "error")
        .spawn()?;
    let measured = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready().await? {
            if Instant::now() > deadline {
                bail!("the edge was not polling every PLC after 30 s");
            }
            if let Some(status) = child.try_wait()? {
                bail!("the edge process ended early: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(warmup).await;
        if let Some(status) = child.try_wait()? {
            bail!("the edge process ended during the warm-up: {status}");
        }
        process_memory(child.id())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    measured
}

pub async fn memory_poll(
    plcs: usize,
    registers: u16,
    interval: Duration,
    warmup: Duration,
) -> anyhow::Result<()> {
    if !(3..=125).contains(&registers) {
        bail!("--registers {registers}: expected 3 to 125 (one request per poll)");
    }
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
        sources.push_str(&press_source(n, addr, registers, interval));
        sims.push((plc, stop));
    }
    // A central that is not there: the edge journals and keeps retrying.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let write_config = |name: &str, extra: &str| -> anyhow::Result<std::path::PathBuf> {
        let path = dir.path().join(format!("{name}.toml"));
        let journal = dir.path().join(format!("{name}.db"));
        std::fs::write(
            &path,
            edge_toml("bench-memory-poll", &url, "t", &journal, "normal", extra),
        )?;
        Ok(path)
    };

    eprintln!(
        "idle edge: warming up for {}…",
        protocol::duration::format(warmup)
    );
    let idle_config = write_config("idle", "")?;
    let idle = measure_edge(&idle_config, warmup, async || Ok(true)).await?;

    eprintln!(
        "edge polling {plcs} PLCs × {registers} registers every {}: warming up for {}…",
        protocol::duration::format(interval),
        protocol::duration::format(warmup)
    );
    let polling_config = write_config("polling", &sources)?;
    for (plc, _) in &sims {
        plc.record_arrivals(true);
        let _ = plc.take_arrivals();
    }
    let mut polled = vec![false; plcs];
    let busy = measure_edge(&polling_config, warmup, async || {
        for (n, (plc, _)) in sims.iter().enumerate() {
            polled[n] |= !plc.take_arrivals().is_empty();
        }
        Ok(polled.iter().all(|p| *p))
    })
    .await?;
    // Polls made while measuring, from the simulators' side (the warm-up included).
    let polls: usize = sims.iter().map(|(plc, _)| plc.take_arrivals().len()).sum();
    for (plc, _) in &sims {
        plc.record_arrivals(false);
    }

    // What the polling edge journalled: production and state changes from the counters.
    let journal = edge_agent::journal::open(edge_agent::journal::JournalConfig::new(
        dir.path().join("polling.db"),
        protocol::EdgeId::from("bench-memory-poll"),
    ))?;
    let events = journal.stats().await?.last_seq.0;
    journal.shutdown().await?;

    let mib = |kib: u64| round3(kib as f64 / 1024.0);
    println!(
        "{}",
        json!({"bench":"edge_memory_poll","plcs":plcs,"registers_per_plc":registers,
            "interval_ms":interval.as_millis() as u64,"warmup_s":warmup.as_secs(),
            "rss_mib":mib(busy.rss_kib),"peak_rss_mib":mib(busy.hwm_kib),
            "rss_anon_mib":mib(busy.anon_kib),"rss_file_mib":mib(busy.file_kib),
            "threads":busy.threads,"polls_seen_by_plcs":polls,"events_journalled":events,
            "baseline_idle_rss_mib":mib(idle.rss_kib),"baseline_idle_peak_rss_mib":mib(idle.hwm_kib),
            "baseline_idle_rss_anon_mib":mib(idle.anon_kib),
            "baseline_idle_rss_file_mib":mib(idle.file_kib),
            "baseline_idle_threads":idle.threads,
            "ratio_rss_to_idle":round3(busy.rss_kib as f64 / idle.rss_kib.max(1) as f64),
            "target_rss_mib":15})
    );
    Ok(())
}
