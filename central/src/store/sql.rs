//! The SQLite store: one file `central.db` in the data directory, WAL mode.
//!
//! Two connections: one writer (`synchronous=FULL`, so a commit, and with it an ack, survives
//! a power cut) and one reader, each behind a mutex and used only from
//! [`tokio::task::spawn_blocking`], so no SQLite call ever blocks the async runtime. Writes are
//! serialized by the writer mutex; WAL lets the reader run beside them.
//!
//! The SQL is kept to what PostgreSQL also understands (`ON CONFLICT`, no `WITHOUT ROWID`),
//! so the PostgreSQL store can share it where it fits.

pub mod audit;
pub mod backup;
mod changes;
mod checkpoint;
mod crm;
pub mod db;
mod deliveries;
mod erp;
pub mod floor;
mod inventory;
mod kiosk;
mod mrp;
mod notify;
mod oa;
mod operators;
mod people;
pub mod pg;
mod pipeline;
mod prices;
mod purchasing;
mod quarantine;
mod sales;
pub use oa::OaBenchFill;
pub use sales::BenchFill;
pub mod spc;
mod stations;
mod stock;
mod tickets;
mod trace;
mod work_orders;

use super::inventory::InventoryFacts;
use super::{
    Checked, EdgeSummary, EncodedEvent, IngestOutcome, Ingested, QuarantinedEvent, RawPlanRefused,
    ReportedStations, Store, StoreError, StoredEvents, Unassigned,
};
use crate::erp::work_order::OrderFact;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use db::{Connection, OptionalExtension, Transaction, TransactionBehavior, Value, params};
use protocol::{EdgeId, EdgeStatus, EventId, Plan, PlanContent, PlanVersion, Seq};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "central.db";

