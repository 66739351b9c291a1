//! The stock ledger and lot genealogy, built from edge events by ingest. Issue 6.

use super::{ADMIN, Harness, event};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, TimeZone, Utc};
use protocol::{Event, EventKind, PROTOCOL_VERSION};
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 8, 0, 0).unwrap() + Duration::minutes(minute)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn fact(edge_id: &str, seq: u64, minute: i64, kind: EventKind) -> Event {
    let mut e = event(edge_id, seq);
    e.at = t(minute);
    e.kind = kind;
    e
}

fn qty(n: &str) -> Decimal {
    n.parse().unwrap()
}

fn received(item: &str, lot: &str, n: &str, location: &str) -> EventKind {
    EventKind::MaterialReceived {
        item: item.into(),
        lot: lot.into(),
        qty: qty(n),
        uom: "ea".into(),
        location: location.into(),
        purchase_order: None,
    }
}

fn moved(item: &str, lot: &str, n: &str, from: &str, to: &str) -> EventKind {
    EventKind::MaterialMoved {
        item: item.into(),
        lot: lot.into(),
        qty: qty(n),
        uom: "ea".into(),
        from: from.into(),
        to: to.into(),
    }
}

fn issued(work_order: &str, item: &str, lot: &str, n: &str) -> EventKind {
    EventKind::MaterialIssued {
        work_order: work_order.into(),
        operation: Some(10),
        item: item.into(),
        lot: lot.into(),
        qty: qty(n),
        uom: "ea".into(),
    }
}

fn produced(work_order: &str, item: &str, lot: &str, n: &str, consumed: &[&str]) -> EventKind {
    EventKind::LotProduced {
        work_order: work_order.into(),
        item: item.into(),
        lot: lot.into(),
        qty: qty(n),
        uom: "ea".into(),
        consumed_lots: consumed.iter().map(|&l| l.into()).collect(),
    }
}

