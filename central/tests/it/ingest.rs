//! The delivery contract through `POST /api/v1/sync/events`.

use crate::*;

#[tokio::test]
async fn in_order_batches_are_acked() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;

    let reply = h.send_events(&token, "line-1", 1..=10).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json, json!({"acked_through": 10}));

    let reply = h.send_events(&token, "line-1", 11..=25).await;
    assert_eq!(reply.json, json!({"acked_through": 25}));
    assert_eq!(h.acked("line-1").await, Seq(25));
    assert_eq!(h.count("line-1").await, 25);

    // What central stores is exactly what the edge sent.
    let stored = h
        .store()
        .events(&"line-1".into(), Seq(1), None, 100)
        .await
        .unwrap();
    assert_eq!(stored.events, events("line-1", 1..=25));
    assert!(stored.quarantined.is_empty());
    let ids = h
        .store()
        .event_ids(&"line-1".into(), Seq(20), 3)
        .await
        .unwrap();
    assert_eq!(
        ids,
        (20..=22)
            .map(|s| (Seq(s), event("line-1", s).id))
            .collect::<Vec<_>>()
    );
}

fn empty_batch() -> Value {
    json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": []})
}

#[tokio::test]
async fn empty_batch_answers_with_what_is_acked() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let reply = h.post("/api/v1/sync/events", &token, empty_batch()).await;
    assert_eq!(reply.json, json!({"acked_through": 0}));
    h.send_events(&token, "line-1", 1..=3).await;
    let reply = h.post("/api/v1/sync/events", &token, empty_batch()).await;
    assert_eq!(reply.json, json!({"acked_through": 3}));
}

#[tokio::test]
async fn replayed_batch_is_acked_and_stored_once() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=10).await;

    let reply = h.send_events(&token, "line-1", 1..=10).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, json!({"acked_through": 10}));
    assert_eq!(h.count("line-1").await, 10);

    // A stale replay of an older part does not move the ack back.
    let reply = h.send_events(&token, "line-1", 3..=5).await;
    assert_eq!(reply.json, json!({"acked_through": 10}));
    assert_eq!(h.count("line-1").await, 10);

    let duplicates = h.state.metrics().events_duplicate.get();
    assert_eq!(duplicates, 13);
    let ingested = h.state.metrics().events_ingested.get();
    assert_eq!(ingested, 10);
}

/// Issue 14: a seq central holds, sent again with another event (a journal restored from an
/// old copy, or made again, that numbers new facts from 1), was skipped as a duplicate and
/// the new fact was lost without a word. Now the batch is refused whole, loudly.
#[tokio::test]
async fn a_stored_seq_sent_with_another_event_is_a_conflict_and_nothing_is_stored() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=10).await;
    let mut other: Vec<Event> = events("line-1", 8..=12);
    // Seq 9 is another fact: another id, another count.
    other[1].id = protocol::EventId(uuid::Uuid::now_v7());
    other[1].kind = EventKind::ProductionReported {
        work_order: Some("WO-1001".into()),
        operation: Some(10),
        good: 999,
        scrap: 0,
    };
    let body = json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": other});
    let reply = h.post("/api/v1/sync/events", &token, body).await;
    let message = reply.assert_error(StatusCode::CONFLICT, "seq_conflict");
    assert!(message.contains("seq 9"), "{message}");
    assert!(message.contains(&other[1].id.0.to_string()), "{message}");
    // Nothing of the batch was stored: not 11 and 12 either.
    assert_eq!(h.acked("line-1").await, Seq(10));
    assert_eq!(h.count("line-1").await, 10);
    assert_eq!(h.state.metrics().seq_conflicts.get(), 1);
    // The same events again are still plain duplicates.
    let reply = h.send_events(&token, "line-1", 8..=12).await;
    assert_eq!(reply.json, json!({"acked_through": 12}));
}

#[tokio::test]
async fn store_reports_new_and_duplicate_counts() {
    let h = Harness::new().await;
    h.create_edge("line-1").await;
    let edge = EdgeId::from("line-1");
    let now = Utc::now();
    let outcome = h
        .store()
        .ingest(&edge, events("line-1", 1..=5), now)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        central::IngestOutcome::Acked {
            acked_through: Seq(5),
            n_new: 5,
            n_duplicate: 0
        }
    );
    let outcome = h
        .store()
        .ingest(&edge, events("line-1", 4..=8), now)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        central::IngestOutcome::Acked {
            acked_through: Seq(8),
            n_new: 3,
            n_duplicate: 2
        }
    );
    let outcome = h
        .store()
        .ingest(&edge, events("line-1", 10..=11), now)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        central::IngestOutcome::Gap {
            expected: Seq(9),
            acked_through: Seq(8)
        }
    );
}

