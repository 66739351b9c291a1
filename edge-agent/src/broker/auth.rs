//! Who is connecting to the embedded broker, and what they may do: logins (password or
//! client certificate), topic rights, client ids, and the slowing down of an address that
//! keeps failing. No I/O here; the front (`front.rs`) asks.

use super::config::{BrokerConfig, DeviceAccount, Secret};
use crate::sources::mqtt::topic::TopicFilter;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Who a connection is, once logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A configured device, by its index in the accounts.
    Device(usize),
    /// No login, in a broker with `allow_anonymous = true`.
    Anonymous,
}

/// Why a CONNECT is refused, as its CONNACK return code (MQTT 3.1.1, 3.2.2.3) says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 1: not MQTT 3.1.1.
    Protocol,
    /// 2: a client id that is not this client's to use.
    Identifier(String),
    /// 4: unknown user name or wrong password.
    BadLogin(String),
    /// 5: no login where one is needed, a certificate that names no device, a will outside
    /// the device's rights.
    NotAuthorized(String),
}

impl Refusal {
    pub fn code(&self) -> rumqttc::ConnectReturnCode {
        use rumqttc::ConnectReturnCode::*;
        match self {
            Refusal::Protocol => RefusedProtocolVersion,
            Refusal::Identifier(_) => BadClientId,
            Refusal::BadLogin(_) => BadUserNamePassword,
            Refusal::NotAuthorized(_) => NotAuthorized,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Refusal::Protocol => "not MQTT 3.1.1",
            Refusal::Identifier(r) | Refusal::BadLogin(r) | Refusal::NotAuthorized(r) => r,
        }
    }
}

/// What must still be checked once the login is known (a password costs time and memory:
/// the front does it off the runtime, one at a time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Nothing more: a verified certificate, or anonymous access.
    None,
    /// The password of this device.
    Password(usize),
}

/// The devices that may log in, with their resolved secrets.
pub struct Accounts {
    devices: Vec<DeviceAccount>,
    by_name: HashMap<String, usize>,
    /// Passwords read from the environment, by device index.
    env_passwords: Vec<Option<Vec<u8>>>,
    allow_anonymous: bool,
    /// Client ids of the edge's own MQTT clients: never a device's.
    reserved: HashSet<String>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("devices", &self.devices)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("reserved", &self.reserved)
            .finish_non_exhaustive()
    }
}

/// The name of the anonymous identity in logs, faults and client-id ownership.
pub const ANONYMOUS: &str = "(anonymous)";

impl Accounts {
    /// Reads `env:` passwords now; a variable that is not set is named in the error.
    pub fn new(config: &BrokerConfig, reserved: Vec<String>) -> Result<Accounts, String> {
        let mut env_passwords = Vec::new();
        for d in &config.devices {
            env_passwords.push(match &d.secret {
                Secret::Env(var) => Some(
                    std::env::var(var)
                        .map_err(|_| {
                            format!(
                                "mqtt_broker device {:?}: environment variable {var} (its password) is not set",
                                d.username
                            )
                        })?
                        .into_bytes(),
                ),
                _ => None,
            });
        }
        Ok(Accounts {
            by_name: config
                .devices
                .iter()
                .enumerate()
                .map(|(i, d)| (d.username.clone(), i))
                .collect(),
            devices: config.devices.clone(),
            env_passwords,
            allow_anonymous: config.allow_anonymous,
            reserved: reserved.into_iter().collect(),
        })
    }

    pub fn name(&self, who: &Who) -> &str {
        match who {
            Who::Device(i) => self.devices.get(*i).map_or("?", |d| d.username.as_str()),
            Who::Anonymous => ANONYMOUS,
        }
    }

