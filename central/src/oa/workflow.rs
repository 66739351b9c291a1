//! Workflows as data: a form's steps, who approves each, how many must, when a step applies,
//! and when a step is approved without asking. A definition is checked when it is saved
//! ([`WorkflowDef::check`]): whatever would leave a request waiting for nobody is refused then.

use super::engine::Directory;
use super::form::{FieldKind, FormDef, amount_of};
use crate::people::roles::Role;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Most steps one workflow has.
pub const MAX_STEPS: usize = 20;
/// Most approver entries, rules or conditions one step has.
pub const MAX_PER_STEP: usize = 20;
/// How many managers up a step may go.
pub const MAX_MANAGER_LEVELS: u8 = 5;
/// How deep conditions nest.
pub const MAX_CONDITION_DEPTH: usize = 4;
/// The longest wait a reminder or an escalation may be set to: 60 working days of 8 hours.
pub const MAX_TIMER_MINUTES: u32 = 60 * 8 * 60;

/// Who approves a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum Approvers {
    /// Everyone active who holds the role.
    Role { role: String },
    /// One person.
    User { login: String },
    /// The requester's manager (`levels: 1`), their manager's manager (2), … up to
    /// [`MAX_MANAGER_LEVELS`]: one person, the one `levels` up.
    Manager { levels: u8 },
    /// Those who hold the role in the plant a field of the form names (the supervisor of the
    /// document's plant).
    PlantRole { role: String, field: String },
    /// The user a user field of the form names.
    Field { field: String },
}

/// How many of a step's approvers must approve. Any refusal refuses the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "need", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mode {
    /// One of them (also: a step with one approver).
    Any,
    /// Every one of them.
    All,
    /// At least `n` of them.
    Quorum { n: u32 },
}

/// A comparison of a field's amount (a number, or money's amount) with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

/// When a step applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "if", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A number or money field compared with `value`.
    Amount {
        field: String,
        op: Op,
        value: Decimal,
    },
    /// A field (text or choice) is one of `values`.
    OneOf {
        field: String,
        values: Vec<String>,
    },
    /// The requester is one of `logins`.
    Requester {
        logins: Vec<String>,
    },
    All {
        of: Vec<Condition>,
    },
    Any {
        of: Vec<Condition>,
    },
    Not {
        of: Box<Condition>,
    },
}

/// Approves a step without asking: for this requester (or a holder of this role), when the
/// field's amount is at most `up_to` (inclusive: 10000.00 passes a limit of 10000).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub field: String,
    pub up_to: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    pub name: String,
    pub approvers: Vec<Approvers>,
    pub mode: Mode,
    /// Absent: the step always applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auto_approve: Vec<AutoRule>,
    /// Remind the step's approvers after this many minutes of working time without a decision
    /// (and again after each such period, until the step is decided or the request ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_after_minutes: Option<u32>,
    /// After this many minutes of working time without a decision, each undecided approver's
    /// manager may decide for them, and is told so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after_minutes: Option<u32>,
}

/// Whose calendar reminders and escalations count working time on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CalendarFrom {
    /// One plant's shift calendar: `{"plant": "P1"}`.
    Plant(String),
    /// The plant a field of the request names: `{"field": "plant"}` (a request without it
    /// counts on the default calendar, around the clock).
    Field(String),
}

/// A workflow for a form. Versions are the store's: a running request keeps the version it
/// started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDef {
    pub form: String,
    pub steps: Vec<StepDef>,
    /// Whether a requester may approve a step of their own request (never, unless this says
    /// so; they are then left out of the step's approvers).
    #[serde(default)]
    pub allow_self_approval: bool,
    /// The shift calendar reminders and escalations count working time on (absent: around
    /// the clock, in UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarFrom>,
}

impl WorkflowDef {
    /// The plant whose calendar a request's timers count on.
    pub fn calendar_plant(&self, values: &BTreeMap<String, Value>) -> Option<String> {
        match self.calendar.as_ref()? {
            CalendarFrom::Plant(p) => Some(p.clone()),
            CalendarFrom::Field(f) => values.get(f).and_then(Value::as_str).map(str::to_owned),
        }
    }
}

