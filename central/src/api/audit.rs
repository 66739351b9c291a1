//! The audit trail over HTTP: `GET /api/v1/audit` (JSON pages) and `GET /api/v1/audit.csv`
//! (the same filters, one CSV document). The actor of every request is set by the policy
//! layer ([`super::policy::enforce`]).

use super::AppState;
use super::error::AppError;
use super::extract::ApiQuery;
use super::policy::{Routes, needs};
use crate::people::audit::ActorKind;
use crate::people::roles::Permission;
use crate::store::audit::{AuditEntry, AuditOrder, AuditQuery, DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE};
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use protocol::bounds;
use serde::{Deserialize, Serialize};

/// Most rows one `GET /api/v1/audit.csv` holds, whatever `limit` asks for.
pub const MAX_CSV_ROWS: usize = 100_000;
/// The CSV ends after the row that passes this many bytes; `x-audit-next` says where to go
/// on.
pub const MAX_CSV_BYTES: usize = 32 * 1024 * 1024;
/// The response header of a CSV that stopped before the filters' end: the `after` of the
/// next request.
pub const NEXT_HEADER: &str = "x-audit-next";

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/audit", needs(Permission::AuditRead), list_audit)
        .get(
            "/api/v1/audit.csv",
            needs(Permission::AuditRead),
            export_audit,
        )
}

/// The query of both routes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub actor: Option<String>,
    pub actor_kind: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub operation: Option<String>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    pub after: Option<u64>,
    /// `asc` (oldest first, the default) or `desc`.
    pub order: Option<String>,
    pub limit: Option<u64>,
}

/// A page of `GET /api/v1/audit`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// The `after` of the next page; absent when this page is not full (the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

fn bad(message: String) -> AppError {
    AppError::bad_request(message)
}

fn time(field: &str, value: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            bad(format!(
                "{field} {:?} is not a time ({e}); expected RFC 3339, e.g. 2026-12-06T08:00:00Z",
                bounds::sanitize_text(value)
            ))
        })
}

/// The store's query from the parameters, every one checked; `max_limit` and
/// `default_limit` are the route's.
fn query_of(
    params: AuditParams,
    default_limit: usize,
    max_limit: usize,
) -> Result<AuditQuery, AppError> {
    let check = |r: Result<(), bounds::Violation>| r.map_err(|v| bad(v.to_string()));
    for (field, value) in [
        ("entity", &params.entity),
        ("action", &params.action),
        ("actor_kind", &params.actor_kind),
    ] {
        if let Some(value) = value {
            check(bounds::check_id(field, value))?;
        }
    }
    for (field, value) in [
        ("actor", &params.actor),
        ("entity_id", &params.entity_id),
        ("operation", &params.operation),
    ] {
        if let Some(value) = value {
            check(bounds::check_text(field, value))?;
        }
    }
    let actor_kind = params
        .actor_kind
        .as_deref()
        .map(|k| {
            ActorKind::parse(k).ok_or_else(|| {
                bad(format!(
                    "actor_kind {k:?} is unknown; expected one of {}",
                    ActorKind::ALL.map(ActorKind::as_str).join(", ")
                ))
            })
        })
        .transpose()?;
    let from = params
        .from
        .as_deref()
        .map(|t| time("from", t))
        .transpose()?;
    let to = params.to.as_deref().map(|t| time("to", t)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(bad(format!(
            "from {} is not before to {}; expected a time range with from < to",
            from.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            to.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )));
    }
    if let Some(after) = params.after {
        check(bounds::check_seq("after", after))?;
    }
    let order = match params.order.as_deref() {
        None | Some("asc") => AuditOrder::Asc,
        Some("desc") => AuditOrder::Desc,
        Some(other) => {
            return Err(bad(format!(
                "order {:?} is unknown; expected asc or desc",
                bounds::sanitize_text(other)
            )));
        }
    };
    let limit = match params.limit {
        None => default_limit,
        Some(n) if n >= 1 && n <= max_limit as u64 => n as usize,
        Some(n) => {
            return Err(bad(format!(
                "limit {n} is out of range; expected 1 to {max_limit}"
            )));
        }
    };
    Ok(AuditQuery {
        actor: params.actor,
        actor_kind,
        entity: params.entity,
        entity_id: params.entity_id,
        action: params.action,
        operation: params.operation,
        from,
        to,
        after: params.after,
        order,
        limit,
    })
}

