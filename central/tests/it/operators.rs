//! Issue 11: the operator registry in central, and every plan carrying it down to the lines.

use crate::plan::work_order;
use crate::work_orders::{act, create, plant};
use crate::*;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use protocol::Plan;
use std::time::Duration;

/// A PIN no other value in these tests contains.
const PIN: &str = "86420975";

async fn put_operator(h: &Harness, badge: &str, body: Value) -> Reply {
    h.call(
        Method::PUT,
        &format!("/api/v1/operators/{badge}"),
        Some(ADMIN),
        Some(body),
    )
    .await
}

async fn import_csv(h: &Harness, csv: &str) -> Reply {
    h.send(
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/import/operators")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(Body::from(csv.to_owned()))
            .unwrap(),
    )
    .await
}

async fn publish_raw(h: &Harness, edge: &str, body: Value) -> Plan {
    let reply = h
        .post(&format!("/api/v1/edges/{edge}/plans"), ADMIN, body)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    serde_json::from_value(reply.json).unwrap()
}

/// As the edge checks a PIN (`edge-agent/src/terminal/access.rs`).
fn edge_verifies(phc: &str, pin: &str) -> bool {
    let hash = PasswordHash::new(phc).expect("a PHC string");
    argon2::Argon2::default()
        .verify_password(pin.as_bytes(), &hash)
        .is_ok()
}

