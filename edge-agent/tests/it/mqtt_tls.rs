//! The MQTT source against a Mosquitto that wants TLS: with username and password, with a
//! client certificate (mutual TLS), and the mistakes an operator makes (a CA that did not sign
//! the broker's certificate, a wrong password, no client certificate): each shows as the
//! source's status with what to check, and the source keeps running and retrying.
//!
//! The certificates are made here (rcgen): a CA, a broker certificate for 127.0.0.1 and
//! localhost, a client certificate, and a second CA that signed nothing the broker has.

use crate::mqtt_restart::{DEADLINE, PrivateMosquitto, mosquitto_binary};
use edge_agent::live::Live;
use edge_agent::rumqttc::{AsyncClient, MqttOptions, QoS, TlsConfiguration, Transport};
use edge_agent::sources::mqtt::client::{self, MqttDelivery, MqttMessage};
use edge_agent::sources::mqtt::config::MqttConfig;
use edge_agent::sources::mqtt::rules::MappedValue;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// PEM files of one test's certificates.
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing the broker or the clients have.
    pub other_ca: PathBuf,
    /// Client certificates signed by `ca` for devices of the embedded broker
    /// (`broker_auth.rs`): common name `press-1`, and `intruder`, a name no device has.
    pub press_cert: PathBuf,
    pub press_key: PathBuf,
    pub intruder_cert: PathBuf,
    pub intruder_key: PathBuf,
}

fn new_ca(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (params, KeyPair::generate().unwrap())
}

fn leaf(
    dir: &Path,
    name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> (PathBuf, PathBuf) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

pub fn make_pki(dir: &Path) -> Pki {
    let (ca_params, ca_key) = new_ca("mes test ca");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let (server_cert, server_key) = leaf(
        dir,
        "broker",
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
        &issuer,
    );
    let (client_cert, client_key) = leaf(
        dir,
        "mes-edge",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
        &issuer,
    );
    let (press_cert, press_key) = leaf(
        dir,
        "press-1",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
        &issuer,
    );
    let (intruder_cert, intruder_key) = leaf(
        dir,
        "intruder",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
        &issuer,
    );
    let (other_params, other_key) = new_ca("some other ca");
    let other_ca = dir.join("other-ca.pem");
    std::fs::write(
        &other_ca,
        other_params.self_signed(&other_key).unwrap().pem(),
    )
    .unwrap();
    Pki {
        ca,
        server_cert,
        server_key,
        client_cert,
        client_key,
        other_ca,
        press_cert,
        press_key,
        intruder_cert,
        intruder_key,
    }
}

/// A Mosquitto with one TLS listener and no anonymous clients: with `users` a password file
/// of them, else clients log in with their certificate (its CN becomes the user name).
async fn tls_broker(dir: &Path, pki: &Pki, users: &[(&str, &str)]) -> Option<PrivateMosquitto> {
    let binary = mosquitto_binary()?;
    let mut settings = format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nallow_anonymous false\n",
        pki.ca.display(),
        pki.server_cert.display(),
        pki.server_key.display(),
    );
    if users.is_empty() {
        settings.push_str("require_certificate true\nuse_identity_as_username true\n");
    } else {
        let passwords = dir.join("passwords");
        std::fs::write(&passwords, "").unwrap();
        for (user, password) in users {
            let status = tokio::process::Command::new("mosquitto_passwd")
                .arg("-b")
                .arg(&passwords)
                .arg(user)
                .arg(password)
                .status()
                .await
                .expect("mosquitto_passwd comes with mosquitto");
            assert!(status.success(), "mosquitto_passwd failed");
        }
        settings.push_str(&format!("password_file {}\n", passwords.display()));
    }
    Some(PrivateMosquitto::start(binary, dir, &settings).await)
}

/// The source's settings; `extra` adds TLS and login lines.
fn config(broker: SocketAddr, prefix: &str, extra: &str) -> MqttConfig {
    toml::from_str(&format!(
        r#"
broker = "mqtts://{broker}"
client_id = "mes-edge-{id}"
keep_alive = "5s"
{extra}
[[rules]]
topic = "{prefix}/+/count"
device = "{{1}}"
payload = "json"
value = "/good"
yields = "count"
counter = "good"
"#,
        id = uuid::Uuid::now_v7(),
    ))
    .unwrap()
}

pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

struct Source {
    deliveries: mpsc::Receiver<MqttDelivery>,
    live: Arc<Live>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    name: String,
}

fn start_source(config: MqttConfig) -> Source {
    let (tx, deliveries) = mpsc::channel(16);
    let (stop, stopping) = watch::channel(false);
    let live = Live::new(None);
    let name = format!("mqtt:{}", config.broker);
    let task = tokio::spawn(client::run(config, tx, live.clone(), stopping));
    Source {
        deliveries,
        live,
        stop,
        task,
        name,
    }
}

impl Source {
    /// Waits until the source's status is `state`, and returns its detail.
    async fn wait_for(&self, state: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let now = self
                .live
                .devices()
                .into_iter()
                .find(|d| d.device == self.name);
            if let Some(d) = &now
                && d.state == state
            {
                return d.detail.clone().unwrap_or_default();
            }
            assert!(
                Instant::now() < deadline,
                "the source is {now:?}, not {state}"
            );
            assert!(!self.task.is_finished(), "the source stopped");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) {
        drop(self.deliveries);
        self.stop.send_replace(true);
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the source stops")
            .expect("the source did not panic");
    }
}