#[tokio::test]
async fn overlapping_batch_stores_only_the_new_events() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=10).await;

    let reply = h.send_events(&token, "line-1", 6..=15).await;
    assert_eq!(reply.json, json!({"acked_through": 15}));
    assert_eq!(h.count("line-1").await, 15);
    let stored = h
        .store()
        .events(&"line-1".into(), Seq(1), None, 100)
        .await
        .unwrap();
    assert_eq!(stored.events, events("line-1", 1..=15));
    assert!(stored.quarantined.is_empty());
}

#[tokio::test]
async fn gap_is_refused_with_expected_seq_and_nothing_written() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=9).await;

    let reply = h.send_events(&token, "line-1", 12..=20).await;
    let message = reply.assert_error(StatusCode::CONFLICT, "seq_gap");
    assert_eq!(reply.json["error"]["expected_seq"], 10);
    assert!(message.contains("expected seq 10"), "{message}");
    assert_eq!(h.acked("line-1").await, Seq(9));
    assert_eq!(h.count("line-1").await, 9);
    assert_eq!(h.state.metrics().seq_gaps.get(), 1);

    // Resending from the expected seq works.
    let reply = h.send_events(&token, "line-1", 10..=20).await;
    assert_eq!(reply.json, json!({"acked_through": 20}));
}

#[tokio::test]
async fn first_batch_must_start_at_one() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let reply = h.send_events(&token, "line-1", 2..=3).await;
    reply.assert_error(StatusCode::CONFLICT, "seq_gap");
    assert_eq!(reply.json["error"]["expected_seq"], 1);
    assert_eq!(h.count("line-1").await, 0);
}

#[tokio::test]
async fn edges_are_independent() {
    let h = Harness::new().await;
    let t1 = h.create_edge("line-1").await;
    let t2 = h.create_edge("line-2").await;
    h.send_events(&t1, "line-1", 1..=5).await;
    let reply = h.send_events(&t2, "line-2", 1..=3).await;
    assert_eq!(reply.json, json!({"acked_through": 3}));
    assert_eq!(h.count("line-1").await, 5);
    assert_eq!(h.count("line-2").await, 3);
}

#[tokio::test]
async fn restart_keeps_acked_through_and_events() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=50).await;

    let h = h.reopen().await;
    assert_eq!(h.acked("line-1").await, Seq(50));
    assert_eq!(h.count("line-1").await, 50);
    // The token survives too, and a replay after the restart is still a duplicate.
    let reply = h.send_events(&token, "line-1", 41..=60).await;
    assert_eq!(reply.json, json!({"acked_through": 60}));
    assert_eq!(h.count("line-1").await, 60);
    let stored = h
        .store()
        .events(&"line-1".into(), Seq(1), None, 1000)
        .await
        .unwrap();
    assert_eq!(stored.events, events("line-1", 1..=60));
    assert!(stored.quarantined.is_empty());
}

