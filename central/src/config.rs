//! Central's configuration: TOML, strict, every mistake reported with its line.
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! data_dir = "/var/lib/mes/central"
//! store = "sqlite"             # or "postgres://mes@db.example:5432/mes"; env MES_STORE overrides it
//! admin_token = "..."          # optional, at least 32 characters; env MES_ADMIN_TOKEN overrides it
//! max_body_bytes = 33554432    # 32 MiB
//! max_plan_wait = "30s"        # longest plan long poll
//!
//! [sessions]                   # signed-in pages
//! idle = "30m"                 # ended after this long without a request
//! absolute = "12h"             # ended this long after sign-in, whatever happens
//! kiosk_idle = "12h"           # a kiosk link's TV: ended after this long unused
//!
//! [tls]                        # optional: serve HTTPS instead of plain HTTP
//! cert = "tls/fullchain.pem"   # PEM: the server certificate first, then its intermediates
//! key = "tls/key.pem"          # PEM: PKCS#8, RSA (PKCS#1) or SEC1 (EC) private key
//!
//! [documents]                  # the PDFs people send: quotations, delivery notes
//! company_name = "Acme Precision Parts Co., Ltd."
//! company_address = "88 Industrial Road\nSuzhou, Jiangsu 215000"
//! company_contact = "sales@acme.example"
//! cjk_font = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"   # absent: the system's CJK font
//! gs1_company_prefix = "0614141"  # 6-12 digits: the SSCCs of shipped packages; absent: no deliveries
//!
//! [shipping]                   # picking and shipping scanned at an edge's dock station
//! edges = ["dock-1"]           # the edges whose plans carry confirmed orders' open lines
//!
//! [notify]                     # where notifications go besides the app (both optional)
//! base_url = "https://mes.example.com"  # links in mails and webhooks start with it
//! smtp = "smtps://mes:pw@mail.example.com:465"  # or smtp://host:587?tls=required (STARTTLS);
//!                              # plain smtp://host:25 only for a relay on a trusted network
//! from = "MES <mes@example.com>"
//! webhook = "https://chat.example.com/hooks/mes"  # JSON POSTed, signed with webhook_secret
//! webhook_secret = "..."       # HMAC-SHA256 key; env MES_WEBHOOK_SECRET overrides it
//! ```
//!
//! `store` chooses the engine: `sqlite` (the default: `central.db` in `data_dir`) or a
//! PostgreSQL URL, on which several central instances can run side by side behind a load
//! balancer. A password belongs in `MES_STORE` (the whole URL), not in the file.
//!
//! Without `[tls]` central serves plain HTTP (the loopback default of the demo). With it,
//! central serves HTTPS only (TLS 1.2 and 1.3, no client certificates) on `listen`; relative
//! paths are taken relative to the configuration file. The files are read and checked when
//! central starts ([`crate::tls::server_config`]): a missing file, a PEM without a
//! certificate or a key that does not belong to the certificate stops it with the field and
//! the file named.
//!
//! Every field has a default, so an empty file (or no file) is a valid configuration; the
//! admin token is the one thing central refuses to start without
//! ([`CentralConfig::resolve_admin_token`]), and it must be at least [`MIN_ADMIN_TOKEN_CHARS`]
//! long (`openssl rand -hex 32` makes one): a short token can be guessed over the network.

use protocol::Secret;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable that holds the store (`sqlite` or a PostgreSQL URL); it overrides the
/// config file.
pub const STORE_ENV: &str = "MES_STORE";

/// Environment variable that holds the bootstrap admin token; it overrides the config file.
pub const ADMIN_TOKEN_ENV: &str = "MES_ADMIN_TOKEN";

