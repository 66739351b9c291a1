//! The edge agent's configuration: TOML, strict (`deny_unknown_fields`), parsed into a raw
//! shape and then validated, with every mistake reported with its line.

pub mod floor;
pub mod modbus;

pub use self::floor::{
    ConfiguredTerminal, HealthSettings, HttpSettings, MIN_SECRET_LEN, TerminalSettings,
};
use crate::journal::{Durability, JournalConfig};
use protocol::{EdgeId, Secret};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub edge_id: EdgeId,
    pub central: CentralLink,
    pub journal: JournalSettings,
    pub http: HttpSettings,
    pub sources: Vec<SourceConfig>,
    /// The embedded MQTT broker, when the agent runs one: where it listens, the devices'
    /// logins and topic rights (`broker/config.rs`).
    pub mqtt_broker: Option<crate::broker::config::BrokerConfig>,
    /// Where the edge publishes its own line state (andon boards, local HMIs), if anywhere.
    pub line_state: Option<LineStateConfig>,
    /// `[[stations]]`: stations named here (the plan and the sources name others) and their
    /// label printers.
    pub stations: Vec<StationConfig>,
    /// `[limits]`: the largest quantities operators may record, the completion tolerance.
    pub limits: crate::processor::scan::Limits,
    /// `[terminal]`, `[[terminals]]`: pairing, and terminals with credentials of their own.
    pub terminals: TerminalSettings,
    /// `[health]`: when `/healthz` says the agent is not well.
    pub health: HealthSettings,
    /// `[runtime]`: the threads the agent runs on.
    pub runtime: RuntimeSettings,
}

/// `[runtime]`: threads sized to a small gateway rather than to the machine. Each thread costs
/// stack and, with glibc, a malloc arena of its own; an agent polling a few dozen devices is
/// mostly waiting, and two workers keep a slow step (a large commit's encoding, a big HTTP
/// answer) from delaying the polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    /// Async worker threads (tokio's default would be one per core).
    pub worker_threads: usize,
    /// Most threads for blocking calls (name lookups, file reads); the journal's SQLite has a
    /// thread of its own and is not counted here. Calls beyond it wait their turn.
    pub max_blocking_threads: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            worker_threads: 2,
            max_blocking_threads: 4,
        }
    }
}

impl RuntimeSettings {
    /// Most worker threads accepted.
    pub const MAX_WORKER_THREADS: usize = 64;
    /// Most blocking threads accepted.
    pub const MAX_BLOCKING_THREADS: usize = 512;

    /// The runtime the agent runs on: multi-threaded, with these threads; idle blocking
    /// threads leave after 10 s.
    pub fn build(&self) -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .max_blocking_threads(self.max_blocking_threads)
            .thread_name("mes-edge")
            .enable_all()
            .build()
    }

    fn mistakes(&self) -> Vec<String> {
        let mut found = Vec::new();
        if !(1..=Self::MAX_WORKER_THREADS).contains(&self.worker_threads) {
            found.push(format!(
                "runtime.worker_threads is {}; expected 1 to {}",
                self.worker_threads,
                Self::MAX_WORKER_THREADS
            ));
        }
        if !(1..=Self::MAX_BLOCKING_THREADS).contains(&self.max_blocking_threads) {
            found.push(format!(
                "runtime.max_blocking_threads is {}; expected 1 to {}",
                self.max_blocking_threads,
                Self::MAX_BLOCKING_THREADS
            ));
        }
        found
    }
}

/// `[[stations]]`: a station of this line, for the line terminal.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationConfig {
    pub id: String,
    /// A Zebra (ZPL) printer, `host` or `host:port` (9100 by default): finished-lot labels of
    /// lots completed at this station are printed there.
    #[serde(default)]
    pub printer: Option<String>,
    /// The symbology of the code on this station's finished-lot labels: `gs1-128`, `gs1-qr` or
    /// `gs1-datamatrix`. Unset: GS1-128, or GS1 QR for a code too long for GS1-128.
    #[serde(default)]
    pub label: Option<crate::labels::Symbology>,
}

/// `[line_state]`: the edge publishes its line state, retained, to an MQTT broker
/// (`andon.rs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineStateConfig {
    /// `mqtt://host:port`.
    pub broker: String,
    /// Topics are `{prefix}/state` (JSON) and `{prefix}/status` (`online`/`offline`).
    pub topic_prefix: String,
    pub client_id: String,
    /// How often the state is looked at; it is published when it changed.
    #[serde(default = "default_line_state_interval", with = "protocol::duration")]
    pub interval: Duration,
}

fn default_line_state_interval() -> Duration {
    Duration::from_secs(1)
}

