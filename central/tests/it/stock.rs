//! Issue 12, "one truth in central": one stock. An inventory import is a count posted to the
//! ledger; issues are taken from where the lot is; MRP nets against the ledger; negative
//! stock is flagged (or refused at the edge, or allowed) as the plant decides; over-production
//! and over-issue beyond the plant's tolerance are warned about; the plant's rules go down
//! with the plans.

use crate::work_orders::{
    act, at, create, d, import, issued, ok, plant, poll, put, reported, send,
};
use crate::*;
use protocol::{EventKind, NegativeStock};

/// The FRAME plant of the work-order tests, with a warehouse WH and its rack RACK-A.
async fn stocked_plant(h: &Harness) -> String {
    let token = plant(h).await;
    ok(&put(h, "/api/v1/warehouses/WH", json!({"description": "main"})).await);
    ok(&put(h, "/api/v1/warehouses/WH/locations/RACK-A", json!({})).await);
    token
}

async fn on_hand(h: &Harness, query: &str) -> Value {
    let reply = h.get(&format!("/api/v1/inventory?{query}"), ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["on_hand"].clone()
}

async fn ledger(h: &Harness, query: &str) -> Vec<Value> {
    let reply = h
        .get(&format!("/api/v1/inventory/ledger?{query}"), ADMIN)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["entries"].as_array().unwrap().clone()
}

fn issue_lot(wo: &str, lot: &str, qty: &str) -> EventKind {
    let EventKind::MaterialIssued {
        work_order,
        operation,
        item,
        uom,
        ..
    } = issued(wo, "STEEL", qty, "kg")
    else {
        unreachable!()
    };
    EventKind::MaterialIssued {
        work_order,
        operation,
        item,
        lot: lot.into(),
        qty: d(qty),
        uom,
    }
}

/// Issue 12: stock imported with `POST /api/v1/import/inventory` was what MRP netted against,
/// but the ledger did not have it: after the line issued 20 kg, `GET /inventory?lot=L-0001`
/// showed only `line-1: -20`. Now the import is the lot's opening balance in the ledger, the
/// issue is taken from the rack where the lot is, and MRP nets against what is left.
#[tokio::test]
async fn an_imported_stock_is_the_ledger_s_and_an_issue_takes_from_where_the_lot_is() {
    let h = Harness::new().await;
    let token = stocked_plant(&h).await;
    import(
        &h,
        "inventory",
        "item,lot,location,qty\nSTEEL,L-0001,RACK-A,120\n",
    )
    .await;
    let entries = ledger(&h, "lot=L-0001").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (
            entries[0]["reason"].as_str(),
            entries[0]["qty_delta"].as_str(),
            entries[0]["note"].as_str(),
        ),
        (Some("opening"), Some("120"), Some("inventory import"))
    );
    create(&h, "WO-1", "100").await;
    ok(&act(&h, "WO-1", "release").await);
    send(&h, &token, &[at(1, issue_lot("WO-1", "L-0001", "20"))]).await;
    assert_eq!(
        on_hand(&h, "lot=L-0001").await,
        json!([{"item": "STEEL", "lot": "L-0001", "location": "RACK-A", "uom": "kg", "qty": "100"}])
    );
    // MRP nets against the ledger. WO-1 is open: its 100 frames are a scheduled receipt and
    // its steel still to issue (0.5 × 100 × 1.02 − 20 = 31 kg) a requirement. The other 200
    // frames need 0.5 × 200 × 1.02 = 102 kg; of the 133 kg the 100 kg left on the rack are
    // taken: 33 kg are bought.
    import(
        &h,
        "demands",
        "item,qty,due_date,reference\nFRAME,300,2027-03-01,SO-1\n",
    )
    .await;
    let plan = h
        .post("/api/v1/mrp/run?as_of=2027-01-04", ADMIN, json!({}))
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.json);
    let steel: Vec<&Value> = plan.json["planned_orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["item"] == "STEEL")
        .collect();
    assert_eq!(steel.len(), 1, "{}", plan.json);
    assert_eq!(steel[0]["qty"], json!(33), "{}", steel[0]);

    // A stocktake: 90 counted where the ledger says 100. A count row of -10 with its note.
    import(
        &h,
        "inventory",
        "item,lot,location,qty,note\nSTEEL,L-0001,RACK-A,90,stocktake 2026-12\n",
    )
    .await;
    let entries = ledger(&h, "lot=L-0001").await;
    let count = entries.iter().find(|e| e["reason"] == "count").unwrap();
    assert_eq!(
        (count["qty_delta"].as_str(), count["note"].as_str()),
        (Some("-10"), Some("stocktake 2026-12"))
    );
    // Counting what the ledger holds posts nothing.
    import(
        &h,
        "inventory",
        "item,lot,location,qty\nSTEEL,L-0001,RACK-A,90\n",
    )
    .await;
    assert_eq!(ledger(&h, "lot=L-0001").await.len(), entries.len());
}

