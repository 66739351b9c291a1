//! Issue 17, the story through the real `mes central` and `mes edge`, as far as it is built:
//! a salesperson's trip to a trade fair is approved by her manager, blocked in the roster and
//! booked by the office; the fair's business card becomes a customer; a quotation at 15 % off
//! waits for the sales manager, whose approval sends it; the order is confirmed with a
//! promised date; MRP plans it, and its steel requisition is approved by the plant manager and
//! ordered from the preferred supplier; the frames' work order waits for the supervisor's
//! approval before its plan goes down to the line; the steel arrives at the line, where
//! scanning the supplier's GS1 labels (one naming the order in AI 400, one not) receives it
//! and closes the order; the steel is issued and frames are counted from a simulated press
//! into a lot traced back to the supplier's; the operator asks at the terminal for cutting oil
//! the BOM does not name, the supervisor approves it and only then the oil's lot is taken;
//! the frames are shipped to the customer against the order, and central ends holding exactly
//! what the edge committed; the frame's price changes and the open quotation is flagged.

use crate::plant::{Admin, complete_lot, frame_line, start_edge, start_press};
use crate::support::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const EDGE_ID: &str = "line-1";
const STATION: &str = "st-10";
const PASSWORD: &str = "a story told in 2031 of frames";

/// A business card from the fair, as a phone exports it.
const CARDS: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Zhang;Wei;;;\r\nFN:Zhang Wei\r\n\
ORG:Huaqiang Bikes Co Ltd;Purchasing\r\nTITLE:Purchasing Manager\r\nTEL;TYPE=CELL:138-0013-8000\r\n\
EMAIL:zhang.wei@huaqiang.example\r\nEND:VCARD\r\n";