/// Shortest admin token central accepts.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
pub const DEFAULT_MAX_PLAN_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CentralConfig {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Directory of `central.db`.
    pub data_dir: PathBuf,
    /// The engine: `sqlite` (in `data_dir`) or a `postgres://` URL ([`StoreSpec`]).
    pub store: StoreSpec,
    /// Bootstrap admin token, at least [`MIN_ADMIN_TOKEN_CHARS`] characters.
    /// `MES_ADMIN_TOKEN` overrides it.
    pub admin_token: Option<Secret>,
    /// Largest request body accepted; larger ones get 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// Longest time a plan long poll is held open, whatever `wait_ms` the edge asks for.
    #[serde(deserialize_with = "protocol::duration::deserialize")]
    pub max_plan_wait: Duration,
    /// How long a signed-in page session lasts.
    pub sessions: SessionConfig,
    /// `[tls]`: serve HTTPS with this certificate and key. `None`: plain HTTP. Others read
    /// `tls.is_some()` to know whether central is reached over HTTPS (a cookie's `Secure`).
    pub tls: Option<TlsConfig>,
    /// `[documents]`: the seller printed on PDFs and the font their Chinese is set in.
    pub documents: DocumentsConfig,
    /// `[shipping]`: which edges ship sales orders.
    pub shipping: ShippingConfig,
    /// `[notify]`: mail and webhook for notifications.
    pub notify: NotifyConfig,
}

/// Environment variable that holds the webhook's signing key; it overrides the config file.
pub const WEBHOOK_SECRET_ENV: &str = "MES_WEBHOOK_SECRET";

/// `[notify]`: where notifications go besides the app. Each is optional: without `smtp` no
/// mail is sent, without `webhook` nothing is posted (what would have been is recorded as
/// skipped in the outbox).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Central as people reach it (`https://mes.example.com`); links in mails and webhooks
    /// start with it. Absent: links are relative paths.
    pub base_url: Option<String>,
    /// `smtps://host[:port]` (TLS from the start, port 465 by default),
    /// `smtp://host[:port]?tls=required` (STARTTLS), or plain `smtp://host[:port]` (a relay on
    /// a trusted network, loopback); `user:password@` may be in the URL (URL-encoded).
    pub smtp: Option<Secret>,
    /// The sender of the mails.
    pub from: Option<String>,
    /// An `http://` or `https://` URL chat tools receive notifications at.
    pub webhook: Option<String>,
    /// The key of the `X-MES-Signature: sha256=…` HMAC over each webhook body.
    pub webhook_secret: Option<Secret>,
}

/// `[shipping]`: the edges whose dock stations pick and ship confirmed sales orders. Only
/// their plans carry the open order lines (`Plan::shipments`), so line edges' plans stay
/// small. Central copies the list into its store at start ([`crate::store::Store`]'s
/// `configure_shipping`), and republishes the plans of edges that entered or left it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShippingConfig {
    pub edges: Vec<String>,
}

impl NotifyConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |field: &'static str, message: String| Err(ConfigError::Invalid { field, message });
        if let Some(url) = &self.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return invalid(
                "notify.base_url",
                format!("{url:?}; expected http://host or https://host"),
            );
        }
        if let Some(smtp) = &self.smtp {
            let url = smtp.expose();
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return invalid(
                    "notify.smtp",
                    "expected smtp://host[:port] or smtps://host[:port]".into(),
                );
            }
            match &self.from {
                None => {
                    return invalid(
                        "notify.from",
                        "is missing; mails need a sender (\"MES <mes@example.com>\")".into(),
                    );
                }
                Some(from) if !from.contains('@') => {
                    return invalid(
                        "notify.from",
                        format!("{from:?} is not an address; expected \"MES <mes@example.com>\""),
                    );
                }
                Some(_) => {}
            }
        }
        if let Some(url) = &self.webhook {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(
                    "notify.webhook",
                    format!("{url:?}; expected an http:// or https:// URL"),
                );
            }
            if self
                .webhook_secret
                .as_ref()
                .is_none_or(|s| s.char_count() < 16)
            {
                return invalid(
                    "notify.webhook_secret",
                    format!(
                        "missing or shorter than 16 characters; the webhook's receiver checks its signature with it ({WEBHOOK_SECRET_ENV} may hold it)"
                    ),
                );
            }
        }
        Ok(())
    }
}

/// The most edges `[shipping] edges` may name.
pub const MAX_SHIPPING_EDGES: usize = 64;

