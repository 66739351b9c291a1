//! `mes bench authz` (issue 13): what the policy check costs on a hot read route, and what
//! a sign-in costs.
//!
//! The same `GET /api/v1/work-orders/{id}` (a work order with its routing, BOM and progress:
//! the page supervisors keep open) is served by central's router with the policy check (the
//! admin token, a supervisor's page session with the record rule's plant lookup, and a
//! personal token) and by the same handlers without it
//! ([`central::api::policy::Routes::into_unguarded_router`] inside the same layers,
//! [`central::api::with_layers`]), in the same process, over the same store, in interleaved
//! rounds. Latencies are per request, in process (`oneshot`), so
//! the difference is the check's own cost, not the network's. Then argon2id: the time of one
//! password verification with central's parameters, and how many guesses the lockout lets
//! through per hour.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use central::people::users::{Lockout, hash_password, verify_password};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const ADMIN: &str = "bench-admin-token-0123456789abcdef0123";
const PASSWORD: &str = "teal-kettle-on-line-3";

async fn call(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    )
}

fn req(method: Method, uri: &str, auth: &[(&str, String)], body: Option<Value>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in auth {
        b = b.header(*k, v);
    }
    match body {
        Some(body) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

async fn csv(app: &axum::Router, kind: &str, text: &str) -> anyhow::Result<()> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/import/{kind}"))
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(text.to_owned()))?;
    let (status, body, _) = call(app, request).await;
    anyhow::ensure!(status.is_success(), "import {kind}: {status} {body}");
    Ok(())
}

async fn admin(
    app: &axum::Router,
    method: Method,
    uri: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let (status, body, _) = call(
        app,
        req(
            method,
            uri,
            &[("authorization", format!("Bearer {ADMIN}"))],
            Some(body),
        ),
    )
    .await;
    anyhow::ensure!(status.is_success(), "{uri}: {status} {body}");
    Ok(body)
}

