//! What raw readings mean: counters become production, state codes machine states, analog
//! values measurements. Sans-I/O: readings, the plan in force and the persisted counter values
//! in; events and the state to persist with them out.

use super::counter::{CounterStep, CounterTracker};
use crate::config::SourceConfig;
use crate::config::modbus::{Counts, Meaning, StateCode};
use crate::sources::{Readings, Value};
use chrono::{DateTime, Utc};
use protocol::{
    EventBody, EventId, EventKind, MachineState, Plan, RunBy, Source, StationId, WorkOrderId,
};
use std::collections::{BTreeMap, HashMap};

/// (device, tag)
type TagKey = (String, String);

/// What each configured tag means, by device and tag name.
#[derive(Debug, Clone, Default)]
pub struct Meanings(HashMap<TagKey, Meaning>);

impl Meanings {
    pub fn from_sources(sources: &[SourceConfig]) -> Meanings {
        let mut map = HashMap::new();
        for source in sources {
            if let SourceConfig::Modbus(m) = source
                && let Ok(device) = m.device()
            {
                for tag in device.groups.iter().flat_map(|g| &g.tags) {
                    if let Some(meaning) = &tag.meaning {
                        map.insert((device.device.clone(), tag.name.clone()), meaning.clone());
                    }
                }
            }
        }
        Meanings(map)
    }

    pub fn insert(&mut self, device: &str, tag: &str, meaning: Meaning) {
        self.0.insert((device.to_owned(), tag.to_owned()), meaning);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The journal state key of a counter's last value.
pub fn counter_key(device: &str, tag: &str) -> String {
    format!("counter/{device}/{tag}")
}

/// The journal state key of a state tag's last code.
pub fn state_key(device: &str, tag: &str) -> String {
    format!("machine_state/{device}/{tag}")
}

/// The work order (and operation) started at each station by a scan (`processor/scan.rs`).
pub type Started = BTreeMap<StationId, (WorkOrderId, Option<u32>)>;

/// What runs on a station: the work order (and operation) its counts are booked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub work_order: WorkOrderId,
    pub operation: Option<u32>,
    pub by: RunBy,
}

/// What runs on `station`: the work order started there by a scan while the plan still holds
/// it, else the plan's first work order not on hold with an operation at that station (and
/// that operation), else nothing: counts there are then booked to no work order (unassigned).
///
/// **The one answer** to "what runs here": the counting (Modbus readings, MQTT values,
/// simulated machines), the terminal's station view and the edge's status all ask it, so they
/// cannot disagree. A work order whose routing does not name the station never runs there.
pub fn running_at(plan: Option<&Plan>, started: &Started, station: &str) -> Option<Running> {
    let plan = plan?;
    if let Some((wo, op)) = started.get(&StationId::from(station))
        && plan.work_order(wo.as_str()).is_some()
    {
        return Some(Running {
            work_order: wo.clone(),
            operation: *op,
            by: RunBy::Scan,
        });
    }
    plan.planned_at(station).map(|(wo, op)| Running {
        work_order: wo.work_order.clone(),
        operation: Some(op.operation),
        by: RunBy::Plan,
    })
}

/// [`running_at`] as the work order and operation an event carries (none without a station).
pub fn work_order_at(
    plan: Option<&Plan>,
    started: &Started,
    station: Option<&str>,
) -> (Option<WorkOrderId>, Option<u32>) {
    match station.and_then(|s| running_at(plan, started, s)) {
        Some(r) => (Some(r.work_order), r.operation),
        None => (None, None),
    }
}

/// [`work_order_at`] with nothing started by a scan.
pub fn work_order_for(
    plan: Option<&Plan>,
    station: Option<&str>,
) -> (Option<WorkOrderId>, Option<u32>) {
    work_order_at(plan, &Started::new(), station)
}

/// Events and the state to commit with them, in one transaction.
#[derive(Debug, Default, PartialEq)]
pub struct Interpreted {
    pub events: Vec<EventBody>,
    pub state: BTreeMap<String, String>,
    /// Scans read from devices (MQTT scanners), for the scan processor.
    pub scans: Vec<DeviceScan>,
}

/// A code an MQTT device published as a scan, bound to its station.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceScan {
    pub raw: String,
    pub at: DateTime<Utc>,
    pub station: StationId,
    pub device: protocol::DeviceId,
}

