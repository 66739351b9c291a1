//! The facts behind the OEE page's loss tree: every stop and every count with scrap, one row
//! each, tagged with what the Pareto charts group them by (reason, category, shift, station,
//! work order and item). Each bar of the OEE page leads here with its key as a filter, and
//! the rows listed sum to the bar: both are worked out by the same walk
//! ([`crate::mes::oee::figures_and_details`]) over the same shift runs.
//!
//! A stop that crosses a shift change is a row in each shift, each with its part (as the
//! Pareto by shift counts it); breaks inside a stop are not down time.
//!
//! Who may: `floor.read`, for one's plants (another plant answers 404, as records do).

use super::AppState;
use super::error::AppError;
use super::extract::ApiQuery;
use super::floor::{
    By, OeeQuery, Prepared, csv_attachment, details_of, fine_hours, known_plant, order_items, scope,
};
use super::policy::{Principal, Routes, needs};
use crate::mes::shifts::ShiftRun;
use crate::people::roles::Permission;
use crate::store::floor::StationHistory;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// At most this many rows in one answer (the sums count them all).
pub const MAX_ROWS: usize = 5000;
/// Rows in an answer that does not ask for `limit`.
pub const DEFAULT_ROWS: usize = 500;

pub fn routes() -> Routes {
    use Permission::FloorRead;
    Routes::new()
        .get("/api/v1/floor/losses", needs(FloorRead), losses)
        .get("/api/v1/floor/losses.csv", needs(FloorRead), losses_csv)
}

/// What is listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Unplanned stops: the down time of availability (ADOT).
    #[default]
    Down,
    /// Planned stops (maintenance, ...): planned down time; breaks are the calendar's.
    Planned,
    /// Counts with scrap in PQ: what quality loses.
    Scrap,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Down => "down",
            LossKind::Planned => "planned",
            LossKind::Scrap => "scrap",
        }
    }
}

/// The question: the OEE page's scope and period, what to list, and the key of one bar
/// (`reason=` empty for stops without a reason, `item=` empty for orders of no known item).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossQuery {
    pub plant: String,
    #[serde(default)]
    pub line: Option<String>,
    #[serde(default)]
    pub edge_id: Option<String>,
    #[serde(default)]
    pub station: Option<String>,
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub kind: LossKind,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub shift: Option<String>,
    #[serde(default)]
    pub work_order: Option<String>,
    #[serde(default)]
    pub item: Option<String>,
    /// Rows listed, at most [`MAX_ROWS`]; [`DEFAULT_ROWS`] when absent.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One stop's part of one shift, or one minute's scrap.
#[derive(Debug, Clone, Serialize)]
pub struct LossRow {
    pub edge_id: String,
    pub station: String,
    pub line: Option<String>,
    /// The shift's name and the plant's local date it starts on.
    pub shift: String,
    pub shift_date: NaiveDate,
    /// A stop: when its state began (the event `seq` of the edge); scrap: the minute.
    pub started: DateTime<Utc>,
    /// The part inside the shift and the period (scrap: the minute and the next).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Down time counted (breaks inside left out), ms; 0 for scrap.
    pub down_ms: i64,
    /// Parts scrapped; 0 for stops.
    pub scrap: u64,
    /// Stops: the reason code (`""` none given) and its category.
    pub reason: String,
    pub category: String,
    /// The edge's event that began the stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The order the stop or scrap counts against, and its item (`""` when none or not
    /// known).
    pub work_order: String,
    pub item: String,
}

#[derive(Debug, Serialize)]
pub struct LossReport {
    pub plant: String,
    pub time_zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub kind: LossKind,
    /// Of every row matched, listed or not: ms of down time (`down`, `planned`) or parts
    /// (`scrap`). Equals the Pareto bar with the same key.
    pub total: i64,
    pub matched: usize,
    /// The first `limit` rows matched, in time order.
    pub rows: Vec<LossRow>,
    /// More rows matched than listed.
    pub truncated: bool,
}

