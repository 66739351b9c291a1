//! Issue 17, material requisitions from the line, on both stores: an operator's ask at the
//! terminal (a `material_requested` event) becomes a `material_requisition` request on their
//! behalf, waits for the supervisor of the line's plant, and goes down with the plan as
//! waiting, approved or rejected; asked twice (a batch sent again) it is one request; one
//! that cannot be asked is rejected with why, and never fails ingest. Without a workflow the
//! plant approves requisitions at once. One filled in at central goes down the same way.

use crate::crm::{person, post};
use crate::oa_gates::{all_requests, approve, carried_out, request_id, workflow};
use crate::work_orders::{act, create, ok, plant, poll, put, send};
use crate::*;
use protocol::{Plan, PlanRequisition, RequisitionState};

fn asked(seq: u64, item: &str, qty: &str, uom: &str) -> Event {
    let mut e = event("line-1", seq);
    e.source.station = Some("st-10".into());
    e.kind = EventKind::MaterialRequested {
        work_order: "WO-1".into(),
        operation: 10,
        item: item.into(),
        qty: qty.parse().unwrap(),
        uom: uom.into(),
        operator: "10442".into(),
        reason: "coil end scrapped at set-up".into(),
    };
    e
}

/// The plan's requisition `id`.
fn of<'a>(plan: &'a Plan, id: &str) -> &'a PlanRequisition {
    plan.requisitions
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no requisition {id} in {:?}", plan.requisitions))
}

