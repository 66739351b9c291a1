//! Customers, their contacts, and what happened with them (activities and follow-up tasks),
//! as central keeps them, and the checks of what people send. Pure: no I/O.
//!
//! A customer has a code (`C000001` when none is given), names in Chinese and English (at
//! least one), industry, region, addresses, tax id, currency, payment terms, an optional
//! credit limit in its currency (none: no limit is checked), a customer group (for prices),
//! tags and an owner (the salesperson whose customer it is). A contact is a person, usually
//! at a customer, with phones, e-mail addresses and social handles (WeChat, QQ, ...). An
//! activity is a call, visit, e-mail or note on a customer, a contact or a deal, with who and
//! when; a task is an activity with a due date that stays in its owner's list until done.

use super::vcard::{self, Card, CardAddress, Phone, PhoneKind, Social};
use crate::erp::import::{Line, RowError, read_rows};
use chrono::{DateTime, NaiveDate, Utc};
use protocol::bounds::{MAX_TEXT_LEN, check_id, check_text};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The currency of a customer created without one (a business card says none).
pub const DEFAULT_CURRENCY: &str = "CNY";
/// Tags on one record.
pub const MAX_TAGS: usize = 32;
/// Addresses of one customer.
pub const MAX_ADDRESSES: usize = 16;
/// Bytes of an activity's text.
pub const MAX_BODY_LEN: usize = 8 * 1024;
/// The largest credit limit (and the bound of order totals checked against it).
pub const MAX_MONEY: Decimal = Decimal::from_parts(2_808_348_672, 232_830_643, 0, false, 0); // 10^18

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// `billing`, `shipping`, `office` or another word.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub street: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub country: String,
}

impl From<&CardAddress> for Address {
    fn from(a: &CardAddress) -> Address {
        Address {
            kind: if a.kind == "work" {
                "office".into()
            } else {
                a.kind.clone()
            },
            street: a.street.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postcode: a.postcode.clone(),
            country: a.country.clone(),
        }
    }
}

/// A customer as sent to `PUT /api/v1/customers/{code}` (and made from a business card).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// `POST`: the new customer's code (absent: the next free `C000001`); `PUT`: the path's,
    /// if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default)]
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub industry: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub addresses: Vec<Address>,
    #[serde(default)]
    pub tax_id: String,
    /// ISO 4217; [`DEFAULT_CURRENCY`] when empty.
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub payment_terms: String,
    #[serde(default)]
    pub credit_limit: Option<Decimal>,
    #[serde(default)]
    pub customer_group: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The salesperson whose customer it is; the caller when absent.
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub industry: String,
    pub region: String,
    pub addresses: Vec<Address>,
    pub tax_id: String,
    pub currency: String,
    pub payment_terms: String,
    pub credit_limit: Option<Decimal>,
    pub customer_group: String,
    pub tags: Vec<String>,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many contacts it has (lists), when read with them.
    #[serde(default)]
    pub contacts: u64,
}

impl Customer {
    /// The name to show in `lang` (`zh` or `en`), falling back to the other.
    pub fn name_in(&self, lang: &str) -> &str {
        match (lang, self.name_zh.is_empty(), self.name_en.is_empty()) {
            ("zh", false, _) | (_, false, true) => &self.name_zh,
            _ => &self.name_en,
        }
    }
}

