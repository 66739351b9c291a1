//! The MQTT subscriber: a persistent QoS 1 session with manual acknowledgements. A message is
//! acknowledged to the broker only after what it said is committed to the journal, so a crash
//! between receive and commit loses nothing: the broker delivers it again.
//!
//! Delivery is at least once: a crash between commit and acknowledgement, or a broker restart,
//! delivers a message twice, and a broker restoring its backlog may reorder messages. Each
//! delivery carries a key (a hash of topic and payload) the processor remembers in the
//! journal, so a message sent again has no effect twice; running totals carry the device's
//! timestamp to tell an old total arriving late from a counter reset (`processor/mqtt.rs`).

use super::config::{MqttConfig, resolve_secret};
use super::framing::{Framer, MAX_CONTROL_PACKET, MAX_TOPIC_BYTES, human_bytes};
use super::rules::{Mapped, MappedValue, Rule, Yields};
use super::sparkplug::{Session, Topic, rebirth_request};
use super::transport::{MARKER_LEN, Marker, Relay, Upstream};
use crate::backoff::Reconnect;
use crate::live::{DeviceBoard, DeviceStatus};
use rumqttc::tokio_rustls::rustls;
use rumqttc::tokio_rustls::rustls::pki_types::pem::PemObject;
use rumqttc::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, Publish, QoS,
    Transport,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// What one MQTT message said, for the processor.
#[derive(Debug, Clone, PartialEq)]
pub enum MqttMessage {
    Mapped(Mapped),
    /// A message that could not be read: becomes a device-fault event.
    Fault {
        device: String,
        message: String,
    },
    /// A Sparkplug birth (`online`) or death of a device the rules name: a death is recorded
    /// as the machine going down, a later birth brings it back.
    Online {
        device: String,
        station: Option<String>,
        online: bool,
        /// What said so, e.g. "Sparkplug DDEATH from edge node gw-1".
        detail: String,
    },
}

/// Messages handed to the processor; `committed` is answered `true` once they are in the
/// journal, and only then is the MQTT message acknowledged.
#[derive(Debug)]
pub struct MqttDelivery {
    pub messages: Vec<MqttMessage>,
    /// The broker sent this message before (DUP set): the agent may have committed it
    /// already and died before acknowledging it.
    pub redelivered: bool,
    /// The message's identity: a hash of its topic and payload ([`message_key`]); `None` for
    /// what no device sent (the embedded broker's own faults).
    pub key: Option<u128>,
    pub committed: oneshot::Sender<bool>,
}

/// A message's identity for deduplication: the first 128 bits of SHA-256 over its topic and
/// payload. Stable across restarts and versions (it is kept in the journal).
pub fn message_key(topic: &str, payload: &[u8]) -> u128 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update((topic.len() as u64).to_be_bytes());
    h.update(topic.as_bytes());
    h.update(payload);
    let digest = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// The keys of messages handed to the processor and not acknowledged, on this connection and
/// the one before. Bounded: at most the broker's in-flight window is unacknowledged at once,
/// and the keys of the connection before are kept only until the next reconnect.
#[derive(Debug, Default)]
pub struct Unacked {
    now: HashMap<u128, u32>,
    before: HashMap<u128, u32>,
}

impl Unacked {
    /// A message is handed over; `true` if a message of the same key was handed over on the
    /// last connection and never acknowledged (this is it again).
    pub fn handed_over(&mut self, key: u128) -> bool {
        *self.now.entry(key).or_default() += 1;
        match self.before.get_mut(&key) {
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.before.remove(&key);
                }
                true
            }
            None => false,
        }
    }

    /// Its commit was answered (acknowledged to the broker if `committed`); a message not
    /// committed stays unacknowledged, and comes again.
    pub fn done(&mut self, key: u128, committed: bool) {
        if !committed {
            return;
        }
        if let Some(n) = self.now.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.now.remove(&key);
            }
        }
    }

    /// A new connection: what is still unacknowledged comes again.
    pub fn reconnected(&mut self) {
        self.before = std::mem::take(&mut self.now);
    }
}

/// Sparkplug devices whose birth and death the edge's status shows, at most.
const MAX_SHOWN_DEVICES: usize = 1024;

/// At most one fault event per key (topic and rule) in this window; the rest are counted and
/// named in the next one, so a device sending garbage ten times a second cannot flood the
/// journal.
const FAULT_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct FaultLimiter {
    last: HashMap<String, (Instant, u64)>,
}

