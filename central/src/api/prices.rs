//! Price lists, exchange rates and tax rates (issue 16; the rules are
//! [`crate::crm::pricing`]'s, the rows [`crate::store::prices`]'). Reading needs `crm.read`,
//! changing `prices.manage`. Decimals and dates are JSON strings (`"12.5"`, `"2027-01-31"`),
//! as everywhere in the API.
//!
//! A price row is never changed in place: a new price is a new row, and the old one is ended
//! (`POST /api/v1/prices/{price_id}/end`), so a document that used a row can always say which row
//! and what it said. Only a row that has not started yet (no document can have used it: a
//! typo caught in time) is deleted (`DELETE /api/v1/prices/{price_id}`); one already in effect
//! answers 409 `price_in_effect`, pointing at ending it.
//!
//! `GET /api/v1/prices/resolve` reads the customer's group from the customer (`customer` of
//! `GET /api/v1/customers`); `group`, when given, is used instead (a customer not yet in
//! central, or another group's price asked for).

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery, CsvBody};
use super::policy::{Routes, needs};
use crate::crm::pricing::{
    self, Amounts, PriceQuery, RawPrice, StoredPrice, TaxRate, parse_date, parse_qty,
};
use crate::people::roles::Permission;
use crate::store::prices::{MAX_PRICE_PAGE, PriceFilter, PriceRejection};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Rows a price list page has unless `limit` says otherwise.
pub const DEFAULT_PRICE_PAGE: usize = 100;
/// Most rows one price file imports.
pub const MAX_IMPORT_ROWS: usize = 100_000;
/// Most exchange or tax rates one put sets.
pub const MAX_RATES_PER_PUT: usize = 1000;
/// Most exchange or tax rates one answer lists.
pub const MAX_RATES_LISTED: usize = 10_000;

pub fn routes() -> Routes {
    use Permission::{CrmRead as Read, PricesManage as Manage};
    Routes::new()
        .get("/api/v1/prices", needs(Read), list_prices)
        .post("/api/v1/prices", needs(Manage), post_price)
        .get("/api/v1/prices/resolve", needs(Read), resolve)
        .get("/api/v1/prices/{price_id}", needs(Read), get_price)
        .delete("/api/v1/prices/{price_id}", needs(Manage), delete_price)
        .post("/api/v1/prices/{price_id}/end", needs(Manage), end_price)
        .post("/api/v1/import/prices", needs(Manage), import_prices)
        .get("/api/v1/exchange-rates", needs(Read), list_exchange_rates)
        .put("/api/v1/exchange-rates", needs(Manage), put_exchange_rates)
        .get("/api/v1/tax-rates", needs(Read), list_tax_rates)
        .put("/api/v1/tax-rates", needs(Manage), put_tax_rates)
}

fn rejection(r: PriceRejection) -> AppError {
    match &r {
        PriceRejection::UnknownItem(_) => {
            AppError::new(StatusCode::BAD_REQUEST, "unknown_item", r.to_string())
        }
        PriceRejection::NotFound(_) => AppError::not_found(r.to_string()),
        PriceRejection::Overlap(_) => {
            AppError::new(StatusCode::CONFLICT, "price_overlap", r.to_string())
        }
        PriceRejection::Invalid(_) => {
            AppError::new(StatusCode::CONFLICT, "price_in_effect", r.to_string())
        }
    }
}

fn problems(what: &str, problems: Vec<pricing::Problem>) -> AppError {
    let listed: Vec<String> = problems.into_iter().map(|p| p.message).collect();
    AppError::bad_request(format!("{what} is not valid: {}", listed.join("; ")))
}

/// A date parameter, named when it does not read.
fn date_param(field: &str, value: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    value
        .map(|s| {
            parse_date(s).ok_or_else(|| {
                AppError::bad_request(format!(
                    "{field} {:?} is not a date; expected YYYY-MM-DD",
                    protocol::bounds::sanitize(s, 64, false)
                ))
            })
        })
        .transpose()
}

