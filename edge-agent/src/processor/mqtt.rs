//! What MQTT messages mean. The rules already typed each value (a count, a state, a
//! measurement); here counts become production for the station's work order — running totals
//! through the same counter tracker as PLC counters, so a device restart or a redelivered
//! message never counts twice — and states become machine-state events when they change.
//! Sans-I/O, like `readings.rs`.

use super::counter::{CounterStep, CounterTracker};
use super::readings::{DeviceScan, Interpreted, Started, counter_key, state_key, work_order_at};
use crate::sources::mqtt::client::MqttMessage;
use crate::sources::mqtt::rules::{Mapped, MappedValue, StateCode};
use chrono::{DateTime, Utc};
use protocol::{EventBody, EventId, EventKind, Plan, Source};
use std::collections::HashMap;

/// Largest increase of a running total believed between two messages.
const MAX_STEP: u64 = 1_000_000;

#[derive(Debug, Default)]
pub struct MqttInterpreter {
    counters: HashMap<String, CounterTracker>,
    states: HashMap<String, StateCode>,
    /// The device's timestamp of each counter's last committed running total, when the device
    /// sends one: an older total that arrives later (a broker replaying a backlog out of order
    /// after a restart, without DUP) is stale, not a counter reset.
    stamps: HashMap<String, DateTime<Utc>>,
    /// Work orders started by scans; set by the processor after each change.
    pub started: Started,
}

/// The counter tag name of a count (good or scrap).
fn count_tag(scrap: bool) -> &'static str {
    if scrap { "mqtt/scrap" } else { "mqtt/good" }
}

impl MqttInterpreter {
    /// Journal state keys these messages need and the interpreter has not seen yet: the
    /// caller loads them (`get_state`) and hands them to [`restore`](Self::restore) first.
    pub fn unknown_keys(&self, messages: &[MqttMessage]) -> Vec<String> {
        messages
            .iter()
            .filter_map(|m| match m {
                MqttMessage::Mapped(Mapped {
                    device,
                    what:
                        MappedValue::Count {
                            scrap,
                            cumulative: true,
                            ..
                        },
                    ..
                }) => Some(counter_key(device, count_tag(*scrap))),
                _ => None,
            })
            .filter(|k| !self.counters.contains_key(k))
            .collect()
    }

