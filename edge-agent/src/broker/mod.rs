//! An MQTT broker embedded in the edge (rumqttd), for gateways that have no broker of their
//! own: devices connect to it like to any other broker, and the edge's MQTT sources read from
//! it.
//!
//! Devices do not talk to rumqttd directly: rumqttd listens on a loopback port of its own
//! (with a login that only this process knows), and a **front** (`front.rs`) on the configured
//! address reads every connection packet by packet. The front
//! - asks who is there (`auth.rs`): a user name and password per device, or a client
//!   certificate when it listens on TLS; anonymous clients only with `allow_anonymous`; a
//!   client id of the edge's own MQTT clients, or another device's, is refused;
//! - keeps each device to its topics: a PUBLISH outside the device's publish filters is
//!   acknowledged and dropped, with a warning and a device fault (MQTT 3.1.1 has no negative
//!   PUBACK; dropping the connection instead would make the device send the same message
//!   again for ever); a subscription outside its subscribe filters gets the SUBACK failure
//!   code 0x80;
//! - refuses a PUBLISH over `max_payload_bytes` the same way, reading no more of it than its
//!   header;
//! - holds back the PUBACK of a QoS 1 publish whose topic an MQTT source of this edge ingests
//!   (a [`Gate`] registration) until that source has committed the message. rumqttd keeps its
//!   sessions in memory and acknowledges a publish as soon as it has it, so a crash of the
//!   agent would otherwise lose what the broker had acknowledged and the processor had not
//!   committed yet. If the agent dies first, the device never got its PUBACK and sends the
//!   message again when it reconnects (MQTT 3.1.1, 4.4).
//!
//! A held publish is known by its device connection and packet id (the front keeps each
//! device's PUBACK by packet id); what the source commits is known by topic and payload, since
//! rumqttd hands it on under a packet id of its own. So that a commit can only be of the one
//! held publish it names, the front lets at most one message of a given topic and payload wait
//! for its commit at a time ([`Gate::wait_turn`]): an identical one, from the same device or
//! another, goes to rumqttd only once the first is committed. A device's PUBACK is thus
//! released by the commit of its own message, never by a twin's (before, two identical
//! messages from two devices could release each other's PUBACK, and a crash in between lose
//! the one whose device had been told it was stored).
//!
//! The edge's own MQTT clients (its sources, the line state) connect to rumqttd itself, past
//! the front, with the loopback login ([`Gate::inner_login`]).

pub mod auth;
pub mod config;
mod front;

use crate::sources::mqtt::client::FaultLimiter;
use crate::sources::mqtt::topic::TopicFilter;
use bytes::Bytes;
use config::BrokerConfig;
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long devices are kept out while the edge's MQTT sources subscribe.
const SOURCES_WAIT: Duration = Duration::from_secs(30);

/// Faults of the broker (refused logins, publishes outside a device's rights, oversized
/// messages) waiting for an MQTT source of this edge to record them; beyond this the oldest
/// go (they were logged).
const MAX_QUEUED_FAULTS: usize = 256;

/// The user name and password of the loopback listener of rumqttd, random per process.
#[derive(Clone)]
pub struct InnerLogin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for InnerLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InnerLogin({}, <password>)", self.username)
    }
}

/// A published message as the front matches it: topic and payload.
type Message = (String, Bytes);

/// Which published messages must be committed before their PUBACK goes back to the device,
/// and the devices' PUBACKs waiting for it. One per embedded broker.
#[derive(Debug)]
pub struct Gate {
    /// Where rumqttd itself listens: this edge's MQTT clients connect there, past the front.
    pub inner: SocketAddr,
    /// The login they use there.
    pub inner_login: InnerLogin,
    /// The largest payload the front lets in: a source reading from this broker takes at least
    /// as much, so that nothing the front passed (and holds the PUBACK of) is refused later.
    pub max_payload_bytes: usize,
    /// Sources of this edge that will register; devices are let in once they all have, so
    /// no device message reaches the broker before the sources' subscriptions can take it.
    expected: usize,
    ready: tokio::sync::watch::Sender<bool>,
    next_id: AtomicU64,
    /// The client id and topic filters of each MQTT source that ingests from this broker.
    filters: Mutex<HashMap<u64, (String, Vec<TopicFilter>)>>,
    waiting: Mutex<HashMap<Message, VecDeque<oneshot::Sender<()>>>>,
    /// Told after every commit: a publish waiting for its turn looks again.
    released: tokio::sync::Notify,
    /// Faults for a source to record (device, message), rate-limited by key.
    faults: Mutex<(VecDeque<(String, String)>, FaultLimiter)>,
    faults_queued: tokio::sync::Notify,
}

