//! The CRM's pages (issue 16): `/crm/customers` (search, owner and tag filters, keyset pages,
//! counts in all and per owner, a new customer), `/crm/customers/{customer}` (one customer: its
//! details, contacts and activities; edit, log an activity, add a follow-up task),
//! `/crm/contacts/{contact}` (phones, e-mail addresses, handles, activities, the vCard, merging into
//! another contact), `/crm/tasks` (open tasks soonest first, overdue marked; a manager's
//! team's too) and `/crm/import` (business cards in as a `.vcf` or CSV file, and the
//! duplicates waiting for a person).
//!
//! Rendered from the reads the API answers with ([`crate::api::crm`]) in the caller's
//! [`crate::crm::scope::SalesScope`]: a record outside it is a 404 page, as a record of
//! another plant is. Every change is the script's, through the JSON API with the CSRF token;
//! the buttons are there only for someone with `crm.write`, and the API decides.

use super::{Ctx, Shell, T, ctx_shell, ctx_t, encode_query, query_value};
use crate::api::AppState;
use crate::api::crm::{ActivityParams, CustomerParams, Scopes, TaskParams};
use crate::api::error::AppError;
use crate::api::policy::{Principal, Routes, needs};
use crate::crm::customers::{Activity, ActivityKind, Contact, Customer};
use crate::crm::scope::SalesScope;
use crate::people::roles::Permission;
use crate::store::crm::{ContactQuery, CustomerQuery};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{NaiveDate, Utc};
use std::collections::HashMap;

/// Customers one page of the list shows.
pub const PAGE_ROWS: usize = 50;
/// Activities a customer's or contact's page shows, newest first.
pub const MAX_ACTIVITIES: usize = 100;
/// Tasks the task list shows, soonest due first.
pub const MAX_TASKS: usize = 200;

pub fn routes() -> Routes {
    use Permission::CrmRead;
    Routes::new()
        .get("/crm/customers", needs(CrmRead), customers_page)
        .get("/crm/customers/{customer}", needs(CrmRead), customer_page)
        .get("/crm/contacts/{contact}", needs(CrmRead), contact_page)
        .get("/crm/tasks", needs(CrmRead), tasks_page)
        .get("/crm/import", needs(CrmRead), import_page)
}

// ---------------------------------------------------------------------------------------------
// What the pages share

#[derive(Template)]
#[template(path = "crm_problem.html")]
struct ProblemPage {
    t: T,
    shell: Shell,
    not_found: bool,
    message: String,
}

/// A page's refusal in the page's language: a record not there for the caller (404, whether
/// unknown or someone else's: one answer for both), a bad query (400), or what went wrong.
fn problem(ctx: &Ctx, error: AppError) -> Response {
    let page = ProblemPage {
        t: ctx_t(ctx),
        shell: ctx_shell(ctx),
        not_found: error.status == StatusCode::NOT_FOUND,
        message: error.message,
    };
    ctx.respond(error.status, page.render())
}

/// The page's answer, or its refusal as a page.
pub(super) fn answer(ctx: &Ctx, page: Result<Result<String, askama::Error>, AppError>) -> Response {
    match page {
        Ok(html) => ctx.respond(StatusCode::OK, html),
        Err(e) => problem(ctx, e),
    }
}

impl T {
    /// The value, or a dash for an empty one: a detail left blank still shows its place.
    pub fn or_dash<S: AsRef<str>>(&self, value: S) -> String {
        let value = value.as_ref();
        if value.trim().is_empty() {
            "–".to_owned()
        } else {
            value.to_owned()
        }
    }
}

/// Today in the page's time zone: what "overdue" is measured by.
pub(super) fn today(t: &T) -> NaiveDate {
    Utc::now().with_timezone(&t.tz).date_naive()
}

/// Logins to names, for showing owners.
pub(super) async fn names(state: &AppState) -> Result<HashMap<String, String>, AppError> {
    Ok(state
        .store()
        .users()
        .await?
        .into_iter()
        .map(|u| (u.login, u.display_name))
        .collect())
}

