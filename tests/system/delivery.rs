//! The sync route over real HTTP, driven by hand: replays and duplicates are applied once, and
//! bad requests are refused with a JSON error and change nothing.

use crate::support::{Central, assert_central_holds_exactly, batch, make_events, temp_dir};
use protocol::{EventBatch, Seq};
use serde_json::Value;

/// An acknowledgement answer: 200 `{"acked_through": N}`.
fn assert_ack(what: &str, (status, body): (u16, Value), expected: u64) {
    assert_eq!(status, 200, "{what}: answer {body}");
    assert_eq!(
        body["acked_through"].as_u64(),
        Some(expected),
        "{what}: answer {body}"
    );
}

/// A 4xx with the project's error shape `{"error": {"code", "message"}}`.
async fn assert_json_error(what: &str, response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status().as_u16(), status, "{what}: status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}"
    );
    let body: Value = response.json().await.expect("a json error body");
    assert_eq!(body["error"]["code"], code, "{what}: body {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: no message in {body}"
    );
}

fn json(batch: &EventBatch) -> Vec<u8> {
    serde_json::to_vec(batch).expect("encode batch")
}

#[tokio::test]
async fn duplicated_and_replayed_deliveries_are_applied_once() {
    let tmp = temp_dir();
    let mut central = Central::start(&tmp.path().join("central"), None).await;
    let token = central.create_edge("replay-edge").await;
    let edge = "replay-edge";

    let originals = make_events(edge, 1, 15);
    let first = batch(edge, &originals[0..10]);
    assert_ack(
        "first batch 1..=10",
        central.post_batch(&token, &first).await,
        10,
    );
    assert_ack(
        "same batch again",
        central.post_batch(&token, &first).await,
        10,
    );

    let overlapping = batch(edge, &originals[5..15]);
    assert_ack(
        "overlapping batch 6..=15",
        central.post_batch(&token, &overlapping).await,
        15,
    );
    assert_ack(
        "old batch 1..=10 after newer ones",
        central.post_batch(&token, &first).await,
        15,
    );
    assert_ack(
        "a single old event",
        central
            .post_batch(&token, &batch(edge, &originals[3..4]))
            .await,
        15,
    );

    // A replay of stored seqs carrying other ids must not replace the originals, and is
    // refused loudly (issue 14): another event under a stored seq is a journal that is not
    // the one central took the seq from.
    let impostors = make_events(edge, 1, 3);
    let (status, body) = central.post_batch(&token, &batch(edge, &impostors)).await;
    assert_eq!(status, 409, "seqs 1..=3 with other ids: {body}");
    assert_eq!(body["error"]["code"], "seq_conflict", "{body}");

    // An empty batch only asks where to resume.
    assert_ack(
        "empty batch",
        central.post_batch(&token, &batch(edge, &[])).await,
        15,
    );

    // A batch that would leave a gap is refused with the seq central expects next.
    let beyond = make_events(edge, 20, 3);
    let (status, body) = central.post_batch(&token, &batch(edge, &beyond)).await;
    assert_eq!(status, 409, "gap batch: {body}");
    assert_eq!(body["error"]["code"], "seq_gap", "{body}");
    assert_eq!(body["error"]["expected_seq"], 16, "{body}");

    assert_central_holds_exactly(&central, edge, &originals).await;

    // Dedup is durable: after a crash of central, the old batch is still applied zero times.
    central.kill();
    central.launch().await;
    assert_ack(
        "old batch after central's restart",
        central.post_batch(&token, &first).await,
        15,
    );
    let next = make_events(edge, 16, 2);
    assert_ack(
        "next batch after restart",
        central.post_batch(&token, &batch(edge, &next)).await,
        17,
    );
    let all: Vec<_> = originals.into_iter().chain(next).collect();
    assert_central_holds_exactly(&central, edge, &all).await;
}

