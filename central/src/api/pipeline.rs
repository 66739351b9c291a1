//! Pipeline routes (issue 16): leads, qualified into opportunities; opportunities moved
//! through their stages (version checked: two people dragging the same card, the second is
//! refused with 409); the weighted forecast. Rules in [`crate::crm::pipeline`], storage in
//! [`crate::store::pipeline`].
//!
//! Who sees what is [`super::crm`]'s: `crm.read` one's own and one's team's leads and
//! opportunities, `crm.all.read` everyone's, `crm.write` changes what one may see as one's
//! own or one's team's; a record outside the caller's scope answers 404.

use super::AppState;
use super::crm::{check_search, invalid, page_limit, refused, scopes};
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::policy::{Principal, Routes, needs};
use crate::crm::pipeline::{
    self, Forecast, Lead, LeadInput, LeadSource, LeadStatus, Opportunity, OpportunityInput,
    QualifyInput, Stage, StageMove,
};
use crate::people::roles::Permission;
use crate::store::pipeline::{LeadQuery, MAX_FORECAST, OpportunityQuery, Qualified};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub fn routes() -> Routes {
    use Permission::{CrmRead, CrmWrite};
    Routes::new()
        .get("/api/v1/leads", needs(CrmRead), list_leads)
        .post("/api/v1/leads", needs(CrmWrite), create_lead)
        .get("/api/v1/leads/{lead}", needs(CrmRead), get_lead)
        .put("/api/v1/leads/{lead}", needs(CrmWrite), put_lead)
        .post("/api/v1/leads/{lead}/qualify", needs(CrmWrite), qualify)
        .get("/api/v1/opportunities", needs(CrmRead), list_opportunities)
        .post("/api/v1/opportunities", needs(CrmWrite), create_opportunity)
        .get(
            "/api/v1/opportunities/{opportunity}",
            needs(CrmRead),
            get_opportunity,
        )
        .put(
            "/api/v1/opportunities/{opportunity}",
            needs(CrmWrite),
            put_opportunity,
        )
        .post(
            "/api/v1/opportunities/{opportunity}/stage",
            needs(CrmWrite),
            stage_move,
        )
        .get("/api/v1/crm/forecast", needs(CrmRead), get_forecast)
}

fn parse_or<T>(
    field: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, AppError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| {
            AppError::bad_request(format!(
                "{field}: {:?}; expected {expected}",
                protocol::bounds::sanitize(v, 32, false)
            ))
        }),
    }
}

const STAGES: &str = "qualification, needs_analysis, proposal, negotiation, won or lost";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadParams {
    pub search: Option<String>,
    pub status: Option<String>,
    pub source: Option<String>,
    pub owner: Option<String>,
    pub after: Option<i64>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LeadList {
    pub leads: Vec<Lead>,
    /// The `after` of the next page, when this one is full.
    pub next: Option<i64>,
}

async fn list_leads(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<LeadParams>,
) -> Result<axum::Json<LeadList>, AppError> {
    check_search(&q.search)?;
    let limit = page_limit(q.limit)?;
    let status = parse_or(
        "status",
        q.status.as_deref(),
        LeadStatus::parse,
        "new, contacted, qualified or disqualified",
    )?;
    let source = parse_or(
        "source",
        q.source.as_deref(),
        LeadSource::parse,
        "trade_fair, website, referral, cold_call or other",
    )?;
    let s = scopes(&state, &p).await?;
    let leads = state
        .store()
        .leads(
            LeadQuery {
                search: q.search,
                status,
                source,
                owner: q.owner,
                after: q.after,
                limit,
            },
            s.read,
        )
        .await?;
    let next = (leads.len() == limit)
        .then(|| leads.last().map(|l| l.id))
        .flatten();
    Ok(axum::Json(LeadList { leads, next }))
}

async fn create_lead(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<LeadInput>,
) -> Result<(StatusCode, axum::Json<Lead>), AppError> {
    let input = body.checked().map_err(|p| invalid("lead", p))?;
    let s = scopes(&state, &p).await?;
    let owner = s.owner(input.owner.clone())?;
    let lead = state
        .store()
        .put_lead(None, input, owner, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, axum::Json(lead)))
}