/// Issue 12: stock went negative without a word. By default the plant flags it: the balance
/// is marked negative and the order warned; a plant that allows it says nothing; a plant that
/// refuses it sends the lines how much of each lot central holds, so the edge can refuse.
#[tokio::test]
async fn negative_stock_is_flagged_allowed_or_refused_as_the_plant_decides() {
    let h = Harness::new().await;
    let token = stocked_plant(&h).await;
    create(&h, "WO-1", "100").await;
    ok(&act(&h, "WO-1", "release").await);
    send(&h, &token, &[at(1, issue_lot("WO-1", "L-NONE", "5"))]).await;
    assert_eq!(
        on_hand(&h, "lot=L-NONE").await,
        json!([{"item": "STEEL", "lot": "L-NONE", "location": "line-1", "uom": "kg", "qty": "-5", "negative": true}])
    );
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert!(
        view["warnings"]
            .to_string()
            .contains("negative stock: lot L-NONE of STEEL at line-1 is now -5 kg"),
        "{}",
        view["warnings"]
    );

    // Allowed: no warning for the next one.
    let reply = put(
        &h,
        "/api/v1/plants/default",
        json!({"name": "Main plant", "negative_stock": "allow"}),
    )
    .await;
    ok(&reply);
    send(&h, &token, &[at(2, issue_lot("WO-1", "L-OTHER", "5"))]).await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert!(!view["warnings"].to_string().contains("L-OTHER"));

    // Refused at the edge: the plan carries the rules and each component lot's stock.
    import(
        &h,
        "inventory",
        "item,lot,location,qty\nSTEEL,L-0001,RACK-A,120\n",
    )
    .await;
    let reply = put(
        &h,
        "/api/v1/plants/default",
        json!({"name": "Main plant", "negative_stock": "refuse", "over_tolerance_pct": "5"}),
    )
    .await;
    ok(&reply);
    let plan = poll(&h, &token, 0).await;
    let rules = plan
        .rules
        .clone()
        .expect("the plan carries the plant's rules");
    assert_eq!(rules.negative_stock, NegativeStock::Refuse);
    assert_eq!(rules.over_tolerance_pct, d("5"));
    let lot = plan.lot("L-0001").expect("the lot in stock goes down");
    assert_eq!(lot.on_hand, Some(d("120")));
    assert!(plan.lot("L-NONE").is_none(), "no stock, no lot");
}

/// Issue 12: 701 good against an order of 500 and 95 kg of steel against 25.5 kg required
/// passed silently. Beyond the plant's tolerance they are warnings on the order.
#[tokio::test]
async fn over_production_and_over_issue_beyond_the_plant_s_tolerance_are_warned() {
    let h = Harness::new().await;
    let token = stocked_plant(&h).await;
    import(
        &h,
        "inventory",
        "item,lot,location,qty\nSTEEL,L-0001,RACK-A,200\n",
    )
    .await;
    ok(&put(
        &h,
        "/api/v1/plants/default",
        json!({"name": "Main plant", "over_tolerance_pct": "10"}),
    )
    .await);
    create(&h, "WO-1", "50").await;
    ok(&act(&h, "WO-1", "release").await);
    // 50 frames need 0.5 × 50 × 1.02 = 25.5 kg of steel.
    send(
        &h,
        &token,
        &[
            at(1, reported("WO-1", 10, 55, 0)),
            at(2, issue_lot("WO-1", "L-0001", "28")),
        ],
    )
    .await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    assert_eq!(view["n_warnings"], 0, "within 10%: {}", view["warnings"]);
    send(
        &h,
        &token,
        &[
            at(3, reported("WO-1", 10, 1, 0)),
            at(4, issue_lot("WO-1", "L-0001", "67")),
        ],
    )
    .await;
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    let warnings = view["warnings"].to_string();
    assert!(
        warnings.contains(
            "over-production: 56 good at operation 10 against an order of 50 (tolerance 10%)"
        ),
        "{warnings}"
    );
    assert!(
        warnings
            .contains("over-issue: 95 kg of STEEL issued against 25.5 required (tolerance 10%)"),
        "{warnings}"
    );
}

