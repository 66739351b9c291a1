//! The scan processor's decisions (`processor::scan::Floor`) on arbitrary codes and terminal
//! buttons at arbitrary stations, against a plan with limited and unlimited components, held
//! and expiring lots, a GTIN, operators with and without PINs and a skill.
//!
//! Requisitions asked at the terminal are arbitrary too.
//!
//! Invariants: no panic; every event is within `protocol::bounds` (so the journal and central
//! take it); a refusal changes no state and makes one event; a limited component is never
//! issued beyond what the order needs; the floor comes back whole from the state saved.
#![no_main]

use arbitrary::Arbitrary;
use chrono::{NaiveDate, TimeZone, Utc};
use edge_agent::processor::scan::{
    Floor, PinCheck, ScanResult, StationAction, StationCommand, StationState,
};
use edge_agent::sources::ScanRequest;
use libfuzzer_sys::fuzz_target;
use protocol::{
    Plan, PlanComponent, PlanLot, PlanOperation, PlanOperator, PlanVersion, PlanWorkOrder,
};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

#[derive(Debug, Arbitrary)]
enum Act {
    Code { station: u8, code: String },
    Template { station: u8, which: u8, text: String, n: u64, scale: u8 },
    SignIn { station: u8, badge: u8, pin: u8 },
    SignOut { station: u8 },
    Complete { station: u8, mantissa: i64, scale: u8, approved: bool },
    Ask { station: u8, item: String, mantissa: i64, scale: u8, uom: Option<String>, reason: String },
}

const STATIONS: [&str; 3] = ["st-10", "st-20", "st-\u{202e}"];

fn plan() -> Plan {
    let op = |station: &str, skill: Option<&str>| PlanOperation {
        operation: 10,
        description: "stamp".into(),
        station: Some(station.into()),
        allowed_components: vec!["STEEL".into(), "GREASE".into()],
        components: vec![PlanComponent {
            item: "STEEL".into(),
            qty: Decimal::new(50, 0),
            uom: "kg".into(),
        }],
        skill: skill.map(str::to_owned),
    };
    let wo = |id: &str, station: &str, skill: Option<&str>, on_hold: bool| PlanWorkOrder {
        work_order: id.into(),
        item: "BRACKET".into(),
        qty: Decimal::new(500, 0),
        uom: "pcs".into(),
        due: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default(),
        priority: 0,
        operations: vec![op(station, skill)],
        plc_parameters: Default::default(),
        on_hold,
        made_for: Vec::new(),
    };
    Plan {
        edge_id: "line-1".into(),
        version: PlanVersion(1),
        published_at: Utc::now(),
        epoch: None,
        work_orders: vec![
            wo("WO-1", "st-10", None, false),
            wo("WO-2", "st-20", Some("weld"), false),
            wo("WO-H", "st-10", None, true),
        ],
        lots: vec![PlanLot {
            lot: "L-HOLD".into(),
            item: "STEEL".into(),
            expires: NaiveDate::from_ymd_opt(2026, 1, 1),
            on_hold: true,
            hold_reason: Some("QC".into()),
            location: None,
            on_hand: None,
        }],
        gtins: BTreeMap::from([("09506000134352".to_owned(), "STEEL".into())]),
        operators: vec![
            PlanOperator { badge: "1".into(), name: "A".into(), skills: vec![], pin_hash: None },
            PlanOperator {
                badge: "2".into(),
                name: "B".into(),
                skills: vec!["weld".into(), "supervisor".into()],
                pin_hash: Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into()),
            },
        ],
        rules: None,
        shipments: Vec::new(),
        requisitions: Vec::new(),
    }
}

fn template(which: u8, text: &str, n: u64, scale: u8) -> String {
    let qty = Decimal::try_from_i128_with_scale(i128::from(n), u32::from(scale % 30))
        .unwrap_or(Decimal::ONE);
    match which % 8 {
        0 => format!("(96){text}"),
        1 => format!("(91){text}"),
        2 => format!("(92)STEEL(93){text}(94){qty}kg"),
        3 => format!("(92)GREASE(93){text}(94){qty}kg"),
        4 => format!("(95){text}"),
        5 => format!("(97){text}"),
        6 => format!("(01)09506000134352(3101){:06}(10){text}(17)270101", n % 1_000_000),
        _ => format!("(92){text}(93)L(94){qty}{text}"),
    }
}

fuzz_target!(|acts: Vec<Act>| {
    let plan = plan();
    let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).single().expect("a time");
    let window = protocol::bounds::TimeWindow::around(at, chrono::TimeDelta::hours(1));
    let mut floor = Floor::default();
    let mut saved = BTreeMap::new();
    for act in acts.into_iter().take(64) {
        let request = |station: u8, raw: String| ScanRequest {
            raw,
            at,
            station: STATIONS[usize::from(station) % STATIONS.len()].into(),
            device: None,
            reply: None,
        };
        let command = |station: u8, action| StationCommand {
            station: STATIONS[usize::from(station) % STATIONS.len()].into(),
            at,
            action,
            reply: None,
        };
        let d = match act {
            Act::Code { station, code } => floor.scan(&request(station, code), Some(&plan)),
            Act::Template { station, which, text, n, scale } => {
                floor.scan(&request(station, template(which, &text, n, scale)), Some(&plan))
            }
            Act::SignIn { station, badge, pin } => {
                let pin = [PinCheck::NotGiven, PinCheck::Verified, PinCheck::Wrong, PinCheck::Locked]
                    [usize::from(pin) % 4];
                let action = StationAction::SignIn { badge: format!("{}", badge % 3).into(), pin };
                floor.command(&command(station, action), Some(&plan))
            }
            Act::SignOut { station } => floor.command(&command(station, StationAction::SignOut), Some(&plan)),
            Act::Complete { station, mantissa, scale, approved } => {
                let qty = Decimal::try_from_i128_with_scale(i128::from(mantissa), u32::from(scale % 30))
                    .unwrap_or(Decimal::ZERO);
                let action = StationAction::CompleteLot {
                    qty,
                    approved_by: approved.then(|| "2".into()),
                };
                floor.command(&command(station, action), Some(&plan))
            }
            Act::Ask { station, item, mantissa, scale, uom, reason } => {
                let qty = Decimal::try_from_i128_with_scale(i128::from(mantissa), u32::from(scale % 30))
                    .unwrap_or(Decimal::ZERO);
                let action = StationAction::RequestMaterial { item: item.as_str().into(), qty, uom, reason };
                floor.command(&command(station, action), Some(&plan))
            }
        };
        let mut events = d.events.clone();
        // What the processor does last before a commit: an event out of bounds (the station
        // id `st-\u{202e}` is one) is fitted, never committed as it was.
        edge_agent::processor::fit(&mut events, at);
        for e in &events {
            assert_eq!(protocol::bounds::check_event(e, &window), Ok(()), "{e:?}");
        }
        if d.outcome.result == ScanResult::Rejected {
            assert!(d.state.is_empty());
            assert_eq!(d.events.len(), 1);
        }
        saved.extend(d.state);
    }
    for ((_, _), issued) in &floor.issued {
        let steel = issued.by_item.get(&"STEEL".into()).copied().unwrap_or_default();
        assert!(steel <= Decimal::new(50, 0), "{steel}");
    }
    let restored = Floor::restore(saved);
    let changed = |f: &Floor| -> BTreeMap<_, _> {
        f.stations
            .iter()
            .filter(|(_, s)| **s != StationState::default())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(changed(&restored), changed(&floor));
    assert_eq!(restored.issued, floor.issued);
    assert_eq!(restored.asked, floor.asked);
});
