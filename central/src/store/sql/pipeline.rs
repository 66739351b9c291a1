//! [`PipelineStore`] on both engines: leads, opportunities and their stage history, new tables
//! made on open; the activities' `opportunity` column added to a store made before it
//! ([`add_columns`]). Changes by people are audited by the triggers like every other table.
//!
//! Amounts are stored as decimal text (two decimals) and the weighted amount is worked out
//! when read ([`crate::crm::pipeline::weighted`]), so it never disagrees with the amount and
//! probability beside it. Searching and scoping are [`super::crm`]'s.

use super::crm::{
    Params, bind, customer_by_name, customer_for_company, decimal, from_json, json, like, limit,
    matches_of, not_found, read_contact, read_customer, scoped, write_contact,
};
use super::db::{Connection, Transaction, TransactionBehavior, Value, params, params_from_iter};
use super::{SqlStore, StoreError, parse_ts, ts};
use crate::crm::customers::{ContactInput, ContactPhone, ContactSocial};
use crate::crm::pipeline::{
    Lead, LeadInput, LeadSource, LeadStatus, Opportunity, OpportunityInput, QualifyInput, Stage,
    StageChange, StageMove, lead_status_change, move_stage, weighted,
};
use crate::crm::scope::SalesScope;
use crate::store::crm::{CrmRefusal, CrmResult};
use crate::store::pipeline::{LeadQuery, MAX_FORECAST, OpportunityQuery, PipelineStore, Qualified};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS crm_leads (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    company     TEXT NOT NULL,
    title       TEXT NOT NULL,
    phone       TEXT NOT NULL,
    email       TEXT NOT NULL,
    wechat      TEXT NOT NULL,
    source      TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    note        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    customer    TEXT,
    contact     INTEGER,
    opportunity INTEGER,
    search      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS crm_leads_owner ON crm_leads (owner, id);
CREATE INDEX IF NOT EXISTS crm_leads_status ON crm_leads (status, id);
CREATE TABLE IF NOT EXISTS crm_opportunities (
    id          INTEGER PRIMARY KEY,
    customer    TEXT NOT NULL,
    contact     INTEGER,
    title       TEXT NOT NULL,
    stage       TEXT NOT NULL,
    amount      TEXT NOT NULL,
    currency    TEXT NOT NULL,
    probability INTEGER NOT NULL,
    close_date  TEXT NOT NULL,
    owner       TEXT NOT NULL,
    lost_reason TEXT NOT NULL,
    items       TEXT NOT NULL,
    lead        INTEGER,
    version     INTEGER NOT NULL,
    search      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    closed_at   TEXT
);
CREATE INDEX IF NOT EXISTS crm_opportunities_owner ON crm_opportunities (owner, id);
CREATE INDEX IF NOT EXISTS crm_opportunities_customer ON crm_opportunities (customer, id);
CREATE INDEX IF NOT EXISTS crm_opportunities_close ON crm_opportunities (close_date);
CREATE TABLE IF NOT EXISTS crm_opportunity_stages (
    id          INTEGER PRIMARY KEY,
    opportunity INTEGER NOT NULL,
    from_stage  TEXT,
    to_stage    TEXT NOT NULL,
    probability INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    moved_by    TEXT NOT NULL,
    moved_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS crm_opportunity_stages_opportunity ON crm_opportunity_stages (opportunity, id);
";

/// Columns added to tables older versions made; run on every open (cheap when present).
pub(super) fn add_columns(conn: &Connection) -> Result<(), StoreError> {
    if !super::stock::has_column(conn, "crm_activities", "opportunity")? {
        conn.execute_batch("ALTER TABLE crm_activities ADD COLUMN opportunity BIGINT")?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS crm_activities_opportunity ON crm_activities (opportunity, at)",
    )?;
    Ok(())
}

fn stage(text: &str) -> Result<Stage, StoreError> {
    Stage::parse(text).ok_or_else(|| StoreError::Corrupt(format!("stage {text:?}")))
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn money_text(d: Decimal) -> String {
    crate::crm::pricing::round_money(d).to_string()
}

fn conflict(what: String) -> CrmRefusal {
    CrmRefusal::Conflict(what)
}

const LEAD_COLUMNS: &str = "l.id, l.name, l.company, l.title, l.phone, l.email, l.wechat,
    l.source, l.status, l.reason, l.note, l.owner, l.customer, l.contact, l.opportunity,
    l.created_at, l.updated_at";

fn lead_row(r: &super::db::Row<'_>) -> Result<Lead, StoreError> {
    let source: String = r.get(7)?;
    let status: String = r.get(8)?;
    Ok(Lead {
        id: r.get(0)?,
        name: r.get(1)?,
        company: r.get(2)?,
        title: r.get(3)?,
        phone: r.get(4)?,
        email: r.get(5)?,
        wechat: r.get(6)?,
        source: LeadSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("lead source {source:?}")))?,
        status: LeadStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("lead status {status:?}")))?,
        reason: r.get(9)?,
        note: r.get(10)?,
        owner: r.get(11)?,
        customer: r.get(12)?,
        contact: r.get(13)?,
        opportunity: r.get(14)?,
        created_at: parse_ts(&r.get::<_, String>(15)?)?,
        updated_at: parse_ts(&r.get::<_, String>(16)?)?,
    })
}

