//! Issue 12 at the edge: counts go to what runs on their station (or to no order, and are
//! shown), the plant's rules from the plan (tolerance, stop counting a complete order,
//! negative stock), and "what runs on a station" is one fact: the counting, the terminal's
//! station view, the edge's status and the status sent to central say the same.
//!
//! Counting comes from the simulated machines (st-10, st-20, st-30), which stop after a fixed
//! number of events; the tests wait for the journal to hold them all, then compare.

use crate::scans::{get, journal_events, plan, scan, start, start_with};
use edge_agent::topology::RunningEdge;
use protocol::{EventKind, NegativeStock, Plan, PlanLot, PlanRules, StationRun};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Simulated machines on st-10 (and st-20, st-30 with `machines` 3) making `max_events`.
fn simulated(machines: u32, max_events: u64) -> String {
    format!(
        "[[sources]]\ntype = \"simulated\"\nmachines = {machines}\ncycle = \"5ms\"\nparts_per_cycle = 1\nseed = 12\nmax_events = {max_events}\n"
    )
}

/// Waits until the journal holds `n` events (the simulated machines stopped at `n`) and the
/// live floor (published after the commit) counts all their parts.
async fn wait_for_events(edge: &RunningEdge, n: u64) {
    let mut committed = edge.journal.committed();
    tokio::time::timeout(
        Duration::from_secs(30),
        committed.wait_for(|seq| seq.0 >= n),
    )
    .await
    .expect("the simulated machines' events are committed within 30 s")
    .expect("the journal runs");
    let total: u64 = journal_counts(edge)
        .await
        .values()
        .map(|(g, s)| g + s)
        .sum();
    let mut floor = edge.live.watch_floor();
    tokio::time::timeout(
        Duration::from_secs(10),
        floor.wait_for(|view| {
            let counted: u64 = view
                .progress
                .values()
                .chain(view.unassigned.values())
                .map(|c| c.good + c.scrap)
                .sum();
            counted == total
        }),
    )
    .await
    .expect("the live floor counts every committed part")
    .expect("the processor runs");
}

/// Good and scrap per (station, work order) in the journal's production reports.
async fn journal_counts(edge: &RunningEdge) -> BTreeMap<(String, Option<String>), (u64, u64)> {
    let mut counts = BTreeMap::new();
    for e in journal_events(edge).await {
        if let EventKind::ProductionReported {
            work_order,
            good,
            scrap,
            ..
        } = &e.kind
        {
            let station = e.source.station.as_ref().unwrap().to_string();
            let entry: &mut (u64, u64) = counts
                .entry((station, work_order.as_ref().map(|w| w.to_string())))
                .or_default();
            entry.0 += good;
            entry.1 += scrap;
        }
    }
    counts
}

