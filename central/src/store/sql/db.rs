//! One connection API over both of central's engines: SQLite (rusqlite, the embedded default)
//! and PostgreSQL (the synchronous `postgres` client), so the store's SQL and its Rust around
//! it are written once.
//!
//! The API is the part of rusqlite's the store uses (`prepare_cached`, `query_row`,
//! `query_map`, `execute`, transactions, `params!`, `.optional()`), with values in SQLite's
//! five storage classes ([`ValueRef`]): integers, reals, text, blobs and NULL. Statements are
//! written with `?N` parameters; for PostgreSQL they are rewritten to `$N` once per text and
//! prepared once per connection (a cache like rusqlite's). The PostgreSQL schema uses the
//! matching types (`BIGINT`, `DOUBLE PRECISION`, `TEXT COLLATE "C"`, `BYTEA`, [`pg_ddl`]), so a
//! row reads the same on both; where PostgreSQL answers another type (`NUMERIC` from `SUM`,
//! `BOOLEAN` from a comparison, `INTEGER` from `CAST`), the row reads it as SQLite would.
//!
//! Transactions: [`Conn::transaction_with_behavior`] with `Immediate` is a write transaction.
//! On SQLite that is `BEGIN IMMEDIATE` (the one writer lock); on PostgreSQL it takes the
//! store's one transaction-level advisory lock ([`WRITE_LOCK`]) first, so writes from every
//! central instance run one at a time in commit order, as they do on SQLite, and the
//! store's read-then-write logic (an edge's `acked_through`, a plan's next version) holds
//! across instances. Reads never wait for it.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

/// The key of PostgreSQL's advisory lock that serializes central's write transactions
/// across instances ("mes-wrt" in ASCII).
pub const WRITE_LOCK: i64 = 0x006d_6573_2d77_7274;

/// Prepared statements kept per PostgreSQL connection before the cache is emptied.
const PG_STATEMENT_CACHE: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    /// PostgreSQL refused a statement: the error and the statement's start.
    #[error("{}, in: {sql}", pg_message(.source))]
    PgStatement {
        source: postgres::Error,
        sql: String,
    },
    /// `query_row` found no row (`.optional()` turns it into `None`).
    #[error("query returned no rows")]
    NoRows,
    /// A stored value does not read as the type asked for.
    #[error("column {column}: {message}")]
    Type { column: usize, message: String },
    /// A parameter does not fit the column PostgreSQL expects.
    #[error("parameter: {0}")]
    Param(String),
}

fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.code().code(), db.message()),
            None => format!("{}: {}", db.code().code(), db.message()),
        },
        None => e.to_string(),
    }
}

impl DbError {
    /// A unique or primary-key constraint refused the row.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            DbError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// `.optional()` on a `query_row` result, as in rusqlite.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A value as SQLite stores it, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A parameter's value: SQLite's storage classes, borrowed where the caller's value allows.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Value<'a> {
        Value::Text(Cow::Borrowed(s))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::Text(Cow::Owned(s))
    }
}

impl From<i64> for Value<'_> {
    fn from(i: i64) -> Self {
        Value::Integer(i)
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Value<'a> {
        v.map_or(Value::Null, Into::into)
    }
}

/// What a parameter can be bound as.
pub trait ToSql {
    fn to_sql(&self) -> Result<Value<'_>>;
}

macro_rules! to_sql_int {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<Value<'_>> {
                i64::try_from(*self)
                    .map(Value::Integer)
                    .map_err(|_| DbError::Param(format!("{} does not fit a 64-bit integer", self)))
            }
        }
    )*};
}
to_sql_int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl ToSql for bool {
    fn to_sql(&self) -> Result<Value<'_>> {
        Ok(Value::Integer(i64::from(*self)))
    }
}
impl ToSql for f64 {
    fn to_sql(&self) -> Result<Value<'_>> {
        Ok(Value::Real(*self))
    }
}
impl ToSql for str {
    fn to_sql(&self) -> Result<Value<'_>> {
        Ok(Value::Text(Cow::Borrowed(self)))
    }
}
impl ToSql for String {
    fn to_sql(&self) -> Result<Value<'_>> {
        Ok(Value::Text(Cow::Borrowed(self)))
    }
}
impl ToSql for Cow<'_, str> {
    fn to_sql(&self) -> Result<Value<'_>> {
        Ok(Value::Text(Cow::Borrowed(self)))
    }
}
impl ToSql for [u8] {
    fn to_sql(&self) -> Result<Value<'_>> {
        Ok(Value::Blob(Cow::Borrowed(self)))
    }
}
impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Result<Value<'_>> {
        Ok(Value::Blob(Cow::Borrowed(self)))
    }
}
impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self) -> Result<Value<'_>> {
        Ok(Value::Blob(Cow::Borrowed(self)))
    }
}
impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Result<Value<'_>> {
        match self {
            Some(v) => v.to_sql(),
            None => Ok(Value::Null),
        }
    }
}
impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Result<Value<'_>> {
        (**self).to_sql()
    }
}
impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn to_sql(&self) -> Result<Value<'_>> {
        (**self).to_sql()
    }
}
impl ToSql for Value<'_> {
    fn to_sql(&self) -> Result<Value<'_>> {
        Ok(match self {
            Value::Null => Value::Null,
            Value::Integer(i) => Value::Integer(*i),
            Value::Real(r) => Value::Real(*r),
            Value::Text(t) => Value::Text(Cow::Borrowed(t)),
            Value::Blob(b) => Value::Blob(Cow::Borrowed(b)),
        })
    }
}

