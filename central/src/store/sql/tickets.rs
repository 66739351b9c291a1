//! [`TicketStore`] on both engines: `crm_tickets` (numbers `T000001` from `crm_counters`) and
//! their log `crm_ticket_entries`; the phone lookup reads `crm_contact_keys`.

use super::crm::{Params, bind, read_customer, scoped};
use super::db::{
    Connection, OptionalExtension, TransactionBehavior, Value, params, params_from_iter,
};
use super::{SqlStore, StoreError, parse_ts, ts};
use crate::crm::scope::SalesScope;
use crate::store::crm::{CrmRefusal, CrmResult};
use crate::store::sales::SalesDocSummary;
use crate::store::tickets::{
    CallerAccount, CallerMatch, MAX_LIST, Priority, Ticket, TicketAction, TicketEntry, TicketInput,
    TicketQuery, TicketState, TicketStore,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS crm_tickets (
    id          INTEGER PRIMARY KEY,
    number      TEXT NOT NULL UNIQUE,
    customer    TEXT NOT NULL,
    contact     INTEGER,
    sales_order TEXT,
    lot         TEXT,
    item        TEXT,
    subject     TEXT NOT NULL,
    description TEXT NOT NULL,
    priority    TEXT NOT NULL,
    state       TEXT NOT NULL,
    owner       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS crm_tickets_customer ON crm_tickets (customer, id);
CREATE INDEX IF NOT EXISTS crm_tickets_lot ON crm_tickets (lot, id);
CREATE TABLE IF NOT EXISTS crm_ticket_entries (
    id      INTEGER PRIMARY KEY,
    ticket  INTEGER NOT NULL,
    at      TEXT NOT NULL,
    by_user TEXT NOT NULL,
    kind    TEXT NOT NULL,
    text    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS crm_ticket_entries_ticket ON crm_ticket_entries (ticket, id);
";

const COLUMNS: &str =
    "t.id, t.number, t.customer, COALESCE(c.name_zh, ''), COALESCE(c.name_en, ''),
    t.contact, t.sales_order, t.lot, t.item, t.subject, t.description, t.priority, t.state,
    t.owner, t.created_by, t.created_at, t.updated_at, t.resolved_at";

/// ` AND (t.owner IN (...) OR c.owner IN (...))`: a ticket is seen by its owner's scope and
/// its customer's owner's.
fn ticket_scope(scope: &SalesScope, params: &mut Params) -> String {
    if scope.owners().is_none() {
        return String::new();
    }
    let own = scoped(scope, "t.owner", params);
    let theirs = scoped(scope, "c.owner", params);
    format!(" AND ((1 = 1{own}) OR (1 = 1{theirs}))")
}

fn ticket_row(r: &super::db::Row<'_>) -> Result<Ticket, StoreError> {
    let zh: String = r.get(3)?;
    let en: String = r.get(4)?;
    let priority: String = r.get(11)?;
    let state: String = r.get(12)?;
    Ok(Ticket {
        id: r.get(0)?,
        number: r.get(1)?,
        customer: r.get(2)?,
        customer_name: if zh.is_empty() { en } else { zh },
        contact: r.get(5)?,
        order: r.get(6)?,
        lot: r.get(7)?,
        item: r.get(8)?,
        subject: r.get(9)?,
        description: r.get(10)?,
        priority: Priority::parse(&priority)
            .ok_or_else(|| StoreError::Corrupt(format!("ticket priority {priority:?}")))?,
        state: TicketState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("ticket state {state:?}")))?,
        owner: r.get(13)?,
        created_by: r.get(14)?,
        created_at: parse_ts(&r.get::<_, String>(15)?)?,
        updated_at: parse_ts(&r.get::<_, String>(16)?)?,
        resolved_at: r
            .get::<_, Option<String>>(17)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        entries: Vec::new(),
    })
}

fn read_ticket(
    conn: &Connection,
    id: i64,
    scope: &SalesScope,
) -> Result<Option<Ticket>, StoreError> {
    let mut params: Params = vec![Value::from(id)];
    let filter = ticket_scope(scope, &mut params);
    let sql = format!(
        "SELECT {COLUMNS} FROM crm_tickets t LEFT JOIN crm_customers c ON c.code = t.customer
         WHERE t.id = ?1{filter}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query_map(params_from_iter(params), |r| Ok(ticket_row(r)))?;
    let Some(row) = rows.next() else {
        return Ok(None);
    };
    let mut ticket = row??;
    let mut stmt = conn.prepare_cached(
        "SELECT at, by_user, kind, text FROM crm_ticket_entries WHERE ticket = ?1 ORDER BY id",
    )?;
    let entries = stmt.query_map(params![id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    for entry in entries {
        let (at, by, kind, text) = entry?;
        ticket.entries.push(TicketEntry {
            at: parse_ts(&at)?,
            by,
            kind,
            text,
        });
    }
    Ok(Some(ticket))
}

fn entry(
    conn: &Connection,
    ticket: i64,
    by: &str,
    kind: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO crm_ticket_entries (ticket, at, by_user, kind, text) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![ticket, ts(now), by, kind, text])?;
    Ok(())
}

fn not_found(what: String) -> CrmRefusal {
    CrmRefusal::NotFound(what)
}

/// The links a ticket names, checked against what central has.
fn check_links(conn: &Connection, t: &TicketInput) -> Result<Result<(), CrmRefusal>, StoreError> {
    if let Some(contact) = t.contact {
        let at: Option<Option<String>> = conn
            .prepare_cached("SELECT customer FROM crm_contacts WHERE id = ?1")?
            .query_row(params![contact], |r| r.get(0))
            .optional()?;
        match at {
            None => return Ok(Err(not_found(format!("no contact {contact}")))),
            Some(c) if c.as_deref() != Some(t.customer.as_str()) => {
                return Ok(Err(CrmRefusal::Conflict(format!(
                    "contact {contact} is not a contact of customer {:?}",
                    t.customer
                ))));
            }
            Some(_) => {}
        }
    }
    if let Some(order) = &t.order {
        let customer: Option<String> = conn
            .prepare_cached(
                "SELECT customer FROM crm_sales_docs WHERE kind = 'order' AND number = ?1",
            )?
            .query_row(params![order], |r| r.get(0))
            .optional()?;
        match customer {
            None => return Ok(Err(not_found(format!("no sales order {order:?}")))),
            Some(c) if c != t.customer => {
                return Ok(Err(CrmRefusal::Conflict(format!(
                    "sales order {order} is customer {c}'s, not {:?}'s",
                    t.customer
                ))));
            }
            Some(_) => {}
        }
    }
    if let Some(item) = &t.item {
        let known = conn
            .prepare_cached("SELECT 1 FROM erp_items WHERE item = ?1")?
            .exists(params![item])?;
        if !known {
            return Ok(Err(not_found(format!(
                "no item {item:?} in the item master"
            ))));
        }
    }
    Ok(Ok(()))
}

fn next_number(conn: &Connection) -> Result<String, StoreError> {
    super::crm::next_free(
        conn,
        "ticket",
        "SELECT 1 FROM crm_tickets WHERE number = ?1",
        |n| format!("T{n:06}"),
    )?
    .ok_or_else(|| StoreError::Conflict("no free ticket number in 1000 tries".into()))
}

fn date(text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| StoreError::Corrupt(format!("date {text:?}: {e}")))
}

/// A customer's orders not completed or cancelled, newest first (at most 20).
fn open_orders(conn: &Connection, customer: &str) -> Result<Vec<SalesDocSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.number, d.owner, d.status, d.doc_date, d.currency, d.gross,
             (SELECT COUNT(*) FROM crm_sales_lines l WHERE l.doc = d.id)
         FROM crm_sales_docs d
         WHERE d.kind = 'order' AND d.customer = ?1 AND d.status IN ('draft', 'confirmed')
         ORDER BY d.id DESC LIMIT 20",
    )?;
    let rows = stmt.query_map(params![customer], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, i64>(7)?,
        ))
    })?;
    rows.map(|row| {
        let (id, number, owner, status, day, currency, gross, lines) = row?;
        Ok(SalesDocSummary {
            id,
            kind: "order".into(),
            number,
            revision: 1,
            customer: customer.to_owned(),
            customer_name: String::new(),
            owner,
            status,
            date: date(&day)?,
            valid_until: None,
            expired: false,
            currency,
            gross: super::crm::decimal(&gross)?,
            lines: u32::try_from(lines).unwrap_or(0),
            flags: 0,
        })
    })
    .collect()
}

