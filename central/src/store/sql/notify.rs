//! [`NotifyStore`] on both engines: `notifications` (each person's list) and `notify_outbox`
//! (mails and webhook posts to send). [`notify`] writes both inside the caller's
//! transaction.

use super::db::{Connection, OptionalExtension, TransactionBehavior, params};
use super::oa::corrupt;
use super::{SqlStore, StoreError, parse_ts, ts};
use crate::people::users::Language;
use crate::store::notify::{
    Channel, KEEP_DAYS, MAX_ATTEMPTS, MAX_NOTIFICATIONS, Notification, NotifyStore, OutboxItem,
    OutboxRow, OutboxState, Sent,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS notifications (
    id         INTEGER PRIMARY KEY,
    login      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    link       TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at    TEXT
);
CREATE INDEX IF NOT EXISTS notifications_login ON notifications (login, created_at);
CREATE TABLE IF NOT EXISTS notify_outbox (
    id         INTEGER PRIMARY KEY,
    channel    TEXT NOT NULL,
    target     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    link       TEXT NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    next_at    TEXT NOT NULL,
    done_at    TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (state, next_at);
";

/// How long a sender holds the rows it took before another may take them again (it crashed
/// while sending, say).
const LEASE: Duration = Duration::minutes(5);

/// Something to tell some people, in both languages.
pub(super) struct Notice {
    pub kind: &'static str,
    pub to: Vec<String>,
    pub subject: String,
    pub link: String,
    pub en: String,
    pub zh: String,
}

/// Writes `notice` for each of its people (their language), a mail for each who has an
/// address, and one webhook post; drops the person's notifications older than [`KEEP_DAYS`].
pub(super) fn notify(
    conn: &Connection,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if notice.to.is_empty() {
        return Ok(());
    }
    let at = ts(now);
    let cutoff = ts(now - Duration::days(KEEP_DAYS));
    for login in &notice.to {
        let person: Option<(String, String, Option<String>, bool)> = conn
            .prepare_cached(
                // `login` is compared without case on both engines (NOCASE, CITEXT).
                "SELECT login, language, email, active FROM users WHERE login = ?1",
            )?
            .query_row(params![login], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((login, language, email, active)) = person else {
            continue;
        };
        let text = match Language::parse(&language) {
            Some(Language::En) => &notice.en,
            _ => &notice.zh,
        };
        conn.prepare_cached("DELETE FROM notifications WHERE login = ?1 AND created_at < ?2")?
            .execute(params![login, cutoff])?;
        conn.prepare_cached(
            "INSERT INTO notifications (login, kind, subject, link, text, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            login,
            notice.kind,
            notice.subject,
            notice.link,
            text,
            at
        ])?;
        if let Some(email) = email.filter(|_| active) {
            enqueue(
                conn,
                Channel::Email,
                &email,
                &notice.subject,
                text,
                &notice.link,
                &at,
            )?;
        }
    }
    let body = json!({
        "event": notice.kind,
        "subject": notice.subject,
        "to": notice.to,
        "text": notice.en,
        "text_zh": notice.zh,
        "link": notice.link,
        "at": now,
    });
    enqueue(
        conn,
        Channel::Webhook,
        "",
        &notice.subject,
        &body.to_string(),
        &notice.link,
        &at,
    )
}

fn enqueue(
    conn: &Connection,
    channel: Channel,
    to: &str,
    subject: &str,
    body: &str,
    link: &str,
    at: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO notify_outbox (channel, target, subject, body, link, state, attempts, next_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'waiting', 0, ?6, ?6)",
    )?
    .execute(params![channel.as_str(), to, subject, body, link, at])?;
    Ok(())
}

type ItemRow = (i64, String, String, String, String, String, u32, String);

const ITEM_COLUMNS: &str = "id, channel, target, subject, body, link, attempts, created_at";

fn item_row(r: &super::db::Row<'_>) -> super::db::Result<ItemRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn item(
    (id, channel, to, subject, body, link, attempts, created_at): ItemRow,
) -> Result<OutboxItem, StoreError> {
    Ok(OutboxItem {
        id,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("outbox channel", &channel))?,
        to,
        subject,
        body,
        link,
        attempts,
        created_at: parse_ts(&created_at)?,
    })
}

