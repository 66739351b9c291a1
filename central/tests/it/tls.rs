//! Issue 13: central over HTTPS, on a real socket with real TLS. The certificates are made
//! here (rcgen): a CA, a server certificate for 127.0.0.1 and localhost, and a second CA that
//! signed nothing central has.

use crate::{ADMIN, admin_token, batch};
use central::config::{ConfigError, TlsConfig};
use central::tls::{self, TlsListener};
use central::{AppState, CentralConfig, open_sqlite_store};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest a condition of these tests may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// PEM files of one test's certificates.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// A CA that signed nothing central has.
    other_ca: PathBuf,
    /// A private key that belongs to no certificate here.
    other_key: PathBuf,
}

fn new_ca(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (params, KeyPair::generate().unwrap())
}

fn make_pki(dir: &Path) -> Pki {
    let (ca_params, ca_key) = new_ca("mes test plant ca");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_params.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "central");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key_pair = KeyPair::generate().unwrap();
    let cert_pem = params.signed_by(&key_pair, &issuer).unwrap().pem();
    let (cert, key) = (dir.join("central.pem"), dir.join("central.key"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pair.serialize_pem()).unwrap();
    let (other_params, other_ca_key) = new_ca("some other ca");
    let other_ca = dir.join("other-ca.pem");
    std::fs::write(
        &other_ca,
        other_params.self_signed(&other_ca_key).unwrap().pem(),
    )
    .unwrap();
    let other_key = dir.join("other.key");
    std::fs::write(&other_key, other_ca_key.serialize_pem()).unwrap();
    Pki {
        ca,
        cert,
        key,
        other_ca,
        other_key,
    }
}

fn tls_config(pki: &Pki) -> Arc<tls::rustls::ServerConfig> {
    tls::server_config(&TlsConfig {
        cert: pki.cert.clone(),
        key: pki.key.clone(),
    })
    .unwrap()
}

/// An HTTPS client that trusts `ca` only.
fn client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