#[tokio::test]
async fn bad_sync_requests_get_a_json_4xx_and_change_nothing() {
    const MAX_BODY_BYTES: usize = 4096;
    let tmp = temp_dir();
    let central = Central::start(
        &tmp.path().join("central"),
        Some(&format!("max_body_bytes = {MAX_BODY_BYTES}\n")),
    )
    .await;
    let token_a = central.create_edge("edge-a").await;
    let token_b = central.create_edge("edge-b").await;
    let stored_a = make_events("edge-a", 1, 5);
    let stored_b = make_events("edge-b", 1, 3);
    assert_ack(
        "edge-a's events",
        central
            .post_batch(&token_a, &batch("edge-a", &stored_a))
            .await,
        5,
    );
    assert_ack(
        "edge-b's events",
        central
            .post_batch(&token_b, &batch("edge-b", &stored_b))
            .await,
        3,
    );

    // Each bad request carries events that would be accepted next, were it not refused.
    let next_a = batch("edge-a", &make_events("edge-a", 6, 5));
    let next_b = batch("edge-b", &make_events("edge-b", 4, 5));
    let ct = Some("application/json");

    let mut malformed = json(&next_a);
    malformed.truncate(malformed.len() / 2);
    assert_json_error(
        "malformed json",
        central.post_sync(Some(&token_a), ct, malformed).await,
        400,
        "bad_request",
    )
    .await;

    assert_json_error(
        "json of the wrong shape",
        central
            .post_sync(
                Some(&token_a),
                ct,
                br#"{"protocol":1,"edge_id":"edge-a"}"#.to_vec(),
            )
            .await,
        400,
        "bad_request",
    )
    .await;

    assert_json_error(
        "no content type",
        central.post_sync(Some(&token_a), None, json(&next_a)).await,
        400,
        "bad_request",
    )
    .await;

    let oversized = batch("edge-a", &make_events("edge-a", 6, 60));
    let oversized = json(&oversized);
    assert!(
        oversized.len() > MAX_BODY_BYTES,
        "the oversized body is {} bytes",
        oversized.len()
    );
    assert_json_error(
        "oversized body",
        central.post_sync(Some(&token_a), ct, oversized).await,
        413,
        "payload_too_large",
    )
    .await;

    for version in [0, protocol::PROTOCOL_VERSION + 1, u16::MAX] {
        let mut wrong = next_a.clone();
        wrong.protocol = version;
        assert_json_error(
            &format!("protocol version {version}"),
            central.post_sync(Some(&token_a), ct, json(&wrong)).await,
            400,
            "unsupported_protocol",
        )
        .await;
    }

    assert_json_error(
        "no token",
        central.post_sync(None, ct, json(&next_a)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_json_error(
        "unknown token",
        central
            .post_sync(Some("not-a-token"), ct, json(&next_a))
            .await,
        401,
        "unauthorized",
    )
    .await;
    // A known caller, but not an edge: 403 naming `edge.sync` (issue 13).
    assert_json_error(
        "admin token on the edge route",
        central
            .post_sync(Some(crate::support::ADMIN_TOKEN), ct, json(&next_a))
            .await,
        403,
        "forbidden",
    )
    .await;

    assert_json_error(
        "edge-a's token, a batch for edge-b",
        central.post_sync(Some(&token_a), ct, json(&next_b)).await,
        403,
        "edge_mismatch",
    )
    .await;

    let mut foreign_event = next_a.clone();
    foreign_event.events[2].edge_id = "edge-b".into();
    assert_json_error(
        "an event of edge-b inside edge-a's batch",
        central
            .post_sync(Some(&token_a), ct, json(&foreign_event))
            .await,
        400,
        "bad_batch",
    )
    .await;

    let mut not_contiguous = next_a.clone();
    not_contiguous.events[3].seq = Seq(42);
    assert_json_error(
        "a batch with a hole",
        central
            .post_sync(Some(&token_a), ct, json(&not_contiguous))
            .await,
        400,
        "bad_batch",
    )
    .await;

    central.revoke_edge("edge-b").await;
    assert!(
        central.edge("edge-b").await.revoked,
        "edge-b is listed as revoked"
    );
    assert_json_error(
        "a revoked edge's token",
        central.post_sync(Some(&token_b), ct, json(&next_b)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_json_error(
        "a revoked edge's token, empty batch",
        central
            .post_sync(Some(&token_b), ct, json(&batch("edge-b", &[])))
            .await,
        401,
        "unauthorized",
    )
    .await;

    // Nothing changed: the same events and acknowledgements as before the bad requests.
    assert_central_holds_exactly(&central, "edge-a", &stored_a).await;
    assert_central_holds_exactly(&central, "edge-b", &stored_b).await;

    // And the good request still works.
    assert_ack(
        "edge-a's next batch",
        central.post_batch(&token_a, &next_a).await,
        10,
    );
}

/// Issue 11: once the backlog passed central's body limit, central answered 413 to every
/// retry and the uplink stalled for good. The edge sizes batches in bytes and halves them when
/// central still says "too large", so a backlog far above the limit drains exactly once.
#[tokio::test]
async fn a_backlog_larger_than_central_s_body_limit_drains_in_smaller_batches() {
    use crate::support::{DEADLINE, EdgeHome, Link, Simulated, assert_exactly_once, wait_until};
    const BACKLOG: u64 = 3_000;
    let tmp = temp_dir();
    // Central takes bodies of at most 64 KiB; the edge's batches may be 4 MiB by default.
    let mut central = Central::start(
        &tmp.path().join("central"),
        Some("max_body_bytes = 65536\n"),
    )
    .await;
    let token = central.create_edge("big-edge").await;
    central.terminate().await;
    let mut home = EdgeHome::new(
        &tmp.path().join("edge"),
        "big-edge",
        &token,
        &central.url(),
        Link {
            batch_max_events: 5_000,
        },
    );
    let edge = home
        .start(Some(Simulated {
            machines: 3,
            cycle_ms: 1,
            max_events: Some(BACKLOG),
            seed: 11,
        }))
        .await;
    edge.wait_status("the edge to build its backlog", |s| s.last_seq == BACKLOG)
        .await;
    central.launch().await;
    wait_until("central to take the whole backlog", DEADLINE, || async {
        central
            .try_edge("big-edge")
            .await
            .filter(|e| e.acked_seq == BACKLOG)
    })
    .await;
    let status = edge.wait_drained(BACKLOG).await;
    assert_eq!(status.inconsistency, None);
    // It did meet the limit on the way: central refused the first batches as too large.
    let metrics = crate::support::http_client()
        .get(format!("{}/metrics", central.url()))
        .send()
        .await
        .expect("central's metrics")
        .text()
        .await
        .expect("metrics text");
    let refused = metrics
        .lines()
        .find(|l| l.contains("route=\"events\"") && l.contains("payload_too_large"))
        .unwrap_or_else(|| panic!("no 413 counted:\n{metrics}"));
    assert!(!refused.ends_with(" 0"), "{refused}");
    let mut edge = edge;
    edge.proc.terminate().await;
    assert_exactly_once(&central, &home).await;
}