fn read_lead(conn: &Connection, id: i64, scope: &SalesScope) -> Result<Option<Lead>, StoreError> {
    let mut params: Params = vec![Value::from(id)];
    let filter = scoped(scope, "l.owner", &mut params);
    let sql = format!("SELECT {LEAD_COLUMNS} FROM crm_leads l WHERE l.id = ?1{filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query_map(params_from_iter(params), |r| Ok(lead_row(r)))?;
    match rows.next() {
        Some(row) => Ok(Some(row??)),
        None => Ok(None),
    }
}

fn lead_search_text(l: &LeadInput) -> String {
    let digits: String = l.phone.chars().filter(char::is_ascii_digit).collect();
    [
        l.name.as_str(),
        &l.company,
        &l.title,
        &l.email,
        &digits,
        &l.wechat,
    ]
    .join("\u{1F}")
    .to_lowercase()
}

const OPPORTUNITY_COLUMNS: &str = "o.id, o.customer, o.contact, o.title, o.stage, o.amount,
    o.currency, o.probability, o.close_date, o.owner, o.lost_reason, o.items, o.lead, o.version,
    o.created_at, o.updated_at, o.closed_at,
    (SELECT CASE WHEN c.name_zh <> '' THEN c.name_zh ELSE c.name_en END FROM crm_customers c WHERE c.code = o.customer),
    (SELECT k.name FROM crm_contacts k WHERE k.id = o.contact)";

fn opportunity_row(r: &super::db::Row<'_>) -> Result<Opportunity, StoreError> {
    let amount = decimal(&r.get::<_, String>(5)?)?;
    let probability = u8::try_from(r.get::<_, i64>(7)?)
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| StoreError::Corrupt("probability outside 0 to 100".into()))?;
    let close: String = r.get(8)?;
    let closed_at: Option<String> = r.get(16)?;
    Ok(Opportunity {
        id: r.get(0)?,
        customer: r.get(1)?,
        contact: r.get(2)?,
        title: r.get(3)?,
        stage: stage(&r.get::<_, String>(4)?)?,
        weighted: weighted(amount, probability)
            .map_err(|e| StoreError::Corrupt(format!("opportunity amount: {e}")))?,
        amount,
        currency: r.get(6)?,
        probability,
        close_date: NaiveDate::parse_from_str(&close, "%Y-%m-%d")
            .map_err(|e| StoreError::Corrupt(format!("close date {close:?}: {e}")))?,
        owner: r.get(9)?,
        lost_reason: r.get(10)?,
        items: from_json(&r.get::<_, String>(11)?)?,
        lead: r.get(12)?,
        version: r.get(13)?,
        created_at: parse_ts(&r.get::<_, String>(14)?)?,
        updated_at: parse_ts(&r.get::<_, String>(15)?)?,
        closed_at: closed_at.as_deref().map(parse_ts).transpose()?,
        customer_name: r.get::<_, Option<String>>(17)?.unwrap_or_default(),
        contact_name: r.get(18)?,
        history: Vec::new(),
    })
}

