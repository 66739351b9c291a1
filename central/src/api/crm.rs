//! CRM routes (issue 16): customers, contacts (and their vCards), business cards in (vCard
//! and CSV) with the duplicates they found, activities and the task list.
//!
//! Who sees what ([`crate::crm::scope`]): `crm.read` one's own records and one's team's (the
//! users whose manager one is, down the line), `crm.all.read` everyone's; `crm.write` changes
//! what one may see as one's own or one's team's (everyone's for an administrator). A record
//! outside the caller's scope answers 404, as a record of another plant does. An owner named
//! in a change must be a user, and the caller or someone of their team.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery, CsvBody};
use super::policy::{Principal, Routes, needs};
use crate::crm::customers::{self, ActivityInput, ActivityKind, ContactInput, CustomerInput};
use crate::crm::scope::{SalesScope, team_of};
use crate::crm::vcard;
use crate::people::roles::Permission;
use crate::store::crm::{
    ActivityQuery, ContactQuery, CrmRefusal, CustomerQuery, ImportCard, ImportOutcome, Resolution,
};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub fn routes() -> Routes {
    use Permission::{CrmRead, CrmWrite};
    Routes::new()
        .get("/api/v1/customers", needs(CrmRead), list_customers)
        .post("/api/v1/customers", needs(CrmWrite), create_customer)
        .get("/api/v1/customers/{customer}", needs(CrmRead), get_customer)
        .put(
            "/api/v1/customers/{customer}",
            needs(CrmWrite),
            put_customer,
        )
        .get("/api/v1/contacts", needs(CrmRead), list_contacts)
        .post("/api/v1/contacts", needs(CrmWrite), create_contact)
        .get("/api/v1/contacts/{contact}", needs(CrmRead), get_contact)
        .put("/api/v1/contacts/{contact}", needs(CrmWrite), put_contact)
        .get(
            "/api/v1/contacts/{contact}/vcard",
            needs(CrmRead),
            contact_vcard,
        )
        .post(
            "/api/v1/contacts/{contact}/merge",
            needs(CrmWrite),
            merge_contact,
        )
        .post("/api/v1/import/vcards", needs(CrmWrite), import_vcards)
        .post("/api/v1/import/contacts", needs(CrmWrite), import_contacts)
        .get("/api/v1/crm/duplicates", needs(CrmRead), list_duplicates)
        .post(
            "/api/v1/crm/duplicates/{duplicate}/resolve",
            needs(CrmWrite),
            resolve_duplicate,
        )
        .get("/api/v1/activities", needs(CrmRead), list_activities)
        .post("/api/v1/activities", needs(CrmWrite), add_activity)
        .post(
            "/api/v1/activities/{activity}/done",
            needs(CrmWrite),
            activity_done,
        )
        .get("/api/v1/crm/tasks", needs(CrmRead), list_tasks)
}

/// Whose records the caller sees and changes.
pub struct Scopes {
    pub login: String,
    pub read: SalesScope,
    pub write: SalesScope,
    users: Vec<String>,
}

impl Scopes {
    /// The owner of a change: the one named (a user of the caller's team) or the caller.
    pub fn owner(&self, named: Option<String>) -> Result<String, AppError> {
        let Some(owner) = named else {
            return Ok(self.login.clone());
        };
        if !self.users.contains(&owner) {
            return Err(AppError::bad_request(format!(
                "owner: no user {:?}; expected the login of a salesperson",
                protocol::bounds::sanitize(&owner, 64, false)
            )));
        }
        if !self.write.allows(&owner) {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "not_your_team",
                format!("owner: {owner:?} is not you or someone of your team"),
            ));
        }
        Ok(owner)
    }
}

pub async fn scopes(state: &AppState, p: &Principal) -> Result<Scopes, AppError> {
    let login = p
        .login()
        .ok_or_else(|| AppError::unauthorized("the CRM is for people; expected a signed-in user"))?
        .to_owned();
    let users = state.store().users().await?;
    let team = SalesScope::Owners(team_of(
        &login,
        users
            .iter()
            .map(|u| (u.login.as_str(), u.manager.as_deref())),
    ));
    let all_read = p.permissions.contains(Permission::CrmAllRead);
    let read = if all_read {
        SalesScope::All
    } else {
        team.clone()
    };
    let write = if all_read && p.permissions.contains(Permission::CrmWrite) {
        SalesScope::All
    } else {
        team.clone()
    };
    let mut logins: Vec<String> = users.into_iter().map(|u| u.login).collect();
    logins.push(login.clone());
    Ok(Scopes {
        login,
        read,
        write,
        users: logins,
    })
}

