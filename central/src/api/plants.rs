//! Plants and their rules for the floor ([`crate::people::plants`]): list, read, create or
//! change. All need the admin token. A change of a plant's rules publishes a new plan version
//! to the edges of its lines (the rules go down with the plan) and wakes their long polls.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath};
use super::policy::{Principal, Routes, needs};
use crate::people::plants::Plant;
use crate::people::roles::Permission;
use crate::store::people::Record;
use axum::extract::State;
use protocol::NegativeStock;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub fn routes() -> Routes {
    use Permission::{PlantsManage, PlantsRead};
    Routes::new()
        .get("/api/v1/plants", needs(PlantsRead), list_plants)
        .get(
            "/api/v1/plants/{plant}",
            needs(PlantsRead).on(Record::Plant, "plant"),
            get_plant,
        )
        .put(
            "/api/v1/plants/{plant}",
            needs(PlantsManage).on(Record::Plant, "plant"),
            put_plant,
        )
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PlantList {
    pub plants: Vec<Plant>,
}

/// The body of `PUT /api/v1/plants/{plant}`: absent rules keep their value (a new plant
/// starts with the defaults: no tolerance, counts kept, negative stock flagged).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutPlant {
    pub name: String,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub over_tolerance_pct: Option<Decimal>,
    #[serde(default)]
    pub stop_counting_when_complete: Option<bool>,
    #[serde(default)]
    pub negative_stock: Option<NegativeStock>,
}

async fn list_plants(
    State(state): State<AppState>,
    p: Principal,
) -> Result<axum::Json<PlantList>, AppError> {
    let mut plants = state.store().plants().await?;
    plants.retain(|plant| p.read.contains(&plant.plant));
    Ok(axum::Json(PlantList { plants }))
}

async fn get_plant(
    State(state): State<AppState>,
    ApiPath(plant): ApiPath<String>,
) -> Result<axum::Json<Plant>, AppError> {
    state
        .store()
        .plant(plant.clone())
        .await?
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("no plant {plant:?}")))
}

async fn put_plant(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PutPlant>,
) -> Result<axum::Json<Plant>, AppError> {
    let existing = state.store().plant(id.clone()).await?;
    // A new plant is the company's to make: only someone who changes every plant.
    if existing.is_none() && p.write != crate::people::users::PlantScope::All {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "only an administrator creates plants",
        ));
    }
    let mut plant = existing.unwrap_or_else(|| Plant::new(&id, &body.name));
    plant.name = body.name;
    if let Some(pct) = body.over_tolerance_pct {
        plant.over_tolerance_pct = pct;
    }
    if let Some(stop) = body.stop_counting_when_complete {
        plant.stop_counting_when_complete = stop;
    }
    if let Some(negative) = body.negative_stock {
        plant.negative_stock = negative;
    }
    plant
        .check()
        .map_err(|problems| AppError::bad_request(problems.join("; ")))?;
    let changed = state.store().put_plant(plant).await?;
    for plan in &changed.plans {
        state.notify_plan(&plan.edge_id, plan.version);
        tracing::info!(edge_id = %plan.edge_id, version = %plan.version, "published plan");
    }
    Ok(axum::Json(changed.value))
}

/// Adds this module's paths and schemas to the OpenAPI document.
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let id = json!({"name": "plant", "in": "path", "required": true, "schema": {"type": "string"}});
    let plant = json!({"description": "the plant", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Plant"}}}});
    let paths = json!({
        "/api/v1/plants": {"get": {"summary": "every plant and its rules for the floor", "tags": ["people"],
            "responses": {"200": {"description": "{\"plants\": [Plant...]}"}, "401": error}}},
        "/api/v1/plants/{plant}": {
            "get": {"summary": "one plant", "tags": ["people"], "parameters": [id], "responses": {"200": plant, "401": error, "404": error}},
            "put": {"summary": "create or change a plant", "tags": ["people"], "parameters": [id],
                "description": "A line belongs to a plant (`PUT /api/v1/lines/{line}` with `plant`; existing lines belong to `default`). The plant's rules go down with every plan of its lines: `over_tolerance_pct` (good parts and issued material beyond the order plus this percentage are over-production and over-issue: a warning on the order and on the terminal), `stop_counting_when_complete` (counts at a complete order's stations are kept unassigned), `negative_stock` (`refuse`: the edge refuses a lot central holds no stock of; `flag`, the default: the issue is booked and the negative balance flagged on the ledger and the order; `allow`). A change publishes a new plan version to the edges concerned.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PlantInput"}}}},
                "responses": {"200": plant, "400": error, "401": error}}}
    });
    let schemas = json!({
        "PlantInput": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"},
            "over_tolerance_pct": {"type": "string", "description": "a decimal from 0 to 1000"},
            "stop_counting_when_complete": {"type": "boolean"},
            "negative_stock": {"type": "string", "enum": ["refuse", "flag", "allow"]}}},
        "Plant": {"type": "object", "properties": {
            "plant": {"type": "string"}, "name": {"type": "string"},
            "over_tolerance_pct": {"type": "string"},
            "stop_counting_when_complete": {"type": "boolean"},
            "negative_stock": {"type": "string", "enum": ["refuse", "flag", "allow"]}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
