//! Business actions that wait on an approval (issue 17): a sales order over the customer's
//! credit limit (`credit_override`), a quotation sent with a discount (`quotation_discount`),
//! a work order released (`work_order_release`), an MRP requisition bought
//! (`purchase_requisition`, [`super::super::purchasing`]), material beyond the BOM for a line
//! (`material_requisition`, [`super::asks`]).
//!
//! The action asks [`gate`] in its own transaction. When the form has no workflow the action
//! behaves as before (a credit refusal, a plain send or release). Otherwise the workflow is
//! run on the action's figures: steps whose conditions do not hold are skipped, so the
//! thresholds (a discount above 10 % to the sales manager, above 20 % to the general manager;
//! a release above 500 pieces to the plant's supervisor) live in the workflow, as data. A run
//! that needs nobody passes and keeps no request; one a rule approves passes and is kept (its
//! trail names the rule); one that needs someone is kept and the action waits on it. Its
//! approval then carries the action out ([`carry_out`]) in the approval's transaction: the
//! order confirmed, the quotation sent, the work order released and its plan published.

use super::timers::{self, Calendars, Head};
use super::{
    Connection, DateTime, Map, OaRequest, OptionalExtension, SqlDirectory, StoreError, Utc, Value,
    checked, next_number, params, read_form, read_request, read_workflow, ts, write_request,
};
use crate::oa::engine::{self, Directory, RequestState, TrailAction, TrailEntry};
use crate::people::roles::{Permission, Role};
use crate::store::oa::OaRefusal;
use crate::store::sql::db::Transaction;
use protocol::Plan;

/// What an action may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store::sql) enum Gate {
    /// Go on: nobody needs to approve, or the request that did has approved (its number).
    Pass(Option<String>),
    /// The action waits on this request.
    Waiting { id: i64, number: String },
    /// The form has no workflow: approvals are not in use for it.
    NoWorkflow,
    /// The approval cannot be asked (the values do not check, nobody can approve): why.
    Refused(String),
}

/// The gate of `form` for `subject` (the order, quotation or work order it is about), with
/// the action's `values`, asked by `requester`. `covers` says whether an approved request's
/// values still cover the action (the same or a smaller figure): an approval is not reused
/// for a larger one.
pub(in crate::store::sql) fn gate(
    conn: &Connection,
    form: &str,
    subject: &str,
    values: Map<String, Value>,
    requester: &str,
    now: DateTime<Utc>,
    covers: impl Fn(&OaRequest) -> bool,
) -> Result<Gate, StoreError> {
    let Some(workflow) = read_workflow(conn, form, None)? else {
        return Ok(Gate::NoWorkflow);
    };
    let Some(def) = read_form(conn, form)? else {
        return Ok(Gate::NoWorkflow);
    };
    // The latest request about the subject: waiting, or approved and still covering.
    let latest: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM oa_requests WHERE form = ?1 AND subject = ?2 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![form, subject], |r| r.get(0))
        .optional()?;
    if let Some(id) = latest
        && let Some(r) = read_request(conn, id)?
    {
        match r.request.state {
            RequestState::Pending | RequestState::Returned => {
                return Ok(Gate::Waiting {
                    id,
                    number: r.number,
                });
            }
            RequestState::Approved if covers(&r) => return Ok(Gate::Pass(Some(r.number))),
            _ => {}
        }
    }
    let dir = SqlDirectory::read(conn)?;
    let values = match checked(conn, &dir, &def, &values) {
        Ok(v) => v,
        Err(r) => {
            let why = match r {
                OaRefusal::Invalid(problems) => problems.join("; "),
                OaRefusal::NotFound(what) => what,
                OaRefusal::Refused { message, .. } => message,
            };
            return Ok(Gate::Refused(format!("the {form} form: {why}")));
        }
    };
    let request = match engine::submit(&workflow.workflow, requester, values, &dir, now) {
        Ok(r) => r,
        Err(r) => return Ok(Gate::Refused(r.message)),
    };
    let asked =
        |e: &TrailEntry| matches!(e.action, TrailAction::Assigned | TrailAction::AutoApproved);
    if request.state == RequestState::Approved && !request.trail.iter().any(asked) {
        return Ok(Gate::Pass(None));
    }
    let number = next_number(conn)?;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO oa_requests (number, form, workflow_version, requester, state, body,
                 waiting_since, created_at, updated_at, subject)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9) RETURNING id",
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
                ts(now),
                subject
            ],
            |r| r.get(0),
        )?;
    write_request(conn, id, &request, now)?;
    timers::schedule(
        conn,
        id,
        None,
        &request,
        &workflow.workflow,
        &mut Calendars::default(),
    )?;
    let step = request
        .step
        .and_then(|i| workflow.workflow.steps.get(i))
        .map(|s| s.name.clone());
    let head = Head {
        id,
        number: &number,
        form: Some(&def),
    };
    timers::tell(conn, &head, None, &request, step.as_deref(), now)?;
    Ok(if request.state == RequestState::Approved {
        Gate::Pass(Some(number))
    } else {
        Gate::Waiting { id, number }
    })
}

/// Whether an approved requisition may become a purchase order: someone approved it (or a
/// rule an administrator set did), or its requester may buy (`mrp.firm`) themselves. A
/// requisition no step asked about is otherwise only a wish: anyone may fill in the form.
fn may_buy(conn: &Connection, r: &OaRequest) -> Result<bool, StoreError> {
    holds_or_approved(conn, r, Permission::MrpFirm)
}

