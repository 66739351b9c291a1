//! Issue 12, "done when": a plant walked from import to shipment-ready stock through the real
//! `mes central` and `mes edge` (with a simulated press over Modbus TCP), checking at each
//! step that central's ledger, on-hand, work-order progress, genealogy and MRP netting agree
//! with what the edge did, including after central was gone for a while.

use crate::support::*;
use protocol::EventKind;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const EDGE_ID: &str = "line-1";
const STATION: &str = "st-10";

/// The stations that run a work order, from a list of `StationRun`s (the edge's status or
/// central's view of it): station, work order, operation and why.
fn running(stations: &Value) -> Vec<(String, Value, Value, Value)> {
    stations
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s.get("work_order").is_some())
        .map(|s| {
            (
                s["station"].as_str().unwrap_or_default().to_owned(),
                s["work_order"].clone(),
                s["operation"].clone(),
                s["by"].clone(),
            )
        })
        .collect()
}

/// Central's admin API for this test (and the story's, `story.rs`).
pub(crate) struct Admin {
    pub(crate) url: String,
    pub(crate) http: reqwest::Client,
}

impl Admin {
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("central answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }
    pub(crate) async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }
    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    pub(crate) async fn put(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    pub(crate) async fn import(&self, kind: &str, csv: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/api/v1/import/{kind}", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .expect("central answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "import {kind}: {status} {body}");
        body
    }

    /// The stock of a lot at central, summed over locations.
    pub(crate) async fn lot_stock(&self, lot: &str) -> Decimal {
        let stock = self.get(&format!("/api/v1/inventory?lot={lot}")).await;
        stock["on_hand"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["qty"].as_str().unwrap().parse::<Decimal>().unwrap())
            .sum()
    }

    /// Good parts at operation 10 of the order, as central books them.
    pub(crate) async fn good(&self, wo: &str) -> u64 {
        let view = self.get(&format!("/api/v1/work-orders/{wo}")).await;
        view["operations"][0]["good"].as_u64().unwrap()
    }

