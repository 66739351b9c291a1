//! Issue 17, the ERP's and the CRM's decisions put through OA, on both stores: a sales order
//! over the customer's credit limit waits for finance and is confirmed by the approval; a
//! quotation's discount goes to the sales manager above 10 % and on to the general manager
//! above 20 %, and is sent by the last approval; a work order released above 500 pieces
//! waits for its plant's supervisor, and its plan goes down to the line only when approved.

use crate::crm::{Team, get, person, post, team};
use crate::people::Session;
use crate::work_orders::{act, create, plant, poll};
use crate::*;

pub(crate) async fn workflow(h: &Harness, form: &str, steps: Value) {
    let reply = h
        .call(
            Method::PUT,
            &format!("/api/v1/oa/workflows/{form}"),
            Some(ADMIN),
            Some(json!({"form": form, "steps": steps})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
}

fn request_of(message: &str) -> String {
    let at = message.find('R').expect("a request number");
    message[at..at + 7].to_owned()
}

/// Every request, newest first, as an administrator lists them.
pub(crate) async fn all_requests(h: &Harness) -> Vec<Value> {
    let all = h
        .call(
            Method::GET,
            "/api/v1/oa/requests?view=all",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.json);
    all.json["requests"].as_array().unwrap().clone()
}

pub(crate) async fn request_id(h: &Harness, number: &str) -> i64 {
    let all = all_requests(h).await;
    all.iter()
        .find(|r| r["number"] == number)
        .unwrap_or_else(|| panic!("no request {number}: {all:?}"))["id"]
        .as_i64()
        .unwrap()
}

/// `s` approves request `id`.
pub(crate) async fn approve(h: &Harness, s: &Session, id: i64) -> Reply {
    post(
        h,
        s,
        &format!("/api/v1/oa/requests/{id}/approve"),
        json!({"comment": "ok"}),
    )
    .await
}

/// `s` asks for `action` on `path`; it waits on an approval: the request's id and the message.
async fn waits(h: &Harness, s: &Session, path: &str) -> (i64, String) {
    let reply = post(h, s, path, json!({})).await;
    let message = reply
        .assert_error(StatusCode::CONFLICT, "awaiting_approval")
        .to_owned();
    (request_id(h, &request_of(&message)).await, message)
}

pub(crate) fn carried_out(trail: &Value) -> Vec<String> {
    trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "carried_out")
        .map(|e| e["comment"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn issue_17_credit_overrides_and_discounts_wait_for_their_approvers() {
    let h = Harness::new().await;
    crate::sales::catalogue(&h).await;
    let Team { chen, li, .. } = team(&h).await;
    let fin = person(&h, "fin.ma", "approver", None).await;
    let boss = person(&h, "boss.gm", "plant_manager", None).await;
    workflow(
        &h,
        "credit_override",
        json!([{"name": "finance", "approvers": [{"by": "role", "role": "approver"}], "mode": {"need": "any"}}]),
    )
    .await;
    workflow(
        &h,
        "quotation_discount",
        json!([
            {"name": "sales manager", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"},
             "when": {"if": "amount", "field": "discount_pct", "op": "gt", "value": "10"}},
            {"name": "general manager", "approvers": [{"by": "user", "login": "boss.gm"}], "mode": {"need": "any"},
             "when": {"if": "amount", "field": "discount_pct", "op": "gt", "value": "20"}}
        ]),
    )
    .await;
    let acme = crate::sales::customer(
        &h,
        &li,
        json!({"name_en": "Acme Bikes", "credit_limit": "1000"}),
    )
    .await;

    // Over the limit: not refused, but sent to finance; the order waits as a draft.
    let order = post(
        &h,
        &li,
        "/api/v1/sales-orders",
        json!({"customer": acme, "lines": [{"item": "FRAME", "qty": "12"}]}),
    )
    .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.json);
    let so = order.json["id"].as_i64().unwrap();
    let number = order.json["number"].as_str().unwrap().to_owned();
    let reply = post(
        &h,
        &li,
        &format!("/api/v1/sales-orders/{so}/confirm"),
        json!({}),
    )
    .await;
    let message = reply
        .assert_error(StatusCode::CONFLICT, "awaiting_approval")
        .to_owned();
    assert!(message.contains("credit limit of 1000 by 200"), "{message}");
    assert!(message.contains("credit-limit override R"), "{message}");
    let request = request_of(&message);
    // Asking again finds the same request, not a second one.
    let again = post(
        &h,
        &li,
        &format!("/api/v1/sales-orders/{so}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(
        request_of(again.assert_error(StatusCode::CONFLICT, "awaiting_approval")),
        request
    );
    let doc = get(&h, &li, &format!("/api/v1/sales-orders/{so}"))
        .await
        .json;
    assert_eq!(doc["status"], "draft");
    let inbox = get(&h, &fin, "/api/v1/oa/requests?view=inbox").await;
    assert_eq!(
        inbox.json["requests"][0]["number"], request,
        "{}",
        inbox.json
    );
    let id = request_id(&h, &request).await;
    let r = get(&h, &fin, &format!("/api/v1/oa/requests/{id}"))
        .await
        .json;
    assert_eq!(r["values"]["order"], number);
    assert_eq!(r["values"]["over_by"]["amount"], "200");
    // The salesperson cannot approve it; finance can, and the order is confirmed by it.
    let reply = approve(&h, &li, id).await;
    reply.assert_error(StatusCode::CONFLICT, "self_approval");
    let reply = post(
        &h,
        &fin,
        &format!("/api/v1/oa/requests/{id}/approve"),
        json!({"comment": "paid on time for years"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        carried_out(&reply.json["trail"]),
        [format!("sales order {number} confirmed")]
    );
    let doc = get(&h, &li, &format!("/api/v1/sales-orders/{so}"))
        .await
        .json;
    assert_eq!(doc["status"], "confirmed", "{doc}");
    let actions: Vec<&str> = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"credit_override_asked"), "{actions:?}");
    assert!(actions.contains(&"credit_override"), "{actions:?}");
    assert_eq!(actions.last(), Some(&"confirmed"), "{actions:?}");

    // Discounts: 5 % goes out at once, no request kept.
    let quote = |pct: &str| json!({"customer": acme, "lines": [{"item": "FRAME", "qty": "2", "discount_pct": pct}]});
    let before = all_requests(&h).await.len();
    let q5 = post(&h, &li, "/api/v1/quotations", quote("5")).await.json["id"]
        .as_i64()
        .unwrap();
    let reply = post(&h, &li, &format!("/api/v1/quotations/{q5}/send"), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["status"], "sent");
    let after = all_requests(&h).await.len();
    assert_eq!(
        after, before,
        "a discount no step asks about keeps no request"
    );

    // 15 %: the sales manager; sent when he approves.
    let q15 = post(&h, &li, "/api/v1/quotations", quote("15")).await.json["id"]
        .as_i64()
        .unwrap();
    let (id, message) = waits(&h, &li, &format!("/api/v1/quotations/{q15}/send")).await;
    assert!(
        message.contains("a discount of 15 % needs approval"),
        "{message}"
    );
    let reply = approve(&h, &chen, id).await;
    assert_eq!(reply.json["state"], "approved", "{}", reply.json);
    let doc = get(&h, &li, &format!("/api/v1/quotations/{q15}"))
        .await
        .json;
    assert_eq!(doc["status"], "sent", "{doc}");

    // 25 %: the sales manager, then the general manager.
    let q25 = post(&h, &li, "/api/v1/quotations", quote("25")).await.json["id"]
        .as_i64()
        .unwrap();
    let (id, message) = waits(&h, &li, &format!("/api/v1/quotations/{q25}/send")).await;
    assert!(message.contains("25 %"), "{message}");
    let reply = approve(&h, &chen, id).await;
    assert_eq!(reply.json["state"], "pending");
    assert_eq!(reply.json["waiting_on"], json!(["boss.gm"]));
    assert_eq!(
        get(&h, &li, &format!("/api/v1/quotations/{q25}"))
            .await
            .json["status"],
        "draft"
    );
    let reply = approve(&h, &boss, id).await;
    assert_eq!(reply.json["state"], "approved", "{}", reply.json);
    let reference = format!(
        "{}/1",
        get(&h, &li, &format!("/api/v1/quotations/{q25}"))
            .await
            .json["number"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        carried_out(&reply.json["trail"]),
        [format!("quotation {reference} sent")]
    );
    assert_eq!(
        get(&h, &li, &format!("/api/v1/quotations/{q25}"))
            .await
            .json["status"],
        "sent"
    );
}

#[tokio::test]
async fn issue_17_a_large_release_waits_for_the_plants_supervisor_before_its_plan_goes_down() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    let sup = person(&h, "sup.default", "supervisor", None).await;
    workflow(
        &h,
        "work_order_release",
        json!([{"name": "supervisor", "approvers": [{"by": "plant_role", "role": "supervisor", "field": "plant"}],
                "mode": {"need": "any"},
                "when": {"if": "amount", "field": "qty", "op": "gt", "value": "500"}}]),
    )
    .await;
    // 100 pieces: released at once, into the plan.
    create(&h, "WO-1", "100").await;
    let reply = act(&h, "WO-1", "release").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let plan = poll(&h, &token, 0).await;
    let released: Vec<&str> = plan
        .work_orders
        .iter()
        .map(|w| w.work_order.as_str())
        .collect();
    assert_eq!(released, ["WO-1"]);
    let have = plan.version.0;

    // 800: waits for the supervisor; the line's plan does not have it.
    create(&h, "WO-2", "800").await;
    let reply = act(&h, "WO-2", "release").await;
    let message = reply
        .assert_error(StatusCode::CONFLICT, "awaiting_approval")
        .to_owned();
    assert!(
        message.contains("releasing 800 of work order WO-2 needs approval"),
        "{message}"
    );
    let wo = h.get("/api/v1/work-orders/WO-2", ADMIN).await;
    assert_eq!(wo.json["state"], "planned", "{}", wo.json);
    let none = h
        .get(&format!("/api/v1/sync/plan?have={have}&wait_ms=0"), &token)
        .await;
    assert_eq!(
        none.status,
        StatusCode::NO_CONTENT,
        "no new plan: {}",
        none.json
    );

    let inbox = get(&h, &sup, "/api/v1/oa/requests?view=inbox").await;
    let id = inbox.json["requests"][0]["id"].as_i64().unwrap();
    let r = get(&h, &sup, &format!("/api/v1/oa/requests/{id}"))
        .await
        .json;
    assert_eq!(r["values"]["work_order"], "WO-2");
    assert_eq!(r["values"]["plant"], "default");
    let reply = post(
        &h,
        &sup,
        &format!("/api/v1/oa/requests/{id}/approve"),
        json!({"comment": "material is there"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        carried_out(&reply.json["trail"]),
        ["work order WO-2 released"]
    );
    let wo = h.get("/api/v1/work-orders/WO-2", ADMIN).await;
    assert_eq!(wo.json["state"], "released", "{}", wo.json);
    let plan = poll(&h, &token, have).await;
    let mut released: Vec<&str> = plan
        .work_orders
        .iter()
        .map(|w| w.work_order.as_str())
        .collect();
    released.sort();
    assert_eq!(released, ["WO-1", "WO-2"]);
}
