//! The MQTT source against real brokers: Mosquitto at 127.0.0.1:1883 (started by .ci/run) and
//! the broker embedded in the edge. A message is acknowledged only after its commit, so one
//! that was received but not committed (a crash in between) comes again after a reconnect.

use edge_agent::live::Live;
use edge_agent::sources::mqtt::client::{self, MqttDelivery, MqttMessage};
use edge_agent::sources::mqtt::config::MqttConfig;
use edge_agent::sources::mqtt::rules::MappedValue;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const DEADLINE: Duration = Duration::from_secs(20);

/// Mosquitto's address, or `None` (a failure in CI, where .ci/run starts it).
async fn mosquitto() -> Option<SocketAddr> {
    let addr: SocketAddr = "127.0.0.1:1883".parse().unwrap();
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

fn embedded_broker() -> SocketAddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    edge_agent::broker::start(
        &edge_agent::broker::config::BrokerConfig::anonymous(addr),
        vec![],
        0,
    )
    .unwrap();
    addr
}

fn config(broker: SocketAddr, client_id: &str, prefix: &str) -> MqttConfig {
    toml::from_str(&format!(
        r#"
broker = "mqtt://{broker}"
client_id = "{client_id}"
keep_alive = "5s"
[[rules]]
topic = "{prefix}/+/count"
device = "{{1}}"
station = "st-10"
payload = "json"
value = "/good"
yields = "count"
counter = "good"
"#
    ))
    .unwrap()
}

struct Subscriber {
    deliveries: mpsc::Receiver<MqttDelivery>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn subscribe(config: MqttConfig) -> Subscriber {
    let (tx, deliveries) = mpsc::channel(16);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(client::run(config, tx, Live::new(None), stopping));
    Subscriber {
        deliveries,
        stop,
        task,
    }
}

impl Subscriber {
    async fn next(&mut self) -> MqttDelivery {
        tokio::time::timeout(DEADLINE, self.deliveries.recv())
            .await
            .expect("a delivery in time")
            .expect("the source is running")
    }

