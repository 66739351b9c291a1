//! Issue 11, "who may act on a line": each attack an integrator or someone on the plant
//! network could make against the edge's HTTP, as a test. Looking is open; acting needs a
//! terminal paired for the station; badges come from central's registry; lots are checked
//! against the order; the server bounds what it is sent and who it answers.

use super::scans::{PIN, TERMINAL_KEY, dead_central, journal_events, plan, scan};
use edge_agent::config::EdgeConfig;
use edge_agent::journal;
use edge_agent::topology::{self, RunningEdge};
use protocol::{EventKind, Plan};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// An edge with central unreachable, `plan` in force, `http` added to `[http]` and `rest` to
/// the end of the file (terminals, health, limits).
async fn edge(dir: &Path, plan: Option<&Plan>, http: &str, rest: &str) -> RunningEdge {
    let toml = format!(
        "edge_id = \"line-1\"\n[central]\nurl = \"{}\"\ntoken = \"t\"\n[journal]\npath = \"{}\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n{http}\n{rest}",
        dead_central(),
        dir.join("journal.db").display()
    );
    let config = EdgeConfig::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    if let Some(plan) = plan {
        let j = journal::open(config.journal.journal_config(&config.edge_id)).unwrap();
        j.save_plan(plan).await.unwrap();
        j.shutdown().await.unwrap();
    }
    topology::start(config).await.unwrap()
}

/// A terminal with the test key, for the stations named.
fn terminal(stations: &str) -> String {
    format!("[[terminals]]\nid = \"kiosk\"\nstations = [{stations}]\nkey = \"{TERMINAL_KEY}\"\n")
}

/// A request to the edge with the given headers; the answer's status and JSON (or null).
async fn call(
    edge: &RunningEdge,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    // Redirects are answers to look at here, not to follow.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.request(method, format!("http://{}{path}", edge.http_addr));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// The value of a `Set-Cookie` header for `name`.
fn set_cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, attributes) = v.split_once(';').unwrap_or((v, ""));
            let (k, value) = pair.split_once('=')?;
            assert!(
                attributes.contains("HttpOnly") && attributes.contains("SameSite=Strict"),
                "{v}"
            );
            (k == name).then(|| value.to_owned())
        })
}

#[tokio::test]
async fn an_unpaired_browser_sees_the_station_but_cannot_act() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(dir.path(), Some(&plan()), "", &terminal("\"st-10\"")).await;
    let (status, view, _) = call(
        &edge,
        reqwest::Method::GET,
        "/api/v1/stations/st-10",
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    for (path, body) in [
        (
            "/api/v1/scans",
            json!({"station": "st-10", "code": "(96)10442"}),
        ),
        ("/api/v1/stations/st-10/sign-in", json!({"badge": "10442"})),
        ("/api/v1/stations/st-10/sign-out", json!({})),
        ("/api/v1/stations/st-10/lots", json!({"qty": "7.9e28"})),
        (
            "/api/v1/stations/st-10/stop-reason",
            json!({"reason": "JAM", "since": "2026-12-01T08:00:00Z"}),
        ),
        (
            "/api/v1/stations/st-10/requisitions",
            json!({"item": "STEEL-2MM", "qty": "25", "reason": "coil end scrapped"}),
        ),
    ] {
        let (status, body, _) = call(&edge, reqwest::Method::POST, path, &[], Some(body)).await;
        assert_eq!((status, code(&body)), (401, "not_paired"), "{path}: {body}");
        let forged = [("authorization", "Bearer not-a-key-of-this-edge-0123456789")];
        let (status, _, _) =
            call(&edge, reqwest::Method::POST, path, &forged, Some(json!({}))).await;
        assert!(status == 401 || status == 400, "{path}: {status}");
    }
    assert!(
        journal_events(&edge).await.is_empty(),
        "nothing was recorded"
    );
    edge.shutdown().await;
}

