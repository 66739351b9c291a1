//! Issue 16: the CRM's pages (`/crm/customers`, `/crm/customers/{code}`, `/crm/contacts/{id}`,
//! `/crm/tasks`, `/crm/import`) show what the API answers, to whom it may: a record outside
//! one's sales scope is a 404 page (unknown or someone else's alike), a manager sees their
//! team's, someone without `crm.read` is refused naming it.

use crate::people::{PASSWORD, Session, as_session, session, session_headers};
use crate::work_orders::{ok, put};
use crate::*;

async fn person(
    h: &Harness,
    login: &str,
    role: &str,
    manager: Option<&str>,
    lang: &str,
) -> Session {
    ok(&put(
        h,
        &format!("/api/v1/users/{login}"),
        json!({"display_name": login, "roles": [role], "plants": ["default"], "password": PASSWORD,
               "language": lang, "time_zone": "Asia/Shanghai", "manager": manager}),
    )
    .await);
    session(h, login).await
}

struct Page {
    status: StatusCode,
    csp: String,
    body: String,
}

/// A page as the browser of `s` gets it.
async fn page(h: &Harness, s: &Session, path: &str) -> Page {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let [(name, value), _] = session_headers(s);
    request.headers_mut().insert(name, value);
    let response = h.app().oneshot(request).await.unwrap();
    let status = response.status();
    let csp = response
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        csp,
        body: String::from_utf8(bytes.to_vec()).expect("pages are utf-8"),
    }
}

/// `attr="value"` values following each `marker` in the body, in order.
fn values_after<'a>(body: &'a str, marker: &str) -> Vec<&'a str> {
    body.split(marker)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

async fn api(h: &Harness, s: &Session, path: &str) -> Value {
    let reply = as_session(h, s, Method::GET, path, None, false).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.json);
    reply.json
}

async fn post(h: &Harness, s: &Session, path: &str, body: Value) -> Value {
    let reply = as_session(h, s, Method::POST, path, Some(body), true).await;
    assert!(reply.status.is_success(), "{path}: {}", reply.json);
    reply.json
}

/// Three cards: Zhang Wei and Li Na at two companies, and Zhang Wei again with his mobile
/// written with +86 (a duplicate).
const CARDS: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zhang Wei\r\nORG:Huaqiang Electronics Co Ltd\r\nTITLE:Purchasing Manager\r\nTEL;TYPE=CELL:138-0013-8000\r\nEMAIL:zhang.wei@huaqiang.example\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:4.0\r\nFN:李娜\r\nORG:佛山机械\r\nTEL;TYPE=work:0757-8888-1234\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Wei Zhang\r\nORG:Huaqiang Electronics\r\nTEL;TYPE=CELL:+86 138 0013 8000\r\nEND:VCARD\r\n";

