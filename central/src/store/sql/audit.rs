//! [`AuditStore`] on SQLite: the `audit_log` table, and the triggers that fill it.
//!
//! Row changes are captured generically: at open, after every schema ran, [`install`] makes
//! TEMP triggers on the writer connection (after insert, update and delete) for every table
//! of the main schema but those in [`NOT_AUDITED`], generated from `PRAGMA table_info`. Each
//! writes one entry with the row before and after as JSON objects (BLOB values as hex,
//! secret columns, [`is_secret_column`], as `"[redacted]"`), its primary key as `entity_id`,
//! and the chain's next `seq`, `prev_hash` and `hash` (the SQL function `audit_hash`, the
//! same [`entry_hash`] the verifier uses), inside the statement's transaction. They fire
//! only while `temp.audit_ctx` holds a row: [`as_actor`] puts the task's actor there around
//! a write and clears it after. TEMP triggers live on the audited writer connection alone
//! (`Writers::audited`): a write without an actor (ingest, statuses, tools) goes through the
//! other writer, which has none and pays nothing for them (with them, the empty `WHEN` and the
//! OLD/NEW rows cost the mixed ingest 15%); any other connection (a test with rusqlite)
//! writes unaudited too; the chain still shows what it
//! changed in `audit_log` itself, and `audit_log`'s own triggers refuse any update or delete.
//!
//! Two things to keep in mind when writing store code: a table created after open (lazily)
//! has no triggers until [`install`] runs again on the writer; and `INSERT OR REPLACE`
//! deletes the old row without firing delete triggers (SQLite's `recursive_triggers` is
//! off), so its entry would show the new row only: use `ON CONFLICT … DO UPDATE`, which is
//! audited as an update with the row before.

use super::db::{
    self, Connection, Dialect, OptionalExtension, ToSql, Transaction, TransactionBehavior, params,
};
use super::{SqlStore, StoreError, parse_ts, to_i64, to_u64, ts};
use crate::people::audit::{
    Actor, ActorKind, AuditVerdict, ChainVerifier, HashInput, REDACTED, StoredEntry, entry_hash,
    is_secret_column,
};
use crate::store::audit::{
    AuditEntry, AuditOrder, AuditQuery, AuditStore, MAX_AUDIT_PAGE, NewAuditEntry,
};
use async_trait::async_trait;
use chrono::Utc;
use rusqlite::OpenFlags;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use std::path::Path;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor      TEXT NOT NULL,
    address    TEXT,
    operation  TEXT NOT NULL,
    \"action\"   TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  TEXT,
    \"before\"   TEXT,
    \"after\"    TEXT,
    prev_hash  TEXT,
    hash       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
";

/// Tables whose row changes are not audited, each with why. Every other table of the main
/// schema is, including tables added later (the triggers are made from the schema at open).
pub const NOT_AUDITED: &[(&str, &str)] = &[
    ("audit_log", "the trail itself"),
    (
        "events",
        "the edges' events, written by ingest: they are their own trail",
    ),
    (
        "quarantine",
        "events ingest stored but could not apply: part of the events' trail",
    ),
    (
        "events_by_order",
        "the events that name a work order, by order: an index of the events, filled by ingest",
    ),
    (
        "edge_stations_reported",
        "what an edge's last status said runs on its stations, replaced by every status",
    ),
    ("edge_stations", "the same, per station"),
    (
        "unassigned_counts",
        "counts booked to no work order, summed from the edges' events by ingest",
    ),
    (
        "wo_unmatched",
        "work-order ids edges reported that central does not know, counted by ingest",
    ),
    (
        "sessions",
        "page sessions, touched by every request; sign-ins that fail are entries of their own",
    ),
    (
        "sign_in_failures",
        "the sign-in throttle's counters; lockouts are entries of their own",
    ),
    (
        "floor_run_figures",
        "OEE figures of ended shift runs, a cache worked out again from the floor's projections",
    ),
    (
        "floor_run_guard",
        "up to when that cache is kept per edge, and how many late batches reached it",
    ),
    (
        "api_token_uses",
        "when and from where a personal token was last used: a use is not a change",
    ),
    (
        "kiosk_link_uses",
        "when and from where a kiosk link was last opened: a use is not a change",
    ),
    (
        "kiosk_sessions",
        "the TVs' sessions, one per opening of a kiosk link; the link's mint and revocation are audited",
    ),
];

