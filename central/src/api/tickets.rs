//! After-sales service tickets and the phone system's lookup (issue 16).
//!
//! `crm.read` reads, `crm.write` writes, scoped like the CRM's records: a ticket is seen by
//! its owner's scope and its customer's owner's, anything else answers 404. A phone system
//! (CTI, IVR) signs in as a user with a personal API token: `GET /api/v1/crm/lookup?phone=`
//! answers who is calling, their customers' open orders and tickets;
//! `GET /api/v1/crm/lookup?order=SO000001` an order's status as its customer sees it.

use super::AppState;
use super::crm::scopes;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::policy::{Principal, Routes, needs};
use crate::crm::dedupe::phone_key;
use crate::people::roles::Permission;
use crate::store::tickets::{
    CallerAccount, CallerMatch, MAX_LIST, Ticket, TicketAction, TicketInput, TicketQuery,
    TicketState,
};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};

pub fn routes() -> Routes {
    use Permission::{CrmRead, CrmWrite};
    Routes::new()
        .get("/api/v1/tickets", needs(CrmRead), list_tickets)
        .post("/api/v1/tickets", needs(CrmWrite), create_ticket)
        .get("/api/v1/tickets/{ticket}", needs(CrmRead), get_ticket)
        .put("/api/v1/tickets/{ticket}", needs(CrmWrite), put_ticket)
        .post("/api/v1/tickets/{ticket}/log", needs(CrmWrite), log_ticket)
        .post(
            "/api/v1/tickets/{ticket}/state",
            needs(CrmWrite),
            ticket_state,
        )
        .post(
            "/api/v1/tickets/{ticket}/assign",
            needs(CrmWrite),
            assign_ticket,
        )
        .get("/api/v1/crm/lookup", needs(CrmRead), lookup)
}

const MAX_SUBJECT: usize = 200;
const MAX_TEXT: usize = 8 * 1024;

fn refused(r: crate::store::crm::CrmRefusal) -> AppError {
    use crate::store::crm::CrmRefusal;
    match r {
        CrmRefusal::NotFound(what) => AppError::not_found(protocol::bounds::sanitize_text(&what)),
        CrmRefusal::Conflict(what) => AppError::new(
            StatusCode::CONFLICT,
            "ticket_conflict",
            protocol::bounds::sanitize_text(&what),
        ),
    }
}

fn check_id(field: &str, value: &str, problems: &mut Vec<String>) {
    if let Err(e) = protocol::bounds::check_id(field, value) {
        problems.push(e.to_string());
    }
}

