//! The edge's live state, shared by its tasks and read by the HTTP endpoints: sync health,
//! device states, the plan in force, and the Prometheus metrics.

use crate::exchange::{ScanOutcome, ScanResult};
use crate::processor::scan::Floor;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use protocol::{Plan, PlanVersion, Seq, StationId, WorkOrderId};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorKind {
    pub kind: String,
}

/// Labels of a device's series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeviceLabel {
    pub device: String,
}

/// Labels of the Modbus request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestOutcome {
    pub device: String,
    /// `ok`, `exception` or `transport_error`.
    pub outcome: String,
}

pub struct Metrics {
    pub registry: Registry,
    /// A polled device's link: 0 connected, 1 degraded, 2 down.
    pub device_state: Family<DeviceLabel, Gauge>,
    pub modbus_requests: Family<RequestOutcome, Counter>,
    /// How late each Modbus poll started after its due time, all devices together.
    pub modbus_poll_lateness: Histogram,
    pub events_generated: Counter,
    pub events_appended: Counter,
    pub events_acked: Counter,
    pub batches_sent: Counter,
    pub sync_errors: Family<ErrorKind, Counter>,
    pub last_seq: Gauge,
    pub acked_seq: Gauge,
    pub backlog: Gauge,
    pub oldest_unacked_age_seconds: Gauge<f64, AtomicU64>,
    pub journal_bytes: Gauge,
    pub journal_quota_bytes: Gauge,
    pub journal_quota_alarm: Gauge,
    pub journal_disk_full: Gauge,
    pub plan_version: Gauge,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mes_edge");
        let m = Metrics {
            events_generated: Counter::default(),
            events_appended: Counter::default(),
            events_acked: Counter::default(),
            batches_sent: Counter::default(),
            sync_errors: Family::default(),
            last_seq: Gauge::default(),
            acked_seq: Gauge::default(),
            backlog: Gauge::default(),
            oldest_unacked_age_seconds: Gauge::default(),
            journal_bytes: Gauge::default(),
            journal_quota_bytes: Gauge::default(),
            journal_quota_alarm: Gauge::default(),
            journal_disk_full: Gauge::default(),
            plan_version: Gauge::default(),
            device_state: Family::default(),
            modbus_requests: Family::default(),
            modbus_poll_lateness: Histogram::new([
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
            ]),
            registry: Registry::default(),
        };
        registry.register(
            "device_state",
            "Link state of a polled device: 0 connected, 1 degraded, 2 down",
            m.device_state.clone(),
        );
        registry.register(
            "modbus_requests",
            "Modbus reads, by device and outcome",
            m.modbus_requests.clone(),
        );
        registry.register(
            "modbus_poll_start_lateness_seconds",
            "How late Modbus polls started after their due time (all devices)",
            m.modbus_poll_lateness.clone(),
        );
        registry.register(
            "events_generated",
            "Events produced by the sources",
            m.events_generated.clone(),
        );
        registry.register(
            "events_appended",
            "Events committed to the journal",
            m.events_appended.clone(),
        );
        registry.register(
            "events_acked",
            "Events acknowledged by central",
            m.events_acked.clone(),
        );
        registry.register(
            "batches_sent",
            "Event batches central accepted",
            m.batches_sent.clone(),
        );
        registry.register(
            "sync_errors",
            "Failed requests to central, by kind",
            m.sync_errors.clone(),
        );
        registry.register("last_seq", "Last committed seq", m.last_seq.clone());
        registry.register(
            "acked_seq",
            "Highest seq acknowledged by central",
            m.acked_seq.clone(),
        );
        registry.register(
            "backlog_events",
            "Committed events not yet acknowledged by central",
            m.backlog.clone(),
        );
        registry.register(
            "oldest_unacked_age_seconds",
            "Age of the oldest event central has not acknowledged",
            m.oldest_unacked_age_seconds.clone(),
        );
        registry.register(
            "journal_bytes",
            "Bytes the journal uses",
            m.journal_bytes.clone(),
        );
        registry.register(
            "journal_quota_bytes",
            "Journal size limit",
            m.journal_quota_bytes.clone(),
        );
        registry.register(
            "journal_quota_alarm",
            "1 when the journal nears its quota or the disk nears full",
            m.journal_quota_alarm.clone(),
        );
        registry.register(
            "journal_disk_full",
            "1 while the journal's disk is full and new events are refused",
            m.journal_disk_full.clone(),
        );
        registry.register(
            "plan_version",
            "Plan version applied on this edge",
            m.plan_version.clone(),
        );
        // Every kind of sync error shows from the start, at zero, so alerts and graphs have a
        // series before the first failure.
        for kind in crate::sync::client::SyncError::KINDS {
            let _ = m.sync_errors.get_or_create(&ErrorKind {
                kind: (*kind).to_owned(),
            });
        }
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn set_device_state(&self, device: &str, state: i64) {
        self.device_state
            .get_or_create(&DeviceLabel {
                device: device.to_owned(),
            })
            .set(state);
    }

