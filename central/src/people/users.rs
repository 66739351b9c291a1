//! Users: the people who sign in to central (supervisors, planners, sales, approvers, head
//! office), their passwords, the rules a new password must meet and how repeated failed
//! sign-ins are slowed down and locked. Pure: the store keeps users, sessions and failure
//! counts; [`crate::api::people`] checks and calls.

use super::roles::{Permissions, Role};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The login the bootstrap admin token (`MES_ADMIN_TOKEN`) acts as: the first administrator.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// Shortest password accepted (OWASP ASVS V2.1.1: at least 12 characters).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (ASVS V2.1.2 allows at least 64; longer only costs hashing).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A person who signs in to central.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub login: String,
    pub display_name: String,
    /// `zh` or `en`: the language of their pages.
    pub language: Language,
    /// IANA name (`Asia/Shanghai`) or `UTC`; their pages show times in it.
    pub time_zone: String,
    /// The plants whose records they see and change (administrators and viewers see all).
    pub plants: Vec<String>,
    pub roles: Vec<Role>,
    /// Their manager's login: approval workflows route by it.
    pub manager: Option<String>,
    /// Their badge at the line terminals, when they also work on the floor: the operator of
    /// that badge in the registry is this person.
    pub badge: Option<String>,
    /// Where their notifications are mailed (requests waiting on them, their requests'
    /// outcomes), when central has `[notify] smtp` set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Disabled users cannot sign in, and their tokens and sessions stop working; they are
    /// never deleted, so the audit trail keeps naming them.
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Zh,
    En,
}

impl Language {
    pub fn parse(s: &str) -> Option<Language> {
        match s {
            "zh" | "zh-CN" | "zh-cn" => Some(Language::Zh),
            "en" | "en-US" | "en-us" | "en-GB" => Some(Language::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
        }
    }
}

/// Which plants someone's records are limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlantScope {
    All,
    Only(Vec<String>),
}

impl PlantScope {
    pub fn contains(&self, plant: &str) -> bool {
        match self {
            PlantScope::All => true,
            PlantScope::Only(plants) => plants.iter().any(|p| p == plant),
        }
    }
}

impl User {
    pub fn permissions(&self) -> Permissions {
        Role::union_of(&self.roles)
    }

    /// The plants whose records they may read: every plant for a company-wide role.
    pub fn read_scope(&self) -> PlantScope {
        if self.roles.iter().any(|r| r.company_wide()) {
            PlantScope::All
        } else {
            PlantScope::Only(self.plants.clone())
        }
    }

    /// The plants whose records they may change: every plant for an administrator; head
    /// office's viewers change nothing anyway.
    pub fn write_scope(&self) -> PlantScope {
        if self.roles.contains(&Role::Administrator) {
            PlantScope::All
        } else {
            PlantScope::Only(self.plants.clone())
        }
    }

