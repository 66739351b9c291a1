//! Devices over MQTT, whole system: a `mes edge` process reads running totals published QoS 1
//! to Mosquitto and is killed with SIGKILL again and again while they flow, then restarted on
//! the same journal. A message is acknowledged to the broker only after its commit, so what the
//! edge had received but not committed at a kill comes again; a message committed but not yet
//! acknowledged comes again too (marked DUP), and its running total, below the committed one,
//! counts nothing (it is not taken for a counter reset). Afterwards the journal counts exactly
//! the final total minus the first one.

use crate::support::{DEADLINE, EdgeHome, Journal, Link, mosquitto, temp_dir, wait_until};
use edge_agent::rumqttc::{AsyncClient, MqttOptions, QoS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

fn seed() -> u64 {
    let seed = std::env::var("MES_SYSTEM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("seed {seed} (replay with MES_SYSTEM_SEED={seed})");
    seed
}

/// The first running total; everything after it is counted.
const BASELINE: u64 = 10_000;

#[tokio::test]
async fn mqtt_edge_killed_with_sigkill_while_messages_flow_counts_every_part_once() {
    const MIN_KILLS: u32 = 20;
    const MAX_KILLS: u32 = 60;
    /// Kills that must land while the edge was subscribed and behind the publisher.
    const MIN_KILLS_BEHIND: u32 = 3;
    let Some(broker) = mosquitto().await else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(seed());
    let tmp = temp_dir();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let prefix = format!("mes-system/{run}");
    let topic = format!("{prefix}/press-1/total");
    let counter_key = "counter/press-1/mqtt/good";
    // The same client id on every start: the broker keeps the session (and the messages not
    // acknowledged) for the edge while it is dead.
    let sources = format!(
        r#"
[[sources]]
type = "mqtt"
broker = "mqtt://{broker}"
client_id = "mes-system-{run}"
keep_alive = "5s"
inflight = 20
[[sources.rules]]
topic = "{prefix}/+/total"
device = "{{1}}"
station = "st-10"
payload = "plain"
yields = "count"
counter = "good"
"#
    );
    // Central is not needed: the journal is what is checked; the uplink retries meanwhile.
    let mut home = EdgeHome::new(
        &tmp.path().join("edge"),
        "mqtt-edge",
        "token",
        "http://127.0.0.1:9",
        Link {
            batch_max_events: 100,
        },
    );
    let journal = home.journal_path();

    let (publisher, mut publisher_loop) = AsyncClient::new(
        MqttOptions::new(
            format!("mes-system-pub-{run}"),
            broker.ip().to_string(),
            broker.port(),
        ),
        64,
    );
    tokio::spawn(async move {
        loop {
            if let Err(e) = publisher_loop.poll().await {
                panic!("the test's publisher lost Mosquitto: {e}");
            }
        }
    });

    // First start: the baseline, published until the edge has subscribed and committed it
    // (messages before the first subscription have no session to wait in).
    let mut edge = home.spawn_with(&sources);
    wait_until("the edge to commit the baseline", DEADLINE, || {
        let publisher = publisher.clone();
        let topic = topic.clone();
        let journal = journal.clone();
        async move {
            if Journal::state(&journal, counter_key).as_deref() == Some(&BASELINE.to_string()) {
                return Some(());
            }
            publisher
                .publish(&topic, QoS::AtLeastOnce, false, BASELINE.to_string())
                .await
                .expect("publish");
            None
        }
    })
    .await;

    // Running totals flow in bursts; the edge is killed at a random moment during or just
    // after one (mid-batch, between a commit and its acknowledgements) and restarted.
    let mut total = BASELINE;
    let mut kills_connected_behind = 0;
    let mut kill = 0;
    while kill < MIN_KILLS || (kills_connected_behind < MIN_KILLS_BEHIND && kill < MAX_KILLS) {
        kill += 1;
        // The edge starts, connects and catches up meanwhile. Not a synchronisation: the
        // moment is random by design.
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..=300))).await;
        let connected = edge.proc.log_text().contains("mqtt connected");
        for _ in 0..rng.random_range(20..=300) {
            total += 1;
            publisher
                .publish(&topic, QoS::AtLeastOnce, false, total.to_string())
                .await
                .expect("publish");
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..=15))).await;
        edge.proc.kill();
        let committed: u64 = Journal::state(&journal, counter_key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(
            committed <= total,
            "kill {kill}: committed total {committed} beyond the published {total}"
        );
        // The edge was subscribed and had not committed all: messages were with it (received,
        // not committed) or waiting at the broker behind its in-flight window.
        if connected && committed > BASELINE && committed < total {
            kills_connected_behind += 1;
        }
        let j = Journal::try_read(&journal)
            .unwrap_or_else(|e| panic!("kill {kill}: the journal is unreadable: {e}"));
        assert_eq!(
            j.good(),
            committed - BASELINE,
            "kill {kill}: the journal's production and its committed total disagree"
        );
        edge = home.spawn_with(&sources);
    }
    let final_total = total;
    println!(
        "{kill} kills, {kills_connected_behind} with the edge connected and behind the publisher; totals {BASELINE} to {final_total}"
    );

    // The last edge takes what is left, then stops in order.
    edge.wait_ready().await;
    wait_until("the edge to commit the final total", DEADLINE, || {
        let journal = journal.clone();
        async move {
            (Journal::state(&journal, counter_key).as_deref() == Some(&final_total.to_string()))
                .then_some(())
        }
    })
    .await;
    edge.proc.terminate().await;

    let j = home.read_journal();
    crate::support::assert_contiguous_from_one("the journal", &j.events);
    assert_eq!(
        j.good(),
        final_total - BASELINE,
        "production in the journal must be the final total minus the baseline: nothing lost, \
         nothing counted twice"
    );
    assert!(
        kills_connected_behind >= MIN_KILLS_BEHIND,
        "no kill landed while the edge had messages to commit"
    );
}

