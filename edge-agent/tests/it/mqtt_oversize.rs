//! One oversized MQTT message must not jam the MQTT source (issue 11): before, a message over
//! rumqttc's 10 KiB incoming limit failed the connection, the broker sent it again after every
//! reconnect, the source reconnected every 200 ms for ever and nothing behind it arrived. Now
//! a message over `max_payload_bytes` becomes a device fault, is acknowledged, and the good
//! messages behind it are counted, on one connection.
//!
//! Against a private Mosquitto (its log tells how often the source connected) and against the
//! embedded broker, whose front refuses the big messages from the device itself.

use crate::mqtt_restart::{DEADLINE, PrivateMosquitto, free_port, mosquitto_binary};
use edge_agent::broker::config::{RawBrokerConfig, hash_password};
use edge_agent::live::Live;
use edge_agent::rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use edge_agent::sources::mqtt::client::{self, MqttDelivery, MqttMessage};
use edge_agent::sources::mqtt::config::MqttConfig;
use edge_agent::sources::mqtt::rules::MappedValue;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

fn source_config(broker: SocketAddr, client_id: &str, run: &str) -> MqttConfig {
    toml::from_str(&format!(
        r#"
broker = "mqtt://{broker}"
client_id = "{client_id}"
keep_alive = "5s"
[[rules]]
topic = "big/{run}/+/count"
device = "{{1}}"
payload = "json"
value = "/good"
yields = "count"
counter = "good"
"#
    ))
    .unwrap()
}

