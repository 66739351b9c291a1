//! The audit trail in the store ([`crate::people::audit`] for the actor and the hash chain).
//!
//! **Architecture Invariant:** a store write made while an actor is set
//! ([`crate::people::audit::with_actor`]) writes one entry per row it inserts, changes or
//! deletes, in the same transaction, with the row before and after (secret columns
//! redacted); a write without an actor (edge ingest, status, plan polls) writes none. Entries
//! are only ever appended: the store refuses to update or delete one.

use super::StoreError;
use crate::people::audit::{Actor, ActorKind, AuditVerdict};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most entries one [`AuditStore::audit`] returns.
pub const MAX_AUDIT_PAGE: usize = 1_000;
pub const DEFAULT_AUDIT_PAGE: usize = 100;

/// What the trail records that is not a row change: the API writes these itself.
pub mod actions {
    /// A sign-in with a wrong login or password.
    pub const SIGN_IN_FAILED: &str = "sign_in_failed";
    /// A request refused with 403 (the permission it lacked in `after`).
    pub const DENIED: &str = "denied";
    /// A login or address locked after repeated failures.
    pub const LOCKED: &str = "locked";
}

/// An entry the API appends itself ([`actions`]): sign-in failures, denials, lockouts.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// Who (as far as known: a failed sign-in names the login tried), from where, through
    /// which operation.
    pub actor: Actor,
    pub action: String,
    /// What it concerns: `session`, a route, a table.
    pub entity: String,
    pub entity_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, … in the order written.
    pub seq: u64,
    /// When (UTC, central's clock at the write).
    pub at: DateTime<Utc>,
    pub actor_kind: ActorKind,
    /// The login, `<login>/<token id>`, the edge id, `admin`, or what ran.
    pub actor: String,
    /// The peer's address, when known.
    pub address: Option<String>,
    /// Method and route template, or the command.
    pub operation: String,
    /// `insert`, `update`, `delete` (a row), or one of [`actions`].
    pub action: String,
    /// The table (or kind) it concerns.
    pub entity: String,
    /// The row's primary key (`/` between the parts of a composite one).
    pub entity_id: Option<String>,
    /// The row before (JSON; `null` for an insert).
    pub before: Option<serde_json::Value>,
    /// The row after (JSON; `null` for a delete).
    pub after: Option<serde_json::Value>,
    /// The previous entry's hash (`null` for the first).
    pub prev_hash: Option<String>,
    pub hash: String,
}

/// Listing order: by `seq`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOrder {
    /// Oldest first (the default): `after` pages forward, and a reader that keeps the last
    /// `seq` it saw picks up new entries from there.
    #[default]
    Asc,
    /// Newest first: `after` pages back in time.
    Desc,
}

/// Filters of [`AuditStore::audit`]; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub actor_kind: Option<ActorKind>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub operation: Option<String>,
    /// `at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `at < to`.
    pub to: Option<DateTime<Utc>>,
    /// Entries after this seq in `order` (ascending: `seq > after`; descending:
    /// `seq < after`).
    pub after: Option<u64>,
    pub order: AuditOrder,
    /// At most this many (the store caps it at [`MAX_AUDIT_PAGE`]).
    pub limit: usize,
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends an entry that is not a row change (a sign-in failure, a denial, a lockout),
    /// chained like every other.
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// Entries matching `query`, in its order, at most its limit.
    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;

    /// Verifies the whole chain ([`crate::people::audit::verify_chain`]).
    async fn verify_audit(&self) -> Result<AuditVerdict, StoreError>;
}
