//! Issue 11: what central does with bad input from an edge. A malformed envelope refuses the
//! batch; a committed fact whose body does not read or is out of bounds is stored,
//! acknowledged and quarantined, applied to nothing, and the next good event is applied.
//! Quantities are summed with checked arithmetic, also over a ledger written before the fix.

use crate::work_orders::{act, create, plant};
use crate::*;
use chrono::DateTime;

const HUGE: &str = "79228162514264337593543950335";

/// Event `seq` of line-1 as JSON: an issue of `qty` STEEL of lot L-1 to WO-1.
fn issue(seq: u64, qty: &str) -> Value {
    let mut e = serde_json::to_value(event("line-1", seq)).unwrap();
    e["kind"] = json!({"type": "material_issued", "work_order": "WO-1", "operation": 10,
                      "item": "STEEL", "lot": "L-1", "qty": qty, "uom": "kg"});
    e
}

/// A batch body from events given as JSON text (so numbers no `Value` holds can be sent).
fn raw_batch(events: &[String]) -> String {
    format!(
        "{{\"protocol\":{PROTOCOL_VERSION},\"edge_id\":\"line-1\",\"events\":[{}]}}",
        events.join(",")
    )
}

async fn post_raw(h: &Harness, token: &str, body: String) -> Reply {
    h.send(
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/sync/events")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// Every bad value of issue 11, each as an event at seq `first_seq`, `first_seq + 2`, …, with
/// what its reason must say.
fn bad_events(first_seq: u64) -> Vec<(u64, String, &'static str)> {
    type Make = Box<dyn Fn(u64) -> String>;
    let at = |when: Value| -> Make {
        Box::new(move |seq| {
            let mut e = issue(seq, "1");
            e["at"] = when.clone();
            e.to_string()
        })
    };
    let lot = |lot: String| -> Make {
        Box::new(move |seq| {
            let mut e = issue(seq, "1");
            e["kind"]["lot"] = json!(lot);
            e.to_string()
        })
    };
    let kind = |kind: Value, replace: Option<(&'static str, &'static str)>| -> Make {
        Box::new(move |seq| {
            let mut e = serde_json::to_value(event("line-1", seq)).unwrap();
            e["kind"] = kind.clone();
            let text = e.to_string();
            match replace {
                Some((from, to)) => text.replace(from, to),
                None => text,
            }
        })
    };
    let cases: Vec<(Make, &'static str)> = vec![
        (
            Box::new(|seq| issue(seq, "0").to_string()),
            "kind.qty: is 0; expected a quantity above zero",
        ),
        (
            Box::new(|seq| issue(seq, "-5").to_string()),
            "kind.qty: is -5; expected a quantity above zero",
        ),
        (at(json!("0001-01-01T00:00:00Z")), "at: is 0001-01-01"),
        (
            at(serde_json::to_value(DateTime::<Utc>::MAX_UTC).unwrap()),
            "at: is +262142",
        ),
        (
            lot("L".repeat(1 << 20)),
            "bytes long; an event has at most 65536",
        ),
        (
            lot("L-\u{0}1".into()),
            "kind.lot: holds the control or invisible character U+0000",
        ),
        (
            lot("L-\u{202E}1".into()),
            "kind.lot: holds the control or invisible character U+202E",
        ),
        (
            kind(
                json!({"type": "production_reported", "work_order": "WO-1",
                       "operation": 10, "good": 1, "scrap": 0}),
                Some(("\"good\":1", "\"good\":184467440737095516160")),
            ),
            "the event does not read: ",
        ),
        (
            kind(
                json!({"type": "teleported", "work_order": "WO-1", "to": "mars"}),
                None,
            ),
            "the event does not read: unknown variant `teleported`",
        ),
        (
            Box::new(|seq| issue(seq, HUGE).to_string()),
            "kind.qty: is 79228162514264337593543950335; at most 1000000000",
        ),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(i, (make, reason))| {
            let seq = first_seq + 2 * i as u64;
            (seq, make(seq), reason)
        })
        .collect()
}

async fn issued_steel(h: &Harness) -> Value {
    let order = h.get("/api/v1/work-orders/WO-1", ADMIN).await;
    assert_eq!(order.status, StatusCode::OK, "{}", order.json);
    let steel = order.json["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == "STEEL")
        .cloned()
        .unwrap();
    json!({"issued": steel["issued"], "good": order.json["operations"][0]["good"]})
}

/// What the projections hold: the ledger, on-hand, work-order progress, unmatched orders.
async fn projections(h: &Harness) -> Value {
    json!({
        "ledger": h.get("/api/v1/inventory/ledger", ADMIN).await.json["entries"].as_array().unwrap().len(),
        "on_hand": h.get("/api/v1/inventory", ADMIN).await.json["on_hand"],
        "wo": issued_steel(h).await,
        "unmatched": h.get("/api/v1/unmatched-work-orders", ADMIN).await.json,
    })
}

#[tokio::test]
async fn issue_11_each_bad_value_is_quarantined_acked_and_applied_to_nothing() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    create(&h, "WO-1", "10").await;
    crate::work_orders::ok(&act(&h, "WO-1", "release").await);

    // Each bad event is followed by a good issue of 1 kg, which must be applied.
    let bad = bad_events(1);
    let mut texts = Vec::new();
    for (seq, text, _) in &bad {
        texts.push(text.clone());
        texts.push(issue(seq + 1, "1").to_string());
    }
    let last = (texts.len()) as u64;
    let body = raw_batch(&texts);
    let reply = post_raw(&h, &token, body.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json, json!({"acked_through": last}));
    assert_eq!(h.count("line-1").await, last, "every event is stored");

    // Only the good issues reached the ledger and the order.
    let n_good = bad.len();
    let after = projections(&h).await;
    assert_eq!(after["ledger"], n_good, "{after}");
    assert_eq!(
        after["on_hand"],
        json!([{"item": "STEEL", "lot": "L-1", "location": "line-1", "uom": "kg", "qty": format!("-{n_good}"), "negative": true}])
    );
    assert_eq!(
        after["wo"],
        json!({"issued": n_good.to_string(), "good": 0}),
        "{after}"
    );
    assert_eq!(after["unmatched"], json!({"work_orders": []}));

    // The quarantine names edge, seq and reason, newest first.
    let q = h.get("/api/v1/quarantine?edge=line-1", ADMIN).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.json);
    let listed = q.json["quarantined"].as_array().unwrap();
    assert_eq!(listed.len(), bad.len(), "{}", q.json);
    for ((seq, text, reason), entry) in bad.iter().zip(listed.iter().rev()) {
        assert_eq!(entry["edge_id"], "line-1");
        assert_eq!(entry["seq"], *seq);
        let got = entry["reason"].as_str().unwrap();
        assert!(got.contains(reason), "seq {seq}: {got:?} lacks {reason:?}");
        assert_eq!(entry["body_bytes"], text.len());
        let excerpt = entry["body"].as_str().unwrap();
        assert!(excerpt.len() <= 1024, "{}", excerpt.len());
        assert!(
            !excerpt.contains('\u{0}') && !excerpt.contains('\u{202E}'),
            "{excerpt}"
        );
    }
    let teleported = listed.iter().find(|e| e["kind"] == "teleported").unwrap();
    assert_eq!(teleported["event_id"], json!(event("line-1", 17).id));

    // Counted per edge, in the metrics, and the events page never fails on them.
    let edges = h.get("/api/v1/edges", ADMIN).await;
    assert_eq!(edges.json["edges"][0]["quarantined"], bad.len());
    let metrics = h.call(Method::GET, "/metrics", None, None).await;
    let text = metrics.json.as_str().unwrap();
    let line = format!(
        "mes_central_events_quarantined_total{{edge_id=\"line-1\"}} {}",
        bad.len()
    );
    assert!(text.contains(&line), "missing {line} in\n{text}");
    let page = h.get("/api/v1/edges/line-1/events", ADMIN).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.json);
    let listed: Vec<u64> = page.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        listed,
        bad.iter().map(|(seq, _, _)| seq + 1).collect::<Vec<_>>()
    );
    assert_eq!(
        page.json["quarantined"],
        json!(bad.iter().map(|(seq, _, _)| *seq).collect::<Vec<_>>())
    );

    // A replay of the batch changes nothing.
    let reply = post_raw(&h, &token, body).await;
    assert_eq!(reply.json, json!({"acked_through": last}));
    assert_eq!(projections(&h).await, after);
    let q = h.get("/api/v1/quarantine", ADMIN).await;
    assert_eq!(q.json["quarantined"].as_array().unwrap().len(), bad.len());
    let text = h.call(Method::GET, "/metrics", None, None).await.json;
    assert!(text.as_str().unwrap().contains(&line), "{text}");
}