/// A caller: its name, the router it calls and its credential headers.
type Variant<'a> = (&'static str, &'a axum::Router, Vec<(&'static str, String)>);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn authz(requests: usize, rounds: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = central::open_sqlite_store(dir.path()).await?;
    store.ensure_bootstrap_admin().await?;
    let config = central::CentralConfig::default();
    let token = central::AdminToken::new(ADMIN, "the bench")?;
    let state = central::AppState::new(store, token, &config);
    let guarded = central::app(state.clone());
    // The same router, layers and state, without the policy check on each route.
    let bare = central::api::with_layers(
        central::api::routes().into_unguarded_router(),
        state.clone(),
    );

    // A plant of 200 work orders; the one asked for has a routing of two operations and a BOM.
    csv(
        &guarded,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
         FRAME,Frame,make,ea,1,lfl,,\nSTEEL,Steel,buy,kg,5,lfl,,\nBOLT,Bolt,buy,ea,5,lfl,,\n",
    )
    .await?;
    csv(
        &guarded,
        "boms",
        "parent,component,qty_per,scrap_pct\nFRAME,STEEL,0.5,2\nFRAME,BOLT,4,0\n",
    )
    .await?;
    admin(
        &guarded,
        Method::PUT,
        "/api/v1/plants/A",
        json!({"name": "Plant A"}),
    )
    .await?;
    admin(
        &guarded,
        Method::PUT,
        "/api/v1/lines/L1",
        json!({"description": "frames", "plant": "A"}),
    )
    .await?;
    for (wc, st) in [("CUT", "st-10"), ("WELD", "st-20")] {
        admin(
            &guarded,
            Method::PUT,
            &format!("/api/v1/work-centers/{wc}"),
            json!({"line": "L1", "station": st}),
        )
        .await?;
    }
    admin(
        &guarded,
        Method::PUT,
        "/api/v1/routings/FRAME",
        json!({"operations": [
            {"operation": 10, "description": "cut", "work_center": "CUT"},
            {"operation": 20, "description": "weld", "work_center": "WELD"}]}),
    )
    .await?;
    for n in 0..200 {
        admin(
            &guarded,
            Method::POST,
            "/api/v1/work-orders",
            json!({"work_order": format!("WO-{n:04}"), "item": "FRAME", "qty": "100", "due": "2026-12-24", "line": "L1"}),
        )
        .await?;
    }
    admin(
        &guarded,
        Method::PUT,
        "/api/v1/users/sup",
        json!({"display_name": "Supervisor", "roles": ["supervisor"], "plants": ["A"], "password": PASSWORD}),
    )
    .await?;
    let (status, me, headers) = call(
        &guarded,
        req(
            Method::POST,
            "/api/v1/session",
            &[],
            Some(json!({"login": "sup", "password": PASSWORD})),
        ),
    )
    .await;
    anyhow::ensure!(status.is_success(), "sign-in: {status} {me}");
    let cookie = headers[header::SET_COOKIE]
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let csrf = me["csrf_token"].as_str().unwrap_or_default().to_owned();
    let (_, made, _) = call(
        &guarded,
        req(
            Method::POST,
            "/api/v1/me/tokens",
            &[("cookie", cookie.clone()), ("x-csrf-token", csrf)],
            Some(
                json!({"name": "bench", "expires_in_days": 1, "permissions": ["work_orders.read"]}),
            ),
        ),
    )
    .await;
    let personal = made["token"].as_str().unwrap_or_default().to_owned();

    let uri = "/api/v1/work-orders/WO-0100";
    let variants: Vec<Variant> = vec![
        ("no policy check (baseline)", &bare, vec![]),
        (
            "admin token",
            &guarded,
            vec![("authorization", format!("Bearer {ADMIN}"))],
        ),
        (
            "supervisor session + record rule",
            &guarded,
            vec![("cookie", cookie)],
        ),
        (
            "personal token + record rule",
            &guarded,
            vec![("authorization", format!("Bearer {personal}"))],
        ),
    ];
    // Warm-up, and every variant answers the same order.
    for (name, app, auth) in &variants {
        for _ in 0..200 {
            let (status, body, _) = call(app, req(Method::GET, uri, auth, None)).await;
            anyhow::ensure!(
                status == StatusCode::OK && body["work_order"] == "WO-0100",
                "{name}: {status} {body}"
            );
        }
    }
    let mut samples: Vec<Vec<Duration>> =
        vec![Vec::with_capacity(requests * rounds); variants.len()];
    for _ in 0..rounds {
        for (i, (_, app, auth)) in variants.iter().enumerate() {
            for _ in 0..requests {
                let request = req(Method::GET, uri, auth, None);
                let start = Instant::now();
                let response = (*app).clone().oneshot(request).await?;
                let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
                samples[i].push(start.elapsed());
            }
        }
    }
    let mut base = (Duration::ZERO, Duration::ZERO);
    for (i, (name, _, _)) in variants.iter().enumerate() {
        let s = &mut samples[i];
        s.sort();
        let (p50, p99) = (percentile(s, 0.5), percentile(s, 0.99));
        if i == 0 {
            base = (p50, p99);
        }
        let added = |x: Duration, b: Duration| (x.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0;
        println!(
            "{}",
            json!({
                "bench": "authz", "route": "GET /api/v1/work-orders/{id}", "caller": name,
                "requests": s.len(),
                "p50_us": p50.as_secs_f64() * 1e6, "p99_us": p99.as_secs_f64() * 1e6,
                "added_p50_pct": added(p50, base.0), "added_p99_pct": added(p99, base.1),
            })
        );
    }

    // Sign-in: argon2id verification with central's parameters.
    let phc = hash_password(PASSWORD);
    let n = 30;
    let start = Instant::now();
    for _ in 0..n {
        assert!(verify_password(PASSWORD, &phc));
    }
    let per = start.elapsed() / n;
    let lockout = Lockout::default();
    println!(
        "{}",
        json!({
            "bench": "sign_in", "argon2id": "m=19456 KiB, t=2, p=1 (argon2 crate defaults, OWASP)",
            "verify_ms": per.as_secs_f64() * 1e3,
            "verifications_per_core_per_s": 1.0 / per.as_secs_f64(),
            "lockout": format!("{} failures of a login or {} of an address within {} min lock it for {} min", lockout.login_failures, lockout.address_failures, lockout.window.num_minutes(), lockout.lock_for.num_minutes()),
            "guesses_per_hour_per_login": lockout.guesses_per_hour_per_login(),
        })
    );
    Ok(())
}