impl Condition {
    /// Whether the condition holds for these values and requester. A field without a value
    /// compares as nothing: an `amount` condition on it is false.
    pub fn holds(&self, values: &BTreeMap<String, Value>, requester: &str) -> bool {
        match self {
            Condition::Amount { field, op, value } => {
                amount_of(values, field).is_some_and(|a| match op {
                    Op::Gt => a > *value,
                    Op::Ge => a >= *value,
                    Op::Lt => a < *value,
                    Op::Le => a <= *value,
                    Op::Eq => a == *value,
                    Op::Ne => a != *value,
                })
            }
            Condition::OneOf { field, values: any } => values
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| any.iter().any(|a| a == v)),
            Condition::Requester { logins } => logins.iter().any(|l| l == requester),
            Condition::All { of } => of.iter().all(|c| c.holds(values, requester)),
            Condition::Any { of } => of.iter().any(|c| c.holds(values, requester)),
            Condition::Not { of } => !of.holds(values, requester),
        }
    }

    fn check(&self, form: &FormDef, at: &str, depth: usize, out: &mut Vec<String>) {
        if depth > MAX_CONDITION_DEPTH {
            out.push(format!(
                "{at}: conditions nest deeper than {MAX_CONDITION_DEPTH}"
            ));
            return;
        }
        match self {
            Condition::Amount { field, .. } => match form.field(field) {
                Some(f) if f.kind.is_amount() => {}
                Some(_) => out.push(format!(
                    "{at}: {field} is not a number or money field of {}",
                    form.key
                )),
                None => out.push(format!("{at}: {} has no field {field}", form.key)),
            },
            Condition::OneOf { field, values } => {
                match form.field(field) {
                    Some(f) if matches!(f.kind, FieldKind::Text | FieldKind::Choice) => {}
                    Some(_) => out.push(format!(
                        "{at}: {field} is not a text or choice field of {}",
                        form.key
                    )),
                    None => out.push(format!("{at}: {} has no field {field}", form.key)),
                }
                if values.is_empty() || values.len() > MAX_PER_STEP {
                    out.push(format!("{at}: 1 to {MAX_PER_STEP} values"));
                }
            }
            Condition::Requester { logins } => {
                if logins.is_empty() || logins.len() > MAX_PER_STEP {
                    out.push(format!("{at}: 1 to {MAX_PER_STEP} logins"));
                }
            }
            Condition::All { of } | Condition::Any { of } => {
                if of.is_empty() || of.len() > MAX_PER_STEP {
                    out.push(format!("{at}: 1 to {MAX_PER_STEP} conditions"));
                }
                for (i, c) in of.iter().enumerate() {
                    c.check(form, &format!("{at}.of[{i}]"), depth + 1, out);
                }
            }
            Condition::Not { of } => of.check(form, &format!("{at}.of"), depth + 1, out),
        }
    }
}

impl AutoRule {
    /// Whether the rule approves for this requester (with these roles) and values.
    pub fn approves(
        &self,
        values: &BTreeMap<String, Value>,
        requester: &str,
        roles: &[String],
    ) -> bool {
        let who = match (&self.requester, &self.role) {
            (Some(login), _) if login != requester => false,
            (_, Some(role)) if !roles.contains(role) => false,
            _ => true,
        };
        who && amount_of(values, &self.field).is_some_and(|a| a <= self.up_to)
    }

    /// As the trail says it: "up to 10000 of amount for li.sales".
    pub fn describe(&self) -> String {
        let mut s = format!("{} up to {}", self.field, self.up_to.normalize());
        if let Some(r) = &self.requester {
            s.push_str(&format!(" for {r}"));
        }
        if let Some(r) = &self.role {
            s.push_str(&format!(" for role {r}"));
        }
        s
    }
}

