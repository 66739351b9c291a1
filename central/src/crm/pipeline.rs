//! The pipeline: leads qualified into opportunities, opportunities moved through stages to won
//! or lost, and the weighted forecast. Pure: no I/O.
//!
//! A *lead* is someone who may buy (a card from a trade fair, a form on the website): a
//! person, their company and how to reach them, where they came from and whose they are. It
//! is contacted, then qualified (it becomes a customer, a contact and an opportunity, the
//! lead linked to them) or disqualified with a reason. An *opportunity* is a deal with a
//! customer: a title, an expected amount in a currency, a close date, a stage and a
//! probability. Stages are data ([`Stage::ALL`], each with a default probability, as Odoo's
//! CRM stages and ERPNext's sales stages): a move to another stage takes that stage's
//! probability unless one is given; won is 100, lost is 0 and needs a reason; won and lost are
//! final unless the opportunity is reopened (moved back to an open stage with `reopen`).
//!
//! The *weighted* amount is amount × probability / 100, rounded to cents (half away from
//! zero), in checked arithmetic. The forecast adds the opportunities that are not lost by
//! close month, owner and stage, per currency, or converted to one currency with the
//! exchange rates in force on a date ([`crate::crm::pricing::convert`]). Each stage belongs
//! to a forecast category as Salesforce's: pipeline (qualification, needs analysis), best
//! case (proposal), commit (negotiation), closed (won); lost is omitted.

use super::customers::{MAX_BODY_LEN, check_currency, check_money, check_owner};
use super::pricing::{AmountError, ConvertError, ExchangeRate, convert, round_money};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use protocol::bounds::check_text;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Items of interest on one opportunity.
pub const MAX_ITEMS: usize = 32;
/// Bytes of a lost or disqualified reason.
pub const MAX_REASON_LEN: usize = 1024;

/// A stage of an opportunity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Qualification,
    NeedsAnalysis,
    Proposal,
    Negotiation,
    Won,
    Lost,
}

/// Where a stage counts in the forecast (Salesforce's forecast categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Pipeline,
    BestCase,
    Commit,
    Closed,
    Omitted,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Pipeline => "pipeline",
            Category::BestCase => "best_case",
            Category::Commit => "commit",
            Category::Closed => "closed",
            Category::Omitted => "omitted",
        }
    }
}

impl Stage {
    /// Every stage, in the pipeline's order (the page's columns).
    pub const ALL: [Stage; 6] = [
        Stage::Qualification,
        Stage::NeedsAnalysis,
        Stage::Proposal,
        Stage::Negotiation,
        Stage::Won,
        Stage::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Qualification => "qualification",
            Stage::NeedsAnalysis => "needs_analysis",
            Stage::Proposal => "proposal",
            Stage::Negotiation => "negotiation",
            Stage::Won => "won",
            Stage::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The probability (percent) an opportunity takes when it moves here.
    pub fn default_probability(self) -> u8 {
        match self {
            Stage::Qualification => 10,
            Stage::NeedsAnalysis => 25,
            Stage::Proposal => 50,
            Stage::Negotiation => 75,
            Stage::Won => 100,
            Stage::Lost => 0,
        }
    }

    /// Won or lost: final unless reopened.
    pub fn is_closed(self) -> bool {
        matches!(self, Stage::Won | Stage::Lost)
    }

    pub fn category(self) -> Category {
        match self {
            Stage::Qualification | Stage::NeedsAnalysis => Category::Pipeline,
            Stage::Proposal => Category::BestCase,
            Stage::Negotiation => Category::Commit,
            Stage::Won => Category::Closed,
            Stage::Lost => Category::Omitted,
        }
    }
}

/// Where a lead came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadSource {
    TradeFair,
    Website,
    Referral,
    ColdCall,
    Other,
}

