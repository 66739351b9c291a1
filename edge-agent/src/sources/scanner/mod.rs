//! Fixed-mount barcode scanners: each code a scanner reads becomes a [`ScanRequest`] for the
//! processor (`processor/scan.rs`), bound to the scanner's station.
//!
//! ```text
//!  connect = "host:port"   agent dials the scanner; reconnects with backoff (it may be down)
//!  listen  = "ip:port"     scanners dial the agent; each connection bound to `station`, or to
//!                          its peer IP's station in [sources.peers] (unknown peers refused)
//!  serial  = "/dev/tty…"   RS-232 / USB-CDC, with the `serial-scanner` feature (serial.rs)
//!
//!  bytes ──framing.rs (sans-I/O)──> code ──ScanRequest, mpsc 4096, full: reading waits──> processor
//!        └─> not a code (not UTF-8, too long, cut off) ──> DeviceFault event (rate-limited)
//!  processor ──ScanOutcome (oneshot, after the commit)──> ack / nak written to the scanner
//! ```
//!
//! With `ack` or `nak` configured, a connection waits for each scan's outcome before it reads
//! the next code, so replies go out in scan order and a green light means "stored": the
//! processor answers only after the scan's event is committed. `ack` goes out for an accepted
//! scan; `nak` for a refused one, one that could not be stored, and a frame that was not a code.
//! Without either, scans are handed over without waiting.
//!
//! A dropped or failed connection is a `DeviceFault` event naming the scanner and the error
//! (at most one per `fault_interval`; the ones in between are counted into the next), and the
//! status shows the scanner `down` until it is back (a listening source: `connected` while at
//! least one scanner is, with each peer and its station in the detail; at most
//! [`MAX_CONNECTIONS`] at once). Nothing a scanner sends can stop the source: a bad frame is
//! reported and the stream goes on at the next terminator. Bytes that are not UTF-8 are a
//! device fault, not a scan (`framing.rs` says why). A serial scanner in a build without the
//! `serial-scanner` feature is one fault event and a `down` status, not a failed start.
//!
//! A scanner that vanishes without closing its TCP connection (power cut, cable pulled) is
//! noticed by TCP keep-alive, on by default on every scanner connection (`keepalive_idle`
//! 30 s, then `keepalive_probes` 3 probes `keepalive_interval` 10 s apart: about a minute;
//! `sources/tcp.rs`): the read fails, which is a lost link like any other (`connect`: dial
//! again; `listen`: the peer's slot is freed). `idle_timeout`, off by default since scanners
//! idle for hours, also closes a connection that carried no byte for that long (a scanner
//! behind a firewall that silently drops idle flows, one that sends heartbeats): `connect`
//! dials again at once, `listen` frees the slot; the status says so, and it is not a fault.

pub mod framing;
#[cfg(feature = "serial-scanner")]
pub mod serial;

use self::framing::{DEFAULT_MAX_LEN, Decoder, Frame, Framing, Terminator};
use super::{ScanRequest, SourceMessage};
use crate::backoff::Backoff;
use crate::config::modbus::PathSeg;
use crate::exchange::ScanResult;
use crate::live::{DeviceBoard, DeviceStatus};
use crate::sources::modbus::health::FaultLimiter;
use crate::sources::tcp::{KeepAlive, set_keepalive};
use chrono::Utc;
use protocol::{DeviceId, EventBody, EventId, EventKind, Source, StationId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

/// `[[sources]] type = "scanner"`, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// The scanner's device id (events and status carry it).
    pub name: String,
    /// The station its scans are for; with `listen`, either this or `peers`.
    #[serde(default)]
    pub station: Option<String>,
    /// `host:port` of a scanner that listens (the agent is the client).
    #[serde(default)]
    pub connect: Option<String>,
    /// `ip:port` the agent listens on for scanners that connect to it.
    #[serde(default)]
    pub listen: Option<String>,
    /// Serial port (needs the `serial-scanner` feature when the source starts).
    #[serde(default)]
    pub serial: Option<String>,
    /// Serial speed, 8N1 (default 9600, most scanners' factory setting; USB-CDC ignores it).
    #[serde(default)]
    pub baud: Option<u32>,
    /// With `listen`: the station of each scanner, by its IP address.
    #[serde(default)]
    pub peers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub framing: Terminator,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub suffix: Option<String>,
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Written to the scanner when a scan is accepted and stored (e.g. `"\u0006"`).
    #[serde(default)]
    pub ack: Option<String>,
    /// Written when a scan is refused, not stored, or not a code (e.g. `"\u0015"`).
    #[serde(default)]
    pub nak: Option<String>,
    #[serde(default = "default_connect_timeout", with = "protocol::duration")]
    pub connect_timeout: Duration,
    #[serde(default = "default_backoff_min", with = "protocol::duration")]
    pub backoff_min: Duration,
    #[serde(default = "default_backoff_max", with = "protocol::duration")]
    pub backoff_max: Duration,
    /// At most one fault event of each kind (link, data) per interval.
    #[serde(default = "default_fault_interval", with = "protocol::duration")]
    pub fault_interval: Duration,
    /// TCP only: close a connection that carried no byte for this long (`connect`: dial
    /// again; `listen`: free its slot). Off when absent.
    #[serde(default, with = "protocol::duration::option")]
    pub idle_timeout: Option<Duration>,
    /// TCP only: silence before the first keep-alive probe (default 30s); `"0s"` turns
    /// keep-alive off.
    #[serde(default, with = "protocol::duration::option")]
    pub keepalive_idle: Option<Duration>,
    /// TCP only: time between keep-alive probes (default 10s).
    #[serde(default, with = "protocol::duration::option")]
    pub keepalive_interval: Option<Duration>,
    /// TCP only: unanswered probes before the connection counts as lost (default 3).
    #[serde(default)]
    pub keepalive_probes: Option<u32>,
}

