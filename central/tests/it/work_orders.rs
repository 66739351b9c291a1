//! Work orders: routings and lines, the state machine over HTTP, release as plan versions
//! that the edge's long poll sees, and progress from ingested events. Issue 6.

use crate::*;
use protocol::{Plan, PlanVersion};
use rust_decimal::Decimal;
use std::time::Duration;

pub(crate) async fn import(h: &Harness, kind: &str, csv: &str) {
    let reply = h
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(format!("/api/v1/import/{kind}"))
                .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
                .header(header::CONTENT_TYPE, "text/csv")
                .body(Body::from(csv.to_owned()))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

pub(crate) async fn put(h: &Harness, uri: &str, body: Value) -> Reply {
    h.call(Method::PUT, uri, Some(ADMIN), Some(body)).await
}

async fn patch(h: &Harness, uri: &str, body: Value) -> Reply {
    h.call(Method::PATCH, uri, Some(ADMIN), Some(body)).await
}

#[track_caller]
pub(crate) fn ok(reply: &Reply) {
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.json);
}

/// Items FRAME (make; 0.5 kg STEEL at 2 % scrap and 4 BOLT per frame), a line L1 run by edge
/// `line-1`, work centers CUT (st-10) and WELD (st-20), routing 10 cut, 20 weld. Returns the
/// edge's token.
pub(crate) async fn plant(h: &Harness) -> String {
    let token = h.create_edge("line-1").await;
    import(
        h,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
         FRAME,Frame,make,ea,1,lfl,,\nSTEEL,Steel,buy,kg,5,lfl,,\nBOLT,Bolt,buy,ea,5,lfl,,\n",
    )
    .await;
    import(
        h,
        "boms",
        "parent,component,qty_per,scrap_pct\nFRAME,STEEL,0.5,2\nFRAME,BOLT,4,0\n",
    )
    .await;
    ok(&put(
        h,
        "/api/v1/lines/L1",
        json!({"description": "frames", "edge_id": "line-1"}),
    )
    .await);
    ok(&put(
        h,
        "/api/v1/work-centers/CUT",
        json!({"line": "L1", "station": "st-10"}),
    )
    .await);
    ok(&put(
        h,
        "/api/v1/work-centers/WELD",
        json!({"line": "L1", "station": "st-20"}),
    )
    .await);
    let reply = put(
        h,
        "/api/v1/routings/FRAME",
        json!({"operations": [
            {"operation": 20, "description": "weld", "work_center": "WELD"},
            {"operation": 10, "description": "cut", "work_center": "CUT"}
        ]}),
    )
    .await;
    ok(&reply);
    assert_eq!(reply.json["operations"][0]["operation"], 10, "sorted");
    token
}

