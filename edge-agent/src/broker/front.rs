//! The embedded broker's front: accepts devices (TLS if configured), reads their CONNECT,
//! asks [`Accounts`] who they are, and then passes their packets to rumqttd and back, keeping
//! each device to its topics (module docs of `broker`).

use super::auth::{Accounts, ClientIds, Proof, Refusal, Throttle, Who, shown};
use super::config::BrokerTls;
use super::{Gate, lock};
use crate::sources::mqtt::framing::{
    self, CONNECT, Frame, Framer, PUBACK, PUBLISH, PUBREL, SUBACK, SUBSCRIBE, human_bytes,
};
use bytes::BytesMut;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{
    ConnAck, Login, Packet, PubAck, PubComp, PubRec, SubAck, Subscribe, SubscribeReasonCode,
};
use rumqttc::tokio_rustls::TlsAcceptor;
use rumqttc::tokio_rustls::rustls;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Connections at once (as rumqttd's own `max_connections`); more are closed at once.
pub const MAX_CONNECTIONS: usize = 1000;

/// How long a client may take to finish the TLS handshake and send its CONNECT.
pub const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// The device the broker's own faults (refused logins) are recorded for.
pub const BROKER_DEVICE: &str = "mqtt-broker";

/// What every connection of one broker shares.
pub struct Front {
    gate: Arc<Gate>,
    accounts: Accounts,
    tls: Option<TlsAcceptor>,
    max_payload: usize,
    throttle: Mutex<Throttle>,
    client_ids: Mutex<ClientIds>,
    /// One password verification at a time (each takes the hash's memory for a moment).
    verifying: Semaphore,
    connections: Arc<Semaphore>,
}

impl Front {
    pub fn new(
        gate: Arc<Gate>,
        accounts: Accounts,
        tls: Option<TlsAcceptor>,
        max_payload: usize,
    ) -> Front {
        Front {
            gate,
            accounts,
            tls,
            max_payload,
            throttle: Mutex::default(),
            client_ids: Mutex::default(),
            verifying: Semaphore::new(1),
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        }
    }
}

/// Accepts devices for as long as the process runs.
pub async fn serve(front: Arc<Front>, listener: tokio::net::TcpListener) {
    let mut full_since: Option<Instant> = None;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Ok(permit) = front.connections.clone().try_acquire_owned() else {
                    // Closed at once; said once a minute at most.
                    if full_since.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        tracing::warn!(%peer, max = MAX_CONNECTIONS, "embedded MQTT broker: too many connections; refusing new ones");
                        full_since = Some(Instant::now());
                    }
                    continue;
                };
                let front = front.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let _ = stream.set_nodelay(true);
                    let result = match &front.tls {
                        None => session(&front, stream, peer, None).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(CONNECT_WAIT, acceptor.accept(stream)).await
                            {
                                Err(_) => Err("no TLS handshake in time".to_owned()),
                                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                                Ok(Ok(tls)) => {
                                    let names = tls
                                        .get_ref()
                                        .1
                                        .peer_certificates()
                                        .and_then(|c| c.first())
                                        .map(|c| certificate_names(c.as_ref()));
                                    session(&front, tls, peer, names).await
                                }
                            }
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "embedded MQTT broker: connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "the embedded MQTT broker cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The names a client certificate gives its holder: the subject's common names and DNS
/// subject alternative names (at most 16).
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = name {
                names.push((*d).to_owned());
            }
        }
    }
    names.truncate(16);
    names
}

/// The TLS settings of the listener, read from the configured files; a problem names the
/// file. A client certificate is asked for but not required: devices without one log in
/// with their password.
pub fn tls_acceptor(tls: &BrokerTls) -> Result<TlsAcceptor, String> {
    use crate::sources::mqtt::client::{read_certs, read_file};
    use rumqttc::tokio_rustls::rustls::pki_types::PrivateKeyDer;
    use rumqttc::tokio_rustls::rustls::pki_types::pem::PemObject;
    let chain = read_certs(&tls.cert_file, "mqtt_broker.tls.cert_file")?;
    let pem = read_file(&tls.key_file, "mqtt_broker.tls.key_file")?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "mqtt_broker.tls.key_file {}: no PEM private key in it ({e}); expected a PKCS#8, \
             PKCS#1 or SEC1 key",
            tls.key_file.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let builder = match &tls.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca, "mqtt_broker.tls.client_ca_file")? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "mqtt_broker.tls.client_ca_file {}: not a usable CA certificate: {e}",
                        ca.display()
                    )
                })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| {
                format!(
                    "mqtt_broker.tls.client_ca_file {}: cannot verify clients with it: {e}",
                    ca.display()
                )
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "mqtt_broker.tls.cert_file {} and key_file {} do not go together: {e}",
            tls.cert_file.display(),
            tls.key_file.display()
        )
    })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The next frame from `from`, reading as needed; `None` at the end of the stream.