#[async_trait]
impl TicketStore for SqlStore {
    async fn tickets(
        &self,
        query: TicketQuery,
        scope: SalesScope,
    ) -> Result<Vec<Ticket>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql = format!(
                "SELECT {COLUMNS} FROM crm_tickets t LEFT JOIN crm_customers c ON c.code = t.customer WHERE 1 = 1"
            );
            for (column, value) in [
                ("t.customer", query.customer),
                ("t.sales_order", query.order),
                ("t.lot", query.lot),
                ("t.owner", query.owner),
            ] {
                if let Some(v) = value {
                    let p = bind(&mut params, v);
                    sql.push_str(&format!(" AND {column} = {p}"));
                }
            }
            if query.open {
                sql.push_str(" AND t.state <> 'closed'");
            }
            if let Some(before) = query.before {
                let p = bind(&mut params, before);
                sql.push_str(&format!(" AND t.id < {p}"));
            }
            sql.push_str(&ticket_scope(&scope, &mut params));
            let p = bind(
                &mut params,
                i64::try_from(query.limit.clamp(1, MAX_LIST)).unwrap_or(50),
            );
            sql.push_str(&format!(" ORDER BY t.id DESC LIMIT {p}"));
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| Ok(ticket_row(r)))?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn ticket(&self, id: i64, scope: SalesScope) -> Result<Option<Ticket>, StoreError> {
        self.read(move |conn| read_ticket(conn, id, &scope)).await
    }

    async fn put_ticket(
        &self,
        id: Option<i64>,
        input: TicketInput,
        owner: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Ticket> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The customer must be one the caller sees, as for any record about it.
            if read_customer(&tx, &input.customer, &scope)?.is_none() {
                return Ok(Err(not_found(format!("no customer {:?}", input.customer))));
            }
            if let Err(r) = check_links(&tx, &input)? {
                return Ok(Err(r));
            }
            let id = match id {
                None => {
                    let number = next_number(&tx)?;
                    let id: i64 = tx
                        .prepare_cached(
                            "INSERT INTO crm_tickets (number, customer, contact, sales_order, lot, item,
                                 subject, description, priority, state, owner, created_by, created_at,
                                 updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'open', ?10, ?11, ?12, ?12)
                             RETURNING id",
                        )?
                        .query_row(
                            params![
                                number,
                                input.customer,
                                input.contact,
                                input.order,
                                input.lot,
                                input.item,
                                input.subject,
                                input.description,
                                input.priority.as_str(),
                                owner,
                                by,
                                ts(now)
                            ],
                            |r| r.get(0),
                        )?;
                    entry(&tx, id, &by, "state", "open", now)?;
                    id
                }
                Some(id) => {
                    let Some(current) = read_ticket(&tx, id, &scope)? else {
                        return Ok(Err(not_found(format!("no ticket {id}"))));
                    };
                    if current.state == TicketState::Closed {
                        return Ok(Err(CrmRefusal::Conflict(format!(
                            "ticket {} is closed; a new problem is a new ticket",
                            current.number
                        ))));
                    }
                    tx.prepare_cached(
                        "UPDATE crm_tickets SET customer = ?2, contact = ?3, sales_order = ?4, lot = ?5,
                             item = ?6, subject = ?7, description = ?8, priority = ?9, updated_at = ?10
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        id,
                        input.customer,
                        input.contact,
                        input.order,
                        input.lot,
                        input.item,
                        input.subject,
                        input.description,
                        input.priority.as_str(),
                        ts(now)
                    ])?;
                    if current.owner != owner {
                        tx.prepare_cached("UPDATE crm_tickets SET owner = ?2 WHERE id = ?1")?
                            .execute(params![id, owner])?;
                        entry(&tx, id, &by, "owner", &owner, now)?;
                    }
                    id
                }
            };
            let ticket = read_ticket(&tx, id, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("ticket {id} vanished")))?;
            tx.commit()?;
            Ok(Ok(ticket))
        })
        .await
    }

    async fn ticket_action(
        &self,
        id: i64,
        action: TicketAction,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> CrmResult<Ticket> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(current) = read_ticket(&tx, id, &scope)? else {
                return Ok(Err(not_found(format!("no ticket {id}"))));
            };
            match action {
                TicketAction::Log { kind, text } => {
                    if current.state == TicketState::Closed {
                        return Ok(Err(CrmRefusal::Conflict(format!(
                            "ticket {} is closed",
                            current.number
                        ))));
                    }
                    entry(&tx, id, &by, &kind, &text, now)?;
                }
                TicketAction::State { to, text } => {
                    if !current.state.can_go(to) {
                        return Ok(Err(CrmRefusal::Conflict(format!(
                            "ticket {} is {}; it cannot go to {}",
                            current.number,
                            current.state.as_str(),
                            to.as_str()
                        ))));
                    }
                    let resolved = match to {
                        TicketState::Resolved | TicketState::Closed => {
                            current.resolved_at.map(ts).or(Some(ts(now)))
                        }
                        _ => None,
                    };
                    tx.prepare_cached(
                        "UPDATE crm_tickets SET state = ?2, resolved_at = ?3, updated_at = ?4 WHERE id = ?1",
                    )?
                    .execute(params![id, to.as_str(), resolved, ts(now)])?;
                    let line = if text.is_empty() {
                        to.as_str().to_owned()
                    } else {
                        format!("{}: {text}", to.as_str())
                    };
                    entry(&tx, id, &by, "state", &line, now)?;
                }
                TicketAction::Assign { owner } => {
                    tx.prepare_cached("UPDATE crm_tickets SET owner = ?2, updated_at = ?3 WHERE id = ?1")?
                        .execute(params![id, owner, ts(now)])?;
                    entry(&tx, id, &by, "owner", &owner, now)?;
                }
            }
            let ticket = read_ticket(&tx, id, &SalesScope::All)?
                .ok_or_else(|| StoreError::Corrupt(format!("ticket {id} vanished")))?;
            tx.commit()?;
            Ok(Ok(ticket))
        })
        .await
    }

    async fn caller(
        &self,
        phone_key: String,
        scope: SalesScope,
    ) -> Result<(Vec<CallerMatch>, Vec<CallerAccount>), StoreError> {
        self.read(move |conn| {
            let wanted = phone_key.clone();
            let mut params: Params = vec![Value::from(phone_key)];
            let filter = scoped(&scope, "k.owner", &mut params);
            let sql = format!(
                "SELECT k.id, k.name, k.customer, k.phones FROM crm_contact_keys x
                     JOIN crm_contacts k ON k.id = x.contact
                 WHERE x.kind = 'phone' AND x.value_key = ?1{filter}
                 ORDER BY k.id LIMIT 20"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows: Vec<(i64, String, Option<String>, String)> = stmt
                .query_map(params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut matches = Vec::new();
            let mut accounts: Vec<CallerAccount> = Vec::new();
            for (contact, name, customer, phones) in rows {
                let phones: Vec<crate::crm::customers::ContactPhone> = super::crm::from_json(&phones)?;
                let number = phones
                    .iter()
                    .find(|p| crate::crm::dedupe::phone_key(&p.number).as_deref() == Some(wanted.as_str()))
                    .or(phones.first())
                    .map(|p| p.number.clone())
                    .unwrap_or_default();
                let found = read_customer_any(conn, customer.as_deref())?;
                matches.push(CallerMatch {
                    contact,
                    name,
                    customer: customer.clone(),
                    customer_name: found.as_ref().map(|c| c.name_in("zh").to_owned()),
                    number,
                });
                if let Some(c) = found
                    && !accounts.iter().any(|a| a.customer == c.code)
                {
                    let tickets = {
                        let mut stmt = conn.prepare_cached(&format!(
                            "SELECT {COLUMNS} FROM crm_tickets t LEFT JOIN crm_customers c ON c.code = t.customer
                             WHERE t.customer = ?1 AND t.state <> 'closed' ORDER BY t.id DESC LIMIT 20"
                        ))?;
                        let rows = stmt.query_map(params![&c.code], |r| Ok(ticket_row(r)))?;
                        rows.map(|r| r?).collect::<Result<Vec<_>, StoreError>>()?
                    };
                    let mut orders = open_orders(conn, &c.code)?;
                    for o in &mut orders {
                        o.customer_name = c.name_in("zh").to_owned();
                    }
                    accounts.push(CallerAccount {
                        customer_name: c.name_in("zh").to_owned(),
                        owner: c.owner.clone(),
                        customer: c.code,
                        open_orders: orders,
                        open_tickets: tickets,
                    });
                }
            }
            Ok((matches, accounts))
        })
        .await
    }
}

fn read_customer_any(
    conn: &Connection,
    code: Option<&str>,
) -> Result<Option<crate::crm::customers::Customer>, StoreError> {
    match code {
        None => Ok(None),
        Some(code) => read_customer(conn, code, &SalesScope::All),
    }
}
