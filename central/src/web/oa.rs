//! OA's pages (issue 17), in Chinese and English, usable on a phone:
//!
//! - `/oa`: what waits on me (each one approved or rejected, or several at once), my own
//!   requests, and the forms to start a new one from;
//! - `/oa/new/{form}`: a new request, its inputs made from the form's definition;
//! - `/oa/requests/{id}`: one request: its values, where it waits, its trail, and what the
//!   caller may do to it (decide, withdraw).
//!
//! Every change goes to the JSON API (`/api/v1/oa/…`), which decides; the page is then read
//! again. A request the caller has no part in is the same 404 as the API's.

use super::crm::{answer, name_of, names};
use super::{Ctx, Shell, T, ctx_shell, ctx_t};
use crate::api::AppState;
use crate::api::error::AppError;
use crate::api::oa::may_see;
use crate::api::policy::{Principal, Routes, SIGNED_IN, needs};
use crate::oa::engine::{RequestState, TrailAction};
use crate::oa::form::{FieldKind, FormDef};
use crate::people::roles::Permission;
use crate::people::users::Language;
use crate::store::oa::{AwayReason, OaQuery, OaRequest, OaRequestSummary, OaView, RosterQuery};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;

/// Rows each list on `/oa` shows.
const ROWS: usize = 100;

pub fn routes() -> Routes {
    Routes::new()
        .get("/oa", SIGNED_IN, home_page)
        .get("/oa/admin", needs(Permission::UsersManage), admin_page)
        .get("/oa/new/{form}", SIGNED_IN, new_page)
        .get("/oa/requests/{request}", SIGNED_IN, request_page)
}

fn form_name(t: &T, f: &FormDef) -> String {
    match t.lang {
        Language::Zh => f.name_zh.clone(),
        Language::En => f.name_en.clone(),
    }
}

fn state_key(s: RequestState) -> &'static str {
    match s {
        RequestState::Pending => "oa_state_pending",
        RequestState::Approved => "oa_state_approved",
        RequestState::Rejected => "oa_state_rejected",
        RequestState::Returned => "oa_state_returned",
        RequestState::Withdrawn => "oa_state_withdrawn",
    }
}

fn action_key(a: TrailAction) -> &'static str {
    match a {
        TrailAction::Submitted => "oa_did_submitted",
        TrailAction::Resubmitted => "oa_did_resubmitted",
        TrailAction::Assigned => "oa_did_assigned",
        TrailAction::Skipped => "oa_did_skipped",
        TrailAction::AutoApproved => "oa_did_auto_approved",
        TrailAction::Approved => "oa_did_approved",
        TrailAction::Rejected => "oa_did_rejected",
        TrailAction::Returned => "oa_did_returned",
        TrailAction::Withdrawn => "oa_did_withdrawn",
        TrailAction::Completed => "oa_did_completed",
        TrailAction::Reminded => "oa_did_reminded",
        TrailAction::Escalated => "oa_did_escalated",
        TrailAction::CarriedOut => "oa_did_carried_out",
    }
}

/// A value as a person reads it: money with its currency, a range with a dash.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.contains_key("amount") => format!(
            "{} {}",
            o.get("amount").and_then(Value::as_str).unwrap_or_default(),
            o.get("currency")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
        Value::Object(o) if o.contains_key("from") => format!(
            "{} – {}",
            o.get("from").and_then(Value::as_str).unwrap_or_default(),
            o.get("to").and_then(Value::as_str).unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

pub struct RequestRow {
    pub id: i64,
    pub href: String,
    pub number: String,
    pub form: String,
    pub requester: String,
    pub state: String,
    pub state_key: &'static str,
    pub step: String,
    pub waiting_on: String,
    pub since: String,
}

fn request_row(
    t: &T,
    forms: &HashMap<String, String>,
    names: &HashMap<String, String>,
    r: OaRequestSummary,
) -> RequestRow {
    RequestRow {
        id: r.id,
        href: format!("/oa/requests/{}", r.id),
        number: r.number,
        form: forms.get(&r.form).cloned().unwrap_or(r.form),
        requester: name_of(names, &r.requester),
        state: r.state.as_str().to_owned(),
        state_key: state_key(r.state),
        step: r.step_name.unwrap_or_default(),
        waiting_on: r
            .waiting_on
            .iter()
            .map(|l| name_of(names, l))
            .collect::<Vec<_>>()
            .join(", "),
        since: r
            .waiting_since
            .map(|at| t.time(&at))
            .unwrap_or_else(|| t.time(&r.updated_at)),
    }
}

#[derive(Template)]
#[template(path = "oa_home.html")]
struct HomePage {
    t: T,
    shell: Shell,
    inbox: Vec<RequestRow>,
    mine: Vec<RequestRow>,
    forms: Vec<(String, String)>,
    unread: u64,
    notifications: Vec<NoteRow>,
    is_admin: bool,
    /// The office's open tasks, for those who do them.
    tasks: Option<Vec<TaskRow>>,
    /// Days away: everyone's in the next 30 days with `roster.read`, else one's own ahead.
    away: Vec<AwayRow>,
}

pub struct TaskRow {
    pub id: i64,
    pub href: String,
    pub request: String,
    pub person: String,
    pub destination: String,
    pub dates: String,
    pub budget: String,
}

pub struct AwayRow {
    pub person: String,
    pub dates: String,
    pub reason: &'static str,
    pub reason_key: &'static str,
    pub note: String,
    pub href: String,
    pub request: String,
}

pub struct NoteRow {
    pub id: i64,
    pub kind: String,
    pub href: String,
    pub text: String,
    pub at: String,
    pub unread: bool,
}

async fn home_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/oa");
    let page = home(&state, &p, &ctx).await;
    answer(&ctx, page)
}