/// 2: the ERP tables ([`erp::SCHEMA`]). 3: the stock ledger and genealogy
/// ([`inventory::SCHEMA`]), backfilled from stored events on upgrade. 4: the quarantine
/// ([`quarantine::SCHEMA`]) and the operator registry ([`operators::SCHEMA`]), new tables
/// that start empty. 5: one stock ([`stock`]): plants, running balances of the ledger, and
/// the stock imports kept beside the ledger posted to it as opening balances. Stored MRP runs
/// ([`mrp::SCHEMA`]) are new tables that start empty, made on open, without a version of
/// their own. 6: what runs on each edge's stations as its last status said
/// ([`stations::SCHEMA`]), new tables that start empty and fill with the next status, and
/// the counts booked to no work order per edge and station, summed from stored events on
/// upgrade. 7: people ([`people::SCHEMA`]): users, sessions, API tokens, failed sign-ins,
/// new tables that start empty (the bootstrap administrator is made at start), and
/// warehouses belong to a plant (existing ones to the default plant). The audit trail
/// ([`audit::SCHEMA`]) is a new table that starts empty, made on open; its triggers are
/// TEMP, made on every open ([`audit::install`]).
/// 8: the plan epoch (`store_meta`), new, made on open.
/// 9: the floor ([`floor::SCHEMA`]): plants' shift calendars and stop reasons, routings'
/// ideal cycle times, and the projections of what stations do, rebuilt from stored events on
/// upgrade.
/// 10: SPC ([`spc::SCHEMA`]): characteristics, their points and alarms, new tables that
/// start empty (no characteristic existed before, so no stored measurement is charted).
/// 11: the events that name a work order, by order ([`trace::SCHEMA`], what its timeline
/// reads), back-filled from the stored events on upgrade. Price lists, exchange rates and tax
/// rates ([`prices::SCHEMA`]) are new tables that start empty, made on open, without a version
/// of their own.
const SCHEMA_VERSION: i64 = 11;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS edges (
    edge_id              TEXT PRIMARY KEY,
    token_hash           BLOB NOT NULL,
    revoked              INTEGER NOT NULL DEFAULT 0,
    acked_through        INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL,
    last_contact         TEXT,
    reported_backlog     INTEGER,
    clock_skew_ms        INTEGER,
    agent_version        TEXT,
    plan_version_applied INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS edges_token_hash ON edges (token_hash);
CREATE TABLE IF NOT EXISTS events (
    edge_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    at          TEXT NOT NULL,
    received_at TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (edge_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    epoch      TEXT NOT NULL,
    epoch_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plans (
    edge_id      TEXT NOT NULL,
    version      INTEGER NOT NULL,
    published_at TEXT NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (edge_id, version)
);
";

/// Opens (creating if needed) `central.db` in `data_dir`.
pub async fn open_sqlite_store(data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    let data_dir = data_dir.to_owned();
    let store = tokio::task::spawn_blocking(move || SqlStore::open(&data_dir))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
    Ok(Arc::new(store))
}

/// The store `config` names: SQLite in its data directory, or PostgreSQL.
pub async fn open_store(config: &crate::CentralConfig) -> Result<Arc<dyn Store>, StoreError> {
    match &config.store {
        crate::config::StoreSpec::Sqlite => open_sqlite_store(&config.data_dir).await,
        crate::config::StoreSpec::Postgres(url) => open_postgres_store(url.expose()).await,
    }
}

/// Connects to the PostgreSQL database at `url` (`postgres://user@host:port/db`), making or
/// upgrading central's schema in it ([`pg::open`]).
pub async fn open_postgres_store(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let url = url.to_owned();
    let store = tokio::task::spawn_blocking(move || pg::open(&url))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
    Ok(Arc::new(store))
}

/// Creates `dir` and its missing parents owner-only (0700); existing directories keep their
/// mode.
fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the database file owner-only (0600) when it does not exist; never truncates.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// Makes the database and its `-wal` and `-shm` owner-only (0600): they hold every edge's
/// events, the plans and the token hashes.
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = std::path::PathBuf::from(name);
            match std::fs::metadata(&file) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Two connections to the one database, behind one lock so that they never write at once:
/// `audited` carries the audit trail's TEMP triggers and is used by writes made with an actor;
/// `unaudited` has none and is used by every write without one (edge ingest, statuses, plan
/// polls, tools), which would otherwise pay for the triggers on every row (OLD and NEW read
/// and the `WHEN` checked: 15% of the mixed ingest, BENCHMARKS.md).
pub(super) struct Writers {
    pub(super) audited: Connection,
    pub(super) unaudited: Connection,
    /// Told after every write; checkpoints on its own thread.
    checkpoint: checkpoint::Checkpointer,
}

/// Central's store on either engine: the same SQL and code, over SQLite's two writers and
/// reader or a pool of PostgreSQL connections.
pub struct SqlStore {
    backend: Backend,
}

enum Backend {
    Sqlite {
        writer: Arc<Mutex<Writers>>,
        reader: Arc<Mutex<Connection>>,
        /// `central.db`, for what opens its own connection (verifying the audit chain).
        path: std::path::PathBuf,
    },
    Postgres {
        pool: Arc<pg::Pool>,
        /// What other instances change, heard on a connection of its own.
        feed: changes::Feed,
    },
}

impl SqlStore {
    /// Blocking open; prefer [`open_sqlite_store`] from async code.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let data_dir_error = |source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        };
        create_private_dir_all(data_dir).map_err(data_dir_error)?;
        let path = data_dir.join(DB_FILE);
        // Owner-only before SQLite opens it, whatever the umask; SQLite gives -wal and -shm
        // the database file's mode.
        create_private_file(&path).map_err(data_dir_error)?;
        let raw = rusqlite::Connection::open(&path)?;
        raw.busy_timeout(std::time::Duration::from_secs(5))?;
        raw.pragma_update(None, "journal_mode", "WAL")?;
        raw.pragma_update(None, "synchronous", "FULL")?;
        // A large batch is several MiB; a transaction that outgrows the page cache spills
        // pages to the WAL before commit, which costs a third of the ingest throughput.
        raw.pragma_update(None, "cache_size", -131_072)?;
        let version: i64 = raw.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "{} has schema version {version}, but this build knows up to {SCHEMA_VERSION}; upgrade central",
                path.display()
            )));
        }
        raw.set_prepared_statement_cache_capacity(64);
        let mut writer = Connection::sqlite(raw);
        for schema in schemas() {
            writer.execute_batch(schema)?;
        }
        stock::add_columns(&writer)?;
        people::add_columns(&writer)?;
        floor::add_columns(&writer)?;
        stations::add_columns(&writer)?;
        spc::add_columns(&writer)?;
        work_orders::add_columns(&writer)?;
        kiosk::add_columns(&writer)?;
        pipeline::add_columns(&writer)?;
        oa::add_columns(&writer)?;
        oa::seed(&writer)?;
        first_epoch(&writer)?;
        if version < 3 {
            inventory::backfill(&mut writer)?;
        }
        if version < 5 {
            stock::upgrade_to_one_stock(&mut writer)?;
        }
        if version < 6 {
            stations::backfill_unassigned(&mut writer)?;
        }
        if version < 9 {
            floor::rebuild(&mut writer)?;
        }
        if version < 11 {
            let tx = writer.transaction_with_behavior(TransactionBehavior::Immediate)?;
            trace::backfill_order_index(&tx)?;
            tx.commit()?;
        }
        if let Some(raw) = writer.as_sqlite() {
            raw.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            // After every schema and upgrade ran (upgrades are not audited): the triggers
            // are made from the tables as they are now.
            audit::install(raw)?;
        }
        let unaudited = rusqlite::Connection::open(&path)?;
        unaudited.busy_timeout(std::time::Duration::from_secs(5))?;
        unaudited.pragma_update(None, "synchronous", "FULL")?;
        // Checkpoints run on their own thread; the writers' own are only a backstop.
        for raw in [writer.as_sqlite(), Some(&unaudited)].into_iter().flatten() {
            raw.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)?;
        }
        let checkpoint = checkpoint::Checkpointer::start(&path)?;
        unaudited.pragma_update(None, "cache_size", -131_072)?;
        // Ingest's multi-row statements take a few dozen texts (a few chunk sizes a table,
        // db::row_chunks) on top of the rest: room so that a batch finds them all prepared.
        unaudited.set_prepared_statement_cache_capacity(256);
        // The -wal and -shm exist now; a store made 0644 by an older central is repaired.
        make_private(&path).map_err(data_dir_error)?;

        let reader = rusqlite::Connection::open(&path)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", true)?;
        reader.set_prepared_statement_cache_capacity(64);
        Ok(SqlStore {
            backend: Backend::Sqlite {
                writer: Arc::new(Mutex::new(Writers {
                    audited: writer,
                    unaudited: Connection::sqlite(unaudited),
                    checkpoint,
                })),
                reader: Arc::new(Mutex::new(Connection::sqlite(reader))),
                path,
            },
        })
    }

    fn postgres(pool: pg::Pool) -> SqlStore {
        let pool = Arc::new(pool);
        let feed = changes::Feed::start(&pool);
        SqlStore {
            backend: Backend::Postgres { pool, feed },
        }
    }

    /// `central.db`, when the store runs on SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite { path, .. } => Some(path),
            Backend::Postgres { .. } => None,
        }
    }

    /// The engine this store runs on.
    pub fn dialect(&self) -> db::Dialect {
        match self.backend {
            Backend::Sqlite { .. } => db::Dialect::Sqlite,
            Backend::Postgres { .. } => db::Dialect::Postgres,
        }
    }

    async fn with_conn<C, T, F>(conn: &Arc<Mutex<C>>, f: F) -> Result<T, StoreError>
    where
        C: Send + 'static,
        T: Send + 'static,
        F: FnOnce(&mut C) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves no half transaction behind (the
            // transaction rolls back on drop), so a poisoned lock is safe to reuse.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    async fn with_pg<T, F>(pool: &Arc<pg::Pool>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` on the audited writer, whoever the task's actor is (entries the store appends
    /// itself).
    pub(super) async fn write_audited<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_on(true, f).await
    }

    /// Runs `f` on SQLite's audited or unaudited writer, or on a PostgreSQL connection (which
    /// audits only under an actor's settings, [`audit::as_actor`]).
    async fn write_on<T, F>(&self, audited: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                Self::with_conn(writer, move |w: &mut Writers| {
                    let conn = if audited {
                        &mut w.audited
                    } else {
                        &mut w.unaudited
                    };
                    let done = f(conn);
                    w.checkpoint.wrote();
                    done
                })
                .await
            }
            Backend::Postgres { pool, .. } => Self::with_pg(pool, f).await,
        }
    }

    /// Runs `f` on a writer. When the task has an actor
    /// ([`crate::people::audit::current_actor`], read here, before the blocking thread), every
    /// row `f` changes is audited as theirs in `f`'s transactions ([`audit::as_actor`]).
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let actor = crate::people::audit::current_actor();
        match (&self.backend, actor) {
            (_, None) => self.write_on(false, f).await,
            (Backend::Sqlite { writer, .. }, Some(actor)) => {
                Self::with_conn(writer, move |w: &mut Writers| {
                    let done = audit::as_actor(&mut w.audited, &actor, f);
                    w.checkpoint.wrote();
                    done
                })
                .await
            }
            (Backend::Postgres { pool, .. }, Some(actor)) => {
                Self::with_pg(pool, move |conn| audit::as_actor(conn, &actor, f)).await
            }
        }
    }

    /// Runs `f` on a writer, never audited whoever asks: for caches the store keeps beside
    /// what people change (tables in [`audit::NOT_AUDITED`]).
    async fn write_cache<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_on(false, f).await
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite { reader, .. } => Self::with_conn(reader, f).await,
            Backend::Postgres { pool, .. } => Self::with_pg(pool, f).await,
        }
    }
}

