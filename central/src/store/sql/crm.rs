//! [`CrmStore`] on both engines: customers, contacts with the keys duplicates are found by
//! (`crm_contact_keys`: an e-mail's and a phone's [`crate::crm::dedupe`] key per contact),
//! duplicates waiting for a person, activities. New tables made on open; changes by people
//! are audited by the triggers like every other table.
//!
//! Searching reads `search`, a lowercase text of what a record is found by, written with the
//! record, with `LIKE '%...%'` (the same on both engines; 100k customers are scanned within
//! the figure in BENCHMARKS.md). Lists are in key order with an `after` key for the next page.

use super::db::{
    Connection, OptionalExtension, Transaction, TransactionBehavior, Value, params,
    params_from_iter,
};
use super::{SqlStore, StoreError, parse_ts, ts};
use crate::crm::customers::{
    Activity, ActivityInput, ActivityKind, Address, Contact, ContactInput, Customer, CustomerInput,
    generated_code,
};
use crate::crm::dedupe::{company_key, email_key, phone_key};
use crate::crm::scope::SalesScope;
use crate::store::crm::{
    ActivityQuery, ContactQuery, CrmRefusal, CrmResult, CrmStore, CustomerCounts, CustomerMatched,
    CustomerQuery, Duplicate, ImportCard, ImportOutcome, MAX_LIST, Match, Resolution,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS crm_customers (
    code           TEXT PRIMARY KEY,
    name_zh        TEXT NOT NULL,
    name_en        TEXT NOT NULL,
    key_zh         TEXT NOT NULL,
    key_en         TEXT NOT NULL,
    search         TEXT NOT NULL,
    industry       TEXT NOT NULL,
    region         TEXT NOT NULL,
    addresses      TEXT NOT NULL,
    tax_id         TEXT NOT NULL,
    currency       TEXT NOT NULL,
    payment_terms  TEXT NOT NULL,
    credit_limit   TEXT,
    customer_group TEXT NOT NULL,
    tags           TEXT NOT NULL,
    owner          TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS crm_customers_owner ON crm_customers (owner, code);
CREATE INDEX IF NOT EXISTS crm_customers_key_zh ON crm_customers (key_zh);
CREATE INDEX IF NOT EXISTS crm_customers_key_en ON crm_customers (key_en);
CREATE TABLE IF NOT EXISTS crm_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS crm_contacts (
    id         INTEGER PRIMARY KEY,
    customer   TEXT,
    name       TEXT NOT NULL,
    title      TEXT NOT NULL,
    department TEXT NOT NULL,
    phones     TEXT NOT NULL,
    emails     TEXT NOT NULL,
    social     TEXT NOT NULL,
    note       TEXT NOT NULL,
    tags       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    source     TEXT NOT NULL,
    search     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS crm_contacts_customer ON crm_contacts (customer, id);
CREATE INDEX IF NOT EXISTS crm_contacts_owner ON crm_contacts (owner, id);
CREATE TABLE IF NOT EXISTS crm_contact_keys (
    kind      TEXT NOT NULL,
    value_key TEXT NOT NULL,
    contact   INTEGER NOT NULL,
    PRIMARY KEY (kind, value_key, contact)
);
CREATE INDEX IF NOT EXISTS crm_contact_keys_contact ON crm_contact_keys (contact);
CREATE TABLE IF NOT EXISTS crm_duplicates (
    id          INTEGER PRIMARY KEY,
    contact     TEXT NOT NULL,
    company     TEXT,
    source      TEXT NOT NULL,
    matches     TEXT NOT NULL,
    owner       TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    resolved_by TEXT,
    resolved_at TEXT,
    result      INTEGER
);
CREATE INDEX IF NOT EXISTS crm_duplicates_status ON crm_duplicates (status, id);
CREATE TABLE IF NOT EXISTS crm_activities (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    customer   TEXT,
    contact    INTEGER,
    opportunity INTEGER,
    at         TEXT NOT NULL,
    due        TEXT,
    done_at    TEXT,
    owner      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS crm_activities_customer ON crm_activities (customer, at);
CREATE INDEX IF NOT EXISTS crm_activities_contact ON crm_activities (contact, at);
CREATE INDEX IF NOT EXISTS crm_activities_open ON crm_activities (owner, due) WHERE done_at IS NULL AND due IS NOT NULL;
";

pub(super) type Params = Vec<Value<'static>>;

/// ` AND column IN (?n, ...)` for a scope of owners (nothing for all), its values pushed.
pub(super) fn scoped(scope: &SalesScope, column: &str, params: &mut Params) -> String {
    match scope.owners() {
        None => String::new(),
        Some(owners) if owners.is_empty() => " AND 1 = 0".into(),
        Some(owners) => {
            let marks: Vec<String> = owners
                .into_iter()
                .map(|o| {
                    params.push(Value::from(o));
                    format!("?{}", params.len())
                })
                .collect();
            format!(" AND {column} IN ({})", marks.join(", "))
        }
    }
}

/// `?n` for a new parameter.
pub(super) fn bind(params: &mut Params, value: impl Into<Value<'static>>) -> String {
    params.push(value.into());
    format!("?{}", params.len())
}

/// A `LIKE` pattern finding `text` anywhere (lowercase; `%`, `_` and `!` escaped with `!`).
pub(super) fn like(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    Ok(serde_json::to_string(value)?)
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(text)?)
}

pub(super) fn decimal(text: &str) -> Result<Decimal, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("amount {text:?}: {e}")))
}

pub(super) fn date(text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| StoreError::Corrupt(format!("date {text:?}: {e}")))
}