fn id_param(field: &str, value: &Option<String>) -> Result<(), AppError> {
    if let Some(v) = value {
        super::validate::check_id(field, v)?;
    }
    Ok(())
}

fn currency_param(field: &str, value: &Option<String>) -> Result<(), AppError> {
    if let Some(v) = value {
        pricing::check_currency(field, v).map_err(|p| AppError::bad_request(p.message))?;
    }
    Ok(())
}

/// `GET /api/v1/prices?item=&currency=&customer=&group=&scope=list&valid_on=&after=&limit=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceParams {
    pub item: Option<String>,
    pub currency: Option<String>,
    pub customer: Option<String>,
    pub group: Option<String>,
    /// `list`: list prices only.
    pub scope: Option<String>,
    pub valid_on: Option<String>,
    pub after: Option<i64>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct PricePage {
    pub prices: Vec<StoredPrice>,
    /// The `after` of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

async fn list_prices(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PriceParams>,
) -> Result<axum::Json<PricePage>, AppError> {
    id_param("item", &q.item)?;
    id_param("customer", &q.customer)?;
    id_param("group", &q.group)?;
    currency_param("currency", &q.currency)?;
    let list_only = match q.scope.as_deref() {
        None => false,
        Some("list") => true,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "scope {:?} is not valid; expected list (customer= and group= select the others)",
                protocol::bounds::sanitize(other, 64, false)
            )));
        }
    };
    let limit = q.limit.unwrap_or(DEFAULT_PRICE_PAGE);
    if limit == 0 || limit > MAX_PRICE_PAGE {
        return Err(AppError::bad_request(format!(
            "limit {limit} is not valid; expected 1 to {MAX_PRICE_PAGE}"
        )));
    }
    let filter = PriceFilter {
        valid_on: date_param("valid_on", q.valid_on.as_deref())?,
        item: q.item,
        currency: q.currency,
        customer: q.customer,
        group: q.group,
        list_only,
        after: q.after,
        limit,
    };
    let prices = state.store().prices(filter).await?;
    let next_after = if prices.len() == limit {
        prices.last().map(|p| p.id)
    } else {
        None
    };
    Ok(axum::Json(PricePage { prices, next_after }))
}

async fn get_price(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<StoredPrice>, AppError> {
    state
        .store()
        .price(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| rejection(PriceRejection::NotFound(id)))
}

/// The body of `POST /api/v1/prices`: no `customer` and no `group` is the list price.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceBody {
    pub item: String,
    pub currency: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub min_qty: Option<String>,
    pub price: String,
    pub valid_from: String,
    #[serde(default)]
    pub valid_to: Option<String>,
}

