//! Issue 17, OA through the API on both stores: a workflow saved in versions and checked when
//! saved, a travel request through the manager and the boss's rule (inclusive of its limit),
//! the inbox, no self-approval, only the assigned approver or their delegate, a request that
//! keeps its workflow version, returned and resubmitted.

use crate::crm::{Team, get, person, post, team};
use crate::*;

/// A trip in a week of its own: an approved trip blocks its days, and the same person may
/// not ask for them again.
pub(crate) fn trip_week() -> (String, String) {
    static WEEKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WEEKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let from = chrono::NaiveDate::from_ymd_opt(2027, 4, 12).unwrap() + chrono::Days::new(7 * n);
    (from.to_string(), (from + chrono::Days::new(4)).to_string())
}

fn travel(budget: &str) -> Value {
    let (from, to) = trip_week();
    json!({"form": "travel", "values": {
        "destination": "Canton Fair, Guangzhou",
        "dates": {"from": from, "to": to},
        "reason": "meet buyers at the fair",
        "budget": {"amount": budget, "currency": "CNY"}
    }})
}

#[tokio::test]
async fn issue_17_a_travel_request_goes_through_the_manager_and_the_bosss_rule() {
    let h = Harness::new().await;
    let Team { chen, li, zhao, .. } = team(&h).await;
    let boss = person(&h, "boss.gm", "plant_manager", None).await;

    // A step nobody can approve is refused when the workflow is saved, named.
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/oa/workflows/travel",
            Some(ADMIN),
            Some(json!({"form": "travel", "steps": [
                {"name": "quality", "approvers": [{"by": "role", "role": "quality"}], "mode": {"need": "any"}}
            ]})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.json
    );
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("steps[0] (quality): nobody active holds the role quality"),
        "{}",
        reply.json
    );
    // The manager, then the boss above 3000; the boss approves li's trips up to 10000 himself.
    let workflow = json!({"form": "travel", "steps": [
        {"name": "manager", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"}},
        {"name": "boss", "approvers": [{"by": "user", "login": "boss.gm"}], "mode": {"need": "any"},
         "when": {"if": "amount", "field": "budget", "op": "gt", "value": "3000"},
         "auto_approve": [{"requester": "li.sales", "field": "budget", "up_to": "10000"}]}
    ]});
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/oa/workflows/travel",
            Some(ADMIN),
            Some(workflow),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(reply.json["version"], 1);
    // Only administrators change workflows.
    let reply = crate::crm::put_as(
        &h,
        &chen,
        "/api/v1/oa/workflows/travel",
        json!({"form": "travel", "steps": []}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.json);

    // A form with a missing and a bad field is refused, each named.
    let reply = post(
        &h,
        &li,
        "/api/v1/oa/requests",
        json!({"form": "travel", "values": {"destination": "Canton Fair", "dates": {"from": "2027-04-19", "to": "2027-04-15"},
               "budget": {"amount": "100", "currency": "CNY"}}}),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.json
    );
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("dates: ends 2027-04-15, before it starts 2027-04-19")
            && message.contains("reason: is required"),
        "{message}"
    );

    // 10000.00: the manager approves, the boss's rule approves the rest.
    let reply = post(&h, &li, "/api/v1/oa/requests", travel("10000.00")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let first = reply.json["id"].as_i64().unwrap();
    assert_eq!(reply.json["number"], "R000001");
    assert_eq!(reply.json["state"], "pending");
    assert_eq!(reply.json["step_name"], "manager");
    assert_eq!(reply.json["waiting_on"], json!(["chen.mgr"]));
    let uri = |id: i64, action: &str| format!("/api/v1/oa/requests/{id}/{action}");
    let reply = post(&h, &li, &uri(first, "approve"), json!({})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.json);
    assert_eq!(reply.error_code(), "self_approval");
    // Zhao has nothing to do with it: for him it does not exist.
    let reply = post(&h, &zhao, &uri(first, "approve"), json!({})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.json);
    let inbox = get(&h, &chen, "/api/v1/oa/requests?view=inbox").await;
    assert_eq!(inbox.json["requests"][0]["id"], first, "{}", inbox.json);
    let reply = post(&h, &chen, &uri(first, "approve"), json!({"comment": "go"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["state"], "approved", "{}", reply.json);
    let trail = reply.json["trail"].as_array().unwrap().clone();
    let auto = trail
        .iter()
        .find(|t| t["action"] == "auto_approved")
        .unwrap_or_else(|| panic!("{trail:?}"));
    assert_eq!(auto["step"], "boss");
    assert_eq!(
        auto["comment"],
        "approved by the rule: budget up to 10000 for li.sales"
    );
    assert_eq!(
        get(&h, &chen, "/api/v1/oa/requests?view=inbox").await.json["requests"],
        json!([])
    );

    // 10000.01 goes to the boss, who is away today: zhao acts for him.
    let today = chrono::Utc::now().date_naive().to_string();
    let reply = post(
        &h,
        &boss,
        "/api/v1/oa/delegations",
        json!({"delegate": "zhao.sales", "from": today, "to": today}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let reply = post(&h, &li, "/api/v1/oa/requests", travel("10000.01")).await;
    let second = reply.json["id"].as_i64().unwrap();
    let reply = post(&h, &chen, &uri(second, "approve"), json!({})).await;
    assert_eq!(reply.json["step_name"], "boss", "{}", reply.json);
    assert_eq!(reply.json["waiting_on"], json!(["boss.gm", "zhao.sales"]));

    // A new version of the workflow (no boss) leaves the running request on version 1.
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/oa/workflows/travel",
            Some(ADMIN),
            Some(json!({"form": "travel", "steps": [
                {"name": "manager", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"}}
            ]})),
        )
        .await;
    assert_eq!(reply.json["version"], 2, "{}", reply.json);
    let reply = get(&h, &li, &format!("/api/v1/oa/requests/{second}")).await;
    assert_eq!(reply.json["workflow_version"], 1);
    assert_eq!(reply.json["step_name"], "boss");
    let reply = post(
        &h,
        &zhao,
        &uri(second, "approve"),
        json!({"comment": "for the boss"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["state"], "approved");
    let approved = reply.json["trail"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["action"] == "approved" && t["step"] == "boss")
        .cloned()
        .unwrap();
    assert_eq!(
        (approved["by"].as_str(), approved["for_whom"].as_str()),
        (Some("zhao.sales"), Some("boss.gm"))
    );

    // Returned for changes with a comment, resubmitted, waiting on the manager again (v2).
    let reply = post(&h, &li, "/api/v1/oa/requests", travel("2000")).await;
    let third = reply.json["id"].as_i64().unwrap();
    assert_eq!(reply.json["workflow_version"], 2);
    let reply = post(&h, &chen, &uri(third, "return"), json!({})).await;
    assert_eq!(reply.error_code(), "comment_required");
    let reply = post(
        &h,
        &chen,
        &uri(third, "return"),
        json!({"comment": "cheaper hotel"}),
    )
    .await;
    assert_eq!(reply.json["state"], "returned", "{}", reply.json);
    let mut changed = travel("1500")["values"].clone();
    changed["reason"] = json!("meet buyers; hotel changed");
    let reply = post(
        &h,
        &li,
        &uri(third, "resubmit"),
        json!({"values": changed, "comment": "cheaper hotel booked"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["state"], "pending");
    assert_eq!(reply.json["waiting_on"], json!(["chen.mgr"]));
    assert_eq!(reply.json["values"]["budget"]["amount"], "1500");

    // Li's own list; every request only for administrators.
    let mine = get(&h, &li, "/api/v1/oa/requests").await.json;
    let ids: Vec<i64> = mine["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [third, second, first]);
    let pending = get(&h, &li, "/api/v1/oa/requests?state=pending").await.json;
    assert_eq!(pending["requests"].as_array().unwrap().len(), 1);
    assert_eq!(
        get(&h, &li, "/api/v1/oa/requests?view=all").await.status,
        StatusCode::FORBIDDEN
    );
    let all = h.get("/api/v1/oa/requests?view=all", ADMIN).await;
    assert_eq!(
        all.json["requests"].as_array().unwrap().len(),
        3,
        "{}",
        all.json
    );
}
