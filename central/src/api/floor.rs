//! The floor for supervisors and head office: plants' shift calendars and stop reasons, the
//! plant board (every station's state, order, operator and edge health), and OEE by
//! ISO 22400-2 by shift, day, week or month with its loss tree, all from the projections
//! ingest keeps (`store/sql/floor.rs`) and computed by [`crate::mes`].
//!
//! Who may: `floor.read` for the figures of one's plants (a plant outside one's scope answers
//! 404, as records do), `floor.manage` to change a plant's shifts and reasons and to rebuild
//! the projections from the events.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::policy::{Principal, Routes, needs};
use crate::erp::delivery::Delivery;
use crate::mes::oee::{self, Figures};
use crate::mes::pareto::{ParetoRow, pareto};
use crate::mes::shifts::{OeeTargets, ShiftCalendar, ShiftCalendarSpec, ShiftRun};
use crate::people::roles::Permission;
use crate::people::users::PlantScope;
use crate::store::floor::{FloorStation, StationHistory, StopReason};
use crate::store::people::Record;
use axum::extract::State;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use protocol::MachineState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// At most this many stop reasons a plant: what a plan may carry.
pub const MAX_STOP_REASONS: usize = protocol::bounds::MAX_STOP_REASONS;

/// The longest period one OEE question covers.
pub const MAX_PERIOD_DAYS: i64 = 400;

pub fn routes() -> Routes {
    use Permission::{FloorManage, FloorRead};
    Routes::new()
        .get(
            "/api/v1/plants/{plant}/shifts",
            needs(FloorRead).on(Record::Plant, "plant"),
            get_shifts,
        )
        .put(
            "/api/v1/plants/{plant}/shifts",
            needs(FloorManage).on(Record::Plant, "plant"),
            put_shifts,
        )
        .get(
            "/api/v1/plants/{plant}/stop-reasons",
            needs(FloorRead).on(Record::Plant, "plant"),
            get_reasons,
        )
        .put(
            "/api/v1/plants/{plant}/stop-reasons",
            needs(FloorManage).on(Record::Plant, "plant"),
            put_reasons,
        )
        .get("/api/v1/floor/board", needs(FloorRead), board)
        .get("/api/v1/floor/board.csv", needs(FloorRead), board_csv)
        .get("/api/v1/floor/oee", needs(FloorRead), oee_figures)
        .get("/api/v1/floor/oee.csv", needs(FloorRead), oee_csv)
        .get(
            "/api/v1/floor/plants",
            needs(FloorRead),
            plants_side_by_side,
        )
        .get("/api/v1/floor/plants.csv", needs(FloorRead), plants_csv)
        .get("/api/v1/floor/live", needs(FloorRead), live)
        .get("/api/v1/floor/metrics", needs(FloorRead), floor_metrics)
        .get("/api/v1/floor/history", needs(FloorRead), station_history)
        .post("/api/v1/floor/rebuild", needs(FloorManage), rebuild)
}

/// The calendar of a plant that has none: one 24-hour shift every day, in UTC.
fn default_calendar() -> ShiftCalendarSpec {
    ShiftCalendarSpec::around_the_clock()
}

#[derive(Debug, Serialize)]
pub struct ShiftsView {
    pub plant: String,
    /// Whether the plant set it (else the default: one 24-hour shift a day, UTC).
    pub set: bool,
    #[serde(flatten)]
    pub calendar: ShiftCalendarSpec,
}

async fn plant_calendar(state: &AppState, plant: &str) -> Result<(bool, ShiftCalendar), AppError> {
    let stored = state.store().shift_calendar(plant.to_owned()).await?;
    let set = stored.is_some();
    let spec = match stored {
        Some(value) => serde_json::from_value(value)
            .map_err(|e| AppError::internal(format!("stored shift calendar: {e}")))?,
        None => default_calendar(),
    };
    let calendar = ShiftCalendar::new(&spec)
        .map_err(|p| AppError::internal(format!("stored shift calendar: {}", p.join("; "))))?;
    Ok((set, calendar))
}

/// A plant's time zone, from its shift calendar (UTC without one).
pub(crate) async fn plant_time_zone(
    state: &AppState,
    plant: &str,
) -> Result<chrono_tz::Tz, AppError> {
    Ok(plant_calendar(state, plant).await?.1.time_zone())
}

pub(crate) async fn known_plant(state: &AppState, plant: &str) -> Result<(), AppError> {
    state
        .store()
        .plant(plant.to_owned())
        .await?
        .map(|_| ())
        .ok_or_else(|| AppError::not_found(format!("no plant {plant:?}")))
}

async fn get_shifts(
    State(state): State<AppState>,
    ApiPath(plant): ApiPath<String>,
) -> Result<axum::Json<ShiftsView>, AppError> {
    known_plant(&state, &plant).await?;
    let (set, calendar) = plant_calendar(&state, &plant).await?;
    Ok(axum::Json(ShiftsView {
        plant,
        set,
        calendar: calendar.spec(),
    }))
}

