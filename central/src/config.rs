//! Central's configuration: TOML, strict, every mistake reported with its line.
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! data_dir = "/var/lib/mes/central"
//! admin_token = "..."          # optional; env MES_ADMIN_TOKEN overrides it
//! max_body_bytes = 33554432    # 32 MiB
//! max_plan_wait = "30s"        # longest plan long poll
//! ```
//!
//! Every field has a default, so an empty file (or no file) is a valid configuration; the
//! admin token is the one thing central refuses to start without
//! ([`CentralConfig::resolve_admin_token`]).

use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable that holds the bootstrap admin token; it overrides the config file.
pub const ADMIN_TOKEN_ENV: &str = "MES_ADMIN_TOKEN";

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
    /// Bootstrap admin token. `MES_ADMIN_TOKEN` overrides it.
    pub admin_token: Option<String>,
    /// Largest request body accepted; larger ones get 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// Longest time a plan long poll is held open, whatever `wait_ms` the edge asks for.
    #[serde(deserialize_with = "deserialize_duration")]
    pub max_plan_wait: Duration,
}

impl Default for CentralConfig {
    fn default() -> Self {
        CentralConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
            data_dir: PathBuf::from("data"),
            admin_token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_plan_wait: DEFAULT_MAX_PLAN_WAIT,
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
        "no admin token: set the environment variable {ADMIN_TOKEN_ENV} or `admin_token` in the config; central refuses to start without one"
    )]
    MissingAdminToken,
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
        Ok(())
    }

    /// The admin token to use: `MES_ADMIN_TOKEN` if set and non-empty, else the config's.
    /// Errors when there is neither: central must not start without one.
    pub fn resolve_admin_token(&self) -> Result<String, ConfigError> {
        self.admin_token_with_env(std::env::var(ADMIN_TOKEN_ENV).ok())
    }

    /// [`Self::resolve_admin_token`] with the environment passed in (for tests).
    pub fn admin_token_with_env(&self, env_value: Option<String>) -> Result<String, ConfigError> {
        [env_value, self.admin_token.clone()]
            .into_iter()
            .flatten()
            .map(|t| t.trim().to_owned())
            .find(|t| !t.is_empty())
            .ok_or(ConfigError::MissingAdminToken)
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

/// Parses `"500ms"`, `"30s"`, `"5m"`, `"1h"` (a non-negative integer and a unit).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let expected = "expected a duration like \"500ms\", \"30s\", \"5m\" or \"1h\"";
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: {expected}"))?;
    let millis_per_unit = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err(format!("duration {s:?} has no unit: {expected}")),
        other => return Err(format!("unknown duration unit {other:?}: {expected}")),
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {s:?} is too large"))
}

fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
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
admin_token = "secret"
max_body_bytes = 4096
max_plan_wait = "500ms"
"#,
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/tmp/central"));
        assert_eq!(config.admin_token.as_deref(), Some("secret"));
        assert_eq!(config.max_body_bytes, 4096);
        assert_eq!(config.max_plan_wait, Duration::from_millis(500));
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
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.5s").is_err());
    }

    #[test]
    fn admin_token_env_overrides_config_and_one_is_required() {
        let mut config = CentralConfig::default();
        assert_eq!(
            config.admin_token_with_env(None),
            Err(ConfigError::MissingAdminToken)
        );
        assert_eq!(
            config.admin_token_with_env(Some("  ".into())),
            Err(ConfigError::MissingAdminToken)
        );
        config.admin_token = Some("from-config".into());
        assert_eq!(config.admin_token_with_env(None).unwrap(), "from-config");
        assert_eq!(
            config
                .admin_token_with_env(Some("from-env".into()))
                .unwrap(),
            "from-env"
        );
        assert!(
            ConfigError::MissingAdminToken
                .to_string()
                .contains(ADMIN_TOKEN_ENV)
        );
    }
}
