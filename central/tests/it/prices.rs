//! Price lists, exchange rates and tax rates (issue 16, first part): which price applies
//! (customer over group over list, the highest quantity break, validity edges), overlaps
//! refused naming both rows (in a file and against stored rows), bad files named by line and
//! column with nothing stored, ending and deleting rows, rates on a date, tax, and who may
//! change what (a salesperson reads, a sales manager changes).

use crate::kiosk::{put_plant, put_user, token_of};
use crate::work_orders::import;
use crate::*;

async fn items(h: &Harness) {
    import(
        h,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
         FRAME,Frame,make,ea,1,lfl,,\nBOLT,Bolt,buy,ea,5,lfl,,\n",
    )
    .await;
}

async fn post_price(h: &Harness, token: &str, body: Value) -> Reply {
    h.post("/api/v1/prices", token, body).await
}

async fn import_prices(h: &Harness, token: &str, csv: &str) -> Reply {
    h.send(
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/import/prices")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(Body::from(csv.to_owned()))
            .unwrap(),
    )
    .await
}

#[track_caller]
fn created(reply: &Reply) -> i64 {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    reply.json["id"].as_i64().unwrap()
}

async fn resolve(h: &Harness, query: &str) -> Reply {
    h.get(&format!("/api/v1/prices/resolve?{query}"), ADMIN)
        .await
}

/// The id of the row a resolution used, or the error code.
async fn resolved_row(h: &Harness, query: &str) -> Result<i64, String> {
    let reply = resolve(h, query).await;
    if reply.status == StatusCode::OK {
        Ok(reply.json["row"]["id"].as_i64().unwrap())
    } else {
        Err(reply.error_code().to_owned())
    }
}