#[async_trait]
impl NotifyStore for SqlStore {
    async fn notifications(
        &self,
        login: String,
        unread_only: bool,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let limit = limit.clamp(1, MAX_NOTIFICATIONS) as i64;
        self.read(move |conn| {
            let sql = if unread_only {
                "SELECT id, kind, subject, link, text, created_at, read_at FROM notifications
                 WHERE login = ?1 AND read_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ?2"
            } else {
                "SELECT id, kind, subject, link, text, created_at, read_at FROM notifications
                 WHERE login = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
            };
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params![login, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, kind, subject, link, text, created_at, read_at) = row?;
                out.push(Notification {
                    id,
                    kind,
                    subject,
                    link,
                    text,
                    created_at: parse_ts(&created_at)?,
                    read_at: read_at.as_deref().map(parse_ts).transpose()?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn unread_notifications(&self, login: String) -> Result<u64, StoreError> {
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM notifications WHERE login = ?1 AND read_at IS NULL",
                )?
                .query_row(params![login], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
        .await
    }

    async fn read_notifications(
        &self,
        login: String,
        ids: Option<Vec<i64>>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let at = ts(now);
            let mut n = 0;
            match ids {
                None => {
                    n += tx
                        .prepare_cached(
                            "UPDATE notifications SET read_at = ?2 WHERE login = ?1 AND read_at IS NULL",
                        )?
                        .execute(params![login, at])?;
                }
                Some(ids) => {
                    for id in ids.iter().take(MAX_NOTIFICATIONS) {
                        n += tx
                            .prepare_cached(
                                "UPDATE notifications SET read_at = ?3
                                 WHERE id = ?1 AND login = ?2 AND read_at IS NULL",
                            )?
                            .execute(params![id, login, at])?;
                    }
                }
            }
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }

    async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let limit = limit.clamp(1, 1000) as i64;
        // Looked for first without the writer lock: the sender asks every few seconds.
        let any: bool = self
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT 1 FROM notify_outbox WHERE state = 'waiting' AND next_at <= ?1 LIMIT 1",
                    )?
                    .exists(params![ts(now)])?)
            })
            .await?;
        if !any {
            return Ok(Vec::new());
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rows: Vec<ItemRow> = {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {ITEM_COLUMNS} FROM notify_outbox
                     WHERE state = 'waiting' AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2"
                ))?;
                stmt.query_map(params![ts(now), limit], item_row)?
                    .collect::<Result<_, _>>()?
            };
            // Leased: another sender (another instance) leaves them alone until the lease ends.
            let lease = ts(now + LEASE);
            for row in &rows {
                tx.prepare_cached("UPDATE notify_outbox SET next_at = ?2 WHERE id = ?1")?
                    .execute(params![row.0, lease])?;
            }
            tx.commit()?;
            rows.into_iter().map(item).collect()
        })
        .await
    }

    async fn outbox_done(
        &self,
        done: Vec<(i64, Sent)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if done.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let at = ts(now);
            for (id, how) in done {
                match how {
                    Sent::Sent => tx
                        .prepare_cached(
                            "UPDATE notify_outbox SET state = 'sent', attempts = attempts + 1,
                                 done_at = ?2, last_error = NULL WHERE id = ?1",
                        )?
                        .execute(params![id, at])?,
                    Sent::Skipped(why) => tx
                        .prepare_cached(
                            "UPDATE notify_outbox SET state = 'skipped', done_at = ?2, last_error = ?3
                             WHERE id = ?1",
                        )?
                        .execute(params![id, at, why])?,
                    Sent::Failed { error, retry_at } => {
                        let attempts: u32 = tx
                            .prepare_cached("SELECT attempts FROM notify_outbox WHERE id = ?1")?
                            .query_row(params![id], |r| r.get(0))
                            .optional()?
                            .unwrap_or(0);
                        let attempts = attempts.saturating_add(1);
                        match retry_at.filter(|_| attempts < MAX_ATTEMPTS) {
                            Some(next) => tx
                                .prepare_cached(
                                    "UPDATE notify_outbox SET attempts = ?2, next_at = ?3, last_error = ?4
                                     WHERE id = ?1",
                                )?
                                .execute(params![id, attempts, ts(next), error])?,
                            None => tx
                                .prepare_cached(
                                    "UPDATE notify_outbox SET state = 'failed', attempts = ?2, done_at = ?3,
                                         last_error = ?4 WHERE id = ?1",
                                )?
                                .execute(params![id, attempts, at, error])?,
                        }
                    }
                };
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn outbox(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let limit = limit.clamp(1, 1000) as i64;
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS}, state, done_at, last_error FROM notify_outbox
                 ORDER BY id DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map(params![limit], |r| {
                Ok((
                    item_row(r)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (it, state, done_at, last_error) = row?;
                out.push(OutboxRow {
                    item: item(it)?,
                    state: OutboxState::parse(&state)
                        .ok_or_else(|| corrupt("outbox state", &state))?,
                    done_at: done_at.as_deref().map(parse_ts).transpose()?,
                    last_error,
                });
            }
            Ok(out)
        })
        .await
    }
}
