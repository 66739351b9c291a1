//! A QoS 1 publisher of numbered messages, written on the socket by hand (MQTT 3.1.1
//! CONNECT, PUBLISH, PUBACK) so that which message a PUBACK acknowledges is beyond doubt: one
//! message in flight at a time, and a message counts as acknowledged only when the PUBACK
//! with its packet id came back. A message whose PUBACK was cut may still have reached the
//! broker; it is never sent again (the soak allows it in central at most once).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// What the publisher has done so far.
#[derive(Debug, Default)]
pub struct Published {
    /// Message numbers the broker acknowledged (PUBACK), ascending.
    pub acked: Vec<u64>,
    /// Messages sent.
    pub sent: u64,
}

pub struct Publisher {
    pub published: Arc<Mutex<Published>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// Publishes `1, 2, 3, …` as plain text on `topic`, one every `every`; with `fixed`,
    /// that text every time instead (the warm-up's `0`).
    pub fn start(
        broker: SocketAddr,
        client_id: String,
        topic: String,
        every: Duration,
        fixed: Option<&'static str>,
    ) -> Publisher {
        let published = Arc::new(Mutex::new(Published::default()));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(
            broker,
            client_id,
            topic,
            every,
            fixed,
            published.clone(),
            stop_rx,
        ));
        Publisher {
            published,
            stop,
            task,
        }
    }

    /// Stops after the message in flight and returns what was acknowledged.
    pub async fn stop(self) -> Published {
        self.stop.send_replace(true);
        let _ = self.task.await;
        std::mem::take(&mut *self.published.lock().expect("publisher lock"))
    }
}

async fn run(
    broker: SocketAddr,
    client_id: String,
    topic: String,
    every: Duration,
    fixed: Option<&'static str>,
    published: Arc<Mutex<Published>>,
    stop: watch::Receiver<bool>,
) {
    let mut n: u64 = 0;
    let mut conn: Option<TcpStream> = None;
    let mut pkid: u16 = 0;
    while !*stop.borrow() {
        if conn.is_none() {
            match connect(broker, &client_id).await {
                Ok(s) => conn = Some(s),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        let Some(stream) = conn.as_mut() else {
            continue;
        };
        n += 1;
        pkid = pkid.checked_add(1).unwrap_or(1);
        published.lock().expect("publisher lock").sent += 1;
        let ok = tokio::time::timeout(
            Duration::from_secs(5),
            publish(
                stream,
                &topic,
                pkid,
                fixed
                    .map_or_else(|| n.to_string(), str::to_owned)
                    .as_bytes(),
            ),
        )
        .await;
        match ok {
            Ok(Ok(())) => published.lock().expect("publisher lock").acked.push(n),
            _ => conn = None,
        }
        tokio::time::sleep(every).await;
    }
}

fn remaining_length(mut len: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            return;
        }
    }
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

async fn connect(broker: SocketAddr, client_id: &str) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(broker).await?;
    s.set_nodelay(true)?;
    let mut body = Vec::new();
    string(b"MQTT", &mut body);
    body.push(4); // 3.1.1
    body.push(0x02); // clean session
    body.extend_from_slice(&30u16.to_be_bytes()); // keep alive
    string(client_id.as_bytes(), &mut body);
    let mut packet = vec![0x10];
    remaining_length(body.len(), &mut packet);
    packet.extend_from_slice(&body);
    s.write_all(&packet).await?;
    let mut connack = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut connack))
        .await
        .map_err(|_| std::io::Error::other("no CONNACK"))??;
    if connack != [0x20, 0x02, 0x00, 0x00] {
        return Err(std::io::Error::other(format!("CONNACK {connack:?}")));
    }
    Ok(s)
}

/// Sends one QoS 1 PUBLISH and waits for the PUBACK of its packet id.
async fn publish(s: &mut TcpStream, topic: &str, pkid: u16, payload: &[u8]) -> std::io::Result<()> {
    let mut body = Vec::new();
    string(topic.as_bytes(), &mut body);
    body.extend_from_slice(&pkid.to_be_bytes());
    body.extend_from_slice(payload);
    let mut packet = vec![0x32];
    remaining_length(body.len(), &mut packet);
    packet.extend_from_slice(&body);
    s.write_all(&packet).await?;
    loop {
        let mut head = [0u8; 2];
        s.read_exact(&mut head).await?;
        // Only PUBACKs (and PINGRESPs) come to a publisher that subscribes to nothing.
        let len = usize::from(head[1]);
        if head[1] & 0x80 != 0 {
            return Err(std::io::Error::other("unexpected long packet"));
        }
        let mut rest = vec![0u8; len];
        s.read_exact(&mut rest).await?;
        if head[0] == 0x40 && len == 2 && u16::from_be_bytes([rest[0], rest[1]]) == pkid {
            return Ok(());
        }
    }
}
