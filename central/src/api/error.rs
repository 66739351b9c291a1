//! The one error type of the HTTP API. Every error, including extractor rejections, unknown
//! routes and store failures, becomes a [`protocol::ErrorBody`] with a stable `code`.

use crate::erp::import::RowError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::{ErrorBody, Seq};

/// An HTTP error: status, stable machine-readable code, and a lowercase message that says what
/// was wrong and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Set for `seq_gap` only.
    pub expected_seq: Option<Seq>,
    /// Rendered as `error.details` beside the code and message: one entry per bad row of an
    /// import. [`protocol::ErrorBody`] has no such field; it is central's addition.
    pub details: Option<Vec<RowError>>,
}

/// Put in the extensions of an error response, so middleware (metrics) can tell outcomes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            expected_seq: None,
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unsupported_protocol(found: u16) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_protocol",
            format!(
                "protocol version {found} is not supported; expected a version from {} to {}",
                protocol::MIN_PROTOCOL_VERSION,
                protocol::PROTOCOL_VERSION
            ),
        )
    }

    pub fn bad_batch(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_batch", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn edge_mismatch(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "edge_mismatch", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is too large; expected at most {limit} bytes"),
        )
    }

    pub fn seq_gap(first_seq: Seq, acked_through: Seq, expected: Seq) -> Self {
        let mut error = Self::new(
            StatusCode::CONFLICT,
            "seq_gap",
            format!(
                "batch starts at seq {first_seq} but central has everything through {acked_through}; expected seq {expected}"
            ),
        );
        error.expected_seq = Some(expected);
        error
    }

    /// 409 `seq_conflict`: a seq central holds came again with another event.
    pub fn seq_conflict(seq: Seq, stored: &str, sent: &str) -> Self {
        let shown = |id: &str| {
            if id.is_empty() {
                "an event whose id does not read".to_owned()
            } else {
                format!("event {id}")
            }
        };
        Self::new(
            StatusCode::CONFLICT,
            "seq_conflict",
            format!(
                "seq {seq} is {} at central but {} in this batch; the edge's journal is not the one central took seq {seq} from (restored from a copy, or made again); nothing was stored; expected the same events under the same seqs",
                shown(stored),
                shown(sent)
            ),
        )
    }

    /// 400 `invalid_csv`: every bad row of an import (the first
    /// [`crate::erp::import::MAX_REPORTED_ERRORS`] of `total`) in `details`.
    pub fn invalid_csv(mut rows: Vec<RowError>, total: usize) -> Self {
        rows.truncate(crate::erp::import::MAX_REPORTED_ERRORS);
        let listed = if total > rows.len() {
            format!("; the first {} are listed", rows.len())
        } else {
            String::new()
        };
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_csv",
            format!(
                "{total} row error{} in the csv, nothing was imported{listed}; expected every row valid (see details: line, column, message)",
                if total == 1 { "" } else { "s" }
            ),
        );
        error.details = Some(rows);
        error
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn body(&self) -> ErrorBody {
        let mut body = ErrorBody::new(self.code, self.message.clone());
        body.error.expected_seq = self.expected_seq;
        body
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for AppError {}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(message) => AppError::not_found(message),
            StoreError::Conflict(message) => {
                AppError::new(StatusCode::CONFLICT, "conflict", message)
            }
            other => {
                tracing::error!(error = %other, "store failed");
                AppError::internal(
                    "central could not read or write its store; nothing was changed, retry later",
                )
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = match &self.details {
            None => (self.status, Json(self.body())).into_response(),
            Some(details) => {
                let mut body = serde_json::to_value(self.body()).unwrap_or_default();
                if let Some(error) = body.get_mut("error").and_then(|e| e.as_object_mut()) {
                    error.insert(
                        "details".into(),
                        serde_json::to_value(details).unwrap_or_default(),
                    );
                }
                (self.status, Json(body)).into_response()
            }
        };
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_gap_carries_expected_seq() {
        let error = AppError::seq_gap(Seq(12), Seq(9), Seq(10));
        let json = serde_json::to_value(error.body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {
                "code": "seq_gap",
                "message": "batch starts at seq 12 but central has everything through 9; expected seq 10",
                "expected_seq": 10
            }})
        );
    }

    #[test]
    fn store_not_found_is_404_and_other_store_errors_hide_details() {
        let e: AppError = StoreError::NotFound("no edge \"x\"".into()).into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e: AppError = StoreError::Task("boom".into()).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("boom"));
    }
}
