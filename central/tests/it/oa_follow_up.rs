//! Issue 17, what approvals do in the ERP, on both stores: an approved trip blocks the
//! traveller's days in the roster and becomes a booking task for the administration office
//! (leave blocks the days too); an MRP purchase requisition is bought through its approval and
//! becomes a purchase order to the preferred supplier at its price and lead time, which goods
//! received at an edge close.

use crate::crm::{get, person, post};
use crate::oa_gates::{all_requests, approve, carried_out, request_id, workflow};
use crate::people::Session;
use crate::work_orders::{at, import, ok, plant, send};
use crate::*;

async fn submit(h: &Harness, s: &Session, form: &str, values: Value) -> Value {
    let reply = post(
        h,
        s,
        "/api/v1/oa/requests",
        json!({"form": form, "values": values}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    reply.json
}

async fn notifications(h: &Harness, s: &Session) -> Vec<String> {
    let reply = get(h, s, "/api/v1/notifications").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn roster(h: &Harness, s: &Session, query: &str) -> Reply {
    get(h, s, &format!("/api/v1/roster?{query}")).await
}

fn blocks(reply: &Reply) -> Vec<(String, String, String, String, String)> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap().to_owned();
            (s("login"), s("from"), s("to"), s("reason"), s("note"))
        })
        .collect()
}

