//! `mes demo`: central and two edge agents reading simulated PLCs over Modbus TCP, on loopback, in one
//! process. The plant is built through central's ERP API, as a planner would: items, BOMs,
//! lines and work centers, routings, stock (an inventory import, posted to the ledger), a held
//! lot, sales demand, an MRP run, its planned orders firmed into work orders and released, which
//! sends them down to the lines as plans. Nothing is published as a raw plan: every work order
//! the terminals show is one of central's. At the end the demo checks that central's books
//! and the edges' journals agree ([`agreement`]).
//!
//! With `--postgres URL` central runs as two instances on that PostgreSQL database (two stores
//! opened on one URL, two listeners, in this process), as several instances behind a load
//! balancer would: the plant is built through the first, `line-1` syncs with the first and
//! `line-2` with the second, and the final check reads the second.

use anyhow::{Context, bail};
use chrono::{Duration as Days, Utc};
use edge_agent::{EdgeConfig, RunningEdge};
use protocol::{EdgeId, Event, EventKind, Seq};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

const EDGES: [&str; 2] = ["line-1", "line-2"];

/// The demo supervisor's PIN, printed with the URLs.
const DEMO_SUPERVISOR_PIN: &str = "2468";

/// The one-line summary `mes demo --for N` prints last.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub generated: u64,
    pub committed: u64,
    pub acknowledged: u64,
    pub at_central: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Work orders the edges run, each one of central's.
    pub work_orders: u64,
    /// Lots whose stock was compared.
    pub lots: u64,
    /// Good parts central booked to the work orders' operations (all of them agreeing with
    /// the edges' journals when `agree`).
    pub good: u64,
    /// Good parts the edges counted at no work order (a station no running order's routing
    /// names): kept unassigned, here and at central, not booked to an order.
    pub unassigned: u64,
    /// Central's work orders, stock and plan versions agree with the edges' journals and
    /// plans ([`agreement`]).
    pub agree: bool,
    /// What did not agree, one sentence each; empty when `agree`.
    pub disagreements: Vec<String>,
    /// Central instances the edges synced with: 1 on SQLite, 2 with `--postgres`.
    pub central_instances: u64,
}

/// Central's admin API, as the demo drives it (what a planner would do with curl).
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
    /// A person's session (cookie, CSRF token) instead of the token.
    session: Option<(String, String)>,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        text: Option<(&str, &str)>,
    ) -> anyhow::Result<Value> {
        let mut request = self.request(method.clone(), path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some((content_type, text)) = text {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(text.to_owned());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}: central does not answer"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path}: central answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Some(body), None)
            .await
    }

    async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::PUT, path, Some(body), None)
            .await
    }

    /// `login` signed in with `password`: an `Api` that acts as them.
    async fn sign_in(&self, login: &str, password: &str) -> anyhow::Result<Api> {
        let response = self
            .client
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"login": login, "password": password}))
            .send()
            .await
            .with_context(|| format!("{login} signs in: central does not answer"))?;
        if !response.status().is_success() {
            bail!("{login} signs in: central answered {}", response.status());
        }
        let cookie = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("mes_session="))
            .and_then(|v| v.split(';').next())
            .context("central set no session cookie")?
            .to_owned();
        let body: Value = response.json().await?;
        let csrf = body["csrf_token"]
            .as_str()
            .context("central gave no CSRF token")?
            .to_owned();
        Ok(Api {
            client: self.client.clone(),
            base: self.base.clone(),
            token: String::new(),
            session: Some((cookie, csrf)),
        })
    }

    /// A request to `path` as this `Api`: the person's session, else the token.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match &self.session {
            Some((cookie, csrf)) => request
                .header(reqwest::header::COOKIE, cookie)
                .header("x-csrf-token", csrf),
            None => request.bearer_auth(&self.token),
        }
    }

    /// A POST whose refusal is an answer, not an error: its status and body.
    async fn try_post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}: central does not answer"))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    async fn import(&self, kind: &str, csv: &str) -> anyhow::Result<Value> {
        self.import_as(kind, "text/csv", csv).await
    }

    /// An import of another content type (business cards as `text/vcard`).
    async fn import_as(&self, kind: &str, content_type: &str, text: &str) -> anyhow::Result<Value> {
        self.send(
            reqwest::Method::POST,
            &format!("/api/v1/import/{kind}"),
            None,
            Some((content_type, text)),
        )
        .await
    }
}

/// The stock the demo imports: `(item, lot, qty)`, all on rack RACK-A.
const STOCK: [(&str, &str, i64); 3] = [
    ("STEEL-2MM", "L-0001", 300),
    ("STEEL-2MM", "L-HOLD", 100),
    ("GREASE", "G-0001", 20),
];

