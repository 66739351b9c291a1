//! The audit trail (issue 13): every change made through the API is an entry written in the
//! same transaction, with who, when, from where, what, before and after; ingest writes none;
//! the query API and its CSV; the hash chain shows tampering and the log refuses updates and
//! deletes.

use crate::work_orders::{act, create, ok, plant, put};
use crate::*;
use central::people::audit::{Actor, ActorKind};
use central::store::{AuditQuery, NewAuditEntry};

/// Every entry, oldest first.
async fn entries(h: &Harness) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let reply = h
            .get(&format!("/api/v1/audit?limit=1000&after={after}"), ADMIN)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        let page = reply.json["entries"].as_array().unwrap().clone();
        all.extend(page);
        match reply.json["next"].as_u64() {
            Some(next) => after = next,
            None => return all,
        }
    }
}

/// The entries of one entity and id, as `(action, before, after)`.
fn of<'a>(all: &'a [Value], entity: &str, id: &str) -> Vec<(&'a str, &'a Value, &'a Value)> {
    all.iter()
        .filter(|e| e["entity"] == entity && e["entity_id"] == id)
        .map(|e| (e["action"].as_str().unwrap(), &e["before"], &e["after"]))
        .collect()
}

fn count(all: &[Value]) -> usize {
    all.len()
}

