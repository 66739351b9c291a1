//! `mes central backup` and `restore` on both engines (issue 14): a restored store holds
//! what the backup held, table by table, and hands out its plans in a new epoch.

use super::{ADMIN, Harness, scratch_database, test_store};
use axum::http::StatusCode;
use central::store::sql::backup::{self, Fingerprint};
use central::store::sql::db::Conn;
use serde_json::json;

/// The fingerprint of the harness's store (or of another data dir / database).
fn fingerprint_of(dir: &std::path::Path, url: Option<&str>) -> Fingerprint {
    let dir = dir.to_owned();
    let url = url.map(str::to_owned);
    std::thread::spawn(move || match url {
        Some(url) => {
            let pool = central::store::sql::pg::Pool::new(&url, 1).unwrap();
            backup::fingerprint(&pool.get().unwrap()).unwrap()
        }
        None => {
            let raw = rusqlite::Connection::open(dir.join(central::store::sql::DB_FILE)).unwrap();
            backup::fingerprint(&Conn::sqlite(raw)).unwrap()
        }
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn a_restored_store_holds_what_the_backup_held_and_starts_a_new_plan_epoch() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    h.send_events(&token, "line-1", 1..=25).await;
    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            ADMIN,
            json!({"work_orders": []}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let first = h.get("/api/v1/sync/plan?have=0&wait_ms=0", &token).await;
    let old_epoch = first.json["epoch"]
        .as_str()
        .expect("plans carry the epoch")
        .to_owned();

    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("central.backup");
    let url = h.pg.as_ref().map(|db| db.url.clone());
    let (dir, f) = (h.dir.path().to_owned(), file.clone());
    let url2 = url.clone();
    let made = tokio::task::spawn_blocking(move || match url2 {
        Some(url) => backup::backup_postgres(&url, &f),
        None => backup::backup_sqlite(&dir, &f),
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(made.events, 25);
    assert!(made.bytes > 0);
    // A backup never overwrites a file.
    let (dir, f, url2) = (h.dir.path().to_owned(), file.clone(), url.clone());
    let again = tokio::task::spawn_blocking(move || match url2 {
        Some(url) => backup::backup_postgres(&url, &f),
        None => backup::backup_sqlite(&dir, &f),
    })
    .await
    .unwrap();
    assert!(again.is_err());

    // Restored into a new data directory (or database) ...
    let target_dir = tempfile::tempdir().unwrap();
    let target_db = scratch_database().await;
    let (td, f, turl) = (
        target_dir.path().to_owned(),
        file.clone(),
        target_db.as_ref().map(|db| db.url.clone()),
    );
    let restored = tokio::task::spawn_blocking(move || match turl {
        Some(url) => backup::restore_postgres(&f, &url, false),
        None => backup::restore_sqlite(&f, &td, false),
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(restored.events, 25);
    // ... it holds every table's rows as the source does; only the epoch is new.
    let mut source = fingerprint_of(h.dir.path(), url.as_deref());
    let mut target = fingerprint_of(
        target_dir.path(),
        target_db.as_ref().map(|db| db.url.as_str()),
    );
    let source_meta = source.remove("store_meta");
    let target_meta = target.remove("store_meta");
    assert_eq!(source, target);
    assert_ne!(
        source_meta, target_meta,
        "a restore starts a new plan epoch"
    );
    assert!(source.len() > 30, "{source:?}");

    // The restored central hands out its plan in the new epoch, at once to an edge of the
    // old one even when that edge says it has this version.
    let store = test_store(&target_dir, &target_db).await;
    assert!(store.verify_audit().await.unwrap().holds());
    let state = central::AppState::new(store, super::admin_token(), &h.config);
    let restored = Harness::from_parts(target_dir, target_db, h.config.clone(), state);
    let reply = restored
        .get(
            &format!("/api/v1/sync/plan?have=1&wait_ms=0&epoch={old_epoch}"),
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["version"], 1);
    assert_ne!(reply.json["epoch"], json!(old_epoch));
    // An edge of the new epoch waits as before.
    let epoch = reply.json["epoch"].as_str().unwrap().to_owned();
    let reply = restored
        .get(
            &format!("/api/v1/sync/plan?have=1&wait_ms=0&epoch={epoch}"),
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    // The source still answers in its own epoch.
    let reply = h
        .get(
            &format!("/api/v1/sync/plan?have=1&wait_ms=0&epoch={old_epoch}"),
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    // A store with events is not replaced unless forced.
    let (td, f, turl) = (
        restored.dir.path().to_owned(),
        file.clone(),
        restored.pg.as_ref().map(|db| db.url.clone()),
    );
    let refused = tokio::task::spawn_blocking(move || match turl {
        Some(url) => backup::restore_postgres(&f, &url, false),
        None => backup::restore_sqlite(&f, &td, false),
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(refused.to_string().contains("--force"), "{refused}");
}