const COLUMNS: &str = "seq, at, actor_kind, actor, address, operation, \"action\", entity, \
                       entity_id, \"before\", \"after\", prev_hash, hash";

/// `audit_hash(prev_hash, seq, at, actor_kind, actor, address, operation, action, entity,
/// entity_id, before, after)`: [`entry_hash`] as an SQL function, for the triggers.
pub(super) fn register_functions(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    conn.create_scalar_function(
        "audit_hash",
        12,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let mut text: Vec<Option<String>> = Vec::with_capacity(12);
            for i in 0..12 {
                text.push(value_text(ctx.get_raw(i)));
            }
            let seq = match ctx.get_raw(1) {
                ValueRef::Integer(seq) => seq,
                other => {
                    return Err(rusqlite::Error::UserFunctionError(
                        format!(
                            "audit_hash: seq is {:?}, expected an integer",
                            other.data_type()
                        )
                        .into(),
                    ));
                }
            };
            Ok(entry_hash(&HashInput {
                prev_hash: text[0].as_deref(),
                seq,
                at: text[2].as_deref(),
                actor_kind: text[3].as_deref(),
                actor: text[4].as_deref(),
                address: text[5].as_deref(),
                operation: text[6].as_deref(),
                action: text[7].as_deref(),
                entity: text[8].as_deref(),
                entity_id: text[9].as_deref(),
                before: text[10].as_deref(),
                after: text[11].as_deref(),
            }))
        },
    )?;
    Ok(())
}

/// A value as the text it is stored as (NULL: `None`; BLOB: hex, which no hash of text
/// matches, so a BLOB slipped into the trail breaks the chain).
fn value_text(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(r) => Some(r.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(hex::encode(b)),
    }
}

/// [`value_text`] of a value read through [`db::Row`].
fn db_value_text(value: db::ValueRef<'_>) -> Option<String> {
    match value {
        db::ValueRef::Null => None,
        db::ValueRef::Integer(i) => Some(i.to_string()),
        db::ValueRef::Real(r) => Some(r.to_string()),
        db::ValueRef::Text(t) => Some(t.to_owned()),
        db::ValueRef::Blob(b) => Some(hex::encode(b)),
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One column's value of row `row` (`NEW` or `OLD`) as the trail writes it.
fn value_sql(row: &str, column: &str) -> String {
    let c = format!("{row}.{}", ident(column));
    if is_secret_column(column) {
        format!(
            "CASE WHEN {c} IS NULL THEN NULL ELSE {} END",
            literal(REDACTED)
        )
    } else {
        format!("CASE typeof({c}) WHEN 'blob' THEN hex({c}) ELSE {c} END")
    }
}

struct Table {
    name: String,
    columns: Vec<String>,
    /// Primary-key columns in key order; empty: a rowid table without one.
    key: Vec<String>,
}

impl Table {
    fn row_json(&self, row: &str) -> String {
        let pairs: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{}, {}", literal(c), value_sql(row, c)))
            .collect();
        format!("json_object({})", pairs.join(", "))
    }

    fn entity_id(&self, row: &str) -> String {
        if self.key.is_empty() {
            return format!("CAST({row}.rowid AS TEXT)");
        }
        let parts: Vec<String> = self
            .key
            .iter()
            .map(|c| format!("coalesce(CAST(({}) AS TEXT), '')", value_sql(row, c)))
            .collect();
        parts.join(" || '/' || ")
    }

    /// The three triggers of this table.
    fn triggers(&self) -> String {
        let table = ident(&self.name);
        let entity = literal(&self.name);
        let mut sql = String::new();
        for (event, action, id_row, before, after) in [
            ("INSERT", "insert", "NEW", None, Some("NEW")),
            ("UPDATE", "update", "NEW", Some("OLD"), Some("NEW")),
            ("DELETE", "delete", "OLD", Some("OLD"), None),
        ] {
            let name = ident(&format!("audit_{action}_{}", self.name));
            let mut when = "EXISTS (SELECT 1 FROM audit_ctx)".to_owned();
            if event == "UPDATE" {
                // An update that changes nothing (an upsert of the same values) is no change.
                let changed: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| format!("OLD.{0} IS NOT NEW.{0}", ident(c)))
                    .collect();
                when = format!("{when} AND ({})", changed.join(" OR "));
            }
            let before = before.map_or("NULL".to_owned(), |r| self.row_json(r));
            let after = after.map_or("NULL".to_owned(), |r| self.row_json(r));
            sql.push_str(&format!(
                "CREATE TEMP TRIGGER {name} AFTER {event} ON main.{table}
WHEN {when}
BEGIN
INSERT INTO audit_log ({COLUMNS})
SELECT n.seq, c.at, c.actor_kind, c.actor, c.address, c.operation, '{action}', {entity},
       n.entity_id, n.b, n.a, n.prev,
       audit_hash(n.prev, n.seq, c.at, c.actor_kind, c.actor, c.address, c.operation,
                  '{action}', {entity}, n.entity_id, n.b, n.a)
FROM audit_ctx c,
     (SELECT (SELECT coalesce(max(seq), 0) + 1 FROM audit_log) AS seq,
             (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS prev,
             {id} AS entity_id, {before} AS b, {after} AS a) n;
END;
",
                id = self.entity_id(id_row),
            ));
        }
        sql
    }
}

fn audited_tables(conn: &rusqlite::Connection) -> Result<Vec<Table>, StoreError> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM main.sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND sql NOT LIKE 'CREATE VIRTUAL%'
             ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut tables = Vec::new();
    for name in names {
        if NOT_AUDITED.iter().any(|(t, _)| *t == name) {
            continue;
        }
        let mut columns: Vec<(String, i64)> = conn
            .prepare(&format!("PRAGMA main.table_info({})", ident(&name)))?
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)?)))?
            .collect::<Result<_, _>>()?;
        let names_only = columns.iter().map(|(c, _)| c.clone()).collect();
        columns.retain(|(_, pk)| *pk > 0);
        columns.sort_by_key(|(_, pk)| *pk);
        tables.push(Table {
            name,
            columns: names_only,
            key: columns.into_iter().map(|(c, _)| c).collect(),
        });
    }
    Ok(tables)
}