/// Holds each counter's tracker and each state tag's last code.
#[derive(Debug, Default)]
pub struct Interpreter {
    meanings: Meanings,
    /// Work orders started by scans; set by the processor after each change.
    pub started: Started,
    counters: HashMap<TagKey, CounterTracker>,
    codes: HashMap<TagKey, i64>,
}

impl Interpreter {
    pub fn new(meanings: Meanings) -> Interpreter {
        Interpreter {
            meanings,
            ..Interpreter::default()
        }
    }

    /// The journal state keys to load at start, with [`restore`](Self::restore).
    pub fn state_keys(&self) -> Vec<String> {
        self.meanings
            .0
            .iter()
            .filter_map(|((device, tag), m)| match m {
                Meaning::Counter { .. } => Some(counter_key(device, tag)),
                Meaning::State { .. } => Some(state_key(device, tag)),
                Meaning::Measurement { .. } => None,
            })
            .collect()
    }

    /// Takes a persisted value back (a counter's last value, a state tag's last code).
    pub fn restore(&mut self, key: &str, value: &str) {
        for ((device, tag), meaning) in &self.meanings.0 {
            match meaning {
                Meaning::Counter { bits, max_step, .. } if key == counter_key(device, tag) => {
                    if let Ok(v) = value.parse::<u64>() {
                        self.counters.insert(
                            (device.clone(), tag.clone()),
                            CounterTracker::new(*bits, *max_step, Some(v)),
                        );
                    }
                }
                Meaning::State { .. } if key == state_key(device, tag) => {
                    if let Ok(v) = value.parse::<i64>() {
                        self.codes.insert((device.clone(), tag.clone()), v);
                    }
                }
                _ => {}
            }
        }
    }

    /// Turns one device's readings into events, adding them and the state to persist to `out`.
    pub fn interpret(&mut self, readings: &Readings, plan: Option<&Plan>, out: &mut Interpreted) {
        let device = readings.device.as_str();
        // Counts of one reading round, summed per station into one production report.
        let mut production: BTreeMap<Option<String>, (u64, u64)> = BTreeMap::new();
        for reading in &readings.values {
            let key = (device.to_owned(), reading.tag.clone());
            let Some(meaning) = self.meanings.0.get(&key) else {
                continue;
            };
            match meaning {
                Meaning::Counter {
                    station,
                    counts,
                    bits,
                    max_step,
                } => {
                    let raw = match &reading.value {
                        Value::UInt(u) => *u,
                        Value::Int(i) => *i as u64,
                        _ => continue,
                    };
                    let tracker = self
                        .counters
                        .entry(key)
                        .or_insert_with(|| CounterTracker::new(*bits, *max_step, None));
                    let step = tracker.observe(raw);
                    if let Some(last) = tracker.last() {
                        out.state
                            .insert(counter_key(device, &reading.tag), last.to_string());
                    }
                    match step {
                        CounterStep::Baseline => {}
                        CounterStep::Counted { n, how } => {
                            if !matches!(how, super::counter::Counted::Increase) {
                                tracing::info!(device, tag = %reading.tag, n, ?how, "counter wrapped or was reset");
                            }
                            let entry = production.entry(station.clone()).or_default();
                            match counts {
                                Counts::Good => entry.0 += n,
                                Counts::Scrap => entry.1 += n,
                            }
                        }
                        CounterStep::Implausible { from, to } => out.events.push(body(
                            readings.at,
                            device,
                            station.as_deref(),
                            EventKind::DeviceFault {
                                device: device.into(),
                                message: format!(
                                    "counter {} jumped from {from} to {to}, more than {max_step} parts between two readings; not counted, counting on from {to}",
                                    reading.tag
                                ),
                            },
                        )),
                    }
                }
                Meaning::State { station, codes } => {
                    let code = match &reading.value {
                        Value::Bool(b) => i64::from(*b),
                        Value::Int(i) => *i,
                        Value::UInt(u) => i64::try_from(*u).unwrap_or(i64::MAX),
                        _ => continue,
                    };
                    let previous = self.codes.insert(key, code);
                    if previous == Some(code) {
                        continue;
                    }
                    out.state
                        .insert(state_key(device, &reading.tag), code.to_string());
                    let now = map_code(codes, code);
                    if previous.is_some_and(|p| map_code(codes, p) == now) {
                        continue;
                    }
                    out.events.push(body(
                        readings.at,
                        device,
                        station.as_deref(),
                        EventKind::MachineStateChanged {
                            state: now.state,
                            reason: now.reason,
                        },
                    ));
                }
                Meaning::Measurement {
                    station,
                    characteristic,
                    unit,
                } => {
                    let Some(value) = reading.value.as_f64().filter(|v| v.is_finite()) else {
                        continue;
                    };
                    let (work_order, _) = work_order_at(plan, &self.started, station.as_deref());
                    out.events.push(body(
                        readings.at,
                        device,
                        station.as_deref(),
                        EventKind::Measurement {
                            characteristic: characteristic.clone(),
                            value,
                            unit: unit.clone(),
                            work_order,
                        },
                    ));
                }
            }
        }
        for (station, (good, scrap)) in production {
            if good == 0 && scrap == 0 {
                continue;
            }
            let (work_order, operation) = work_order_at(plan, &self.started, station.as_deref());
            out.events.push(body(
                readings.at,
                device,
                station.as_deref(),
                EventKind::ProductionReported {
                    work_order,
                    operation,
                    good,
                    scrap,
                },
            ));
        }
    }
}

