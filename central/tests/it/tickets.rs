//! Issue 16, after-sales: service tickets on a customer, order and lot with state, owner and
//! a log; and the phone system's lookup of a caller and of an order's status.

use crate::crm::{Team, get, post, put_as, team};
use crate::work_orders::import;
use crate::*;

#[tokio::test]
async fn issue_16_service_tickets_and_the_phone_lookup() {
    let h = Harness::new().await;
    import(
        &h,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
         FRAME,Steel frame,make,ea,3,lfl,,\n",
    )
    .await;
    let reply = h
        .post(
            "/api/v1/prices",
            ADMIN,
            json!({"item": "FRAME", "currency": "CNY", "price": "100", "valid_from": "2020-01-01"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let Team {
        chen,
        li,
        zhao,
        wang,
    } = team(&h).await;
    let reply = post(
        &h,
        &li,
        "/api/v1/customers",
        json!({"name_zh": "华强电子", "name_en": "Huaqiang"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let hq = reply.json["code"].as_str().unwrap().to_owned();
    let reply = post(
        &h,
        &li,
        "/api/v1/contacts",
        json!({"customer": hq, "name": "张伟", "phones": [{"kind": "mobile", "number": "138-0013-8000"}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let zhang = reply.json["id"].as_i64().unwrap();
    let reply = post(
        &h,
        &li,
        "/api/v1/sales-orders",
        json!({"customer": hq, "lines": [{"item": "FRAME", "qty": "5"}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let order = reply.json["id"].as_i64().unwrap();
    let reply = post(
        &h,
        &li,
        &format!("/api/v1/sales-orders/{order}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);

    // A complaint about a lot of that order.
    let reply = post(
        &h,
        &li,
        "/api/v1/tickets",
        json!({"customer": hq, "contact": zhang, "order": "SO000001", "lot": "L-2026-0042", "item": "FRAME",
               "subject": "Weld seam cracked on 2 frames", "priority": "high"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let t = reply.json["id"].as_i64().unwrap();
    assert_eq!(reply.json["number"], "T000001");
    assert_eq!(reply.json["state"], "open");
    assert_eq!(reply.json["owner"], "li.sales");
    assert_eq!(reply.json["customer_name"], "华强电子");
    // Links that do not hold are named.
    let reply = post(
        &h,
        &li,
        "/api/v1/tickets",
        json!({"customer": hq, "order": "SO000999", "subject": "x"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.json);
    let reply = post(
        &h,
        &li,
        "/api/v1/tickets",
        json!({"customer": hq, "subject": " "}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.json);

    // Worked on: a call logged, waiting for parts, back to work, resolved with what fixed it.
    let path = |what: &str| format!("/api/v1/tickets/{t}/{what}");
    let reply = post(
        &h,
        &li,
        &path("log"),
        json!({"kind": "call", "text": "张伟: photos sent by WeChat"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    for (to, text) in [
        ("in_progress", ""),
        ("waiting", "replacement frames shipped"),
        ("in_progress", ""),
    ] {
        let reply = post(&h, &li, &path("state"), json!({"to": to, "text": text})).await;
        assert_eq!(reply.json["state"], to, "{}", reply.json);
    }
    let reply = post(&h, &li, &path("state"), json!({"to": "resolved"})).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "a resolution says what fixed it: {}",
        reply.json
    );
    let reply = post(
        &h,
        &li,
        &path("state"),
        json!({"to": "resolved", "text": "welding current corrected on line 2"}),
    )
    .await;
    assert_eq!(reply.json["state"], "resolved", "{}", reply.json);
    assert!(reply.json["resolved_at"].is_string());
    let reply = post(&h, &li, &path("state"), json!({"to": "waiting"})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.json);
    // li cannot give it to a colleague; their manager can. Then closed: nothing changes a
    // closed ticket.
    let reply = post(&h, &li, &path("assign"), json!({"owner": "zhao.sales"})).await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "not li's team: {}",
        reply.json
    );
    let reply = post(&h, &chen, &path("assign"), json!({"owner": "zhao.sales"})).await;
    assert_eq!(reply.json["owner"], "zhao.sales", "{}", reply.json);
    let reply = post(&h, &li, &path("state"), json!({"to": "closed"})).await;
    assert_eq!(reply.json["state"], "closed", "{}", reply.json);
    let entries: Vec<(String, String)> = reply.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(entries[0], ("state".into(), "open".into()));
    assert_eq!(
        entries[1],
        ("call".into(), "张伟: photos sent by WeChat".into())
    );
    assert!(entries.contains(&(
        "state".into(),
        "resolved: welding current corrected on line 2".into()
    )));
    let assigned = reply.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "owner")
        .cloned()
        .unwrap();
    assert_eq!(assigned["text"], "zhao.sales");
    assert_eq!(assigned["by"], "chen.mgr", "who did it: {assigned}");
    let reply = post(
        &h,
        &li,
        &path("log"),
        json!({"kind": "note", "text": "late"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.json);
    let reply = put_as(
        &h,
        &li,
        &format!("/api/v1/tickets/{t}"),
        json!({"customer": hq, "subject": "again"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.json);

    // Who sees it: zhao (its owner now) and li (the customer's owner), their manager, head
    // office; the lists by lot and order find it.
    for s in [&li, &zhao, &chen, &wang] {
        assert_eq!(
            get(&h, s, &format!("/api/v1/tickets/{t}")).await.status,
            StatusCode::OK
        );
    }
    let by_lot = get(&h, &wang, "/api/v1/tickets?lot=L-2026-0042").await.json;
    assert_eq!(by_lot["tickets"][0]["number"], "T000001", "{by_lot}");
    let open = get(&h, &wang, "/api/v1/tickets?open=true").await.json;
    assert_eq!(open["tickets"], json!([]));

    // The phone rings: +86 and spaces, the same number.
    let reply = post(
        &h,
        &li,
        "/api/v1/tickets",
        json!({"customer": hq, "subject": "Invoice copy"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let caller = get(
        &h,
        &li,
        "/api/v1/crm/lookup?phone=%2B86%20138%200013%208000",
    )
    .await;
    assert_eq!(caller.status, StatusCode::OK, "{}", caller.json);
    assert_eq!(
        caller.json["callers"][0]["contact"], zhang,
        "{}",
        caller.json
    );
    assert_eq!(caller.json["callers"][0]["number"], "138-0013-8000");
    let account = &caller.json["accounts"][0];
    assert_eq!(account["customer"], hq.as_str());
    assert_eq!(account["open_orders"][0]["number"], "SO000001");
    assert_eq!(
        account["open_tickets"].as_array().unwrap().len(),
        1,
        "the closed one is not open: {account}"
    );
    assert_eq!(account["open_tickets"][0]["subject"], "Invoice copy");
    // Another salesperson's phone system does not see li's contact.
    let other = get(&h, &zhao, "/api/v1/crm/lookup?phone=13800138000").await;
    assert_eq!(other.json["callers"], json!([]), "{}", other.json);
    // An order's status by its number, as its customer would hear it.
    let status = get(&h, &li, "/api/v1/crm/lookup?order=SO000001").await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.json);
    assert_eq!(status.json["order"]["number"], "SO000001");
    assert!(status.json["order"]["lines"][0]["confirmed_date"].is_string());
    assert!(!status.json.to_string().contains("unit_price"));
    assert_eq!(
        get(&h, &zhao, "/api/v1/crm/lookup?order=SO000001")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&h, &li, "/api/v1/crm/lookup?phone=abc").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&h, &li, "/api/v1/crm/lookup").await.status,
        StatusCode::BAD_REQUEST
    );
}