impl LineStateConfig {
    /// The broker's host and port, or what is wrong with the settings.
    pub fn validate(&self) -> Result<(String, u16), String> {
        if !self.broker.starts_with("mqtt://") {
            return Err(format!(
                "line_state.broker {:?} must start with mqtt://",
                self.broker
            ));
        }
        let addr = crate::sources::mqtt::config::BrokerAddr::parse(&self.broker)
            .map_err(|e| format!("line_state.{e}"))?;
        let prefix = self.topic_prefix.trim_matches('/');
        if prefix.is_empty() || prefix.contains(['+', '#']) {
            return Err(format!(
                "line_state.topic_prefix {:?} must be non-empty and hold no + or #",
                self.topic_prefix
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err("line_state.client_id must not be empty".into());
        }
        if self.interval.is_zero() {
            return Err("line_state.interval must be above zero".into());
        }
        Ok((addr.host, addr.port))
    }
}

#[derive(Debug, Clone)]
pub struct CentralLink {
    /// Base URL of central, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// This edge's credential.
    pub token: Token,
    pub batch_max_events: usize,
    /// A batch's JSON stays below this many bytes (central's body limit is 32 MiB by default).
    pub batch_max_bytes: usize,
    /// Batches sent before the first of them is answered (1 to 8): with 2, central parses one
    /// while it stores the one before, which nearly doubles a backlog's drain.
    pub batches_in_flight: usize,
    pub request_timeout: Duration,
    pub status_interval: Duration,
    pub plan_wait: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// `ca_file`: the PEM file of the CA that signed central's certificate, for an
    /// `https://` URL. When set, the edge trusts that CA only (not the system's roots); unset,
    /// an `https://` central is checked against the system's roots. A relative path is taken
    /// relative to the configuration file; the file is read when the agent starts
    /// (`sync::client::trusted_roots`).
    pub ca_file: Option<PathBuf>,
}

/// Where the edge's credential comes from. An environment variable or a file is read when the
/// agent starts, so `mes check-config` judges the file, not the environment it runs in.
/// `Debug` never shows a literal token (`Token(Secret(***))`).
#[derive(Clone, PartialEq, Eq)]
pub enum Token {
    Literal(Secret),
    /// `env:NAME`.
    Env(String),
    /// `file:/path`: read once at start, surrounding whitespace (the trailing newline) trimmed;
    /// a relative path is taken relative to the configuration file.
    File(PathBuf),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Literal(secret) => write!(f, "Token({secret:?})"),
            Token::Env(var) => write!(f, "Token(env:{var})"),
            Token::File(path) => write!(f, "Token(file:{})", path.display()),
        }
    }
}

impl Token {
    /// The token itself. A file readable by group or others is used, and a warning logged.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self {
            Token::Literal(t) => Ok(t.clone()),
            Token::Env(var) => match std::env::var(var) {
                Ok(t) if !t.trim().is_empty() => Ok(Secret::new(t.trim())),
                _ => Err(format!(
                    "central.token names the environment variable {var}, which is not set"
                )),
            },
            Token::File(path) => {
                let file = read_secret_file(path).map_err(|e| format!("central.token: {e}"))?;
                if let Some(warning) = &file.warning {
                    tracing::warn!("central.token: {warning}");
                }
                Ok(file.secret)
            }
        }
    }
}

/// A secret read from a file ([`read_secret_file`]).
#[derive(Debug)]
pub struct SecretFile {
    pub secret: Secret,
    /// Said when the file is readable by group or others: the secret is not kept secret.
    pub warning: Option<String>,
}

/// Reads a secret (a token) from a file: surrounding whitespace, such as the trailing newline
/// `echo` or an editor leaves, is trimmed; an empty file is an error. A file that group or
/// others may read is still used, with a warning saying how to fix it. Files over 64 KiB are
/// refused (no token is that long; it is the wrong file).
pub fn read_secret_file(path: &Path) -> Result<SecretFile, String> {
    use std::io::Read;
    const MAX_BYTES: u64 = 64 * 1024;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    let mut text = String::new();
    file.take(MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {shown}: {e} (expected a token as UTF-8 text)"))?;
    if text.len() as u64 > MAX_BYTES {
        return Err(format!(
            "{shown} is larger than 64 KiB; expected a file holding one token"
        ));
    }
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{shown} is empty; expected a token"));
    }
    #[cfg(unix)]
    let warning = {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "{shown} may be read by group or others (mode {mode:04o}); \
                 make it private with `chmod 600 {shown}`"
            )
        })
    };
    #[cfg(not(unix))]
    let warning = None;
    Ok(SecretFile {
        secret: Secret::new(token),
        warning,
    })
}

#[derive(Debug, Clone)]
pub struct JournalSettings {
    pub path: PathBuf,
    pub durability: Durability,
    pub quota_bytes: u64,
    pub alarm_ratio: f64,
    pub min_free_disk_bytes: u64,
    pub retention: Duration,
    pub prune_interval: Duration,
    /// Most memory the journal's SQLite page cache may take.
    pub cache_bytes: u64,
}

impl JournalSettings {
    pub fn journal_config(&self, edge_id: &EdgeId) -> JournalConfig {
        JournalConfig {
            path: self.path.clone(),
            edge_id: edge_id.clone(),
            durability: self.durability,
            quota_bytes: self.quota_bytes,
            alarm_ratio: self.alarm_ratio,
            min_free_disk_bytes: self.min_free_disk_bytes,
            retention: self.retention,
            cache_bytes: self.cache_bytes,
        }
    }
}