async fn next_frame<R: AsyncRead + Unpin>(
    from: &mut R,
    framer: &mut Framer,
    buf: &mut BytesMut,
) -> Result<Option<Frame>, String> {
    loop {
        if let Some(frame) = framer.next(buf).map_err(|e| e.to_string())? {
            return Ok(Some(frame));
        }
        buf.reserve(16 * 1024);
        match from.read_buf(buf).await {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn encode(packet: Packet) -> BytesMut {
    let mut out = BytesMut::new();
    // Only packets of the front's own making, all far below the limit.
    let _ = packet.write(&mut out, usize::MAX);
    out
}

/// A client id as it claims it, until the connection ends.
struct Claim<'f> {
    ids: &'f Mutex<ClientIds>,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(self.ids).release(&self.id);
    }
}

/// One client, from its CONNECT to the end.
async fn session<S>(
    front: &Arc<Front>,
    stream: S,
    peer: SocketAddr,
    cert_names: Option<Vec<String>>,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut from_device, mut to_device) = tokio::io::split(stream);
    let mut framer = Framer::new(front.max_payload);
    let mut buf = BytesMut::with_capacity(1024);
    let first = tokio::time::timeout(
        CONNECT_WAIT,
        next_frame(&mut from_device, &mut framer, &mut buf),
    )
    .await
    .map_err(|_| "no CONNECT in time".to_owned())??;
    let connect = match first {
        Some(Frame::Packet(mut p)) if p.first().map(|b| b >> 4) == Some(CONNECT) => {
            match Packet::read(&mut p, framer.max_packet()) {
                Ok(Packet::Connect(c)) => c,
                Ok(_) | Err(_) => {
                    return Err("a CONNECT that is not MQTT 3.1.1".into());
                }
            }
        }
        None => return Ok(()),
        Some(_) => return Err("the first packet is not a CONNECT".into()),
    };
    let username = connect.login.as_ref().map(|l| l.username.clone());
    let refuse = |refusal: Refusal| {
        let who = username
            .as_deref()
            .map(shown)
            .unwrap_or_else(|| "no user name".into());
        let message = format!(
            "refused a connection from {} ({who}, client id {}): {}",
            peer.ip(),
            shown(&connect.client_id),
            refusal.reason()
        );
        front
            .gate
            .fault(&format!("login|{}", peer.ip()), BROKER_DEVICE, message);
        refusal
    };
    let decided = async {
        if connect.protocol != rumqttc::mqttbytes::Protocol::V4 {
            return Err(Refusal::Protocol);
        }
        let at = lock(&front.throttle).admit(peer.ip(), Instant::now());
        tokio::time::sleep_until(at.into()).await;
        let (who, proof) = front
            .accounts
            .identify(username.as_deref(), cert_names.as_deref())?;
        if let Proof::Password(i) = proof {
            let password = connect
                .login
                .as_ref()
                .map(|l| l.password.clone().into_bytes())
                .unwrap_or_default();
            let _one_at_a_time = front.verifying.acquire().await;
            let verifier = front.clone();
            let ok = tokio::task::spawn_blocking(move || {
                verifier.accounts.password_matches(i, &password)
            })
            .await
            .unwrap_or(false);
            if !ok {
                return Err(Refusal::BadLogin(format!(
                    "wrong password for {}",
                    front.accounts.name(&who)
                )));
            }
        }
        front.accounts.check_client_id(&who, &connect.client_id)?;
        if let Some(will) = &connect.last_will
            && !front.accounts.may_publish(&who, &will.topic)
        {
            return Err(Refusal::NotAuthorized(format!(
                "its will topic {} is outside {}'s publish rights",
                shown(&will.topic),
                front.accounts.name(&who)
            )));
        }
        lock(&front.client_ids).claim(
            &connect.client_id,
            front.accounts.name(&who),
            !connect.clean_session,
        )?;
        Ok(who)
    }
    .await;
    let who = match decided {
        Ok(who) => {
            lock(&front.throttle).succeeded(peer.ip());
            who
        }
        Err(refusal) => {
            lock(&front.throttle).failed(peer.ip(), Instant::now());
            let refusal = refuse(refusal);
            let _ = to_device
                .write_all(&encode(Packet::ConnAck(ConnAck::new(
                    refusal.code(),
                    false,
                ))))
                .await;
            let _ = to_device.shutdown().await;
            return Ok(());
        }
    };
    let _claim = Claim {
        ids: &front.client_ids,
        id: connect.client_id.clone(),
    };
    let name = front.accounts.name(&who).to_owned();
    tracing::debug!(%peer, device = %name, client_id = %connect.client_id, "embedded MQTT broker: logged in");
    // rumqttd takes only the edge's own login: the device's is replaced.
    let mut upstream_connect = connect.clone();
    upstream_connect.login = Some(Login::new(
        front.gate.inner_login.username.clone(),
        front.gate.inner_login.password.clone(),
    ));
    let upstream = tokio::net::TcpStream::connect(front.gate.inner)
        .await
        .map_err(|e| format!("cannot reach rumqttd: {e}"))?;
    let _ = upstream.set_nodelay(true);
    let (mut from_broker, mut to_broker) = upstream.into_split();
    to_broker
        .write_all(&encode(Packet::Connect(upstream_connect)))
        .await
        .map_err(|e| e.to_string())?;
    pass_through(
        front,
        &who,
        &name,
        &connect.client_id,
        (&mut from_device, framer, buf),
        &mut to_device,
        &mut from_broker,
        &mut to_broker,
    )
    .await
}

