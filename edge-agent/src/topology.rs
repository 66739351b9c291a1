//! The only place that creates channels and spawns the edge's tasks.
//!
//! ```text
//!  sources ──SourceMessage, mpsc 4096, full: source waits──> processor
//!  processor ──Vec<EventBody>, journal command queue 1024, full: processor waits──> journal
//!  journal ──committed seq, watch──> uplink ──EventBatch, HTTP──> central
//!  central ──Ack / seq_gap──> uplink ──ack(seq)──> journal            (acknowledgement back-edge)
//!  central ──Plan, HTTP long poll──> downlink ──save_plan──> journal ──> live plan (watch)
//!  live (plan, station counts, devices) ──andon, retained MQTT──> andon boards, HMIs
//! ```

use crate::config::{EdgeConfig, SourceConfig};
use crate::journal::{self, JournalError, JournalHandle};
use crate::live::Live;
use crate::sources::{self, SOURCE_CHANNEL_CAPACITY};
use crate::sync::{self, client::CentralClient};
use crate::terminal::{self, TerminalState};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the journal at {path}: {source}")]
    Journal {
        path: std::path::PathBuf,
        source: JournalError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up the link to central: {0}")]
    Client(String),
    #[error("{0}")]
    Broker(String),
    #[error("{0}")]
    Access(String),
    #[error("the edge agent stopped because a part of it failed: {0}")]
    Failed(String),
}

/// A running edge agent.
pub struct RunningEdge {
    pub http_addr: SocketAddr,
    pub journal: JournalHandle,
    pub live: Arc<Live>,
    stop_sources: watch::Sender<bool>,
    scan_gate: terminal::stations::ScanGate,
    stop_rest: watch::Sender<bool>,
    sources: Vec<JoinHandle<()>>,
    processor: JoinHandle<()>,
    rest: Vec<JoinHandle<()>>,
}

impl RunningEdge {
    /// Resolves when a part of the agent stopped when it should not have, with which and why.
    pub async fn failed(&self) -> String {
        self.live.first_failure().await
    }

    /// Events produced since start: by simulated machines, and derived by the processor from
    /// what PLCs and MQTT devices said.
    pub fn generated(&self) -> u64 {
        self.live.metrics.events_generated.get()
    }

    /// Stops the sources and waits until everything they produced is committed. The uplink
    /// keeps running.
    pub async fn stop_sources(&mut self) {
        self.stop_sources.send_replace(true);
        self.scan_gate.close();
        for s in self.sources.drain(..) {
            let _ = s.await;
        }
        // The processor ends once every sender is gone and its queue is committed.
        let processor = std::mem::replace(&mut self.processor, tokio::spawn(async {}));
        let _ = processor.await;
    }

    /// Stops everything in order: sources, then the processor (which commits what it has),
    /// then sync and HTTP, then the journal.
    pub async fn shutdown(mut self) {
        self.stop_sources().await;
        self.stop_rest.send_replace(true);
        for t in self.rest.drain(..) {
            let _ = t.await;
        }
        if let Err(e) = self.journal.shutdown().await {
            tracing::warn!(error = %e, "journal did not close cleanly");
        }
    }
}

