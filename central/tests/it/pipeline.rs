//! Issue 16, the pipeline: a lead from a trade fair qualified into a customer (joined by the
//! company's name), a contact and an opportunity in one go; the opportunity moved through
//! its stages to won with its history kept; lost only with a reason; whose deals someone sees
//! (a colleague gets 404, the manager sees them); two people dragging the same card (the
//! second refused with 409); the weighted forecast exact to the cent, per currency and
//! converted.

use crate::people::{PASSWORD, Session, as_session, session};
use crate::work_orders::{ok, put};
use crate::*;

async fn person(h: &Harness, login: &str, role: &str, manager: Option<&str>) -> Session {
    ok(&put(
        h,
        &format!("/api/v1/users/{login}"),
        json!({"display_name": login, "roles": [role], "plants": ["default"], "password": PASSWORD,
               "language": "en", "manager": manager}),
    )
    .await);
    session(h, login).await
}

async fn get(h: &Harness, s: &Session, uri: &str) -> Reply {
    as_session(h, s, Method::GET, uri, None, false).await
}

async fn post(h: &Harness, s: &Session, uri: &str, body: Value) -> Reply {
    as_session(h, s, Method::POST, uri, Some(body), true).await
}

async fn put_as(h: &Harness, s: &Session, uri: &str, body: Value) -> Reply {
    as_session(h, s, Method::PUT, uri, Some(body), true).await
}

struct Team {
    chen: Session,
    li: Session,
    zhao: Session,
    wang: Session,
}

/// chen.mgr manages li.sales and zhao.sales; wang.hq is head office (viewer).
async fn team(h: &Harness) -> Team {
    Team {
        chen: person(h, "chen.mgr", "sales_manager", None).await,
        li: person(h, "li.sales", "sales", Some("chen.mgr")).await,
        zhao: person(h, "zhao.sales", "sales", Some("chen.mgr")).await,
        wang: person(h, "wang.hq", "viewer", None).await,
    }
}

fn created(reply: &Reply) -> &Value {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    &reply.json
}

fn okay(reply: &Reply) -> &Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    &reply.json
}

async fn move_to(h: &Harness, s: &Session, id: i64, body: Value) -> Reply {
    post(h, s, &format!("/api/v1/opportunities/{id}/stage"), body).await
}

