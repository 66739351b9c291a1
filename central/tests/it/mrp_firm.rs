//! Issue 12, MRP firming: a run is stored, its planned orders become work orders (one,
//! several or all, each at most once), past-due starts are late with how late, purchase
//! requisitions are listed for buying, and the next run nets what was firmed and produced.

use crate::work_orders::{act, at, d, import, ok, plant, send};
use crate::*;

async fn mrp(h: &Harness, as_of: &str) -> Value {
    let reply = h
        .post(&format!("/api/v1/mrp/run?as_of={as_of}"), ADMIN, json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

async fn firm(h: &Harness, run: &Value, body: Value) -> Reply {
    h.post(&format!("/api/v1/mrp/runs/{run}/firm"), ADMIN, body)
        .await
}

/// The planned orders of `item` in a plan.
fn orders_of<'a>(plan: &'a Value, item: &str) -> Vec<&'a Value> {
    plan["planned_orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["item"] == item)
        .collect()
}

async fn work_orders(h: &Harness) -> Vec<Value> {
    let reply = h.get("/api/v1/work-orders", ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["work_orders"].as_array().unwrap().clone()
}

/// Issue 12: "nothing turns a planned order into a work order". A run is stored under a
/// number; firming its FRAME order makes one work order (planned, the order's quantity and due
/// date, on the line of the routing's first work center); firming it again, by reference or
/// with `all`, answers the same work order and makes none.
#[tokio::test]
async fn firming_makes_each_planned_order_a_work_order_once() {
    let h = Harness::new().await;
    plant(&h).await;
    import(
        &h,
        "demands",
        "item,qty,due_date,reference\nFRAME,100,2027-03-01,SO-1\n",
    )
    .await;
    let plan = mrp(&h, "2027-01-04").await;
    assert_eq!(plan["run"], 1, "{plan}");
    assert_eq!(plan["as_of"], "2027-01-04");
    let frame = orders_of(&plan, "FRAME");
    assert_eq!(frame.len(), 1, "{plan}");
    let reference = frame[0]["reference"].as_str().unwrap().to_owned();
    assert_eq!(frame[0]["late"], false);

    let reply = firm(&h, &plan["run"], json!({"planned_orders": [reference]})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let firmed = &reply.json["firmed"];
    assert_eq!(firmed.as_array().unwrap().len(), 1, "{}", reply.json);
    assert_eq!(firmed[0]["planned_order"], reference.as_str());
    assert_eq!(firmed[0]["created"], true);
    let wo = firmed[0]["work_order"].as_str().unwrap().to_owned();
    let view = h.get(&format!("/api/v1/work-orders/{wo}"), ADMIN).await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.json);
    assert_eq!(
        (
            view.json["item"].as_str(),
            view.json["qty"].as_str(),
            view.json["due"].as_str(),
            view.json["line"].as_str(),
            view.json["state"].as_str()
        ),
        (
            Some("FRAME"),
            Some("100"),
            Some("2027-03-01"),
            Some("L1"),
            Some("planned")
        ),
        "{}",
        view.json
    );
    assert_eq!(view.json["operations"].as_array().unwrap().len(), 2);
    assert_eq!(view.json["components"].as_array().unwrap().len(), 2);

    // Again, by reference and with all: the same work order, none new.
    let again = firm(&h, &plan["run"], json!({"planned_orders": [reference]})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    assert_eq!(
        again.json["firmed"],
        json!([{"planned_order": reference, "work_order": wo, "created": false}])
    );
    let all = firm(&h, &plan["run"], json!({"all": true})).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.json);
    assert_eq!(
        all.json["firmed"],
        json!([{"planned_order": reference, "work_order": wo, "created": false}])
    );
    // The purchase requisitions are skipped, named.
    let skipped: Vec<&str> = all.json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["planned_order"].as_str().unwrap())
        .collect();
    let buys: Vec<&str> = plan["planned_orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "buy")
        .map(|o| o["reference"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, buys);
    assert_eq!(work_orders(&h).await.len(), 1);

    // The stored run says what was firmed.
    let run = h.get("/api/v1/mrp/runs/1", ADMIN).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.json);
    assert_eq!(run.json["planned_orders"], plan["planned_orders"]);
    assert_eq!(
        run.json["firmed"],
        json!([{"planned_order": reference, "work_order": wo, "created": false}])
    );

    // The next run sees the firmed order as supply: no FRAME planned again, and its steel and
    // bolts are still planned, pegged to the work order.
    let next = mrp(&h, "2027-01-04").await;
    assert_eq!(next["run"], 2);
    assert!(orders_of(&next, "FRAME").is_empty(), "{next}");
    let steel = orders_of(&next, "STEEL");
    assert_eq!(steel.len(), 1, "{next}");
    assert_eq!(steel[0]["qty"], json!(51), "0.5 × 100 × 1.02: {next}");
    assert_eq!(steel[0]["pegged_to"], json!([wo]));
    assert_eq!(orders_of(&next, "BOLT")[0]["qty"], json!(400), "{next}");
}

/// Firming refuses, naming what was wrong, and makes nothing: an unknown run (404), a
/// reference not in the run, a purchase requisition, a body that selects nothing, an unknown
/// line (400). All or none: one bad reference among good ones makes no work order.
#[tokio::test]
async fn firming_refuses_what_it_cannot_firm_and_makes_nothing() {
    let h = Harness::new().await;
    plant(&h).await;
    import(
        &h,
        "demands",
        "item,qty,due_date,reference\nFRAME,100,2027-03-01,SO-1\n",
    )
    .await;
    let plan = mrp(&h, "2027-01-04").await;
    let frame = orders_of(&plan, "FRAME")[0]["reference"].clone();
    let steel = orders_of(&plan, "STEEL")[0]["reference"].clone();

    let reply = h
        .post("/api/v1/mrp/runs/9/firm", ADMIN, json!({"all": true}))
        .await;
    let message = reply.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(message.contains("mrp run 9"), "{message}");
    let reply = firm(
        &h,
        &plan["run"],
        json!({"planned_orders": [frame, "PLN-999999"]}),
    )
    .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("PLN-999999"), "{message}");
    let reply = firm(&h, &plan["run"], json!({"planned_orders": [steel]})).await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("purchase requisition"), "{message}");
    for body in [
        json!({}),
        json!({"planned_orders": []}),
        json!({"planned_orders": [frame], "all": true}),
        json!({"all": false}),
    ] {
        let reply = firm(&h, &plan["run"], body.clone()).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let reply = firm(
        &h,
        &plan["run"],
        json!({"planned_orders": [frame], "line": "NOPE"}),
    )
    .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("NOPE"), "{message}");
    assert!(work_orders(&h).await.is_empty());
    let reply = h.get("/api/v1/mrp/runs/9/requisitions", ADMIN).await;
    reply.assert_error(StatusCode::NOT_FOUND, "not_found");
    let reply = h
        .call(
            Method::POST,
            "/api/v1/mrp/runs/1/firm",
            None,
            Some(json!({"all": true})),
        )
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// Issue 12: "MRP planned an order to start in the past without marking it late". Demand due
/// on the planning date (Mon 2027-01-04): FRAME (1 day) starts Fri 2027-01-01, 3 days late;
/// its STEEL (5 days) is needed on the 4th and had to be ordered Mon 2026-12-28, 7 days late.
/// The requisitions list what to buy, how much, by when, and say it is late.
#[tokio::test]
async fn past_due_starts_are_late_and_requisitions_say_what_to_buy_by_when() {
    let h = Harness::new().await;
    plant(&h).await;
    import(
        &h,
        "demands",
        "item,qty,due_date,reference\nFRAME,10,2027-01-04,SO-9\nFRAME,10,2027-03-01,SO-10\n",
    )
    .await;
    let plan = mrp(&h, "2027-01-04").await;
    let frame = orders_of(&plan, "FRAME");
    assert_eq!(frame.len(), 2, "{plan}");
    assert_eq!(
        (
            &frame[0]["start"],
            &frame[0]["late"],
            &frame[0]["days_late"]
        ),
        (&json!("2027-01-01"), &json!(true), &json!(3)),
        "{plan}"
    );
    assert_eq!(frame[1]["late"], false);
    assert!(frame[1].get("days_late").is_none(), "{}", frame[1]);

    let reply = h
        .get(
            &format!("/api/v1/mrp/runs/{}/requisitions", plan["run"]),
            ADMIN,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["as_of"], "2027-01-04");
    let steel: Vec<&Value> = reply.json["requisitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["item"] == "STEEL")
        .collect();
    assert_eq!(steel.len(), 2, "{}", reply.json);
    assert_eq!(
        steel[0],
        &json!({
            "planned_order": steel[0]["planned_order"], "item": "STEEL", "qty": 5.1, "uom": "kg",
            "need_date": "2027-01-04", "order_by": "2026-12-28", "late": true, "days_late": 7,
            "pegged_to": [frame[0]["reference"]]
        })
    );
    assert_eq!(steel[1]["late"], false, "{}", steel[1]);
    // Only purchased items are listed.
    assert!(
        reply.json["requisitions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["item"] == "STEEL" || r["item"] == "BOLT")
    );
}

/// A firmed, released order that produced a lot: the next run nets the lot (on hand) and the
/// rest of the order (a scheduled receipt) and plans no FRAME; once the order's whole
/// quantity is in stock, the stock alone covers the demand.
#[tokio::test]
async fn the_next_run_nets_what_firmed_orders_produced() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    ok(&h
        .call(
            Method::PUT,
            "/api/v1/warehouses/WH",
            Some(ADMIN),
            Some(json!({"description": "main"})),
        )
        .await);
    import(
        &h,
        "demands",
        "item,qty,due_date,reference\nFRAME,100,2027-03-01,SO-1\n",
    )
    .await;
    let plan = mrp(&h, "2027-01-04").await;
    let reply = firm(&h, &plan["run"], json!({"all": true, "priority": 3})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let wo = reply.json["firmed"][0]["work_order"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&act(&h, &wo, "release").await);
    send(
        &h,
        &token,
        &[at(
            1,
            EventKind::LotProduced {
                work_order: wo.as_str().into(),
                item: "FRAME".into(),
                lot: "F-1".into(),
                qty: d("40"),
                uom: "ea".into(),
                consumed_lots: Vec::new(),
            },
        )],
    )
    .await;
    let next = mrp(&h, "2027-01-04").await;
    assert!(orders_of(&next, "FRAME").is_empty(), "{next}");
    // 60 more frames are still to come from the order; the demand grows to 150: 50 planned.
    import(
        &h,
        "demands",
        "item,qty,due_date,reference\nFRAME,150,2027-03-01,SO-1\n",
    )
    .await;
    let next = mrp(&h, "2027-01-04").await;
    let frame = orders_of(&next, "FRAME");
    assert_eq!(frame.len(), 1, "{next}");
    assert_eq!(
        frame[0]["qty"],
        json!(50),
        "150 − 40 on hand − 60 to come: {next}"
    );
}
