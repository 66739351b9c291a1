//! The journal: the edge's single durable writer.
//!
//! Every production fact becomes a fact only once the journal has committed it. The journal
//! owns the edge's SQLite file (WAL mode) on one dedicated OS thread; the rest of the agent
//! talks to it through a cloneable async [`JournalHandle`] that sends commands over a bounded
//! channel and awaits a oneshot reply.
//!
//! ```text
//!  processor / terminal ──append(bodies)──┐
//!  uplink ──read_after / ack──────────────┼──> mpsc (capacity 1024; full ⇒ send().await waits)
//!  downlink ──save_plan / load_plan───────┘          │
//!                                                    v
//!                                 writer thread: blocking_recv, then try_recv all queued;
//!                                 all queued appends + put_state ⇒ ONE transaction (group
//!                                 commit), then the other commands in arrival order
//!                                                    │
//!                           watch<Seq> "last committed" ──> uplink wakes
//! ```
//!
//! **Architecture Invariant:** only this module touches the edge's SQLite file.
//!
//! **Architecture Invariant:** `seq` is assigned inside the commit transaction as `last + 1`;
//! a transaction that fails assigns nothing, so seqs have no gaps and follow commit order.
//!
//! **Architecture Invariant:** an event is deleted only once central acknowledged it (its seq is
//! `<= acked_seq`). A full journal refuses new events ([`JournalError::Full`]); it never drops
//! unacknowledged ones.
//!
//! Event bodies are serialised to JSON on the caller's side (in [`JournalHandle::append`]), so
//! the writer thread only splices in edge id and seq
//! ([`protocol::event::encode_committed`]) and inserts.

pub mod bench;
mod schema;
mod writer;

#[cfg(test)]
mod model_check;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use protocol::event::EventBody;
use protocol::ids::{EdgeId, Seq};
use protocol::plan::Plan;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Capacity of the command channel. When it is full, callers' `send().await` waits
/// (backpressure up to the sources); nothing is dropped.
pub const COMMAND_CAPACITY: usize = 1024;

/// How durable a commit is. The journal always runs in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// WAL + `synchronous=NORMAL`. A committed event is in the WAL file when `append`
    /// returns: it survives a crash or `kill -9` of the agent. A power loss or kernel crash may
    /// lose the last few transactions, but never corrupts the journal.
    #[default]
    Normal,
    /// WAL + `synchronous=FULL`: the WAL is fsync'ed at every commit, so a committed event also
    /// survives a power loss. Costs one fsync per group commit.
    Full,
}

/// Everything the journal needs. See [`JournalConfig::new`] for the defaults.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// The SQLite file. Its directory is created if missing.
    pub path: PathBuf,
    /// Stamped into every committed event; a journal refuses to open under another edge id.
    pub edge_id: EdgeId,
    pub durability: Durability,
    /// Size limit of the database (enforced by SQLite with `max_page_count`).
    pub quota_bytes: u64,
    /// `quota_alarm` is raised when more than `alarm_ratio * quota_bytes` is used.
    pub alarm_ratio: f64,
    /// `quota_alarm` is also raised when the filesystem has less free space than this.
    pub min_free_disk_bytes: u64,
    /// Acknowledged events are pruned once committed longer ago than this.
    pub retention: Duration,
    /// Most memory SQLite's page cache may take ([`DEFAULT_CACHE_BYTES`] by default).
    pub cache_bytes: u64,
}

/// The journal's page cache unless configured: enough for the pages the uplink and the
/// appends touch (the newest events), small enough for a gateway.
pub const DEFAULT_CACHE_BYTES: u64 = 2 << 20;

