//! People (issue 13): every route declares its policy, every role against every route,
//! record rules across plants, sign-in, sessions, CSRF, lockout, personal tokens.

use crate::work_orders::{import, ok, plant, put};
use crate::*;
use central::api::policy::{Access, Declared};
use central::people::roles::{Permission, Role};
use std::collections::BTreeSet;

/// A password that passes the rules.
pub(crate) const PASSWORD: &str = "teal-kettle-on-line-3";

/// Creates a user through the API with the admin token.
pub(crate) async fn user(h: &Harness, login: &str, roles: &[&str], plants: &[&str]) {
    let reply = put(
        h,
        &format!("/api/v1/users/{login}"),
        json!({"display_name": login, "roles": roles, "plants": plants, "password": PASSWORD, "language": "en"}),
    )
    .await;
    ok(&reply);
}

/// A signed-in page session: its cookie and CSRF token.
pub(crate) struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in(h: &Harness, login: &str, password: &str) -> (Reply, Option<String>) {
    let response = h
        .app()
        .oneshot(request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({"login": login, "password": password})),
        ))
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (Reply { status, json }, cookie)
}

pub(crate) async fn session(h: &Harness, login: &str) -> Session {
    let (reply, cookie) = sign_in(h, login, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let cookie = cookie.expect("a session cookie");
    Session {
        cookie: cookie.split(';').next().unwrap().to_owned(),
        csrf: reply.json["csrf_token"].as_str().unwrap().to_owned(),
    }
}

pub(crate) async fn as_session(
    h: &Harness,
    s: &Session,
    method: Method,
    uri: &str,
    body: Option<Value>,
    csrf: bool,
) -> Reply {
    let mut req = request(method, uri, None, body);
    for (name, value) in session_headers(s) {
        if csrf || name == header::COOKIE {
            req.headers_mut().insert(name, value);
        }
    }
    h.send(req).await
}

/// The session's cookie and CSRF token as request headers.
pub(crate) fn session_headers(s: &Session) -> [(header::HeaderName, header::HeaderValue); 2] {
    [
        (header::COOKIE, s.cookie.parse().unwrap()),
        (
            header::HeaderName::from_static("x-csrf-token"),
            s.csrf.parse().unwrap(),
        ),
    ]
}

/// A path with its parameters filled.
fn fill(path: &str, value: &str) -> String {
    path.split('/')
        .map(|part| if part.starts_with('{') { value } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_declared_route_is_documented_with_its_permission() {
    let doc = central::api::openapi::document();
    let paths = doc["paths"].as_object().unwrap();
    let declared = central::api::routes();
    let mut from_router = BTreeSet::new();
    for d in declared.declared() {
        // HTML pages are not the API; everything else is documented.
        if !(d.path.starts_with("/api/") || d.path == "/healthz" || d.path == "/metrics") {
            continue;
        }
        let method = d.method.as_str().to_lowercase();
        let op = &paths
            .get(d.path)
            .unwrap_or_else(|| panic!("{} {} is not documented", d.method, d.path))[&method];
        assert!(op.is_object(), "{} {} is not documented", d.method, d.path);
        let want = match d.policy.access {
            Access::Public => "public".to_owned(),
            Access::SignedIn => "signed_in".to_owned(),
            Access::Edge => "edge".to_owned(),
            Access::Needs(p) => p.name().to_owned(),
        };
        assert_eq!(op["x-permission"], want.as_str(), "{} {}", d.method, d.path);
        from_router.insert((method, d.path.to_owned()));
    }
    let mut from_doc = BTreeSet::new();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            from_doc.insert((method.clone(), path.clone()));
        }
    }
    assert_eq!(from_doc, from_router, "documented and routed differ");
    assert!(from_router.len() > 80, "{} routes", from_router.len());
}

/// Deny by default: the router is built from `api::routes()` only; no module adds a route
/// any other way (which would have no policy).
#[test]
fn no_route_is_registered_outside_the_policy_builder() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut offenders = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("api/policy.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains(".route(")
                || line.contains(".nest(")
                || line.contains(".route_service(")
            {
                offenders.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes without a policy: {offenders:#?}"
    );
}

/// Every role, signed in on a page, against every route: allowed where the matrix says so
/// (then never 401, 403 or 500), 403 naming the permission where it does not, and the sync
/// routes for edges only.
#[tokio::test]
async fn every_role_on_every_route() {
    let h = Harness::new().await;
    ok(&put(&h, "/api/v1/plants/A", json!({"name": "Plant A"})).await);
    let mut sessions = Vec::new();
    for role in Role::for_people() {
        let login = format!("u-{}", role.name());
        user(&h, &login, &[role.name()], &["A"]).await;
        sessions.push((role, session(&h, &login).await));
    }
    let routes = central::api::routes();
    let mut checked = 0;
    for Declared {
        method,
        path,
        policy,
    } in routes.declared().iter().cloned()
    {
        // Signing out would end the session the rest of the matrix uses; its own test is
        // below. Sign-in is public.
        if path == "/api/v1/session" {
            continue;
        }
        let uri = fill(path, "x1");
        for (role, s) in &sessions {
            let allowed = match policy.access {
                Access::Public | Access::SignedIn => true,
                Access::Edge => false,
                Access::Needs(p) => role.permissions().contains(p),
            };
            let body =
                matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
            let reply = as_session(&h, s, method.clone(), &uri, body, true).await;
            if allowed {
                assert!(
                    !matches!(
                        reply.status,
                        StatusCode::UNAUTHORIZED
                            | StatusCode::FORBIDDEN
                            | StatusCode::INTERNAL_SERVER_ERROR
                    ),
                    "{role} {method} {uri}: {} {}",
                    reply.status,
                    reply.json
                );
            } else if central::web::is_page(path) {
                // A page answers a browser: a page naming the permission (`web.rs`).
                let Access::Needs(needed) = policy.access else {
                    panic!("{method} {path}: a page for edges only?");
                };
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role} {method} {uri}");
                let html = reply.json.as_str().unwrap_or_default();
                assert!(
                    html.contains(&format!(r#"data-permission="{}""#, needed.name())),
                    "{role} {method} {uri}: {html}"
                );
            } else {
                let message = reply.assert_error(StatusCode::FORBIDDEN, "forbidden");
                let needed = match policy.access {
                    Access::Needs(p) => p,
                    _ => Permission::EdgeSync,
                };
                assert!(
                    message.contains(&format!("`{}`", needed.name())),
                    "{role} {method} {uri}: {message}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 800, "{checked}");
    // Nothing a role may not do was done: the only users are the ones made here.
    assert_eq!(
        h.store().users().await.unwrap().len(),
        1 + Role::for_people().count()
    );
    // Every denial is in the audit trail, with who, through which route, and what was missing.
    let denied = h
        .get(
            "/api/v1/audit?action=denied&actor=u-sales&limit=1000",
            ADMIN,
        )
        .await;
    let entries = denied.json["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    let release = entries
        .iter()
        .find(|e| e["operation"] == "POST /api/v1/work-orders/{id}/release")
        .expect("the sales user's attempt to release an order");
    assert_eq!(release["actor_kind"], "user");
    assert_eq!(
        release["after"]["missing_permission"],
        "work_orders.release"
    );
}

/// Two plants; a supervisor (with every plant-scoped role) of plant A asking for plant B's
/// records by id on every route that takes one gets 404, as for a record that does not exist,
/// and plant B's records are not in their lists.
#[tokio::test]
async fn records_of_another_plant_are_not_found() {
    let h = Harness::new().await;
    plant(&h).await; // line L1 of the default plant, edge line-1, work order routing for FRAME
    for p in ["A", "B"] {
        ok(&put(
            &h,
            &format!("/api/v1/plants/{p}"),
            json!({"name": format!("Plant {p}")}),
        )
        .await);
    }
    let mut edge_tokens = std::collections::HashMap::new();
    for p in ["A", "B"] {
        let made = h
            .post(
                "/api/v1/edges",
                ADMIN,
                json!({"edge_id": format!("edge-{p}"), "plant": p}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
        edge_tokens.insert(p, made.json["token"].as_str().unwrap().to_owned());
        ok(&put(
            &h,
            &format!("/api/v1/lines/L{p}"),
            json!({"description": "line", "edge_id": format!("edge-{p}"), "plant": p}),
        )
        .await);
        ok(&put(
            &h,
            &format!("/api/v1/work-centers/WC{p}"),
            json!({"line": format!("L{p}"), "station": "st-1"}),
        )
        .await);
        ok(&put(
            &h,
            &format!("/api/v1/warehouses/W{p}"),
            json!({"description": "stores", "plant": p}),
        )
        .await);
        ok(&put(
            &h,
            &format!("/api/v1/warehouses/W{p}/locations/LOC-{p}"),
            json!({"description": "rack"}),
        )
        .await);
        let reply = h
            .post(
                "/api/v1/work-orders",
                ADMIN,
                json!({"work_order": format!("WO-{p}"), "item": "FRAME", "qty": "10", "due": "2026-12-24", "line": format!("L{p}")}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    }
    import(
        &h,
        "inventory",
        "item,lot,location,qty\nSTEEL,LOT-A,LOC-A,100\nSTEEL,LOT-B,LOC-B,100\n",
    )
    .await;
    // SPC: a characteristic and an alarm of each plant.
    let mut spc = std::collections::HashMap::new();
    for p in ["A", "B"] {
        let wo = format!("WO-{p}");
        let made = crate::spc::records_of(&h, p, &format!("edge-{p}"), &edge_tokens[p], &wo).await;
        spc.insert(p.to_owned(), made);
    }
    // A kiosk link of each plant.
    let mut kiosks = std::collections::HashMap::new();
    for p in ["A", "B"] {
        let made = h
            .post(
                "/api/v1/kiosk-links",
                ADMIN,
                json!({"name": format!("TV {p}"), "plant": p}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
        kiosks.insert(p, made.json["link"]["link_id"].as_str().unwrap().to_owned());
    }
    let roles = [
        "plant_manager",
        "supervisor",
        "planner",
        "quality",
        "warehouse",
    ];
    user(&h, "sup-a", &roles, &["A"]).await;
    let s = session(&h, "sup-a").await;

    let ids = |p: &str| -> Vec<(&'static str, String)> {
        vec![
            ("{characteristic}", spc[p].0.to_string()),
            ("{alarm}", spc[p].1.to_string()),
            ("{edge_id}", format!("edge-{p}")),
            ("{line}", format!("L{p}")),
            ("{work_center}", format!("WC{p}")),
            ("{id}", format!("WO-{p}")),
            ("{warehouse}", format!("W{p}")),
            ("{location}", format!("LOC-{p}")),
            ("{lot}", format!("LOT-{p}")),
            ("{plant}", p.to_owned()),
            ("{link_id}", kiosks[p].clone()),
        ]
    };
    let with = |path: &str, p: &str| {
        ids(p)
            .into_iter()
            .fold(path.to_owned(), |acc, (param, id)| acc.replace(param, &id))
    };
    let mut swapped = 0;
    for d in central::api::routes().declared() {
        if d.policy.record.is_none() {
            continue;
        }
        let body =
            matches!(d.method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let theirs = as_session(
            &h,
            &s,
            d.method.clone(),
            &with(d.path, "B"),
            body.clone(),
            true,
        )
        .await;
        if !d.path.starts_with("/api/") {
            // A page: the same refusal, answered for a browser (a page naming what is not
            // there); their own plant's record opens.
            assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", d.path);
            let ours = as_session(&h, &s, d.method.clone(), &with(d.path, "A"), None, true).await;
            assert_eq!(ours.status, StatusCode::OK, "{}", d.path);
            swapped += 1;
            continue;
        }
        theirs.assert_error(StatusCode::NOT_FOUND, "not_found");
        let (record, param) = d.policy.record.unwrap();
        let id = ids("B")
            .into_iter()
            .find(|(p, _)| p.trim_matches(['{', '}']) == param)
            .unwrap()
            .1;
        assert_eq!(
            theirs.json["error"]["message"],
            format!("no {} {id:?}", record.noun()),
            "{} {}",
            d.method,
            d.path
        );
        if d.method == Method::GET {
            // Their own plant's record is theirs (an edge without a status yet answers its
            // own 404, not the record rule's).
            let ours = as_session(&h, &s, d.method.clone(), &with(d.path, "A"), None, true).await;
            let id = id.replace('B', "A");
            assert_ne!(
                ours.json["error"]["message"],
                format!("no {} {id:?}", record.noun()),
                "{} {}",
                d.method,
                d.path
            );
            assert!(
                ours.status == StatusCode::OK || d.path.starts_with("/api/v1/edges/"),
                "{} {}: {}",
                d.method,
                d.path,
                ours.json
            );
        }
        swapped += 1;
    }
    assert!(swapped >= 20, "{swapped} routes with a record rule");
    // Every other route that takes an id names a record of the whole company (or the
    // caller's own), each for a reason; a new route with an id must be one or the other.
    let company_wide = [
        (
            "{item}",
            "items, their conversions and routings are the company's master data",
        ),
        ("{parent}", "BOMs belong to items"),
        ("{revision}", "BOM revisions belong to items"),
        ("{supplier}", "suppliers serve every plant"),
        ("{run}", "an MRP run plans the whole company"),
        (
            "{planned_order}",
            "a planned order of a run, which plans the whole company",
        ),
        (
            "{number}",
            "purchase orders are bought for the whole company, like the MRP runs they come from",
        ),
        (
            "{task}",
            "the office's tasks are the company's office's (office.tasks)",
        ),
        ("{badge}", "the operator registry goes down to every line"),
        (
            "{login}",
            "users: the handler answers 404 for one who shares none of the caller's plants",
        ),
        ("{token_id}", "one's own tokens only: another's answers 404"),
        (
            "{token}",
            "a kiosk link's or an order status link's token is its own credential: a wrong one gets one refusal",
        ),
        (
            "{location}",
            "a location is checked through its warehouse, the rule's {warehouse}",
        ),
        // CRM records belong to salespeople, not plants: the store answers 404 for one
        // outside the caller's sales scope (their own, their team's, or all).
        ("{customer}", "a customer is scoped by its owner"),
        (
            "{delivery}",
            "a delivery is scoped by its sales order's owner",
        ),
        ("{contact}", "a contact is scoped by its owner"),
        ("{duplicate}", "a waiting card is scoped by its importer"),
        (
            "{activity}",
            "an activity is scoped by its owner and its customer's",
        ),
        ("{lead}", "a lead is scoped by its owner"),
        ("{opportunity}", "an opportunity is scoped by its owner"),
        (
            "{price_id}",
            "price rows are the company's price list, which every crm.read holder sees",
        ),
        ("{quotation}", "a quotation is scoped by its owner"),
        ("{order}", "a sales order is scoped by its owner"),
        (
            "{ticket}",
            "a ticket is scoped by its owner and its customer's owner",
        ),
        // OA: forms and workflows are the company's; a request is seen by its requester,
        // whoever it waits or waited on, and users.manage, others answer 404.
        ("{form}", "forms and their workflows are the company's"),
        (
            "{request}",
            "a request is seen by its requester and its approvers only",
        ),
        (
            "{action}",
            "an action on a request, checked like the request",
        ),
        (
            "{sha256}",
            "an attachment is read by its uploader and whoever sees a request naming it",
        ),
    ];
    for d in central::api::routes().declared() {
        if d.policy.record.is_some() || !d.path.contains('{') {
            continue;
        }
        for param in d.path.split('/').filter(|p| p.starts_with('{')) {
            assert!(
                company_wide.iter().any(|(p, _)| *p == param),
                "{} {} takes {param} but has no record rule and is not a company-wide record",
                d.method,
                d.path
            );
        }
    }
    // A user of another plant is not found either.
    user(&h, "op-b", &["supervisor"], &["B"]).await;
    as_session(&h, &s, Method::GET, "/api/v1/users/op-b", None, false)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let mine = as_session(&h, &s, Method::GET, "/api/v1/users/sup-a", None, false).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.json);

    // Lists hold plant A's records only.
    let list = |uri: &'static str| {
        let s = &s;
        let h = &h;
        async move { as_session(h, s, Method::GET, uri, None, false).await.json }
    };
    let orders = list("/api/v1/work-orders").await;
    let names: Vec<&str> = orders["work_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["work_order"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["WO-A"]);
    let edges = list("/api/v1/edges").await;
    let names: Vec<&str> = edges["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["edge_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["edge-A"]);
    let lines = list("/api/v1/lines").await;
    assert_eq!(lines["lines"].as_array().unwrap().len(), 1);
    let plants = list("/api/v1/plants").await;
    assert_eq!(plants["plants"].as_array().unwrap().len(), 1);
    let characteristics = list("/api/v1/spc/characteristics").await;
    assert_eq!(
        characteristics["characteristics"].as_array().unwrap().len(),
        1
    );
    assert_eq!(characteristics["characteristics"][0]["plant"], "A");
    for uri in ["/api/v1/spc/alarms", "/api/v1/floor/board"] {
        let alarms = list(uri).await;
        let plants: Vec<&str> = alarms["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["plant"].as_str().unwrap())
            .collect();
        assert_eq!(plants, ["A"], "{uri}");
    }

    // A body naming another plant's record: the ledger entry of plant B's stock.
    let ledger = h.get("/api/v1/inventory/ledger?lot=LOT-B", ADMIN).await;
    let entry = ledger.json["entries"][0]["entry_id"].as_i64().unwrap();
    as_session(
        &h,
        &s,
        Method::POST,
        "/api/v1/inventory/reversals",
        Some(json!({"entry_id": entry, "note": "not mine"})),
        true,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    // A stock count at another plant's location: refused, the row named, nothing booked.
    let count = h
        .send({
            let mut r = request(Method::POST, "/api/v1/import/inventory", None, None);
            *r.body_mut() =
                Body::from("item,lot,location,qty\nSTEEL,LOT-A,LOC-A,90\nSTEEL,LOT-B,LOC-B,1\n");
            r.headers_mut()
                .insert(header::CONTENT_TYPE, "text/csv".parse().unwrap());
            r.headers_mut()
                .insert(header::COOKIE, s.cookie.parse().unwrap());
            r.headers_mut()
                .insert("x-csrf-token", s.csrf.parse().unwrap());
            r
        })
        .await;
    count.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let details = count.json["error"]["details"].to_string();
    assert!(
        details.contains("LOC-B") && !details.contains("LOC-A"),
        "{details}"
    );
    let b = h.get("/api/v1/inventory?lot=LOT-B", ADMIN).await;
    assert_eq!(b.json["on_hand"][0]["qty"], "100", "{}", b.json);
    // Rotating another plant's edge's token: as if it did not exist; running a line with it:
    // the same; a new edge of one's own plant is made in it.
    as_session(
        &h,
        &s,
        Method::POST,
        "/api/v1/edges",
        Some(json!({"edge_id": "edge-B"})),
        true,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    as_session(
        &h,
        &s,
        Method::PUT,
        "/api/v1/lines/LA",
        Some(json!({"description": "line", "edge_id": "edge-B", "plant": "A"})),
        true,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let made = as_session(
        &h,
        &s,
        Method::POST,
        "/api/v1/edges",
        Some(json!({"edge_id": "edge-A2"})),
        true,
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    let listed = as_session(&h, &s, Method::GET, "/api/v1/edges", None, false).await;
    assert_eq!(
        listed.json["edges"].as_array().unwrap().len(),
        2,
        "{}",
        listed.json
    );
    // An edge of plant A cannot run a line of the default plant.
    let wrong = put(
        &h,
        "/api/v1/lines/L1",
        json!({"description": "frames", "edge_id": "edge-A"}),
    )
    .await;
    let message = wrong.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("serves plant A"), "{message}");
    // Creating in another plant: 403 naming the plant.
    as_session(
        &h,
        &s,
        Method::POST,
        "/api/v1/work-orders",
        Some(json!({"item": "FRAME", "qty": "1", "due": "2026-12-24", "line": "LB"})),
        true,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // Head office sees both plants and changes nothing.
    user(&h, "hq", &["viewer"], &[]).await;
    let hq = session(&h, "hq").await;
    let all = as_session(&h, &hq, Method::GET, "/api/v1/work-orders", None, false).await;
    assert_eq!(all.json["work_orders"].as_array().unwrap().len(), 2);
    as_session(
        &h,
        &hq,
        Method::POST,
        "/api/v1/work-orders/WO-B/release",
        None,
        true,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn sign_in_sessions_and_csrf() {
    let h = Harness::new().await;
    ok(&put(&h, "/api/v1/plants/A", json!({"name": "Plant A"})).await);
    user(&h, "li.wei", &["supervisor"], &["A"]).await;

    // A wrong password and an unknown login get the same answer.
    let (wrong, cookie) = sign_in(&h, "li.wei", "not-the-password").await;
    assert!(cookie.is_none());
    let (unknown, _) = sign_in(&h, "nobody", PASSWORD).await;
    assert_eq!(wrong.json, unknown.json);
    wrong.assert_error(StatusCode::UNAUTHORIZED, "sign_in_failed");

    let (reply, cookie) = sign_in(&h, "LI.WEI", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let cookie = cookie.unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(reply.json["user"]["login"], "li.wei");
    assert!(
        reply.json["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("work_orders.release"))
    );
    let s = Session {
        cookie: cookie.split(';').next().unwrap().to_owned(),
        csrf: reply.json["csrf_token"].as_str().unwrap().to_owned(),
    };
    let me = as_session(&h, &s, Method::GET, "/api/v1/me", None, false).await;
    assert_eq!(me.json["via"], "session");
    assert_eq!(me.json["sees_plants"], json!(["A"]));

    // A change without the CSRF token is refused, and nothing changes.
    let change = json!({"display_name": "x", "roles": ["viewer"]});
    as_session(
        &h,
        &s,
        Method::POST,
        "/api/v1/lots/L-1/hold",
        Some(json!({"reason": "x"})),
        false,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "csrf_failed");
    let _ = change;
    assert!(
        h.get("/api/v1/lot-holds", ADMIN).await.json["holds"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    );

    // /metrics counts sign-ins by outcome and names nobody.
    let metrics = h.call(Method::GET, "/metrics", None, None).await;
    let text = metrics.json.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains("mes_central_sign_ins_total{outcome=\"failed\"} 2"),
        "{text}"
    );
    assert!(
        !text.contains("li.wei") && !text.contains(&s.csrf),
        "{text}"
    );
    // The session id is stored hashed: not in the database file.
    let id = s.cookie.split('=').nth(1).unwrap().to_owned();
    for bytes in h.stored_bytes() {
        assert!(!bytes.windows(id.len()).any(|w| w == id.as_bytes()));
    }

    // Idle timeout: a session not used for longer than `sessions.idle` is over.
    h.sql(
        "UPDATE sessions SET last_seen = '2020-01-01T00:00:00.000000Z'",
        vec![],
    );
    // Central keeps credentials in memory between requests; a change behind its back is told.
    h.state.forget_cached_credentials();
    as_session(&h, &s, Method::GET, "/api/v1/me", None, false)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // A change made on a page is audited as its user's, with before and after.
    let s = session(&h, "li.wei").await;
    let held = as_session(
        &h,
        &s,
        Method::POST,
        "/api/v1/lots/L-9/hold",
        Some(json!({"reason": "burr on edge", "item": "STEEL"})),
        true,
    )
    .await;
    assert!(held.status.is_success(), "{}", held.json);
    let trail = h
        .get("/api/v1/audit?entity=lot_holds&entity_id=L-9", ADMIN)
        .await;
    let entry = &trail.json["entries"][0];
    assert_eq!(entry["actor"], "li.wei");
    assert_eq!(entry["actor_kind"], "user");
    assert_eq!(entry["action"], "insert");
    assert_eq!(entry["after"]["reason"], "burr on edge");
    // The failed sign-ins are there too, naming the login tried, never a password.
    let failed = h.get("/api/v1/audit?action=sign_in_failed", ADMIN).await;
    let text = failed.json.to_string();
    assert!(text.contains("\"nobody\""), "{text}");
    assert!(
        !text.contains(PASSWORD) && !text.contains("not-the-password"),
        "{text}"
    );

    // Sign out ends the session on the server.
    let s = session(&h, "li.wei").await;
    let out = as_session(&h, &s, Method::DELETE, "/api/v1/session", None, true).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.json);
    as_session(&h, &s, Method::GET, "/api/v1/me", None, false)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Signing in again with the ended session's cookie still in the browser works.
    let mut again = request(
        Method::POST,
        "/api/v1/session",
        None,
        Some(json!({"login": "li.wei", "password": PASSWORD})),
    );
    again
        .headers_mut()
        .insert(header::COOKIE, s.cookie.parse().unwrap());
    assert_eq!(h.send(again).await.status, StatusCode::OK);

    // Disabling a user ends their sessions.
    let s = session(&h, "li.wei").await;
    ok(&h
        .post("/api/v1/users/li.wei/disable", ADMIN, json!({}))
        .await);
    as_session(&h, &s, Method::GET, "/api/v1/me", None, false)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let (reply, _) = sign_in(&h, "li.wei", PASSWORD).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "sign_in_failed");
}

#[tokio::test]
async fn repeated_failures_lock_the_login() {
    let h = Harness::new().await;
    ok(&put(&h, "/api/v1/plants/A", json!({"name": "Plant A"})).await);
    user(&h, "wang.fang", &["planner"], &["A"]).await;
    for _ in 0..5 {
        let (reply, _) = sign_in(&h, "wang.fang", "guess-guess-guess").await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "sign_in_failed");
    }
    // Locked: even the right password is refused for now, with when to try again.
    let response = h
        .app()
        .oneshot(request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({"login": "wang.fang", "password": PASSWORD})),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Another login is not locked.
    user(&h, "zhao.lei", &["planner"], &["A"]).await;
    assert_eq!(
        sign_in(&h, "zhao.lei", PASSWORD).await.0.status,
        StatusCode::OK
    );
    // When the lock is over, the right password works again.
    h.sql(
        "UPDATE sign_in_failures SET locked_until = '2020-01-01T00:00:00.000000Z', first_at = '2020-01-01T00:00:00.000000Z'",
        vec![],
    );
    assert_eq!(
        sign_in(&h, "wang.fang", PASSWORD).await.0.status,
        StatusCode::OK
    );
    // Failures with made-up logins do not pile up: counters an hour old that lock nothing
    // go as new failures come.
    for n in 0..50 {
        h.sql(
            "INSERT INTO sign_in_failures (key, failures, first_at) VALUES (?1, 1, '2020-01-01T00:00:00.000000Z')",
            vec![crate::text(format!("login:made-up-{n}"))],
        );
    }
    sign_in(&h, "made-up-now", "guess-guess-guess").await;
    let left = h.sql("SELECT count(*) FROM sign_in_failures", vec![]);
    assert_eq!(left[0][0], 1, "only the new failure is counted");
}

#[tokio::test]
async fn personal_tokens_carry_a_subset_and_can_be_revoked() {
    let h = Harness::new().await;
    ok(&put(&h, "/api/v1/plants/A", json!({"name": "Plant A"})).await);
    user(&h, "chen.jie", &["quality"], &["A"]).await;
    let s = session(&h, "chen.jie").await;

    // More than one's own permissions: refused.
    as_session(
        &h,
        &s,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "too much", "expires_in_days": 30, "permissions": ["users.manage"]})),
        true,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    let made = as_session(
        &h,
        &s,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "holds script", "expires_in_days": 30, "permissions": ["work_orders.read"]})),
        true,
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    let token = made.json["token"].as_str().unwrap().to_owned();
    let token_id = made.json["token_id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("mes_pat_"));

    // It reads, it does not hold lots (its owner may, the token may not).
    assert_eq!(
        h.get("/api/v1/work-orders", &token).await.status,
        StatusCode::OK
    );
    let denied = h
        .post("/api/v1/lots/L-1/hold", &token, json!({"reason": "x"}))
        .await;
    let message = denied.assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("`lots.hold`"), "{message}");
    // The list shows it, with its last use, never the secret.
    let list = as_session(&h, &s, Method::GET, "/api/v1/me/tokens", None, false).await;
    let text = list.json.to_string();
    assert!(!text.contains(&token));
    assert!(list.json["tokens"][0]["last_used_at"].is_string(), "{text}");
    // Stored as its hash only.
    for bytes in h.stored_bytes() {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
    // A token cannot make tokens.
    let reply = h
        .post(
            "/api/v1/me/tokens",
            &token,
            json!({"name": "child", "expires_in_days": 1}),
        )
        .await;
    reply.assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Revoked: 401.
    let revoked = as_session(
        &h,
        &s,
        Method::DELETE,
        &format!("/api/v1/me/tokens/{token_id}"),
        None,
        true,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.json);
    let message = h
        .get("/api/v1/work-orders", &token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .to_owned();
    assert!(message.contains("revoked"), "{message}");

    // Expired: 401.
    let made = as_session(
        &h,
        &s,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "short", "expires_in_days": 1})),
        true,
    )
    .await;
    let token = made.json["token"].as_str().unwrap().to_owned();
    h.sql(
        "UPDATE api_tokens SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE name = 'short'",
        vec![],
    );
    h.state.forget_cached_credentials();
    let message = h
        .get("/api/v1/me", &token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized")
        .to_owned();
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn passwords_are_checked_changed_and_reset() {
    let h = Harness::new().await;
    ok(&put(&h, "/api/v1/plants/A", json!({"name": "Plant A"})).await);
    // Weak passwords are refused when a user is made.
    for weak in ["short", "password1234", "Password2024!", "li.wei.li.wei.x"] {
        let reply = put(
            &h,
            "/api/v1/users/li.wei",
            json!({"display_name": "Li Wei", "roles": ["supervisor"], "plants": ["A"], "password": weak}),
        )
        .await;
        reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    user(&h, "li.wei", &["supervisor"], &["A"]).await;
    let first = session(&h, "li.wei").await;
    let second = session(&h, "li.wei").await;
    // A wrong current password changes nothing.
    as_session(
        &h,
        &first,
        Method::PUT,
        "/api/v1/me/password",
        Some(json!({"current": "wrong-wrong-wrong", "new": "another-kettle-on-line-7"})),
        true,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "wrong_password");
    let changed = as_session(
        &h,
        &first,
        Method::PUT,
        "/api/v1/me/password",
        Some(json!({"current": PASSWORD, "new": "another-kettle-on-line-7"})),
        true,
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.json);
    // The session that changed it goes on; the other one ended.
    assert_eq!(
        as_session(&h, &first, Method::GET, "/api/v1/me", None, false)
            .await
            .status,
        StatusCode::OK
    );
    as_session(&h, &second, Method::GET, "/api/v1/me", None, false)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        sign_in(&h, "li.wei", "another-kettle-on-line-7")
            .await
            .0
            .status,
        StatusCode::OK
    );
    // An administrator's reset: a new password, shown once, that works.
    let reset = h
        .post("/api/v1/users/li.wei/reset-password", ADMIN, json!({}))
        .await;
    let password = reset.json["password"].as_str().unwrap().to_owned();
    assert_eq!(
        sign_in(&h, "li.wei", &password).await.0.status,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&h, "li.wei", "another-kettle-on-line-7")
            .await
            .0
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn users_import_from_csv_all_or_nothing() {
    let h = Harness::new().await;
    ok(&put(&h, "/api/v1/plants/A", json!({"name": "Plant A"})).await);
    let csv_reply = |body: &'static str| {
        let h = &h;
        async move {
            h.send(
                Request::builder()
                    .method(Method::POST)
                    .uri("/api/v1/import/users")
                    .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
                    .header(header::CONTENT_TYPE, "text/csv")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
        }
    };
    let bad = csv_reply(
        "login,display_name,roles,plants,manager\n\
         zhang.min,Zhang Min,supervisor,A,li.na\n\
         bad login,X,wizard,A,\n",
    )
    .await;
    bad.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let details = bad.json["error"]["details"].to_string();
    assert!(
        details.contains("wizard") && details.contains("login"),
        "{details}"
    );
    assert_eq!(
        h.store().users().await.unwrap().len(),
        1,
        "nothing imported"
    );

    let good = csv_reply(
        "login,display_name,roles,plants,manager,language\n\
         li.na,李娜,plant_manager,A,,zh\n\
         zhang.min,Zhang Min,supervisor;quality,A,li.na,en\n",
    )
    .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.json);
    assert_eq!(good.json["created"], 2);
    let password = good.json["passwords"]["zhang.min"].as_str().unwrap();
    assert_eq!(
        sign_in(&h, "zhang.min", password).await.0.status,
        StatusCode::OK
    );
    let user = h.get("/api/v1/users/zhang.min", ADMIN).await;
    assert_eq!(user.json["manager"], "li.na");
    assert_eq!(user.json["roles"], json!(["supervisor", "quality"]));
}

/// A data directory made by the previous schema (6: no users, no audit trail, warehouses of
/// no plant) opens: its warehouses and lines are the default plant's, the first
/// administrator is made, the admin token goes on working, and a supervisor of the default
/// plant sees what was there.
#[tokio::test]
async fn a_schema_6_data_dir_upgrades_into_the_default_plant() {
    if !super::sqlite_only("an upgrade from SQLite schema 6") {
        return;
    }
    let h = Harness::new().await;
    plant(&h).await;
    ok(&put(
        &h,
        "/api/v1/warehouses/MAIN",
        json!({"description": "main stores"}),
    )
    .await);
    {
        let conn = rusqlite::Connection::open(h.dir.path().join("central.db")).unwrap();
        conn.execute_batch(
            "DROP TABLE users; DROP TABLE sessions; DROP TABLE sign_in_failures;
             DROP TABLE api_tokens; DROP TABLE api_token_uses; DROP TABLE audit_log;
             ALTER TABLE erp_warehouses DROP COLUMN plant;
             PRAGMA user_version = 6;",
        )
        .unwrap();
    }
    let h = h.reopen().await;
    let version: i64 = rusqlite::Connection::open(h.dir.path().join("central.db"))
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 11, "upgraded to the current schema");
    assert!(
        h.store().ensure_bootstrap_admin().await.unwrap(),
        "made on upgrade"
    );
    let admins = h.store().users().await.unwrap();
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0].roles, [Role::Administrator]);
    let wh = h.get("/api/v1/warehouses/MAIN", ADMIN).await;
    assert_eq!(wh.json["plant"], "default", "{}", wh.json);
    assert_eq!(
        h.get("/api/v1/lines/L1", ADMIN).await.json["plant"],
        "default"
    );
    user(&h, "old.hand", &["supervisor"], &["default"]).await;
    let s = session(&h, "old.hand").await;
    let wh = as_session(&h, &s, Method::GET, "/api/v1/warehouses/MAIN", None, false).await;
    assert_eq!(wh.status, StatusCode::OK, "{}", wh.json);
    let lines = as_session(&h, &s, Method::GET, "/api/v1/lines", None, false).await;
    assert_eq!(lines.json["lines"].as_array().unwrap().len(), 1);
}

/// Operators keep their badges at the line; a user with that badge is the person behind it.
#[tokio::test]
async fn a_badge_names_its_user() {
    let h = Harness::new().await;
    ok(&put(&h, "/api/v1/plants/A", json!({"name": "Plant A"})).await);
    ok(&put(
        &h,
        "/api/v1/operators/10442",
        json!({"name": "Li Wei", "skills": ["press"]}),
    )
    .await);
    let reply = put(
        &h,
        "/api/v1/users/li.wei",
        json!({"display_name": "Li Wei", "roles": ["supervisor"], "plants": ["A"], "badge": "10442"}),
    )
    .await;
    ok(&reply);
    assert_eq!(
        h.get("/api/v1/operators/10442", ADMIN).await.json["user"],
        "li.wei"
    );
    let list = h.get("/api/v1/operators", ADMIN).await;
    assert_eq!(list.json["operators"][0]["user"], "li.wei");
    // One badge, one person.
    put(
        &h,
        "/api/v1/users/wang.fang",
        json!({"display_name": "Wang Fang", "roles": ["supervisor"], "plants": ["A"], "badge": "10442"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "conflict");
}
