//! `mes sim …`: the simulators on their own, for plant engineers setting up an edge and for
//! the demo.

use anyhow::Context;
use clap::Subcommand;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Subcommand)]
pub enum SimCommand {
    /// A press over Modbus TCP (register map in edge-agent/src/sim/plc.rs;
    /// configs/edge-modbus.toml reads it).
    Plc {
        #[arg(long, default_value = "127.0.0.1:5020")]
        listen: SocketAddr,
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
            cycle,
            slow,
            start_count,
            seed,
        } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!(
                "simulated PLC (a press) serving Modbus TCP on {}",
                listener.local_addr()?
            );
            let options = edge_agent::sim::plc::PlcOptions {
                cycle: Some(cycle),
                start_count,
                slow,
                seed,
            };
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
