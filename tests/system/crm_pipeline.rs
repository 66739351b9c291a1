//! The CRM pipeline page in a real browser: headless Chromium over WebDriver (the machinery
//! of `terminal.rs` and `central_pages.rs`) against the real `mes central` binary.
//!
//! A salesperson with deals in several stages opens `/crm/pipeline`: the forecast on top is
//! what `GET /api/v1/crm/forecast` answers, each column holds the API's deals of its stage.
//! A card is moved by drag and drop (HTML5 drag events carrying the card's id, as a mouse
//! drag makes them: WebDriver's pointer actions do not start an HTML5 drag in Chromium) and
//! another by its stage select (a phone's way); the API then has them there, with their
//! history. A card lost needs a reason. A card someone else moved meanwhile is refused and
//! said so. Screenshots in Chinese and English, at a desktop's size and at 400 px wide, under
//! `<target>/test-artifacts/crm-pipeline/`.

use crate::support::*;
use crate::terminal::{Artifacts, BrowserTools, Chromedriver, Page};
use fantoccini::Locator;
use serde_json::{Value, json};
use std::path::PathBuf;

const SALES: &str = "li.sales";
const MANAGER: &str = "chen.mgr";
const PASSWORD: &str = "pipeline password 2026";

async fn admin_put(base: &str, path: &str, body: Value) {
    let response = http_client()
        .put(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("central answers");
    assert_eq!(response.status().as_u16(), 200, "PUT {path}");
}

async fn goto(page: &Page, url: &str) {
    page.client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
}

async fn loaded(page: &Page, path: &str) {
    page.wait(
        &format!("{path} to load"),
        &format!(
            "return location.pathname === '{path}' && document.readyState === 'complete' \
             && document.documentElement.dataset.ready !== undefined;"
        ),
    )
    .await;
}

async fn sign_in(page: &Page, base: &str, login: &str) {
    goto(page, &format!("{base}/crm/pipeline")).await;
    loaded(page, "/sign-in").await;
    for (id, text) in [("login", login), ("password", PASSWORD)] {
        let input = page
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"));
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }
    page.client
        .find(Locator::Id("sign-in-button"))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("click");
    loaded(page, "/crm/pipeline").await;
}

/// The page's board as `(stage, [card ids])` and its version per card.
async fn board(page: &Page) -> Value {
    page.js(
        r#"const out = {};
           for (const c of document.querySelectorAll('.pipeline-column')) {
             out[c.dataset.stage] = [...c.querySelectorAll('.deal')].map((d) => Number(d.dataset.id));
           }
           return out;"#,
    )
    .await
}

/// What the API has, in the same shape.
async fn api_board(who: &Person) -> Value {
    let list = who.get("/api/v1/opportunities?limit=500").await;
    let mut out = serde_json::Map::new();
    for stage in [
        "qualification",
        "needs_analysis",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ] {
        let ids: Vec<Value> = list["opportunities"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["stage"] == stage)
            .map(|o| o["id"].clone())
            .collect();
        out.insert(stage.into(), Value::Array(ids));
    }
    Value::Object(out)
}

/// Drags card `id` onto the column of `stage` as a mouse would: dragstart on the card,
/// dragenter/dragover/drop on the column with the same DataTransfer, dragend on the card.
async fn drag(page: &Page, id: i64, stage: &str) {
    page.js(&format!(
        r#"const card = document.querySelector('.deal[data-id="{id}"]');
           const column = document.querySelector('.pipeline-column[data-stage="{stage}"] .cards');
           const data = new DataTransfer();
           const fire = (target, type) => target.dispatchEvent(new DragEvent(type,
             {{ bubbles: true, cancelable: true, dataTransfer: data }}));
           fire(card, 'dragstart');
           fire(column, 'dragenter');
           fire(column, 'dragover');
           fire(column, 'drop');
           fire(card, 'dragend');
           return true;"#
    ))
    .await;
}

/// The figures of the forecast summary for `currency`: weighted, amount, count.
async fn forecast_figures(page: &Page, currency: &str) -> Value {
    page.js(&format!(
        r#"const row = document.querySelector('#pipeline-forecast .figure-row[data-currency="{currency}"]');
           if (!row) return null;
           return [row.querySelector('.weighted').textContent, row.querySelector('.amount').textContent,
                   row.querySelector('.count').textContent];"#
    ))
    .await
}

fn grouped(amount: &str) -> String {
    let (whole, cents) = amount.split_once('.').unwrap_or((amount, "00"));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}.{cents}")
}

