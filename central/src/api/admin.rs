//! Admin routes: edges and their credentials, their events and the quarantine, their plans.
//! All need the admin token.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::policy::{Principal, Routes, needs};
use crate::auth::{hash_token, new_token};
use crate::people::roles::Permission;
use crate::store::people::Record;
use crate::store::{EdgeSummary, QuarantinedEvent, ReportedStations, StoreError, Unassigned};
use axum::extract::State;
use axum::http::StatusCode;
use protocol::bounds;
use protocol::{EdgeId, Event, Plan, PlanContent, Seq};
use serde::{Deserialize, Serialize};

/// Most events one `GET …/events` returns, whatever `limit` asks for.
pub const MAX_EVENTS_PER_PAGE: usize = 10_000;
pub const DEFAULT_EVENTS_PER_PAGE: usize = 1_000;

pub fn routes() -> Routes {
    use Permission::{EdgesManage, EdgesRead};
    let edge = |p| needs(p).on(Record::Edge, "edge_id");
    Routes::new()
        .post("/api/v1/edges", needs(EdgesManage), create_edge)
        .get("/api/v1/edges", needs(EdgesRead), list_edges)
        .get("/api/v1/edges.csv", needs(EdgesRead), edges_csv)
        .post(
            "/api/v1/edges/{edge_id}/revoke",
            edge(EdgesManage),
            revoke_edge,
        )
        .get(
            "/api/v1/edges/{edge_id}/events",
            edge(EdgesRead),
            list_events,
        )
        .post(
            "/api/v1/edges/{edge_id}/plans",
            edge(EdgesManage),
            publish_plan,
        )
        .get("/api/v1/edges/{edge_id}/plan", edge(EdgesRead), latest_plan)
        .get(
            "/api/v1/edges/{edge_id}/stations",
            edge(EdgesRead),
            edge_stations,
        )
        .get("/api/v1/quarantine", needs(EdgesRead), list_quarantine)
        .get("/api/v1/unassigned", needs(EdgesRead), list_unassigned)
}