/// Keys a [`FaultLimiter`] tells apart; beyond them (a device inventing topics) every new key
/// shares one window.
pub const FAULT_KEYS: usize = 1024;
const OTHER_KEYS: &str = "\0(other keys)";

impl FaultLimiter {
    /// The message to record now, or `None` when it falls in the window of an earlier one.
    pub fn admit(&mut self, key: &str, message: String, now: Instant) -> Option<String> {
        let key = if self.last.contains_key(key) || self.last.len() < FAULT_KEYS {
            key
        } else {
            self.last
                .retain(|_, (since, _)| now.duration_since(*since) < FAULT_WINDOW);
            if self.last.len() < FAULT_KEYS {
                key
            } else {
                OTHER_KEYS
            }
        };
        match self.last.get_mut(key) {
            Some((since, suppressed)) if now.duration_since(*since) < FAULT_WINDOW => {
                *suppressed += 1;
                None
            }
            Some((since, suppressed)) => {
                let n = std::mem::take(suppressed);
                *since = now;
                Some(if n > 0 {
                    format!("{message} ({n} more like it suppressed)")
                } else {
                    message
                })
            }
            None => {
                self.last.insert(key.to_owned(), (now, 0));
                Some(message)
            }
        }
    }
}

/// Maps one MQTT message through the rules. Sparkplug messages go through the session first;
/// the second value is a rebirth request to publish (topic, payload).
pub fn map_message(
    rules: &[Rule],
    session: &mut Session,
    faults: &mut FaultLimiter,
    topic: &str,
    payload: &[u8],
    now: Instant,
) -> (Vec<MqttMessage>, Option<(String, Vec<u8>)>) {
    let mut out = Vec::new();
    let mut rebirth = None;
    let matching: Vec<&Rule> = rules.iter().filter(|r| r.filter.matches(topic)).collect();
    let sparkplug: Vec<&&Rule> = matching.iter().filter(|r| is_sparkplug(r)).collect();
    // Every Sparkplug message goes through the session (births and deaths included, whatever
    // the rules match), or sequence and alias tracking would break.
    if topic.starts_with("spBv1.0/") && rules.iter().any(|r| is_sparkplug(&r)) {
        let outcome = Topic::parse(topic).and_then(|t| session.handle(&t, payload).map(|o| (t, o)));
        match outcome {
            Err(e) => {
                if let Some(m) = faults.admit(topic, e.clone(), now) {
                    out.push(MqttMessage::Fault {
                        device: fault_device(topic),
                        message: format!("topic {topic}: {m}"),
                    });
                }
            }
            Ok((t, o)) => {
                if let (Some(to), Some(problem)) = (o.rebirth, o.problem) {
                    let device = t.device.clone().unwrap_or_else(|| t.node.clone());
                    // One rebirth request per node per window: the node needs a moment to
                    // answer, and its data meanwhile must not set off a storm of requests.
                    if let Some(m) = faults.admit(&to, problem, now) {
                        out.push(MqttMessage::Fault {
                            device,
                            message: format!("topic {topic}: {m}; asked for a rebirth"),
                        });
                        rebirth = Some((
                            to,
                            rebirth_request(chrono::Utc::now().timestamp_millis() as u64),
                        ));
                    }
                }
                if let Some(online) = o.online {
                    lifecycle(&mut out, rules, &t, &o.concerns, online);
                }
                let (live, historical): (Vec<_>, Vec<_>) =
                    o.metrics.into_iter().partition(|m| !m.historical);
                for rule in &sparkplug {
                    // Live values first; stored (historical) values only for measurements,
                    // which carry their own time and never overwrite live state.
                    let mut results = Vec::new();
                    if let Some(r) = rule.map_sparkplug(topic, &live) {
                        results.push(r);
                    }
                    if matches!(rule.yields, Yields::Measurement { .. }) {
                        for m in &historical {
                            if let Some(r) = rule.map_sparkplug(topic, std::slice::from_ref(m)) {
                                results.push(r);
                            }
                        }
                    }
                    for r in results {
                        push_result(&mut out, faults, rule, topic, r, now);
                    }
                }
            }
        }
    }
    for rule in matching
        .iter()
        .filter(|r| matches!(r.payload, super::rules::RulePayload::Plain(_)))
    {
        let r = rule.map_plain(topic, payload);
        push_result(&mut out, faults, rule, topic, r, now);
    }
    (out, rebirth)
}

