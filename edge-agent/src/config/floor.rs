//! What people and terminals at the line may do: `[limits]` on quantities, the edge's HTTP
//! face (`[http]`: hosts, connections, bodies, the edge's admin token), terminals paired or
//! configured (`[terminal]`, `[[terminals]]`) and when the agent calls itself unhealthy
//! (`[health]`).

use super::Token;
use crate::processor::scan::Limits;
use protocol::Secret;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use toml::Spanned;

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    /// The largest quantity one scan or lot may hold, by unit: `{ kg = 5000, pcs = 100000 }`.
    #[serde(default)]
    max_qty: BTreeMap<String, Spanned<Decimal>>,
    /// How far the finished lots of an order may exceed its quantity, in percent, before a
    /// supervisor must approve.
    #[serde(default)]
    completion_tolerance_pct: Option<Spanned<Decimal>>,
}

impl RawLimits {
    pub(super) fn validate(
        self,
        mistake: &mut impl FnMut(std::ops::Range<usize>, String),
    ) -> Limits {
        let mut limits = Limits::default();
        for (uom, max) in self.max_qty {
            if let Err(v) = protocol::bounds::check_uom("limits.max_qty", &uom) {
                mistake(max.span(), v.to_string());
            }
            match protocol::bounds::check_qty(&format!("limits.max_qty.{uom}"), *max.get_ref()) {
                Ok(()) => {
                    limits.max_qty.insert(uom, max.into_inner());
                }
                Err(v) => mistake(max.span(), v.to_string()),
            }
        }
        if let Some(pct) = self.completion_tolerance_pct {
            let value = *pct.get_ref();
            if value < Decimal::ZERO || value > Decimal::ONE_HUNDRED {
                mistake(
                    pct.span(),
                    format!("limits.completion_tolerance_pct is {value}; expected 0 to 100"),
                );
            } else {
                limits.completion_tolerance_pct = value;
            }
        }
        limits
    }
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    /// Host names (besides IP addresses and `localhost`) the edge answers to. Requests for any
    /// other name are refused: a web page on the internet cannot reach the edge through a name
    /// it controls (DNS rebinding).
    #[serde(default)]
    allowed_hosts: Vec<String>,
    /// Most connections open at once; more wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    max_connections: Spanned<usize>,
    /// Most live streams (terminals' server-sent events) open at once.
    #[serde(default = "default_max_streams")]
    max_event_streams: Spanned<usize>,
    /// A connection with no request for this long is closed; live streams end after
    /// `stream_lifetime` and the terminal reconnects.
    #[serde(default = "default_idle_timeout", with = "protocol::duration")]
    idle_timeout: Duration,
    #[serde(default = "default_stream_lifetime", with = "protocol::duration")]
    stream_lifetime: Duration,
    /// The largest request body, e.g. `"64 KiB"`.
    #[serde(default = "default_max_body")]
    max_body: Spanned<String>,
    /// The edge's administrator credential (at least 32 characters; `env:VAR` or `file:PATH`):
    /// confirms terminal pairings and revokes terminals from scripts. None: only supervisors at
    /// the line (badge and PIN) can.
    #[serde(default)]
    admin_token: Option<Spanned<Secret>>,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            listen: default_listen(),
            allowed_hosts: Vec::new(),
            max_connections: default_max_connections(),
            max_event_streams: default_max_streams(),
            idle_timeout: default_idle_timeout(),
            stream_lifetime: default_stream_lifetime(),
            max_body: default_max_body(),
            admin_token: None,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9101))
}
fn default_max_connections() -> Spanned<usize> {
    Spanned::new(0..0, 256)
}
fn default_max_streams() -> Spanned<usize> {
    Spanned::new(0..0, 64)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_stream_lifetime() -> Duration {
    Duration::from_secs(3600)
}
fn default_max_body() -> Spanned<String> {
    Spanned::new(0..0, "64 KiB".to_owned())
}

/// The edge's HTTP face, validated.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub allowed_hosts: Vec<String>,
    pub max_connections: usize,
    pub max_event_streams: usize,
    pub idle_timeout: Duration,
    pub stream_lifetime: Duration,
    pub max_body_bytes: usize,
    pub admin_token: Option<Token>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: default_listen(),
            allowed_hosts: Vec::new(),
            max_connections: 256,
            max_event_streams: 64,
            idle_timeout: default_idle_timeout(),
            stream_lifetime: default_stream_lifetime(),
            max_body_bytes: 64 * 1024,
            admin_token: None,
        }
    }
}

/// The shortest secret accepted for an administrator or a terminal.
pub const MIN_SECRET_LEN: usize = 32;

/// A secret as written in the file: `env:VAR`, `file:PATH` or literal (checked for length
/// here; one from the environment or a file is checked when it is read).
pub(super) fn secret(
    field: &str,
    value: &Spanned<Secret>,
    mistake: &mut impl FnMut(std::ops::Range<usize>, String),
) -> Option<Token> {
    let text = value.get_ref().expose();
    if let Some(path) = text.strip_prefix("file:") {
        if path.trim().is_empty() {
            mistake(value.span(), format!("{field} \"file:\" names no file"));
            return None;
        }
        return Some(Token::File(std::path::PathBuf::from(path)));
    }
    match text.strip_prefix("env:") {
        Some("") => {
            mistake(
                value.span(),
                format!("{field} \"env:\" names no environment variable"),
            );
            None
        }
        Some(var) => Some(Token::Env(var.to_owned())),
        None if value.get_ref().char_count() < MIN_SECRET_LEN => {
            mistake(
                value.span(),
                format!(
                    "{field} is {} characters long; a secret has at least {MIN_SECRET_LEN} (make one with `openssl rand -hex 32`)",
                    value.get_ref().char_count()
                ),
            );
            None
        }
        None => Some(Token::Literal(value.get_ref().clone())),
    }
}

