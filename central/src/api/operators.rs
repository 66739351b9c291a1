//! The operator registry ([`crate::people::operators`]): list, read, create or update, CSV
//! import. All need the admin token. There is no delete: an operator leaves the plans with
//! `active: false` and stays in the registry.
//!
//! A change publishes a new plan version to every edge that has a plan, and wakes their long
//! polls after the commit. PINs are hashed off the runtime and never answered, logged or
//! quoted in an error; answers say `has_pin`.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, CsvBody};
use super::policy::{Routes, needs};
use crate::people::operators::{
    self, Operator, OperatorUpdate, Pin, PinUpdate, check_fields, dedup_skills,
};
use crate::people::roles::Permission;
use crate::store::operators::RegistryRejection;
use crate::store::work_orders::Changed;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};

pub fn routes() -> Routes {
    use Permission::{OperatorsManage, OperatorsRead};
    Routes::new()
        .get("/api/v1/operators", needs(OperatorsRead), list_operators)
        .get(
            "/api/v1/operators/{badge}",
            needs(OperatorsRead),
            get_operator,
        )
        .put(
            "/api/v1/operators/{badge}",
            needs(OperatorsManage),
            put_operator,
        )
        .post(
            "/api/v1/import/operators",
            needs(OperatorsManage),
            import_operators,
        )
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OperatorList {
    pub operators: Vec<Operator>,
}

/// The body of `PUT /api/v1/operators/{badge}`. Not `Debug`: it holds a PIN.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutOperator {
    pub name: String,
    #[serde(default)]
    pub skills: Vec<String>,
    /// 4 to 12 digits, as a string. Read as any JSON value, so that a PIN of the wrong type
    /// is refused without serde quoting it.
    #[serde(default)]
    pub pin: Option<serde_json::Value>,
    #[serde(default)]
    pub clear_pin: bool,
    /// Absent: as it was (a new operator is active).
    pub active: Option<bool>,
}

fn task_failed(e: tokio::task::JoinError) -> AppError {
    AppError::internal(format!("central's worker task failed: {e}"))
}

fn rejection(r: RegistryRejection) -> AppError {
    AppError::new(StatusCode::CONFLICT, "registry_full", r.to_string())
}

/// Publishes the plan versions a change made to the waiting long polls.
fn notify<T>(state: &AppState, changed: Changed<T>) -> T {
    for plan in &changed.plans {
        state.notify_plan(&plan.edge_id, plan.version);
        tracing::info!(edge_id = %plan.edge_id, version = %plan.version, "published plan with the operator registry");
    }
    changed.value
}

async fn list_operators(
    State(state): State<AppState>,
) -> Result<axum::Json<OperatorList>, AppError> {
    let mut operators = state.store().operators().await?;
    let people = badges(&state).await?;
    for operator in &mut operators {
        operator.user = people.get(&operator.badge).cloned();
    }
    Ok(axum::Json(OperatorList { operators }))
}

/// Badge → login of the users who have one: the people behind the badges.
async fn badges(state: &AppState) -> Result<std::collections::HashMap<String, String>, AppError> {
    Ok(state
        .store()
        .users()
        .await?
        .into_iter()
        .filter_map(|u| u.badge.map(|b| (b, u.login)))
        .collect())
}

async fn get_operator(
    State(state): State<AppState>,
    ApiPath(badge): ApiPath<String>,
) -> Result<axum::Json<Operator>, AppError> {
    let people = badges(&state).await?;
    state
        .store()
        .operator(badge.clone())
        .await?
        .map(|mut operator| {
            operator.user = people.get(&operator.badge).cloned();
            axum::Json(operator)
        })
        .ok_or_else(|| {
            AppError::not_found(format!(
                "no operator with badge {:?}; expected one created with put /api/v1/operators/{{badge}}",
                protocol::bounds::sanitize(&badge, 64, false)
            ))
        })
}

/// `PUT /api/v1/operators/{badge}`: creates or updates an operator; 400 names every field out
/// of bounds.
async fn put_operator(
    State(state): State<AppState>,
    ApiPath(badge): ApiPath<String>,
    ApiJson(body): ApiJson<PutOperator>,
) -> Result<axum::Json<Operator>, AppError> {
    let skills = dedup_skills(body.skills);
    let mut problems: Vec<String> = check_fields(&badge, &body.name, &skills)
        .iter()
        .map(|v| protocol::bounds::sanitize_text(&v.to_string()))
        .collect();
    let pin = match (&body.pin, body.clear_pin) {
        (Some(_), true) => {
            problems.push("pin and clear_pin: expected one or the other".into());
            None
        }
        (Some(value), false) => match Pin::from_json(value) {
            Ok(pin) => Some(pin),
            Err(problem) => {
                problems.push(format!("pin: {problem}"));
                None
            }
        },
        (None, _) => None,
    };
    if !problems.is_empty() {
        return Err(AppError::bad_request(format!(
            "the operator is not valid: {}",
            problems.join("; ")
        )));
    }
    let pin = match pin {
        Some(pin) => PinUpdate::Set(
            tokio::task::spawn_blocking(move || pin.hash())
                .await
                .map_err(task_failed)?
                .map_err(AppError::internal)?,
        ),
        None if body.clear_pin => PinUpdate::Clear,
        None => PinUpdate::Keep,
    };
    let update = OperatorUpdate {
        badge,
        name: body.name,
        skills,
        pin,
        active: body.active,
    };
    let changed = state
        .store()
        .put_operator(update, Utc::now())
        .await?
        .map_err(rejection)?;
    let operator = notify(&state, changed);
    tracing::info!(badge = %operator.badge, active = operator.active, has_pin = operator.has_pin, "operator registry changed");
    Ok(axum::Json(operator))
}