    /// Who a CONNECT claims to be, and what proof is still needed. `cert_names`: the names
    /// of a client certificate the TLS handshake verified, if the client showed one.
    pub fn identify(
        &self,
        username: Option<&str>,
        cert_names: Option<&[String]>,
    ) -> Result<(Who, Proof), Refusal> {
        if let Some(names) = cert_names {
            let device = match username {
                Some(u) if names.iter().any(|n| n == u) => self.by_name.get(u).copied(),
                Some(u) => {
                    return Err(Refusal::NotAuthorized(format!(
                        "user name {} is not a name of its client certificate ({})",
                        shown(u),
                        names.join(", ")
                    )));
                }
                None => names.iter().find_map(|n| self.by_name.get(n).copied()),
            };
            return match device {
                Some(i) => Ok((Who::Device(i), Proof::None)),
                None => Err(Refusal::NotAuthorized(format!(
                    "the client certificate ({}) names no configured device",
                    names.join(", ")
                ))),
            };
        }
        let Some(u) = username else {
            return if self.allow_anonymous {
                Ok((Who::Anonymous, Proof::None))
            } else {
                Err(Refusal::NotAuthorized(
                    "no user name or client certificate, and anonymous access is off".into(),
                ))
            };
        };
        match self.by_name.get(u) {
            None => Err(Refusal::BadLogin(format!("unknown user {}", shown(u)))),
            Some(&i) => match self.devices.get(i).map(|d| &d.secret) {
                Some(Secret::CertificateOnly) | None => Err(Refusal::BadLogin(format!(
                    "device {} logs in only with a client certificate",
                    shown(u)
                ))),
                Some(_) => Ok((Who::Device(i), Proof::Password(i))),
            },
        }
    }

    /// Whether `password` is device `i`'s. Blocking: an argon2id verification takes tens of
    /// milliseconds and the hash's `m` KiB of memory.
    pub fn password_matches(&self, i: usize, password: &[u8]) -> bool {
        match (
            self.devices.get(i).map(|d| &d.secret),
            self.env_passwords.get(i),
        ) {
            (Some(Secret::Hash(hash)), _) => {
                use argon2::password_hash::PasswordVerifier;
                argon2::PasswordHash::new(hash).is_ok_and(|h| {
                    argon2::Argon2::default()
                        .verify_password(password, &h)
                        .is_ok()
                })
            }
            (Some(Secret::Env(_)), Some(Some(expected))) => constant_time_eq(expected, password),
            _ => false,
        }
    }

    /// Whether `who` may connect with `client_id` (ownership among devices is
    /// [`ClientIds`]'s).
    pub fn check_client_id(&self, who: &Who, client_id: &str) -> Result<(), Refusal> {
        if self.reserved.contains(client_id) {
            return Err(Refusal::Identifier(format!(
                "client id {} belongs to this edge's own MQTT client",
                shown(client_id)
            )));
        }
        if let Who::Device(i) = who
            && let Some(Some(only)) = self.devices.get(*i).map(|d| &d.client_id)
            && only != client_id
        {
            return Err(Refusal::Identifier(format!(
                "device {} must use client id {}, not {}",
                self.name(who),
                shown(only),
                shown(client_id)
            )));
        }
        Ok(())
    }

    pub fn may_publish(&self, who: &Who, topic: &str) -> bool {
        match who {
            Who::Anonymous => true,
            Who::Device(i) => self
                .devices
                .get(*i)
                .is_some_and(|d| d.publish.iter().any(|f| f.matches(topic))),
        }
    }

    /// Whether `who` may subscribe to `filter`: it must lie inside one of its filters.
    pub fn may_subscribe(&self, who: &Who, filter: &str) -> bool {
        let Ok(wanted) = TopicFilter::parse(filter) else {
            return false;
        };
        match who {
            Who::Anonymous => true,
            Who::Device(i) => self
                .devices
                .get(*i)
                .is_some_and(|d| d.subscribe.iter().any(|f| f.covers(&wanted))),
        }
    }
}