async fn send(h: &Harness, token: &str, edge_id: &str, events: &[Event]) {
    let reply = h
        .post(
            "/api/v1/sync/events",
            token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": edge_id, "events": events}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// On-hand as `(item, lot, location) → qty` text.
async fn on_hand(h: &Harness, query: &str) -> Vec<(String, String, String, String)> {
    let reply = h.get(&format!("/api/v1/inventory{query}"), ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["on_hand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("item"), s("lot"), s("location"), s("qty"))
        })
        .collect()
}

fn row(item: &str, lot: &str, location: &str, qty: &str) -> (String, String, String, String) {
    (item.into(), lot.into(), location.into(), qty.into())
}

/// Receive 100 at WH1, move 30 to the line (named after the edge), issue 10 there, produce 5.
fn floor(edge_id: &str) -> Vec<Event> {
    vec![
        fact(edge_id, 1, 0, received("TUBE", "L-1", "100", "WH1")),
        fact(edge_id, 2, 10, moved("TUBE", "L-1", "30", "WH1", edge_id)),
        fact(edge_id, 3, 20, issued("WO-1", "TUBE", "L-1", "10.5")),
        fact(
            edge_id,
            4,
            30,
            produced("WO-1", "FRAME", "F-1", "5", &["L-1"]),
        ),
    ]
}

async fn ledger(h: &Harness, query: &str) -> Vec<Value> {
    let reply = h
        .get(&format!("/api/v1/inventory/ledger{query}"), ADMIN)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn issue_6_replays_and_duplicates_never_double_the_stock() {
    let h = Harness::new().await;
    let token = h.create_edge("e1").await;
    let events = floor("e1");
    send(&h, &token, "e1", &events[..2]).await;
    // A retry of the whole batch, then the rest with the first two again, then all again.
    send(&h, &token, "e1", &events[..2]).await;
    send(&h, &token, "e1", &events).await;
    send(&h, &token, "e1", &events).await;
    let expected = vec![
        row("FRAME", "F-1", "e1", "5"),
        row("TUBE", "L-1", "WH1", "70"),
        row("TUBE", "L-1", "e1", "19.5"),
    ];
    assert_eq!(on_hand(&h, "").await, expected);
    // 1 received + 2 moved + 1 issued + 1 produced.
    let entries = ledger(&h, "").await;
    assert_eq!(entries.len(), 5, "{entries:?}");
    assert_eq!(entries[2]["reason"], "moved_in");
    assert_eq!(entries[3]["work_order"], "WO-1");
    assert_eq!(entries[3]["qty_delta"], "-10.5");
    assert_eq!(entries[3]["seq"], 3);

    // After a restart, a replay from the start changes nothing either.
    let h = h.reopen().await;
    send(&h, &token, "e1", &events).await;
    assert_eq!(on_hand(&h, "").await, expected);
    assert_eq!(ledger(&h, "").await.len(), 5);
    // Filters.
    assert_eq!(
        on_hand(&h, "?item=TUBE&location=WH1").await,
        vec![row("TUBE", "L-1", "WH1", "70")]
    );
    assert_eq!(
        on_hand(&h, "?lot=F-1").await,
        vec![row("FRAME", "F-1", "e1", "5")]
    );
}

#[tokio::test]
async fn issue_6_on_hand_at_a_past_moment_and_corrections_by_reversal() {
    let h = Harness::new().await;
    let token = h.create_edge("e1").await;
    send(&h, &token, "e1", &floor("e1")).await;

    let at = |minute| format!("?at={}", rfc3339(t(minute)));
    assert_eq!(on_hand(&h, &at(-1)).await, vec![]);
    assert_eq!(
        on_hand(&h, &at(0)).await,
        vec![row("TUBE", "L-1", "WH1", "100")]
    );
    assert_eq!(
        on_hand(&h, &at(15)).await,
        vec![
            row("TUBE", "L-1", "WH1", "70"),
            row("TUBE", "L-1", "e1", "30")
        ]
    );
    assert_eq!(
        on_hand(&h, &at(25)).await,
        vec![
            row("TUBE", "L-1", "WH1", "70"),
            row("TUBE", "L-1", "e1", "19.5")
        ]
    );

    // The issue was booked wrongly: reverse it. The ledger keeps both rows.
    let issue = ledger(&h, "?location=e1&item=TUBE").await[1].clone();
    assert_eq!(issue["reason"], "issued");
    let entry_id = issue["entry_id"].as_i64().unwrap();
    let reply = h
        .post(
            "/api/v1/inventory/reversals",
            ADMIN,
            json!({"entry_id": entry_id, "note": "wrong work order"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(reply.json["reverses"], entry_id);
    assert_eq!(reply.json["qty_delta"], "10.5");
    assert_eq!(reply.json["reason"], "reversal");
    let reversal_id = reply.json["entry_id"].as_i64().unwrap();
    assert_eq!(
        on_hand(&h, "?item=TUBE&location=e1").await,
        vec![row("TUBE", "L-1", "e1", "30")]
    );
    // The past stays as it was booked then.
    assert_eq!(
        on_hand(&h, &format!("{}&item=TUBE&location=e1", at(25))).await,
        vec![row("TUBE", "L-1", "e1", "19.5")]
    );
    assert_eq!(ledger(&h, "").await.len(), 6);

    let again = h
        .post(
            "/api/v1/inventory/reversals",
            ADMIN,
            json!({"entry_id": entry_id}),
        )
        .await;
    again.assert_error(StatusCode::CONFLICT, "already_reversed");
    let of_reversal = h
        .post(
            "/api/v1/inventory/reversals",
            ADMIN,
            json!({"entry_id": reversal_id}),
        )
        .await;
    of_reversal.assert_error(StatusCode::CONFLICT, "is_reversal");
    let unknown = h
        .post(
            "/api/v1/inventory/reversals",
            ADMIN,
            json!({"entry_id": 999_999}),
        )
        .await;
    unknown.assert_error(StatusCode::NOT_FOUND, "not_found");
    let bad_at = h.get("/api/v1/inventory?at=yesterday", ADMIN).await;
    assert_eq!(bad_at.status, StatusCode::BAD_REQUEST, "{}", bad_at.json);
    let no_token = h
        .call(axum::http::Method::GET, "/api/v1/inventory", None, None)
        .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
}

fn lots_at(trace: &Value) -> Vec<(String, u64)> {
    trace["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["lot"].as_str().unwrap().to_owned(),
                n["depth"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|&(l, d)| (l.to_owned(), d)).collect()
}

#[tokio::test]
async fn issue_6_genealogy_backward_and_forward_through_three_levels() {
    let h = Harness::new().await;
    let t1 = h.create_edge("line-1").await;
    let t2 = h.create_edge("line-2").await;
    // Line 1 makes the semi-finished lots from raw lots: S-1 names R-2 in consumed_lots and
    // gets R-1 by an issue to its work order; S-2 gets R-2 by an issue only.
    send(
        &h,
        &t1,
        "line-1",
        &[
            fact("line-1", 1, 0, received("STEEL", "R-1", "50", "line-1")),
            fact("line-1", 2, 0, received("STEEL", "R-2", "50", "line-1")),
            fact("line-1", 3, 1, issued("WO-A", "STEEL", "R-1", "5")),
            fact(
                "line-1",
                4,
                2,
                produced("WO-A", "TUBE", "S-1", "5", &["R-2"]),
            ),
            fact("line-1", 5, 3, produced("WO-B", "TUBE", "S-2", "5", &[])),
            // Issued after the lot was reported produced: still part of it.
            fact("line-1", 6, 4, issued("WO-B", "STEEL", "R-2", "5")),
        ],
    )
    .await;
    // Line 2 makes P-1 of S-1 (consumed_lots) and S-2 (issued), then the finished FG-1.
    send(
        &h,
        &t2,
        "line-2",
        &[
            fact("line-2", 1, 5, issued("WO-C", "TUBE", "S-2", "2")),
            fact(
                "line-2",
                2,
                6,
                produced("WO-C", "FRAME", "P-1", "2", &["S-1"]),
            ),
            fact(
                "line-2",
                3,
                7,
                produced("WO-D", "BIKE", "FG-1", "1", &["P-1"]),
            ),
        ],
    )
    .await;

    let back = h.get("/api/v1/genealogy/FG-1", ADMIN).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.json);
    assert_eq!(back.json["direction"], "backward");
    assert_eq!(
        lots_at(&back.json),
        pairs(&[
            ("FG-1", 0),
            ("P-1", 1),
            ("S-1", 2),
            ("S-2", 2),
            ("R-1", 3),
            ("R-2", 3)
        ])
    );
    assert_eq!(back.json["nodes"][1]["item"], "FRAME");
    assert_eq!(back.json["nodes"][4]["item"], "STEEL");
    assert_eq!(back.json["links"].as_array().unwrap().len(), 6);

    let fwd = h
        .get("/api/v1/genealogy/R-2?direction=forward", ADMIN)
        .await;
    assert_eq!(fwd.status, StatusCode::OK, "{}", fwd.json);
    assert_eq!(
        lots_at(&fwd.json),
        pairs(&[("R-2", 0), ("S-1", 1), ("S-2", 1), ("P-1", 2), ("FG-1", 3)])
    );
    let fwd = h
        .get("/api/v1/genealogy/R-1?direction=forward", ADMIN)
        .await;
    assert_eq!(
        lots_at(&fwd.json),
        pairs(&[("R-1", 0), ("S-1", 1), ("P-1", 2), ("FG-1", 3)])
    );

    // A lot nobody knows traces to itself; a bad direction is refused.
    let unknown = h.get("/api/v1/genealogy/NOPE", ADMIN).await;
    assert_eq!(lots_at(&unknown.json), pairs(&[("NOPE", 0)]));
    let bad = h
        .get("/api/v1/genealogy/FG-1?direction=sideways", ADMIN)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.json);

    // Bad data that makes a cycle (R-1 reported as made of FG-1) still ends.
    send(
        &h,
        &t2,
        "line-2",
        &[fact(
            "line-2",
            4,
            8,
            produced("WO-E", "STEEL", "R-1", "1", &["FG-1"]),
        )],
    )
    .await;
    let cyc = h.get("/api/v1/genealogy/FG-1", ADMIN).await;
    assert_eq!(cyc.status, StatusCode::OK, "{}", cyc.json);
    assert_eq!(lots_at(&cyc.json).len(), 6);
    let cyc = h
        .get("/api/v1/genealogy/FG-1?direction=forward", ADMIN)
        .await;
    assert_eq!(
        lots_at(&cyc.json),
        pairs(&[("FG-1", 0), ("R-1", 1), ("S-1", 2), ("P-1", 3)])
    );
}

#[tokio::test]
async fn issue_6_genealogy_is_iterative_through_a_thousand_levels() {
    let h = Harness::new().await;
    let token = h.create_edge("e1").await;
    let events: Vec<Event> = (1..=1000u64)
        .map(|i| {
            let lot = format!("L-{i}");
            let parent = format!("L-{}", i - 1);
            fact(
                "e1",
                i,
                0,
                produced(&format!("WO-{i}"), "X", &lot, "1", &[parent.as_str()]),
            )
        })
        .collect();
    send(&h, &token, "e1", &events).await;
    let back = h.get("/api/v1/genealogy/L-1000", ADMIN).await;
    assert_eq!(back.status, StatusCode::OK);
    let nodes = lots_at(&back.json);
    assert_eq!(nodes.len(), 1001);
    assert_eq!(nodes[1000], ("L-0".to_owned(), 1000));
}

#[tokio::test]
async fn issue_6_an_upgraded_store_books_its_stored_events_once() {
    if !super::sqlite_only("an upgrade from SQLite schema 2") {
        return;
    }
    let h = Harness::new().await;
    let token = h.create_edge("e1").await;
    send(&h, &token, "e1", &floor("e1")).await;
    let super::Harness {
        audit_check,
        dir,
        config,
        state,
        pg,
    } = h;
    drop(state);
    // Make the file look like schema 2, before the ledger existed.
    {
        let conn =
            rusqlite::Connection::open(dir.path().join(central::store::sql::DB_FILE)).unwrap();
        conn.execute_batch(
            "DROP TABLE inv_ledger; DROP TABLE gen_produced; DROP TABLE gen_consumed;
             DROP TABLE gen_issued; PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let store = central::open_sqlite_store(dir.path()).await.unwrap();
    let state = central::AppState::new(store, crate::admin_token(), &config);
    let mut h = Harness::from_parts(dir, pg, config, state);
    h.audit_check = audit_check;
    assert_eq!(ledger(&h, "").await.len(), 5);
    assert_eq!(
        on_hand(&h, "?item=TUBE&location=WH1").await,
        vec![row("TUBE", "L-1", "WH1", "70")]
    );
    let back = h.get("/api/v1/genealogy/F-1", ADMIN).await;
    assert_eq!(lots_at(&back.json), pairs(&[("F-1", 0), ("L-1", 1)]));
    // Reopening again books nothing twice.
    let h = h.reopen().await;
    assert_eq!(ledger(&h, "").await.len(), 5);
}