impl JournalConfig {
    /// Defaults: normal durability, 1 GiB quota, alarm at 80 %, alarm below 256 MiB free disk,
    /// 7 days retention of acknowledged events, a 2 MiB page cache.
    pub fn new(path: impl Into<PathBuf>, edge_id: EdgeId) -> JournalConfig {
        JournalConfig {
            path: path.into(),
            edge_id,
            durability: Durability::Normal,
            quota_bytes: 1 << 30,
            alarm_ratio: 0.8,
            min_free_disk_bytes: 256 << 20,
            retention: Duration::from_secs(7 * 24 * 3600),
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// The seqs one `append` got: `first..=last`, contiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    pub first: Seq,
    pub last: Seq,
}

impl SeqRange {
    /// Number of events in the range (never 0: an append has at least one event).
    pub fn len(&self) -> u64 {
        self.last.0 + 1 - self.first.0
    }

    /// Always false; here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn contains(&self, seq: Seq) -> bool {
        self.first <= seq && seq <= self.last
    }
}

/// A committed event as stored: its seq and the full [`protocol::Event`] JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEvent {
    pub seq: Seq,
    /// Exactly `serde_json::to_string(&Event)`, made by `protocol::event::encode_committed`.
    pub json: String,
}

/// A snapshot of the journal's counters, for `/status`, metrics and alarms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalStats {
    pub last_seq: Seq,
    pub acked_seq: Seq,
    /// `last_seq - acked_seq`: committed events central has not acknowledged yet.
    pub backlog: u64,
    /// Commit time of the oldest unacknowledged event.
    pub oldest_unacked_at: Option<DateTime<Utc>>,
    /// Bytes of database pages in use (`(page_count - freelist_count) * page_size`).
    pub bytes_used: u64,
    pub quota_bytes: u64,
    /// Free space of the filesystem holding the journal, when it could be read.
    pub disk_free_bytes: Option<u64>,
    /// `bytes_used > alarm_ratio * quota_bytes`, or free disk below `min_free_disk_bytes`.
    pub quota_alarm: bool,
    /// The last write failed because the disk is full, and none has succeeded since: new
    /// events are refused until space returns (the next commit that succeeds clears it).
    pub disk_full: bool,
    /// Events committed since this journal was opened.
    pub appended_total: u64,
    /// Write transactions committed since this journal was opened: group commit makes this
    /// smaller than the number of appends when producers append concurrently.
    pub commits_total: u64,
    /// Events pruned since this journal was opened.
    pub pruned_total: u64,
}

/// What can go wrong. Cloneable: one group commit's failure is reported to every caller in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error(
        "journal full: {used} of {quota} bytes used by unacknowledged events; \
         new events refused, nothing dropped (central must acknowledge, or raise the quota)"
    )]
    Full { used: u64, quota: u64 },
    /// The filesystem holding the journal has no room left (SQLite's SQLITE_FULL below the
    /// quota, or an I/O error with the disk out of space): not the journal's quota.
    #[error(
        "disk full: the filesystem holding the journal ({dir}) has {free} bytes free; new events \
         refused, nothing acknowledged that was not committed; recording resumes by itself \
         when space is freed"
    )]
    DiskFull { dir: String, free: u64 },
    /// The file is damaged (cut short, overwritten): refused at open, never half-used.
    #[error(
        "the journal file is damaged: {detail}; the edge refuses to start rather than send \
         central a wrong history: move the file aside (what central acknowledged is safe there) \
         or put back a copy"
    )]
    Damaged { detail: String },
    #[error("journal database error: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    #[error("journal closed: its writer thread has stopped")]
    Closed,
    #[error("ack through seq {through} refused: the last committed seq is {last}")]
    AckBeyondLast { through: Seq, last: Seq },
    #[error("append of no events refused: expected at least one event body")]
    EmptyAppend,
    #[error("could not encode for the journal: {0}")]
    Encode(#[source] Arc<serde_json::Error>),
    #[error("stored {what} is not valid JSON of the expected shape: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: Arc<serde_json::Error>,
    },
    #[error("journal schema version {found} is newer than this agent supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error(
        "journal belongs to edge {stored:?}, but this agent is configured as edge {configured:?}"
    )]
    EdgeMismatch { stored: String, configured: String },
    #[error("invalid journal configuration: {0}")]
    InvalidConfig(String),
    #[error("journal i/o error: {0}")]
    Io(#[source] Arc<std::io::Error>),
}

