//! [`OaStore`] on both engines: `oa_forms` (definitions as JSON, the built-in ones written
//! when missing), `oa_workflows` (every version kept), `oa_requests` (the engine's request as
//! JSON beside the columns lists filter on), `oa_waiting` (who may act on a request now: the
//! inbox index) and `oa_delegations`. Request numbers `R000001` come from `crm_counters`.
//!
//! Reminders and escalations are rows of `oa_timers` (request, kind, due), written with the
//! step they belong to and deleted when it is decided or the request ends, so they survive
//! restarts and never fire for a request that moved on. [`OaStore::fire_oa_timers`] takes the
//! due ones inside a write transaction (each fires once, whichever instance takes it).
//! Every move a person should hear of writes its notifications in the same transaction
//! ([`super::notify::notify`]).
//!
//! The engine's [`Directory`] is read from `users` and `oa_delegations` inside the write's
//! transaction ([`SqlDirectory`]), so a request is routed by the people as they are when it
//! moves.

use super::crm::{Params, bind};
use super::db::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use super::{SqlStore, StoreError, parse_ts, ts};
use crate::oa::engine::{self, Directory, Person, Request, RequestState};
use crate::oa::form::{FormDef, Lookup, built_in};
use crate::oa::workflow::WorkflowDef;
use crate::store::oa::{
    Attachment, Delegation, Fired, MAX_LIST, MAX_TASK_NOTE, OaAction, OaQuery, OaRefusal,
    OaRequest, OaRequestSummary, OaResult, OaStore, OaView, OfficeTask, RosterBlock, RosterQuery,
    VersionedWorkflow,
};
use crate::store::work_orders::Changed;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use timers::{Calendars, Head};

