//! A request's way through its workflow: submitted, each applicable step's tasks assigned,
//! decided, and on to the next step until the last is approved; refused at any step by a
//! refusal; returned to the requester for changes and resubmitted; or withdrawn.
//!
//! The rules a plant's people asked for:
//! - only a step's assigned approvers, or whoever acts for one of them that day (their
//!   delegate while they are away), may decide it, and the trail then says "approved by A
//!   for B";
//! - nobody approves their own request unless the workflow allows it: the requester is left
//!   out of a step's approvers (and never becomes anyone's delegate for it);
//! - a step applies when its condition holds, and is approved by a rule without asking when
//!   one matches (inclusive of the limit), the rule named in the trail;
//! - a refusal, a return and a withdrawal say why (a comment is required);
//! - a step whose approvers come to nobody (a manager chain that ends, a plant without a
//!   supervisor) refuses the action that would reach it, naming the step, so the request
//!   stays where it is, never waiting for nobody.

use super::workflow::{Approvers, Mode, WorkflowDef};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Longest comment kept.
pub const MAX_COMMENT_LEN: usize = 2_000;
/// A waiting step's approvers are reminded at most this many times; escalation is the next
/// word.
pub const MAX_REMINDERS: usize = 3;

/// A person as workflows need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub login: String,
    pub display_name: String,
    pub active: bool,
    /// Role names (`sales_manager`).
    pub roles: Vec<String>,
    pub manager: Option<String>,
}

/// The people, roles and delegations a workflow routes by.
pub trait Directory {
    fn person(&self, login: &str) -> Option<Person>;
    /// The active people holding `role`, by login; with a plant, only those who work in it.
    fn holders(&self, role: &str, plant: Option<&str>) -> Vec<String>;
    /// Who acts for `login` on `day` (they are out of office), if anyone.
    fn delegate(&self, login: &str, day: NaiveDate) -> Option<String>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting at a step.
    Pending,
    Approved,
    Rejected,
    /// Back with the requester, to change and resubmit.
    Returned,
    Withdrawn,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Rejected => "rejected",
            RequestState::Returned => "returned",
            RequestState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(state: &str) -> Option<RequestState> {
        [
            RequestState::Pending,
            RequestState::Approved,
            RequestState::Rejected,
            RequestState::Returned,
            RequestState::Withdrawn,
        ]
        .into_iter()
        .find(|s| s.as_str() == state)
    }

    /// Whether the request is over (timers stop, nothing more can happen to it).
    pub fn ended(self) -> bool {
        matches!(
            self,
            RequestState::Approved | RequestState::Rejected | RequestState::Withdrawn
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
    /// Back to the requester for changes.
    Return,
}

/// One approver's part of the waiting step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The approver the step resolved to.
    pub approver: String,
    /// Who acts for them while they are away (set when the step was assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The approver's manager, who may decide for them since the step was escalated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_to: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrailAction {
    Submitted,
    Resubmitted,
    /// A step's tasks were given to its approvers.
    Assigned,
    /// A step's condition did not hold.
    Skipped,
    /// A rule approved a step without asking.
    AutoApproved,
    Approved,
    Rejected,
    Returned,
    Withdrawn,
    /// The whole request is approved.
    Completed,
    /// The waiting step's approvers were reminded.
    Reminded,
    /// The waiting step went to the undecided approvers' managers.
    Escalated,
    /// What the approved request was waited on for was done (or could not be: why).
    CarriedOut,
}

/// One line of a request's trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailEntry {
    pub at: DateTime<Utc>,
    pub action: TrailAction,
    /// Who did it (`system` for the workflow itself).
    pub by: String,
    /// Whom they acted for (a delegate's approver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_whom: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// A request as the engine moves it. The store keeps it with its id and the workflow version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub requester: String,
    pub values: BTreeMap<String, Value>,
    pub state: RequestState,
    /// The waiting step's index in the workflow, while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// The waiting step's tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Task>,
    /// Since when the waiting step waits: reminders and escalation count from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<DateTime<Utc>>,
    pub trail: Vec<TrailEntry>,
}

/// Why an action was refused: a stable code and a sentence naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse<T>(code: &'static str, message: String) -> Result<T, Refusal> {
    Err(Refusal { code, message })
}

fn comment_of(comment: &str, required: bool) -> Result<String, Refusal> {
    let c = comment.trim();
    if required && c.is_empty() {
        return refuse(
            "comment_required",
            "say why in a comment: the requester reads it".into(),
        );
    }
    if c.len() > MAX_COMMENT_LEN || c.chars().any(|ch| ch.is_control() && ch != '\n') {
        return refuse(
            "bad_comment",
            format!("a comment is printable text of at most {MAX_COMMENT_LEN} bytes"),
        );
    }
    Ok(c.to_owned())
}