async fn n_prices(h: &Harness) -> usize {
    let reply = h.get("/api/v1/prices?limit=1000", ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["prices"].as_array().unwrap().len()
}

#[tokio::test]
async fn customer_beats_group_beats_list_and_the_highest_break_wins() {
    let h = Harness::new().await;
    items(&h).await;
    let list = created(
        &post_price(
            &h,
            ADMIN,
            json!({"item": "FRAME", "currency": "CNY", "price": "100", "valid_from": "2027-01-01"}),
        )
        .await,
    );
    let list_100 = created(&post_price(&h, ADMIN, json!({"item": "FRAME", "currency": "CNY", "min_qty": "100", "price": "90", "valid_from": "2027-01-01"})).await);
    let group = created(&post_price(&h, ADMIN, json!({"item": "FRAME", "currency": "CNY", "group": "OEM", "price": "85", "valid_from": "2027-01-01", "valid_to": "2027-06-30"})).await);
    let customer = created(&post_price(&h, ADMIN, json!({"item": "FRAME", "currency": "CNY", "customer": "C-042", "min_qty": "50", "price": "80.5", "valid_from": "2027-01-01"})).await);
    let usd = created(
        &post_price(
            &h,
            ADMIN,
            json!({"item": "FRAME", "currency": "USD", "price": "14", "valid_from": "2027-01-01"}),
        )
        .await,
    );

    let cases: &[(&str, Result<i64, &str>)] = &[
        ("qty=1&date=2027-03-01&currency=CNY", Ok(list)),
        ("qty=99.5&date=2027-03-01&currency=CNY", Ok(list)),
        ("qty=100&date=2027-03-01&currency=CNY", Ok(list_100)),
        ("qty=1000&date=2027-03-01&currency=CNY&group=OEM", Ok(group)),
        // valid_to is inclusive: the group's price holds on 2027-06-30, not the day after.
        ("qty=1000&date=2027-06-30&currency=CNY&group=OEM", Ok(group)),
        (
            "qty=1000&date=2027-07-01&currency=CNY&group=OEM",
            Ok(list_100),
        ),
        // The customer's break starts at 50: below it, the group's price.
        (
            "qty=49&date=2027-03-01&currency=CNY&group=OEM&customer=C-042",
            Ok(group),
        ),
        (
            "qty=50&date=2027-03-01&currency=CNY&group=OEM&customer=C-042",
            Ok(customer),
        ),
        (
            "qty=50&date=2027-03-01&currency=CNY&customer=C-007",
            Ok(list),
        ),
        ("qty=1&date=2027-03-01&currency=USD", Ok(usd)),
        // valid_from is inclusive too; before it there is no price.
        ("qty=1&date=2027-01-01&currency=CNY", Ok(list)),
        ("qty=1&date=2026-12-31&currency=CNY", Err("no_price")),
        ("qty=1&date=2027-03-01&currency=EUR", Err("no_price")),
    ];
    for (query, want) in cases {
        let got = resolved_row(&h, &format!("item=FRAME&{query}")).await;
        assert_eq!(got, want.map_err(str::to_owned), "{query}");
    }

    let reply = resolve(
        &h,
        "item=FRAME&qty=3&date=2027-03-01&currency=CNY&customer=C-042&group=OEM",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["scope"], "group");
    assert_eq!(reply.json["unit_price"], "85");
    assert_eq!(reply.json["row"]["group"], "OEM");
    assert_eq!(reply.json["net"], "255.00");
    assert_eq!(reply.json["gross"], "255.00");

    let message = resolve(&h, "item=FRAME&qty=1&date=2026-12-31&currency=CNY")
        .await
        .assert_error(StatusCode::NOT_FOUND, "no_price")
        .to_owned();
    assert!(message.contains("2026-12-31"), "{message}");
    resolve(&h, "item=NOPE&qty=1&date=2027-03-01&currency=CNY")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    for bad in [
        "item=FRAME&qty=-1&currency=CNY",
        "item=FRAME&qty=1&currency=cny",
        "item=FRAME&qty=1&currency=CNY&date=2027-02-30",
        "item=FRAME&qty=1&currency=CNY&colour=red",
        "item=FRAME&currency=CNY",
    ] {
        resolve(&h, bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }

    // The list filters.
    let page = h
        .get("/api/v1/prices?item=FRAME&currency=CNY&scope=list", ADMIN)
        .await;
    let ids: Vec<i64> = page.json["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [list, list_100]);
    let page = h
        .get("/api/v1/prices?group=OEM&valid_on=2027-07-01", ADMIN)
        .await;
    assert_eq!(page.json["prices"], json!([]));
    let page = h.get("/api/v1/prices?customer=C-042", ADMIN).await;
    assert_eq!(page.json["prices"][0]["id"], customer);
    assert_eq!(page.json["prices"][0]["min_qty"], "50");
    assert_eq!(page.json["prices"][0]["price"], "80.5");
    let first = h.get("/api/v1/prices?limit=2", ADMIN).await;
    assert_eq!(first.json["prices"].as_array().unwrap().len(), 2);
    let after = first.json["next_after"].as_i64().unwrap();
    let rest = h
        .get(&format!("/api/v1/prices?after={after}&limit=1000"), ADMIN)
        .await;
    assert_eq!(rest.json["prices"].as_array().unwrap().len(), 3);
    assert!(rest.json.get("next_after").is_none(), "{}", rest.json);
    h.get("/api/v1/prices?limit=100000", ADMIN)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn an_overlap_is_refused_naming_both_rows() {
    let h = Harness::new().await;
    items(&h).await;
    let stored = created(&post_price(&h, ADMIN, json!({"item": "FRAME", "currency": "CNY", "min_qty": "10", "price": "100", "valid_from": "2027-01-01", "valid_to": "2027-12-31"})).await);
    // The same row again is that row, unchanged.
    let again = post_price(&h, ADMIN, json!({"item": "FRAME", "currency": "CNY", "min_qty": "10.0", "price": "100.00", "valid_from": "2027-01-01", "valid_to": "2027-12-31"})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    assert_eq!(again.json["id"], stored);
    // Sharing the last day overlaps.
    let message = post_price(&h, ADMIN, json!({"item": "FRAME", "currency": "CNY", "min_qty": "10", "price": "95", "valid_from": "2027-12-31"}))
        .await
        .assert_error(StatusCode::CONFLICT, "price_overlap")
        .to_owned();
    assert!(
        message.contains("the new price (2027-12-31 to open)"),
        "{message}"
    );
    assert!(
        message.contains(&format!("stored price {stored} (2027-01-01 to 2027-12-31)")),
        "{message}"
    );
    // The day after does not; nor does another break.
    created(&post_price(&h, ADMIN, json!({"item": "FRAME", "currency": "CNY", "min_qty": "10", "price": "95", "valid_from": "2028-01-01"})).await);
    created(&post_price(&h, ADMIN, json!({"item": "FRAME", "currency": "CNY", "min_qty": "20", "price": "95", "valid_from": "2027-06-01"})).await);
    assert_eq!(n_prices(&h).await, 3);

    // Within a file: the later row is named with the earlier one's line.
    let reply = import_prices(
        &h,
        ADMIN,
        "item,currency,customer,group,min_qty,price,valid_from,valid_to\n\
         BOLT,CNY,,,,1,2027-01-01,2027-06-30\n\
         BOLT,CNY,C-1,,,0.9,2027-01-01,\n\
         BOLT,CNY,,,,1.1,2027-06-30,\n",
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let details = reply.json["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(details[0]["line"], 4);
    assert_eq!(details[0]["column"], "valid_from");
    let text = details[0]["message"].as_str().unwrap();
    assert!(
        text.starts_with("line 4 (2027-06-30 to open) overlaps line 2 (2027-01-01 to 2027-06-30)"),
        "{text}"
    );

    // Against a stored row: the file's line and the stored row's id.
    let reply = import_prices(
        &h,
        ADMIN,
        "item,currency,min_qty,price,valid_from,valid_to\n\
         BOLT,CNY,,1,2027-01-01,\n\
         FRAME,CNY,10,99,2027-03-01,2027-03-31\n",
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let details = reply.json["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(details[0]["line"], 3);
    let text = details[0]["message"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "line 3 (2027-03-01 to 2027-03-31) overlaps stored price {stored}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("post /api/v1/prices/{stored}/end")),
        "{text}"
    );
    // All or nothing: the good BOLT row was not stored either.
    assert_eq!(n_prices(&h).await, 3);
}

#[tokio::test]
async fn a_bad_file_names_every_row_by_line_and_field_and_stores_nothing() {
    let h = Harness::new().await;
    items(&h).await;
    let reply = import_prices(
        &h,
        ADMIN,
        "item,currency,customer,group,min_qty,price,valid_from,valid_to\n\
         FRAME,CNY,,,,12.5,2027-01-01,\n\
         FRAME,cny,,,,0,2027-01-01,\n\
         BOLT,CNY,C-1,OEM,-5,1.1234567,2027-13-01,\n\
         GHOST,CNY,,,,1,2027-01-01,\n\
         BOLT,CNY,,,,1,2027-02-01,2027-01-31\n\
         BOLT,CNY,,,\n",
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    let got: Vec<(u64, String)> = reply.json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap(),
                d["column"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = [
        (3, "currency"),
        (3, "price"),
        (4, "group"),
        (4, "min_qty"),
        (4, "price"),
        (4, "valid_from"),
        (6, "valid_to"),
        (7, ""),
    ]
    .iter()
    .map(|(l, c)| (*l, (*c).to_owned()))
    .collect();
    assert_eq!(got, want, "{}", reply.json);
    assert_eq!(n_prices(&h).await, 0);

    // Cells are fine, but an item is not in the item master: named too, nothing stored.
    let reply = import_prices(
        &h,
        ADMIN,
        "item,currency,price,valid_from\nFRAME,CNY,12.5,2027-01-01\nGHOST,CNY,1,2027-01-01\n",
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    assert_eq!(reply.json["error"]["details"][0]["line"], 3);
    assert_eq!(reply.json["error"]["details"][0]["column"], "item");
    assert_eq!(n_prices(&h).await, 0);

    // A wrong header names the column.
    let reply = import_prices(&h, ADMIN, "item,currency,price,valid_from,colour\n").await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_csv");
    assert_eq!(reply.json["error"]["details"][0]["column"], "colour");

    // The good file, twice: the second time nothing changes.
    let good = "item,currency,customer,group,min_qty,price,valid_from,valid_to\n\
                FRAME,CNY,,,,12.5,2027-01-01,\nFRAME,CNY,,OEM,100,11,2027-01-01,2027-12-31\n";
    let reply = import_prices(&h, ADMIN, good).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        reply.json,
        json!({"kind": "prices", "rows": 2, "unchanged": 0})
    );
    let reply = import_prices(&h, ADMIN, good).await;
    assert_eq!(
        reply.json,
        json!({"kind": "prices", "rows": 0, "unchanged": 2})
    );
    assert_eq!(n_prices(&h).await, 2);

    // A JSON body names every problem too.
    let message = post_price(
        &h,
        ADMIN,
        json!({"item": "", "currency": "RMB1", "price": "x", "valid_from": "soon"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request")
    .to_owned();
    for field in ["item", "currency", "price", "valid_from"] {
        assert!(message.contains(field), "{field}: {message}");
    }
    post_price(
        &h,
        ADMIN,
        json!({"item": "GHOST", "currency": "CNY", "price": "1", "valid_from": "2027-01-01"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "unknown_item");
}

#[tokio::test]
async fn a_price_in_effect_is_ended_not_deleted() {
    let h = Harness::new().await;
    items(&h).await;
    let old = created(
        &post_price(
            &h,
            ADMIN,
            json!({"item": "FRAME", "currency": "CNY", "price": "100", "valid_from": "2020-01-01"}),
        )
        .await,
    );
    let message = h
        .call(
            Method::DELETE,
            &format!("/api/v1/prices/{old}"),
            Some(ADMIN),
            None,
        )
        .await
        .assert_error(StatusCode::CONFLICT, "price_in_effect")
        .to_owned();
    assert!(message.contains("end"), "{message}");
    // End it, then the new price follows without a gap or overlap.
    let ended = h
        .post(
            &format!("/api/v1/prices/{old}/end"),
            ADMIN,
            json!({"valid_to": "2027-03-31"}),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.json);
    assert_eq!(ended.json["valid_to"], "2027-03-31");
    let new = created(
        &post_price(
            &h,
            ADMIN,
            json!({"item": "FRAME", "currency": "CNY", "price": "110", "valid_from": "2027-04-01"}),
        )
        .await,
    );
    assert_eq!(
        resolved_row(&h, "item=FRAME&qty=1&currency=CNY&date=2027-03-31").await,
        Ok(old)
    );
    assert_eq!(
        resolved_row(&h, "item=FRAME&qty=1&currency=CNY&date=2027-04-01").await,
        Ok(new)
    );
    // Lengthening the old row again would overlap the new one: both named.
    let message = h
        .post(
            &format!("/api/v1/prices/{old}/end"),
            ADMIN,
            json!({"valid_to": "2027-04-01"}),
        )
        .await
        .assert_error(StatusCode::CONFLICT, "price_overlap")
        .to_owned();
    assert!(
        message.contains(&format!("stored price {old}"))
            && message.contains(&format!("stored price {new}")),
        "{message}"
    );
    h.post(
        &format!("/api/v1/prices/{old}/end"),
        ADMIN,
        json!({"valid_to": "2019-12-31"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "price_in_effect");
    h.post(
        "/api/v1/prices/999/end",
        ADMIN,
        json!({"valid_to": "2027-01-01"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    // A row that has not started can go (a typo caught in time).
    let future = created(
        &post_price(
            &h,
            ADMIN,
            json!({"item": "BOLT", "currency": "CNY", "price": "1", "valid_from": "2099-01-01"}),
        )
        .await,
    );
    let deleted = h
        .call(
            Method::DELETE,
            &format!("/api/v1/prices/{future}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.json);
    h.get(&format!("/api/v1/prices/{future}"), ADMIN)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        h.get(&format!("/api/v1/prices/{old}"), ADMIN).await.json["valid_to"],
        "2027-03-31"
    );
}

#[tokio::test]
async fn exchange_rates_on_a_date_and_tax_on_the_net() {
    let h = Harness::new().await;
    items(&h).await;
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/exchange-rates",
            Some(ADMIN),
            Some(json!({"rates": [
                {"from": "USD", "to": "CNY", "rate": "7.1", "valid_from": "2027-01-01"},
                {"from": "USD", "to": "CNY", "rate": "7.2", "valid_from": "2027-02-01"},
                {"from": "EUR", "to": "CNY", "rate": "7.8", "valid_from": "2027-01-01"}
            ]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let on = |date: &str| format!("/api/v1/exchange-rates?from=USD&to=CNY&on={date}");
    assert_eq!(
        h.get(&on("2026-12-31"), ADMIN).await.json["rates"],
        json!([])
    );
    assert_eq!(
        h.get(&on("2027-01-31"), ADMIN).await.json["rates"][0]["rate"],
        "7.1"
    );
    assert_eq!(
        h.get(&on("2027-02-01"), ADMIN).await.json["rates"][0]["rate"],
        "7.2"
    );
    let all = h.get("/api/v1/exchange-rates?on=2027-03-01", ADMIN).await;
    assert_eq!(
        all.json["rates"].as_array().unwrap().len(),
        2,
        "{}",
        all.json
    );
    // A put updates by (from, to, valid_from); a bad one changes nothing and names each field.
    let message = h
        .call(
            Method::PUT,
            "/api/v1/exchange-rates",
            Some(ADMIN),
            Some(json!({"rates": [
                {"from": "USD", "to": "CNY", "rate": "7.25", "valid_from": "2027-02-01"},
                {"from": "usd", "to": "CNY", "rate": "0", "valid_from": "2027-02-01"}
            ]})),
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request")
        .to_owned();
    assert!(
        message.contains("rates[1].from") && message.contains("rates[1].rate"),
        "{message}"
    );
    assert_eq!(
        h.get(&on("2027-02-01"), ADMIN).await.json["rates"][0]["rate"],
        "7.2"
    );

    let reply = h
        .call(
            Method::PUT,
            "/api/v1/tax-rates",
            Some(ADMIN),
            Some(json!({"tax_rates": [
                {"code": "VAT", "name": "增值税 16%", "rate_pct": "16", "valid_from": "2018-05-01"},
                {"code": "VAT", "name": "增值税 13%", "rate_pct": "13", "valid_from": "2019-04-01"}
            ]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let taxes = h
        .get("/api/v1/tax-rates?code=VAT&on=2019-03-31", ADMIN)
        .await;
    assert_eq!(
        taxes.json["tax_rates"][0]["rate_pct"], "16",
        "{}",
        taxes.json
    );
    h.call(
        Method::PUT,
        "/api/v1/tax-rates",
        Some(ADMIN),
        Some(json!({"tax_rates": [{"code": "VAT", "name": "x", "rate_pct": "101", "valid_from": "2019-04-01"}]})),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");

    created(&post_price(&h, ADMIN, json!({"item": "FRAME", "currency": "CNY", "price": "0.333333", "valid_from": "2018-01-01"})).await);
    let reply = resolve(&h, "item=FRAME&qty=3&currency=CNY&date=2027-03-01&tax=VAT").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        (&reply.json["net"], &reply.json["tax"], &reply.json["gross"]),
        (&json!("1.00"), &json!("0.13"), &json!("1.13"))
    );
    assert_eq!(reply.json["tax_rate"]["rate_pct"], "13");
    let reply = resolve(
        &h,
        "item=FRAME&qty=1000&currency=CNY&date=2019-03-31&tax=VAT",
    )
    .await;
    assert_eq!(
        (&reply.json["net"], &reply.json["tax"], &reply.json["gross"]),
        (&json!("333.33"), &json!("53.33"), &json!("386.66"))
    );
    resolve(&h, "item=FRAME&qty=1&currency=CNY&date=2018-04-30&tax=VAT")
        .await
        .assert_error(StatusCode::NOT_FOUND, "no_tax_rate");
}

#[tokio::test]
async fn sales_reads_prices_and_a_sales_manager_changes_them() {
    let h = Harness::new().await;
    items(&h).await;
    put_plant(&h, "plant-a").await;
    put_user(&h, "li.na", &["sales"], &["plant-a"]).await;
    put_user(&h, "wang.fang", &["sales_manager"], &["plant-a"]).await;
    let sales = token_of(&h, "li.na").await;
    let manager = token_of(&h, "wang.fang").await;
    let row =
        json!({"item": "FRAME", "currency": "CNY", "price": "100", "valid_from": "2027-01-01"});

    let message = post_price(&h, &sales, row.clone())
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden")
        .to_owned();
    assert!(message.contains("prices.manage"), "{message}");
    import_prices(
        &h,
        &sales,
        "item,currency,price,valid_from\nFRAME,CNY,1,2027-01-01\n",
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    h.call(
        Method::PUT,
        "/api/v1/tax-rates",
        Some(&sales),
        Some(json!({"tax_rates": []})),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    h.call(
        Method::PUT,
        "/api/v1/exchange-rates",
        Some(&sales),
        Some(json!({"rates": []})),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    let id = created(&post_price(&h, &manager, row).await);
    h.post(
        &format!("/api/v1/prices/{id}/end"),
        &sales,
        json!({"valid_to": "2027-12-31"}),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    for uri in [
        "/api/v1/prices".to_owned(),
        format!("/api/v1/prices/{id}"),
        "/api/v1/prices/resolve?item=FRAME&qty=1&currency=CNY&date=2027-03-01".to_owned(),
        "/api/v1/exchange-rates".to_owned(),
        "/api/v1/tax-rates".to_owned(),
    ] {
        let reply = h.get(&uri, &sales).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.json);
    }
    // The change is the manager's in the audit trail.
    let audit = h.get("/api/v1/audit?entity=crm_prices", ADMIN).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.json);
    let entries = audit.json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", audit.json);
    assert!(
        entries[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("wang.fang"),
        "{}",
        audit.json
    );
}