/// `who` approves request `id`; the trail's `carried_out` comments.
async fn approve(who: &Person, id: &Value) -> Vec<String> {
    let (status, body) = who
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/oa/requests/{id}/approve"),
            Some(json!({"comment": "ok"})),
        )
        .await;
    assert_eq!(status, 200, "approve {id}: {body}");
    body["trail"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "carried_out")
        .map(|e| e["comment"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The id of request `number`, as an administrator lists them.
async fn request_id(admin: &Admin, number: &Value) -> Value {
    admin.get("/api/v1/oa/requests?view=all").await["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["number"] == *number)
        .unwrap_or_else(|| panic!("no request {number}"))["id"]
        .clone()
}

#[tokio::test]
async fn issue_17_the_story_from_a_trade_fair_to_frames_shipped_through_approvals() {
    let tmp = temp_dir();
    // The company's GS1 prefix numbers the delivery's packages (SSCC).
    let central = Central::start(
        &tmp.path().join("central"),
        Some("[documents]\ngs1_company_prefix = \"0614141\"\n"),
    )
    .await;
    let base = central.url();
    let admin = Admin {
        url: base.clone(),
        http: http_client(),
    };
    let token = central.create_edge(EDGE_ID).await;
    central.put_operator("10442", "Li Wei", &[], None).await;

    // ---- The company's people and the approvals they agreed on.
    for (login, role, manager) in [
        ("boss.gm", "plant_manager", None),
        ("chen.mgr", "sales_manager", Some("boss.gm")),
        ("li.sales", "sales", Some("chen.mgr")),
        ("pan.planner", "planner", Some("boss.gm")),
        ("su.supervisor", "supervisor", Some("boss.gm")),
        ("zhou.office", "office", None),
    ] {
        admin
            .put(
                &format!("/api/v1/users/{login}"),
                json!({"display_name": login, "roles": [role], "plants": ["default"],
                       "language": "en", "password": PASSWORD, "manager": manager}),
            )
            .await;
    }
    let step = |name: &str, approvers: Value, when: Value| json!({"name": name, "approvers": approvers, "mode": {"need": "any"}, "when": when});
    let amount_over = |field: &str, value: &str| json!({"if": "amount", "field": field, "op": "gt", "value": value});
    for (form, steps) in [
        (
            "travel",
            json!([{"name": "manager", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"}}]),
        ),
        (
            "quotation_discount",
            json!([step(
                "sales manager",
                json!([{"by": "manager", "levels": 1}]),
                amount_over("discount_pct", "10")
            )]),
        ),
        (
            "purchase_requisition",
            json!([step(
                "plant manager",
                json!([{"by": "role", "role": "plant_manager"}]),
                amount_over("amount", "500")
            )]),
        ),
        (
            "work_order_release",
            json!([step(
                "supervisor",
                json!([{"by": "plant_role", "role": "supervisor", "field": "plant"}]),
                amount_over("qty", "500")
            )]),
        ),
        (
            "material_requisition",
            json!([{"name": "supervisor", "approvers": [{"by": "plant_role", "role": "supervisor", "field": "plant"}],
                    "mode": {"need": "any"}}]),
        ),
    ] {
        admin
            .put(
                &format!("/api/v1/oa/workflows/{form}"),
                json!({"form": form, "steps": steps}),
            )
            .await;
    }
    let boss = Person::sign_in(&base, "boss.gm", PASSWORD).await;
    let chen = Person::sign_in(&base, "chen.mgr", PASSWORD).await;
    let li = Person::sign_in(&base, "li.sales", PASSWORD).await;
    let pan = Person::sign_in(&base, "pan.planner", PASSWORD).await;
    let su = Person::sign_in(&base, "su.supervisor", PASSWORD).await;
    let zhou = Person::sign_in(&base, "zhou.office", PASSWORD).await;

    // ---- A trip to the trade fair: approved, blocked in the roster, booked by the office.
    let (status, trip) = li
        .call(
            reqwest::Method::POST,
            "/api/v1/oa/requests",
            Some(json!({"form": "travel", "values": {
                "destination": "Canton Fair", "dates": {"from": "2031-04-15", "to": "2031-04-19"},
                "reason": "meet buyers", "budget": {"amount": "6800", "currency": "CNY"}}})),
        )
        .await;
    assert_eq!(status, 201, "{trip}");
    assert_eq!(
        approve(&chen, &trip["id"]).await,
        ["2031-04-15 to 2031-04-19 blocked in the roster; a booking task for the office"]
    );
    let away = li.get("/api/v1/roster?from=2031-04-01&to=2031-04-30").await;
    assert_eq!(away["blocks"][0]["note"], "Canton Fair", "{away}");
    let tasks = zhou.get("/api/v1/oa/tasks").await;
    let task = &tasks["tasks"][0];
    assert_eq!(task["request"], trip["number"], "{tasks}");
    let (status, done) = zhou
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/oa/tasks/{}/done", task["id"]),
            Some(json!({"note": "CZ3101, Baiyun Hotel"})),
        )
        .await;
    assert_eq!(status, 200, "{done}");

    // ---- The plant's master data, as a planner imports it; the steel's supplier and GTIN,
    // and the frame's price.
    frame_line(&admin).await;
    admin
        .put(
            "/api/v1/items/STEEL",
            json!({"description": "Steel", "kind": "buy", "uom": "kg", "lead_time_days": 5,
                   "tracking": "lot", "gtin": "09506000134352"}),
        )
        .await;
    admin
        .put(
            "/api/v1/items/CUTTING-OIL",
            json!({"description": "Cutting oil", "kind": "buy", "uom": "l", "lead_time_days": 2,
                   "tracking": "lot"}),
        )
        .await;
    admin
        .import(
            "suppliers",
            "supplier,item,lead_time_days,price,preferred\nS-STEEL,STEEL,7,12.5,true\n",
        )
        .await;
    admin
        .post(
            "/api/v1/prices",
            json!({"item": "FRAME", "currency": "CNY", "price": "100", "valid_from": "2020-01-01"}),
        )
        .await;

    // ---- Business cards from the fair become a customer; a quotation at 15 % off waits for
    // the sales manager, whose approval sends it; the order is confirmed with a date.
    let (status, cards) = li
        .call_bytes(
            reqwest::Method::POST,
            "/api/v1/import/vcards",
            "text/vcard",
            CARDS.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, 200, "{cards}");
    let customer = cards["customers_created"][0].clone();
    assert_eq!(customer, "C000001", "{cards}");
    let quote = |discount: &str| json!({"customer": customer, "lines": [{"item": "FRAME", "qty": "1000", "discount_pct": discount}]});
    let quotation = li.post("/api/v1/quotations", quote("15")).await;
    let (status, waits) = li
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/quotations/{}/send", quotation["id"]),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, &waits["error"]["code"]),
        (409, &json!("awaiting_approval")),
        "{waits}"
    );
    let discount = chen.get("/api/v1/oa/requests?view=inbox").await["requests"][0]["id"].clone();
    assert_eq!(
        approve(&chen, &discount).await,
        [format!(
            "quotation {}/1 sent",
            quotation["number"].as_str().expect("a number")
        )]
    );
    let order = li
        .post(
            "/api/v1/sales-orders",
            json!({"quotation": quotation["id"]}),
        )
        .await;
    let confirmed = li
        .post(
            &format!("/api/v1/sales-orders/{}/confirm", order["id"]),
            json!({}),
        )
        .await;
    assert_eq!(confirmed["status"], "confirmed", "{confirmed}");
    let promised = confirmed["lines"][0]["confirmed_date"]
        .as_str()
        .expect("a promised date")
        .to_owned();
    // A second quotation stays open, to be flagged when the price changes.
    let open = li.post("/api/v1/quotations", quote("0")).await;

    // ---- MRP plans the order: 500 kg of steel to buy, approved by the plant manager, ordered.
    let plan = admin.post("/api/v1/mrp/run", json!({})).await;
    let run = plan["run"].clone();
    let requisitions = admin
        .get(&format!("/api/v1/mrp/runs/{run}/requisitions"))
        .await;
    let steel = &requisitions["requisitions"][0];
    assert_eq!(
        (&steel["item"], &steel["qty"]),
        (&json!("STEEL"), &json!(500))
    );
    let (status, asked) = pan
        .call(
            reqwest::Method::POST,
            &format!(
                "/api/v1/mrp/runs/{run}/requisitions/{}/buy",
                steel["planned_order"].as_str().expect("a reference")
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, &asked["outcome"]),
        (202, &json!("awaiting_approval")),
        "{asked}"
    );
    let requisition = request_id(&admin, &asked["request"]).await;
    assert_eq!(
        approve(&boss, &requisition).await,
        ["purchase order PO000001 placed"]
    );
    let po = admin.get("/api/v1/purchase-orders/PO000001").await;
    assert_eq!(
        (&po["supplier"], &po["qty"], &po["amount"], &po["state"]),
        (
            &json!("S-STEEL"),
            &json!("500"),
            &json!("6250.00"),
            &json!("open")
        ),
        "{po}"
    );

    // ---- The frames' order: 1000 pieces wait for the supervisor before going down.
    let firmed = admin
        .post(
            &format!("/api/v1/mrp/runs/{run}/firm"),
            json!({"all": true}),
        )
        .await;
    let wo = firmed["firmed"][0]["work_order"]
        .as_str()
        .expect("a work order")
        .to_owned();
    let (status, waiting) = pan
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/work-orders/{wo}/release"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, &waiting["error"]["code"]),
        (409, &json!("awaiting_approval")),
        "{waiting}"
    );
    let release = su.get("/api/v1/oa/requests?view=inbox").await["requests"][0]["id"].clone();
    assert_eq!(
        approve(&su, &release).await,
        [format!("work order {wo} released")]
    );

    // ---- The line: the press, and the edge that reads it, runs the released order.
    let (stop_plc, plc, plc_addr) = start_press(17).await;
    let (mut home, mut edge, _) =
        start_edge(&admin, &tmp.path().join("edge"), &token, plc_addr).await;

    // ---- The steel arrives: two supplier labels scanned at the rack, one naming the order.
    let scan = |code: &str| {
        let code = code.to_owned();
        let edge = &edge;
        async move {
            let (status, answer) = edge
                .post_json("/api/v1/scans", &json!({"station": STATION, "code": code}))
                .await;
            assert_eq!(status, 200, "{code}: {answer}");
            assert_eq!(answer["result"], "accepted", "{code}: {answer}");
            answer
        }
    };
    scan("(95)RACK-A").await;
    let first = scan("(01)09506000134352(3101)002000(10)SUP-1(400)PO000001").await;
    assert_eq!(first["action"], "received", "{first}");
    wait_until(
        "central to book 200 kg against PO000001",
        DEADLINE,
        || async {
            let po = admin.get("/api/v1/purchase-orders/PO000001").await;
            (po["received"] == "200" && po["state"] == "open").then_some(())
        },
    )
    .await;
    let second = scan("(01)09506000134352(3101)003000(10)SUP-2").await;
    assert_eq!(second["action"], "received", "{second}");
    let po = wait_until("central to close PO000001", DEADLINE, || async {
        let po = admin.get("/api/v1/purchase-orders/PO000001").await;
        (po["state"] == "received").then_some(po)
    })
    .await;
    assert_eq!(po["received"], "500", "{po}");
    let lots: Vec<&Value> = po["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .map(|r| &r["lot"])
        .collect();
    assert_eq!(lots, [&json!("SUP-1"), &json!("SUP-2")]);
    assert_eq!(admin.lot_stock("SUP-1").await, Decimal::from(200));

    // ---- The operator signs in, starts the order and issues steel of SUP-1; the press counts.
    scan("(95)RACK-A").await;
    for code in [
        "(96)10442".to_owned(),
        format!("(91){wo}"),
        "(01)09506000134352(3101)000300(10)SUP-1".to_owned(),
    ] {
        scan(&code).await;
    }
    wait_until("central to book the issue", DEADLINE, || async {
        (admin.lot_stock("SUP-1").await == Decimal::from(170)).then_some(())
    })
    .await;
    wait_until("the press to count frames at central", DEADLINE, || async {
        (admin.good(&wo).await >= 10).then_some(())
    })
    .await;

    // ---- The press runs dry: cutting oil, which the BOM does not name, is refused until the
    // operator's requisition at the terminal is approved by the supervisor on his phone.
    const OIL: &str = "(92)CUTTING-OIL(93)OIL-1(94)2l";
    let (status, refused) = edge
        .post_json("/api/v1/scans", &json!({"station": STATION, "code": OIL}))
        .await;
    assert_eq!(
        (status, &refused["reason"]),
        (200, &json!("wrong_item")),
        "{refused}"
    );
    let (status, asked) = edge
        .post_json(
            &format!("/api/v1/stations/{STATION}/requisitions"),
            &json!({"item": "CUTTING-OIL", "qty": "2", "uom": "l", "reason": "the press runs dry"}),
        )
        .await;
    assert_eq!(
        (status, &asked["action"]),
        (200, &json!("material_requested")),
        "{asked}"
    );
    let oil = wait_until("the supervisor to be asked", DEADLINE, || async {
        let inbox = su.get("/api/v1/oa/requests?view=inbox").await;
        inbox["requests"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["form"] == "material_requisition"))
            .map(|r| r["id"].clone())
    })
    .await;
    assert_eq!(
        approve(&su, &oil).await,
        [format!("material for {wo} approved for the line")]
    );
    let station = wait_until("the approval to reach the line", DEADLINE, || async {
        let (_, _, view) = edge.get(&format!("/api/v1/stations/{STATION}")).await;
        let view: Value = serde_json::from_str(&view).ok()?;
        (view["requisitions"][0]["state"] == "approved").then_some(view)
    })
    .await;
    assert_eq!(
        station["requisitions"][0]["decided_by"], "su.supervisor",
        "{station}"
    );
    let taken = scan(OIL).await;
    assert_eq!(taken["action"], "issued", "{taken}");

    // The frames' lot is traced back to the supplier's.
    let frames = complete_lot(&admin, &edge, 10, "SUP-1").await;

    // ---- The frames are shipped: a delivery of the lot against the order's line.
    let delivery = li
        .post(
            &format!("/api/v1/sales-orders/{}/deliveries", order["id"]),
            json!({"lines": [{"line": 1, "qty": "10", "lot": frames}]}),
        )
        .await;
    assert_eq!(
        (&delivery["number"], &delivery["lines"][0]["lot"]),
        (&json!("DN000001"), &json!(frames)),
        "{delivery}"
    );
    assert_eq!(admin.lot_stock(&frames).await, Decimal::ZERO);
    let shipped = li
        .get(&format!("/api/v1/sales-orders/{}", order["id"]))
        .await;
    assert_eq!(shipped["lines"][0]["shipped_qty"], "10", "{shipped}");

    // ---- Stop the press and the edge, drain what is left: central holds what the edge did.
    stop_plc.send_replace(true);
    let _ = plc.await;
    edge.proc.terminate().await;
    let committed = home.read_journal().last_seq();
    let mut edge = home.spawn_with("");
    edge.wait_ready().await;
    edge.wait_drained(committed).await;
    edge.proc.terminate().await;
    assert_exactly_once(&central, &home).await;

    // ---- The frame's price changes for the customer: the open quotation is flagged; the
    // confirmed order is not, and keeps its promise.
    admin
        .post(
            "/api/v1/prices",
            json!({"item": "FRAME", "currency": "CNY", "customer": customer, "price": "92.5",
                   "valid_from": "2020-01-01"}),
        )
        .await;
    let flags = li.get("/api/v1/crm/flags").await;
    let flagged: Vec<&Value> = flags["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| &f["document"])
        .collect();
    assert!(flagged.contains(&&open["id"]), "{flags}");
    assert!(!flagged.contains(&&order["id"]), "{flags}");
    let kept = li
        .get(&format!("/api/v1/sales-orders/{}", order["id"]))
        .await;
    assert_eq!(
        (&kept["status"], &kept["lines"][0]["confirmed_date"]),
        (&json!("confirmed"), &json!(promised)),
        "{kept}"
    );
}
