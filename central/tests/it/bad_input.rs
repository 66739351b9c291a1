//! Every bad request gets the right 4xx with the one error shape, and changes nothing.

use crate::*;

/// An edge with events 1..=5 acked, and its token.
async fn setup() -> (Harness, String) {
    setup_with(CentralConfig::default()).await
}

async fn setup_with(config: CentralConfig) -> (Harness, String) {
    let h = Harness::with_config(config).await;
    let token = h.create_edge("line-1").await;
    let reply = h.send_events(&token, "line-1", 1..=5).await;
    assert_eq!(reply.json, json!({"acked_through": 5}));
    (h, token)
}

async fn unchanged(h: &Harness) {
    assert_eq!(h.acked("line-1").await, Seq(5));
    assert_eq!(h.count("line-1").await, 5);
}

fn raw_post(
    uri: &str,
    token: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).unwrap()
}

#[tokio::test]
async fn malformed_json_is_bad_request_with_line_and_column() {
    let (h, token) = setup().await;
    let reply = h
        .send(raw_post(
            "/api/v1/sync/events",
            &token,
            Some("application/json"),
            "{\"protocol\": 1,\n \"edge_id\": \"line-1\",\n \"events\": [",
        ))
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("column"), "{message}");
    unchanged(&h).await;
}

#[tokio::test]
async fn missing_field_is_bad_request_naming_it() {
    let (h, token) = setup().await;
    let reply = h
        .post(
            "/api/v1/sync/events",
            &token,
            json!({"protocol": 1, "events": []}),
        )
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("edge_id"), "{message}");
    unchanged(&h).await;
}

#[tokio::test]
async fn wrong_content_type_is_bad_request() {
    let (h, token) = setup().await;
    let body = batch("line-1", 6..=7).to_string();
    let reply = h
        .send(raw_post(
            "/api/v1/sync/events",
            &token,
            Some("text/plain"),
            body.clone(),
        ))
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("application/json"), "{message}");
    let reply = h
        .send(raw_post("/api/v1/sync/events", &token, None, body))
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    unchanged(&h).await;
}

#[tokio::test]
async fn oversized_body_is_payload_too_large() {
    let config = CentralConfig {
        max_body_bytes: 4096,
        ..CentralConfig::default()
    };
    let (h, token) = setup_with(config).await;
    let body = batch("line-1", 6..=100).to_string();
    assert!(body.len() > 4096);
    let reply = h
        .send(raw_post(
            "/api/v1/sync/events",
            &token,
            Some("application/json"),
            body.clone(),
        ))
        .await;
    let message = reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(message.contains("4096"), "{message}");

    // Also when the body arrives without a content length (streamed).
    let stream = futures_stream(body);
    let reply = h
        .send(raw_post(
            "/api/v1/sync/events",
            &token,
            Some("application/json"),
            stream,
        ))
        .await;
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    unchanged(&h).await;
}

/// A body of unknown length, in chunks.
fn futures_stream(body: String) -> Body {
    let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = body
        .into_bytes()
        .chunks(1000)
        .map(|c| Ok(axum::body::Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn unsupported_protocol_is_refused() {
    let (h, token) = setup().await;
    let mut body = batch("line-1", 6..=7);
    body["protocol"] = json!(PROTOCOL_VERSION + 1);
    let reply = h.post("/api/v1/sync/events", &token, body).await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "unsupported_protocol");
    assert!(message.contains("expected"), "{message}");
    let mut body = batch("line-1", 6..=7);
    body["protocol"] = json!(0);
    let reply = h.post("/api/v1/sync/events", &token, body).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "unsupported_protocol");
    unchanged(&h).await;
}

#[tokio::test]
async fn unauthenticated_batch_is_refused() {
    let (h, _token) = setup().await;
    let reply = h
        .call(
            Method::POST,
            "/api/v1/sync/events",
            None,
            Some(batch("line-1", 6..=7)),
        )
        .await;
    let message = reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(message.contains("bearer"), "{message}");
    let reply = h.send_events("not-a-token", "line-1", 6..=7).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // The admin token is not an edge token: a known caller, without `edge.sync`.
    let reply = h.send_events(ADMIN, "line-1", 6..=7).await;
    let message = reply.assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("`edge.sync`"), "{message}");
    unchanged(&h).await;
}

