//! What an approved travel or leave request does, so nobody types it in again: the person's
//! days are blocked in the roster (`roster_blocks`), and a trip becomes a booking task for the
//! administration office (`office_tasks`, told to everyone holding the `office` role).
//! Both are written by [`super::gate::carry_out`] in the approval's transaction.

use super::{
    Connection, DateTime, Directory, OaRequest, OptionalExtension, SqlDirectory, StoreError, Utc,
    Value, params, ts,
};
use crate::store::oa::{AwayReason, OfficeTask, RosterBlock, RosterQuery};
use crate::store::sql::notify::{Notice, notify};
use crate::store::sql::parse_ts;
use chrono::NaiveDate;
use std::collections::BTreeMap;

pub(in crate::store::sql) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS roster_blocks (
    id         INTEGER PRIMARY KEY,
    login      TEXT NOT NULL,
    from_day   TEXT NOT NULL,
    to_day     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    note       TEXT NOT NULL,
    request    INTEGER NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS roster_blocks_days ON roster_blocks (to_day, from_day);
CREATE INDEX IF NOT EXISTS roster_blocks_login ON roster_blocks (login, to_day);
CREATE TABLE IF NOT EXISTS office_tasks (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    request    INTEGER NOT NULL UNIQUE,
    person     TEXT NOT NULL,
    details    TEXT NOT NULL,
    done_by    TEXT,
    done_at    TEXT,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS office_tasks_open ON office_tasks (done_at, id);
";

/// The role whose holders book trips.
pub(in crate::store::sql) const OFFICE_ROLE: &str = "office";

/// The form's `dates` range (checked by the form: `from` ≤ `to`), if it reads.
fn date_range(values: &BTreeMap<String, Value>) -> Option<(NaiveDate, NaiveDate)> {
    let range = values.get("dates").and_then(Value::as_object);
    let day = |k: &str| {
        range
            .and_then(|o| o.get(k))
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<NaiveDate>().ok())
    };
    match (day("from"), day("to")) {
        (Some(from), Some(to)) if from <= to => Some((from, to)),
        _ => None,
    }
}

fn text(r: &OaRequest, field: &str) -> String {
    r.request
        .values
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn block(
    conn: &Connection,
    r: &OaRequest,
    reason: AwayReason,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Result<(NaiveDate, NaiveDate), String>, StoreError> {
    let Some((from, to)) = date_range(&r.request.values) else {
        return Ok(Err("the request has no dates (from, to) to block".into()));
    };
    conn.prepare_cached(
        "INSERT INTO roster_blocks (login, from_day, to_day, reason, note, request, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (request) DO NOTHING",
    )?
    .execute(params![
        r.request.requester,
        from.to_string(),
        to.to_string(),
        reason.as_str(),
        note,
        r.id,
        ts(now)
    ])?;
    Ok(Ok((from, to)))
}

/// An approved leave: the days blocked.
pub(in crate::store::sql) fn leave_approved(
    conn: &Connection,
    r: &OaRequest,
    now: DateTime<Utc>,
) -> Result<Result<String, String>, StoreError> {
    Ok(block(conn, r, AwayReason::Leave, &text(r, "type"), now)?
        .map(|(from, to)| format!("{from} to {to} blocked in the roster")))
}

/// An approved trip: the days blocked and a booking task for the office, told to its people.
pub(in crate::store::sql) fn travel_approved(
    conn: &Connection,
    r: &OaRequest,
    now: DateTime<Utc>,
) -> Result<Result<String, String>, StoreError> {
    let destination = text(r, "destination");
    let (from, to) = match block(conn, r, AwayReason::Travel, &destination, now)? {
        Ok(d) => d,
        Err(why) => return Ok(Err(why)),
    };
    let details = serde_json::json!({
        "destination": destination,
        "from": from.to_string(),
        "to": to.to_string(),
        "budget": r.request.values.get("budget"),
        "reason": text(r, "reason"),
    });
    let task: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO office_tasks (kind, request, person, details, note, created_at)
             VALUES ('travel_booking', ?1, ?2, ?3, '', ?4)
             ON CONFLICT (request) DO NOTHING RETURNING id",
        )?
        .query_row(
            params![
                r.id,
                r.request.requester,
                serde_json::to_string(&details)?,
                ts(now)
            ],
            |row| row.get(0),
        )
        .optional()?;
    let dir = SqlDirectory::read(conn)?;
    let office = dir.holders(OFFICE_ROLE, None);
    let who = dir
        .person(&r.request.requester)
        .map(|p| p.display_name)
        .unwrap_or_else(|| r.request.requester.clone());
    if task.is_some() {
        notify(
            conn,
            &Notice {
                kind: "oa.office_task",
                to: office.clone(),
                subject: r.number.clone(),
                link: "/oa#tasks".into(),
                en: format!(
                    "Book the trip of {who} to {destination}, {from} to {to} ({})",
                    r.number
                ),
                zh: format!(
                    "请为{who}预订{destination}的行程，{from}至{to}（{}）",
                    r.number
                ),
            },
            now,
        )?;
    }
    let booking = if office.is_empty() {
        "a booking task for the office, which nobody holds yet".to_owned()
    } else {
        "a booking task for the office".to_owned()
    };
    Ok(Ok(format!(
        "{from} to {to} blocked in the roster; {booking}"
    )))
}

/// Why `requester` cannot ask for these days: a trip or leave whose `dates` overlap days
/// the roster already blocks for them (so the same absence is not entered twice); `None` for
/// other forms and free days.
pub(in crate::store::sql) fn already_away(
    conn: &Connection,
    form: &str,
    requester: &str,
    values: &BTreeMap<String, Value>,
) -> Result<Option<String>, StoreError> {
    if form != "travel" && form != "leave" {
        return Ok(None);
    }
    let Some((from, to)) = date_range(values) else {
        return Ok(None);
    };
    let blocks = roster(
        conn,
        &RosterQuery {
            login: Some(requester.to_owned()),
            from,
            to,
        },
    )?;
    Ok(blocks.first().map(|b| {
        format!(
            "dates: {requester} is away from {} to {} already ({} {}, {}); choose other days",
            b.from,
            b.to,
            b.reason.as_str(),
            b.note,
            b.request
        )
    }))
}

/// Roster blocks overlapping the query's days.
pub(in crate::store::sql) fn roster(
    conn: &Connection,
    query: &RosterQuery,
) -> Result<Vec<RosterBlock>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.id, b.login, COALESCE(u.display_name, b.login), b.from_day, b.to_day, b.reason,
                b.note, r.number, b.request
         FROM roster_blocks b
         LEFT JOIN users u ON u.login = b.login
         JOIN oa_requests r ON r.id = b.request
         WHERE b.to_day >= ?1 AND b.from_day <= ?2
           AND (CAST(?3 AS TEXT) IS NULL OR b.login = ?3)
         ORDER BY b.from_day, b.login, b.id",
    )?;
    let rows = stmt.query_map(
        params![
            query.from.to_string(),
            query.to.to_string(),
            query.login.as_deref()
        ],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, i64>(8)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (id, login, display_name, from, to, reason, note, request, request_id) = row?;
        out.push(RosterBlock {
            id,
            login,
            display_name,
            from: super::day(&from)?,
            to: super::day(&to)?,
            reason: AwayReason::parse(&reason)
                .ok_or_else(|| StoreError::Corrupt(format!("roster reason {reason:?}")))?,
            note,
            request,
            request_id,
        });
    }
    Ok(out)
}

