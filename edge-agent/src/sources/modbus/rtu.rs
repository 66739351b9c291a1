//! Modbus RTU on a serial port (the `rtu` cargo feature): the bus task's port work.
//!
//! RTU has no transaction id: a reply is known only by coming next on the line. So the bus
//! keeps the line in step itself:
//!
//! - before each request, bytes already waiting (a reply that came after its timeout) are
//!   discarded, and the line is left silent for t3.5 after the last frame;
//! - a request's timeout starts when it goes out; a reply must be a whole frame with a good
//!   CRC, from the unit asked, with the function asked (tokio-modbus checks the last two);
//! - after a timeout or a frame that is not the reply, the line is drained: bytes are read and
//!   discarded until it has been silent for t3.5 (at least [`DRAIN_QUIET_MIN`]), and the
//!   tokio-modbus client is made anew, so nothing of the failed exchange reaches the next one;
//! - an I/O error (a USB adapter unplugged) closes the port; the next request reopens it.
//!
//! The bytes of a failed exchange are kept to say what went wrong (a CRC error, a truncated
//! frame, noise) in the device's fault.

use super::bus::{BusRequest, CallResult, describe_bad_reply};
use super::transport_message;
use crate::config::modbus::{Parity, SerialLine};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{Request, Slave};
use tokio_serial::SerialStream;

/// The least silence that ends a drain. t3.5 is 2 ms at 19200 baud, but USB-serial adapters
/// hand bytes over in bursts (an FTDI chip's latency timer is 16 ms by default), so a shorter
/// silence may be no more than the gap between two USB transfers of one late reply.
pub const DRAIN_QUIET_MIN: Duration = Duration::from_millis(20);
/// Most bytes of one exchange kept to describe it when it fails.
const RECORD_MAX: usize = 256;

/// Opens a serial port with the line's settings, for the bus and for `mes sim plc --serial`.
/// The port is opened exclusively: nothing else may talk on an RS-485 bus the edge is master of.
pub fn open_port(line: &SerialLine) -> Result<SerialStream, String> {
    let builder = tokio_serial::new(&line.path, line.baud)
        .parity(match line.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .data_bits(if line.data_bits == 7 {
            tokio_serial::DataBits::Seven
        } else {
            tokio_serial::DataBits::Eight
        })
        .stop_bits(if line.stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        })
        .flow_control(tokio_serial::FlowControl::None);
    SerialStream::open(&builder).map_err(|e| {
        format!(
            "cannot open serial port {} ({}): {e}",
            line.path,
            line.settings()
        )
    })
}

/// The port, shared between the tokio-modbus client (made anew after every failure) and the
/// bus (which drains through it), recording what it reads.
#[derive(Clone)]
struct Tap(Arc<Mutex<TapInner>>);

struct TapInner {
    port: SerialStream,
    recorded: Vec<u8>,
}

impl fmt::Debug for Tap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tap")
    }
}

impl Tap {
    fn lock(&self) -> MutexGuard<'_, TapInner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start_recording(&self) {
        self.lock().recorded.clear();
    }

    fn recorded(&self) -> Vec<u8> {
        self.lock().recorded.clone()
    }

    /// Reads and discards what is already waiting, without waiting for more.
    fn discard_pending(&self) -> io::Result<usize> {
        let mut inner = self.lock();
        let mut buf = [0u8; 256];
        let mut n = 0;
        loop {
            match inner.port.try_read(&mut buf) {
                Ok(0) => return Ok(n),
                Ok(k) => {
                    n += k;
                    if n > 1 << 16 {
                        // A line that never stops talking: the request goes out anyway and
                        // its reply check will fail.
                        return Ok(n);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsyncRead for Tap {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        let before = buf.filled().len();
        let polled = Pin::new(&mut inner.port).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let new = &buf.filled()[before..];
            let room = RECORD_MAX.saturating_sub(inner.recorded.len());
            inner
                .recorded
                .extend_from_slice(&new[..new.len().min(room)]);
        }
        polled
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.lock().port).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().port).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().port).poll_shutdown(cx)
    }
}

/// An open port and the client on it.
struct Port {
    line: SerialLine,
    tap: Tap,
    ctx: Context,
    /// When the line last carried a frame (ours or a reply).
    idle_since: Instant,
}

/// Why an exchange failed, and whether the port is still usable.
struct Failed {
    message: String,
    port_broken: bool,
}

impl Port {
    fn open(line: &SerialLine) -> Result<Port, String> {
        let tap = Tap(Arc::new(Mutex::new(TapInner {
            port: open_port(line)?,
            recorded: Vec::new(),
        })));
        // Whatever was received before the port was ours is no reply to anything.
        tap.discard_pending()
            .map_err(|e| format!("serial port {}: {e}", line.path))?;
        Ok(Port {
            line: line.clone(),
            ctx: tokio_modbus::client::rtu::attach_slave(tap.clone(), Slave(1)),
            tap,
            idle_since: Instant::now(),
        })
    }

