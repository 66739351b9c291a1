//! [`PeopleStore`] on SQLite: `users` (roles and plants as JSON arrays, so one row is one
//! person and one audit entry shows a change of their roles whole), `sessions`,
//! `api_tokens` with their uses kept apart in `api_token_uses`, `sign_in_failures`, and the
//! record rules' question: which plants a record belongs to.
//!
//! Warehouses belong to a plant from schema 7 on (`erp_warehouses.plant`); existing ones are
//! migrated into the default plant, as lines were.

use super::db::{Connection, OptionalExtension, TransactionBehavior, params};
use super::{SqlStore, StoreError, parse_ts, ts};
use crate::people::plants::DEFAULT_PLANT;
use crate::people::roles::{Permission, Permissions, Role};
use crate::people::users::{BOOTSTRAP_ADMIN, Failures, Language, User};
use crate::store::people::{ApiToken, PeopleStore, Record, Session};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    login         TEXT PRIMARY KEY COLLATE NOCASE,
    display_name  TEXT NOT NULL,
    language      TEXT NOT NULL,
    time_zone     TEXT NOT NULL,
    plants        TEXT NOT NULL,
    roles         TEXT NOT NULL,
    manager       TEXT,
    badge         TEXT UNIQUE,
    active        INTEGER NOT NULL,
    password_hash TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_hash BLOB PRIMARY KEY,
    login        TEXT NOT NULL COLLATE NOCASE,
    csrf         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    address      TEXT
);
CREATE INDEX IF NOT EXISTS sessions_login ON sessions (login);
CREATE TABLE IF NOT EXISTS sign_in_failures (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    first_at     TEXT NOT NULL,
    locked_until TEXT
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id    TEXT PRIMARY KEY,
    login       TEXT NOT NULL COLLATE NOCASE,
    name        TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX IF NOT EXISTS api_tokens_login ON api_tokens (login);
CREATE TABLE IF NOT EXISTS api_token_uses (
    token_id       TEXT PRIMARY KEY,
    last_used_at   TEXT NOT NULL,
    last_used_from TEXT
);
";

/// Columns added to tables older versions made (schema 7): warehouses and edges belong to a
/// plant. Existing warehouses go to the default plant; an existing edge to the plant of the
/// lines it runs when they are all of one plant, else the default plant.
pub(super) fn add_columns(conn: &Connection) -> Result<(), StoreError> {
    if !super::stock::has_column(conn, "users", "email")? {
        conn.execute_batch(&format!(
            "ALTER TABLE users ADD COLUMN email {}",
            super::stock::text_type(conn)
        ))?;
    }
    if !super::stock::has_column(conn, "erp_warehouses", "plant")? {
        conn.execute_batch(&format!(
            "ALTER TABLE erp_warehouses ADD COLUMN plant {} NOT NULL DEFAULT '{DEFAULT_PLANT}'",
            super::stock::text_type(conn)
        ))?;
    }
    if !super::stock::has_column(conn, "edges", "plant")? {
        conn.execute_batch(&format!(
            "ALTER TABLE edges ADD COLUMN plant {} NOT NULL DEFAULT '{DEFAULT_PLANT}';
             UPDATE edges SET plant = (SELECT min(plant) FROM mes_lines l WHERE l.edge_id = edges.edge_id)
             WHERE (SELECT count(DISTINCT plant) FROM mes_lines l WHERE l.edge_id = edges.edge_id) = 1;",
            super::stock::text_type(conn)
        ))?;
    }
    Ok(())
}

const USER_COLUMNS: &str = "SELECT login, display_name, language, time_zone, plants, roles, manager, badge, active, password_hash, email FROM users";

fn corrupt(what: &str, text: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what} {text:?}: {e}"))
}

