//! Kiosk links (issue 15): a supervisor mints a link for one plant's andon; a TV that opens it
//! is signed in with no password, sees that plant's andon and board and nothing else, changes
//! nothing; revoking the link signs the TV out and ends its live stream; a wrong token learns
//! nothing.

use crate::*;
use axum::http::HeaderMap;

const PASSWORD: &str = "a long enough password 1";

pub(crate) async fn put_plant(h: &Harness, plant: &str) {
    let reply = h
        .call(
            Method::PUT,
            &format!("/api/v1/plants/{plant}"),
            Some(ADMIN),
            Some(json!({"name": format!("Plant {plant}")})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

pub(crate) async fn put_user(h: &Harness, login: &str, roles: &[&str], plants: &[&str]) {
    let reply = h
        .call(
            Method::PUT,
            &format!("/api/v1/users/{login}"),
            Some(ADMIN),
            Some(json!({
                "display_name": login, "roles": roles, "plants": plants,
                "language": "zh", "time_zone": "Asia/Shanghai", "password": PASSWORD
            })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// A person's personal token with every permission of theirs.
pub(crate) async fn token_of(h: &Harness, login: &str) -> String {
    let response = h
        .app()
        .oneshot(request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({"login": login, "password": PASSWORD})),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    let session = cookie
        .strip_prefix("mes_session=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let me: Value = serde_json::from_slice(&bytes).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap();
    let made = h
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/v1/me/tokens")
                .header(header::COOKIE, format!("mes_session={session}"))
                .header("x-csrf-token", csrf)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({"name": "test", "expires_in_days": 30}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    made.json["token"].as_str().unwrap().to_owned()
}

/// Plants `plant-a` and `plant-b`, a supervisor and a sales person of plant-a; the
/// supervisor's token.
async fn setup(h: &Harness) -> String {
    put_plant(h, "plant-a").await;
    put_plant(h, "plant-b").await;
    put_user(h, "zhang.wei", &["supervisor"], &["plant-a"]).await;
    put_user(h, "li.na", &["sales"], &["plant-a"]).await;
    token_of(h, "zhang.wei").await
}

async fn mint(h: &Harness, token: &str, body: Value) -> Reply {
    h.post("/api/v1/kiosk-links", token, body).await
}

/// A raw answer: status, headers, body as text.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn raw(h: &Harness, method: Method, path: &str, cookie: Option<&str>) -> Raw {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(id) = cookie {
        builder = builder
            .header(header::COOKIE, format!("mes_session={id}"))
            .header("x-csrf-token", "");
    }
    let body = if builder.method_ref() == Some(&Method::GET) {
        Body::empty()
    } else {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
        Body::from("{}")
    };
    let response = h.app().oneshot(builder.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Raw {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Opens the link as a TV does; the session cookie's value and where it was sent.
async fn open(h: &Harness, path: &str) -> (String, String) {
    let reply = raw(h, Method::GET, path, None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let id = cookie
        .strip_prefix("mes_session=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let location = reply.headers[header::LOCATION].to_str().unwrap().to_owned();
    (id, location)
}

#[tokio::test]
async fn issue_15_a_kiosk_link_opens_its_plants_andon_with_no_password() {
    let h = Harness::new().await;
    let supervisor = setup(&h).await;

    // Who may mint: kiosks.manage, for a plant of their own.
    let sales = token_of(&h, "li.na").await;
    mint(&h, &sales, json!({"name": "Hall 2", "plant": "plant-a"}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    mint(
        &h,
        &supervisor,
        json!({"name": "Hall 2", "plant": "plant-b"}),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let message = mint(&h, &supervisor, json!({"name": " ", "plant": "plant-a"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request")
        .to_owned();
    assert!(message.contains("name"), "{message}");
    mint(
        &h,
        &supervisor,
        json!({"name": "Hall 2", "plant": "plant-a", "language": "fr"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    mint(&h, ADMIN, json!({"name": "Hall 9", "plant": "nowhere"}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    let minted = mint(&h, &supervisor, json!({"name": "Hall 2, line 3"})).await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.json);
    let token = minted.json["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    let path = minted.json["path"].as_str().unwrap().to_owned();
    assert_eq!(path, format!("/kiosk/{token}"));
    let link = &minted.json["link"];
    assert_eq!(link["plant"], "plant-a", "the supervisor's one plant");
    assert_eq!(link["created_by"], "zhang.wei");
    assert_eq!(link["language"], "zh");
    let link_id = link["link_id"].as_str().unwrap().to_owned();

    // Listed without its token; central keeps only the hash.
    let list = h.get("/api/v1/kiosk-links", &supervisor).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.json);
    assert_eq!(list.json["links"].as_array().unwrap().len(), 1);
    assert!(!list.json.to_string().contains(&token));
    assert!(list.json["links"][0]["last_used_at"].is_null());
    let hashes = h.sql("SELECT token_hash FROM kiosk_links", vec![]);
    assert_eq!(hashes.len(), 1);
    assert!(!hashes[0][0].to_string().contains(&token));

    // The TV opens it: signed in, sent to its plant's andon.
    let (session, location) = open(&h, &path).await;
    assert!(session.starts_with("mes_kiosk_"), "{session}");
    assert_eq!(location, "/floor/andon?plant=plant-a&lang=zh");
    let andon = raw(&h, Method::GET, &location, Some(&session)).await;
    assert_eq!(andon.status, StatusCode::OK, "{}", andon.body);
    assert!(andon.body.contains("board andon"), "{}", andon.body);
    assert!(andon.body.contains(r#"data-plant="plant-a""#));
    let board = raw(&h, Method::GET, "/floor", Some(&session)).await;
    assert_eq!(board.status, StatusCode::OK);
    let data = raw(&h, Method::GET, "/api/v1/floor/board", Some(&session)).await;
    assert_eq!(data.status, StatusCode::OK, "{}", data.body);

    // Another plant is not there for it.
    for path in [
        "/floor/andon?plant=plant-b",
        "/api/v1/floor/board?plant=plant-b",
        "/api/v1/floor/live?plant=plant-b",
    ] {
        let other = raw(&h, Method::GET, path, Some(&session)).await;
        assert_eq!(
            other.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            other.body
        );
    }

    // Its use is shown; its mint is in the audit trail, by who minted it.
    let list = h.get("/api/v1/kiosk-links", &supervisor).await;
    assert!(
        !list.json["links"][0]["last_used_at"].is_null(),
        "{}",
        list.json
    );
    let audit = h
        .get(
            &format!("/api/v1/audit?entity=kiosk_links&entity_id={link_id}"),
            ADMIN,
        )
        .await;
    let entries = audit.json["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["actor"].as_str().unwrap().starts_with("zhang.wei/")
                && e["action"] == "insert"),
        "{}",
        audit.json
    );
    assert!(
        !audit.json.to_string().contains(&token),
        "no token in the trail"
    );
}

#[tokio::test]
async fn issue_15_a_kiosk_session_changes_nothing_and_reads_only_the_andon() {
    let h = Harness::new().await;
    let supervisor = setup(&h).await;
    let minted = mint(
        &h,
        &supervisor,
        json!({"name": "Hall 2", "plant": "plant-a"}),
    )
    .await;
    let (session, _) = open(&h, minted.json["path"].as_str().unwrap()).await;

    // Every route that changes anything refuses it, whatever it is and whatever it names.
    let routes = central::api::routes();
    let mut writes = 0;
    for d in routes.declared() {
        if matches!(d.method, Method::GET | Method::HEAD)
            || d.policy.access == central::api::policy::Access::Public
        {
            continue;
        }
        let path = d.path.replace(['{', '}'], "");
        let reply = raw(&h, d.method.clone(), &path, Some(&session)).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{} {}: {}",
            d.method,
            d.path,
            reply.body
        );
        writes += 1;
    }
    assert!(writes > 50, "{writes} write routes");
    // And what it may read is the andon and the board only.
    for path in [
        "/api/v1/me",
        "/api/v1/work-orders",
        "/api/v1/kiosk-links",
        "/api/v1/floor/oee",
        "/api/v1/spc/characteristics",
        "/api/v1/edges",
        "/floor/oee",
        "/floor/spc",
        "/account",
        "/admin/kiosks",
    ] {
        let reply = raw(&h, Method::GET, path, Some(&session)).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            reply.body
        );
    }
    let refused = raw(&h, Method::GET, "/api/v1/work-orders", Some(&session)).await;
    assert!(refused.body.contains("kiosk_only"), "{}", refused.body);
    // Still signed in: a refusal does not end the session.
    let andon = raw(&h, Method::GET, "/floor/andon", Some(&session)).await;
    assert_eq!(andon.status, StatusCode::OK);
}

/// Reads the stream until `needle` comes, or the stream ends (`false`).
async fn read_until(body: &mut Body, needle: &str) -> bool {
    let mut seen = String::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
            if seen.contains(needle) {
                return true;
            }
        }
    }
    false
}

#[tokio::test]
async fn issue_15_a_revoked_kiosk_link_signs_its_tv_out_and_ends_its_live_board() {
    let h = Harness::new().await;
    let supervisor = setup(&h).await;
    let minted = mint(
        &h,
        &supervisor,
        json!({"name": "Hall 2", "plant": "plant-a"}),
    )
    .await;
    let path = minted.json["path"].as_str().unwrap().to_owned();
    let link_id = minted.json["link"]["link_id"].as_str().unwrap().to_owned();
    let (session, _) = open(&h, &path).await;

    // The TV's live board: its first board comes at once.
    let response = h
        .app()
        .oneshot(
            Request::builder()
                .uri("/api/v1/floor/live")
                .header(header::COOKIE, format!("mes_session={session}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.into_body();
    assert!(read_until(&mut stream, "event: board").await);

    // Another plant's supervisor cannot revoke it; its own can.
    put_user(&h, "wang.fang", &["supervisor"], &["plant-b"]).await;
    let other = token_of(&h, "wang.fang").await;
    h.post(
        &format!("/api/v1/kiosk-links/{link_id}/revoke"),
        &other,
        json!({}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let revoked = h
        .post(
            &format!("/api/v1/kiosk-links/{link_id}/revoke"),
            &supervisor,
            json!({}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.json);
    assert!(!revoked.json["revoked_at"].is_null());
    assert_eq!(revoked.json["revoked_by"], "zhang.wei");

    // The live board ends, saying why.
    assert!(read_until(&mut stream, "event: ended").await);
    assert!(stream.frame().await.is_none(), "the stream is over");

    // The session is over: the andon page says so, the API answers 401.
    let andon = raw(&h, Method::GET, "/floor/andon", Some(&session)).await;
    assert_eq!(andon.status, StatusCode::UNAUTHORIZED, "{}", andon.body);
    assert!(andon.body.contains("kiosk-refused"), "{}", andon.body);
    let data = raw(&h, Method::GET, "/api/v1/floor/board", Some(&session)).await;
    assert_eq!(data.status, StatusCode::UNAUTHORIZED);

    // The link opens no more, and it says exactly what a made-up or mangled one says.
    let again = raw(&h, Method::GET, &path, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
    assert!(again.headers.get(header::SET_COOKIE).is_none());
    assert!(again.body.contains("kiosk-refused"));
    for wrong in [
        format!("/kiosk/{}", central::new_token()),
        "/kiosk/abc".to_owned(),
        format!("/kiosk/{}", "z".repeat(64)),
    ] {
        let reply = raw(&h, Method::GET, &wrong, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{wrong}");
        assert_eq!(reply.body, again.body, "{wrong}: the same refusal");
        assert!(reply.headers.get(header::SET_COOKIE).is_none());
    }
    assert!(!again.body.contains(&link_id), "names no link");

    // Revoking is in the audit trail; the list shows it revoked.
    let audit = h
        .get(
            &format!("/api/v1/audit?entity=kiosk_links&entity_id={link_id}"),
            ADMIN,
        )
        .await;
    assert!(
        audit.json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"].as_str().unwrap().starts_with("zhang.wei/")
                && e["action"] == "update"),
        "{}",
        audit.json
    );
    let list = h.get("/api/v1/kiosk-links", &supervisor).await;
    assert!(!list.json["links"][0]["revoked_at"].is_null());
}

/// A link opened again and again keeps its newest sessions only: the oldest TV is signed out,
/// the newest works, and the table holds no more than the bound.
#[tokio::test]
async fn issue_15_a_kiosk_link_opened_again_and_again_keeps_its_newest_sessions() {
    let h = Harness::new().await;
    let supervisor = setup(&h).await;
    let minted = mint(
        &h,
        &supervisor,
        json!({"name": "Hall 2", "plant": "plant-a"}),
    )
    .await;
    let path = minted.json["path"].as_str().unwrap().to_owned();
    let bound = central::store::kiosk::MAX_SESSIONS_PER_LINK;
    let mut sessions = Vec::new();
    for _ in 0..bound + 3 {
        sessions.push(open(&h, &path).await.0);
    }
    let rows = h.sql("SELECT count(*) FROM kiosk_sessions", vec![]);
    assert_eq!(rows[0][0], json!(bound));
    let oldest = raw(&h, Method::GET, "/api/v1/floor/board", Some(&sessions[0])).await;
    assert_eq!(oldest.status, StatusCode::UNAUTHORIZED, "{}", oldest.body);
    let newest = raw(
        &h,
        Method::GET,
        "/api/v1/floor/board",
        sessions.last().map(String::as_str),
    )
    .await;
    assert_eq!(newest.status, StatusCode::OK, "{}", newest.body);
}

/// The TV's live board, as its andon opens it; the stream's body.
async fn live_board(h: &Harness, session: &str) -> Body {
    let response = h
        .app()
        .oneshot(
            Request::builder()
                .uri("/api/v1/floor/live")
                .header(header::COOKIE, format!("mes_session={session}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body()
}

/// When the one kiosk session stored was last used.
fn last_seen(h: &Harness) -> chrono::DateTime<Utc> {
    let rows = h.sql("SELECT last_seen FROM kiosk_sessions", vec![]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    chrono::DateTime::parse_from_rfc3339(rows[0][0].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Sets when the kiosk sessions were last used to `ago` before now: the clock moved on for
/// them (central keeps no clock of its own to turn).
fn unused_for(h: &Harness, ago: chrono::Duration) {
    let at = (Utc::now() - ago).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    h.sql("UPDATE kiosk_sessions SET last_seen = ?1", vec![text(at)]);
}

/// Issue 15: a kiosk session had no idle timeout. One unused for `[sessions] kiosk_idle` ends
/// (the TV opens its link again); one in use, by requests or by its open live board, stays,
/// and is marked used at most once a minute, not at every request.
#[tokio::test]
async fn issue_15_a_kiosk_session_unused_for_kiosk_idle_ends_and_its_open_board_keeps_it() {
    let mut config = CentralConfig::default();
    config.sessions.kiosk_idle = std::time::Duration::from_secs(10 * 60);
    let h = Harness::with_config(config).await;
    let supervisor = setup(&h).await;
    let minted = mint(
        &h,
        &supervisor,
        json!({"name": "Hall 2", "plant": "plant-a"}),
    )
    .await;
    let path = minted.json["path"].as_str().unwrap().to_owned();
    let (session, _) = open(&h, &path).await;
    let signed_in = last_seen(&h);

    // Requests within a minute write nothing.
    for _ in 0..3 {
        let board = raw(&h, Method::GET, "/api/v1/floor/board", Some(&session)).await;
        assert_eq!(board.status, StatusCode::OK, "{}", board.body);
    }
    assert_eq!(last_seen(&h), signed_in, "not written at every request");

    // Unused for 9 of its 10 minutes: still signed in, and marked used now.
    let before = Utc::now();
    unused_for(&h, chrono::Duration::minutes(9));
    let andon = raw(&h, Method::GET, "/floor/andon", Some(&session)).await;
    assert_eq!(andon.status, StatusCode::OK, "{}", andon.body);
    assert!(last_seen(&h) >= before, "a page load counts as use");

    // Unused for 11 minutes: over. The page says so, the API answers 401, the row is gone.
    unused_for(&h, chrono::Duration::minutes(11));
    let andon = raw(&h, Method::GET, "/floor/andon", Some(&session)).await;
    assert_eq!(andon.status, StatusCode::UNAUTHORIZED, "{}", andon.body);
    assert!(andon.body.contains("kiosk-refused"), "{}", andon.body);
    let data = raw(&h, Method::GET, "/api/v1/floor/board", Some(&session)).await;
    assert_eq!(data.status, StatusCode::UNAUTHORIZED, "{}", data.body);
    assert!(data.body.contains("idle"), "{}", data.body);
    let rows = h.sql("SELECT count(*) FROM kiosk_sessions", vec![]);
    assert_eq!(rows[0][0], json!(0));

    // The link still opens: the TV signs in again.
    let (again, _) = open(&h, &path).await;
    let board = raw(&h, Method::GET, "/api/v1/floor/board", Some(&again)).await;
    assert_eq!(board.status, StatusCode::OK, "{}", board.body);

    // A TV that keeps its andon open: the live board marks the session used, with no other
    // request, so it never runs out.
    let mut stream = live_board(&h, &again).await;
    assert!(read_until(&mut stream, "event: board").await);
    let before = Utc::now();
    unused_for(&h, chrono::Duration::minutes(9));
    h.state.floor_changed();
    assert!(read_until(&mut stream, "event: board").await);
    assert!(last_seen(&h) >= before, "the open live board counts as use");
    // Past the timeout (as if nothing had been open), the board ends instead of keeping it.
    unused_for(&h, chrono::Duration::minutes(11));
    h.state.floor_changed();
    assert!(read_until(&mut stream, "event: ended").await);

    // Sessions of the link already over are dropped when it is opened again.
    let (_, _) = open(&h, &path).await;
    let (_, _) = open(&h, &path).await;
    unused_for(&h, chrono::Duration::minutes(11));
    let (_, _) = open(&h, &path).await;
    let rows = h.sql("SELECT count(*) FROM kiosk_sessions", vec![]);
    assert_eq!(rows[0][0], json!(1), "only the new session is left");
}
