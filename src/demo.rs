//! `mes demo`: central and two edge agents reading simulated PLCs over Modbus TCP, on loopback, in one
//! process, with plans published down and events flowing up.

use anyhow::Context;
use chrono::{Duration as Days, Utc};
use edge_agent::{EdgeConfig, RunningEdge};
use protocol::{EdgeId, PlanComponent, PlanContent, PlanLot, PlanOperation, PlanWorkOrder, Seq};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const EDGES: [&str; 2] = ["line-1", "line-2"];

/// The demo supervisor's PIN, printed with the URLs.
const DEMO_SUPERVISOR_PIN: &str = "2468";

/// The one-line summary `mes demo --for N` prints last.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub generated: u64,
    pub committed: u64,
    pub acknowledged: u64,
    pub at_central: u64,
    pub lost: u64,
    pub duplicated: u64,
}

pub async fn run(run_for: Option<Duration>, port: u16) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("mes-demo-")
        .tempdir()
        .context("cannot create a data directory for the demo")?;
    // A token in the environment is checked like central's (at least 32 characters).
    let admin_token = match std::env::var(central::config::ADMIN_TOKEN_ENV) {
        Ok(t) if !t.trim().is_empty() => {
            central::AdminToken::new(&t, central::config::ADMIN_TOKEN_ENV)?
        }
        _ => central::AdminToken::new(&central::new_token(), "a new random token")?,
    };

    // Central.
    let central_config = central::CentralConfig {
        listen: ([127, 0, 0, 1], port).into(),
        data_dir: dir.path().join("central"),
        ..Default::default()
    };
    let store = central::open_sqlite_store(&central_config.data_dir).await?;
    let listener = match tokio::net::TcpListener::bind(central_config.listen).await {
        Ok(l) => l,
        Err(e) if port != 0 => {
            tracing::warn!(error = %e, port, "port taken; central takes any free port");
            tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?
        }
        Err(e) => return Err(e.into()),
    };
    let central_addr = listener.local_addr()?;
    let state = central::AppState::new(store.clone(), admin_token.clone(), &central_config);
    let (stop_central, central_stopping) = tokio::sync::oneshot::channel::<()>();
    let central_task = tokio::spawn(central::serve(listener, state, async move {
        let _ = central_stopping.await;
    }));
    let central_url = format!("http://{central_addr}");

    // Simulated PLCs, two presses a line, served over Modbus TCP on loopback.
    let (stop_plcs, plcs_stopping) = tokio::sync::watch::channel(false);
    let mut plc_addrs = Vec::new();
    for n in 0..EDGES.len() * 2 {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        plc_addrs.push(listener.local_addr()?);
        let mut stopping = plcs_stopping.clone();
        tokio::spawn(edge_agent::sim::plc::run(
            listener,
            edge_agent::sim::plc::PlcOptions {
                cycle: Some(Duration::from_millis(100)),
                start_count: 65_400,
                slow: None,
                seed: Some(n as u64 + 1),
            },
            async move {
                let _ = stopping.wait_for(|s| *s).await;
            },
        ));
    }

    // The operator registry every plan carries down: an operator without a PIN and a
    // supervisor with one (who pairs terminals and approves lots beyond an order).
    for (badge, name, skills, pin) in [
        ("10442", "Li Wei", vec!["press".to_owned()], None),
        (
            "9001",
            "Zhang Min",
            vec!["press".to_owned(), protocol::SUPERVISOR_SKILL.to_owned()],
            Some(DEMO_SUPERVISOR_PIN),
        ),
    ] {
        let pin = match pin {
            Some(pin) => central::PinUpdate::Set(
                central::Pin::parse(pin)
                    .and_then(|p| p.hash())
                    .map_err(anyhow::Error::msg)?,
            ),
            None => central::PinUpdate::Keep,
        };
        store
            .put_operator(
                central::OperatorUpdate {
                    badge: badge.into(),
                    name: name.into(),
                    skills,
                    pin,
                    active: None,
                },
                Utc::now(),
            )
            .await?
            .map_err(|e| anyhow::anyhow!("the demo's operator {badge}: {e:?}"))?;
    }
    // Each line's terminal is a kiosk with a key of its own (its URL carries it).
    let kiosk_key = central::new_token();

    // Two edges, each with its own credential and a plan of two work orders.
    let mut edges: Vec<(EdgeId, RunningEdge)> = Vec::new();
    for (i, name) in EDGES.iter().enumerate() {
        let edge_id = EdgeId::from(*name);
        let token = central::new_token();
        store
            .create_edge(&edge_id, central::hash_token(&token))
            .await?;
        store
            .publish_plan(
                &edge_id,
                PlanContent {
                    work_orders: demo_plan(i),
                    lots: vec![PlanLot {
                        lot: "L-HOLD".into(),
                        item: "STEEL-2MM".into(),
                        expires: None,
                        on_hold: true,
                        hold_reason: Some("QC-17 tensile test failed".into()),
                        location: None,
                        on_hand: None,
                    }],
                    gtins: [("09506000134352".to_owned(), "STEEL-2MM".into())].into(),
                    operators: Vec::new(),
                    rules: None,
                },
            )
            .await?;
        let config = EdgeConfig::from_toml_str(&format!(
            r#"
edge_id = "{name}"
[central]
url = "{central_url}"
token = "{token}"
status_interval = "2s"
[journal]
path = "{journal}"
[http]
listen = "127.0.0.1:0"
[[terminals]]
id = "kiosk"
stations = ["st-10", "st-20"]
key = "{kiosk_key}"
{presses}"#,
            journal = dir.path().join(format!("{name}.db")).display(),
            presses = (0..2)
                .map(|p| press_source(p + 1, plc_addrs[i * 2 + p]))
                .collect::<String>(),
        ))?;
        let edge = edge_agent::start(config).await?;
        edges.push((edge_id, edge));
    }

    print_urls(
        &central_url,
        admin_token.expose(),
        &kiosk_key,
        &edges,
        dir.path(),
    );

    match run_for {
        Some(d) => tokio::time::sleep(d).await,
        None => crate::shutdown_signal().await,
    }

    // Stop producing, let the uplinks drain, then compare the journals with central.
    for (_, edge) in edges.iter_mut() {
        edge.stop_sources().await;
    }
    for (edge_id, edge) in &edges {
        wait_drained(edge_id, edge, Duration::from_secs(30)).await;
    }
    let summary = summarize(&edges, store.as_ref()).await?;
    for (_, edge) in edges {
        edge.shutdown().await;
    }
    stop_plcs.send_replace(true);
    let _ = stop_central.send(());
    let _ = central_task.await;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// A Modbus source reading one simulated press (register map of edge_agent::sim::plc, as in