fn check_text(field: &str, value: &str, max: usize, problems: &mut Vec<String>) {
    if value.len() > max {
        problems.push(format!(
            "{field}: {} bytes; expected at most {max}",
            value.len()
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        problems.push(format!(
            "{field}: holds the control character U+{:04X}",
            u32::from(c)
        ));
    }
}

fn checked(t: &TicketInput) -> Result<(), AppError> {
    let mut problems = Vec::new();
    check_id("customer", &t.customer, &mut problems);
    for (field, value) in [("order", &t.order), ("lot", &t.lot), ("item", &t.item)] {
        if let Some(v) = value {
            check_id(field, v, &mut problems);
        }
    }
    if t.subject.trim().is_empty() {
        problems.push("subject: empty; expected what the problem is".into());
    }
    check_text("subject", &t.subject, MAX_SUBJECT, &mut problems);
    check_text("description", &t.description, MAX_TEXT, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AppError::bad_request(format!(
            "the ticket is not valid: {}",
            problems.join("; ")
        )))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    customer: Option<String>,
    order: Option<String>,
    lot: Option<String>,
    owner: Option<String>,
    #[serde(default)]
    open: bool,
    before: Option<i64>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
    pub next: Option<i64>,
}

async fn list_tickets(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<axum::Json<TicketList>, AppError> {
    let mut problems = Vec::new();
    for (field, value) in [
        ("customer", &q.customer),
        ("order", &q.order),
        ("lot", &q.lot),
        ("owner", &q.owner),
    ] {
        if let Some(v) = value {
            check_id(field, v, &mut problems);
        }
    }
    if !problems.is_empty() {
        return Err(AppError::bad_request(problems.join("; ")));
    }
    let limit = match q.limit {
        None => 50,
        Some(n) if (1..=MAX_LIST).contains(&n) => n,
        Some(n) => {
            return Err(AppError::bad_request(format!(
                "limit: {n}; expected 1 to {MAX_LIST}"
            )));
        }
    };
    let s = scopes(&state, &p).await?;
    let tickets = state
        .store()
        .tickets(
            TicketQuery {
                customer: q.customer,
                order: q.order,
                lot: q.lot,
                owner: q.owner,
                open: q.open,
                before: q.before,
                limit,
            },
            s.read,
        )
        .await?;
    let next = (tickets.len() == limit)
        .then(|| tickets.last().map(|t| t.id))
        .flatten();
    Ok(axum::Json(TicketList { tickets, next }))
}

async fn get_ticket(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<Ticket>, AppError> {
    let s = scopes(&state, &p).await?;
    state
        .store()
        .ticket(id, s.read)
        .await?
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("no ticket {id}")))
}

async fn create_ticket(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<TicketInput>,
) -> Result<(StatusCode, axum::Json<Ticket>), AppError> {
    checked(&body)?;
    let s = scopes(&state, &p).await?;
    let owner = s.owner(body.owner.clone())?;
    let ticket = state
        .store()
        .put_ticket(None, body, owner, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    tracing::info!(ticket = %ticket.number, customer = %ticket.customer, "service ticket opened");
    Ok((StatusCode::CREATED, axum::Json(ticket)))
}

async fn put_ticket(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TicketInput>,
) -> Result<axum::Json<Ticket>, AppError> {
    checked(&body)?;
    let s = scopes(&state, &p).await?;
    let current = state
        .store()
        .ticket(id, s.write.clone())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no ticket {id}")))?;
    let owner = match &body.owner {
        None => current.owner,
        named => s.owner(named.clone())?,
    };
    let ticket = state
        .store()
        .put_ticket(Some(id), body, owner, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(ticket))
}

async fn act(
    state: &AppState,
    p: &Principal,
    id: i64,
    action: TicketAction,
) -> Result<axum::Json<Ticket>, AppError> {
    let s = scopes(state, p).await?;
    let action = match action {
        TicketAction::Assign { owner } => TicketAction::Assign {
            owner: s.owner(Some(owner))?,
        },
        other => other,
    };
    let ticket = state
        .store()
        .ticket_action(id, action, s.login.clone(), s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(ticket))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogBody {
    /// `call`, `visit`, `email` or `note`.
    kind: String,
    text: String,
}

async fn log_ticket(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<LogBody>,
) -> Result<axum::Json<Ticket>, AppError> {
    let mut problems = Vec::new();
    if !matches!(body.kind.as_str(), "call" | "visit" | "email" | "note") {
        problems.push(format!(
            "kind: {:?}; expected call, visit, email or note",
            protocol::bounds::sanitize(&body.kind, 32, false)
        ));
    }
    if body.text.trim().is_empty() {
        problems.push("text: empty; expected what was done or said".into());
    }
    check_text("text", &body.text, MAX_TEXT, &mut problems);
    if !problems.is_empty() {
        return Err(AppError::bad_request(problems.join("; ")));
    }
    act(
        &state,
        &p,
        id,
        TicketAction::Log {
            kind: body.kind,
            text: body.text,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    to: TicketState,
    #[serde(default)]
    text: String,
}

async fn ticket_state(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<StateBody>,
) -> Result<axum::Json<Ticket>, AppError> {
    let mut problems = Vec::new();
    check_text("text", &body.text, MAX_TEXT, &mut problems);
    if matches!(body.to, TicketState::Resolved) && body.text.trim().is_empty() {
        problems.push("text: empty; a resolved ticket says what fixed it".into());
    }
    if !problems.is_empty() {
        return Err(AppError::bad_request(problems.join("; ")));
    }
    act(
        &state,
        &p,
        id,
        TicketAction::State {
            to: body.to,
            text: body.text,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    owner: String,
}

async fn assign_ticket(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<axum::Json<Ticket>, AppError> {
    act(&state, &p, id, TicketAction::Assign { owner: body.owner }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupParams {
    phone: Option<String>,
    order: Option<String>,
}

/// What the phone system shows or says.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lookup {
    /// Contacts with the caller's number (by the phone key: `+86`, dashes and the trunk `0`
    /// do not matter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callers: Option<Vec<CallerMatch>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<CallerAccount>>,
    /// `?order=`: the order as its customer sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<super::sales::OrderStatusView>,
}

/// `GET /api/v1/crm/lookup?phone=` or `?order=`.
async fn lookup(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<LookupParams>,
) -> Result<axum::Json<Lookup>, AppError> {
    let s = scopes(&state, &p).await?;
    match (q.phone, q.order) {
        (Some(phone), None) => {
            if phone.len() > 64 {
                return Err(AppError::bad_request(
                    "phone: more than 64 bytes; expected a phone number",
                ));
            }
            let key = phone_key(&phone).ok_or_else(|| {
                AppError::bad_request("phone: no digits to look up; expected a phone number")
            })?;
            let (callers, accounts) = state.store().caller(key, s.read).await?;
            Ok(axum::Json(Lookup {
                callers: Some(callers),
                accounts: Some(accounts),
                order: None,
            }))
        }
        (None, Some(number)) => {
            let mut problems = Vec::new();
            check_id("order", &number, &mut problems);
            if !problems.is_empty() {
                return Err(AppError::bad_request(problems.join("; ")));
            }
            let found = state
                .store()
                .sales_docs(
                    "order",
                    crate::store::sales::SalesQuery {
                        search: Some(number.clone()),
                        limit: 20,
                        ..Default::default()
                    },
                    s.read.clone(),
                    Utc::now().date_naive(),
                )
                .await?
                .into_iter()
                .find(|d| d.number.eq_ignore_ascii_case(&number))
                .ok_or_else(|| AppError::not_found(format!("no sales order {number:?}")))?;
            let doc = state
                .store()
                .sales_doc("order", found.id, s.read, Utc::now().date_naive())
                .await?
                .ok_or_else(|| AppError::not_found(format!("no sales order {number:?}")))?;
            Ok(axum::Json(Lookup {
                callers: None,
                accounts: None,
                order: Some(super::sales::status_view(&doc)),
            }))
        }
        _ => Err(AppError::bad_request(
            "expected one of phone or order: ?phone=13800138000 or ?order=SO000001",
        )),
    }
}

pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let q = |name: &str, kind: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}, "description": description});
    let id =
        json!({"name": "ticket", "in": "path", "required": true, "schema": {"type": "integer"}});
    let ok = |schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let body = |props: serde_json::Value, required: serde_json::Value| json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": required, "properties": props}}}});
    let answer = json!({"200": ok("Ticket"), "400": error, "401": error, "403": error, "404": error, "409": error});
    let states =
        json!({"type": "string", "enum": ["open", "in_progress", "waiting", "resolved", "closed"]});
    let input = json!({"type": "object", "required": ["customer", "subject"], "properties": {
        "customer": {"type": "string"}, "contact": {"type": "integer"}, "order": {"type": "string", "description": "a sales order's number"},
        "lot": {"type": "string"}, "item": {"type": "string"}, "subject": {"type": "string"}, "description": {"type": "string"},
        "priority": {"type": "string", "enum": ["low", "normal", "high", "urgent"], "default": "normal"}, "owner": {"type": "string"}}});
    let paths = json!({
        "/api/v1/tickets": {
            "get": {"summary": "service tickets, newest first", "tags": ["crm"], "description": "Scoped: by the ticket's owner and its customer's owner.",
                "parameters": [q("customer", "string", "a customer's code"), q("order", "string", "a sales order's number"), q("lot", "string", "a lot"),
                    q("owner", "string", "who works on it"), q("open", "boolean", "not closed only"), q("before", "integer", "the previous page's `next`"),
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST, "default": 50}}],
                "responses": {"200": ok("TicketList"), "400": error, "401": error, "403": error}},
            "post": {"summary": "open a service ticket", "tags": ["crm"], "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TicketInput"}}}},
                "responses": {"201": ok("Ticket"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/tickets/{ticket}": {
            "get": {"summary": "a ticket with its log", "tags": ["crm"], "parameters": [id], "responses": {"200": ok("Ticket"), "401": error, "403": error, "404": error}},
            "put": {"summary": "change a ticket that is not closed", "tags": ["crm"], "parameters": [id], "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TicketInput"}}}}, "responses": answer}
        },
        "/api/v1/tickets/{ticket}/log": {"post": {"summary": "a call, visit, e-mail or note in the ticket's log", "tags": ["crm"], "parameters": [id],
            "requestBody": body(json!({"kind": {"type": "string", "enum": ["call", "visit", "email", "note"]}, "text": {"type": "string"}}), json!(["kind", "text"])), "responses": answer}},
        "/api/v1/tickets/{ticket}/state": {"post": {"summary": "move the ticket: open → in_progress → waiting → resolved → closed (back to work from waiting or resolved; never out of closed)", "tags": ["crm"], "parameters": [id],
            "requestBody": body(json!({"to": states, "text": {"type": "string", "description": "required when resolved: what fixed it"}}), json!(["to"])), "responses": answer}},
        "/api/v1/tickets/{ticket}/assign": {"post": {"summary": "give the ticket to someone of the caller's team", "tags": ["crm"], "parameters": [id],
            "requestBody": body(json!({"owner": {"type": "string"}}), json!(["owner"])), "responses": answer}},
        "/api/v1/crm/lookup": {"get": {"summary": "for phone systems (CTI, IVR): who is calling, or an order's status", "tags": ["crm"],
            "description": "`phone`: contacts with the number (however it is written), their customers' open orders and open tickets. `order`: the order as its customer sees it. Exactly one of them.",
            "parameters": [q("phone", "string", "the caller's number"), q("order", "string", "a sales order's number")],
            "responses": {"200": ok("Lookup"), "400": error, "401": error, "403": error, "404": error}}}
    });
    let schemas = json!({
        "TicketInput": input,
        "Ticket": {"type": "object", "properties": {
            "id": {"type": "integer"}, "number": {"type": "string"}, "customer": {"type": "string"}, "customer_name": {"type": "string"},
            "contact": {"type": "integer", "nullable": true}, "order": {"type": "string", "nullable": true}, "lot": {"type": "string", "nullable": true},
            "item": {"type": "string", "nullable": true}, "subject": {"type": "string"}, "description": {"type": "string"},
            "priority": {"type": "string"}, "state": states, "owner": {"type": "string"}, "created_by": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
            "resolved_at": {"type": "string", "format": "date-time", "nullable": true},
            "entries": {"type": "array", "items": {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}, "by": {"type": "string"}, "kind": {"type": "string"}, "text": {"type": "string"}}}}}},
        "TicketList": {"type": "object", "properties": {"tickets": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}}, "next": {"type": "integer", "nullable": true}}},
        "Lookup": {"type": "object", "properties": {
            "callers": {"type": "array", "items": {"type": "object", "properties": {"contact": {"type": "integer"}, "name": {"type": "string"}, "customer": {"type": "string", "nullable": true}, "customer_name": {"type": "string", "nullable": true}, "number": {"type": "string"}}}},
            "accounts": {"type": "array", "items": {"type": "object", "properties": {"customer": {"type": "string"}, "customer_name": {"type": "string"}, "owner": {"type": "string"},
                "open_orders": {"type": "array", "items": {"type": "object"}}, "open_tickets": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}}}}},
            "order": {"$ref": "#/components/schemas/OrderStatus"}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_moves_forward_back_to_work_and_never_out_of_closed() {
        use TicketState::*;
        assert!(Open.can_go(InProgress));
        assert!(InProgress.can_go(Waiting));
        assert!(Waiting.can_go(InProgress));
        assert!(Resolved.can_go(InProgress));
        assert!(Resolved.can_go(Closed));
        assert!(Open.can_go(Closed));
        assert!(!Closed.can_go(Open));
        assert!(!Closed.can_go(InProgress));
        assert!(!Open.can_go(Open));
        assert!(!Resolved.can_go(Waiting));
        assert!(!InProgress.can_go(Open));
    }
}