pub(super) fn limit(n: usize) -> i64 {
    i64::try_from(n.clamp(1, MAX_LIST)).unwrap_or(50)
}

const CUSTOMER_COLUMNS: &str =
    "c.code, c.name_zh, c.name_en, c.industry, c.region, c.addresses, c.tax_id,
    c.currency, c.payment_terms, c.credit_limit, c.customer_group, c.tags, c.owner, c.created_at,
    c.updated_at, (SELECT COUNT(*) FROM crm_contacts k WHERE k.customer = c.code)";

/// ` AND ...` for a customer search and tag (and its owner, with `with_owner`).
fn customer_filter(
    query: &CustomerQuery,
    with_owner: bool,
    params: &mut Params,
) -> Result<String, StoreError> {
    let mut sql = String::new();
    if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
        let p = bind(params, like(search));
        sql.push_str(&format!(" AND c.search LIKE {p} ESCAPE '!'"));
    }
    if with_owner && let Some(owner) = &query.owner {
        let p = bind(params, owner.clone());
        sql.push_str(&format!(" AND c.owner = {p}"));
    }
    if let Some(tag) = &query.tag {
        let p = bind(params, like(&json(tag)?));
        sql.push_str(&format!(" AND lower(c.tags) LIKE {p} ESCAPE '!'"));
    }
    Ok(sql)
}

fn customer_row(r: &super::db::Row<'_>) -> Result<Customer, StoreError> {
    let limit: Option<String> = r.get(9)?;
    Ok(Customer {
        code: r.get(0)?,
        name_zh: r.get(1)?,
        name_en: r.get(2)?,
        industry: r.get(3)?,
        region: r.get(4)?,
        addresses: from_json::<Vec<Address>>(&r.get::<_, String>(5)?)?,
        tax_id: r.get(6)?,
        currency: r.get(7)?,
        payment_terms: r.get(8)?,
        credit_limit: limit.as_deref().map(decimal).transpose()?,
        customer_group: r.get(10)?,
        tags: from_json(&r.get::<_, String>(11)?)?,
        owner: r.get(12)?,
        created_at: parse_ts(&r.get::<_, String>(13)?)?,
        updated_at: parse_ts(&r.get::<_, String>(14)?)?,
        contacts: u64::try_from(r.get::<_, i64>(15)?).unwrap_or(0),
    })
}

pub(super) fn read_customer(
    conn: &Connection,
    code: &str,
    scope: &SalesScope,
) -> Result<Option<Customer>, StoreError> {
    let mut params: Params = vec![Value::from(code.to_owned())];
    let filter = scoped(scope, "c.owner", &mut params);
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM crm_customers c WHERE c.code = ?1{filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(params), |r| Ok(customer_row(r)))?;
    let mut rows = rows;
    match rows.next() {
        Some(row) => Ok(Some(row??)),
        None => Ok(None),
    }
}

fn customer_search_text(code: &str, c: &CustomerInput) -> String {
    [
        code,
        &c.name_zh,
        &c.name_en,
        &c.tax_id,
        &c.region,
        &c.industry,
        &c.tags.join(" "),
    ]
    .join("\u{1F}")
    .to_lowercase()
}

/// The next value of the counter `name` in `crm_counters` (1 the first time).
pub(super) fn next_counter(conn: &Connection, name: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "INSERT INTO crm_counters (name, value) VALUES (?1, 1)
         ON CONFLICT (name) DO UPDATE SET value = crm_counters.value + 1 RETURNING value",
        params![name],
        |r| r.get(0),
    )?)
}

/// The next number of the counter `name`, as `write` makes it, that `taken` (a query with the
/// number as `?1`) does not find: a number written by hand or imported before the counter
/// reached it is skipped. `None` after 1000 taken numbers in a row.
pub(super) fn next_free(
    conn: &Connection,
    name: &str,
    taken: &str,
    write: impl Fn(i64) -> String,
) -> Result<Option<String>, StoreError> {
    for _ in 0..1000 {
        let number = write(next_counter(conn, name)?);
        if !conn.prepare_cached(taken)?.exists(params![&number])? {
            return Ok(Some(number));
        }
    }
    Ok(None)
}

/// The next free generated code.
pub(super) fn next_code(tx: &Transaction<'_>) -> Result<String, StoreError> {
    next_free(
        tx,
        "customer",
        "SELECT 1 FROM crm_customers WHERE code = ?1",
        |n| generated_code(u64::try_from(n).unwrap_or(0)),
    )?
    .ok_or_else(|| {
        StoreError::Conflict("no free customer code in 1000 tries; give the customer a code".into())
    })
}

pub(super) fn write_customer(
    tx: &Transaction<'_>,
    code: &str,
    c: &CustomerInput,
    owner: &str,
    now: &str,
    create: bool,
) -> Result<(), StoreError> {
    let (key_zh, key_en) = (company_key(&c.name_zh), company_key(&c.name_en));
    let search = customer_search_text(code, c);
    let addresses = json(&c.addresses)?;
    let limit = c.credit_limit.map(|d| d.normalize().to_string());
    let tags = json(&c.tags)?;
    let sql = if create {
        "INSERT INTO crm_customers (code, name_zh, name_en, key_zh, key_en, search, industry,
             region, addresses, tax_id, currency, payment_terms, credit_limit, customer_group,
             tags, owner, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17)"
    } else {
        "UPDATE crm_customers SET name_zh = ?2, name_en = ?3, key_zh = ?4, key_en = ?5,
             search = ?6, industry = ?7, region = ?8, addresses = ?9, tax_id = ?10,
             currency = ?11, payment_terms = ?12, credit_limit = ?13, customer_group = ?14,
             tags = ?15, owner = ?16, updated_at = ?17
         WHERE code = ?1"
    };
    tx.prepare_cached(sql)?.execute(params![
        code,
        c.name_zh,
        c.name_en,
        key_zh,
        key_en,
        search,
        c.industry,
        c.region,
        addresses,
        c.tax_id,
        c.currency,
        c.payment_terms,
        limit,
        c.customer_group,
        tags,
        owner,
        now
    ])?;
    Ok(())
}

