//! Scans through a running edge: `POST /api/v1/scans` answered after commit, the station view,
//! its server-sent events, the journal holding what the operator was told, and a restart that
//! keeps the station's state. Central is unreachable throughout: scanning never needs it.

use edge_agent::config::EdgeConfig;
use edge_agent::journal;
use edge_agent::topology::{self, RunningEdge};
use protocol::{
    EventKind, Plan, PlanComponent, PlanLot, PlanOperation, PlanVersion, PlanWorkOrder, Seq,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

pub(crate) fn plan() -> Plan {
    Plan {
        edge_id: "line-1".into(),
        version: PlanVersion(7),
        published_at: chrono::Utc::now(),
        epoch: None,
        work_orders: vec![PlanWorkOrder {
            work_order: "WO-1001".into(),
            item: "BRACKET".into(),
            qty: Decimal::new(500, 0),
            uom: "pcs".into(),
            due: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            priority: 1,
            operations: vec![PlanOperation {
                operation: 10,
                description: "stamp".into(),
                station: Some("st-10".into()),
                allowed_components: vec!["STEEL-2MM".into()],
                components: vec![PlanComponent {
                    item: "STEEL-2MM".into(),
                    qty: Decimal::new(250, 0),
                    uom: "kg".into(),
                }],
                skill: None,
            }],
            plc_parameters: Default::default(),
            on_hold: false,
            made_for: Vec::new(),
        }],
        lots: vec![PlanLot {
            lot: "L-HOLD".into(),
            item: "STEEL-2MM".into(),
            expires: None,
            on_hold: true,
            hold_reason: Some("QC-17".into()),
            location: None,
            on_hand: None,
        }],
        gtins: Default::default(),
        operators: operators(),
        rules: None,
        shipments: Vec::new(),
        requisitions: Vec::new(),
    }
}

/// The line's terminal key in these tests (a `[[terminals]]` entry for st-10 and st-20).
pub(crate) const TERMINAL_KEY: &str = "test-terminal-key-0123456789abcdef";
/// The supervisor's PIN.
pub(crate) const PIN: &str = "2468";

/// The operator registry: 10442 operates, 9001 supervises with a PIN.
pub(crate) fn operators() -> Vec<protocol::PlanOperator> {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| edge_agent::terminal::access::hash_pin(PIN).unwrap());
    vec![
        protocol::PlanOperator {
            badge: "10442".into(),
            name: "Li Wei".into(),
            skills: vec![],
            pin_hash: None,
        },
        protocol::PlanOperator {
            badge: "9001".into(),
            name: "Zhang Min".into(),
            skills: vec![protocol::SUPERVISOR_SKILL.into()],
            pin_hash: Some(hash.clone()),
        },
    ]
}

/// An address where nothing listens: central is down for the whole test.
pub(crate) fn dead_central() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

pub(crate) async fn start(dir: &Path, plan: Option<&Plan>) -> RunningEdge {
    start_with(dir, plan, "").await
}

/// `extra` is appended to the configuration (e.g. `[[stations]]` tables).
pub(crate) async fn start_with(dir: &Path, plan: Option<&Plan>, extra: &str) -> RunningEdge {
    let toml = format!(
        "edge_id = \"line-1\"\n[central]\nurl = \"{}\"\ntoken = \"t\"\n[journal]\npath = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [[terminals]]\nid = \"test\"\nstations = [\"st-10\", \"st-20\"]\nkey = \"{TERMINAL_KEY}\"\n{extra}",
        dead_central(),
        dir.join("journal.db").display()
    );
    let config = EdgeConfig::from_toml_str(&toml).unwrap();
    if let Some(plan) = plan {
        let j = journal::open(config.journal.journal_config(&config.edge_id)).unwrap();
        j.save_plan(plan).await.unwrap();
        j.shutdown().await.unwrap();
    }
    topology::start(config).await.unwrap()
}

