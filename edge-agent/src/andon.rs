//! The edge's own line state for andon boards and local HMIs, published to an MQTT broker:
//!
//! - `{prefix}/state`, retained JSON: the work orders of the plan in force (with the station of
//!   each operation), good and scrap per station since the agent started (committed events
//!   only), and every device's or machine's state. Published after each (re)connect and
//!   whenever it changed, looked at every `interval`.
//! - `{prefix}/status`, retained: `online` once connected; the broker publishes the last will
//!   `offline` when the agent's connection drops without a goodbye (a crash, a cut cable), and
//!   the agent publishes `offline` itself when it stops in order.
//!
//! Read-only towards the rest of the edge: it reads [`Live`] and nothing else.

use crate::config::LineStateConfig;
use crate::live::Live;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// The state document, without its timestamp (which is added when it is published).
pub fn line_state(live: &Live) -> Value {
    let plan = live.plan();
    let work_orders: Vec<Value> = plan
        .as_deref()
        .map(|p| {
            p.work_orders
                .iter()
                .map(|wo| {
                    json!({
                        "work_order": wo.work_order,
                        "item": wo.item,
                        "qty": wo.qty,
                        "uom": wo.uom,
                        "due": wo.due,
                        "operations": wo.operations.iter().map(|op| json!({
                            "operation": op.operation,
                            "description": op.description,
                            "station": op.station,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let stations: serde_json::Map<String, Value> = live
        .station_counts()
        .into_iter()
        .map(|(station, c)| (station, json!({"good": c.good, "scrap": c.scrap})))
        .collect();
    json!({
        "plan_version": plan.as_deref().map(|p| p.version.0),
        "work_orders": work_orders,
        "stations": stations,
        "devices": live.devices(),
    })
}

fn topics(config: &LineStateConfig) -> (String, String) {
    let prefix = config.topic_prefix.trim_matches('/');
    (format!("{prefix}/state"), format!("{prefix}/status"))
}

/// Connection options: a clean session, and the retained last will `offline`. With the
/// edge's embedded broker, straight to rumqttd with the loopback login (past the front, which
/// asks devices for theirs: `broker/`).
pub fn options(config: &LineStateConfig) -> Result<MqttOptions, String> {
    let (host, port) = config.validate()?;
    let (_, status) = topics(config);
    let gate = crate::broker::gate_for(&host, port);
    let mut o = match &gate {
        Some(gate) => {
            let mut o = MqttOptions::new(
                config.client_id.clone(),
                gate.inner.ip().to_string(),
                gate.inner.port(),
            );
            o.set_credentials(
                gate.inner_login.username.clone(),
                gate.inner_login.password.clone(),
            );
            o
        }
        None => MqttOptions::new(config.client_id.clone(), host, port),
    };
    o.set_keep_alive(Duration::from_secs(5))
        .set_clean_session(true)
        .set_last_will(LastWill::new(status, OFFLINE, QoS::AtLeastOnce, true));
    Ok(o)
}

/// Publishes until shutdown; then publishes `offline` and disconnects. Broker trouble is
/// logged and retried; it never stops the agent.
pub async fn run(config: LineStateConfig, live: Arc<Live>, mut shutdown: watch::Receiver<bool>) {
    let options = match options(&config) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "line state not published");
            return;
        }
    };
    let (state_topic, status_topic) = topics(&config);
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut connected = false;
    let mut published: Option<Value> = None;
    let mut wait = Duration::from_millis(200);
    loop {
        let mut failed = false;
        tokio::select! {
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    wait = Duration::from_millis(200);
                    tracing::info!(broker = %config.broker, "line state: connected");
                    let _ = client.try_publish(&status_topic, QoS::AtLeastOnce, true, ONLINE);
                    published = None;
                    publish_if_changed(&client, &state_topic, &live, &mut published);
                }
                Ok(_) => {}
                Err(e) => {
                    connected = false;
                    tracing::warn!(error = %e, retry_in = ?wait, "line state: broker connection failed");
                    failed = true;
                }
            },
            _ = tick.tick() => {
                if connected {
                    publish_if_changed(&client, &state_topic, &live, &mut published);
                }
            }
            _ = shutdown.wait_for(|s| *s) => break,
        }
        if failed {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    }
    if connected {
        // A goodbye: say offline (the will is not sent on a clean disconnect), then leave,
        // driving the event loop until the broker has the message (or a short while passed).
        let _ = client.try_publish(&status_topic, QoS::AtLeastOnce, true, OFFLINE);
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
}

fn publish_if_changed(
    client: &AsyncClient,
    topic: &str,
    live: &Live,
    published: &mut Option<Value>,
) {
    let state = line_state(live);
    if published.as_ref() == Some(&state) {
        return;
    }
    let mut doc = state.clone();
    doc["at"] = json!(chrono::Utc::now());
    match client.try_publish(topic, QoS::AtLeastOnce, true, doc.to_string()) {
        Ok(()) => *published = Some(state),
        // The request queue is full (the broker is slow): the next tick tries again.
        Err(e) => tracing::debug!(error = %e, "line state not queued"),
    }
}