/// The customer whose Chinese or English name is written as `company` is (lowest code first).
pub(super) fn customer_by_name(
    tx: &Connection,
    company: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let key = company_key(company);
    if key.is_empty() {
        return Ok(None);
    }
    Ok(tx
        .prepare_cached(
            "SELECT code, owner FROM crm_customers WHERE key_zh = ?1 OR key_en = ?1 ORDER BY code LIMIT 1",
        )?
        .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| u32::from(c) >= 0x2E80)
}

/// The customer a card's company is: found by its name, else made (owned by `owner`).
pub(super) fn customer_for_company(
    tx: &Transaction<'_>,
    company: &str,
    addresses: Vec<Address>,
    owner: &str,
    now: &str,
    outcome: Option<(&mut ImportOutcome, &str)>,
) -> Result<String, StoreError> {
    if let Some((code, _)) = customer_by_name(tx, company)? {
        if let Some((outcome, source)) = outcome
            && !outcome.customers_created.contains(&code)
        {
            outcome.customers_matched.push(CustomerMatched {
                source: source.to_owned(),
                company: company.to_owned(),
                customer: code.clone(),
            });
        }
        return Ok(code);
    }
    let input = CustomerInput {
        name_zh: if has_cjk(company) {
            company.to_owned()
        } else {
            String::new()
        },
        name_en: if has_cjk(company) {
            String::new()
        } else {
            company.to_owned()
        },
        addresses,
        ..CustomerInput::default()
    }
    .checked()
    .map_err(|p| StoreError::Conflict(p.join("; ")))?;
    let code = next_code(tx)?;
    write_customer(tx, &code, &input, owner, now, true)?;
    if let Some((outcome, _)) = outcome {
        outcome.customers_created.push(code.clone());
    }
    Ok(code)
}

const CONTACT_COLUMNS: &str = "k.id, k.customer, k.name, k.title, k.department, k.phones, k.emails,
    k.social, k.note, k.tags, k.owner, k.source, k.created_at, k.updated_at";

fn contact_row(r: &super::db::Row<'_>) -> Result<Contact, StoreError> {
    Ok(Contact {
        id: r.get(0)?,
        customer: r.get(1)?,
        name: r.get(2)?,
        title: r.get(3)?,
        department: r.get(4)?,
        phones: from_json(&r.get::<_, String>(5)?)?,
        emails: from_json(&r.get::<_, String>(6)?)?,
        social: from_json(&r.get::<_, String>(7)?)?,
        note: r.get(8)?,
        tags: from_json(&r.get::<_, String>(9)?)?,
        owner: r.get(10)?,
        source: r.get(11)?,
        created_at: parse_ts(&r.get::<_, String>(12)?)?,
        updated_at: parse_ts(&r.get::<_, String>(13)?)?,
    })
}

pub(super) fn read_contact(
    conn: &Connection,
    id: i64,
    scope: &SalesScope,
) -> Result<Option<Contact>, StoreError> {
    let mut params: Params = vec![Value::from(id)];
    let filter = scoped(scope, "k.owner", &mut params);
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM crm_contacts k WHERE k.id = ?1{filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(params), |r| Ok(contact_row(r)))?;
    let mut rows = rows;
    match rows.next() {
        Some(row) => Ok(Some(row??)),
        None => Ok(None),
    }
}

