//! Kiosk links (issue 15): a shop-floor TV signs in by opening a link, sees its plant's andon
//! and board and nothing else ([`crate::store::kiosk`], [`super::policy::KIOSK_ROUTES`]).
//!
//! | route | policy | what |
//! | --- | --- | --- |
//! | `POST /api/v1/kiosk-links` | `kiosks.manage` (a plant of one's own) | mint a link; its token is answered once |
//! | `GET /api/v1/kiosk-links` | `kiosks.manage` | the links of one's plants: name, plant, who made it, last use |
//! | `POST /api/v1/kiosk-links/{link_id}/revoke` | `kiosks.manage`, record rule | revoke it; its TVs are signed out and their live streams end |
//! | `GET /kiosk/{token}` | public | the TV opens the link: a kiosk session, then the andon |

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath};
use super::people::session_cookie;
use super::policy::{
    ClientAddress, KIOSK_SESSION_PREFIX, PUBLIC, Principal, Routes, kiosk_principal, needs,
};
use crate::auth::{hash_token, new_token};
use crate::people::audit::{Actor, ActorKind};
use crate::people::roles::Permission;
use crate::people::users::{Language, PlantScope};
use crate::store::StoreError;
use crate::store::audit::NewAuditEntry;
use crate::store::kiosk::KioskLink;
use crate::store::people::Record;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use protocol::bounds;
use serde::{Deserialize, Serialize};

/// Longest name of a link (what the TV is: `Hall 2, above line 3`).
pub const MAX_NAME_CHARS: usize = 64;

/// How long the TV's browser keeps the session cookie: as long as browsers allow (400 days);
/// the link's revocation or the kiosk idle timeout (`[sessions] kiosk_idle`, kept on the
/// server) ends a kiosk session, not the cookie.
pub const KIOSK_COOKIE_S: i64 = 400 * 24 * 3600;

pub fn routes() -> Routes {
    use Permission::KiosksManage;
    Routes::new()
        .post("/api/v1/kiosk-links", needs(KiosksManage), mint)
        .get("/api/v1/kiosk-links", needs(KiosksManage), list)
        .post(
            "/api/v1/kiosk-links/{link_id}/revoke",
            needs(KiosksManage).on(Record::KioskLink, "link_id"),
            revoke,
        )
        .get("/kiosk/{token}", PUBLIC, open)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintKioskLink {
    pub name: String,
    /// Absent: the caller's plant when they have exactly one.
    #[serde(default)]
    pub plant: Option<String>,
    /// `zh` or `en`; absent: the caller's.
    #[serde(default)]
    pub language: Option<String>,
    /// An IANA time zone; absent: the caller's.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// A minted link: the only answer that holds its token.
#[derive(Debug, Serialize)]
pub struct MintedKioskLink {
    pub link: KioskLink,
    pub token: String,
    /// Where the TV opens it, on this central: `/kiosk/<token>`.
    pub path: String,
}

#[derive(Debug, Serialize)]
pub struct KioskLinks {
    pub links: Vec<KioskLink>,
}

async fn mint(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<MintKioskLink>,
) -> Result<(StatusCode, axum::Json<MintedKioskLink>), AppError> {
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::bad_request(format!(
            "name: is {} characters; expected 1 to {MAX_NAME_CHARS} saying what the TV is",
            name.chars().count()
        )));
    }
    bounds::check_text("name", &name).map_err(|v| AppError::bad_request(v.to_string()))?;
    let plant = match body.plant {
        Some(plant) => plant,
        None => match &p.write {
            PlantScope::Only(plants) if plants.len() == 1 => plants[0].clone(),
            _ => {
                return Err(AppError::bad_request(
                    "plant: missing; expected the plant whose andon the TV shows",
                ));
            }
        },
    };
    bounds::check_id("plant", &plant).map_err(|v| AppError::bad_request(v.to_string()))?;
    p.check_plant(&plant)?;
    let user = p.user.as_deref();
    let language = match body.language {
        Some(l) => Language::parse(&l).ok_or_else(|| {
            AppError::bad_request(format!("language: {l:?} is unknown; expected zh or en"))
        })?,
        None => user.map(|u| u.language).unwrap_or_default(),
    };
    let time_zone = body
        .time_zone
        .or_else(|| user.map(|u| u.time_zone.clone()))
        .unwrap_or_else(|| "UTC".to_owned());
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(AppError::bad_request(format!(
            "time_zone: {time_zone:?} is not an IANA time zone; expected one like Asia/Shanghai"
        )));
    }
    let token = new_token();
    let link = KioskLink {
        link_id: new_token()[..16].to_owned(),
        name,
        plant,
        language: language.code().to_owned(),
        time_zone,
        created_by: p.login().map_or_else(|| p.name(), str::to_owned),
        created_at: Utc::now(),
        revoked_at: None,
        revoked_by: None,
        last_used_at: None,
        last_used_from: None,
    };
    state
        .store()
        .create_kiosk_link(link.clone(), hash_token(&token))
        .await?;
    tracing::info!(link = %link.link_id, plant = %link.plant, by = %p.name(), "kiosk link minted");
    Ok((
        StatusCode::CREATED,
        axum::Json(MintedKioskLink {
            path: format!("/kiosk/{token}"),
            token,
            link,
        }),
    ))
}

