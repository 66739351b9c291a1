//! Sending ZPL to a Zebra printer: raw TCP on port 9100, the way every networked Zebra takes
//! jobs. The printer answers nothing; a job counts as sent once the connection closed cleanly.

use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The raw-print port of Zebra (and most network label) printers.
pub const ZEBRA_RAW_PORT: u16 = 9100;

/// Why a label did not reach the printer.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("cannot reach printer {printer}: {source}")]
    Connect {
        printer: String,
        source: std::io::Error,
    },
    #[error("printer {printer} took the connection but the label could not be sent: {source}")]
    Send {
        printer: String,
        source: std::io::Error,
    },
    #[error("printer {printer} did not take the label within {timeout:?}")]
    Timeout { printer: String, timeout: Duration },
}

/// Sends one ZPL job to `printer` (`host` or `host:port`; port 9100 when none is given).
/// `timeout` bounds the whole job: connecting, sending and closing.
pub async fn send_zpl(printer: &str, zpl: &str, timeout: Duration) -> Result<(), PrintError> {
    let target = with_default_port(printer);
    let job = async {
        let mut stream =
            TcpStream::connect(&target)
                .await
                .map_err(|source| PrintError::Connect {
                    printer: target.clone(),
                    source,
                })?;
        let send_err = |source| PrintError::Send {
            printer: target.clone(),
            source,
        };
        stream.write_all(zpl.as_bytes()).await.map_err(send_err)?;
        stream.shutdown().await.map_err(send_err)?;
        Ok(())
    };
    tokio::time::timeout(timeout, job)
        .await
        .map_err(|_| PrintError::Timeout {
            printer: target.clone(),
            timeout,
        })?
}

/// `host` → `host:9100`; `host:port`, `1.2.3.4:port` and `[::1]:port` stay as they are.
fn with_default_port(printer: &str) -> String {
    let has_port = printer.parse::<std::net::SocketAddr>().is_ok()
        || printer
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.contains(':') && port.parse::<u16>().is_ok());
    if has_port {
        printer.to_owned()
    } else if printer.contains(':') {
        format!("[{}]:{ZEBRA_RAW_PORT}", printer.trim_matches(['[', ']']))
    } else {
        format!("{printer}:{ZEBRA_RAW_PORT}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn port_9100_unless_told() {
        assert_eq!(with_default_port("zebra-1"), "zebra-1:9100");
        assert_eq!(with_default_port("10.0.0.5"), "10.0.0.5:9100");
        assert_eq!(with_default_port("10.0.0.5:6101"), "10.0.0.5:6101");
        assert_eq!(with_default_port("::1"), "[::1]:9100");
        assert_eq!(with_default_port("[::1]:9101"), "[::1]:9101");
    }

    #[tokio::test]
    async fn a_local_listener_standing_in_for_the_printer_gets_the_job() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let printer = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut job = String::new();
            conn.read_to_string(&mut job).await.unwrap();
            job
        });
        let zpl = "^XA\n^FO10,10^A0N,24,24^FDhello^FS\n^XZ\n";
        send_zpl(&addr.to_string(), zpl, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(printer.await.unwrap(), zpl);
    }

    #[tokio::test]
    async fn an_unreachable_printer_is_an_error_that_names_it() {
        // Bind, learn the port, close: nothing listens there now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = send_zpl(&addr.to_string(), "^XA^XZ", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach printer {addr}")),
            "{err}"
        );
    }
}