/// `[documents]`: who the seller on central's PDF documents is, and where the font for their
/// Chinese text comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentsConfig {
    pub company_name: String,
    /// Lines separated by `\n`.
    pub company_address: String,
    /// Phone, e-mail: lines separated by `\n`.
    pub company_contact: String,
    /// A `.ttf`, `.otf` or `.ttc` with Chinese glyphs (an absolute path); absent: the first of
    /// the usual system fonts found (Noto CJK, WenQuanYi).
    pub cjk_font: Option<PathBuf>,
    /// The GS1 company prefix (6 to 12 digits) the SSCCs of shipped packages start with;
    /// absent: deliveries cannot be written (a package's label needs an SSCC).
    pub gs1_company_prefix: Option<String>,
}

/// Where central keeps its state.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum StoreSpec {
    /// `central.db` in the data directory.
    #[default]
    Sqlite,
    /// A PostgreSQL database (`postgres://` or `postgresql://` URL; it may hold a password).
    Postgres(Secret),
}

impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Sqlite => f.write_str("sqlite"),
            StoreSpec::Postgres(url) => {
                write!(f, "{}", crate::store::sql::pg::redact_url(url.expose()))
            }
        }
    }
}

impl std::str::FromStr for StoreSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<StoreSpec, String> {
        let s = s.trim();
        if s == "sqlite" {
            return Ok(StoreSpec::Sqlite);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            if s.len() > 2048 {
                return Err("is longer than 2048 characters".to_owned());
            }
            return match s.parse::<postgres::Config>() {
                Ok(_) => Ok(StoreSpec::Postgres(Secret::new(s.to_owned()))),
                Err(e) => Err(format!(
                    "{} does not read as a PostgreSQL URL: {e}",
                    crate::store::sql::pg::redact_url(s)
                )),
            };
        }
        Err(format!(
            "is {:?}; expected \"sqlite\" or a PostgreSQL URL (postgres://user@host:5432/database)",
            crate::store::sql::pg::redact_url(s)
        ))
    }
}

impl<'de> Deserialize<'de> for StoreSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `[sessions]`: the idle and absolute timeouts of signed-in pages (OWASP ASVS V3.3), and
/// the idle timeout of kiosk sessions (a shop-floor TV signed in by a kiosk link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    #[serde(deserialize_with = "protocol::duration::deserialize")]
    pub idle: Duration,
    #[serde(deserialize_with = "protocol::duration::deserialize")]
    pub absolute: Duration,
    /// A kiosk session not used for this long (no request, no live board open) ends; the TV
    /// opens its link again to sign in. A kiosk has no absolute timeout: a TV that shows its
    /// andon all along stays signed in until its link is revoked.
    #[serde(deserialize_with = "protocol::duration::deserialize")]
    pub kiosk_idle: Duration,
}

/// Shortest `sessions.kiosk_idle`: a kiosk's live board marks it used at most once a minute.
pub const MIN_KIOSK_IDLE: Duration = Duration::from_secs(5 * 60);
/// Longest `sessions.kiosk_idle`.
pub const MAX_KIOSK_IDLE: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            kiosk_idle: Duration::from_secs(12 * 3600),
        }
    }
}

/// `[tls]`: the certificate and key central serves HTTPS with. Loaded and checked by
/// [`crate::tls::server_config`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the certificate chain: central's certificate first, then the intermediates
    /// (a `fullchain.pem`).
    pub cert: PathBuf,
    /// PEM file of the private key: PKCS#8 (`BEGIN PRIVATE KEY`), RSA (`BEGIN RSA PRIVATE
    /// KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`).
    pub key: PathBuf,
}

impl TlsConfig {
    /// The same settings with relative paths taken relative to `dir` (the configuration
    /// file's directory).
    pub fn relative_to(&self, dir: &std::path::Path) -> TlsConfig {
        TlsConfig {
            cert: dir.join(&self.cert),
            key: dir.join(&self.key),
        }
    }
}