/// The edge's status of one station, as `/api/v1/status` and the report to central carry it.
async fn status_of(edge: &RunningEdge, station: &str) -> (Value, StationRun) {
    let (status, body) = get(edge, "/api/v1/status").await;
    assert_eq!(status, 200, "{body}");
    let from_http = body["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["station"] == station)
        .unwrap_or_else(|| panic!("{station} in the status: {body}"))
        .clone();
    let stats = edge.journal.stats().await.unwrap();
    let to_central = edge_agent::sync::edge_status(&"line-1".into(), &stats, &edge.live);
    let sent = to_central
        .stations
        .into_iter()
        .find(|s| s.station.as_str() == station)
        .unwrap_or_else(|| panic!("{station} in the status for central"));
    (from_http, sent)
}

#[tokio::test]
async fn issue_12_counts_go_to_the_order_that_runs_on_their_station_and_all_views_agree() {
    // The press on st-10 counted into WO-1001 while the terminal said "No work order running";
    // the presses on st-20 and st-30, which no routing names, counted into WO-1001 too.
    let dir = tempfile::tempdir().unwrap();
    let edge = start_with(dir.path(), Some(&plan()), &simulated(3, 300)).await;
    wait_for_events(&edge, 300).await;

    let counts = journal_counts(&edge).await;
    let stations: Vec<(&str, Option<&str>)> = counts
        .keys()
        .map(|(s, w)| (s.as_str(), w.as_deref()))
        .collect();
    assert_eq!(
        stations,
        vec![("st-10", Some("WO-1001")), ("st-20", None), ("st-30", None)],
        "only st-10 counts into WO-1001: {counts:?}"
    );
    // Material the simulated press issued went to the order running on its station only.
    for e in journal_events(&edge).await {
        if let EventKind::MaterialIssued { .. } = e.kind {
            assert_eq!(e.source.station.as_ref().unwrap().as_str(), "st-10");
        }
    }
    let wo_good = counts[&("st-10".to_owned(), Some("WO-1001".to_owned()))].0;
    let st20 = counts[&("st-20".to_owned(), None)];

    // The terminal shows what the counting booked to: WO-1001 at st-10, run by the plan.
    let (_, view) = get(&edge, "/api/v1/stations/st-10").await;
    assert_eq!(view["work_order"]["work_order"], "WO-1001", "{view}");
    assert_eq!(view["work_order"]["by"], "plan");
    assert_eq!(view["work_order"]["good"], wo_good);
    let (http, sent) = status_of(&edge, "st-10").await;
    assert_eq!(http["work_order"], "WO-1001", "{http}");
    assert_eq!(http["by"], "plan");
    assert_eq!(http["good"], wo_good);
    assert_eq!(serde_json::to_value(&sent).unwrap(), http);

    // st-20: no order runs; its parts are kept unassigned, and shown.
    let (status, view) = get(&edge, "/api/v1/stations/st-20").await;
    assert_eq!(status, 200);
    assert_eq!(view["work_order"], Value::Null, "{view}");
    assert_eq!(view["unassigned"], json!({"good": st20.0, "scrap": st20.1}));
    let (http, sent) = status_of(&edge, "st-20").await;
    assert_eq!(http.get("work_order"), None, "{http}");
    assert_eq!(
        (
            http["unassigned_good"].as_u64(),
            http["unassigned_scrap"].as_u64()
        ),
        (Some(st20.0), Some(st20.1))
    );
    assert_eq!(serde_json::to_value(&sent).unwrap(), http);

    // Started by a scan: the same order, now "by scan", everywhere.
    let signed_in = scan(&edge, "(96)10442").await;
    assert_eq!(signed_in["result"], "accepted", "{signed_in}");
    let started = scan(&edge, "(91)WO-1001").await;
    assert_eq!(started["result"], "accepted", "{started}");
    let (_, view) = get(&edge, "/api/v1/stations/st-10").await;
    assert_eq!(
        view["work_order"]["by"], "scan",
        "{view}; the scan answered {started}"
    );
    let (http, sent) = status_of(&edge, "st-10").await;
    assert_eq!(
        (http["work_order"].as_str(), http["by"].as_str()),
        (Some("WO-1001"), Some("scan"))
    );
    assert_eq!(serde_json::to_value(&sent).unwrap(), http);

    // Unassigned counts come back after a restart.
    edge.shutdown().await;
    let edge = start(dir.path(), Some(&plan())).await;
    let (_, view) = get(&edge, "/api/v1/stations/st-20").await;
    assert_eq!(view["unassigned"], json!({"good": st20.0, "scrap": st20.1}));
    edge.shutdown().await;
}

fn plan_with(qty: i64, rules: PlanRules) -> Plan {
    let mut plan = plan();
    plan.work_orders[0].qty = Decimal::new(qty, 0);
    plan.rules = Some(rules);
    plan
}

#[tokio::test]
async fn a_complete_order_stops_counting_where_the_plant_says_so() {
    // 30 pieces, 10 % tolerance: 33 are booked to WO-1001, the rest kept unassigned.
    let rules = PlanRules {
        over_tolerance_pct: Decimal::new(10, 0),
        stop_counting_when_complete: true,
        negative_stock: NegativeStock::Flag,
        stop_reasons: Vec::new(),
        spc_alarms: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let edge = start_with(dir.path(), Some(&plan_with(30, rules)), &simulated(1, 120)).await;
    wait_for_events(&edge, 120).await;
    let counts = journal_counts(&edge).await;
    let booked = counts[&("st-10".to_owned(), Some("WO-1001".to_owned()))];
    let kept = counts[&("st-10".to_owned(), None)];
    assert_eq!(booked.0, 33, "{counts:?}");
    assert!(kept.0 > 0, "{counts:?}");

    let (_, view) = get(&edge, "/api/v1/stations/st-10").await;
    assert_eq!(view["work_order"]["work_order"], "WO-1001", "{view}");
    assert_eq!(view["work_order"]["counting"], false);
    assert_eq!(view["work_order"]["over_production"], false);
    assert_eq!(view["work_order"]["good"], 33);
    assert_eq!(view["unassigned"], json!({"good": kept.0, "scrap": kept.1}));
    let (http, sent) = status_of(&edge, "st-10").await;
    assert_eq!(
        (http["counting"].as_bool(), http["unassigned_good"].as_u64()),
        (Some(false), Some(kept.0))
    );
    assert_eq!(serde_json::to_value(&sent).unwrap(), http);
    edge.shutdown().await;
}

#[tokio::test]
async fn over_production_beyond_the_tolerance_is_flagged_on_the_terminal_and_the_status() {
    let rules = PlanRules {
        over_tolerance_pct: Decimal::new(10, 0),
        stop_counting_when_complete: false,
        negative_stock: NegativeStock::Flag,
        stop_reasons: Vec::new(),
        spc_alarms: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let edge = start_with(dir.path(), Some(&plan_with(30, rules)), &simulated(1, 120)).await;
    wait_for_events(&edge, 120).await;
    let counts = journal_counts(&edge).await;
    let booked = counts[&("st-10".to_owned(), Some("WO-1001".to_owned()))];
    assert!(booked.0 > 33, "{counts:?}");
    let (_, view) = get(&edge, "/api/v1/stations/st-10").await;
    assert_eq!(view["work_order"]["over_production"], true, "{view}");
    assert_eq!(view["work_order"]["counting"], true);
    assert_eq!(view["work_order"]["allowed"], "33");
    let (http, _) = status_of(&edge, "st-10").await;
    assert_eq!(http["over_production"], true, "{http}");
    edge.shutdown().await;
}

/// WO-1001 and WO-1002 both at st-10, lot L-0001 with 30 kg at RACK-A by central's books.
fn stock_plan(rule: NegativeStock) -> Plan {
    let mut plan = plan();
    let mut second = plan.work_orders[0].clone();
    second.work_order = "WO-1002".into();
    plan.work_orders.push(second);
    plan.lots.push(PlanLot {
        lot: "L-0001".into(),
        item: "STEEL-2MM".into(),
        expires: None,
        on_hold: false,
        hold_reason: None,
        location: Some("RACK-A".into()),
        on_hand: Some(Decimal::new(30, 0)),
    });
    plan.rules = Some(PlanRules {
        negative_stock: rule,
        ..PlanRules::default()
    });
    plan
}

#[tokio::test]
async fn a_plant_that_refuses_negative_stock_refuses_a_lot_short_of_the_scan_even_after_a_restart()
{
    let dir = tempfile::tempdir().unwrap();
    let plan = stock_plan(NegativeStock::Refuse);
    let edge = start(dir.path(), Some(&plan)).await;
    scan(&edge, "(96)10442").await;
    scan(&edge, "(91)WO-1001").await;
    let refused = scan(&edge, "(92)STEEL-2MM(93)L-0001(94)40kg").await;
    assert_eq!(
        (refused["result"].as_str(), refused["reason"].as_str()),
        (Some("rejected"), Some("no_stock")),
        "{refused}"
    );
    assert_eq!(
        refused["message"],
        "lot L-0001 has 30 kg at RACK-A, 40 kg scanned"
    );
    assert_eq!(refused["params"]["on_hand"], "30");
    let issued = scan(&edge, "(92)STEEL-2MM(93)L-0001(94)20kg").await;
    assert_eq!(issued["action"], "issued", "{issued}");
    assert_eq!(issued.get("warning"), None);
    // What this edge drew is remembered, across a restart: 10 kg left for WO-1002.
    edge.shutdown().await;
    let edge = start(dir.path(), Some(&plan)).await;
    scan(&edge, "(91)WO-1002").await;
    let refused = scan(&edge, "(92)STEEL-2MM(93)L-0001(94)20kg").await;
    assert_eq!(refused["reason"], "no_stock", "{refused}");
    assert_eq!(
        refused["message"],
        "lot L-0001 has 10 kg at RACK-A, 20 kg scanned"
    );
    // A lot central gave no stock for is not refused.
    let other = scan(&edge, "(92)STEEL-2MM(93)L-0002(94)20kg").await;
    assert_eq!(other["action"], "issued", "{other}");
    // The refusal is on the terminal's list, with its reason for the translation.
    let (_, view) = get(&edge, "/api/v1/stations/st-10").await;
    assert_eq!(view["scans"][1]["reason"], "no_stock", "{view}");
    edge.shutdown().await;
}

#[tokio::test]
async fn a_plant_that_flags_negative_stock_takes_the_lot_with_a_warning_and_one_that_allows_says_nothing()
 {
    for (rule, warning) in [
        (NegativeStock::Flag, Some("negative_stock")),
        (NegativeStock::Allow, None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let edge = start(dir.path(), Some(&stock_plan(rule))).await;
        scan(&edge, "(96)10442").await;
        scan(&edge, "(91)WO-1001").await;
        let issued = scan(&edge, "(92)STEEL-2MM(93)L-0001(94)40kg").await;
        assert_eq!(issued["action"], "issued", "{rule:?}: {issued}");
        assert_eq!(issued["warning"].as_str(), warning, "{rule:?}: {issued}");
        if warning.is_some() {
            assert!(
                issued["message"]
                    .as_str()
                    .unwrap()
                    .contains("lot L-0001 has 30 kg at RACK-A, 40 kg scanned"),
                "{issued}"
            );
            // The station's list keeps the warning for the terminal.
            let (_, view) = get(&edge, "/api/v1/stations/st-10").await;
            assert_eq!(view["scans"][0]["warning"], "negative_stock", "{view}");
        }
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn an_issue_beyond_the_requirement_warns_within_the_tolerance_and_is_refused_beyond_it() {
    // 250 kg required, 10 % tolerance: up to 275 kg.
    let mut plan = plan();
    plan.rules = Some(PlanRules {
        over_tolerance_pct: Decimal::new(10, 0),
        ..PlanRules::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let edge = start(dir.path(), Some(&plan)).await;
    scan(&edge, "(96)10442").await;
    scan(&edge, "(91)WO-1001").await;
    let first = scan(&edge, "(92)STEEL-2MM(93)L-1(94)240kg").await;
    assert_eq!(
        (first["action"].as_str(), first.get("warning")),
        (Some("issued"), None)
    );
    let over = scan(&edge, "(92)STEEL-2MM(93)L-2(94)30kg").await;
    assert_eq!(
        (over["action"].as_str(), over["warning"].as_str()),
        (Some("issued"), Some("over_required")),
        "{over}"
    );
    assert_eq!(
        (
            over["params"]["issued"].as_str(),
            over["params"]["required"].as_str()
        ),
        (Some("270"), Some("250"))
    );
    let refused = scan(&edge, "(92)STEEL-2MM(93)L-3(94)6kg").await;
    assert_eq!(refused["reason"], "over_issue", "{refused}");
    assert_eq!(refused["params"]["open"], "5");
    let last = scan(&edge, "(92)STEEL-2MM(93)L-4(94)5kg").await;
    assert_eq!(
        (last["action"].as_str(), last["warning"].as_str()),
        (Some("issued"), Some("over_required")),
        "{last}"
    );
    edge.shutdown().await;
}

/// Issue 15: central's open SPC alarms come down in the plan and each station's terminal
/// view shows its own, newest first, until a plan without them replaces it.
#[tokio::test]
async fn the_plans_spc_alarms_show_at_their_station() {
    let alarm = |id: u64, station: &str, rule: u8| protocol::PlanSpcAlarm {
        id,
        station: station.into(),
        characteristic: "bore".into(),
        rule,
        value: 10.9,
        at: "2026-12-06T08:00:00Z".parse().unwrap(),
    };
    let rules = PlanRules {
        spc_alarms: vec![
            alarm(9, "st-10", 2),
            alarm(8, "st-20", 1),
            alarm(7, "st-10", 1),
        ],
        ..PlanRules::default()
    };
    protocol::bounds::check_plan(&plan_with(30, rules.clone()).content())
        .expect("a plan within bounds");
    let dir = tempfile::tempdir().unwrap();
    let edge = start_with(dir.path(), Some(&plan_with(30, rules)), "").await;
    let (_, view) = get(&edge, "/api/v1/stations/st-10").await;
    let shown: Vec<(u64, u64)> = view["spc_alarms"]
        .as_array()
        .unwrap_or_else(|| panic!("{view}"))
        .iter()
        .map(|a| (a["id"].as_u64().unwrap(), a["rule"].as_u64().unwrap()))
        .collect();
    // Another station's alarm (st-20's, 8) is not shown here.
    assert_eq!(shown, [(9, 2), (7, 1)]);
    assert_eq!(view["spc_alarms"][0]["characteristic"], "bore");
}