fn check(q: &LossQuery) -> Result<(), AppError> {
    if q.kind == LossKind::Scrap && (q.reason.is_some() || q.category.is_some()) {
        return Err(AppError::bad_request(
            "reason and category filter stops (kind=down or planned), not scrap",
        ));
    }
    if q.limit.is_some_and(|l| l == 0 || l > MAX_ROWS) {
        return Err(AppError::bad_request(format!(
            "limit: expected 1 to {MAX_ROWS} rows"
        )));
    }
    for (name, value) in [
        ("plant", &Some(q.plant.clone())),
        ("line", &q.line),
        ("edge_id", &q.edge_id),
        ("station", &q.station),
    ] {
        if let Some(v) = value
            && !v.is_empty()
        {
            protocol::bounds::check_id(name, v)
                .map_err(|e| AppError::bad_request(e.to_string()))?;
        }
    }
    for (name, value) in [
        ("reason", &q.reason),
        ("category", &q.category),
        ("shift", &q.shift),
        ("work_order", &q.work_order),
        ("item", &q.item),
    ] {
        if let Some(v) = value
            && !v.is_empty()
        {
            protocol::bounds::check_text(name, v)
                .map_err(|e| AppError::bad_request(e.to_string()))?;
        }
    }
    Ok(())
}

/// A row ordered by when it began, then where: the order rows are listed in.
struct ByTime(LossRow);

impl ByTime {
    fn key(&self) -> (DateTime<Utc>, &str, &str, DateTime<Utc>) {
        (
            self.0.from,
            &self.0.edge_id,
            &self.0.station,
            self.0.started,
        )
    }
}

