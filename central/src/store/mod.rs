//! Central's durable state behind one object-safe trait, so the API does not care whether it
//! runs on SQLite (the embedded default, [`sqlite`]) or, later, PostgreSQL.
//!
//! **Architecture Invariant:** [`Store::ingest`] is the delivery contract. In one transaction
//! it reads the edge's `acked_through`, refuses a batch that would leave a gap, skips events at
//! or below `acked_through` (duplicates), stores the rest and advances `acked_through`. It
//! returns only after the commit is durable.

pub mod audit;
pub mod crm;
pub mod deliveries;
pub mod erp;
pub mod floor;
pub mod inventory;
pub mod kiosk;
pub mod mrp;
pub mod notify;
pub mod oa;
pub mod operators;
pub mod people;
pub mod pipeline;
pub mod plants;
pub mod prices;
pub mod purchasing;
pub mod sales;
pub mod spc;
pub mod sql;
pub mod tickets;
pub mod trace;
pub mod work_orders;

pub use audit::{AuditEntry, AuditQuery, AuditStore, NewAuditEntry};
pub use erp::{ErpStore, ImportSummary, MasterData};
pub use floor::FloorStore;
pub use inventory::InventoryStore;
pub use kiosk::KioskStore;
pub use mrp::MrpStore;
pub use operators::OperatorStore;
pub use people::PeopleStore;
pub use plants::PlantStore;
pub use prices::PriceStore;
pub use spc::SpcStore;
pub use trace::TraceStore;
pub use work_orders::WorkOrderStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use protocol::{
    EdgeId, EdgeStatus, Event, EventId, Plan, PlanContent, PlanVersion, RunBy, Seq, StationRun,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    /// The change contradicts what is stored (a badge another user has); 409.
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Db(#[from] sql::db::DbError),
    /// The store's settings do not read (a URL that does not parse).
    #[error("{0}")]
    Config(String),
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("stored json is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("store task failed: {0}")]
    Task(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// A change another central instance made, as [`Store::changes`] hands it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChange {
    /// A plan version was published for this edge (its long polls wake and read it).
    Plan {
        edge_id: EdgeId,
        version: PlanVersion,
    },
    /// People, roles, sessions or tokens may have changed: cached credentials are stale.
    Credentials,
    /// A batch of this edge changed the floor's projections (live pages refresh); figures
    /// from `since` on may have changed (`None`: any of the edge's).
    Floor {
        edge_id: EdgeId,
        since: Option<DateTime<Utc>>,
    },
    /// Work orders were made or changed (created, firmed, released, changed, held, cancelled,
    /// closed through the API, or completed at ingest): the live pages that show their
    /// output against plan and on-time delivery refresh.
    WorkOrders,
    /// Changes may have been missed (the listening connection was lost and made again):
    /// forget every cache and wake every waiting poll.
    Resync,
}

/// What [`Store::ingest`] did with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Everything through `acked_through` is durably stored.
    Acked {
        acked_through: Seq,
        /// Events stored by this call.
        n_new: u64,
        /// Events at or below the previous `acked_through`, skipped.
        n_duplicate: u64,
    },
    /// The batch starts after `expected`; nothing was written.
    Gap { expected: Seq, acked_through: Seq },
    /// The batch repeats a seq central already holds with another event (another id, or
    /// another body where the ids do not read): the edge's journal is not the one central
    /// took the seq from (restored, or made again). Nothing was written.
    Conflict {
        seq: Seq,
        /// The stored event's id (empty when it does not read).
        stored: String,
        /// The batch's event id at that seq (empty when it does not read).
        sent: String,
    },
}

/// What [`Store::ingest_encoded`] did: the outcome, and the plan versions the batch
/// published inside its transaction (a `work_order_completed` takes the order out of its
/// lines' plans), for the API to wake those edges' long polls after the commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    pub outcome: IngestOutcome,
    pub plans: Vec<Plan>,
    /// `(seq, reason)` of every event this call stored into quarantine (not duplicates), for
    /// the API to count and log after the commit.
    pub quarantined: Vec<(Seq, String)>,
    /// Whether the batch changed the floor's projections (a state, a count, an operator).
    pub floor: bool,
    /// Whether the batch moved a work order to another state (started, held, completed):
    /// head office's live page refreshes.
    pub work_orders: bool,
    /// The earliest moment whose figures the batch changed (a state's start, a count's
    /// minute, the stop a reason was given for): figures of shift runs that ended by then
    /// stand.
    pub floor_since: Option<DateTime<Utc>>,
}

/// One edge as the admin list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeSummary {
    pub edge_id: EdgeId,
    /// Highest contiguous seq central has stored.
    pub acked_seq: Seq,
    /// Last authenticated sync request (ingest, status or plan poll).
    pub last_contact: Option<DateTime<Utc>>,
    /// The backlog the edge reported in its last status.
    pub reported_backlog: Option<u64>,
    /// `edge clock - central clock` at the last status, in milliseconds.
    pub clock_skew_ms: Option<i64>,
    pub agent_version: Option<String>,
    /// Latest plan version central published for this edge (0: none).
    pub plan_version_published: PlanVersion,
    /// Plan version the edge last said it runs (0: none or unknown).
    pub plan_version_applied: PlanVersion,
    pub revoked: bool,
    /// Events of this edge central holds in quarantine (`GET /api/v1/quarantine?edge=`).
    #[serde(default)]
    pub quarantined: u64,
    /// When the oldest event the edge has not had acknowledged was committed, on central's
    /// clock (the edge's time corrected by the skew of its status), as its last status said;
    /// null when nothing is unsent or the agent does not say.
    #[serde(default)]
    pub oldest_unsent_at: Option<DateTime<Utc>>,
    /// How long ago that was, in whole seconds, when this answer was made.
    #[serde(default)]
    pub oldest_unsent_age_s: Option<i64>,
    /// What runs on each of its stations, as its last status said; absent until the edge
    /// sends a status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stations: Option<ReportedStations>,
}

