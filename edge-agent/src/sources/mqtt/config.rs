//! The MQTT source's configuration (`[[sources]] type = "mqtt"`).

use super::rules::{RawRule, Rule};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` or `mqtts://host:port` (TLS).
    pub broker: String,
    /// The client id; with a persistent session the broker keeps QoS 1 messages for it while
    /// the agent is away. Must be unique per agent.
    pub client_id: String,
    /// `env:NAME` reads it from the environment.
    pub username: Option<String>,
    /// `env:NAME` reads it from the environment. `Debug` shows `Secret(***)`.
    pub password: Option<protocol::Secret>,
    /// PEM file of the CA that signed the broker's certificate (mqtts).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for brokers that authenticate clients by certificate.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    #[serde(default = "default_keep_alive", with = "protocol::duration")]
    pub keep_alive: Duration,
    /// QoS 1 messages in flight from the broker at once (acknowledged after commit).
    #[serde(default = "default_inflight")]
    pub inflight: u16,
    /// A message with a larger payload is refused (a device fault) and acknowledged, reading
    /// no more of it than its header. Between 1 KiB and 1 MiB; with the embedded broker, its
    /// own `max_payload_bytes` if that is larger. At most `inflight` messages of this size are
    /// in memory at once.
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: usize,
    /// The longest wait between two reconnects (the wait doubles from 200 ms, and starts
    /// again from there only after a connection that stayed up 30 s). 30 s by default; the
    /// soak (`mes soak`) sets it short so that a broker restarted a hundred times is reached
    /// again at once each time.
    #[serde(default = "default_reconnect_max", with = "protocol::duration")]
    pub reconnect_max: Duration,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// The bounds of `reconnect_max`.
const RECONNECT_MAX_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(200)..=Duration::from_secs(600);

fn default_reconnect_max() -> Duration {
    Duration::from_secs(30)
}

/// The default and the largest payload an MQTT source takes.
pub const DEFAULT_MAX_PAYLOAD: usize = 64 * 1024;
pub const MAX_MAX_PAYLOAD: usize = 1024 * 1024;

fn default_max_payload() -> usize {
    DEFAULT_MAX_PAYLOAD
}