/// Makes (again) the audit context and the TEMP triggers of every audited table on the
/// writer connection. Called at open after every schema ran; call it again after creating a
/// table later on the same connection.
pub(crate) fn install(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    register_functions(conn)?;
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS audit_ctx (
             at         TEXT NOT NULL,
             actor_kind TEXT NOT NULL,
             actor      TEXT NOT NULL,
             address    TEXT,
             operation  TEXT NOT NULL
         );",
    )?;
    let old: Vec<String> = conn
        .prepare(
            "SELECT name FROM temp.sqlite_master
             WHERE type = 'trigger' AND name LIKE 'audit\\_%' ESCAPE '\\'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut sql = String::new();
    for name in old {
        sql.push_str(&format!("DROP TRIGGER temp.{};\n", ident(&name)));
    }
    for table in audited_tables(conn)? {
        sql.push_str(&table.triggers());
    }
    conn.execute_batch(&sql)?;
    Ok(())
}

/// Runs `f` with `actor` in the audit context: every row `f` changes is audited as theirs,
/// in `f`'s transactions. The context is cleared after, whether `f` succeeded, failed or
/// panicked.
pub(super) fn as_actor<T>(
    conn: &mut Connection,
    actor: &Actor,
    f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let at = ts(Utc::now());
    let (set, clear) = match conn.dialect() {
        Dialect::Sqlite => (
            "INSERT INTO audit_ctx (at, actor_kind, actor, address, operation)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            "DELETE FROM audit_ctx",
        ),
        // The session's settings, which the triggers read (`install_pg`); set for the
        // session, not one transaction, as `f` may run several.
        Dialect::Postgres => (
            "SELECT set_config('mes.audit_at', ?1, false), set_config('mes.audit_kind', ?2, false),
                    set_config('mes.audit_actor', ?3, false),
                    set_config('mes.audit_address', COALESCE(?4, ''), false),
                    set_config('mes.audit_operation', ?5, false)",
            "SELECT set_config('mes.audit_actor', '', false)",
        ),
    };
    if conn.dialect() == Dialect::Sqlite {
        conn.prepare_cached(clear)?.execute([])?;
    }
    let values = params![
        at,
        actor.kind.as_str(),
        actor.id,
        actor.address,
        actor.operation
    ];
    match conn.dialect() {
        Dialect::Sqlite => {
            conn.prepare_cached(set)?.execute(values)?;
        }
        Dialect::Postgres => {
            conn.prepare_cached(set)?.query_row(values, |_| Ok(()))?;
        }
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
    let cleared = match conn.dialect() {
        Dialect::Sqlite => conn
            .prepare_cached(clear)
            .and_then(|mut s| s.execute([]))
            .map(drop),
        Dialect::Postgres => conn
            .prepare_cached(clear)
            .and_then(|mut s| s.query_row([], |_| Ok(()))),
    };
    if let Err(e) = &cleared {
        // The next write clears it before it sets its own (SQLite); a PostgreSQL connection
        // that kept another's context is closed, never reused.
        tracing::error!(error = %e, "cannot clear the audit context");
        conn.discard();
    }
    match result {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// `mes_audit_hash(...)`: [`entry_hash`] in SQL, for PostgreSQL's triggers: SHA-256 of the
/// domain, then each field as `0x00` for NULL or `0x01`, its UTF-8 length (8 bytes, big
/// endian) and its bytes.
const PG_FUNCTIONS: &str = "
CREATE OR REPLACE FUNCTION mes_audit_field(f TEXT) RETURNS BYTEA LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN f IS NULL THEN '\\x00'::bytea
           ELSE '\\x01'::bytea || int8send(octet_length(convert_to(f, 'UTF8'))::bigint)
                || convert_to(f, 'UTF8') END
$$;
CREATE OR REPLACE FUNCTION mes_audit_hash(prev TEXT, seq BIGINT, at TEXT, kind TEXT,
    actor TEXT, address TEXT, operation TEXT, action TEXT, entity TEXT, entity_id TEXT,
    b TEXT, a TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to('mes-audit-v1', 'UTF8') || mes_audit_field(prev)
        || mes_audit_field(seq::text) || mes_audit_field(at) || mes_audit_field(kind)
        || mes_audit_field(actor) || mes_audit_field(address) || mes_audit_field(operation)
        || mes_audit_field(action) || mes_audit_field(entity) || mes_audit_field(entity_id)
        || mes_audit_field(b) || mes_audit_field(a)), 'hex')
$$;
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
";

/// One column's value of `row` (`NEW` or `OLD`) as PostgreSQL's trail writes it.
fn pg_value_sql(row: &str, column: &str) -> String {
    let c = format!("{row}.{}", ident(column));
    if is_secret_column(column) {
        format!(
            "CASE WHEN {c} IS NULL THEN NULL ELSE {} END",
            literal(REDACTED)
        )
    } else {
        c
    }
}

/// The audited tables of PostgreSQL's schema, with their columns and primary key.
fn pg_audited_tables(conn: &Connection) -> Result<Vec<Table>, StoreError> {
    let mut tables = Vec::new();
    for name in db::table_names(conn)? {
        if name == "mes_schema" || NOT_AUDITED.iter().any(|(t, _)| *t == name) {
            continue;
        }
        let columns: Vec<(String, String)> = conn
            .prepare(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = ?1
                 ORDER BY ordinal_position",
            )?
            .query_map(params![name], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let key: Vec<String> = conn
            .prepare(
                "SELECT a.attname::text FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                 WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident(?1))::regclass
                   AND i.indisprimary
                 ORDER BY array_position(i.indkey::int2[], a.attnum)",
            )?
            .query_map(params![name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        tables.push(Table {
            name,
            columns: columns.into_iter().map(|(c, _)| c).collect(),
            key,
        });
    }
    Ok(tables)
}

impl Table {
    fn pg_row_json(&self, row: &str) -> String {
        // `json_build_object` takes at most 100 arguments: 50 columns a call, merged.
        let parts: Vec<String> = self
            .columns
            .chunks(50)
            .map(|chunk| {
                let pairs: Vec<String> = chunk
                    .iter()
                    .map(|c| format!("{}, {}", literal(c), pg_value_sql(row, c)))
                    .collect();
                format!("jsonb_build_object({})", pairs.join(", "))
            })
            .collect();
        format!("({})::text", parts.join(" || "))
    }

    fn pg_entity_id(&self, row: &str) -> String {
        if self.key.is_empty() {
            return "NULL".to_owned();
        }
        let parts: Vec<String> = self
            .key
            .iter()
            .map(|c| format!("coalesce(({})::text, '')", pg_value_sql(row, c)))
            .collect();
        parts.join(" || '/' || ")
    }

    /// The table's trigger function and trigger: PostgreSQL's [`Table::triggers`].
    fn pg_trigger(&self) -> String {
        let table = ident(&self.name);
        let function = ident(&format!("audit_row_{}", self.name));
        let trigger = ident(&format!("audit_{}", self.name));
        format!(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    b TEXT; a TEXT; id TEXT; s BIGINT; prev TEXT; act TEXT := lower(TG_OP);
    at TEXT := current_setting('mes.audit_at', true);
    kind TEXT := current_setting('mes.audit_kind', true);
    actor TEXT := current_setting('mes.audit_actor', true);
    address TEXT := NULLIF(current_setting('mes.audit_address', true), '');
    operation TEXT := current_setting('mes.audit_operation', true);
BEGIN
    IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN RETURN NULL; END IF;
    IF TG_OP <> 'INSERT' THEN b := {before}; END IF;
    IF TG_OP <> 'DELETE' THEN a := {after}; id := {new_id}; ELSE id := {old_id}; END IF;
    -- The chain's next entry, one writer at a time across instances.
    PERFORM pg_advisory_xact_lock({lock});
    SELECT coalesce(max(l.seq), 0) + 1 INTO s FROM audit_log l;
    SELECT l.hash INTO prev FROM audit_log l ORDER BY l.seq DESC LIMIT 1;
    INSERT INTO audit_log ({COLUMNS})
    VALUES (s, at, kind, actor, address, operation, act, {entity}, id, b, a, prev,
            mes_audit_hash(prev, s, at, kind, actor, address, operation, act, {entity}, id, b, a));
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS {trigger} ON {table};
CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW
    WHEN (current_setting('mes.audit_actor', true) <> '')
    EXECUTE FUNCTION {function}();
",
            before = self.pg_row_json("OLD"),
            after = self.pg_row_json("NEW"),
            new_id = self.pg_entity_id("NEW"),
            old_id = self.pg_entity_id("OLD"),
            lock = db::WRITE_LOCK,
            entity = literal(&self.name),
        )
    }
}

/// Makes (again) PostgreSQL's audit functions and the trigger of every audited table. Run at
/// every start, inside the schema's transaction.
pub(super) fn install_pg(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(PG_FUNCTIONS)?;
    let mut sql = String::new();
    for table in pg_audited_tables(conn)? {
        sql.push_str(&table.pg_trigger());
    }
    conn.execute_batch(&sql)?;
    Ok(())
}

fn stored_entry(r: &db::Row<'_>) -> db::Result<StoredEntry> {
    let text = |i: usize| r.with_ref(i, db_value_text);
    Ok(StoredEntry {
        seq: r.with_ref(0, |v| match v {
            db::ValueRef::Integer(seq) => seq,
            _ => -1,
        })?,
        at: text(1)?,
        actor_kind: text(2)?,
        actor: text(3)?,
        address: text(4)?,
        operation: text(5)?,
        action: text(6)?,
        entity: text(7)?,
        entity_id: text(8)?,
        before: text(9)?,
        after: text(10)?,
        prev_hash: text(11)?,
        hash: text(12)?,
    })
}

fn json_or_text(text: Option<String>) -> Option<serde_json::Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)))
}

fn entry_of(stored: StoredEntry) -> Result<AuditEntry, StoreError> {
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("audit entry {}: {what} is missing", stored.seq));
    let kind_text = stored
        .actor_kind
        .clone()
        .ok_or_else(|| corrupt("actor_kind"))?;
    Ok(AuditEntry {
        seq: to_u64(stored.seq),
        at: parse_ts(stored.at.as_deref().ok_or_else(|| corrupt("at"))?)?,
        actor_kind: ActorKind::parse(&kind_text).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "audit entry {}: unknown actor kind {kind_text:?}",
                stored.seq
            ))
        })?,
        actor: stored.actor.clone().ok_or_else(|| corrupt("actor"))?,
        address: stored.address.clone(),
        operation: stored
            .operation
            .clone()
            .ok_or_else(|| corrupt("operation"))?,
        action: stored.action.clone().ok_or_else(|| corrupt("action"))?,
        entity: stored.entity.clone().ok_or_else(|| corrupt("entity"))?,
        entity_id: stored.entity_id.clone(),
        hash: stored.hash.clone().ok_or_else(|| corrupt("hash"))?,
        prev_hash: stored.prev_hash,
        before: json_or_text(stored.before),
        after: json_or_text(stored.after),
    })
}

