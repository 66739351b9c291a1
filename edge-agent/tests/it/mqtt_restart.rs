//! The MQTT source through a broker restart: a private Mosquitto (persistence on) is stopped
//! with SIGTERM or killed with SIGKILL while a backlog of QoS 1 running totals waits for the
//! edge (a proxy holds back what the broker sends it), and started again on the same port.
//! The source must reconnect by itself; after SIGTERM every message the broker acknowledged
//! to the publisher is counted exactly once (one production event each, the redelivered
//! in-flight ones, marked DUP, counting nothing); after SIGKILL Mosquitto keeps only what it
//! had saved, and the running totals still count every part exactly once.
//!
//! Also: whether each broker marks a message sent again after a reconnect as DUP, and
//! [`PrivateMosquitto`], the broker these tests and `mqtt_tls.rs` start on a free port with a
//! config of their own.
//!
//! The embedded broker (rumqttd) has no stop: it lives as long as the process, and its
//! sessions are in memory only, so "restarting" it means restarting the edge, which loses what
//! it held. Its restart is not tested here.

use edge_agent::rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a broker may take to accept connections, and the edge to catch up.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The `mosquitto` binary, or `None` with the reason printed (a failure in CI, where
/// .ci/run installs it).
pub fn mosquitto_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("mosquitto"))
        .find(|p| p.is_file());
    if found.is_none() {
        let why = "the mosquitto binary is not installed (apt-get install mosquitto)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}; .ci/run installs it");
        }
        eprintln!("skipped: {why}");
    }
    found
}

/// A free port on 127.0.0.1, found by binding port 0 and letting it go.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Mosquitto of a test's own, on a port of its own, with its config, log and persistence
/// in a directory of the test. Killed when dropped.
pub struct PrivateMosquitto {
    binary: PathBuf,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    child: Option<tokio::process::Child>,
}

impl PrivateMosquitto {
    /// Writes `mosquitto.conf` in `dir` (a `listener` line on a free port followed by
    /// `settings`), starts the broker and waits until it accepts connections.
    pub async fn start(binary: PathBuf, dir: &Path, settings: &str) -> PrivateMosquitto {
        let port = free_port();
        let conf = format!(
            "# written by the edge-agent tests\n\
             listener {port} 127.0.0.1\n\
             {settings}\n\
             log_dest file {log}\n\
             log_type all\n\
             # Stay root when started as root: the test's directory belongs to the test.\n\
             user root\n",
            log = dir.join("mosquitto.log").display(),
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let mut broker = PrivateMosquitto {
            binary,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir: dir.to_owned(),
            child: None,
        };
        broker.run().await;
        broker
    }

    /// Starts the broker (again) with the same config and port, and waits until it accepts
    /// connections.
    pub async fn run(&mut self) {
        assert!(self.child.is_none(), "the broker is already running");
        let child = tokio::process::Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.join("mosquitto.stderr")).unwrap(),
            ))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + DEADLINE;
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "mosquitto exited ({status}) before accepting connections on {}: {}\n{}",
                    self.addr,
                    std::fs::read_to_string(self.dir.join("mosquitto.stderr")).unwrap_or_default(),
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto does not accept connections on {}:\n{}",
                self.addr,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `signal` (`"TERM"`, `"KILL"`) and waits until the broker is gone.
    pub async fn stop(&mut self, signal: &str) {
        let mut child = self.child.take().expect("the broker is running");
        let pid = child.id().expect("a running broker has a pid");
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid} failed");
        tokio::time::timeout(DEADLINE, child.wait())
            .await
            .expect("the broker ends after the signal")
            .unwrap();
    }

    /// The broker's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for PrivateMosquitto {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// A QoS 1 publisher that counts the broker's acknowledgements (PUBACK). rumqttc sends what