/// The births and deaths of a Sparkplug message as [`MqttMessage::Online`], one per device the
/// rules name: each concerned node or device's data topic (NDATA, DDATA) through every
/// Sparkplug rule that matches it.
fn lifecycle(
    out: &mut Vec<MqttMessage>,
    rules: &[Rule],
    topic: &Topic,
    concerns: &[Option<String>],
    online: bool,
) {
    let what = format!(
        "Sparkplug {}",
        match topic.kind {
            super::sparkplug::MessageType::NBirth => "NBIRTH",
            super::sparkplug::MessageType::NDeath => "NDEATH",
            super::sparkplug::MessageType::DBirth => "DBIRTH",
            _ => "DDEATH",
        }
    );
    let mut named: Vec<(String, Option<String>)> = Vec::new();
    for concern in concerns {
        let data = match concern {
            None => format!("spBv1.0/{}/NDATA/{}", topic.group, topic.node),
            Some(d) => format!("spBv1.0/{}/DDATA/{}/{d}", topic.group, topic.node),
        };
        for rule in rules.iter().filter(is_sparkplug) {
            if let Some(device) = rule.device_named_by(&data)
                && !named
                    .iter()
                    .any(|(d, s)| *d == device && *s == rule.station)
            {
                named.push((device, rule.station.clone()));
            }
        }
    }
    for (device, station) in named {
        out.push(MqttMessage::Online {
            device,
            station,
            online,
            detail: format!("{what} from edge node {}", topic.node),
        });
    }
}

fn is_sparkplug(rule: &&Rule) -> bool {
    matches!(rule.payload, super::rules::RulePayload::Sparkplug { .. })
}

/// The topic filters to subscribe to: each rule's, and for Sparkplug rules the whole group
/// (`spBv1.0/GROUP/#`), because the session must see every birth, death and sequence number.
pub fn subscriptions(rules: &[Rule]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for rule in rules {
        let filter = rule.filter.as_str().to_owned();
        let wanted = if is_sparkplug(&rule) {
            match filter.split('/').nth(1) {
                Some(group) if group != "+" && group != "#" => format!("spBv1.0/{group}/#"),
                _ => "spBv1.0/#".to_owned(),
            }
        } else {
            filter
        };
        if !out.contains(&wanted) {
            out.push(wanted);
        }
    }
    out
}

fn push_result(
    out: &mut Vec<MqttMessage>,
    faults: &mut FaultLimiter,
    rule: &Rule,
    topic: &str,
    result: Result<Mapped, String>,
    now: Instant,
) {
    match result {
        Ok(m) => out.push(MqttMessage::Mapped(m)),
        Err(e) => {
            let key = format!("{topic}|{}", rule.filter.as_str());
            if let Some(m) = faults.admit(&key, e, now) {
                out.push(MqttMessage::Fault {
                    device: fault_device(topic),
                    message: format!("topic {topic}, rule {}: {m}", rule.filter.as_str()),
                });
            }
        }
    }
}

/// Connection options for rumqttc: persistent session, QoS 1 with manual acknowledgements,
/// credentials as configured (or `login` for the embedded broker), through the relay's socket
/// (`transport.rs`) with room for packets of `max_payload` bytes.
pub fn options(
    config: &MqttConfig,
    socket: &Path,
    login: Option<(String, String)>,
    max_payload: usize,
) -> Result<MqttOptions, String> {
    let mut o = MqttOptions::new(config.client_id.clone(), socket.display().to_string(), 0);
    o.set_transport(Transport::Unix);
    o.set_keep_alive(config.keep_alive)
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_inflight(config.inflight.max(1))
        .set_max_packet_size(
            Framer::new(max_payload).max_packet() + MARKER_LEN,
            MAX_CONTROL_PACKET,
        );
    match login {
        Some((user, password)) => {
            o.set_credentials(user, password);
        }
        None => {
            if let Some(user) = &config.username {
                let password = match &config.password {
                    Some(p) => resolve_secret(p.expose())?,
                    None => String::new(),
                };
                o.set_credentials(resolve_secret(user)?, password);
            }
        }
    }
    Ok(o)
}

