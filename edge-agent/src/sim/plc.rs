//! `mes sim plc`: a press behind a Modbus TCP server (tokio-modbus), for the demo, the tests
//! and anyone without a PLC at hand; with the `rtu` feature also a slave on a serial line
//! (`mes sim plc --serial PATH`, tokio-modbus's RTU server), answering only its unit id.
//!
//! Register map (Modicon; the example `configs/edge-modbus.toml` reads exactly this):
//!
//! | address          | what                                                  | type            |
//! | ---------------- | ----------------------------------------------------- | --------------- |
//! | 400001           | good parts, rolls over at 65536                       | u16             |
//! | 400002           | scrapped parts, rolls over at 65536                   | u16             |
//! | 400003           | state: 0 off, 1 running, 2 idle, 3 down (jam), 4 down (tool change), 5 setup | u16 |
//! | 400004-400005    | all parts made, words swapped                         | u32, CDAB       |
//! | 400011-400020    | write-back area (target quantity, recipe, work order) | written, read back |
//! | 300001-300002    | hole diameter in mm                                   | f32, ABCD       |
//! | 000001           | running                                               | coil            |
//!
//! The press makes one part per cycle while running, scraps about 2 %, stops now and then
//! (jams, tool changes), idles a little. `slow` delays every reply; a test can also step the
//! press by hand, reset its counters, or make it answer with exceptions. Holding registers up to
//! 400128 exist (zero unless listed above); a benchmark can record when each request arrived
//! ([`Plc::record_arrivals`]).

use crate::config::modbus::{ByteOrder, DataType};
use crate::sources::Value;
use crate::sources::modbus::decode::encode_registers;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

pub const GOOD: u16 = 0;
pub const SCRAP: u16 = 1;
pub const STATE: u16 = 2;
pub const TOTAL: u16 = 3;
pub const WRITE_AREA: u16 = 10;
pub const DIAMETER: u16 = 0;
/// Holding registers 400001-400128: the map above, then plain registers (reading 100 registers
/// in one request, as the fleet benchmark does, needs at least that many).
const HOLDING_SIZE: usize = 128;

pub mod state {
    pub const OFF: u16 = 0;
    pub const RUNNING: u16 = 1;
    pub const IDLE: u16 = 2;
    pub const DOWN_JAM: u16 = 3;
    pub const DOWN_TOOL: u16 = 4;
    pub const SETUP: u16 = 5;
}

#[derive(Debug, Clone)]
pub struct PlcOptions {
    /// Time per part. `None`: the press moves only when stepped ([`Plc::step`]), for tests.
    pub cycle: Option<Duration>,
    /// The counters' first value (near 65535 to see a rollover soon).
    pub start_count: u16,
    /// Delay every reply by this much (a slow PLC, or one behind a congested gateway).
    pub slow: Option<Duration>,
    /// Seed for a reproducible press; random when absent.
    pub seed: Option<u64>,
}

impl Default for PlcOptions {
    fn default() -> Self {
        PlcOptions {
            cycle: Some(Duration::from_millis(200)),
            start_count: 65_000,
            slow: None,
            seed: None,
        }
    }
}

/// The press and its registers. Sans-I/O: [`Press::cycle`] advances one part time.
#[derive(Debug, Clone)]
pub struct Press {
    holding: Vec<u16>,
    diameter: f32,
    stopped_for: u32,
    /// Parts counted since start, never wrapping: the truth tests compare with.
    pub good_total: u64,
    pub scrap_total: u64,
}

impl Press {
    pub fn new(start_count: u16) -> Press {
        let mut p = Press {
            holding: vec![0; HOLDING_SIZE],
            diameter: 8.0,
            stopped_for: 0,
            good_total: 0,
            scrap_total: 0,
        };
        p.holding[usize::from(GOOD)] = start_count;
        p.holding[usize::from(SCRAP)] = start_count;
        p.holding[usize::from(STATE)] = state::RUNNING;
        p.set_total(u32::from(start_count));
        p
    }

    fn total(&self) -> u32 {
        let t = usize::from(TOTAL);
        // CDAB: low word first.
        u32::from(self.holding[t]) | u32::from(self.holding[t + 1]) << 16
    }

    fn set_total(&mut self, v: u32) {
        let words = encode_registers(DataType::U32, ByteOrder::Cdab, &Value::UInt(u64::from(v)));
        let t = usize::from(TOTAL);
        self.holding[t..t + 2].copy_from_slice(&words);
    }

