//! `GET /api/v1/openapi.json`: a hand-written OpenAPI 3.0 document of the ERP routes (import,
//! calendar, MRP run, inventory and genealogy), the admin edge routes, the quarantine and the
//! operator registry. Hand-written rather than generated, so that
//! no derive crate is needed; a test checks that every documented path is routed.

use super::policy::{Routes, SIGNED_IN};
use serde_json::{Value, json};

pub fn routes() -> Routes {
    Routes::new().get("/api/v1/openapi.json", SIGNED_IN, openapi_json)
}

async fn openapi_json() -> axum::Json<Value> {
    axum::Json(document())
}

fn csv_import(kind: &str, columns: &str, semantics: &str) -> Value {
    json!({
        "post": {
            "summary": format!("import {kind} from csv, all or nothing"),
            "description": format!("Header line, then rows. Columns: `{columns}`. {semantics}"),
            "tags": ["erp"],
            "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
            "responses": {
                "200": {"description": "imported", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportSummary"}}}},
                "400": {"$ref": "#/components/responses/InvalidCsv"},
                "401": {"$ref": "#/components/responses/Error"}
            }
        }
    })
}

fn inventory_filters() -> Value {
    json!([
        {"name": "item", "in": "query", "required": false, "schema": {"type": "string"}},
        {"name": "lot", "in": "query", "required": false, "schema": {"type": "string"}},
        {"name": "location", "in": "query", "required": false, "schema": {"type": "string"}},
        {"name": "at", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}, "description": "RFC 3339 moment (event time, inclusive); everything booked so far if absent"}
    ])
}

/// Adds a module's `paths` and `components.schemas` to the document (each an object).
pub(super) fn extend(document: &mut Value, paths: &Value, schemas: &Value) {
    if let (Some(target), Some(source)) = (document["paths"].as_object_mut(), paths.as_object()) {
        target.extend(source.clone());
    }
    if let (Some(target), Some(source)) = (
        document["components"]["schemas"].as_object_mut(),
        schemas.as_object(),
    ) {
        target.extend(source.clone());
    }
}

