//! `[mqtt_broker]`: where the embedded broker listens, who may connect and what each device
//! may publish and subscribe to. Raw shape as written, then validated (every mistake listed).
//!
//! ```toml
//! [mqtt_broker]
//! listen = "0.0.0.0:1883"
//! [[mqtt_broker.devices]]
//! username = "press-1"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$…"   # or password = "env:PRESS_1_PASSWORD"
//! publish = ["plant/line-1/press-1/#"]
//! subscribe = ["plant/line-1/press-1/cmd"]
//! ```
//!
//! Passwords are kept in the file as argon2id hashes (PHC strings), so a copied or leaked
//! configuration gives nobody a device's login; `env:NAME` reads a password from the agent's
//! environment instead, for sites whose secrets live in a vault or a systemd credential.
//! A password written in the file itself is refused.

use crate::sources::mqtt::topic::TopicFilter;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The default and the largest payload the embedded broker takes from a device.
pub const DEFAULT_MAX_PAYLOAD: usize = 64 * 1024;
pub const MAX_MAX_PAYLOAD: usize = 1024 * 1024;

/// Bounds on the argon2id parameters of a password hash, so that one login cannot take the
/// gateway's memory or CPU (each verification allocates `m` KiB for a moment).
pub const MAX_ARGON2_M_KIB: u32 = 64 * 1024;
pub const MAX_ARGON2_T: u32 = 10;
pub const MAX_ARGON2_P: u32 = 4;

/// The longest device user name: it names the device in fault events, an id of the event
/// protocol.
pub const MAX_USERNAME: usize = protocol::bounds::MAX_ID_LEN;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrokerConfig {
    pub listen: SocketAddr,
    /// Let clients in without a user name or certificate, with every topic open to them.
    /// For trials only: anyone on the network can then post counts and scans.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// A PUBLISH with a larger payload is refused (a device fault), acknowledged and dropped.
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: usize,
    /// Listen with TLS instead of plain TCP.
    #[serde(default)]
    pub tls: Option<RawBrokerTls>,
    #[serde(default)]
    pub devices: Vec<toml::Spanned<RawDevice>>,
}

fn default_max_payload() -> usize {
    DEFAULT_MAX_PAYLOAD
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrokerTls {
    /// PEM certificate chain of the broker (the first one its own).
    pub cert_file: PathBuf,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA(s) whose client certificates log devices in: a certificate's common name or
    /// DNS subject alternative name is the device's user name.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub username: String,
    /// An argon2id hash in PHC form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// `env:NAME`: the password is in that environment variable.
    #[serde(default)]
    pub password: Option<String>,
    /// If set, the only MQTT client id this device may use.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Topic filters this device may publish to.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Topic filters this device may subscribe to (a subscription must lie inside one).
    #[serde(default)]
    pub subscribe: Vec<String>,
}

/// A validated `[mqtt_broker]`.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub listen: SocketAddr,
    pub allow_anonymous: bool,
    pub max_payload_bytes: usize,
    pub tls: Option<BrokerTls>,
    pub devices: Vec<DeviceAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

/// One device's login and topic rights.
#[derive(Debug, Clone)]
pub struct DeviceAccount {
    pub username: String,
    pub secret: Secret,
    pub client_id: Option<String>,
    pub publish: Vec<TopicFilter>,
    pub subscribe: Vec<TopicFilter>,
}

/// How a device proves who it is (besides a client certificate, which any device may use when
/// the broker has a `client_ca_file`).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// An argon2id PHC string.
    Hash(String),
    /// The password is in this environment variable (read when the broker starts).
    Env(String),
    /// Only a client certificate logs this device in.
    CertificateOnly,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Hash(_) => f.write_str("Secret(<argon2id hash>)"),
            Secret::Env(var) => write!(f, "Secret(env:{var})"),
            Secret::CertificateOnly => f.write_str("Secret(certificate only)"),
        }
    }
}