/// Verifies the chain of the database file at `path`, opened read-only (the file is not
/// changed; central may be running). A file without `audit_log` has an empty chain.
pub fn verify_file(path: &Path) -> Result<AuditVerdict, StoreError> {
    if !path.exists() {
        return Err(StoreError::NotFound(format!(
            "no database {}; expected central's data directory",
            path.display()
        )));
    }
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    verify_conn(&Connection::sqlite(conn))
}

/// Verifies the chain of the PostgreSQL database at `url` (blocking).
pub fn verify_url(url: &str) -> Result<AuditVerdict, StoreError> {
    let pool = super::pg::Pool::new(url, 1)?;
    let conn = pool.get()?;
    verify_conn(&conn)
}

/// Entries read at a time while verifying, so a long trail is never held in memory whole.
const VERIFY_PAGE: i64 = 10_000;

fn verify_conn(conn: &Connection) -> Result<AuditVerdict, StoreError> {
    let exists_sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'"
        }
        Dialect::Postgres => {
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'audit_log'"
        }
    };
    let exists: Option<i64> = conn.query_row(exists_sql, [], |r| r.get(0)).optional()?;
    let mut verifier = ChainVerifier::new();
    if exists.is_some() {
        let mut after = i64::MIN;
        'pages: loop {
            let page: Vec<StoredEntry> = conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                ))?
                .query_map(params![after, VERIFY_PAGE], stored_entry)?
                .collect::<Result<_, _>>()?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for entry in &page {
                if !verifier.push(entry) {
                    break 'pages;
                }
            }
        }
    }
    Ok(verifier.finish())
}

