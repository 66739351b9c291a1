//! OA's forms, workflows, requests and delegations (issue 17).
//!
//! Who may use what:
//! - every signed-in person reads the forms and workflows, submits requests, lists their own
//!   and their inbox, decides what waits on them (or on someone they act for), withdraws and
//!   resubmits their own, and says who acts for them while they are away;
//! - a request is seen by its requester, by whoever it waits on or waited on (its trail names
//!   them), and by those who manage users;
//! - `users.manage` (administrators) changes forms and workflows and lists every request.
//! - an approved trip or leave blocks the person's days in the roster; everyone reads their own
//!   blocks at `/api/v1/roster`, `roster.read` everyone's; an approved trip is also a booking
//!   task for the administration office (`office.tasks`: `/api/v1/oa/tasks`, marked done with
//!   the booking's reference, which is told to the traveller);
//! - every signed-in person reads and marks their own notifications
//!   (`/api/v1/notifications`); `users.manage` sees the mail and webhook outbox
//!   (`/api/v1/notifications/outbox`).
//!
//! What a request may be refused for (409 with the engine's code): `self_approval`,
//! `not_assigned`, `not_waiting`, `not_requester`, `not_returned`, `comment_required`,
//! `no_approver`, `no_workflow`. A form or workflow that does not check is 422 with every
//! problem named.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::policy::{Principal, Routes, SIGNED_IN, needs};
use crate::oa::engine::{Decision, RequestState};
use crate::oa::form::FormDef;
use crate::oa::workflow::WorkflowDef;
use crate::people::roles::Permission;
use crate::store::notify::{MAX_NOTIFICATIONS, Notification};
use crate::store::oa::{
    Attachment, Delegation, MAX_LIST, MAX_ROSTER_DAYS, MAX_TASK_NOTE, OaAction, OaQuery, OaRefusal,
    OaRequest, OaRequestSummary, OaView, OfficeTask, RosterBlock, RosterQuery, VersionedWorkflow,
};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub fn routes() -> Routes {
    use Permission::UsersManage;
    Routes::new()
        .get("/api/v1/oa/forms", SIGNED_IN, list_forms)
        .put("/api/v1/oa/forms/{form}", needs(UsersManage), put_form)
        .get("/api/v1/oa/workflows/{form}", SIGNED_IN, get_workflow)
        .put(
            "/api/v1/oa/workflows/{form}",
            needs(UsersManage),
            put_workflow,
        )
        .get("/api/v1/oa/requests", SIGNED_IN, list_requests)
        .post("/api/v1/oa/requests", SIGNED_IN, submit)
        .get("/api/v1/oa/requests/{request}", SIGNED_IN, get_request)
        .post("/api/v1/oa/requests/{request}/{action}", SIGNED_IN, act)
        .get("/api/v1/oa/delegations", SIGNED_IN, list_delegations)
        .post("/api/v1/oa/delegations", SIGNED_IN, delegate)
        .post("/api/v1/oa/attachments", SIGNED_IN, upload)
        .get("/api/v1/oa/attachments/{sha256}", SIGNED_IN, download)
        .get("/api/v1/notifications", SIGNED_IN, list_notifications)
        .post("/api/v1/notifications/read", SIGNED_IN, read_notifications)
        .get(
            "/api/v1/notifications/outbox",
            needs(UsersManage),
            list_outbox,
        )
        .get(
            "/api/v1/oa/tasks",
            needs(Permission::OfficeTasks),
            list_tasks,
        )
        .post(
            "/api/v1/oa/tasks/{task}/done",
            needs(Permission::OfficeTasks),
            finish_task,
        )
        .get("/api/v1/roster", SIGNED_IN, roster)
}

fn refused(r: OaRefusal) -> AppError {
    let clean = |s: &str| protocol::bounds::sanitize_text(s);
    match r {
        OaRefusal::NotFound(what) => AppError::not_found(clean(&what)),
        OaRefusal::Invalid(problems) => AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            problems
                .iter()
                .map(|p| clean(p))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        OaRefusal::Refused { code, message } => {
            AppError::new(StatusCode::CONFLICT, code, clean(&message))
        }
    }
}

