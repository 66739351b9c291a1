//! Issue 16, "Shipping and after-sales", scanned at the edge: the open lines of confirmed
//! orders go down in the plans of the edges that ship (and no others), the dock's
//! `lot_shipped` events become one delivery per shipment through the sync endpoint (stock out
//! with reason `shipped`, `shipped_qty`, the order completed, SSCCs, the recall list), a
//! re-delivered batch books nothing twice, and what central disagrees with is booked and
//! listed, never refused.

use crate::crm::{get, post, team};
use crate::deliveries::{d, on_hand, plant};
use crate::work_orders::poll;
use crate::*;

fn config() -> CentralConfig {
    let mut config = crate::deliveries::config();
    config.shipping.edges = vec!["dock-1".into()];
    config
}

fn shipped(seq: u64, order: &str, line: u32, item: &str, lot: &str, qty: &str, at: &str) -> Event {
    let mut e = event("dock-1", seq);
    e.source.station = Some("dock-a".into());
    e.kind = EventKind::LotShipped {
        order: order.into(),
        line,
        item: item.into(),
        lot: lot.into(),
        qty: qty.parse().unwrap(),
        uom: "ea".into(),
        location: at.into(),
        shipment: format!("S-{}", if seq < 3 { 1 } else { seq }),
    };
    e
}

