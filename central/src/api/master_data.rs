//! Master-data routes beyond CSV import: items (tracking, shelf life, phantom) and their unit
//! conversions, BOM revisions, warehouses and locations, suppliers. All need the admin token.
//! Decimals are JSON strings, as everywhere in the API.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath};
use super::policy::{Principal, Routes, needs};
use super::validate::{check_id, check_qty, check_text, check_uom};
use crate::erp::import::MAX_LEAD_TIME_DAYS;
use crate::erp::master_data::{
    BomRevision, ItemDetails, Location, MAX_SHELF_LIFE_DAYS, Obsolete, RevisionInput, Supplier,
    SupplierTerms, Tracking, Warehouse, normalize_gtin,
};
use crate::erp::mrp::{ItemKind, LotSizeRule};
use crate::erp::uom::UomConversion;
use crate::people::roles::Permission;
use crate::store::erp::{ItemMaster, Rejection};
use crate::store::people::Record;
use axum::extract::State;
use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Most lines one BOM revision has, and most conversions one item has.
pub const MAX_LINES: usize = 10_000;
pub const MAX_CONVERSIONS: usize = 100;

pub fn routes() -> Routes {
    use Permission::{MasterDataRead as Read, MasterDataWrite as Write};
    let warehouse = |p| needs(p).on(Record::Warehouse, "warehouse");
    Routes::new()
        .get("/api/v1/items", needs(Read), list_items)
        .get("/api/v1/items/{item}", needs(Read), get_item)
        .put("/api/v1/items/{item}", needs(Write), put_item)
        .get(
            "/api/v1/items/{item}/uom-conversions",
            needs(Read),
            get_conversions,
        )
        .put(
            "/api/v1/items/{item}/uom-conversions",
            needs(Write),
            put_conversions,
        )
        .get("/api/v1/boms/{parent}", needs(Read), get_bom)
        .post(
            "/api/v1/boms/{parent}/revisions",
            needs(Write),
            create_revision,
        )
        .get(
            "/api/v1/boms/{parent}/revisions/{revision}",
            needs(Read),
            get_revision,
        )
        .put(
            "/api/v1/boms/{parent}/revisions/{revision}",
            needs(Write),
            update_revision,
        )
        .post(
            "/api/v1/boms/{parent}/revisions/{revision}/release",
            needs(Write),
            release_revision,
        )
        .get("/api/v1/warehouses", needs(Read), list_warehouses)
        .get(
            "/api/v1/warehouses/{warehouse}",
            warehouse(Read),
            get_warehouse,
        )
        .put(
            "/api/v1/warehouses/{warehouse}",
            warehouse(Write),
            put_warehouse,
        )
        .put(
            "/api/v1/warehouses/{warehouse}/locations/{location}",
            warehouse(Write),
            put_location,
        )
        .get("/api/v1/suppliers", needs(Read), list_suppliers)
        .get("/api/v1/suppliers/{supplier}", needs(Read), get_supplier)
        .put("/api/v1/suppliers/{supplier}", needs(Write), put_supplier)
        .put(
            "/api/v1/suppliers/{supplier}/items/{item}",
            needs(Write),
            put_supplier_item,
        )
        .delete(
            "/api/v1/suppliers/{supplier}/items/{item}",
            needs(Write),
            delete_supplier_item,
        )
}

fn rejection(r: Rejection) -> AppError {
    match r {
        Rejection::NotFound(m) => AppError::not_found(m),
        Rejection::Invalid(m) => AppError::bad_request(m),
        Rejection::Conflict { code, message } => AppError::new(StatusCode::CONFLICT, code, message),
    }
}

fn check_lead_time(days: u32) -> Result<(), AppError> {
    if days > MAX_LEAD_TIME_DAYS {
        return Err(AppError::bad_request(format!(
            "lead_time_days {days} is too large; expected whole working days from 0 to {MAX_LEAD_TIME_DAYS}"
        )));
    }
    Ok(())
}

