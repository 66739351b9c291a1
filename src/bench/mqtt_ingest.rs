//! `mes bench mqtt-ingest`: QoS 1 ingest from Mosquitto into the journal through the edge's
//! MQTT source and processor, each message committed before its acknowledgement, against
//! `mosquitto_sub -q 1 -C N` draining the same load from the same broker, in the same run.
//!
//! Both consumers get the same load the same way: a persistent session is made first
//! (`mosquitto_sub -c -E`), then running totals `0..=N` are published QoS 1, never more than
//! [`MQTT_BENCH_WINDOW`] ahead of what the consumer has taken (Mosquitto drops QoS 1 messages
//! beyond its `max_queued_messages`, 1000 by default). The clock runs from the first publish
//! to the last message taken (printed by `mosquitto_sub`; committed by the edge).

use super::edge_toml;
use anyhow::Context;
use serde_json::json;
use std::time::{Duration, Instant};
/// The broker `mqtt-ingest` measures against (Mosquitto, as the tests use).
const MQTT_BENCH_BROKER: (&str, u16) = ("127.0.0.1", 1883);

/// Messages the publisher keeps ahead of the consumer: below Mosquitto's default
/// `max_queued_messages` (1000), so the broker never drops one, for either consumer.
const MQTT_BENCH_WINDOW: u64 = 400;

/// Creates a persistent QoS 1 session for `client_id` subscribed to `topic`, so what is
/// published from now on waits for the consumer that connects with that id.
async fn mqtt_bench_session(client_id: &str, topic: &str) -> anyhow::Result<()> {
    let (host, port) = MQTT_BENCH_BROKER;
    let status = tokio::process::Command::new("mosquitto_sub")
        .args(["-h", host, "-p", &port.to_string(), "-q", "1", "-c", "-E"])
        .args(["-i", client_id, "-t", topic])
        .status()
        .await
        .context("run mosquitto_sub (mosquitto-clients)")?;
    anyhow::ensure!(status.success(), "mosquitto_sub -E failed: {status}");
    Ok(())
}

/// Publishes running totals `0..=n` QoS 1 to `topic` as fast as the consumer takes them
/// (`consumed`, messages so far), at most [`MQTT_BENCH_WINDOW`] ahead. Returns when all are
/// handed to the broker.
async fn mqtt_bench_publish(
    tag: &str,
    topic: &str,
    n: u64,
    mut consumed: tokio::sync::watch::Receiver<u64>,
) -> anyhow::Result<()> {
    use edge_agent::rumqttc::{AsyncClient, MqttOptions, QoS};
    let (host, port) = MQTT_BENCH_BROKER;
    let mut options = MqttOptions::new(format!("mes-bench-pub-{tag}"), host, port);
    options
        .set_inflight(1000)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let driver = tokio::spawn(async move {
        loop {
            if let Err(e) = eventloop.poll().await {
                return e.to_string();
            }
        }
    });
    for total in 0..=n {
        while total > *consumed.borrow() + MQTT_BENCH_WINDOW {
            consumed.changed().await.context("the consumer stopped")?;
        }
        client
            .publish(topic, QoS::AtLeastOnce, false, total.to_string())
            .await?;
    }
    // Keep the connection until the consumer has everything (QoS 1 handshakes finish).
    let _ = consumed.wait_for(|c| *c > n).await;
    let _ = client.disconnect().await;
    driver.abort();
    Ok(())
}