/// `params![a, b, ...]`: the parameters of a statement, `?1`, `?2`, ... in order.
#[macro_export]
macro_rules! sql_params {
    () => {
        &[] as &[&dyn $crate::store::sql::db::ToSql]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::store::sql::db::ToSql),+] as &[&dyn $crate::store::sql::db::ToSql]
    };
}
pub use crate::sql_params as params;

/// What a statement's parameters can be given as: `params![...]`, `[]` or
/// [`params_from_iter`].
pub trait Params {
    fn values(&self) -> Result<Vec<Value<'_>>>;
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Result<Vec<Value<'_>>> {
        self.iter().map(|p| p.to_sql()).collect()
    }
}

impl<const N: usize> Params for [&dyn ToSql; N] {
    fn values(&self) -> Result<Vec<Value<'_>>> {
        self.iter().map(|p| p.to_sql()).collect()
    }
}

/// Parameters from an iterator of values (an `IN (?, ?, ...)` list).
pub struct ParamsFromIter<T>(Vec<T>);

pub fn params_from_iter<I>(iter: I) -> ParamsFromIter<I::Item>
where
    I: IntoIterator,
    I::Item: ToSql,
{
    ParamsFromIter(iter.into_iter().collect())
}

impl<T: ToSql> Params for ParamsFromIter<T> {
    fn values(&self) -> Result<Vec<Value<'_>>> {
        self.0.iter().map(|p| p.to_sql()).collect()
    }
}

/// What a column can be read as.
pub trait FromSql: Sized {
    fn from_sql(value: ValueRef<'_>) -> std::result::Result<Self, String>;
}

fn type_name(value: &ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

macro_rules! from_sql_int {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_sql(value: ValueRef<'_>) -> std::result::Result<Self, String> {
                match value {
                    ValueRef::Integer(i) => <$t>::try_from(i)
                        .map_err(|_| format!("{i} is out of range for {}", stringify!($t))),
                    other => Err(format!("{} where an integer was expected", type_name(&other))),
                }
            }
        }
    )*};
}
from_sql_int!(i32, i64, u8, u16, u32, u64, usize);

impl FromSql for bool {
    fn from_sql(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Integer(i) => Ok(i != 0),
            other => Err(format!(
                "{} where a boolean was expected",
                type_name(&other)
            )),
        }
    }
}
impl FromSql for f64 {
    fn from_sql(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Real(r) => Ok(r),
            // As SQLite does: an integer reads as a real.
            #[allow(clippy::cast_precision_loss)]
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(format!("{} where a real was expected", type_name(&other))),
        }
    }
}
impl FromSql for String {
    fn from_sql(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Text(t) => Ok(t.to_owned()),
            other => Err(format!("{} where text was expected", type_name(&other))),
        }
    }
}
impl FromSql for Vec<u8> {
    fn from_sql(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(format!("{} where a blob was expected", type_name(&other))),
        }
    }
}
impl<const N: usize> FromSql for [u8; N] {
    fn from_sql(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Blob(b) => <[u8; N]>::try_from(b)
                .map_err(|_| format!("a blob of {} bytes where {N} were expected", b.len())),
            other => Err(format!("{} where a blob was expected", type_name(&other))),
        }
    }
}
impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::from_sql(other).map(Some),
        }
    }
}

/// A column's place in a row (0-based).
pub trait RowIndex {
    fn index(self) -> usize;
}

impl RowIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// A row of a result, read column by column (0-based).
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Pg(&'a postgres::Row),
}

