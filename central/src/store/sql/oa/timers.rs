//! Reminders, escalations and the notifications of a request's moves.

use super::{
    Connection, DateTime, FormDef, HashMap, OptionalExtension, Request, SqlDirectory, StoreError,
    Utc, WorkflowDef, Workflows, params, read_form, read_request_with, ts, write_request,
};
use crate::mes::shifts::{ShiftCalendar, ShiftCalendarSpec};
use crate::oa::engine::{self, RequestState, TrailAction};
use crate::store::oa::Fired;
use crate::store::sql::notify::{Notice, notify};
use chrono::NaiveDate;
use std::collections::HashSet;

/// The shift calendars timers count working time on, read once per transaction.
#[derive(Default)]
pub(in crate::store::sql) struct Calendars {
    by_plant: HashMap<Option<String>, ShiftCalendar>,
    holidays: Option<HashSet<NaiveDate>>,
}

impl Calendars {
    /// `minutes` of working time after `from` on `plant`'s calendar (around the clock when
    /// the plant has none, or none is named). `None` when the calendar has no such time in
    /// the next year.
    fn after(
        &mut self,
        conn: &Connection,
        plant: Option<String>,
        from: DateTime<Utc>,
        minutes: u32,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if self.holidays.is_none() {
            let spec = crate::store::sql::erp::read_calendar(conn)?;
            self.holidays = Some(spec.holidays.into_iter().collect());
        }
        if !self.by_plant.contains_key(&plant) {
            let stored: Option<String> = match &plant {
                Some(p) => conn
                    .prepare_cached("SELECT spec FROM plant_shifts WHERE plant = ?1")?
                    .query_row(params![p], |r| r.get(0))
                    .optional()?,
                None => None,
            };
            let calendar = stored
                .and_then(|s| serde_json::from_str::<ShiftCalendarSpec>(&s).ok())
                .and_then(|spec| ShiftCalendar::new(&spec).ok());
            let calendar = match calendar {
                Some(c) => c,
                None => ShiftCalendar::new(&ShiftCalendarSpec::around_the_clock())
                    .map_err(|p| StoreError::Corrupt(p.join("; ")))?,
            };
            self.by_plant.insert(plant.clone(), calendar);
        }
        let holidays = self.holidays.as_ref();
        Ok(self.by_plant.get(&plant).and_then(|c| {
            c.working_after(from, minutes, |d| holidays.is_some_and(|h| h.contains(&d)))
        }))
    }
}

/// Keeps the request's timers with its waiting step: none once it does not wait; new ones
/// (from `waiting_since`, on working time) when it waits at a new step; those it has while it
/// waits at the same step.
pub(in crate::store::sql) fn schedule(
    conn: &Connection,
    id: i64,
    before: Option<&Request>,
    after: &Request,
    def: &WorkflowDef,
    cals: &mut Calendars,
) -> Result<(), StoreError> {
    let same_step = before.is_some_and(|b| {
        b.state == RequestState::Pending && b.waiting_since == after.waiting_since
    });
    if after.state == RequestState::Pending && same_step {
        return Ok(());
    }
    conn.prepare_cached("DELETE FROM oa_timers WHERE request = ?1")?
        .execute(params![id])?;
    let (RequestState::Pending, Some(since), Some(step)) = (
        after.state,
        after.waiting_since,
        after.step.and_then(|i| def.steps.get(i)),
    ) else {
        return Ok(());
    };
    let plant = def.calendar_plant(&after.values);
    for (kind, minutes) in [
        ("remind", step.remind_after_minutes),
        ("escalate", step.escalate_after_minutes),
    ] {
        if let Some(m) = minutes
            && let Some(due) = cals.after(conn, plant.clone(), since, m)?
        {
            conn.prepare_cached(
                "INSERT INTO oa_timers (request, kind, due_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, kind, ts(due)])?;
        }
    }
    Ok(())
}

/// What a request is called in a notification: `R000001 出差申请` / `R000001 travel request`.
pub(in crate::store::sql) struct Head<'a> {
    pub id: i64,
    pub number: &'a str,
    pub form: Option<&'a FormDef>,
}

