//! Central's HTTP API.
//!
//! | route | auth | what |
//! | --- | --- | --- |
//! | `GET /healthz` | none | `{"status":"ok"}` |
//! | `GET /metrics` | none | Prometheus text |
//! | `POST /api/v1/sync/events` | edge | [`protocol::EventBatch`] → [`protocol::Ack`] |
//! | `GET /api/v1/sync/plan?have=V&wait_ms=N[&epoch=E]` | edge | long poll → [`protocol::Plan`] or 204 |
//! | `POST /api/v1/sync/status` | edge | [`protocol::EdgeStatus`] → [`protocol::StatusReply`] |
//! | `POST /api/v1/edges` | admin | create an edge or rotate its token → 201 `{edge_id, token}` |
//! | `POST /api/v1/edges/{edge_id}/revoke` | admin | 204 |
//! | `GET /api/v1/edges` | admin | `{"edges": [EdgeSummary…]}` (with `quarantined`, a count, and `stations`: what runs on them per the last status) |
//! | `GET /api/v1/edges/{id}/stations` | admin | what runs on the edge's stations per its last status, with `reported_at` |
//! | `GET /api/v1/unassigned[?edge=&limit=]` | admin | parts booked to no work order, per edge and station, from stored events |
//! | `GET /api/v1/edges/{edge_id}/events?from&to&limit` | admin | `{"events": [Event…], "quarantined": [seq…]}` |
//! | `GET /api/v1/quarantine?edge&limit` | admin | `{"quarantined": [QuarantinedEvent…]}`, newest first ([`crate::ingest`]) |
//! | `POST /api/v1/edges/{edge_id}/plans` | admin | a raw plan, for an edge the ERP does not feed: `{"work_orders": […]}` → 201 Plan; 400 `invalid_plan` naming every field out of bounds; 409 `erp_work_order` / `edge_runs_erp_orders` where it would shadow ERP work orders |
//! | `GET /api/v1/edges/{edge_id}/plan` | admin | Plan or 404 |
//! | `POST /api/v1/import/{items,boms,inventory,demands,receipts,uom_conversions,suppliers,locations}` | admin | `text/csv` → `{kind, rows}` (boms: also `revisions`, `unchanged`); 400 `invalid_csv` with `details` |
//! | `POST /api/v1/mrp/run?as_of=YYYY-MM-DD&pegging=single\|full` | admin | the MRP plan ([`crate::erp::mrp::MrpPlan`]), stored as run `run` |
//! | `GET /api/v1/mrp/runs/{run}` | admin | a stored run: its plan and what was firmed ([`crate::store::mrp`]) |
//! | `POST /api/v1/mrp/runs/{run}/firm` | admin | `{planned_orders: [PLN-…]}` or `{all: true}` (`line?`, `priority?`) → `{run, firmed: [{planned_order, work_order, created}], skipped}`; once per planned order |
//! | `GET /api/v1/mrp/runs/{run}/requisitions` | admin | `{run, as_of, requisitions: [{planned_order, item, qty, uom, need_date, order_by, late, days_late?, supplier?, pegged_to}]}` |
//! | `POST /api/v1/mrp/runs/{run}/requisitions/{planned_order}/buy`; `GET /api/v1/purchase-orders`, `…/{number}` | `mrp.firm`; `mrp.read` | a requisition bought through its approval; the orders and their receipts ([`purchasing`]) |
//! | `GET`, `PUT /api/v1/calendar` | admin | the working calendar |
//! | `GET /api/v1/inventory?item&lot&location&at=RFC3339` | admin | `{at, on_hand: [{item, lot, location, uom, qty}]}` |
//! | `GET /api/v1/inventory/ledger?item&lot&location&at&limit` | admin | `{entries: [LedgerEntry…]}` |
//! | `POST /api/v1/inventory/reversals` | admin | `{entry_id, note}` → 201 the reversal entry; 409 if reversed |
//! | `GET /api/v1/genealogy/{lot}?direction=backward\|forward` | admin | `{lot, direction, nodes, links}` |
//! | `GET /api/v1/lines`, `GET`, `PUT /api/v1/lines/{line}` | admin | `{description, edge_id}`: a line and the edge that runs it |
//! | `GET /api/v1/work-centers`, `GET`, `PUT /api/v1/work-centers/{wc}` | admin | `{description, line, station, hours_per_day?}` |
//! | `GET`, `PUT /api/v1/routings/{item}` | admin | `{operations: [{operation, description, work_center}]}` |
//! | `POST /api/v1/import/routings` | admin | `text/csv` `item,operation,description,work_center`, all or nothing |
//! | `POST`, `GET /api/v1/work-orders[?state=]` | admin | create (planned; routing and BOM copied) → 201 view; list |
//! | `GET`, `PATCH /api/v1/work-orders/{id}` | admin | state, progress, material variance, plan versions, the stations that run it (per the edges' last status); change qty/priority/due |
//! | `POST /api/v1/work-orders/{id}/{release,hold,unhold,cancel,close}` | admin | the state machine; 409 `invalid_transition` |
//! | `GET /api/v1/unmatched-work-orders` | admin | order ids edges reported that central does not know |
//! | `POST /api/v1/lots/{lot}/hold`, `/release`; `GET /api/v1/lot-holds` | admin | quality holds, sent to every line |
//! | `GET /api/v1/items`, `GET`, `PUT /api/v1/items/{item}` | admin | the item master (tracking, shelf life, phantom) ([`master_data`]) |
//! | `GET`, `PUT /api/v1/items/{item}/uom-conversions` | admin | `{conversions: [{from_uom, to_uom, factor}]}` |
//! | `GET /api/v1/boms/{parent}`; `POST …/revisions`; `GET`, `PUT …/revisions/{rev}`; `POST …/revisions/{rev}/release` | admin | BOM revisions; 409 `revision_released` on editing a released one |
//! | `GET /api/v1/warehouses`, `GET`, `PUT /api/v1/warehouses/{wh}`, `PUT …/{wh}/locations/{loc}` | admin | warehouses and locations |
//! | `GET /api/v1/suppliers`, `GET`, `PUT /api/v1/suppliers/{s}`, `PUT`, `DELETE …/{s}/items/{item}` | admin | suppliers and their lead times and prices |
//! | `GET /api/v1/operators`, `GET`, `PUT /api/v1/operators/{badge}` | admin | the operator registry ([`operators`]): `{name, skills, pin?, clear_pin?, active?}`; every plan carries the active ones |
//! | `POST /api/v1/import/operators` | admin | `text/csv` `badge,name,skills[,pin][,active]`, all or nothing |
//! | `GET /api/v1/plants`, `GET`, `PUT /api/v1/plants/{plant}` | admin | plants and their rules for the floor: `{name, over_tolerance_pct?, stop_counting_when_complete?, negative_stock?}` ([`plants`]) |
//! | `GET /api/v1/audit?actor&actor_kind&entity&entity_id&action&operation&from&to&after&order&limit` | admin | `{"entries": [AuditEntry…], "next"?}`: the audit trail, oldest first by default ([`audit`]) |
//! | `GET /api/v1/audit.csv?…` | admin | the same filters as one `text/csv` document (at most 100000 rows; `x-audit-next` when it stops early) |
//! | `GET /api/v1/openapi.json` | admin | OpenAPI 3 document ([`openapi`]) |
//! | `GET /api/v1/oa/forms`, `PUT …/forms/{form}`; `GET`, `PUT /api/v1/oa/workflows/{form}` | signed in (reads), `users.manage` (writes) | forms and versioned workflows ([`oa`]) |
//! | `GET`, `POST /api/v1/oa/requests`; `GET …/{id}`; `POST …/{id}/{approve,reject,return,withdraw,resubmit}`; `GET`, `POST /api/v1/oa/delegations` | signed in | requests, the inbox, decisions by the assigned approvers or their delegates ([`oa`]) |
//! | `GET /api/v1/oa/tasks`, `POST …/tasks/{task}/done`; `GET /api/v1/roster` | `office.tasks`; signed in (own), `roster.read` (everyone's) | the office's booking tasks and the roster blocks of approved trips and leave ([`oa`]) |
//!
//! Every error is a [`protocol::ErrorBody`] ([`error::AppError`]).