pub(in crate::store::sql) mod asks;
pub(in crate::store::sql) mod follow_up;
pub(in crate::store::sql) mod gate;
mod timers;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS oa_forms (
    key        TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS oa_workflows (
    form       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL,
    saved_by   TEXT NOT NULL,
    saved_at   TEXT NOT NULL,
    PRIMARY KEY (form, version)
);
CREATE TABLE IF NOT EXISTS oa_requests (
    id               INTEGER PRIMARY KEY,
    number           TEXT NOT NULL UNIQUE,
    form             TEXT NOT NULL,
    workflow_version INTEGER NOT NULL,
    requester        TEXT NOT NULL,
    state            TEXT NOT NULL,
    body             TEXT NOT NULL,
    waiting_since    TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS oa_requests_requester ON oa_requests (requester, id);
CREATE INDEX IF NOT EXISTS oa_requests_state ON oa_requests (state, id);
CREATE TABLE IF NOT EXISTS oa_waiting (
    login   TEXT NOT NULL,
    request INTEGER NOT NULL,
    PRIMARY KEY (login, request)
);
CREATE INDEX IF NOT EXISTS oa_waiting_request ON oa_waiting (request);
CREATE TABLE IF NOT EXISTS oa_delegations (
    id         INTEGER PRIMARY KEY,
    login      TEXT NOT NULL,
    delegate   TEXT NOT NULL,
    from_day   TEXT NOT NULL,
    to_day     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS oa_delegations_login ON oa_delegations (login, from_day);
CREATE TABLE IF NOT EXISTS oa_attachments (
    sha256       TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    data         BLOB NOT NULL,
    uploaded_by  TEXT NOT NULL,
    uploaded_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS oa_attachment_refs (
    sha256  TEXT NOT NULL,
    request INTEGER NOT NULL,
    PRIMARY KEY (sha256, request)
);
CREATE TABLE IF NOT EXISTS oa_timers (
    request INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    due_at  TEXT NOT NULL,
    PRIMARY KEY (request, kind)
);
CREATE INDEX IF NOT EXISTS oa_timers_due ON oa_timers (due_at);
";

/// Columns added after the tables were first made: a request's `subject` (the order,
/// quotation or work order an action's approval is about, [`gate`]).
pub(super) fn add_columns(conn: &Connection) -> Result<(), StoreError> {
    if !super::stock::has_column(conn, "oa_requests", "subject")? {
        conn.execute_batch(&format!(
            "ALTER TABLE oa_requests ADD COLUMN subject {};
             CREATE INDEX IF NOT EXISTS oa_requests_subject ON oa_requests (form, subject);",
            super::stock::text_type(conn)
        ))?;
    }
    Ok(())
}

/// Writes the built-in forms: those not there yet, and those no administrator changed (they
/// follow the release); an administrator's changes stay.
pub(super) fn seed(conn: &Connection) -> Result<(), StoreError> {
    let now = ts(Utc::now());
    for form in built_in() {
        conn.prepare_cached(
            "INSERT INTO oa_forms (key, definition, updated_by, updated_at)
             VALUES (?1, ?2, 'system', ?3)
             ON CONFLICT (key) DO UPDATE SET definition = excluded.definition
             WHERE oa_forms.updated_by = 'system' AND oa_forms.definition <> excluded.definition",
        )?
        .execute(params![form.key, serde_json::to_string(&form)?, now])?;
    }
    Ok(())
}

/// A stored value that does not read: what it was and why.
pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn day(text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| corrupt("date", e))
}

/// The people and delegations as the store has them now.
struct SqlDirectory {
    people: HashMap<String, (Person, Vec<String>)>,
    delegations: Vec<(String, String, NaiveDate, NaiveDate)>,
}

impl SqlDirectory {
    fn read(conn: &Connection) -> Result<SqlDirectory, StoreError> {
        let people = super::people::all_users(conn)?
            .into_iter()
            .map(|u| {
                let person = Person {
                    roles: u.roles.iter().map(|r| r.name().to_owned()).collect(),
                    login: u.login,
                    display_name: u.display_name,
                    active: u.active,
                    manager: u.manager,
                };
                (person.login.to_lowercase(), (person, u.plants))
            })
            .collect();
        let mut delegations = Vec::new();
        {
            let mut stmt = conn.prepare_cached(
                "SELECT login, delegate, from_day, to_day FROM oa_delegations ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for row in rows {
                let (login, delegate, from, to) = row?;
                delegations.push((login, delegate, day(&from)?, day(&to)?));
            }
        }
        Ok(SqlDirectory {
            people,
            delegations,
        })
    }
}

impl Directory for SqlDirectory {
    fn person(&self, login: &str) -> Option<Person> {
        self.people
            .get(&login.to_lowercase())
            .map(|(p, _)| p.clone())
    }

    fn holders(&self, role: &str, plant: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = self
            .people
            .values()
            .filter(|(p, _)| p.active && p.roles.iter().any(|r| r == role))
            .filter(|(_, plants)| plant.is_none_or(|plant| plants.iter().any(|p| p == plant)))
            .map(|(p, _)| p.login.clone())
            .collect();
        out.sort();
        out
    }

    fn delegate(&self, login: &str, day: NaiveDate) -> Option<String> {
        // The latest delegation covering the day wins.
        self.delegations
            .iter()
            .rev()
            .find(|(who, _, from, to)| {
                who.eq_ignore_ascii_case(login) && *from <= day && day <= *to
            })
            .map(|(_, delegate, _, _)| delegate.clone())
    }
}

/// What a form's reference fields may name.
struct SqlLookup<'a> {
    conn: &'a Connection,
    dir: &'a SqlDirectory,
}

impl SqlLookup<'_> {
    fn exists(&self, sql: &str, key: &str) -> bool {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.exists(params![key]))
            .unwrap_or(false)
    }
}

impl Lookup for SqlLookup<'_> {
    fn user(&self, login: &str) -> bool {
        self.dir.person(login).is_some_and(|p| p.active)
    }
    fn item(&self, item: &str) -> bool {
        self.exists("SELECT 1 FROM erp_items WHERE item = ?1", item)
    }
    fn customer(&self, code: &str) -> bool {
        self.exists("SELECT 1 FROM crm_customers WHERE code = ?1", code)
    }
    fn attachment(&self, sha256: &str) -> bool {
        self.exists("SELECT 1 FROM oa_attachments WHERE sha256 = ?1", sha256)
    }
}

fn read_form(conn: &Connection, key: &str) -> Result<Option<FormDef>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT definition FROM oa_forms WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("form", e)))
        .transpose()
}