fn default_keep_alive() -> Duration {
    Duration::from_secs(30)
}
fn default_inflight() -> u16 {
    100
}

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl BrokerAddr {
    /// Parses `mqtt://host[:port]` (1883) or `mqtts://host[:port]` (8883). Every place that
    /// names a broker (sources, line state, the simulator) reads it with this.
    pub fn parse(url: &str) -> Result<BrokerAddr, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(format!(
                "broker {url:?} must start with mqtt:// or mqtts://"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("broker {url:?}: port {p:?} is not a number"))?,
            ),
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() {
            return Err(format!("broker {url:?} names no host"));
        }
        Ok(BrokerAddr {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

impl MqttConfig {
    pub fn broker_addr(&self) -> Result<BrokerAddr, String> {
        BrokerAddr::parse(&self.broker)
    }

    /// Every mistake in this source's settings, each as one message.
    pub fn validate(&self) -> Result<(BrokerAddr, Vec<Rule>), Vec<String>> {
        let mut mistakes = Vec::new();
        let addr = self.broker_addr().map_err(|e| mistakes.push(e)).ok();
        if self.client_id.trim().is_empty() {
            mistakes.push("mqtt client_id must not be empty".into());
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            mistakes.push("mqtt client_cert and client_key go together".into());
        }
        if addr.as_ref().is_some_and(|a| !a.tls)
            && (self.ca_file.is_some() || self.client_cert.is_some())
        {
            mistakes.push("mqtt ca_file and client certificates need an mqtts:// broker".into());
        }
        if addr.as_ref().is_some_and(|a| a.tls) && self.ca_file.is_none() {
            mistakes.push(format!(
                "mqtt broker {} uses TLS and needs ca_file: the PEM file of the CA that signed \
                 the broker's certificate",
                self.broker
            ));
        }
        if !(1024..=MAX_MAX_PAYLOAD).contains(&self.max_payload_bytes) {
            mistakes.push(format!(
                "mqtt max_payload_bytes {} must be between 1024 and {MAX_MAX_PAYLOAD}",
                self.max_payload_bytes
            ));
        }
        if !RECONNECT_MAX_RANGE.contains(&self.reconnect_max) {
            mistakes.push(format!(
                "mqtt reconnect_max {:?} must be from 200ms to 10m",
                self.reconnect_max
            ));
        }
        if self.rules.is_empty() {
            mistakes.push("mqtt source has no rules; add [[sources.rules]]".into());
        }
        let mut rules = Vec::new();
        for (i, raw) in self.rules.iter().enumerate() {
            match raw.validate() {
                Ok(rule) => rules.push(rule),
                Err(errors) => {
                    for e in errors {
                        mistakes.push(format!("mqtt rule {} ({}): {e}", i + 1, raw.topic));
                    }
                }
            }
        }
        match addr {
            Some(addr) if mistakes.is_empty() => Ok((addr, rules)),
            _ => Err(mistakes),
        }
    }
}

/// Resolves `env:NAME` secrets when the source starts.
pub fn resolve_secret(value: &str) -> Result<String, String> {
    match value.strip_prefix("env:") {
        Some(var) => {
            std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))
        }
        None => Ok(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(broker: &str) -> MqttConfig {
        toml::from_str(&format!(
            r#"
broker = "{broker}"
client_id = "mes-line-1"
[[rules]]
topic = "plant/+/count"
device = "{{1}}"
payload = "plain"
yields = "count"
counter = "good"
"#
        ))
        .unwrap()
    }

    #[test]
    fn reconnect_max_is_30s_by_default_and_bounded() {
        let c = config("mqtt://127.0.0.1:1883");
        assert_eq!(c.reconnect_max, Duration::from_secs(30));
        let mut short = c.clone();
        short.reconnect_max = Duration::from_millis(500);
        assert!(short.validate().is_ok());
        for bad in [Duration::from_millis(100), Duration::from_secs(3600)] {
            let mut c = c.clone();
            c.reconnect_max = bad;
            let mistakes = c.validate().unwrap_err();
            assert!(
                mistakes.iter().any(|m| m.contains("reconnect_max")),
                "{mistakes:?}"
            );
        }
    }

    #[test]
    fn broker_addresses() {
        assert_eq!(
            config("mqtt://127.0.0.1:1883").broker_addr().unwrap(),
            BrokerAddr {
                host: "127.0.0.1".into(),
                port: 1883,
                tls: false
            }
        );
        assert_eq!(
            config("mqtts://broker.plant").broker_addr().unwrap().port,
            8883
        );
        assert!(
            config("tcp://x")
                .broker_addr()
                .unwrap_err()
                .contains("mqtt://")
        );
        assert!(
            config("mqtt://x:abc")
                .broker_addr()
                .unwrap_err()
                .contains("abc")
        );
    }

    #[test]
    fn validation_lists_every_mistake() {
        let mut c = config("mqtt://x");
        c.client_id = " ".into();
        c.ca_file = Some("ca.pem".into());
        c.rules[0].yields = "nonsense".into();
        let all = c.validate().unwrap_err().join("\n");
        for part in [
            "client_id",
            "mqtts://",
            "mqtt rule 1 (plant/+/count): yields",
        ] {
            assert!(all.contains(part), "{part} missing in {all}");
        }
        assert!(config("mqtt://x").validate().is_ok());
    }

    #[test]
    fn tls_needs_a_ca_file_and_a_certificate_needs_its_key() {
        let mut c = config("mqtts://broker.plant");
        c.client_cert = Some("line-4.pem".into());
        let all = c.validate().unwrap_err().join("\n");
        for part in [
            "mqtts://broker.plant uses TLS and needs ca_file",
            "client_key",
        ] {
            assert!(all.contains(part), "{part} missing in {all}");
        }
        c.ca_file = Some("ca.pem".into());
        c.client_key = Some("line-4.key".into());
        assert!(c.validate().is_ok());
    }
}
