//! Requests and approvals in a real browser (issue 17): headless Chromium over WebDriver
//! against the real `mes central` binary, the harness of `central_pages.rs`.
//!
//! A salesperson fills a travel request and an expense claim on forms made from their
//! definitions (a bad date range refused on the page first); their manager finds both in
//! the inbox on `/oa` and approves them at once; each request's page shows its trail. Each
//! step is checked against the API. The requester finds both approvals in their
//! notifications and marks them read; an administrator edits the travel workflow on
//! `/oa/admin`, where a step nobody can approve is refused with its name. Screenshots in
//! Chinese and English, on a desktop and at 400 px wide, go to `<target>/test-artifacts/oa/`.

use crate::crm_sales_pages::{call, shots};
use crate::support::*;
use crate::terminal::{Artifacts, BrowserTools, Chromedriver, Page};
use serde_json::json;
use std::path::PathBuf;

const PASSWORD: &str = "a fair password of 24 ch";

/// Fills the new-request form on `page` from `(field, value)` pairs (money and date ranges as
/// `field.amount`, `field.from`, …) and submits it.
async fn fill_and_submit(page: &Page, values: &[(&str, &str)]) {
    let pairs = serde_json::to_string(values).expect("json");
    page.js(&format!(
        r#"for (const [name, value] of {pairs}) {{
             const input = document.querySelector('#oa-new-form [name="' + name + '"]');
             if (!input) throw new Error('no input ' + name);
             input.value = value;
           }}
           return true;"#
    ))
    .await;
    page.click("#oa-submit").await;
}