fn read_workflow(
    conn: &Connection,
    form: &str,
    version: Option<u32>,
) -> Result<Option<VersionedWorkflow>, StoreError> {
    let row: Option<(u32, String, String, String)> = match version {
        Some(v) => conn
            .prepare_cached(
                "SELECT version, definition, saved_by, saved_at FROM oa_workflows
                 WHERE form = ?1 AND version = ?2",
            )?
            .query_row(params![form, v], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?,
        None => conn
            .prepare_cached(
                "SELECT version, definition, saved_by, saved_at FROM oa_workflows
                 WHERE form = ?1 ORDER BY version DESC LIMIT 1",
            )?
            .query_row(params![form], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?,
    };
    row.map(|(version, definition, saved_by, saved_at)| {
        Ok(VersionedWorkflow {
            version,
            workflow: serde_json::from_str(&definition).map_err(|e| corrupt("workflow", e))?,
            saved_by,
            saved_at: parse_ts(&saved_at)?,
        })
    })
    .transpose()
}

type RequestRow = (i64, String, String, u32, String, String, String);

/// Workflows read once per call, by form and version (a list names the same few many times).
type Workflows = HashMap<(String, u32), Option<VersionedWorkflow>>;

fn read_request(conn: &Connection, id: i64) -> Result<Option<OaRequest>, StoreError> {
    read_request_with(conn, id, &mut HashMap::new())
}

fn read_request_with(
    conn: &Connection,
    id: i64,
    workflows: &mut Workflows,
) -> Result<Option<OaRequest>, StoreError> {
    let row: Option<RequestRow> = conn
        .prepare_cached(
            "SELECT id, number, form, workflow_version, body, created_at, updated_at
             FROM oa_requests WHERE id = ?1",
        )?
        .query_row(params![id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .optional()?;
    let Some((id, number, form, workflow_version, body, created_at, updated_at)) = row else {
        return Ok(None);
    };
    let request: Request = serde_json::from_str(&body).map_err(|e| corrupt("request", e))?;
    let step_name = match request.step {
        Some(i) => {
            let key = (form.clone(), workflow_version);
            if !workflows.contains_key(&key) {
                let w = read_workflow(conn, &form, Some(workflow_version))?;
                workflows.insert(key.clone(), w);
            }
            workflows
                .get(&key)
                .and_then(Option::as_ref)
                .and_then(|w| w.workflow.steps.get(i).map(|s| s.name.clone()))
        }
        None => None,
    };
    Ok(Some(OaRequest {
        id,
        number,
        form,
        workflow_version,
        step_name,
        waiting_on: request.waiting_on(),
        created_at: parse_ts(&created_at)?,
        updated_at: parse_ts(&updated_at)?,
        request,
    }))
}

/// Writes the request's state and who it waits on.
fn write_request(
    conn: &Connection,
    id: i64,
    req: &Request,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE oa_requests SET state = ?2, body = ?3, waiting_since = ?4, updated_at = ?5
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        req.state.as_str(),
        serde_json::to_string(req)?,
        req.waiting_since.map(ts),
        ts(now)
    ])?;
    conn.prepare_cached("DELETE FROM oa_waiting WHERE request = ?1")?
        .execute(params![id])?;
    for login in req.waiting_on() {
        conn.prepare_cached("INSERT INTO oa_waiting (login, request) VALUES (?1, ?2)")?
            .execute(params![login.to_lowercase(), id])?;
    }
    Ok(())
}

/// sha256, name, content type, size, uploaded by, at, the bytes (when asked for).
type AttachmentRow = (String, String, String, i64, String, String, Option<Vec<u8>>);

/// A kept file's record, and its bytes when `data`.
fn read_attachment(
    conn: &Connection,
    sha256: &str,
    data: bool,
) -> Result<Option<(Attachment, Vec<u8>)>, StoreError> {
    let sql = if data {
        "SELECT sha256, name, content_type, size, uploaded_by, uploaded_at, data FROM oa_attachments WHERE sha256 = ?1"
    } else {
        "SELECT sha256, name, content_type, size, uploaded_by, uploaded_at, NULL FROM oa_attachments WHERE sha256 = ?1"
    };
    let row: Option<AttachmentRow> = conn
        .prepare_cached(sql)?
        .query_row(params![sha256], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .optional()?;
    row.map(
        |(sha256, name, content_type, size, uploaded_by, at, bytes)| {
            Ok((
                Attachment {
                    sha256,
                    name,
                    content_type,
                    size: size.max(0) as u64,
                    uploaded_by,
                    uploaded_at: parse_ts(&at)?,
                },
                bytes.unwrap_or_default(),
            ))
        },
    )
    .transpose()
}

/// Notes which files the request's attachment fields name (who may read a file follows from
/// the requests that name it).
fn ref_attachments(
    conn: &Connection,
    id: i64,
    form: &FormDef,
    values: &std::collections::BTreeMap<String, Value>,
) -> Result<(), StoreError> {
    for f in form
        .fields
        .iter()
        .filter(|f| f.kind == crate::oa::form::FieldKind::Attachment)
    {
        if let Some(sha) = values.get(&f.name).and_then(Value::as_str) {
            conn.prepare_cached(
                "INSERT INTO oa_attachment_refs (sha256, request) VALUES (?1, ?2)
                 ON CONFLICT (sha256, request) DO NOTHING",
            )?
            .execute(params![sha.to_ascii_lowercase(), id])?;
        }
    }
    Ok(())
}

fn next_number(conn: &Connection) -> Result<String, StoreError> {
    super::crm::next_free(
        conn,
        "oa_request",
        "SELECT 1 FROM oa_requests WHERE number = ?1",
        |n| format!("R{n:06}"),
    )?
    .ok_or_else(|| StoreError::Conflict("no free request number in 1000 tries".into()))
}

fn refused(r: engine::Refusal) -> OaRefusal {
    OaRefusal::Refused {
        code: r.code,
        message: r.message,
    }
}

/// Checks `values` against the form: the values as kept, or every problem named.
fn checked(
    conn: &Connection,
    dir: &SqlDirectory,
    form: &FormDef,
    values: &Map<String, Value>,
) -> Result<std::collections::BTreeMap<String, Value>, OaRefusal> {
    form.validate(values, &SqlLookup { conn, dir })
        .map_err(|errors| OaRefusal::Invalid(errors.iter().map(ToString::to_string).collect()))
}

#[async_trait]
impl OaStore for SqlStore {
    async fn oa_forms(&self) -> Result<Vec<FormDef>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT definition FROM oa_forms ORDER BY key")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.map(|t| serde_json::from_str(&t?).map_err(|e| corrupt("form", e)))
                .collect()
        })
        .await
    }

    async fn put_oa_form(
        &self,
        form: FormDef,
        by: String,
        now: DateTime<Utc>,
    ) -> OaResult<FormDef> {
        if let Err(problems) = form.check() {
            return Ok(Err(OaRefusal::Invalid(problems)));
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // A form its workflow depends on keeps the fields the workflow names.
            if let Some(w) = read_workflow(&tx, &form.key, None)? {
                let dir = SqlDirectory::read(&tx)?;
                if let Err(problems) = w.workflow.check(&form, &dir) {
                    return Ok(Err(OaRefusal::Invalid(
                        problems
                            .into_iter()
                            .map(|p| format!("its workflow (version {}) would break: {p}", w.version))
                            .collect(),
                    )));
                }
            }
            tx.prepare_cached(
                "INSERT INTO oa_forms (key, definition, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET definition = excluded.definition,
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )?
            .execute(params![form.key, serde_json::to_string(&form)?, by, ts(now)])?;
            tx.commit()?;
            Ok(Ok(form))
        })
        .await
    }

    async fn oa_workflow(&self, form: String) -> Result<Option<VersionedWorkflow>, StoreError> {
        self.read(move |conn| read_workflow(conn, &form, None))
            .await
    }

    async fn put_oa_workflow(
        &self,
        workflow: WorkflowDef,
        by: String,
        now: DateTime<Utc>,
    ) -> OaResult<VersionedWorkflow> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(form) = read_form(&tx, &workflow.form)? else {
                return Ok(Err(OaRefusal::NotFound(format!(
                    "no form {:?}; expected one of GET /api/v1/oa/forms",
                    workflow.form
                ))));
            };
            let dir = SqlDirectory::read(&tx)?;
            if let Err(problems) = workflow.check(&form, &dir) {
                return Ok(Err(OaRefusal::Invalid(problems)));
            }
            let version = read_workflow(&tx, &workflow.form, None)?
                .map_or(1, |w| w.version.saturating_add(1));
            tx.prepare_cached(
                "INSERT INTO oa_workflows (form, version, definition, saved_by, saved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                workflow.form,
                version,
                serde_json::to_string(&workflow)?,
                by,
                ts(now)
            ])?;
            tx.commit()?;
            Ok(Ok(VersionedWorkflow {
                version,
                workflow,
                saved_by: by,
                saved_at: now,
            }))
        })
        .await
    }

    async fn submit_oa_request(
        &self,
        form: String,
        values: Map<String, Value>,
        requester: String,
        now: DateTime<Utc>,
    ) -> OaResult<OaRequest> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(def) = read_form(&tx, &form)? else {
                return Ok(Err(OaRefusal::NotFound(format!("no form {form:?}"))));
            };
            let Some(workflow) = read_workflow(&tx, &form, None)? else {
                return Ok(Err(OaRefusal::Refused {
                    code: "no_workflow",
                    message: format!(
                        "the form {form} has no workflow yet; an administrator puts one at /api/v1/oa/workflows/{form}"
                    ),
                }));
            };
            let dir = SqlDirectory::read(&tx)?;
            let values = match checked(&tx, &dir, &def, &values) {
                Ok(v) => v,
                Err(r) => return Ok(Err(r)),
            };
            if let Some(why) = follow_up::already_away(&tx, &form, &requester, &values)? {
                return Ok(Err(OaRefusal::Invalid(vec![why])));
            }
            let request = match engine::submit(&workflow.workflow, &requester, values, &dir, now) {
                Ok(r) => r,
                Err(r) => return Ok(Err(refused(r))),
            };
            let number = next_number(&tx)?;
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO oa_requests (number, form, workflow_version, requester, state, body,
                         waiting_since, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING id",
                )?
                .query_row(
                    params![
                        number,
                        form,
                        workflow.version,
                        requester,
                        request.state.as_str(),
                        serde_json::to_string(&request)?,
                        request.waiting_since.map(ts),
                        ts(now)
                    ],
                    |r| r.get(0),
                )?;
            write_request(&tx, id, &request, now)?;
            let stored = read_request(&tx, id)?
                .ok_or_else(|| StoreError::Corrupt("the request just written is missing".into()))?;
            ref_attachments(&tx, id, &def, &request.values)?;
            timers::schedule(&tx, id, None, &request, &workflow.workflow, &mut Calendars::default())?;
            let head = Head {
                id,
                number: &stored.number,
                form: Some(&def),
            };
            timers::tell(&tx, &head, None, &request, stored.step_name.as_deref(), now)?;
            // A rule approved it at once: what the approval does is done now.
            let stored = if request.state == RequestState::Approved {
                let mut stored = stored;
                gate::carry_out(&tx, &mut stored, now)?;
                read_request(&tx, id)?.ok_or_else(|| {
                    StoreError::Corrupt("the request just written is missing".into())
                })?
            } else {
                stored
            };
            tx.commit()?;
            Ok(Ok(stored))
        })
        .await
    }

    async fn oa_request(&self, id: i64) -> Result<Option<OaRequest>, StoreError> {
        self.read(move |conn| read_request(conn, id)).await
    }

    async fn act_on_oa_request(
        &self,
        id: i64,
        actor: String,
        action: OaAction,
        now: DateTime<Utc>,
    ) -> OaResult<Changed<OaRequest>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(current) = read_request(&tx, id)? else {
                return Ok(Err(OaRefusal::NotFound(format!("no request {id}"))));
            };
            let Some(workflow) = read_workflow(&tx, &current.form, Some(current.workflow_version))?
            else {
                return Err(StoreError::Corrupt(format!(
                    "request {id} runs workflow version {} of {}, which is missing",
                    current.workflow_version, current.form
                )));
            };
            let dir = SqlDirectory::read(&tx)?;
            let before = current.request.clone();
            let mut request = current.request;
            let done = match action {
                OaAction::Decide { decision, comment } => engine::decide(
                    &mut request,
                    &workflow.workflow,
                    &actor,
                    decision,
                    &comment,
                    &dir,
                    now,
                ),
                OaAction::Withdraw { comment } => {
                    engine::withdraw(&mut request, &actor, &comment, now)
                }
                OaAction::Resubmit { values, comment } => {
                    let Some(def) = read_form(&tx, &current.form)? else {
                        return Ok(Err(OaRefusal::NotFound(format!(
                            "no form {:?}",
                            current.form
                        ))));
                    };
                    let values = match checked(&tx, &dir, &def, &values) {
                        Ok(v) => v,
                        Err(r) => return Ok(Err(r)),
                    };
                    if let Some(why) =
                        follow_up::already_away(&tx, &current.form, &before.requester, &values)?
                    {
                        return Ok(Err(OaRefusal::Invalid(vec![why])));
                    }
                    engine::resubmit(
                        &mut request,
                        &workflow.workflow,
                        &actor,
                        values,
                        &comment,
                        &dir,
                        now,
                    )
                }
            };
            if let Err(r) = done {
                return Ok(Err(refused(r)));
            }
            write_request(&tx, id, &request, now)?;
            let stored = read_request(&tx, id)?
                .ok_or_else(|| StoreError::Corrupt("the request just written is missing".into()))?;
            timers::schedule(
                &tx,
                id,
                Some(&before),
                &request,
                &workflow.workflow,
                &mut Calendars::default(),
            )?;
            let form = read_form(&tx, &current.form)?;
            if let Some(f) = &form {
                ref_attachments(&tx, id, f, &request.values)?;
            }
            let head = Head {
                id,
                number: &stored.number,
                form: form.as_ref(),
            };
            timers::tell(
                &tx,
                &head,
                Some(&before),
                &request,
                stored.step_name.as_deref(),
                now,
            )?;
            let mut stored = stored;
            let mut plans = Vec::new();
            if request.state == RequestState::Approved && before.state != RequestState::Approved {
                plans = gate::carry_out(&tx, &mut stored, now)?.plans;
                stored = read_request(&tx, id)?.ok_or_else(|| {
                    StoreError::Corrupt("the request just written is missing".into())
                })?;
            } else if request.state != before.state {
                // A requisition rejected or withdrawn: its line hears it with the next plan.
                plans = asks::ended(&tx, &stored, now)?;
            }
            tx.commit()?;
            Ok(Ok(Changed {
                value: stored,
                plans,
            }))
        })
        .await
    }

    async fn oa_requests(&self, query: OaQuery) -> Result<Vec<OaRequestSummary>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql = String::from("SELECT r.id FROM oa_requests r");
            match &query.view {
                OaView::Inbox(login) => {
                    let p = bind(&mut params, login.to_lowercase());
                    sql.push_str(&format!(
                        " JOIN oa_waiting w ON w.request = r.id AND w.login = {p} WHERE 1 = 1"
                    ));
                }
                OaView::Mine(login) => {
                    let p = bind(&mut params, login.clone());
                    sql.push_str(&format!(" WHERE r.requester = {p}"));
                }
                OaView::All => sql.push_str(" WHERE 1 = 1"),
            }
            if let Some(state) = query.state {
                let p = bind(&mut params, state.as_str().to_owned());
                sql.push_str(&format!(" AND r.state = {p}"));
            }
            if let Some(form) = &query.form {
                let p = bind(&mut params, form.clone());
                sql.push_str(&format!(" AND r.form = {p}"));
            }
            let limit = i64::try_from(query.limit.clamp(1, MAX_LIST)).unwrap_or(1);
            let p = bind(&mut params, limit);
            // The inbox walks its index (login, request) backwards: newest first, no sort.
            let newest = if matches!(query.view, OaView::Inbox(_)) {
                "w.request"
            } else {
                "r.id"
            };
            sql.push_str(&format!(" ORDER BY {newest} DESC LIMIT {p}"));
            let ids: Vec<i64> = {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params_from_iter(params), |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut out = Vec::with_capacity(ids.len());
            let mut workflows = HashMap::new();
            for id in ids {
                if let Some(r) = read_request_with(conn, id, &mut workflows)? {
                    out.push(OaRequestSummary {
                        id: r.id,
                        number: r.number,
                        form: r.form,
                        requester: r.request.requester,
                        state: r.request.state,
                        step_name: r.step_name,
                        waiting_on: r.waiting_on,
                        waiting_since: r.request.waiting_since,
                        created_at: r.created_at,
                        updated_at: r.updated_at,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn put_oa_delegation(
        &self,
        login: String,
        delegate: String,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> OaResult<Delegation> {
        if to < from {
            return Ok(Err(OaRefusal::Invalid(vec![format!(
                "to: {to} is before from {from}"
            )])));
        }
        if (to - from).num_days() > 366 {
            return Ok(Err(OaRefusal::Invalid(vec![
                "to: a delegation lasts at most a year".into(),
            ])));
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let dir = SqlDirectory::read(&tx)?;
            if delegate.eq_ignore_ascii_case(&login) {
                return Ok(Err(OaRefusal::Invalid(vec![
                    "delegate: someone else acts for you while you are away".into(),
                ])));
            }
            if dir.person(&delegate).is_none_or(|p| !p.active) {
                return Ok(Err(OaRefusal::Invalid(vec![format!(
                    "delegate: {delegate:?} is not an active user"
                )])));
            }
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO oa_delegations (login, delegate, from_day, to_day, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )?
                .query_row(
                    params![login, delegate, from.to_string(), to.to_string(), ts(now)],
                    |r| r.get(0),
                )?;
            tx.commit()?;
            Ok(Ok(Delegation {
                id,
                login,
                delegate,
                from,
                to,
                created_at: now,
            }))
        })
        .await
    }

    async fn fire_oa_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Fired, StoreError> {
        let limit = limit.clamp(1, 5000);
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let fired = timers::fire(&tx, now, limit)?;
            tx.commit()?;
            Ok(fired)
        })
        .await
    }

    async fn next_oa_timer(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(|conn| {
            let next: Option<String> = conn
                .prepare_cached("SELECT min(due_at) FROM oa_timers")?
                .query_row([], |r| r.get(0))?;
            next.as_deref().map(parse_ts).transpose()
        })
        .await
    }

    async fn put_oa_attachment(
        &self,
        attachment: Attachment,
        bytes: Vec<u8>,
    ) -> Result<Attachment, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO oa_attachments (sha256, name, content_type, size, data, uploaded_by, uploaded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (sha256) DO NOTHING",
            )?
            .execute(params![
                attachment.sha256,
                attachment.name,
                attachment.content_type,
                attachment.size as i64,
                bytes,
                attachment.uploaded_by,
                ts(attachment.uploaded_at)
            ])?;
            let kept = read_attachment(&tx, &attachment.sha256, false)?
                .map(|(a, _)| a)
                .ok_or_else(|| StoreError::Corrupt("the attachment just kept is missing".into()))?;
            tx.commit()?;
            Ok(kept)
        })
        .await
    }

    async fn oa_attachment(
        &self,
        sha256: String,
    ) -> Result<Option<(Attachment, Vec<u8>)>, StoreError> {
        self.read(move |conn| read_attachment(conn, &sha256, true))
            .await
    }

    async fn oa_attachment_requests(&self, sha256: String) -> Result<Vec<i64>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT request FROM oa_attachment_refs WHERE sha256 = ?1 ORDER BY request LIMIT 500",
            )?;
            let rows = stmt.query_map(params![sha256], |r| r.get::<_, i64>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn roster(&self, query: RosterQuery) -> Result<Vec<RosterBlock>, StoreError> {
        self.read(move |conn| follow_up::roster(conn, &query)).await
    }

    async fn office_tasks(&self, done: bool, limit: usize) -> Result<Vec<OfficeTask>, StoreError> {
        self.read(move |conn| follow_up::tasks(conn, done, limit.clamp(1, MAX_LIST)))
            .await
    }

    async fn finish_office_task(
        &self,
        id: i64,
        by: String,
        note: String,
        now: DateTime<Utc>,
    ) -> OaResult<OfficeTask> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(task) = follow_up::task(&tx, id)? else {
                return Ok(Err(OaRefusal::NotFound(format!("no office task {id}"))));
            };
            if task.done {
                return Ok(Err(OaRefusal::Refused {
                    code: "done",
                    message: format!(
                        "task {id} was done by {} already",
                        task.done_by.as_deref().unwrap_or("someone")
                    ),
                }));
            }
            let note: String = note.trim().chars().take(MAX_TASK_NOTE).collect();
            tx.prepare_cached(
                "UPDATE office_tasks SET done_by = ?2, done_at = ?3, note = ?4
                 WHERE id = ?1 AND done_at IS NULL",
            )?
            .execute(params![id, by, ts(now), note])?;
            let destination = task
                .details
                .get("destination")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            super::notify::notify(
                &tx,
                &super::notify::Notice {
                    kind: "oa.office_task_done",
                    to: vec![task.person.clone()],
                    subject: task.request.clone(),
                    link: format!("/oa/requests/{}", task.request_id),
                    en: format!(
                        "Your trip to {destination} is booked ({}): {note}",
                        task.request
                    ),
                    zh: format!("您去{destination}的行程已预订（{}）：{note}", task.request),
                },
                now,
            )?;
            let done = follow_up::task(&tx, id)?
                .ok_or_else(|| StoreError::Corrupt(format!("office task {id} is gone")))?;
            tx.commit()?;
            Ok(Ok(done))
        })
        .await
    }

    async fn oa_delegations(&self, login: String) -> Result<Vec<Delegation>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, login, delegate, from_day, to_day, created_at FROM oa_delegations
                 WHERE login = ?1 ORDER BY from_day, id",
            )?;
            let rows = stmt.query_map(params![login], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
            rows.map(|row| {
                let (id, login, delegate, from, to, created_at) = row?;
                Ok(Delegation {
                    id,
                    login,
                    delegate,
                    from: day(&from)?,
                    to: day(&to)?,
                    created_at: parse_ts(&created_at)?,
                })
            })
            .collect()
        })
        .await
    }
}

