//! SPC for supervisors: characteristics with their specification, subgroup size and
//! baseline, the charts ingest keeps from the edges' measurements (`store/sql/spc.rs`) with
//! their frozen limits, rule violations and capability ([`crate::mes::spc`]), and the alarms
//! a violation raises on the plant board.
//!
//! Who may: `floor.read` to see the characteristics, charts and alarms of one's plants (an
//! every-plant characteristic is everyone's; another plant's answers 404), `floor.manage` to
//! put characteristics (of one's own plants; every-plant ones need every plant), rebaseline
//! them and acknowledge alarms.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::policy::{Principal, Routes, needs};
use crate::mes::spc::{self, Capability, Limits};
use crate::people::roles::Permission;
use crate::people::users::PlantScope;
use crate::store::people::Record;
use crate::store::spc::{CharacteristicSpec, SpcAlarm, SpcCharacteristic, SpcPoint};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// At most this many characteristics in one `PUT`.
pub const MAX_PUT: usize = 500;
/// The baseline's bounds, in subgroups (or individuals).
pub const MIN_BASELINE: u32 = 2;
pub const MAX_BASELINE: u32 = 100;
/// Points a chart shows by default, and at most.
pub const DEFAULT_POINTS: u64 = 100;
pub const MAX_POINTS: u64 = 1000;
/// Alarms listed at most.
pub const MAX_ALARMS: u64 = 1000;

pub fn routes() -> Routes {
    use Permission::{FloorManage, FloorRead};
    Routes::new()
        .get(
            "/api/v1/spc/characteristics",
            needs(FloorRead),
            get_characteristics,
        )
        .put(
            "/api/v1/spc/characteristics",
            needs(FloorManage),
            put_characteristics,
        )
        .post(
            "/api/v1/spc/characteristics/{characteristic}/rebaseline",
            needs(FloorManage).on(Record::SpcCharacteristic, "characteristic"),
            rebaseline,
        )
        .post(
            "/api/v1/spc/characteristics/{characteristic}/retire",
            needs(FloorManage).on(Record::SpcCharacteristic, "characteristic"),
            retire,
        )
        .get(
            "/api/v1/spc/charts/{characteristic}",
            needs(FloorRead).on(Record::SpcCharacteristic, "characteristic"),
            chart,
        )
        .get("/api/v1/spc/alarms", needs(FloorRead), get_alarms)
        .post(
            "/api/v1/spc/alarms/{alarm}/ack",
            needs(FloorManage).on(Record::SpcAlarm, "alarm"),
            ack,
        )
}

/// Whether `scope` sees a characteristic of `plant` (`None`: every plant's).
fn sees(scope: &PlantScope, plant: Option<&str>) -> bool {
    plant.is_none_or(|p| scope.contains(p))
}