impl Request {
    fn log(
        &mut self,
        at: DateTime<Utc>,
        action: TrailAction,
        by: &str,
        step: Option<&str>,
        comment: String,
    ) {
        self.trail.push(TrailEntry {
            at,
            action,
            by: by.to_owned(),
            for_whom: None,
            step: step.map(str::to_owned),
            comment,
        });
    }

    /// The waiting task `actor` may decide on `day`: their own, else one they act for.
    pub fn task_for(&self, actor: &str) -> Option<usize> {
        if self.state != RequestState::Pending {
            return None;
        }
        let open = |t: &&Task| t.decision.is_none();
        self.tasks
            .iter()
            .position(|t| open(&t) && t.approver == actor)
            .or_else(|| {
                self.tasks
                    .iter()
                    .position(|t| open(&t) && t.delegate.as_deref() == Some(actor))
            })
            .or_else(|| {
                self.tasks
                    .iter()
                    .position(|t| open(&t) && t.escalated_to.as_deref() == Some(actor))
            })
    }

    /// How many times the waiting step's approvers have been reminded.
    pub fn reminders(&self) -> usize {
        let Some(since) = self.waiting_since else {
            return 0;
        };
        self.trail
            .iter()
            .rev()
            .take_while(|e| e.at >= since)
            .filter(|e| e.action == TrailAction::Reminded)
            .count()
    }

