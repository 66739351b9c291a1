//! Sessions, pairing and terminals over HTTP ([`super::access`] holds the rules).
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /api/v1/session` | anyone | `{paired, terminal, stations, csrf, pairing}` for this browser |
//! | `POST /api/v1/pairings` | anyone (at most 16 waiting) | `{stations}` → the code to show; sets the pairing cookie |
//! | `GET /api/v1/pairings/current` | the browser that asked | `pending` with its code, or `paired` (sets the terminal cookie) |
//! | `POST /api/v1/pairings/confirm` | a supervisor (badge and PIN) or the administrator | `{code, badge, pin, stations?}` |
//! | `GET /api/v1/terminals` | a terminal or the administrator | the terminals that may act |
//! | `POST /api/v1/terminals/{id}/revoke` | a supervisor (badge and PIN) or the administrator | |
//! | `GET /terminal?key=…` | a configured kiosk | trades its key for the terminal cookie, then the page without the key |

use super::access::{
    Caller, PAIRING_COOKIE, PairingState, TERMINAL_COOKIE, cookie, csrf_token, set_cookie,
};
use super::stations::{bad_body, unknown_station};
use super::{Refusal, TerminalState, error};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::StationId;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a browser keeps a terminal's credential: until it is revoked, in practice.
const TERMINAL_COOKIE_AGE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

pub fn routes() -> Router<TerminalState> {
    Router::new()
        .route("/api/v1/session", get(session))
        .route("/api/v1/pairings", post(ask_pairing))
        .route("/api/v1/pairings/current", get(current_pairing))
        .route("/api/v1/pairings/confirm", post(confirm_pairing))
        .route("/api/v1/terminals", get(terminals))
        .route("/api/v1/terminals/{id}/revoke", post(revoke))
}

#[derive(Debug, Serialize)]
struct SessionView {
    paired: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    terminal: Option<String>,
    stations: Vec<StationId>,
    /// Send as `x-csrf-token` with every request that changes something.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<String>,
    /// Whether this edge takes pairing requests.
    pairing: bool,
}

async fn session(State(s): State<TerminalState>, headers: HeaderMap) -> Response {
    let view = match s.access.caller(&headers) {
        Caller::Terminal { terminal, .. } => SessionView {
            paired: true,
            terminal: Some(terminal.id),
            stations: terminal.stations,
            csrf: cookie(&headers, TERMINAL_COOKIE).map(csrf_token),
            pairing: s.access.pairing_enabled(),
        },
        Caller::Admin | Caller::Anonymous => SessionView {
            paired: false,
            terminal: None,
            stations: Vec::new(),
            csrf: None,
            pairing: s.access.pairing_enabled(),
        },
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(view)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskBody {
    stations: Vec<String>,
}

async fn ask_pairing(
    State(s): State<TerminalState>,
    body: Result<Json<AskBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    if !s.access.pairing_enabled() {
        return error(
            StatusCode::FORBIDDEN,
            "pairing_off",
            "this edge takes no pairing requests ([terminal] pairing = false); terminals are configured with keys".into(),
        );
    }
    if body.stations.is_empty() || body.stations.len() > 16 {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "a terminal is paired for 1 to 16 stations; {} were named",
                body.stations.len()
            ),
        );
    }
    let known = super::stations::known_stations(&s, s.live.plan().as_deref(), &s.live.floor());
    let mut stations = Vec::new();
    for station in &body.stations {
        let id = StationId::from(station.as_str());
        if !known.contains(&id) {
            return unknown_station(station);
        }
        stations.push(id);
    }
    match s.access.ask_pairing(stations.clone()) {
        Ok((code, claim)) => {
            tracing::info!(?stations, "a terminal asks to be paired");
            let cookie = set_cookie(PAIRING_COOKIE, &claim, super::access::PAIRING_TTL);
            (
                StatusCode::CREATED,
                [(header::SET_COOKIE, cookie)],
                Json(serde_json::json!({
                    "state": "pending",
                    "code": code,
                    "stations": stations,
                    "expires_in_s": super::access::PAIRING_TTL.as_secs(),
                })),
            )
                .into_response()
        }
        Err(e) => error(StatusCode::TOO_MANY_REQUESTS, "too_many_pairings", e),
    }
}

async fn current_pairing(State(s): State<TerminalState>, headers: HeaderMap) -> Response {
    let Some(claim) = cookie(&headers, PAIRING_COOKIE) else {
        return Json(PairingState::Unknown).into_response();
    };
    let state = s.access.pairing_state(claim);
    match &state {
        PairingState::Paired { token, .. } => {
            let mut response = Json(&state).into_response();
            let cookies = [
                set_cookie(TERMINAL_COOKIE, token, TERMINAL_COOKIE_AGE),
                set_cookie(PAIRING_COOKIE, "", Duration::ZERO),
            ];
            for c in cookies {
                if let Ok(v) = HeaderValue::try_from(c) {
                    response.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            response
        }
        _ => Json(&state).into_response(),
    }
}

/// A supervisor's badge and PIN, for what only a supervisor may do at the line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorBody {
    pub badge: String,
    pub pin: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    code: String,
    #[serde(default)]
    stations: Option<Vec<String>>,
    #[serde(flatten)]
    supervisor: Option<SupervisorBody>,
}

/// Who approves: the administrator, or a supervisor by badge and PIN; `Err` is the answer.
async fn approver(
    s: &TerminalState,
    headers: &HeaderMap,
    supervisor: Option<&SupervisorBody>,
) -> Result<String, Refusal> {
    if s.access.caller(headers) == Caller::Admin {
        return Ok("administrator".into());
    }
    let Some(sup) = supervisor else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a supervisor's badge and PIN (or the edge's administrator token) are needed".into(),
        ));
    };
    let plan = s.live.plan();
    match s
        .access
        .supervisor(plan.as_deref(), &sup.badge, &sup.pin)
        .await
    {
        Ok(operator) => Ok(format!("{} ({})", operator.name, operator.badge)),
        Err(e) => {
            tracing::warn!(badge = %sup.badge, reason = %e, "supervisor approval refused");
            Err(Refusal::new(StatusCode::FORBIDDEN, "not_approved", e))
        }
    }
}

async fn confirm_pairing(
    State(s): State<TerminalState>,
    headers: HeaderMap,
    body: Result<Json<ConfirmBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    let by = match approver(&s, &headers, body.supervisor.as_ref()).await {
        Ok(by) => by,
        Err(refusal) => return refusal.into_response(),
    };
    let stations = body
        .stations
        .map(|list| list.iter().map(|st| StationId::from(st.as_str())).collect());
    match s.access.confirm(body.code.trim(), stations, by).await {
        Ok(terminal) => Json(serde_json::json!({
            "terminal": terminal.id,
            "stations": terminal.stations,
            "paired_by": terminal.paired_by,
        }))
        .into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, "unknown_code", e),
    }
}

async fn terminals(State(s): State<TerminalState>, headers: HeaderMap) -> Response {
    match s.access.caller(&headers) {
        Caller::Anonymous => error(
            StatusCode::UNAUTHORIZED,
            "not_paired",
            "only a paired terminal or the edge's administrator may list terminals".into(),
        ),
        _ => Json(serde_json::json!({ "terminals": s.access.terminals() })).into_response(),
    }
}

async fn revoke(
    State(s): State<TerminalState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Option<Json<SupervisorBody>>,
) -> Response {
    let by = match approver(&s, &headers, body.as_ref().map(|b| &b.0)).await {
        Ok(by) => by,
        Err(refusal) => return refusal.into_response(),
    };
    match s.access.revoke(&id, &by).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, "unknown_terminal", e),
    }
}

/// `GET /terminal?…&key=K`: a configured kiosk trades its key for the terminal cookie and is
/// sent to the same page without the key, so the key leaves the address bar and the history.
pub fn kiosk_login(s: &TerminalState, query: Option<&str>) -> Option<Response> {
    let query = query?;
    let mut key = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("key", v)) => key = Some(v.to_owned()),
            _ => rest.push(pair),
        }
    }
    let key = key?;
    let location = if rest.is_empty() {
        "/terminal".to_owned()
    } else {
        format!("/terminal?{}", rest.join("&"))
    };
    let location = HeaderValue::try_from(location).ok()?;
    let mut headers = HeaderMap::new();
    let bearer = HeaderValue::try_from(format!("Bearer {key}")).ok()?;
    headers.insert(header::AUTHORIZATION, bearer);
    match s.access.caller(&headers) {
        Caller::Terminal { .. } => {
            let cookie =
                HeaderValue::try_from(set_cookie(TERMINAL_COOKIE, &key, TERMINAL_COOKIE_AGE))
                    .ok()?;
            Some(
                (
                    StatusCode::SEE_OTHER,
                    [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
                )
                    .into_response(),
            )
        }
        _ => Some(error(
            StatusCode::UNAUTHORIZED,
            "unknown_key",
            "this key belongs to no terminal of this edge".into(),
        )),
    }
}
