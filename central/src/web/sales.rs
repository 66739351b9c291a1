//! The pages of quotations and sales orders (issue 16): `/crm/quotations` (the list, a new
//! quotation), `/crm/quotations/{quotation}` (lines, totals, open flags, history; send,
//! revise, re-price, reject, the PDF, an order from it), `/crm/orders` and
//! `/crm/orders/{order}` (promise dates and what limits them, the work orders made for each
//! line; confirm, re-price, cancel, the customer's status link), `/crm/flags` (what ERP's
//! changes flagged) and the customer's read-only `/order-status/{token}`.
//!
//! Rendered from the store's reads the API answers with ([`crate::api::sales`]) in the
//! caller's [`crate::crm::scope::SalesScope`]: a document outside it is a 404 page. Every
//! change is the script's, through the JSON API with the CSRF token.
//!
//! **Architecture Invariant:** `/order-status/{token}` is public: the token is the
//! permission. A segment without [`crate::api::sales::token_shape`] is refused before the
//! store is asked, and every refusal is the same 404 page; it shows what
//! [`crate::api::sales::status_view`] lets a customer see (no prices, owner or history).

use super::crm::{answer, customer_href, list_href, name_of, names};
use super::{Ctx, Shell, T, ctx_shell, ctx_t, query_value};
use crate::api::AppState;
use crate::api::crm::scopes;
use crate::api::error::AppError;
use crate::api::policy::{PUBLIC, Principal, Routes, cookie, needs};
use crate::api::sales::{OrderStatusView, status_view, token_shape};
use crate::crm::promise::Limit;
use crate::people::roles::Permission;
use crate::people::users::Language;
use crate::store::sales::{Flag, SalesDoc, SalesLine, SalesQuery, status_known};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Documents one page of a list shows, newest first.
pub const PAGE_ROWS: usize = 50;

pub fn routes() -> Routes {
    use Permission::CrmRead;
    Routes::new()
        .get("/crm/quotations", needs(CrmRead), quotations_page)
        .get(
            "/crm/quotations/{quotation}",
            needs(CrmRead),
            quotation_page,
        )
        .get("/crm/orders", needs(CrmRead), orders_page)
        .get("/crm/orders/{order}", needs(CrmRead), order_page)
        .get("/crm/flags", needs(CrmRead), flags_page)
        .get("/crm/cockpit", needs(CrmRead), cockpit_page)
        .get("/order-status/{token}", PUBLIC, status_page)
}

// ---------------------------------------------------------------------------------------------
// What the pages share

/// An amount of money: two decimals, more only when the price has them.
pub fn money(d: Decimal) -> String {
    let n = d.normalize();
    if n.scale() > 2 {
        n.to_string()
    } else {
        format!("{:.2}", d)
    }
}

/// A quantity as written: no trailing zeros.
pub fn qty(d: Decimal) -> String {
    d.normalize().to_string()
}

/// The catalogue key of a document's status.
pub fn status_key(status: &str) -> &'static str {
    match status {
        "draft" => "sales_status_draft",
        "sent" => "sales_status_sent",
        "accepted" => "sales_status_accepted",
        "rejected" => "sales_status_rejected",
        "superseded" => "sales_status_superseded",
        "confirmed" => "sales_status_confirmed",
        "completed" => "sales_status_completed",
        "cancelled" => "sales_status_cancelled",
        _ => "sales_status_other",
    }
}

/// The catalogue key of what limits a promise date.
pub fn limit_key(limit: &Limit) -> &'static str {
    match limit {
        Limit::Stock => "sales_limit_stock",
        Limit::ScheduledReceipt { .. } => "sales_limit_scheduled_receipt",
        Limit::LeadTime { .. } => "sales_limit_lead_time",
        Limit::Component { .. } => "sales_limit_component",
        Limit::Capacity { .. } => "sales_limit_capacity",
    }
}

/// The catalogue key of where a line's price came from.
fn source_key(source: &str) -> &'static str {
    match source {
        "customer" => "sales_source_customer",
        "group" => "sales_source_group",
        "list" => "sales_source_list",
        _ => "sales_source_manual",
    }
}

