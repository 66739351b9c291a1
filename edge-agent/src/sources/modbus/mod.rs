//! The Modbus source (TCP, RTU-over-TCP gateways, and RTU on a serial line with the `rtu`
//! feature): one task per device polls its groups, decodes the registers and hands raw readings
//! to the processor. It knows nothing of work orders.
//!
//! ```text
//!  per device (one task, one connection):
//!    connect (timeout) ──fail──> fault event (rate-limited), status down, wait backoff
//!        │ ok
//!        v
//!    at each group's due time: planned reads (plan.rs), each with the device's timeout
//!        │ all answered ──────────> Readings (changed values) ──mpsc──> processor
//!        │ exception ─────────────> fault event; the other reads go on; status degraded
//!        │ timeout / closed / a reply that does not match the request
//!        └──────────────────────> fault event; the connection is DROPPED and made anew
//! ```
//!
//! **Invariant:** a reply is only ever taken on the connection and for the request it answers.
//! After any timeout or malformed reply the connection is dropped, so a late reply can never be
//! read as the answer to a later request (tokio-modbus issue #324). Replies whose length does
//! not match the request are refused, never indexed.
//!
//! Writes (`write.rs`) are jobs handed to the device task by `processor/writeback.rs`; the task
//! runs one between two polls on the same connection (write, then read back), so the invariant
//! above holds for them too. A device without `[[sources.write]]` targets gets no jobs.
//!
//! Devices at hosts never wait on each other: each has its own task, and the only shared
//! resource is the bounded channel to the processor. Devices on one serial port share that
//! port's bus task (`bus.rs`), which serves their requests one at a time: a dead slave delays
//! the others by at most its timeout per request, and never while it backs off. On a serial
//! line a failed exchange drains the line instead of dropping a connection (`rtu.rs`), to the
//! same end: a late reply is never taken for a later request.

pub mod bus;
pub mod decode;
pub mod health;
pub mod plan;
#[cfg(feature = "rtu")]
pub mod rtu;
pub mod write;

use self::health::{FaultLimiter, Health, LinkState, PollOutcome};
use self::plan::{ReadRequest, plan_reads};
use self::write::{WriteJob, write_and_verify};
use super::{Reading, Readings, SourceMessage, Value};
use crate::backoff::Backoff;
use crate::config::modbus::{ModbusDevice, PollGroup, Report, Table, Tag, modicon};
use crate::live::{DeviceStatus, Live, RequestOutcome};
use crate::sources::tcp::{KeepAlive, set_keepalive};
use chrono::Utc;
use prometheus_client::metrics::counter::Counter;
use protocol::{EventBody, EventId, EventKind, Source};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_modbus::client::{Client, Context};
use tokio_modbus::{ExceptionCode, Request, Response, Slave};

/// Why one read failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// The device answered with a Modbus exception: the link is fine.
    Exception(ExceptionCode),
    /// The connection is no longer to be trusted: it is dropped.
    Transport(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Exception(e) => {
                write!(f, "exception 0x{:02X} ({e})", u8::from(*e))
            }
            ReadError::Transport(t) => f.write_str(t),
        }
    }
}

/// What one read returned: registers, or bits.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadData {
    Registers(Vec<u16>),
    Bits(Vec<bool>),
}