    /// Every field out of bounds, each named.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if let Err(v) = check_login(&self.login) {
            problems.push(v);
        }
        if let Err(v) = protocol::bounds::check_text("display_name", &self.display_name) {
            problems.push(v.to_string());
        }
        if self.display_name.trim().is_empty() {
            problems.push("display_name: is empty; expected the person's name".into());
        }
        if !valid_time_zone(&self.time_zone) {
            problems.push(format!(
                "time_zone: {:?} is not a time zone; expected an IANA name like \"Asia/Shanghai\" or \"UTC\"",
                self.time_zone
            ));
        }
        for plant in &self.plants {
            if let Err(v) = protocol::bounds::check_id("plants", plant) {
                problems.push(v.to_string());
            }
        }
        if self.plants.len() > 256 {
            problems.push("plants: more than 256".into());
        }
        if self.roles.contains(&Role::Edge) {
            problems.push("roles: `edge` belongs to edge credentials, not to people".into());
        }
        if self.roles.is_empty() {
            problems.push("roles: none; expected at least one role".into());
        }
        if let Some(manager) = &self.manager {
            if let Err(v) = check_login(manager) {
                problems.push(format!("manager: {v}"));
            }
            if manager.eq_ignore_ascii_case(&self.login) {
                problems.push("manager: is the user; expected someone else".into());
            }
        }
        if let Some(badge) = &self.badge
            && let Err(v) = protocol::bounds::check_id("badge", badge)
        {
            problems.push(v.to_string());
        }
        if let Some(email) = &self.email
            && let Err(v) = check_email(email)
        {
            problems.push(format!("email: {v}"));
        }
        let needs_plant = !self.roles.iter().any(|r| r.company_wide());
        if needs_plant && self.plants.is_empty() {
            problems.push(
                "plants: none; expected at least one plant (only administrators and viewers see all plants)"
                    .into(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Logins: 1 to 64 characters of letters, digits and `.`, `_`, `-`, `@`; compared without
/// regard to case.
pub fn check_login(login: &str) -> Result<(), String> {
    let ok = !login.is_empty()
        && login.len() <= 64
        && login
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "login: {:?} is not a login; expected 1 to 64 letters, digits, '.', '_', '-' or '@'",
            truncate(login, 80)
        ))
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `UTC` or an `Area/Location` name; the list of zones is not compiled in, so the shape is
/// checked and the name is shown as given.
fn valid_time_zone(tz: &str) -> bool {
    tz == "UTC"
        || (tz.len() <= 64
            && tz.contains('/')
            && tz.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
            }))
}

/// Passwords people pick first, and the words of this product; refused as new passwords.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Why a new password is refused, or `Ok`.
pub fn check_new_password(login: &str, password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password: is {chars} characters; expected at least {MIN_PASSWORD_CHARS}"
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!(
            "password: is {chars} characters; expected at most {MAX_PASSWORD_CHARS}"
        ));
    }
    let lower = password.to_lowercase();
    if lower.contains(&login.to_lowercase()) {
        return Err("password: contains the login; expected something else".into());
    }
    let common = COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|common| lower == common || (common.len() >= 6 && strip_digits(&lower) == common));
    if common {
        return Err(
            "password: is one of the most common passwords; expected one that is not".into(),
        );
    }
    if password
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len()
        < 4
    {
        return Err("password: repeats too few characters; expected a less guessable one".into());
    }
    Ok(())
}

/// `summer2024!!` → `summer`: common words with digits and signs around them are as weak.
fn strip_digits(s: &str) -> String {
    s.trim_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation())
        .to_owned()
}

/// argon2id with the crate's defaults (OWASP: m = 19 MiB, t = 2, p = 1), as a PHC string.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes encode");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any input with the default parameters")
        .to_string()
}

/// A hash no password matches, verified when the login is unknown so that a failed sign-in
/// takes as long whichever part was wrong.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&crate::auth::new_token()))
}

/// Whether `password` matches the PHC string (constant time inside argon2).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A password made for a reset: 20 characters from a 56-letter alphabet without look-alikes
/// (about 116 bits), shown once.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 20] = rand::random();
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// How failed sign-ins are slowed down and locked, per login and per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Failures counted within this window.
    pub window: Duration,
    /// Failures of one login within the window that lock it.
    pub login_failures: u32,
    /// Failures from one address within the window that lock it (one address may be a
    /// whole office behind NAT, so more).
    pub address_failures: u32,
    /// How long a lock lasts.
    pub lock_for: Duration,
    /// Delay added to each failed reply per earlier failure, up to `max_delay`.
    pub delay_step: std::time::Duration,
    pub max_delay: std::time::Duration,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout {
            window: Duration::minutes(15),
            login_failures: 5,
            address_failures: 20,
            lock_for: Duration::minutes(15),
            delay_step: std::time::Duration::from_millis(250),
            max_delay: std::time::Duration::from_secs(2),
        }
    }
}