#[tokio::test]
async fn a_salesperson_moves_deals_on_the_pipeline_page() {
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let artifacts = Artifacts::named("crm-pipeline");
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let user = |name: &str, role: &str, manager: Option<&str>, lang: &str| {
        json!({"display_name": name, "roles": [role], "plants": ["default"], "language": lang,
               "time_zone": "Asia/Shanghai", "password": PASSWORD, "manager": manager})
    };
    admin_put(
        &base,
        &format!("/api/v1/users/{MANAGER}"),
        user("陈经理", "sales_manager", None, "zh"),
    )
    .await;
    admin_put(
        &base,
        &format!("/api/v1/users/{SALES}"),
        user("李娜", "sales", Some(MANAGER), "zh"),
    )
    .await;
    let li = Person::sign_in(&base, SALES, PASSWORD).await;
    let chen = Person::sign_in(&base, MANAGER, PASSWORD).await;

    // A year of deals: a lead from the fair qualified, others made directly.
    let today = chrono::Utc::now().date_naive();
    let in_days = |n: i64| (today + chrono::Duration::days(n)).to_string();
    let huaqiang = li
        .post(
            "/api/v1/customers",
            json!({"name_zh": "深圳市华强电子有限公司", "name_en": "Huaqiang Electronics"}),
        )
        .await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let foshan = li
        .post(
            "/api/v1/customers",
            json!({"name_zh": "佛山华南机械有限公司", "name_en": "Foshan South China Machinery"}),
        )
        .await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let lead = li
        .post(
            "/api/v1/leads",
            json!({"name": "王强", "company": "宁波精密模具有限公司", "phone": "13700001111", "source": "trade_fair"}),
        )
        .await;
    let qualified = li
        .post(
            &format!("/api/v1/leads/{}/qualify", lead["id"]),
            json!({"title": "注塑模具 3 套", "amount": "186000.00", "close_date": in_days(40)}),
        )
        .await;
    let mold = qualified["opportunity"]["id"].as_i64().unwrap();
    let mut ids = vec![mold];
    for (customer, title, amount, days, stage) in [
        (&huaqiang, "冲压线改造", "1250000.00", 75, Some("proposal")),
        (
            &huaqiang,
            "备件年度框架",
            "88000.00",
            20,
            Some("negotiation"),
        ),
        (
            &foshan,
            "数控折弯机 2 台",
            "420000.00",
            60,
            Some("needs_analysis"),
        ),
        (&foshan, "激光切割工作站", "315000.00", 10, Some("won")),
        (&huaqiang, "自动化上下料", "96000.00", 100, None),
    ] {
        let o = li
            .post(
                "/api/v1/opportunities",
                json!({"customer": customer, "title": title, "amount": amount, "close_date": in_days(days)}),
            )
            .await;
        let id = o["id"].as_i64().unwrap();
        if let Some(stage) = stage {
            li.post(
                &format!("/api/v1/opportunities/{id}/stage"),
                json!({"stage": stage, "version": 1}),
            )
            .await;
        }
        ids.push(id);
    }
    let (press, spares, bender) = (ids[1], ids[2], ids[3]);
    // A customer abroad, in dollars, and the rate the forecast converts it with.
    let globex = li
        .post(
            "/api/v1/customers",
            json!({"name_en": "Globex Automation GmbH", "currency": "USD"}),
        )
        .await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    li.post(
        "/api/v1/opportunities",
        json!({"customer": globex, "title": "Servo press cell", "amount": "64000.00", "close_date": in_days(50)}),
    )
    .await;
    admin_put(
        &base,
        "/api/v1/exchange-rates",
        json!({"rates": [{"from": "USD", "to": "CNY", "rate": "7.1", "valid_from": "2020-01-01"}]}),
    )
    .await;

    let driver = Chromedriver::start(&tools, &tmp.path().join("chromedriver.log")).await;
    let open = |name, size| {
        let profile: PathBuf = tmp.path().join(format!("chromium-{name}"));
        Page::open(&driver, &tools, name, size, &artifacts, profile)
    };
    let desk = open("desktop", (1440, 900)).await;
    sign_in(&desk, &base, SALES).await;

    // The board is the API's, the forecast is the API's.
    assert_eq!(board(&desk).await, api_board(&li).await);
    let forecast = li.get("/api/v1/crm/forecast").await;
    let cny = forecast["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["currency"] == "CNY")
        .expect("a CNY total")
        .clone();
    let figures = desk
        .wait(
            "the forecast summary",
            "const r = document.querySelector('#pipeline-forecast .figure-row[data-currency=\"CNY\"]'); \
             return r ? true : null;",
        )
        .await;
    assert_eq!(figures, json!(true));
    assert_eq!(
        forecast_figures(&desk, "CNY").await,
        json!([
            format!("CNY {}", grouped(cny["weighted"].as_str().unwrap())),
            format!("CNY {}", grouped(cny["amount"].as_str().unwrap())),
            cny["count"].to_string()
        ])
    );
    assert_eq!(
        desk.js("return document.querySelector('h1').textContent;")
            .await,
        json!("销售漏斗")
    );
    desk.screenshot("01-pipeline-zh").await;

    // Dragged: the press line from proposal to negotiation.
    drag(&desk, press, "negotiation").await;
    desk.wait(
        "the press line in negotiation after the reload",
        &format!(
            "return document.readyState === 'complete' && \
             document.querySelector('.pipeline-column[data-stage=\"negotiation\"] .deal[data-id=\"{press}\"]') !== null;"
        ),
    )
    .await;
    let moved = li.get(&format!("/api/v1/opportunities/{press}")).await;
    assert_eq!(moved["stage"], "negotiation");
    assert_eq!(moved["probability"], 75);
    assert_eq!(moved["history"].as_array().unwrap().len(), 3);
    assert_eq!(moved["history"][2]["by"], SALES);
    loaded(&desk, "/crm/pipeline").await;
    assert_eq!(board(&desk).await, api_board(&li).await);

    // Chosen in the select (the phone's way): the bender to proposal.
    desk.js(&format!(
        r#"const s = document.querySelector('.deal[data-id="{bender}"] select.deal-stage');
           s.value = 'proposal';
           s.dispatchEvent(new Event('change', {{ bubbles: true }}));
           return true;"#
    ))
    .await;
    desk.wait(
        "the bender in proposal",
        &format!(
            "return document.readyState === 'complete' && \
             document.querySelector('.pipeline-column[data-stage=\"proposal\"] .deal[data-id=\"{bender}\"]') !== null;"
        ),
    )
    .await;
    assert_eq!(
        li.get(&format!("/api/v1/opportunities/{bender}")).await["stage"],
        "proposal"
    );

    // Lost needs a reason: none given, nothing moves; one given, it is kept.
    loaded(&desk, "/crm/pipeline").await;
    desk.js("window.prompt = () => ''; return true;").await;
    drag(&desk, spares, "lost").await;
    assert_eq!(
        li.get(&format!("/api/v1/opportunities/{spares}")).await["stage"],
        "negotiation"
    );
    desk.js("window.prompt = () => '价格高于竞争对手 12%'; return true;")
        .await;
    drag(&desk, spares, "lost").await;
    desk.wait(
        "the spares deal lost",
        &format!(
            "return document.readyState === 'complete' && \
             document.querySelector('.pipeline-column[data-stage=\"lost\"] .deal[data-id=\"{spares}\"] .reason') !== null;"
        ),
    )
    .await;
    let lost = li.get(&format!("/api/v1/opportunities/{spares}")).await;
    assert_eq!(lost["lost_reason"], "价格高于竞争对手 12%");

    // Someone else moves the press line meanwhile: the page's move is refused, said so,
    // and the board shows where the other put it.
    loaded(&desk, "/crm/pipeline").await;
    let current = li.get(&format!("/api/v1/opportunities/{press}")).await;
    chen.post(
        &format!("/api/v1/opportunities/{press}/stage"),
        json!({"stage": "won", "version": current["version"]}),
    )
    .await;
    drag(&desk, press, "proposal").await;
    desk.wait(
        "the refusal said after the reload",
        &format!(
            "const e = document.getElementById('pipeline-error'); \
             return document.readyState === 'complete' && !e.hidden && e.textContent.includes('有人刚刚改动') && \
             document.querySelector('.pipeline-column[data-stage=\"won\"] .deal[data-id=\"{press}\"]') !== null;"
        ),
    )
    .await;
    assert_eq!(
        li.get(&format!("/api/v1/opportunities/{press}")).await["stage"],
        "won"
    );
    desk.screenshot("02-pipeline-conflict-zh").await;

    // In English, with the forecast still the API's.
    goto(&desk, &format!("{base}/crm/pipeline?lang=en")).await;
    loaded(&desk, "/crm/pipeline").await;
    assert_eq!(
        desk.js("return document.querySelector('h1').textContent;")
            .await,
        json!("Sales pipeline")
    );
    let forecast = li.get("/api/v1/crm/forecast").await;
    let cny = forecast["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["currency"] == "CNY")
        .unwrap()
        .clone();
    assert_eq!(
        forecast_figures(&desk, "CNY").await[0],
        json!(format!(
            "CNY {}",
            grouped(cny["weighted"].as_str().unwrap())
        ))
    );
    assert_eq!(board(&desk).await, api_board(&li).await);
    desk.screenshot("03-pipeline-en").await;
    // Converted to yuan at the exchange rate: one line, the API's.
    goto(&desk, &format!("{base}/crm/pipeline?currency=CNY")).await;
    loaded(&desk, "/crm/pipeline").await;
    let converted = li.get("/api/v1/crm/forecast?currency=CNY").await;
    assert_eq!(converted["totals"].as_array().unwrap().len(), 1);
    assert_eq!(
        forecast_figures(&desk, "CNY").await,
        json!([
            format!(
                "CNY {}",
                grouped(converted["totals"][0]["weighted"].as_str().unwrap())
            ),
            format!(
                "CNY {}",
                grouped(converted["totals"][0]["amount"].as_str().unwrap())
            ),
            converted["totals"][0]["count"].to_string()
        ])
    );
    assert_eq!(
        desk.js("return document.querySelectorAll('#pipeline-forecast .figure-row').length;")
            .await,
        json!(1)
    );
    desk.close().await;

    // On a phone, 400 px wide: the columns scroll sideways, the select moves a card.
    let phone = open("phone", (400, 860)).await;
    sign_in(&phone, &base, SALES).await;
    assert_eq!(board(&phone).await, api_board(&li).await);
    // The columns scroll inside the board; the page itself does not scroll sideways.
    phone.assert_no_horizontal_scrolling().await;
    phone.screenshot("04-pipeline-phone-zh").await;
    phone
        .js("document.getElementById('pipeline-board').scrollIntoView(); return true;")
        .await;
    phone.screenshot("05-pipeline-phone-board-zh").await;
    let select = phone
        .client
        .find(Locator::Css(&format!(
            ".deal[data-id=\"{mold}\"] select.deal-stage"
        )))
        .await
        .expect("the mold deal's select");
    select
        .select_by_value("needs_analysis")
        .await
        .expect("choose needs analysis");
    phone
        .wait(
            "the mold deal in needs analysis",
            &format!(
                "return document.readyState === 'complete' && \
                 document.querySelector('.pipeline-column[data-stage=\"needs_analysis\"] .deal[data-id=\"{mold}\"]') !== null;"
            ),
        )
        .await;
    assert_eq!(
        li.get(&format!("/api/v1/opportunities/{mold}")).await["stage"],
        "needs_analysis"
    );
    goto(&phone, &format!("{base}/crm/pipeline?lang=en")).await;
    loaded(&phone, "/crm/pipeline").await;
    phone.screenshot("06-pipeline-phone-en").await;
    phone.close().await;
    println!("crm pipeline screenshots: {}", artifacts.dir.display());
}