/// was not acknowledged again after it reconnects, so every message published is acknowledged
/// in the end, even across a broker restart.
struct Publisher {
    client: AsyncClient,
    acked: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
    /// Sends each total as JSON with the device's timestamp (`{"total":N,"ts":MS}`) instead of
    /// a plain number.
    stamped: bool,
}

/// The device's clock of a stamped total: one millisecond per part, from a fixed start.
const STAMP_BASE_MS: u64 = 1_764_000_000_000;

impl Publisher {
    fn connect(broker: SocketAddr) -> Publisher {
        let mut o = MqttOptions::new(
            format!("mes-restart-pub-{}", uuid::Uuid::now_v7()),
            broker.ip().to_string(),
            broker.port(),
        );
        o.set_keep_alive(Duration::from_secs(5));
        let (client, mut events) = AsyncClient::new(o, 1000);
        let (tx, acked) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => tx.send_modify(|n| *n += 1),
                    Ok(_) => {}
                    // The broker is away: try again soon (rumqttc reconnects on the next poll).
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
        Publisher {
            client,
            acked,
            task,
            stamped: false,
        }
    }

    /// Publishes the running totals `totals` and waits until the broker acknowledged all
    /// messages published so far (`expected_acks`).
    async fn publish_totals(
        &mut self,
        topic: &str,
        totals: std::ops::RangeInclusive<u64>,
        expected_acks: u64,
    ) {
        for total in totals {
            let payload = if self.stamped {
                format!(r#"{{"total":{total},"ts":{}}}"#, STAMP_BASE_MS + total)
            } else {
                total.to_string()
            };
            self.client
                .publish(topic, QoS::AtLeastOnce, false, payload.into_bytes())
                .await
                .unwrap();
        }
        let acked = tokio::time::timeout(DEADLINE, self.acked.wait_for(|n| *n >= expected_acks))
            .await
            .is_ok();
        assert!(
            acked,
            "the broker acknowledged {} of {expected_acks} messages",
            *self.acked.borrow()
        );
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The MQTT source's state as the edge shows it (`connected`, `down`, ...).
fn source_state(edge: &edge_agent::RunningEdge, broker: SocketAddr) -> Option<(String, String)> {
    let name = format!("mqtt:mqtt://{broker}");
    edge.live
        .devices()
        .into_iter()
        .find(|d| d.device == name)
        .map(|d| (d.state, d.detail.unwrap_or_default()))
}

async fn wait_for_state(edge: &edge_agent::RunningEdge, broker: SocketAddr, state: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let now = source_state(edge, broker);
        if now.as_ref().is_some_and(|(s, _)| s == state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the mqtt source is {now:?}, not {state}, after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every production event of the journal: how many, and the parts they count.
async fn production(edge: &edge_agent::RunningEdge) -> (Vec<u64>, u64) {
    let events: Vec<protocol::Event> = edge
        .journal
        .read_after(protocol::Seq::ZERO, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect();
    let goods: Vec<u64> = events
        .iter()
        .filter_map(|e| match e.kind {
            protocol::EventKind::ProductionReported { good, .. } => Some(good),
            _ => None,
        })
        .collect();
    let sum = goods.iter().sum();
    (goods, sum)
}

/// Running totals 0 (the baseline), then 1..=PER_PHASE before the restart and the next
/// PER_PHASE after it: each message adds one part.
const PER_PHASE: u64 = 500;

/// Waits until the journal's running total of press-1 is `total`.
async fn wait_for_total(edge: &edge_agent::RunningEdge, total: u64, broker: &PrivateMosquitto) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let state = edge
            .journal
            .get_state("counter/press-1/mqtt/good")
            .await
            .unwrap();
        // The total, then the device's timestamp of it when it sends one.
        if state.as_deref().and_then(|s| s.split(' ').next()) == Some(&total.to_string()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the journal's last total is {state:?}, not {total}\n{}",
            broker.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The journal's running total of press-1 (0 before the first).
async fn total(edge: &edge_agent::RunningEdge) -> u64 {
    edge.journal
        .get_state("counter/press-1/mqtt/good")
        .await
        .unwrap()
        .and_then(|v| v.split(' ').next()?.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Waits until the journal's running total has not moved for a second, and returns it. After
/// SIGKILL nobody knows how much of the backlog the broker kept, so there is no value to wait
/// for; one second is many times what the edge needs to commit the next message.
async fn wait_until_settled(edge: &edge_agent::RunningEdge) -> u64 {
    let deadline = Instant::now() + DEADLINE;
    let mut last = (total(edge).await, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = total(edge).await;
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            return now;
        }
        assert!(Instant::now() < deadline, "the total never settled");
    }
}

/// `backlog_first`: phase 2 is published only once the backlog restored by the broker has
/// arrived; else while it is being delivered. `stamped`: the device sends its totals with its
/// timestamp (JSON), else as plain numbers.
async fn every_acknowledged_message_counts_once_across_a_broker_restart(
    signal: &str,
    backlog_first: bool,
    stamped: bool,
) {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // With SIGKILL Mosquitto keeps only what it saved: save after every change.
    let mut broker = PrivateMosquitto::start(
        binary,
        dir.path(),
        &format!(
            "allow_anonymous true\n\
             persistence true\n\
             persistence_location {}/\n\
             autosave_on_changes true\n\
             autosave_interval 1\n\
             max_queued_messages 0\n\
             max_inflight_messages 20",
            dir.path().display()
        ),
    )
    .await;
    // The edge reaches the broker through the proxy; the publisher directly.
    let proxy = Proxy::start(broker.addr).await;
    let addr = proxy.addr;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let topic = format!("mes-restart/{run}/press-1/total");
    let config = edge_agent::EdgeConfig::from_toml_str(&format!(
        r#"
edge_id = "mqtt-restart"
[central]
url = "http://127.0.0.1:9"
token = "t"
[journal]
path = "{journal}"
[http]
listen = "127.0.0.1:0"
[[sources]]
type = "mqtt"
broker = "mqtt://{addr}"
client_id = "mes-restart-{run}"
keep_alive = "30s"
inflight = 20
[[sources.rules]]
topic = "mes-restart/{run}/+/total"
device = "{{1}}"
station = "st-10"
{payload}
yields = "count"
counter = "good"
"#,
        journal = dir.path().join("journal.db").display(),
        payload = if stamped {
            "payload = \"json\"\nvalue = \"/total\"\ntimestamp = \"/ts\""
        } else {
            "payload = \"plain\""
        },
    ))
    .unwrap();
    let edge = edge_agent::start(config).await.unwrap();
    wait_for_state(&edge, addr, "connected").await;
    let mut publisher = Publisher::connect(broker.addr);
    publisher.stamped = stamped;
    // The baseline, published until the subscription (made after the connection) took it.
    let mut acks = 0;
    let deadline = Instant::now() + DEADLINE;
    loop {
        acks += 1;
        publisher.publish_totals(&topic, 0..=0, acks).await;
        if edge
            .journal
            .get_state("counter/press-1/mqtt/good")
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the source never took the baseline"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Phase 1 while the proxy holds back what the broker sends the edge, and the broker goes
    // away as soon as it acknowledged the last message to the publisher: a few messages are
    // in flight to the edge by then, the rest queued for its session.
    proxy.hold.send_replace(true);
    acks += PER_PHASE;
    publisher.publish_totals(&topic, 1..=PER_PHASE, acks).await;
    let total_at_kill = total(&edge).await;
    broker.stop(signal).await;
    // The edge gets what was in flight, commits it, and its acknowledgements go nowhere.
    proxy.hold.send_replace(false);
    wait_for_state(&edge, addr, "down").await;
    let total_at_restart = total(&edge).await;
    assert!(
        total_at_restart > 0,
        "the messages in flight at the kill reached the edge, so the broker sends them again"
    );

    broker.run().await;
    let restarted = Instant::now();
    wait_for_state(&edge, addr, "connected").await;
    let reconnect = restarted.elapsed();

    // After SIGTERM Mosquitto has saved everything; after SIGKILL only what it saved by then
    // (it saves after every change here, but may acknowledge a message before saving it).
    let durable = signal == "TERM";
    let mut lost = 0;
    if backlog_first && durable {
        // Everything acknowledged before the restart arrives, by itself.
        wait_for_total(&edge, PER_PHASE, &broker).await;
    } else if backlog_first {
        let settled = wait_until_settled(&edge).await;
        assert!(
            settled + 100 >= PER_PHASE,
            "after SIGKILL the broker kept only {settled} of {PER_PHASE} messages"
        );
        lost = PER_PHASE - settled;
    }
    // Phase 2, after the restart.
    acks += PER_PHASE;
    publisher
        .publish_totals(&topic, PER_PHASE + 1..=2 * PER_PHASE, acks)
        .await;
    let last = 2 * PER_PHASE;
    wait_for_total(&edge, last, &broker).await;
    let (goods, sum) = production(&edge).await;
    println!(
        "SIG{signal}: the journal's total was {total_at_kill} of {PER_PHASE} when the broker \
         went away and {total_at_restart} when it came back; the source reconnected \
         {reconnect:?} after the broker accepted connections again"
    );
    let odd: Vec<(usize, u64)> = goods
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, g)| *g != 1)
        .collect();
    assert_eq!(
        sum, last,
        "every part counted once; events counting other than one part (index, parts): {odd:?}"
    );
    if durable && backlog_first {
        assert_eq!(
            goods.len() as u64,
            last,
            "one production event per message (none lost, merged or repeated): {odd:?}"
        );
    } else if durable {
        // Reordered: a newer total arriving first counts the parts of the older ones, which
        // then count nothing. Still exact (the sum above), and no estimate.
        let faults = faults(&edge).await;
        assert!(faults.is_empty(), "{faults:?}");
    } else {
        // A message the killed broker had not saved is lost; the next running total still
        // counts its parts (the sum above), in one event.
        println!("SIGKILL: the broker lost the last {lost} messages acknowledged before the kill");
        assert!(goods.len() as u64 >= last - lost - 1, "{odd:?}");
    }
    edge.shutdown().await;
}

/// The device faults of the journal (an estimate is recorded as one).
async fn faults(edge: &edge_agent::RunningEdge) -> Vec<String> {
    edge.journal
        .read_after(protocol::Seq::ZERO, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| {
            match serde_json::from_str::<protocol::Event>(&e.json)
                .unwrap()
                .kind
            {
                protocol::EventKind::DeviceFault { message, .. } => Some(message),
                _ => None,
            }
        })
        .collect()
}

#[tokio::test]
async fn mosquitto_stopped_with_sigterm_and_restarted_every_acknowledged_message_counts_once() {
    every_acknowledged_message_counts_once_across_a_broker_restart("TERM", true, false).await;
}

#[tokio::test]
async fn mosquitto_killed_with_sigkill_and_restarted_every_acknowledged_message_counts_once() {
    every_acknowledged_message_counts_once_across_a_broker_restart("KILL", true, false).await;
}

/// Mosquitto 2.0.11 hands messages published after its restart to the edge in the middle of
/// the backlog it restored (the log showed totals 2001..2033 sent between 680 and 681), the
/// older ones without DUP. Plain running totals then counted about twice the parts (an old
/// total looks like a counter reset); with the device's timestamp an old total is told from a
/// reset and every part counts once.
#[tokio::test]
async fn mosquitto_restarted_with_a_backlog_while_new_messages_arrive_counts_every_part_once() {
    every_acknowledged_message_counts_once_across_a_broker_restart("TERM", false, true).await;
}

/// The same with plain totals: the edge cannot tell an old total from a reset, so it may count
/// too many, but never silently: every total that went back is recorded as an estimate.
#[tokio::test]
async fn plain_totals_reordered_by_a_broker_restart_are_counted_as_flagged_estimates() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut broker = PrivateMosquitto::start(
        binary,
        dir.path(),
        &format!(
            "allow_anonymous true\n\
             persistence true\n\
             persistence_location {}/\n\
             max_queued_messages 0\n\
             max_inflight_messages 20",
            dir.path().display()
        ),
    )
    .await;
    let proxy = Proxy::start(broker.addr).await;
    let addr = proxy.addr;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let topic = format!("mes-restart/{run}/press-1/total");
    let config = edge_agent::EdgeConfig::from_toml_str(&format!(
        r#"
edge_id = "mqtt-restart-plain"
[central]
url = "http://127.0.0.1:9"
token = "t"
[journal]
path = "{journal}"
[http]
listen = "127.0.0.1:0"
[[sources]]
type = "mqtt"
broker = "mqtt://{addr}"
client_id = "mes-restart-{run}"
inflight = 20
[[sources.rules]]
topic = "mes-restart/{run}/+/total"
device = "{{1}}"
station = "st-10"
payload = "plain"
yields = "count"
counter = "good"
"#,
        journal = dir.path().join("journal.db").display(),
    ))
    .unwrap();
    let edge = edge_agent::start(config).await.unwrap();
    wait_for_state(&edge, addr, "connected").await;
    let mut publisher = Publisher::connect(broker.addr);
    let mut acks = 0;
    let deadline = Instant::now() + DEADLINE;
    while edge
        .journal
        .get_state("counter/press-1/mqtt/good")
        .await
        .unwrap()
        .is_none()
    {
        acks += 1;
        publisher.publish_totals(&topic, 0..=0, acks).await;
        assert!(
            Instant::now() < deadline,
            "the source never took the baseline"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.hold.send_replace(true);
    acks += PER_PHASE;
    publisher.publish_totals(&topic, 1..=PER_PHASE, acks).await;
    broker.stop("TERM").await;
    proxy.hold.send_replace(false);
    wait_for_state(&edge, addr, "down").await;
    broker.run().await;
    wait_for_state(&edge, addr, "connected").await;
    acks += PER_PHASE;
    publisher
        .publish_totals(&topic, PER_PHASE + 1..=2 * PER_PHASE, acks)
        .await;
    // Every message is in: the journal's total stops moving once all 2 * PER_PHASE arrived.
    let settled = wait_until_settled(&edge).await;
    let (_, sum) = production(&edge).await;
    let estimates = faults(&edge)
        .await
        .into_iter()
        .filter(|f| f.contains("estimate"))
        .count();
    println!(
        "plain totals: {sum} parts counted for {}, last total {settled}, {estimates} estimates",
        2 * PER_PHASE
    );
    assert!(sum >= 2 * PER_PHASE, "no part lost: {sum}");
    assert!(
        sum == 2 * PER_PHASE || estimates > 0,
        "{sum} parts counted for {} with no estimate recorded",
        2 * PER_PHASE
    );
    edge.shutdown().await;
}

/// What a second connection of the same persistent session gets after the first received
/// running totals 1, 2, 3 and acknowledged none of them (as after a crash between commit
/// and acknowledgement): each value with the message's DUP flag.
/// `commit_first`: the broker acknowledges a publish to its device only once the source has
/// committed it (the embedded broker's front), so the publisher cannot wait for the
/// acknowledgements of the messages left uncommitted on the first connection.
async fn redelivered_after_reconnect(broker: SocketAddr, commit_first: bool) -> Vec<(u64, bool)> {
    use edge_agent::live::Live;
    use edge_agent::sources::mqtt::client::{self, MqttMessage};
    use edge_agent::sources::mqtt::rules::MappedValue;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let config: edge_agent::sources::mqtt::config::MqttConfig = toml::from_str(&format!(
        r#"
broker = "mqtt://{broker}"
client_id = "mes-dup-{run}"
keep_alive = "5s"
[[rules]]
topic = "mes-dup/{run}/+/total"
device = "{{1}}"
payload = "plain"
yields = "count"
counter = "good"
"#
    ))
    .unwrap();
    let value = |m: &[MqttMessage]| match m {
        [MqttMessage::Mapped(m)] => match m.what {
            MappedValue::Count { value, .. } => value,
            ref other => panic!("a count, not {other:?}"),
        },
        other => panic!("one mapped message, not {other:?}"),
    };
    let mut publisher = Publisher::connect(broker);
    let topic = format!("mes-dup/{run}/press-1/total");
    let mut acks = 0;
    // First connection: wait for the subscription, then receive 1..=3, commit nothing.
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(client::run(config.clone(), tx, Live::new(None), stopping));
    let deadline = Instant::now() + DEADLINE;
    loop {
        acks += 1;
        // With the front, an ingested message is acknowledged only after its commit (below).
        let expected = if commit_first { 0 } else { acks };
        publisher.publish_totals(&topic, 0..=0, expected).await;
        if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            let _ = d.committed.send(true);
            break;
        }
        assert!(Instant::now() < deadline, "the subscription never came");
    }
    acks += 3;
    let first_acks = if commit_first { acks - 3 } else { acks };
    publisher.publish_totals(&topic, 1..=3, first_acks).await;
    let mut first = Vec::new();
    while first.last() != Some(&3) {
        let d = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .expect("1..=3 delivered")
            .unwrap();
        let v = value(&d.messages);
        let _ = d.committed.send(v == 0);
        first.push(v);
    }
    drop(rx);
    stop.send_replace(true);
    task.await.unwrap();

    // Second connection, same session: what comes again, and marked how.
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(client::run(config, tx, Live::new(None), stopping));
    let mut again = Vec::new();
    while again.last().map(|(v, _)| *v) != Some(3) {
        let d = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("1..=3 delivered again; so far {again:?}"))
            .unwrap();
        again.push((value(&d.messages), d.redelivered));
        let _ = d.committed.send(true);
    }
    // Committed now: every publish is acknowledged to the publisher.
    let all_acked = tokio::time::timeout(DEADLINE, publisher.acked.wait_for(|n| *n >= acks))
        .await
        .is_ok();
    assert!(
        all_acked,
        "acknowledged {} of {acks}",
        *publisher.acked.borrow()
    );
    drop(rx);
    stop.send_replace(true);
    task.await.unwrap();
    again
}

#[tokio::test]
async fn mosquitto_marks_messages_sent_again_after_a_reconnect_as_redelivered() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = PrivateMosquitto::start(binary, dir.path(), "allow_anonymous true").await;
    let again = redelivered_after_reconnect(broker.addr, false).await;
    assert_eq!(again, vec![(1, true), (2, true), (3, true)]);
}

/// rumqttd sends what was not acknowledged again after a reconnect, but without DUP (it
/// replays its log from the first message not acknowledged), so the processor cannot tell a
/// stale running total from a counter reset. This pins that down: if it fails, rumqttd
/// changed and the processor's handling of redelivered totals should be looked at again.
/// (Its sessions live in memory: an edge crash loses them with the broker, so this matters
/// only for a reconnect within one run of the edge.)
#[tokio::test]
async fn embedded_broker_sends_messages_again_after_a_reconnect_but_without_dup() {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    edge_agent::broker::start(
        &edge_agent::broker::config::BrokerConfig::anonymous(addr),
        vec![],
        0,
    )
    .unwrap();
    let again = redelivered_after_reconnect(addr, true).await;
    assert_eq!(again, vec![(1, false), (2, false), (3, false)]);
}

/// A TCP proxy in front of the broker that can hold back what the broker sends to the edge,
/// so messages pile up in the broker (a few in flight, the rest queued) when it goes away.
/// When the broker closes a connection, the proxy passes on what it still has and closes its
/// side too.
struct Proxy {
    addr: SocketAddr,
    hold: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (hold, held) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((edge, _)) = listener.accept().await {
                let Ok(broker) = tokio::net::TcpStream::connect(upstream).await else {
                    continue; // the broker is away: the edge sees a closed connection
                };
                let (mut from_edge, mut to_edge) = edge.into_split();
                let (mut from_broker, mut to_broker) = broker.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_edge, &mut to_broker).await;
                });
                let mut held = held.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match from_broker.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if held.wait_for(|h| !*h).await.is_err()
                            || to_edge.write_all(&buf[..n]).await.is_err()
                        {
                            break;
                        }
                    }
                    let _ = to_edge.shutdown().await;
                });
            }
        });
        Proxy { addr, hold, task }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The embedded broker tells a device its QoS 1 message is stored only once the edge has