/// The catalogue key of a history entry's action; `None`: shown as the store names it.
fn action_key(action: &str) -> Option<&'static str> {
    Some(match action {
        "created" => "sales_action_created",
        "changed" => "sales_action_changed",
        "sent" => "sales_action_sent",
        "revised" => "sales_action_revised",
        "repriced" => "sales_action_repriced",
        "rejected" => "sales_action_rejected",
        "ordered" => "sales_action_ordered",
        "confirmed" => "sales_action_confirmed",
        "cancelled" => "sales_action_cancelled",
        "flagged" => "sales_action_flagged",
        "credit_refused" => "sales_action_credit_refused",
        _ => return None,
    })
}

fn reason_key(reason: &str) -> &'static str {
    match reason {
        "price" => "sales_flag_price",
        "obsolete" => "sales_flag_obsolete",
        _ => "sales_flag_bom",
    }
}

/// A draft's line as its editor starts from: a price only where it was agreed by hand (the
/// others are priced again from the lists when the draft is saved).
pub struct EditLine {
    pub item: String,
    pub qty: String,
    pub price: String,
    pub discount: String,
}

fn edit_line(l: &SalesLine) -> EditLine {
    EditLine {
        item: l.item.clone(),
        qty: l.qty.normalize().to_string(),
        price: if l.price_source == "manual" {
            l.unit_price.normalize().to_string()
        } else {
            String::new()
        },
        discount: if l.discount_pct.is_zero() {
            String::new()
        } else {
            l.discount_pct.normalize().to_string()
        },
    }
}

pub fn quotation_href(id: i64) -> String {
    format!("/crm/quotations/{id}")
}

pub fn order_href(id: i64) -> String {
    format!("/crm/orders/{id}")
}

fn opt_date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn opt_money(d: Option<Decimal>) -> String {
    d.map(money).unwrap_or_default()
}

/// A page's query value, trimmed; empty when absent.
fn value(uri: &Uri, name: &str) -> String {
    query_value(uri, name)
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

fn some(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

fn not_found(kind: &str, id: &str) -> AppError {
    AppError::not_found(format!(
        "no {kind} {:?}",
        protocol::bounds::sanitize(id, 32, false)
    ))
}

// ---------------------------------------------------------------------------------------------
// The lists

pub struct DocRow {
    pub id: i64,
    pub href: String,
    pub reference: String,
    pub customer: String,
    pub customer_code: String,
    pub customer_href: String,
    pub status: String,
    pub status_key: &'static str,
    pub date: String,
    pub valid_until: String,
    pub expired: bool,
    pub gross: String,
    pub currency: String,
    pub lines: u32,
    pub flags: u32,
    pub owner: String,
}

#[derive(Template)]
#[template(path = "crm_quotations.html")]
struct QuotationsPage {
    t: T,
    shell: Shell,
    orders: bool,
    rows: Vec<DocRow>,
    statuses: Vec<(&'static str, &'static str)>,
    status: String,
    q: String,
    flagged: bool,
    first_href: Option<String>,
    next_href: Option<String>,
    api_href: String,
    can_write: bool,
    open_flags: usize,
}

async fn quotations_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/quotations");
    let page = list(&state, &p, &uri, &ctx, "quotation").await;
    answer(&ctx, page)
}

async fn orders_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/quotations");
    let page = list(&state, &p, &uri, &ctx, "order").await;
    answer(&ctx, page)
}