/// Most quarantined events one `GET /api/v1/quarantine` lists, whatever `limit` asks for.
pub const MAX_QUARANTINE_PAGE: usize = 1_000;
pub const DEFAULT_QUARANTINE_PAGE: usize = 100;
/// Most rows one `GET /api/v1/unassigned` returns, whatever `limit` asks for.
pub const MAX_UNASSIGNED_PAGE: usize = 10_000;
pub const DEFAULT_UNASSIGNED_PAGE: usize = 1_000;
/// Most violations one refused plan lists.
pub const MAX_LISTED_VIOLATIONS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEdge {
    pub edge_id: EdgeId,
    /// The plant it serves; absent: the caller's plant when they have exactly one, else the
    /// default plant. Ignored when rotating an existing edge's token.
    #[serde(default)]
    pub plant: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedEdge {
    pub edge_id: EdgeId,
    /// The edge's bearer token. Shown only here; central keeps only its hash.
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EdgeList {
    pub edges: Vec<EdgeSummary>,
}

/// Events by seq. Quarantined events are left out of `events` (their bodies may not read as
/// events at all) and their seqs listed in `quarantined`; a client paging through continues
/// after the highest seq of either.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    #[serde(default)]
    pub quarantined: Vec<Seq>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineQuery {
    pub edge: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UnassignedPage {
    /// By edge and station.
    pub unassigned: Vec<Unassigned>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct QuarantinePage {
    /// Newest first.
    pub quarantined: Vec<QuarantinedEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub limit: Option<usize>,
}

/// The body of a plan publication: work orders, and the lots and GTINs the line checks scans
/// against.
pub type PublishPlan = PlanContent;

/// An edge id is 1 to 128 ASCII letters, digits, `-`, `_` or `.`: it goes into URLs, logs and
/// metric labels.
pub fn validate_edge_id(edge_id: &EdgeId) -> Result<(), AppError> {
    let s = edge_id.as_str();
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(format!(
            "edge id {s:?} is invalid; expected 1 to 128 ascii letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Creates an edge, or rotates the token of an existing one (which also lifts a revocation).
async fn create_edge(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(request): ApiJson<CreateEdge>,
) -> Result<(StatusCode, axum::Json<CreatedEdge>), AppError> {
    validate_edge_id(&request.edge_id)?;
    let existing = state
        .store()
        .plants_of(Record::Edge, request.edge_id.as_str().to_owned())
        .await?;
    // Rotating another plant's edge is rotating an edge that does not exist for the caller.
    if !p.may_see(&existing, true) {
        return Err(AppError::not_found(format!(
            "no edge {:?}",
            request.edge_id.as_str()
        )));
    }
    let new_plant = if existing.is_empty() {
        let plant = match (&request.plant, &p.write) {
            (Some(plant), _) => plant.clone(),
            (None, crate::people::users::PlantScope::Only(plants)) if plants.len() == 1 => {
                plants[0].clone()
            }
            _ => crate::people::plants::DEFAULT_PLANT.to_owned(),
        };
        protocol::bounds::check_id("plant", &plant)
            .map_err(|v| AppError::bad_request(v.to_string()))?;
        p.check_plant(&plant)?;
        if state.store().plant(plant.clone()).await?.is_none() {
            return Err(AppError::bad_request(format!(
                "plant: no plant {plant:?}; expected one created with put /api/v1/plants/{{plant}}"
            )));
        }
        Some(plant)
    } else {
        None
    };
    let token = new_token();
    state
        .store()
        .create_edge(&request.edge_id, hash_token(&token))
        .await?;
    if let Some(plant) = new_plant {
        state
            .store()
            .set_edge_plant(request.edge_id.as_str().to_owned(), plant)
            .await?;
    }
    tracing::info!(edge_id = %request.edge_id, "issued edge token");
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedEdge {
            edge_id: request.edge_id,
            token,
        }),
    ))
}

async fn revoke_edge(
    State(state): State<AppState>,
    ApiPath(edge_id): ApiPath<String>,
) -> Result<StatusCode, AppError> {
    let edge_id = EdgeId(edge_id);
    state.store().revoke_edge(&edge_id).await?;
    tracing::info!(%edge_id, "revoked edge token");
    Ok(StatusCode::NO_CONTENT)
}

async fn list_edges(
    State(state): State<AppState>,
    p: Principal,
) -> Result<axum::Json<EdgeList>, AppError> {
    Ok(axum::Json(EdgeList {
        edges: visible_edges(&state, &p).await?,
    }))
}

/// The columns of `GET /api/v1/edges.csv`.
pub(crate) const EDGES_CSV_COLUMNS: [&str; 13] = [
    "edge_id",
    "agent_version",
    "last_contact",
    "backlog",
    "oldest_unsent_at",
    "oldest_unsent_age_s",
    "clock_skew_ms",
    "acked_seq",
    "plan_version_published",
    "plan_version_applied",
    "quarantined",
    "revoked",
    "stale_backlog",
];

/// An unsent event older than this is what a plant cares about: the fleet page marks it,
/// and the CSV's `stale_backlog` says so.
pub const STALE_UNSENT_S: i64 = 15 * 60;

/// `GET /api/v1/edges.csv`: the fleet, as `GET /api/v1/edges` lists it.
async fn edges_csv(
    State(state): State<AppState>,
    p: Principal,
) -> Result<axum::response::Response, AppError> {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let opt = |x: Option<i64>| x.map(|x| x.to_string()).unwrap_or_default();
    let rows = visible_edges(&state, &p)
        .await?
        .into_iter()
        .map(|e| {
            vec![
                spreadsheet_safe(e.edge_id.as_str()),
                spreadsheet_safe(e.agent_version.as_deref().unwrap_or_default()),
                time(e.last_contact),
                e.reported_backlog
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
                time(e.oldest_unsent_at),
                opt(e.oldest_unsent_age_s),
                opt(e.clock_skew_ms),
                e.acked_seq.0.to_string(),
                e.plan_version_published.0.to_string(),
                e.plan_version_applied.0.to_string(),
                e.quarantined.to_string(),
                e.revoked.to_string(),
                e.oldest_unsent_age_s
                    .is_some_and(|age| age > STALE_UNSENT_S)
                    .to_string(),
            ]
        })
        .collect();
    super::floor::csv_attachment("edges.csv", &EDGES_CSV_COLUMNS, rows)
}

/// A cell a spreadsheet would read as a formula, with `'` before it.
fn spreadsheet_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// The edges of the caller's plants (every edge for someone who sees every plant); the edge
/// fleet page shows the same. Each carries the age of its oldest unsent event as of now.
pub(crate) async fn visible_edges(
    state: &AppState,
    p: &Principal,
) -> Result<Vec<crate::store::EdgeSummary>, AppError> {
    let now = chrono::Utc::now();
    let mut edges = state.store().edges().await?;
    for edge in &mut edges {
        edge.oldest_unsent_age_s = edge
            .oldest_unsent_at
            .map(|at| (now - at).num_seconds().max(0));
    }
    if p.read != crate::people::users::PlantScope::All {
        let mut visible = Vec::with_capacity(edges.len());
        for edge in edges {
            let plants = state
                .store()
                .plants_of(Record::Edge, edge.edge_id.as_str().to_owned())
                .await?;
            if p.may_see(&plants, false) {
                visible.push(edge);
            }
        }
        edges = visible;
    }
    Ok(edges)
}

/// `GET /api/v1/edges/{edge_id}/stations`: what runs on the edge's stations as its last
/// status said, with when central received it; 404 for an unknown edge or one that has sent
/// no status yet.
async fn edge_stations(
    State(state): State<AppState>,
    ApiPath(edge_id): ApiPath<String>,
) -> Result<axum::Json<ReportedStations>, AppError> {
    let edge_id = EdgeId(edge_id);
    match state.store().edge_stations(&edge_id).await {
        Ok(Some(stations)) => Ok(axum::Json(stations)),
        Ok(None) => Err(AppError::not_found(format!(
            "edge {:?} has sent no status yet; its stations show after its next one",
            edge_id.as_str()
        ))),
        Err(StoreError::NotFound(_)) => Err(unknown_edge(&edge_id)),
        Err(e) => Err(e.into()),
    }
}

async fn list_events(
    State(state): State<AppState>,
    ApiPath(edge_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> Result<axum::Json<EventPage>, AppError> {
    let edge_id = EdgeId(edge_id);
    if state.store().acked_through(&edge_id).await?.is_none() {
        return Err(unknown_edge(&edge_id));
    }
    let limit = query
        .limit
        .unwrap_or(DEFAULT_EVENTS_PER_PAGE)
        .min(MAX_EVENTS_PER_PAGE);
    let from = query.from.unwrap_or(1);
    for (what, n) in [("from", Some(from)), ("to", query.to)] {
        if let Some(n) = n {
            bounds::check_seq(what, n).map_err(|v| AppError::bad_request(v.to_string()))?;
        }
    }
    let page = state
        .store()
        .events(&edge_id, Seq(from), query.to.map(Seq), limit)
        .await?;
    Ok(axum::Json(EventPage {
        events: page.events,
        quarantined: page.quarantined,
    }))
}

/// `GET /api/v1/quarantine?edge=&limit=`: events central stored and acknowledged but could
/// not apply, newest first, with the reason and the start of the text the edge sent.
async fn list_quarantine(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<QuarantineQuery>,
) -> Result<axum::Json<QuarantinePage>, AppError> {
    let edge_id = query.edge.map(EdgeId);
    if let Some(edge_id) = &edge_id
        && state.store().acked_through(edge_id).await?.is_none()
    {
        return Err(unknown_edge(edge_id));
    }
    let limit = query
        .limit
        .unwrap_or(DEFAULT_QUARANTINE_PAGE)
        .min(MAX_QUARANTINE_PAGE);
    Ok(axum::Json(QuarantinePage {
        quarantined: state.store().quarantined(edge_id, limit).await?,
    }))
}

/// `GET /api/v1/unassigned?edge=&limit=`: parts counted and booked to no work order, per
/// edge and station, summed from the stored production reports that name none.
async fn list_unassigned(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<QuarantineQuery>,
) -> Result<axum::Json<UnassignedPage>, AppError> {
    let edge_id = query.edge.map(EdgeId);
    if let Some(edge_id) = &edge_id
        && state.store().acked_through(edge_id).await?.is_none()
    {
        return Err(unknown_edge(edge_id));
    }
    let limit = query
        .limit
        .unwrap_or(DEFAULT_UNASSIGNED_PAGE)
        .min(MAX_UNASSIGNED_PAGE);
    Ok(axum::Json(UnassignedPage {
        unassigned: state.store().unassigned(edge_id, limit).await?,
    }))
}

/// `POST /api/v1/edges/{edge_id}/plans`: an administrator's raw plan, for an edge the ERP does
/// not feed (commissioning, a test line). It cannot shadow ERP work orders: one naming an ERP
/// work order, or for an edge that runs released ERP work orders, is refused with 409
/// ([`crate::store::Store::publish_raw_plan`]). The ERP's next plan for the edge (a release on
/// one of its lines) replaces it.
async fn publish_plan(
    State(state): State<AppState>,
    ApiPath(edge_id): ApiPath<String>,
    ApiJson(mut request): ApiJson<PublishPlan>,
) -> Result<(StatusCode, axum::Json<Plan>), AppError> {
    let edge_id = EdgeId(edge_id);
    // The operators are central's registry's, filled in when the plan is published.
    request.operators.clear();
    check_plan(&request)?;
    let plan = state
        .store()
        .publish_raw_plan(&edge_id, request)
        .await?
        .map_err(|refused| AppError::new(StatusCode::CONFLICT, refused.code, refused.message))?;
    state.notify_plan(&edge_id, plan.version);
    tracing::info!(%edge_id, version = %plan.version, "published plan");
    Ok((StatusCode::CREATED, axum::Json(plan)))
}

async fn latest_plan(
    State(state): State<AppState>,
    ApiPath(edge_id): ApiPath<String>,
) -> Result<axum::Json<Plan>, AppError> {
    let edge_id = EdgeId(edge_id);
    match state.store().latest_plan(&edge_id).await? {
        Some(plan) => Ok(axum::Json(plan)),
        None if state.store().acked_through(&edge_id).await?.is_none() => {
            Err(unknown_edge(&edge_id))
        }
        None => Err(AppError::not_found(format!(
            "edge {:?} has no plan yet; publish one with post /api/v1/edges/{}/plans",
            edge_id.as_str(),
            edge_id.as_str()
        ))),
    }
}

/// A plan out of [`protocol::bounds`] is refused with every violation, each naming its field:
/// the edge would refuse it whole.
fn check_plan(plan: &PlanContent) -> Result<(), AppError> {
    let Err(violations) = bounds::check_plan(plan) else {
        return Ok(());
    };
    let total = violations.len();
    let listed: Vec<String> = violations
        .iter()
        .take(MAX_LISTED_VIOLATIONS)
        .map(|v| bounds::sanitize_text(&v.to_string()))
        .collect();
    let more = if total > listed.len() {
        format!(" (the first {} of {total})", listed.len())
    } else {
        String::new()
    };
    Err(AppError::new(
        StatusCode::BAD_REQUEST,
        "invalid_plan",
        format!(
            "the plan is out of bounds, nothing was published: {}{more}; expected every field within protocol bounds",
            listed.join("; ")
        ),
    ))
}

fn unknown_edge(edge_id: &EdgeId) -> AppError {
    AppError::not_found(format!(
        "no edge {:?}; expected an edge created with post /api/v1/edges",
        edge_id.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_ids() {
        assert!(validate_edge_id(&"line-1".into()).is_ok());
        assert!(validate_edge_id(&"plant_2.line.3".into()).is_ok());
        assert!(validate_edge_id(&"".into()).is_err());
        assert!(validate_edge_id(&"line 1".into()).is_err());
        assert!(validate_edge_id(&"line/1".into()).is_err());
        assert!(validate_edge_id(&EdgeId("x".repeat(129))).is_err());
    }
}
