//! The plan long poll: `GET /api/v1/sync/plan?have=V&wait_ms=N`.

use crate::*;
use std::time::Duration;

pub fn work_order(id: &str) -> Value {
    json!({
        "work_order": id,
        "item": "BRACKET",
        "qty": "500",
        "uom": "pcs",
        "due": "2026-11-30",
        "priority": 1,
        "operations": [{"operation": 10, "description": "stamp", "allowed_components": ["STEEL-2MM"]}]
    })
}

async fn publish(h: &Harness, edge: &str, wo: &str) -> Value {
    let reply = h
        .post(
            &format!("/api/v1/edges/{edge}/plans"),
            ADMIN,
            json!({"work_orders": [work_order(wo)]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    reply.json
}

#[tokio::test]
async fn newer_plan_is_returned_at_once() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let published = publish(&h, "line-1", "WO-1").await;
    // A long wait, but the answer is immediate: the edge has nothing yet.
    let reply = h
        .get("/api/v1/sync/plan?have=0&wait_ms=30000", &token)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, published);
    let plan: protocol::Plan = serde_json::from_value(reply.json).unwrap();
    assert_eq!(plan.version, protocol::PlanVersion(1));
    assert_eq!(plan.work_orders[0].work_order.as_str(), "WO-1");
}

#[tokio::test]
async fn poll_at_latest_version_times_out_with_204() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    publish(&h, "line-1", "WO-1").await;
    let reply = h.get("/api/v1/sync/plan?have=1&wait_ms=20", &token).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.json, Value::Null);
    // No plan at all, no wait.
    let t2 = h.create_edge("line-2").await;
    let reply = h.get("/api/v1/sync/plan?have=0", &t2).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn wait_is_capped_by_max_plan_wait() {
    let config = CentralConfig {
        max_plan_wait: Duration::from_millis(20),
        ..CentralConfig::default()
    };
    let h = Harness::with_config(config).await;
    let token = h.create_edge("line-1").await;
    // Would hang for a day without the cap; the test harness would time out.
    let reply = tokio::time::timeout(
        Duration::from_secs(60),
        h.get("/api/v1/sync/plan?have=0&wait_ms=86400000", &token),
    )
    .await
    .expect("capped by max_plan_wait");
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn publish_wakes_a_waiting_poll() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let edge = EdgeId::from("line-1");

    let app = h.app();
    let req = request(
        Method::GET,
        "/api/v1/sync/plan?have=0&wait_ms=30000",
        Some(&token),
        None,
    );
    let poll = tokio::spawn(async move { app.oneshot(req).await.unwrap() });
    // Wait (on a condition, not a clock) until the poll is really waiting.
    while h.state.plan_waiters(&edge) == 0 {
        tokio::task::yield_now().await;
    }
    assert!(!poll.is_finished());

    let published = publish(&h, "line-1", "WO-7").await;
    let response = tokio::time::timeout(Duration::from_secs(20), poll)
        .await
        .expect("the publish woke the poll before its 30 s wait ran out")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let plan: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(plan, published);
}

#[tokio::test]
async fn publish_for_another_edge_does_not_answer_the_poll() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.create_edge("line-2").await;
    let line_1 = EdgeId::from("line-1");
    let app = h.app();
    let req = request(
        Method::GET,
        "/api/v1/sync/plan?have=0&wait_ms=30000",
        Some(&token),
        None,
    );
    let poll = tokio::spawn(async move { app.oneshot(req).await.unwrap() });
    while h.state.plan_waiters(&line_1) == 0 {
        tokio::task::yield_now().await;
    }
    publish(&h, "line-2", "WO-9").await;
    // The poll gets every chance to run (one runtime thread: each yield lets it), and it is
    // still waiting: line-2's plan did not answer it.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!poll.is_finished(), "line-2's plan answered line-1's poll");
    assert_eq!(h.state.plan_waiters(&line_1), 1);

    // Its own edge's plan does, with that plan (not line-2's).
    let published = publish(&h, "line-1", "WO-1").await;
    let response = tokio::time::timeout(Duration::from_secs(20), poll)
        .await
        .expect("line-1's plan answered the poll before its 30 s wait ran out")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let plan: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(plan, published);
    assert_eq!(plan["work_orders"][0]["work_order"], "WO-1");
}