async fn home(
    state: &AppState,
    p: &Principal,
    ctx: &Ctx,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let me = p
        .login()
        .ok_or_else(|| AppError::unauthorized("sign in as a person"))?
        .to_owned();
    let all_forms = state.store().oa_forms().await?;
    let form_names: HashMap<String, String> = all_forms
        .iter()
        .map(|f| (f.key.clone(), form_name(&t, f)))
        .collect();
    let names = names(state).await?;
    let list = |view| OaQuery {
        view,
        state: None,
        form: None,
        limit: ROWS,
    };
    let inbox = state
        .store()
        .oa_requests(list(OaView::Inbox(me.clone())))
        .await?;
    let mine = state
        .store()
        .oa_requests(list(OaView::Mine(me.clone())))
        .await?;
    let tasks = if p.can(Permission::OfficeTasks) {
        let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Some(
            state
                .store()
                .office_tasks(false, ROWS)
                .await?
                .into_iter()
                .map(|task| TaskRow {
                    id: task.id,
                    href: format!("/oa/requests/{}", task.request_id),
                    request: task.request,
                    person: task.display_name,
                    destination: text(&task.details, "destination"),
                    dates: format!(
                        "{} – {}",
                        text(&task.details, "from"),
                        text(&task.details, "to")
                    ),
                    budget: match &task.details["budget"] {
                        Value::Null => String::new(),
                        money => shown(money),
                    },
                })
                .collect(),
        )
    } else {
        None
    };
    let today = chrono::Utc::now().date_naive();
    let everyone = p.can(Permission::RosterRead);
    let ahead = if everyone { 30 } else { 366 };
    let away = state
        .store()
        .roster(RosterQuery {
            login: (!everyone).then(|| me.clone()),
            from: today,
            to: today
                .checked_add_days(chrono::Days::new(ahead))
                .unwrap_or(today),
        })
        .await?
        .into_iter()
        .take(ROWS)
        .map(|b| AwayRow {
            person: b.display_name,
            dates: format!("{} – {}", b.from, b.to),
            reason: b.reason.as_str(),
            reason_key: match b.reason {
                AwayReason::Travel => "oa_reason_travel",
                AwayReason::Leave => "oa_reason_leave",
            },
            note: b.note,
            href: format!("/oa/requests/{}", b.request_id),
            request: b.request,
        })
        .collect();
    let unread = state.store().unread_notifications(me.clone()).await?;
    let notifications = state
        .store()
        .notifications(me, false, 10)
        .await?
        .into_iter()
        .map(|n| NoteRow {
            id: n.id,
            kind: n.kind,
            href: n.link,
            text: n.text,
            at: t.time(&n.created_at),
            unread: n.read_at.is_none(),
        })
        .collect();
    let page = HomePage {
        unread,
        notifications,
        is_admin: p.can(Permission::UsersManage),
        tasks,
        away,
        inbox: inbox
            .into_iter()
            .map(|r| request_row(&t, &form_names, &names, r))
            .collect(),
        mine: mine
            .into_iter()
            .map(|r| request_row(&t, &form_names, &names, r))
            .collect(),
        forms: all_forms
            .iter()
            .map(|f| (format!("/oa/new/{}", f.key), form_name(&t, f)))
            .collect(),
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

pub struct FieldInput {
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub required: bool,
    pub choices: Vec<String>,
}

#[derive(Template)]
#[template(path = "oa_new.html")]
struct NewPage {
    t: T,
    shell: Shell,
    key: String,
    name: String,
    fields: Vec<FieldInput>,
}

fn kind_name(k: FieldKind) -> &'static str {
    match k {
        FieldKind::Text => "text",
        FieldKind::Number => "number",
        FieldKind::Money => "money",
        FieldKind::Date => "date",
        FieldKind::DateRange => "date_range",
        FieldKind::Choice => "choice",
        FieldKind::User => "user",
        FieldKind::Item => "item",
        FieldKind::Customer => "customer",
        FieldKind::Attachment => "attachment",
    }
}

async fn new_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/oa");
    let page = async {
        let t = ctx_t(&ctx);
        let form = state
            .store()
            .oa_forms()
            .await?
            .into_iter()
            .find(|f| f.key == key)
            .ok_or_else(|| {
                AppError::not_found(format!(
                    "no form {:?}",
                    protocol::bounds::sanitize(&key, 64, false)
                ))
            })?;
        let page = NewPage {
            key: form.key.clone(),
            name: form_name(&t, &form),
            fields: form
                .fields
                .iter()
                .map(|f| FieldInput {
                    name: f.name.clone(),
                    label: match t.lang {
                        Language::Zh => f.label_zh.clone(),
                        Language::En => f.label_en.clone(),
                    },
                    kind: kind_name(f.kind),
                    required: f.required,
                    choices: f.choices.clone(),
                })
                .collect(),
            shell: ctx_shell(&ctx),
            t,
        };
        Ok(page.render())
    }
    .await;
    answer(&ctx, page)
}