#[derive(Debug, Serialize)]
pub struct Characteristics {
    pub characteristics: Vec<SpcCharacteristic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutCharacteristics {
    pub characteristics: Vec<CharacteristicSpec>,
}

/// The characteristics `scope` sees, by id.
pub async fn visible_characteristics(
    state: &AppState,
    scope: &PlantScope,
) -> Result<Vec<SpcCharacteristic>, AppError> {
    let mut all = state.store().spc_characteristics().await?;
    all.retain(|c| sees(scope, c.spec.plant.as_deref()));
    Ok(all)
}

async fn get_characteristics(
    State(state): State<AppState>,
    p: Principal,
) -> Result<axum::Json<Characteristics>, AppError> {
    Ok(axum::Json(Characteristics {
        characteristics: visible_characteristics(&state, &p.read).await?,
    }))
}

/// Every problem of a characteristic, each named by its place.
pub fn check_spec(at: &str, c: &CharacteristicSpec) -> Vec<String> {
    use protocol::bounds::{check_id, check_uom};
    let mut problems = Vec::new();
    if let Some(plant) = &c.plant
        && let Err(v) = check_id(&format!("{at}.plant"), plant)
    {
        problems.push(v.to_string());
    }
    if let Err(v) = check_id(&format!("{at}.item"), &c.item) {
        problems.push(v.to_string());
    }
    // The name is what the edges send as `characteristic`: an id, as they check it.
    if let Err(v) = check_id(&format!("{at}.name"), &c.name) {
        problems.push(v.to_string());
    }
    if !c.unit.is_empty()
        && let Err(v) = check_uom(&format!("{at}.unit"), &c.unit)
    {
        problems.push(v.to_string());
    }
    if c.operation == Some(0) {
        problems.push(format!(
            "{at}.operation: is 0; expected an operation number from 1, or none for any"
        ));
    }
    let pure = spc::Characteristic {
        name: c.name.clone(),
        target: c.target,
        lsl: c.lsl,
        usl: c.usl,
        subgroup_size: c.subgroup_size,
    };
    if let Err(found) = pure.validate() {
        // The name was checked above, with the edges' bounds.
        problems.extend(
            found
                .into_iter()
                .filter(|p| !p.starts_with("name:"))
                .map(|p| format!("{at}.{p}")),
        );
    }
    if !(MIN_BASELINE..=MAX_BASELINE).contains(&c.baseline) {
        problems.push(format!(
            "{at}.baseline: {}; expected {MIN_BASELINE} to {MAX_BASELINE} subgroups",
            c.baseline
        ));
    }
    problems
}

async fn put_characteristics(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<PutCharacteristics>,
) -> Result<axum::Json<Characteristics>, AppError> {
    let mut problems = Vec::new();
    if body.characteristics.is_empty() {
        problems.push("characteristics: none given; expected at least one".to_string());
    }
    if body.characteristics.len() > MAX_PUT {
        problems.push(format!(
            "characteristics: {} given; expected at most {MAX_PUT}",
            body.characteristics.len()
        ));
    }
    let mut seen = HashSet::new();
    for (i, c) in body.characteristics.iter().enumerate().take(MAX_PUT) {
        let at = format!("characteristics[{i}]");
        problems.extend(check_spec(&at, c));
        if !seen.insert((&c.plant, &c.item, c.operation, &c.name)) {
            problems.push(format!(
                "{at}: plant, item, operation and name appear twice; expected each once"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(AppError::bad_request(problems.join("; ")));
    }
    for c in &body.characteristics {
        match &c.plant {
            Some(plant) => {
                if !p.read.contains(plant) || state.store().plant(plant.clone()).await?.is_none() {
                    return Err(AppError::not_found(format!("no plant {plant:?}")));
                }
                p.check_plant(plant)?;
            }
            None if p.write != PlantScope::All => {
                return Err(AppError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "a characteristic of every plant (no plant) is changed by those who may \
                     change every plant's records; name one of your plants",
                ));
            }
            None => {}
        }
    }
    // The item a characteristic names is one of the master data's: a typo would chart
    // nothing, ever.
    let mut items: Vec<String> = body
        .characteristics
        .iter()
        .map(|c| c.item.clone())
        .collect();
    items.sort();
    items.dedup();
    let missing = state.store().missing_items(items).await?;
    if !missing.is_empty() {
        let named: Vec<String> = body
            .characteristics
            .iter()
            .enumerate()
            .filter(|(_, c)| missing.contains(&c.item))
            .map(|(i, c)| {
                format!(
                    "characteristics[{i}].item: no item {:?} in the master data; expected one made with put /api/v1/items/{{item}} or the items import",
                    c.item
                )
            })
            .collect();
        return Err(AppError::bad_request(named.join("; ")));
    }
    let stored = state
        .store()
        .put_spc_characteristics(body.characteristics)
        .await?;
    Ok(axum::Json(Characteristics {
        characteristics: stored,
    }))
}

/// A characteristic `scope` sees, else 404 (as the record rule answers).
pub async fn seen_characteristic(
    state: &AppState,
    scope: &PlantScope,
    id: &str,
) -> Result<SpcCharacteristic, AppError> {
    let found = match id.parse::<u64>() {
        Ok(n) => state.store().spc_characteristic(n).await?,
        Err(_) => None,
    };
    match found {
        Some(c) if sees(scope, c.spec.plant.as_deref()) => Ok(c),
        _ => Err(AppError::not_found(format!("no spc characteristic {id:?}"))),
    }
}

async fn rebaseline(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<SpcCharacteristic>, AppError> {
    let c = seen_characteristic(&state, &p.read, &id).await?;
    match &c.spec.plant {
        Some(plant) => p.check_plant(plant)?,
        None if p.write != PlantScope::All => {
            return Err(AppError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "a characteristic of every plant is rebaselined by those who may change every \
                 plant's records",
            ));
        }
        None => {}
    }
    Ok(axum::Json(state.store().rebaseline_spc(c.id).await?))
}

/// `POST /api/v1/spc/characteristics/{id}/retire`: by those who may change its plant (an
/// every-plant one: those who change every plant). Its open alarms close and leave the
/// edges' terminals in their next plans; its chart stays, read-only.
async fn retire(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<SpcCharacteristic>, AppError> {
    let c = seen_characteristic(&state, &p.read, &id).await?;
    match &c.spec.plant {
        Some(plant) => p.check_plant(plant)?,
        None if p.write != PlantScope::All => {
            return Err(AppError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "a characteristic of every plant is retired by those who may change every \
                 plant's records",
            ));
        }
        None => {}
    }
    let retired = state.store().retire_spc(c.id, p.name()).await?;
    for plan in &retired.plans {
        state.notify_plan(&plan.edge_id, plan.version);
    }
    Ok(axum::Json(retired.value))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartQuery {
    #[serde(default)]
    pub limit: Option<u64>,
}

/// Where a characteristic stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its limits are not frozen yet.
    Baseline,
    InControl,
    /// It has open alarms.
    Alarm,
    /// Retired: it charts nothing more; its chart is kept.
    Retired,
}

pub fn status_of(c: &SpcCharacteristic) -> Status {
    if c.retired_at.is_some() {
        Status::Retired
    } else if c.open_alarms > 0 {
        Status::Alarm
    } else if c.limits.is_none() {
        Status::Baseline
    } else {
        Status::InControl
    }
}

#[derive(Debug, Serialize)]
pub struct Chart {
    pub characteristic: SpcCharacteristic,
    pub status: Status,
    /// The frozen limits; `null` while the baseline is collected.
    pub limits: Option<Limits>,
    /// The last points, oldest first.
    pub points: Vec<SpcPoint>,
    /// Cp, Cpk (within: the frozen limits' sigma) and Pp, Ppk (overall) over the values of
    /// the points shown; `null` until the limits are frozen.
    pub capability: Option<Capability>,
}

/// The chart of a characteristic `scope` sees, with its last `limit` points.
pub async fn chart_of(
    state: &AppState,
    scope: &PlantScope,
    id: &str,
    limit: u64,
) -> Result<Chart, AppError> {
    let c = seen_characteristic(state, scope, id).await?;
    let points = state.store().spc_points(c.id, limit).await?;
    let values: Vec<f64> = points
        .iter()
        .flat_map(|p| p.values.iter().copied())
        .collect();
    let capability = match &c.limits {
        Some(limits) if !values.is_empty() => {
            spc::capability(&values, c.spec.lsl, c.spec.usl, limits.sigma_within).ok()
        }
        _ => None,
    };
    Ok(Chart {
        status: status_of(&c),
        limits: c.limits,
        capability,
        points,
        characteristic: c,
    })
}

async fn chart(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ChartQuery>,
) -> Result<axum::Json<Chart>, AppError> {
    let limit = q.limit.unwrap_or(DEFAULT_POINTS);
    if !(1..=MAX_POINTS).contains(&limit) {
        return Err(AppError::bad_request(format!(
            "limit: {limit}; expected 1 to {MAX_POINTS} points"
        )));
    }
    Ok(axum::Json(chart_of(&state, &p.read, &id, limit).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmQuery {
    /// Acknowledged ones too (the latest 1000).
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Serialize)]
pub struct Alarms {
    pub alarms: Vec<SpcAlarm>,
}

/// The alarms of the plants of `scope` (one of them when `plant` is given), newest first.
pub async fn visible_alarms(
    state: &AppState,
    scope: &PlantScope,
    plant: Option<&str>,
    open_only: bool,
) -> Result<Vec<SpcAlarm>, AppError> {
    let mut alarms = state.store().spc_alarms(open_only, MAX_ALARMS).await?;
    alarms.retain(|a| scope.contains(&a.plant) && plant.is_none_or(|p| p == a.plant));
    Ok(alarms)
}

async fn get_alarms(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<AlarmQuery>,
) -> Result<axum::Json<Alarms>, AppError> {
    Ok(axum::Json(Alarms {
        alarms: visible_alarms(&state, &p.read, None, !q.all).await?,
    }))
}

async fn ack(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<SpcAlarm>, AppError> {
    let found = match id.parse::<u64>() {
        Ok(n) => state.store().spc_alarm(n).await?,
        Err(_) => None,
    };
    let alarm = match found {
        Some(a) if p.read.contains(&a.plant) => a,
        _ => return Err(AppError::not_found(format!("no spc alarm {id:?}"))),
    };
    p.check_plant(&alarm.plant)?;
    let acked = state.store().ack_spc_alarm(alarm.id, p.name()).await?;
    state.floor_changed();
    for plan in &acked.plans {
        state.notify_plan(&plan.edge_id, plan.version);
    }
    Ok(axum::Json(acked.value))
}

/// Adds this module's paths and schemas to the OpenAPI document.
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let id = json!({"name": "characteristic", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}});
    let alarm = json!({"name": "alarm", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}});
    let list = json!({"description": "characteristics", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SpcCharacteristics"}}}});
    let one = json!({"description": "the characteristic", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SpcCharacteristic"}}}});
    let paths = json!({
        "/api/v1/spc/characteristics": {
            "get": {"summary": "SPC characteristics of one's plants (and every plant's)", "tags": ["spc"],
                "description": "Each with its specification, subgroup size, baseline, frozen control limits (`limits`, null while `baseline_points` of `baseline` are collected), points so far, values of the subgroup being filled (`pending`) and open alarms.",
                "responses": {"200": list, "401": error}},
            "put": {"summary": "make or change characteristics, all or none", "tags": ["spc"],
                "description": "Keyed by plant (absent: every plant), item, operation (absent: any) and name (what the edges send as `characteristic` of `measurement`). A measurement is charted on the characteristic of its name and the item of its work order (the event's, else what the station runs), the plant's before an every-plant one, the operation's before an any-operation one. `subgroup_size` 1 is I-MR (individuals), 2 to 10 X-bar/R; `baseline` (2 to 100, default 25) subgroups freeze the control limits. `lsl` < `usl`, `target` between them. The item must be one of the master data's (400 naming it). The subgroup size of one with points cannot change (409). Putting a retired one brings it back. Every problem is named in the 400.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["characteristics"], "properties": {"characteristics": {"type": "array", "items": {"$ref": "#/components/schemas/SpcCharacteristicSpec"}}}}}}},
                "responses": {"200": list, "400": error, "401": error, "403": error, "404": error, "409": error}}},
        "/api/v1/spc/characteristics/{characteristic}/rebaseline": {"post": {"summary": "unfreeze a characteristic's control limits", "tags": ["spc"],
            "description": "The next `baseline` points (from the next one) freeze new limits; until then no rule is checked. A retired characteristic is not rebaselined (409).",
            "parameters": [id], "responses": {"200": one, "401": error, "403": error, "404": error, "409": error}}},
        "/api/v1/spc/characteristics/{characteristic}/retire": {"post": {"summary": "retire a characteristic: no more measurements charted, its chart kept read-only", "tags": ["spc"],
            "description": "Characteristics are retired, not deleted: their points and alarms are quality records. A retired one (`retired_at`, `retired_by`) charts no measurement and raises no alarm; its open alarms are closed as acknowledged by the caller and leave the edges' terminals with their next plans; its chart and alarms stay readable. Who: `floor.manage` for its plant (an every-plant one: those who change every plant). Putting its plant, item, operation and name again brings it back with its history and limits. Recorded in the audit trail; retiring a retired one changes nothing.",
            "parameters": [id], "responses": {"200": one, "401": error, "403": error, "404": error}}},
        "/api/v1/spc/charts/{characteristic}": {"get": {"summary": "a characteristic's chart: points, limits, rule violations and capability", "tags": ["spc"],
            "description": "Points oldest first: `value` is the subgroup's mean (or the individual), `range` its range (or the moving range), `rules` the Western Electric rules 1-4 violated at it (checked against the frozen limits as each point arrives), `baseline` whether the frozen limits came from it. `capability`: Cp and Cpk with the limits' within sigma, Pp and Ppk with the overall sigma, over the values of the points shown; null until the limits are frozen.",
            "parameters": [id, {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}],
            "responses": {"200": {"description": "{characteristic, status, limits, points, capability}"}, "400": error, "401": error, "404": error}}},
        "/api/v1/spc/alarms": {"get": {"summary": "SPC alarms of one's plants, newest first", "tags": ["spc"],
            "description": "One per rule violated at a point: characteristic, plant, edge, station, rule, point, its value and the edge's time. Open ones only unless `all=true`. The plant board lists the open ones (`alarms`).",
            "parameters": [{"name": "all", "in": "query", "required": false, "schema": {"type": "boolean", "default": false}}],
            "responses": {"200": {"description": "{alarms: [...]}"}, "401": error}}},
        "/api/v1/spc/alarms/{alarm}/ack": {"post": {"summary": "acknowledge an SPC alarm", "tags": ["spc"],
            "description": "It leaves the board and the edge's terminal (the edge's next plan version no longer carries it in `rules.spc_alarms`); recorded in the audit trail. An acknowledged alarm stays as it was.",
            "parameters": [alarm], "responses": {"200": {"description": "the alarm"}, "401": error, "403": error, "404": error}}}
    });
    let spec_properties = json!({
        "plant": {"type": "string", "description": "absent: every plant"},
        "item": {"type": "string"},
        "operation": {"type": "integer", "minimum": 1, "description": "absent: any"},
        "name": {"type": "string", "description": "as the edges send it"},
        "unit": {"type": "string"},
        "target": {"type": "number"}, "lsl": {"type": "number"}, "usl": {"type": "number"},
        "subgroup_size": {"type": "integer", "minimum": 1, "maximum": 10},
        "baseline": {"type": "integer", "minimum": 2, "maximum": 100, "default": 25}
    });
    let mut stored_properties = spec_properties.clone();
    if let Some(map) = stored_properties.as_object_mut() {
        for (k, v) in [
            ("id", json!({"type": "integer"})),
            (
                "limits",
                json!({"type": ["object", "null"], "description": "center, ucl, lcl, range_center, range_ucl, range_lcl, sigma_within, subgroup_size"}),
            ),
            (
                "frozen_at",
                json!({"type": ["string", "null"], "format": "date-time"}),
            ),
            ("baseline_points", json!({"type": "integer"})),
            ("points", json!({"type": "integer"})),
            ("pending", json!({"type": "integer"})),
            ("open_alarms", json!({"type": "integer"})),
            (
                "retired_at",
                json!({"type": ["string", "null"], "format": "date-time", "description": "when it was retired; null while in use"}),
            ),
            ("retired_by", json!({"type": ["string", "null"]})),
        ] {
            map.insert(k.into(), v);
        }
    }
    let schemas = json!({
        "SpcCharacteristicSpec": {"type": "object", "required": ["item", "name", "subgroup_size"], "properties": spec_properties},
        "SpcCharacteristic": {"type": "object", "properties": stored_properties},
        "SpcCharacteristics": {"type": "object", "required": ["characteristics"], "properties": {"characteristics": {"type": "array", "items": {"$ref": "#/components/schemas/SpcCharacteristic"}}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