    /// Takes a counter's persisted last value back (`None`: never seen). The value is the last
    /// total, then, if the device stamps its messages, a space and that total's time in
    /// milliseconds since the epoch.
    pub fn restore(&mut self, key: String, value: Option<&str>) {
        let mut parts = value.unwrap_or_default().split(' ');
        let last = parts.next().and_then(|v| v.parse::<u64>().ok());
        if let Some(stamp) = parts
            .next()
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis)
        {
            self.stamps.insert(key.clone(), stamp);
        }
        self.counters
            .insert(key, CounterTracker::new(64, MAX_STEP, last));
    }

    pub fn interpret(
        &mut self,
        messages: &[MqttMessage],
        plan: Option<&Plan>,
        out: &mut Interpreted,
    ) {
        self.interpret_delivery(messages, false, plan, out)
    }

    /// Like [`interpret`](Self::interpret), for a message the broker marked as sent before
    /// (DUP). After a crash between commit and acknowledgement the broker sends the committed
    /// messages again, with running totals below the one committed last: such a total is
    /// stale, not a counter reset, and counts nothing (the committed total stays).
    pub fn interpret_delivery(
        &mut self,
        messages: &[MqttMessage],
        redelivered: bool,
        plan: Option<&Plan>,
        out: &mut Interpreted,
    ) {
        for message in messages {
            if redelivered && self.is_stale(message) {
                continue;
            }
            match message {
                MqttMessage::Fault { device, message } => out.events.push(body(
                    None,
                    device,
                    None,
                    EventKind::DeviceFault {
                        device: device.as_str().into(),
                        message: message.clone(),
                    },
                )),
                MqttMessage::Mapped(m) => self.mapped(m, plan, out),
            }
        }
    }

    /// A running total below the last committed one.
    fn is_stale(&self, message: &MqttMessage) -> bool {
        match message {
            MqttMessage::Mapped(Mapped {
                device,
                what:
                    MappedValue::Count {
                        scrap,
                        cumulative: true,
                        value,
                    },
                ..
            }) => self
                .counters
                .get(&counter_key(device, count_tag(*scrap)))
                .and_then(CounterTracker::last)
                .is_some_and(|last| *value < last),
            _ => false,
        }
    }

    fn mapped(&mut self, m: &Mapped, plan: Option<&Plan>, out: &mut Interpreted) {
        let station = m.station.as_deref();
        match &m.what {
            MappedValue::Count {
                scrap,
                cumulative,
                value,
            } => {
                let n = if *cumulative {
                    let key = counter_key(&m.device, count_tag(*scrap));
                    let tracker = self
                        .counters
                        .entry(key.clone())
                        .or_insert_with(|| CounterTracker::new(64, MAX_STEP, None));
                    // A lower total stamped before the last one is an old message arriving
                    // late, not a reset (a reset's total is stamped after).
                    let older = m
                        .at
                        .zip(self.stamps.get(&key))
                        .is_some_and(|(at, last_at)| at < *last_at);
                    if older && tracker.last().is_some_and(|last| *value < last) {
                        return;
                    }
                    let step = tracker.observe(*value);
                    if let Some(at) = m.at {
                        let stamp = self.stamps.entry(key.clone()).or_insert(at);
                        *stamp = (*stamp).max(at);
                    }
                    if let Some(last) = tracker.last() {
                        let value = match self.stamps.get(&key) {
                            Some(at) => format!("{last} {}", at.timestamp_millis()),
                            None => last.to_string(),
                        };
                        out.state.insert(key, value);
                    }
                    match step {
                        CounterStep::Baseline => 0,
                        CounterStep::Counted { n, .. } => n,
                        CounterStep::Implausible { from, to } => {
                            out.events.push(body(
                                m.at,
                                &m.device,
                                station,
                                EventKind::DeviceFault {
                                    device: m.device.as_str().into(),
                                    message: format!(
                                        "count jumped from {from} to {to}, more than {MAX_STEP} between two messages; not counted, counting on from {to}"
                                    ),
                                },
                            ));
                            0
                        }
                    }
                } else {
                    *value
                };
                if n > 0 {
                    let (work_order, operation) = work_order_at(plan, &self.started, station);
                    let (good, scrap) = if *scrap { (0, n) } else { (n, 0) };
                    out.events.push(body(
                        m.at,
                        &m.device,
                        station,
                        EventKind::ProductionReported {
                            work_order,
                            operation,
                            good,
                            scrap,
                        },
                    ));
                }
            }
            MappedValue::State(code) => {
                let key = state_key(&m.device, "mqtt/state");
                if self.states.get(&key) == Some(code) {
                    return;
                }
                self.states.insert(key, code.clone());
                out.events.push(body(
                    m.at,
                    &m.device,
                    station,
                    EventKind::MachineStateChanged {
                        state: code.state,
                        reason: code.reason.clone(),
                    },
                ));
            }
            MappedValue::Measurement {
                characteristic,
                unit,
                value,
            } => {
                let (work_order, _) = work_order_at(plan, &self.started, station);
                out.events.push(body(
                    m.at,
                    &m.device,
                    station,
                    EventKind::Measurement {
                        characteristic: characteristic.clone(),
                        value: *value,
                        unit: unit.clone(),
                        work_order,
                    },
                ));
            }
            MappedValue::Scan(raw) => match station {
                Some(station) => out.scans.push(DeviceScan {
                    raw: raw.clone(),
                    at: m.at.unwrap_or_else(Utc::now),
                    station: station.into(),
                    device: m.device.as_str().into(),
                }),
                None => out.events.push(body(
                    m.at,
                    &m.device,
                    station,
                    EventKind::ScanRejected {
                        raw: raw.clone(),
                        reason: format!(
                            "scanner {} is bound to no station, so its scans cannot be checked; set `station` in its MQTT rule",
                            m.device
                        ),
                    },
                )),
            },
        }
    }
}