/// A device's way to its unit: one request, and its reply or exception, or why there was
/// none (the link is then not to be trusted until made anew).
pub trait Link: Send {
    /// Sends `request` and waits at most `timeout` from when it goes out for the reply.
    fn transact(
        &mut self,
        request: Request<'static>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Result<Response, ExceptionCode>, String>> + Send;
}

/// Modbus TCP (and RTU-over-TCP gateways): the connection is the device's own, so the timeout
/// runs from the call.
impl Link for Context {
    async fn transact(
        &mut self,
        request: Request<'static>,
        timeout: Duration,
    ) -> Result<Result<Response, ExceptionCode>, String> {
        match tokio::time::timeout(timeout, self.call(request)).await {
            Err(_) => Err(format!(
                "no reply within {}",
                protocol::duration::format(timeout)
            )),
            Ok(Err(e)) => Err(transport_message(&e)),
            Ok(Ok(answer)) => Ok(answer),
        }
    }
}

/// Sends one read and checks that the reply is the answer to it (function, length), within
/// `timeout`. Never panics on what the device sends.
pub async fn read<L: Link + ?Sized>(
    ctx: &mut L,
    table: Table,
    start: u16,
    count: u16,
    timeout: Duration,
) -> Result<ReadData, ReadError> {
    let request = match table {
        Table::Coils => Request::ReadCoils(start, count),
        Table::DiscreteInputs => Request::ReadDiscreteInputs(start, count),
        Table::InputRegisters => Request::ReadInputRegisters(start, count),
        Table::HoldingRegisters => Request::ReadHoldingRegisters(start, count),
    };
    let reply = match ctx.transact(request, timeout).await {
        Err(e) => return Err(ReadError::Transport(e)),
        Ok(Err(exception)) => return Err(ReadError::Exception(exception)),
        Ok(Ok(response)) => response,
    };
    let n = usize::from(count);
    let short = |got: usize| {
        ReadError::Transport(format!(
            "reply carries {got} values for a request of {n}; not taken"
        ))
    };
    match (table, reply) {
        (Table::Coils, Response::ReadCoils(mut bits))
        | (Table::DiscreteInputs, Response::ReadDiscreteInputs(mut bits)) => {
            // Bits come in whole bytes: up to 7 pad bits follow the last one asked for.
            if bits.len() < n || bits.len() >= n + 8 {
                return Err(short(bits.len()));
            }
            bits.truncate(n);
            Ok(ReadData::Bits(bits))
        }
        (Table::InputRegisters, Response::ReadInputRegisters(words))
        | (Table::HoldingRegisters, Response::ReadHoldingRegisters(words)) => {
            if words.len() != n {
                return Err(short(words.len()));
            }
            Ok(ReadData::Registers(words))
        }
        (_, other) => Err(ReadError::Transport(format!(
            "reply {other:?} does not answer a read of {}",
            table.name()
        ))),
    }
}

pub(crate) fn transport_message(e: &tokio_modbus::Error) -> String {
    match e {
        tokio_modbus::Error::Transport(io) => format!("transport error: {io}"),
        tokio_modbus::Error::Protocol(p) => match p {
            tokio_modbus::ProtocolError::HeaderMismatch { message, .. } => {
                format!("reply does not match the request (transaction id or unit): {message}")
            }
            tokio_modbus::ProtocolError::FunctionCodeMismatch { request, .. } => {
                format!("reply has another function code than the request ({request})")
            }
        },
    }
}

/// Resolves the host and connects, within `timeout`. The connection gets TCP keep-alive
/// ([`KeepAlive::default`]: a PLC that lost power is noticed within a minute even between
/// slow polls; every request also has its own timeout).
pub async fn connect(host: &str, unit: u8, timeout: Duration) -> Result<Context, String> {
    let attempt = async {
        let mut last = format!("{host} resolves to no address");
        for addr in tokio::net::lookup_host(host)
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
        {
            match open_stream(addr).await {
                Ok(stream) => {
                    return Ok(tokio_modbus::client::tcp::attach_slave(stream, Slave(unit)));
                }
                Err(e) => last = format!("connect to {addr} failed: {e}"),
            }
        }
        Err(last)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "connect to {host} took longer than {}",
            protocol::duration::format(timeout)
        )),
    }
}

/// Opens a device's TCP connection, with keep-alive on (a failure to set it is logged; the
/// connection is still used, with its per-request timeouts).
async fn open_stream(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    if let Err(e) = set_keepalive(&stream, &KeepAlive::default()) {
        tracing::warn!(%addr, error = %e, "cannot set TCP keep-alive on a modbus connection");
    }
    Ok(stream)
}

/// Keeps the last reported value per tag and says whether a new one is worth reporting.
#[derive(Debug, Default)]
pub struct ChangeFilter {
    last: HashMap<String, Value>,
}

