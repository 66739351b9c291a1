//! The barcode scanner source against fake scanners the tests control: a TCP listener the agent
//! dials (`connect`), a TCP client that dials the agent (`listen`), and, with the
//! `serial-scanner` feature, a pseudo-terminal pair. The tests stand in for the processor: they
//! hold the receiving end of the source's channel and answer each scan's reply themselves.
//! Everything binds port 0; waits are for conditions, with a deadline.

use edge_agent::config::{EdgeConfig, SourceConfig};
use edge_agent::live::Live;
use edge_agent::processor::scan::{ScanOutcome, ScanResult};
use edge_agent::sources::scanner::{self, Scanner, ScannerConfig};
use edge_agent::sources::{ScanRequest, SourceMessage};
use protocol::EventKind;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn scanner(body: &str) -> Scanner {
    let config: ScannerConfig = toml::from_str(body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    config
        .validate()
        .unwrap_or_else(|m| panic!("{m:?}\n{body}"))
}

/// A running source with the test as its processor.
struct Source {
    from_source: mpsc::Receiver<SourceMessage>,
    live: Arc<Live>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn start(scanner: Scanner) -> Source {
    let (to_processor, from_source) = mpsc::channel(64);
    let (stop, stopping) = watch::channel(false);
    let live = Live::new(None);
    let task = tokio::spawn(scanner::run(scanner, live.clone(), to_processor, stopping));
    Source {
        from_source,
        live,
        stop,
        task,
    }
}

impl Source {
    async fn next(&mut self) -> SourceMessage {
        within("a message from the scanner source", self.from_source.recv())
            .await
            .expect("the source hung up")
    }

    async fn scan(&mut self) -> ScanRequest {
        match self.next().await {
            SourceMessage::Scan(s) => *s,
            SourceMessage::Event(e) => panic!("expected a scan, got {:?}", e.kind),
            other => panic!("expected a scan, got {other:?}"),
        }
    }

    /// The next device fault's message (and its station).
    async fn fault(&mut self) -> (String, Option<String>) {
        match self.next().await {
            SourceMessage::Event(e) => match e.kind {
                EventKind::DeviceFault { device, message } => {
                    assert_eq!(Some(&device), e.source.device.as_ref());
                    (message, e.source.station.map(|s| s.as_str().to_owned()))
                }
                other => panic!("expected a device fault, got {other:?}"),
            },
            SourceMessage::Scan(s) => panic!("expected a device fault, got a scan of {:?}", s.raw),
            other => panic!("expected a device fault, got {other:?}"),
        }
    }

    /// Waits until the status shows the device in `state`; returns its detail.
    async fn state(&self, device: &str, state: &str) -> String {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(d) = self
                .live
                .devices()
                .into_iter()
                .find(|d| d.device == device && d.state == state)
            {
                return d.detail.unwrap_or_default();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{device} never became {state}; devices: {:?}",
                    self.live.devices()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the source and checks that it ends.
    async fn stop(self) {
        self.stop.send_replace(true);
        within("the source to stop", self.task)
            .await
            .expect("the source task panicked");
    }
}

fn outcome(result: ScanResult) -> ScanOutcome {
    ScanOutcome {
        result,
        kind: None,
        action: None,
        lot: None,
        reason: (result != ScanResult::Accepted).then_some("unknown_code"),
        warning: None,
        message: format!("{result:?}"),
        params: BTreeMap::new(),
        seq: None,
        event_id: None,
    }
}

/// A fake scanner that the agent dials; accepts one connection at a time.
async fn fake_scanner() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn accept(listener: &TcpListener) -> TcpStream {
    within("the agent to connect", listener.accept())
        .await
        .unwrap()
        .0
}

fn client_config(addr: SocketAddr, extra: &str) -> Scanner {
    scanner(&format!(
        "name = \"scan-1\"\nstation = \"st-10\"\nconnect = \"{addr}\"\nbackoff_min = \"10ms\"\n\
         backoff_max = \"50ms\"\nfault_interval = \"0s\"\n{extra}"
    ))
}

/// Reads exactly `n` bytes the agent wrote back.
async fn read_reply(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    within("the agent's reply", stream.read_exact(&mut buf))
        .await
        .unwrap();
    buf
}

/// Nothing arrives within a short while. (Absence can only be shown by waiting; the test
/// holds the outcome back meanwhile, so anything written would be a bug.)
async fn nothing_written(stream: &mut TcpStream) {
    let mut buf = [0u8; 16];
    match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
        Err(_) => {}
        Ok(r) => panic!("the agent wrote before the outcome was known: {r:?} {buf:?}"),
    }
}

#[tokio::test]
async fn the_agent_as_client_reads_every_framing() {
    let cases: [(&str, &[&[u8]]); 5] = [
        ("cr", &[b"A-1\r", b"B-", b"2\rC-3\r"]),
        ("lf", &[b"A-1\nB-2\n", b"C-3\n"]),
        // CR LF split between two writes, and a scanner set to CR only: both work by default.
        ("crlf", &[b"A-1\r", b"\nB-2\r\n", b"C-3\r"]),
        ("etx", &[b"\x02A-1\x03\r\n\x02B-2\x03", b"\x02C-3", b"\x03"]),
        // A prefix and suffix the scanner adds are stripped.
        (
            "cr\"\nprefix = \"]Q3\"\nsuffix = \"#",
            &[b"]Q3A-1#\r]Q3B-2#\r]Q3C-3#\r"],
        ),
    ];
    for (framing, writes) in cases {
        let (listener, addr) = fake_scanner().await;
        let mut source = start(client_config(addr, &format!("framing = \"{framing}\"\n")));
        let mut device = accept(&listener).await;
        for w in writes {
            device.write_all(w).await.unwrap();
            device.flush().await.unwrap();
            // Separate segments where the OS allows it: the decoder must not care.
            tokio::task::yield_now().await;
        }
        for expected in ["A-1", "B-2", "C-3"] {
            let scan = source.scan().await;
            assert_eq!(scan.raw, expected, "framing {framing}");
            assert_eq!(scan.station.as_str(), "st-10");
            assert_eq!(scan.device.as_ref().map(|d| d.as_str()), Some("scan-1"));
            assert!(scan.reply.is_none(), "no ack/nak configured: nothing waits");
        }
        source.stop().await;
    }
}

#[tokio::test]
async fn a_gs1_code_keeps_its_group_separators() {
    let (listener, addr) = fake_scanner().await;
    let mut source = start(client_config(addr, ""));
    let mut device = accept(&listener).await;
    device
        .write_all(b"]C1010950600013435210ABC123\x1d17261231\r\n")
        .await
        .unwrap();
    let scan = source.scan().await;
    assert_eq!(scan.raw, "]C1010950600013435210ABC123\u{1d}17261231");
    source.stop().await;
}

#[tokio::test]
async fn the_agent_reconnects_after_the_scanner_drops() {
    let (listener, addr) = fake_scanner().await;
    let mut source = start(client_config(addr, ""));
    let mut device = accept(&listener).await;
    assert!(
        source
            .state("scan-1", "connected")
            .await
            .contains(&addr.to_string())
    );
    device.write_all(b"BEFORE\r\n").await.unwrap();
    assert_eq!(source.scan().await.raw, "BEFORE");
    // The scanner drops the connection in the middle of a code.
    device.write_all(b"HALF").await.unwrap();
    drop(device);
    let (message, station) = source.fault().await;
    assert!(
        message.starts_with("scanner scan-1: connection lost:"),
        "{message}"
    );
    assert!(message.contains("closed the connection"), "{message}");
    assert!(
        message.contains("4 bytes from byte 8 had no terminator"),
        "{message}"
    );
    assert_eq!(station.as_deref(), Some("st-10"));
    // The source dials again; the status shows it connected again once it has.
    let mut device = accept(&listener).await;
    source.state("scan-1", "connected").await;
    device.write_all(b"AFTER\r\n").await.unwrap();
    assert_eq!(source.scan().await.raw, "AFTER");
    source.stop().await;
}

#[tokio::test]
async fn a_scanner_down_at_start_is_a_fault_until_it_comes_up() {
    // A port nobody listens on (bound, then closed).
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut source = start(client_config(addr, ""));
    let (message, _) = source.fault().await;
    assert!(
        message.contains(&format!("cannot connect to {addr}")),
        "{message}"
    );
    assert!(
        source
            .state("scan-1", "down")
            .await
            .contains("cannot connect")
    );
    // The scanner comes up on that port: the source finds it.
    let listener = TcpListener::bind(addr).await.unwrap();
    let mut device = accept(&listener).await;
    source.state("scan-1", "connected").await;
    device.write_all(b"UP\r").await.unwrap();
    // Faults from the failed attempts may still be queued before the scan.
    loop {
        match source.next().await {
            SourceMessage::Scan(s) => {
                assert_eq!(s.raw, "UP");
                break;
            }
            SourceMessage::Event(e) => {
                assert!(matches!(e.kind, EventKind::DeviceFault { .. }), "{e:?}")
            }
            other => panic!("{other:?}"),
        }
    }
    source.stop().await;
}

#[tokio::test]
async fn garbage_and_over_long_codes_are_faults_and_the_source_goes_on() {
    let (listener, addr) = fake_scanner().await;
    let mut source = start(client_config(addr, "max_len = 16\nnak = \"\\u0015\"\n"));
    let mut device = accept(&listener).await;
    // Not UTF-8 (a wrong baud rate looks like this).
    device.write_all(b"AB\xff\xfeCD\r\n").await.unwrap();
    let (message, station) = source.fault().await;
    assert!(message.contains("is not UTF-8"), "{message}");
    assert!(message.contains("0xFF 0xFE at offset 2"), "{message}");
    assert!(message.contains("at byte 0"), "{message}");
    assert_eq!(station.as_deref(), Some("st-10"));
    assert_eq!(
        read_reply(&mut device, 1).await,
        [0x15],
        "the scanner is told no"
    );
    // Far longer than max_len, in pieces: reported once, nothing buffered, then the next code.
    for _ in 0..100 {
        device.write_all(&[b'x'; 1000]).await.unwrap();
    }
    let (message, _) = source.fault().await;
    assert!(
        message.contains("no terminator within max_len 16 bytes"),
        "{message}"
    );
    assert!(message.contains("at byte 8"), "{message}");
    assert_eq!(read_reply(&mut device, 1).await, [0x15]);
    device.write_all(b"\r\nGOOD\r\n").await.unwrap();
    let scan = source.scan().await;
    assert_eq!(scan.raw, "GOOD", "the source kept running");
    // Only a nak is configured, so an accepted scan gets no reply; a refused one gets the nak.
    scan.reply
        .expect("nak configured: the source waits for the outcome")
        .send(outcome(ScanResult::Accepted))
        .unwrap();
    device.write_all(b"NEXT\r\n").await.unwrap();
    let next = source.scan().await;
    next.reply
        .unwrap()
        .send(outcome(ScanResult::Rejected))
        .unwrap();
    assert_eq!(read_reply(&mut device, 1).await, [0x15]);
    assert_eq!(
        source.state("scan-1", "connected").await,
        format!("connected to {addr}")
    );
    source.stop().await;
}

#[tokio::test]
async fn ack_and_nak_are_written_only_after_the_outcome_in_scan_order() {
    let (listener, addr) = fake_scanner().await;
    let mut source = start(client_config(
        addr,
        "framing = \"etx\"\nack = \"\\u0006\"\nnak = \"\\u0015OK?\"\n",
    ));
    let mut device = accept(&listener).await;
    // Three codes in one write.
    device
        .write_all(b"\x02ITEM-1\x03\x02ITEM-2\x03\x02ITEM-3\x03")
        .await
        .unwrap();
    let first = source.scan().await;
    assert_eq!(first.raw, "ITEM-1");
    // Until the outcome is known, nothing goes back and the next code waits.
    nothing_written(&mut device).await;
    assert!(
        source.from_source.try_recv().is_err(),
        "the next code was handed over before this one's outcome"
    );
    first
        .reply
        .unwrap()
        .send(outcome(ScanResult::Accepted))
        .unwrap();
    assert_eq!(read_reply(&mut device, 1).await, [0x06]);

    let second = source.scan().await;
    assert_eq!(second.raw, "ITEM-2");
    nothing_written(&mut device).await;
    second
        .reply
        .unwrap()
        .send(outcome(ScanResult::NotStored))
        .unwrap();
    assert_eq!(read_reply(&mut device, 4).await, b"\x15OK?");

    // The processor drops the reply: nothing says it was stored, so no.
    let third = source.scan().await;
    assert_eq!(third.raw, "ITEM-3");
    drop(third.reply);
    assert_eq!(read_reply(&mut device, 4).await, b"\x15OK?");
    source.stop().await;
}

#[tokio::test]
async fn a_source_waiting_for_an_outcome_stops_when_asked() {
    let (listener, addr) = fake_scanner().await;
    let mut source = start(client_config(addr, "ack = \"\\u0006\"\n"));
    let mut device = accept(&listener).await;
    device.write_all(b"PENDING\r\n").await.unwrap();
    let pending = source.scan().await;
    source.stop().await;
    drop(pending);
}

/// The address the listening source bound, from its status.
async fn listening_on(source: &Source, device: &str) -> SocketAddr {
    let detail = source.state(device, "down").await;
    let addr = detail
        .strip_prefix("listening on ")
        .and_then(|d| d.split(';').next())
        .unwrap_or_else(|| panic!("{detail}"));
    addr.parse().unwrap()
}

/// Connects to `to` from the loopback address `from` (Linux routes all of 127/8 locally).
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    within("connecting to the agent", socket.connect(to))
        .await
        .unwrap()
}

#[tokio::test]
async fn the_agent_as_server_binds_each_scanner_to_its_peers_station() {
    let mut source = start(scanner(
        "name = \"gate\"\nlisten = \"127.0.0.1:0\"\nframing = \"cr\"\nfault_interval = \"0s\"\n\
         ack = \"\\u0006\"\n[peers]\n\"127.0.0.2\" = \"st-20\"\n\"127.0.0.3\" = \"st-30\"\n",
    ));
    let addr = listening_on(&source, "gate").await;

    // 127.0.0.1 is not in the table: refused (the agent closes the connection at once).
    let mut stranger = connect_from("127.0.0.1", addr).await;
    let mut buf = [0u8; 8];
    let n = within("the refusal", stranger.read(&mut buf)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");

    // Two known scanners at once, each bound to its own station.
    let mut s20 = connect_from("127.0.0.2", addr).await;
    let mut s30 = connect_from("127.0.0.3", addr).await;
    s20.write_all(b"FROM-20\r").await.unwrap();
    let scan = source.scan().await;
    assert_eq!(
        (scan.raw.as_str(), scan.station.as_str()),
        ("FROM-20", "st-20")
    );
    scan.reply
        .unwrap()
        .send(outcome(ScanResult::Accepted))
        .unwrap();
    assert_eq!(read_reply(&mut s20, 1).await, [0x06]);
    s30.write_all(b"FROM-30\r").await.unwrap();
    let scan = source.scan().await;
    assert_eq!(
        (scan.raw.as_str(), scan.station.as_str()),
        ("FROM-30", "st-30")
    );
    assert_eq!(scan.device.as_ref().map(|d| d.as_str()), Some("gate"));
    // s30 waits for its outcome; s20 is not held up by it.
    s20.write_all(b"AGAIN-20\r").await.unwrap();
    let again = source.scan().await;
    assert_eq!(
        (again.raw.as_str(), again.station.as_str()),
        ("AGAIN-20", "st-20")
    );
    scan.reply
        .unwrap()
        .send(outcome(ScanResult::Accepted))
        .unwrap();
    assert_eq!(read_reply(&mut s30, 1).await, [0x06]);
    again
        .reply
        .unwrap()
        .send(outcome(ScanResult::Accepted))
        .unwrap();
    assert_eq!(read_reply(&mut s20, 1).await, [0x06]);

    let detail = source.state("gate", "connected").await;
    assert!(
        detail.contains("127.0.0.2:") && detail.contains("127.0.0.3:"),
        "{detail}"
    );

    // A scanner that goes away is a fault naming it and its station; the other one goes on.
    drop(s20);
    let (message, station) = source.fault().await;
    assert!(
        message.starts_with("scanner gate: connection lost: 127.0.0.2:"),
        "{message}"
    );
    assert!(
        message.contains("(station st-20) closed the connection"),
        "{message}"
    );
    assert_eq!(station.as_deref(), Some("st-20"));
    s30.write_all(b"STILL-30\r").await.unwrap();
    let scan = source.scan().await;
    assert_eq!(scan.raw, "STILL-30");
    drop(scan);
    drop(s30);
    let _ = source.fault().await;
    assert!(
        source
            .state("gate", "down")
            .await
            .contains("no scanner connected")
    );
    source.stop().await;
}

#[tokio::test]
async fn the_agent_as_server_with_one_station_survives_a_garbage_sending_peer() {
    let mut source = start(scanner(
        "name = \"dock\"\nstation = \"st-dock\"\nlisten = \"127.0.0.1:0\"\nframing = \"lf\"\n\
         max_len = 32\nfault_interval = \"0s\"\n",
    ));
    let addr = listening_on(&source, "dock").await;
    let mut noisy = TcpStream::connect(addr).await.unwrap();
    let mut good = TcpStream::connect(addr).await.unwrap();
    noisy.write_all(&[0xC0; 40]).await.unwrap();
    noisy.write_all(b"\n\xC0\xC1\n").await.unwrap();
    let (too_long, _) = source.fault().await;
    assert!(too_long.contains("max_len 32"), "{too_long}");
    let (not_text, station) = source.fault().await;
    assert!(
        not_text.contains("bad bytes: 0xC0 0xC1 at offset 0 (check"),
        "{not_text}"
    );
    assert_eq!(station.as_deref(), Some("st-dock"));
    good.write_all(b"PALLET-7\n").await.unwrap();
    noisy.write_all(b"PALLET-8\n").await.unwrap();
    let mut raws = vec![source.scan().await, source.scan().await]
        .into_iter()
        .map(|s| {
            assert_eq!(s.station.as_str(), "st-dock");
            s.raw
        })
        .collect::<Vec<_>>();
    raws.sort();
    assert_eq!(raws, ["PALLET-7", "PALLET-8"]);
    source.stop().await;
}

#[tokio::test]
async fn scanner_config_mistakes_are_reported_with_their_lines() {
    let text = "edge_id = \"line-1\"\n[central]\nurl = \"http://127.0.0.1:9\"\ntoken = \"t\"\n\
        [[sources]]\ntype = \"scanner\"\nname = \"s1\"\nstation = \"st-1\"\nconnect = \"10.0.0.1\"\n\
        [[sources]]\ntype = \"scanner\"\nname = \"s2\"\nlisten = \"0.0.0.0:5000\"\n\
        [sources.peers]\n\"ten.zero\" = \"st-2\"\n\
        [[sources]]\ntype = \"scanner\"\nname = \"s1\"\nstation = \"st-3\"\nserial = \"/dev/ttyS0\"\nframing = \"etx\"\nmax_len = 0\n";
    let mistakes: Vec<String> = EdgeConfig::from_toml_str(text)
        .unwrap_err()
        .mistakes()
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert_eq!(
        mistakes,
        [
            "line 9: scanner \"s1\": connect \"10.0.0.1\" is not host:port (e.g. \"10.0.0.21:2001\")",
            "line 14: scanner \"s2\": peers key \"ten.zero\" is not an IP address",
            "line 22: scanner \"s1\": max_len is 0; expected 1 to 1048576",
        ]
    );
    let fine = text
        .replace("\"10.0.0.1\"", "\"10.0.0.1:2001\"")
        .replace("ten.zero", "10.0.0.2")
        .replace("max_len = 0\n", "")
        .replace(
            "name = \"s1\"\nstation = \"st-3\"",
            "name = \"s3\"\nstation = \"st-3\"",
        );
    let config = EdgeConfig::from_toml_str(&fine).unwrap();
    assert!(matches!(config.sources[2], SourceConfig::Scanner(_)));
    let twice = fine.replace("name = \"s3\"", "name = \"s1\"");
    let m = EdgeConfig::from_toml_str(&twice).unwrap_err().to_string();
    assert_eq!(m, "line 18: scanner \"s1\" is configured twice");
}

#[cfg(feature = "serial-scanner")]
#[tokio::test]
async fn a_serial_scanner_on_a_pseudo_terminal() {
    use tokio_serial::SerialPort;
    let (mut device, port) = tokio_serial::SerialStream::pair().expect("a pty pair");
    let path = port.name().expect("the pty has a name");
    let mut source = start(scanner(&format!(
        "name = \"rs232\"\nstation = \"st-5\"\nserial = \"{path}\"\nbaud = 9600\nframing = \"etx\"\n\
         ack = \"\\u0006\"\nnak = \"\\u0015\"\nfault_interval = \"0s\"\n"
    )));
    assert!(
        source
            .state("rs232", "connected")
            .await
            .contains("9600 baud")
    );
    device.write_all(b"\x02LOT-42\x1d99\x03").await.unwrap();
    let scan = source.scan().await;
    assert_eq!(
        (scan.raw.as_str(), scan.station.as_str()),
        ("LOT-42\u{1d}99", "st-5")
    );
    scan.reply
        .unwrap()
        .send(outcome(ScanResult::Accepted))
        .unwrap();
    let mut reply = [0u8; 1];
    within("the ack on the serial line", device.read_exact(&mut reply))
        .await
        .unwrap();
    assert_eq!(reply, [0x06]);
    device.write_all(b"\x02\xff\x03").await.unwrap();
    let (message, _) = source.fault().await;
    assert!(
        message.contains(&format!("from {path}")) && message.contains("0xFF"),
        "{message}"
    );
    within("the nak on the serial line", device.read_exact(&mut reply))
        .await
        .unwrap();
    assert_eq!(reply, [0x15]);
    source.stop().await;
    drop(port);
}

#[cfg(not(feature = "serial-scanner"))]
#[tokio::test]
async fn a_serial_scanner_without_the_feature_is_a_fault_not_a_crash() {
    let mut source = start(scanner(
        "name = \"rs232\"\nstation = \"st-5\"\nserial = \"/dev/ttyACM0\"\n",
    ));
    let (message, _) = source.fault().await;
    assert!(message.contains("--features serial-scanner"), "{message}");
    assert!(
        source
            .state("rs232", "down")
            .await
            .contains("without serial scanners")
    );
    source.stop().await;
}

#[test]
fn the_example_config_is_valid_also_with_its_serial_scanner() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/edge-scanner.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = EdgeConfig::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.sources.len(), 2);
    // Uncomment the serial scanner block (the commented lines after its heading).
    let (head, serial) = text.split_once("# [[sources]]").unwrap();
    let uncommented = format!(
        "{head}{}",
        format!("# [[sources]]{serial}")
            .replace("\n# ", "\n")
            .replacen("# ", "", 1)
    );
    let config =
        EdgeConfig::from_toml_str(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    let scanners: Vec<Scanner> = config
        .sources
        .iter()
        .map(|s| match s {
            SourceConfig::Scanner(s) => s.validate().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(matches!(
        &scanners[2].link,
        scanner::Link::Serial { path, baud: 9600, .. } if path == "/dev/ttyACM0"
    ));
}

/// Through a whole edge and the real scan processor: the scanner hears "yes" only once the
/// scan's event is in the journal, and "no" for a refusal that is stored too.
#[tokio::test]
async fn end_to_end_the_scanner_is_acknowledged_only_after_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let dead_central = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (listener, addr) = fake_scanner().await;
    let toml = format!(
        "edge_id = \"line-1\"\n[central]\nurl = \"http://{dead_central}\"\ntoken = \"t\"\n\
         [journal]\npath = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [[sources]]\ntype = \"scanner\"\nname = \"scan-1\"\nstation = \"st-10\"\n\
         connect = \"{addr}\"\nack = \"\\u0006\"\nnak = \"\\u0015\"\n",
        dir.path().join("journal.db").display()
    );
    let config = EdgeConfig::from_toml_str(&toml).unwrap();
    // The operator registry comes with the plan: a badge of it signs in.
    let plan: protocol::Plan = serde_json::from_value(serde_json::json!({
        "edge_id": "line-1", "version": 1, "published_at": "2026-01-01T00:00:00Z",
        "work_orders": [], "operators": [{"badge": "10442", "name": "Li Wei"}],
    }))
    .unwrap();
    let j = edge_agent::journal::open(config.journal.journal_config(&config.edge_id)).unwrap();
    j.save_plan(&plan).await.unwrap();
    j.shutdown().await.unwrap();
    let edge = edge_agent::topology::start(config).await.unwrap();
    let mut device = accept(&listener).await;

    // A badge the registry does not know: refused, the refusal stored, nak.
    device.write_all(b"(96)66666\r\n").await.unwrap();
    assert_eq!(read_reply(&mut device, 1).await, [0x15]);

    // An operator badge: accepted, and its event is committed before the ack goes out.
    device.write_all(b"(96)10442\r\n").await.unwrap();
    assert_eq!(read_reply(&mut device, 1).await, [0x06]);
    let events = edge
        .journal
        .read_after(protocol::Seq::ZERO, 100)
        .await
        .unwrap();
    let signed_in: Vec<&str> = events
        .iter()
        .map(|e| e.json.as_str())
        .filter(|j| j.contains("operator_signed_in"))
        .collect();
    assert_eq!(signed_in.len(), 1, "{events:?}");
    assert!(signed_in[0].contains("\"scan-1\"") && signed_in[0].contains("\"st-10\""));

    // Material with no work order running at the station: refused, the refusal stored, nak.
    device
        .write_all(b"(92)STEEL-2MM(93)L-778(94)25kg\r\n")
        .await
        .unwrap();
    assert_eq!(read_reply(&mut device, 1).await, [0x15]);
    let events = edge
        .journal
        .read_after(protocol::Seq::ZERO, 100)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.json.contains("scan_rejected") && e.json.contains("L-778")),
        "{events:?}"
    );
    assert!(
        edge.live
            .devices()
            .iter()
            .any(|d| d.device == "scan-1" && d.state == "connected")
    );
    within("the edge to shut down", edge.shutdown()).await;
}

#[tokio::test]
async fn a_listening_source_takes_at_most_max_connections_scanners() {
    let mut source = start(scanner(
        "name = \"many\"\nstation = \"st-1\"\nlisten = \"127.0.0.1:0\"\nfault_interval = \"0s\"\n",
    ));
    let addr = listening_on(&source, "many").await;
    let mut open = Vec::new();
    for _ in 0..scanner::MAX_CONNECTIONS {
        open.push(TcpStream::connect(addr).await.unwrap());
    }
    // Connections are taken in order: a scan from the last one means all of them were taken.
    open.last_mut().unwrap().write_all(b"LAST\r").await.unwrap();
    assert_eq!(source.scan().await.raw, "LAST");
    let mut one_too_many = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 8];
    let n = within("the refusal", one_too_many.read(&mut buf)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // One goes away; then there is room again.
    drop(open.pop());
    let (message, _) = source.fault().await;
    assert!(message.contains("closed the connection"), "{message}");
    let mut again = TcpStream::connect(addr).await.unwrap();
    again.write_all(b"ROOM\r").await.unwrap();
    assert_eq!(source.scan().await.raw, "ROOM");
    source.stop().await;
}

/// The TCP timer the kernel has armed on the connection from `local` to `remote`, from
/// `/proc/net/tcp`: 0 none, 1 retransmit, 2 keep-alive, 3 TIME_WAIT, 4 zero-window probe. An
/// idle connection with keep-alive on has its keep-alive timer armed; one without has none.
#[cfg(target_os = "linux")]
fn tcp_timer(local: SocketAddr, remote: SocketAddr) -> u8 {
    fn hex(addr: SocketAddr) -> String {
        let SocketAddr::V4(v4) = addr else {
            panic!("IPv4 only: {addr}")
        };
        let [a, b, c, d] = v4.ip().octets();
        format!("{d:02X}{c:02X}{b:02X}{a:02X}:{:04X}", v4.port())
    }
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()) {
            let timer = fields[5].split(':').next().unwrap();
            return u8::from_str_radix(timer, 16).unwrap();
        }
    }
    panic!("no connection {local} -> {remote} in /proc/net/tcp");
}