#[tokio::test]
async fn issue_17_an_approved_trip_is_blocked_in_the_roster_and_booked_by_the_office() {
    let h = Harness::new().await;
    let boss = person(&h, "boss.gm", "plant_manager", None).await;
    let chen = person(&h, "chen.sales", "sales", Some("boss.gm")).await;
    let wu = person(&h, "wu.office", "office", None).await;
    let planner = person(&h, "pan.planner", "planner", None).await;
    let manager_step = |rules: Value| {
        json!([{"name": "manager", "approvers": [{"by": "manager", "levels": 1}],
                "mode": {"need": "any"}, "auto_approve": rules}])
    };
    workflow(
        &h,
        "travel",
        manager_step(json!([{"role": "sales", "field": "budget", "up_to": "2000"}])),
    )
    .await;
    workflow(&h, "leave", manager_step(json!([]))).await;

    let trip = submit(
        &h,
        &chen,
        "travel",
        json!({"destination": "Hannover Messe", "dates": {"from": "2027-04-19", "to": "2027-04-23"},
               "reason": "trade fair", "budget": {"amount": "18000", "currency": "CNY"}}),
    )
    .await;
    assert_eq!(trip["state"], "pending", "{trip}");
    let april = "from=2027-04-01&to=2027-04-30";
    assert!(blocks(&roster(&h, &chen, april).await).is_empty());
    let tasks = get(&h, &wu, "/api/v1/oa/tasks").await;
    assert_eq!(tasks.json["tasks"], json!([]), "{}", tasks.json);

    // The manager approves: the days are blocked and the office has a booking task.
    let id = trip["id"].as_i64().unwrap();
    let approved = approve(&h, &boss, id).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.json);
    assert_eq!(
        carried_out(&approved.json["trail"]),
        ["2027-04-19 to 2027-04-23 blocked in the roster; a booking task for the office"]
    );
    let trip_block = (
        "chen.sales".to_owned(),
        "2027-04-19".to_owned(),
        "2027-04-23".to_owned(),
        "travel".to_owned(),
        "Hannover Messe".to_owned(),
    );
    assert_eq!(
        blocks(&roster(&h, &chen, april).await),
        std::slice::from_ref(&trip_block)
    );
    // Others' days are for roster.read: the planner sees them, the traveller only their own.
    assert_eq!(
        blocks(&roster(&h, &planner, april).await),
        std::slice::from_ref(&trip_block)
    );
    roster(&h, &chen, &format!("{april}&login=boss.gm"))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(blocks(&roster(&h, &planner, "from=2027-05-01&to=2027-05-31").await).is_empty());
    roster(&h, &chen, "from=2027-05-01&to=2027-04-01")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    roster(&h, &chen, "from=2027-01-01&to=2028-06-01")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");

    let tasks = get(&h, &wu, "/api/v1/oa/tasks").await;
    let list = tasks.json["tasks"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", tasks.json);
    let task = &list[0];
    assert_eq!(
        (
            &task["kind"],
            &task["person"],
            &task["request"],
            &task["done"]
        ),
        (
            &json!("travel_booking"),
            &json!("chen.sales"),
            &trip["number"],
            &json!(false)
        )
    );
    assert_eq!(
        task["details"],
        json!({"destination": "Hannover Messe", "from": "2027-04-19", "to": "2027-04-23",
               "budget": {"amount": "18000", "currency": "CNY"}, "reason": "trade fair"})
    );
    assert!(
        notifications(&h, &wu)
            .await
            .iter()
            .any(|n| n.contains("Book the trip of chen.sales to Hannover Messe")),
        "{:?}",
        notifications(&h, &wu).await
    );
    // The tasks are the office's.
    get(&h, &chen, "/api/v1/oa/tasks")
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Booked: the traveller hears the booking's reference; a task is done once.
    let task_id = task["id"].as_i64().unwrap();
    let done = post(
        &h,
        &wu,
        &format!("/api/v1/oa/tasks/{task_id}/done"),
        json!({"note": "LH 723 on 04-18, Hotel Messe"}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.json);
    assert_eq!(
        (&done.json["done"], &done.json["done_by"]),
        (&json!(true), &json!("wu.office"))
    );
    post(
        &h,
        &wu,
        &format!("/api/v1/oa/tasks/{task_id}/done"),
        json!({"note": "again"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "done");
    assert!(
        notifications(&h, &chen)
            .await
            .iter()
            .any(|n| n.contains("Your trip to Hannover Messe is booked") && n.contains("LH 723")),
        "{:?}",
        notifications(&h, &chen).await
    );
    let open = get(&h, &wu, "/api/v1/oa/tasks").await;
    assert_eq!(open.json["tasks"], json!([]));
    let finished = get(&h, &wu, "/api/v1/oa/tasks?done=true").await;
    assert_eq!(finished.json["tasks"].as_array().unwrap().len(), 1);

    // A trip the rule approves at once (a salesperson's, within 2000) is blocked and booked at
    // once.
    let short = submit(
        &h,
        &chen,
        "travel",
        json!({"destination": "Suzhou", "dates": {"from": "2027-04-26", "to": "2027-04-26"},
               "reason": "supplier visit", "budget": {"amount": "800", "currency": "CNY"}}),
    )
    .await;
    assert_eq!(short["state"], "approved", "{short}");
    assert_eq!(
        carried_out(&short["trail"]),
        ["2027-04-26 to 2027-04-26 blocked in the roster; a booking task for the office"]
    );
    assert_eq!(
        get(&h, &wu, "/api/v1/oa/tasks").await.json["tasks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Leave blocks the days and asks the office for nothing.
    let leave = submit(
        &h,
        &chen,
        "leave",
        json!({"type": "annual", "dates": {"from": "2027-04-29", "to": "2027-05-04"},
               "reason": "holiday"}),
    )
    .await;
    ok(&approve(&h, &boss, leave["id"].as_i64().unwrap()).await);
    assert_eq!(
        blocks(&roster(&h, &chen, april).await),
        [
            trip_block,
            (
                "chen.sales".into(),
                "2027-04-26".into(),
                "2027-04-26".into(),
                "travel".into(),
                "Suzhou".into()
            ),
            (
                "chen.sales".into(),
                "2027-04-29".into(),
                "2027-05-04".into(),
                "leave".into(),
                "annual".into()
            ),
        ]
    );
    assert_eq!(
        get(&h, &wu, "/api/v1/oa/tasks").await.json["tasks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Days already blocked are not asked for again: leave over the trip is refused, naming it.
    let again = post(
        &h,
        &chen,
        "/api/v1/oa/requests",
        json!({"form": "leave", "values": {"type": "personal",
               "dates": {"from": "2027-04-23", "to": "2027-04-24"}, "reason": "move house"}}),
    )
    .await;
    let message = again
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid")
        .to_owned();
    assert!(
        message.contains("chen.sales is away from 2027-04-19 to 2027-04-23 already")
            && message.contains(trip["number"].as_str().unwrap()),
        "{message}"
    );
    // Another person's days are theirs: a colleague may take the same days.
    let zhao = person(&h, "zhao.sales", "sales", Some("boss.gm")).await;
    let theirs = post(
        &h,
        &zhao,
        "/api/v1/oa/requests",
        json!({"form": "travel", "values": {"destination": "Hannover Messe",
               "dates": {"from": "2027-04-19", "to": "2027-04-23"}, "reason": "trade fair",
               "budget": {"amount": "900", "currency": "CNY"}}}),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.json);
}

/// The planned orders of `item` among a run's requisitions.
async fn requisition(h: &Harness, run: &Value, item: &str) -> String {
    let reply = h
        .get(&format!("/api/v1/mrp/runs/{run}/requisitions"), ADMIN)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["requisitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["item"] == item)
        .unwrap_or_else(|| panic!("no requisition of {item}: {}", reply.json))["planned_order"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn received(item: &str, lot: &str, qty: &str, uom: &str, po: Option<&str>) -> EventKind {
    EventKind::MaterialReceived {
        item: item.into(),
        lot: lot.into(),
        qty: qty.parse().unwrap(),
        uom: uom.into(),
        location: "WH1".into(),
        purchase_order: po.map(str::to_owned),
    }
}

async fn order(h: &Harness, number: &str) -> Value {
    let reply = h
        .get(&format!("/api/v1/purchase-orders/{number}"), ADMIN)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

#[tokio::test]
async fn issue_17_an_approved_requisition_is_ordered_and_received_at_the_edge() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    let boss = person(&h, "boss.gm", "plant_manager", None).await;
    let pan = person(&h, "pan.planner", "planner", Some("boss.gm")).await;
    import(
        &h,
        "suppliers",
        "supplier,item,lead_time_days,price,preferred\nS-STEEL,STEEL,7,12.5,true\n\
         S-ALT,STEEL,3,11,\nS-BOLT,BOLT,2,0.1,true\n",
    )
    .await;
    import(
        &h,
        "demands",
        "item,qty,due_date,reference\nFRAME,100,2027-03-01,SO-9\n",
    )
    .await;
    let run = h
        .post("/api/v1/mrp/run?as_of=2027-01-04", ADMIN, json!({}))
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.json);
    let run = run.json["run"].clone();
    // Above 500 the plant manager approves; below, nobody needs to.
    workflow(
        &h,
        "purchase_requisition",
        json!([{"name": "plant manager", "approvers": [{"by": "role", "role": "plant_manager"}],
                "mode": {"need": "any"},
                "when": {"if": "amount", "field": "amount", "op": "gt", "value": "500"}}]),
    )
    .await;
    let steel = requisition(&h, &run, "STEEL").await;
    let bolt = requisition(&h, &run, "BOLT").await;
    let buy = |planned: &str| format!("/api/v1/mrp/runs/{run}/requisitions/{planned}/buy");

    // 51 kg of steel at the preferred supplier's 12.5 (not the cheaper one's): 637.50 waits.
    let asked = post(&h, &pan, &buy(&steel), json!({})).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.json);
    assert_eq!(asked.json["outcome"], "awaiting_approval");
    let number = asked.json["request"].as_str().unwrap().to_owned();
    let again = post(&h, &pan, &buy(&steel), json!({})).await;
    assert_eq!(
        (again.status, &again.json["request"]),
        (StatusCode::ACCEPTED, &json!(number))
    );
    let none = h.get("/api/v1/purchase-orders", ADMIN).await;
    assert_eq!(none.json["purchase_orders"], json!([]), "{}", none.json);
    let id = request_id(&h, &number).await;
    let requests = all_requests(&h).await;
    assert_eq!(requests.len(), 1, "{requests:?}");

    let approved = approve(&h, &boss, id).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.json);
    assert_eq!(
        carried_out(&approved.json["trail"]),
        ["purchase order PO000001 placed"]
    );
    let po = order(&h, "PO000001").await;
    assert_eq!(
        (
            &po["supplier"],
            &po["item"],
            &po["qty"],
            &po["uom"],
            &po["price"],
            &po["amount"],
            &po["currency"],
            &po["state"],
            &po["request"],
            &po["created_by"],
        ),
        (
            &json!("S-STEEL"),
            &json!("STEEL"),
            &json!("51"),
            &json!("kg"),
            &json!("12.5"),
            &json!("637.50"),
            &json!("CNY"),
            &json!("open"),
            &json!(number),
            &json!("pan.planner"),
        ),
        "{po}"
    );
    let day = |k: &str| {
        po[k]
            .as_str()
            .unwrap()
            .parse::<chrono::NaiveDate>()
            .unwrap()
    };
    assert_eq!((day("due") - day("ordered_on")).num_days(), 7, "{po}");
    // Bought once: asked again, the same order.
    let again = post(&h, &pan, &buy(&steel), json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    assert_eq!(
        (
            &again.json["outcome"],
            &again.json["purchase_order"]["number"],
            &again.json["created"]
        ),
        (&json!("ordered"), &json!("PO000001"), &json!(false))
    );

    // 400 bolts at 0.1: no step asks about 40.00, so it is ordered at once, no request kept.
    let bolts = post(&h, &pan, &buy(&bolt), json!({})).await;
    assert_eq!(bolts.status, StatusCode::CREATED, "{}", bolts.json);
    assert_eq!(bolts.json["purchase_order"]["number"], "PO000002");
    assert_eq!(bolts.json["purchase_order"]["supplier"], "S-BOLT");
    assert_eq!(all_requests(&h).await.len(), 1);

    // A make order is firmed, not bought; the buying is the planner's, not a salesperson's.
    let frame = h.get(&format!("/api/v1/mrp/runs/{run}"), ADMIN).await.json["planned_orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["item"] == "FRAME")
        .unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    post(&h, &pan, &buy(&frame), json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "not_a_requisition");
    let sales = person(&h, "li.sales", "sales", None).await;
    post(&h, &sales, &buy(&bolt), json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    h.post(
        &format!("/api/v1/mrp/runs/{run}/requisitions/PLN-999999/buy"),
        ADMIN,
        json!({}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");

    // The edge receives 30 kg against PO000001 (its label's AI 400), then 25 kg with no order
    // named: the item's open order takes it, and is received in full.
    send(
        &h,
        &token,
        &[at(
            1,
            received("STEEL", "L-1", "30", "kg", Some("PO000001")),
        )],
    )
    .await;
    let po = order(&h, "PO000001").await;
    assert_eq!(
        (&po["received"], &po["state"]),
        (&json!("30"), &json!("open"))
    );
    let second = [at(2, received("STEEL", "L-2", "25", "kg", None))];
    send(&h, &token, &second).await;
    // The same batch again books nothing twice.
    send(&h, &token, &second).await;
    let po = order(&h, "PO000001").await;
    assert_eq!(
        (&po["received"], &po["state"]),
        (&json!("55"), &json!("received")),
        "{po}"
    );
    let lots: Vec<&Value> = po["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["lot"])
        .collect();
    assert_eq!(lots, [&json!("L-1"), &json!("L-2")]);
    // Steel arriving now has no open order: it is stock, and no order changes.
    send(
        &h,
        &token,
        &[at(3, received("STEEL", "L-3", "5", "kg", None))],
    )
    .await;
    assert_eq!(order(&h, "PO000001").await["received"], "55");
    let open = h.get("/api/v1/purchase-orders?state=open", ADMIN).await;
    let numbers: Vec<&Value> = open.json["purchase_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["number"])
        .collect();
    assert_eq!(numbers, [&json!("PO000002")], "{}", open.json);

    // Anyone may fill in the form, but a requisition nobody approved is an order only when
    // its requester may buy: a salesperson's is approved (no step asks about 3.00) and not
    // ordered.
    let wish = submit(
        &h,
        &sales,
        "purchase_requisition",
        json!({"item": "BOLT", "qty": "30", "need_date": "2027-02-01",
               "amount": {"amount": "3", "currency": "CNY"}}),
    )
    .await;
    assert_eq!(
        carried_out(&wish["trail"]),
        ["not carried out: li.sales may not buy (mrp.firm), and nobody approved the requisition"]
    );
    let all = h.get("/api/v1/purchase-orders", ADMIN).await;
    assert_eq!(all.json["purchase_orders"].as_array().unwrap().len(), 2);

    // A requisition filled in by hand for an item nobody supplies is approved, and its
    // order refused with the reason in the trail and told to the requester.
    let by_hand = submit(
        &h,
        &pan,
        "purchase_requisition",
        json!({"item": "FRAME", "qty": "5", "need_date": "2027-02-01",
               "amount": {"amount": "100", "currency": "CNY"}}),
    )
    .await;
    assert_eq!(by_hand["state"], "approved", "{by_hand}");
    let trail = carried_out(&by_hand["trail"]);
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(
        trail[0].starts_with("not carried out: item FRAME has no supplier"),
        "{trail:?}"
    );
    assert!(
        notifications(&h, &pan)
            .await
            .iter()
            .any(|n| n.contains("has no supplier")),
        "{:?}",
        notifications(&h, &pan).await
    );
}