fn user_row(r: &super::db::Row<'_>) -> super::db::Result<RawUser> {
    Ok(RawUser {
        login: r.get(0)?,
        display_name: r.get(1)?,
        language: r.get(2)?,
        time_zone: r.get(3)?,
        plants: r.get(4)?,
        roles: r.get(5)?,
        manager: r.get(6)?,
        badge: r.get(7)?,
        active: r.get(8)?,
        password_hash: r.get(9)?,
        email: r.get(10)?,
    })
}

struct RawUser {
    login: String,
    display_name: String,
    language: String,
    time_zone: String,
    plants: String,
    roles: String,
    manager: Option<String>,
    badge: Option<String>,
    active: bool,
    password_hash: Option<String>,
    email: Option<String>,
}

impl RawUser {
    fn into_user(self) -> Result<(User, Option<String>), StoreError> {
        let plants: Vec<String> =
            serde_json::from_str(&self.plants).map_err(|e| corrupt("plants", &self.plants, e))?;
        let role_names: Vec<String> =
            serde_json::from_str(&self.roles).map_err(|e| corrupt("roles", &self.roles, e))?;
        let roles = role_names
            .iter()
            .map(|r| Role::parse(r).ok_or_else(|| corrupt("role", r, "unknown")))
            .collect::<Result<Vec<Role>, StoreError>>()?;
        let language = Language::parse(&self.language)
            .ok_or_else(|| corrupt("language", &self.language, "unknown"))?;
        Ok((
            User {
                login: self.login,
                display_name: self.display_name,
                language,
                time_zone: self.time_zone,
                plants,
                roles,
                manager: self.manager,
                badge: self.badge,
                email: self.email,
                active: self.active,
            },
            self.password_hash,
        ))
    }
}

fn load_user(conn: &Connection, login: &str) -> Result<Option<(User, Option<String>)>, StoreError> {
    conn.prepare_cached(&format!("{USER_COLUMNS} WHERE login = ?1"))?
        .query_row(params![login], user_row)
        .optional()?
        .map(RawUser::into_user)
        .transpose()
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("lists of strings serialize")
}

const TOKEN_COLUMNS: &str = "SELECT t.token_id, t.login, t.name, t.permissions, t.created_at, t.expires_at, t.revoked_at, u.last_used_at, u.last_used_from FROM api_tokens t LEFT JOIN api_token_uses u ON u.token_id = t.token_id";

type RawToken = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn token_row(r: &super::db::Row<'_>) -> super::db::Result<RawToken> {
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
    ))
}

fn into_token(raw: RawToken) -> Result<ApiToken, StoreError> {
    let (token_id, login, name, perms, created, expires, revoked, used_at, used_from) = raw;
    let names: Vec<String> =
        serde_json::from_str(&perms).map_err(|e| corrupt("permissions", &perms, e))?;
    let mut permissions = Permissions::NONE;
    for n in &names {
        // A permission a newer build wrote and this one does not know grants nothing.
        if let Some(p) = Permission::parse(n) {
            permissions = permissions.with(p);
        }
    }
    Ok(ApiToken {
        token_id,
        login,
        name,
        permissions,
        created_at: parse_ts(&created)?,
        expires_at: parse_ts(&expires)?,
        revoked_at: revoked.as_deref().map(parse_ts).transpose()?,
        last_used_at: used_at.as_deref().map(parse_ts).transpose()?,
        last_used_from: used_from,
    })
}

/// Every user, by login.
pub(super) fn all_users(conn: &Connection) -> Result<Vec<User>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{USER_COLUMNS} ORDER BY login"))?;
    let rows = stmt.query_map([], user_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?.into_user()?.0);
    }
    Ok(out)
}

