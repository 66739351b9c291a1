//! Issue 16, "Shipping and after-sales": a confirmed order shipped in two deliveries (stock
//! leaves the ledger, the order completes), over-shipping refused with the figures, the
//! delivery note and the SSCC labels read back, the recall list found down the genealogy, and
//! another salesperson's deliveries not found.

use crate::crm::{Team, get, post, team};
use crate::work_orders::import;
use crate::*;

pub(crate) fn config() -> CentralConfig {
    let mut config = CentralConfig::default();
    config.documents.company_name = "Acme Precision Parts Co., Ltd.".into();
    config.documents.company_address = "88 Industrial Road\nSuzhou".into();
    config.documents.gs1_company_prefix = Some("0614141".into());
    config
}

pub(crate) fn d(v: &Value) -> rust_decimal::Decimal {
    v.as_str()
        .map(|s| s.parse().unwrap())
        .unwrap_or_else(|| v.to_string().parse().unwrap())
}

/// The GS1 mod-10 check digit of the first 17 digits, computed here apart from central's.
fn gs1_check_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10
}

/// The bytes of a GET as `s`.
async fn bytes(h: &Harness, s: &crate::people::Session, uri: &str) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    for (k, v) in crate::people::session_headers(s) {
        req.headers_mut().insert(k, v);
    }
    let response = h.app().oneshot(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

/// Runs `program`; `None` (a skip, or a failure under `CI=true`) when it is not installed.
fn tool(program: &str, args: &[&str]) -> Option<String> {
    match std::process::Command::new(program).args(args).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{program}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{program} is missing in CI (apt-get install poppler-utils zbar-tools): {e}"
            );
            eprintln!("{program} not installed: not checked");
            None
        }
    }
}