async fn post_price(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PriceBody>,
) -> Result<(StatusCode, axum::Json<StoredPrice>), AppError> {
    let price = pricing::read_price(RawPrice {
        item: &body.item,
        currency: &body.currency,
        customer: body.customer.as_deref().unwrap_or(""),
        group: body.group.as_deref().unwrap_or(""),
        min_qty: body.min_qty.as_deref().unwrap_or(""),
        price: &body.price,
        valid_from: &body.valid_from,
        valid_to: body.valid_to.as_deref().unwrap_or(""),
    })
    .map_err(|p| problems("the price", p))?;
    let put = state.store().put_price(price).await?.map_err(rejection)?;
    let status = if put.created {
        tracing::info!(id = put.price.id, item = %put.price.price.item, "price row added");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(put.price)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndBody {
    /// The row's last day (inclusive).
    pub valid_to: String,
}

async fn end_price(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<EndBody>,
) -> Result<axum::Json<StoredPrice>, AppError> {
    let Some(valid_to) = date_param("valid_to", Some(&body.valid_to))? else {
        return Err(AppError::bad_request(
            "valid_to is missing; expected YYYY-MM-DD",
        ));
    };
    let ended = state
        .store()
        .end_price(id, valid_to)
        .await?
        .map_err(rejection)?;
    tracing::info!(id, %valid_to, "price row ended");
    Ok(axum::Json(ended))
}

async fn delete_price(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<StoredPrice>, AppError> {
    let today = Utc::now().date_naive();
    let deleted = state
        .store()
        .delete_price(id, today)
        .await?
        .map_err(rejection)?;
    tracing::info!(id, "price row deleted before it started");
    Ok(axum::Json(deleted))
}

/// `POST /api/v1/import/prices`: all or nothing, every bad row named by line and column, an
/// overlap (in the file or with a stored row) by both rows.
async fn import_prices(
    State(state): State<AppState>,
    CsvBody(body): CsvBody,
) -> Result<axum::Json<Value>, AppError> {
    let rows = tokio::task::spawn_blocking(move || pricing::parse_csv(&body))
        .await
        .map_err(|e| AppError::internal(format!("central's worker task failed: {e}")))?
        .map_err(|(rows, total)| AppError::invalid_csv(rows, total))?;
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(AppError::bad_request(format!(
            "the file has {} rows; expected at most {MAX_IMPORT_ROWS} (split it)",
            rows.len()
        )));
    }
    let imported = state.store().import_prices(rows).await?.map_err(|rows| {
        let total = rows.len();
        AppError::invalid_csv(rows, total)
    })?;
    tracing::info!(
        added = imported.added,
        unchanged = imported.unchanged,
        "imported prices"
    );
    Ok(axum::Json(json!({
        "kind": "prices",
        "rows": imported.added,
        "unchanged": imported.unchanged,
    })))
}

/// `GET /api/v1/prices/resolve?item=&qty=&currency=&date=&customer=&group=&tax=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveParams {
    pub item: String,
    pub qty: String,
    pub currency: String,
    /// Absent: today (UTC).
    pub date: Option<String>,
    pub customer: Option<String>,
    /// A customer group; absent: the customer's own group.
    pub group: Option<String>,
    /// A tax code: the answer's tax and gross use its rate in force on the date.
    pub tax: Option<String>,
}

/// What `GET /api/v1/prices/resolve` answers.
#[derive(Debug, Serialize)]
pub struct Resolved {
    pub item: String,
    pub currency: String,
    pub qty: Decimal,
    pub date: NaiveDate,
    pub unit_price: Decimal,
    /// The row the price came from.
    pub row: StoredPrice,
    /// `list`, `group` or `customer`: which scope won.
    pub scope: &'static str,
    pub tax_rate: Option<TaxRate>,
    #[serde(flatten)]
    pub amounts: Amounts,
}

async fn resolve(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ResolveParams>,
) -> Result<axum::Json<Resolved>, AppError> {
    super::validate::check_id("item", &q.item)?;
    currency_param("currency", &Some(q.currency.clone()))?;
    id_param("customer", &q.customer)?;
    id_param("group", &q.group)?;
    id_param("tax", &q.tax)?;
    let qty = parse_qty("qty", &q.qty).map_err(|p| AppError::bad_request(p.message))?;
    let date = date_param("date", q.date.as_deref())?.unwrap_or_else(|| Utc::now().date_naive());
    if state.store().item(q.item.clone()).await?.is_none() {
        return Err(AppError::not_found(format!(
            "item {:?} is not in the item master; expected a known item",
            q.item
        )));
    }
    let tax_rate = match &q.tax {
        None => None,
        Some(code) => {
            let rates = state.store().tax_rates().await?;
            let rate = pricing::tax_on(&rates, code, date).cloned();
            Some(rate.ok_or_else(|| {
                AppError::new(
                    StatusCode::NOT_FOUND,
                    "no_tax_rate",
                    format!("no tax rate {code:?} in force on {date}; expected a code put at /api/v1/tax-rates with a valid_from on or before it"),
                )
            })?)
        }
    };
    // The customer's group from the customer, unless the caller names one (a price for a
    // customer not yet in central, or asked for another group).
    let group = match (&q.group, &q.customer) {
        (Some(group), _) => Some(group.clone()),
        (None, Some(code)) => state
            .store()
            .customer(code.clone(), crate::crm::scope::SalesScope::All)
            .await?
            .map(|c| c.customer_group)
            .filter(|g| !g.is_empty()),
        (None, None) => None,
    };
    let rows = state
        .store()
        .prices_to_resolve(
            q.item.clone(),
            q.currency.clone(),
            q.customer.clone(),
            group.clone(),
        )
        .await?;
    let query = PriceQuery {
        item: q.item,
        currency: q.currency,
        customer: q.customer,
        group,
        qty,
        date,
    };
    let row = pricing::resolve(&rows, &query)
        .map_err(|no| AppError::new(StatusCode::NOT_FOUND, "no_price", no.to_string()))?
        .clone();
    let rate_pct = tax_rate.as_ref().map_or(Decimal::ZERO, |t| t.rate_pct);
    let amounts = pricing::amounts(qty, row.price.unit_price, rate_pct)
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    Ok(axum::Json(Resolved {
        item: query.item,
        currency: query.currency,
        qty: qty.normalize(),
        date,
        unit_price: row.price.unit_price.normalize(),
        scope: row.price.scope.kind(),
        row,
        tax_rate,
        amounts,
    }))
}

/// `GET /api/v1/exchange-rates?from=&to=&on=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateParams {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Only the rate in force on this date, per pair.
    pub on: Option<String>,
}