/// The MQTT client's reconnect policy ([`Reconnect`]): from [`BACKOFF_MIN`] doubling to
/// [`BACKOFF_MAX`] (or the source's `reconnect_max`), back to the start only after a connection that stayed up [`STAYED_UP`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
pub const STAYED_UP: Duration = Duration::from_secs(30);

/// The fault for a message the relay refused for its size (a [`Marker`] in its place).
pub fn refused_fault(
    faults: &mut FaultLimiter,
    topic: &str,
    marker: Marker,
    max_payload: usize,
    now: Instant,
) -> Option<MqttMessage> {
    let why = if marker.topic_bytes as usize > MAX_TOPIC_BYTES {
        format!(
            "a message whose topic has {} bytes, over {MAX_TOPIC_BYTES}",
            marker.topic_bytes
        )
    } else {
        format!(
            "a message of {} over max_payload_bytes ({})",
            human_bytes(usize::try_from(marker.payload_bytes).unwrap_or(usize::MAX)),
            human_bytes(max_payload)
        )
    };
    let message = faults.admit(
        &format!("{topic}|too large"),
        format!("topic {topic}: {why}; refused, acknowledged and dropped"),
        now,
    )?;
    Some(MqttMessage::Fault {
        device: fault_device(topic),
        message,
    })
}

/// The longest device name a fault gets from a topic: an id of the event protocol.
pub const MAX_FAULT_DEVICE: usize = protocol::bounds::MAX_ID_LEN;

/// A topic as the device of a fault: control characters escaped, cut to [`MAX_FAULT_DEVICE`]
/// bytes (a fault need not tell devices apart as exactly as a count; its message names the
/// whole topic).
pub fn fault_device(topic: &str) -> String {
    let name = protocol::bounds::sanitize(topic.trim(), MAX_FAULT_DEVICE, false);
    if name.is_empty() {
        "mqtt".to_owned()
    } else {
        name
    }
}

/// The TLS settings of an `mqtts://` broker, built once at start: a missing or wrong file is
/// reported then, by its name, instead of failing every reconnect with a vaguer message. The
/// crypto provider is named here rather than taken from the process default, which rustls
/// cannot pick (and panics) once two providers are compiled in.
pub fn tls_config(config: &MqttConfig) -> Result<rustls::ClientConfig, String> {
    let ca_file = config.ca_file.as_deref().ok_or(
        "an mqtts:// broker needs ca_file: the PEM file of the CA that signed the broker's \
         certificate",
    )?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(ca_file, "ca_file")? {
        roots.add(cert).map_err(|e| {
            format!(
                "ca_file {}: not a usable CA certificate: {e}",
                ca_file.display()
            )
        })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots);
    match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "client_cert")?;
            let pem = read_file(key, "client_key")?;
            let key_der = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
                format!(
                    "client_key {}: no PEM private key in it ({e}); expected a PKCS#8, PKCS#1 \
                     or SEC1 key",
                    key.display()
                )
            })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                format!(
                    "client_cert {} and client_key {} do not go together: {e}",
                    cert.display(),
                    key.display()
                )
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

pub(crate) fn read_file(path: &Path, setting: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{setting} {}: cannot read it: {e}", path.display()))
}

/// Every certificate in a PEM file; none at all is a mistake.
pub(crate) fn read_certs(
    path: &Path,
    setting: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(path, setting)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{setting} {}: bad PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{setting} {}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// A connection failure as rumqttc sees it, in words an operator can act on: which broker,
/// what failed, and for logins what to check. Shown as the source's device status. (TLS and
/// socket errors are the relay's to describe: `transport.rs`.)
pub fn describe_failure(broker: &str, e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => format!(
            "broker {broker} refused the login ({code:?}): check username and password (or the \
             client certificate) and the broker's access rules"
        ),
        ConnectionError::ConnectionRefused(code) => {
            format!("broker {broker} refused the connection: {code:?}")
        }
        other => format!("broker {broker}: {other}"),
    }
}

