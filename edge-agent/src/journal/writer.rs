//! The writer thread: owns the connection, assigns seqs, group-commits.

use super::schema::{self, Stored};
use super::{Command, CommittedEvent, JournalConfig, JournalError, JournalStats, Reply, SeqRange};
use chrono::{DateTime, Utc};
use protocol::event::CommittedEncoder;
use protocol::ids::Seq;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot, watch};

/// At most this many commands are taken from the queue per round, so one round (and the
/// latency of the commands after it) stays bounded.
const MAX_COMMANDS_PER_ROUND: usize = 4 * super::COMMAND_CAPACITY;

const INSERT_EVENT: &str = "INSERT INTO events (seq, committed_at_ms, json) VALUES (?1, ?2, ?3)";
const UPSERT_STATE: &str = "INSERT INTO state (key, value, updated_at_ms) VALUES (?1, ?2, ?3) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms";
/// A state pair with an empty value deletes its key (no state is ever stored empty).
const DELETE_STATE: &str = "DELETE FROM state WHERE key = ?1";

/// A write that goes into the group transaction.
enum Write {
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
}

pub(super) struct Writer {
    conn: Connection,
    /// Splices edge id and seq into each body's JSON, without allocating per event.
    encoder: CommittedEncoder,
    page_size: u64,
    quota_bytes: u64,
    alarm_ratio: f64,
    min_free_disk_bytes: u64,
    retention_ms: i64,
    /// The directory whose filesystem's free space is reported.
    dir: PathBuf,
    last_seq: Seq,
    acked_seq: Seq,
    /// The last write failed for a full disk and none succeeded since.
    disk_full: bool,
    appended_total: u64,
    commits_total: u64,
    pruned_total: u64,
}