impl Row<'_> {
    /// How many columns the row has.
    pub fn len(&self) -> usize {
        match self {
            Row::Sqlite(r) => r.as_ref().column_count(),
            Row::Pg(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let column = idx.index();
        self.with_ref(column, |v| T::from_sql(v))?
            .map_err(|message| DbError::Type { column, message })
    }

    /// The column's value as stored, handed to `f` (its text or blob is borrowed from the
    /// row).
    pub fn with_ref<T>(&self, column: usize, f: impl FnOnce(ValueRef<'_>) -> T) -> Result<T> {
        match self {
            Row::Sqlite(r) => {
                let v = r.get_ref(column)?;
                Ok(f(match v {
                    rusqlite::types::ValueRef::Null => ValueRef::Null,
                    rusqlite::types::ValueRef::Integer(i) => ValueRef::Integer(i),
                    rusqlite::types::ValueRef::Real(r) => ValueRef::Real(r),
                    rusqlite::types::ValueRef::Text(t) => {
                        ValueRef::Text(std::str::from_utf8(t).map_err(|e| DbError::Type {
                            column,
                            message: format!("text is not UTF-8: {e}"),
                        })?)
                    }
                    rusqlite::types::ValueRef::Blob(b) => ValueRef::Blob(b),
                }))
            }
            Row::Pg(r) => pg_value(r, column, f),
        }
    }
}

fn pg_value<T>(row: &postgres::Row, column: usize, f: impl FnOnce(ValueRef<'_>) -> T) -> Result<T> {
    use postgres::types::Type;
    let Some(col) = row.columns().get(column) else {
        return Err(DbError::Type {
            column,
            message: format!("the row has {} columns", row.len()),
        });
    };
    let ty = col.type_();
    let got = |e: postgres::Error| DbError::Postgres(e);
    Ok(match *ty {
        Type::INT8 => f(opt(
            row.try_get::<_, Option<i64>>(column).map_err(got)?,
            ValueRef::Integer,
        )),
        Type::INT4 => f(opt(
            row.try_get::<_, Option<i32>>(column).map_err(got)?,
            |i| ValueRef::Integer(i.into()),
        )),
        Type::INT2 => f(opt(
            row.try_get::<_, Option<i16>>(column).map_err(got)?,
            |i| ValueRef::Integer(i.into()),
        )),
        Type::BOOL => f(opt(
            row.try_get::<_, Option<bool>>(column).map_err(got)?,
            |b| ValueRef::Integer(b.into()),
        )),
        Type::FLOAT8 => f(opt(
            row.try_get::<_, Option<f64>>(column).map_err(got)?,
            ValueRef::Real,
        )),
        Type::FLOAT4 => f(opt(
            row.try_get::<_, Option<f32>>(column).map_err(got)?,
            |r| ValueRef::Real(r.into()),
        )),
        Type::NUMERIC => {
            // `SUM` and `AVG` of integers: an integer when whole, as SQLite answers.
            let d = row
                .try_get::<_, Option<rust_decimal::Decimal>>(column)
                .map_err(got)?;
            match d {
                None => f(ValueRef::Null),
                Some(d) if d.fract().is_zero() => match i64::try_from(d) {
                    Ok(i) => f(ValueRef::Integer(i)),
                    Err(_) => {
                        return Err(DbError::Type {
                            column,
                            message: format!("{d} does not fit a 64-bit integer"),
                        });
                    }
                },
                Some(d) => {
                    use rust_decimal::prelude::ToPrimitive;
                    f(ValueRef::Real(d.to_f64().unwrap_or(f64::NAN)))
                }
            }
        }
        Type::BYTEA => f(opt(
            row.try_get::<_, Option<&[u8]>>(column).map_err(got)?,
            ValueRef::Blob,
        )),
        _ => {
            // TEXT, VARCHAR, CITEXT, NAME, and whatever else reads as text.
            f(opt(
                row.try_get::<_, Option<&str>>(column).map_err(got)?,
                ValueRef::Text,
            ))
        }
    })
}

fn opt<'a, T>(v: Option<T>, some: impl FnOnce(T) -> ValueRef<'a>) -> ValueRef<'a> {
    v.map_or(ValueRef::Null, some)
}

/// A parameter bound for PostgreSQL: converted to the type the statement expects.
struct PgParam<'a>(&'a Value<'a>);

impl std::fmt::Debug for PgParam<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Parameters may be secrets (hashes): never printed.
        f.write_str("PgParam")
    }
}

fn put<T: postgres::types::ToSql>(
    value: T,
    ty: &postgres::types::Type,
    out: &mut bytes::BytesMut,
) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
    postgres::types::ToSql::to_sql(&value, ty, out)
}

