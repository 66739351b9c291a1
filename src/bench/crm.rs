//! `mes bench crm` (issue 16): the CRM at a company's size, through central's router in
//! process (`oneshot`, as `mes bench authz` does), on SQLite.
//!
//! 1. **Search and lists**: a store with `customers` customers and `orders` confirmed orders
//!    of `lines` lines (100k and 1M by default) and the same at a hundredth of the size
//!    (the baseline, same run). Each question is asked `samples` times, in turn, by head
//!    office (`crm.all.read`: no owner filter) and by a salesperson (their own records): a
//!    customer search by a word, a Chinese word, part of a code, and a word nothing has (a
//!    full scan); the next page of customers; orders newest first, by customer, by a
//!    number's part, and a search nothing matches; one order with its lines. p50, p95, p99.
//! 2. **Flagging**: `quotations` sent quotations (10k) use one item. A new list price of that
//!    item (a quantity break from 1, so it applies to them all) is one `POST /api/v1/prices`
//!    whose transaction flags every one and tells their owners; timed against the same post
//!    for an item no document uses (the baseline, same run), and again for a second change
//!    (flags updated, not added).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use central::store::sql::{BenchFill, SqlStore};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

pub(super) const ADMIN: &str = "bench-admin-token-0123456789abcdef0123";
pub(super) const PASSWORD: &str = "teal-kettle-on-line-3";
/// Salespeople the customers are shared among (the manager has them all in their team).
const SALESPEOPLE: usize = 20;

pub struct CrmBench {
    pub customers: usize,
    pub orders: usize,
    pub lines: usize,
    pub quotations: usize,
    pub samples: usize,
}

pub(super) async fn call(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, Value, Option<String>) {
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        cookie,
    )
}

pub(super) fn request(
    method: Method,
    uri: &str,
    auth: &[(&str, String)],
    body: Option<&Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in auth {
        b = b.header(*k, v);
    }
    match body {
        Some(body) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request"),
        None => b.body(Body::empty()).expect("request"),
    }
}

fn bearer() -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {ADMIN}"))]
}

pub(super) async fn ok(
    app: &axum::Router,
    method: Method,
    uri: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let (status, answer, _) = call(app, request(method, uri, &bearer(), Some(&body))).await;
    anyhow::ensure!(status.is_success(), "{uri}: {status} {answer}");
    Ok(answer)
}

/// Signs `login` in; the cookie and CSRF headers of their session.
pub(super) async fn session(
    app: &axum::Router,
    login: &str,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let (status, me, cookie) = call(
        app,
        request(
            Method::POST,
            "/api/v1/session",
            &[],
            Some(&json!({"login": login, "password": PASSWORD})),
        ),
    )
    .await;
    anyhow::ensure!(status.is_success(), "sign-in {login}: {status} {me}");
    Ok(vec![
        ("cookie", cookie.unwrap_or_default()),
        (
            "x-csrf-token",
            me["csrf_token"].as_str().unwrap_or_default().to_owned(),
        ),
    ])
}

