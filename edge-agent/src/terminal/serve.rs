//! Serving the edge's HTTP on the plant network without letting it be held open or filled:
//! at most `max_connections` connections (more wait in the listen backlog), TCP keep-alive so
//! a terminal that lost power is noticed, a connection idle for `idle_timeout` closed, request
//! headers taking longer than [`HEADER_TIMEOUT`] refused (slow clients cannot pin a slot).
//!
//! [`guard`] checks every request's `Host` and, for requests that change something, its
//! `Origin`: a web page elsewhere can make a browser on the plant network send requests to
//! the edge, but not with the edge's own origin (DNS rebinding, cross-site forms).

use super::{TerminalState, error};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The limits the server applies.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` is true, then stops accepting and lets open
/// requests finish (live streams end with the sources, see `stations.rs`).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ServeLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        // A slot first: at the limit, connections wait in the kernel's backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = stopped(&mut shutdown) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "edge HTTP cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let sock = socket2::SockRef::from(&stream);
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(30))
            .with_interval(Duration::from_secs(10));
        let _ = sock.set_tcp_keepalive(&keepalive);
        let io = TokioIo::new(Idle::new(stream, limits.idle_timeout));
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .keep_alive(true);
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "edge HTTP connection ended");
            }
            drop(permit);
        });
    }
    graceful.shutdown().await;
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// A stream that fails once nothing was read or written for `idle`.
pub struct Idle<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    pub fn new(inner: S, idle: Duration) -> Idle<S> {
        Idle {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// Something moved: the connection is not idle.
    fn touched<T>(&mut self, r: Poll<T>, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Ready(v) => {
                let next = Instant::now() + self.idle;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Ok(v))
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "idle connection closed",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => this.touched(Poll::Ready(()), cx),
            Poll::Pending => this.touched(Poll::<()>::Pending, cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(n)) => this.touched(Poll::Ready(n), cx),
            Poll::Pending => this.touched(Poll::<usize>::Pending, cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The host part of a `Host` header (`10.0.0.5:9101`, `[::1]:9101`, `gw-1.plant`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name)
}

/// Whether the edge answers to `host`: an IP address (which no outside page controls), the
/// loopback name, or a name the configuration allows.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok() || name == "localhost" || allowed.contains(&name)
}

/// Refuses requests for another host (421) and state-changing requests from another origin
/// (403), in the one error shape.
pub async fn guard(State(s): State<TerminalState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    let Some(host) = host else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request names no host".into(),
        );
    };
    if !host_allowed(&host, &s.allowed_hosts) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!(
                "this edge does not answer to {host:?}; use its IP address or a name in [http] allowed_hosts"
            ),
        );
    }
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes {
        let site = request
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok());
        if site == Some("cross-site") {
            return cross_origin("the browser says it is cross-site");
        }
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or_default();
            let same = origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(&host));
            if !same {
                return cross_origin(&format!("origin {origin:?} is not this edge ({host})"));
            }
        }
    }
    next.run(request).await
}

fn cross_origin(why: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        "cross_origin",
        format!("requests that change something must come from the edge's own pages: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let allowed = vec!["gw-1.plant".to_owned()];
        for (host, ok) in [
            ("10.0.0.5:9101", true),
            ("10.0.0.5", true),
            ("[::1]:9101", true),
            ("localhost:9101", true),
            ("GW-1.plant:9101", true),
            ("gw-1.plant.", true),
            ("attacker.example:9101", false),
            ("10.0.0.5.attacker.example", false),
            ("", false),
        ] {
            assert_eq!(host_allowed(host, &allowed), ok, "{host}");
        }
    }
}
