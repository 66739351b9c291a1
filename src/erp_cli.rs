//! `mes import` and `mes mrp`: central's ERP API from the command line.
//!
//! The token never needs to be on the command line, where `ps` and the shell history show it:
//! `--token-file PATH`, or the environment (`MES_TOKEN`, else `MES_ADMIN_TOKEN`). `--token` is
//! still taken, for scripts written before, with a warning.

use anyhow::{Context, bail};
use protocol::Secret;
use std::path::{Path, PathBuf};

/// Environment variable holding the token of `mes import` and `mes mrp`.
pub const TOKEN_ENV: &str = "MES_TOKEN";

/// Where the token for central comes from.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TokenArgs {
    /// File holding the token (surrounding whitespace trimmed); else the environment variable
    /// MES_TOKEN, else MES_ADMIN_TOKEN.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Deprecated: a token on the command line shows in `ps`. Use --token-file or MES_TOKEN.
    #[arg(long, hide = true, conflicts_with = "token_file")]
    token: Option<String>,
}

impl TokenArgs {
    /// The token, and warnings to print (a world-readable file, `--token`).
    pub fn resolve(&self) -> anyhow::Result<(Secret, Vec<String>)> {
        self.resolve_with_env(|var| std::env::var(var).ok())
    }

    fn resolve_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<(Secret, Vec<String>)> {
        if let Some(path) = &self.token_file {
            let file = edge_agent::config::read_secret_file(path)
                .map_err(|e| anyhow::anyhow!("--token-file: {e}"))?;
            return Ok((file.secret, file.warning.into_iter().collect()));
        }
        if let Some(token) = self
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let warning = format!(
                "--token puts the token on the command line, where `ps` and the shell history \
                 show it to others; use --token-file PATH or the environment variable {TOKEN_ENV}"
            );
            return Ok((Secret::new(token), vec![warning]));
        }
        for var in [TOKEN_ENV, central::config::ADMIN_TOKEN_ENV] {
            if let Some(token) = env(var).filter(|t| !t.trim().is_empty()) {
                return Ok((Secret::new(token.trim()), Vec::new()));
            }
        }
        bail!(
            "no token for central: give --token-file PATH or set {TOKEN_ENV} (or {})",
            central::config::ADMIN_TOKEN_ENV
        )
    }
}

/// Resolves the token and prints its warnings to stderr.
pub(crate) fn token(args: &TokenArgs) -> anyhow::Result<Secret> {
    let (token, warnings) = args.resolve()?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    Ok(token)
}

pub(crate) fn url(central: &str, path: &str) -> String {
    format!("{}{path}", central.trim_end_matches('/'))
}

/// Prints a successful body to stdout, or the error (with every row error of an import) to
/// stderr and fails.
pub(crate) async fn finish(response: reqwest::Response, what: &str) -> anyhow::Result<()> {
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("{what}: cannot read central's answer"))?;
    if status.is_success() {
        println!("{body}");
        return Ok(());
    }
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let error = &json["error"];
    match error["message"].as_str() {
        Some(message) => eprintln!("{what}: {message}"),
        None => eprintln!("{what}: {body}"),
    }
    if let Some(details) = error["details"].as_array() {
        for d in details {
            eprintln!(
                "  line {}, column {}: {}",
                d["line"],
                d["column"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or("")
            );
        }
    }
    bail!(
        "{what} failed: {} {}",
        status.as_u16(),
        error["code"].as_str().unwrap_or("")
    )
}

/// Every kind `POST /api/v1/import/KIND` takes: the ERP's CSV imports, routings and the
/// operator registry.
pub fn import_kinds() -> Vec<&'static str> {
    central::erp::import::ImportKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .chain(["routings", "operators", "users"])
        .collect()
}

/// `mes import --central URL [--token-file PATH] KIND FILE`: posts a CSV file to
/// `/api/v1/import/KIND`; prints `{"kind":…,"rows":…}`.
pub async fn import(
    central: &str,
    token_args: &TokenArgs,
    kind: &str,
    file: &Path,
) -> anyhow::Result<()> {
    let token = token(token_args)?;
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let response = reqwest::Client::new()
        .post(url(central, &format!("/api/v1/import/{kind}")))
        .bearer_auth(token.expose())
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach central at {central}"))?;
    finish(response, &format!("import {kind} from {}", file.display())).await
}

