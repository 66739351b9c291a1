//! Forms: document types defined as data (an administrator adds one without a release), and
//! the check of a filled-in form. Every problem is reported, each naming its field.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Most fields one form has.
pub const MAX_FIELDS: usize = 60;
/// Most choices one choice field offers.
pub const MAX_CHOICES: usize = 100;
/// Longest text a text field takes unless its definition says less.
pub const MAX_TEXT_LEN: usize = 4_000;
/// Longest date range one field takes, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Decimals a number keeps; money keeps 2.
pub const NUMBER_SCALE: u32 = 6;
/// The largest number or amount a form takes.
pub const MAX_NUMBER: i64 = 1_000_000_000_000;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number,
    /// `{"amount": "1200.50", "currency": "CNY"}`.
    Money,
    Date,
    /// `{"from": "2026-12-08", "to": "2026-12-11"}`, both days included.
    DateRange,
    /// One of the field's `choices`.
    Choice,
    /// A user's login.
    User,
    /// An item of the item master.
    Item,
    /// A customer's code.
    Customer,
    /// An attachment uploaded before, by its SHA-256 (hex).
    Attachment,
}

impl FieldKind {
    /// Whether conditions and rules may compare the field with an amount.
    pub fn is_amount(self) -> bool {
        matches!(self, FieldKind::Number | FieldKind::Money)
    }
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// What the values and conditions call it: `amount`, `dates`, `destination`.
    pub name: String,
    pub label_zh: String,
    pub label_en: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// A choice field's choices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Bounds of a number or an amount (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Decimal>,
    /// Longest text, at most [`MAX_TEXT_LEN`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
}

/// A document type: a form and its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDef {
    /// `travel`, `expense`, …: what workflows and requests name it by.
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub fields: Vec<FieldDef>,
}

/// A field's problem, as the requester is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// What exists outside the form: the users, items, customers and attachments its fields name.
pub trait Lookup {
    fn user(&self, login: &str) -> bool;
    fn item(&self, item: &str) -> bool;
    fn customer(&self, code: &str) -> bool;
    fn attachment(&self, sha256: &str) -> bool;
}

fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && s.as_bytes()[0].is_ascii_lowercase()
}

fn is_label(s: &str) -> bool {
    !s.trim().is_empty() && s.len() <= 200 && !s.chars().any(char::is_control)
}