#[tokio::test]
async fn issue_13_changes_through_the_api_are_entries_with_before_and_after() {
    let h = Harness::new().await;
    // An edge's credential issued: the token's hash is redacted.
    let token = plant(&h).await;
    let all = entries(&h).await;
    let edge = of(&all, "edges", "line-1");
    assert_eq!(edge.len(), 1, "{all:?}");
    let (action, before, after) = edge[0];
    assert_eq!((action, before), ("insert", &Value::Null));
    assert_eq!(after["token_hash"], "[redacted]");
    assert_eq!(after["revoked"], 0);
    let first = &all[0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["actor_kind"], "admin_token");
    assert_eq!(first["actor"], "admin");
    assert_eq!(first["operation"], "POST /api/v1/edges");
    assert_eq!(first["prev_hash"], Value::Null);
    assert!(!all.to_vec().iter().any(|e| e.to_string().contains(&token)));

    // Master data.
    ok(&put(
        &h,
        "/api/v1/items/STEEL",
        json!({"description": "Steel, cold rolled", "kind": "buy", "uom": "kg"}),
    )
    .await);
    let all = entries(&h).await;
    let steel = of(&all, "erp_items", "STEEL");
    let (action, before, after) = *steel.last().unwrap();
    assert_eq!(action, "update");
    assert_eq!(before["description"], "Steel");
    assert_eq!(after["description"], "Steel, cold rolled");
    let last = all.last().unwrap();
    assert_eq!(last["operation"], "PUT /api/v1/items/{item}");

    // A work order released: its state, and the plan published with it, in one transaction.
    create(&h, "WO-1", "10").await;
    let n = count(&entries(&h).await);
    ok(&act(&h, "WO-1", "release").await);
    let all = entries(&h).await;
    let released = &all[n..];
    assert!(
        released
            .iter()
            .all(|e| e["operation"] == "POST /api/v1/work-orders/{id}/release"),
        "{released:?}"
    );
    let order = of(released, "wo_orders", "WO-1");
    assert_eq!(order.len(), 1, "{released:?}");
    let (action, before, after) = order[0];
    assert_eq!(action, "update");
    assert_eq!(
        (&before["state"], &after["state"]),
        (&json!("planned"), &json!("released"))
    );
    let plan = of(released, "plans", "line-1/1");
    assert_eq!(plan.len(), 1, "{released:?}");
    assert_eq!(plan[0].0, "insert");
    let body: Value = serde_json::from_str(plan[0].2["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["work_orders"][0]["work_order"], "WO-1");
    let at = &released[0]["at"];
    assert!(
        released.iter().all(|e| &e["at"] == at),
        "one write, one time"
    );

    // A lot hold and its release.
    let hold = h
        .post(
            "/api/v1/lots/L-77/hold",
            ADMIN,
            json!({"reason": "QC-17 failed", "item": "STEEL"}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.json);
    ok(&h.post("/api/v1/lots/L-77/release", ADMIN, json!({})).await);
    let all = entries(&h).await;
    let holds = of(&all, "lot_holds", "L-77");
    assert_eq!(holds.len(), 2, "{all:?}");
    assert_eq!(
        (holds[0].0, &holds[0].2["reason"]),
        ("insert", &json!("QC-17 failed"))
    );
    assert_eq!(
        (holds[1].0, &holds[1].1["reason"], holds[1].2),
        ("delete", &json!("QC-17 failed"), &Value::Null)
    );

    // Ingest writes no entry, whatever it changes (ledger, progress).
    let n = count(&all);
    let mut received = event("line-1", 1);
    received.kind = EventKind::MaterialReceived {
        item: "STEEL".into(),
        lot: "L-1".into(),
        qty: "100".parse().unwrap(),
        uom: "kg".into(),
        location: "WH1".into(),
        purchase_order: None,
    };
    let mut produced = event("line-1", 2);
    produced.kind = EventKind::ProductionReported {
        work_order: Some("WO-1".into()),
        operation: Some(10),
        good: 3,
        scrap: 0,
    };
    let reply = h
        .post(
            "/api/v1/sync/events",
            &token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": [received, produced]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let poll = h.get("/api/v1/sync/plan?have=0&wait_ms=0", &token).await;
    assert_eq!(poll.status, StatusCode::OK);
    let all = entries(&h).await;
    assert_eq!(count(&all), n, "ingest and plan polls are not audited");
    let ledger = h.get("/api/v1/inventory/ledger?lot=L-1", ADMIN).await;
    let entry_id = ledger.json["entries"][0]["entry_id"].as_i64().unwrap();

    // An inventory reversal.
    let reversal = h
        .post(
            "/api/v1/inventory/reversals",
            ADMIN,
            json!({"entry_id": entry_id, "note": "counted twice"}),
        )
        .await;
    assert_eq!(reversal.status, StatusCode::CREATED, "{}", reversal.json);
    let reversal_id = reversal.json["entry_id"].as_i64().unwrap();
    let all = entries(&h).await;
    let booked = of(&all, "inv_ledger", &reversal_id.to_string());
    assert_eq!(booked.len(), 1, "{all:?}");
    assert_eq!(booked[0].0, "insert");
    assert_eq!(booked[0].2["reverses"], entry_id);
    assert_eq!(booked[0].2["note"], "counted twice");
    assert_eq!(booked[0].2["qty_delta"], "-100");

    // Refused changes leave no entry.
    let n = count(&all);
    h.post(
        "/api/v1/inventory/reversals",
        ADMIN,
        json!({"entry_id": entry_id}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "already_reversed");
    act(&h, "WO-1", "release")
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(count(&entries(&h).await), n);

    // The credential rotated and revoked.
    h.create_edge("line-1").await;
    ok(&h
        .post("/api/v1/edges/line-1/revoke", ADMIN, json!({}))
        .await);
    let all = entries(&h).await;
    let edge = of(&all, "edges", "line-1");
    let (action, before, after) = edge[edge.len() - 2];
    assert_eq!(action, "update");
    assert_eq!(
        (&before["token_hash"], &after["token_hash"]),
        (&json!("[redacted]"), &json!("[redacted]"))
    );
    let (action, before, after) = edge[edge.len() - 1];
    assert_eq!(
        (action, &before["revoked"], &after["revoked"]),
        ("update", &json!(0), &json!(1))
    );

    // The chain holds over all of it.
    let verdict = h.store().verify_audit().await.unwrap();
    assert_eq!(
        (verdict.entries as usize, verdict.broken),
        (all.len(), None)
    );
    assert_eq!(
        verdict.head.as_deref(),
        all.last().unwrap()["hash"].as_str()
    );
    for pair in all.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["seq"].as_u64(),
            pair[0]["seq"].as_u64().map(|s| s + 1)
        );
    }
}

#[tokio::test]
async fn issue_13_the_peer_address_is_recorded() {
    let h = Harness::new().await;
    let mut request = request(
        Method::POST,
        "/api/v1/edges",
        Some(ADMIN),
        Some(json!({"edge_id": "e1"})),
    );
    let peer: std::net::SocketAddr = "192.0.2.7:40123".parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    assert_eq!(h.send(request).await.status, StatusCode::CREATED);
    let all = entries(&h).await;
    // The address without the port: the port changes with every connection.
    assert_eq!(all[0]["address"], "192.0.2.7");
}

#[tokio::test]
async fn issue_13_sign_in_failures_denials_and_lockouts_are_appended_to_the_chain() {
    let h = Harness::new().await;
    h.create_edge("e1").await;
    let appended = h
        .store()
        .append_audit(NewAuditEntry {
            actor: Actor::new(ActorKind::User, "mallory", "POST /api/v1/sign-in")
                .with_address(Some("198.51.100.1:5555".into())),
            action: "sign_in_failed".into(),
            entity: "session".into(),
            entity_id: None,
            before: None,
            after: Some(json!({"reason": "bad credentials"})),
        })
        .await
        .unwrap();
    assert_eq!(appended.seq, 2);
    let all = entries(&h).await;
    assert_eq!(appended.prev_hash.as_deref(), all[0]["hash"].as_str());
    let failures = h
        .get("/api/v1/audit?action=sign_in_failed&actor_kind=user", ADMIN)
        .await;
    let page = failures.json["entries"].as_array().unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["actor"], "mallory");
    assert_eq!(page[0]["address"], "198.51.100.1:5555");
    assert_eq!(page[0]["after"]["reason"], "bad credentials");
    // A write through the store with an actor of its own is audited as theirs.
    central::people::audit::with_actor(
        Actor::new(ActorKind::System, "mes test", "test"),
        h.store().revoke_edge(&"e1".into()),
    )
    .await
    .unwrap();
    let page = h.get("/api/v1/audit?actor_kind=system", ADMIN).await.json;
    assert_eq!(page["entries"][0]["entity_id"], "e1");
    assert_eq!(page["entries"][0]["operation"], "test");
    assert!(h.store().verify_audit().await.unwrap().holds());
}

#[tokio::test]
async fn issue_13_filters_paging_and_csv() {
    let h = Harness::new().await;
    for edge in ["e1", "e2", "e3", "e4", "e5"] {
        h.create_edge(edge).await;
    }
    ok(&h.post("/api/v1/edges/e2/revoke", ADMIN, json!({})).await);
    let all = entries(&h).await;
    assert_eq!(all.len(), 6);
    let seqs = |reply: &Reply| -> Vec<u64> {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        reply.json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect()
    };
    let page = h.get("/api/v1/audit?limit=2", ADMIN).await;
    assert_eq!((seqs(&page), &page.json["next"]), (vec![1, 2], &json!(2)));
    let page = h.get("/api/v1/audit?limit=2&after=4", ADMIN).await;
    assert_eq!(seqs(&page), vec![5, 6]);
    let page = h.get("/api/v1/audit?limit=4&after=4", ADMIN).await;
    assert_eq!(
        (seqs(&page), &page.json["next"]),
        (vec![5, 6], &Value::Null)
    );
    let page = h.get("/api/v1/audit?order=desc&limit=2", ADMIN).await;
    assert_eq!(seqs(&page), vec![6, 5]);
    let page = h
        .get("/api/v1/audit?order=desc&limit=2&after=5", ADMIN)
        .await;
    assert_eq!(seqs(&page), vec![4, 3]);
    let page = h
        .get("/api/v1/audit?entity=edges&entity_id=e2", ADMIN)
        .await;
    assert_eq!(seqs(&page), vec![2, 6]);
    let page = h.get("/api/v1/audit?action=update", ADMIN).await;
    assert_eq!(seqs(&page), vec![6]);
    let page = h
        .get(
            "/api/v1/audit?operation=POST%20/api/v1/edges/%7Bedge_id%7D/revoke",
            ADMIN,
        )
        .await;
    assert_eq!(seqs(&page), vec![6]);
    let page = h
        .get("/api/v1/audit?actor=admin&actor_kind=admin_token", ADMIN)
        .await;
    assert_eq!(seqs(&page).len(), 6);
    let page = h.get("/api/v1/audit?actor=someone", ADMIN).await;
    assert_eq!(seqs(&page), Vec::<u64>::new());
    // Time range: from inclusive, to exclusive.
    let at = all[2]["at"].as_str().unwrap();
    let encoded = at.replace(':', "%3A");
    let from = h.get(&format!("/api/v1/audit?from={encoded}"), ADMIN).await;
    assert_eq!(seqs(&from), vec![3, 4, 5, 6]);
    let to = h.get(&format!("/api/v1/audit?to={encoded}"), ADMIN).await;
    assert_eq!(seqs(&to), vec![1, 2]);
    let none = h
        .get(
            "/api/v1/audit?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z",
            ADMIN,
        )
        .await;
    assert_eq!(seqs(&none), Vec::<u64>::new());

    // CSV: the same filters, a header, one row an entry.
    let response = h
        .app()
        .oneshot(request(
            Method::GET,
            "/api/v1/audit.csv?entity=edges&limit=5",
            Some(ADMIN),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    assert_eq!(response.headers()["x-audit-next"], "5");
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        central::api::audit::CSV_COLUMNS
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    for (row, entry) in rows.iter().zip(&all) {
        assert_eq!(row[0], entry["seq"].to_string());
        assert_eq!(&row[7], "edges");
        assert_eq!(Some(&row[12]), entry["hash"].as_str());
        let after: Value = serde_json::from_str(&row[10]).unwrap();
        assert_eq!(after, entry["after"]);
    }
    let whole = h.get("/api/v1/audit.csv", ADMIN).await;
    assert_eq!(whole.status, StatusCode::OK);
    let text = whole.json.as_str().unwrap();
    assert_eq!(text.lines().count(), 7, "{text}");

    // Bad parameters: 400 in the one error shape; no token: 401.
    for bad in [
        "limit=0",
        "from=yesterday",
        "to=2026-13-01T00:00:00Z",
        "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        "actor_kind=robot",
        "order=sideways",
        "after=-1",
        "after=18446744073709551615",
        "entity=%E2%80%AE",
        "colour=red",
    ] {
        for route in ["/api/v1/audit", "/api/v1/audit.csv"] {
            h.get(&format!("{route}?{bad}"), ADMIN)
                .await
                .assert_error(StatusCode::BAD_REQUEST, "bad_request");
        }
    }
    h.get("/api/v1/audit?limit=1001", ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    h.get("/api/v1/audit.csv?limit=100001", ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    for route in ["/api/v1/audit", "/api/v1/audit.csv"] {
        h.call(Method::GET, route, None, None)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // Reading the trail is not a change.
    assert_eq!(entries(&h).await.len(), 6);
    let store_page = h
        .store()
        .audit(AuditQuery {
            entity_id: Some("e5".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store_page.len(), 1);
    assert_eq!(store_page[0].actor_kind, ActorKind::AdminToken);
}

/// Drops the guard that keeps `audit_log` append-only, as someone with the database could.
fn drop_guards(h: &Harness) {
    if super::on_postgres() {
        h.sql("DROP TRIGGER audit_log_no_change ON audit_log", vec![]);
    } else {
        h.sql("DROP TRIGGER audit_log_no_update", vec![]);
        h.sql("DROP TRIGGER audit_log_no_delete", vec![]);
    }
}

#[tokio::test]
async fn issue_13_the_log_refuses_updates_and_deletes() {
    let h = Harness::new().await;
    h.create_edge("e1").await;
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET hash = 'x' WHERE seq = 1",
    ] {
        let error = h.try_sql(sql, vec![]).unwrap_err();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    assert_eq!(entries(&h).await.len(), 1);
}

#[tokio::test]
async fn issue_13_tampering_with_the_file_is_named_by_verify() {
    let mut h = Harness::new().await;
    for edge in ["e1", "e2", "e3", "e4"] {
        h.create_edge(edge).await;
    }
    assert!(h.store().verify_audit().await.unwrap().holds());
    // Someone with the file drops the guard and edits an entry's after.
    drop_guards(&h);
    h.sql(
        "UPDATE audit_log SET \"after\" = replace(\"after\", '\"e3\"', '\"e9\"') WHERE seq = 3",
        vec![],
    );
    let verdict = h.store().verify_audit().await.unwrap();
    let broken = verdict.broken.expect("the edit is found");
    assert_eq!(broken.seq, 3, "{}", broken.reason);
    assert!(broken.reason.contains("changed"), "{}", broken.reason);
    // The same from the database alone, as `mes audit verify` reads it.
    let from_file = match &h.pg {
        Some(db) => {
            let url = db.url.clone();
            std::thread::spawn(move || central::store::sql::audit::verify_url(&url))
                .join()
                .unwrap()
        }
        None => central::store::sql::audit::verify_file(
            &h.dir.path().join(central::store::sql::DB_FILE),
        ),
    }
    .unwrap();
    assert_eq!(from_file.broken.map(|b| b.seq), Some(3));
    // Putting it back makes the chain hold again.
    h.sql(
        "UPDATE audit_log SET \"after\" = replace(\"after\", '\"e9\"', '\"e3\"') WHERE seq = 3",
        vec![],
    );
    assert!(h.store().verify_audit().await.unwrap().holds());
    // A deleted entry.
    h.sql("DELETE FROM audit_log WHERE seq = 2", vec![]);
    let broken = h.store().verify_audit().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 3, "{}", broken.reason);
    assert!(broken.reason.contains("missing"), "{}", broken.reason);
    // This test broke its chain on purpose.
    h.audit_check.armed = false;
}