async fn list(
    state: &AppState,
    p: &Principal,
    uri: &Uri,
    ctx: &Ctx,
    kind: &'static str,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let (status, q, before) = (value(uri, "status"), value(uri, "q"), value(uri, "before"));
    let flagged = matches!(value(uri, "flagged").as_str(), "true" | "1" | "on");
    if !status.is_empty() && !status_known(kind, &status) {
        return Err(AppError::bad_request(format!(
            "status: {:?} is not a {kind} status",
            protocol::bounds::sanitize(&status, 32, false)
        )));
    }
    if q.len() > 200 {
        return Err(AppError::bad_request("q: more than 200 bytes"));
    }
    let before_id = match before.as_str() {
        "" => None,
        b => Some(
            b.parse::<i64>()
                .map_err(|_| AppError::bad_request("before: expected a document's id"))?,
        ),
    };
    let s = scopes(state, p).await?;
    let docs = state
        .store()
        .sales_docs(
            kind,
            SalesQuery {
                status: some(&status),
                search: some(&q),
                flagged,
                before: before_id,
                limit: PAGE_ROWS,
                ..SalesQuery::default()
            },
            s.read.clone(),
            super::crm::today(&t),
        )
        .await?;
    let names = names(state).await?;
    let path = if kind == "quotation" {
        "/crm/quotations"
    } else {
        "/crm/orders"
    };
    let filters = vec![
        ("status", status.clone()),
        ("q", q.clone()),
        (
            "flagged",
            if flagged {
                "true".into()
            } else {
                String::new()
            },
        ),
    ];
    let next_href = (docs.len() == PAGE_ROWS)
        .then(|| docs.last().map(|d| d.id))
        .flatten()
        .map(|id| {
            let mut pairs = filters.clone();
            pairs.push(("before", id.to_string()));
            list_href(path, &pairs)
        });
    let rows = docs
        .into_iter()
        .map(|d| DocRow {
            id: d.id,
            href: if kind == "quotation" {
                quotation_href(d.id)
            } else {
                order_href(d.id)
            },
            reference: if kind == "quotation" {
                format!("{}/{}", d.number, d.revision)
            } else {
                d.number.clone()
            },
            customer: if d.customer_name.is_empty() {
                d.customer.clone()
            } else {
                d.customer_name.clone()
            },
            customer_href: customer_href(&d.customer),
            customer_code: d.customer,
            status_key: status_key(&d.status),
            status: d.status,
            date: d.date.to_string(),
            valid_until: opt_date(d.valid_until),
            expired: d.expired,
            gross: money(d.gross),
            currency: d.currency,
            lines: d.lines,
            flags: d.flags,
            owner: name_of(&names, &d.owner),
        })
        .collect();
    let statuses: Vec<(&str, &str)> = if kind == "quotation" {
        ["draft", "sent", "accepted", "rejected", "superseded"].to_vec()
    } else {
        ["draft", "confirmed", "completed", "cancelled"].to_vec()
    }
    .into_iter()
    .map(|s| (s, status_key(s)))
    .collect();
    let api_path = if kind == "quotation" {
        "/api/v1/quotations"
    } else {
        "/api/v1/sales-orders"
    };
    let open_flags = state
        .store()
        .sales_flags(false, s.read.clone())
        .await?
        .len();
    let page = QuotationsPage {
        orders: kind == "order",
        rows,
        statuses,
        first_href: (!before.is_empty()).then(|| list_href(path, &filters)),
        next_href,
        api_href: list_href(
            api_path,
            &[
                ("status", status.clone()),
                ("search", q.clone()),
                (
                    "flagged",
                    if flagged {
                        "true".into()
                    } else {
                        String::new()
                    },
                ),
                ("before", before.clone()),
            ],
        ),
        can_write: p.can(Permission::CrmWrite),
        open_flags,
        status,
        q,
        flagged,
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

// ---------------------------------------------------------------------------------------------
// One quotation or order

pub struct PeggedRow {
    pub work_order: String,
    pub href: String,
    pub state: String,
    pub qty: String,
    pub due: String,
    pub good: u64,
    pub scrap: u64,
}

pub struct LineRow {
    pub line: u32,
    pub item: String,
    pub description: String,
    pub qty: String,
    /// What is left to order of a quotation's line.
    pub remaining: String,
    pub uom: String,
    pub list_price: String,
    pub source_key: &'static str,
    pub unit_price: String,
    pub discount: String,
    pub net: String,
    pub ordered: String,
    pub requested: String,
    pub confirmed: String,
    pub limit_key: Option<&'static str>,
    pub limit_code: String,
    pub promise: String,
    pub work_orders: Vec<PeggedRow>,
    pub good: u64,
    pub scrap: u64,
    pub projected: String,
    pub late_risk: String,
    pub shipped: String,
    pub flagged: bool,
}

fn line_row(l: &SalesLine, flags: &[Flag]) -> LineRow {
    let remaining = (l.qty - l.ordered_qty).max(Decimal::ZERO);
    LineRow {
        line: l.line,
        item: l.item.clone(),
        description: l.description.clone(),
        qty: qty(l.qty),
        remaining: qty(remaining),
        uom: l.uom.clone(),
        list_price: opt_money(l.list_price),
        source_key: source_key(&l.price_source),
        unit_price: money(l.unit_price),
        discount: if l.discount_pct.is_zero() {
            String::new()
        } else {
            format!("{} %", l.discount_pct.normalize())
        },
        net: money(l.net),
        ordered: qty(l.ordered_qty),
        requested: opt_date(l.requested_date),
        confirmed: opt_date(l.confirmed_date),
        limit_key: l.limit.as_ref().map(limit_key),
        limit_code: l
            .limit
            .as_ref()
            .map(|x| x.code().to_owned())
            .unwrap_or_default(),
        promise: l.promise.clone().unwrap_or_default(),
        work_orders: l
            .work_orders
            .iter()
            .map(|w| PeggedRow {
                href: format!("/work-orders/{}", super::encode_query(&w.work_order)),
                work_order: w.work_order.clone(),
                state: w.state.clone(),
                qty: qty(w.qty),
                due: w.due.to_string(),
                good: w.good,
                scrap: w.scrap,
            })
            .collect(),
        good: l.good,
        scrap: l.scrap,
        projected: opt_date(l.projected_date),
        late_risk: l.late_risk.clone().unwrap_or_default(),
        shipped: qty(l.shipped_qty),
        flagged: flags.iter().any(|f| f.line == l.line),
    }
}

pub struct FlagRow {
    pub id: i64,
    pub href: String,
    pub number: String,
    pub kind_key: &'static str,
    pub customer: String,
    pub line: u32,
    pub item: String,
    pub reason_key: &'static str,
    pub old_price: String,
    pub new_price: String,
    pub detail: String,
    pub at: String,
    pub owner: String,
}

fn flag_row(t: &T, names: &HashMap<String, String>, f: &Flag) -> FlagRow {
    FlagRow {
        id: f.id,
        href: if f.kind == "quotation" {
            quotation_href(f.document)
        } else {
            order_href(f.document)
        },
        number: f.number.clone(),
        kind_key: if f.kind == "quotation" {
            "sales_quotation"
        } else {
            "sales_order"
        },
        customer: f.customer.clone(),
        line: f.line,
        item: f.item.clone(),
        reason_key: reason_key(&f.reason),
        old_price: opt_money(f.old_price),
        new_price: f
            .new_price
            .map(money)
            .unwrap_or_else(|| t.t("sales_no_price").to_owned()),
        detail: f.detail.clone(),
        at: t.time(&f.flagged_at),
        owner: name_of(names, &f.owner),
    }
}

pub struct HistoryRow {
    pub at: String,
    pub by: String,
    pub action: String,
    pub action_key: Option<&'static str>,
    pub detail: String,
}

/// A history entry's detail as a short line: `key: value` pairs, or its text.
fn detail_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}: {}", detail_text(v)))
            .collect::<Vec<_>>()
            .join(" · "),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::Object(_) => format!("({})", detail_text(item)),
                other => detail_text(other),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "crm_quotation.html")]