/// Builds the plant through the ERP and returns, per line (edge), the work orders released to
/// it.
async fn build_plant(api: &Api) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    api.put(
        "/api/v1/warehouses/WH",
        json!({"description": "main store"}),
    )
    .await?;
    api.put(
        "/api/v1/warehouses/WH/locations/RACK-A",
        json!({"description": "rack A"}),
    )
    .await?;
    api.import(
        "items",
        "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock,scrap_pct,tracking,gtin\n\
         BRACKET-A,Bracket A,make,pcs,1,lfl,,,0,lot,\n\
         BRACKET-B,Bracket B,make,pcs,1,lfl,,,0,lot,\n\
         STEEL-2MM,Steel coil 2 mm,buy,kg,5,lfl,,,0,lot,09506000134352\n\
         GREASE,Press grease,buy,kg,3,lfl,,,0,lot,\n\
         BOLT-M8,Bolt M8,buy,pcs,3,lfl,,,0,none,\n",
    )
    .await?;
    // 0.05 kg of steel a bracket A, 0.08 kg a bracket B.
    api.import(
        "boms",
        "parent,component,qty_per,scrap_pct\n\
         BRACKET-A,STEEL-2MM,0.05,0\nBRACKET-A,GREASE,0.001,0\n\
         BRACKET-B,STEEL-2MM,0.08,0\nBRACKET-B,GREASE,0.001,0\n",
    )
    .await?;
    // Each line has two presses, at st-10 (stamp) and st-20 (form); the routing names both,
    // so every count of either press books to an operation of the order.
    for (n, (edge, item)) in EDGES.iter().zip(["BRACKET-A", "BRACKET-B"]).enumerate() {
        let line = *edge;
        api.put(
            &format!("/api/v1/lines/{line}"),
            json!({"description": format!("press line {}", n + 1), "edge_id": edge}),
        )
        .await?;
        let mut operations = Vec::new();
        for (op, what, station) in [(10, "stamp", "st-10"), (20, "form", "st-20")] {
            let wc = format!("L{}-{}", n + 1, what.to_uppercase());
            api.put(
                &format!("/api/v1/work-centers/{wc}"),
                json!({"description": format!("{what} press"), "line": line, "station": station}),
            )
            .await?;
            operations.push(json!({"operation": op, "description": what, "work_center": wc}));
        }
        api.put(
            &format!("/api/v1/routings/{item}"),
            json!({"operations": operations}),
        )
        .await?;
    }
    // Stock: a count posted to the ledger as opening balances; one lot on quality hold.
    let mut csv = String::from("item,lot,location,qty,note\n");
    for (item, lot, qty) in STOCK {
        csv.push_str(&format!("{item},{lot},RACK-A,{qty},demo opening stock\n"));
    }
    api.import("inventory", &csv).await?;
    api.post(
        "/api/v1/lots/L-HOLD/hold",
        json!({"reason": "QC-17 tensile test failed"}),
    )
    .await?;
    // Demand, MRP, firm every planned work order, release them: the plans go down.
    let today = Utc::now().date_naive();
    let due = today + Days::days(10);
    api.import(
        "demands",
        &format!(
            "item,qty,due_date,reference\nBRACKET-A,5000,{due},SO-1001\nBRACKET-B,5000,{due},SO-1002\n"
        ),
    )
    .await?;
    let plan = api
        .post(&format!("/api/v1/mrp/run?as_of={today}"), json!({}))
        .await?;
    let run = plan["run"]
        .as_u64()
        .context("central's mrp run has no run number")?;
    let firmed = api
        .post(
            &format!("/api/v1/mrp/runs/{run}/firm"),
            json!({"all": true, "priority": 1}),
        )
        .await?;
    let requisitions = api
        .get(&format!("/api/v1/mrp/runs/{run}/requisitions"))
        .await?;
    let mut by_line: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in firmed["firmed"].as_array().into_iter().flatten() {
        let wo = f["work_order"]
            .as_str()
            .context("a firmed order without a work order")?;
        let released = api
            .post(&format!("/api/v1/work-orders/{wo}/release"), json!({}))
            .await?;
        let line = released["line"].as_str().unwrap_or_default().to_owned();
        by_line.entry(line).or_default().push(wo.to_owned());
    }
    tracing::info!(
        run,
        planned_orders = plan["planned_orders"].as_array().map_or(0, Vec::len),
        work_orders = ?by_line,
        requisitions = requisitions["requisitions"].as_array().map_or(0, Vec::len),
        "demo plant built through the erp"
    );
    if by_line.values().map(Vec::len).sum::<usize>() != EDGES.len() {
        bail!("the demo's mrp run firmed {firmed}; expected one work order a line");
    }
    Ok(by_line)
}

/// A central instance of the demo: its URL, what stops it, its task.
struct Instance {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Runs the demo; `postgres`: central's PostgreSQL database (two instances on it), else
/// SQLite in a temporary directory (one instance).
pub async fn run(
    run_for: Option<Duration>,
    port: u16,
    postgres: Option<String>,
) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("mes-demo-")
        .tempdir()
        .context("cannot create a data directory for the demo")?;
    // A token in the environment is checked like central's (at least 32 characters).
    let admin_token = match std::env::var(central::config::ADMIN_TOKEN_ENV) {
        Ok(t) if !t.trim().is_empty() => {
            central::AdminToken::new(&t, central::config::ADMIN_TOKEN_ENV)?
        }
        _ => central::AdminToken::new(&central::new_token(), "a new random token")?,
    };

    // Central.
    let central_config = central::CentralConfig {
        listen: ([127, 0, 0, 1], port).into(),
        data_dir: dir.path().join("central"),
        ..Default::default()
    };
    // One instance on SQLite; two on PostgreSQL, each with a store of its own on the one
    // database, as two central processes behind a load balancer would have.
    let stores: Vec<std::sync::Arc<dyn central::Store>> = match &postgres {
        None => vec![central::open_sqlite_store(&central_config.data_dir).await?],
        Some(url) => {
            let mut stores = Vec::new();
            for _ in 0..2 {
                stores.push(central::open_postgres_store(url).await.with_context(|| {
                    format!(
                        "cannot open the PostgreSQL database {}",
                        central::store::sql::pg::redact_url(url)
                    )
                })?);
            }
            stores
        }
    };
    let store = stores[0].clone();
    // The demo builds its plant in the database it is given: one that holds edges already
    // (another demo's, or a real plant's) is refused, not mixed with.
    if postgres.is_some() {
        let existing = store.edges().await?;
        if let Some(edge) = existing.first() {
            bail!(
                "the PostgreSQL database already holds {} edge(s) ({}, …); the demo needs a fresh, empty database (createdb mes_demo)",
                existing.len(),
                edge.edge_id
            );
        }
    }
    store.ensure_bootstrap_admin().await?;
    let mut instances = Vec::new();
    for (i, instance_store) in stores.iter().enumerate() {
        // The first instance on `--port`; any others on any free port.
        let listener = if i > 0 {
            tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?
        } else {
            match tokio::net::TcpListener::bind(central_config.listen).await {
                Ok(l) => l,
                Err(e) if port != 0 => {
                    tracing::warn!(error = %e, port, "port taken; central takes any free port");
                    tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?
                }
                Err(e) => return Err(e.into()),
            }
        };
        let addr = listener.local_addr()?;
        let state =
            central::AppState::new(instance_store.clone(), admin_token.clone(), &central_config);
        let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(central::serve(listener, state, async move {
            let _ = stopping.await;
        }));
        instances.push(Instance {
            url: format!("http://{addr}"),
            stop,
            task,
        });
    }
    let central_url = instances[0].url.clone();