pub(super) fn refused(r: CrmRefusal) -> AppError {
    match r {
        CrmRefusal::NotFound(what) => AppError::not_found(protocol::bounds::sanitize_text(&what)),
        CrmRefusal::Conflict(what) => AppError::new(
            StatusCode::CONFLICT,
            "crm_conflict",
            protocol::bounds::sanitize_text(&what),
        ),
    }
}

pub(super) fn invalid(what: &str, problems: Vec<String>) -> AppError {
    AppError::bad_request(format!(
        "the {what} is not valid: {}",
        problems
            .iter()
            .map(|p| protocol::bounds::sanitize_text(p))
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

pub(super) fn check_search(search: &Option<String>) -> Result<(), AppError> {
    if let Some(s) = search
        && s.len() > 200
    {
        return Err(AppError::bad_request(
            "search: more than 200 bytes; expected a part of a name, code or number",
        ));
    }
    Ok(())
}

pub(super) fn page_limit(limit: Option<usize>) -> Result<usize, AppError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=crate::store::crm::MAX_LIST).contains(&n) => Ok(n),
        Some(n) => Err(AppError::bad_request(format!(
            "limit: {n}; expected 1 to {}",
            crate::store::crm::MAX_LIST
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerParams {
    pub search: Option<String>,
    pub owner: Option<String>,
    pub tag: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CustomerList {
    pub customers: Vec<customers::Customer>,
    /// The `after` of the next page, when this one is full.
    pub next: Option<String>,
}

pub async fn customer_list(
    state: &AppState,
    p: &Principal,
    q: CustomerParams,
) -> Result<CustomerList, AppError> {
    check_search(&q.search)?;
    check_search(&q.tag)?;
    let limit = page_limit(q.limit)?;
    let s = scopes(state, p).await?;
    let customers = state
        .store()
        .customers(
            CustomerQuery {
                search: q.search,
                owner: q.owner,
                tag: q.tag,
                after: q.after,
                limit,
            },
            s.read,
        )
        .await?;
    let next = (customers.len() == limit)
        .then(|| customers.last().map(|c| c.code.clone()))
        .flatten();
    Ok(CustomerList { customers, next })
}

async fn list_customers(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<CustomerParams>,
) -> Result<axum::Json<CustomerList>, AppError> {
    Ok(axum::Json(customer_list(&state, &p, q).await?))
}

async fn create_customer(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<CustomerInput>,
) -> Result<(StatusCode, axum::Json<customers::Customer>), AppError> {
    if let Some(code) = &body.code {
        customers::check_code(code).map_err(|e| invalid("customer", vec![e]))?;
        if state
            .store()
            .customer(code.clone(), SalesScope::All)
            .await?
            .is_some()
        {
            return Err(AppError::new(
                StatusCode::CONFLICT,
                "customer_exists",
                format!("customer {code:?} exists; change it with put /api/v1/customers/{{code}}"),
            ));
        }
    }
    let code = body.code.clone();
    let input = body.checked().map_err(|p| invalid("customer", p))?;
    let s = scopes(&state, &p).await?;
    let owner = s.owner(input.owner.clone())?;
    let customer = state
        .store()
        .put_customer(code, input, owner, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    tracing::info!(code = %customer.code, owner = %customer.owner, "customer created");
    Ok((StatusCode::CREATED, axum::Json(customer)))
}

async fn get_customer(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(code): ApiPath<String>,
) -> Result<axum::Json<customers::Customer>, AppError> {
    let s = scopes(&state, &p).await?;
    state
        .store()
        .customer(code.clone(), s.read)
        .await?
        .map(axum::Json)
        .ok_or_else(|| no_customer(&code))
}

fn no_customer(code: &str) -> AppError {
    AppError::not_found(format!(
        "no customer {:?}",
        protocol::bounds::sanitize(code, 64, false)
    ))
}

/// `PUT /api/v1/customers/{code}`: creates or changes; the owner stays unless named.
async fn put_customer(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<CustomerInput>,
) -> Result<axum::Json<customers::Customer>, AppError> {
    customers::check_code(&code).map_err(|e| invalid("customer", vec![e]))?;
    if body.code.as_ref().is_some_and(|c| *c != code) {
        return Err(AppError::bad_request(
            "code: differs from the code in the path; a customer's code does not change",
        ));
    }
    let input = body.checked().map_err(|p| invalid("customer", p))?;
    let s = scopes(&state, &p).await?;
    let current = state
        .store()
        .customer(code.clone(), s.write.clone())
        .await?;
    let owner = match (&input.owner, &current) {
        (None, Some(c)) => c.owner.clone(),
        (named, _) => s.owner(named.clone())?,
    };
    let customer = state
        .store()
        .put_customer(Some(code), input, owner, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(customer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactParams {
    customer: Option<String>,
    search: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ContactList {
    pub contacts: Vec<customers::Contact>,
    pub next: Option<i64>,
}

async fn list_contacts(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ContactParams>,
) -> Result<axum::Json<ContactList>, AppError> {
    check_search(&q.search)?;
    let limit = page_limit(q.limit)?;
    let s = scopes(&state, &p).await?;
    let contacts = state
        .store()
        .contacts(
            ContactQuery {
                customer: q.customer,
                search: q.search,
                after: q.after,
                limit,
            },
            s.read,
        )
        .await?;
    let next = (contacts.len() == limit)
        .then(|| contacts.last().map(|c| c.id))
        .flatten();
    Ok(axum::Json(ContactList { contacts, next }))
}

async fn create_contact(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<ContactInput>,
) -> Result<(StatusCode, axum::Json<customers::Contact>), AppError> {
    let input = body.checked().map_err(|p| invalid("contact", p))?;
    let s = scopes(&state, &p).await?;
    let owner = s.owner(input.owner.clone())?;
    let contact = state
        .store()
        .put_contact(None, input, owner, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, axum::Json(contact)))
}

async fn get_contact(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<customers::Contact>, AppError> {
    let s = scopes(&state, &p).await?;
    state
        .store()
        .contact(id, s.read)
        .await?
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("no contact {id}")))
}

async fn put_contact(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ContactInput>,
) -> Result<axum::Json<customers::Contact>, AppError> {
    let input = body.checked().map_err(|p| invalid("contact", p))?;
    let s = scopes(&state, &p).await?;
    let current = state
        .store()
        .contact(id, s.write.clone())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no contact {id}")))?;
    let owner = match &input.owner {
        None => current.owner,
        named => s.owner(named.clone())?,
    };
    let contact = state
        .store()
        .put_contact(Some(id), input, owner, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(contact))
}

/// `GET /api/v1/contacts/{id}/vcard`: the contact as a vCard 4.0 file.
async fn contact_vcard(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, AppError> {
    let s = scopes(&state, &p).await?;
    let contact = state
        .store()
        .contact(id, s.read)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no contact {id}")))?;
    let company = match &contact.customer {
        Some(code) => state
            .store()
            .customer(code.clone(), SalesScope::All)
            .await?
            .map(|c| c.name_in("zh").to_owned()),
        None => None,
    };
    let text = contact.to_vcard(company.as_deref());
    Ok((
        [
            (CONTENT_TYPE, "text/vcard; charset=utf-8".to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"contact-{id}.vcf\""),
            ),
        ],
        text,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    /// The contact merged into this one and then deleted.
    from: i64,
}

async fn merge_contact(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<axum::Json<customers::Contact>, AppError> {
    let s = scopes(&state, &p).await?;
    let contact = state
        .store()
        .merge_contacts(id, body.from, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    tracing::info!(into = id, from = body.from, "contacts merged");
    Ok(axum::Json(contact))
}

/// A `text/vcard` body (also `text/x-vcard` and `text/directory`), decoded by the charset of
/// its content type (UTF-8 when none; GBK, GB18030, BIG5 and other WHATWG labels read).
pub struct VcardBody(pub String);

impl FromRequest<AppState> for VcardBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = content_type(req.headers());
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !matches!(
            essence.as_str(),
            "text/vcard" | "text/x-vcard" | "text/directory"
        ) {
            return Err(AppError::bad_request(
                "missing or wrong content type; expected `content-type: text/vcard`",
            ));
        }
        let charset = charset_of(&content_type);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::payload_too_large(state.max_body_bytes())
            } else {
                AppError::bad_request(format!(
                    "could not read the request body: {}",
                    rejection.body_text()
                ))
            }
        })?;
        decode(&bytes, charset.as_deref()).map(VcardBody)
    }
}

/// The `charset=` of a content type, if it names one.
fn charset_of(content_type: &str) -> Option<String> {
    content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn decode(bytes: &[u8], charset: Option<&str>) -> Result<String, AppError> {
    let label = charset.unwrap_or("utf-8");
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
        AppError::bad_request(format!(
            "charset {:?} is not one central reads; expected utf-8, gbk, gb18030, big5 or another WHATWG label",
            protocol::bounds::sanitize(label, 32, false)
        ))
    })?;
    let (text, _, bad) = encoding.decode(bytes);
    if bad {
        // The line of the first byte that does not decode.
        let good = match std::str::from_utf8(bytes) {
            Ok(_) => bytes.len(),
            Err(e) => e.valid_up_to(),
        };
        let line = bytes[..good.min(bytes.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        return Err(AppError::bad_request(format!(
            "the body is not valid {} (near line {line}); expected the charset the content type names (utf-8 when it names none)",
            encoding.name()
        )));
    }
    Ok(text.into_owned())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportParams {
    /// Whose the new contacts and customers are; the caller when absent.
    owner: Option<String>,
}

/// Card problems as the CSV import's `invalid_csv` shape (line, column = the property).
fn card_errors(errors: vcard::CardErrors) -> AppError {
    let total = errors.errors.len() + errors.more;
    let rows = errors
        .errors
        .into_iter()
        .map(|e| {
            crate::erp::import::RowError::new(
                u64::try_from(e.line).unwrap_or(u64::MAX),
                &e.property,
                e.to_string(),
            )
        })
        .collect();
    let mut error = AppError::invalid_csv(rows, total);
    error.code = "invalid_vcard";
    error.message = format!(
        "{total} mistake{} in the vCard file, nothing was imported; expected every card valid (see details: line, column = the property, message)",
        if total == 1 { "" } else { "s" }
    );
    error
}

/// Checks each card as a contact (what the parser let through may still be too much for
/// one: a handle's network name, say), naming the card.
fn check_cards(cards: &[ImportCard]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for c in cards {
        if let Err(p) = ContactInput::from_card(&c.card).checked() {
            problems.push(format!("{}: {}", c.source, p.join("; ")));
        }
        if let Some(org) = &c.card.organization
            && let Err(p) = (CustomerInput {
                name_en: org.clone(),
                ..CustomerInput::default()
            })
            .checked()
        {
            problems.push(format!("{}: ORG: {}", c.source, p.join("; ")));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

async fn import(
    state: &AppState,
    s: Scopes,
    cards: Vec<ImportCard>,
) -> Result<axum::Json<ImportOutcome>, AppError> {
    check_cards(&cards).map_err(|p| invalid("import", p))?;
    let outcome = state
        .store()
        .import_cards(cards, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    tracing::info!(
        cards = outcome.cards,
        contacts = outcome.contacts_created.len(),
        customers = outcome.customers_created.len(),
        duplicates = outcome.duplicates.len(),
        "business cards imported"
    );
    Ok(axum::Json(outcome))
}

/// `POST /api/v1/import/vcards`: one card or many, all or nothing.
async fn import_vcards(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ImportParams>,
    VcardBody(text): VcardBody,
) -> Result<axum::Json<ImportOutcome>, AppError> {
    let s = scopes(&state, &p).await?;
    let owner = s.owner(q.owner)?;
    let cards = tokio::task::spawn_blocking(move || vcard::parse(&text))
        .await
        .map_err(|e| AppError::internal(format!("vcard parser task failed: {e}")))?
        .map_err(card_errors)?;
    let cards = cards
        .into_iter()
        .enumerate()
        .map(|(i, card)| ImportCard {
            source: format!("vcard card {} (line {})", i + 1, card.line),
            card,
            customer: None,
            owner: owner.clone(),
        })
        .collect();
    import(&state, s, cards).await
}

/// `POST /api/v1/import/contacts`: business cards as CSV rows, all or nothing.
async fn import_contacts(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    CsvBody(body): CsvBody,
) -> Result<axum::Json<ImportOutcome>, AppError> {
    // A CSV saved by Excel on a Chinese Windows is GBK: read by the charset the content type
    // names, as a vCard is (the import page sends the one chosen); UTF-8 when none.
    let body = match charset_of(&content_type(&headers)) {
        Some(charset) if !matches!(charset.to_ascii_lowercase().as_str(), "utf-8" | "utf8") => {
            Bytes::from(decode(&body, Some(&charset))?.into_bytes())
        }
        _ => body,
    };
    let rows = tokio::task::spawn_blocking(move || customers::parse_contacts_csv(&body))
        .await
        .map_err(|e| AppError::internal(format!("csv parser task failed: {e}")))?
        .map_err(|(rows, total)| AppError::invalid_csv(rows, total))?;
    let s = scopes(&state, &p).await?;
    let mut cards = Vec::with_capacity(rows.len());
    let mut problems = Vec::new();
    for row in rows {
        let owner = match s.owner(row.row.owner.clone()) {
            Ok(owner) => owner,
            Err(e) => {
                problems.push(crate::erp::import::RowError::new(
                    row.line, "owner", e.message,
                ));
                continue;
            }
        };
        cards.push(ImportCard {
            source: format!("csv line {}", row.line),
            card: row.row.card,
            customer: row.row.customer,
            owner,
        });
    }
    if !problems.is_empty() {
        let total = problems.len();
        return Err(AppError::invalid_csv(problems, total));
    }
    import(&state, s, cards).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DuplicateParams {
    /// `open` (the default) or `all`.
    status: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DuplicateList {
    pub duplicates: Vec<crate::store::crm::Duplicate>,
}

async fn list_duplicates(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<DuplicateParams>,
) -> Result<axum::Json<DuplicateList>, AppError> {
    let open_only = match q.status.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "status: {:?}; expected open or all",
                protocol::bounds::sanitize(other, 16, false)
            )));
        }
    };
    let s = scopes(&state, &p).await?;
    let duplicates = state.store().duplicates(open_only, s.read).await?;
    Ok(axum::Json(DuplicateList { duplicates }))
}

async fn resolve_duplicate(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(resolution): ApiJson<Resolution>,
) -> Result<axum::Json<crate::store::crm::Duplicate>, AppError> {
    let s = scopes(&state, &p).await?;
    let by = s.login.clone();
    let duplicate = state
        .store()
        .resolve_duplicate(id, resolution, by, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    tracing::info!(id, status = %duplicate.status, "duplicate resolved");
    Ok(axum::Json(duplicate))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityParams {
    pub customer: Option<String>,
    pub contact: Option<i64>,
    pub opportunity: Option<i64>,
    pub kind: Option<String>,
    pub owner: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ActivityList {
    pub activities: Vec<customers::Activity>,
}

pub async fn activity_list(
    state: &AppState,
    p: &Principal,
    q: ActivityParams,
) -> Result<ActivityList, AppError> {
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(ActivityKind::parse(k).ok_or_else(|| {
            AppError::bad_request(format!(
                "kind: {:?}; expected call, visit, email, note or task",
                protocol::bounds::sanitize(k, 16, false)
            ))
        })?),
    };
    let limit = page_limit(q.limit)?;
    let s = scopes(state, p).await?;
    let activities = state
        .store()
        .activities(
            ActivityQuery {
                customer: q.customer,
                contact: q.contact,
                opportunity: q.opportunity,
                kind,
                owner: q.owner,
                open_tasks: false,
                due_by: None,
                limit,
            },
            s.read,
        )
        .await?;
    Ok(ActivityList { activities })
}

async fn list_activities(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ActivityParams>,
) -> Result<axum::Json<ActivityList>, AppError> {
    Ok(axum::Json(activity_list(&state, &p, q).await?))
}

async fn add_activity(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<ActivityInput>,
) -> Result<(StatusCode, axum::Json<customers::Activity>), AppError> {
    let input = body.checked().map_err(|p| invalid("activity", p))?;
    let s = scopes(&state, &p).await?;
    let owner = s.owner(input.owner.clone())?;
    let by = s.login.clone();
    let activity = state
        .store()
        .add_activity(input, owner, by, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, axum::Json(activity)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DoneBody {
    #[serde(default = "yes")]
    done: bool,
}

fn yes() -> bool {
    true
}

async fn activity_done(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DoneBody>,
) -> Result<axum::Json<customers::Activity>, AppError> {
    let s = scopes(&state, &p).await?;
    let activity = state
        .store()
        .set_activity_done(id, body.done, s.write, Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(activity))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskParams {
    /// Whose tasks: the caller's when absent; `all` for everyone the caller sees.
    pub owner: Option<String>,
    /// Only those due on or before this date.
    pub due_by: Option<NaiveDate>,
    pub limit: Option<usize>,
}

/// The open tasks (and planned calls and visits) of the caller, or of someone they see.
pub async fn task_list(
    state: &AppState,
    p: &Principal,
    q: TaskParams,
) -> Result<ActivityList, AppError> {
    let limit = page_limit(q.limit)?;
    let s = scopes(state, p).await?;
    let owner = match q.owner.as_deref() {
        None => Some(s.login.clone()),
        Some("all") => None,
        Some(o) => Some(o.to_owned()),
    };
    let activities = state
        .store()
        .activities(
            ActivityQuery {
                owner,
                open_tasks: true,
                due_by: q.due_by,
                limit,
                ..ActivityQuery::default()
            },
            s.read,
        )
        .await?;
    Ok(ActivityList { activities })
}

async fn list_tasks(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<TaskParams>,
) -> Result<axum::Json<ActivityList>, AppError> {
    Ok(axum::Json(task_list(&state, &p, q).await?))
}

/// Adds this module's paths and schemas to the OpenAPI document.
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let q = |name: &str, kind: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}, "description": description});
    let limit = json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": crate::store::crm::MAX_LIST, "default": 50}});
    let id = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}});
    let code =
        json!({"name": "customer", "in": "path", "required": true, "schema": {"type": "string"}});
    let ok = |schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let import_answer = json!({"200": ok("ImportOutcome"), "400": {"$ref": "#/components/responses/InvalidCsv"}, "401": error, "403": error, "404": error});
    let scope_note = "Scoped: a salesperson sees their own, a sales manager their team's (the users whose manager they are, down the line), crm.all.read everyone's; others answer 404.";
    let paths = json!({
        "/api/v1/customers": {
            "get": {"summary": "customers, searched", "tags": ["crm"], "description": scope_note,
                "parameters": [q("search", "string", "part of the code, a name (Chinese or English), the tax id, region, industry or a tag; case-insensitive"), q("owner", "string", "a salesperson's login"), q("tag", "string", "a tag"), q("after", "string", "the previous page's `next`"), limit],
                "responses": {"200": ok("CustomerList"), "400": error, "401": error, "403": error}},
            "post": {"summary": "a new customer", "tags": ["crm"], "description": "`code` absent: the next free `C000001`. The owner is the caller unless `owner` names someone of their team.",
                "requestBody": body("CustomerInput"),
                "responses": {"201": ok("Customer"), "400": error, "401": error, "403": error, "409": error}}
        },
        "/api/v1/customers/{customer}": {
            "get": {"summary": "a customer", "tags": ["crm"], "parameters": [code], "responses": {"200": ok("Customer"), "401": error, "403": error, "404": error}},
            "put": {"summary": "create or change a customer", "tags": ["crm"], "parameters": [code], "description": "The owner stays unless `owner` is given.", "requestBody": body("CustomerInput"),
                "responses": {"200": ok("Customer"), "400": error, "401": error, "403": error, "404": error}}
        },
        "/api/v1/contacts": {
            "get": {"summary": "contacts, searched", "tags": ["crm"], "description": scope_note,
                "parameters": [q("customer", "string", "a customer's code"), q("search", "string", "part of a name, an e-mail address, a phone number's digits or a handle"), q("after", "integer", "the previous page's `next`"), limit],
                "responses": {"200": ok("ContactList"), "400": error, "401": error, "403": error}},
            "post": {"summary": "a new contact", "tags": ["crm"], "requestBody": body("ContactInput"),
                "responses": {"201": ok("Contact"), "400": error, "401": error, "403": error, "404": error}}
        },
        "/api/v1/contacts/{contact}": {
            "get": {"summary": "a contact", "tags": ["crm"], "parameters": [id("contact")], "responses": {"200": ok("Contact"), "401": error, "403": error, "404": error}},
            "put": {"summary": "change a contact", "tags": ["crm"], "parameters": [id("contact")], "requestBody": body("ContactInput"),
                "responses": {"200": ok("Contact"), "400": error, "401": error, "403": error, "404": error}}
        },
        "/api/v1/contacts/{contact}/vcard": {
            "get": {"summary": "a contact as a vCard 4.0 file", "tags": ["crm"], "parameters": [id("contact")],
                "responses": {"200": {"description": "vCard 4.0 (RFC 6350)", "content": {"text/vcard": {"schema": {"type": "string"}}}}, "401": error, "403": error, "404": error}}
        },
        "/api/v1/contacts/{contact}/merge": {
            "post": {"summary": "merge another contact into this one", "tags": ["crm"], "parameters": [id("contact")],
                "description": "The other's phones, e-mail addresses, handles and tags are added, this one's empty title, department and note filled, its activities moved here; then it is deleted. Both must be the caller's or their team's.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["from"], "properties": {"from": {"type": "integer"}}}}}},
                "responses": {"200": ok("Contact"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/import/vcards": {
            "post": {"summary": "business cards from vCard files (2.1, 3.0, 4.0), all or nothing", "tags": ["crm"],
                "description": "One card or many. Each card becomes a contact; its company (ORG) joins the customer whose name is written the same way (legal forms, width, case and punctuation aside), or becomes a new customer. A card sharing an e-mail address or a phone number with a contact central has (or one made earlier from the same file) is not created: it waits in /api/v1/crm/duplicates to be merged, kept or discarded. Every mistake is named by line and property (`invalid_vcard`, details as for csv imports). The body's charset is the content type's (`text/vcard; charset=gbk`), utf-8 when none; quoted-printable values with CHARSET= are read too.",
                "parameters": [q("owner", "string", "whose the new contacts and customers are: the caller or someone of their team")],
                "requestBody": {"required": true, "content": {"text/vcard": {"schema": {"type": "string"}}}},
                "responses": import_answer}
        },
        "/api/v1/import/contacts": {
            "post": {"summary": "business cards as csv rows, all or nothing", "tags": ["crm"],
                "description": "The body's charset is the content type's (`text/csv; charset=gbk` for a file Excel saved on a Chinese Windows), utf-8 when none. Columns: `name` and any of `company,customer,title,department,email,phone,mobile,fax,wechat,qq,tags,note,owner` (several e-mails, phones or tags separated by `;`). `customer` names a customer by code; else `company` is matched or made as a vCard's ORG. Duplicates as for /api/v1/import/vcards.",
                "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
                "responses": import_answer}
        },
        "/api/v1/crm/duplicates": {
            "get": {"summary": "cards that matched a contact, waiting for a person", "tags": ["crm"],
                "parameters": [q("status", "string", "open (default) or all")],
                "responses": {"200": ok("DuplicateList"), "400": error, "401": error, "403": error}}
        },
        "/api/v1/crm/duplicates/{duplicate}/resolve": {
            "post": {"summary": "merge a waiting card into a contact it matched, keep it as a new contact, or discard it", "tags": ["crm"], "parameters": [id("duplicate")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["action"], "properties": {"action": {"type": "string", "enum": ["merge", "keep", "discard"]}, "into": {"type": "integer", "description": "with merge: one of the matched contacts"}}}}}},
                "responses": {"200": ok("Duplicate"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/activities": {
            "get": {"summary": "calls, visits, e-mails, notes and tasks, newest first", "tags": ["crm"],
                "description": "Scoped: someone sees what they did and what was done with the customers they see. `kind=visit` is the visit log.",
                "parameters": [q("customer", "string", "a customer's code"), q("contact", "integer", "a contact's id"), q("opportunity", "integer", "an opportunity's id"), q("kind", "string", "call, visit, email, note or task"), q("owner", "string", "who did it"), limit],
                "responses": {"200": ok("ActivityList"), "400": error, "401": error, "403": error}},
            "post": {"summary": "record an activity on a customer or contact", "tags": ["crm"],
                "description": "A task needs `due`; anything with `due` is in its owner's task list until done. A contact's customer is filled in.",
                "requestBody": body("ActivityInput"),
                "responses": {"201": ok("Activity"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/activities/{activity}/done": {
            "post": {"summary": "mark a task done (or open again with done: false)", "tags": ["crm"], "parameters": [id("activity")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"done": {"type": "boolean", "default": true}}}}}},
                "responses": {"200": ok("Activity"), "400": error, "401": error, "403": error, "404": error, "409": error}}
        },
        "/api/v1/crm/tasks": {
            "get": {"summary": "open tasks, soonest due first", "tags": ["crm"],
                "parameters": [q("owner", "string", "whose: the caller's when absent, `all` for everyone the caller sees"), q("due_by", "string", "only those due on or before this date (YYYY-MM-DD)"), limit],
                "responses": {"200": ok("ActivityList"), "400": error, "401": error, "403": error}}
        }
    });
    let address = json!({"type": "object", "properties": {"kind": {"type": "string"}, "street": {"type": "string"}, "city": {"type": "string"}, "region": {"type": "string"}, "postcode": {"type": "string"}, "country": {"type": "string"}}});
    let customer_fields = json!({
        "name_zh": {"type": "string"}, "name_en": {"type": "string"}, "industry": {"type": "string"}, "region": {"type": "string"},
        "addresses": {"type": "array", "items": address}, "tax_id": {"type": "string"},
        "currency": {"type": "string", "description": "ISO 4217; CNY when empty"}, "payment_terms": {"type": "string"},
        "credit_limit": {"type": "string", "nullable": true, "description": "in the customer's currency, 2 decimals; null: none checked"},
        "customer_group": {"type": "string", "description": "for group prices"}, "tags": {"type": "array", "items": {"type": "string"}},
        "owner": {"type": "string", "description": "the salesperson's login"}});
    let mut customer = customer_fields.clone();
    if let Some(map) = customer.as_object_mut() {
        map.insert("code".into(), json!({"type": "string"}));
        map.insert(
            "contacts".into(),
            json!({"type": "integer", "description": "how many contacts"}),
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
    let mut customer_input = customer_fields;
    if let Some(map) = customer_input.as_object_mut() {
        map.insert("code".into(), json!({"type": "string", "description": "post: the new code (absent: generated); put: must be the path's"}));
    }
    let phone = json!({"type": "object", "required": ["kind", "number"], "properties": {"kind": {"type": "string", "enum": ["mobile", "work", "home", "fax", "other"]}, "number": {"type": "string"}}});
    let social = json!({"type": "object", "required": ["network", "handle"], "properties": {"network": {"type": "string", "description": "wechat, qq, whatsapp, skype, linkedin, telegram, line, x, ..."}, "handle": {"type": "string"}}});
    let contact_fields = json!({
        "customer": {"type": "string", "nullable": true}, "name": {"type": "string"}, "title": {"type": "string"}, "department": {"type": "string"},
        "phones": {"type": "array", "items": phone}, "emails": {"type": "array", "items": {"type": "string"}},
        "social": {"type": "array", "items": social}, "note": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
        "owner": {"type": "string"}});
    let mut contact = contact_fields.clone();
    if let Some(map) = contact.as_object_mut() {
        map.insert("id".into(), json!({"type": "integer"}));
        map.insert(
            "source".into(),
            json!({"type": "string", "enum": ["manual", "vcard", "csv", "lead"]}),
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
    let kinds = json!({"type": "string", "enum": ["call", "visit", "email", "note", "task"]});
    let activity_fields = json!({"kind": kinds, "subject": {"type": "string"}, "body": {"type": "string"},
        "customer": {"type": "string", "nullable": true}, "contact": {"type": "integer", "nullable": true},
        "opportunity": {"type": "integer", "nullable": true, "description": "the opportunity it is about; its customer is filled in"},
        "at": {"type": "string", "format": "date-time", "description": "when it happened; now when absent"},
        "due": {"type": "string", "format": "date", "nullable": true}, "owner": {"type": "string"}});
    let mut activity = activity_fields.clone();
    if let Some(map) = activity.as_object_mut() {
        map.insert("id".into(), json!({"type": "integer"}));
        map.insert(
            "done_at".into(),
            json!({"type": "string", "format": "date-time", "nullable": true}),
        );
        map.insert("created_by".into(), json!({"type": "string"}));
        map.insert("customer_name".into(), json!({"type": "string"}));
        map.insert("contact_name".into(), json!({"type": "string"}));
    }
    let duplicate = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "contact": {"$ref": "#/components/schemas/ContactInput"}, "source": {"type": "string", "description": "the card: `vcard card 3 (line 27)`, `csv line 4`"},
        "matches": {"type": "array", "items": {"type": "object", "properties": {"contact": {"type": "integer"}, "name": {"type": "string"}, "on": {"type": "string", "enum": ["email", "phone"]}, "value": {"type": "string"}}}},
        "owner": {"type": "string"}, "status": {"type": "string", "enum": ["open", "merged", "kept", "discarded"]},
        "created_at": {"type": "string", "format": "date-time"}, "resolved_by": {"type": "string", "nullable": true},
        "resolved_at": {"type": "string", "format": "date-time", "nullable": true}, "result": {"type": "integer", "nullable": true}}});
    let schemas = json!({
        "Customer": {"type": "object", "properties": customer},
        "CustomerInput": {"type": "object", "properties": customer_input},
        "CustomerList": {"type": "object", "properties": {"customers": {"type": "array", "items": {"$ref": "#/components/schemas/Customer"}}, "next": {"type": "string", "nullable": true}}},
        "Contact": {"type": "object", "properties": contact},
        "ContactInput": {"type": "object", "required": ["name"], "properties": contact_fields},
        "ContactList": {"type": "object", "properties": {"contacts": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}}, "next": {"type": "integer", "nullable": true}}},
        "Activity": {"type": "object", "properties": activity},
        "ActivityInput": {"type": "object", "required": ["kind", "subject"], "properties": activity_fields},
        "ActivityList": {"type": "object", "properties": {"activities": {"type": "array", "items": {"$ref": "#/components/schemas/Activity"}}}},
        "Duplicate": duplicate,
        "DuplicateList": {"type": "object", "properties": {"duplicates": {"type": "array", "items": {"$ref": "#/components/schemas/Duplicate"}}}},
        "ImportOutcome": {"type": "object", "properties": {
            "cards": {"type": "integer"}, "contacts_created": {"type": "array", "items": {"type": "integer"}},
            "customers_created": {"type": "array", "items": {"type": "string"}},
            "customers_matched": {"type": "array", "items": {"type": "object", "properties": {"source": {"type": "string"}, "company": {"type": "string"}, "customer": {"type": "string"}}}},
            "duplicates": {"type": "array", "items": {"$ref": "#/components/schemas/Duplicate"}}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_by_their_charset() {
        assert_eq!(decode("张伟".as_bytes(), None).unwrap(), "张伟");
        let (gbk, _, _) = encoding_rs::GBK.encode("张伟");
        assert_eq!(decode(&gbk, Some("gbk")).unwrap(), "张伟");
        let e = decode(b"BEGIN:VCARD\n\xff\xfe", None).unwrap_err();
        assert!(e.message.contains("near line 2"), "{}", e.message);
        assert!(decode(b"x", Some("klingon")).is_err());
    }
}
