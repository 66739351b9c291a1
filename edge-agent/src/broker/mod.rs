//! An MQTT broker embedded in the edge (rumqttd), for gateways that have no broker of their
//! own: devices and the edge's MQTT source connect to it like to any other broker.
//!
//! rumqttd keeps its sessions in memory and acknowledges a device's QoS 1 publish as soon as
//! it has it, so a crash of the agent (and with it the broker) would lose what the broker had
//! acknowledged and the processor had not committed yet. So devices do not talk to rumqttd
//! directly: rumqttd listens on a loopback port of its own, and a **front** on the configured
//! address passes every connection's bytes through, packet by packet, with one change: the
//! PUBACK of a QoS 1 publish whose topic an MQTT source of this edge ingests (a [`Gate`]
//! registration) goes back to the device only once that source has committed the message.
//! If the agent dies first, the device never got its PUBACK and sends the message again when
//! it reconnects (MQTT 3.1.1, 4.4): nothing it was told is stored is lost.
//!
//! Messages are matched by topic and payload, first come first served: two devices publishing
//! the same bytes on the same topic are interchangeable for the count, and one's PUBACK may be
//! released by the other's commit.

use crate::sources::mqtt::topic::TopicFilter;
use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::{self, QoS, v4::Packet};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// MQTT control packet types (the first byte's high nibble).
const CONNECT: u8 = 1;
const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;

/// How long devices are kept out while the edge's MQTT sources subscribe.
const SOURCES_WAIT: Duration = Duration::from_secs(30);

/// The largest packet the front passes (as rumqttd's `max_payload_size`, plus headers).
const MAX_PACKET: usize = 256 * 1024 + 64 * 1024;

/// A published message as the front matches it: topic and payload.
type Message = (String, Bytes);

/// Which published messages must be committed before their PUBACK goes back to the device,
/// and the devices' PUBACKs waiting for it. One per embedded broker.
#[derive(Debug)]
pub struct Gate {
    /// Where rumqttd itself listens: this edge's MQTT sources connect there, past the front.
    pub inner: SocketAddr,
    /// Sources of this edge that will register; devices are let in once they all have, so
    /// no device message reaches the broker before the sources' subscriptions can take it.
    expected: usize,
    ready: tokio::sync::watch::Sender<bool>,
    next_id: AtomicU64,
    /// The client id and topic filters of each MQTT source that ingests from this broker.
    filters: Mutex<HashMap<u64, (String, Vec<TopicFilter>)>>,
    waiting: Mutex<HashMap<Message, VecDeque<oneshot::Sender<()>>>>,
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

    fn wait_for(&self, topic: &str, payload: &Bytes) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting)
            .entry((topic.to_owned(), payload.clone()))
            .or_default()
            .push_back(tx);
        rx
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