#[tokio::test]
async fn issue_11_registry_create_read_update_deactivate_and_no_delete() {
    let h = Harness::new().await;
    let reply = put_operator(
        &h,
        "10442",
        json!({"name": "Li Wei", "skills": ["press", "supervisor", "press"], "pin": PIN}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let created = reply.json.clone();
    assert_eq!(created["badge"], "10442");
    assert_eq!(created["skills"], json!(["press", "supervisor"]));
    assert_eq!(created["active"], true);
    assert_eq!(created["has_pin"], true);
    assert!(created.get("pin").is_none() && created.get("pin_hash").is_none());

    let reply = put_operator(&h, "10443", json!({"name": "Wang Fang"})).await;
    assert_eq!(reply.json["has_pin"], false);
    assert_eq!(reply.json["skills"], json!([]));

    let list = h.get("/api/v1/operators", ADMIN).await;
    assert_eq!(list.status, StatusCode::OK);
    let badges: Vec<&str> = list.json["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["badge"].as_str().unwrap())
        .collect();
    assert_eq!(badges, ["10442", "10443"]);
    assert_eq!(h.get("/api/v1/operators/10442", ADMIN).await.json, created);

    // An update without a PIN keeps it; clear_pin removes it; active=false deactivates.
    let reply = put_operator(&h, "10442", json!({"name": "Li Wei", "skills": ["press"]})).await;
    assert_eq!(reply.json["has_pin"], true);
    assert_eq!(reply.json["skills"], json!(["press"]));
    let reply = put_operator(&h, "10442", json!({"name": "Li Wei", "clear_pin": true})).await;
    assert_eq!(reply.json["has_pin"], false);
    let reply = put_operator(&h, "10442", json!({"name": "Li Wei", "active": false})).await;
    assert_eq!(reply.json["active"], false);
    let reply = put_operator(&h, "10442", json!({"name": "Li Wei Jr"})).await;
    assert_eq!(reply.json["active"], false, "absent active keeps it");

    let reply = h
        .call(Method::DELETE, "/api/v1/operators/10442", Some(ADMIN), None)
        .await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let reply = h.get("/api/v1/operators/99999", ADMIN).await;
    reply.assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn issue_11_registry_refuses_values_out_of_bounds_naming_each() {
    let h = Harness::new().await;
    let long_badge = "9".repeat(65);
    let cases = [
        ("10442", json!({"name": ""}), "name: is empty"),
        (
            "10442",
            json!({"name": "Li\u{202E}Wei"}),
            "name: holds the control or invisible character U+202E",
        ),
        (
            "10442",
            json!({"name": "Li Wei", "skills": ["pre\u{0}ss"]}),
            "skills[]: holds the control or invisible character U+0000",
        ),
        (
            "10442",
            json!({"name": "Li Wei", "skills": ["x".repeat(65)]}),
            "skills[]: is 65 bytes long",
        ),
        (
            "10442",
            json!({"name": "Li Wei", "pin": "12a4"}),
            "pin: is not a valid pin; expected 4 to 12 digits",
        ),
        (
            "10442",
            json!({"name": "Li Wei", "pin": "123"}),
            "pin: is not a valid pin",
        ),
        (
            "10442",
            json!({"name": "Li Wei", "pin": 1234}),
            "pin: is not a valid pin",
        ),
        (
            "10442",
            json!({"name": "Li Wei", "pin": "1234", "clear_pin": true}),
            "pin and clear_pin",
        ),
        (
            long_badge.as_str(),
            json!({"name": "Li Wei"}),
            "badge: is 65 bytes long",
        ),
        (
            "L%E2%80%AE1",
            json!({"name": "Li Wei"}),
            "badge: holds the control or invisible character U+202E",
        ),
    ];
    for (badge, body, expected) in cases {
        let reply = put_operator(&h, badge, body.clone()).await;
        let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            message.contains(expected),
            "{body}: {message:?} lacks {expected:?}"
        );
        assert!(
            !message.contains("12a4") && !message.contains("1234"),
            "{message}"
        );
    }
    let reply = put_operator(&h, "10442", json!({"name": "Li Wei", "colour": "red"})).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        h.get("/api/v1/operators", ADMIN).await.json,
        json!({"operators": []})
    );
}

#[tokio::test]
async fn issue_11_csv_import_is_all_or_nothing_and_names_every_bad_row() {
    let h = Harness::new().await;
    let reply = import_csv(
        &h,
        &format!(
            "badge,name,skills,pin\n\
             10442,Li Wei,press;supervisor,{PIN}\n\
             ,Nobody,,\n\
             10444,Zhao Lei,pr\u{202E}ess,\n\
             10445,Sun Li,press,12x45\n\
             10442,Li Wei again,,\n"
        ),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let details: Vec<String> = reply.json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}:{}", d["line"], d["column"].as_str().unwrap()))
        .collect();
    assert_eq!(details, ["3:badge", "4:skills", "5:pin", "6:badge"]);
    assert!(!reply.json.to_string().contains("12x45"), "{}", reply.json);
    assert_eq!(
        h.get("/api/v1/operators", ADMIN).await.json,
        json!({"operators": []}),
        "nothing was imported"
    );

    let reply = import_csv(
        &h,
        &format!(
            "badge,name,skills,pin,active\n\
             10442,Li Wei,press;supervisor,{PIN},\n\
             10443,Wang Fang,,,false\n"
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json, json!({"kind": "operators", "rows": 2}));
    let list = h.get("/api/v1/operators", ADMIN).await.json;
    assert_eq!(
        list["operators"][0]["skills"],
        json!(["press", "supervisor"])
    );
    assert_eq!(list["operators"][0]["has_pin"], true);
    assert_eq!(list["operators"][1]["active"], false);
    // A file without the pin column keeps the PINs.
    let reply = import_csv(&h, "badge,name,skills\n10442,Li Wei,press\n").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let one = h.get("/api/v1/operators/10442", ADMIN).await.json;
    assert_eq!(one["has_pin"], true);
    assert_eq!(one["skills"], json!(["press"]));
}

#[tokio::test]
async fn issue_11_every_plan_carries_the_active_registry_with_pin_hashes_that_verify() {
    let h = Harness::new().await;
    h.create_edge("line-1").await;
    put_operator(
        &h,
        "10442",
        json!({"name": "Li Wei", "skills": ["press"], "pin": PIN}),
    )
    .await;
    put_operator(&h, "10443", json!({"name": "Wang Fang"})).await;
    put_operator(&h, "10444", json!({"name": "Gone", "active": false})).await;

    // What a caller sends as operators is replaced by the registry.
    let plan = publish_raw(
        &h,
        "line-1",
        json!({"work_orders": [work_order("WO-1")],
               "operators": [{"badge": "666", "name": "Intruder", "skills": ["supervisor"]}]}),
    )
    .await;
    let badges: Vec<&str> = plan.operators.iter().map(|o| o.badge.as_str()).collect();
    assert_eq!(badges, ["10442", "10443"]);
    assert_eq!(plan.operators[0].skills, ["press"]);
    assert_eq!(plan.operators[1].pin_hash, None);
    let phc = plan.operators[0].pin_hash.clone().expect("a pin hash");
    assert!(phc.starts_with("$argon2id$v=19$m=8192,t=2,p=1$"), "{phc}");
    assert!(edge_verifies(&phc, PIN));
    assert!(!edge_verifies(&phc, "86420976"));
    assert!(!edge_verifies(&phc, ""));
    assert_eq!(protocol::bounds::check_plan(&plan.content()), Ok(()));

    // The edge's poll gets the same, and so does a plan ERP publishes on release.
    let h2 = Harness::new().await;
    let token = plant(&h2).await;
    put_operator(&h2, "10442", json!({"name": "Li Wei", "pin": PIN})).await;
    create(&h2, "WO-9", "10").await;
    crate::work_orders::ok(&act(&h2, "WO-9", "release").await);
    let polled = crate::work_orders::poll(&h2, &token, 0).await;
    assert_eq!(polled.work_orders[0].work_order.as_str(), "WO-9");
    assert_eq!(polled.operators.len(), 1);
    assert!(edge_verifies(
        polled.operators[0].pin_hash.as_deref().unwrap(),
        PIN
    ));
}

#[tokio::test]
async fn issue_11_a_registry_change_publishes_a_plan_that_wakes_a_waiting_poll() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.create_edge("line-2").await;
    let v1 = publish_raw(&h, "line-1", json!({"work_orders": [work_order("WO-1")]})).await;
    assert!(v1.operators.is_empty());

    let app = h.app();
    let req = request(
        Method::GET,
        "/api/v1/sync/plan?have=1&wait_ms=30000",
        Some(&token),
        None,
    );
    let poll = tokio::spawn(async move { app.oneshot(req).await.unwrap() });
    while h.state.plan_waiters(&EdgeId::from("line-1")) == 0 {
        tokio::task::yield_now().await;
    }
    assert!(!poll.is_finished());

    let reply = put_operator(&h, "10442", json!({"name": "Li Wei", "pin": PIN})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let response = tokio::time::timeout(Duration::from_secs(20), poll)
        .await
        .expect("the registry change woke the poll before its 30 s wait ran out")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let plan: Plan = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(plan.version, protocol::PlanVersion(2));
    assert_eq!(plan.work_orders, v1.work_orders, "the content stays");
    assert_eq!(plan.operators[0].badge.as_str(), "10442");

    // An edge without a plan gets none; an update that changes nothing publishes nothing.
    let reply = h.get("/api/v1/edges/line-2/plan", ADMIN).await;
    reply.assert_error(StatusCode::NOT_FOUND, "not_found");
    put_operator(&h, "10442", json!({"name": "Li Wei"})).await;
    assert_eq!(
        h.get("/api/v1/edges/line-1/plan", ADMIN).await.json["version"],
        2
    );
    // Deactivation takes the badge out of the next version.
    put_operator(&h, "10442", json!({"name": "Li Wei", "active": false})).await;
    let plan = h.get("/api/v1/edges/line-1/plan", ADMIN).await.json;
    assert_eq!(plan["version"], 3);
    assert!(plan.get("operators").is_none(), "{plan}");
}

#[tokio::test]
async fn issue_11_the_pin_appears_in_no_answer_but_as_a_hash_in_plans() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    publish_raw(&h, "line-1", json!({"work_orders": [work_order("WO-1")]})).await;
    let mut answers = vec![
        put_operator(&h, "10442", json!({"name": "Li Wei", "pin": PIN}))
            .await
            .json,
        import_csv(
            &h,
            &format!("badge,name,skills,pin\n10443,Wang Fang,,{PIN}\n"),
        )
        .await
        .json,
        // Refusals do not quote it either.
        put_operator(
            &h,
            "10444",
            json!({"name": "\u{0}", "pin": format!("{PIN}x")}),
        )
        .await
        .json,
        put_operator(
            &h,
            "10444",
            json!({"name": "A", "pin": PIN, "clear_pin": true}),
        )
        .await
        .json,
        import_csv(
            &h,
            &format!("badge,name,skills,pin\n10445,X,,{PIN}0000000\n"),
        )
        .await
        .json,
    ];
    for uri in [
        "/api/v1/operators",
        "/api/v1/operators/10442",
        "/api/v1/edges",
        "/api/v1/openapi.json",
    ] {
        answers.push(h.get(uri, ADMIN).await.json);
    }
    let plan = h.get("/api/v1/edges/line-1/plan", ADMIN).await.json;
    let polled = h.get("/api/v1/sync/plan?have=0", &token).await.json;
    for answer in &answers {
        let text = answer.to_string();
        assert!(!text.contains(PIN), "{text}");
        assert!(!text.contains("$argon2"), "{text}");
    }
    for plan in [&plan, &polled] {
        let text = plan.to_string();
        assert!(!text.contains(PIN), "{text}");
        assert_eq!(text.matches("$argon2id$").count(), 2, "{text}");
    }
}

/// A data directory from before the registry and the quarantine (schema 3) opens, gets the
/// new tables, and works.
#[tokio::test]
async fn issue_11_a_schema_3_data_dir_gets_the_registry_and_the_quarantine() {
    if !super::sqlite_only("an upgrade from SQLite schema 3") {
        return;
    }
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=3).await;
    {
        let conn = rusqlite::Connection::open(h.dir.path().join("central.db")).unwrap();
        conn.execute_batch("DROP TABLE operators; DROP TABLE quarantine; PRAGMA user_version = 3;")
            .unwrap();
    }
    let h = h.reopen().await;
    let conn = rusqlite::Connection::open(h.dir.path().join("central.db")).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert!(version >= 4, "{version}");
    let reply = put_operator(&h, "10442", json!({"name": "Li Wei"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let edges = h.get("/api/v1/edges", ADMIN).await;
    assert_eq!(edges.json["edges"][0]["quarantined"], 0);
    assert_eq!(edges.json["edges"][0]["acked_seq"], 3);
}