const TASK_COLUMNS: &str = "t.id, t.kind, r.number, t.request, t.person,
    COALESCE(u.display_name, t.person), t.details, t.done_by, t.done_at, t.note, t.created_at
    FROM office_tasks t JOIN oa_requests r ON r.id = t.request
    LEFT JOIN users u ON u.login = t.person";

type TaskRow = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

fn task_row(r: &crate::store::sql::db::Row<'_>) -> crate::store::sql::db::Result<TaskRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

fn task_of(row: TaskRow) -> Result<OfficeTask, StoreError> {
    let (id, kind, request, request_id, person, display_name, details, done_by, done_at, note, at) =
        row;
    Ok(OfficeTask {
        id,
        kind,
        request,
        request_id,
        person,
        display_name,
        details: serde_json::from_str(&details)?,
        done: done_at.is_some(),
        done_by,
        done_at: done_at.as_deref().map(parse_ts).transpose()?,
        note,
        created_at: parse_ts(&at)?,
    })
}

pub(in crate::store::sql) fn tasks(
    conn: &Connection,
    done: bool,
    limit: usize,
) -> Result<Vec<OfficeTask>, StoreError> {
    let sql = if done {
        format!(
            "SELECT {TASK_COLUMNS} WHERE t.done_at IS NOT NULL ORDER BY t.done_at DESC, t.id DESC LIMIT ?1"
        )
    } else {
        format!("SELECT {TASK_COLUMNS} WHERE t.done_at IS NULL ORDER BY t.id LIMIT ?1")
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    for row in conn
        .prepare_cached(&sql)?
        .query_map(params![limit], task_row)?
    {
        out.push(task_of(row?)?);
    }
    Ok(out)
}

pub(in crate::store::sql) fn task(
    conn: &Connection,
    id: i64,
) -> Result<Option<OfficeTask>, StoreError> {
    conn.prepare_cached(&format!("SELECT {TASK_COLUMNS} WHERE t.id = ?1"))?
        .query_map(params![id], task_row)?
        .next()
        .transpose()?
        .map(task_of)
        .transpose()
}
