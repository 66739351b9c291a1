//! The workflow engine against a small company: li (sales) reports to wang (sales manager),
//! who reports to boss; fin1..fin3 hold the approver role; sup-a supervises plant A.

use super::engine::*;
use super::form::{FormDef, Lookup, built_in};
use super::workflow::*;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
struct Company {
    people: Vec<Person>,
    plants: BTreeMap<String, Vec<String>>,
    away: Vec<(String, String, NaiveDate, NaiveDate)>,
}

impl Company {
    fn new() -> Company {
        let p = |login: &str, roles: &[&str], manager: Option<&str>| Person {
            login: login.into(),
            display_name: login.to_uppercase(),
            active: true,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            manager: manager.map(str::to_owned),
        };
        Company {
            people: vec![
                p("li", &["sales"], Some("wang")),
                p("zhao", &["sales"], Some("wang")),
                p("wang", &["sales_manager"], Some("boss")),
                p("boss", &["plant_manager"], None),
                p("deputy", &["plant_manager"], Some("boss")),
                p("fin1", &["approver"], Some("boss")),
                p("fin2", &["approver"], Some("boss")),
                p("fin3", &["approver"], Some("boss")),
                p("sup-a", &["supervisor"], Some("boss")),
                Person {
                    active: false,
                    ..p("gone", &["quality"], None)
                },
            ],
            plants: BTreeMap::from([("A".to_owned(), vec!["sup-a".to_owned(), "li".to_owned()])]),
            away: Vec::new(),
        }
    }
}

impl Directory for Company {
    fn person(&self, login: &str) -> Option<Person> {
        self.people.iter().find(|p| p.login == login).cloned()
    }

    fn holders(&self, role: &str, plant: Option<&str>) -> Vec<String> {
        self.people
            .iter()
            .filter(|p| p.active && p.roles.iter().any(|r| r == role))
            .filter(|p| {
                plant.is_none_or(|plant| {
                    self.plants
                        .get(plant)
                        .is_some_and(|ps| ps.contains(&p.login))
                })
            })
            .map(|p| p.login.clone())
            .collect()
    }

    fn delegate(&self, login: &str, day: NaiveDate) -> Option<String> {
        self.away
            .iter()
            .find(|(who, _, from, to)| who == login && *from <= day && day <= *to)
            .map(|(_, delegate, _, _)| delegate.clone())
    }
}

impl Lookup for Company {
    fn user(&self, login: &str) -> bool {
        self.person(login).is_some()
    }
    fn item(&self, item: &str) -> bool {
        item == "FRAME"
    }
    fn customer(&self, code: &str) -> bool {
        code == "C000001"
    }
    fn attachment(&self, sha256: &str) -> bool {
        sha256 == "ab".repeat(32)
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
}

fn form(key: &str) -> FormDef {
    built_in().into_iter().find(|f| f.key == key).unwrap()
}

fn values(form: &FormDef, v: Value) -> BTreeMap<String, Value> {
    let Value::Object(map) = v else { panic!() };
    form.validate(&map, &Company::new())
        .unwrap_or_else(|e| panic!("{e:?}"))
}

fn workflow(v: Value) -> WorkflowDef {
    serde_json::from_value(v).unwrap()
}

/// Travel: the manager, then the boss above 3000, who approves li's trips up to 10000
/// without being asked.
fn travel() -> WorkflowDef {
    workflow(json!({
        "form": "travel",
        "steps": [
            {"name": "manager", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"}},
            {"name": "boss", "approvers": [{"by": "user", "login": "boss"}], "mode": {"need": "any"},
             "when": {"if": "amount", "field": "budget", "op": "gt", "value": "3000"},
             "auto_approve": [{"requester": "li", "field": "budget", "up_to": "10000"}]}
        ]
    }))
}

fn trip(budget: &str) -> BTreeMap<String, Value> {
    values(
        &form("travel"),
        json!({"destination": "Canton Fair", "dates": {"from": "2026-12-14", "to": "2026-12-17"},
               "reason": "meet buyers", "budget": {"amount": budget, "currency": "CNY"}}),
    )
}

fn actions(req: &Request) -> Vec<String> {
    req.trail
        .iter()
        .map(|t| {
            let mut s = format!("{:?} {}", t.action, t.by);
            if let Some(w) = &t.for_whom {
                s.push_str(&format!(" for {w}"));
            }
            if let Some(step) = &t.step {
                s.push_str(&format!(" @{step}"));
            }
            s
        })
        .collect()
}

#[test]
fn the_built_in_forms_are_valid_and_a_bad_form_names_every_field() {
    for f in built_in() {
        assert_eq!(f.check(), Ok(()), "{}", f.key);
    }
    let keys: BTreeSet<String> = built_in().into_iter().map(|f| f.key).collect();
    assert_eq!(keys.len(), 9);
    let Value::Object(bad) = json!({
        "destination": "  ",
        "dates": {"from": "2026-12-17", "to": "2026-12-14"},
        "budget": {"amount": "12.345", "currency": "cny"},
        "hotel": "yes"
    }) else {
        panic!()
    };
    let errors: Vec<String> = form("travel")
        .validate(&bad, &Company::new())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "hotel: is not a field of the form travel",
            "destination: is required",
            "dates: ends 2026-12-14, before it starts 2026-12-17",
            "reason: is required",
            "budget: 12.345 has more than 2 decimals",
        ]
    );
    let mut map = Map::new();
    map.insert("type".into(), json!("gift"));
    map.insert("amount".into(), json!({"amount": "10", "currency": "USD"}));
    map.insert("date".into(), json!("2026-13-01"));
    map.insert("reason".into(), json!("lunch"));
    map.insert("receipt".into(), json!("cd".repeat(32)));
    let errors: Vec<String> = form("expense")
        .validate(&map, &Company::new())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "type: \"gift\" is not one of expense, cash_advance",
            "date: \"2026-13-01\" is not a date (YYYY-MM-DD)",
            format!("receipt: no attachment \"{}\"", "cd".repeat(32)).as_str(),
        ]
    );
}

