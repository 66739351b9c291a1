//! Who may act at the line: terminals paired with the edge, operators' PINs, the edge's
//! administrator.
//!
//! Anyone on the plant network may look (station views, the terminal page, status); only a
//! **terminal** may act, and only at its stations. A terminal is either configured with a key
//! of its own (`[[terminals]]`; a kiosk opens `/terminal?station=st-10&key=…` once and keeps a
//! cookie) or **paired**: a browser asks to be paired and shows a six-digit code, and a
//! supervisor confirms the code with their badge and PIN (at another terminal, or on a phone)
//! or the edge's administrator with its token. A paired terminal's credential is 32 random
//! bytes, kept by the browser in an `HttpOnly`, `SameSite=Strict` cookie and by the edge as a
//! SHA-256 hash in the journal's state (`terminal/{id}`), so pairings survive restarts.
//!
//! Requests authenticated by the cookie must carry the session's CSRF token
//! (`x-csrf-token`), which the page reads from `GET /api/v1/session`; scripts and handhelds
//! send the key as `Authorization: Bearer …` and need none.
//!
//! PINs are checked here (argon2id against the plan's operator registry), on a blocking
//! thread: five wrong PINs for a badge lock it for five minutes.

use crate::config::{MIN_SECRET_LEN, TerminalSettings};
use crate::journal::JournalHandle;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use protocol::{Plan, PlanOperator, StationId};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Journal state key prefix of a paired terminal.
pub const TERMINAL_PREFIX: &str = "terminal/";
/// The cookie that carries a terminal's credential.
pub const TERMINAL_COOKIE: &str = "mes_terminal";
/// The cookie that lets the browser that asked for a pairing collect its credential.
pub const PAIRING_COOKIE: &str = "mes_pairing";
/// The header of the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a pairing code can be confirmed.
pub const PAIRING_TTL: Duration = Duration::from_secs(10 * 60);
/// Most pairings waiting at once: asking again and again fills no memory.
pub const MAX_PENDING: usize = 16;
/// Most paired terminals.
pub const MAX_TERMINALS: usize = 256;
/// Wrong PINs for one badge before it is locked, and for how long.
pub const PIN_ATTEMPTS: u32 = 5;
pub const PIN_LOCK: Duration = Duration::from_secs(5 * 60);
/// The longest PIN taken.
pub const MAX_PIN_LEN: usize = 32;

type Hash = [u8; 32];

fn sha256(text: &str) -> Hash {
    Sha256::digest(text.as_bytes()).into()
}

/// A fresh secret: 32 random bytes as hex.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// Compares two hashes without leaking where they differ.
fn same(a: &Hash, b: &Hash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A terminal allowed to act, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terminal {
    pub id: String,
    pub stations: Vec<StationId>,
    /// Who confirmed the pairing (`badge 10442`, `administrator`), or `configuration`.
    pub paired_by: String,
    pub paired_at: DateTime<Utc>,
    /// Hex SHA-256 of its credential.
    token_hash: String,
}

impl Terminal {
    pub fn may_act_at(&self, station: &str) -> bool {
        self.stations.iter().any(|s| s.as_str() == station)
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// Nobody known: may look, not act.
    Anonymous,
    /// A terminal; `csrf_ok` is false when it came by cookie without the session's CSRF token.
    Terminal { terminal: Terminal, csrf_ok: bool },
    /// The edge's administrator (`[http] admin_token`).
    Admin,
}

/// Why a request may not act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error(
        "this terminal is not paired with the edge: pair it (a supervisor confirms its code) before it can act"
    )]
    NotPaired,
    #[error("the request came without this session's CSRF token ({CSRF_HEADER}); reload the page")]
    Csrf,
    #[error("terminal {terminal} may act only at {stations}, not at {station}")]
    OtherStation {
        terminal: String,
        stations: String,
        station: String,
    },
    #[error("only the edge's administrator may do this")]
    NotAdmin,
}

impl Denied {
    pub fn status(&self) -> StatusCode {
        match self {
            Denied::NotPaired => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Denied::NotPaired => "not_paired",
            Denied::Csrf => "csrf",
            Denied::OtherStation { .. } => "other_station",
            Denied::NotAdmin => "forbidden",
        }
    }
}

/// A pairing asked for and not yet collected.
#[derive(Debug)]
struct Pending {
    id: String,
    code: String,
    claim: Hash,
    stations: Vec<StationId>,
    asked: Instant,
    /// The credential, once confirmed, until the asking browser collects it.
    confirmed: Option<(String, Terminal)>,
}