/// committed it: until then the device holds it and would send it again after a crash of the
/// agent (issue 4: nothing lost when the broker or the agent restarts). Messages on topics no
/// source ingests, and the source's own publishes, are acknowledged at once.
#[tokio::test]
async fn the_embedded_broker_acknowledges_a_device_s_message_only_after_its_commit() {
    use edge_agent::live::Live;
    use edge_agent::sources::mqtt::client;
    let port = free_port();
    let broker = SocketAddr::from(([127, 0, 0, 1], port));
    edge_agent::broker::start(
        &edge_agent::broker::config::BrokerConfig::anonymous(broker),
        vec![],
        0,
    )
    .unwrap();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let config: edge_agent::sources::mqtt::config::MqttConfig = toml::from_str(&format!(
        r#"
broker = "mqtt://{broker}"
client_id = "mes-gate-{run}"
[[rules]]
topic = "gate/{run}/+/parts"
device = "{{1}}"
payload = "plain"
yields = "count"
counter = "good"
cumulative = false
"#
    ))
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(client::run(config, tx, Live::new(None), stopping));
    let mut publisher = Publisher::connect(broker);
    let topic = format!("gate/{run}/press-1/parts");
    // Until the source has subscribed nothing is held: publish until one reaches it, and
    // commit that one.
    let mut published = 0;
    let deadline = Instant::now() + DEADLINE;
    loop {
        published += 1;
        publisher.publish_totals(&topic, 1..=1, 0).await;
        if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            let _ = d.committed.send(true);
            break;
        }
        assert!(Instant::now() < deadline, "the subscription never came");
    }
    tokio::time::timeout(DEADLINE, publisher.acked.wait_for(|n| *n >= published))
        .await
        .expect("all acknowledged once committed")
        .unwrap();

    // One more part: delivered to the source, not committed yet, so not acknowledged.
    publisher.publish_totals(&topic, 1..=1, 0).await;
    let d = tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("delivered")
        .unwrap();
    // Absence cannot be waited for: give an immediate PUBACK ample time to arrive (loopback,
    // microseconds), then check none did.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        *publisher.acked.borrow(),
        published,
        "acknowledged to the device before the edge committed it"
    );
    // A topic no source ingests is acknowledged at once (to another device: on one
    // connection acknowledgements keep the order of the messages, MQTT 3.1.1 4.6).
    let mut other = Publisher::connect(broker);
    other
        .publish_totals(&format!("gate/{run}/other"), 1..=1, 1)
        .await;
    // The commit releases the held acknowledgement.
    let _ = d.committed.send(true);
    tokio::time::timeout(DEADLINE, publisher.acked.wait_for(|n| *n > published))
        .await
        .expect("acknowledged after the commit")
        .unwrap();
    drop(rx);
    stop.send_replace(true);
    task.await.unwrap();
}