/// Opens the journal, binds the HTTP listener and spawns every task.
pub async fn start(config: EdgeConfig) -> Result<RunningEdge, StartError> {
    let journal =
        journal::open(config.journal.journal_config(&config.edge_id)).map_err(|source| {
            StartError::Journal {
                path: config.journal.path.clone(),
                source,
            }
        })?;
    let plan = journal
        .load_plan()
        .await
        .map_err(|source| StartError::Journal {
            path: config.journal.path.clone(),
            source,
        })?;
    let live = Live::new(plan);
    let mut floor = crate::processor::restore_floor(&journal).await;
    floor.floor.limits = config.limits.clone();
    floor.floor.limits.retention =
        chrono::TimeDelta::from_std(config.journal.retention).unwrap_or(chrono::TimeDelta::days(7));
    live.set_floor(floor);
    let admin_token = match &config.http.admin_token {
        Some(token) => Some(
            token
                .resolve()
                .map_err(StartError::Client)?
                .expose()
                .to_owned(),
        ),
        None => None,
    };
    let access = terminal::access::Access::load(journal.clone(), &config.terminals, admin_token)
        .await
        .map_err(StartError::Access)?;
    let token = config.central.token.resolve().map_err(StartError::Client)?;
    let roots = match &config.central.ca_file {
        Some(ca_file) => Some(sync::client::trusted_roots(ca_file).map_err(StartError::Client)?),
        None => None,
    };
    let client = CentralClient::new(
        &config.central.url,
        token.expose(),
        config.edge_id.clone(),
        config.central.request_timeout,
        roots,
    )
    .map_err(|e| StartError::Client(e.to_string()))?;

    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.http.listen,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.http.listen,
        source,
    })?;

    if let Some(broker) = &config.mqtt_broker {
        let listen = broker.listen;
        // Before the sources, so an MQTT source of this edge finds it up.
        // Devices are let in once this edge's sources reading it have subscribed.
        let sources = config
            .sources
            .iter()
            .filter(|s| match s {
                // A source that cannot start never subscribes: not waited for.
                SourceConfig::Mqtt(mqtt) => {
                    mqtt.validate().is_ok()
                        && crate::sources::mqtt::config::BrokerAddr::parse(&mqtt.broker).is_ok_and(
                            |a| a.port == listen.port() && crate::broker::is_local(&a.host),
                        )
                }
                _ => false,
            })
            .count();
        // The edge's own MQTT clients connect past the front; no device may use their ids.
        let reserved = config
            .sources
            .iter()
            .filter_map(|s| match s {
                SourceConfig::Mqtt(mqtt) => Some(mqtt.client_id.clone()),
                _ => None,
            })
            .chain(config.line_state.iter().map(|l| l.client_id.clone()))
            .collect();
        crate::broker::start(broker, reserved, sources).map_err(StartError::Broker)?;
        tracing::info!(%listen, "embedded MQTT broker listening");
    }

    let (stop_sources, sources_stopping) = watch::channel(false);
    let (stop_rest, rest_stopping) = watch::channel(false);
    let generated = Arc::new(AtomicU64::new(0));

    let (to_processor, from_sources) = mpsc::channel(SOURCE_CHANNEL_CAPACITY);
    let mut source_tasks = Vec::new();
    // One bus task per serial port, shared by the Modbus RTU devices on it.
    let mut serial_buses = sources::modbus::bus::SerialBuses::default();
    for source in &config.sources {
        match source {
            SourceConfig::Simulated(sim) => {
                source_tasks.push(tokio::spawn(sources::simulated::run(
                    sim.clone(),
                    live.clone(),
                    to_processor.clone(),
                    generated.clone(),
                    sources_stopping.clone(),
                )))
            }
            SourceConfig::Modbus(modbus) => match modbus.device() {
                // One task per device: a slow or dead PLC never delays another.
                Ok(device) => {
                    // Writes only when configured: then a watcher of the plan hands the device
                    // task the work order's parameters (processor/writeback.rs).
                    let writes = if device.writes.is_empty() {
                        None
                    } else {
                        let (to_device, jobs) = mpsc::channel(4);
                        source_tasks.push(tokio::spawn(crate::processor::writeback::run(
                            device.clone(),
                            live.watch_plan(),
                            live.watch_floor(),
                            to_device,
                            to_processor.clone(),
                            journal.clone(),
                            sources_stopping.clone(),
                        )));
                        Some(jobs)
                    };
                    source_tasks.push(tokio::spawn(sources::modbus::run_device(
                        device.clone(),
                        serial_buses.handle(device),
                        live.clone(),
                        to_processor.clone(),
                        writes,
                        sources_stopping.clone(),
                    )))
                }
                Err(mistakes) => tracing::error!(
                    ?mistakes,
                    "modbus source not started: its configuration was not validated"
                ),
            },
            SourceConfig::Mqtt(mqtt) => {
                // The subscriber hands deliveries to a small forwarder, so it can be run and
                // tested on its own; at most `inflight` deliveries wait (the broker sends no
                // more unacknowledged messages than that).
                let (deliveries, mut delivered) = mpsc::channel(mqtt.inflight.max(1) as usize);
                let to_processor = to_processor.clone();
                source_tasks.push(tokio::spawn(async move {
                    while let Some(d) = delivered.recv().await {
                        if to_processor
                            .send(sources::SourceMessage::Mqtt(Box::new(d)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }));
                source_tasks.push(tokio::spawn(sources::mqtt::client::run(
                    mqtt.clone(),
                    deliveries,
                    live.clone(),
                    sources_stopping.clone(),
                )));
            }
            SourceConfig::Scanner(scanner) => match scanner.validate() {
                Ok(scanner) => source_tasks.push(tokio::spawn(sources::scanner::run(
                    scanner,
                    live.clone(),
                    to_processor.clone(),
                    sources_stopping.clone(),
                ))),
                Err(mistakes) => tracing::error!(
                    ?mistakes,
                    "scanner source not started: its configuration was not validated"
                ),
            },
        }
    }
    for bus in serial_buses.take_tasks() {
        source_tasks.push(tokio::spawn(bus.run(sources_stopping.clone())));
    }
    // The terminal's scans reach the processor through a gate that closes with the sources.
    let scan_gate = terminal::stations::ScanGate::new(to_processor.clone());
    drop(to_processor);
    let processor = spawn_part(
        "processor",
        &live,
        &sources_stopping,
        crate::processor::run(
            from_sources,
            journal.clone(),
            live.clone(),
            crate::processor::readings::Meanings::from_sources(&config.sources),
        ),
    );

    let mut rest = vec![
        spawn_part(
            "uplink",
            &live,
            &rest_stopping,
            sync::run_uplink(
                journal.clone(),
                client.clone(),
                live.clone(),
                config.central.clone(),
                config.edge_id.clone(),
                rest_stopping.clone(),
            ),
        ),
        spawn_part(
            "downlink",
            &live,
            &rest_stopping,
            sync::run_downlink(
                journal.clone(),
                client.clone(),
                live.clone(),
                config.central.clone(),
                rest_stopping.clone(),
            ),
        ),
        spawn_part(
            "status reporter",
            &live,
            &rest_stopping,
            sync::run_status_reporter(
                journal.clone(),
                client,
                live.clone(),
                config.central.clone(),
                config.edge_id.clone(),
                rest_stopping.clone(),
            ),
        ),
        spawn_part(
            "pruner",
            &live,
            &rest_stopping,
            run_pruner(
                journal.clone(),
                config.journal.prune_interval,
                rest_stopping.clone(),
            ),
        ),
    ];
    if let Some(line_state) = config.line_state.clone() {
        rest.push(tokio::spawn(crate::andon::run(
            line_state,
            live.clone(),
            rest_stopping.clone(),
        )));
    }
    let app = terminal::app(
        TerminalState {
            edge_id: config.edge_id.clone(),
            journal: journal.clone(),
            live: live.clone(),
            scans: scan_gate.clone(),
            stations: config_stations(&config),
            printers: config
                .stations
                .iter()
                .filter_map(|st| Some((st.id.as_str().into(), st.printer.clone()?)))
                .collect(),
            label_symbologies: config
                .stations
                .iter()
                .filter_map(|st| Some((st.id.as_str().into(), st.label?)))
                .collect(),
            access,
            allowed_hosts: Arc::new(config.http.allowed_hosts.clone()),
            streams: Arc::new(tokio::sync::Semaphore::new(config.http.max_event_streams)),
            stream_lifetime: config.http.stream_lifetime,
            health: crate::live::HealthRules {
                uplink_stalled_after: config.health.uplink_stalled_after,
            },
        },
        config.http.max_body_bytes,
    );
    rest.push(spawn_part(
        "http",
        &live,
        &rest_stopping,
        terminal::serve::serve(
            listener,
            app,
            terminal::serve::ServeLimits {
                max_connections: config.http.max_connections,
                idle_timeout: config.http.idle_timeout,
            },
            rest_stopping.clone(),
        ),
    ));
    tracing::info!(edge = %config.edge_id, http = %http_addr, central = %config.central.url, "edge agent started");
    Ok(RunningEdge {
        http_addr,
        journal,
        live,
        stop_sources,
        scan_gate,
        stop_rest,
        sources: source_tasks,
        processor,
        rest,
    })
}

/// Spawns one of the agent's parts. A part that panics, or ends while the agent is not
/// stopping, is reported to [`Live::part_failed`]: `/healthz` turns unhealthy and
/// [`RunningEdge::failed`] resolves, so `mes edge` exits non-zero and its service manager
/// restarts it, instead of an agent that looks alive and records nothing.
pub fn spawn_part<F>(
    name: &'static str,
    live: &Arc<Live>,
    stopping: &watch::Receiver<bool>,
    part: F,
) -> JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    use futures_util::FutureExt;
    let live = live.clone();
    let stopping = stopping.clone();
    tokio::spawn(async move {
        let ended = std::panic::AssertUnwindSafe(part).catch_unwind().await;
        match ended {
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                live.part_failed(name, &format!("panicked: {why}"));
            }
            Ok(()) if !*stopping.borrow() => live.part_failed(name, "ended on its own"),
            Ok(()) => {}
        }
    })
}