/// A POST from the line's terminal (its key as a bearer credential).
pub(crate) async fn post(edge: &RunningEdge, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{}{path}", edge.http_addr))
        .bearer_auth(TERMINAL_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

pub(crate) async fn scan(edge: &RunningEdge, code: &str) -> Value {
    let (status, outcome) = post(
        edge,
        "/api/v1/scans",
        json!({"station": "st-10", "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{outcome}");
    outcome
}

pub(crate) async fn journal_events(edge: &RunningEdge) -> Vec<protocol::Event> {
    let committed = edge.journal.read_after(Seq::ZERO, 1000).await.unwrap();
    committed
        .iter()
        .map(|c| serde_json::from_str(&c.json).unwrap())
        .collect()
}

pub(crate) async fn get(edge: &RunningEdge, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("http://{}{path}", edge.http_addr))
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn scans_are_answered_after_commit_and_the_journal_holds_what_the_operator_was_told() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(dir.path(), Some(&plan())).await;

    let signed_in = scan(&edge, "(96)10442").await;
    assert_eq!(
        (signed_in["result"].as_str(), signed_in["action"].as_str()),
        (Some("accepted"), Some("signed_in"))
    );
    let started = scan(&edge, "]C191WO-1001").await;
    assert_eq!(started["action"], "started", "{started}");
    let issued = scan(&edge, "(92)STEEL-2MM(93)L-778(94)25kg").await;
    assert_eq!(issued["action"], "issued", "{issued}");
    let held = scan(&edge, "(92)STEEL-2MM(93)L-HOLD(94)25kg").await;
    assert_eq!(
        (held["result"].as_str(), held["reason"].as_str()),
        (Some("rejected"), Some("on_hold"))
    );
    assert_eq!(held["params"]["reason"], "QC-17");

    // Every answer names the committed event; the journal holds it, as the operator was told.
    let events = journal_events(&edge).await;
    for outcome in [&signed_in, &started, &issued, &held] {
        let seq = outcome["seq"].as_u64().expect("a committed seq");
        let event = events
            .iter()
            .find(|e| e.seq.0 == seq)
            .expect("the event is in the journal");
        assert_eq!(
            event.id.0.to_string(),
            outcome["event_id"].as_str().unwrap()
        );
        assert_eq!(
            event.source.station.as_ref().map(|s| s.as_str()),
            Some("st-10")
        );
    }
    let last = events
        .iter()
        .find(|e| e.seq.0 == held["seq"].as_u64().unwrap())
        .unwrap();
    assert!(
        matches!(&last.kind, EventKind::ScanRejected { reason, .. } if reason.contains("on hold")),
        "{:?}",
        last.kind
    );

    let (status, view) = get(&edge, "/api/v1/stations/st-10").await;
    assert_eq!(status, 200);
    assert_eq!(view["operator"], "10442");
    assert_eq!(view["work_order"]["work_order"], "WO-1001");
    assert_eq!(view["work_order"]["components"][0]["open"], "225");
    assert_eq!(
        view["scans"][0]["reason"], "on_hold",
        "newest first: {view}"
    );
    assert_eq!(view["scans"].as_array().unwrap().len(), 4);
    assert_eq!(view["central_connected"], false);
    edge.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_a_clear_error_and_unknown_stations_a_404() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(dir.path(), Some(&plan())).await;
    let (status, body) = post(
        &edge,
        "/api/v1/scans",
        json!({"station": "st-99", "code": "(96)1"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_station"))
    );
    let (status, body) = post(&edge, "/api/v1/scans", json!({"station": "st-10"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("code"),
        "{body}"
    );
    let long = "9".repeat(5000);
    let (status, _) = post(
        &edge,
        "/api/v1/scans",
        json!({"station": "st-10", "code": long}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = post(&edge, "/api/v1/stations/st-10/lots", json!({"qty": "many"})).await;
    assert_eq!(status, 400, "{body}");
    // Garbage is a refused scan, stored like any other.
    let outcome = scan(&edge, "\u{1}\u{2}garbage\u{7f}").await;
    assert_eq!(
        (outcome["result"].as_str(), outcome["reason"].as_str()),
        (Some("rejected"), Some("unknown_code"))
    );
    assert!(outcome["seq"].is_u64());
    edge.shutdown().await;
}

#[tokio::test]
async fn the_station_survives_a_restart_and_lots_get_labels() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(dir.path(), Some(&plan())).await;
    scan(&edge, "(96)10442").await;
    scan(&edge, "(91)WO-1001").await;
    scan(&edge, "(92)STEEL-2MM(93)L-778(94)25kg").await;
    edge.shutdown().await;

    let edge = start(dir.path(), None).await;
    let (_, view) = get(&edge, "/api/v1/stations/st-10").await;
    assert_eq!(view["operator"], "10442", "{view}");
    // Issue 11: the last scans lived only in memory; they come back with the station.
    let kept: Vec<&str> = view["scans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kept, ["issued", "started", "signed_in"], "{view}");
    assert_eq!(view["work_order"]["work_order"], "WO-1001");
    assert_eq!(view["work_order"]["components"][0]["issued"], "25");
    // The same lot again is refused: the edge remembers what it issued before the restart.
    let again = scan(&edge, "(92)STEEL-2MM(93)L-778(94)25kg").await;
    assert_eq!(again["reason"], "already_issued", "{again}");

    let (status, done) = post(&edge, "/api/v1/stations/st-10/lots", json!({"qty": "48"})).await;
    assert_eq!(
        (status, done["action"].as_str(), done["lot"].as_str()),
        (200, Some("lot_completed"), Some("WO-1001-001")),
        "{done}"
    );
    let png = reqwest::get(format!(
        "http://{}/api/v1/labels/WO-1001-001.png",
        edge.http_addr
    ))
    .await
    .unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");
    let events = journal_events(&edge).await;
    let produced = events.iter().find_map(|e| match &e.kind {
        EventKind::LotProduced {
            lot, consumed_lots, ..
        } => Some((lot.clone(), consumed_lots.clone())),
        _ => None,
    });
    assert_eq!(produced, Some(("WO-1001-001".into(), vec!["L-778".into()])));

    let (_, out) = post(&edge, "/api/v1/stations/st-10/sign-out", json!({})).await;
    assert_eq!(out["action"], "signed_out");
    let (_, out) = post(&edge, "/api/v1/stations/st-10/sign-out", json!({})).await;
    assert_eq!(out["reason"], "not_signed_in");
    edge.shutdown().await;
}

/// Reads server-sent events until one whose data satisfies `until`.
async fn next_view(
    response: &mut reqwest::Response,
    buffer: &mut String,
    until: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            if let Some(data) = message
                .lines()
                .find_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
            {
                let view: Value = serde_json::from_str(data).unwrap();
                if until(&view) {
                    return view;
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("no matching event within 10 s")
            .unwrap()
            .expect("the stream ended");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_station_view_streams_every_committed_change() {
    let dir = tempfile::tempdir().unwrap();
    let edge = start(dir.path(), Some(&plan())).await;
    let mut events = reqwest::get(format!(
        "http://{}/api/v1/stations/st-10/events",
        edge.http_addr
    ))
    .await
    .unwrap();
    assert_eq!(events.status(), 200);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buffer = String::new();
    let first = next_view(&mut events, &mut buffer, |_| true).await;
    assert_eq!(first["operator"], Value::Null);
    assert_eq!(first["queue"][0]["work_order"], "WO-1001");
    // Issue 12: nobody started it, but the plan's order routed through st-10 is what runs
    // there (its counts go to it): the view says so, and it stays in the queue to be started.
    assert_eq!(first["work_order"]["work_order"], "WO-1001");
    assert_eq!(first["work_order"]["by"], "plan");

    scan(&edge, "(96)10442").await;
    let view = next_view(&mut events, &mut buffer, |v| v["operator"] == "10442").await;
    assert_eq!(view["scans"][0]["action"], "signed_in");
    scan(&edge, "(92)BOLT(93)X(94)1pcs").await;
    let view = next_view(&mut events, &mut buffer, |v| {
        v["scans"].as_array().unwrap().len() == 2
    })
    .await;
    // Checked against the order that runs here, as the view shows it.
    assert_eq!(view["scans"][0]["reason"], "wrong_item");
    edge.shutdown().await;
}

#[tokio::test]
async fn a_completed_lot_s_label_goes_to_the_station_s_printer_and_a_dead_printer_is_a_fault() {
    use tokio::io::AsyncReadExt;
    // A Zebra printer's raw port: it takes one ZPL job per connection.
    let printer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let printer_addr = printer.local_addr().unwrap();
    let job = tokio::spawn(async move {
        let (mut conn, _) = printer.accept().await.unwrap();
        let mut zpl = String::new();
        conn.read_to_string(&mut zpl).await.unwrap();
        zpl
    });
    let dead = dead_central().trim_start_matches("http://").to_owned();
    let stations = format!(
        "[[stations]]\nid = \"st-10\"\nprinter = \"{printer_addr}\"\nlabel = \"gs1-datamatrix\"\n[[stations]]\nid = \"st-20\"\nprinter = \"{dead}\"\n"
    );
    let mut plan = plan();
    let mut second = plan.work_orders[0].clone();
    second.work_order = "WO-2002".into();
    second.operations[0].station = Some("st-20".into());
    plan.work_orders.push(second);
    let dir = tempfile::tempdir().unwrap();
    let mut edge = start_with(dir.path(), Some(&plan), &stations).await;
    scan(&edge, "(96)10442").await;
    scan(&edge, "(91)WO-1001").await;
    let (_, done) = post(&edge, "/api/v1/stations/st-10/lots", json!({"qty": 48})).await;
    assert_eq!(done["label"]["printed"], true, "{done}");
    let zpl = job.await.unwrap();
    assert!(
        zpl.starts_with("^XA") && zpl.contains("WO-1001-001"),
        "{zpl}"
    );
    // st-10 prints its labels as GS1 DataMatrix (`label = "gs1-datamatrix"`): `^BX` with FNC1
    // (`_1`) first, the lot's code after it.
    assert!(
        zpl.contains(",200,") && zpl.contains(",,_^FD_1") && zpl.contains("^BXN,"),
        "{zpl}"
    );
    // The terminal's view of the same label is GS1 DataMatrix too, and reads back as the lot.
    if let Some(dmtxread) = crate::labels::tool("dmtxread", "dmtx-utils") {
        let png = reqwest::get(format!(
            "http://{}/api/v1/labels/WO-1001-001.png",
            edge.http_addr
        ))
        .await
        .unwrap();
        assert_eq!(png.status(), 200);
        let image = dir.path().join("WO-1001-001.png");
        std::fs::write(&image, png.bytes().await.unwrap()).unwrap();
        let (gs1, data) = crate::labels::decode_datamatrix(&dmtxread, &image);
        assert!(gs1, "no FNC1 first");
        let scanned = format!("]d2{}", String::from_utf8_lossy(&data));
        match protocol::barcode::parse(&scanned, 2026) {
            protocol::barcode::Reading::Label {
                code: protocol::barcode::LabelCode::MaterialLot(lot),
                ..
            } => assert_eq!(lot.lot.as_str(), "WO-1001-001"),
            other => panic!("{scanned:?} read as {other:?}"),
        }
    }

    // st-20's printer is off: the lot is still recorded, the operator told, the fault stored.
    post(
        &edge,
        "/api/v1/scans",
        json!({"station": "st-20", "code": "(96)10442"}),
    )
    .await;
    let (status, started) = post(
        &edge,
        "/api/v1/scans",
        json!({"station": "st-20", "code": "(91)WO-2002"}),
    )
    .await;
    assert_eq!(
        (status, started["action"].as_str()),
        (200, Some("started")),
        "{started}"
    );
    let (_, done) = post(&edge, "/api/v1/stations/st-20/lots", json!({"qty": "10"})).await;
    assert_eq!(
        (done["result"].as_str(), done["label"]["printed"].as_bool()),
        (Some("accepted"), Some(false)),
        "{done}"
    );
    assert!(
        done["label"]["error"].as_str().unwrap().contains(&dead),
        "{done}"
    );
    edge.stop_sources().await;
    let events = journal_events(&edge).await;
    assert!(events.iter().any(
        |e| matches!(&e.kind, EventKind::LotProduced { lot, .. } if lot.as_str() == "WO-2002-001")
    ));
    assert!(
        events.iter().any(|e| matches!(&e.kind, EventKind::DeviceFault { device, message } if device.as_str() == dead && message.contains("WO-2002-001"))),
        "{events:?}"
    );
    edge.shutdown().await;
}

/// A work order started by a scan gets the parts reported right after it, even when both reach
/// the processor in one batch (they are queued before it runs, so it takes them together).
#[tokio::test]
async fn parts_after_a_start_scan_in_the_same_batch_count_for_the_started_order() {
    use edge_agent::processor::{self, readings::Meanings};
    use edge_agent::sources::mqtt::client::{MqttDelivery, MqttMessage};
    use edge_agent::sources::mqtt::rules::{Mapped, MappedValue};
    use edge_agent::sources::{ScanRequest, SourceMessage};
    let dir = tempfile::tempdir().unwrap();
    let journal = journal::open(journal::JournalConfig::new(
        dir.path().join("journal.db"),
        "line-1".into(),
    ))
    .unwrap();
    let mut plan = plan();
    let mut second = plan.work_orders[0].clone();
    second.work_order = "WO-1002".into();
    plan.work_orders.push(second);
    let live = edge_agent::live::Live::new(Some(plan));
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let (signed, _) = tokio::sync::oneshot::channel();
    tx.send(SourceMessage::Scan(Box::new(ScanRequest {
        raw: "(96)10442".into(),
        at: chrono::Utc::now(),
        station: "st-10".into(),
        device: None,
        reply: Some(signed),
    })))
    .await
    .unwrap();
    let (reply, answer) = tokio::sync::oneshot::channel();
    tx.send(SourceMessage::Scan(Box::new(ScanRequest {
        raw: "(91)WO-1002".into(),
        at: chrono::Utc::now(),
        station: "st-10".into(),
        device: None,
        reply: Some(reply),
    })))
    .await
    .unwrap();
    let (committed, _receipt) = tokio::sync::oneshot::channel();
    tx.send(SourceMessage::Mqtt(Box::new(MqttDelivery {
        messages: vec![MqttMessage::Mapped(Mapped {
            device: "press-1".into(),
            station: Some("st-10".into()),
            at: None,
            what: MappedValue::Count {
                scrap: false,
                cumulative: false,
                value: 5,
                bits: 64,
            },
        })],
        redelivered: false,
        key: None,
        committed,
    })))
    .await
    .unwrap();
    drop(tx);
    processor::run(rx, journal.clone(), live, Meanings::default()).await;
    assert_eq!(answer.await.unwrap().action, Some("started"));
    let events: Vec<protocol::Event> = journal
        .read_after(Seq::ZERO, 100)
        .await
        .unwrap()
        .iter()
        .map(|c| serde_json::from_str(&c.json).unwrap())
        .collect();
    let produced: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ProductionReported {
                work_order, good, ..
            } => Some((work_order.as_ref().map(|w| w.as_str().to_owned()), *good)),
            _ => None,
        })
        .collect();
    assert_eq!(produced, vec![(Some("WO-1002".to_owned()), 5)]);
    journal.shutdown().await.unwrap();
}