impl ChangeFilter {
    pub fn should_report(&mut self, tag: &Tag, value: &Value) -> bool {
        let report = match (tag.report, self.last.get(&tag.name)) {
            (Report::EveryPoll, _) | (_, None) => true,
            (Report::OnChange, Some(last)) => match (tag.deadband, last.as_f64(), value.as_f64()) {
                (Some(band), Some(a), Some(b)) => (a - b).abs() > band,
                _ => last != value,
            },
        };
        if report {
            // The tag's entry is made once; later reports overwrite it in place.
            match self.last.get_mut(&tag.name) {
                Some(last) => last.clone_from(value),
                None => {
                    self.last.insert(tag.name.clone(), value.clone());
                }
            }
        }
        report
    }
}

/// Picks each tag's value out of the reads that carried it (lazily: a poll allocates nothing
/// for the tags it reads, only for the values it reports).
pub fn extract<'a>(
    tags: &'a [Tag],
    request: &'a ReadRequest,
    data: &'a ReadData,
) -> impl Iterator<Item = (usize, Result<Value, String>)> + 'a {
    request.tags.iter().map(move |&i| {
        let tag = &tags[i];
        let from = usize::from(tag.address - request.start);
        let width = usize::from(tag.width());
        let value = match data {
            ReadData::Bits(bits) => bits
                .get(from)
                .map(|b| Value::Bool(*b))
                .ok_or_else(|| "bit missing from the reply".to_owned()),
            ReadData::Registers(words) => match words.get(from..from + width) {
                Some(w) => decode::decode_registers(tag, w).map_err(|e| e.to_string()),
                None => Err("registers missing from the reply".to_owned()),
            },
        };
        (i, value)
    })
}

/// Polls one device until shutdown. Starts whether or not the device is reachable.
pub async fn run(
    device: ModbusDevice,
    live: Arc<Live>,
    to_processor: mpsc::Sender<SourceMessage>,
    shutdown: watch::Receiver<bool>,
) {
    run_with_writes(device, live, to_processor, None, shutdown).await
}

/// [`run`], also running the write jobs that arrive on `writes` (between two polls, once
/// connected; a job waits while the device is down). A serial device gets a bus of its own,
/// run in this task; devices that share a port go through [`run_device`] with the port's bus.
pub async fn run_with_writes(
    device: ModbusDevice,
    live: Arc<Live>,
    to_processor: mpsc::Sender<SourceMessage>,
    writes: Option<mpsc::Receiver<WriteJob>>,
    shutdown: watch::Receiver<bool>,
) {
    match device.serial.clone() {
        None => run_device(device, None, live, to_processor, writes, shutdown).await,
        Some(line) => {
            let (bus, task) = bus::serial_bus(line);
            let poll = run_device(
                device,
                Some(bus),
                live,
                to_processor,
                writes,
                shutdown.clone(),
            );
            tokio::join!(task.run(shutdown), poll);
        }
    }
}

/// Polls one device until shutdown: over its own TCP connection, or through `bus`, the bus
/// task of its serial port (`bus::SerialBuses` gives each serial device its port's).
pub async fn run_device(
    device: ModbusDevice,
    bus: Option<bus::BusHandle>,
    live: Arc<Live>,
    to_processor: mpsc::Sender<SourceMessage>,
    writes: Option<mpsc::Receiver<WriteJob>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut poller = Poller::new(device, live, to_processor);
    poller.jobs = writes;
    poller.bus = bus;
    tokio::select! {
        _ = poller.run() => {}
        _ = shutdown.wait_for(|s| *s) => {}
    }
}

/// A device's link while it is up.
enum Connection {
    /// Its own TCP connection: dropped after a failure.
    Tcp(Context),
    /// Its unit on a serial bus: the bus has drained the line after a failure.
    Bus(bus::BusLink),
}

impl Connection {
    /// What became of the link after a transport failure, for the fault message.
    fn after_failure(&self) -> &'static str {
        match self {
            Connection::Tcp(_) => "; connection dropped",
            Connection::Bus(_) => "",
        }
    }
}

impl Link for Connection {
    async fn transact(
        &mut self,
        request: Request<'static>,
        timeout: Duration,
    ) -> Result<Result<Response, ExceptionCode>, String> {
        match self {
            Connection::Tcp(ctx) => ctx.transact(request, timeout).await,
            Connection::Bus(link) => link.transact(request, timeout).await,
        }
    }
}