/// The same with the edge's embedded broker, which dies with the agent and keeps nothing: a
/// device is told a message is stored (PUBACK) only once the edge committed it, so what the
/// device was told is never lost. The device here behaves like the MQTT clients that send
/// unacknowledged messages again after reconnecting (rumqttc itself drops them when the
/// broker has no session, so the test does it): it publishes single parts (increments, which
/// nothing else would make up for), each stamped with its own time, and in the end every part
/// it was told was stored is in the journal exactly once. A message committed but not yet
/// acknowledged at a kill is sent again; the edge has seen its stamped payload (the keys it
/// remembers are committed with the events) and takes it once.
#[tokio::test]
async fn mqtt_edge_with_its_embedded_broker_killed_loses_no_acknowledged_part() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    const KILLS: u32 = 12;
    const INFLIGHT: u64 = 100;
    let mut rng = StdRng::seed_from_u64(seed());
    let tmp = temp_dir();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let port = crate::support::free_port();
    let topic = format!("parts/{run}/press-1");
    // The device logs in with its own password and may publish only on its topic.
    let password_hash = edge_agent::broker::config::hash_password("press-1-secret");
    let sources = format!(
        r#"
[mqtt_broker]
listen = "127.0.0.1:{port}"
[[mqtt_broker.devices]]
username = "press-1"
password_hash = "{password_hash}"
publish = ["{topic}"]
[[sources]]
type = "mqtt"
broker = "mqtt://127.0.0.1:{port}"
client_id = "mes-edge-{run}"
[[sources.rules]]
topic = "parts/{run}/+"
device = "{{1}}"
station = "st-10"
payload = "json"
value = "/parts"
timestamp = "/ts"
yields = "count"
counter = "good"
cumulative = false
"#
    );
    let mut home = EdgeHome::new(
        &tmp.path().join("edge"),
        "mqtt-embedded-edge",
        "token",
        "http://127.0.0.1:9",
        Link {
            batch_max_events: 100,
        },
    );
    let journal = home.journal_path();
    let mut edge = home.spawn_with(&sources);

    // The device: counts the broker's PUBACKs and its own (re)connections.
    let mut options = MqttOptions::new(format!("press-{run}"), "127.0.0.1", port);
    options.set_credentials("press-1", "press-1-secret");
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_inflight(INFLIGHT as u16);
    let (device, mut device_loop) = AsyncClient::new(options, 10_000);
    let acked = Arc::new(AtomicU64::new(0));
    let (connected_tx, mut connected) = tokio::sync::watch::channel(0u64);
    {
        let acked = acked.clone();
        tokio::spawn(async move {
            loop {
                match device_loop.poll().await {
                    Ok(edge_agent::rumqttc::Event::Incoming(
                        edge_agent::rumqttc::Packet::PubAck(_),
                    )) => {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(edge_agent::rumqttc::Event::Incoming(
                        edge_agent::rumqttc::Packet::ConnAck(_),
                    )) => {
                        connected_tx.send_modify(|n| *n += 1);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
    }
    // Part n, stamped with the device's time of it: one message however often it is sent.
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let part = |n: u64| format!(r#"{{"parts":1,"ts":{}}}"#, start_ms + n);
    let mut sent = 0u64;
    // Parts sent again after a kill (some of them committed before it).
    let mut resent = 0u64;
    let mut seen_connections = 0u64;
    for kill in 1..=KILLS {
        // Wait for the device to be (re)connected, which the edge allows once its source has
        // subscribed; rumqttc dropped whatever was not acknowledged: send it again.
        tokio::time::timeout(DEADLINE, connected.wait_for(|n| *n > seen_connections))
            .await
            .unwrap_or_else(|_| panic!("kill {kill}: the device never got back in"))
            .unwrap();
        seen_connections = *connected.borrow();
        // Acknowledgements come in the order of the messages (MQTT 3.1.1, 4.6): the parts
        // after the acknowledged ones are the ones to send again.
        for n in acked.load(Ordering::SeqCst) + 1..=sent {
            resent += 1;
            device
                .publish(&topic, QoS::AtLeastOnce, false, part(n))
                .await
                .unwrap();
        }
        for _ in 0..rng.random_range(20..=200) {
            sent += 1;
            device
                .publish(&topic, QoS::AtLeastOnce, false, part(sent))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..=30))).await;
        edge.proc.kill();
        // Everything acknowledged before the kill is committed.
        let acknowledged = acked.load(Ordering::SeqCst);
        let j = Journal::try_read(&journal)
            .unwrap_or_else(|e| panic!("kill {kill}: the journal is unreadable: {e}"));
        assert!(
            j.good() >= acknowledged,
            "kill {kill}: the device was told {acknowledged} parts were stored, the journal holds {}",
            j.good()
        );
        edge = home.spawn_with(&sources);
    }
    // The last edge takes the rest: the device resends until every part is acknowledged.
    tokio::time::timeout(DEADLINE, connected.wait_for(|n| *n > seen_connections))
        .await
        .expect("the device got back in")
        .unwrap();
    for n in acked.load(Ordering::SeqCst) + 1..=sent {
        resent += 1;
        device
            .publish(&topic, QoS::AtLeastOnce, false, part(n))
            .await
            .unwrap();
    }
    wait_until("every part acknowledged", DEADLINE, || {
        let done = acked.load(Ordering::SeqCst) >= sent;
        async move { done.then_some(()) }
    })
    .await;
    edge.proc.terminate().await;
    let j = home.read_journal();
    crate::support::assert_contiguous_from_one("the journal", &j.events);
    assert_eq!(
        j.good(),
        sent,
        "{sent} parts sent and acknowledged, each exactly once in the journal"
    );
    println!(
        "{sent} parts, {} counted through {KILLS} kills; {resent} sent again",
        j.good()
    );
}