/// A client-supplied name for a log line: quoted, escaped, at most 64 characters.
pub fn shown(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Which identity owns which client id, so that no device takes over another's session (or
/// kicks it off by connecting with its id). A persistent session's id stays with its owner
/// as long as the broker runs (rumqttd keeps the session that long); a clean session's id only
/// while connected.
#[derive(Debug, Default)]
pub struct ClientIds {
    owners: HashMap<String, Owner>,
    persistent: HashMap<String, usize>,
}

#[derive(Debug)]
struct Owner {
    who: String,
    persistent: bool,
    live: u32,
}

/// Persistent sessions one identity may hold (each is memory in rumqttd until it restarts).
pub const MAX_SESSIONS_PER_DEVICE: usize = 16;

impl ClientIds {
    /// Takes `id` for `who` for one connection; [`release`](Self::release) when it ends.
    /// An empty id (a clean session whose id the broker makes up) belongs to nobody.
    pub fn claim(&mut self, id: &str, who: &str, persistent: bool) -> Result<(), Refusal> {
        if id.is_empty() {
            return Ok(());
        }
        if let Some(o) = self.owners.get(id)
            && o.who != who
        {
            return Err(Refusal::Identifier(format!(
                "client id {} is another device's",
                shown(id)
            )));
        }
        let held = self.persistent.get(who).copied().unwrap_or(0);
        let new_session = persistent && !self.owners.get(id).is_some_and(|o| o.persistent);
        if new_session && held >= MAX_SESSIONS_PER_DEVICE {
            return Err(Refusal::Identifier(format!(
                "{who} already has {MAX_SESSIONS_PER_DEVICE} persistent sessions; reuse a client id \
                 (or set client_id for the device)"
            )));
        }
        if new_session {
            self.persistent.insert(who.to_owned(), held + 1);
        }
        let o = self.owners.entry(id.to_owned()).or_insert(Owner {
            who: who.to_owned(),
            persistent: false,
            live: 0,
        });
        o.persistent |= persistent;
        o.live += 1;
        Ok(())
    }

    pub fn release(&mut self, id: &str) {
        if let Some(o) = self.owners.get_mut(id) {
            o.live = o.live.saturating_sub(1);
            if o.live == 0 && !o.persistent {
                self.owners.remove(id);
            }
        }
    }
}

/// Slows down an address that keeps failing to log in: after the n-th failure in a row its
/// next attempt is judged only after 0.5 s · 2^(n-1), at most 30 s, and attempts made at the
/// same time queue one behind the other. A success forgets the address. IPv6 addresses count
/// by their /64, which one host can fill.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: HashMap<IpAddr, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    n: u32,
    next: Instant,
    last: Instant,
}

/// Addresses remembered at once, and how long a quiet one is.
pub const THROTTLE_ENTRIES: usize = 4096;
pub const THROTTLE_FORGET: Duration = Duration::from_secs(15 * 60);

fn penalty(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    (Duration::from_millis(500) * 2u32.saturating_pow(failures.min(7) - 1))
        .min(Duration::from_secs(30))
}

fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
        v4 => v4,
    }
}

