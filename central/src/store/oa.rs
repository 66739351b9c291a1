//! OA's forms, workflows and requests as central keeps them (issue 17).
//!
//! Forms are data (the built-in ones written on first open, changed or added by an
//! administrator). A workflow is kept in versions: saving one checks it against its form and
//! the people there are now, and writes the next version; a request keeps the version it
//! started with. A request is checked against its form and moved by [`crate::oa::engine`] in
//! one write transaction, and the people it waits on are kept beside it, so an inbox is one
//! indexed read.

use super::StoreError;
use crate::oa::engine::{Decision, Request, RequestState};
use crate::oa::form::FormDef;
use crate::oa::workflow::WorkflowDef;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most requests one list answers.
pub const MAX_LIST: usize = 500;

/// A workflow version as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedWorkflow {
    pub version: u32,
    #[serde(flatten)]
    pub workflow: WorkflowDef,
    pub saved_by: String,
    pub saved_at: DateTime<Utc>,
}

/// A request with what central adds to the engine's: its id and number, form and workflow
/// version, the step it waits at by name, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OaRequest {
    pub id: i64,
    /// `R000001`.
    pub number: String,
    pub form: String,
    pub workflow_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
    /// Who may act now (approvers and their delegates).
    pub waiting_on: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(flatten)]
    pub request: Request,
}

/// A line of a request list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OaRequestSummary {
    pub id: i64,
    pub number: String,
    pub form: String,
    pub requester: String,
    pub state: RequestState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
    pub waiting_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which requests a list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OaView {
    /// The requester's own.
    Mine(String),
    /// Those waiting on this person (as approver or delegate).
    Inbox(String),
    /// Every request (an administrator's view).
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OaQuery {
    pub view: OaView,
    pub state: Option<RequestState>,
    pub form: Option<String>,
    /// At most [`MAX_LIST`].
    pub limit: usize,
}

/// What someone does to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum OaAction {
    Decide {
        decision: Decision,
        comment: String,
    },
    Withdraw {
        comment: String,
    },
    Resubmit {
        values: Map<String, Value>,
        comment: String,
    },
}

/// Someone away, and who acts for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub id: i64,
    pub login: String,
    pub delegate: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub created_at: DateTime<Utc>,
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OaRefusal {
    NotFound(String),
    /// A form or workflow definition, or a filled-in form, with every problem named.
    Invalid(Vec<String>),
    /// The engine's refusal: a stable code and a sentence.
    Refused {
        code: &'static str,
        message: String,
    },
}

pub type OaResult<T> = Result<Result<T, OaRefusal>, StoreError>;

/// A file attached to requests, kept once by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub sha256: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
}

/// How many timers one [`OaStore::fire_oa_timers`] fired, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Fired {
    pub reminders: usize,
    pub escalations: usize,
    /// Due timers of requests that had moved on (nothing to do).
    pub stale: usize,
}

impl Fired {
    pub fn total(&self) -> usize {
        self.reminders + self.escalations + self.stale
    }
}

/// Why someone is away on a roster block: an approved travel or leave request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwayReason {
    Travel,
    Leave,
}

impl AwayReason {
    pub fn as_str(self) -> &'static str {
        match self {
            AwayReason::Travel => "travel",
            AwayReason::Leave => "leave",
        }
    }

    pub fn parse(s: &str) -> Option<AwayReason> {
        match s {
            "travel" => Some(AwayReason::Travel),
            "leave" => Some(AwayReason::Leave),
            _ => None,
        }
    }
}

/// Days a person is away, blocked in the roster by the request that approved them, so
/// nobody enters them again and nobody plans the person on those days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterBlock {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub from: NaiveDate,
    /// Inclusive.
    pub to: NaiveDate,
    pub reason: AwayReason,
    /// The destination of a trip, the type of a leave.
    pub note: String,
    /// The approved request (`R000012`).
    pub request: String,
    pub request_id: i64,
}