#[test]
fn the_bosss_rule_approves_up_to_its_limit_inclusive_and_asks_above_it() {
    let dir = Company::new();
    let mut req = submit(&travel(), "li", trip("10000.00"), &dir, now()).unwrap();
    assert_eq!(req.waiting_on(), ["wang"]);
    decide(
        &mut req,
        &travel(),
        "wang",
        Decision::Approve,
        "",
        &dir,
        now(),
    )
    .unwrap();
    assert_eq!(req.state, RequestState::Approved);
    assert_eq!(
        actions(&req),
        [
            "Submitted li",
            "Assigned system @manager",
            "Approved wang @manager",
            "AutoApproved system @boss",
            "Completed system",
        ]
    );
    assert_eq!(
        req.trail[3].comment,
        "approved by the rule: budget up to 10000 for li"
    );

    let mut req = submit(&travel(), "li", trip("10000.01"), &dir, now()).unwrap();
    decide(
        &mut req,
        &travel(),
        "wang",
        Decision::Approve,
        "",
        &dir,
        now(),
    )
    .unwrap();
    assert_eq!(req.state, RequestState::Pending);
    assert_eq!(req.waiting_on(), ["boss"]);
    // Zhao's trips have no rule; a small one skips the boss.
    let mut req = submit(&travel(), "zhao", trip("800"), &dir, now()).unwrap();
    decide(
        &mut req,
        &travel(),
        "wang",
        Decision::Approve,
        "",
        &dir,
        now(),
    )
    .unwrap();
    assert_eq!(req.state, RequestState::Approved);
    assert!(actions(&req).contains(&"Skipped system @boss".to_owned()));
}

#[test]
fn only_the_assigned_approvers_decide_and_nobody_approves_their_own_request() {
    let dir = Company::new();
    let def = workflow(json!({
        "form": "travel",
        "steps": [{"name": "sales managers", "approvers": [{"by": "role", "role": "sales_manager"}], "mode": {"need": "any"}}]
    }));
    let mut req = submit(&def, "li", trip("500"), &dir, now()).unwrap();
    for (who, code) in [
        ("zhao", "not_assigned"),
        ("li", "self_approval"),
        ("boss", "not_assigned"),
    ] {
        let e = decide(&mut req, &def, who, Decision::Approve, "", &dir, now()).unwrap_err();
        assert_eq!(e.code, code, "{who}: {e}");
    }
    assert_eq!(req.state, RequestState::Pending);
    // Wang is the only sales manager: his own trip has nobody to approve it, and says so.
    let e = submit(&def, "wang", trip("500"), &dir, now()).unwrap_err();
    assert_eq!(e.code, "no_approver");
    assert!(
        e.message.contains("step \"sales managers\" has nobody"),
        "{e}"
    );
    // Unless the workflow allows it.
    let allowed = WorkflowDef {
        allow_self_approval: true,
        ..def
    };
    let mut req = submit(&allowed, "wang", trip("500"), &dir, now()).unwrap();
    decide(
        &mut req,
        &allowed,
        "wang",
        Decision::Approve,
        "",
        &dir,
        now(),
    )
    .unwrap();
    assert_eq!(req.state, RequestState::Approved);
}