/// When the oldest unsent event of `status` was committed, on central's clock: the age the
/// edge measured on its own clock (`status.clock - oldest_unsent_at`) taken from
/// `received_at`, so a skewed edge clock does not make it older or younger. An event the
/// edge stamped after its status's clock (its clock stepped back) counts as just now.
/// Central refuses a time out of bounds before this (`api::sync`).
pub fn oldest_unsent_at(status: &EdgeStatus, received_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let oldest = status.oldest_unsent_at?;
    let age = (status.clock - oldest).max(chrono::TimeDelta::zero());
    received_at.checked_sub_signed(age)
}

/// What runs on an edge's stations, as one status reported it, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedStations {
    /// When central received the status (central's clock): how fresh this is.
    pub reported_at: DateTime<Utc>,
    /// The edge's clock when it sent the status.
    pub edge_clock: DateTime<Utc>,
    /// Ordered by station id.
    pub stations: Vec<StationRun>,
}

/// Parts counted at a station and booked to no work order, summed from the edge's stored
/// production reports that name none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unassigned {
    pub edge_id: String,
    /// Absent: the reports named no station.
    pub station: Option<String>,
    pub good: u64,
    pub scrap: u64,
    /// Production reports summed.
    pub reports: u64,
    /// The latest report's event time.
    pub last_at: DateTime<Utc>,
}

/// A station that runs a work order right now, per its edge's last status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStation {
    pub edge_id: String,
    pub station: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<RunBy>,
    /// The order's good and scrap parts counted on that edge, as the edge reported them.
    pub good: u64,
    pub scrap: u64,
    pub over_production: bool,
    pub counting: bool,
    /// When central received the status (central's clock).
    pub reported_at: DateTime<Utc>,
    /// The edge's clock when it sent the status.
    pub edge_clock: DateTime<Utc>,
}

/// An event as ingest stores it: its place in the edge's sequence, its id when it reads, the
/// JSON text the edge sent (stored as is, so no event is encoded again), and whether central
/// applies it ([`crate::ingest::classify`] decides).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    pub seq: Seq,
    pub id: Option<EventId>,
    pub json: String,
    pub body: Checked,
}