/// Which roster blocks: those overlapping `from..=to`, of one person or everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterQuery {
    pub login: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The most days one roster question spans.
pub const MAX_ROSTER_DAYS: i64 = 366;

/// A task for the administration office that an approval made (book a trip).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfficeTask {
    pub id: i64,
    /// `travel_booking`.
    pub kind: String,
    pub request: String,
    pub request_id: i64,
    /// Who it is for (the traveller).
    pub person: String,
    pub display_name: String,
    /// What to book: the trip's destination, dates, budget and reason.
    pub details: Value,
    pub done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
    /// What the office noted when it was done (the booking's reference).
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// The most characters of an office's note.
pub const MAX_TASK_NOTE: usize = 500;

#[async_trait]
pub trait OaStore {
    async fn oa_forms(&self) -> Result<Vec<FormDef>, StoreError>;
    async fn put_oa_form(&self, form: FormDef, by: String, now: DateTime<Utc>)
    -> OaResult<FormDef>;
    /// The workflow in force for a form (its latest version).
    async fn oa_workflow(&self, form: String) -> Result<Option<VersionedWorkflow>, StoreError>;
    /// Checks and saves the next version of a form's workflow.
    async fn put_oa_workflow(
        &self,
        workflow: WorkflowDef,
        by: String,
        now: DateTime<Utc>,
    ) -> OaResult<VersionedWorkflow>;
    async fn submit_oa_request(
        &self,
        form: String,
        values: Map<String, Value>,
        requester: String,
        now: DateTime<Utc>,
    ) -> OaResult<OaRequest>;
    async fn oa_request(&self, id: i64) -> Result<Option<OaRequest>, StoreError>;
    /// Moves a request. An approval that completes a request an action waits on (a sales
    /// order over its credit limit, a quotation's discount, a work order's release) carries
    /// the action out in the same transaction; the plans it published come back with it.
    async fn act_on_oa_request(
        &self,
        id: i64,
        actor: String,
        action: OaAction,
        now: DateTime<Utc>,
    ) -> OaResult<crate::store::work_orders::Changed<OaRequest>>;
    async fn oa_requests(&self, query: OaQuery) -> Result<Vec<OaRequestSummary>, StoreError>;
    async fn put_oa_delegation(
        &self,
        login: String,
        delegate: String,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> OaResult<Delegation>;
    async fn oa_delegations(&self, login: String) -> Result<Vec<Delegation>, StoreError>;
    /// Fires the reminders and escalations due by `now`, at most `limit` (≤ 5000), each once
    /// whichever central instance calls; their notifications are written with them.
    async fn fire_oa_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Fired, StoreError>;
    /// When the next timer falls due.
    async fn next_oa_timer(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Keeps a checked file ([`crate::oa::attachment::check`]); a file kept already (the same
    /// SHA-256) is not kept twice, and its first record is answered.
    async fn put_oa_attachment(
        &self,
        attachment: Attachment,
        bytes: Vec<u8>,
    ) -> Result<Attachment, StoreError>;
    async fn oa_attachment(
        &self,
        sha256: String,
    ) -> Result<Option<(Attachment, Vec<u8>)>, StoreError>;
    /// The requests whose attachment fields name the file.
    async fn oa_attachment_requests(&self, sha256: String) -> Result<Vec<i64>, StoreError>;
    /// Roster blocks overlapping the query's days, by first day.
    async fn roster(&self, query: RosterQuery) -> Result<Vec<RosterBlock>, StoreError>;
    /// The office's tasks: open ones (`done: false`) oldest first, or done ones newest first.
    async fn office_tasks(&self, done: bool, limit: usize) -> Result<Vec<OfficeTask>, StoreError>;
    /// Marks an open task done with the office's note; a task done already is refused.
    async fn finish_office_task(
        &self,
        id: i64,
        by: String,
        note: String,
        now: DateTime<Utc>,
    ) -> OaResult<OfficeTask>;
}
