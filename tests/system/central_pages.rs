//! Central's pages in a real browser: headless Chromium over WebDriver (the line terminal's
//! machinery, `terminal.rs`) against the real `mes central` binary.
//!
//! A supervisor of plant A signs in through the page (a wrong password first: told so in
//! Chinese), sees their account in Chinese, switches to English, changes their password,
//! makes a personal token (shown once, and it works) and revokes it (and it stops working);
//! the users page refuses them naming `users.read`. An administrator signs in, creates a user
//! on the users page, which the API then lists with the same values as the page, resets its
//! password (shown once, and it signs in), disables and enables it; the roles, plants and
//! audit pages show what their APIs answer (a plant's rules changed on the page, the audit
//! trail newest first in the user's zone, filtered, with its CSV link). Signing out ends the session: the back button and a reload land on the
//! sign-in page. Screenshots of every page in Chinese and English (PNG) are kept under
//! `<target>/test-artifacts/central/`, and the path is printed.

use crate::support::*;
use crate::terminal::{Artifacts, BrowserTools, Chromedriver, Page};
use fantoccini::Locator;
use serde_json::{Value, json};
use std::path::PathBuf;

const SUPERVISOR: &str = "zhang.wei";
const ADMINISTRATOR: &str = "wang.fang";
const FIRST_PASSWORD: &str = "first password of 16";
const SECOND_PASSWORD: &str = "second password of 17";