impl LeadSource {
    pub const ALL: [LeadSource; 5] = [
        LeadSource::TradeFair,
        LeadSource::Website,
        LeadSource::Referral,
        LeadSource::ColdCall,
        LeadSource::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadSource::TradeFair => "trade_fair",
            LeadSource::Website => "website",
            LeadSource::Referral => "referral",
            LeadSource::ColdCall => "cold_call",
            LeadSource::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<LeadSource> {
        LeadSource::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a lead is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
    Contacted,
    /// Became a customer, a contact and an opportunity: final.
    Qualified,
    /// Not a buyer, with a reason; made `new` or `contacted` again to reopen it.
    Disqualified,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 4] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Disqualified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Disqualified => "disqualified",
        }
    }

    pub fn parse(s: &str) -> Option<LeadStatus> {
        LeadStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A lead as sent to `POST /api/v1/leads` and `PUT /api/v1/leads/{lead}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    /// The person.
    pub name: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub wechat: String,
    pub source: LeadSource,
    /// `new` when absent; `qualified` only through `POST /api/v1/leads/{lead}/qualify`.
    #[serde(default)]
    pub status: Option<LeadStatus>,
    /// Why it was disqualified (needed then).
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub note: String,
    /// The salesperson whose lead it is; the caller when absent.
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    pub id: i64,
    pub name: String,
    pub company: String,
    pub title: String,
    pub phone: String,
    pub email: String,
    pub wechat: String,
    pub source: LeadSource,
    pub status: LeadStatus,
    pub reason: String,
    pub note: String,
    pub owner: String,
    /// What qualifying it made or joined.
    pub customer: Option<String>,
    pub contact: Option<i64>,
    pub opportunity: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn text(field: &str, value: &str, problems: &mut Vec<String>) {
    if let Err(v) = check_text(field, value) {
        problems.push(v.to_string());
    }
}

fn long_text(field: &str, value: &str, max: usize, problems: &mut Vec<String>) {
    if value.len() > max {
        problems.push(format!("{field}: more than {max} bytes"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        problems.push(format!(
            "{field}: holds the control character U+{:04X}",
            u32::from(c)
        ));
    }
}

impl LeadInput {
    /// Trims and names every problem. A status change is checked against the stored one by
    /// [`lead_status_change`].
    pub fn checked(mut self) -> Result<LeadInput, Vec<String>> {
        let mut problems = Vec::new();
        for v in [
            &mut self.name,
            &mut self.company,
            &mut self.title,
            &mut self.phone,
            &mut self.email,
            &mut self.wechat,
        ] {
            *v = v.trim().to_owned();
        }
        self.reason = self.reason.trim().to_owned();
        if self.name.is_empty() {
            problems.push("name: empty; expected the person's name".into());
        }
        for (field, value) in [
            ("name", &self.name),
            ("company", &self.company),
            ("title", &self.title),
            ("wechat", &self.wechat),
        ] {
            text(field, value, &mut problems);
        }
        if !self.phone.is_empty()
            && let Err(p) = super::vcard::check_phone(&self.phone)
        {
            problems.push(format!("phone: {p}"));
        }
        if !self.email.is_empty()
            && let Err(p) = super::vcard::check_email(&self.email)
        {
            problems.push(format!("email: {p}"));
        }
        long_text("note", &self.note, MAX_BODY_LEN, &mut problems);
        long_text("reason", &self.reason, MAX_REASON_LEN, &mut problems);
        match self.status {
            Some(LeadStatus::Qualified) => problems.push(
                "status: qualified only by post /api/v1/leads/{lead}/qualify, which makes the customer, contact and opportunity".into(),
            ),
            Some(LeadStatus::Disqualified) if self.reason.is_empty() => {
                problems.push("reason: empty; a disqualified lead needs the reason".into());
            }
            _ => {}
        }
        if let Some(owner) = &self.owner
            && let Err(p) = check_owner(owner)
        {
            problems.push(p);
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }
}

/// Whether a lead stored as `from` may be changed to `to`: a qualified lead is final (its
/// customer, contact and opportunity carry on); every other status may become any but
/// qualified.
pub fn lead_status_change(id: i64, from: LeadStatus, to: LeadStatus) -> Result<(), String> {
    match (from, to) {
        (LeadStatus::Qualified, _) => Err(format!(
            "lead {id} is qualified; change its customer, contact or opportunity instead"
        )),
        (_, LeadStatus::Qualified) => Err(format!(
            "lead {id}: qualified only by post /api/v1/leads/{id}/qualify"
        )),
        _ => Ok(()),
    }
}

/// What `POST /api/v1/leads/{lead}/qualify` makes of a lead: the opportunity's terms (the
/// customer is the one whose name is written as the lead's company, or a new one; or the
/// customer named by code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualifyInput {
    /// A customer by code instead of the lead's company.
    #[serde(default)]
    pub customer: Option<String>,
    /// The opportunity's title; `<company>: <lead name>` when empty.
    #[serde(default)]
    pub title: String,
    pub amount: Decimal,
    /// The customer's currency when absent.
    #[serde(default)]
    pub currency: Option<String>,
    pub close_date: NaiveDate,
    /// `qualification` when absent; an open stage.
    #[serde(default)]
    pub stage: Option<Stage>,
    #[serde(default)]
    pub probability: Option<u8>,
    #[serde(default)]
    pub items: Vec<String>,
}

impl QualifyInput {
    pub fn checked(mut self) -> Result<QualifyInput, Vec<String>> {
        let mut problems = Vec::new();
        self.title = self.title.trim().to_owned();
        text("title", &self.title, &mut problems);
        if let Some(code) = &self.customer
            && let Err(p) = super::customers::check_code(code)
        {
            problems.push(format!("customer: {p}"));
        }
        money_terms(
            self.amount,
            self.currency.as_deref(),
            self.probability,
            &mut problems,
        );
        if let Some(stage) = self.stage
            && stage.is_closed()
        {
            problems.push(format!(
                "stage: {}; a qualified lead starts at an open stage",
                stage.as_str()
            ));
        }
        self.items = clean_items(std::mem::take(&mut self.items), &mut problems);
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }
}

fn money_terms(
    amount: Decimal,
    currency: Option<&str>,
    probability: Option<u8>,
    problems: &mut Vec<String>,
) {
    if let Err(p) = check_money("amount", amount) {
        problems.push(p);
    }
    if let Some(c) = currency
        && let Err(p) = check_currency(c)
    {
        problems.push(p);
    }
    if let Some(p) = probability
        && p > 100
    {
        problems.push(format!("probability: {p}; expected 0 to 100 (percent)"));
    }
}

fn clean_items(items: Vec<String>, problems: &mut Vec<String>) -> Vec<String> {
    let items: Vec<String> = items
        .into_iter()
        .map(|i| i.trim().to_owned())
        .filter(|i| !i.is_empty())
        .fold(Vec::new(), |mut out, i| {
            if !out.contains(&i) {
                out.push(i);
            }
            out
        });
    if items.len() > MAX_ITEMS {
        problems.push(format!("items: {}; at most {MAX_ITEMS}", items.len()));
    }
    for i in items.iter().take(MAX_ITEMS + 1) {
        if let Err(v) = protocol::bounds::check_id("items", i) {
            problems.push(v.to_string());
        }
    }
    items
}

/// An opportunity as sent to `POST /api/v1/opportunities` and `PUT
/// /api/v1/opportunities/{opportunity}`. Its stage changes only through the stage move
/// ([`StageMove`]); a `PUT` with `version` is refused when the stored one differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpportunityInput {
    pub customer: String,
    #[serde(default)]
    pub contact: Option<i64>,
    pub title: String,
    /// `POST` only: the stage it starts at (`qualification` when absent; an open stage).
    #[serde(default)]
    pub stage: Option<Stage>,
    pub amount: Decimal,
    /// The customer's currency when absent.
    #[serde(default)]
    pub currency: Option<String>,
    /// The stage's default when absent.
    #[serde(default)]
    pub probability: Option<u8>,
    pub close_date: NaiveDate,
    #[serde(default)]
    pub items: Vec<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// `PUT`: the version read; refused with 409 when someone changed it since.
    #[serde(default)]
    pub version: Option<i64>,
}