#[tokio::test]
async fn concurrent_identical_batches_store_each_event_once() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = h.app();
        let req = request(
            Method::POST,
            "/api/v1/sync/events",
            Some(&token),
            Some(batch("line-1", 1..=200)),
        );
        tasks.push(tokio::spawn(async move {
            app.oneshot(req).await.unwrap().status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(h.acked("line-1").await, Seq(200));
    assert_eq!(h.count("line-1").await, 200);
}

#[tokio::test]
async fn status_records_skew_backlog_and_contact() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let clock = Utc::now() + chrono::Duration::seconds(60);
    let reply = h
        .post(
            "/api/v1/sync/status",
            &token,
            json!({
                "protocol": PROTOCOL_VERSION,
                "edge_id": "line-1",
                "agent_version": "0.1.0",
                "clock": clock,
                "last_seq": 120,
                "acked_seq": 100,
                "backlog": 20,
                "plan_version": 0
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let skew = reply.json["clock_skew_ms"].as_i64().unwrap();
    assert!((55_000..=60_000).contains(&skew), "{skew}");

    let edges = h.store().edges().await.unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].reported_backlog, Some(20));
    assert_eq!(edges[0].clock_skew_ms, Some(skew));
    assert_eq!(edges[0].agent_version.as_deref(), Some("0.1.0"));
    assert!(edges[0].last_contact.is_some());
}

#[tokio::test]
async fn metrics_count_sync_outcomes() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=4).await;
    h.send_events(&token, "line-1", 9..=9).await;
    h.send_events("wrong-token", "line-1", 5..=5).await;

    let response = h
        .app()
        .oneshot(request(Method::GET, "/metrics", None, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for line in [
        "mes_central_events_ingested_total 4",
        "mes_central_seq_gaps_total 1",
        r#"mes_central_sync_requests_total{route="events",outcome="ok"} 1"#,
        r#"mes_central_sync_requests_total{route="events",outcome="seq_gap"} 1"#,
        r#"mes_central_sync_requests_total{route="events",outcome="unauthorized"} 1"#,
        r#"mes_central_edge_acked_seq{edge_id="line-1"} 4"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn healthz_needs_no_auth() {
    let h = Harness::new().await;
    let reply = h.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, json!({"status": "ok"}));
}

/// Throughput of the store's ingest path. Run with
/// `cargo test -p central --release --test it -- --ignored --nocapture ingest_throughput`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "throughput figure; run in release with --ignored --nocapture"]
async fn ingest_throughput() {
    let h = Harness::new().await;
    h.create_edge("line-1").await;
    let edge = EdgeId::from("line-1");
    let batch_size = 10_000u64;
    let n_batches = 20u64;
    let batches: Vec<_> = (0..n_batches)
        .map(|b| events("line-1", b * batch_size + 1..=(b + 1) * batch_size))
        .collect();
    let started = std::time::Instant::now();
    for batch in batches {
        h.store().ingest(&edge, batch, Utc::now()).await.unwrap();
    }
    let elapsed = started.elapsed();
    let per_sec = (batch_size * n_batches) as f64 / elapsed.as_secs_f64();
    println!(
        "ingested {} events in {elapsed:?}: {per_sec:.0} events/s",
        batch_size * n_batches
    );
    assert_eq!(h.count("line-1").await, batch_size * n_batches);
}

/// Throughput through the HTTP stack (JSON parsing included). Run with
/// `cargo test -p central --release --test it -- --ignored --nocapture http_ingest_throughput`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "throughput figure; run in release with --ignored --nocapture"]
async fn http_ingest_throughput() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let batch_size = 10_000u64;
    let n_batches = 20u64;
    let bodies: Vec<String> = (0..n_batches)
        .map(|b| batch("line-1", b * batch_size + 1..=(b + 1) * batch_size).to_string())
        .collect();
    let started = std::time::Instant::now();
    for body in bodies {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/sync/events")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let reply = h.send(req).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let elapsed = started.elapsed();
    let per_sec = (batch_size * n_batches) as f64 / elapsed.as_secs_f64();
    println!(
        "http: {} events in {elapsed:?}: {per_sec:.0} events/s",
        batch_size * n_batches
    );
    assert_eq!(h.count("line-1").await, batch_size * n_batches);
}

/// Issue 12: the edge books counts from a station that no work order's routing names (or of
/// a complete order, where the plant stops counting) to no order. Central keeps them, as
/// sent, and counts them against no order (not even as an unmatched one).
#[tokio::test]
async fn production_booked_to_no_work_order_is_kept() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let mut unassigned = events("line-1", 1..=2);
    unassigned[1].source.station = Some("st-20".into());
    unassigned[1].kind = protocol::EventKind::ProductionReported {
        work_order: None,
        operation: None,
        good: 40,
        scrap: 1,
    };
    let reply = h
        .post(
            "/api/v1/sync/events",
            &token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": unassigned}),
        )
        .await;
    assert_eq!(reply.json, json!({"acked_through": 2}));
    let stored = h
        .store()
        .events(&"line-1".into(), Seq(1), None, 100)
        .await
        .unwrap();
    assert_eq!(stored.events, unassigned);
    assert!(stored.quarantined.is_empty());
    let listed = h.get("/api/v1/edges/line-1/events", ADMIN).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    assert!(
        listed.json.to_string().contains("\"good\":40"),
        "{}",
        listed.json
    );
    let unmatched = h.get("/api/v1/unmatched-work-orders", ADMIN).await.json;
    // Only the first event names an order (unknown here); the unassigned one names none.
    assert_eq!(
        unmatched["work_orders"].as_array().map(Vec::len),
        Some(1),
        "{unmatched}"
    );
    assert_eq!(unmatched["work_orders"][0]["work_order"], "WO-1001");
    assert_eq!(unmatched["work_orders"][0]["events"], 1);
}

/// An edge sends its next batch before the one before it is answered
/// (`central.batches_in_flight`): arriving while that one is still at work at this instance,
/// it waits for it instead of being refused as a gap.
#[tokio::test]
async fn a_batch_that_arrives_while_the_one_before_it_is_at_work_is_stored_after_it() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    // The batch of seqs 1..=100 has arrived at this instance and is not answered yet.
    let first_at_work = h.state.ingest_order().arrive(&EdgeId::from("line-1"), 1);
    let second = h.send_events(&token, "line-1", 101..=110);
    tokio::pin!(second);
    // The next one arrives and waits.
    while h.state.ingest_order().at_work() < 2 {
        tokio::select! {
            reply = &mut second => panic!("answered before the batch it follows: {} {}", reply.status, reply.json),
            () = tokio::task::yield_now() => {}
        }
    }
    // The first is stored meanwhile; the second still waits for its turn to be given up.
    let first = tokio::select! {
        reply = h.send_events(&token, "line-1", 1..=100) => reply,
        reply = &mut second => panic!("answered before the batch it follows: {} {}", reply.status, reply.json),
    };
    assert_eq!(first.json, json!({"acked_through": 100}));
    drop(first_at_work);
    let second = second.await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.json);
    assert_eq!(second.json, json!({"acked_through": 110}));
    assert_eq!(h.count("line-1").await, 110);
    assert_eq!(h.state.ingest_order().at_work(), 0);
}
