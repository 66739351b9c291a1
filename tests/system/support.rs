//! Shared machinery of the whole-system tests: the real `mes` binary run as separate processes
//! (a guard kills each one when the test ends, also on panic), launchers for central and edges,
//! a read-only reader of an edge's journal, and the exactly-once comparison between a journal
//! and what central holds.

use protocol::{EdgeId, Event, EventBatch, EventId, EventKind, PROTOCOL_VERSION, Seq, Source};
use serde_json::Value;
use std::fs::File;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The bootstrap admin token every central of these tests starts with (at least 32
/// characters, or central refuses to start).
pub const ADMIN_TOKEN: &str = "system-test-admin-token-0123456789abcdef";

/// The key of the line terminal every edge of these tests knows (`[[terminals]]`, stations
/// st-10 to st-30): what a kiosk's URL carries and a script sends as a bearer credential.
pub const TERMINAL_KEY: &str = "system-test-terminal-key-0123456789abcdef";

/// How long a condition may take before a test gives up on it.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Interval between two checks of a polled condition.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Polls `check` until it yields a value; panics naming `what` after `deadline`.
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "gave up after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A temporary directory for one test. With `MES_SYSTEM_KEEP_DIRS=1` it is kept (and its
/// path printed), so the processes' logs and the journals can be read afterwards.
pub fn temp_dir() -> tempfile::TempDir {
    let mut dir = tempfile::Builder::new()
        .prefix("mes-system-")
        .tempdir()
        .expect("create a temp dir");
    if std::env::var_os("MES_SYSTEM_KEEP_DIRS").is_some_and(|v| v == "1") {
        dir.disable_cleanup(true);
        println!("keeping {}", dir.path().display());
    }
    dir
}

/// An HTTP client that never goes through a proxy (these tests talk to 127.0.0.1 only).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client builds")
}