/// A device's `modbus_requests` counters, each looked up once: a lookup builds its labels
/// (two strings), which a poll should not do every time.
#[derive(Default)]
struct RequestCounters {
    ok: Option<Counter>,
    exception: Option<Counter>,
    transport_error: Option<Counter>,
}

impl RequestCounters {
    fn inc(&mut self, live: &Live, device: &str, outcome: &'static str) {
        let slot = match outcome {
            "ok" => &mut self.ok,
            "exception" => &mut self.exception,
            _ => &mut self.transport_error,
        };
        slot.get_or_insert_with(|| {
            live.metrics
                .modbus_requests
                .get_or_create(&RequestOutcome {
                    device: device.to_owned(),
                    outcome: outcome.to_owned(),
                })
                .clone()
        })
        .inc();
    }
}

struct Poller {
    device: ModbusDevice,
    live: Arc<Live>,
    requests: RequestCounters,
    to_processor: mpsc::Sender<SourceMessage>,
    plans: Vec<Vec<ReadRequest>>,
    health: Health,
    faults: FaultLimiter,
    backoff: Backoff,
    filter: ChangeFilter,
    detail: String,
    jobs: Option<mpsc::Receiver<WriteJob>>,
    /// The bus of a serial device's port.
    bus: Option<bus::BusHandle>,
}

/// The processor has gone: the source stops.
struct Closed;

impl Poller {
    fn new(
        device: ModbusDevice,
        live: Arc<Live>,
        to_processor: mpsc::Sender<SourceMessage>,
    ) -> Poller {
        let plans = device
            .groups
            .iter()
            .map(|g| plan_reads(&g.tags, device.max_gap_registers, device.max_gap_bits))
            .collect();
        Poller {
            faults: FaultLimiter::new(device.fault_interval),
            backoff: Backoff::new(device.backoff_min, device.backoff_max),
            device,
            live,
            requests: RequestCounters::default(),
            to_processor,
            plans,
            health: Health::new(),
            filter: ChangeFilter::default(),
            detail: "not yet connected".to_owned(),
            jobs: None,
            bus: None,
        }
    }

    /// Makes the device's link: connects to its host, or has its bus open the port.
    async fn open(&self) -> Result<Connection, String> {
        match &self.bus {
            None => connect(&self.device.host, self.device.unit, self.device.timeout)
                .await
                .map(Connection::Tcp),
            Some(bus) => bus.attach(self.device.unit).await.map(Connection::Bus),
        }
    }

    async fn run(&mut self) {
        self.show();
        let n_requests: usize = self.plans.iter().map(Vec::len).sum();
        tracing::info!(device = %self.device.device, host = %self.device.host, unit = self.device.unit,
            groups = self.device.groups.len(), requests_per_round = n_requests, "modbus device polling");
        let mut connection: Option<Connection> = None;
        let mut next_due: Vec<Instant> = vec![Instant::now(); self.device.groups.len()];
        loop {
            let Some(ctx) = connection.as_mut() else {
                match self.open().await {
                    Ok(ctx) => {
                        tracing::info!(device = %self.device.device, "modbus device connected");
                        connection = Some(ctx);
                        let now = Instant::now();
                        next_due.iter_mut().for_each(|d| *d = now);
                    }
                    Err(e) => {
                        if self.fault(e, PollOutcome::TransportFailed).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(self.backoff.fail(rand::random())).await;
                    }
                }
                continue;
            };
            let Some((g, due)) = next_due.iter().copied().enumerate().min_by_key(|(_, d)| *d)
            else {
                return;
            };
            let mut job = None;
            match self.jobs.as_mut() {
                Some(jobs) => tokio::select! {
                    j = jobs.recv() => match j {
                        Some(j) => job = Some(j),
                        None => {
                            self.jobs = None;
                            continue;
                        }
                    },
                    () = tokio::time::sleep_until(due) => {}
                },
                None => tokio::time::sleep_until(due).await,
            }
            if let Some(job) = job {
                let result =
                    write_and_verify(ctx, &self.device.writes, &job.values, self.device.timeout)
                        .await;
                let dropped = result.as_ref().is_err_and(|e| e.transport);
                self.requests.inc(
                    &self.live,
                    &self.device.device,
                    match &result {
                        Ok(()) => "ok",
                        Err(e) if e.transport => "transport_error",
                        Err(_) => "exception",
                    },
                );
                let _ = job.done.send(result);
                if dropped {
                    // Same rule as for reads: the link is not to be trusted any more.
                    self.health.record(PollOutcome::TransportFailed);
                    self.show();
                    connection = None;
                    tokio::time::sleep(self.backoff.fail(rand::random())).await;
                }
                continue;
            }
            let interval = self.device.groups[g].interval;
            let mut next = due + interval;
            let now = Instant::now();
            self.live
                .metrics
                .modbus_poll_lateness
                .observe(now.saturating_duration_since(due).as_secs_f64());
            if next <= now {
                // Late (a slow device): skip the missed rounds rather than bunching them.
                let behind = now.duration_since(next).as_nanos() / interval.as_nanos().max(1);
                next += interval * (behind as u32 + 1);
            }
            next_due[g] = next;
            match self.poll_group(ctx, g).await {
                Ok(true) => {}
                Ok(false) => {
                    // The link is not to be trusted: drop it, reconnect after a backoff.
                    connection = None;
                    tokio::time::sleep(self.backoff.fail(rand::random())).await;
                }
                Err(Closed) => return,
            }
        }
    }