impl Writer {
    pub(super) fn open(cfg: &JournalConfig) -> Result<Writer, JournalError> {
        if !(cfg.alarm_ratio > 0.0 && cfg.alarm_ratio <= 1.0) {
            return Err(JournalError::InvalidConfig(format!(
                "alarm_ratio {} is out of range: expected a ratio in (0, 1]",
                cfg.alarm_ratio
            )));
        }
        let damaged = |e: JournalError| match e {
            JournalError::Sqlite(inner) if schema::is_damage(&inner) => JournalError::Damaged {
                detail: inner.to_string(),
            },
            other => other,
        };
        let (mut conn, page_size) =
            schema::open_connection(&cfg.path, cfg.durability, cfg.quota_bytes, cfg.cache_bytes)
                .map_err(damaged)?;
        let stored = schema::migrate(&mut conn, &cfg.edge_id).map_err(damaged)?;
        let survivors = schema::check_survivors(&conn, &stored).map_err(damaged)?;
        let Stored {
            acked_seq,
            last_seq,
        } = stored;
        tracing::info!(
            path = %cfg.path.display(),
            events = survivors.events,
            unacked = survivors.unacked,
            %acked_seq,
            %last_seq,
            "journal opened and checked"
        );
        // The -wal and -shm files exist now (migrate wrote); all three are owner-only.
        schema::make_private(&cfg.path)?;
        let dir = match cfg.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Writer {
            conn,
            encoder: CommittedEncoder::new(&cfg.edge_id),
            page_size,
            quota_bytes: cfg.quota_bytes,
            alarm_ratio: cfg.alarm_ratio,
            min_free_disk_bytes: cfg.min_free_disk_bytes,
            retention_ms: i64::try_from(cfg.retention.as_millis()).unwrap_or(i64::MAX),
            dir,
            last_seq,
            acked_seq,
            disk_full: false,
            appended_total: 0,
            commits_total: 0,
            pruned_total: 0,
        })
    }

    pub(super) fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// The connection's `PRAGMA synchronous` (1 NORMAL, 2 FULL): a per-connection setting, so
    /// only the writer's own connection can tell which one commits use.
    #[cfg(test)]
    pub(super) fn synchronous(&self) -> i64 {
        self.conn
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .expect("PRAGMA synchronous answers")
    }

    /// The thread's body. Returns when every handle is gone or on `Shutdown`; the connection
    /// is closed before the shutdown reply is sent.
    pub(super) fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        committed: watch::Sender<Seq>,
    ) {
        let mut queued: Vec<Command> = Vec::with_capacity(super::COMMAND_CAPACITY);
        let mut writes: Vec<Write> = Vec::with_capacity(super::COMMAND_CAPACITY);
        let mut shutdown_reply: Option<Reply<()>> = None;
        'rounds: while let Some(first) = commands.blocking_recv() {
            queued.push(first);
            while queued.len() < MAX_COMMANDS_PER_ROUND {
                match commands.try_recv() {
                    Ok(command) => queued.push(command),
                    Err(_) => break,
                }
            }
            // All queued writes first, in one transaction; then the rest in arrival order.
            let mut rest = Vec::new();
            for command in queued.drain(..) {
                match command {
                    Command::Append {
                        bodies,
                        state,
                        reply,
                    } => writes.push(Write::Append {
                        bodies,
                        state,
                        reply,
                    }),
                    Command::PutState { key, value, reply } => {
                        writes.push(Write::PutState { key, value, reply })
                    }
                    other => rest.push(other),
                }
            }
            if !writes.is_empty() {
                self.group_commit(&mut writes, &committed);
            }
            let mut rest = rest.into_iter();
            for command in rest.by_ref() {
                if let Command::Shutdown { reply } = command {
                    shutdown_reply = Some(reply);
                    break;
                }
                self.handle(command);
            }
            if shutdown_reply.is_some() {
                // Commands after the shutdown are dropped: their callers see `Closed`.
                drop(rest);
                break 'rounds;
            }
        }
        commands.close();
        let closed = self.conn.close().map_err(|(_, e)| JournalError::from(e));
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(closed);
        } else if let Err(e) = closed {
            tracing::error!(error = %e, "closing the journal failed");
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::ReadAfter {
                after,
                max_events,
                max_bytes,
                reply,
            } => send(reply, self.read_after(after, max_events, max_bytes)),
            Command::Ack { through, reply } => send(reply, self.ack(through)),
            Command::Stats { reply } => send(reply, self.stats()),
            Command::Prune { now, reply } => send(reply, self.prune(now)),
            Command::SavePlan {
                version,
                json,
                reply,
            } => send(reply, self.save_plan(version, &json)),
            Command::LoadPlan { reply } => send(reply, self.load_plan()),
            Command::GetState { key, reply } => send(reply, self.get_state(&key)),
            Command::StateWithPrefix { prefix, reply } => {
                send(reply, self.state_with_prefix(&prefix))
            }
            Command::Append { .. } | Command::PutState { .. } | Command::Shutdown { .. } => {
                unreachable!("writes and shutdown are handled by the round loop")
            }
        }
    }

    /// Commits all `writes` in one transaction and replies to each. On SQLITE_FULL it prunes
    /// every acknowledged event and retries once; if still full, every write gets `Full`.
    fn group_commit(&mut self, writes: &mut Vec<Write>, committed: &watch::Sender<Seq>) {
        let mut result = self.try_commit(writes);
        if result.as_ref().err().is_some_and(is_full) {
            match self.prune_through(self.acked_seq, i64::MAX) {
                Ok(0) => {}
                Ok(pruned) => {
                    tracing::warn!(
                        pruned,
                        acked_seq = %self.acked_seq,
                        "journal full: pruned all acknowledged events regardless of retention, retrying"
                    );
                    result = self.try_commit(writes);
                }
                Err(e) => tracing::error!(error = %e, "journal full and pruning failed"),
            }
        }
        match result {
            Ok(()) => {
                if self.disk_full {
                    tracing::info!("disk space is back: the journal commits again");
                    self.disk_full = false;
                }
                self.commits_total += 1;
                // The watch moves before any caller hears back, so a caller that saw its
                // append succeed also sees `committed()` at or past its last seq.
                let appended: u64 = writes
                    .iter()
                    .map(|write| match write {
                        Write::Append { bodies, .. } => bodies.len() as u64,
                        Write::PutState { .. } => 0,
                    })
                    .sum();
                if appended > 0 {
                    committed.send_replace(Seq(self.last_seq.0 + appended));
                }
                for write in writes.drain(..) {
                    match write {
                        Write::Append { bodies, reply, .. } => {
                            let first = self.last_seq.next();
                            self.last_seq = Seq(self.last_seq.0 + bodies.len() as u64);
                            self.appended_total += bodies.len() as u64;
                            let _ = reply.send(Ok(SeqRange {
                                first,
                                last: self.last_seq,
                            }));
                        }
                        Write::PutState { reply, .. } => {
                            let _ = reply.send(Ok(()));
                        }
                    }
                }
            }
            Err(e) => {
                let error = self.refusal(e);
                for write in writes.drain(..) {
                    match write {
                        Write::Append { reply, .. } => {
                            let _ = reply.send(Err(error.clone()));
                        }
                        Write::PutState { reply, .. } => {
                            let _ = reply.send(Err(error.clone()));
                        }
                    }
                }
            }
        }
    }

    /// One transaction with every write; seqs continue from `last_seq`. Changes no field of
    /// `self`: on error the transaction is rolled back and nothing was assigned.
    fn try_commit(&mut self, writes: &[Write]) -> Result<(), rusqlite::Error> {
        let now_ms = Utc::now().timestamp_millis();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(INSERT_EVENT)?;
            let mut upsert = tx.prepare_cached(UPSERT_STATE)?;
            let mut delete = tx.prepare_cached(DELETE_STATE)?;
            let mut put = |key: &str, value: &str| {
                if value.is_empty() {
                    delete.execute(params![key])
                } else {
                    upsert.execute(params![key, value, now_ms])
                }
            };
            let mut seq = self.last_seq.0;
            for write in writes {
                match write {
                    Write::Append { bodies, state, .. } => {
                        for body in bodies {
                            seq += 1;
                            let json = self.encoder.encode(Seq(seq), body);
                            insert.execute(params![seq as i64, now_ms, json])?;
                        }
                        for (key, value) in state {
                            put(key, value)?;
                        }
                    }
                    Write::PutState { key, value, .. } => {
                        put(key, value)?;
                    }
                }
            }
        }
        tx.commit()
    }

    /// What a failed write means: the quota reached ([`JournalError::Full`]), the disk full
    /// ([`JournalError::DiskFull`], also remembered for the stats until a write succeeds), or
    /// another error as it came.
    fn refusal(&mut self, e: rusqlite::Error) -> JournalError {
        let free = self.disk_free_bytes();
        match classify_write_error(&e, self.at_quota(), free) {
            WriteFailure::Quota => {
                let used = self.bytes_used().unwrap_or(self.quota_bytes);
                tracing::warn!(
                    used,
                    quota = self.quota_bytes,
                    "journal full: appends refused, unacknowledged events kept"
                );
                JournalError::Full {
                    used,
                    quota: self.quota_bytes,
                }
            }
            WriteFailure::DiskFull => {
                if !self.disk_full {
                    tracing::error!(
                        dir = %self.dir.display(),
                        free = free.unwrap_or(0),
                        error = %e,
                        "disk full: new events refused until space is freed"
                    );
                }
                self.disk_full = true;
                JournalError::DiskFull {
                    dir: self.dir.display().to_string(),
                    free: free.unwrap_or(0),
                }
            }
            WriteFailure::Other => JournalError::from(e),
        }
    }

    /// Whether the database is at its quota (`max_page_count`): one more page would pass it.
    fn at_quota(&self) -> bool {
        let pages: Result<i64, _> = self
            .conn
            .pragma_query_value(None, "page_count", |row| row.get(0));
        pages
            .is_ok_and(|pages| (pages as u64 + 1).saturating_mul(self.page_size) > self.quota_bytes)
    }

    fn disk_free_bytes(&self) -> Option<u64> {
        rustix::fs::statvfs(&self.dir)
            .ok()
            .map(|vfs| vfs.f_bavail.saturating_mul(vfs.f_frsize))
    }

    fn read_after(
        &mut self,
        after: Seq,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Vec<CommittedEvent>, JournalError> {
        let limit = i64::try_from(max_events).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, json FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let mut rows = stmt.query(params![after.0 as i64, limit])?;
        let mut events = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = rows.next()? {
            let event = CommittedEvent {
                seq: Seq(row.get::<_, i64>(0)? as u64),
                json: row.get(1)?,
            };
            // One byte per event for the comma between them in the batch.
            bytes = bytes.saturating_add(event.json.len() + 1);
            if bytes > max_bytes && !events.is_empty() {
                break;
            }
            events.push(event);
        }
        Ok(events)
    }

    fn ack(&mut self, through: Seq) -> Result<(), JournalError> {
        if through > self.last_seq {
            return Err(JournalError::AckBeyondLast {
                through,
                last: self.last_seq,
            });
        }
        if through <= self.acked_seq {
            return Ok(());
        }
        self.conn
            .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'acked_seq'")?
            .execute(params![through.0 as i64])?;
        self.acked_seq = through;
        Ok(())
    }

    fn prune(&mut self, now: DateTime<Utc>) -> Result<u64, JournalError> {
        let cutoff_ms = now.timestamp_millis().saturating_sub(self.retention_ms);
        Ok(self.prune_through(self.acked_seq, cutoff_ms)?)
    }

    /// Deletes events with `seq <= through` committed before `cutoff_ms`.
    fn prune_through(&mut self, through: Seq, cutoff_ms: i64) -> Result<u64, rusqlite::Error> {
        let pruned = self
            .conn
            .prepare_cached("DELETE FROM events WHERE seq <= ?1 AND committed_at_ms < ?2")?
            .execute(params![through.0 as i64, cutoff_ms])? as u64;
        self.pruned_total += pruned;
        Ok(pruned)
    }

    fn bytes_used(&self) -> Result<u64, rusqlite::Error> {
        let pages: i64 = self
            .conn
            .pragma_query_value(None, "page_count", |row| row.get(0))?;
        let free: i64 = self
            .conn
            .pragma_query_value(None, "freelist_count", |row| row.get(0))?;
        Ok((pages - free).max(0) as u64 * self.page_size)
    }

    fn stats(&mut self) -> Result<JournalStats, JournalError> {
        let bytes_used = self.bytes_used()?;
        let oldest_ms: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT committed_at_ms FROM events WHERE seq > ?1 ORDER BY seq LIMIT 1",
            )?
            .query_row(params![self.acked_seq.0 as i64], |row| row.get(0))
            .optional()?;
        let disk_free_bytes = self.disk_free_bytes();
        let quota_alarm = bytes_used as f64 > self.alarm_ratio * self.quota_bytes as f64
            || disk_free_bytes.is_some_and(|free| free < self.min_free_disk_bytes);
        Ok(JournalStats {
            last_seq: self.last_seq,
            acked_seq: self.acked_seq,
            backlog: self.last_seq.0 - self.acked_seq.0,
            oldest_unacked_at: oldest_ms.and_then(DateTime::from_timestamp_millis),
            bytes_used,
            quota_bytes: self.quota_bytes,
            disk_free_bytes,
            quota_alarm,
            disk_full: self.disk_full,
            appended_total: self.appended_total,
            commits_total: self.commits_total,
            pruned_total: self.pruned_total,
        })
    }

    fn save_plan(&mut self, version: u64, json: &str) -> Result<(), JournalError> {
        let result = self
            .conn
            .prepare_cached(
                "INSERT INTO plan (id, version, saved_at_ms, json) VALUES (1, ?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
                 saved_at_ms = excluded.saved_at_ms, json = excluded.json",
            )?
            .execute(params![version as i64, Utc::now().timestamp_millis(), json]);
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.refusal(e)),
        }
    }

    fn load_plan(&mut self) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .prepare_cached("SELECT json FROM plan WHERE id = 1")?
            .query_row([], |row| row.get(0))
            .optional()?)
    }

    fn get_state(&mut self, key: &str) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM state WHERE key = ?1")?
            .query_row(params![key], |row| row.get(0))
            .optional()?)
    }
}

