//! `mes bench oa` (issue 17): requests and approvals at a company's size, through central's
//! router in process (`oneshot`, as `mes bench crm` does), on SQLite.
//!
//! 200 people report to 10 managers; the expense workflow is one step, the requester's
//! manager. The store is filled with `requests` open requests (100k by default) through the
//! same form check and engine as the API ([`central::store::sql::OaBenchFill`]).
//!
//! 1. **Inbox**: a manager's inbox (`view=inbox`, the newest 100 of their 10k) and a
//!    requester's own list, `samples` times each: p50, p95, p99. The baseline, in the same
//!    run, is the same questions on a store a hundredth of the size.
//! 2. **Approvals**: the manager approves `approvals` of their requests through
//!    `POST /api/v1/oa/requests/{id}/approve`, `concurrency` at a time; each is one durable
//!    write transaction (the engine, the request's row, its inbox rows, the audit trail).
//!    Approvals per second over the wall time.
//! 3. **Timers**: `timers` open requests (10k by default) on a workflow that reminds after an
//!    hour, all submitted at once, so all their reminders fall due at the same instant; they
//!    are fired as central's timer loop fires them ([`central::notify::TIMER_BATCH`] per
//!    transaction, each reminder noted in the trail, its notification, its webhook post and
//!    the next reminder written): the wall time until none is left. The baseline, in the
//!    same run, is a tenth as many.

use super::crm::{ADMIN, PASSWORD, call, ok, percentile, request, session};
use axum::http::Method;
use central::store::sql::{OaBenchFill, SqlStore};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MANAGERS: usize = 10;
const STAFF: usize = 200;

pub struct OaBench {
    pub requests: usize,
    pub samples: usize,
    pub approvals: usize,
    pub concurrency: usize,
    pub timers: usize,
}

struct Company {
    store: Arc<SqlStore>,
    app: axum::Router,
    manager: Vec<(&'static str, String)>,
    requester: Vec<(&'static str, String)>,
    requests: usize,
    _dir: tempfile::TempDir,
}

/// A company with `requests` open expense requests; with `remind`, its workflow reminds the
/// manager after 60 minutes (each request's reminder is due an hour after the fill).
async fn company(requests: usize, remind: bool) -> anyhow::Result<Company> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_owned();
    let sql = Arc::new(tokio::task::spawn_blocking(move || SqlStore::open(&path)).await??);
    let store: Arc<dyn central::Store> = sql.clone();
    store.ensure_bootstrap_admin().await?;
    let token = central::AdminToken::new(ADMIN, "the bench")?;
    let state = central::AppState::new(store, token, &central::CentralConfig::default());
    let app = central::app(state);
    for m in 0..MANAGERS {
        ok(&app, Method::PUT, &format!("/api/v1/users/mgr{m:02}"), json!({"display_name": format!("Manager {m}"), "roles": ["supervisor"], "plants": ["default"], "password": PASSWORD})).await?;
    }
    let mut requesters = Vec::with_capacity(STAFF);
    for n in 0..STAFF {
        let login = format!("st{n:03}");
        ok(&app, Method::PUT, &format!("/api/v1/users/{login}"), json!({"display_name": login, "roles": ["viewer"], "plants": ["default"], "password": PASSWORD, "manager": format!("mgr{:02}", n % MANAGERS)})).await?;
        requesters.push(login);
    }
    ok(
        &app,
        Method::PUT,
        "/api/v1/oa/workflows/expense",
        if remind {
            json!({"form": "expense", "steps": [
                {"name": "manager", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"},
                 "remind_after_minutes": 60}
            ]})
        } else {
            json!({"form": "expense", "steps": [
                {"name": "manager", "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"}}
            ]})
        },
    )
    .await?;
    let Value::Object(values) = json!({"type": "expense", "amount": {"amount": "388.50", "currency": "CNY"},
        "date": "2026-12-01", "reason": "taxi to the supplier's plant and back"})
    else {
        anyhow::bail!("the bench's values are an object");
    };
    sql.fill_oa_for_bench(OaBenchFill {
        requests,
        form: "expense".into(),
        requesters,
        values: values as Map<String, Value>,
    })
    .await?;
    Ok(Company {
        store: sql,
        manager: session(&app, "mgr03").await?,
        requester: session(&app, "st013").await?,
        app,
        requests,
        _dir: dir,
    })
}

