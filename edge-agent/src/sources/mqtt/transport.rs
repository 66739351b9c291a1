//! The MQTT source's road to its broker: rumqttc talks to a relay of this process over a Unix
//! socket in a private directory, and the relay talks to the broker (TCP, or TLS with the
//! source's settings). On the way in, the relay cuts the broker's bytes into packets
//! ([`Framer`]) and replaces a PUBLISH over the source's `max_payload_bytes` by a small one
//! with the same topic, packet id and QoS whose payload is a [`refusal marker`](Marker). The
//! source records that as a device fault and acknowledges it like any other message, after the
//! fault is committed, so the broker forgets the big one and the stream goes on.
//!
//! Why a relay: rumqttc reads whole packets into memory and fails the connection on one over
//! its limit; the broker then sends the same message again after every reconnect, and nothing
//! behind it ever arrives. MQTT 5's Maximum Packet Size would make the broker drop such a
//! message silently, without the fault that tells someone a device is misbehaving. The relay
//! reads no more of a refused message than its header, whatever its size.
//!
//! Nothing outside this process can speak through the relay: its socket lives in a directory
//! only the agent's user may enter, and a marker carries a random per-source nonce that a
//! device cannot know, so no payload from outside is taken for one.

use super::framing::{Frame, Framer, Oversized};
use bytes::BytesMut;
use rumqttc::mqttbytes::v4::Publish;
use rumqttc::tokio_rustls::rustls;
use rumqttc::tokio_rustls::rustls::pki_types::ServerName;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where the relay connects, and how.
#[derive(Clone)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The broker as configured, for messages.
    pub broker: String,
}

/// How long dialling the broker (and its TLS handshake) may take.
const DIAL_WAIT: Duration = Duration::from_secs(10);

/// A refusal marker's payload: `MAGIC`, the source's nonce, the refused payload's length
/// (u64) and the topic's length (u32), big-endian.
const MAGIC: &[u8; 8] = b"\0mes-big";
pub const MARKER_LEN: usize = 8 + 16 + 8 + 4;

/// What a refusal marker says about the message it replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub payload_bytes: u64,
    pub topic_bytes: u32,
}

impl Marker {
    pub fn encode(&self, nonce: &[u8; 16]) -> Vec<u8> {
        let mut out = Vec::with_capacity(MARKER_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&self.payload_bytes.to_be_bytes());
        out.extend_from_slice(&self.topic_bytes.to_be_bytes());
        out
    }

    /// The marker in `payload`, if it is one made with `nonce`.
    pub fn decode(payload: &[u8], nonce: &[u8; 16]) -> Option<Marker> {
        if payload.len() != MARKER_LEN {
            return None;
        }
        let (magic, rest) = payload.split_at(8);
        let (n, rest) = rest.split_at(16);
        let (p, t) = rest.split_at(8);
        if magic != MAGIC || n != nonce {
            return None;
        }
        Some(Marker {
            payload_bytes: u64::from_be_bytes(p.try_into().ok()?),
            topic_bytes: u32::from_be_bytes(t.try_into().ok()?),
        })
    }
}

/// The small PUBLISH that stands for a refused one.
pub fn marker_packet(o: &Oversized, nonce: &[u8; 16]) -> BytesMut {
    let marker = Marker {
        payload_bytes: o.payload_bytes as u64,
        topic_bytes: u32::try_from(o.topic_bytes).unwrap_or(u32::MAX),
    };
    let mut p = Publish::new(o.topic.clone(), o.qos, marker.encode(nonce));
    p.pkid = o.pkid;
    p.dup = o.dup;
    p.retain = o.retain;
    let mut out = BytesMut::new();
    // A topic of at most 1 KiB and a 36-byte payload: always writable.
    let _ = p.write(&mut out);
    out
}

/// A running relay; dropping it stops it and removes its socket.
pub struct Relay {
    dir: PathBuf,
    socket: PathBuf,
    task: tokio::task::JoinHandle<()>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Relay {
    /// Starts a relay to `upstream` that refuses payloads over `max_payload` bytes.
    pub fn start(upstream: Upstream, max_payload: usize, nonce: [u8; 16]) -> Result<Relay, String> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("mes-mqtt-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| {
                format!(
                    "cannot make the MQTT relay's directory {}: {e}",
                    dir.display()
                )
            })?;
        let socket = dir.join("relay.sock");
        let listener = tokio::net::UnixListener::bind(&socket).map_err(|e| {
            let _ = std::fs::remove_dir(&dir);
            format!("cannot listen on {}: {e}", socket.display())
        })?;
        let last_error = Arc::new(Mutex::new(None));
        let errors = last_error.clone();
        let task = tokio::spawn(async move {
            // One connection at a time: rumqttc reconnects only after the last one ended.
            while let Ok((mut local, _)) = listener.accept().await {
                // The error is kept before rumqttc sees its connection close, so that the
                // source finds it when rumqttc reports the failure.
                if let Err(e) = relay(&mut local, &upstream, max_payload, &nonce).await {
                    *lock(&errors) = Some(e);
                }
                drop(local);
            }
        });
        Ok(Relay {
            dir,
            socket,
            task,
            last_error,
        })
    }

    /// The socket rumqttc connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// What went wrong with the broker's connection last, if anything did since last asked.
    pub fn take_error(&self) -> Option<String> {
        lock(&self.last_error).take()
    }
}

