//! Edge credentials: hashed at rest, revocable, rotatable. Admin routes need the admin token.

use crate::*;

#[tokio::test]
async fn stored_hash_is_not_the_token() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    assert_eq!(token.len(), 64);

    let rows = h.sql(
        "SELECT token_hash FROM edges WHERE edge_id = 'line-1'",
        vec![],
    );
    let stored: Vec<u8> = serde_json::from_value(rows[0][0].clone()).unwrap();
    assert_ne!(stored, token.as_bytes());
    assert_eq!(stored, central::hash_token(&token));
    // The token appears nowhere in the database file.
    for bytes in h.stored_bytes() {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token stored in clear"
        );
    }
}

#[tokio::test]
async fn revoked_token_is_refused_everywhere() {
    let h = Harness::new().await;
    let token = h.create_edge("line-1").await;
    assert_eq!(
        h.send_events(&token, "line-1", 1..=2).await.status,
        StatusCode::OK
    );

    let reply = h
        .call(
            Method::POST,
            "/api/v1/edges/line-1/revoke",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.store()
            .authenticate(central::hash_token(&token))
            .await
            .unwrap(),
        None
    );

    h.send_events(&token, "line-1", 3..=4)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    h.get("/api/v1/sync/plan?have=0&wait_ms=0", &token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let edges = h.store().edges().await.unwrap();
    assert!(edges[0].revoked);
    assert_eq!(edges[0].acked_seq, Seq(2));
}

#[tokio::test]
async fn revoking_an_unknown_edge_is_not_found() {
    let h = Harness::new().await;
    h.call(
        Method::POST,
        "/api/v1/edges/ghost/revoke",
        Some(ADMIN),
        None,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn rotated_token_works_and_old_one_is_refused() {
    let h = Harness::new().await;
    let old = h.create_edge("line-1").await;
    h.send_events(&old, "line-1", 1..=3).await;
    h.call(
        Method::POST,
        "/api/v1/edges/line-1/revoke",
        Some(ADMIN),
        None,
    )
    .await;

    // Rotation issues a new token and lifts the revocation; events and ack stay.
    let new = h.create_edge("line-1").await;
    assert_ne!(new, old);
    h.send_events(&old, "line-1", 4..=5)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let reply = h.send_events(&new, "line-1", 4..=5).await;
    assert_eq!(reply.json, json!({"acked_through": 5}));
    assert!(!h.store().edges().await.unwrap()[0].revoked);
}

#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let h = Harness::new().await;
    let edge_token = h.create_edge("line-1").await;
    // No token or an unknown one: 401. An edge's token is a known caller without the
    // permission: 403.
    for (token, status, code) in [
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some("wrong"), StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            Some(edge_token.as_str()),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ] {
        h.call(Method::GET, "/api/v1/edges", token, None)
            .await
            .assert_error(status, code);
        h.call(
            Method::POST,
            "/api/v1/edges",
            token,
            Some(json!({"edge_id": "line-9"})),
        )
        .await
        .assert_error(status, code);
        h.call(Method::POST, "/api/v1/edges/line-1/revoke", token, None)
            .await
            .assert_error(status, code);
    }
    let edges = h.store().edges().await.unwrap();
    assert_eq!(edges.len(), 1);
    assert!(!edges[0].revoked);
}

#[tokio::test]
async fn malformed_authorization_header_is_unauthorized() {
    let h = Harness::new().await;
    let mut req = request(Method::GET, "/api/v1/edges", None, None);
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Basic {ADMIN}").parse().unwrap(),
    );
    let reply = h.send(req).await;
    let message = reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(message.contains("bearer"), "{message}");
}

/// Every operation the OpenAPI document lists that is not public refuses a caller without
/// credentials or with a wrong token (401), and an edge's own token everywhere but the sync
/// routes (403). The role-by-role matrix is `people::every_role_on_every_route`.
#[tokio::test]
async fn every_documented_route_refuses_a_caller_without_the_admin_token() {
    let h = Harness::new().await;
    let edge_token = h.create_edge("line-1").await;
    let doc = h
        .call(Method::GET, "/api/v1/openapi.json", Some(ADMIN), None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(
        doc.json["security"],
        json!([{"bearer": []}, {"session": []}])
    );
    let paths = doc.json["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, operations) in paths {
        // Path parameters get a value of the right shape; the refusal comes before the lookup.
        let uri = path
            .split('/')
            .map(|part| if part.starts_with('{') { "x1" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for (method, operation) in operations.as_object().expect("operations") {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let permission = operation["x-permission"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} declares no x-permission"));
            if permission == "public" || path.starts_with("/api/v1/sync/") {
                continue;
            }
            if !matches!(
                method,
                Method::GET | Method::POST | Method::PUT | Method::DELETE | Method::PATCH
            ) {
                continue;
            }
            for (token, status) in [
                (None, StatusCode::UNAUTHORIZED),
                (Some("wrong"), StatusCode::UNAUTHORIZED),
                (Some(edge_token.as_str()), StatusCode::FORBIDDEN),
            ] {
                let reply = h.call(method.clone(), &uri, token, None).await;
                assert_eq!(
                    reply.status, status,
                    "{method} {uri} with {token:?}: {}",
                    reply.json
                );
            }
            checked += 1;
        }
    }
    for route in [
        "/api/v1/mrp/runs/{run}/firm",
        "/api/v1/mrp/runs/{run}/requisitions",
        "/api/v1/edges/{edge_id}/stations",
        "/api/v1/unassigned",
    ] {
        assert!(paths.contains_key(route), "{route} is not documented");
    }
    assert!(checked >= 40, "only {checked} operations documented");
}
