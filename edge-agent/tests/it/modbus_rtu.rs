//! Modbus RTU on a serial line, without hardware: each test makes a pseudo-terminal pair, gives
//! the source the slave side's path (as it would be given /dev/ttyUSB0) and puts our simulated
//! press, or a hand-written misbehaving slave, on the master side. Waits are for conditions,
//! with a deadline.
#![cfg(all(feature = "rtu", unix))]

use edge_agent::config::modbus::{ModbusDevice, PathMistake};
use edge_agent::config::{EdgeConfig, SourceConfig};
use edge_agent::live::Live;
use edge_agent::sim::plc::{Plc, PlcOptions};
use edge_agent::sources::modbus::bus::SerialBuses;
use edge_agent::sources::modbus::write::WriteJob;
use edge_agent::sources::{self, SourceMessage, Value};
use protocol::EventKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_serial::{SerialPort, SerialStream};

const DEADLINE: Duration = Duration::from_secs(20);

const HEAD: &str = "edge_id = \"line-1\"\n[central]\nurl = \"http://127.0.0.1:9\"\ntoken = \"t\"\n";

/// A validated device from a `[[sources]]` table (the config path is part of what is tested).
fn device(source: &str) -> ModbusDevice {
    let config = EdgeConfig::from_toml_str(&format!("{HEAD}{source}"))
        .unwrap_or_else(|e| panic!("{e}\n{source}"));
    match &config.sources[0] {
        SourceConfig::Modbus(m) => m
            .device()
            .map_err(|e: &[PathMistake]| e.to_vec())
            .unwrap()
            .clone(),
        other => panic!("{other:?}"),
    }
}

/// A pseudo-terminal pair: the master (the bus side our slaves sit on), the slave side kept
/// open for the test's length (a pty whose slave side was never open refuses the master's
/// reads), and the slave side's path, which the source opens.
fn pty() -> (SerialStream, SerialStream, String) {
    // The slave side as made holds no lock (`set_exclusive(false)` would take a shared one,
    // and the source's exclusive open would then fail).
    let (master, slave) = SerialStream::pair().expect("a pseudo-terminal pair");
    let path = slave.name().expect("the slave side's path");
    (master, slave, path)
}

/// The press's register map, read over a serial line.
fn press_source(name: &str, path: &str, unit: u8, timeout: &str) -> String {
    format!(
        r#"[[sources]]
type = "modbus"
device = "{name}"
serial = "{path}"
baud = 19200
parity = "even"
unit = {unit}
station = "st-10"
interval = "20ms"
timeout = "{timeout}"
backoff_min = "10ms"
backoff_max = "20ms"
fault_interval = "1ms"

[[sources.tags]]
name = "good"
address = "400001"
role = "counter"
report = "every_poll"

[[sources.tags]]
name = "scrap"
address = "400002"
role = "counter"
counts = "scrap"

[[sources.tags]]
name = "state"
address = "400003"
role = "state"
states = {{ 0 = "off", 1 = "running", 2 = "idle", 3 = "down: jam", 4 = "down: tool change", 5 = "setup" }}

[[sources.tags]]
name = "total"
address = "400004"
type = "u32"
byte_order = "CDAB"

[[sources.tags]]
name = "diameter"
address = "300001"
type = "f32"
role = "measurement"
characteristic = "hole-diameter"
unit = "mm"

[[sources.tags]]
name = "running"
address = "000001"

[[sources.write]]
parameter = "target_qty"
address = "400011"
type = "u32"
"#
    )
}

/// Our simulated press as slave `unit` on the master side of a pty, stepped by hand; the task
/// serving it holds the master side.
fn press_on(master: SerialStream, unit: u8, start_count: u16) -> (Plc, JoinHandle<()>) {
    let options = PlcOptions {
        cycle: None,
        start_count,
        slow: None,
        seed: Some(1),
    };
    let plc = Plc::new(&options);
    let server = plc.clone();
    let task = tokio::spawn(async move {
        let _ = server
            .serve_rtu(master, unit, options, std::future::pending())
            .await;
    });
    (plc, task)
}

/// What came out of the source: readings of a device (tag -> value), or a device fault.
#[derive(Debug)]
enum Out {
    Read(String, Vec<(String, Value)>),
    Fault(String, String),
}