/// configs/edge-modbus.toml): good and scrap counters, the state code, the hole diameter.
fn press_source(press: usize, addr: std::net::SocketAddr) -> String {
    format!(
        r#"
[[sources]]
type = "modbus"
device = "press-{press}"
host = "{addr}"
station = "st-{press}0"
timeout = "500ms"
interval = "1s"
[[sources.groups]]
name = "fast"
interval = "200ms"
[[sources.tags]]
name = "good"
address = "400001"
type = "u16"
group = "fast"
role = "counter"
counts = "good"
[[sources.tags]]
name = "scrap"
address = "400002"
type = "u16"
group = "fast"
role = "counter"
counts = "scrap"
[[sources.tags]]
name = "state"
address = "400003"
type = "u16"
group = "fast"
role = "state"
states = {{ 0 = "off", 1 = "running", 2 = "idle", 3 = "down: jam", 4 = "down: tool change", 5 = "setup" }}
"#
    )
}

fn demo_plan(line: usize) -> Vec<PlanWorkOrder> {
    let due = (Utc::now() + Days::days(3)).date_naive();
    (1..=2)
        .map(|n| PlanWorkOrder {
            work_order: format!("WO-{}{:03}", line + 1, n).as_str().into(),
            item: if n == 1 { "BRACKET-A" } else { "BRACKET-B" }.into(),
            qty: Decimal::new(5000, 0),
            uom: "pcs".into(),
            due,
            priority: n,
            operations: vec![PlanOperation {
                operation: 10,
                description: "stamp".into(),
                // Press n of each line works at station st-n0.
                station: Some(format!("st-{n}0").as_str().into()),
                allowed_components: vec!["STEEL-2MM".into(), "GREASE".into()],
                // 0.05 kg of steel a bracket: what the line may still issue.
                components: vec![PlanComponent {
                    item: "STEEL-2MM".into(),
                    qty: Decimal::new(250, 0),
                    uom: "kg".into(),
                }],
                skill: None,
            }],
            plc_parameters: Default::default(),
            on_hold: false,
        })
        .collect()
}