/// `POST /api/v1/import/operators`: `badge,name,skills,pin` (and optional `active`), all or
/// nothing, every bad row named.
async fn import_operators(
    State(state): State<AppState>,
    CsvBody(body): CsvBody,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let updates = tokio::task::spawn_blocking(move || {
        let rows = operators::parse_csv(&body)
            .map_err(|(rows, total)| AppError::invalid_csv(rows, total))?;
        operators::hash_rows(rows, threads).map_err(AppError::internal)
    })
    .await
    .map_err(task_failed)??;
    let changed = state
        .store()
        .import_operators(updates, Utc::now())
        .await?
        .map_err(rejection)?;
    let n = notify(&state, changed);
    tracing::info!(rows = n, "imported operators");
    Ok(axum::Json(
        serde_json::json!({"kind": "operators", "rows": n}),
    ))
}

/// The OpenAPI paths and schemas of these routes, added to [`super::openapi::document`].
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let badge =
        json!({"name": "badge", "in": "path", "required": true, "schema": {"type": "string"}});
    let operator = json!({"description": "the operator", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Operator"}}}});
    let paths = json!({
        "/api/v1/operators": {"get": {"summary": "the operator registry, active or not, by badge", "tags": ["people"],
            "responses": {"200": {"description": "{\"operators\": [Operator...]}", "content": {"application/json": {"schema": {"type": "object", "properties": {"operators": {"type": "array", "items": {"$ref": "#/components/schemas/Operator"}}}}}}}, "401": error}}},
        "/api/v1/operators/{badge}": {
            "get": {"summary": "one operator", "tags": ["people"], "parameters": [badge], "responses": {"200": operator, "401": error, "404": error}},
            "put": {"summary": "create or update an operator", "tags": ["people"], "parameters": [badge],
                "description": "Every plan central publishes carries the active operators (badge, name, skills, PIN hash), and a change publishes a new plan version to every edge that has a plan: a badge not in the plan is refused at the line. There is no delete: `active: false` takes the operator out of the plans. The PIN is stored only as an argon2id hash (m=8192 KiB, t=2, p=1) and is never answered.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OperatorInput"}}}},
                "responses": {"200": operator, "400": error, "401": error,
                    "409": {"description": "more active operators than a plan carries (registry_full)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
        "/api/v1/import/operators": {"post": {"summary": "import operators from csv, all or nothing", "tags": ["people"],
            "description": "Header line, then rows. Columns: `badge,name,skills[,pin][,active]`. Operators are created or updated by badge; skills are separated by `;`; an empty or absent pin keeps the operator's PIN (a new one has none); active is true or false, empty or absent meaning true. A bad PIN is named by line, never quoted.",
            "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
            "responses": {"200": {"description": "{\"kind\": \"operators\", \"rows\": N}"}, "400": {"$ref": "#/components/responses/InvalidCsv"}, "401": error,
                "409": {"description": "more active operators than a plan carries (registry_full)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}}
    });
    let schemas = json!({
        "OperatorInput": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "description": "printable text, at most 1024 bytes"},
            "skills": {"type": "array", "items": {"type": "string"}, "description": "ids (1 to 64 bytes, printable); an operation naming a skill starts only for an operator who has it; `supervisor` pairs terminals and approves overrides"},
            "pin": {"type": "string", "pattern": "^[0-9]{4,12}$", "description": "sets the PIN; signing in then takes badge and PIN"},
            "clear_pin": {"type": "boolean", "description": "removes the PIN (not with pin)"},
            "active": {"type": "boolean", "description": "absent: as it was; a new operator is active"}}},
        "Operator": {"type": "object", "required": ["badge", "name", "skills", "active", "has_pin", "updated_at"], "properties": {
            "badge": {"type": "string"}, "name": {"type": "string"},
            "skills": {"type": "array", "items": {"type": "string"}},
            "active": {"type": "boolean"}, "has_pin": {"type": "boolean"},
            "updated_at": {"type": "string", "format": "date-time"},
            "user": {"type": "string", "description": "the login of the user whose badge this is, if any"}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