impl Default for CentralConfig {
    fn default() -> Self {
        CentralConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
            data_dir: PathBuf::from("data"),
            store: StoreSpec::Sqlite,
            admin_token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_plan_wait: DEFAULT_MAX_PLAN_WAIT,
            sessions: SessionConfig::default(),
            tls: None,
            documents: DocumentsConfig::default(),
            shipping: ShippingConfig::default(),
            notify: NotifyConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The TOML is malformed, has an unknown field or a value of the wrong shape.
    #[error("line {line}, column {column}: {message}")]
    Parse {
        line: usize,
        column: usize,
        message: String,
    },
    /// The TOML parsed, but a value is out of range.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(
        "no admin token: set the environment variable {ADMIN_TOKEN_ENV} or `admin_token` in the config (make one with `openssl rand -hex 32`); central refuses to start without one"
    )]
    MissingAdminToken,
    /// The admin token is too short to resist guessing.
    #[error(
        "the admin token from {from} is {chars} characters; expected at least {MIN_ADMIN_TOKEN_CHARS} (make one with `openssl rand -hex 32`)"
    )]
    ShortAdminToken { from: &'static str, chars: usize },
}

/// Central's admin token, checked: at least [`MIN_ADMIN_TOKEN_CHARS`] characters, no
/// surrounding whitespace. The only way to make one is [`AdminToken::new`], so central cannot
/// run with a token that can be guessed. `Debug` shows `AdminToken(Secret(***))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken(Secret);

impl AdminToken {
    /// Checks a token; `from` names where it came from, for the error.
    pub fn new(token: &str, from: &'static str) -> Result<AdminToken, ConfigError> {
        let token = token.trim();
        let chars = token.chars().count();
        if chars == 0 {
            return Err(ConfigError::MissingAdminToken);
        }
        if chars < MIN_ADMIN_TOKEN_CHARS {
            return Err(ConfigError::ShortAdminToken { from, chars });
        }
        Ok(AdminToken(Secret::new(token)))
    }