    // Simulated PLCs, two presses a line, served over Modbus TCP on loopback.
    let (stop_plcs, plcs_stopping) = tokio::sync::watch::channel(false);
    let mut plc_addrs = Vec::new();
    for n in 0..EDGES.len() * 2 {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        plc_addrs.push(listener.local_addr()?);
        let mut stopping = plcs_stopping.clone();
        tokio::spawn(edge_agent::sim::plc::run(
            listener,
            edge_agent::sim::plc::PlcOptions {
                cycle: Some(Duration::from_millis(100)),
                start_count: 65_400,
                slow: None,
                seed: Some(n as u64 + 1),
            },
            async move {
                let _ = stopping.wait_for(|s| *s).await;
            },
        ));
    }

    // The operator registry every plan carries down: an operator without a PIN and a
    // supervisor with one (who pairs terminals and approves lots beyond an order).
    for (badge, name, skills, pin) in [
        ("10442", "Li Wei", vec!["press".to_owned()], None),
        (
            "9001",
            "Zhang Min",
            vec!["press".to_owned(), protocol::SUPERVISOR_SKILL.to_owned()],
            Some(DEMO_SUPERVISOR_PIN),
        ),
    ] {
        let pin = match pin {
            Some(pin) => central::PinUpdate::Set(
                central::Pin::parse(pin)
                    .and_then(|p| p.hash())
                    .map_err(anyhow::Error::msg)?,
            ),
            None => central::PinUpdate::Keep,
        };
        store
            .put_operator(
                central::OperatorUpdate {
                    badge: badge.into(),
                    name: name.into(),
                    skills,
                    pin,
                    active: None,
                },
                Utc::now(),
            )
            .await?
            .map_err(|e| anyhow::anyhow!("the demo's operator {badge}: {e:?}"))?;
    }
    // Each line's terminal is a kiosk with a key of its own (its URL carries it).
    let kiosk_key = central::new_token();

    // The plant, through the ERP: every work order the lines run is one of central's.
    let api = Api {
        client: reqwest::Client::new(),
        base: central_url.clone(),
        token: admin_token.expose().to_owned(),
        session: None,
    };
    let mut tokens = Vec::new();
    for name in EDGES {
        let created = api.post("/api/v1/edges", json!({"edge_id": name})).await?;
        tokens.push(
            created["token"]
                .as_str()
                .context("central issued no edge token")?
                .to_owned(),
        );
    }
    let work_orders = build_plant(&api).await?;
    let people = make_people(&api).await?;
    let story = tell_story(&api, &people).await?;

    // Two edges, each with its own credential, fetching the plan the release published; with
    // two central instances, each edge syncs with one of them.
    let mut edges: Vec<(EdgeId, RunningEdge)> = Vec::new();
    for (i, (name, token)) in EDGES.iter().zip(&tokens).enumerate() {
        let edge_id = EdgeId::from(*name);
        let central_url = &instances[i % instances.len()].url;
        let config = EdgeConfig::from_toml_str(&format!(
            r#"
edge_id = "{name}"
[central]
url = "{central_url}"
token = "{token}"
status_interval = "2s"
[journal]
path = "{journal}"
[http]
listen = "127.0.0.1:0"
[[terminals]]
id = "kiosk"
stations = ["st-10", "st-20"]
key = "{kiosk_key}"
{presses}"#,
            journal = dir.path().join(format!("{name}.db")).display(),
            presses = (0..2)
                .map(|p| press_source(p + 1, plc_addrs[i * 2 + p]))
                .collect::<String>(),
        ))?;
        let edge = edge_agent::start(config).await?;
        edges.push((edge_id, edge));
    }

    let instance_urls: Vec<&str> = instances.iter().map(|i| i.url.as_str()).collect();
    print_urls(
        &instance_urls,
        admin_token.expose(),
        &kiosk_key,
        &edges,
        &work_orders,
        &people,
        &story,
        dir.path(),
    );

    match run_for {
        Some(d) => tokio::time::sleep(d).await,
        None => crate::shutdown_signal().await,
    }

    // Stop producing, let the uplinks drain, then compare the journals with central.
    for (_, edge) in edges.iter_mut() {
        edge.stop_sources().await;
    }
    for (edge_id, edge) in &edges {
        wait_drained(edge_id, edge, Duration::from_secs(30)).await;
    }
    // Checked at the last instance: with two, not the one the plant was built through.
    let last = instances.len() - 1;
    let check_api = Api {
        client: reqwest::Client::new(),
        base: instances[last].url.clone(),
        token: admin_token.expose().to_owned(),
        session: None,
    };
    let mut summary = summarize(&edges, stores[last].as_ref()).await?;
    summary.central_instances = instances.len() as u64;
    agreement(&check_api, &edges, &mut summary).await?;
    for (_, edge) in edges {
        edge.shutdown().await;
    }
    stop_plcs.send_replace(true);
    for instance in instances {
        let _ = instance.stop.send(());
        let _ = instance.task.await;
    }
    if summary.agree {
        eprintln!(
            "central and the edges agree: {} work orders (good and scrap per operation), {} lots (stock), plan versions",
            summary.work_orders, summary.lots
        );
        if summary.unassigned > 0 {
            eprintln!(
                "{} good parts were counted at stations no running order's routing names (kept unassigned)",
                summary.unassigned
            );
        }
    } else {
        for d in &summary.disagreements {
            eprintln!("disagreement: {d}");
        }
    }
    println!("{}", serde_json::to_string(&summary)?);
    if summary.lost > 0 || summary.duplicated > 0 || !summary.agree {
        bail!(
            "central and the edges do not agree: {} lost, {} duplicated, {} disagreements",
            summary.lost,
            summary.duplicated,
            summary.disagreements.len()
        );
    }
    Ok(())
}