/// Issue 11: a scanner that lost power left a half-open connection the agent never noticed.
/// Every scanner connection now has TCP keep-alive, in both modes (and none when turned off).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn issue_11_scanner_connections_have_tcp_keepalive() {
    const KEEPALIVE: u8 = 2;
    // The agent dials: its end of the connection is the scanner's peer.
    let (listener, addr) = fake_scanner().await;
    let mut source = start(client_config(addr, ""));
    let mut device = accept(&listener).await;
    device.write_all(b"ONE\r").await.unwrap();
    assert_eq!(source.scan().await.raw, "ONE");
    let agent_end = device.peer_addr().unwrap();
    assert_eq!(tcp_timer(agent_end, addr), KEEPALIVE);
    // The test's own end has no keep-alive: the reading tells the two apart.
    assert_eq!(tcp_timer(addr, agent_end), 0);
    source.stop().await;

    // Turned off.
    let (listener, addr) = fake_scanner().await;
    let mut source = start(client_config(addr, "keepalive_idle = \"0s\"\n"));
    let mut device = accept(&listener).await;
    device.write_all(b"TWO\r").await.unwrap();
    assert_eq!(source.scan().await.raw, "TWO");
    assert_eq!(tcp_timer(device.peer_addr().unwrap(), addr), 0);
    source.stop().await;

    // Scanners dial the agent.
    let mut source = start(scanner(
        "name = \"gate\"\nstation = \"st-1\"\nlisten = \"127.0.0.1:0\"\n",
    ));
    let addr = listening_on(&source, "gate").await;
    let mut scanner_side = TcpStream::connect(addr).await.unwrap();
    scanner_side.write_all(b"THREE\r").await.unwrap();
    assert_eq!(source.scan().await.raw, "THREE");
    assert_eq!(
        tcp_timer(addr, scanner_side.local_addr().unwrap()),
        KEEPALIVE
    );
    source.stop().await;
}