impl postgres::types::ToSql for PgParam<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use postgres::types::{IsNull, Type};
        let mismatch = |what: &str| -> Box<dyn std::error::Error + Sync + Send> {
            format!("{what} cannot be bound as {ty}").into()
        };
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => put(*i, ty, out),
                Type::INT4 => put(
                    i32::try_from(*i).map_err(|_| mismatch(&i.to_string()))?,
                    ty,
                    out,
                ),
                Type::INT2 => put(
                    i16::try_from(*i).map_err(|_| mismatch(&i.to_string()))?,
                    ty,
                    out,
                ),
                Type::BOOL => put(*i != 0, ty, out),
                #[allow(clippy::cast_precision_loss)]
                Type::FLOAT8 => put(*i as f64, ty, out),
                Type::NUMERIC => put(rust_decimal::Decimal::from(*i), ty, out),
                _ => put(i.to_string(), ty, out),
            },
            Value::Real(r) => match *ty {
                Type::FLOAT8 => put(*r, ty, out),
                #[allow(clippy::cast_possible_truncation)]
                Type::FLOAT4 => put(*r as f32, ty, out),
                Type::NUMERIC => put(
                    rust_decimal::Decimal::try_from(*r).map_err(|_| mismatch(&r.to_string()))?,
                    ty,
                    out,
                ),
                _ => put(r.to_string(), ty, out),
            },
            Value::Text(t) => match *ty {
                Type::INT8 => put(
                    t.parse::<i64>()
                        .map_err(|_| mismatch("text that is not an integer"))?,
                    ty,
                    out,
                ),
                Type::INT4 => put(
                    t.parse::<i32>()
                        .map_err(|_| mismatch("text that is not an integer"))?,
                    ty,
                    out,
                ),
                Type::BYTEA => put(t.as_bytes(), ty, out),
                _ => put(t.as_ref(), ty, out),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => put(b.as_ref(), ty, out),
                _ => Err(mismatch("a blob")),
            },
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// The type PostgreSQL is told a parameter has when it cannot work it out from the statement
/// (`?1 IS NULL`).
fn pg_type_of(value: &Value<'_>) -> postgres::types::Type {
    use postgres::types::Type;
    match value {
        Value::Null | Value::Text(_) => Type::TEXT,
        Value::Integer(_) => Type::INT8,
        Value::Real(_) => Type::FLOAT8,
        Value::Blob(_) => Type::BYTEA,
    }
}

/// `?N` and `?` parameters as PostgreSQL's `$N`, outside quoted text and identifiers.
pub fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1u32;
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                out.push('$');
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// A table definition written for SQLite, as PostgreSQL's: SQLite's storage classes as the
/// types that read back the same (`INTEGER` → `BIGINT`, `REAL` → `DOUBLE PRECISION`, `BLOB`
/// → `BYTEA`, `TEXT` → `TEXT COLLATE "C"`, so text sorts by its bytes as on SQLite, and
/// `TEXT ... COLLATE NOCASE` → `CITEXT`), an `INTEGER PRIMARY KEY` as an identity column,
/// no `WITHOUT ROWID`, and SQLite's triggers left out (PostgreSQL's are made apart).
pub fn pg_ddl(sqlite: &str) -> String {
    let mut out = String::with_capacity(sqlite.len() + 256);
    // Statement by statement; SQLite's `CREATE TRIGGER ... BEGIN ...; END;` is skipped whole.
    let mut rest = sqlite;
    while !rest.trim().is_empty() {
        let trimmed = rest.trim_start();
        let upper = trimmed
            .get(..40.min(trimmed.len()))
            .unwrap_or("")
            .to_ascii_uppercase();
        let end = if upper.starts_with("CREATE TRIGGER") {
            trimmed.find("END;").map_or(trimmed.len(), |i| i + 4)
        } else {
            statement_end(trimmed)
        };
        let (statement, tail) = trimmed.split_at(end);
        rest = tail;
        if upper.starts_with("CREATE TRIGGER") {
            continue;
        }
        out.push_str(&pg_statement(statement));
        out.push('\n');
    }
    out
}

/// Where the statement at the start of `sql` ends (after its `;`, outside quotes).
fn statement_end(sql: &str) -> usize {
    let mut quote: Option<char> = None;
    for (i, c) in sql.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == ';' => return i + 1,
            None => {}
        }
    }
    sql.len()
}

fn pg_statement(statement: &str) -> String {
    let s = statement.replace("WITHOUT ROWID", "");
    let mut lines = Vec::new();
    for line in s.lines() {
        lines.push(pg_column_line(line));
    }
    lines.join("\n")
}

