//! Notifications as central keeps them: each person's in-app list, and the outbox of mails
//! and webhook posts (issue 17).
//!
//! A notification is written in the same transaction as what it tells (a request assigned,
//! reminded, escalated, decided), so nobody is told of something that did not happen and
//! nothing that happened goes untold. The outbox is the durable queue of the mails and
//! webhook posts for it, sent by [`crate::notify`] after commit and retried with back-off; a
//! row is done when it was sent, skipped (its channel is not configured) or given up on.

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most notifications one list answers.
pub const MAX_NOTIFICATIONS: usize = 200;
/// A notification older than this many days, read or not, is dropped when new ones are
/// written for the same person, so a list never grows without end.
pub const KEEP_DAYS: i64 = 90;
/// How many times the outbox tries a row before it gives up.
pub const MAX_ATTEMPTS: u32 = 10;

/// One line of a person's notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    /// `oa.waiting`, `oa.reminder`, `oa.escalated`, `oa.approved`, `oa.rejected`,
    /// `oa.returned`, `oa.office_task` (a trip to book), `oa.office_task_done`.
    pub kind: String,
    /// What it is about (`R000001`).
    pub subject: String,
    /// Where to look (a page's path, `/oa/requests/1`).
    pub link: String,
    /// In the person's language.
    pub text: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

/// A mail or a webhook post waiting to go out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: i64,
    pub channel: Channel,
    /// The address (mail); empty for the webhook (the configured URL).
    pub to: String,
    pub subject: String,
    /// The mail's text, or the webhook's JSON.
    pub body: String,
    /// A page's path; the sender puts `[notify] base_url` before it.
    pub link: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// What became of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Waiting,
    Sent,
    /// Its channel is not configured.
    Skipped,
    /// [`MAX_ATTEMPTS`] failed.
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Waiting => "waiting",
            OutboxState::Sent => "sent",
            OutboxState::Skipped => "skipped",
            OutboxState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        [
            OutboxState::Waiting,
            OutboxState::Sent,
            OutboxState::Skipped,
            OutboxState::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// An outbox row as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRow {
    #[serde(flatten)]
    pub item: OutboxItem,
    pub state: OutboxState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// How a send went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Sent,
    Skipped(String),
    /// Tried again at `retry_at`, or given up when `None`.
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

#[async_trait]
pub trait NotifyStore {
    /// `login`'s notifications, newest first, at most `limit` (≤ [`MAX_NOTIFICATIONS`]).
    async fn notifications(
        &self,
        login: String,
        unread_only: bool,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;
    async fn unread_notifications(&self, login: String) -> Result<u64, StoreError>;
    /// Marks `login`'s notifications read: those of `ids`, or all. Answers how many changed.
    async fn read_notifications(
        &self,
        login: String,
        ids: Option<Vec<i64>>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Outbox rows due by `now`, oldest first.
    async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError>;
    /// Records what became of sent rows, all in one transaction.
    async fn outbox_done(
        &self,
        done: Vec<(i64, Sent)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The latest outbox rows, newest first.
    async fn outbox(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
}
