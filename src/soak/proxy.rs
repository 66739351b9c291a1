//! A fault-injecting TCP proxy between an edge and central, in the soak's own process.
//!
//! - `Pass`: bytes flow both ways.
//! - `Reset`: every open connection is closed with a TCP RST (SO_LINGER 0) on both sides,
//!   and every new one is reset as soon as it is accepted.
//! - `BlackHole`: connections are accepted and never answered; open ones stop moving bytes
//!   (what was in flight waits, as in a partition), and move again when the cut ends.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Reset,
    BlackHole,
}

/// The proxy's handle: where it listens, and the switch.
pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, rx) = watch::channel(Mode::Pass);
        let task = tokio::spawn(accept_loop(listener, upstream, rx));
        Ok(Proxy { addr, mode, task })
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, mode: watch::Receiver<Mode>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // EMFILE and the like: try again shortly rather than stop the proxy.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(connection(client, upstream, mode.clone()));
    }
}

fn reset(stream: TcpStream) {
    // SO_LINGER 0: close sends RST instead of FIN.
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn connection(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    // A new connection during a cut is reset, or held unanswered until the cut ends (then
    // dropped: the edge has given up on it long before).
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Pass => break,
            Mode::Reset => return reset(client),
            Mode::BlackHole => {
                if mode.changed().await.is_err() {
                    return;
                }
                if *mode.borrow() == Mode::Pass {
                    return;
                }
            }
        }
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return reset(client);
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Reset => {
                if let (Ok(c), Ok(s)) = (
                    client_read.reunite(client_write),
                    server_read.reunite(server_write),
                ) {
                    reset(c);
                    reset(s);
                }
                return;
            }
            Mode::BlackHole => {
                // Frozen: nothing is read or written until the mode changes.
                if mode.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Mode::Pass => {}
        }
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            n = client_read.read(&mut up) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if server_write.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                }
            },
            n = server_read.read(&mut down) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if client_write.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn echo(s: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(text).await?;
        let mut got = vec![0u8; text.len()];
        s.read_exact(&mut got).await?;
        Ok(got)
    }

    #[tokio::test]
    async fn the_proxy_passes_resets_and_black_holes() {
        let proxy = Proxy::start(echo_server().await).await.unwrap();
        let mut a = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(echo(&mut a, b"hello").await.unwrap(), b"hello");

        proxy.set(Mode::Reset);
        let err = tokio::time::timeout(Duration::from_secs(5), echo(&mut a, b"x"))
            .await
            .expect("a reset answers at once")
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
            ),
            "{err:?}"
        );

        proxy.set(Mode::BlackHole);
        let mut b = TcpStream::connect(proxy.addr).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), echo(&mut b, b"y"))
                .await
                .is_err(),
            "a black hole never answers"
        );

        proxy.set(Mode::Pass);
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(echo(&mut c, b"again").await.unwrap(), b"again");
    }
}
