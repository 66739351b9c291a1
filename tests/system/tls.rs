//! Issue 13: central serving HTTPS (`[tls]` in its configuration) and edges that reach it with
//! `[central] ca_file`, as the real `mes central` and `mes edge` processes. The certificates
//! are made here (rcgen): the plant's CA, central's certificate for 127.0.0.1 and localhost,
//! and a second CA that signed nothing central has. Over HTTPS, session cookies are `Secure`.

use crate::support::{
    ADMIN_TOKEN, Central, DEADLINE, EdgeHome, Link, Simulated, assert_exactly_once, https_client,
    temp_dir, wait_until,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::json;
use std::path::{Path, PathBuf};

fn new_ca(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (params, KeyPair::generate().expect("a CA key"))
}

/// Writes `ca.pem`, `other-ca.pem`, and central's `tls/central.pem` and `tls/central.key`
/// into `dir`; returns the two CA files.
fn make_pki(dir: &Path) -> (PathBuf, PathBuf) {
    let (ca_params, ca_key) = new_ca("mes system test plant ca");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_params.self_signed(&ca_key).expect("CA").pem()).expect("write");
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, "central");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().expect("a server key");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    std::fs::create_dir_all(dir.join("tls")).expect("create tls/");
    std::fs::write(dir.join("tls/central.pem"), cert.pem()).expect("write");
    std::fs::write(dir.join("tls/central.key"), key.serialize_pem()).expect("write");
    let (other_params, other_key) = new_ca("some other ca");
    let other_ca = dir.join("other-ca.pem");
    std::fs::write(
        &other_ca,
        other_params.self_signed(&other_key).expect("CA").pem(),
    )
    .expect("write");
    (ca, other_ca)
}

#[tokio::test]
async fn an_edge_with_the_plant_ca_delivers_over_https_and_one_with_another_ca_is_refused() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    std::fs::create_dir_all(&central_dir).expect("create central's directory");
    let (ca, other_ca) = make_pki(&central_dir);
    // Relative to central.toml, which the harness writes into the same directory.
    let config = "[tls]\ncert = \"tls/central.pem\"\nkey = \"tls/central.key\"\n";
    let central = Central::start_tls(&central_dir, config, &ca).await;
    assert!(central.url().starts_with("https://"), "{}", central.url());

    // Over HTTPS, a page's session cookie is `Secure`.
    let https = https_client(&ca);
    let password = "correct horse battery staple 13";
    let made = https
        .put(format!("{}/api/v1/users/tls-viewer", central.url()))
        .bearer_auth(ADMIN_TOKEN)
        .json(
            &json!({"display_name": "Viewer over TLS", "roles": ["viewer"], "password": password}),
        )
        .send()
        .await
        .expect("central answers");
    assert!(made.status().is_success(), "{:?}", made.text().await);
    let signed_in = https
        .post(format!("{}/api/v1/session", central.url()))
        .json(&json!({"login": "tls-viewer", "password": password}))
        .send()
        .await
        .expect("central answers");
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.starts_with("mes_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );

    // An edge that trusts the plant's CA: every event reaches central once, in order.
    let token = central.create_edge("line-tls").await;
    let mut home = EdgeHome::new(
        &tmp.path().join("edge-tls"),
        "line-tls",
        &token,
        &central.url(),
        Link {
            batch_max_events: 25,
        },
    )
    .with_central_settings(&format!("ca_file = {:?}", ca.display().to_string()));
    let mut edge = home
        .start(Some(Simulated {
            machines: 3,
            cycle_ms: 5,
            max_events: Some(120),
            seed: 13,
        }))
        .await;
    edge.wait_drained(120).await;
    edge.proc.terminate().await;
    assert_exactly_once(&central, &home).await;

    // An edge that trusts another CA refuses central: it says why and delivers nothing.
    let token = central.create_edge("line-wrong-ca").await;
    let mut home = EdgeHome::new(
        &tmp.path().join("edge-wrong-ca"),
        "line-wrong-ca",
        &token,
        &central.url(),
        Link {
            batch_max_events: 25,
        },
    )
    .with_central_settings(&format!("ca_file = {:?}", other_ca.display().to_string()));
    let mut edge = home
        .start(Some(Simulated {
            machines: 1,
            cycle_ms: 5,
            max_events: Some(10),
            seed: 14,
        }))
        .await;
    let last_error = wait_until("the edge to report the certificate", DEADLINE, || async {
        let status = edge.status_json().await?;
        let error = status["central"]["last_error"].as_str()?.to_owned();
        (status["last_seq"].as_u64() == Some(10)).then_some(error)
    })
    .await;
    assert!(
        last_error.contains("UnknownIssuer")
            && last_error.contains("certificate failed verification")
            && last_error.contains("ca_file"),
        "{last_error}"
    );
    let status = edge.try_status().await.expect("the edge answers");
    assert_eq!(status.acked_seq, 0, "nothing is acknowledged");
    assert!(!status.connected);
    edge.proc.terminate().await;
    assert_eq!(central.edge("line-wrong-ca").await.acked_seq, 0);
    assert!(central.events("line-wrong-ca").await.is_empty());
}