fn body(
    at: Option<DateTime<Utc>>,
    device: &str,
    station: Option<&str>,
    kind: EventKind,
) -> EventBody {
    EventBody {
        id: EventId(uuid::Uuid::now_v7()),
        at: at.unwrap_or_else(Utc::now),
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

    fn count(device: &str, value: u64) -> MqttMessage {
        MqttMessage::Mapped(Mapped {
            device: device.into(),
            station: Some("st-10".into()),
            at: None,
            what: MappedValue::Count {
                scrap: false,
                cumulative: true,
                value,
            },
        })
    }

    fn good_of(out: &Interpreted) -> u64 {
        out.events
            .iter()
            .map(|e| match e.kind {
                EventKind::ProductionReported { good, .. } => good,
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn running_totals_count_their_increase_and_redeliveries_count_nothing() {
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        let first = [count("press-1", 100)];
        assert_eq!(i.unknown_keys(&first), vec!["counter/press-1/mqtt/good"]);
        i.restore("counter/press-1/mqtt/good".into(), Some("90"));
        i.interpret(&first, None, &mut out);
        assert_eq!(good_of(&out), 10, "counted from the persisted 90");
        i.interpret(&[count("press-1", 100)], None, &mut out);
        assert_eq!(good_of(&out), 10, "a redelivered message counts nothing");
        i.interpret(&[count("press-1", 105)], None, &mut out);
        assert_eq!(good_of(&out), 15);
        assert_eq!(
            out.state
                .get("counter/press-1/mqtt/good")
                .map(String::as_str),
            Some("105")
        );
    }

    #[test]
    fn a_redelivered_stale_total_counts_nothing_but_a_fresh_reset_counts() {
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        i.restore("counter/press-1/mqtt/good".into(), Some("500"));
        // Committed 490..=500 before a crash; the broker sends 495 again (DUP), then news.
        i.interpret_delivery(&[count("press-1", 495)], true, None, &mut out);
        assert_eq!(good_of(&out), 0, "a stale redelivery is no counter reset");
        assert!(out.state.is_empty(), "the committed total stays");
        i.interpret_delivery(&[count("press-1", 503)], true, None, &mut out);
        assert_eq!(
            good_of(&out),
            3,
            "a redelivered message not committed counts"
        );
        // A device that really reset its total sends it fresh (no DUP): counted from 0.
        i.interpret(&[count("press-1", 4)], None, &mut out);
        assert_eq!(good_of(&out), 7);
    }

    fn stamped(value: u64, second: u32) -> MqttMessage {
        use chrono::TimeZone;
        let MqttMessage::Mapped(mut m) = count("press-1", value) else {
            unreachable!()
        };
        m.at = Some(Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, second).unwrap());
        MqttMessage::Mapped(m)
    }

    /// Mosquitto replaying a restored backlog can put newer totals before older ones, without
    /// DUP (found by tests/it/mqtt_restart.rs): the device's timestamps tell them apart.
    #[test]
    fn an_older_stamped_total_arriving_late_counts_nothing_and_survives_a_restart() {
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        i.interpret(&[stamped(100, 0), stamped(130, 30)], None, &mut out);
        assert_eq!(good_of(&out), 30);
        // 110 (stamped at :10) arrives after 130: stale.
        i.interpret(&[stamped(110, 10)], None, &mut out);
        assert_eq!(good_of(&out), 30, "an old message is no counter reset");
        i.interpret(&[stamped(135, 35)], None, &mut out);
        assert_eq!(good_of(&out), 35);
        // The stamp is persisted with the total; after a restart the rule still holds.
        let saved = out.state["counter/press-1/mqtt/good"].clone();
        assert_eq!(saved, format!("135 {}", stamped_ms(35)));
        let mut restarted = MqttInterpreter::default();
        restarted.restore("counter/press-1/mqtt/good".into(), Some(&saved));
        let mut out = Interpreted::default();
        restarted.interpret(&[stamped(120, 20)], None, &mut out);
        assert_eq!(good_of(&out), 0);
        // A real reset is stamped later: counted from 0.
        restarted.interpret(&[stamped(4, 50)], None, &mut out);
        assert_eq!(good_of(&out), 4);
    }

    fn stamped_ms(second: u32) -> i64 {
        let MqttMessage::Mapped(m) = stamped(0, second) else {
            unreachable!()
        };
        m.at.unwrap().timestamp_millis()
    }

    #[test]
    fn scans_go_to_the_scan_processor_only_with_a_station() {
        let scan = |station: Option<&str>| {
            MqttMessage::Mapped(Mapped {
                device: "handheld-3".into(),
                station: station.map(Into::into),
                at: None,
                what: MappedValue::Scan("(96)10442".into()),
            })
        };
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        i.interpret(&[scan(Some("st-10"))], None, &mut out);
        assert!(
            out.events.is_empty(),
            "the scan processor decides: {:?}",
            out.events
        );
        assert_eq!(out.scans.len(), 1);
        assert_eq!(
            (
                out.scans[0].raw.as_str(),
                out.scans[0].station.as_str(),
                out.scans[0].device.as_str()
            ),
            ("(96)10442", "st-10", "handheld-3")
        );
        let mut out = Interpreted::default();
        i.interpret(&[scan(None)], None, &mut out);
        assert!(out.scans.is_empty());
        assert!(
            matches!(&out.events[0].kind, EventKind::ScanRejected { reason, .. } if reason.contains("no station")),
            "{:?}",
            out.events
        );
    }

    #[test]
    fn states_are_events_only_when_they_change_and_faults_are_events() {
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        let state = |s| {
            MqttMessage::Mapped(Mapped {
                device: "press-1".into(),
                station: None,
                at: None,
                what: MappedValue::State(StateCode {
                    state: s,
                    reason: None,
                }),
            })
        };
        use protocol::MachineState::*;
        i.interpret(
            &[state(Running), state(Running), state(Down)],
            None,
            &mut out,
        );
        assert_eq!(out.events.len(), 2);
        i.interpret(
            &[MqttMessage::Fault {
                device: "t".into(),
                message: "payload is not JSON".into(),
            }],
            None,
            &mut out,
        );
        assert!(
            matches!(&out.events[2].kind, EventKind::DeviceFault { message, .. } if message.contains("JSON"))
        );
    }
}
