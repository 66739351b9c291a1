//! `mes bench floor`: the scan processor's memory over months of production, with and without
//! forgetting what it no longer needs (issue 11, "years on a gateway").
//!
//! A simulated line runs `orders_per_day` work orders a day at one station: an operator signs
//! in and starts each order, issues ten lots to it, puts ten lots away and completes five
//! finished lots; each order stays in the plan for two days. Every simulated day the floor is
//! pruned (retention 7 days, as the journal's default) in one run and not in the other. Both
//! runs go through the real `Floor` decisions, in this process, one after the other; the
//! figures are what the floor holds at the end (orders, lots, the JSON its journal state
//! would take) and how far the process's resident memory grew during each run.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use edge_agent::processor::scan::{Floor, StationAction, StationCommand};
use edge_agent::sources::ScanRequest;
use protocol::{Plan, PlanComponent, PlanOperation, PlanOperator, PlanVersion, PlanWorkOrder};
use rust_decimal::Decimal;
use serde_json::json;

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

fn order(n: u64) -> PlanWorkOrder {
    PlanWorkOrder {
        work_order: format!("WO-{n:07}").as_str().into(),
        item: "BRACKET".into(),
        qty: Decimal::new(500, 0),
        uom: "pcs".into(),
        due: chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default(),
        priority: 0,
        operations: vec![PlanOperation {
            operation: 10,
            description: "stamp".into(),
            station: Some("st-10".into()),
            allowed_components: vec!["STEEL-2MM".into()],
            components: vec![PlanComponent {
                item: "STEEL-2MM".into(),
                qty: Decimal::new(1_000_000, 0),
                uom: "kg".into(),
            }],
            skill: None,
        }],
        plc_parameters: Default::default(),
        on_hold: false,
        made_for: Vec::new(),
    }
}

fn plan(orders: impl Iterator<Item = u64>) -> Plan {
    Plan {
        edge_id: "line-1".into(),
        version: PlanVersion(1),
        published_at: Utc::now(),
        epoch: None,
        work_orders: orders.map(order).collect(),
        lots: Vec::new(),
        gtins: Default::default(),
        operators: vec![PlanOperator {
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

fn scan(floor: &mut Floor, plan: &Plan, at: DateTime<Utc>, code: &str) {
    floor.scan(
        &ScanRequest {
            raw: code.to_owned(),
            at,
            station: "st-10".into(),
            device: None,
            reply: None,
        },
        Some(plan),
    );
}

/// Runs the line for `days`; returns the final floor's figures.
fn run_line(days: u64, orders_per_day: u64, prune: bool) -> serde_json::Value {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 6, 0, 0)
        .single()
        .unwrap_or_default();
    let mut floor = Floor::default();
    floor.limits.retention = TimeDelta::days(7);
    let before = rss();
    let mut lot = 0u64;
    let mut forgotten = 0usize;
    for day in 0..days {
        let first = day.saturating_sub(1) * orders_per_day;
        let last = (day + 1) * orders_per_day;
        let plan = plan(first..last);
        for n in day * orders_per_day..last {
            let at = start + TimeDelta::days(day as i64) + TimeDelta::minutes(n as i64 % 600);
            let wo = format!("WO-{n:07}");
            if floor
                .stations
                .get(&"st-10".into())
                .is_none_or(|s| s.operator.is_none())
            {
                scan(&mut floor, &plan, at, "(96)10442");
            }
            scan(&mut floor, &plan, at, &format!("(91){wo}"));
            for _ in 0..10 {
                lot += 1;
                scan(
                    &mut floor,
                    &plan,
                    at,
                    &format!("(92)STEEL-2MM(93)L{lot}(94)25kg"),
                );
            }
            scan(&mut floor, &plan, at, "(95)RACK-A");
            for _ in 0..10 {
                lot += 1;
                scan(
                    &mut floor,
                    &plan,
                    at,
                    &format!("(92)STEEL-2MM(93)L{lot}(94)25kg"),
                );
            }
            scan(&mut floor, &plan, at, "(95)RACK-A");
            for _ in 0..5 {
                floor.command(
                    &StationCommand {
                        station: "st-10".into(),
                        at,
                        action: StationAction::CompleteLot {
                            qty: Decimal::new(100, 0),
                            approved_by: None,
                        },
                        reply: None,
                    },
                    Some(&plan),
                );
            }
        }
        if prune {
            let end_of_day = start + TimeDelta::days(day as i64 + 1);
            forgotten += floor.prune(Some(&plan), end_of_day, []).orders.len();
        }
    }
    let after = rss();
    let state_bytes: usize = floor
        .issued
        .values()
        .map(|i| serde_json::to_string(i).map(|s| s.len()).unwrap_or(0))
        .sum::<usize>()
        + floor.lot_locations.len() * 64;
    json!({
        "bench": "floor",
        "days": days,
        "orders_per_day": orders_per_day,
        "pruned": prune,
        "orders_kept": floor.issued.len(),
        "orders_forgotten": forgotten,
        "lot_places_kept": floor.lot_locations.len(),
        "state_json_bytes": state_bytes,
        "rss_growth_mib": (after.saturating_sub(before)) as f64 / (1u64 << 20) as f64,
    })
}

/// Both runs, pruned first (so that memory the unpruned run grows into is not memory the
/// pruned run already took and gave back).
pub fn floor(days: u64, orders_per_day: u64) {
    for prune in [true, false] {
        println!("{}", run_line(days, orders_per_day, prune));
    }
}