/// The next thing the source said; the test fails once its deadline has passed (a source that
/// keeps reporting faults must not keep a test waiting for a reading for ever).
async fn next(rx: &mut mpsc::Receiver<SourceMessage>, deadline: Instant) -> Out {
    let message = tokio::time::timeout_at(deadline, rx.recv())
        .await
        .expect("the test's deadline passed before the source said what was expected")
        .expect("the source ended");
    match message {
        SourceMessage::Readings(r) => Out::Read(
            r.device.clone(),
            r.values
                .iter()
                .map(|v| (v.tag.clone(), v.value.clone()))
                .collect(),
        ),
        SourceMessage::Event(e) => match e.kind {
            EventKind::DeviceFault { device, message } => {
                Out::Fault(device.as_str().to_owned(), message)
            }
            other => panic!("unexpected event {other:?}"),
        },
        other => panic!("unexpected message {other:?}"),
    }
}

fn value<'a>(values: &'a [(String, Value)], tag: &str) -> Option<&'a Value> {
    values.iter().find(|(t, _)| t == tag).map(|(_, v)| v)
}

#[tokio::test]
async fn the_simulated_press_is_read_and_written_over_rtu() {
    let deadline = Instant::now() + DEADLINE;
    let (master, _slave, path) = pty();
    let (plc, _server) = press_on(master, 1, 65_530);
    let device = device(&press_source("rtu-press", &path, 1, "500ms"));
    let live = Live::new(None);
    let (tx, mut rx) = mpsc::channel(64);
    let (jobs_tx, jobs) = mpsc::channel(4);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(sources::modbus::run_with_writes(
        device,
        live.clone(),
        tx,
        Some(jobs),
        stopping,
    ));

    // The first poll reports every tag.
    let first = loop {
        match next(&mut rx, deadline).await {
            Out::Read(_, values) if values.len() == 6 => break values,
            Out::Read(..) => {}
            Out::Fault(_, m) => panic!("fault from a healthy press: {m}"),
        }
    };
    assert_eq!(value(&first, "good"), Some(&Value::UInt(65_530)));
    assert_eq!(value(&first, "scrap"), Some(&Value::UInt(65_530)));
    assert_eq!(value(&first, "state"), Some(&Value::UInt(1)));
    assert_eq!(value(&first, "total"), Some(&Value::UInt(65_530)));
    assert_eq!(value(&first, "running"), Some(&Value::Bool(true)));
    match value(&first, "diameter") {
        Some(Value::Float(d)) => assert!((d - 8.0).abs() < 0.1, "{d}"),
        other => panic!("diameter {other:?}"),
    }

    // The press makes parts: the counter rolls over, the u32 total does not.
    plc.with(|p| p.make(10, 0));
    loop {
        match next(&mut rx, deadline).await {
            Out::Read(_, values) if value(&values, "good") == Some(&Value::UInt(4)) => {
                assert_eq!(value(&values, "total"), Some(&Value::UInt(65_540)));
                break;
            }
            Out::Read(..) => {}
            Out::Fault(_, m) => panic!("fault from a healthy press: {m}"),
        }
    }
    assert_eq!(
        live.devices()
            .iter()
            .find(|d| d.device == "rtu-press")
            .map(|d| d.state.as_str()),
        Some("connected")
    );

    // A write job goes over the same bus (function 16, then read back).
    let (done, result) = oneshot::channel();
    jobs_tx
        .send(WriteJob {
            values: vec![("target_qty".into(), Value::UInt(70_000))],
            done,
        })
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, result)
        .await
        .unwrap()
        .unwrap()
        .expect("written and read back");
    let words = plc.with(|p| {
        p.answer(&tokio_modbus::Request::ReadHoldingRegisters(10, 2))
            .unwrap()
    });
    assert_eq!(
        words,
        tokio_modbus::Response::ReadHoldingRegisters(vec![1, (70_000 - 65_536) as u16])
    );
    stop.send_replace(true);
    task.await.unwrap();
}

