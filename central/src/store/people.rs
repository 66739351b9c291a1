//! Users, their sessions and personal API tokens, failed sign-ins, and which plant a record
//! belongs to (the record rules' one question) in the store.
//!
//! **Architecture Invariant:** secrets are stored only as hashes: passwords as argon2id PHC
//! strings, session ids and API tokens as SHA-256 (they are 256-bit random values).

use super::StoreError;
use crate::people::roles::Permissions;
use crate::people::users::{Failures, User};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A signed-in page session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub login: String,
    /// The token every state-changing request of this session carries
    /// (`x-csrf-token`, or the `csrf` field of a form).
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub address: Option<String>,
}

/// A personal API token as its owner and the administrators see it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub token_id: String,
    pub login: String,
    pub name: String,
    #[serde(serialize_with = "permission_names")]
    pub permissions: Permissions,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
}

fn permission_names<S: serde::Serializer>(p: &Permissions, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.names())
}

/// A kind of record whose plant the record rules check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Record {
    Plant,
    Line,
    WorkCenter,
    WorkOrder,
    Edge,
    Warehouse,
    /// A stock location, by its warehouse.
    Location,
    Lot,
    LedgerEntry,
    /// An SPC characteristic by id (one of every plant has none: the handler answers).
    SpcCharacteristic,
    SpcAlarm,
    /// A kiosk link by id ([`crate::store::kiosk`]).
    KioskLink,
}

impl Record {
    /// How a 404 names it.
    pub fn noun(self) -> &'static str {
        match self {
            Record::Plant => "plant",
            Record::Line => "line",
            Record::WorkCenter => "work center",
            Record::WorkOrder => "work order",
            Record::Edge => "edge",
            Record::Warehouse => "warehouse",
            Record::Location => "location",
            Record::Lot => "lot",
            Record::LedgerEntry => "ledger entry",
            Record::SpcCharacteristic => "spc characteristic",
            Record::SpcAlarm => "spc alarm",
            Record::KioskLink => "kiosk link",
        }
    }
}

#[async_trait]
pub trait PeopleStore: Send + Sync + 'static {
    async fn users(&self) -> Result<Vec<User>, StoreError>;

    async fn user(&self, login: String) -> Result<Option<User>, StoreError>;

    /// A user and their password hash (`None`: no password set yet).
    async fn user_credentials(
        &self,
        login: String,
    ) -> Result<Option<(User, Option<String>)>, StoreError>;

    /// Creates or changes users (all or nothing); `password_hash` `Some` sets it. Returns,
    /// per user, whether it was created. A user made inactive loses their sessions.
    async fn put_users(&self, users: Vec<(User, Option<String>)>) -> Result<Vec<bool>, StoreError>;

    /// Sets a password and ends every session of the user except `keep` (the one that
    /// changed it). [`StoreError::NotFound`] for an unknown login.
    async fn set_password(
        &self,
        login: String,
        password_hash: String,
        keep: Option<[u8; 32]>,
    ) -> Result<(), StoreError>;

    /// Makes the bootstrap administrator when the user table is empty (first start, or an
    /// upgrade from a store without users). Returns whether it was made.
    async fn ensure_bootstrap_admin(&self) -> Result<bool, StoreError>;

    async fn create_session(&self, hash: [u8; 32], session: Session) -> Result<(), StoreError>;

    /// The session and its (active) user.
    async fn session(&self, hash: [u8; 32]) -> Result<Option<(Session, User)>, StoreError>;

    async fn touch_session(&self, hash: [u8; 32], at: DateTime<Utc>) -> Result<(), StoreError>;

    async fn end_session(&self, hash: [u8; 32]) -> Result<(), StoreError>;

    /// Failed sign-ins counted for `key` (`login:<login>` or `address:<ip>`).
    async fn failures(&self, key: String) -> Result<Option<Failures>, StoreError>;

    /// Records a failure; counters older than an hour that lock nothing are dropped.
    async fn record_failure(&self, key: String, failures: Failures) -> Result<(), StoreError>;

    async fn clear_failures(&self, key: String) -> Result<(), StoreError>;

    async fn create_api_token(&self, token: ApiToken, hash: [u8; 32]) -> Result<(), StoreError>;

    /// The user's tokens, newest first.
    async fn api_tokens(&self, login: String) -> Result<Vec<ApiToken>, StoreError>;

    /// The token of this hash and its (active) owner, revoked or expired ones included (the
    /// caller refuses them with the reason).
    async fn api_token(&self, hash: [u8; 32]) -> Result<Option<(ApiToken, User)>, StoreError>;

    /// Revokes the user's token; `false` when they have no such token.
    async fn revoke_api_token(
        &self,
        login: String,
        token_id: String,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records a use (kept apart from the token, so a use is not a change in the audit trail).
    async fn record_api_token_use(
        &self,
        token_id: String,
        at: DateTime<Utc>,
        from: Option<String>,
    ) -> Result<(), StoreError>;

    /// The plants a record belongs to: one for most, several for a lot made, used or stocked
    /// in several; empty when the record is unknown.
    async fn plants_of(&self, record: Record, id: String) -> Result<Vec<String>, StoreError>;

    /// Puts an edge in a plant (which must exist).
    async fn set_edge_plant(&self, edge_id: String, plant: String) -> Result<(), StoreError>;

    /// The plant of every line, for filtering lists.
    async fn line_plants(&self) -> Result<std::collections::HashMap<String, String>, StoreError>;
}