/// An MQTT source's registration with a [`Gate`]; dropping it ends the source's holds.
#[derive(Debug)]
pub struct Registration {
    gate: Arc<Gate>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.gate.filters).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gate {
    /// From now on, QoS 1 publishes on topics matching `filters` are acknowledged to their
    /// device only after [`committed`](Self::committed). Call it once the source's
    /// subscriptions are confirmed, so every held message is sure to reach the source.
    /// A source's own publishes (Sparkplug rebirth requests) are never held: its connection
    /// would wait for a PUBACK that only its own commit of that message could release.
    pub fn register(self: &Arc<Self>, client_id: &str, filters: Vec<TopicFilter>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let registered = {
            let mut all = lock(&self.filters);
            all.insert(id, (client_id.to_owned(), filters));
            all.len()
        };
        if registered >= self.expected {
            self.ready.send_replace(true);
        }
        Registration {
            gate: self.clone(),
            id,
        }
    }

    /// Whether a QoS 1 publish on `topic` from the client `from` waits for a commit.
    fn holds(&self, from: &str, topic: &str) -> bool {
        let filters = lock(&self.filters);
        !filters.values().any(|(source, _)| source == from)
            && filters
                .values()
                .flat_map(|(_, f)| f)
                .any(|f| f.matches(topic))
    }

    /// Registers a held publish of `topic` and `payload`, once no other message with the same
    /// topic and payload waits for its commit (a waiter whose device has gone does not count):
    /// the receiver is released by the commit of this very message. Waits for its turn, so
    /// the caller forwards the publish to rumqttd only after this returns.
    async fn wait_turn(&self, topic: &str, payload: &Bytes) -> oneshot::Receiver<()> {
        let key = (topic.to_owned(), payload.clone());
        loop {
            // Made before looking, so a commit in between is not missed.
            let released = self.released.notified();
            if let Some(rx) = self.try_turn(&key) {
                return rx;
            }
            // A waiter whose device went away is noticed by looking again.
            let _ = tokio::time::timeout(Duration::from_millis(100), released).await;
        }
    }

    fn try_turn(&self, key: &Message) -> Option<oneshot::Receiver<()>> {
        let mut waiting = lock(&self.waiting);
        let queue = waiting.entry(key.clone()).or_default();
        queue.retain(|tx| !tx.is_closed());
        if !queue.is_empty() {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        queue.push_back(tx);
        Some(rx)
    }

    /// A fault of the broker: logged and queued for a source of this edge to record as a
    /// device-fault event, at most one per `key` in the fault window (the rest counted in the
    /// next one).
    pub fn fault(&self, key: &str, device: &str, message: String) {
        let mut faults = lock(&self.faults);
        let (queue, limiter) = &mut *faults;
        let Some(message) = limiter.admit(key, message, Instant::now()) else {
            return;
        };
        tracing::warn!(device, "embedded MQTT broker: {message}");
        if queue.len() >= MAX_QUEUED_FAULTS {
            queue.pop_front();
        }
        queue.push_back((device.to_owned(), message));
        drop(faults);
        self.faults_queued.notify_one();
    }

    /// Waits for faults of the broker and takes them all (for one source to record).
    pub async fn take_faults(&self) -> Vec<(String, String)> {
        loop {
            let notified = self.faults_queued.notified();
            let taken: Vec<_> = lock(&self.faults).0.drain(..).collect();
            if !taken.is_empty() {
                return taken;
            }
            notified.await;
        }
    }

    /// The source has committed (or had nothing to commit for) a message it received: the
    /// oldest device PUBACK waiting for the same topic and payload may go.
    pub fn committed(&self, topic: &str, payload: &Bytes) {
        let mut waiting = lock(&self.waiting);
        let key = (topic.to_owned(), payload.clone());
        if let Some(queue) = waiting.get_mut(&key) {
            while let Some(tx) = queue.pop_front() {
                // A waiter whose device has gone is skipped.
                if tx.send(()).is_ok() {
                    break;
                }
            }
            if queue.is_empty() {
                waiting.remove(&key);
            }
        }
        drop(waiting);
        self.released.notify_waiters();
    }
}

/// The gates of the embedded brokers in this process, by the port devices connect to.
fn gates() -> &'static Mutex<HashMap<u16, Arc<Gate>>> {
    static GATES: OnceLock<Mutex<HashMap<u16, Arc<Gate>>>> = OnceLock::new();
    GATES.get_or_init(Default::default)
}