    /// Reads one group. `Ok(false)` when the connection must be dropped.
    async fn poll_group(&mut self, ctx: &mut Connection, g: usize) -> Result<bool, Closed> {
        let at = Utc::now();
        let group: &PollGroup = &self.device.groups[g];
        let mut values = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        let mut broken: Option<String> = None;
        for request in &self.plans[g] {
            match read(
                ctx,
                request.table,
                request.start,
                request.count,
                self.device.timeout,
            )
            .await
            {
                Ok(data) => {
                    self.requests.inc(&self.live, &self.device.device, "ok");
                    for (i, value) in extract(&group.tags, request, &data) {
                        let tag = &group.tags[i];
                        match value {
                            Ok(v) => {
                                if self.filter.should_report(tag, &v) {
                                    values.push(Reading {
                                        tag: tag.name.clone(),
                                        value: v,
                                    });
                                }
                            }
                            Err(e) => refused.push(format!(
                                "tag {} at {}: {e}",
                                tag.name,
                                modicon(tag.table, tag.address, tag.bit)
                            )),
                        }
                    }
                }
                Err(e) => {
                    let transport = matches!(e, ReadError::Transport(_));
                    self.requests.inc(
                        &self.live,
                        &self.device.device,
                        if transport {
                            "transport_error"
                        } else {
                            "exception"
                        },
                    );
                    let what = format!(
                        "read {} (function {}) at {} (address {}), count {}: {e}",
                        request.table.name(),
                        request.table.function(),
                        modicon(request.table, request.start, None),
                        request.start,
                        request.count,
                    );
                    if transport {
                        broken = Some(format!("{what}{}", ctx.after_failure()));
                        break;
                    }
                    refused.push(what);
                }
            }
        }
        if !values.is_empty() {
            let message = SourceMessage::Readings(Box::new(Readings {
                device: self.device.device.clone(),
                at,
                values,
            }));
            self.to_processor.send(message).await.map_err(|_| Closed)?;
        }
        if let Some(message) = broken {
            self.fault(message, PollOutcome::TransportFailed).await?;
            return Ok(false);
        }
        if refused.is_empty() {
            self.backoff.succeed();
            if self.health.record(PollOutcome::AllRead).is_some() {
                self.faults.reset();
                self.detail = format!("{} unit {}", self.device.host, self.device.unit);
                self.show();
            }
        } else {
            self.backoff.succeed();
            self.fault(refused.join("; "), PollOutcome::SomeRefused)
                .await?;
        }
        Ok(true)
    }