fn print_urls(
    central: &str,
    admin_token: &str,
    kiosk_key: &str,
    edges: &[(EdgeId, RunningEdge)],
    dir: &std::path::Path,
) {
    eprintln!();
    eprintln!(
        "MES demo running: central and {} edge agents, each reading two simulated presses over Modbus TCP.",
        edges.len()
    );
    eprintln!("  central health    {central}/healthz");
    eprintln!("  central metrics   {central}/metrics");
    eprintln!(
        "  edges (admin)     curl -H 'Authorization: Bearer {admin_token}' {central}/api/v1/edges"
    );
    for (edge_id, edge) in edges {
        eprintln!(
            "  {edge_id} status    http://{}/api/v1/status",
            edge.http_addr
        );
        eprintln!("  {edge_id} metrics   http://{}/metrics", edge.http_addr);
        eprintln!(
            "  {edge_id} terminal  http://{}/terminal?station=st-10&key={kiosk_key}  (中文: &lang=zh)",
            edge.http_addr
        );
    }
    eprintln!(
        "  a terminal opened without the key shows its station and a pairing code: confirm it at"
    );
    eprintln!(
        "  the kiosk (\"Pair a terminal\") as supervisor 9001 with PIN {DEMO_SUPERVISOR_PIN}"
    );
    eprintln!("  scan these into a terminal (type them, then Enter):");
    eprintln!("    badge           (96)10442  (supervisor: (96)9001, PIN {DEMO_SUPERVISOR_PIN})");
    eprintln!("    work order      (91)WO-1001 on line-1, (91)WO-2001 on line-2");
    eprintln!("    right lot       (92)STEEL-2MM(93)L-0001(94)25kg");
    eprintln!("    wrong item      (92)BOLT-M8(93)B-77(94)100pcs");
    eprintln!("    lot on hold     (92)STEEL-2MM(93)L-HOLD(94)25kg");
    eprintln!("    supplier label  (01)09506000134352(3101)000250(10)SUP-7(17)271231");
    eprintln!("  data              {}", dir.display());
    eprintln!("Ctrl-C stops it.");
    eprintln!();
}

async fn wait_drained(edge_id: &EdgeId, edge: &RunningEdge, limit: Duration) {
    let deadline = Instant::now() + limit;
    let last = match edge.journal.stats().await {
        Ok(s) => s.last_seq,
        Err(_) => return,
    };
    let mut acked = edge.live.watch_acked();
    let drained = tokio::time::timeout_at(deadline.into(), acked.wait_for(|a| *a >= last)).await;
    if drained.is_err() {
        tracing::warn!(%edge_id, %last, "central did not acknowledge everything in time");
    }
}

/// Compares every edge's journal with what central holds, event id by event id.
async fn summarize(
    edges: &[(EdgeId, RunningEdge)],
    store: &dyn central::Store,
) -> anyhow::Result<Summary> {
    let mut s = Summary::default();
    for (edge_id, edge) in edges {
        s.generated += edge.generated();
        let stats = edge.journal.stats().await?;
        s.committed += stats.last_seq.0;
        s.acknowledged += stats.acked_seq.0;
        s.at_central += store.count_events(edge_id).await?;
        let (lost, duplicated) = compare(edge_id, edge, store).await?;
        s.lost += lost;
        s.duplicated += duplicated;
    }
    Ok(s)
}

/// Events the edge committed that central lacks (or holds under another id), and events
/// central holds more than once or that the edge never committed.
async fn compare(
    edge_id: &EdgeId,
    edge: &RunningEdge,
    store: &dyn central::Store,
) -> anyhow::Result<(u64, u64)> {
    const PAGE: usize = 10_000;
    let mut central_ids = std::collections::HashMap::new();
    let mut duplicated = 0u64;
    let mut seen = HashSet::new();
    let mut from = Seq(1);
    loop {
        let page = store.event_ids(edge_id, from, PAGE).await?;
        let Some(&(last, _)) = page.last() else { break };
        for (seq, id) in page {
            if !seen.insert(id) {
                duplicated += 1;
            }
            central_ids.insert(seq, id);
        }
        from = last.next();
    }
    let mut lost = 0u64;
    let mut after = Seq::ZERO;
    loop {
        let page = edge.journal.read_after(after, PAGE).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        for e in page {
            let event: protocol::Event = serde_json::from_str(&e.json)?;
            match central_ids.remove(&e.seq) {
                Some(id) if id == event.id => {}
                _ => lost += 1,
            }
        }
        after = last;
    }
    // Whatever central still holds was never committed by this edge (or was pruned, which
    // the demo's retention of seven days rules out).
    duplicated += central_ids.len() as u64;
    Ok((lost, duplicated))
}