fn login(p: &Principal) -> Result<String, AppError> {
    p.login()
        .map(str::to_owned)
        .ok_or_else(|| AppError::unauthorized("sign in as a person to use requests"))
}

/// Who saved a form or workflow: the person, or `admin` for the administrator's token.
fn author(p: &Principal) -> String {
    p.login().unwrap_or("admin").to_owned()
}

#[derive(Serialize)]
struct Forms {
    forms: Vec<FormDef>,
}

async fn list_forms(State(state): State<AppState>) -> Result<axum::Json<Forms>, AppError> {
    Ok(axum::Json(Forms {
        forms: state.store().oa_forms().await?,
    }))
}

async fn put_form(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(key): ApiPath<String>,
    ApiJson(form): ApiJson<FormDef>,
) -> Result<axum::Json<FormDef>, AppError> {
    if form.key != key {
        return Err(AppError::bad_request(format!(
            "key {:?} is not the form of the path, {key:?}",
            form.key
        )));
    }
    let stored = state
        .store()
        .put_oa_form(form, author(&p), Utc::now())
        .await?
        .map_err(refused)?;
    Ok(axum::Json(stored))
}

async fn get_workflow(
    State(state): State<AppState>,
    ApiPath(form): ApiPath<String>,
) -> Result<axum::Json<VersionedWorkflow>, AppError> {
    state
        .store()
        .oa_workflow(form.clone())
        .await?
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("the form {form:?} has no workflow")))
}

async fn put_workflow(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(form): ApiPath<String>,
    ApiJson(workflow): ApiJson<WorkflowDef>,
) -> Result<(StatusCode, axum::Json<VersionedWorkflow>), AppError> {
    if workflow.form != form {
        return Err(AppError::bad_request(format!(
            "form {:?} is not the form of the path, {form:?}",
            workflow.form
        )));
    }
    let saved = state
        .store()
        .put_oa_workflow(workflow, author(&p), Utc::now())
        .await?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, axum::Json(saved)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    form: String,
    values: Map<String, Value>,
}

async fn submit(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<NewRequest>,
) -> Result<(StatusCode, axum::Json<OaRequest>), AppError> {
    let request = state
        .store()
        .submit_oa_request(body.form, body.values, login(&p)?, Utc::now())
        .await?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, axum::Json(request)))
}

/// Whether `p` may see the request: its requester, whoever it waits or waited on, or someone
/// who manages users.
pub(crate) fn may_see(p: &Principal, r: &OaRequest) -> bool {
    let Some(me) = p.login() else {
        return false;
    };
    let is = |who: &str| who.eq_ignore_ascii_case(me);
    p.can(Permission::UsersManage)
        || is(&r.request.requester)
        || r.waiting_on.iter().any(|w| is(w))
        || r.request
            .trail
            .iter()
            .any(|t| is(&t.by) || t.for_whom.as_deref().is_some_and(is))
}

async fn get_request(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<OaRequest>, AppError> {
    let not_found = || AppError::not_found(format!("no request {id}"));
    let r = state.store().oa_request(id).await?.ok_or_else(not_found)?;
    if !may_see(&p, &r) {
        return Err(not_found());
    }
    Ok(axum::Json(r))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    view: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    form: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Serialize)]
struct RequestList {
    requests: Vec<OaRequestSummary>,
}