/// A store of the given size, its router, and who asks.
struct Company {
    app: axum::Router,
    head_office: Vec<(&'static str, String)>,
    salesperson: Vec<(&'static str, String)>,
    manager: Vec<(&'static str, String)>,
    customers: usize,
    orders: usize,
    _dir: tempfile::TempDir,
}

async fn company(
    customers: usize,
    orders: usize,
    lines: usize,
    quotations: usize,
) -> anyhow::Result<Company> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_owned();
    let sql = Arc::new(tokio::task::spawn_blocking(move || SqlStore::open(&path)).await??);
    let store: Arc<dyn central::Store> = sql.clone();
    store.ensure_bootstrap_admin().await?;
    let token = central::AdminToken::new(ADMIN, "the bench")?;
    let state = central::AppState::new(store, token, &central::CentralConfig::default());
    let app = central::app(state);
    let (status, body, _) = call(
        &app,
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/import/items")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(Body::from(
                "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
                 FRAME,Frame,make,ea,3,lfl,,\nWHEEL,Wheel,make,ea,3,lfl,,\nBOLT,Bolt,buy,ea,5,lfl,,\n\
                 NUT,Nut,buy,ea,5,lfl,,\nQUOTED,Quoted part,make,ea,3,lfl,,\nUNUSED,Unused part,buy,ea,5,lfl,,\n",
            ))?,
    )
    .await;
    anyhow::ensure!(status.is_success(), "items: {status} {body}");
    ok(&app, Method::PUT, "/api/v1/users/manager", json!({"display_name": "Sales manager", "roles": ["sales_manager"], "plants": ["default"], "password": PASSWORD})).await?;
    ok(&app, Method::PUT, "/api/v1/users/hq", json!({"display_name": "Head office", "roles": ["viewer"], "plants": ["default"], "password": PASSWORD})).await?;
    let mut owners = Vec::new();
    for n in 0..SALESPEOPLE {
        let login = format!("sales{n:02}");
        ok(&app, Method::PUT, &format!("/api/v1/users/{login}"), json!({"display_name": login, "roles": ["sales"], "plants": ["default"], "password": PASSWORD, "manager": "manager"})).await?;
        owners.push(login);
    }
    for (item, price) in [("QUOTED", "100"), ("UNUSED", "100")] {
        ok(
            &app,
            Method::POST,
            "/api/v1/prices",
            json!({"item": item, "currency": "CNY", "price": price, "valid_from": "2020-01-01"}),
        )
        .await?;
    }
    sql.fill_for_bench(BenchFill {
        customers,
        owners,
        orders,
        lines,
        items: ["FRAME", "WHEEL", "BOLT", "NUT"].map(String::from).to_vec(),
        quotations,
        quoted_item: "QUOTED".into(),
        quoted_price: "100".parse()?,
    })
    .await?;
    Ok(Company {
        head_office: session(&app, "hq").await?,
        salesperson: session(&app, "sales07").await?,
        manager: session(&app, "manager").await?,
        app,
        customers,
        orders,
        _dir: dir,
    })
}

pub(super) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    let d = sorted[i.min(sorted.len() - 1)];
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Each question `samples` times by head office and by a salesperson: every latency, and how
/// many rows each question answered the first time (so a fast answer is not an empty one by
/// mistake).
async fn questions(c: &Company, samples: usize) -> anyhow::Result<Value> {
    let mid = c.customers / 2;
    let order_customer = format!("C{:06}", (c.orders / 2) % c.customers.max(1) + 1);
    let customer_questions: Vec<(&str, String)> = vec![
        (
            "customers: a word",
            "/api/v1/customers?search=machinery".into(),
        ),
        (
            "customers: a Chinese word",
            "/api/v1/customers?search=%E8%8B%8F%E5%B7%9E%E7%94%B5%E6%9C%BA".into(),
        ),
        (
            "customers: part of a code",
            format!("/api/v1/customers?search=C{:05}", mid / 10),
        ),
        (
            "customers: nothing matches (a full scan)",
            "/api/v1/customers?search=zzyzx".into(),
        ),
        (
            "customers: the next page",
            format!("/api/v1/customers?after=C{mid:06}"),
        ),
    ];
    let order_questions: Vec<(&str, String)> = vec![
        ("orders: newest first", "/api/v1/sales-orders".into()),
        (
            "orders: one customer's",
            format!("/api/v1/sales-orders?customer={order_customer}"),
        ),
        (
            "orders: part of a number",
            format!("/api/v1/sales-orders?search=SO{:05}", c.orders / 20),
        ),
        (
            "orders: nothing matches (a full scan)",
            "/api/v1/sales-orders?search=zzyzx".into(),
        ),
        (
            "orders: one order with its lines",
            "/api/v1/sales-orders/ONE".into(),
        ),
    ];
    let one = {
        let (status, list, _) = call(
            &c.app,
            request(
                Method::GET,
                "/api/v1/sales-orders?limit=1",
                &c.head_office,
                None,
            ),
        )
        .await;
        anyhow::ensure!(status.is_success(), "orders: {status} {list}");
        list["documents"][0]["id"].as_i64().unwrap_or(1)
    };
    let mut all = Vec::new();
    let mut out = serde_json::Map::new();
    for (who, auth) in [
        ("head_office", &c.head_office),
        ("salesperson", &c.salesperson),
        ("manager", &c.manager),
    ] {
        let mut by_question = serde_json::Map::new();
        for (name, uri) in customer_questions.iter().chain(order_questions.iter()) {
            let uri = uri.replace("ONE", &one.to_string());
            let mut times = Vec::with_capacity(samples);
            let mut rows = 0;
            for n in 0..samples {
                let started = Instant::now();
                let (status, answer, _) =
                    call(&c.app, request(Method::GET, &uri, auth, None)).await;
                times.push(started.elapsed());
                anyhow::ensure!(
                    status.is_success() || status == StatusCode::NOT_FOUND,
                    "{uri}: {status} {answer}"
                );
                if n == 0 {
                    rows = answer["customers"]
                        .as_array()
                        .or(answer["documents"].as_array())
                        .or(answer["lines"].as_array())
                        .map_or(0, Vec::len);
                }
            }
            all.extend(times.iter().copied());
            times.sort();
            by_question.insert(
                (*name).to_owned(),
                json!({"rows": rows, "ms_p50": percentile(&times, 0.5), "ms_p95": percentile(&times, 0.95), "ms_p99": percentile(&times, 0.99)}),
            );
        }
        out.insert(who.to_owned(), Value::Object(by_question));
    }
    all.sort();
    Ok(json!({"customers": c.customers, "orders": c.orders,
        "all_ms_p50": percentile(&all, 0.5), "all_ms_p95": percentile(&all, 0.95), "all_ms_p99": percentile(&all, 0.99),
        "by_caller": out}))
}