#[tokio::test]
async fn shutdown_ends_waiting_polls() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let app = h.app();
    let req = request(
        Method::GET,
        "/api/v1/sync/plan?have=0&wait_ms=30000",
        Some(&token),
        None,
    );
    let poll = tokio::spawn(async move { app.oneshot(req).await.unwrap() });
    while h.state.plan_waiters(&EdgeId::from("line-1")) == 0 {
        tokio::task::yield_now().await;
    }
    h.state.begin_shutdown();
    let response = tokio::time::timeout(Duration::from_secs(20), poll)
        .await
        .expect("shutdown ended the poll")
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn poll_records_the_applied_version() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    publish(&h, "line-1", "WO-1").await;
    publish(&h, "line-1", "WO-2").await;
    let mut req = request(
        Method::GET,
        "/api/v1/sync/plan?have=1&wait_ms=0",
        Some(&token),
        None,
    );
    req.headers_mut()
        .insert(protocol::PROTOCOL_HEADER, "1".parse().unwrap());
    let reply = h.send(req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["version"], 2);
    let edges = h.store().edges().await.unwrap();
    assert_eq!(edges[0].plan_version_applied, protocol::PlanVersion(1));
    assert_eq!(edges[0].plan_version_published, protocol::PlanVersion(2));
}

/// `serve` on a real (ephemeral) port: graceful shutdown returns.
#[tokio::test]
async fn serve_shuts_down_gracefully() {
    let h = Harness::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(central::serve(listener, h.state.clone(), async {
        let _ = stop_rx.await;
    }));
    // One plain HTTP/1.1 request over TCP.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("serve returned after shutdown")
        .unwrap()
        .unwrap();
}

/// Issue 11: the raw plan route checks its content against `protocol::bounds` and lists every
/// violation; nothing is published.
#[tokio::test]
async fn issue_11_a_raw_plan_out_of_bounds_is_refused_naming_every_field() {
    let h = Harness::new().await;
    h.create_edge("line-1").await;
    let mut bad = work_order("WO-1");
    bad["qty"] = json!("-500");
    bad["operations"][0]["description"] = json!("stamp\u{0}");
    bad["plc_parameters"] = json!({"recipe": {"nested": [1, 2]}, "target_qty": 500});
    let mut twice = work_order("WO-1");
    twice["item"] = json!("BRACKET\u{202E}");
    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            ADMIN,
            json!({"work_orders": [bad, twice]}),
        )
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "invalid_plan");
    for field in [
        "work_orders[0].qty: is -500; expected a quantity above zero",
        "work_orders[0].plc_parameters.recipe: must be a number, a boolean or a short text",
        "work_orders[0].operations[0].description: holds the control or invisible character U+0000",
        "work_orders[1].work_order: WO-1 appears twice",
        "work_orders[1].item: holds the control or invisible character U+202E",
    ] {
        assert!(message.contains(field), "{message:?} lacks {field:?}");
    }
    assert!(
        !message.contains('\u{0}') && !message.contains('\u{202E}'),
        "{message}"
    );
    let reply = h.get("/api/v1/edges/line-1/plan", ADMIN).await;
    reply.assert_error(StatusCode::NOT_FOUND, "not_found");
    // Within bounds, the same route publishes.
    publish(&h, "line-1", "WO-1").await;
}