#[tokio::test]
async fn issue_11_a_malformed_envelope_refuses_the_batch_and_changes_nothing() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let good = |seq: u64| serde_json::to_string(&event("line-1", seq)).unwrap();
    let reply = post_raw(&h, &token, raw_batch(&[good(1), good(2)])).await;
    assert_eq!(reply.json, json!({"acked_through": 2}));
    let with_seq = |seq: &str| good(3).replace("\"seq\":3", &format!("\"seq\":{seq}"));
    let cases = [
        (
            vec![good(3), "5".to_owned()],
            "index 1 has no readable envelope",
        ),
        (vec![with_seq("\"3\"")], "seq \"3\" is not a whole number"),
        (
            vec![with_seq("9223372036854775808")],
            "has seq 9223372036854775808",
        ),
        (
            vec![with_seq("184467440737095516160")],
            "is not a whole number",
        ),
        (vec![with_seq("0")], "has seq 0"),
        (vec![good(3), good(5)], "contiguous"),
        (
            vec![good(3).replace("\"edge_id\":\"line-1\"", "\"edge_id\":\"line-2\"")],
            "belongs to edge \"line-2\"",
        ),
    ];
    for (events, expected) in cases {
        let reply = post_raw(&h, &token, raw_batch(&events)).await;
        let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_batch");
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        assert_eq!(h.count("line-1").await, 2);
        assert_eq!(h.acked("line-1").await, Seq(2));
    }
    let q = h.get("/api/v1/quarantine", ADMIN).await;
    assert_eq!(q.json, json!({"quarantined": []}));
}