struct DocPage {
    t: T,
    shell: Shell,
    id: i64,
    orders: bool,
    reference: String,
    status: String,
    status_key: &'static str,
    customer: String,
    customer_code: String,
    customer_href: String,
    customer_po: String,
    owner: String,
    currency: String,
    date: String,
    valid_until: String,
    expired: bool,
    tax: String,
    net: String,
    tax_amount: String,
    gross: String,
    note: String,
    lines: Vec<LineRow>,
    flags: Vec<FlagRow>,
    history: Vec<HistoryRow>,
    /// The other document: the quotation an order came from, the revision before or after.
    links: Vec<(String, String)>,
    /// Buttons by state.
    can_send: bool,
    can_revise: bool,
    can_reprice: bool,
    reprice_makes_revision: bool,
    can_reject: bool,
    can_order: bool,
    can_confirm: bool,
    can_cancel: bool,
    has_link: bool,
    /// A draft quotation's editor: its lines, tax code and note as they can be PUT back.
    can_edit: bool,
    edit_lines: Vec<EditLine>,
    tax_code: String,
    /// What the editor sends back unchanged (customer, contact, currency, date, validity), as
    /// JSON: saving a draft's lines keeps the rest of it (an absent owner stays the owner).
    edit_header: String,
    confirmed: String,
    api_href: String,
    pdf_zh: String,
    pdf_en: String,
}