/// The links of the caller's plants, newest first.
pub async fn visible_links(state: &AppState, p: &Principal) -> Result<Vec<KioskLink>, AppError> {
    let mut links = state.store().kiosk_links().await?;
    links.retain(|l| p.read.contains(&l.plant));
    Ok(links)
}

async fn list(
    State(state): State<AppState>,
    p: Principal,
) -> Result<axum::Json<KioskLinks>, AppError> {
    Ok(axum::Json(KioskLinks {
        links: visible_links(&state, &p).await?,
    }))
}

async fn revoke(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(link_id): ApiPath<String>,
) -> Result<axum::Json<KioskLink>, AppError> {
    // The record rule answered 404 already for a link of a plant one may not change.
    let link = state
        .store()
        .revoke_kiosk_link(
            link_id.clone(),
            p.login().map_or_else(|| p.name(), str::to_owned),
            Utc::now(),
        )
        .await?
        .ok_or_else(|| AppError::not_found(format!("no kiosk link {link_id:?}")))?;
    tracing::info!(link = %link.link_id, by = %p.name(), "kiosk link revoked");
    Ok(axum::Json(link))
}

/// What a TV is told when its link does not open: the same whether the token was never one,
/// was mistyped or was revoked, so a guess learns nothing.
fn not_a_link(headers: &HeaderMap) -> Response {
    crate::web::kiosk_refused(headers)
}

/// `GET /kiosk/{token}`: the TV opens its link. A token central made and did not revoke signs
/// it in with a kiosk session and sends it to its plant's andon; anything else is refused
/// with one page that names no link.
async fn open(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    // Tokens are 64 hex digits (`auth::new_token`); nothing else is looked up.
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        tracing::info!("kiosk link refused: not a token");
        state.metrics().denied();
        return Ok(not_a_link(&headers));
    }
    let link = match state
        .store()
        .kiosk_link_by_token(hash_token(&token))
        .await?
    {
        Some(link) if link.revoked_at.is_none() => link,
        found => {
            tracing::warn!(
                link = found.as_ref().map(|l| l.link_id.as_str()),
                "kiosk link refused: unknown or revoked"
            );
            state.metrics().denied();
            return Ok(not_a_link(&headers));
        }
    };
    let id = format!("{KIOSK_SESSION_PREFIX}{}", new_token());
    let hash = hash_token(&id);
    let now = Utc::now();
    match state
        .store()
        .create_kiosk_session(
            hash,
            link.link_id.clone(),
            now,
            address.clone(),
            now - state.session_limits().kiosk_idle,
        )
        .await
    {
        Ok(()) => {}
        // Revoked between the look-up and the sign-in.
        Err(StoreError::NotFound(_)) => return Ok(not_a_link(&headers)),
        Err(e) => return Err(e.into()),
    }
    let principal = kiosk_principal(link.clone(), hash, address.clone());
    state
        .audit(NewAuditEntry {
            actor: Actor::new(ActorKind::Kiosk, link.link_id.clone(), "GET /kiosk/{token}")
                .with_address(address),
            action: "sign_in".to_owned(),
            entity: "kiosk_links".to_owned(),
            entity_id: Some(link.link_id.clone()),
            before: None,
            after: Some(serde_json::json!({"plant": link.plant, "name": link.name})),
        })
        .await;
    tracing::info!(who = %principal.name(), plant = %link.plant, "kiosk signed in");
    let target = format!(
        "/floor/andon?plant={}&lang={}",
        crate::web::encode_query(&link.plant),
        link.language
    );
    let mut response = crate::web::see_other(&target);
    response.headers_mut().insert(
        SET_COOKIE,
        session_cookie(&id, state.cookies_secure(), Some(KIOSK_COOKIE_S)),
    );
    Ok(response.into_response())
}