fn map_code(codes: &BTreeMap<i64, StateCode>, code: i64) -> StateCode {
    codes.get(&code).cloned().unwrap_or_else(|| StateCode {
        state: MachineState::Down,
        reason: Some(format!("unmapped state code {code}")),
    })
}

fn body(at: DateTime<Utc>, device: &str, station: Option<&str>, kind: EventKind) -> EventBody {
    EventBody {
        id: EventId(uuid::Uuid::now_v7()),
        at,
        source: Source {
            device: Some(device.into()),
            station: station.map(Into::into),
        },
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Reading;
    use protocol::plan::{PlanOperation, PlanWorkOrder};

    fn meanings() -> Meanings {
        let mut m = Meanings::default();
        let counter = |counts, bits| Meaning::Counter {
            station: Some("st-10".into()),
            counts,
            bits,
            max_step: 1000,
        };
        m.insert("press", "good", counter(Counts::Good, 16));
        m.insert("press", "scrap", counter(Counts::Scrap, 32));
        let mut codes = BTreeMap::new();
        codes.insert(
            1,
            StateCode {
                state: MachineState::Running,
                reason: None,
            },
        );
        codes.insert(
            2,
            StateCode {
                state: MachineState::Idle,
                reason: None,
            },
        );
        codes.insert(
            3,
            StateCode {
                state: MachineState::Down,
                reason: Some("jam".into()),
            },
        );
        codes.insert(
            4,
            StateCode {
                state: MachineState::Down,
                reason: Some("jam".into()),
            },
        );
        m.insert(
            "press",
            "state",
            Meaning::State {
                station: Some("st-10".into()),
                codes,
            },
        );
        m.insert(
            "press",
            "diameter",
            Meaning::Measurement {
                station: Some("st-10".into()),
                characteristic: "hole-diameter".into(),
                unit: "mm".into(),
            },
        );
        m
    }

    fn readings(values: &[(&str, Value)]) -> Readings {
        Readings {
            device: "press".into(),
            at: Utc::now(),
            values: values
                .iter()
                .map(|(t, v)| Reading {
                    tag: (*t).into(),
                    value: v.clone(),
                })
                .collect(),
        }
    }

    fn run(i: &mut Interpreter, values: &[(&str, Value)], plan: Option<&Plan>) -> Interpreted {
        let mut out = Interpreted::default();
        i.interpret(&readings(values), plan, &mut out);
        out
    }

    fn kinds(out: &Interpreted) -> Vec<EventKind> {
        out.events.iter().map(|e| e.kind.clone()).collect()
    }

    fn plan() -> Plan {
        let wo = |id: &str, operation: u32, station: &str| PlanWorkOrder {
            work_order: id.into(),
            item: "BRACKET".into(),
            qty: rust_decimal::Decimal::new(500, 0),
            uom: "pcs".into(),
            due: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            priority: 1,
            operations: vec![PlanOperation {
                operation,
                description: "op".into(),
                station: Some(station.into()),
                allowed_components: vec![],
                components: vec![],
                skill: None,
            }],
            plc_parameters: Default::default(),
            on_hold: false,
            made_for: Vec::new(),
        };
        Plan {
            edge_id: "line-1".into(),
            version: protocol::plan::PlanVersion(1),
            published_at: Utc::now(),
            epoch: None,
            work_orders: vec![wo("WO-A", 10, "st-99"), wo("WO-B", 20, "st-10")],
            lots: vec![],
            gtins: Default::default(),
            operators: Vec::new(),
            rules: None,
            shipments: Vec::new(),
            requisitions: Vec::new(),
        }
    }

    #[test]
    fn good_and_scrap_of_one_round_make_one_report_for_the_station_s_work_order() {
        let mut i = Interpreter::new(meanings());
        let first = run(
            &mut i,
            &[("good", Value::UInt(65_530)), ("scrap", Value::UInt(7))],
            None,
        );
        assert!(first.events.is_empty(), "a baseline counts nothing");
        assert_eq!(first.state["counter/press/good"], "65530");
        let plan = plan();
        let out = run(
            &mut i,
            &[("good", Value::UInt(4)), ("scrap", Value::UInt(9))],
            Some(&plan),
        );
        assert_eq!(
            kinds(&out),
            vec![EventKind::ProductionReported {
                work_order: Some("WO-B".into()),
                operation: Some(20),
                good: 10,
                scrap: 2,
            }]
        );
        assert_eq!(
            out.events[0].source.station.as_ref().unwrap().as_str(),
            "st-10"
        );
        assert_eq!(out.state["counter/press/good"], "4");
        assert_eq!(out.state["counter/press/scrap"], "9");
        // No movement, no event.
        let out = run(&mut i, &[("good", Value::UInt(4))], Some(&plan));
        assert!(out.events.is_empty());
    }

    #[test]
    fn counts_go_to_the_order_routed_through_the_station_or_to_none() {
        // Issue 12: presses on st-20 and st-30 counted into a work order routed through st-10
        // only (the plan's first work order was the fallback).
        let mut plan = plan();
        assert_eq!(
            work_order_for(Some(&plan), Some("st-10")),
            (Some("WO-B".into()), Some(20))
        );
        assert_eq!(work_order_for(Some(&plan), Some("st-30")), (None, None));
        assert_eq!(work_order_for(Some(&plan), None), (None, None));
        assert_eq!(work_order_for(None, Some("st-10")), (None, None));
        // A held order does not run anywhere by the plan alone.
        plan.work_orders[1].on_hold = true;
        assert_eq!(work_order_for(Some(&plan), Some("st-10")), (None, None));
        // One started by a scan runs where it was started, while the plan holds it.
        let started = Started::from([(StationId::from("st-10"), ("WO-B".into(), Some(20)))]);
        assert_eq!(
            running_at(Some(&plan), &started, "st-10"),
            Some(Running {
                work_order: "WO-B".into(),
                operation: Some(20),
                by: RunBy::Scan
            })
        );
        plan.work_orders.remove(1);
        assert_eq!(running_at(Some(&plan), &started, "st-10"), None);
        assert_eq!(
            running_at(Some(&plan), &started, "st-99").map(|r| (r.work_order, r.by)),
            Some(("WO-A".into(), RunBy::Plan))
        );
    }

    #[test]
    fn a_counter_at_a_station_no_order_runs_on_reports_unassigned_production() {
        let mut m = Meanings::default();
        m.insert(
            "press-30",
            "good",
            Meaning::Counter {
                station: Some("st-30".into()),
                counts: Counts::Good,
                bits: 32,
                max_step: 1000,
            },
        );
        let mut i = Interpreter::new(m);
        i.restore("counter/press-30/good", "10");
        let plan = plan();
        let mut out = Interpreted::default();
        let mut r = readings(&[("good", Value::UInt(25))]);
        r.device = "press-30".into();
        i.interpret(&r, Some(&plan), &mut out);
        assert_eq!(
            kinds(&out),
            vec![EventKind::ProductionReported {
                work_order: None,
                operation: None,
                good: 15,
                scrap: 0
            }]
        );
    }

    #[test]
    fn a_restored_counter_counts_what_happened_while_the_edge_was_away() {
        let mut i = Interpreter::new(meanings());
        let mut keys = i.state_keys();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                "counter/press/good",
                "counter/press/scrap",
                "machine_state/press/state"
            ]
        );
        i.restore("counter/press/good", "100");
        let out = run(&mut i, &[("good", Value::UInt(130))], None);
        assert_eq!(
            kinds(&out),
            vec![EventKind::ProductionReported {
                work_order: None,
                operation: None,
                good: 30,
                scrap: 0
            }]
        );
    }

    #[test]
    fn an_implausible_jump_is_a_device_fault_not_production() {
        let mut i = Interpreter::new(meanings());
        i.restore("counter/press/good", "100");
        let out = run(&mut i, &[("good", Value::UInt(30_000))], None);
        let k = kinds(&out);
        assert!(
            matches!(&k[..], [EventKind::DeviceFault { message, .. }] if message.contains("jumped from 100 to 30000")),
            "{k:?}"
        );
        assert_eq!(out.state["counter/press/good"], "30000");
    }

    #[test]
    fn state_codes_become_state_changes_only_when_the_state_changes() {
        let mut i = Interpreter::new(meanings());
        let out = run(&mut i, &[("state", Value::UInt(1))], None);
        assert_eq!(
            kinds(&out),
            vec![EventKind::MachineStateChanged {
                state: MachineState::Running,
                reason: None
            }]
        );
        assert_eq!(out.state["machine_state/press/state"], "1");
        assert!(
            run(&mut i, &[("state", Value::UInt(1))], None)
                .events
                .is_empty()
        );
        let out = run(&mut i, &[("state", Value::UInt(3))], None);
        assert_eq!(
            kinds(&out),
            vec![EventKind::MachineStateChanged {
                state: MachineState::Down,
                reason: Some("jam".into())
            }]
        );
        // Another code with the same meaning: persisted, but no event.
        let out = run(&mut i, &[("state", Value::UInt(4))], None);
        assert!(out.events.is_empty());
        assert_eq!(out.state["machine_state/press/state"], "4");
        let out = run(&mut i, &[("state", Value::UInt(77))], None);
        assert_eq!(
            kinds(&out),
            vec![EventKind::MachineStateChanged {
                state: MachineState::Down,
                reason: Some("unmapped state code 77".into())
            }]
        );
    }

    #[test]
    fn a_restored_state_is_not_reported_again() {
        let mut i = Interpreter::new(meanings());
        i.restore("machine_state/press/state", "2");
        assert!(
            run(&mut i, &[("state", Value::UInt(2))], None)
                .events
                .is_empty()
        );
    }

    #[test]
    fn measurements_carry_the_station_s_work_order() {
        let mut i = Interpreter::new(meanings());
        let plan = plan();
        let out = run(
            &mut i,
            &[
                ("diameter", Value::Float(8.01)),
                ("unknown", Value::UInt(1)),
            ],
            Some(&plan),
        );
        assert_eq!(
            kinds(&out),
            vec![EventKind::Measurement {
                characteristic: "hole-diameter".into(),
                value: 8.01,
                unit: "mm".into(),
                work_order: Some("WO-B".into()),
            }]
        );
    }
}