#[tokio::test]
async fn issue_16_a_lead_is_qualified_and_its_opportunity_is_won() {
    let h = Harness::new().await;
    let t = team(&h).await;
    // li's customer from before the fair.
    let customer = post(
        &h,
        &t.li,
        "/api/v1/customers",
        json!({"name_zh": "深圳市华强电子有限公司", "name_en": "Huaqiang Electronics Co., Ltd."}),
    )
    .await;
    assert_eq!(created(&customer)["code"], "C000001");

    // Two leads from the trade fair: one at Huaqiang written another way, one at a company
    // central does not know.
    let lead = post(
        &h,
        &t.li,
        "/api/v1/leads",
        json!({"name": "张伟", "company": "HUAQIANG ELECTRONICS CO LTD", "title": "采购经理",
               "phone": "+86 138 0013 8000", "email": "zhang.wei@huaqiang.example",
               "wechat": "zhangwei_hq", "source": "trade_fair", "note": "Canton fair, booth 12"}),
    )
    .await;
    let lead = created(&lead).clone();
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["owner"], "li.sales");
    let lead_id = lead["id"].as_i64().unwrap();
    let other = post(
        &h,
        &t.li,
        "/api/v1/leads",
        json!({"name": "王强", "company": "华南机械", "source": "website"}),
    )
    .await;
    let other_id = created(&other)["id"].as_i64().unwrap();

    // Contacted, then the list finds it by status, search and source; bad values are named.
    let contacted = put_as(
        &h,
        &t.li,
        &format!("/api/v1/leads/{lead_id}"),
        json!({"name": "张伟", "company": "HUAQIANG ELECTRONICS CO LTD", "title": "采购经理",
               "phone": "+86 138 0013 8000", "email": "zhang.wei@huaqiang.example",
               "wechat": "zhangwei_hq", "source": "trade_fair", "status": "contacted"}),
    )
    .await;
    assert_eq!(okay(&contacted)["status"], "contacted");
    for (uri, want) in [
        ("/api/v1/leads?status=contacted", vec![lead_id]),
        ("/api/v1/leads?search=13800138000", vec![lead_id]),
        ("/api/v1/leads?source=website", vec![other_id]),
        ("/api/v1/leads?limit=1", vec![lead_id]),
        (&format!("/api/v1/leads?after={lead_id}"), vec![other_id]),
    ] {
        let reply = get(&h, &t.li, uri).await;
        let ids: Vec<i64> = okay(&reply)["leads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, want, "{uri}");
    }
    get(&h, &t.li, "/api/v1/leads?status=hot")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    // Disqualified needs a reason; qualified only by qualifying.
    put_as(
        &h,
        &t.li,
        &format!("/api/v1/leads/{other_id}"),
        json!({"name": "王强", "company": "华南机械", "source": "website", "status": "disqualified"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let dq = put_as(
        &h,
        &t.li,
        &format!("/api/v1/leads/{other_id}"),
        json!({"name": "王强", "company": "华南机械", "source": "website", "status": "disqualified",
               "reason": "a student, not a buyer"}),
    )
    .await;
    assert_eq!(okay(&dq)["reason"], "a student, not a buyer");

    // Qualified: Huaqiang is joined by its name, the contact and the opportunity are made.
    let q = post(
        &h,
        &t.li,
        &format!("/api/v1/leads/{lead_id}/qualify"),
        json!({"title": "Press line retrofit", "amount": "120000.00", "close_date": "2027-02-15",
               "items": ["PRESS-200"]}),
    )
    .await;
    let q = created(&q).clone();
    assert_eq!(q["customer"], "C000001");
    assert_eq!(q["customer_created"], false);
    assert_eq!(q["lead"]["status"], "qualified");
    let opp = &q["opportunity"];
    let id = opp["id"].as_i64().unwrap();
    assert_eq!(q["lead"]["opportunity"], id);
    assert_eq!(q["lead"]["customer"], "C000001");
    assert_eq!(opp["stage"], "qualification");
    assert_eq!(opp["probability"], 10);
    assert_eq!(opp["weighted"], "12000.00");
    assert_eq!(opp["currency"], "CNY");
    assert_eq!(opp["customer_name"], "深圳市华强电子有限公司");
    assert_eq!(opp["lead"], lead_id);
    assert_eq!(opp["owner"], "li.sales");
    assert_eq!(opp["version"], 1);
    let contact = get(&h, &t.li, &format!("/api/v1/contacts/{}", q["contact"])).await;
    let contact = okay(&contact);
    assert_eq!(contact["customer"], "C000001");
    assert_eq!(contact["phones"][0]["kind"], "mobile");
    assert_eq!(contact["social"][0]["handle"], "zhangwei_hq");
    // Once only.
    post(
        &h,
        &t.li,
        &format!("/api/v1/leads/{lead_id}/qualify"),
        json!({"amount": "1.00", "close_date": "2027-02-15"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "crm_conflict");
    // The disqualified lead at a company central does not know: qualified, it makes one.
    let q2 = post(
        &h,
        &t.li,
        &format!("/api/v1/leads/{other_id}/qualify"),
        json!({"amount": "8000.00", "currency": "USD", "close_date": "2027-03-01", "stage": "needs_analysis"}),
    )
    .await;
    let q2 = created(&q2).clone();
    assert_eq!(q2["customer"], "C000002");
    assert_eq!(q2["customer_created"], true);
    assert_eq!(q2["opportunity"]["title"], "华南机械: 王强");
    assert_eq!(q2["opportunity"]["probability"], 25);
    assert_eq!(q2["opportunity"]["weighted"], "2000.00");

    // A lead qualified onto a customer named by code (a referral for Huaqiang's plant).
    let third = post(
        &h,
        &t.li,
        "/api/v1/leads",
        json!({"name": "刘洋", "source": "referral", "email": "liu.yang@huaqiang.example"}),
    )
    .await;
    let third = created(&third)["id"].as_i64().unwrap();
    post(
        &h,
        &t.li,
        &format!("/api/v1/leads/{third}/qualify"),
        json!({"amount": "1.00", "close_date": "2027-02-15"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "crm_conflict");
    let q3 = post(
        &h,
        &t.li,
        &format!("/api/v1/leads/{third}/qualify"),
        json!({"customer": "C000001", "title": "Second press", "amount": "50000.00", "close_date": "2027-04-30"}),
    )
    .await;
    let q3 = created(&q3).clone();
    assert_eq!(q3["customer"], "C000001");
    assert_ne!(
        q3["contact"], q["contact"],
        "another person at the same customer"
    );
    post(
        &h,
        &t.zhao,
        &format!("/api/v1/leads/{third}/qualify"),
        json!({"amount": "1.00", "close_date": "2027-02-15"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let lost = move_to(
        &h,
        &t.li,
        q3["opportunity"]["id"].as_i64().unwrap(),
        json!({"stage": "lost", "version": 1, "lost_reason": "budget moved to 2028"}),
    )
    .await;
    okay(&lost);

    // Through the stages to won; an override of the probability is kept.
    let mut version = 1;
    for (stage, probability, weighted) in [
        ("needs_analysis", None, "30000.00"),
        ("proposal", Some(60), "72000.00"),
        ("negotiation", None, "90000.00"),
        ("won", None, "120000.00"),
    ] {
        let mut body = json!({"stage": stage, "version": version});
        if let Some(p) = probability {
            body["probability"] = json!(p);
        }
        let reply = move_to(&h, &t.li, id, body).await;
        let o = okay(&reply);
        assert_eq!(o["stage"], stage);
        assert_eq!(o["weighted"], weighted, "{stage}");
        version = o["version"].as_i64().unwrap();
    }
    let won = get(&h, &t.li, &format!("/api/v1/opportunities/{id}")).await;
    let won = okay(&won);
    assert!(won["closed_at"].is_string());
    let history: Vec<(Value, Value, Value)> = won["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["from"].clone(), c["to"].clone(), c["by"].clone()))
        .collect();
    assert_eq!(
        history,
        [
            (Value::Null, json!("qualification"), json!("li.sales")),
            (
                json!("qualification"),
                json!("needs_analysis"),
                json!("li.sales")
            ),
            (
                json!("needs_analysis"),
                json!("proposal"),
                json!("li.sales")
            ),
            (json!("proposal"), json!("negotiation"), json!("li.sales")),
            (json!("negotiation"), json!("won"), json!("li.sales")),
        ]
    );
    // Won is final unless reopened.
    move_to(
        &h,
        &t.li,
        id,
        json!({"stage": "negotiation", "version": version}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "crm_conflict");
    let reopened = move_to(
        &h,
        &t.li,
        id,
        json!({"stage": "negotiation", "version": version, "reopen": true}),
    )
    .await;
    let reopened = okay(&reopened);
    assert!(reopened["closed_at"].is_null());
    assert_eq!(reopened["probability"], 75);
    let version = reopened["version"].as_i64().unwrap();
    let won = move_to(&h, &t.li, id, json!({"stage": "won", "version": version})).await;
    okay(&won);

    // An activity logged on the opportunity carries its customer.
    let call = post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "call", "subject": "PO received", "opportunity": id}),
    )
    .await;
    let call = created(&call);
    assert_eq!(call["opportunity"], id);
    assert_eq!(call["customer"], "C000001");
    let on_it = get(&h, &t.li, &format!("/api/v1/activities?opportunity={id}")).await;
    assert_eq!(okay(&on_it)["activities"].as_array().unwrap().len(), 1);

    // Whose deals: zhao (li's colleague) gets 404 and an empty list, chen (their manager) and
    // head office see them; head office does not change them.
    get(&h, &t.zhao, &format!("/api/v1/opportunities/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    get(&h, &t.zhao, &format!("/api/v1/leads/{lead_id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    move_to(
        &h,
        &t.zhao,
        id,
        json!({"stage": "lost", "version": 1, "lost_reason": "x"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    post(
        &h,
        &t.zhao,
        "/api/v1/activities",
        json!({"kind": "note", "subject": "peek", "opportunity": id}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let none = get(&h, &t.zhao, "/api/v1/opportunities").await;
    assert_eq!(okay(&none)["opportunities"], json!([]));
    for s in [&t.chen, &t.wang] {
        let seen = get(&h, s, &format!("/api/v1/opportunities/{id}")).await;
        assert_eq!(okay(&seen)["stage"], "won");
        let all = get(&h, s, "/api/v1/opportunities").await;
        assert_eq!(okay(&all)["opportunities"].as_array().unwrap().len(), 3);
    }
    post(
        &h,
        &t.wang,
        "/api/v1/leads",
        json!({"name": "x", "source": "other"}),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Every change is in the audit trail as its author's.
    let audit = h
        .get(
            &format!("/api/v1/audit?entity=crm_opportunities&entity_id={id}&actor=li.sales"),
            ADMIN,
        )
        .await;
    assert!(
        audit.json["entries"].as_array().unwrap().len() >= 6,
        "{}",
        audit.json
    );
    let audit = h
        .get("/api/v1/audit?entity=crm_opportunity_stages", ADMIN)
        .await;
    assert!(!audit.json["entries"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn issue_16_lost_needs_a_reason_and_two_movers_do_not_override_each_other() {
    let h = Harness::new().await;
    let t = team(&h).await;
    let c = post(&h, &t.li, "/api/v1/customers", json!({"name_en": "Acme"})).await;
    let code = created(&c)["code"].as_str().unwrap().to_owned();
    let o = post(
        &h,
        &t.li,
        "/api/v1/opportunities",
        json!({"customer": code, "title": "Spare parts", "amount": "5000.00", "close_date": "2027-01-31"}),
    )
    .await;
    let id = created(&o)["id"].as_i64().unwrap();

    // Lost needs a reason.
    move_to(&h, &t.li, id, json!({"stage": "lost", "version": 1}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    move_to(
        &h,
        &t.li,
        id,
        json!({"stage": "proposal", "version": 1, "probability": 101}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");

    // The manager and li both look at version 1; li moves first, chen's move is refused
    // and changes nothing.
    let li_moves = move_to(&h, &t.li, id, json!({"stage": "proposal", "version": 1})).await;
    assert_eq!(okay(&li_moves)["version"], 2);
    let chen_moves = move_to(
        &h,
        &t.chen,
        id,
        json!({"stage": "negotiation", "version": 1}),
    )
    .await;
    let message = chen_moves
        .assert_error(StatusCode::CONFLICT, "crm_conflict")
        .to_owned();
    assert!(message.contains("version 2, not 1"), "{message}");
    let now = get(&h, &t.li, &format!("/api/v1/opportunities/{id}")).await;
    assert_eq!(okay(&now)["stage"], "proposal");
    // A change of the fields with an old version is refused too.
    put_as(
        &h,
        &t.li,
        &format!("/api/v1/opportunities/{id}"),
        json!({"customer": code, "title": "Spare parts", "amount": "6000.00", "close_date": "2027-01-31", "version": 1}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "crm_conflict");
    // With the current one, chen loses it with a reason.
    let lost = move_to(
        &h,
        &t.chen,
        id,
        json!({"stage": "lost", "version": 2, "lost_reason": "price: a competitor 15% lower"}),
    )
    .await;
    let lost = okay(&lost);
    assert_eq!(lost["stage"], "lost");
    assert_eq!(lost["probability"], 0);
    assert_eq!(lost["weighted"], "0.00");
    assert_eq!(lost["lost_reason"], "price: a competitor 15% lower");
    assert_eq!(lost["history"][2]["by"], "chen.mgr");
    assert_eq!(
        lost["history"][2]["reason"],
        "price: a competitor 15% lower"
    );
    // Unknown stage, unknown opportunity.
    move_to(&h, &t.li, id, json!({"stage": "closed", "version": 3}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    move_to(&h, &t.li, 999, json!({"stage": "won", "version": 1}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // An opportunity on a customer zhao does not see: 404.
    post(
        &h,
        &t.zhao,
        "/api/v1/opportunities",
        json!({"customer": code, "title": "x", "amount": "1.00", "close_date": "2027-01-31"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn issue_16_the_weighted_forecast_is_exact() {
    let h = Harness::new().await;
    let t = team(&h).await;
    let c = post(&h, &t.li, "/api/v1/customers", json!({"name_en": "Acme"})).await;
    let code = created(&c)["code"].as_str().unwrap().to_owned();
    let c2 = post(
        &h,
        &t.zhao,
        "/api/v1/customers",
        json!({"name_en": "Globex", "currency": "USD"}),
    )
    .await;
    let code2 = created(&c2)["code"].as_str().unwrap().to_owned();
    // (who, customer, amount, close, stage to move to, lost reason)
    let deals = [
        (&t.li, &code, "10000.00", "2027-01-15", None),
        (&t.li, &code, "20000.00", "2027-01-20", Some("proposal")),
        (&t.li, &code, "333.33", "2027-01-31", None),
        (
            &t.zhao,
            &code2,
            "1000.00",
            "2027-02-01",
            Some("negotiation"),
        ),
        (&t.li, &code, "5000.00", "2027-01-02", Some("won")),
        (&t.li, &code, "99999.00", "2027-01-02", Some("lost")),
        // Outside the range.
        (&t.li, &code, "7777.00", "2027-06-01", None),
    ];
    for (who, customer, amount, close, stage) in deals {
        let o = post(
            &h,
            who,
            "/api/v1/opportunities",
            json!({"customer": customer, "title": format!("deal {amount}"), "amount": amount, "close_date": close}),
        )
        .await;
        let id = created(&o)["id"].as_i64().unwrap();
        if let Some(stage) = stage {
            let reply = move_to(
                &h,
                who,
                id,
                json!({"stage": stage, "version": 1, "lost_reason": "too dear"}),
            )
            .await;
            okay(&reply);
        }
    }
    let f = get(
        &h,
        &t.chen,
        "/api/v1/crm/forecast?from=2027-01-01&to=2027-03-31",
    )
    .await;
    let f = okay(&f).clone();
    let totals: Vec<(String, u64, String, String)> = f["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["currency"].as_str().unwrap().to_owned(),
                s["count"].as_u64().unwrap(),
                s["amount"].as_str().unwrap().to_owned(),
                s["weighted"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        [
            ("CNY".into(), 4, "35333.33".into(), "16033.33".into()),
            ("USD".into(), 1, "1000.00".into(), "750.00".into()),
        ],
        "{f}"
    );
    let stage = |key: &str| {
        f["by_stage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key && s["currency"] == "CNY")
            .map(|s| s["weighted"].as_str().unwrap().to_owned())
    };
    assert_eq!(stage("qualification").as_deref(), Some("1033.33"));
    assert_eq!(stage("proposal").as_deref(), Some("10000.00"));
    assert_eq!(stage("won").as_deref(), Some("5000.00"));
    assert_eq!(stage("lost"), None);
    // One owner: li's only; li alone sees only hers.
    let li = get(
        &h,
        &t.chen,
        "/api/v1/crm/forecast?from=2027-01-01&to=2027-03-31&owner=li.sales",
    )
    .await;
    assert_eq!(okay(&li)["totals"].as_array().unwrap().len(), 1);
    let mine = get(
        &h,
        &t.li,
        "/api/v1/crm/forecast?from=2027-01-01&to=2027-03-31",
    )
    .await;
    assert_eq!(okay(&mine)["totals"][0]["weighted"], "16033.33");
    assert_eq!(okay(&mine)["totals"].as_array().unwrap().len(), 1);

    // Converted to CNY: with no USD rate it says which is missing; with one it is exact.
    let uri = "/api/v1/crm/forecast?from=2027-01-01&to=2027-03-31&currency=CNY";
    let missing = get(&h, &t.chen, uri).await;
    let message = missing.assert_error(StatusCode::CONFLICT, "no_forecast");
    assert!(
        message.contains("no exchange rate from USD to CNY"),
        "{message}"
    );
    let rates = h
        .call(
            Method::PUT,
            "/api/v1/exchange-rates",
            Some(ADMIN),
            Some(json!({"rates": [{"from": "USD", "to": "CNY", "rate": "7.1", "valid_from": "2020-01-01"}]})),
        )
        .await;
    assert!(rates.status.is_success(), "{}", rates.json);
    let cny = get(&h, &t.chen, uri).await;
    let cny = okay(&cny);
    assert_eq!(cny["currency"], "CNY");
    assert_eq!(cny["totals"][0]["amount"], "42433.33");
    assert_eq!(cny["totals"][0]["weighted"], "21358.33");
    let commit = cny["by_category"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "commit")
        .unwrap();
    assert_eq!(commit["weighted"], "5325.00");
    // The list: by stage, searched by title or the customer's name, closing in a range,
    // paged by id.
    let ids = |reply: &Reply| -> Vec<String> {
        okay(reply)["opportunities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["amount"].as_str().unwrap().to_owned())
            .collect()
    };
    for (uri, want) in [
        ("/api/v1/opportunities?stage=won", vec!["5000.00"]),
        ("/api/v1/opportunities?search=globex", vec!["1000.00"]),
        ("/api/v1/opportunities?search=DEAL%20333", vec!["333.33"]),
        (
            "/api/v1/opportunities?from=2027-01-16&to=2027-02-01",
            vec!["20000.00", "333.33", "1000.00"],
        ),
        ("/api/v1/opportunities?owner=zhao.sales", vec!["1000.00"]),
        (
            "/api/v1/opportunities?limit=2",
            vec!["10000.00", "20000.00"],
        ),
    ] {
        assert_eq!(ids(&get(&h, &t.chen, uri).await), want, "{uri}");
    }
    let page = get(&h, &t.chen, "/api/v1/opportunities?limit=2").await;
    let next = okay(&page)["next"].as_i64().unwrap();
    let rest = get(
        &h,
        &t.chen,
        &format!("/api/v1/opportunities?after={next}&limit=2"),
    )
    .await;
    assert_eq!(ids(&rest), ["333.33", "1000.00"]);
    get(&h, &t.chen, "/api/v1/opportunities?stage=closed")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    get(
        &h,
        &t.chen,
        "/api/v1/crm/forecast?from=2027-03-01&to=2027-01-01",
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

/// A store made before the pipeline (its activities without `opportunity`, no pipeline
/// tables) gets them when central opens it, and the pipeline works on it.
#[tokio::test]
async fn issue_16_a_store_made_before_the_pipeline_gets_its_tables_and_column() {
    let h = Harness::new().await;
    let t = team(&h).await;
    let c = post(&h, &t.li, "/api/v1/customers", json!({"name_en": "Acme"})).await;
    let code = created(&c)["code"].as_str().unwrap().to_owned();
    let call = post(
        &h,
        &t.li,
        "/api/v1/activities",
        json!({"kind": "call", "subject": "before the pipeline", "customer": code}),
    )
    .await;
    created(&call);
    h.sql("DROP INDEX crm_activities_opportunity", vec![]);
    h.sql("ALTER TABLE crm_activities DROP COLUMN opportunity", vec![]);
    for table in ["crm_opportunity_stages", "crm_opportunities", "crm_leads"] {
        h.sql(&format!("DROP TABLE {table}"), vec![]);
    }
    let h = h.reopen().await;
    let li = session(&h, "li.sales").await;
    let activities = get(&h, &li, &format!("/api/v1/activities?customer={code}")).await;
    let activities = okay(&activities)["activities"].as_array().unwrap().clone();
    assert_eq!(activities.len(), 1);
    assert_eq!(activities[0]["opportunity"], Value::Null);
    let o = post(
        &h,
        &li,
        "/api/v1/opportunities",
        json!({"customer": code, "title": "after", "amount": "10.00", "close_date": "2027-01-31"}),
    )
    .await;
    let id = created(&o)["id"].as_i64().unwrap();
    let note = post(
        &h,
        &li,
        "/api/v1/activities",
        json!({"kind": "note", "subject": "on the deal", "opportunity": id}),
    )
    .await;
    assert_eq!(created(&note)["customer"], code);
}