/// A publisher over TLS with the same login settings as `config`.
fn publisher(broker: SocketAddr, config: &MqttConfig) -> AsyncClient {
    let mut o = MqttOptions::new(
        format!("pub-{}", uuid::Uuid::now_v7()),
        broker.ip().to_string(),
        broker.port(),
    );
    o.set_keep_alive(Duration::from_secs(5));
    if let Some(user) = &config.username {
        o.set_credentials(
            user.clone(),
            config
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default(),
        );
    }
    o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(client::tls_config(config).unwrap()),
    )));
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

/// Publishes until the source delivers (its subscription follows its connection), and
/// checks the value came through.
async fn delivers(source: &mut Source, publisher: &AsyncClient, prefix: &str) {
    let topic = format!("{prefix}/press-1/count");
    let deadline = Instant::now() + DEADLINE;
    let delivery = loop {
        publisher
            .publish(&topic, QoS::AtLeastOnce, false, br#"{"good":7}"#.to_vec())
            .await
            .unwrap();
        if let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(300), source.deliveries.recv()).await
        {
            break d;
        }
        assert!(Instant::now() < deadline, "nothing came through TLS");
    };
    assert!(matches!(
        &delivery.messages[..],
        [MqttMessage::Mapped(m)] if matches!(m.what, MappedValue::Count { value: 7, .. })
    ));
    let _ = delivery.committed.send(true);
}

#[tokio::test]
async fn mosquitto_over_tls_with_username_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let Some(broker) = tls_broker(dir.path(), &pki, &[("edge", "s3cret")]).await else {
        return;
    };
    let prefix = format!("mes-tls/{}", uuid::Uuid::now_v7());
    let config = config(
        broker.addr,
        &prefix,
        &format!(
            "ca_file = {}\nusername = \"edge\"\npassword = \"s3cret\"",
            toml_path(&pki.ca)
        ),
    );
    let publisher = publisher(broker.addr, &config);
    let mut source = start_source(config);
    source.wait_for("connected").await;
    delivers(&mut source, &publisher, &prefix).await;
    source.stop().await;
}

#[tokio::test]
async fn mosquitto_over_mutual_tls_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let Some(broker) = tls_broker(dir.path(), &pki, &[]).await else {
        return;
    };
    let prefix = format!("mes-tls/{}", uuid::Uuid::now_v7());
    let config = config(
        broker.addr,
        &prefix,
        &format!(
            "ca_file = {}\nclient_cert = {}\nclient_key = {}",
            toml_path(&pki.ca),
            toml_path(&pki.client_cert),
            toml_path(&pki.client_key)
        ),
    );
    let publisher = publisher(broker.addr, &config);
    let mut source = start_source(config);
    source.wait_for("connected").await;
    delivers(&mut source, &publisher, &prefix).await;
    source.stop().await;

    // Without a certificate the broker closes the connection; the status says what to add.
    let source = start_source(self::config(
        broker.addr,
        &prefix,
        &format!("ca_file = {}", toml_path(&pki.ca)),
    ));
    let why = source.wait_for("down").await;
    println!("status: {why}");
    assert!(
        why.contains(&broker.addr.to_string()) && why.contains("client_cert"),
        "unclear: {why}"
    );
    source.stop().await;
}

#[tokio::test]
async fn a_broker_certificate_from_another_ca_is_a_clear_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let Some(broker) = tls_broker(dir.path(), &pki, &[("edge", "s3cret")]).await else {
        return;
    };
    let source = start_source(config(
        broker.addr,
        "mes-tls/x",
        &format!(
            "ca_file = {}\nusername = \"edge\"\npassword = \"s3cret\"",
            toml_path(&pki.other_ca)
        ),
    ));
    let why = source.wait_for("down").await;
    println!("status: {why}");
    for part in ["TLS", &broker.addr.to_string(), "UnknownIssuer", "ca_file"] {
        assert!(why.contains(part), "{part:?} missing in: {why}");
    }
    // It keeps retrying (the status stays down) until stopped, and stops cleanly.
    source.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let Some(broker) = tls_broker(dir.path(), &pki, &[("edge", "s3cret")]).await else {
        return;
    };
    let source = start_source(config(
        broker.addr,
        "mes-tls/x",
        &format!(
            "ca_file = {}\nusername = \"edge\"\npassword = \"wrong\"",
            toml_path(&pki.ca)
        ),
    ));
    let why = source.wait_for("down").await;
    println!("status: {why}");
    for part in ["refused the login", "password", &broker.addr.to_string()] {
        assert!(why.contains(part), "{part:?} missing in: {why}");
    }
    source.stop().await;
}

#[tokio::test]
async fn unreadable_tls_files_stop_the_source_at_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    for (extra, expected) in [
        (
            format!("ca_file = {}", toml_path(&garbage)),
            format!("ca_file {}: no certificate in it", garbage.display()),
        ),
        (
            format!("ca_file = {}", toml_path(&dir.path().join("missing.pem"))),
            "cannot read it".to_owned(),
        ),
        (
            format!(
                "ca_file = {}\nclient_cert = {}\nclient_key = {}",
                toml_path(&pki.ca),
                toml_path(&pki.client_cert),
                toml_path(&garbage)
            ),
            format!("client_key {}: no PEM private key", garbage.display()),
        ),
        (
            format!(
                "ca_file = {}\nclient_cert = {}\nclient_key = {}",
                toml_path(&pki.ca),
                toml_path(&pki.client_cert),
                toml_path(&pki.server_key)
            ),
            "do not go together".to_owned(),
        ),
    ] {
        let source = start_source(config(addr, "mes-tls/x", &extra));
        // The source gives up at once: its settings cannot work.
        let why = source.wait_for("down").await;
        println!("status: {why}");
        assert!(why.contains(&expected), "{expected:?} missing in: {why}");
        tokio::time::timeout(DEADLINE, source.task)
            .await
            .expect("the source ends")
            .expect("without a panic");
    }
}