async fn quotation_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/quotations");
    let page = document(&state, &p, &id, &ctx, "quotation").await;
    answer(&ctx, page)
}

async fn order_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/quotations");
    let page = document(&state, &p, &id, &ctx, "order").await;
    answer(&ctx, page)
}

async fn document(
    state: &AppState,
    p: &Principal,
    id: &str,
    ctx: &Ctx,
    kind: &'static str,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let noun = if kind == "quotation" {
        "quotation"
    } else {
        "sales order"
    };
    let n: i64 = id.parse().map_err(|_| not_found(noun, id))?;
    let s = scopes(state, p).await?;
    let doc: SalesDoc = state
        .store()
        .sales_doc(kind, n, s.read.clone(), super::crm::today(&t))
        .await?
        .ok_or_else(|| not_found(noun, id))?;
    let names = names(state).await?;
    let write = p.can(Permission::CrmWrite);
    let status = doc.status.as_str();
    let quotation = kind == "quotation";
    let mut links = Vec::new();
    if let (Some(q), Some(number)) = (doc.quotation, &doc.quotation_number) {
        links.push((number.clone(), quotation_href(q)));
    }
    if let Some(r) = doc.replaces {
        links.push((t.t("sales_replaces").to_owned(), quotation_href(r)));
    }
    if let Some(r) = doc.replaced_by {
        links.push((t.t("sales_replaced_by").to_owned(), quotation_href(r)));
    }
    let lines: Vec<LineRow> = doc.lines.iter().map(|l| line_row(l, &doc.flags)).collect();
    let any_left = doc.lines.iter().any(|l| l.qty > l.ordered_qty);
    let page = DocPage {
        id: doc.id,
        orders: !quotation,
        reference: doc.reference(),
        status_key: status_key(status),
        customer: if doc.customer_name.is_empty() {
            doc.customer.clone()
        } else {
            doc.customer_name.clone()
        },
        customer_href: customer_href(&doc.customer),
        customer_code: doc.customer.clone(),
        customer_po: doc.customer_po.clone(),
        owner: name_of(&names, &doc.owner),
        currency: doc.currency.clone(),
        date: doc.date.to_string(),
        valid_until: opt_date(doc.valid_until),
        expired: doc.expired,
        tax: match &doc.tax_code {
            Some(code) => format!("{code} {} %", doc.tax_pct.normalize()),
            None => String::new(),
        },
        net: money(doc.totals.net),
        tax_amount: money(doc.totals.tax),
        gross: money(doc.totals.gross),
        note: doc.note.clone(),
        flags: doc.flags.iter().map(|f| flag_row(&t, &names, f)).collect(),
        history: doc
            .history
            .iter()
            .rev()
            .map(|h| HistoryRow {
                at: t.time(&h.at),
                by: name_of(&names, &h.by),
                action: h.action.clone(),
                action_key: action_key(&h.action),
                detail: detail_text(&h.detail),
            })
            .collect(),
        links,
        can_send: write && quotation && status == "draft" && !doc.expired,
        can_revise: write && quotation && matches!(status, "sent" | "rejected"),
        can_reprice: write && status == "draft" || write && quotation && status == "sent",
        reprice_makes_revision: quotation && status != "draft",
        can_reject: write && quotation && status == "sent",
        can_order: write
            && quotation
            && matches!(status, "sent" | "accepted")
            && !doc.expired
            && any_left,
        can_confirm: write && !quotation && status == "draft",
        can_cancel: write && !quotation && matches!(status, "draft" | "confirmed"),
        has_link: !quotation && matches!(status, "confirmed" | "completed"),
        can_edit: write && quotation && status == "draft",
        edit_lines: doc.lines.iter().map(edit_line).collect(),
        tax_code: doc.tax_code.clone().unwrap_or_default(),
        edit_header: serde_json::json!({
            "customer": doc.customer,
            "contact": doc.contact,
            "currency": doc.currency,
            "date": doc.date,
            "valid_days": doc.valid_until.map(|until| (until - doc.date).num_days()),
        })
        .to_string(),
        confirmed: doc.confirmed_at.map(|at| t.time(&at)).unwrap_or_default(),
        api_href: if quotation {
            format!("/api/v1/quotations/{}", doc.id)
        } else {
            format!("/api/v1/sales-orders/{}", doc.id)
        },
        pdf_zh: format!("/api/v1/quotations/{}/pdf?lang=zh", doc.id),
        pdf_en: format!("/api/v1/quotations/{}/pdf?lang=en", doc.id),
        status: doc.status.clone(),
        lines,
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

// ---------------------------------------------------------------------------------------------
// The flags

#[derive(Template)]
#[template(path = "crm_flags.html")]
struct FlagsPage {
    t: T,
    shell: Shell,
    rows: Vec<FlagRow>,
}

async fn flags_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/quotations");
    let page = flags(&state, &p, &ctx).await;
    answer(&ctx, page)
}

