//! What central sends down to the lines besides the orders: the GTINs of the components (for
//! suppliers' GS1 labels) and the held and expiring lots, so the edge can check a scan while
//! central is unreachable; and a completed order leaving its line's plan. Issues 5 and 6.

use crate::*;
use protocol::{Plan, PlanVersion};
use std::collections::BTreeMap;
use std::time::Duration;

const ITEMS_HEADER: &str =
    "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock";

async fn import(h: &Harness, kind: &str, csv: &str) -> Reply {
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

async fn put(h: &Harness, uri: &str, body: Value) -> Reply {
    h.call(Method::PUT, uri, Some(ADMIN), Some(body)).await
}

#[track_caller]
fn ok(reply: &Reply) {
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.json);
}

/// FRAME (make) from STEEL (kg, 30 days' shelf life, GTIN-13 4006381333931) and BOLT (no
/// GTIN, no shelf life); PAINT is bought but no order uses it. Line L1 run by edge `line-1`,
/// routing 10 cut at st-10. Work order WO-1 for 10 FRAME, released: plan version 1.
async fn released(h: &Harness) -> String {
    let token = h.create_edge("line-1").await;
    ok(&import(
        h,
        "items",
        &format!(
            "{ITEMS_HEADER},shelf_life_days,gtin\n\
             FRAME,Frame,make,ea,1,lfl,,,,00012345678905\n\
             STEEL,Steel,buy,kg,5,lfl,,,30,4006381333931\n\
             BOLT,Bolt,buy,ea,5,lfl,,,,\n\
             PAINT,Paint,buy,l,5,lfl,,,10,036000291452\n"
        ),
    )
    .await);
    ok(&import(
        h,
        "boms",
        "parent,component,qty_per,scrap_pct\nFRAME,STEEL,0.5,0\nFRAME,BOLT,4,0\n",
    )
    .await);
    ok(&put(h, "/api/v1/lines/L1", json!({"edge_id": "line-1"})).await);
    ok(&put(
        h,
        "/api/v1/work-centers/CUT",
        json!({"line": "L1", "station": "st-10"}),
    )
    .await);
    ok(&put(
        h,
        "/api/v1/routings/FRAME",
        json!({"operations": [{"operation": 10, "description": "cut", "work_center": "CUT"}]}),
    )
    .await);
    create_and_release(h, "WO-1").await;
    assert_eq!(poll(h, &token, 0).await.version, PlanVersion(1));
    token
}