/// A Modbus source reading one simulated press (register map of edge_agent::sim::plc, as in
/// configs/edge-modbus.toml): good and scrap counters, the state code, the hole diameter.
fn press_source(press: usize, addr: std::net::SocketAddr) -> String {
    format!(
        r#"
[[sources]]
type = "modbus"
device = "press-{press}"
host = "{addr}"
station = "st-{press}0"
timeout = "500ms"
interval = "1s"
[[sources.groups]]
name = "fast"
interval = "200ms"
[[sources.tags]]
name = "good"
address = "400001"
type = "u16"
group = "fast"
role = "counter"
counts = "good"
[[sources.tags]]
name = "scrap"
address = "400002"
type = "u16"
group = "fast"
role = "counter"
counts = "scrap"
[[sources.tags]]
name = "state"
address = "400003"
type = "u16"
group = "fast"
role = "state"
states = {{ 0 = "off", 1 = "running", 2 = "idle", 3 = "down: jam", 4 = "down: tool change", 5 = "setup" }}
"#
    )
}

/// One user of each role a person can hold, in the demo's plant, with a new password each:
/// a newcomer signs in as each of them and sees what that role may do.
async fn make_people(api: &Api) -> anyhow::Result<Vec<(String, String)>> {
    let mut people = Vec::new();
    for role in central::people::roles::Role::for_people() {
        let login = role.name().replace('_', "-");
        let password = central::people::users::generate_password();
        let plants: Vec<&str> = if role.company_wide() {
            Vec::new()
        } else {
            vec![central::people::plants::DEFAULT_PLANT]
        };
        api.put(
            &format!("/api/v1/users/{login}"),
            json!({
                "display_name": format!("Demo {}", role.name().replace('_', " ")),
                "roles": [role.name()],
                "plants": plants,
                "language": "zh",
                "password": password,
            }),
        )
        .await?;
        people.push((login, password));
    }
    Ok(people)
}

/// The business card a salesperson brings back from the trade fair, as a phone exports it.
const FAIR_CARD: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Zhang;Wei;;;\r\nFN:Zhang Wei\r\n\
ORG:艾克美自行车 Acme Bikes;Purchasing\r\nTITLE:Purchasing Manager\r\nTEL;TYPE=CELL:138-0013-8000\r\n\
EMAIL:zhang.wei@acme-bikes.example\r\nEND:VCARD\r\n";