/// The sources this edge reads. A closed set: each variant builds its own component.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Simulated machines that count parts, stop now and then and consume material; stands in
    /// for real PLCs until the Modbus and MQTT sources replace it.
    Simulated(SimulatedConfig),
    /// One PLC over Modbus TCP: its connection, poll groups and register map (`config/modbus/`).
    Modbus(modbus::ModbusConfig),
    /// Devices over MQTT: a broker, and rules that say what each topic means
    /// (`sources/mqtt/`).
    Mqtt(crate::sources::mqtt::config::MqttConfig),
    /// A fixed-mount barcode scanner over TCP (either side dialing) or a serial port, bound to
    /// a station (`sources/scanner/`).
    Scanner(crate::sources::scanner::ScannerConfig),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedConfig {
    /// Number of machines (stations) to simulate.
    #[serde(default = "default_machines")]
    pub machines: u32,
    /// Time between two production reports of one machine.
    #[serde(default = "default_cycle", with = "protocol::duration")]
    pub cycle: Duration,
    /// Parts made per cycle.
    #[serde(default = "default_parts_per_cycle")]
    pub parts_per_cycle: u32,
    /// Stop after this many events in total (for tests and benchmarks).
    #[serde(default)]
    pub max_events: Option<u64>,
    /// Seed for reproducible runs; random when absent.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_machines() -> u32 {
    3
}
fn default_cycle() -> Duration {
    Duration::from_millis(500)
}
fn default_parts_per_cycle() -> u32 {
    1
}

// ---------------------------------------------------------------------------------------------
// Raw shape, as written in the file.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    edge_id: Spanned<String>,
    central: RawCentral,
    #[serde(default)]
    journal: RawJournal,
    #[serde(default)]
    http: floor::RawHttp,
    #[serde(default)]
    sources: Vec<SourceConfig>,
    /// Run an MQTT broker inside the agent, for gateways that have none.
    #[serde(default)]
    mqtt_broker: Option<crate::broker::config::RawBrokerConfig>,
    /// Publish the line state for andon boards and HMIs.
    #[serde(default)]
    line_state: Option<Spanned<LineStateConfig>>,
    #[serde(default)]
    stations: Vec<Spanned<StationConfig>>,
    #[serde(default)]
    limits: floor::RawLimits,
    #[serde(default)]
    terminal: floor::RawTerminal,
    #[serde(default)]
    terminals: Vec<floor::RawTerminalEntry>,
    #[serde(default)]
    health: floor::RawHealth,
    #[serde(default)]
    runtime: Option<Spanned<RuntimeSettings>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCentral {
    url: Spanned<String>,
    /// The credential, `env:NAME` to read it from an environment variable, or `file:PATH` to
    /// read it from a file.
    token: Spanned<Secret>,
    #[serde(default = "default_batch")]
    batch_max_events: Spanned<usize>,
    #[serde(default = "default_batch_bytes")]
    batch_max_bytes: Spanned<String>,
    #[serde(default = "default_batches_in_flight")]
    batches_in_flight: Spanned<usize>,
    #[serde(default = "default_request_timeout", with = "protocol::duration")]
    request_timeout: Duration,
    #[serde(default = "default_status_interval", with = "protocol::duration")]
    status_interval: Duration,
    #[serde(default = "default_plan_wait", with = "protocol::duration")]
    plan_wait: Duration,
    #[serde(default = "default_backoff_min", with = "protocol::duration")]
    backoff_min: Duration,
    #[serde(default = "default_backoff_max", with = "protocol::duration")]
    backoff_max: Duration,
    /// PEM file of the CA that signed central's certificate (`https://` only).
    #[serde(default)]
    ca_file: Option<Spanned<PathBuf>>,
}

