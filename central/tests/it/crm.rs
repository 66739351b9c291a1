//! Issue 16, the CRM's first rooms: business cards (vCard 2.1/3.0/4.0 and CSV) into customers
//! and contacts with duplicates found and offered for merging, who sees whose records
//! (salesperson, manager, head office), activities and the task list.

use crate::people::{PASSWORD, Session, as_session, session, session_headers};
use crate::work_orders::{ok, put};
use crate::*;

/// A salesperson, manager, viewer, ... with a manager of their own, signed in.
pub(crate) async fn person(h: &Harness, login: &str, role: &str, manager: Option<&str>) -> Session {
    ok(&put(
        h,
        &format!("/api/v1/users/{login}"),
        json!({"display_name": login, "roles": [role], "plants": ["default"], "password": PASSWORD,
               "language": "en", "manager": manager}),
    )
    .await);
    session(h, login).await
}

pub(crate) async fn get(h: &Harness, s: &Session, uri: &str) -> Reply {
    as_session(h, s, Method::GET, uri, None, false).await
}

pub(crate) async fn post(h: &Harness, s: &Session, uri: &str, body: Value) -> Reply {
    as_session(h, s, Method::POST, uri, Some(body), true).await
}

pub(crate) async fn put_as(h: &Harness, s: &Session, uri: &str, body: Value) -> Reply {
    as_session(h, s, Method::PUT, uri, Some(body), true).await
}

/// A body of another content type, as `s`.
async fn upload(h: &Harness, s: &Session, uri: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    for (k, v) in session_headers(s) {
        req.headers_mut().insert(k, v);
    }
    h.send(req).await
}

/// The sales team of these tests: chen.mgr manages li.sales and zhao.sales; wang.hq is head
/// office (viewer).
pub(crate) struct Team {
    pub(crate) chen: Session,
    pub(crate) li: Session,
    pub(crate) zhao: Session,
    pub(crate) wang: Session,
}

pub(crate) async fn team(h: &Harness) -> Team {
    let chen = person(h, "chen.mgr", "sales_manager", None).await;
    let li = person(h, "li.sales", "sales", Some("chen.mgr")).await;
    let zhao = person(h, "zhao.sales", "sales", Some("chen.mgr")).await;
    let wang = person(h, "wang.hq", "viewer", None).await;
    Team {
        chen,
        li,
        zhao,
        wang,
    }
}

/// Four business cards from a trade fair: Zhang Wei (3.0) and Li Na (4.0) at Huaqiang written
/// two ways, Wang Qiang from a Chinese phone (2.1, GBK in quoted-printable) at a company
/// central does not know, and Zhang Wei again with his mobile written another way.
const FAIR: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Zhang;Wei;;;\r\nFN:Zhang Wei\r\nORG:HUAQIANG ELECTRONICS CO LTD;Purchasing\r\nTITLE:Purchasing Manager\r\nTEL;TYPE=CELL:138-0013-8000\r\nEMAIL:zhang.wei@huaqiang.example\r\nX-WECHAT:zhangwei_hq\r\nCATEGORIES:canton fair\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:4.0\r\nFN:李娜\r\nORG:深圳华强电子\r\nTEL;VALUE=uri;TYPE=work:tel:+86-755-8888-1234\r\nEMAIL:li.na@huaqiang.example\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=GBK;ENCODING=QUOTED-PRINTABLE:=CD=F5;=C7=BF;;;\r\nORG;CHARSET=GBK;ENCODING=QUOTED-PRINTABLE:=BB=AA=C4=CF=\r\n=BB=FA=D0=B5\r\nTEL;CELL:13700001111\r\nADR;WORK:;;1 Jixie Rd;Foshan;Guangdong;528000;China\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Wei Zhang\r\nORG:Huaqiang Electronics\r\nTEL;TYPE=CELL:+86 138 0013 8000\r\nEMAIL:wei.zhang@private.example\r\nEND:VCARD\r\n";