async fn list_exchange_rates(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RateParams>,
) -> Result<axum::Json<Value>, AppError> {
    currency_param("from", &q.from)?;
    currency_param("to", &q.to)?;
    let on = date_param("on", q.on.as_deref())?;
    let mut rates = state.store().exchange_rates(q.from, q.to).await?;
    if let Some(on) = on {
        // Sorted by pair and date: the last of each pair on or before `on`.
        let mut in_force: Vec<pricing::ExchangeRate> = Vec::new();
        for rate in rates.into_iter().filter(|r| r.valid_from <= on) {
            match in_force.last_mut() {
                Some(last) if last.from == rate.from && last.to == rate.to => *last = rate,
                _ => in_force.push(rate),
            }
        }
        rates = in_force;
    }
    let truncated = rates.len() > MAX_RATES_LISTED;
    rates.truncate(MAX_RATES_LISTED);
    Ok(axum::Json(json!({"rates": rates, "truncated": truncated})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateBody {
    pub from: String,
    pub to: String,
    pub rate: String,
    pub valid_from: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatesBody {
    pub rates: Vec<RateBody>,
}

fn check_count(what: &str, n: usize) -> Result<(), AppError> {
    if n == 0 || n > MAX_RATES_PER_PUT {
        return Err(AppError::bad_request(format!(
            "{what} has {n} entries; expected 1 to {MAX_RATES_PER_PUT}"
        )));
    }
    Ok(())
}

async fn put_exchange_rates(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RatesBody>,
) -> Result<axum::Json<Value>, AppError> {
    check_count("rates", body.rates.len())?;
    let mut rates = Vec::with_capacity(body.rates.len());
    let mut bad = Vec::new();
    for (i, r) in body.rates.iter().enumerate() {
        match pricing::read_exchange_rate(
            &format!("rates[{i}]."),
            &r.from,
            &r.to,
            &r.rate,
            &r.valid_from,
        ) {
            Ok(rate) => rates.push(rate),
            Err(p) => bad.extend(p),
        }
    }
    if !bad.is_empty() {
        return Err(problems("the exchange rates", bad));
    }
    let n = rates.len();
    state.store().put_exchange_rates(rates).await?;
    tracing::info!(rates = n, "exchange rates put");
    Ok(axum::Json(json!({"rates": n})))
}

/// `GET /api/v1/tax-rates?code=&on=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxParams {
    pub code: Option<String>,
    /// Only the rate in force on this date, per code.
    pub on: Option<String>,
}

async fn list_tax_rates(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TaxParams>,
) -> Result<axum::Json<Value>, AppError> {
    id_param("code", &q.code)?;
    let on = date_param("on", q.on.as_deref())?;
    let mut rates: Vec<TaxRate> = state
        .store()
        .tax_rates()
        .await?
        .into_iter()
        .filter(|r| q.code.as_ref().is_none_or(|c| *c == r.code))
        .collect();
    if let Some(on) = on {
        let mut in_force: Vec<TaxRate> = Vec::new();
        for rate in rates.into_iter().filter(|r| r.valid_from <= on) {
            match in_force.last_mut() {
                Some(last) if last.code == rate.code => *last = rate,
                _ => in_force.push(rate),
            }
        }
        rates = in_force;
    }
    let truncated = rates.len() > MAX_RATES_LISTED;
    rates.truncate(MAX_RATES_LISTED);
    Ok(axum::Json(
        json!({"tax_rates": rates, "truncated": truncated}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxBody {
    pub code: String,
    pub name: String,
    pub rate_pct: String,
    pub valid_from: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxesBody {
    pub tax_rates: Vec<TaxBody>,
}

async fn put_tax_rates(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TaxesBody>,
) -> Result<axum::Json<Value>, AppError> {
    check_count("tax_rates", body.tax_rates.len())?;
    let mut rates = Vec::with_capacity(body.tax_rates.len());
    let mut bad = Vec::new();
    for (i, t) in body.tax_rates.iter().enumerate() {
        match pricing::read_tax_rate(
            &format!("tax_rates[{i}]."),
            &t.code,
            &t.name,
            &t.rate_pct,
            &t.valid_from,
        ) {
            Ok(rate) => rates.push(rate),
            Err(p) => bad.extend(p),
        }
    }
    if !bad.is_empty() {
        return Err(problems("the tax rates", bad));
    }
    let n = rates.len();
    state.store().put_tax_rates(rates).await?;
    tracing::info!(tax_rates = n, "tax rates put");
    Ok(axum::Json(json!({"tax_rates": n})))
}

/// The OpenAPI paths and schemas of these routes, added to [`super::openapi::document`].
pub fn document_into(document: &mut Value) {
    let error = json!({"$ref": "#/components/responses/Error"});
    let id =
        json!({"name": "price_id", "in": "path", "required": true, "schema": {"type": "integer"}});
    let q = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description});
    let required = |name: &str, description: &str| json!({"name": name, "in": "query", "required": true, "schema": {"type": "string"}, "description": description});
    let price = json!({"description": "the price row", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PriceRow"}}}});
    let paths = json!({
        "/api/v1/prices": {
            "get": {"summary": "price list rows, by id", "tags": ["crm"],
                "parameters": [q("item", "an item's rows"), q("currency", "ISO 4217 code"),
                    q("customer", "a customer's own prices"), q("group", "a customer group's prices"),
                    q("scope", "`list`: list prices only"), q("valid_on", "YYYY-MM-DD: rows valid on that day"),
                    {"name": "after", "in": "query", "required": false, "schema": {"type": "integer"}, "description": "rows with an id above this (the `next_after` of the previous page)"},
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "default": DEFAULT_PRICE_PAGE, "minimum": 1, "maximum": MAX_PRICE_PAGE}}],
                "responses": {"200": {"description": "{\"prices\": [PriceRow...], \"next_after\": id}, next_after absent on the last page", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "prices": {"type": "array", "items": {"$ref": "#/components/schemas/PriceRow"}}, "next_after": {"type": "integer"}}}}}},
                    "400": error, "401": error, "403": error}},
            "post": {"summary": "add a price row", "tags": ["crm"],
                "description": "The item must be in the item master. A row for the same item, currency, scope (list, group, customer) and min_qty whose validity overlaps a stored one is refused with 409 price_overlap naming both rows. A row identical to a stored one answers that row (200), unchanged. Prices are never changed in place: end the old row (post /api/v1/prices/{price_id}/end) and add the new.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PriceInput"}}}},
                "responses": {"201": price, "200": price, "400": error, "401": error, "403": error,
                    "409": {"description": "the row overlaps a stored one (price_overlap)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
        },
        "/api/v1/prices/resolve": {"get": {"summary": "the price that applies, and the row it came from", "tags": ["crm"],
            "description": "The customer's price beats the group's, which beats the list price; within the first scope that has one, the row valid on the date (valid_to inclusive) with the highest min_qty at or below qty. The customer's group is the customer's (`customer_group`) unless `group` names one. Money is rounded half away from zero to 2 decimals; tax is worked out on the rounded net, and gross = net + tax. No price: 404 no_price with the reason (no row, none valid on the date, every quantity break above qty).",
            "parameters": [required("item", "the item"), required("qty", "quantity in the item's base unit"), required("currency", "ISO 4217 code"),
                q("date", "YYYY-MM-DD; today (UTC) if absent"), q("customer", "customer code"), q("group", "the customer's group"),
                q("tax", "a tax code: tax and gross at its rate in force on the date")],
            "responses": {"200": {"description": "the price", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ResolvedPrice"}}}},
                "400": error, "401": error, "403": error,
                "404": {"description": "unknown item (not_found), no price (no_price) or no such tax rate on the date (no_tax_rate)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
        "/api/v1/prices/{price_id}": {
            "get": {"summary": "one price row", "tags": ["crm"], "parameters": [id], "responses": {"200": price, "400": error, "401": error, "403": error, "404": error}},
            "delete": {"summary": "delete a price row that has not started", "tags": ["crm"], "parameters": [id],
                "description": "Only a row whose valid_from is after today (UTC): no document can have used it. A row in effect or past is ended instead (409 price_in_effect), so documents that used it keep their source.",
                "responses": {"200": price, "400": error, "401": error, "403": error, "404": error,
                    "409": {"description": "the row is in effect or past (price_in_effect)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
        },
        "/api/v1/prices/{price_id}/end": {"post": {"summary": "end a price row: its last day becomes valid_to", "tags": ["crm"], "parameters": [id],
            "description": "valid_to (inclusive) on or after the row's valid_from. Lengthening a row is checked for overlaps like a new row.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["valid_to"], "properties": {"valid_to": {"type": "string", "format": "date"}}}}}},
            "responses": {"200": price, "400": error, "401": error, "403": error, "404": error,
                "409": {"description": "the row would overlap another (price_overlap) or end before it starts (price_in_effect)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
        "/api/v1/import/prices": {"post": {"summary": "import price rows from csv, all or nothing", "tags": ["crm"],
            "description": "Header line, then rows. Columns: `item,currency,customer,group,min_qty,price,valid_from,valid_to` (any order; customer, group, min_qty and valid_to may be left out or empty: the list price, no quantity break, open). Every bad cell is named by line and column; rows of an unknown item, and rows that overlap another row of the file or a stored row (same item, currency, scope and min_qty), are named by line, with the other row (its line or stored id). A row identical to a stored one is left as it is (`unchanged`). At most 100000 rows.",
            "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
            "responses": {"200": {"description": "{\"kind\": \"prices\", \"rows\": added, \"unchanged\": N}"}, "400": {"$ref": "#/components/responses/InvalidCsv"}, "401": error, "403": error}}},
        "/api/v1/exchange-rates": {
            "get": {"summary": "exchange rates, by pair and valid_from", "tags": ["crm"],
                "parameters": [q("from", "ISO 4217 code"), q("to", "ISO 4217 code"), q("on", "YYYY-MM-DD: only the rate in force on that day per pair (the latest valid_from on or before it)")],
                "responses": {"200": {"description": "{\"rates\": [ExchangeRate...], \"truncated\": bool} (at most 10000)", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "rates": {"type": "array", "items": {"$ref": "#/components/schemas/ExchangeRate"}}, "truncated": {"type": "boolean"}}}}}}, "400": error, "401": error, "403": error}},
            "put": {"summary": "create or update exchange rates by (from, to, valid_from), all or nothing", "tags": ["crm"],
                "description": "1 from is rate to, from valid_from on. A rate is kept per direction: the inverse is not derived. 1 to 1000 rates a request; every bad field named.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["rates"], "properties": {"rates": {"type": "array", "maxItems": MAX_RATES_PER_PUT, "items": {"$ref": "#/components/schemas/ExchangeRate"}}}}}}},
                "responses": {"200": {"description": "{\"rates\": N}"}, "400": error, "401": error, "403": error}}
        },
        "/api/v1/tax-rates": {
            "get": {"summary": "tax rates, by code and valid_from", "tags": ["crm"],
                "parameters": [q("code", "one code's rates"), q("on", "YYYY-MM-DD: only the rate in force on that day per code")],
                "responses": {"200": {"description": "{\"tax_rates\": [TaxRate...], \"truncated\": bool}", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "tax_rates": {"type": "array", "items": {"$ref": "#/components/schemas/TaxRate"}}, "truncated": {"type": "boolean"}}}}}}, "400": error, "401": error, "403": error}},
            "put": {"summary": "create or update tax rates by (code, valid_from), all or nothing", "tags": ["crm"],
                "description": "A code keeps its history: a new rate from a date is a new valid_from. rate_pct from 0 to 100. 1 to 1000 rates a request; every bad field named.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["tax_rates"], "properties": {"tax_rates": {"type": "array", "maxItems": MAX_RATES_PER_PUT, "items": {"$ref": "#/components/schemas/TaxRate"}}}}}}},
                "responses": {"200": {"description": "{\"tax_rates\": N}"}, "400": error, "401": error, "403": error}}
        }
    });
    let decimal = |d: &str| json!({"type": "string", "description": d});
    let schemas = json!({
        "PriceInput": {"type": "object", "required": ["item", "currency", "price", "valid_from"], "properties": {
            "item": {"type": "string"}, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "customer": {"type": "string", "description": "a customer's own price (not with group)"},
            "group": {"type": "string", "description": "a customer group's price (not with customer)"},
            "min_qty": decimal("quantity break in the item's base unit, 0 to 10^12, at most 6 decimals; absent: 0"),
            "price": decimal("unit price above 0, at most 10^9, at most 6 decimals"),
            "valid_from": {"type": "string", "format": "date"},
            "valid_to": {"type": "string", "format": "date", "description": "last day (inclusive); absent: open"}}},
        "PriceRow": {"type": "object", "required": ["id", "item", "currency", "scope", "min_qty", "price", "valid_from", "valid_to"], "properties": {
            "id": {"type": "integer"}, "item": {"type": "string"}, "currency": {"type": "string"},
            "scope": {"type": "string", "enum": ["list", "group", "customer"]},
            "customer": {"type": "string"}, "group": {"type": "string"},
            "min_qty": decimal("quantity break"), "price": decimal("unit price"),
            "valid_from": {"type": "string", "format": "date"},
            "valid_to": {"type": "string", "format": "date", "nullable": true}}},
        "ResolvedPrice": {"type": "object", "required": ["item", "currency", "qty", "date", "unit_price", "row", "scope", "net", "tax", "gross"], "properties": {
            "item": {"type": "string"}, "currency": {"type": "string"}, "qty": decimal("the quantity"),
            "date": {"type": "string", "format": "date"}, "unit_price": decimal("the row's price"),
            "row": {"$ref": "#/components/schemas/PriceRow"},
            "scope": {"type": "string", "enum": ["list", "group", "customer"], "description": "which scope won"},
            "tax_rate": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/TaxRate"}]},
            "net": decimal("qty × unit price, rounded to 2 decimals half away from zero"),
            "tax": decimal("net × rate_pct / 100, rounded; 0.00 without a tax code"),
            "gross": decimal("net + tax")}},
        "ExchangeRate": {"type": "object", "required": ["from", "to", "rate", "valid_from"], "properties": {
            "from": {"type": "string", "pattern": "^[A-Z]{3}$"}, "to": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "rate": decimal("1 from in to: above 0, at most 10^9, at most 10 decimals"),
            "valid_from": {"type": "string", "format": "date"}}},
        "TaxRate": {"type": "object", "required": ["code", "name", "rate_pct", "valid_from"], "properties": {
            "code": {"type": "string"}, "name": {"type": "string"},
            "rate_pct": decimal("0 to 100, at most 6 decimals"),
            "valid_from": {"type": "string", "format": "date"}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
