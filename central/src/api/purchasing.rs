//! Purchase orders (issue 17): MRP's purchase requisitions bought through their approval,
//! and the orders, closed by goods received at the edges.
//!
//! Who may use what:
//! - `mrp.firm` (planners, plant managers) buys a run's requisition: through the
//!   `purchase_requisition` workflow when that form has one (the order is placed when it is
//!   approved), at once otherwise;
//! - `mrp.read` reads the orders and their receipts.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiPath, ApiQuery};
use super::policy::{Principal, Routes, needs};
use crate::people::roles::Permission;
use crate::store::purchasing::{Bought, BuyRefusal, MAX_ORDERS, PoQuery, PoState, PurchaseOrder};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};

pub fn routes() -> Routes {
    Routes::new()
        .post(
            "/api/v1/mrp/runs/{run}/requisitions/{planned_order}/buy",
            needs(Permission::MrpFirm),
            buy,
        )
        .get("/api/v1/purchase-orders", needs(Permission::MrpRead), list)
        .get(
            "/api/v1/purchase-orders/{number}",
            needs(Permission::MrpRead),
            one,
        )
}

/// `POST /api/v1/mrp/runs/{run}/requisitions/{planned_order}/buy`.
async fn buy(
    State(state): State<AppState>,
    p: Principal,
    ApiPath((run, planned_order)): ApiPath<(u64, String)>,
) -> Result<(StatusCode, axum::Json<Bought>), AppError> {
    protocol::bounds::check_id("planned_order", &planned_order)
        .map_err(|v| AppError::bad_request(v.to_string()))?;
    let by = p.login().unwrap_or("admin").to_owned();
    let bought = state
        .store()
        .buy_requisition(run, planned_order, by, Utc::now())
        .await?
        .map_err(|r| match r {
            BuyRefusal::NotFound(what) => AppError::not_found(what),
            BuyRefusal::Refused { code, message } => AppError::new(
                StatusCode::CONFLICT,
                code,
                protocol::bounds::sanitize_text(&message),
            ),
        })?;
    let status = match &bought {
        Bought::Ordered { created: true, .. } => StatusCode::CREATED,
        Bought::Ordered { created: false, .. } => StatusCode::OK,
        Bought::AwaitingApproval { .. } => StatusCode::ACCEPTED,
    };
    Ok((status, axum::Json(bought)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    supplier: Option<String>,
    item: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Orders {
    purchase_orders: Vec<PurchaseOrder>,
}

/// `GET /api/v1/purchase-orders`: newest first.
async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<Orders>, AppError> {
    let po_state = q
        .state
        .as_deref()
        .map(|s| {
            PoState::parse(s).ok_or_else(|| {
                AppError::bad_request(format!("state {s:?}: expected open or received"))
            })
        })
        .transpose()?;
    for (name, value) in [("supplier", &q.supplier), ("item", &q.item)] {
        if let Some(v) = value {
            protocol::bounds::check_id(name, v)
                .map_err(|v| AppError::bad_request(v.to_string()))?;
        }
    }
    let purchase_orders = state
        .store()
        .purchase_orders(PoQuery {
            state: po_state,
            supplier: q.supplier,
            item: q.item,
            limit: q.limit.unwrap_or(100).clamp(1, MAX_ORDERS),
        })
        .await?;
    Ok(axum::Json(Orders { purchase_orders }))
}

/// `GET /api/v1/purchase-orders/{number}`: one order with its receipts.
async fn one(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
) -> Result<axum::Json<PurchaseOrder>, AppError> {
    protocol::bounds::check_id("number", &number)
        .map_err(|v| AppError::bad_request(v.to_string()))?;
    state
        .store()
        .purchase_order(number.clone())
        .await?
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("no purchase order {number}")))
}

/// Purchasing's routes and schemas in the OpenAPI document.
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let text = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    let q = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description});
    let order = json!({"$ref": "#/components/schemas/PurchaseOrder"});
    let paths = json!({
        "/api/v1/mrp/runs/{run}/requisitions/{planned_order}/buy": {"post": {
            "summary": "buy a run's purchase requisition: an order to the supplier, through its approval", "tags": ["erp"],
            "parameters": [{"name": "run", "in": "path", "required": true, "schema": {"type": "integer"}}, text("planned_order")],
            "description": "The supplier is the planned order's (the item's preferred one), else the cheapest with terms for the item (409 no_supplier when none). When the purchase_requisition form has a workflow, the requisition is a request with the amount (quantity × the supplier's price): 202 {outcome: awaiting_approval, request} while it waits, and the order is placed when it is approved; a step no condition asks for, or a rule, places it at once. 201 {outcome: ordered, purchase_order, created: true}; asked again, 200 with the same order (created: false), never a second one. 409 not_a_requisition for a make order. Needs mrp.firm.",
            "responses": {"200": {"description": "the order made before"}, "201": {"description": "the order placed"}, "202": {"description": "waiting on its approval"}, "400": error, "401": error, "403": error, "404": error, "409": error}}},
        "/api/v1/purchase-orders": {"get": {"summary": "purchase orders, newest first", "tags": ["erp"],
            "parameters": [q("state", "open or received"), q("supplier", "a supplier's code"), q("item", "an item"),
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ORDERS, "default": 100}}],
            "responses": {"200": {"description": "{purchase_orders: [PurchaseOrder...]}"}, "400": error, "401": error, "403": error}}},
        "/api/v1/purchase-orders/{number}": {"get": {"summary": "one purchase order with the receipts booked against it", "tags": ["erp"],
            "parameters": [text("number")],
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": order}}}, "400": error, "401": error, "403": error, "404": error}}}
    });
    let schemas = json!({
        "PurchaseOrder": {"type": "object", "properties": {
            "number": {"type": "string", "description": "PO000001: what the supplier's label carries in GS1 AI 400"},
            "supplier": {"type": "string"}, "supplier_name": {"type": "string"}, "item": {"type": "string"},
            "qty": {"type": "string", "description": "in the item's base unit"}, "uom": {"type": "string"},
            "price": {"type": "string"}, "amount": {"type": "string"}, "currency": {"type": "string"},
            "plant": {"type": "string", "description": "only this plant's edges close it"},
            "ordered_on": {"type": "string", "format": "date"}, "due": {"type": "string", "format": "date", "description": "ordered_on plus the supplier's lead time"},
            "need_date": {"type": "string", "format": "date"}, "late": {"type": "boolean", "description": "due is after need_date"},
            "state": {"type": "string", "enum": ["open", "received"]},
            "received": {"type": "string", "description": "received so far, in the base unit; an edge's material_received books against the order its label names (AI 400), else the item's open order due first"},
            "request": {"type": "string"}, "planned_order": {"type": "string", "description": "run/planned order"},
            "created_by": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
            "receipts": {"type": "array", "items": {"type": "object", "properties": {
                "edge": {"type": "string"}, "seq": {"type": "integer"}, "lot": {"type": "string"},
                "qty": {"type": "string"}, "uom": {"type": "string"},
                "counted": {"type": "string", "description": "in the base unit; absent when the label's unit does not convert"},
                "at": {"type": "string", "format": "date-time"}}}}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