fn default_max_len() -> usize {
    DEFAULT_MAX_LEN
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_backoff_min() -> Duration {
    Duration::from_millis(500)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_fault_interval() -> Duration {
    Duration::from_secs(60)
}

/// Most bytes a code may have (`max_len`).
pub const MAX_LEN_LIMIT: usize = 1 << 20;
/// Most scanners connected to one listening source at once; more are refused, so a device
/// that keeps opening connections cannot exhaust the agent's memory or file descriptors.
pub const MAX_CONNECTIONS: usize = 64;
/// How long writing an ack or nak may take before the connection counts as lost.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A validated scanner.
#[derive(Debug, Clone, PartialEq)]
pub struct Scanner {
    pub name: String,
    pub link: Link,
    pub framing: Framing,
    pub ack: Option<Vec<u8>>,
    pub nak: Option<Vec<u8>>,
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub fault_interval: Duration,
    /// TCP: a connection silent this long is closed. `None` for a serial scanner.
    pub idle_timeout: Option<Duration>,
    /// TCP keep-alive on each connection; `None` when turned off, or for a serial scanner.
    pub keepalive: Option<KeepAlive>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connect {
        addr: String,
        station: StationId,
    },
    Listen {
        addr: SocketAddr,
        stations: Binding,
    },
    Serial {
        path: String,
        baud: u32,
        station: StationId,
    },
}

/// Which station a connection to a listening source is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    Every(StationId),
    ByPeer(BTreeMap<IpAddr, StationId>),
}

impl Binding {
    /// The station of a scanner at `ip`; `None` refuses it.
    pub fn station_for(&self, ip: IpAddr) -> Option<&StationId> {
        match self {
            Binding::Every(s) => Some(s),
            Binding::ByPeer(peers) => peers.get(&ip.to_canonical()),
        }
    }
}

/// One mistake in a scanner's table: the key it is about, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerMistake {
    pub path: Vec<PathSeg>,
    pub message: String,
}

