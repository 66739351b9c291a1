//! After-sales service tickets and the phone system's lookup (issue 16).
//!
//! A ticket is about a customer, and may name the sales order, the lot and the item it
//! concerns; it has a state, a priority, an owner, and a log of what was done (calls, visits,
//! e-mails, notes, and every change of state or owner, each with who and when). Tickets are
//! scoped like the CRM's records: a ticket is seen by its owner's scope and by its customer's
//! owner's (the salesperson of the account follows their customer's complaints).
//!
//! The lookup is what a phone system (CTI, IVR) asks when a call comes in: who has this
//! number (contacts by the same phone key as duplicates are found by, so `+86 138 0013 8000`
//! finds `138-0013-8000`), their customers, the customers' open orders and open tickets.

use super::StoreError;
use crate::crm::scope::SalesScope;
use crate::store::crm::CrmResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    Open,
    InProgress,
    /// Waiting for the customer's answer or parts.
    Waiting,
    Resolved,
    Closed,
}

impl TicketState {
    pub const ALL: [TicketState; 5] = [
        TicketState::Open,
        TicketState::InProgress,
        TicketState::Waiting,
        TicketState::Resolved,
        TicketState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Open => "open",
            TicketState::InProgress => "in_progress",
            TicketState::Waiting => "waiting",
            TicketState::Resolved => "resolved",
            TicketState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<TicketState> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Not closed: still someone's work (a resolved ticket waits for the customer's word).
    pub fn is_open(self) -> bool {
        self != TicketState::Closed
    }

    /// Whether a ticket may go from `self` to `to`: forward through the work, back to work
    /// from waiting or resolved (the fix did not hold), closed from anywhere; never out of
    /// closed (a new problem is a new ticket).
    pub fn can_go(self, to: TicketState) -> bool {
        use TicketState::*;
        match (self, to) {
            (Closed, _) => false,
            (a, b) if a == b => false,
            (_, Closed) => true,
            (Open, InProgress | Waiting | Resolved) => true,
            (InProgress, Waiting | Resolved) => true,
            (Waiting, InProgress | Resolved) => true,
            (Resolved, InProgress) => true,
            _ => false,
        }
    }
}

/// How urgent a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    /// A line down at the customer's.
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A ticket as sent to `POST /api/v1/tickets` or `PUT /api/v1/tickets/{ticket}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketInput {
    pub customer: String,
    #[serde(default)]
    pub contact: Option<i64>,
    /// A sales order's number (`SO000001`) the complaint is about.
    #[serde(default)]
    pub order: Option<String>,
    #[serde(default)]
    pub lot: Option<String>,
    #[serde(default)]
    pub item: Option<String>,
    pub subject: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub owner: Option<String>,
}

/// One entry of a ticket's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEntry {
    pub at: DateTime<Utc>,
    pub by: String,
    /// `call`, `visit`, `email`, `note`, `state` or `owner`.
    pub kind: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: i64,
    /// `T000001`.
    pub number: String,
    pub customer: String,
    pub customer_name: String,
    pub contact: Option<i64>,
    pub order: Option<String>,
    pub lot: Option<String>,
    pub item: Option<String>,
    pub subject: String,
    pub description: String,
    pub priority: Priority,
    pub state: TicketState,
    pub owner: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The log, oldest first (in a list: empty).
    #[serde(default)]
    pub entries: Vec<TicketEntry>,
}

/// What is done to a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum TicketAction {
    /// A call, visit, e-mail or note in its log.
    Log {
        kind: String,
        text: String,
    },
    State {
        to: TicketState,
        text: String,
    },
    Assign {
        owner: String,
    },
}

/// `GET /api/v1/tickets`.
#[derive(Debug, Clone, Default)]
pub struct TicketQuery {
    pub customer: Option<String>,
    pub order: Option<String>,
    pub lot: Option<String>,
    pub owner: Option<String>,
    /// Not closed only.
    pub open: bool,
    /// The page after this id (newest first).
    pub before: Option<i64>,
    pub limit: usize,
}

/// A phone system's question: who is calling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerMatch {
    pub contact: i64,
    pub name: String,
    pub customer: Option<String>,
    pub customer_name: Option<String>,
    /// The number as the contact has it.
    pub number: String,
}

/// A customer's open business, for the caller's screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerAccount {
    pub customer: String,
    pub customer_name: String,
    pub owner: String,
    pub open_orders: Vec<crate::store::sales::SalesDocSummary>,
    pub open_tickets: Vec<Ticket>,
}

#[async_trait]
pub trait TicketStore: Send + Sync + 'static {
    async fn tickets(
        &self,
        query: TicketQuery,
        scope: SalesScope,
    ) -> Result<Vec<Ticket>, StoreError>;

    async fn ticket(&self, id: i64, scope: SalesScope) -> Result<Option<Ticket>, StoreError>;

    /// Creates a ticket (`id` `None`) or changes one's subject, description, priority, links.
    async fn put_ticket(
        &self,
        id: Option<i64>,
        input: TicketInput,
        owner: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Ticket>;

    async fn ticket_action(
        &self,
        id: i64,
        action: TicketAction,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Ticket>;

    /// Contacts whose phone key is `phone_key`'s, within `scope`, and their customers' open
    /// orders and tickets.
    async fn caller(
        &self,
        phone_key: String,
        scope: SalesScope,
    ) -> Result<(Vec<CallerMatch>, Vec<CallerAccount>), StoreError>;
}

/// Tickets in one list answer at most.
pub const MAX_LIST: usize = 500;