/// Packets both ways once logged in: a device's publishes and subscriptions checked against
/// its rights, PUBACKs of held publishes released by the edge's commits.
#[allow(clippy::too_many_arguments)]
async fn pass_through<R, W>(
    front: &Front,
    who: &Who,
    name: &str,
    client_id: &str,
    (from_device, mut framer, mut buf): (&mut R, Framer, BytesMut),
    to_device: &mut W,
    from_broker: &mut tokio::net::tcp::OwnedReadHalf,
    to_broker: &mut tokio::net::tcp::OwnedWriteHalf,
) -> Result<(), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let gate = &front.gate;
    // PUBACKs from the broker to hold, by packet id, with what releases each.
    let held: Mutex<HashMap<u16, oneshot::Receiver<()>>> = Mutex::default();
    // Subscriptions the broker saw only in part: for each packet id, which filters were let
    // through (in order), so that its SUBACK can say 0x80 for the others.
    let partial: Mutex<HashMap<u16, Vec<bool>>> = Mutex::default();
    // Acknowledgements the front itself owes the device (of refused publishes, refused
    // subscriptions), sent by the task that writes to it.
    let (to_inject, mut injected) = mpsc::channel::<BytesMut>(64);
    let up = async {
        // QoS 2 publishes refused: their PUBREL is answered here, not by the broker.
        let mut refused_qos2: HashSet<u16> = HashSet::new();
        let inject = |p: Packet| {
            let to_inject = to_inject.clone();
            async move { to_inject.send(encode(p)).await.map_err(|e| e.to_string()) }
        };
        let refuse_publish = |topic: &str, qos: QoS, pkid: u16, why: String| {
            gate.fault(
                &format!("{name}|{topic}"),
                name,
                format!(
                    "{name} (client id {}) published on {}: {why}; acknowledged and dropped",
                    shown(client_id),
                    shown(topic)
                ),
            );
            match qos {
                QoS::AtMostOnce => None,
                QoS::AtLeastOnce => Some(Packet::PubAck(PubAck::new(pkid))),
                QoS::ExactlyOnce => Some(Packet::PubRec(PubRec::new(pkid))),
            }
        };
        loop {
            let Some(frame) = next_frame(from_device, &mut framer, &mut buf).await? else {
                return Ok::<(), String>(());
            };
            let mut packet = match frame {
                Frame::Oversized(o) => {
                    let why = format!(
                        "a message of {} over max_payload_bytes ({})",
                        human_bytes(o.payload_bytes),
                        human_bytes(front.max_payload)
                    );
                    let why = if o.topic_bytes > framing::MAX_TOPIC_BYTES {
                        format!(
                            "a topic of {} bytes, over {}",
                            o.topic_bytes,
                            framing::MAX_TOPIC_BYTES
                        )
                    } else {
                        why
                    };
                    if o.qos == QoS::ExactlyOnce {
                        refused_qos2.insert(o.pkid);
                    }
                    if let Some(ack) = refuse_publish(&o.topic, o.qos, o.pkid, why) {
                        inject(ack).await?;
                    }
                    continue;
                }
                Frame::Packet(p) => p,
            };
            match packet.first().map(|b| b >> 4) {
                Some(PUBLISH) => {
                    let Ok(Packet::Publish(p)) = Packet::read(&mut packet.clone(), usize::MAX)
                    else {
                        return Err("a malformed PUBLISH".into());
                    };
                    if !front.accounts.may_publish(who, &p.topic) {
                        if p.qos == QoS::ExactlyOnce {
                            refused_qos2.insert(p.pkid);
                        }
                        let why = "outside its publish rights".to_owned();
                        if let Some(ack) = refuse_publish(&p.topic, p.qos, p.pkid, why) {
                            inject(ack).await?;
                        }
                        continue;
                    }
                    if p.qos == QoS::AtLeastOnce && gate.holds(client_id, &p.topic) {
                        // Its turn first: no identical message waits for a commit.
                        let release = gate.wait_turn(&p.topic, &p.payload).await;
                        lock(&held).insert(p.pkid, release);
                    }
                }
                Some(PUBREL) => {
                    if let Ok(Packet::PubRel(rel)) = Packet::read(&mut packet.clone(), usize::MAX)
                        && refused_qos2.remove(&rel.pkid)
                    {
                        inject(Packet::PubComp(PubComp::new(rel.pkid))).await?;
                        continue;
                    }
                }
                Some(SUBSCRIBE) => {
                    let Ok(Packet::Subscribe(sub)) = Packet::read(&mut packet.clone(), usize::MAX)
                    else {
                        return Err("a malformed SUBSCRIBE".into());
                    };
                    let allowed: Vec<bool> = sub
                        .filters
                        .iter()
                        .map(|f| front.accounts.may_subscribe(who, &f.path))
                        .collect();
                    if allowed.iter().all(|a| *a) {
                        // As sent.
                    } else {
                        let refused: Vec<&str> = sub
                            .filters
                            .iter()
                            .zip(&allowed)
                            .filter(|(_, a)| !**a)
                            .map(|(f, _)| f.path.as_str())
                            .collect();
                        tracing::warn!(
                            device = %name,
                            filters = ?refused,
                            "embedded MQTT broker: refused subscriptions outside the device's subscribe rights"
                        );
                        let filters: Vec<_> = sub
                            .filters
                            .iter()
                            .zip(&allowed)
                            .filter(|(_, a)| **a)
                            .map(|(f, _)| f.clone())
                            .collect();
                        if filters.is_empty() {
                            let codes = vec![SubscribeReasonCode::Failure; allowed.len()];
                            inject(Packet::SubAck(SubAck::new(sub.pkid, codes))).await?;
                            continue;
                        }
                        lock(&partial).insert(sub.pkid, allowed);
                        packet = encode(Packet::Subscribe(Subscribe {
                            pkid: sub.pkid,
                            filters,
                        }));
                    }
                }
                Some(CONNECT) => return Err("a second CONNECT".into()),
                _ => {}
            }
            to_broker
                .write_all(&packet)
                .await
                .map_err(|e| e.to_string())?;
        }
    };
    let down = async {
        // What rumqttd sends: at most what the front let in.
        let mut framer = Framer::new(front.max_payload);
        let mut buf = BytesMut::with_capacity(8 * 1024);
        loop {
            let frame = tokio::select! {
                f = next_frame(from_broker, &mut framer, &mut buf) => f?,
                Some(p) = injected.recv() => {
                    to_device.write_all(&p).await.map_err(|e| e.to_string())?;
                    continue;
                }
            };
            let mut packet = match frame {
                None => return Ok::<(), String>(()),
                Some(Frame::Packet(p)) => p,
                Some(Frame::Oversized(_)) => return Err("rumqttd sent an oversized PUBLISH".into()),
            };
            match packet.first().map(|b| b >> 4) {
                Some(PUBACK) => {
                    if let Ok(Packet::PubAck(ack)) = Packet::read(&mut packet.clone(), usize::MAX) {
                        let release = lock(&held).remove(&ack.pkid);
                        if let Some(release) = release {
                            // In order: what the broker sends after this PUBACK waits with it.
                            if release.await.is_err() {
                                // Not confirmed (the gate keeps every waiter until a commit
                                // releases it, so this means the edge is going away): the
                                // device is not told it is stored, and sends it again when
                                // it reconnects.
                                return Ok(());
                            }
                        }
                    }
                }
                Some(SUBACK) => {
                    if let Ok(Packet::SubAck(ack)) = Packet::read(&mut packet.clone(), usize::MAX)
                        && let Some(allowed) = lock(&partial).remove(&ack.pkid)
                    {
                        let mut granted = ack.return_codes.into_iter();
                        let codes = allowed
                            .iter()
                            .map(|a| match a {
                                true => granted.next().unwrap_or(SubscribeReasonCode::Failure),
                                false => SubscribeReasonCode::Failure,
                            })
                            .collect();
                        packet = encode(Packet::SubAck(SubAck::new(ack.pkid, codes)));
                    }
                }
                _ => {}
            }
            to_device
                .write_all(&packet)
                .await
                .map_err(|e| e.to_string())?;
        }
    };
    // Either side closing ends the connection, as it would without the front.
    tokio::select! {
        r = up => r,
        r = down => r,
    }
}