    pub fn state(&self) -> u16 {
        self.holding[usize::from(STATE)]
    }

    pub fn set_state(&mut self, code: u16) {
        self.holding[usize::from(STATE)] = code;
    }

    /// Makes `good` good and `scrap` scrapped parts (the counters wrap like a PLC's).
    pub fn make(&mut self, good: u64, scrap: u64) {
        let g = usize::from(GOOD);
        let s = usize::from(SCRAP);
        self.holding[g] = self.holding[g].wrapping_add(good as u16);
        self.holding[s] = self.holding[s].wrapping_add(scrap as u16);
        self.set_total(self.total().wrapping_add((good + scrap) as u32));
        self.good_total += good;
        self.scrap_total += scrap;
    }

    /// The operator pressed reset (or the PLC lost its counters in a power cycle).
    pub fn reset_counters(&mut self) {
        self.holding[usize::from(GOOD)] = 0;
        self.holding[usize::from(SCRAP)] = 0;
    }

    /// One part time.
    pub fn cycle(&mut self, rng: &mut impl Rng) {
        match self.state() {
            state::RUNNING => {
                if rng.random_bool(0.01) {
                    let code = if rng.random_bool(0.7) {
                        state::DOWN_JAM
                    } else {
                        state::DOWN_TOOL
                    };
                    self.set_state(code);
                    self.stopped_for = rng.random_range(3..20);
                    return;
                }
                if rng.random_bool(0.005) {
                    self.set_state(state::IDLE);
                    self.stopped_for = rng.random_range(2..10);
                    return;
                }
                if rng.random_bool(0.02) {
                    self.make(0, 1);
                } else {
                    self.make(1, 0);
                }
                self.diameter = 8.0 + rng.random_range(-0.03..0.03);
            }
            state::OFF => {}
            _ => {
                self.stopped_for = self.stopped_for.saturating_sub(1);
                if self.stopped_for == 0 {
                    self.set_state(state::RUNNING);
                }
            }
        }
    }

    fn read_holding(&self, start: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        let (start, end) = (usize::from(start), usize::from(start) + usize::from(count));
        self.holding
            .get(start..end)
            .map(<[u16]>::to_vec)
            .ok_or(ExceptionCode::IllegalDataAddress)
    }

    fn read_input(&self, start: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        let words = encode_registers(
            DataType::F32,
            ByteOrder::Abcd,
            &Value::Float(f64::from(self.diameter)),
        );
        let (start, end) = (usize::from(start), usize::from(start) + usize::from(count));
        words
            .get(start..end)
            .map(<[u16]>::to_vec)
            .ok_or(ExceptionCode::IllegalDataAddress)
    }