#[tokio::test]
async fn issue_17_a_requisition_asked_at_the_line_waits_for_the_supervisor_and_goes_down_with_the_plan()
 {
    let h = Harness::new().await;
    let token = plant(&h).await;
    let sup = person(&h, "sup.default", "supervisor", None).await;
    let pan = person(&h, "pan.planner", "planner", None).await;
    // The operator's badge is a user's: the request is theirs.
    ok(&put(
        &h,
        "/api/v1/users/li.wei",
        json!({"display_name": "Li Wei", "roles": ["viewer"], "plants": ["default"],
               "password": "a long enough password 1", "badge": "10442"}),
    )
    .await);
    workflow(
        &h,
        "material_requisition",
        json!([{"name": "supervisor", "approvers": [{"by": "plant_role", "role": "supervisor", "field": "plant"}],
                "mode": {"need": "any"}}]),
    )
    .await;
    create(&h, "WO-1", "100").await;
    ok(&act(&h, "WO-1", "release").await);
    let first = poll(&h, &token, 0).await;
    assert!(first.requisitions.is_empty(), "{:?}", first.requisitions);

    // 25 kg more steel, asked at st-10: a request on Li Wei's behalf, waiting for the
    // supervisor, and a new plan that says so.
    let steel = asked(1, "STEEL", "25", "kg");
    let steel_id = steel.id.0.to_string();
    let reply = send(&h, &token, std::slice::from_ref(&steel)).await;
    assert_eq!(reply["acked_through"], 1, "{reply}");
    let plan = poll(&h, &token, first.version.0).await;
    let r = of(&plan, &steel_id);
    assert_eq!(
        (
            r.state,
            r.work_order.as_str(),
            r.operation,
            r.item.as_str(),
            r.qty,
            r.uom.as_str()
        ),
        (
            RequisitionState::Waiting,
            "WO-1",
            Some(10),
            "STEEL",
            "25".parse().unwrap(),
            "kg"
        )
    );
    let number = r.number.clone().expect("a request number");
    let requests = all_requests(&h).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        (
            &requests[0]["form"],
            &requests[0]["requester"],
            &requests[0]["state"]
        ),
        (
            &json!("material_requisition"),
            &json!("li.wei"),
            &json!("pending")
        )
    );
    let id = request_id(&h, &number).await;
    let request = h.get(&format!("/api/v1/oa/requests/{id}"), ADMIN).await;
    assert_eq!(
        request.json["waiting_on"],
        json!(["sup.default"]),
        "{}",
        request.json
    );
    let values = &request.json["values"];
    assert_eq!(
        (
            &values["work_order"],
            &values["item"],
            &values["qty"],
            &values["plant"]
        ),
        (
            &json!("WO-1"),
            &json!("STEEL"),
            &json!("25"),
            &json!("default")
        ),
        "{values}"
    );
    assert!(
        values["reason"]
            .as_str()
            .unwrap()
            .starts_with("coil end scrapped at set-up (station st-10"),
        "{values}"
    );
    // The same batch again (the edge did not hear the ack): still one request.
    send(&h, &token, std::slice::from_ref(&steel)).await;
    assert_eq!(all_requests(&h).await.len(), 1);

    // The supervisor approves on his phone: the plan lets the line issue it.
    let approved = approve(&h, &sup, id).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.json);
    assert_eq!(
        carried_out(&approved.json["trail"]),
        ["material for WO-1 approved for the line"]
    );
    let plan = poll(&h, &token, plan.version.0).await;
    let r = of(&plan, &steel_id);
    assert_eq!(
        (r.state, r.decided_by.as_deref(), r.comment.as_deref()),
        (RequisitionState::Approved, Some("sup.default"), Some("ok"))
    );
    assert_eq!(plan.allowance("WO-1", 10, "STEEL"), "25".parse().unwrap());

    // Bolts, rejected with a reason: the plan says so, and nothing more is allowed.
    let bolts = asked(2, "BOLT", "40", "ea");
    let bolts_id = bolts.id.0.to_string();
    send(&h, &token, &[bolts]).await;
    let plan = poll(&h, &token, plan.version.0).await;
    let bolt_request = request_id(&h, of(&plan, &bolts_id).number.as_deref().unwrap()).await;
    let rejected = post(
        &h,
        &sup,
        &format!("/api/v1/oa/requests/{bolt_request}/reject"),
        json!({"comment": "take them from the spare box"}),
    )
    .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.json);
    let plan = poll(&h, &token, plan.version.0).await;
    let r = of(&plan, &bolts_id);
    assert_eq!(
        (r.state, r.decided_by.as_deref(), r.comment.as_deref()),
        (
            RequisitionState::Rejected,
            Some("sup.default"),
            Some("take them from the spare box")
        )
    );
    assert_eq!(
        plan.allowance("WO-1", 10, "BOLT"),
        rust_decimal::Decimal::ZERO
    );

    // An item central does not know: rejected with why, no request, and ingest goes on.
    let nope = asked(3, "NO-SUCH-ITEM", "1", "ea");
    let nope_id = nope.id.0.to_string();
    let reply = send(&h, &token, &[nope]).await;
    assert_eq!(reply["acked_through"], 3, "{reply}");
    let plan = poll(&h, &token, plan.version.0).await;
    let r = of(&plan, &nope_id);
    assert_eq!(
        (r.state, r.number.as_deref()),
        (RequisitionState::Rejected, None)
    );
    let why = r.comment.as_deref().unwrap();
    assert!(
        why.contains("material_requisition form") && why.contains("NO-SUCH-ITEM"),
        "{why}"
    );
    assert_eq!(all_requests(&h).await.len(), 2);

    // A planner fills one in at central: for the order's whole routing, once approved.
    let filled = post(
        &h,
        &pan,
        "/api/v1/oa/requests",
        json!({"form": "material_requisition", "values": {
            "work_order": "WO-1", "item": "STEEL", "qty": "5", "plant": "default",
            "reason": "trial run"}}),
    )
    .await;
    assert_eq!(filled.status, StatusCode::CREATED, "{}", filled.json);
    let filled_number = filled.json["number"].as_str().unwrap().to_owned();
    let approved = approve(&h, &sup, filled.json["id"].as_i64().unwrap()).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.json);
    let plan = poll(&h, &token, plan.version.0).await;
    let r = of(&plan, &filled_number);
    assert_eq!(
        (r.state, r.operation, r.uom.as_str(), r.number.as_deref()),
        (
            RequisitionState::Approved,
            None,
            "kg",
            Some(filled_number.as_str())
        )
    );
    assert_eq!(plan.allowance("WO-1", 10, "STEEL"), "30".parse().unwrap());
}

#[tokio::test]
async fn issue_17_without_a_workflow_the_plant_approves_requisitions_at_once() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    create(&h, "WO-1", "100").await;
    ok(&act(&h, "WO-1", "release").await);
    let first = poll(&h, &token, 0).await;
    let steel = asked(1, "STEEL", "25", "kg");
    send(&h, &token, std::slice::from_ref(&steel)).await;
    let plan = poll(&h, &token, first.version.0).await;
    let r = of(&plan, &steel.id.0.to_string());
    assert_eq!(
        (r.state, r.number.as_deref(), r.comment.as_deref()),
        (
            RequisitionState::Approved,
            None,
            Some("approved: requisitions need no approval here")
        )
    );
    assert!(all_requests(&h).await.is_empty());
}
