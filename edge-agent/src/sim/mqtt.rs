//! `mes sim mqtt`: MQTT devices that count parts and change state, publishing either plain
//! JSON (`{prefix}/{device}/counts`, `{prefix}/{device}/state`) or Sparkplug B (an edge node
//! with devices: births with aliases, data by alias with sequence numbers, and a rebirth when
//! a host asks for one).

use crate::sources::mqtt::sparkplug::{Metric, MetricValue, Payload, datatype};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct MqttSimOptions {
    pub host: String,
    pub port: u16,
    /// JSON topics start with this; for Sparkplug it is the group id.
    pub prefix: String,
    pub devices: u32,
    pub cycle: Duration,
    pub sparkplug: bool,
    /// Sparkplug edge node id.
    pub node: String,
    pub seed: u64,
}

/// One simulated device: running totals and a state code (1 running, 2 idle, 7 down: jam).
#[derive(Debug, Clone, Default)]
pub struct SimDevice {
    pub good: u64,
    pub scrap: u64,
    pub state: u32,
}

impl SimDevice {
    /// One cycle; returns whether the state changed.
    pub fn cycle(&mut self, rng: &mut impl Rng) -> bool {
        let before = self.state;
        self.state = match self.state {
            7 if rng.random_bool(0.2) => 1,
            7 => 7,
            _ if rng.random_bool(0.01) => 7,
            _ => 1,
        };
        if self.state == 1 {
            if rng.random_bool(0.02) {
                self.scrap += 1;
            } else {
                self.good += 1;
            }
        }
        before != self.state
    }
}

fn metric(name: &str, alias: u64, with_name: bool, value: MetricValue, dt: u32) -> Metric {
    Metric {
        name: with_name.then(|| name.to_owned()),
        alias: Some(alias),
        datatype: Some(dt),
        value: Some(value),
        ..Default::default()
    }
}

fn device_metrics(d: &SimDevice, birth: bool) -> Vec<Metric> {
    vec![
        metric(
            "Counts/Good",
            1,
            birth,
            MetricValue::LongValue(d.good),
            datatype::UINT64,
        ),
        metric(
            "Counts/Scrap",
            2,
            birth,
            MetricValue::LongValue(d.scrap),
            datatype::UINT64,
        ),
        metric(
            "State",
            3,
            birth,
            MetricValue::IntValue(d.state),
            datatype::UINT32,
        ),
    ]
}

/// Sparkplug's message sequence: 0 to 255, wrapping, restarted at each birth.
#[derive(Debug, Default)]
struct SeqCounter(u64);

impl SeqCounter {
    fn next(&mut self) -> u64 {
        let s = self.0;
        self.0 = (self.0 + 1) % 256;
        s
    }
}