    /// Records a failure: status, metrics and (rate-limited) a device-fault event.
    async fn fault(&mut self, message: String, outcome: PollOutcome) -> Result<(), Closed> {
        let text = format!(
            "modbus device {} (unit {} at {}): {message}",
            self.device.device, self.device.unit, self.device.host
        );
        self.health.record(outcome);
        self.detail = message;
        self.show();
        let Some(suppressed) = self.faults.admit(std::time::Instant::now()) else {
            tracing::debug!(device = %self.device.device, "{text}");
            return Ok(());
        };
        tracing::warn!(device = %self.device.device, "{text}");
        let message = if suppressed > 0 {
            format!("{text} ({suppressed} more faults since the last report)")
        } else {
            text
        };
        let body = EventBody {
            id: EventId(uuid::Uuid::now_v7()),
            at: Utc::now(),
            source: Source {
                device: Some(self.device.device.as_str().into()),
                station: self.device.station.as_deref().map(Into::into),
            },
            kind: EventKind::DeviceFault {
                device: self.device.device.as_str().into(),
                message,
            },
        };
        self.to_processor
            .send(SourceMessage::Event(Box::new(body)))
            .await
            .map_err(|_| Closed)
    }

    fn show(&self) {
        let state: LinkState = self.health.state();
        self.live
            .metrics
            .set_device_state(&self.device.device, state.gauge());
        self.live.set_device(DeviceStatus {
            device: self.device.device.clone(),
            station: self.device.station.clone(),
            state: state.as_str().to_owned(),
            detail: Some(self.detail.clone()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::modbus::{ByteOrder, DataType};

    fn tag(name: &str, address: u16, data_type: DataType) -> Tag {
        Tag {
            name: name.into(),
            table: Table::HoldingRegisters,
            address,
            bit: None,
            data_type,
            order: ByteOrder::Abcd,
            scale: None,
            offset: None,
            deadband: None,
            report: Report::OnChange,
            meaning: None,
        }
    }

    /// Issue 11: a PLC that lost power left a half-open connection; the device's connection
    /// now has keep-alive on.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn issue_11_the_connection_to_a_plc_has_keepalive() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = open_stream(listener.local_addr().unwrap()).await.unwrap();
        assert_eq!(
            crate::sources::tcp::keepalive_of(&stream).unwrap(),
            Some(KeepAlive::default())
        );
    }

    #[test]
    fn extract_picks_each_tag_and_refuses_a_short_reply() {
        let tags = vec![tag("a", 10, DataType::U16), tag("b", 12, DataType::U32)];
        let request = ReadRequest {
            table: Table::HoldingRegisters,
            start: 10,
            count: 4,
            tags: vec![0, 1],
        };
        let got: Vec<_> =
            extract(&tags, &request, &ReadData::Registers(vec![7, 0, 0, 9])).collect();
        assert_eq!(got, vec![(0, Ok(Value::UInt(7))), (1, Ok(Value::UInt(9)))]);
        let got: Vec<_> = extract(&tags, &request, &ReadData::Registers(vec![7, 0, 0])).collect();
        assert!(got[1].1.is_err());
    }

    #[test]
    fn change_filter_reports_changes_beyond_the_deadband() {
        let mut f = ChangeFilter::default();
        let mut t = tag("temp", 0, DataType::F32);
        t.deadband = Some(0.5);
        assert!(f.should_report(&t, &Value::Float(20.0)));
        assert!(!f.should_report(&t, &Value::Float(20.4)));
        assert!(!f.should_report(&t, &Value::Float(19.6)));
        assert!(f.should_report(&t, &Value::Float(20.6)));
        // Drift is measured from the last reported value, not the last read one.
        assert!(!f.should_report(&t, &Value::Float(21.0)));
        assert!(f.should_report(&t, &Value::Float(21.2)));
        let c = tag("count", 1, DataType::U16);
        assert!(f.should_report(&c, &Value::UInt(1)));
        assert!(!f.should_report(&c, &Value::UInt(1)));
        assert!(f.should_report(&c, &Value::UInt(2)));
        let mut e = tag("every", 2, DataType::U16);
        e.report = Report::EveryPoll;
        assert!(f.should_report(&e, &Value::UInt(1)));
        assert!(f.should_report(&e, &Value::UInt(1)));
    }
}