    /// The token's text, to compare a presented token with.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl CentralConfig {
    /// Parses and validates a TOML configuration.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: CentralConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges that the TOML shape cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid {
                field: "max_body_bytes",
                message: format!(
                    "is {} bytes; expected at least 1024 bytes",
                    self.max_body_bytes
                ),
            });
        }
        if self.max_plan_wait > Duration::from_secs(600) {
            return Err(ConfigError::Invalid {
                field: "max_plan_wait",
                message: format!(
                    "is {:?}; expected at most 10 minutes (load balancers cut longer requests)",
                    self.max_plan_wait
                ),
            });
        }
        let s = &self.sessions;
        if s.idle < Duration::from_secs(60) || s.idle > s.absolute {
            return Err(ConfigError::Invalid {
                field: "sessions.idle",
                message: format!(
                    "is {:?}; expected at least a minute and at most `sessions.absolute` ({:?})",
                    s.idle, s.absolute
                ),
            });
        }
        if s.absolute > Duration::from_secs(7 * 24 * 3600) {
            return Err(ConfigError::Invalid {
                field: "sessions.absolute",
                message: format!("is {:?}; expected at most 7 days", s.absolute),
            });
        }
        if s.kiosk_idle < MIN_KIOSK_IDLE || s.kiosk_idle > MAX_KIOSK_IDLE {
            return Err(ConfigError::Invalid {
                field: "sessions.kiosk_idle",
                message: format!(
                    "is {:?}; expected 5 minutes to 30 days (a kiosk's live board marks it used once a minute)",
                    s.kiosk_idle
                ),
            });
        }
        let d = &self.documents;
        for (field, value, max) in [
            ("documents.company_name", &d.company_name, 200),
            ("documents.company_address", &d.company_address, 1000),
            ("documents.company_contact", &d.company_contact, 1000),
        ] {
            if value.len() > max {
                return Err(ConfigError::Invalid {
                    field,
                    message: format!("is {} bytes; expected at most {max}", value.len()),
                });
            }
        }
        if let Some(prefix) = &d.gs1_company_prefix
            && !((6..=12).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError::Invalid {
                field: "documents.gs1_company_prefix",
                message: format!(
                    "{:?} is not a GS1 company prefix; expected 6 to 12 digits",
                    protocol::bounds::sanitize(prefix, 40, false)
                ),
            });
        }
        if let Some(font) = &d.cjk_font
            && !font.is_absolute()
        {
            return Err(ConfigError::Invalid {
                field: "documents.cjk_font",
                message: format!(
                    "{:?} is not an absolute path; expected the full path of a .ttf, .otf or .ttc",
                    font.display().to_string()
                ),
            });
        }
        if self.shipping.edges.len() > MAX_SHIPPING_EDGES {
            return Err(ConfigError::Invalid {
                field: "shipping.edges",
                message: format!(
                    "names {} edges; expected at most {MAX_SHIPPING_EDGES}",
                    self.shipping.edges.len()
                ),
            });
        }
        for (i, edge) in self.shipping.edges.iter().enumerate() {
            if let Err(v) = protocol::bounds::check_id("edge", edge) {
                return Err(ConfigError::Invalid {
                    field: "shipping.edges",
                    message: format!("edge {}: {}", i + 1, v.problem),
                });
            }
            if self.shipping.edges[..i].contains(edge) {
                return Err(ConfigError::Invalid {
                    field: "shipping.edges",
                    message: format!("{edge:?} is named twice; expected each edge once"),
                });
            }
        }
        self.notify.validate()?;
        if let Some(tls) = &self.tls {
            for (field, path) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
                if path.as_os_str().is_empty() {
                    return Err(ConfigError::Invalid {
                        field,
                        message: "is empty; expected the path of a PEM file".to_owned(),
                    });
                }
            }
        }
        if let Some(token) = &self.admin_token
            && let Err(ConfigError::ShortAdminToken { chars, .. }) =
                AdminToken::new(token.expose(), "admin_token")
        {
            return Err(ConfigError::Invalid {
                field: "admin_token",
                message: format!(
                    "is {chars} characters; expected at least {MIN_ADMIN_TOKEN_CHARS} \
                     (make one with `openssl rand -hex 32`)"
                ),
            });
        }
        Ok(())
    }

    /// The admin token to use: `MES_ADMIN_TOKEN` if set and non-empty, else the config's.
    /// Errors when there is neither, or when the one found is shorter than
    /// [`MIN_ADMIN_TOKEN_CHARS`]: central must not start without a token that resists guessing.
    pub fn resolve_admin_token(&self) -> Result<AdminToken, ConfigError> {
        self.admin_token_with_env(std::env::var(ADMIN_TOKEN_ENV).ok())
    }

    /// [`Self::resolve_admin_token`] with the environment passed in (for tests).
    pub fn admin_token_with_env(
        &self,
        env_value: Option<String>,
    ) -> Result<AdminToken, ConfigError> {
        match env_value.filter(|t| !t.trim().is_empty()) {
            Some(t) => AdminToken::new(&t, ADMIN_TOKEN_ENV),
            None => match &self.admin_token {
                Some(t) => AdminToken::new(t.expose(), "admin_token in the config"),
                None => Err(ConfigError::MissingAdminToken),
            },
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_all_defaults() {
        let config = CentralConfig::from_toml_str("").unwrap();
        assert_eq!(config, CentralConfig::default());
        assert_eq!(config.max_body_bytes, 32 * 1024 * 1024);
        assert_eq!(config.max_plan_wait, Duration::from_secs(30));
    }

    #[test]
    fn full_config() {
        let config = CentralConfig::from_toml_str(
            r#"
listen = "0.0.0.0:9000"
data_dir = "/tmp/central"
admin_token = "0123456789abcdef0123456789abcdef"
max_body_bytes = 4096
max_plan_wait = "500ms"
"#,
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/tmp/central"));
        assert_eq!(
            config.admin_token.as_ref().map(Secret::expose),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(config.max_body_bytes, 4096);
        assert_eq!(config.max_plan_wait, Duration::from_millis(500));
    }

    #[test]
    fn the_edges_that_ship_are_ids_named_once() {
        let config = CentralConfig::from_toml_str("[shipping]\nedges = [\"dock-1\"]\n").unwrap();
        assert_eq!(config.shipping.edges, vec!["dock-1".to_owned()]);
        let err = CentralConfig::from_toml_str("[shipping]\nedges = [\"dock-1\", \"dock-1\"]\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "shipping.edges: \"dock-1\" is named twice; expected each edge once"
        );
        let err = CentralConfig::from_toml_str("[shipping]\nedges = [\"\"]\n").unwrap_err();
        assert!(
            err.to_string().starts_with("shipping.edges: edge 1:"),
            "{err}"
        );
        let err = CentralConfig::from_toml_str("[shipping]\ndocks = []\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 2, .. }), "{err}");
    }

    #[test]
    fn unknown_field_names_its_line() {
        let err = CentralConfig::from_toml_str("listen = \"127.0.0.1:1\"\nmax_wait = \"1s\"\n")
            .unwrap_err();
        let ConfigError::Parse { line, message, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*line, 2, "{err}");
        assert!(message.contains("max_wait"), "{err}");
        assert!(err.to_string().starts_with("line 2"), "{err}");
    }

    #[test]
    fn bad_duration_names_its_line() {
        let err = CentralConfig::from_toml_str("\n\nmax_plan_wait = \"30 parsecs\"\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("unit"), "{err}");
    }

    #[test]
    fn bad_listen_address_names_its_line() {
        let err = CentralConfig::from_toml_str("listen = \"nowhere\"").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 1, .. }), "{err}");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let err = CentralConfig::from_toml_str("max_body_bytes = 10").unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                field: "max_body_bytes",
                ..
            }
        ));
        let err = CentralConfig::from_toml_str("max_plan_wait = \"2h\"").unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                field: "max_plan_wait",
                ..
            }
        ));
    }

    #[test]
    fn kiosk_idle_is_read_and_bounded() {
        let config = CentralConfig::default();
        assert_eq!(config.sessions.kiosk_idle, Duration::from_secs(12 * 3600));
        let config = CentralConfig::from_toml_str("[sessions]\nkiosk_idle = \"2days\"\n").unwrap();
        assert_eq!(
            config.sessions.kiosk_idle,
            Duration::from_secs(2 * 24 * 3600)
        );
        // A kiosk has no absolute timeout: its idle one may exceed the people's.
        assert_eq!(config.sessions.absolute, Duration::from_secs(12 * 3600));
        for bad in ["1m", "31days"] {
            let err =
                CentralConfig::from_toml_str(&format!("[sessions]\nkiosk_idle = \"{bad}\"\n"))
                    .unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        field: "sessions.kiosk_idle",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn admin_token_env_overrides_config_and_one_is_required() {
        let from_config = "c".repeat(32);
        let from_env = "e".repeat(40);
        let mut config = CentralConfig::default();
        assert_eq!(
            config.admin_token_with_env(None),
            Err(ConfigError::MissingAdminToken)
        );
        assert_eq!(
            config.admin_token_with_env(Some("  ".into())),
            Err(ConfigError::MissingAdminToken)
        );
        config.admin_token = Some(Secret::new(from_config.clone()));
        assert_eq!(
            config.admin_token_with_env(None).unwrap().expose(),
            from_config
        );
        assert_eq!(
            config
                .admin_token_with_env(Some(format!(" {from_env}\n")))
                .unwrap()
                .expose(),
            from_env
        );
        assert!(
            ConfigError::MissingAdminToken
                .to_string()
                .contains(ADMIN_TOKEN_ENV)
        );
    }

    /// Issue 11: a one-character admin token was accepted.
    #[test]
    fn issue_11_an_admin_token_shorter_than_32_characters_is_refused() {
        let mut config = CentralConfig::default();
        let err = config
            .admin_token_with_env(Some("x".repeat(31)))
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::ShortAdminToken {
                from: ADMIN_TOKEN_ENV,
                chars: 31
            }
        );
        let message = err.to_string();
        assert!(message.contains("at least 32"), "{message}");
        assert!(message.contains("openssl rand -hex 32"), "{message}");
        assert!(
            !message.contains("xxx"),
            "the token is not printed: {message}"
        );
        config.admin_token = Some(Secret::new("a"));
        assert!(matches!(
            config.admin_token_with_env(None),
            Err(ConfigError::ShortAdminToken { chars: 1, .. })
        ));
        // Whitespace around it does not count.
        assert!(
            config
                .admin_token_with_env(Some(format!("  {}  ", "y".repeat(31))))
                .is_err()
        );
        assert!(config.admin_token_with_env(Some("y".repeat(32))).is_ok());
        assert!(AdminToken::new(&"z".repeat(31), "test").is_err());
        // The file is checked when it is read, so `mes check-config` names it.
        let err = CentralConfig::from_toml_str("admin_token = \"short\"\n").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    field: "admin_token",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("openssl rand -hex 32"), "{err}");
        assert!(!err.to_string().contains("short"), "{err}");
    }

    /// Issue 11: secrets never show in `Debug`.
    #[test]
    fn issue_11_debug_of_the_config_and_the_token_hides_the_token() {
        let token = "s3cr3t-admin-token-0123456789abcdef";
        let config = CentralConfig::from_toml_str(&format!("admin_token = \"{token}\"\n")).unwrap();
        let shown = format!("{config:?} {:?}", config.admin_token_with_env(None));
        assert!(!shown.contains(token), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("Secret(***)"), "{shown}");
    }

    #[test]
    fn notify_is_optional_and_each_mistake_is_named() {
        let config = CentralConfig::from_toml_str("").unwrap();
        assert_eq!(config.notify, NotifyConfig::default());
        let ok = CentralConfig::from_toml_str(
            "[notify]\nbase_url = \"https://mes.example.com\"\nsmtp = \"smtps://mail.example.com\"\nfrom = \"MES <mes@example.com>\"\nwebhook = \"https://chat.example.com/hook\"\nwebhook_secret = \"sixteen-characters\"\n",
        )
        .unwrap();
        assert_eq!(
            ok.notify.webhook.as_deref(),
            Some("https://chat.example.com/hook")
        );
        for (toml, field) in [
            (
                "[notify]\nsmtp = \"mail.example.com\"\nfrom = \"a@b.c\"\n",
                "notify.smtp",
            ),
            (
                "[notify]\nsmtp = \"smtp://mail.example.com\"\n",
                "notify.from",
            ),
            (
                "[notify]\nwebhook = \"https://x.example/h\"\nwebhook_secret = \"short\"\n",
                "notify.webhook_secret",
            ),
            (
                "[notify]\nwebhook = \"ftp://x.example/h\"\n",
                "notify.webhook",
            ),
            (
                "[notify]\nbase_url = \"mes.example.com\"\n",
                "notify.base_url",
            ),
        ] {
            let err = CentralConfig::from_toml_str(toml).unwrap_err().to_string();
            assert!(err.starts_with(field), "{toml}: {err}");
        }
        // The secret never shows in the config's Debug.
        assert!(!format!("{ok:?}").contains("sixteen-characters"));
    }

    #[test]
    fn tls_table_is_optional_and_strict() {
        assert_eq!(CentralConfig::from_toml_str("").unwrap().tls, None);
        let config = CentralConfig::from_toml_str(
            "listen = \"0.0.0.0:8443\"\n[tls]\ncert = \"tls/fullchain.pem\"\nkey = \"/etc/mes/key.pem\"\n",
        )
        .unwrap();
        let tls = config.tls.clone().expect("[tls] read");
        assert_eq!(tls.cert, PathBuf::from("tls/fullchain.pem"));
        // Relative to the configuration file; an absolute path stays as it is.
        let resolved = tls.relative_to(std::path::Path::new("/etc/mes"));
        assert_eq!(resolved.cert, PathBuf::from("/etc/mes/tls/fullchain.pem"));
        assert_eq!(resolved.key, PathBuf::from("/etc/mes/key.pem"));

        let err = CentralConfig::from_toml_str(
            "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nclient_ca = \"ca.pem\"\n",
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 4, .. }), "{err}");
        assert!(err.to_string().contains("client_ca"), "{err}");
        let err = CentralConfig::from_toml_str("[tls]\ncert = \"c.pem\"\n").unwrap_err();
        assert!(err.to_string().contains("key"), "{err}");
        let err =
            CentralConfig::from_toml_str("[tls]\ncert = \"\"\nkey = \"k.pem\"\n").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    field: "tls.cert",
                    ..
                }
            ),
            "{err}"
        );
    }
}
