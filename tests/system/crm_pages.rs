//! The CRM's pages in a real browser (issue 16): headless Chromium over WebDriver against the
//! real `mes central` binary, the harness of `central_pages.rs`.
//!
//! A salesperson imports a `.vcf` of three business cards from a trade fair on `/crm/import`
//! (one card Zhang Wei again, his mobile written with +86): the page says what the import
//! did, the duplicate waits below and is merged into Zhang Wei with a click. They open the
//! customer, log a visit and add a follow-up task, see it on `/crm/tasks` beside an overdue
//! one and mark it done. Each step is checked against what the API answers. Another
//! salesperson gets a 404 page for those records; their sales manager sees them, and the
//! team's tasks. Screenshots of every page in Chinese and English, on a desktop and at 400 px
//! wide (a phone), go to `<target>/test-artifacts/crm/`.

use crate::support::*;
use crate::terminal::{Artifacts, BrowserTools, Chromedriver, Page};
use chrono::{Duration, Utc};
use fantoccini::Locator;
use serde_json::{Value, json};
use std::path::PathBuf;

const SALES: &str = "li.sales";
const OTHER_SALES: &str = "zhao.sales";
const MANAGER: &str = "chen.mgr";
const PASSWORD: &str = "a fair password of 24 ch";

/// Three cards from the fair: Zhang Wei at Huaqiang, Li Na at a Foshan machine maker, and
/// Zhang Wei's second card with his mobile written with +86 (a duplicate by phone).
const FAIR_VCF: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Zhang;Wei;;;\r\nFN:Zhang Wei\r\nORG:Huaqiang Electronics Co Ltd;Purchasing\r\nTITLE:Purchasing Manager\r\nTEL;TYPE=CELL:138-0013-8000\r\nEMAIL:zhang.wei@huaqiang.example\r\nX-WECHAT:zhangwei_hq\r\nCATEGORIES:canton fair\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:4.0\r\nFN:李娜\r\nORG:佛山精密机械有限公司\r\nTITLE:采购经理\r\nTEL;TYPE=work:0757-8888-1234\r\nEMAIL:li.na@fsjm.example\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Wei Zhang\r\nORG:Huaqiang Electronics\r\nTEL;TYPE=CELL:+86 138 0013 8000\r\nEMAIL:wei.zhang@private.example\r\nEND:VCARD\r\n";

/// Two cards, the second with a wrong e-mail address and a phone number that is none.
const BAD_VCF: &str = "BEGIN:VCARD\nVERSION:3.0\nFN:Good Card\nEMAIL:good@x.example\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nFN:Bad Card\nEMAIL:not-an-address\nTEL:call me\nEND:VCARD\n";

/// The administrator's API of the central under test.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
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

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }
}

impl Page {
    /// The texts of the elements `css` matches, in order.
    async fn texts(&self, css: &str) -> Value {
        self.js(&format!(
            "return Array.from(document.querySelectorAll('{css}')).map(e => e.textContent.trim());"
        ))
        .await
    }

    /// `data-{name}` of the elements `css` matches, in order.
    async fn data(&self, css: &str, name: &str) -> Value {
        self.js(&format!(
            "return Array.from(document.querySelectorAll('{css}')).map(e => e.dataset.{name});"
        ))
        .await
    }

    /// The page at `path` (with `?lang=`), its language as asked.
    async fn open_in(&self, base: &str, path: &str, lang: &str) {
        let sep = if path.contains('?') { '&' } else { '?' };
        self.goto(&format!("{base}{path}{sep}lang={lang}")).await;
        let bare = path.split('?').next().unwrap_or(path);
        self.loaded(bare).await;
        let want = if lang == "zh" { "zh-CN" } else { "en" };
        assert_eq!(self.lang().await, want, "{path} in {lang}");
    }

    /// Screenshots of the page at `path` in both languages at this width, and of the part
    /// `below` (an element's id) scrolled into view.
    async fn both_languages(
        &self,
        base: &str,
        path: &str,
        step: &str,
        phone: bool,
        below: Option<&str>,
    ) {
        for lang in ["zh", "en"] {
            self.open_in(base, path, lang).await;
            if phone {
                self.assert_no_horizontal_scrolling().await;
            }
            let width = if phone { "400" } else { "desktop" };
            self.screenshot(&format!("{step}-{lang}-{width}")).await;
            if let Some(id) = below {
                self.js(&format!(
                    "document.getElementById('{id}').scrollIntoView(); return true;"
                ))
                .await;
                self.screenshot(&format!("{step}-{lang}-{width}-{id}"))
                    .await;
            }
        }
    }
}