/// Issue 11: a scanner that says nothing for `idle_timeout` is noticed: the agent closes the
/// connection, says so in the status, and dials again at once (no fault: it may just have had
/// nothing to read). The fake scanner keeps its end open and answers TCP, but never sends.
#[tokio::test]
async fn issue_11_a_silent_scanner_is_dialed_again_after_the_idle_timeout() {
    let (listener, addr) = fake_scanner().await;
    let mut source = start(client_config(addr, "idle_timeout = \"1s\"\n"));
    let mut silent = accept(&listener).await;
    silent.write_all(b"BEFORE\r").await.unwrap();
    assert_eq!(source.scan().await.raw, "BEFORE");
    // From now on the scanner says nothing. The agent closes its connection…
    let mut buf = [0u8; 8];
    let n = within(
        "the agent to close the silent connection",
        silent.read(&mut buf),
    )
    .await;
    assert!(matches!(n, Ok(0)), "{n:?}");
    // …and dials again.
    let mut again = accept(&listener).await;
    again.write_all(b"AFTER\r").await.unwrap();
    assert_eq!(
        source.scan().await.raw,
        "AFTER",
        "an idle timeout is no fault event"
    );
    let detail = source.state("scan-1", "connected").await;
    assert!(
        detail.contains("dialed again after 1s without data"),
        "{detail}"
    );
    source.stop().await;
}