/// What central makes of an event's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// Read and within bounds: applied to the projections (ledger, genealogy, work orders).
    /// Boxed: an event is several times the size of a quarantined one.
    Valid(Box<Event>),
    /// A committed fact central cannot apply: stored and acknowledged, applied to nothing,
    /// listed at `GET /api/v1/quarantine` with the reason.
    Quarantined {
        /// The kind's name, what the body says it is when it does not read, or `unreadable`.
        kind: String,
        /// The event time, when it reads.
        at: Option<DateTime<Utc>>,
        /// Which field is out of bounds and why, or why the body does not read.
        reason: String,
    },
}

impl EncodedEvent {
    /// An event held in memory (tests, tools), encoded and checked as if it had arrived at
    /// `received_at`.
    pub fn encode(event: Event, received_at: DateTime<Utc>) -> Result<EncodedEvent, StoreError> {
        let json = serde_json::to_string(&event)?;
        Ok(crate::ingest::classify_event(
            event,
            json,
            &crate::ingest::window(received_at),
        ))
    }
}

/// An event central holds in quarantine, as `GET /api/v1/quarantine` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedEvent {
    pub edge_id: EdgeId,
    pub seq: Seq,
    /// The event's id, when it reads.
    pub event_id: Option<EventId>,
    /// The kind's name, what the body says it is, or `unreadable`.
    pub kind: String,
    /// The event time, when it reads.
    pub at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub reason: String,
    /// The start of the text the edge sent, at most 1024 bytes, control and invisible
    /// characters escaped (`\u{202E}`); the whole text stays in the store.
    pub body: String,
    /// The length of the whole text, in bytes.
    pub body_bytes: u64,
}

/// Events of one edge by seq: those central applied, and the seqs of the range that are in
/// quarantine (left out of `events`; their bodies are at `GET /api/v1/quarantine`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredEvents {
    pub events: Vec<Event>,
    pub quarantined: Vec<Seq>,
}

