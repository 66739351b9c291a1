//! Versioned schemas on both engines (issue 14): an older store is upgraded at start with
//! nothing lost, and a store newer than the build is refused.

use super::{Harness, on_postgres};
use serde_json::json;

/// Puts the harness's store back to schema 7, the release before the plan epoch: no
/// `store_meta`, version 7.
fn make_schema_7(h: &Harness) {
    h.sql("DROP TABLE store_meta", vec![]);
    if on_postgres() {
        h.sql("DELETE FROM mes_schema", vec![]);
        h.sql(
            "INSERT INTO mes_schema (version, applied_at) VALUES (7, '2026-11-01T00:00:00.000000Z')",
            vec![],
        );
    } else {
        h.sql("PRAGMA user_version = 7", vec![]);
    }
}

fn version(h: &Harness) -> i64 {
    let rows = if on_postgres() {
        h.sql("SELECT MAX(version) FROM mes_schema", vec![])
    } else {
        h.sql("PRAGMA user_version", vec![])
    };
    rows[0][0].as_i64().unwrap()
}

#[tokio::test]
async fn a_schema_7_store_upgrades_to_the_current_schema_with_nothing_lost() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=12).await;
    let before = h.sql("SELECT COUNT(*) FROM events", vec![]);
    make_schema_7(&h);
    assert_eq!(version(&h), 7);
    let h = h.reopen().await;
    assert_eq!(version(&h), 11);
    assert_eq!(h.sql("SELECT COUNT(*) FROM events", vec![]), before);
    assert_eq!(h.acked("line-1").await, protocol::Seq(12));
    // The upgrade gave the store its epoch, which plans carry.
    let epoch = h.sql("SELECT epoch FROM store_meta", vec![]);
    assert_eq!(epoch.len(), 1);
    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            super::ADMIN,
            json!({"work_orders": []}),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.json);
    let plan = h.get("/api/v1/sync/plan?have=0&wait_ms=0", &token).await;
    assert_eq!(plan.json["epoch"], epoch[0][0]);
}

/// Schema 9 (issue 15) adds the floor's projections: a store of schema 8, with events but none
/// of the new tables, gets them rebuilt from its events on the upgrade, equal to what ingest
/// would have kept.
#[tokio::test]
async fn a_schema_8_store_gets_the_floors_projections_from_its_events() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    let mut events = super::events("line-1", 1..=6);
    for (i, e) in events.iter_mut().enumerate() {
        e.source.station = Some("st-10".into());
        if i % 3 == 0 {
            e.kind = protocol::EventKind::MachineStateChanged {
                state: if i == 3 {
                    protocol::MachineState::Down
                } else {
                    protocol::MachineState::Running
                },
                reason: (i == 3).then(|| "JAM".to_owned()),
            };
        }
        e.at += chrono::Duration::minutes(i as i64);
    }
    let reply = h
        .post(
            "/api/v1/sync/events",
            &token,
            json!({"protocol": protocol::PROTOCOL_VERSION, "edge_id": "line-1", "events": events}),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.json);
    let kept = h.store().floor_fingerprint().await.unwrap();
    // The station's state, one span, four minutes and their one hour.
    assert_eq!(kept.len(), 1 + 1 + 4 + 1, "{kept:?}");
    for table in [
        "floor_state",
        "floor_spans",
        "floor_counts",
        "floor_counts_hour",
        "plant_shifts",
        "stop_reasons",
    ] {
        h.sql(&format!("DROP TABLE {table}"), vec![]);
    }
    if on_postgres() {
        h.sql("DELETE FROM mes_schema", vec![]);
        h.sql(
            "INSERT INTO mes_schema (version, applied_at) VALUES (8, '2026-12-01T00:00:00.000000Z')",
            vec![],
        );
    } else {
        h.sql("PRAGMA user_version = 8", vec![]);
    }
    let h = h.reopen().await;
    assert_eq!(version(&h), 11);
    assert_eq!(h.store().floor_fingerprint().await.unwrap(), kept);
}

/// Schema 10 (issue 15) adds SPC: a store of schema 9 gets the new tables, empty (no
/// characteristic existed, so no stored measurement is charted), and SPC works on it.
#[tokio::test]
async fn a_schema_9_store_gets_spc() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=3).await;
    for table in ["spc_alarms", "spc_points", "spc_characteristics"] {
        h.sql(&format!("DROP TABLE {table}"), vec![]);
    }
    if on_postgres() {
        h.sql("DELETE FROM mes_schema", vec![]);
        h.sql(
            "INSERT INTO mes_schema (version, applied_at) VALUES (9, '2026-12-05T00:00:00.000000Z')",
            vec![],
        );
    } else {
        h.sql("PRAGMA user_version = 9", vec![]);
    }
    let h = h.reopen().await;
    assert_eq!(version(&h), 11);
    assert_eq!(h.acked("line-1").await, protocol::Seq(3));
    let reply = h.get("/api/v1/spc/characteristics", super::ADMIN).await;
    assert!(reply.status.is_success(), "{}", reply.json);
    assert_eq!(reply.json["characteristics"], json!([]));
    // A characteristic names an item of the master data.
    let reply = h
        .call(
            axum::http::Method::PUT,
            "/api/v1/items/FRAME",
            Some(super::ADMIN),
            Some(json!({"description": "Frame", "kind": "make", "uom": "ea"})),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.json);
    let reply = h
        .call(
            axum::http::Method::PUT,
            "/api/v1/spc/characteristics",
            Some(super::ADMIN),
            Some(
                json!({"characteristics": [{"item": "FRAME", "name": "bore", "subgroup_size": 1}]}),
            ),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.json);
    assert_eq!(reply.json["characteristics"][0]["baseline"], 25);
}

#[tokio::test]
async fn a_store_newer_than_the_build_is_refused_with_its_version() {
    let h = Harness::new().await;
    if on_postgres() {
        h.sql(
            "INSERT INTO mes_schema (version, applied_at) VALUES (99, '2030-01-01T00:00:00.000000Z')",
            vec![],
        );
    } else {
        h.sql("PRAGMA user_version = 99", vec![]);
    }
    let opened = match &h.pg {
        Some(db) => central::open_postgres_store(&db.url).await.map(drop),
        None => central::open_sqlite_store(h.dir.path()).await.map(drop),
    };
    let error = opened.expect_err("a newer schema is refused").to_string();
    assert!(error.contains("schema version 99"), "{error}");
    assert!(error.contains("upgrade central"), "{error}");
}