/// A contact as sent to `POST /api/v1/contacts` or `PUT /api/v1/contacts/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    #[serde(default)]
    pub customer: Option<String>,
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub phones: Vec<ContactPhone>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub social: Vec<ContactSocial>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPhone {
    /// `mobile`, `work`, `home`, `fax` or `other`.
    pub kind: String,
    pub number: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSocial {
    /// `wechat`, `qq`, `whatsapp`, `skype`, `linkedin`, ...
    pub network: String,
    pub handle: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: i64,
    pub customer: Option<String>,
    pub name: String,
    pub title: String,
    pub department: String,
    pub phones: Vec<ContactPhone>,
    pub emails: Vec<String>,
    pub social: Vec<ContactSocial>,
    pub note: String,
    pub tags: Vec<String>,
    pub owner: String,
    /// `manual`, `vcard`, `csv` or `lead` (made by qualifying a lead).
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    /// The contact as a vCard 4.0.
    pub fn to_vcard(&self, organization: Option<&str>) -> String {
        let phones: Vec<Phone> = self
            .phones
            .iter()
            .map(|p| Phone {
                kind: PhoneKind::parse(&p.kind).unwrap_or(PhoneKind::Other),
                number: p.number.clone(),
            })
            .collect();
        let social: Vec<Social> = self
            .social
            .iter()
            .map(|s| Social {
                network: s.network.clone(),
                handle: s.handle.clone(),
            })
            .collect();
        let non_empty = |s: &str| (!s.is_empty()).then_some(s.to_owned());
        let (title, department, note) = (
            non_empty(&self.title),
            non_empty(&self.department),
            non_empty(&self.note),
        );
        vcard::write(&vcard::Export {
            uid: format!("urn:mes:contact:{}", self.id),
            name: &self.name,
            organization,
            department: department.as_deref(),
            title: title.as_deref(),
            phones: &phones,
            emails: &self.emails,
            social: &social,
            note: note.as_deref(),
            categories: &self.tags,
            revision: self.updated_at.format("%Y%m%dT%H%M%SZ").to_string(),
        })
    }
}

/// The kind of an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Call,
    Visit,
    Email,
    Note,
    Task,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 5] = [
        ActivityKind::Call,
        ActivityKind::Visit,
        ActivityKind::Email,
        ActivityKind::Note,
        ActivityKind::Task,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Call => "call",
            ActivityKind::Visit => "visit",
            ActivityKind::Email => "email",
            ActivityKind::Note => "note",
            ActivityKind::Task => "task",
        }
    }

    pub fn parse(s: &str) -> Option<ActivityKind> {
        ActivityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An activity as sent to `POST /api/v1/activities`: on a customer, a contact or both (a
/// contact's customer is filled in), with a due date for a task (and for a call or visit
/// planned ahead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    pub kind: ActivityKind,
    pub subject: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub contact: Option<i64>,
    /// The opportunity it is about (its customer is filled in).
    #[serde(default)]
    pub opportunity: Option<i64>,
    /// When it happened; now when absent.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// A follow-up: it appears in the owner's task list until done.
    #[serde(default)]
    pub due: Option<NaiveDate>,
    /// Who does it; the caller when absent.
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub id: i64,
    pub kind: ActivityKind,
    pub subject: String,
    pub body: String,
    pub customer: Option<String>,
    pub contact: Option<i64>,
    /// The opportunity it is about, if any.
    #[serde(default)]
    pub opportunity: Option<i64>,
    pub at: DateTime<Utc>,
    pub due: Option<NaiveDate>,
    pub done_at: Option<DateTime<Utc>>,
    pub owner: String,
    pub created_by: String,
    /// Names to show: the customer's and the contact's, when read in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
}

fn text(field: &str, value: &str, problems: &mut Vec<String>) {
    if let Err(v) = check_text(field, value) {
        problems.push(v.to_string());
    }
}

fn tags(field: &str, tags: &[String], problems: &mut Vec<String>) {
    if tags.len() > MAX_TAGS {
        problems.push(format!("{field}: {} tags; at most {MAX_TAGS}", tags.len()));
    }
    for t in tags.iter().take(MAX_TAGS + 1) {
        if t.trim().is_empty() || t.len() > 64 {
            problems.push(format!("{field}: {t:?}: expected 1 to 64 bytes"));
        } else {
            text(field, t, problems);
        }
    }
}

/// Trims tags, drops empty ones and repeats (first kept).
pub fn clean_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_owned();
        if !t.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&t)) {
            out.push(t);
        }
    }
    out
}

/// A login named as an owner: an id.
pub fn check_owner(owner: &str) -> Result<(), String> {
    check_id("owner", owner).map_err(|v| v.to_string())
}

/// A customer code: an id, or empty for the next free `C000001`.
pub fn check_code(code: &str) -> Result<(), String> {
    check_id("code", code).map_err(|v| v.to_string())
}

/// ISO 4217: three capital letters.
pub fn check_currency(currency: &str) -> Result<(), String> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!(
            "currency: {:?} is not an ISO 4217 code; expected three capital letters such as CNY, USD or EUR",
            protocol::bounds::sanitize(currency, 16, false)
        ))
    }
}