impl JournalError {
    /// Why new facts are refused, as a stable code the entry points pass on (the terminal
    /// translates it): `disk_full`, `journal_full` (the quota) or `journal_error`.
    pub fn refusal_reason(&self) -> &'static str {
        match self {
            JournalError::DiskFull { .. } => "disk_full",
            JournalError::Full { .. } => "journal_full",
            _ => "journal_error",
        }
    }
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        JournalError::Sqlite(Arc::new(e))
    }
}

impl From<std::io::Error> for JournalError {
    fn from(e: std::io::Error) -> Self {
        JournalError::Io(Arc::new(e))
    }
}

type Reply<T> = oneshot::Sender<Result<T, JournalError>>;

/// Commands to the writer thread.
enum Command {
    /// Event bodies already as JSON, plus key/value writes committed in the same transaction.
    Append {
        bodies: Vec<String>,
        state: Vec<(String, String)>,
        reply: Reply<SeqRange>,
    },
    PutState {
        key: String,
        value: String,
        reply: Reply<()>,
    },
    GetState {
        key: String,
        reply: Reply<Option<String>>,
    },
    StateWithPrefix {
        prefix: String,
        reply: Reply<Vec<(String, String)>>,
    },
    ReadAfter {
        after: Seq,
        max_events: usize,
        max_bytes: usize,
        reply: Reply<Vec<CommittedEvent>>,
    },
    Ack {
        through: Seq,
        reply: Reply<()>,
    },
    Stats {
        reply: Reply<JournalStats>,
    },
    Prune {
        now: DateTime<Utc>,
        reply: Reply<u64>,
    },
    SavePlan {
        version: u64,
        json: String,
        reply: Reply<()>,
    },
    LoadPlan {
        reply: Reply<Option<String>>,
    },
    Shutdown {
        reply: Reply<()>,
    },
}

/// The cloneable async handle to the journal. The writer thread exits after the last handle
/// is dropped (having finished every command already sent), or on [`JournalHandle::shutdown`].
#[derive(Clone)]
pub struct JournalHandle {
    commands: mpsc::Sender<Command>,
    committed: watch::Receiver<Seq>,
}

/// Opens (creating or migrating) the journal and spawns its writer thread.
///
/// Synchronous: it opens the SQLite file on the calling thread (a few milliseconds) so that
/// configuration and schema errors come back directly. Call it at startup.
pub fn open(cfg: JournalConfig) -> Result<JournalHandle, JournalError> {
    let writer = writer::Writer::open(&cfg)?;
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (committed_tx, committed_rx) = watch::channel(writer.last_seq());
    std::thread::Builder::new()
        .name("mes-journal".into())
        .spawn(move || writer.run(commands_rx, committed_tx))?;
    Ok(JournalHandle {
        commands: commands_tx,
        committed: committed_rx,
    })
}

/// `serde_json::to_string`, into a buffer sized for a typical event (no regrowth).
fn encode_body(body: &EventBody) -> Result<String, JournalError> {
    serde_json::to_string(body).map_err(|e| JournalError::Encode(Arc::new(e)))
}