/// Runs the simulated devices until `shutdown`.
pub async fn run(
    options: MqttSimOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut o = MqttOptions::new(
        format!("mes-sim-{}-{}", options.node, uuid::Uuid::now_v7()),
        options.host.clone(),
        options.port,
    );
    o.set_keep_alive(Duration::from_secs(10));
    let group = options.prefix.clone();
    let node = options.node.clone();
    if options.sparkplug {
        o.set_last_will(LastWill::new(
            format!("spBv1.0/{group}/NDEATH/{node}"),
            Payload {
                timestamp: None,
                metrics: vec![],
                seq: None,
                uuid: None,
                body: None,
            }
            .encode_to_vec(),
            QoS::AtLeastOnce,
            false,
        ));
    }
    let (client, mut eventloop) = AsyncClient::new(o, 1024);
    // The event loop runs in its own task: publishing waits on it, so the loop that publishes
    // must never be the one that drives it.
    let (to_sim, mut events) = tokio::sync::mpsc::channel(64);
    let driver = tokio::spawn(async move {
        loop {
            let event = eventloop.poll().await;
            let failed = event.is_err();
            if to_sim.send(event).await.is_err() {
                return;
            }
            if failed {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut devices: Vec<SimDevice> = (0..options.devices)
        .map(|_| SimDevice {
            state: 1,
            ..Default::default()
        })
        .collect();
    let names: Vec<String> = (1..=options.devices)
        .map(|i| format!("press-{i}"))
        .collect();
    let mut seq = SeqCounter::default();
    let now_ms = || chrono::Utc::now().timestamp_millis() as u64;
    let mut tick = tokio::time::interval(options.cycle);
    let mut connected = false;
    let mut need_birth = true;
    loop {
        tokio::select! {
            // (an async block, so that no watch guard is part of the select's output while
            // the other arms await)
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
            event = events.recv() => match event {
                None => break,
                Some(event) => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    need_birth = true;
                    if options.sparkplug {
                        let _ = client
                            .subscribe(format!("spBv1.0/{group}/NCMD/{node}"), QoS::AtLeastOnce)
                            .await;
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic.ends_with(&format!("NCMD/{node}")) => {
                    let asks_rebirth = Payload::decode(p.payload.as_ref())
                        .map(|pl| pl.metrics.iter().any(|m| m.name.as_deref() == Some("Node Control/Rebirth")))
                        .unwrap_or(false);
                    if asks_rebirth {
                        need_birth = true;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    connected = false;
                    tracing::warn!(error = %e, "simulator lost the broker; retrying");
                }
            }},
            _ = tick.tick(), if connected => {
                if options.sparkplug && need_birth {
                    need_birth = false;
                    seq = SeqCounter::default();
                    let nbirth = Payload {
                        timestamp: Some(now_ms()),
                        metrics: vec![metric("bdSeq", 0, true, MetricValue::LongValue(0), datatype::INT64)],
                        seq: Some(seq.next()),
                        uuid: None,
                        body: None,
                    };
                    let _ = client
                        .publish(format!("spBv1.0/{group}/NBIRTH/{node}"), QoS::AtLeastOnce, false, nbirth.encode_to_vec())
                        .await;
                    for (d, name) in devices.iter().zip(&names) {
                        let dbirth = Payload {
                            timestamp: Some(now_ms()),
                            metrics: device_metrics(d, true),
                            seq: Some(seq.next()),
                            uuid: None,
                            body: None,
                        };
                        let _ = client
                            .publish(format!("spBv1.0/{group}/DBIRTH/{node}/{name}"), QoS::AtLeastOnce, false, dbirth.encode_to_vec())
                            .await;
                    }
                }
                for (d, name) in devices.iter_mut().zip(&names) {
                    let state_changed = d.cycle(&mut rng);
                    if options.sparkplug {
                        let data = Payload {
                            timestamp: Some(now_ms()),
                            metrics: device_metrics(d, false),
                            seq: Some(seq.next()),
                            uuid: None,
                            body: None,
                        };
                        let _ = client
                            .publish(format!("spBv1.0/{group}/DDATA/{node}/{name}"), QoS::AtLeastOnce, false, data.encode_to_vec())
                            .await;
                    } else {
                        let counts = serde_json::json!({"good": d.good, "scrap": d.scrap, "ts": now_ms()});
                        let _ = client
                            .publish(format!("{}/{name}/counts", options.prefix), QoS::AtLeastOnce, false, counts.to_string())
                            .await;
                        if state_changed {
                            let _ = client
                                .publish(format!("{}/{name}/state", options.prefix), QoS::AtLeastOnce, true, d.state.to_string())
                                .await;
                        }
                    }
                }
            }
        }
    }
    let _ = client.try_disconnect();
    driver.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_counts_only_while_running_and_comes_back_from_stops() {
        let mut rng = StdRng::seed_from_u64(4);
        let mut d = SimDevice {
            state: 1,
            ..Default::default()
        };
        let (mut stops, mut total_before) = (0, 0);
        for _ in 0..10_000 {
            let was_down = d.state == 7;
            if d.cycle(&mut rng) && d.state == 7 {
                stops += 1;
            }
            if was_down && d.state == 7 {
                assert_eq!(d.good + d.scrap, total_before, "no parts while down");
            }
            total_before = d.good + d.scrap;
        }
        assert!(stops > 10);
        assert!(d.good > 5000 && d.scrap > 50);
    }
}
