//! A serial line (RS-485) shared by several Modbus RTU devices: one bus task per port owns the
//! port and serves the devices' requests one at a time, in the order they arrive.
//!
//! ```text
//!  device task (unit 1) ──┐  BusRequest, mpsc 16           ┌───────────────────────────────┐
//!  device task (unit 2) ──┼──full: the device task waits──>│ bus task: owns the port;      │
//!  device task (unit 7) ──┘<── reply (oneshot) ────────────│ one request on the wire at a  │
//!                                                          │ time; drains after a failure  │
//!                                                          └───────────────────────────────┘
//! ```
//!
//! Why a task and not a lock around the port: RS-485 is one bus, so requests must be
//! serialized, and a request cut short (a device task stopping mid-read) must not leave half a
//! reply on the line for the next device. The task always finishes (or times out) what it
//! started, drains the line when a reply went wrong, and is the only code that touches the port.
//! Requests are served first come, first served; each device task has at most one outstanding,
//! so a device waits at most one transaction per other device.
//!
//! A device's `timeout` runs from the moment its request goes out on the wire, never while it
//! waits in the queue: a dead slave delays the others by at most its own timeout (plus the
//! drain) per request, and after a failure its device task backs off before asking again.
//!
//! What stays without the `rtu` feature: the handles, the queue and the diagnosis of bad
//! replies. The port work is in `rtu.rs`; a build without it answers every request with "no
//! serial support", which configuration validation already reports as a mistake.

use super::Link;
use crate::config::modbus::{ModbusDevice, SerialLine};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_modbus::{ExceptionCode, Request, Response};

/// Requests that may wait for the bus. Each device task has at most one outstanding, so this
/// only bounds a burst of write jobs and opens.
const BUS_QUEUE: usize = 16;