/// [`http_client`] for HTTPS, trusting the CA certificates of the PEM file `ca` only.
pub fn https_client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("read the CA file");
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).expect("PEM certificates"))
        .build()
        .expect("an HTTPS client builds")
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A child process of the test. Dropping it kills it (SIGKILL) and reaps it; when the test is
/// panicking, the tail of the process's log is printed so the failure can be read.
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Runs the `mes` binary with `args`; stdout and stderr go to `log`.
    pub fn spawn_mes(name: &str, args: &[&str], envs: &[(&str, &str)], log: &Path) -> Proc {
        let out = File::create(log).expect("create the log file");
        let err = out.try_clone().expect("clone the log file handle");
        let mut command = Command::new(env!("CARGO_BIN_EXE_mes"));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info");
        for proxy in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            command.env_remove(proxy);
        }
        for (key, value) in envs {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        }
    }

    /// The process's output so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().expect("try_wait on a child")
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Err means it has already exited; reaping below covers that too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (a graceful stop) and wait for the exit; panics if the process does not stop
    /// within the deadline or exits unsuccessfully.
    pub async fn terminate(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", self.name);
        let exit = wait_until(
            &format!("{} to exit after SIGTERM", self.name),
            DEADLINE,
            || {
                let exited = self.exited();
                async move { exited }
            },
        )
        .await;
        self.child = None;
        assert!(
            exit.success(),
            "{} exited with {exit} after SIGTERM; log:\n{}",
            self.name,
            tail(&std::fs::read_to_string(&self.log).unwrap_or_default())
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let was_running = self.child.is_some();
        self.kill();
        if std::thread::panicking() && was_running {
            eprintln!("---- log of {} ----\n{}", self.name, tail(&self.log_text()));
        }
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Removes ANSI escape sequences, in case a logger colours its output anyway.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A port that was free a moment ago (bound on port 0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

// ---------------------------------------------------------------------------------------------
// Central

/// One central: its data directory and address survive restarts of its process.
pub struct Central {
    pub addr: SocketAddr,
    dir: PathBuf,
    config: Option<PathBuf>,
    proc: Option<Proc>,
    n_starts: u32,
    http: reqwest::Client,
    /// `https` when its configuration has `[tls]`.
    scheme: &'static str,
    /// Passed as `--store` (a PostgreSQL URL) when set; else central's SQLite in its directory.
    store: Option<String>,
}

/// An edge as central's `GET /api/v1/edges` lists it.
#[derive(Debug, Clone)]
pub struct EdgeSummary {
    pub acked_seq: u64,
    pub revoked: bool,
}

impl Central {
    /// A central that has not started yet, on a port that is free now. `config_toml`, when
    /// given, is written next to the data directory and passed with `--config`.
    pub fn new(dir: &Path, config_toml: Option<&str>) -> Central {
        std::fs::create_dir_all(dir).expect("create central's directory");
        let config = config_toml.map(|text| {
            let path = dir.join("central.toml");
            std::fs::write(&path, text).expect("write central.toml");
            path
        });
        Central {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            dir: dir.to_owned(),
            config,
            proc: None,
            n_starts: 0,
            http: http_client(),
            scheme: "http",
            store: None,
        }
    }

    /// Starts a central whose `config_toml` has a `[tls]` table: it is reached over HTTPS by
    /// a client that trusts the CA certificates in `ca` only.
    pub async fn start_tls(dir: &Path, config_toml: &str, ca: &Path) -> Central {
        let mut central = Central::new(dir, Some(config_toml));
        central.http = https_client(ca);
        central.scheme = "https";
        for _ in 0..5 {
            if central.try_launch().await {
                return central;
            }
            central.addr.set_port(free_port());
        }
        panic!("central could not bind any of 5 free ports");
    }

    /// Starts a new central on a free port (retrying with another port if it was taken).
    pub async fn start(dir: &Path, config_toml: Option<&str>) -> Central {
        let mut central = Central::new(dir, config_toml);
        for _ in 0..5 {
            if central.try_launch().await {
                return central;
            }
            central.addr.set_port(free_port());
        }
        panic!("central could not bind any of 5 free ports");
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// (Re)starts central on its address, retrying while the address is still taken.
    pub async fn launch(&mut self) {
        let addr = self.addr;
        let start = Instant::now();
        while !self.try_launch().await {
            assert!(
                start.elapsed() < DEADLINE,
                "central could not bind {addr} again within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the process and waits until `/healthz` answers. False if it could not bind;
    /// panics on any other early exit.
    async fn try_launch(&mut self) -> bool {
        assert!(self.proc.is_none(), "central is already running");
        self.n_starts += 1;
        let listen = self.addr.to_string();
        let data = self.dir.join("data");
        let data = data.to_str().expect("utf-8 temp path");
        let mut args = vec!["central", "--listen", &listen, "--data", data];
        if let Some(store) = &self.store {
            args.extend(["--store", store.as_str()]);
        }
        let config;
        if let Some(path) = &self.config {
            config = path.to_str().expect("utf-8 temp path").to_owned();
            args.extend(["--config", &config]);
        }
        let log = self.dir.join(format!("central-{}.log", self.n_starts));
        let mut proc = Proc::spawn_mes(
            &format!("central #{} on {listen}", self.n_starts),
            &args,
            &[("MES_ADMIN_TOKEN", ADMIN_TOKEN)],
            &log,
        );
        let healthz = format!("{}/healthz", self.url());
        let start = Instant::now();
        loop {
            if let Some(status) = proc.exited() {
                let log = proc.log_text();
                if log.contains("cannot listen") {
                    return false;
                }
                panic!("central exited with {status} while starting; log:\n{log}");
            }
            if let Ok(response) = self.http.get(&healthz).send().await
                && response.status().is_success()
            {
                self.proc = Some(proc);
                return true;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "central did not answer /healthz within {DEADLINE:?}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// SIGKILL: no graceful shutdown, in-flight requests are cut.
    pub fn kill(&mut self) {
        let mut proc = self.proc.take().expect("central is running");
        proc.kill();
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn terminate(&mut self) {
        let mut proc = self.proc.take().expect("central is running");
        proc.terminate().await;
    }

    fn admin(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(ADMIN_TOKEN)
    }

    /// Creates an edge and returns its token.
    pub async fn create_edge(&self, edge_id: &str) -> String {
        let response = self
            .admin(self.http.post(format!("{}/api/v1/edges", self.url())))
            .json(&serde_json::json!({ "edge_id": edge_id }))
            .send()
            .await
            .expect("POST /api/v1/edges");
        assert_eq!(response.status(), 201, "creating edge {edge_id}");
        let body: Value = response.json().await.expect("json answer");
        body["token"]
            .as_str()
            .expect("the answer has a token")
            .to_owned()
    }

    pub async fn revoke_edge(&self, edge_id: &str) {
        let response = self
            .admin(
                self.http
                    .post(format!("{}/api/v1/edges/{edge_id}/revoke", self.url())),
            )
            .send()
            .await
            .expect("POST revoke");
        assert_eq!(response.status(), 204, "revoking edge {edge_id}");
    }

    /// Publishes the next plan version for an edge and returns central's answer (the plan).
    pub async fn publish_plan(&self, edge_id: &str, work_orders: Value) -> Value {
        let response = self
            .admin(
                self.http
                    .post(format!("{}/api/v1/edges/{edge_id}/plans", self.url())),
            )
            .json(&serde_json::json!({ "work_orders": work_orders }))
            .send()
            .await
            .expect("POST plans");
        assert_eq!(response.status(), 201, "publishing a plan for {edge_id}");
        response.json().await.expect("json answer")
    }

    /// Registers (or changes) an operator in central's registry, which every plan carries to
    /// the lines: `pin` for a badge that signs in with one.
    pub async fn put_operator(&self, badge: &str, name: &str, skills: &[&str], pin: Option<&str>) {
        let mut body = serde_json::json!({ "name": name, "skills": skills });
        if let Some(pin) = pin {
            body["pin"] = pin.into();
        }
        let response = self
            .admin(
                self.http
                    .put(format!("{}/api/v1/operators/{badge}", self.url())),
            )
            .json(&body)
            .send()
            .await
            .expect("PUT operator");
        let status = response.status();
        assert!(
            status.is_success(),
            "registering operator {badge}: {status}"
        );
    }

    /// `GET path` with the admin token, answered within 2 s with a success status; `None`
    /// otherwise.
    async fn admin_get(&self, path: &str) -> Option<reqwest::Response> {
        let response = self
            .admin(self.http.get(format!("{}{path}", self.url())))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        response.status().is_success().then_some(response)
    }

    /// The edge's entry in `GET /api/v1/edges`, as JSON; `None` if unknown or if central does
    /// not answer.
    pub async fn edge_json(&self, edge_id: &str) -> Option<Value> {
        let body: Value = self.admin_get("/api/v1/edges").await?.json().await.ok()?;
        body["edges"]
            .as_array()?
            .iter()
            .find(|e| e["edge_id"] == edge_id)
            .cloned()
    }

    /// The edge as central lists it; `None` if unknown or if central does not answer.
    pub async fn try_edge(&self, edge_id: &str) -> Option<EdgeSummary> {
        let e = self.edge_json(edge_id).await?;
        Some(EdgeSummary {
            acked_seq: e["acked_seq"].as_u64().expect("acked_seq is a number"),
            revoked: e["revoked"].as_bool().unwrap_or(false),
        })
    }

    pub async fn edge(&self, edge_id: &str) -> EdgeSummary {
        self.try_edge(edge_id)
            .await
            .unwrap_or_else(|| panic!("central does not list edge {edge_id}"))
    }

    /// Every event central holds for the edge, fetched page by page from the admin API.
    pub async fn events(&self, edge_id: &str) -> Vec<Event> {
        const PAGE: usize = 10_000;
        let mut events: Vec<Event> = Vec::new();
        let mut from = 1u64;
        loop {
            let response = self
                .admin(
                    self.http
                        .get(format!("{}/api/v1/edges/{edge_id}/events", self.url())),
                )
                .query(&[("from", from), ("limit", PAGE as u64)])
                .send()
                .await
                .expect("GET events");
            assert_eq!(response.status(), 200, "listing events of {edge_id}");
            let body: Value = response.json().await.expect("json page");
            let page: Vec<Event> =
                serde_json::from_value(body["events"].clone()).expect("a page of events");
            // Quarantined events are listed by seq beside the page; the next page starts
            // after them too.
            let quarantined_last = body["quarantined"]
                .as_array()
                .and_then(|q| q.iter().filter_map(|s| s.as_u64()).max());
            assert!(
                page.len() <= PAGE,
                "central returned more than limit={PAGE}"
            );
            let last = page.last().map(|e| e.seq.0).max(quarantined_last);
            let Some(last) = last else {
                return events;
            };
            assert!(
                page.first().is_none_or(|e| e.seq.0 >= from),
                "page from={from} starts below {from}"
            );
            from = last + 1;
            events.extend(page);
        }
    }

    /// Posts a raw body to the sync route; `token` `None` sends no authorization header.
    pub async fn post_sync(
        &self,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/api/v1/sync/events", self.url()))
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.expect("POST /api/v1/sync/events")
    }

    /// Posts a batch and returns the status and the JSON answer.
    pub async fn post_batch(&self, token: &str, batch: &EventBatch) -> (u16, Value) {
        let body = serde_json::to_vec(batch).expect("encode batch");
        let response = self
            .post_sync(Some(token), Some("application/json"), body)
            .await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a json answer");
        (status, body)
    }
}

/// A signed-in person's API client, with a session as the pages have (the CRM and OA are for
/// people, not the admin token).
pub struct Person {
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Person {
    pub async fn sign_in(base: &str, login: &str, password: &str) -> Person {
        let http = http_client();
        let response = http
            .post(format!("{base}/api/v1/session"))
            .json(&serde_json::json!({"login": login, "password": password}))
            .send()
            .await
            .expect("central answers");
        assert_eq!(response.status().as_u16(), 200, "{login} signs in");
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("mes_session="))
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let body: Value = response.json().await.expect("json");
        Person {
            base: base.to_owned(),
            http,
            cookie,
            csrf: body["csrf_token"].as_str().expect("csrf").to_owned(),
        }
    }

    /// Any request; its status and JSON body (null when it has none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("central answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A body of another content type (CSV, vCards); its status and JSON body.
    pub async fn call_bytes(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("central answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A GET that must answer 200.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A POST that must answer 2xx.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(
            (200..300).contains(&status),
            "POST {path}: {status} {reply}"
        );
        reply
    }
}

// ---------------------------------------------------------------------------------------------
// Edges

/// A simulated source, as `[[sources]]` in the edge's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Simulated {
    pub machines: u32,
    pub cycle_ms: u64,
    pub max_events: Option<u64>,
    pub seed: u64,
}

/// Tuning of an edge's link to central.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub batch_max_events: usize,
}

/// An edge's home: its id, credential, journal and configuration survive restarts.
pub struct EdgeHome {
    pub edge_id: String,
    token: String,
    central_url: String,
    dir: PathBuf,
    link: Link,
    n_starts: u32,
    /// More settings of the `[central]` table, as TOML lines (`ca_file = "…"`).
    central_extra: String,
    /// `[central] plan_wait`: how long one plan long poll lasts.
    plan_wait: String,
}

/// A running edge process.
pub struct Edge {
    pub proc: Proc,
    pub http: Option<SocketAddr>,
    client: reqwest::Client,
}

/// The edge's `GET /api/v1/status`, the parts these tests read.
#[derive(Debug, Clone)]
pub struct EdgeStatus {
    pub last_seq: u64,
    pub acked_seq: u64,
    pub backlog: u64,
    pub connected: bool,
    pub inconsistency: Option<String>,
}

impl EdgeHome {
    pub fn new(dir: &Path, edge_id: &str, token: &str, central_url: &str, link: Link) -> EdgeHome {
        std::fs::create_dir_all(dir).expect("create the edge's directory");
        EdgeHome {
            edge_id: edge_id.to_owned(),
            token: token.to_owned(),
            central_url: central_url.to_owned(),
            dir: dir.to_owned(),
            link,
            n_starts: 0,
            central_extra: String::new(),
            plan_wait: "5s".to_owned(),
        }
    }

    /// The same home with `toml` (lines such as `ca_file = "…"`) added to its `[central]`
    /// table.
    pub fn with_central_settings(mut self, toml: &str) -> EdgeHome {
        self.central_extra.push_str(toml);
        if !self.central_extra.ends_with('\n') {
            self.central_extra.push('\n');
        }
        self
    }

    /// The same home with plan long polls lasting `wait` (`"25s"`) instead of 5 s.
    pub fn with_plan_wait(mut self, wait: &str) -> EdgeHome {
        wait.clone_into(&mut self.plan_wait);
        self
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.db")
    }

    fn write_config(&self, source: Option<Simulated>) -> PathBuf {
        self.write_config_with(source, "")
    }

    /// The configuration, with `extra` (more `[[sources]]`, say) appended as written.
    fn write_config_with(&self, source: Option<Simulated>, extra: &str) -> PathBuf {
        let mut text = format!(
            r#"edge_id = "{edge_id}"

[central]
url = "{url}"
token = "{token}"
batch_max_events = {batch}
request_timeout = "5s"
status_interval = "500ms"
plan_wait = "{plan_wait}"
backoff_min = "10ms"
backoff_max = "200ms"
{central_extra}
[journal]
path = "{journal}"

[http]
listen = "127.0.0.1:0"

[[terminals]]
id = "kiosk"
stations = ["st-10", "st-20", "st-30"]
key = "{terminal_key}"
"#,
            terminal_key = TERMINAL_KEY,
            edge_id = self.edge_id,
            url = self.central_url,
            token = self.token,
            batch = self.link.batch_max_events,
            journal = self.journal_path().display(),
            central_extra = self.central_extra,
            plan_wait = self.plan_wait,
        );
        if let Some(sim) = source {
            text.push_str(&format!(
                "\n[[sources]]\ntype = \"simulated\"\nmachines = {}\ncycle = \"{}ms\"\nseed = {}\n",
                sim.machines, sim.cycle_ms, sim.seed
            ));
            if let Some(max) = sim.max_events {
                text.push_str(&format!("max_events = {max}\n"));
            }
        }
        text.push_str(extra);
        let path = self.dir.join(format!("edge-{}.toml", self.n_starts));
        std::fs::write(&path, text).expect("write the edge config");
        path
    }

    /// Starts the edge process and returns at once, without waiting for it to be ready.
    pub fn spawn(&mut self, source: Option<Simulated>) -> Edge {
        self.n_starts += 1;
        let config = self.write_config(source);
        let log = self.dir.join(format!("edge-{}.log", self.n_starts));
        let proc = Proc::spawn_mes(
            &format!("edge {} #{}", self.edge_id, self.n_starts),
            &[
                "edge",
                "--config",
                config.to_str().expect("utf-8 temp path"),
            ],
            &[],
            &log,
        );
        Edge {
            proc,
            http: None,
            client: http_client(),
        }
    }

    /// Starts the edge process with `extra` appended to its configuration (its own sources,
    /// written as TOML), and returns at once.
    pub fn spawn_with(&mut self, extra: &str) -> Edge {
        self.n_starts += 1;
        let config = self.write_config_with(None, extra);
        let log = self.dir.join(format!("edge-{}.log", self.n_starts));
        let proc = Proc::spawn_mes(
            &format!("edge {} #{}", self.edge_id, self.n_starts),
            &[
                "edge",
                "--config",
                config.to_str().expect("utf-8 temp path"),
            ],
            &[],
            &log,
        );
        Edge {
            proc,
            http: None,
            client: http_client(),
        }
    }

    /// Starts the edge process and waits until its HTTP face is up.
    pub async fn start(&mut self, source: Option<Simulated>) -> Edge {
        let mut edge = self.spawn(source);
        edge.wait_ready().await;
        edge
    }

    /// What the journal file holds; the edge process must be gone or stopped.
    pub fn read_journal(&self) -> Journal {
        Journal::read(&self.journal_path())
    }
}

impl Edge {
    /// Waits for the edge's "started" log line and takes its HTTP address from it.
    pub async fn wait_ready(&mut self) -> SocketAddr {
        if let Some(addr) = self.http {
            return addr;
        }
        let proc = &mut self.proc;
        let addr = wait_until("the edge to log its HTTP address", DEADLINE, || {
            if let Some(status) = proc.exited() {
                panic!(
                    "the edge exited with {status} while starting; log:\n{}",
                    proc.log_text()
                );
            }
            let addr = strip_ansi(&proc.log_text())
                .lines()
                .filter(|line| line.contains("edge agent started"))
                .find_map(|line| {
                    line.split_whitespace()
                        .find_map(|word| word.strip_prefix("http="))
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                });
            async move { addr }
        })
        .await;
        self.http = Some(addr);
        addr
    }

    /// `GET /api/v1/status`, or `None` if the edge does not answer.
    pub async fn try_status(&self) -> Option<EdgeStatus> {
        let addr = self.http.expect("wait_ready before asking for the status");
        let response = self
            .client
            .get(format!("http://{addr}/api/v1/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        Some(EdgeStatus {
            last_seq: body["last_seq"].as_u64().expect("last_seq"),
            acked_seq: body["acked_seq"].as_u64().expect("acked_seq"),
            backlog: body["backlog"].as_u64().expect("backlog"),
            connected: body["central"]["connected"].as_bool().unwrap_or(false),
            inconsistency: body["central"]["inconsistency"].as_str().map(str::to_owned),
        })
    }

    /// `GET /api/v1/status` as JSON, or `None` if the edge does not answer.
    pub async fn status_json(&self) -> Option<Value> {
        let addr = self.http.expect("wait_ready before asking for the status");
        let response = self
            .client
            .get(format!("http://{addr}/api/v1/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// GET of any path on the edge's HTTP face: status code, content type and body.
    pub async fn get(&self, path: &str) -> (u16, String, String) {
        let addr = self.http.expect("wait_ready before asking the edge");
        let response = self
            .client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .expect("the edge answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (
            status,
            content_type,
            response.text().await.unwrap_or_default(),
        )
    }

    /// Waits until the status satisfies `condition`, and returns that status.
    pub async fn wait_status(
        &self,
        what: &str,
        condition: impl Fn(&EdgeStatus) -> bool,
    ) -> EdgeStatus {
        wait_until(what, DEADLINE, || async {
            self.try_status().await.filter(|s| condition(s))
        })
        .await
    }

    /// Waits until central has acknowledged everything the journal holds, with at least
    /// `at_least` events committed.
    pub async fn wait_drained(&self, at_least: u64) -> EdgeStatus {
        self.wait_status(
            &format!("the edge to be drained with at least {at_least} events"),
            |s| s.last_seq >= at_least && s.acked_seq == s.last_seq && s.backlog == 0,
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// The journal, read from outside

/// An edge's journal file as read (read-only) after the edge process stopped.
#[derive(Debug, Default)]
pub struct Journal {
    pub events: Vec<Event>,
    pub acked_seq: u64,
}

impl Journal {
    pub fn read(path: &Path) -> Journal {
        Journal::try_read(path).expect("read the journal")
    }

    /// Reads the file; a file not created yet (the edge was killed before creating it) reads
    /// as empty.
    pub fn try_read(path: &Path) -> rusqlite::Result<Journal> {
        if !path.exists() {
            return Ok(Journal::default());
        }
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let has_schema: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
            [],
            |row| row.get(0),
        )?;
        if !has_schema {
            return Ok(Journal::default());
        }
        let acked: i64 = conn.query_row(
            "SELECT value FROM meta WHERE key = 'acked_seq'",
            [],
            |row| row.get(0),
        )?;
        let mut stmt = conn.prepare("SELECT seq, json FROM events ORDER BY seq")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut events = Vec::new();
        for row in rows {
            let (seq, json) = row?;
            let event: Event = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("journal row seq {seq} is not an event: {e}: {json}"));
            assert_eq!(
                event.seq.0, seq as u64,
                "journal row seq {seq} holds an event with seq {}",
                event.seq
            );
            events.push(event);
        }
        Ok(Journal {
            events,
            acked_seq: acked as u64,
        })
    }

    pub fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq.0)
    }

    /// A value of the journal's `state` table (a counter's last committed total, say), read
    /// while the edge may be running; `None` if the file, the table or the key is not there yet.
    pub fn state(path: &Path, key: &str) -> Option<String> {
        if !path.exists() {
            return None;
        }
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        conn.query_row("SELECT value FROM state WHERE key = ?1", [key], |row| {
            row.get(0)
        })
        .ok()
    }

    /// Good parts in the journal's production events.
    pub fn good(&self) -> u64 {
        self.events
            .iter()
            .map(|e| match e.kind {
                EventKind::ProductionReported { good, .. } => good,
                _ => 0,
            })
            .sum()
    }
}

// ---------------------------------------------------------------------------------------------
// MQTT

/// Mosquitto at 127.0.0.1:1883, or `None` when it is not running (then the test is skipped,
/// except in CI (`CI=true`), where `.ci/run` starts it and its absence fails the test).
pub async fn mosquitto() -> Option<SocketAddr> {
    let addr: SocketAddr = "127.0.0.1:1883".parse().expect("an address");
    match tokio::net::TcpStream::connect(addr).await {
        Ok(_) => Some(addr),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("Mosquitto is not running at {addr} ({e}); .ci/run starts it")
        }
        Err(e) => {
            eprintln!(
                "skipped: Mosquitto is not running at {addr} ({e}); `mosquitto -d` starts it"
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The exactly-once check

/// Checks that `events` are exactly seqs 1..=n, in order, each once, with distinct ids.
pub fn assert_contiguous_from_one(what: &str, events: &[Event]) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            event.seq.0,
            i as u64 + 1,
            "{what}: position {i} holds seq {}, expected {} (a gap or a duplicate)",
            event.seq,
            i + 1
        );
    }
    let mut ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    ids.sort_by_key(|id| id.0);
    for pair in ids.windows(2) {
        assert_ne!(
            pair[0], pair[1],
            "{what}: event id {} appears twice",
            pair[0]
        );
    }
}

/// Central holds every event of `expected` exactly once, with the same id (and the same
/// content), nothing else, and acknowledges exactly the last one.
pub async fn assert_central_holds_exactly(central: &Central, edge_id: &str, expected: &[Event]) {
    assert_contiguous_from_one(&format!("expected events of {edge_id}"), expected);
    let held = central.events(edge_id).await;
    assert_contiguous_from_one(&format!("central's events of {edge_id}"), &held);
    for (want, got) in expected.iter().zip(&held) {
        assert_eq!(
            want.id, got.id,
            "seq {}: central holds event id {}, the edge committed {}",
            want.seq, got.id, want.id
        );
        assert_eq!(want, got, "seq {}: central's event differs", want.seq);
    }
    assert_eq!(
        held.len(),
        expected.len(),
        "central holds {} events of {edge_id}, expected {}",
        held.len(),
        expected.len()
    );
    let last = expected.last().map_or(0, |e| e.seq.0);
    assert_eq!(
        central.edge(edge_id).await.acked_seq,
        last,
        "central's acked seq for {edge_id}"
    );
}

/// The journal of a stopped edge is fully acknowledged, and central holds exactly its events.
pub async fn assert_exactly_once(central: &Central, home: &EdgeHome) -> Journal {
    let journal = home.read_journal();
    assert_contiguous_from_one("the journal", &journal.events);
    assert_eq!(
        journal.acked_seq,
        journal.last_seq(),
        "the journal's acked seq after the final drain"
    );
    assert_central_holds_exactly(central, &home.edge_id, &journal.events).await;
    journal
}

// ---------------------------------------------------------------------------------------------
// Hand-made events and batches

/// `n` fresh events of `edge_id` with seqs `first..first+n`.
pub fn make_events(edge_id: &str, first: u64, n: u64) -> Vec<Event> {
    (first..first + n)
        .map(|seq| Event {
            edge_id: EdgeId::new(edge_id),
            seq: Seq(seq),
            id: EventId(uuid::Uuid::now_v7()),
            at: chrono::Utc::now(),
            source: Source::default(),
            kind: EventKind::ProductionReported {
                work_order: None,
                operation: None,
                good: seq,
                scrap: 0,
            },
        })
        .collect()
}

pub fn batch(edge_id: &str, events: &[Event]) -> EventBatch {
    EventBatch {
        protocol: PROTOCOL_VERSION,
        edge_id: EdgeId::new(edge_id),
        events: events.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Plans with lots, and posting to an edge

impl Central {
    /// Publishes the next plan version with the whole content (`work_orders`, and `lots` or
    /// `gtins` when given) and returns central's answer (the plan).
    pub async fn publish_plan_content(&self, edge_id: &str, content: &Value) -> Value {
        let response = self
            .admin(
                self.http
                    .post(format!("{}/api/v1/edges/{edge_id}/plans", self.url())),
            )
            .json(content)
            .send()
            .await
            .expect("POST plans");
        let status = response.status();
        let body: Value = response.json().await.expect("json answer");
        assert_eq!(status, 201, "publishing a plan for {edge_id}: {body}");
        body
    }
}

impl Edge {
    /// POST of a JSON body to the edge's HTTP face, as the line's terminal (its key): status
    /// code and JSON answer.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_json_as(Some(TERMINAL_KEY), path, body).await
    }

    /// POST with `key` as the bearer credential, or none.
    pub async fn post_json_as(&self, key: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
        let addr = self.http.expect("wait_ready before posting to the edge");
        let mut request = self.client.post(format!("http://{addr}{path}"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.json(body).send().await.expect("the edge answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

// ---------------------------------------------------------------------------------------------
// Several central instances on one PostgreSQL database, behind a load balancer

/// Whether this run is CI (`CI=true`), where a missing service fails the test.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A service the test needs is missing: in CI the test fails; elsewhere it prints `skipped`
/// and the caller returns.
fn missing_service(what: &str, hint: &str) {
    if in_ci() {
        panic!("{what}; {hint}");
    }
    eprintln!("skipped: {what}; {hint}");
}

/// The program `name` in `PATH`, or in `/usr/sbin` and `/sbin` (where Debian puts HAProxy and
/// nginx, outside a normal user's `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A throwaway database on the test PostgreSQL server (dropped with the value), or `None`
/// when the server is not there (the test is skipped, except in CI, where it fails).
pub fn scratch_postgres(prefix: &str) -> Option<central::store::sql::pg::ScratchDatabase> {
    let server = central::store::sql::pg::test_server_url();
    match central::store::sql::pg::ScratchDatabase::create(&server, prefix) {
        Ok(db) => Some(db),
        Err(e) => {
            missing_service(
                &format!("no PostgreSQL to make a database on ({e})"),
                ".ci/run starts one at 127.0.0.1:5432 (user postgres, trust auth); MES_TEST_POSTGRES names another",
            );
            None
        }
    }
}

impl Central {
    /// Starts a central on a free port with `--store store_url` (PostgreSQL): several such
    /// centrals on one URL are instances of one central.
    pub async fn start_on_store(dir: &Path, store_url: &str) -> Central {
        let mut central = Central::new(dir, None);
        central.store = Some(store_url.to_owned());
        for _ in 0..5 {
            if central.try_launch().await {
                return central;
            }
            central.addr.set_port(free_port());
        }
        panic!("central could not bind any of 5 free ports");
    }
}

impl Central {
    /// A counter or gauge of this instance's `/metrics` (summed over its labels), or `None` if
    /// central does not answer or does not show it.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self.admin_get("/metrics").await?.text().await.ok()?;
        let values: Vec<f64> = text
            .lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }
}

impl Proc {
    /// Runs `program` with `args`; stdout and stderr go to `log`.
    pub fn spawn_program(name: &str, program: &Path, args: &[&str], log: &Path) -> Proc {
        let out = File::create(log).expect("create the log file");
        let err = out.try_clone().expect("clone the log file handle");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        }
    }
}

/// The load balancers the tests put in front of several centrals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalancerKind {
    HaProxy,
    Nginx,
}

impl BalancerKind {
    fn program_name(self) -> &'static str {
        match self {
            BalancerKind::HaProxy => "haproxy",
            BalancerKind::Nginx => "nginx",
        }
    }

    /// The balancer's program, or `None` when it is not installed (the test is skipped,
    /// except in CI, where it fails).
    pub fn program(self) -> Option<PathBuf> {
        let name = self.program_name();
        let found = find_program(name);
        if found.is_none() {
            missing_service(
                &format!("{name} is not installed"),
                &format!("`apt-get install {name}` (.ci/run installs it)"),
            );
        }
        found
    }

    /// The configuration: round robin over `backends`, a dead backend skipped (its
    /// connections refused: the request goes to the next one), timeouts beyond the longest
    /// plan long poll (30 s), every file under `dir`.
    fn config(self, dir: &Path, port: u16, backends: &[SocketAddr]) -> String {
        let dir = dir.display();
        match self {
            BalancerKind::HaProxy => {
                let mut text = format!(
                    r#"global
    maxconn 512

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 10s
    # A refused connection is tried again, on another server.
    retries 3
    option redispatch 1

frontend mes
    bind 127.0.0.1:{port}
    default_backend centrals

backend centrals
    balance roundrobin
    option httpchk GET /healthz
    default-server inter 200ms fall 2 rise 1
"#
                );
                for (i, addr) in backends.iter().enumerate() {
                    text.push_str(&format!("    server central-{i} {addr} check\n"));
                }
                text
            }
            BalancerKind::Nginx => {
                let servers: String = backends
                    .iter()
                    .map(|addr| format!("        server {addr} max_fails=1 fail_timeout=1s;\n"))
                    .collect();
                format!(
                    r#"worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 512;
}}

http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Bodies and answers stay in memory: no temporary files.
    client_max_body_size 16m;
    client_body_buffer_size 16m;
    proxy_buffering off;

    upstream centrals {{
{servers}        keepalive 16;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://centrals;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_connect_timeout 1s;
            proxy_send_timeout 60s;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"#
                )
            }
        }
    }
}

/// A load balancer (HAProxy or nginx) in the foreground, a child of the test, on a free port.
pub struct LoadBalancer {
    pub addr: SocketAddr,
    pub proc: Proc,
}

impl LoadBalancer {
    /// Writes the configuration under `dir`, starts `program` and waits until `/healthz`
    /// answers through it (retrying with another port if the one chosen was taken).
    pub async fn start(
        kind: BalancerKind,
        program: &Path,
        dir: &Path,
        backends: &[SocketAddr],
    ) -> LoadBalancer {
        std::fs::create_dir_all(dir).expect("create the balancer's directory");
        let http = http_client();
        for attempt in 1..=5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let config = dir.join(format!("{}.conf", kind.program_name()));
            std::fs::write(&config, kind.config(dir, addr.port(), backends))
                .expect("write the balancer's configuration");
            let config = config.to_str().expect("utf-8 temp path");
            let log = dir.join(format!("{}-{attempt}.log", kind.program_name()));
            let prefix = format!("{}/", dir.display());
            let error_log = dir.join("error.log");
            let args: Vec<&str> = match kind {
                BalancerKind::HaProxy => vec!["-f", config, "-db"],
                BalancerKind::Nginx => vec![
                    "-p",
                    prefix.as_str(),
                    "-e",
                    error_log.to_str().expect("utf-8 temp path"),
                    "-c",
                    config,
                    "-g",
                    "daemon off;",
                ],
            };
            let mut proc = Proc::spawn_program(
                &format!("{} on {addr}", kind.program_name()),
                program,
                &args,
                &log,
            );
            let healthz = format!("http://{addr}/healthz");
            let start = Instant::now();
            let up = loop {
                if let Some(status) = proc.exited() {
                    let text = format!(
                        "{}{}",
                        proc.log_text(),
                        std::fs::read_to_string(&error_log).unwrap_or_default()
                    );
                    if text.contains("in use") {
                        break false;
                    }
                    panic!(
                        "{} exited with {status} while starting; log:\n{text}",
                        kind.program_name()
                    );
                }
                if let Ok(response) = http.get(&healthz).send().await
                    && response.status().is_success()
                {
                    break true;
                }
                assert!(
                    start.elapsed() < DEADLINE,
                    "{} did not pass /healthz through within {DEADLINE:?}",
                    kind.program_name()
                );
                tokio::time::sleep(POLL_INTERVAL).await;
            };
            if up {
                return LoadBalancer { addr, proc };
            }
        }
        panic!("{} could not bind any of 5 free ports", kind.program_name());
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