#[test]
fn a_delegate_approves_for_the_approver_while_they_are_away() {
    let mut dir = Company::new();
    let day = now().date_naive();
    dir.away.push(("boss".into(), "deputy".into(), day, day));
    let def = workflow(json!({
        "form": "travel",
        "steps": [{"name": "boss", "approvers": [{"by": "user", "login": "boss"}], "mode": {"need": "any"}}]
    }));
    let mut req = submit(&def, "li", trip("20000"), &dir, now()).unwrap();
    assert_eq!(req.tasks[0].delegate.as_deref(), Some("deputy"));
    assert_eq!(req.waiting_on(), ["boss", "deputy"]);
    assert_eq!(req.trail[1].comment, "deputy (for boss)");
    decide(
        &mut req,
        &def,
        "deputy",
        Decision::Approve,
        "ok",
        &dir,
        now(),
    )
    .unwrap();
    assert_eq!(actions(&req)[2], "Approved deputy for boss @boss");
    assert_eq!(req.state, RequestState::Approved);
    // The requester never acts for anyone on their own request.
    dir.away = vec![("boss".into(), "li".into(), day, day)];
    let req = submit(&def, "li", trip("20000"), &dir, now()).unwrap();
    assert_eq!(req.tasks[0].delegate, None);
}

#[test]
fn a_quorum_all_and_any_refusal() {
    let dir = Company::new();
    let def = |mode: Value| {
        workflow(json!({
            "form": "expense",
            "steps": [{"name": "finance", "approvers": [{"by": "role", "role": "approver"}], "mode": mode}]
        }))
    };
    let expense = values(
        &form("expense"),
        json!({"type": "expense", "amount": {"amount": "300", "currency": "CNY"},
               "date": "2026-12-01", "reason": "taxi"}),
    );
    let two = def(json!({"need": "quorum", "n": 2}));
    let mut req = submit(&two, "li", expense.clone(), &dir, now()).unwrap();
    decide(&mut req, &two, "fin1", Decision::Approve, "", &dir, now()).unwrap();
    assert_eq!(req.state, RequestState::Pending);
    let e = decide(&mut req, &two, "fin1", Decision::Approve, "", &dir, now()).unwrap_err();
    assert_eq!(e.code, "not_assigned", "one vote each");
    decide(&mut req, &two, "fin3", Decision::Approve, "", &dir, now()).unwrap();
    assert_eq!(req.state, RequestState::Approved);

    let all = def(json!({"need": "all"}));
    let mut req = submit(&all, "li", expense.clone(), &dir, now()).unwrap();
    for who in ["fin1", "fin2"] {
        decide(&mut req, &all, who, Decision::Approve, "", &dir, now()).unwrap();
    }
    assert_eq!(req.state, RequestState::Pending);
    assert_eq!(req.waiting_on(), ["fin3"]);
    let e = decide(&mut req, &all, "fin3", Decision::Reject, " ", &dir, now()).unwrap_err();
    assert_eq!(e.code, "comment_required");
    decide(
        &mut req,
        &all,
        "fin3",
        Decision::Reject,
        "no receipt",
        &dir,
        now(),
    )
    .unwrap();
    assert_eq!(req.state, RequestState::Rejected);
    assert!(req.tasks.is_empty(), "nothing waits after a refusal");
}

#[test]
fn returned_for_changes_resubmitted_and_withdrawn() {
    let dir = Company::new();
    let def = travel();
    let mut req = submit(&def, "li", trip("20000"), &dir, now()).unwrap();
    decide(
        &mut req,
        &def,
        "wang",
        Decision::Return,
        "cheaper hotel",
        &dir,
        now(),
    )
    .unwrap();
    assert_eq!(req.state, RequestState::Returned);
    let e = resubmit(&mut req, &def, "zhao", trip("9000"), "", &dir, now()).unwrap_err();
    assert_eq!(e.code, "not_requester");
    resubmit(
        &mut req,
        &def,
        "li",
        trip("9000"),
        "hotel changed",
        &dir,
        now(),
    )
    .unwrap();
    assert_eq!(req.waiting_on(), ["wang"], "starts over at the first step");
    assert_eq!(req.values["budget"]["amount"], "9000");
    let e = withdraw(&mut req, "wang", "", now()).unwrap_err();
    assert_eq!(e.code, "not_requester");
    withdraw(&mut req, "li", "trip cancelled", now()).unwrap();
    assert_eq!(req.state, RequestState::Withdrawn);
    assert!(req.state.ended());
    let e = decide(&mut req, &def, "wang", Decision::Approve, "", &dir, now()).unwrap_err();
    assert_eq!(e.code, "not_waiting");
}

