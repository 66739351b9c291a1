//! Customers, contacts, business cards in with their duplicates, and activities in the store
//! (issue 16; rules in [`crate::crm`]).
//!
//! Every read and change takes the caller's [`SalesScope`]: a record whose owner is outside
//! it does not exist for them (the API answers 404), as a record of another plant does.
//! Imports are one transaction: every card becomes a contact, joins the customer whose name
//! is written the same way (or makes one), or, when it shares an e-mail address or a phone
//! number with a contact central has (or one made earlier in the same file), waits as a
//! duplicate to be merged, kept or discarded by a person: never silently doubled.

use super::StoreError;
use crate::crm::customers::{
    Activity, ActivityInput, ActivityKind, Contact, ContactInput, Customer, CustomerInput,
};
use crate::crm::scope::SalesScope;
use crate::crm::vcard::Card;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// At most this many rows in one answer of a list.
pub const MAX_LIST: usize = 500;

/// `GET /api/v1/customers`.
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    /// Part of the code, a name (either language), the tax id, region, industry or a tag.
    pub search: Option<String>,
    pub owner: Option<String>,
    pub tag: Option<String>,
    /// The page after this code (codes ascending).
    pub after: Option<String>,
    pub limit: usize,
}

/// How many customers a search finds, in all and per owner (the customers page's counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCounts {
    pub total: u64,
    /// `(owner, customers)`, owners ascending.
    pub by_owner: Vec<(String, u64)>,
}

/// `GET /api/v1/contacts`.
#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    pub customer: Option<String>,
    /// Part of the name, an e-mail address, a phone number's digits, a handle.
    pub search: Option<String>,
    pub after: Option<i64>,
    pub limit: usize,
}

/// `GET /api/v1/activities` and the task list.
#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    pub customer: Option<String>,
    pub contact: Option<i64>,
    /// Those on this opportunity.
    pub opportunity: Option<i64>,
    pub kind: Option<ActivityKind>,
    pub owner: Option<String>,
    /// Only tasks not done (with a due date), soonest due first.
    pub open_tasks: bool,
    /// Those due on or before this date (with `open_tasks`).
    pub due_by: Option<NaiveDate>,
    pub limit: usize,
}

/// One card of an import, with what the file said beside it.
#[derive(Debug, Clone)]
pub struct ImportCard {
    pub card: Card,
    /// A customer code the row names (CSV's `customer`); else the card's company is matched.
    pub customer: Option<String>,
    pub owner: String,
    /// `vcard card 3 (line 27)`, `csv line 4`.
    pub source: String,
}

/// What a duplicate matched on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// The contact it matches (stored before, or made earlier in the same import).
    pub contact: i64,
    pub name: String,
    /// `email` or `phone`.
    pub on: String,
    pub value: String,
}

/// A card that matched a contact, waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    pub id: i64,
    pub contact: ContactInput,
    pub source: String,
    pub matches: Vec<Match>,
    pub owner: String,
    /// `open`, `merged`, `kept` or `discarded`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The contact it was merged into or created as.
    pub result: Option<i64>,
}

/// What a person does with a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Resolution {
    /// Adds the card's phones, e-mail addresses, handles and tags to `into` (one of the
    /// matched contacts) and fills its empty title, department and note.
    Merge {
        into: i64,
    },
    /// They are different people: the card becomes a contact of its own.
    Keep,
    Discard,
}

/// A card of an import that joined a customer central had, by the company's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerMatched {
    pub source: String,
    pub company: String,
    pub customer: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportOutcome {
    pub cards: usize,
    pub contacts_created: Vec<i64>,
    pub customers_created: Vec<String>,
    pub customers_matched: Vec<CustomerMatched>,
    pub duplicates: Vec<Duplicate>,
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmRefusal {
    /// A record named in the change is not there for the caller (unknown, or not theirs).
    NotFound(String),
    /// It contradicts what is stored.
    Conflict(String),
}

pub type CrmResult<T> = Result<Result<T, CrmRefusal>, StoreError>;

#[async_trait]
pub trait CrmStore: Send + Sync + 'static {
    async fn customers(
        &self,
        query: CustomerQuery,
        scope: SalesScope,
    ) -> Result<Vec<Customer>, StoreError>;

    async fn customer(
        &self,
        code: String,
        scope: SalesScope,
    ) -> Result<Option<Customer>, StoreError>;

    /// Creates the customer (`code` `None`: the next free `C000001`), or changes the one
    /// `code` names when it is in `scope`.
    async fn put_customer(
        &self,
        code: Option<String>,
        input: CustomerInput,
        owner: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Customer>;

    async fn contacts(
        &self,
        query: ContactQuery,
        scope: SalesScope,
    ) -> Result<Vec<Contact>, StoreError>;

    async fn contact(&self, id: i64, scope: SalesScope) -> Result<Option<Contact>, StoreError>;

    /// Creates a contact (`id` `None`) or changes one in `scope`. Its customer, if named,
    /// must be in `scope`.
    async fn put_contact(
        &self,
        id: Option<i64>,
        input: ContactInput,
        owner: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Contact>;

    /// Merges `from` into `into` (both in `scope`): phones, e-mail addresses, handles and tags
    /// added, empty fields filled, activities moved, `from` deleted.
    async fn merge_contacts(
        &self,
        into: i64,
        from: i64,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Contact>;

    /// Imports business cards in one transaction; see the module documentation. A customer
    /// code a card names must be in `scope`.
    async fn import_cards(
        &self,
        cards: Vec<ImportCard>,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<ImportOutcome>;

    async fn duplicates(
        &self,
        open_only: bool,
        scope: SalesScope,
    ) -> Result<Vec<Duplicate>, StoreError>;

    async fn resolve_duplicate(
        &self,
        id: i64,
        resolution: Resolution,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Duplicate>;

    async fn activities(
        &self,
        query: ActivityQuery,
        scope: SalesScope,
    ) -> Result<Vec<Activity>, StoreError>;

    /// Records an activity on a customer or contact in `scope` (a contact's customer is
    /// filled in from the contact).
    async fn add_activity(
        &self,
        input: ActivityInput,
        owner: String,
        created_by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Activity>;

    /// Marks a task (or any activity with a due date) done, or open again.
    async fn set_activity_done(
        &self,
        id: i64,
        done: bool,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Activity>;

    /// How many customers `query` finds in `scope` (its `owner`, `after` and `limit`
    /// aside), in all and per owner: the customers page's counts.
    async fn customer_counts(
        &self,
        query: CustomerQuery,
        scope: SalesScope,
    ) -> Result<CustomerCounts, StoreError>;
}