async fn flags(
    state: &AppState,
    p: &Principal,
    ctx: &Ctx,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let s = scopes(state, p).await?;
    let names = names(state).await?;
    let rows = state
        .store()
        .sales_flags(false, s.read.clone())
        .await?
        .iter()
        .map(|f| flag_row(&t, &names, f))
        .collect();
    let page = FlagsPage {
        rows,
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

// ---------------------------------------------------------------------------------------------
// The sales cockpit

/// One bar of a cockpit table.
struct Bar {
    label: String,
    net: String,
    orders: u64,
    /// Permille of the largest bar, for `<progress>` (no inline style under the CSP).
    permille: u64,
}

#[derive(Template)]
#[template(path = "crm_cockpit.html")]
struct CockpitPage {
    t: T,
    shell: Shell,
    from: String,
    to: String,
    currency: String,
    net: String,
    orders: u64,
    other_currency_orders: u64,
    win_rate: String,
    won: u64,
    lost: u64,
    pipeline: String,
    weighted: String,
    tables: Vec<(&'static str, Vec<Bar>)>,
    error: String,
}

fn bars(
    shares: &[crate::store::sales::Share],
    label: impl Fn(&crate::store::sales::Share) -> String,
) -> Vec<Bar> {
    let top = shares.iter().map(|s| s.net).max().unwrap_or(Decimal::ZERO);
    shares
        .iter()
        .map(|s| Bar {
            label: label(s),
            net: money(s.net),
            orders: s.orders,
            permille: if top > Decimal::ZERO {
                (s.net * Decimal::from(1000) / top)
                    .round()
                    .try_into()
                    .unwrap_or(0)
            } else {
                0
            },
        })
        .collect()
}

async fn cockpit_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/quotations");
    let page = cockpit(&state, &p, &ctx, &uri).await;
    answer(&ctx, page)
}

async fn cockpit(
    state: &AppState,
    p: &Principal,
    ctx: &Ctx,
    uri: &Uri,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let today = super::crm::today(&t);
    let date = |name: &str| {
        query_value(uri, name)
            .filter(|v| !v.is_empty())
            .and_then(|v| chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d").ok())
    };
    let currency = query_value(uri, "currency")
        .filter(|c| crate::crm::pricing::check_currency("currency", c).is_ok())
        .unwrap_or_else(|| "CNY".into());
    let asked_to = date("to").unwrap_or(today);
    let (from, to, error) =
        match crate::api::sales::cockpit_period(date("from"), Some(asked_to), today) {
            Some((from, to)) => (from, to, String::new()),
            None => (asked_to, asked_to, t.t("cockpit_bad_period").to_owned()),
        };
    let s = scopes(state, p).await?;
    let names = names(state).await?;
    let c = state.store().cockpit(from, to, currency, s.read).await?;
    let unset = t.t("cockpit_unset").to_owned();
    let plain = |s: &crate::store::sales::Share| {
        if s.key.is_empty() {
            unset.clone()
        } else {
            s.key.clone()
        }
    };
    let tables = vec![
        ("cockpit_by_region", bars(&c.by_region, plain)),
        ("cockpit_by_industry", bars(&c.by_industry, plain)),
        (
            "cockpit_by_item",
            bars(&c.by_item, |s| format!("{} · {}", s.key, s.name)),
        ),
        (
            "cockpit_by_salesperson",
            bars(&c.by_salesperson, |s| name_of(&names, &s.key)),
        ),
        (
            "cockpit_top_customers",
            bars(&c.top_customers, |s| format!("{} · {}", s.name, s.key)),
        ),
    ];
    let page = CockpitPage {
        from: c.from.to_string(),
        to: c.to.to_string(),
        net: money(c.net),
        orders: c.orders,
        other_currency_orders: c.other_currency_orders,
        win_rate: c
            .win_rate_pct
            .map(|w| format!("{w} %"))
            .unwrap_or_else(|| "–".into()),
        won: c.won,
        lost: c.lost,
        pipeline: money(c.pipeline),
        weighted: money(c.weighted_pipeline),
        currency: c.currency,
        tables,
        error,
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

// ---------------------------------------------------------------------------------------------
// The customer's status page

#[derive(Template)]
#[template(path = "order_status.html")]
struct StatusPage {
    t: T,
    shell: Shell,
    view: Option<OrderStatusView>,
    status_key: &'static str,
}

/// The language a customer's browser asks for: `?lang=`, the cookie, else the first
/// `Accept-Language` that is Chinese or English.
fn customer_language(uri: &Uri, headers: &HeaderMap) -> Language {
    query_value(uri, "lang")
        .and_then(|l| Language::parse(&l))
        .or_else(|| cookie(headers, super::LANGUAGE_COOKIE).and_then(Language::parse))
        .or_else(|| {
            let accepted = headers.get(ACCEPT_LANGUAGE)?.to_str().ok()?;
            accepted.split(',').find_map(|part| {
                let tag = part.split(';').next()?.trim().to_ascii_lowercase();
                if tag.starts_with("zh") {
                    Some(Language::Zh)
                } else if tag.starts_with("en") {
                    Some(Language::En)
                } else {
                    None
                }
            })
        })
        .unwrap_or_default()
}

async fn status_page(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let mut ctx = Ctx::new(None, &uri, &headers, "");
    ctx.t = T::new(customer_language(&uri, &headers), "UTC");
    // The token is the permission: one that cannot be one is not looked up.
    let doc = if token_shape(&token) {
        match state.store().order_by_token(token).await {
            Ok(doc) => doc,
            Err(e) => return super::secure(AppError::from(e).into_response()),
        }
    } else {
        None
    };
    let view = doc.as_ref().map(status_view);
    let page = StatusPage {
        status_key: view
            .as_ref()
            .map_or("sales_status_other", |v| status_key(&v.status)),
        view,
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
    };
    let status = if page.view.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    ctx.respond(status, page.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_two_decimals_unless_the_price_has_more() {
        assert_eq!(money("85".parse().unwrap()), "85.00");
        assert_eq!(money("1011.35".parse().unwrap()), "1011.35");
        assert_eq!(money("0.125".parse().unwrap()), "0.125");
        assert_eq!(qty("10.000".parse().unwrap()), "10");
    }

    #[test]
    fn every_limit_code_has_words() {
        for key in [
            "sales_limit_stock",
            "sales_limit_scheduled_receipt",
            "sales_limit_lead_time",
            "sales_limit_component",
            "sales_limit_capacity",
        ] {
            assert!(
                crate::web::i18n::MESSAGES.iter().any(|(k, _, _)| *k == key),
                "{key}"
            );
        }
    }

    #[test]
    fn the_customer_language_follows_accept_language() {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT_LANGUAGE,
            "fr;q=1, zh-CN;q=0.9, en;q=0.8".parse().unwrap(),
        );
        let uri: Uri = "/order-status/x".parse().unwrap();
        assert_eq!(customer_language(&uri, &headers), Language::Zh);
        let uri: Uri = "/order-status/x?lang=en".parse().unwrap();
        assert_eq!(customer_language(&uri, &headers), Language::En);
    }
}