async fn create_and_release(h: &Harness, id: &str) {
    let reply = h
        .post(
            "/api/v1/work-orders",
            ADMIN,
            json!({"work_order": id, "item": "FRAME", "qty": "10", "due": "2026-12-01", "priority": 5, "line": "L1"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    ok(&h
        .post(
            &format!("/api/v1/work-orders/{id}/release"),
            ADMIN,
            json!({}),
        )
        .await);
}

/// The plan newer than `have` (200 expected).
async fn poll(h: &Harness, token: &str, have: u64) -> Plan {
    let reply = h
        .get(&format!("/api/v1/sync/plan?have={have}&wait_ms=0"), token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    serde_json::from_value(reply.json).unwrap()
}

/// Asserts no plan newer than `have`.
async fn no_new_plan(h: &Harness, token: &str, have: u64) {
    let reply = h
        .get(&format!("/api/v1/sync/plan?have={have}&wait_ms=0"), token)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.json);
}

/// Edge events at 2026-11-27 08:30 UTC (the harness's event time), seq from 1.
async fn send(h: &Harness, token: &str, first_seq: u64, kinds: Vec<EventKind>) {
    let events: Vec<Event> = kinds
        .into_iter()
        .zip(first_seq..)
        .map(|(kind, seq)| {
            let mut e = event("line-1", seq);
            e.kind = kind;
            e
        })
        .collect();
    let reply = h
        .post(
            "/api/v1/sync/events",
            token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": events}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

fn received(item: &str, lot: &str, qty: &str) -> EventKind {
    EventKind::MaterialReceived {
        item: item.into(),
        lot: lot.into(),
        qty: qty.parse().unwrap(),
        uom: "kg".into(),
        location: "WH1".into(),
        purchase_order: None,
    }
}

fn date(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_released_orders_plan_carries_the_gtins_of_its_components() {
    let h = Harness::new().await;
    let token = released(&h).await;
    let plan = poll(&h, &token, 0).await;
    // FRAME is the product and PAINT no order's component: neither is scanned as material.
    assert_eq!(
        plan.gtins,
        BTreeMap::from([("04006381333931".to_owned(), "STEEL".into())])
    );

    // A GTIN-8 through the REST API, stored as 14 digits.
    let bolt = put(
        &h,
        "/api/v1/items/BOLT",
        json!({"kind": "buy", "uom": "ea", "gtin": "96385074"}),
    )
    .await;
    ok(&bolt);
    assert_eq!(bolt.json["gtin"], "00000096385074", "{}", bolt.json);
    // Another item's GTIN is refused, and so is a wrong check digit.
    let taken = put(
        &h,
        "/api/v1/items/PAINT",
        json!({"kind": "buy", "uom": "l", "gtin": "04006381333931"}),
    )
    .await;
    let message = taken.assert_error(StatusCode::CONFLICT, "gtin_taken");
    assert!(message.contains("STEEL"), "{message}");
    let bad = put(
        &h,
        "/api/v1/items/PAINT",
        json!({"kind": "buy", "uom": "l", "gtin": "4006381333932"}),
    )
    .await;
    let message = bad.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        message.contains("gtin") && message.contains("check digit"),
        "{message}"
    );

    // The next plan version carries both components' GTINs.
    create_and_release(&h, "WO-2").await;
    let plan = poll(&h, &token, 1).await;
    assert_eq!(plan.version, PlanVersion(2));
    assert_eq!(
        plan.gtins,
        BTreeMap::from([
            ("00000096385074".to_owned(), "BOLT".into()),
            ("04006381333931".to_owned(), "STEEL".into()),
        ])
    );
}

#[tokio::test]
async fn bad_gtins_in_the_items_csv_are_named_by_line_and_column_and_nothing_is_imported() {
    let h = Harness::new().await;
    released(&h).await;
    let reply = import(
        &h,
        "items",
        &format!(
            "{ITEMS_HEADER},gtin\n\
             BOLT,Bolt,buy,ea,5,lfl,,,12345\n\
             NUT,Nut,buy,ea,5,lfl,,,4006381333932\n\
             WASHER,Washer,buy,ea,5,lfl,,,96385074\n"
        ),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let details = reply.json["error"]["details"].as_array().unwrap();
    let cells: Vec<(u64, &str)> = details
        .iter()
        .map(|d| (d["line"].as_u64().unwrap(), d["column"].as_str().unwrap()))
        .collect();
    assert_eq!(cells, [(2, "gtin"), (3, "gtin")], "{}", reply.json);
    assert!(
        details[1]["message"]
            .as_str()
            .unwrap()
            .contains("check digit 2; expected 1"),
        "{}",
        reply.json
    );
    // All or nothing: WASHER, whose row was good, was not imported.
    let washer = h.get("/api/v1/items/WASHER", ADMIN).await;
    assert_eq!(washer.status, StatusCode::NOT_FOUND, "{}", washer.json);

    // A GTIN another item has (STEEL's, in 13 digits) is named at its row too.
    let reply = import(
        &h,
        "items",
        &format!("{ITEMS_HEADER},gtin\nBOLT,Bolt,buy,ea,5,lfl,,,04006381333931\n"),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    assert_eq!(reply.json["error"]["details"][0]["line"], 2);
    assert_eq!(reply.json["error"]["details"][0]["column"], "gtin");

    // A file without the column keeps the GTIN; an empty cell removes it.
    ok(&import(
        &h,
        "items",
        &format!("{ITEMS_HEADER}\nSTEEL,Steel,buy,kg,5,lfl,,\n"),
    )
    .await);
    let steel = h.get("/api/v1/items/STEEL", ADMIN).await;
    assert_eq!(steel.json["gtin"], "04006381333931", "{}", steel.json);
    ok(&import(
        &h,
        "items",
        &format!("{ITEMS_HEADER},gtin\nSTEEL,Steel,buy,kg,5,lfl,,,\n"),
    )
    .await);
    let steel = h.get("/api/v1/items/STEEL", ADMIN).await;
    assert!(steel.json.get("gtin").is_none(), "{}", steel.json);
}

#[tokio::test]
async fn a_received_lot_of_an_item_with_shelf_life_goes_down_with_its_expiry() {
    let h = Harness::new().await;
    let token = released(&h).await;
    // Received on 2026-11-27; STEEL keeps 30 days. BOLT has no shelf life: its lot has no
    // expiry and is not listed. PAINT is nobody's component.
    send(
        &h,
        &token,
        1,
        vec![
            received("STEEL", "S-1", "100"),
            received("BOLT", "B-1", "500"),
            received("PAINT", "P-1", "20"),
        ],
    )
    .await;
    let plan = poll(&h, &token, 1).await;
    assert_eq!(
        plan.version,
        PlanVersion(2),
        "a new expiring lot goes down at once"
    );
    assert_eq!(plan.lots.len(), 1, "{:?}", plan.lots);
    let lot = plan.lot("S-1").expect("the steel lot");
    assert_eq!(lot.item.as_str(), "STEEL");
    assert_eq!(lot.expires, Some(date("2026-12-27")));
    assert!(!lot.on_hold);
    assert_eq!(lot.location.as_ref().map(|l| l.as_str()), Some("WH1"));

    // A second receipt of the same lot changes nothing the line needs.
    send(&h, &token, 4, vec![received("STEEL", "S-1", "5")]).await;
    no_new_plan(&h, &token, 2).await;

    // A supplier's date overrides the computed one, for the lines that use the item.
    let set = h
        .post(
            "/api/v1/lots/S-1/expiry",
            ADMIN,
            json!({"expires": "2026-12-10"}),
        )
        .await;
    ok(&set);
    assert_eq!(set.json["item"], "STEEL");
    let plan = poll(&h, &token, 2).await;
    assert_eq!(plan.version, PlanVersion(3));
    assert_eq!(plan.lot("S-1").unwrap().expires, Some(date("2026-12-10")));
    // A lot nobody's order uses publishes nothing.
    ok(&h
        .post(
            "/api/v1/lots/P-1/expiry",
            ADMIN,
            json!({"expires": "2026-12-31"}),
        )
        .await);
    no_new_plan(&h, &token, 3).await;
    h.post(
        "/api/v1/lots/S-1/expiry",
        ADMIN,
        json!({"expires": "next week"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    h.post(
        "/api/v1/lots/NEVER-SEEN/expiry",
        ADMIN,
        json!({"expires": "2026-12-31"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");

    // Used up (105 kg issued to the line): the lot leaves the plan at its next version.
    send(
        &h,
        &token,
        5,
        vec![EventKind::MaterialIssued {
            work_order: "WO-1".into(),
            operation: Some(10),
            item: "STEEL".into(),
            lot: "S-1".into(),
            qty: "105".parse().unwrap(),
            uom: "kg".into(),
        }],
    )
    .await;
    create_and_release(&h, "WO-2").await;
    let plan = poll(&h, &token, 3).await;
    assert!(plan.lot("S-1").is_none(), "{:?}", plan.lots);
}

#[tokio::test]
async fn a_hold_goes_down_and_its_release_takes_it_out_in_a_newer_version() {
    let h = Harness::new().await;
    let token = released(&h).await;
    send(&h, &token, 1, vec![received("BOLT", "B-7", "500")]).await;
    no_new_plan(&h, &token, 1).await;
    let hold = h
        .post(
            "/api/v1/lots/B-7/hold",
            ADMIN,
            json!({"reason": "QC-17 failed"}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.json);
    assert_eq!(hold.json["item"], "BOLT", "the ledger knows the lot's item");
    let plan = poll(&h, &token, 1).await;
    assert_eq!(plan.version, PlanVersion(2));
    let lot = plan.lot("B-7").expect("held lot in the plan");
    assert!(lot.on_hold);
    assert_eq!(lot.hold_reason.as_deref(), Some("QC-17 failed"));
    assert_eq!(lot.expires, None);

    ok(&h.post("/api/v1/lots/B-7/release", ADMIN, json!({})).await);
    let plan = poll(&h, &token, 2).await;
    assert_eq!(plan.version, PlanVersion(3));
    assert!(plan.lot("B-7").is_none(), "{:?}", plan.lots);

    // A held lot that also expires stays, with its date, once released.
    send(&h, &token, 2, vec![received("STEEL", "S-2", "10")]).await;
    assert_eq!(poll(&h, &token, 3).await.version, PlanVersion(4));
    ok(&h
        .post("/api/v1/lots/S-2/hold", ADMIN, json!({"reason": "damp"}))
        .await);
    let plan = poll(&h, &token, 4).await;
    assert!(plan.lot("S-2").unwrap().on_hold);
    ok(&h.post("/api/v1/lots/S-2/release", ADMIN, json!({})).await);
    let plan = poll(&h, &token, 5).await;
    let lot = plan.lot("S-2").unwrap();
    assert!(!lot.on_hold);
    assert_eq!(lot.expires, Some(date("2026-12-27")));
}

#[tokio::test]
async fn a_completed_order_leaves_the_next_plan_version_and_wakes_the_poll() {
    let h = Harness::new().await;
    let token = released(&h).await;
    create_and_release(&h, "WO-2").await;
    let plan = poll(&h, &token, 1).await;
    assert_eq!(plan.version, PlanVersion(2));
    assert_eq!(plan.work_orders.len(), 2);

    // The edge waits for a plan newer than 2; the completion, ingested, wakes it.
    let app = h.app();
    let req = request(
        Method::GET,
        "/api/v1/sync/plan?have=2&wait_ms=30000",
        Some(&token),
        None,
    );
    let waiting = tokio::spawn(async move { app.oneshot(req).await.unwrap() });
    while h.state.plan_waiters(&EdgeId::from("line-1")) == 0 {
        tokio::task::yield_now().await;
    }
    send(
        &h,
        &token,
        1,
        vec![EventKind::WorkOrderCompleted {
            work_order: "WO-1".into(),
        }],
    )
    .await;
    let response = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the completion woke the poll")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let plan: Plan = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(plan.version, PlanVersion(3));
    let ids: Vec<&str> = plan
        .work_orders
        .iter()
        .map(|w| w.work_order.as_str())
        .collect();
    assert_eq!(ids, ["WO-2"]);
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(view["state"], "completed");

    // Redelivered, the completion is a duplicate and publishes nothing.
    send(
        &h,
        &token,
        1,
        vec![EventKind::WorkOrderCompleted {
            work_order: "WO-1".into(),
        }],
    )
    .await;
    no_new_plan(&h, &token, 3).await;
}