#[async_trait]
impl PeopleStore for SqlStore {
    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.read(|conn| all_users(conn)).await
    }

    async fn user(&self, login: String) -> Result<Option<User>, StoreError> {
        self.read(move |conn| Ok(load_user(conn, &login)?.map(|(u, _)| u)))
            .await
    }

    async fn user_credentials(
        &self,
        login: String,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        self.read(move |conn| load_user(conn, &login)).await
    }

    async fn put_users(&self, users: Vec<(User, Option<String>)>) -> Result<Vec<bool>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(Utc::now());
            let mut created = Vec::with_capacity(users.len());
            for (user, password_hash) in &users {
                if let Some(badge) = &user.badge {
                    let holder: Option<String> = tx
                        .query_row(
                            "SELECT login FROM users WHERE badge = ?1 AND login <> ?2",
                            params![badge, user.login],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if let Some(holder) = holder {
                        return Err(StoreError::Conflict(format!(
                            "badge {badge:?} is {holder:?}'s; expected a badge no other user has"
                        )));
                    }
                }
                let roles: Vec<&str> = user.roles.iter().map(|r| r.name()).collect();
                let existed: bool = tx
                    .query_row("SELECT 1 FROM users WHERE login = ?1", params![&user.login], |_| {
                        Ok(true)
                    })
                    .optional()?
                    .unwrap_or(false);
                tx.execute(
                    "INSERT INTO users (login, display_name, language, time_zone, plants, roles, manager, badge, active, password_hash, created_at, updated_at, email)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)
                     ON CONFLICT (login) DO UPDATE SET display_name = excluded.display_name,
                        language = excluded.language, time_zone = excluded.time_zone,
                        plants = excluded.plants, roles = excluded.roles, manager = excluded.manager,
                        badge = excluded.badge, active = excluded.active, email = excluded.email,
                        password_hash = coalesce(excluded.password_hash, users.password_hash),
                        updated_at = excluded.updated_at",
                    params![
                        user.login,
                        user.display_name,
                        user.language.code(),
                        user.time_zone,
                        json(&user.plants),
                        json(&roles),
                        user.manager,
                        user.badge,
                        user.active,
                        password_hash,
                        now,
                        user.email
                    ],
                )?;
                if !user.active {
                    tx.execute("DELETE FROM sessions WHERE login = ?1", params![&user.login])?;
                }
                created.push(!existed);
            }
            tx.commit()?;
            Ok(created)
        })
        .await
    }

    async fn set_password(
        &self,
        login: String,
        password_hash: String,
        keep: Option<[u8; 32]>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE login = ?1",
                params![login, password_hash, ts(Utc::now())],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no user {login:?}")));
            }
            let keep = keep.map(|k| k.to_vec()).unwrap_or_default();
            tx.execute(
                "DELETE FROM sessions WHERE login = ?1 AND session_hash <> ?2",
                params![login, keep],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn ensure_bootstrap_admin(&self) -> Result<bool, StoreError> {
        self.write(|conn| {
            let now = ts(Utc::now());
            let n = conn.execute(
                "INSERT INTO users (login, display_name, language, time_zone, plants, roles, active, created_at, updated_at)
                 SELECT ?1, 'Administrator', 'en', 'UTC', '[]', '[\"administrator\"]', 1, ?2, ?2
                 WHERE NOT EXISTS (SELECT 1 FROM users)",
                params![BOOTSTRAP_ADMIN, now],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn create_session(&self, hash: [u8; 32], s: Session) -> Result<(), StoreError> {
        self.write(move |conn| {
            // Sessions past any timeout are dropped as new ones come (they can no longer be
            // used either way; this keeps the table from growing).
            conn.execute(
                "DELETE FROM sessions WHERE created_at < ?1",
                params![ts(Utc::now() - chrono::Duration::days(2))],
            )?;
            conn.execute(
                "INSERT INTO sessions (session_hash, login, csrf, created_at, last_seen, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![hash.to_vec(), s.login, s.csrf, ts(s.created_at), ts(s.last_seen), s.address],
            )?;
            Ok(())
        })
        .await
    }

    async fn session(&self, hash: [u8; 32]) -> Result<Option<(Session, User)>, StoreError> {
        self.read(move |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT login, csrf, created_at, last_seen, address FROM sessions WHERE session_hash = ?1",
                )?
                .query_row(params![hash.to_vec()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .optional()?;
            let Some((login, csrf, created, seen, address)) = row else {
                return Ok(None);
            };
            let Some((user, _)) = load_user(conn, &login)? else {
                return Ok(None);
            };
            if !user.active {
                return Ok(None);
            }
            Ok(Some((
                Session {
                    login,
                    csrf,
                    created_at: parse_ts(&created)?,
                    last_seen: parse_ts(&seen)?,
                    address,
                },
                user,
            )))
        })
        .await
    }

    async fn touch_session(&self, hash: [u8; 32], at: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE sessions SET last_seen = ?2 WHERE session_hash = ?1",
                params![hash.to_vec(), ts(at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn end_session(&self, hash: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM sessions WHERE session_hash = ?1",
                params![hash.to_vec()],
            )?;
            Ok(())
        })
        .await
    }

    async fn failures(&self, key: String) -> Result<Option<Failures>, StoreError> {
        self.read(move |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT failures, first_at, locked_until FROM sign_in_failures WHERE key = ?1",
                )?
                .query_row(params![key], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .optional()?;
            row.map(|(count, first, locked)| {
                Ok(Failures {
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    first_at: parse_ts(&first)?,
                    locked_until: locked.as_deref().map(parse_ts).transpose()?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn record_failure(&self, key: String, f: Failures) -> Result<(), StoreError> {
        self.write(move |conn| {
            // Counters older than an hour that lock nothing any more count nothing either
            // (the lockout's window and lock are minutes): dropped as new ones come, so
            // failures with made-up logins cannot grow the table without end.
            let now = Utc::now();
            conn.execute(
                "DELETE FROM sign_in_failures WHERE first_at < ?1 AND (locked_until IS NULL OR locked_until < ?2)",
                params![ts(now - chrono::Duration::hours(1)), ts(now)],
            )?;
            conn.execute(
                "INSERT INTO sign_in_failures (key, failures, first_at, locked_until) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
                    first_at = excluded.first_at, locked_until = excluded.locked_until",
                params![key, i64::from(f.count), ts(f.first_at), f.locked_until.map(ts)],
            )?;
            Ok(())
        })
        .await
    }

    async fn clear_failures(&self, key: String) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("DELETE FROM sign_in_failures WHERE key = ?1", params![key])?;
            Ok(())
        })
        .await
    }

    async fn create_api_token(&self, t: ApiToken, hash: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO api_tokens (token_id, login, name, token_hash, permissions, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.token_id,
                    t.login,
                    t.name,
                    hash.to_vec(),
                    json(&t.permissions.names()),
                    ts(t.created_at),
                    ts(t.expires_at)
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn api_tokens(&self, login: String) -> Result<Vec<ApiToken>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{TOKEN_COLUMNS} WHERE t.login = ?1 ORDER BY t.created_at DESC, t.token_id"
            ))?;
            let rows = stmt.query_map(params![login], token_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(into_token(row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn api_token(&self, hash: [u8; 32]) -> Result<Option<(ApiToken, User)>, StoreError> {
        self.read(move |conn| {
            let raw = conn
                .prepare_cached(&format!("{TOKEN_COLUMNS} WHERE t.token_hash = ?1"))?
                .query_row(params![hash.to_vec()], token_row)
                .optional()?;
            let Some(raw) = raw else { return Ok(None) };
            let token = into_token(raw)?;
            match load_user(conn, &token.login)? {
                Some((user, _)) if user.active => Ok(Some((token, user))),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn revoke_api_token(
        &self,
        login: String,
        token_id: String,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?3) WHERE login = ?1 AND token_id = ?2",
                params![login, token_id, ts(at)],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn record_api_token_use(
        &self,
        token_id: String,
        at: DateTime<Utc>,
        from: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO api_token_uses (token_id, last_used_at, last_used_from) VALUES (?1, ?2, ?3)
                 ON CONFLICT (token_id) DO UPDATE SET last_used_at = excluded.last_used_at,
                    last_used_from = excluded.last_used_from",
                params![token_id, ts(at), from],
            )?;
            Ok(())
        })
        .await
    }

    async fn plants_of(&self, record: Record, id: String) -> Result<Vec<String>, StoreError> {
        self.read(move |conn| plants_of(conn, record, &id)).await
    }

    async fn set_edge_plant(&self, edge_id: String, plant: String) -> Result<(), StoreError> {
        self.write(move |conn| {
            if conn
                .query_row(
                    "SELECT 1 FROM plants WHERE plant = ?1",
                    params![&plant],
                    |_| Ok(()),
                )
                .optional()?
                .is_none()
            {
                return Err(StoreError::NotFound(format!(
                    "no plant {plant:?}; expected one created with put /api/v1/plants/{{plant}}"
                )));
            }
            conn.execute(
                "UPDATE edges SET plant = ?2 WHERE edge_id = ?1",
                params![edge_id, plant],
            )?;
            Ok(())
        })
        .await
    }

    async fn line_plants(&self) -> Result<HashMap<String, String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT line, plant FROM mes_lines")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<super::db::Result<HashMap<String, String>>>()?)
        })
        .await
    }
}

/// The plant of a location, by its warehouse (the default plant for a location central does
/// not know: stock booked there before it was set up).
const LOCATION_PLANT: &str = "coalesce((SELECT w.plant FROM erp_locations l JOIN erp_warehouses w ON w.warehouse = l.warehouse WHERE l.location = x.location), 'default')";

/// The plant of a work order, by its line.
const ORDER_PLANT: &str = "coalesce((SELECT plant FROM mes_lines WHERE line = x.line), 'default')";

fn plants_of(conn: &Connection, record: Record, id: &str) -> Result<Vec<String>, StoreError> {
    let sql = match record {
        Record::Plant => "SELECT plant FROM plants WHERE plant = ?1".to_owned(),
        Record::Line => "SELECT plant FROM mes_lines WHERE line = ?1".to_owned(),
        Record::WorkCenter => "SELECT coalesce((SELECT plant FROM mes_lines l WHERE l.line = w.line), 'default') FROM mes_work_centers w WHERE work_center = ?1".to_owned(),
        Record::WorkOrder => format!("SELECT {ORDER_PLANT} FROM wo_orders x WHERE work_order = ?1"),
        Record::Edge => "SELECT plant FROM edges WHERE edge_id = ?1".to_owned(),
        Record::Warehouse => "SELECT plant FROM erp_warehouses WHERE warehouse = ?1".to_owned(),
        Record::Location => "SELECT w.plant FROM erp_locations l JOIN erp_warehouses w ON w.warehouse = l.warehouse WHERE l.location = ?1".to_owned(),
        Record::LedgerEntry => format!("SELECT {LOCATION_PLANT} FROM inv_ledger x WHERE entry_id = CAST(?1 AS INTEGER)"),
        // Compared as text: the id in the path may be anything.
        Record::SpcCharacteristic => "SELECT plant FROM spc_characteristics WHERE CAST(id AS TEXT) = ?1 AND plant <> ''".to_owned(),
        Record::SpcAlarm => "SELECT plant FROM spc_alarms WHERE CAST(id AS TEXT) = ?1".to_owned(),
        Record::KioskLink => "SELECT plant FROM kiosk_links WHERE link_id = ?1".to_owned(),
        Record::Lot => format!(
            "SELECT {ORDER_PLANT} FROM gen_produced g JOIN wo_orders x ON x.work_order = g.work_order WHERE g.lot = ?1
             UNION SELECT {ORDER_PLANT} FROM gen_issued g JOIN wo_orders x ON x.work_order = g.work_order WHERE g.lot = ?1
             UNION SELECT {LOCATION_PLANT} FROM inv_balance x WHERE x.lot = ?1"
        ),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![id], |r| r.get::<_, String>(0))?;
    let mut plants = Vec::new();
    for row in rows {
        let plant = row?;
        if !plants.contains(&plant) {
            plants.push(plant);
        }
    }
    Ok(plants)
}
