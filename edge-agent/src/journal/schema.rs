//! Opening the SQLite file: pragmas, schema creation and migration.
//!
//! Shared with [`super::bench`], so the raw baseline runs on exactly the same settings.

use super::{Durability, JournalError};
use protocol::ids::{EdgeId, Seq};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;

/// The schema version this code writes and reads.
pub(super) const SCHEMA_VERSION: i64 = 1;

/// Page size for new databases; the quota is counted in pages of the actual size.
const PAGE_SIZE: u64 = 4096;

/// The quota must leave room for the schema and a few events.
pub(super) const MIN_QUOTA_PAGES: u64 = 16;

/// The WAL is truncated back to this size after a checkpoint (it is not part of the quota).
const WAL_SIZE_LIMIT: i64 = 16 << 20;

const CREATE_V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value NOT NULL
) WITHOUT ROWID;
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY,
    committed_at_ms INTEGER NOT NULL,
    json            TEXT NOT NULL
);
CREATE TABLE plan (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    version     INTEGER NOT NULL,
    saved_at_ms INTEGER NOT NULL,
    json        TEXT NOT NULL
);
CREATE TABLE state (
    key           TEXT PRIMARY KEY,
    value         TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Opens the file with the journal's pragmas: WAL, `synchronous` per `durability`, and a
/// `max_page_count` that makes SQLite refuse growth beyond `quota_bytes` (SQLITE_FULL).
/// Returns the connection and the page size.
pub(super) fn open_connection(
    path: &Path,
    durability: Durability,
    quota_bytes: u64,
    cache_bytes: u64,
) -> Result<(Connection, u64), JournalError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir_all(dir)?;
    }
    // Created owner-only before SQLite opens it, whatever the umask; SQLite gives the -wal and
    // -shm files the database file's mode.
    create_private_file(path)?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Only effective on a new, empty database.
    conn.pragma_update(None, "page_size", PAGE_SIZE as i64)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(JournalError::InvalidConfig(format!(
            "the filesystem refused WAL mode (got journal_mode={mode}); expected a local disk"
        )));
    }
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    // The page cache is the journal's largest memory: bounded (`JournalConfig::cache_bytes`,
    // 2 MiB by default) so it stays small on a gateway however large the journal grows. A
    // group commit larger than the cache spills dirty pages to the WAL before its commit,
    // which costs time, never correctness. Negative `cache_size` means KiB.
    let cache_kib = i64::try_from(cache_bytes / 1024)
        .unwrap_or(i64::MAX)
        .max(64);
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    let page_size = page_size as u64;
    let max_pages = quota_bytes / page_size;
    if max_pages < MIN_QUOTA_PAGES {
        return Err(JournalError::InvalidConfig(format!(
            "quota_bytes {quota_bytes} is too small: expected at least {} bytes",
            MIN_QUOTA_PAGES * page_size
        )));
    }
    // SQLite never sets it below the current size; an over-full journal stays readable.
    let _: i64 =
        conn.pragma_update_and_check(None, "max_page_count", max_pages as i64, |row| row.get(0))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok((conn, page_size))
}

