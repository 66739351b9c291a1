//! Master data over HTTP: units of measure and conversions, tracking and shelf life, phantoms,
//! BOM revisions with effectivity, warehouses and locations, suppliers; and what MRP and work
//! orders make of them. Issue 6. Dates: 2025-01-06 is a Monday; the calendar is Monday to
//! Friday.

use crate::*;

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

#[track_caller]
fn ok(reply: &Reply) {
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.json);
}

async fn imported(h: &Harness, kind: &str, csv: &str) -> Value {
    let reply = import(h, kind, csv).await;
    assert_eq!(reply.status, StatusCode::OK, "{kind}: {}", reply.json);
    reply.json
}

async fn put(h: &Harness, uri: &str, body: Value) -> Reply {
    h.call(Method::PUT, uri, Some(ADMIN), Some(body)).await
}

async fn mrp(h: &Harness) -> Vec<String> {
    let reply = h
        .call(
            Method::POST,
            "/api/v1/mrp/run?as_of=2025-01-06",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["planned_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|po| {
            let supplier = po
                .get("supplier")
                .map(|s| format!(" {}", s.as_str().unwrap()))
                .unwrap_or_default();
            format!(
                "{} {} {} {} [{}]{supplier}",
                po["item"].as_str().unwrap(),
                po["qty"],
                po["start"].as_str().unwrap(),
                po["due"].as_str().unwrap(),
                po["pegged_to"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect()
}

/// `(line, column)` of an invalid_csv answer's details.
#[track_caller]
fn cells(reply: &Reply) -> Vec<(u64, String)> {
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    reply.json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap(),
                d["column"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn warehouse(h: &Harness) {
    ok(&put(h, "/api/v1/warehouses/WH", json!({"description": "main"})).await);
    for location in ["WH1", "WH2"] {
        ok(&put(
            h,
            &format!("/api/v1/warehouses/WH/locations/{location}"),
            json!({"description": location}),
        )
        .await);
    }
}

/// A line L1 with one work center and a one-step routing for `item`, so that work orders of
/// it can be created.
async fn routing(h: &Harness, item: &str) {
    ok(&put(h, "/api/v1/lines/L1", json!({"description": "assembly"})).await);
    ok(&put(h, "/api/v1/work-centers/ASM", json!({"line": "L1"})).await);
    ok(&put(
        h,
        &format!("/api/v1/routings/{item}"),
        json!({"operations": [{"operation": 10, "description": "assemble", "work_center": "ASM"}]}),
    )
    .await);
}

/// `item required` of a new work order's components.
async fn work_order_components(h: &Harness, item: &str, qty: &str, due: &str) -> Vec<String> {
    let reply = h
        .post(
            "/api/v1/work-orders",
            ADMIN,
            json!({"item": item, "qty": qty, "due": due, "priority": 1, "line": "L1"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    reply.json["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["item"].as_str().unwrap(),
                c["required"].as_str().unwrap(),
                c["uom"].as_str().unwrap()
            )
        })
        .collect()
}

const HEADER: &str =
    "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock";

/// KIT (make, lt 1) takes 2 boxes of SCREW (buy, base unit pcs, lt 2; 1 box = 12 pcs), so
/// 24 pcs a kit. Stock: 1 box at WH1 (12 pcs) and 30 pcs at WH2: 42 pcs.
///
/// SO-1: 3 KIT due Fri 10th → KIT 3, start Thu 9th → SCREW 72 pcs on the 9th; 42 on hand →
/// SCREW 30 pcs, due 9th, start Tue 7th. SO-2: half a box of SCREW as a service part
/// (6 pcs) due Mon 13th → SCREW 6, start Thu 9th.
#[tokio::test]
async fn issue_6_bom_lines_stock_and_demands_in_another_unit_are_planned_in_the_base_unit() {
    let h = Harness::new().await;
    warehouse(&h).await;
    imported(
        &h,
        "items",
        &format!("{HEADER}\nKIT,Kit,make,ea,1,lfl,,\nSCREW,Screw,buy,pcs,2,lfl,,\nNUT,Nut,buy,pcs,2,lfl,,\n"),
    )
    .await;
    let reply = imported(
        &h,
        "uom_conversions",
        "item,from_uom,to_uom,factor\nSCREW,box,pcs,12\n",
    )
    .await;
    assert_eq!(reply["rows"], 1);

    // NUT has no conversion from kg: the row is named, nothing is imported.
    let reply = import(
        &h,
        "boms",
        "parent,component,qty_per,scrap_pct,uom\nKIT,SCREW,2,0,box\nKIT,GHOST,1,0,\nKIT,NUT,1,0,kg\n",
    )
    .await;
    assert_eq!(
        cells(&reply),
        [(3, "component".to_owned()), (4, "uom".to_owned())]
    );
    let message = reply.json["error"]["details"][1]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("\"kg\"") && message.contains("\"pcs\""),
        "{message}"
    );
    let bom = h.get("/api/v1/boms/KIT", ADMIN).await;
    assert_eq!(bom.json["revisions"], json!([]), "all or nothing");

    let reply = imported(
        &h,
        "boms",
        "parent,component,qty_per,scrap_pct,uom\nKIT,SCREW,2,0,box\n",
    )
    .await;
    assert_eq!(reply["revisions"][0]["revision"], "A");
    let bom = h.get("/api/v1/boms/KIT", ADMIN).await;
    let line = &bom.json["revisions"][0]["lines"][0];
    assert_eq!(
        (
            &line["qty_per"],
            &line["entered_qty_per"],
            &line["entered_uom"]
        ),
        (&json!("24"), &json!("2"), &json!("box"))
    );

    imported(
        &h,
        "inventory",
        "item,lot,location,qty,uom\nSCREW,L1,WH1,1,box\nSCREW,,WH2,30,\n",
    )
    .await;
    imported(
        &h,
        "demands",
        "item,qty,due_date,reference,uom\nKIT,3,2025-01-10,SO-1,\nSCREW,0.5,2025-01-13,SO-2,box\n",
    )
    .await;
    assert_eq!(
        mrp(&h).await,
        [
            "KIT 3 2025-01-09 2025-01-10 [SO-1]",
            "SCREW 30 2025-01-07 2025-01-09 [PLN-000001]",
            "SCREW 6 2025-01-09 2025-01-13 [SO-2]",
        ]
    );

    // A work order copies the line in the base unit.
    routing(&h, "KIT").await;
    assert_eq!(
        work_order_components(&h, "KIT", "2", "2025-01-10").await,
        ["SCREW 48 pcs"]
    );

    // SCREW has stock and bom lines in pcs: its base unit cannot change under them.
    let reply = import(
        &h,
        "items",
        &format!("{HEADER}\nSCREW,Screw,buy,box,2,lfl,,\n"),
    )
    .await;
    assert_eq!(cells(&reply), [(2, "uom".to_owned())]);

    let item = h.get("/api/v1/items/SCREW", ADMIN).await;
    assert_eq!(
        item.json["conversions"],
        json!([{"from_uom": "box", "to_uom": "pcs", "factor": "12"}])
    );
}

/// A (make, lt 1): revision A (1 B) is made a draft, edited to 2 B, released; editing it then
/// is refused with 409. Revision B (3 C) takes effect on Wed 15th.
///
/// - SO-1 1 A due Mon 13th → start Fri 10th → revision A → 2 B on the 10th.
/// - SO-2 1 A due Fri 17th → start Thu 16th → revision B → 3 C on the 16th.
///
/// Work orders take the revision in effect on their due date. A CSV import whose content
/// differs makes revision C effective today; the same content again changes nothing.
#[tokio::test]
async fn issue_6_bom_revisions_are_immutable_once_released_and_effectivity_drives_mrp_and_work_orders()
 {
    let h = Harness::new().await;
    imported(
        &h,
        "items",
        &format!("{HEADER}\nA,Assembly,make,ea,1,lfl,,\nB,Part B,buy,ea,0,lfl,,\nC,Part C,buy,ea,0,lfl,,\n"),
    )
    .await;
    let reply = h
        .post(
            "/api/v1/boms/A/revisions",
            ADMIN,
            json!({"effective_from": "2025-01-01", "lines": [{"component": "B", "qty_per": "1"}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(
        (&reply.json["revision"], &reply.json["status"]),
        (&json!("A"), &json!("draft"))
    );
    let edit =
        json!({"effective_from": "2025-01-01", "lines": [{"component": "B", "qty_per": "2"}]});
    ok(&put(&h, "/api/v1/boms/A/revisions/A", edit.clone()).await);
    let released = h
        .post("/api/v1/boms/A/revisions/A/release", ADMIN, json!({}))
        .await;
    ok(&released);
    assert_eq!(released.json["status"], "released");
    let message = put(&h, "/api/v1/boms/A/revisions/A", edit)
        .await
        .assert_error(StatusCode::CONFLICT, "revision_released")
        .to_owned();
    assert!(message.contains("new revision"), "{message}");
    h.post("/api/v1/boms/A/revisions/A/release", ADMIN, json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "revision_released");

    // Bad drafts: an unknown component, a component twice, an end before the start.
    for (lines, from, to) in [
        (
            json!([{"component": "NOPE", "qty_per": "1"}]),
            "2025-01-15",
            None,
        ),
        (
            json!([{"component": "C", "qty_per": "1"}, {"component": "C", "qty_per": "2"}]),
            "2025-01-15",
            None,
        ),
        (
            json!([{"component": "C", "qty_per": "1"}]),
            "2025-01-15",
            Some("2025-01-14"),
        ),
        (
            json!([{"component": "A", "qty_per": "1"}]),
            "2025-01-15",
            None,
        ),
    ] {
        h.post(
            "/api/v1/boms/A/revisions",
            ADMIN,
            json!({"effective_from": from, "effective_to": to, "lines": lines}),
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }

    let reply = h
        .post(
            "/api/v1/boms/A/revisions",
            ADMIN,
            json!({"effective_from": "2025-01-15", "lines": [{"component": "C", "qty_per": "3"}]}),
        )
        .await;
    assert_eq!(reply.json["revision"], "B", "{}", reply.json);
    // A draft is never in effect.
    imported(
        &h,
        "demands",
        "item,qty,due_date,reference\nA,1,2025-01-13,SO-1\nA,1,2025-01-17,SO-2\n",
    )
    .await;
    assert_eq!(
        mrp(&h).await,
        [
            "A 1 2025-01-10 2025-01-13 [SO-1]",
            "A 1 2025-01-16 2025-01-17 [SO-2]",
            "B 2 2025-01-10 2025-01-10 [PLN-000001]",
            "B 2 2025-01-16 2025-01-16 [PLN-000002]",
        ]
    );
    ok(&h
        .post("/api/v1/boms/A/revisions/B/release", ADMIN, json!({}))
        .await);
    assert_eq!(
        mrp(&h).await,
        [
            "A 1 2025-01-10 2025-01-13 [SO-1]",
            "A 1 2025-01-16 2025-01-17 [SO-2]",
            "B 2 2025-01-10 2025-01-10 [PLN-000001]",
            "C 3 2025-01-16 2025-01-16 [PLN-000002]",
        ]
    );

    routing(&h, "A").await;
    assert_eq!(
        work_order_components(&h, "A", "4", "2025-01-13").await,
        ["B 8 ea"]
    );
    assert_eq!(
        work_order_components(&h, "A", "4", "2025-01-20").await,
        ["C 12 ea"]
    );

    // CSV import: new content → revision C effective today; same content → unchanged.
    let today = chrono::Utc::now().date_naive().to_string();
    let csv = "parent,component,qty_per,scrap_pct\nA,B,5,0\n";
    let reply = imported(&h, "boms", csv).await;
    assert_eq!(
        reply["revisions"],
        json!([{"parent": "A", "revision": "C", "effective_from": today}])
    );
    let reply = imported(&h, "boms", csv).await;
    assert_eq!(reply["unchanged"], json!(["A"]));
    assert!(reply.get("revisions").is_none(), "{reply}");
    let bom = h.get("/api/v1/boms/A", ADMIN).await;
    let revisions: Vec<&str> = bom.json["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_str().unwrap())
        .collect();
    assert_eq!(revisions, ["A", "B", "C"]);
    let b = h.get("/api/v1/boms/A/revisions/B", ADMIN).await;
    assert_eq!(b.json["lines"][0]["component"], "C");
}

/// A (make, lt 1) takes 2 P; P is a phantom of 3 C (buy, lt 2). SO-1 5 A due Fri 17th:
/// A 5 starts Thu 16th; P is blown through: C 30 due 16th, start Tue 14th, pegged to A's
/// order; no P order. A work order for 4 A copies 24 C, not P.
#[tokio::test]
async fn issue_6_phantoms_are_blown_through_by_mrp_and_work_orders() {
    let h = Harness::new().await;
    warehouse(&h).await;
    imported(
        &h,
        "items",
        &format!("{HEADER},phantom\nA,Assembly,make,ea,1,lfl,,,\nP,Subassembly,make,ea,3,lfl,,,true\nC,Part,buy,ea,2,lfl,,,\n"),
    )
    .await;
    imported(
        &h,
        "boms",
        "parent,component,qty_per,scrap_pct\nA,P,2,0\nP,C,3,0\n",
    )
    .await;
    imported(
        &h,
        "demands",
        "item,qty,due_date,reference\nA,5,2025-01-17,SO-1\n",
    )
    .await;
    assert_eq!(
        mrp(&h).await,
        [
            "A 5 2025-01-16 2025-01-17 [SO-1]",
            "C 30 2025-01-14 2025-01-16 [PLN-000001]",
        ]
    );
    routing(&h, "A").await;
    assert_eq!(
        work_order_components(&h, "A", "4", "2025-01-17").await,
        ["C 24 ea"]
    );

    // A phantom is never stocked or ordered; a buy item is never a phantom.
    let reply = import(&h, "inventory", "item,lot,location,qty\nP,,WH1,1\n").await;
    assert_eq!(cells(&reply), [(2, "item".to_owned())]);
    let reply = import(
        &h,
        "receipts",
        "item,qty,due_date,reference\nP,1,2025-01-10,WO-9\n",
    )
    .await;
    assert_eq!(cells(&reply), [(2, "item".to_owned())]);
    put(
        &h,
        "/api/v1/items/C",
        json!({"kind": "buy", "uom": "ea", "phantom": true}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    // An item with stock cannot become a phantom.
    imported(&h, "inventory", "item,lot,location,qty\nC,,WH1,1\n").await;
    let message = put(
        &h,
        "/api/v1/items/C",
        json!({"kind": "make", "uom": "ea", "phantom": true}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request")
    .to_owned();
    assert!(message.contains("stock"), "{message}");
    // Re-importing items without the phantom column keeps the flag.
    imported(
        &h,
        "items",
        &format!("{HEADER}\nP,Subassembly,make,ea,3,lfl,,\n"),
    )
    .await;
    let p = h.get("/api/v1/items/P", ADMIN).await;
    assert_eq!(p.json["phantom"], true, "{}", p.json);
}

/// B (buy, item lead time 5): S1 quotes 2 days (preferred), S2 1 day. A (make, lt 1) takes
/// 1 B; SO-1 4 A due Fri 17th → A starts Thu 16th → B 4 due 16th, start Tue 14th, from S1.
/// Making S2 preferred (over REST) moves the start to Wed 15th.
#[tokio::test]
async fn issue_6_suppliers_lead_time_offsets_purchase_requisitions_and_names_the_supplier() {
    let h = Harness::new().await;
    imported(
        &h,
        "items",
        &format!("{HEADER}\nA,Assembly,make,ea,1,lfl,,\nB,Part,buy,ea,5,lfl,,\n"),
    )
    .await;
    imported(&h, "boms", "parent,component,qty_per,scrap_pct\nA,B,1,0\n").await;
    imported(
        &h,
        "demands",
        "item,qty,due_date,reference\nA,4,2025-01-17,SO-1\n",
    )
    .await;
    assert_eq!(
        mrp(&h).await[1],
        "B 4 2025-01-09 2025-01-16 [PLN-000001]",
        "without a supplier: the item's lead time, no supplier field"
    );

    let reply = import(
        &h,
        "suppliers",
        "supplier,item,lead_time_days,price,preferred\nS1,B,2,1.50,true\nS4,B,x,-1,maybe\n",
    )
    .await;
    assert_eq!(
        cells(&reply),
        [
            (3, "lead_time_days".to_owned()),
            (3, "price".to_owned()),
            (3, "preferred".to_owned()),
        ]
    );
    let reply = import(
        &h,
        "suppliers",
        "supplier,item,lead_time_days,price,preferred\nS1,B,2,1.50,true\nS2,B,1,1.20,yes\nS3,NOPE,1,1,\n",
    )
    .await;
    assert_eq!(
        cells(&reply),
        [(3, "preferred".to_owned()), (4, "item".to_owned())]
    );
    imported(
        &h,
        "suppliers",
        "supplier,item,lead_time_days,price,preferred\nS1,B,2,1.50,true\nS2,B,1,1.20,false\n",
    )
    .await;
    assert_eq!(
        mrp(&h).await,
        [
            "A 4 2025-01-16 2025-01-17 [SO-1]",
            "B 4 2025-01-14 2025-01-16 [PLN-000001] S1",
        ]
    );

    ok(&put(
        &h,
        "/api/v1/suppliers/S2/items/B",
        json!({"lead_time_days": 1, "price": "1.10", "preferred": true}),
    )
    .await);
    assert_eq!(
        mrp(&h).await[1],
        "B 4 2025-01-15 2025-01-16 [PLN-000001] S2"
    );
    let s1 = h.get("/api/v1/suppliers/S1", ADMIN).await;
    assert_eq!(s1.json["items"][0]["preferred"], false, "{}", s1.json);
    assert_eq!(s1.json["items"][0]["price"], "1.5");

    put(
        &h,
        "/api/v1/suppliers/S9/items/B",
        json!({"lead_time_days": 1, "price": "1"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    put(
        &h,
        "/api/v1/suppliers/S2/items/B",
        json!({"lead_time_days": 1, "price": "-1"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let reply = h
        .call(
            Method::DELETE,
            "/api/v1/suppliers/S2/items/B",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        mrp(&h).await[1],
        "B 4 2025-01-09 2025-01-16 [PLN-000001]",
        "no preferred supplier left"
    );
}

/// Inventory rows must name a known location; lot- and serial-tracked items need a lot; a
/// serial is one unit. Locations are unique across warehouses.
#[tokio::test]
async fn issue_6_warehouses_locations_and_tracking_are_validated() {
    let h = Harness::new().await;
    warehouse(&h).await;
    ok(&put(&h, "/api/v1/warehouses/W2", json!({})).await);
    put(&h, "/api/v1/warehouses/W2/locations/WH1", json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    put(&h, "/api/v1/warehouses/NOPE/locations/X1", json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // The same from a spreadsheet: W3 is created, WH1 stays WH's.
    let reply = import(
        &h,
        "locations",
        "warehouse,location,description\nW3,DOCK,dock\nW3,WH1,taken\n",
    )
    .await;
    assert_eq!(cells(&reply), [(3, "location".to_owned())]);
    imported(
        &h,
        "locations",
        "warehouse,location,description\nW3,DOCK,dock\n",
    )
    .await;
    let w3 = h.get("/api/v1/warehouses/W3", ADMIN).await;
    assert_eq!(w3.json["locations"][0]["location"], "DOCK", "{}", w3.json);

    let wh = h.get("/api/v1/warehouses/WH", ADMIN).await;
    let locations: Vec<&str> = wh.json["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["location"].as_str().unwrap())
        .collect();
    assert_eq!(locations, ["WH1", "WH2"]);

    imported(
        &h,
        "items",
        &format!(
            "{HEADER},tracking,shelf_life_days\nRESIN,Resin,buy,kg,1,lfl,,,lot,180\nPUMP,Pump,buy,ea,1,lfl,,,serial,\nBOLT,Bolt,buy,ea,1,lfl,,,,\n"
        ),
    )
    .await;
    let resin = h.get("/api/v1/items/RESIN", ADMIN).await;
    assert_eq!(
        (&resin.json["tracking"], &resin.json["shelf_life_days"]),
        (&json!("lot"), &json!(180))
    );
    let reply = import(
        &h,
        "items",
        &format!("{HEADER},tracking,shelf_life_days\nX,X,buy,ea,1,lfl,,,batch,0\n"),
    )
    .await;
    assert_eq!(
        cells(&reply),
        [
            (2, "tracking".to_owned()),
            (2, "shelf_life_days".to_owned())
        ]
    );

    let reply = import(
        &h,
        "inventory",
        "item,lot,location,qty\nBOLT,,WH1,5\nBOLT,,DOCK9,5\nRESIN,,WH1,5\nPUMP,SN-1,WH1,2\nPUMP,SN-2,WH1,1\n",
    )
    .await;
    assert_eq!(
        cells(&reply),
        [
            (3, "location".to_owned()),
            (4, "lot".to_owned()),
            (5, "qty".to_owned())
        ]
    );
    imported(
        &h,
        "inventory",
        "item,lot,location,qty\nBOLT,,WH1,5\nRESIN,R-7,WH2,5\nPUMP,SN-2,WH1,1\n",
    )
    .await;

    put(
        &h,
        "/api/v1/items/BOLT",
        json!({"kind": "buy", "uom": "ea", "shelf_life_days": 0}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let reply = put(
        &h,
        "/api/v1/items/BOLT",
        json!({"kind": "buy", "uom": "ea", "tracking": "lot", "description": "Bolt M8"}),
    )
    .await;
    ok(&reply);
    assert_eq!(reply.json["tracking"], "lot");
    let items = h.get("/api/v1/items", ADMIN).await;
    assert_eq!(items.json["items"].as_array().unwrap().len(), 3);
}