/// Adds this module's paths and schemas to the OpenAPI document.
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let link = json!({"$ref": "#/components/schemas/KioskLink"});
    let paths = json!({
        "/api/v1/kiosk-links": {
            "get": {"summary": "kiosk links of one's plants, newest first", "tags": ["kiosk"],
                "responses": {"200": {"description": "{links: [KioskLink...]}", "content": {"application/json": {"schema": {"type": "object", "required": ["links"], "properties": {"links": {"type": "array", "items": link}}}}}}, "401": error, "403": error}},
            "post": {"summary": "mint a kiosk link: a shop-floor TV that opens it shows the plant's andon, signed in without a password", "tags": ["kiosk"],
                "description": format!("`name` (1 to {MAX_NAME_CHARS} characters) says what the TV is; `plant` one the caller may change (absent: theirs when they have one); `language` zh or en and `time_zone` (IANA) what the andon shows (absent: the caller's). The answer holds the token once (`token`, and `path` = /kiosk/<token> to open on the TV); central keeps only its SHA-256. A TV signed in with it reads that plant's andon and board and nothing else: every other route answers it 403. Its session ends when the link is revoked, or when it goes unused (no request, no live board open) for central's `[sessions] kiosk_idle` (12 h by default); the TV then opens the link again. Minting and revoking are in the audit trail."),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string", "maxLength": MAX_NAME_CHARS}, "plant": {"type": "string"}, "language": {"type": "string", "enum": ["zh", "en"]}, "time_zone": {"type": "string"}}}}}},
                "responses": {"201": {"description": "{link: KioskLink, token, path}", "content": {"application/json": {"schema": {"type": "object", "required": ["link", "token", "path"], "properties": {"link": link, "token": {"type": "string"}, "path": {"type": "string"}}}}}},
                    "400": error, "401": error, "403": error, "404": error}}
        },
        "/api/v1/kiosk-links/{link_id}/revoke": {
            "post": {"summary": "revoke a kiosk link", "tags": ["kiosk"],
                "description": "Its TVs' sessions end at once (their next request answers 401, their live board stream ends with `event: ended`); the link no longer opens. Revoking a revoked link changes nothing.",
                "parameters": [{"name": "link_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the link, revoked", "content": {"application/json": {"schema": link}}}, "401": error, "403": error, "404": error}}
        }
    });
    let schemas = json!({
        "KioskLink": {"type": "object", "required": ["link_id", "name", "plant", "language", "time_zone", "created_by", "created_at"], "properties": {
            "link_id": {"type": "string"}, "name": {"type": "string"}, "plant": {"type": "string"},
            "language": {"type": "string"}, "time_zone": {"type": "string"},
            "created_by": {"type": "string", "description": "the login of who minted it"},
            "created_at": {"type": "string", "format": "date-time"},
            "revoked_at": {"type": "string", "format": "date-time", "nullable": true},
            "revoked_by": {"type": "string", "nullable": true},
            "last_used_at": {"type": "string", "format": "date-time", "nullable": true, "description": "when a TV last opened it (signed in with it)"},
            "last_used_from": {"type": "string", "nullable": true}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