/// Issue 11: what ERP publishes stays within the bounds the edge checks plans against, so a
/// line never refuses a plan whole: ids, units and quantities out of bounds are refused where
/// they enter.
#[tokio::test]
async fn issue_11_erp_data_a_plan_could_not_carry_is_refused_where_it_enters() {
    use crate::work_orders::{create, plant};
    let h = Harness::new().await;
    plant(&h).await;
    let order = |qty: &str| {
        json!({"work_order": "WO-BIG", "item": "FRAME", "qty": qty, "due": "2026-12-01",
               "priority": 5, "line": "L1"})
    };
    let reply = h
        .post("/api/v1/work-orders", ADMIN, order("2000000000"))
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("at most 1000000000"), "{message}");
    // 4 bolts a frame: 4e9 bolts is more than one quantity of a plan holds.
    let reply = h
        .post("/api/v1/work-orders", ADMIN, order("1000000000"))
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("\"BOLT\""), "{message}");
    create(&h, "WO-1", "10").await;
    let reply = h
        .call(
            Method::PATCH,
            "/api/v1/work-orders/WO-1",
            Some(ADMIN),
            Some(json!({"qty": "300000000"})),
        )
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("\"BOLT\""), "{message}");
    let item = |uom: &str| json!({"kind": "buy", "uom": uom});
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/items/GREASE",
            Some(ADMIN),
            Some(item("kilograms-of-grease")),
        )
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        message.contains("a unit of measure has at most 16"),
        "{message}"
    );
    let reply = h
        .call(
            Method::PUT,
            &format!("/api/v1/items/{}", "G".repeat(65)),
            Some(ADMIN),
            Some(item("kg")),
        )
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

/// Issue 12: the raw `POST /api/v1/edges/{id}/plans` silently replaced a released ERP work
/// order on the line while central still reported the earlier version as running. It is an
/// administrator's tool now that cannot shadow ERP work orders: a raw plan naming one is
/// refused, as is any raw plan for an edge that runs released ERP orders; nothing is
/// published then, and the edge's plan still carries the ERP's order.
#[tokio::test]
async fn issue_12_a_raw_plan_cannot_shadow_erp_work_orders() {
    use crate::work_orders::{act, create, ok, plant};
    let h = Harness::new().await;
    let token = plant(&h).await;
    create(&h, "WO-1", "100").await;
    // Planned, not released: still the ERP's; its id cannot go down in a raw plan.
    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            ADMIN,
            json!({"work_orders": [work_order("WO-1")]}),
        )
        .await;
    let message = reply.assert_error(StatusCode::CONFLICT, "erp_work_order");
    assert!(
        message.contains("WO-1") && message.contains("release"),
        "{message}"
    );
    // Nothing of the ERP runs on line-1 yet: a raw plan for commissioning goes down.
    publish(&h, "line-1", "TEST-1").await;

    ok(&act(&h, "WO-1", "release").await);
    let erp_plan = h.get("/api/v1/edges/line-1/plan", ADMIN).await.json;
    assert_eq!(erp_plan["version"], 2, "the release replaced the raw plan");
    assert_eq!(erp_plan["work_orders"][0]["work_order"], "WO-1");
    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            ADMIN,
            json!({"work_orders": [work_order("TEST-2")]}),
        )
        .await;
    let message = reply.assert_error(StatusCode::CONFLICT, "edge_runs_erp_orders");
    assert!(message.contains("WO-1"), "{message}");
    // Nothing was published: the edge's plan, and central's view of the order, are the ERP's.
    assert_eq!(
        h.get("/api/v1/edges/line-1/plan", ADMIN).await.json,
        erp_plan
    );
    let reply = h.get("/api/v1/sync/plan?have=0&wait_ms=0", &token).await;
    assert_eq!(reply.json["version"], 2);
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(view["plans"][0]["version"], 2, "{view}");

    // Input is still checked before anything else: out of bounds is 400 invalid_plan.
    let mut bad = work_order("TEST-3");
    bad["qty"] = json!("-1");
    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            ADMIN,
            json!({"work_orders": [bad]}),
        )
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_plan");
    // Another edge the ERP does not feed still takes a raw plan.
    h.create_edge("line-9").await;
    publish(&h, "line-9", "TEST-9").await;
}
