//! ERP over HTTP: csv import (all or nothing, row errors with line and column), the calendar,
//! the MRP run and the OpenAPI document. Issue 6.

use super::{ADMIN, Harness, Reply};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

const ITEMS: &str = "\
item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock
BIKE,Bike,make,ea,1,lfl,,
FRAME,Frame,make,ea,2,lfl,,
TUBE,Steel tube,buy,m,3,multiple,10,
";

const BOMS: &str = "\
parent,component,qty_per,scrap_pct
BIKE,FRAME,1,0
BIKE,TUBE,0.5,0
FRAME,TUBE,2,10
";

async fn import(h: &Harness, kind: &str, csv: &str) -> Reply {
    h.send(
        Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/import/{kind}"))
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .body(Body::from(csv.to_owned()))
            .unwrap(),
    )
    .await
}

async fn mrp(h: &Harness, query: &str) -> Reply {
    h.call(
        Method::POST,
        &format!("/api/v1/mrp/run{query}"),
        Some(ADMIN),
        None,
    )
    .await
}

/// Warehouse `WH` with locations `WH1` and `WH2`: inventory rows must name a known location.
pub async fn locations(h: &Harness) {
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/warehouses/WH",
            Some(ADMIN),
            Some(json!({"description": "main"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    for location in ["WH1", "WH2"] {
        let reply = h
            .call(
                Method::PUT,
                &format!("/api/v1/warehouses/WH/locations/{location}"),
                Some(ADMIN),
                Some(json!({})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    }
}

async fn plant(h: &Harness) {
    locations(h).await;
    for (kind, csv) in [
        ("items", ITEMS),
        ("boms", BOMS),
        (
            "inventory",
            "item,lot,location,qty\nTUBE,L-1,WH1,4\nTUBE,,WH2,1\n",
        ),
        (
            "demands",
            "item,qty,due_date,reference\nBIKE,10,2025-01-17,SO-1\n",
        ),
        (
            "receipts",
            "item,qty,due_date,reference\nTUBE,20,2025-01-20,PO-1\n",
        ),
    ] {
        let reply = import(h, kind, csv).await;
        assert_eq!(reply.status, StatusCode::OK, "{kind}: {}", reply.json);
        assert_eq!(reply.json["kind"], kind);
    }
}

/// BIKE 10 due Fri 17th, lt 1 → start Thu 16th. FRAME 10 due 16th, lt 2 → start Tue 14th.
/// TUBE: 22 (10 × 2 × 1.1) on the 14th, 5 (10 × 0.5) on the 16th. On hand 5 and PO-1 (20,
/// due the 20th, so expedited to the 14th) cover the 22 with 3 left; the 16th is 2 short →
/// a multiple of 10: 10, lt 3 → start Mon 13th, pegged to BIKE's order.
#[tokio::test]
async fn issue_6_import_then_mrp_run_gives_the_plan() {
    let h = Harness::new().await;
    plant(&h).await;
    let reply = mrp(&h, "?as_of=2025-01-06").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        reply.json,
        json!({
            "run": 1,
            "as_of": "2025-01-06",
            "planned_orders": [
                {"reference": "PLN-000001", "item": "BIKE", "kind": "make", "qty": 10, "start": "2025-01-16", "due": "2025-01-17", "pegged_to": ["SO-1"], "late": false},
                {"reference": "PLN-000002", "item": "FRAME", "kind": "make", "qty": 10, "start": "2025-01-14", "due": "2025-01-16", "pegged_to": ["PLN-000001"], "late": false},
                {"reference": "PLN-000003", "item": "TUBE", "kind": "buy", "qty": 10, "start": "2025-01-13", "due": "2025-01-16", "pegged_to": ["PLN-000001"], "late": false}
            ],
            "messages": [
                {"kind": "expedite", "reference": "PO-1", "item": "TUBE", "date": "2025-01-14"}
            ]
        })
    );
    let full = mrp(&h, "?as_of=2025-01-06&pegging=full").await;
    assert_eq!(full.json["planned_orders"][2]["pegged_to"], json!(["SO-1"]));

    // A holiday on Mon 13th moves TUBE's start to Fri 10th.
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/calendar",
            Some(ADMIN),
            Some(json!({"working_days": ["mon", "tue", "wed", "thu", "fri"], "holidays": ["2025-01-13"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let reply = mrp(&h, "?as_of=2025-01-06").await;
    assert_eq!(reply.json["planned_orders"][2]["start"], "2025-01-10");
    assert_eq!(
        h.get("/api/v1/calendar", ADMIN).await.json["holidays"],
        json!(["2025-01-13"])
    );

    // Master data survives a restart.
    let h = h.reopen().await;
    assert_eq!(
        mrp(&h, "?as_of=2025-01-06").await.json["planned_orders"][2]["start"],
        "2025-01-10"
    );
}

#[tokio::test]
async fn issue_6_a_bad_csv_imports_nothing_and_names_every_bad_row() {
    let h = Harness::new().await;
    let csv = "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
               GOOD,ok,make,ea,1,lfl,,\n\
               BAD,x,sell,ea,1,lfl,,\n\
               WORSE,x,buy,ea,one,fixed,,\n";
    let reply = import(&h, "items", csv).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    assert_eq!(
        reply.json["error"]["details"],
        json!([
            {"line": 3, "column": "kind", "message": "kind \"sell\" is not valid; expected make or buy"},
            {"line": 4, "column": "lead_time_days", "message": "lead_time_days \"one\" is not valid; expected whole working days from 0 to 3650"},
            {"line": 4, "column": "lot_size_qty", "message": "lot_size_qty \"\" is not valid; expected a number above 0, at most 1000000000000 with at most 6 decimals"}
        ])
    );
    // Nothing was imported: GOOD is unknown to a bom.
    let reply = import(
        &h,
        "boms",
        "parent,component,qty_per,scrap_pct\nGOOD,GOOD2,1,0\n",
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let details = reply.json["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 2, "{details:?}");
    assert_eq!(details[0]["column"], "parent");
    assert_eq!(details[1]["column"], "component");
}

#[tokio::test]
async fn issue_6_store_checks_items_buy_parents_and_cycles() {
    let h = Harness::new().await;
    plant(&h).await;
    let reply = import(
        &h,
        "boms",
        "parent,component,qty_per,scrap_pct\nTUBE,FRAME,1,0\nFRAME,GHOST,1,0\n",
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let lines: Vec<(u64, &str)> = reply.json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["line"].as_u64().unwrap(), d["column"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(2, "parent"), (3, "component")]);

    // FRAME -> BIKE closes BIKE -> FRAME -> BIKE; the file is refused whole.
    let reply = import(
        &h,
        "boms",
        "parent,component,qty_per,scrap_pct\nFRAME,TUBE,3,0\nFRAME,BIKE,1,0\n",
    )
    .await;
    let message = reply.json["error"]["details"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        reply.json["error"]["details"][0]["line"], 3,
        "{}",
        reply.json
    );
    assert!(message.contains("cycle"), "{message}");
    let plan = mrp(&h, "?as_of=2025-01-06").await;
    assert_eq!(
        plan.json["planned_orders"][1]["item"], "FRAME",
        "{}",
        plan.json
    );

    let reply = import(
        &h,
        "demands",
        "item,qty,due_date,reference\nNOPE,1,2025-01-07,SO-9\n",
    )
    .await;
    assert_eq!(reply.json["error"]["details"][0]["column"], "item");
}

#[tokio::test]
async fn issue_6_zero_quantity_removes_a_demand() {
    let h = Harness::new().await;
    plant(&h).await;
    let reply = import(
        &h,
        "demands",
        "item,qty,due_date,reference\nBIKE,0,2025-01-17,SO-1\n",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let plan = mrp(&h, "?as_of=2025-01-06").await;
    assert_eq!(plan.json["planned_orders"], json!([]));
    assert_eq!(plan.json["messages"][0]["kind"], "cancel", "{}", plan.json);
}

#[tokio::test]
async fn issue_6_erp_routes_need_the_admin_token_and_the_right_content() {
    let h = Harness::new().await;
    for (method, uri) in [
        (Method::POST, "/api/v1/import/items"),
        (Method::POST, "/api/v1/mrp/run"),
        (Method::GET, "/api/v1/calendar"),
        (Method::GET, "/api/v1/openapi.json"),
    ] {
        let reply = h.call(method.clone(), uri, Some("wrong"), None).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        let reply = h.call(method, uri, None, None).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // JSON where csv is expected.
    let reply = h.post("/api/v1/import/items", ADMIN, json!({})).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let reply = import(&h, "recipes", "a,b\n").await;
    reply.assert_error(StatusCode::NOT_FOUND, "not_found");
    let reply = mrp(&h, "?as_of=yesterday").await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/calendar",
            Some(ADMIN),
            Some(json!({"working_days": []})),
        )
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    // An empty plant plans nothing.
    let reply = mrp(&h, "").await;
    assert_eq!(
        (
            &reply.json["planned_orders"],
            &reply.json["messages"],
            &reply.json["run"]
        ),
        (&json!([]), &json!([]), &json!(1))
    );
}

#[tokio::test]
async fn issue_6_openapi_documents_every_erp_route() {
    let h = Harness::new().await;
    let reply = h.get("/api/v1/openapi.json", ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["openapi"], "3.0.3");
    let paths = reply.json["paths"].as_object().unwrap();
    for path in [
        "/api/v1/import/items",
        "/api/v1/import/boms",
        "/api/v1/import/inventory",
        "/api/v1/import/demands",
        "/api/v1/import/receipts",
        "/api/v1/mrp/run",
        "/api/v1/mrp/runs/{run}",
        "/api/v1/mrp/runs/{run}/firm",
        "/api/v1/mrp/runs/{run}/requisitions",
        "/api/v1/calendar",
        "/api/v1/inventory",
        "/api/v1/inventory/ledger",
        "/api/v1/inventory/reversals",
        "/api/v1/genealogy/{lot}",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    // Every documented path is routed: without a token each answers 401, not 404 (the
    // public ones aside).
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            if op["x-permission"] == "public" {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let uri = path.replace("{edge_id}", "e1").replace("{lot}", "L-1");
            let reply = h.call(method, &uri, None, None).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{path}: {}",
                reply.json
            );
        }
    }
    let _: &Value = &reply.json;
}