#[test]
fn conditions_choose_the_steps_a_discount_needs() {
    let dir = Company::new();
    let def = workflow(json!({
        "form": "quotation_discount",
        "steps": [
            {"name": "sales manager", "approvers": [{"by": "role", "role": "sales_manager"}], "mode": {"need": "any"},
             "when": {"if": "amount", "field": "discount_pct", "op": "gt", "value": "10"}},
            {"name": "general manager", "approvers": [{"by": "manager", "levels": 2}], "mode": {"need": "any"},
             "when": {"if": "amount", "field": "discount_pct", "op": "gt", "value": "20"}}
        ]
    }));
    let discount = |pct: &str| {
        values(
            &form("quotation_discount"),
            json!({"quotation": "Q000001/1", "customer": "C000001", "discount_pct": pct,
                   "amount": {"amount": "50000", "currency": "CNY"}}),
        )
    };
    let req = submit(&def, "li", discount("5"), &dir, now()).unwrap();
    assert_eq!(req.state, RequestState::Approved);
    let mut req = submit(&def, "li", discount("15"), &dir, now()).unwrap();
    decide(&mut req, &def, "wang", Decision::Approve, "", &dir, now()).unwrap();
    assert_eq!(req.state, RequestState::Approved);
    let mut req = submit(&def, "li", discount("25"), &dir, now()).unwrap();
    decide(&mut req, &def, "wang", Decision::Approve, "", &dir, now()).unwrap();
    assert_eq!(req.waiting_on(), ["boss"], "li's manager's manager");
}

#[test]
fn a_plant_role_goes_to_the_supervisor_of_the_documents_plant() {
    let dir = Company::new();
    let def = workflow(json!({
        "form": "material_requisition",
        "steps": [{"name": "supervisor", "approvers": [{"by": "plant_role", "role": "supervisor", "field": "plant"}], "mode": {"need": "any"}}]
    }));
    assert_eq!(def.check(&form("material_requisition"), &dir), Ok(()));
    let ask = |plant: &str| {
        values(
            &form("material_requisition"),
            json!({"work_order": "WO-1", "item": "FRAME", "qty": "4", "plant": plant, "reason": "scrap at op 20"}),
        )
    };
    let req = submit(&def, "li", ask("A"), &dir, now()).unwrap();
    assert_eq!(req.waiting_on(), ["sup-a"]);
    let e = submit(&def, "li", ask("B"), &dir, now()).unwrap_err();
    assert_eq!(e.code, "no_approver");
}

#[test]
fn a_workflow_that_cannot_finish_is_refused_when_saved_with_each_step_named() {
    let dir = Company::new();
    let def = workflow(json!({
        "form": "travel",
        "steps": [
            {"name": "quality", "approvers": [{"by": "role", "role": "quality"}], "mode": {"need": "any"}},
            {"name": "gone", "approvers": [{"by": "user", "login": "gone"}], "mode": {"need": "any"}},
            {"name": "board", "approvers": [{"by": "user", "login": "boss"}, {"by": "user", "login": "wang"}], "mode": {"need": "quorum", "n": 3}},
            {"name": "nobody", "approvers": [], "mode": {"need": "any"}},
            {"name": "far", "approvers": [{"by": "manager", "levels": 9}], "mode": {"need": "any"},
             "when": {"if": "amount", "field": "destination", "op": "gt", "value": "1"},
             "auto_approve": [{"field": "budget", "up_to": "100"}]}
        ]
    }));
    let problems = def.check(&form("travel"), &dir).unwrap_err();
    assert_eq!(
        problems,
        [
            "steps[0] (quality): nobody active holds the role quality, so nobody can approve this step",
            "steps[1] (gone): gone is not an active user, so they cannot approve this step",
            "steps[2] (board): a quorum of 3, but only 2 can approve this step",
            "steps[3] (nobody): 1 to 20 approvers; a step without approvers is one nobody can approve",
            "steps[4] (far): a manager 1 to 5 levels up, not 9",
            "steps[4] (far).when: destination is not a number or money field of travel",
            "steps[4] (far).auto_approve[0]: a rule names a requester or a role; one for everybody is no approval",
        ]
    );
    assert_eq!(travel().check(&form("travel"), &dir), Ok(()));
    assert_eq!(
        Decimal::from(10000),
        travel().steps[1].auto_approve[0].up_to
    );
}