    /// The people who may act now, for an inbox: each open task's approver and delegate.
    pub fn waiting_on(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in self.tasks.iter().filter(|t| t.decision.is_none()) {
            out.push(t.approver.clone());
            out.extend(t.delegate.iter().cloned());
            out.extend(t.escalated_to.iter().cloned());
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The people a step resolves to for this request, in order, once each, the requester left
/// out unless the workflow allows self-approval.
fn approvers_of(def: &WorkflowDef, step: usize, req: &Request, dir: &dyn Directory) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let active = |login: &str| dir.person(login).is_some_and(|p| p.active);
    for a in &def.steps[step].approvers {
        let found: Vec<String> = match a {
            Approvers::Role { role } => dir.holders(role, None),
            Approvers::User { login } => {
                if active(login) {
                    vec![login.clone()]
                } else {
                    Vec::new()
                }
            }
            Approvers::Manager { levels } => {
                let mut who = Some(req.requester.clone());
                for _ in 0..*levels {
                    who = who.and_then(|w| dir.person(&w)).and_then(|p| p.manager);
                }
                who.filter(|w| active(w)).into_iter().collect()
            }
            Approvers::PlantRole { role, field } => {
                match req.values.get(field).and_then(Value::as_str) {
                    Some(plant) => dir.holders(role, Some(plant)),
                    None => Vec::new(),
                }
            }
            Approvers::Field { field } => req
                .values
                .get(field)
                .and_then(Value::as_str)
                .filter(|l| active(l))
                .map(str::to_owned)
                .into_iter()
                .collect(),
        };
        for login in found {
            if !out.contains(&login) {
                out.push(login);
            }
        }
    }
    if !def.allow_self_approval {
        out.retain(|l| *l != req.requester);
    }
    out
}

/// Moves the request from step `from` to the first step that needs someone: steps whose
/// condition fails are skipped, steps a rule approves are approved; past the last step the
/// request is approved.
fn advance(
    req: &mut Request,
    def: &WorkflowDef,
    from: usize,
    dir: &dyn Directory,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let roles = dir
        .person(&req.requester)
        .map(|p| p.roles)
        .unwrap_or_default();
    for (i, step) in def.steps.iter().enumerate().skip(from) {
        if let Some(when) = &step.when
            && !when.holds(&req.values, &req.requester)
        {
            req.log(
                now,
                TrailAction::Skipped,
                "system",
                Some(&step.name),
                String::new(),
            );
            continue;
        }
        if let Some(rule) = step
            .auto_approve
            .iter()
            .find(|r| r.approves(&req.values, &req.requester, &roles))
        {
            req.log(
                now,
                TrailAction::AutoApproved,
                "system",
                Some(&step.name),
                format!("approved by the rule: {}", rule.describe()),
            );
            continue;
        }
        let approvers = approvers_of(def, i, req, dir);
        if approvers.is_empty() {
            return refuse(
                "no_approver",
                format!(
                    "step {:?} has nobody to approve it for {} (its approvers: {}); the workflow or the people it names need fixing",
                    step.name,
                    req.requester,
                    describe_approvers(&def.steps[i].approvers)
                ),
            );
        }
        if let Mode::Quorum { n } = step.mode
            && approvers.len() < n as usize
        {
            return refuse(
                "no_approver",
                format!(
                    "step {:?} needs {n} approvals but only {} can approve it for {}",
                    step.name,
                    approvers.len(),
                    req.requester
                ),
            );
        }
        let today = now.date_naive();
        req.tasks = approvers
            .into_iter()
            .map(|approver| {
                let delegate = dir
                    .delegate(&approver, today)
                    .filter(|d| def.allow_self_approval || *d != req.requester)
                    .filter(|d| dir.person(d).is_some_and(|p| p.active));
                Task {
                    approver,
                    delegate,
                    decision: None,
                    escalated_to: None,
                }
            })
            .collect();
        req.step = Some(i);
        req.state = RequestState::Pending;
        req.waiting_since = Some(now);
        let who: Vec<String> = req
            .tasks
            .iter()
            .map(|t| match &t.delegate {
                Some(d) => format!("{} (for {})", d, t.approver),
                None => t.approver.clone(),
            })
            .collect();
        req.log(
            now,
            TrailAction::Assigned,
            "system",
            Some(&step.name),
            who.join(", "),
        );
        return Ok(());
    }
    req.step = None;
    req.tasks.clear();
    req.waiting_since = None;
    req.state = RequestState::Approved;
    req.log(now, TrailAction::Completed, "system", None, String::new());
    Ok(())
}

fn describe_approvers(approvers: &[Approvers]) -> String {
    approvers
        .iter()
        .map(|a| match a {
            Approvers::Role { role } => format!("role {role}"),
            Approvers::User { login } => login.clone(),
            Approvers::Manager { levels: 1 } => "the requester's manager".into(),
            Approvers::Manager { levels } => format!("the manager {levels} levels up"),
            Approvers::PlantRole { role, field } => format!("role {role} in the plant of {field}"),
            Approvers::Field { field } => format!("the user in {field}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new request of `requester` with checked `values` (see [`super::form::FormDef::validate`]):
/// on its way to the first step that needs someone, or approved already when rules and
/// conditions leave none.
pub fn submit(
    def: &WorkflowDef,
    requester: &str,
    values: BTreeMap<String, Value>,
    dir: &dyn Directory,
    now: DateTime<Utc>,
) -> Result<Request, Refusal> {
    let mut req = Request {
        requester: requester.to_owned(),
        values,
        state: RequestState::Pending,
        step: None,
        tasks: Vec::new(),
        waiting_since: None,
        trail: Vec::new(),
    };
    req.log(now, TrailAction::Submitted, requester, None, String::new());
    advance(&mut req, def, 0, dir, now)?;
    Ok(req)
}

/// `actor` decides the waiting step: approves it, refuses the request, or returns it to the
/// requester. A refusal and a return need a comment.
pub fn decide(
    req: &mut Request,
    def: &WorkflowDef,
    actor: &str,
    decision: Decision,
    comment: &str,
    dir: &dyn Directory,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if req.state != RequestState::Pending {
        return refuse(
            "not_waiting",
            format!(
                "the request is {}; only a waiting request is decided",
                req.state.as_str()
            ),
        );
    }
    let comment = comment_of(comment, decision != Decision::Approve)?;
    let Some(i) = req.task_for(actor) else {
        if actor == req.requester && !def.allow_self_approval {
            return refuse(
                "self_approval",
                "nobody approves their own request; it waits for its approvers".into(),
            );
        }
        return refuse(
            "not_assigned",
            format!("only {} can decide this step", req.waiting_on().join(", ")),
        );
    };
    let step_index = req.step.unwrap_or(0);
    let step = def.steps.get(step_index).ok_or_else(|| Refusal {
        code: "not_waiting",
        message: "the request waits at a step its workflow does not have".into(),
    })?;
    // Decide on a copy: a step that cannot be passed on leaves the request as it was.
    let mut next = req.clone();
    let approver = next.tasks[i].approver.clone();
    next.tasks[i].decision = Some(decision);
    let action = match decision {
        Decision::Approve => TrailAction::Approved,
        Decision::Reject => TrailAction::Rejected,
        Decision::Return => TrailAction::Returned,
    };
    next.trail.push(TrailEntry {
        at: now,
        action,
        by: actor.to_owned(),
        for_whom: (approver != actor).then_some(approver),
        step: Some(step.name.clone()),
        comment,
    });
    match decision {
        Decision::Reject | Decision::Return => {
            next.state = if decision == Decision::Reject {
                RequestState::Rejected
            } else {
                RequestState::Returned
            };
            next.step = None;
            next.tasks.clear();
            next.waiting_since = None;
        }
        Decision::Approve => {
            let approved = next
                .tasks
                .iter()
                .filter(|t| t.decision == Some(Decision::Approve))
                .count();
            let done = match step.mode {
                Mode::Any => true,
                Mode::All => approved == next.tasks.len(),
                Mode::Quorum { n } => approved >= n as usize,
            };
            if done {
                advance(&mut next, def, step_index + 1, dir, now)?;
            }
        }
    }
    *req = next;
    Ok(())
}

/// The requester takes back a waiting or returned request.
pub fn withdraw(
    req: &mut Request,
    actor: &str,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if actor != req.requester {
        return refuse(
            "not_requester",
            format!("only {} can withdraw their request", req.requester),
        );
    }
    if !matches!(req.state, RequestState::Pending | RequestState::Returned) {
        return refuse(
            "not_waiting",
            format!(
                "the request is {}; it cannot be withdrawn",
                req.state.as_str()
            ),
        );
    }
    let comment = comment_of(comment, false)?;
    req.state = RequestState::Withdrawn;
    req.step = None;
    req.tasks.clear();
    req.waiting_since = None;
    req.log(now, TrailAction::Withdrawn, actor, None, comment);
    Ok(())
}

/// The requester sends a returned request again, with changed (checked) values: it starts
/// over at the first step, on the same workflow version.
pub fn resubmit(
    req: &mut Request,
    def: &WorkflowDef,
    actor: &str,
    values: BTreeMap<String, Value>,
    comment: &str,
    dir: &dyn Directory,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if actor != req.requester {
        return refuse(
            "not_requester",
            format!("only {} can resubmit their request", req.requester),
        );
    }
    if req.state != RequestState::Returned {
        return refuse(
            "not_returned",
            format!(
                "the request is {}; only a returned request is resubmitted",
                req.state.as_str()
            ),
        );
    }
    let comment = comment_of(comment, false)?;
    let mut next = req.clone();
    next.values = values;
    next.log(now, TrailAction::Resubmitted, actor, None, comment);
    advance(&mut next, def, 0, dir, now)?;
    *req = next;
    Ok(())
}

/// The waiting step's time to remind has come: who is reminded (everyone who may act on it),
/// noted in the trail. Nobody once the request no longer waits, or after [`MAX_REMINDERS`].
pub fn remind(req: &mut Request, def: &WorkflowDef, now: DateTime<Utc>) -> Vec<String> {
    if req.state != RequestState::Pending || req.reminders() >= MAX_REMINDERS {
        return Vec::new();
    }
    let who = req.waiting_on();
    if who.is_empty() {
        return who;
    }
    let step = req
        .step
        .and_then(|i| def.steps.get(i))
        .map(|s| s.name.clone());
    req.log(
        now,
        TrailAction::Reminded,
        "system",
        step.as_deref(),
        who.join(", "),
    );
    who
}

/// The waiting step's time to escalate has come: each undecided approver's manager (active,
/// not the requester unless the workflow allows it) may now decide for them. Answers the
/// managers newly given a task, each with the approver they act for; noted in the trail.
pub fn escalate(
    req: &mut Request,
    def: &WorkflowDef,
    dir: &dyn Directory,
    now: DateTime<Utc>,
) -> Vec<(String, String)> {
    if req.state != RequestState::Pending {
        return Vec::new();
    }
    let mut given = Vec::new();
    for t in req
        .tasks
        .iter_mut()
        .filter(|t| t.decision.is_none() && t.escalated_to.is_none())
    {
        let manager = dir
            .person(&t.approver)
            .and_then(|p| p.manager)
            .filter(|m| *m != t.approver)
            .filter(|m| def.allow_self_approval || *m != req.requester)
            .filter(|m| dir.person(m).is_some_and(|p| p.active));
        if let Some(m) = manager {
            t.escalated_to = Some(m.clone());
            given.push((m, t.approver.clone()));
        }
    }
    let step = req
        .step
        .and_then(|i| def.steps.get(i))
        .map(|s| s.name.clone());
    let comment = if given.is_empty() {
        "no undecided approver has an active manager to escalate to".to_owned()
    } else {
        given
            .iter()
            .map(|(m, a)| format!("{m} (for {a})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    req.log(
        now,
        TrailAction::Escalated,
        "system",
        step.as_deref(),
        comment,
    );
    given
}
