//! HTTPS: central's API served over TLS (rustls) when the configuration has a `[tls]` table.
//!
//! - [`server_config`] reads the certificate chain and key named by [`TlsConfig`] once, at
//!   start: a missing file, a PEM without a certificate or a key, or a key that does not go
//!   with the certificate is a [`ConfigError`] naming the field and the file.
//! - [`serve_tls`] is [`crate::serve`] over TLS: the same router, the same graceful shutdown
//!   ([`AppState::begin_shutdown`], in-flight requests finish). TLS 1.2 and 1.3 only, no
//!   client certificates (edges and people prove who they are with their tokens), HTTP/2 and
//!   HTTP/1.1 by ALPN.
//! - [`TlsListener`] does the handshakes: each in its own task, bounded by
//!   [`HANDSHAKE_TIMEOUT`], at most [`MAX_PENDING_HANDSHAKES`] at once, so a client that
//!   stalls or sends garbage holds up nobody else. A client speaking plain HTTP to the port
//!   gets a plain `400 https_required` in the one error shape, saying to use `https://`.
//!
//! The crypto provider is named (aws-lc-rs, the one reqwest already builds) rather than taken
//! from the process default, which rustls cannot pick once two providers are compiled in:
//! nothing here calls `CryptoProvider::install_default`, so tests cannot race on it.

pub use tokio_rustls::rustls;

use crate::api::AppState;
use crate::config::{ConfigError, TlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take from connecting to the end of its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes under way at once; further connections wait in the kernel's listen backlog.
pub const MAX_PENDING_HANDSHAKES: usize = 1024;

/// The TLS settings central serves with, from the files `tls` names; every problem names the
/// field and the file.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let chain = read_certs(&tls.cert)?;
    let key_pem = read_file("tls.key", &tls.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| ConfigError::Invalid {
        field: "tls.key",
        message: format!(
            "{}: no PEM private key in it ({e}); expected a PKCS#8 (BEGIN PRIVATE KEY), RSA \
             (BEGIN RSA PRIVATE KEY) or SEC1 (BEGIN EC PRIVATE KEY) key",
            tls.key.display()
        ),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ConfigError::Invalid {
            field: "tls",
            message: format!("cannot set up TLS: {e}"),
        })?
        .with_no_client_auth();
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| ConfigError::Invalid {
            field: "tls.key",
            message: match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "{} does not go with the certificate in {}: the key must be the one the \
                     first certificate of tls.cert (central's own) was issued for",
                    tls.key.display(),
                    tls.cert.display()
                ),
                other => format!(
                    "{} with the certificate in {} cannot be used: {other}",
                    tls.key.display(),
                    tls.cert.display()
                ),
            },
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_file(field: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::Invalid {
        field,
        message: format!("{}: cannot read it: {e}", path.display()),
    })
}

/// Every certificate of the chain; none at all is a mistake.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read_file("tls.cert", path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Invalid {
            field: "tls.cert",
            message: format!("{}: bad PEM: {e}", path.display()),
        })?;
    if certs.is_empty() {
        return Err(ConfigError::Invalid {
            field: "tls.cert",
            message: format!(
                "{}: no certificate in it; expected PEM (-----BEGIN CERTIFICATE-----), central's \
                 certificate first, then its intermediates",
                path.display()
            ),
        });
    }
    Ok(certs)
}

/// Serves the API over TLS on `listener` until `shutdown` completes, then stops accepting,
/// ends the plan long polls and waits for in-flight requests: [`crate::serve`] with HTTPS.
pub async fn serve_tls(
    listener: TcpListener,
    state: AppState,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // `tap_io` makes axum's own wrapper, whose connect info is the peer's address (for the
    // audit trail and the sign-in throttle), which our listener type cannot have directly.
    let listener = TlsListener::new(listener, tls)?.tap_io(|_| {});
    let router = crate::api::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("central shutting down");
            state.begin_shutdown();
        })
        .await
}

/// A TCP listener that yields connections once their TLS handshake is done, for
/// [`axum::serve`]. Handshakes run in tasks of their own, so `accept` never waits on one
/// client; they end with the listener (dropping it, as a graceful shutdown does, aborts the
/// handshakes still under way).
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    handshakes: JoinSet<Handshake>,
}

/// A finished handshake: the connection and its peer, or the peer and why it failed.
type Handshake = Result<(TlsStream<TcpStream>, SocketAddr), (SocketAddr, String)>;

impl TlsListener {
    pub fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<TlsListener> {
        Self::with_handshake_timeout(tcp, config, HANDSHAKE_TIMEOUT)
    }

    /// With another handshake timeout than [`HANDSHAKE_TIMEOUT`] (tests).
    pub fn with_handshake_timeout(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        handshake_timeout: Duration,
    ) -> std::io::Result<TlsListener> {
        // Fails early, like `TcpListener`, on a socket that is not bound.
        tcp.local_addr()?;
        Ok(TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshake_timeout,
            handshakes: JoinSet::new(),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Both branches are cancel-safe: axum drops this future when shutdown begins.
            tokio::select! {
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_PENDING_HANDSHAKES => {
                    match accepted {
                        Ok((stream, peer)) => {
                            let acceptor = self.acceptor.clone();
                            let wait = self.handshake_timeout;
                            self.handshakes.spawn(handshake(acceptor, stream, peer, wait));
                        }
                        Err(e) => accept_failed(e).await,
                    }
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    match done {
                        Ok(Ok(connection)) => return connection,
                        Ok(Err((peer, why))) => {
                            tracing::debug!(%peer, error = %why, "TLS handshake failed");
                        }
                        // A handshake task only ends by returning (none is aborted while the
                        // listener lives) or by a panic inside rustls, which ends that
                        // connection only.
                        Err(e) => tracing::warn!(error = %e, "a TLS handshake task failed"),
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An accept error: a connection that went away before it was accepted is nothing; anything
/// else (out of file descriptors) is logged and waited out for a moment, as axum does.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "central cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The first byte of every TLS handshake (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// One client's handshake, within `wait`. A client that speaks plain HTTP is answered so in
/// plain HTTP, and its connection closed.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    wait: Duration,
) -> Handshake {
    let _ = stream.set_nodelay(true);
    let attempt = async {
        let mut first = [0u8; 1];
        let n = stream
            .peek(&mut first)
            .await
            .map_err(|e| format!("cannot read: {e}"))?;
        if n == 0 {
            return Err("closed before the handshake".to_owned());
        }
        if first[0] != TLS_HANDSHAKE_RECORD {
            if first[0].is_ascii_uppercase() {
                https_required(stream).await;
                return Err("plain HTTP on the HTTPS port; answered 400 https_required".into());
            }
            return Err(format!(
                "not a TLS handshake (first byte {:#04x}); closed",
                first[0]
            ));
        }
        acceptor.accept(stream).await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(wait, attempt).await {
        Ok(Ok(tls)) => Ok((tls, peer)),
        Ok(Err(why)) => Err((peer, why)),
        Err(_) => Err((peer, format!("no TLS handshake within {wait:?}; closed"))),
    }
}

/// Tells a plain-HTTP client, in the one error shape, that this port speaks HTTPS, and closes
/// the connection. What the client sent is read and dropped (for at most a second) after the
/// answer, so closing does not reset the connection before the client read the answer.
async fn https_required(mut stream: TcpStream) {
    use tokio::io::AsyncReadExt;
    let body = serde_json::to_string(&protocol::ErrorBody::new(
        "https_required",
        "central serves HTTPS on this port; use an https:// URL",
    ))
    .unwrap_or_default();
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut left = 64 * 1024usize;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}
