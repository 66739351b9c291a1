//! Issue 16: the pages of quotations and sales orders (`/crm/quotations`, `/crm/orders`,
//! `/crm/flags`) show what the API answers, to whom it may: another salesperson's document
//! is a 404 page, as an unknown one is. The customer's `/order-status/{token}` page is public,
//! shows dates and quantities but no prices, and answers one 404 page for every token that
//! does not open, whatever its shape.

use crate::crm::{Team, get, post, team};
use crate::people::{Session, session_headers};
use crate::work_orders::import;
use crate::*;

/// FRAME and BOLT with list prices, the 13 % VAT, 10 frames in stock.
async fn catalogue(h: &Harness) {
    import(
        h,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
         FRAME,Steel frame,make,ea,3,lfl,,\nBOLT,M8 bolt,buy,ea,5,lfl,,\n",
    )
    .await;
    for (item, price) in [("FRAME", "100"), ("BOLT", "0.5")] {
        let reply = h
            .post(
                "/api/v1/prices",
                ADMIN,
                json!({"item": item, "currency": "CNY", "price": price, "valid_from": "2020-01-01"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    }
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/tax-rates",
            Some(ADMIN),
            Some(json!({"tax_rates": [{"code": "VAT", "name": "增值税 13%", "rate_pct": "13", "valid_from": "2019-04-01"}]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    crate::erp::locations(h).await;
    import(h, "inventory", "item,lot,location,qty\nFRAME,,WH1,10\n").await;
}

struct Page {
    status: StatusCode,
    csp: String,
    body: String,
}

/// A page as a browser gets it: signed in as `s`, or not signed in at all.
async fn page_as(h: &Harness, s: Option<&Session>, path: &str, accept_language: &str) -> Page {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    if let Some(s) = s {
        let [(name, value), _] = session_headers(s);
        request.headers_mut().insert(name, value);
    }
    if !accept_language.is_empty() {
        request.headers_mut().insert(
            header::ACCEPT_LANGUAGE,
            header::HeaderValue::from_str(accept_language).unwrap(),
        );
    }
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

async fn page(h: &Harness, s: &Session, path: &str) -> Page {
    page_as(h, Some(s), path, "").await
}

/// `attr="value"` values following each `marker` in the body, in order.
fn values_after<'a>(body: &'a str, marker: &str) -> Vec<&'a str> {
    body.split(marker)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

/// An amount as the pages show it.
fn shown(v: &Value) -> String {
    let d: rust_decimal::Decimal = v
        .as_str()
        .map_or_else(|| v.to_string(), str::to_owned)
        .parse()
        .unwrap();
    format!("{d:.2}")
}

#[tokio::test]
async fn issue_16_the_sales_pages_show_what_the_api_answers_to_whom_it_may() {
    let h = Harness::new().await;
    catalogue(&h).await;
    let Team { chen, li, zhao, .. } = team(&h).await;
    let reply = post(
        &h,
        &li,
        "/api/v1/customers",
        json!({"name_zh": "艾克美自行车", "name_en": "Acme Bikes", "credit_limit": "1000"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let acme = reply.json["code"].as_str().unwrap().to_owned();

    // A quotation as the API makes it, on its list and its page.
    let reply = post(
        &h,
        &li,
        "/api/v1/quotations",
        json!({"customer": acme, "tax_code": "VAT",
               "lines": [{"item": "FRAME", "qty": "8"}, {"item": "BOLT", "qty": "100", "discount_pct": "10"}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let q = reply.json["id"].as_i64().unwrap();
    let gross = shown(&reply.json["totals"]["gross"]);
    let list = page(&h, &li, "/crm/quotations").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let api_list = get(&h, &li, "/api/v1/quotations").await.json;
    let ids: Vec<String> = api_list["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].to_string())
        .collect();
    assert_eq!(values_after(&list.body, r#"<tr data-id=""#), ids);
    assert!(list.body.contains("Q000001/1"));
    assert!(list.body.contains(&gross), "{gross}: {}", list.body);
    assert!(
        list.body.contains(r#"id="sales-quotation-form""#),
        "crm.write"
    );
    assert!(
        list.body
            .contains(r#"href="/crm/quotations" aria-current="page""#),
        "the nav link"
    );
    assert_eq!(list.body.matches("<script").count(), 2, "no inline script");
    assert!(list.csp.starts_with("default-src 'self'"), "{}", list.csp);
    let zh = page(&h, &li, "/crm/quotations?status=draft&lang=zh").await;
    assert!(
        zh.body.contains("报价单") && zh.body.contains("草稿"),
        "{}",
        zh.body
    );
    let none = page(&h, &li, "/crm/quotations?status=sent").await;
    assert!(none.body.contains(r#"id="sales-none""#));
    let bad = page(&h, &li, "/crm/quotations?status=nonsense").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let one = page(&h, &li, &format!("/crm/quotations/{q}")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(
        values_after(&one.body, r#"<tr data-line=""#)[..2],
        ["1", "2"]
    );
    assert!(one.body.contains("Steel frame") && one.body.contains("list price"));
    assert!(
        one.body
            .contains(&format!(r#"href="/api/v1/quotations/{q}/pdf?lang=zh""#))
    );
    assert!(one.body.contains(r#"id="sales-send""#), "a draft is sent");
    assert!(
        !one.body.contains(r#"id="sales-order-form""#),
        "a draft is not ordered"
    );
    assert!(
        one.body
            .contains(&format!(r#"<dd id="total-gross">{gross} CNY"#))
    );

    let reply = post(&h, &li, &format!("/api/v1/quotations/{q}/send"), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let one = page(&h, &li, &format!("/crm/quotations/{q}")).await;
    for button in [
        "sales-revise",
        "sales-reprice",
        "sales-reject",
        "sales-order-form",
        "sales-reprice-note",
    ] {
        assert!(one.body.contains(&format!(r#"id="{button}""#)), "{button}");
    }
    assert!(!one.body.contains(r#"id="sales-send""#));

    // Part of it ordered: the order's page, then confirmed from stock.
    let reply = post(
        &h,
        &li,
        "/api/v1/sales-orders",
        json!({"quotation": q, "customer_po": "PO-77", "quoted_lines": [{"line": 1, "qty": "4"}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let order = reply.json["id"].as_i64().unwrap();
    let draft = page(&h, &li, &format!("/crm/orders/{order}")).await;
    assert_eq!(draft.status, StatusCode::OK, "{}", draft.body);
    assert!(draft.body.contains(r#"id="sales-confirm""#) && draft.body.contains("PO-77"));
    let reply = post(
        &h,
        &li,
        &format!("/api/v1/sales-orders/{order}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let confirmed_date = reply.json["lines"][0]["confirmed_date"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = page(&h, &li, &format!("/crm/orders/{order}?lang=zh")).await;
    assert!(done.body.contains(r#"data-limit="stock""#), "{}", done.body);
    assert!(done.body.contains("现有库存"), "the limit in Chinese");
    assert!(done.body.contains(&confirmed_date));
    assert!(done.body.contains(r#"id="sales-status-link""#));
    assert!(!done.body.contains(r#"id="sales-confirm""#));
    let quoted = page(&h, &li, &format!("/crm/quotations/{q}")).await;
    assert!(
        quoted
            .body
            .contains(r#"<td class="num nowrap ordered" data-label="Ordered">4</td>"#),
        "{}",
        quoted.body
    );
    let orders = page(&h, &li, "/crm/orders").await;
    assert_eq!(
        values_after(&orders.body, r#"<tr data-id=""#),
        [order.to_string()]
    );

    // A direct order past the credit limit stays a draft; its history says why.
    let reply = post(
        &h,
        &li,
        "/api/v1/sales-orders",
        json!({"customer": acme, "lines": [{"item": "FRAME", "qty": "7"}]}),
    )
    .await;
    let over = reply.json["id"].as_i64().unwrap();
    let reply = post(
        &h,
        &li,
        &format!("/api/v1/sales-orders/{over}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.json);
    assert_eq!(reply.error_code(), "credit_limit");
    let refused = page(&h, &li, &format!("/crm/orders/{over}")).await;
    assert!(
        refused.body.contains(r#"data-action="credit_refused""#),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"id="sales-credit""#));

    // The customer's status link: public, dates and quantities, no prices.
    let link = get(
        &h,
        &li,
        &format!("/api/v1/sales-orders/{order}/status-link"),
    )
    .await
    .json;
    let path = link["page"].as_str().unwrap().to_owned();
    let status = page_as(&h, None, &path, "en-GB,en;q=0.9").await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert!(
        status.csp.starts_with("default-src 'self'"),
        "{}",
        status.csp
    );
    assert!(status.body.contains("Order status") && status.body.contains("PO-77"));
    assert!(status.body.contains(&confirmed_date));
    assert!(status.body.contains(r#"name="viewport""#));
    assert!(
        !status.body.contains("100.00") && !status.body.contains("<nav"),
        "no prices, no nav"
    );
    assert!(!status.body.contains("<script"));
    let status_zh = page_as(&h, None, &path, "zh-CN,zh;q=0.9").await;
    assert!(status_zh.body.contains("订单进度"));
    let status_en = page_as(&h, None, &format!("{path}?lang=en"), "zh-CN").await;
    assert!(status_en.body.contains("Made so far"));
    for token in ["nonsense", &"0".repeat(64), &"A".repeat(64)] {
        let missing = page_as(&h, None, &format!("/order-status/{token}"), "en").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{token}");
        assert!(missing.body.contains(r#"id="status-not-found""#));
        assert!(missing.csp.starts_with("default-src 'self'"));
    }

    // Flags: a price change flags the open draft; the flags page links to it.
    let reply = post(
        &h,
        &li,
        "/api/v1/quotations",
        json!({"customer": acme, "lines": [{"item": "FRAME", "qty": "2"}]}),
    )
    .await;
    let flagged = reply.json["id"].as_i64().unwrap();
    let reply = post(
        &h,
        &chen,
        "/api/v1/prices",
        json!({"item": "FRAME", "currency": "CNY", "customer": acme, "price": "92.5", "valid_from": "2020-01-01"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let api_flags = get(&h, &li, "/api/v1/crm/flags").await.json;
    let flag_ids: Vec<String> = api_flags["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].to_string())
        .collect();
    assert!(!flag_ids.is_empty());
    let flags = page(&h, &li, "/crm/flags").await;
    assert_eq!(values_after(&flags.body, r#"<tr data-flag=""#), flag_ids);
    assert!(
        flags
            .body
            .contains(&format!(r#"href="/crm/quotations/{flagged}""#))
    );
    assert!(flags.body.contains("92.50"));
    let one = page(&h, &li, &format!("/crm/quotations/{flagged}")).await;
    assert!(one.body.contains(r#"id="sales-flags""#));
    assert!(
        one.body
            .contains(r#"<span class="old">100.00</span> → <span class="new">92.50</span>"#),
        "{}",
        one.body
    );
    let only = page(&h, &li, "/crm/quotations?flagged=true").await;
    assert!(values_after(&only.body, r#"<tr data-id=""#).contains(&flagged.to_string().as_str()));

    // Scope: zhao does not see li's documents (a 404 page like an unknown one), chen does.
    for path in [
        format!("/crm/quotations/{q}"),
        format!("/crm/orders/{order}"),
        "/crm/quotations/99999".to_owned(),
        "/crm/orders/abc".to_owned(),
    ] {
        let other = page(&h, &zhao, &path).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "{path}");
        assert!(other.body.contains(r#"id="crm-not-found""#), "{path}");
    }
    assert_eq!(
        values_after(
            &page(&h, &zhao, "/crm/orders").await.body,
            r#"<tr data-id=""#
        ),
        Vec::<&str>::new()
    );
    assert_eq!(
        page(&h, &chen, &format!("/crm/orders/{order}"))
            .await
            .status,
        StatusCode::OK
    );
    // An order's id is not a quotation's page.
    assert_eq!(
        page(&h, &li, &format!("/crm/quotations/{order}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn issue_16_sales_pages_refuse_without_crm_read() {
    let h = Harness::new().await;
    crate::work_orders::ok(
        &crate::work_orders::put(
            &h,
            "/api/v1/users/zhou.min",
            json!({"display_name": "Zhou Min", "roles": ["supervisor"], "plants": ["default"],
                   "password": crate::people::PASSWORD, "language": "en"}),
        )
        .await,
    );
    let supervisor = crate::people::session(&h, "zhou.min").await;
    for path in [
        "/crm/quotations",
        "/crm/orders",
        "/crm/flags",
        "/crm/orders/1",
    ] {
        let refused = page(&h, &supervisor, path).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.body.contains("crm.read"), "{path}");
    }
    let home = page(&h, &supervisor, "/account").await;
    assert!(
        !home.body.contains(r#"href="/crm/quotations""#),
        "no nav link"
    );
    let anonymous = page_as(&h, None, "/crm/quotations", "").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
}