/// Issue 17's story, as far as it runs without hands: the approvals people agreed on; a
/// salesperson's trip approved by the plant manager (blocked in the roster, a booking task
/// for the office); MRP's first requisition bought, approved and ordered from the preferred
/// supplier; the fair's business card imported as the customer; a quotation at 15 % off
/// approved by the sales manager and sent, then ordered and confirmed with a promised date;
/// the bracket's price changed for the customer, flagging an open quotation; material beyond
/// the BOM asked at a terminal waits for the supervisor (a workflow; the asking is by hand,
/// as is shipping the order once the line has made it).
/// Returns what to look at, one line a step.
async fn tell_story(api: &Api, people: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let as_person = |login: &'static str| {
        let password = people
            .iter()
            .find(|(l, _)| l == login)
            .map(|(_, p)| p.clone());
        async move {
            let password = password.with_context(|| format!("the demo has no user {login}"))?;
            api.sign_in(login, &password).await
        }
    };
    let by_role = |name: &str, role: &str, when: Option<Value>| {
        let mut step = json!({"name": name, "approvers": [{"by": "role", "role": role}],
                              "mode": {"need": "any"}});
        if let Some(when) = when {
            step["when"] = when;
        }
        json!([step])
    };
    let over = |field: &str, value: &str| {
        Some(json!({"if": "amount", "field": field, "op": "gt", "value": value}))
    };
    let supervisor = json!([{"name": "supervisor", "mode": {"need": "any"},
        "approvers": [{"by": "plant_role", "role": "supervisor", "field": "plant"}]}]);
    for (form, steps) in [
        ("travel", by_role("plant manager", "plant_manager", None)),
        ("material_requisition", supervisor),
        (
            "purchase_requisition",
            by_role("plant manager", "plant_manager", over("amount", "1000")),
        ),
        (
            "quotation_discount",
            by_role("sales manager", "sales_manager", over("discount_pct", "10")),
        ),
    ] {
        api.put(
            &format!("/api/v1/oa/workflows/{form}"),
            json!({"form": form, "steps": steps}),
        )
        .await?;
    }
    api.import(
        "suppliers",
        "supplier,item,lead_time_days,price,preferred\n\
         S-BAOSTEEL,STEEL-2MM,7,6.8,true\nS-LUBE,GREASE,3,45,true\n",
    )
    .await?;
    let sales = as_person("sales").await?;
    let boss = as_person("plant-manager").await?;
    let planner = as_person("planner").await?;
    let sales_manager = as_person("sales-manager").await?;
    let approve = |who: &Api, id: &Value| {
        let path = format!("/api/v1/oa/requests/{id}/approve");
        let who = who.clone();
        async move { who.post(&path, json!({"comment": "ok"})).await }
    };
    let mut told = Vec::new();

    // A trip to the trade fair.
    let today = Utc::now().date_naive();
    let (from, to) = (today + Days::days(30), today + Days::days(34));
    let trip = sales
        .post(
            "/api/v1/oa/requests",
            json!({"form": "travel", "values": {"destination": "Canton Fair 广交会",
                   "dates": {"from": from.to_string(), "to": to.to_string()},
                   "reason": "meet buyers", "budget": {"amount": "6800", "currency": "CNY"}}}),
        )
        .await?;
    approve(&boss, &trip["id"]).await?;
    told.push(format!(
        "trip approved     {}/oa/requests/{} (sales, approved by plant-manager); its days in {}/api/v1/roster?from={from}; the booking task on {}/oa as office",
        api.base, trip["id"], api.base, api.base
    ));

    // MRP's first requisition, bought through the plant manager's approval.
    let requisitions = api.get("/api/v1/mrp/runs/1/requisitions").await?;
    if let Some(first) = requisitions["requisitions"]
        .as_array()
        .and_then(|r| r.first())
    {
        let planned = first["planned_order"].as_str().unwrap_or_default();
        let (status, bought) = planner
            .try_post(
                &format!("/api/v1/mrp/runs/1/requisitions/{planned}/buy"),
                json!({}),
            )
            .await?;
        let order = match status {
            202 => {
                let number = bought["request"].clone();
                let all = api.get("/api/v1/oa/requests?view=all").await?;
                let id = all["requests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["number"] == number)
                    .map(|r| r["id"].clone())
                    .context("the requisition's request is not listed")?;
                approve(&boss, &id).await?;
                let orders = api.get("/api/v1/purchase-orders").await?;
                orders["purchase_orders"][0]["number"].clone()
            }
            200 | 201 => bought["purchase_order"]["number"].clone(),
            _ => bail!("buying {planned} was refused: {status} {bought}"),
        };
        let order = order.as_str().unwrap_or_default();
        told.push(format!(
            "steel bought      {}/api/v1/purchase-orders/{order} (planner, approved by plant-manager); receive it at a terminal: (95)RACK-A, then (01)09506000134352(3101)002000(10)SUP-1(400){order}",
            api.base
        ));
    }

    // A quotation at 15 % off: the sales manager's approval sends it.
    api.post(
        "/api/v1/prices",
        json!({"item": "BRACKET-A", "currency": "CNY", "price": "3.2", "valid_from": "2020-01-01"}),
    )
    .await?;
    // The fair's business card becomes the customer.
    let cards = sales.import_as("vcards", "text/vcard", FAIR_CARD).await?;
    let customer = cards["customers_created"][0].clone();
    if !customer.is_string() {
        bail!("the business card made no customer: {cards}");
    }
    told.push(format!(
        "card imported     {}/crm/customers (sales: the fair's business card is customer {})",
        api.base,
        customer.as_str().unwrap_or_default()
    ));
    let quote = |discount: &str| json!({"customer": customer, "lines": [{"item": "BRACKET-A", "qty": "2000", "discount_pct": discount}]});
    let quotation = sales.post("/api/v1/quotations", quote("15")).await?;
    let (status, waits) = sales
        .try_post(
            &format!("/api/v1/quotations/{}/send", quotation["id"]),
            json!({}),
        )
        .await?;
    if status != 409 {
        bail!("the discounted quotation did not wait for the sales manager: {status} {waits}");
    }
    let inbox = sales_manager.get("/api/v1/oa/requests?view=inbox").await?;
    approve(&sales_manager, &inbox["requests"][0]["id"]).await?;
    told.push(format!(
        "quotation sent    {}/crm/quotations/{} (sales, 15 % off, approved by sales-manager)",
        api.base, quotation["id"]
    ));
    // The customer orders: confirmed with a promised date, which MRP's next run plans; a
    // second quotation stays open.
    let order = sales
        .post(
            "/api/v1/sales-orders",
            json!({"quotation": quotation["id"]}),
        )
        .await?;
    let confirmed = sales
        .post(
            &format!("/api/v1/sales-orders/{}/confirm", order["id"]),
            json!({}),
        )
        .await?;
    told.push(format!(
        "order confirmed   {}/crm/orders/{} (sales, promised {}); ship it once the line made brackets: POST {}/api/v1/sales-orders/{}/deliveries",
        api.base,
        order["id"],
        confirmed["lines"][0]["confirmed_date"].as_str().unwrap_or("—"),
        api.base,
        order["id"]
    ));
    let open = sales.post("/api/v1/quotations", quote("0")).await?;
    // The bracket's price changes for the customer: the open quotation is flagged.
    api.post(
        "/api/v1/prices",
        json!({"item": "BRACKET-A", "currency": "CNY", "customer": customer, "price": "2.9",
               "valid_from": "2020-01-01"}),
    )
    .await?;
    let flags = sales.get("/api/v1/crm/flags").await?;
    let flagged = flags["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["document"] == open["id"]));
    if !flagged {
        bail!("the open quotation was not flagged by the price change: {flags}");
    }
    told.push(format!(
        "price changed     {}/crm/flags (quotation {} flagged: BRACKET-A now 2.9 for the customer)",
        api.base,
        open["number"].as_str().unwrap_or_default()
    ));
    // Material beyond the BOM waits for the plant's supervisor: asked by hand at a terminal.
    told.push(format!(
        "material asked    at a terminal, with a work order started: Ask for material (申请领料); supervisor approves on {}/oa, then the lot is taken",
        api.base
    ));
    Ok(told)
}

#[allow(clippy::too_many_arguments)]
fn print_urls(
    centrals: &[&str],
    admin_token: &str,
    kiosk_key: &str,
    edges: &[(EdgeId, RunningEdge)],
    work_orders: &BTreeMap<String, Vec<String>>,
    people: &[(String, String)],
    story: &[String],
    dir: &std::path::Path,
) {
    let central = centrals.first().copied().unwrap_or_default();
    eprintln!();
    eprintln!(
        "MES demo running: central and {} edge agents, each reading two simulated presses over Modbus TCP.",
        edges.len()
    );
    if centrals.len() > 1 {
        eprintln!(
            "  central runs as {} instances on one PostgreSQL database: {} (the edges split between them)",
            centrals.len(),
            centrals.join(", ")
        );
    }
    eprintln!(
        "  the plant was built through central's ERP: items, boms, routings, stock, demand, an MRP run"
    );
    eprintln!("  whose planned orders were firmed into work orders and released to the lines:");
    eprintln!(
        "  work orders       curl -H 'Authorization: Bearer {admin_token}' {central}/api/v1/work-orders"
    );
    eprintln!(
        "  stock             curl -H 'Authorization: Bearer {admin_token}' {central}/api/v1/inventory"
    );
    eprintln!("  central health    {central}/healthz");
    eprintln!("  central metrics   {central}/metrics");
    eprintln!(
        "  edges (admin)     curl -H 'Authorization: Bearer {admin_token}' {central}/api/v1/edges"
    );
    for (edge_id, edge) in edges {
        eprintln!(
            "  {edge_id} status    http://{}/api/v1/status",
            edge.http_addr
        );
        eprintln!("  {edge_id} metrics   http://{}/metrics", edge.http_addr);
        eprintln!(
            "  {edge_id} terminal  http://{}/terminal?station=st-10&key={kiosk_key}  (中文: &lang=zh)",
            edge.http_addr
        );
    }
    eprintln!(
        "  a terminal opened without the key shows its station and a pairing code: confirm it at"
    );
    eprintln!(
        "  the kiosk (\"Pair a terminal\") as supervisor 9001 with PIN {DEMO_SUPERVISOR_PIN}"
    );
    eprintln!("  scan these into a terminal (type them, then Enter):");
    eprintln!("    badge           (96)10442  (supervisor: (96)9001, PIN {DEMO_SUPERVISOR_PIN})");
    let orders: Vec<String> = work_orders
        .iter()
        .flat_map(|(line, wos)| wos.iter().map(move |wo| format!("(91){wo} on {line}")))
        .collect();
    eprintln!("    work order      {}", orders.join(", "));
    eprintln!("    right lot       (92)STEEL-2MM(93)L-0001(94)25kg  (300 kg on rack RACK-A)");
    eprintln!("    wrong item      (92)BOLT-M8(93)B-77(94)100pcs");
    eprintln!("    lot on hold     (92)STEEL-2MM(93)L-HOLD(94)25kg");
    eprintln!("    supplier label  (01)09506000134352(3101)000250(10)SUP-7(17)271231");
    eprintln!(
        "  sign in to central at {central}/sign-in as one of these (one per role; passwords are new each run):"
    );
    for (login, password) in people {
        eprintln!("    {login:<16} {password}");
    }
    eprintln!(
        "  the story of approvals (issue 17), with links to look at, signed in as these people:"
    );
    for line in story {
        eprintln!("    {line}");
    }
    eprintln!("  data              {}", dir.display());
    eprintln!("Ctrl-C stops it.");
    eprintln!();
}

async fn wait_drained(edge_id: &EdgeId, edge: &RunningEdge, limit: Duration) {
    let deadline = Instant::now() + limit;
    let last = match edge.journal.stats().await {
        Ok(s) => s.last_seq,
        Err(_) => return,
    };
    let mut acked = edge.live.watch_acked();
    let drained = tokio::time::timeout_at(deadline.into(), acked.wait_for(|a| *a >= last)).await;
    if drained.is_err() {
        tracing::warn!(%edge_id, %last, "central did not acknowledge everything in time");
    }
}

/// Compares every edge's journal with what central holds, event id by event id.
async fn summarize(
    edges: &[(EdgeId, RunningEdge)],
    store: &dyn central::Store,
) -> anyhow::Result<Summary> {
    let mut s = Summary::default();
    for (edge_id, edge) in edges {
        s.generated += edge.generated();
        let stats = edge.journal.stats().await?;
        s.committed += stats.last_seq.0;
        s.acknowledged += stats.acked_seq.0;
        s.at_central += store.count_events(edge_id).await?;
        let (lost, duplicated) = compare(edge_id, edge, store).await?;
        s.lost += lost;
        s.duplicated += duplicated;
    }
    Ok(s)
}

/// Events the edge committed that central lacks (or holds under another id), and events
/// central holds more than once or that the edge never committed.
async fn compare(
    edge_id: &EdgeId,
    edge: &RunningEdge,
    store: &dyn central::Store,
) -> anyhow::Result<(u64, u64)> {
    const PAGE: usize = 10_000;
    let mut central_ids = std::collections::HashMap::new();
    let mut duplicated = 0u64;
    let mut seen = HashSet::new();
    let mut from = Seq(1);
    loop {
        let page = store.event_ids(edge_id, from, PAGE).await?;
        let Some(&(last, _)) = page.last() else { break };
        for (seq, id) in page {
            if !seen.insert(id) {
                duplicated += 1;
            }
            central_ids.insert(seq, id);
        }
        from = last.next();
    }
    let mut lost = 0u64;
    let mut after = Seq::ZERO;
    loop {
        let page = edge.journal.read_after(after, PAGE).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        for e in page {
            let event: protocol::Event = serde_json::from_str(&e.json)?;
            match central_ids.remove(&e.seq) {
                Some(id) if id == event.id => {}
                _ => lost += 1,
            }
        }
        after = last;
    }
    // Whatever central still holds was never committed by this edge (or was pruned, which
    // the demo's retention of seven days rules out).
    duplicated += central_ids.len() as u64;
    Ok((lost, duplicated))
}

/// Per `(work order, operation)`: good and scrap the edge reported.
type Counts = BTreeMap<(String, u32), (u64, u64)>;

/// What one edge's journal says: counts per work order and operation, counts at no work
/// order, and the net stock movement per lot (`received + produced − issued`).
#[derive(Debug, Default)]
struct EdgeBook {
    counts: Counts,
    unassigned: (u64, u64),
    lots: BTreeMap<String, Decimal>,
}

async fn read_book(edge: &RunningEdge) -> anyhow::Result<EdgeBook> {
    const PAGE: usize = 10_000;
    let mut book = EdgeBook::default();
    let mut after = Seq::ZERO;
    loop {
        let page = edge.journal.read_after(after, PAGE).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        for e in page {
            let event: Event = serde_json::from_str(&e.json)?;
            book.add(&event.kind);
        }
        after = last;
    }
    Ok(book)
}

impl EdgeBook {
    fn add(&mut self, kind: &EventKind) {
        let mut lot_delta = |lot: &str, delta: Decimal| {
            let entry = self.lots.entry(lot.to_owned()).or_default();
            *entry = entry.checked_add(delta).unwrap_or(*entry);
        };
        match kind {
            EventKind::ProductionReported {
                work_order,
                operation,
                good,
                scrap,
            } => {
                let slot = match (work_order, operation) {
                    (Some(wo), Some(op)) => self.counts.entry((wo.0.clone(), *op)).or_default(),
                    _ => &mut self.unassigned,
                };
                slot.0 = slot.0.saturating_add(*good);
                slot.1 = slot.1.saturating_add(*scrap);
            }
            EventKind::MaterialIssued { lot, qty, .. } => lot_delta(&lot.0, -*qty),
            EventKind::MaterialReceived { lot, qty, .. }
            | EventKind::LotProduced { lot, qty, .. } => lot_delta(&lot.0, *qty),
            _ => {}
        }
    }
}

/// Central's books as its API shows them.
#[derive(Debug, Default)]
struct CentralBooks {
    /// Per work order: `(operation, good, scrap)`.
    orders: BTreeMap<String, Vec<(u32, u64, u64)>>,
    /// Order ids edges reported that central does not know, with their number of events.
    unmatched: Vec<(String, u64)>,
    /// Per lot, the stock summed over locations; `None` when central cannot sum it.
    lots: BTreeMap<String, Option<Decimal>>,
}

/// The floor's books: the edges' journals and plans, and the stock the demo imported.
#[derive(Debug, Default)]
struct FloorBooks {
    counts: Counts,
    unassigned: (u64, u64),
    /// Per lot: the import plus the edges' receipts and production less their issues.
    lots: BTreeMap<String, Decimal>,
    /// Work orders in the edges' plans.
    on_the_floor: BTreeSet<String>,
}

/// What does not agree between central's books and the floor's, one sentence each.
fn disagreements(central: &CentralBooks, floor: &FloorBooks) -> Vec<String> {
    let mut out = Vec::new();
    for wo in &floor.on_the_floor {
        if !central.orders.contains_key(wo) {
            out.push(format!(
                "{wo} is on the floor but not among central's work orders"
            ));
        }
    }
    for (wo, events) in &central.unmatched {
        out.push(format!(
            "the edges reported {events} events for {wo}, which central does not know"
        ));
    }
    let mut counts = floor.counts.clone();
    for (wo, operations) in &central.orders {
        for &(op, good, scrap) in operations {
            let edges = counts.remove(&(wo.clone(), op)).unwrap_or_default();
            if (good, scrap) != edges {
                out.push(format!(
                    "{wo} operation {op}: central has {good} good {scrap} scrap, the edges reported {} good {} scrap",
                    edges.0, edges.1
                ));
            }
        }
    }
    for ((wo, op), (good, scrap)) in counts {
        out.push(format!(
            "the edges reported {good} good {scrap} scrap for {wo} operation {op}, which central's order does not have"
        ));
    }
    for (lot, expected) in &floor.lots {
        match central.lots.get(lot) {
            Some(Some(held)) if held == expected => {}
            Some(Some(held)) => out.push(format!(
                "lot {lot}: central holds {held}, the import and the edges' movements make {expected}"
            )),
            Some(None) => out.push(format!("central cannot sum the stock of lot {lot}")),
            None if expected.is_zero() => {}
            None => out.push(format!(
                "lot {lot}: central has no stock of it, the import and the edges' movements make {expected}"
            )),
        }
    }
    out
}

/// Whether central's books and the edges agree, after the uplinks drained:
///
/// - every work order in an edge's plan is one of central's (`GET /api/v1/work-orders`), and
///   central knows of no order id it does not have (`unmatched-work-orders` is empty);
/// - per work order and operation, central's good and scrap equal the sum of the edges'
///   `production_reported` events for it;
/// - per lot, central's stock (`GET /api/v1/inventory?lot=`) equals the import plus what the
///   edges received and produced less what they issued;
/// - each edge runs the plan version central last published for it, and central's edge list
///   says so.
async fn agreement(
    api: &Api,
    edges: &[(EdgeId, RunningEdge)],
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let mut floor = FloorBooks {
        lots: STOCK
            .iter()
            .map(|(_, lot, qty)| ((*lot).to_owned(), Decimal::from(*qty)))
            .collect(),
        ..Default::default()
    };
    for (edge_id, edge) in edges {
        let book = read_book(edge).await?;
        for (key, (good, scrap)) in book.counts {
            let slot = floor.counts.entry(key).or_default();
            slot.0 += good;
            slot.1 += scrap;
        }
        floor.unassigned.0 += book.unassigned.0;
        floor.unassigned.1 += book.unassigned.1;
        for (lot, delta) in book.lots {
            let entry = floor.lots.entry(lot).or_default();
            *entry = entry.checked_add(delta).unwrap_or(*entry);
        }
        // The plan: the edge applies what central published (its downlink may still be
        // fetching the last version; wait for it, bounded).
        let published = api.get(&format!("/api/v1/edges/{edge_id}/plan")).await?["version"]
            .as_u64()
            .unwrap_or(0);
        let mut plan = edge.live.watch_plan();
        let applied = tokio::time::timeout(
            Duration::from_secs(10),
            plan.wait_for(|p| p.as_ref().is_some_and(|p| p.version.0 >= published)),
        )
        .await;
        let version = edge.live.plan_version().0;
        if applied.is_err() || version != published {
            out.push(format!(
                "{edge_id} runs plan version {version}, central published {published}"
            ));
        }
        if let Some(plan) = edge.live.plan() {
            floor
                .on_the_floor
                .extend(plan.work_orders.iter().map(|w| w.work_order.0.clone()));
        }
    }
    // Central learns the applied version from the edge's next poll or status report.
    let deadline = Instant::now() + Duration::from_secs(10);
    let central_edges = loop {
        let listed = api.get("/api/v1/edges").await?;
        let caught_up = listed["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| e["plan_version_applied"] == e["plan_version_published"]);
        if caught_up || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for e in central_edges["edges"].as_array().into_iter().flatten() {
        if e["plan_version_applied"] != e["plan_version_published"] {
            out.push(format!(
                "central says {} applied plan version {} of {}",
                e["edge_id"], e["plan_version_applied"], e["plan_version_published"]
            ));
        }
    }

    let mut central = CentralBooks::default();
    let listed = api.get("/api/v1/work-orders").await?;
    for w in listed["work_orders"].as_array().into_iter().flatten() {
        let Some(wo) = w["work_order"].as_str() else {
            continue;
        };
        let view = api.get(&format!("/api/v1/work-orders/{wo}")).await?;
        let operations = view["operations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|op| {
                (
                    op["operation"]
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(u32::MAX),
                    op["good"].as_u64().unwrap_or(0),
                    op["scrap"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        central.orders.insert(wo.to_owned(), operations);
    }
    let unmatched = api.get("/api/v1/unmatched-work-orders").await?;
    for u in unmatched["work_orders"].as_array().into_iter().flatten() {
        central.unmatched.push((
            u["work_order"].as_str().unwrap_or_default().to_owned(),
            u["events"].as_u64().unwrap_or(0),
        ));
    }
    for lot in floor.lots.keys() {
        let stock = api.get(&format!("/api/v1/inventory?lot={lot}")).await?;
        let rows = stock["on_hand"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            continue;
        }
        let sum = rows.iter().try_fold(Decimal::ZERO, |sum, row| {
            let qty: Decimal = row["qty"].as_str()?.parse().ok()?;
            sum.checked_add(qty)
        });
        central.lots.insert(lot.clone(), sum);
    }
    out.extend(disagreements(&central, &floor));
    summary.work_orders = floor.on_the_floor.len() as u64;
    summary.lots = floor.lots.len() as u64;
    summary.good = central
        .orders
        .values()
        .flatten()
        .map(|&(_, good, _)| good)
        .sum();
    summary.unassigned = floor.unassigned.0;
    summary.agree = out.is_empty();
    summary.disagreements = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books() -> (CentralBooks, FloorBooks) {
        let central = CentralBooks {
            orders: [("WO-000001".to_owned(), vec![(10, 120, 3), (20, 118, 1)])].into(),
            unmatched: Vec::new(),
            lots: [("L-0001".to_owned(), Some(Decimal::from(275)))].into(),
        };
        let floor = FloorBooks {
            counts: [
                (("WO-000001".to_owned(), 10), (120, 3)),
                (("WO-000001".to_owned(), 20), (118, 1)),
            ]
            .into(),
            unassigned: (0, 0),
            lots: [("L-0001".to_owned(), Decimal::from(275))].into(),
            on_the_floor: ["WO-000001".to_owned()].into(),
        };
        (central, floor)
    }

    #[test]
    fn books_that_agree_say_nothing() {
        let (central, floor) = books();
        assert_eq!(disagreements(&central, &floor), Vec::<String>::new());
    }

    /// Each way the books can differ is named: a count, an operation central lacks, an order
    /// it does not know, an unmatched order, a lot's stock.
    #[test]
    fn every_difference_is_named() {
        let (central, mut floor) = books();
        floor.counts.insert(("WO-000001".to_owned(), 20), (119, 1));
        floor.counts.insert(("WO-000001".to_owned(), 30), (5, 0));
        floor.on_the_floor.insert("WO-1001".to_owned());
        floor.lots.insert("L-0001".to_owned(), Decimal::from(250));
        floor.lots.insert("L-0002".to_owned(), Decimal::from(1));
        let mut central = central;
        central.unmatched.push(("WO-9".to_owned(), 4));
        let found = disagreements(&central, &floor);
        for expected in [
            "WO-1001 is on the floor but not among central's work orders",
            "the edges reported 4 events for WO-9",
            "WO-000001 operation 20: central has 118 good 1 scrap, the edges reported 119 good 1 scrap",
            "for WO-000001 operation 30, which central's order does not have",
            "lot L-0001: central holds 275, the import and the edges' movements make 250",
            "lot L-0002: central has no stock of it",
        ] {
            assert!(
                found.iter().any(|d| d.contains(expected)),
                "{expected:?} not in {found:#?}"
            );
        }
        assert_eq!(found.len(), 6, "{found:#?}");
    }
}
