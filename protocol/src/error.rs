//! The one error shape every HTTP endpoint of the project answers with:
//! `{"error": {"code": "...", "message": "..."}}`, plus typed details where a client acts on
//! them (the sequence number central expects next).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `seq_gap`, `bad_request`, …
    pub code: String,
    /// For people: lowercase, says what was wrong and what was expected.
    pub message: String,
    /// For `seq_gap`: the sequence number central expects next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_seq: Option<crate::Seq>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                expected_seq: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json() {
        let mut gap = ErrorBody::new(
            "seq_gap",
            "batch starts at seq 12 but central has everything through 9; expected seq 10",
        );
        gap.error.expected_seq = Some(crate::Seq(10));
        insta::assert_json_snapshot!(vec![
            ErrorBody::new("unauthorized", "missing bearer token"),
            gap
        ]);
    }
}
