//! Shipping confirmed sales orders and the recall list (issue 16, "Shipping and after-sales"):
//! a delivery, its delivery note as a PDF, its packages' SSCC labels (ZPL and PDF), and which
//! customers got a lot or anything made from it.
//!
//! Permissions:
//! - Deliveries are sales documents: `crm.write` ships (the salesperson, or their manager,
//!   who owns the order: the warehouse picks, the order's owner says what leaves), `crm.read`
//!   reads, scoped by the order's owner like the order itself ([`super::crm::scopes`]); a
//!   delivery outside the caller's scope answers 404. A separate shipping permission would
//!   only fit once the warehouse ships scanned packages at the edge, which is a later step.
//! - The recall list (`GET /api/v1/lots/{lot}/customers`) needs `lots.hold`, not `crm.read`:
//!   a recall is a quality action by the people who hold suspect lots (quality, supervisors,
//!   plant managers), and it must name *every* customer who got the lot, whoever's order it
//!   was: a list narrowed to one salesperson's customers would be a dangerous recall. It is
//!   plant-scoped through the lot like the lot's trace.
//! - What central disagreed with in shipments scanned at an edge's dock
//!   (`GET /api/v1/shipment-exceptions`) needs `crm.all.read`: an exception may name an order
//!   central does not know, so it cannot be narrowed to an owner's orders.

use super::AppState;
use super::crm::scopes;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::policy::{Principal, Routes, needs};
use crate::crm::pdf::{
    DeliveryLine as PrintedLine, DeliveryNoteDoc, Language, Party, SsccLabel, delivery_note_pdf,
    sscc_label_zpl, sscc_labels_pdf,
};
use crate::crm::scope::SalesScope;
use crate::people::roles::Permission;
use crate::store::deliveries::{
    Delivery, DeliveryInput, DeliveryQuery, MAX_DELIVERY_LINES, MAX_DELIVERY_LIST, MAX_PACKAGES,
    RecallList, ShipmentException,
};
use crate::store::people::Record;
use crate::store::sales::SalesRefusal;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub fn routes() -> Routes {
    use Permission::{CrmAllRead, CrmRead, CrmWrite, LotsHold};
    Routes::new()
        .post(
            "/api/v1/sales-orders/{order}/deliveries",
            needs(CrmWrite),
            create_delivery,
        )
        .get("/api/v1/deliveries", needs(CrmRead), list_deliveries)
        .get(
            "/api/v1/deliveries/{delivery}",
            needs(CrmRead),
            get_delivery,
        )
        .get(
            "/api/v1/deliveries/{delivery}/note.pdf",
            needs(CrmRead),
            delivery_note,
        )
        .get(
            "/api/v1/deliveries/{delivery}/labels.zpl",
            needs(CrmRead),
            labels_zpl,
        )
        .get(
            "/api/v1/deliveries/{delivery}/labels.pdf",
            needs(CrmRead),
            labels_pdf,
        )
        .get(
            "/api/v1/lots/{lot}/customers",
            needs(LotsHold).on(Record::Lot, "lot"),
            lot_customers,
        )
        .get(
            "/api/v1/shipment-exceptions",
            needs(CrmAllRead),
            shipment_exceptions,
        )
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ShipmentExceptionList {
    pub exceptions: Vec<ShipmentException>,
}

/// `GET /api/v1/shipment-exceptions`: shipments scanned at edges that central disagreed
/// with, newest first (at most [`MAX_DELIVERY_LIST`]).
async fn shipment_exceptions(
    State(state): State<AppState>,
) -> Result<axum::Json<ShipmentExceptionList>, AppError> {
    let exceptions = state.store().shipment_exceptions(MAX_DELIVERY_LIST).await?;
    Ok(axum::Json(ShipmentExceptionList { exceptions }))
}

/// Longest lot, location or note text, in bytes.
const MAX_CODE: usize = 64;
const MAX_NOTE: usize = 2000;

fn refused(r: SalesRefusal) -> AppError {
    let clean = |s: &str| protocol::bounds::sanitize_text(s);
    match r {
        SalesRefusal::NotFound(what) => AppError::not_found(clean(&what)),
        SalesRefusal::Conflict(what) => {
            AppError::new(StatusCode::CONFLICT, "delivery_refused", clean(&what))
        }
        SalesRefusal::Invalid(problems) => invalid(problems),
        SalesRefusal::Credit(refusal) => {
            AppError::new(StatusCode::CONFLICT, "credit_limit", refusal.to_string())
        }
        SalesRefusal::AwaitingApproval { message, .. } => {
            AppError::new(StatusCode::CONFLICT, "awaiting_approval", clean(&message))
        }
    }
}

fn invalid(problems: Vec<String>) -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_delivery",
        format!(
            "the delivery cannot be written: {}",
            problems
                .iter()
                .map(|p| protocol::bounds::sanitize_text(p))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    )
}