/// Gives a store its first plan epoch (nothing when it has one).
fn first_epoch(conn: &Connection) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO store_meta (id, epoch, epoch_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO NOTHING",
        params![uuid::Uuid::now_v7().simple().to_string(), ts(Utc::now())],
    )?;
    Ok(())
}

/// Starts a new plan epoch (after a restore): edges take the next plan they are handed
/// whatever its version.
pub fn new_epoch(conn: &Connection) -> Result<String, StoreError> {
    let epoch = uuid::Uuid::now_v7().simple().to_string();
    conn.execute(
        "INSERT INTO store_meta (id, epoch, epoch_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, epoch_at = excluded.epoch_at",
        params![epoch, ts(Utc::now())],
    )?;
    Ok(epoch)
}

/// The store's plan epoch.
fn epoch(conn: &Connection) -> Result<String, StoreError> {
    Ok(conn
        .prepare_cached("SELECT epoch FROM store_meta WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

/// Every part's tables, in the order they are made (SQLite's text; [`db::pg_ddl`] makes
/// PostgreSQL's).
fn schemas() -> [&'static str; 26] {
    [
        SCHEMA,
        erp::SCHEMA,
        inventory::SCHEMA,
        work_orders::SCHEMA,
        quarantine::SCHEMA,
        operators::SCHEMA,
        stock::SCHEMA,
        mrp::SCHEMA,
        stations::SCHEMA,
        floor::SCHEMA,
        spc::SCHEMA,
        people::SCHEMA,
        kiosk::SCHEMA,
        trace::SCHEMA,
        crm::SCHEMA,
        pipeline::SCHEMA,
        prices::SCHEMA,
        sales::SCHEMA,
        tickets::SCHEMA,
        deliveries::SCHEMA,
        oa::SCHEMA,
        oa::follow_up::SCHEMA,
        oa::asks::SCHEMA,
        notify::SCHEMA,
        purchasing::SCHEMA,
        audit::SCHEMA,
    ]
}

/// One event, as a row of the `events` table.
struct EventRow {
    seq: i64,
    /// Empty when the id does not read (a quarantined event).
    event_id: String,
    /// Empty when the time does not read (a quarantined event).
    at: String,
    kind: std::borrow::Cow<'static, str>,
    body: String,
    /// What the event books in the stock ledger and genealogy, if anything.
    facts: Option<InventoryFacts>,
    /// What the event says about a work order's progress, if anything.
    order: Option<OrderFact>,
    /// A production report naming no work order: `(station or empty, good, scrap)`.
    unassigned: Option<(String, u64, u64)>,
    /// What the event tells the floor's projections, if anything.
    floor: Option<floor::FloorFact>,
    /// A measurement, for SPC.
    spc: Option<spc::SpcFact>,
    /// A lot shipped at an edge's dock: what it means for the sales order and its delivery.
    shipped: Option<deliveries::ShippedFact>,
    /// Goods received at an edge: what they close of the open purchase orders.
    received: Option<purchasing::ReceivedFact>,
    /// Material asked for at a terminal: a requisition to approve.
    asked: Option<oa::asks::AskFact>,
    /// The work order whose timeline the event belongs on (`events_by_order`).
    timeline_order: Option<String>,
    /// Why central cannot apply it: then it is stored and quarantined, and nothing else.
    quarantine: Option<String>,
}

impl EventRow {
    fn new(edge_id: &EdgeId, encoded: EncodedEvent) -> Result<EventRow, StoreError> {
        let event_id = encoded
            .id
            .map(|id| id.0.hyphenated().to_string())
            .unwrap_or_default();
        let seq = to_i64(encoded.seq.0)?;
        Ok(match encoded.body {
            Checked::Valid(event) => EventRow {
                seq,
                asked: oa::asks::AskFact::of(&event_id, &event),
                event_id,
                at: ts(event.at),
                kind: event.kind.name().into(),
                facts: InventoryFacts::of(&event.kind, edge_id.as_str()),
                order: OrderFact::of(&event.kind),
                floor: floor::FloorFact::of(&event),
                spc: spc::SpcFact::of(&event),
                shipped: deliveries::ShippedFact::of(&event.kind),
                received: purchasing::ReceivedFact::of(&event.kind),
                timeline_order: trace::timeline_order(&event.kind).map(str::to_owned),
                unassigned: match &event.kind {
                    protocol::EventKind::ProductionReported {
                        work_order: None,
                        good,
                        scrap,
                        ..
                    } => Some((
                        event
                            .source
                            .station
                            .as_ref()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        *good,
                        *scrap,
                    )),
                    _ => None,
                },
                body: encoded.json,
                quarantine: None,
            },
            Checked::Quarantined { kind, at, reason } => EventRow {
                seq,
                event_id,
                at: at.map(ts).unwrap_or_default(),
                kind: kind.into(),
                facts: None,
                order: None,
                unassigned: None,
                floor: None,
                spc: None,
                shipped: None,
                received: None,
                asked: None,
                timeline_order: None,
                body: encoded.json,
                quarantine: Some(reason),
            },
        })
    }
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    if let Some(at) = parse_own_ts(s) {
        return Ok(at);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
}

/// What [`ts`] writes (`2026-12-06T08:31:12.345678Z`, 27 bytes) read field by field: a month
/// of a plant's floor is hundreds of thousands of these, and chrono's RFC 3339 parser costs
/// several times more. Anything else is `None` (and goes to that parser).
fn parse_own_ts(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != 27
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return None;
    }
    let n = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(n(0, 4)?).ok()?, n(5, 7)?, n(8, 10)?)?;
    let time =
        chrono::NaiveTime::from_hms_micro_opt(n(11, 13)?, n(14, 16)?, n(17, 19)?, n(20, 26)?)?;
    Some(date.and_time(time).and_utc())
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} does not fit a 64-bit integer")))
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn not_found(edge_id: &EdgeId) -> StoreError {
    StoreError::NotFound(format!("no edge {:?}", edge_id.as_str()))
}

#[async_trait]
impl Store for SqlStore {
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<super::StoreChange>> {
        match &self.backend {
            Backend::Sqlite { .. } => None,
            Backend::Postgres { feed, .. } => Some(feed.subscribe()),
        }
    }

    async fn announce_credentials_changed(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { .. } => Ok(()),
            Backend::Postgres { pool, .. } => {
                Self::with_pg(pool, |conn| {
                    changes::notify(conn, &super::StoreChange::Credentials)
                })
                .await
            }
        }
    }

    async fn create_edge(&self, edge_id: &EdgeId, token_hash: [u8; 32]) -> Result<(), StoreError> {
        let edge_id = edge_id.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO edges (edge_id, token_hash, revoked, created_at) VALUES (?1, ?2, 0, ?3)
                 ON CONFLICT (edge_id) DO UPDATE SET token_hash = excluded.token_hash, revoked = 0",
                params![edge_id.as_str(), &token_hash[..], ts(Utc::now())],
            )?;
            Ok(())
        })
        .await
    }

    async fn revoke_edge(&self, edge_id: &EdgeId) -> Result<(), StoreError> {
        let edge_id = edge_id.clone();
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE edges SET revoked = 1 WHERE edge_id = ?1",
                params![edge_id.as_str()],
            )?;
            if n == 0 {
                return Err(not_found(&edge_id));
            }
            Ok(())
        })
        .await
    }

    async fn authenticate(&self, token_hash: [u8; 32]) -> Result<Option<EdgeId>, StoreError> {
        self.read(move |conn| {
            let edge: Option<String> = conn
                .prepare_cached("SELECT edge_id FROM edges WHERE token_hash = ?1 AND revoked = 0")?
                .query_row(params![&token_hash[..]], |r| r.get(0))
                .optional()?;
            Ok(edge.map(EdgeId))
        })
        .await
    }

    async fn ingest_encoded(
        &self,
        edge_id: &EdgeId,
        events: Vec<EncodedEvent>,
        received_at: DateTime<Utc>,
    ) -> Result<Ingested, StoreError> {
        let edge_id = edge_id.clone();
        // Rows are made before the writer lock is taken.
        let rows = events
            .into_iter()
            .map(|e| EventRow::new(&edge_id, e))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(move |conn| {
            let received = ts(received_at);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let acked: i64 = tx
                .prepare_cached("SELECT acked_through FROM edges WHERE edge_id = ?1")?
                .query_row(params![edge_id.as_str()], |r| r.get(0))
                .optional()?
                .ok_or_else(|| not_found(&edge_id))?;
            let acked = to_u64(acked);
            let mut touch = tx.prepare_cached(
                "UPDATE edges SET acked_through = ?2, last_contact = ?3 WHERE edge_id = ?1",
            )?;
            let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                touch.execute(params![edge_id.as_str(), to_i64(acked)?, received])?;
                drop(touch);
                tx.commit()?;
                return Ok(Ingested {
                    outcome: IngestOutcome::Acked {
                        acked_through: Seq(acked),
                        n_new: 0,
                        n_duplicate: 0,
                    },
                    plans: Vec::new(),
                    quarantined: Vec::new(),
                    floor: false,
                    work_orders: false,
                    floor_since: None,
                });
            };
            if to_u64(first.seq) > acked + 1 {
                // Refused: only the contact is recorded, no event and no ack moves.
                touch.execute(params![edge_id.as_str(), to_i64(acked)?, received])?;
                drop(touch);
                tx.commit()?;
                return Ok(Ingested {
                    outcome: IngestOutcome::Gap {
                        expected: Seq(acked + 1),
                        acked_through: Seq(acked),
                    },
                    plans: Vec::new(),
                    quarantined: Vec::new(),
                    floor: false,
                    work_orders: false,
                    floor_since: None,
                });
            }
            // A seq central holds comes again: it must be the same event. Another one is a
            // journal that is not the one central took the seq from, refused whole.
            if to_u64(first.seq) <= acked {
                let mut stored = tx.prepare_cached(
                    "SELECT seq, event_id, body FROM events
                     WHERE edge_id = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq",
                )?;
                let upto = rows
                    .iter()
                    .take_while(|r| to_u64(r.seq) <= acked)
                    .last()
                    .map_or(first.seq, |r| r.seq);
                let held: std::collections::HashMap<i64, (String, String)> = stored
                    .query_map(params![edge_id.as_str(), first.seq, upto], |r| {
                        Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?)))
                    })?
                    .collect::<Result<_, _>>()?;
                drop(stored);
                for row in rows.iter().take_while(|r| to_u64(r.seq) <= acked) {
                    let Some((id, body)) = held.get(&row.seq) else {
                        continue;
                    };
                    let same = if !id.is_empty() && !row.event_id.is_empty() {
                        *id == row.event_id
                    } else {
                        *body == row.body
                    };
                    if !same {
                        touch.execute(params![edge_id.as_str(), to_i64(acked)?, received])?;
                        drop(touch);
                        tx.commit()?;
                        return Ok(Ingested {
                            outcome: IngestOutcome::Conflict {
                                seq: Seq(to_u64(row.seq)),
                                stored: id.clone(),
                                sent: row.event_id.clone(),
                            },
                            plans: Vec::new(),
                            quarantined: Vec::new(),
                            floor: false,
                            work_orders: false,
                            floor_since: None,
                        });
                    }
                }
            }
            let last_seq = to_u64(last.seq);
            // The events central does not hold yet (a batch is contiguous: those after the
            // acked seq), stored in multi-row statements; then what they book, kept in memory
            // and written once for the batch: a few round trips on PostgreSQL, not one or more
            // per event.
            let fresh: Vec<&EventRow> = rows.iter().filter(|r| to_u64(r.seq) > acked).collect();
            let n_new = fresh.len() as u64;
            let n_duplicate = (rows.len() - fresh.len()) as u64;
            let values: Vec<Value<'_>> = fresh
                .iter()
                .flat_map(|row| {
                    [
                        Value::from(edge_id.as_str()),
                        Value::from(row.seq),
                        Value::from(row.event_id.as_str()),
                        Value::from(row.at.as_str()),
                        Value::from(received.as_str()),
                        Value::from(row.kind.as_ref()),
                        Value::from(row.body.as_str()),
                    ]
                })
                .collect();
            tx.execute_rows(&values, 7, |rows| {
                format!(
                    "INSERT INTO events (edge_id, seq, event_id, at, received_at, kind, body)
                     VALUES {rows}"
                )
            })?;
            drop(values);
            // The timeline's index by order, in the same transaction as the events.
            let indexed: Vec<Value<'_>> = fresh
                .iter()
                .filter_map(|row| {
                    let order = row.timeline_order.as_deref()?;
                    Some([
                        Value::from(order),
                        Value::from(row.at.as_str()),
                        Value::from(edge_id.as_str()),
                        Value::from(row.seq),
                    ])
                })
                .flatten()
                .collect();
            tx.execute_rows(&indexed, 4, |rows| {
                format!("INSERT INTO events_by_order (work_order, at, edge_id, seq) VALUES {rows}")
            })?;
            drop(indexed);
            let mut progress = work_orders::BatchProgress::default();
            let mut booking = inventory::Booking::default();
            let mut unassigned = stations::UnassignedSums::default();
            let mut floor = floor::FloorBatch::default();
            let floor_on = floor::projections_on();
            let mut spc_batch = spc::SpcBatch::default();
            // The plant of the edge's line, read once a batch when a movement needs it.
            let mut plant: Option<crate::people::plants::Plant> = None;
            // A shipment changed an order: the shipping edges' plans go again.
            let mut orders_shipped = false;
            // The items of open purchase orders, read once a batch when a receipt needs it.
            let mut items_on_order = None;
            // A requisition was asked at a terminal: the edge's plan goes again with it.
            let mut asked = false;
            let mut quarantined = Vec::new();
            booking.read_lots(
                &tx,
                fresh
                    .iter()
                    .filter(|row| row.quarantine.is_none())
                    .filter_map(|row| row.facts.as_ref()),
            )?;
            for row in &fresh {
                if let Some(reason) = &row.quarantine {
                    // Stored and acknowledged, applied to nothing.
                    quarantined.push((Seq(to_u64(row.seq)), reason.clone()));
                    continue;
                }
                if let Some((station, good, scrap)) = &row.unassigned {
                    unassigned.add(station, *good, *scrap, &row.at)?;
                }
                if let Some(fact) = row.floor.as_ref().filter(|_| floor_on) {
                    floor.apply(&tx, edge_id.as_str(), row.seq, &row.at, fact)?;
                }
                if let Some(fact) = &row.spc {
                    spc_batch.apply(&tx, edge_id.as_str(), row.seq, &row.at, fact)?;
                }
                if let Some(facts) = &row.facts {
                    progress.note_stock(&tx, facts)?;
                    let negative = stock::plant_of_edge_once(&tx, edge_id.as_str(), &mut plant)?
                        .negative_stock;
                    let mut stock_warnings = Vec::new();
                    for (wo, message) in
                        booking.apply(&tx, edge_id.as_str(), row.seq, &row.at, facts, negative)?
                    {
                        match wo {
                            Some(wo) => progress.warn(&tx, &wo, message, row.seq, &row.at)?,
                            None => stock_warnings.push(message),
                        }
                    }
                    if let Some(fact) = &row.received
                        && let Some(p) = &plant
                        && purchasing::on_order(&tx, &mut items_on_order, &fact.item)?
                    {
                        purchasing::book_receipt(
                            &tx,
                            edge_id.as_str(),
                            &p.plant,
                            row.seq,
                            &row.at,
                            fact,
                        )?;
                    }
                    if let Some(fact) = &row.shipped {
                        orders_shipped |= deliveries::book_edge_shipment(
                            &tx,
                            edge_id.as_str(),
                            row.seq,
                            &row.at,
                            fact,
                            stock_warnings,
                        )?;
                    }
                }
                if let Some(fact) = &row.order {
                    progress.apply(&tx, fact, row.seq, &row.at)?;
                }
                if let Some(fact) = &row.asked {
                    let p = stock::plant_of_edge_once(&tx, edge_id.as_str(), &mut plant)?
                        .plant
                        .clone();
                    asked |= oa::asks::ask(
                        &tx,
                        edge_id.as_str(),
                        &p,
                        row.seq,
                        &row.at,
                        fact,
                        Utc::now(),
                    )?;
                }
            }
            quarantine::put(&tx, edge_id.as_str(), &received, &quarantined)?;
            unassigned.write(&tx, edge_id.as_str())?;
            let floor_itself = floor.changes_anything();
            let floor_changed = floor_itself || spc_batch.changes_anything();
            // SPC alone changes no OEE figure: "from now on" keeps every ended shift's.
            let floor_since = if floor.changes_anything() {
                floor.since()
            } else {
                Some(Utc::now())
            };
            floor.write(&tx, edge_id.as_str())?;
            let alarmed = spc_batch.raised_alarms();
            spc_batch.write(&tx)?;
            if floor_changed {
                changes::notify(
                    &tx,
                    &super::StoreChange::Floor {
                        edge_id: edge_id.clone(),
                        since: floor_since,
                    },
                )?;
            }
            // Before the plans: a plan carries the lots in stock.
            booking.write(&tx)?;
            let orders_moved = progress.changes_states();
            if orders_moved {
                changes::notify(&tx, &super::StoreChange::WorkOrders)?;
            }
            let mut plans = progress.flush(&tx, edge_id.as_str(), &received)?;
            // A new SPC alarm or requisition goes down to the edge's terminal with its next
            // plan.
            if (alarmed || asked) && !plans.iter().any(|p| p.edge_id == edge_id) {
                plans.extend(spc::republish_edge(&tx, &edge_id)?);
            }
            // What was shipped is no longer open on the docks (this one's included).
            if orders_shipped {
                for plan in deliveries::republish_shipping(&tx)? {
                    plans.retain(|p| p.edge_id != plan.edge_id);
                    plans.push(plan);
                }
            }
            let acked_through = acked.max(last_seq);
            touch.execute(params![edge_id.as_str(), to_i64(acked_through)?, received])?;
            drop(touch);
            // After the touch, which holds the edge's row on PostgreSQL (floor::claim_runs).
            if floor_itself {
                floor::forget_late(&tx, edge_id.as_str(), floor_since)?;
            }
            tx.commit()?;
            Ok(Ingested {
                outcome: IngestOutcome::Acked {
                    acked_through: Seq(acked_through),
                    n_new,
                    n_duplicate,
                },
                plans,
                quarantined,
                floor: floor_changed,
                work_orders: orders_moved,
                floor_since,
            })
        })
        .await
    }

    async fn acked_through(&self, edge_id: &EdgeId) -> Result<Option<Seq>, StoreError> {
        let edge_id = edge_id.clone();
        self.read(move |conn| {
            let acked: Option<i64> = conn
                .prepare_cached("SELECT acked_through FROM edges WHERE edge_id = ?1")?
                .query_row(params![edge_id.as_str()], |r| r.get(0))
                .optional()?;
            Ok(acked.map(|a| Seq(to_u64(a))))
        })
        .await
    }

    async fn record_status(
        &self,
        status: &EdgeStatus,
        received_at: DateTime<Utc>,
        clock_skew_ms: i64,
    ) -> Result<(), StoreError> {
        let status = status.clone();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE edges SET last_contact = ?2, reported_backlog = ?3, clock_skew_ms = ?4,
                        agent_version = ?5, plan_version_applied = ?6, oldest_unsent_at = ?7
                 WHERE edge_id = ?1",
                params![
                    status.edge_id.as_str(),
                    ts(received_at),
                    to_i64(status.backlog)?,
                    clock_skew_ms,
                    status.agent_version,
                    to_i64(status.plan_version.0)?,
                    crate::store::oldest_unsent_at(&status, received_at).map(ts),
                ],
            )?;
            if n == 0 {
                return Err(not_found(&status.edge_id));
            }
            stations::replace(
                &tx,
                status.edge_id.as_str(),
                &status.stations,
                received_at,
                status.clock,
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn record_plan_poll(
        &self,
        edge_id: &EdgeId,
        have: PlanVersion,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let edge_id = edge_id.clone();
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE edges SET last_contact = ?2, plan_version_applied = ?3 WHERE edge_id = ?1",
                params![edge_id.as_str(), ts(at), to_i64(have.0)?],
            )?;
            if n == 0 {
                return Err(not_found(&edge_id));
            }
            Ok(())
        })
        .await
    }

    async fn edges(&self) -> Result<Vec<EdgeSummary>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT e.edge_id, e.acked_through, e.last_contact, e.reported_backlog,
                        e.clock_skew_ms, e.agent_version,
                        (SELECT MAX(p.version) FROM plans p WHERE p.edge_id = e.edge_id),
                        e.plan_version_applied, e.revoked,
                        (SELECT COUNT(*) FROM quarantine q WHERE q.edge_id = e.edge_id),
                        e.oldest_unsent_at
                 FROM edges e ORDER BY e.edge_id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, bool>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ))
            })?;
            let mut stations = stations::all(conn)?;
            let mut edges = Vec::new();
            for row in rows {
                let (
                    id,
                    acked,
                    contact,
                    backlog,
                    skew,
                    version,
                    published,
                    applied,
                    revoked,
                    quarantined,
                    oldest_unsent,
                ) = row?;
                edges.push(EdgeSummary {
                    edge_id: EdgeId(id.clone()),
                    acked_seq: Seq(to_u64(acked)),
                    last_contact: contact.as_deref().map(parse_ts).transpose()?,
                    reported_backlog: backlog.map(to_u64),
                    clock_skew_ms: skew,
                    agent_version: version,
                    plan_version_published: PlanVersion(published.map_or(0, to_u64)),
                    plan_version_applied: PlanVersion(to_u64(applied)),
                    revoked,
                    quarantined: to_u64(quarantined),
                    oldest_unsent_at: oldest_unsent.as_deref().map(parse_ts).transpose()?,
                    oldest_unsent_age_s: None,
                    stations: stations.remove(&id),
                });
            }
            Ok(edges)
        })
        .await
    }

    async fn edge_stations(
        &self,
        edge_id: &EdgeId,
    ) -> Result<Option<ReportedStations>, StoreError> {
        let edge_id = edge_id.clone();
        self.read(move |conn| {
            let known: Option<i64> = conn
                .prepare_cached("SELECT 1 FROM edges WHERE edge_id = ?1")?
                .query_row(params![edge_id.as_str()], |r| r.get(0))
                .optional()?;
            if known.is_none() {
                return Err(not_found(&edge_id));
            }
            stations::of_edge(conn, &edge_id)
        })
        .await
    }

    async fn unassigned(
        &self,
        edge_id: Option<EdgeId>,
        limit: usize,
    ) -> Result<Vec<Unassigned>, StoreError> {
        self.read(move |conn| stations::unassigned(conn, edge_id.as_ref(), limit))
            .await
    }

    async fn events(
        &self,
        edge_id: &EdgeId,
        from: Seq,
        to: Option<Seq>,
        limit: usize,
    ) -> Result<StoredEvents, StoreError> {
        let edge_id = edge_id.clone();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT e.seq, e.body, q.seq IS NOT NULL FROM events e
                 LEFT JOIN quarantine q ON q.edge_id = e.edge_id AND q.seq = e.seq
                 WHERE e.edge_id = ?1 AND e.seq >= ?2 AND e.seq <= ?3
                 ORDER BY e.seq LIMIT ?4",
            )?;
            let to = to.map_or(Ok(i64::MAX), |t| to_i64(t.0))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows =
                stmt.query_map(params![edge_id.as_str(), to_i64(from.0)?, to, limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                    ))
                })?;
            let mut page = StoredEvents::default();
            for row in rows {
                let (seq, body, quarantined) = row?;
                if quarantined {
                    // Its body may not read as an event at all: listed by seq only.
                    page.quarantined.push(Seq(to_u64(seq)));
                } else {
                    page.events.push(serde_json::from_str(&body)?);
                }
            }
            Ok(page)
        })
        .await
    }

    async fn quarantined(
        &self,
        edge_id: Option<EdgeId>,
        limit: usize,
    ) -> Result<Vec<QuarantinedEvent>, StoreError> {
        self.read(move |conn| quarantine::list(conn, edge_id.as_ref(), limit))
            .await
    }

    async fn count_events(&self, edge_id: &EdgeId) -> Result<u64, StoreError> {
        let edge_id = edge_id.clone();
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM events WHERE edge_id = ?1")?
                .query_row(params![edge_id.as_str()], |r| r.get(0))?;
            Ok(to_u64(n))
        })
        .await
    }

    async fn event_ids(
        &self,
        edge_id: &EdgeId,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, EventId)>, StoreError> {
        let edge_id = edge_id.clone();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, event_id FROM events WHERE edge_id = ?1 AND seq >= ?2
                     AND event_id != ''
                 ORDER BY seq LIMIT ?3",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![edge_id.as_str(), to_i64(from.0)?, limit], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut ids = Vec::new();
            for row in rows {
                let (seq, id) = row?;
                let id = uuid::Uuid::parse_str(&id)
                    .map_err(|e| StoreError::Corrupt(format!("event id {id:?}: {e}")))?;
                ids.push((Seq(to_u64(seq)), EventId(id)));
            }
            Ok(ids)
        })
        .await
    }

    async fn publish_plan(
        &self,
        edge_id: &EdgeId,
        content: PlanContent,
    ) -> Result<Plan, StoreError> {
        let edge_id = edge_id.clone();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let plan = publish_plan_in(&tx, &edge_id, content)?;
            tx.commit()?;
            Ok(plan)
        })
        .await
    }

    async fn publish_raw_plan(
        &self,
        edge_id: &EdgeId,
        content: PlanContent,
    ) -> Result<Result<Plan, RawPlanRefused>, StoreError> {
        let edge_id = edge_id.clone();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut known =
                    tx.prepare_cached("SELECT state FROM wo_orders WHERE work_order = ?1")?;
                for wo in &content.work_orders {
                    let id = wo.work_order.0.as_str();
                    if let Some(state) = known
                        .query_row(params![id], |r| r.get::<_, String>(0))
                        .optional()?
                    {
                        return Ok(Err(RawPlanRefused {
                            code: "erp_work_order",
                            message: format!(
                                "work order {id:?} is an ERP work order (state {state}); it goes down when released (post /api/v1/work-orders/{id}/release), never in a raw plan; nothing was published"
                            ),
                        }));
                    }
                }
            }
            let running: Vec<String> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT o.work_order FROM wo_orders o JOIN mes_lines l ON l.line = o.line
                     WHERE l.edge_id = ?1 AND o.state IN ('released', 'in_progress', 'on_hold')
                     ORDER BY o.work_order LIMIT 11",
                )?;
                stmt.query_map(params![edge_id.as_str()], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            if !running.is_empty() {
                let more = if running.len() > 10 { ", …" } else { "" };
                return Ok(Err(RawPlanRefused {
                    code: "edge_runs_erp_orders",
                    message: format!(
                        "edge {:?} runs ERP work orders ({}{more}), which a raw plan would replace; nothing was published; expected an edge without released ERP work orders (let them complete or cancel them, or send the work through the ERP)",
                        edge_id.as_str(),
                        running.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
                    ),
                }));
            }
            let plan = publish_plan_in(&tx, &edge_id, content)?;
            tx.commit()?;
            Ok(Ok(plan))
        })
        .await
    }

    async fn latest_plan(&self, edge_id: &EdgeId) -> Result<Option<Plan>, StoreError> {
        let edge_id = edge_id.clone();
        self.read(move |conn| {
            let body: Option<String> = conn
                .prepare_cached(
                    "SELECT body FROM plans WHERE edge_id = ?1 ORDER BY version DESC LIMIT 1",
                )?
                .query_row(params![edge_id.as_str()], |r| r.get(0))
                .optional()?;
            let Some(body) = body else { return Ok(None) };
            let mut plan: Plan = serde_json::from_str(&body)?;
            // The epoch of now, not of when it was published: a restored store hands out its
            // plans in its new epoch.
            plan.epoch = Some(epoch(conn)?);
            Ok(Some(plan))
        })
        .await
    }
}

