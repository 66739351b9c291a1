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
const MIGRATE_LOCK: i64 = 0x006d_6573_2d6d_6967;

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
        // UTC; no statement runs longer than 5 minutes; PostgreSQL's notices ("relation
        // already exists" as the schema is made) stay out of central's log.
        config
            .options("-c TimeZone=UTC -c statement_timeout=300000 -c client_min_messages=warning");
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
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The synchronous client closes its connection by blocking on its own runtime, which
        // an async task (where the store is often dropped) must not do: closed on a thread.
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        let idle = std::mem::take(&mut state.idle);
        if !idle.is_empty() {
            std::thread::spawn(move || drop(idle));
        }
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
    super::floor::add_columns(&tx)?;
    super::stations::add_columns(&tx)?;
    super::spc::add_columns(&tx)?;
    super::work_orders::add_columns(&tx)?;
    super::kiosk::add_columns(&tx)?;
    super::pipeline::add_columns(&tx)?;
    super::oa::add_columns(&tx)?;
    super::oa::seed(&tx)?;
    super::first_epoch(&tx)?;
    super::audit::install_pg(&tx)?;
    if version > 0 && version < 9 {
        super::floor::rebuild_in(&tx)?;
    }
    if version > 0 && version < 11 {
        super::trace::backfill_order_index(&tx)?;
    }
    if version < SCHEMA_VERSION {
        tx.execute(
            "INSERT INTO mes_schema (version, applied_at) VALUES (?1, ?2)",
            db::params![SCHEMA_VERSION, super::ts(chrono::Utc::now())],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// A database made for one test, soak run or demo, dropped (with its connections) when this is
/// dropped.
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

/// The PostgreSQL server tests use: `MES_TEST_POSTGRES`, or the local one with trust auth.
pub fn test_server_url() -> String {
    std::env::var("MES_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Runs `f` on a thread of its own, where the synchronous client may block whatever the
/// caller is (an async task, a destructor).
fn on_own_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

impl ScratchDatabase {
    /// Makes a new, empty database on the server of `admin_url` (a URL whose user may create
    /// databases), named `mes_<prefix>_<random>`.
    pub fn create(admin_url: &str, prefix: &str) -> Result<ScratchDatabase, StoreError> {
        let admin_url = admin_url.to_owned();
        let prefix: String = prefix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(20)
            .collect();
        on_own_thread(move || {
            let name = format!("mes_{prefix}_{}", uuid::Uuid::now_v7().simple());
            let pool = Pool::new(&admin_url, 1)?;
            let conn = pool.get()?;
            conn.execute_batch(&format!(
                "CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"
            ))?;
            let url = with_dbname(&admin_url, &name);
            Ok(ScratchDatabase {
                admin_url,
                name,
                url,
            })
        })
    }
}

/// `url` with its database name replaced by `name` (the path of the URL).
fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = on_own_thread(move || -> Result<(), StoreError> {
            let pool = Pool::new(&admin_url, 1)?;
            let conn = pool.get()?;
            conn.execute_batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
            Ok(())
        });
        if let Err(e) = dropped {
            tracing::warn!(database = %self.name, error = %e, "cannot drop the scratch database");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_show_no_password_and_name_another_database() {
        assert_eq!(
            redact_url("postgres://mes:s3cret@db:5432/mes"),
            "postgres://mes:***@db:5432/mes"
        );
        assert_eq!(redact_url("postgres://mes@db/mes"), "postgres://mes@db/mes");
        assert_eq!(
            with_dbname("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_dbname("postgres://u@h/db?sslmode=disable", "t2"),
            "postgres://u@h/t2?sslmode=disable"
        );
        assert_eq!(with_dbname("postgres://u@h", "t3"), "postgres://u@h/t3");
    }
}