async fn list_requests(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<RequestList>, AppError> {
    let view = match q.view.as_deref().unwrap_or("mine") {
        "mine" => OaView::Mine(login(&p)?),
        "inbox" => OaView::Inbox(login(&p)?),
        "all" if p.can(Permission::UsersManage) => OaView::All,
        "all" => {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "every request is for those who manage users (users.manage); ask for view=mine or view=inbox",
            ));
        }
        other => {
            return Err(AppError::bad_request(format!(
                "view {other:?}: expected mine, inbox or all"
            )));
        }
    };
    let state_filter = q
        .state
        .as_deref()
        .map(|s| {
            RequestState::parse(s).ok_or_else(|| {
                AppError::bad_request(format!(
                    "state {s:?}: expected pending, approved, rejected, returned or withdrawn"
                ))
            })
        })
        .transpose()?;
    let requests = state
        .store()
        .oa_requests(OaQuery {
            view,
            state: state_filter,
            form: q.form,
            limit: q.limit.unwrap_or(100).clamp(1, MAX_LIST),
        })
        .await?;
    Ok(axum::Json(RequestList { requests }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActBody {
    #[serde(default)]
    comment: String,
    /// For `resubmit`: the changed form.
    #[serde(default)]
    values: Option<Map<String, Value>>,
}

async fn act(
    State(state): State<AppState>,
    p: Principal,
    ApiPath((id, action)): ApiPath<(i64, String)>,
    ApiJson(body): ApiJson<ActBody>,
) -> Result<axum::Json<OaRequest>, AppError> {
    let me = login(&p)?;
    let decide = |decision| OaAction::Decide {
        decision,
        comment: body.comment.clone(),
    };
    let action = match action.as_str() {
        "approve" => decide(Decision::Approve),
        "reject" => decide(Decision::Reject),
        "return" => decide(Decision::Return),
        "withdraw" => OaAction::Withdraw {
            comment: body.comment.clone(),
        },
        "resubmit" => OaAction::Resubmit {
            values: body
                .values
                .clone()
                .ok_or_else(|| AppError::bad_request("values: the changed form is needed"))?,
            comment: body.comment.clone(),
        },
        other => {
            return Err(AppError::not_found(format!(
                "no action {other:?}; expected approve, reject, return, withdraw or resubmit"
            )));
        }
    };
    // What the caller may not see does not exist for them.
    let current = state.store().oa_request(id).await?;
    if current.as_ref().is_none_or(|r| !may_see(&p, r)) {
        return Err(AppError::not_found(format!("no request {id}")));
    }
    let changed = state
        .store()
        .act_on_oa_request(id, me, action, Utc::now())
        .await?
        .map_err(refused)?;
    // A released work order's plan went out with the approval: its edge's long poll wakes.
    for plan in &changed.plans {
        state.notify_plan(&plan.edge_id, plan.version);
    }
    Ok(axum::Json(changed.value))
}

#[derive(Serialize)]
struct Delegations {
    delegations: Vec<Delegation>,
}

async fn list_delegations(
    State(state): State<AppState>,
    p: Principal,
) -> Result<axum::Json<Delegations>, AppError> {
    Ok(axum::Json(Delegations {
        delegations: state.store().oa_delegations(login(&p)?).await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelegationBody {
    delegate: String,
    from: NaiveDate,
    to: NaiveDate,
}

async fn delegate(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<DelegationBody>,
) -> Result<(StatusCode, axum::Json<Delegation>), AppError> {
    let d = state
        .store()
        .put_oa_delegation(login(&p)?, body.delegate, body.from, body.to, Utc::now())
        .await?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, axum::Json(d)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    name: String,
}

/// `POST /api/v1/oa/attachments?name=receipt.pdf` with the file as the body: checked by its
/// bytes (PDF, PNG, JPEG, .docx, .xlsx; at most 10 MiB), kept once by its SHA-256, which a
/// form's attachment field then holds.
async fn upload(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<UploadQuery>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, axum::Json<Attachment>), AppError> {
    let me = login(&p)?;
    let checked = crate::oa::attachment::check(&q.name, &body).map_err(|why| {
        if body.len() > crate::oa::attachment::MAX_BYTES {
            AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", why)
        } else {
            AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", why)
        }
    })?;
    let kept = state
        .store()
        .put_oa_attachment(
            Attachment {
                sha256: checked.sha256,
                name: checked.name,
                content_type: checked.content_type.to_owned(),
                size: body.len() as u64,
                uploaded_by: me,
                uploaded_at: Utc::now(),
            },
            body.to_vec(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(kept)))
}

/// `filename*=UTF-8''…` of RFC 6266 / 5987: every byte but unreserved ones percent-encoded.
fn disposition(name: &str) -> String {
    let mut out = String::from("attachment; filename*=UTF-8''");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /api/v1/oa/attachments/{sha256}`: the file, for whoever uploaded it, whoever may see
/// a request that names it, and users.manage; others get 404, as for a file that is not kept.
async fn download(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(sha256): ApiPath<String>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let me = login(&p)?;
    let sha256 = sha256.to_ascii_lowercase();
    let not_found = || {
        AppError::not_found(format!(
            "no attachment {}",
            protocol::bounds::sanitize(&sha256, 64, false)
        ))
    };
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let (attachment, bytes) = state
        .store()
        .oa_attachment(sha256.clone())
        .await?
        .ok_or_else(not_found)?;
    let mut allowed =
        p.can(Permission::UsersManage) || attachment.uploaded_by.eq_ignore_ascii_case(&me);
    if !allowed {
        for id in state.store().oa_attachment_requests(sha256.clone()).await? {
            if let Some(r) = state.store().oa_request(id).await?
                && may_see(&p, &r)
            {
                allowed = true;
                break;
            }
        }
    }
    if !allowed {
        return Err(not_found());
    }
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                attachment.content_type.clone(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                disposition(&attachment.name),
            ),
            (
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                "nosniff".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationQuery {
    #[serde(default)]
    unread: bool,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Notifications {
    unread: u64,
    notifications: Vec<Notification>,
}

async fn list_notifications(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<NotificationQuery>,
) -> Result<axum::Json<Notifications>, AppError> {
    let me = login(&p)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_NOTIFICATIONS).contains(&limit) {
        return Err(AppError::bad_request(format!(
            "limit {limit}; expected 1 to {MAX_NOTIFICATIONS}"
        )));
    }
    Ok(axum::Json(Notifications {
        unread: state.store().unread_notifications(me.clone()).await?,
        notifications: state.store().notifications(me, q.unread, limit).await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadBody {
    /// These notifications; absent: all of mine.
    #[serde(default)]
    ids: Option<Vec<i64>>,
}

async fn read_notifications(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<ReadBody>,
) -> Result<axum::Json<Value>, AppError> {
    if body
        .ids
        .as_ref()
        .is_some_and(|ids| ids.len() > MAX_NOTIFICATIONS)
    {
        return Err(AppError::bad_request(format!(
            "ids: at most {MAX_NOTIFICATIONS} at once"
        )));
    }
    let n = state
        .store()
        .read_notifications(login(&p)?, body.ids, Utc::now())
        .await?;
    Ok(axum::Json(serde_json::json!({"read": n})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    limit: Option<usize>,
}

async fn list_outbox(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> Result<axum::Json<Value>, AppError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::bad_request(format!(
            "limit {limit}; expected 1 to 1000"
        )));
    }
    let rows = state.store().outbox(limit).await?;
    Ok(axum::Json(serde_json::json!({"outbox": rows})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskQuery {
    /// `true`: the tasks done (newest first); by default the open ones (oldest first).
    #[serde(default)]
    done: bool,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Tasks {
    tasks: Vec<OfficeTask>,
}

/// `GET /api/v1/oa/tasks`: the administration office's tasks.
async fn list_tasks(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> Result<axum::Json<Tasks>, AppError> {
    let tasks = state
        .store()
        .office_tasks(q.done, q.limit.unwrap_or(100).clamp(1, MAX_LIST))
        .await?;
    Ok(axum::Json(Tasks { tasks }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DoneBody {
    /// What was booked (a reference the traveller can use), at most 500 characters.
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/oa/tasks/{task}/done`: the trip is booked; the traveller is told the note.
async fn finish_task(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DoneBody>,
) -> Result<axum::Json<OfficeTask>, AppError> {
    if body.note.chars().count() > MAX_TASK_NOTE {
        return Err(AppError::bad_request(format!(
            "the note is {} characters long; at most {MAX_TASK_NOTE}",
            body.note.chars().count()
        )));
    }
    let task = state
        .store()
        .finish_office_task(
            id,
            author(&p),
            protocol::bounds::sanitize_text(&body.note),
            Utc::now(),
        )
        .await?
        .map_err(refused)?;
    Ok(axum::Json(task))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterParams {
    /// First day (by default today).
    from: Option<NaiveDate>,
    /// Last day, inclusive (by default 30 days after `from`); at most 366 days after `from`.
    to: Option<NaiveDate>,
    /// One person; without `roster.read`, only oneself.
    login: Option<String>,
}

#[derive(Serialize)]
struct Roster {
    from: NaiveDate,
    to: NaiveDate,
    blocks: Vec<RosterBlock>,
}

/// `GET /api/v1/roster`: who is away on which days, from approved trips and leave.
async fn roster(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<RosterParams>,
) -> Result<axum::Json<Roster>, AppError> {
    let from = q.from.unwrap_or_else(|| Utc::now().date_naive());
    let to =
        q.to.unwrap_or_else(|| from.checked_add_days(chrono::Days::new(30)).unwrap_or(from));
    if to < from {
        return Err(AppError::bad_request(format!(
            "to {to} is before from {from}"
        )));
    }
    if (to - from).num_days() > MAX_ROSTER_DAYS {
        return Err(AppError::bad_request(format!(
            "{from} to {to} spans more than {MAX_ROSTER_DAYS} days; ask for a shorter range"
        )));
    }
    let login = if p.can(Permission::RosterRead) {
        q.login
    } else {
        let me = login(&p)?;
        match q.login {
            Some(other) if !other.eq_ignore_ascii_case(&me) => {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "another person's days are for roster.read; leave out login to see your own",
                ));
            }
            _ => Some(me),
        }
    };
    let blocks = state
        .store()
        .roster(RosterQuery { login, from, to })
        .await?;
    Ok(axum::Json(Roster { from, to, blocks }))
}

/// OA's routes and schemas in the OpenAPI document.
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let ok = |schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let text = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    let id =
        json!({"name": "request", "in": "path", "required": true, "schema": {"type": "integer"}});
    let q = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description});
    let paths = json!({
        "/api/v1/oa/forms": {"get": {"summary": "every form (document type) with its fields", "tags": ["oa"],
            "responses": {"200": {"description": "{forms: [Form...]}"}, "401": error}}},
        "/api/v1/oa/forms/{form}": {"put": {"summary": "create or change a form", "tags": ["oa"], "parameters": [text("form")],
            "description": "Checked: keys and field names a-z, 0-9 and _, labels in both languages, choices for a choice field, min ≤ max; a form its workflow names fields of keeps them (422 names every problem).",
            "requestBody": body("Form"), "responses": {"200": ok("Form"), "400": error, "401": error, "403": error, "422": error}}},
        "/api/v1/oa/workflows/{form}": {
            "get": {"summary": "the workflow in force for a form (its latest version)", "tags": ["oa"], "parameters": [text("form")],
                "responses": {"200": ok("Workflow"), "401": error, "404": error}},
            "put": {"summary": "save the next version of a form's workflow", "tags": ["oa"], "parameters": [text("form")],
                "description": "Checked against the form and the people there are now: a step nobody can approve (a role nobody active holds, an inactive user, a user field that may be empty, a quorum larger than its approvers) is refused with each step named (422). Running requests keep the version they started with.",
                "requestBody": body("Workflow"), "responses": {"201": ok("Workflow"), "400": error, "401": error, "403": error, "404": error, "422": error}}},
        "/api/v1/oa/requests": {
            "get": {"summary": "requests, newest first", "tags": ["oa"],
                "parameters": [q("view", "mine (default), inbox (waiting on me or on someone I act for), all (users.manage)"),
                    q("state", "pending, approved, rejected, returned or withdrawn"), q("form", "a form's key"),
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST, "default": 100}}],
                "responses": {"200": {"description": "{requests: [{id, number, form, requester, state, step_name?, waiting_on, waiting_since?, created_at, updated_at}]}"}, "400": error, "401": error, "403": error}},
            "post": {"summary": "submit a request", "tags": ["oa"],
                "description": "The form is checked (422 names every bad field), then the workflow runs: steps whose condition fails are skipped, a rule may approve a step without asking (the trail names it), and the first step that needs someone is assigned. 409 no_workflow, no_approver.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["form", "values"], "properties": {"form": {"type": "string"}, "values": {"type": "object"}}}}}},
                "responses": {"201": ok("Request"), "400": error, "401": error, "404": error, "409": error, "422": error}}},
        "/api/v1/oa/requests/{request}": {"get": {"summary": "a request with its trail", "tags": ["oa"], "parameters": [id],
            "description": "Seen by its requester, whoever it waits or waited on, and users.manage; others answer 404.",
            "responses": {"200": ok("Request"), "401": error, "404": error}}},
        "/api/v1/oa/requests/{request}/{action}": {"post": {"summary": "approve, reject, return, withdraw or resubmit", "tags": ["oa"],
            "parameters": [id, text("action")],
            "description": "approve, reject and return: the waiting step's assigned approvers or whoever acts for one of them today (the trail says for whom); reject and return need a comment. withdraw and resubmit (with the changed values): the requester. 409 with the code: self_approval, not_assigned, not_waiting, not_requester, not_returned, comment_required, no_approver.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"comment": {"type": "string"}, "values": {"type": "object"}}}}}},
            "responses": {"200": ok("Request"), "400": error, "401": error, "404": error, "409": error, "422": error}}},
        "/api/v1/oa/delegations": {
            "get": {"summary": "my delegations (who acts for me while I am away)", "tags": ["oa"],
                "responses": {"200": {"description": "{delegations: [{id, login, delegate, from, to, created_at}]}"}, "401": error}},
            "post": {"summary": "someone acts for me from a day to a day (both included)", "tags": ["oa"],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["delegate", "from", "to"], "properties": {"delegate": {"type": "string"}, "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}}}}}},
                "responses": {"201": {"description": "the delegation"}, "400": error, "401": error, "422": error}}},
        "/api/v1/oa/attachments": {"post": {"summary": "keep a file a request's attachment field will name", "tags": ["oa"],
            "description": "The body is the file. Checked by its bytes: PDF, PNG, JPEG, .docx or .xlsx, at most 10 MiB (413 above). Kept once by its SHA-256; put that in the form's attachment field.",
            "parameters": [{"name": "name", "in": "query", "required": true, "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
            "responses": {"201": {"description": "{sha256, name, content_type, size, uploaded_by, uploaded_at}"}, "400": error, "401": error, "413": error, "422": error}}},
        "/api/v1/oa/attachments/{sha256}": {"get": {"summary": "a kept file", "tags": ["oa"],
            "description": "For whoever uploaded it, whoever may see a request that names it, and users.manage; others 404.",
            "parameters": [text("sha256")],
            "responses": {"200": {"description": "the file, with its content type and name"}, "401": error, "404": error}}},
        "/api/v1/notifications": {"get": {"summary": "my notifications, newest first", "tags": ["oa"],
            "description": "Requests waiting on me (assigned, reminded, escalated to me) and my requests' outcomes, in my language; kept 90 days.",
            "parameters": [{"name": "unread", "in": "query", "required": false, "schema": {"type": "boolean", "default": false}},
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_NOTIFICATIONS, "default": 50}}],
            "responses": {"200": {"description": "{unread, notifications: [{id, kind, subject, link, text, created_at, read_at?}]}"}, "400": error, "401": error}}},
        "/api/v1/notifications/read": {"post": {"summary": "mark my notifications read: those of ids, or all", "tags": ["oa"],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "integer"}}}}}}},
            "responses": {"200": {"description": "{read: n}"}, "400": error, "401": error}}},
        "/api/v1/oa/tasks": {"get": {"summary": "the administration office's tasks: open ones oldest first, or done ones newest first", "tags": ["oa"],
            "description": "An approved travel request makes a booking task (kind travel_booking) with its destination, dates, budget and reason, told to everyone holding the office role. Needs office.tasks.",
            "parameters": [q("done", "true: the tasks done"), {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST, "default": 100}}],
            "responses": {"200": {"description": "{tasks: [{id, kind, request, request_id, person, display_name, details, done, done_by?, done_at?, note, created_at}]}"}, "400": error, "401": error, "403": error}}},
        "/api/v1/oa/tasks/{task}/done": {"post": {"summary": "mark an office task done, with what was booked", "tags": ["oa"],
            "parameters": [{"name": "task", "in": "path", "required": true, "schema": {"type": "integer"}}],
            "description": "The note (at most 500 characters: the booking's reference) is told to the traveller. 409 done when it was done already. Needs office.tasks.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"note": {"type": "string", "maxLength": MAX_TASK_NOTE}}}}}},
            "responses": {"200": {"description": "the task"}, "400": error, "401": error, "403": error, "404": error, "409": error}}},
        "/api/v1/roster": {"get": {"summary": "who is away on which days: the roster blocks of approved trips and leave", "tags": ["oa"],
            "description": "Blocks overlapping from..to (by default today and the next 30 days; at most 366 days). Everyone sees their own; roster.read sees everyone's (or one person's with login).",
            "parameters": [q("from", "first day, YYYY-MM-DD"), q("to", "last day, inclusive"), q("login", "one person")],
            "responses": {"200": {"description": "{from, to, blocks: [{id, login, display_name, from, to, reason: travel|leave, note, request, request_id}]}"}, "400": error, "401": error, "403": error}}},
        "/api/v1/notifications/outbox": {"get": {"summary": "the mails and webhook posts, newest first, with what became of each", "tags": ["oa"],
            "parameters": [{"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}],
            "responses": {"200": {"description": "{outbox: [{id, channel: email|webhook, to, subject, body, link, attempts, created_at, state: waiting|sent|skipped|failed, done_at?, last_error?}]}"}, "400": error, "401": error, "403": error}}}
    });
    let schemas = json!({
        "Form": {"type": "object", "required": ["key", "name_zh", "name_en", "fields"], "properties": {
            "key": {"type": "string"}, "name_zh": {"type": "string"}, "name_en": {"type": "string"},
            "fields": {"type": "array", "items": {"type": "object", "required": ["name", "label_zh", "label_en", "kind"], "properties": {
                "name": {"type": "string"}, "label_zh": {"type": "string"}, "label_en": {"type": "string"},
                "kind": {"type": "string", "enum": ["text", "number", "money", "date", "date_range", "choice", "user", "item", "customer", "attachment"]},
                "required": {"type": "boolean"}, "choices": {"type": "array", "items": {"type": "string"}},
                "min": {"type": "string"}, "max": {"type": "string"}, "max_len": {"type": "integer"}}}}}},
        "Workflow": {"type": "object", "required": ["form", "steps"], "properties": {
            "form": {"type": "string"}, "version": {"type": "integer", "description": "set by central"},
            "allow_self_approval": {"type": "boolean", "default": false},
            "steps": {"type": "array", "items": {"type": "object", "required": ["name", "approvers", "mode"], "properties": {
                "name": {"type": "string"},
                "approvers": {"type": "array", "items": {"type": "object", "description": "{by: role, role} | {by: user, login} | {by: manager, levels} | {by: plant_role, role, field} | {by: field, field}"}},
                "mode": {"type": "object", "description": "{need: any} | {need: all} | {need: quorum, n}"},
                "when": {"type": "object", "description": "{if: amount, field, op: gt|ge|lt|le|eq|ne, value} | {if: one_of, field, values} | {if: requester, logins} | {if: all|any, of: [...]} | {if: not, of}"},
                "auto_approve": {"type": "array", "items": {"type": "object", "required": ["field", "up_to"], "properties": {
                    "requester": {"type": "string"}, "role": {"type": "string"}, "field": {"type": "string"}, "up_to": {"type": "string", "description": "inclusive"}}}},
                "remind_after_minutes": {"type": "integer", "minimum": 1, "description": "working time without a decision before the approvers are reminded (again after each such period, 3 times at most)"},
                "escalate_after_minutes": {"type": "integer", "minimum": 1, "description": "working time without a decision before each undecided approver's manager may decide for them"}}}},
            "calendar": {"type": "object", "description": "whose shift calendar timers count working time on: {plant: code} | {field: a field naming the plant}; absent: around the clock"}}},
        "Request": {"type": "object", "properties": {
            "id": {"type": "integer"}, "number": {"type": "string"}, "form": {"type": "string"}, "workflow_version": {"type": "integer"},
            "requester": {"type": "string"}, "values": {"type": "object"},
            "state": {"type": "string", "enum": ["pending", "approved", "rejected", "returned", "withdrawn"]},
            "step": {"type": "integer"}, "step_name": {"type": "string"}, "waiting_on": {"type": "array", "items": {"type": "string"}},
            "tasks": {"type": "array", "items": {"type": "object", "properties": {"approver": {"type": "string"}, "delegate": {"type": "string"}, "escalated_to": {"type": "string"}, "decision": {"type": "string"}}}},
            "waiting_since": {"type": "string", "format": "date-time"},
            "trail": {"type": "array", "items": {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"},
                "action": {"type": "string"}, "by": {"type": "string"}, "for_whom": {"type": "string"}, "step": {"type": "string"}, "comment": {"type": "string"}}}},
            "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