/// What a device task asks of its bus.
#[derive(Debug)]
// A build without `rtu` refuses every request unread.
#[cfg_attr(not(feature = "rtu"), allow(dead_code))]
pub(crate) enum BusRequest {
    /// Open the port if it is not open; say whether it is.
    Open {
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// One request to one unit, answered within `timeout` of going out.
    Call {
        unit: u8,
        request: Request<'static>,
        timeout: Duration,
        reply: oneshot::Sender<CallResult>,
    },
}

/// A reply, an exception, or why the transaction failed (then the bus has already drained the
/// line or closed the port, and the message says which).
pub(crate) type CallResult = Result<Result<Response, ExceptionCode>, String>;

/// A cloneable handle to one port's bus task.
#[derive(Debug, Clone)]
pub struct BusHandle {
    path: Arc<str>,
    requests: mpsc::Sender<BusRequest>,
}

impl BusHandle {
    /// Asks the bus to have the port open (opening it if it is not); the device's link to its
    /// unit on success.
    pub async fn attach(&self, unit: u8) -> Result<BusLink, String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(BusRequest::Open { reply })
            .await
            .map_err(|_| self.gone())?;
        answer.await.map_err(|_| self.gone())??;
        Ok(BusLink {
            bus: self.clone(),
            unit,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn gone(&self) -> String {
        format!("the bus task of serial port {} has stopped", self.path)
    }
}

/// One device's way to its unit on a bus.
#[derive(Debug)]
pub struct BusLink {
    bus: BusHandle,
    unit: u8,
}

impl Link for BusLink {
    async fn transact(
        &mut self,
        request: Request<'static>,
        timeout: Duration,
    ) -> Result<Result<Response, ExceptionCode>, String> {
        let (reply, answer) = oneshot::channel();
        self.bus
            .requests
            .send(BusRequest::Call {
                unit: self.unit,
                request,
                timeout,
                reply,
            })
            .await
            .map_err(|_| self.bus.gone())?;
        answer.await.map_err(|_| self.bus.gone())?
    }
}

/// The bus task of one port: run it (spawned) until shutdown; it also ends when every handle
/// is gone.
pub struct BusTask {
    line: SerialLine,
    requests: mpsc::Receiver<BusRequest>,
    /// Set when the port cannot serve this bus at all (devices that disagree on its settings).
    refuse: Option<String>,
}

/// A bus for `line`: the handle for its devices and the task that serves them.
pub fn serial_bus(line: SerialLine) -> (BusHandle, BusTask) {
    let (tx, rx) = mpsc::channel(BUS_QUEUE);
    (
        BusHandle {
            path: line.path.as_str().into(),
            requests: tx,
        },
        BusTask {
            line,
            requests: rx,
            refuse: None,
        },
    )
}

impl BusTask {
    pub fn line(&self) -> &SerialLine {
        &self.line
    }

    /// Serves requests until shutdown or until every handle is gone. Closes the port on return.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        if let Some(why) = self.refuse.take() {
            refuse_all(&mut self.requests, &why, &mut shutdown).await;
            return;
        }
        #[cfg(feature = "rtu")]
        {
            tokio::select! {
                () = super::rtu::serve(self.line, self.requests) => {}
                _ = shutdown.wait_for(|s| *s) => {}
            }
        }
        #[cfg(not(feature = "rtu"))]
        {
            let why = format!(
                "serial port {}: this build has no serial support; build with --features rtu",
                self.line.path
            );
            refuse_all(&mut self.requests, &why, &mut shutdown).await;
        }
    }
}

/// Answers every request with `why` (a bus that cannot work), until shutdown.
async fn refuse_all(
    requests: &mut mpsc::Receiver<BusRequest>,
    why: &str,
    shutdown: &mut watch::Receiver<bool>,
) {
    loop {
        let request = tokio::select! {
            r = requests.recv() => r,
            _ = shutdown.wait_for(|s| *s) => None,
        };
        match request {
            None => return,
            Some(BusRequest::Open { reply }) => {
                let _ = reply.send(Err(why.to_owned()));
            }
            Some(BusRequest::Call { reply, .. }) => {
                let _ = reply.send(Err(why.to_owned()));
            }
        }
    }
}

/// The buses of an edge's serial devices: one per port, created at the port's first device.
#[derive(Default)]
pub struct SerialBuses {
    buses: Vec<(SerialLine, String, BusHandle)>,
    tasks: Vec<BusTask>,
}

impl SerialBuses {
    /// The bus of a serial device (`None` for a TCP device). A device whose line settings
    /// differ from those of the port's first device gets a bus that refuses it with the reason
    /// (configuration validation reports the same as a mistake).
    pub fn handle(&mut self, device: &ModbusDevice) -> Option<BusHandle> {
        let line = device.serial.as_ref()?;
        if let Some((first, first_device, handle)) =
            self.buses.iter().find(|(l, _, _)| l.path == line.path)
        {
            if first == line {
                return Some(handle.clone());
            }
            let (handle, mut task) = serial_bus(line.clone());
            task.refuse = Some(format!(
                "serial port {}: this device uses {}, but device {first_device:?} on the same port uses {}; every device on one port shares its line settings",
                line.path,
                line.settings(),
                first.settings()
            ));
            self.tasks.push(task);
            return Some(handle);
        }
        let (handle, task) = serial_bus(line.clone());
        self.buses
            .push((line.clone(), device.device.clone(), handle.clone()));
        self.tasks.push(task);
        Some(handle)
    }