/// `mosquitto_sub -q 1 -C N` draining the load: messages per second.
async fn mqtt_bench_mosquitto_sub(n: u64, run: &str) -> anyhow::Result<f64> {
    use tokio::io::AsyncBufReadExt;
    let (host, port) = MQTT_BENCH_BROKER;
    let topic = format!("mes-bench/{run}/sub/press-1/total");
    let client_id = format!("mes-bench-sub-{run}");
    mqtt_bench_session(&client_id, &topic).await?;
    let mut sub = tokio::process::Command::new("mosquitto_sub")
        .args(["-h", host, "-p", &port.to_string(), "-q", "1", "-c"])
        .args(["-i", &client_id, "-t", &topic, "-C", &(n + 1).to_string()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("run mosquitto_sub")?;
    let mut lines = tokio::io::BufReader::new(sub.stdout.take().context("stdout")?).lines();
    let (progress, consumed) = tokio::sync::watch::channel(0u64);
    let t = Instant::now();
    let publisher = tokio::spawn({
        let topic = topic.clone();
        let run = format!("{run}-sub");
        async move { mqtt_bench_publish(&run, &topic, n, consumed).await }
    });
    let mut got = 0u64;
    while let Some(_line) = lines.next_line().await? {
        got += 1;
        progress.send_replace(got);
        if got > n {
            break;
        }
    }
    let elapsed = t.elapsed();
    anyhow::ensure!(got == n + 1, "mosquitto_sub received {got} of {}", n + 1);
    publisher.await??;
    let _ = sub.wait().await;
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// The edge's MQTT source and processor taking the load into its journal, each message
/// committed before its acknowledgement: messages per second.
async fn mqtt_bench_edge(n: u64, run: &str) -> anyhow::Result<f64> {
    let (host, port) = MQTT_BENCH_BROKER;
    let dir = tempfile::tempdir()?;
    let prefix = format!("mes-bench/{run}/edge");
    let topic = format!("{prefix}/press-1/total");
    let client_id = format!("mes-bench-edge-{run}");
    // The rule's own filter: a second, overlapping subscription would have the broker send
    // every message twice.
    mqtt_bench_session(&client_id, &format!("{prefix}/+/total")).await?;
    let source = format!(
        r#"
[[sources]]
type = "mqtt"
broker = "mqtt://{host}:{port}"
client_id = "{client_id}"
[[sources.rules]]
topic = "{prefix}/+/total"
device = "{{1}}"
station = "st-10"
payload = "plain"
yields = "count"
counter = "good"
"#
    );
    let config = edge_agent::EdgeConfig::from_toml_str(&edge_toml(
        "bench-mqtt",
        "http://127.0.0.1:9",
        "unused",
        &dir.path().join("journal.db"),
        "normal",
        &source,
    ))?;
    let edge = edge_agent::start(config).await?;
    // The committed running total says how far the edge is (total `k`: `k + 1` messages).
    let mut committed = edge.journal.committed();
    let (progress, consumed) = tokio::sync::watch::channel(0u64);
    let t = Instant::now();
    let publisher = tokio::spawn({
        let topic = topic.clone();
        let run = format!("{run}-edge");
        async move { mqtt_bench_publish(&run, &topic, n, consumed).await }
    });
    let journal = edge.journal.clone();
    let counted = async {
        loop {
            committed.borrow_and_update();
            let total: Option<u64> = journal
                .get_state("counter/press-1/mqtt/good")
                .await?
                .and_then(|v| v.parse().ok());
            if let Some(total) = total {
                progress.send_replace(total + 1);
                if total >= n {
                    return Ok::<_, anyhow::Error>(());
                }
            }
            committed.changed().await.context("the journal closed")?;
        }
    };
    if tokio::time::timeout(Duration::from_secs(120), counted)
        .await
        .is_err()
    {
        anyhow::bail!(
            "the edge did not take the load within 120 s: committed seq {}, total {:?}",
            edge.journal.committed().borrow().0,
            edge.journal.get_state("counter/press-1/mqtt/good").await?
        );
    }
    let elapsed = t.elapsed();
    publisher.await??;
    let good = edge
        .journal
        .get_state("counter/press-1/mqtt/good")
        .await?
        .unwrap_or_default();
    anyhow::ensure!(
        good == n.to_string(),
        "the edge's committed total is {good}, not {n}"
    );
    // Every part once: the production events add up to the total.
    let mut parts = 0;
    let mut after = protocol::Seq::ZERO;
    loop {
        let rows = edge.journal.read_after(after, 10_000).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in &rows {
            let event: protocol::Event = serde_json::from_str(&row.json)?;
            if let protocol::EventKind::ProductionReported { good, .. } = event.kind {
                parts += good;
            }
        }
    }
    anyhow::ensure!(parts == n, "the journal counts {parts} parts, not {n}");
    // One production event per message after the baseline: fewer means the broker dropped
    // messages (its queue overflowed), and the figure would flatter the edge.
    anyhow::ensure!(
        after.0 == n,
        "{} production events for {n} messages: the broker dropped some",
        after.0
    );
    edge.shutdown().await;
    Ok(n as f64 / elapsed.as_secs_f64())
}

pub async fn mqtt_ingest(messages: u64) -> anyhow::Result<()> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let baseline = mqtt_bench_mosquitto_sub(messages, &run).await?;
    let edge = mqtt_bench_edge(messages, &run).await?;
    println!(
        "{}",
        json!({"bench":"mqtt_ingest","messages":messages,"qos":1,
            "edge_msgs_per_s":edge.round(),
            "mosquitto_sub_msgs_per_s":baseline.round(),
            "ratio":(edge / baseline * 100.0).round() / 100.0})
    );
    Ok(())
}