impl OpportunityInput {
    pub fn checked(mut self) -> Result<OpportunityInput, Vec<String>> {
        let mut problems = Vec::new();
        self.title = self.title.trim().to_owned();
        if self.title.is_empty() {
            problems.push("title: empty; expected what the deal is".into());
        }
        text("title", &self.title, &mut problems);
        if let Err(p) = super::customers::check_code(&self.customer) {
            problems.push(format!("customer: {p}"));
        }
        money_terms(
            self.amount,
            self.currency.as_deref(),
            self.probability,
            &mut problems,
        );
        if let Some(stage) = self.stage
            && stage.is_closed()
        {
            problems.push(format!(
                "stage: {}; an opportunity starts at an open stage and is won or lost by a stage move",
                stage.as_str()
            ));
        }
        self.items = clean_items(std::mem::take(&mut self.items), &mut problems);
        if let Some(owner) = &self.owner
            && let Err(p) = check_owner(owner)
        {
            problems.push(p);
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }
}

/// A stage change as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// `None` when the opportunity was made.
    pub from: Option<Stage>,
    pub to: Stage,
    pub probability: u8,
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opportunity {
    pub id: i64,
    pub customer: String,
    pub customer_name: String,
    pub contact: Option<i64>,
    pub contact_name: Option<String>,
    pub title: String,
    pub stage: Stage,
    pub amount: Decimal,
    pub currency: String,
    pub probability: u8,
    /// amount × probability / 100, in cents.
    pub weighted: Decimal,
    pub close_date: NaiveDate,
    pub owner: String,
    pub lost_reason: String,
    pub items: Vec<String>,
    /// The lead it was qualified from.
    pub lead: Option<i64>,
    /// Goes up with every change; a stage move or change naming an older one is refused.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
    /// Its stage changes, oldest first (one opportunity's answer only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<StageChange>,
}

/// `POST /api/v1/opportunities/{opportunity}/stage`: a drag to another column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageMove {
    pub stage: Stage,
    /// The version the mover saw: another's change since answers 409.
    pub version: i64,
    /// Needed to lose it.
    #[serde(default)]
    pub lost_reason: String,
    /// The stage's default when absent.
    #[serde(default)]
    pub probability: Option<u8>,
    /// Needed to move a won or lost opportunity (back) to an open stage.
    #[serde(default)]
    pub reopen: bool,
}