impl JournalHandle {
    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, JournalError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| JournalError::Closed)?;
        response.await.map_err(|_| JournalError::Closed)?
    }

    /// Commits `bodies` as consecutive events and returns their seqs. Returns only after the
    /// commit (see [`Durability`] for what that survives). Concurrent appends are grouped into
    /// one transaction; each call's events stay contiguous and in the given order.
    pub async fn append(&self, bodies: Vec<EventBody>) -> Result<SeqRange, JournalError> {
        self.append_with_state(&bodies, Vec::new()).await
    }

    /// Like [`append`](Self::append), and writes the key/value pairs (see
    /// [`put_state`](Self::put_state)) in the same transaction: both or neither are committed.
    /// For the counter processor: an event and the counter value it was derived from.
    ///
    /// The bodies are borrowed: they are encoded before anything is queued, so a caller that
    /// must retry (the processor, while the journal is full) keeps them without a copy.
    pub async fn append_with_state(
        &self,
        bodies: &[EventBody],
        state: Vec<(String, String)>,
    ) -> Result<SeqRange, JournalError> {
        if bodies.is_empty() {
            return Err(JournalError::EmptyAppend);
        }
        let bodies = bodies
            .iter()
            .map(encode_body)
            .collect::<Result<Vec<_>, _>>()?;
        self.call(|reply| Command::Append {
            bodies,
            state,
            reply,
        })
        .await
    }

    /// Committed events with `seq > after`, ascending, at most `max_events`.
    pub async fn read_after(
        &self,
        after: Seq,
        max_events: usize,
    ) -> Result<Vec<CommittedEvent>, JournalError> {
        self.read_batch(after, max_events, usize::MAX).await
    }

    /// Committed events with `seq > after`, ascending: at most `max_events`, and no more than
    /// fit `max_bytes` of JSON together (but always the first, if there is one). The uplink
    /// sizes its batches this way, below central's body limit.
    pub async fn read_batch(
        &self,
        after: Seq,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Vec<CommittedEvent>, JournalError> {
        self.call(|reply| Command::ReadAfter {
            after,
            max_events,
            max_bytes,
            reply,
        })
        .await
    }

    /// Persists central's acknowledgement. Monotonic: a lower value than the stored one is
    /// ignored. Refuses `through` beyond the last committed seq.
    pub async fn ack(&self, through: Seq) -> Result<(), JournalError> {
        self.call(|reply| Command::Ack { through, reply }).await
    }

    pub async fn stats(&self) -> Result<JournalStats, JournalError> {
        self.call(|reply| Command::Stats { reply }).await
    }

    /// Deletes acknowledged events committed more than `retention` before `now`; returns how
    /// many. Unacknowledged events are never deleted.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<u64, JournalError> {
        self.call(|reply| Command::Prune { now, reply }).await
    }

    /// Replaces the stored plan, atomically.
    pub async fn save_plan(&self, plan: &Plan) -> Result<(), JournalError> {
        let json = serde_json::to_string(plan).map_err(|e| JournalError::Encode(Arc::new(e)))?;
        let version = plan.version.0;
        self.call(|reply| Command::SavePlan {
            version,
            json,
            reply,
        })
        .await
    }

    pub async fn load_plan(&self) -> Result<Option<Plan>, JournalError> {
        let json = self.call(|reply| Command::LoadPlan { reply }).await?;
        json.map(|json| {
            serde_json::from_str(&json).map_err(|e| JournalError::Decode {
                what: "plan",
                source: Arc::new(e),
            })
        })
        .transpose()
    }

    /// Stores a small key/value pair (for example a PLC counter's last value). Committed in
    /// the same group transaction as the appends queued with it, in arrival order. An empty
    /// `value` deletes the key (here and in [`append_with_state`](Self::append_with_state)).
    pub async fn put_state(&self, key: &str, value: &str) -> Result<(), JournalError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.call(|reply| Command::PutState { key, value, reply })
            .await
    }

    pub async fn get_state(&self, key: &str) -> Result<Option<String>, JournalError> {
        let key = key.to_owned();
        self.call(|reply| Command::GetState { key, reply }).await
    }

    /// Every stored key/value pair whose key starts with `prefix`, in key order (the scan
    /// processor loads its stations' state at start this way).
    pub async fn state_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, JournalError> {
        let prefix = prefix.to_owned();
        self.call(|reply| Command::StateWithPrefix { prefix, reply })
            .await
    }

    /// The last committed seq; changes after every group commit. The uplink waits on it.
    pub fn committed(&self) -> watch::Receiver<Seq> {
        self.committed.clone()
    }

    /// Finishes the commands sent before, closes the database and stops the writer thread.
    /// Other handles' later calls get [`JournalError::Closed`].
    pub async fn shutdown(self) -> Result<(), JournalError> {
        self.call(|reply| Command::Shutdown { reply }).await
    }
}