/// Every problem of a delivery's input, each named (empty: none).
fn check_input(d: &DeliveryInput) -> Vec<String> {
    let mut problems = Vec::new();
    if d.lines.is_empty() {
        problems.push("lines: none; expected at least one line".into());
    }
    if d.lines.len() > MAX_DELIVERY_LINES {
        problems.push(format!(
            "lines: {}; expected at most {MAX_DELIVERY_LINES}",
            d.lines.len()
        ));
        return problems;
    }
    if !(1..=MAX_PACKAGES).contains(&d.packages) {
        problems.push(format!(
            "packages: {}; expected 1 to {MAX_PACKAGES}",
            d.packages
        ));
    }
    if d.note.len() > MAX_NOTE {
        problems.push(format!(
            "note: {} bytes; expected at most {MAX_NOTE}",
            d.note.len()
        ));
    }
    for (i, l) in d.lines.iter().enumerate() {
        let n = i + 1;
        if l.qty <= Decimal::ZERO || l.qty > protocol::bounds::MAX_QTY {
            problems.push(format!(
                "lines[{n}].qty: {}; expected more than 0 and at most {}",
                l.qty,
                protocol::bounds::MAX_QTY
            ));
        }
        for (field, value) in [("lot", &l.lot), ("location", &l.location)] {
            if let Some(v) = value
                && (v.trim().is_empty() || v.len() > MAX_CODE)
            {
                problems.push(format!(
                    "lines[{n}].{field}: {} bytes; expected 1 to {MAX_CODE}",
                    v.len()
                ));
            }
        }
    }
    problems
}

