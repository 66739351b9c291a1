//! Issue 17, attachments on both stores: a receipt uploaded and checked by its bytes, kept
//! once by its SHA-256, named by an expense claim, and read back only by those who may see a
//! request that names it.

use crate::crm::{Team, get, post, team};
use crate::people::{Session, session_headers};
use crate::*;
use axum::body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn upload(h: &Harness, s: &Session, name: &str, bytes: Vec<u8>) -> Reply {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/oa/attachments?name={name}"))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(bytes))
        .unwrap();
    for (k, v) in session_headers(s) {
        req.headers_mut().insert(k, v);
    }
    h.send(req).await
}

async fn download(
    h: &Harness,
    s: &Session,
    sha: &str,
) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(format!("/api/v1/oa/attachments/{sha}"))
        .body(Body::empty())
        .unwrap();
    for (k, v) in session_headers(s) {
        req.headers_mut().insert(k, v);
    }
    let response = h.app().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body.to_vec())
}

#[tokio::test]
async fn issue_17_a_receipt_is_attached_checked_and_read_only_by_those_who_see_the_claim() {
    let h = Harness::new().await;
    let Team { chen, li, zhao, .. } = team(&h).await;
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/oa/workflows/expense",
            Some(ADMIN),
            Some(json!({"form": "expense", "steps": [
                {"name": "manager", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"}}]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);

    let pdf = b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF\n".to_vec();
    let kept = upload(&h, &li, "taxi%20receipt.pdf", pdf.clone()).await;
    assert_eq!(kept.status, StatusCode::CREATED, "{}", kept.json);
    let sha = kept.json["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha.len(), 64);
    assert_eq!(kept.json["content_type"], "application/pdf");
    assert_eq!(kept.json["name"], "taxi receipt.pdf");
    assert_eq!(kept.json["size"], pdf.len());
    // The same file again is the same attachment, kept once.
    let again = upload(&h, &zhao, "copy.pdf", pdf.clone()).await;
    assert_eq!(again.json["sha256"], sha.as_str());
    assert_eq!(again.json["uploaded_by"], "li.sales");
    // A script named .pdf, and a file over 10 MiB, are refused, named.
    let reply = upload(&h, &li, "evil.pdf", b"#!/bin/sh\nrm -rf /\n".to_vec()).await;
    assert!(
        reply
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            .contains("is not a PDF, PNG, JPEG, .docx or .xlsx file"),
        "{}",
        reply.json
    );
    let mut big = b"%PDF-".to_vec();
    big.resize(10 * 1024 * 1024 + 1, b'0');
    let reply = upload(&h, &li, "big.pdf", big).await;
    assert!(
        reply
            .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            .contains("at most 10485760"),
        "{}",
        reply.json
    );

    // A claim naming a file that is not kept is refused; naming the receipt, it is filed.
    let claim = |receipt: &str| {
        json!({"form": "expense", "values": {"type": "expense", "amount": {"amount": "88", "currency": "CNY"},
            "date": "2026-12-01", "reason": "taxi", "receipt": receipt}})
    };
    let reply = post(&h, &li, "/api/v1/oa/requests", claim(&"ab".repeat(32))).await;
    assert!(
        reply
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            .contains("receipt: no attachment"),
        "{}",
        reply.json
    );
    let reply = post(&h, &li, "/api/v1/oa/requests", claim(&sha)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(reply.json["values"]["receipt"], sha.as_str());

    // The manager it waits on reads it; a colleague who uploaded the same bytes did not
    // upload it (li did) and sees no claim naming it: 404, as for a file not kept.
    let (status, headers, body) = download(&h, &chen, &sha).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, pdf);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "application/pdf");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename*=UTF-8''taxi%20receipt.pdf"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    let (status, _, _) = download(&h, &zhao, &sha).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = download(&h, &li, &sha).await;
    assert_eq!((status, body.len()), (StatusCode::OK, pdf.len()));
    let (status, _, _) = download(&h, &chen, &"cd".repeat(32)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The request page links it.
    let id = reply.json["id"].as_i64().unwrap();
    let page = get(&h, &chen, &format!("/oa/requests/{id}")).await;
    let html = page.json.as_str().unwrap_or_default();
    assert!(
        html.contains(&format!("href=\"/api/v1/oa/attachments/{sha}\"")),
        "{html}"
    );
}
