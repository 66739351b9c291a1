//! Central on PostgreSQL: the connection pool, the schema and its versions, and the audit
//! trail's triggers written for PostgreSQL.
//!
//! The tables are SQLite's, made with [`db::pg_ddl`]; the version is kept in `mes_schema`
//! (SQLite keeps it in `user_version`). Instances that start together take turns
//! ([`MIGRATE_LOCK`], a session-level advisory lock held while the schema is made), and an
//! instance refuses a database whose version is newer than it knows. Every connection uses
//! UTC, so no time is read in a server's local zone.

use super::db::{self, Conn, PgClient};
use super::{SCHEMA_VERSION, SqlStore, StoreError};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// The advisory lock instances hold while they make or upgrade the schema ("mes-mig").
const MIGRATE_LOCK: i64 = 0x6d65_732d_6d69_67;

/// Connections a central instance keeps open at most.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// How long a request waits for a free connection before it fails.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// A fixed-size pool of PostgreSQL connections, used from blocking threads.
pub struct Pool {
    config: postgres::Config,
    /// `url` without its password, for messages.
    shown: String,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Conn>,
    /// Connections open, idle or in use.
    open: usize,
}

/// A connection borrowed from the pool; back to it when dropped (unless the server closed it
/// or it was left inside a transaction, when it is closed).
pub struct Pooled<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let mut state = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
        if conn.is_usable() {
            state.idle.push(conn);
        } else {
            state.open = state.open.saturating_sub(1);
        }
        drop(state);
        self.pool.freed.notify_one();
    }
}

/// The URL without a password (`postgres://mes:***@host/db`).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Pool {
    pub fn new(url: &str, max: usize) -> Result<Pool, StoreError> {
        let shown = redact_url(url);
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("store {shown}: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("mes-central");
        config.options("-c TimeZone=UTC -c statement_timeout=300000");
        Ok(Pool {
            config,
            shown,
            max: max.max(1),
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        })
    }

    pub fn connect(&self) -> Result<Conn, StoreError> {
        let client = self
            .config
            .connect(postgres::NoTls)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", self.shown)))?;
        Ok(Conn::postgres(PgClient::new(client)))
    }

    /// A connection: an idle one, a new one while fewer than the maximum are open, or the
    /// first one freed within [`POOL_WAIT`].
    pub fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let deadline = std::time::Instant::now() + POOL_WAIT;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = state.idle.pop() {
                if conn.is_usable() {
                    return Ok(Pooled {
                        pool: self,
                        conn: Some(conn),
                    });
                }
                state.open = state.open.saturating_sub(1);
                continue;
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(conn) => Ok(Pooled {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                        state.open = state.open.saturating_sub(1);
                        Err(e)
                    }
                };
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "{}: all {} connections stayed busy for {}s",
                    self.shown,
                    self.max,
                    POOL_WAIT.as_secs()
                )));
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub fn url_shown(&self) -> &str {
        &self.shown
    }

    pub fn config(&self) -> &postgres::Config {
        &self.config
    }
}

/// Connects to `url`, makes or upgrades the schema, and returns the store.
pub fn open(url: &str) -> Result<SqlStore, StoreError> {
    let pool = Pool::new(url, DEFAULT_POOL_SIZE)?;
    {
        let mut conn = pool.get()?;
        migrate(&mut conn)?;
    }
    Ok(SqlStore::postgres(pool))
}

/// The schema version PostgreSQL's database holds (0: none yet).
fn stored_version(conn: &Conn) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM mes_schema",
        [],
        |r| r.get(0),
    )?)
}

fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    conn.execute_batch(&format!("SELECT pg_advisory_lock({MIGRATE_LOCK})"))?;
    let result = migrate_locked(conn);
    let unlocked = conn.execute_batch(&format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})"));
    result?;
    unlocked?;
    Ok(())
}

fn migrate_locked(conn: &mut Conn) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE EXTENSION IF NOT EXISTS citext;
         CREATE TABLE IF NOT EXISTS mes_schema (
             version    BIGINT PRIMARY KEY,
             applied_at TEXT NOT NULL
         );",
    )?;
    let version = stored_version(conn)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {version}, but this build knows up to {SCHEMA_VERSION}; upgrade central"
        )));
    }
    let tx = conn.transaction()?;
    for schema in super::schemas() {
        tx.execute_batch(&db::pg_ddl(schema))?;
    }
    super::stock::add_columns(&tx)?;
    super::people::add_columns(&tx)?;
    super::audit::install_pg(&tx)?;
    if version < SCHEMA_VERSION {
        tx.execute(
            "INSERT INTO mes_schema (version, applied_at) VALUES (?1, ?2)",
            db::params![SCHEMA_VERSION, super::ts(chrono::Utc::now())],
        )?;
    }
    tx.commit()?;
    Ok(())
}