async fn get_lead(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<Lead>, AppError> {
    let s = scopes(&state, &p).await?;
    state
        .store()
        .lead(id, s.read)
        .await?
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("no lead {id}")))
}

/// `PUT /api/v1/leads/{lead}`: changes a lead (its status too: contacted, disqualified with a
/// reason, new again); the owner stays unless named.
async fn put_lead(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<LeadInput>,
) -> Result<axum::Json<Lead>, AppError> {
    let input = body.checked().map_err(|p| invalid("lead", p))?;
    let s = scopes(&state, &p).await?;
    let current = state
        .store()
        .lead(id, s.write.clone())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no lead {id}")))?;
    let owner = match &input.owner {
        None => current.owner,
        named => s.owner(named.clone())?,
    };
    let lead = state
        .store()
        .put_lead(Some(id), input, owner, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(lead))
}

/// `POST /api/v1/leads/{lead}/qualify`: the customer (found by the company's name or made),
/// the contact and the opportunity, in one transaction.
async fn qualify(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<QualifyInput>,
) -> Result<(StatusCode, axum::Json<Qualified>), AppError> {
    let input = body.checked().map_err(|p| invalid("qualification", p))?;
    let s = scopes(&state, &p).await?;
    let by = s.login.clone();
    let qualified = state
        .store()
        .qualify_lead(id, input, by, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    tracing::info!(
        lead = id,
        opportunity = qualified.opportunity.id,
        customer = %qualified.customer,
        created = qualified.customer_created,
        "lead qualified"
    );
    Ok((StatusCode::CREATED, axum::Json(qualified)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpportunityParams {
    pub search: Option<String>,
    pub stage: Option<String>,
    pub owner: Option<String>,
    pub customer: Option<String>,
    /// Closing on or after.
    pub from: Option<NaiveDate>,
    /// Closing on or before.
    pub to: Option<NaiveDate>,
    pub after: Option<i64>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OpportunityList {
    pub opportunities: Vec<Opportunity>,
    pub next: Option<i64>,
}

pub async fn opportunity_list(
    state: &AppState,
    p: &Principal,
    q: OpportunityParams,
) -> Result<OpportunityList, AppError> {
    check_search(&q.search)?;
    let limit = page_limit(q.limit)?;
    let stage = parse_or("stage", q.stage.as_deref(), Stage::parse, STAGES)?;
    let s = scopes(state, p).await?;
    let opportunities = state
        .store()
        .opportunities(
            OpportunityQuery {
                search: q.search,
                stage,
                owner: q.owner,
                customer: q.customer,
                close_from: q.from,
                close_to: q.to,
                not_lost: false,
                after: q.after,
                limit,
            },
            s.read,
        )
        .await?;
    let next = (opportunities.len() == limit)
        .then(|| opportunities.last().map(|o| o.id))
        .flatten();
    Ok(OpportunityList {
        opportunities,
        next,
    })
}

async fn list_opportunities(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<OpportunityParams>,
) -> Result<axum::Json<OpportunityList>, AppError> {
    Ok(axum::Json(opportunity_list(&state, &p, q).await?))
}

async fn create_opportunity(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<OpportunityInput>,
) -> Result<(StatusCode, axum::Json<Opportunity>), AppError> {
    let input = body.checked().map_err(|p| invalid("opportunity", p))?;
    let s = scopes(&state, &p).await?;
    let owner = s.owner(input.owner.clone())?;
    let by = s.login.clone();
    let opportunity = state
        .store()
        .put_opportunity(None, input, owner, by, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, axum::Json(opportunity)))
}

async fn get_opportunity(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<Opportunity>, AppError> {
    let s = scopes(&state, &p).await?;
    state
        .store()
        .opportunity(id, s.read)
        .await?
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("no opportunity {id}")))
}

/// `PUT /api/v1/opportunities/{opportunity}`: everything but the stage; the owner stays
/// unless named.
async fn put_opportunity(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<OpportunityInput>,
) -> Result<axum::Json<Opportunity>, AppError> {
    let input = body.checked().map_err(|p| invalid("opportunity", p))?;
    let s = scopes(&state, &p).await?;
    let current = state
        .store()
        .opportunity(id, s.write.clone())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no opportunity {id}")))?;
    let owner = match &input.owner {
        None => current.owner,
        named => s.owner(named.clone())?,
    };
    let by = s.login.clone();
    let opportunity = state
        .store()
        .put_opportunity(Some(id), input, owner, by, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(opportunity))
}

/// `POST /api/v1/opportunities/{opportunity}/stage`: a card dragged to another column.
async fn stage_move(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<StageMove>,
) -> Result<axum::Json<Opportunity>, AppError> {
    // What is wrong whatever is stored: 400.
    if body.stage == Stage::Lost && body.lost_reason.trim().is_empty() {
        return Err(AppError::bad_request(
            pipeline::MoveError::NoReason.to_string(),
        ));
    }
    if let Some(pr) = body.probability
        && pr > 100
    {
        return Err(AppError::bad_request(
            pipeline::MoveError::Probability(pr).to_string(),
        ));
    }
    if body.lost_reason.len() > pipeline::MAX_REASON_LEN {
        return Err(AppError::bad_request(format!(
            "lost_reason: more than {} bytes",
            pipeline::MAX_REASON_LEN
        )));
    }
    let s = scopes(&state, &p).await?;
    let by = s.login.clone();
    let to = body.stage;
    let opportunity = state
        .store()
        .move_stage(id, body, by, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    tracing::info!(opportunity = id, stage = to.as_str(), "opportunity moved");
    Ok(axum::Json(opportunity))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastParams {
    /// Closing on or after; the first of this month when absent.
    pub from: Option<NaiveDate>,
    /// Closing on or before; the day before a year after `from` when absent (twelve months).
    pub to: Option<NaiveDate>,
    pub owner: Option<String>,
    /// Everything converted to this currency (at today's rates); per currency when absent.
    pub currency: Option<String>,
}

/// The longest range one forecast covers.
pub const MAX_FORECAST_DAYS: i64 = 3 * 366;

pub async fn forecast(
    state: &AppState,
    p: &Principal,
    q: ForecastParams,
) -> Result<Forecast, AppError> {
    let today = Utc::now().date_naive();
    let from = q.from.unwrap_or_else(|| today.with_day(1).unwrap_or(today));
    let to = q.to.unwrap_or_else(|| {
        from.checked_add_months(chrono::Months::new(12))
            .and_then(|d| d.pred_opt())
            .unwrap_or(from)
    });
    if to < from {
        return Err(AppError::bad_request(format!(
            "to: {to} is before from {from}; expected a range of close dates"
        )));
    }
    if (to - from).num_days() > MAX_FORECAST_DAYS {
        return Err(AppError::bad_request(format!(
            "from, to: {} days; expected at most {MAX_FORECAST_DAYS}",
            (to - from).num_days()
        )));
    }
    if let Some(c) = &q.currency {
        crate::crm::customers::check_currency(c).map_err(|e| invalid("forecast", vec![e]))?;
    }
    let s = scopes(state, p).await?;
    let opportunities = state
        .store()
        .opportunities(
            OpportunityQuery {
                owner: q.owner,
                close_from: Some(from),
                close_to: Some(to),
                not_lost: true,
                limit: MAX_FORECAST,
                ..OpportunityQuery::default()
            },
            s.read,
        )
        .await?;
    if opportunities.len() >= MAX_FORECAST {
        return Err(AppError::bad_request(format!(
            "more than {MAX_FORECAST} opportunities close between {from} and {to}; expected a narrower range or an owner"
        )));
    }
    let rates = match &q.currency {
        Some(c) => state.store().exchange_rates(None, Some(c.clone())).await?,
        None => Vec::new(),
    };
    pipeline::forecast(
        &opportunities,
        q.currency.as_deref().map(|c| (c, rates.as_slice())),
        today,
    )
    .map_err(|e| {
        AppError::new(
            StatusCode::CONFLICT,
            "no_forecast",
            protocol::bounds::sanitize_text(&e.to_string()),
        )
    })
}

async fn get_forecast(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ForecastParams>,
) -> Result<axum::Json<Forecast>, AppError> {
    Ok(axum::Json(forecast(&state, &p, q).await?))
}

/// Adds this module's paths and schemas to the OpenAPI document.
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let q = |name: &str, kind: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}, "description": description});
    let limit = json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": crate::store::crm::MAX_LIST, "default": 50}});
    let id = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}});
    let ok = |schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let scope_note = "Scoped: a salesperson sees their own, a sales manager their team's (the users whose manager they are, down the line), crm.all.read everyone's; others answer 404.";
    let paths = json!({
        "/api/v1/leads": {
            "get": {"summary": "leads, searched", "tags": ["crm"], "description": scope_note,
                "parameters": [q("search", "string", "part of the name, the company, the title, an e-mail address, a phone number's digits or a WeChat handle"), q("status", "string", "new, contacted, qualified or disqualified"), q("source", "string", "trade_fair, website, referral, cold_call or other"), q("owner", "string", "a salesperson's login"), q("after", "integer", "the previous page's `next`"), limit],
                "responses": {"200": ok("LeadList"), "400": error, "401": error, "403": error}},
            "post": {"summary": "a new lead", "tags": ["crm"], "description": "The owner is the caller unless `owner` names someone of their team.",
                "requestBody": body("LeadInput"),
                "responses": {"201": ok("Lead"), "400": error, "401": error, "403": error}}
        },
        "/api/v1/leads/{lead}": {
            "get": {"summary": "a lead", "tags": ["crm"], "parameters": [id("lead")], "responses": {"200": ok("Lead"), "401": error, "403": error, "404": error}},
            "put": {"summary": "change a lead, its status too (contacted; disqualified with a reason; new again)", "tags": ["crm"], "parameters": [id("lead")],
                "description": "A qualified lead is final (409). The owner stays unless `owner` is given.", "requestBody": body("LeadInput"),
                "responses": {"200": ok("Lead"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/leads/{lead}/qualify": {
            "post": {"summary": "qualify a lead: customer, contact and opportunity in one transaction", "tags": ["crm"], "parameters": [id("lead")],
                "description": "The customer is the one `customer` names, else the one whose name is written as the lead's company (legal forms, width, case and punctuation aside), else a new one; the contact is one at that customer sharing the lead's e-mail address or phone number, else a new one; the opportunity starts at `stage` (qualification) with the stage's probability unless given. The lead becomes qualified and links to the three. Everything is the lead owner's.",
                "requestBody": body("QualifyInput"),
                "responses": {"201": ok("Qualified"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/opportunities": {
            "get": {"summary": "opportunities, searched", "tags": ["crm"], "description": scope_note,
                "parameters": [q("search", "string", "part of the title, the customer's code or name"), q("stage", "string", STAGES), q("owner", "string", "a salesperson's login"), q("customer", "string", "a customer's code"), q("from", "string", "closing on or after (YYYY-MM-DD)"), q("to", "string", "closing on or before (YYYY-MM-DD)"), q("after", "integer", "the previous page's `next`"), limit],
                "responses": {"200": ok("OpportunityList"), "400": error, "401": error, "403": error}},
            "post": {"summary": "a new opportunity", "tags": ["crm"], "description": "With a customer (and contact at it) the caller sees; at an open stage (qualification when absent) with the stage's probability unless given; in the customer's currency unless given.",
                "requestBody": body("OpportunityInput"),
                "responses": {"201": ok("Opportunity"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/opportunities/{opportunity}": {
            "get": {"summary": "an opportunity with its stage history", "tags": ["crm"], "parameters": [id("opportunity")], "responses": {"200": ok("Opportunity"), "401": error, "403": error, "404": error}},
            "put": {"summary": "change an opportunity (all but its stage)", "tags": ["crm"], "parameters": [id("opportunity")],
                "description": "With `version`, refused (409) when someone changed it since. The owner stays unless `owner` is given.", "requestBody": body("OpportunityInput"),
                "responses": {"200": ok("Opportunity"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/opportunities/{opportunity}/stage": {
            "post": {"summary": "move an opportunity to another stage", "tags": ["crm"], "parameters": [id("opportunity")],
                "description": "`version` is the one the mover saw: another change since answers 409 (two people dragging the same card). The stage's probability unless `probability` is given (won 100, lost 0, fixed); lost needs `lost_reason`; won and lost are final unless `reopen` moves them back to an open stage. Written to the stage history (who, when, from, to).",
                "requestBody": body("StageMove"),
                "responses": {"200": ok("Opportunity"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/crm/forecast": {
            "get": {"summary": "the weighted forecast: by close month, owner and stage", "tags": ["crm"],
                "description": "The opportunities the caller sees closing in the range, lost ones left out; weighted = amount × probability / 100 in cents. Per currency, or converted to `currency` at today's exchange rates (409 naming the rate missing). Sums per currency, stage, month and forecast category (pipeline: qualification and needs analysis; best_case: proposal; commit: negotiation; closed: won).",
                "parameters": [q("from", "string", "closing on or after (YYYY-MM-DD); the first of this month when absent"), q("to", "string", "closing on or before; twelve months from `from` when absent (at most three years)"), q("owner", "string", "a salesperson's login"), q("currency", "string", "convert to this ISO 4217 currency")],
                "responses": {"200": ok("Forecast"), "400": error, "401": error, "403": error, "409": error}}
        }
    });
    let stage = json!({"type": "string", "enum": ["qualification", "needs_analysis", "proposal", "negotiation", "won", "lost"]});
    let source = json!({"type": "string", "enum": ["trade_fair", "website", "referral", "cold_call", "other"]});
    let status =
        json!({"type": "string", "enum": ["new", "contacted", "qualified", "disqualified"]});
    let money = json!({"type": "string", "description": "decimal, at most 2 decimals"});
    let lead_fields = json!({
        "name": {"type": "string"}, "company": {"type": "string"}, "title": {"type": "string"},
        "phone": {"type": "string"}, "email": {"type": "string"}, "wechat": {"type": "string"},
        "source": source, "status": status, "reason": {"type": "string", "description": "why it was disqualified"},
        "note": {"type": "string"}, "owner": {"type": "string"}});
    let mut lead = lead_fields.clone();
    if let Some(map) = lead.as_object_mut() {
        map.insert("id".into(), json!({"type": "integer"}));
        map.insert(
            "customer".into(),
            json!({"type": "string", "nullable": true}),
        );
        map.insert(
            "contact".into(),
            json!({"type": "integer", "nullable": true}),
        );
        map.insert(
            "opportunity".into(),
            json!({"type": "integer", "nullable": true}),
        );
        map.insert(
            "created_at".into(),
            json!({"type": "string", "format": "date-time"}),
        );
        map.insert(
            "updated_at".into(),
            json!({"type": "string", "format": "date-time"}),
        );
    }
    let opportunity_fields = json!({
        "customer": {"type": "string"}, "contact": {"type": "integer", "nullable": true}, "title": {"type": "string"},
        "stage": stage, "amount": money, "currency": {"type": "string", "description": "ISO 4217; the customer's when absent"},
        "probability": {"type": "integer", "minimum": 0, "maximum": 100, "description": "percent; the stage's when absent"},
        "close_date": {"type": "string", "format": "date"}, "items": {"type": "array", "items": {"type": "string"}, "description": "items of interest"},
        "owner": {"type": "string"}, "version": {"type": "integer", "description": "put: the version read"}});
    let mut opportunity = opportunity_fields.clone();
    if let Some(map) = opportunity.as_object_mut() {
        for (k, v) in [
            ("id", json!({"type": "integer"})),
            ("customer_name", json!({"type": "string"})),
            ("contact_name", json!({"type": "string", "nullable": true})),
            (
                "weighted",
                json!({"type": "string", "description": "amount × probability / 100, in cents"}),
            ),
            ("lost_reason", json!({"type": "string"})),
            ("lead", json!({"type": "integer", "nullable": true})),
            (
                "created_at",
                json!({"type": "string", "format": "date-time"}),
            ),
            (
                "updated_at",
                json!({"type": "string", "format": "date-time"}),
            ),
            (
                "closed_at",
                json!({"type": "string", "format": "date-time", "nullable": true}),
            ),
            (
                "history",
                json!({"type": "array", "items": {"type": "object", "properties": {
                    "from": {"type": "string", "nullable": true}, "to": {"type": "string"}, "probability": {"type": "integer"},
                    "by": {"type": "string"}, "at": {"type": "string", "format": "date-time"}, "reason": {"type": "string"}}}}),
            ),
        ] {
            map.insert(k.into(), v);
        }
    }
    let sum = json!({"type": "object", "properties": {"key": {"type": "string"}, "currency": {"type": "string"}, "count": {"type": "integer"}, "amount": {"type": "string"}, "weighted": {"type": "string"}}});
    let sums = json!({"type": "array", "items": sum});
    let schemas = json!({
        "Lead": {"type": "object", "properties": lead},
        "LeadInput": {"type": "object", "required": ["name", "source"], "properties": lead_fields},
        "LeadList": {"type": "object", "properties": {"leads": {"type": "array", "items": {"$ref": "#/components/schemas/Lead"}}, "next": {"type": "integer", "nullable": true}}},
        "QualifyInput": {"type": "object", "required": ["amount", "close_date"], "properties": {
            "customer": {"type": "string", "description": "a customer by code instead of the lead's company"},
            "title": {"type": "string", "description": "`<customer>: <lead name>` when empty"}, "amount": money,
            "currency": {"type": "string"}, "close_date": {"type": "string", "format": "date"}, "stage": stage,
            "probability": {"type": "integer", "minimum": 0, "maximum": 100}, "items": {"type": "array", "items": {"type": "string"}}}},
        "Qualified": {"type": "object", "properties": {
            "lead": {"$ref": "#/components/schemas/Lead"}, "opportunity": {"$ref": "#/components/schemas/Opportunity"},
            "customer": {"type": "string"}, "customer_created": {"type": "boolean"}, "contact": {"type": "integer"}}},
        "Opportunity": {"type": "object", "properties": opportunity},
        "OpportunityInput": {"type": "object", "required": ["customer", "title", "amount", "close_date"], "properties": opportunity_fields},
        "OpportunityList": {"type": "object", "properties": {"opportunities": {"type": "array", "items": {"$ref": "#/components/schemas/Opportunity"}}, "next": {"type": "integer", "nullable": true}}},
        "StageMove": {"type": "object", "required": ["stage", "version"], "properties": {
            "stage": stage, "version": {"type": "integer"}, "lost_reason": {"type": "string"},
            "probability": {"type": "integer", "minimum": 0, "maximum": 100}, "reopen": {"type": "boolean", "default": false}}},
        "Forecast": {"type": "object", "properties": {
            "currency": {"type": "string", "nullable": true}, "as_of": {"type": "string", "format": "date"},
            "lines": {"type": "array", "items": {"type": "object", "properties": {
                "month": {"type": "string", "description": "YYYY-MM"}, "owner": {"type": "string"}, "stage": stage,
                "category": {"type": "string", "enum": ["pipeline", "best_case", "commit", "closed"]},
                "currency": {"type": "string"}, "count": {"type": "integer"}, "amount": {"type": "string"}, "weighted": {"type": "string"}}}},
            "totals": sums, "by_stage": sums, "by_month": sums, "by_category": sums}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
