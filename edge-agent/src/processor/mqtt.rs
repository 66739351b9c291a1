//! What MQTT messages mean. The rules already typed each value (a count, a state, a
//! measurement); here counts become production for the station's work order — running totals
//! through the same counter tracker as PLC counters (`counter.rs`: width, rollover, resets) —
//! and states become machine-state events when they change. Sans-I/O, like `readings.rs`.
//!
//! Exactly once, whatever the broker does:
//! - every delivery carries a key (a hash of topic and payload); the last [`SEEN_WINDOW`]
//!   keys are kept in the journal's state, committed with the events they produced. A message
//!   seen before has no effect again when the broker marks it as sent before (DUP) or when it
//!   carries a device timestamp (a timestamped payload is one message, however often it comes).
//!   A repeat of a payload without timestamp and without DUP is taken as news: a device may
//!   well send "12.5" twice;
//! - a running total or state stamped before the last one of its device is an old message
//!   arriving late (a broker restoring its backlog reorders it), not a reset: it counts
//!   nothing;
//! - a running total without timestamp that goes down cannot be told from a reset: it is
//!   counted as one and recorded as an estimate (a device fault saying so).

use super::counter::{Counted, CounterStep, CounterTracker};
use super::readings::{DeviceScan, Interpreted, Started, counter_key, state_key, work_order_at};
use crate::sources::mqtt::client::MqttMessage;
use crate::sources::mqtt::rules::{Mapped, MappedValue, StateCode};
use chrono::{DateTime, Utc};
use protocol::{EventBody, EventId, EventKind, MachineState, Plan, Source};
use std::collections::{HashMap, HashSet, VecDeque};

/// Largest increase of a running total believed between two messages (at most half the
/// counter's range: 32768 for a 16-bit counter).
const MAX_STEP: u64 = 1_000_000;

/// How many deliveries are remembered for deduplication (in memory and in the journal). More
/// than a broker has in flight to the edge (`inflight`, default 100) many times over.
pub const SEEN_WINDOW: u64 = 4096;
/// Journal state key prefix of the remembered deliveries: `mqtt/seen/NNNN` = `"{n} {key}"`.
pub const SEEN_PREFIX: &str = "mqtt/seen/";

/// The journal value of a device's MQTT state key while a Sparkplug death holds it offline.
const OFFLINE: &str = "offline";

/// Counters and states held in memory at most; past it they are forgotten (a counter's last
/// total is in the journal and read again when its device sends next).
pub const MAX_TRACKED: usize = 4096;

#[derive(Debug)]
struct Counter {
    tracker: CounterTracker,
    bits: u32,
    /// The device's timestamp of the last committed running total, when the device sends one.
    stamp: Option<DateTime<Utc>>,
}

impl Counter {
    fn new(bits: u32, last: Option<u64>, stamp: Option<DateTime<Utc>>) -> Counter {
        Counter {
            tracker: CounterTracker::new(bits, MAX_STEP, last),
            bits,
            stamp,
        }
    }

    /// What the journal keeps: the last total, then, if the device stamps its messages, a
    /// space and that total's time in milliseconds since the epoch.
    fn persisted(&self) -> Option<String> {
        let last = self.tracker.last()?;
        Some(match self.stamp {
            Some(at) => format!("{last} {}", at.timestamp_millis()),
            None => last.to_string(),
        })
    }
}

/// The keys of the last [`SEEN_WINDOW`] deliveries, oldest first.
#[derive(Debug, Default)]
struct Seen {
    /// key → the number it was last seen under.
    keys: HashMap<u128, u64>,
    order: VecDeque<(u64, u128)>,
    next: u64,
}

impl Seen {
    fn contains(&self, key: u128) -> bool {
        self.keys.contains_key(&key)
    }

    /// Remembers a key; returns the journal state row that keeps it.
    fn insert(&mut self, key: u128) -> (String, String) {
        let n = self.next;
        self.next += 1;
        self.push(n, key);
        (
            format!("{SEEN_PREFIX}{:04}", n % SEEN_WINDOW),
            format!("{n} {key:032x}"),
        )
    }