/// What central fills into every plan, whatever the caller's content said: the operator
/// registry, the rules of the plant of the edge's line, and, where that plant refuses lots
/// without stock, how much central holds of each lot the plan's operations may take.
pub(crate) fn fill_central_parts(
    tx: &Transaction<'_>,
    edge_id: &EdgeId,
    mut content: PlanContent,
) -> Result<PlanContent, StoreError> {
    content.operators = operators::active(tx)?;
    let plant = stock::plant_of_edge(tx, edge_id.as_str())?;
    let mut rules = plant.rules();
    rules.stop_reasons = floor::plan_reasons(tx, &plant.plant)?;
    rules.spc_alarms = spc::plan_alarms(tx, edge_id.as_str())?;
    content.rules = Some(rules);
    content.shipments = deliveries::plan_shipments(tx, edge_id.as_str())?;
    content.requisitions = oa::asks::plan_requisitions(tx, &content)?;
    if deliveries::ships(tx, edge_id.as_str())? {
        // The lots of what the edge ships, from scratch: only components' lots come from the
        // work orders' content, so every other lot was filled here by an earlier publication.
        let components: std::collections::BTreeSet<&str> = content
            .work_orders
            .iter()
            .flat_map(|w| &w.operations)
            .flat_map(|op| &op.allowed_components)
            .map(|i| i.as_str())
            .collect();
        let mut lots = std::mem::take(&mut content.lots);
        lots.retain(|l| components.contains(l.item.as_str()));
        deliveries::plan_lots(tx, &content.shipments, &mut lots)?;
        content.lots = lots;
        deliveries::plan_gtins(tx, &content.shipments, &mut content.gtins)?;
    }
    for lot in &mut content.lots {
        lot.on_hand = None;
    }
    if plant.negative_stock == protocol::NegativeStock::Refuse {
        let components: std::collections::BTreeSet<String> = content
            .work_orders
            .iter()
            .flat_map(|w| &w.operations)
            .flat_map(|op| &op.allowed_components)
            .map(|i| i.0.clone())
            .collect();
        for item in components {
            let mut by_lot: std::collections::BTreeMap<
                String,
                (rust_decimal::Decimal, Vec<String>),
            > = Default::default();
            for (_, lot, location, _, qty) in stock::balances(tx, Some(&item), None, None)? {
                if qty > rust_decimal::Decimal::ZERO {
                    let entry = by_lot.entry(lot).or_default();
                    entry.0 = entry.0.checked_add(qty).unwrap_or(entry.0);
                    entry.1.push(location);
                }
            }
            for (lot, (qty, locations)) in by_lot {
                let n_lots = content.lots.len();
                match content.lots.iter_mut().find(|l| l.lot.as_str() == lot) {
                    Some(known) => known.on_hand = Some(qty.normalize()),
                    None if n_lots < crate::erp::work_order::MAX_PLAN_LOTS => {
                        content.lots.push(protocol::PlanLot {
                            lot: lot.as_str().into(),
                            item: item.as_str().into(),
                            expires: None,
                            on_hold: false,
                            hold_reason: None,
                            location: match locations.as_slice() {
                                [one] => Some(one.as_str().into()),
                                _ => None,
                            },
                            on_hand: Some(qty.normalize()),
                        })
                    }
                    None => {}
                }
            }
        }
    }
    Ok(content)
}

