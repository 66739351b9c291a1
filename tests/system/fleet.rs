//! The edge fleet (issue 15): an edge whose events cannot reach central says, in its status,
//! when the oldest of them was committed, and central's fleet API, CSV and page show it as a
//! time and an age; once the events get through, it is gone.
//!
//! The real `mes central` and `mes edge`, with a small HTTP relay between them that passes
//! everything but the edge's event batches while it holds them (503, as a broken proxy
//! would), so statuses and plan polls still get through.

use crate::support::*;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Clone)]
struct Relay {
    central: String,
    hold_events: Arc<AtomicBool>,
    http: reqwest::Client,
}

async fn relay(
    axum::extract::State(relay): axum::extract::State<Relay>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::POST
        && uri.path() == "/api/v1/sync/events"
        && relay.hold_events.load(Ordering::SeqCst)
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "held by the test's relay").into_response();
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = relay.http.request(
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
        format!("{}{path}", relay.central),
    );
    for name in ["authorization", "content-type", "mes-protocol", "accept"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            request = request.header(name, v);
        }
    }
    match request.body(body.to_vec()).send().await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            let kind = answer
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, [("content-type", kind)], bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn fleet_row(http: &reqwest::Client, base: &str) -> Value {
    let edges: Value = http
        .get(format!("{base}/api/v1/edges"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("central answers")
        .json()
        .await
        .expect("json");
    edges["edges"][0].clone()
}

#[tokio::test]
async fn issue_15_an_edge_with_unsent_events_shows_the_oldest_on_the_fleet_page() {
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let token = central.create_edge("line-1").await;

    let hold_events = Arc::new(AtomicBool::new(true));
    let state = Relay {
        central: base.clone(),
        hold_events: hold_events.clone(),
        http: http_client(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(relay).with_state(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let started = chrono::Utc::now();
    let mut home = EdgeHome::new(
        &tmp.path().join("edge"),
        "line-1",
        &token,
        &relay_url,
        Link {
            batch_max_events: 100,
        },
    );
    let mut edge = home
        .start(Some(Simulated {
            machines: 1,
            cycle_ms: 20,
            max_events: Some(10),
            seed: 7,
        }))
        .await;

    // The edge commits events it cannot send; its status tells central when the oldest was
    // committed.
    let http = http_client();
    let row = wait_until(
        "the fleet to show an unsent event",
        Duration::from_secs(30),
        || {
            let (http, base) = (&http, &base);
            async move {
                let row = fleet_row(http, base).await;
                (row["reported_backlog"].as_u64().unwrap_or(0) > 0
                    && !row["oldest_unsent_at"].is_null())
                .then_some(row)
            }
        },
    )
    .await;
    let oldest: chrono::DateTime<chrono::Utc> =
        row["oldest_unsent_at"].as_str().unwrap().parse().unwrap();
    let now = chrono::Utc::now();
    assert!(
        started - chrono::Duration::seconds(1) <= oldest && oldest <= now,
        "{started} <= {oldest} <= {now}"
    );
    let age = row["oldest_unsent_age_s"].as_i64().unwrap();
    assert!(
        age >= 0 && age <= (now - started).num_seconds() + 1,
        "{age}"
    );
    assert_eq!(row["acked_seq"], 0, "nothing got through");

    // The page and the CSV show it.
    let page = http
        .get(format!("{base}/floor/edges?lang=en"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("class=\"unsent\""), "{page}");
    assert!(page.contains(" ago</span>"), "{page}");
    let csv = http
        .get(format!("{base}/api/v1/edges.csv"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cells: Vec<&str> = csv.lines().nth(1).expect("a row").split(',').collect();
    assert_eq!(cells[0], "line-1");
    assert!(!cells[4].is_empty(), "oldest_unsent_at: {csv}");

    // Let the events through: everything is acknowledged, and nothing is unsent any more.
    hold_events.store(false, Ordering::SeqCst);
    edge.wait_drained(1).await;
    wait_until(
        "the fleet to show nothing unsent",
        Duration::from_secs(30),
        || {
            let (http, base) = (&http, &base);
            async move {
                let row = fleet_row(http, base).await;
                (row["reported_backlog"] == 0 && row["oldest_unsent_at"].is_null()).then_some(())
            }
        },
    )
    .await;
    edge.proc.terminate().await;
    server.abort();
}