fn default_batch() -> Spanned<usize> {
    Spanned::new(0..0, 5000)
}
fn default_batch_bytes() -> Spanned<String> {
    Spanned::new(0..0, "4 MiB".to_owned())
}
fn default_batches_in_flight() -> Spanned<usize> {
    Spanned::new(0..0, 2)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_status_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_plan_wait() -> Duration {
    Duration::from_secs(25)
}
fn default_backoff_min() -> Duration {
    Duration::from_millis(200)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJournal {
    #[serde(default = "default_journal_path")]
    path: PathBuf,
    #[serde(default = "default_durability")]
    durability: Durability,
    /// Size limit of the journal, e.g. `"2 GiB"`, `"500 MB"`.
    #[serde(default = "default_quota")]
    quota: Spanned<String>,
    /// Raise the quota alarm at this fraction of the quota.
    #[serde(default = "default_alarm_ratio")]
    alarm_at: Spanned<f64>,
    #[serde(default = "default_min_free_disk")]
    min_free_disk: Spanned<String>,
    /// How long acknowledged events are kept on the edge.
    #[serde(default = "default_retention", with = "protocol::duration")]
    retention: Duration,
    #[serde(default = "default_prune_interval", with = "protocol::duration")]
    prune_interval: Duration,
    /// SQLite's page cache, e.g. `"2 MiB"`.
    #[serde(default = "default_journal_cache")]
    cache: Spanned<String>,
}

impl Default for RawJournal {
    fn default() -> Self {
        RawJournal {
            path: default_journal_path(),
            durability: default_durability(),
            quota: default_quota(),
            alarm_at: default_alarm_ratio(),
            min_free_disk: default_min_free_disk(),
            retention: default_retention(),
            prune_interval: default_prune_interval(),
            cache: default_journal_cache(),
        }
    }
}

fn default_journal_cache() -> Spanned<String> {
    Spanned::new(0..0, "2 MiB".to_owned())
}

fn default_journal_path() -> PathBuf {
    PathBuf::from("journal.db")
}
fn default_durability() -> Durability {
    Durability::Normal
}
fn default_quota() -> Spanned<String> {
    Spanned::new(0..0, "2 GiB".to_owned())
}
fn default_alarm_ratio() -> Spanned<f64> {
    Spanned::new(0..0, 0.8)
}
fn default_min_free_disk() -> Spanned<String> {
    Spanned::new(0..0, "256 MiB".to_owned())
}
fn default_retention() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_prune_interval() -> Duration {
    Duration::from_secs(60)
}

// ---------------------------------------------------------------------------------------------
// Errors

/// One mistake in a configuration file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMistake {
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for ConfigMistake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", list(.0))]
    Invalid(Vec<ConfigMistake>),
}

fn list(mistakes: &[ConfigMistake]) -> String {
    mistakes
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    pub fn mistakes(&self) -> &[ConfigMistake] {
        match self {
            ConfigError::Invalid(m) => m,
            ConfigError::Read { .. } => &[],
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

// ---------------------------------------------------------------------------------------------

impl EdgeConfig {
    /// Settings that are valid but risky (an embedded broker open to anonymous clients): the
    /// agent logs them at start and `mes check-config` prints them.
    pub fn warnings(&self) -> Vec<String> {
        self.mqtt_broker
            .as_ref()
            .map(|b| b.warnings())
            .unwrap_or_default()
    }

    /// Reads and validates a file. Relative paths (the journal, a `file:` token, `ca_file`) are taken
    /// relative to the file.
    pub fn load(path: &Path) -> Result<EdgeConfig, ConfigError> {
        let text = read_bounded(path)?;
        let mut config = EdgeConfig::from_toml_str(&text)?;
        if let Some(dir) = path.parent() {
            if config.journal.path.is_relative() {
                config.journal.path = dir.join(&config.journal.path);
            }
            if let Token::File(file) = &mut config.central.token
                && file.is_relative()
            {
                *file = dir.join(&*file);
            }
            if let Some(ca_file) = &mut config.central.ca_file
                && ca_file.is_relative()
            {
                *ca_file = dir.join(&*ca_file);
            }
        }
        Ok(config)
    }

    /// Parses and validates; every mistake found is reported, each with its line.
    /// Only the file's shape: TOML syntax, known keys, value types (what serde checks, which
    /// stops at the first mistake). `mes check-config` calls it again after each mistake it
    /// found, to report them all.
    pub fn check_shape(text: &str) -> Result<(), toml::de::Error> {
        toml::from_str::<RawConfig>(text).map(|_| ())
    }

    pub fn from_toml_str(text: &str) -> Result<EdgeConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            ConfigError::Invalid(vec![ConfigMistake {
                line: e.span().map(|s| line_of(text, s.start)),
                message: e.message().to_owned(),
            }])
        })?;
        let mut mistakes = Vec::new();
        let mut mistake = |span: std::ops::Range<usize>, message: String| {
            mistakes.push(ConfigMistake {
                line: (span.end > 0).then(|| line_of(text, span.start)),
                message,
            })
        };

        let edge_id = raw.edge_id.get_ref().trim().to_owned();
        if edge_id.is_empty()
            || !edge_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            mistake(
                raw.edge_id.span(),
                format!(
                    "edge_id {:?} must be non-empty and use only letters, digits, '-', '_' and '.'",
                    raw.edge_id.get_ref()
                ),
            );
        }

        let url = raw.central.url.get_ref().trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            mistake(
                raw.central.url.span(),
                format!("central.url {url:?} must start with http:// or https://"),
            );
        }
        let token_text = raw.central.token.get_ref().expose();
        let token = if let Some(var) = token_text.strip_prefix("env:") {
            if var.is_empty() {
                mistake(
                    raw.central.token.span(),
                    "central.token \"env:\" names no environment variable".to_owned(),
                );
            }
            Token::Env(var.to_owned())
        } else if let Some(path) = token_text.strip_prefix("file:") {
            if path.trim().is_empty() {
                mistake(
                    raw.central.token.span(),
                    "central.token \"file:\" names no file; expected e.g. \
                     \"file:/etc/mes/edge.token\""
                        .to_owned(),
                );
            }
            Token::File(PathBuf::from(path))
        } else {
            if token_text.is_empty() {
                mistake(
                    raw.central.token.span(),
                    "central.token must not be empty".to_owned(),
                );
            }
            Token::Literal(raw.central.token.get_ref().clone())
        };
        let batch = *raw.central.batch_max_events.get_ref();
        if !(1..=100_000).contains(&batch) {
            mistake(
                raw.central.batch_max_events.span(),
                format!("central.batch_max_events is {batch}; expected 1 to 100000"),
            );
        }
        let in_flight = *raw.central.batches_in_flight.get_ref();
        if !(1..=8).contains(&in_flight) {
            mistake(
                raw.central.batches_in_flight.span(),
                format!("central.batches_in_flight is {in_flight}; expected 1 to 8"),
            );
        }
        let batch_bytes = match parse_size(raw.central.batch_max_bytes.get_ref()) {
            Ok(n) if (256 * 1024..=64 << 20).contains(&n) => n as usize,
            _ => {
                mistake(
                    raw.central.batch_max_bytes.span(),
                    format!(
                        "central.batch_max_bytes {:?} must be a size from 256 KiB to 64 MiB, like \"4 MiB\" (below central's max_body_bytes)",
                        raw.central.batch_max_bytes.get_ref()
                    ),
                );
                0
            }
        };
        if let Some(ca_file) = &raw.central.ca_file {
            if ca_file.get_ref().as_os_str().is_empty() {
                mistake(
                    ca_file.span(),
                    "central.ca_file is empty; expected the PEM file of the CA that signed \
                     central's certificate"
                        .to_owned(),
                );
            } else if !url.starts_with("https://") {
                mistake(
                    ca_file.span(),
                    format!(
                        "central.ca_file is only used with an https:// central; central.url is \
                         {url:?}"
                    ),
                );
            }
        }
        if raw.central.backoff_min > raw.central.backoff_max {
            mistake(
                0..0,
                "central.backoff_min must not exceed central.backoff_max".to_owned(),
            );
        }

        let mut size = |field: &Spanned<String>, name: &str| match parse_size(field.get_ref()) {
            Ok(n) => n,
            Err(e) => {
                mistake(field.span(), format!("journal.{name}: {e}"));
                0
            }
        };
        let quota_bytes = size(&raw.journal.quota, "quota");
        let min_free_disk_bytes = size(&raw.journal.min_free_disk, "min_free_disk");
        let cache_bytes = size(&raw.journal.cache, "cache");
        if !(256 << 10..=1 << 30).contains(&cache_bytes) {
            mistake(
                raw.journal.cache.span(),
                format!("journal.cache is {cache_bytes} bytes; expected 256 KiB to 1 GiB"),
            );
        }
        if quota_bytes != 0 && quota_bytes < 1 << 20 {
            mistake(
                raw.journal.quota.span(),
                format!("journal.quota is {quota_bytes} bytes; expected at least 1 MiB"),
            );
        }
        let alarm_ratio = *raw.journal.alarm_at.get_ref();
        if !(0.1..=0.99).contains(&alarm_ratio) {
            mistake(
                raw.journal.alarm_at.span(),
                format!("journal.alarm_at is {alarm_ratio}; expected a fraction from 0.1 to 0.99"),
            );
        }

        let mut modbus_devices = std::collections::BTreeSet::new();
        let mut modbus_mistakes = Vec::new();
        let mut scanner_names = std::collections::BTreeSet::new();
        for (i, source) in raw.sources.iter().enumerate() {
            match source {
                SourceConfig::Modbus(modbus) => match modbus.device() {
                    Ok(device) => {
                        if !modbus_devices.insert(device.device.clone()) {
                            modbus_mistakes.push(ConfigMistake {
                                line: line_of_path(text, i, &[modbus::PathSeg::Key("device")]),
                                message: format!(
                                    "modbus device {:?} is configured twice",
                                    device.device
                                ),
                            });
                        }
                    }
                    Err(found) => modbus_mistakes.extend(found.iter().map(|m| ConfigMistake {
                        line: line_of_path(text, i, &m.path),
                        message: m.message.clone(),
                    })),
                },
                SourceConfig::Mqtt(mqtt) => {
                    if let Err(found) = mqtt.validate() {
                        modbus_mistakes.extend(found.into_iter().map(|message| ConfigMistake {
                            line: line_of_path(text, i, &[]),
                            message,
                        }));
                    }
                }
                SourceConfig::Scanner(scanner) => match scanner.validate() {
                    Ok(valid) => {
                        if !scanner_names.insert(valid.name.clone()) {
                            modbus_mistakes.push(ConfigMistake {
                                line: line_of_path(text, i, &[modbus::PathSeg::Key("name")]),
                                message: format!("scanner {:?} is configured twice", valid.name),
                            });
                        }
                    }
                    Err(found) => {
                        modbus_mistakes.extend(found.into_iter().map(|m| ConfigMistake {
                            line: line_of_path(text, i, &m.path),
                            message: m.message,
                        }))
                    }
                },
                SourceConfig::Simulated(sim) => {
                    if sim.machines == 0 || sim.machines > 1000 {
                        mistake(
                            0..0,
                            format!(
                                "simulated source: machines is {}; expected 1 to 1000",
                                sim.machines
                            ),
                        );
                    }
                    if sim.cycle.is_zero() {
                        mistake(
                            0..0,
                            "simulated source: cycle must be above zero".to_owned(),
                        );
                    }
                }
            }
        }
        // Devices on one serial port share its line settings and cannot share a unit id.
        let serial: Vec<(usize, &modbus::ModbusDevice)> = raw
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                SourceConfig::Modbus(m) => m.device().ok().map(|d| (i, d)),
                _ => None,
            })
            .collect();
        let devices: Vec<&modbus::ModbusDevice> = serial.iter().map(|(_, d)| *d).collect();
        for (k, m) in modbus::serial_line_mistakes(&devices) {
            modbus_mistakes.push(ConfigMistake {
                line: line_of_path(text, serial[k].0, &m.path),
                message: m.message,
            });
        }

        if let Some(ls) = &raw.line_state
            && let Err(e) = ls.get_ref().validate()
        {
            mistake(ls.span(), e);
        }
        let mut station_ids = std::collections::BTreeSet::new();
        for station in &raw.stations {
            let st = station.get_ref();
            if st.id.is_empty() || st.id.len() > 90 {
                mistake(
                    station.span(),
                    format!("station id {:?}: expected 1 to 90 characters", st.id),
                );
            } else if !station_ids.insert(st.id.clone()) {
                mistake(
                    station.span(),
                    format!("station {:?} is configured twice", st.id),
                );
            }
            if let Some(symbology) = st.label
                && !symbology.is_gs1()
            {
                mistake(
                    station.span(),
                    format!(
                        "station {:?}: label = {:?} cannot carry the finished-lot code; use gs1-128, gs1-qr or gs1-datamatrix",
                        st.id,
                        symbology.name()
                    ),
                );
            }
            if st.printer.as_deref().is_some_and(|p| p.trim().is_empty()) {
                mistake(
                    station.span(),
                    format!(
                        "station {:?}: printer is empty; give host or host:port",
                        st.id
                    ),
                );
            }
        }
        let limits = raw.limits.validate(&mut mistake);
        let http = raw.http.validate(&mut mistake);
        let terminals = floor::terminals(raw.terminal, raw.terminals, &mut mistake);
        let health = raw.health.validate();
        let runtime = match &raw.runtime {
            Some(r) => {
                for m in r.get_ref().mistakes() {
                    mistake(r.span(), m);
                }
                *r.get_ref()
            }
            None => RuntimeSettings::default(),
        };
        let mqtt_broker = match &raw.mqtt_broker {
            None => None,
            Some(b) => match b.validate(|span| Some(line_of(text, span.start))) {
                Ok(b) => Some(b),
                Err(errors) => {
                    mistakes.extend(
                        errors
                            .into_iter()
                            .map(|(line, message)| ConfigMistake { line, message }),
                    );
                    None
                }
            },
        };
        mistakes.extend(modbus_mistakes);
        if !mistakes.is_empty() {
            return Err(ConfigError::Invalid(mistakes));
        }
        Ok(EdgeConfig {
            edge_id: EdgeId::new(edge_id),
            central: CentralLink {
                url,
                token,
                batch_max_events: batch,
                batch_max_bytes: batch_bytes,
                batches_in_flight: in_flight,
                request_timeout: raw.central.request_timeout,
                status_interval: raw.central.status_interval,
                plan_wait: raw.central.plan_wait,
                backoff_min: raw.central.backoff_min,
                backoff_max: raw.central.backoff_max,
                ca_file: raw.central.ca_file.map(Spanned::into_inner),
            },
            journal: JournalSettings {
                path: raw.journal.path,
                durability: raw.journal.durability,
                quota_bytes,
                alarm_ratio,
                min_free_disk_bytes,
                retention: raw.journal.retention,
                prune_interval: raw.journal.prune_interval,
                cache_bytes,
            },
            http,
            sources: raw.sources,
            mqtt_broker,
            line_state: raw.line_state.map(Spanned::into_inner),
            stations: raw.stations.into_iter().map(Spanned::into_inner).collect(),
            limits,
            terminals,
            health,
            runtime,
        })
    }
}