/// The stations the configuration binds devices to.
fn config_stations(config: &EdgeConfig) -> Vec<protocol::StationId> {
    let mut stations: Vec<protocol::StationId> = config
        .stations
        .iter()
        .map(|st| st.id.as_str().into())
        .collect();
    for source in &config.sources {
        match source {
            SourceConfig::Modbus(modbus) => {
                if let Ok(device) = modbus.device()
                    && let Some(station) = &device.station
                {
                    stations.push(station.as_str().into());
                }
            }
            SourceConfig::Scanner(scanner) => {
                stations.extend(scanner.station.iter().map(|s| s.as_str().into()));
                stations.extend(
                    scanner
                        .peers
                        .iter()
                        .flat_map(|peers| peers.values())
                        .map(|s| s.as_str().into()),
                );
            }
            SourceConfig::Simulated(_) | SourceConfig::Mqtt(_) => {}
        }
    }
    stations
}

/// Prunes acknowledged events past their retention, now and then.
async fn run_pruner(journal: JournalHandle, every: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        match journal.prune(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "pruned acknowledged events past retention"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// Runs an edge until `shutdown` resolves, then stops it in order.
pub async fn run(
    config: EdgeConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let edge = start(config).await?;
    let failed = tokio::select! {
        () = shutdown => None,
        why = edge.failed() => Some(why),
    };
    tracing::info!("edge agent stopping");
    edge.shutdown().await;
    match failed {
        None => Ok(()),
        Some(why) => Err(StartError::Failed(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: the processor panicked and the agent looked alive. A part that panics or
    /// ends on its own is a failure the agent reports (and exits on); a part that ends because
    /// the agent stops is not.
    #[tokio::test]
    async fn a_part_that_panics_or_ends_early_is_a_failure_and_one_that_is_stopped_is_not() {
        let live = Live::new(None);
        let (stop, stopping) = watch::channel(false);
        spawn_part("processor", &live, &stopping, async {
            panic!("attempt to add with overflow")
        })
        .await
        .unwrap();
        assert_eq!(
            live.failures(),
            vec!["processor stopped: panicked: attempt to add with overflow".to_owned()]
        );
        assert_eq!(
            live.first_failure().await,
            "processor stopped: panicked: attempt to add with overflow"
        );
        spawn_part("uplink", &live, &stopping, async {})
            .await
            .unwrap();
        assert_eq!(live.failures().len(), 2);
        assert_eq!(live.failures()[1], "uplink stopped: ended on its own");
        stop.send_replace(true);
        spawn_part("downlink", &live, &stopping, async {})
            .await
            .unwrap();
        assert_eq!(live.failures().len(), 2, "stopping is not failing");
    }
}