impl Throttle {
    /// When an attempt from `ip` made at `now` may be judged.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Instant {
        match self.entries.get_mut(&key(ip)) {
            None => now,
            Some(f) => {
                let at = f.next.max(now);
                f.next = at + penalty(f.n);
                at
            }
        }
    }

    pub fn failed(&mut self, ip: IpAddr, now: Instant) {
        let k = key(ip);
        if !self.entries.contains_key(&k) && self.entries.len() >= THROTTLE_ENTRIES {
            self.entries
                .retain(|_, f| now.saturating_duration_since(f.last) < THROTTLE_FORGET);
            if self.entries.len() >= THROTTLE_ENTRIES
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(k, _)| *k)
            {
                self.entries.remove(&oldest);
            }
        }
        let f = self.entries.entry(k).or_insert(Failures {
            n: 0,
            next: now,
            last: now,
        });
        f.n = f.n.saturating_add(1);
        f.last = now;
        f.next = f.next.max(now + penalty(f.n));
    }

    pub fn succeeded(&mut self, ip: IpAddr) {
        self.entries.remove(&key(ip));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::config::{RawBrokerConfig, hash_password};

    fn accounts(extra: &str, reserved: &[&str]) -> Accounts {
        let hash = hash_password("s3cret");
        let c = toml::from_str::<RawBrokerConfig>(&format!(
            r#"
listen = "127.0.0.1:1883"
{extra}
[[devices]]
username = "press-1"
password_hash = "{hash}"
publish = ["plant/press-1/#"]
subscribe = ["plant/press-1/cmd/+"]
[[devices]]
username = "scanner-1"
password_hash = "{hash}"
client_id = "scanner-1"
publish = ["plant/st-10/scan"]
"#
        ))
        .unwrap()
        .validate(|_| None)
        .unwrap();
        Accounts::new(&c, reserved.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn a_login_is_a_known_user_with_its_password() {
        let a = accounts("", &[]);
        let (who, proof) = a.identify(Some("press-1"), None).unwrap();
        assert_eq!(who, Who::Device(0));
        assert_eq!(proof, Proof::Password(0));
        assert!(a.password_matches(0, b"s3cret"));
        assert!(!a.password_matches(0, b"s3cret "));
        assert!(!a.password_matches(0, b""));
        assert!(matches!(
            a.identify(Some("ghost"), None),
            Err(Refusal::BadLogin(_))
        ));
        assert!(
            matches!(a.identify(None, None), Err(Refusal::NotAuthorized(_))),
            "anonymous is off by default"
        );
        let open = accounts("allow_anonymous = true", &[]);
        assert_eq!(open.identify(None, None).unwrap().0, Who::Anonymous);
        assert!(
            matches!(
                open.identify(Some("ghost"), None),
                Err(Refusal::BadLogin(_))
            ),
            "an unknown user is refused even when anonymous access is on"
        );
    }

    #[test]
    fn a_certificate_names_the_device() {
        let a = accounts("", &[]);
        let names = vec!["other".to_owned(), "scanner-1".to_owned()];
        assert_eq!(
            a.identify(None, Some(&names)).unwrap(),
            (Who::Device(1), Proof::None)
        );
        assert_eq!(
            a.identify(Some("scanner-1"), Some(&names)).unwrap(),
            (Who::Device(1), Proof::None)
        );
        assert!(matches!(
            a.identify(Some("press-1"), Some(&names)),
            Err(Refusal::NotAuthorized(_))
        ));
        assert!(matches!(
            a.identify(None, Some(&["nobody".to_owned()])),
            Err(Refusal::NotAuthorized(_))
        ));
    }

    #[test]
    fn topic_rights() {
        let a = accounts("", &[]);
        let press = Who::Device(0);
        assert!(a.may_publish(&press, "plant/press-1/count"));
        assert!(!a.may_publish(&press, "plant/press-2/count"));
        assert!(!a.may_publish(&press, "plant/st-10/scan"));
        assert!(a.may_subscribe(&press, "plant/press-1/cmd/+"));
        assert!(a.may_subscribe(&press, "plant/press-1/cmd/reset"));
        assert!(!a.may_subscribe(&press, "plant/press-1/#"));
        assert!(!a.may_subscribe(&press, "#"));
        assert!(!a.may_subscribe(&press, "bad/#/filter"));
        assert!(a.may_publish(&Who::Anonymous, "anything"));
    }

    #[test]
    fn client_ids_of_the_edge_and_of_other_devices_are_refused() {
        let a = accounts("", &["mes-line-4", "line-4-andon"]);
        let press = Who::Device(0);
        assert!(matches!(
            a.check_client_id(&press, "mes-line-4"),
            Err(Refusal::Identifier(_))
        ));
        assert!(a.check_client_id(&press, "press-1").is_ok());
        assert!(
            matches!(
                a.check_client_id(&Who::Device(1), "scanner-2"),
                Err(Refusal::Identifier(_))
            ),
            "a device with a client_id must use it"
        );
        let mut ids = ClientIds::default();
        ids.claim("press-1", "press-1", true).unwrap();
        assert!(matches!(
            ids.claim("press-1", "scanner-1", false),
            Err(Refusal::Identifier(_))
        ));
        ids.release("press-1");
        assert!(
            ids.claim("press-1", "scanner-1", false).is_err(),
            "a persistent session stays its owner's"
        );
        ids.claim("", "press-1", false).unwrap();
        ids.claim("", "scanner-1", false).unwrap();
        ids.claim("tmp", "press-1", false).unwrap();
        ids.release("tmp");
        ids.claim("tmp", "scanner-1", false).unwrap();
        for n in 1..MAX_SESSIONS_PER_DEVICE {
            ids.claim(&format!("s{n}"), "press-1", true).unwrap();
        }
        assert!(ids.claim("one-too-many", "press-1", true).is_err());
        ids.claim("s1", "press-1", true).unwrap();
    }

    #[test]
    fn an_address_that_keeps_failing_waits_longer_each_time() {
        let mut t = Throttle::default();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(t.admit(ip, t0), t0, "a first attempt is judged at once");
        t.failed(ip, t0);
        assert_eq!(t.admit(ip, t0), t0 + Duration::from_millis(500));
        assert_eq!(
            t.admit(ip, t0),
            t0 + Duration::from_millis(1000),
            "attempts at the same time queue"
        );
        for _ in 0..20 {
            t.failed(ip, t0);
        }
        let later = t0 + Duration::from_secs(600);
        assert_eq!(t.admit(ip, later), later);
        assert_eq!(
            t.admit(ip, later),
            later + Duration::from_secs(30),
            "at most 30 s"
        );
        t.succeeded(ip);
        assert_eq!(t.admit(ip, later), later);
        // A /64 is one address; the table stays bounded.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        t.failed(a, t0);
        assert!(t.admit(b, t0) > t0);
        for n in 0..(THROTTLE_ENTRIES as u32 + 100) {
            t.failed(IpAddr::V4(n.into()), t0);
        }
        assert!(t.len() <= THROTTLE_ENTRIES);
    }
}