fn read_opportunity(
    conn: &Connection,
    id: i64,
    scope: &SalesScope,
) -> Result<Option<Opportunity>, StoreError> {
    let mut params: Params = vec![Value::from(id)];
    let filter = scoped(scope, "o.owner", &mut params);
    let sql =
        format!("SELECT {OPPORTUNITY_COLUMNS} FROM crm_opportunities o WHERE o.id = ?1{filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query_map(params_from_iter(params), |r| Ok(opportunity_row(r)))?;
    match rows.next() {
        Some(row) => Ok(Some(row??)),
        None => Ok(None),
    }
}

/// The customer of opportunity `id` when it is in `scope` (an activity on it).
pub(super) fn opportunity_customer(
    conn: &Connection,
    id: i64,
    scope: &SalesScope,
) -> Result<Option<String>, StoreError> {
    Ok(read_opportunity(conn, id, scope)?.map(|o| o.customer))
}

fn history(conn: &Connection, id: i64) -> Result<Vec<StageChange>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT from_stage, to_stage, probability, moved_by, moved_at, reason
         FROM crm_opportunity_stages WHERE opportunity = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![id], |r| {
        Ok((|| -> Result<StageChange, StoreError> {
            let from: Option<String> = r.get(0)?;
            Ok(StageChange {
                from: from.as_deref().map(stage).transpose()?,
                to: stage(&r.get::<_, String>(1)?)?,
                probability: u8::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                by: r.get(3)?,
                at: parse_ts(&r.get::<_, String>(4)?)?,
                reason: r.get(5)?,
            })
        })())
    })?;
    rows.map(|r| r?).collect()
}

#[allow(clippy::too_many_arguments)]
fn write_history(
    tx: &Transaction<'_>,
    id: i64,
    from: Option<Stage>,
    to: Stage,
    probability: u8,
    reason: &str,
    by: &str,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO crm_opportunity_stages (opportunity, from_stage, to_stage, probability,
             reason, moved_by, moved_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        from.map(Stage::as_str),
        to.as_str(),
        i64::from(probability),
        reason,
        by,
        now
    ])?;
    Ok(())
}

/// What a new opportunity is made of, checked against the store.
struct NewOpportunity<'a> {
    customer: &'a str,
    contact: Option<i64>,
    title: &'a str,
    stage: Stage,
    amount: Decimal,
    currency: &'a str,
    probability: u8,
    close_date: NaiveDate,
    items: &'a [String],
    owner: &'a str,
    lead: Option<i64>,
}

fn insert_opportunity(
    tx: &Transaction<'_>,
    o: &NewOpportunity<'_>,
    by: &str,
    now: &str,
) -> Result<i64, StoreError> {
    let search = format!("{}\u{1F}{}", o.title, o.customer).to_lowercase();
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO crm_opportunities (customer, contact, title, stage, amount, currency,
                 probability, close_date, owner, lost_reason, items, lead, version, search,
                 created_at, updated_at, closed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '', ?10, ?11, 1, ?12, ?13, ?13, NULL)
             RETURNING id",
        )?
        .query_row(
            params![
                o.customer,
                o.contact,
                o.title,
                o.stage.as_str(),
                money_text(o.amount),
                o.currency,
                i64::from(o.probability),
                day(o.close_date),
                o.owner,
                json(&o.items)?,
                o.lead,
                search,
                now
            ],
            |r| r.get(0),
        )?;
    write_history(tx, id, None, o.stage, o.probability, "", by, now)?;
    Ok(id)
}

fn read_back(conn: &Connection, id: i64) -> Result<Opportunity, StoreError> {
    let mut o = read_opportunity(conn, id, &SalesScope::All)?
        .ok_or_else(|| StoreError::Corrupt(format!("opportunity {id} vanished")))?;
    o.history = history(conn, id)?;
    Ok(o)
}