#[tokio::test]
async fn issue_11_numbers_past_2_63_in_sync_messages_are_refused_not_500() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let big = 9_223_372_036_854_775_808u64;
    let status = |backlog: u64, plan_version: u64| {
        json!({
            "protocol": 1, "edge_id": "line-1", "agent_version": "0.1.0",
            "clock": Utc::now(), "last_seq": big, "acked_seq": 0, "backlog": backlog,
            "plan_version": plan_version
        })
    };
    for body in [status(big, 0), status(0, big)] {
        let reply = h.post("/api/v1/sync/status", &token, body).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let reply = h.post("/api/v1/sync/status", &token, status(0, 0)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let reply = h
        .get(&format!("/api/v1/sync/plan?have={big}"), &token)
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let reply = h
        .get(&format!("/api/v1/edges/line-1/events?from={big}"), ADMIN)
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let mut long = status(0, 0);
    long["agent_version"] = json!("v".repeat(100_000));
    let reply = h.post("/api/v1/sync/status", &token, long).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn issue_11_two_huge_issues_of_a_lot_no_longer_break_inventory() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let texts = vec![issue(1, HUGE).to_string(), issue(2, HUGE).to_string()];
    let reply = post_raw(&h, &token, raw_batch(&texts)).await;
    assert_eq!(reply.json, json!({"acked_through": 2}));
    let reply = h.get("/api/v1/inventory", ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["on_hand"], json!([]));
    assert_eq!(
        h.get("/api/v1/edges", ADMIN).await.json["edges"][0]["quarantined"],
        2
    );
}

/// Writes ledger rows as a central from before the bounds would have booked them.
fn book_directly(h: &Harness, rows: &[(&str, &str, &str, &str)]) {
    for (i, (item, lot, location, qty)) in rows.iter().enumerate() {
        h.sql(
            "INSERT INTO inv_ledger (item, lot, location, qty_delta, uom, edge_id, seq, at, reason)
             VALUES (?1, ?2, ?3, ?4, 'kg', 'line-0', ?5, '2026-11-01T08:00:00.000000Z', 'received')",
            vec![
                crate::text(*item),
                crate::text(*lot),
                crate::text(*location),
                crate::text(*qty),
                crate::SqlValue::Integer(i as i64 + 1),
            ],
        );
    }
}

#[tokio::test]
async fn issue_11_a_ledger_that_overflows_from_before_the_fix_reports_the_lot_not_500() {
    let h = Harness::new().await;
    book_directly(
        &h,
        &[
            ("GREASE", "G1", "RECV", HUGE),
            ("GREASE", "G1", "RECV", HUGE),
            ("GREASE", "G2", "RECV", "12.5"),
        ],
    );
    let reply = h.get("/api/v1/inventory", ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let rows = reply.json["on_hand"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", reply.json);
    assert_eq!(rows[0]["lot"], "G1");
    assert_eq!(rows[0]["qty"], Value::Null);
    let problem = rows[0]["problem"].as_str().unwrap();
    assert!(
        problem.contains("sum beyond") && problem.contains("reversals"),
        "{problem}"
    );
    assert_eq!(rows[1]["qty"], "12.5", "other lots are unaffected");
    assert!(rows[1].get("problem").is_none());

    // The fix: reverse the entry booked from the out-of-bounds event.
    let ledger = h.get("/api/v1/inventory/ledger?lot=G1", ADMIN).await;
    let entry = ledger.json["entries"][1]["entry_id"].clone();
    let reply = h
        .post(
            "/api/v1/inventory/reversals",
            ADMIN,
            json!({"entry_id": entry, "note": "out of bounds"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let reply = h.get("/api/v1/inventory?lot=G1", ADMIN).await;
    assert_eq!(
        reply.json["on_hand"],
        json!([{"item": "GREASE", "lot": "G1", "location": "RECV", "uom": "kg", "qty": HUGE}])
    );
}

#[tokio::test]
async fn issue_11_an_overflowing_ledger_or_issue_sum_from_before_the_fix_breaks_no_plan_or_ingest()
{
    if !super::sqlite_only("rows written by an older central, put in SQLite's file") {
        return;
    }
    let h = Harness::new().await;
    let token = plant(&h).await;
    crate::work_orders::import(
        &h,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock,shelf_life_days\n\
         STEEL,Steel,buy,kg,5,lfl,,,30\n",
    )
    .await;
    create(&h, "WO-1", "10").await;
    crate::work_orders::ok(&act(&h, "WO-1", "release").await);
    book_directly(
        &h,
        &[
            ("STEEL", "L-BIG", "RECV", HUGE),
            ("STEEL", "L-BIG", "RECV", HUGE),
        ],
    );
    // A lot hold of the item publishes the plan, which reads the ledger of STEEL's lots.
    let reply = h
        .post(
            "/api/v1/lots/L-BAD/hold",
            ADMIN,
            json!({"item": "STEEL", "reason": "damp"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let plan = h.get("/api/v1/edges/line-1/plan", ADMIN).await;
    let big = plan.json["lots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lot"] == "L-BIG")
        .cloned()
        .unwrap_or_else(|| panic!("{}", plan.json));
    assert_eq!(big["expires"], "2026-12-01", "in stock, with its expiry");
    assert!(big.get("location").is_none(), "{big}");

    // An order whose issued sum is at the end of the range takes one more issue as a warning.
    h.sql(
        "UPDATE wo_components SET issued = ?1 WHERE work_order = 'WO-1' AND item = 'STEEL'",
        vec![crate::text(HUGE)],
    );
    let reply = post_raw(&h, &token, raw_batch(&[issue(1, "1").to_string()])).await;
    assert_eq!(reply.json, json!({"acked_through": 1}));
    let n = h.sql(
        "SELECT COUNT(*) FROM wo_components WHERE work_order = 'WO-1' AND item = 'STEEL'",
        vec![],
    );
    assert_eq!(n[0][0], 1);
    let order = h.get("/api/v1/work-orders/WO-1", ADMIN).await;
    assert_eq!(order.status, StatusCode::OK, "{}", order.json);
    assert_eq!(issued_steel(&h).await["issued"], HUGE);
    let warnings = order.json["warnings"].to_string();
    assert!(warnings.contains("would overflow"), "{warnings}");
}
