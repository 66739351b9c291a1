//! Central's pages (`central/src/web`) through the router: who is sent to the sign-in page,
//! who is refused with a page naming the permission, the two languages, the security headers,
//! escaping, and that a page lists what the API answers. The browser tests are in
//! `tests/system/central_pages.rs`.

use crate::*;
use axum::http::HeaderMap;

const PASSWORD: &str = "a long enough password 1";

/// A page's answer: status, headers, body as text.
struct PageReply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl PageReply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn page(h: &Harness, path: &str, session: Option<&str>) -> PageReply {
    let mut builder = Request::builder().method(Method::GET).uri(path);
    if let Some(id) = session {
        builder = builder.header(header::COOKIE, format!("mes_session={id}"));
    }
    let response = h
        .app()
        .oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    PageReply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("pages are utf-8"),
    }
}

async fn put_plant(h: &Harness, plant: &str) {
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

async fn put_user(
    h: &Harness,
    login: &str,
    name: &str,
    roles: &[&str],
    plants: &[&str],
    lang: &str,
) {
    let reply = h
        .call(
            Method::PUT,
            &format!("/api/v1/users/{login}"),
            Some(ADMIN),
            Some(json!({
                "display_name": name, "roles": roles, "plants": plants,
                "language": lang, "time_zone": "Asia/Shanghai", "password": PASSWORD
            })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// Signs in through the API as a page does; the session cookie's value.
async fn sign_in(h: &Harness, login: &str) -> String {
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
    cookie
        .strip_prefix("mes_session=")
        .and_then(|c| c.split(';').next())
        .expect("the session cookie")
        .to_owned()
}

/// A plant, and a supervisor, a sales person and an administrator of it (all Chinese).
async fn people() -> Harness {
    let h = Harness::new().await;
    put_plant(&h, "plant-a").await;
    put_user(&h, "zhang.wei", "张伟", &["supervisor"], &["plant-a"], "zh").await;
    put_user(&h, "li.na", "李娜", &["sales"], &["plant-a"], "zh").await;
    put_user(&h, "wang.fang", "王芳", &["administrator"], &[], "zh").await;
    h
}

#[tokio::test]
async fn not_signed_in_a_page_sends_the_browser_to_sign_in_and_back() {
    let h = people().await;
    let reply = page(&h, "/account", None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/sign-in?next=/account");
    let reply = page(&h, "/audit?actor=li.na&action=sign_in", None).await;
    assert_eq!(
        reply.header("location"),
        "/sign-in?next=/audit%3Factor%3Dli.na%26action%3Dsign_in"
    );
    // An ended session is the same: back to the sign-in page.
    let reply = page(&h, "/admin/users", Some("no-such-session")).await;
    assert_eq!(reply.header("location"), "/sign-in?next=/admin/users");
    assert_eq!(page(&h, "/", None).await.header("location"), "/sign-in");
    // The API keeps answering JSON.
    h.call(Method::GET, "/api/v1/me", None, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // The sign-in page carries where to go next, on this site only.
    let reply = page(&h, "/sign-in?next=%2Faudit%3Factor%3Dli.na", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.body.contains(r#"data-next="/audit?actor=li.na""#),
        "{}",
        reply.body
    );
    let reply = page(&h, "/sign-in?next=%2F%2Fevil.example%2F", None).await;
    assert!(
        reply.body.contains(r#"data-next="/account""#),
        "{}",
        reply.body
    );

    // Signed in, home is the account page.
    let session = sign_in(&h, "zhang.wei").await;
    assert_eq!(
        page(&h, "/", Some(&session)).await.header("location"),
        "/account"
    );
}

#[tokio::test]
async fn a_stale_session_cookie_does_not_keep_anyone_from_signing_in_again() {
    let h = people().await;
    let reply = page(&h, "/sign-in", Some("ended-session")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let mut req = request(
        Method::POST,
        "/api/v1/session",
        None,
        Some(json!({"login": "zhang.wei", "password": PASSWORD})),
    );
    req.headers_mut()
        .insert(header::COOKIE, "mes_session=ended-session".parse().unwrap());
    assert_eq!(h.app().oneshot(req).await.unwrap().status(), StatusCode::OK);
    // A stale bearer token beside a public route is ignored too: the sign-in answers on its
    // own merits, and a scraper with an old token still reads /healthz.
    h.call(
        Method::POST,
        "/api/v1/session",
        Some("wrong"),
        Some(json!({"login": "x", "password": "y"})),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "sign_in_failed");
    assert_eq!(
        h.call(Method::GET, "/healthz", Some("wrong"), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_page_without_its_permission_names_it_in_the_users_language() {
    let h = people().await;
    // Sales may not read users.
    let session = sign_in(&h, "li.na").await;
    let reply = page(&h, "/admin/users", Some(&session)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.header("content-type").starts_with("text/html"));
    assert!(
        reply.body.contains(r#"data-permission="users.read""#),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("无权访问"),
        "in Chinese: {}",
        reply.body
    );
    assert!(
        reply.body.contains("查看用户、其角色和工厂"),
        "{}",
        reply.body
    );
    assert!(!reply.header("content-security-policy").is_empty());
    let reply = page(&h, "/audit?lang=en", Some(&session)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("audit.read"), "{}", reply.body);
    assert!(
        reply.body.contains("Not allowed"),
        "in English: {}",
        reply.body
    );
    // The API answers its own JSON 403.
    let mut req = request(Method::GET, "/api/v1/users", None, None);
    req.headers_mut().insert(
        header::COOKIE,
        format!("mes_session={session}").parse().unwrap(),
    );
    let response = h.app().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    // What they may open, they may open; the navigation shows only that.
    let reply = page(&h, "/account", Some(&session)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        !reply.body.contains(r#"href="/admin/users""#),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains(r#"href="/admin/plants""#),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn every_page_renders_in_chinese_and_english_with_its_security_headers() {
    let h = people().await;
    let session = sign_in(&h, "wang.fang").await;
    let pages = [
        ("/account", "我的账户", "My account"),
        ("/admin/users", "新建用户", "New user"),
        ("/admin/roles", "角色与权限", "Roles and permissions"),
        (
            "/admin/plants",
            "工厂及其现场规则",
            "Plants and their rules for the floor",
        ),
        ("/audit", "审计记录", "Audit trail"),
        ("/sign-in", "登录名", "Login"),
    ];
    for (path, zh, en) in pages {
        // The user's language first (Chinese), then each asked for.
        for (query, phrase, html_lang) in [
            ("", zh, "zh-CN"),
            ("?lang=zh", zh, "zh-CN"),
            ("?lang=en", en, "en"),
        ] {
            let reply = page(&h, &format!("{path}{query}"), Some(&session)).await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{path}{query}: {}",
                reply.body
            );
            assert!(
                reply.body.contains(phrase),
                "{path}{query} says {phrase:?}:\n{}",
                reply.body
            );
            assert!(
                reply
                    .body
                    .contains(&format!(r#"<html lang="{html_lang}">"#)),
                "{path}{query}"
            );
            assert!(
                reply
                    .header("content-security-policy")
                    .starts_with("default-src 'self'"),
                "{path}"
            );
            assert_eq!(reply.header("x-frame-options"), "DENY", "{path}");
            assert_eq!(reply.header("referrer-policy"), "same-origin", "{path}");
            assert_eq!(reply.header("cache-control"), "no-store", "{path}");
            // No inline script: the only scripts are the vendored file and JSON data.
            assert_eq!(reply.body.matches("<script").count(), 2, "{path}");
            assert!(
                reply
                    .body
                    .contains(r#"<script src="/assets/app.js" defer></script>"#)
            );
            assert!(
                reply
                    .body
                    .contains(r#"<script type="application/json" id="messages">"#)
            );
            if !query.is_empty() {
                // The choice is remembered for the next pages.
                assert!(
                    reply
                        .header("set-cookie")
                        .starts_with(&format!("mes_lang={}", &query[6..])),
                    "{path}{query}: {:?}",
                    reply.headers
                );
            }
        }
    }
    // The remembered language wins over the user's.
    let mut req = Request::builder().uri("/account");
    req = req.header(
        header::COOKIE,
        format!("mes_session={session}; mes_lang=en"),
    );
    let response = h
        .app()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("My account"));
    // The page carries the session's CSRF token for its script.
    let reply = page(&h, "/account", Some(&session)).await;
    let csrf = reply
        .body
        .split(r#"<meta name="csrf-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    assert_eq!(csrf.len(), 64, "{csrf}");
}

#[tokio::test]
async fn assets_are_served_from_the_binary_and_load_nothing_from_elsewhere() {
    let h = Harness::new().await;
    for (path, kind) in [
        ("/assets/app.css", "text/css"),
        ("/assets/app.js", "text/javascript"),
    ] {
        let reply = page(&h, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(reply.header("content-type").starts_with(kind), "{path}");
        assert!(
            !reply.body.contains("http://") && !reply.body.contains("https://"),
            "{path}"
        );
        assert!(
            !reply.body.contains("@import") && !reply.body.contains("url("),
            "{path}"
        );
    }
}

#[tokio::test]
async fn names_people_typed_are_shown_as_text() {
    let h = people().await;
    put_user(
        &h,
        "mallory",
        "<script>alert(1)</script>",
        &["sales"],
        &["plant-a"],
        "en",
    )
    .await;
    let session = sign_in(&h, "wang.fang").await;
    let reply = page(&h, "/admin/users", Some(&session)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.body.contains("<script>alert(1)"), "{}", reply.body);
    assert!(
        reply
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || reply.body.contains("&lt;script&gt;alert(1)"),
        "{}",
        reply.body
    );
    // Their own account page too.
    let session = sign_in(&h, "mallory").await;
    let reply = page(&h, "/account", Some(&session)).await;
    assert!(!reply.body.contains("<script>alert(1)"), "{}", reply.body);
}

#[tokio::test]
async fn the_users_page_lists_what_the_api_answers_the_same_person() {
    let h = people().await;
    put_plant(&h, "plant-b").await;
    put_user(
        &h,
        "chen.jie",
        "陈杰",
        &["plant_manager"],
        &["plant-a"],
        "zh",
    )
    .await;
    put_user(&h, "zhao.lei", "赵磊", &["supervisor"], &["plant-b"], "zh").await;
    // A plant manager sees the users of their plants only, on the page as in the API.
    let session = sign_in(&h, "chen.jie").await;
    let reply = page(&h, "/admin/users", Some(&session)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let on_page: Vec<&str> = reply
        .body
        .split(r#"<tr data-login=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let mut req = request(Method::GET, "/api/v1/users", None, None);
    req.headers_mut().insert(
        header::COOKIE,
        format!("mes_session={session}").parse().unwrap(),
    );
    let response = h.app().oneshot(req).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let api: Value = serde_json::from_slice(&bytes).unwrap();
    let from_api: Vec<&str> = api["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap())
        .collect();
    assert_eq!(on_page, from_api);
    assert!(
        on_page.contains(&"zhang.wei") && !on_page.contains(&"zhao.lei"),
        "{on_page:?}"
    );
    // A plant manager reads users but does not manage them: no controls.
    assert!(!reply.body.contains(r#"id="user-form""#));
    assert!(
        !reply.body.contains("reset-password") && !reply.body.contains(r#"class="small reset""#)
    );
    // An administrator gets them.
    let session = sign_in(&h, "wang.fang").await;
    let reply = page(&h, "/admin/users", Some(&session)).await;
    assert!(reply.body.contains(r#"id="user-form""#));
}