pub(super) fn name_of(names: &HashMap<String, String>, login: &str) -> String {
    match names.get(login) {
        Some(name) if !name.is_empty() && name != login => format!("{name} ({login})"),
        _ => login.to_owned(),
    }
}

/// Whether the caller sees more than their own records: a manager (a team below them) or
/// head office.
fn sees_others(s: &Scopes) -> bool {
    match &s.read {
        SalesScope::All => true,
        SalesScope::Owners(owners) => owners.len() > 1,
    }
}

pub fn customer_href(code: &str) -> String {
    format!("/crm/customers/{}", encode_query(code))
}

pub fn contact_href(id: i64) -> String {
    format!("/crm/contacts/{id}")
}

/// The catalogue key of an activity's kind.
pub fn kind_key(kind: ActivityKind) -> &'static str {
    match kind {
        ActivityKind::Call => "crm_kind_call",
        ActivityKind::Visit => "crm_kind_visit",
        ActivityKind::Email => "crm_kind_email",
        ActivityKind::Note => "crm_kind_note",
        ActivityKind::Task => "crm_kind_task",
    }
}

/// The catalogue key of a phone's kind.
fn phone_key(kind: &str) -> &'static str {
    match kind {
        "mobile" => "crm_phone_mobile",
        "work" => "crm_phone_work",
        "home" => "crm_phone_home",
        "fax" => "crm_phone_fax",
        _ => "crm_phone_other",
    }
}

/// A `tel:` link of a number as written: its digits and a leading `+`.
fn tel_href(number: &str) -> String {
    let mut out = String::from("tel:");
    for (i, c) in number.trim().chars().enumerate() {
        if c.is_ascii_digit() || (c == '+' && i == 0) {
            out.push(c);
        }
    }
    out
}

/// One activity as the customer's, contact's and task pages list it.
pub struct ActivityRow {
    pub id: i64,
    pub kind: &'static str,
    pub kind_key: &'static str,
    pub subject: String,
    pub body: String,
    pub at: String,
    /// `YYYY-MM-DD`, empty when none.
    pub due: String,
    pub overdue: bool,
    /// When it was done, empty while open.
    pub done: String,
    /// A task (anything with a due date) not done yet: it has a "done" button.
    pub open: bool,
    pub owner: String,
    pub customer: String,
    pub customer_href: String,
    pub contact: String,
    pub contact_href: String,
}

fn activity_row(
    t: &T,
    today: NaiveDate,
    names: &HashMap<String, String>,
    a: Activity,
) -> ActivityRow {
    let open = a.due.is_some() && a.done_at.is_none();
    ActivityRow {
        id: a.id,
        kind: a.kind.as_str(),
        kind_key: kind_key(a.kind),
        at: t.time(&a.at),
        due: a.due.map(|d| d.to_string()).unwrap_or_default(),
        overdue: open && a.due.is_some_and(|d| d < today),
        done: a.done_at.map(|at| t.time(&at)).unwrap_or_default(),
        open,
        owner: name_of(names, &a.owner),
        customer_href: a.customer.as_deref().map(customer_href).unwrap_or_default(),
        customer: a.customer_name.or(a.customer.clone()).unwrap_or_default(),
        contact_href: a.contact.map(contact_href).unwrap_or_default(),
        contact: a.contact_name.unwrap_or_default(),
        subject: a.subject,
        body: a.body,
    }
}

/// A contact to choose in a form.
pub struct Choice {
    pub id: i64,
    pub name: String,
}

// ---------------------------------------------------------------------------------------------
// The customers

pub struct CustomerRow {
    pub code: String,
    pub href: String,
    pub name: String,
    /// The name in the other language, when it has one.
    pub other_name: String,
    pub industry: String,
    pub region: String,
    pub tags: Vec<String>,
    pub contacts: u64,
    pub owner: String,
    pub updated: String,
}

pub struct OwnerCount {
    pub login: String,
    pub name: String,
    pub count: u64,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "crm_customers.html")]
struct CustomersPage {
    t: T,
    shell: Shell,
    rows: Vec<CustomerRow>,
    q: String,
    owner: String,
    tag: String,
    total: u64,
    total_text: String,
    owners: Vec<OwnerCount>,
    all_href: String,
    first_href: Option<String>,
    next_href: Option<String>,
    api_href: String,
    can_write: bool,
    duplicates_waiting: usize,
}

