//! `mes`: one binary for central, the edge agent, the demo, simulators and benchmarks.
//! Thin by design: it parses the command line and calls into the crates.

mod barcode_cli;
mod bench;
mod check_config;
mod demo;
mod erp_cli;
mod people_cli;
mod sim_cli;
mod soak;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "mes",
    version,
    about = "Shop-floor MES: edge agents and central"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What `mes central` does besides running.
#[derive(Subcommand)]
enum CentralAction {
    /// Copy the store to a new file while central runs (SQLite's online backup API, or
    /// `pg_dump` in its custom format on PostgreSQL).
    Backup {
        /// The new file.
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Put a backup back (central stopped). A store that holds edges or events is replaced only with
    /// --force. Starts a new plan epoch, so edges take the restored central's plans.
    Restore {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Which store a `mes central` tool works on: as `mes central` would open it.
#[derive(clap::Args)]
struct StoreArgs {
    #[arg(long)]
    data: Option<PathBuf>,
    /// `sqlite` (default) or a PostgreSQL URL (one with a password: MES_STORE).
    #[arg(long)]
    store: Option<String>,
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole plant on this machine: central and two edge agents with simulated machines.
    Demo {
        /// Stop after this long (e.g. `30`, `30s`, `2m`) and print a one-line JSON summary.
        #[arg(long = "for", value_parser = parse_duration)]
        run_for: Option<Duration>,
        /// Port for central (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Run central as two instances on this PostgreSQL database (`postgres://user@host/db`;
        /// give it a fresh, empty one) instead of SQLite in a temporary directory.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// Run central (or, with `backup` / `restore`, copy its store).
    Central {
        #[command(subcommand)]
        action: Option<CentralAction>,
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[arg(long)]
        data: Option<PathBuf>,
        /// `sqlite` (default) or a PostgreSQL URL without a password (put one with a password
        /// in MES_STORE, which overrides this and the config file).
        #[arg(long)]
        store: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run an edge agent.
    Edge {
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a configuration file (edge or central) and name the line of each mistake.
    CheckConfig { file: PathBuf },
    /// Import master data into central from a CSV file (`POST /api/v1/import/KIND`); all or
    /// nothing, every bad row named with its line and column.
    Import {
        #[arg(long)]
        central: String,
        #[command(flatten)]
        token: erp_cli::TokenArgs,
        /// What the file holds: every kind central imports.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(erp_cli::import_kinds()))]
        kind: String,
        file: PathBuf,
    },
    /// Run MRP on central and print the plan (planned orders and action messages) as JSON.
    Mrp {
        #[arg(long)]
        central: String,
        #[command(flatten)]
        token: erp_cli::TokenArgs,
        /// Planning date (YYYY-MM-DD); central's today if absent.
        #[arg(long)]
        as_of: Option<String>,
        /// `single` (parent planned order, the default) or `full` (the demand at the top).
        #[arg(long)]
        pegging: Option<String>,
        /// Then firm the run's planned orders into work orders: `all` (every make order) or
        /// references separated by commas (`PLN-000001,PLN-000003`); prints what was firmed.
        #[arg(long, value_name = "all|PLN-…")]
        firm: Option<String>,
    },
    /// Central's users: `mes user add|disable|reset-password|list` (through central's API,
    /// with the admin token or a personal token of someone with `users.manage`).
    User {
        #[arg(long)]
        central: String,
        #[command(flatten)]
        token: erp_cli::TokenArgs,
        #[command(subcommand)]
        command: people_cli::UserCommand,
    },
    /// Personal API tokens: `mes token create --central URL --name N [--days D]`.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the roles and permissions matrix (docs/ROLES.md is this output).
    Roles,
    /// Measure the figures BENCHMARKS.md records.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
    /// Soak the delivery promise with the real binaries: edges, central and the MQTT broker
    /// killed, links cut; ends comparing every edge journal with central (issue 14).
    Soak(soak::SoakArgs),
    /// Run a simulator on its own (`mes sim plc`, `mes sim mqtt`).
    Sim {
        #[command(subcommand)]
        which: sim_cli::SimCommand,
    },
    /// Read codes as the edge does: `mes barcode parse CODE` prints one JSON object.
    Barcode {
        #[command(subcommand)]
        command: barcode_cli::BarcodeCommand,
    },
    /// Make a barcode label (PNG, SVG or ZPL by the file's extension) or send it to a Zebra
    /// printer: `mes label --symbology gs1-128 --data '(01)09506000134352(10)ABC123' --out label.png`.
    Label(barcode_cli::LabelArgs),
    /// Central's audit trail: `mes audit verify --data DIR` checks its hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of central's audit trail in a data directory (read-only; central
    /// may be running). Prints the number of entries and the newest hash, or names the first
    /// broken entry and exits with status 1.
    Verify {
        /// Central's data directory (the one holding central.db).
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a personal API token, printed once.
    Create(people_cli::TokenCreate),
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    protocol::duration::parse(s).map_err(|e| e.to_string())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: logs redirected to a file or a journal stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

fn main() -> anyhow::Result<()> {
    // What this process creates (journals, central's store, labels) is owner-only whatever the
    // shell's umask; the stores also set their files' modes themselves.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    match cli.command {
        Command::Bench { which } => {
            init_logging();
            bench::run(which)
        }
        Command::Audit {
            command: AuditCommand::Verify { data },
        } => audit_verify(&data),
        // The edge's runtime is sized by its config (`[runtime]`), so the config comes first.
        Command::Edge { config } => {
            init_logging();
            let config = edge_agent::EdgeConfig::load(&config)
                .with_context(|| format!("invalid configuration {}", config.display()))?;
            let runtime = config
                .runtime
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(edge_agent::run(config, shutdown_signal()))?;
            Ok(())
        }
        command => {
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(async_main(command))
        }
    }
}

async fn async_main(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo {
            run_for,
            port,
            postgres,
        } => {
            init_logging();
            demo::run(run_for, port, postgres).await
        }
        Command::Central {
            action: Some(action),
            ..
        } => central_tool(action).await,
        Command::Central {
            action: None,
            listen,
            data,
            store,
            config,
        } => {
            init_logging();
            run_central(listen, data, store, config).await
        }
        Command::CheckConfig { file } => check_config(&file),
        Command::Import {
            central,
            token,
            kind,
            file,
        } => erp_cli::import(&central, &token, &kind, &file).await,
        Command::Mrp {
            central,
            token,
            as_of,
            pegging,
            firm,
        } => {
            erp_cli::mrp(
                &central,
                &token,
                as_of.as_deref(),
                pegging.as_deref(),
                firm.as_deref(),
            )
            .await
        }
        Command::Sim { which } => {
            init_logging();
            sim_cli::run(which).await
        }
        Command::Barcode { command } => barcode_cli::barcode(command),
        Command::User {
            central,
            token,
            command,
        } => people_cli::user(&central, &token, command).await,
        Command::Token {
            command: TokenCommand::Create(args),
        } => people_cli::token_create(args).await,
        Command::Roles => {
            people_cli::roles();
            Ok(())
        }
        Command::Label(args) => barcode_cli::label(args).await,
        Command::Soak(args) => soak::run(args).await,
        Command::Bench { .. } | Command::Edge { .. } | Command::Audit { .. } => {
            unreachable!("handled before the runtime starts")
        }
    }
}

/// `mes central backup` and `restore`.
async fn central_tool(action: CentralAction) -> anyhow::Result<()> {
    use central::config::StoreSpec;
    use central::store::sql::backup;
    let (cfg, what) = match &action {
        CentralAction::Backup { store, .. } | CentralAction::Restore { store, .. } => {
            let cfg = central_config(None, store.data.clone(), store.store.clone(), &store.config)?;
            let what = match &cfg.store {
                StoreSpec::Sqlite => cfg
                    .data_dir
                    .join(central::store::sql::DB_FILE)
                    .display()
                    .to_string(),
                other => format!("{other:?}"),
            };
            (cfg, what)
        }
    };
    let summary = tokio::task::spawn_blocking(move || match (action, &cfg.store) {
        (CentralAction::Backup { to, .. }, StoreSpec::Sqlite) => {
            backup::backup_sqlite(&cfg.data_dir, &to)
        }
        (CentralAction::Backup { to, .. }, StoreSpec::Postgres(url)) => {
            backup::backup_postgres(url.expose(), &to)
        }
        (CentralAction::Restore { from, force, .. }, StoreSpec::Sqlite) => {
            backup::restore_sqlite(&from, &cfg.data_dir, force)
        }
        (CentralAction::Restore { from, force, .. }, StoreSpec::Postgres(url)) => {
            backup::restore_postgres(&from, url.expose(), force)
        }
    })
    .await??;
    println!(
        "{what}: {} events, {} ({} bytes)",
        summary.events,
        summary.file.display(),
        summary.bytes
    );
    Ok(())
}

/// Central's configuration: the file, then the command line, then `MES_STORE`.
fn central_config(
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    store: Option<String>,
    config: &Option<PathBuf>,
) -> anyhow::Result<central::CentralConfig> {
    let mut cfg = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut cfg = central::CentralConfig::from_toml_str(&text)
                .with_context(|| format!("invalid configuration {}", path.display()))?;
            // The certificate and key are named relative to the configuration file.
            if let (Some(tls), Some(dir)) = (&mut cfg.tls, path.parent()) {
                *tls = tls.relative_to(dir);
            }
            cfg
        }
        None => central::CentralConfig::default(),
    };
    if let Some(listen) = listen {
        cfg.listen = listen;
    }
    if let Some(data) = data {
        cfg.data_dir = data;
    }
    if let Some(store) = store {
        cfg.store = store.parse().map_err(|e| anyhow::anyhow!("--store {e}"))?;
    }
    if let Ok(store) = std::env::var(central::config::STORE_ENV) {
        cfg.store = store
            .parse()
            .map_err(|e| anyhow::anyhow!("{} {e}", central::config::STORE_ENV))?;
    }
    if let Ok(secret) = std::env::var(central::config::WEBHOOK_SECRET_ENV) {
        cfg.notify.webhook_secret = Some(protocol::Secret::new(secret));
    }
    cfg.validate()?;
    Ok(cfg)
}

async fn run_central(
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    store: Option<String>,
    config: Option<PathBuf>,
) -> anyhow::Result<()> {
    let cfg = central_config(listen, data, store, &config)?;
    let admin_token = cfg.resolve_admin_token()?;
    // Read and checked before anything else starts: a wrong file stops central, named.
    let tls = match &cfg.tls {
        Some(tls) => Some(central::tls::server_config(tls)?),
        None => None,
    };
    let store = central::open_store(&cfg)
        .await
        .with_context(|| match &cfg.store {
            central::config::StoreSpec::Sqlite => {
                format!("cannot open the store in {}", cfg.data_dir.display())
            }
            other => format!("cannot open the store {other:?}"),
        })?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, data = %cfg.data_dir.display(), store = ?cfg.store, "central listening");
    if store.ensure_bootstrap_admin().await? {
        tracing::info!(
            login = central::people::users::BOOTSTRAP_ADMIN,
            "made the first administrator; the admin token acts as them, `mes user add` makes the others"
        );
    }
    // `[shipping] edges` into the store, which every plan publication reads.
    let republished = store
        .configure_shipping(
            cfg.shipping.edges.clone(),
            cfg.documents.gs1_company_prefix.clone(),
        )
        .await?;
    if !republished.is_empty() {
        tracing::info!(
            n_plans = republished.len(),
            "the edges that ship changed: their plans were published again"
        );
    }
    // Session cookies are `Secure` when central serves HTTPS.
    let state = central::AppState::new(store, admin_token, &cfg).with_secure_cookies(tls.is_some());
    match tls {
        Some(tls) => central::tls::serve_tls(listener, state, tls, shutdown_signal()).await?,
        None => central::serve(listener, state, shutdown_signal()).await?,
    }
    Ok(())
}

/// `mes audit verify --data DIR`: the audit chain of `DIR/central.db`, opened read-only.
fn audit_verify(data: &std::path::Path) -> anyhow::Result<()> {
    let db = data.join(central::store::sql::DB_FILE);
    let verdict = central::store::sql::audit::verify_file(&db)
        .with_context(|| format!("cannot read the audit trail of {}", db.display()))?;
    match verdict.broken {
        None => {
            println!(
                "{}: audit trail verified: {} entries, newest hash {}",
                db.display(),
                verdict.entries,
                verdict.head.as_deref().unwrap_or("(none)")
            );
            Ok(())
        }
        Some(broken) => bail!(
            "{}: audit trail broken at entry {}: {} ({} entries read)",
            db.display(),
            broken.seq,
            broken.reason,
            verdict.entries
        ),
    }
}

/// Checks an edge or a central configuration; which one is told by its `edge_id` key.
fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let kind = check_config::Kind::of(&text);
    let result = check_config::check(&text, kind).and_then(|warnings| {
        let unusable = check_config::check_files(file, &text, kind);
        if unusable.is_empty() {
            Ok(warnings)
        } else {
            Err(unusable)
        }
    });
    match result {
        Ok(warnings) => {
            // Valid but risky (an embedded MQTT broker open to anonymous clients).
            for warning in warnings {
                eprintln!("{}: WARNING: {warning}", file.display());
            }
            println!("{}: valid {} configuration", file.display(), kind.name());
            Ok(())
        }
        Err(mistakes) => {
            for mistake in &mistakes {
                eprintln!("{}: {mistake}", file.display());
            }
            bail!(
                "{} is not a valid configuration: {} mistake{}",
                file.display(),
                mistakes.len(),
                if mistakes.len() == 1 { "" } else { "s" }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_config_is_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                check_config(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 3, "expected the example configs in {}", dir.display());
    }

    /// Issue 12: `mes import --help` listed 5 kinds while central took more. The CLI takes
    /// and lists every kind central imports, and refuses others before reaching central.
    #[test]
    fn issue_12_mes_import_takes_and_lists_every_kind_central_imports() {
        use clap::CommandFactory;
        let kinds = erp_cli::import_kinds();
        for kind in [
            "items",
            "boms",
            "inventory",
            "routings",
            "operators",
            "locations",
        ] {
            assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
        }
        for kind in &kinds {
            let parsed = Cli::try_parse_from(["mes", "import", "--central", "http://c", kind, "f"]);
            assert!(parsed.is_ok(), "{kind}: {}", parsed.err().unwrap());
        }
        let err = Cli::try_parse_from(["mes", "import", "--central", "http://c", "widgets", "f"])
            .err()
            .expect("an unknown kind is refused")
            .to_string();
        assert!(err.contains("widgets"), "{err}");
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("import")
            .unwrap()
            .render_long_help()
            .to_string();
        for kind in &kinds {
            assert!(help.contains(kind), "{kind} missing from the help:\n{help}");
        }
    }

    /// Issue 13: `mes audit verify --data DIR` reads the chain of a store (read-only, beside
    /// a running central), and names the first broken entry with a non-zero exit.
    #[test]
    fn audit_verify_names_the_first_broken_entry() {
        use central::people::audit::{Actor, ActorKind, with_actor};
        let dir = tempfile::tempdir().unwrap();
        let err = audit_verify(&dir.path().join("nowhere")).unwrap_err();
        assert!(format!("{err:#}").contains("no database"), "{err:#}");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = runtime.block_on(async {
            let store = central::open_sqlite_store(dir.path()).await.unwrap();
            for edge in ["e1", "e2", "e3"] {
                let actor = Actor::new(ActorKind::System, "test", "mes test");
                with_actor(
                    actor,
                    store.create_edge(&edge.into(), central::hash_token(edge)),
                )
                .await
                .unwrap();
            }
            store
        });
        audit_verify(dir.path()).unwrap();
        let conn =
            rusqlite::Connection::open(dir.path().join(central::store::sql::DB_FILE)).unwrap();
        conn.execute_batch(
            "DROP TRIGGER audit_log_no_update;
             UPDATE audit_log SET actor = 'someone else' WHERE seq = 2;",
        )
        .unwrap();
        let err = format!("{:#}", audit_verify(dir.path()).unwrap_err());
        assert!(err.contains("broken at entry 2"), "{err}");
        drop(store);
    }

    #[test]
    fn check_config_names_the_line_of_a_mistake() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.toml");
        std::fs::write(
            &path,
            "edge_id = \"line-1\"\n[central]\nurl = \"http://x\"\ntoken = \"t\"\nbatch_max_events = 0\n",
        )
        .unwrap();
        let err = edge_agent::EdgeConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("line 5"), "{err}");
        assert!(check_config(&path).is_err());
    }
}