pub mod admin;
pub mod audit;
pub mod auth_cache;
pub mod crm;
pub mod deliveries;
pub mod erp;
pub mod error;
pub mod extract;
pub mod floor;
pub mod inventory;
pub mod kiosk;
pub mod losses;
pub mod master_data;
pub mod oa;
pub mod openapi;
pub mod operators;
pub mod people;
pub mod pipeline;
pub mod plants;
pub mod policy;
pub mod prices;
pub mod purchasing;
pub mod sales;
pub mod spc;
pub mod sync;
pub mod tickets;
pub mod trace;
mod validate;
pub mod work_orders;

use crate::config::{AdminToken, CentralConfig};
use crate::metrics::Metrics;
use crate::people::users::Lockout;
use crate::store::{Store, StoreChange};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use error::AppError;
use policy::Routes;
use protocol::{EdgeId, PlanVersion};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Everything a handler needs. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    admin_token: AdminToken,
    /// Its SHA-256, what a presented token's hash is compared with.
    admin_token_hash: [u8; 32],
    metrics: Metrics,
    plan_notify: PlanNotify,
    max_body_bytes: usize,
    max_plan_wait: Duration,
    sessions: SessionLimits,
    lockout: Lockout,
    cookies_secure: bool,
    auth_cache: auth_cache::AuthCache,
    shutdown: watch::Sender<bool>,
    /// Plan long polls that read the store and wait for a publish now.
    polls_waiting: std::sync::atomic::AtomicUsize,
    /// Whether the task that follows other instances' changes runs.
    following: std::sync::atomic::AtomicBool,
    /// Each edge's batches at this instance, stored in the order of their seqs.
    ingest_order: crate::ingest_order::IngestOrder,
    /// Bumped when a batch (here or at another instance) changed the floor's projections,
    /// or work orders changed: what the live pages wait on.
    floor: watch::Sender<u64>,
    /// The live feed's boards, shared by the pages of one scope.
    floor_boards: crate::api::floor::BoardCache,
    /// The live OEE and head office pages' reports, shared by the pages of one question.
    floor_reports: crate::api::floor::ReportCache,
    oee_runs: crate::api::floor::RunCache,
    /// `[documents]`: the seller on PDFs and the CJK font's source.
    documents: crate::config::DocumentsConfig,
    /// `[shipping] edges`: whose long polls a change of orders wakes.
    shipping_edges: Vec<EdgeId>,
    /// The fonts PDFs are set in, loaded on the first document (a CJK font is tens of MB).
    fonts: std::sync::OnceLock<crate::crm::pdf::Fonts>,
    /// `[notify]`: where notifications are mailed and posted.
    notify: crate::config::NotifyConfig,
    /// Whether the OA timers and the notification sender run.
    background: std::sync::atomic::AtomicBool,
}