    fn push(&mut self, n: u64, key: u128) {
        while self.order.len() as u64 >= SEEN_WINDOW {
            let Some((old, k)) = self.order.pop_front() else {
                break;
            };
            if self.keys.get(&k) == Some(&old) {
                self.keys.remove(&k);
            }
        }
        self.order.push_back((n, key));
        self.keys.insert(key, n);
    }
}

#[derive(Debug, Default)]
pub struct MqttInterpreter {
    counters: HashMap<String, Counter>,
    /// Each device's last state, and the device's timestamp of it if it sent one.
    states: HashMap<String, (StateCode, Option<DateTime<Utc>>)>,
    /// Devices recorded as offline by a Sparkplug death (their state keys); kept in the
    /// journal too (the state key = `offline`), so a birth after an edge restart still brings
    /// the device back.
    offline: HashSet<String>,
    /// State keys whose journal value has been read (`offline` or not).
    checked: HashSet<String>,
    seen: Seen,
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
    /// Forgets every counter first when it holds more than [`MAX_TRACKED`] (all are in the
    /// journal).
    pub fn unknown_keys(&mut self, messages: &[MqttMessage]) -> Vec<String> {
        if self.counters.len() > MAX_TRACKED {
            self.counters.clear();
        }
        if self.states.len() > MAX_TRACKED {
            self.states.clear();
        }
        if self.checked.len() > MAX_TRACKED || self.offline.len() > MAX_TRACKED {
            self.checked.clear();
            self.offline.clear();
        }
        let mut keys: Vec<String> = messages
            .iter()
            .filter_map(|m| match m {
                MqttMessage::Online { device, .. }
                | MqttMessage::Mapped(Mapped {
                    device,
                    what: MappedValue::State(_),
                    ..
                }) => Some(state_key(device, "mqtt/state")).filter(|k| !self.checked.contains(k)),
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
            .collect();
        keys.dedup();
        keys
    }

    /// Takes a counter's persisted last value back (`None`: never seen). The value is the last
    /// total, then, if the device stamps its messages, a space and that total's time in
    /// milliseconds since the epoch.
    pub fn restore(&mut self, key: String, value: Option<&str>) {
        if key.starts_with("machine_state/") {
            if value == Some(OFFLINE) {
                self.offline.insert(key.clone());
            }
            self.checked.insert(key);
            return;
        }
        let mut parts = value.unwrap_or_default().split(' ');
        let last = parts.next().and_then(|v| v.parse::<u64>().ok());
        let stamp = parts
            .next()
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis);
        // The width is the rule's; it is set from the first message (`Counter::bits`).
        self.counters.insert(key, Counter::new(64, last, stamp));
    }

    /// Takes the remembered deliveries back: the journal's rows under [`SEEN_PREFIX`].
    pub fn restore_seen(&mut self, rows: &[(String, String)]) {
        let mut found: Vec<(u64, u128)> = rows
            .iter()
            .filter_map(|(_, v)| {
                let (n, key) = v.split_once(' ')?;
                Some((n.parse().ok()?, u128::from_str_radix(key, 16).ok()?))
            })
            .collect();
        found.sort_unstable();
        for (n, key) in found {
            self.seen.push(n, key);
            self.seen.next = self.seen.next.max(n + 1);
        }
    }

    pub fn interpret(
        &mut self,
        messages: &[MqttMessage],
        plan: Option<&Plan>,
        out: &mut Interpreted,
    ) {
        self.interpret_delivery(messages, false, None, plan, out)
    }

    /// Like [`interpret`](Self::interpret), for one delivery: `redelivered` when the broker
    /// marked it as sent before (DUP), `key` its identity
    /// ([`message_key`](crate::sources::mqtt::client::message_key)). A delivery seen before
    /// that is marked DUP or carries a device timestamp has no effect again. A redelivered
    /// running total below the last committed one (its key forgotten already) is stale, not a
    /// counter reset, and counts nothing. A delivery that is only faults (its data was not
    /// used: a Sparkplug message before its birth, a payload that did not parse) is not
    /// remembered: the same message coming again once it can be used has its effect.
    pub fn interpret_delivery(
        &mut self,
        messages: &[MqttMessage],
        redelivered: bool,
        key: Option<u128>,
        plan: Option<&Plan>,
        out: &mut Interpreted,
    ) {
        let used = messages
            .iter()
            .any(|m| !matches!(m, MqttMessage::Fault { .. }));
        if let Some(key) = key.filter(|_| used) {
            let stamped = messages
                .iter()
                .any(|m| matches!(m, MqttMessage::Mapped(Mapped { at: Some(_), .. })));
            if self.seen.contains(key) && (redelivered || stamped) {
                return;
            }
            let (row, value) = self.seen.insert(key);
            out.state.insert(row, value);
        }
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
                MqttMessage::Online {
                    device,
                    station,
                    online,
                    detail,
                } => self.online(messages, device, station.as_deref(), *online, detail, out),
                MqttMessage::Mapped(m) => self.mapped(m, plan, out),
            }
        }
    }

    /// A Sparkplug birth or death: a death is the machine going down ("offline"); a birth
    /// after a death brings it back, as idle unless the birth itself reports a state.
    fn online(
        &mut self,
        delivery: &[MqttMessage],
        device: &str,
        station: Option<&str>,
        online: bool,
        detail: &str,
        out: &mut Interpreted,
    ) {
        let key = state_key(device, "mqtt/state");
        let code = if online {
            if !self.offline.remove(&key) {
                return;
            }
            out.state.insert(key.clone(), String::new());
            let reports_state = delivery.iter().any(|m| {
                matches!(m, MqttMessage::Mapped(Mapped { device: d, what: MappedValue::State(_), .. }) if d == device)
            });
            if reports_state {
                self.states.remove(&key);
                return;
            }
            StateCode {
                state: MachineState::Idle,
                reason: Some(format!("online again ({detail}); no state reported yet")),
            }
        } else {
            self.offline.insert(key.clone());
            out.state.insert(key.clone(), OFFLINE.to_owned());
            StateCode {
                state: MachineState::Down,
                reason: Some(format!("offline ({detail})")),
            }
        };
        if self.states.get(&key).map(|(c, _)| c) == Some(&code) {
            return;
        }
        out.events.push(body(
            None,
            device,
            station,
            EventKind::MachineStateChanged {
                state: code.state,
                reason: code.reason.clone(),
            },
        ));
        self.states.insert(key, (code, None));
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
                        ..
                    },
                ..
            }) => self
                .counters
                .get(&counter_key(device, count_tag(*scrap)))
                .and_then(|c| c.tracker.last())
                .is_some_and(|last| *value < last),
            _ => false,
        }
    }

    /// The parts a running total adds, or `None` for an old total arriving late.
    fn running_total(
        &mut self,
        m: &Mapped,
        scrap: bool,
        value: u64,
        bits: u32,
        out: &mut Interpreted,
    ) -> Option<u64> {
        let key = counter_key(&m.device, count_tag(scrap));
        let counter = self
            .counters
            .entry(key.clone())
            .or_insert_with(|| Counter::new(bits, None, None));
        if counter.bits != bits {
            counter.tracker = CounterTracker::new(bits, MAX_STEP, counter.tracker.last());
            counter.bits = bits;
        }
        // Stamped before the last total: an old message arriving late, not a reset (a
        // reset's total is stamped after). Stamped the same: only a step forward is news.
        if let (Some(at), Some(last_at)) = (m.at, counter.stamp) {
            let forward = || {
                matches!(
                    counter.tracker.clone().observe(value),
                    CounterStep::Counted {
                        how: Counted::Increase | Counted::Rollover,
                        ..
                    }
                )
            };
            if at < last_at || (at == last_at && !forward()) {
                return None;
            }
        }
        let from = counter.tracker.last();
        let step = counter.tracker.observe(value);
        if let Some(at) = m.at {
            counter.stamp = Some(counter.stamp.map_or(at, |s| s.max(at)));
        }
        if let Some(value) = counter.persisted() {
            out.state.insert(key, value);
        }
        let unstamped = m.at.is_none();
        let estimate = "an estimate: without a device timestamp the edge cannot tell a counter \
                        reset from an older message delivered late (a broker restart reorders \
                        its backlog); set `timestamp` in the MQTT rule to count exactly";
        let station = m.station.as_deref();
        let fault = |message: String| {
            body(
                m.at,
                &m.device,
                station,
                EventKind::DeviceFault {
                    device: m.device.as_str().into(),
                    message,
                },
            )
        };
        Some(match step {
            CounterStep::Baseline => 0,
            CounterStep::Counted {
                n,
                how: Counted::Reset,
            } if unstamped => {
                out.events.push(fault(format!(
                    "running total went back from {} to {value}: counted as a counter reset, \
                     {n} parts; {estimate}",
                    from.unwrap_or_default()
                )));
                n
            }
            CounterStep::Counted { n, .. } => n,
            CounterStep::Implausible { from, to } => {
                out.events.push(fault(format!(
                    "count jumped from {from} to {to}, more than {} between two messages; not \
                     counted, counting on from {to}{}",
                    MAX_STEP.min(1u64 << (bits.clamp(1, 64) - 1)),
                    if unstamped && to < from {
                        format!(" ({estimate})")
                    } else {
                        String::new()
                    }
                )));
                0
            }
        })
    }

    fn mapped(&mut self, m: &Mapped, plan: Option<&Plan>, out: &mut Interpreted) {
        let station = m.station.as_deref();
        match &m.what {
            MappedValue::Count {
                scrap,
                cumulative,
                value,
                bits,
            } => {
                let n = if *cumulative {
                    match self.running_total(m, *scrap, *value, *bits, out) {
                        Some(n) => n,
                        None => return,
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
                let last = self.states.get(&key);
                // A state stamped before the last one is old news arriving late.
                if let (Some(at), Some((_, Some(last_at)))) = (m.at, last)
                    && at < *last_at
                {
                    return;
                }
                let stamp = match (m.at, last.and_then(|(_, s)| *s)) {
                    (Some(at), Some(s)) => Some(at.max(s)),
                    (at, s) => at.or(s),
                };
                if last.map(|(c, _)| c) == Some(code) {
                    self.states.insert(key, (code.clone(), stamp));
                    return;
                }
                if self.offline.remove(&key) {
                    out.state.insert(key.clone(), String::new());
                }
                self.states.insert(key, (code.clone(), stamp));
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
                bits: 64,
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
        i.interpret_delivery(&[count("press-1", 495)], true, None, None, &mut out);
        assert_eq!(good_of(&out), 0, "a stale redelivery is no counter reset");
        assert!(out.state.is_empty(), "the committed total stays");
        i.interpret_delivery(&[count("press-1", 503)], true, None, None, &mut out);
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

    fn with_bits(message: MqttMessage, width: u32) -> MqttMessage {
        let MqttMessage::Mapped(mut m) = message else {
            unreachable!()
        };
        if let MappedValue::Count { bits, .. } = &mut m.what {
            *bits = width;
        }
        MqttMessage::Mapped(m)
    }

    fn faults_of(out: &Interpreted) -> Vec<String> {
        out.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::DeviceFault { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    /// 65535 -> 3 of a 16-bit counter is 4 parts (65535 -> 0 -> 1 -> 2 -> 3), not a reset
    /// counting 3; the same for 32 bits; and a width learnt after a restart from the rule.
    #[test]
    fn a_counter_that_wraps_at_its_width_counts_across_the_wrap() {
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        i.interpret(
            &[
                with_bits(count("press-1", 65_530), 16),
                with_bits(count("press-1", 65_535), 16),
                with_bits(count("press-1", 3), 16),
            ],
            None,
            &mut out,
        );
        assert_eq!(good_of(&out), 9);
        assert!(faults_of(&out).is_empty(), "{:?}", faults_of(&out));
        let mut out = Interpreted::default();
        i.interpret(
            &[
                with_bits(count("press-2", u64::from(u32::MAX) - 1), 32),
                with_bits(count("press-2", 2), 32),
            ],
            None,
            &mut out,
        );
        assert_eq!(good_of(&out), 4);
        // Restored from the journal (no width there): the message's width applies.
        let mut restarted = MqttInterpreter::default();
        restarted.restore("counter/press-1/mqtt/good".into(), Some("65534"));
        let mut out = Interpreted::default();
        restarted.interpret(&[with_bits(count("press-1", 1), 16)], None, &mut out);
        assert_eq!(good_of(&out), 3);
        // Without a width (64 bits) the same drop is a reset, flagged as an estimate.
        let mut out = Interpreted::default();
        let mut wide = MqttInterpreter::default();
        wide.interpret(
            &[count("press-3", 65_535), count("press-3", 3)],
            None,
            &mut out,
        );
        assert_eq!(good_of(&out), 3);
        assert!(
            faults_of(&out)[0].contains("estimate"),
            "{:?}",
            faults_of(&out)
        );
    }

    /// A stale total stamped before the last one counts nothing even when it is above the
    /// last (the device was reset in between), and a total of the same stamp only counts a
    /// step forward.
    #[test]
    fn a_reordered_stale_total_counts_nothing_even_after_a_reset() {
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        i.interpret(
            &[stamped(1000, 10), stamped(5, 20), stamped(1003, 15)],
            None,
            &mut out,
        );
        assert_eq!(
            good_of(&out),
            5,
            "1000 baseline, reset to 5; 1003 is old news"
        );
        assert!(faults_of(&out).is_empty(), "stamped totals are exact");
        i.interpret(&[stamped(7, 20), stamped(6, 20)], None, &mut out);
        assert_eq!(good_of(&out), 7);
        // A reordered run as Mosquitto sends a restored backlog: news first, then the old.
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        let mut order: Vec<u32> = vec![0, 1, 2, 7, 8, 9, 3, 4, 5, 6, 10];
        order.extend(11..=20);
        let messages: Vec<_> = order
            .iter()
            .map(|s| stamped(100 + u64::from(*s), *s))
            .collect();
        i.interpret(&messages, None, &mut out);
        assert_eq!(good_of(&out), 20);
    }

    fn delivery(
        i: &mut MqttInterpreter,
        messages: &[MqttMessage],
        dup: bool,
        key: u128,
        out: &mut Interpreted,
    ) {
        i.interpret_delivery(messages, dup, Some(key), None, out);
    }

    fn scan_at(raw: &str, second: Option<u32>) -> MqttMessage {
        use chrono::TimeZone;
        MqttMessage::Mapped(Mapped {
            device: "handheld-3".into(),
            station: Some("st-10".into()),
            at: second.map(|s| Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, s).unwrap()),
            what: MappedValue::Scan(raw.into()),
        })
    }

    fn measurement(value: f64) -> MqttMessage {
        MqttMessage::Mapped(Mapped {
            device: "gauge-1".into(),
            station: None,
            at: None,
            what: MappedValue::Measurement {
                characteristic: "bore".into(),
                unit: "mm".into(),
                value,
            },
        })
    }

    /// A message whose data could not be used (a Sparkplug DDATA before its birth: a fault
    /// only) is not remembered: the same stamped message, once it can be used, counts. Found
    /// by tests/it/mqtt.rs, whose publisher repeats its births and first total until the
    /// subscription takes them.
    #[test]
    fn a_message_that_was_only_a_fault_has_its_effect_when_it_comes_again() {
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        let fault = MqttMessage::Fault {
            device: "press-1".into(),
            message: "DDATA before its DBIRTH; asked for a rebirth".into(),
        };
        delivery(&mut i, &[fault], false, 7, &mut out);
        assert_eq!(out.events.len(), 1, "the fault is recorded");
        delivery(&mut i, &[stamped(100, 0)], false, 7, &mut out);
        delivery(&mut i, &[stamped(130, 30)], false, 8, &mut out);
        assert_eq!(
            good_of(&out),
            30,
            "the first total is taken and the next counts"
        );
        // Once used, it has no effect again.
        delivery(&mut i, &[stamped(130, 30)], true, 8, &mut out);
        assert_eq!(good_of(&out), 30);
    }

    /// A message sent again (DUP) or a timestamped one seen before has no effect twice, of
    /// any kind; the keys remembered survive a restart through the journal's state.
    #[test]
    fn a_redelivered_scan_measurement_or_count_has_its_effect_once() {
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        delivery(&mut i, &[scan_at("(96)10442", None)], false, 1, &mut out);
        delivery(&mut i, &[scan_at("(96)10442", None)], true, 1, &mut out);
        assert_eq!(out.scans.len(), 1, "a redelivered scan is one scan");
        // Stamped: one message however it comes, DUP or not.
        delivery(&mut i, &[scan_at("(96)10443", Some(5))], false, 2, &mut out);
        delivery(&mut i, &[scan_at("(96)10443", Some(5))], false, 2, &mut out);
        assert_eq!(out.scans.len(), 2);
        // Without stamp or DUP the same payload again is news (a gauge reads 12.5 twice).
        delivery(&mut i, &[measurement(12.5)], false, 3, &mut out);
        delivery(&mut i, &[measurement(12.5)], true, 3, &mut out);
        delivery(&mut i, &[measurement(12.5)], false, 3, &mut out);
        let measurements = |out: &Interpreted| {
            out.events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Measurement { .. }))
                .count()
        };
        assert_eq!(measurements(&out), 2);
        // Increments with a timestamp: each message counts once.
        let parts = |second| {
            let MqttMessage::Mapped(mut m) = stamped(1, second) else {
                unreachable!()
            };
            m.what = MappedValue::Count {
                scrap: false,
                cumulative: false,
                value: 1,
                bits: 64,
            };
            MqttMessage::Mapped(m)
        };
        delivery(&mut i, &[parts(1)], false, 10, &mut out);
        delivery(&mut i, &[parts(2)], false, 11, &mut out);
        delivery(&mut i, &[parts(1)], false, 10, &mut out);
        assert_eq!(good_of(&out), 2);

        // After a restart, from the journal's rows.
        let rows: Vec<(String, String)> = out
            .state
            .iter()
            .filter(|(k, _)| k.starts_with(SEEN_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(rows.len(), 6, "{rows:?}");
        let mut restarted = MqttInterpreter::default();
        restarted.restore_seen(&rows);
        let mut out = Interpreted::default();
        delivery(
            &mut restarted,
            &[scan_at("(96)10442", None)],
            true,
            1,
            &mut out,
        );
        delivery(&mut restarted, &[parts(2)], false, 11, &mut out);
        assert!(out.scans.is_empty() && out.events.is_empty(), "{out:?}");
        // New keys go on from the last number, in new rows.
        delivery(&mut restarted, &[parts(3)], false, 12, &mut out);
        assert_eq!(good_of(&out), 1);
        assert!(
            out.state.contains_key(&format!("{SEEN_PREFIX}0006")),
            "{:?}",
            out.state
        );
    }

    #[test]
    fn the_deliveries_remembered_and_the_counters_held_are_bounded() {
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        for key in 0..SEEN_WINDOW as u128 + 10 {
            delivery(&mut i, &[measurement(1.0)], true, key, &mut out);
        }
        assert_eq!(i.seen.keys.len() as u64, SEEN_WINDOW);
        assert_eq!(i.seen.order.len() as u64, SEEN_WINDOW);
        assert_eq!(
            out.state
                .keys()
                .filter(|k| k.starts_with(SEEN_PREFIX))
                .count() as u64,
            SEEN_WINDOW,
            "one journal row per slot"
        );
        // The oldest is forgotten: a DUP of it counts again, the newest does not.
        let before = out.events.len();
        delivery(&mut i, &[measurement(1.0)], true, 0, &mut out);
        delivery(
            &mut i,
            &[measurement(1.0)],
            true,
            SEEN_WINDOW as u128 + 9,
            &mut out,
        );
        assert_eq!(out.events.len(), before + 1);

        for n in 0..=MAX_TRACKED + 1 {
            let m = [count(&format!("press-{n}"), 1)];
            for key in i.unknown_keys(&m) {
                i.restore(key, None);
            }
            i.interpret(&m, None, &mut out);
        }
        assert!(i.counters.len() <= MAX_TRACKED + 1, "{}", i.counters.len());
    }

    fn online(device: &str, online: bool) -> MqttMessage {
        MqttMessage::Online {
            device: device.into(),
            station: Some("st-20".into()),
            online,
            detail: format!(
                "Sparkplug {} from edge node gw-1",
                if online { "DBIRTH" } else { "DDEATH" }
            ),
        }
    }

    fn states_of(out: &Interpreted) -> Vec<(protocol::MachineState, String)> {
        out.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::MachineStateChanged { state, reason } => {
                    Some((*state, reason.clone().unwrap_or_default()))
                }
                _ => None,
            })
            .collect()
    }

    /// A death is a state change (the machine offline); a birth after it brings it back, as
    /// idle or as the state the birth reports.
    #[test]
    fn a_sparkplug_death_is_recorded_and_a_birth_brings_the_device_back() {
        use protocol::MachineState::*;
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        i.interpret(&[online("press-1", true)], None, &mut out);
        assert!(out.events.is_empty(), "a first birth is no change");
        i.interpret(&[online("press-1", false)], None, &mut out);
        i.interpret(&[online("press-1", false)], None, &mut out);
        i.interpret(&[online("press-1", true)], None, &mut out);
        let states = states_of(&out);
        assert_eq!(states.len(), 2, "{states:?}");
        assert_eq!(states[0].0, Down);
        assert!(states[0].1.contains("offline") && states[0].1.contains("DDEATH"));
        assert_eq!(states[1].0, Idle);
        assert!(states[1].1.contains("online again"));
        assert_eq!(
            out.events[0].source.station.as_ref().map(|s| s.as_str()),
            Some("st-20")
        );
        assert_eq!(
            out.events[0].source.device.as_ref().unwrap().as_str(),
            "press-1"
        );

        // A birth carrying the machine's state: that state, once.
        let running = MqttMessage::Mapped(Mapped {
            device: "press-1".into(),
            station: Some("st-20".into()),
            at: None,
            what: MappedValue::State(StateCode {
                state: Running,
                reason: None,
            }),
        });
        let mut out = Interpreted::default();
        i.interpret(&[online("press-1", false)], None, &mut out);
        i.interpret(&[online("press-1", true), running.clone()], None, &mut out);
        let states = states_of(&out);
        assert_eq!(
            states.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![Down, Running]
        );
    }

    /// The death is kept in the journal: after an edge restart the birth still brings the
    /// device back, and a state reported meanwhile ends it.
    #[test]
    fn a_death_survives_an_edge_restart() {
        use protocol::MachineState::*;
        let mut i = MqttInterpreter::default();
        let mut out = Interpreted::default();
        let died = [online("press-1", false)];
        assert_eq!(
            i.unknown_keys(&died),
            vec!["machine_state/press-1/mqtt/state"]
        );
        i.restore("machine_state/press-1/mqtt/state".into(), None);
        i.interpret(&died, None, &mut out);
        let saved = out.state["machine_state/press-1/mqtt/state"].clone();
        assert_eq!(saved, "offline");

        let mut restarted = MqttInterpreter::default();
        let mut out = Interpreted::default();
        let born = [online("press-1", true)];
        for key in restarted.unknown_keys(&born) {
            restarted.restore(key, Some(&saved));
        }
        assert!(restarted.unknown_keys(&born).is_empty(), "read once");
        restarted.interpret(&born, None, &mut out);
        assert_eq!(
            states_of(&out).iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![Idle]
        );
        assert_eq!(out.state["machine_state/press-1/mqtt/state"], "", "deleted");
    }
}
