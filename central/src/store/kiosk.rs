//! Kiosk links (issue 15): a shop-floor TV signs in by opening a link, with no password typed,
//! and sees one plant's andon and board, nothing else.
//!
//! A link is minted by someone with `kiosks.manage` for a plant of theirs; its token (256
//! random bits) is shown once and stored only as its SHA-256, like personal API tokens.
//! Opening `/kiosk/{token}` makes a kiosk session (its id stored as a hash too) bound to the
//! link; revoking the link deletes its sessions in the same transaction, so the TV is signed
//! out at its next request and its live stream ends. A session not used for
//! `[sessions] kiosk_idle` (no request, no live board open) ends too: the policy check reads
//! its `last_seen`, which a request or the open live board moves on at most once a minute.
//!
//! **Architecture Invariant:** a kiosk session can only read its plant's andon and board
//! (`api::policy::KIOSK_ROUTES`); every other route refuses it with 403.

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A kiosk link as the people who manage them see it (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KioskLink {
    pub link_id: String,
    /// What the TV is, in the plant's words (`Hall 2, above line 3`).
    pub name: String,
    pub plant: String,
    /// The language the andon shows (`zh` or `en`).
    pub language: String,
    /// The time zone the andon's times are shown in.
    pub time_zone: String,
    /// The login of who minted it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    /// When a TV last signed in with it, and from where.
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
}

/// A TV's kiosk session: its link, and when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskSession {
    pub link: KioskLink,
    pub created_at: DateTime<Utc>,
    /// The last request or live board that marked it used (at most once a minute).
    pub last_seen: DateTime<Utc>,
}

/// Sessions a kiosk link keeps at most (its TVs): opening it again past that signs out the
/// oldest.
pub const MAX_SESSIONS_PER_LINK: i64 = 32;

#[async_trait]
pub trait KioskStore: Send + Sync + 'static {
    /// Stores a new link; its plant must exist ([`StoreError::NotFound`] naming it).
    async fn create_kiosk_link(&self, link: KioskLink, hash: [u8; 32]) -> Result<(), StoreError>;

    /// Every link, newest first (the handler keeps those of the caller's plants).
    async fn kiosk_links(&self) -> Result<Vec<KioskLink>, StoreError>;

    /// The link whose token has this hash, revoked ones included (the caller refuses them).
    async fn kiosk_link_by_token(&self, hash: [u8; 32]) -> Result<Option<KioskLink>, StoreError>;

    /// Revokes the link and ends its sessions, in one transaction; the link as it is now, or
    /// `None` when there is no such link. Revoking a revoked link changes nothing.
    async fn revoke_kiosk_link(
        &self,
        link_id: String,
        by: String,
        at: DateTime<Utc>,
    ) -> Result<Option<KioskLink>, StoreError>;

    /// A TV signed in with the link: a session of this hash, and the link's last use. The
    /// link's sessions last seen before `idle_before` (over by the idle timeout) are dropped.
    async fn create_kiosk_session(
        &self,
        hash: [u8; 32],
        link_id: String,
        at: DateTime<Utc>,
        from: Option<String>,
        idle_before: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// A kiosk session and its link, while the session exists and the link is not revoked
    /// (whether it is past its idle timeout is the caller's to decide, from `last_seen`).
    async fn kiosk_session(&self, hash: [u8; 32]) -> Result<Option<KioskSession>, StoreError>;

    /// The session was used at `at`.
    async fn touch_kiosk_session(
        &self,
        hash: [u8; 32],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Ends a kiosk session (past its idle timeout); nothing when there is none.
    async fn end_kiosk_session(&self, hash: [u8; 32]) -> Result<(), StoreError>;
}
