//! The real processes a soak drives: `mes central` and `mes edge` (this very binary), and a
//! Mosquitto of its own. Each child is killed (SIGKILL) when its handle is dropped.

use anyhow::{Context, bail};
use protocol::Event;
use serde_json::Value;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a process may take to start, or an edge to drain, before the soak gives up.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Interval between two looks at a polled condition.
const POLL: Duration = Duration::from_millis(5);

/// A child process; SIGKILL and reaped when dropped.
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        log: &Path,
    ) -> anyhow::Result<Proc> {
        let out = File::create(log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(program);
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
        for (k, v) in envs {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name} ({})", program.display()))?;
        Ok(Proc {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        })
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and wait for the exit; an error if it does not stop or stops badly.
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                self.child = None;
                if !status.success() {
                    bail!(
                        "{} exited with {status} after SIGTERM:\n{}",
                        self.name,
                        tail(&self.log_text())
                    );
                }
                return Ok(());
            }
            if start.elapsed() > DEADLINE {
                self.kill();
                bail!("{} did not stop within {DEADLINE:?} of SIGTERM", self.name);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client without TLS settings builds")
}

// ---------------------------------------------------------------------------------------------

/// One central: its data directory and port survive restarts.
pub struct Central {
    pub addr: SocketAddr,
    mes: PathBuf,
    dir: PathBuf,
    store: Option<String>,
    admin_token: String,
    proc: Option<Proc>,
    n_starts: u32,
    http: reqwest::Client,
}

impl Central {
    pub async fn start(
        mes: &Path,
        dir: &Path,
        store: Option<&str>,
        admin_token: &str,
    ) -> anyhow::Result<Central> {
        std::fs::create_dir_all(dir)?;
        let mut central = Central {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            mes: mes.to_owned(),
            dir: dir.to_owned(),
            store: store.map(str::to_owned),
            admin_token: admin_token.to_owned(),
            proc: None,
            n_starts: 0,
            http: http_client(),
        };
        for _ in 0..5 {
            if central.try_launch().await? {
                return Ok(central);
            }
            central.addr.set_port(free_port()?);
        }
        bail!("central could not bind any of 5 free ports")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// (Re)starts central on its address, waiting while the address is still taken.
    pub async fn launch(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        while !self.try_launch().await? {
            if start.elapsed() > DEADLINE {
                bail!(
                    "central could not bind {} again within {DEADLINE:?}",
                    self.addr
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    async fn try_launch(&mut self) -> anyhow::Result<bool> {
        self.n_starts += 1;
        let listen = self.addr.to_string();
        let data = self.dir.join("data");
        let data = data.to_str().context("a UTF-8 directory")?.to_owned();
        let mut args = vec!["central", "--listen", &listen, "--data", &data];
        if let Some(store) = &self.store {
            args.extend(["--store", store]);
        }
        // One log per start would be 100s of files in a long run; the last few are kept.
        let log = self.dir.join(format!("central-{}.log", self.n_starts % 4));
        let mut proc = Proc::spawn(
            &format!("central #{}", self.n_starts),
            &self.mes,
            &args,
            &[("MES_ADMIN_TOKEN", &self.admin_token)],
            &log,
        )?;
        let healthz = format!("{}/healthz", self.url());
        let start = Instant::now();
        loop {
            if let Some(status) = proc.exited() {
                let log = proc.log_text();
                if log.contains("cannot listen") {
                    return Ok(false);
                }
                bail!(
                    "central exited with {status} while starting:\n{}",
                    tail(&log)
                );
            }
            if let Ok(r) = self
                .http
                .get(&healthz)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && r.status().is_success()
            {
                self.proc = Some(proc);
                return Ok(true);
            }
            if start.elapsed() > DEADLINE {
                bail!("central did not answer /healthz within {DEADLINE:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        match self.proc.take() {
            Some(mut p) => p.terminate().await,
            None => Ok(()),
        }
    }

    fn admin(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        r.bearer_auth(&self.admin_token)
    }

    /// Creates an edge and returns its token.
    pub async fn create_edge(&self, edge_id: &str) -> anyhow::Result<String> {
        let response = self
            .admin(self.http.post(format!("{}/api/v1/edges", self.url())))
            .json(&serde_json::json!({ "edge_id": edge_id }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if status != 201 {
            bail!("creating edge {edge_id}: {status} {body}");
        }
        body["token"]
            .as_str()
            .map(str::to_owned)
            .context("central's answer has no token")
    }

    /// The seq central acknowledges for the edge, or `None` if it does not answer.
    pub async fn acked_seq(&self, edge_id: &str) -> Option<u64> {
        let response = self
            .admin(self.http.get(format!("{}/api/v1/edges", self.url())))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        body["edges"]
            .as_array()?
            .iter()
            .find(|e| e["edge_id"] == edge_id)?["acked_seq"]
            .as_u64()
    }

    /// Every event central holds for the edge, page by page.
    pub async fn events(&self, edge_id: &str) -> anyhow::Result<Vec<Event>> {
        const PAGE: u64 = 10_000;
        let mut events = Vec::new();
        let mut from = 1u64;
        loop {
            let response = self
                .admin(
                    self.http
                        .get(format!("{}/api/v1/edges/{edge_id}/events", self.url())),
                )
                .query(&[("from", from), ("limit", PAGE)])
                .send()
                .await?;
            let status = response.status();
            let body: Value = response.json().await?;
            if status != 200 {
                bail!("listing events of {edge_id}: {status} {body}");
            }
            let page: Vec<Event> = serde_json::from_value(body["events"].clone())
                .context("central's page of events")?;
            let quarantined_last = body["quarantined"]
                .as_array()
                .and_then(|q| q.iter().filter_map(Value::as_u64).max());
            let Some(last) = page.last().map(|e| e.seq.0).max(quarantined_last) else {
                return Ok(events);
            };
            if last < from {
                bail!("central's page from={from} ends at {last}");
            }
            from = last + 1;
            events.extend(page);
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// An edge's home: its id, token, journal and configuration survive restarts.
pub struct EdgeHome {
    pub edge_id: String,
    mes: PathBuf,
    token: String,
    pub central_url: String,
    dir: PathBuf,
    batch_max_events: usize,
    n_starts: u32,
}

/// A running edge.
pub struct Edge {
    pub proc: Proc,
    pub http: Option<SocketAddr>,
}

/// The parts of the edge's `/api/v1/status` the soak reads.
#[derive(Debug, Clone, Copy)]
pub struct EdgeStatus {
    pub last_seq: u64,
    pub acked_seq: u64,
    pub backlog: u64,
}

impl EdgeHome {
    pub fn new(
        mes: &Path,
        dir: &Path,
        edge_id: &str,
        token: &str,
        central_url: &str,
        batch_max_events: usize,
    ) -> anyhow::Result<EdgeHome> {
        std::fs::create_dir_all(dir)?;
        Ok(EdgeHome {
            edge_id: edge_id.to_owned(),
            mes: mes.to_owned(),
            token: token.to_owned(),
            central_url: central_url.to_owned(),
            dir: dir.to_owned(),
            batch_max_events,
            n_starts: 0,
        })
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.db")
    }

    /// Starts the edge with `sources` (TOML `[[sources]]` tables) and returns at once.
    pub fn spawn(&mut self, sources: &str) -> anyhow::Result<Edge> {
        self.n_starts += 1;
        let text = format!(
            r#"edge_id = "{edge_id}"

[central]
url = "{url}"
token = "{token}"
batch_max_events = {batch}
request_timeout = "5s"
status_interval = "500ms"
plan_wait = "5s"
backoff_min = "10ms"
backoff_max = "200ms"

[journal]
path = "{journal}"

[http]
listen = "127.0.0.1:0"
{sources}"#,
            edge_id = self.edge_id,
            url = self.central_url,
            token = self.token,
            batch = self.batch_max_events,
            journal = self.journal_path().display(),
        );
        let config = self.dir.join("edge.toml");
        std::fs::write(&config, text)?;
        let log = self.dir.join(format!("edge-{}.log", self.n_starts % 4));
        let proc = Proc::spawn(
            &format!("edge {} #{}", self.edge_id, self.n_starts),
            &self.mes,
            &["edge", "--config", config.to_str().context("a UTF-8 path")?],
            &[],
            &log,
        )?;
        Ok(Edge { proc, http: None })
    }

    /// Starts the edge without sources, waits until central acknowledged everything its
    /// journal holds, stops it with SIGTERM and reads the journal.
    pub async fn drain(&mut self, http: &reqwest::Client) -> anyhow::Result<Vec<Event>> {
        let mut edge = self.spawn("")?;
        edge.wait_ready().await?;
        let start = Instant::now();
        loop {
            if let Some(s) = edge.status(http).await
                && s.acked_seq == s.last_seq
                && s.backlog == 0
            {
                break;
            }
            if start.elapsed() > DEADLINE {
                bail!(
                    "edge {} did not drain within {DEADLINE:?}: {:?}\n{}",
                    self.edge_id,
                    edge.status(http).await,
                    tail(&edge.proc.log_text())
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        edge.proc.terminate().await?;
        read_journal(&self.journal_path())
    }
}

impl Edge {
    /// Waits for the "edge agent started" line and takes the HTTP address from it.
    pub async fn wait_ready(&mut self) -> anyhow::Result<SocketAddr> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.proc.exited() {
                bail!(
                    "the edge exited with {status} while starting:\n{}",
                    tail(&self.proc.log_text())
                );
            }
            let addr = self
                .proc
                .log_text()
                .lines()
                .filter(|l| l.contains("edge agent started"))
                .find_map(|l| {
                    l.split_whitespace()
                        .find_map(|w| w.strip_prefix("http="))
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                });
            if let Some(addr) = addr {
                self.http = Some(addr);
                return Ok(addr);
            }
            if start.elapsed() > DEADLINE {
                bail!("the edge did not start within {DEADLINE:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn status(&self, http: &reqwest::Client) -> Option<EdgeStatus> {
        let addr = self.http?;
        let body: Value = http
            .get(format!("http://{addr}/api/v1/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(EdgeStatus {
            last_seq: body["last_seq"].as_u64()?,
            acked_seq: body["acked_seq"].as_u64()?,
            backlog: body["backlog"].as_u64()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The journal, read from outside (read-only, the edge stopped or killed)

fn open_read_only(path: &Path) -> anyhow::Result<Option<rusqlite::Connection>> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("open {}", path.display()))?;
    let has_schema: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events')",
        [],
        |row| row.get(0),
    )?;
    Ok(has_schema.then_some(conn))
}

/// Every event of the journal, in seq order.
pub fn read_journal(path: &Path) -> anyhow::Result<Vec<Event>> {
    let Some(conn) = open_read_only(path)? else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare("SELECT seq, json FROM events ORDER BY seq")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (seq, json) = row?;
        let event: Event = serde_json::from_str(&json)
            .with_context(|| format!("{}: seq {seq} is not an event", path.display()))?;
        events.push(event);
    }
    Ok(events)
}

/// A quick look after a kill: (first seq, last seq, rows, acked seq). Cheap at any size.
pub fn journal_summary(path: &Path) -> anyhow::Result<(u64, u64, u64, u64)> {
    let Some(conn) = open_read_only(path)? else {
        return Ok((0, 0, 0, 0));
    };
    let (first, last, rows): (i64, i64, i64) = conn.query_row(
        "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0), count(*) FROM events",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let acked: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'acked_seq'",
            [],
            |row| row.get(0),
        )
        .unwrap_or(0);
    Ok((first as u64, last as u64, rows as u64, acked as u64))
}

// ---------------------------------------------------------------------------------------------

/// A Mosquitto of the soak's own on a free port, persistence on, restarted on the same port.
pub struct Mosquitto {
    binary: PathBuf,
    pub addr: SocketAddr,
    dir: PathBuf,
    proc: Option<Proc>,
    n_starts: u32,
}

impl Mosquitto {
    /// The binary: `path` if given, else `mosquitto` on PATH or in /usr/sbin.
    pub fn find(path: Option<&Path>) -> anyhow::Result<PathBuf> {
        if let Some(p) = path {
            return Ok(p.to_owned());
        }
        let paths = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
            .map(|d| d.join("mosquitto"))
            .find(|p| p.is_file())
            .context("the mosquitto binary is not installed (apt-get install mosquitto); the broker-restart scenario needs it")
    }

    pub async fn start(binary: PathBuf, dir: &Path) -> anyhow::Result<Mosquitto> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        // Persistence on, so a broker stopped with SIGTERM keeps the sessions and the QoS 1
        // messages it acknowledged; no queue limit, so nothing acknowledged is dropped.
        let conf = format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {dir}/\n\
             autosave_on_changes true\n\
             autosave_interval 1\n\
             max_queued_messages 0\n\
             max_inflight_messages 20\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n\
             user root\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf)?;
        let mut m = Mosquitto {
            binary,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir: dir.to_owned(),
            proc: None,
            n_starts: 0,
        };
        m.run().await?;
        Ok(m)
    }

    pub async fn run(&mut self) -> anyhow::Result<()> {
        self.n_starts += 1;
        let conf = self.dir.join("mosquitto.conf");
        let mut proc = Proc::spawn(
            &format!("mosquitto #{}", self.n_starts),
            &self.binary,
            &["-c", conf.to_str().context("a UTF-8 path")?],
            &[],
            &self
                .dir
                .join(format!("mosquitto-{}.log", self.n_starts % 4)),
        )?;
        let start = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                self.proc = Some(proc);
                return Ok(());
            }
            if let Some(status) = proc.exited() {
                bail!(
                    "mosquitto exited with {status} while starting:\n{}",
                    tail(&proc.log_text())
                );
            }
            if start.elapsed() > DEADLINE {
                bail!(
                    "mosquitto did not listen on {} within {DEADLINE:?}",
                    self.addr
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM (Mosquitto saves its persistence file) and wait for the exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match self.proc.take() {
            Some(mut p) => p.terminate().await,
            None => Ok(()),
        }
    }
}