#[tokio::test]
async fn a_dead_slave_delays_the_bus_by_its_timeout_only() {
    let deadline = Instant::now() + DEADLINE;
    let (master, _slave, path) = pty();
    // Only unit 1 answers; unit 2 is dead (unpowered, or its address set wrong).
    let _press = press_on(master, 1, 100);
    // The live unit's timeout is shorter than the dead one's: it holds only if a timeout runs
    // from when the request goes out, never while it waits for the bus.
    let live_one = device(&press_source("live-press", &path, 1, "200ms"));
    let dead_one = device(&press_source("dead-press", &path, 2, "300ms"));
    let mut buses = SerialBuses::default();
    let live_bus = buses.handle(&live_one);
    let dead_bus = buses.handle(&dead_one);
    let tasks = buses.take_tasks();
    assert_eq!(tasks.len(), 1, "one bus task for one port");
    let live = Live::new(None);
    let (tx, mut rx) = mpsc::channel(256);
    let (stop, stopping) = watch::channel(false);
    let mut handles = vec![tokio::spawn(
        tasks.into_iter().next().unwrap().run(stopping.clone()),
    )];
    for (d, bus) in [(live_one, live_bus), (dead_one, dead_bus)] {
        handles.push(tokio::spawn(sources::modbus::run_device(
            d,
            bus,
            live.clone(),
            tx.clone(),
            None,
            stopping.clone(),
        )));
    }
    drop(tx);

    // Between any two timeouts of the dead unit, the live one is read.
    let mut dead_faults = 0;
    let mut reads_since_fault = 0;
    let mut reads = 0;
    while dead_faults < 5 {
        match next(&mut rx, deadline).await {
            Out::Read(d, _) => {
                assert_eq!(d, "live-press", "the dead unit answered");
                reads += 1;
                reads_since_fault += 1;
            }
            Out::Fault(d, m) => {
                assert_eq!(d, "dead-press", "the live unit failed: {m}");
                for part in [
                    "modbus device dead-press (unit 2 at /dev/",
                    ": read ",
                    "no reply within 300ms; line drained",
                ] {
                    assert!(m.contains(part), "{part:?} missing from {m:?}");
                }
                if dead_faults > 0 {
                    assert!(
                        reads_since_fault > 0,
                        "the live unit was not read between two timeouts of the dead one"
                    );
                }
                dead_faults += 1;
                reads_since_fault = 0;
            }
        }
    }
    assert!(reads >= 4, "{reads}");
    let state = |name: &str| {
        live.devices()
            .into_iter()
            .find(|d| d.device == name)
            .map(|d| d.state)
    };
    assert_eq!(state("live-press").as_deref(), Some("connected"));
    assert_ne!(state("dead-press").as_deref(), Some("connected"));
    stop.send_replace(true);
    for h in handles {
        h.await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// A hand-written slave on the pty: the first request gets a bad reply, later ones GOOD. A value
// of POISON must never come out of the source.

const GOOD: u16 = 42;
const POISON: u16 = 0xDEAD;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Misbehaviour {
    /// The reply with its CRC spoilt.
    CrcError,
    /// The reply without its last two bytes.
    Truncated,
    /// Bytes that are no frame.
    Garbage,
    /// A well-formed reply from another unit.
    WrongUnit,
    /// A whole reply, but only after the source has given up on it.
    Late,
    /// A reply that starts in time and goes on, byte by byte, well past the timeout.
    Trickling,
    /// An exception reply.
    Exception,
}

/// Modbus CRC-16, written apart from the source's on purpose.
fn crc(bytes: &[u8]) -> [u8; 2] {
    let mut crc = 0xFFFFu16;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            let lsb = crc & 1;
            crc >>= 1;
            if lsb == 1 {
                crc ^= 0xA001;
            }
        }
    }
    crc.to_le_bytes()
}

fn frame(mut body: Vec<u8>) -> Vec<u8> {
    let c = crc(&body);
    body.extend_from_slice(&c);
    body
}

/// A read-holding-registers reply from `unit` with every register set to `value`.
fn registers_reply(unit: u8, count: u16, value: u16) -> Vec<u8> {
    let mut body = vec![unit, 3, (count * 2) as u8];
    for _ in 0..count {
        body.extend_from_slice(&value.to_be_bytes());
    }
    frame(body)
}

/// Reads one request (always 8 bytes for function 3): unit and register count.
async fn read_request(port: &mut SerialStream) -> (u8, u16) {
    let mut request = [0u8; 8];
    port.read_exact(&mut request).await.unwrap();
    assert_eq!(
        crc(&request[..6]),
        [request[6], request[7]],
        "a request with a bad CRC"
    );
    assert_eq!(request[1], 3, "function 3 expected: {request:02X?}");
    (request[0], u16::from_be_bytes([request[4], request[5]]))
}