/// Appends `entry` inside `tx` as the chain's next.
fn append_in(tx: &Transaction<'_>, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
    let (seq, prev): (i64, Option<String>) = tx.query_row(
        "SELECT (SELECT coalesce(max(seq), 0) + 1 FROM audit_log),
                (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut stored = StoredEntry {
        seq,
        at: Some(ts(Utc::now())),
        actor_kind: Some(entry.actor.kind.as_str().to_owned()),
        actor: Some(entry.actor.id),
        address: entry.actor.address,
        operation: Some(entry.actor.operation),
        action: Some(entry.action),
        entity: Some(entry.entity),
        entity_id: entry.entity_id,
        before: entry.before.map(|v| v.to_string()),
        after: entry.after.map(|v| v.to_string()),
        prev_hash: prev,
        hash: None,
    };
    stored.hash = Some(entry_hash(&stored.hash_input()));
    tx.execute(
        &format!("INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        params![
            stored.seq,
            stored.at,
            stored.actor_kind,
            stored.actor,
            stored.address,
            stored.operation,
            stored.action,
            stored.entity,
            stored.entity_id,
            stored.before,
            stored.after,
            stored.prev_hash,
            stored.hash,
        ],
    )?;
    entry_of(stored)
}

fn query_in(conn: &Connection, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut filter = |sql: &mut String, clause: &str, value: Box<dyn ToSql>| {
        args.push(value);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    for (column, value) in [
        ("actor =", &query.actor),
        ("entity =", &query.entity),
        ("entity_id =", &query.entity_id),
        ("\"action\" =", &query.action),
        ("operation =", &query.operation),
    ] {
        if let Some(value) = value {
            filter(&mut sql, column, Box::new(value.clone()));
        }
    }
    if let Some(kind) = query.actor_kind {
        filter(&mut sql, "actor_kind =", Box::new(kind.as_str()));
    }
    if let Some(from) = query.from {
        filter(&mut sql, "at >=", Box::new(ts(from)));
    }
    if let Some(to) = query.to {
        filter(&mut sql, "at <", Box::new(ts(to)));
    }
    let (cursor, order) = match query.order {
        AuditOrder::Asc => ("seq >", "ASC"),
        AuditOrder::Desc => ("seq <", "DESC"),
    };
    if let Some(after) = query.after {
        filter(&mut sql, cursor, Box::new(to_i64(after)?));
    }
    let limit = query.limit.min(MAX_AUDIT_PAGE);
    sql.push_str(&format!(" ORDER BY seq {order} LIMIT {limit}"));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        db::params_from_iter(args.iter().map(|a| a.as_ref())),
        stored_entry,
    )?;
    let mut entries = Vec::new();
    for row in rows {
        entries.push(entry_of(row?)?);
    }
    Ok(entries)
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        // Its own entry, whoever the task's actor is: no row trigger fires here.
        self.write_audited(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let appended = append_in(&tx, entry)?;
            tx.commit()?;
            Ok(appended)
        })
        .await
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |conn| query_in(conn, &query)).await
    }

    async fn verify_audit(&self) -> Result<AuditVerdict, StoreError> {
        match self.sqlite_path() {
            // Its own read-only connection: a long trail does not hold up the reader's queries.
            Some(path) => {
                let path = path.to_owned();
                tokio::task::spawn_blocking(move || verify_file(&path))
                    .await
                    .map_err(|e| StoreError::Task(e.to_string()))?
            }
            None => self.read(|conn| verify_conn(conn)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::audit::verify_chain;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(
            "CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT NOT NULL, pin_hash TEXT, raw BLOB);
             CREATE TABLE pairs (a TEXT NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
             CREATE TABLE loose (v TEXT);
             CREATE TABLE events (x TEXT);",
        )
        .unwrap();
        install(conn.as_sqlite().unwrap()).unwrap();
        conn
    }

    fn actor() -> Actor {
        Actor::new(ActorKind::User, "alice", "PUT /api/v1/things/{id}")
            .with_address(Some("10.0.0.1:5000".into()))
    }

    fn all(conn: &Connection) -> Vec<AuditEntry> {
        query_in(
            conn,
            &AuditQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn stored(conn: &Connection) -> Vec<StoredEntry> {
        conn.prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
            .unwrap()
            .query_map([], stored_entry)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn writes_as_an_actor_are_audited_and_chained() {
        let mut conn = conn();
        as_actor(&mut conn, &actor(), |c| {
            c.execute_batch(
                "INSERT INTO things VALUES ('t1', 'one', 'secret-hash', x'00ff');
                 UPDATE things SET name = 'uno' WHERE id = 't1';
                 UPDATE things SET name = 'uno' WHERE id = 't1';
                 INSERT INTO pairs VALUES ('a/b', 7, NULL);
                 INSERT INTO loose VALUES ('x');
                 INSERT INTO events VALUES ('not audited');
                 DELETE FROM things;",
            )?;
            Ok(())
        })
        .unwrap();
        // Without an actor: nothing.
        conn.execute("INSERT INTO things VALUES ('t2', 'two', NULL, NULL)", [])
            .unwrap();
        let entries = all(&conn);
        let summary: Vec<(u64, &str, &str, Option<&str>)> = entries
            .iter()
            .map(|e| {
                (
                    e.seq,
                    e.action.as_str(),
                    e.entity.as_str(),
                    e.entity_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, "insert", "things", Some("t1")),
                (2, "update", "things", Some("t1")),
                (3, "insert", "pairs", Some("a/b/7")),
                (4, "insert", "loose", Some("1")),
                (5, "delete", "things", Some("t1")),
            ]
        );
        assert_eq!(
            entries[0].after,
            Some(
                serde_json::json!({"id": "t1", "name": "one", "pin_hash": "[redacted]", "raw": "00FF"})
            )
        );
        assert_eq!(entries[0].before, None);
        assert_eq!(entries[1].before.as_ref().unwrap()["name"], "one");
        assert_eq!(entries[1].after.as_ref().unwrap()["name"], "uno");
        assert_eq!(
            entries[2].after,
            Some(serde_json::json!({"a": "a/b", "b": 7, "v": null}))
        );
        assert_eq!(entries[4].after, None);
        for e in &entries {
            assert_eq!(e.actor_kind, ActorKind::User);
            assert_eq!(e.actor, "alice");
            assert_eq!(e.address.as_deref(), Some("10.0.0.1:5000"));
            assert_eq!(e.operation, "PUT /api/v1/things/{id}");
        }
        assert_eq!(entries[0].prev_hash, None);
        assert_eq!(
            entries[1].prev_hash.as_deref(),
            Some(entries[0].hash.as_str())
        );
        let verdict = verify_chain(&stored(&conn));
        assert_eq!((verdict.entries, verdict.broken), (5, None));
        assert_eq!(verify_conn(&conn).unwrap().entries, 5);
    }

    #[test]
    fn a_failed_write_leaves_no_entry_and_the_context_is_cleared() {
        let mut conn = conn();
        let failed: Result<(), StoreError> = as_actor(&mut conn, &actor(), |c| {
            let tx = c.transaction()?;
            tx.execute("INSERT INTO things VALUES ('t1', 'one', NULL, NULL)", [])?;
            tx.execute("INSERT INTO things VALUES ('t1', 'again', NULL, NULL)", [])?;
            tx.commit()?;
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!(all(&conn), vec![]);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM audit_ctx", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = as_actor(&mut conn, &actor(), |_| -> Result<(), StoreError> {
                panic!("boom")
            });
        }));
        assert!(panicked.is_err());
        let n: i64 = conn
            .query_row("SELECT count(*) FROM audit_ctx", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn appended_entries_chain_with_the_triggers_and_the_log_is_append_only() {
        let mut conn = conn();
        as_actor(&mut conn, &actor(), |c| {
            c.execute("INSERT INTO things VALUES ('t1', 'one', NULL, NULL)", [])?;
            Ok(())
        })
        .unwrap();
        let tx = conn.transaction().unwrap();
        let appended = append_in(
            &tx,
            NewAuditEntry {
                actor: Actor::new(ActorKind::User, "mallory", "POST /api/v1/sign-in"),
                action: "sign_in_failed".into(),
                entity: "session".into(),
                entity_id: None,
                before: None,
                after: Some(serde_json::json!({"reason": "bad credentials"})),
            },
        )
        .unwrap();
        tx.commit().unwrap();
        assert_eq!(appended.seq, 2);
        assert_eq!(verify_conn(&conn).unwrap().broken, None);
        for sql in [
            "UPDATE audit_log SET actor = 'bob'",
            "DELETE FROM audit_log WHERE seq = 1",
        ] {
            let e = conn.execute(sql, []).unwrap_err();
            assert!(e.to_string().contains("append-only"), "{e}");
        }
    }

    /// Every table of central's schema is audited, or on the deny-list with its reason: a
    /// table added later is audited unless someone decides, here, that it should not be.
    #[test]
    fn every_table_of_the_real_schema_is_audited_or_deny_listed_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open(dir.path()).unwrap();
        let super::super::Backend::Sqlite { writer, .. } = &store.backend else {
            unreachable!("opened on SQLite")
        };
        let writers = writer.lock().unwrap();
        let conn = &writers.audited;
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM main.sqlite_master
                 WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(tables.len() > 30, "{tables:?}");
        let mut audited = 0;
        for table in &tables {
            let triggers: i64 = conn
                .query_row(
                    "SELECT count(*) FROM temp.sqlite_master WHERE type = 'trigger' AND tbl_name = ?1",
                    params![table],
                    |r| r.get(0),
                )
                .unwrap();
            let denied = NOT_AUDITED.iter().any(|(t, _)| t == table);
            assert_eq!(triggers, if denied { 0 } else { 3 }, "{table}");
            audited += usize::from(!denied);
        }
        for (table, why) in NOT_AUDITED {
            assert!(why.len() > 10, "{table} needs a reason");
        }
        for table in [
            "edges",
            "plans",
            "wo_orders",
            "lot_holds",
            "inv_ledger",
            "erp_items",
            "operators",
            "plants",
            "audit_log",
        ] {
            assert!(
                tables.contains(&table.to_owned()),
                "{table} is not in the schema"
            );
        }
        assert!(audited >= 30, "{audited}");
    }

    #[test]
    fn query_filters_and_pages() {
        let mut conn = conn();
        for i in 0..5 {
            as_actor(&mut conn, &actor(), |c| {
                c.execute(
                    "INSERT INTO things VALUES (?1, 'x', NULL, NULL)",
                    params![format!("t{i}")],
                )?;
                Ok(())
            })
            .unwrap();
        }
        let q = |query: AuditQuery| -> Vec<u64> {
            query_in(&conn, &query)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        let base = AuditQuery {
            limit: 2,
            ..Default::default()
        };
        assert_eq!(q(base.clone()), vec![1, 2]);
        assert_eq!(
            q(AuditQuery {
                after: Some(2),
                ..base.clone()
            }),
            vec![3, 4]
        );
        assert_eq!(
            q(AuditQuery {
                order: AuditOrder::Desc,
                ..base.clone()
            }),
            vec![5, 4]
        );
        assert_eq!(
            q(AuditQuery {
                order: AuditOrder::Desc,
                after: Some(4),
                ..base.clone()
            }),
            vec![3, 2]
        );
        assert_eq!(
            q(AuditQuery {
                entity_id: Some("t3".into()),
                ..base.clone()
            }),
            vec![4]
        );
        assert_eq!(
            q(AuditQuery {
                actor: Some("bob".into()),
                ..base.clone()
            }),
            Vec::<u64>::new()
        );
    }
}