impl Head<'_> {
    fn link(&self) -> String {
        format!("/oa/requests/{}", self.id)
    }
    fn en(&self) -> String {
        match self.form {
            Some(f) => format!("{} {}", self.number, f.name_en),
            None => self.number.to_owned(),
        }
    }
    fn zh(&self) -> String {
        match self.form {
            Some(f) => format!("{} {}", self.number, f.name_zh),
            None => self.number.to_owned(),
        }
    }
    fn notice(&self, kind: &'static str, to: Vec<String>, en: String, zh: String) -> Notice {
        Notice {
            kind,
            to,
            subject: self.number.to_owned(),
            link: self.link(),
            en,
            zh,
        }
    }
}

/// Tells the people a move concerns: those a request now waits on at a new step, and the
/// requester when it ends or comes back to them.
pub(in crate::store::sql) fn tell(
    conn: &Connection,
    head: &Head<'_>,
    before: Option<&Request>,
    after: &Request,
    step_name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let step = step_name.unwrap_or("");
    let new_step = after.state == RequestState::Pending
        && before.is_none_or(|b| {
            b.state != RequestState::Pending || b.waiting_since != after.waiting_since
        });
    if new_step {
        let n = head.notice(
            "oa.waiting",
            after.waiting_on(),
            format!(
                "{} from {} waits for your approval (step {step}).",
                head.en(),
                after.requester
            ),
            format!(
                "{}：{} 的申请等待您审批（{step}）。",
                head.zh(),
                after.requester
            ),
        );
        notify(conn, &n, now)?;
    }
    let changed = before.is_none_or(|b| b.state != after.state);
    if changed && after.state != RequestState::Pending {
        let last = after.trail.iter().rev().find(|e| {
            matches!(
                e.action,
                TrailAction::Rejected | TrailAction::Returned | TrailAction::Completed
            )
        });
        let (by, comment) = last.map_or((String::new(), String::new()), |e| {
            (e.by.clone(), e.comment.clone())
        });
        let said = if comment.is_empty() {
            String::new()
        } else {
            format!(": {comment}")
        };
        let (kind, en, zh) = match after.state {
            RequestState::Approved => (
                "oa.approved",
                format!("{} is approved.", head.en()),
                format!("{} 已批准。", head.zh()),
            ),
            RequestState::Rejected => (
                "oa.rejected",
                format!("{} was rejected by {by}{said}", head.en()),
                format!("{} 被 {by} 驳回{said}", head.zh()),
            ),
            RequestState::Returned => (
                "oa.returned",
                format!("{} came back from {by} for changes{said}", head.en()),
                format!("{} 被 {by} 退回修改{said}", head.zh()),
            ),
            // The requester withdrew it: they know.
            RequestState::Withdrawn | RequestState::Pending => return Ok(()),
        };
        notify(
            conn,
            &head.notice(kind, vec![after.requester.clone()], en, zh),
            now,
        )?;
    }
    Ok(())
}

/// Tells the requester their approved request's action could not be carried out, and why.
pub(in crate::store::sql) fn tell_not_carried_out(
    conn: &Connection,
    head: &Head<'_>,
    requester: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let n = head.notice(
        "oa.not_carried_out",
        vec![requester.to_owned()],
        format!(
            "{} is approved, but it could not be carried out: {why}",
            head.en()
        ),
        format!("{} 已批准，但未能执行：{why}", head.zh()),
    );
    notify(conn, &n, now)
}

