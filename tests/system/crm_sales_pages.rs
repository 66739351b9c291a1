//! Quotations, sales orders and the customer's status page in a real browser (issue 16):
//! headless Chromium over WebDriver against the real `mes central` binary, the harness of
//! `central_pages.rs` and `crm_pages.rs`.
//!
//! A salesperson writes a quotation on `/crm/quotations` (a line priced from the price lists,
//! one at a price agreed on with a discount), sends it, checks that its PDF link answers a
//! PDF, orders part of it, confirms the order and sees the confirmed date and what limits it,
//! each against what the API answers. The customer's status link opens in a fresh browser
//! that is not signed in and shows the dates, no prices. A second order past the customer's
//! credit limit is refused on the page with the figures. Screenshots in Chinese and English,
//! on a desktop and at 400 px wide, go to `<target>/test-artifacts/crm-sales/`.

use crate::support::*;
use crate::terminal::{Artifacts, BrowserTools, Chromedriver, Page};
use serde_json::{Value, json};
use std::path::PathBuf;

const SALES: &str = "li.sales";
const PASSWORD: &str = "a fair password of 24 ch";

pub(crate) async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http_client()
        .request(method.clone(), format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("central answers");
    let status = response.status().as_u16();
    let reply: Value = response.json().await.unwrap_or(Value::Null);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {reply}"
    );
    reply
}