/// The timeouts of signed-in page sessions, and the idle timeout of kiosk sessions.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle: chrono::Duration,
    pub absolute: chrono::Duration,
    pub kiosk_idle: chrono::Duration,
}

impl AppState {
    /// `admin_token` is the resolved, checked token ([`CentralConfig::resolve_admin_token`] or
    /// [`AdminToken::new`]: at least 32 characters); from `config` only the limits
    /// (`max_body_bytes`, `max_plan_wait`) are taken.
    pub fn new(store: Arc<dyn Store>, admin_token: AdminToken, config: &CentralConfig) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                admin_token_hash: crate::auth::hash_token(admin_token.expose()),
                admin_token,
                metrics: Metrics::new(),
                plan_notify: PlanNotify::default(),
                max_body_bytes: config.max_body_bytes,
                max_plan_wait: config.max_plan_wait,
                sessions: SessionLimits {
                    idle: chrono::Duration::from_std(config.sessions.idle)
                        .unwrap_or(chrono::Duration::minutes(30)),
                    absolute: chrono::Duration::from_std(config.sessions.absolute)
                        .unwrap_or(chrono::Duration::hours(12)),
                    kiosk_idle: chrono::Duration::from_std(config.sessions.kiosk_idle)
                        .unwrap_or(chrono::Duration::hours(12)),
                },
                lockout: Lockout::default(),
                cookies_secure: false,
                auth_cache: auth_cache::AuthCache::default(),
                shutdown: watch::Sender::new(false),
                polls_waiting: std::sync::atomic::AtomicUsize::new(0),
                following: std::sync::atomic::AtomicBool::new(false),
                ingest_order: crate::ingest_order::IngestOrder::default(),
                floor: watch::channel(0).0,
                floor_boards: crate::api::floor::BoardCache::default(),
                floor_reports: crate::api::floor::ReportCache::default(),
                oee_runs: crate::api::floor::RunCache::default(),
                documents: config.documents.clone(),
                shipping_edges: config
                    .shipping
                    .edges
                    .iter()
                    .map(|e| EdgeId::from(e.as_str()))
                    .collect(),
                fonts: std::sync::OnceLock::new(),
                notify: config.notify.clone(),
                background: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// On a store shared with other central instances (PostgreSQL), acts on what they
    /// change: a plan they publish wakes this instance's long polls for that edge, and
    /// credentials they change empty this instance's cache. Started once, when the state is
    /// first made into a router ([`app`]); the task ends with the state.
    fn follow_other_instances(&self) {
        if self
            .inner
            .following
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let Some(mut changes) = self.inner.store.changes() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime to follow other central instances' changes on");
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let change = changes.recv().await;
                let Some(inner) = weak.upgrade() else { return };
                match change {
                    Ok(StoreChange::Plan { edge_id, version }) => {
                        inner.plan_notify.notify(&edge_id, version);
                    }
                    Ok(StoreChange::Credentials) => inner.auth_cache.invalidate(),
                    Ok(StoreChange::Floor { edge_id, since }) => {
                        inner.oee_runs.changed(edge_id.as_str(), since);
                        inner.floor.send_modify(|n| *n = n.wrapping_add(1));
                    }
                    // No OEE figure reads an order's quantity, due date or state: the kept
                    // runs stand, the live pages refresh.
                    Ok(StoreChange::WorkOrders) => {
                        inner.floor.send_modify(|n| *n = n.wrapping_add(1));
                    }
                    Ok(StoreChange::Resync) | Err(RecvError::Lagged(_)) => {
                        inner.auth_cache.invalidate();
                        inner.oee_runs.clear();
                        inner.plan_notify.wake_all();
                        inner.floor.send_modify(|n| *n = n.wrapping_add(1));
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// Starts the OA timers and the notification sender ([`crate::notify`]), once, when the
    /// state is first made into a router; they stop at shutdown or when the state is gone.
    fn start_background_work(&self) {
        if self
            .inner
            .background
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store_of =
            |weak: std::sync::Weak<Inner>| move || weak.upgrade().map(|inner| inner.store.clone());
        let weak = Arc::downgrade(&self.inner);
        runtime.spawn(crate::notify::run_timers(
            store_of(weak.clone()),
            self.inner.shutdown.subscribe(),
        ));
        match crate::notify::Sender::new(&self.inner.notify) {
            Ok(sender) => {
                runtime.spawn(crate::notify::run_sender(
                    store_of(weak),
                    sender,
                    self.inner.shutdown.subscribe(),
                ));
            }
            Err(e) => tracing::error!(
                error = %e,
                "notifications are kept in the outbox but not sent until [notify] is fixed"
            ),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// `[documents]` of the config.
    pub fn documents(&self) -> &crate::config::DocumentsConfig {
        &self.inner.documents
    }

    /// The fonts of PDF documents: the vendored Latin fonts and the configured (or the
    /// system's) CJK font, loaded once. Blocks on the first call: call it off the runtime. A
    /// configured font that cannot be read is logged and documents with Chinese text are then
    /// refused with the reason.
    pub fn fonts(&self) -> crate::crm::pdf::Fonts {
        use crate::crm::pdf::{FontSource, Fonts};
        self.inner
            .fonts
            .get_or_init(|| match &self.inner.documents.cjk_font {
                None => Fonts::system(),
                Some(path) => Fonts::load(&FontSource::File {
                    path: path.clone(),
                    index: None,
                })
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "[documents] cjk_font cannot be used; documents with Chinese text are refused");
                    Fonts::latin_only()
                }),
            })
            .clone()
    }

    /// Tells the live pages that the floor changed.
    pub fn floor_changed(&self) {
        self.inner.floor.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Tells the live pages that work orders changed (head office's output against plan and
    /// on-time delivery read them). Other instances hear it from the store's change feed
    /// ([`StoreChange::WorkOrders`], sent in the changing transaction).
    pub fn work_orders_changed(&self) {
        self.inner.floor.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn floor_boards(&self) -> &crate::api::floor::BoardCache {
        &self.inner.floor_boards
    }

    pub(crate) fn floor_reports(&self) -> &crate::api::floor::ReportCache {
        &self.inner.floor_reports
    }

    /// The figures of shift runs that have ended ([`crate::api::floor::RunCache`]).
    pub fn oee_runs(&self) -> &crate::api::floor::RunCache {
        &self.inner.oee_runs
    }

    /// What the live pages wait on: a new value when the floor changed.
    pub fn floor_updates(&self) -> watch::Receiver<u64> {
        self.inner.floor.subscribe()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn admin_token(&self) -> &str {
        self.inner.admin_token.expose()
    }

    pub(crate) fn admin_token_hash(&self) -> &[u8; 32] {
        &self.inner.admin_token_hash
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    pub fn max_plan_wait(&self) -> Duration {
        self.inner.max_plan_wait
    }

    pub fn session_limits(&self) -> SessionLimits {
        self.inner.sessions
    }

    pub fn lockout(&self) -> Lockout {
        self.inner.lockout
    }

    /// What the policy check keeps between requests ([`auth_cache`]).
    pub fn auth_cache(&self) -> &auth_cache::AuthCache {
        &self.inner.auth_cache
    }

    /// Forgets every cached session, token and record plant: for tools and tests that change
    /// the store behind central's back (every change through the API does this itself).
    pub fn forget_cached_credentials(&self) {
        self.inner.auth_cache.invalidate();
    }

    /// Whether session cookies are marked `Secure` (central serves HTTPS).
    pub fn cookies_secure(&self) -> bool {
        self.inner.cookies_secure
    }

    /// Other sign-in lockout rules (tests, benchmarks). Call it on a new state, before it
    /// is cloned.
    pub fn with_lockout(mut self, lockout: Lockout) -> AppState {
        Arc::get_mut(&mut self.inner)
            .expect("with_lockout is called on a state not yet shared")
            .lockout = lockout;
        self
    }

    /// `Secure` session cookies (central serves HTTPS). Call it on a new state.
    pub fn with_secure_cookies(mut self, secure: bool) -> AppState {
        Arc::get_mut(&mut self.inner)
            .expect("with_secure_cookies is called on a state not yet shared")
            .cookies_secure = secure;
        self
    }

    /// Appends an entry that is not a change of a record (a sign-in, a failed one, a lock,
    /// a denial) to the audit trail; a failure to write is logged, never answered (the
    /// caller's answer does not depend on it).
    pub async fn audit(&self, entry: crate::store::audit::NewAuditEntry) {
        let what = format!("{} {}", entry.action, entry.entity);
        if let Err(e) = self.store().append_audit(entry).await {
            tracing::error!(error = %e, what, "could not write to the audit trail");
        }
    }

    /// Each edge's batches at this instance between being read and answered.
    pub fn ingest_order(&self) -> &crate::ingest_order::IngestOrder {
        &self.inner.ingest_order
    }

    /// Plan long polls of any edge that have read the store and wait for a publish now (only
    /// a publish can answer them before their time is up).
    pub fn plan_polls_waiting(&self) -> usize {
        self.inner
            .polls_waiting
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Counts a poll as waiting until the guard is dropped.
    pub(crate) fn poll_waiting(&self) -> PollWaiting {
        self.inner
            .polls_waiting
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        PollWaiting(self.inner.clone())
    }

    /// How many plan long polls of this edge are waiting right now (tests wait on this
    /// condition instead of sleeping).
    pub fn plan_waiters(&self, edge_id: &EdgeId) -> usize {
        self.inner.plan_notify.waiters(edge_id)
    }

    /// Wakes the long polls of the edges that ship (`[shipping] edges`) with their latest
    /// plan: after a change of orders that republished their plans in its transaction.
    pub async fn wake_shipping_edges(&self) {
        for edge in &self.inner.shipping_edges {
            match self.inner.store.latest_plan(edge).await {
                Ok(Some(plan)) => self.notify_plan(edge, plan.version),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(edge_id = %edge, error = %e, "cannot read a shipping edge's plan to wake its polls")
                }
            }
        }
    }

    /// Wakes the edge's waiting plan long polls: a plan version was published.
    pub fn notify_plan(&self, edge_id: &EdgeId, version: PlanVersion) {
        self.inner.plan_notify.notify(edge_id, version);
    }

    pub(crate) fn subscribe_plan(&self, edge_id: &EdgeId) -> watch::Receiver<PlanVersion> {
        self.inner.plan_notify.subscribe(edge_id)
    }

    /// Ends every waiting (and every later) plan long poll with 204, so a graceful shutdown
    /// does not wait for them.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    pub(crate) async fn shutting_down(&self) {
        let mut rx = self.inner.shutdown.subscribe();
        // Err means the sender is gone, which cannot happen while `self` lives; either way,
        // treat it as shutting down.
        let _ = rx.wait_for(|down| *down).await;
    }
}

/// A plan long poll counted as waiting ([`AppState::plan_polls_waiting`]) while it lives.
pub(crate) struct PollWaiting(Arc<Inner>);

impl Drop for PollWaiting {
    fn drop(&mut self) {
        self.0
            .polls_waiting
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// One watch channel per edge, holding the latest published plan version.
#[derive(Default)]
struct PlanNotify {
    senders: Mutex<HashMap<EdgeId, watch::Sender<PlanVersion>>>,
}

impl PlanNotify {
    fn sender<R>(&self, edge_id: &EdgeId, f: impl FnOnce(&watch::Sender<PlanVersion>) -> R) -> R {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        let sender = senders
            .entry(edge_id.clone())
            .or_insert_with(|| watch::Sender::new(PlanVersion(0)));
        f(sender)
    }

    fn subscribe(&self, edge_id: &EdgeId) -> watch::Receiver<PlanVersion> {
        self.sender(edge_id, |s| s.subscribe())
    }

    fn notify(&self, edge_id: &EdgeId, version: PlanVersion) {
        self.sender(edge_id, |s| {
            s.send_replace(version);
        });
    }

    /// Wakes every waiting poll (each reads the store again).
    fn wake_all(&self) {
        let senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        for sender in senders.values() {
            sender.send_modify(|_| {});
        }
    }

    fn waiters(&self, edge_id: &EdgeId) -> usize {
        self.sender(edge_id, |s| s.receiver_count())
    }
}

/// Every route of central with the policy it needs: the one list the router is built from
/// ([`app`]), the OpenAPI document checked against and the route tests walk.
pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", policy::PUBLIC, healthz)
        .get("/metrics", policy::PUBLIC, metrics)
        .merge(sync::routes())
        .merge(admin::routes())
        .merge(erp::routes())
        .merge(inventory::routes())
        .merge(work_orders::routes())
        .merge(trace::routes())
        .merge(master_data::routes())
        .merge(crm::routes())
        .merge(pipeline::routes())
        .merge(operators::routes())
        .merge(prices::routes())
        .merge(sales::routes())
        .merge(tickets::routes())
        .merge(deliveries::routes())
        .merge(oa::routes())
        .merge(purchasing::routes())
        .merge(plants::routes())
        .merge(floor::routes())
        .merge(losses::routes())
        .merge(spc::routes())
        .merge(people::routes())
        .merge(kiosk::routes())
        .merge(openapi::routes())
        .merge(audit::routes())
        .merge(crate::web::routes())
}

/// The whole API as one router (what tests call with `oneshot`).
pub fn app(state: AppState) -> Router {
    state.follow_other_instances();
    state.start_background_work();
    with_layers(routes().into_router(), state)
}

/// Central's router from `routes`, with what wraps every route: the fallbacks, the sync
/// metrics, the body limit and the state the policy check finds. `mes bench authz` gives it
/// the routes without their policies, so the baseline differs from [`app`] by the policy check
/// alone.
#[doc(hidden)]
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            sync::count_requests,
        ))
        .layer(DefaultBodyLimit::max(state.max_body_bytes()))
        // The policy check of every route ([`policy::enforce`]) finds the state here.
        .layer(axum::Extension(state.clone()))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, ends the
/// plan long polls and waits for in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(state.clone());
    // The peer's address goes into the audit trail.
    let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("central shutting down");
            state.begin_shutdown();
        })
        .await
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().encode(),
    )
}

async fn unknown_route(uri: axum::http::Uri) -> AppError {
    AppError::not_found(format!(
        "no route {}; expected one of the /api/v1 routes, /healthz or /metrics",
        uri.path()
    ))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> AppError {
    AppError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "method {} is not allowed on {}",
            method.as_str().to_lowercase(),
            uri.path()
        ),
    )
}