async fn list_items(State(state): State<AppState>) -> Result<axum::Json<Value>, AppError> {
    Ok(axum::Json(json!({"items": state.store().items().await?})))
}

fn no_item(item: &str) -> AppError {
    AppError::not_found(format!(
        "item {item:?} is not in the item master; expected a known item"
    ))
}

async fn get_item(
    State(state): State<AppState>,
    ApiPath(item): ApiPath<String>,
) -> Result<axum::Json<ItemMaster>, AppError> {
    let found = state.store().item(item.clone()).await?;
    found.map(axum::Json).ok_or_else(|| no_item(&item))
}

/// `PUT /api/v1/items/{item}`: the whole item (conversions are set apart).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    #[serde(default)]
    pub description: String,
    pub kind: ItemKind,
    pub uom: String,
    #[serde(default)]
    pub lead_time_days: u32,
    #[serde(default = "lfl")]
    pub lot_size_rule: LotSizeRule,
    #[serde(default)]
    pub lot_size_qty: Decimal,
    #[serde(default)]
    pub safety_stock: Decimal,
    #[serde(default)]
    pub scrap_pct: Decimal,
    #[serde(default)]
    pub tracking: Tracking,
    #[serde(default)]
    pub shelf_life_days: Option<u32>,
    #[serde(default)]
    pub phantom: bool,
    /// GTIN-8, -12, -13 or -14; stored as 14 digits.
    #[serde(default)]
    pub gtin: Option<String>,
    /// No longer sold: new quotation and order lines are refused, and open ones are flagged.
    /// The shape the item is read in, so what a GET gave can be PUT back; null: in sale.
    #[serde(default)]
    pub obsolete: Option<ObsoleteBody>,
}

/// `obsolete` as written: `since` is central's (the day it was first marked) and ignored here.
#[derive(Debug, Deserialize)]
pub struct ObsoleteBody {
    #[serde(default)]
    pub since: Option<chrono::NaiveDate>,
    /// What sales should offer instead: an item of the master.
    #[serde(default)]
    pub replaced_by: Option<String>,
}

fn lfl() -> LotSizeRule {
    LotSizeRule::Lfl
}

async fn put_item(
    State(state): State<AppState>,
    ApiPath(item): ApiPath<String>,
    ApiJson(body): ApiJson<ItemBody>,
) -> Result<axum::Json<ItemMaster>, AppError> {
    check_id("item", &item)?;
    check_text("description", &body.description)?;
    check_uom("uom", &body.uom)?;
    check_lead_time(body.lead_time_days)?;
    check_qty(
        "lot_size_qty",
        body.lot_size_qty,
        body.lot_size_rule.needs_qty(),
    )?;
    check_qty("safety_stock", body.safety_stock, false)?;
    check_qty("scrap_pct", body.scrap_pct, false)?;
    if body.scrap_pct >= Decimal::from(1000) {
        return Err(AppError::bad_request(format!(
            "scrap_pct {} is too large; expected a percentage below 1000",
            body.scrap_pct
        )));
    }
    if let Some(days) = body.shelf_life_days
        && !(1..=MAX_SHELF_LIFE_DAYS).contains(&days)
    {
        return Err(AppError::bad_request(format!(
            "shelf_life_days {days} is not valid; expected whole days from 1 to {MAX_SHELF_LIFE_DAYS}, or null for none"
        )));
    }
    let gtin = body
        .gtin
        .as_deref()
        .map(normalize_gtin)
        .transpose()
        .map_err(|why| AppError::bad_request(format!("gtin {why}")))?;
    if let Some(by) = body.obsolete.as_ref().and_then(|o| o.replaced_by.as_ref()) {
        check_id("obsolete.replaced_by", by)?;
    }
    let obsolete = body.obsolete.map(|o| Obsolete {
        // The store keeps the first date while the item stays obsolete.
        since: chrono::Utc::now().date_naive(),
        replaced_by: o.replaced_by,
    });
    let master = ItemMaster {
        item,
        description: body.description,
        kind: body.kind,
        uom: body.uom,
        lead_time_days: body.lead_time_days,
        lot_size_rule: body.lot_size_rule,
        lot_size_qty: body.lot_size_qty.normalize(),
        safety_stock: body.safety_stock.normalize(),
        scrap_pct: body.scrap_pct.normalize(),
        details: ItemDetails {
            tracking: body.tracking,
            shelf_life_days: body.shelf_life_days,
            phantom: body.phantom,
            gtin,
            obsolete,
        },
        conversions: Vec::new(),
    };
    let stored = state.store().put_item(master).await?.map_err(rejection)?;
    Ok(axum::Json(stored))
}

