//! Simulated machines: they count parts, scrap a few, stop now and then with a reason, consume
//! material lots, and measure a characteristic. A stand-in for real PLCs in the demo and in
//! tests, until the Modbus and MQTT sources replace it.

use super::SourceMessage;
use crate::config::SimulatedConfig;
use crate::live::{DeviceStatus, Live};
use chrono::Utc;
use protocol::{EventBody, EventId, EventKind, MachineState, Source, WorkOrderId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};

const DOWN_REASONS: [&str; 4] = ["jam", "tool change", "material shortage", "quality check"];

/// One simulated machine's state, advanced one cycle at a time. No I/O, no clock: the same
/// seed gives the same story.
pub struct Machine {
    pub device: String,
    pub station: String,
    state: MachineState,
    /// Cycles left in the current stop.
    stopped_for: u32,
    parts_since_issue: u64,
    lot_counter: u64,
}

impl Machine {
    pub fn new(index: u32) -> Machine {
        Machine {
            device: format!("sim-press-{}", index + 1),
            station: format!("st-{}0", index + 1),
            state: MachineState::Running,
            stopped_for: 0,
            parts_since_issue: 0,
            lot_counter: 0,
        }
    }

    pub fn state(&self) -> MachineState {
        self.state
    }

    /// Advances one cycle and returns what happened in it.
    pub fn cycle(
        &mut self,
        rng: &mut impl Rng,
        parts_per_cycle: u32,
        work_order: Option<&WorkOrderId>,
    ) -> Vec<EventKind> {
        let mut out = Vec::new();
        match self.state {
            MachineState::Down | MachineState::Setup => {
                self.stopped_for = self.stopped_for.saturating_sub(1);
                if self.stopped_for == 0 {
                    self.state = MachineState::Running;
                    out.push(EventKind::MachineStateChanged {
                        state: MachineState::Running,
                        reason: None,
                    });
                }
            }
            _ => {
                if rng.random_bool(0.005) {
                    self.state = MachineState::Down;
                    self.stopped_for = rng.random_range(3..20);
                    let reason = DOWN_REASONS[rng.random_range(0..DOWN_REASONS.len())];
                    out.push(EventKind::MachineStateChanged {
                        state: MachineState::Down,
                        reason: Some(reason.to_owned()),
                    });
                    return out;
                }
                let scrap = (0..parts_per_cycle)
                    .filter(|_| rng.random_bool(0.02))
                    .count() as u64;
                let good = parts_per_cycle as u64 - scrap;
                out.push(EventKind::ProductionReported {
                    work_order: work_order.cloned(),
                    operation: work_order.map(|_| 10),
                    good,
                    scrap,
                });
                self.parts_since_issue += parts_per_cycle as u64;
                if self.parts_since_issue >= 50
                    && let Some(wo) = work_order
                {
                    self.parts_since_issue = 0;
                    self.lot_counter += 1;
                    out.push(EventKind::MaterialIssued {
                        work_order: wo.clone(),
                        operation: Some(10),
                        item: "STEEL-2MM".into(),
                        lot: format!("L-{}-{:05}", self.device, self.lot_counter)
                            .as_str()
                            .into(),
                        qty: Decimal::new(125, 1),
                        uom: "kg".into(),
                    });
                }
                if rng.random_bool(0.05) {
                    let noise: f64 = rng.random_range(-0.03..0.03);
                    out.push(EventKind::Measurement {
                        characteristic: "hole-diameter".into(),
                        value: ((8.0 + noise) * 1000.0).round() / 1000.0,
                        unit: "mm".into(),
                        work_order: work_order.cloned(),
                    });
                }
            }
        }
        out
    }
}

/// Runs the simulated machines until shutdown or until `max_events` were generated.
pub async fn run(
    config: SimulatedConfig,
    live: Arc<Live>,
    to_processor: mpsc::Sender<SourceMessage>,
    generated: Arc<AtomicU64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut rng = match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_rng(&mut rand::rng()),
    };
    let mut machines: Vec<Machine> = (0..config.machines).map(Machine::new).collect();
    for m in &machines {
        live.set_device(device_status(m));
    }
    let mut tick = tokio::time::interval(config.cycle);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n_generated = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let plan = live.plan();
        for machine in machines.iter_mut() {
            // Each machine runs the work order routed through its station, if any (the
            // processor books its counts by the same rule, and to nothing without one).
            let work_order = plan
                .as_deref()
                .and_then(|p| p.planned_at(machine.station.as_str()))
                .map(|(wo, _)| wo.work_order.clone());
            let before = machine.state();
            for kind in machine.cycle(&mut rng, config.parts_per_cycle, work_order.as_ref()) {
                if config.max_events.is_some_and(|max| n_generated >= max) {
                    return;
                }
                let body = EventBody {
                    id: EventId(uuid::Uuid::now_v7()),
                    at: Utc::now(),
                    source: Source {
                        device: Some(machine.device.as_str().into()),
                        station: Some(machine.station.as_str().into()),
                    },
                    kind,
                };
                // A full channel makes the machine wait: nothing is dropped.
                if to_processor
                    .send(SourceMessage::Event(Box::new(body)))
                    .await
                    .is_err()
                {
                    return;
                }
                n_generated += 1;
                generated.fetch_add(1, Ordering::Relaxed);
                live.metrics.events_generated.inc();
            }
            if machine.state() != before {
                live.set_device(device_status(machine));
            }
        }
    }
}

fn device_status(m: &Machine) -> DeviceStatus {
    DeviceStatus {
        device: m.device.clone(),
        station: Some(m.station.clone()),
        state: serde_json::to_value(m.state())
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        detail: Some("simulated".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_counts_parts_stops_and_comes_back() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut m = Machine::new(0);
        let wo = WorkOrderId::from("WO-1");
        let (mut good, mut scrap, mut downs, mut ups, mut issues) = (0, 0, 0, 0, 0);
        for _ in 0..20_000 {
            for e in m.cycle(&mut rng, 2, Some(&wo)) {
                match e {
                    EventKind::ProductionReported {
                        good: g,
                        scrap: s,
                        work_order,
                        ..
                    } => {
                        assert_eq!(g + s, 2);
                        assert_eq!(work_order.as_ref(), Some(&wo));
                        good += g;
                        scrap += s;
                    }
                    EventKind::MachineStateChanged {
                        state: MachineState::Down,
                        reason,
                    } => {
                        assert!(reason.is_some(), "a stop always has a reason");
                        downs += 1;
                    }
                    EventKind::MachineStateChanged {
                        state: MachineState::Running,
                        ..
                    } => ups += 1,
                    EventKind::MaterialIssued { .. } => issues += 1,
                    _ => {}
                }
            }
        }
        assert!(good > 30_000, "{good}");
        let scrap_rate = scrap as f64 / (good + scrap) as f64;
        assert!((0.01..0.03).contains(&scrap_rate), "{scrap_rate}");
        assert!(downs > 10);
        assert!(
            ups == downs || ups + 1 == downs,
            "every stop ends, but maybe the last"
        );
        assert!(issues > 100);
    }

    #[test]
    fn without_a_plan_production_has_no_work_order_and_no_material_is_issued() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut m = Machine::new(0);
        for _ in 0..1000 {
            for e in m.cycle(&mut rng, 1, None) {
                assert!(!matches!(e, EventKind::MaterialIssued { .. }));
                if let EventKind::ProductionReported { work_order, .. } = e {
                    assert!(work_order.is_none());
                }
            }
        }
    }
}
