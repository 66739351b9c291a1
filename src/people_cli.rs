//! `mes user …`, `mes token create` and `mes roles`: central's people from the command line.
//!
//! Every change goes through central's API (so it is checked, permitted and audited like any
//! other): with the admin token or a personal token (`--token-file`, `MES_TOKEN`,
//! `MES_ADMIN_TOKEN`, as `mes import`), or, for `mes token create`, signed in as a user
//! (`--login`, the password from `MES_PASSWORD` or the first line of standard input).

use crate::erp_cli::{TokenArgs, finish, token, url};
use anyhow::{Context, bail};
use serde_json::json;

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user (or change one) and print their first password, shown once.
    Add {
        login: String,
        /// Their name as pages show it.
        #[arg(long)]
        name: String,
        /// Roles, separated by commas (`supervisor,quality`); `mes roles` lists them.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Plants whose records they see and change, separated by commas.
        #[arg(long, value_delimiter = ',')]
        plants: Vec<String>,
        /// `zh` (default) or `en`.
        #[arg(long)]
        language: Option<String>,
        #[arg(long)]
        time_zone: Option<String>,
        /// Their manager's login.
        #[arg(long)]
        manager: Option<String>,
        /// Their badge at the line terminals.
        #[arg(long)]
        badge: Option<String>,
        /// Where their notifications are mailed.
        #[arg(long)]
        email: Option<String>,
    },
    /// Disable a user: they cannot sign in, their sessions and tokens stop working; the audit
    /// trail keeps naming them.
    Disable { login: String },
    /// Give a user a new password, printed once; their sessions end.
    ResetPassword { login: String },
    /// Every user, as JSON.
    List,
}

pub async fn user(
    central: &str,
    token_args: &TokenArgs,
    command: UserCommand,
) -> anyhow::Result<()> {
    let token = token(token_args)?;
    let http = reqwest::Client::new();
    let auth = format!("Bearer {}", token.expose());
    match command {
        UserCommand::Add {
            login,
            name,
            roles,
            plants,
            language,
            time_zone,
            manager,
            badge,
            email,
        } => {
            let mut body = json!({"display_name": name, "roles": roles, "plants": plants});
            for (key, value) in [
                ("language", language),
                ("time_zone", time_zone),
                ("manager", manager),
                ("badge", badge),
                ("email", email),
            ] {
                if let Some(v) = value {
                    body[key] = json!(v);
                }
            }
            let response = http
                .put(url(central, &format!("/api/v1/users/{login}")))
                .header("authorization", &auth)
                .json(&body)
                .send_to(central)
                .await?;
            if !response.status().is_success() {
                return finish(response, "mes user add").await;
            }
            let response = http
                .post(url(
                    central,
                    &format!("/api/v1/users/{login}/reset-password"),
                ))
                .header("authorization", &auth)
                .send_to(central)
                .await?;
            finish(response, "mes user add").await
        }
        UserCommand::Disable { login } => {
            let response = http
                .post(url(central, &format!("/api/v1/users/{login}/disable")))
                .header("authorization", &auth)
                .send_to(central)
                .await?;
            finish(response, "mes user disable").await
        }
        UserCommand::ResetPassword { login } => {
            let response = http
                .post(url(
                    central,
                    &format!("/api/v1/users/{login}/reset-password"),
                ))
                .header("authorization", &auth)
                .send_to(central)
                .await?;
            finish(response, "mes user reset-password").await
        }
        UserCommand::List => {
            let response = http
                .get(url(central, "/api/v1/users"))
                .header("authorization", &auth)
                .send_to(central)
                .await?;
            finish(response, "mes user list").await
        }
    }
}

/// Sends a request to central, naming central when it cannot be reached.
trait SendTo {
    async fn send_to(self, central: &str) -> anyhow::Result<reqwest::Response>;
}

impl SendTo for reqwest::RequestBuilder {
    async fn send_to(self, central: &str) -> anyhow::Result<reqwest::Response> {
        self.send()
            .await
            .with_context(|| format!("cannot reach central at {central}"))
    }
}

/// `mes token create`: a personal API token, printed once.
#[derive(clap::Args, Debug)]
pub struct TokenCreate {
    #[arg(long)]
    pub central: String,
    /// What the token is for.
    #[arg(long)]
    pub name: String,
    /// Days until it expires (1 to 366).
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// A subset of your permissions, separated by commas; all of yours if absent.
    #[arg(long, value_delimiter = ',')]
    pub permissions: Option<Vec<String>>,
    /// Sign in as this user (password from MES_PASSWORD or standard input) instead of using
    /// the admin token.
    #[arg(long)]
    pub login: Option<String>,
    #[command(flatten)]
    pub token: TokenArgs,
}

pub async fn token_create(args: TokenCreate) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let central = &args.central;
    let mut body = json!({"name": args.name, "expires_in_days": args.days});
    if let Some(p) = &args.permissions {
        body["permissions"] = json!(p);
    }
    let request = http.post(url(central, "/api/v1/me/tokens")).json(&body);
    let request = match &args.login {
        Some(login) => {
            let password = match std::env::var("MES_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("cannot read the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let signed_in = http
                .post(url(central, "/api/v1/session"))
                .json(&json!({"login": login, "password": password}))
                .send_to(central)
                .await?;
            if !signed_in.status().is_success() {
                return finish(signed_in, "mes token create: sign-in").await;
            }
            let cookie = signed_in
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(str::to_owned);
            let me: serde_json::Value = signed_in.json().await?;
            let (Some(cookie), Some(csrf)) = (cookie, me["csrf_token"].as_str()) else {
                bail!("central's sign-in answer has no session");
            };
            request
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
        }
        None => {
            let token = token(&args.token)?;
            request.header("authorization", format!("Bearer {}", token.expose()))
        }
    };
    let response = request.send_to(central).await?;
    finish(response, "mes token create").await
}

/// `mes roles`: the roles matrix as docs/ROLES.md has it.
pub fn roles() {
    print!("{}", central::people::roles::matrix_markdown());
}
