//! What runs on a station is one fact, shown the same on the terminal, the edge's status and
//! at central: central keeps the stations of each edge's last status and shows them in the
//! edge's view and in each work order's view. Issue 12.

use crate::work_orders::{act, create, ok, plant};
use crate::*;
use chrono::Timelike;

fn status(stations: Value) -> Value {
    json!({
        "protocol": PROTOCOL_VERSION, "edge_id": "line-1", "agent_version": "0.1.0",
        "clock": Utc::now(), "last_seq": 0, "acked_seq": 0, "backlog": 0, "plan_version": 1,
        "stations": stations
    })
}

fn time(v: &Value) -> chrono::DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

async fn order_stations(h: &Harness, id: &str) -> Value {
    let reply = h.get(&format!("/api/v1/work-orders/{id}"), ADMIN).await;
    ok(&reply);
    reply.json["stations"].clone()
}

#[tokio::test]
async fn issue_12_a_status_shows_in_the_edge_view_and_the_work_order_view_and_the_next_replaces_it()
{
    let h = Harness::new().await;
    let token = plant(&h).await;
    create(&h, "WO-1", "100").await;
    ok(&act(&h, "WO-1", "release").await);

    // Before any status: nothing shown as running, and the edge's stations are not known yet.
    assert_eq!(order_stations(&h, "WO-1").await, json!([]));
    let edges = h.get("/api/v1/edges", ADMIN).await;
    assert!(
        edges.json["edges"][0].get("stations").is_none(),
        "{}",
        edges.json
    );
    h.get("/api/v1/edges/line-1/stations", ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    let first = json!([
        {"station": "st-10", "work_order": "WO-1", "operation": 10, "by": "scan", "good": 12, "scrap": 1,
         "over_production": false, "counting": true, "unassigned_good": 0, "unassigned_scrap": 0},
        {"station": "st-20", "good": 0, "scrap": 0, "counting": true, "unassigned_good": 40, "unassigned_scrap": 2}
    ]);
    let before = Utc::now();
    let reply = h
        .post("/api/v1/sync/status", &token, status(first.clone()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let after = Utc::now();

    // The edge's view: what the status said, station by station, with when it came in.
    let edges = h.get("/api/v1/edges", ADMIN).await;
    let shown = &edges.json["edges"][0]["stations"];
    let reported_at = time(&shown["reported_at"]);
    assert!(
        before <= reported_at && reported_at <= after,
        "{reported_at}"
    );
    assert_eq!(shown["stations"][0]["station"], "st-10");
    assert_eq!(shown["stations"][0]["work_order"], "WO-1");
    assert_eq!(shown["stations"][0]["operation"], 10);
    assert_eq!(shown["stations"][0]["by"], "scan");
    assert_eq!(shown["stations"][0]["good"], 12);
    assert_eq!(shown["stations"][0]["scrap"], 1);
    assert_eq!(shown["stations"][1]["station"], "st-20");
    assert!(shown["stations"][1].get("work_order").is_none(), "{shown}");
    assert_eq!(shown["stations"][1]["unassigned_good"], 40);
    assert_eq!(shown["stations"][1]["unassigned_scrap"], 2);
    let one = h.get("/api/v1/edges/line-1/stations", ADMIN).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.json);
    assert_eq!(&one.json, shown);
    // What central shows is what the edge sent, field for field.
    let sent: Vec<protocol::StationRun> = serde_json::from_value(first).unwrap();
    let kept: Vec<protocol::StationRun> =
        serde_json::from_value(shown["stations"].clone()).unwrap();
    assert_eq!(kept, sent);

    // The work order's view: the station that runs it, with the status's time.
    let running = order_stations(&h, "WO-1").await;
    assert_eq!(running.as_array().unwrap().len(), 1, "{running}");
    assert_eq!(running[0]["edge_id"], "line-1");
    assert_eq!(running[0]["station"], "st-10");
    assert_eq!(running[0]["operation"], 10);
    assert_eq!(running[0]["by"], "scan");
    assert_eq!(running[0]["good"], 12);
    assert_eq!(time(&running[0]["reported_at"]), reported_at);

    // A second status replaces the first: st-10 idle, st-20 runs the order's operation 20.
    let second = json!([
        {"station": "st-10", "good": 0, "scrap": 0, "counting": true, "unassigned_good": 3, "unassigned_scrap": 0},
        {"station": "st-20", "work_order": "WO-1", "operation": 20, "by": "plan", "good": 5, "scrap": 0,
         "over_production": true, "counting": true, "unassigned_good": 40, "unassigned_scrap": 2}
    ]);
    let reply = h.post("/api/v1/sync/status", &token, status(second)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let running = order_stations(&h, "WO-1").await;
    assert_eq!(running.as_array().unwrap().len(), 1, "{running}");
    assert_eq!(running[0]["station"], "st-20");
    assert_eq!(running[0]["operation"], 20);
    assert_eq!(running[0]["by"], "plan");
    assert_eq!(running[0]["over_production"], true);
    assert!(time(&running[0]["reported_at"]) >= reported_at);
    let one = h.get("/api/v1/edges/line-1/stations", ADMIN).await;
    assert_eq!(one.json["stations"].as_array().unwrap().len(), 2);
    assert!(one.json["stations"][0].get("work_order").is_none());
    assert_eq!(one.json["stations"][0]["unassigned_good"], 3);

    // A status with no stations: nothing runs there any more, as far as central knows.
    let reply = h
        .post("/api/v1/sync/status", &token, status(json!([])))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(order_stations(&h, "WO-1").await, json!([]));
    let one = h.get("/api/v1/edges/line-1/stations", ADMIN).await;
    assert_eq!(one.json["stations"], json!([]));
}

#[tokio::test]
async fn issue_12_a_status_out_of_bounds_is_refused_and_changes_nothing() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let station = |id: String| json!({"station": id, "good": 1, "scrap": 0, "counting": true, "unassigned_good": 0, "unassigned_scrap": 0});
    let kept = json!([station("st-10".into())]);
    let reply = h
        .post("/api/v1/sync/status", &token, status(kept.clone()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);

    let too_many: Vec<Value> = (0..=protocol::bounds::MAX_STATIONS)
        .map(|i| station(format!("st-{i}")))
        .collect();
    let long_work_order = json!([{"station": "st-10", "work_order": "W".repeat(65), "good": 0, "scrap": 0,
        "counting": true, "unassigned_good": 0, "unassigned_scrap": 0}]);
    let huge_count = json!([{"station": "st-10", "good": u64::MAX, "scrap": 0,
        "counting": true, "unassigned_good": 0, "unassigned_scrap": 0}]);
    for (stations, names) in [
        (json!(too_many), "stations: 1025 reported; at most 1024"),
        (
            json!([station("st-1".into()), station("st-1".into())]),
            "stations[1].station",
        ),
        (json!([station("st\u{7}10".into())]), "stations[0].station"),
        (long_work_order, "stations[0].work_order"),
        (huge_count, "stations[0].good"),
    ] {
        let reply = h
            .post("/api/v1/sync/status", &token, status(stations))
            .await;
        let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(names), "{names}: {message}");
    }
    let one = h.get("/api/v1/edges/line-1/stations", ADMIN).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.json);
    assert_eq!(one.json["stations"], kept);
}

#[tokio::test]
async fn issue_12_the_stations_route_is_documented_and_an_unknown_edge_is_404() {
    let h = Harness::new().await;
    let doc = h.get("/api/v1/openapi.json", ADMIN).await.json;
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .contains_key("/api/v1/edges/{edge_id}/stations")
    );
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["EdgeSummary"]["properties"]["stations"].is_object());
    assert!(schemas["WorkOrder"]["properties"]["stations"].is_object());
    assert!(schemas["StationRun"]["properties"]["unassigned_good"].is_object());
    h.get("/api/v1/edges/nope/stations", ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

/// A data directory from before central kept stations (schema 5) opens, gets the new tables,
/// and keeps the next status's stations.
#[tokio::test]
async fn issue_12_a_schema_5_data_dir_gets_the_stations() {
    if !super::sqlite_only("an upgrade from SQLite schema 5") {
        return;
    }
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=3).await;
    {
        let conn = rusqlite::Connection::open(h.dir.path().join("central.db")).unwrap();
        conn.execute_batch(
            "DROP TABLE edge_stations; DROP TABLE edge_stations_reported; PRAGMA user_version = 5;",
        )
        .unwrap();
    }
    let h = h.reopen().await;
    let version: i64 = rusqlite::Connection::open(h.dir.path().join("central.db"))
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 11, "upgraded to the current schema");
    let stations = json!([{"station": "st-10", "good": 0, "scrap": 0, "counting": true,
        "unassigned_good": 7, "unassigned_scrap": 0}]);
    let reply = h
        .post("/api/v1/sync/status", &token, status(stations.clone()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let edges = h.get("/api/v1/edges", ADMIN).await;
    assert_eq!(edges.json["edges"][0]["acked_seq"], 3);
    assert_eq!(edges.json["edges"][0]["stations"]["stations"], stations);
}

/// A production report at `station` naming no work order.
fn unassigned_report(seq: u64, station: Option<&str>, good: u64, scrap: u64) -> protocol::Event {
    let mut e = event("line-1", seq);
    e.source.station = station.map(Into::into);
    e.kind = EventKind::ProductionReported {
        work_order: None,
        operation: None,
        good,
        scrap,
    };
    e
}

async fn send(h: &Harness, token: &str, events: Vec<protocol::Event>) {
    let reply = h
        .post(
            "/api/v1/sync/events",
            token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": events}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

fn rows(reply: &Reply) -> Vec<(Value, u64, u64, u64)> {
    reply.json["unassigned"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.json))
        .iter()
        .map(|r| {
            (
                r["station"].clone(),
                r["good"].as_u64().unwrap(),
                r["scrap"].as_u64().unwrap(),
                r["reports"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn issue_12_unassigned_counts_per_edge_and_station_are_listed_once_each() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.create_edge("line-2").await;
    let mut too_many = unassigned_report(5, Some("st-20"), 0, 0);
    too_many.kind = EventKind::ProductionReported {
        work_order: None,
        operation: None,
        good: protocol::bounds::MAX_COUNT + 1,
        scrap: 0,
    };
    let first = vec![
        unassigned_report(1, Some("st-20"), 3, 1),
        event("line-1", 2), // booked to WO-1001: not unassigned
        unassigned_report(3, Some("st-20"), 4, 0),
        unassigned_report(4, None, 2, 0),
        too_many, // quarantined: applied to nothing
    ];
    send(&h, &token, first.clone()).await;
    // The same batch again (a retry after a lost ack) counts nothing twice.
    send(&h, &token, first).await;
    send(&h, &token, vec![unassigned_report(6, Some("st-30"), 1, 0)]).await;

    let reply = h.get("/api/v1/unassigned?edge=line-1", ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        rows(&reply),
        vec![
            (Value::Null, 2, 0, 1),
            (json!("st-20"), 7, 1, 2),
            (json!("st-30"), 1, 0, 1)
        ]
    );
    assert_eq!(reply.json["unassigned"][1]["edge_id"], "line-1");
    assert!(reply.json["unassigned"][1]["last_at"].is_string());
    assert_eq!(
        rows(&h.get("/api/v1/unassigned?limit=1", ADMIN).await).len(),
        1
    );
    assert_eq!(
        rows(&h.get("/api/v1/unassigned?edge=line-2", ADMIN).await),
        vec![]
    );
    h.get("/api/v1/unassigned?edge=nope", ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

/// A schema-5 data dir's unassigned counts are summed from the events it holds.
#[tokio::test]
async fn issue_12_a_schema_5_data_dir_gets_its_unassigned_counts_from_its_events() {
    if !super::sqlite_only("an upgrade from SQLite schema 5") {
        return;
    }
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    send(
        &h,
        &token,
        vec![
            unassigned_report(1, Some("st-20"), 3, 1),
            event("line-1", 2),
            unassigned_report(3, Some("st-20"), 4, 0),
        ],
    )
    .await;
    {
        let conn = rusqlite::Connection::open(h.dir.path().join("central.db")).unwrap();
        conn.execute_batch("DROP TABLE unassigned_counts; PRAGMA user_version = 5;")
            .unwrap();
    }
    let h = h.reopen().await;
    let reply = h.get("/api/v1/unassigned", ADMIN).await;
    assert_eq!(rows(&reply), vec![(json!("st-20"), 7, 1, 2)]);
    // And ingest adds to them from there.
    send(&h, &token, vec![unassigned_report(4, Some("st-20"), 1, 0)]).await;
    let reply = h.get("/api/v1/unassigned", ADMIN).await;
    assert_eq!(rows(&reply), vec![(json!("st-20"), 8, 1, 3)]);
}

/// A status of `line-1` with `backlog` unsent events, the oldest committed at `oldest` on the
/// edge's clock, which reads `clock`.
fn backlog_status(
    clock: chrono::DateTime<Utc>,
    backlog: u64,
    oldest: Option<chrono::DateTime<Utc>>,
) -> Value {
    let mut status = json!({
        "protocol": PROTOCOL_VERSION, "edge_id": "line-1", "agent_version": "0.1.0",
        "clock": clock, "last_seq": 10 + backlog, "acked_seq": 10, "backlog": backlog,
        "plan_version": 0
    });
    if let Some(oldest) = oldest {
        status["oldest_unsent_at"] = json!(oldest);
    }
    status
}

async fn fleet_row(h: &Harness) -> Value {
    let edges = h.get("/api/v1/edges", ADMIN).await;
    assert_eq!(edges.status, StatusCode::OK, "{}", edges.json);
    edges.json["edges"][0].clone()
}

#[tokio::test]
async fn issue_15_the_fleet_shows_when_the_oldest_unsent_event_was_committed_and_how_long_ago() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    // No status yet: nothing known.
    let row = fleet_row(&h).await;
    assert!(row["oldest_unsent_at"].is_null(), "{row}");
    assert!(row["oldest_unsent_age_s"].is_null(), "{row}");

    // Three events unsent, the oldest committed 20 minutes ago by a clock that is right.
    let before = Utc::now();
    let sent = h
        .post(
            "/api/v1/sync/status",
            &token,
            backlog_status(
                Utc::now(),
                3,
                Some(Utc::now() - chrono::TimeDelta::minutes(20)),
            ),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.json);
    let after = Utc::now();
    let row = fleet_row(&h).await;
    let oldest = time(&row["oldest_unsent_at"]);
    let twenty = chrono::TimeDelta::minutes(20);
    assert!(
        before - twenty - chrono::TimeDelta::seconds(1) <= oldest && oldest <= after - twenty,
        "{oldest}"
    );
    let age = row["oldest_unsent_age_s"].as_i64().unwrap();
    assert!((20 * 60 - 1..=20 * 60 + 60).contains(&age), "{age}");
    assert_eq!(row["reported_backlog"], 3);

    // The CSV says the same, and that it is older than a plant lets it be.
    let csv = h.get("/api/v1/edges.csv", ADMIN).await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = csv.json.as_str().expect("csv text");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "edge_id,agent_version,last_contact,backlog,oldest_unsent_at,oldest_unsent_age_s,clock_skew_ms,acked_seq,plan_version_published,plan_version_applied,quarantined,revoked,stale_backlog"
        )
    );
    let cells: Vec<&str> = lines.next().expect("a row for line-1").split(',').collect();
    assert_eq!(cells[0], "line-1");
    assert_eq!(cells[3], "3");
    assert_eq!(
        cells[4].parse::<chrono::DateTime<Utc>>().unwrap(),
        oldest.with_nanosecond(0).unwrap()
    );
    assert!(cells[5].parse::<i64>().unwrap() >= 20 * 60 - 1, "{text}");
    assert_eq!(cells[12], "true", "{text}");

    // The page shows the time and the age, marked overdue.
    let page = h.get("/floor/edges?lang=en", ADMIN).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.json.as_str().expect("the page");
    assert!(html.contains("unsent overdue"), "{html}");
    assert!(html.contains("min ago"), "{html}");

    // An edge whose clock runs an hour ahead: the age it measured on its own clock counts,
    // not the skew.
    let ahead = Utc::now() + chrono::TimeDelta::hours(1);
    let sent = h
        .post(
            "/api/v1/sync/status",
            &token,
            backlog_status(ahead, 1, Some(ahead - chrono::TimeDelta::minutes(5))),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.json);
    let row = fleet_row(&h).await;
    let age = row["oldest_unsent_age_s"].as_i64().unwrap();
    assert!((5 * 60 - 1..=5 * 60 + 60).contains(&age), "{age}");
    assert!(row["clock_skew_ms"].as_i64().unwrap() > 3_500_000, "{row}");
    let page = h.get("/floor/edges?lang=zh", ADMIN).await;
    let html = page.json.as_str().unwrap();
    assert!(html.contains("分钟前"), "{html}");
    assert!(
        !html.contains("unsent overdue"),
        "five minutes is not overdue: {html}"
    );

    // Bounds where it enters: before 2000, or more than a day after the status's clock, is
    // refused with the field named, and the last good value stays.
    let now = Utc::now();
    for (oldest, says) in [
        (
            Utc.with_ymd_and_hms(1999, 12, 31, 23, 0, 0).unwrap(),
            "1999-12-31",
        ),
        (now + chrono::TimeDelta::days(2), "expected a time between"),
    ] {
        let refused = h
            .post(
                "/api/v1/sync/status",
                &token,
                backlog_status(now, 1, Some(oldest)),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.json);
        let message = refused.json["error"]["message"].as_str().unwrap();
        assert!(message.contains("oldest_unsent_at"), "{message}");
        assert!(message.contains(says), "{message}");
    }
    assert_eq!(fleet_row(&h).await["reported_backlog"], 1);
    assert!(!fleet_row(&h).await["oldest_unsent_at"].is_null());

    // A clock stepped back a little: the event counts as just committed.
    let sent = h
        .post(
            "/api/v1/sync/status",
            &token,
            backlog_status(now, 1, Some(now + chrono::TimeDelta::minutes(3))),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.json);
    assert!(fleet_row(&h).await["oldest_unsent_age_s"].as_i64().unwrap() < 60);

    // Everything sent, or an older agent that does not say: nothing shown.
    let sent = h
        .post(
            "/api/v1/sync/status",
            &token,
            backlog_status(Utc::now(), 0, None),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.json);
    let row = fleet_row(&h).await;
    assert!(row["oldest_unsent_at"].is_null(), "{row}");
    let page = h.get("/floor/edges?lang=en", ADMIN).await;
    assert!(page.json.as_str().unwrap().contains(">none<"));
}