impl FormDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks the definition itself: a key and field names made of `a-z`, `0-9` and `_`,
    /// names once each, labels in both languages, choices for a choice field, bounds in order.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut out = Vec::new();
        if !is_key(&self.key) {
            out.push(format!(
                "key {:?}: expected a-z, 0-9 and _, starting with a letter, at most 64",
                self.key
            ));
        }
        if !is_label(&self.name_zh) || !is_label(&self.name_en) {
            out.push("name_zh, name_en: both names are needed, at most 200 bytes".into());
        }
        if self.fields.is_empty() || self.fields.len() > MAX_FIELDS {
            out.push(format!(
                "fields: {} fields; a form has 1 to {MAX_FIELDS}",
                self.fields.len()
            ));
        }
        let mut names = BTreeSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            let at = format!("fields[{i}]");
            if !is_key(&f.name) {
                out.push(format!(
                    "{at}.name {:?}: expected a-z, 0-9 and _, starting with a letter",
                    f.name
                ));
            }
            if !names.insert(f.name.as_str()) {
                out.push(format!("{at}.name: {} appears twice", f.name));
            }
            if !is_label(&f.label_zh) || !is_label(&f.label_en) {
                out.push(format!("{at}: both labels are needed, at most 200 bytes"));
            }
            match f.kind {
                FieldKind::Choice => {
                    let unique: BTreeSet<&String> = f.choices.iter().collect();
                    if f.choices.is_empty()
                        || f.choices.len() > MAX_CHOICES
                        || unique.len() != f.choices.len()
                        || !f.choices.iter().all(|c| is_label(c))
                    {
                        out.push(format!(
                            "{at}.choices: a choice field needs 1 to {MAX_CHOICES} different choices"
                        ));
                    }
                }
                _ if !f.choices.is_empty() => {
                    out.push(format!("{at}.choices: only a choice field has choices"));
                }
                _ => {}
            }
            if (f.min.is_some() || f.max.is_some()) && !f.kind.is_amount() {
                out.push(format!(
                    "{at}: only a number or money field has min and max"
                ));
            }
            if let (Some(min), Some(max)) = (f.min, f.max)
                && min > max
            {
                out.push(format!("{at}: min {min} is above max {max}"));
            }
            if let Some(len) = f.max_len
                && (f.kind != FieldKind::Text || len == 0 || len > MAX_TEXT_LEN)
            {
                out.push(format!(
                    "{at}.max_len: only a text field has one, 1 to {MAX_TEXT_LEN}"
                ));
            }
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }

    /// Checks a filled-in form against the definition and returns the values as kept
    /// (numbers and amounts normalized, text trimmed, empty optional fields left out). Every
    /// problem is reported, each naming its field; a field the form does not have is one.
    pub fn validate(
        &self,
        values: &Map<String, Value>,
        lookup: &dyn Lookup,
    ) -> Result<BTreeMap<String, Value>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut kept = BTreeMap::new();
        for name in values.keys() {
            if self.field(name).is_none() {
                errors.push(FieldError {
                    field: name.clone(),
                    problem: format!("is not a field of the form {}", self.key),
                });
            }
        }
        for f in &self.fields {
            let value = values.get(&f.name).filter(|v| !is_empty(v));
            match value {
                None if f.required => errors.push(FieldError {
                    field: f.name.clone(),
                    problem: "is required".into(),
                }),
                None => {}
                Some(v) => match check_value(f, v, lookup) {
                    Ok(v) => {
                        kept.insert(f.name.clone(), v);
                    }
                    Err(problem) => errors.push(FieldError {
                        field: f.name.clone(),
                        problem,
                    }),
                },
            }
        }
        if errors.is_empty() {
            Ok(kept)
        } else {
            Err(errors)
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

fn date(v: &Value) -> Option<NaiveDate> {
    v.as_str()
        .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
}

/// A number within the field's bounds and [`MAX_NUMBER`], with at most `scale` decimals.
fn amount(f: &FieldDef, v: &Value, scale: u32) -> Result<Decimal, String> {
    let n = decimal(v).ok_or_else(|| format!("{v} is not a number"))?;
    if n.abs() > Decimal::from(MAX_NUMBER) {
        return Err(format!("{n} is too large"));
    }
    if n.normalize().scale() > scale {
        return Err(format!("{n} has more than {scale} decimals"));
    }
    if let Some(min) = f.min
        && n < min
    {
        return Err(format!("{n} is below {min}"));
    }
    if let Some(max) = f.max
        && n > max
    {
        return Err(format!("{n} is above {max}"));
    }
    Ok(n.normalize())
}

fn reference(v: &Value, what: &str, exists: bool) -> Result<Value, String> {
    let Some(s) = v.as_str().map(str::trim) else {
        return Err(format!("expected {what} as text"));
    };
    if s.len() > 64 || s.chars().any(char::is_control) {
        return Err(format!("{s:?} is not {what}"));
    }
    if !exists {
        return Err(format!("no {what} {s:?}"));
    }
    Ok(Value::String(s.to_owned()))
}

fn check_value(f: &FieldDef, v: &Value, lookup: &dyn Lookup) -> Result<Value, String> {
    match f.kind {
        FieldKind::Text => {
            let s = v.as_str().ok_or("expected text")?.trim();
            let max = f.max_len.unwrap_or(MAX_TEXT_LEN);
            if s.len() > max {
                return Err(format!("is {} bytes long; at most {max}", s.len()));
            }
            if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err("holds a control character".into());
            }
            Ok(Value::String(s.to_owned()))
        }
        FieldKind::Number => Ok(Value::String(amount(f, v, NUMBER_SCALE)?.to_string())),
        FieldKind::Money => {
            let o = v
                .as_object()
                .ok_or("expected {\"amount\": ..., \"currency\": ...}")?;
            let value = o.get("amount").ok_or("the amount is missing")?;
            let n = amount(f, value, 2)?;
            let currency = o
                .get("currency")
                .and_then(Value::as_str)
                .ok_or("the currency is missing")?;
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "currency {currency:?} is not an ISO 4217 code (CNY, USD, …)"
                ));
            }
            if o.keys().any(|k| k != "amount" && k != "currency") {
                return Err("has more than an amount and a currency".into());
            }
            Ok(serde_json::json!({"amount": n.to_string(), "currency": currency}))
        }
        FieldKind::Date => {
            let d = date(v).ok_or_else(|| format!("{v} is not a date (YYYY-MM-DD)"))?;
            Ok(Value::String(d.to_string()))
        }
        FieldKind::DateRange => {
            let o = v
                .as_object()
                .ok_or("expected {\"from\": ..., \"to\": ...}")?;
            let from = o
                .get("from")
                .and_then(date)
                .ok_or("from is not a date (YYYY-MM-DD)")?;
            let to = o
                .get("to")
                .and_then(date)
                .ok_or("to is not a date (YYYY-MM-DD)")?;
            if to < from {
                return Err(format!("ends {to}, before it starts {from}"));
            }
            if (to - from).num_days() >= MAX_RANGE_DAYS {
                return Err(format!("spans more than {MAX_RANGE_DAYS} days"));
            }
            Ok(serde_json::json!({"from": from.to_string(), "to": to.to_string()}))
        }
        FieldKind::Choice => {
            let s = v.as_str().ok_or("expected one of the choices")?.trim();
            if !f.choices.iter().any(|c| c == s) {
                return Err(format!("{s:?} is not one of {}", f.choices.join(", ")));
            }
            Ok(Value::String(s.to_owned()))
        }
        FieldKind::User => {
            let s = v.as_str().map(str::trim).unwrap_or_default();
            reference(v, "user", lookup.user(s))
        }
        FieldKind::Item => {
            let s = v.as_str().map(str::trim).unwrap_or_default();
            reference(v, "item", lookup.item(s))
        }
        FieldKind::Customer => {
            let s = v.as_str().map(str::trim).unwrap_or_default();
            reference(v, "customer", lookup.customer(s))
        }
        FieldKind::Attachment => {
            let s = v.as_str().map(str::trim).unwrap_or_default();
            if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("expected an attachment's SHA-256 (64 hex digits)".into());
            }
            reference(v, "attachment", lookup.attachment(&s.to_ascii_lowercase()))
        }
    }
}