/// The line of a key inside the `i`-th `[[sources]]` table, found in the document's parse tree
/// (the typed parse of a source cannot keep spans). Falls back to the nearest enclosing key.
fn line_of_path(text: &str, source: usize, path: &[modbus::PathSeg]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    fn find<'a>(
        table: &DeTable<'a>,
        key: &str,
    ) -> Option<(std::ops::Range<usize>, toml::Spanned<DeValue<'a>>)> {
        table
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(k, v)| (k.span(), v.clone()))
    }
    let (_, sources) = find(root.get_ref(), "sources")?;
    let mut value = match sources.get_ref() {
        DeValue::Array(a) => a.get(source)?.clone(),
        _ => return None,
    };
    let mut span = value.span();
    for seg in path {
        let next = match (seg, value.get_ref()) {
            (modbus::PathSeg::Key(k), DeValue::Table(t)) => find(t, k),
            (modbus::PathSeg::Index(n), DeValue::Array(a)) => {
                a.get(*n).map(|v| (v.span(), v.clone()))
            }
            _ => None,
        };
        match next {
            Some((s, v)) => {
                span = s;
                value = v;
            }
            None => break,
        }
    }
    Some(line_of(text, span.start))
}

/// The largest configuration file read: a register map of thousands of tags stays far below.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// A configuration file's text, refused (not read) when larger than [`MAX_CONFIG_BYTES`].
fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let read = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::Invalid(vec![ConfigMistake {
            line: None,
            message: format!(
                "{} is larger than {} MiB; a configuration is far smaller, is this the right file?",
                path.display(),
                MAX_CONFIG_BYTES >> 20
            ),
        }]));
    }
    Ok(text)
}

