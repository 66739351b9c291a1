//! `mes central backup` and `restore`, for both engines: SQLite's online backup API (a
//! consistent copy while central runs, page by page, never holding the writer long), and
//! PostgreSQL's own `pg_dump` / `pg_restore` (custom format).
//!
//! A restore refuses a store that holds edges or events unless forced, and then gives the store a new
//! plan epoch ([`super::new_epoch`]): plans it hands out from then on are taken by edges even
//! when their versions are lower than the ones the edges run (which the restored central no
//! longer knows of), instead of being ignored as old.
//!
//! [`fingerprint`] sums up every table (rows and a hash of their content), so a restore can be
//! checked against its source, table by table.

use super::db::Conn;
use super::{DB_FILE, StoreError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Rows and a SHA-256 of their content (sorted), per table.
pub type Fingerprint = BTreeMap<String, (u64, String)>;

/// Every table of the store with its row count and content hash (rows as text, sorted, so
/// the physical order does not count).
pub fn fingerprint(conn: &Conn) -> Result<Fingerprint, StoreError> {
    let tables = super::db::table_names(conn)?;
    let mut out = Fingerprint::new();
    for table in tables {
        let mut rows: Vec<String> = conn
            .prepare(&format!("SELECT * FROM \"{}\"", table.replace('"', "\"\"")))?
            .query_map([], |r| {
                let mut text = String::new();
                for i in 0..r.len() {
                    r.with_ref(i, |v| {
                        text.push_str(&format!("{v:?}"));
                        text.push('\u{1f}');
                    })?;
                }
                Ok(text)
            })?
            .collect::<Result<_, _>>()?;
        rows.sort_unstable();
        let mut hasher = Sha256::new();
        for row in &rows {
            hasher.update(row.as_bytes());
            hasher.update([b'\n']);
        }
        out.insert(table, (rows.len() as u64, hex::encode(hasher.finalize())));
    }
    Ok(out)
}

/// What a backup or restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub file: std::path::PathBuf,
    pub bytes: u64,
    /// Events stored, the one figure an operator checks first.
    pub events: u64,
}

/// What a store holds that a restore would replace: `(edges, events)`.
fn held(conn: &Conn) -> Result<(u64, u64), StoreError> {
    let edges: i64 = conn.query_row("SELECT COUNT(*) FROM edges", [], |r| r.get(0))?;
    Ok((u64::try_from(edges).unwrap_or(0), count_events(conn)?))
}

fn refuse_unless_forced(held: (u64, u64), force: bool, what: &str) -> Result<(), StoreError> {
    let (edges, events) = held;
    if (edges > 0 || events > 0) && !force {
        return Err(StoreError::Conflict(format!(
            "{what} holds {edges} edges and {events} events; restoring would replace them (--force to do so)"
        )));
    }
    Ok(())
}

fn count_events(conn: &Conn) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Copies `central.db` of `data_dir` to `to` (a new file), online: central may run.
pub fn backup_sqlite(data_dir: &Path, to: &Path) -> Result<Summary, StoreError> {
    let source_path = data_dir.join(DB_FILE);
    if !source_path.exists() {
        return Err(StoreError::NotFound(format!(
            "no database {}; expected central's data directory",
            source_path.display()
        )));
    }
    if to.exists() {
        return Err(StoreError::Conflict(format!(
            "{} exists; a backup goes to a new file",
            to.display()
        )));
    }
    let source = rusqlite::Connection::open_with_flags(
        &source_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(std::time::Duration::from_secs(5))?;
    let mut target = rusqlite::Connection::open(to)?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut target)?;
        // 1024 pages (4 MiB) a step, a pause between steps: the writer is never held long.
        backup.run_to_completion(1024, std::time::Duration::from_millis(5), None)?;
    }
    let target = Conn::sqlite(target);
    Ok(Summary {
        file: to.to_owned(),
        bytes: file_len(to),
        events: count_events(&target)?,
    })
}