impl WorkflowDef {
    /// Checks the definition against its form and the people there are now: every step has
    /// approvers, each of them can be someone (a role somebody active holds, an active user, a
    /// user field the form requires, a plant role's plant field), a quorum is reachable, the
    /// fields conditions and rules compare exist and hold amounts. Every problem is reported,
    /// each naming its step.
    pub fn check(&self, form: &FormDef, dir: &dyn Directory) -> Result<(), Vec<String>> {
        let mut out = Vec::new();
        if self.form != form.key {
            out.push(format!(
                "form: the workflow is for {:?}, not {:?}",
                self.form, form.key
            ));
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            out.push(format!(
                "steps: {} steps; a workflow has 1 to {MAX_STEPS}",
                self.steps.len()
            ));
        }
        let mut names = BTreeSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let at = format!("steps[{i}] ({})", step.name);
            if step.name.trim().is_empty() || step.name.len() > 200 {
                out.push(format!(
                    "steps[{i}].name: expected a name, at most 200 bytes"
                ));
            }
            if !names.insert(step.name.as_str()) {
                out.push(format!("{at}: the name appears twice"));
            }
            if step.approvers.is_empty() || step.approvers.len() > MAX_PER_STEP {
                out.push(format!(
                    "{at}: 1 to {MAX_PER_STEP} approvers; a step without approvers is one nobody can approve"
                ));
            }
            // The approvers known when the workflow is saved: roles' holders and named users.
            let mut fixed: BTreeSet<String> = BTreeSet::new();
            let mut dynamic = false;
            for a in &step.approvers {
                match a {
                    Approvers::Role { role } => {
                        if Role::parse(role).is_none() {
                            out.push(format!("{at}: there is no role {role}"));
                            continue;
                        }
                        let holders = dir.holders(role, None);
                        if holders.is_empty() {
                            out.push(format!(
                                "{at}: nobody active holds the role {role}, so nobody can approve this step"
                            ));
                        }
                        fixed.extend(holders);
                    }
                    Approvers::User { login } => {
                        if dir.person(login).is_none_or(|p| !p.active) {
                            out.push(format!(
                                "{at}: {login} is not an active user, so they cannot approve this step"
                            ));
                        } else {
                            fixed.insert(login.clone());
                        }
                    }
                    Approvers::Manager { levels } => {
                        if *levels == 0 || *levels > MAX_MANAGER_LEVELS {
                            out.push(format!(
                                "{at}: a manager 1 to {MAX_MANAGER_LEVELS} levels up, not {levels}"
                            ));
                        }
                        dynamic = true;
                    }
                    Approvers::PlantRole { role, field } => {
                        if Role::parse(role).is_none() {
                            out.push(format!("{at}: there is no role {role}"));
                        }
                        match form.field(field) {
                            Some(f) if f.required => {}
                            Some(_) => out.push(format!(
                                "{at}: the plant field {field} must be required, or a request without it has nobody to approve this step"
                            )),
                            None => out.push(format!("{at}: {} has no field {field}", form.key)),
                        }
                        dynamic = true;
                    }
                    Approvers::Field { field } => {
                        match form.field(field) {
                            Some(f) if f.kind == FieldKind::User && f.required => {}
                            Some(f) if f.kind == FieldKind::User => out.push(format!(
                                "{at}: the user field {field} must be required, or a request without it has nobody to approve this step"
                            )),
                            Some(_) => out.push(format!(
                                "{at}: {field} is not a user field of {}",
                                form.key
                            )),
                            None => out.push(format!("{at}: {} has no field {field}", form.key)),
                        }
                        dynamic = true;
                    }
                }
            }
            if let Mode::Quorum { n } = step.mode {
                if n == 0 {
                    out.push(format!("{at}: a quorum of 0 approves nothing"));
                } else if !dynamic && (n as usize) > fixed.len() {
                    out.push(format!(
                        "{at}: a quorum of {n}, but only {} can approve this step",
                        fixed.len()
                    ));
                }
            }
            if let Some(when) = &step.when {
                when.check(form, &format!("{at}.when"), 1, &mut out);
            }
            if step.auto_approve.len() > MAX_PER_STEP {
                out.push(format!("{at}: at most {MAX_PER_STEP} rules"));
            }
            for (j, rule) in step.auto_approve.iter().enumerate() {
                let rat = format!("{at}.auto_approve[{j}]");
                match form.field(&rule.field) {
                    Some(f) if f.kind.is_amount() => {}
                    Some(_) => out.push(format!(
                        "{rat}: {} is not a number or money field",
                        rule.field
                    )),
                    None => out.push(format!("{rat}: {} has no field {}", form.key, rule.field)),
                }
                if rule.requester.is_none() && rule.role.is_none() {
                    out.push(format!(
                        "{rat}: a rule names a requester or a role; one for everybody is no approval"
                    ));
                }
                if let Some(role) = &rule.role
                    && Role::parse(role).is_none()
                {
                    out.push(format!("{rat}: there is no role {role}"));
                }
                if rule.up_to.is_sign_negative() {
                    out.push(format!("{rat}: up_to {} is below 0", rule.up_to));
                }
            }
            for (name, minutes) in [
                ("remind_after_minutes", step.remind_after_minutes),
                ("escalate_after_minutes", step.escalate_after_minutes),
            ] {
                if let Some(m) = minutes
                    && !(1..=MAX_TIMER_MINUTES).contains(&m)
                {
                    out.push(format!(
                        "{at}.{name}: {m}; expected 1 to {MAX_TIMER_MINUTES} minutes of working time"
                    ));
                }
            }
        }
        match &self.calendar {
            Some(CalendarFrom::Plant(p)) if p.trim().is_empty() || p.len() > 64 => {
                out.push("calendar.plant: expected a plant's code".into());
            }
            Some(CalendarFrom::Field(f)) if form.field(f).is_none() => {
                out.push(format!("calendar.field: {} has no field {f}", form.key));
            }
            _ => {}
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }
}