/// Parses a size such as `"512 MiB"`, `"2GB"`, `"1048576"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size; expected e.g. \"512 MiB\" or \"2 GB\""))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "tib" | "t" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?}; expected B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    Ok((number * factor as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
edge_id = "line-1"
[central]
url = "http://127.0.0.1:8080/"
token = "secret"
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = EdgeConfig::from_toml_str(MINIMAL).unwrap();
        assert_eq!(c.edge_id.as_str(), "line-1");
        assert_eq!(c.central.url, "http://127.0.0.1:8080");
        assert_eq!(c.central.batch_max_events, 5000);
        assert_eq!(c.central.batches_in_flight, 2);
        assert_eq!(c.journal.durability, Durability::Normal);
        assert_eq!(c.journal.quota_bytes, 2 << 30);
        assert_eq!(c.journal.cache_bytes, 2 << 20);
        assert!(c.sources.is_empty());
    }

    fn mistakes(text: &str) -> Vec<String> {
        EdgeConfig::from_toml_str(text)
            .unwrap_err()
            .mistakes()
            .iter()
            .map(|m| m.to_string())
            .collect()
    }

    #[test]
    fn a_station_s_label_symbology_is_one_that_carries_gs1() {
        let c = EdgeConfig::from_toml_str(&format!(
            "{MINIMAL}[[stations]]\nid = \"st-10\"\nlabel = \"gs1-datamatrix\"\n[[stations]]\nid = \"st-20\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.stations[0].label,
            Some(crate::labels::Symbology::Gs1DataMatrix)
        );
        assert_eq!(c.stations[1].label, None);
        let m = mistakes(&format!(
            "{MINIMAL}[[stations]]\nid = \"st-10\"\nlabel = \"ean-13\"\n"
        ));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].ends_with(
                "station \"st-10\": label = \"ean-13\" cannot carry the finished-lot code; use gs1-128, gs1-qr or gs1-datamatrix"
            ),
            "{m:?}"
        );
        let m = mistakes(&format!(
            "{MINIMAL}[[stations]]\nid = \"st-10\"\nlabel = \"pdf417\"\n"
        ));
        assert!(m[0].contains("unknown symbology \"pdf417\""), "{m:?}");
    }

    #[test]
    fn unknown_field_is_reported_with_its_line() {
        let text = format!("{MINIMAL}bogus = 1\n");
        let m = mistakes(&text);
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("line 6:"), "{m:?}");
        assert!(m[0].contains("bogus"), "{m:?}");
    }

    #[test]
    fn every_validation_mistake_is_reported_with_its_line() {
        let text = r#"edge_id = "line 1"
[central]
url = "ftp://x"
token = "t"
batch_max_events = 0
batches_in_flight = 9
[journal]
quota = "12 parsecs"
alarm_at = 1.5
"#;
        let m = mistakes(text);
        assert_eq!(
            m,
            vec![
                "line 1: edge_id \"line 1\" must be non-empty and use only letters, digits, '-', '_' and '.'",
                "line 3: central.url \"ftp://x\" must start with http:// or https://",
                "line 5: central.batch_max_events is 0; expected 1 to 100000",
                "line 6: central.batches_in_flight is 9; expected 1 to 8",
                "line 8: journal.quota: unknown size unit \"parsecs\" in \"12 parsecs\"; expected B, KiB, MiB, GiB, KB, MB or GB",
                "line 9: journal.alarm_at is 1.5; expected a fraction from 0.1 to 0.99",
            ]
        );
    }

    #[test]
    fn unknown_source_type_is_named() {
        let text = format!("{MINIMAL}[[sources]]\ntype = \"telepathy\"\n");
        let m = mistakes(&text);
        assert!(m[0].contains("telepathy"), "{m:?}");
        assert!(
            m[0].starts_with("line 6:") || m[0].starts_with("line 7:"),
            "{m:?}"
        );
    }

    #[test]
    fn runtime_threads_default_small_and_are_checked() {
        let c = EdgeConfig::from_toml_str(MINIMAL).unwrap();
        assert_eq!(c.runtime, RuntimeSettings::default());
        assert_eq!(c.runtime.worker_threads, 2);
        let c = EdgeConfig::from_toml_str(&format!(
            "{MINIMAL}[runtime]\nworker_threads = 1\nmax_blocking_threads = 2\n"
        ))
        .unwrap();
        assert_eq!(
            c.runtime,
            RuntimeSettings {
                worker_threads: 1,
                max_blocking_threads: 2
            }
        );
        let runtime = c.runtime.build().unwrap();
        assert_eq!(runtime.metrics().num_workers(), 1);
        let m = mistakes(&format!(
            "{MINIMAL}[runtime]\nworker_threads = 0\nmax_blocking_threads = 100000\n"
        ));
        assert_eq!(
            m,
            vec![
                "line 6: runtime.worker_threads is 0; expected 1 to 64",
                "line 6: runtime.max_blocking_threads is 100000; expected 1 to 512",
            ]
        );
    }

    #[test]
    fn line_state_is_optional_and_checked() {
        assert!(
            EdgeConfig::from_toml_str(MINIMAL)
                .unwrap()
                .line_state
                .is_none()
        );
        let ok = format!(
            "{MINIMAL}[line_state]\nbroker = \"mqtt://127.0.0.1:1883\"\ntopic_prefix = \"plant/line-1\"\nclient_id = \"line-1-andon\"\ninterval = \"250ms\"\n"
        );
        let ls = EdgeConfig::from_toml_str(&ok).unwrap().line_state.unwrap();
        assert_eq!(ls.interval, Duration::from_millis(250));
        assert_eq!(ls.validate().unwrap(), ("127.0.0.1".to_owned(), 1883));
        let bad = ok
            .replace("mqtt://", "http://")
            .replace("plant/line-1", "plant/#");
        let m = mistakes(&bad);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("line 6:") && m[0].contains("mqtt://"),
            "{m:?}"
        );
    }

    /// Issue 11: secrets never show in `Debug`: the edge's token, MQTT passwords.
    #[test]
    fn issue_11_debug_of_the_config_hides_every_secret() {
        let text = r#"
edge_id = "line-1"
[central]
url = "http://127.0.0.1:8080"
token = "edge-token-do-not-print-0123456789"
[[sources]]
type = "mqtt"
broker = "mqtt://127.0.0.1:1883"
client_id = "mes-line-1"
username = "line-1"
password = "mqtt-password-do-not-print"
[[sources.rules]]
topic = "plant/+/count"
device = "{1}"
payload = "plain"
yields = "count"
counter = "good"
"#;
        let config = EdgeConfig::from_toml_str(text).unwrap();
        let shown = format!("{config:?}\n{config:#?}");
        assert!(!shown.contains("do-not-print"), "{shown}");
        assert!(shown.contains("Token(Secret(***))"), "{shown}");
        assert!(shown.contains("password: Some(Secret(***))"), "{shown}");
        assert_eq!(
            config.central.token.resolve().unwrap().expose(),
            "edge-token-do-not-print-0123456789"
        );
        let SourceConfig::Mqtt(mqtt) = &config.sources[0] else {
            panic!("{:?}", config.sources[0])
        };
        assert_eq!(
            mqtt.password.as_ref().map(Secret::expose),
            Some("mqtt-password-do-not-print")
        );
        // The raw shape, as an error about the file would show it, hides it too.
        let raw: RawConfig = toml::from_str(text).unwrap();
        assert!(!format!("{raw:?}").contains("do-not-print"));
    }

    /// Issue 11: `file:/path` reads the token from a file once, at start.
    #[cfg(unix)]
    #[test]
    fn issue_11_the_token_can_come_from_a_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("edge.token");
        std::fs::write(&token_file, "tok-from-a-file-0123456789\n").unwrap();
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Relative to the configuration file, like the journal.
        let config_path = dir.path().join("edge.toml");
        std::fs::write(
            &config_path,
            "edge_id = \"line-1\"\n[central]\nurl = \"http://x\"\ntoken = \"file:edge.token\"\n",
        )
        .unwrap();
        let config = EdgeConfig::load(&config_path).unwrap();
        assert_eq!(config.central.token, Token::File(token_file.clone()));
        assert!(format!("{:?}", config.central.token).contains("file:"));
        assert_eq!(
            config.central.token.resolve().unwrap().expose(),
            "tok-from-a-file-0123456789"
        );
        let private = read_secret_file(&token_file).unwrap();
        assert_eq!(private.warning, None);
        // Readable by others: used, with a warning that says how to fix it.
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = read_secret_file(&token_file).unwrap();
        assert_eq!(open.secret.expose(), "tok-from-a-file-0123456789");
        let warning = open.warning.unwrap();
        assert!(
            warning.contains("0644") && warning.contains("chmod 600"),
            "{warning}"
        );
        std::fs::write(&token_file, "\n").unwrap();
        assert!(read_secret_file(&token_file).unwrap_err().contains("empty"));
        let missing = Token::File(dir.path().join("nope")).resolve().unwrap_err();
        assert!(
            missing.starts_with("central.token: cannot read"),
            "{missing}"
        );
        let m = mistakes("edge_id = \"l\"\n[central]\nurl = \"http://x\"\ntoken = \"file:\"\n");
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("line 4:") && m[0].contains("names no file"),
            "{m:?}"
        );
    }

    /// Issue 13: `[central] ca_file`, for an https:// central signed by the plant's own CA.
    #[test]
    fn issue_13_ca_file_is_taken_relative_to_the_config_and_needs_https() {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("edge.toml");
        std::fs::write(
            &config_path,
            "edge_id = \"line-1\"\n[central]\nurl = \"https://central.plant:8443\"\n\
             token = \"t\"\nca_file = \"tls/plant-ca.pem\"\n",
        )
        .unwrap();
        let config = EdgeConfig::load(&config_path).unwrap();
        assert_eq!(
            config.central.ca_file,
            Some(dir.path().join("tls/plant-ca.pem"))
        );
        let plain = EdgeConfig::from_toml_str(
            "edge_id = \"l\"\n[central]\nurl = \"https://c\"\ntoken = \"t\"\n",
        )
        .unwrap();
        assert_eq!(plain.central.ca_file, None);

        let m = mistakes(
            "edge_id = \"l\"\n[central]\nurl = \"http://c\"\ntoken = \"t\"\nca_file = \"ca.pem\"\n",
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("line 5:") && m[0].contains("https://"),
            "{m:?}"
        );
        let m = mistakes(
            "edge_id = \"l\"\n[central]\nurl = \"https://c\"\ntoken = \"t\"\nca_file = \"\"\n",
        );
        assert!(
            m[0].starts_with("line 5:") && m[0].contains("empty"),
            "{m:?}"
        );
        let m = mistakes(
            "edge_id = \"l\"\n[central]\nurl = \"https://c\"\ntoken = \"t\"\ncafile = \"x\"\n",
        );
        assert!(
            m[0].starts_with("line 5:") && m[0].contains("cafile"),
            "{m:?}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("lots").is_err());
    }
}