/// The gate of the embedded broker at `host:port`, if this process runs one there.
pub fn gate_for(host: &str, port: u16) -> Option<Arc<Gate>> {
    if !is_local(host) {
        return None;
    }
    lock(gates()).get(&port).cloned()
}

/// Whether an MQTT source's broker host names this machine (so possibly the embedded broker).
pub fn is_local(host: &str) -> bool {
    matches!(
        host,
        "127.0.0.1" | "localhost" | "::1" | "0.0.0.0" | "[::1]"
    )
}

/// Starts the broker for devices as `config` says (MQTT 3.1.1): rumqttd on its own threads
/// behind the front (module docs), and returns once it accepts connections. It runs until the
/// process ends (rumqttd has no stop). Must be called within a tokio runtime. TLS files and
/// `env:` passwords are read now; a problem names the file or variable.
///
/// `reserved_client_ids`: the client ids of the edge's own MQTT clients, which no device may
/// use. `sources`: how many MQTT sources of this edge read from it. Devices are let in only
/// once they have all subscribed (rumqttd keeps nothing across a restart, so a device message
/// that arrived before would reach no one).
pub fn start(
    config: &BrokerConfig,
    reserved_client_ids: Vec<String>,
    sources: usize,
) -> Result<(), String> {
    let listen = config.listen;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let accounts = auth::Accounts::new(config, reserved_client_ids)?;
    let tls = match &config.tls {
        Some(tls) => Some(front::tls_acceptor(tls)?),
        None => None,
    };
    let front = std::net::TcpListener::bind(listen)
        .map_err(|e| format!("the embedded MQTT broker cannot listen on {listen}: {e}"))?;
    let front_port = front
        .local_addr()
        .map_err(|e| format!("the embedded MQTT broker's address: {e}"))?
        .port();
    let inner = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let inner_login = InnerLogin {
        username: "mes-edge".into(),
        password: format!("{:032x}", rand::random::<u128>()),
    };
    start_rumqttd(inner, &inner_login, config.max_payload_bytes)?;
    front
        .set_nonblocking(true)
        .map_err(|e| format!("the embedded MQTT broker's listener: {e}"))?;
    let front = tokio::net::TcpListener::from_std(front)
        .map_err(|e| format!("the embedded MQTT broker's listener: {e}"))?;
    let gate = Arc::new(Gate {
        inner,
        inner_login,
        max_payload_bytes: config.max_payload_bytes,
        expected: sources,
        ready: tokio::sync::watch::Sender::new(sources == 0),
        next_id: AtomicU64::new(0),
        filters: Mutex::default(),
        waiting: Mutex::default(),
        faults: Mutex::default(),
        faults_queued: tokio::sync::Notify::new(),
        released: tokio::sync::Notify::new(),
    });
    lock(gates()).insert(front_port, gate.clone());
    let front_state = Arc::new(front::Front::new(
        gate.clone(),
        accounts,
        tls,
        config.max_payload_bytes,
    ));
    let mut ready = gate.ready.subscribe();
    tokio::spawn(async move {
        // Connections wait in the listen backlog until the sources have subscribed; a source
        // that never does (it could not start) must not keep the devices out for good.
        match tokio::time::timeout(SOURCES_WAIT, ready.wait_for(|r| *r)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return,
            Err(_) => tracing::warn!(
                waited = ?SOURCES_WAIT,
                "the edge's MQTT sources have not subscribed to the embedded broker; letting devices in anyway: what they publish before a source subscribes reaches no one"
            ),
        }
        front::serve(front_state, front).await;
    });
    Ok(())
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port for the embedded MQTT broker: {e}"))
}