/// Issue 11: in listen mode a silent scanner's connection is closed and its slot freed, and
/// the status says which one was closed.
#[tokio::test]
async fn issue_11_a_silent_scanner_connecting_in_is_closed_and_its_slot_freed() {
    let mut source = start(scanner(
        "name = \"gate\"\nstation = \"st-1\"\nlisten = \"127.0.0.1:0\"\nidle_timeout = \"1s\"\n",
    ));
    let addr = listening_on(&source, "gate").await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let detail = source.state("gate", "connected").await;
    assert!(detail.contains(&silent_addr.to_string()), "{detail}");
    let mut buf = [0u8; 8];
    let n = within(
        "the agent to close the silent connection",
        silent.read(&mut buf),
    )
    .await;
    assert!(matches!(n, Ok(0)), "{n:?}");
    let detail = source.state("gate", "down").await;
    assert!(detail.contains("no scanner connected"), "{detail}");
    assert!(
        detail.contains(&format!(
            "last closed {silent_addr} (station st-1) after 1s without data"
        )),
        "{detail}"
    );
    assert!(source.from_source.try_recv().is_err(), "no fault event");
    // A scanner that talks is served as before.
    let mut talking = TcpStream::connect(addr).await.unwrap();
    talking.write_all(b"HELLO\r").await.unwrap();
    assert_eq!(source.scan().await.raw, "HELLO");
    source.stop().await;
}
