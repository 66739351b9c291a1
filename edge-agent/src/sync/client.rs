//! HTTP client for central's sync endpoints. Only `sync` talks to central.

use super::state::Reply;
use protocol::{Ack, EdgeId, EdgeStatus, ErrorBody, Plan, PlanVersion, Secret, Seq, StatusReply};
use reqwest::StatusCode;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Central could not be reached, or the connection broke. Retried.
    #[error("central unreachable: {0}")]
    Transport(String),
    /// Central refused this edge's credential. Retried slowly; needs a person.
    #[error("central refused this edge's credential: {0}")]
    Unauthorized(String),
    /// Central answered with a server error. Retried.
    #[error("central failed ({status}): {message}")]
    Server { status: u16, message: String },
    /// Central refused the request as wrong. Retried slowly; a bug or a version mismatch.
    #[error("central refused the request ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// Central's answer could not be understood.
    #[error("central's answer could not be read: {0}")]
    BadAnswer(String),
}

impl SyncError {
    /// Every value [`SyncError::kind`] gives.
    pub const KINDS: &'static [&'static str] = &[
        "transport",
        "unauthorized",
        "server",
        "refused",
        "bad_answer",
    ];

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Transport(_) => "transport",
            SyncError::Unauthorized(_) => "unauthorized",
            SyncError::Server { .. } => "server",
            SyncError::Refused { .. } => "refused",
            SyncError::BadAnswer(_) => "bad_answer",
        }
    }
}

#[derive(Clone)]
pub struct CentralClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
    edge_id: EdgeId,
}

impl CentralClient {
    /// A client of central at `base`. With `roots` (from `[central] ca_file`, read by
    /// [`trusted_roots`]), central's certificate must be signed by one of them and by no other
    /// CA: the system's roots are not trusted then, so no certificate a public CA issued for
    /// the name can stand in for central. Without it an `https://` central is checked against
    /// the system's roots. TLS 1.2 or later either way.
    pub fn new(
        base: &str,
        token: &str,
        edge_id: EdgeId,
        request_timeout: Duration,
        roots: Option<Vec<reqwest::Certificate>>,
    ) -> Result<CentralClient, SyncError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(request_timeout)
            .tls_version_min(reqwest::tls::Version::TLS_1_2)
            .user_agent(concat!("mes-edge/", env!("CARGO_PKG_VERSION")));
        if let Some(roots) = roots {
            builder = builder.tls_certs_only(roots);
        }
        let http = builder
            .build()
            .map_err(|e| SyncError::Transport(e.to_string()))?;
        Ok(CentralClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: Secret::new(token),
            edge_id,
        })
    }

    /// Sends an encoded [`protocol::EventBatch`].
    pub async fn post_events(&self, batch_json: String) -> Result<Reply, SyncError> {
        let response = self
            .http
            .post(format!("{}/api/v1/sync/events", self.base))
            .bearer_auth(self.token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(batch_json)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status == StatusCode::OK {
            let ack: Ack = read_json(response).await?;
            return Ok(Reply::Acked(ack.acked_through));
        }
        let (error, expected_seq) = error_of(status, response).await;
        match (status, expected_seq) {
            (StatusCode::CONFLICT, Some(expected)) => Ok(Reply::Gap { expected }),
            _ => Err(error),
        }
    }

    /// Long-polls for a plan newer than `have` (or of another epoch than `epoch`, the one
    /// of the plan in force). `None`: nothing newer within `wait`.
    pub async fn poll_plan(
        &self,
        have: PlanVersion,
        epoch: Option<&str>,
        wait: Duration,
    ) -> Result<Option<Plan>, SyncError> {
        let mut request = self
            .http
            .get(format!("{}/api/v1/sync/plan", self.base))
            .query(&[("have", have.0), ("wait_ms", wait.as_millis() as u64)]);
        if let Some(epoch) = epoch {
            request = request.query(&[("epoch", epoch)]);
        }
        let response = request
            .header(
                protocol::PROTOCOL_HEADER,
                protocol::PROTOCOL_VERSION.to_string(),
            )
            .bearer_auth(self.token.expose())
            .timeout(wait + Duration::from_secs(10))
            .send()
            .await
            .map_err(transport)?;
        match response.status() {
            StatusCode::OK => {
                let plan: Plan = read_json(response).await?;
                if plan.edge_id != self.edge_id {
                    return Err(SyncError::BadAnswer(format!(
                        "central sent a plan for edge {}, this is edge {}",
                        plan.edge_id, self.edge_id
                    )));
                }
                Ok(Some(plan))
            }
            StatusCode::NO_CONTENT => Ok(None),
            status => Err(error_of(status, response).await.0),
        }
    }

    pub async fn post_status(&self, status: &EdgeStatus) -> Result<StatusReply, SyncError> {
        let response = self
            .http
            .post(format!("{}/api/v1/sync/status", self.base))
            .bearer_auth(self.token.expose())
            .json(status)
            .send()
            .await
            .map_err(transport)?;
        match response.status() {
            StatusCode::OK => read_json(response).await,
            status => Err(error_of(status, response).await.0),
        }
    }
}