/// What `mes bench oa` puts in a store before it measures (not for anything else).
#[derive(Debug, Clone)]
pub struct OaBenchFill {
    /// Requests of `form` submitted by `requesters` in turn, with `values` (checked here).
    pub requests: usize,
    pub form: String,
    pub requesters: Vec<String>,
    pub values: Map<String, Value>,
}

impl SqlStore {
    /// Submits `requests` requests for `mes bench oa` in one unaudited transaction, through
    /// the same form check, engine and row writers as the API's submit: a store with 100k
    /// open requests in seconds.
    pub async fn fill_oa_for_bench(&self, fill: OaBenchFill) -> Result<(), StoreError> {
        self.write_on(false, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = Utc::now();
            let form = read_form(&tx, &fill.form)?
                .ok_or_else(|| StoreError::Conflict(format!("no form {}", fill.form)))?;
            let workflow = read_workflow(&tx, &fill.form, None)?
                .ok_or_else(|| StoreError::Conflict(format!("no workflow for {}", fill.form)))?;
            let dir = SqlDirectory::read(&tx)?;
            let values = checked(&tx, &dir, &form, &fill.values)
                .map_err(|r| StoreError::Conflict(format!("{r:?}")))?;
            let mut cals = Calendars::default();
            for n in 0..fill.requests {
                let requester = &fill.requesters[n % fill.requesters.len().max(1)];
                let request =
                    engine::submit(&workflow.workflow, requester, values.clone(), &dir, now)
                        .map_err(|r| StoreError::Conflict(r.message))?;
                let number = next_number(&tx)?;
                let id: i64 = tx
                    .prepare_cached(
                        "INSERT INTO oa_requests (number, form, workflow_version, requester, state,
                             body, waiting_since, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING id",
                    )?
                    .query_row(
                        params![
                            number,
                            fill.form,
                            workflow.version,
                            requester,
                            request.state.as_str(),
                            serde_json::to_string(&request)?,
                            request.waiting_since.map(ts),
                            ts(now)
                        ],
                        |r| r.get(0),
                    )?;
                write_request(&tx, id, &request, now)?;
                timers::schedule(&tx, id, None, &request, &workflow.workflow, &mut cals)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}