pub(crate) async fn create(h: &Harness, id: &str, qty: &str) -> Value {
    let reply = h
        .post(
            "/api/v1/work-orders",
            ADMIN,
            json!({"work_order": id, "item": "FRAME", "qty": qty, "due": "2026-12-01", "priority": 5, "line": "L1"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    reply.json
}

pub(crate) async fn act(h: &Harness, id: &str, action: &str) -> Reply {
    h.post(
        &format!("/api/v1/work-orders/{id}/{action}"),
        ADMIN,
        json!({}),
    )
    .await
}

/// Polls the plan as the edge does and returns it (200 expected).
pub(crate) async fn poll(h: &Harness, token: &str, have: u64) -> Plan {
    let reply = h
        .get(&format!("/api/v1/sync/plan?have={have}&wait_ms=0"), token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    serde_json::from_value(reply.json).unwrap()
}

pub(crate) fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[tokio::test]
async fn issue_6_state_machine_over_http() {
    let h = Harness::new().await;
    plant(&h).await;
    let wo = create(&h, "WO-1", "100").await;
    assert_eq!(wo["state"], "planned");
    assert_eq!(wo["operations"].as_array().unwrap().len(), 2);
    assert_eq!(wo["operations"][1]["station"], "st-20");
    // 0.5 × 100 × 1.02 and 4 × 100.
    assert_eq!(wo["components"][0]["item"], "BOLT");
    assert_eq!(wo["components"][0]["required"], "400");
    assert_eq!(wo["components"][1]["required"], "51");

    let message = act(&h, "WO-1", "close")
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_transition")
        .to_owned();
    assert!(
        message.contains("planned") && message.contains("close"),
        "{message}"
    );
    for (action, state) in [
        ("release", "released"),
        ("hold", "on_hold"),
        ("unhold", "released"),
        ("cancel", "cancelled"),
    ] {
        let reply = act(&h, "WO-1", action).await;
        assert_eq!(reply.status, StatusCode::OK, "{action}: {}", reply.json);
        assert_eq!(reply.json["state"], state, "{action}");
    }
    for action in ["release", "hold", "unhold", "cancel", "close"] {
        act(&h, "WO-1", action)
            .await
            .assert_error(StatusCode::CONFLICT, "invalid_transition");
    }
    patch(&h, "/api/v1/work-orders/WO-1", json!({"qty": "5"}))
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_transition");
    act(&h, "WO-1", "finish")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    act(&h, "WO-9", "release")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    let list = h.get("/api/v1/work-orders?state=cancelled", ADMIN).await;
    assert_eq!(list.json["work_orders"][0]["work_order"], "WO-1");
    let list = h.get("/api/v1/work-orders?state=planned", ADMIN).await;
    assert_eq!(list.json["work_orders"], json!([]));
    h.get("/api/v1/work-orders?state=done", ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn issue_6_master_data_and_orders_are_validated() {
    let h = Harness::new().await;
    plant(&h).await;
    put(&h, "/api/v1/lines/L2", json!({"edge_id": "nobody"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    put(&h, "/api/v1/work-centers/X", json!({"line": "L9"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let reply = put(
        &h,
        "/api/v1/routings/FRAME",
        json!({"operations": [{"operation": 10, "work_center": "CUT"}, {"operation": 10, "work_center": "WELD"}]}),
    )
    .await;
    assert!(
        reply
            .assert_error(StatusCode::BAD_REQUEST, "bad_request")
            .contains("appears twice")
    );
    let reply = put(
        &h,
        "/api/v1/routings/FRAME",
        json!({"operations": [{"operation": 10, "work_center": "PAINT"}]}),
    )
    .await;
    assert!(
        reply
            .assert_error(StatusCode::BAD_REQUEST, "bad_request")
            .contains("PAINT")
    );
    put(
        &h,
        "/api/v1/routings/NOPE",
        json!({"operations": [{"operation": 10, "work_center": "CUT"}]}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    // The rejected routings changed nothing.
    let routing = h.get("/api/v1/routings/FRAME", ADMIN).await;
    assert_eq!(routing.json["operations"].as_array().unwrap().len(), 2);

    let body = |item: &str, qty: &str, line: &str| json!({"item": item, "qty": qty, "due": "2026-12-01", "line": line});
    for (b, what) in [
        (body("STEEL", "1", "L1"), "no routing"),
        (body("FRAME", "0", "L1"), "qty"),
        (body("FRAME", "1.1234567", "L1"), "qty"),
        (body("FRAME", "1", "L9"), "line"),
        (body("GHOST", "1", "L1"), "item master"),
    ] {
        let reply = h.post("/api/v1/work-orders", ADMIN, b).await;
        let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(what), "{what}: {message}");
    }
    let generated = h
        .post("/api/v1/work-orders", ADMIN, body("FRAME", "3", "L1"))
        .await;
    assert_eq!(generated.status, StatusCode::CREATED, "{}", generated.json);
    assert_eq!(generated.json["work_order"], "WO-000001");
    create(&h, "WO-1", "1").await;
    h.post(
        "/api/v1/work-orders",
        ADMIN,
        json!({"work_order": "WO-1", "item": "FRAME", "qty": "1", "due": "2026-12-01", "line": "L1"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "conflict");
    // A line without an edge cannot be released to.
    ok(&put(&h, "/api/v1/lines/L3", json!({})).await);
    ok(&put(&h, "/api/v1/work-centers/PACK", json!({"line": "L3"})).await);
    ok(&put(
        &h,
        "/api/v1/routings/BOLT",
        json!({"operations": [{"operation": 10, "work_center": "PACK"}]}),
    )
    .await);
    h.post(
        "/api/v1/work-orders",
        ADMIN,
        json!({"work_order": "WO-B", "item": "BOLT", "qty": "1", "due": "2026-12-01", "line": "L3"}),
    )
    .await;
    let message = act(&h, "WO-B", "release")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request")
        .to_owned();
    assert!(message.contains("no edge"), "{message}");
    let wo = h.get("/api/v1/work-orders/WO-B", ADMIN).await;
    assert_eq!(wo.json["state"], "planned", "nothing changed");
}

#[tokio::test]
async fn issue_6_release_goes_down_as_a_plan_version_and_changes_as_newer_ones() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    create(&h, "WO-1", "100").await;
    create(&h, "WO-2", "10").await;
    // Planned orders are nobody's business on the line yet.
    assert_eq!(
        h.get("/api/v1/sync/plan?have=0", &token).await.status,
        StatusCode::NO_CONTENT
    );

    // The edge waits in a long poll; the release wakes it.
    let app = h.app();
    let req = request(
        Method::GET,
        "/api/v1/sync/plan?have=0&wait_ms=30000",
        Some(&token),
        None,
    );
    let waiting = tokio::spawn(async move { app.oneshot(req).await.unwrap() });
    while h.state.plan_waiters(&EdgeId::from("line-1")) == 0 {
        tokio::task::yield_now().await;
    }
    let released = act(&h, "WO-1", "release").await;
    assert_eq!(released.json["state"], "released", "{}", released.json);
    assert_eq!(
        released.json["plans"],
        json!([{"edge_id": "line-1", "version": 1, "edge_applied": 0, "running": false}])
    );
    let response = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the release woke the poll")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let plan: Plan = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(plan.version, PlanVersion(1));
    assert_eq!(plan.work_orders.len(), 1, "only the released order");
    let wo = &plan.work_orders[0];
    assert_eq!(wo.work_order.as_str(), "WO-1");
    assert_eq!((wo.qty, wo.uom.as_str(), wo.priority), (d("100"), "ea", 5));
    let stations: Vec<_> = wo
        .operations
        .iter()
        .map(|op| (op.operation, op.station.as_ref().unwrap().as_str()))
        .collect();
    assert_eq!(stations, [(10, "st-10"), (20, "st-20")]);
    let first = &wo.operations[0];
    assert_eq!(first.allowed_components.len(), 2);
    let needs: Vec<_> = first
        .components
        .iter()
        .map(|c| (c.item.as_str(), c.qty, c.uom.as_str()))
        .collect();
    assert_eq!(needs, [("BOLT", d("400"), "ea"), ("STEEL", d("51"), "kg")]);
    assert!(wo.operations[1].components.is_empty());
    assert_eq!(wo.plc_parameters["target_qty"], json!(100));
    assert_eq!(wo.plc_parameters["work_order"], json!("WO-1"));
    assert!(!wo.on_hold);

    // Central shows which version the edge runs once it says so (its next poll).
    let next = h.get("/api/v1/sync/plan?have=1&wait_ms=0", &token).await;
    assert_eq!(next.status, StatusCode::NO_CONTENT);
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await;
    assert_eq!(view.json["plans"][0]["edge_applied"], 1);
    assert_eq!(view.json["plans"][0]["running"], true);

    // A change goes down as a newer version: quantity, priority, hold, another release.
    let changed = patch(
        &h,
        "/api/v1/work-orders/WO-1",
        json!({"qty": "200", "priority": 1}),
    )
    .await;
    ok(&changed);
    assert_eq!(changed.json["components"][1]["required"], "102");
    let plan = poll(&h, &token, 1).await;
    assert_eq!(plan.version, PlanVersion(2));
    let wo = &plan.work_orders[0];
    assert_eq!((wo.qty, wo.priority), (d("200"), 1));
    assert_eq!(wo.plc_parameters["target_qty"], json!(200));
    assert_eq!(wo.operations[0].components[1].qty, d("102"));

    ok(&act(&h, "WO-1", "hold").await);
    let plan = poll(&h, &token, 2).await;
    assert_eq!(plan.version, PlanVersion(3));
    assert!(plan.work_orders[0].on_hold, "held orders stay in the plan");

    ok(&act(&h, "WO-2", "release").await);
    let plan = poll(&h, &token, 3).await;
    let ids: Vec<_> = plan
        .work_orders
        .iter()
        .map(|w| w.work_order.as_str())
        .collect();
    assert_eq!(ids, ["WO-1", "WO-2"], "priority 1 before 5");

    ok(&act(&h, "WO-1", "cancel").await);
    let plan = poll(&h, &token, 4).await;
    let ids: Vec<_> = plan
        .work_orders
        .iter()
        .map(|w| w.work_order.as_str())
        .collect();
    assert_eq!(ids, ["WO-2"], "a cancelled order leaves the plan");

    // A lot hold goes down to the line too.
    let hold = h
        .post(
            "/api/v1/lots/L-77/hold",
            ADMIN,
            json!({"reason": "QC-17 failed", "item": "STEEL"}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.json);
    let plan = poll(&h, &token, 5).await;
    let lot = plan.lot("L-77").expect("held lot in the plan");
    assert!(lot.on_hold);
    assert_eq!(lot.hold_reason.as_deref(), Some("QC-17 failed"));
    ok(&h.post("/api/v1/lots/L-77/release", ADMIN, json!({})).await);
    let plan = poll(&h, &token, 6).await;
    assert!(plan.lots.is_empty());
    h.post("/api/v1/lots/L-77/release", ADMIN, json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    h.post("/api/v1/lots/L-NEW/hold", ADMIN, json!({"reason": "x"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");

    // Moving a work center to another station goes down too.
    ok(&put(
        &h,
        "/api/v1/work-centers/CUT",
        json!({"line": "L1", "station": "st-11"}),
    )
    .await);
    let plan = poll(&h, &token, 7).await;
    assert_eq!(plan.version, PlanVersion(8));
    let station = plan.work_orders[0].operations[0].station.as_ref().unwrap();
    assert_eq!(station.as_str(), "st-11");

    let edges = h.get("/api/v1/edges", ADMIN).await;
    assert_eq!(edges.json["edges"][0]["plan_version_published"], 8);
    assert_eq!(edges.json["edges"][0]["plan_version_applied"], 7);
}

pub(crate) fn at(seq: u64, kind: EventKind) -> Event {
    let mut e = event("line-1", seq);
    e.kind = kind;
    e
}

pub(crate) fn started(wo: &str, op: u32) -> EventKind {
    EventKind::WorkOrderStarted {
        work_order: wo.into(),
        operation: Some(op),
    }
}

pub(crate) fn reported(wo: &str, op: u32, good: u64, scrap: u64) -> EventKind {
    EventKind::ProductionReported {
        work_order: Some(wo.into()),
        operation: Some(op),
        good,
        scrap,
    }
}

pub(crate) fn issued(wo: &str, item: &str, qty: &str, uom: &str) -> EventKind {
    EventKind::MaterialIssued {
        work_order: wo.into(),
        operation: Some(10),
        item: item.into(),
        lot: "L-1".into(),
        qty: d(qty),
        uom: uom.into(),
    }
}

pub(crate) async fn send(h: &Harness, token: &str, events: &[Event]) -> Value {
    let reply = h
        .post(
            "/api/v1/sync/events",
            token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": events}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

#[tokio::test]
async fn issue_6_progress_and_variance_from_events_counted_once() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    create(&h, "WO-1", "100").await;
    ok(&act(&h, "WO-1", "release").await);
    let events = vec![
        at(1, started("WO-1", 10)),
        at(2, issued("WO-1", "STEEL", "30", "kg")),
        at(3, reported("WO-1", 10, 40, 2)),
        at(4, reported("WO-1", 10, 20, 0)),
        at(5, started("WO-1", 20)),
        at(6, reported("WO-1", 20, 50, 1)),
        at(7, issued("WO-1", "STEEL", "2.5", "kg")),
        at(8, issued("WO-1", "BOLT", "1", "kg")),
        at(9, issued("WO-1", "GLUE", "0.2", "l")),
        at(10, reported("WO-404", 10, 9, 9)),
        at(11, issued("WO-404", "STEEL", "1", "kg")),
    ];
    send(&h, &token, &events[..6]).await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(view["state"], "in_progress");
    // The whole batch again, and more: a redelivery after a lost ack.
    let ack = send(&h, &token, &events).await;
    assert_eq!(ack["acked_through"], 11, "{ack}");
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    let ops = &view["operations"];
    assert_eq!(
        (ops[0]["good"].as_u64(), ops[0]["scrap"].as_u64()),
        (Some(60), Some(2))
    );
    assert_eq!(
        (ops[1]["good"].as_u64(), ops[1]["scrap"].as_u64()),
        (Some(50), Some(1))
    );
    assert_eq!(ops[1]["started"], true);
    let comps = view["components"].as_array().unwrap();
    let steel = comps.iter().find(|c| c["item"] == "STEEL").unwrap();
    assert_eq!(steel["issued"], "32.5");
    assert_eq!(steel["required"], "51");
    assert_eq!(steel["variance"], "-18.5");
    // 0.5 × (50 + 1) × 1.02 = 26.01 for the output so far.
    assert_eq!(steel["standard_for_output"], "26.01");
    assert_eq!(steel["usage_variance"], "6.49");
    let bolt = comps.iter().find(|c| c["item"] == "BOLT").unwrap();
    assert_eq!(bolt["issued"], "0", "an issue in another unit is not added");
    let glue = comps.iter().find(|c| c["item"] == "GLUE").unwrap();
    assert_eq!(
        (glue["unplanned"].as_bool(), glue["issued"].as_str()),
        (Some(true), Some("0.2"))
    );
    // The unit mismatch, and (issue 12) three lots issued that central held no stock of:
    // the plant flags negative stock by default.
    assert_eq!(view["n_warnings"], 4, "{}", view["warnings"]);
    let messages: Vec<&str> = view["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("1 kg of BOLT issued, but the order counts BOLT in ea")),
        "{messages:?}"
    );
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.starts_with("negative stock: lot L-1 of "))
            .count(),
        3,
        "{messages:?}"
    );

    let unmatched = h.get("/api/v1/unmatched-work-orders", ADMIN).await.json;
    assert_eq!(unmatched["work_orders"][0]["work_order"], "WO-404");
    assert_eq!(unmatched["work_orders"][0]["events"], 2, "counted once");
    // The ledger booked the unknown order's issue as always.
    let ledger = h
        .get("/api/v1/inventory/ledger?item=STEEL", ADMIN)
        .await
        .json;
    assert_eq!(ledger["entries"].as_array().unwrap().len(), 3);

    let summary = h
        .get("/api/v1/work-orders?state=in_progress", ADMIN)
        .await
        .json;
    assert_eq!(summary["work_orders"][0]["good"], 50);

    send(
        &h,
        &token,
        &[at(
            12,
            EventKind::WorkOrderCompleted {
                work_order: "WO-1".into(),
            },
        )],
    )
    .await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(view["state"], "completed");
    ok(&act(&h, "WO-1", "close").await);
    // Progress survives a restart.
    let h = h.reopen().await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(
        (
            view["state"].as_str(),
            view["operations"][0]["good"].as_u64()
        ),
        (Some("closed"), Some(60))
    );
}

#[tokio::test]
async fn issue_6_operation_started_out_of_sequence_is_warned_not_refused() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    create(&h, "WO-1", "10").await;
    ok(&act(&h, "WO-1", "release").await);
    // Operation 20 starts while 10 has reported nothing; all in one batch.
    send(
        &h,
        &token,
        &[
            at(1, started("WO-1", 20)),
            at(2, reported("WO-1", 20, 3, 0)),
        ],
    )
    .await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(view["state"], "in_progress");
    assert_eq!(view["operations"][1]["good"], 3, "the fact is booked");
    assert_eq!(view["n_warnings"], 1);
    let w = &view["warnings"][0];
    assert_eq!(w["seq"], 1);
    assert_eq!(
        w["message"],
        "operation 20 started before operation 10 reported anything; expected the routing's sequence"
    );
    // In sequence, no warning.
    send(
        &h,
        &token,
        &[
            at(3, reported("WO-1", 10, 1, 0)),
            at(4, started("WO-1", 20)),
        ],
    )
    .await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(view["n_warnings"], 1);
    // An event the state refuses is a warning too, and the state stays.
    ok(&act(&h, "WO-1", "hold").await);
    send(&h, &token, &[at(5, started("WO-1", 10))]).await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(view["state"], "on_hold");
    assert_eq!(
        view["warnings"][0]["message"],
        "work_order_started while the order is on_hold"
    );
    // A line that keeps reporting on a cancelled order: one warning per batch, counted.
    ok(&act(&h, "WO-1", "cancel").await);
    let reports: Vec<Event> = (6..=8)
        .map(|seq| at(seq, reported("WO-1", 10, 1, 0)))
        .collect();
    send(&h, &token, &reports).await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(view["n_warnings"], 3);
    assert_eq!(
        view["warnings"][0],
        json!({"at": "2026-11-27T08:30:00Z", "edge_id": "line-1", "seq": 6,
            "message": "production_reported while the order is cancelled (and 2 more times in this batch)"})
    );
    assert_eq!(
        view["operations"][0]["good"], 4,
        "the facts are booked all the same"
    );
}

#[tokio::test]
async fn issue_6_work_order_routes_are_documented_and_need_the_admin_token() {
    let h = Harness::new().await;
    let doc = h.get("/api/v1/openapi.json", ADMIN).await.json;
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/lines/{line}",
        "/api/v1/work-centers/{work_center}",
        "/api/v1/routings/{item}",
        "/api/v1/work-orders",
        "/api/v1/work-orders/{id}",
        "/api/v1/work-orders/{id}/release",
        "/api/v1/lots/{lot}/hold",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            if op["x-permission"] == "public" {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let uri = [
                "{edge_id}",
                "{lot}",
                "{line}",
                "{work_center}",
                "{item}",
                "{id}",
            ]
            .iter()
            .fold(path.clone(), |p, param| p.replace(param, "x1"));
            let reply = h.call(method.clone(), &uri, None, None).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                reply.json
            );
        }
    }
}

async fn import_reply(h: &Harness, kind: &str, csv: &str) -> Reply {
    h.send(
        Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/import/{kind}"))
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(Body::from(csv.to_owned()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn issue_6_routings_import_from_csv_all_or_nothing() {
    let h = Harness::new().await;
    plant(&h).await;
    let reply = import_reply(
        &h,
        "routings",
        "item,operation,description,work_center\nFRAME,10,cut,CUT\nFRAME,30,paint,PAINT\nGHOST,10,x,CUT\nFRAME,10,again,WELD\n",
    )
    .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    assert!(message.contains("nothing was imported"), "{message}");
    let where_: Vec<String> = reply.json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}:{}", d["line"], d["column"].as_str().unwrap()))
        .collect();
    assert_eq!(where_, ["5:operation"], "the file's own mistakes first");
    let reply = import_reply(
        &h,
        "routings",
        "item,operation,description,work_center\nFRAME,10,cut,CUT\nFRAME,30,paint,PAINT\nGHOST,10,x,CUT\n",
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let where_: Vec<String> = reply.json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}:{}", d["line"], d["column"].as_str().unwrap()))
        .collect();
    assert_eq!(where_, ["3:work_center", "4:item"]);
    let routing = h.get("/api/v1/routings/FRAME", ADMIN).await.json;
    assert_eq!(
        routing["operations"].as_array().unwrap().len(),
        2,
        "unchanged"
    );

    let reply = import_reply(
        &h,
        "routings",
        "item,operation,work_center\nFRAME,30,WELD\nFRAME,10,CUT\n",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json, json!({"kind": "routings", "rows": 2}));
    let routing = h.get("/api/v1/routings/FRAME", ADMIN).await.json;
    let ops: Vec<_> = routing["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["operation"].as_u64().unwrap(),
                o["work_center"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [(10, "CUT".to_owned()), (30, "WELD".to_owned())],
        "replaced whole"
    );
}