/// Why a stage move is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error(
        "opportunity {id} is at version {stored}, not {sent}: someone changed it meanwhile; expected the current version (load it again)"
    )]
    Stale { id: i64, stored: i64, sent: i64 },
    #[error("lost_reason: empty; an opportunity is lost with the reason")]
    NoReason,
    #[error(
        "opportunity {id} is {stage}, which is final; expected reopen: true to move it to an open stage"
    )]
    Closed { id: i64, stage: &'static str },
    #[error("opportunity {id} is {stage} already")]
    Same { id: i64, stage: &'static str },
    #[error("probability: {0}; expected 0 to 100 (percent)")]
    Probability(u8),
    #[error("probability: {stage} is always {fixed}")]
    Fixed { stage: &'static str, fixed: u8 },
    #[error("lost_reason: {0}")]
    Reason(String),
}

/// What a stage move changes: the new stage, probability and lost reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub stage: Stage,
    pub probability: u8,
    pub lost_reason: String,
    /// Whether it is closed by this move (won or lost): `closed_at` is set; cleared otherwise.
    pub closes: bool,
}

/// The rules of a stage move of opportunity `id` at `stage` (stored `version`).
pub fn move_stage(id: i64, stage: Stage, version: i64, m: &StageMove) -> Result<Moved, MoveError> {
    if m.version != version {
        return Err(MoveError::Stale {
            id,
            stored: version,
            sent: m.version,
        });
    }
    if m.stage == stage {
        return Err(MoveError::Same {
            id,
            stage: stage.as_str(),
        });
    }
    let reopens = m.reopen && !m.stage.is_closed();
    if stage.is_closed() && !reopens {
        return Err(MoveError::Closed {
            id,
            stage: stage.as_str(),
        });
    }
    let reason = m.lost_reason.trim().to_owned();
    if m.stage == Stage::Lost {
        if reason.is_empty() {
            return Err(MoveError::NoReason);
        }
        let mut problems = Vec::new();
        long_text("lost_reason", &reason, MAX_REASON_LEN, &mut problems);
        if let Some(p) = problems.into_iter().next() {
            return Err(MoveError::Reason(p));
        }
    }
    let probability = match (m.stage, m.probability) {
        (_, Some(p)) if p > 100 => return Err(MoveError::Probability(p)),
        (Stage::Won | Stage::Lost, Some(p)) if p != m.stage.default_probability() => {
            return Err(MoveError::Fixed {
                stage: m.stage.as_str(),
                fixed: m.stage.default_probability(),
            });
        }
        (_, Some(p)) => p,
        (s, None) => s.default_probability(),
    };
    Ok(Moved {
        stage: m.stage,
        probability,
        lost_reason: if m.stage == Stage::Lost {
            reason
        } else {
            String::new()
        },
        closes: m.stage.is_closed(),
    })
}

/// amount × probability / 100, rounded to cents (half away from zero).
pub fn weighted(amount: Decimal, probability: u8) -> Result<Decimal, AmountError> {
    let product = amount
        .checked_mul(Decimal::from(probability))
        .and_then(|p| p.checked_div(Decimal::ONE_HUNDRED))
        .ok_or(AmountError::TooLarge)?;
    Ok(round_money(product))
}

/// One line of the forecast: the opportunities of one close month, owner, stage and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastLine {
    /// `YYYY-MM` of the close date.
    pub month: String,
    pub owner: String,
    pub stage: Stage,
    pub category: Category,
    pub currency: String,
    pub count: u64,
    pub amount: Decimal,
    pub weighted: Decimal,
}