pub struct TrailRow {
    pub at: String,
    pub action: String,
    pub action_key: &'static str,
    pub by: String,
    pub for_whom: String,
    pub step: String,
    pub comment: String,
}

#[derive(Template)]
#[template(path = "oa_request.html")]
struct RequestPage {
    t: T,
    shell: Shell,
    id: i64,
    number: String,
    form: String,
    requester: String,
    state: String,
    state_key: &'static str,
    step: String,
    waiting_on: String,
    version: u32,
    /// Label, value as read, and a link (an attachment's download) or nothing.
    values: Vec<(String, String, String)>,
    trail: Vec<TrailRow>,
    can_decide: bool,
    can_withdraw: bool,
    api_href: String,
}

async fn request_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/oa");
    let page = request(&state, &p, &id, &ctx).await;
    answer(&ctx, page)
}

async fn request(
    state: &AppState,
    p: &Principal,
    id: &str,
    ctx: &Ctx,
) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let not_found = || {
        AppError::not_found(format!(
            "no request {:?}",
            protocol::bounds::sanitize(id, 32, false)
        ))
    };
    let n: i64 = id.parse().map_err(|_| not_found())?;
    let r: OaRequest = state
        .store()
        .oa_request(n)
        .await?
        .filter(|r| may_see(p, r))
        .ok_or_else(not_found)?;
    let me = p.login().unwrap_or_default();
    let form = state
        .store()
        .oa_forms()
        .await?
        .into_iter()
        .find(|f| f.key == r.form);
    let names = names(state).await?;
    let label = |field: &str| {
        form.as_ref()
            .and_then(|f| f.field(field))
            .map(|f| match t.lang {
                Language::Zh => f.label_zh.clone(),
                Language::En => f.label_en.clone(),
            })
            .unwrap_or_else(|| field.to_owned())
    };
    let page = RequestPage {
        id: r.id,
        number: r.number.clone(),
        form: form
            .as_ref()
            .map(|f| form_name(&t, f))
            .unwrap_or_else(|| r.form.clone()),
        requester: name_of(&names, &r.request.requester),
        state: r.request.state.as_str().to_owned(),
        state_key: state_key(r.request.state),
        step: r.step_name.clone().unwrap_or_default(),
        waiting_on: r
            .waiting_on
            .iter()
            .map(|l| name_of(&names, l))
            .collect::<Vec<_>>()
            .join(", "),
        version: r.workflow_version,
        values: r
            .request
            .values
            .iter()
            .map(|(k, v)| {
                let attachment = form
                    .as_ref()
                    .and_then(|f| f.field(k))
                    .is_some_and(|f| f.kind == FieldKind::Attachment);
                match v.as_str().filter(|_| attachment) {
                    Some(sha) => (
                        label(k),
                        format!(
                            "{} {}…",
                            t.t("oa_attachment_open"),
                            &sha[..sha.len().min(12)]
                        ),
                        format!("/api/v1/oa/attachments/{sha}"),
                    ),
                    None => (label(k), shown(v), String::new()),
                }
            })
            .collect(),
        trail: r
            .request
            .trail
            .iter()
            .rev()
            .map(|e| TrailRow {
                at: t.time(&e.at),
                // The API's name (`carried_out`), so the page and the API say the same.
                action: serde_json::to_value(e.action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                action_key: action_key(e.action),
                by: if e.by == "system" {
                    t.t("oa_system").to_owned()
                } else {
                    name_of(&names, &e.by)
                },
                for_whom: e
                    .for_whom
                    .as_deref()
                    .map(|w| name_of(&names, w))
                    .unwrap_or_default(),
                step: e.step.clone().unwrap_or_default(),
                comment: e.comment.clone(),
            })
            .collect(),
        can_decide: r.request.task_for(me).is_some(),
        can_withdraw: r.request.requester == me
            && matches!(
                r.request.state,
                RequestState::Pending | RequestState::Returned
            ),
        api_href: format!("/api/v1/oa/requests/{}", r.id),
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

pub struct OutboxLine {
    pub channel: &'static str,
    pub to: String,
    pub subject: String,
    pub state: &'static str,
    pub attempts: u32,
    pub at: String,
    pub error: String,
}

pub struct DefinitionRow {
    pub key: String,
    pub name: String,
    pub form_json: String,
    pub workflow_json: String,
    pub version: String,
}

#[derive(Template)]
#[template(path = "oa_admin.html")]
struct AdminPage {
    t: T,
    shell: Shell,
    running: Vec<RequestRow>,
    definitions: Vec<DefinitionRow>,
    outbox: Vec<OutboxLine>,
}

async fn admin_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/oa");
    let page = admin(&state, &ctx).await;
    answer(&ctx, page)
}

async fn admin(state: &AppState, ctx: &Ctx) -> Result<Result<String, askama::Error>, AppError> {
    let t = ctx_t(ctx);
    let forms = state.store().oa_forms().await?;
    let form_names: HashMap<String, String> = forms
        .iter()
        .map(|f| (f.key.clone(), form_name(&t, f)))
        .collect();
    let names = names(state).await?;
    let running = state
        .store()
        .oa_requests(OaQuery {
            view: OaView::All,
            state: Some(RequestState::Pending),
            form: None,
            limit: ROWS,
        })
        .await?
        .into_iter()
        .map(|r| request_row(&t, &form_names, &names, r))
        .collect();
    let mut definitions = Vec::with_capacity(forms.len());
    for f in &forms {
        let workflow = state.store().oa_workflow(f.key.clone()).await?;
        definitions.push(DefinitionRow {
            key: f.key.clone(),
            name: form_name(&t, f),
            form_json: pretty(f),
            workflow_json: workflow
                .as_ref()
                .map(|w| pretty(&w.workflow))
                .unwrap_or_default(),
            version: workflow
                .as_ref()
                .map(|w| format!("v{} · {} · {}", w.version, w.saved_by, t.time(&w.saved_at)))
                .unwrap_or_else(|| t.t("oa_admin_no_workflow").to_owned()),
        });
    }
    let outbox = state
        .store()
        .outbox(20)
        .await?
        .into_iter()
        .map(|o| OutboxLine {
            channel: o.item.channel.as_str(),
            to: if o.item.to.is_empty() {
                "webhook".to_owned()
            } else {
                o.item.to
            },
            subject: o.item.subject,
            state: o.state.as_str(),
            attempts: o.item.attempts,
            at: t.time(&o.done_at.unwrap_or(o.item.created_at)),
            error: o.last_error.unwrap_or_default(),
        })
        .collect();
    let page = AdminPage {
        running,
        definitions,
        outbox,
        shell: ctx_shell(ctx),
        t,
    };
    Ok(page.render())
}

/// A definition as pretty JSON, for the administrator's editors.
fn pretty<S: serde::Serialize>(value: &S) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
