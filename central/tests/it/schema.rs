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
async fn a_schema_7_store_upgrades_to_8_with_nothing_lost() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=12).await;
    let before = h.sql("SELECT COUNT(*) FROM events", vec![]);
    make_schema_7(&h);
    assert_eq!(version(&h), 7);
    let h = h.reopen().await;
    assert_eq!(version(&h), 8);
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