    /// One request and its reply; on failure the line has been drained (or the port must be
    /// closed, as `port_broken` says).
    async fn call(
        &mut self,
        unit: u8,
        request: Request<'static>,
        timeout: Duration,
    ) -> Result<CallResult, Failed> {
        let broken = |path: &str, e: io::Error| Failed {
            message: format!("serial port {path}: {e}; port closed, reopened at the next request"),
            port_broken: true,
        };
        match self.tap.discard_pending() {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(port = %self.line.path, n, "discarded stray bytes before a request")
            }
            Err(e) => return Err(broken(&self.line.path, e)),
        }
        tokio::time::sleep_until(self.idle_since + self.line.frame_gap()).await;
        let function = request.function_code().value();
        self.tap.start_recording();
        self.ctx.set_slave(Slave(unit));
        let outcome = tokio::time::timeout(timeout, self.ctx.call(request)).await;
        self.idle_since = Instant::now();
        let what = match outcome {
            Ok(Ok(answer)) => return Ok(Ok(answer)),
            Ok(Err(tokio_modbus::Error::Transport(e)))
                if e.kind() != io::ErrorKind::InvalidData =>
            {
                return Err(broken(&self.line.path, e));
            }
            Ok(Err(e)) => transport_message(&e),
            Err(_) => {
                let got = self.tap.recorded();
                let timeout = protocol::duration::format(timeout);
                if got.is_empty() {
                    format!("no reply within {timeout}")
                } else {
                    format!(
                        "no valid reply within {timeout}: {}",
                        describe_bad_reply(unit, function, &got)
                    )
                }
            }
        };
        match self.resync(timeout).await {
            Ok(note) => Err(Failed {
                message: format!("{what}; {note}"),
                port_broken: false,
            }),
            Err(e) => Err(Failed {
                message: format!("{what}; then {}", broken(&self.line.path, e).message),
                port_broken: true,
            }),
        }
    }

    /// Discards bytes until the line has been silent for t3.5 (at least [`DRAIN_QUIET_MIN`]),
    /// for at most `cap` (a line that never falls silent must not hold the bus), then makes the
    /// client anew. Says what it did.
    async fn resync(&mut self, cap: Duration) -> io::Result<String> {
        let quiet = self.line.frame_gap().max(DRAIN_QUIET_MIN);
        let started = Instant::now();
        let mut discarded = 0usize;
        let mut buf = [0u8; 256];
        let mut reader = self.tap.clone();
        let silent = loop {
            match tokio::time::timeout(quiet, reader.read(&mut buf)).await {
                Err(_) => break true,
                Ok(Ok(0)) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(Ok(n)) => {
                    discarded += n;
                    if started.elapsed() > cap {
                        break false;
                    }
                }
                Ok(Err(e)) => return Err(e),
            }
        };
        self.ctx = tokio_modbus::client::rtu::attach_slave(self.tap.clone(), Slave(1));
        self.idle_since = Instant::now();
        let quiet = protocol::duration::format(quiet);
        Ok(match (silent, discarded) {
            (true, 0) => format!("line drained (silent for {quiet})"),
            (true, n) => {
                format!("line drained ({n} more bytes discarded until silent for {quiet})")
            }
            (false, n) => format!(
                "line never fell silent for {quiet} ({n} bytes discarded); the next request goes out anyway"
            ),
        })
    }
}

/// The bus task's loop: serves requests one at a time until every handle is gone. The port is
/// opened at the first request and after a failure, so an edge starts without its adapter and
/// connects when it is plugged in.
pub(crate) async fn serve(line: SerialLine, mut requests: mpsc::Receiver<BusRequest>) {
    let mut port: Option<Port> = None;
    while let Some(request) = requests.recv().await {
        match request {
            BusRequest::Open { reply } => {
                let opened = ensure_open(&line, &mut port).map(|_| ());
                let _ = reply.send(opened);
            }
            BusRequest::Call {
                unit,
                request,
                timeout,
                reply,
            } => {
                if reply.is_closed() {
                    // The device task stopped waiting (shutdown): nothing goes on the wire.
                    continue;
                }
                let answer = match ensure_open(&line, &mut port) {
                    Err(e) => Err(e),
                    Ok(p) => match p.call(unit, request, timeout).await {
                        Ok(answer) => answer,
                        Err(failed) => {
                            if failed.port_broken {
                                tracing::warn!(port = %line.path, "{}", failed.message);
                                port = None;
                            }
                            Err(failed.message)
                        }
                    },
                };
                let _ = reply.send(answer);
            }
        }
    }
}

fn ensure_open<'a>(line: &SerialLine, port: &'a mut Option<Port>) -> Result<&'a mut Port, String> {
    if port.is_none() {
        let opened = Port::open(line)?;
        tracing::info!(port = %line.path, settings = %line.settings(), "serial port opened");
        *port = Some(opened);
    }
    port.as_mut()
        .ok_or_else(|| format!("serial port {} is not open", line.path))
}
