//! Socket options of the agent's long-lived TCP connections to devices (scanners, Modbus TCP).
//!
//! A device that loses power never closes its connection: without keep-alive the agent's side
//! stays open (half-open) for ever, waiting for bytes that cannot come. With keep-alive the
//! kernel probes a connection that has been silent for `idle`, every `interval`, and after
//! `probes` unanswered probes the next read fails ("connection timed out"), so the source sees a
//! lost link and dials again (or frees the listening slot). On Linux `TCP_USER_TIMEOUT` is set
//! to the same total, so data the agent sent (an ack to a scanner) that is never acknowledged
//! ends the connection as soon, rather than after ~15 minutes of retransmissions.

use std::time::Duration;
use tokio::net::TcpStream;

/// TCP keep-alive settings. The defaults notice a dead peer about a minute after it went
/// silent: 30 s idle, then 3 probes 10 s apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Silence before the first probe.
    pub idle: Duration,
    /// Time between two probes.
    pub interval: Duration,
    /// Unanswered probes before the connection counts as dead.
    pub probes: u32,
}

impl KeepAlive {
    pub const DEFAULT_IDLE: Duration = Duration::from_secs(30);
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
    pub const DEFAULT_PROBES: u32 = 3;
    /// Most probes Linux takes (`TCP_KEEPCNT`).
    pub const MAX_PROBES: u32 = 127;

    /// How long a dead peer goes unnoticed at most: `idle + interval * probes`.
    pub fn detection_time(&self) -> Duration {
        self.idle
            .saturating_add(self.interval.saturating_mul(self.probes))
    }

    /// What is wrong with these settings (the kernel counts in whole seconds), if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.idle < Duration::from_secs(1) || self.interval < Duration::from_secs(1) {
            return Err("keep-alive idle and interval must be at least 1s".to_owned());
        }
        if self.idle > Duration::from_secs(32_767) || self.interval > Duration::from_secs(32_767) {
            return Err("keep-alive idle and interval must be at most 32767s".to_owned());
        }
        if !(1..=Self::MAX_PROBES).contains(&self.probes) {
            return Err(format!(
                "keep-alive probes is {}; expected 1 to {}",
                self.probes,
                Self::MAX_PROBES
            ));
        }
        Ok(())
    }
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive {
            idle: Self::DEFAULT_IDLE,
            interval: Self::DEFAULT_INTERVAL,
            probes: Self::DEFAULT_PROBES,
        }
    }
}

/// Turns keep-alive on for `stream` (and, on Linux, the matching user timeout).
pub fn set_keepalive(stream: &TcpStream, keepalive: &KeepAlive) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    let params = socket2::TcpKeepalive::new().with_time(keepalive.idle);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "windows",
    ))]
    let params = params.with_interval(keepalive.interval);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd",
        target_os = "netbsd",
    ))]
    let params = params.with_retries(keepalive.probes);
    socket.set_tcp_keepalive(&params)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(keepalive.detection_time()))?;
    Ok(())
}

/// The keep-alive settings in force on `stream`, as the kernel reports them (tests and
/// diagnostics); `None` when keep-alive is off.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn keepalive_of(stream: &TcpStream) -> std::io::Result<Option<KeepAlive>> {
    let socket = socket2::SockRef::from(stream);
    if !socket.keepalive()? {
        return Ok(None);
    }
    Ok(Some(KeepAlive {
        idle: socket.tcp_keepalive_time()?,
        interval: socket.tcp_keepalive_interval()?,
        probes: socket.tcp_keepalive_retries()?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert_eq!(KeepAlive::default().check(), Ok(()));
        assert_eq!(
            KeepAlive::default().detection_time(),
            Duration::from_secs(60)
        );
        let k = KeepAlive {
            idle: Duration::from_millis(500),
            ..KeepAlive::default()
        };
        assert!(k.check().unwrap_err().contains("at least 1s"));
        let k = KeepAlive {
            probes: 0,
            ..KeepAlive::default()
        };
        assert!(k.check().unwrap_err().contains("probes is 0"));
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn the_kernel_holds_the_settings() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        assert_eq!(keepalive_of(&stream).unwrap(), None, "off by default");
        let wanted = KeepAlive {
            idle: Duration::from_secs(7),
            interval: Duration::from_secs(2),
            probes: 4,
        };
        set_keepalive(&stream, &wanted).unwrap();
        assert_eq!(keepalive_of(&stream).unwrap(), Some(wanted));
        assert_eq!(
            socket2::SockRef::from(&stream).tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(15))
        );
    }
}
