//! Quotations and sales orders (issue 16): written, sent, revised, re-priced, ordered whole or
//! in part, confirmed with a credit check and promise dates; the flags ERP's changes raise on
//! them; the quotation as a PDF; an order's status through an unguessable link.
//!
//! Who sees what is the CRM's ([`super::crm::scopes`]): `crm.read` one's own and one's team's
//! documents, `crm.all.read` everyone's, `crm.write` changes them; a document outside the
//! caller's scope answers 404. `GET /api/v1/order-status/{token}` is public: the token (256
//! random bits, made on confirmation) is the permission, and it answers what a customer may
//! see (no list prices, owner or history).

use super::AppState;
use super::crm::scopes;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::policy::{PUBLIC, Principal, Routes, needs};
use crate::crm::pdf::{Language, Party, QuotationDoc, QuotationLine, quotation_pdf};
use crate::crm::pricing::check_currency;
use crate::crm::sales::MAX_LINES;
use crate::crm::scope::SalesScope;
use crate::people::roles::Permission;
use crate::store::sales::{
    Flag, LineInput, OrderAction, OrderInput, QuotationInput, QuoteAction, SalesDoc,
    SalesDocSummary, SalesQuery, SalesRefusal, status_known,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub fn routes() -> Routes {
    use Permission::{CrmRead, CrmWrite};
    Routes::new()
        .get("/api/v1/quotations", needs(CrmRead), list_quotations)
        .post("/api/v1/quotations", needs(CrmWrite), create_quotation)
        .get(
            "/api/v1/quotations/{quotation}",
            needs(CrmRead),
            get_quotation,
        )
        .put(
            "/api/v1/quotations/{quotation}",
            needs(CrmWrite),
            put_quotation,
        )
        .post(
            "/api/v1/quotations/{quotation}/send",
            needs(CrmWrite),
            send_quotation,
        )
        .post(
            "/api/v1/quotations/{quotation}/revise",
            needs(CrmWrite),
            revise_quotation,
        )
        .post(
            "/api/v1/quotations/{quotation}/reprice",
            needs(CrmWrite),
            reprice_quotation,
        )
        .post(
            "/api/v1/quotations/{quotation}/reject",
            needs(CrmWrite),
            reject_quotation,
        )
        .get(
            "/api/v1/quotations/{quotation}/pdf",
            needs(CrmRead),
            quotation_document,
        )
        .get("/api/v1/sales-orders", needs(CrmRead), list_orders)
        .post("/api/v1/sales-orders", needs(CrmWrite), create_order)
        .get("/api/v1/sales-orders/{order}", needs(CrmRead), get_order)
        .put("/api/v1/sales-orders/{order}", needs(CrmWrite), put_order)
        .post(
            "/api/v1/sales-orders/{order}/confirm",
            needs(CrmWrite),
            confirm_order,
        )
        .post(
            "/api/v1/sales-orders/{order}/reprice",
            needs(CrmWrite),
            reprice_order,
        )
        .post(
            "/api/v1/sales-orders/{order}/cancel",
            needs(CrmWrite),
            cancel_order,
        )
        .get(
            "/api/v1/sales-orders/{order}/status-link",
            needs(CrmRead),
            status_link,
        )
        .get("/api/v1/crm/flags", needs(CrmRead), list_flags)
        .get("/api/v1/crm/cockpit", needs(CrmRead), cockpit)
        .get("/api/v1/order-status/{token}", PUBLIC, order_status)
}

/// Longest free text on a document (a note), in bytes.
const MAX_NOTE: usize = 2000;
/// Longest short text (an item code, a description, a PO number, a reason).
const MAX_SHORT: usize = 200;

fn refused(r: SalesRefusal) -> AppError {
    let clean = |s: &str| protocol::bounds::sanitize_text(s);
    match r {
        SalesRefusal::NotFound(what) => AppError::not_found(clean(&what)),
        SalesRefusal::Conflict(what) => {
            AppError::new(StatusCode::CONFLICT, "sales_conflict", clean(&what))
        }
        SalesRefusal::Invalid(problems) => AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_document",
            format!(
                "the document cannot be written: {}",
                problems
                    .iter()
                    .map(|p| clean(p))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
        SalesRefusal::Credit(refusal) => {
            AppError::new(StatusCode::CONFLICT, "credit_limit", refusal.to_string())
        }
        SalesRefusal::AwaitingApproval { message, .. } => {
            AppError::new(StatusCode::CONFLICT, "awaiting_approval", clean(&message))
        }
    }
}

fn too_long(field: &str, value: &str, max: usize) -> Option<String> {
    (value.len() > max).then(|| format!("{field}: {} bytes; expected at most {max}", value.len()))
}

fn check_lines(lines: &[LineInput], required: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if required && lines.is_empty() {
        problems.push("lines: none; expected at least one line".into());
    }
    if lines.len() > MAX_LINES {
        problems.push(format!(
            "lines: {}; expected at most {MAX_LINES}",
            lines.len()
        ));
        return problems;
    }
    for (i, l) in lines.iter().enumerate() {
        let n = i + 1;
        if l.item.trim().is_empty() {
            problems.push(format!("lines[{n}].item: empty; expected an item code"));
        }
        problems.extend(too_long(&format!("lines[{n}].item"), &l.item, 64));
        if let Some(d) = &l.description {
            problems.extend(too_long(&format!("lines[{n}].description"), d, MAX_SHORT));
        }
    }
    problems
}

fn check_currency_field(currency: &Option<String>, problems: &mut Vec<String>) {
    if let Some(c) = currency
        && let Err(p) = check_currency("currency", c)
    {
        problems.push(format!("currency: {}", p.message));
    }
}

fn check_quotation(q: &QuotationInput) -> Result<(), AppError> {
    let mut problems = check_lines(&q.lines, true);
    problems.extend(too_long("customer", &q.customer, 64));
    problems.extend(too_long("note", &q.note, MAX_NOTE));
    if let Some(t) = &q.tax_code {
        problems.extend(too_long("tax_code", t, 32));
    }
    check_currency_field(&q.currency, &mut problems);
    invalid(problems)
}

fn check_order(o: &OrderInput) -> Result<(), AppError> {
    let mut problems = check_lines(&o.lines, false);
    if let Some(picks) = &o.quoted_lines
        && picks.len() > MAX_LINES
    {
        problems.push(format!(
            "quoted_lines: {}; expected at most {MAX_LINES}",
            picks.len()
        ));
    }
    for (i, p) in o.quoted_lines.iter().flatten().enumerate() {
        if let Some(qty) = p.qty
            && (qty <= Decimal::ZERO || qty > protocol::bounds::MAX_QTY)
        {
            problems.push(format!(
                "quoted_lines[{}].qty: {qty}; expected more than 0 and at most {}",
                i + 1,
                protocol::bounds::MAX_QTY
            ));
        }
    }
    if let Some(c) = &o.customer {
        problems.extend(too_long("customer", c, 64));
    }
    problems.extend(too_long("customer_po", &o.customer_po, 64));
    problems.extend(too_long("note", &o.note, MAX_NOTE));
    if let Some(t) = &o.tax_code {
        problems.extend(too_long("tax_code", t, 32));
    }
    check_currency_field(&o.currency, &mut problems);
    invalid(problems)
}

fn invalid(problems: Vec<String>) -> Result<(), AppError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(refused(SalesRefusal::Invalid(problems)))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    customer: Option<String>,
    status: Option<String>,
    owner: Option<String>,
    search: Option<String>,
    #[serde(default)]
    flagged: bool,
    before: Option<i64>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SalesList {
    pub documents: Vec<SalesDocSummary>,
    /// The `before` of the next page, when this one is full.
    pub next: Option<i64>,
}

async fn list(
    state: &AppState,
    p: &Principal,
    kind: &'static str,
    q: ListParams,
) -> Result<SalesList, AppError> {
    for (field, value) in [
        ("search", &q.search),
        ("customer", &q.customer),
        ("owner", &q.owner),
    ] {
        if let Some(v) = value
            && v.len() > MAX_SHORT
        {
            return Err(AppError::bad_request(format!(
                "{field}: more than {MAX_SHORT} bytes"
            )));
        }
    }
    if let Some(s) = &q.status
        && !status_known(kind, s)
    {
        return Err(AppError::bad_request(format!(
            "status: {:?} is not a {kind} status",
            protocol::bounds::sanitize(s, 32, false)
        )));
    }
    let limit = match q.limit {
        None => 50,
        Some(n) if (1..=crate::store::sales::MAX_LIST).contains(&n) => n,
        Some(n) => {
            return Err(AppError::bad_request(format!(
                "limit: {n}; expected 1 to {}",
                crate::store::sales::MAX_LIST
            )));
        }
    };
    let s = scopes(state, p).await?;
    let documents = state
        .store()
        .sales_docs(
            kind,
            SalesQuery {
                customer: q.customer,
                status: q.status,
                owner: q.owner,
                search: q.search,
                flagged: q.flagged,
                before: q.before,
                limit,
            },
            s.read,
            Utc::now().date_naive(),
        )
        .await?;
    let next = (documents.len() == limit)
        .then(|| documents.last().map(|d| d.id))
        .flatten();
    Ok(SalesList { documents, next })
}

async fn one(
    state: &AppState,
    p: &Principal,
    kind: &'static str,
    id: i64,
) -> Result<SalesDoc, AppError> {
    let s = scopes(state, p).await?;
    state
        .store()
        .sales_doc(kind, id, s.read, Utc::now().date_naive())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no {} {id}", noun(kind))))
}

fn noun(kind: &str) -> &'static str {
    if kind == "quotation" {
        "quotation"
    } else {
        "sales order"
    }
}

async fn list_quotations(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<axum::Json<SalesList>, AppError> {
    Ok(axum::Json(list(&state, &p, "quotation", q).await?))
}

async fn get_quotation(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    Ok(axum::Json(one(&state, &p, "quotation", id).await?))
}

async fn create_quotation(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<QuotationInput>,
) -> Result<(StatusCode, axum::Json<SalesDoc>), AppError> {
    check_quotation(&body)?;
    let s = scopes(&state, &p).await?;
    let owner = s.owner(body.owner.clone())?;
    let doc = state
        .store()
        .put_quotation(None, body, owner, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    tracing::info!(quotation = %doc.reference(), customer = %doc.customer, "quotation created");
    Ok((StatusCode::CREATED, axum::Json(doc)))
}

async fn put_quotation(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<QuotationInput>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    check_quotation(&body)?;
    let s = scopes(&state, &p).await?;
    let current = state
        .store()
        .sales_doc("quotation", id, s.write.clone(), Utc::now().date_naive())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no quotation {id}")))?;
    let owner = match &body.owner {
        None => current.owner,
        named => s.owner(named.clone())?,
    };
    let doc = state
        .store()
        .put_quotation(Some(id), body, owner, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(doc))
}

async fn quote_action(
    state: &AppState,
    p: &Principal,
    id: i64,
    action: QuoteAction,
) -> Result<axum::Json<SalesDoc>, AppError> {
    let s = scopes(state, p).await?;
    let doc = state
        .store()
        .quotation_action(id, action, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(doc))
}

async fn send_quotation(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    quote_action(&state, &p, id, QuoteAction::Send).await
}

async fn revise_quotation(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    quote_action(&state, &p, id, QuoteAction::Revise).await
}

async fn reprice_quotation(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    quote_action(&state, &p, id, QuoteAction::Reprice).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

fn check_reason(r: &Reason) -> Result<String, AppError> {
    let reason = r.reason.trim();
    if reason.is_empty() || reason.len() > MAX_SHORT {
        return Err(AppError::bad_request(format!(
            "reason: expected 1 to {MAX_SHORT} bytes saying why"
        )));
    }
    Ok(reason.to_owned())
}

async fn reject_quotation(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Reason>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    let reason = check_reason(&body)?;
    quote_action(&state, &p, id, QuoteAction::Reject { reason }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PdfParams {
    lang: Option<String>,
}

/// The quotation as it is printed, from the document and the configured seller.
fn quotation_doc(
    state: &AppState,
    q: &SalesDoc,
    customer: &crate::crm::customers::Customer,
) -> QuotationDoc {
    let d = state.documents();
    let address = customer
        .addresses
        .iter()
        .find(|a| a.kind == "billing")
        .or(customer.addresses.first())
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
    QuotationDoc {
        seller: Party {
            name: d.company_name.clone(),
            address: d.company_address.clone(),
            contact: d.company_contact.clone(),
        },
        number: q.number.clone(),
        revision: q.revision,
        date: q.date,
        valid_until: q.valid_until.unwrap_or(q.date),
        customer: Party {
            name: q.customer_name.clone(),
            address,
            contact: customer.code.clone(),
        },
        currency: q.currency.clone(),
        lines: q
            .lines
            .iter()
            .map(|l| QuotationLine {
                item_code: l.item.clone(),
                description: l.description.clone(),
                quantity: l.qty,
                unit: l.uom.clone(),
                unit_price: l.unit_price,
                discount_percent: l.discount_pct,
                net_amount: l.net,
            })
            .collect(),
        subtotal: q.totals.net,
        tax_rate_percent: q.tax_pct,
        tax_amount: q.totals.tax,
        total: q.totals.gross,
        payment_terms: customer.payment_terms.clone(),
        notes: q.note.clone(),
    }
}

/// `GET /api/v1/quotations/{id}/pdf?lang=zh|en`: the quotation as the customer receives it
/// (labels in the language asked for, else the caller's).
async fn quotation_document(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PdfParams>,
) -> Result<Response, AppError> {
    let lang = match q.lang.as_deref() {
        None => p.language(),
        Some(l) => {
            Language::parse(l).ok_or_else(|| AppError::bad_request("lang: expected zh or en"))?
        }
    };
    let doc = one(&state, &p, "quotation", id).await?;
    let customer = state
        .store()
        .customer(doc.customer.clone(), SalesScope::All)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no customer {:?}", doc.customer)))?;
    let printed = quotation_doc(&state, &doc, &customer);
    let worker = state.clone();
    let pdf = tokio::task::spawn_blocking(move || {
        let fonts = worker.fonts();
        quotation_pdf(&printed, lang, &fonts)
    })
    .await
    .map_err(|e| AppError::internal(format!("the PDF could not be made: {e}")))?
    .map_err(|e| {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "document_unavailable",
            e.to_string(),
        )
    })?;
    let name = format!("{}-{}.pdf", doc.number, doc.revision);
    Ok((
        [
            (CONTENT_TYPE, "application/pdf".to_owned()),
            (CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
        ],
        pdf,
    )
        .into_response())
}

async fn list_orders(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<axum::Json<SalesList>, AppError> {
    Ok(axum::Json(list(&state, &p, "order", q).await?))
}

async fn get_order(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    Ok(axum::Json(one(&state, &p, "order", id).await?))
}

async fn create_order(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<OrderInput>,
) -> Result<(StatusCode, axum::Json<SalesDoc>), AppError> {
    check_order(&body)?;
    let s = scopes(&state, &p).await?;
    let owner = s.owner(body.owner.clone())?;
    let doc = state
        .store()
        .put_order(None, body, owner, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    tracing::info!(order = %doc.number, customer = %doc.customer, "sales order created");
    Ok((StatusCode::CREATED, axum::Json(doc)))
}

async fn put_order(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<OrderInput>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    check_order(&body)?;
    let s = scopes(&state, &p).await?;
    let current = state
        .store()
        .sales_doc("order", id, s.write.clone(), Utc::now().date_naive())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no sales order {id}")))?;
    let owner = match &body.owner {
        None => current.owner,
        named => s.owner(named.clone())?,
    };
    let doc = state
        .store()
        .put_order(Some(id), body, owner, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(doc))
}

async fn order_action(
    state: &AppState,
    p: &Principal,
    id: i64,
    action: OrderAction,
) -> Result<axum::Json<SalesDoc>, AppError> {
    let s = scopes(state, p).await?;
    let doc = state
        .store()
        .order_action(id, action, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    // A confirmed or cancelled order changed what the docks ship.
    state.wake_shipping_edges().await;
    Ok(axum::Json(doc))
}

async fn confirm_order(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    let doc = order_action(&state, &p, id, OrderAction::Confirm).await?;
    tracing::info!(order = %doc.number, "sales order confirmed");
    Ok(doc)
}

async fn reprice_order(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    order_action(&state, &p, id, OrderAction::Reprice).await
}

async fn cancel_order(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Reason>,
) -> Result<axum::Json<SalesDoc>, AppError> {
    let reason = check_reason(&body)?;
    order_action(&state, &p, id, OrderAction::Cancel { reason }).await
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StatusLink {
    pub token: String,
    /// The path of the read-only status page (beside central's address).
    pub page: String,
    /// The same as JSON.
    pub api: String,
}

/// `GET /api/v1/sales-orders/{id}/status-link`: what to send the customer.
async fn status_link(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<StatusLink>, AppError> {
    let s = scopes(&state, &p).await?;
    let token = state
        .store()
        .order_token(id, s.read)
        .await?
        .ok_or_else(|| {
            AppError::not_found(format!(
                "no confirmed sales order {id}; the link is made when the order is confirmed"
            ))
        })?;
    Ok(axum::Json(StatusLink {
        page: format!("/order-status/{token}"),
        api: format!("/api/v1/order-status/{token}"),
        token,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlagParams {
    #[serde(default)]
    all: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FlagList {
    pub flags: Vec<Flag>,
}

/// `GET /api/v1/crm/flags`: documents ERP's changes flagged, the caller's (and their team's).
async fn list_flags(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<FlagParams>,
) -> Result<axum::Json<FlagList>, AppError> {
    let s = scopes(&state, &p).await?;
    let flags = state.store().sales_flags(q.all, s.read).await?;
    Ok(axum::Json(FlagList { flags }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CockpitParams {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    currency: Option<String>,
}

/// The cockpit's period: `to` today unless given, `from` the first day of `to`'s year unless
/// given; `None` when `from` is after `to` or they are more than ten years apart (the API
/// refuses it, the page says so).
pub fn cockpit_period(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    use chrono::Datelike;
    let to = to.unwrap_or(today);
    let from = from
        .or_else(|| NaiveDate::from_ymd_opt(to.year(), 1, 1))
        .unwrap_or(to);
    (from <= to && (to - from).num_days() <= 3660).then_some((from, to))
}

/// `GET /api/v1/crm/cockpit?from=&to=&currency=`: sales by region, industry, item and
/// salesperson, the top customers, the win rate and the open pipeline, over the caller's
/// scope; this year to date in CNY unless asked.
async fn cockpit(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<CockpitParams>,
) -> Result<axum::Json<crate::store::sales::Cockpit>, AppError> {
    let (from, to) = cockpit_period(q.from, q.to, Utc::now().date_naive()).ok_or_else(|| {
        AppError::bad_request("from, to: expected from on or before to, at most ten years apart")
    })?;
    let currency = q.currency.unwrap_or_else(|| "CNY".into());
    let mut problems = Vec::new();
    check_currency_field(&Some(currency.clone()), &mut problems);
    invalid(problems)?;
    let s = scopes(&state, &p).await?;
    Ok(axum::Json(
        state.store().cockpit(from, to, currency, s.read).await?,
    ))
}

/// A line as the customer follows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusLine {
    pub line: u32,
    pub item: String,
    pub description: String,
    pub qty: Decimal,
    pub uom: String,
    pub requested_date: Option<NaiveDate>,
    pub confirmed_date: Option<NaiveDate>,
    /// Made so far (good, at the last operation of the work orders made for the line).
    pub good: u64,
    /// When it is expected ready.
    pub projected_date: Option<NaiveDate>,
    pub shipped_qty: Decimal,
}

/// What the status link shows.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrderStatusView {
    pub number: String,
    pub customer_name: String,
    pub customer_po: String,
    pub date: NaiveDate,
    pub status: String,
    pub lines: Vec<StatusLine>,
}

pub fn status_view(doc: &SalesDoc) -> OrderStatusView {
    OrderStatusView {
        number: doc.number.clone(),
        customer_name: doc.customer_name.clone(),
        customer_po: doc.customer_po.clone(),
        date: doc.date,
        status: doc.status.clone(),
        lines: doc
            .lines
            .iter()
            .map(|l| StatusLine {
                line: l.line,
                item: l.item.clone(),
                description: l.description.clone(),
                qty: l.qty,
                uom: l.uom.clone(),
                requested_date: l.requested_date,
                confirmed_date: l.confirmed_date,
                good: l.good,
                projected_date: l.projected_date,
                shipped_qty: l.shipped_qty,
            })
            .collect(),
    }
}

/// Whether a path segment can be a status token at all (64 lowercase hex characters).
pub fn token_shape(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `GET /api/v1/order-status/{token}`: public; the token is the permission.
async fn order_status(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> Result<axum::Json<OrderStatusView>, AppError> {
    let missing =
        || AppError::not_found("no order has this status link; ask your contact for a new one");
    if !token_shape(&token) {
        return Err(missing());
    }
    let doc = state
        .store()
        .order_by_token(token)
        .await?
        .ok_or_else(missing)?;
    Ok(axum::Json(status_view(&doc)))
}

pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let q = |name: &str, kind: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}, "description": description});
    let id = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}});
    let ok = |schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let reason = json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}}}});
    let list_params = |statuses: &str| {
        json!([q("customer", "string", "a customer's code"), q("status", "string", statuses), q("owner", "string", "a salesperson's login"),
            q("search", "string", "part of the number, the customer's code or name, the customer's PO"),
            q("flagged", "boolean", "only documents with open flags"), q("before", "integer", "the previous page's `next`"),
            {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": crate::store::sales::MAX_LIST, "default": 50}}])
    };
    let doc_answer = json!({"200": ok("SalesDoc"), "401": error, "403": error, "404": error, "409": error, "422": error});
    let scope_note = "Scoped like customers: one's own, one's team's, or everyone's with crm.all.read; others answer 404.";
    let paths = json!({
        "/api/v1/quotations": {
            "get": {"summary": "quotations, newest first", "tags": ["crm"], "description": scope_note,
                "parameters": list_params("draft, sent, accepted, rejected or superseded"), "responses": {"200": ok("SalesList"), "400": error, "401": error, "403": error}},
            "post": {"summary": "a new quotation (revision 1 of a new number)", "tags": ["crm"],
                "description": "Lines without unit_price are priced from the price lists (the customer's price, else their group's, else the list price, in the quotation's currency on its date); a line that cannot be priced is named. Valid 30 days unless valid_days says otherwise.",
                "requestBody": body("QuotationInput"), "responses": {"201": ok("SalesDoc"), "400": error, "401": error, "403": error, "404": error, "422": error}}
        },
        "/api/v1/quotations/{quotation}": {
            "get": {"summary": "a quotation: lines, open flags, history", "tags": ["crm"], "parameters": [id("quotation")], "responses": {"200": ok("SalesDoc"), "401": error, "403": error, "404": error}},
            "put": {"summary": "change a draft quotation", "tags": ["crm"], "description": "A sent revision never changes: 409; revise it.", "parameters": [id("quotation")], "requestBody": body("QuotationInput"), "responses": doc_answer}
        },
        "/api/v1/quotations/{quotation}/send": {"post": {"summary": "send: the revision never changes again", "tags": ["crm"], "parameters": [id("quotation")], "responses": doc_answer}},
        "/api/v1/quotations/{quotation}/revise": {"post": {"summary": "a new draft revision with the same lines; this one is superseded", "tags": ["crm"], "parameters": [id("quotation")], "responses": doc_answer}},
        "/api/v1/quotations/{quotation}/reprice": {"post": {"summary": "price the lines again from today's price lists", "tags": ["crm"], "description": "A draft is re-priced in place; a sent or expired one becomes a new revision dated today. Open flags are resolved; the change is in the history.", "parameters": [id("quotation")], "responses": doc_answer}},
        "/api/v1/quotations/{quotation}/reject": {"post": {"summary": "the customer said no", "tags": ["crm"], "parameters": [id("quotation")], "requestBody": reason, "responses": doc_answer}},
        "/api/v1/quotations/{quotation}/pdf": {"get": {"summary": "the quotation as a PDF", "tags": ["crm"], "parameters": [id("quotation"), q("lang", "string", "zh or en; the caller's language when absent")],
            "responses": {"200": {"description": "the PDF", "content": {"application/pdf": {}}}, "400": error, "401": error, "403": error, "404": error, "503": error}}},
        "/api/v1/sales-orders": {
            "get": {"summary": "sales orders, newest first", "tags": ["crm"], "description": scope_note,
                "parameters": list_params("draft, confirmed, completed or cancelled"), "responses": {"200": ok("SalesList"), "400": error, "401": error, "403": error}},
            "post": {"summary": "a new sales order, from a quotation or direct", "tags": ["crm"],
                "description": "From a sent, unexpired quotation: its customer, currency and prices; `quoted_lines` for a part (the quotation keeps what was ordered and refuses more than it offered). Direct: `customer` and `lines`, priced like a quotation's.",
                "requestBody": body("OrderInput"), "responses": {"201": ok("SalesDoc"), "400": error, "401": error, "403": error, "404": error, "409": error, "422": error}}
        },
        "/api/v1/sales-orders/{order}": {
            "get": {"summary": "a sales order: lines with promise dates, open flags, history", "tags": ["crm"], "parameters": [id("order")], "responses": {"200": ok("SalesDoc"), "401": error, "403": error, "404": error}},
            "put": {"summary": "change a draft order", "tags": ["crm"], "parameters": [id("order")], "requestBody": body("OrderInput"), "responses": doc_answer}
        },
        "/api/v1/sales-orders/{order}/confirm": {"post": {"summary": "confirm: credit check, promise dates, demand for MRP", "tags": ["crm"],
            "description": "Over the customer's credit limit: 409 `credit_limit` with the limit, the open orders and this order. Each line gets a confirmed date and what limits it (stock, a scheduled receipt, a lead time, a component).",
            "parameters": [id("order")], "responses": doc_answer}},
        "/api/v1/sales-orders/{order}/reprice": {"post": {"summary": "price a draft order's lines again from today's price lists", "tags": ["crm"], "parameters": [id("order")], "responses": doc_answer}},
        "/api/v1/sales-orders/{order}/cancel": {"post": {"summary": "cancel; a quotation's ordered quantities are given back", "tags": ["crm"], "parameters": [id("order")], "requestBody": reason, "responses": doc_answer}},
        "/api/v1/sales-orders/{order}/status-link": {"get": {"summary": "the unguessable link to send the customer", "tags": ["crm"], "parameters": [id("order")],
            "responses": {"200": ok("StatusLink"), "401": error, "403": error, "404": error}}},
        "/api/v1/crm/cockpit": {"get": {"summary": "the sales cockpit: sales by region, industry, item and salesperson, top customers, win rate, open pipeline", "tags": ["crm"],
            "description": "Confirmed and completed orders dated in the period, in one currency (orders in others are counted, not summed); opportunities won and lost in the period; the caller's scope.",
            "parameters": [q("from", "string", "YYYY-MM-DD; the year's first day when absent"), q("to", "string", "YYYY-MM-DD; today when absent"), q("currency", "string", "ISO 4217; CNY when absent")],
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": error, "401": error, "403": error, "422": error}}},
        "/api/v1/crm/flags": {"get": {"summary": "documents ERP's changes flagged (a price, a BOM revision)", "tags": ["crm"], "parameters": [q("all", "boolean", "resolved ones too")],
            "responses": {"200": ok("FlagList"), "401": error, "403": error}}},
        "/api/v1/order-status/{token}": {"get": {"summary": "an order's status for its customer", "tags": ["crm"], "description": "Public: the token is the permission. No prices, owner or history.",
            "parameters": [{"name": "token", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": ok("OrderStatus"), "404": error}}}
    });
    let money = json!({"type": "string", "description": "decimal"});
    let line_input = json!({"type": "object", "required": ["item", "qty"], "properties": {
        "item": {"type": "string"}, "description": {"type": "string"}, "qty": money, "unit_price": {"type": "string", "description": "absent: the price lists' price"},
        "discount_pct": money, "requested_date": {"type": "string", "format": "date"}}});
    let line = json!({"type": "object", "properties": {
        "line": {"type": "integer"}, "item": {"type": "string"}, "description": {"type": "string"}, "qty": money, "uom": {"type": "string"},
        "list_price": money, "price_source": {"type": "string", "enum": ["customer", "group", "list", "manual"]}, "unit_price": money,
        "discount_pct": money, "net": money, "requested_date": {"type": "string", "format": "date", "nullable": true},
        "ordered_qty": money, "quotation_line": {"type": "integer", "nullable": true},
        "confirmed_date": {"type": "string", "format": "date", "nullable": true},
        "limit": {"type": "object", "nullable": true, "description": "what limits the confirmed date: {code: stock | scheduled_receipt | lead_time | component | capacity, ...}"},
        "promise": {"type": "string", "nullable": true}, "shipped_qty": money,
        "work_orders": {"type": "array", "description": "confirmed orders: the work orders made for the line, live", "items": {"type": "object", "properties": {
            "work_order": {"type": "string"}, "state": {"type": "string"}, "qty": money, "due": {"type": "string", "format": "date"}, "good": {"type": "integer"}, "scrap": {"type": "integer"}}}},
        "good": {"type": "integer"}, "scrap": {"type": "integer"},
        "projected_date": {"type": "string", "format": "date", "nullable": true},
        "late_risk": {"type": "string", "nullable": true, "description": "why the line may miss its confirmed date; null: on track"}}});
    let flag = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string"}, "document": {"type": "integer"}, "number": {"type": "string"},
        "customer": {"type": "string"}, "owner": {"type": "string"}, "line": {"type": "integer"}, "item": {"type": "string"},
        "reason": {"type": "string", "enum": ["price", "bom_revision"]}, "old_price": money, "new_price": money, "detail": {"type": "string"},
        "flagged_at": {"type": "string", "format": "date-time"}, "resolved_at": {"type": "string", "format": "date-time", "nullable": true},
        "resolved_by": {"type": "string", "nullable": true}}});
    let schemas = json!({
        "QuotationInput": {"type": "object", "required": ["customer", "lines"], "properties": {
            "customer": {"type": "string"}, "contact": {"type": "integer"}, "currency": {"type": "string", "description": "absent: the customer's"},
            "date": {"type": "string", "format": "date"}, "valid_days": {"type": "integer", "minimum": 1, "maximum": crate::crm::sales::MAX_VALIDITY_DAYS, "default": 30},
            "tax_code": {"type": "string"}, "owner": {"type": "string"}, "note": {"type": "string"},
            "lines": {"type": "array", "maxItems": MAX_LINES, "items": line_input}}},
        "OrderInput": {"type": "object", "properties": {
            "quotation": {"type": "integer"}, "quoted_lines": {"type": "array", "items": {"type": "object", "required": ["line"], "properties": {"line": {"type": "integer"}, "qty": money, "requested_date": {"type": "string", "format": "date"}}}},
            "customer": {"type": "string"}, "currency": {"type": "string"}, "date": {"type": "string", "format": "date"}, "tax_code": {"type": "string"},
            "customer_po": {"type": "string"}, "owner": {"type": "string"}, "note": {"type": "string"},
            "lines": {"type": "array", "maxItems": MAX_LINES, "items": line_input}}},
        "SalesDoc": {"type": "object", "properties": {
            "id": {"type": "integer"}, "kind": {"type": "string", "enum": ["quotation", "order"]}, "number": {"type": "string"}, "revision": {"type": "integer"},
            "replaces": {"type": "integer", "nullable": true}, "replaced_by": {"type": "integer", "nullable": true},
            "customer": {"type": "string"}, "customer_name": {"type": "string"}, "contact": {"type": "integer", "nullable": true}, "owner": {"type": "string"},
            "currency": {"type": "string"}, "status": {"type": "string"}, "date": {"type": "string", "format": "date"},
            "valid_until": {"type": "string", "format": "date", "nullable": true}, "expired": {"type": "boolean"},
            "quotation": {"type": "integer", "nullable": true}, "quotation_number": {"type": "string", "nullable": true}, "customer_po": {"type": "string"},
            "tax_code": {"type": "string", "nullable": true}, "tax_pct": money,
            "totals": {"type": "object", "properties": {"net": money, "tax": money, "gross": money}}, "note": {"type": "string"},
            "lines": {"type": "array", "items": line}, "flags": {"type": "array", "items": flag},
            "history": {"type": "array", "items": {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}, "by": {"type": "string"}, "action": {"type": "string"}, "detail": {"type": "object"}}}},
            "created_by": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
            "sent_at": {"type": "string", "format": "date-time", "nullable": true}, "confirmed_at": {"type": "string", "format": "date-time", "nullable": true},
            "confirmed_by": {"type": "string", "nullable": true}}},
        "SalesList": {"type": "object", "properties": {"documents": {"type": "array", "items": {"type": "object"}}, "next": {"type": "integer", "nullable": true}}},
        "FlagList": {"type": "object", "properties": {"flags": {"type": "array", "items": flag}}},
        "StatusLink": {"type": "object", "properties": {"token": {"type": "string"}, "page": {"type": "string"}, "api": {"type": "string"}}},
        "OrderStatus": {"type": "object", "properties": {"number": {"type": "string"}, "customer_name": {"type": "string"}, "customer_po": {"type": "string"},
            "date": {"type": "string", "format": "date"}, "status": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"line": {"type": "integer"}, "item": {"type": "string"}, "description": {"type": "string"},
                "qty": money, "uom": {"type": "string"}, "requested_date": {"type": "string", "format": "date", "nullable": true},
                "confirmed_date": {"type": "string", "format": "date", "nullable": true}, "good": {"type": "integer"},
                "projected_date": {"type": "string", "format": "date", "nullable": true}, "shipped_qty": money}}}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_shaped_segments_reach_the_store() {
        assert!(token_shape(&crate::auth::new_token()));
        assert!(!token_shape("../../etc"));
        assert!(!token_shape(&"A".repeat(64)));
        assert!(!token_shape(&"a".repeat(65)));
    }

    #[test]
    fn inputs_are_bounded_and_named() {
        let line = |item: &str| LineInput {
            item: item.into(),
            description: None,
            qty: Decimal::ONE,
            unit_price: None,
            discount_pct: None,
            requested_date: None,
        };
        assert_eq!(check_lines(&[], true).len(), 1);
        assert!(check_lines(&[line("A")], true).is_empty());
        let p = check_lines(&[line(""), line(&"x".repeat(65))], true);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[1].starts_with("lines[2].item"), "{p:?}");
        let many: Vec<LineInput> = (0..=MAX_LINES).map(|_| line("A")).collect();
        assert_eq!(check_lines(&many, true).len(), 1);
    }
}