/// Stores the next plan version of an edge inside `tx` (previous + 1, starting at 1), so a
/// work-order change and the plan it publishes commit together. Every plan is published
/// here, and every plan carries the registry's active operators, whatever `content` held.
fn publish_plan_in(
    tx: &Transaction<'_>,
    edge_id: &EdgeId,
    content: PlanContent,
) -> Result<Plan, StoreError> {
    let content = fill_central_parts(tx, edge_id, content)?;
    let exists: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM edges WHERE edge_id = ?1",
            params![edge_id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Err(not_found(edge_id));
    }
    let previous: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM plans WHERE edge_id = ?1",
        params![edge_id.as_str()],
        |r| r.get(0),
    )?;
    let mut plan = Plan::new(
        edge_id.clone(),
        PlanVersion(to_u64(previous) + 1),
        Utc::now(),
        content,
    );
    plan.epoch = Some(epoch(tx)?);
    tx.execute(
        "INSERT INTO plans (edge_id, version, published_at, body) VALUES (?1, ?2, ?3, ?4)",
        params![
            edge_id.as_str(),
            to_i64(plan.version.0)?,
            ts(plan.published_at),
            serde_json::to_string(&plan)?
        ],
    )?;
    // Other instances wake this edge's long polls when the transaction commits.
    changes::notify(
        tx,
        &super::StoreChange::Plan {
            edge_id: edge_id.clone(),
            version: plan.version,
        },
    )?;
    Ok(plan)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    }

    /// An event of the stock-booking mix: receipt, move to the line, issue, produced lot,
    /// production report naming no order, by `seq`; each receipt a new lot.
    fn mix_event(edge: &EdgeId, seq: u64) -> protocol::Event {
        use protocol::EventKind;
        let lot = format!("R-{}", seq / 5);
        let qty = rust_decimal::Decimal::new;
        let kind = match seq % 5 {
            0 => EventKind::MaterialReceived {
                item: "STEEL".into(),
                lot: lot.as_str().into(),
                qty: qty(1000, 1),
                uom: "kg".into(),
                location: "WH1".into(),
                purchase_order: None,
            },
            1 => EventKind::MaterialMoved {
                item: "STEEL".into(),
                lot: lot.as_str().into(),
                qty: qty(600, 1),
                uom: "kg".into(),
                from: "WH1".into(),
                to: edge.as_str().into(),
            },
            2 => EventKind::MaterialIssued {
                work_order: "WO-1".into(),
                operation: Some(10),
                item: "STEEL".into(),
                lot: lot.as_str().into(),
                qty: qty(125, 1),
                uom: "kg".into(),
            },
            3 => EventKind::LotProduced {
                work_order: "WO-1".into(),
                item: "FRAME".into(),
                lot: format!("F-{}", seq / 5).as_str().into(),
                qty: qty(40, 1),
                uom: "ea".into(),
                consumed_lots: vec![lot.as_str().into()],
            },
            _ => EventKind::ProductionReported {
                work_order: None,
                operation: Some(10),
                good: 3,
                scrap: 1,
            },
        };
        protocol::Event {
            edge_id: edge.clone(),
            seq: Seq(seq),
            id: EventId(uuid::Uuid::now_v7()),
            at: Utc::now(),
            source: protocol::Source {
                device: None,
                station: Some("st-10".into()),
            },
            kind,
        }
    }

    /// Issue 14: ingest ran four to seven statements per stock-booking event, each a round
    /// trip on PostgreSQL. It now writes a batch in a few multi-row statements: a batch ten
    /// times the size runs about as many statements, far fewer than it has events.
    #[tokio::test]
    async fn issue_14_ingest_statements_do_not_grow_with_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open(&dir.path().join("central")).unwrap();
        let edge = EdgeId::from("line-1");
        store
            .create_edge(&edge, crate::hash_token("t"))
            .await
            .unwrap();
        let mut seq = 0;
        let mut statements = Vec::new();
        for n in [100, 1000] {
            let events: Vec<_> = (0..n)
                .map(|_| {
                    seq += 1;
                    mix_event(&edge, seq)
                })
                .collect();
            let before = store.write(|c| Ok(c.statements_run())).await.unwrap();
            let outcome = store.ingest(&edge, events, Utc::now()).await.unwrap();
            assert!(matches!(outcome, IngestOutcome::Acked { n_new, .. } if n_new == n));
            let after = store.write(|c| Ok(c.statements_run())).await.unwrap();
            statements.push(after - before);
        }
        assert!(
            statements[1] <= statements[0] + 20 && statements[1] <= 50,
            "statements for 100 and 1000 events: {statements:?}"
        );
    }

    /// Issue 11: central's data directory and database were created 0755/0644. Now the
    /// directory is 0700 and central.db, -wal and -shm 0600 whatever the umask, and loose
    /// modes left by an older central are repaired on open.
    #[test]
    fn stored_times_read_back_the_same_by_the_fast_path_and_chrono() {
        use chrono::TimeZone;
        for at in [
            Utc.with_ymd_and_hms(2026, 12, 6, 8, 31, 12).unwrap(),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::microseconds(1),
            Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap()
                + chrono::Duration::microseconds(999_999),
        ] {
            let text = ts(at);
            assert_eq!(parse_own_ts(&text), Some(at), "{text}");
            assert_eq!(parse_ts(&text).unwrap(), at);
        }
        // Not what `ts` writes: chrono's parser, or an error naming it.
        assert_eq!(parse_own_ts("2026-12-06T08:31:12Z"), None);
        assert_eq!(parse_own_ts("2026-02-30T08:31:12.000000Z"), None);
        assert_eq!(parse_own_ts("2026-12-06T08:31:1x.000000Z"), None);
        assert!(parse_ts("2026-12-06T08:31:12+08:00").is_ok());
        assert!(parse_ts("yesterday").is_err());
    }

    #[test]
    fn issue_11_data_dir_and_database_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("central");
        let store = SqlStore::open(&data).unwrap();
        let db = data.join(DB_FILE);
        let files = [
            db.clone(),
            data.join(format!("{DB_FILE}-wal")),
            data.join(format!("{DB_FILE}-shm")),
        ];
        assert_eq!(mode(&data), 0o700);
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        drop(store);
        for file in files.iter().filter(|f| f.exists()) {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let _store = SqlStore::open(&data).unwrap();
        for file in &files {
            assert_eq!(mode(file), 0o600, "{} after reopening", file.display());
        }
    }
}
