//! Issue 15: the work order pages and the traceability page, and the API they are rendered
//! from (`GET /api/v1/work-orders` with filters, `/work-orders/{id}/lots`, `/timeline`,
//! `GET /api/v1/lots/{lot}/trace`), on both engines.

use crate::work_orders::{act, create, d, ok, plant, reported, send, started};
use crate::*;
use axum::http::HeaderMap;
use chrono::{DateTime, Duration};

const PASSWORD: &str = "a long enough password 1";

fn at_minute(seq: u64, minute: i64, kind: EventKind) -> Event {
    let mut e = event("line-1", seq);
    e.at += Duration::minutes(minute);
    e.kind = kind;
    e
}

fn issue(wo: &str, item: &str, lot: &str, qty: &str, uom: &str) -> EventKind {
    EventKind::MaterialIssued {
        work_order: wo.into(),
        operation: Some(10),
        item: item.into(),
        lot: lot.into(),
        qty: d(qty),
        uom: uom.into(),
    }
}

fn produce(wo: &str, lot: &str, qty: &str, consumed: &[&str]) -> EventKind {
    produce_item(wo, "FRAME", lot, qty, consumed)
}

fn produce_item(wo: &str, item: &str, lot: &str, qty: &str, consumed: &[&str]) -> EventKind {
    EventKind::LotProduced {
        work_order: wo.into(),
        item: item.into(),
        lot: lot.into(),
        qty: d(qty),
        uom: "ea".into(),
        consumed_lots: consumed.iter().map(|l| (*l).into()).collect(),
    }
}

/// WO-1 (100 FRAME) and WO-10 (an id WO-1's is a prefix of), released and produced on
/// `line-1`: 12 events, the ones of WO-10 between WO-1's.
async fn produced(h: &Harness) -> String {
    let token = plant(h).await;
    create(h, "WO-1", "100").await;
    create(h, "WO-10", "5").await;
    ok(&act(h, "WO-1", "release").await);
    ok(&act(h, "WO-10", "release").await);
    let events = vec![
        at_minute(1, 0, started("WO-1", 10)),
        at_minute(2, 1, issue("WO-1", "STEEL", "S-1", "30", "kg")),
        at_minute(3, 1, issue("WO-1", "STEEL", "S-2", "5", "kg")),
        at_minute(4, 2, issue("WO-10", "STEEL", "S-1", "2", "kg")),
        at_minute(5, 2, reported("WO-1", 10, 40, 2)),
        at_minute(6, 3, reported("WO-10", 10, 5, 0)),
        at_minute(7, 3, started("WO-1", 20)),
        at_minute(8, 4, reported("WO-1", 20, 38, 1)),
        at_minute(9, 4, issue("WO-1", "BOLT", "B-1", "160", "ea")),
        at_minute(10, 5, produce("WO-1", "F-1", "38", &["S-1"])),
        at_minute(
            11,
            5,
            EventKind::Measurement {
                characteristic: "length".into(),
                value: 12.5,
                unit: "mm".into(),
                work_order: Some("WO-1".into()),
            },
        ),
        at_minute(12, 6, produce("WO-10", "F-10", "5", &["S-1"])),
    ];
    send(h, &token, &events).await;
    token
}