    pub fn modbus_request(&self, device: &str, outcome: &str) {
        self.modbus_requests
            .get_or_create(&RequestOutcome {
                device: device.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

/// How the link to central is doing, as the status page shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncHealth {
    /// The last request to central succeeded.
    pub connected: bool,
    pub last_success: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Central's view of this edge's clock (edge minus central), from the last status report.
    pub clock_skew_ms: Option<i64>,
    /// Set when central and this journal disagree in a way that needs a person.
    pub inconsistency: Option<String>,
}

/// The one part of the live state a source may write: its devices' link status. Sources get
/// this handle, not [`Live`], so what else the status shows (the floor, counts, the plan) has
/// one writer each and a source cannot reach it.
#[derive(Clone)]
pub struct DeviceBoard(Arc<Live>);

impl DeviceBoard {
    /// Shows `status` for its device, replacing what was shown before.
    pub fn set(&self, status: DeviceStatus) {
        self.0.set_device(status);
    }

    /// The device's state gauge on `/metrics` (0 connected, 1 degraded, 2 down).
    pub fn set_state_metric(&self, device: &str, state: i64) {
        self.0.metrics.set_device_state(device, state);
    }
}

impl DeviceBoard {
    /// Why new facts are refused at the door right now (the journal cannot commit), if they
    /// are: a source that answers its device (a scanner's NAK) answers at once.
    pub fn refusal(&self) -> Option<crate::exchange::Refusal> {
        self.0.journal_refusal()
    }
}

impl From<Arc<Live>> for DeviceBoard {
    fn from(live: Arc<Live>) -> DeviceBoard {
        DeviceBoard(live)
    }
}

/// A device's state as the status page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceStatus {
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
    /// `connected`, `degraded`, `down`, or a machine state for simulated machines.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Parts a station reported since this agent started (committed ProductionReported events).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StationCount {
    pub good: u64,
    pub scrap: u64,
}

/// What `/healthz` judges besides the journal answering.
#[derive(Debug, Clone)]
pub struct HealthRules {
    /// Unhealthy once the oldest event central has not acknowledged is older than this.
    pub uplink_stalled_after: std::time::Duration,
}

impl Default for HealthRules {
    fn default() -> Self {
        HealthRules {
            uplink_stalled_after: std::time::Duration::from_secs(15 * 60),
        }
    }
}

pub struct Live {
    pub metrics: Metrics,
    /// Parts of the agent that stopped when they should not have (a panic, an early end): the
    /// agent is unhealthy and exits.
    failures: watch::Sender<Vec<String>>,
    /// Why the journal refuses new events, while it does.
    journal_refusing: Mutex<Option<crate::exchange::Refusal>>,
    pub sync: Mutex<SyncHealth>,
    pub devices: Mutex<BTreeMap<String, DeviceStatus>>,
    /// Per station (`""` for production with no station), updated after each commit.
    pub station_counts: Mutex<BTreeMap<String, StationCount>>,
    plan: watch::Sender<Option<Arc<Plan>>>,
    acked: watch::Sender<Seq>,
    floor: watch::Sender<Arc<FloorView>>,
}

/// The committed state of the stations, as the line terminal shows it: who is signed in, what
/// runs, what was issued, each work order's counts, the last scans.
#[derive(Debug, Clone, Default)]
pub struct FloorView {
    pub floor: Floor,
    /// Good and scrap per work order, from committed production reports (kept across restarts).
    pub progress: BTreeMap<WorkOrderId, StationCount>,
    /// Good and scrap per station booked to no work order (`""`: reported without a station),
    /// from committed production reports (kept across restarts).
    pub unassigned: BTreeMap<StationId, StationCount>,
    /// The last scans per station, newest first.
    pub scans: BTreeMap<StationId, VecDeque<ScanRecord>>,
}

impl FloorView {
    /// What runs on `station` and how its counts stand: the work order from
    /// [`running_at`](crate::processor::readings::running_at) (the function the counting
    /// uses), its counts, whether it is over-produced or no longer counted (the plant's
    /// rules), and the parts counted here that were booked to no order. The terminal's station
    /// view and the edge's status (its own and the one sent to central) both show this.
    pub fn station_run(&self, plan: Option<&Plan>, station: &StationId) -> protocol::StationRun {
        let running =
            crate::processor::readings::running_at(plan, &self.floor.started(), station.as_str());
        let unassigned = self.unassigned.get(station).copied().unwrap_or_default();
        let mut run = protocol::StationRun {
            station: station.clone(),
            work_order: None,
            operation: None,
            by: None,
            good: 0,
            scrap: 0,
            over_production: false,
            counting: true,
            unassigned_good: unassigned.good,
            unassigned_scrap: unassigned.scrap,
        };
        let Some(running) = running else {
            return run;
        };
        let count = self
            .progress
            .get(&running.work_order)
            .copied()
            .unwrap_or_default();
        let rules = plan.map(|p| p.rules()).unwrap_or_default();
        let limit = plan
            .and_then(|p| p.work_order(running.work_order.as_str()))
            .and_then(|o| rules.with_tolerance(o.qty));
        let good = rust_decimal::Decimal::from(count.good);
        run.over_production = limit.is_some_and(|l| good > l);
        run.counting =
            !(rules.stop_counting_when_complete && limit.is_some_and(|l| good >= l.floor()));
        run.good = count.good;
        run.scrap = count.scrap;
        run.work_order = Some(running.work_order);
        run.operation = running.operation;
        run.by = Some(running.by);
        run
    }

    /// [`station_run`](Self::station_run) of every station named: what the status reports.
    pub fn station_runs<'a>(
        &self,
        plan: Option<&Plan>,
        stations: impl IntoIterator<Item = &'a StationId>,
    ) -> Vec<protocol::StationRun> {
        let mut all: std::collections::BTreeSet<&StationId> = stations.into_iter().collect();
        if let Some(plan) = plan {
            all.extend(
                plan.work_orders
                    .iter()
                    .flat_map(|wo| &wo.operations)
                    .filter_map(|op| op.station.as_ref()),
            );
        }
        all.extend(self.floor.stations.keys());
        // Counts reported without a station are in `unassigned[""]`, not a station.
        all.extend(self.unassigned.keys().filter(|s| !s.as_str().is_empty()));
        all.into_iter().map(|s| self.station_run(plan, s)).collect()
    }
}

/// How many scans per station the terminal lists.
pub const RECENT_SCANS: usize = 20;

/// One committed scan (or station command) and what the operator was told.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanRecord {
    pub at: chrono::DateTime<chrono::Utc>,
    pub raw: String,
    #[serde(flatten)]
    pub outcome: ScanOutcome,
}