impl RawHttp {
    pub(super) fn validate(
        self,
        mistake: &mut impl FnMut(std::ops::Range<usize>, String),
    ) -> HttpSettings {
        let mut http = HttpSettings {
            listen: self.listen,
            allowed_hosts: Vec::new(),
            max_connections: *self.max_connections.get_ref(),
            max_event_streams: *self.max_event_streams.get_ref(),
            idle_timeout: self.idle_timeout,
            stream_lifetime: self.stream_lifetime,
            max_body_bytes: 64 * 1024,
            admin_token: None,
        };
        for host in self.allowed_hosts {
            let host = host.trim().to_ascii_lowercase();
            if host.is_empty() || host.contains(['/', ':', ' ']) {
                mistake(
                    0..0,
                    format!("http.allowed_hosts: {host:?} is not a host name"),
                );
            } else {
                http.allowed_hosts.push(host);
            }
        }
        if !(1..=10_000).contains(&http.max_connections) {
            mistake(
                self.max_connections.span(),
                format!(
                    "http.max_connections is {}; expected 1 to 10000",
                    http.max_connections
                ),
            );
        }
        if !(1..=http.max_connections.max(1)).contains(&http.max_event_streams) {
            mistake(
                self.max_event_streams.span(),
                format!(
                    "http.max_event_streams is {}; expected 1 to max_connections",
                    http.max_event_streams
                ),
            );
        }
        match super::parse_size(self.max_body.get_ref()).ok() {
            Some(n) if (1024..=16 * 1024 * 1024).contains(&n) => {
                http.max_body_bytes = n as usize;
            }
            _ => mistake(
                self.max_body.span(),
                format!(
                    "http.max_body {:?} must be a size from 1 KiB to 16 MiB, like \"64 KiB\"",
                    self.max_body.get_ref()
                ),
            ),
        }
        if let Some(token) = &self.admin_token {
            http.admin_token = secret("http.admin_token", token, mistake);
        }
        http
    }
}

/// `[terminal]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTerminal {
    /// Browsers may ask to be paired with the edge (a supervisor confirms the code they show).
    #[serde(default = "yes")]
    pairing: bool,
}

impl Default for RawTerminal {
    fn default() -> Self {
        RawTerminal { pairing: true }
    }
}

fn yes() -> bool {
    true
}

/// `[[terminals]]`: a terminal with a credential of its own (a kiosk's URL carries it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTerminalEntry {
    id: Spanned<String>,
    stations: Vec<String>,
    key: Spanned<Secret>,
}

/// A terminal configured with its own credential.
#[derive(Debug, Clone)]
pub struct ConfiguredTerminal {
    pub id: String,
    /// The stations it may act at.
    pub stations: Vec<String>,
    pub key: Token,
}

/// Who may act at the line's terminals.
#[derive(Debug, Clone)]
pub struct TerminalSettings {
    pub pairing: bool,
    pub configured: Vec<ConfiguredTerminal>,
}

impl Default for TerminalSettings {
    fn default() -> Self {
        TerminalSettings {
            pairing: true,
            configured: Vec::new(),
        }
    }
}

pub(super) fn terminals(
    terminal: RawTerminal,
    entries: Vec<RawTerminalEntry>,
    mistake: &mut impl FnMut(std::ops::Range<usize>, String),
) -> TerminalSettings {
    let mut settings = TerminalSettings {
        pairing: terminal.pairing,
        configured: Vec::new(),
    };
    let mut ids = std::collections::BTreeSet::new();
    for entry in entries {
        let id = entry.id.get_ref().clone();
        if let Err(v) = protocol::bounds::check_id("terminals.id", &id) {
            mistake(entry.id.span(), v.to_string());
        } else if !ids.insert(id.clone()) {
            mistake(
                entry.id.span(),
                format!("terminal {id:?} is configured twice"),
            );
        }
        if entry.stations.is_empty() {
            mistake(
                entry.id.span(),
                format!("terminal {id:?} names no stations; expected the stations it may act at"),
            );
        }
        for station in &entry.stations {
            if let Err(v) = protocol::bounds::check_id("terminals.stations", station) {
                mistake(entry.id.span(), v.to_string());
            }
        }
        if let Some(key) = secret(&format!("terminal {id:?}: key"), &entry.key, mistake) {
            settings.configured.push(ConfiguredTerminal {
                id,
                stations: entry.stations,
                key,
            });
        }
    }
    settings
}

/// `[health]`: when the agent says it is not healthy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    /// `/healthz` answers 503 once events have waited this long for central (the agent keeps
    /// recording; someone should look at the link).
    #[serde(default = "default_uplink_stalled_after", with = "protocol::duration")]
    uplink_stalled_after: Duration,
}

impl Default for RawHealth {
    fn default() -> Self {
        RawHealth {
            uplink_stalled_after: default_uplink_stalled_after(),
        }
    }
}

fn default_uplink_stalled_after() -> Duration {
    Duration::from_secs(15 * 60)
}

/// When the agent reports itself unhealthy.
#[derive(Debug, Clone)]
pub struct HealthSettings {
    pub uplink_stalled_after: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            uplink_stalled_after: default_uplink_stalled_after(),
        }
    }
}

impl RawHealth {
    pub(super) fn validate(self) -> HealthSettings {
        HealthSettings {
            uplink_stalled_after: self.uplink_stalled_after,
        }
    }
}