/// `GET /api/v1/audit`: entries matching every filter given, in `order`, a page at a time.
async fn list_audit(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<axum::Json<AuditPage>, AppError> {
    let query = query_of(params, DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE)?;
    let limit = query.limit;
    let entries = state.store().audit(query).await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(axum::Json(AuditPage { entries, next }))
}

/// The CSV header of `GET /api/v1/audit.csv`.
pub const CSV_COLUMNS: [&str; 13] = [
    "seq",
    "at",
    "actor_kind",
    "actor",
    "address",
    "operation",
    "action",
    "entity",
    "entity_id",
    "before",
    "after",
    "prev_hash",
    "hash",
];

/// A cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab, carriage return
/// first) gets a leading `'` (OWASP's CSV injection advice); JSON and hashes never start so.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn csv_row(entry: &AuditEntry) -> [String; 13] {
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    [
        entry.seq.to_string(),
        entry.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        entry.actor_kind.as_str().to_owned(),
        cell(&entry.actor),
        cell(entry.address.as_deref().unwrap_or_default()),
        cell(&entry.operation),
        cell(&entry.action),
        cell(&entry.entity),
        cell(entry.entity_id.as_deref().unwrap_or_default()),
        json(&entry.before),
        json(&entry.after),
        entry.prev_hash.clone().unwrap_or_default(),
        entry.hash.clone(),
    ]
}

/// `GET /api/v1/audit.csv`: the entries `GET /api/v1/audit` would list with the same
/// filters, as one CSV document with a header, up to `limit` rows ([`MAX_CSV_ROWS`], the
/// default) or [`MAX_CSV_BYTES`]; when it stops before the end, [`NEXT_HEADER`] holds the
/// `after` to go on from.
async fn export_audit(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Response, AppError> {
    let mut query = query_of(params, MAX_CSV_ROWS, MAX_CSV_ROWS)?;
    let wanted = query.limit;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| AppError::internal(format!("cannot write csv: {e}"));
    writer.write_record(CSV_COLUMNS).map_err(csv_error)?;
    let mut rows = 0usize;
    let mut next = None;
    'pages: loop {
        query.limit = MAX_AUDIT_PAGE.min(wanted - rows);
        let page = state.store().audit(query.clone()).await?;
        let full = page.len() == query.limit;
        for (i, entry) in page.iter().enumerate() {
            writer.write_record(csv_row(entry)).map_err(csv_error)?;
            rows += 1;
            query.after = Some(entry.seq);
            if writer.get_ref().len() >= MAX_CSV_BYTES {
                if i + 1 < page.len() || full {
                    next = Some(entry.seq);
                }
                break 'pages;
            }
        }
        if !full {
            break;
        }
        if rows == wanted {
            next = query.after;
            break;
        }
    }
    let body = writer
        .into_inner()
        .map_err(|e| AppError::internal(format!("cannot write csv: {e}")))?;
    let mut response = (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"audit.csv\""),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(next) = next {
        response.headers_mut().insert(
            HeaderName::from_static(NEXT_HEADER),
            HeaderValue::from(next),
        );
    }
    Ok(response)
}

