//! The embedded broker asks who is there (issue 11): devices log in with their own password
//! or client certificate, publish and subscribe only within their topics, and cannot take the
//! client id of the edge's own MQTT clients or of another device. Each attack of the issue is
//! a test here: anonymous and invented clients, a device posting another's counts or a scan
//! that would sign an operator in, a takeover of the edge's session.

use crate::mqtt_restart::{DEADLINE, free_port};
use crate::mqtt_tls::{make_pki, toml_path};
use edge_agent::broker::config::{BrokerConfig, RawBrokerConfig, hash_password};
use edge_agent::live::Live;
use edge_agent::rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS,
    SubscribeReasonCode, TlsConfiguration, Transport,
};
use edge_agent::sources::mqtt::client::{self, MqttDelivery, MqttMessage};
use edge_agent::sources::mqtt::config::MqttConfig;
use edge_agent::sources::mqtt::rules::MappedValue;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

const PASSWORD: &str = "press-1-secret";

/// An embedded broker on a free port with `devices` (TOML of `[[devices]]` tables and other
/// keys) and the edge's own client ids `reserved`.
fn start_broker(settings: &str, reserved: &[&str]) -> SocketAddr {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = broker_config(addr, settings);
    edge_agent::broker::start(&config, reserved.iter().map(|s| s.to_string()).collect(), 0)
        .unwrap();
    addr
}

fn broker_config(addr: SocketAddr, settings: &str) -> BrokerConfig {
    toml::from_str::<RawBrokerConfig>(&format!("listen = \"{addr}\"\n{settings}"))
        .unwrap()
        .validate(|_| None)
        .unwrap()
}

/// press-1 may publish under `plant/{run}/press-1/` and subscribe to its commands; scanner-1
/// may publish scans for st-10.
fn devices(run: &str) -> String {
    let hash = hash_password(PASSWORD);
    format!(
        r#"
[[devices]]
username = "press-1"
password_hash = "{hash}"
publish = ["plant/{run}/press-1/#"]
subscribe = ["plant/{run}/press-1/cmd/+"]
[[devices]]
username = "scanner-1"
password_hash = "{hash}"
publish = ["plant/{run}/st-10/scan"]
"#
    )
}