#[test]
fn reminders_stop_at_their_limit_and_when_the_request_ends() {
    let dir = Company::new();
    let def = travel();
    let mut req = submit(&def, "li", trip("500"), &dir, now()).unwrap();
    let later = now() + chrono::Duration::hours(5);
    for k in 0..MAX_REMINDERS {
        assert_eq!(remind(&mut req, &def, later), ["wang"], "reminder {k}");
    }
    assert!(remind(&mut req, &def, later).is_empty(), "past the limit");
    assert_eq!(req.reminders(), MAX_REMINDERS);
    // A rejection ends it: no reminder after.
    decide(
        &mut req,
        &def,
        "wang",
        Decision::Reject,
        "not now",
        &dir,
        later,
    )
    .unwrap();
    assert!(remind(&mut req, &def, later).is_empty());
    assert_eq!(
        actions(&req).last().map(String::as_str),
        Some("Rejected wang @manager")
    );
}

#[test]
fn escalation_lets_the_managers_decide_for_the_undecided_approvers() {
    let dir = Company::new();
    // All three approvers must approve; fin1 has, the others wait.
    let def = workflow(json!({
        "form": "travel",
        "steps": [{"name": "finance", "approvers": [{"by": "role", "role": "approver"}],
                   "mode": {"need": "all"}}]
    }));
    let mut req = submit(&def, "li", trip("500"), &dir, now()).unwrap();
    decide(&mut req, &def, "fin1", Decision::Approve, "", &dir, now()).unwrap();
    let later = now() + chrono::Duration::hours(9);
    let given = escalate(&mut req, &def, &dir, later);
    assert_eq!(
        given,
        [
            ("boss".to_owned(), "fin2".to_owned()),
            ("boss".to_owned(), "fin3".to_owned())
        ]
    );
    assert_eq!(req.waiting_on(), ["boss", "fin2", "fin3"]);
    // A second escalation of the same step gives nobody anything new.
    assert!(escalate(&mut req, &def, &dir, later).is_empty());
    // The boss decides for fin2, then for fin3: the step is done; the trail names whom for.
    decide(&mut req, &def, "boss", Decision::Approve, "", &dir, later).unwrap();
    decide(&mut req, &def, "boss", Decision::Approve, "ok", &dir, later).unwrap();
    assert_eq!(req.state, RequestState::Approved);
    let trail = actions(&req);
    assert!(
        trail.contains(&"Escalated system @finance".to_owned()),
        "{trail:?}"
    );
    assert!(
        trail.contains(&"Approved boss for fin2 @finance".to_owned()),
        "{trail:?}"
    );
    assert!(
        trail.contains(&"Approved boss for fin3 @finance".to_owned()),
        "{trail:?}"
    );
    // Someone else still cannot.
    let mut req = submit(&def, "li", trip("500"), &dir, now()).unwrap();
    escalate(&mut req, &def, &dir, later);
    let e = decide(&mut req, &def, "wang", Decision::Approve, "", &dir, later).unwrap_err();
    assert_eq!(e.code, "not_assigned");
}

#[test]
fn escalation_never_hands_a_request_to_its_requester() {
    let dir = Company::new();
    // wang's trip waits on boss, his manager; boss has no manager, so nobody is added.
    let mut req = submit(&travel(), "wang", trip("500"), &dir, now()).unwrap();
    assert_eq!(req.waiting_on(), ["boss"]);
    assert!(escalate(&mut req, &travel(), &dir, now()).is_empty());
    assert_eq!(req.waiting_on(), ["boss"]);
    // fin1's manager is boss; on boss's own request, escalation skips him.
    let def = workflow(json!({
        "form": "travel", "allow_self_approval": false,
        "steps": [{"name": "finance", "approvers": [{"by": "user", "login": "fin1"}],
                   "mode": {"need": "any"}}]
    }));
    let mut req = submit(&def, "boss", trip("500"), &dir, now()).unwrap();
    assert!(escalate(&mut req, &def, &dir, now()).is_empty());
    assert_eq!(req.waiting_on(), ["fin1"]);
}