/// Central serving HTTPS on 127.0.0.1, in this process.
struct Server {
    addr: SocketAddr,
    state: AppState,
    pki: Pki,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let pki = make_pki(dir.path());
        let store = open_sqlite_store(dir.path()).await.unwrap();
        let state = AppState::new(store, admin_token(), &CentralConfig::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tls::serve_tls(
            listener,
            state.clone(),
            tls_config(&pki),
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            addr,
            state,
            pki,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    /// `GET /healthz` over HTTPS with a client that trusts the test CA.
    async fn healthz(&self) -> Value {
        let response = client(&self.pki.ca)
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("central answers over https");
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// The whole chain of an error, as the edge's sync client reports it.
fn chain(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[tokio::test]
async fn central_serves_https_to_a_client_that_trusts_its_ca() {
    let server = Server::start().await;
    assert_eq!(server.healthz().await, json!({"status": "ok"}));
    // By name too, and HTTP/2 by ALPN.
    let response = client(&server.pki.ca)
        .get(format!("https://localhost:{}/healthz", server.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);

    // The API behind it is the same: an edge is made and its events acknowledged.
    let https = client(&server.pki.ca);
    let created: Value = https
        .post(server.url("/api/v1/edges"))
        .bearer_auth(ADMIN)
        .json(&json!({"edge_id": "line-tls"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().expect("a token").to_owned();
    let reply = https
        .post(server.url("/api/v1/sync/events"))
        .bearer_auth(&token)
        .json(&batch("line-tls", 1..=3))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let ack: Value = reply.json().await.unwrap();
    assert_eq!(ack["acked_through"], 3, "{ack}");
}

#[tokio::test]
async fn a_client_that_trusts_another_ca_refuses_central() {
    let server = Server::start().await;
    let err = client(&server.pki.other_ca)
        .get(server.url("/healthz"))
        .send()
        .await
        .expect_err("central's certificate is not signed by the other CA");
    let message = chain(&err);
    assert!(
        message.contains("certificate") && message.contains("UnknownIssuer"),
        "{message}"
    );
    // A client without the plant's CA (the system's roots) refuses it too.
    let err = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(server.url("/healthz"))
        .send()
        .await
        .expect_err("a plant CA is no public root");
    assert!(chain(&err).contains("certificate"), "{}", chain(&err));
    // Central itself is unharmed.
    assert_eq!(server.healthz().await, json!({"status": "ok"}));
}

/// Reads what the server sends until it closes the connection (or resets it).
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    got
}

#[tokio::test]
async fn plain_http_and_garbage_on_the_https_port_do_not_break_central() {
    let server = Server::start().await;

    // Plain HTTP: a plain answer in the one error shape, then the connection closes.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&read_to_close(&mut plain).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "https_required", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("https://"),
        "{body}"
    );

    // Bytes that are no TLS at all: closed.
    let mut junk = TcpStream::connect(server.addr).await.unwrap();
    junk.write_all(&[0x00, 0xff, 0x13, 0x37]).await.unwrap();
    assert!(read_to_close(&mut junk).await.is_empty());

    // A broken handshake record: rustls refuses it, the connection closes.
    let mut broken = TcpStream::connect(server.addr).await.unwrap();
    broken
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    read_to_close(&mut broken).await;

    // Clients that stall mid-handshake or never speak hold up nobody.
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x40, 0x00, 0x01])
        .await
        .unwrap();
    let silent = TcpStream::connect(server.addr).await.unwrap();
    let start = Instant::now();
    assert_eq!(server.healthz().await, json!({"status": "ok"}));
    assert!(
        start.elapsed() < tls::HANDSHAKE_TIMEOUT,
        "a good request waited for the stalled handshakes: {:?}",
        start.elapsed()
    );
    drop((stalled, silent));
    assert!(!server.task.is_finished(), "central still serves");
}

#[tokio::test]
async fn a_handshake_that_does_not_finish_in_time_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let store = open_sqlite_store(dir.path()).await.unwrap();
    let state = AppState::new(store, admin_token(), &CentralConfig::default());
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let wait = Duration::from_millis(300);
    let listener = TlsListener::with_handshake_timeout(tcp, tls_config(&pki), wait).unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, central::app(state)).await.unwrap();
    });

    let start = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let got = read_to_close(&mut silent).await;
    assert!(got.is_empty(), "{got:?}");
    assert!(
        start.elapsed() >= wait,
        "closed after {:?}",
        start.elapsed()
    );

    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x40, 0x00, 0x01])
        .await
        .unwrap();
    read_to_close(&mut stalled).await;

    let response = client(&pki.ca)
        .get(format!("https://127.0.0.1:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    task.abort();
}

#[tokio::test]
async fn a_graceful_shutdown_over_https_ends_the_long_polls_and_lets_requests_finish() {
    let mut server = Server::start().await;
    let https = client(&server.pki.ca);
    let created: Value = https
        .post(server.url("/api/v1/edges"))
        .bearer_auth(ADMIN)
        .json(&json!({"edge_id": "line-poll"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let poll = tokio::spawn(
        https
            .get(server.url("/api/v1/sync/plan?have=0&wait_ms=30000"))
            .bearer_auth(&token)
            .send(),
    );
    let edge = protocol::EdgeId::from("line-poll");
    let start = Instant::now();
    while server.state.plan_waiters(&edge) == 0 {
        assert!(start.elapsed() < DEADLINE, "the long poll never arrived");
        tokio::task::yield_now().await;
    }
    server.stop.take().unwrap().send(()).unwrap();
    let answer = tokio::time::timeout(DEADLINE, poll)
        .await
        .expect("the long poll ends with the shutdown")
        .unwrap()
        .expect("the in-flight request gets its answer");
    assert_eq!(answer.status(), 204);
    tokio::time::timeout(DEADLINE, &mut server.task)
        .await
        .expect("serve_tls returns after the shutdown")
        .unwrap()
        .unwrap();
}

fn invalid(result: Result<Arc<tls::rustls::ServerConfig>, ConfigError>) -> (&'static str, String) {
    match result {
        Err(ConfigError::Invalid { field, message }) => (field, message),
        Err(other) => panic!("not an invalid field: {other}"),
        Ok(_) => panic!("the files were accepted"),
    }
}

#[test]
fn certificate_and_key_files_are_checked_at_start_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let config = |cert: &Path, key: &Path| TlsConfig {
        cert: cert.to_owned(),
        key: key.to_owned(),
    };
    assert!(tls::server_config(&config(&pki.cert, &pki.key)).is_ok());

    let missing = dir.path().join("no-such.pem");
    let (field, message) = invalid(tls::server_config(&config(&missing, &pki.key)));
    assert_eq!(field, "tls.cert");
    assert!(
        message.contains(&missing.display().to_string()) && message.contains("cannot read"),
        "{message}"
    );
    let (field, message) = invalid(tls::server_config(&config(&pki.cert, &missing)));
    assert_eq!(field, "tls.key");
    assert!(message.contains("no-such.pem"), "{message}");

    // A key where the certificate should be: no certificate in it.
    let (field, message) = invalid(tls::server_config(&config(&pki.key, &pki.key)));
    assert_eq!(field, "tls.cert");
    assert!(message.contains("no certificate"), "{message}");
    // A certificate where the key should be.
    let (field, message) = invalid(tls::server_config(&config(&pki.cert, &pki.cert)));
    assert_eq!(field, "tls.key");
    assert!(message.contains("no PEM private key"), "{message}");

    // Another key than the certificate's.
    let err = tls::server_config(&config(&pki.cert, &pki.other_key)).unwrap_err();
    let shown = err.to_string();
    assert!(shown.starts_with("tls.key: "), "{shown}");
    assert!(
        shown.contains("does not go with the certificate")
            && shown.contains(&pki.other_key.display().to_string())
            && shown.contains(&pki.cert.display().to_string()),
        "{shown}"
    );
}