/// Failed sign-ins counted for one key (a login or an address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub first_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl Lockout {
    /// The counter after one more failure at `now` against `limit`; `.locked_until` is set
    /// when this failure locks the key.
    pub fn after_failure(
        &self,
        before: Option<Failures>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Failures {
        let mut f = match before {
            Some(f) if now - f.first_at <= self.window => f,
            _ => Failures {
                count: 0,
                first_at: now,
                locked_until: None,
            },
        };
        f.count = f.count.saturating_add(1);
        if f.count >= limit {
            f.locked_until = Some(now + self.lock_for);
        }
        f
    }

    /// Until when the key is locked, if it is at `now`.
    pub fn locked(&self, f: Option<Failures>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        f.and_then(|f| f.locked_until).filter(|until| *until > now)
    }

    /// How long to hold a failed reply back: grows with the failures so far.
    pub fn delay(&self, failures: u32) -> std::time::Duration {
        self.delay_step
            .saturating_mul(failures.saturating_sub(1))
            .min(self.max_delay)
    }

    /// Most guesses one login lets an attacker try per hour, from one address or many.
    pub fn guesses_per_hour_per_login(&self) -> u64 {
        let cycle = self.lock_for + Duration::zero();
        // `login_failures` guesses, then locked for `lock_for`: one cycle.
        let cycle_secs = cycle.num_seconds().max(1) as u64;
        (3600 / cycle_secs + 1) * u64::from(self.login_failures)
    }
}

/// Longest e-mail address accepted (RFC 5321's limit on a path).
pub const MAX_EMAIL_LEN: usize = 254;

