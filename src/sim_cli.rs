//! `mes sim …`: the simulators on their own, for plant engineers setting up an edge and for
//! the demo.

use anyhow::Context;
use clap::Subcommand;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Subcommand)]
pub enum SimCommand {
    /// A press over Modbus TCP, or over Modbus RTU on a serial port with `--serial` (register
    /// map in edge-agent/src/sim/plc.rs; configs/edge-modbus.toml reads it).
    Plc {
        #[arg(long, default_value = "127.0.0.1:5020")]
        listen: SocketAddr,
        /// Serve Modbus RTU on this serial port instead of TCP (a build with `--features rtu`).
        #[arg(long, value_name = "PATH")]
        serial: Option<String>,
        /// Baud rate of the serial port.
        #[arg(long, default_value_t = 19_200, requires = "serial")]
        baud: u32,
        /// Parity of the serial port: even (the Modbus default), odd or none.
        #[arg(long, default_value = "even", requires = "serial")]
        parity: String,
        /// The simulated slave's unit id on the serial line (1 to 247).
        #[arg(long, default_value_t = 1, requires = "serial")]
        unit: u8,
        /// Time per part (e.g. `200ms`).
        #[arg(long, value_parser = crate::parse_duration, default_value = "200ms")]
        cycle: Duration,
        /// Delay every reply by this much (e.g. `300ms`): a slow PLC.
        #[arg(long, value_parser = crate::parse_duration)]
        slow: Option<Duration>,
        /// The counters' first value (65000 shows a 16-bit rollover soon).
        #[arg(long, default_value_t = 65_000)]
        start_count: u16,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// MQTT devices that count parts and change state: plain JSON topics
    /// (`PREFIX/press-N/counts`, `PREFIX/press-N/state`) or, with `--sparkplug`, a Sparkplug B
    /// edge node (group PREFIX) with its devices (configs/edge-mqtt.toml reads both).
    Mqtt {
        /// `mqtt://host:port`.
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        broker: String,
        #[arg(long, default_value = "plant/line-1")]
        prefix: String,
        #[arg(long, default_value_t = 3)]
        devices: u32,
        #[arg(long, value_parser = crate::parse_duration, default_value = "500ms")]
        cycle: Duration,
        #[arg(long)]
        sparkplug: bool,
        /// Sparkplug edge node id.
        #[arg(long, default_value = "gw-1")]
        node: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

pub async fn run(command: SimCommand) -> anyhow::Result<()> {
    match command {
        SimCommand::Plc {
            listen,
            serial,
            baud,
            parity,
            unit,
            cycle,
            slow,
            start_count,
            seed,
        } => {
            let options = edge_agent::sim::plc::PlcOptions {
                cycle: Some(cycle),
                start_count,
                slow,
                seed,
            };
            if let Some(path) = serial {
                return serve_rtu(path, baud, &parity, unit, options).await;
            }
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!(
                "simulated PLC (a press) serving Modbus TCP on {}",
                listener.local_addr()?
            );
            edge_agent::sim::plc::run(listener, options, crate::shutdown_signal()).await?;
            Ok(())
        }
        SimCommand::Mqtt {
            broker,
            prefix,
            devices,
            cycle,
            sparkplug,
            node,
            seed,
        } => {
            let addr = edge_agent::sources::mqtt::config::BrokerAddr::parse(&broker)
                .map_err(anyhow::Error::msg)?;
            if addr.tls {
                anyhow::bail!(
                    "broker {broker:?} must start with mqtt://: the simulator has no TLS"
                );
            }
            let (host, port) = (addr.host, addr.port);
            println!(
                "simulated MQTT devices publishing to {broker} ({})",
                if sparkplug { "Sparkplug B" } else { "JSON" }
            );
            let (stop, stopping) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                crate::shutdown_signal().await;
                stop.send_replace(true);
            });
            edge_agent::sim::mqtt::run(
                edge_agent::sim::mqtt::MqttSimOptions {
                    host,
                    port,
                    prefix,
                    devices,
                    cycle,
                    sparkplug,
                    node,
                    seed,
                },
                stopping,
            )
            .await
            .map_err(anyhow::Error::msg)
        }
    }
}

/// `mes sim plc --serial PATH`: the press as one slave on a serial line (Modbus RTU).
#[cfg(feature = "rtu")]
async fn serve_rtu(
    path: String,
    baud: u32,
    parity: &str,
    unit: u8,
    options: edge_agent::sim::plc::PlcOptions,
) -> anyhow::Result<()> {
    use edge_agent::config::modbus::{Parity, SerialLine};
    let parity = match parity.to_ascii_lowercase().as_str() {
        "even" => Parity::Even,
        "odd" => Parity::Odd,
        "none" => Parity::None,
        other => anyhow::bail!("--parity {other:?} is unknown; expected even, odd or none"),
    };
    if !(1..=247).contains(&unit) {
        anyhow::bail!("--unit {unit} is no slave address; expected 1 to 247");
    }
    if baud == 0 {
        anyhow::bail!("--baud 0 is no baud rate; expected e.g. 9600 or 19200");
    }
    let line = SerialLine {
        path,
        baud,
        parity,
        data_bits: 8,
        stop_bits: 1,
    };
    println!(
        "simulated PLC (a press) serving Modbus RTU as unit {unit} on {} ({})",
        line.path,
        line.settings()
    );
    let plc = edge_agent::sim::plc::Plc::new(&options);
    plc.serve_rtu_path(&line, unit, options, crate::shutdown_signal())
        .await
        .map_err(anyhow::Error::msg)
}

#[cfg(not(feature = "rtu"))]
async fn serve_rtu(
    path: String,
    _baud: u32,
    _parity: &str,
    _unit: u8,
    _options: edge_agent::sim::plc::PlcOptions,
) -> anyhow::Result<()> {
    anyhow::bail!(
        "cannot serve Modbus RTU on {path}: this build has no serial support; build with --features rtu"
    )
}