/// A QoS 1 publisher that counts PUBACKs and may send messages of a few MiB.
struct Publisher {
    client: AsyncClient,
    acked: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Publisher {
    fn connect(broker: SocketAddr, login: Option<(&str, &str)>) -> Publisher {
        let mut o = MqttOptions::new(
            format!("big-pub-{}", uuid::Uuid::now_v7()),
            broker.ip().to_string(),
            broker.port(),
        );
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(4 * 1024 * 1024, 4 * 1024 * 1024);
        if let Some((u, p)) = login {
            o.set_credentials(u, p);
        }
        let (client, mut events) = AsyncClient::new(o, 100);
        let (tx, acked) = watch::channel(0);
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => tx.send_modify(|n| *n += 1),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Publisher {
            client,
            acked,
            task,
        }
    }

    async fn publish(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
}

/// A JSON payload `{"good":N,"pad":"xxx…"}` of about `size` bytes.
fn payload(good: u64, size: usize) -> Vec<u8> {
    format!(r#"{{"good":{good},"pad":"{}"}}"#, "x".repeat(size)).into_bytes()
}

/// The source reads good(1); then two big ones (100 KiB and 2 MiB, on two devices' topics)
/// and good(2), good(3): every good message is counted, each big one is a device fault naming
/// its topic and size, every message is acknowledged to the publisher, and the source's
/// status stays connected and names the refused message. Returns the source's live view.
async fn big_messages_are_faults_and_the_stream_goes_on(
    broker: SocketAddr,
    login: Option<(&str, &str)>,
    run: &str,
) -> Arc<Live> {
    let client_id = format!("mes-big-{run}");
    let (tx, mut deliveries) = mpsc::channel::<MqttDelivery>(16);
    let (stop, stopping) = watch::channel(false);
    let live = Live::new(None);
    let task = tokio::spawn(client::run(
        source_config(broker, &client_id, run),
        tx,
        live.clone(),
        stopping,
    ));
    let publisher = Publisher::connect(broker, login);
    let topic = |device: &str| format!("big/{run}/{device}/count");
    // Until the subscription is in place.
    let deadline = Instant::now() + DEADLINE;
    let mut published = 0;
    loop {
        publisher.publish(&topic("press-1"), payload(1, 10)).await;
        published += 1;
        if let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(300), deliveries.recv()).await
        {
            let _ = d.committed.send(true);
            break;
        }
        assert!(Instant::now() < deadline, "the source never subscribed");
    }
    publisher
        .publish(&topic("press-2"), payload(50, 100 * 1024))
        .await;
    publisher
        .publish(&topic("press-3"), payload(60, 2 * 1024 * 1024))
        .await;
    publisher.publish(&topic("press-1"), payload(2, 10)).await;
    publisher.publish(&topic("press-1"), payload(3, 10)).await;
    published += 4;

    let mut counts = Vec::new();
    let mut faults = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while counts.last() != Some(&3) || faults.len() < 2 {
        let d = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            deliveries.recv(),
        )
        .await
        .unwrap_or_else(|_| panic!("counts {counts:?} and faults {faults:#?} so far"))
        .expect("the source runs");
        for m in &d.messages {
            match m {
                MqttMessage::Mapped(m) => match m.what {
                    MappedValue::Count { value, .. } => counts.push(value),
                    ref other => panic!("{other:?}"),
                },
                MqttMessage::Fault { device, message } => {
                    faults.push((device.clone(), message.clone()))
                }
                other @ MqttMessage::Online { .. } => panic!("no Sparkplug here: {other:?}"),
            }
        }
        let _ = d.committed.send(true);
    }
    assert_eq!(
        counts
            .iter()
            .filter(|c| **c > 1)
            .copied()
            .collect::<Vec<_>>(),
        vec![2, 3],
        "the good messages behind the big ones, once each"
    );
    for (device, size) in [("press-2", "100."), ("press-3", "2.0 MiB")] {
        assert!(
            faults.iter().any(|(_, m)| m.contains(&topic(device))
                && m.contains(size)
                && m.contains("max_payload_bytes")),
            "a fault for {device}'s {size} message: {faults:#?}"
        );
    }
    // Every message was acknowledged to the publisher: the broker keeps nothing to send again.
    tokio::time::timeout(
        DEADLINE,
        publisher.acked.clone().wait_for(|n| *n >= published),
    )
    .await
    .expect("every message acknowledged")
    .unwrap();
    drop(deliveries);
    stop.send_replace(true);
    task.await.unwrap();
    live
}

#[tokio::test]
async fn issue_11_mosquitto_an_oversized_message_is_a_fault_and_does_not_jam_the_source() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = PrivateMosquitto::start(binary, dir.path(), "allow_anonymous true").await;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let live = big_messages_are_faults_and_the_stream_goes_on(broker.addr, None, &run).await;
    // One connection of the source: no reconnect loop.
    let client_id = format!("mes-big-{run}");
    let connections = broker
        .log()
        .lines()
        .filter(|l| l.contains("New client connected") && l.contains(&client_id))
        .count();
    assert_eq!(
        connections,
        1,
        "the source connected {connections} times:\n{}",
        broker.log()
    );
    // Its status named the refused message.
    let status = live
        .devices()
        .into_iter()
        .find(|d| d.device == format!("mqtt:mqtt://{}", broker.addr))
        .unwrap();
    assert!(
        status
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("refused a message")),
        "{status:?}"
    );
}

/// Through the embedded broker: its front refuses the big messages from the device itself
/// (acknowledged, dropped, recorded as the device's fault), so they never reach the source.
#[tokio::test]
async fn issue_11_embedded_broker_an_oversized_message_is_a_fault_and_does_not_jam_the_source() {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let hash = hash_password("pw");
    let config = toml::from_str::<RawBrokerConfig>(&format!(
        r#"
listen = "{addr}"
[[devices]]
username = "press-line"
password_hash = "{hash}"
publish = ["big/{run}/#"]
"#
    ))
    .unwrap()
    .validate(|_| None)
    .unwrap();
    edge_agent::broker::start(&config, vec![], 0).unwrap();
    big_messages_are_faults_and_the_stream_goes_on(addr, Some(("press-line", "pw")), &run).await;
}