    /// Stops the source. Deliveries not yet answered are dropped, which answers them "not
    /// committed", so the source's acknowledger does not wait for them.
    async fn stop(self) {
        let Subscriber {
            deliveries,
            stop,
            task,
        } = self;
        drop(deliveries);
        stop.send_replace(true);
        task.await.unwrap();
    }
}

/// Publishes QoS 1 messages once the subscriber's session exists.
async fn publisher(broker: SocketAddr) -> AsyncClient {
    let mut o = MqttOptions::new(
        format!("pub-{}", uuid::Uuid::now_v7()),
        broker.ip().to_string(),
        broker.port(),
    );
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = AsyncClient::new(o, 16);
    tokio::spawn(async move {
        loop {
            if events.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    client
}

fn good_of(d: &MqttDelivery) -> u64 {
    match &d.messages[..] {
        [MqttMessage::Mapped(m)] => match m.what {
            MappedValue::Count { value, .. } => value,
            ref other => panic!("expected a count, got {other:?}"),
        },
        other => panic!("expected one mapped message, got {other:?}"),
    }
}

async fn a_message_not_committed_comes_again_after_a_reconnect(broker: SocketAddr) {
    let prefix = format!("mes-test/{}", uuid::Uuid::now_v7());
    let client_id = format!("mes-edge-{}", uuid::Uuid::now_v7());
    let publisher = publisher(broker).await;

    // First run: subscribe (creates the persistent session), receive, do NOT commit.
    let mut sub = subscribe(config(broker, &client_id, &prefix));
    // Publish until the subscription is in place (the first messages may precede it).
    let topic = format!("{prefix}/press-1/count");
    let first = loop {
        publisher
            .publish(&topic, QoS::AtLeastOnce, false, br#"{"good":41}"#.to_vec())
            .await
            .unwrap();
        if let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(300), sub.deliveries.recv()).await
        {
            break d;
        }
    };
    assert_eq!(good_of(&first), 41);
    // Commit fails (as if the agent died before its journal commit): no acknowledgement.
    let _ = first.committed.send(false);
    // Drain whatever else arrived, committing nothing, then go away.
    sub.stop().await;

    // Second run, same client id: the broker delivers it again.
    let mut sub = subscribe(config(broker, &client_id, &prefix));
    let again = sub.next().await;
    assert_eq!(
        good_of(&again),
        41,
        "the uncommitted message is delivered again"
    );
    let _ = again.committed.send(true);
    // A message published now arrives too, and the subscription works on.
    publisher
        .publish(&topic, QoS::AtLeastOnce, false, br#"{"good":42}"#.to_vec())
        .await
        .unwrap();
    loop {
        let d = sub.next().await;
        let good = good_of(&d);
        let _ = d.committed.send(true);
        if good == 42 {
            break;
        }
        assert_eq!(good, 41, "only redeliveries of 41 may come before 42");
    }
    sub.stop().await;
}

async fn malformed_payloads_become_faults_and_the_subscription_keeps_working(broker: SocketAddr) {
    let prefix = format!("mes-test/{}", uuid::Uuid::now_v7());
    let client_id = format!("mes-edge-{}", uuid::Uuid::now_v7());
    let publisher = publisher(broker).await;
    let mut sub = subscribe(config(broker, &client_id, &prefix));
    let topic = format!("{prefix}/press-2/count");
    // Wait for the subscription with valid messages, then send garbage and a valid one.
    loop {
        publisher
            .publish(&topic, QoS::AtLeastOnce, false, br#"{"good":1}"#.to_vec())
            .await
            .unwrap();
        if let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(300), sub.deliveries.recv()).await
        {
            let _ = d.committed.send(true);
            break;
        }
    }
    publisher
        .publish(&topic, QoS::AtLeastOnce, false, b"{not json".to_vec())
        .await
        .unwrap();
    publisher
        .publish(&topic, QoS::AtLeastOnce, false, br#"{"good":7}"#.to_vec())
        .await
        .unwrap();
    let mut saw_fault = false;
    loop {
        let d = sub.next().await;
        let messages = d.messages.clone();
        let _ = d.committed.send(true);
        match &messages[..] {
            [MqttMessage::Fault { message, .. }] => {
                assert!(
                    message.contains("not JSON") && message.contains(&topic),
                    "{message}"
                );
                saw_fault = true;
            }
            [MqttMessage::Mapped(m)] if matches!(m.what, MappedValue::Count { value: 7, .. }) => {
                break;
            }
            _ => {}
        }
    }
    assert!(saw_fault, "the malformed payload was reported");
    sub.stop().await;
}

#[tokio::test]
async fn mosquitto_redelivers_what_was_not_committed() {
    if let Some(broker) = mosquitto().await {
        a_message_not_committed_comes_again_after_a_reconnect(broker).await;
    }
}

#[tokio::test]
async fn embedded_broker_redelivers_what_was_not_committed() {
    a_message_not_committed_comes_again_after_a_reconnect(embedded_broker()).await;
}

#[tokio::test]
async fn mosquitto_malformed_payloads_are_faults() {
    if let Some(broker) = mosquitto().await {
        malformed_payloads_become_faults_and_the_subscription_keeps_working(broker).await;
    }
}

#[tokio::test]
async fn embedded_broker_malformed_payloads_are_faults() {
    malformed_payloads_become_faults_and_the_subscription_keeps_working(embedded_broker()).await;
}

/// A Sparkplug B edge node that was born before the agent subscribed: the agent sees data
/// before any birth, asks the node for a rebirth, and from the births on reads the metrics by
/// alias.
async fn late_subscriber_gets_a_rebirth_then_counts(broker: SocketAddr) {
    use edge_agent::sim::mqtt::{MqttSimOptions, run as run_sim};
    let group = format!("g{}", uuid::Uuid::now_v7().simple());
    let (stop_sim, sim_stopping) = watch::channel(false);
    let sim = tokio::spawn(run_sim(
        MqttSimOptions {
            host: broker.ip().to_string(),
            port: broker.port(),
            prefix: group.clone(),
            devices: 2,
            cycle: Duration::from_millis(20),
            sparkplug: true,
            node: "gw-1".into(),
            seed: 1,
        },
        sim_stopping,
    ));
    // Wait until the node is publishing data (its births are long gone).
    let (watcher, mut watch_events) = AsyncClient::new(
        MqttOptions::new(
            format!("watch-{group}"),
            broker.ip().to_string(),
            broker.port(),
        ),
        16,
    );
    watcher
        .subscribe(format!("spBv1.0/{group}/DDATA/#"), QoS::AtMostOnce)
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        loop {
            match watch_events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(_))) => break,
                Ok(_) => {}
                Err(e) => {
                    eprintln!("watcher: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
    .await
    .expect("the simulated node publishes data");

    let config: MqttConfig = toml::from_str(&format!(
        r#"
broker = "mqtt://{broker}"
client_id = "mes-edge-{group}"
[[rules]]
topic = "spBv1.0/{group}/#"
device = "{{device}}"
payload = "sparkplug"
metric = "Counts/Good"
yields = "count"
counter = "good"
"#
    ))
    .unwrap();
    let mut sub = subscribe(config);
    let mut asked_rebirth = false;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no count after a rebirth within {DEADLINE:?}"
        );
        let d = sub.next().await;
        let messages = d.messages.clone();
        let _ = d.committed.send(true);
        match &messages[..] {
            [MqttMessage::Fault { message, .. }, ..] if message.contains("rebirth") => {
                asked_rebirth = true
            }
            [MqttMessage::Mapped(m), ..] if asked_rebirth => {
                assert!(m.device.starts_with("press-"), "{m:?}");
                assert!(matches!(
                    m.what,
                    MappedValue::Count {
                        cumulative: true,
                        ..
                    }
                ));
                break;
            }
            _ => {}
        }
    }
    sub.stop().await;
    stop_sim.send_replace(true);
    sim.await.unwrap().unwrap();
}

#[tokio::test]
async fn mosquitto_sparkplug_rebirth() {
    if let Some(broker) = mosquitto().await {
        late_subscriber_gets_a_rebirth_then_counts(broker).await;
    }
}

#[tokio::test]
async fn embedded_broker_sparkplug_rebirth() {
    late_subscriber_gets_a_rebirth_then_counts(embedded_broker()).await;
}

/// The whole edge, reading MQTT devices through Mosquitto with central unreachable: running
/// totals become production for the station, a state code a machine state, garbage a device
/// fault, all committed to the journal.
#[tokio::test]
async fn an_edge_turns_mqtt_messages_into_committed_events_with_central_away() {
    let Some(broker) = mosquitto().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("mes-test/{}", uuid::Uuid::now_v7());
    let config = edge_agent::EdgeConfig::from_toml_str(&format!(
        r#"
edge_id = "mqtt-edge"
[central]
url = "http://127.0.0.1:9"
token = "t"
[journal]
path = "{journal}"
[http]
listen = "127.0.0.1:0"
[line_state]
broker = "mqtt://{broker}"
topic_prefix = "{prefix}/line"
client_id = "mes-andon-{id}"
interval = "20ms"
[[sources]]
type = "mqtt"
broker = "mqtt://{broker}"
client_id = "mes-edge-{id}"
[[sources.rules]]
topic = "{prefix}/+/counts"
device = "{{1}}"
station = "st-10"
payload = "json"
value = "/good"
yields = "count"
counter = "good"
[[sources.rules]]
topic = "{prefix}/+/state"
device = "{{1}}"
station = "st-10"
payload = "plain"
yields = "state"
states = {{ "1" = "running", "7" = "down: jam" }}
"#,
        journal = dir.path().join("journal.db").display(),
        id = uuid::Uuid::now_v7(),
    ))
    .unwrap();
    let edge = edge_agent::start(config).await.unwrap();
    let publisher = publisher(broker).await;
    let counts = format!("{prefix}/press-1/counts");
    // The first total is a baseline; publish it until the subscription has taken it.
    let mut committed = edge.journal.committed();
    let mut baseline_taken = false;
    for _ in 0..100 {
        publisher
            .publish(
                &counts,
                QoS::AtLeastOnce,
                false,
                br#"{"good":100}"#.to_vec(),
            )
            .await
            .unwrap();
        let stats_before = edge
            .journal
            .get_state("counter/press-1/mqtt/good")
            .await
            .unwrap();
        if stats_before.as_deref() == Some("100") {
            baseline_taken = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(baseline_taken, "the subscriber took the first total");
    for payload in [
        &br#"{"good":103}"#[..],
        b"{garbage",
        br#"{"good":110}"#,
        br#"{"good":110}"#,
    ] {
        publisher
            .publish(&counts, QoS::AtLeastOnce, false, payload.to_vec())
            .await
            .unwrap();
    }
    publisher
        .publish(
            format!("{prefix}/press-1/state"),
            QoS::AtLeastOnce,
            false,
            b"7".to_vec(),
        )
        .await
        .unwrap();
    // Wait until the state change is committed (it was published last).
    let events = tokio::time::timeout(DEADLINE, async {
        loop {
            let events: Vec<protocol::Event> = edge
                .journal
                .read_after(protocol::Seq::ZERO, 1000)
                .await
                .unwrap()
                .into_iter()
                .map(|e| serde_json::from_str(&e.json).unwrap())
                .collect();
            if events
                .iter()
                .any(|e| matches!(e.kind, protocol::EventKind::MachineStateChanged { .. }))
            {
                return events;
            }
            let _ = committed.changed().await;
        }
    })
    .await
    .expect("the events are committed");
    let good: u64 = events
        .iter()
        .map(|e| match e.kind {
            protocol::EventKind::ProductionReported { good, .. } => good,
            _ => 0,
        })
        .sum();
    assert_eq!(good, 10, "100 → 103 → 110 (twice) is 10 parts: {events:#?}");
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        protocol::EventKind::DeviceFault { message, .. } if message.contains("not JSON")
    )));
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        protocol::EventKind::MachineStateChanged { state: protocol::MachineState::Down, reason: Some(r) } if r == "jam"
    )));
    assert!(events.iter().all(|e| {
        e.source
            .station
            .as_ref()
            .is_none_or(|s| s.as_str() == "st-10")
    }));
    // The line state for andon boards counts what was committed, per station.
    let mut watcher = LineWatcher::new(broker, &format!("{prefix}/line")).await;
    watcher
        .until("the line state with st-10's count", |state, status| {
            status == Some("online") && good_at(state, "st-10") == Some(10)
        })
        .await;
    edge.shutdown().await;
    // Stopped in order, it says offline itself (a clean disconnect sends no will).
    watcher
        .until("offline after shutdown", |_, status| {
            status == Some("offline")
        })
        .await;
}

/// Retained messages on `{prefix}/#`, as a watcher subscribed to them sees them.
struct LineWatcher {
    events: rumqttc::EventLoop,
    _client: AsyncClient,
    state: Option<serde_json::Value>,
    status: Option<String>,
}

impl LineWatcher {
    async fn new(broker: SocketAddr, prefix: &str) -> LineWatcher {
        let (client, events) = AsyncClient::new(
            MqttOptions::new(
                format!("watch-{}", uuid::Uuid::now_v7()),
                broker.ip().to_string(),
                broker.port(),
            ),
            16,
        );
        client
            .subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
            .await
            .unwrap();
        LineWatcher {
            events,
            _client: client,
            state: None,
            status: None,
        }
    }

