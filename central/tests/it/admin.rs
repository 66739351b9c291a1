//! Admin routes: edge list, events, plans.

use crate::*;

#[tokio::test]
async fn create_edge_validates_the_id() {
    let h = Harness::new().await;
    h.post("/api/v1/edges", ADMIN, json!({"edge_id": "line 1"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    h.post("/api/v1/edges", ADMIN, json!({"edge": "line-1"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(h.store().edges().await.unwrap().is_empty());
}

#[tokio::test]
async fn edge_list_shows_acks_and_plans() {
    let h = Harness::new().await;
    let t1 = h.create_edge("line-1").await;
    h.create_edge("line-2").await;
    h.send_events(&t1, "line-1", 1..=7).await;
    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            ADMIN,
            json!({"work_orders": []}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let reply = h.get("/api/v1/sync/plan?have=1&wait_ms=0", &t1).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    let reply = h.get("/api/v1/edges", ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK);
    let edges = reply.json["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[0]["edge_id"], "line-1");
    assert_eq!(edges[0]["acked_seq"], 7);
    assert_eq!(edges[0]["plan_version_published"], 1);
    assert_eq!(edges[0]["plan_version_applied"], 1);
    assert_eq!(edges[0]["revoked"], false);
    assert!(edges[0]["last_contact"].is_string());
    assert_eq!(edges[1]["edge_id"], "line-2");
    assert_eq!(edges[1]["acked_seq"], 0);
    assert_eq!(edges[1]["plan_version_published"], 0);
    assert!(edges[1]["last_contact"].is_null());
}

#[tokio::test]
async fn events_are_paged_by_seq() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=30).await;

    let reply = h
        .get("/api/v1/edges/line-1/events?from=5&to=9", ADMIN)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let got: Vec<Event> = serde_json::from_value(reply.json["events"].clone()).unwrap();
    assert_eq!(got, events("line-1", 5..=9));

    let reply = h
        .get("/api/v1/edges/line-1/events?from=25&limit=3", ADMIN)
        .await;
    let got: Vec<Event> = serde_json::from_value(reply.json["events"].clone()).unwrap();
    assert_eq!(got, events("line-1", 25..=27));

    let reply = h.get("/api/v1/edges/line-1/events", ADMIN).await;
    assert_eq!(reply.json["events"].as_array().unwrap().len(), 30);

    h.get("/api/v1/edges/ghost/events", ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    h.get("/api/v1/edges/line-1/events?from=x", ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn events_limit_is_capped() {
    let h = Harness::new().await;
    h.create_edge("line-1").await;
    let edge = EdgeId::from("line-1");
    h.store()
        .ingest(&edge, events("line-1", 1..=10_005), Utc::now())
        .await
        .unwrap();
    let reply = h
        .get("/api/v1/edges/line-1/events?limit=1000000", ADMIN)
        .await;
    assert_eq!(reply.json["events"].as_array().unwrap().len(), 10_000);
}

#[tokio::test]
async fn plans_are_versioned_per_edge() {
    let h = Harness::new().await;
    h.create_edge("line-1").await;
    h.create_edge("line-2").await;
    h.get("/api/v1/edges/line-1/plan", ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    let wo = crate::plan::work_order("WO-1001");
    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            ADMIN,
            json!({"work_orders": [wo]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(reply.json["version"], 1);
    assert_eq!(reply.json["edge_id"], "line-1");
    assert_eq!(reply.json["work_orders"][0], wo);

    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            ADMIN,
            json!({"work_orders": []}),
        )
        .await;
    assert_eq!(reply.json["version"], 2);
    let reply = h
        .post(
            "/api/v1/edges/line-2/plans",
            ADMIN,
            json!({"work_orders": []}),
        )
        .await;
    assert_eq!(reply.json["version"], 1);

    let reply = h.get("/api/v1/edges/line-1/plan", ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["version"], 2);

    h.post(
        "/api/v1/edges/ghost/plans",
        ADMIN,
        json!({"work_orders": []}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    h.get("/api/v1/edges/ghost/plan", ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Plans survive a restart.
    let h = h.reopen().await;
    let plan = h
        .store()
        .latest_plan(&"line-1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plan.version, protocol::PlanVersion(2));
}