#[tokio::test]
async fn revoked_edge_is_refused() {
    let (h, token) = setup().await;
    let reply = h
        .call(
            Method::POST,
            "/api/v1/edges/line-1/revoke",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let reply = h.send_events(&token, "line-1", 6..=7).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    unchanged(&h).await;
}

#[tokio::test]
async fn batch_for_another_edge_is_forbidden() {
    let (h, token) = setup().await;
    let other = h.create_edge("line-2").await;
    let reply = h.send_events(&token, "line-2", 1..=3).await;
    let message = reply.assert_error(StatusCode::FORBIDDEN, "edge_mismatch");
    assert!(
        message.contains("line-2") && message.contains("line-1"),
        "{message}"
    );
    unchanged(&h).await;
    assert_eq!(h.count("line-2").await, 0);
    assert_eq!(h.acked("line-2").await, Seq(0));
    drop(other);
}

#[tokio::test]
async fn non_contiguous_batch_is_bad_batch() {
    let (h, token) = setup().await;
    let mut evs = events("line-1", 6..=9);
    evs[2].seq = Seq(20);
    let body = json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": evs});
    let reply = h.post("/api/v1/sync/events", &token, body).await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_batch");
    assert!(message.contains("contiguous"), "{message}");
    unchanged(&h).await;

    // An event of another edge inside the batch.
    let mut evs = events("line-1", 6..=7);
    evs[1].edge_id = "line-2".into();
    let body = json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-1", "events": evs});
    let reply = h.post("/api/v1/sync/events", &token, body).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_batch");
    unchanged(&h).await;
}

#[tokio::test]
async fn status_for_another_edge_or_protocol_is_refused() {
    let (h, token) = setup().await;
    let status = |edge: &str, protocol: u16| {
        json!({
            "protocol": protocol, "edge_id": edge, "agent_version": "0.1.0",
            "clock": Utc::now(), "last_seq": 5, "acked_seq": 5, "backlog": 0, "plan_version": 0
        })
    };
    let reply = h
        .post("/api/v1/sync/status", &token, status("line-2", 1))
        .await;
    reply.assert_error(StatusCode::FORBIDDEN, "edge_mismatch");
    let reply = h
        .post("/api/v1/sync/status", &token, status("line-1", 99))
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "unsupported_protocol");
    let reply = h
        .call(
            Method::POST,
            "/api/v1/sync/status",
            None,
            Some(status("line-1", 1)),
        )
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(h.store().edges().await.unwrap()[0].agent_version, None);
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_json_errors() {
    let h = Harness::new().await;
    let reply = h.call(Method::GET, "/api/v1/nothing", None, None).await;
    reply.assert_error(StatusCode::NOT_FOUND, "not_found");
    let reply = h.call(Method::GET, "/api/v1/sync/events", None, None).await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn plan_poll_with_bad_query_or_protocol_header_is_refused() {
    let (h, token) = setup().await;
    let reply = h.get("/api/v1/sync/plan?wait_ms=10", &token).await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("have"), "{message}");
    let reply = h.get("/api/v1/sync/plan?have=x", &token).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");

    let mut req = request(Method::GET, "/api/v1/sync/plan?have=0", Some(&token), None);
    req.headers_mut()
        .insert(protocol::PROTOCOL_HEADER, "7".parse().unwrap());
    let reply = h.send(req).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "unsupported_protocol");
}

#[tokio::test]
async fn large_bodies_are_parsed_off_the_runtime_with_the_same_errors() {
    let (h, token) = setup().await;
    let body = batch("line-1", 6..=1000).to_string();
    assert!(body.len() > central::api::extract::PARSE_INLINE_MAX);
    let truncated = body[..body.len() - 10].to_owned();
    let reply = h
        .send(raw_post(
            "/api/v1/sync/events",
            &token,
            Some("application/json"),
            truncated,
        ))
        .await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("line 1 column"), "{message}");
    unchanged(&h).await;

    let reply = h
        .send(raw_post(
            "/api/v1/sync/events",
            &token,
            Some("application/json"),
            body,
        ))
        .await;
    assert_eq!(reply.json, json!({"acked_through": 1000}));
}