/// Central's store. ERP master data is its supertrait [`ErpStore`], the stock ledger and
/// genealogy [`InventoryStore`], stored MRP runs and firming [`MrpStore`], lines, routings and work orders [`WorkOrderStore`], the
/// operator registry [`OperatorStore`], the audit trail [`AuditStore`], price lists, exchange
/// and tax rates [`PriceStore`], quotations and sales orders [`sales::SalesStore`].
#[async_trait]
pub trait Store:
    ErpStore
    + AuditStore
    + MrpStore
    + InventoryStore
    + WorkOrderStore
    + OperatorStore
    + PlantStore
    + FloorStore
    + SpcStore
    + PeopleStore
    + KioskStore
    + TraceStore
    + crm::CrmStore
    + pipeline::PipelineStore
    + PriceStore
    + sales::SalesStore
    + tickets::TicketStore
    + deliveries::DeliveryStore
    + oa::OaStore
    + notify::NotifyStore
    + purchasing::PurchasingStore
    + Send
    + Sync
    + 'static
{
    /// What other central instances on the same database changed that this one must act on
    /// (a plan published, credentials changed): `None` when the store is this process's alone
    /// (SQLite). Each call is a new subscriber.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<StoreChange>> {
        None
    }

    /// Tells the other instances on the same database that people or credentials may have
    /// changed (they forget what they cached); nothing on SQLite.
    async fn announce_credentials_changed(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Creates an edge with this credential, or replaces the credential of an existing one
    /// (rotation), which also lifts a revocation. Its events and acked seq stay.
    async fn create_edge(&self, edge_id: &EdgeId, token_hash: [u8; 32]) -> Result<(), StoreError>;

    /// Revokes an edge's credential. [`StoreError::NotFound`] if the edge is unknown.
    async fn revoke_edge(&self, edge_id: &EdgeId) -> Result<(), StoreError>;

    /// The edge this credential belongs to; `None` if unknown or revoked.
    async fn authenticate(&self, token_hash: [u8; 32]) -> Result<Option<EdgeId>, StoreError>;

    /// Applies a batch (envelopes already checked: [`crate::ingest::classify`], contiguous)
    /// under the delivery contract; see the module documentation. Events
    /// [`Checked::Quarantined`] are stored and acknowledged like the others, but applied to no
    /// projection and put into quarantine. Also records `received_at` as last contact.
    async fn ingest_encoded(
        &self,
        edge_id: &EdgeId,
        events: Vec<EncodedEvent>,
        received_at: DateTime<Utc>,
    ) -> Result<Ingested, StoreError>;

    /// [`Store::ingest_encoded`] for events without their JSON text (tests, tools); the plans
    /// it published are not returned (nobody long-polls here).
    async fn ingest(
        &self,
        edge_id: &EdgeId,
        events: Vec<Event>,
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let encoded = events
            .into_iter()
            .map(|e| EncodedEvent::encode(e, received_at))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .ingest_encoded(edge_id, encoded, received_at)
            .await?
            .outcome)
    }

    /// The edge's acknowledged seq; `None` if the edge is unknown.
    async fn acked_through(&self, edge_id: &EdgeId) -> Result<Option<Seq>, StoreError>;

    /// Records a status report (agent version, backlog, clock skew, plan applied) and the
    /// contact, and replaces what the edge's previous status said runs on its stations with
    /// what this one says (an empty list: nothing reported, nothing shown as running).
    async fn record_status(
        &self,
        status: &EdgeStatus,
        received_at: DateTime<Utc>,
        clock_skew_ms: i64,
    ) -> Result<(), StoreError>;

    /// Records a plan poll: the plan version the edge runs, and the contact.
    async fn record_plan_poll(
        &self,
        edge_id: &EdgeId,
        have: PlanVersion,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Every edge, ordered by id.
    async fn edges(&self) -> Result<Vec<EdgeSummary>, StoreError>;

    /// One edge's stations as its last status said; `None` if none reported stations.
    /// [`StoreError::NotFound`] if the edge is unknown.
    async fn edge_stations(&self, edge_id: &EdgeId)
    -> Result<Option<ReportedStations>, StoreError>;

    /// Parts booked to no work order per edge and station, of one edge or all, ordered by
    /// edge and station, at most `limit` rows.
    async fn unassigned(
        &self,
        edge_id: Option<EdgeId>,
        limit: usize,
    ) -> Result<Vec<Unassigned>, StoreError>;

    /// Events of one edge with `from <= seq` (and `seq <= to`), ascending, at most `limit`
    /// rows; quarantined events are left out and their seqs listed.
    async fn events(
        &self,
        edge_id: &EdgeId,
        from: Seq,
        to: Option<Seq>,
        limit: usize,
    ) -> Result<StoredEvents, StoreError>;

    /// Quarantined events, newest first, of one edge or of all, at most `limit`.
    async fn quarantined(
        &self,
        edge_id: Option<EdgeId>,
        limit: usize,
    ) -> Result<Vec<QuarantinedEvent>, StoreError>;

    async fn count_events(&self, edge_id: &EdgeId) -> Result<u64, StoreError>;

    /// `(seq, event id)` pairs from `from`, ascending, at most `limit`: enough to compare an
    /// edge's journal with what central holds. Quarantined events whose id did not read are
    /// left out.
    async fn event_ids(
        &self,
        edge_id: &EdgeId,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, EventId)>, StoreError>;

    /// Publishes the next plan version of an edge (previous + 1, starting at 1), with the
    /// active operators of the registry in place of whatever `content.operators` holds.
    /// Unchecked against the ERP (tools and tests); the API's raw route uses
    /// [`Store::publish_raw_plan`].
    /// [`StoreError::NotFound`] if the edge is unknown.
    async fn publish_plan(
        &self,
        edge_id: &EdgeId,
        content: PlanContent,
    ) -> Result<Plan, StoreError>;

    /// An administrator's raw plan (`POST /api/v1/edges/{id}/plans`), which must not shadow
    /// the ERP: refused, in the same transaction that would publish it, when one of its work
    /// orders is an ERP work order (`erp_work_order`), or when the edge runs ERP work orders
    /// (released, in progress or on hold on one of its lines: `edge_runs_erp_orders`), which
    /// the raw plan would replace. Otherwise [`Store::publish_plan`].
    async fn publish_raw_plan(
        &self,
        edge_id: &EdgeId,
        content: PlanContent,
    ) -> Result<Result<Plan, RawPlanRefused>, StoreError>;

    async fn latest_plan(&self, edge_id: &EdgeId) -> Result<Option<Plan>, StoreError>;
}

/// Why a raw plan was refused ([`Store::publish_raw_plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPlanRefused {
    /// `erp_work_order` or `edge_runs_erp_orders`.
    pub code: &'static str,
    pub message: String,
}