/// Starts a broker for devices on `listen` (MQTT 3.1.1): rumqttd on its own threads behind
/// the committing front (module docs), and returns once it accepts connections. It runs until
/// the process ends (rumqttd has no stop). Must be called within a tokio runtime.
///
/// `sources`: how many MQTT sources of this edge read from it. Devices are let in only once
/// they have all subscribed (rumqttd keeps nothing across a restart, so a device message that
/// arrived before would reach no one).
pub fn start(listen: SocketAddr, sources: usize) -> Result<(), String> {
    let front = std::net::TcpListener::bind(listen)
        .map_err(|e| format!("the embedded MQTT broker cannot listen on {listen}: {e}"))?;
    let front_port = front
        .local_addr()
        .map_err(|e| format!("the embedded MQTT broker's address: {e}"))?
        .port();
    let inner = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    start_rumqttd(inner)?;
    front
        .set_nonblocking(true)
        .map_err(|e| format!("the embedded MQTT broker's listener: {e}"))?;
    let front = tokio::net::TcpListener::from_std(front)
        .map_err(|e| format!("the embedded MQTT broker's listener: {e}"))?;
    let gate = Arc::new(Gate {
        inner,
        expected: sources,
        ready: tokio::sync::watch::Sender::new(sources == 0),
        next_id: AtomicU64::new(0),
        filters: Mutex::default(),
        waiting: Mutex::default(),
    });
    lock(gates()).insert(front_port, gate.clone());
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
        loop {
            match front.accept().await {
                Ok((device, peer)) => {
                    let gate = gate.clone();
                    tokio::spawn(async move {
                        if let Err(e) = pass_through(device, inner, gate).await {
                            tracing::debug!(%peer, error = %e, "mqtt connection through the front ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the embedded MQTT broker cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port for the embedded MQTT broker: {e}"))
}

/// One device connection: bytes both ways, packet by packet; PUBACKs of held publishes wait.
async fn pass_through(
    device: tokio::net::TcpStream,
    broker: SocketAddr,
    gate: Arc<Gate>,
) -> std::io::Result<()> {
    let _ = device.set_nodelay(true);
    let upstream = tokio::net::TcpStream::connect(broker).await?;
    let _ = upstream.set_nodelay(true);
    let (mut from_device, mut to_device) = device.into_split();
    let (mut from_broker, mut to_broker) = upstream.into_split();
    // PUBACKs from the broker to hold, by packet id, with what releases each.
    let held: Arc<Mutex<HashMap<u16, oneshot::Receiver<()>>>> = Arc::default();
    let held_up = held.clone();
    let up = async move {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let mut client_id = String::new();
        loop {
            let frame = next_frame(&mut from_device, &mut buf).await?;
            let Some(frame) = frame else {
                return Ok::<(), std::io::Error>(());
            };
            // Only CONNECT and PUBLISH matter this way; the rest passes unread.
            let kind = frame.first().map(|b| b >> 4);
            let parsed = match kind {
                Some(CONNECT | PUBLISH) => Packet::read(&mut frame.clone(), MAX_PACKET).ok(),
                _ => None,
            };
            match parsed {
                Some(Packet::Connect(c)) => client_id = c.client_id,
                Some(Packet::Publish(p))
                    if p.qos == QoS::AtLeastOnce && gate.holds(&client_id, &p.topic) =>
                {
                    let release = gate.wait_for(&p.topic, &p.payload);
                    lock(&held_up).insert(p.pkid, release);
                }
                _ => {}
            }
            to_broker.write_all(&frame).await?;
        }
    };
    let down = async move {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        loop {
            let frame = next_frame(&mut from_broker, &mut buf).await?;
            let Some(frame) = frame else {
                return Ok::<(), std::io::Error>(());
            };
            // Only PUBACKs matter this way (publishes to subscribers pass unread).
            if frame.first().map(|b| b >> 4) == Some(PUBACK)
                && let Ok(Packet::PubAck(ack)) = Packet::read(&mut frame.clone(), MAX_PACKET)
            {
                let release = lock(&held).remove(&ack.pkid);
                if let Some(release) = release {
                    // In order: what the broker sends after this PUBACK waits with it.
                    if release.await.is_err() {
                        // Not confirmed (the gate keeps every waiter until a commit releases
                        // it, so this means the edge is going away): the device is not told it
                        // is stored, and sends it again when it reconnects.
                        return Ok(());
                    }
                }
            }
            to_device.write_all(&frame).await?;
        }
    };
    // Either side closing ends the connection, as it would without the front.
    tokio::select! {
        r = up => r,
        r = down => r,
    }
}

/// The next whole MQTT packet's bytes, or `None` at the end of the stream.
async fn next_frame(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
) -> std::io::Result<Option<BytesMut>> {
    loop {
        match mqttbytes::check(buf.iter(), MAX_PACKET) {
            Ok(header) => return Ok(Some(buf.split_to(header.frame_length()))),
            Err(mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not an MQTT packet: {e}"),
                ));
            }
        }
        if from.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// rumqttd on `listen`, on its own threads.
fn start_rumqttd(listen: SocketAddr) -> Result<(), String> {
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
                max_payload_size: 256 * 1024,
                max_inflight_count: 500,
                auth: None,
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
            expected,
            ready: tokio::sync::watch::Sender::new(expected == 0),
            next_id: AtomicU64::new(0),
            filters: Mutex::default(),
            waiting: Mutex::default(),
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

    #[test]
    fn a_commit_releases_the_oldest_waiter_for_the_same_message_skipping_gone_devices() {
        let gate = gate(0);
        let one = Bytes::from_static(b"1");
        let gone = gate.wait_for("t", &one);
        let first = gate.wait_for("t", &one);
        let mut second = gate.wait_for("t", &one);
        let mut other = gate.wait_for("t", &Bytes::from_static(b"2"));
        drop(gone);
        gate.committed("t", &one);
        let mut first = first;
        assert_eq!(first.try_recv(), Ok(()));
        assert!(
            second.try_recv().is_err(),
            "one commit releases one acknowledgement"
        );
        assert!(
            other.try_recv().is_err(),
            "another payload waits for its own commit"
        );
        gate.committed("t", &one);
        assert_eq!(second.try_recv(), Ok(()));
        gate.committed("t", &one);
        assert!(
            lock(&gate.waiting).values().all(|q| q.len() == 1),
            "only payload 2 waits"
        );
    }
}