/// `POST /api/v1/sales-orders/{order}/deliveries`.
async fn create_delivery(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(order): ApiPath<i64>,
    ApiJson(body): ApiJson<DeliveryInput>,
) -> Result<(StatusCode, axum::Json<Delivery>), AppError> {
    let problems = check_input(&body);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let s = scopes(&state, &p).await?;
    let Some(prefix) = state.documents().gs1_company_prefix.clone() else {
        return Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "gs1_prefix_missing",
            "no [documents] gs1_company_prefix is configured; a delivery's packages need SSCCs",
        ));
    };
    let delivery = state
        .store()
        .create_delivery(order, body, prefix, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    // What shipped is no longer open on the docks.
    state.wake_shipping_edges().await;
    tracing::info!(delivery = %delivery.number, order = %delivery.order_number, "delivery shipped");
    Ok((StatusCode::CREATED, axum::Json(delivery)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    order: Option<i64>,
    customer: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
}

/// `GET /api/v1/deliveries?order=&customer=`: newest first, in the caller's sales scope.
async fn list_deliveries(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<axum::Json<DeliveryList>, AppError> {
    if let Some(c) = &q.customer
        && c.len() > MAX_CODE
    {
        return Err(AppError::bad_request(format!(
            "customer: more than {MAX_CODE} bytes"
        )));
    }
    let limit = match q.limit {
        None => 50,
        Some(n) if (1..=MAX_DELIVERY_LIST).contains(&n) => n,
        Some(n) => {
            return Err(AppError::bad_request(format!(
                "limit: {n}; expected 1 to {MAX_DELIVERY_LIST}"
            )));
        }
    };
    let s = scopes(&state, &p).await?;
    let deliveries = state
        .store()
        .deliveries(
            DeliveryQuery {
                order: q.order,
                customer: q.customer,
                limit,
            },
            s.read,
        )
        .await?;
    Ok(axum::Json(DeliveryList { deliveries }))
}

async fn one(state: &AppState, p: &Principal, id: i64) -> Result<Delivery, AppError> {
    let s = scopes(state, p).await?;
    state
        .store()
        .delivery(id, s.read)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no delivery {id}")))
}

async fn get_delivery(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<Delivery>, AppError> {
    Ok(axum::Json(one(&state, &p, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PdfParams {
    lang: Option<String>,
}

fn language(p: &Principal, lang: Option<&str>) -> Result<Language, AppError> {
    match lang {
        None => Ok(p.language()),
        Some(l) => {
            Language::parse(l).ok_or_else(|| AppError::bad_request("lang: expected zh or en"))
        }
    }
}

/// The seller as `[documents]` names them.
fn seller(state: &AppState) -> Party {
    let d = state.documents();
    Party {
        name: d.company_name.clone(),
        address: d.company_address.clone(),
        contact: d.company_contact.clone(),
    }
}

/// The customer as printed: their name, and their shipping address (else the first one).
async fn ship_to(state: &AppState, d: &Delivery) -> Result<Party, AppError> {
    let customer = state
        .store()
        .customer(d.customer.clone(), SalesScope::All)
        .await?;
    let address = customer
        .as_ref()
        .and_then(|c| {
            c.addresses
                .iter()
                .find(|a| a.kind == "shipping")
                .or(c.addresses.first())
        })
        .map(|a| {
            [
                a.street.as_str(),
                a.city.as_str(),
                a.region.as_str(),
                a.postcode.as_str(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
        })
        .unwrap_or_default();
    Ok(Party {
        name: d.customer_name.clone(),
        address,
        contact: d.customer.clone(),
    })
}

fn unavailable(e: impl std::fmt::Display) -> AppError {
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "document_unavailable",
        e.to_string(),
    )
}

/// Runs a document's making off the runtime, with the configured fonts.
async fn made<F>(state: &AppState, make: F) -> Result<Vec<u8>, AppError>
where
    F: FnOnce(&crate::crm::pdf::Fonts) -> Result<Vec<u8>, crate::crm::pdf::PdfError>
        + Send
        + 'static,
{
    let worker = state.clone();
    tokio::task::spawn_blocking(move || {
        let fonts = worker.fonts();
        make(&fonts)
    })
    .await
    .map_err(|e| AppError::internal(format!("the document could not be made: {e}")))?
    .map_err(unavailable)
}

fn file(kind: &str, name: String, bytes: Vec<u8>) -> Response {
    (
        [
            (CONTENT_TYPE, kind.to_owned()),
            (CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response()
}

/// `GET /api/v1/deliveries/{delivery}/note.pdf?lang=zh|en`.
async fn delivery_note(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PdfParams>,
) -> Result<Response, AppError> {
    let lang = language(&p, q.lang.as_deref())?;
    let d = one(&state, &p, id).await?;
    let customer = ship_to(&state, &d).await?;
    let printed = DeliveryNoteDoc {
        seller: seller(&state),
        number: d.number.clone(),
        order_number: d.order_number.clone(),
        customer_reference: d.customer_po.clone(),
        date: d.date,
        ship_to: customer.clone(),
        customer,
        lines: d
            .lines
            .iter()
            .map(|l| PrintedLine {
                item_code: l.item.clone(),
                description: l.description.clone(),
                lot: l.lot.clone(),
                quantity: l.qty,
                unit: l.uom.clone(),
            })
            .collect(),
        notes: d.note.clone(),
    };
    let pdf = made(&state, move |fonts| {
        delivery_note_pdf(&printed, lang, fonts)
    })
    .await?;
    Ok(file("application/pdf", format!("{}.pdf", d.number), pdf))
}

/// One label per package: what the shipment holds, `n/N`.
async fn labels(state: &AppState, d: &Delivery) -> Result<Vec<SsccLabel>, AppError> {
    let ship_to = ship_to(state, d).await?;
    let content = d
        .lines
        .iter()
        .map(|l| format!("{} {} {} lot {}", l.item, l.qty.normalize(), l.uom, l.lot))
        .collect::<Vec<_>>()
        .join("\n");
    let n = d.packages.len();
    Ok(d.packages
        .iter()
        .map(|pkg| SsccLabel {
            sscc: pkg.sscc.clone(),
            ship_from: seller(state),
            ship_to: ship_to.clone(),
            order_number: d.order_number.clone(),
            delivery_number: d.number.clone(),
            content: content.chars().take(1000).collect(),
            package: format!("{}/{n}", pkg.package),
        })
        .collect())
}

/// `GET /api/v1/deliveries/{delivery}/labels.zpl`: every package's label, one `^XA…^XZ` each.
async fn labels_zpl(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, AppError> {
    let d = one(&state, &p, id).await?;
    let mut zpl = String::new();
    for label in labels(&state, &d).await? {
        zpl.push_str(&sscc_label_zpl(&label).map_err(unavailable)?);
    }
    Ok(file(
        "text/plain; charset=utf-8",
        format!("{}.zpl", d.number),
        zpl.into_bytes(),
    ))
}

/// `GET /api/v1/deliveries/{delivery}/labels.pdf?lang=zh|en`: one 100 × 150 mm page per
/// package.
async fn labels_pdf(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PdfParams>,
) -> Result<Response, AppError> {
    let lang = language(&p, q.lang.as_deref())?;
    let d = one(&state, &p, id).await?;
    let all = labels(&state, &d).await?;
    let pdf = made(&state, move |fonts| sscc_labels_pdf(&all, lang, fonts)).await?;
    Ok(file(
        "application/pdf",
        format!("{}-labels.pdf", d.number),
        pdf,
    ))
}

/// `GET /api/v1/lots/{lot}/customers`: the recall list (see the module's permissions).
async fn lot_customers(
    State(state): State<AppState>,
    ApiPath(lot): ApiPath<String>,
) -> Result<axum::Json<RecallList>, AppError> {
    if lot.is_empty() || lot.len() > MAX_CODE {
        return Err(AppError::bad_request(format!(
            "lot: {} bytes; expected 1 to {MAX_CODE}",
            lot.len()
        )));
    }
    Ok(axum::Json(state.store().lot_customers(lot).await?))
}

pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let q = |name: &str, kind: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}, "description": description});
    let id = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}});
    let ok = |schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let lang = q(
        "lang",
        "string",
        "zh or en; the caller's language when absent",
    );
    let pdf = json!({"200": {"description": "the PDF", "content": {"application/pdf": {}}}, "400": error, "401": error, "403": error, "404": error, "503": error});
    let scope_note = "Scoped by the order's owner like the order: one's own, one's team's, or everyone's with crm.all.read; others answer 404.";
    let paths = json!({
        "/api/v1/sales-orders/{order}/deliveries": {"post": {"summary": "ship from a confirmed order", "tags": ["crm"],
            "description": "One transaction: never more of a line than ordered and not yet shipped (409 names the line and the figures); stock issued from the ledger with reason `shipped` (a lot given must be in stock at the location given; negative stock follows the plant's rule: refused, flagged as a warning, or allowed); the lines' shipped_qty; the order completed when every line is shipped; one SSCC per package from [documents] gs1_company_prefix (503 when none is configured); the order's history.",
            "parameters": [id("order")],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeliveryInput"}}}},
            "responses": {"201": ok("Delivery"), "400": error, "401": error, "403": error, "404": error, "409": error, "422": error, "503": error}}},
        "/api/v1/deliveries": {"get": {"summary": "deliveries, newest first", "tags": ["crm"], "description": scope_note,
            "parameters": [q("order", "integer", "a sales order's id"), q("customer", "string", "a customer's code"),
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DELIVERY_LIST, "default": 50}}],
            "responses": {"200": ok("DeliveryList"), "400": error, "401": error, "403": error}}},
        "/api/v1/deliveries/{delivery}": {"get": {"summary": "a delivery: lines with lots, packages with SSCCs", "tags": ["crm"], "description": scope_note,
            "parameters": [id("delivery")], "responses": {"200": ok("Delivery"), "401": error, "403": error, "404": error}}},
        "/api/v1/deliveries/{delivery}/note.pdf": {"get": {"summary": "the delivery note as a PDF", "tags": ["crm"], "parameters": [id("delivery"), lang], "responses": pdf}},
        "/api/v1/deliveries/{delivery}/labels.zpl": {"get": {"summary": "the packages' SSCC labels as ZPL II, one per package", "tags": ["crm"], "parameters": [id("delivery")],
            "responses": {"200": {"description": "ZPL", "content": {"text/plain": {}}}, "401": error, "403": error, "404": error, "503": error}}},
        "/api/v1/deliveries/{delivery}/labels.pdf": {"get": {"summary": "the packages' SSCC labels as a PDF, one 100 × 150 mm page per package", "tags": ["crm"], "parameters": [id("delivery"), lang], "responses": pdf}},
        "/api/v1/lots/{lot}/customers": {"get": {"summary": "the recall list: every delivery that shipped the lot or a lot made from it", "tags": ["crm"],
            "description": "Needs lots.hold: a recall is a quality action and names every customer, whoever's order it was. The genealogy is walked downwards (lots produced by work orders that consumed or were issued the lot), bounded; `truncated` says when the walk stopped early.",
            "parameters": [{"name": "lot", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": ok("RecallList"), "400": error, "401": error, "403": error, "404": error}}},
        "/api/v1/shipment-exceptions": {"get": {"summary": "shipments scanned at edges that central disagreed with, newest first", "tags": ["crm"],
            "description": "A lot_shipped event is never refused: when its order is unknown or not confirmed, its line missing, of another item or over-shipped, or its lot held at central, it is booked as far as it can be (stock out, the delivery, shipped_qty) and each discrepancy is listed here, on the delivery's warnings and in the order's history. Needs crm.all.read.",
            "responses": {"200": ok("ShipmentExceptionList"), "401": error, "403": error}}}
    });
    let qty = json!({"type": "string", "description": "decimal"});
    let delivery = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "number": {"type": "string"}, "order": {"type": "integer"}, "order_number": {"type": "string"},
        "customer": {"type": "string"}, "customer_name": {"type": "string"}, "customer_po": {"type": "string"}, "owner": {"type": "string"},
        "date": {"type": "string", "format": "date"}, "note": {"type": "string"},
        "lines": {"type": "array", "items": {"type": "object", "properties": {"line": {"type": "integer"}, "item": {"type": "string"}, "description": {"type": "string"},
            "qty": qty, "uom": {"type": "string"}, "lot": {"type": "string"}, "location": {"type": "string"}}}},
        "packages": {"type": "array", "items": {"type": "object", "properties": {"package": {"type": "integer"}, "sscc": {"type": "string", "pattern": "^[0-9]{18}$"}}}},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "created_by": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}});
    let schemas = json!({
        "DeliveryInput": {"type": "object", "required": ["lines"], "properties": {
            "lines": {"type": "array", "minItems": 1, "maxItems": MAX_DELIVERY_LINES, "items": {"type": "object", "required": ["line", "qty"], "properties": {
                "line": {"type": "integer"}, "qty": qty, "lot": {"type": "string", "description": "absent: the item's lots in name order"},
                "location": {"type": "string", "description": "absent: wherever the lot (or item) is"}}}},
            "packages": {"type": "integer", "minimum": 1, "maximum": MAX_PACKAGES, "default": 1}, "note": {"type": "string"}}},
        "Delivery": delivery,
        "ShipmentExceptionList": {"type": "object", "properties": {"exceptions": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "edge_id": {"type": "string"}, "seq": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
            "order": {"type": "string"}, "line": {"type": "integer"}, "lot": {"type": "string"}, "qty": qty,
            "delivery": {"type": ["string", "null"]}, "problem": {"type": "string"}}}}}},
        "DeliveryList": {"type": "object", "properties": {"deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}}},
        "RecallList": {"type": "object", "properties": {"lot": {"type": "string"}, "lots": {"type": "array", "items": {"type": "string"}},
            "truncated": {"type": "boolean"},
            "deliveries": {"type": "array", "items": {"type": "object", "properties": {
                "customer": {"type": "string"}, "customer_name": {"type": "string"}, "order": {"type": "integer"}, "order_number": {"type": "string"},
                "customer_po": {"type": "string"}, "delivery": {"type": "integer"}, "delivery_number": {"type": "string"}, "date": {"type": "string", "format": "date"},
                "item": {"type": "string"}, "lot": {"type": "string"}, "qty": qty, "uom": {"type": "string"},
                "path": {"type": "array", "items": {"type": "string"}, "description": "from the recalled lot down to the shipped one"}}}}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::deliveries::DeliveryLineInput;

    #[test]
    fn delivery_inputs_are_bounded_and_named() {
        let line = |qty: &str| DeliveryLineInput {
            line: 1,
            qty: qty.parse().unwrap(),
            lot: None,
            location: None,
        };
        let input = |lines, packages| DeliveryInput {
            lines,
            packages,
            note: String::new(),
        };
        assert!(check_input(&input(vec![line("1")], 1)).is_empty());
        assert_eq!(check_input(&input(vec![], 1)).len(), 1);
        let p = check_input(&input(vec![line("0"), line("-1")], 0));
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("packages"), "{p:?}");
        assert!(p[1].starts_with("lines[1].qty"), "{p:?}");
        let many = (0..=MAX_DELIVERY_LINES).map(|_| line("1")).collect();
        assert_eq!(check_input(&input(many, 1)).len(), 1);
    }
}