async fn csv(base: &str, kind: &str, body: &str) {
    let response = http_client()
        .post(format!("{base}/api/v1/import/{kind}"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .expect("central answers");
    assert_eq!(response.status().as_u16(), 200, "import {kind}");
}

/// Screenshots of the page at `path` in both languages, on a desktop and at 400 px (the OA
/// pages' test takes them the same way).
pub(crate) async fn shots(page: &Page, base: &str, path: &str, step: &str) {
    for (width, size) in [("desktop", (1280, 900)), ("400", (400, 900))] {
        page.resize(size).await;
        for lang in ["zh", "en"] {
            let sep = if path.contains('?') { '&' } else { '?' };
            page.goto(&format!("{base}{path}{sep}lang={lang}")).await;
            page.loaded(path.split('?').next().unwrap_or(path)).await;
            if width == "400" {
                page.assert_no_horizontal_scrolling().await;
            }
            page.screenshot(&format!("{step}-{lang}-{width}")).await;
        }
    }
    page.resize((1280, 900)).await;
}

#[tokio::test]
async fn issue_16_a_quotation_ordered_confirmed_and_followed_by_the_customer_in_a_browser() {
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let artifacts = Artifacts::named("crm-sales");
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;
    call(
        &base,
        put.clone(),
        "/api/v1/plants/plant-a",
        Some(json!({"name": "深圳工厂"})),
    )
    .await;
    call(
        &base,
        put.clone(),
        &format!("/api/v1/users/{SALES}"),
        Some(json!({"display_name": "李销售", "roles": ["sales"], "plants": ["plant-a"], "language": "zh",
                    "time_zone": "Asia/Shanghai", "password": PASSWORD})),
    )
    .await;
    csv(
        &base,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
         FRAME,钢制车架 Steel frame,make,ea,3,lfl,,\nBOLT,M8 螺栓 M8 bolt,buy,ea,5,lfl,,\n",
    )
    .await;
    for (item, price) in [("FRAME", "100"), ("BOLT", "0.5")] {
        call(
            &base,
            post.clone(),
            "/api/v1/prices",
            Some(json!({"item": item, "currency": "CNY", "price": price, "valid_from": "2020-01-01"})),
        )
        .await;
    }
    call(
        &base,
        put.clone(),
        "/api/v1/tax-rates",
        Some(json!({"tax_rates": [{"code": "VAT", "name": "增值税 13%", "rate_pct": "13", "valid_from": "2019-04-01"}]})),
    )
    .await;
    call(
        &base,
        put.clone(),
        "/api/v1/warehouses/WH",
        Some(json!({"description": "main"})),
    )
    .await;
    call(
        &base,
        put.clone(),
        "/api/v1/warehouses/WH/locations/WH1",
        Some(json!({})),
    )
    .await;
    csv(&base, "inventory", "item,lot,location,qty\nFRAME,,WH1,10\n").await;
    let customer = call(
        &base,
        post.clone(),
        "/api/v1/customers",
        Some(json!({"name_zh": "艾克美自行车有限公司", "name_en": "Acme Bikes Co., Ltd.", "credit_limit": "1500",
                    "owner": SALES})),
    )
    .await;
    let code = customer["code"].as_str().expect("a code").to_owned();

    let driver = Chromedriver::start(&tools, &tmp.path().join("chromedriver.log")).await;
    let open = |name, size| {
        let profile: PathBuf = tmp.path().join(format!("chromium-{name}"));
        Page::open(&driver, &tools, name, size, &artifacts, profile)
    };

    // ---- The salesperson writes a quotation on the page.
    let li = open("sales", (1280, 900)).await;
    li.goto(&format!("{base}/crm/quotations")).await;
    li.loaded("/sign-in").await;
    li.sign_in(SALES, PASSWORD).await;
    li.loaded("/crm/quotations").await;
    li.type_into("q-customer", &code).await;
    li.type_into("q-tax", "VAT").await;
    li.js(r#"const row = document.querySelector('#q-lines tr.q-line');
           row.querySelector('.l-item').value = 'FRAME'; row.querySelector('.l-qty').value = '10';
           return true;"#)
        .await;
    li.click("#q-add-line").await;
    li.js(
        r#"const row = document.querySelectorAll('#q-lines tr.q-line')[1];
           row.querySelector('.l-item').value = 'BOLT'; row.querySelector('.l-qty').value = '200';
           row.querySelector('.l-price').value = '0.45'; row.querySelector('.l-discount').value = '5';
           return true;"#,
    )
    .await;
    li.screenshot("00-new-quotation-zh-desktop").await;
    li.click("#sales-create-quotation").await;
    let id = li
        .wait(
            "the new quotation's page",
            r#"const h = document.getElementById('sales-title');
               return location.pathname.startsWith('/crm/quotations/') && h ? h.dataset.id : null;"#,
        )
        .await;
    let id = id.as_str().expect("an id").to_owned();
    let doc = call(
        &base,
        reqwest::Method::GET,
        &format!("/api/v1/quotations/{id}"),
        None,
    )
    .await;
    assert_eq!(doc["lines"][0]["price_source"], "list");
    assert_eq!(doc["lines"][1]["price_source"], "manual");
    assert_eq!(doc["status"], "draft");

    // The draft is edited on its page: the editor starts from its lines (the bolts' agreed
    // price kept, the frame priced from the list), a line is added and one changed, and the
    // saved draft keeps its number, customer and validity.
    let editor = li
        .js(
            r#"return [...document.querySelectorAll('#sales-edit tr.q-line')].map(r =>
               [r.querySelector('.l-item').value, r.querySelector('.l-qty').value,
                r.querySelector('.l-price').value, r.querySelector('.l-discount').value]);"#,
        )
        .await;
    assert_eq!(
        editor,
        json!([["FRAME", "10", "", ""], ["BOLT", "200", "0.45", "5"]])
    );
    li.js(r#"document.querySelector('#sales-edit tr.q-line .l-qty').value = '12'; return true;"#)
        .await;
    li.click("#q-add-line").await;
    li.js(
        r#"const rows = document.querySelectorAll('#sales-edit tr.q-line');
           const row = rows[rows.length - 1];
           row.querySelector('.l-item').value = 'BOLT'; row.querySelector('.l-qty').value = '8';
           return true;"#,
    )
    .await;
    li.screenshot("00-edit-draft-zh-desktop").await;
    li.click("#sales-save-quotation").await;
    li.wait(
        "the saved draft, three lines",
        "return document.querySelectorAll('#sales-lines tbody tr').length === 3 || null;",
    )
    .await;
    let edited = call(
        &base,
        reqwest::Method::GET,
        &format!("/api/v1/quotations/{id}"),
        None,
    )
    .await;
    assert_eq!(edited["number"], doc["number"]);
    assert_eq!(edited["revision"], 1);
    assert_eq!(edited["customer"], doc["customer"]);
    assert_eq!(edited["valid_until"], doc["valid_until"]);
    assert_eq!(edited["tax_code"], "VAT");
    assert_eq!(edited["lines"][0]["qty"], json!("12"));
    assert_eq!(
        edited["lines"][1]["unit_price"],
        doc["lines"][1]["unit_price"]
    );
    assert_eq!(edited["lines"][2]["price_source"], "list");
    // Back as it was for the rest of the story: the added line removed, 10 frames.
    li.js(
        r#"const rows = document.querySelectorAll('#sales-edit tr.q-line');
           rows[2].querySelector('.l-remove').click();
           rows[0].querySelector('.l-qty').value = '10'; return true;"#,
    )
    .await;
    li.click("#sales-save-quotation").await;
    li.wait(
        "the saved draft, two lines",
        "return document.querySelectorAll('#sales-lines tbody tr').length === 2 || null;",
    )
    .await;

    li.accept_confirms().await;
    li.click("#sales-send").await;
    li.wait(
        "sent",
        "const h = document.getElementById('sales-title'); return h && h.dataset.status === 'sent';",
    )
    .await;
    // The PDF link answers a PDF (with the browser's session cookie).
    let kind = li
        .js(
            r#"return fetch(document.getElementById('sales-pdf-en').href, {credentials: 'same-origin'})
                 .then(r => r.status + ' ' + r.headers.get('content-type'));"#,
        )
        .await;
    assert_eq!(kind, json!("200 application/pdf"), "the PDF link");
    shots(&li, &base, &format!("/crm/quotations/{id}"), "01-quotation").await;

    // Part of it ordered: 6 of the 10 frames, no bolts.
    li.goto(&format!("{base}/crm/quotations/{id}")).await;
    li.loaded(&format!("/crm/quotations/{id}")).await;
    li.type_into("o-po", "PO-2026-118").await;
    li.js(r#"const inputs = document.querySelectorAll('input.o-qty');
           inputs[0].value = '6'; inputs[1].value = ''; return true;"#)
        .await;
    li.click("#sales-create-order").await;
    let order = li
        .wait(
            "the order's page",
            r#"const h = document.getElementById('sales-title');
               return location.pathname.startsWith('/crm/orders/') && h ? h.dataset.id : null;"#,
        )
        .await;
    let order = order.as_str().expect("an id").to_owned();
    li.click("#sales-confirm").await;
    let limit = li
        .wait(
            "confirmed, with its date and what limits it",
            r#"const h = document.getElementById('sales-title');
               const row = document.querySelector('#sales-lines tbody tr');
               return h && h.dataset.status === 'confirmed' && row
                 ? [row.dataset.limit, row.querySelector('td.confirmed').textContent.trim()] : null;"#,
        )
        .await;
    let api_order = call(
        &base,
        reqwest::Method::GET,
        &format!("/api/v1/sales-orders/{order}"),
        None,
    )
    .await;
    assert_eq!(api_order["lines"][0]["qty"], json!("6"));
    assert_eq!(
        limit,
        json!([
            api_order["lines"][0]["limit"]["code"],
            api_order["lines"][0]["confirmed_date"]
        ])
    );
    shots(&li, &base, &format!("/crm/orders/{order}"), "02-order").await;

    // The customer's status link, copied from the page.
    li.goto(&format!("{base}/crm/orders/{order}")).await;
    li.loaded(&format!("/crm/orders/{order}")).await;
    li.click("#sales-status-link").await;
    let link = li
        .wait(
            "the link shown",
            "const i = document.getElementById('sales-link'); return i && i.value ? i.value : null;",
        )
        .await;
    let link = link.as_str().expect("a link").to_owned();
    assert!(link.starts_with(&format!("{base}/order-status/")), "{link}");

    // A second order past the credit limit of 1500: 10 more frames on top of the 6 open.
    let second = call(
        &base,
        post.clone(),
        "/api/v1/sales-orders",
        Some(json!({"customer": code, "owner": SALES, "lines": [{"item": "FRAME", "qty": "10"}]})),
    )
    .await;
    let second = second["id"].to_string();
    li.goto(&format!("{base}/crm/orders/{second}?lang=zh"))
        .await;
    li.loaded(&format!("/crm/orders/{second}")).await;
    li.click("#sales-confirm").await;
    let refusal = li
        .wait(
            "the credit refusal with its figures",
            r#"const box = document.getElementById('sales-credit');
               return box && !box.hidden ? box.textContent.trim() : null;"#,
        )
        .await;
    let refusal = refusal.as_str().expect("text").to_owned();
    assert!(
        refusal.contains("1500") && refusal.contains("信用额度"),
        "{refusal}"
    );
    li.screenshot("03-credit-refused-zh-desktop").await;
    li.resize((400, 900)).await;
    li.screenshot("03-credit-refused-zh-400").await;
    li.resize((1280, 900)).await;
    // ERP gives the customer its own FRAME price: the draft order is flagged, old → new.
    call(
        &base,
        post.clone(),
        "/api/v1/prices",
        Some(json!({"item": "FRAME", "currency": "CNY", "customer": code, "price": "92.5", "valid_from": "2020-01-01"})),
    )
    .await;
    li.goto(&format!("{base}/crm/flags")).await;
    li.loaded("/crm/flags").await;
    let flagged = li
        .js("return Array.from(document.querySelectorAll('#sales-flag-list tbody tr')).map(r => [r.querySelector('a').textContent, r.querySelector('td.old').textContent, r.querySelector('td.new').textContent]);")
        .await;
    assert!(
        flagged
            .as_array()
            .expect("rows")
            .contains(&json!(["SO000002", "100.00", "92.50"])),
        "{flagged}"
    );
    shots(&li, &base, "/crm/flags", "07-flags").await;
    shots(
        &li,
        &base,
        &format!("/crm/orders/{second}"),
        "08-flagged-order",
    )
    .await;
    shots(&li, &base, "/crm/quotations", "05-quotations").await;
    shots(&li, &base, "/crm/orders", "06-orders").await;
    // The cockpit shows what the API sums for li: the confirmed order's net.
    li.goto(&format!("{base}/crm/cockpit")).await;
    li.loaded("/crm/cockpit").await;
    let api = li
        .js("var x = new XMLHttpRequest(); x.open('GET', '/api/v1/crm/cockpit', false); x.send(); return JSON.parse(x.responseText);")
        .await;
    let net: f64 = api["net"].as_str().expect("net").parse().expect("a number");
    assert!(net > 0.0 && api["orders"].as_u64() >= Some(1), "{api}");
    let shown = li
        .js("return document.getElementById('cockpit-net').textContent;")
        .await;
    assert_eq!(shown, json!(format!("CNY {net:.2}")), "{api}");
    shots(&li, &base, "/crm/cockpit", "09-cockpit").await;
    li.close().await;

    // ---- The customer: a fresh browser, not signed in, opens the link.
    let customer = open("customer", (1280, 900)).await;
    customer.goto(&link).await;
    let dates = customer
        .wait(
            "the status page",
            r#"const row = document.querySelector('#status-lines tbody tr');
               return row ? [row.querySelector('td.confirmed').textContent.trim(),
                             row.querySelector('td.projected').textContent.trim()] : null;"#,
        )
        .await;
    assert_eq!(dates[0], api_order["lines"][0]["confirmed_date"]);
    let body = customer.js("return document.body.textContent;").await;
    let body = body.as_str().unwrap_or_default();
    assert!(
        body.contains("PO-2026-118") && !body.contains("100.00"),
        "no prices"
    );
    assert!(
        customer
            .js("return document.querySelector('nav') === null;")
            .await
            == json!(true)
    );
    let path = link.trim_start_matches(&base).to_owned();
    for (width, size) in [("desktop", (1280, 900)), ("400", (400, 900))] {
        customer.resize(size).await;
        for lang in ["zh", "en"] {
            customer.goto(&format!("{link}?lang={lang}")).await;
            let want = if lang == "zh" { "zh-CN" } else { "en" };
            customer
                .wait(
                    "the status page in its language",
                    &format!(
                        "return location.pathname === '{path}' && document.readyState === 'complete' \
                         && document.documentElement.lang === '{want}' \
                         && document.getElementById('status-lines') !== null;"
                    ),
                )
                .await;
            if width == "400" {
                customer.assert_no_horizontal_scrolling().await;
            }
            customer
                .screenshot(&format!("04-status-{lang}-{width}"))
                .await;
        }
    }
    customer.close().await;
    println!("crm sales screenshots: {}", artifacts.dir.display());
}