/// Fires the timers due by `now`, at most `limit`, in the caller's write transaction.
pub(in crate::store::sql) fn fire(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Fired, StoreError> {
    let due: Vec<(i64, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT request, kind FROM oa_timers WHERE due_at <= ?1 ORDER BY due_at, request LIMIT ?2",
        )?;
        stmt.query_map(params![ts(now), limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?
    };
    let mut fired = Fired::default();
    if due.is_empty() {
        return Ok(fired);
    }
    let dir = SqlDirectory::read(conn)?;
    let mut workflows: Workflows = HashMap::new();
    let mut forms: HashMap<String, Option<FormDef>> = HashMap::new();
    let mut cals = Calendars::default();
    for (id, kind) in due {
        conn.prepare_cached("DELETE FROM oa_timers WHERE request = ?1 AND kind = ?2")?
            .execute(params![id, kind])?;
        // A request that does not read (a corrupt row) loses its timer, named in the log,
        // and stops no other timer from firing.
        let current = match read_request_with(conn, id, &mut workflows) {
            Ok(Some(r)) => r,
            Ok(None) => {
                fired.stale += 1;
                continue;
            }
            Err(StoreError::Corrupt(why)) => {
                tracing::error!(request = id, %why, "an OA timer's request does not read; its timer is dropped");
                fired.stale += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(Some(workflow)) = workflows
            .get(&(current.form.clone(), current.workflow_version))
            .cloned()
        else {
            fired.stale += 1;
            continue;
        };
        if !forms.contains_key(&current.form) {
            forms.insert(current.form.clone(), read_form(conn, &current.form)?);
        }
        let head = Head {
            id,
            number: &current.number,
            form: forms.get(&current.form).and_then(Option::as_ref),
        };
        let def = &workflow.workflow;
        let mut req = current.request.clone();
        let step = current.step_name.clone().unwrap_or_default();
        match kind.as_str() {
            "remind" => {
                let who = engine::remind(&mut req, def, now);
                if who.is_empty() {
                    fired.stale += 1;
                    continue;
                }
                write_request(conn, id, &req, now)?;
                let since = req.waiting_since.map(ts).unwrap_or_default();
                let n = head.notice(
                    "oa.reminder",
                    who,
                    format!(
                        "Reminder: {} from {} still waits for your approval (step {step}, since {since}).",
                        head.en(),
                        req.requester
                    ),
                    format!(
                        "提醒：{} 的申请 {} 仍在等待您审批（{step}，自 {since}）。",
                        req.requester,
                        head.zh()
                    ),
                );
                notify(conn, &n, now)?;
                // The next reminder, one more period on, while the limit allows.
                let minutes = req
                    .step
                    .and_then(|i| def.steps.get(i))
                    .and_then(|s| s.remind_after_minutes);
                if req.reminders() < engine::MAX_REMINDERS
                    && let Some(m) = minutes
                    && let Some(next) = cals.after(conn, def.calendar_plant(&req.values), now, m)?
                {
                    conn.prepare_cached(
                        "INSERT INTO oa_timers (request, kind, due_at) VALUES (?1, 'remind', ?2)",
                    )?
                    .execute(params![id, ts(next)])?;
                }
                fired.reminders += 1;
            }
            "escalate" => {
                if req.state != RequestState::Pending {
                    fired.stale += 1;
                    continue;
                }
                let given = engine::escalate(&mut req, def, &dir, now);
                write_request(conn, id, &req, now)?;
                let mut by_manager: HashMap<String, Vec<String>> = HashMap::new();
                for (manager, approver) in given {
                    by_manager.entry(manager).or_default().push(approver);
                }
                for (manager, approvers) in by_manager {
                    let whom = approvers.join(", ");
                    let n = head.notice(
                        "oa.escalated",
                        vec![manager],
                        format!(
                            "Escalated: {} from {} has waited on {whom} too long (step {step}); you may decide for them.",
                            head.en(),
                            req.requester
                        ),
                        format!(
                            "升级：{} 的申请 {} 在 {whom} 处等待过久（{step}），您可代为审批。",
                            req.requester,
                            head.zh()
                        ),
                    );
                    notify(conn, &n, now)?;
                }
                fired.escalations += 1;
            }
            _ => fired.stale += 1,
        }
    }
    Ok(fired)
}