/// The keys a contact is found by as a duplicate.
fn contact_keys(c: &ContactInput) -> Vec<(&'static str, String, String)> {
    let mut keys: Vec<(&'static str, String, String)> = Vec::new();
    for e in &c.emails {
        if let Some(k) = email_key(e) {
            keys.push(("email", k, e.clone()));
        }
    }
    for p in &c.phones {
        if let Some(k) = phone_key(&p.number) {
            keys.push(("phone", k, p.number.clone()));
        }
    }
    keys.sort();
    keys.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    keys
}

fn contact_search_text(c: &ContactInput) -> String {
    let mut parts = vec![c.name.clone(), c.title.clone(), c.department.clone()];
    parts.extend(c.emails.iter().cloned());
    parts.extend(c.phones.iter().map(|p| {
        p.number
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    }));
    parts.extend(c.social.iter().map(|s| s.handle.clone()));
    parts.extend(c.tags.iter().cloned());
    parts.join("\u{1F}").to_lowercase()
}

fn write_keys(tx: &Transaction<'_>, id: i64, c: &ContactInput) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM crm_contact_keys WHERE contact = ?1")?
        .execute(params![id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO crm_contact_keys (kind, value_key, contact) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?;
    for (kind, key, _) in contact_keys(c) {
        insert.execute(params![kind, key, id])?;
    }
    Ok(())
}

/// Inserts (`id` `None`) or updates a contact and its keys; its id.
pub(super) fn write_contact(
    tx: &Transaction<'_>,
    id: Option<i64>,
    c: &ContactInput,
    owner: &str,
    source: &str,
    now: &str,
) -> Result<i64, StoreError> {
    let phones = json(&c.phones)?;
    let emails = json(&c.emails)?;
    let social = json(&c.social)?;
    let tags = json(&c.tags)?;
    let search = contact_search_text(c);
    let id = match id {
        None => tx
            .prepare_cached(
                "INSERT INTO crm_contacts (customer, name, title, department, phones, emails,
                     social, note, tags, owner, source, search, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
                 RETURNING id",
            )?
            .query_row(
                params![
                    c.customer,
                    c.name,
                    c.title,
                    c.department,
                    phones,
                    emails,
                    social,
                    c.note,
                    tags,
                    owner,
                    source,
                    search,
                    now
                ],
                |r| r.get(0),
            )?,
        Some(id) => {
            tx.prepare_cached(
                "UPDATE crm_contacts SET customer = ?2, name = ?3, title = ?4, department = ?5,
                     phones = ?6, emails = ?7, social = ?8, note = ?9, tags = ?10, owner = ?11,
                     search = ?12, updated_at = ?13
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                c.customer,
                c.name,
                c.title,
                c.department,
                phones,
                emails,
                social,
                c.note,
                tags,
                owner,
                search,
                now
            ])?;
            id
        }
    };
    write_keys(tx, id, c)?;
    Ok(id)
}

/// The stored contacts sharing a key with `c` (but `except`).
pub(super) fn matches_of(
    tx: &Connection,
    c: &ContactInput,
    except: Option<i64>,
) -> Result<Vec<Match>, StoreError> {
    let mut out: Vec<Match> = Vec::new();
    let mut stmt = tx.prepare_cached(
        "SELECT k.contact, c.name FROM crm_contact_keys k JOIN crm_contacts c ON c.id = k.contact
         WHERE k.kind = ?1 AND k.value_key = ?2 ORDER BY k.contact LIMIT 10",
    )?;
    for (kind, key, value) in contact_keys(c) {
        let rows = stmt.query_map(params![kind, key], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (contact, name) = row?;
            if Some(contact) != except {
                out.push(Match {
                    contact,
                    name,
                    on: kind.to_owned(),
                    value: value.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// `into` with what `from` adds: phones, e-mails and handles it lacks (by key), tags, and
/// its empty title, department, note and customer filled.
fn merged(into: &Contact, from: &ContactInput) -> ContactInput {
    let mut out = ContactInput {
        customer: into.customer.clone().or_else(|| from.customer.clone()),
        name: into.name.clone(),
        title: into.title.clone(),
        department: into.department.clone(),
        phones: into.phones.clone(),
        emails: into.emails.clone(),
        social: into.social.clone(),
        note: into.note.clone(),
        tags: into.tags.clone(),
        owner: Some(into.owner.clone()),
    };
    for p in &from.phones {
        let key = phone_key(&p.number);
        if !out.phones.iter().any(|q| phone_key(&q.number) == key) {
            out.phones.push(p.clone());
        }
    }
    for e in &from.emails {
        if !out.emails.iter().any(|f| f.eq_ignore_ascii_case(e)) {
            out.emails.push(e.clone());
        }
    }
    for s in &from.social {
        if !out.social.contains(s) {
            out.social.push(s.clone());
        }
    }
    for t in &from.tags {
        if !out.tags.iter().any(|u| u.eq_ignore_ascii_case(t)) {
            out.tags.push(t.clone());
        }
    }
    for (mine, theirs) in [
        (&mut out.title, &from.title),
        (&mut out.department, &from.department),
        (&mut out.note, &from.note),
    ] {
        if mine.is_empty() {
            mine.clone_from(theirs);
        }
    }
    let cap = crate::crm::vcard::MAX_VALUES;
    out.phones.truncate(cap);
    out.emails.truncate(cap);
    out.social.truncate(cap);
    out.tags.truncate(crate::crm::customers::MAX_TAGS);
    out
}

fn duplicate_row(r: &super::db::Row<'_>) -> Result<Duplicate, StoreError> {
    let resolved_at: Option<String> = r.get(8)?;
    Ok(Duplicate {
        id: r.get(0)?,
        contact: from_json(&r.get::<_, String>(1)?)?,
        source: r.get(3)?,
        matches: from_json(&r.get::<_, String>(4)?)?,
        owner: r.get(5)?,
        status: r.get(6)?,
        created_at: parse_ts(&r.get::<_, String>(7)?)?,
        resolved_at: resolved_at.as_deref().map(parse_ts).transpose()?,
        resolved_by: r.get(9)?,
        result: r.get(10)?,
    })
}

const DUPLICATE_COLUMNS: &str =
    "d.id, d.contact, d.company, d.source, d.matches, d.owner, d.status,
    d.created_at, d.resolved_at, d.resolved_by, d.result";

fn read_duplicate(
    conn: &Connection,
    id: i64,
    scope: &SalesScope,
) -> Result<Option<(Duplicate, Option<String>)>, StoreError> {
    let mut params: Params = vec![Value::from(id)];
    let filter = scoped(scope, "d.owner", &mut params);
    let sql = format!("SELECT {DUPLICATE_COLUMNS} FROM crm_duplicates d WHERE d.id = ?1{filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(params), |r| {
        Ok(duplicate_row(r).and_then(|d| Ok((d, r.get::<_, Option<String>>(2)?))))
    })?;
    let mut rows = rows;
    match rows.next() {
        Some(row) => Ok(Some(row??)),
        None => Ok(None),
    }
}

const ACTIVITY_COLUMNS: &str = "a.id, a.kind, a.subject, a.body, a.customer, a.contact, a.at, a.due,
    a.done_at, a.owner, a.created_by,
    (SELECT CASE WHEN c.name_zh <> '' THEN c.name_zh ELSE c.name_en END FROM crm_customers c WHERE c.code = a.customer),
    (SELECT k.name FROM crm_contacts k WHERE k.id = a.contact), a.opportunity";

fn activity_row(r: &super::db::Row<'_>) -> Result<Activity, StoreError> {
    let kind: String = r.get(1)?;
    let due: Option<String> = r.get(7)?;
    let done: Option<String> = r.get(8)?;
    Ok(Activity {
        id: r.get(0)?,
        kind: ActivityKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("activity kind {kind:?}")))?,
        subject: r.get(2)?,
        body: r.get(3)?,
        customer: r.get(4)?,
        contact: r.get(5)?,
        at: parse_ts(&r.get::<_, String>(6)?)?,
        due: due.as_deref().map(date).transpose()?,
        done_at: done.as_deref().map(parse_ts).transpose()?,
        owner: r.get(9)?,
        created_by: r.get(10)?,
        customer_name: r.get(11)?,
        contact_name: r.get(12)?,
        opportunity: r.get(13)?,
    })
}

/// ` AND (a.owner IN scope OR the customer's owner IN scope)`: someone sees what they did and
/// what was done with their customers.
fn activity_scope(scope: &SalesScope, params: &mut Params) -> String {
    if scope.owners().is_none() {
        return String::new();
    }
    let own = scoped(scope, "a.owner", params);
    let theirs = scoped(scope, "c.owner", params);
    format!(
        " AND ((1 = 1{own}) OR EXISTS (SELECT 1 FROM crm_customers c WHERE c.code = a.customer{theirs}))"
    )
}

fn read_activity(
    conn: &Connection,
    id: i64,
    scope: &SalesScope,
) -> Result<Option<Activity>, StoreError> {
    let mut params: Params = vec![Value::from(id)];
    let filter = activity_scope(scope, &mut params);
    let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM crm_activities a WHERE a.id = ?1{filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(params), |r| Ok(activity_row(r)))?;
    let mut rows = rows;
    match rows.next() {
        Some(row) => Ok(Some(row??)),
        None => Ok(None),
    }
}

pub(super) fn not_found(what: String) -> CrmRefusal {
    CrmRefusal::NotFound(what)
}

/// Creates a contact for a card that is no duplicate, its company found or made.
fn create_from_card(
    tx: &Transaction<'_>,
    mut contact: ContactInput,
    company: Option<(&str, Vec<Address>)>,
    owner: &str,
    source_kind: &str,
    now: &str,
    outcome: Option<(&mut ImportOutcome, &str)>,
) -> Result<i64, StoreError> {
    let mut outcome = outcome;
    if contact.customer.is_none()
        && let Some((company, addresses)) = company
    {
        let code = customer_for_company(
            tx,
            company,
            addresses,
            owner,
            now,
            outcome.as_mut().map(|(o, s)| (&mut **o, *s)),
        )?;
        contact.customer = Some(code);
    }
    let id = write_contact(tx, None, &contact, owner, source_kind, now)?;
    if let Some((outcome, _)) = outcome {
        outcome.contacts_created.push(id);
    }
    Ok(id)
}

#[async_trait]
impl CrmStore for SqlStore {
    async fn customers(
        &self,
        query: CustomerQuery,
        scope: SalesScope,
    ) -> Result<Vec<Customer>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql = format!("SELECT {CUSTOMER_COLUMNS} FROM crm_customers c WHERE 1 = 1");
            sql.push_str(&customer_filter(&query, true, &mut params)?);
            if let Some(after) = query.after {
                let p = bind(&mut params, after);
                sql.push_str(&format!(" AND c.code > {p}"));
            }
            // `|| ''` keeps SQLite off the owner index here: walking the codes in order and
            // stopping at the page's end beats sorting a whole team's customers (and counting
            // each one's contacts) before the first row comes out.
            sql.push_str(&scoped(&scope, "(c.owner || '')", &mut params));
            let p = bind(&mut params, limit(query.limit));
            sql.push_str(&format!(" ORDER BY c.code LIMIT {p}"));
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| Ok(customer_row(r)))?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn customer(
        &self,
        code: String,
        scope: SalesScope,
    ) -> Result<Option<Customer>, StoreError> {
        self.read(move |conn| read_customer(conn, &code, &scope))
            .await
    }

    async fn put_customer(
        &self,
        code: Option<String>,
        input: CustomerInput,
        owner: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Customer> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(now);
            let (code, create) = match code {
                None => (next_code(&tx)?, true),
                Some(code) => {
                    let exists = tx
                        .prepare_cached("SELECT owner FROM crm_customers WHERE code = ?1")?
                        .query_row(params![&code], |r| r.get::<_, String>(0))
                        .optional()?;
                    match exists {
                        Some(current) if !scope.allows(&current) => {
                            return Ok(Err(not_found(format!("no customer {code:?}"))));
                        }
                        Some(_) => (code, false),
                        None => (code, true),
                    }
                }
            };
            write_customer(&tx, &code, &input, &owner, &now, create)?;
            let value = read_customer(&tx, &code, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("customer {code:?} vanished")))?;
            tx.commit()?;
            Ok(Ok(value))
        })
        .await
    }

    async fn contacts(
        &self,
        query: ContactQuery,
        scope: SalesScope,
    ) -> Result<Vec<Contact>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql = format!("SELECT {CONTACT_COLUMNS} FROM crm_contacts k WHERE 1 = 1");
            if let Some(customer) = query.customer {
                let p = bind(&mut params, customer);
                sql.push_str(&format!(" AND k.customer = {p}"));
            }
            if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
                let p = bind(&mut params, like(search));
                sql.push_str(&format!(" AND k.search LIKE {p} ESCAPE '!'"));
            }
            if let Some(after) = query.after {
                let p = bind(&mut params, after);
                sql.push_str(&format!(" AND k.id > {p}"));
            }
            sql.push_str(&scoped(&scope, "k.owner", &mut params));
            let p = bind(&mut params, limit(query.limit));
            sql.push_str(&format!(" ORDER BY k.id LIMIT {p}"));
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| Ok(contact_row(r)))?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn contact(&self, id: i64, scope: SalesScope) -> Result<Option<Contact>, StoreError> {
        self.read(move |conn| read_contact(conn, id, &scope)).await
    }

    async fn put_contact(
        &self,
        id: Option<i64>,
        input: ContactInput,
        owner: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Contact> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(now);
            if let Some(code) = &input.customer
                && read_customer(&tx, code, &scope)?.is_none()
            {
                return Ok(Err(not_found(format!("no customer {code:?}"))));
            }
            let source = match id {
                Some(id) => match read_contact(&tx, id, &scope)? {
                    Some(c) => c.source,
                    None => return Ok(Err(not_found(format!("no contact {id}")))),
                },
                None => "manual".to_owned(),
            };
            let id = write_contact(&tx, id, &input, &owner, &source, &now)?;
            let value = read_contact(&tx, id, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("contact {id} vanished")))?;
            tx.commit()?;
            Ok(Ok(value))
        })
        .await
    }

    async fn merge_contacts(
        &self,
        into: i64,
        from: i64,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Contact> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if into == from {
                return Ok(Err(CrmRefusal::Conflict(format!(
                    "contact {into} cannot be merged into itself"
                ))));
            }
            let (Some(keep), Some(gone)) = (
                read_contact(&tx, into, &scope)?,
                read_contact(&tx, from, &scope)?,
            ) else {
                return Ok(Err(not_found(format!("no contact {into} or {from}"))));
            };
            let gone_input = ContactInput {
                customer: gone.customer.clone(),
                name: gone.name.clone(),
                title: gone.title.clone(),
                department: gone.department.clone(),
                phones: gone.phones.clone(),
                emails: gone.emails.clone(),
                social: gone.social.clone(),
                note: gone.note.clone(),
                tags: gone.tags.clone(),
                owner: None,
            };
            let input = merged(&keep, &gone_input);
            tx.prepare_cached("UPDATE crm_activities SET contact = ?1 WHERE contact = ?2")?
                .execute(params![into, from])?;
            tx.prepare_cached("DELETE FROM crm_contact_keys WHERE contact = ?1")?
                .execute(params![from])?;
            tx.prepare_cached("DELETE FROM crm_contacts WHERE id = ?1")?
                .execute(params![from])?;
            write_contact(&tx, Some(into), &input, &keep.owner, &keep.source, &ts(now))?;
            let value = read_contact(&tx, into, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("contact {into} vanished")))?;
            tx.commit()?;
            Ok(Ok(value))
        })
        .await
    }

    async fn import_cards(
        &self,
        cards: Vec<ImportCard>,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<ImportOutcome> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(now);
            let mut outcome = ImportOutcome {
                cards: cards.len(),
                ..ImportOutcome::default()
            };
            for ic in cards {
                let mut contact = ContactInput::from_card(&ic.card);
                if let Some(code) = &ic.customer {
                    if read_customer(&tx, code, &scope)?.is_none() {
                        return Ok(Err(not_found(format!(
                            "{}: no customer {code:?}",
                            ic.source
                        ))));
                    }
                    contact.customer = Some(code.clone());
                }
                let matches = matches_of(&tx, &contact, None)?;
                if !matches.is_empty() {
                    // Waits for a person; the same card waiting already is not added twice.
                    if contact.customer.is_none()
                        && let Some(company) = &ic.card.organization
                    {
                        contact.customer = customer_by_name(&tx, company)?.map(|(c, _)| c);
                    }
                    let body = json(&contact)?;
                    let waiting = tx
                        .prepare_cached(&format!(
                            "SELECT {DUPLICATE_COLUMNS} FROM crm_duplicates d
                             WHERE d.status = 'open' AND d.contact = ?1 AND d.owner = ?2"
                        ))?
                        .query_map(params![&body, &ic.owner], |r| Ok(duplicate_row(r)))?
                        .next();
                    let duplicate = match waiting {
                        Some(row) => row??,
                        None => {
                            let id: i64 = tx
                                .prepare_cached(
                                    "INSERT INTO crm_duplicates (contact, company, source, matches,
                                         owner, status, created_at)
                                     VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6) RETURNING id",
                                )?
                                .query_row(
                                    params![
                                        body,
                                        ic.card.organization,
                                        ic.source,
                                        json(&matches)?,
                                        ic.owner,
                                        now
                                    ],
                                    |r| r.get(0),
                                )?;
                            read_duplicate(&tx, id, &SalesScope::All)?
                                .map(|(d, _)| d)
                                .ok_or_else(|| {
                                    StoreError::Corrupt(format!("duplicate {id} vanished"))
                                })?
                        }
                    };
                    outcome.duplicates.push(duplicate);
                    continue;
                }
                let source_kind = if ic.source.starts_with("csv") {
                    "csv"
                } else {
                    "vcard"
                };
                let addresses = ic.card.addresses.iter().map(Address::from).collect();
                create_from_card(
                    &tx,
                    contact,
                    ic.card.organization.as_deref().map(|c| (c, addresses)),
                    &ic.owner,
                    source_kind,
                    &now,
                    Some((&mut outcome, &ic.source)),
                )?;
            }
            tx.commit()?;
            Ok(Ok(outcome))
        })
        .await
    }

    async fn duplicates(
        &self,
        open_only: bool,
        scope: SalesScope,
    ) -> Result<Vec<Duplicate>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql = format!("SELECT {DUPLICATE_COLUMNS} FROM crm_duplicates d WHERE 1 = 1");
            if open_only {
                sql.push_str(" AND d.status = 'open'");
            }
            sql.push_str(&scoped(&scope, "d.owner", &mut params));
            sql.push_str(&format!(" ORDER BY d.id DESC LIMIT {MAX_LIST}"));
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| Ok(duplicate_row(r)))?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn resolve_duplicate(
        &self,
        id: i64,
        resolution: Resolution,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Duplicate> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(now);
            let Some((duplicate, company)) = read_duplicate(&tx, id, &scope)? else {
                return Ok(Err(not_found(format!("no duplicate {id}"))));
            };
            if duplicate.status != "open" {
                return Ok(Err(CrmRefusal::Conflict(format!(
                    "duplicate {id} is already {} (by {})",
                    duplicate.status,
                    duplicate.resolved_by.as_deref().unwrap_or("?")
                ))));
            }
            let (status, result) = match resolution {
                Resolution::Merge { into } => {
                    if !duplicate.matches.iter().any(|m| m.contact == into) {
                        return Ok(Err(CrmRefusal::Conflict(format!(
                            "contact {into} is not one the card matched; expected one of {}",
                            duplicate
                                .matches
                                .iter()
                                .map(|m| m.contact.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))));
                    }
                    let Some(keep) = read_contact(&tx, into, &scope)? else {
                        return Ok(Err(not_found(format!("no contact {into}"))));
                    };
                    let input = merged(&keep, &duplicate.contact);
                    write_contact(&tx, Some(into), &input, &keep.owner, &keep.source, &now)?;
                    ("merged", Some(into))
                }
                Resolution::Keep => {
                    let id = create_from_card(
                        &tx,
                        duplicate.contact.clone(),
                        company.as_deref().map(|c| (c, Vec::new())),
                        &duplicate.owner,
                        "vcard",
                        &now,
                        None,
                    )?;
                    ("kept", Some(id))
                }
                Resolution::Discard => ("discarded", None),
            };
            tx.prepare_cached(
                "UPDATE crm_duplicates SET status = ?2, resolved_by = ?3, resolved_at = ?4,
                     result = ?5 WHERE id = ?1",
            )?
            .execute(params![id, status, by, now, result])?;
            let value = read_duplicate(&tx, id, &SalesScope::All)?
                .map(|(d, _)| d)
                .ok_or_else(|| StoreError::Corrupt(format!("duplicate {id} vanished")))?;
            tx.commit()?;
            Ok(Ok(value))
        })
        .await
    }

    async fn activities(
        &self,
        query: ActivityQuery,
        scope: SalesScope,
    ) -> Result<Vec<Activity>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql = format!("SELECT {ACTIVITY_COLUMNS} FROM crm_activities a WHERE 1 = 1");
            if let Some(customer) = query.customer {
                let p = bind(&mut params, customer);
                sql.push_str(&format!(" AND a.customer = {p}"));
            }
            if let Some(contact) = query.contact {
                let p = bind(&mut params, contact);
                sql.push_str(&format!(" AND a.contact = {p}"));
            }
            if let Some(opportunity) = query.opportunity {
                let p = bind(&mut params, opportunity);
                sql.push_str(&format!(" AND a.opportunity = {p}"));
            }
            if let Some(kind) = query.kind {
                let p = bind(&mut params, kind.as_str());
                sql.push_str(&format!(" AND a.kind = {p}"));
            }
            if let Some(owner) = query.owner {
                let p = bind(&mut params, owner);
                sql.push_str(&format!(" AND a.owner = {p}"));
            }
            if query.open_tasks {
                sql.push_str(" AND a.done_at IS NULL AND a.due IS NOT NULL");
                if let Some(by) = query.due_by {
                    let p = bind(&mut params, by.format("%Y-%m-%d").to_string());
                    sql.push_str(&format!(" AND a.due <= {p}"));
                }
            }
            sql.push_str(&activity_scope(&scope, &mut params));
            let p = bind(&mut params, limit(query.limit));
            if query.open_tasks {
                sql.push_str(&format!(" ORDER BY a.due, a.id LIMIT {p}"));
            } else {
                sql.push_str(&format!(" ORDER BY a.at DESC, a.id DESC LIMIT {p}"));
            }
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| Ok(activity_row(r)))?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn add_activity(
        &self,
        mut input: ActivityInput,
        owner: String,
        created_by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Activity> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(id) = input.opportunity {
                let Some(customer) = super::pipeline::opportunity_customer(&tx, id, &scope)? else {
                    return Ok(Err(not_found(format!("no opportunity {id}"))));
                };
                match &input.customer {
                    Some(a) if *a != customer => {
                        return Ok(Err(CrmRefusal::Conflict(format!(
                            "opportunity {id} is with customer {customer}, not {a}"
                        ))));
                    }
                    Some(_) => {}
                    None => input.customer = Some(customer),
                }
            }
            if let Some(id) = input.contact {
                let Some(contact) = read_contact(&tx, id, &scope)? else {
                    return Ok(Err(not_found(format!("no contact {id}"))));
                };
                match (&input.customer, &contact.customer) {
                    (Some(a), Some(b)) if a != b => {
                        return Ok(Err(CrmRefusal::Conflict(format!(
                            "contact {id} is at customer {b}, not {a}"
                        ))));
                    }
                    (None, Some(b)) => input.customer = Some(b.clone()),
                    _ => {}
                }
            }
            if let Some(code) = &input.customer {
                let visible = read_customer(&tx, code, &scope)?.is_some();
                // A contact or an opportunity in scope may be at a customer someone else owns.
                if !visible && input.contact.is_none() && input.opportunity.is_none() {
                    return Ok(Err(not_found(format!("no customer {code:?}"))));
                }
            }
            let at = ts(input.at.unwrap_or(now));
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO crm_activities (kind, subject, body, customer, contact, at, due,
                         done_at, owner, created_by, created_at, opportunity)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, ?10, ?11) RETURNING id",
                )?
                .query_row(
                    params![
                        input.kind.as_str(),
                        input.subject,
                        input.body,
                        input.customer,
                        input.contact,
                        at,
                        input.due.map(|d| d.format("%Y-%m-%d").to_string()),
                        owner,
                        created_by,
                        ts(now),
                        input.opportunity
                    ],
                    |r| r.get(0),
                )?;
            let value = read_activity(&tx, id, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("activity {id} vanished")))?;
            tx.commit()?;
            Ok(Ok(value))
        })
        .await
    }

    async fn set_activity_done(
        &self,
        id: i64,
        done: bool,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Activity> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(activity) = read_activity(&tx, id, &scope)? else {
                return Ok(Err(not_found(format!("no activity {id}"))));
            };
            if activity.due.is_none() {
                return Ok(Err(CrmRefusal::Conflict(format!(
                    "activity {id} has no due date; only tasks and planned activities are done"
                ))));
            }
            let done_at = done.then(|| ts(now));
            tx.prepare_cached("UPDATE crm_activities SET done_at = ?2 WHERE id = ?1")?
                .execute(params![id, done_at])?;
            let value = read_activity(&tx, id, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("activity {id} vanished")))?;
            tx.commit()?;
            Ok(Ok(value))
        })
        .await
    }

    async fn customer_counts(
        &self,
        query: CustomerQuery,
        scope: SalesScope,
    ) -> Result<CustomerCounts, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql = String::from("SELECT c.owner, COUNT(*) FROM crm_customers c WHERE 1 = 1");
            sql.push_str(&customer_filter(&query, false, &mut params)?);
            sql.push_str(&scoped(&scope, "c.owner", &mut params));
            sql.push_str(" GROUP BY c.owner ORDER BY c.owner");
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            let mut counts = CustomerCounts::default();
            for row in rows {
                let (owner, n) = row?;
                let n = u64::try_from(n).unwrap_or(0);
                counts.total += n;
                counts.by_owner.push((owner, n));
            }
            Ok(counts)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::customers::{ContactPhone, ContactSocial};

    #[test]
    fn like_patterns_escape_what_like_means() {
        assert_eq!(like(" 50%_off! "), "%50!%!_off!!%");
        assert_eq!(like("华强"), "%华强%");
    }

    #[test]
    fn scopes_become_in_lists() {
        let mut params: Params = vec![Value::from(1i64)];
        let owners = SalesScope::Owners(["a".to_owned(), "b".to_owned()].into());
        assert_eq!(
            scoped(&owners, "c.owner", &mut params),
            " AND c.owner IN (?2, ?3)"
        );
        assert_eq!(params.len(), 3);
        assert_eq!(scoped(&SalesScope::All, "c.owner", &mut params), "");
        assert_eq!(
            scoped(&SalesScope::Owners(Default::default()), "x", &mut params),
            " AND 1 = 0"
        );
    }

    #[test]
    fn a_merge_adds_what_is_new_and_keeps_what_was_there() {
        let at = Utc::now();
        let keep = Contact {
            id: 1,
            customer: None,
            name: "Zhang Wei".into(),
            title: "Buyer".into(),
            department: String::new(),
            phones: vec![ContactPhone {
                kind: "mobile".into(),
                number: "+86 138 0013 8000".into(),
            }],
            emails: vec!["zhang@hq.example".into()],
            social: vec![],
            note: String::new(),
            tags: vec!["vip".into()],
            owner: "li".into(),
            source: "manual".into(),
            created_at: at,
            updated_at: at,
        };
        let card = ContactInput {
            customer: Some("C000001".into()),
            name: "张伟".into(),
            title: "Purchasing Manager".into(),
            department: "Purchasing".into(),
            phones: vec![
                ContactPhone {
                    kind: "mobile".into(),
                    number: "138-0013-8000".into(),
                },
                ContactPhone {
                    kind: "work".into(),
                    number: "0755 8888 1234".into(),
                },
            ],
            emails: vec!["ZHANG@hq.example".into(), "zw@home.example".into()],
            social: vec![ContactSocial {
                network: "wechat".into(),
                handle: "zw".into(),
            }],
            note: "fair".into(),
            tags: vec!["VIP".into(), "fair".into()],
            owner: None,
        };
        let m = merged(&keep, &card);
        assert_eq!(m.name, "Zhang Wei");
        assert_eq!(m.title, "Buyer", "kept");
        assert_eq!(m.department, "Purchasing", "filled");
        assert_eq!(m.customer.as_deref(), Some("C000001"));
        assert_eq!(
            m.phones.len(),
            2,
            "the same mobile written differently is one"
        );
        assert_eq!(m.emails, ["zhang@hq.example", "zw@home.example"]);
        assert_eq!(m.tags, ["vip", "fair"]);
        assert_eq!(m.social.len(), 1);
    }
}