/// A field's amount as conditions and rules compare it: a number's value, money's amount.
pub fn amount_of(values: &BTreeMap<String, Value>, field: &str) -> Option<Decimal> {
    match values.get(field)? {
        Value::Object(o) => o.get("amount").and_then(decimal),
        v => decimal(v),
    }
}

fn field(name: &str, label_zh: &str, label_en: &str, kind: FieldKind, required: bool) -> FieldDef {
    FieldDef {
        name: name.into(),
        label_zh: label_zh.into(),
        label_en: label_en.into(),
        kind,
        required,
        choices: Vec::new(),
        min: None,
        max: None,
        max_len: None,
    }
}

fn choice(name: &str, label_zh: &str, label_en: &str, choices: &[&str]) -> FieldDef {
    FieldDef {
        choices: choices.iter().map(|c| (*c).to_owned()).collect(),
        ..field(name, label_zh, label_en, FieldKind::Choice, true)
    }
}

fn money(name: &str, label_zh: &str, label_en: &str) -> FieldDef {
    FieldDef {
        min: Some(Decimal::ZERO),
        ..field(name, label_zh, label_en, FieldKind::Money, true)
    }
}

/// The forms central starts with (an administrator changes or adds others).
pub fn built_in() -> Vec<FormDef> {
    use FieldKind::*;
    let form = |key: &str, zh: &str, en: &str, fields: Vec<FieldDef>| FormDef {
        key: key.into(),
        name_zh: zh.into(),
        name_en: en.into(),
        fields,
    };
    let reason = || field("reason", "事由", "Reason", Text, true);
    vec![
        form(
            "travel",
            "出差申请",
            "Travel request",
            vec![
                field("destination", "目的地", "Destination", Text, true),
                field("dates", "日期", "Dates", DateRange, true),
                reason(),
                money("budget", "预算", "Budget"),
                field("plant", "工厂", "Plant", Text, false),
            ],
        ),
        form(
            "expense",
            "费用报销及借款",
            "Expense and cash advance",
            vec![
                choice("type", "类型", "Type", &["expense", "cash_advance"]),
                money("amount", "金额", "Amount"),
                field("date", "日期", "Date", Date, true),
                reason(),
                field("receipt", "票据", "Receipt", Attachment, false),
            ],
        ),
        form(
            "leave",
            "请假申请",
            "Leave request",
            vec![
                choice(
                    "type",
                    "类型",
                    "Type",
                    &["annual", "sick", "personal", "other"],
                ),
                field("dates", "日期", "Dates", DateRange, true),
                reason(),
            ],
        ),
        form(
            "purchase_requisition",
            "采购申请",
            "Purchase requisition",
            vec![
                field("item", "物料", "Item", Item, true),
                FieldDef {
                    min: Some(Decimal::ZERO),
                    ..field("qty", "数量", "Quantity", Number, true)
                },
                field("need_date", "需求日期", "Needed by", Date, true),
                money("amount", "金额", "Amount"),
                field("plant", "工厂", "Plant", Text, false),
                field("planned_order", "计划订单", "Planned order", Text, false),
                // Empty: the item's preferred supplier (else its cheapest).
                field("supplier", "供应商", "Supplier", Text, false),
            ],
        ),
        form(
            "material_requisition",
            "领料申请",
            "Material requisition",
            vec![
                field("work_order", "工单", "Work order", Text, true),
                field("item", "物料", "Item", Item, true),
                FieldDef {
                    min: Some(Decimal::ZERO),
                    ..field("qty", "数量", "Quantity", Number, true)
                },
                field("plant", "工厂", "Plant", Text, true),
                reason(),
            ],
        ),
        form(
            "work_order_release",
            "工单下达",
            "Work-order release",
            vec![
                field("work_order", "工单", "Work order", Text, true),
                field("item", "物料", "Item", Item, true),
                field("qty", "数量", "Quantity", Number, true),
                // Central keeps no item costs: a release asks with its quantity; a value is
                // for workflows fed from elsewhere.
                FieldDef {
                    required: false,
                    ..money("value", "价值", "Value")
                },
                field("plant", "工厂", "Plant", Text, true),
            ],
        ),
        form(
            "quotation_discount",
            "报价折扣审批",
            "Quotation discount",
            vec![
                field("quotation", "报价单", "Quotation", Text, true),
                field("customer", "客户", "Customer", Customer, true),
                FieldDef {
                    min: Some(Decimal::ZERO),
                    max: Some(Decimal::ONE_HUNDRED),
                    ..field("discount_pct", "折扣 %", "Discount %", Number, true)
                },
                money("amount", "金额", "Amount"),
            ],
        ),
        form(
            "credit_override",
            "超信用额度审批",
            "Credit-limit override",
            vec![
                field("order", "销售订单", "Sales order", Text, true),
                field("customer", "客户", "Customer", Customer, true),
                money("over_by", "超出金额", "Over the limit by"),
                reason(),
            ],
        ),
        form(
            "contract",
            "合同审批",
            "Contract",
            vec![
                field("title", "标题", "Title", Text, true),
                field("counterparty", "对方", "Counterparty", Text, true),
                money("amount", "金额", "Amount"),
                field("term", "期限", "Term", DateRange, true),
                field("document", "合同文件", "Document", Attachment, false),
            ],
        ),
    ]
}
