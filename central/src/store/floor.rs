//! The floor in the store: plants' shift calendars and stop reasons, and the projections of
//! what every station does (`store/sql/floor.rs`), read by the plant board and OEE
//! ([`crate::mes`]).

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use protocol::MachineState;
use serde::{Deserialize, Serialize};

/// A reason a station stops for, from a plant's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopReason {
    /// What the PLC or the operator sends (`reason` of `machine_state_changed`).
    pub code: String,
    /// English name.
    pub name: String,
    /// Chinese name.
    #[serde(default)]
    pub name_zh: String,
    /// A group for the Pareto (`mechanical`, `material`, `quality`, `changeover`, ...).
    pub category: String,
    /// Planned downtime (ISO 22400 PDOT: planned maintenance, meetings, no orders planned)
    /// lowers planned busy time, not availability.
    pub planned: bool,
}

/// Where a station stands and who runs it: its work center (the station of a work center on
/// a line of the edge), else the edge's first line; the default plant when the edge runs none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorStation {
    pub plant: String,
    pub line: Option<String>,
    pub work_center: Option<String>,
    pub edge_id: String,
    /// Empty when the edge's events name no station.
    pub station: String,
    /// `None` until the station reports a state.
    pub state: Option<MachineState>,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub operator: Option<String>,
    /// What runs there as the edge's last status said.
    pub work_order: Option<String>,
    pub operation: Option<u32>,
    /// Good and scrap of the running order at this station, and the order's quantity.
    pub good: u64,
    pub scrap: u64,
    pub order_qty: Option<String>,
    pub item: Option<String>,
    /// The edge's health.
    pub last_contact: Option<DateTime<Utc>>,
    pub backlog: Option<u64>,
    pub plan_version_applied: u64,
}

/// A state a station was in, `[from, to)`; `to` is `None` for the one it is in now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSpan {
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
    pub state: MachineState,
    pub reason: Option<String>,
    /// The event that started it.
    pub seq: u64,
}

/// Counts reported at a station in one minute for one work order's operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredCount {
    pub minute: DateTime<Utc>,
    pub work_order: Option<String>,
    pub operation: Option<u32>,
    pub good: u64,
    pub scrap: u64,
    /// The operation's ideal cycle time: the order's copy of its routing, else the item's
    /// routing now.
    pub ideal_cycle_ms: Option<u64>,
}

/// One station's history over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StationHistory {
    pub spans: Vec<StoredSpan>,
    pub counts: Vec<StoredCount>,
}

pub use super::sql::floor::Rebuilt;

/// The OEE figures of one station over one shift run that has ended, kept in the database.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptRun {
    pub station: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub figures: crate::mes::oee::Figures,
}

#[async_trait]
pub trait FloorStore: Send + Sync + 'static {
    /// A plant's shift calendar as stored (the API checks it with
    /// [`crate::mes::shifts::ShiftCalendar::new`] before it is put).
    async fn shift_calendar(&self, plant: String) -> Result<Option<serde_json::Value>, StoreError>;

    async fn put_shift_calendar(
        &self,
        plant: String,
        spec: serde_json::Value,
    ) -> Result<(), StoreError>;

    /// A plant's stop reasons, by code.
    async fn stop_reasons(&self, plant: String) -> Result<Vec<StopReason>, StoreError>;

    /// Replaces a plant's list; it goes down with every plan of the plant's lines, so the
    /// plans it changes come back to wake their edges.
    async fn put_stop_reasons(
        &self,
        plant: String,
        reasons: Vec<StopReason>,
    ) -> Result<super::work_orders::Changed<Vec<StopReason>>, StoreError>;

    /// Every station known: those that reported a state, a count or an operator, and every work
    /// center's station on a line with an edge.
    async fn floor_stations(&self) -> Result<Vec<FloorStation>, StoreError>;

    /// A station's spans and counts that overlap `[from, to)`.
    async fn station_history(
        &self,
        edge_id: String,
        station: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<StationHistory, StoreError>;

    /// When the station reported its first state (the start of its first span, or of the
    /// state it is in when it has left none); `None` when it never reported one.
    async fn station_first_state(
        &self,
        edge_id: String,
        station: String,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// A station's spans that overlap `[from, to)` (the one it is in now last).
    async fn station_spans(
        &self,
        edge_id: String,
        station: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredSpan>, StoreError>;

    /// A station's counts of `[from, to)` by the hour (each at its hour's start), and by the
    /// minute within the `fine` ranges (whole hours, in order, not overlapping).
    async fn station_counts(
        &self,
        edge_id: String,
        station: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        fine: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Vec<StoredCount>, StoreError>;

    /// [`FloorStore::station_spans`] of state `down` only: what a list of stops, and of the
    /// scrap in planned busy time, needs (breaks come from the calendar).
    async fn station_stops(
        &self,
        edge_id: String,
        station: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredSpan>, StoreError>;

    /// A station's minutes of `[from, to)` with scrap, by order and operation, in time order:
    /// what a list of scrap reads instead of every minute.
    async fn station_scrap(
        &self,
        edge_id: String,
        station: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredCount>, StoreError>;

    /// Empties the projections and replays every stored event into them.
    async fn rebuild_floor(&self) -> Result<Rebuilt, StoreError>;

    /// The kept figures of a station's runs inside `[from, to)` worked out under `context`
    /// (what else they depend on: the plant's calendar and stop reasons), by start.
    async fn kept_runs(
        &self,
        edge_id: String,
        station: String,
        context: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<KeptRun>, StoreError>;

    /// Before reading the histories of `edges` to keep runs that end by `end`: from now on a
    /// batch that reaches back before `end` counts as late for the edge. Each edge's ticket
    /// (its count of late batches), for [`FloorStore::keep_runs`].
    async fn claim_runs(
        &self,
        edges: Vec<String>,
        end: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>, StoreError>;

    /// Keeps `(edge, ticket, context, runs)` for each edge to which no late batch came since
    /// its ticket; how many runs were kept.
    async fn keep_runs(
        &self,
        runs: Vec<(String, i64, String, Vec<KeptRun>)>,
    ) -> Result<usize, StoreError>;

    /// Drops every kept run (a rebuild does too).
    async fn forget_kept_runs(&self) -> Result<(), StoreError>;

    /// The projections' rows, in key order, for comparing ingest's with a rebuild's.
    async fn floor_fingerprint(&self) -> Result<Vec<String>, StoreError>;
}