fn ids(list: &Value, key: &str) -> Value {
    Value::Array(
        list[key]
            .as_array()
            .expect("a list")
            .iter()
            .map(|a| Value::String(a["id"].to_string()))
            .collect(),
    )
}

#[tokio::test]
async fn issue_16_business_cards_to_customers_visits_and_tasks_in_a_browser() {
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let artifacts = Artifacts::named("crm");
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let api = Api {
        base: base.clone(),
        http: http_client(),
    };
    api.call(
        reqwest::Method::PUT,
        "/api/v1/plants/plant-a",
        Some(json!({"name": "深圳工厂"})),
    )
    .await;
    let user = |name: &str, role: &str, manager: Option<&str>| {
        json!({"display_name": name, "roles": [role], "plants": ["plant-a"], "language": "zh",
               "time_zone": "Asia/Shanghai", "password": PASSWORD, "manager": manager})
    };
    api.call(
        reqwest::Method::PUT,
        &format!("/api/v1/users/{MANAGER}"),
        Some(user("陈经理", "sales_manager", None)),
    )
    .await;
    api.call(
        reqwest::Method::PUT,
        &format!("/api/v1/users/{SALES}"),
        Some(user("李销售", "sales", Some(MANAGER))),
    )
    .await;
    api.call(
        reqwest::Method::PUT,
        &format!("/api/v1/users/{OTHER_SALES}"),
        Some(user("赵销售", "sales", None)),
    )
    .await;
    let vcf = tmp.path().join("canton-fair.vcf");
    std::fs::write(&vcf, FAIR_VCF).expect("write the cards");

    let driver = Chromedriver::start(&tools, &tmp.path().join("chromedriver.log")).await;
    let open = |name, size| {
        let profile: PathBuf = tmp.path().join(format!("chromium-{name}"));
        Page::open(&driver, &tools, name, size, &artifacts, profile)
    };

    // ---- The salesperson, on a desktop: a customer they met before the fair, made on the
    // customers page.
    let li = open("sales", (1280, 860)).await;
    li.goto(&format!("{base}/crm/customers")).await;
    li.loaded("/sign-in").await;
    li.sign_in(SALES, PASSWORD).await;
    li.loaded("/crm/customers").await;
    assert_eq!(li.lang().await, "zh-CN");
    li.wait(
        "no customers yet",
        "return document.getElementById('crm-none') !== null;",
    )
    .await;
    li.type_into("c-name-zh", "佛山精密机械有限公司").await;
    li.type_into("c-name-en", "Foshan Precision Machinery Co., Ltd.")
        .await;
    li.type_into("c-industry", "机械加工").await;
    li.type_into("c-region", "华南").await;
    li.type_into("c-tags", "老客户，重点").await;
    li.screenshot("00-new-customer-zh-desktop").await;
    li.click("#crm-customer-form button[type=submit]").await;
    li.wait(
        "the new customer's page",
        r#"return location.pathname.startsWith('/crm/customers/C')
               && document.getElementById('d-name-zh') !== null;"#,
    )
    .await;
    let foshan = api.get("/api/v1/customers?search=foshan").await;
    let foshan = foshan["customers"][0].clone();
    assert_eq!(foshan["owner"], SALES);
    assert_eq!(foshan["tags"], json!(["老客户", "重点"]));
    assert_eq!(foshan["industry"], "机械加工");
    assert_eq!(
        li.data("#crm-title", "code").await,
        json!([foshan["code"].clone()])
    );

    // Business cards in: a file with mistakes first, each named as the API names it.
    li.goto(&format!("{base}/crm/import")).await;
    li.loaded("/crm/import").await;
    li.wait(
        "no duplicates waiting yet",
        "return document.getElementById('crm-no-duplicates') !== null;",
    )
    .await;
    li.screenshot("01-import-empty-zh-desktop").await;
    let bad = tmp.path().join("bad.vcf");
    std::fs::write(&bad, BAD_VCF).expect("write the bad cards");
    li.client
        .find(Locator::Id("import-file"))
        .await
        .expect("the file input")
        .send_keys(&bad.display().to_string())
        .await
        .expect("choose the file");
    li.click("#crm-import").await;
    let shown = li
        .wait(
            "the mistakes listed",
            r#"const box = document.getElementById('crm-import-errors');
               const rows = Array.from(document.querySelectorAll('#crm-import-error-list tbody tr'));
               return !box.hidden && rows.length > 0
                   ? rows.map(r => [r.cells[1].textContent, r.cells[2].textContent]) : null;"#,
        )
        .await;
    let refused = api
        .http
        .post(format!("{base}/api/v1/import/vcards"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/vcard")
        .body(BAD_VCF)
        .send()
        .await
        .expect("central answers");
    assert_eq!(refused.status().as_u16(), 400);
    let refused: Value = refused.json().await.expect("the error");
    assert_eq!(refused["error"]["code"], "invalid_vcard");
    let details: Vec<Value> = refused["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| json!([d["column"], d["message"]]))
        .collect();
    assert_eq!(shown, json!(details));
    let first = &refused["error"]["details"][0];
    assert!(
        first["message"].as_str().unwrap().starts_with("card 2 "),
        "{first}"
    );
    assert_eq!(
        li.texts("#crm-import-error-list tbody tr td:first-child")
            .await[0],
        json!(format!("第 2 张名片，第 {} 行", first["line"]))
    );
    assert_eq!(
        li.texts("#crm-import-message").await,
        json!([format!(
            "文件中有 {} 处错误（见下表），全部名片均未导入；改正后请重新导入。",
            details.len()
        )])
    );
    li.screenshot("01-import-mistakes-zh-desktop").await;
    assert_eq!(
        api.get("/api/v1/customers").await["customers"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing imported"
    );

    li.client
        .find(Locator::Id("import-file"))
        .await
        .expect("the file input")
        .send_keys(&vcf.display().to_string())
        .await
        .expect("choose the file");
    li.click("#crm-import").await;
    li.wait(
        "what the import did, and the duplicate below",
        r#"const r = document.getElementById('crm-import-result');
           return r && !r.hidden && document.getElementById('import-cards').textContent === '3'
               && document.getElementById('import-contacts').textContent === '2'
               && document.getElementById('import-customers').textContent === '1'
               && document.getElementById('import-joined').textContent === '1'
               && document.getElementById('import-duplicates').textContent === '1'
               && document.querySelectorAll('#crm-duplicate-list li.duplicate').length === 1;"#,
    )
    .await;
    li.screenshot("02-import-result-zh-desktop").await;
    li.resize((400, 860)).await;
    li.assert_no_horizontal_scrolling().await;
    li.screenshot("03-import-result-zh-400").await;
    li.js("document.getElementById('crm-duplicates').scrollIntoView(); return true;")
        .await;
    li.screenshot("03-import-duplicates-zh-400").await;
    li.resize((1280, 860)).await;
    li.open_in(&base, "/crm/import", "en").await;
    li.screenshot("04-import-duplicates-en-desktop").await;
    li.open_in(&base, "/crm/import", "zh").await;
    // The duplicate the page offers is the one the API has waiting, matched on the phone.
    let waiting = api.get("/api/v1/crm/duplicates").await;
    let waiting = waiting["duplicates"]
        .as_array()
        .expect("duplicates")
        .clone();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["matches"][0]["on"], "phone");
    assert_eq!(waiting[0]["contact"]["name"], "Wei Zhang");
    let zhang = waiting[0]["matches"][0]["contact"]
        .as_i64()
        .expect("the match");
    assert_eq!(
        li.data("#crm-duplicate-list li.duplicate", "duplicate")
            .await,
        json!([waiting[0]["id"].to_string()])
    );
    li.click(&format!(
        r#"button.crm-resolve[data-action="merge"][data-into="{zhang}"]"#
    ))
    .await;
    li.wait(
        "the duplicate merged and gone",
        "return document.getElementById('crm-no-duplicates') !== null && document.readyState === 'complete';",
    )
    .await;
    let all = api.get("/api/v1/crm/duplicates?status=all").await;
    assert_eq!(all["duplicates"][0]["status"], "merged");
    assert_eq!(all["duplicates"][0]["result"], zhang);
    let merged = api.get(&format!("/api/v1/contacts/{zhang}")).await;
    assert!(
        merged["emails"]
            .as_array()
            .unwrap()
            .contains(&json!("wei.zhang@private.example")),
        "the card's e-mail address went to Zhang Wei: {merged}"
    );

    // ---- The customers: the API's, counted.
    li.goto(&format!("{base}/crm/customers")).await;
    li.loaded("/crm/customers").await;
    let customers = api.get("/api/v1/customers").await;
    let codes: Vec<Value> = customers["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].clone())
        .collect();
    assert_eq!(codes.len(), 2);
    assert_eq!(
        li.data("#crm-customers tbody tr", "code").await,
        json!(codes)
    );
    assert_eq!(
        li.data("#crm-customers tbody tr", "contacts").await,
        json!(
            customers["customers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["contacts"].to_string())
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(
        li.data("#crm-counts a[data-total]", "total").await,
        json!(["2"])
    );
    let huaqiang = customers["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name_en"] == "Huaqiang Electronics Co Ltd")
        .expect("Huaqiang made from the first card");
    let code = huaqiang["code"].as_str().unwrap().to_owned();
    li.click(&format!(
        r#"#crm-customers tr[data-code="{code}"] td.key a"#
    ))
    .await;
    li.loaded(&format!("/crm/customers/{code}")).await;
    assert_eq!(
        li.data("#crm-contacts tbody tr", "contact").await,
        json!([zhang.to_string()])
    );

    // Its Chinese name and industry added on the page; what the card said stays.
    li.click("#crm-edit").await;
    li.type_into("c-name-zh", "深圳华强电子有限公司").await;
    li.type_into("c-industry", "电子元器件").await;
    li.click("#crm-save-customer").await;
    li.wait(
        "the customer changed",
        r#"return document.getElementById('d-name-zh').textContent === '深圳华强电子有限公司'
               && document.getElementById('crm-customer-form').hidden;"#,
    )
    .await;
    let changed = api.get(&format!("/api/v1/customers/{code}")).await;
    assert_eq!(changed["name_zh"], "深圳华强电子有限公司");
    assert_eq!(changed["name_en"], huaqiang["name_en"]);
    assert_eq!(changed["industry"], "电子元器件");
    assert_eq!(changed["addresses"], huaqiang["addresses"]);
    assert_eq!(changed["owner"], SALES);

    // A visit logged, and a follow-up task in three days.
    li.click("#crm-log-details summary").await;
    li.js("document.getElementById('a-kind').value = 'visit'; return true;")
        .await;
    li.type_into("a-subject", "拜访深圳工厂，参观 SMT 产线")
        .await;
    li.type_into("a-body", "张伟确认明年一季度需求约 2 万套，下周发报价。")
        .await;
    li.js(&format!(
        "document.getElementById('a-contact').value = '{zhang}'; return true;"
    ))
    .await;
    li.click("#crm-log").await;
    li.wait(
        "the visit listed",
        r#"const v = document.querySelector('#crm-activities li[data-kind="visit"]');
           return v !== null && v.querySelector('.subject').textContent.startsWith('拜访深圳工厂');"#,
    )
    .await;
    let due = (Utc::now() + Duration::days(3)).date_naive().to_string();
    li.click("#crm-task-details summary").await;
    li.type_into("task-subject", "发送报价单").await;
    li.js(&format!(
        "document.getElementById('task-due').value = '{due}'; return true;"
    ))
    .await;
    li.click("#crm-add-task").await;
    li.wait(
        "the task listed, open",
        r#"return document.querySelector('#crm-activities li[data-kind="task"].open') !== null;"#,
    )
    .await;
    let activities = api
        .get(&format!("/api/v1/activities?customer={code}"))
        .await;
    assert_eq!(
        li.data("#crm-activities > li", "activity").await,
        ids(&activities, "activities")
    );
    let task = activities["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "task")
        .expect("the task");
    assert_eq!(task["due"], json!(due));
    assert_eq!(task["owner"], SALES);
    let task_id = task["id"].as_i64().unwrap();
    let visit = activities["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "visit")
        .expect("the visit");
    assert_eq!(visit["contact"], zhang);
    // An older task, overdue, made through the API (a phone call promised last week).
    let overdue = api
        .call(
            reqwest::Method::POST,
            "/api/v1/activities",
            Some(
                json!({"kind": "task", "subject": "回电：样品测试结果", "customer": code,
                        "contact": zhang, "owner": SALES,
                        "due": (Utc::now() - Duration::days(2)).date_naive().to_string()}),
            ),
        )
        .await;
    let overdue_id = overdue["id"].as_i64().unwrap();

    // ---- The tasks: li's, soonest first as the API lists them, the overdue one marked.
    li.goto(&format!("{base}/crm/tasks")).await;
    li.loaded("/crm/tasks").await;
    let tasks = api.get(&format!("/api/v1/crm/tasks?owner={SALES}")).await;
    assert_eq!(
        li.data("#crm-tasks > li", "activity").await,
        ids(&tasks, "activities")
    );
    assert_eq!(
        li.data("#crm-tasks > li", "activity").await,
        json!([overdue_id.to_string(), task_id.to_string()])
    );
    assert_eq!(
        li.data("#crm-tasks > li.overdue", "activity").await,
        json!([overdue_id.to_string()])
    );
    assert_eq!(li.texts("#crm-team").await, json!([]), "li has no team");

    // Screenshots: every page in both languages, on the desktop and at 400 px.
    let contact = format!("/crm/contacts/{zhang}");
    let customer = format!("/crm/customers/{code}");
    for phone in [false, true] {
        if phone {
            li.resize((400, 860)).await;
        }
        li.both_languages(&base, "/crm/customers", "10-customers", phone, None)
            .await;
        li.both_languages(
            &base,
            &customer,
            "11-customer",
            phone,
            Some("crm-activities-card"),
        )
        .await;
        li.both_languages(
            &base,
            &contact,
            "12-contact",
            phone,
            Some("crm-activities-card"),
        )
        .await;
        li.both_languages(&base, "/crm/tasks", "13-tasks", phone, None)
            .await;
        li.both_languages(&base, "/crm/import", "14-import", phone, None)
            .await;
    }
    li.resize((1280, 860)).await;

    // Zhang Wei entered a second time by hand, merged into the first from its page.
    let twice = api
        .call(
            reqwest::Method::POST,
            "/api/v1/contacts",
            Some(json!({"name": "张伟", "customer": code, "owner": SALES,
                        "phones": [{"kind": "work", "number": "0755-8300-1000"}],
                        "emails": ["zw@huaqiang.example"]})),
        )
        .await;
    let twice = twice["id"].as_i64().expect("the second contact");
    li.open_in(&base, &format!("/crm/contacts/{twice}"), "zh")
        .await;
    li.click("#crm-merge-details summary").await;
    li.js(&format!(
        "document.getElementById('merge-into').value = '{zhang}'; return true;"
    ))
    .await;
    li.screenshot("14-merge-contact-zh-desktop").await;
    li.accept_confirms().await;
    li.click("#crm-merge").await;
    li.wait(
        "Zhang Wei's page with the number merged in",
        &format!(
            r#"const phones = document.getElementById('crm-phones');
               return location.pathname === '/crm/contacts/{zhang}' && phones !== null
                   && phones.textContent.includes('0755-8300-1000');"#
        ),
    )
    .await;
    let gone = api
        .http
        .get(format!("{base}/api/v1/contacts/{twice}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("central answers");
    assert_eq!(gone.status().as_u16(), 404, "merged away");
    let merged = api.get(&format!("/api/v1/contacts/{zhang}")).await;
    assert!(
        merged["emails"]
            .as_array()
            .unwrap()
            .contains(&json!("zw@huaqiang.example")),
        "{merged}"
    );

    // The task done: gone from the list, and the API says when.
    li.open_in(&base, "/crm/tasks", "zh").await;
    li.click(&format!(r#"button.crm-done[data-activity="{task_id}"]"#))
        .await;
    li.wait(
        "the task gone from the list",
        &format!(
            r#"return document.readyState === 'complete'
                   && document.querySelector('#crm-tasks li[data-activity="{task_id}"]') === null
                   && document.getElementById('crm-task-summary').dataset.count === '1';"#
        ),
    )
    .await;
    li.screenshot("15-task-done-zh-desktop").await;
    let done = api
        .get(&format!("/api/v1/activities?customer={code}&kind=task"))
        .await;
    let done = done["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == task_id)
        .expect("the task")
        .clone();
    assert!(done["done_at"].is_string(), "{done}");
    assert_eq!(
        api.get(&format!("/api/v1/crm/tasks?owner={SALES}")).await["activities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A CSV of cards saved by Excel on a Chinese Windows (GBK), its charset chosen on the page.
    let csv = tmp.path().join("fair-excel.csv");
    let mut bytes = b"name,mobile,wechat,tags\n".to_vec();
    bytes.extend_from_slice(&[0xCD, 0xF5, 0xC7, 0xBF]); // 王强
    bytes.extend_from_slice(b",13900001111,wq_nb,fair\n");
    std::fs::write(&csv, bytes).expect("write the csv");
    li.open_in(&base, "/crm/import", "zh").await;
    li.js("document.getElementById('import-charset').value = 'gbk'; return true;")
        .await;
    li.client
        .find(Locator::Id("import-file"))
        .await
        .expect("the file input")
        .send_keys(&csv.display().to_string())
        .await
        .expect("choose the file");
    li.click("#crm-import").await;
    li.wait(
        "the csv imported",
        r#"const r = document.getElementById('crm-import-result');
           return r && !r.hidden && document.getElementById('import-cards').textContent === '1'
               && document.getElementById('import-contacts').textContent === '1';"#,
    )
    .await;
    li.screenshot("16-import-csv-gbk-zh-desktop").await;
    let wang = api.get("/api/v1/contacts?search=13900001111").await;
    assert_eq!(wang["contacts"][0]["name"], "王强");
    assert_eq!(wang["contacts"][0]["source"], "csv");
    assert_eq!(wang["contacts"][0]["owner"], SALES);
    li.close().await;

    // ---- Another salesperson: not theirs, a 404 page; an empty list.
    let zhao = open("other-sales", (1280, 860)).await;
    zhao.goto(&format!("{base}{customer}")).await;
    zhao.loaded("/sign-in").await;
    zhao.sign_in(OTHER_SALES, PASSWORD).await;
    zhao.loaded(&customer).await;
    zhao.wait(
        "a 404 page",
        r#"return document.getElementById('crm-not-found') !== null && document.title.startsWith('未找到');"#,
    )
    .await;
    zhao.screenshot("20-not-theirs-zh-desktop").await;
    zhao.goto(&format!("{base}{contact}?lang=en")).await;
    zhao.wait(
        "a 404 page in English",
        r#"return document.getElementById('crm-not-found') !== null && document.title.startsWith('Not found');"#,
    )
    .await;
    zhao.screenshot("21-not-theirs-en-desktop").await;
    zhao.goto(&format!("{base}/crm/customers")).await;
    zhao.loaded("/crm/customers").await;
    assert_eq!(
        zhao.data("#crm-customers tbody tr", "code").await,
        json!([])
    );
    zhao.close().await;

    // ---- The manager: li's customer, and the team's tasks.
    let chen = open("manager", (1280, 860)).await;
    chen.goto(&format!("{base}{customer}")).await;
    chen.loaded("/sign-in").await;
    chen.sign_in(MANAGER, PASSWORD).await;
    chen.loaded(&customer).await;
    assert_eq!(chen.data("#crm-title", "code").await, json!([code.clone()]));
    chen.goto(&format!("{base}/crm/tasks?owner=all")).await;
    chen.loaded("/crm/tasks").await;
    assert_eq!(
        chen.data("#crm-tasks > li", "activity").await,
        json!([overdue_id.to_string()])
    );
    assert_eq!(
        chen.texts("#crm-tasks .owner").await,
        json!(["李销售 (li.sales)"])
    );
    assert_eq!(chen.texts("#crm-tasks-title").await, json!(["团队的待办"]));
    chen.screenshot("30-team-tasks-zh-desktop").await;
    chen.goto(&format!("{base}/crm/customers?lang=en")).await;
    chen.loaded("/crm/customers").await;
    assert_eq!(
        chen.data("#crm-counts a[data-owner]", "count").await,
        json!(["2"])
    );
    chen.screenshot("31-team-customers-en-desktop").await;
    chen.close().await;
    println!("crm screenshots: {}", artifacts.dir.display());
}