async fn send(h: &Harness, token: &str, events: &[Event]) -> Reply {
    let reply = h
        .post(
            "/api/v1/sync/events",
            token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": "dock-1", "events": events}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply
}

/// A customer of `li`'s and a confirmed order of theirs: `(id, number)`.
async fn confirmed_order(h: &Harness, li: &crate::people::Session, lines: Value) -> (i64, String) {
    let reply = post(
        h,
        li,
        "/api/v1/customers",
        json!({"name_en": "Huaqiang Electronics"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let customer = reply.json["code"].as_str().unwrap().to_owned();
    let reply = post(
        h,
        li,
        "/api/v1/sales-orders",
        json!({"customer": customer, "lines": lines}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let id = reply.json["id"].as_i64().unwrap();
    let number = reply.json["number"].as_str().unwrap().to_owned();
    let reply = post(
        h,
        li,
        &format!("/api/v1/sales-orders/{id}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    (id, number)
}

#[tokio::test]
async fn issue_16_lots_shipped_at_a_dock_make_one_delivery_per_shipment_exactly_once() {
    let h = Harness::with_config(config()).await;
    plant(&h).await;
    let dock = h.create_edge("dock-1").await;
    let bolt = crate::work_orders::put(
        &h,
        "/api/v1/items/BOLT",
        json!({"kind": "buy", "uom": "ea", "gtin": "96385074"}),
    )
    .await;
    assert_eq!(bolt.status, StatusCode::OK, "{}", bolt.json);
    let team = team(&h).await;
    let li = team.li;
    let (order, number) = confirmed_order(
        &h,
        &li,
        json!([{"item": "FRAME", "qty": "12"}, {"item": "BOLT", "qty": "50"}]),
    )
    .await;

    // The confirmation published the dock's first plan, with the order's open lines; the
    // production line's edge ships nothing and gets none.
    let plan = poll(&h, &dock, 0).await;
    let open: Vec<(String, u32, String, String)> = plan
        .shipments
        .iter()
        .map(|s| {
            (
                s.order.to_string(),
                s.line,
                s.item.to_string(),
                s.open_qty.to_string(),
            )
        })
        .collect();
    assert_eq!(
        open,
        vec![
            (number.clone(), 1, "FRAME".into(), "12".into()),
            (number.clone(), 2, "BOLT".into(), "50".into())
        ]
    );
    assert_eq!(plan.shipments[0].customer_name, "Huaqiang Electronics");
    // A GS1 label on a bolt finds its item at the dock.
    assert_eq!(
        plan.gtins.get("00000096385074").map(|i| i.as_str()),
        Some("BOLT")
    );
    // With the lots of what it ships and where they are, for the dock to check offline.
    let lots: Vec<(String, Option<String>, bool)> = plan
        .lots
        .iter()
        .map(|l| {
            (
                l.lot.to_string(),
                l.location.as_ref().map(|l| l.to_string()),
                l.on_hold,
            )
        })
        .collect();
    for lot in [
        ("L-A".to_owned(), Some("WH1".to_owned()), false),
        ("F-1".to_owned(), Some("edge-1".to_owned()), false),
        ("B-1".to_owned(), Some("WH1".to_owned()), false),
    ] {
        assert!(lots.contains(&lot), "{lot:?} in {lots:?}");
    }
    let reply = h
        .post(
            "/api/v1/edges/edge-1/plans",
            ADMIN,
            json!({"work_orders": []}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert!(reply.json.get("shipments").is_none(), "{}", reply.json);

    // One shipment: 8 frames of L-A and 50 bolts of B-1, picked at WH1.
    let first = [
        shipped(1, &number, 1, "FRAME", "L-A", "8", "WH1"),
        shipped(2, &number, 2, "BOLT", "B-1", "50", "WH1"),
    ];
    send(&h, &dock, &first).await;
    // Sent again (an edge that did not hear the ack): nothing is booked twice.
    let again = send(&h, &dock, &first).await;
    assert_eq!(again.json["acked_through"], 2, "{}", again.json);

    let list = get(&h, &li, &format!("/api/v1/deliveries?order={order}")).await;
    let deliveries = list.json["deliveries"].as_array().unwrap().clone();
    assert_eq!(deliveries.len(), 1, "{}", list.json);
    let delivery = &deliveries[0];
    assert_eq!(delivery["number"], "DN000001");
    assert_eq!(delivery["lines"].as_array().unwrap().len(), 2);
    assert_eq!(delivery["lines"][0]["lot"], "L-A");
    assert_eq!(delivery["lines"][0]["location"], "WH1");
    assert_eq!(delivery["lines"][1]["lot"], "B-1");
    assert_eq!(delivery["warnings"], json!([]));
    let sscc = delivery["packages"][0]["sscc"].as_str().unwrap().to_owned();
    assert!(sscc.starts_with("00614141"), "{sscc}");
    let doc = get(&h, &li, &format!("/api/v1/sales-orders/{order}"))
        .await
        .json;
    assert_eq!(doc["status"], "confirmed");
    assert_eq!(d(&doc["lines"][0]["shipped_qty"]), "8".parse().unwrap());
    assert_eq!(d(&doc["lines"][1]["shipped_qty"]), "50".parse().unwrap());
    let stock = h.get("/api/v1/inventory", ADMIN).await;
    assert_eq!(on_hand(&stock, "FRAME", "L-A"), "2".parse().unwrap());
    assert_eq!(on_hand(&stock, "BOLT", "B-1"), "50".parse().unwrap());
    let ledger = h.get("/api/v1/inventory/ledger?item=FRAME", ADMIN).await;
    let out: Vec<&Value> = ledger.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "shipped")
        .collect();
    assert_eq!(out.len(), 1, "{}", ledger.json);
    assert_eq!(d(&out[0]["qty_delta"]), "-8".parse().unwrap());

    // The dock's next plan: 4 frames still open, the bolts no more.
    let plan = poll(&h, &dock, plan.version.0).await;
    let open: Vec<(u32, String)> = plan
        .shipments
        .iter()
        .map(|s| (s.line, s.open_qty.to_string()))
        .collect();
    assert_eq!(open, vec![(1, "4".to_owned())]);

    // Another shipment: the 4 frames of F-1 (made from R-1 on edge-1's line) complete it.
    send(
        &h,
        &dock,
        &[shipped(3, &number, 1, "FRAME", "F-1", "4", "edge-1")],
    )
    .await;
    let doc = get(&h, &li, &format!("/api/v1/sales-orders/{order}"))
        .await
        .json;
    assert_eq!(doc["status"], "completed", "{doc}");
    let actions: Vec<&str> = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.ends_with(&["shipped", "shipped", "shipped", "completed"]),
        "{actions:?}"
    );
    let list = get(&h, &li, &format!("/api/v1/deliveries?order={order}")).await;
    let numbers: Vec<&str> = list.json["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, vec!["DN000002", "DN000001"]);
    let plan = poll(&h, &dock, plan.version.0).await;
    assert!(plan.shipments.is_empty(), "{:?}", plan.shipments);

    // The recall list finds the edge's deliveries down the genealogy, the labels their SSCC.
    let recall = h.get("/api/v1/lots/R-1/customers", ADMIN).await;
    assert_eq!(recall.status, StatusCode::OK, "{}", recall.json);
    assert_eq!(recall.json["deliveries"][0]["delivery_number"], "DN000002");
    assert_eq!(recall.json["deliveries"][0]["path"], json!(["R-1", "F-1"]));
    let recall = h.get("/api/v1/lots/L-A/customers", ADMIN).await;
    assert_eq!(recall.json["deliveries"][0]["delivery_number"], "DN000001");
    let id = deliveries[0]["id"].as_i64().unwrap();
    let labels = get(&h, &li, &format!("/api/v1/deliveries/{id}/labels.zpl")).await;
    assert_eq!(labels.status, StatusCode::OK);
    let exceptions = h.get("/api/v1/shipment-exceptions", ADMIN).await;
    assert_eq!(
        exceptions.json["exceptions"],
        json!([]),
        "{}",
        exceptions.json
    );
}

#[tokio::test]
async fn issue_16_a_shipment_central_disagrees_with_is_booked_and_listed_never_refused() {
    let h = Harness::with_config(config()).await;
    plant(&h).await;
    let dock = h.create_edge("dock-1").await;
    let li = team(&h).await.li;
    let (order, number) = confirmed_order(&h, &li, json!([{"item": "FRAME", "qty": "5"}])).await;
    let (cancelled, cancelled_number) =
        confirmed_order(&h, &li, json!([{"item": "BOLT", "qty": "5"}])).await;
    let reply = post(
        &h,
        &li,
        &format!("/api/v1/sales-orders/{cancelled}/cancel"),
        json!({"reason": "customer withdrew"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let plan = poll(&h, &dock, 0).await;
    let orders: Vec<&str> = plan.shipments.iter().map(|s| s.order.as_str()).collect();
    assert_eq!(
        orders,
        vec![number.as_str()],
        "a cancelled order leaves the docks"
    );
    let hold = h
        .post(
            "/api/v1/lots/B-1/hold",
            ADMIN,
            json!({"reason": "QC-12 corrosion", "item": "BOLT"}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.json);
    // A hold on a lot of what the dock ships goes down to it at once.
    let hold = h
        .post(
            "/api/v1/lots/F-1/hold",
            ADMIN,
            json!({"reason": "QC-13 burrs", "item": "FRAME"}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.json);
    let plan = poll(&h, &dock, plan.version.0).await;
    let held = plan.lot("F-1").expect("F-1 in the dock's plan");
    assert!(held.on_hold, "{held:?}");
    assert_eq!(held.hold_reason.as_deref(), Some("QC-13 burrs"));

    // An order central does not know, 8 frames on a line of 5, a lot held here meanwhile on
    // a cancelled order: every one acknowledged.
    let reply = send(
        &h,
        &dock,
        &[
            shipped(1, "SO999999", 1, "FRAME", "L-A", "1", "WH1"),
            shipped(2, &number, 1, "FRAME", "L-A", "8", "WH1"),
            shipped(3, &cancelled_number, 1, "BOLT", "B-1", "2", "WH1"),
        ],
    )
    .await;
    assert_eq!(reply.json["acked_through"], 3, "{}", reply.json);

    // Booked where it can be: stock out for all three, the line's shipped_qty.
    let stock = h.get("/api/v1/inventory", ADMIN).await;
    assert_eq!(on_hand(&stock, "FRAME", "L-A"), "1".parse().unwrap());
    assert_eq!(on_hand(&stock, "BOLT", "B-1"), "98".parse().unwrap());
    let doc = get(&h, &li, &format!("/api/v1/sales-orders/{order}"))
        .await
        .json;
    assert_eq!(d(&doc["lines"][0]["shipped_qty"]), "8".parse().unwrap());
    assert_eq!(doc["status"], "completed");
    let actions: Vec<&str> = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"shipment_exception"), "{actions:?}");

    // And listed, each naming what central saw.
    let exceptions = h.get("/api/v1/shipment-exceptions", ADMIN).await;
    assert_eq!(exceptions.status, StatusCode::OK, "{}", exceptions.json);
    let problems: Vec<(u64, String)> = exceptions.json["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["problem"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let said = |seq: u64, text: &str| {
        assert!(
            problems.iter().any(|(s, p)| *s == seq && p.contains(text)),
            "{seq} {text:?}: {problems:?}"
        );
    };
    said(1, "central has no sales order SO999999");
    said(2, "5 ea ordered, 0 shipped before, 8 more shipped now");
    said(3, "is cancelled, not confirmed");
    said(3, "lot B-1 is on quality hold at central (QC-12 corrosion)");
    // A salesperson without crm.all.read does not see them.
    let mine = get(&h, &li, "/api/v1/shipment-exceptions").await;
    assert_eq!(mine.status, StatusCode::FORBIDDEN, "{}", mine.json);
}