/// What the asking browser learns of its pairing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PairingState {
    Pending {
        code: String,
        stations: Vec<StationId>,
        expires_in_s: u64,
    },
    /// Paired: the credential goes into the terminal cookie of this answer.
    Paired {
        terminal: String,
        stations: Vec<StationId>,
        #[serde(skip)]
        token: String,
    },
    /// Expired or never asked.
    Unknown,
}

#[derive(Debug, Default)]
struct PinFailures {
    count: u32,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    /// By credential hash.
    terminals: BTreeMap<Hash, Terminal>,
    pending: Vec<Pending>,
    pins: HashMap<String, PinFailures>,
}

/// The line's access rules and who is paired. Cheap to clone.
#[derive(Clone)]
pub struct Access {
    journal: Option<JournalHandle>,
    admin: Option<Hash>,
    pairing: bool,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("admin", &self.admin.map(|_| "***"))
            .field("pairing", &self.pairing)
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads a cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The CSRF token of a session: derived from its credential, so the edge keeps nothing more.
pub fn csrf_token(credential: &str) -> String {
    hex::encode(&sha256(&format!("csrf\0{credential}"))[..16])
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, whole site.
pub fn set_cookie(name: &str, value: &str, max_age: Duration) -> String {
    format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        max_age.as_secs()
    )
}

impl Access {
    /// Loads the paired terminals from the journal and adds the configured ones. A stored
    /// pairing that does not read is skipped and reported.
    pub async fn load(
        journal: JournalHandle,
        settings: &TerminalSettings,
        admin_token: Option<String>,
    ) -> Result<Access, String> {
        let mut state = State::default();
        match journal.state_with_prefix(TERMINAL_PREFIX).await {
            Ok(pairs) => {
                for (key, value) in pairs {
                    match serde_json::from_str::<Terminal>(&value) {
                        Ok(t) => match hex::decode(&t.token_hash)
                            .ok()
                            .and_then(|h| Hash::try_from(h).ok())
                        {
                            Some(hash) => {
                                state.terminals.insert(hash, t);
                            }
                            None => tracing::error!(key, "a paired terminal's hash is unreadable"),
                        },
                        Err(e) => tracing::error!(key, error = %e, "cannot read a paired terminal"),
                    }
                }
            }
            Err(e) => return Err(format!("cannot load the paired terminals: {e}")),
        }
        for configured in &settings.configured {
            let key = configured.key.resolve()?;
            if key.char_count() < MIN_SECRET_LEN {
                return Err(format!(
                    "terminal {:?}: its key is {} characters long; a key has at least {MIN_SECRET_LEN}",
                    configured.id,
                    key.char_count()
                ));
            }
            let hash = sha256(key.expose());
            state.terminals.insert(
                hash,
                Terminal {
                    id: configured.id.clone(),
                    stations: configured
                        .stations
                        .iter()
                        .map(|s| s.as_str().into())
                        .collect(),
                    paired_by: "configuration".into(),
                    paired_at: Utc::now(),
                    token_hash: hex::encode(hash),
                },
            );
        }
        let admin = match admin_token {
            Some(token) if token.chars().count() < MIN_SECRET_LEN => {
                return Err(format!(
                    "http.admin_token is {} characters long; it must have at least {MIN_SECRET_LEN}",
                    token.chars().count()
                ));
            }
            Some(token) => Some(sha256(&token)),
            None => None,
        };
        Ok(Access {
            journal: Some(journal),
            admin,
            pairing: settings.pairing,
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// Who is asking: the administrator's or a terminal's bearer credential, or a terminal's
    /// cookie (then with its CSRF token checked).
    pub fn caller(&self, headers: &HeaderMap) -> Caller {
        if let Some(token) = bearer(headers) {
            let hash = sha256(token);
            if self.admin.is_some_and(|a| same(&a, &hash)) {
                return Caller::Admin;
            }
            return match self.terminal(&hash) {
                Some(terminal) => Caller::Terminal {
                    terminal,
                    csrf_ok: true,
                },
                None => Caller::Anonymous,
            };
        }
        if let Some(token) = cookie(headers, TERMINAL_COOKIE)
            && let Some(terminal) = self.terminal(&sha256(token))
        {
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let expected = csrf_token(token);
            let csrf_ok = sent.is_some_and(|s| same(&sha256(s), &sha256(&expected)));
            return Caller::Terminal { terminal, csrf_ok };
        }
        Caller::Anonymous
    }

    fn terminal(&self, hash: &Hash) -> Option<Terminal> {
        let state = lock(&self.state);
        state
            .terminals
            .iter()
            .find(|(h, _)| same(h, hash))
            .map(|(_, t)| t.clone())
    }

    /// The terminal that may act at `station`, or why the request may not.
    pub fn may_act(&self, headers: &HeaderMap, station: &str) -> Result<Terminal, Denied> {
        match self.caller(headers) {
            Caller::Terminal { csrf_ok: false, .. } => Err(Denied::Csrf),
            Caller::Terminal { terminal, .. } if terminal.may_act_at(station) => Ok(terminal),
            Caller::Terminal { terminal, .. } => Err(Denied::OtherStation {
                stations: terminal
                    .stations
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                terminal: terminal.id,
                station: station.to_owned(),
            }),
            Caller::Admin | Caller::Anonymous => Err(Denied::NotPaired),
        }
    }

    /// Whether pairing by code is switched on.
    pub fn pairing_enabled(&self) -> bool {
        self.pairing
    }

    /// A browser asks to be paired for `stations`: returns the pairing's code and the claim
    /// secret the browser keeps (as a cookie) to collect its credential.
    pub fn ask_pairing(&self, stations: Vec<StationId>) -> Result<(String, String), String> {
        let mut state = lock(&self.state);
        state.pending.retain(|p| p.asked.elapsed() < PAIRING_TTL);
        if state.pending.len() >= MAX_PENDING {
            return Err(format!(
                "{MAX_PENDING} pairings are already waiting for a supervisor; confirm or let them expire (10 minutes) first"
            ));
        }
        if state.terminals.len() >= MAX_TERMINALS {
            return Err(format!(
                "{MAX_TERMINALS} terminals are paired already; revoke one first"
            ));
        }
        let mut rng = rand::rng();
        let code = loop {
            let code = format!("{:06}", rng.random_range(0..1_000_000u32));
            if !state.pending.iter().any(|p| p.code == code) {
                break code;
            }
        };
        let claim = new_secret();
        state.pending.push(Pending {
            id: new_secret()[..16].to_owned(),
            code: code.clone(),
            claim: sha256(&claim),
            stations,
            asked: Instant::now(),
            confirmed: None,
        });
        Ok((code, claim))
    }

    /// What became of the pairing the browser holding `claim` asked for. Once paired, the
    /// credential is handed over once and the pairing forgotten.
    pub fn pairing_state(&self, claim: &str) -> PairingState {
        let hash = sha256(claim);
        let mut state = lock(&self.state);
        state
            .pending
            .retain(|p| p.asked.elapsed() < PAIRING_TTL || p.confirmed.is_some());
        let Some(i) = state.pending.iter().position(|p| same(&p.claim, &hash)) else {
            return PairingState::Unknown;
        };
        if state.pending[i].confirmed.is_some() {
            let pending = state.pending.remove(i);
            if let Some((token, terminal)) = pending.confirmed {
                return PairingState::Paired {
                    terminal: terminal.id,
                    stations: terminal.stations,
                    token,
                };
            }
        }
        let p = &state.pending[i];
        PairingState::Pending {
            code: p.code.clone(),
            stations: p.stations.clone(),
            expires_in_s: PAIRING_TTL.saturating_sub(p.asked.elapsed()).as_secs(),
        }
    }

    /// Confirms the pairing showing `code`: the terminal is paired for its stations (or for
    /// `stations`, if given) and stored. `by` names who confirmed.
    pub async fn confirm(
        &self,
        code: &str,
        stations: Option<Vec<StationId>>,
        by: String,
    ) -> Result<Terminal, String> {
        let token = new_secret();
        let hash = sha256(&token);
        let terminal = {
            let mut state = lock(&self.state);
            state
                .pending
                .retain(|p| p.asked.elapsed() < PAIRING_TTL || p.confirmed.is_some());
            let Some(pending) = state
                .pending
                .iter_mut()
                .find(|p| p.code == code && p.confirmed.is_none())
            else {
                return Err(format!(
                    "no terminal is waiting with code {code:?}; codes expire after 10 minutes"
                ));
            };
            let terminal = Terminal {
                id: format!("terminal-{}", &pending.id[..8]),
                stations: stations.unwrap_or_else(|| pending.stations.clone()),
                paired_by: by,
                paired_at: Utc::now(),
                token_hash: hex::encode(hash),
            };
            pending.confirmed = Some((token, terminal.clone()));
            terminal
        };
        self.persist(&terminal).await?;
        lock(&self.state).terminals.insert(hash, terminal.clone());
        tracing::info!(terminal = %terminal.id, stations = ?terminal.stations, by = %terminal.paired_by, "terminal paired");
        Ok(terminal)
    }

    async fn persist(&self, terminal: &Terminal) -> Result<(), String> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let json = serde_json::to_string(terminal).map_err(|e| e.to_string())?;
        journal
            .put_state(&format!("{TERMINAL_PREFIX}{}", terminal.id), &json)
            .await
            .map_err(|e| format!("the pairing could not be stored: {e}"))
    }

    /// Ends a paired terminal's credential. Configured terminals are revoked by removing them
    /// from the configuration.
    pub async fn revoke(&self, id: &str, by: &str) -> Result<(), String> {
        let found = {
            let state = lock(&self.state);
            state
                .terminals
                .iter()
                .find(|(_, t)| t.id == id)
                .map(|(h, t)| (*h, t.paired_by == "configuration"))
        };
        match found {
            None => Err(format!("no terminal {id:?} is paired with this edge")),
            Some((_, true)) => Err(format!(
                "terminal {id:?} comes from the configuration; remove it there"
            )),
            Some((hash, false)) => {
                if let Some(journal) = &self.journal {
                    journal
                        .put_state(&format!("{TERMINAL_PREFIX}{id}"), "")
                        .await
                        .map_err(|e| format!("the revocation could not be stored: {e}"))?;
                }
                lock(&self.state).terminals.remove(&hash);
                tracing::info!(terminal = id, by, "terminal revoked");
                Ok(())
            }
        }
    }

    /// Every terminal that may act, by id.
    pub fn terminals(&self) -> Vec<Terminal> {
        let mut all: Vec<Terminal> = lock(&self.state).terminals.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Checks a badge's PIN against the operator registry, counting wrong ones.
    pub async fn check_pin(&self, operator: &PlanOperator, pin: &str) -> PinOutcome {
        let badge = operator.badge.to_string();
        {
            let mut state = lock(&self.state);
            let failures = state.pins.entry(badge.clone()).or_default();
            if let Some(until) = failures.locked_until {
                if Instant::now() < until {
                    return PinOutcome::Locked;
                }
                *failures = PinFailures::default();
            }
        }
        let Some(hash) = operator.pin_hash.clone() else {
            return PinOutcome::NoPin;
        };
        let pin = pin.to_owned();
        let ok = pin.len() <= MAX_PIN_LEN
            && tokio::task::spawn_blocking(move || verify_pin(&hash, &pin))
                .await
                .unwrap_or(false);
        let mut state = lock(&self.state);
        if ok {
            state.pins.remove(&badge);
            return PinOutcome::Verified;
        }
        let failures = state.pins.entry(badge.clone()).or_default();
        failures.count += 1;
        if failures.count >= PIN_ATTEMPTS {
            failures.locked_until = Some(Instant::now() + PIN_LOCK);
            tracing::warn!(
                badge,
                attempts = failures.count,
                "badge locked after wrong PINs"
            );
            return PinOutcome::Locked;
        }
        PinOutcome::Wrong
    }

    /// A supervisor (operator with the supervisor skill and a PIN) by badge and PIN, for
    /// confirming pairings, revoking terminals and approving overrides.
    pub async fn supervisor(
        &self,
        plan: Option<&Plan>,
        badge: &str,
        pin: &str,
    ) -> Result<PlanOperator, String> {
        let Some(operator) = plan.and_then(|p| p.operator(badge)) else {
            return Err(format!(
                "badge {badge} is not in the operator registry central sent this line"
            ));
        };
        if !operator.has_skill(protocol::SUPERVISOR_SKILL) {
            return Err(format!("{} ({badge}) is not a supervisor", operator.name));
        }
        match self.check_pin(operator, pin).await {
            PinOutcome::Verified => Ok(operator.clone()),
            PinOutcome::NoPin => Err(format!(
                "{} ({badge}) has no PIN; a supervisor needs one to approve",
                operator.name
            )),
            PinOutcome::Wrong => Err(format!("wrong PIN for badge {badge}")),
            PinOutcome::Locked => Err(format!(
                "too many wrong PINs for badge {badge}; wait a few minutes"
            )),
        }
    }

    /// An `Access` with nothing paired and nothing stored (tests).
    pub fn detached(settings: &TerminalSettings) -> Access {
        Access {
            journal: None,
            admin: None,
            pairing: settings.pairing,
            state: Arc::default(),
        }
    }
}

/// What became of a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinOutcome {
    Verified,
    Wrong,
    Locked,
    /// The operator has no PIN: the badge alone signs in.
    NoPin,
}

/// argon2id PHC check; false for a hash that does not read.
pub fn verify_pin(phc: &str, pin: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(hash) => argon2::Argon2::default()
            .verify_password(pin.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// The argon2id hash of a PIN, with the parameters PINs use: light enough for a small
/// gateway (8 MiB, two passes), since a PIN's safety lies in the lock after five tries.
pub fn hash_pin(pin: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let params = argon2::Params::new(8 * 1024, 2, 1, None).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    argon
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn settings() -> TerminalSettings {
        TerminalSettings {
            pairing: true,
            configured: Vec::new(),
        }
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[tokio::test]
    async fn a_confirmed_pairing_hands_its_credential_over_once_and_binds_the_stations() {
        let access = Access::detached(&settings());
        let (code, claim) = access.ask_pairing(vec!["st-10".into()]).unwrap();
        assert!(matches!(
            access.pairing_state(&claim),
            PairingState::Pending { .. }
        ));
        assert!(
            access
                .confirm("000000x", None, "test".into())
                .await
                .is_err()
        );
        access.confirm(&code, None, "badge 1".into()).await.unwrap();
        let PairingState::Paired { token, .. } = access.pairing_state(&claim) else {
            panic!("not paired")
        };
        assert_eq!(access.pairing_state(&claim), PairingState::Unknown);
        // By bearer: may act at its station only.
        let bearer = headers(&[("authorization", format!("Bearer {token}"))]);
        assert!(access.may_act(&bearer, "st-10").is_ok());
        assert!(matches!(
            access.may_act(&bearer, "st-20"),
            Err(Denied::OtherStation { .. })
        ));
        // By cookie: only with the session's CSRF token.
        let by_cookie = headers(&[("cookie", format!("a=b; {TERMINAL_COOKIE}={token}"))]);
        assert_eq!(access.may_act(&by_cookie, "st-10"), Err(Denied::Csrf));
        let with_csrf = headers(&[
            ("cookie", format!("{TERMINAL_COOKIE}={token}")),
            (CSRF_HEADER, csrf_token(&token)),
        ]);
        assert!(access.may_act(&with_csrf, "st-10").is_ok());
        // Nobody else.
        assert_eq!(
            access.may_act(&HeaderMap::new(), "st-10"),
            Err(Denied::NotPaired)
        );
        let forged = headers(&[("authorization", "Bearer 0000".to_owned())]);
        assert_eq!(access.may_act(&forged, "st-10"), Err(Denied::NotPaired));
        // Revoked: gone.
        let id = access.terminals()[0].id.clone();
        access.revoke(&id, "test").await.unwrap();
        assert_eq!(access.may_act(&bearer, "st-10"), Err(Denied::NotPaired));
    }

    #[test]
    fn pairing_requests_are_bounded() {
        let access = Access::detached(&settings());
        for _ in 0..MAX_PENDING {
            access.ask_pairing(vec!["st-10".into()]).unwrap();
        }
        assert!(access.ask_pairing(vec!["st-10".into()]).is_err());
    }

    #[tokio::test]
    async fn five_wrong_pins_lock_the_badge_even_for_the_right_one() {
        let access = Access::detached(&settings());
        let operator = PlanOperator {
            badge: "10442".into(),
            name: "Li Wei".into(),
            skills: vec![],
            pin_hash: Some(hash_pin("2468").unwrap()),
        };
        assert_eq!(
            access.check_pin(&operator, "2468").await,
            PinOutcome::Verified
        );
        for _ in 0..PIN_ATTEMPTS - 1 {
            assert_eq!(access.check_pin(&operator, "0000").await, PinOutcome::Wrong);
        }
        assert_eq!(
            access.check_pin(&operator, "0000").await,
            PinOutcome::Locked
        );
        assert_eq!(
            access.check_pin(&operator, "2468").await,
            PinOutcome::Locked
        );
    }
}