/// An address as a mail server takes it: `local@domain`, printable ASCII without spaces,
/// angle brackets or a second `@`, at most [`MAX_EMAIL_LEN`] bytes, a domain with a dot.
pub fn check_email(email: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "{email:?} is not an e-mail address; expected name@example.com"
        ))
    };
    if email.len() > MAX_EMAIL_LEN {
        return Err(format!(
            "is {} bytes long; at most {MAX_EMAIL_LEN}",
            email.len()
        ));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return bad();
    };
    let fine = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| {
                b.is_ascii_graphic()
                    && !matches!(b, b'@' | b'<' | b'>' | b',' | b';' | b'"' | b'\\')
            })
    };
    if !fine(local)
        || !fine(domain)
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return bad();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_address_is_checked_where_it_enters() {
        for good in ["li@plant.example", "zhang.san+oa@mail.example.com.cn"] {
            assert_eq!(check_email(good), Ok(()), "{good}");
        }
        for bad in [
            "wang at plant",
            "@plant.example",
            "li@",
            "li@localhost",
            "li@@plant.example",
            "Li <li@plant.example>",
            "li@plant.example.",
            "li\r\n@plant.example",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@plant.example", "a".repeat(250));
        assert!(check_email(&long).unwrap_err().contains("at most 254"));
    }

    fn user(roles: &[Role], plants: &[&str]) -> User {
        User {
            login: "li.wei".into(),
            display_name: "Li Wei".into(),
            language: Language::Zh,
            time_zone: "Asia/Shanghai".into(),
            plants: plants.iter().map(|p| p.to_string()).collect(),
            roles: roles.to_vec(),
            manager: None,
            badge: None,
            email: None,
            active: true,
        }
    }

    #[test]
    fn scopes_follow_the_roles() {
        let sup = user(&[Role::Supervisor], &["a"]);
        assert_eq!(sup.read_scope(), PlantScope::Only(vec!["a".into()]));
        assert!(!sup.read_scope().contains("b"));
        let hq = user(&[Role::Viewer], &[]);
        assert_eq!(hq.read_scope(), PlantScope::All);
        assert_eq!(hq.write_scope(), PlantScope::Only(vec![]));
        let admin = user(&[Role::Administrator], &[]);
        assert_eq!(admin.write_scope(), PlantScope::All);
        assert_eq!(sup.check(), Ok(()));
        assert_eq!(hq.check(), Ok(()));
    }

    #[test]
    fn user_checks_name_every_problem() {
        let mut u = user(&[], &[]);
        u.login = "li wei".into();
        u.time_zone = "Shanghai".into();
        u.manager = Some("li wei".into());
        let problems = u.check().unwrap_err();
        for want in ["login:", "time_zone:", "roles: none", "manager:"] {
            assert!(
                problems.iter().any(|p| p.starts_with(want)),
                "{want} in {problems:?}"
            );
        }
        let mut u = user(&[Role::Supervisor], &[]);
        assert!(u.check().unwrap_err()[0].starts_with("plants: none"));
        u.roles.push(Role::Edge);
        u.plants.push("a".into());
        assert!(u.check().unwrap_err()[0].starts_with("roles: `edge`"));
    }

    #[test]
    fn passwords_too_short_common_or_with_the_login_are_refused() {
        assert!(
            check_new_password("li.wei", "short")
                .unwrap_err()
                .contains("at least 12")
        );
        assert!(
            check_new_password("li.wei", "password1234")
                .unwrap_err()
                .contains("common")
        );
        assert!(
            check_new_password("li.wei", "Password2024!")
                .unwrap_err()
                .contains("common")
        );
        assert!(
            check_new_password("li.wei", "li.wei-is-great")
                .unwrap_err()
                .contains("login")
        );
        assert!(check_new_password("li.wei", "aaaaaaaaaaaaaaaa").is_err());
        assert_eq!(
            check_new_password("li.wei", "teal-kettle-on-line-3"),
            Ok(())
        );
        let generated = generate_password();
        assert_eq!(generated.len(), 20);
        assert_eq!(check_new_password("li.wei", &generated), Ok(()));
    }

    #[test]
    fn argon2id_hashes_verify_and_decoy_matches_nothing() {
        let phc = hash_password("teal-kettle-on-line-3");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("teal-kettle-on-line-3", &phc));
        assert!(!verify_password("teal-kettle-on-line-4", &phc));
        assert!(!verify_password("", decoy_hash()));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn failures_lock_after_the_limit_and_expire_with_the_window() {
        let l = Lockout::default();
        let t0 = DateTime::parse_from_rfc3339("2026-12-06T08:00:00Z")
            .unwrap()
            .to_utc();
        let mut f = None;
        for i in 1..=4 {
            let next = l.after_failure(f, t0 + Duration::seconds(i), l.login_failures);
            assert_eq!(next.count, i as u32);
            assert_eq!(next.locked_until, None);
            f = Some(next);
        }
        let locked = l.after_failure(f, t0 + Duration::seconds(5), l.login_failures);
        assert_eq!(
            locked.locked_until,
            Some(t0 + Duration::seconds(5) + l.lock_for)
        );
        assert!(l.locked(Some(locked), t0 + Duration::minutes(10)).is_some());
        assert!(l.locked(Some(locked), t0 + Duration::minutes(21)).is_none());
        // A failure after the window starts counting again.
        let fresh = l.after_failure(Some(locked), t0 + Duration::minutes(40), l.login_failures);
        assert_eq!(fresh.count, 1);
        assert_eq!(l.delay(1), std::time::Duration::ZERO);
        assert_eq!(l.delay(3), std::time::Duration::from_millis(500));
        assert_eq!(l.delay(100), l.max_delay);
        // 5 guesses per 15-minute lock: 25 an hour, at most.
        assert_eq!(l.guesses_per_hour_per_login(), 25);
    }

    #[test]
    fn logins_and_time_zones() {
        assert!(check_login("wang.fang@plant-2").is_ok());
        assert!(check_login("王芳").is_ok());
        assert!(check_login("").is_err());
        assert!(check_login("a b").is_err());
        assert!(check_login(&"x".repeat(65)).is_err());
        assert!(valid_time_zone("Asia/Shanghai"));
        assert!(valid_time_zone("America/Argentina/Buenos_Aires"));
        assert!(!valid_time_zone("Asia//x"));
        assert!(!valid_time_zone("<script>"));
    }
}