/// The CA certificates of `[central] ca_file`, checked as trust anchors; a problem names the
/// setting and the file. Read when the agent starts and by `mes check-config`.
pub fn trusted_roots(ca_file: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    use rumqttc::tokio_rustls::rustls;
    let certs = crate::sources::mqtt::client::read_certs(ca_file, "central.ca_file")?;
    let mut store = rustls::RootCertStore::empty();
    let mut roots = Vec::with_capacity(certs.len());
    for cert in certs {
        roots.push(reqwest::Certificate::from_der(cert.as_ref()).map_err(|e| {
            format!(
                "central.ca_file {}: not a usable CA certificate: {e}",
                ca_file.display()
            )
        })?);
        store.add(cert).map_err(|e| {
            format!(
                "central.ca_file {}: not a usable CA certificate: {e}",
                ca_file.display()
            )
        })?;
    }
    Ok(roots)
}

fn transport(e: reqwest::Error) -> SyncError {
    // reqwest's Display hides the cause ("error sending request"); include the chain.
    let mut message = e.to_string();
    let mut certificate = false;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        certificate |= is_certificate_error(s);
        source = s.source();
    }
    if certificate {
        message.push_str(
            "; central's certificate failed verification: check that [central] ca_file is the \
             CA that signed it (without ca_file, the system's roots) and that central.url names \
             a host the certificate is for",
        );
    }
    SyncError::Transport(message)
}

/// Whether `e` is rustls refusing central's certificate. It comes inside `io::Error`s
/// (tokio-rustls wraps it in one, hyper-rustls that in another), whose `source` skips it.
fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    use rumqttc::tokio_rustls::rustls;
    let mut current = e;
    loop {
        if let Some(refusal) = current.downcast_ref::<rustls::Error>() {
            return matches!(
                refusal,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
            );
        }
        match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => current = inner,
            None => return false,
        }
    }
}

/// The largest answer read from central: a plan of 2 000 orders, 10 000 lots, GTINs and
/// operators stays far below it. Anything longer is refused, not read into memory.
pub const MAX_ANSWER_BYTES: usize = 32 << 20;

/// An answer's body, at most [`MAX_ANSWER_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, SyncError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(SyncError::BadAnswer(format!(
                "central's answer is longer than {MAX_ANSWER_BYTES} bytes; not read"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, SyncError> {
    let bytes = read_body(response).await?;
    serde_json::from_slice(&bytes).map_err(|e| SyncError::BadAnswer(e.to_string()))
}

/// Turns an error answer into a [`SyncError`], with the `expected_seq` of a `seq_gap` answer.
async fn error_of(status: StatusCode, response: reqwest::Response) -> (SyncError, Option<Seq>) {
    let bytes = read_body(response).await.unwrap_or_default();
    let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
    let (code, message, expected) = match body {
        Some(b) => (b.error.code, b.error.message, b.error.expected_seq),
        None => (
            String::new(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
            None,
        ),
    };
    let error = if status == StatusCode::UNAUTHORIZED {
        SyncError::Unauthorized(message)
    } else if status.is_server_error() {
        SyncError::Server {
            status: status.as_u16(),
            message,
        }
    } else {
        SyncError::Refused {
            status: status.as_u16(),
            code: code.clone(),
            message,
        }
    };
    let expected = if code == "seq_gap" { expected } else { None };
    (error, expected)
}