/// `mes mrp --central URL [--token-file PATH] [--as-of DATE] [--pegging single|full]
/// [--firm all|PLN-…,…]`: runs MRP and prints the plan as central returns it; with `--firm`,
/// then firms the run's planned orders into work orders and prints what was firmed.
pub async fn mrp(
    central: &str,
    token_args: &TokenArgs,
    as_of: Option<&str>,
    pegging: Option<&str>,
    firm: Option<&str>,
) -> anyhow::Result<()> {
    let token = token(token_args)?;
    let firm_body = firm.map(firm_body).transpose()?;
    let mut query = Vec::new();
    if let Some(as_of) = as_of {
        query.push(("as_of", as_of));
    }
    if let Some(pegging) = pegging {
        query.push(("pegging", pegging));
    }
    let client = reqwest::Client::new();
    let response = client
        .post(url(central, "/api/v1/mrp/run"))
        .bearer_auth(token.expose())
        .query(&query)
        .send()
        .await
        .with_context(|| format!("cannot reach central at {central}"))?;
    let Some(body) = firm_body else {
        return finish(response, "mrp run").await;
    };
    if !response.status().is_success() {
        return finish(response, "mrp run").await;
    }
    let text = response
        .text()
        .await
        .context("mrp run: cannot read central's answer")?;
    println!("{text}");
    let plan: serde_json::Value =
        serde_json::from_str(&text).context("mrp run: central's answer is not json")?;
    let run = plan["run"]
        .as_u64()
        .context("mrp run: central's answer has no run number to firm")?;
    let response = client
        .post(url(central, &format!("/api/v1/mrp/runs/{run}/firm")))
        .bearer_auth(token.expose())
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach central at {central}"))?;
    finish(response, &format!("firm mrp run {run}")).await
}

/// The body of a firming: `all`, or planned-order references separated by commas.
fn firm_body(firm: &str) -> anyhow::Result<serde_json::Value> {
    if firm.trim() == "all" {
        return Ok(serde_json::json!({"all": true}));
    }
    let refs: Vec<&str> = firm
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    if refs.is_empty() {
        bail!("--firm {firm:?} names no planned order; expected all or PLN-000001,PLN-000002");
    }
    Ok(serde_json::json!({"planned_orders": refs}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |var| pairs.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
    }

    /// Issue 11: `--token` showed the admin token in `ps`; it comes from a file or the
    /// environment now, and `--token` still works for old scripts, with a warning.
    #[test]
    fn issue_11_the_token_comes_from_a_file_or_the_environment() {
        let none = TokenArgs::default();
        let err = none.resolve_with_env(env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("--token-file") && err.contains("MES_TOKEN"),
            "{err}"
        );
        let (t, warnings) = none
            .resolve_with_env(env(&[("MES_ADMIN_TOKEN", "admin-tok")]))
            .unwrap();
        assert_eq!((t.expose(), warnings.len()), ("admin-tok", 0));
        let (t, _) = none
            .resolve_with_env(env(&[
                ("MES_ADMIN_TOKEN", "admin-tok"),
                ("MES_TOKEN", " tok\n"),
            ]))
            .unwrap();
        assert_eq!(t.expose(), "tok");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "from-file\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let from_file = TokenArgs {
            token_file: Some(path.clone()),
            token: None,
        };
        let (t, warnings) = from_file
            .resolve_with_env(env(&[("MES_TOKEN", "from-env")]))
            .unwrap();
        assert_eq!(t.expose(), "from-file");
        assert!(warnings.is_empty(), "{warnings:?}");
        let missing = TokenArgs {
            token_file: Some(dir.path().join("nope")),
            token: None,
        };
        assert!(missing.resolve_with_env(env(&[])).is_err());

        let on_the_line = TokenArgs {
            token_file: None,
            token: Some("cli-tok".into()),
        };
        let (t, warnings) = on_the_line.resolve_with_env(env(&[])).unwrap();
        assert_eq!(t.expose(), "cli-tok");
        assert!(warnings[0].contains("`ps`"), "{warnings:?}");
    }

    #[test]
    fn firm_takes_all_or_references() {
        assert_eq!(firm_body("all").unwrap(), serde_json::json!({"all": true}));
        assert_eq!(
            firm_body("PLN-000001, PLN-000003").unwrap(),
            serde_json::json!({"planned_orders": ["PLN-000001", "PLN-000003"]})
        );
        assert!(firm_body(" , ").is_err());
    }

    #[test]
    fn issue_11_token_flags_parse_and_conflict() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            token: TokenArgs,
        }
        let cli = Cli::try_parse_from(["mes", "--token-file", "/run/secrets/mes"]).unwrap();
        assert_eq!(
            cli.token.token_file.as_deref(),
            Some(Path::new("/run/secrets/mes"))
        );
        assert!(Cli::try_parse_from(["mes", "--token", "t"]).is_ok());
        assert!(Cli::try_parse_from(["mes", "--token", "t", "--token-file", "f"]).is_err());
        // Debug of the arguments shows the file, and `--token` only as a deprecated flag.
        let help = <Cli as clap::CommandFactory>::command()
            .render_help()
            .to_string();
        assert!(help.contains("--token-file"), "{help}");
        assert!(!help.contains("--token <"), "--token is hidden: {help}");
    }
}