/// The admin API of the central under test.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// The administrator's client of the central at `base`.
    fn of(base: &str) -> Api {
        Api {
            base: base.to_owned(),
            http: http_client(),
        }
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("central answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, path: &str, body: Value) {
        let (status, reply) = self.admin(reqwest::Method::PUT, path, Some(body)).await;
        assert_eq!(status, 200, "PUT {path}: {reply}");
    }

    async fn get(&self, path: &str) -> Value {
        let (status, reply) = self.admin(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {reply}");
        reply
    }

    /// `POST /api/v1/session`'s status with this password.
    async fn sign_in_status(&self, login: &str, password: &str) -> u16 {
        self.http
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"login": login, "password": password}))
            .send()
            .await
            .expect("central answers")
            .status()
            .as_u16()
    }

    /// `GET /api/v1/me`'s status with this bearer token or session cookie.
    async fn me_status(&self, bearer: Option<&str>, session: Option<&str>) -> u16 {
        let mut request = self.http.get(format!("{}/api/v1/me", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(id) = session {
            request = request.header("cookie", format!("mes_session={id}"));
        }
        request
            .send()
            .await
            .expect("central answers")
            .status()
            .as_u16()
    }
}

impl Page {
    pub(crate) async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Types `text` into the input `id` (emptied first).
    pub(crate) async fn type_into(&self, id: &str, text: &str) {
        let input = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"));
        input.clear().await.expect("clear the input");
        input.send_keys(text).await.expect("type");
    }

    pub(crate) async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing matches {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Waits until the page at `path` has loaded and its script has run.
    pub(crate) async fn loaded(&self, path: &str) {
        self.wait(
            &format!("{path} to load"),
            &format!(
                "return location.pathname === '{path}' && document.readyState === 'complete' \
                 && document.documentElement.dataset.ready !== undefined;"
            ),
        )
        .await;
    }

    /// The page's `<html lang>`.
    pub(crate) async fn lang(&self) -> String {
        self.js("return document.documentElement.lang;")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) async fn sign_in(&self, login: &str, password: &str) {
        self.type_into("login", login).await;
        self.type_into("password", password).await;
        self.click("#sign-in-button").await;
    }

    /// Confirms the next `confirm()` dialogs without showing them.
    pub(crate) async fn accept_confirms(&self) {
        self.js("window.confirm = () => true; return true;").await;
    }
}

#[tokio::test]
async fn people_sign_in_manage_their_account_and_users_in_a_browser() {
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let artifacts = Artifacts::named("central");
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let api = Api::of(&base);
    api.put(
        "/api/v1/plants/plant-a",
        json!({"name": "A 厂", "over_tolerance_pct": "2.5"}),
    )
    .await;
    let user = |name: &str, roles: &[&str], plants: &[&str]| {
        json!({"display_name": name, "roles": roles, "plants": plants, "language": "zh",
               "time_zone": "Asia/Shanghai", "password": FIRST_PASSWORD})
    };
    api.put(
        &format!("/api/v1/users/{SUPERVISOR}"),
        user("张伟", &["supervisor"], &["plant-a"]),
    )
    .await;
    api.put(
        &format!("/api/v1/users/{ADMINISTRATOR}"),
        user("王芳", &["administrator"], &[]),
    )
    .await;

    let driver = Chromedriver::start(&tools, &tmp.path().join("chromedriver.log")).await;
    let open = |name, size| {
        let profile: PathBuf = tmp.path().join(format!("chromium-{name}"));
        Page::open(&driver, &tools, name, size, &artifacts, profile)
    };

    // ---- The supervisor, on a 1024x600 panel.
    let sup = open("supervisor", (1024, 600)).await;
    sup.goto(&format!("{base}/account")).await;
    sup.loaded("/sign-in").await;
    sup.wait(
        "the sign-in page to say where it goes next",
        r#"return new URLSearchParams(location.search).get('next') === '/account'
               && document.getElementById('sign-in-form').dataset.next === '/account';"#,
    )
    .await;
    assert_eq!(sup.lang().await, "zh-CN");
    sup.screenshot("01-sign-in-zh").await;
    sup.sign_in(SUPERVISOR, "not the password").await;
    sup.wait(
        "the wrong password told in Chinese",
        r#"const e = document.getElementById('sign-in-error');
           return !e.hidden && e.textContent === '登录名或密码错误';"#,
    )
    .await;
    sup.screenshot("02-sign-in-failed-zh").await;
    sup.sign_in(SUPERVISOR, FIRST_PASSWORD).await;
    sup.loaded("/account").await;
    sup.wait(
        "the account page in Chinese, with who they are",
        r#"return document.documentElement.lang === 'zh-CN'
               && document.querySelector('h1').textContent === '我的账户'
               && document.getElementById('me-login').textContent === 'zhang.wei'
               && document.getElementById('me-name').textContent === '张伟'
               && document.getElementById('me-plants').textContent === 'plant-a'
               && document.querySelector('#me-roles [data-role="supervisor"]').textContent === '班组长'
               && document.getElementById('me-zone').textContent === 'Asia/Shanghai';"#,
    )
    .await;
    sup.assert_no_horizontal_scrolling().await;
    sup.screenshot("03-account-zh").await;
    // What the page says they may do is what the API says.
    let me = api.get(&format!("/api/v1/users/{SUPERVISOR}")).await;
    assert_eq!(me["roles"], json!(["supervisor"]));
    let checkboxes = sup
        .js("return Array.from(document.querySelectorAll('#token-form input[name=permission]')).map(b => b.value);")
        .await;
    let roles = api.get("/api/v1/roles").await;
    let supervisor_permissions = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "supervisor")
        .map(|r| r["permissions"].clone())
        .unwrap();
    assert_eq!(checkboxes, supervisor_permissions);

    sup.click("#lang-en").await;
    sup.wait(
        "the account page in English",
        r#"return document.documentElement.lang === 'en'
               && document.querySelector('h1').textContent === 'My account'
               && document.querySelector('#me-roles [data-role="supervisor"]').textContent === 'Supervisor';"#,
    )
    .await;
    sup.screenshot("04-account-en").await;

    // Their password.
    sup.type_into("current-password", FIRST_PASSWORD).await;
    sup.type_into("new-password", SECOND_PASSWORD).await;
    sup.type_into("repeat-password", SECOND_PASSWORD).await;
    sup.click("#change-password").await;
    sup.wait(
        "the password changed",
        r#"const m = document.getElementById('password-message');
           return !m.hidden && m.textContent.startsWith('Password changed');"#,
    )
    .await;
    assert_eq!(api.sign_in_status(SUPERVISOR, SECOND_PASSWORD).await, 200);
    assert_eq!(api.sign_in_status(SUPERVISOR, FIRST_PASSWORD).await, 401);

    // A personal token: shown once, works, revoked, stops working.
    sup.type_into("token-name", "shift report <script>").await;
    sup.type_into("token-days", "30").await;
    sup.click("#create-token").await;
    let token = sup
        .wait(
            "the new token shown once",
            r#"const box = document.getElementById('new-token');
               const v = document.getElementById('new-token-value').textContent;
               return !box.hidden && v.startsWith('mes_pat_') ? v : null;"#,
        )
        .await
        .as_str()
        .expect("the token")
        .to_owned();
    sup.screenshot("05-account-token-once-en").await;
    assert_eq!(
        api.me_status(Some(&token), None).await,
        200,
        "the token works"
    );
    sup.click("#new-token-done").await;
    sup.wait(
        "the token listed as live, its secret gone",
        &format!(
            r#"const rows = document.querySelectorAll('#token-list tbody tr');
               return rows.length === 1 && rows[0].dataset.state === 'state_live'
                   && rows[0].cells[0].textContent === 'shift report <script>'
                   && !document.documentElement.outerHTML.includes('{token}');"#
        ),
    )
    .await;
    sup.screenshot("06-account-token-listed-en").await;
    sup.accept_confirms().await;
    sup.click("#token-list button.revoke").await;
    sup.wait(
        "the token listed as revoked",
        r#"const rows = document.querySelectorAll('#token-list tbody tr');
           return rows.length === 1 && rows[0].dataset.state === 'state_revoked'
               && rows[0].querySelector('button.revoke') === null;"#,
    )
    .await;
    assert_eq!(api.me_status(Some(&token), None).await, 401, "revoked");

    // Not theirs: the users page names the permission.
    sup.goto(&format!("{base}/admin/users")).await;
    sup.wait(
        "the users page refused, naming users.read",
        r#"const p = document.getElementById('refused');
           return p !== null && p.dataset.permission === 'users.read'
               && p.textContent.includes('users.read') && document.title.startsWith('Not allowed');"#,
    )
    .await;
    sup.screenshot("07-users-refused-en").await;
    sup.goto(&format!("{base}/admin/users?lang=zh")).await;
    sup.wait(
        "the refusal in Chinese",
        r#"const p = document.getElementById('refused');
           return p !== null && p.textContent.includes('users.read') && document.title.startsWith('无权访问');"#,
    )
    .await;
    sup.screenshot("08-users-refused-zh").await;
    // Their navigation, here as on every page, offers neither the users page nor the audit
    // trail; a supervisor makes the shop-floor TVs' kiosk links, and like everyone sends and
    // approves requests.
    let nav = sup
        .js("return Array.from(document.querySelectorAll('header nav a')).map(a => a.getAttribute('href'));")
        .await;
    assert_eq!(
        nav,
        json!([
            "/floor/plants",
            "/floor",
            "/floor/oee",
            "/floor/spc",
            "/floor/edges",
            "/work-orders",
            "/trace",
            "/oa",
            "/account",
            "/admin/roles",
            "/admin/plants",
            "/admin/kiosks"
        ])
    );
    sup.close().await;

    // ---- The administrator, on a desktop.
    let admin = open("administrator", (1280, 800)).await;
    admin.goto(&format!("{base}/")).await;
    admin.loaded("/sign-in").await;
    admin.click("#lang-en").await;
    admin
        .wait(
            "the sign-in page in English",
            "return document.documentElement.lang === 'en' && document.getElementById('sign-in-button').textContent === 'Sign in';",
        )
        .await;
    admin.screenshot("10-sign-in-en").await;
    admin.sign_in(ADMINISTRATOR, FIRST_PASSWORD).await;
    admin.loaded("/account").await;
    admin.goto(&format!("{base}/admin/users")).await;
    admin.loaded("/admin/users").await;
    admin.type_into("user-login", "liu.yang").await;
    admin.type_into("user-name", "刘洋").await;
    admin
        .click(r#"#user-form input[name="role"][value="supervisor"]"#)
        .await;
    admin
        .click(r#"#user-form input[name="role"][value="quality"]"#)
        .await;
    admin
        .click(r#"#user-form input[name="plant"][value="plant-a"]"#)
        .await;
    admin.type_into("user-manager", SUPERVISOR).await;
    admin.click("#save-user").await;
    admin
        .wait(
            "liu.yang in the list",
            r#"return document.querySelector('#user-list tr[data-login="liu.yang"]') !== null;"#,
        )
        .await;
    // The page lists what the API answers, value for value.
    let listed = api.get("/api/v1/users").await;
    let rows = admin
        .js(
            r#"return Array.from(document.querySelectorAll('#user-list tbody tr')).map(r => ({
                   login: r.dataset.login,
                   name: r.querySelector('.name').textContent,
                   roles: Array.from(r.querySelectorAll('.roles [data-role]')).map(s => s.dataset.role),
                   plants: r.querySelector('.plants').textContent,
                   manager: r.querySelector('.manager').textContent,
                   active: r.dataset.active === 'true'}));"#,
        )
        .await;
    let from_api: Vec<Value> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            json!({
                "login": u["login"],
                "name": u["display_name"],
                "roles": u["roles"],
                "plants": u["plants"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect::<Vec<_>>().join(", "),
                "manager": u["manager"].as_str().unwrap_or(""),
                "active": u["active"],
            })
        })
        .collect();
    assert_eq!(rows, json!(from_api));
    let liu = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == "liu.yang")
        .expect("the API lists the new user");
    assert_eq!(liu["roles"], json!(["supervisor", "quality"]));
    assert_eq!(liu["plants"], json!(["plant-a"]));
    assert_eq!(liu["manager"], SUPERVISOR);
    assert_eq!(liu["language"], "zh");
    admin.screenshot("11-users-created-en").await;

    // A password reset, shown once, signs in.
    admin.accept_confirms().await;
    admin
        .click(r#"#user-list tr[data-login="liu.yang"] button.reset"#)
        .await;
    let password = admin
        .wait(
            "the new password shown once",
            r#"const box = document.getElementById('new-password');
               const v = document.getElementById('new-password-value').textContent;
               return !box.hidden && v.length >= 12 ? v : null;"#,
        )
        .await
        .as_str()
        .expect("the password")
        .to_owned();
    admin.screenshot("12-users-password-reset-en").await;
    assert_eq!(api.sign_in_status("liu.yang", &password).await, 200);

    // Disabled: shown so, the API says so, and they cannot sign in; enabled again.
    admin.click("#new-password-done").await;
    admin.loaded("/admin/users").await;
    admin.accept_confirms().await;
    admin
        .click(r#"#user-list tr[data-login="liu.yang"] button.disable"#)
        .await;
    admin
        .wait(
            "liu.yang shown disabled",
            r#"const r = document.querySelector('#user-list tr[data-login="liu.yang"]');
               return r !== null && r.dataset.active === 'false' && r.classList.contains('inactive')
                   && r.querySelector('button.enable') !== null;"#,
        )
        .await;
    let liu = api.get("/api/v1/users/liu.yang").await;
    assert_eq!(liu["active"], false);
    assert_eq!(api.sign_in_status("liu.yang", &password).await, 401);
    admin.screenshot("13-users-disabled-en").await;
    admin
        .click(r#"#user-list tr[data-login="liu.yang"] button.enable"#)
        .await;
    admin
        .wait(
            "liu.yang shown active again",
            r#"const r = document.querySelector('#user-list tr[data-login="liu.yang"]');
               return r !== null && r.dataset.active === 'true';"#,
        )
        .await;
    assert_eq!(api.get("/api/v1/users/liu.yang").await["active"], true);

    // Roles, plants, audit: what their APIs answer.
    admin.goto(&format!("{base}/admin/roles")).await;
    admin.loaded("/admin/roles").await;
    let ticks = admin
        .js("return document.querySelectorAll('#matrix td.yes').length;")
        .await;
    let granted: usize = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["permissions"].as_array().unwrap().len())
        .sum();
    assert_eq!(ticks, json!(granted));
    admin.goto(&format!("{base}/admin/plants")).await;
    admin.loaded("/admin/plants").await;
    let plants = admin
        .js(
            r#"return Array.from(document.querySelectorAll('#plant-list tbody tr')).map(r => [
                   r.dataset.plant, r.querySelector('.name').textContent,
                   r.querySelector('.tolerance').textContent, r.querySelector('.negative').dataset.value]);"#,
        )
        .await;
    let from_api: Vec<Value> = api.get("/api/v1/plants").await["plants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            json!([
                p["plant"],
                p["name"],
                p["over_tolerance_pct"],
                format!("negative_stock_{}", p["negative_stock"].as_str().unwrap())
            ])
        })
        .collect();
    assert_eq!(plants, json!(from_api));
    // A plant's rules changed on the page are the API's.
    admin
        .click(r#"#plant-list tr[data-plant="plant-a"] button.edit-plant"#)
        .await;
    admin.type_into("plant-tolerance", "4.5").await;
    admin.click("#plant-stop").await;
    admin
        .js("document.getElementById('plant-negative').value = 'refuse'; return true;")
        .await;
    admin.click("#save-plant").await;
    admin
        .wait(
            "plant-a's new rules listed",
            r#"const r = document.querySelector('#plant-list tr[data-plant="plant-a"]');
               return r !== null && r.querySelector('.tolerance').textContent === '4.5'
                   && r.querySelector('.negative').dataset.value === 'negative_stock_refuse';"#,
        )
        .await;
    let plant = api.get("/api/v1/plants/plant-a").await;
    assert_eq!(
        (
            &plant["over_tolerance_pct"],
            &plant["stop_counting_when_complete"],
            &plant["negative_stock"],
            &plant["name"],
        ),
        (
            &json!("4.5"),
            &json!(true),
            &json!("refuse"),
            &json!("A 厂")
        )
    );

    admin.goto(&format!("{base}/audit")).await;
    admin.loaded("/audit").await;
    let (status, audit) = api
        .admin(reqwest::Method::GET, "/api/v1/audit?limit=1", None)
        .await;
    assert_eq!(status, 200, "{audit}");
    // The page lists what the API answers, newest first, times in Asia/Shanghai (UTC+8,
    // no summer time); then the same with filters, and the CSV link carries them.
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).expect("an offset");
    let rows_of = |audit: &Value| -> Vec<Value> {
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| {
                let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap())
                    .unwrap()
                    .with_timezone(&shanghai)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string();
                let actor = e["actor"].as_str().unwrap();
                let who = match e["actor_kind"].as_str().unwrap() {
                    "user" => actor.to_owned(),
                    kind => format!("{actor} ({kind})"),
                };
                let entity = match e["entity_id"].as_str() {
                    Some(id) => format!("{} {id}", e["entity"].as_str().unwrap()),
                    None => e["entity"].as_str().unwrap().to_owned(),
                };
                json!([e["seq"].to_string(), at, who, e["action"], entity])
            })
            .collect()
    };
    let shown = r#"const s = document.getElementById('audit-status');
        const rows = document.querySelectorAll('#audit-list tbody tr');
        return s.hidden && !document.getElementById('audit-list').hidden && rows.length > 0
            ? Array.from(rows).map(r => [0, 1, 2, 4, 5].map(i => r.cells[i].textContent))
            : null;"#;
    let (_, audit) = api
        .admin(
            reqwest::Method::GET,
            "/api/v1/audit?limit=100&order=desc",
            None,
        )
        .await;
    let on_page = admin.wait("the audit page to list entries", shown).await;
    assert_eq!(on_page, json!(rows_of(&audit)));
    admin
        .goto(&format!("{base}/audit?actor={SUPERVISOR}&action=denied"))
        .await;
    admin.loaded("/audit").await;
    let (_, audit) = api
        .admin(
            reqwest::Method::GET,
            &format!("/api/v1/audit?actor={SUPERVISOR}&action=denied&limit=100&order=desc"),
            None,
        )
        .await;
    let denied = rows_of(&audit);
    assert!(!denied.is_empty(), "the supervisor's refusals are audited");
    let on_page = admin.wait("the filtered audit page", shown).await;
    assert_eq!(on_page, json!(denied));
    let csv = admin
        .js("return document.getElementById('audit-csv').getAttribute('href');")
        .await;
    assert_eq!(
        csv,
        json!(format!(
            "/api/v1/audit.csv?actor={SUPERVISOR}&action=denied"
        ))
    );
    admin.screenshot("14-audit-filtered-en").await;
    // How it shows entries whose values look like HTML, and times across midnight: a page
    // answered by a stand-in for `fetch`, asked for through the "older entries" button.
    admin
        .js(
            r#"window.auditAsked = [];
               window.auditBefore = document.querySelectorAll('#audit-list tbody tr').length;
               window.fetch = async (url) => {
                   window.auditAsked.push(String(url));
                   const entry = (seq, at, actor_kind, actor, action, entity, entity_id, after) => ({
                       seq, at, actor_kind, actor, address: '127.0.0.1', operation: 'PUT /api/v1/users/{login}',
                       action, entity, entity_id, before: null, after, prev_hash: null, hash: 'h' + seq});
                   return new Response(JSON.stringify({entries: [
                       entry(7, '2026-12-06T08:30:00Z', 'user', 'wang.fang', 'insert', 'users', 'liu.yang',
                             {display_name: '<b>刘洋</b>'}),
                       entry(6, '2026-12-05T23:59:59Z', 'admin_token', 'admin', 'sign_in', 'user', null, null)],
                       next: null}), {status: 200, headers: {'content-type': 'application/json'}});
               };
               document.getElementById('audit-more').click();
               return true;"#,
        )
        .await;
    let rows = admin
        .wait(
            "the stand-in's entries listed",
            r#"const rows = document.querySelectorAll('#audit-list tbody tr');
               return rows.length === window.auditBefore + 2
                   ? Array.from(rows).slice(-2).map(r => Array.from(r.cells).slice(0, 6).map(c => c.textContent))
                   : null;"#,
        )
        .await;
    assert_eq!(
        rows,
        json!([
            [
                "7",
                "2026-12-06 16:30:00",
                "wang.fang",
                "127.0.0.1",
                "insert",
                "users liu.yang"
            ],
            [
                "6",
                "2026-12-06 07:59:59",
                "admin (admin_token)",
                "127.0.0.1",
                "sign_in",
                "user"
            ]
        ]),
        "times in the user's zone (Asia/Shanghai)"
    );
    let asked = admin
        .js("return [window.auditAsked, document.querySelector('#audit-list b') === null];")
        .await;
    let url = asked[0][0].as_str().unwrap_or_default();
    assert!(
        url.starts_with("/api/v1/audit?actor=zhang.wei&action=denied&")
            && url.contains("limit=100")
            && url.contains("order=desc"),
        "{url}"
    );
    assert_eq!(
        asked[1],
        json!(true),
        "values are shown as text, not as HTML"
    );

    // Every page in both languages, for people to look at.
    let pages = [
        ("/account", "account"),
        ("/admin/users", "users"),
        ("/admin/roles", "roles"),
        ("/admin/plants", "plants"),
        ("/audit", "audit"),
    ];
    for (i, (path, name)) in pages.iter().enumerate() {
        for lang in ["zh", "en"] {
            admin.goto(&format!("{base}{path}?lang={lang}")).await;
            admin.loaded(path).await;
            admin
                .wait(
                    "the page's script to finish",
                    "const s = document.getElementById('audit-status'); \
                     return s === null || !s.textContent.startsWith('加载') && !s.textContent.startsWith('Loading');",
                )
                .await;
            admin.assert_no_horizontal_scrolling().await;
            admin.screenshot(&format!("2{i}-{name}-{lang}")).await;
        }
    }

    // Signing out ends the session: back and reload land on the sign-in page.
    let session = admin
        .client
        .get_named_cookie("mes_session")
        .await
        .expect("the session cookie")
        .value()
        .to_owned();
    assert_eq!(api.me_status(None, Some(&session)).await, 200);
    admin.click("#sign-out").await;
    admin.loaded("/sign-in").await;
    assert_eq!(
        api.me_status(None, Some(&session)).await,
        401,
        "the session ended on the server"
    );
    admin.client.back().await.expect("back");
    admin.loaded("/sign-in").await;
    admin.goto(&format!("{base}/admin/users")).await;
    admin.loaded("/sign-in").await;
    admin.client.refresh().await.expect("reload");
    admin.loaded("/sign-in").await;
    admin.screenshot("30-signed-out-en").await;
    admin.close().await;
    println!("central page screenshots: {}", artifacts.dir.display());
}