/// A device's MQTT client: its CONNACK, the PUBACKs it got, its SUBACKs' codes.
struct Device {
    client: AsyncClient,
    connack: watch::Receiver<Option<Result<(), ConnectReturnCode>>>,
    acked: watch::Receiver<u64>,
    subacks: mpsc::UnboundedReceiver<Vec<SubscribeReasonCode>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Device {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn device_options(broker: SocketAddr, client_id: &str, login: Option<(&str, &str)>) -> MqttOptions {
    let mut o = MqttOptions::new(client_id, broker.ip().to_string(), broker.port());
    o.set_keep_alive(Duration::from_secs(5));
    o.set_max_packet_size(4 * 1024 * 1024, 4 * 1024 * 1024);
    if let Some((user, password)) = login {
        o.set_credentials(user, password);
    }
    o
}

impl Device {
    fn connect(options: MqttOptions) -> Device {
        let (client, mut events) = AsyncClient::new(options, 100);
        let (connack_tx, connack) = watch::channel(None);
        let (acked_tx, acked) = watch::channel(0u64);
        let (suback_tx, subacks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connack_tx.send_replace(Some(Ok(())));
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => acked_tx.send_modify(|n| *n += 1),
                    Ok(Event::Incoming(Packet::SubAck(s))) => {
                        let _ = suback_tx.send(s.return_codes);
                    }
                    Ok(_) => {}
                    Err(ConnectionError::ConnectionRefused(code)) => {
                        connack_tx.send_replace(Some(Err(code)));
                        return;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Device {
            client,
            connack,
            acked,
            subacks,
            task,
        }
    }

    /// What the broker answered to the CONNECT.
    async fn answer(&mut self) -> Result<(), ConnectReturnCode> {
        tokio::time::timeout(DEADLINE, self.connack.wait_for(|c| c.is_some()))
            .await
            .expect("a CONNACK in time")
            .unwrap()
            .expect("some answer")
    }

    async fn acked(&mut self, n: u64) {
        let got = tokio::time::timeout(DEADLINE, self.acked.wait_for(|a| *a >= n))
            .await
            .is_ok();
        assert!(got, "{n} PUBACKs in time, got {}", *self.acked.borrow());
    }
}

#[tokio::test]
async fn issue_11_anonymous_and_invented_clients_are_refused_and_a_device_logs_in_with_its_password()
 {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let broker = start_broker(&devices(&run), &[]);
    let mut good = Device::connect(device_options(
        broker,
        "press-1",
        Some(("press-1", PASSWORD)),
    ));
    assert_eq!(good.answer().await, Ok(()));
    for (login, expected) in [
        (None, ConnectReturnCode::NotAuthorized),
        (
            Some(("press-9", PASSWORD)),
            ConnectReturnCode::BadUserNamePassword,
        ),
        (
            Some(("press-1", "guessed")),
            ConnectReturnCode::BadUserNamePassword,
        ),
    ] {
        let mut intruder = Device::connect(device_options(broker, "intruder", login));
        assert_eq!(intruder.answer().await, Err(expected), "{login:?}");
    }
    // The device that logged in first is still there, and may publish on its topics.
    good.client
        .publish(
            format!("plant/{run}/press-1/counts"),
            QoS::AtLeastOnce,
            false,
            "1",
        )
        .await
        .unwrap();
    good.acked(1).await;
}

#[tokio::test]
async fn anonymous_clients_get_in_only_where_allowed_explicitly() {
    let broker = start_broker("allow_anonymous = true", &[]);
    let mut anyone = Device::connect(device_options(broker, "anyone", None));
    assert_eq!(anyone.answer().await, Ok(()));
    anyone
        .client
        .publish("any/topic", QoS::AtLeastOnce, false, "1")
        .await
        .unwrap();
    anyone.acked(1).await;
}

#[tokio::test]
async fn a_device_subscribes_only_within_its_subscribe_filters() {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let broker = start_broker(&devices(&run), &[]);
    let mut press = Device::connect(device_options(
        broker,
        "press-1",
        Some(("press-1", PASSWORD)),
    ));
    assert_eq!(press.answer().await, Ok(()));
    let ok = SubscribeReasonCode::Success(QoS::AtLeastOnce);
    let no = SubscribeReasonCode::Failure;
    for (filters, expected) in [
        (vec!["#".to_owned()], vec![no]),
        (
            vec![
                format!("plant/{run}/press-1/cmd/+"),
                format!("plant/{run}/+/counts"),
                format!("plant/{run}/press-1/cmd/reset"),
            ],
            vec![ok, no, ok],
        ),
    ] {
        press
            .client
            .subscribe_many(
                filters.iter().map(|f| {
                    edge_agent::rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce)
                }),
            )
            .await
            .unwrap();
        let codes = tokio::time::timeout(DEADLINE, press.subacks.recv())
            .await
            .expect("a SUBACK")
            .unwrap();
        assert_eq!(codes, expected, "{filters:?}");
    }
}

/// A source of the edge on the embedded broker, counting `plant/{run}/+/counts`.
fn source_config(broker: SocketAddr, client_id: &str, run: &str) -> MqttConfig {
    toml::from_str(&format!(
        r#"
broker = "mqtt://{broker}"
client_id = "{client_id}"
keep_alive = "5s"
[[rules]]
topic = "plant/{run}/+/counts"
device = "{{1}}"
payload = "plain"
yields = "count"
counter = "good"
cumulative = false
"#
    ))
    .unwrap()
}

struct Source {
    deliveries: mpsc::Receiver<MqttDelivery>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start_source(config: MqttConfig) -> Source {
    let (tx, deliveries) = mpsc::channel(16);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(client::run(config, tx, Live::new(None), stopping));
    Source {
        deliveries,
        stop,
        task,
    }
}

impl Source {
    /// The next delivery, committed at once.
    async fn next(&mut self) -> Vec<MqttMessage> {
        let d = tokio::time::timeout(DEADLINE, self.deliveries.recv())
            .await
            .expect("a delivery in time")
            .expect("the source runs");
        let messages = d.messages.clone();
        let _ = d.committed.send(true);
        messages
    }

    async fn stop(self) {
        drop(self.deliveries);
        self.stop.send_replace(true);
        self.task.await.unwrap();
    }
}

fn count_of(messages: &[MqttMessage]) -> Option<(String, u64)> {
    match messages {
        [MqttMessage::Mapped(m)] => match m.what {
            MappedValue::Count { value, .. } => Some((m.device.clone(), value)),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn issue_11_a_device_cannot_take_over_the_edge_s_client_id_or_another_device_s() {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let edge_id = format!("mes-edge-{run}");
    let broker = start_broker(&devices(&run), &[&edge_id, "line-andon"]);
    let mut source = start_source(source_config(broker, &edge_id, &run));
    let mut press = Device::connect(device_options(
        broker,
        "press-1",
        Some(("press-1", PASSWORD)),
    ));
    assert_eq!(press.answer().await, Ok(()));
    // Publish until the source's subscription is in place.
    let topic = format!("plant/{run}/press-1/counts");
    let deadline = Instant::now() + DEADLINE;
    loop {
        press
            .client
            .publish(&topic, QoS::AtLeastOnce, false, "1")
            .await
            .unwrap();
        if let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(300), source.deliveries.recv()).await
        {
            let _ = d.committed.send(true);
            break;
        }
        assert!(Instant::now() < deadline, "the source never subscribed");
    }

    // A device with a good login tries the edge's own client ids, and press-1's (a
    // persistent session): identifier rejected.
    for id in [edge_id.as_str(), "line-andon"] {
        let mut thief = Device::connect(device_options(broker, id, Some(("scanner-1", PASSWORD))));
        assert_eq!(
            thief.answer().await,
            Err(ConnectReturnCode::BadClientId),
            "{id}"
        );
    }
    let mut options = device_options(broker, "press-1", Some(("scanner-1", PASSWORD)));
    options.set_clean_session(false);
    let mut thief = Device::connect(options);
    assert_eq!(thief.answer().await, Err(ConnectReturnCode::BadClientId));

    // The edge's session was never taken over: what press-1 publishes now still arrives,
    // and press-1 itself was not kicked off.
    press
        .client
        .publish(&topic, QoS::AtLeastOnce, false, "7")
        .await
        .unwrap();
    loop {
        let m = source.next().await;
        if count_of(&m) == Some(("press-1".into(), 7)) {
            break;
        }
    }
    source.stop().await;
}

/// The whole edge with its embedded broker: an anonymous client, a device posting counts on
/// another device's topic and a scan on a scanner's topic get nothing into the journal but
/// device faults naming them; the device's own counts are production.
#[tokio::test]
async fn issue_11_an_invented_device_s_counts_and_a_foreign_scan_never_reach_the_journal() {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let hash = hash_password(PASSWORD);
    let config = edge_agent::EdgeConfig::from_toml_str(&format!(
        r#"
edge_id = "broker-edge"
[central]
url = "http://127.0.0.1:9"
token = "t"
[journal]
path = "{journal}"
[http]
listen = "127.0.0.1:0"
[mqtt_broker]
listen = "127.0.0.1:{port}"
[[mqtt_broker.devices]]
username = "press-1"
password_hash = "{hash}"
publish = ["plant/{run}/press-1/#"]
[[mqtt_broker.devices]]
username = "scanner-1"
password_hash = "{hash}"
publish = ["plant/{run}/scanner-1/scan"]
[[sources]]
type = "mqtt"
broker = "mqtt://127.0.0.1:{port}"
client_id = "mes-edge-{run}"
[[sources.rules]]
topic = "plant/{run}/+/counts"
device = "{{1}}"
station = "st-10"
payload = "plain"
yields = "count"
counter = "good"
cumulative = false
[[sources.rules]]
topic = "plant/{run}/+/scan"
device = "{{1}}"
station = "st-10"
payload = "plain"
yields = "scan"
"#,
        journal = dir.path().join("journal.db").display(),
    ))
    .unwrap();
    let edge = edge_agent::start(config).await.unwrap();
    let broker = SocketAddr::from(([127, 0, 0, 1], port));

    // Nobody logs in without a login; an invented device is refused.
    let mut anonymous = Device::connect(device_options(broker, "press-9", None));
    assert_eq!(
        anonymous.answer().await,
        Err(ConnectReturnCode::NotAuthorized)
    );
    let mut invented = Device::connect(device_options(
        broker,
        "press-9",
        Some(("press-9", PASSWORD)),
    ));
    assert_eq!(
        invented.answer().await,
        Err(ConnectReturnCode::BadUserNamePassword)
    );

    // press-1 logs in, and tries another device's counts and the scanner's scan topic; each
    // is acknowledged (so it is not sent again) and dropped.
    let mut press = Device::connect(device_options(
        broker,
        "press-1",
        Some(("press-1", PASSWORD)),
    ));
    assert_eq!(press.answer().await, Ok(()));
    for (topic, payload) in [
        (format!("plant/{run}/press-2/counts"), "1000"),
        (format!("plant/{run}/scanner-1/scan"), "(96)E666"),
        (format!("plant/{run}/press-1/counts"), "5"),
    ] {
        press
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    press.acked(3).await;

    // Wait for press-1's own count and both faults.
    let mut committed = edge.journal.committed();
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
            let faults = events
                .iter()
                .filter(|e| matches!(&e.kind, protocol::EventKind::DeviceFault { message, .. } if message.contains("outside its publish rights")))
                .count();
            let produced = events
                .iter()
                .any(|e| matches!(e.kind, protocol::EventKind::ProductionReported { .. }));
            if faults >= 2 && produced {
                return events;
            }
            let _ = committed.changed().await;
        }
    })
    .await
    .expect("press-1's count and the two faults are committed");
    let production: Vec<(String, u64)> = events
        .iter()
        .filter_map(|e| match e.kind {
            protocol::EventKind::ProductionReported { good, .. } => Some((
                e.source
                    .device
                    .as_ref()
                    .map(|d| d.as_str().to_owned())
                    .unwrap_or_default(),
                good,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        production,
        vec![("press-1".to_owned(), 5)],
        "only press-1's own count: {events:#?}"
    );
    let json = serde_json::to_string(&events).unwrap();
    assert!(
        !json.contains("E666"),
        "the foreign scan reached the journal: {events:#?}"
    );
    for topic in [
        format!("plant/{run}/press-2/counts"),
        format!("plant/{run}/scanner-1/scan"),
    ] {
        assert!(
            events.iter().any(|e| matches!(
                &e.kind,
                protocol::EventKind::DeviceFault { device, message }
                    if device.as_str() == "press-1" && message.contains(&topic)
            )),
            "a fault naming press-1 and {topic}: {events:#?}"
        );
    }
    edge.shutdown().await;
}

/// Over TLS, a device logs in with a client certificate signed by the configured CA (its
/// common name is its user name), or with its password; a certificate naming no device is
/// refused.
#[tokio::test]
async fn over_tls_a_client_certificate_names_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let run = uuid::Uuid::now_v7().simple().to_string();
    let broker = start_broker(
        &format!(
            "tls = {{ cert_file = {}, key_file = {}, client_ca_file = {} }}\n{}",
            toml_path(&pki.server_cert),
            toml_path(&pki.server_key),
            toml_path(&pki.ca),
            devices(&run)
        ),
        &[],
    );
    let tls = |cert: Option<(&std::path::Path, &std::path::Path)>| {
        let mut extra = format!("ca_file = {}", toml_path(&pki.ca));
        if let Some((c, k)) = cert {
            extra.push_str(&format!(
                "\nclient_cert = {}\nclient_key = {}",
                toml_path(c),
                toml_path(k)
            ));
        }
        let config: MqttConfig = toml::from_str(&format!(
            "broker = \"mqtts://{broker}\"\nclient_id = \"x\"\n{extra}\n[[rules]]\ntopic = \"t\"\ndevice = \"d\"\npayload = \"plain\"\nyields = \"scan\"\n"
        ))
        .unwrap();
        Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(
            client::tls_config(&config).unwrap(),
        )))
    };
    let mut by_cert = device_options(broker, "press-1", None);
    by_cert.set_transport(tls(Some((&pki.press_cert, &pki.press_key))));
    let mut by_cert = Device::connect(by_cert);
    assert_eq!(by_cert.answer().await, Ok(()));
    by_cert
        .client
        .publish(
            format!("plant/{run}/press-1/counts"),
            QoS::AtLeastOnce,
            false,
            "1",
        )
        .await
        .unwrap();
    by_cert.acked(1).await;

    let mut by_password = device_options(broker, "scanner-1", Some(("scanner-1", PASSWORD)));
    by_password.set_transport(tls(None));
    assert_eq!(Device::connect(by_password).answer().await, Ok(()));

    let mut stranger = device_options(broker, "intruder", None);
    stranger.set_transport(tls(Some((&pki.intruder_cert, &pki.intruder_key))));
    assert_eq!(
        Device::connect(stranger).answer().await,
        Err(ConnectReturnCode::NotAuthorized)
    );
}

#[tokio::test]
async fn tls_files_are_checked_at_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let missing = dir.path().join("missing.pem");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    for (tls, expected) in [
        (
            format!(
                "cert_file = {}, key_file = {}",
                toml_path(&missing),
                toml_path(&pki.server_key)
            ),
            format!("mqtt_broker.tls.cert_file {}", missing.display()),
        ),
        (
            format!(
                "cert_file = {}, key_file = {}",
                toml_path(&pki.server_cert),
                toml_path(&pki.client_key)
            ),
            "do not go together".to_owned(),
        ),
    ] {
        let config = broker_config(addr, &format!("allow_anonymous = true\ntls = {{ {tls} }}"));
        let e = edge_agent::broker::start(&config, vec![], 0).unwrap_err();
        assert!(e.contains(&expected), "{expected:?} missing in: {e}");
    }
}

/// Issue 14: two devices publish the same payload on the same topic through the embedded
/// broker. rumqttd hands each on under a packet id of its own, so the source's commit names
/// the message only by topic and payload; the front therefore lets the second through only
/// once the first is committed, and each device's PUBACK (held by its packet id) is released
/// by the commit of its own message, never by its twin's.
#[tokio::test]
async fn issue_14_identical_messages_from_two_devices_are_each_acknowledged_after_their_own_commit()
{
    let run = uuid::Uuid::now_v7().simple().to_string();
    let hash = hash_password(PASSWORD);
    let settings = format!(
        r#"
[[devices]]
username = "press-a"
password_hash = "{hash}"
publish = ["plant/{run}/#"]
[[devices]]
username = "press-b"
password_hash = "{hash}"
publish = ["plant/{run}/#"]
"#
    );
    let edge_id = format!("mes-edge-{run}");
    let broker = start_broker(&settings, &[&edge_id]);
    let mut source = start_source(source_config(broker, &edge_id, &run));
    let mut a = Device::connect(device_options(
        broker,
        "press-a",
        Some(("press-a", PASSWORD)),
    ));
    assert_eq!(a.answer().await, Ok(()));
    let mut b = Device::connect(device_options(
        broker,
        "press-b",
        Some(("press-b", PASSWORD)),
    ));
    assert_eq!(b.answer().await, Ok(()));

    // Warm-up on a topic of its own until the source's subscription is in place, then every
    // warm-up message committed and acknowledged: what comes next is the test's.
    let warm = format!("plant/{run}/warm/counts");
    let deadline = Instant::now() + DEADLINE;
    let mut n_warm = 0;
    loop {
        a.client
            .publish(&warm, QoS::AtLeastOnce, false, "1")
            .await
            .unwrap();
        n_warm += 1;
        if let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(300), source.deliveries.recv()).await
        {
            let _ = d.committed.send(true);
            break;
        }
        assert!(Instant::now() < deadline, "the source never subscribed");
    }
    while *a.acked.borrow() < n_warm {
        if let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(50), source.deliveries.recv()).await
        {
            let _ = d.committed.send(true);
        }
        assert!(
            Instant::now() < deadline,
            "the warm-up was never acknowledged"
        );
    }

    let topic = format!("plant/{run}/shared/counts");
    a.client
        .publish(&topic, QoS::AtLeastOnce, false, "5")
        .await
        .unwrap();
    let first = tokio::time::timeout(DEADLINE, source.deliveries.recv())
        .await
        .expect("press-a's message in time")
        .expect("the source runs");
    assert_eq!(count_of(&first.messages), Some(("shared".into(), 5)));
    b.client
        .publish(&topic, QoS::AtLeastOnce, false, "5")
        .await
        .unwrap();
    // While press-a's message is not committed, press-b's twin does not reach the source, and
    // neither device is told its message is stored. (Before, the twin went through at once:
    // two identical messages in flight from two devices could reach the source in another
    // order than the front had registered them, and the first commit then released the PUBACK
    // of the one not committed yet.)
    assert!(
        tokio::time::timeout(Duration::from_millis(500), source.deliveries.recv())
            .await
            .is_err(),
        "the twin reached the source while the first was not committed"
    );
    assert_eq!(
        *a.acked.borrow(),
        n_warm,
        "press-a acknowledged before its commit"
    );
    assert_eq!(
        *b.acked.borrow(),
        0,
        "press-b acknowledged before its commit"
    );

    let _ = first.committed.send(true);
    a.acked(n_warm + 1).await;
    let second = tokio::time::timeout(DEADLINE, source.deliveries.recv())
        .await
        .expect("press-b's message after the first's commit")
        .expect("the source runs");
    assert_eq!(count_of(&second.messages), Some(("shared".into(), 5)));
    assert_eq!(
        *b.acked.borrow(),
        0,
        "press-b acknowledged before its commit"
    );
    let _ = second.committed.send(true);
    b.acked(1).await;
    source.stop().await;
}