impl RawBrokerConfig {
    /// Validates; every mistake is one message, with the line of the device it concerns when
    /// there is one (`(line, message)`, the line from the device's span in `text`).
    pub fn validate(
        &self,
        line_of: impl Fn(std::ops::Range<usize>) -> Option<usize>,
    ) -> Result<BrokerConfig, Vec<(Option<usize>, String)>> {
        let mut mistakes = Vec::new();
        if !(1024..=MAX_MAX_PAYLOAD).contains(&self.max_payload_bytes) {
            mistakes.push((
                None,
                format!(
                    "mqtt_broker.max_payload_bytes {} must be between 1024 and {MAX_MAX_PAYLOAD}",
                    self.max_payload_bytes
                ),
            ));
        }
        let client_ca = self
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca_file.is_some());
        let mut devices = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for spanned in &self.devices {
            let line = line_of(spanned.span());
            let d = spanned.get_ref();
            match d.validate(client_ca) {
                Ok(account) => {
                    if !names.insert(account.username.clone()) {
                        mistakes.push((
                            line,
                            format!(
                                "mqtt_broker device {:?} is configured twice",
                                account.username
                            ),
                        ));
                    }
                    devices.push(account);
                }
                Err(errors) => mistakes.extend(
                    errors
                        .into_iter()
                        .map(|e| (line, format!("mqtt_broker device {:?}: {e}", d.username))),
                ),
            }
        }
        if !mistakes.is_empty() {
            return Err(mistakes);
        }
        Ok(BrokerConfig {
            listen: self.listen,
            allow_anonymous: self.allow_anonymous,
            max_payload_bytes: self.max_payload_bytes,
            tls: self.tls.as_ref().map(|t| BrokerTls {
                cert_file: t.cert_file.clone(),
                key_file: t.key_file.clone(),
                client_ca_file: t.client_ca_file.clone(),
            }),
            devices,
        })
    }
}

impl RawDevice {
    fn validate(&self, client_ca: bool) -> Result<DeviceAccount, Vec<String>> {
        let mut mistakes = Vec::new();
        let name = &self.username;
        if name.chars().any(char::is_whitespace)
            || protocol::bounds::check_id("username", name).is_err()
        {
            mistakes.push(format!(
                "username must be 1 to {MAX_USERNAME} bytes without spaces or control characters"
            ));
        }
        let secret = match (&self.password_hash, &self.password) {
            (Some(_), Some(_)) => {
                mistakes.push("give password_hash or password, not both".into());
                Secret::CertificateOnly
            }
            (Some(hash), None) => match check_hash(hash) {
                Ok(()) => Secret::Hash(hash.clone()),
                Err(e) => {
                    mistakes.push(format!("password_hash: {e}"));
                    Secret::CertificateOnly
                }
            },
            (None, Some(p)) => match p.strip_prefix("env:") {
                Some(var) if !var.is_empty() => Secret::Env(var.to_owned()),
                _ => {
                    mistakes.push(
                        "password must be \"env:NAME\" (the password in that environment \
                         variable), never the password itself; or write password_hash, an \
                         argon2id hash (e.g. `echo -n PASSWORD | argon2 SALT -id -e`)"
                            .into(),
                    );
                    Secret::CertificateOnly
                }
            },
            (None, None) if client_ca => Secret::CertificateOnly,
            (None, None) => {
                mistakes.push(
                    "no password_hash or password, and [mqtt_broker.tls] has no \
                     client_ca_file: this device could never log in"
                        .into(),
                );
                Secret::CertificateOnly
            }
        };
        if let Some(id) = &self.client_id
            && (id.is_empty() || id.len() > 256)
        {
            mistakes.push("client_id must be 1 to 256 bytes".into());
        }
        let mut filters = |list: &[String], what: &str| -> Vec<TopicFilter> {
            list.iter()
                .filter_map(|f| {
                    TopicFilter::parse(f)
                        .map_err(|e| mistakes.push(format!("{what}: {e}")))
                        .ok()
                })
                .collect()
        };
        let publish = filters(&self.publish, "publish");
        let subscribe = filters(&self.subscribe, "subscribe");
        if !mistakes.is_empty() {
            return Err(mistakes);
        }
        Ok(DeviceAccount {
            username: name.clone(),
            secret,
            client_id: self.client_id.clone(),
            publish,
            subscribe,
        })
    }
}