/// Journal state key prefix of a station's last scans (JSON), so the terminal shows them
/// again after a restart.
pub const RECENT_PREFIX: &str = "scan/recent/";

/// Every code a scan outcome carries (kinds, actions, reasons, parameter names). A saved
/// scan's strings are matched back to these; a test keeps the list complete.
const CODES: &[&str] = &[
    // kinds
    "gs1",
    "location",
    "material_lot",
    "operator",
    "sales_order",
    "station",
    "work_order",
    // actions
    "issued",
    "location_cleared",
    "location_set",
    "lot_completed",
    "material_requested",
    "moved",
    "pick_location_set",
    "received",
    "shipment_closed",
    "shipped",
    "shipping_started",
    "signed_in",
    "signed_out",
    "started",
    "station_checked",
    "stop_reason_given",
    // reasons
    "already_issued",
    "already_shipped",
    "bad_code",
    "bad_request",
    "bad_reason",
    "bad_quantity",
    "expired",
    "location_first",
    "lot_item_mismatch",
    "missing_lot",
    "missing_quantity",
    "missing_skill",
    "no_open_stop",
    "no_plan",
    "no_reason",
    "no_stock",
    "no_unit",
    "no_work_order",
    "not_on_order",
    "not_signed_in",
    "on_hold",
    "order_not_open",
    "other_station",
    "other_stop",
    "over_completion",
    "over_issue",
    "over_ship",
    "pin_locked",
    "pin_required",
    "too_many_requisitions",
    "unknown_badge",
    "unknown_code",
    "unknown_item",
    "unknown_stop_reason",
    "unknown_work_order",
    "work_order_not_at_station",
    "work_order_on_hold",
    "wrong_item",
    "wrong_location",
    "wrong_pin",
    "wrong_unit",
    // warnings
    "negative_stock",
    "over_required",
    // parameters
    "approved",
    "customer",
    "detail",
    "expected",
    "expires",
    "from",
    "gtin",
    "item",
    "items",
    "last",
    "line",
    "lot",
    "lots",
    "name",
    "on_hand",
    "open",
    "operation",
    "order",
    "qty",
    "reason",
    "required",
    "requisition",
    "since",
    "skill",
    "to",
    "uom",
    "waiting_at",
    "waiting_qty",
    "waiting_uom",
];