#[tokio::test]
async fn issue_17_a_request_filled_on_a_form_and_approved_from_the_inbox() {
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let artifacts = Artifacts::named("oa");
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let put = reqwest::Method::PUT;
    for (login, name, role, manager) in [
        ("chen.mgr", "陈经理", "sales_manager", None),
        ("li.sales", "李销售", "sales", Some("chen.mgr")),
        ("zhou.office", "周行政", "office", None),
    ] {
        call(
            &base,
            put.clone(),
            &format!("/api/v1/users/{login}"),
            Some(json!({"display_name": name, "roles": [role], "plants": ["default"], "language": "zh",
                        "time_zone": "Asia/Shanghai", "password": PASSWORD, "manager": manager})),
        )
        .await;
    }
    for form in ["travel", "expense"] {
        call(
            &base,
            put.clone(),
            &format!("/api/v1/oa/workflows/{form}"),
            Some(json!({"form": form, "steps": [
                {"name": "经理审批", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"}}
            ]})),
        )
        .await;
    }

    let driver = Chromedriver::start(&tools, &tmp.path().join("chromedriver.log")).await;
    let open = |name, size| {
        let profile: PathBuf = tmp.path().join(format!("chromium-{name}"));
        Page::open(&driver, &tools, name, size, &artifacts, profile)
    };

    // ---- The salesperson asks for a trip on the travel form; the dates backwards first.
    let li = open("requester", (1280, 900)).await;
    li.goto(&format!("{base}/oa")).await;
    li.loaded("/sign-in").await;
    li.sign_in("li.sales", PASSWORD).await;
    li.loaded("/oa").await;
    li.click(r#"#oa-forms a[href="/oa/new/travel"]"#).await;
    li.loaded("/oa/new/travel").await;
    li.screenshot("00-new-travel-zh-desktop").await;
    let trip = [
        ("destination", "广交会 Canton Fair"),
        ("dates.from", "2027-04-19"),
        ("dates.to", "2027-04-15"),
        ("reason", "拜访客户"),
        ("budget.amount", "6800"),
    ];
    fill_and_submit(&li, &trip).await;
    let refused = li
        .wait(
            "the backwards dates refused on the page",
            r#"const e = document.getElementById('oa-new-error');
               return e && !e.hidden ? e.textContent : null;"#,
        )
        .await;
    assert!(
        refused.as_str().unwrap_or_default().contains("dates"),
        "{refused}"
    );
    li.screenshot("01-refused-zh-desktop").await;
    fill_and_submit(
        &li,
        &[("dates.from", "2027-04-15"), ("dates.to", "2027-04-19")],
    )
    .await;
    let travel = li
        .wait(
            "the travel request's page",
            r#"const h = document.getElementById('oa-request-title');
               return location.pathname.startsWith('/oa/requests/') && h ? h.dataset.id : null;"#,
        )
        .await;
    let travel = travel.as_str().expect("an id").to_owned();
    let api = call(
        &base,
        reqwest::Method::GET,
        &format!("/api/v1/oa/requests/{travel}"),
        None,
    )
    .await;
    assert_eq!(api["state"], "pending");
    assert_eq!(api["waiting_on"], json!(["chen.mgr"]));
    assert_eq!(
        api["values"]["budget"],
        json!({"amount": "6800", "currency": "CNY"})
    );
    assert_eq!(
        api["values"]["dates"],
        json!({"from": "2027-04-15", "to": "2027-04-19"})
    );

    // ---- And an expense claim.
    li.goto(&format!("{base}/oa/new/expense")).await;
    li.loaded("/oa/new/expense").await;
    fill_and_submit(
        &li,
        &[
            ("type", "expense"),
            ("amount.amount", "388.50"),
            ("date", "2026-12-01"),
            ("reason", "出租车 taxi"),
        ],
    )
    .await;
    let expense = li
        .wait(
            "the expense claim's page",
            r#"const h = document.getElementById('oa-request-title');
               return location.pathname.startsWith('/oa/requests/') && h && h.dataset.id !== ARG ? h.dataset.id : null;"#
                .replace("ARG", &format!("'{travel}'"))
                .as_str(),
        )
        .await;
    let expense = expense.as_str().expect("an id").to_owned();

    // ---- The manager approves both from the inbox at once.
    let chen = open("approver", (1280, 900)).await;
    chen.goto(&format!("{base}/oa")).await;
    chen.loaded("/sign-in").await;
    chen.sign_in("chen.mgr", PASSWORD).await;
    chen.loaded("/oa").await;
    let waiting = chen
        .js(r#"return [...document.querySelectorAll('#oa-inbox tbody tr')].map(r => r.dataset.request);"#)
        .await;
    assert_eq!(waiting, json!([expense, travel]), "newest first");
    shots(&chen, &base, "/oa", "02-inbox").await;
    chen.goto(&format!("{base}/oa")).await;
    chen.loaded("/oa").await;
    chen.click("#oa-pick-all").await;
    chen.click("#oa-approve-picked").await;
    chen.wait(
        "the inbox emptied",
        "return document.getElementById('oa-inbox-empty') !== null || null;",
    )
    .await;
    for id in [&travel, &expense] {
        let api = call(
            &base,
            reqwest::Method::GET,
            &format!("/api/v1/oa/requests/{id}"),
            None,
        )
        .await;
        assert_eq!(api["state"], "approved", "{api}");
        assert!(
            api["trail"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "approved" && e["by"] == "chen.mgr"),
            "{api}"
        );
    }

    // ---- The requester sees them approved, and the trail on the request's page.
    li.goto(&format!("{base}/oa")).await;
    li.loaded("/oa").await;
    let states = li
        .js(r#"return [...document.querySelectorAll('#oa-mine tbody tr')].map(r => r.dataset.state);"#)
        .await;
    assert_eq!(states, json!(["approved", "approved"]));
    shots(&li, &base, &format!("/oa/requests/{travel}"), "03-approved").await;
    let trail = li
        .js(r#"return [...document.querySelectorAll('#oa-trail li')].map(l => l.dataset.action);"#)
        .await;
    assert_eq!(
        trail,
        json!([
            "carried_out",
            "completed",
            "approved",
            "assigned",
            "submitted"
        ])
    );
    shots(&li, &base, "/oa/new/expense", "04-new-expense").await;

    // ---- Both approvals are in the requester's notifications, unread until marked.
    li.goto(&format!("{base}/oa")).await;
    li.loaded("/oa").await;
    let notes = li
        .js(r#"return [...document.querySelectorAll('#oa-notes li.unread')].map(l => l.dataset.kind);"#)
        .await;
    assert_eq!(notes, json!(["oa.approved", "oa.approved"]));
    shots(&li, &base, "/oa", "05-notifications").await;
    li.goto(&format!("{base}/oa")).await;
    li.loaded("/oa").await;
    li.click("#oa-mark-read").await;
    li.wait(
        "the notifications marked read",
        "return document.getElementById('oa-unread')?.dataset.unread === '0' || null;",
    )
    .await;
    assert_eq!(
        li.js("return document.querySelectorAll('#oa-notes li.unread').length;")
            .await,
        json!(0)
    );
    // The approved trip is among the requester's days away.
    let away = li
        .js(r#"return [...document.querySelectorAll('#oa-away tbody tr')].map(r => r.dataset.reason);"#)
        .await;
    assert_eq!(away, json!(["travel"]));

    // ---- The office books the trip from its task list; the traveller is told what.
    let office = open("office", (1280, 900)).await;
    office.goto(&format!("{base}/oa")).await;
    office.loaded("/sign-in").await;
    office.sign_in("zhou.office", PASSWORD).await;
    office.loaded("/oa").await;
    let tasks = office
        .js(r#"return [...document.querySelectorAll('#oa-tasks tbody tr')].map(r => r.textContent);"#)
        .await;
    let tasks = tasks.as_array().expect("the office's tasks");
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = tasks[0].as_str().unwrap_or_default();
    assert!(
        task.contains("广交会 Canton Fair") && task.contains("2027-04-15 – 2027-04-19"),
        "{task}"
    );
    shots(&office, &base, "/oa", "08-office-task").await;
    office.goto(&format!("{base}/oa")).await;
    office.loaded("/oa").await;
    office
        .js(r#"document.querySelector('#oa-tasks input.oa-task-note').value = 'CZ3101 4/15, 广州白云宾馆'; return true;"#)
        .await;
    office.click("#oa-tasks button.oa-task-done").await;
    office
        .wait(
            "the task done",
            "return document.getElementById('oa-tasks-empty') !== null || null;",
        )
        .await;
    li.goto(&format!("{base}/oa")).await;
    li.loaded("/oa").await;
    let told = li
        .js(r#"return [...document.querySelectorAll('#oa-notes li.unread')].map(l => [l.dataset.kind, l.textContent]);"#)
        .await;
    assert_eq!(told[0][0], "oa.office_task_done", "{told}");
    assert!(
        told[0][1].as_str().unwrap_or_default().contains("CZ3101"),
        "{told}"
    );

    // ---- An administrator's page: nothing under way; a workflow edited in place, a step
    // nobody can approve refused with its name, then a good one saved as version 2.
    call(
        &base,
        put.clone(),
        "/api/v1/users/wu.admin",
        Some(
            json!({"display_name": "吴管理员", "roles": ["administrator"], "language": "zh",
                    "time_zone": "Asia/Shanghai", "password": PASSWORD}),
        ),
    )
    .await;
    let admin = open("admin", (1280, 900)).await;
    admin.goto(&format!("{base}/oa/admin")).await;
    admin.loaded("/sign-in").await;
    admin.sign_in("wu.admin", PASSWORD).await;
    admin.loaded("/oa/admin").await;
    assert!(
        admin
            .js("return document.getElementById('oa-running-empty') !== null;")
            .await
            .as_bool()
            .unwrap_or(false),
        "nothing is under way"
    );
    let edit = |steps: serde_json::Value| {
        let text = serde_json::to_string(&json!({"form": "travel", "steps": steps})).unwrap();
        format!(
            r#"const box = document.querySelector('details[data-form="travel"]');
               box.open = true;
               box.querySelector('textarea[data-kind="workflow"]').value = {text:?};
               box.querySelector('p.error').hidden = true;
               box.querySelector('button.oa-save[data-kind="workflow"]').click();
               return true;"#
        )
    };
    admin
        .js(&edit(json!([{"name": "质量", "approvers": [{"by": "role", "role": "quality"}], "mode": {"need": "any"}}])))
        .await;
    let refused = admin
        .wait(
            "the broken workflow refused",
            r#"const e = document.querySelector('details[data-form="travel"] p.error');
               return e && !e.hidden ? e.textContent : null;"#,
        )
        .await;
    assert!(
        refused
            .as_str()
            .unwrap_or_default()
            .contains("nobody active holds the role quality"),
        "{refused}"
    );
    admin.screenshot("06-admin-refused-zh-desktop").await;
    admin
        .js(&edit(json!([
            {"name": "经理审批", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"},
             "remind_after_minutes": 240, "escalate_after_minutes": 960}
        ])))
        .await;
    admin
        .wait(
            "the workflow saved",
            r#"const ok = document.querySelector('details[data-form="travel"] p.ok');
               return ok && !ok.hidden || null;"#,
        )
        .await;
    let saved = call(
        &base,
        reqwest::Method::GET,
        "/api/v1/oa/workflows/travel",
        None,
    )
    .await;
    assert_eq!(saved["version"], 2, "{saved}");
    assert_eq!(saved["steps"][0]["remind_after_minutes"], 240, "{saved}");
    shots(&admin, &base, "/oa/admin", "07-admin").await;
    println!("oa screenshots: {}", artifacts.dir.display());
}