    /// Reads messages until `done` holds for what was seen last on each topic.
    async fn until(
        &mut self,
        what: &str,
        done: impl Fn(Option<&serde_json::Value>, Option<&str>) -> bool,
    ) {
        tokio::time::timeout(DEADLINE, async {
            while !done(self.state.as_ref(), self.status.as_deref()) {
                match self.events.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        if p.topic.ends_with("/state") {
                            self.state = Some(serde_json::from_slice(&p.payload).unwrap());
                        } else if p.topic.ends_with("/status") {
                            self.status = Some(String::from_utf8(p.payload.to_vec()).unwrap());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("watcher: {e}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "waited {DEADLINE:?} for {what}; last state {:?}, status {:?}",
                self.state, self.status
            )
        });
    }
}

fn good_at(state: Option<&serde_json::Value>, station: &str) -> Option<u64> {
    state?["stations"][station]["good"].as_u64()
}

/// The line state for andon boards: retained JSON with the plan's work orders, the stations'
/// counts and the devices' states, `online` while connected, and the broker's last will
/// `offline` once the agent's connection drops without a goodbye.
#[tokio::test]
async fn mosquitto_line_state_is_retained_and_the_will_says_offline() {
    let Some(broker) = mosquitto().await else {
        return;
    };
    let prefix = format!("mes-test/{}/line-1", uuid::Uuid::now_v7());
    let plan: protocol::Plan = serde_json::from_value(serde_json::json!({
        "edge_id": "line-1",
        "version": 3,
        "published_at": "2026-11-27T06:00:00Z",
        "work_orders": [{
            "work_order": "WO-1001", "item": "BRACKET-A", "qty": "500", "uom": "pcs",
            "due": "2026-11-30",
            "operations": [{"operation": 10, "description": "press", "station": "st-10"}]
        }]
    }))
    .unwrap();
    let live = Live::new(Some(plan));
    live.add_production(Some("st-10"), 5, 1);
    live.set_device(edge_agent::live::DeviceStatus {
        device: "press-1".into(),
        station: Some("st-10".into()),
        state: "running".into(),
        detail: None,
    });
    let config = edge_agent::config::LineStateConfig {
        broker: format!("mqtt://{broker}"),
        topic_prefix: prefix.clone(),
        client_id: format!("andon-{}", uuid::Uuid::now_v7()),
        interval: Duration::from_millis(20),
    };
    let (_stop, stopping) = watch::channel(false);
    let andon = tokio::spawn(edge_agent::andon::run(config, live.clone(), stopping));

    let mut watcher = LineWatcher::new(broker, &prefix).await;
    watcher
        .until("online and the first state", |state, status| {
            status == Some("online") && good_at(state, "st-10") == Some(5)
        })
        .await;
    let state = watcher.state.clone().unwrap();
    assert_eq!(state["plan_version"], 3);
    assert_eq!(state["work_orders"][0]["work_order"], "WO-1001");
    assert_eq!(state["work_orders"][0]["operations"][0]["station"], "st-10");
    assert_eq!(state["stations"]["st-10"]["scrap"], 1);
    assert_eq!(state["devices"][0]["device"], "press-1");
    assert_eq!(state["devices"][0]["state"], "running");

    // Counts committed later show up in the next publication.
    live.add_production(Some("st-10"), 2, 0);
    watcher
        .until("the new count", |state, _| {
            good_at(state, "st-10") == Some(7)
        })
        .await;

    // The agent dies (its connection drops without a DISCONNECT): the broker says offline.
    andon.abort();
    let _ = andon.await;
    watcher
        .until("the last will", |_, status| status == Some("offline"))
        .await;

    // A board that connects now gets both, retained.
    let mut late = LineWatcher::new(broker, &prefix).await;
    late.until("the retained state and status", |state, status| {
        status == Some("offline") && good_at(state, "st-10") == Some(7)
    })
    .await;
}

/// An edge with one MQTT source reading `broker` through `rules` (TOML of
/// `[[sources.rules]]`), its journal in `dir`.
async fn edge_with_rules(
    broker: SocketAddr,
    dir: &std::path::Path,
    rules: &str,
) -> edge_agent::RunningEdge {
    let config = edge_agent::EdgeConfig::from_toml_str(&format!(
        r#"
edge_id = "mqtt-exact"
[central]
url = "http://127.0.0.1:9"
token = "t"
[journal]
path = "{journal}"
[http]
listen = "127.0.0.1:0"
[[sources]]
type = "mqtt"
broker = "mqtt://{broker}"
client_id = "mes-edge-{id}"
{rules}
"#,
        journal = dir.join("journal.db").display(),
        id = uuid::Uuid::now_v7(),
    ))
    .unwrap();
    edge_agent::start(config).await.unwrap()
}

async fn journal_events(edge: &edge_agent::RunningEdge) -> Vec<protocol::Event> {
    edge.journal
        .read_after(protocol::Seq::ZERO, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect()
}

/// Waits until the journal's state `key` is `value`, publishing `payload` on `topic` meanwhile
/// when given (a first message is lost until the subscription exists).
async fn wait_for_state_value(
    edge: &edge_agent::RunningEdge,
    key: &str,
    value: &str,
    republish: Option<(&AsyncClient, &str, &[u8])>,
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let now = edge.journal.get_state(key).await.unwrap();
        if now.as_deref() == Some(value) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "state {key} is {now:?}, not {value}"
        );
        if let Some((client, topic, payload)) = republish {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A 16-bit device counter that wraps: 65530, 65535, then 3 is 5 + 4 parts (65535 -> 0 -> 1
/// -> 2 -> 3), not a reset that counts 3; no fault, nothing flagged.
async fn a_16_bit_counter_counts_across_its_wrap(broker: SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("mes-test/{}", uuid::Uuid::now_v7());
    let edge = edge_with_rules(
        broker,
        dir.path(),
        &format!(
            r#"
[[sources.rules]]
topic = "{prefix}/+/total"
device = "{{1}}"
station = "st-10"
payload = "plain"
yields = "count"
counter = "good"
bits = 16
"#
        ),
    )
    .await;
    let publisher = publisher(broker).await;
    let topic = format!("{prefix}/press-1/total");
    let key = "counter/press-1/mqtt/good";
    wait_for_state_value(
        &edge,
        key,
        "65530",
        Some((&publisher, &topic, &b"65530"[..])),
    )
    .await;
    for total in ["65535", "3"] {
        publisher
            .publish(&topic, QoS::AtLeastOnce, false, total.as_bytes().to_vec())
            .await
            .unwrap();
    }
    wait_for_state_value(&edge, key, "3", None).await;
    let events = journal_events(&edge).await;
    let goods: Vec<u64> = events
        .iter()
        .filter_map(|e| match e.kind {
            protocol::EventKind::ProductionReported { good, .. } => Some(good),
            _ => None,
        })
        .collect();
    assert_eq!(goods, vec![5, 4], "{events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, protocol::EventKind::DeviceFault { .. })),
        "{events:?}"
    );
    edge.shutdown().await;
}

#[tokio::test]
async fn mosquitto_a_16_bit_counter_counts_across_its_wrap() {
    if let Some(broker) = mosquitto().await {
        a_16_bit_counter_counts_across_its_wrap(broker).await;
    }
}

#[tokio::test]
async fn embedded_broker_a_16_bit_counter_counts_across_its_wrap() {
    a_16_bit_counter_counts_across_its_wrap(embedded_broker()).await;
}

/// A scan the processor took but did not see acknowledged (a crash or a broker restart
/// between commit and acknowledgement) comes again on the next connection; interpreted as the
/// processor does, it is one scan. Mosquitto marks it DUP; the embedded broker does not, so
/// there the scanner stamps its payload (`stamped`), which makes it one message however often
/// it comes.
async fn a_scan_sent_again_after_a_reconnect_is_one_scan(broker: SocketAddr, stamped: bool) {
    use edge_agent::processor::mqtt::MqttInterpreter;
    use edge_agent::processor::readings::Interpreted;
    let prefix = format!("mes-test/{}", uuid::Uuid::now_v7());
    let payload = if stamped {
        "payload = \"json\"\nvalue = \"/code\"\ntimestamp = \"/ts\""
    } else {
        "payload = \"plain\""
    };
    let config: MqttConfig = toml::from_str(&format!(
        r#"
broker = "mqtt://{broker}"
client_id = "mes-edge-{id}"
keep_alive = "5s"
[[rules]]
topic = "{prefix}/+/scan"
device = "{{1}}"
station = "st-10"
{payload}
yields = "scan"
"#,
        id = uuid::Uuid::now_v7(),
    ))
    .unwrap();
    let code = |c: &str| -> Vec<u8> {
        if stamped {
            format!(r#"{{"code":"{c}","ts":1764232200000}}"#).into_bytes()
        } else {
            c.as_bytes().to_vec()
        }
    };
    let topic = format!("{prefix}/handheld-3/scan");
    let publisher = publisher(broker).await;
    let mut processor = MqttInterpreter::default();
    let mut out = Interpreted::default();
    let mut sub = subscribe(config.clone());
    // Until the subscription exists nothing is kept: publish a first code until one arrives.
    loop {
        publisher
            .publish(&topic, QoS::AtLeastOnce, false, code("warm-up"))
            .await
            .unwrap();
        if let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(200), sub.deliveries.recv()).await
        {
            let _ = d.committed.send(true);
            break;
        }
    }
    publisher
        .publish(&topic, QoS::AtLeastOnce, false, code("(96)10442"))
        .await
        .unwrap();
    let first = loop {
        let d = sub.next().await;
        if d.messages
            .iter()
            .any(|m| format!("{m:?}").contains("10442"))
        {
            break d;
        }
        let _ = d.committed.send(true);
    };
    processor.interpret_delivery(
        &first.messages,
        first.redelivered,
        first.key,
        None,
        &mut out,
    );
    // Taken, but the acknowledgement never reached the broker.
    let _ = first.committed.send(false);
    sub.stop().await;

    let mut sub = subscribe(config);
    let again = sub.next().await;
    assert_eq!(
        again.key, first.key,
        "the same message: {:?}",
        again.messages
    );
    assert_eq!(
        again.redelivered, !stamped,
        "Mosquitto marks it DUP, rumqttd does not"
    );
    processor.interpret_delivery(
        &again.messages,
        again.redelivered,
        again.key,
        None,
        &mut out,
    );
    let _ = again.committed.send(true);
    sub.stop().await;
    assert_eq!(out.scans.len(), 1, "{:?}", out.scans);
    assert_eq!(out.scans[0].raw, "(96)10442");
}

#[tokio::test]
async fn mosquitto_a_scan_sent_again_after_a_reconnect_is_one_scan() {
    if let Some(broker) = mosquitto().await {
        a_scan_sent_again_after_a_reconnect_is_one_scan(broker, false).await;
    }
}

#[tokio::test]
async fn embedded_broker_a_stamped_scan_sent_again_after_a_reconnect_is_one_scan() {
    a_scan_sent_again_after_a_reconnect_is_one_scan(embedded_broker(), true).await;
}

/// A Sparkplug DDEATH is recorded as the device's machine state (down, offline) and shown in
/// the edge's status; a later DBIRTH brings it back.
async fn a_sparkplug_death_is_a_state_change_and_a_birth_brings_the_device_back(
    broker: SocketAddr,
) {
    use edge_agent::sources::mqtt::sparkplug::{Metric, MetricValue, Payload, datatype};
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let group = format!("g{}", uuid::Uuid::now_v7().simple());
    let edge = edge_with_rules(
        broker,
        dir.path(),
        &format!(
            r#"
[[sources.rules]]
topic = "spBv1.0/{group}/DDATA/gw-1/+"
device = "{{device}}"
station = "st-20"
payload = "sparkplug"
metric = "Counts/Good"
yields = "count"
counter = "good"
"#
        ),
    )
    .await;
    let publisher = publisher(broker).await;
    let payload = |seq: u64, metrics: Vec<Metric>| {
        Payload {
            timestamp: Some(1_764_232_200_000 + seq),
            metrics,
            seq: Some(seq),
            uuid: None,
            body: None,
        }
        .encode_to_vec()
    };
    let good = |value: u32| Metric {
        name: Some("Counts/Good".into()),
        alias: Some(1),
        datatype: Some(datatype::UINT32),
        value: Some(MetricValue::IntValue(value)),
        ..Default::default()
    };
    let send = |kind: &str, device: bool, body: Vec<u8>| {
        let topic = if device {
            format!("spBv1.0/{group}/{kind}/gw-1/press-1")
        } else {
            format!("spBv1.0/{group}/{kind}/gw-1")
        };
        let publisher = publisher.clone();
        async move {
            publisher
                .publish(topic, QoS::AtLeastOnce, false, body)
                .await
                .unwrap()
        }
    };
    // Births and a first total until the source has subscribed and taken it (the rule reads
    // DDATA; the births go through the session, which sees the whole group).
    let key = "counter/press-1/mqtt/good";
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while edge.journal.get_state(key).await.unwrap().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "no birth taken");
        send("NBIRTH", false, payload(0, vec![])).await;
        send("DBIRTH", true, payload(1, vec![good(100)])).await;
        send("DDATA", true, payload(2, vec![good(100)])).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    send("DDEATH", true, payload(3, vec![])).await;
    let states = |events: &[protocol::Event]| -> Vec<(protocol::MachineState, String)> {
        events
            .iter()
            .filter_map(|e| match &e.kind {
                protocol::EventKind::MachineStateChanged { state, reason } => {
                    Some((*state, reason.clone().unwrap_or_default()))
                }
                _ => None,
            })
            .collect()
    };
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let events = journal_events(&edge).await;
        if let [(protocol::MachineState::Down, reason)] = &states(&events)[..] {
            assert!(
                reason.contains("offline") && reason.contains("DDEATH"),
                "{reason}"
            );
            let e = events
                .iter()
                .find(|e| matches!(e.kind, protocol::EventKind::MachineStateChanged { .. }))
                .unwrap();
            assert_eq!(e.source.device.as_ref().unwrap().as_str(), "press-1");
            assert_eq!(e.source.station.as_ref().unwrap().as_str(), "st-20");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shown = edge
        .live
        .devices()
        .into_iter()
        .find(|d| d.device == "press-1")
        .expect("the device in the edge's status");
    assert_eq!(shown.state, "offline");

    send("DBIRTH", true, payload(4, vec![good(100)])).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let events = journal_events(&edge).await;
        let now = states(&events);
        if now.len() == 2 {
            assert_eq!(now[1].0, protocol::MachineState::Idle, "{now:?}");
            assert!(now[1].1.contains("online again"), "{now:?}");
            break;
        }
        assert!(
            now.len() < 2 && tokio::time::Instant::now() < deadline,
            "{now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shown = edge
        .live
        .devices()
        .into_iter()
        .find(|d| d.device == "press-1")
        .unwrap();
    assert_eq!(shown.state, "online");
    edge.shutdown().await;
}

#[tokio::test]
async fn mosquitto_a_sparkplug_death_is_a_state_change_and_a_birth_brings_the_device_back() {
    if let Some(broker) = mosquitto().await {
        a_sparkplug_death_is_a_state_change_and_a_birth_brings_the_device_back(broker).await;
    }
}

#[tokio::test]
async fn embedded_broker_a_sparkplug_death_is_a_state_change_and_a_birth_brings_the_device_back() {
    a_sparkplug_death_is_a_state_change_and_a_birth_brings_the_device_back(embedded_broker()).await;
}
