//! Several central instances on one PostgreSQL database (issue 14): what one instance does,
//! the others see, and ingest stays exactly-once whichever instance an edge's retry reaches.
//! These need a shared store, so they run on the PostgreSQL pass of the suite.

use super::{ADMIN, Harness, admin_token, batch, on_postgres, request, test_store};
use axum::http::{Method, StatusCode};
use central::{AppState, app};
use protocol::Seq;
use serde_json::json;
use std::time::Duration;
use tower::ServiceExt;

/// A second central instance on the harness's database.
pub(crate) async fn second_instance(h: &Harness) -> AppState {
    let store = test_store(&h.dir, &h.pg).await;
    AppState::new(store, admin_token(), &h.config)
}

#[tokio::test]
async fn a_retry_that_reaches_another_instance_mid_batch_stores_each_event_once() {
    if !on_postgres() {
        println!("on PostgreSQL's pass only: instances share a database");
        return;
    }
    let h = Harness::new().await;
    let other = second_instance(&h).await;
    let token = h.create_edge("line-1").await;
    // The same batches, overlapping, at both instances at once: as an edge whose request
    // timed out at one instance retries at the other while the first still applies it.
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let app = if i % 2 == 0 {
            h.app()
        } else {
            app(other.clone())
        };
        let req = request(
            Method::POST,
            "/api/v1/sync/events",
            Some(&token),
            Some(batch("line-1", 1 + 50 * (i / 2)..=200 + 50 * (i / 2))),
        );
        tasks.push(tokio::spawn(async move {
            app.oneshot(req).await.unwrap().status()
        }));
    }
    for task in tasks {
        let status = task.await.unwrap();
        // A batch that starts past what is stored yet is refused as a gap, and retried.
        assert!(
            status == StatusCode::OK || status == StatusCode::CONFLICT,
            "{status}"
        );
    }
    // Whatever order they ran in, the first batch (1..=200) went in, and each later one
    // either followed or was refused whole: events are contiguous from 1, stored once.
    let acked = h.acked("line-1").await;
    assert!(acked >= Seq(200), "{acked:?}");
    assert_eq!(h.count("line-1").await, acked.0);
    let rows = h.sql(
        "SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM events WHERE edge_id = 'line-1'",
        vec![],
    );
    assert_eq!(
        rows[0],
        vec![json!(acked.0), json!(acked.0), json!(1), json!(acked.0)]
    );
}

#[tokio::test]
async fn a_plan_published_at_one_instance_wakes_a_poll_waiting_at_another() {
    if !on_postgres() {
        println!("on PostgreSQL's pass only: instances share a database");
        return;
    }
    let h = Harness::new().await;
    let other = second_instance(&h).await;
    let token = h.create_edge("line-1").await;
    let waiting = {
        let app = app(other.clone());
        let req = request(
            Method::GET,
            "/api/v1/sync/plan?have=0&wait_ms=20000",
            Some(&token),
            None,
        );
        tokio::spawn(async move { app.oneshot(req).await.unwrap() })
    };
    // The poll read the store and waits at the other instance before the plan is published
    // here: only a notification can wake it before its 20 s are over.
    let mut waiting_now = false;
    for _ in 0..400 {
        if other.plan_polls_waiting() > 0 {
            waiting_now = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(waiting_now, "the poll never waited");
    let published = std::time::Instant::now();
    let reply = h
        .post(
            "/api/v1/edges/line-1/plans",
            ADMIN,
            json!({"work_orders": []}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let response = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the other instance's poll was not woken")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Woken by the notification, not by the poll's own 20 s timeout.
    assert!(published.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_user_disabled_at_one_instance_is_signed_out_at_the_other() {
    if !on_postgres() {
        println!("on PostgreSQL's pass only: instances share a database");
        return;
    }
    let h = Harness::new().await;
    let other = second_instance(&h).await;
    let password = "a long enough passphrase 7";
    let put = request(
        Method::PUT,
        "/api/v1/users/li.wei",
        Some(ADMIN),
        Some(
            json!({"display_name": "Li Wei", "roles": ["viewer"], "plants": ["default"],
                    "password": password, "language": "en"}),
        ),
    );
    let made = h.send(put).await;
    assert!(made.status.is_success(), "{}", made.json);
    let signed_in = h
        .app()
        .oneshot(request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({"login": "li.wei", "password": password})),
        ))
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK);
    let cookie = signed_in.headers()[axum::http::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me = || {
        let mut req = request(Method::GET, "/api/v1/me", None, None);
        req.headers_mut()
            .insert(axum::http::header::COOKIE, cookie.parse().unwrap());
        req
    };
    // The other instance knows the session (and keeps it in its cache now).
    assert_eq!(
        app(other.clone()).oneshot(me()).await.unwrap().status(),
        StatusCode::OK
    );
    let disabled = h
        .post("/api/v1/users/li.wei/disable", ADMIN, json!({}))
        .await;
    assert!(disabled.status.is_success(), "{}", disabled.json);
    // The other instance hears of it and refuses the session from then on.
    let mut refused = false;
    for _ in 0..400 {
        if app(other.clone()).oneshot(me()).await.unwrap().status() == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        refused,
        "the other instance still serves a disabled user's session"
    );
}
