//! SQLite's checkpoints on a thread of their own, off the writer's path.
//!
//! In WAL mode a commit appends to `central.db-wal`; a checkpoint copies those pages back into
//! `central.db` and syncs it. Left to SQLite (`wal_autocheckpoint`), the commit that crosses
//! the threshold does the checkpoint itself, so every few batches one edge's answer waits for
//! a copy and an fsync of the database file as well as its own (BENCHMARKS.md, issue 14: half
//! of the writer's time in a backlog drain). Here the writers only signal that they wrote; a
//! thread with its own connection runs a passive checkpoint (it never blocks the writers or
//! readers) at most every [`EVERY`]. The writers keep an automatic checkpoint as a backstop
//! at [`BACKSTOP_PAGES`], so the WAL stays bounded if this thread falls behind.

use crate::store::StoreError;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

/// The shortest time between two checkpoints of this thread.
pub const EVERY: Duration = Duration::from_millis(100);

/// Pages in the WAL at which a writer checkpoints by itself (SQLite's default is 1000; 4 KiB
/// pages: 32 MiB).
pub const BACKSTOP_PAGES: i64 = 8192;

/// The writers' side: a signal that something was committed.
#[derive(Clone)]
pub struct Checkpointer {
    wrote: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread on `path` (the database file, already in WAL mode). It ends when
    /// every [`Checkpointer`] is dropped.
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // A checkpoint syncs the database file like a commit at `synchronous = FULL` does.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let (wrote, rx) = sync_channel(1);
        std::thread::Builder::new()
            .name("mes-checkpoint".into())
            .spawn(move || run(&conn, &rx))
            .map_err(|e| StoreError::Task(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { wrote })
    }

    /// Something was committed: a checkpoint follows within [`EVERY`].
    pub fn wrote(&self) {
        // Full: a checkpoint is pending already.
        let _ = self.wrote.try_send(());
    }
}

fn run(conn: &rusqlite::Connection, wrote: &Receiver<()>) {
    while wrote.recv().is_ok() {
        // Writes that come while it runs are taken by the next round.
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match result {
            Ok((in_wal, copied)) => {
                tracing::trace!(in_wal, copied, "checkpoint");
            }
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint failed; the writers' own checkpoint bounds the WAL")
            }
        }
        std::thread::sleep(EVERY);
        if matches!(wrote.try_recv(), Err(TryRecvError::Disconnected)) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_checkpointed_by_the_thread_not_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer
            .pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES)
            .unwrap();
        writer
            .execute_batch("CREATE TABLE t(x TEXT NOT NULL)")
            .unwrap();
        let checkpointer = Checkpointer::start(&path).unwrap();
        for i in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (?1)", [format!("{i:0>2000}")])
                .unwrap();
        }
        let db_len = || std::fs::metadata(&path).unwrap().len();
        // 400 kB committed, all of it still in the WAL: the writer did not checkpoint.
        assert!(db_len() < 100_000, "database file {} bytes", db_len());
        checkpointer.wrote();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while db_len() < 200 * 2000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the thread never checkpointed (database file {} bytes)",
                db_len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 200);
    }
}