impl ScannerConfig {
    /// Checks everything; every mistake is returned, each with the key it is about.
    pub fn validate(&self) -> Result<Scanner, Vec<ScannerMistake>> {
        let mut mistakes = Vec::new();
        let name = self.name.trim();
        let who = format!("scanner {name:?}");
        let mut wrong = |key: &'static str, message: String| {
            mistakes.push(ScannerMistake {
                path: vec![PathSeg::Key(key)],
                message,
            })
        };
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            wrong(
                "name",
                format!(
                    "scanner name {:?} must be non-empty, without spaces",
                    self.name
                ),
            );
        }
        let station = match self.station.as_deref().map(str::trim) {
            Some("") => {
                wrong("station", format!("{who}: station must not be empty"));
                None
            }
            s => s.map(StationId::from),
        };
        let links = [
            ("connect", self.connect.is_some()),
            ("listen", self.listen.is_some()),
            ("serial", self.serial.is_some()),
        ];
        let given: Vec<&str> = links.iter().filter(|l| l.1).map(|l| l.0).collect();
        if given.len() != 1 {
            wrong(
                given.get(1).copied().unwrap_or("name"),
                format!(
                    "{who}: give exactly one of connect, listen or serial (found {})",
                    if given.is_empty() {
                        "none".to_owned()
                    } else {
                        given.join(" and ")
                    }
                ),
            );
        }
        if self.baud.is_some() && self.serial.is_none() {
            wrong("baud", format!("{who}: baud is only for a serial scanner"));
        }
        if self.peers.is_some() && self.listen.is_none() {
            wrong(
                "peers",
                format!("{who}: peers is only for a listening scanner source (listen = …)"),
            );
        }
        let mut link = None;
        if let Some(addr) = &self.connect {
            match addr.rsplit_once(':') {
                Some((host, port))
                    if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
                _ => wrong(
                    "connect",
                    format!("{who}: connect {addr:?} is not host:port (e.g. \"10.0.0.21:2001\")"),
                ),
            }
            match &station {
                Some(station) => {
                    link = Some(Link::Connect {
                        addr: addr.clone(),
                        station: station.clone(),
                    })
                }
                None => wrong("station", format!("{who}: station is missing")),
            }
        }
        if let Some(addr) = &self.listen {
            let parsed = addr.parse::<SocketAddr>().map_err(|_| {
                wrong(
                    "listen",
                    format!("{who}: listen {addr:?} is not ip:port (e.g. \"0.0.0.0:5000\")"),
                )
            });
            let stations = match (&station, &self.peers) {
                (Some(station), None) => Some(Binding::Every(station.clone())),
                (None, Some(peers)) => {
                    let mut table = BTreeMap::new();
                    for (ip, peer_station) in peers {
                        match ip.parse::<IpAddr>() {
                            Ok(ip) if !peer_station.trim().is_empty() => {
                                table.insert(
                                    ip.to_canonical(),
                                    StationId::from(peer_station.trim()),
                                );
                            }
                            Ok(_) => wrong(
                                "peers",
                                format!("{who}: peers.{ip:?} names an empty station"),
                            ),
                            Err(_) => wrong(
                                "peers",
                                format!("{who}: peers key {ip:?} is not an IP address"),
                            ),
                        }
                    }
                    if table.is_empty() && !peers.is_empty() {
                        None
                    } else if table.is_empty() {
                        wrong(
                            "peers",
                            format!("{who}: peers is empty; every scanner would be refused"),
                        );
                        None
                    } else {
                        Some(Binding::ByPeer(table))
                    }
                }
                (Some(_), Some(_)) => {
                    wrong(
                        "peers",
                        format!(
                            "{who}: give station (every scanner that connects) or peers \
                             (a station per scanner IP), not both"
                        ),
                    );
                    None
                }
                (None, None) => {
                    wrong(
                        "listen",
                        format!(
                            "{who}: a listening source needs station (for every scanner) or \
                             [sources.peers] (a station per scanner IP)"
                        ),
                    );
                    None
                }
            };
            if let (Ok(addr), Some(stations)) = (parsed, stations) {
                link = Some(Link::Listen { addr, stations });
            }
        }
        if let Some(path) = &self.serial {
            let baud = self.baud.unwrap_or(9600);
            if path.trim().is_empty() {
                wrong("serial", format!("{who}: serial names no port"));
            }
            if !(50..=4_000_000).contains(&baud) {
                wrong(
                    "baud",
                    format!("{who}: baud is {baud}; expected 50 to 4000000"),
                );
            }
            match &station {
                Some(station) => {
                    link = Some(Link::Serial {
                        path: path.clone(),
                        baud,
                        station: station.clone(),
                    })
                }
                None => wrong("station", format!("{who}: station is missing")),
            }
        }
        if !(1..=MAX_LEN_LIMIT).contains(&self.max_len) {
            wrong(
                "max_len",
                format!(
                    "{who}: max_len is {}; expected 1 to {MAX_LEN_LIMIT}",
                    self.max_len
                ),
            );
        }
        let terminator = self.framing;
        let ends_code = |s: &str| {
            s.bytes().any(|b| match terminator {
                Terminator::Cr => b == b'\r',
                Terminator::Lf => b == b'\n',
                Terminator::Crlf => b == b'\r' || b == b'\n',
                Terminator::Etx => b == framing::ETX,
            })
        };
        for (key, value) in [("prefix", &self.prefix), ("suffix", &self.suffix)] {
            if let Some(v) = value
                && ends_code(v)
            {
                wrong(
                    key,
                    format!(
                        "{who}: {key} {v:?} holds the terminator of framing {:?}; the code \
                         ends there (leave the terminator out of {key})",
                        terminator.as_str()
                    ),
                );
            }
        }
        for (key, value) in [("ack", &self.ack), ("nak", &self.nak)] {
            if value.as_deref() == Some("") {
                wrong(key, format!("{who}: {key} must not be empty"));
            }
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            wrong(
                "backoff_min",
                format!("{who}: backoff_min must be above zero and not above backoff_max"),
            );
        }
        if self.connect_timeout.is_zero() {
            wrong(
                "connect_timeout",
                format!("{who}: connect_timeout must be above zero"),
            );
        }
        let tcp = self.serial.is_none();
        let tcp_only = [
            ("idle_timeout", self.idle_timeout.is_some()),
            ("keepalive_idle", self.keepalive_idle.is_some()),
            ("keepalive_interval", self.keepalive_interval.is_some()),
            ("keepalive_probes", self.keepalive_probes.is_some()),
        ];
        for (key, given) in tcp_only {
            if given && !tcp {
                wrong(
                    key,
                    format!("{who}: {key} is only for a TCP scanner (connect or listen)"),
                );
            }
        }
        if self
            .idle_timeout
            .is_some_and(|t| t < Duration::from_millis(100))
        {
            wrong(
                "idle_timeout",
                format!(
                    "{who}: idle_timeout must be at least 100ms (leave it out for no idle timeout)"
                ),
            );
        }
        let keepalive = match self.keepalive_idle {
            Some(idle) if idle.is_zero() => None,
            idle => Some(KeepAlive {
                idle: idle.unwrap_or(KeepAlive::DEFAULT_IDLE),
                interval: self
                    .keepalive_interval
                    .unwrap_or(KeepAlive::DEFAULT_INTERVAL),
                probes: self.keepalive_probes.unwrap_or(KeepAlive::DEFAULT_PROBES),
            }),
        };
        if tcp
            && let Some(k) = &keepalive
            && let Err(e) = k.check()
        {
            let key = if e.contains("probes") {
                "keepalive_probes"
            } else {
                "keepalive_idle"
            };
            wrong(
                key,
                format!("{who}: {e} (keepalive_idle = \"0s\" turns it off)"),
            );
        }
        match link {
            Some(link) if mistakes.is_empty() => Ok(Scanner {
                name: name.to_owned(),
                link,
                framing: Framing {
                    terminator,
                    prefix: self.prefix.clone().unwrap_or_default().into_bytes(),
                    suffix: self.suffix.clone().unwrap_or_default().into_bytes(),
                    max_len: self.max_len,
                },
                ack: self.ack.clone().map(String::into_bytes),
                nak: self.nak.clone().map(String::into_bytes),
                connect_timeout: self.connect_timeout,
                backoff_min: self.backoff_min,
                backoff_max: self.backoff_max,
                fault_interval: self.fault_interval,
                idle_timeout: self.idle_timeout.filter(|_| tcp),
                keepalive: keepalive.filter(|_| tcp),
            }),
            _ => Err(mistakes),
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// Reads one scanner source until `stopping` turns true. Starts whether or not the scanner is
/// there.
pub async fn run(
    scanner: Scanner,
    devices: impl Into<DeviceBoard>,
    to_processor: mpsc::Sender<SourceMessage>,
    mut stopping: watch::Receiver<bool>,
) {
    let shared = Arc::new(Shared {
        link_faults: Mutex::new(FaultLimiter::new(scanner.fault_interval)),
        data_faults: Mutex::new(FaultLimiter::new(scanner.fault_interval)),
        peers: Mutex::new(BTreeMap::new()),
        last_idle: Mutex::new(None),
        scanner,
        devices: devices.into(),
        to_processor,
    });
    match shared.scanner.link.clone() {
        Link::Connect { addr, station } => {
            run_client(&shared, &addr, &station, &mut stopping).await
        }
        Link::Listen { addr, stations } => {
            run_server(&shared, addr, &stations, &mut stopping).await
        }
        Link::Serial {
            path,
            baud,
            station,
        } => run_serial(&shared, &path, baud, &station, &mut stopping).await,
    }
}

struct Shared {
    scanner: Scanner,
    /// Where the scanner's link status is shown.
    devices: DeviceBoard,
    to_processor: mpsc::Sender<SourceMessage>,
    /// Connections lost or refused.
    link_faults: Mutex<FaultLimiter>,
    /// Frames that were not codes.
    data_faults: Mutex<FaultLimiter>,
    /// Listening: the scanners connected now, with their stations.
    peers: Mutex<BTreeMap<SocketAddr, StationId>>,
    /// Listening: the last connection closed for carrying nothing for `idle_timeout`.
    last_idle: Mutex<Option<String>>,
}

/// How a session with one scanner ended.
enum End {
    /// The agent is stopping.
    Stopped,
    /// The processor is gone (the agent is stopping): nothing more can be handed over.
    ProcessorGone,
    /// The connection failed or was closed; the message says how.
    Lost(String),
    /// Nothing came for `idle_timeout`: the agent closed the connection.
    Idle,
}

/// The processor has hung up: the agent is stopping.
struct ProcessorGone;

/// Which limiter a fault goes through.
#[derive(Clone, Copy)]
enum FaultKind {
    Link,
    Data,
}

impl Shared {
    fn show(&self, connected: bool, station: Option<&StationId>, detail: String) {
        let state = if connected { "connected" } else { "down" };
        self.devices
            .set_state_metric(&self.scanner.name, if connected { 0 } else { 2 });
        self.devices.set(DeviceStatus {
            device: self.scanner.name.clone(),
            station: station.map(|s| s.as_str().to_owned()),
            state: state.to_owned(),
            detail: Some(detail),
        });
    }

    /// Logs a fault and, unless it is rate-limited, records it as a `DeviceFault` event.
    async fn fault(
        &self,
        kind: FaultKind,
        station: Option<&StationId>,
        message: String,
    ) -> Result<(), ProcessorGone> {
        let text = format!("scanner {}: {message}", self.scanner.name);
        let limiter = match kind {
            FaultKind::Link => &self.link_faults,
            FaultKind::Data => &self.data_faults,
        };
        let admitted = limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(std::time::Instant::now());
        let Some(suppressed) = admitted else {
            // Counted into the next report; a noisy line must not flood the log either.
            tracing::debug!(scanner = %self.scanner.name, "{text}");
            return Ok(());
        };
        tracing::warn!(scanner = %self.scanner.name, "{text}");
        let message = if suppressed > 0 {
            format!("{text} ({suppressed} more such faults since the last report)")
        } else {
            text
        };
        let body = EventBody {
            id: EventId(uuid::Uuid::now_v7()),
            at: Utc::now(),
            source: Source {
                device: Some(DeviceId::from(self.scanner.name.as_str())),
                station: station.cloned(),
            },
            kind: EventKind::DeviceFault {
                device: DeviceId::from(self.scanner.name.as_str()),
                message,
            },
        };
        self.to_processor
            .send(SourceMessage::Event(Box::new(body)))
            .await
            .map_err(|_| ProcessorGone)
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.scanner.backoff_min, self.scanner.backoff_max)
    }

    /// Turns on TCP keep-alive as configured; a failure is logged, the connection still used.
    fn keep_alive(&self, stream: &tokio::net::TcpStream, peer: &str) {
        if let Some(keepalive) = &self.scanner.keepalive
            && let Err(e) = set_keepalive(stream, keepalive)
        {
            tracing::warn!(scanner = %self.scanner.name, %peer, error = %e,
                "cannot set TCP keep-alive on the scanner connection");
        }
    }

    /// `idle_timeout`, as the status and log say it.
    fn idle_text(&self) -> String {
        self.scanner
            .idle_timeout
            .map(|t| protocol::duration::format(t).to_string())
            .unwrap_or_default()
    }

    /// Reads codes from one connection (or port) until it ends, handing each to the processor
    /// and, when configured, writing back the ack or nak once the outcome is known.
    async fn session<S: AsyncRead + AsyncWrite>(
        &self,
        io: S,
        station: &StationId,
        peer: &str,
        stopping: &mut watch::Receiver<bool>,
    ) -> End {
        let (mut reader, mut writer) = tokio::io::split(io);
        let mut decoder = Decoder::new(self.scanner.framing.clone());
        let mut buf = vec![0u8; 4096];
        let mut frames = Vec::new();
        let wants_outcome = self.scanner.ack.is_some() || self.scanner.nak.is_some();
        loop {
            // Only the wait for the scanner's bytes counts as idle, not a wait for an outcome.
            let idle = async {
                match self.scanner.idle_timeout {
                    Some(timeout) => tokio::time::sleep(timeout).await,
                    None => std::future::pending().await,
                }
            };
            let read = tokio::select! {
                r = reader.read(&mut buf) => r,
                () = idle => return End::Idle,
                _ = stopping.wait_for(|s| *s) => return End::Stopped,
            };
            match read {
                Ok(0) => {
                    let tail = decoder
                        .finish()
                        .map(|e| format!("; {e}"))
                        .unwrap_or_default();
                    return End::Lost(format!("{peer} closed the connection{tail}"));
                }
                Ok(n) => decoder.feed(&buf[..n], &mut frames),
                Err(e) => return End::Lost(format!("reading from {peer} failed: {e}")),
            }
            for frame in std::mem::take(&mut frames) {
                let accepted = match frame {
                    Frame::Code { text, at } => {
                        tracing::debug!(scanner = %self.scanner.name, %station, at, code = ?text, "scanned");
                        let (reply, outcome) = if wants_outcome {
                            let (tx, rx) = oneshot::channel();
                            (Some(tx), Some(rx))
                        } else {
                            (None, None)
                        };
                        // Nothing can be stored now (a full disk, say): NAK at once, with
                        // the reason in the log, rather than hold the scanner for a commit
                        // that cannot happen.
                        if let Some(refusal) = self.devices.refusal() {
                            tracing::warn!(scanner = %self.scanner.name, %station, reason = refusal.reason, "scan refused: {}", refusal.message);
                            false
                        } else {
                            let request = ScanRequest {
                                raw: text,
                                at: Utc::now(),
                                station: station.clone(),
                                device: Some(DeviceId::from(self.scanner.name.as_str())),
                                reply,
                            };
                            if self
                                .to_processor
                                .send(SourceMessage::Scan(Box::new(request)))
                                .await
                                .is_err()
                            {
                                return End::ProcessorGone;
                            }
                            let Some(outcome) = outcome else { continue };
                            let outcome = tokio::select! {
                                o = outcome => o,
                                _ = stopping.wait_for(|s| *s) => return End::Stopped,
                            };
                            match outcome {
                                Ok(o) => {
                                    tracing::debug!(scanner = %self.scanner.name, result = ?o.result, "{}", o.message);
                                    o.result == ScanResult::Accepted
                                }
                                // The processor dropped the reply: nothing says it was stored.
                                Err(_) => false,
                            }
                        }
                    }
                    Frame::Bad(e) => {
                        if self
                            .fault(FaultKind::Data, Some(station), format!("from {peer}: {e}"))
                            .await
                            .is_err()
                        {
                            return End::ProcessorGone;
                        }
                        false
                    }
                };
                let answer = if accepted {
                    &self.scanner.ack
                } else {
                    &self.scanner.nak
                };
                if let Some(bytes) = answer {
                    let written = tokio::time::timeout(WRITE_TIMEOUT, async {
                        writer.write_all(bytes).await?;
                        writer.flush().await
                    })
                    .await;
                    let what = if accepted { "ack" } else { "nak" };
                    match written {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            return End::Lost(format!("writing the {what} to {peer} failed: {e}"));
                        }
                        Err(_) => {
                            return End::Lost(format!(
                                "writing the {what} to {peer} took longer than {}s",
                                WRITE_TIMEOUT.as_secs()
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Waits `wait`, or until stopping; `false` when stopping.
async fn pause(wait: Duration, stopping: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stopping.wait_for(|s| *s) => false,
    }
}

/// The agent dials the scanner, and dials again (with backoff) whenever the link is lost.
async fn run_client(
    shared: &Shared,
    addr: &str,
    station: &StationId,
    stopping: &mut watch::Receiver<bool>,
) {
    tracing::info!(scanner = %shared.scanner.name, %addr, %station, "scanner source connecting");
    shared.show(false, Some(station), format!("not yet connected to {addr}"));
    let mut backoff = shared.backoff();
    // Said in the status while connected after an idle timeout made the agent dial again.
    let mut redialed = String::new();
    loop {
        let connected = tokio::select! {
            c = tokio::time::timeout(shared.scanner.connect_timeout, tokio::net::TcpStream::connect(addr)) => c,
            _ = stopping.wait_for(|s| *s) => return,
        };
        let problem = match connected {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                shared.keep_alive(&stream, addr);
                backoff.succeed();
                shared
                    .link_faults
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reset();
                tracing::info!(scanner = %shared.scanner.name, %addr, "scanner connected");
                shared.show(
                    true,
                    Some(station),
                    format!("connected to {addr}{redialed}"),
                );
                match shared.session(stream, station, addr, stopping).await {
                    End::Stopped | End::ProcessorGone => return,
                    End::Lost(message) => format!("connection lost: {message}"),
                    End::Idle => {
                        // Not a fault: the scanner may just have had nothing to read. If it is
                        // gone, dialing again says so.
                        let idle = shared.idle_text();
                        tracing::info!(scanner = %shared.scanner.name, %addr,
                            "no data from the scanner for {idle}: closed the connection, dialing again");
                        redialed = format!(" (dialed again after {idle} without data)");
                        shared.show(
                            false,
                            Some(station),
                            format!(
                                "no data from {addr} for {idle}: connection closed, dialing again"
                            ),
                        );
                        continue;
                    }
                }
            }
            Ok(Err(e)) => format!("cannot connect to {addr}: {e}"),
            Err(_) => format!(
                "cannot connect to {addr}: no answer within {}",
                protocol::duration::format(shared.scanner.connect_timeout)
            ),
        };
        redialed.clear();
        shared.show(false, Some(station), problem.clone());
        if shared
            .fault(FaultKind::Link, Some(station), problem)
            .await
            .is_err()
        {
            return;
        }
        if !pause(backoff.fail(rand::random()), stopping).await {
            return;
        }
    }
}

/// Scanners dial the agent; each connection is read on its own (a scanner that stalls never
/// delays another), bound to its station, and ends when the agent stops.
async fn run_server(
    shared: &Arc<Shared>,
    addr: SocketAddr,
    stations: &Binding,
    stopping: &mut watch::Receiver<bool>,
) {
    let mut backoff = shared.backoff();
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                let problem = format!("cannot listen on {addr}: {e}");
                shared.show(false, None, problem.clone());
                if shared.fault(FaultKind::Link, None, problem).await.is_err()
                    || !pause(backoff.fail(rand::random()), stopping).await
                {
                    return;
                }
            }
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(scanner = %shared.scanner.name, listen = %local, "scanner source listening");
    show_peers(shared, local);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little, never spin.
                tracing::warn!(scanner = %shared.scanner.name, error = %e, "accepting a scanner connection failed");
                if !pause(Duration::from_millis(100), stopping).await {
                    break;
                }
                continue;
            }
        };
        // Counted by the peers table: a connection leaves it before its loss is reported.
        let n_connected = shared.peers.lock().unwrap_or_else(|e| e.into_inner()).len();
        if n_connected >= MAX_CONNECTIONS {
            tracing::warn!(scanner = %shared.scanner.name, %peer,
                "refused a scanner connection from {peer}: {MAX_CONNECTIONS} scanners are connected already");
            continue;
        }
        let Some(station) = stations.station_for(peer.ip()).cloned() else {
            tracing::warn!(scanner = %shared.scanner.name, %peer,
                "refused a scanner connection from {peer}: its IP is not in [sources.peers]");
            continue;
        };
        let _ = stream.set_nodelay(true);
        shared.keep_alive(&stream, &peer.to_string());
        tracing::info!(scanner = %shared.scanner.name, %peer, %station, "scanner connected");
        shared
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer, station.clone());
        show_peers(shared, local);
        let shared = shared.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let label = format!("{peer} (station {station})");
            let end = shared
                .session(stream, &station, &label, &mut stopping)
                .await;
            shared
                .peers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&peer);
            if let End::Idle = end {
                let idle = shared.idle_text();
                tracing::info!(scanner = %shared.scanner.name, %peer,
                    "no data from the scanner for {idle}: closed its connection");
                *shared.last_idle.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("closed {label} after {idle} without data"));
            }
            show_peers(&shared, local);
            if let End::Lost(message) = end {
                let _ = shared
                    .fault(
                        FaultKind::Link,
                        Some(&station),
                        format!("connection lost: {message}"),
                    )
                    .await;
            }
        });
    }
    // Every connection watches `stopping` too; wait until each has handed over what it read.
    while connections.join_next().await.is_some() {}
}