/// Each list `samples` times: latencies and how many rows each answered.
async fn lists(c: &Company, samples: usize) -> anyhow::Result<Value> {
    let mut out = Map::new();
    let mut all = Vec::new();
    for (name, uri, auth) in [
        ("inbox", "/api/v1/oa/requests?view=inbox", &c.manager),
        ("mine", "/api/v1/oa/requests?view=mine", &c.requester),
        (
            "inbox, pending only",
            "/api/v1/oa/requests?view=inbox&state=pending",
            &c.manager,
        ),
    ] {
        let mut times = Vec::with_capacity(samples);
        let mut rows = 0;
        for n in 0..samples {
            let started = Instant::now();
            let (status, answer, _) = call(&c.app, request(Method::GET, uri, auth, None)).await;
            times.push(started.elapsed());
            anyhow::ensure!(status.is_success(), "{uri}: {status} {answer}");
            if n == 0 {
                rows = answer["requests"].as_array().map_or(0, Vec::len);
            }
        }
        all.extend(times.iter().copied());
        times.sort();
        out.insert(
            name.to_owned(),
            json!({"rows": rows, "ms_p50": percentile(&times, 0.5), "ms_p95": percentile(&times, 0.95), "ms_p99": percentile(&times, 0.99)}),
        );
    }
    all.sort();
    Ok(json!({"requests": c.requests, "all_ms_p95": percentile(&all, 0.95), "lists": out}))
}

/// The manager approves `n` of their requests, `concurrency` at a time: approvals a second.
async fn approvals(c: &Company, n: usize, concurrency: usize) -> anyhow::Result<Value> {
    // Requests go to requesters in turn and st{k} reports to mgr{k % 10}: mgr03's are the ids
    // whose requester index is 3 modulo 10.
    let ids: Vec<i64> = (1..=c.requests as i64)
        .filter(|id| ((id - 1) as usize % STAFF) % MANAGERS == 3)
        .take(n)
        .collect();
    anyhow::ensure!(ids.len() == n, "only {} requests to approve", ids.len());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(n.div_ceil(concurrency.max(1))) {
        let (app, auth, chunk) = (c.app.clone(), c.manager.clone(), chunk.to_vec());
        tasks.spawn(async move {
            let mut times = Vec::with_capacity(chunk.len());
            for id in chunk {
                let uri = format!("/api/v1/oa/requests/{id}/approve");
                let t = Instant::now();
                let (status, answer, _) =
                    call(&app, request(Method::POST, &uri, &auth, Some(&json!({})))).await;
                times.push(t.elapsed());
                anyhow::ensure!(
                    status.is_success() && answer["state"] == "approved",
                    "{uri}: {status} {answer}"
                );
            }
            Ok::<Vec<Duration>, anyhow::Error>(times)
        });
    }
    let mut times = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        times.extend(done??);
    }
    let wall = started.elapsed().as_secs_f64();
    times.sort();
    Ok(
        json!({"approvals": n, "concurrency": concurrency, "wall_s": (wall * 1000.0).round() / 1000.0,
        "per_second": (n as f64 / wall).round(),
        "ms_p50": percentile(&times, 0.5), "ms_p99": percentile(&times, 0.99)}),
    )
}

/// `n` reminders due at once, fired as the timer loop fires them: the wall time.
async fn timers(n: usize) -> anyhow::Result<Value> {
    use central::store::notify::NotifyStore;
    use central::store::oa::OaStore;
    let c = company(n, true).await?;
    let due = c
        .store
        .next_oa_timer()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no timer was set"))?;
    let started = Instant::now();
    let mut fired = 0;
    let mut batches = 0;
    loop {
        let f = c
            .store
            .fire_oa_timers(due, central::notify::TIMER_BATCH)
            .await?;
        batches += 1;
        fired += f.reminders;
        if f.total() < central::notify::TIMER_BATCH {
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(fired == n, "{fired} of {n} reminders fired");
    let outbox = c.store.outbox(1).await?;
    anyhow::ensure!(!outbox.is_empty(), "no webhook post was written");
    Ok(
        json!({"timers": n, "batches": batches, "wall_s": (wall * 1000.0).round() / 1000.0,
        "per_second": (n as f64 / wall).round()}),
    )
}

pub async fn oa(b: OaBench) -> anyhow::Result<()> {
    let timers_baseline = timers(b.timers / 10).await?;
    let timers_measured = timers(b.timers).await?;
    let small = company(b.requests / 100, false).await?;
    let baseline = lists(&small, b.samples).await?;
    drop(small);
    let filled = Instant::now();
    let big = company(b.requests, false).await?;
    let fill_s = filled.elapsed().as_secs_f64();
    let measured = lists(&big, b.samples).await?;
    let approved = approvals(&big, b.approvals, b.concurrency).await?;
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
        json!({"bench": "oa", "samples": b.samples, "fill_s": (fill_s * 10.0).round() / 10.0,
            "lists": measured, "baseline_hundredth": baseline,
            "p95_ratio_to_baseline": ratio(&measured["all_ms_p95"], &baseline["all_ms_p95"]),
            "approvals": approved, "timers": timers_measured, "timers_baseline_tenth": timers_baseline})
    );
    Ok(())
}