/// Restores `from` (a backup file) into `central.db` of `data_dir`. Central must be stopped.
/// A store with edges or events is replaced only when `force`.
pub fn restore_sqlite(from: &Path, data_dir: &Path, force: bool) -> Result<Summary, StoreError> {
    let source = rusqlite::Connection::open_with_flags(
        from,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Config(format!("cannot read the backup {}: {e}", from.display())))?;
    // A file that is not a central backup is refused before anything is touched.
    let source = Conn::sqlite(source);
    let events = count_events(&source).map_err(|e| {
        StoreError::Config(format!(
            "{} is not a backup of central ({e})",
            from.display()
        ))
    })?;
    // Made (empty, with its schema) if missing, owner-only like every store.
    drop(super::SqlStore::open(data_dir)?);
    let path = data_dir.join(DB_FILE);
    let mut target = rusqlite::Connection::open(&path)?;
    target.busy_timeout(std::time::Duration::from_secs(5))?;
    let now = held(&Conn::sqlite(rusqlite::Connection::open(&path)?))?;
    refuse_unless_forced(now, force, &path.display().to_string())?;
    let Some(raw) = source.as_sqlite() else {
        return Err(StoreError::Corrupt("the backup is not SQLite".into()));
    };
    {
        let backup = rusqlite::backup::Backup::new(raw, &mut target)?;
        backup.run_to_completion(1024, std::time::Duration::ZERO, None)?;
    }
    let target = Conn::sqlite(target);
    super::new_epoch(&target)?;
    Ok(Summary {
        file: path.clone(),
        bytes: file_len(&path),
        events,
    })
}

/// The connection arguments of `pg_dump` and `pg_restore` for `url`, and its password (given
/// in `PGPASSWORD`, never on the command line, which others can read).
fn pg_args(url: &str) -> Result<(Vec<String>, Option<String>), StoreError> {
    let config: postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Config(format!("{}: {e}", super::pg::redact_url(url))))?;
    let mut args = Vec::new();
    if let Some(postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        args.push(format!("--host={host}"));
    }
    #[cfg(unix)]
    if let Some(postgres::config::Host::Unix(dir)) = config.get_hosts().first() {
        args.push(format!("--host={}", dir.display()));
    }
    if let Some(port) = config.get_ports().first() {
        args.push(format!("--port={port}"));
    }
    if let Some(user) = config.get_user() {
        args.push(format!("--username={user}"));
    }
    if let Some(db) = config.get_dbname() {
        args.push(format!("--dbname={db}"));
    }
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    Ok((args, password))
}

fn run(program: &str, args: &[String], password: Option<&str>) -> Result<(), StoreError> {
    let mut command = Command::new(program);
    command.args(args).env("PGCONNECT_TIMEOUT", "10");
    if let Some(p) = password {
        command.env("PGPASSWORD", p);
    }
    let output = command.output().map_err(|e| {
        StoreError::Config(format!(
            "cannot run {program} ({e}); it comes with PostgreSQL's client (Debian: postgresql-client)"
        ))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut text: String = stderr.trim().chars().take(2000).collect();
        if text.is_empty() {
            text = format!("exit status {}", output.status);
        }
        return Err(StoreError::Config(format!("{program} failed: {text}")));
    }
    Ok(())
}

/// `pg_dump` of the database at `url` into `to` (custom format, compressed).
pub fn backup_postgres(url: &str, to: &Path) -> Result<Summary, StoreError> {
    if to.exists() {
        return Err(StoreError::Conflict(format!(
            "{} exists; a backup goes to a new file",
            to.display()
        )));
    }
    let (mut args, password) = pg_args(url)?;
    args.extend([
        "--format=custom".to_owned(),
        "--no-owner".to_owned(),
        format!("--file={}", to.display()),
    ]);
    run("pg_dump", &args, password.as_deref())?;
    let pool = super::pg::Pool::new(url, 1)?;
    let events = count_events(&*pool.get()?)?;
    Ok(Summary {
        file: to.to_owned(),
        bytes: file_len(to),
        events,
    })
}

/// `pg_restore` of `from` into the database at `url`; one that holds edges or events only
/// when `force` (its tables are dropped and made again from the backup).
pub fn restore_postgres(from: &Path, url: &str, force: bool) -> Result<Summary, StoreError> {
    if !from.exists() {
        return Err(StoreError::NotFound(format!(
            "no backup {}",
            from.display()
        )));
    }
    let pool = super::pg::Pool::new(url, 1)?;
    {
        let conn = pool.get()?;
        let has_events: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = 'events'",
                [],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                super::db::DbError::NoRows => Ok(None),
                e => Err(e),
            })?;
        if has_events.is_some() {
            refuse_unless_forced(held(&conn)?, force, "the database")?;
        }
    }
    let (mut args, password) = pg_args(url)?;
    args.extend([
        "--clean".to_owned(),
        "--if-exists".to_owned(),
        "--no-owner".to_owned(),
        "--single-transaction".to_owned(),
        from.display().to_string(),
    ]);
    run("pg_restore", &args, password.as_deref())?;
    let conn = pool.get()?;
    super::new_epoch(&conn)?;
    Ok(Summary {
        file: from.to_owned(),
        bytes: file_len(from),
        events: count_events(&conn)?,
    })
}