/// One line of a table definition: its column type translated.
fn pg_column_line(line: &str) -> String {
    let upper = line.to_ascii_uppercase();
    if upper.contains("INTEGER PRIMARY KEY") {
        let check = line.find("CHECK").map(|i| &line[i..]).unwrap_or("");
        let name = line.split_whitespace().next().unwrap_or("");
        let indent = &line[..line.len() - line.trim_start().len()];
        let trailing = if check.is_empty() && line.trim_end().ends_with(',') {
            ","
        } else {
            ""
        };
        if !check.is_empty() {
            // A one-row table's fixed key (`id INTEGER PRIMARY KEY CHECK (id = 1)`).
            return format!("{indent}{name} BIGINT PRIMARY KEY {check}");
        }
        return format!(
            "{indent}{name} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY{trailing}"
        );
    }
    let mut words: Vec<String> = Vec::new();
    let mut nocase = false;
    for word in line.split(' ') {
        if word == "NOCASE" || word == "NOCASE," {
            nocase = true;
        }
        words.push(word.to_owned());
    }
    if nocase {
        // `TEXT ... COLLATE NOCASE`: CITEXT, compared without case like SQLite's NOCASE.
        let joined = words.join(" ");
        let joined = joined.replace(" COLLATE NOCASE", "");
        return joined.replacen(" TEXT", " CITEXT", 1);
    }
    // Only the column's type word (the second word of a column line) is translated.
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let mut parts = trimmed.splitn(2, char::is_whitespace);
    let (Some(name), Some(rest)) = (parts.next(), parts.next()) else {
        return line.to_owned();
    };
    let rest_trim = rest.trim_start();
    let is_column = !matches!(
        name.to_ascii_uppercase().as_str(),
        "CREATE" | "PRIMARY" | "UNIQUE" | "FOREIGN" | "CHECK" | "CONSTRAINT" | ")" | ");"
    );
    if !is_column {
        return line.to_owned();
    }
    for (from, to) in [
        ("INTEGER", "BIGINT"),
        ("REAL", "DOUBLE PRECISION"),
        ("BLOB", "BYTEA"),
        ("TEXT", "TEXT COLLATE \"C\""),
    ] {
        if let Some(after) = rest_trim.strip_prefix(from)
            && (after.is_empty() || after.starts_with([' ', ',', ')']))
        {
            return format!("{indent}{name} {to}{after}");
        }
    }
    line.to_owned()
}

/// The store's tables by name: SQLite's main schema (not its own `sqlite_*`), or
/// PostgreSQL's base tables of the current schema.
pub fn table_names(conn: &Conn) -> Result<Vec<String>> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        }
        Dialect::Postgres => {
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    conn.prepare(sql)?.query_map([], |r| r.get(0))?.collect()
}

/// Rows one multi-row statement holds at most: a power of two.
const MAX_ROWS_PER_STATEMENT: usize = 512;

/// Parameters one multi-row statement holds at most, well within SQLite's 32766 and
/// PostgreSQL's 65535.
const MAX_PARAMS_PER_STATEMENT: usize = 8192;

/// How many rows each statement takes when `n` rows of `width` values are written (or
/// looked up) together: powers of two, largest first, each within [`MAX_ROWS_PER_STATEMENT`]
/// and [`MAX_PARAMS_PER_STATEMENT`]. A batch of any size so runs a few statements of a few
/// distinct texts, each prepared once per connection: 1000 rows are 6 statements.
pub fn row_chunks(n: usize, width: usize) -> Vec<usize> {
    let most = (MAX_PARAMS_PER_STATEMENT / width.max(1)).clamp(1, MAX_ROWS_PER_STATEMENT);
    let most = 1 << most.ilog2();
    let mut chunks = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = most.min(1 << left.ilog2());
        chunks.push(k);
        left -= k;
    }
    chunks
}