/// Adds this module's paths and schemas to the OpenAPI document.
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let text = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description});
    let filters = vec![
        text(
            "actor",
            "who: a login, `<login>/<token id>`, an edge id, `admin`",
        ),
        json!({"name": "actor_kind", "in": "query", "required": false, "schema": {"type": "string", "enum": ActorKind::ALL.map(ActorKind::as_str)}}),
        text(
            "entity",
            "what: a table (`wo_orders`, `erp_items`, `edges`, …) or kind (`session`)",
        ),
        text(
            "entity_id",
            "the row's primary key (`/` between the parts of a composite one)",
        ),
        text(
            "action",
            "`insert`, `update`, `delete`, `sign_in_failed`, `denied`, `locked`",
        ),
        text(
            "operation",
            "method and route template, e.g. `POST /api/v1/work-orders/{id}/release`",
        ),
        json!({"name": "from", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}, "description": "RFC 3339, inclusive"}),
        json!({"name": "to", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}, "description": "RFC 3339, exclusive"}),
        json!({"name": "after", "in": "query", "required": false, "schema": {"type": "integer"}, "description": "entries after this seq in the order (the previous page's `next`)"}),
        json!({"name": "order", "in": "query", "required": false, "schema": {"type": "string", "enum": ["asc", "desc"], "default": "asc"}, "description": "by seq: oldest first (asc) or newest first"}),
    ];
    let with_limit = |default: usize, max: usize| {
        let mut all = filters.clone();
        all.push(json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": max, "default": default}}));
        all
    };
    let paths = json!({
        "/api/v1/audit": {"get": {"summary": "the audit trail: who changed what, when, from where", "tags": ["people"],
            "description": "Every change of central's state made through the API (master data, work orders, lot holds, inventory reversals, plans published, edges' credentials, configuration, users and roles) is an entry written in the same transaction as the change, with the row before and after (secret columns as \"[redacted]\"); sign-in failures, denied requests and lockouts are entries too. Edge ingest is not (the events are their own trail). Entries are never changed or deleted; each carries the hash of the one before (`mes audit verify --data DIR` checks the chain). Every filter given must hold.",
            "parameters": with_limit(DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE),
            "responses": {"200": {"description": "a page", "content": {"application/json": {"schema": {"type": "object", "required": ["entries"], "properties": {
                "entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
                "next": {"type": "integer", "description": "the `after` of the next page; absent when this page is not full"}}}}}},
                "400": error, "401": error}}},
        "/api/v1/audit.csv": {"get": {"summary": "the audit trail as csv", "tags": ["people"],
            "description": format!("The same filters and order as /api/v1/audit, as one text/csv document with the header `{}`, up to `limit` rows (default and most {MAX_CSV_ROWS}) or about {} MiB; when it stops before the end, the header `{NEXT_HEADER}` holds the `after` to go on from. Cells a spreadsheet would read as a formula start with `'`.", CSV_COLUMNS.join(","), MAX_CSV_BYTES / (1024 * 1024)),
            "parameters": with_limit(MAX_CSV_ROWS, MAX_CSV_ROWS),
            "responses": {"200": {"description": "csv", "content": {"text/csv": {"schema": {"type": "string"}}}}, "400": error, "401": error}}}
    });
    let schemas = json!({
        "AuditEntry": {"type": "object", "required": ["seq", "at", "actor_kind", "actor", "operation", "action", "entity", "hash"], "properties": {
            "seq": {"type": "integer", "description": "1, 2, 3, … in the order written"},
            "at": {"type": "string", "format": "date-time", "description": "UTC, central's clock"},
            "actor_kind": {"type": "string", "enum": ActorKind::ALL.map(ActorKind::as_str)},
            "actor": {"type": "string"},
            "address": {"type": "string", "nullable": true, "description": "the peer's ip:port, when known"},
            "operation": {"type": "string"},
            "action": {"type": "string"},
            "entity": {"type": "string"},
            "entity_id": {"type": "string", "nullable": true},
            "before": {"type": "object", "nullable": true, "description": "the row before (null for an insert)"},
            "after": {"type": "object", "nullable": true, "description": "the row after (null for a delete)"},
            "prev_hash": {"type": "string", "nullable": true},
            "hash": {"type": "string", "description": "hex SHA-256 over the entry's fields and prev_hash"}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        let ok = |p: AuditParams| query_of(p, 100, 1000);
        assert_eq!(ok(AuditParams::default()).unwrap().limit, 100);
        for params in [
            AuditParams {
                limit: Some(0),
                ..Default::default()
            },
            AuditParams {
                limit: Some(1001),
                ..Default::default()
            },
            AuditParams {
                from: Some("yesterday".into()),
                ..Default::default()
            },
            AuditParams {
                from: Some("2026-12-06T09:00:00Z".into()),
                to: Some("2026-12-06T08:00:00Z".into()),
                ..Default::default()
            },
            AuditParams {
                actor_kind: Some("robot".into()),
                ..Default::default()
            },
            AuditParams {
                entity: Some("x".repeat(65)),
                ..Default::default()
            },
            AuditParams {
                actor: Some("a\u{202E}b".into()),
                ..Default::default()
            },
            AuditParams {
                order: Some("sideways".into()),
                ..Default::default()
            },
            AuditParams {
                after: Some(u64::MAX),
                ..Default::default()
            },
        ] {
            let debug = format!("{params:?}");
            let error = ok(params).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{debug}");
        }
    }

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("@sum"), "'@sum");
        assert_eq!(cell("line-1"), "line-1");
    }
}