/// rumqttd on `listen`, on its own threads, taking only `login`.
fn start_rumqttd(
    listen: SocketAddr,
    login: &InnerLogin,
    max_payload_bytes: usize,
) -> Result<(), String> {
    let mut v4 = HashMap::new();
    v4.insert(
        "1".to_owned(),
        rumqttd::ServerSettings {
            name: "edge-v4".into(),
            listen,
            tls: None,
            next_connection_delay_ms: 1,
            connections: rumqttd::ConnectionSettings {
                connection_timeout_ms: 60_000,
                // Whole packets: the front lets in payloads up to `max_payload_bytes` with a
                // topic of up to 1 KiB, and other packets up to 64 KiB.
                max_payload_size: (max_payload_bytes + 4 * 1024)
                    .max(crate::sources::mqtt::framing::MAX_CONTROL_PACKET + 1024),
                max_inflight_count: 500,
                auth: Some(HashMap::from([(
                    login.username.clone(),
                    login.password.clone(),
                )])),
                external_auth: None,
                dynamic_filters: true,
            },
        },
    );
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 500,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(v4),
        ..Default::default()
    };
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("mes-mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(|e| format!("cannot start the embedded MQTT broker: {e}"))?;
    let probe = if listen.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], listen.port()))
    } else {
        listen
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&probe, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "the embedded MQTT broker does not accept connections on {listen}: {e}"
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(expected: usize) -> Arc<Gate> {
        Arc::new(Gate {
            inner: SocketAddr::from(([127, 0, 0, 1], 1)),
            inner_login: InnerLogin {
                username: "u".into(),
                password: "p".into(),
            },
            max_payload_bytes: 1024,
            expected,
            ready: tokio::sync::watch::Sender::new(expected == 0),
            next_id: AtomicU64::new(0),
            filters: Mutex::default(),
            waiting: Mutex::default(),
            faults: Mutex::default(),
            faults_queued: tokio::sync::Notify::new(),
            released: tokio::sync::Notify::new(),
        })
    }

    #[test]
    fn only_ingested_topics_from_devices_are_held_and_only_while_registered() {
        let gate = gate(1);
        assert!(
            !gate.holds("press-1", "plant/press-1/count"),
            "nothing registered"
        );
        assert!(!*gate.ready.borrow());
        let registration =
            gate.register("edge", vec![TopicFilter::parse("plant/+/count").unwrap()]);
        assert!(
            *gate.ready.borrow(),
            "devices are let in once every source registered"
        );
        assert!(gate.holds("press-1", "plant/press-1/count"));
        assert!(
            !gate.holds("press-1", "plant/press-1/state"),
            "a topic nobody ingests"
        );
        assert!(
            !gate.holds("edge", "plant/press-1/count"),
            "the source's own publishes"
        );
        drop(registration);
        assert!(!gate.holds("press-1", "plant/press-1/count"));
    }

    #[tokio::test]
    async fn one_message_of_a_topic_and_payload_waits_at_a_time_and_its_commit_releases_it() {
        let gate = gate(0);
        let one = Bytes::from_static(b"1");
        let gone = gate.wait_turn("t", &one).await;
        drop(gone);
        // A waiter whose device has gone does not hold the turn.
        let mut first = gate.wait_turn("t", &one).await;
        let mut other = gate.wait_turn("t", &Bytes::from_static(b"2")).await;
        // An identical message waits for its turn until the first is committed.
        let twin = {
            let gate = gate.clone();
            let one = one.clone();
            // In an Option: the receiver is itself a future.
            tokio::spawn(async move { Some(gate.wait_turn("t", &one).await) })
        };
        tokio::task::yield_now().await;
        assert!(
            !twin.is_finished(),
            "an identical message waits for its turn"
        );
        assert!(first.try_recv().is_err());
        gate.committed("t", &one);
        assert_eq!(first.try_recv(), Ok(()), "its commit releases it");
        assert!(
            other.try_recv().is_err(),
            "another payload waits for its own commit"
        );
        let mut second = tokio::time::timeout(Duration::from_secs(5), twin)
            .await
            .expect("the twin's turn comes after the first's commit")
            .unwrap()
            .expect("a receiver");
        assert!(second.try_recv().is_err(), "and waits for its own commit");
        gate.committed("t", &one);
        assert_eq!(second.try_recv(), Ok(()));
        assert!(
            lock(&gate.waiting).values().all(|q| q.len() == 1),
            "only payload 2 waits"
        );
    }
}