#[tokio::test]
async fn issue_15_an_orders_lots_come_from_the_ledger_net_of_reversals() {
    let h = Harness::new().await;
    produced(&h).await;
    let lots = h.get("/api/v1/work-orders/WO-1/lots", ADMIN).await;
    ok(&lots);
    let issued: Vec<(String, String, String)> = lots.json["issued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["item"].as_str().unwrap().to_owned(),
                l["lot"].as_str().unwrap().to_owned(),
                format!(
                    "{} {}",
                    l["qty"].as_str().unwrap(),
                    l["uom"].as_str().unwrap()
                ),
            )
        })
        .collect();
    let expected = [
        ("BOLT", "B-1", "160 ea"),
        ("STEEL", "S-1", "30 kg"),
        ("STEEL", "S-2", "5 kg"),
    ];
    assert_eq!(
        issued,
        expected
            .iter()
            .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
            .collect::<Vec<(String, String, String)>>(),
        "WO-10's issue of S-1 is not WO-1's"
    );
    assert_eq!(lots.json["produced"][0]["lot"], "F-1");
    assert_eq!(lots.json["produced"][0]["qty"], "38");
    assert_eq!(lots.json["produced"].as_array().unwrap().len(), 1);
    assert_eq!(lots.json["holds"], json!([]));

    // The issue of S-2 reversed: it no longer counts. A hold on F-1 shows.
    let ledger = h
        .get(
            "/api/v1/inventory/ledger?item=STEEL&lot=S-2&location=line-1",
            ADMIN,
        )
        .await;
    let entry = ledger.json["entries"][0]["entry_id"].as_i64().unwrap();
    let reply = h
        .post(
            "/api/v1/inventory/reversals",
            ADMIN,
            json!({"entry_id": entry, "note": "wrong lot scanned"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let reply = h
        .post(
            "/api/v1/lots/F-1/hold",
            ADMIN,
            json!({"reason": "weld porosity"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let lots = h.get("/api/v1/work-orders/WO-1/lots", ADMIN).await.json;
    let lots_issued: Vec<&str> = lots["issued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lot"].as_str().unwrap())
        .collect();
    assert_eq!(lots_issued, ["B-1", "S-1"], "S-2's only issue was reversed");
    assert_eq!(lots["holds"][0]["lot"], "F-1");
    assert_eq!(lots["holds"][0]["reason"], "weld porosity");

    h.get("/api/v1/work-orders/WO-404/lots", ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn issue_15_an_orders_timeline_is_its_own_events_newest_first_paged_without_gaps() {
    let h = Harness::new().await;
    produced(&h).await;
    let all = h
        .get("/api/v1/work-orders/WO-1/timeline?limit=200", ADMIN)
        .await;
    ok(&all);
    let seqs = |v: &Value| -> Vec<u64> {
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect()
    };
    // Newest first by event time, then seq; none of WO-10's.
    assert_eq!(seqs(&all.json), vec![11, 10, 9, 8, 7, 5, 3, 2, 1]);
    assert_eq!(all.json["next"], Value::Null);
    assert_eq!(all.json["entries"][0]["kind"], "measurement");
    assert_eq!(all.json["entries"][1]["event"]["lot"], "F-1");

    // Two at a time (ties in time across pages included): the same entries, once each.
    let mut paged = Vec::new();
    let mut uri = "/api/v1/work-orders/WO-1/timeline?limit=2".to_owned();
    for _ in 0..10 {
        let page = h.get(&uri, ADMIN).await;
        ok(&page);
        paged.extend(seqs(&page.json));
        let next = &page.json["next"];
        if next.is_null() {
            break;
        }
        let at = next["at"].as_str().unwrap();
        uri = format!(
            "/api/v1/work-orders/WO-1/timeline?limit=2&before_at={}&before_edge={}&before_seq={}",
            at.replace('+', "%2B").replace(':', "%3A"),
            next["edge_id"].as_str().unwrap(),
            next["seq"]
        );
    }
    assert_eq!(paged, seqs(&all.json));

    let wo10 = h.get("/api/v1/work-orders/WO-10/timeline", ADMIN).await;
    assert_eq!(seqs(&wo10.json), vec![12, 6, 4]);

    // Bad paging is refused, not guessed at.
    h.get("/api/v1/work-orders/WO-1/timeline?before_seq=3", ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    h.get(
        "/api/v1/work-orders/WO-1/timeline?before_at=2026-11-27T08:30:00Z&before_edge=line-1&before_seq=18446744073709551615",
        ADMIN,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    h.get("/api/v1/work-orders/WO-1/timeline?limit=0", ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    h.get(
        "/api/v1/work-orders/WO-1/timeline?limit=99999999999999999999999",
        ADMIN,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn issue_15_the_list_filters_counts_and_pages() {
    let h = Harness::new().await;
    produced(&h).await;
    create(&h, "WO-2", "7").await;
    let list = h.get("/api/v1/work-orders", ADMIN).await.json;
    assert_eq!(list["total"], 3);
    assert_eq!(
        list["counts"],
        json!({"in_progress": 2, "planned": 1}),
        "{list}"
    );
    let ids = |v: &Value| -> Vec<String> {
        v["work_orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["work_order"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&list), ["WO-1", "WO-10", "WO-2"]);
    let planned = h.get("/api/v1/work-orders?state=planned", ADMIN).await.json;
    assert_eq!(ids(&planned), ["WO-2"]);
    assert_eq!(
        planned["counts"]["in_progress"], 2,
        "counts leave the state filter out"
    );
    let page = h
        .get("/api/v1/work-orders?offset=1&limit=1", ADMIN)
        .await
        .json;
    assert_eq!(
        (ids(&page), page["total"].as_u64()),
        (vec!["WO-10".to_owned()], Some(3))
    );
    let found = h.get("/api/v1/work-orders?q=wo-1", ADMIN).await.json;
    assert_eq!(ids(&found), ["WO-1", "WO-10"]);
    let none = h
        .get(
            "/api/v1/work-orders?due_from=2026-12-02&item=FRAME&line=L1",
            ADMIN,
        )
        .await
        .json;
    assert_eq!(none["total"], 0);
    let due = h
        .get("/api/v1/work-orders?due_to=2026-12-01&plant=default", ADMIN)
        .await
        .json;
    assert_eq!(due["total"], 3);
    for bad in [
        "limit=0",
        "limit=1001",
        "offset=-1",
        "due_from=tomorrow",
        "state=lost",
        "nonsense=1",
    ] {
        h.get(&format!("/api/v1/work-orders?{bad}"), ADMIN)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    // The same list as CSV.
    let reply = h
        .app()
        .oneshot(request(
            Method::GET,
            "/api/v1/work-orders.csv?q=wo-1",
            Some(ADMIN),
            None,
        ))
        .await
        .unwrap();
    assert!(
        reply.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(reply.status(), StatusCode::OK);
    let bytes = reply.into_body().collect().await.unwrap().to_bytes();
    let csv = String::from_utf8(bytes.to_vec()).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "work_order,item,line,qty,due,priority,state,good,scrap"
    );
    let wo1 = &found["work_orders"][0];
    assert_eq!(
        rows[1],
        format!(
            "WO-1,FRAME,L1,100,2026-12-01,5,in_progress,{},{}",
            wo1["good"], wo1["scrap"]
        )
    );
    assert_eq!(rows.len(), 3);
    let long = "x".repeat(101);
    h.get(&format!("/api/v1/work-orders?q={long}"), ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

/// R-1 → S-1 → F-1 → P-1 → Q-1 (each made of the one before), and S-1 also into F-10.
async fn chain(h: &Harness) {
    let token = produced(h).await;
    let more = vec![
        at_minute(13, 7, produce("WO-1", "P-1", "1", &["F-1"])),
        at_minute(14, 8, produce("WO-10", "Q-1", "1", &["P-1"])),
        at_minute(15, 9, produce_item("WO-10", "STEEL", "S-1", "1", &["R-1"])),
    ];
    send(h, &token, &more).await;
}

#[tokio::test]
async fn issue_15_a_lots_trace_goes_both_ways_bounded_with_where_each_lot_is() {
    let h = Harness::new().await;
    chain(&h).await;
    let trace = h.get("/api/v1/lots/F-1/trace", ADMIN).await;
    ok(&trace);
    let nodes = trace.json["nodes"].as_array().unwrap();
    let side_of = |lot: &str| -> (String, u64) {
        let n = nodes.iter().find(|n| n["lot"] == lot).unwrap_or_else(|| {
            panic!("{lot} in {}", trace.json);
        });
        (
            n["side"].as_str().unwrap().to_owned(),
            n["depth"].as_u64().unwrap(),
        )
    };
    assert_eq!(side_of("F-1"), ("start".into(), 0));
    assert_eq!(side_of("S-1"), ("backward".into(), 1));
    assert_eq!(side_of("R-1"), ("backward".into(), 2));
    assert_eq!(side_of("P-1"), ("forward".into(), 1));
    assert_eq!(side_of("Q-1"), ("forward".into(), 2));
    assert_eq!(nodes[0]["lot"], "F-1");
    assert_eq!(nodes[0]["made_by"], json!(["WO-1"]));
    let s1 = nodes.iter().find(|n| n["lot"] == "S-1").unwrap();
    assert_eq!(s1["used_by"], json!(["WO-1", "WO-10"]));
    assert_eq!(s1["item"], "STEEL");
    // Where it is now: what the inventory API answers for the lot.
    let f1 = &nodes[0];
    let stock = h
        .get("/api/v1/inventory?item=FRAME&lot=F-1", ADMIN)
        .await
        .json;
    assert_eq!(f1["on_hand"], stock["on_hand"]);
    assert_eq!(f1["on_hand"][0]["location"], "line-1");
    assert_eq!(trace.json["left_out_backward"], 0);
    assert!(
        trace.json["links"]
            .as_array()
            .unwrap()
            .contains(&json!({"produced": "F-1", "consumed": "S-1"}))
    );

    // One level each way: the rest is counted, not shown.
    let near = h
        .get("/api/v1/lots/F-1/trace?levels=1&nodes=1", ADMIN)
        .await
        .json;
    let shown: Vec<&str> = near["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["lot"].as_str().unwrap())
        .collect();
    // F-1 was made of what WO-1 issued (B-1, S-1, S-2): B-1 is shown, S-1 and S-2 counted;
    // P-1 is shown and Q-1, beyond it, counted. R-1, beyond S-1, is not even looked at.
    assert_eq!(shown, ["F-1", "B-1", "P-1"], "{near}");
    assert_eq!(
        (
            near["left_out_backward"].as_u64(),
            near["left_out_forward"].as_u64()
        ),
        (Some(2), Some(1)),
        "{near}"
    );
    let full = trace.json["nodes"].as_array().unwrap().len();
    assert_eq!(full, 7, "{}", trace.json);
    for bad in ["levels=0", "levels=21", "nodes=0", "nodes=201", "levels=x"] {
        h.get(&format!("/api/v1/lots/F-1/trace?{bad}"), ADMIN)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
}

// ---------------------------------------------------------------------------------------------
// The pages

struct PageReply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn page(h: &Harness, path: &str, session: &str) -> PageReply {
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::COOKIE, format!("mes_session={session}"))
        .body(Body::empty())
        .unwrap();
    let response = h.app().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    PageReply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("pages are utf-8"),
    }
}

pub(crate) async fn person(
    h: &Harness,
    login: &str,
    roles: &[&str],
    plants: &[&str],
    lang: &str,
) -> String {
    let reply = h
        .call(
            Method::PUT,
            &format!("/api/v1/users/{login}"),
            Some(ADMIN),
            Some(json!({
                "display_name": login, "roles": roles, "plants": plants,
                "language": lang, "time_zone": "Asia/Shanghai", "password": PASSWORD
            })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
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
        .unwrap()
        .to_owned()
}

/// `attr="value"` values of the elements that carry `marker` in the body, in order.
fn values_after<'a>(body: &'a str, marker: &str) -> Vec<&'a str> {
    body.split(marker)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

#[tokio::test]
async fn issue_15_the_pages_show_what_the_api_answers_to_whom_it_may() {
    let h = Harness::new().await;
    chain(&h).await;
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/plants/plant-b",
            Some(ADMIN),
            Some(json!({"name": "Plant B"})),
        )
        .await;
    ok(&reply);
    let supervisor = person(&h, "zhou.min", &["supervisor"], &["default"], "zh").await;
    let other_plant = person(&h, "zhao.lei", &["supervisor"], &["plant-b"], "en").await;
    let kiosk = person(&h, "tv-1", &["kiosk"], &["default"], "zh").await;

    // The list: the rows and counts the API answers, in Chinese.
    let list = page(&h, "/work-orders", &supervisor).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains("工单"), "{}", list.body);
    assert_eq!(
        values_after(&list.body, r#"<tr data-work-order=""#),
        ["WO-1", "WO-10"]
    );
    assert!(
        list.body
            .contains(r#"data-state="in_progress" data-count="2""#)
    );
    assert!(list.body.contains(r#"href="/work-orders/WO-1""#));
    assert!(list.body.contains(r#"href="/work-orders""#), "the nav link");
    assert!(list.body.contains(r#"href="/trace""#), "the nav link");
    let filtered = page(&h, "/work-orders?q=WO-10&state=&lang=en", &supervisor).await;
    assert_eq!(
        values_after(&filtered.body, r#"<tr data-work-order=""#),
        ["WO-10"]
    );
    assert!(filtered.body.contains("Work orders"));
    assert_eq!(
        page(&h, "/work-orders?due_from=someday", &supervisor)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // One order: its figures as the API has them.
    let view = h.get("/api/v1/work-orders/WO-1", ADMIN).await.json;
    let one = page(&h, "/work-orders/WO-1?lang=en", &supervisor).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    let good = view["operations"][1]["good"].as_u64().unwrap();
    assert!(
        one.body
            .contains(&format!(r#"<dd id="wo-good">{good}</dd>"#)),
        "{}",
        one.body
    );
    let steel = view["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == "STEEL")
        .unwrap();
    assert!(one.body.contains(&format!(
        r#"<td class="num issued">{}</td>"#,
        steel["issued"].as_str().unwrap()
    )));
    assert!(
        one.body.contains(r#"<a href="/trace/F-1">F-1</a>"#),
        "{}",
        one.body
    );
    assert!(
        one.body.contains(r#"href="/trace/S-1" data-lot="S-1""#),
        "{}",
        one.body
    );
    assert_eq!(
        values_after(&one.body, r#"<tr data-kind=""#).len(),
        h.get("/api/v1/work-orders/WO-1/timeline", ADMIN).await.json["entries"]
            .as_array()
            .unwrap()
            .len()
    );
    // A supervisor may hold it (work_orders.release) and cancel it (work_orders.close).
    assert!(one.body.contains(r#"data-action="hold""#));
    assert!(one.body.contains(r#"data-action="cancel""#));
    assert!(one.body.contains("Material issued against the BOM"));
    // What people did to it, from the audit trail; who did it only for those who may read
    // the trail.
    assert!(
        one.body
            .contains(r#"<td class="change">Planned → Released</td><td></td>"#),
        "{}",
        one.body
    );
    let admin = person(&h, "wang.fang", &["administrator"], &[], "en").await;
    let theirs = page(&h, "/work-orders/WO-1", &admin).await;
    assert!(
        theirs
            .body
            .contains(r#"<td class="change">Planned → Released</td><td>admin</td>"#),
        "{}",
        theirs.body
    );

    // The trace: a graph whose lots link to their own traces, and the orders they touched.
    let trace = page(&h, "/trace/F-1", &supervisor).await;
    assert_eq!(trace.status, StatusCode::OK, "{}", trace.body);
    assert!(trace.body.contains(r#"<svg id="trace-graph""#));
    assert!(
        trace
            .body
            .contains(r#"<a href="/trace/S-1" class="lot backward""#),
        "{}",
        trace.body
    );
    assert!(
        trace
            .body
            .contains(r#"<a href="/trace/P-1" class="lot forward""#)
    );
    assert!(
        trace
            .body
            .contains(r#"<a href="/work-orders/WO-10">WO-10</a>"#)
    );
    assert!(trace.body.contains("批次追溯"));
    assert_eq!(trace.body.matches("<script").count(), 2, "no inline script");
    let asked = page(&h, "/trace?lot=S-1", &supervisor).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(asked.headers["location"], "/trace/S-1");
    assert_eq!(page(&h, "/trace", &supervisor).await.status, StatusCode::OK);

    // Another plant's supervisor: none of it.
    let theirs = page(&h, "/work-orders", &other_plant).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(values_after(&theirs.body, r#"<tr data-work-order=""#).is_empty());
    assert_eq!(
        page(&h, "/work-orders/WO-1", &other_plant).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        page(&h, "/trace/F-1", &other_plant).await.status,
        StatusCode::NOT_FOUND
    );

    // A kiosk reads neither: refused with the permission named, and no nav link.
    let refused = page(&h, "/work-orders", &kiosk).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused
            .body
            .contains(r#"data-permission="work_orders.read""#)
    );
    let refused = page(&h, "/trace/F-1", &kiosk).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains(r#"data-permission="inventory.read""#));
    assert!(!refused.body.contains(r#"href="/work-orders""#));
}

#[tokio::test]
async fn issue_15_a_timeline_page_pages_by_its_cursor() {
    let h = Harness::new().await;
    produced(&h).await;
    let session = person(&h, "wu.gang", &["planner"], &["default"], "en").await;
    let first = page(&h, "/work-orders/WO-1", &session).await;
    assert_eq!(first.status, StatusCode::OK);
    // A planner may hold an order but not cancel it; quality may do neither.
    assert!(first.body.contains(r#"data-action="hold""#));
    assert!(!first.body.contains(r#"data-action="cancel""#));
    let quality = person(&h, "sun.li", &["quality"], &["default"], "en").await;
    let theirs = page(&h, "/work-orders/WO-1", &quality).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(!theirs.body.contains("data-action="));
    // Nine entries fit on one page: no link to older ones.
    assert!(!first.body.contains(r#"id="timeline-older""#));
    let cursor = h
        .get("/api/v1/work-orders/WO-1/timeline?limit=3", ADMIN)
        .await
        .json["next"]
        .clone();
    let at: DateTime<chrono::Utc> = cursor["at"].as_str().unwrap().parse().unwrap();
    let older = page(
        &h,
        &format!(
            "/work-orders/WO-1?before_at={}&before_edge=line-1&before_seq={}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .replace(':', "%3A"),
            cursor["seq"]
        ),
        &session,
    )
    .await;
    assert_eq!(older.status, StatusCode::OK, "{}", older.body);
    assert_eq!(
        values_after(&older.body, r#"data-seq=""#),
        ["8", "7", "5", "3", "2", "1"]
    );
    assert!(older.body.contains(r#"id="timeline-newest""#));
    assert_eq!(
        page(&h, "/work-orders/WO-1?before_seq=zz", &session)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn issue_15_a_widely_used_lot_is_traced_within_its_bounds() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    create(&h, "WO-1", "1000").await;
    ok(&act(&h, "WO-1", "release").await);
    // One coil of steel went into 300 frames.
    let events: Vec<Event> = (1..=300)
        .map(|i| {
            at_minute(
                i,
                i as i64,
                produce("WO-1", &format!("F-{i:03}"), "1", &["COIL-1"]),
            )
        })
        .collect();
    send(&h, &token, &events).await;
    let trace = h.get("/api/v1/lots/COIL-1/trace", ADMIN).await;
    ok(&trace);
    let forward = trace.json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["side"] == "forward")
        .count();
    assert_eq!(forward, 40, "the default bound");
    assert_eq!(trace.json["left_out_forward"], 260);
    assert_eq!(trace.json["links"].as_array().unwrap().len(), 40);
    // The page says so.
    let session = person(&h, "zhou.min", &["supervisor"], &["default"], "en").await;
    let reply = page(&h, "/trace/COIL-1", &session).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .body
            .contains("left out: at least 0 more backward and 260 more forward"),
        "{}",
        reply.body
    );
    assert_eq!(reply.body.matches(r#"class="lot forward""#).count(), 40);
}

/// The live OEE and head office pages (issue 15) keep to the caller's plants: another plant's
/// supervisor is not told the default plant's figures, live or not, and head office lists
/// their own plant alone; a page of one's own plant sends its live part at once.
#[tokio::test]
async fn issue_15_live_oee_and_head_office_pages_keep_to_ones_plants() {
    let h = Harness::new().await;
    plant(&h).await;
    ok(&h
        .call(
            Method::PUT,
            "/api/v1/plants/plant-b",
            Some(ADMIN),
            Some(json!({"name": "Plant B"})),
        )
        .await);
    let supervisor = person(&h, "zhou.min", &["supervisor"], &["default"], "zh").await;
    let other_plant = person(&h, "zhao.lei", &["supervisor"], &["plant-b"], "en").await;
    for path in [
        "/floor/oee/live?plant=default",
        "/floor/oee?plant=default",
        "/floor/oee?plant=default&line=L1",
    ] {
        let reply = page(&h, path, &other_plant).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
    }
    let side = page(&h, "/floor/plants", &other_plant).await;
    assert_eq!(side.status, StatusCode::OK, "{}", side.body);
    assert!(
        side.body.contains("data-plant=\"plant-b\""),
        "{}",
        side.body
    );
    assert!(
        !side.body.contains("data-plant=\"default\""),
        "{}",
        side.body
    );
    // An out-of-bounds line is refused where it enters.
    let reply = page(
        &h,
        &format!("/floor/oee?line={}", "L".repeat(300)),
        &supervisor,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    // One's own plant: the live part at once, as a server-sent `page` event.
    for path in [
        "/floor/oee/live?plant=default&lang=en",
        "/floor/plants/live?lang=zh",
    ] {
        let request = Request::builder()
            .uri(path)
            .header(header::COOKIE, format!("mes_session={supervisor}"))
            .body(Body::empty())
            .unwrap();
        let response = h.app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream",
            "{path}"
        );
        let mut body = response.into_body();
        let mut text = String::new();
        while !text.contains("\n\n") {
            let frame = body.frame().await.expect("a frame").expect("a frame");
            if let Some(data) = frame.data_ref() {
                text.push_str(std::str::from_utf8(data).unwrap());
            }
        }
        assert!(text.starts_with("event: page\n"), "{path}: {text}");
        let id = if path.starts_with("/floor/oee") {
            "oee-figures"
        } else {
            "plants-figures"
        };
        assert!(text.contains(&format!("id=\"{id}\"")), "{path}: {text}");
    }
}

/// Reads a live page's stream until its next `page` event: the fragment it carries.
async fn next_page(body: &mut Body) -> String {
    let mut text = String::new();
    loop {
        let frame = body
            .frame()
            .await
            .expect("the stream ended")
            .expect("a frame");
        if let Some(data) = frame.data_ref() {
            text.push_str(std::str::from_utf8(data).unwrap());
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if block.starts_with("event: page\n") {
                return block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("\n");
            }
        }
    }
}

/// Waits for the live pages' watch to move: woken by a change itself, not by the 15 s
/// refresh.
async fn wakes(woke: &mut tokio::sync::watch::Receiver<u64>, what: &str) {
    tokio::time::timeout(std::time::Duration::from_secs(10), woke.changed())
        .await
        .unwrap_or_else(|_| panic!("{what} woke no live page"))
        .unwrap();
}

/// Issue 15: head office's live page did not wake on a work order changed through the API;
/// its output against plan and on-time columns waited for the next floor change or the 15 s
/// refresh. Now every change wakes it (on PostgreSQL, at another instance too, through the
/// change feed): made, released, completed by the edge, cancelled.
#[tokio::test]
async fn issue_15_a_work_order_changed_through_the_api_wakes_head_offices_live_page() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    // The page is open at another instance on PostgreSQL (it hears through NOTIFY), at this
    // one on SQLite.
    let viewer = if on_postgres() {
        crate::instances::second_instance(&h).await
    } else {
        h.state.clone()
    };
    let mut woke = viewer.floor_updates();
    let response = central::app(viewer.clone())
        .oneshot(request(
            Method::GET,
            "/floor/plants/live?lang=en",
            Some(ADMIN),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = next_page(&mut body).await;
    assert!(first.contains(r#"id="plants-delivery""#), "{first}");
    assert!(
        !first.contains(r#"<td class="num planned">37</td>"#),
        "{first}"
    );

    // Made through the API, due today: planned 37 in this week and month.
    let today = Utc::now().date_naive();
    let made = h
        .post(
            "/api/v1/work-orders",
            ADMIN,
            json!({"work_order": "WO-77", "item": "FRAME", "qty": "37", "due": today, "line": "L1"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    wakes(&mut woke, "a work order made").await;
    let page = next_page(&mut body).await;
    assert_eq!(
        page.matches(r#"<td class="num planned">37</td>"#).count(),
        2,
        "this week's and month's rows: {page}"
    );

    // Released, then completed by the edge in a batch that changes no floor figure: on time.
    ok(&act(&h, "WO-77", "release").await);
    wakes(&mut woke, "a release").await;
    next_page(&mut body).await;
    let mut begun = event("line-1", 1);
    begun.at = Utc::now() - Duration::minutes(1);
    begun.kind = started("WO-77", 10);
    let mut done = event("line-1", 2);
    done.at = Utc::now() - Duration::minutes(1);
    done.kind = EventKind::WorkOrderCompleted {
        work_order: "WO-77".into(),
    };
    send(&h, &token, &[begun, done]).await;
    wakes(&mut woke, "a completion").await;
    let page = next_page(&mut body).await;
    assert_eq!(
        page.matches(r#"<td class="num on-time-n">1</td>"#).count(),
        2,
        "{page}"
    );

    // Another order made and cancelled: it counts, then no longer.
    let made = h
        .post(
            "/api/v1/work-orders",
            ADMIN,
            json!({"work_order": "WO-78", "item": "FRAME", "qty": "5", "due": today, "line": "L1"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    wakes(&mut woke, "a second work order made").await;
    let page = next_page(&mut body).await;
    assert!(
        page.contains(r#"<td class="num planned">42</td>"#),
        "{page}"
    );
    ok(&act(&h, "WO-78", "cancel").await);
    wakes(&mut woke, "a cancellation").await;
    let page = next_page(&mut body).await;
    assert!(
        page.contains(r#"<td class="num planned">37</td>"#),
        "{page}"
    );
    assert!(
        !page.contains(r#"<td class="num planned">42</td>"#),
        "{page}"
    );
}

/// An order's whole timeline, read 5 entries a page through the cursor: its seqs, each entry
/// checked to be of `line-1` and to name the order.
async fn whole_timeline(h: &Harness, order: &str) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut uri = format!("/api/v1/work-orders/{order}/timeline?limit=5");
    loop {
        let page = h.get(&uri, ADMIN).await;
        ok(&page);
        for entry in page.json["entries"].as_array().unwrap() {
            assert_eq!(entry["edge_id"], "line-1", "{entry}");
            assert_eq!(entry["event"]["work_order"], order, "{entry}");
            seqs.push(entry["seq"].as_u64().unwrap());
        }
        let next = &page.json["next"];
        if next.is_null() {
            return seqs;
        }
        uri = format!(
            "/api/v1/work-orders/{order}/timeline?limit=5&before_at={}&before_edge={}&before_seq={}",
            next["at"].as_str().unwrap().replace(':', "%3A"),
            next["edge_id"].as_str().unwrap(),
            next["seq"]
        );
    }
}

/// Issue 15: an order's timeline read every event of its edges (no index by order). Now it
/// reads `events_by_order`, filled at ingest: on an edge busy with 2 000 events of 40 other
/// orders (one of them `WO-T0`, whose id starts with the order's), the order's 12 events
/// come newest first, paged without gaps, and the index holds exactly its own; an edge that
/// neither ran its plan nor its line is left out, as it always was. The same after the
/// upgrade to schema 11 makes the index from the stored events.
#[tokio::test]
async fn issue_15_an_orders_timeline_on_an_edge_busy_with_other_orders_reads_its_own_events() {
    let h = Harness::new().await;
    let token = plant(&h).await;
    create(&h, "WO-T", "100").await;
    ok(&act(&h, "WO-T", "release").await);
    let mut mine = Vec::new();
    let mut seq = 0;
    let mut batch = Vec::new();
    for i in 0..2012_u64 {
        seq += 1;
        let mut e = event("line-1", seq);
        e.at += Duration::seconds(i as i64);
        let wo = if i % 167 == 0 && mine.len() < 12 {
            mine.push(seq);
            "WO-T".to_owned()
        } else {
            format!("WO-T{}", i % 40)
        };
        e.kind = match i % 3 {
            0 => reported(&wo, 10, 1, 0),
            1 => started(&wo, 10),
            _ => EventKind::Measurement {
                characteristic: "length".into(),
                value: 12.5,
                unit: "mm".into(),
                work_order: Some(wo.as_str().into()),
            },
        };
        batch.push(e);
        if batch.len() == 500 {
            send(&h, &token, &batch).await;
            batch.clear();
        }
    }
    send(&h, &token, &batch).await;
    assert_eq!(mine.len(), 12);
    // Another edge, running neither the order's plan nor its line, names it too.
    let stranger = h.create_edge("line-2").await;
    let mut e = event("line-2", 1);
    e.kind = started("WO-T", 10);
    let reply = h
        .post(
            "/api/v1/sync/events",
            &stranger,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": "line-2", "events": [e]}),
        )
        .await;
    ok(&reply);

    let newest_first: Vec<u64> = mine.iter().rev().copied().collect();
    assert_eq!(whole_timeline(&h, "WO-T").await, newest_first);
    // The index holds the order's own events, so a page reads those, not the edge's 2 000.
    let indexed = h.sql(
        "SELECT seq FROM events_by_order WHERE work_order = 'WO-T' AND edge_id = 'line-1' ORDER BY seq",
        vec![],
    );
    assert_eq!(
        indexed
            .iter()
            .map(|r| r[0].as_u64().unwrap())
            .collect::<Vec<_>>(),
        mine
    );
    let all = h.sql(
        "SELECT work_order, at, edge_id, seq FROM events_by_order ORDER BY 1, 2, 3, 4",
        vec![],
    );
    assert_eq!(all.len(), 2013, "every event names an order");

    // A store of schema 10 had no index: the upgrade makes it from the stored events, the
    // same rows ingest made, and the timeline answers the same.
    h.sql("DROP TABLE events_by_order", vec![]);
    if on_postgres() {
        h.sql("DELETE FROM mes_schema", vec![]);
        h.sql(
            "INSERT INTO mes_schema (version, applied_at) VALUES (10, '2026-12-06T00:00:00.000000Z')",
            vec![],
        );
    } else {
        h.sql("PRAGMA user_version = 10", vec![]);
    }
    let h = h.reopen().await;
    assert_eq!(
        h.sql(
            "SELECT work_order, at, edge_id, seq FROM events_by_order ORDER BY 1, 2, 3, 4",
            vec![]
        ),
        all
    );
    assert_eq!(whole_timeline(&h, "WO-T").await, newest_first);
}