/// `(?1, ?2), (?3, ?4)`: the parameters of `rows` rows of `width` values, for `VALUES`.
pub fn values_rows(rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 6);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('?');
            sql.push_str(&(r * width + c + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

impl Conn {
    /// Runs `sql(values)` for the rows in `values` (`width` values a row, in order), the
    /// rows cut by [`row_chunks`], `values` being the text of [`values_rows`]. Returns the
    /// rows changed. One round trip per statement instead of one per row on PostgreSQL.
    pub fn execute_rows(
        &self,
        values: &[Value<'_>],
        width: usize,
        sql: impl Fn(&str) -> String,
    ) -> Result<usize> {
        let mut changed = 0;
        let mut at = 0;
        for k in row_chunks(values.len() / width.max(1), width) {
            let text = sql(&values_rows(k, width));
            changed += self.run_execute(&text, &values[at..at + k * width], true)?;
            at += k * width;
        }
        Ok(changed)
    }

    /// Like [`Conn::execute_rows`] for a query: every row of every statement mapped by `f`.
    pub fn query_rows<T>(
        &self,
        values: &[Value<'_>],
        width: usize,
        sql: impl Fn(&str) -> String,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut at = 0;
        for k in row_chunks(values.len() / width.max(1), width) {
            let text = sql(&values_rows(k, width));
            for row in self.run_query_map(&text, &values[at..at + k * width], &mut f)? {
                out.push(row?);
            }
            at += k * width;
        }
        Ok(out)
    }
}

/// A PostgreSQL error with the statement it came from (its first 300 characters, on one
/// line), so a log names what failed.
fn with_statement(source: postgres::Error, sql: &str) -> DbError {
    let mut text: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = text.char_indices().nth(300) {
        text.truncate(cut);
        text.push('…');
    }
    DbError::PgStatement { source, sql: text }
}

/// A PostgreSQL connection and its prepared statements.
pub struct PgClient {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl PgClient {
    pub fn new(client: postgres::Client) -> PgClient {
        PgClient {
            client,
            statements: HashMap::new(),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }

    fn statement(&mut self, sql: &str, values: &[Value<'_>]) -> Result<postgres::Statement> {
        self.prepare_statement(sql, values)
            .map_err(|source| with_statement(source, sql))
    }

    fn prepare_statement(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
    ) -> std::result::Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let text = pg_sql(sql);
        let statement = match self.client.prepare(&text) {
            Ok(s) => s,
            Err(e) if e.code() == Some(&postgres::error::SqlState::INDETERMINATE_DATATYPE) => {
                let types: Vec<_> = values.iter().map(pg_type_of).collect();
                self.client.prepare_typed(&text, &types)?
            }
            Err(e) => return Err(e),
        };
        if self.statements.len() >= PG_STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &str, values: &[Value<'_>]) -> Result<Vec<postgres::Row>> {
        let statement = self.statement(sql, values)?;
        let params: Vec<PgParam<'_>> = values.iter().map(PgParam).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        self.client
            .query(&statement, &refs)
            .map_err(|source| with_statement(source, sql))
    }

    fn execute(&mut self, sql: &str, values: &[Value<'_>]) -> Result<u64> {
        let statement = self.statement(sql, values)?;
        let params: Vec<PgParam<'_>> = values.iter().map(PgParam).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        self.client
            .execute(&statement, &refs)
            .map_err(|source| with_statement(source, sql))
    }
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Pg(Box<RefCell<PgClient>>),
}

/// A connection to either engine.
pub struct Conn {
    inner: Inner,
    /// Set when the connection must not be handed to anyone else ([`Conn::discard`]).
    discarded: std::cell::Cell<bool>,
    /// Statements run through this API ([`Conn::statements_run`]).
    statements: std::cell::Cell<u64>,
}

/// rusqlite's name, so the store's functions read as they always did.
pub type Connection = Conn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionBehavior {
    /// Reads first; a write transaction on SQLite only when it writes.
    Deferred,
    /// A write transaction from the start (SQLite's writer lock, PostgreSQL's [`WRITE_LOCK`]).
    Immediate,
}

impl Conn {
    pub fn sqlite(conn: rusqlite::Connection) -> Conn {
        Conn {
            inner: Inner::Sqlite(conn),
            discarded: std::cell::Cell::new(false),
            statements: std::cell::Cell::new(0),
        }
    }

    pub fn postgres(client: PgClient) -> Conn {
        Conn {
            inner: Inner::Pg(Box::new(RefCell::new(client))),
            discarded: std::cell::Cell::new(false),
            statements: std::cell::Cell::new(0),
        }
    }

    /// A private in-memory SQLite database (tests, tools).
    pub fn open_in_memory() -> Result<Conn> {
        Ok(Conn::sqlite(rusqlite::Connection::open_in_memory()?))
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Pg(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, functions, backup).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Pg(_) => None,
        }
    }

    pub fn as_sqlite_mut(&mut self) -> Option<&mut rusqlite::Connection> {
        match &mut self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Pg(_) => None,
        }
    }

    /// The PostgreSQL client, for what only PostgreSQL has.
    pub fn with_pg<T>(&self, f: impl FnOnce(&mut PgClient) -> T) -> Option<T> {
        match &self.inner {
            Inner::Sqlite(_) => None,
            Inner::Pg(c) => Some(f(&mut c.borrow_mut())),
        }
    }

    /// Whether the connection can be handed to the next user (a PostgreSQL connection the
    /// server closed cannot).
    pub fn is_usable(&self) -> bool {
        if self.discarded.get() {
            return false;
        }
        match &self.inner {
            Inner::Sqlite(_) => true,
            Inner::Pg(c) => c.try_borrow().is_ok_and(|c| !c.is_closed()),
        }
    }

    /// How many statements the store ran on this connection (each a round trip on
    /// PostgreSQL; transactions' own statements left out): what the tests hold ingest to.
    pub fn statements_run(&self) -> u64 {
        self.statements.get()
    }

    /// Marks the connection as not to be reused (a pool closes it).
    pub fn discard(&self) {
        self.discarded.set(true);
    }

    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: Cow::Owned(sql.to_owned()),
            cached: true,
        })
    }

    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: Cow::Owned(sql.to_owned()),
            cached: false,
        })
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.run_execute(sql, &params.values()?, false)
    }

    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.run_query_row(sql, &params.values()?, false, f)
    }

    /// Several statements without parameters (schemas).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Pg(c) => Ok(c.borrow_mut().client.batch_execute(sql)?),
        }
    }

    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        self.transaction_with_behavior(TransactionBehavior::Deferred)
    }

    pub fn transaction_with_behavior(
        &mut self,
        behavior: TransactionBehavior,
    ) -> Result<Transaction<'_>> {
        self.begin(behavior)?;
        Ok(Transaction {
            conn: self,
            done: false,
        })
    }

    fn begin(&self, behavior: TransactionBehavior) -> Result<()> {
        match (&self.inner, behavior) {
            (Inner::Sqlite(c), TransactionBehavior::Deferred) => {
                c.execute_batch("BEGIN DEFERRED")?
            }
            (Inner::Sqlite(c), TransactionBehavior::Immediate) => {
                c.execute_batch("BEGIN IMMEDIATE")?;
            }
            (Inner::Pg(c), TransactionBehavior::Deferred) => {
                c.borrow_mut().client.batch_execute("BEGIN")?;
            }
            (Inner::Pg(c), TransactionBehavior::Immediate) => {
                let mut c = c.borrow_mut();
                c.client.batch_execute("BEGIN")?;
                if let Err(e) = c
                    .client
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                {
                    let _ = c.client.batch_execute("ROLLBACK");
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    fn end(&self, commit: bool) -> Result<()> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Pg(c) => Ok(c.borrow_mut().client.batch_execute(sql)?),
        }
    }

    fn run_execute(&self, sql: &str, values: &[Value<'_>], cached: bool) -> Result<usize> {
        self.statements.set(self.statements.get() + 1);
        match &self.inner {
            Inner::Sqlite(c) => {
                let binds: Vec<SqliteParam<'_>> = values.iter().map(SqliteParam).collect();
                let n = if cached {
                    c.prepare_cached(sql)?
                        .execute(rusqlite::params_from_iter(binds.iter()))?
                } else {
                    c.execute(sql, rusqlite::params_from_iter(binds.iter()))?
                };
                Ok(n)
            }
            Inner::Pg(c) => {
                let n = c.borrow_mut().execute(sql, values)?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    fn run_query_row<T, F>(&self, sql: &str, values: &[Value<'_>], cached: bool, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.statements.set(self.statements.get() + 1);
        match &self.inner {
            Inner::Sqlite(c) => {
                let binds: Vec<SqliteParam<'_>> = values.iter().map(SqliteParam).collect();
                if cached {
                    let mut stmt = c.prepare_cached(sql)?;
                    sqlite_first_row(&mut stmt, &binds, f)
                } else {
                    // A statement made for this call alone (finalized when dropped).
                    sqlite_first_row(&mut c.prepare(sql)?, &binds, f)
                }
            }
            Inner::Pg(c) => {
                let rows = c.borrow_mut().query(sql, values)?;
                match rows.first() {
                    Some(r) => f(&Row::Pg(r)),
                    None => Err(DbError::NoRows),
                }
            }
        }
    }

    fn run_query_map<T, F>(
        &self,
        sql: &str,
        values: &[Value<'_>],
        mut f: F,
    ) -> Result<Vec<Result<T>>>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        self.statements.set(self.statements.get() + 1);
        match &self.inner {
            Inner::Sqlite(c) => {
                let binds: Vec<SqliteParam<'_>> = values.iter().map(SqliteParam).collect();
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(binds.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Sqlite(r)));
                }
                Ok(out)
            }
            Inner::Pg(c) => {
                let rows = c.borrow_mut().query(sql, values)?;
                Ok(rows.iter().map(|r| f(&Row::Pg(r))).collect())
            }
        }
    }
}

/// The first row of `stmt` handed to `f`, or [`DbError::NoRows`].
fn sqlite_first_row<T>(
    stmt: &mut rusqlite::Statement<'_>,
    binds: &[SqliteParam<'_>],
    f: impl FnOnce(&Row<'_>) -> Result<T>,
) -> Result<T> {
    let mut rows = stmt.query(rusqlite::params_from_iter(binds.iter()))?;
    match rows.next()? {
        Some(r) => f(&Row::Sqlite(r)),
        None => Err(DbError::NoRows),
    }
}

/// A value bound for SQLite, borrowed.
struct SqliteParam<'a>(&'a Value<'a>);

impl rusqlite::ToSql for SqliteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as V};
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => V::Null,
            Value::Integer(i) => V::Integer(*i),
            Value::Real(r) => V::Real(*r),
            Value::Text(t) => V::Text(t.as_bytes()),
            Value::Blob(b) => V::Blob(b),
        }))
    }
}