/// Creates `dir` and its missing parents owner-only (0700); existing directories are left as
/// they are.
fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the database file owner-only (0600) when it does not exist yet; never truncates.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// Makes the database file and its `-wal` and `-shm` files owner-only (0600), whatever mode
/// they were created with (a journal made by an older agent, a loose umask). The files hold
/// every event and the plan; nobody else on the gateway needs to read them.
pub(super) fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            files.push(name.into());
        }
        for file in files {
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

/// What `migrate` found in the file.
pub(super) struct Stored {
    pub acked_seq: Seq,
    pub last_seq: Seq,
}

/// Creates the schema in a new file, checks the version and edge id of an existing one.
pub(super) fn migrate(conn: &mut Connection, edge_id: &EdgeId) -> Result<Stored, JournalError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let has_meta: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |row| row.get(0),
    )?;
    if !has_meta {
        tx.execute_batch(CREATE_V1)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('acked_seq', 0), \
             ('edge_id', ?2)",
            params![SCHEMA_VERSION, edge_id.as_str()],
        )?;
    }
    let version: i64 = tx.query_row(
        "SELECT value FROM meta WHERE key = 'schema_version'",
        [],
        |row| row.get(0),
    )?;
    if version > SCHEMA_VERSION {
        return Err(JournalError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    // Future migrations go here: `if version < 2 { … }`, each bumping schema_version.
    let stored_edge: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = 'edge_id'", [], |row| {
            row.get(0)
        })
        .optional()?;
    if let Some(stored) = stored_edge.filter(|s| s != edge_id.as_str()) {
        return Err(JournalError::EdgeMismatch {
            stored,
            configured: edge_id.to_string(),
        });
    }
    let acked: i64 = tx.query_row(
        "SELECT value FROM meta WHERE key = 'acked_seq'",
        [],
        |row| row.get(0),
    )?;
    let max_seq: Option<i64> = tx.query_row("SELECT MAX(seq) FROM events", [], |row| row.get(0))?;
    tx.commit()?;
    if acked < 0 || max_seq.is_some_and(|m| m < 0) {
        return Err(JournalError::Damaged {
            detail: format!("acked seq {acked} or last seq {max_seq:?} is negative"),
        });
    }
    let acked_seq = Seq(acked as u64);
    // Pruned events are all acknowledged, so after pruning everything the last seq is the
    // acknowledged one.
    let last_seq = Seq(max_seq.unwrap_or(0) as u64).max(acked_seq);
    Ok(Stored {
        acked_seq,
        last_seq,
    })
}

/// What [`check_survivors`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Survivors {
    /// Events in the file (acknowledged ones not pruned yet, and every unacknowledged one).
    pub events: u64,
    /// Of which not acknowledged by central yet: seqs `acked + 1 ..= last`, each read back.
    pub unacked: u64,
}

/// Checks a journal just opened before anything trusts it: SQLite's own structure check
/// (`PRAGMA quick_check`: every page, index and record), then every event central has not
/// acknowledged yet, read back: present for each seq after the acknowledged one, and a whole
/// event with its own seq. A file damaged (cut short, overwritten) either passes, and then the
/// counts say exactly what survived, or is refused with [`JournalError::Damaged`]: never an
/// agent that starts and then fails on a page it reads later. (A change inside an event that
/// still reads as an event, a digit for another, is beyond any check without checksums.)
pub(super) fn check_survivors(
    conn: &Connection,
    stored: &Stored,
) -> Result<Survivors, JournalError> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let verdict: Vec<String> = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    if verdict.first().map(String::as_str) != Some("ok") {
        return Err(JournalError::Damaged {
            detail: format!("SQLite's check says: {}", verdict.join("; ")),
        });
    }
    let events: i64 = conn.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?;
    let mut stmt = conn.prepare("SELECT seq, json FROM events WHERE seq > ?1 ORDER BY seq")?;
    let mut rows = stmt.query(params![stored.acked_seq.0 as i64])?;
    let mut expected = stored.acked_seq.0 + 1;
    while let Some(row) = rows.next()? {
        let seq = row.get::<_, i64>(0)? as u64;
        if seq != expected {
            return Err(JournalError::Damaged {
                detail: format!(
                    "seq {expected} is missing (the next event is seq {seq}); central has acknowledged only through {}",
                    stored.acked_seq
                ),
            });
        }
        let json: String = row.get(1)?;
        match serde_json::from_str::<protocol::Event>(&json) {
            Ok(event) if event.seq.0 == seq => {}
            Ok(event) => {
                return Err(JournalError::Damaged {
                    detail: format!("the row of seq {seq} holds an event of seq {}", event.seq),
                });
            }
            Err(e) => {
                return Err(JournalError::Damaged {
                    detail: format!("the event of seq {seq} does not read: {e}"),
                });
            }
        }
        expected += 1;
    }
    let unacked = expected - 1 - stored.acked_seq.0;
    if expected - 1 != stored.last_seq.0 {
        return Err(JournalError::Damaged {
            detail: format!(
                "events end at seq {}, expected {}",
                expected - 1,
                stored.last_seq
            ),
        });
    }
    Ok(Survivors {
        events: events as u64,
        unacked,
    })
}

/// Whether an error met while opening means the file is damaged (not missing, not locked).
pub(super) fn is_damage(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            ) || f.extended_code == rusqlite::ffi::SQLITE_IOERR_SHORT_READ
        }
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => true,
        _ => false,
    }
}