/// The balances central keeps for "now" are the ledger summed: rebuilt from the ledger after
/// a mix of receipts, moves, issues, produced lots, counts and a reversal, they are the same.
#[tokio::test]
async fn the_balances_are_the_ledger_summed() {
    let h = Harness::new().await;
    let token = stocked_plant(&h).await;
    import(
        &h,
        "inventory",
        "item,lot,location,qty\nSTEEL,L-1,RACK-A,50\n",
    )
    .await;
    create(&h, "WO-1", "10").await;
    ok(&act(&h, "WO-1", "release").await);
    let received = EventKind::MaterialReceived {
        item: "STEEL".into(),
        lot: "L-2".into(),
        qty: d("30"),
        uom: "kg".into(),
        location: "DOCK".into(),
        purchase_order: None,
    };
    let moved = EventKind::MaterialMoved {
        item: "STEEL".into(),
        lot: "L-2".into(),
        qty: d("12.5"),
        uom: "kg".into(),
        from: "DOCK".into(),
        to: "line-1".into(),
    };
    let produced = EventKind::LotProduced {
        work_order: "WO-1".into(),
        item: "FRAME".into(),
        lot: "WO-1-001".into(),
        qty: d("10"),
        uom: "ea".into(),
        consumed_lots: vec!["L-2".into()],
    };
    send(
        &h,
        &token,
        &[
            at(1, received),
            at(2, moved),
            at(3, issue_lot("WO-1", "L-2", "10")),
            at(4, issue_lot("WO-1", "L-1", "7")),
            at(5, produced),
        ],
    )
    .await;
    let first = ledger(&h, "lot=L-1").await;
    let id = first[0]["entry_id"].as_i64().unwrap();
    let reply = h
        .post(
            "/api/v1/inventory/reversals",
            ADMIN,
            json!({"entry_id": id, "note": "wrong rack"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    // What the inventory API sums from the ledger ...
    let now = on_hand(&h, "").await;
    // ... is what central keeps as running balances (read behind the store's back).
    let balances: Vec<Value> = h
        .sql(
            "SELECT item, lot, location, uom, qty FROM inv_balance WHERE qty != '0' ORDER BY item, lot, location",
            vec![],
        )
        .into_iter()
        .map(|r| {
            let mut row =
                json!({"item": r[0], "lot": r[1], "location": r[2], "uom": r[3], "qty": r[4]});
            if r[4].as_str().is_some_and(|q| q.starts_with('-')) {
                row["negative"] = json!(true);
            }
            row
        })
        .collect();
    assert_eq!(now, Value::Array(balances));
    assert_eq!(
        now,
        json!([
            {"item": "FRAME", "lot": "WO-1-001", "location": "line-1", "uom": "ea", "qty": "10"},
            {"item": "STEEL", "lot": "L-1", "location": "RACK-A", "uom": "kg", "qty": "-7", "negative": true},
            {"item": "STEEL", "lot": "L-2", "location": "DOCK", "uom": "kg", "qty": "17.5"},
            {"item": "STEEL", "lot": "L-2", "location": "line-1", "uom": "kg", "qty": "2.5"},
        ])
    );
}

/// An existing data directory keeps its stock: what imports kept beside the ledger before
/// (schema 4) becomes the lots' opening balances in the ledger on upgrade.
#[tokio::test]
async fn an_upgrade_posts_the_stock_kept_beside_the_ledger_as_opening_balances() {
    if !super::sqlite_only("an upgrade from SQLite schema 4") {
        return;
    }
    let h = Harness::new().await;
    stocked_plant(&h).await;
    {
        let conn = rusqlite::Connection::open(h.dir.path().join("central.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO erp_inventory (item, lot, location, qty) VALUES ('STEEL', 'L-OLD', 'RACK-A', '75');
             DELETE FROM inv_balance; PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    let h = h.reopen().await;
    assert_eq!(
        on_hand(&h, "lot=L-OLD").await,
        json!([{"item": "STEEL", "lot": "L-OLD", "location": "RACK-A", "uom": "kg", "qty": "75"}])
    );
    let entries = ledger(&h, "lot=L-OLD").await;
    assert_eq!(entries[0]["reason"], "opening");
    let conn = rusqlite::Connection::open(h.dir.path().join("central.db")).unwrap();
    let kept: i64 = conn
        .query_row("SELECT COUNT(*) FROM erp_inventory", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 0, "the ledger is the one stock now");
    let balance: String = conn
        .query_row("SELECT qty FROM inv_balance WHERE lot = 'L-OLD'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(balance, "75");
}