/// A sum of the forecast (per currency, and per stage, month or category in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastSum {
    /// The stage, `YYYY-MM` month or category; empty for the currency's total.
    pub key: String,
    pub currency: String,
    pub count: u64,
    pub amount: Decimal,
    pub weighted: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    /// The currency everything was converted to, if one was asked for.
    pub currency: Option<String>,
    /// The date whose exchange rates converted (today).
    pub as_of: NaiveDate,
    pub lines: Vec<ForecastLine>,
    /// Per currency (one when converted).
    pub totals: Vec<ForecastSum>,
    pub by_stage: Vec<ForecastSum>,
    pub by_month: Vec<ForecastSum>,
    pub by_category: Vec<ForecastSum>,
}

/// Why a forecast cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForecastError {
    #[error("opportunity {id}: {source}")]
    Convert { id: i64, source: ConvertError },
    #[error(transparent)]
    Amount(#[from] AmountError),
}

#[derive(Default)]
struct Acc {
    count: u64,
    amount: Decimal,
    weighted: Decimal,
}

impl Acc {
    fn add(&mut self, amount: Decimal, weighted: Decimal) -> Result<(), AmountError> {
        self.count += 1;
        self.amount = self
            .amount
            .checked_add(amount)
            .ok_or(AmountError::TooLarge)?;
        self.weighted = self
            .weighted
            .checked_add(weighted)
            .ok_or(AmountError::TooLarge)?;
        Ok(())
    }
}

fn sums(map: BTreeMap<(String, String), Acc>) -> Vec<ForecastSum> {
    map.into_iter()
        .map(|((currency, key), a)| ForecastSum {
            key,
            currency,
            count: a.count,
            amount: a.amount,
            weighted: a.weighted,
        })
        .collect()
}