/// One connection: dial the broker, then bytes out as they are, packets in through the framer.
async fn relay(
    local: &mut tokio::net::UnixStream,
    up: &Upstream,
    max_payload: usize,
    nonce: &[u8; 16],
) -> Result<(), String> {
    let broker = &up.broker;
    let tcp = tokio::time::timeout(
        DIAL_WAIT,
        tokio::net::TcpStream::connect((up.host.as_str(), up.port)),
    )
    .await
    .map_err(|_| format!("broker {broker}: no connection within {DIAL_WAIT:?}"))?
    .map_err(|e| format!("broker {broker}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match &up.tls {
        None => pump(local, tcp, broker, max_payload, nonce).await,
        Some(config) => {
            let name = ServerName::try_from(up.host.clone())
                .map_err(|e| format!("broker {broker}: {e}"))?;
            let connector = rumqttc::tokio_rustls::TlsConnector::from(config.clone());
            let tls = tokio::time::timeout(DIAL_WAIT, connector.connect(name, tcp))
                .await
                .map_err(|_| format!("TLS with {broker}: no handshake within {DIAL_WAIT:?}"))?
                .map_err(|e| describe_tls(broker, &e, true))?;
            pump(local, tls, broker, max_payload, nonce).await
        }
    }
}

/// A TLS failure in words an operator can act on.
fn describe_tls(broker: &str, e: &std::io::Error, handshake: bool) -> String {
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(alert @ rustls::Error::AlertReceived(_)) => format!(
            "broker {broker} ended TLS: {alert}; it may want a client certificate \
             (client_cert, client_key) or reject the one given"
        ),
        Some(other) if handshake => format!(
            "TLS with {broker} failed: {other}; check that ca_file is the CA that signed the \
             broker's certificate, that the certificate names the host in the broker URL, and \
             (if the broker wants one) client_cert and client_key"
        ),
        _ if handshake => format!("TLS with {broker} failed: {e}"),
        _ => format!("broker {broker}: {e}"),
    }
}

async fn pump<S>(
    local: &mut tokio::net::UnixStream,
    remote: S,
    broker: &str,
    max_payload: usize,
    nonce: &[u8; 16],
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut from_local, mut to_local) = local.split();
    let (mut from_remote, mut to_remote) = tokio::io::split(remote);
    let out = async {
        // What rumqttc sends goes out as it is.
        let _ = tokio::io::copy(&mut from_local, &mut to_remote).await;
        let _ = to_remote.shutdown().await;
        Ok::<(), String>(())
    };
    let inbound = async {
        let mut framer = Framer::new(max_payload);
        let mut buf = BytesMut::with_capacity(8 * 1024);
        loop {
            while let Some(frame) = framer
                .next(&mut buf)
                .map_err(|e| format!("broker {broker} sent {e}"))?
            {
                let bytes = match frame {
                    Frame::Packet(p) => p,
                    Frame::Oversized(o) => marker_packet(&o, nonce),
                };
                if to_local.write_all(&bytes).await.is_err() {
                    // rumqttc went away (it reconnects, or the source stops).
                    return Ok(());
                }
            }
            buf.reserve(16 * 1024);
            match from_remote.read_buf(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(describe_tls(broker, &e, false)),
            }
        }
    };
    // Either side ending ends the connection.
    tokio::select! {
        r = out => r,
        r = inbound => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::QoS;
    use rumqttc::mqttbytes::v4::Packet;

    #[test]
    fn a_marker_is_recognised_only_with_its_nonce() {
        let nonce = [7u8; 16];
        let o = Oversized {
            topic: "plant/p1/count".into(),
            topic_bytes: 14,
            qos: QoS::AtLeastOnce,
            pkid: 42,
            dup: true,
            retain: false,
            payload_bytes: 2 * 1024 * 1024,
        };
        let mut bytes = marker_packet(&o, &nonce);
        let Packet::Publish(p) = Packet::read(&mut bytes, 10_000).unwrap() else {
            panic!("a PUBLISH")
        };
        assert_eq!(
            (p.topic.as_str(), p.pkid, p.qos, p.dup),
            ("plant/p1/count", 42, QoS::AtLeastOnce, true)
        );
        assert_eq!(
            Marker::decode(&p.payload, &nonce),
            Some(Marker {
                payload_bytes: 2 * 1024 * 1024,
                topic_bytes: 14
            })
        );
        assert_eq!(
            Marker::decode(&p.payload, &[8u8; 16]),
            None,
            "another nonce"
        );
        assert_eq!(Marker::decode(b"\0mes-big", &nonce), None);
        assert_eq!(Marker::decode(&[0u8; MARKER_LEN], &nonce), None);
    }
}