pub fn document() -> Value {
    let error_ref = json!({"$ref": "#/components/responses/Error"});
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "mes central",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Central's API. A caller is the bootstrap admin token (`MES_ADMIN_TOKEN`, the first administrator), a personal API token (`mes_pat_…`, post /api/v1/me/tokens), an edge's token (the sync routes only) or a signed-in page session (the `mes_session` cookie from post /api/v1/session; its changes carry `x-csrf-token`). Every operation names the permission it needs in `x-permission` (`public`, `signed_in`, `edge` or a permission of docs/ROLES.md) and, where its path names a record of a plant, `x-record-rule`: a record of a plant outside the caller's answers 404. No credentials or bad ones: 401; a known caller without the permission: 403 naming it. Every error is `{\"error\": {\"code\", \"message\"}}`, with `details` for csv imports."
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/import/items": csv_import("items",
                "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock[,scrap_pct][,tracking][,shelf_life_days][,phantom][,gtin]",
                "kind: make|buy; lot_size_rule: lfl|fixed|min|multiple; tracking: none|lot|serial; phantom: true|false (make items only); gtin: 8, 12, 13 or 14 digits with a valid GS1 check digit, stored as 14, unique across items. Created or updated by item; an absent tracking, shelf_life_days, phantom or gtin column keeps the item's value."),
            "/api/v1/import/boms": csv_import("boms", "parent,component,qty_per,scrap_pct[,uom]",
                "The whole bom of every parent named: where it differs from the revision in effect today it becomes a new released revision effective today (a parent's first: since 1970-01-01; listed in the answer's `revisions`; the same content is listed in `unchanged`). Items must exist, parents be make items, the bom stay acyclic; qty_per in uom (default the component's base unit) is converted to the base unit."),
            "/api/v1/import/inventory": csv_import("inventory", "item,lot,location,qty[,uom]",
                "Sets the quantity of (item, lot, location); 0 removes it. The location must exist (put /api/v1/warehouses/{warehouse}/locations/{location}); lot- and serial-tracked items need a lot, a serial's qty is 0 or 1; phantoms are never stocked."),
            "/api/v1/import/demands": csv_import("demands", "item,qty,due_date,reference[,uom]",
                "Independent demand, created or updated by reference; qty 0 removes it."),
            "/api/v1/import/receipts": csv_import("receipts", "item,qty,due_date,reference[,uom]",
                "Scheduled receipts (open purchase and work orders), by reference; qty 0 removes it. Not for phantoms."),
            "/api/v1/import/uom_conversions": csv_import("uom_conversions", "item,from_uom,to_uom,factor",
                "1 from_uom = factor to_uom, by (item, from_uom, to_uom); factor 0 removes it."),
            "/api/v1/import/suppliers": csv_import("suppliers", "supplier,item,lead_time_days,price,preferred",
                "Supplier terms by (supplier, item); an unknown supplier is created. preferred (true|false, empty false): at most one per item in a file, and it makes the item's other suppliers not preferred."),
            "/api/v1/import/locations": csv_import("locations", "warehouse,location,description",
                "Locations by location id, unique across warehouses; an unknown warehouse is created."),
            "/api/v1/mrp/run": {
                "post": {
                    "summary": "regenerative mrp run over the stored master data",
                    "tags": ["erp"],
                    "parameters": [
                        {"name": "as_of", "in": "query", "required": false, "schema": {"type": "string", "format": "date"}, "description": "planning date; today (UTC) if absent"},
                        {"name": "pegging", "in": "query", "required": false, "schema": {"type": "string", "enum": ["single", "full"], "default": "single"}, "description": "dependent demand pegged to the parent planned order (single) or to the independent demand through every level (full)"}
                    ],
                    "responses": {
                        "200": {"description": "the plan", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MrpPlan"}}}},
                        "401": error_ref,
                        "422": {"description": "the master data cannot be planned (code mrp_failed)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                }
            },
            "/api/v1/calendar": {
                "get": {
                    "summary": "the working calendar", "tags": ["erp"],
                    "responses": {"200": {"description": "calendar", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Calendar"}}}}, "401": error_ref}
                },
                "put": {
                    "summary": "replace the working calendar", "tags": ["erp"],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Calendar"}}}},
                    "responses": {"200": {"description": "calendar", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Calendar"}}}}, "400": error_ref, "401": error_ref}
                }
            },
            "/api/v1/inventory": {
                "get": {"summary": "on-hand by item, lot and location at a moment", "tags": ["inventory"],
                    "description": "Sums the stock ledger up to `at` (event time, inclusive). Zero balances are left out.",
                    "parameters": inventory_filters(),
                    "responses": {"200": {"description": "on-hand", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OnHand"}}}}, "400": error_ref, "401": error_ref}}
            },
            "/api/v1/inventory/ledger": {
                "get": {"summary": "stock ledger rows, in entry order", "tags": ["inventory"],
                    "parameters": inventory_filters().as_array().into_iter().flatten().cloned()
                        .chain([json!({"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 10000}})]).collect::<Vec<_>>(),
                    "responses": {"200": {"description": "{\"entries\": [LedgerEntry...]}", "content": {"application/json": {"schema": {"type": "object", "properties": {"entries": {"type": "array", "items": {"$ref": "#/components/schemas/LedgerEntry"}}}}}}}, "400": error_ref, "401": error_ref}}
            },
            "/api/v1/inventory/reversals": {
                "post": {"summary": "reverse a ledger entry (the only correction; the ledger is append-only)", "tags": ["inventory"],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["entry_id"], "properties": {"entry_id": {"type": "integer"}, "note": {"type": "string"}}}}}},
                    "responses": {"201": {"description": "the reversal entry", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LedgerEntry"}}}},
                        "400": error_ref, "401": error_ref, "404": error_ref,
                        "409": {"description": "already reversed (already_reversed) or itself a reversal (is_reversal)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
            },
            "/api/v1/genealogy/{lot}": {
                "get": {"summary": "trace a lot through every level", "tags": ["inventory"],
                    "description": "Backward: the lots it was made of (lot_produced.consumed_lots and lots issued to the work order that produced it), their lots, and so on; forward: the lots made of it. Each lot appears once, at its shortest depth; cycles end.",
                    "parameters": [{"name": "lot", "in": "path", "required": true, "schema": {"type": "string"}},
                        {"name": "direction", "in": "query", "required": false, "schema": {"type": "string", "enum": ["backward", "forward"], "default": "backward"}}],
                    "responses": {"200": {"description": "the trace", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Genealogy"}}}}, "400": error_ref, "401": error_ref}}
            },
            "/api/v1/openapi.json": {
                "get": {"summary": "this document", "tags": ["meta"], "responses": {"200": {"description": "OpenAPI 3 document"}, "401": error_ref}}
            },
            "/api/v1/edges": {
                "get": {"summary": "list edges", "tags": ["edges"], "responses": {"200": {"description": "{\"edges\": [...]}"}, "401": error_ref}},
                "post": {"summary": "create an edge or rotate its token", "tags": ["edges"],
                    "description": "An edge serves one plant: `plant` (absent: the caller's plant when they have exactly one, else `default`). Its lines must be of that plant. Rotating the token of another plant's edge answers 404.",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["edge_id"], "properties": {"edge_id": {"type": "string"}, "plant": {"type": "string"}}}}}},
                    "responses": {"201": {"description": "{edge_id, token}"}, "400": error_ref, "401": error_ref}}
            },
            "/api/v1/edges/{edge_id}/revoke": {
                "post": {"summary": "revoke an edge's token", "tags": ["edges"], "parameters": [{"$ref": "#/components/parameters/EdgeId"}], "responses": {"204": {"description": "revoked"}, "401": error_ref, "404": error_ref}}
            },
            "/api/v1/edges/{edge_id}/events": {
                "get": {"summary": "an edge's events", "tags": ["edges"], "parameters": [{"$ref": "#/components/parameters/EdgeId"},
                    {"name": "from", "in": "query", "schema": {"type": "integer"}}, {"name": "to", "in": "query", "schema": {"type": "integer"}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "{\"events\": [...]}"}, "401": error_ref, "404": error_ref}}
            },
            "/api/v1/edges/{edge_id}/plans": {
                "post": {"summary": "publish the next plan version of an edge", "tags": ["edges"], "parameters": [{"$ref": "#/components/parameters/EdgeId"}], "responses": {"201": {"description": "the plan"}, "401": error_ref, "404": error_ref}}
            },
            "/api/v1/edges/{edge_id}/plan": {
                "get": {"summary": "an edge's latest plan", "tags": ["edges"], "parameters": [{"$ref": "#/components/parameters/EdgeId"}], "responses": {"200": {"description": "the plan"}, "401": error_ref, "404": error_ref}}
            }
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the admin token, a personal API token or an edge's token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "mes_session", "description": "a signed-in page; changes also carry the session's `x-csrf-token` header"}
            },
            "parameters": {"EdgeId": {"name": "edge_id", "in": "path", "required": true, "schema": {"type": "string"}}},
            "responses": {
                "Error": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "InvalidCsv": {"description": "bad rows (code invalid_csv) or a wrong content type (bad_request); nothing was imported", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "details": {"type": "array", "items": {"$ref": "#/components/schemas/RowError"}}}}}},
                "RowError": {"type": "object", "required": ["line", "column", "message"], "properties": {
                    "line": {"type": "integer", "description": "1-based line of the csv text"},
                    "column": {"type": "string", "description": "column name; empty when the whole row is wrong"},
                    "message": {"type": "string"}}},
                "ImportSummary": {"type": "object", "required": ["kind", "rows"], "properties": {
                    "kind": {"type": "string", "enum": ["items", "boms", "inventory", "demands", "receipts", "uom_conversions", "suppliers", "locations"]}, "rows": {"type": "integer"},
                    "revisions": {"type": "array", "description": "boms: the released revisions made", "items": {"type": "object", "properties": {"parent": {"type": "string"}, "revision": {"type": "string"}, "effective_from": {"type": "string", "format": "date"}}}},
                    "unchanged": {"type": "array", "description": "boms: parents whose bom in effect today already had this content", "items": {"type": "string"}}}},
                "Calendar": {"type": "object", "required": ["working_days"], "properties": {
                    "working_days": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
                    "holidays": {"type": "array", "items": {"type": "string", "format": "date"}}}},
                "MrpPlan": {"type": "object", "required": ["planned_orders", "messages"], "properties": {
                    "planned_orders": {"type": "array", "items": {"$ref": "#/components/schemas/PlannedOrder"}},
                    "messages": {"type": "array", "items": {"$ref": "#/components/schemas/ActionMessage"}}}},
                "PlannedOrder": {"type": "object", "required": ["reference", "item", "kind", "qty", "start", "due", "pegged_to"], "properties": {
                    "reference": {"type": "string", "description": "PLN-000001…, in output order"},
                    "item": {"type": "string"},
                    "kind": {"type": "string", "enum": ["make", "buy"], "description": "make: planned work order; buy: purchase requisition"},
                    "qty": {"type": "number"},
                    "start": {"type": "string", "format": "date"},
                    "due": {"type": "string", "format": "date"},
                    "pegged_to": {"type": "array", "items": {"type": "string"}, "description": "demand references, safety_stock:ITEM, or parent planned-order references"},
                    "supplier": {"type": "string", "description": "buy items: the preferred supplier, whose lead time offset the order; absent when none"}}},
                "OnHand": {"type": "object", "required": ["at", "on_hand"], "properties": {
                    "at": {"type": "string", "format": "date-time"},
                    "on_hand": {"type": "array", "items": {"type": "object", "required": ["item", "lot", "location", "uom", "qty"], "properties": {
                        "item": {"type": "string"}, "lot": {"type": "string"}, "location": {"type": "string"}, "uom": {"type": "string"},
                        "qty": {"type": "string", "description": "exact decimal"}}}}}},
                "LedgerEntry": {"type": "object", "required": ["entry_id", "item", "lot", "location", "qty_delta", "uom", "at", "reason"], "properties": {
                    "entry_id": {"type": "integer"}, "item": {"type": "string"}, "lot": {"type": "string"}, "location": {"type": "string"},
                    "qty_delta": {"type": "string", "description": "exact decimal, signed"}, "uom": {"type": "string"},
                    "edge_id": {"type": "string", "nullable": true}, "seq": {"type": "integer", "nullable": true},
                    "at": {"type": "string", "format": "date-time"},
                    "reason": {"type": "string", "enum": ["received", "issued", "moved_out", "moved_in", "produced", "reversal", "opening", "count", "shipped"]},
                    "work_order": {"type": "string", "nullable": true}, "reverses": {"type": "integer", "nullable": true}, "note": {"type": "string", "nullable": true}}},
                "Genealogy": {"type": "object", "required": ["lot", "direction", "nodes", "links"], "properties": {
                    "lot": {"type": "string"}, "direction": {"type": "string", "enum": ["backward", "forward"]},
                    "nodes": {"type": "array", "items": {"type": "object", "properties": {"lot": {"type": "string"}, "item": {"type": "string", "nullable": true}, "depth": {"type": "integer"}}}},
                    "links": {"type": "array", "items": {"type": "object", "properties": {"produced": {"type": "string"}, "consumed": {"type": "string"}}}}}},
                "ActionMessage": {"type": "object", "required": ["kind", "reference", "item", "date"], "properties": {
                    "kind": {"type": "string", "enum": ["expedite", "push_out", "cancel"]},
                    "reference": {"type": "string"}, "item": {"type": "string"},
                    "date": {"type": "string", "format": "date", "description": "new due date; for cancel the current one"}}}
            }
        }
    });
    super::work_orders::document_into(&mut document);
    super::trace::document_into(&mut document);
    super::master_data::document_into(&mut document);
    super::crm::document_into(&mut document);
    super::pipeline::document_into(&mut document);
    super::operators::document_into(&mut document);
    super::prices::document_into(&mut document);
    super::sales::document_into(&mut document);
    super::tickets::document_into(&mut document);
    super::deliveries::document_into(&mut document);
    super::oa::document_into(&mut document);
    super::purchasing::document_into(&mut document);
    super::plants::document_into(&mut document);
    super::floor::document_into(&mut document);
    super::losses::document_into(&mut document);
    super::spc::document_into(&mut document);
    super::audit::document_into(&mut document);
    edges_document_into(&mut document);
    mrp_document_into(&mut document);
    super::people::document_into(&mut document);
    super::kiosk::document_into(&mut document);
    floor_document_into(&mut document);
    policies_into(&mut document);
    document
}

/// Health, metrics and the edges' sync routes.
fn floor_document_into(document: &mut Value) {
    let error = json!({"$ref": "#/components/responses/Error"});
    let paths = json!({
        "/healthz": {"get": {"summary": "liveness", "tags": ["ops"], "responses": {"200": {"description": "{\"status\":\"ok\"}"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (OpenMetrics text); no secrets, no logins", "tags": ["ops"], "responses": {"200": {"description": "metrics"}}}},
        "/api/v1/sync/events": {"post": {"summary": "an edge's batch of events (protocol::EventBatch) → Ack", "tags": ["sync"], "responses": {"200": {"description": "acknowledged through a seq"}, "400": error, "401": error, "403": error, "409": error, "413": error}}},
        "/api/v1/sync/plan": {"get": {"summary": "long poll for the edge's plan newer than `have`", "tags": ["sync"], "responses": {"200": {"description": "protocol::Plan"}, "204": {"description": "no newer plan"}, "401": error, "403": error}}},
        "/api/v1/sync/status": {"post": {"summary": "the edge's status (backlog, clock, stations) → StatusReply", "tags": ["sync"], "responses": {"200": {"description": "protocol::StatusReply"}, "400": error, "401": error, "403": error}}}
    });
    if let (Some(target), Some(source)) = (document["paths"].as_object_mut(), paths.as_object()) {
        target.extend(source.clone());
    }
}

/// Writes every route's policy ([`super::routes`], the list the router is built from) into
/// its operation: `x-permission`, `x-record-rule`, `security` and the 401 and 403 answers.
fn policies_into(document: &mut Value) {
    use super::policy::Access;
    let error = json!({"$ref": "#/components/responses/Error"});
    for declared in super::routes().declared() {
        let method = declared.method.as_str().to_lowercase();
        // `get_mut`, not indexing: indexing would add an undocumented route (a page) to the
        // document as `null`.
        let Some(operation) = document["paths"]
            .get_mut(declared.path)
            .and_then(|p| p.get_mut(method.as_str()))
            .filter(|o| o.is_object())
        else {
            // Left for the route test to name: every declared API route must be documented.
            continue;
        };
        let (permission, security) = match declared.policy.access {
            Access::Public => ("public".to_owned(), json!([])),
            Access::SignedIn => (
                "signed_in".to_owned(),
                json!([{"bearer": []}, {"session": []}]),
            ),
            Access::Edge => ("edge".to_owned(), json!([{"bearer": []}])),
            Access::Needs(p) => (
                p.name().to_owned(),
                json!([{"bearer": []}, {"session": []}]),
            ),
        };
        operation["x-permission"] = json!(permission);
        operation["security"] = security;
        if let Some((record, param)) = declared.policy.record {
            operation["x-record-rule"] = json!(format!(
                "the {} named by {{{param}}} must be of one of the caller's plants",
                record.noun()
            ));
            operation["responses"]["404"] = error.clone();
        }
        if declared.policy.access != Access::Public {
            operation["responses"]["401"] = error.clone();
            operation["responses"]["403"] = error.clone();
        }
    }
}

/// Stored MRP runs, firming and purchase requisitions.
fn mrp_document_into(document: &mut Value) {
    let error_ref = json!({"$ref": "#/components/responses/Error"});
    let run_param = json!({"name": "run", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}, "description": "the `run` a post /api/v1/mrp/run answered"});
    document["paths"]["/api/v1/mrp/run"]["post"]["description"] = json!(
        "Plans, stores the run (central keeps the latest 50) and answers its plan with `run` and `as_of`. Open work orders (planned, released, in progress, on hold) are scheduled receipts for what they have still to put into stock (quantity less the `produced` ledger rows booked to them), so a firmed order is not planned again and produced stock is counted once."
    );
    let paths = json!({
        "/api/v1/mrp/runs/{run}": {
            "get": {"summary": "a stored mrp run", "tags": ["erp"], "parameters": [run_param],
                "responses": {"200": {"description": "the run's plan, when it was made, and the planned orders firmed so far", "content": {"application/json": {"schema": {"allOf": [{"$ref": "#/components/schemas/MrpPlan"}, {"type": "object", "properties": {
                    "created_at": {"type": "string", "format": "date-time"},
                    "firmed": {"type": "array", "items": {"$ref": "#/components/schemas/FirmedOrder"}}}}]}}}},
                    "400": error_ref, "401": error_ref, "404": error_ref}}
        },
        "/api/v1/mrp/runs/{run}/firm": {
            "post": {"summary": "firm planned orders into work orders", "tags": ["erp"], "parameters": [run_param],
                "description": "Each selected make planned order becomes a work order in state `planned` (item, quantity and due date of the planned order; routing and bom copied as for post /api/v1/work-orders), on `line` or else the line of the work center of the first operation of the item's routing. Release it (post /api/v1/work-orders/{id}/release) to send it down. All or none: a planned order that cannot become a work order (no routing, an unknown line, a purchase requisition named) refuses the request with 400 naming it. Idempotent per planned order: one firmed before answers the same work order with `created: false`, never a second order. With `all`, the run's purchase requisitions are listed in `skipped`.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "planned_orders": {"type": "array", "maxItems": 10000, "items": {"type": "string"}, "description": "references (PLN-000001…); give this or all"},
                    "all": {"type": "boolean", "description": "every make planned order of the run"},
                    "line": {"type": "string"},
                    "priority": {"type": "integer", "default": 0}}}}}},
                "responses": {"200": {"description": "what was firmed", "content": {"application/json": {"schema": {"type": "object", "required": ["run", "firmed", "skipped"], "properties": {
                    "run": {"type": "integer"},
                    "firmed": {"type": "array", "items": {"$ref": "#/components/schemas/FirmedOrder"}},
                    "skipped": {"type": "array", "items": {"type": "object", "properties": {"planned_order": {"type": "string"}, "reason": {"type": "string"}}}}}}}}},
                    "400": error_ref, "401": error_ref, "404": error_ref}}
        },
        "/api/v1/mrp/runs/{run}/requisitions": {
            "get": {"summary": "purchase requisitions of a run: what to buy, how much, by when", "tags": ["erp"], "parameters": [run_param],
                "responses": {"200": {"description": "the run's buy planned orders", "content": {"application/json": {"schema": {"type": "object", "required": ["run", "as_of", "requisitions"], "properties": {
                    "run": {"type": "integer"}, "as_of": {"type": "string", "format": "date"},
                    "requisitions": {"type": "array", "items": {"type": "object", "required": ["planned_order", "item", "qty", "uom", "need_date", "order_by", "late", "pegged_to"], "properties": {
                        "planned_order": {"type": "string"}, "item": {"type": "string"}, "qty": {"type": "number"}, "uom": {"type": "string"},
                        "need_date": {"type": "string", "format": "date", "description": "the planned order's due date"},
                        "order_by": {"type": "string", "format": "date", "description": "due date less the preferred supplier's (else the item's) lead time in working days"},
                        "late": {"type": "boolean", "description": "order_by is before the run's as_of"},
                        "days_late": {"type": "integer", "description": "calendar days from order_by to as_of; present when late"},
                        "supplier": {"type": "string"},
                        "pegged_to": {"type": "array", "items": {"type": "string"}}}}}}}}}},
                    "400": error_ref, "401": error_ref, "404": error_ref}}
        }
    });
    let schemas = json!({
        "FirmedOrder": {"type": "object", "required": ["planned_order", "work_order", "created"], "properties": {
            "planned_order": {"type": "string"}, "work_order": {"type": "string"},
            "created": {"type": "boolean", "description": "false when it had been firmed before"}}}
    });
    extend(document, &paths, &schemas);
    let mrp_plan = &mut document["components"]["schemas"]["MrpPlan"]["properties"];
    mrp_plan["run"] =
        json!({"type": "integer", "description": "the stored run (/api/v1/mrp/runs/{run})"});
    mrp_plan["as_of"] =
        json!({"type": "string", "format": "date", "description": "the planning date"});
    let planned = &mut document["components"]["schemas"]["PlannedOrder"];
    planned["required"] = json!([
        "reference",
        "item",
        "kind",
        "qty",
        "start",
        "due",
        "pegged_to",
        "late"
    ]);
    planned["properties"]["late"] = json!({"type": "boolean", "description": "start is before the planning date (as_of): the lead time does not fit before the due date"});
    planned["properties"]["days_late"] = json!({"type": "integer", "description": "calendar days from start to as_of; present when late"});
}

/// The quarantine and the edge summary (apart from [`document`]'s literal, which is at the
/// `json!` macro's recursion limit).
fn edges_document_into(document: &mut Value) {
    let error_ref = json!({"$ref": "#/components/responses/Error"});
    document["paths"]["/api/v1/edges"]["get"] = json!({"summary": "list edges", "tags": ["edges"],
        "responses": {"200": {"description": "{\"edges\": [EdgeSummary...]}", "content": {"application/json": {"schema": {"type": "object", "properties": {"edges": {"type": "array", "items": {"$ref": "#/components/schemas/EdgeSummary"}}}}}}}, "401": error_ref}});
    document["paths"]["/api/v1/edges.csv"] = json!({
        "get": {"summary": "the edge fleet as csv", "tags": ["edges"],
            "description": format!("The edges of the caller's plants, as get /api/v1/edges lists them, one row each with the header `{}`. Times in RFC 3339 UTC; cells a spreadsheet would read as a formula start with `'`.", super::admin::EDGES_CSV_COLUMNS.join(",")),
            "responses": {"200": {"description": "csv", "content": {"text/csv": {"schema": {"type": "string"}}}}, "401": error_ref, "403": error_ref}}
    });
    document["paths"]["/api/v1/unassigned"] = json!({
        "get": {"summary": "parts counted and booked to no work order, per edge and station", "tags": ["edges"],
            "description": "Summed from the stored production reports that name no work order (a station no order's routing names, a complete order the plant stops counting); quarantined events left out. The edge's last status shows its own running figures per station (/api/v1/edges/{edge_id}/stations).",
            "parameters": [{"name": "edge", "in": "query", "required": false, "schema": {"type": "string"}, "description": "one edge's; all edges' if absent"},
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "default": 1000, "maximum": 10000}}],
            "responses": {"200": {"description": "the unassigned counts", "content": {"application/json": {"schema": {"type": "object", "required": ["unassigned"], "properties": {"unassigned": {"type": "array", "items": {"type": "object",
                "required": ["edge_id", "good", "scrap", "reports", "last_at"], "properties": {
                "edge_id": {"type": "string"}, "station": {"type": "string", "nullable": true, "description": "null: the reports named no station"},
                "good": {"type": "integer"}, "scrap": {"type": "integer"}, "reports": {"type": "integer", "description": "production reports summed"},
                "last_at": {"type": "string", "format": "date-time", "description": "the latest report's event time"}}}}}}}}},
                "400": error_ref, "401": error_ref, "404": error_ref}}
    });
    document["paths"]["/api/v1/edges/{edge_id}/stations"] = json!({
        "get": {"summary": "what runs on an edge's stations, as its last status said", "tags": ["edges"], "parameters": [{"$ref": "#/components/parameters/EdgeId"}],
            "description": "Each status the edge sends (post /api/v1/sync/status, at most 1024 stations) replaces what the previous one said; `reported_at` says how fresh it is. 404 for an unknown edge or one that has sent no status yet.",
            "responses": {"200": {"description": "the stations", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReportedStations"}}}}, "401": error_ref, "404": error_ref}}
    });
    document["paths"]["/api/v1/edges/{edge_id}/events"] = json!({
        "get": {"summary": "an edge's events", "tags": ["edges"], "parameters": [{"$ref": "#/components/parameters/EdgeId"},
            {"name": "from", "in": "query", "schema": {"type": "integer"}}, {"name": "to", "in": "query", "schema": {"type": "integer"}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
            "description": "Events by seq, at most `limit` rows (default 1000, at most 10000). Quarantined events are left out of `events` (their bodies may not read as events; see /api/v1/quarantine) and their seqs listed in `quarantined`; to page on, continue after the highest seq of either.",
            "responses": {"200": {"description": "{\"events\": [Event...], \"quarantined\": [seq...]}", "content": {"application/json": {"schema": {"type": "object", "required": ["events", "quarantined"], "properties": {
                "events": {"type": "array", "items": {"type": "object"}},
                "quarantined": {"type": "array", "items": {"type": "integer"}}}}}}}, "400": error_ref, "401": error_ref, "404": error_ref}}
    });
    document["paths"]["/api/v1/edges/{edge_id}/plans"] = json!({
        "post": {"summary": "an administrator's raw plan for an edge the ERP does not feed", "tags": ["edges"], "parameters": [{"$ref": "#/components/parameters/EdgeId"}],
            "description": "Plans are made by the ERP from released work orders (post /api/v1/work-orders/{id}/release). This route is an administrator's tool for an edge the ERP does not feed (commissioning, a test line), and it cannot shadow ERP work orders: a plan naming a work order that exists in the ERP is refused with 409 erp_work_order, and any raw plan for an edge that runs ERP work orders (released, in progress or on hold on one of its lines) with 409 edge_runs_erp_orders; nothing is published then. The ERP's next plan for the edge (a release on one of its lines) replaces a raw plan. Body: the plan content (`work_orders`, optional `lots`, `gtins`). `operators` is ignored: every plan carries the active operators of central's registry (/api/v1/operators). A content out of protocol bounds (ids, quantities, duplicate work orders or lots, control characters, plc_parameters that are not a number, a boolean or a short text) is refused with 400 invalid_plan listing every violation by field.",
            "responses": {"201": {"description": "the plan"}, "400": error_ref, "401": error_ref, "404": error_ref,
                "409": {"description": "the plan would shadow ERP work orders (erp_work_order, edge_runs_erp_orders); nothing was published", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
    });
    document["components"]["schemas"]["OnHand"] = json!({"type": "object", "required": ["at", "on_hand"], "properties": {
        "at": {"type": "string", "format": "date-time"},
        "on_hand": {"type": "array", "items": {"type": "object", "required": ["item", "lot", "location", "uom", "qty"], "properties": {
            "item": {"type": "string"}, "lot": {"type": "string"}, "location": {"type": "string"}, "uom": {"type": "string"},
            "qty": {"type": "string", "nullable": true, "description": "exact decimal; null when the balance cannot be computed (see problem)"},
            "problem": {"type": "string", "description": "present only when qty is null: the ledger's entries sum beyond what a quantity holds, or an entry is not a quantity (only entries booked before central bounded events can do that); reversing the entries concerned clears it, since an entry and its reversal are left out of the sum"}}}}}});
    let paths = json!({
        "/api/v1/quarantine": {
                "get": {"summary": "events stored and acknowledged but not applied, newest first", "tags": ["edges"],
                    "description": "An event whose envelope (edge_id, seq) reads is a fact the edge committed: central stores and acknowledges it whatever its body says. One whose body does not read as an event (an unknown kind, a count beyond 2^64) or is out of bounds (a quantity not above zero or beyond 10^9, a time before 2000 or more than a day after central received it, an id over 64 bytes, control or invisible characters, an event over 64 KiB) is applied to nothing (no ledger, genealogy or work-order progress) and listed here with the reason. Counted per edge in /api/v1/edges (`quarantined`) and in the metric mes_central_events_quarantined_total{edge_id}.",
                    "parameters": [{"name": "edge", "in": "query", "required": false, "schema": {"type": "string"}, "description": "one edge's; all edges' if absent"},
                        {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "default": 100, "maximum": 1000}}],
                    "responses": {"200": {"description": "the quarantine", "content": {"application/json": {"schema": {"type": "object", "required": ["quarantined"], "properties": {"quarantined": {"type": "array", "items": {"$ref": "#/components/schemas/QuarantinedEvent"}}}}}}},
                        "400": error_ref, "401": error_ref, "404": error_ref}}
        }
    });
    let schemas = json!({
                "EdgeSummary": {"type": "object", "required": ["edge_id", "acked_seq", "plan_version_published", "plan_version_applied", "revoked", "quarantined"], "properties": {
                    "edge_id": {"type": "string"}, "acked_seq": {"type": "integer"},
                    "last_contact": {"type": "string", "format": "date-time", "nullable": true},
                    "reported_backlog": {"type": "integer", "nullable": true}, "clock_skew_ms": {"type": "integer", "nullable": true},
                    "agent_version": {"type": "string", "nullable": true},
                    "plan_version_published": {"type": "integer"}, "plan_version_applied": {"type": "integer"},
                    "revoked": {"type": "boolean"},
                    "quarantined": {"type": "integer", "description": "events of this edge in quarantine"},
                    "oldest_unsent_at": {"type": "string", "format": "date-time", "nullable": true, "description": "when the oldest event the edge has not had acknowledged was committed, on central's clock (the age the edge measured on its own clock, taken from when its last status came in); null when its last status said nothing is unsent, or from an agent that does not say"},
                    "oldest_unsent_age_s": {"type": "integer", "nullable": true, "description": "how long ago oldest_unsent_at was when this answer was made, in seconds; the fleet page marks it past 900"},
                    "stations": {"$ref": "#/components/schemas/ReportedStations"}}},
                "ReportedStations": {"type": "object", "required": ["reported_at", "edge_clock", "stations"], "description": "what runs on an edge's stations as its last status said (each status replaces the previous one)", "properties": {
                    "reported_at": {"type": "string", "format": "date-time", "description": "when central received the status: how fresh this is"},
                    "edge_clock": {"type": "string", "format": "date-time", "description": "the edge's clock when it sent the status"},
                    "stations": {"type": "array", "maxItems": protocol::bounds::MAX_STATIONS, "items": {"$ref": "#/components/schemas/StationRun"}}}},
                "StationRun": {"type": "object", "required": ["station", "good", "scrap", "counting", "unassigned_good", "unassigned_scrap"], "description": "what runs on one station, as the edge's terminal and its /api/v1/status show it", "properties": {
                    "station": {"type": "string"},
                    "work_order": {"type": "string", "description": "the work order whose operation runs here; absent: counts here are unassigned"},
                    "operation": {"type": "integer"},
                    "by": {"type": "string", "enum": ["scan", "plan"], "description": "started by a scan at the station, or the plan's first work order with an operation here"},
                    "good": {"type": "integer", "description": "the work order's good parts counted on this edge"}, "scrap": {"type": "integer"},
                    "over_production": {"type": "boolean", "description": "good parts beyond the order's quantity plus the plant's tolerance; absent: false"},
                    "counting": {"type": "boolean", "description": "false when the order is complete and the plant stops counting complete orders: counts here are then unassigned"},
                    "unassigned_good": {"type": "integer", "description": "parts counted here and booked to no work order"}, "unassigned_scrap": {"type": "integer"}}},
                "QuarantinedEvent": {"type": "object", "required": ["edge_id", "seq", "kind", "received_at", "reason", "body", "body_bytes"], "properties": {
                    "edge_id": {"type": "string"}, "seq": {"type": "integer"},
                    "event_id": {"type": "string", "format": "uuid", "nullable": true, "description": "null when the id does not read"},
                    "kind": {"type": "string", "description": "the kind, what the body says it is, or unreadable"},
                    "at": {"type": "string", "format": "date-time", "nullable": true, "description": "the event time, when it reads"},
                    "received_at": {"type": "string", "format": "date-time"},
                    "reason": {"type": "string", "description": "the field out of bounds and why, or why the body does not read"},
                    "body": {"type": "string", "description": "the start of the text the edge sent (at most 1024 bytes, control and invisible characters escaped); the whole text stays in the store"},
                    "body_bytes": {"type": "integer"}}}
    });
    extend(document, &paths, &schemas);
}