/// A phone's kind on a contact made from a lead: a Chinese mobile number is `mobile`.
fn phone_kind(number: &str) -> &'static str {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let national = digits.strip_prefix("86").unwrap_or(&digits);
    if national.len() == 11 && national.starts_with('1') {
        "mobile"
    } else {
        "work"
    }
}

#[async_trait]
impl PipelineStore for SqlStore {
    async fn leads(&self, query: LeadQuery, scope: SalesScope) -> Result<Vec<Lead>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql = format!("SELECT {LEAD_COLUMNS} FROM crm_leads l WHERE 1 = 1");
            if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
                let p = bind(&mut params, like(search));
                sql.push_str(&format!(" AND l.search LIKE {p} ESCAPE '!'"));
            }
            if let Some(status) = query.status {
                let p = bind(&mut params, status.as_str());
                sql.push_str(&format!(" AND l.status = {p}"));
            }
            if let Some(source) = query.source {
                let p = bind(&mut params, source.as_str());
                sql.push_str(&format!(" AND l.source = {p}"));
            }
            if let Some(owner) = query.owner {
                let p = bind(&mut params, owner);
                sql.push_str(&format!(" AND l.owner = {p}"));
            }
            if let Some(after) = query.after {
                let p = bind(&mut params, after);
                sql.push_str(&format!(" AND l.id > {p}"));
            }
            sql.push_str(&scoped(&scope, "l.owner", &mut params));
            let p = bind(&mut params, limit(query.limit));
            sql.push_str(&format!(" ORDER BY l.id LIMIT {p}"));
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| Ok(lead_row(r)))?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn lead(&self, id: i64, scope: SalesScope) -> Result<Option<Lead>, StoreError> {
        self.read(move |conn| read_lead(conn, id, &scope)).await
    }

    async fn put_lead(
        &self,
        id: Option<i64>,
        input: LeadInput,
        owner: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Lead> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(now);
            let search = lead_search_text(&input);
            let status = match id {
                None => input.status.unwrap_or(LeadStatus::New),
                Some(id) => {
                    let Some(stored) = read_lead(&tx, id, &scope)? else {
                        return Ok(Err(not_found(format!("no lead {id}"))));
                    };
                    let to = input.status.unwrap_or(stored.status);
                    if let Err(e) = lead_status_change(id, stored.status, to) {
                        return Ok(Err(conflict(e)));
                    }
                    if to == LeadStatus::Disqualified && input.reason.is_empty() {
                        return Ok(Err(conflict(format!(
                            "lead {id}: reason empty; a disqualified lead needs the reason"
                        ))));
                    }
                    to
                }
            };
            let reason = if status == LeadStatus::Disqualified {
                input.reason.clone()
            } else {
                String::new()
            };
            let id = match id {
                None => tx
                    .prepare_cached(
                        "INSERT INTO crm_leads (name, company, title, phone, email, wechat, source,
                             status, reason, note, owner, search, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
                         RETURNING id",
                    )?
                    .query_row(
                        params![
                            input.name,
                            input.company,
                            input.title,
                            input.phone,
                            input.email,
                            input.wechat,
                            input.source.as_str(),
                            status.as_str(),
                            reason,
                            input.note,
                            owner,
                            search,
                            now
                        ],
                        |r| r.get(0),
                    )?,
                Some(id) => {
                    tx.prepare_cached(
                        "UPDATE crm_leads SET name = ?2, company = ?3, title = ?4, phone = ?5,
                             email = ?6, wechat = ?7, source = ?8, status = ?9, reason = ?10,
                             note = ?11, owner = ?12, search = ?13, updated_at = ?14
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        id,
                        input.name,
                        input.company,
                        input.title,
                        input.phone,
                        input.email,
                        input.wechat,
                        input.source.as_str(),
                        status.as_str(),
                        reason,
                        input.note,
                        owner,
                        search,
                        now
                    ])?;
                    id
                }
            };
            let value = read_lead(&tx, id, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("lead {id} vanished")))?;
            tx.commit()?;
            Ok(Ok(value))
        })
        .await
    }

    async fn qualify_lead(
        &self,
        id: i64,
        input: QualifyInput,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Qualified> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(now);
            let Some(lead) = read_lead(&tx, id, &scope)? else {
                return Ok(Err(not_found(format!("no lead {id}"))));
            };
            if lead.status == LeadStatus::Qualified {
                return Ok(Err(conflict(format!(
                    "lead {id} is qualified already (opportunity {})",
                    lead.opportunity.unwrap_or_default()
                ))));
            }
            // The customer: named, found by the company's name, or made.
            let (code, customer_created) = match &input.customer {
                Some(code) => {
                    if read_customer(&tx, code, &scope)?.is_none() {
                        return Ok(Err(not_found(format!("no customer {code:?}"))));
                    }
                    (code.clone(), false)
                }
                None if lead.company.is_empty() => {
                    return Ok(Err(conflict(format!(
                        "lead {id} has no company; expected its company or a customer's code"
                    ))));
                }
                None => match customer_by_name(&tx, &lead.company)? {
                    Some((code, _)) => (code, false),
                    None => (
                        customer_for_company(
                            &tx,
                            &lead.company,
                            Vec::new(),
                            &lead.owner,
                            &now,
                            None,
                        )?,
                        true,
                    ),
                },
            };
            let customer = read_customer(&tx, &code, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("customer {code:?} vanished")))?;
            // The contact: one at the customer sharing an e-mail address or a phone number,
            // else a new one.
            let contact_input = ContactInput {
                customer: Some(code.clone()),
                name: lead.name.clone(),
                title: lead.title.clone(),
                department: String::new(),
                phones: (!lead.phone.is_empty())
                    .then(|| ContactPhone {
                        kind: phone_kind(&lead.phone).into(),
                        number: lead.phone.clone(),
                    })
                    .into_iter()
                    .collect(),
                emails: (!lead.email.is_empty())
                    .then(|| lead.email.clone())
                    .into_iter()
                    .collect(),
                social: (!lead.wechat.is_empty())
                    .then(|| ContactSocial {
                        network: "wechat".into(),
                        handle: lead.wechat.clone(),
                    })
                    .into_iter()
                    .collect(),
                note: lead.note.clone(),
                tags: Vec::new(),
                owner: Some(lead.owner.clone()),
            };
            let mut contact = None;
            for m in matches_of(&tx, &contact_input, None)? {
                if let Some(c) = read_contact(&tx, m.contact, &SalesScope::All)?
                    && c.customer.as_deref() == Some(code.as_str())
                {
                    contact = Some(c.id);
                    break;
                }
            }
            let contact = match contact {
                Some(c) => c,
                None => write_contact(&tx, None, &contact_input, &lead.owner, "lead", &now)?,
            };
            let stage = input.stage.unwrap_or(Stage::Qualification);
            let title = if input.title.is_empty() {
                format!("{}: {}", customer.name_in("zh"), lead.name)
            } else {
                input.title.clone()
            };
            let opportunity = insert_opportunity(
                &tx,
                &NewOpportunity {
                    customer: &code,
                    contact: Some(contact),
                    title: &title,
                    stage,
                    amount: input.amount,
                    currency: input.currency.as_deref().unwrap_or(&customer.currency),
                    probability: input
                        .probability
                        .unwrap_or_else(|| stage.default_probability()),
                    close_date: input.close_date,
                    items: &input.items,
                    owner: &lead.owner,
                    lead: Some(id),
                },
                &by,
                &now,
            )?;
            tx.prepare_cached(
                "UPDATE crm_leads SET status = 'qualified', reason = '', customer = ?2,
                     contact = ?3, opportunity = ?4, updated_at = ?5
                 WHERE id = ?1",
            )?
            .execute(params![id, code, contact, opportunity, now])?;
            let lead = read_lead(&tx, id, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("lead {id} vanished")))?;
            let opportunity = read_back(&tx, opportunity)?;
            tx.commit()?;
            Ok(Ok(Qualified {
                lead,
                opportunity,
                customer: code,
                customer_created,
                contact,
            }))
        })
        .await
    }

    async fn opportunities(
        &self,
        query: OpportunityQuery,
        scope: SalesScope,
    ) -> Result<Vec<Opportunity>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql =
                format!("SELECT {OPPORTUNITY_COLUMNS} FROM crm_opportunities o WHERE 1 = 1");
            if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
                let p = bind(&mut params, like(search));
                sql.push_str(&format!(
                    " AND (o.search LIKE {p} ESCAPE '!' OR EXISTS (SELECT 1 FROM crm_customers c
                       WHERE c.code = o.customer AND c.search LIKE {p} ESCAPE '!'))"
                ));
            }
            if let Some(stage) = query.stage {
                let p = bind(&mut params, stage.as_str());
                sql.push_str(&format!(" AND o.stage = {p}"));
            }
            if query.not_lost {
                sql.push_str(" AND o.stage <> 'lost'");
            }
            if let Some(owner) = query.owner {
                let p = bind(&mut params, owner);
                sql.push_str(&format!(" AND o.owner = {p}"));
            }
            if let Some(customer) = query.customer {
                let p = bind(&mut params, customer);
                sql.push_str(&format!(" AND o.customer = {p}"));
            }
            if let Some(from) = query.close_from {
                let p = bind(&mut params, day(from));
                sql.push_str(&format!(" AND o.close_date >= {p}"));
            }
            if let Some(to) = query.close_to {
                let p = bind(&mut params, day(to));
                sql.push_str(&format!(" AND o.close_date <= {p}"));
            }
            if let Some(after) = query.after {
                let p = bind(&mut params, after);
                sql.push_str(&format!(" AND o.id > {p}"));
            }
            sql.push_str(&scoped(&scope, "o.owner", &mut params));
            let n = i64::try_from(query.limit.clamp(1, MAX_FORECAST)).unwrap_or(50);
            let p = bind(&mut params, n);
            sql.push_str(&format!(" ORDER BY o.id LIMIT {p}"));
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| Ok(opportunity_row(r)))?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn opportunity(
        &self,
        id: i64,
        scope: SalesScope,
    ) -> Result<Option<Opportunity>, StoreError> {
        self.read(move |conn| {
            let Some(mut o) = read_opportunity(conn, id, &scope)? else {
                return Ok(None);
            };
            o.history = history(conn, id)?;
            Ok(Some(o))
        })
        .await
    }

    async fn put_opportunity(
        &self,
        id: Option<i64>,
        input: OpportunityInput,
        owner: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Opportunity> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(now);
            let stored = match id {
                None => None,
                Some(id) => match read_opportunity(&tx, id, &scope)? {
                    Some(o) => Some(o),
                    None => return Ok(Err(not_found(format!("no opportunity {id}")))),
                },
            };
            if let (Some(o), Some(sent)) = (&stored, input.version)
                && o.version != sent
            {
                return Ok(Err(conflict(format!(
                    "opportunity {} is at version {}, not {sent}: someone changed it meanwhile; expected the current version (load it again)",
                    o.id, o.version
                ))));
            }
            // The customer may stay one outside the scope (a lead joined someone else's).
            let keeps_customer = stored.as_ref().is_some_and(|o| o.customer == input.customer);
            let customer = if keeps_customer {
                read_customer(&tx, &input.customer, &SalesScope::All)?
            } else {
                read_customer(&tx, &input.customer, &scope)?
            };
            let Some(customer) = customer else {
                return Ok(Err(not_found(format!("no customer {:?}", input.customer))));
            };
            if let Some(c) = input.contact {
                let Some(contact) = read_contact(&tx, c, &SalesScope::All)? else {
                    return Ok(Err(not_found(format!("no contact {c}"))));
                };
                if contact.customer.as_deref() != Some(customer.code.as_str()) {
                    return Ok(Err(conflict(format!(
                        "contact {c} is not at customer {}",
                        customer.code
                    ))));
                }
            }
            let currency = input
                .currency
                .clone()
                .unwrap_or_else(|| customer.currency.clone());
            let id = match stored {
                None => {
                    let stage = input.stage.unwrap_or(Stage::Qualification);
                    insert_opportunity(
                        &tx,
                        &NewOpportunity {
                            customer: &customer.code,
                            contact: input.contact,
                            title: &input.title,
                            stage,
                            amount: input.amount,
                            currency: &currency,
                            probability: input
                                .probability
                                .unwrap_or_else(|| stage.default_probability()),
                            close_date: input.close_date,
                            items: &input.items,
                            owner: &owner,
                            lead: None,
                        },
                        &by,
                        &now,
                    )?
                }
                Some(o) => {
                    if input.stage.is_some_and(|s| s != o.stage) {
                        return Ok(Err(conflict(format!(
                            "opportunity {}: its stage changes by post /api/v1/opportunities/{}/stage",
                            o.id, o.id
                        ))));
                    }
                    let probability = match (o.stage, input.probability) {
                        (Stage::Won | Stage::Lost, Some(p)) if p != o.probability => {
                            return Ok(Err(conflict(format!(
                                "opportunity {} is {}: its probability is {}",
                                o.id,
                                o.stage.as_str(),
                                o.probability
                            ))));
                        }
                        (_, Some(p)) => p,
                        (_, None) => o.probability,
                    };
                    let search = format!("{}\u{1F}{}", input.title, customer.code).to_lowercase();
                    tx.prepare_cached(
                        "UPDATE crm_opportunities SET customer = ?2, contact = ?3, title = ?4,
                             amount = ?5, currency = ?6, probability = ?7, close_date = ?8,
                             owner = ?9, items = ?10, search = ?11, updated_at = ?12,
                             version = version + 1
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        o.id,
                        customer.code,
                        input.contact,
                        input.title,
                        money_text(input.amount),
                        currency,
                        i64::from(probability),
                        day(input.close_date),
                        owner,
                        json(&input.items)?,
                        search,
                        now
                    ])?;
                    o.id
                }
            };
            let value = read_back(&tx, id)?;
            tx.commit()?;
            Ok(Ok(value))
        })
        .await
    }

    async fn move_stage(
        &self,
        id: i64,
        stage_move: StageMove,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Opportunity> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(now);
            let Some(o) = read_opportunity(&tx, id, &scope)? else {
                return Ok(Err(not_found(format!("no opportunity {id}"))));
            };
            let moved = match move_stage(id, o.stage, o.version, &stage_move) {
                Ok(m) => m,
                Err(e) => return Ok(Err(conflict(e.to_string()))),
            };
            // Compared again in the statement: the version read is the one changed.
            let changed = tx
                .prepare_cached(
                    "UPDATE crm_opportunities SET stage = ?2, probability = ?3, lost_reason = ?4,
                         closed_at = ?5, updated_at = ?6, version = version + 1
                     WHERE id = ?1 AND version = ?7",
                )?
                .execute(params![
                    id,
                    moved.stage.as_str(),
                    i64::from(moved.probability),
                    moved.lost_reason,
                    moved.closes.then(|| now.clone()),
                    now,
                    o.version
                ])?;
            if changed != 1 {
                return Ok(Err(conflict(format!(
                    "opportunity {id} changed meanwhile; expected the current version (load it again)"
                ))));
            }
            write_history(
                &tx,
                id,
                Some(o.stage),
                moved.stage,
                moved.probability,
                &moved.lost_reason,
                &by,
                &now,
            )?;
            let value = read_back(&tx, id)?;
            tx.commit()?;
            Ok(Ok(value))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chinese_mobile_is_a_mobile() {
        assert_eq!(phone_kind("+86 138 0013 8000"), "mobile");
        assert_eq!(phone_kind("13800138000"), "mobile");
        assert_eq!(phone_kind("0755 8888 1234"), "work");
    }
}