    /// The bus tasks created so far, to be spawned.
    pub fn take_tasks(&mut self) -> Vec<BusTask> {
        std::mem::take(&mut self.tasks)
    }
}

// ---------------------------------------------------------------------------------------------
// What went wrong with a reply, told from the bytes that came back.

/// The Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF), sent low byte first.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Says why `bytes`, received for a request of `function` to `unit`, were not taken as its
/// reply (no valid frame came within the timeout): nothing, a truncated frame, a CRC error, or
/// bytes that are no reply at all. Names the bytes (up to 16 of them).
pub fn describe_bad_reply(unit: u8, function: u8, bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "no reply".to_owned();
    }
    let shown = hex(bytes);
    let expected_len = match bytes.get(1) {
        Some(&f) if f == function | 0x80 => Some(5),
        Some(&f) if f == function && (1..=4).contains(&f) => {
            bytes.get(2).map(|&n| 5 + usize::from(n))
        }
        Some(&f) if f == function && matches!(f, 5 | 6 | 15 | 16) => Some(8),
        _ => None,
    };
    let from_unit = bytes[0] == unit;
    match expected_len {
        Some(len) if from_unit && bytes.len() < len => {
            format!("truncated reply ({} of {len} bytes): {shown}", bytes.len())
        }
        Some(len) if from_unit => {
            let sent = u16::from_le_bytes([bytes[len - 2], bytes[len - 1]]);
            let computed = crc16(&bytes[..len - 2]);
            if sent != computed {
                format!(
                    "reply fails its CRC check (sent 0x{sent:04X}, computed 0x{computed:04X}): {shown}"
                )
            } else {
                format!(
                    "a reply with a valid CRC that was not taken ({} bytes): {shown}",
                    bytes.len()
                )
            }
        }
        _ => format!(
            "{} byte{} that are no reply to unit {unit}, function {function}: {shown}",
            bytes.len(),
            if bytes.len() == 1 { "" } else { "s" }
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02X}")).collect();
    if bytes.len() > 16 {
        out.push("…".to_owned());
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read-holding-registers reply from `unit` with the given registers and a correct CRC.
    fn reply(unit: u8, words: &[u16]) -> Vec<u8> {
        let mut f = vec![unit, 3, (words.len() * 2) as u8];
        for w in words {
            f.extend_from_slice(&w.to_be_bytes());
        }
        let crc = crc16(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    #[test]
    fn crc_matches_the_specification_example() {
        // Modbus over serial line V1.02, appendix B: 02 07 -> CRC 0x1241, sent 41 12.
        assert_eq!(crc16(&[0x02, 0x07]), 0x1241);
        // A read of holding register 0 from unit 1: 01 03 00 00 00 01 84 0A.
        assert_eq!(
            crc16(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x01]).to_le_bytes(),
            [0x84, 0x0A]
        );
    }

    #[test]
    fn bad_replies_are_told_apart() {
        assert_eq!(describe_bad_reply(1, 3, &[]), "no reply");
        let good = reply(1, &[42]);
        let mut bad_crc = good.clone();
        bad_crc[6] ^= 0xFF;
        let d = describe_bad_reply(1, 3, &bad_crc);
        assert!(d.starts_with("reply fails its CRC check"), "{d}");
        assert!(d.ends_with("01 03 02 00 2A 39 64"), "{d}");
        assert_eq!(
            describe_bad_reply(1, 3, &good[..5]),
            "truncated reply (5 of 7 bytes): 01 03 02 00 2A"
        );
        assert_eq!(
            describe_bad_reply(1, 3, &[0x01, 0x83]),
            "truncated reply (2 of 5 bytes): 01 83"
        );
        assert_eq!(
            describe_bad_reply(1, 3, &[0xFF; 20]),
            "20 bytes that are no reply to unit 1, function 3: FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF …"
        );
        assert!(
            describe_bad_reply(1, 3, &reply(2, &[42])).contains("no reply to unit 1"),
            "another unit's reply"
        );
    }

    fn device(name: &str, baud: u32) -> ModbusDevice {
        ModbusDevice {
            device: name.into(),
            host: "/dev/ttyX".into(),
            serial: Some(SerialLine {
                path: "/dev/ttyX".into(),
                baud,
                parity: crate::config::modbus::Parity::Even,
                data_bits: 8,
                stop_bits: 1,
            }),
            unit: 1,
            timeout: Duration::from_secs(1),
            station: None,
            max_gap_registers: 8,
            max_gap_bits: 64,
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(10),
            fault_interval: Duration::from_secs(60),
            groups: Vec::new(),
            writes: Vec::new(),
        }
    }

    #[tokio::test]
    async fn devices_on_one_port_share_one_bus_and_a_disagreeing_one_is_refused() {
        let mut buses = SerialBuses::default();
        let a = buses.handle(&device("a", 19_200)).unwrap();
        let b = buses.handle(&device("b", 19_200)).unwrap();
        assert!(a.requests.same_channel(&b.requests));
        let mut tcp = device("tcp", 19_200);
        tcp.serial = None;
        assert!(buses.handle(&tcp).is_none());
        let c = buses.handle(&device("c", 9600)).unwrap();
        let mut tasks = buses.take_tasks();
        assert_eq!(tasks.len(), 2);
        let (_stop, stopping) = watch::channel(false);
        let refusing = tasks.pop().unwrap();
        tokio::spawn(refusing.run(stopping));
        let e = c.attach(1).await.unwrap_err();
        assert!(
            e.contains(
                "this device uses 9600 8E1, but device \"a\" on the same port uses 19200 8E1"
            ),
            "{e}"
        );
    }
}