#[tokio::test]
async fn a_terminal_acts_only_at_its_stations_and_a_page_only_with_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan();
    let mut second = plan.work_orders[0].clone();
    second.work_order = "WO-2002".into();
    second.operations[0].station = Some("st-20".into());
    plan.work_orders.push(second);
    let edge = edge(dir.path(), Some(&plan), "", &terminal("\"st-10\"")).await;
    let bearer = format!("Bearer {TERMINAL_KEY}");
    let scan_at = |station: &str| json!({"station": station, "code": "(96)10442"});
    let (status, body, _) = call(
        &edge,
        reqwest::Method::POST,
        "/api/v1/scans",
        &[("authorization", &bearer)],
        Some(scan_at("st-20")),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "other_station"), "{body}");

    // A kiosk opens its URL with the key once: it gets the cookie and the page without the key.
    let (status, _, headers) = call(
        &edge,
        reqwest::Method::GET,
        &format!("/terminal?station=st-10&key={TERMINAL_KEY}&lang=zh"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/terminal?station=st-10&lang=zh");
    let credential = set_cookie(&headers, "mes_terminal").expect("the terminal cookie");
    let cookie = format!("mes_terminal={credential}");
    // By cookie without the CSRF token: refused (a form on another site could send the cookie).
    let (status, body, _) = call(
        &edge,
        reqwest::Method::POST,
        "/api/v1/scans",
        &[("cookie", &cookie)],
        Some(scan_at("st-10")),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "csrf"), "{body}");
    let (_, session, _) = call(
        &edge,
        reqwest::Method::GET,
        "/api/v1/session",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(session["paired"], true, "{session}");
    let csrf = session["csrf"].as_str().unwrap().to_owned();
    let (status, body, _) = call(
        &edge,
        reqwest::Method::POST,
        "/api/v1/scans",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(scan_at("st-10")),
    )
    .await;
    assert_eq!(
        (status, body["action"].as_str()),
        (200, Some("signed_in")),
        "{body}"
    );
    // A wrong key is no kiosk.
    let (status, body, _) = call(
        &edge,
        reqwest::Method::GET,
        "/terminal?key=guess",
        &[],
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (401, "unknown_key"));
    edge.shutdown().await;
}

#[tokio::test]
async fn a_terminal_is_paired_by_a_code_a_supervisor_confirms_and_stays_paired() {
    let dir = tempfile::tempdir().unwrap();
    let edge_ = edge(dir.path(), Some(&plan()), "", "").await;
    let (status, asked, headers) = call(
        &edge_,
        reqwest::Method::POST,
        "/api/v1/pairings",
        &[],
        Some(json!({"stations": ["st-10"]})),
    )
    .await;
    assert_eq!(status, 201, "{asked}");
    let code_shown = asked["code"].as_str().unwrap().to_owned();
    assert_eq!(code_shown.len(), 6);
    let claim = format!(
        "mes_pairing={}",
        set_cookie(&headers, "mes_pairing").unwrap()
    );
    let (_, state, _) = call(
        &edge_,
        reqwest::Method::GET,
        "/api/v1/pairings/current",
        &[("cookie", &claim)],
        None,
    )
    .await;
    assert_eq!(state["state"], "pending", "{state}");

    // An operator who is no supervisor, a wrong PIN, a wrong code: refused.
    for (badge, pin, code_given, expect) in [
        ("10442", PIN, code_shown.as_str(), 403),
        ("9001", "0000", code_shown.as_str(), 403),
        ("9001", PIN, "000000", 404),
    ] {
        let (status, body, _) = call(
            &edge_,
            reqwest::Method::POST,
            "/api/v1/pairings/confirm",
            &[],
            Some(json!({"code": code_given, "badge": badge, "pin": pin})),
        )
        .await;
        assert_eq!(status, expect, "{badge} {pin} {code_given}: {body}");
    }
    let (status, body, _) = call(
        &edge_,
        reqwest::Method::POST,
        "/api/v1/pairings/confirm",
        &[],
        Some(json!({"code": code_shown, "badge": "9001", "pin": PIN})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["paired_by"], "Zhang Min (9001)");
    // The asking browser collects its credential, once.
    let (_, state, headers) = call(
        &edge_,
        reqwest::Method::GET,
        "/api/v1/pairings/current",
        &[("cookie", &claim)],
        None,
    )
    .await;
    assert_eq!(state["state"], "paired", "{state}");
    let cookie = format!(
        "mes_terminal={}",
        set_cookie(&headers, "mes_terminal").unwrap()
    );
    let (_, again, _) = call(
        &edge_,
        reqwest::Method::GET,
        "/api/v1/pairings/current",
        &[("cookie", &claim)],
        None,
    )
    .await;
    assert_eq!(again["state"], "unknown");
    edge_.shutdown().await;

    // After a restart the pairing holds.
    let edge_ = edge(dir.path(), None, "", "").await;
    let (_, session, _) = call(
        &edge_,
        reqwest::Method::GET,
        "/api/v1/session",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(
        (session["paired"].as_bool(), session["stations"][0].as_str()),
        (Some(true), Some("st-10"))
    );
    let csrf = session["csrf"].as_str().unwrap().to_owned();
    let headers = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let (status, body, _) = call(
        &edge_,
        reqwest::Method::POST,
        "/api/v1/scans",
        &headers,
        Some(json!({"station": "st-10", "code": "(96)10442"})),
    )
    .await;
    assert_eq!(
        (status, body["action"].as_str()),
        (200, Some("signed_in")),
        "{body}"
    );
    // Revoked by a supervisor: it can no longer act.
    let id = session["terminal"].as_str().unwrap().to_owned();
    let (status, body, _) = call(
        &edge_,
        reqwest::Method::POST,
        &format!("/api/v1/terminals/{id}/revoke"),
        &headers,
        Some(json!({"badge": "9001", "pin": PIN})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body, _) = call(
        &edge_,
        reqwest::Method::POST,
        "/api/v1/scans",
        &headers,
        Some(json!({"station": "st-10", "code": "(96)10442"})),
    )
    .await;
    assert_eq!((status, code(&body)), (401, "not_paired"), "{body}");
    edge_.shutdown().await;
}

#[tokio::test]
async fn foreign_hosts_and_cross_origin_changes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(
        dir.path(),
        Some(&plan()),
        "allowed_hosts = [\"gw-1.plant\"]",
        &terminal("\"st-10\""),
    )
    .await;
    let bearer = format!("Bearer {TERMINAL_KEY}");
    // DNS rebinding: the page's own name resolves to the edge, the Host header gives it away.
    let (status, body, _) = call(
        &edge,
        reqwest::Method::GET,
        "/api/v1/status",
        &[("host", "attacker.example")],
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (421, "host_not_allowed"), "{body}");
    let (status, _, _) = call(
        &edge,
        reqwest::Method::GET,
        "/api/v1/status",
        &[("host", "gw-1.plant:9101")],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let scan = json!({"station": "st-10", "code": "(96)10442"});
    let host = edge.http_addr.to_string();
    for headers in [
        vec![
            ("origin", "http://attacker.example"),
            ("authorization", bearer.as_str()),
        ],
        vec![("origin", "null"), ("authorization", bearer.as_str())],
        vec![
            ("sec-fetch-site", "cross-site"),
            ("authorization", bearer.as_str()),
        ],
    ] {
        let (status, body, _) = call(
            &edge,
            reqwest::Method::POST,
            "/api/v1/scans",
            &headers,
            Some(scan.clone()),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (403, "cross_origin"),
            "{headers:?}: {body}"
        );
    }
    let origin = format!("http://{host}");
    let same = [
        ("origin", origin.as_str()),
        ("authorization", bearer.as_str()),
    ];
    let (status, body, _) = call(
        &edge,
        reqwest::Method::POST,
        "/api/v1/scans",
        &same,
        Some(scan),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    edge.shutdown().await;
}

#[tokio::test]
async fn bodies_and_fields_are_bounded_at_the_door() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(dir.path(), Some(&plan()), "", &terminal("\"st-10\"")).await;
    let bearer = format!("Bearer {TERMINAL_KEY}");
    let auth = [("authorization", bearer.as_str())];
    // Issue 11: a 1.5 MB `device` was journaled and shipped to central with every scan.
    let huge = "d".repeat(1_500_000);
    let (status, body, _) = call(
        &edge,
        reqwest::Method::POST,
        "/api/v1/scans",
        &auth,
        Some(json!({"station": "st-10", "code": "(96)10442", "device": huge})),
    )
    .await;
    assert_eq!((status, code(&body)), (413, "too_large"), "{body}");
    let (status, body, _) = call(
        &edge,
        reqwest::Method::POST,
        "/api/v1/scans",
        &auth,
        Some(json!({"station": "st-10", "code": "(96)10442", "device": "d".repeat(65)})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("device: is 65 bytes long"),
        "{body}"
    );
    let (status, _, _) = call(
        &edge,
        reqwest::Method::POST,
        "/api/v1/scans",
        &auth,
        Some(json!({"station": "st-10", "code": "(96)10442", "device": "scanner\u{0}"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(journal_events(&edge).await.is_empty());
    edge.shutdown().await;
}

#[tokio::test]
async fn sign_in_needs_a_badge_of_the_registry_and_its_pin() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(dir.path(), Some(&plan()), "", &terminal("\"st-10\"")).await;
    let outcome = scan(&edge, "(96)66666").await;
    assert_eq!(outcome["reason"], "unknown_badge", "{outcome}");
    let outcome = scan(&edge, "(96)9001").await;
    assert_eq!(outcome["reason"], "pin_required", "{outcome}");
    let bearer = format!("Bearer {TERMINAL_KEY}");
    let sign_in = |pin: &str| json!({"badge": "9001", "pin": pin});
    let path = "/api/v1/stations/st-10/sign-in";
    let auth = [("authorization", bearer.as_str())];
    let (_, body, _) = call(
        &edge,
        reqwest::Method::POST,
        path,
        &auth,
        Some(sign_in("1111")),
    )
    .await;
    assert_eq!(body["reason"], "wrong_pin", "{body}");
    for _ in 0..4 {
        call(
            &edge,
            reqwest::Method::POST,
            path,
            &auth,
            Some(sign_in("1111")),
        )
        .await;
    }
    // Locked: even the right PIN waits.
    let (_, body, _) = call(
        &edge,
        reqwest::Method::POST,
        path,
        &auth,
        Some(sign_in(PIN)),
    )
    .await;
    assert_eq!(body["reason"], "pin_locked", "{body}");
    // Every refusal is stored; the PIN itself never is.
    let events = journal_events(&edge).await;
    let refused = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::ScanRejected { .. }))
        .count();
    assert_eq!(refused, 8);
    // What the events say (their kinds): ids and times are random digits that may hold "1111"
    // by chance (a UUID with `0111122b` made this test fail once).
    let all = serde_json::to_string(&events.iter().map(|e| &e.kind).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains("1111") && !all.contains(PIN), "{all}");
    // Starting an order needs a signed-in operator.
    let outcome = scan(&edge, "(91)WO-1001").await;
    assert_eq!(outcome["reason"], "not_signed_in", "{outcome}");
    edge.shutdown().await;
}

#[tokio::test]
async fn a_lot_beyond_the_order_needs_a_supervisor_and_nothing_is_printed_for_a_refusal() {
    use tokio::io::AsyncReadExt;
    let printer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let printer_addr = printer.local_addr().unwrap();
    let jobs = tokio::spawn(async move {
        let mut jobs = Vec::new();
        while let Ok(Ok((mut conn, _))) =
            tokio::time::timeout(Duration::from_secs(30), printer.accept()).await
        {
            let mut zpl = String::new();
            conn.read_to_string(&mut zpl).await.unwrap();
            jobs.push(zpl);
        }
        jobs
    });
    let dir = tempfile::tempdir().unwrap();
    let rest = format!(
        "{}[[stations]]\nid = \"st-10\"\nprinter = \"{printer_addr}\"\n",
        terminal("\"st-10\"")
    );
    let edge = edge(dir.path(), Some(&plan()), "", &rest).await;
    scan(&edge, "(96)10442").await;
    scan(&edge, "(91)WO-1001").await;
    let bearer = format!("Bearer {TERMINAL_KEY}");
    let auth = [("authorization", bearer.as_str())];
    let lots = "/api/v1/stations/st-10/lots";
    let post_lot = |body: Value| call(&edge, reqwest::Method::POST, lots, &auth, Some(body));
    // Issue 11: a lot of 7.9e28 pieces against an order of 500 was completed and printed.
    let (_, done, _) = post_lot(json!({"qty": "79228162514264337593543950335"})).await;
    assert_eq!(done["reason"], "bad_quantity", "{done}");
    assert_eq!(done.get("label"), None, "{done}");
    let (_, done, _) = post_lot(json!({"qty": "501"})).await;
    assert_eq!(done["reason"], "over_completion", "{done}");
    assert_eq!(done.get("label"), None);
    let (status, done, _) =
        post_lot(json!({"qty": "501", "approved_by": {"badge": "9001", "pin": "0000"}})).await;
    assert_eq!((status, code(&done)), (403, "not_approved"), "{done}");
    let (_, done, _) =
        post_lot(json!({"qty": "501", "approved_by": {"badge": "9001", "pin": PIN}})).await;
    assert_eq!(done["action"], "lot_completed", "{done}");
    assert_eq!(done["label"]["printed"], true, "{done}");
    edge.shutdown().await;
    let printed = jobs.await.unwrap();
    assert_eq!(printed.len(), 1, "one label, for the approved lot");
    assert!(printed[0].contains("WO-1001-001"));
}

#[tokio::test]
async fn live_streams_are_bounded_and_idle_connections_closed() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(
        dir.path(),
        Some(&plan()),
        "max_event_streams = 2\nidle_timeout = \"1s\"",
        "",
    )
    .await;
    let url = format!("http://{}/api/v1/stations/st-10/events", edge.http_addr);
    let first = reqwest::get(&url).await.unwrap();
    let second = reqwest::get(&url).await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = reqwest::get(&url).await.unwrap();
    assert_eq!(third.status(), 503);
    let body: Value = third.json().await.unwrap();
    assert_eq!(code(&body), "too_many_streams");
    drop(first);
    // The permit comes back when the stream ends (the server notices the closed socket on its
    // next write; keep-alives come every 15 s, so ask until it has).
    let mut again = None;
    for _ in 0..400 {
        let r = reqwest::get(&url).await.unwrap();
        if r.status() == 200 {
            again = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a stream slot came back");
    // A connection that sends nothing is closed after the idle timeout (not held for ever).
    let mut idle = tokio::net::TcpStream::connect(edge.http_addr)
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(15), idle.read(&mut buf))
        .await
        .expect("the edge closed the idle connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    edge.shutdown().await;
}

#[tokio::test]
async fn healthz_tells_when_events_wait_too_long_for_central() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(
        dir.path(),
        Some(&plan()),
        "",
        &format!(
            "{}[health]\nuplink_stalled_after = \"1s\"\n",
            terminal("\"st-10\"")
        ),
    )
    .await;
    let (status, _, _) = call(&edge, reqwest::Method::GET, "/healthz", &[], None).await;
    assert_eq!(status, 200, "nothing waits yet");
    scan(&edge, "(96)10442").await;
    let mut last = Value::Null;
    for _ in 0..100 {
        let (status, body, _) = call(&edge, reqwest::Method::GET, "/healthz", &[], None).await;
        if status == 503 {
            last = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(code(&last), "unhealthy", "{last}");
    assert!(
        last["problems"][0]
            .as_str()
            .unwrap()
            .contains("uplink stalled"),
        "{last}"
    );
    edge.shutdown().await;
}

/// Issue 11: two scans of an unlimited component with a quantity of 7.9e28 killed the
/// processor (PLC counts stopped, scans got 503, /healthz said ok). Now both are refused with
/// the reason and the line goes on: the next scan is decided and the agent is healthy.
#[tokio::test]
async fn huge_quantities_are_refused_and_the_line_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan();
    plan.work_orders[0].operations[0]
        .allowed_components
        .push("GREASE".into());
    let edge = edge(dir.path(), Some(&plan), "", &terminal("\"st-10\"")).await;
    scan(&edge, "(96)10442").await;
    scan(&edge, "(91)WO-1001").await;
    let huge = "(92)GREASE(93)G1(94)79228162514264337593543950335kg";
    for _ in 0..2 {
        let outcome = scan(&edge, huge).await;
        assert_eq!(outcome["result"], "rejected", "{outcome}");
        assert!(
            outcome["message"]
                .as_str()
                .unwrap()
                .contains("at most 1000000000"),
            "{outcome}"
        );
    }
    let outcome = scan(&edge, "(92)GREASE(93)G2(94)5kg").await;
    assert_eq!(outcome["action"], "issued", "{outcome}");
    let (status, body, _) = call(&edge, reqwest::Method::GET, "/healthz", &[], None).await;
    assert_eq!(status, 200, "{body}");
    edge.shutdown().await;
}