/// A statement of a connection; prepared (and kept prepared) when first run.
pub struct Statement<'c> {
    conn: &'c Conn,
    sql: Cow<'c, str>,
    cached: bool,
}

impl Statement<'_> {
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn
            .run_execute(&self.sql, &params.values()?, self.cached)
    }

    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.conn
            .run_query_row(&self.sql, &params.values()?, self.cached, f)
    }

    /// Every row mapped by `f`, read whole before the first is handed out.
    pub fn query_map<T, P, F>(&mut self, params: P, f: F) -> Result<std::vec::IntoIter<Result<T>>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        Ok(self
            .conn
            .run_query_map(&self.sql, &params.values()?, f)?
            .into_iter())
    }

    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        self.query_row(params, |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }
}

/// A transaction; rolled back when dropped without [`Transaction::commit`].
pub struct Transaction<'c> {
    conn: &'c Conn,
    done: bool,
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.end(true)
    }

    /// Ends a transaction that only read (rolled back: nothing to keep).
    pub fn finish(self) -> Result<()> {
        self.rollback()
    }

    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.conn.end(false)
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Nothing to report to: the transaction's error is what the caller sees.
            let _ = self.conn.end(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_cut_into_few_statements_of_few_texts() {
        assert_eq!(row_chunks(0, 7), Vec::<usize>::new());
        assert_eq!(row_chunks(1, 7), vec![1]);
        assert_eq!(row_chunks(1000, 7), vec![512, 256, 128, 64, 32, 8]);
        assert_eq!(row_chunks(1100, 7), vec![512, 512, 64, 8, 4]);
        // Wide rows: at most MAX_PARAMS_PER_STATEMENT parameters a statement.
        assert_eq!(row_chunks(100, 100), vec![64, 32, 4]);
        assert_eq!(row_chunks(3, 10_000), vec![1, 1, 1]);
        assert_eq!(values_rows(2, 3), "(?1, ?2, ?3), (?4, ?5, ?6)");
    }

    #[test]
    fn parameters_become_dollar_numbers_outside_quotes() {
        assert_eq!(
            pg_sql("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"?\" = ?12 OR d IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"?\" = $12 OR d IN ($1, $2)"
        );
    }

    #[test]
    fn tables_get_the_types_that_read_back_the_same() {
        let ddl = pg_ddl(
            "
CREATE TABLE IF NOT EXISTS t (
    id     INTEGER PRIMARY KEY,
    login  TEXT NOT NULL COLLATE NOCASE,
    n      INTEGER NOT NULL DEFAULT 0,
    r      REAL,
    hash   BLOB NOT NULL,
    name   TEXT,
    PRIMARY KEY (login, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS one (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    text TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS no_update BEFORE UPDATE ON t
BEGIN SELECT RAISE(ABORT, 'no'); END;
CREATE INDEX IF NOT EXISTS t_name ON t (name);
",
        );
        assert!(
            ddl.contains("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"),
            "{ddl}"
        );
        assert!(ddl.contains("login  CITEXT NOT NULL"), "{ddl}");
        assert!(ddl.contains("n BIGINT NOT NULL DEFAULT 0,"), "{ddl}");
        assert!(ddl.contains("r DOUBLE PRECISION,"), "{ddl}");
        assert!(ddl.contains("hash BYTEA NOT NULL,"), "{ddl}");
        assert!(ddl.contains("name TEXT COLLATE \"C\","), "{ddl}");
        assert!(
            ddl.contains("id BIGINT PRIMARY KEY CHECK (id = 1)"),
            "{ddl}"
        );
        assert!(ddl.contains("text TEXT COLLATE \"C\" NOT NULL"), "{ddl}");
        assert!(!ddl.contains("ROWID") && !ddl.contains("TRIGGER"), "{ddl}");
        assert!(
            ddl.contains("CREATE INDEX IF NOT EXISTS t_name ON t (name);"),
            "{ddl}"
        );
    }
}