async fn hostile(
    mut port: SerialStream,
    how: Misbehaviour,
    timeout: Duration,
    gave_up: Arc<Notify>,
) {
    let (unit, count) = read_request(&mut port).await;
    let poison = registers_reply(unit, count, POISON);
    let bad = match how {
        Misbehaviour::CrcError => {
            let mut f = poison.clone();
            let n = f.len();
            f[n - 1] ^= 0x5A;
            f
        }
        Misbehaviour::Truncated => poison[..poison.len() - 2].to_vec(),
        Misbehaviour::Garbage => vec![0xFF; 12],
        Misbehaviour::WrongUnit => registers_reply(unit + 1, count, POISON),
        Misbehaviour::Late => {
            // Sent once the source has reported the timeout (it then backs off, its next
            // request still to come).
            gave_up.notified().await;
            poison.clone()
        }
        Misbehaviour::Trickling => {
            port.write_all(&poison[..3]).await.unwrap();
            // A byte every 5 ms until 100 ms after the source's timeout: the line is busy when
            // the source gives up, and the drain must wait for it to fall silent.
            let until = tokio::time::Instant::now() + timeout + Duration::from_millis(100);
            while tokio::time::Instant::now() < until {
                port.write_all(&[0x00]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Vec::new()
        }
        Misbehaviour::Exception => frame(vec![unit, 0x83, 0x02]),
    };
    port.write_all(&bad).await.unwrap();
    loop {
        let (unit, count) = read_request(&mut port).await;
        port.write_all(&registers_reply(unit, count, GOOD))
            .await
            .unwrap();
    }
}

/// Runs the source against a misbehaving slave until it reads GOOD; returns its faults.
async fn against_hostile(how: Misbehaviour) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    let (master, _slave, path) = pty();
    let timeout = Duration::from_millis(200);
    let gave_up = Arc::new(Notify::new());
    tokio::spawn(hostile(master, how, timeout, gave_up.clone()));
    // For the late reply, a long backoff: the window in which the reply comes.
    let backoff = if how == Misbehaviour::Late {
        "backoff_min = \"500ms\"\nbackoff_max = \"500ms\""
    } else {
        "backoff_min = \"10ms\"\nbackoff_max = \"20ms\""
    };
    let device = device(&format!(
        r#"[[sources]]
type = "modbus"
device = "hostile"
serial = "{path}"
unit = 7
interval = "10ms"
timeout = "200ms"
{backoff}
fault_interval = "1ms"

[[sources.tags]]
name = "value"
address = "400001"
report = "every_poll"
"#
    ));
    let (tx, mut rx) = mpsc::channel(64);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(sources::modbus::run(device, Live::new(None), tx, stopping));
    let mut faults = Vec::new();
    loop {
        match next(&mut rx, deadline).await {
            Out::Read(_, values) => {
                assert_ne!(
                    value(&values, "value"),
                    Some(&Value::UInt(u64::from(POISON))),
                    "{how:?}: a bad or late reply was taken for a request"
                );
                assert_eq!(
                    values,
                    vec![("value".to_owned(), Value::UInt(u64::from(GOOD)))]
                );
                break;
            }
            Out::Fault(_, m) => {
                if m.contains("no reply within") {
                    gave_up.notify_one();
                }
                faults.push(m);
            }
        }
    }
    stop.send_replace(true);
    task.await.unwrap();
    assert!(
        !faults.is_empty(),
        "{how:?}: the misbehaviour raised no fault"
    );
    for f in &faults {
        assert!(
            f.contains("modbus device hostile (unit 7 at /dev/")
                && f.contains("read holding (function 3) at 400001 (address 0), count 1: "),
            "{how:?}: the fault does not name the device, unit and read: {f}"
        );
    }
    faults
}

#[tokio::test]
async fn a_reply_that_fails_its_crc_is_reported_as_such() {
    let faults = against_hostile(Misbehaviour::CrcError).await;
    assert!(
        faults[0].contains("no valid reply within 200ms: reply fails its CRC check (sent 0x"),
        "{faults:?}"
    );
    assert!(faults[0].contains("07 03 02 DE AD"), "{faults:?}");
    assert!(faults[0].contains("line drained"), "{faults:?}");
}

#[tokio::test]
async fn a_truncated_reply_is_refused() {
    let faults = against_hostile(Misbehaviour::Truncated).await;
    assert!(
        faults[0].contains("truncated reply (5 of 7 bytes): 07 03 02 DE AD"),
        "{faults:?}"
    );
}

#[tokio::test]
async fn noise_is_refused() {
    let faults = against_hostile(Misbehaviour::Garbage).await;
    assert!(
        faults[0].contains("12 bytes that are no reply to unit 7, function 3: FF FF"),
        "{faults:?}"
    );
}

#[tokio::test]
async fn a_reply_from_another_unit_is_refused() {
    let faults = against_hostile(Misbehaviour::WrongUnit).await;
    assert!(
        faults[0].contains("reply does not match the request"),
        "{faults:?}"
    );
}

#[tokio::test]
async fn a_late_reply_is_never_taken_for_the_next_request() {
    let faults = against_hostile(Misbehaviour::Late).await;
    assert!(
        faults[0].ends_with("no reply within 200ms; line drained (silent for 20ms)"),
        "{faults:?}"
    );
    assert_eq!(faults.len(), 1, "{faults:?}");
}

#[tokio::test]
async fn a_reply_that_goes_on_past_the_timeout_is_drained() {
    let faults = against_hostile(Misbehaviour::Trickling).await;
    assert!(
        faults[0].contains("no valid reply within 200ms: reply fails its CRC check"),
        "{faults:?}"
    );
    assert!(
        faults[0].contains("more bytes discarded until silent for 20ms)"),
        "{faults:?}"
    );
    assert_eq!(faults.len(), 1, "{faults:?}");
}

#[tokio::test]
async fn an_exception_is_a_fault_and_the_bus_goes_on() {
    let faults = against_hostile(Misbehaviour::Exception).await;
    assert!(
        faults[0].ends_with("read holding (function 3) at 400001 (address 0), count 1: exception 0x02 (Illegal data address)"),
        "{faults:?}"
    );
}

#[tokio::test]
async fn the_agent_starts_without_its_adapter_and_reads_once_it_is_plugged_in() {
    let deadline = Instant::now() + DEADLINE;
    let dir = tempfile::tempdir().unwrap();
    // A stable name, as udev gives one (/dev/serial/by-id/...): absent at start.
    let link = dir.path().join("ttyRS485");
    let path = link.to_str().unwrap().to_owned();
    let device = device(&press_source("usb-press", &path, 1, "200ms"));
    let live = Live::new(None);
    let (tx, mut rx) = mpsc::channel(64);
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(sources::modbus::run(device, live.clone(), tx, stopping));
    let state = || {
        live.devices()
            .into_iter()
            .find(|d| d.device == "usb-press")
            .map(|d| d.state)
    };
    match next(&mut rx, deadline).await {
        Out::Fault(_, m) => assert!(
            m.contains(&format!("cannot open serial port {path} (19200 8E1)")),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(state().as_deref(), Some("down"));

    // Plugged in: the name appears, a press behind it.
    let (master, slave, pts) = pty();
    std::os::unix::fs::symlink(&pts, &link).unwrap();
    let (_, server) = press_on(master, 1, 5);
    loop {
        match next(&mut rx, deadline).await {
            Out::Read(_, values) if value(&values, "good").is_some() => {
                assert_eq!(value(&values, "good"), Some(&Value::UInt(5)));
                break;
            }
            Out::Read(..) | Out::Fault(..) => {}
        }
    }
    assert_eq!(state().as_deref(), Some("connected"));

    // Unplugged (both ends gone), and plugged in again under the same name.
    server.abort();
    let _ = server.await;
    drop(slave);
    let (master, _slave, pts) = pty();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&pts, &link).unwrap();
    let _press = press_on(master, 1, 900);
    loop {
        match next(&mut rx, deadline).await {
            Out::Read(_, values) if value(&values, "good") == Some(&Value::UInt(900)) => break,
            Out::Read(..) | Out::Fault(..) => {}
        }
    }
    stop.send_replace(true);
    task.await.unwrap();
}