fn code(s: &str) -> Option<&'static str> {
    CODES.iter().find(|c| **c == s).copied()
}

/// A [`ScanRecord`] as the journal keeps it.
#[derive(Debug, Serialize, serde::Deserialize)]
struct SavedScan {
    at: chrono::DateTime<chrono::Utc>,
    raw: String,
    result: ScanResult,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    lot: Option<protocol::LotId>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    warning: Option<String>,
    message: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    seq: Option<Seq>,
    #[serde(default)]
    event_id: Option<protocol::EventId>,
}

/// A station's last scans as the journal keeps them.
pub fn save_scans(scans: &VecDeque<ScanRecord>) -> String {
    let saved: Vec<SavedScan> = scans
        .iter()
        .map(|r| SavedScan {
            at: r.at,
            raw: r.raw.clone(),
            result: r.outcome.result,
            kind: r.outcome.kind.map(str::to_owned),
            action: r.outcome.action.map(str::to_owned),
            lot: r.outcome.lot.clone(),
            reason: r.outcome.reason.map(str::to_owned),
            warning: r.outcome.warning.map(str::to_owned),
            message: r.outcome.message.clone(),
            params: r
                .outcome
                .params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            seq: r.outcome.seq,
            event_id: r.outcome.event_id,
        })
        .collect();
    serde_json::to_string(&saved).unwrap_or_default()
}