async fn import_fair(h: &Harness, s: &Session) -> Reply {
    upload(
        h,
        s,
        "/api/v1/import/vcards",
        "text/vcard",
        FAIR.as_bytes().to_vec(),
    )
    .await
}

#[tokio::test]
async fn issue_16_business_cards_become_customers_and_contacts_never_doubled() {
    let h = Harness::new().await;
    let t = team(&h).await;
    // li's customer from before the fair.
    let reply = post(
        &h,
        &t.li,
        "/api/v1/customers",
        json!({"name_zh": "深圳市华强电子有限公司", "name_en": "Huaqiang Electronics Co., Ltd.",
               "industry": "electronics", "region": "South China", "credit_limit": "500000.00",
               "tags": ["key account"]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(reply.json["code"], "C000001");
    assert_eq!(reply.json["owner"], "li.sales");
    assert_eq!(reply.json["currency"], "CNY");

    let reply = import_fair(&h, &t.li).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let out = &reply.json;
    assert_eq!(out["cards"], 4);
    assert_eq!(out["contacts_created"].as_array().unwrap().len(), 3);
    // Huaqiang written two other ways is C000001; the Foshan company is new.
    assert_eq!(out["customers_created"], json!(["C000002"]));
    let matched: Vec<&str> = out["customers_matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["customer"].as_str().unwrap())
        .collect();
    assert_eq!(matched, ["C000001", "C000001"]);
    // Zhang Wei's second card waits: his mobile, written another way, is the first card's.
    let dups = out["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 1);
    let zhang = out["contacts_created"][0].as_i64().unwrap();
    assert_eq!(dups[0]["matches"][0]["contact"], zhang);
    assert_eq!(dups[0]["matches"][0]["on"], "phone");
    assert_eq!(dups[0]["source"], "vcard card 4 (line 27)");
    assert_eq!(dups[0]["status"], "open");

    let customer = get(&h, &t.li, "/api/v1/customers/C000001").await;
    assert_eq!(customer.json["contacts"], 2, "{}", customer.json);
    let new = get(&h, &t.li, "/api/v1/customers/C000002").await;
    assert_eq!(new.json["name_zh"], "华南机械");
    assert_eq!(new.json["addresses"][0]["city"], "Foshan");
    assert_eq!(new.json["owner"], "li.sales");
    let contacts = get(&h, &t.li, "/api/v1/contacts?customer=C000002").await;
    assert_eq!(contacts.json["contacts"][0]["name"], "王强");
    assert_eq!(contacts.json["contacts"][0]["source"], "vcard");

    // Searching: a name in either language, a tag, a phone's digits.
    for (uri, want) in [
        (
            "/api/v1/customers?search=%E5%8D%8E%E5%BC%BA",
            vec!["C000001"],
        ),
        ("/api/v1/customers?search=HUAQIANG", vec!["C000001"]),
        ("/api/v1/customers?tag=key%20account", vec!["C000001"]),
        ("/api/v1/customers?search=nothing-like-it", vec![]),
        ("/api/v1/customers?limit=1", vec!["C000001"]),
        ("/api/v1/customers?after=C000001", vec!["C000002"]),
    ] {
        let reply = get(&h, &t.li, uri).await;
        let codes: Vec<&str> = reply.json["customers"]
            .as_array()
            .unwrap_or_else(|| panic!("{uri}: {}", reply.json))
            .iter()
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, want, "{uri}");
    }
    let by_phone = get(&h, &t.li, "/api/v1/contacts?search=13800138000").await;
    assert_eq!(by_phone.json["contacts"][0]["id"], zhang);

    // The same file again doubles nothing: every card waits, and the card already waiting
    // is not added twice.
    let again = import_fair(&h, &t.li).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    assert_eq!(again.json["contacts_created"], json!([]));
    assert_eq!(again.json["customers_created"], json!([]));
    assert_eq!(again.json["duplicates"].as_array().unwrap().len(), 4);
    let open = get(&h, &t.li, "/api/v1/crm/duplicates").await;
    let open = open.json["duplicates"].as_array().unwrap().clone();
    assert_eq!(open.len(), 4, "{open:?}");
    let all_contacts = get(&h, &t.li, "/api/v1/contacts").await;
    assert_eq!(all_contacts.json["contacts"].as_array().unwrap().len(), 3);

    // Merged: Zhang Wei gains the private address; kept: a new contact; discarded: gone.
    let first = dups[0]["id"].as_i64().unwrap();
    let wrong = post(
        &h,
        &t.li,
        &format!("/api/v1/crm/duplicates/{first}/resolve"),
        json!({"action": "merge", "into": 999}),
    )
    .await;
    wrong.assert_error(StatusCode::CONFLICT, "crm_conflict");
    let merged = post(
        &h,
        &t.li,
        &format!("/api/v1/crm/duplicates/{first}/resolve"),
        json!({"action": "merge", "into": zhang}),
    )
    .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.json);
    assert_eq!(merged.json["status"], "merged");
    assert_eq!(merged.json["resolved_by"], "li.sales");
    let zhang_now = get(&h, &t.li, &format!("/api/v1/contacts/{zhang}")).await;
    assert_eq!(
        zhang_now.json["emails"],
        json!(["zhang.wei@huaqiang.example", "wei.zhang@private.example"])
    );
    assert_eq!(zhang_now.json["phones"].as_array().unwrap().len(), 1);
    assert_eq!(zhang_now.json["name"], "Zhang Wei", "the name kept");
    let twice = post(
        &h,
        &t.li,
        &format!("/api/v1/crm/duplicates/{first}/resolve"),
        json!({"action": "discard"}),
    )
    .await;
    twice.assert_error(StatusCode::CONFLICT, "crm_conflict");
    let waiting: Vec<i64> = get(&h, &t.li, "/api/v1/crm/duplicates").await.json["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(waiting.len(), 3);
    let kept = post(
        &h,
        &t.li,
        &format!("/api/v1/crm/duplicates/{}/resolve", waiting[0]),
        json!({"action": "keep"}),
    )
    .await;
    assert_eq!(kept.json["status"], "kept", "{}", kept.json);
    let kept_id = kept.json["result"].as_i64().unwrap();
    assert!(
        get(&h, &t.li, &format!("/api/v1/contacts/{kept_id}"))
            .await
            .status
            .is_success()
    );
    for id in &waiting[1..] {
        let r = post(
            &h,
            &t.li,
            &format!("/api/v1/crm/duplicates/{id}/resolve"),
            json!({"action": "discard"}),
        )
        .await;
        assert_eq!(r.json["status"], "discarded");
    }
    assert_eq!(
        get(&h, &t.li, "/api/v1/crm/duplicates").await.json["duplicates"],
        json!([])
    );
    // Four waited in all: the card already waiting was not added again.
    let history = get(&h, &t.li, "/api/v1/crm/duplicates?status=all").await;
    assert_eq!(history.json["duplicates"].as_array().unwrap().len(), 4);

    // Two contacts merged by hand: the kept one's activities move along.
    let reply = post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "call", "subject": "who are you?", "contact": kept_id}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let reply = post(
        &h,
        &t.li,
        &format!("/api/v1/contacts/{zhang}/merge"),
        json!({"from": kept_id}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    get(&h, &t.li, &format!("/api/v1/contacts/{kept_id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let calls = get(&h, &t.li, &format!("/api/v1/activities?contact={zhang}")).await;
    assert_eq!(calls.json["activities"][0]["subject"], "who are you?");

    // The contact as a vCard 4.0.
    let mut req = request(
        Method::GET,
        &format!("/api/v1/contacts/{zhang}/vcard"),
        None,
        None,
    );
    for (k, v) in session_headers(&t.li) {
        req.headers_mut().insert(k, v);
    }
    let response = h.app().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/vcard")
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let card = String::from_utf8(bytes.to_vec()).unwrap();
    for want in [
        "BEGIN:VCARD\r\nVERSION:4.0\r\n",
        "FN:Zhang Wei\r\n",
        "ORG:深圳市华强电子有限公司;Purchasing\r\n",
        "EMAIL:wei.zhang@private.example\r\n",
        "X-SOCIALPROFILE;TYPE=wechat:zhangwei_hq\r\n",
    ] {
        assert!(card.contains(want), "{want:?} not in {card}");
    }

    // Whose records: zhao (li's colleague) sees none of li's, chen (their manager) and head
    // office see all; zhao cannot change li's customer.
    let theirs = get(&h, &t.zhao, "/api/v1/customers").await;
    assert_eq!(theirs.json["customers"], json!([]));
    get(&h, &t.zhao, "/api/v1/customers/C000001")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    get(&h, &t.zhao, &format!("/api/v1/contacts/{zhang}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    put_as(
        &h,
        &t.zhao,
        "/api/v1/customers/C000001",
        json!({"name_en": "mine now"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    for s in [&t.chen, &t.wang] {
        let seen = get(&h, s, "/api/v1/customers").await;
        assert_eq!(
            seen.json["customers"].as_array().unwrap().len(),
            2,
            "{}",
            seen.json
        );
    }
    // Head office reads but does not change.
    post(&h, &t.wang, "/api/v1/customers", json!({"name_en": "x"}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // A salesperson cannot hand a customer to a colleague; their manager can.
    post(
        &h,
        &t.li,
        "/api/v1/customers",
        json!({"name_en": "Gift", "owner": "zhao.sales"}),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "not_your_team");
    let handed = put_as(
        &h,
        &t.chen,
        "/api/v1/customers/C000002",
        json!({"name_zh": "华南机械", "owner": "zhao.sales"}),
    )
    .await;
    assert_eq!(handed.json["owner"], "zhao.sales", "{}", handed.json);
    let now_zhaos = get(&h, &t.zhao, "/api/v1/customers").await;
    assert_eq!(now_zhaos.json["customers"][0]["code"], "C000002");
    post(
        &h,
        &t.chen,
        "/api/v1/customers",
        json!({"name_en": "Ghost", "owner": "nobody"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    // A code given is kept, and not given twice.
    let coded = post(
        &h,
        &t.li,
        "/api/v1/customers",
        json!({"code": "ACME", "name_en": "Acme"}),
    )
    .await;
    assert_eq!(coded.json["code"], "ACME");
    post(
        &h,
        &t.li,
        "/api/v1/customers",
        json!({"code": "ACME", "name_en": "Acme again"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "customer_exists");
    // Every change is in the audit trail as its author's.
    let audit = h
        .get("/api/v1/audit?entity=crm_customers&actor=chen.mgr", ADMIN)
        .await;
    assert_eq!(
        audit.json["entries"][0]["entity_id"], "C000002",
        "{}",
        audit.json
    );
}

#[tokio::test]
async fn issue_16_bad_cards_and_rows_are_named_and_nothing_is_stored() {
    let h = Harness::new().await;
    let t = team(&h).await;
    let bad = "BEGIN:VCARD\nVERSION:3.0\nFN:Good Card\nEMAIL:good@x.example\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nFN:Bad Card\nEMAIL:not-an-address\nTEL:call me\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nFN:Unfinished\n";
    let reply = upload(&h, &t.li, "/api/v1/import/vcards", "text/vcard", bad.into()).await;
    let message = reply.assert_error(StatusCode::BAD_REQUEST, "invalid_vcard");
    assert!(
        message.starts_with("3 mistakes in the vcard file")
            || message.starts_with("3 mistakes in the vCard file"),
        "{message}"
    );
    let details = reply.json["error"]["details"].as_array().unwrap();
    let said: Vec<(i64, &str)> = details
        .iter()
        .map(|d| (d["line"].as_i64().unwrap(), d["column"].as_str().unwrap()))
        .collect();
    assert_eq!(said, [(9, "EMAIL"), (10, "TEL"), (12, "BEGIN")]);
    assert!(
        details[0]["message"]
            .as_str()
            .unwrap()
            .contains("card 2 (line 9)")
    );
    // Nothing was stored, not even the good card.
    assert_eq!(
        get(&h, &t.li, "/api/v1/contacts").await.json["contacts"],
        json!([])
    );
    // Wrong content type, a charset central does not know, bytes that are not the charset.
    upload(
        &h,
        &t.li,
        "/api/v1/import/vcards",
        "text/plain",
        b"x".to_vec(),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    upload(
        &h,
        &t.li,
        "/api/v1/import/vcards",
        "text/vcard; charset=klingon",
        b"x".to_vec(),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let m = upload(
        &h,
        &t.li,
        "/api/v1/import/vcards",
        "text/vcard",
        b"BEGIN:VCARD\n\xff\n".to_vec(),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request")
    .to_owned();
    assert!(m.contains("near line 2"), "{m}");
    // A whole file in GBK, said so by its content type.
    let (gbk, _, _) = encoding_rs::GBK
        .encode("BEGIN:VCARD\nVERSION:3.0\nFN:赵敏\nORG:杭州明教贸易有限公司\nEND:VCARD\n");
    let ok = upload(
        &h,
        &t.li,
        "/api/v1/import/vcards",
        "text/vcard; charset=GBK",
        gbk.into_owned(),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);
    let c = get(&h, &t.li, "/api/v1/customers?search=%E6%98%8E%E6%95%99").await;
    assert_eq!(c.json["customers"][0]["name_zh"], "杭州明教贸易有限公司");

    // CSV: every bad cell named by line and column; nothing stored.
    let csv = "name,company,email,mobile,wechat,owner\n周芷若,峨眉贸易,zhou@emei.example,13911112222,zzr,\n,x,bad,12,,\nA,B,,,,zhao.sales\n";
    let reply = upload(&h, &t.li, "/api/v1/import/contacts", "text/csv", csv.into()).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let cells: Vec<String> = reply.json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}:{}", d["line"], d["column"].as_str().unwrap()))
        .collect();
    assert_eq!(cells, ["3:name", "3:mobile", "3:email"]);
    // The owner is checked too: li cannot make zhao's contacts.
    let csv = "name,company,owner\nA,B,zhao.sales\n";
    let reply = upload(&h, &t.li, "/api/v1/import/contacts", "text/csv", csv.into()).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    assert_eq!(reply.json["error"]["details"][0]["column"], "owner");
    // The good rows, alone, go in; a row naming a customer code joins it.
    let csv = "name,company,email,mobile,wechat,tags\n周芷若,峨眉贸易,zhou@emei.example,13911112222,zzr,vip;fair\n";
    let reply = upload(&h, &t.li, "/api/v1/import/contacts", "text/csv", csv.into()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let code = reply.json["customers_created"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let csv = format!("name,customer,email\n灭绝,{code},miejue@emei.example\n");
    let reply = upload(&h, &t.li, "/api/v1/import/contacts", "text/csv", csv.into()).await;
    assert_eq!(reply.json["customers_created"], json!([]), "{}", reply.json);
    let contacts = get(&h, &t.li, &format!("/api/v1/contacts?customer={code}")).await;
    assert_eq!(contacts.json["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(contacts.json["contacts"][0]["source"], "csv");
    assert_eq!(
        contacts.json["contacts"][0]["social"][0]["network"],
        "wechat"
    );
    // A customer code someone else owns is not found for li.
    let theirs = post(
        &h,
        &t.zhao,
        "/api/v1/customers",
        json!({"name_en": "Zhao's"}),
    )
    .await;
    let zhaos = theirs.json["code"].as_str().unwrap().to_owned();
    let csv = format!("name,customer\nX,{zhaos}\n");
    upload(&h, &t.li, "/api/v1/import/contacts", "text/csv", csv.into())
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // JSON bodies are checked field by field.
    let reply = post(
        &h,
        &t.li,
        "/api/v1/customers",
        json!({"name_en": "X", "currency": "rmb", "credit_limit": "-5"}),
    )
    .await;
    let m = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(m.contains("currency") && m.contains("credit_limit"), "{m}");
    let reply = post(
        &h,
        &t.li,
        "/api/v1/contacts",
        json!({"name": "Y", "emails": ["nope"], "phones": [{"kind": "pager", "number": "1"}]}),
    )
    .await;
    let m = reply.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(m.contains("nope") && m.contains("pager"), "{m}");
    get(
        &h,
        &t.li,
        &format!("/api/v1/customers?search={}", "x".repeat(300)),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    get(&h, &t.li, "/api/v1/customers?limit=100000")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn issue_16_activities_and_the_salespersons_task_list() {
    let h = Harness::new().await;
    let t = team(&h).await;
    let c = post(
        &h,
        &t.li,
        "/api/v1/customers",
        json!({"name_en": "Foshan Pumps"}),
    )
    .await;
    let code = c.json["code"].as_str().unwrap().to_owned();
    let k = post(
        &h,
        &t.li,
        "/api/v1/contacts",
        json!({"customer": code, "name": "Mr. He", "phones": [{"kind": "mobile", "number": "13500001111"}]}),
    )
    .await;
    assert_eq!(k.status, StatusCode::CREATED, "{}", k.json);
    let he = k.json["id"].as_i64().unwrap();

    // A call on the contact (its customer filled in), a visit, a task for tomorrow and one for
    // next week.
    let call = post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "call", "subject": "first call", "body": "interested in\nthe 40 mm pump", "contact": he, "at": "2026-12-01T02:00:00Z"}),
    )
    .await;
    assert_eq!(call.status, StatusCode::CREATED, "{}", call.json);
    assert_eq!(call.json["customer"], code.as_str());
    assert_eq!(call.json["created_by"], "li.sales");
    let visit = post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "visit", "subject": "plant visit", "customer": code, "at": "2026-12-03T06:00:00Z"}),
    )
    .await;
    assert_eq!(visit.status, StatusCode::CREATED);
    let soon = post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "task", "subject": "send samples", "customer": code, "due": "2026-12-08"}),
    )
    .await;
    let soon_id = soon.json["id"].as_i64().unwrap();
    post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "task", "subject": "call back about price", "contact": he, "due": "2026-12-14"}),
    )
    .await;
    // A task without a date, an activity on nothing, a contact at another customer.
    post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "task", "subject": "x", "customer": code}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "note", "subject": "x"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let other = post(&h, &t.li, "/api/v1/customers", json!({"name_en": "Other"})).await;
    post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "note", "subject": "x", "contact": he, "customer": other.json["code"]}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "crm_conflict");
    // zhao cannot log on li's customer.
    post(
        &h,
        &t.zhao,
        "/api/v1/activities",
        json!({"kind": "note", "subject": "x", "customer": code}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");

    // li's task list: soonest first; due_by narrows it; zhao's is empty; their manager sees
    // li's with owner=all or owner=li.sales.
    let subjects = |r: &Reply| -> Vec<String> {
        r.json["activities"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.json))
            .iter()
            .map(|a| a["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    let mine = get(&h, &t.li, "/api/v1/crm/tasks").await;
    assert_eq!(subjects(&mine), ["send samples", "call back about price"]);
    let by = get(&h, &t.li, "/api/v1/crm/tasks?due_by=2026-12-10").await;
    assert_eq!(subjects(&by), ["send samples"]);
    assert!(subjects(&get(&h, &t.zhao, "/api/v1/crm/tasks").await).is_empty());
    assert!(subjects(&get(&h, &t.zhao, "/api/v1/crm/tasks?owner=all").await).is_empty());
    assert_eq!(
        subjects(&get(&h, &t.chen, "/api/v1/crm/tasks?owner=all").await).len(),
        2
    );
    assert_eq!(
        subjects(&get(&h, &t.chen, "/api/v1/crm/tasks?owner=li.sales").await).len(),
        2
    );

    // Done: out of the list; open again: back.
    let done = post(
        &h,
        &t.li,
        &format!("/api/v1/activities/{soon_id}/done"),
        json!({}),
    )
    .await;
    assert!(done.json["done_at"].is_string(), "{}", done.json);
    assert_eq!(
        subjects(&get(&h, &t.li, "/api/v1/crm/tasks").await),
        ["call back about price"]
    );
    post(
        &h,
        &t.li,
        &format!("/api/v1/activities/{soon_id}/done"),
        json!({"done": false}),
    )
    .await;
    assert_eq!(
        subjects(&get(&h, &t.li, "/api/v1/crm/tasks").await).len(),
        2
    );
    let call_id = call.json["id"].as_i64().unwrap();
    post(
        &h,
        &t.li,
        &format!("/api/v1/activities/{call_id}/done"),
        json!({}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "crm_conflict");

    // The customer's history, newest first, and the visit log.
    let history = get(&h, &t.li, &format!("/api/v1/activities?customer={code}")).await;
    let kinds: Vec<&str> = history.json["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 4);
    assert_eq!(&kinds[2..], ["visit", "call"]);
    assert_eq!(history.json["activities"][3]["contact_name"], "Mr. He");
    assert_eq!(
        history.json["activities"][3]["body"],
        "interested in\nthe 40 mm pump"
    );
    let visits = get(&h, &t.li, "/api/v1/activities?kind=visit").await;
    assert_eq!(subjects(&visits), ["plant visit"]);
    get(&h, &t.li, "/api/v1/activities?kind=dance")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        subjects(&get(&h, &t.zhao, &format!("/api/v1/activities?customer={code}")).await)
            .is_empty()
    );
    assert_eq!(
        subjects(&get(&h, &t.wang, &format!("/api/v1/activities?customer={code}")).await).len(),
        4
    );
}

/// A customer's group prices: the price list reads the group from the customer.
#[tokio::test]
async fn issue_16_a_customer_gets_its_groups_price() {
    let h = Harness::new().await;
    crate::work_orders::import(
        &h,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\nPUMP,Pump,make,ea,1,lfl,,\n",
    )
    .await;
    for body in [
        json!({"item": "PUMP", "currency": "CNY", "price": "100", "valid_from": "2026-01-01"}),
        json!({"item": "PUMP", "currency": "CNY", "group": "OEM", "price": "85", "valid_from": "2026-01-01"}),
    ] {
        let reply = h.post("/api/v1/prices", ADMIN, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    }
    let oem = h
        .post(
            "/api/v1/customers",
            ADMIN,
            json!({"name_en": "Pump OEM", "customer_group": "OEM"}),
        )
        .await;
    let plain = h
        .post("/api/v1/customers", ADMIN, json!({"name_en": "Walk-in"}))
        .await;
    let price = |code: &str| {
        format!(
            "/api/v1/prices/resolve?item=PUMP&qty=1&date=2026-12-07&currency=CNY&customer={code}"
        )
    };
    let code = oem.json["code"].as_str().unwrap();
    let r = h.get(&price(code), ADMIN).await;
    assert_eq!(r.json["scope"], "group", "{}", r.json);
    assert_eq!(r.json["unit_price"], "85");
    let r = h
        .get(&price(plain.json["code"].as_str().unwrap()), ADMIN)
        .await;
    assert_eq!(r.json["scope"], "list", "{}", r.json);
    // A group named by the caller wins over the customer's.
    let r = h.get(&format!("{}&group=none", price(code)), ADMIN).await;
    assert_eq!(r.json["scope"], "list", "{}", r.json);
}