/// An argon2id PHC string with parameters this gateway can afford.
fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = argon2::PasswordHash::new(hash)
        .map_err(|e| format!("not a PHC password hash ({e}); expected $argon2id$v=19$m=…"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "algorithm {} is not argon2id",
            parsed.algorithm.as_str()
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err("the hash has no salt or no hash value".into());
    }
    let params =
        argon2::Params::try_from(&parsed).map_err(|e| format!("bad argon2id parameters: {e}"))?;
    if params.m_cost() > MAX_ARGON2_M_KIB
        || params.t_cost() > MAX_ARGON2_T
        || params.p_cost() > MAX_ARGON2_P
    {
        return Err(format!(
            "parameters m={},t={},p={} are over m={MAX_ARGON2_M_KIB},t={MAX_ARGON2_T},p={MAX_ARGON2_P}: \
             each login would take too much of the gateway",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    Ok(())
}

impl BrokerConfig {
    /// A broker on `listen` that lets anyone in with every topic open, as before devices had
    /// logins: for tests of other features only.
    pub fn anonymous(listen: SocketAddr) -> BrokerConfig {
        BrokerConfig {
            listen,
            allow_anonymous: true,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD,
            tls: None,
            devices: Vec::new(),
        }
    }

    /// Settings that work but are probably not meant: said loudly at start and by
    /// `mes check-config`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.allow_anonymous {
            out.push(format!(
                "mqtt_broker.allow_anonymous = true: ANY client that reaches {} can connect \
                 without a login and publish or subscribe to every topic (counts, states, \
                 scans that sign operators in); use it for trials only and give each device a \
                 [[mqtt_broker.devices]] login",
                self.listen
            ));
        }
        if !self.allow_anonymous && self.devices.is_empty() {
            out.push("mqtt_broker has no [[mqtt_broker.devices]]: no device can log in".to_owned());
        }
        for d in &self.devices {
            if d.publish.is_empty() && d.subscribe.is_empty() {
                out.push(format!(
                    "mqtt_broker device {:?} may neither publish nor subscribe to anything",
                    d.username
                ));
            }
        }
        out
    }
}

/// An argon2id hash of `password` in PHC form, with the default parameters (for tests and
/// tools; the agent only verifies).
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("the default parameters hash any password")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BrokerConfig, Vec<String>> {
        toml::from_str::<RawBrokerConfig>(text)
            .unwrap()
            .validate(|_| None)
            .map_err(|m| m.into_iter().map(|(_, m)| m).collect())
    }

    #[test]
    fn a_device_with_a_hash_and_topics() {
        let hash = hash_password("s3cret");
        let c = parse(&format!(
            r#"
listen = "127.0.0.1:1883"
[[devices]]
username = "press-1"
password_hash = "{hash}"
publish = ["plant/press-1/#"]
subscribe = ["plant/press-1/cmd"]
[[devices]]
username = "press-2"
password = "env:PRESS_2_PASSWORD"
publish = ["plant/press-2/#"]
"#
        ))
        .unwrap();
        assert!(!c.allow_anonymous, "credentials are required by default");
        assert_eq!(c.max_payload_bytes, DEFAULT_MAX_PAYLOAD);
        assert_eq!(c.devices.len(), 2);
        assert_eq!(c.devices[1].secret, Secret::Env("PRESS_2_PASSWORD".into()));
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        assert!(
            !format!("{c:?}").contains(&hash),
            "the hash stays out of Debug"
        );
    }

    #[test]
    fn every_mistake_is_listed() {
        let all = parse(
            r#"
listen = "127.0.0.1:1883"
max_payload_bytes = 10
[[devices]]
username = "a b"
password = "plain-text"
publish = ["a/#/b"]
[[devices]]
username = "c"
password_hash = "$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
[[devices]]
username = "d"
password_hash = "$argon2id$v=19$m=1048576,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
[[devices]]
username = "e"
[[devices]]
username = "f"
password = "env:F"
[[devices]]
username = "f"
password = "env:F"
"#,
        )
        .unwrap_err()
        .join("\n");
        for part in [
            "max_payload_bytes 10",
            "\"a b\": username",
            "never the password itself",
            "\"a b\": publish",
            "\"c\": password_hash: algorithm argon2i is not argon2id",
            "\"d\": password_hash: parameters m=1048576",
            "\"e\": no password_hash or password",
            "\"f\" is configured twice",
        ] {
            assert!(all.contains(part), "{part:?} missing in:\n{all}");
        }
    }

    #[test]
    fn anonymous_access_and_empty_logins_are_warned_about() {
        let c = parse("listen = \"127.0.0.1:1883\"\nallow_anonymous = true").unwrap();
        assert!(c.warnings()[0].contains("ANY client"));
        let c = parse("listen = \"127.0.0.1:1883\"").unwrap();
        assert!(c.warnings()[0].contains("no device can log in"));
    }

    #[test]
    fn the_commented_example_in_configs_edge_mqtt_toml_is_valid() {
        let text = include_str!("../../../configs/edge-mqtt.toml");
        let block: String = text
            .lines()
            .skip_while(|l| !l.contains("mqtt_broker example begins"))
            .skip(1)
            .take_while(|l| !l.contains("mqtt_broker example ends"))
            .map(|l| l.strip_prefix("# ").or(l.strip_prefix('#')).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        #[derive(serde::Deserialize)]
        struct Doc {
            mqtt_broker: RawBrokerConfig,
        }
        let doc: Doc = toml::from_str(&block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        let c = doc.mqtt_broker.validate(|_| None).unwrap();
        assert_eq!(c.devices.len(), 2);
        assert!(!c.allow_anonymous);
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    }

    #[test]
    fn with_a_client_ca_a_device_may_have_no_password() {
        let c = parse(
            r#"
listen = "127.0.0.1:8883"
tls = { cert_file = "b.pem", key_file = "b.key", client_ca_file = "ca.pem" }
[[devices]]
username = "press-1"
publish = ["plant/press-1/#"]
"#,
        )
        .unwrap();
        assert_eq!(c.devices[0].secret, Secret::CertificateOnly);
    }
}
