//! Leads and opportunities in the store (issue 16, the pipeline; rules in
//! [`crate::crm::pipeline`]).
//!
//! Every read and change takes the caller's [`SalesScope`], as [`super::crm::CrmStore`]'s: a
//! lead or opportunity whose owner is outside it does not exist for them (404).
//!
//! **Architecture Invariant:** qualifying a lead is one transaction: the customer is found by
//! the company's name ([`crate::crm::dedupe::company_key`], as business cards join one) or
//! made, the contact and the opportunity are made, and the lead is linked to the three; or
//! nothing is written. **Architecture Invariant:** an opportunity's stage changes only through
//! [`PipelineStore::move_stage`], which compares the version the mover saw with the stored
//! one inside its transaction (two people dragging the same card: the second is refused, 409)
//! and writes the move to the stage history in the same transaction.

use super::StoreError;
use super::crm::CrmResult;
use crate::crm::pipeline::{
    Lead, LeadInput, LeadSource, LeadStatus, Opportunity, OpportunityInput, QualifyInput, Stage,
    StageMove,
};
use crate::crm::scope::SalesScope;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Most opportunities one read answers: a list's page is at most [`super::crm::MAX_LIST`],
/// the forecast reads up to this many (more: it asks for a narrower range).
pub const MAX_FORECAST: usize = 20_000;

/// `GET /api/v1/leads`.
#[derive(Debug, Clone, Default)]
pub struct LeadQuery {
    /// Part of the name, the company, an e-mail address, a phone number's digits.
    pub search: Option<String>,
    pub status: Option<LeadStatus>,
    pub source: Option<LeadSource>,
    pub owner: Option<String>,
    /// The page after this id (ids ascending).
    pub after: Option<i64>,
    pub limit: usize,
}

/// `GET /api/v1/opportunities` (and the pipeline page, the forecast).
#[derive(Debug, Clone, Default)]
pub struct OpportunityQuery {
    /// Part of the title, the customer's code or name.
    pub search: Option<String>,
    pub stage: Option<Stage>,
    pub owner: Option<String>,
    pub customer: Option<String>,
    /// Those closing on or after this date.
    pub close_from: Option<NaiveDate>,
    /// Those closing on or before this date.
    pub close_to: Option<NaiveDate>,
    /// Leave out the lost ones.
    pub not_lost: bool,
    /// The page after this id (ids ascending).
    pub after: Option<i64>,
    pub limit: usize,
}

/// What qualifying a lead did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qualified {
    pub lead: Lead,
    pub opportunity: Opportunity,
    pub customer: String,
    /// Whether the customer was made (else found by the company's name, or named).
    pub customer_created: bool,
    pub contact: i64,
}

#[async_trait]
pub trait PipelineStore: Send + Sync + 'static {
    async fn leads(&self, query: LeadQuery, scope: SalesScope) -> Result<Vec<Lead>, StoreError>;

    async fn lead(&self, id: i64, scope: SalesScope) -> Result<Option<Lead>, StoreError>;

    /// Creates a lead (`id` `None`) or changes one in `scope` (a qualified lead is final).
    async fn put_lead(
        &self,
        id: Option<i64>,
        input: LeadInput,
        owner: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Lead>;

    /// Qualifies a lead in `scope`, in one transaction (see the module documentation); the
    /// lead's owner owns what is made.
    async fn qualify_lead(
        &self,
        id: i64,
        input: QualifyInput,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Qualified>;

    async fn opportunities(
        &self,
        query: OpportunityQuery,
        scope: SalesScope,
    ) -> Result<Vec<Opportunity>, StoreError>;

    /// One opportunity with its stage history.
    async fn opportunity(
        &self,
        id: i64,
        scope: SalesScope,
    ) -> Result<Option<Opportunity>, StoreError>;

    /// Creates an opportunity (`id` `None`; its customer, and contact if named, in `scope`)
    /// or changes one in `scope` (all but its stage).
    async fn put_opportunity(
        &self,
        id: Option<i64>,
        input: OpportunityInput,
        owner: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Opportunity>;

    /// Moves an opportunity in `scope` to another stage ([`crate::crm::pipeline::move_stage`]
    /// decides), version checked, history written.
    async fn move_stage(
        &self,
        id: i64,
        stage_move: StageMove,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Opportunity>;
}