    pub(crate) async fn mrp_orders(&self, as_of: &str, item: &str) -> Vec<Value> {
        let plan = self
            .post(&format!("/api/v1/mrp/run?as_of={as_of}"), json!({}))
            .await;
        plan["planned_orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["item"] == item)
            .cloned()
            .collect()
    }
}

/// The edge's Modbus source for the simulated press at `addr`, counting on `st-10`.
pub(crate) fn press(addr: std::net::SocketAddr) -> String {
    format!(
        r#"
[[sources]]
type = "modbus"
device = "press-1"
host = "{addr}"
station = "{STATION}"
timeout = "500ms"
interval = "100ms"
[[sources.tags]]
name = "good"
address = "400001"
type = "u16"
role = "counter"
counts = "good"
[[sources.tags]]
name = "scrap"
address = "400002"
type = "u16"
role = "counter"
counts = "scrap"
"#
    )
}

/// What the edge's journal says: good and scrap per (order, operation), and per lot the net
/// movement (`received + produced − issued`).
fn journal_books(journal: &Journal) -> (BTreeMap<(String, u32), u64>, BTreeMap<String, Decimal>) {
    let mut good = BTreeMap::new();
    let mut lots: BTreeMap<String, Decimal> = BTreeMap::new();
    for e in &journal.events {
        match &e.kind {
            EventKind::ProductionReported {
                work_order: Some(wo),
                operation: Some(op),
                good: g,
                ..
            } => *good.entry((wo.as_str().to_owned(), *op)).or_default() += g,
            EventKind::MaterialIssued { lot, qty, .. } => {
                *lots.entry(lot.as_str().to_owned()).or_default() -= *qty
            }
            EventKind::LotProduced { lot, qty, .. } => {
                *lots.entry(lot.as_str().to_owned()).or_default() += *qty
            }
            _ => {}
        }
    }
    (good, lots)
}

/// The frame line's master data, as a planner imports it: warehouse WH with RACK-A, FRAME
/// (make, 0.5 kg of STEEL each) and STEEL (buy), both lot-tracked; line L1 run by the edge,
/// work center CUT on its station, and FRAME's routing, one cut.
pub(crate) async fn frame_line(admin: &Admin) {
    admin
        .put("/api/v1/warehouses/WH", json!({"description": "main"}))
        .await;
    admin
        .put("/api/v1/warehouses/WH/locations/RACK-A", json!({}))
        .await;
    admin
        .import(
            "items",
            "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock,tracking\n\
             FRAME,Frame,make,ea,1,lfl,,,lot\nSTEEL,Steel,buy,kg,5,lfl,,,lot\n",
        )
        .await;
    admin
        .import(
            "boms",
            "parent,component,qty_per,scrap_pct\nFRAME,STEEL,0.5,0\n",
        )
        .await;
    admin
        .put("/api/v1/lines/L1", json!({"edge_id": EDGE_ID}))
        .await;
    admin
        .put(
            "/api/v1/work-centers/CUT",
            json!({"line": "L1", "station": STATION}),
        )
        .await;
    admin
        .put(
            "/api/v1/routings/FRAME",
            json!({"operations": [{"operation": 10, "description": "cut", "work_center": "CUT"}]}),
        )
        .await;
}

/// A simulated press counting a part every 200 ms: the switch that stops it, its task and
/// its address.
pub(crate) async fn start_press(
    seed: u64,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    std::net::SocketAddr,
) {
    let (stop, mut stopping) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let plc = tokio::spawn(edge_agent::sim::plc::run(
        listener,
        edge_agent::sim::plc::PlcOptions {
            cycle: Some(Duration::from_millis(200)),
            start_count: 0,
            slow: None,
            seed: Some(seed),
        },
        async move {
            let _ = stopping.wait_for(|s| *s).await;
        },
    ));
    (stop, plc, addr)
}

/// Completes a lot of `qty` parts at the station, waits until central has it in stock, and
/// checks that its genealogy reaches lot `from`; the new lot's id.
pub(crate) async fn complete_lot(admin: &Admin, edge: &Edge, qty: u32, from: &str) -> String {
    let (status, answer) = edge
        .post_json(
            &format!("/api/v1/stations/{STATION}/lots"),
            &json!({"qty": qty.to_string()}),
        )
        .await;
    assert_eq!(
        (status, &answer["result"]),
        (200, &json!("accepted")),
        "{answer}"
    );
    let lot = answer["lot"].as_str().expect("the lot's id").to_owned();
    wait_until("central to take the lot into stock", DEADLINE, || async {
        (admin.lot_stock(&lot).await == Decimal::from(qty)).then_some(())
    })
    .await;
    let trace = admin
        .get(&format!("/api/v1/genealogy/{lot}?direction=backward"))
        .await;
    assert!(
        trace["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|n| n["lot"] == from),
        "lot {lot} is traced to {from}: {trace}"
    );
    lot
}

/// The line's edge, reading the press at `plc_addr`, started in `dir` and running the plan
/// central published for it: its home, the process, and that plan's version.
pub(crate) async fn start_edge(
    admin: &Admin,
    dir: &std::path::Path,
    token: &str,
    plc_addr: std::net::SocketAddr,
) -> (EdgeHome, Edge, Value) {
    let mut home = EdgeHome::new(
        dir,
        EDGE_ID,
        token,
        &admin.url,
        Link {
            batch_max_events: 100,
        },
    );
    let mut edge = home.spawn_with(&press(plc_addr));
    edge.wait_ready().await;
    let published = admin.get(&format!("/api/v1/edges/{EDGE_ID}/plan")).await["version"].clone();
    wait_until("the edge to apply central's plan", DEADLINE, || async {
        edge.status_json()
            .await
            .filter(|s| s["plan_version"] == published)
    })
    .await;
    (home, edge, published)
}

#[tokio::test]
async fn a_plant_from_import_to_shipment_ready_stock_agrees_at_every_step() {
    let tmp = temp_dir();
    let mut central = Central::start(&tmp.path().join("central"), None).await;
    let admin = Admin {
        url: central.url(),
        http: http_client(),
    };
    let token = central.create_edge(EDGE_ID).await;
    central.put_operator("10442", "Li Wei", &[], None).await;

    // Master data, stock and demand, as a planner imports them.
    frame_line(&admin).await;
    admin
        .import("inventory", "item,lot,location,qty\nSTEEL,L-1,RACK-A,100\n")
        .await;
    assert_eq!(admin.lot_stock("L-1").await, Decimal::from(100));
    admin
        .import(
            "demands",
            "item,qty,due_date,reference\nFRAME,1000,2031-03-03,SO-1\n",
        )
        .await;

    // MRP, firm, release: the order goes down as a plan.
    let plan = admin
        .post("/api/v1/mrp/run?as_of=2031-01-06", json!({}))
        .await;
    let frame: Vec<&Value> = plan["planned_orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["item"] == "FRAME")
        .collect();
    assert_eq!(frame.len(), 1, "{plan}");
    assert_eq!(frame[0]["qty"], 1000);
    let firmed = admin
        .post(
            &format!("/api/v1/mrp/runs/{}/firm", plan["run"]),
            json!({"all": true}),
        )
        .await;
    let wo = firmed["firmed"][0]["work_order"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .post(&format!("/api/v1/work-orders/{wo}/release"), json!({}))
        .await;

    // The press, and the edge that reads it.
    let (stop_plc, plc, plc_addr) = start_press(7).await;
    let (mut home, mut edge, published) =
        start_edge(&admin, &tmp.path().join("edge"), &token, plc_addr).await;

    wait_until(
        "central to know the edge runs its plan",
        DEADLINE,
        || async {
            central.edge_json(EDGE_ID).await.filter(|e| {
                e["plan_version_applied"] == published && e["plan_version_published"] == published
            })
        },
    )
    .await;

    // The operator signs in, starts the order, issues 30 kg of L-1: central's ledger follows.
    for code in [
        "(96)10442".to_owned(),
        format!("(91){wo}"),
        "(92)STEEL(93)L-1(94)30kg".to_owned(),
    ] {
        let (status, answer) = edge
            .post_json("/api/v1/scans", &json!({"station": STATION, "code": code}))
            .await;
        assert_eq!(status, 200, "{code}: {answer}");
        assert_eq!(answer["result"], "accepted", "{code}: {answer}");
    }
    wait_until("central to book the issue", DEADLINE, || async {
        (admin.lot_stock("L-1").await == Decimal::from(70)).then_some(())
    })
    .await;
    let view = admin.get(&format!("/api/v1/work-orders/{wo}")).await;
    assert_eq!(view["components"][0]["issued"], "30", "{view}");

    // Parts counted, then a lot of 20 completed: shipment-ready stock, traced to L-1.
    wait_until(
        "the press to count into the order at central",
        DEADLINE,
        || async { (admin.good(&wo).await >= 20).then_some(()) },
    )
    .await;

    // What runs on a station is one fact: central shows what the edge's status says runs,
    // in the edge's view and in the work order's.
    let on_edge = running(&edge.status_json().await.unwrap()["stations"]);
    assert!(
        on_edge
            .iter()
            .any(|(st, w, _, _)| st == STATION && *w == json!(wo)),
        "the edge runs {wo} on {STATION}: {on_edge:?}"
    );
    wait_until(
        "central to show what runs as the edge does",
        DEADLINE,
        || async {
            let at_central = central.edge_json(EDGE_ID).await?;
            (running(&at_central["stations"]["stations"]) == on_edge).then_some(())
        },
    )
    .await;
    let view = admin.get(&format!("/api/v1/work-orders/{wo}")).await;
    let at = &view["stations"];
    assert_eq!(at.as_array().map(Vec::len), Some(1), "{view}");
    assert_eq!(
        (&at[0]["edge_id"], &at[0]["station"]),
        (&json!(EDGE_ID), &json!(STATION))
    );
    assert!(at[0]["reported_at"].is_string(), "{view}");
    complete_lot(&admin, &edge, 20, "L-1").await;

    // Central goes away; the line goes on: parts, and a second lot of 15.
    central.kill();
    let offline_from = edge.try_status().await.unwrap().last_seq;
    let (status, answer) = edge
        .post_json(
            &format!("/api/v1/stations/{STATION}/lots"),
            &json!({"qty": "15"}),
        )
        .await;
    assert_eq!(
        (status, &answer["result"]),
        (200, &json!("accepted")),
        "{answer}"
    );
    let lot_2 = answer["lot"].as_str().expect("the lot's id").to_owned();
    edge.wait_status("the edge to count offline", |s| {
        s.last_seq > offline_from + 5 && s.backlog > 0
    })
    .await;
    central.launch().await;

    // Back online: the edge still runs the plan central published, and central knows it.
    let published = admin.get(&format!("/api/v1/edges/{EDGE_ID}/plan")).await["version"].clone();
    wait_until("central to see the edge's plan again", DEADLINE, || async {
        central
            .edge_json(EDGE_ID)
            .await
            .filter(|e| e["plan_version_applied"] == published)
    })
    .await;
    assert_eq!(
        edge.status_json().await.unwrap()["plan_version"],
        published,
        "the edge's view of its plan"
    );

    // Stop the press and the edge (which notes the press going away), then start the edge
    // again without it to drain what is left: central holds exactly what the edge committed.
    stop_plc.send_replace(true);
    let _ = plc.await;
    edge.proc.terminate().await;
    let committed = home.read_journal().last_seq();
    let mut edge = home.spawn_with("");
    edge.wait_ready().await;
    edge.wait_drained(committed).await;
    edge.proc.terminate().await;
    let journal = assert_exactly_once(&central, &home).await;
    let (good, lots) = journal_books(&journal);

    // Work-order progress: central's good at operation 10 is the journal's.
    let counted = good.get(&(wo.clone(), 10)).copied().unwrap_or(0);
    assert!(counted >= 20, "{good:?}");
    assert_eq!(admin.good(&wo).await, counted);
    // The ledger and on-hand: import plus the journal's movements, lot by lot.
    assert_eq!(lots[&lot_2], Decimal::from(15));
    for (lot, delta) in &lots {
        let imported = if lot == "L-1" {
            Decimal::from(100)
        } else {
            Decimal::ZERO
        };
        assert_eq!(admin.lot_stock(lot).await, imported + delta, "lot {lot}");
    }
    let trace = admin
        .get(&format!("/api/v1/genealogy/{lot_2}?direction=backward"))
        .await;
    assert!(
        trace["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["lot"] == "L-1"),
        "{trace}"
    );
    let ledger = admin.get("/api/v1/inventory/ledger?item=FRAME").await;
    assert_eq!(ledger["entries"].as_array().unwrap().len(), 2, "{ledger}");

    // MRP nets what was made: 35 frames in stock and 965 still to come from the order cover
    // the 1000; 300 more demanded are planned, no more.
    assert!(admin.mrp_orders("2031-01-06", "FRAME").await.is_empty());
    admin
        .import(
            "demands",
            "item,qty,due_date,reference\nFRAME,1300,2031-03-03,SO-1\n",
        )
        .await;
    let frame = admin.mrp_orders("2031-01-06", "FRAME").await;
    assert_eq!(frame.len(), 1, "{frame:?}");
    assert_eq!(frame[0]["qty"], 300, "{frame:?}");
}