    fn write(&mut self, start: u16, words: &[u16]) -> Result<(), ExceptionCode> {
        let start = usize::from(start);
        let area = usize::from(WRITE_AREA)..usize::from(WRITE_AREA) + 10;
        if start < area.start || start + words.len() > area.end {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        self.holding[start..start + words.len()].copy_from_slice(words);
        Ok(())
    }

    /// Answers one request as a PLC would.
    pub fn answer(&mut self, request: &Request<'_>) -> Result<Response, ExceptionCode> {
        match request {
            Request::ReadHoldingRegisters(a, n) => self
                .read_holding(*a, *n)
                .map(Response::ReadHoldingRegisters),
            Request::ReadInputRegisters(a, n) => {
                self.read_input(*a, *n).map(Response::ReadInputRegisters)
            }
            Request::ReadCoils(0, 1) => {
                Ok(Response::ReadCoils(vec![self.state() == state::RUNNING]))
            }
            Request::ReadCoils(..) | Request::ReadDiscreteInputs(..) => {
                Err(ExceptionCode::IllegalDataAddress)
            }
            Request::WriteSingleRegister(a, w) => self
                .write(*a, &[*w])
                .map(|()| Response::WriteSingleRegister(*a, *w)),
            Request::WriteMultipleRegisters(a, words) => self
                .write(*a, words)
                .map(|()| Response::WriteMultipleRegisters(*a, words.len() as u16)),
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }
}

/// A running simulated PLC: the press behind its registers, shared with the server.
#[derive(Clone)]
pub struct Plc {
    press: Arc<Mutex<Press>>,
    slow: Arc<Mutex<Option<Duration>>>,
    refuse: Arc<Mutex<Option<ExceptionCode>>>,
    /// When each request arrived, while recording (a benchmark measures poll jitter with it).
    arrivals: Arc<Mutex<Option<Vec<std::time::Instant>>>>,
}

impl Plc {
    pub fn new(options: &PlcOptions) -> Plc {
        Plc {
            press: Arc::new(Mutex::new(Press::new(options.start_count))),
            slow: Arc::new(Mutex::new(options.slow)),
            refuse: Arc::new(Mutex::new(None)),
            arrivals: Arc::new(Mutex::new(None)),
        }
    }

    /// Starts (or restarts, forgetting what was recorded) or stops recording the arrival time of
    /// every request.
    pub fn record_arrivals(&self, on: bool) {
        *self.arrivals.lock().unwrap_or_else(|e| e.into_inner()) = on.then(Vec::new);
    }

    /// The arrival times recorded since recording (re)started; recording goes on.
    pub fn take_arrivals(&self) -> Vec<std::time::Instant> {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Works on the press (a test steps it, resets its counters, reads the truth).
    pub fn with<T>(&self, f: impl FnOnce(&mut Press) -> T) -> T {
        f(&mut self.press.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_slow(&self, slow: Option<Duration>) {
        *self.slow.lock().unwrap_or_else(|e| e.into_inner()) = slow;
    }

    /// Answer every request with this exception (a PLC in STOP, say), or normally again.
    pub fn refuse_with(&self, exception: Option<ExceptionCode>) {
        *self.refuse.lock().unwrap_or_else(|e| e.into_inner()) = exception;
    }

    /// Serves Modbus TCP on `listener` until `shutdown` resolves, running the press every
    /// `cycle` if one is given.
    pub async fn serve(
        &self,
        listener: TcpListener,
        options: PlcOptions,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // The server wants a `Sync` signal; a oneshot receiver is one.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let watcher = tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(());
        });
        let shutdown = async move {
            let _ = stopped.await;
        };
        let runner = self.run_press(&options);
        let server = Server::new(listener);
        let plc = self.clone();
        let new_service = move |_addr| Ok(Some(Service { plc: plc.clone() }));
        let on_connected = move |stream, addr| {
            let new_service = new_service.clone();
            async move { accept_tcp_connection(stream, addr, new_service) }
        };
        let on_error = |e| tracing::debug!(error = %e, "simulated PLC: connection ended");
        let result = server.serve_until(&on_connected, on_error, shutdown).await;
        if let Some(r) = runner {
            r.abort();
        }
        watcher.abort();
        result.map(|_| ())
    }

    /// Serves Modbus RTU as slave `unit` on `port` until `shutdown` resolves, running the press
    /// every `cycle` if one is given. Requests to other units get no reply (they are another
    /// slave's on the same bus); broadcasts (unit 0) are carried out without one.
    ///
    /// tokio-modbus's server gives up on a port after a long run of bytes that are no request;
    /// then this returns the error, and [`Plc::serve_rtu_path`] opens the port again.
    #[cfg(feature = "rtu")]
    pub async fn serve_rtu(
        &self,
        port: tokio_serial::SerialStream,
        unit: u8,
        options: PlcOptions,
        shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    ) -> std::io::Result<()> {
        let runner = self.run_press(&options);
        let server = tokio_modbus::server::rtu::Server::new(port);
        let service = RtuService {
            plc: self.clone(),
            unit,
        };
        let result = server.serve_until(service, shutdown).await;
        if let Some(r) = runner {
            r.abort();
        }
        result.map(|_| ())
    }

    /// [`Plc::serve_rtu`] on the serial port `line` names, opened anew whenever the server
    /// gives up on it, until `shutdown`.
    #[cfg(feature = "rtu")]
    pub async fn serve_rtu_path(
        &self,
        line: &crate::config::modbus::SerialLine,
        unit: u8,
        options: PlcOptions,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let watcher = tokio::spawn(async move {
            shutdown.await;
            stop.send_replace(true);
        });
        let mut first = true;
        let result = loop {
            if *stopped.borrow() {
                break Ok(());
            }
            let port = match crate::sources::modbus::rtu::open_port(line) {
                Ok(p) => p,
                // At start, a wrong path is the user's to fix; later, the adapter may come back.
                Err(e) if first => break Err(e),
                Err(e) => {
                    tracing::warn!("simulated PLC: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            first = false;
            let mut until = stopped.clone();
            let stop = async move {
                let _ = until.wait_for(|s| *s).await;
            };
            if let Err(e) = self.serve_rtu(port, unit, options.clone(), stop).await {
                tracing::warn!(error = %e, "simulated PLC: serial server stopped; opening the port again");
            }
        };
        watcher.abort();
        result
    }

    /// Runs the press every `cycle`, if the options give one.
    fn run_press(&self, options: &PlcOptions) -> Option<tokio::task::JoinHandle<()>> {
        options.cycle.map(|cycle| {
            let plc = self.clone();
            let seed = options.seed;
            tokio::spawn(async move {
                let mut rng = match seed {
                    Some(s) => StdRng::seed_from_u64(s),
                    None => StdRng::from_rng(&mut rand::rng()),
                };
                let mut tick = tokio::time::interval(cycle);
                loop {
                    tick.tick().await;
                    plc.with(|p| p.cycle(&mut rng));
                }
            })
        })
    }

    /// Records the arrival, then answers as the press (or refuses, or is slow, as set).
    fn respond(
        &self,
        request: &Request<'_>,
    ) -> Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>> {
        if let Some(arrivals) = self
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            arrivals.push(std::time::Instant::now());
        }
        let refuse = *self.refuse.lock().unwrap_or_else(|e| e.into_inner());
        let answer = match refuse {
            Some(e) => Err(e),
            None => self.with(|p| p.answer(request)),
        };
        let slow = *self.slow.lock().unwrap_or_else(|e| e.into_inner());
        Box::pin(async move {
            if let Some(d) = slow {
                tokio::time::sleep(d).await;
            }
            answer
        })
    }
}

/// The press as slave `unit` on a serial line.
#[cfg(feature = "rtu")]
struct RtuService {
    plc: Plc,
    unit: u8,
}

#[cfg(feature = "rtu")]
impl tokio_modbus::server::Service for RtuService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        if req.slave == 0 {
            // A broadcast: carried out, never answered.
            let _ = self.plc.with(|p| p.answer(&req.request));
            return Box::pin(async { Ok(None) });
        }
        if req.slave != self.unit {
            return Box::pin(async { Ok(None) });
        }
        let answer = self.plc.respond(&req.request);
        Box::pin(async move { answer.await.map(Some) })
    }
}

/// `mes sim plc`: a press on `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    options: PlcOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let plc = Plc::new(&options);
    plc.serve(listener, options, shutdown).await
}

struct Service {
    plc: Plc,
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        self.plc.respond(&req.request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_press_counts_rolls_over_stops_and_comes_back() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut p = Press::new(65_500);
        let mut stops = 0;
        for _ in 0..5000 {
            let before = p.state();
            p.cycle(&mut rng);
            if before == state::RUNNING && p.state() != state::RUNNING {
                stops += 1;
            }
        }
        assert!(stops > 10, "{stops}");
        assert!(p.good_total > 3000);
        assert!(p.scrap_total > 20);
        assert_eq!(
            u64::from(p.holding[usize::from(GOOD)]),
            (65_500 + p.good_total) % 65_536,
            "the good counter wraps at 16 bits"
        );
        assert_eq!(u64::from(p.total()), 65_500 + p.good_total + p.scrap_total);
    }

    #[test]
    fn answers_like_a_plc() {
        let mut p = Press::new(7);
        assert_eq!(
            p.answer(&Request::ReadHoldingRegisters(0, 3)),
            Ok(Response::ReadHoldingRegisters(vec![7, 7, state::RUNNING]))
        );
        assert_eq!(
            p.answer(&Request::ReadHoldingRegisters(120, 10)),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            p.answer(&Request::WriteMultipleRegisters(10, vec![500, 17].into())),
            Ok(Response::WriteMultipleRegisters(10, 2))
        );
        assert_eq!(
            p.answer(&Request::ReadHoldingRegisters(10, 2)),
            Ok(Response::ReadHoldingRegisters(vec![500, 17]))
        );
        assert_eq!(
            p.answer(&Request::WriteSingleRegister(0, 1)),
            Err(ExceptionCode::IllegalDataAddress),
            "counters are not writable"
        );
        assert!(matches!(
            p.answer(&Request::ReadInputRegisters(0, 2)),
            Ok(Response::ReadInputRegisters(w)) if w.len() == 2
        ));
    }
}