pub(super) fn list_href(path: &str, pairs: &[(&str, String)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode_query(v)))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

fn other_name(c: &Customer, lang: &str) -> String {
    let shown = c.name_in(lang);
    [&c.name_zh, &c.name_en]
        .into_iter()
        .find(|n| !n.is_empty() && n.as_str() != shown)
        .cloned()
        .unwrap_or_default()
}

async fn customers_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/customers");
    let page = customers(&state, &p, &uri, &ctx).await;
    answer(&ctx, page)
}

async fn customers(
    state: &AppState,
    p: &Principal,
    uri: &Uri,
    ctx: &Ctx,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let value = |name: &str| {
        query_value(uri, name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (q, owner, tag, after) = (value("q"), value("owner"), value("tag"), value("after"));
    let some = |v: &String| (!v.is_empty()).then(|| v.clone());
    let list = crate::api::crm::customer_list(
        state,
        p,
        CustomerParams {
            search: some(&q),
            owner: some(&owner),
            tag: some(&tag),
            after: some(&after),
            limit: Some(PAGE_ROWS),
        },
    )
    .await?;
    let s = crate::api::crm::scopes(state, p).await?;
    let counts = state
        .store()
        .customer_counts(
            CustomerQuery {
                search: some(&q),
                tag: some(&tag),
                ..CustomerQuery::default()
            },
            s.read.clone(),
        )
        .await?;
    let names = names(state).await?;
    let lang = t.code();
    let rows = list
        .customers
        .iter()
        .map(|c| CustomerRow {
            code: c.code.clone(),
            href: customer_href(&c.code),
            name: c.name_in(lang).to_owned(),
            other_name: other_name(c, lang),
            industry: c.industry.clone(),
            region: c.region.clone(),
            tags: c.tags.clone(),
            contacts: c.contacts,
            owner: name_of(&names, &c.owner),
            updated: t.time(&c.updated_at),
        })
        .collect();
    let owners = if sees_others(&s) || counts.by_owner.len() > 1 {
        counts
            .by_owner
            .iter()
            .map(|(login, n)| OwnerCount {
                name: name_of(&names, login),
                count: *n,
                href: list_href(
                    "/crm/customers",
                    &[
                        ("q", q.clone()),
                        ("tag", tag.clone()),
                        ("owner", login.clone()),
                    ],
                ),
                current: *login == owner,
                login: login.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let total = if owner.is_empty() {
        counts.total
    } else {
        counts
            .by_owner
            .iter()
            .find(|(o, _)| *o == owner)
            .map_or(0, |(_, n)| *n)
    };
    let filters = [
        ("q", q.clone()),
        ("owner", owner.clone()),
        ("tag", tag.clone()),
    ];
    let next_href = list.next.as_ref().map(|next| {
        let mut pairs = filters.to_vec();
        pairs.push(("after", next.clone()));
        list_href("/crm/customers", &pairs)
    });
    let duplicates_waiting = state.store().duplicates(true, s.read.clone()).await?.len();
    let mut api_pairs = vec![("search", q.clone()), ("owner", owner.clone())];
    api_pairs.push(("tag", tag.clone()));
    api_pairs.push(("after", after.clone()));
    let page = CustomersPage {
        total_text: t.fill("crm_customers_total", "n", total),
        total,
        owners,
        all_href: list_href("/crm/customers", &[("q", q.clone()), ("tag", tag.clone())]),
        first_href: (!after.is_empty()).then(|| list_href("/crm/customers", &filters)),
        next_href,
        api_href: list_href("/api/v1/customers", &api_pairs),
        can_write: p.can(Permission::CrmWrite),
        duplicates_waiting,
        rows,
        q,
        owner,
        tag,
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

// ---------------------------------------------------------------------------------------------
// One customer

pub struct ContactRow {
    pub id: i64,
    pub href: String,
    pub name: String,
    pub title: String,
    pub department: String,
    /// `(kind key, number, tel: link)`.
    pub phones: Vec<(&'static str, String, String)>,
    pub emails: Vec<String>,
    /// `network: handle`.
    pub handles: Vec<String>,
}

fn contact_row(c: &Contact) -> ContactRow {
    ContactRow {
        id: c.id,
        href: contact_href(c.id),
        name: c.name.clone(),
        title: c.title.clone(),
        department: c.department.clone(),
        phones: c
            .phones
            .iter()
            .map(|x| (phone_key(&x.kind), x.number.clone(), tel_href(&x.number)))
            .collect(),
        emails: c.emails.clone(),
        handles: c
            .social
            .iter()
            .map(|x| format!("{}: {}", x.network, x.handle))
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "crm_customer.html")]
struct CustomerPage {
    t: T,
    shell: Shell,
    code: String,
    name: String,
    other_name: String,
    name_zh: String,
    name_en: String,
    industry: String,
    region: String,
    tax_id: String,
    currency: String,
    payment_terms: String,
    credit_limit: String,
    customer_group: String,
    tags: Vec<String>,
    addresses: Vec<String>,
    owner: String,
    created: String,
    updated: String,
    /// The customer as `PUT /api/v1/customers/{customer}` takes it, for the edit form.
    input_json: String,
    contacts: Vec<ContactRow>,
    activities: Vec<ActivityRow>,
    can_write: bool,
    // The activity form: on this customer, optionally one of its contacts.
    form_customer: String,
    form_contact: Option<i64>,
    form_contacts: Vec<Choice>,
    api_href: String,
}

async fn customer_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/customers");
    let page = customer(&state, &p, &code, &ctx).await;
    answer(&ctx, page)
}

async fn customer(
    state: &AppState,
    p: &Principal,
    code: &str,
    ctx: &Ctx,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let s = crate::api::crm::scopes(state, p).await?;
    let c = state
        .store()
        .customer(code.to_owned(), s.read.clone())
        .await?
        .ok_or_else(|| {
            AppError::not_found(format!(
                "no customer {:?}",
                protocol::bounds::sanitize(code, 64, false)
            ))
        })?;
    let contacts = state
        .store()
        .contacts(
            ContactQuery {
                customer: Some(c.code.clone()),
                limit: crate::store::crm::MAX_LIST,
                ..ContactQuery::default()
            },
            s.read.clone(),
        )
        .await?;
    let activities = crate::api::crm::activity_list(
        state,
        p,
        ActivityParams {
            customer: Some(c.code.clone()),
            limit: Some(MAX_ACTIVITIES),
            ..ActivityParams::default()
        },
    )
    .await?
    .activities;
    let names = names(state).await?;
    let today = today(&t);
    let input = serde_json::json!({
        "name_zh": c.name_zh, "name_en": c.name_en, "industry": c.industry, "region": c.region,
        "addresses": c.addresses, "tax_id": c.tax_id, "currency": c.currency,
        "payment_terms": c.payment_terms, "credit_limit": c.credit_limit,
        "customer_group": c.customer_group, "tags": c.tags,
    });
    let lang = t.code();
    let page = CustomerPage {
        name: c.name_in(lang).to_owned(),
        other_name: other_name(&c, lang),
        code: c.code.clone(),
        name_zh: c.name_zh.clone(),
        name_en: c.name_en.clone(),
        industry: c.industry.clone(),
        region: c.region.clone(),
        tax_id: c.tax_id.clone(),
        currency: c.currency.clone(),
        payment_terms: c.payment_terms.clone(),
        credit_limit: c.credit_limit.map_or_else(
            || t.t("crm_no_limit").to_owned(),
            |d| format!("{} {}", d.normalize(), c.currency),
        ),
        customer_group: c.customer_group.clone(),
        tags: c.tags.clone(),
        addresses: c
            .addresses
            .iter()
            .map(|a| {
                let place = [&a.street, &a.city, &a.region, &a.postcode, &a.country]
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if a.kind.is_empty() {
                    place
                } else {
                    format!("{}: {place}", a.kind)
                }
            })
            .collect(),
        owner: name_of(&names, &c.owner),
        created: t.time(&c.created_at),
        updated: t.time(&c.updated_at),
        input_json: input.to_string(),
        form_contacts: contacts
            .iter()
            .map(|k| Choice {
                id: k.id,
                name: k.name.clone(),
            })
            .collect(),
        contacts: contacts.iter().map(contact_row).collect(),
        activities: activities
            .into_iter()
            .map(|a| activity_row(&t, today, &names, a))
            .collect(),
        can_write: p.can(Permission::CrmWrite),
        form_customer: c.code.clone(),
        form_contact: None,
        api_href: format!("/api/v1/customers/{}", encode_query(&c.code)),
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

// ---------------------------------------------------------------------------------------------
// One contact

#[derive(Template)]
#[template(path = "crm_contact.html")]
struct ContactPage {
    t: T,
    shell: Shell,
    contact: ContactRow,
    customer_name: String,
    customer_href: String,
    note: String,
    tags: Vec<String>,
    owner: String,
    source_key: &'static str,
    created: String,
    updated: String,
    activities: Vec<ActivityRow>,
    can_write: bool,
    vcard_href: String,
    /// The other contacts of its customer, to merge this one into.
    merge_choices: Vec<Choice>,
    form_customer: String,
    form_contact: Option<i64>,
    form_contacts: Vec<Choice>,
}

async fn contact_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/customers");
    let page = contact(&state, &p, &id, &ctx).await;
    answer(&ctx, page)
}

async fn contact(
    state: &AppState,
    p: &Principal,
    id: &str,
    ctx: &Ctx,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let missing = || {
        AppError::not_found(format!(
            "no contact {:?}",
            protocol::bounds::sanitize(id, 32, false)
        ))
    };
    let id: i64 = id.parse().map_err(|_| missing())?;
    let s = crate::api::crm::scopes(state, p).await?;
    let k = state
        .store()
        .contact(id, s.read.clone())
        .await?
        .ok_or_else(missing)?;
    let customer = match &k.customer {
        Some(code) => state.store().customer(code.clone(), s.read.clone()).await?,
        None => None,
    };
    let others = match &k.customer {
        Some(code) => state
            .store()
            .contacts(
                ContactQuery {
                    customer: Some(code.clone()),
                    limit: crate::store::crm::MAX_LIST,
                    ..ContactQuery::default()
                },
                s.write.clone(),
            )
            .await?
            .into_iter()
            .filter(|o| o.id != id)
            .map(|o| Choice {
                id: o.id,
                name: o.name,
            })
            .collect(),
        None => Vec::new(),
    };
    let activities = crate::api::crm::activity_list(
        state,
        p,
        ActivityParams {
            contact: Some(id),
            limit: Some(MAX_ACTIVITIES),
            ..ActivityParams::default()
        },
    )
    .await?
    .activities;
    let names = names(state).await?;
    let today = today(&t);
    let lang = t.code();
    let page = ContactPage {
        contact: contact_row(&k),
        customer_name: customer
            .as_ref()
            .map(|c| c.name_in(lang).to_owned())
            .or(k.customer.clone())
            .unwrap_or_default(),
        customer_href: customer
            .as_ref()
            .map(|c| customer_href(&c.code))
            .unwrap_or_default(),
        note: k.note.clone(),
        tags: k.tags.clone(),
        owner: name_of(&names, &k.owner),
        source_key: match k.source.as_str() {
            "vcard" => "crm_source_vcard",
            "csv" => "crm_source_csv",
            _ => "crm_source_manual",
        },
        created: t.time(&k.created_at),
        updated: t.time(&k.updated_at),
        activities: activities
            .into_iter()
            .map(|a| activity_row(&t, today, &names, a))
            .collect(),
        can_write: p.can(Permission::CrmWrite),
        vcard_href: format!("/api/v1/contacts/{id}/vcard"),
        merge_choices: others,
        form_customer: customer.map(|c| c.code).unwrap_or_default(),
        form_contact: Some(id),
        form_contacts: Vec::new(),
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

// ---------------------------------------------------------------------------------------------
// The task list

#[derive(Template)]
#[template(path = "crm_tasks.html")]
struct TasksPage {
    t: T,
    shell: Shell,
    rows: Vec<ActivityRow>,
    team: bool,
    can_team: bool,
    overdue: usize,
    summary: String,
    can_write: bool,
    api_href: String,
}

async fn tasks_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/tasks");
    let page = tasks(&state, &p, &uri, &ctx).await;
    answer(&ctx, page)
}

async fn tasks(
    state: &AppState,
    p: &Principal,
    uri: &Uri,
    ctx: &Ctx,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let s = crate::api::crm::scopes(state, p).await?;
    let can_team = sees_others(&s);
    let team = can_team && query_value(uri, "owner").as_deref() == Some("all");
    let list = crate::api::crm::task_list(
        state,
        p,
        TaskParams {
            owner: team.then(|| "all".to_owned()),
            due_by: None,
            limit: Some(MAX_TASKS),
        },
    )
    .await?;
    let names = names(state).await?;
    let today = today(&t);
    let rows: Vec<ActivityRow> = list
        .activities
        .into_iter()
        .map(|a| activity_row(&t, today, &names, a))
        .collect();
    let overdue = rows.iter().filter(|r| r.overdue).count();
    let page = TasksPage {
        summary: t
            .t("crm_tasks_summary")
            .replace("{n}", &rows.len().to_string())
            .replace("{overdue}", &overdue.to_string()),
        overdue,
        rows,
        team,
        can_team,
        can_write: p.can(Permission::CrmWrite),
        api_href: if team {
            "/api/v1/crm/tasks?owner=all".to_owned()
        } else {
            "/api/v1/crm/tasks".to_owned()
        },
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

// ---------------------------------------------------------------------------------------------
// Business cards in, and the duplicates waiting

pub struct MatchRow {
    pub contact: i64,
    pub href: String,
    pub name: String,
    /// `crm_on_email` or `crm_on_phone`.
    pub on_key: &'static str,
    pub value: String,
}

pub struct DuplicateRow {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub source: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub matches: Vec<MatchRow>,
    pub owner: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "crm_import.html")]
struct ImportPage {
    t: T,
    shell: Shell,
    can_write: bool,
    duplicates: Vec<DuplicateRow>,
}

async fn import_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/customers");
    let page = import(&state, &p, &ctx).await;
    answer(&ctx, page)
}

async fn import(
    state: &AppState,
    p: &Principal,
    ctx: &Ctx,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let s = crate::api::crm::scopes(state, p).await?;
    let names = names(state).await?;
    let duplicates = state
        .store()
        .duplicates(true, s.read.clone())
        .await?
        .into_iter()
        .map(|d| DuplicateRow {
            id: d.id,
            name: d.contact.name.clone(),
            title: d.contact.title.clone(),
            source: d.source.clone(),
            phones: d.contact.phones.iter().map(|x| x.number.clone()).collect(),
            emails: d.contact.emails.clone(),
            matches: d
                .matches
                .iter()
                .map(|m| MatchRow {
                    contact: m.contact,
                    href: contact_href(m.contact),
                    name: m.name.clone(),
                    on_key: if m.on == "email" {
                        "crm_on_email"
                    } else {
                        "crm_on_phone"
                    },
                    value: m.value.clone(),
                })
                .collect(),
            owner: name_of(&names, &d.owner),
            created: t.time(&d.created_at),
        })
        .collect();
    let page = ImportPage {
        can_write: p.can(Permission::CrmWrite),
        duplicates,
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_links_keep_digits_and_a_leading_plus() {
        assert_eq!(tel_href("+86 138-0013 8000"), "tel:+8613800138000");
        assert_eq!(tel_href("(0755) 8888+1234"), "tel:075588881234");
    }

    #[test]
    fn list_links_leave_out_empty_filters_and_encode_the_rest() {
        assert_eq!(
            list_href("/crm/customers", &[("q", String::new())]),
            "/crm/customers"
        );
        assert_eq!(
            list_href(
                "/crm/customers",
                &[("q", "华强 co".into()), ("after", "C/1".into())]
            ),
            "/crm/customers?q=%E5%8D%8E%E5%BC%BA%20co&after=C%2F1"
        );
    }
}