/// A money amount: at least 0, at most [`MAX_MONEY`], at most 2 decimals.
pub fn check_money(field: &str, value: Decimal) -> Result<(), String> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("{field}: {value} is negative; expected 0 or more"));
    }
    if value > MAX_MONEY {
        return Err(format!("{field}: {value} is more than {MAX_MONEY}"));
    }
    if value.normalize().scale() > 2 {
        return Err(format!("{field}: {value} has more than 2 decimals"));
    }
    Ok(())
}

impl CustomerInput {
    /// Fills defaults (currency, tags cleaned) and names every problem.
    pub fn checked(mut self) -> Result<CustomerInput, Vec<String>> {
        let mut problems = Vec::new();
        self.name_zh = self.name_zh.trim().to_owned();
        self.name_en = self.name_en.trim().to_owned();
        if self.name_zh.is_empty() && self.name_en.is_empty() {
            problems.push("name_zh, name_en: both empty; expected the customer's name in Chinese, English or both".into());
        }
        for (field, value) in [
            ("name_zh", &self.name_zh),
            ("name_en", &self.name_en),
            ("industry", &self.industry),
            ("region", &self.region),
            ("tax_id", &self.tax_id),
            ("payment_terms", &self.payment_terms),
            ("customer_group", &self.customer_group),
        ] {
            text(field, value, &mut problems);
        }
        if self.tax_id.len() > 64 {
            problems.push("tax_id: more than 64 bytes".into());
        }
        if self.currency.is_empty() {
            self.currency = DEFAULT_CURRENCY.into();
        }
        if let Err(p) = check_currency(&self.currency) {
            problems.push(p);
        }
        if let Some(limit) = self.credit_limit
            && let Err(p) = check_money("credit_limit", limit)
        {
            problems.push(p);
        }
        if self.addresses.len() > MAX_ADDRESSES {
            problems.push(format!(
                "addresses: {}; at most {MAX_ADDRESSES}",
                self.addresses.len()
            ));
        }
        for (i, a) in self.addresses.iter().take(MAX_ADDRESSES).enumerate() {
            for (field, value) in [
                ("kind", &a.kind),
                ("street", &a.street),
                ("city", &a.city),
                ("region", &a.region),
                ("postcode", &a.postcode),
                ("country", &a.country),
            ] {
                text(&format!("addresses[{i}].{field}"), value, &mut problems);
            }
        }
        self.tags = clean_tags(std::mem::take(&mut self.tags));
        tags("tags", &self.tags, &mut problems);
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

impl ContactInput {
    /// Trims, drops empty and repeated values, and names every problem.
    pub fn checked(mut self) -> Result<ContactInput, Vec<String>> {
        let mut problems = Vec::new();
        self.name = self.name.trim().to_owned();
        if self.name.is_empty() {
            problems.push("name: empty; expected the person's name".into());
        }
        for (field, value) in [
            ("name", &self.name),
            ("title", &self.title),
            ("department", &self.department),
        ] {
            text(field, value, &mut problems);
        }
        if let Some(customer) = &self.customer
            && let Err(p) = check_code(customer)
        {
            problems.push(format!("customer: {p}"));
        }
        if self.phones.len() > vcard::MAX_VALUES {
            problems.push(format!("phones: at most {}", vcard::MAX_VALUES));
        }
        for p in &mut self.phones {
            p.number = p.number.trim().to_owned();
            if PhoneKind::parse(&p.kind).is_none() {
                problems.push(format!(
                    "phones: kind {:?}; expected mobile, work, home, fax or other",
                    protocol::bounds::sanitize(&p.kind, 16, false)
                ));
            }
            if let Err(e) = vcard::check_phone(&p.number) {
                problems.push(format!("phones: {e}"));
            }
        }
        self.emails = self
            .emails
            .iter()
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .fold(Vec::new(), |mut out: Vec<String>, e| {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(&e)) {
                    out.push(e);
                }
                out
            });
        if self.emails.len() > vcard::MAX_VALUES {
            problems.push(format!("emails: at most {}", vcard::MAX_VALUES));
        }
        for e in &self.emails {
            if let Err(p) = vcard::check_email(e) {
                problems.push(format!("emails: {p}"));
            }
        }
        if self.social.len() > vcard::MAX_VALUES {
            problems.push(format!("social: at most {}", vcard::MAX_VALUES));
        }
        for s in &mut self.social {
            s.network = vcard::network(&s.network);
            s.handle = s.handle.trim().to_owned();
            if s.network.is_empty() || s.network.len() > 32 || s.handle.is_empty() {
                problems.push("social: expected a network (1 to 32 bytes) and a handle".into());
            }
            text("social.handle", &s.handle, &mut problems);
            text("social.network", &s.network, &mut problems);
        }
        if self.note.len() > MAX_BODY_LEN {
            problems.push(format!("note: more than {MAX_BODY_LEN} bytes"));
        }
        self.tags = clean_tags(std::mem::take(&mut self.tags));
        tags("tags", &self.tags, &mut problems);
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

    /// A contact from a business card (its company is found or made by the caller).
    pub fn from_card(card: &Card) -> ContactInput {
        ContactInput {
            customer: None,
            name: card.name.clone(),
            title: card.title.clone().unwrap_or_default(),
            department: card.department.clone().unwrap_or_default(),
            phones: card
                .phones
                .iter()
                .map(|p| ContactPhone {
                    kind: p.kind.as_str().into(),
                    number: p.number.clone(),
                })
                .collect(),
            emails: card.emails.clone(),
            social: card
                .social
                .iter()
                .map(|s| ContactSocial {
                    network: s.network.clone(),
                    handle: s.handle.clone(),
                })
                .collect(),
            note: card.note.clone().unwrap_or_default(),
            tags: card.categories.clone(),
            owner: None,
        }
    }
}

impl ActivityInput {
    pub fn checked(mut self) -> Result<ActivityInput, Vec<String>> {
        let mut problems = Vec::new();
        self.subject = self.subject.trim().to_owned();
        if self.subject.is_empty() {
            problems.push("subject: empty; expected what the activity is about".into());
        }
        text("subject", &self.subject, &mut problems);
        if self.body.len() > MAX_BODY_LEN {
            problems.push(format!("body: more than {MAX_BODY_LEN} bytes"));
        }
        if let Some(c) = self
            .body
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
        {
            problems.push(format!(
                "body: holds the control character U+{:04X}",
                u32::from(c)
            ));
        }
        if self.customer.is_none() && self.contact.is_none() && self.opportunity.is_none() {
            problems.push(
                "customer, contact: expected the customer, the contact or the opportunity it is about"
                    .into(),
            );
        }
        if let Some(customer) = &self.customer
            && let Err(p) = check_code(customer)
        {
            problems.push(format!("customer: {p}"));
        }
        if self.kind == ActivityKind::Task && self.due.is_none() {
            problems.push("due: a task needs a due date".into());
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

/// A business card as a CSV row (`POST /api/v1/import/contacts`): `name` and at least one of
/// the others; `company` finds or makes the customer as a vCard's `ORG` does, `customer`
/// names one by code.
const CSV_REQUIRED: [&str; 1] = ["name"];
const CSV_OPTIONAL: [&str; 13] = [
    "company",
    "customer",
    "title",
    "department",
    "email",
    "phone",
    "mobile",
    "fax",
    "wechat",
    "qq",
    "tags",
    "note",
    "owner",
];

/// A CSV row as read: the card it stands for, with the customer code and owner it names.
#[derive(Debug, Clone)]
pub struct CsvContact {
    pub card: Card,
    pub customer: Option<String>,
    pub owner: Option<String>,
}

/// Reads a contacts CSV; every bad cell named by line and column, all or nothing.
pub fn parse_contacts_csv(text: &[u8]) -> Result<Vec<Line<CsvContact>>, (Vec<RowError>, usize)> {
    let mut rows = Vec::new();
    let mut errors = read_rows(
        text,
        &CSV_REQUIRED,
        &CSV_OPTIONAL,
        "name,company,customer,title,department,email,phone,mobile,fax,wechat,qq,tags,note,owner",
        |line, record, index, errors| {
            let cell = |column: &str| {
                index
                    .get(column)
                    .and_then(|&i| record.get(i))
                    .unwrap_or("")
                    .to_owned()
            };
            let n = errors.len();
            let mut bad = |column: &str, message: String| {
                errors.push(RowError::new(line, column, message));
            };
            let name = cell("name");
            if name.is_empty() {
                bad("name", "name is empty; expected the person's name".into());
            }
            for column in ["name", "company", "title", "department", "note"] {
                let value = cell(column);
                let max = if column == "note" {
                    MAX_BODY_LEN
                } else {
                    MAX_TEXT_LEN
                };
                if value.len() > max {
                    bad(
                        column,
                        format!("{column} is {} bytes; at most {max}", value.len()),
                    );
                } else if let Some(c) = value
                    .chars()
                    .find(|c| c.is_control() && !(column == "note" && *c == '\n'))
                {
                    bad(
                        column,
                        format!(
                            "{column} holds the control character U+{:04X}",
                            u32::from(c)
                        ),
                    );
                }
            }
            let mut phones = Vec::new();
            for (column, kind) in [
                ("phone", PhoneKind::Work),
                ("mobile", PhoneKind::Mobile),
                ("fax", PhoneKind::Fax),
            ] {
                for number in cell(column)
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    match vcard::check_phone(number) {
                        Ok(()) => phones.push(Phone {
                            kind,
                            number: number.to_owned(),
                        }),
                        Err(p) => bad(column, p),
                    }
                }
            }
            let mut emails = Vec::new();
            for email in cell("email")
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                match vcard::check_email(email) {
                    Ok(()) => emails.push(email.to_owned()),
                    Err(p) => bad("email", p),
                }
            }
            let mut social = Vec::new();
            for network in ["wechat", "qq"] {
                let handle = cell(network);
                if !handle.is_empty() {
                    social.push(Social {
                        network: network.into(),
                        handle,
                    });
                }
            }
            let customer = Some(cell("customer")).filter(|c| !c.is_empty());
            if let Some(c) = &customer
                && let Err(p) = check_code(c)
            {
                bad("customer", p);
            }
            let owner = Some(cell("owner")).filter(|c| !c.is_empty());
            if let Some(o) = &owner
                && let Err(p) = check_owner(o)
            {
                bad("owner", p);
            }
            let categories = clean_tags(cell("tags").split(';').map(str::to_owned).collect());
            if categories.len() > MAX_TAGS {
                bad(
                    "tags",
                    format!("{} tags; at most {MAX_TAGS}", categories.len()),
                );
            }
            if errors.len() > n {
                return;
            }
            let company = cell("company");
            rows.push(Line {
                line,
                row: CsvContact {
                    card: Card {
                        line: usize::try_from(line).unwrap_or(usize::MAX),
                        version: vcard::Version::V40,
                        name,
                        family_name: String::new(),
                        given_name: String::new(),
                        organization: (!company.is_empty()).then_some(company),
                        department: Some(cell("department")).filter(|s| !s.is_empty()),
                        title: Some(cell("title")).filter(|s| !s.is_empty()),
                        phones,
                        emails,
                        addresses: Vec::new(),
                        urls: Vec::new(),
                        social,
                        note: Some(cell("note")).filter(|s| !s.is_empty()),
                        categories,
                        uid: None,
                    },
                    customer,
                    owner,
                },
            });
        },
    );
    if errors.is_empty() {
        Ok(rows)
    } else {
        let total = errors.len();
        errors.truncate(crate::erp::import::MAX_REPORTED_ERRORS);
        Err((errors, total))
    }
}

/// The code of the `n`th customer made without a code: `C000001`.
pub fn generated_code(n: u64) -> String {
    format!("C{n:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_needs_a_name_and_sane_money() {
        let problems = CustomerInput {
            currency: "rmb".into(),
            credit_limit: Some(Decimal::new(-1, 0)),
            tags: vec!["x".repeat(65)],
            ..CustomerInput::default()
        }
        .checked()
        .unwrap_err();
        let said = problems.join("\n");
        for want in [
            "name_zh, name_en: both empty",
            "currency: \"rmb\"",
            "credit_limit: -1 is negative",
            "tags:",
        ] {
            assert!(said.contains(want), "{want} not in {said}");
        }
        let ok = CustomerInput {
            name_zh: " 华强电子 ".into(),
            tags: vec!["VIP".into(), "vip".into(), " ".into()],
            credit_limit: Some(Decimal::new(50000000, 2)),
            ..CustomerInput::default()
        }
        .checked()
        .unwrap();
        assert_eq!(ok.name_zh, "华强电子");
        assert_eq!(ok.currency, "CNY");
        assert_eq!(ok.tags, vec!["VIP"]);
        assert!(check_money("x", Decimal::new(1001, 3)).is_err());
        assert!(check_money("x", MAX_MONEY).is_ok());
        assert!(check_money("x", MAX_MONEY + Decimal::ONE).is_err());
    }

    #[test]
    fn contacts_and_activities_are_checked() {
        let problems = ContactInput {
            name: " ".into(),
            phones: vec![ContactPhone {
                kind: "pager".into(),
                number: "abc".into(),
            }],
            emails: vec!["nope".into()],
            ..ContactInput::default()
        }
        .checked()
        .unwrap_err()
        .join("\n");
        for want in [
            "name: empty",
            "kind \"pager\"",
            "\"abc\" is not a phone",
            "\"nope\" is not an e-mail",
        ] {
            assert!(problems.contains(want), "{want} not in {problems}");
        }
        let task = ActivityInput {
            kind: ActivityKind::Task,
            subject: "send samples".into(),
            body: String::new(),
            customer: Some("C000001".into()),
            contact: None,
            opportunity: None,
            at: None,
            due: None,
            owner: None,
        };
        assert!(task.clone().checked().unwrap_err()[0].contains("due date"));
        let orphan = ActivityInput {
            customer: None,
            due: NaiveDate::from_ymd_opt(2026, 12, 8),
            ..task
        };
        assert!(orphan.checked().unwrap_err()[0].contains("customer, contact"));
    }

    #[test]
    fn a_contacts_csv_names_every_bad_cell() {
        let csv = "name,company,email,mobile,wechat,tags\n张伟,深圳华强电子有限公司,zhang@hq.example,13800138000,zw_hq,vip;fair\n,x,bad,12,,\n";
        let (errors, total) = parse_contacts_csv(csv.as_bytes()).unwrap_err();
        let said: Vec<String> = errors
            .iter()
            .map(|e| format!("{}:{}", e.line, e.column))
            .collect();
        assert_eq!(said, ["3:name", "3:mobile", "3:email"]);
        assert_eq!(total, 3);
        let rows = parse_contacts_csv(&csv.as_bytes()[..csv.find("\n,x").unwrap() + 1]).unwrap();
        let card = &rows[0].row.card;
        assert_eq!(card.organization.as_deref(), Some("深圳华强电子有限公司"));
        assert_eq!(card.phones[0].kind, PhoneKind::Mobile);
        assert_eq!(card.social[0].network, "wechat");
        assert_eq!(card.categories, ["vip", "fair"]);
        let unknown = parse_contacts_csv(b"name,fax_number\nA,1\n").unwrap_err().0;
        assert_eq!(unknown[0].column, "fax_number");
    }

    #[test]
    fn a_contact_goes_out_as_a_vcard_and_comes_back() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T08:00:00Z")
            .unwrap()
            .to_utc();
        let c = Contact {
            id: 7,
            customer: Some("C000001".into()),
            name: "张伟".into(),
            title: "采购经理".into(),
            department: String::new(),
            phones: vec![ContactPhone {
                kind: "mobile".into(),
                number: "+86 138 0013 8000".into(),
            }],
            emails: vec!["zhang@hq.example".into()],
            social: vec![ContactSocial {
                network: "wechat".into(),
                handle: "zw_hq".into(),
            }],
            note: String::new(),
            tags: vec!["vip".into()],
            owner: "li.sales".into(),
            source: "vcard".into(),
            created_at: at,
            updated_at: at,
        };
        let text = c.to_vcard(Some("深圳华强电子有限公司"));
        assert!(text.contains("REV:20261207T080000Z"));
        let back = &vcard::parse(&text).unwrap()[0];
        let again = ContactInput::from_card(back);
        assert_eq!(again.name, c.name);
        assert_eq!(again.title, c.title);
        assert_eq!(again.emails, c.emails);
        assert_eq!(again.social, c.social);
        assert_eq!(again.tags, c.tags);
        assert_eq!(back.organization.as_deref(), Some("深圳华强电子有限公司"));
    }
}