fn show_peers(shared: &Shared, local: SocketAddr) {
    let peers = shared
        .peers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let station = match peers.values().next() {
        Some(s) if peers.values().all(|p| p == s) => Some(s.clone()),
        _ => None,
    };
    let mut detail = if peers.is_empty() {
        format!("listening on {local}; no scanner connected")
    } else {
        let list: Vec<String> = peers
            .iter()
            .map(|(peer, station)| format!("{peer} ({station})"))
            .collect();
        format!("listening on {local}; connected: {}", list.join(", "))
    };
    if let Some(idle) = &*shared.last_idle.lock().unwrap_or_else(|e| e.into_inner()) {
        detail.push_str("; last ");
        detail.push_str(idle);
    }
    shared.show(!peers.is_empty(), station.as_ref(), detail);
}

/// A serial scanner: opened, read, and opened again (with backoff) when it fails or is
/// unplugged (USB-CDC).
#[cfg(feature = "serial-scanner")]
async fn run_serial(
    shared: &Shared,
    path: &str,
    baud: u32,
    station: &StationId,
    stopping: &mut watch::Receiver<bool>,
) {
    tracing::info!(scanner = %shared.scanner.name, %path, baud, %station, "serial scanner source opening");
    shared.show(false, Some(station), format!("{path} not yet open"));
    let mut backoff = shared.backoff();
    loop {
        let problem = match serial::open(path, baud) {
            Ok(port) => {
                backoff.succeed();
                shared
                    .link_faults
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reset();
                tracing::info!(scanner = %shared.scanner.name, %path, "serial scanner open");
                shared.show(true, Some(station), format!("{path} at {baud} baud"));
                match shared.session(port, station, path, stopping).await {
                    End::Stopped | End::ProcessorGone => return,
                    End::Lost(message) => format!("serial port lost: {message}"),
                    // A serial scanner has no idle timeout (`validate`).
                    End::Idle => format!("{path} idle"),
                }
            }
            Err(e) => e,
        };
        shared.show(false, Some(station), problem.clone());
        if shared
            .fault(FaultKind::Link, Some(station), problem)
            .await
            .is_err()
            || !pause(backoff.fail(rand::random()), stopping).await
        {
            return;
        }
    }
}