impl PartialEq for ByTime {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ByTime {}

impl PartialOrd for ByTime {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByTime {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// The rows of `q` as of `now`, its plant known and visible to the caller.
pub async fn loss_report(
    state: &AppState,
    q: &LossQuery,
    now: DateTime<Utc>,
) -> Result<LossReport, AppError> {
    check(q)?;
    let oee_q = OeeQuery {
        plant: q.plant.clone(),
        line: q.line.clone(),
        edge_id: q.edge_id.clone(),
        station: q.station.clone(),
        from: q.from,
        to: q.to,
        by: By::Total,
    };
    let scope = scope(state, &oee_q, now).await?;
    let planned = |code: &str| scope.planned(code);
    let (from, to, runs) = (scope.from, scope.to, &scope.runs);
    let end = to.min(now);
    let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let limit = q.limit.unwrap_or(DEFAULT_ROWS);
    // The first `limit` rows by time (a heap of the latest kept on top), and the sums of all
    // matched: a month of a plant's scrap is counted without being held.
    let mut first_rows: BinaryHeap<ByTime> = BinaryHeap::with_capacity(limit.saturating_add(1));
    let (mut total, mut matched) = (0i64, 0usize);
    let mut items: HashMap<String, String> = HashMap::new();
    if let (Some(first_run), Some(last_run)) = (runs.first(), runs.last()) {
        let first = first_run.start.min(from);
        let last = last_run.end.min(end).max(first);
        let bare_runs: Vec<ShiftRun> = runs
            .iter()
            .map(|r| ShiftRun {
                breaks: Vec::new(),
                ..r.clone()
            })
            .collect();
        for s in &scope.stations {
            // Only the stops: the rest of the station's time is neither a stop nor planned
            // down time, so the walk gives the same stops and the same planned time without it.
            let spans = state
                .store()
                .station_stops(s.edge_id.clone(), s.station.clone(), first, last)
                .await?;
            // Scrap is listed minute by minute: only the minutes with scrap are read (the
            // spans say which are in PQ). Stops need the counts only for their order, by the
            // hour, read as the OEE report reads them.
            let counts = match q.kind {
                LossKind::Scrap => {
                    state
                        .store()
                        .station_scrap(s.edge_id.clone(), s.station.clone(), first, last)
                        .await?
                }
                LossKind::Down | LossKind::Planned => {
                    // A stop's order is summed by the clock hour over the whole run, breaks
                    // and planned stops too: only an hour a run's start or end cuts must be
                    // read by the minute for each run to get the counts OEE gives it.
                    let fine = fine_hours(first, last, &bare_runs, &[], now, &|_| false);
                    state
                        .store()
                        .station_counts(s.edge_id.clone(), s.station.clone(), first, last, fine)
                        .await?
                }
            };
            let seqs: HashMap<DateTime<Utc>, u64> =
                spans.iter().map(|sp| (sp.from, sp.seq)).collect();
            let mut history = Prepared::new(&StationHistory { spans, counts }, now);
            history.first_state = Some(
                state
                    .store()
                    .station_first_state(s.edge_id.clone(), s.station.clone())
                    .await?,
            );
            let mut found: Vec<LossRow> = Vec::new();
            for run in runs {
                if !same(&q.shift, &run.shift) {
                    continue;
                }
                let (_, details) = details_of(&history, run, from, to, now, &planned);
                let row = |started, from, to| LossRow {
                    edge_id: s.edge_id.clone(),
                    station: s.station.clone(),
                    line: s.line.clone(),
                    shift: run.shift.clone(),
                    shift_date: run.date,
                    started,
                    from,
                    to,
                    down_ms: 0,
                    scrap: 0,
                    reason: String::new(),
                    category: String::new(),
                    seq: None,
                    work_order: String::new(),
                    item: String::new(),
                };
                match q.kind {
                    LossKind::Down | LossKind::Planned => {
                        let planned_asked = q.kind == LossKind::Planned;
                        for stop in details.stops {
                            let category = scope.category(&stop.reason);
                            if stop.planned != planned_asked
                                || !same(&q.reason, &stop.reason)
                                || !same(&q.category, &category)
                                || !same(&q.work_order, &stop.work_order)
                            {
                                continue;
                            }
                            found.push(LossRow {
                                down_ms: stop.down_ms,
                                category,
                                reason: stop.reason,
                                seq: seqs.get(&stop.started).copied(),
                                work_order: stop.work_order,
                                ..row(stop.started, stop.from, stop.to)
                            });
                        }
                    }
                    LossKind::Scrap => {
                        for c in details.scrap {
                            if !same(&q.work_order, &c.work_order) {
                                continue;
                            }
                            let minute_end = c.minute + chrono::Duration::minutes(1);
                            found.push(LossRow {
                                scrap: c.scrap,
                                work_order: c.work_order,
                                ..row(c.minute, c.minute, minute_end)
                            });
                        }
                    }
                }
            }
            // The items of the orders this station named that are not known yet, in one
            // query (an order central does not know has none).
            let new: BTreeMap<String, i64> = found
                .iter()
                .filter(|r| !r.work_order.is_empty() && !items.contains_key(&r.work_order))
                .map(|r| (r.work_order.clone(), 0))
                .collect();
            let mut known = order_items(state, [&new]).await?;
            for order in new.into_keys() {
                let item = known.remove(&order).unwrap_or_default();
                items.insert(order, item);
            }
            for mut r in found {
                if let Some(item) = items.get(&r.work_order) {
                    r.item = item.clone();
                }
                if !same(&q.item, &r.item) {
                    continue;
                }
                matched += 1;
                let n = match q.kind {
                    LossKind::Scrap => i64::try_from(r.scrap).unwrap_or(i64::MAX),
                    LossKind::Down | LossKind::Planned => r.down_ms,
                };
                total = total.saturating_add(n);
                first_rows.push(ByTime(r));
                if first_rows.len() > limit {
                    first_rows.pop();
                }
            }
        }
    }
    let found: Vec<LossRow> = first_rows
        .into_sorted_vec()
        .into_iter()
        .map(|r| r.0)
        .collect();
    Ok(LossReport {
        plant: q.plant.clone(),
        time_zone: scope.tz.name().to_owned(),
        from,
        to,
        kind: q.kind,
        total,
        matched,
        truncated: matched > found.len(),
        rows: found,
    })
}

async fn visible_report(
    state: &AppState,
    p: &Principal,
    q: &LossQuery,
) -> Result<LossReport, AppError> {
    if !p.read.contains(&q.plant) {
        return Err(AppError::not_found(format!("no plant {:?}", q.plant)));
    }
    known_plant(state, &q.plant).await?;
    loss_report(state, q, Utc::now()).await
}

/// `GET /api/v1/floor/losses`: the stops or scrap behind a loss figure.
async fn losses(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<LossQuery>,
) -> Result<axum::Json<LossReport>, AppError> {
    Ok(axum::Json(visible_report(&state, &p, &q).await?))
}

/// The columns of `GET /api/v1/floor/losses.csv`.
const CSV_COLUMNS: [&str; 16] = [
    "kind",
    "line",
    "edge_id",
    "station",
    "shift_date",
    "shift",
    "started",
    "from",
    "to",
    "down_s",
    "scrap",
    "reason",
    "category",
    "seq",
    "work_order",
    "item",
];

/// `GET /api/v1/floor/losses.csv`: the same rows as CSV (all matched, up to [`MAX_ROWS`]).
async fn losses_csv(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(mut q): ApiQuery<LossQuery>,
) -> Result<axum::response::Response, AppError> {
    q.limit = Some(q.limit.unwrap_or(MAX_ROWS));
    let report = visible_report(&state, &p, &q).await?;
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let rows = report
        .rows
        .into_iter()
        .map(|r| {
            vec![
                report.kind.name().to_owned(),
                r.line.unwrap_or_default(),
                r.edge_id,
                r.station,
                r.shift_date.to_string(),
                r.shift,
                at(r.started),
                at(r.from),
                at(r.to),
                format!("{:.3}", r.down_ms as f64 / 1000.0),
                r.scrap.to_string(),
                r.reason,
                r.category,
                r.seq.map(|s| s.to_string()).unwrap_or_default(),
                r.work_order,
                r.item,
            ]
        })
        .collect();
    csv_attachment("losses.csv", &CSV_COLUMNS, rows)
}

pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let q = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}});
    let parameters = json!([
        {"name": "plant", "in": "query", "required": true, "schema": {"type": "string"}},
        q("line", "one line"), q("edge_id", "one edge's stations"), q("station", "one station (with edge_id)"),
        q("from", "RFC 3339; as GET /api/v1/floor/oee"), q("to", "RFC 3339; as GET /api/v1/floor/oee"),
        {"name": "kind", "in": "query", "required": false, "schema": {"type": "string", "enum": ["down", "planned", "scrap"], "default": "down"}},
        q("reason", "stops with this reason code (empty: stops without a reason)"),
        q("category", "stops whose reason is of this category (`unclassified` for codes not in the plant's list)"),
        q("shift", "the shift's name"), q("work_order", "the order it counts against (empty: none)"),
        q("item", "the item of that order (empty: none, or an order central does not know)"),
        {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "default": DEFAULT_ROWS}}
    ]);
    let paths = json!({
        "/api/v1/floor/losses": {"get": {"summary": "the stops or scrap behind a loss figure, one row each", "tags": ["floor"],
            "description": "The facts each Pareto of `GET /api/v1/floor/oee` sums, over the same period and stations: `kind=down` unplanned stops (ADOT), `planned` planned stops (breaks are the calendar's and not listed), `scrap` the counts with scrap in PQ, by the minute. A stop crossing a shift change is a row per shift with its part; breaks inside a stop are not down time. Each row: edge_id, station, line, shift and shift_date, started (when the state began; `seq` its event at `GET /api/v1/edges/{id}/events`), from and to (its part in the shift and period), down_ms or scrap, reason and category, work_order (for a stop: the order with the most parts counted in the clock hour it began, else the nearest hour of the shift with counts) and item. `total` (ms or parts) and `matched` count every row matched, so the total with a bar's key as filter equals the bar; `rows` are the first `limit`, in time order, and `truncated` says more matched.",
            "parameters": parameters,
            "responses": {"200": {"description": "{plant, time_zone, from, to, kind, total, matched, rows: [...], truncated}"}, "400": error, "401": error, "404": error}}},
        "/api/v1/floor/losses.csv": {"get": {"summary": "the stops or scrap behind a loss figure as CSV", "tags": ["floor"],
            "description": format!("The query of `GET /api/v1/floor/losses`, every row matched up to `limit` (default {MAX_ROWS}): kind, line, edge_id, station, shift_date, shift, started, from, to, down_s, scrap, reason, category, seq, work_order, item."),
            "parameters": parameters,
            "responses": {"200": {"description": "CSV with a header", "content": {"text/csv": {}}}, "400": error, "401": error, "404": error}}}
    });
    super::openapi::extend(document, &paths, &json!({}));
}