#[tokio::test]
async fn issue_16_the_crm_pages_show_what_the_api_answers_to_whom_it_may() {
    let h = Harness::new().await;
    let chen = person(&h, "chen.mgr", "sales_manager", None, "en").await;
    let li = person(&h, "li.sales", "sales", Some("chen.mgr"), "zh").await;
    let zhao = person(&h, "zhao.sales", "sales", None, "en").await;
    let supervisor = person(&h, "zhou.min", "supervisor", None, "en").await;

    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/import/vcards")
        .header(header::CONTENT_TYPE, "text/vcard")
        .body(Body::from(CARDS))
        .unwrap();
    for (k, v) in session_headers(&li) {
        request.headers_mut().insert(k, v);
    }
    let outcome = h.send(request).await;
    assert_eq!(outcome.status, StatusCode::OK, "{}", outcome.json);
    let duplicate = outcome.json["duplicates"][0]["id"].as_i64().unwrap();
    let zhang = outcome.json["contacts_created"][0].as_i64().unwrap();
    let customers = api(&h, &li, "/api/v1/customers").await;
    let codes: Vec<&str> = customers["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 2);
    let huaqiang = customers["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name_en"] == "Huaqiang Electronics Co Ltd")
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();

    // The list: the API's customers, counted, in li's language.
    let list = page(&h, &li, "/crm/customers").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(values_after(&list.body, r#"<tr data-code=""#), codes);
    assert!(list.body.contains(r#"data-total="2""#), "{}", list.body);
    assert!(list.body.contains("全部 2 个客户"));
    assert!(
        list.body
            .contains(r#"href="/crm/customers" aria-current="page""#)
    );
    assert!(list.body.contains(r#"href="/crm/tasks""#), "the nav link");
    assert!(list.body.contains(r#"id="crm-customer-form""#), "crm.write");
    assert!(list.body.contains(r#"id="crm-duplicates-waiting""#));
    assert_eq!(list.body.matches("<script").count(), 2, "no inline script");
    assert!(list.csp.starts_with("default-src 'self'"), "{}", list.csp);
    let searched = page(&h, &li, "/crm/customers?q=huaqiang&lang=en").await;
    assert_eq!(
        values_after(&searched.body, r#"<tr data-code=""#),
        [huaqiang.as_str()]
    );
    assert!(
        searched.body.contains("All 1 customers"),
        "{}",
        searched.body
    );
    let paged = page(&h, &li, &format!("/crm/customers?after={huaqiang}")).await;
    assert!(
        !values_after(&paged.body, r#"<tr data-code=""#).contains(&huaqiang.as_str()),
        "keyset: after the code"
    );
    assert!(paged.body.contains(r#"id="crm-first""#));

    // An activity and an overdue task on the customer, as the API has them.
    post(
        &h,
        &li,
        "/api/v1/activities",
        json!({"kind": "visit", "subject": "Factory tour", "customer": huaqiang, "contact": zhang}),
    )
    .await;
    let task = post(
        &h,
        &li,
        "/api/v1/activities",
        json!({"kind": "task", "subject": "Send the quotation", "customer": huaqiang, "due": "2020-01-02"}),
    )
    .await;
    let task = task["id"].as_i64().unwrap();
    let one = page(&h, &li, &format!("/crm/customers/{huaqiang}?lang=en")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    let activities = api(&h, &li, &format!("/api/v1/activities?customer={huaqiang}")).await;
    let ids: Vec<String> = activities["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].to_string())
        .collect();
    assert_eq!(values_after(&one.body, r#"<li data-activity=""#), ids);
    assert!(
        one.body
            .contains(&format!(r#"<tr data-contact="{zhang}">"#))
    );
    assert!(
        one.body.contains(r#"href="tel:13800138000""#),
        "{}",
        one.body
    );
    assert!(one.body.contains("Factory tour"));
    assert!(one.body.contains("open overdue"), "the task is overdue");
    assert!(one.body.contains(r#"id="crm-activity-form""#));
    let contact = page(&h, &li, &format!("/crm/contacts/{zhang}")).await;
    assert_eq!(contact.status, StatusCode::OK, "{}", contact.body);
    assert!(
        contact
            .body
            .contains(&format!(r#"href="/api/v1/contacts/{zhang}/vcard""#))
    );
    assert!(contact.body.contains("zhang.wei@huaqiang.example"));

    // The tasks: li's, soonest first, as the API lists them; the manager's team view too.
    let tasks = page(&h, &li, "/crm/tasks").await;
    assert_eq!(tasks.status, StatusCode::OK);
    let listed = api(&h, &li, "/api/v1/crm/tasks").await;
    assert_eq!(listed["activities"].as_array().unwrap().len(), 1);
    assert_eq!(
        values_after(&tasks.body, r#"<li data-activity=""#),
        [task.to_string()]
    );
    assert!(tasks.body.contains(r#"data-overdue="1""#));
    assert!(!tasks.body.contains(r#"id="crm-team""#), "li has no team");
    let team = page(&h, &chen, "/crm/tasks?owner=all").await;
    assert_eq!(
        values_after(&team.body, r#"<li data-activity=""#),
        [task.to_string()]
    );
    assert!(team.body.contains(r#"id="crm-team" aria-current="true""#));
    assert!(
        page(&h, &chen, "/crm/tasks")
            .await
            .body
            .contains(r#"data-count="0""#)
    );

    // The duplicate waits on the import page, with its merge into Zhang Wei.
    let import = page(&h, &li, "/crm/import").await;
    assert_eq!(
        values_after(&import.body, r#"<li class="duplicate" data-duplicate=""#),
        [duplicate.to_string()]
    );
    assert!(
        import
            .body
            .contains(&format!(r#"data-action="merge" data-into="{zhang}""#))
    );

    // Another salesperson: none of it, a 404 page whether the record is li's or unknown.
    for path in [
        format!("/crm/customers/{huaqiang}"),
        format!("/crm/contacts/{zhang}"),
        "/crm/customers/NO-SUCH".to_owned(),
        "/crm/contacts/not-a-number".to_owned(),
    ] {
        let theirs = page(&h, &zhao, &path).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            theirs.body.contains(r#"id="crm-not-found""#),
            "{}",
            theirs.body
        );
        assert!(theirs.body.contains("Not found"));
        assert!(theirs.csp.starts_with("default-src 'self'"), "{path}");
    }
    let theirs = page(&h, &zhao, "/crm/customers").await;
    assert!(values_after(&theirs.body, r#"<tr data-code=""#).is_empty());
    assert!(theirs.body.contains(r#"id="crm-none""#));
    assert!(
        values_after(
            &page(&h, &zhao, "/crm/import").await.body,
            "data-duplicate=\""
        )
        .is_empty()
    );
    // The manager: li's customer, and the owners' counts.
    let managed = page(&h, &chen, &format!("/crm/customers/{huaqiang}")).await;
    assert_eq!(managed.status, StatusCode::OK);
    let managed = page(&h, &chen, "/crm/customers").await;
    assert!(
        managed
            .body
            .contains(r#"data-owner="li.sales" data-count="2""#),
        "{}",
        managed.body
    );

    // Without crm.read: refused, naming it, and no link to it.
    let refused = page(&h, &supervisor, "/crm/customers").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains(r#"data-permission="crm.read""#));
    assert!(!refused.body.contains(r#"href="/crm/customers""#));
}

/// The import page sends a CSV with the charset chosen: a GBK file (Excel on a Chinese
/// Windows) is read as GBK, and the same bytes sent as UTF-8 are refused, not stored garbled.
#[tokio::test]
async fn issue_16_a_gbk_csv_of_business_cards_is_read_by_its_charset() {
    let h = Harness::new().await;
    let li = person(&h, "li.sales", "sales", None, "zh").await;
    // 王强 in GBK.
    let mut csv = b"name,company,mobile\n".to_vec();
    csv.extend_from_slice(&[0xCD, 0xF5, 0xC7, 0xBF]);
    csv.extend_from_slice(b",Ningbo Mould,13900001111\n");
    let send = |content_type: &'static str, body: Vec<u8>| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/import/contacts")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        for (k, v) in session_headers(&li) {
            request.headers_mut().insert(k, v);
        }
        h.send(request)
    };
    let garbled = send("text/csv", csv.clone()).await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST, "{}", garbled.json);
    let read = send("text/csv; charset=gbk", csv).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.json);
    let id = read.json["contacts_created"][0].as_i64().unwrap();
    let contact = api(&h, &li, &format!("/api/v1/contacts/{id}")).await;
    assert_eq!(contact["name"], "王强");
    assert_eq!(contact["source"], "csv");
}