/// Without the `serial-scanner` feature a serial scanner cannot be opened: said once, as a
/// fault event and in the status, and the source ends.
#[cfg(not(feature = "serial-scanner"))]
async fn run_serial(
    shared: &Shared,
    path: &str,
    _baud: u32,
    station: &StationId,
    _stopping: &mut watch::Receiver<bool>,
) {
    let problem = format!(
        "cannot open {path}: this agent was built without serial scanners \
         (build it with --features serial-scanner)"
    );
    tracing::error!(scanner = %shared.scanner.name, "{problem}");
    shared.show(false, Some(station), problem.clone());
    let _ = shared.fault(FaultKind::Link, Some(station), problem).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Scanner, Vec<String>> {
        let config: ScannerConfig = toml::from_str(body).unwrap();
        config
            .validate()
            .map_err(|m| m.into_iter().map(|m| m.message).collect())
    }

    #[test]
    fn a_client_scanner_with_defaults() {
        let s = parse("name = \"scan-1\"\nstation = \"st-10\"\nconnect = \"10.0.0.21:2001\"\n")
            .unwrap();
        assert_eq!(
            s.link,
            Link::Connect {
                addr: "10.0.0.21:2001".into(),
                station: "st-10".into()
            }
        );
        assert_eq!(s.framing, Framing::default());
        assert_eq!(s.framing.terminator, Terminator::Crlf);
        assert_eq!(s.framing.max_len, 4096);
        assert_eq!(s.ack, None);
    }

    #[test]
    fn a_listening_source_binds_stations_by_peer_ip() {
        let s = parse(
            "name = \"gate\"\nlisten = \"0.0.0.0:5000\"\nframing = \"etx\"\nack = \"\\u0006\"\nnak = \"\\u0015\"\n\
             [peers]\n\"10.0.0.21\" = \"st-10\"\n\"::ffff:10.0.0.22\" = \"st-20\"\n",
        )
        .unwrap();
        let Link::Listen { addr, stations } = &s.link else {
            panic!("{s:?}")
        };
        assert_eq!(addr.port(), 5000);
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        assert_eq!(stations.station_for(ip("10.0.0.21")), Some(&"st-10".into()));
        // A peer seen through an IPv6 socket as an IPv4-mapped address is the same peer.
        assert_eq!(
            stations.station_for(ip("::ffff:10.0.0.21")),
            Some(&"st-10".into())
        );
        assert_eq!(stations.station_for(ip("10.0.0.22")), Some(&"st-20".into()));
        assert_eq!(stations.station_for(ip("10.0.0.99")), None);
        assert_eq!(s.ack.as_deref(), Some(&[0x06][..]));
        assert_eq!(s.nak.as_deref(), Some(&[0x15][..]));
    }

    #[test]
    fn a_serial_scanner_parses_with_or_without_the_feature() {
        let s = parse("name = \"s\"\nstation = \"st-1\"\nserial = \"/dev/ttyACM0\"\n").unwrap();
        assert_eq!(
            s.link,
            Link::Serial {
                path: "/dev/ttyACM0".into(),
                baud: 9600,
                station: "st-1".into()
            }
        );
    }

    #[test]
    fn every_mistake_is_named() {
        let m = parse("name = \"s\"\nstation = \"st\"\n").unwrap_err();
        assert_eq!(
            m,
            vec!["scanner \"s\": give exactly one of connect, listen or serial (found none)"]
        );
        let m =
            parse("name = \"s\"\nstation = \"st\"\nconnect = \"a:1\"\nlisten = \"0.0.0.0:1\"\n")
                .unwrap_err();
        assert!(m[0].contains("found connect and listen"), "{m:?}");
        let m = parse("name = \"s\"\nconnect = \"nohost\"\nbaud = 9600\n").unwrap_err();
        assert_eq!(
            m,
            vec![
                "scanner \"s\": baud is only for a serial scanner",
                "scanner \"s\": connect \"nohost\" is not host:port (e.g. \"10.0.0.21:2001\")",
                "scanner \"s\": station is missing",
            ]
        );
        let m = parse("name = \"s\"\nlisten = \"0.0.0.0:1\"\n").unwrap_err();
        assert!(m[0].contains("needs station"), "{m:?}");
        let m = parse(
            "name = \"s\"\nstation = \"x\"\nlisten = \"0.0.0.0:1\"\n[peers]\n\"1.2.3.4\" = \"y\"\n",
        )
        .unwrap_err();
        assert!(m[0].contains("not both"), "{m:?}");
        let m = parse("name = \"s\"\nlisten = \"0.0.0.0:1\"\n[peers]\n\"scanner-7\" = \"y\"\n")
            .unwrap_err();
        assert_eq!(
            m,
            vec!["scanner \"s\": peers key \"scanner-7\" is not an IP address"]
        );
        let m = parse(
            "name = \"s\"\nstation = \"x\"\nconnect = \"a:1\"\nsuffix = \"\\r\"\nmax_len = 0\nack = \"\"\n",
        )
        .unwrap_err();
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(m[0].contains("max_len is 0"), "{m:?}");
        assert!(
            m[1].contains("suffix \"\\r\" holds the terminator"),
            "{m:?}"
        );
        assert!(m[2].contains("ack must not be empty"), "{m:?}");
        let m = parse("name = \"s\"\nstation = \"x\"\nserial = \"/dev/ttyS0\"\nbaud = 0\n")
            .unwrap_err();
        assert!(m[0].contains("baud is 0"), "{m:?}");
    }

    #[test]
    fn keepalive_is_on_by_default_and_idle_timeout_off() {
        let s = parse("name = \"s\"\nstation = \"x\"\nconnect = \"a:1\"\n").unwrap();
        assert_eq!(s.keepalive, Some(KeepAlive::default()));
        assert_eq!(s.idle_timeout, None);
        let s = parse(
            "name = \"s\"\nstation = \"x\"\nlisten = \"0.0.0.0:1\"\nidle_timeout = \"10m\"\n\
             keepalive_idle = \"5s\"\nkeepalive_interval = \"2s\"\nkeepalive_probes = 4\n",
        )
        .unwrap();
        assert_eq!(s.idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(
            s.keepalive,
            Some(KeepAlive {
                idle: Duration::from_secs(5),
                interval: Duration::from_secs(2),
                probes: 4
            })
        );
        let s =
            parse("name = \"s\"\nstation = \"x\"\nconnect = \"a:1\"\nkeepalive_idle = \"0s\"\n")
                .unwrap();
        assert_eq!(s.keepalive, None, "0s turns keep-alive off");
        let m = parse(
            "name = \"s\"\nstation = \"x\"\nconnect = \"a:1\"\nidle_timeout = \"0s\"\n\
             keepalive_interval = \"100ms\"\n",
        )
        .unwrap_err();
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(
            m[0].contains("idle_timeout must be at least 100ms"),
            "{m:?}"
        );
        assert!(m[1].contains("at least 1s"), "{m:?}");
        let m = parse(
            "name = \"s\"\nstation = \"x\"\nserial = \"/dev/ttyS0\"\nidle_timeout = \"1m\"\n\
             keepalive_probes = 2\n",
        )
        .unwrap_err();
        assert_eq!(
            m,
            vec![
                "scanner \"s\": idle_timeout is only for a TCP scanner (connect or listen)",
                "scanner \"s\": keepalive_probes is only for a TCP scanner (connect or listen)",
            ]
        );
    }

    #[test]
    fn the_framing_decides_which_bytes_are_the_terminator() {
        // A CR suffix is fine when only LF ends a code.
        let s = parse(
            "name = \"s\"\nstation = \"x\"\nconnect = \"a:1\"\nframing = \"lf\"\nsuffix = \"\\r\"\n",
        )
        .unwrap();
        assert_eq!(s.framing.suffix, b"\r");
        assert!(parse(
            "name = \"s\"\nstation = \"x\"\nconnect = \"a:1\"\nframing = \"etx\"\nprefix = \"\\u0003\"\n"
        )
        .is_err());
    }
}