async fn put_shifts(
    State(state): State<AppState>,
    ApiPath(plant): ApiPath<String>,
    ApiJson(spec): ApiJson<ShiftCalendarSpec>,
) -> Result<axum::Json<ShiftsView>, AppError> {
    known_plant(&state, &plant).await?;
    let calendar = ShiftCalendar::new(&spec).map_err(|p| AppError::bad_request(p.join("; ")))?;
    let spec = calendar.spec();
    let value = serde_json::to_value(&spec)
        .map_err(|e| AppError::internal(format!("shift calendar: {e}")))?;
    state
        .store()
        .put_shift_calendar(plant.clone(), value)
        .await?;
    Ok(axum::Json(ShiftsView {
        plant,
        set: true,
        calendar: spec,
    }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StopReasons {
    pub reasons: Vec<StopReason>,
}

async fn get_reasons(
    State(state): State<AppState>,
    ApiPath(plant): ApiPath<String>,
) -> Result<axum::Json<StopReasons>, AppError> {
    known_plant(&state, &plant).await?;
    let reasons = state.store().stop_reasons(plant).await?;
    Ok(axum::Json(StopReasons { reasons }))
}

/// Every problem of a reason list, each named by its place.
fn check_reasons(reasons: &[StopReason]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if reasons.len() > MAX_STOP_REASONS {
        problems.push(format!(
            "reasons: {} given; expected at most {MAX_STOP_REASONS}",
            reasons.len()
        ));
    }
    let mut seen = HashSet::new();
    for (i, r) in reasons.iter().enumerate() {
        // The code is what a PLC or the terminal sends as the reason: an id, as plans carry it.
        if let Err(v) = protocol::bounds::check_id(&format!("reasons[{i}].code"), &r.code) {
            problems.push(v.to_string());
        }
        for (field, value) in [
            ("name", &r.name),
            ("name_zh", &r.name_zh),
            ("category", &r.category),
        ] {
            if let Err(v) = protocol::bounds::check_text(&format!("reasons[{i}].{field}"), value) {
                problems.push(v.to_string());
            }
        }
        if r.name.trim().is_empty() {
            problems.push(format!(
                "reasons[{i}].name: is empty; expected the reason's name"
            ));
        }
        if r.category.trim().is_empty() {
            problems.push(format!(
                "reasons[{i}].category: is empty; expected a group such as mechanical or material"
            ));
        }
        if !seen.insert(r.code.as_str()) {
            problems.push(format!(
                "reasons[{i}].code: {:?} appears twice; expected each code once",
                r.code
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

async fn put_reasons(
    State(state): State<AppState>,
    ApiPath(plant): ApiPath<String>,
    ApiJson(body): ApiJson<StopReasons>,
) -> Result<axum::Json<StopReasons>, AppError> {
    known_plant(&state, &plant).await?;
    check_reasons(&body.reasons).map_err(|p| AppError::bad_request(p.join("; ")))?;
    let changed = state.store().put_stop_reasons(plant, body.reasons).await?;
    for plan in &changed.plans {
        state.notify_plan(&plan.edge_id, plan.version);
    }
    Ok(axum::Json(StopReasons {
        reasons: changed.value,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardQuery {
    /// One plant; every plant one may see when absent.
    #[serde(default)]
    pub plant: Option<String>,
}

/// A station on the board.
#[derive(Debug, Serialize)]
pub struct BoardStation {
    #[serde(flatten)]
    pub station: FloorStation,
    /// The stop reason's name in English and Chinese, when the plant's list has the code.
    pub reason_name: Option<String>,
    pub reason_name_zh: Option<String>,
    /// How long it has been in its state, in seconds.
    pub for_s: Option<i64>,
    /// The current shift's figures so far, when the plant is in a shift.
    pub shift: Option<FigureView>,
}

#[derive(Debug, Serialize)]
pub struct Board {
    pub generated_at: DateTime<Utc>,
    pub stations: Vec<BoardStation>,
    /// Open SPC alarms of the plants shown, newest first, until acknowledged
    /// (`api::spc`).
    pub alarms: Vec<crate::store::spc::SpcAlarm>,
}

fn visible(scope: &PlantScope, asked: Option<&str>, plant: &str) -> bool {
    scope.contains(plant) && asked.is_none_or(|a| a == plant)
}

async fn board(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<BoardQuery>,
) -> Result<axum::Json<Board>, AppError> {
    if let Some(plant) = &q.plant
        && !p.read.contains(plant)
    {
        return Err(AppError::not_found(format!("no plant {plant:?}")));
    }
    Ok(axum::Json(
        board_of(&state, &p.read, q.plant.as_deref(), Utc::now()).await?,
    ))
}

/// The board as of `now` for the plants of `scope` (one of them when `plant` is given); the
/// pages render the same.
pub async fn board_of(
    state: &AppState,
    scope: &PlantScope,
    plant: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Board, AppError> {
    let mut stations = state.store().floor_stations().await?;
    stations.retain(|s| visible(scope, plant, &s.plant));
    // A shift that starts on a holiday does not run, on the board as in OEE.
    let holidays: HashSet<NaiveDate> = if stations.is_empty() {
        HashSet::new()
    } else {
        state
            .store()
            .calendar()
            .await?
            .holidays
            .into_iter()
            .collect()
    };
    let mut reasons: BTreeMap<String, BTreeMap<String, StopReason>> = BTreeMap::new();
    let mut calendars: BTreeMap<String, ShiftCalendar> = BTreeMap::new();
    for s in &stations {
        if !reasons.contains_key(&s.plant) {
            let list = state.store().stop_reasons(s.plant.clone()).await?;
            reasons.insert(
                s.plant.clone(),
                list.into_iter().map(|r| (r.code.clone(), r)).collect(),
            );
            calendars.insert(s.plant.clone(), plant_calendar(state, &s.plant).await?.1);
        }
    }
    let mut out = Vec::with_capacity(stations.len());
    for s in stations {
        let plant_reasons = reasons.get(&s.plant);
        let reason = s
            .reason
            .as_ref()
            .and_then(|code| plant_reasons.and_then(|r| r.get(code)));
        let shift = match calendars.get(&s.plant) {
            Some(calendar) => {
                let planned = |code: &str| {
                    plant_reasons
                        .and_then(|r| r.get(code))
                        .is_some_and(|r| r.planned)
                };
                current_shift_figures(state, (calendar, &holidays), &s, now, planned).await?
            }
            None => None,
        };
        out.push(BoardStation {
            reason_name: reason.map(|r| r.name.clone()),
            reason_name_zh: reason.map(|r| r.name_zh.clone()),
            for_s: s.since.map(|since| (now - since).num_seconds().max(0)),
            shift,
            station: s,
        });
    }
    let alarms = super::spc::visible_alarms(state, scope, plant, true).await?;
    Ok(Board {
        generated_at: now,
        stations: out,
        alarms,
    })
}

async fn current_shift_figures(
    state: &AppState,
    (calendar, holidays): (&ShiftCalendar, &HashSet<NaiveDate>),
    s: &FloorStation,
    now: DateTime<Utc>,
    planned: impl Fn(&str) -> bool,
) -> Result<Option<FigureView>, AppError> {
    let runs = calendar
        .runs(now - Duration::days(1), now + Duration::seconds(1), |d| {
            holidays.contains(&d)
        })
        .map_err(AppError::internal)?;
    let Some(run) = runs.iter().rev().find(|r| r.start <= now && now < r.end) else {
        return Ok(None);
    };
    // The hours of the shift so far by the hour, but where a boundary (a break, a planned
    // stop, the shift's start, now) cuts one: the same figures as by the minute, and a
    // board late in a shift reads no more rows than one early in it.
    let spans = state
        .store()
        .station_spans(s.edge_id.clone(), s.station.clone(), run.start, now)
        .await?;
    let fine = fine_hours(
        run.start,
        now,
        std::slice::from_ref(run),
        &spans,
        now,
        &planned,
    );
    let counts = state
        .store()
        .station_counts(s.edge_id.clone(), s.station.clone(), run.start, now, fine)
        .await?;
    let history = StationHistory { spans, counts };
    let figures = figures_of(
        &Prepared::new(&history, now),
        run,
        run.start,
        now,
        now,
        &planned,
    );
    Ok(Some(FigureView::new(figures)))
}

/// A label value of the OpenMetrics text: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The board as Prometheus gauges (OpenMetrics text), for a plant's own dashboards: each
/// station's current shift OEE and its factors, its state (one gauge a state, 1 for the one
/// it is in) and how long it has been in it. Scraped with a token that has `floor.read`
/// (Prometheus' `authorization` in the scrape config); the plants of that token's scope.
async fn floor_metrics(
    State(state): State<AppState>,
    p: Principal,
) -> Result<impl axum::response::IntoResponse, AppError> {
    use std::fmt::Write;
    let board = board_of(&state, &p.read, None, Utc::now()).await?;
    let mut out = String::new();
    type Gauge = fn(&BoardStation) -> Option<f64>;
    let gauges: [(&str, &str, Gauge); 5] = [
        (
            "mes_floor_oee",
            "OEE of the current shift so far (ISO 22400-2), 0 to 1",
            |s| s.shift.as_ref().and_then(|f| f.oee),
        ),
        (
            "mes_floor_availability",
            "availability APT/PBT of the current shift so far",
            |s| s.shift.as_ref().and_then(|f| f.availability),
        ),
        (
            "mes_floor_effectiveness",
            "effectiveness PRI x PQ / APT of the current shift so far",
            |s| s.shift.as_ref().and_then(|f| f.effectiveness),
        ),
        (
            "mes_floor_quality",
            "quality GQ/PQ of the current shift so far",
            |s| s.shift.as_ref().and_then(|f| f.quality),
        ),
        (
            "mes_floor_state_seconds",
            "seconds the station has been in its state",
            |s| s.for_s.map(|v| v as f64),
        ),
    ];
    let labels = |s: &BoardStation| {
        format!(
            "plant=\"{}\",line=\"{}\",edge_id=\"{}\",station=\"{}\"",
            label(&s.station.plant),
            label(s.station.line.as_deref().unwrap_or_default()),
            label(&s.station.edge_id),
            label(&s.station.station)
        )
    };
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# TYPE {name} gauge\n# HELP {name} {help}");
        for s in &board.stations {
            if let Some(v) = value(s) {
                let _ = writeln!(out, "{name}{{{}}} {v}", labels(s));
            }
        }
    }
    let _ = writeln!(
        out,
        "# TYPE mes_floor_state gauge\n# HELP mes_floor_state 1 for the state the station is in"
    );
    for s in &board.stations {
        let now = state_key(s.station.state);
        for key in ["running", "idle", "down", "setup", "off", "unknown"] {
            let _ = writeln!(
                out,
                "mes_floor_state{{{},state=\"{key}\"}} {}",
                labels(s),
                u8::from(key == now)
            );
        }
    }
    out.push_str("# EOF\n");
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    ))
}

/// The figures of shift runs that have ended, per station, so that a month of OEE reads and
/// works out only the runs still open (or changed since). A figure stands until a batch
/// changes the station's edge from a moment before the run's end (a late count, a stop's
/// reason given afterwards): every instance hears of it, from its own ingest or from the
/// database's change feed (`StoreChange::Floor { since }`), and drops the runs it touches.
/// A report only keeps what it worked out if no change to that edge came meanwhile (the
/// edge's generation is the same), and an entry is kept at most [`RUN_CACHE_TTL`], which
/// bounds what a change the feed cannot see (a routing's ideal cycle time changed at another
/// instance) can leave behind.
#[derive(Default)]
pub struct RunCache(std::sync::Mutex<RunCacheInner>);

#[derive(Default)]
struct RunCacheInner {
    /// By edge, so that a batch of one edge looks at that edge's runs only.
    edges: HashMap<String, EdgeRuns>,
    /// Counts `clear` calls, which concern every edge.
    epoch: u64,
}

#[derive(Default)]
struct EdgeRuns {
    /// Counts the changes heard, to tell a report that raced one.
    generation: u64,
    runs: HashMap<RunKey, (Figures, std::time::Instant)>,
}

impl RunCacheInner {
    fn generation(&self, edge_id: &str) -> (u64, u64) {
        (
            self.epoch,
            self.edges.get(edge_id).map_or(0, |e| e.generation),
        )
    }

    fn len(&self) -> usize {
        self.edges.values().map(|e| e.runs.len()).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RunKey {
    edge_id: String,
    station: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// What else the figures depend on: the plant's planned stop reasons and its calendar.
    context: u64,
}

/// Runs kept at most; past it the cache starts again (a plant of 100 stations with three
/// shifts a day fills 27,000 in three months).
const MAX_CACHED_RUNS: usize = 200_000;

/// How long a run's figures are used without being worked out again.
const RUN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(600);

impl RunCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, RunCacheInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a report notes before it reads an edge's history: given back to [`RunCache::put`].
    fn generation(&self, edge_id: &str) -> (u64, u64) {
        self.lock().generation(edge_id)
    }

    fn get(&self, key: &RunKey) -> Option<Figures> {
        let inner = self.lock();
        inner
            .edges
            .get(&key.edge_id)?
            .runs
            .get(key)
            .filter(|(_, at)| at.elapsed() < RUN_CACHE_TTL)
            .map(|(f, _)| f.clone())
    }

    /// Keeps the figures worked out from a history read at `generation`, unless a change came
    /// since.
    fn put(&self, generation: (u64, u64), found: Vec<(RunKey, Figures)>) {
        let mut inner = self.lock();
        let Some(edge_id) = found.first().map(|(k, _)| k.edge_id.clone()) else {
            return;
        };
        if inner.generation(&edge_id) != generation {
            return;
        }
        if inner.len().saturating_add(found.len()) > MAX_CACHED_RUNS {
            for edge in inner.edges.values_mut() {
                edge.runs.clear();
            }
        }
        let at = std::time::Instant::now();
        let runs = &mut inner.edges.entry(edge_id).or_default().runs;
        for (key, figures) in found {
            runs.insert(key, (figures, at));
        }
    }

    /// A batch changed `edge_id`'s floor from `since` on (`None`: from any time).
    pub fn changed(&self, edge_id: &str, since: Option<DateTime<Utc>>) {
        let mut inner = self.lock();
        let edge = inner.edges.entry(edge_id.to_owned()).or_default();
        edge.generation = edge.generation.wrapping_add(1);
        edge.runs
            .retain(|k, _| since.is_some_and(|since| k.end <= since));
    }

    /// Forgets everything (a rebuild, changes missed, master data changed here).
    pub fn clear(&self) {
        let mut inner = self.lock();
        for edge in inner.edges.values_mut() {
            edge.runs.clear();
        }
        inner.epoch = inner.epoch.wrapping_add(1);
    }

    /// How many runs are kept (for tests and the bench).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The boards the live feed sends, one per (plants the page may see, plant asked): the pages of
/// one scope share one computation of the board per change instead of one each.
#[derive(Default)]
pub struct BoardCache(
    std::sync::Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<Option<CachedBoard>>>>>,
);

pub struct CachedBoard {
    generation: u64,
    at: std::time::Instant,
    json: std::sync::Arc<str>,
}

/// Scopes kept at most; past it the cache starts again (a scope is a set of plants).
const MAX_CACHED_BOARDS: usize = 1024;

/// A board younger than this is sent again as it is when nothing changed meanwhile.
const BOARD_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// The board's JSON for `scope` and `plant` as of floor change `generation`: computed by the
/// first page that asks, the others of the same scope wait for it and send the same text.
async fn shared_board(
    state: &AppState,
    scope: &PlantScope,
    plant: Option<&str>,
    generation: u64,
) -> Result<std::sync::Arc<str>, AppError> {
    let key = format!("{scope:?}|{plant:?}");
    let slot = {
        let mut boards = state
            .floor_boards()
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if boards.len() >= MAX_CACHED_BOARDS && !boards.contains_key(&key) {
            boards.clear();
        }
        boards.entry(key).or_default().clone()
    };
    let mut cached = slot.lock().await;
    if let Some(c) = cached.as_ref()
        && c.generation == generation
        && c.at.elapsed() < BOARD_FRESH
    {
        return Ok(c.json.clone());
    }
    let board = board_of(state, scope, plant, Utc::now()).await?;
    let json: std::sync::Arc<str> = serde_json::to_string(&board)
        .map_err(|e| AppError::internal(format!("the board: {e}")))?
        .into();
    *cached = Some(CachedBoard {
        generation,
        at: std::time::Instant::now(),
        json: json.clone(),
    });
    Ok(json)
}

/// A live page hears at least this often, changed or not (durations and the shift move on).
const LIVE_REFRESH: std::time::Duration = std::time::Duration::from_secs(15);

/// Changes that come this close together are sent as one board.
const LIVE_COALESCE: std::time::Duration = std::time::Duration::from_millis(100);

/// The board as server-sent events: `event: board` with the board's JSON at once, then after
/// every batch that changed the floor (at this instance or another on the same database), at
/// most one per [`LIVE_COALESCE`], and every [`LIVE_REFRESH`]. The stream ends when central
/// shuts down; the browser's `EventSource` reconnects by itself (`retry: 1000`). A kiosk's
/// stream also ends, with `event: ended`, once its link is revoked: it looks again whenever
/// credentials may have changed (here or at another instance) and before every board, and
/// that look marks the session used ([`super::policy::kiosk_in_use`]), so a TV whose board is
/// open is never signed out by the kiosk idle timeout.
async fn live(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<BoardQuery>,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    AppError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    if let Some(plant) = &q.plant
        && !p.read.contains(plant)
    {
        return Err(AppError::not_found(format!("no plant {plant:?}")));
    }
    let scope = p.read.clone();
    let plant = q.plant.clone();
    let updates = state.floor_updates();
    let kiosk = match (&p.who, &p.session) {
        (super::policy::Who::Kiosk { .. }, Some(session)) => Some(session.hash),
        _ => None,
    };
    let credentials = state.auth_cache().subscribe();
    let stream = futures_util::stream::unfold(
        (state, updates, credentials, true, false),
        move |(state, mut updates, mut credentials, first, ended)| {
            let (scope, plant) = (scope.clone(), plant.clone());
            async move {
                if ended {
                    return None;
                }
                if !first {
                    tokio::select! {
                        changed = updates.changed() => {
                            if changed.is_err() {
                                return None;
                            }
                            tokio::time::sleep(LIVE_COALESCE).await;
                        }
                        Ok(()) = credentials.changed(), if kiosk.is_some() => {}
                        () = tokio::time::sleep(LIVE_REFRESH) => {}
                        () = state.shutting_down() => return None,
                    }
                }
                // Also what keeps the TV's session in use while its board is open.
                if let Some(hash) = kiosk
                    && matches!(super::policy::kiosk_in_use(&state, hash).await, Ok(None))
                {
                    let event = Event::default()
                        .event("ended")
                        .data("this kiosk session has ended");
                    return Some((Ok(event), (state, updates, credentials, false, true)));
                }
                let generation = *updates.borrow_and_update();
                let shared = shared_board(&state, &scope, plant.as_deref(), generation).await;
                let event = match shared {
                    Ok(json) => Event::default()
                        .event("board")
                        .retry(std::time::Duration::from_secs(1))
                        .data(&*json),
                    Err(e) => Event::default()
                        .event("problem")
                        .data(e.body().error.message),
                };
                Some((Ok(event), (state, updates, credentials, false, false)))
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The reports the live OEE and head office pages send, one per question (plants seen, plant,
/// line, station, period): the pages asking the same question share one computation per
/// change, as the board's do ([`BoardCache`]), and one question is worked out at most once
/// per [`REPORT_MIN_INTERVAL`] however often the floor changes.
#[derive(Default)]
pub struct ReportCache(
    std::sync::Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<Option<CachedReport>>>>>,
);

pub struct CachedReport {
    generation: u64,
    at: tokio::time::Instant,
    value: std::sync::Arc<dyn std::any::Any + Send + Sync>,
}

/// Questions kept at most; past it the cache starts again.
const MAX_CACHED_REPORTS: usize = 1024;

/// A question is worked out again at most this often: changes closer together are one.
pub const REPORT_MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// The report of `key` as of floor change `generation`: worked out by `compute` for the first
/// page that asks, the others of the same key wait for it and get the same. A report of the
/// same generation is used until [`LIVE_REFRESH`] has passed (the figures of a period that
/// ends now move on with time); a newer generation waits until [`REPORT_MIN_INTERVAL`] has
/// passed since the last one was worked out, so a burst of batches costs one report.
pub async fn shared_report<T, F, Fut>(
    state: &AppState,
    key: String,
    generation: u64,
    compute: F,
) -> Result<std::sync::Arc<T>, AppError>
where
    T: std::any::Any + Send + Sync,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let slot = {
        let mut reports = state
            .floor_reports()
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if reports.len() >= MAX_CACHED_REPORTS && !reports.contains_key(&key) {
            reports.clear();
        }
        reports.entry(key).or_default().clone()
    };
    let mut cached = slot.lock().await;
    if let Some(c) = cached.as_ref() {
        let age = c.at.elapsed();
        if c.generation == generation && age < LIVE_REFRESH {
            if let Ok(value) = c.value.clone().downcast::<T>() {
                return Ok(value);
            }
        } else if age < REPORT_MIN_INTERVAL {
            // Changes closer together than the interval are one: wait for its end, holding
            // the slot, so the pages that asked meanwhile get the next report too.
            tokio::time::sleep_until(c.at + REPORT_MIN_INTERVAL).await;
        }
    }
    let value = std::sync::Arc::new(compute().await?);
    *cached = Some(CachedReport {
        generation,
        at: tokio::time::Instant::now(),
        value: value.clone(),
    });
    Ok(value)
}

/// A live page: `event: page` with what `render` makes of the floor as of a change (the
/// fragment of the page the script swaps in) at once, then after every batch that changed the
/// floor and every work order made or changed, at this instance or another on the same
/// database (at most one per [`LIVE_COALESCE`]), and every [`LIVE_REFRESH`]; `event: problem` with a message when it
/// cannot be made. The browser's `EventSource` reconnects by itself after a restart
/// (`retry: 1000`). `render` gets the floor's generation, to share the report with
/// [`shared_report`].
pub fn live_page<F, Fut>(
    state: AppState,
    render: F,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
>
where
    F: Fn(AppState, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<String, AppError>> + Send,
{
    live_feed(state, render, Resend::Always)
}

/// [`live_page`] for a page most floor changes leave as it was (SPC's: a count or a stop
/// changes no chart): it wakes, is coalesced and refreshed the same way, but sends the part
/// only when it differs from the last one sent, so the page is not swapped (its scrolled
/// tables reset, its charts drawn again) for nothing. The first part is always sent, after a
/// reconnection too.
pub fn live_page_of_changes<F, Fut>(
    state: AppState,
    render: F,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
>
where
    F: Fn(AppState, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<String, AppError>> + Send,
{
    live_feed(state, render, Resend::WhenChanged)
}

/// Whether a live page sends a part that is the same as the last one it sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resend {
    Always,
    WhenChanged,
}

fn live_feed<F, Fut>(
    state: AppState,
    render: F,
    resend: Resend,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
>
where
    F: Fn(AppState, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<String, AppError>> + Send,
{
    use axum::response::sse::{Event, KeepAlive, Sse};
    let updates = state.floor_updates();
    // The state: the last part sent (none yet: the first is sent whatever it is).
    let stream = futures_util::stream::unfold(
        (state, updates, None::<String>),
        move |(state, mut updates, mut last)| {
            let render = render.clone();
            async move {
                let mut first = last.is_none();
                loop {
                    if !first {
                        tokio::select! {
                            changed = updates.changed() => {
                                if changed.is_err() {
                                    return None;
                                }
                                tokio::time::sleep(LIVE_COALESCE).await;
                            }
                            () = tokio::time::sleep(LIVE_REFRESH) => {}
                            () = state.shutting_down() => return None,
                        }
                    }
                    first = false;
                    let generation = *updates.borrow_and_update();
                    let event = match render(state.clone(), generation).await {
                        Ok(html) => {
                            let html = html.replace('\r', "");
                            if resend == Resend::WhenChanged && last.as_deref() == Some(&html) {
                                continue;
                            }
                            let event = Event::default()
                                .event("page")
                                .retry(std::time::Duration::from_secs(1))
                                .data(&html);
                            // (What `Always` sends is not compared: not kept.)
                            last = Some(match resend {
                                Resend::WhenChanged => html,
                                Resend::Always => String::new(),
                            });
                            event
                        }
                        Err(e) => {
                            // The next part is sent whatever it is.
                            last = Some(String::new());
                            Event::default()
                                .event("problem")
                                .data(e.body().error.message)
                        }
                    };
                    return Some((Ok(event), (state, updates, last)));
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The hours in which a count's minute matters (whole hours, merged, in order): those where
/// the period, a shift, a break or a planned stop begins or ends, or the station's first
/// state. Everywhere else a count is
/// on the same side of every boundary wherever it fell in its hour, so the hour's sum
/// (`floor_counts_hour`) gives the same figures as its minutes and a month reads hours.
pub(crate) fn fine_hours(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    runs: &[ShiftRun],
    spans: &[crate::store::floor::StoredSpan],
    now: DateTime<Utc>,
    planned: &impl Fn(&str) -> bool,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    use chrono::DurationRound;
    let mut bounds = vec![from, to];
    // Where the station's first state starts its planned time (`figures_of`).
    bounds.extend(spans.first().map(|s| s.from));
    for run in runs {
        bounds.extend([run.start, run.end]);
        bounds.extend(run.breaks.iter().flat_map(|b| [b.from, b.to]));
    }
    for s in spans {
        if s.state == MachineState::Down && s.reason.as_deref().is_some_and(planned) {
            bounds.extend([s.from, s.to.unwrap_or(now)]);
        }
    }
    let hour = Duration::hours(1);
    let mut hours: Vec<DateTime<Utc>> = bounds
        .into_iter()
        .filter_map(|b| {
            let start = b.duration_trunc(hour).ok()?;
            (start != b).then_some(start)
        })
        .collect();
    hours.sort();
    hours.dedup();
    let mut ranges: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for h in hours {
        match ranges.last_mut() {
            Some(last) if last.1 == h => last.1 = h + hour,
            _ => ranges.push((h, h + hour)),
        }
    }
    ranges
}

/// A station's history as `mes::oee` takes it, in time order (spans do not overlap), so
/// each shift run is handed only its own part ([`figures_of`]).
pub(crate) struct Prepared {
    spans: Vec<oee::StateSpan>,
    counts: Vec<oee::Count>,
    /// When the station reported its first state (`Some(None)`: never), for a history read
    /// over part of a period only; `None`: take it from the spans, read from the period's
    /// start.
    pub first_state: Option<Option<DateTime<Utc>>>,
}

impl Prepared {
    pub fn new(history: &StationHistory, now: DateTime<Utc>) -> Prepared {
        let spans = history
            .spans
            .iter()
            .map(|s| oee::StateSpan {
                from: s.from,
                to: s.to.unwrap_or(now).max(s.from),
                state: s.state,
                reason: s.reason.clone(),
            })
            .collect();
        let counts = history
            .counts
            .iter()
            .map(|c| oee::Count {
                minute: c.minute,
                good: c.good,
                scrap: c.scrap,
                ideal_cycle_ms: c.ideal_cycle_ms,
                work_order: c.work_order.clone(),
            })
            .collect();
        Prepared {
            spans,
            counts,
            first_state: None,
        }
    }
}

/// The figures of one station over one shift run clipped to `[from, to)` and to `now`: the
/// spans and counts of the run found by binary search, so a month of shifts reads each once.
fn figures_of(
    history: &Prepared,
    run: &ShiftRun,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    planned: &impl Fn(&str) -> bool,
) -> Figures {
    match run_part(history, run, from, to, now) {
        Some((run, spans, counts)) => {
            oee::figures(&oee::Window::of_run(&run), spans, counts, planned)
        }
        None => Figures::default(),
    }
}

/// [`figures_of`] with the stops and scrap counts behind them.
pub(crate) fn details_of(
    history: &Prepared,
    run: &ShiftRun,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    planned: &impl Fn(&str) -> bool,
) -> (Figures, oee::Details) {
    match run_part(history, run, from, to, now) {
        Some((run, spans, counts)) => {
            oee::figures_and_details(&oee::Window::of_run(&run), spans, counts, planned)
        }
        None => Default::default(),
    }
}

/// A shift run clipped to `[from, to)`, to `now` and to the station's first state, with the
/// spans and counts inside it; `None` when nothing of it is left.
fn run_part<'h>(
    history: &'h Prepared,
    run: &ShiftRun,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(ShiftRun, &'h [oee::StateSpan], &'h [oee::Count])> {
    // Spans follow one another without gaps, so a first span that starts inside the period is
    // the station's first state ever: before it the station was not connected, and that time
    // is not planned for it. A station that never reported a state counts its planned time
    // as unknown.
    let first_state = match history.first_state {
        Some(known) => known,
        None => history.spans.first().map(|s| s.from),
    };
    let connected = first_state.map_or(from, |t| t.max(from));
    let run = run.clipped(connected, to.min(now))?;
    let spans = &history.spans;
    let first = spans.partition_point(|s| s.to <= run.start);
    let last = spans.partition_point(|s| s.from < run.end).max(first);
    let counts = &history.counts;
    let c0 = counts.partition_point(|c| c.minute < run.start);
    let c1 = counts.partition_point(|c| c.minute < run.end).max(c0);
    let spans = spans.get(first..last).unwrap_or_default();
    let counts = counts.get(c0..c1).unwrap_or_default();
    Some((run, spans, counts))
}

/// Figures with their ratios.
#[derive(Debug, Clone, Serialize)]
pub struct FigureView {
    #[serde(flatten)]
    pub figures: Figures,
    pub availability: Option<f64>,
    pub effectiveness: Option<f64>,
    pub quality: Option<f64>,
    pub oee: Option<f64>,
    pub speed_loss_ms: i64,
}

impl FigureView {
    pub fn new(figures: Figures) -> FigureView {
        FigureView {
            availability: figures.availability(),
            effectiveness: figures.effectiveness(),
            quality: figures.quality(),
            oee: figures.oee(),
            speed_loss_ms: figures.speed_loss_ms(),
            figures,
        }
    }
}

/// How the figures are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Shift,
    #[default]
    Day,
    Week,
    Month,
    Total,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OeeQuery {
    pub plant: String,
    #[serde(default)]
    pub line: Option<String>,
    #[serde(default)]
    pub edge_id: Option<String>,
    #[serde(default)]
    pub station: Option<String>,
    /// RFC 3339; the start of the plant's day six days ago when absent.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339; now when absent.
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub by: By,
}

#[derive(Debug, Serialize)]
pub struct Bucket {
    /// `2026-12-06 night` (shift, by the local date it starts), `2026-12-06`, `2026-W49`,
    /// `2026-12`, or `total`.
    pub key: String,
    /// The part of the period the bucket's shifts cover: what to ask for its figures alone.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: FigureView,
}

#[derive(Debug, Serialize)]
pub struct StationFigures {
    pub edge_id: String,
    pub station: String,
    pub line: Option<String>,
    pub work_center: Option<String>,
    #[serde(flatten)]
    pub figures: FigureView,
}

#[derive(Debug, Serialize)]
pub struct LineFigures {
    pub line: String,
    #[serde(flatten)]
    pub figures: FigureView,
}

/// The loss tree behind the figures.
#[derive(Debug, Serialize)]
pub struct Losses {
    /// Unplanned down time by reason code (ms), largest first, with the cumulative share.
    pub down_by_reason: Vec<ParetoRow>,
    /// Down time by the reason's category.
    pub down_by_category: Vec<ParetoRow>,
    pub planned_by_reason: Vec<ParetoRow>,
    pub setup_ms: i64,
    pub idle_ms: i64,
    pub off_ms: i64,
    pub unknown_ms: i64,
    /// APT - PRI x PQ.
    pub speed_loss_ms: i64,
    pub scrap: u64,
    /// Scrap by station (`edge/station`).
    pub scrap_by_station: Vec<ParetoRow>,
    /// Unplanned down time by shift (the calendar's shift names), ms.
    pub down_by_shift: Vec<ParetoRow>,
    /// Scrap by shift.
    pub scrap_by_shift: Vec<ParetoRow>,
    /// Scrap by the item of the work order it was counted on (`""`: counts that named no
    /// order, or an order central does not know).
    pub scrap_by_item: Vec<ParetoRow>,
    /// Unplanned down time by station (`edge/station`), ms.
    pub down_by_station: Vec<ParetoRow>,
    /// Unplanned down time by the item of the order the station was making when it stopped
    /// ([`crate::mes::oee`] says how), ms.
    pub down_by_item: Vec<ParetoRow>,
}

#[derive(Debug, Serialize)]
pub struct OeeReport {
    pub plant: String,
    pub time_zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub by: By,
    pub total: FigureView,
    /// The plant's targets (from its shift calendar), when it set them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<OeeTargets>,
    pub buckets: Vec<Bucket>,
    pub lines: Vec<LineFigures>,
    pub stations: Vec<StationFigures>,
    pub losses: Losses,
}

fn bucket_key(by: By, run: &ShiftRun) -> String {
    match by {
        By::Shift => format!("{} {}", run.date, run.shift),
        By::Day => run.date.to_string(),
        By::Week => {
            let w = run.date.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
        By::Month => format!("{}-{:02}", run.date.year(), run.date.month()),
        By::Total => "total".into(),
    }
}

async fn oee_figures(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<OeeQuery>,
) -> Result<axum::Json<OeeReport>, AppError> {
    if !p.read.contains(&q.plant) {
        return Err(AppError::not_found(format!("no plant {:?}", q.plant)));
    }
    known_plant(&state, &q.plant).await?;
    Ok(axum::Json(oee_report(&state, &q, Utc::now()).await?))
}

/// One plant's figures for head office: the last 7 and 30 days (each from the start of the
/// plant's day), with a day-by-day trend over the 30 and a week-by-week one over
/// [`TREND_WEEKS`] ISO weeks; the delivery of the work orders due in the 7 and 30 days
/// ([`crate::erp::delivery`] says how each figure is counted).
#[derive(Debug, Serialize)]
pub struct PlantFigures {
    pub plant: String,
    pub name: String,
    pub time_zone: String,
    pub stations: usize,
    /// The plant's local date as of `generated_at`: the orders of the 7 days are those due
    /// from `today` - 6 to `today`, of the 30 days from `today` - 29.
    pub today: NaiveDate,
    /// The 7 days' period: from the start of the plant's day six days ago to `generated_at`.
    pub week_from: DateTime<Utc>,
    /// The 30 days' period: from the start of the plant's day 29 days ago.
    pub month_from: DateTime<Utc>,
    pub week: FigureView,
    pub month: FigureView,
    /// Scrap / (good + scrap) of the 30 days.
    pub scrap_rate: Option<f64>,
    /// Unplanned down time of the 30 days, hours.
    pub down_hours: f64,
    /// OEE day by day over the 30 days (`key` the local date).
    pub trend: Vec<Bucket>,
    /// The last [`TREND_WEEKS`] ISO weeks, oldest first, this one (so far) last: OEE and the
    /// delivery of the orders due in each week.
    pub weeks: Vec<WeekFigures>,
    /// Work orders due in the 7 days (local dates, today the last).
    pub delivery_week: Delivery,
    /// Work orders due in the 30 days.
    pub delivery_month: Delivery,
    /// The plant's targets, when it set them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<OeeTargets>,
}

/// One ISO week of a plant's trend.
#[derive(Debug, Serialize)]
pub struct WeekFigures {
    /// `2026-W49`.
    pub key: String,
    /// Its Monday and Sunday, local dates.
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    #[serde(flatten)]
    pub figures: FigureView,
    /// The orders due in the week.
    pub delivery: Delivery,
}

/// ISO weeks in head office's weekly trend.
pub const TREND_WEEKS: i64 = 12;

#[derive(Debug, Serialize)]
pub struct PlantsReport {
    pub generated_at: DateTime<Utc>,
    pub plants: Vec<PlantFigures>,
}

/// Every plant one may see, side by side.
async fn plants_side_by_side(
    State(state): State<AppState>,
    p: Principal,
) -> Result<axum::Json<PlantsReport>, AppError> {
    Ok(axum::Json(
        plants_report(&state, &p.read, Utc::now()).await?,
    ))
}

/// A plant's periods as of `now`: its time zone, today's local date, and the start of the
/// local day `days` ago.
struct PlantDays {
    tz: chrono_tz::Tz,
    today: NaiveDate,
}

impl PlantDays {
    fn since(&self, days: i64) -> DateTime<Utc> {
        local_midnight(self.tz, self.today - Duration::days(days))
    }

    /// The Monday of the first week of the weekly trend.
    fn first_monday(&self) -> NaiveDate {
        let monday =
            self.today - Duration::days(i64::from(self.today.weekday().num_days_from_monday()));
        monday - Duration::weeks(TREND_WEEKS - 1)
    }

    /// The Sunday of this week.
    fn last_sunday(&self) -> NaiveDate {
        self.first_monday() + Duration::weeks(TREND_WEEKS) - Duration::days(1)
    }
}

/// The plants of `scope` side by side as of `now`; the head office page renders the same.
/// Three OEE reports a plant (7 days, 30 days by day, 12 weeks by week; runs that ended are
/// kept, [`RunCache`]) and one read of the work orders due in the 12 weeks for every plant.
pub async fn plants_report(
    state: &AppState,
    scope: &PlantScope,
    now: DateTime<Utc>,
) -> Result<PlantsReport, AppError> {
    use crate::erp::delivery::{DueOrder, delivery};
    use chrono::SubsecRound;
    // To the microsecond, as links carry it: the OEE page of a period asked with `to` =
    // `generated_at` shows the same figures.
    let now = now.trunc_subsecs(6);
    let mut visible = Vec::new();
    for plant in state.store().plants().await? {
        if !scope.contains(&plant.plant) {
            continue;
        }
        let (_, calendar) = plant_calendar(state, &plant.plant).await?;
        let tz = calendar.time_zone();
        let days = PlantDays {
            tz,
            today: now.with_timezone(&tz).date_naive(),
        };
        visible.push((plant, days));
    }
    // The orders due in any visible plant's 12 weeks, read once, by plant.
    let mut by_plant: HashMap<String, Vec<DueOrder>> = HashMap::new();
    let first = visible.iter().map(|(_, d)| d.first_monday()).min();
    let last = visible.iter().map(|(_, d)| d.last_sunday()).max();
    if let (Some(first), Some(last)) = (first, last) {
        let line_plants = state.store().line_plants().await?;
        for o in state.store().work_orders_due(first, last).await? {
            let plant = super::work_orders::plant_in(&line_plants, &o.line).to_owned();
            by_plant.entry(plant).or_default().push(DueOrder {
                qty: o.qty,
                due: o.due,
                state: o.state,
                good: o.good,
                completed_at: o.completed_at,
            });
        }
    }
    let mut plants = Vec::new();
    for (plant, days) in visible {
        let ask = |from: DateTime<Utc>, by: By| OeeQuery {
            plant: plant.plant.clone(),
            line: None,
            edge_id: None,
            station: None,
            from: Some(from),
            to: Some(now),
            by,
        };
        let (week_from, month_from) = (days.since(6), days.since(29));
        let week = oee_report(state, &ask(week_from, By::Total), now).await?;
        let month = oee_report(state, &ask(month_from, By::Day), now).await?;
        let first_monday = days.first_monday();
        let weekly = oee_report(
            state,
            &ask(local_midnight(days.tz, first_monday), By::Week),
            now,
        )
        .await?;
        let orders = by_plant.remove(&plant.plant).unwrap_or_default();
        let due_in = |from: NaiveDate, to: NaiveDate| {
            delivery(
                orders.iter().filter(|o| o.due >= from && o.due <= to),
                days.tz,
                days.today,
            )
        };
        let weeks = (0..TREND_WEEKS)
            .map(|i| {
                let monday = first_monday + Duration::weeks(i);
                let sunday = monday + Duration::days(6);
                let w = monday.iso_week();
                let key = format!("{}-W{:02}", w.year(), w.week());
                let figures = weekly.buckets.iter().find(|b| b.key == key).map_or_else(
                    || FigureView::new(Figures::default()),
                    |b| b.figures.clone(),
                );
                WeekFigures {
                    delivery: due_in(monday, sunday),
                    key,
                    first_day: monday,
                    last_day: sunday,
                    figures,
                }
            })
            .collect();
        let f = &month.total.figures;
        let made = f.gq.saturating_add(f.scrap);
        plants.push(PlantFigures {
            stations: month.stations.len(),
            scrap_rate: (made > 0).then(|| f.scrap as f64 / made as f64),
            down_hours: f.adot_ms as f64 / 3_600_000.0,
            today: days.today,
            week_from,
            month_from,
            week: week.total,
            targets: month.targets,
            trend: month.buckets,
            weeks,
            delivery_week: due_in(days.today - Duration::days(6), days.today),
            delivery_month: due_in(days.today - Duration::days(29), days.today),
            month: month.total,
            time_zone: month.time_zone,
            plant: plant.plant,
            name: plant.name,
        });
    }
    Ok(PlantsReport {
        generated_at: now,
        plants,
    })
}

/// The columns of `GET /api/v1/floor/oee.csv`.
const OEE_CSV_COLUMNS: [&str; 16] = [
    "table",
    "key",
    "oee",
    "availability",
    "effectiveness",
    "quality",
    "pot_ms",
    "pbt_ms",
    "apt_ms",
    "adot_ms",
    "setup_ms",
    "unknown_ms",
    "pq",
    "gq",
    "scrap",
    "ideal_ms",
];

fn csv_ratio(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_row(table: &str, key: &str, f: &FigureView) -> Vec<String> {
    let g = &f.figures;
    vec![
        table.to_owned(),
        key.to_owned(),
        csv_ratio(f.oee),
        csv_ratio(f.availability),
        csv_ratio(f.effectiveness),
        csv_ratio(f.quality),
        g.pot_ms.to_string(),
        g.pbt_ms.to_string(),
        g.apt_ms.to_string(),
        g.adot_ms.to_string(),
        g.setup_ms.to_string(),
        g.unknown_ms.to_string(),
        g.pq.to_string(),
        g.gq.to_string(),
        g.scrap.to_string(),
        g.ideal_ms.to_string(),
    ]
}

/// `GET /api/v1/floor/oee.csv`: the report's figures as one CSV document, a row per bucket,
/// line and station and one for the total (`table`: `bucket`, `line`, `station`, `total`);
/// ratios empty where the report has none.
async fn oee_csv(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<OeeQuery>,
) -> Result<axum::response::Response, AppError> {
    if !p.read.contains(&q.plant) {
        return Err(AppError::not_found(format!("no plant {:?}", q.plant)));
    }
    known_plant(&state, &q.plant).await?;
    let report = oee_report(&state, &q, Utc::now()).await?;
    let mut rows = vec![csv_row("total", "total", &report.total)];
    for b in &report.buckets {
        rows.push(csv_row("bucket", &b.key, &b.figures));
    }
    for l in &report.lines {
        rows.push(csv_row("line", &l.line, &l.figures));
    }
    for s in &report.stations {
        rows.push(csv_row(
            "station",
            &format!("{}/{}", s.edge_id, s.station),
            &s.figures,
        ));
    }
    csv_attachment("oee.csv", &OEE_CSV_COLUMNS, rows)
}

/// A CSV document (a header, then `rows`) as an attachment named `filename`.
pub(crate) fn csv_attachment(
    filename: &'static str,
    header: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<axum::response::Response, AppError> {
    use axum::http::HeaderValue;
    use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
    use axum::response::IntoResponse;
    let csv_error = |e: csv::Error| AppError::internal(format!("cannot write csv: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).map_err(csv_error)?;
    for row in rows {
        writer.write_record(row).map_err(csv_error)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| AppError::internal(format!("cannot write csv: {e}")))?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|e| AppError::internal(format!("cannot name the csv: {e}")))?;
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

fn csv_opt<T: ToString>(x: &Option<T>) -> String {
    x.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn csv_time(x: &Option<DateTime<Utc>>) -> String {
    x.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The columns of `GET /api/v1/floor/board.csv`.
const BOARD_CSV_COLUMNS: [&str; 24] = [
    "plant",
    "line",
    "work_center",
    "edge_id",
    "station",
    "state",
    "reason",
    "reason_name",
    "since",
    "for_s",
    "operator",
    "work_order",
    "operation",
    "item",
    "good",
    "scrap",
    "order_qty",
    "shift_oee",
    "shift_availability",
    "shift_effectiveness",
    "shift_quality",
    "last_contact",
    "backlog",
    "plan_version_applied",
];

/// `GET /api/v1/floor/board.csv`: the board's stations, one row each, as `GET
/// /api/v1/floor/board` answers them.
async fn board_csv(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<BoardQuery>,
) -> Result<axum::response::Response, AppError> {
    if let Some(plant) = &q.plant
        && !p.read.contains(plant)
    {
        return Err(AppError::not_found(format!("no plant {plant:?}")));
    }
    let board = board_of(&state, &p.read, q.plant.as_deref(), Utc::now()).await?;
    let rows = board
        .stations
        .iter()
        .map(|b| {
            let s = &b.station;
            let shift =
                |pick: fn(&FigureView) -> Option<f64>| csv_ratio(b.shift.as_ref().and_then(pick));
            vec![
                s.plant.clone(),
                csv_opt(&s.line),
                csv_opt(&s.work_center),
                s.edge_id.clone(),
                s.station.clone(),
                state_key(s.state).to_owned(),
                csv_opt(&s.reason),
                csv_opt(&b.reason_name),
                csv_time(&s.since),
                csv_opt(&b.for_s),
                csv_opt(&s.operator),
                csv_opt(&s.work_order),
                csv_opt(&s.operation),
                csv_opt(&s.item),
                s.good.to_string(),
                s.scrap.to_string(),
                csv_opt(&s.order_qty),
                shift(|f| f.oee),
                shift(|f| f.availability),
                shift(|f| f.effectiveness),
                shift(|f| f.quality),
                csv_time(&s.last_contact),
                csv_opt(&s.backlog),
                s.plan_version_applied.to_string(),
            ]
        })
        .collect();
    csv_attachment("board.csv", &BOARD_CSV_COLUMNS, rows)
}

/// The columns of `GET /api/v1/floor/plants.csv` (`table=plants`, the default).
const PLANTS_CSV_COLUMNS: [&str; 35] = [
    "plant",
    "name",
    "time_zone",
    "stations",
    "oee_7_days",
    "availability_7_days",
    "effectiveness_7_days",
    "quality_7_days",
    "oee_30_days",
    "availability_30_days",
    "effectiveness_30_days",
    "quality_30_days",
    "good_30_days",
    "scrap_30_days",
    "scrap_rate_30_days",
    "down_hours_30_days",
    "target_oee",
    "orders_due_7_days",
    "planned_qty_7_days",
    "good_qty_7_days",
    "output_vs_plan_7_days",
    "on_time_7_days",
    "late_7_days",
    "open_past_due_7_days",
    "not_yet_due_7_days",
    "on_time_rate_7_days",
    "orders_due_30_days",
    "planned_qty_30_days",
    "good_qty_30_days",
    "output_vs_plan_30_days",
    "on_time_30_days",
    "late_30_days",
    "open_past_due_30_days",
    "not_yet_due_30_days",
    "on_time_rate_30_days",
];

/// The delivery columns of a CSV row, in [`DELIVERY_CSV_COLUMNS`]' order.
fn delivery_csv(d: &Delivery) -> [String; 9] {
    [
        d.due.to_string(),
        d.planned_qty.to_string(),
        d.good.to_string(),
        csv_ratio(d.output_vs_plan),
        d.on_time.to_string(),
        d.late.to_string(),
        d.open_past_due.to_string(),
        d.not_yet_due.to_string(),
        csv_ratio(d.on_time_rate),
    ]
}

const DELIVERY_CSV_COLUMNS: [&str; 9] = [
    "orders_due",
    "planned_qty",
    "good_qty",
    "output_vs_plan",
    "on_time",
    "late",
    "open_past_due",
    "not_yet_due",
    "on_time_rate",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlantsCsvQuery {
    /// Which of head office's tables: `plants` (the default), `delivery`, `weeks` or `days`.
    #[serde(default)]
    pub table: Option<String>,
}

/// `GET /api/v1/floor/plants.csv`: head office's tables, each a CSV document: `plants` a row
/// per plant one may see (OEE, scrap, down hours and delivery of 7 and 30 days), `delivery` a
/// row per plant and period (7 and 30 days) with its local dates, `weeks` a row
/// per plant and ISO week of the weekly trend, `days` a row per plant and day of the 30 days.
async fn plants_csv(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<PlantsCsvQuery>,
) -> Result<axum::response::Response, AppError> {
    let table = q.table.as_deref().unwrap_or("plants");
    if !matches!(table, "plants" | "delivery" | "weeks" | "days") {
        return Err(AppError::bad_request(format!(
            "table {table:?} is not one of head office's; expected plants, delivery, weeks or days"
        )));
    }
    let report = plants_report(&state, &p.read, Utc::now()).await?;
    match table {
        "delivery" => {
            let mut header = vec!["plant", "period", "first_day", "last_day"];
            header.extend(DELIVERY_CSV_COLUMNS);
            let mut rows = Vec::new();
            for x in &report.plants {
                for (period, d, days) in [
                    ("7_days", &x.delivery_week, 6),
                    ("30_days", &x.delivery_month, 29),
                ] {
                    let today = x.today;
                    let mut row = vec![
                        x.plant.clone(),
                        period.to_owned(),
                        (today - Duration::days(days)).to_string(),
                        today.to_string(),
                    ];
                    row.extend(delivery_csv(d));
                    rows.push(row);
                }
            }
            csv_attachment("plants-delivery.csv", &header, rows)
        }
        "weeks" => {
            let mut header = vec!["plant", "week", "first_day", "last_day"];
            header.extend(&OEE_CSV_COLUMNS[2..]);
            header.extend(DELIVERY_CSV_COLUMNS);
            let mut rows = Vec::new();
            for x in &report.plants {
                for w in &x.weeks {
                    let mut row = vec![
                        x.plant.clone(),
                        w.key.clone(),
                        w.first_day.to_string(),
                        w.last_day.to_string(),
                    ];
                    row.extend(csv_row("", "", &w.figures).into_iter().skip(2));
                    row.extend(delivery_csv(&w.delivery));
                    rows.push(row);
                }
            }
            csv_attachment("plants-weeks.csv", &header, rows)
        }
        "days" => {
            let mut header = vec!["plant", "day"];
            header.extend(&OEE_CSV_COLUMNS[2..]);
            let mut rows = Vec::new();
            for x in &report.plants {
                for b in &x.trend {
                    let mut row = vec![x.plant.clone(), b.key.clone()];
                    row.extend(csv_row("", "", &b.figures).into_iter().skip(2));
                    rows.push(row);
                }
            }
            csv_attachment("plants-days.csv", &header, rows)
        }
        _ => {
            let rows = report
                .plants
                .iter()
                .map(|x| {
                    let mut row = vec![
                        x.plant.clone(),
                        x.name.clone(),
                        x.time_zone.clone(),
                        x.stations.to_string(),
                        csv_ratio(x.week.oee),
                        csv_ratio(x.week.availability),
                        csv_ratio(x.week.effectiveness),
                        csv_ratio(x.week.quality),
                        csv_ratio(x.month.oee),
                        csv_ratio(x.month.availability),
                        csv_ratio(x.month.effectiveness),
                        csv_ratio(x.month.quality),
                        x.month.figures.gq.to_string(),
                        x.month.figures.scrap.to_string(),
                        csv_ratio(x.scrap_rate),
                        x.down_hours.to_string(),
                        csv_ratio(x.targets.and_then(|t| t.oee)),
                    ];
                    row.extend(delivery_csv(&x.delivery_week));
                    row.extend(delivery_csv(&x.delivery_month));
                    row
                })
                .collect();
            csv_attachment("plants.csv", &PLANTS_CSV_COLUMNS, rows)
        }
    }
}

/// The OEE report as of `now`; the pages render the same.
/// What an OEE question covers: the plant's calendar and reasons, the period, its shift runs
/// and the stations asked.
pub(crate) struct Scope {
    pub calendar: ShiftCalendar,
    pub tz: chrono_tz::Tz,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub runs: Vec<ShiftRun>,
    pub reasons: BTreeMap<String, StopReason>,
    pub stations: Vec<FloorStation>,
}

impl Scope {
    /// Whether a stop reason counts as planned down time.
    pub fn planned(&self, code: &str) -> bool {
        is_planned(&self.reasons, code)
    }

    /// A reason's category; `unclassified` for a code the plant's list does not have.
    pub fn category(&self, code: &str) -> String {
        category_of(&self.reasons, code)
    }
}

/// Whether a plant's reason `code` is planned down time.
fn is_planned(reasons: &BTreeMap<String, StopReason>, code: &str) -> bool {
    reasons.get(code).is_some_and(|r| r.planned)
}

/// The category of a plant's reason `code`; `unclassified` for a code its list does not have.
fn category_of(reasons: &BTreeMap<String, StopReason>, code: &str) -> String {
    reasons
        .get(code)
        .map_or_else(|| "unclassified".to_owned(), |r| r.category.clone())
}

pub(crate) async fn scope(
    state: &AppState,
    q: &OeeQuery,
    now: DateTime<Utc>,
) -> Result<Scope, AppError> {
    let (_, calendar) = plant_calendar(state, &q.plant).await?;
    let tz = calendar.time_zone();
    let to = q.to.unwrap_or(now);
    let from = match q.from {
        Some(from) => from,
        None => {
            let today = now.with_timezone(&tz).date_naive();
            let first = today - Duration::days(6);
            local_midnight(tz, first)
        }
    };
    if from >= to {
        return Err(AppError::bad_request(format!(
            "from {from} is not before to {to}; expected a period"
        )));
    }
    if to - from > Duration::days(MAX_PERIOD_DAYS) {
        return Err(AppError::bad_request(format!(
            "the period from {from} to {to} is longer than {MAX_PERIOD_DAYS} days; expected a shorter one"
        )));
    }
    let holidays: HashSet<NaiveDate> = state
        .store()
        .calendar()
        .await?
        .holidays
        .into_iter()
        .collect();
    let runs = calendar
        .runs(from, to, |d| holidays.contains(&d))
        .map_err(AppError::bad_request)?;
    let reasons: BTreeMap<String, StopReason> = state
        .store()
        .stop_reasons(q.plant.clone())
        .await?
        .into_iter()
        .map(|r| (r.code.clone(), r))
        .collect();
    let mut stations = state.store().floor_stations().await?;
    stations.retain(|s| {
        s.plant == q.plant
            && q.line.as_ref().is_none_or(|l| s.line.as_ref() == Some(l))
            && q.edge_id.as_ref().is_none_or(|e| &s.edge_id == e)
            && q.station.as_ref().is_none_or(|st| &s.station == st)
    });
    Ok(Scope {
        calendar,
        tz,
        from,
        to,
        runs,
        reasons,
        stations,
    })
}

pub async fn oee_report(
    state: &AppState,
    q: &OeeQuery,
    now: DateTime<Utc>,
) -> Result<OeeReport, AppError> {
    let Scope {
        calendar,
        tz,
        from,
        to,
        runs,
        reasons,
        stations,
    } = scope(state, q, now).await?;
    let planned = |code: &str| is_planned(&reasons, code);
    let context = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // What the figures hold: kept figures of an older shape (before down time by order)
        // are not read back as if they had it.
        "figures v2".hash(&mut h);
        for (code, r) in &reasons {
            (code, r.planned).hash(&mut h);
        }
        // The calendar: a run's breaks are part of its figures.
        serde_json::to_string(&calendar.spec())
            .unwrap_or_default()
            .hash(&mut h);
        h.finish()
    };
    let cache = state.oee_runs();
    let context_text = format!("{context:016x}");
    let end = to.min(now);
    let closed = |run: &ShiftRun| run.start >= from && run.end <= to && run.end <= now;
    let key = |s: &FloorStation, run: &ShiftRun| RunKey {
        edge_id: s.edge_id.clone(),
        station: s.station.clone(),
        start: run.start,
        end: run.end,
        context,
    };
    // The figures of ended runs kept in this instance's memory, else in the database (kept
    // there by any instance, before a restart too).
    let mut work = Vec::with_capacity(stations.len());
    for s in stations {
        let generation = cache.generation(&s.edge_id);
        let mut figures: Vec<Option<Figures>> = runs
            .iter()
            .map(|run| closed(run).then(|| cache.get(&key(&s, run))).flatten())
            .collect();
        let missing = |figures: &[Option<Figures>]| {
            runs.iter()
                .zip(figures)
                .any(|(run, f)| f.is_none() && closed(run))
        };
        if missing(&figures) {
            let mut kept: HashMap<(DateTime<Utc>, DateTime<Utc>), Figures> = state
                .store()
                .kept_runs(
                    s.edge_id.clone(),
                    s.station.clone(),
                    context_text.clone(),
                    from,
                    to,
                )
                .await?
                .into_iter()
                .map(|k| ((k.start, k.end), k.figures))
                .collect();
            let mut found = Vec::new();
            for (run, f) in runs.iter().zip(figures.iter_mut()) {
                if f.is_none()
                    && closed(run)
                    && let Some(kept) = kept.remove(&(run.start, run.end))
                {
                    found.push((key(&s, run), kept.clone()));
                    *f = Some(kept);
                }
            }
            cache.put(generation, found);
        }
        let to_work_out = missing(&figures);
        work.push((s, generation, figures, to_work_out));
    }
    // The edges whose ended runs are worked out now say so first: a batch reaching back into
    // them from now on makes this report keep nothing of theirs.
    let claimed: Vec<String> = work
        .iter()
        .filter(|w| w.3)
        .map(|w| w.0.edge_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let last_closed = runs.iter().filter(|r| closed(r)).map(|r| r.end).max();
    let tickets: HashMap<String, i64> = match last_closed {
        Some(last) if !claimed.is_empty() => match state.store().claim_runs(claimed, last).await {
            Ok(tickets) => tickets.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not claim runs to keep their OEE figures");
                HashMap::new()
            }
        },
        _ => HashMap::new(),
    };
    let mut to_keep: BTreeMap<String, Vec<crate::store::floor::KeptRun>> = BTreeMap::new();
    // Unplanned down time (ms) and scrap by shift name.
    let mut by_shift: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut total = Figures::default();
    let mut buckets: BTreeMap<String, (DateTime<Utc>, DateTime<Utc>, Figures)> = BTreeMap::new();
    let mut lines: BTreeMap<String, Figures> = BTreeMap::new();
    let mut per_station = Vec::with_capacity(work.len());
    let mut scrap_by_station = Vec::new();
    let mut down_by_station = Vec::new();
    for (s, generation, mut figures, _) in work {
        // The runs not kept, read a stretch of consecutive ones at a time (typically the
        // first, cut by the period, and the ones still open): the kept ones between are not
        // read at all. A stretch's spans cannot tell whether the station reported before it,
        // so when it reported first is asked once.
        let mut found = Vec::new();
        let mut first_state = None;
        let mut i = 0;
        while i < runs.len() {
            if figures[i].is_some() {
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < runs.len() && figures[j + 1].is_none() {
                j += 1;
            }
            let first = if i == 0 {
                runs[0].start.min(from)
            } else {
                runs[i].start
            };
            let last = runs[j].end.min(end).max(first);
            let spans = state
                .store()
                .station_spans(s.edge_id.clone(), s.station.clone(), first, last)
                .await?;
            let fine = fine_hours(first, last, &runs[i..=j], &spans, now, &planned);
            let counts = state
                .store()
                .station_counts(s.edge_id.clone(), s.station.clone(), first, last, fine)
                .await?;
            let mut history = Prepared::new(&StationHistory { spans, counts }, now);
            if first_state.is_none() {
                first_state = Some(
                    state
                        .store()
                        .station_first_state(s.edge_id.clone(), s.station.clone())
                        .await?,
                );
            }
            history.first_state = first_state;
            for k in i..=j {
                let f = figures_of(&history, &runs[k], from, to, now, &planned);
                if closed(&runs[k]) {
                    found.push((key(&s, &runs[k]), f.clone()));
                    if tickets.contains_key(&s.edge_id) {
                        to_keep.entry(s.edge_id.clone()).or_default().push(
                            crate::store::floor::KeptRun {
                                station: s.station.clone(),
                                start: runs[k].start,
                                end: runs[k].end,
                                figures: f.clone(),
                            },
                        );
                    }
                }
                figures[k] = Some(f);
            }
            i = j + 1;
        }
        cache.put(generation, found);
        let mut station_total = Figures::default();
        for (run, f) in runs.iter().zip(figures) {
            let f = f.unwrap_or_default();
            if f == Figures::default() {
                continue;
            }
            let bucket = buckets
                .entry(bucket_key(q.by, run))
                .or_insert_with(|| (run.start.max(from), run.end.min(to), Figures::default()));
            bucket.0 = bucket.0.min(run.start.max(from));
            bucket.1 = bucket.1.max(run.end.min(to));
            bucket.2.add(&f);
            let shift = by_shift.entry(run.shift.clone()).or_default();
            shift.0 = f
                .down_by_reason
                .values()
                .fold(shift.0, |sum, ms| sum.saturating_add(*ms));
            shift.1 = shift
                .1
                .saturating_add(i64::try_from(f.scrap).unwrap_or(i64::MAX));
            station_total.add(&f);
        }
        total.add(&station_total);
        if let Some(line) = &s.line {
            lines.entry(line.clone()).or_default().add(&station_total);
        }
        scrap_by_station.push((
            format!("{}/{}", s.edge_id, s.station),
            i64::try_from(station_total.scrap).unwrap_or(i64::MAX),
        ));
        down_by_station.push((
            format!("{}/{}", s.edge_id, s.station),
            station_total.adot_ms,
        ));
        per_station.push(StationFigures {
            edge_id: s.edge_id,
            station: s.station,
            line: s.line,
            work_center: s.work_center,
            figures: FigureView::new(station_total),
        });
    }
    let mut by_category: BTreeMap<String, i64> = BTreeMap::new();
    for (code, ms) in &total.down_by_reason {
        let sum = by_category.entry(category_of(&reasons, code)).or_default();
        *sum = sum.saturating_add(*ms);
    }
    let items = order_items(state, [&total.scrap_by_order, &total.down_by_order]).await?;
    let losses = Losses {
        down_by_reason: pareto(total.down_by_reason.clone()),
        down_by_category: pareto(by_category),
        planned_by_reason: pareto(total.planned_by_reason.clone()),
        setup_ms: total.setup_ms,
        idle_ms: total.idle_ms,
        off_ms: total.off_ms,
        unknown_ms: total.unknown_ms,
        speed_loss_ms: total.speed_loss_ms(),
        scrap: total.scrap,
        scrap_by_station: pareto(scrap_by_station),
        down_by_shift: pareto(by_shift.iter().map(|(k, v)| (k.clone(), v.0))),
        scrap_by_shift: pareto(by_shift.iter().map(|(k, v)| (k.clone(), v.1))),
        scrap_by_item: pareto(by_item(&items, &total.scrap_by_order)),
        down_by_station: pareto(down_by_station),
        down_by_item: pareto(by_item(&items, &total.down_by_order)),
    };
    let keep: Vec<_> = to_keep
        .into_iter()
        .filter_map(|(edge, runs)| {
            Some((
                edge.clone(),
                *tickets.get(&edge)?,
                context_text.clone(),
                runs,
            ))
        })
        .collect();
    if let Err(e) = state.store().keep_runs(keep).await {
        tracing::warn!(error = %e, "could not keep the OEE figures of ended runs");
    }
    Ok(OeeReport {
        plant: q.plant.clone(),
        time_zone: tz.name().to_owned(),
        from,
        to,
        by: q.by,
        total: FigureView::new(total),
        targets: calendar.spec().targets,
        buckets: buckets
            .into_iter()
            .map(|(key, (from, to, f))| Bucket {
                key,
                from,
                to,
                figures: FigureView::new(f),
            })
            .collect(),
        lines: lines
            .into_iter()
            .map(|(line, f)| LineFigures {
                line,
                figures: FigureView::new(f),
            })
            .collect(),
        stations: per_station,
        losses,
    })
}

/// The items of the work orders named in `maps`' keys, in one query (none when only `""`).
pub(crate) async fn order_items<'a>(
    state: &AppState,
    maps: impl IntoIterator<Item = &'a BTreeMap<String, i64>>,
) -> Result<HashMap<String, String>, AppError> {
    let orders: Vec<String> = maps
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|o| !o.is_empty())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if orders.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(state.store().work_order_items(orders).await?)
}

/// Figures by work order summed by the orders' items; an order central does not know (or
/// none) counts as `""`.
fn by_item(
    items: &HashMap<String, String>,
    by_order: &BTreeMap<String, i64>,
) -> BTreeMap<String, i64> {
    let mut by_item: BTreeMap<String, i64> = BTreeMap::new();
    for (order, n) in by_order {
        let item = items.get(order).cloned().unwrap_or_default();
        let sum = by_item.entry(item).or_default();
        *sum = sum.saturating_add(*n);
    }
    by_item
}

/// The start of `date` in `tz` (the earliest instant when midnight is ambiguous).
pub fn local_midnight(tz: chrono_tz::Tz, date: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub edge_id: String,
    #[serde(default)]
    pub station: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The spans and counts behind a station's figures: each span names the event that started
/// it (`seq`, at `GET /api/v1/edges/{id}/events`).
async fn station_history(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<StationHistory>, AppError> {
    if q.from >= q.to || q.to - q.from > Duration::days(MAX_PERIOD_DAYS) {
        return Err(AppError::bad_request(format!(
            "from {} to {}: expected a period of at most {MAX_PERIOD_DAYS} days",
            q.from, q.to
        )));
    }
    let stations = state.store().floor_stations().await?;
    let known = stations
        .iter()
        .find(|s| s.edge_id == q.edge_id && s.station == q.station);
    match known {
        Some(s) if p.read.contains(&s.plant) => {}
        _ => {
            return Err(AppError::not_found(format!(
                "no station {:?} of edge {:?}",
                q.station, q.edge_id
            )));
        }
    }
    Ok(axum::Json(
        state
            .store()
            .station_history(q.edge_id, q.station, q.from, q.to)
            .await?,
    ))
}

/// The projections are a function of the stored events, so a rebuild changes nothing that
/// is right: anyone who manages a floor may ask for one.
async fn rebuild(
    State(state): State<AppState>,
) -> Result<axum::Json<crate::store::floor::Rebuilt>, AppError> {
    let done = state.store().rebuild_floor().await?;
    state.oee_runs().clear();
    tracing::info!(
        events = done.events,
        spans = done.spans,
        "rebuilt the floor's projections"
    );
    Ok(axum::Json(done))
}

/// A station's state as the pages name it.
pub fn state_key(state: Option<MachineState>) -> &'static str {
    state.map_or("unknown", crate::store::sql::floor::state_name)
}

/// Adds this module's paths and schemas to the OpenAPI document.
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let plant =
        json!({"name": "plant", "in": "path", "required": true, "schema": {"type": "string"}});
    let q = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}});
    let shifts = json!({"description": "the plant's shift calendar", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ShiftCalendar"}}}});
    let reasons = json!({"description": "the plant's stop reasons", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StopReasons"}}}});
    let paths = json!({
        "/api/v1/plants/{plant}/shifts": {
            "get": {"summary": "a plant's shift calendar", "tags": ["floor"], "parameters": [plant],
                "description": "`set: false` is the default a plant has until one is put: one 24-hour shift every day, UTC.",
                "responses": {"200": shifts, "401": error, "404": error}},
            "put": {"summary": "set a plant's shift calendar", "tags": ["floor"], "parameters": [plant],
                "description": "Shifts with local start and end (`HH:MM`; an end at or before the start ends the next day), the weekdays they start on, and breaks (planned downtime, ISO 22400 PDOT) within them, in the plant's IANA time zone. Shifts starting on a holiday of the working calendar do not run. Every problem is named in the 400.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ShiftCalendar"}}}},
                "responses": {"200": shifts, "400": error, "401": error, "404": error}}},
        "/api/v1/plants/{plant}/stop-reasons": {
            "get": {"summary": "a plant's stop reasons", "tags": ["floor"], "parameters": [plant], "responses": {"200": reasons, "401": error, "404": error}},
            "put": {"summary": "replace a plant's stop reasons", "tags": ["floor"], "parameters": [plant],
                "description": "`code` is what the PLC or the operator sends as the reason of `machine_state_changed`; `planned` reasons (planned maintenance, no orders) are planned downtime: they lower planned busy time, not availability. At most 500.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StopReasons"}}}},
                "responses": {"200": reasons, "400": error, "401": error, "404": error}}},
        "/api/v1/floor/board": {"get": {"summary": "the plant board: every station's state, reason and for how long, running order with good and scrap against its quantity, operator, the edge's health, and the current shift's OEE so far", "tags": ["floor"],
            "parameters": [q("plant", "one plant; all one may see when absent")],
            "responses": {"200": {"description": "{\"generated_at\", \"stations\": [...], \"alarms\": [...open SPC alarms, as GET /api/v1/spc/alarms]}"}, "401": error, "404": error}}},
        "/api/v1/floor/oee": {"get": {"summary": "OEE by ISO 22400-2 with its loss tree", "tags": ["floor"],
            "description": "A = APT/PBT, E = PRI x PQ / APT, Q = GQ/PQ, OEE = A x E x Q, with PBT = shift time - breaks - planned stops, APT = running time within PBT, PRI the operation's ideal cycle time, PQ = good + scrap and GQ = good counted within PBT. Buckets by `shift` (named by the local date the shift starts), `day`, `week` (ISO), `month` or `total`, in the plant's time zone; figures of lines and stations over the period; the loss tree: unplanned down time by reason, category, shift, station and item (Pareto with the cumulative share; a stop counts against the item of the order with the most parts counted in the clock hour it began, else the nearest hour of the shift with counts; each figure with down time carries `down_by_order`), planned down time, setup, idle, off, unknown, speed loss, and scrap by station, shift and item (the item of the work order it was counted on; each figure with scrap carries `scrap_by_order`). `GET /api/v1/floor/losses` lists the stops and scrap behind each Pareto bar. Each bucket has the `from` and `to` its shifts cover: ask them for its figures alone. Durations in milliseconds; ratios null when their denominator is 0.",
            "parameters": [
                {"name": "plant", "in": "query", "required": true, "schema": {"type": "string"}},
                q("line", "one line"), q("edge_id", "one edge's stations"), q("station", "one station (with edge_id)"),
                q("from", "RFC 3339; the start of the plant's day six days ago when absent"),
                q("to", "RFC 3339; now when absent; at most 400 days after from"),
                {"name": "by", "in": "query", "required": false, "schema": {"type": "string", "enum": ["shift", "day", "week", "month", "total"], "default": "day"}}],
            "responses": {"200": {"description": "{plant, time_zone, from, to, by, total, targets (when the plant set them), buckets, lines, stations, losses}"}, "400": error, "401": error, "404": error}}},
        "/api/v1/floor/oee.csv": {"get": {"summary": "the OEE report as CSV", "tags": ["floor"],
            "description": "The query of `GET /api/v1/floor/oee`; a row for the total, each bucket, line and station (`table`, `key`, then OEE, A, E, Q as 0-1 decimals, empty where there is none, and the durations in ms and quantities).",
            "parameters": [{"name": "plant", "in": "query", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "CSV with a header", "content": {"text/csv": {}}}, "400": error, "401": error, "404": error}}},
        "/api/v1/floor/board.csv": {"get": {"summary": "the plant board as CSV", "tags": ["floor"],
            "description": "A row per station of `GET /api/v1/floor/board` (same query): plant, line, work_center, edge_id, station, state, reason, reason_name, since, for_s, operator, work_order, operation, item, good, scrap, order_qty, the current shift's OEE, A, E and Q (0-1 decimals, empty where there is none), last_contact, backlog, plan_version_applied.",
            "parameters": [q("plant", "one plant; all one may see when absent")],
            "responses": {"200": {"description": "CSV with a header", "content": {"text/csv": {}}}, "401": error, "404": error}}},
        "/api/v1/floor/plants.csv": {"get": {"summary": "head office's tables as CSV", "tags": ["floor"],
            "description": "`table=plants` (the default): a row per plant of `GET /api/v1/floor/plants`: OEE, A, E, Q of 7 and 30 days, good and scrap, scrap rate and unplanned down hours of the 30 days, the OEE target, and the delivery of the orders due in the 7 and 30 days (orders due, planned and good quantity, output against plan, on time, late, open past due, not yet due, on-time rate). `table=delivery`: a row per plant and period (`7_days`, `30_days`) with its first and last local day and the delivery columns. `table=weeks`: a row per plant and ISO week of the weekly trend, its OEE columns as `oee.csv`'s and its delivery. `table=days`: a row per plant and day of the 30 days' trend.",
            "parameters": [{"name": "table", "in": "query", "required": false, "schema": {"type": "string", "enum": ["plants", "delivery", "weeks", "days"], "default": "plants"}}],
            "responses": {"200": {"description": "CSV with a header", "content": {"text/csv": {}}}, "400": error, "401": error}}},
        "/api/v1/floor/plants": {"get": {"summary": "head office: every plant one may see side by side", "tags": ["floor"],
            "description": "Per plant: OEE and its factors over the last 7 and 30 days (from the start of the plant's day, `week_from` and `month_from`, to `generated_at`), scrap rate and unplanned down hours of the 30 days, the 30 days' OEE day by day (`trend`), the last 12 ISO weeks (`weeks`: each week's OEE and the delivery of the orders due in it), the plant's targets when it set them, and the delivery of the work orders due in the 7 and 30 days (`delivery_week`, `delivery_month`; local dates, `today` the last). Delivery counts the orders of the plant's lines due in the period whatever their state but cancelled: `planned_qty` their quantity, `good` the good quantity at their last operation, `output_vs_plan` = good / planned_qty; an order is `on_time` when completed (the edge's `work_order_completed`) on or before its due date in the plant's time zone, `late` when completed after it, `open_past_due` when not completed and its due date has passed, `not_yet_due` otherwise; `on_time_rate` = on_time / (on_time + late + open_past_due). Ratios are null when their denominator is 0.",
            "responses": {"200": {"description": "{generated_at, plants: [{plant, name, time_zone, stations, today, week_from, month_from, week, month, scrap_rate, down_hours, trend, weeks, delivery_week, delivery_month, targets}]}"}, "401": error}}},
        "/api/v1/floor/history": {"get": {"summary": "a station's state spans and minute counts: what its figures are made of", "tags": ["floor"],
            "description": "Each span names the seq of the event that started it (`GET /api/v1/edges/{id}/events`); the span it is in now has `to: null`.",
            "parameters": [
                {"name": "edge_id", "in": "query", "required": true, "schema": {"type": "string"}},
                q("station", "the station (empty: events that named none)"),
                {"name": "from", "in": "query", "required": true, "schema": {"type": "string", "format": "date-time"}},
                {"name": "to", "in": "query", "required": true, "schema": {"type": "string", "format": "date-time"}}],
            "responses": {"200": {"description": "{spans: [...], counts: [...]}"}, "400": error, "401": error, "404": error}}},
        "/api/v1/floor/live": {"get": {"summary": "the plant board, live: server-sent events", "tags": ["floor"],
            "description": "`text/event-stream`: an `event: board` with the board's JSON (as `GET /api/v1/floor/board`) at once, then after every batch that changed the floor at any central instance on the same database (at most one per 100 ms) and every 15 s; `event: problem` with a message when the board cannot be read. The stream ends when central shuts down; `retry: 1000` tells the browser to reconnect after a second.",
            "parameters": [q("plant", "one plant; all one may see when absent")],
            "responses": {"200": {"description": "server-sent events", "content": {"text/event-stream": {}}}, "401": error, "404": error}}},
        "/api/v1/floor/metrics": {"get": {"summary": "the board as Prometheus gauges (OpenMetrics text)", "tags": ["floor"],
            "description": "Per station (labels plant, line, edge_id, station): `mes_floor_oee`, `mes_floor_availability`, `mes_floor_effectiveness`, `mes_floor_quality` of the current shift so far, `mes_floor_state_seconds`, and `mes_floor_state{state=...}` 1 for the state it is in. Scrape with a token that has `floor.read`; the plants of its scope.",
            "responses": {"200": {"description": "OpenMetrics text", "content": {"application/openmetrics-text": {}}}, "401": error, "403": error}}},
        "/api/v1/floor/rebuild": {"post": {"summary": "rebuild the floor's projections from the stored events", "tags": ["floor"],
            "description": "Empties the projections and replays every stored event not in quarantine; the result equals what ingest kept, so it changes nothing that was right.",
            "responses": {"200": {"description": "{events, stations, spans, count_rows}"}, "401": error, "403": error}}}
    });
    let schemas = json!({
        "ShiftCalendar": {"type": "object", "required": ["time_zone", "shifts"], "properties": {
            "time_zone": {"type": "string", "description": "IANA, e.g. Asia/Shanghai"},
            "shifts": {"type": "array", "items": {"type": "object", "required": ["name", "start", "end", "days"], "properties": {
                "name": {"type": "string"}, "start": {"type": "string", "description": "HH:MM local"}, "end": {"type": "string"},
                "days": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
                "breaks": {"type": "array", "items": {"type": "object", "required": ["name", "start", "end"], "properties": {
                    "name": {"type": "string"}, "start": {"type": "string"}, "end": {"type": "string"}}}}}}},
            "targets": {"type": "object", "description": "the plant's OEE targets, each a fraction in (0, 1], each optional; the OEE pages draw them", "properties": {
                "oee": {"type": "number"}, "availability": {"type": "number"}, "effectiveness": {"type": "number"}, "quality": {"type": "number"}}}}},
        "StopReasons": {"type": "object", "required": ["reasons"], "properties": {"reasons": {"type": "array", "items": {
            "type": "object", "required": ["code", "name", "category", "planned"], "properties": {
                "code": {"type": "string"}, "name": {"type": "string"}, "name_zh": {"type": "string"},
                "category": {"type": "string"}, "planned": {"type": "boolean"}}}}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