/// Items, stock of FRAME (lot L-A) and BOLT, and FRAME lot F-1 made on the floor from the
/// raw lot R-1.
pub(crate) async fn plant(h: &Harness) {
    import(
        h,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
         FRAME,Steel frame,make,ea,3,lfl,,\nBOLT,M8 bolt,buy,ea,5,lfl,,\nRAW,Steel tube,buy,ea,2,lfl,,\n",
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
    crate::erp::locations(h).await;
    import(
        h,
        "inventory",
        "item,lot,location,qty\nFRAME,L-A,WH1,10\nBOLT,B-1,WH1,100\n",
    )
    .await;
    let token = h.create_edge("edge-1").await;
    let fact = |seq: u64, kind: EventKind| {
        let mut e = event("edge-1", seq);
        e.kind = kind;
        e
    };
    let events = vec![
        fact(
            1,
            EventKind::MaterialReceived {
                item: "RAW".into(),
                lot: "R-1".into(),
                qty: "20".parse().unwrap(),
                uom: "ea".into(),
                location: "WH2".into(),
                purchase_order: None,
            },
        ),
        fact(
            2,
            EventKind::LotProduced {
                work_order: "WO-9".into(),
                item: "FRAME".into(),
                lot: "F-1".into(),
                qty: "5".parse().unwrap(),
                uom: "ea".into(),
                consumed_lots: vec!["R-1".into()],
            },
        ),
    ];
    let reply = h
        .post(
            "/api/v1/sync/events",
            &token,
            json!({"protocol": PROTOCOL_VERSION, "edge_id": "edge-1", "events": events}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

pub(crate) fn on_hand(reply: &Reply, item: &str, lot: &str) -> rust_decimal::Decimal {
    reply.json["on_hand"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["item"] == item && r["lot"] == lot)
        .map(|r| d(&r["qty"]))
        .sum()
}

#[tokio::test]
async fn issue_16_a_confirmed_order_ships_in_two_deliveries_with_notes_labels_and_a_recall() {
    let h = Harness::with_config(config()).await;
    plant(&h).await;
    let Team { li, zhao, .. } = team(&h).await;
    let reply = post(
        &h,
        &li,
        "/api/v1/customers",
        json!({"name_en": "Huaqiang Electronics", "addresses": [{"kind": "shipping", "street": "1 Huaqiang Rd", "city": "Shenzhen"}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let customer = reply.json["code"].as_str().unwrap().to_owned();
    let reply = post(
        &h,
        &li,
        "/api/v1/sales-orders",
        json!({"customer": customer, "customer_po": "PO-77",
               "lines": [{"item": "FRAME", "qty": "12"}, {"item": "BOLT", "qty": "50"}]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let order = reply.json["id"].as_i64().unwrap();
    let order_number = reply.json["number"].as_str().unwrap().to_owned();
    let ship = |body: Value| {
        let (h, li) = (&h, &li);
        async move {
            post(
                h,
                li,
                &format!("/api/v1/sales-orders/{order}/deliveries"),
                body,
            )
            .await
        }
    };

    // A draft does not ship.
    let reply = ship(json!({"lines": [{"line": 1, "qty": "1"}]})).await;
    reply.assert_error(StatusCode::CONFLICT, "delivery_refused");
    let reply = post(
        &h,
        &li,
        &format!("/api/v1/sales-orders/{order}/confirm"),
        json!({}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);

    // The first delivery: 8 frames of lot L-A from WH1, all 50 bolts, in two cartons.
    let reply = ship(json!({"packages": 2, "note": "Fragile",
        "lines": [{"line": 1, "qty": "8", "lot": "L-A", "location": "WH1"}, {"line": 2, "qty": "50"}]}))
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let first = reply.json.clone();
    let first_id = first["id"].as_i64().unwrap();
    assert_eq!(first["number"], "DN000001");
    assert_eq!(first["order_number"], order_number.as_str());
    assert_eq!(first["lines"][0]["lot"], "L-A");
    assert_eq!(first["lines"][1]["lot"], "B-1");
    let ssccs: Vec<String> = first["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sscc"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ssccs.len(), 2);
    for code in &ssccs {
        assert_eq!(code.len(), 18, "{code}");
        assert!(code.starts_with("00614141"), "{code}");
        let check = code[17..].parse::<u32>().unwrap();
        assert_eq!(check, gs1_check_digit(&code[..17]), "{code}");
    }
    assert_ne!(ssccs[0], ssccs[1]);
    let doc = get(&h, &li, &format!("/api/v1/sales-orders/{order}"))
        .await
        .json;
    assert_eq!(doc["status"], "confirmed");
    assert_eq!(d(&doc["lines"][0]["shipped_qty"]), "8".parse().unwrap());
    assert_eq!(d(&doc["lines"][1]["shipped_qty"]), "50".parse().unwrap());

    // Stock went down in the ledger, with the reason `shipped`.
    let ledger = h.get("/api/v1/inventory/ledger?item=FRAME", ADMIN).await;
    assert_eq!(ledger.status, StatusCode::OK, "{}", ledger.json);
    let shipped: Vec<&Value> = ledger.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "shipped")
        .collect();
    assert_eq!(shipped.len(), 1, "{}", ledger.json);
    assert_eq!(d(&shipped[0]["qty_delta"]), "-8".parse().unwrap());
    assert_eq!(shipped[0]["lot"], "L-A");
    let stock = h.get("/api/v1/inventory", ADMIN).await;
    assert_eq!(on_hand(&stock, "FRAME", "L-A"), "2".parse().unwrap());
    assert_eq!(on_hand(&stock, "BOLT", "B-1"), "50".parse().unwrap());

    // Over-shipping is refused naming the line and the figures; nothing is written.
    let reply = ship(json!({"lines": [{"line": 1, "qty": "5"}]})).await;
    let message = reply
        .assert_error(StatusCode::CONFLICT, "delivery_refused")
        .to_owned();
    assert!(
        message.contains("line 1 (FRAME): 5 ea to ship, but 12 ordered and 8 shipped leave 4"),
        "{message}"
    );
    // A lot that is not at the location given is refused.
    let reply =
        ship(json!({"lines": [{"line": 1, "qty": "1", "lot": "F-1", "location": "WH1"}]})).await;
    let message = reply
        .assert_error(StatusCode::CONFLICT, "delivery_refused")
        .to_owned();
    assert!(
        message.contains("lot F-1 of FRAME is not in stock at WH1"),
        "{message}"
    );

    // A lot on quality hold does not ship, named or picked.
    let hold = h
        .post(
            "/api/v1/lots/L-A/hold",
            ADMIN,
            json!({"reason": "QC-9 failed", "item": "FRAME"}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.json);
    let reply = ship(json!({"lines": [{"line": 1, "qty": "1", "lot": "L-A"}]})).await;
    let message = reply
        .assert_error(StatusCode::CONFLICT, "delivery_refused")
        .to_owned();
    assert!(
        message.contains("lot L-A of FRAME is on quality hold (QC-9 failed)"),
        "{message}"
    );
    let reply = ship(json!({"lines": [{"line": 1, "qty": "1", "location": "WH1"}]})).await;
    let message = reply
        .assert_error(StatusCode::CONFLICT, "delivery_refused")
        .to_owned();
    assert!(
        message.contains("every lot of FRAME in stock at WH1 is on quality hold"),
        "{message}"
    );

    // The final delivery: 4 frames of F-1 (made from R-1) complete the order.
    let reply = ship(json!({"lines": [{"line": 1, "qty": "4", "lot": "F-1"}]})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(reply.json["number"], "DN000002");
    let second_id = reply.json["id"].as_i64().unwrap();
    let doc = get(&h, &li, &format!("/api/v1/sales-orders/{order}"))
        .await
        .json;
    assert_eq!(doc["status"], "completed", "{doc}");
    let actions: Vec<&str> = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.ends_with(&["shipped", "shipped", "completed"]),
        "{actions:?}"
    );
    let reply = ship(json!({"lines": [{"line": 2, "qty": "1"}]})).await;
    reply.assert_error(StatusCode::CONFLICT, "delivery_refused");

    // The customer's status link says what was shipped.
    let link = get(
        &h,
        &li,
        &format!("/api/v1/sales-orders/{order}/status-link"),
    )
    .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.json);
    let status = h.get(link.json["api"].as_str().unwrap(), ADMIN).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.json);
    assert_eq!(status.json["status"], "completed");
    assert_eq!(
        d(&status.json["lines"][0]["shipped_qty"]),
        "12".parse().unwrap()
    );
    assert_eq!(
        d(&status.json["lines"][1]["shipped_qty"]),
        "50".parse().unwrap()
    );

    // Lists by order and by customer.
    let list = get(&h, &li, &format!("/api/v1/deliveries?order={order}")).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.json);
    assert_eq!(list.json["deliveries"].as_array().unwrap().len(), 2);
    let list = get(&h, &li, &format!("/api/v1/deliveries?customer={customer}")).await;
    assert_eq!(list.json["deliveries"][0]["number"], "DN000002");

    // The delivery note, read back.
    let (status, pdf) = bytes(
        &h,
        &li,
        &format!("/api/v1/deliveries/{first_id}/note.pdf?lang=en"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&pdf));
    assert!(pdf.starts_with(b"%PDF"));
    let dir = tempfile::tempdir().unwrap();
    let note = dir.path().join("note.pdf");
    std::fs::write(&note, &pdf).unwrap();
    if let Some(text) = tool("pdftotext", &["-layout", note.to_str().unwrap(), "-"]) {
        for want in [
            "DN000001",
            order_number.as_str(),
            "PO-77",
            "FRAME",
            "BOLT",
            "L-A",
            "B-1",
            "Huaqiang Electronics",
        ] {
            assert!(text.contains(want), "{want:?} not in {text}");
        }
    }

    // The labels: ZPL with the GS1-128 SSCC (FNC1, AI 00), and a PDF whose bars scan.
    let (status, zpl) = bytes(
        &h,
        &li,
        &format!("/api/v1/deliveries/{first_id}/labels.zpl"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let zpl = String::from_utf8(zpl).unwrap();
    assert_eq!(zpl.matches("^XA").count(), 2, "{zpl}");
    for code in &ssccs {
        assert!(
            zpl.contains(&format!(">;>800{code}")),
            "{code} not in {zpl}"
        );
        assert!(zpl.contains(&format!("(00) {code}")), "{code} not in {zpl}");
    }
    let (status, labels) = bytes(
        &h,
        &li,
        &format!("/api/v1/deliveries/{first_id}/labels.pdf?lang=en"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&labels)
    );
    let path = dir.path().join("labels.pdf");
    std::fs::write(&path, &labels).unwrap();
    if let Some(text) = tool("pdftotext", &["-layout", path.to_str().unwrap(), "-"]) {
        assert_eq!(
            text.matches('\u{c}').count(),
            2,
            "one page per package: {text}"
        );
        assert!(text.contains("1/2") && text.contains("2/2"), "{text}");
    }
    let png = dir.path().join("label");
    if tool(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "300",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            path.to_str().unwrap(),
            png.to_str().unwrap(),
        ],
    )
    .is_some()
        && let Some(raw) = tool(
            "zbarimg",
            &[
                "-q",
                "--raw",
                dir.path().join("label.png").to_str().unwrap(),
            ],
        )
    {
        assert_eq!(raw.trim_end(), format!("00{}", ssccs[0]));
    }

    // The recall: R-1 went into F-1, which went to this customer in DN000002.
    let recall = h.get("/api/v1/lots/R-1/customers", ADMIN).await;
    assert_eq!(recall.status, StatusCode::OK, "{}", recall.json);
    assert_eq!(recall.json["truncated"], false);
    let rows = recall.json["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", recall.json);
    assert_eq!(rows[0]["customer"], customer.as_str());
    assert_eq!(rows[0]["customer_name"], "Huaqiang Electronics");
    assert_eq!(rows[0]["order_number"], order_number.as_str());
    assert_eq!(rows[0]["delivery"], second_id);
    assert_eq!(rows[0]["delivery_number"], "DN000002");
    assert_eq!(rows[0]["lot"], "F-1");
    assert_eq!(d(&rows[0]["qty"]), "4".parse().unwrap());
    assert_eq!(rows[0]["path"], json!(["R-1", "F-1"]));
    let recall = h.get("/api/v1/lots/L-A/customers", ADMIN).await;
    assert_eq!(recall.json["deliveries"][0]["delivery_number"], "DN000001");
    // A salesperson cannot run a recall (a quality action: lots.hold).
    get(&h, &li, "/api/v1/lots/R-1/customers")
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Another salesperson's deliveries do not exist for zhao.
    for uri in [
        format!("/api/v1/deliveries/{first_id}"),
        format!("/api/v1/deliveries/{first_id}/note.pdf?lang=en"),
        format!("/api/v1/deliveries/{first_id}/labels.zpl"),
    ] {
        get(&h, &zhao, &uri)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    let list = get(&h, &zhao, "/api/v1/deliveries").await;
    assert_eq!(list.json["deliveries"], json!([]));
    post(
        &h,
        &zhao,
        &format!("/api/v1/sales-orders/{order}/deliveries"),
        json!({"lines": [{"line": 1, "qty": "1"}]}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn issue_16_without_a_gs1_prefix_a_delivery_is_refused_saying_what_to_configure() {
    let h = Harness::new().await;
    let Team { li, .. } = team(&h).await;
    let reply = post(
        &h,
        &li,
        "/api/v1/sales-orders/1/deliveries",
        json!({"lines": [{"line": 1, "qty": "1"}]}),
    )
    .await;
    let message = reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "gs1_prefix_missing");
    assert!(message.contains("gs1_company_prefix"), "{message}");
    let reply = post(
        &h,
        &li,
        "/api/v1/sales-orders/1/deliveries",
        json!({"lines": [{"line": 1, "qty": "0"}], "packages": 0}),
    )
    .await;
    reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_delivery");
}