/// Someone approved `r` (or a rule did), or its requester holds `permission`.
fn holds_or_approved(
    conn: &Connection,
    r: &OaRequest,
    permission: Permission,
) -> Result<bool, StoreError> {
    let approved =
        |e: &TrailEntry| matches!(e.action, TrailAction::Approved | TrailAction::AutoApproved);
    if r.request.trail.iter().any(approved) {
        return Ok(true);
    }
    let dir = SqlDirectory::read(conn)?;
    Ok(dir.person(&r.request.requester).is_some_and(|p| {
        let roles: Vec<Role> = p.roles.iter().filter_map(|n| Role::parse(n)).collect();
        p.active && Role::union_of(&roles).contains(permission)
    }))
}

/// Whether an approved material requisition may let the line issue more: someone (or an
/// administrator's rule) approved it, or its requester may release work orders
/// (`work_orders.release`, the supervisor) themselves. As for a purchase requisition, anyone may fill
/// in the form.
fn may_grant(conn: &Connection, r: &OaRequest) -> Result<bool, StoreError> {
    holds_or_approved(conn, r, Permission::WorkOrdersRelease)
}

/// What carrying out an approved request did.
#[derive(Debug, Default)]
pub(in crate::store::sql) struct CarriedOut {
    /// Plans the action published (a released work order's line), for the long polls.
    pub plans: Vec<Plan>,
}

/// Carries out the action `r` approved, inside the approval's transaction: the action an
/// ERP or CRM decision waited on (its `subject`), or what an approved form does by itself (a
/// trip or leave blocked in the roster and a trip's booking task for the office,
/// [`super::follow_up`]; a purchase requisition ordered from its supplier). A refusal (the
/// order changed meanwhile, the work order is no longer planned, the item has no supplier)
/// leaves the action undone and is written to the trail and told to the requester; the
/// approval stands.
pub(in crate::store::sql) fn carry_out(
    tx: &Transaction<'_>,
    r: &mut OaRequest,
    now: DateTime<Utc>,
) -> Result<CarriedOut, StoreError> {
    let subject: Option<String> = tx
        .prepare_cached("SELECT subject FROM oa_requests WHERE id = ?1")?
        .query_row(params![r.id], |row| row.get(0))
        .optional()?
        .flatten();
    let requester = r.request.requester.clone();
    let amount = |field: &str| {
        r.request
            .values
            .get(field)
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<rust_decimal::Decimal>().ok())
            .unwrap_or_default()
    };
    // A savepoint, so a refused action leaves nothing half done.
    tx.execute_batch("SAVEPOINT carry_out")?;
    let done =
        |o: Result<Result<String, String>, StoreError>| o.map(|o| o.map(|d| (d, Vec::new())));
    let outcome: Result<Result<(String, Vec<Plan>), String>, StoreError> = match (
        r.form.as_str(),
        subject,
    ) {
        ("travel", _) => done(super::follow_up::travel_approved(tx, r, now)),
        ("leave", _) => done(super::follow_up::leave_approved(tx, r, now)),
        ("purchase_requisition", _) if !may_buy(tx, r)? => Ok(Err(format!(
            "{requester} may not buy (mrp.firm), and nobody approved the requisition"
        ))),
        ("purchase_requisition", _) => {
            let values: Map<String, Value> = r.request.values.clone().into_iter().collect();
            done(
                super::super::purchasing::order_from_values(
                    tx,
                    &values,
                    Some(&r.number),
                    &requester,
                    now,
                )
                .map(|o| o.map(|n| format!("purchase order {n} placed"))),
            )
        }
        ("credit_override", Some(subject)) => {
            match super::super::sales::confirm_approved(tx, &subject, &requester, now) {
                Ok(Ok(())) => super::super::deliveries::republish_shipping(tx)
                    .map(|plans| Ok((format!("sales order {subject} confirmed"), plans))),
                Ok(Err(why)) => Ok(Err(why)),
                Err(e) => Err(e),
            }
        }
        ("quotation_discount", Some(subject)) => super::super::sales::send_approved(
            tx,
            &subject,
            amount("discount_pct"),
            &requester,
            now,
        )
        .map(|o| o.map(|()| (format!("quotation {subject} sent"), Vec::new()))),
        (super::asks::FORM, _) if !may_grant(tx, r)? => Ok(Err(format!(
            "{requester} may not grant material (work_orders.release), and nobody approved the requisition"
        ))),
        (super::asks::FORM, subject) => super::asks::approved(tx, r, subject.as_deref(), now),
        ("work_order_release", Some(subject)) => {
            super::super::work_orders::release_approved(tx, &subject, &requester, now)
                .map(|o| o.map(|plans| (format!("work order {subject} released"), plans)))
        }
        _ => Ok(Ok((String::new(), Vec::new()))),
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            tx.execute_batch("ROLLBACK TO SAVEPOINT carry_out; RELEASE SAVEPOINT carry_out")?;
            return Err(e);
        }
    };
    let (comment, plans) = match outcome {
        Ok((done, plans)) => {
            tx.execute_batch("RELEASE SAVEPOINT carry_out")?;
            (done, plans)
        }
        Err(why) => {
            tx.execute_batch("ROLLBACK TO SAVEPOINT carry_out; RELEASE SAVEPOINT carry_out")?;
            let form = read_form(tx, &r.form)?;
            let head = Head {
                id: r.id,
                number: &r.number,
                form: form.as_ref(),
            };
            timers::tell_not_carried_out(tx, &head, &requester, &why, now)?;
            (format!("not carried out: {why}"), Vec::new())
        }
    };
    if !comment.is_empty() {
        r.request.trail.push(TrailEntry {
            at: now,
            action: TrailAction::CarriedOut,
            by: "system".into(),
            for_whom: None,
            step: None,
            comment,
        });
        write_request(tx, r.id, &r.request, now)?;
    }
    Ok(CarriedOut { plans })
}