async fn timed_post(
    app: &axum::Router,
    auth: &[(&str, String)],
    body: Value,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (status, answer, _) = call(
        app,
        request(Method::POST, "/api/v1/prices", auth, Some(&body)),
    )
    .await;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(status.is_success(), "price: {status} {answer}");
    Ok((ms * 1e3).round() / 1e3)
}

pub async fn crm(b: CrmBench) -> anyhow::Result<()> {
    let small = company(b.customers / 100, b.orders / 100, b.lines, 0).await?;
    let baseline = questions(&small, b.samples).await?;
    drop(small);
    let filled = Instant::now();
    let big = company(b.customers, b.orders, b.lines, b.quotations).await?;
    let fill_s = filled.elapsed().as_secs_f64();
    let measured = questions(&big, b.samples).await?;

    // Flagging: the manager (prices.manage) changes prices as a person, audited like any.
    let unused = timed_post(&big.app, &big.manager, json!({"item": "UNUSED", "currency": "CNY", "min_qty": "1", "price": "95", "valid_from": "2020-01-01"})).await?;
    let flag_first = timed_post(&big.app, &big.manager, json!({"item": "QUOTED", "currency": "CNY", "min_qty": "1", "price": "95", "valid_from": "2020-01-01"})).await?;
    let flag_again = timed_post(&big.app, &big.manager, json!({"item": "QUOTED", "currency": "CNY", "min_qty": "5", "price": "90", "valid_from": "2020-01-01"})).await?;
    let (status, flags, _) = call(
        &big.app,
        request(Method::GET, "/api/v1/crm/flags", &big.salesperson, None),
    )
    .await;
    anyhow::ensure!(status.is_success(), "flags: {status} {flags}");
    let per_salesperson = flags["flags"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        per_salesperson
            == b.quotations
                .div_ceil(SALESPEOPLE)
                .min(central::store::sales::MAX_LIST),
        "a salesperson sees {per_salesperson} flags; expected their share of {}",
        b.quotations
    );
    let ratio = |a: &Value, b: &Value| {
        let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
        if b > 0.0 {
            (a / b * 100.0).round() / 100.0
        } else {
            0.0
        }
    };
    println!(
        "{}",
        json!({"bench": "crm", "lines_per_order": b.lines, "samples": b.samples, "fill_s": (fill_s * 10.0).round() / 10.0,
            "search_and_lists": measured, "baseline_hundredth": baseline,
            "p95_ratio_to_baseline": ratio(&measured["all_ms_p95"], &baseline["all_ms_p95"]),
            "flagging": {"quotations": b.quotations, "price_post_ms_flagging_all": flag_first,
                "price_post_ms_updating_the_flags": flag_again, "price_post_ms_baseline_no_document": unused,
                "ratio": if unused > 0.0 { (flag_first / unused * 10.0).round() / 10.0 } else { 0.0 },
                "flags_a_salesperson_sees": per_salesperson}})
    );
    Ok(())
}