/// The scans [`save_scans`] kept (unknown codes and parameters are dropped, not guessed).
pub fn restore_scans(json: &str) -> VecDeque<ScanRecord> {
    let saved: Vec<SavedScan> = match serde_json::from_str(json) {
        Ok(saved) => saved,
        Err(e) => {
            tracing::error!(error = %e, "cannot read a station's last scans");
            return VecDeque::new();
        }
    };
    saved
        .into_iter()
        .take(RECENT_SCANS)
        .map(|s| ScanRecord {
            at: s.at,
            raw: s.raw,
            outcome: ScanOutcome {
                result: s.result,
                kind: s.kind.as_deref().and_then(code),
                action: s.action.as_deref().and_then(code),
                lot: s.lot,
                reason: s.reason.as_deref().and_then(code),
                warning: s.warning.as_deref().and_then(code),
                message: s.message,
                params: s
                    .params
                    .into_iter()
                    .filter_map(|(k, v)| Some((code(&k)?, v)))
                    .collect(),
                seq: s.seq,
                event_id: s.event_id,
            },
        })
        .collect()
}

impl Live {
    pub fn new(plan: Option<Plan>) -> Arc<Live> {
        let live = Live {
            metrics: Metrics::new(),
            failures: watch::Sender::new(Vec::new()),
            journal_refusing: Mutex::new(None),
            sync: Mutex::new(SyncHealth::default()),
            devices: Mutex::new(BTreeMap::new()),
            station_counts: Mutex::new(BTreeMap::new()),
            plan: watch::Sender::new(plan.map(Arc::new)),
            acked: watch::Sender::new(Seq::ZERO),
            floor: watch::Sender::new(Arc::default()),
        };
        live.metrics.plan_version.set(live.plan_version().0 as i64);
        Arc::new(live)
    }

    pub fn plan(&self) -> Option<Arc<Plan>> {
        self.plan.borrow().clone()
    }

    pub fn plan_version(&self) -> PlanVersion {
        self.plan
            .borrow()
            .as_ref()
            .map(|p| p.version)
            .unwrap_or_default()
    }

    pub fn watch_plan(&self) -> watch::Receiver<Option<Arc<Plan>>> {
        self.plan.subscribe()
    }

    /// Makes `plan` the plan in force (after the journal stored it).
    pub fn apply_plan(&self, plan: Plan) {
        self.metrics.plan_version.set(plan.version.0 as i64);
        self.plan.send_replace(Some(Arc::new(plan)));
    }

    /// The stations' committed state.
    pub fn floor(&self) -> Arc<FloorView> {
        self.floor.borrow().clone()
    }

    /// Changes after every commit that changed a station (the terminal's live updates).
    pub fn watch_floor(&self) -> watch::Receiver<Arc<FloorView>> {
        self.floor.subscribe()
    }

    /// Publishes the stations' state after a commit (the processor only).
    pub fn set_floor(&self, view: FloorView) {
        self.floor.send_replace(Arc::new(view));
    }

    /// Records that central acknowledged everything through `seq` (and the journal stored it).
    pub fn set_acked(&self, seq: Seq) {
        self.acked.send_if_modified(|a| {
            let raise = seq > *a;
            if raise {
                *a = seq;
            }
            raise
        });
    }

    /// Central's acknowledged seq, as this edge last recorded it; wakes on every raise.
    pub fn watch_acked(&self) -> watch::Receiver<Seq> {
        self.acked.subscribe()
    }

    pub fn sync_ok(&self) {
        let mut s = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        s.connected = true;
        s.last_success = Some(chrono::Utc::now());
    }

    pub fn sync_failed(&self, kind: &str, message: String) {
        self.metrics
            .sync_errors
            .get_or_create(&ErrorKind { kind: kind.into() })
            .inc();
        let mut s = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        s.connected = false;
        s.last_error = Some(message);
        s.last_error_at = Some(chrono::Utc::now());
    }

    pub fn set_inconsistency(&self, message: Option<String>) {
        let mut s = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        s.inconsistency = message;
    }

    pub fn set_clock_skew(&self, skew_ms: i64) {
        let mut s = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        s.clock_skew_ms = Some(skew_ms);
    }

