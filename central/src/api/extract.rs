//! Extractors whose rejections use the one error shape ([`AppError`]). Who is asking is
//! [`super::policy`]'s.

use super::AppState;
use super::error::AppError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON body with rejections as [`AppError`]: 400 `bad_request` (naming serde's line and
/// column) or 413 `payload_too_large`. Bodies above [`PARSE_INLINE_MAX`] are parsed on the
/// blocking pool, so a 32 MiB batch never stalls the runtime.
pub struct ApiJson<T>(pub T);

/// Largest body parsed on the async worker itself.
pub const PARSE_INLINE_MAX: usize = 64 * 1024;

impl<T: DeserializeOwned + Send + 'static> FromRequest<AppState> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(AppError::bad_request(
                "missing or wrong content type; expected `content-type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::payload_too_large(state.max_body_bytes())
            } else {
                AppError::bad_request(format!(
                    "could not read the request body: {}",
                    lowercase_first(&rejection.body_text())
                ))
            }
        })?;
        let parsed = if bytes.len() <= PARSE_INLINE_MAX {
            serde_json::from_slice::<T>(&bytes)
        } else {
            tokio::task::spawn_blocking(move || serde_json::from_slice::<T>(&bytes))
                .await
                .map_err(|e| AppError::internal(format!("json parser task failed: {e}")))?
        };
        parsed.map(ApiJson).map_err(json_error)
    }
}

/// A CSV body (`content-type: text/csv`) as bytes, with the same rejections as [`ApiJson`].
pub struct CsvBody(pub Bytes);

impl FromRequest<AppState> for CsvBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let essence = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        if essence.as_deref() != Some("text/csv") {
            return Err(AppError::bad_request(
                "missing or wrong content type; expected `content-type: text/csv`",
            ));
        }
        Bytes::from_request(req, state)
            .await
            .map(CsvBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::payload_too_large(state.max_body_bytes())
                } else {
                    AppError::bad_request(format!(
                        "could not read the request body: {}",
                        lowercase_first(&rejection.body_text())
                    ))
                }
            })
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn json_error(error: serde_json::Error) -> AppError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => AppError::bad_request(format!("json body has the wrong shape: {error}")),
        Category::Syntax | Category::Eof | Category::Io => AppError::bad_request(format!(
            "malformed json body: {error}; expected a json document"
        )),
    }
}

/// `axum::extract::Query` with rejections as 400 `bad_request`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection| AppError::bad_request(lowercase_first(&rejection.body_text())))
    }
}

/// `axum::extract::Path` with rejections as 400 `bad_request`.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|rejection| AppError::bad_request(lowercase_first(&rejection.body_text())))
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