/// Runs the subscriber until shutdown. Never returns early on a broker problem: it reports
/// the device state and reconnects with growing waits.
pub async fn run(
    config: MqttConfig,
    out: mpsc::Sender<MqttDelivery>,
    devices: impl Into<DeviceBoard>,
    mut shutdown: watch::Receiver<bool>,
) {
    let device_name = format!("mqtt:{}", config.broker);
    let devices: DeviceBoard = devices.into();
    let (addr, rules) = match config.validate() {
        Ok(v) => v,
        Err(mistakes) => {
            tracing::error!(?mistakes, "mqtt source not started");
            return;
        }
    };
    // The embedded broker of this edge, if that is where the source reads: the source
    // connects to rumqttd itself, past the front that holds each device's PUBACK until the
    // message is committed here (broker.rs).
    let gate = crate::broker::gate_for(&addr.host, addr.port);
    let max_payload = match &gate {
        Some(gate) => config.max_payload_bytes.max(gate.max_payload_bytes),
        None => config.max_payload_bytes,
    };
    let prepared = (|| {
        let (upstream, login) = match &gate {
            Some(gate) => (
                Upstream {
                    host: gate.inner.ip().to_string(),
                    port: gate.inner.port(),
                    tls: None,
                    broker: config.broker.clone(),
                },
                Some((
                    gate.inner_login.username.clone(),
                    gate.inner_login.password.clone(),
                )),
            ),
            None => (
                Upstream {
                    host: addr.host.clone(),
                    port: addr.port,
                    tls: if addr.tls {
                        Some(Arc::new(tls_config(&config)?))
                    } else {
                        None
                    },
                    broker: config.broker.clone(),
                },
                None,
            ),
        };
        let nonce: [u8; 16] = rand::random();
        let relay = Relay::start(upstream, max_payload, nonce)?;
        let options = options(&config, relay.socket(), login, max_payload)?;
        Ok::<_, String>((relay, options, nonce))
    })();
    let (relay, options, nonce) = match prepared {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "mqtt source not started");
            devices.set(status(&device_name, "down", Some(e)));
            return;
        }
    };
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    let reconnect_max = config.reconnect_max;
    // The event loop runs in its own task, so keep-alives and acknowledgements go out while
    // this loop waits for the processor. It must never wait for this loop: acknowledgements
    // reach the broker only through the event loop, and this loop may be waiting for the
    // acknowledger, which may be waiting to queue an acknowledgement — a bounded channel here
    // closed that circle and stalled the source under load. So the channel is unbounded, and
    // bounded in fact: only connection acknowledgements, messages (at most the broker's
    // in-flight window is unacknowledged) and errors are forwarded, and after an error the
    // driver itself waits before polling again (rumqttc reconnects on the next poll).
    let (to_loop, mut events) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut backoff = Reconnect::new(BACKOFF_MIN, reconnect_max, STAYED_UP);
        loop {
            let event = eventloop.poll().await;
            let wait = match &event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff.connected(Instant::now());
                    None
                }
                Ok(Event::Incoming(Packet::Publish(_) | Packet::SubAck(_))) => None,
                Err(_) => Some(backoff.failed(Instant::now())),
                Ok(_) => continue,
            };
            if to_loop.send((event, wait, backoff.failures())).is_err() {
                return;
            }
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
        }
    });
    let (to_acker, mut acks) =
        mpsc::channel::<(Publish, oneshot::Receiver<bool>)>(config.inflight.max(1) as usize);
    // Messages handed to the processor and not acknowledged yet, by key. A broker sends them
    // again after a reconnect, not always marked DUP (rumqttd replays without it): what comes
    // on a new connection with the key of one unacknowledged on the last is a redelivery.
    let unacked = Arc::new(std::sync::Mutex::new(Unacked::default()));
    let mut registration = None;
    // Acknowledges in the order messages arrived (MQTT 3.1.1, 4.6), each after its commit.
    let acker_client = client.clone();
    let acker_gate = gate.clone();
    let acker_unacked = unacked.clone();
    let acker = tokio::spawn(async move {
        while let Some((publish, committed)) = acks.recv().await {
            let key = message_key(&publish.topic, &publish.payload);
            let committed = committed.await.unwrap_or(false);
            acker_unacked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .done(key, committed);
            if committed {
                let _ = acker_client.ack(&publish).await;
                if let Some(gate) = &acker_gate {
                    gate.committed(&publish.topic, &publish.payload);
                }
            }
        }
    });
    let mut session = Session::default();
    let mut faults = FaultLimiter::default();
    let mut shown = std::collections::HashSet::new();
    devices.set(status(&device_name, "connecting", None));
    loop {
        let broker_faults = async {
            match &gate {
                Some(gate) => gate.take_faults().await,
                None => std::future::pending().await,
            }
        };
        let (event, wait, failures) = tokio::select! {
            e = events.recv() => match e {
                Some(e) => e,
                None => break,
            },
            found = broker_faults => {
                // The embedded broker's own faults (refused logins and publishes), recorded
                // like a device's; nothing to acknowledge.
                let (committed, _receipt) = oneshot::channel();
                let messages = found
                    .into_iter()
                    .map(|(device, message)| MqttMessage::Fault { device, message })
                    .collect();
                if out
                    .send(MqttDelivery { messages, redelivered: false, key: None, committed })
                    .await
                    .is_err()
                {
                    break;
                }
                continue;
            }
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                unacked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reconnected();
                devices.set(status(&device_name, "connected", None));
                tracing::info!(broker = %config.broker, session_present = ack.session_present, "mqtt connected");
                for filter in subscriptions(&rules) {
                    if let Err(e) = client.subscribe(&filter, QoS::AtLeastOnce).await {
                        tracing::error!(error = %e, topic = %filter, "cannot subscribe");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                // Subscribed: from now on every message the embedded broker holds for this
                // source reaches it.
                if let (Some(gate), None) = (&gate, &registration) {
                    let filters = subscriptions(&rules)
                        .iter()
                        .filter_map(|f| crate::sources::mqtt::topic::TopicFilter::parse(f).ok())
                        .collect();
                    registration = Some(gate.register(&config.client_id, filters));
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let now = Instant::now();
                let (messages, rebirth) = match Marker::decode(&publish.payload, &nonce) {
                    Some(marker) => {
                        let detail = format!(
                            "refused a message of {} on {}: over max_payload_bytes ({})",
                            human_bytes(
                                usize::try_from(marker.payload_bytes).unwrap_or(usize::MAX)
                            ),
                            fault_device(&publish.topic),
                            human_bytes(max_payload)
                        );
                        devices.set(status(&device_name, "connected", Some(detail)));
                        (
                            refused_fault(&mut faults, &publish.topic, marker, max_payload, now)
                                .into_iter()
                                .collect(),
                            None,
                        )
                    }
                    None => map_message(
                        &rules,
                        &mut session,
                        &mut faults,
                        &publish.topic,
                        &publish.payload,
                        now,
                    ),
                };
                if let Some((topic, payload)) = rebirth {
                    let _ = client
                        .publish(topic, QoS::AtLeastOnce, false, payload)
                        .await;
                }
                // Births and deaths show in the edge's status (a bounded number of devices).
                for m in &messages {
                    if let MqttMessage::Online {
                        device,
                        station,
                        online,
                        detail,
                    } = m
                        && (shown.contains(device) || shown.len() < MAX_SHOWN_DEVICES)
                    {
                        shown.insert(device.clone());
                        devices.set(DeviceStatus {
                            device: device.clone(),
                            station: station.clone(),
                            state: if *online { "online" } else { "offline" }.to_owned(),
                            detail: Some(detail.clone()),
                        });
                    }
                }
                let key = message_key(&publish.topic, &publish.payload);
                let redelivered = unacked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .handed_over(key)
                    || publish.dup;
                let key = Some(key);
                let (committed, receipt) = oneshot::channel();
                if messages.is_empty() {
                    let _ = committed.send(true);
                } else if out
                    .send(MqttDelivery {
                        messages,
                        redelivered,
                        key,
                        committed,
                    })
                    .await
                    .is_err()
                {
                    break;
                }
                if to_acker.send((publish, receipt)).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                // The relay knows best what went wrong with the broker (TLS, a dead
                // connection); rumqttc what the broker said (a refused login).
                let why = relay
                    .take_error()
                    .filter(|_| !matches!(e, ConnectionError::ConnectionRefused(_)))
                    .unwrap_or_else(|| describe_failure(&config.broker, &e));
                let retry = wait.unwrap_or_default();
                devices.set(status(
                    &device_name,
                    "down",
                    Some(format!(
                        "{why} ({failures} failed connection{} in a row; next try in {retry:?})",
                        if failures == 1 { "" } else { "s" }
                    )),
                ));
                tracing::warn!(error = %why, failures, retry_in = ?retry, "mqtt connection failed");
            }
        }
    }
    drop(to_acker);
    let _ = acker.await;
    drop(registration);
    let _ = client.try_disconnect();
    driver.abort();
    drop(relay);
}

fn status(device: &str, state: &str, detail: Option<String>) -> DeviceStatus {
    DeviceStatus {
        device: device.to_owned(),
        station: None,
        state: state.to_owned(),
        detail,
    }
}

/// Whether a mapped value is a counter total (the processor needs the previous one).
pub fn is_cumulative(m: &Mapped) -> bool {
    matches!(
        m.what,
        MappedValue::Count {
            cumulative: true,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::mqtt::rules::RawRule;

    fn rules(text: &str) -> Vec<Rule> {
        #[derive(serde::Deserialize)]
        struct R {
            rules: Vec<RawRule>,
        }
        toml::from_str::<R>(text)
            .unwrap()
            .rules
            .iter()
            .map(|r| r.validate().unwrap())
            .collect()
    }

    #[test]
    fn sparkplug_rules_subscribe_to_their_whole_group_and_filters_are_not_repeated() {
        let rules = rules(
            r#"
[[rules]]
topic = "plant/+/count"
device = "{1}"
payload = "json"
value = "/good"
yields = "count"
counter = "good"
[[rules]]
topic = "plant/+/count"
device = "{1}"
payload = "json"
value = "/scrap"
yields = "count"
counter = "scrap"
[[rules]]
topic = "spBv1.0/line-1/DDATA/gw-1/+"
device = "{device}"
payload = "sparkplug"
metric = "Good"
yields = "count"
counter = "good"
"#,
        );
        assert_eq!(
            subscriptions(&rules),
            vec!["plant/+/count".to_owned(), "spBv1.0/line-1/#".to_owned()]
        );
    }

    #[test]
    fn malformed_payloads_become_rate_limited_faults_and_good_ones_still_map() {
        let rules = rules(
            r#"
[[rules]]
topic = "plant/+/count"
device = "{1}"
payload = "json"
value = "/good"
yields = "count"
counter = "good"
"#,
        );
        let mut session = Session::default();
        let mut faults = FaultLimiter::default();
        let t0 = Instant::now();
        let (m, _) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "plant/p1/count",
            b"{oops",
            t0,
        );
        assert!(
            matches!(&m[..], [MqttMessage::Fault { message, .. }] if message.contains("not JSON"))
        );
        let (m, _) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "plant/p1/count",
            b"{oops",
            t0,
        );
        assert!(m.is_empty(), "second fault within the window is suppressed");
        let (m, _) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "plant/p1/count",
            br#"{"good":5}"#,
            t0,
        );
        assert!(
            matches!(&m[..], [MqttMessage::Mapped(_)]),
            "the subscription keeps working"
        );
        let later = t0 + FAULT_WINDOW + Duration::from_millis(1);
        let (m, _) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "plant/p1/count",
            b"{oops",
            later,
        );
        assert!(
            matches!(&m[..], [MqttMessage::Fault { message, .. }] if message.contains("1 more like it suppressed"))
        );
        let (m, _) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "other/topic",
            b"x",
            later,
        );
        assert!(m.is_empty(), "no rule, nothing");
    }

    #[test]
    fn the_fault_limiter_keeps_a_bounded_number_of_keys() {
        let mut f = FaultLimiter::default();
        let t0 = Instant::now();
        let admitted = (0..FAULT_KEYS * 3)
            .filter(|n| {
                f.admit(&format!("plant/{n}/count"), "bad".into(), t0)
                    .is_some()
            })
            .count();
        assert!(f.last.len() <= FAULT_KEYS + 1);
        assert_eq!(
            admitted,
            FAULT_KEYS + 1,
            "past the bound, new keys share one window"
        );
        // Once their window passed, keys are forgotten and new ones are told apart again.
        let later = t0 + FAULT_WINDOW + Duration::from_millis(1);
        assert!(f.admit("plant/new/count", "bad".into(), later).is_some());
        assert!(f.last.len() <= 2);
    }

    #[test]
    fn a_refused_message_is_a_fault_naming_topic_and_size() {
        let mut f = FaultLimiter::default();
        let now = Instant::now();
        let marker = Marker {
            payload_bytes: 2 * 1024 * 1024,
            topic_bytes: 14,
        };
        let Some(MqttMessage::Fault { device, message }) =
            refused_fault(&mut f, "plant/p1/count", marker, 64 * 1024, now)
        else {
            panic!("a fault")
        };
        assert_eq!(device, "plant/p1/count");
        assert!(
            message.contains("2.0 MiB") && message.contains("max_payload_bytes (64.0 KiB)"),
            "{message}"
        );
        assert!(
            refused_fault(&mut f, "plant/p1/count", marker, 64 * 1024, now).is_none(),
            "rate-limited like other faults"
        );
        for topic in ["é".repeat(200), "a\u{0}b/\u{202E}".into(), " ".into()] {
            let d = fault_device(&topic);
            assert!(
                protocol::bounds::check_id("device", &d).is_ok(),
                "{d:?} from {topic:?}"
            );
        }
    }

    #[test]
    fn a_sparkplug_gap_yields_a_fault_and_a_rebirth_request() {
        use crate::sources::mqtt::sparkplug::{Metric, MetricValue, Payload, datatype};
        use prost::Message;
        let rules = rules(
            r#"
[[rules]]
topic = "spBv1.0/plant/#"
device = "{device}"
payload = "sparkplug"
metric = "Good"
yields = "count"
counter = "good"
"#,
        );
        let mut session = Session::default();
        let mut faults = FaultLimiter::default();
        let now = Instant::now();
        let p = |seq: u64, value: u32| {
            Payload {
                timestamp: Some(1),
                metrics: vec![Metric {
                    name: Some("Good".into()),
                    alias: Some(1),
                    datatype: Some(datatype::UINT32),
                    value: Some(MetricValue::IntValue(value)),
                    ..Default::default()
                }],
                seq: Some(seq),
                uuid: None,
                body: None,
            }
            .encode_to_vec()
        };
        let (m, r) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "spBv1.0/plant/NBIRTH/gw-1",
            &p(0, 10),
            now,
        );
        // The node's birth (its metrics are its own: the rule names it by its node id), then
        // its count.
        assert!(
            matches!(
                &m[..],
                [
                    MqttMessage::Online { device, online: true, .. },
                    MqttMessage::Mapped(Mapped { what: MappedValue::Count { value: 10, .. }, .. }),
                ] if device == "gw-1"
            ),
            "{m:?}"
        );
        assert!(r.is_none());
        // Its death: the node and, with it, every device it had.
        let (m, _) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "spBv1.0/plant/NDEATH/gw-1",
            &Payload::default().encode_to_vec(),
            now,
        );
        assert!(
            matches!(&m[..], [MqttMessage::Online { device, online: false, detail, .. }] if device == "gw-1" && detail.contains("NDEATH")),
            "{m:?}"
        );
        let (_, _) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "spBv1.0/plant/NBIRTH/gw-1",
            &p(0, 10),
            now,
        );
        let (m, r) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "spBv1.0/plant/NDATA/gw-1",
            &p(1, 11),
            now,
        );
        assert!(matches!(
            &m[..],
            [MqttMessage::Mapped(Mapped {
                what: MappedValue::Count { value: 11, .. },
                ..
            })]
        ));
        assert!(r.is_none());
        let (m, r) = map_message(
            &rules,
            &mut session,
            &mut faults,
            "spBv1.0/plant/NDATA/gw-1",
            &p(9, 12),
            now,
        );
        assert!(
            matches!(&m[..], [MqttMessage::Fault { message, .. }] if message.contains("rebirth"))
        );
        assert_eq!(r.unwrap().0, "spBv1.0/plant/NCMD/gw-1");
    }

    /// What was handed over and not acknowledged when a connection dropped is a redelivery
    /// when it comes again on the next (rumqttd sends it without DUP); what was acknowledged,
    /// or comes on a later connection still, is news.
    #[test]
    fn a_message_unacknowledged_on_the_last_connection_is_a_redelivery() {
        let mut u = Unacked::default();
        assert!(!u.handed_over(1));
        assert!(!u.handed_over(2));
        assert!(!u.handed_over(2));
        u.done(1, true);
        u.done(2, false);
        u.reconnected();
        assert!(!u.handed_over(1), "acknowledged: news");
        assert!(u.handed_over(2));
        assert!(u.handed_over(2), "both copies");
        assert!(!u.handed_over(2), "a third is news");
        u.reconnected();
        u.reconnected();
        assert!(!u.handed_over(2), "forgotten after the connection after");
        assert!(u.before.is_empty());
    }
}