async fn get_conversions(
    State(state): State<AppState>,
    ApiPath(item): ApiPath<String>,
) -> Result<axum::Json<Value>, AppError> {
    let found = state.store().item(item.clone()).await?;
    let item = found.ok_or_else(|| no_item(&item))?;
    Ok(axum::Json(
        json!({"item": item.item, "uom": item.uom, "conversions": item.conversions}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionsBody {
    pub conversions: Vec<UomConversion>,
}

/// `PUT /api/v1/items/{item}/uom-conversions`: replaces the item's conversions.
async fn put_conversions(
    State(state): State<AppState>,
    ApiPath(item): ApiPath<String>,
    ApiJson(body): ApiJson<ConversionsBody>,
) -> Result<axum::Json<Value>, AppError> {
    if body.conversions.len() > MAX_CONVERSIONS {
        return Err(AppError::bad_request(format!(
            "{} conversions; expected at most {MAX_CONVERSIONS}",
            body.conversions.len()
        )));
    }
    let mut seen = HashSet::new();
    for c in &body.conversions {
        check_uom("from_uom", &c.from_uom)?;
        check_uom("to_uom", &c.to_uom)?;
        check_qty("factor", c.factor, true)?;
        if c.from_uom == c.to_uom {
            return Err(AppError::bad_request(format!(
                "conversion from {:?} to itself; expected two different units",
                c.from_uom
            )));
        }
        if !seen.insert((c.from_uom.as_str(), c.to_uom.as_str())) {
            return Err(AppError::bad_request(format!(
                "conversion from {:?} to {:?} appears twice; expected each pair once",
                c.from_uom, c.to_uom
            )));
        }
    }
    let conversions = body
        .conversions
        .into_iter()
        .map(|c| UomConversion {
            factor: c.factor.normalize(),
            ..c
        })
        .collect();
    let stored = state
        .store()
        .put_conversions(item.clone(), conversions)
        .await?
        .map_err(rejection)?;
    Ok(axum::Json(json!({"item": item, "conversions": stored})))
}

#[derive(Debug, Serialize)]
struct BomView {
    parent: String,
    revisions: Vec<BomRevision>,
}

async fn get_bom(
    State(state): State<AppState>,
    ApiPath(parent): ApiPath<String>,
) -> Result<axum::Json<Value>, AppError> {
    let revisions = state
        .store()
        .bom(parent.clone())
        .await?
        .map_err(rejection)?;
    Ok(axum::Json(json!(BomView { parent, revisions })))
}

fn check_revision(input: &RevisionInput) -> Result<(), AppError> {
    if input.lines.len() > MAX_LINES {
        return Err(AppError::bad_request(format!(
            "{} lines; expected at most {MAX_LINES}",
            input.lines.len()
        )));
    }
    if input
        .effective_to
        .is_some_and(|to| to < input.effective_from)
    {
        return Err(AppError::bad_request(
            "effective_to is before effective_from; expected effective_to on or after effective_from, or none",
        ));
    }
    for line in &input.lines {
        check_id("component", &line.component)?;
        if let Some(uom) = &line.uom {
            check_uom("uom", uom)?;
        }
    }
    Ok(())
}

/// `POST /api/v1/boms/{parent}/revisions`: a new draft revision.
async fn create_revision(
    State(state): State<AppState>,
    ApiPath(parent): ApiPath<String>,
    ApiJson(body): ApiJson<RevisionInput>,
) -> Result<(StatusCode, axum::Json<BomRevision>), AppError> {
    check_revision(&body)?;
    let rev = state
        .store()
        .create_revision(parent, body)
        .await?
        .map_err(rejection)?;
    Ok((StatusCode::CREATED, axum::Json(rev)))
}

async fn get_revision(
    State(state): State<AppState>,
    ApiPath((parent, revision)): ApiPath<(String, String)>,
) -> Result<axum::Json<BomRevision>, AppError> {
    let revisions = state
        .store()
        .bom(parent.clone())
        .await?
        .map_err(rejection)?;
    revisions
        .into_iter()
        .find(|r| r.revision == revision)
        .map(axum::Json)
        .ok_or_else(|| {
            AppError::not_found(format!(
                "item {parent:?} has no bom revision {revision:?}; expected one listed by get /api/v1/boms/{parent}"
            ))
        })
}

/// `PUT /api/v1/boms/{parent}/revisions/{revision}`: replaces a draft; a released revision
/// is refused with 409 `revision_released`.
async fn update_revision(
    State(state): State<AppState>,
    ApiPath((parent, revision)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RevisionInput>,
) -> Result<axum::Json<BomRevision>, AppError> {
    check_revision(&body)?;
    let rev = state
        .store()
        .update_revision(parent, revision, body)
        .await?
        .map_err(rejection)?;
    Ok(axum::Json(rev))
}

async fn release_revision(
    State(state): State<AppState>,
    ApiPath((parent, revision)): ApiPath<(String, String)>,
) -> Result<axum::Json<BomRevision>, AppError> {
    let rev = state
        .store()
        .release_revision(parent, revision)
        .await?
        .map_err(rejection)?;
    tracing::info!(
        parent = rev.parent,
        revision = rev.revision,
        "bom revision released"
    );
    Ok(axum::Json(rev))
}

async fn list_warehouses(State(state): State<AppState>) -> Result<axum::Json<Value>, AppError> {
    Ok(axum::Json(
        json!({"warehouses": state.store().warehouses().await?}),
    ))
}

async fn get_warehouse(
    State(state): State<AppState>,
    ApiPath(warehouse): ApiPath<String>,
) -> Result<axum::Json<Warehouse>, AppError> {
    let found = state.store().warehouse(warehouse.clone()).await?;
    found
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("warehouse {warehouse:?} does not exist")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescriptionBody {
    #[serde(default)]
    pub description: String,
}

/// The body of `PUT /api/v1/warehouses/{warehouse}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutWarehouse {
    #[serde(default)]
    pub description: String,
    /// The plant it belongs to; absent: unchanged (a new warehouse: the default plant).
    #[serde(default)]
    pub plant: Option<String>,
}

async fn put_warehouse(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(warehouse): ApiPath<String>,
    ApiJson(body): ApiJson<PutWarehouse>,
) -> Result<axum::Json<Warehouse>, AppError> {
    check_id("warehouse", &warehouse)?;
    check_text("description", &body.description)?;
    let exists = state.store().warehouse(warehouse.clone()).await?.is_some();
    match &body.plant {
        Some(plant) => {
            check_id("plant", plant)?;
            p.check_plant(plant)?;
        }
        None if !exists => p.check_plant(crate::people::plants::DEFAULT_PLANT)?,
        None => {}
    }
    let stored = state
        .store()
        .put_warehouse(warehouse, body.description, body.plant)
        .await?
        .map_err(rejection)?;
    Ok(axum::Json(stored))
}

async fn put_location(
    State(state): State<AppState>,
    ApiPath((warehouse, location)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<DescriptionBody>,
) -> Result<axum::Json<Location>, AppError> {
    check_id("location", &location)?;
    check_text("description", &body.description)?;
    let stored = state
        .store()
        .put_location(Location {
            location,
            warehouse,
            description: body.description,
        })
        .await?
        .map_err(rejection)?;
    Ok(axum::Json(stored))
}

async fn list_suppliers(State(state): State<AppState>) -> Result<axum::Json<Value>, AppError> {
    Ok(axum::Json(
        json!({"suppliers": state.store().suppliers().await?}),
    ))
}

async fn get_supplier(
    State(state): State<AppState>,
    ApiPath(supplier): ApiPath<String>,
) -> Result<axum::Json<Supplier>, AppError> {
    let found = state.store().supplier(supplier.clone()).await?;
    found
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("supplier {supplier:?} does not exist")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplierBody {
    #[serde(default)]
    pub name: String,
}

async fn put_supplier(
    State(state): State<AppState>,
    ApiPath(supplier): ApiPath<String>,
    ApiJson(body): ApiJson<SupplierBody>,
) -> Result<axum::Json<Supplier>, AppError> {
    check_id("supplier", &supplier)?;
    check_text("name", &body.name)?;
    let stored = state
        .store()
        .put_supplier(supplier, body.name)
        .await?
        .map_err(rejection)?;
    Ok(axum::Json(stored))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsBody {
    pub lead_time_days: u32,
    pub price: Decimal,
    #[serde(default)]
    pub preferred: bool,
}

async fn put_supplier_item(
    State(state): State<AppState>,
    ApiPath((supplier, item)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<TermsBody>,
) -> Result<axum::Json<SupplierTerms>, AppError> {
    check_lead_time(body.lead_time_days)?;
    check_qty("price", body.price, false)?;
    let stored = state
        .store()
        .put_supplier_item(SupplierTerms {
            supplier,
            item,
            lead_time_days: body.lead_time_days,
            price: body.price.normalize(),
            preferred: body.preferred,
        })
        .await?
        .map_err(rejection)?;
    Ok(axum::Json(stored))
}

async fn delete_supplier_item(
    State(state): State<AppState>,
    ApiPath((supplier, item)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    state
        .store()
        .delete_supplier_item(supplier, item)
        .await?
        .map_err(rejection)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds these routes to the OpenAPI document (called by [`super::openapi::document`]).
pub fn document_into(document: &mut Value) {
    let error = json!({"$ref": "#/components/responses/Error"});
    let dec = json!({"type": "string", "description": "exact decimal"});
    let ok = |schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let p = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    let described = json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"description": {"type": "string"}}}}}});
    let paths = json!({
        "/api/v1/items": {"get": {"summary": "the item master", "tags": ["master data"], "responses": {"200": {"description": "{\"items\": [Item...]}"}, "401": error}}},
        "/api/v1/items/{item}": {
            "get": {"summary": "an item with its unit conversions", "tags": ["master data"], "parameters": [p("item")], "responses": {"200": ok("Item"), "401": error, "404": error}},
            "put": {"summary": "create or replace an item", "tags": ["master data"], "parameters": [p("item")],
                "description": "A phantom must be a make item without stock or scheduled receipts; MRP blows through it and work orders copy its components.",
                "requestBody": body("ItemInput"), "responses": {"200": ok("Item"), "400": error, "401": error}}},
        "/api/v1/items/{item}/uom-conversions": {
            "get": {"summary": "an item's unit conversions", "tags": ["master data"], "parameters": [p("item")], "responses": {"200": {"description": "{item, uom, conversions}"}, "401": error, "404": error}},
            "put": {"summary": "replace an item's unit conversions", "tags": ["master data"], "parameters": [p("item")],
                "description": "`1 from_uom = factor to_uom`; conversions work both ways and chain. BOM lines, inventory, demands and receipts given in another unit are converted to the item's base unit when written.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["conversions"], "properties": {"conversions": {"type": "array", "items": {"$ref": "#/components/schemas/UomConversion"}}}}}}},
                "responses": {"200": {"description": "{item, conversions}"}, "400": error, "401": error, "404": error}}},
        "/api/v1/boms/{parent}": {"get": {"summary": "every revision of a parent's bom, oldest first", "tags": ["master data"], "parameters": [p("parent")],
            "responses": {"200": {"description": "{parent, revisions: [BomRevision...]}"}, "401": error, "404": error}}},
        "/api/v1/boms/{parent}/revisions": {"post": {"summary": "a new draft revision (lettered A, B, …)", "tags": ["master data"], "parameters": [p("parent")],
            "description": "In effect on a date (once released): the released revision with the latest effective_from on or before it (the later revision wins a tie), unless its effective_to has passed. MRP uses the revision in effect on a planned order's start date, a work order the one in effect on its due date.",
            "requestBody": body("RevisionInput"), "responses": {"201": ok("BomRevision"), "400": error, "401": error, "404": error}}},
        "/api/v1/boms/{parent}/revisions/{revision}": {
            "get": {"summary": "one revision", "tags": ["master data"], "parameters": [p("parent"), p("revision")], "responses": {"200": ok("BomRevision"), "401": error, "404": error}},
            "put": {"summary": "replace a draft revision", "tags": ["master data"], "parameters": [p("parent"), p("revision")],
                "requestBody": body("RevisionInput"),
                "responses": {"200": ok("BomRevision"), "400": error, "401": error, "404": error,
                    "409": {"description": "the revision is released (revision_released): make a new revision", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
        "/api/v1/boms/{parent}/revisions/{revision}/release": {"post": {"summary": "release a draft; it never changes again", "tags": ["master data"], "parameters": [p("parent"), p("revision")],
            "responses": {"200": ok("BomRevision"), "400": error, "401": error, "404": error, "409": error}}},
        "/api/v1/warehouses": {"get": {"summary": "warehouses with their locations", "tags": ["master data"], "responses": {"200": {"description": "{\"warehouses\": [Warehouse...]}"}, "401": error}}},
        "/api/v1/warehouses/{warehouse}": {
            "get": {"summary": "a warehouse with its locations", "tags": ["master data"], "parameters": [p("warehouse")], "responses": {"200": ok("Warehouse"), "401": error, "404": error}},
            "put": {"summary": "create or update a warehouse", "tags": ["master data"], "parameters": [p("warehouse")], "requestBody": described.clone(), "responses": {"200": ok("Warehouse"), "400": error, "401": error}}},
        "/api/v1/warehouses/{warehouse}/locations/{location}": {"put": {"summary": "create or update a location", "tags": ["master data"],
            "description": "Location ids are unique across warehouses; inventory imports must name an existing location.",
            "parameters": [p("warehouse"), p("location")], "requestBody": described,
            "responses": {"200": {"description": "{location, warehouse, description}"}, "400": error, "401": error, "404": error, "409": error}}},
        "/api/v1/suppliers": {"get": {"summary": "suppliers with their item terms", "tags": ["master data"], "responses": {"200": {"description": "{\"suppliers\": [Supplier...]}"}, "401": error}}},
        "/api/v1/suppliers/{supplier}": {
            "get": {"summary": "a supplier with its item terms", "tags": ["master data"], "parameters": [p("supplier")], "responses": {"200": ok("Supplier"), "401": error, "404": error}},
            "put": {"summary": "create or rename a supplier", "tags": ["master data"], "parameters": [p("supplier")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}},
                "responses": {"200": ok("Supplier"), "400": error, "401": error}}},
        "/api/v1/suppliers/{supplier}/items/{item}": {
            "put": {"summary": "a supplier's lead time and price for an item", "tags": ["master data"], "parameters": [p("supplier"), p("item")],
                "description": "preferred: true makes the item's other suppliers not preferred. MRP offsets a buy item by its preferred supplier's lead time and names the supplier on its planned orders.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["lead_time_days", "price"], "properties": {"lead_time_days": {"type": "integer"}, "price": dec, "preferred": {"type": "boolean"}}}}}},
                "responses": {"200": ok("SupplierTerms"), "400": error, "401": error, "404": error}},
            "delete": {"summary": "remove a supplier's terms for an item", "tags": ["master data"], "parameters": [p("supplier"), p("item")], "responses": {"204": {"description": "removed"}, "401": error, "404": error}}}
    });
    let conversion = json!({"type": "object", "required": ["from_uom", "to_uom", "factor"], "properties": {"from_uom": {"type": "string"}, "to_uom": {"type": "string"}, "factor": dec}});
    let line_in = json!({"type": "object", "required": ["component", "qty_per"], "properties": {"component": {"type": "string"}, "qty_per": dec, "scrap_pct": dec, "uom": {"type": "string", "description": "unit of qty_per; the component's base unit if absent"}}});
    let schemas = json!({
        "ItemInput": {"type": "object", "required": ["kind", "uom"], "properties": {
            "description": {"type": "string"}, "kind": {"type": "string", "enum": ["make", "buy"]}, "uom": {"type": "string", "description": "base unit"},
            "lead_time_days": {"type": "integer"}, "lot_size_rule": {"type": "string", "enum": ["lfl", "fixed", "min", "multiple"]},
            "lot_size_qty": dec, "safety_stock": dec, "scrap_pct": dec,
            "tracking": {"type": "string", "enum": ["none", "lot", "serial"]}, "shelf_life_days": {"type": "integer", "nullable": true}, "phantom": {"type": "boolean"}, "gtin": {"type": "string", "nullable": true, "description": "GTIN-8, -12, -13 or -14 with a valid GS1 check digit; stored and shown as 14 digits; unique across items (409 gtin_taken)"},
            "obsolete": {"type": "object", "nullable": true, "description": "no longer sold: new quotation and order lines of it are refused, and every open quotation and draft order line is flagged (reason obsolete) and its owner told; null puts it back in sale and resolves those flags",
                "properties": {"since": {"type": "string", "format": "date", "description": "set by central: the day it was first marked"}, "replaced_by": {"type": "string", "description": "an item of the master to offer instead"}}}}},
        "Item": {"allOf": [{"$ref": "#/components/schemas/ItemInput"}, {"type": "object", "properties": {"item": {"type": "string"}, "conversions": {"type": "array", "items": {"$ref": "#/components/schemas/UomConversion"}}}}]},
        "UomConversion": conversion,
        "RevisionInput": {"type": "object", "required": ["effective_from", "lines"], "properties": {
            "effective_from": {"type": "string", "format": "date"}, "effective_to": {"type": "string", "format": "date", "nullable": true, "description": "last day in effect (inclusive)"},
            "lines": {"type": "array", "items": line_in}}},
        "BomRevision": {"type": "object", "required": ["parent", "revision", "status", "effective_from", "lines"], "properties": {
            "parent": {"type": "string"}, "revision": {"type": "string"}, "status": {"type": "string", "enum": ["draft", "released"]},
            "effective_from": {"type": "string", "format": "date"}, "effective_to": {"type": "string", "format": "date"},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"component": {"type": "string"}, "qty_per": dec, "scrap_pct": dec,
                "entered_uom": {"type": "string"}, "entered_qty_per": dec}}}}},
        "Warehouse": {"type": "object", "properties": {"warehouse": {"type": "string"}, "description": {"type": "string"},
            "locations": {"type": "array", "items": {"type": "object", "properties": {"location": {"type": "string"}, "warehouse": {"type": "string"}, "description": {"type": "string"}}}}}},
        "SupplierTerms": {"type": "object", "properties": {"supplier": {"type": "string"}, "item": {"type": "string"}, "lead_time_days": {"type": "integer"}, "price": dec, "preferred": {"type": "boolean"}}},
        "Supplier": {"type": "object", "properties": {"supplier": {"type": "string"}, "name": {"type": "string"}, "items": {"type": "array", "items": {"$ref": "#/components/schemas/SupplierTerms"}}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