impl Writer {
    fn state_with_prefix(&mut self, prefix: &str) -> Result<Vec<(String, String)>, JournalError> {
        // Keys are compared as text: `key >= prefix AND key < prefix + U+10FFFF` is a range
        // scan on the primary key, unlike LIKE (whose `_` and `%` would need escaping).
        let upper = format!("{prefix}\u{10ffff}");
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, value FROM state WHERE key >= ?1 AND key < ?2 ORDER BY key",
        )?;
        let rows = stmt.query_map(params![prefix, upper], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn send<T>(reply: oneshot::Sender<Result<T, JournalError>>, result: Result<T, JournalError>) {
    // The caller may have given up waiting; the work is done either way.
    let _ = reply.send(result);
}

/// SQLITE_FULL: the quota (`max_page_count`) or the disk is full.
fn is_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DiskFull)
}

/// Below this much free space, an I/O error on a write is taken for a full disk: SQLite
/// reports ENOSPC as SQLITE_FULL where it writes pages, but as SQLITE_IOERR (write, fsync,
/// truncate, shared-memory size) elsewhere.
const DISK_FULL_BELOW: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteFailure {
    Quota,
    DiskFull,
    Other,
}

/// Sans-I/O: what a failed write means, from SQLite's error, whether the database is at its
/// quota, and the free space of its filesystem (when it could be read).
fn classify_write_error(e: &rusqlite::Error, at_quota: bool, free: Option<u64>) -> WriteFailure {
    let low_space = free.is_some_and(|f| f < DISK_FULL_BELOW);
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DiskFull => {
            // SQLITE_FULL is the quota only when the database is at it and the disk has room.
            if at_quota && !low_space {
                WriteFailure::Quota
            } else {
                WriteFailure::DiskFull
            }
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::SystemIoFailure && low_space =>
        {
            WriteFailure::DiskFull
        }
        _ => WriteFailure::Other,
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;

    fn sqlite(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn a_full_disk_is_told_from_the_quota_and_from_other_errors() {
        let full = sqlite(rusqlite::ffi::SQLITE_FULL);
        let ioerr_write = sqlite(rusqlite::ffi::SQLITE_IOERR_WRITE);
        let roomy = Some(10 << 30);
        let none = Some(4096);
        for (e, at_quota, free, want) in [
            (&full, true, roomy, WriteFailure::Quota),
            (&full, false, roomy, WriteFailure::DiskFull),
            (&full, true, none, WriteFailure::DiskFull),
            (&full, false, None, WriteFailure::DiskFull),
            (&ioerr_write, false, none, WriteFailure::DiskFull),
            (&ioerr_write, false, roomy, WriteFailure::Other),
            (&ioerr_write, false, None, WriteFailure::Other),
            (
                &sqlite(rusqlite::ffi::SQLITE_CORRUPT),
                false,
                none,
                WriteFailure::Other,
            ),
        ] {
            assert_eq!(
                classify_write_error(e, at_quota, free),
                want,
                "{e} at_quota={at_quota} free={free:?}"
            );
        }
    }
}