    pub fn sync_health(&self) -> SyncHealth {
        self.sync.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_device(&self, status: DeviceStatus) {
        let mut d = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        d.insert(status.device.clone(), status);
    }

    pub fn devices(&self) -> Vec<DeviceStatus> {
        self.devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Adds committed production to a station's count.
    pub fn add_production(&self, station: Option<&str>, good: u64, scrap: u64) {
        let mut c = self
            .station_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry = c.entry(station.unwrap_or_default().to_owned()).or_default();
        entry.good = entry.good.saturating_add(good);
        entry.scrap = entry.scrap.saturating_add(scrap);
    }

    /// A part of the agent stopped when it should not have.
    pub fn part_failed(&self, part: &str, why: &str) {
        tracing::error!(
            part,
            why,
            "a part of the edge agent stopped; the agent exits so that its service manager restarts it"
        );
        self.failures
            .send_modify(|f| f.push(format!("{part} stopped: {why}")));
    }

    /// The parts that stopped, each with why.
    pub fn failures(&self) -> Vec<String> {
        self.failures.borrow().clone()
    }

    /// Resolves with the first part that stopped.
    pub async fn first_failure(&self) -> String {
        let mut rx = self.failures.subscribe();
        match rx.wait_for(|f| !f.is_empty()).await {
            Ok(f) => f.first().cloned().unwrap_or_default(),
            // The sender lives in `self`: not reached.
            Err(_) => std::future::pending().await,
        }
    }

    /// The journal refuses new events (`Some(why)`), or takes them again (`None`).
    pub fn set_journal_refusing(&self, why: Option<crate::exchange::Refusal>) {
        *self
            .journal_refusing
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = why;
    }

    /// Why the journal refuses new events, in words, while it does.
    pub fn journal_refusing(&self) -> Option<String> {
        self.journal_refusal().map(|r| r.message)
    }

    /// Why the journal refuses new events, while it does: what the entry points answer.
    pub fn journal_refusal(&self) -> Option<crate::exchange::Refusal> {
        self.journal_refusing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn station_counts(&self) -> BTreeMap<String, StationCount> {
        self.station_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason, action, kind and parameter the scan processor writes is one a saved scan
    /// comes back with: read from the scan processor's own source, so a new code cannot be
    /// forgotten here.
    #[test]
    fn every_code_the_scan_processor_uses_comes_back_from_a_saved_scan() {
        let source = include_str!("processor/scan.rs");
        let source = &source[..source.find("mod tests {").unwrap_or(source.len())];
        let mut used = Vec::new();
        for marker in ["refuse(\n", "accept(\n", "reason: \"", "action: \"", "(\""] {
            let mut rest = source;
            while let Some(at) = rest.find(marker) {
                rest = &rest[at + marker.len()..];
                let text = rest.trim_start().trim_start_matches('"');
                let end = text
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()))
                    .unwrap_or(0);
                let word = &text[..end];
                // GS1 application identifiers (`element("01")`) are digits, not codes.
                if word.starts_with(|c: char| c.is_ascii_lowercase())
                    && text[end..].starts_with('"')
                {
                    used.push(word.to_owned());
                }
            }
        }
        assert!(used.len() > 40, "{used:?}");
        let missing: Vec<&String> = used.iter().filter(|w| code(w).is_none()).collect();
        // Parameter names that are also action names appear once in the list.
        assert!(missing.is_empty(), "codes missing from CODES: {missing:?}");
    }

    #[test]
    fn a_station_s_last_scans_come_back_as_they_were() {
        let outcome = ScanOutcome {
            result: ScanResult::Rejected,
            kind: Some("material_lot"),
            action: None,
            lot: None,
            reason: Some("over_issue"),
            warning: Some("negative_stock"),
            message: "too much STEEL-2MM".into(),
            params: BTreeMap::from([("item", "STEEL-2MM".to_owned()), ("open", "5".to_owned())]),
            seq: Some(Seq(42)),
            event_id: None,
        };
        let scans = VecDeque::from([ScanRecord {
            at: chrono::Utc::now(),
            raw: "(92)STEEL-2MM(93)L-1(94)25kg".into(),
            outcome,
        }]);
        assert_eq!(restore_scans(&save_scans(&scans)), scans);
        assert!(restore_scans("{oops").is_empty());
    }
}