/// An edge's floor events, posted as the edge's sync would.
/// Edge `line-1` (its token returned) running line `L1`, as the floor's tests need them.
async fn edge_with_line(central: &Central, api: &Api) -> String {
    let token = central.create_edge("line-1").await;
    api.put(
        "/api/v1/lines/L1",
        json!({"description": "frames", "edge_id": "line-1"}),
    )
    .await;
    token
}

async fn post_floor_events(api: &Api, token: &str, events: &[protocol::Event]) {
    let response = api
        .http
        .post(format!("{}/api/v1/sync/events", api.base))
        .bearer_auth(token)
        .json(&batch("line-1", events))
        .send()
        .await
        .expect("central answers");
    assert_eq!(response.status(), 200, "posting events");
}

fn floor_event(
    seq: u64,
    at: chrono::DateTime<chrono::Utc>,
    station: &str,
    kind: protocol::EventKind,
) -> protocol::Event {
    protocol::Event {
        edge_id: protocol::EdgeId::new("line-1"),
        seq: protocol::Seq(seq),
        id: protocol::EventId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(seq),
        )),
        at,
        source: protocol::Source {
            device: Some("plc-1".into()),
            station: Some(station.into()),
        },
        kind,
    }
}

/// The floor's pages in a browser (issue 15): a supervisor's plant board shows what the API's
/// board shows, in Chinese and English, and a stop the edge reports appears without a reload;
/// the OEE page shows the API's figures; a kiosk user's andon board is the same board for a TV,
/// and the kiosk is refused every other page. Screenshots of each under
/// `<target>/test-artifacts/central-floor/`.
#[tokio::test]
async fn floor_pages_show_the_api_figures_and_go_live_in_a_browser() {
    use chrono::Timelike;
    use protocol::{EventKind, MachineState};
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let artifacts = Artifacts::named("central-floor");
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let api = Api::of(&base);
    let token = edge_with_line(&central, &api).await;
    for (wc, station) in [("CUT", "st-10"), ("WELD", "st-20"), ("PAINT", "st-30")] {
        api.put(
            &format!("/api/v1/work-centers/{wc}"),
            json!({"line": "L1", "station": station}),
        )
        .await;
    }
    // A work order whose operations have an ideal cycle time, so effectiveness is real.
    api.put(
        "/api/v1/items/FRAME",
        json!({"description": "Frame", "kind": "make", "uom": "ea"}),
    )
    .await;
    api.put(
        "/api/v1/routings/FRAME",
        json!({"operations": [
            {"operation": 10, "description": "cut", "work_center": "CUT", "ideal_cycle_s": "20"},
            {"operation": 20, "description": "weld", "work_center": "WELD", "ideal_cycle_s": "20"}
        ]}),
    )
    .await;
    let (status, reply) = api
        .admin(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({"work_order": "WO-1", "item": "FRAME", "qty": "100000", "due": "2026-12-31", "priority": 5, "line": "L1"})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let (status, reply) = api
        .admin(
            reqwest::Method::POST,
            "/api/v1/work-orders/WO-1/release",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    api.put(
        "/api/v1/plants/default/shifts",
        json!({"time_zone": "Asia/Shanghai", "shifts": [
            {"name": "day", "start": "08:00", "end": "20:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "breaks": [{"name": "lunch", "start": "12:00", "end": "12:30"}]},
            {"name": "night", "start": "20:00", "end": "08:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
        ], "targets": {"oee": 0.85, "quality": 0.99}}),
    )
    .await;
    api.put(
        "/api/v1/plants/default/stop-reasons",
        json!({"reasons": [
            {"code": "JAM", "name": "Jam", "name_zh": "卡料", "category": "mechanical", "planned": false},
            {"code": "NOMAT", "name": "No material", "name_zh": "缺料", "category": "material", "planned": false}
        ]}),
    )
    .await;
    let user = |name: &str, roles: &[&str]| {
        json!({"display_name": name, "roles": roles, "plants": ["default"], "language": "zh",
               "time_zone": "Asia/Shanghai", "password": FIRST_PASSWORD})
    };
    api.put(
        &format!("/api/v1/users/{SUPERVISOR}"),
        user("张伟", &["supervisor"]),
    )
    .await;
    api.put("/api/v1/users/andon.tv", user("车间电视", &["kiosk"]))
        .await;
    let now = chrono::Utc::now();
    let minutes = |m: i64| now - chrono::Duration::minutes(m);
    // Six days of history before today, so the trends have a week to show: each day (from
    // 08:00 in Shanghai, 00:00 UTC) st-10 and st-20 run both shifts, jam for a while (longer
    // on some days), run out of material once, and count good parts and scrap of WO-1.
    let mut history = Vec::new();
    let today = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    for d in (1..=6i64).rev() {
        let day = today - chrono::Duration::days(d);
        let hm = |h: i64, m: i64| day + chrono::Duration::hours(h) + chrono::Duration::minutes(m);
        for (station, operation, jam) in [("st-10", 10, 10 * d), ("st-20", 20, 45 - 5 * d)] {
            let made = |good: u64, scrap: u64| EventKind::ProductionReported {
                work_order: Some("WO-1".into()),
                operation: Some(operation),
                good,
                scrap,
            };
            let seq = |history: &Vec<protocol::Event>| history.len() as u64 + 1;
            for (at, kind) in [
                (
                    hm(0, 0),
                    EventKind::MachineStateChanged {
                        state: MachineState::Running,
                        reason: None,
                    },
                ),
                (
                    hm(2, 0),
                    EventKind::MachineStateChanged {
                        state: MachineState::Down,
                        reason: Some("JAM".into()),
                    },
                ),
                (
                    hm(2, jam),
                    EventKind::MachineStateChanged {
                        state: MachineState::Running,
                        reason: None,
                    },
                ),
                (hm(3, 0), made(900 + 40 * d as u64, 2 * d as u64)),
                (
                    hm(6, 0),
                    EventKind::MachineStateChanged {
                        state: MachineState::Down,
                        reason: Some("NOMAT".into()),
                    },
                ),
                (
                    hm(6, 25),
                    EventKind::MachineStateChanged {
                        state: MachineState::Running,
                        reason: None,
                    },
                ),
                (hm(9, 0), made(700, 4)),
                (hm(15, 0), made(950 - 20 * d as u64, 3)),
                (hm(23, 0), made(800, 1)),
            ] {
                let e = floor_event(seq(&history), at, station, kind);
                history.push(e);
            }
        }
    }
    // Each station's events in time order within the edge's seq order: the two stations
    // interleave by time.
    history.sort_by_key(|e| e.at);
    for (i, e) in history.iter_mut().enumerate() {
        e.seq = protocol::Seq(i as u64 + 1);
        e.id = protocol::EventId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128 + 1,
        ));
    }
    post_floor_events(&api, &token, &history).await;
    let before = history.len() as u64;
    post_floor_events(
        &api,
        &token,
        &[
            floor_event(
                before + 1,
                minutes(50),
                "st-10",
                EventKind::MachineStateChanged {
                    state: MachineState::Running,
                    reason: None,
                },
            ),
            floor_event(
                before + 2,
                minutes(45),
                "st-20",
                EventKind::MachineStateChanged {
                    state: MachineState::Running,
                    reason: None,
                },
            ),
            floor_event(
                before + 3,
                minutes(40),
                "st-30",
                EventKind::MachineStateChanged {
                    state: MachineState::Setup,
                    reason: None,
                },
            ),
            floor_event(
                before + 4,
                minutes(30),
                "st-10",
                EventKind::ProductionReported {
                    work_order: Some("WO-1".into()),
                    operation: Some(10),
                    good: 120,
                    scrap: 3,
                },
            ),
            floor_event(
                before + 5,
                minutes(20),
                "st-20",
                EventKind::MachineStateChanged {
                    state: MachineState::Down,
                    reason: Some("NOMAT".into()),
                },
            ),
            floor_event(
                before + 6,
                minutes(10),
                "st-10",
                EventKind::OperatorSignedIn {
                    operator: "OP-7".into(),
                },
            ),
        ],
    )
    .await;
    let board = api.get("/api/v1/floor/board?plant=default").await;

    let driver = Chromedriver::start(&tools, &tmp.path().join("chromedriver.log")).await;
    let open = |name, size| {
        let profile: PathBuf = tmp.path().join(format!("chromium-{name}"));
        Page::open(&driver, &tools, name, size, &artifacts, profile)
    };

    // ---- The supervisor's plant board.
    let sup = open("supervisor", (1280, 800)).await;
    sup.goto(&format!("{base}/floor")).await;
    sup.loaded("/sign-in").await;
    sup.sign_in(SUPERVISOR, FIRST_PASSWORD).await;
    sup.loaded("/floor").await;
    // The Show button is as tall as the links beside it (issue 15's screenshots).
    let heights = sup
        .js("return Array.from(document.querySelectorAll('.plant-pick > button, .plant-pick > .button')).map(b => Math.round(b.getBoundingClientRect().height));")
        .await;
    let heights: Vec<i64> = heights
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_i64().unwrap())
        .collect();
    assert_eq!(heights.len(), 4, "{heights:?}");
    assert!(
        heights.iter().all(|h| (h - heights[0]).abs() <= 1),
        "the board's buttons are of one height: {heights:?}"
    );
    let shown = sup
        .wait(
            "the board to be live",
            "const s = document.getElementById('live-status'); \
             if (!s || s.dataset.state !== 'live') return null; \
             return Array.from(document.querySelectorAll('#board .station')).map(c => [c.dataset.edge, c.dataset.station, c.dataset.state]);",
        )
        .await;
    let expected: Vec<Value> = board["stations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            json!([
                s["edge_id"],
                s["station"],
                s["state"].as_str().unwrap_or("unknown")
            ])
        })
        .collect();
    assert_eq!(shown, json!(expected), "the page shows the API's board");
    assert_eq!(
        shown,
        json!([
            ["line-1", "st-10", "running"],
            ["line-1", "st-20", "down"],
            ["line-1", "st-30", "setup"]
        ])
    );
    let st20 = sup
        .js("return document.querySelector('[data-station=\"st-20\"] .reason').textContent;")
        .await;
    assert_eq!(st20, json!("缺料"), "the reason's Chinese name");
    let st10 = sup
        .js("return document.querySelector('[data-station=\"st-10\"] .operator').textContent;")
        .await;
    assert_eq!(st10, json!("操作员 OP-7"));
    sup.assert_no_horizontal_scrolling().await;
    sup.screenshot("01-board-zh").await;

    // A stop reaches the open page without a reload.
    sup.js("window.notReloaded = true; return true;").await;
    post_floor_events(
        &api,
        &token,
        &[floor_event(
            before + 7,
            chrono::Utc::now(),
            "st-10",
            EventKind::MachineStateChanged {
                state: MachineState::Down,
                reason: Some("JAM".into()),
            },
        )],
    )
    .await;
    sup.wait(
        "the stop to show on the open page",
        "const c = document.querySelector('[data-station=\"st-10\"]'); \
         return window.notReloaded === true && c && c.dataset.state === 'down' \
           && c.querySelector('.reason').textContent === '卡料' ? true : null;",
    )
    .await;
    sup.screenshot("02-board-live-stop-zh").await;
    sup.goto(&format!("{base}/floor?lang=en")).await;
    sup.loaded("/floor").await;
    sup.wait(
        "the board in English",
        "const c = document.querySelector('[data-station=\"st-10\"] .state'); \
         return c && c.textContent.startsWith('Down') ? true : null;",
    )
    .await;
    sup.screenshot("03-board-en").await;

    // ---- OEE: the page's figures are the API's.
    sup.goto(&format!("{base}/floor/oee?lang=en&by=shift"))
        .await;
    sup.loaded("/floor/oee").await;
    let href = sup
        .js("return document.getElementById('oee-json').getAttribute('href');")
        .await;
    let report = api
        .get(href.as_str().expect("the page links its JSON"))
        .await;
    let pct = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "–".to_owned(), |x| format!("{:.1}%", x * 100.0))
    };
    let page_total = sup
        .js("return ['total-oee', 'total-availability', 'total-effectiveness', 'total-quality'].map(id => document.getElementById(id).textContent);")
        .await;
    assert_eq!(
        page_total,
        json!([
            pct(&report["total"]["oee"]),
            pct(&report["total"]["availability"]),
            pct(&report["total"]["effectiveness"]),
            pct(&report["total"]["quality"])
        ])
    );
    let pareto = sup
        .js("return Array.from(document.querySelectorAll('#pareto-down tbody td.key')).map(td => td.textContent);")
        .await;
    let api_pareto: Vec<Value> = report["losses"]["down_by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].clone())
        .collect();
    assert_eq!(pareto, json!(api_pareto));
    assert!(!api_pareto.is_empty(), "{report}");
    // The plant's targets beside the figures, and the same figures drawn: the trend by shift
    // and the Pareto of down time, each a uPlot canvas over the page's figures.
    assert_eq!(report["targets"], json!({"oee": 0.85, "quality": 0.99}));
    let targets = sup
        .js("return ['target-oee', 'target-quality', 'target-availability'].map(id => { const e = document.getElementById(id); return e ? e.textContent : null; });")
        .await;
    assert_eq!(targets, json!(["target 85.0%", "target 99.0%", null]));
    sup.wait(
        "the trend and Pareto charts to be drawn",
        "return ['oee-buckets-chart', 'pareto-down-chart'].every(id => \
         !!document.querySelector('#' + id + '[data-drawn=\"true\"] canvas'));",
    )
    .await;
    let drawn = sup
        .js("return ['oee-buckets-data', 'pareto-down-data'].map(id => JSON.parse(document.getElementById(id).textContent));")
        .await;
    let buckets: Vec<Value> = report["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].clone())
        .collect();
    assert_eq!(drawn[0]["labels"], json!(buckets));
    let numbers = |v: &Value| -> Vec<Option<f64>> {
        v.as_array()
            .map(|a| a.iter().map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let oees: Vec<Option<f64>> = report["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["oee"].as_f64())
        .collect();
    assert_eq!(numbers(&drawn[0]["series"][0]["values"]), oees);
    assert_eq!(drawn[0]["targets"][0]["value"], json!(0.85));
    assert_eq!(drawn[1]["labels"], json!(api_pareto));
    // A station's figures link to what they are made of: its spans, each naming its event.
    let source = sup
        .js("return document.querySelector('#oee-stations a.source').getAttribute('href');")
        .await;
    let history = api
        .get(source.as_str().expect("a station links its history"))
        .await;
    assert!(
        history["spans"]
            .as_array()
            .is_some_and(|s| s.iter().all(|span| span["seq"].as_u64().is_some())),
        "{history}"
    );
    // The OEE page is live: a count the edge reports now reaches the open page without a
    // reload, and the page then shows what the API answers.
    sup.wait(
        "the OEE page to be live",
        "const s = document.getElementById('live-status'); return s && s.dataset.state === 'live' ? true : null;",
    )
    .await;
    sup.js("window.notReloaded = true; return true;").await;
    let good_before = report["total"]["gq"].as_u64().expect("the total's good");
    let shown_before = sup
        .js("return document.getElementById('total-good').textContent;")
        .await;
    assert_eq!(shown_before, json!(good_before.to_string()));
    // A minute ago, or before the lunch break (12:00-12:30 in Shanghai, 04:00-04:30 UTC) when
    // that minute falls in it: within planned busy time either way.
    let mut counted_at = chrono::Utc::now() - chrono::Duration::minutes(1);
    let utc_minute = counted_at.time().hour() * 60 + counted_at.time().minute();
    if (240..271).contains(&utc_minute) {
        counted_at = counted_at
            .date_naive()
            .and_hms_opt(3, 50, 0)
            .unwrap()
            .and_utc();
    }
    post_floor_events(
        &api,
        &token,
        &[floor_event(
            before + 8,
            counted_at,
            "st-10",
            EventKind::ProductionReported {
                work_order: Some("WO-1".into()),
                operation: Some(10),
                good: 77,
                scrap: 0,
            },
        )],
    )
    .await;
    let expected_good = (good_before + 77).to_string();
    sup.wait(
        "the new count to show on the open OEE page",
        &format!(
            "return window.notReloaded === true \
               && document.getElementById('total-good').textContent === '{expected_good}' ? true : null;"
        ),
    )
    .await;
    let live_report = api.get("/api/v1/floor/oee?plant=default&by=shift").await;
    assert_eq!(
        live_report["total"]["gq"].to_string(),
        expected_good,
        "the live page shows the API's figure"
    );
    // The trend chart is drawn again over the new figures.
    sup.wait(
        "the trend chart to be drawn again",
        "return !!document.querySelector('#oee-buckets-chart[data-drawn=\"true\"] canvas');",
    )
    .await;
    sup.screenshot("04-oee-en").await;
    // A bucket's figure leads down to its own period cut finer, which shows the same figure.
    let bucket = sup
        .js("const r = document.querySelector('#oee-buckets tbody tr:last-child'); \
             return [r.querySelector('a.drill').getAttribute('href'), r.querySelector('td.oee').textContent];")
        .await;
    sup.goto(&format!(
        "{base}{}",
        bucket[0].as_str().expect("a bucket links its period")
    ))
    .await;
    sup.loaded("/floor/oee").await;
    let drilled = sup
        .js("return document.getElementById('total-oee').textContent;")
        .await;
    assert_eq!(drilled, bucket[1], "{bucket}");
    // A Pareto bar leads down to the stops it sums: the list's total is the bar's, and its
    // rows add up to it. The chart's bars lead where the table's keys do.
    sup.goto(&format!("{base}/floor/oee?lang=en&by=shift"))
        .await;
    sup.loaded("/floor/oee").await;
    let bar = sup
        .js("const r = document.querySelector('#pareto-down tbody tr'); \
             return [r.querySelector('td.key a.drill').getAttribute('href'), r.querySelector('td.num').textContent, \
                     Array.from(document.querySelectorAll('#pareto-down td.key a.drill')).map(a => a.getAttribute('href')), \
                     JSON.parse(document.getElementById('pareto-down-data').textContent).links];")
        .await;
    assert_eq!(bar[2], bar[3], "the chart's links are the table's");
    let bar_href = bar[0]
        .as_str()
        .expect("a Pareto bar links its stops")
        .to_owned();
    assert!(bar_href.starts_with("/floor/losses?"), "{bar_href}");
    sup.goto(&format!("{base}{bar_href}")).await;
    sup.loaded("/floor/losses").await;
    let listed = sup
        .js("const t = document.getElementById('losses-total'); \
             return [Number(t.dataset.total), Number(t.dataset.matched), \
                     Array.from(document.querySelectorAll('#losses-rows tbody tr')).map(r => Number(r.dataset.downMs))];")
        .await;
    let total_ms = listed[0].as_i64().expect("the list's total");
    assert_eq!(
        format!("{:.2}", total_ms as f64 / 3_600_000.0),
        bar[1].as_str().unwrap_or_default(),
        "the list's total is the bar's hours: {listed}"
    );
    let rows_ms: i64 = listed[2]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(rows_ms, total_ms, "{listed}");
    assert!(listed[1].as_u64().unwrap_or_default() >= 1, "{listed}");
    // The page's rows are the API's.
    let losses_api = sup
        .js("return document.getElementById('losses-json').getAttribute('href');")
        .await;
    let losses_report = api.get(losses_api.as_str().unwrap()).await;
    assert_eq!(
        losses_report["total"].as_i64(),
        Some(total_ms),
        "{losses_report}"
    );
    // Each stop names the event that began it: the edge's own record of it.
    let event_href = sup
        .js("return document.querySelector('#losses-rows tbody a.source').getAttribute('href');")
        .await;
    let event = api
        .get(event_href.as_str().expect("a stop links its event"))
        .await;
    assert_eq!(
        event["events"][0]["kind"]["type"], "machine_state_changed",
        "{event}"
    );
    sup.assert_no_horizontal_scrolling().await;
    sup.screenshot("04a-losses-en").await;
    sup.goto(&format!("{base}{bar_href}&lang=zh")).await;
    sup.loaded("/floor/losses").await;
    sup.screenshot("04b-losses-zh").await;
    sup.goto(&format!("{base}/floor/oee?lang=zh&by=shift"))
        .await;
    sup.loaded("/floor/oee").await;
    sup.screenshot("05-oee-zh").await;

    // ---- Head office: the plants side by side, as the API answers. Two more orders, so
    // delivery has figures: WO-2 completed a day before its due date, WO-3 open past its.
    let today_utc = chrono::Utc::now().date_naive();
    for (id, qty, due) in [
        ("WO-2", "500", today_utc - chrono::Duration::days(1)),
        ("WO-3", "300", today_utc - chrono::Duration::days(2)),
    ] {
        let (status, reply) = api
            .admin(
                reqwest::Method::POST,
                "/api/v1/work-orders",
                Some(json!({"work_order": id, "item": "FRAME", "qty": qty, "due": due.to_string(), "priority": 5, "line": "L1"})),
            )
            .await;
        assert_eq!(status, 201, "{reply}");
        let (status, reply) = api
            .admin(
                reqwest::Method::POST,
                &format!("/api/v1/work-orders/{id}/release"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
    }
    let two_days_ago = chrono::Utc::now() - chrono::Duration::days(2);
    post_floor_events(
        &api,
        &token,
        &[
            floor_event(
                before + 9,
                two_days_ago,
                "st-20",
                EventKind::ProductionReported {
                    work_order: Some("WO-2".into()),
                    operation: Some(20),
                    good: 480,
                    scrap: 5,
                },
            ),
            floor_event(
                before + 10,
                two_days_ago + chrono::Duration::minutes(1),
                "st-20",
                EventKind::WorkOrderCompleted {
                    work_order: "WO-2".into(),
                },
            ),
            floor_event(
                before + 11,
                two_days_ago + chrono::Duration::minutes(2),
                "st-20",
                EventKind::ProductionReported {
                    work_order: Some("WO-3".into()),
                    operation: Some(20),
                    good: 120,
                    scrap: 0,
                },
            ),
        ],
    )
    .await;
    let side = api.get("/api/v1/floor/plants").await;
    let default = side["plants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plant"] == "default")
        .expect("the default plant")
        .clone();
    assert_eq!(default["delivery_week"]["on_time"], 1, "{default}");
    assert_eq!(default["delivery_week"]["open_past_due"], 1, "{default}");
    // Both are "as of now", a moment apart: equal within the last digit shown.
    let shown = |v: &Value| -> f64 {
        v.as_str()
            .unwrap_or("")
            .trim_end_matches('%')
            .parse()
            .unwrap_or(f64::NAN)
    };
    for lang in ["en", "zh"] {
        sup.goto(&format!("{base}/floor/plants?lang={lang}")).await;
        sup.loaded("/floor/plants").await;
        assert_eq!(sup.lang().await, if lang == "zh" { "zh-CN" } else { "en" });
        let row = sup
            .js("const r = document.querySelector('#plants-side tr[data-plant=\"default\"]'); \
                 return r ? ['.week-oee a', '.month-oee a', '.output-vs-plan', '.on-time'].map(c => r.querySelector(c).textContent) : null;")
            .await;
        for (i, period) in ["week", "month"].iter().enumerate() {
            let Some(api_oee) = default[period]["oee"].as_f64() else {
                assert_eq!(row[i], json!("–"), "{period}: no OEE is shown as such");
                continue;
            };
            let api_pct = api_oee * 100.0;
            assert!(
                (shown(&row[i]) - api_pct).abs() <= 0.11,
                "{period}: page {} against the API's {api_pct}",
                row[i]
            );
        }
        assert_eq!(
            [row[2].clone(), row[3].clone()],
            [
                json!(pct(&default["delivery_month"]["output_vs_plan"])),
                json!(pct(&default["delivery_month"]["on_time_rate"]))
            ],
            "output against plan and on time, 30 days"
        );
        // The delivery table: each period's figures as the API counts them.
        for (period, field) in [("7_days", "delivery_week"), ("30_days", "delivery_month")] {
            let d = &default[field];
            let cells = sup
                .js(&format!(
                    "const r = document.querySelector('#plants-delivery tr[data-plant=\"default\"][data-period=\"{period}\"]'); \
                     return ['.due', '.planned', '.good', '.output-vs-plan', '.on-time-n', '.late', '.open-past-due', '.not-yet-due', '.on-time'] \
                       .map(c => r.querySelector(c).textContent);"
                ))
                .await;
            let planned: f64 = d["planned_qty"].as_str().unwrap().parse().unwrap();
            assert_eq!(shown(&cells[1]), planned, "{period}: planned");
            assert_eq!(
                cells,
                json!([
                    d["due"].to_string(),
                    cells[1],
                    d["good"].to_string(),
                    pct(&d["output_vs_plan"]),
                    d["on_time"].to_string(),
                    d["late"].to_string(),
                    d["open_past_due"].to_string(),
                    d["not_yet_due"].to_string(),
                    pct(&d["on_time_rate"])
                ]),
                "{period} ({lang})"
            );
        }
        // The weekly trend: the API's twelve ISO weeks, in a table and a chart.
        let weeks = sup
            .js("return Array.from(document.querySelectorAll('#plants-weeks tr[data-plant=\"default\"]')) \
                 .map(r => [r.dataset.week, r.querySelector('.due').textContent]);")
            .await;
        let api_weeks: Vec<Value> = default["weeks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| json!([w["key"], w["delivery"]["due"].to_string()]))
            .collect();
        assert_eq!(weeks, json!(api_weeks));
        assert_eq!(api_weeks.len(), 12);
        sup.wait(
            "the plants' daily and weekly charts to be drawn",
            "return ['plants-chart', 'plants-weeks-chart'].every(id => \
             !!document.querySelector('#' + id + '[data-drawn=\"true\"] canvas'));",
        )
        .await;
        let labels = sup
            .js("return JSON.parse(document.getElementById('plants-weeks-data').textContent).labels;")
            .await;
        let api_keys: Vec<Value> = default["weeks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["key"].clone())
            .collect();
        assert_eq!(labels, json!(api_keys));
        let labels = sup
            .js("return JSON.parse(document.getElementById('plants-data').textContent).series.map(s => s.label);")
            .await;
        assert!(
            labels.as_array().is_some_and(|l| l
                .iter()
                .any(|x| x.as_str().is_some_and(|x| x.ends_with("(default)")))),
            "{labels}"
        );
        sup.screenshot(&format!("05b-plants-side-by-side-{lang}"))
            .await;
        sup.js("document.getElementById('plants-weeks-chart').scrollIntoView(); return true;")
            .await;
        sup.screenshot(&format!("05g-plants-weeks-{lang}")).await;
    }
    // Every table has its CSV.
    for id in ["plants-csv", "delivery-csv", "days-csv", "weeks-csv"] {
        let href = sup
            .js(&format!(
                "return document.getElementById('{id}').getAttribute('href');"
            ))
            .await;
        let response = api
            .http
            .get(format!("{base}{}", href.as_str().unwrap()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("central answers");
        assert_eq!(response.status(), 200, "{id}");
        let text = response.text().await.unwrap();
        assert!(text.lines().count() > 1, "{id}: {text}");
    }

    // ---- Drill-down: company, plant, line, station; each link lands on a page that shows the
    // figure it was clicked on.
    let (page, base_url) = (&sup, base.as_str());
    let follow = move |css: &'static str| {
        let sup = page;
        async move {
            let found = sup
                .js(&format!(
                    "const a = document.querySelector('{css}'); return a ? [a.textContent, a.getAttribute('href')] : null;"
                ))
                .await;
            assert!(found.is_array(), "a link at {css}");
            let href = found[1].as_str().unwrap().to_owned();
            sup.goto(&format!("{base_url}{href}")).await;
            (found[0].as_str().unwrap().to_owned(), href)
        }
    };
    let total_oee = move || async move {
        page.js("return document.getElementById('total-oee').textContent;")
            .await
    };
    for cell in ["week-oee", "month-oee"] {
        sup.goto(&format!("{base}/floor/plants?lang=en")).await;
        sup.loaded("/floor/plants").await;
        let (text, href) = follow(if cell == "week-oee" {
            "#plants-side tr[data-plant=\"default\"] .week-oee a"
        } else {
            "#plants-side tr[data-plant=\"default\"] .month-oee a"
        })
        .await;
        sup.loaded("/floor/oee").await;
        assert_eq!(total_oee().await, json!(text), "{cell}: {href}");
    }
    // From the plant's 30 days to its line, then to a station.
    let line_oee = sup
        .js("return document.querySelector('#oee-lines tbody tr .oee').textContent;")
        .await;
    let (line, _) = follow("#oee-lines a.drill").await;
    sup.loaded("/floor/oee").await;
    assert_eq!(line, "L1");
    assert_eq!(
        total_oee().await,
        line_oee,
        "the line's page shows its figure"
    );
    let crumbs = sup
        .js("return Array.from(document.querySelectorAll('#oee-crumbs a, #oee-crumbs span')).map(e => e.textContent);")
        .await;
    assert_eq!(crumbs[2], json!("L1"), "{crumbs}");
    sup.screenshot("05d-oee-line-en").await;
    let station_oee = sup
        .js("return document.querySelector('#oee-stations tbody tr .oee').textContent;")
        .await;
    let (station, _) = follow("#oee-stations a.drill").await;
    sup.loaded("/floor/oee").await;
    assert_eq!(
        total_oee().await,
        station_oee,
        "{station}: the station's page shows its figure"
    );
    let rows = sup
        .js("return Array.from(document.querySelectorAll('#oee-stations tbody tr')).map(r => r.dataset.key);")
        .await;
    assert_eq!(rows, json!([station]), "the station alone");
    assert_eq!(
        sup.js("return !!document.querySelector('#oee-stations a.source');")
            .await,
        json!(true),
        "the station's spans and counts beside its figures"
    );
    sup.screenshot("05e-oee-station-en").await;
    // From a plant's delivery to its orders due in the period, with the same figures.
    sup.goto(&format!("{base}/floor/plants?lang=zh")).await;
    sup.loaded("/floor/plants").await;
    let (output, _) = follow("#plants-side tr[data-plant=\"default\"] .output-vs-plan a").await;
    sup.loaded("/work-orders").await;
    let summary = sup
        .js("return ['.due', '.output-vs-plan', '.on-time'].map(c => document.querySelector('#wo-delivery ' + c).textContent);")
        .await;
    assert_eq!(
        summary,
        json!([
            default["delivery_month"]["due"].to_string(),
            output,
            pct(&default["delivery_month"]["on_time_rate"])
        ])
    );
    sup.screenshot("05f-work-orders-due-zh").await;

    // ---- The edge fleet, as the API lists it.
    sup.goto(&format!("{base}/floor/edges?lang=en")).await;
    sup.loaded("/floor/edges").await;
    let edges = api.get("/api/v1/edges").await;
    let acked = sup
        .js("return document.querySelector('#edge-fleet tr[data-edge=\"line-1\"] .acked').textContent;")
        .await;
    assert_eq!(acked, json!(edges["edges"][0]["acked_seq"].to_string()));
    sup.screenshot("05c-edge-fleet-en").await;
    sup.close().await;

    // ---- A supervisor on a handheld: the board and OEE fit 400 px, the charts too.
    let hand = open("handheld", (400, 800)).await;
    hand.goto(&format!("{base}/floor/oee?by=day")).await;
    hand.loaded("/sign-in").await;
    hand.sign_in(SUPERVISOR, FIRST_PASSWORD).await;
    hand.loaded("/floor/oee").await;
    let width = hand
        .wait(
            "the trend chart to be drawn",
            "const c = document.querySelector('#oee-buckets-chart[data-drawn=\"true\"] canvas'); \
             return c ? c.getBoundingClientRect().right : null;",
        )
        .await;
    assert!(
        width.as_f64().is_some_and(|w| w <= 400.0),
        "the chart fits the screen: {width}"
    );
    let page_width = hand
        .js("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        page_width.as_f64().is_some_and(|w| w <= 400.0),
        "nothing but the tables' own scroll boxes is wider than the screen: {page_width}"
    );
    hand.screenshot("07-oee-handheld-zh").await;
    hand.goto(&format!("{base}/floor")).await;
    hand.loaded("/floor").await;
    hand.screenshot("08-board-handheld-zh").await;
    hand.goto(&format!("{base}/floor/plants")).await;
    hand.loaded("/floor/plants").await;
    hand.wait(
        "head office's weekly chart to be drawn",
        "return !!document.querySelector('#plants-weeks-chart[data-drawn=\"true\"] canvas');",
    )
    .await;
    let page_width = hand
        .js("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        page_width.as_f64().is_some_and(|w| w <= 400.0),
        "head office fits the screen but for its tables' scroll boxes: {page_width}"
    );
    hand.screenshot("08b-plants-handheld-zh").await;
    // The stops behind a Pareto bar: its table scrolls in its own box.
    hand.goto(&format!("{base}{bar_href}&lang=zh")).await;
    hand.loaded("/floor/losses").await;
    let page_width = hand
        .js("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        page_width.as_f64().is_some_and(|w| w <= 400.0),
        "the stops fit the screen but for their table's scroll box: {page_width}"
    );
    hand.screenshot("08c-losses-handheld-zh").await;
    hand.close().await;

    // ---- The kiosk: the andon board, and nothing else.
    let tv = open("kiosk", (1920, 1080)).await;
    tv.goto(&format!("{base}/floor/andon")).await;
    tv.loaded("/sign-in").await;
    tv.sign_in("andon.tv", FIRST_PASSWORD).await;
    tv.loaded("/floor/andon").await;
    let order = tv
        .wait(
            "the andon to be live",
            "const s = document.getElementById('live-status'); \
             if (!s || s.dataset.state !== 'live') return null; \
             return Array.from(document.querySelectorAll('#board .station')).map(c => c.dataset.state);",
        )
        .await;
    assert_eq!(order, json!(["down", "down", "setup"]), "stops first");
    tv.screenshot("06-andon-zh").await;
    tv.goto(&format!("{base}/admin/plants")).await;
    tv.loaded("/admin/plants").await;
    let refused = tv
        .js("return document.body.textContent.includes('plants.read');")
        .await;
    assert_eq!(
        refused,
        json!(true),
        "the kiosk is refused, naming the permission"
    );
    tv.close().await;
    println!("floor page screenshots: {}", artifacts.dir.display());
}

/// Posts a CSV import as the administrator.
async fn import_csv(api: &Api, kind: &str, csv: &str) {
    let response = api
        .http
        .post(format!("{}/api/v1/import/{kind}", api.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("central answers");
    assert_eq!(response.status(), 200, "import {kind}");
}

/// The work order pages and the traceability page in a browser (issue 15): a supervisor's
/// list shows the orders and counts the API answers, one order's page its progress, material
/// per lot and lots produced as the API has them; from a produced lot to its trace (a graph
/// whose lots and stock are the API's), and from there to a parent lot. In Chinese and
/// English, and at 400 px wide for handhelds. Screenshots under
/// `<target>/test-artifacts/central-work-orders/`.
#[tokio::test]
async fn work_order_and_trace_pages_show_the_api_figures_in_a_browser() {
    use protocol::EventKind;
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let artifacts = Artifacts::named("central-work-orders");
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let api = Api::of(&base);
    let token = central.create_edge("line-1").await;
    import_csv(
        &api,
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
         FRAME,Frame,make,ea,1,lfl,,\nSTEEL,Steel,buy,kg,5,lfl,,\nBOLT,Bolt,buy,ea,5,lfl,,\n",
    )
    .await;
    import_csv(
        &api,
        "boms",
        "parent,component,qty_per,scrap_pct\nFRAME,STEEL,0.5,2\nFRAME,BOLT,4,0\n",
    )
    .await;
    api.put(
        "/api/v1/lines/L1",
        json!({"description": "frames", "edge_id": "line-1"}),
    )
    .await;
    for (wc, station) in [("CUT", "st-10"), ("WELD", "st-20")] {
        api.put(
            &format!("/api/v1/work-centers/{wc}"),
            json!({"line": "L1", "station": station}),
        )
        .await;
    }
    api.put(
        "/api/v1/routings/FRAME",
        json!({"operations": [
            {"operation": 10, "description": "cut", "work_center": "CUT"},
            {"operation": 20, "description": "weld", "work_center": "WELD"}
        ]}),
    )
    .await;
    for (id, qty, due) in [("WO-1", "100", "2026-12-20"), ("WO-2", "40", "2026-12-24")] {
        let (status, reply) = api
            .admin(
                reqwest::Method::POST,
                "/api/v1/work-orders",
                Some(json!({"work_order": id, "item": "FRAME", "qty": qty, "due": due, "line": "L1"})),
            )
            .await;
        assert_eq!(status, 201, "{reply}");
    }
    let (status, reply) = api
        .admin(
            reqwest::Method::POST,
            "/api/v1/work-orders/WO-1/release",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let now = chrono::Utc::now();
    let minutes = |m: i64| now - chrono::Duration::minutes(m);
    let d = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    post_floor_events(
        &api,
        &token,
        &[
            floor_event(
                1,
                minutes(60),
                "st-10",
                EventKind::MaterialReceived {
                    item: "STEEL".into(),
                    lot: "S-1".into(),
                    qty: d("100"),
                    uom: "kg".into(),
                    location: "RM-1".into(),
                    purchase_order: None,
                },
            ),
            floor_event(
                2,
                minutes(55),
                "st-10",
                EventKind::MaterialMoved {
                    item: "STEEL".into(),
                    lot: "S-1".into(),
                    qty: d("40"),
                    uom: "kg".into(),
                    from: "RM-1".into(),
                    to: "line-1".into(),
                },
            ),
            floor_event(
                3,
                minutes(50),
                "st-10",
                EventKind::WorkOrderStarted {
                    work_order: "WO-1".into(),
                    operation: Some(10),
                },
            ),
            floor_event(
                4,
                minutes(45),
                "st-10",
                EventKind::MaterialIssued {
                    work_order: "WO-1".into(),
                    operation: Some(10),
                    item: "STEEL".into(),
                    lot: "S-1".into(),
                    qty: d("30"),
                    uom: "kg".into(),
                },
            ),
            floor_event(
                5,
                minutes(40),
                "st-10",
                EventKind::ProductionReported {
                    work_order: Some("WO-1".into()),
                    operation: Some(10),
                    good: 40,
                    scrap: 2,
                },
            ),
            floor_event(
                6,
                minutes(30),
                "st-20",
                EventKind::WorkOrderStarted {
                    work_order: "WO-1".into(),
                    operation: Some(20),
                },
            ),
            floor_event(
                7,
                minutes(20),
                "st-20",
                EventKind::ProductionReported {
                    work_order: Some("WO-1".into()),
                    operation: Some(20),
                    good: 38,
                    scrap: 1,
                },
            ),
            floor_event(
                8,
                minutes(10),
                "st-20",
                EventKind::LotProduced {
                    work_order: "WO-1".into(),
                    item: "FRAME".into(),
                    lot: "F-1".into(),
                    qty: d("38"),
                    uom: "ea".into(),
                    consumed_lots: vec!["S-1".into()],
                },
            ),
        ],
    )
    .await;
    api.put(
        &format!("/api/v1/users/{SUPERVISOR}"),
        json!({"display_name": "张伟", "roles": ["supervisor"], "plants": ["default"], "language": "zh",
               "time_zone": "Asia/Shanghai", "password": FIRST_PASSWORD}),
    )
    .await;
    let list = api.get("/api/v1/work-orders").await;
    let view = api.get("/api/v1/work-orders/WO-1").await;
    let lots = api.get("/api/v1/work-orders/WO-1/lots").await;

    let driver = Chromedriver::start(&tools, &tmp.path().join("chromedriver.log")).await;
    let open = |name, size| {
        let profile: PathBuf = tmp.path().join(format!("chromium-{name}"));
        Page::open(&driver, &tools, name, size, &artifacts, profile)
    };
    let sup = open("supervisor", (1280, 900)).await;
    sup.goto(&format!("{base}/work-orders")).await;
    sup.loaded("/sign-in").await;
    sup.sign_in(SUPERVISOR, FIRST_PASSWORD).await;
    sup.loaded("/work-orders").await;
    assert_eq!(sup.lang().await, "zh-CN");

    // ---- The list: the API's rows, figures and counts.
    let rows = sup
        .js("return Array.from(document.querySelectorAll('#wo-list tbody tr')).map(r => \
             [r.dataset.workOrder, r.dataset.state, r.querySelector('.good').textContent, r.querySelector('.qty').textContent]);")
        .await;
    let expected: Vec<Value> = list["work_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| json!([w["work_order"], w["state"], w["good"].to_string(), w["qty"]]))
        .collect();
    assert_eq!(rows, json!(expected), "the page lists what the API answers");
    assert_eq!(
        rows,
        json!([
            ["WO-1", "in_progress", "38", "100"],
            ["WO-2", "planned", "0", "40"]
        ])
    );
    let counts = sup
        .js("return Object.fromEntries(Array.from(document.querySelectorAll('#wo-counts a[data-state]')) \
             .filter(a => a.dataset.count !== '0').map(a => [a.dataset.state, Number(a.dataset.count)]));")
        .await;
    assert_eq!(counts, list["counts"]);
    sup.assert_no_horizontal_scrolling().await;
    sup.screenshot("01-work-orders-zh").await;
    // A filter from the form: the planned ones.
    sup.js("document.getElementById('f-state').value = 'planned'; return true;")
        .await;
    sup.click("#wo-apply").await;
    sup.wait(
        "the list filtered to planned orders",
        "return location.search.includes('state=planned') && document.readyState === 'complete' \
         ? Array.from(document.querySelectorAll('#wo-list tbody tr')).map(r => r.dataset.workOrder) : null;",
    )
    .await;
    let filtered = sup
        .js("return Array.from(document.querySelectorAll('#wo-list tbody tr')).map(r => r.dataset.workOrder);")
        .await;
    assert_eq!(filtered, json!(["WO-2"]));
    sup.goto(&format!("{base}/work-orders?lang=en")).await;
    sup.loaded("/work-orders").await;
    sup.screenshot("02-work-orders-en").await;

    // ---- One order, reached from the list.
    sup.click("#wo-list a[href=\"/work-orders/WO-1\"]").await;
    sup.loaded("/work-orders/WO-1").await;
    let ops = view["operations"].as_array().unwrap();
    let head = sup
        .js("return ['wo-good', 'wo-scrap', 'wo-item'].map(id => document.getElementById(id).textContent);")
        .await;
    assert_eq!(
        head,
        json!([
            ops[1]["good"].to_string(),
            ops[1]["scrap"].to_string(),
            view["item"]
        ])
    );
    let per_op = sup
        .js("return Array.from(document.querySelectorAll('#wo-operations tbody tr')).map(r => \
             [Number(r.dataset.operation), Number(r.querySelector('.good').textContent), Number(r.querySelector('.scrap').textContent)]);")
        .await;
    let api_ops: Vec<Value> = ops
        .iter()
        .map(|o| json!([o["operation"], o["good"], o["scrap"]]))
        .collect();
    assert_eq!(per_op, json!(api_ops));
    let steel = sup
        .js("const r = document.querySelector('#wo-material tr[data-item=\"STEEL\"]'); \
             return [r.querySelector('.required').textContent, r.querySelector('.issued').textContent, \
                     r.querySelector('.variance').textContent, r.querySelector('td.lots a').dataset.lot];")
        .await;
    let api_steel = view["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == "STEEL")
        .unwrap();
    assert_eq!(
        steel,
        json!([
            api_steel["required"],
            api_steel["issued"],
            api_steel["variance"],
            lots["issued"][0]["lot"]
        ])
    );
    assert_eq!(steel[1], json!("30"));
    let produced = sup
        .js("return Array.from(document.querySelectorAll('#wo-produced tbody tr')).map(r => r.dataset.lot);")
        .await;
    assert_eq!(produced, json!([lots["produced"][0]["lot"]]));
    let timeline = sup
        .js("return Array.from(document.querySelectorAll('#wo-timeline tbody tr')).map(r => r.dataset.kind);")
        .await;
    assert_eq!(
        timeline,
        json!([
            "lot_produced",
            "production_reported",
            "work_order_started",
            "production_reported",
            "material_issued",
            "work_order_started"
        ]),
        "newest first"
    );
    sup.assert_no_horizontal_scrolling().await;
    sup.screenshot("03-work-order-en").await;
    // Hold it from the page: the API decides, the page shows what the order became.
    sup.js("window.notReloaded = true; return true;").await;
    sup.click("button.wo-action[data-action=\"hold\"]").await;
    sup.wait(
        "the order on hold after a reload",
        "const s = document.getElementById('wo-state'); \
         return window.notReloaded === undefined && s && s.dataset.state === 'on_hold' ? true : null;",
    )
    .await;
    assert_eq!(
        api.get("/api/v1/work-orders/WO-1").await["state"],
        "on_hold"
    );
    let resume = sup
        .js("return Array.from(document.querySelectorAll('button.wo-action')).map(b => b.dataset.action);")
        .await;
    assert_eq!(resume, json!(["unhold", "cancel"]));
    sup.click("button.wo-action[data-action=\"unhold\"]").await;
    sup.wait(
        "the order in progress again",
        "const s = document.getElementById('wo-state'); \
         return s && s.dataset.state === 'in_progress' ? true : null;",
    )
    .await;
    let office = sup
        .js("return Array.from(document.querySelectorAll('#wo-office td.change')).map(td => td.textContent);")
        .await;
    assert_eq!(
        office,
        json!([
            "On hold → In progress",
            "In progress → On hold",
            "Planned → Released",
            "Created (Planned)"
        ])
    );
    sup.goto(&format!("{base}/work-orders/WO-1?lang=zh")).await;
    sup.loaded("/work-orders/WO-1").await;
    sup.screenshot("04-work-order-zh").await;

    // ---- From the produced lot to its trace, and on to the lot it was made of.
    sup.click("#wo-produced a[href=\"/trace/F-1\"]").await;
    sup.loaded("/trace/F-1").await;
    let trace = api.get("/api/v1/lots/F-1/trace").await;
    let drawn = sup
        .js("return Array.from(document.querySelectorAll('#trace-graph a.lot')).map(a => a.dataset.lot);")
        .await;
    let api_lots: Vec<Value> = trace["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["lot"].clone())
        .collect();
    assert_eq!(drawn, json!(api_lots));
    assert_eq!(drawn, json!(["F-1", "S-1"]));
    let on_hand = sup
        .js("return Array.from(document.querySelectorAll('#trace-lots tr[data-lot=\"F-1\"] .on-hand span')).map(s => s.textContent);")
        .await;
    let api_on_hand: Vec<Value> = trace["nodes"][0]["on_hand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json!(format!(
                "{}: {} {}",
                r["location"].as_str().unwrap(),
                r["qty"].as_str().unwrap(),
                r["uom"].as_str().unwrap()
            ))
        })
        .collect();
    assert_eq!(on_hand, json!(api_on_hand));
    assert_eq!(on_hand, json!(["line-1: 38 ea"]));
    sup.assert_no_horizontal_scrolling().await;
    sup.screenshot("05-trace-F-1-zh").await;
    sup.click("#trace-graph a.lot[data-lot=\"S-1\"]").await;
    sup.loaded("/trace/S-1").await;
    let parent = api.get("/api/v1/lots/S-1/trace").await;
    let rows = sup
        .js("return Array.from(document.querySelectorAll('#trace-lots tbody tr')).map(r => [r.dataset.lot, r.dataset.side]);")
        .await;
    let api_rows: Vec<Value> = parent["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| json!([n["lot"], n["side"]]))
        .collect();
    assert_eq!(rows, json!(api_rows));
    assert_eq!(rows, json!([["S-1", "start"], ["F-1", "forward"]]));
    let stock = sup
        .js("return Array.from(document.querySelectorAll('#trace-lots tr[data-lot=\"S-1\"] .on-hand span')).map(s => s.textContent);")
        .await;
    assert_eq!(stock, json!(["RM-1: 60 kg", "line-1: 10 kg"]));
    let used_by = sup
        .js("return document.querySelector('#trace-lots tr[data-lot=\"S-1\"] .used-by a').getAttribute('href');")
        .await;
    assert_eq!(used_by, json!("/work-orders/WO-1"));
    sup.goto(&format!("{base}/trace/S-1?lang=en")).await;
    sup.loaded("/trace/S-1").await;
    sup.screenshot("06-trace-S-1-en").await;
    sup.close().await;

    // ---- A handheld, 400 px wide: the same pages, nothing wider than the screen.
    let handheld = open("handheld", (400, 800)).await;
    handheld.goto(&format!("{base}/work-orders")).await;
    handheld.loaded("/sign-in").await;
    handheld.sign_in(SUPERVISOR, FIRST_PASSWORD).await;
    handheld.loaded("/work-orders").await;
    for (path, name) in [
        ("/work-orders", "07-work-orders-400px-zh"),
        ("/work-orders/WO-1", "08-work-order-400px-zh"),
        ("/trace/F-1", "09-trace-400px-zh"),
    ] {
        handheld.goto(&format!("{base}{path}")).await;
        handheld.loaded(path).await;
        handheld.assert_no_horizontal_scrolling().await;
        handheld.screenshot(name).await;
    }
    handheld.close().await;
    println!("work order page screenshots: {}", artifacts.dir.display());
}

/// SPC in a browser (issue 15): the SPC page lists the characteristics with their status and
/// draws one's I-MR charts (uPlot) with the API's points and limits, the rule-1 point in red,
/// the table of points and the capability figures the API answers, in Chinese and English and 400 px wide; the plant board shows the
/// alarm, and acknowledging it there takes it off. Screenshots under
/// `<target>/test-artifacts/central-spc/`.
#[tokio::test]
async fn spc_page_shows_the_api_chart_and_the_board_its_alarm_in_a_browser() {
    use protocol::EventKind;
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let artifacts = Artifacts::named("central-spc");
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let api = Api::of(&base);
    let token = edge_with_line(&central, &api).await;
    api.put(
        "/api/v1/work-centers/CUT",
        json!({"line": "L1", "station": "st-10"}),
    )
    .await;
    api.put(
        "/api/v1/items/FRAME",
        json!({"description": "Frame", "kind": "make", "uom": "ea"}),
    )
    .await;
    api.put(
        "/api/v1/routings/FRAME",
        json!({"operations": [{"operation": 10, "description": "cut", "work_center": "CUT"}]}),
    )
    .await;
    let (status, reply) = api
        .admin(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({"work_order": "WO-1", "item": "FRAME", "qty": "10", "due": "2026-12-31", "line": "L1"})),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    api.put(
        &format!("/api/v1/users/{SUPERVISOR}"),
        json!({"display_name": "张伟", "roles": ["supervisor"], "plants": ["default"], "language": "zh",
               "time_zone": "Asia/Shanghai", "password": FIRST_PASSWORD}),
    )
    .await;
    api.put(
        "/api/v1/spc/characteristics",
        json!({"characteristics": [
            {"item": "FRAME", "name": "bore", "unit": "mm", "target": 10.0, "lsl": 9.0, "usl": 11.0,
             "subgroup_size": 1, "baseline": 5},
            {"plant": "default", "item": "FRAME", "name": "len", "unit": "mm", "subgroup_size": 3, "baseline": 3}
        ]}),
    )
    .await;
    let list = api.get("/api/v1/spc/characteristics").await;
    let id_of = |name: &str| {
        list["characteristics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["id"]
            .as_u64()
            .unwrap()
    };
    let (bore, len) = (id_of("bore"), id_of("len"));
    let now = chrono::Utc::now();
    let values = [
        ("bore", 10.0),
        ("bore", 10.2),
        ("bore", 9.9),
        ("bore", 10.1),
        ("bore", 9.8),
        ("bore", 10.05),
        ("bore", 10.9),
        ("len", 10.0),
        ("len", 11.0),
    ];
    let events: Vec<protocol::Event> = values
        .iter()
        .enumerate()
        .map(|(i, (name, value))| {
            let seq = i as u64 + 1;
            floor_event(
                seq,
                now - chrono::Duration::minutes(20 - i as i64),
                "st-10",
                EventKind::Measurement {
                    characteristic: (*name).into(),
                    value: *value,
                    unit: "mm".into(),
                    work_order: Some("WO-1".into()),
                },
            )
        })
        .collect();
    post_floor_events(&api, &token, &events).await;
    let chart = api
        .get(&format!("/api/v1/spc/charts/{bore}?limit=100"))
        .await;
    assert_eq!(chart["status"], "alarm", "{chart}");

    let driver = Chromedriver::start(&tools, &tmp.path().join("chromedriver.log")).await;
    let open = |name, size| {
        let profile: PathBuf = tmp.path().join(format!("chromium-{name}"));
        Page::open(&driver, &tools, name, size, &artifacts, profile)
    };
    let sup = open("supervisor", (1280, 900)).await;
    sup.goto(&format!("{base}/floor/spc?id={bore}")).await;
    sup.loaded("/sign-in").await;
    sup.sign_in(SUPERVISOR, FIRST_PASSWORD).await;
    sup.loaded("/floor/spc").await;
    assert_eq!(sup.lang().await, "zh-CN");
    let ratio = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "–".to_owned(), |x| format!("{x:.2}"))
    };
    let number = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "–".to_owned(), |x| format!("{x:.4}"))
    };
    for lang in ["zh", "en"] {
        sup.goto(&format!("{base}/floor/spc?id={bore}&lang={lang}"))
            .await;
        sup.loaded("/floor/spc").await;
        let figures = sup
            .js("return ['spc-center', 'spc-ucl', 'spc-lcl', 'spc-cp', 'spc-cpk', 'spc-pp', 'spc-ppk'].map(id => document.getElementById(id).textContent);")
            .await;
        assert_eq!(
            figures,
            json!([
                number(&chart["limits"]["center"]),
                number(&chart["limits"]["ucl"]),
                number(&chart["limits"]["lcl"]),
                ratio(&chart["capability"]["cp"]),
                ratio(&chart["capability"]["cpk"]),
                ratio(&chart["capability"]["pp"]),
                ratio(&chart["capability"]["ppk"])
            ]),
            "{lang}: the page's figures are the API's"
        );
        // The table of points (what a browser without script shows) is the API's.
        let rows = sup
            .js("return Array.from(document.querySelectorAll('#spc-points tbody tr')).map(r => [Number(r.dataset.n), r.querySelector('.value').textContent, r.querySelector('.range').textContent, r.dataset.rules]);")
            .await;
        let points = chart["points"].as_array().unwrap();
        let rules_of = |p: &Value| {
            p["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let expected: Vec<Value> = points
            .iter()
            .map(|p| {
                json!([
                    p["n"],
                    number(&p["value"]),
                    number(&p["range"]),
                    rules_of(p)
                ])
            })
            .collect();
        assert_eq!(rows, json!(expected), "{lang}: the points are the API's");
        let red = sup
            .js("return Array.from(document.querySelectorAll('#spc-points tr.bad')).map(r => r.dataset.n + ':' + getComputedStyle(r.querySelector('td')).color);")
            .await;
        assert_eq!(red, json!(["7:rgb(180, 35, 24)"]), "{lang}");
        // The same points drawn by uPlot: one canvas a chart, a value a point, the API's
        // values and ranges, and the points that break a rule as many as the API's, red.
        sup.wait(
            "the SPC charts to be drawn",
            "return ['spc-x-chart', 'spc-r-chart'].every(id => \
             !!document.querySelector('#' + id + '[data-drawn=\"true\"] canvas'));",
        )
        .await;
        let drawn = sup
            .js("return ['spc-x-chart', 'spc-r-chart'].map(id => { const u = window.mesCharts.charts[id]; \
                 return {canvases: document.querySelectorAll('#' + id + ' canvas').length, n: u.data[0], values: u.data[1], \
                 marked: u.data[2] ? u.data[0].filter((_, i) => u.data[2][i] !== null) : null}; });")
            .await;
        let n: Vec<Value> = points.iter().map(|p| p["n"].clone()).collect();
        let marked: Vec<Value> = points
            .iter()
            .filter(|p| !p["rules"].as_array().unwrap().is_empty())
            .map(|p| p["n"].clone())
            .collect();
        assert_eq!(marked, vec![json!(7)], "{chart}");
        // (Numbers compared as numbers: the page's JavaScript writes 10.0 as 10.)
        let numbers = |v: &Value| -> Vec<Option<f64>> {
            v.as_array().unwrap().iter().map(Value::as_f64).collect()
        };
        // (The range chart checks no rule: it marks none.)
        for (i, key, marked) in [(0, "value", json!(marked)), (1, "range", Value::Null)] {
            let values: Vec<Option<f64>> = points.iter().map(|p| p[key].as_f64()).collect();
            assert_eq!(
                (&drawn[i]["canvases"], &drawn[i]["n"], &drawn[i]["marked"]),
                (&json!(1), &json!(n), &marked),
                "{lang}: chart {i} draws the API's points"
            );
            assert_eq!(numbers(&drawn[i]["values"]), values, "{lang}: chart {i}");
        }
        let pixel = sup
            .js("const u = window.mesCharts.charts['spc-x-chart']; const i = u.data[2].findIndex(v => v !== null); \
                 const x = Math.round(u.valToPos(u.data[0][i], 'x', true)), y = Math.round(u.valToPos(u.data[2][i], 'y', true)); \
                 return Array.from(u.ctx.getImageData(x, y, 1, 1).data.slice(0, 3));")
            .await;
        assert_eq!(
            pixel,
            json!([217, 45, 32]),
            "{lang}: the rule-1 point is red"
        );
        let levels = sup
            .js("return Array.from(document.querySelectorAll('#spc-x-levels li')).map(l => [l.dataset.level, l.querySelector('strong').textContent]);")
            .await;
        assert_eq!(
            levels,
            json!([
                ["usl", number(&chart["characteristic"]["usl"])],
                ["ucl", number(&chart["limits"]["ucl"])],
                ["center", number(&chart["limits"]["center"])],
                ["target", number(&chart["characteristic"]["target"])],
                ["lcl", number(&chart["limits"]["lcl"])],
                ["lsl", number(&chart["characteristic"]["lsl"])]
            ]),
            "{lang}: the chart's levels are the API's"
        );
        let statuses = sup
            .js("return Array.from(document.querySelectorAll('#spc-list tbody tr')).map(r => [Number(r.dataset.id), r.dataset.status]);")
            .await;
        assert_eq!(statuses, json!([[bore, "alarm"], [len, "baseline"]]));
        // One open alarm, said in the singular.
        let alarm_text = sup
            .js(&format!(
                "return document.querySelector('#spc-list tr[data-id=\"{bore}\"] .spc-status').textContent;"
            ))
            .await;
        assert_eq!(
            alarm_text,
            json!(if lang == "zh" {
                "1 个报警"
            } else {
                "1 alarm"
            }),
            "{lang}"
        );
        sup.assert_no_horizontal_scrolling().await;
        sup.screenshot(&format!("01-spc-{lang}")).await;
        sup.js("document.getElementById('spc-r-chart').scrollIntoView(); return true;")
            .await;
        sup.screenshot(&format!("01b-spc-points-{lang}")).await;
    }
    let collecting = sup
        .js("return document.querySelector('#spc-list tr[data-status=\"baseline\"] .spc-status').textContent;")
        .await;
    assert_eq!(collecting, json!("Collecting baseline 0/3"));

    // ---- Live: a measurement the edge reports now reaches the open page without a reload,
    // its point in the table and in both charts, as the API then answers.
    sup.wait(
        "the SPC page to be live",
        "const s = document.getElementById('live-status'); return s && s.dataset.state === 'live' ? true : null;",
    )
    .await;
    sup.js("window.notReloaded = true; return true;").await;
    let n_before = chart["points"].as_array().unwrap().len();
    post_floor_events(
        &api,
        &token,
        &[floor_event(
            values.len() as u64 + 1,
            now - chrono::Duration::minutes(1),
            "st-10",
            EventKind::Measurement {
                characteristic: "bore".into(),
                value: 10.02,
                unit: "mm".into(),
                work_order: Some("WO-1".into()),
            },
        )],
    )
    .await;
    let n_after = n_before + 1;
    sup.wait(
        "the new point to show on the open SPC page",
        &format!(
            "const rows = document.querySelectorAll('#spc-points tbody tr'); \
             const drawn = ['spc-x-chart', 'spc-r-chart'].every(id => {{ \
               const e = document.getElementById(id), u = window.mesCharts.charts[id]; \
               return e && e.dataset.drawn === 'true' && u && u.root.isConnected && u.data[0].length === {n_after}; }}); \
             return window.notReloaded === true && rows.length === {n_after} \
               && rows[{n_before}].dataset.n === '{n_after}' && drawn ? true : null;"
        ),
    )
    .await;
    let live_chart = api
        .get(&format!("/api/v1/spc/charts/{bore}?limit=100"))
        .await;
    let live_points = live_chart["points"].as_array().unwrap();
    assert_eq!(live_points.len(), n_after, "{live_chart}");
    let row = sup
        .js(&format!(
            "const r = document.querySelectorAll('#spc-points tbody tr')[{n_before}]; \
             return [Number(r.dataset.n), r.querySelector('.value').textContent, r.querySelector('.range').textContent];"
        ))
        .await;
    assert_eq!(
        row,
        json!([
            live_points[n_before]["n"],
            number(&live_points[n_before]["value"]),
            number(&live_points[n_before]["range"])
        ]),
        "the new point is the API's"
    );
    let drawn = sup
        .js("return ['spc-x-chart', 'spc-r-chart'].map(id => window.mesCharts.charts[id].data[1]);")
        .await;
    for (i, key) in [(0, "value"), (1, "range")] {
        let want: Vec<Option<f64>> = live_points.iter().map(|p| p[key].as_f64()).collect();
        let got: Vec<Option<f64>> = drawn[i]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::as_f64)
            .collect();
        assert_eq!(got, want, "chart {i} is drawn again over the API's points");
    }
    // The figures beneath follow the points shown (capability over their values).
    let cpk = sup
        .js("return document.getElementById('spc-cpk').textContent;")
        .await;
    assert_eq!(cpk, json!(ratio(&live_chart["capability"]["cpk"])));
    let pp = sup
        .js("return document.getElementById('spc-pp').textContent;")
        .await;
    assert_eq!(pp, json!(ratio(&live_chart["capability"]["pp"])));
    // (The place on the page the user scrolled to survives the swap.)
    sup.screenshot("01c-spc-live-en").await;
    sup.js("document.getElementById('spc-x-chart').scrollIntoView(); return true;")
        .await;
    sup.screenshot("01d-spc-live-chart-en").await;

    // ---- The board shows the alarm; acknowledged there, it is gone.
    sup.goto(&format!("{base}/floor?lang=en")).await;
    sup.loaded("/floor").await;
    let shown = sup
        .wait(
            "the alarm on the board",
            "const a = document.querySelectorAll('#spc-alarms .spc-alarm'); \
             return a.length ? Array.from(a).map(x => Number(x.dataset.rule)) : null;",
        )
        .await;
    assert_eq!(shown, json!([1]));
    sup.screenshot("02-board-alarm-en").await;
    sup.click("#spc-alarms .spc-ack").await;
    sup.wait(
        "the alarm to leave the board",
        "return document.querySelectorAll('#spc-alarms .spc-alarm').length === 0 ? true : null;",
    )
    .await;
    let open_alarms = api.get("/api/v1/spc/alarms").await;
    assert_eq!(open_alarms["alarms"], json!([]));

    // ---- Retired on its chart: marked retired, as the API says; its chart stays.
    sup.goto(&format!("{base}/floor/spc?id={len}&lang=en"))
        .await;
    sup.loaded("/floor/spc").await;
    sup.accept_confirms().await;
    sup.click("#spc-retire").await;
    sup.wait(
        "the characteristic to show retired",
        &format!(
            "const r = document.querySelector('#spc-list tr[data-id=\"{len}\"]'); \
             return r && r.dataset.status === 'retired' && document.getElementById('spc-retired') ? true : null;"
        ),
    )
    .await;
    let retired = api.get(&format!("/api/v1/spc/charts/{len}")).await;
    assert_eq!(retired["status"], "retired", "{retired}");
    sup.screenshot("02b-spc-retired-en").await;
    sup.close().await;

    // ---- 400 px wide.
    let phone = open("phone", (400, 860)).await;
    phone.goto(&format!("{base}/floor/spc?id={bore}")).await;
    phone.loaded("/sign-in").await;
    phone.sign_in(SUPERVISOR, FIRST_PASSWORD).await;
    phone.loaded("/floor/spc").await;
    phone.assert_no_horizontal_scrolling().await;
    // Readable at 400 px: the charts fit the screen (drawn to its width, their labels at a
    // fixed 12 px), and each status stays on one line (issue 15's screenshots: a character
    // per line).
    let right = phone
        .wait(
            "the SPC charts to be drawn at 400 px",
            "const c = Array.from(document.querySelectorAll('.spc-chart[data-drawn=\"true\"] canvas')); \
             return c.length === 2 ? Math.max(...c.map(x => x.getBoundingClientRect().right)) : null;",
        )
        .await;
    assert!(
        right.as_f64().is_some_and(|r| r <= 400.0),
        "the charts fit the screen: {right}"
    );
    let lines = phone
        .js("return Array.from(document.querySelectorAll('#spc-list .spc-status')).map(s => { const l = parseFloat(getComputedStyle(s).lineHeight) || 20; return Math.round(s.getBoundingClientRect().height / l); });")
        .await;
    assert!(
        lines
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.as_i64() == Some(1)),
        "each status on one line: {lines}"
    );
    phone.screenshot("03-spc-400px-zh").await;
    phone
        .js("document.getElementById('spc-x-chart').scrollIntoView(); return true;")
        .await;
    phone.screenshot("03b-spc-charts-400px-zh").await;
    phone.close().await;
    println!("spc page screenshots: {}", artifacts.dir.display());
}

/// Kiosk links in a browser (issue 15): a supervisor mints one on the kiosk page (the link
/// shown once), a TV opens it with no password and shows the plant's andon, live; the
/// supervisor revokes it on the page and the TV's live board ends; the link then opens
/// nothing. Screenshots under `<target>/test-artifacts/central-kiosk/`.
#[tokio::test]
async fn a_kiosk_link_opens_the_andon_on_a_tv_and_revoking_it_ends_it_in_a_browser() {
    use protocol::{EventKind, MachineState};
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let artifacts = Artifacts::named("central-kiosk");
    let tmp = temp_dir();
    let central = Central::start(&tmp.path().join("central"), None).await;
    let base = central.url();
    let api = Api::of(&base);
    let token = edge_with_line(&central, &api).await;
    api.put(
        "/api/v1/work-centers/CUT",
        json!({"line": "L1", "station": "st-10"}),
    )
    .await;
    api.put(
        &format!("/api/v1/users/{SUPERVISOR}"),
        json!({"display_name": "张伟", "roles": ["supervisor"], "plants": ["default"], "language": "zh",
               "time_zone": "Asia/Shanghai", "password": FIRST_PASSWORD}),
    )
    .await;
    let now = chrono::Utc::now();
    post_floor_events(
        &api,
        &token,
        &[floor_event(
            1,
            now - chrono::Duration::minutes(3),
            "st-10",
            EventKind::MachineStateChanged {
                state: MachineState::Down,
                reason: Some("JAM".into()),
            },
        )],
    )
    .await;

    let driver = Chromedriver::start(&tools, &tmp.path().join("chromedriver.log")).await;
    let open = |name, size| {
        let profile: PathBuf = tmp.path().join(format!("chromium-{name}"));
        Page::open(&driver, &tools, name, size, &artifacts, profile)
    };
    let sup = open("supervisor", (1280, 800)).await;
    sup.goto(&format!("{base}/admin/kiosks")).await;
    sup.loaded("/sign-in").await;
    sup.sign_in(SUPERVISOR, FIRST_PASSWORD).await;
    sup.loaded("/admin/kiosks").await;
    sup.type_into("kiosk-name", "二号车间 3 线上方").await;
    sup.click("#create-kiosk").await;
    let url = sup
        .wait(
            "the new link",
            "const b = document.getElementById('new-kiosk'); \
             return b && !b.hidden ? document.getElementById('new-kiosk-url').textContent : null;",
        )
        .await;
    let url = url.as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{base}/kiosk/")), "{url}");
    sup.screenshot("01-kiosk-link-minted-zh").await;
    let links = api.get("/api/v1/kiosk-links").await;
    assert_eq!(links["links"][0]["name"], "二号车间 3 线上方");
    assert_eq!(links["links"][0]["created_by"], SUPERVISOR);

    // ---- The TV opens the link: no sign-in, the andon of its plant, live.
    let tv = open("tv", (1920, 1080)).await;
    tv.goto(&url).await;
    tv.loaded("/floor/andon").await;
    let states = tv
        .wait(
            "the andon to be live",
            "const s = document.getElementById('live-status'); \
             if (!s || s.dataset.state !== 'live') return null; \
             return Array.from(document.querySelectorAll('#board .station')).map(c => c.dataset.state);",
        )
        .await;
    assert_eq!(states, json!(["down"]));
    assert_eq!(tv.lang().await, "zh-CN");
    tv.screenshot("02-andon-by-kiosk-link-zh").await;
    tv.goto(&format!("{base}/floor/andon?lang=en")).await;
    tv.loaded("/floor/andon").await;
    tv.wait(
        "the andon to be live",
        "const s = document.getElementById('live-status'); return s && s.dataset.state === 'live' ? true : null;",
    )
    .await;
    tv.screenshot("03-andon-by-kiosk-link-en").await;
    // Nothing else is open to it.
    tv.goto(&format!("{base}/floor/oee")).await;
    tv.loaded("/floor/oee").await;
    let refused = tv
        .js("return document.getElementById('refused').textContent;")
        .await;
    assert!(
        refused.as_str().is_some_and(|t| t.contains("kiosk")),
        "{refused}"
    );
    tv.goto(&format!("{base}/floor/andon")).await;
    tv.loaded("/floor/andon").await;
    tv.wait(
        "the andon to be live again",
        "const s = document.getElementById('live-status'); return s && s.dataset.state === 'live' ? true : null;",
    )
    .await;

    // ---- Revoked on the page: the TV's live board ends.
    sup.goto(&format!("{base}/admin/kiosks")).await;
    sup.loaded("/admin/kiosks").await;
    let used = sup
        .js("return document.querySelector('#kiosk-list tbody tr').dataset.state;")
        .await;
    assert_eq!(used, json!("live"));
    sup.accept_confirms().await;
    sup.click("#kiosk-list button.revoke-kiosk").await;
    sup.wait(
        "the link to show revoked",
        "const r = document.querySelector('#kiosk-list tbody tr'); \
         return r && r.dataset.state === 'revoked' ? true : null;",
    )
    .await;
    sup.screenshot("04-kiosk-link-revoked-zh").await;
    tv.wait(
        "the TV's board to end",
        "const s = document.getElementById('live-status'); return s && s.dataset.state === 'ended' ? true : null;",
    )
    .await;
    tv.screenshot("05-andon-link-revoked-en").await;
    tv.goto(&url).await;
    let text = tv
        .wait(
            "the link to be refused",
            "const p = document.getElementById('kiosk-refused'); return p ? p.textContent : null;",
        )
        .await;
    assert!(text.as_str().is_some_and(|t| !t.is_empty()), "{text}");
    tv.screenshot("06-kiosk-link-refused").await;
    tv.close().await;
    sup.close().await;
    println!("kiosk page screenshots: {}", artifacts.dir.display());
}