/// The forecast of `opportunities` (those lost are left out): by close month, owner, stage
/// and currency, with sums, each opportunity's amount converted to `to` with the rates on
/// `as_of` when given (and weighted after conversion).
pub fn forecast(
    opportunities: &[Opportunity],
    to: Option<(&str, &[ExchangeRate])>,
    as_of: NaiveDate,
) -> Result<Forecast, ForecastError> {
    let mut lines: BTreeMap<(String, String, Stage, String), Acc> = BTreeMap::new();
    let mut totals: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let mut by_stage: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let mut by_month: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let mut by_category: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for o in opportunities.iter().filter(|o| o.stage != Stage::Lost) {
        let (amount, currency) = match to {
            None => (o.amount, o.currency.clone()),
            Some((to, rates)) => {
                let (amount, _) = convert(rates, o.amount, &o.currency, to, as_of)
                    .map_err(|source| ForecastError::Convert { id: o.id, source })?;
                (amount, to.to_owned())
            }
        };
        let w = weighted(amount, o.probability)?;
        let month = format!("{:04}-{:02}", o.close_date.year(), o.close_date.month());
        lines
            .entry((month.clone(), o.owner.clone(), o.stage, currency.clone()))
            .or_default()
            .add(amount, w)?;
        totals
            .entry((currency.clone(), String::new()))
            .or_default()
            .add(amount, w)?;
        // Stages keyed by their order in the pipeline, written back as names below.
        let order = Stage::ALL.iter().position(|s| *s == o.stage).unwrap_or(0);
        by_stage
            .entry((currency.clone(), order.to_string()))
            .or_default()
            .add(amount, w)?;
        by_month
            .entry((currency.clone(), month))
            .or_default()
            .add(amount, w)?;
        by_category
            .entry((currency, (o.stage.category() as u8).to_string()))
            .or_default()
            .add(amount, w)?;
    }
    let mut by_stage = sums(by_stage);
    for s in &mut by_stage {
        let i: usize = s.key.parse().unwrap_or(0);
        s.key = Stage::ALL[i.min(Stage::ALL.len() - 1)].as_str().to_owned();
    }
    let categories = [
        Category::Pipeline,
        Category::BestCase,
        Category::Commit,
        Category::Closed,
        Category::Omitted,
    ];
    let mut by_category = sums(by_category);
    for s in &mut by_category {
        let i: usize = s.key.parse().unwrap_or(0);
        s.key = categories[i.min(categories.len() - 1)].as_str().to_owned();
    }
    Ok(Forecast {
        currency: to.map(|(c, _)| c.to_owned()),
        as_of,
        lines: lines
            .into_iter()
            .map(|((month, owner, stage, currency), a)| ForecastLine {
                month,
                owner,
                stage,
                category: stage.category(),
                currency,
                count: a.count,
                amount: a.amount,
                weighted: a.weighted,
            })
            .collect(),
        totals: sums(totals),
        by_stage,
        by_month: sums(by_month),
        by_category,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::customers::MAX_MONEY;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn opp(id: i64, stage: Stage, amount: &str, currency: &str, p: u8, close: &str) -> Opportunity {
        let at = DateTime::parse_from_rfc3339("2026-12-07T08:00:00Z")
            .unwrap()
            .to_utc();
        Opportunity {
            id,
            customer: "C000001".into(),
            customer_name: "华强".into(),
            contact: None,
            contact_name: None,
            title: format!("deal {id}"),
            stage,
            amount: d(amount),
            currency: currency.into(),
            probability: p,
            weighted: weighted(d(amount), p).unwrap(),
            close_date: close.parse().unwrap(),
            owner: if id % 2 == 0 { "li" } else { "zhao" }.into(),
            lost_reason: String::new(),
            items: vec![],
            lead: None,
            version: 1,
            created_at: at,
            updated_at: at,
            closed_at: None,
            history: vec![],
        }
    }

    #[test]
    fn stages_are_data_with_their_probabilities() {
        let table: Vec<(&str, u8, bool, &str)> = Stage::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str(),
                    s.default_probability(),
                    s.is_closed(),
                    s.category().as_str(),
                )
            })
            .collect();
        assert_eq!(
            table,
            [
                ("qualification", 10, false, "pipeline"),
                ("needs_analysis", 25, false, "pipeline"),
                ("proposal", 50, false, "best_case"),
                ("negotiation", 75, false, "commit"),
                ("won", 100, true, "closed"),
                ("lost", 0, true, "omitted"),
            ]
        );
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        assert_eq!(Stage::parse("closed"), None);
    }

    #[test]
    fn stage_moves_follow_the_rules() {
        let m = |stage, version, reason: &str, probability, reopen| StageMove {
            stage,
            version,
            lost_reason: reason.into(),
            probability,
            reopen,
        };
        use Stage::*;
        // (from, version stored, move) -> outcome
        type Case = (Stage, StageMove, Result<(Stage, u8), &'static str>);
        let cases: Vec<Case> = vec![
            (
                Qualification,
                m(Proposal, 3, "", None, false),
                Ok((Proposal, 50)),
            ),
            (
                Proposal,
                m(Negotiation, 3, "", Some(60), false),
                Ok((Negotiation, 60)),
            ),
            (
                Proposal,
                m(Negotiation, 2, "", None, false),
                Err("at version 3, not 2"),
            ),
            (
                Proposal,
                m(Proposal, 3, "", None, false),
                Err("proposal already"),
            ),
            (
                Proposal,
                m(Lost, 3, "  ", None, false),
                Err("lost with the reason"),
            ),
            (Proposal, m(Lost, 3, "price", None, false), Ok((Lost, 0))),
            (
                Proposal,
                m(Won, 3, "", Some(90), false),
                Err("won is always 100"),
            ),
            (Proposal, m(Won, 3, "", None, false), Ok((Won, 100))),
            (
                Proposal,
                m(NeedsAnalysis, 3, "", Some(101), false),
                Err("101; expected 0 to 100"),
            ),
            (Won, m(Lost, 3, "x", None, false), Err("final")),
            (Won, m(Lost, 3, "x", None, true), Err("final")),
            (Lost, m(Negotiation, 3, "", None, false), Err("final")),
            (
                Lost,
                m(Negotiation, 3, "", None, true),
                Ok((Negotiation, 75)),
            ),
        ];
        for (from, mv, want) in cases {
            let got = move_stage(7, from, 3, &mv);
            match (got, want) {
                (Ok(moved), Ok((stage, p))) => {
                    assert_eq!(
                        (moved.stage, moved.probability),
                        (stage, p),
                        "{from:?} {mv:?}"
                    );
                    assert_eq!(moved.closes, stage.is_closed());
                    assert_eq!(moved.lost_reason.is_empty(), stage != Lost);
                }
                (Err(e), Err(said)) => {
                    assert!(e.to_string().contains(said), "{from:?} {mv:?}: {e}")
                }
                (got, want) => panic!("{from:?} {mv:?}: {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn weighted_amounts_are_cents_and_checked() {
        assert_eq!(weighted(d("1000.00"), 25).unwrap(), d("250.00"));
        assert_eq!(
            weighted(d("0.05"), 50).unwrap(),
            d("0.03"),
            "half away from zero"
        );
        assert_eq!(weighted(d("333.33"), 10).unwrap().to_string(), "33.33");
        assert_eq!(weighted(MAX_MONEY, 100).unwrap(), MAX_MONEY);
        assert!(weighted(Decimal::MAX, 100).is_err());
    }

    #[test]
    fn inputs_name_every_problem() {
        let lead = LeadInput {
            name: " ".into(),
            company: "x".into(),
            title: String::new(),
            phone: "abc".into(),
            email: "nope".into(),
            wechat: String::new(),
            source: LeadSource::TradeFair,
            status: Some(LeadStatus::Disqualified),
            reason: String::new(),
            note: String::new(),
            owner: None,
        };
        let said = lead.clone().checked().unwrap_err().join("\n");
        for want in ["name: empty", "phone:", "email:", "reason: empty"] {
            assert!(said.contains(want), "{want} not in {said}");
        }
        let qualified = LeadInput {
            name: "张伟".into(),
            phone: String::new(),
            email: String::new(),
            status: Some(LeadStatus::Qualified),
            ..lead
        };
        assert!(qualified.checked().unwrap_err()[0].contains("qualify"));
        assert!(lead_status_change(1, LeadStatus::Qualified, LeadStatus::New).is_err());
        assert!(lead_status_change(1, LeadStatus::Disqualified, LeadStatus::Contacted).is_ok());
        let o = OpportunityInput {
            customer: "C000001".into(),
            contact: None,
            title: "".into(),
            stage: Some(Stage::Won),
            amount: d("-1"),
            currency: Some("rmb".into()),
            probability: Some(120),
            close_date: "2027-01-31".parse().unwrap(),
            items: vec!["A".into(), "A".into(), " ".into()],
            owner: None,
            version: None,
        };
        let said = o.clone().checked().unwrap_err().join("\n");
        for want in [
            "title: empty",
            "amount: -1 is negative",
            "currency:",
            "probability: 120",
            "stage: won",
        ] {
            assert!(said.contains(want), "{want} not in {said}");
        }
        let ok = OpportunityInput {
            title: "press line".into(),
            stage: None,
            amount: MAX_MONEY,
            currency: None,
            probability: None,
            ..o
        }
        .checked()
        .unwrap();
        assert_eq!(ok.items, ["A"]);
        assert!(
            OpportunityInput {
                amount: MAX_MONEY + Decimal::ONE,
                ..ok
            }
            .checked()
            .is_err()
        );
    }

    #[test]
    fn the_forecast_adds_by_month_owner_and_stage_and_converts() {
        let opps = vec![
            opp(1, Stage::Qualification, "10000.00", "CNY", 10, "2027-01-15"),
            opp(2, Stage::Proposal, "20000.00", "CNY", 50, "2027-01-20"),
            opp(3, Stage::Negotiation, "1000.00", "USD", 75, "2027-02-01"),
            opp(4, Stage::Won, "5000.00", "CNY", 100, "2027-01-02"),
            opp(5, Stage::Lost, "99999.00", "CNY", 0, "2027-01-02"),
            opp(7, Stage::Qualification, "333.33", "CNY", 10, "2027-01-31"),
        ];
        let as_of: NaiveDate = "2026-12-07".parse().unwrap();
        let f = forecast(&opps, None, as_of).unwrap();
        let totals: Vec<(String, u64, String, String)> = f
            .totals
            .iter()
            .map(|s| {
                (
                    s.currency.clone(),
                    s.count,
                    s.amount.to_string(),
                    s.weighted.to_string(),
                )
            })
            .collect();
        assert_eq!(
            totals,
            [
                ("CNY".into(), 4, "35333.33".into(), "16033.33".into()),
                ("USD".into(), 1, "1000.00".into(), "750.00".into()),
            ]
        );
        let stages: Vec<(&str, &str)> = f
            .by_stage
            .iter()
            .filter(|s| s.currency == "CNY")
            .map(|s| (s.key.as_str(), s.currency.as_str()))
            .collect();
        assert_eq!(
            stages,
            [
                ("qualification", "CNY"),
                ("proposal", "CNY"),
                ("won", "CNY")
            ]
        );
        assert_eq!(f.lines.len(), 4, "1 and 7 are one line");
        assert_eq!(f.lines[0].month, "2027-01");
        let zhao_q = f
            .lines
            .iter()
            .find(|l| l.owner == "zhao" && l.stage == Stage::Qualification)
            .unwrap();
        assert_eq!((zhao_q.count, zhao_q.weighted), (2, d("1033.33")));
        let rates = vec![ExchangeRate {
            from: "USD".into(),
            to: "CNY".into(),
            rate: d("7.1"),
            valid_from: "2026-12-01".parse().unwrap(),
        }];
        let cny = forecast(&opps, Some(("CNY", &rates)), as_of).unwrap();
        assert_eq!(cny.totals.len(), 1);
        assert_eq!(cny.totals[0].amount, d("42433.33"));
        assert_eq!(cny.totals[0].weighted, d("21358.33"));
        let commit = cny.by_category.iter().find(|s| s.key == "commit").unwrap();
        assert_eq!(commit.weighted, d("5325.00"));
        let no_rate = forecast(&opps, Some(("EUR", &rates)), as_of).unwrap_err();
        assert!(
            no_rate
                .to_string()
                .contains("opportunity 1: no exchange rate from CNY to EUR")
        );
    }
}
