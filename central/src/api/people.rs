//! People's routes: signing in and out, one's own profile, password and personal API tokens,
//! and the administration of users (create, change, disable, reset a password, import a
//! CSV) and the roles matrix.
//!
//! | route | policy | what |
//! | --- | --- | --- |
//! | `POST /api/v1/session` | public | `{login, password}` → the `mes_session` cookie and `{user, permissions, csrf_token, idle_timeout_s, absolute_timeout_s}`; 401 `sign_in_failed` (never which part was wrong), 429 `locked` with `retry-after` |
//! | `DELETE /api/v1/session` | signed in | ends the session on the server, clears the cookie |
//! | `GET /api/v1/me` | signed in | the caller, their permissions and plants |
//! | `PUT /api/v1/me/password` | signed in (a session) | `{current, new}`; ends their other sessions |
//! | `GET`, `POST /api/v1/me/tokens`, `DELETE /api/v1/me/tokens/{id}` | signed in | personal API tokens: `{name, expires_in_days, permissions}` → the token, shown once |
//! | `GET /api/v1/roles` | signed in | the roles matrix |
//! | `GET /api/v1/users`, `GET /api/v1/users/{login}` | `users.read` | users |
//! | `PUT /api/v1/users/{login}` | `users.manage` | create or change; `password` sets one |
//! | `POST /api/v1/users/{login}/disable`, `/enable`, `/reset-password` | `users.manage` | never deleted; a reset answers a new password once |
//! | `POST /api/v1/import/users` | `users.manage` | CSV `login,display_name,roles,plants`, optional `language,time_zone,manager,badge,email,active`; all or nothing; new users' passwords answered once |

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, CsvBody};
use super::policy::{
    CSRF_HEADER, ClientAddress, PERSONAL_TOKEN_PREFIX, PUBLIC, Principal, Routes, SESSION_COOKIE,
    SIGNED_IN, Who, needs,
};
use crate::auth::{hash_token, new_token};
use crate::erp::import::{RowError, read_rows};
use crate::people::audit::{Actor, ActorKind};
use crate::people::roles::{Permission, Permissions, Role};
use crate::people::users::{
    self, Failures, Language, User, check_login, check_new_password, generate_password,
    hash_password, verify_password,
};
use crate::store::audit::{NewAuditEntry, actions};
use crate::store::people::{ApiToken, Session};
use axum::extract::State;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub fn routes() -> Routes {
    use Permission::*;
    Routes::new()
        .post("/api/v1/session", PUBLIC, sign_in)
        .delete("/api/v1/session", SIGNED_IN, sign_out)
        .get("/api/v1/me", SIGNED_IN, me)
        .put("/api/v1/me/password", SIGNED_IN, change_password)
        .get("/api/v1/me/tokens", SIGNED_IN, list_tokens)
        .post("/api/v1/me/tokens", SIGNED_IN, create_token)
        .delete("/api/v1/me/tokens/{token_id}", SIGNED_IN, revoke_token)
        .get("/api/v1/roles", SIGNED_IN, roles)
        .get("/api/v1/users", needs(UsersRead), list_users)
        .get("/api/v1/users/{login}", needs(UsersRead), get_user)
        .put("/api/v1/users/{login}", needs(UsersManage), put_user)
        .post(
            "/api/v1/users/{login}/disable",
            needs(UsersManage),
            disable_user,
        )
        .post(
            "/api/v1/users/{login}/enable",
            needs(UsersManage),
            enable_user,
        )
        .post(
            "/api/v1/users/{login}/reset-password",
            needs(UsersManage),
            reset_password,
        )
        .post("/api/v1/import/users", needs(UsersManage), import_users)
}

/// The body of `POST /api/v1/session`. Not `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub login: String,
    pub password: String,
}

/// Who is signed in, as `GET /api/v1/me` and a sign-in answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Me {
    pub user: User,
    pub permissions: Vec<String>,
    /// `["*"]` for someone who sees every plant.
    pub sees_plants: Vec<String>,
    /// How they are signed in: `session`, `token`, `admin_token`.
    pub via: String,
    /// The token a page sends as `x-csrf-token` on every change (sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_s: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absolute_timeout_s: Option<i64>,
}

fn me_of(p: &Principal, state: &AppState) -> Result<Me, AppError> {
    let user = p
        .user
        .as_deref()
        .cloned()
        .ok_or_else(|| AppError::bad_request("edges have no profile"))?;
    let sees_plants = match &p.read {
        users::PlantScope::All => vec!["*".to_owned()],
        users::PlantScope::Only(plants) => plants.clone(),
    };
    let via = match &p.who {
        Who::User { .. } => "session",
        Who::Token { .. } => "token",
        Who::AdminToken => "admin_token",
        Who::Edge(_) => "edge",
        Who::Kiosk { .. } => "kiosk",
    };
    let limits = state.session_limits();
    let session = p.session.is_some();
    Ok(Me {
        user,
        permissions: p
            .permissions
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        sees_plants,
        via: via.to_owned(),
        csrf_token: p.session.as_ref().map(|s| s.csrf.clone()),
        idle_timeout_s: session.then(|| limits.idle.num_seconds()),
        absolute_timeout_s: session.then(|| limits.absolute.num_seconds()),
    })
}

fn sign_in_failed() -> AppError {
    AppError::new(
        StatusCode::UNAUTHORIZED,
        "sign_in_failed",
        "wrong login or password",
    )
}

fn locked(until: DateTime<Utc>) -> Response {
    let secs = (until - Utc::now()).num_seconds().max(1);
    let mut response = AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "locked",
        format!(
            "too many failed sign-ins; try again in {} minutes",
            (secs + 59) / 60
        ),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, v);
    }
    response
}

/// `POST /api/v1/session`.
async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<Response, AppError> {
    let login = body.login.trim().to_owned();
    if login.is_empty() || login.len() > 256 || body.password.len() > 1024 {
        return Err(sign_in_failed());
    }
    let lockout = state.lockout();
    let now = Utc::now();
    let login_key = format!("login:{}", login.to_lowercase());
    let address_key = address.as_ref().map(|a| format!("address:{a}"));
    let mut keys = vec![(login_key.clone(), lockout.login_failures)];
    if let Some(k) = &address_key {
        keys.push((k.clone(), lockout.address_failures));
    }
    let mut before: Vec<Option<Failures>> = Vec::new();
    for (key, _) in &keys {
        let f = state.store().failures(key.clone()).await?;
        if let Some(until) = lockout.locked(f, now) {
            tracing::warn!(key, "sign-in refused: locked");
            return Ok(locked(until));
        }
        before.push(f);
    }
    let found = if check_login(&login).is_ok() {
        state.store().user_credentials(login.clone()).await?
    } else {
        None
    };
    // The same argon2 work whether the login exists or not, so the time tells nothing.
    let (phc, user) = match found {
        Some((user, Some(phc))) if user.active => (phc, Some(user)),
        _ => (users::decoy_hash().to_owned(), None),
    };
    let password = body.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| AppError::internal(format!("password check failed: {e}")))?;
    let Some(user) = user.filter(|_| ok) else {
        let mut most = 0;
        for ((key, limit), f) in keys.iter().zip(before) {
            let after = lockout.after_failure(f, now, *limit);
            most = most.max(after.count);
            if after.locked_until.is_some() && f.and_then(|f| f.locked_until).is_none() {
                tracing::warn!(
                    key,
                    failures = after.count,
                    "sign-in locked after repeated failures"
                );
                state.metrics().sign_in("locked");
                state
                    .audit(sign_in_entry(&login, &address, actions::LOCKED, key))
                    .await;
            }
            state.store().record_failure(key.clone(), after).await?;
        }
        state.metrics().sign_in("failed");
        state
            .audit(sign_in_entry(
                &login,
                &address,
                actions::SIGN_IN_FAILED,
                &login,
            ))
            .await;
        tokio::time::sleep(lockout.delay(most)).await;
        return Err(sign_in_failed());
    };
    state.store().clear_failures(login_key).await?;
    let id = new_token();
    let csrf = new_token();
    let hash = hash_token(&id);
    state
        .store()
        .create_session(
            hash,
            Session {
                login: user.login.clone(),
                csrf: csrf.clone(),
                created_at: now,
                last_seen: now,
                address: address.clone(),
            },
        )
        .await?;
    state.metrics().sign_in("ok");
    state
        .audit(sign_in_entry(&user.login, &address, "sign_in", &user.login))
        .await;
    tracing::info!(login = %user.login, "signed in");
    let limits = state.session_limits();
    let permissions = user.permissions();
    let sees_plants = match user.read_scope() {
        users::PlantScope::All => vec!["*".to_owned()],
        users::PlantScope::Only(p) => p,
    };
    let me = Me {
        user,
        permissions: permissions.names().into_iter().map(str::to_owned).collect(),
        sees_plants,
        via: "session".into(),
        csrf_token: Some(csrf),
        idle_timeout_s: Some(limits.idle.num_seconds()),
        absolute_timeout_s: Some(limits.absolute.num_seconds()),
    };
    let cookie = session_cookie(
        &id,
        state.cookies_secure(),
        Some(limits.absolute.num_seconds()),
    );
    let mut response = axum::Json(me).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}

/// An entry of the trail about signing in: the login tried (never the password), from where.
fn sign_in_entry(login: &str, address: &Option<String>, action: &str, id: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: Actor::new(ActorKind::User, login, "POST /api/v1/session")
            .with_address(address.clone()),
        action: action.to_owned(),
        entity: "session".to_owned(),
        entity_id: Some(id.to_owned()),
        before: None,
        after: None,
    }
}

/// `mes_session=<id>; HttpOnly; SameSite=Strict; Path=/` (and `Secure` over TLS).
pub fn session_cookie(id: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("hex ids make a valid header")
}

/// `DELETE /api/v1/session`.
async fn sign_out(State(state): State<AppState>, p: Principal) -> Result<Response, AppError> {
    let Some(session) = &p.session else {
        return Err(AppError::bad_request(
            "this request carries no session; expected the `mes_session` cookie of a signed-in page",
        ));
    };
    state.store().end_session(session.hash).await?;
    let login = p.login().unwrap_or_default().to_owned();
    let mut entry = sign_in_entry(&login, &p.address, "sign_out", &login);
    entry.actor.operation = "DELETE /api/v1/session".to_owned();
    state.audit(entry).await;
    tracing::info!(who = %p.name(), "signed out");
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        session_cookie("", state.cookies_secure(), Some(0)),
    );
    Ok(response)
}

async fn me(State(state): State<AppState>, p: Principal) -> Result<axum::Json<Me>, AppError> {
    me_of(&p, &state).map(axum::Json)
}

/// The body of `PUT /api/v1/me/password`. Not `Debug`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current: String,
    pub new: String,
}

async fn change_password(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<StatusCode, AppError> {
    let Some(session) = &p.session else {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a password is changed from a signed-in page, not with a token",
        ));
    };
    let login = p.login().unwrap_or_default().to_owned();
    let Some((_, Some(phc))) = state.store().user_credentials(login.clone()).await? else {
        return Err(sign_in_failed());
    };
    let current = body.current;
    let ok = tokio::task::spawn_blocking(move || verify_password(&current, &phc))
        .await
        .map_err(|e| AppError::internal(format!("password check failed: {e}")))?;
    if !ok {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "the current password is wrong; nothing was changed",
        ));
    }
    check_new_password(&login, &body.new).map_err(AppError::bad_request)?;
    let phc = hash(body.new).await?;
    state
        .store()
        .set_password(login, phc, Some(session.hash))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))
}

/// The body of `POST /api/v1/me/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// 1 to 366 days.
    pub expires_in_days: u32,
    /// A subset of the caller's permissions; absent: all of them.
    #[serde(default)]
    pub permissions: Option<Vec<Permission>>,
}

pub const MAX_TOKEN_DAYS: u32 = 366;
/// Most live tokens one person may hold.
pub const MAX_TOKENS_PER_USER: usize = 50;

#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedToken {
    /// The secret, shown this once: only its hash is kept.
    pub token: String,
    pub token_id: String,
    pub expires_at: DateTime<Utc>,
    pub permissions: Vec<String>,
}

async fn create_token(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), AppError> {
    if matches!(p.who, Who::Token { .. }) {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a personal token cannot make tokens; sign in to make one",
        ));
    }
    let login = p.login().unwrap_or_default().to_owned();
    protocol::bounds::check_text("name", &body.name)
        .map_err(|v| AppError::bad_request(v.to_string()))?;
    if body.name.trim().is_empty() {
        return Err(AppError::bad_request(
            "name: is empty; expected what the token is for",
        ));
    }
    if !(1..=MAX_TOKEN_DAYS).contains(&body.expires_in_days) {
        return Err(AppError::bad_request(format!(
            "expires_in_days: is {}; expected 1 to {MAX_TOKEN_DAYS}",
            body.expires_in_days
        )));
    }
    let wanted = match &body.permissions {
        Some(list) => Permissions::of(list),
        None => p.permissions,
    };
    if !wanted.is_subset_of(p.permissions) {
        let extra: Vec<&str> = wanted
            .iter()
            .filter(|x| !p.permissions.contains(*x))
            .map(Permission::name)
            .collect();
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "a token may carry only your own permissions; you do not have {}",
                extra.join(", ")
            ),
        ));
    }
    let now = Utc::now();
    let live = state
        .store()
        .api_tokens(login.clone())
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none() && t.expires_at > now)
        .count();
    if live >= MAX_TOKENS_PER_USER {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "too_many_tokens",
            format!(
                "you hold {live} live tokens; revoke one first (at most {MAX_TOKENS_PER_USER})"
            ),
        ));
    }
    let token_id = hex::encode(rand::random::<[u8; 8]>());
    let secret = format!("{PERSONAL_TOKEN_PREFIX}{}", new_token());
    let expires_at = now + chrono::Duration::days(i64::from(body.expires_in_days));
    state
        .store()
        .create_api_token(
            ApiToken {
                token_id: token_id.clone(),
                login: login.clone(),
                name: body.name,
                permissions: wanted,
                created_at: now,
                expires_at,
                revoked_at: None,
                last_used_at: None,
                last_used_from: None,
            },
            hash_token(&secret),
        )
        .await?;
    tracing::info!(%login, %token_id, "personal token created");
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedToken {
            token: secret,
            token_id,
            expires_at,
            permissions: wanted.names().into_iter().map(str::to_owned).collect(),
        }),
    ))
}

#[derive(Debug, Serialize)]
pub struct TokenList {
    pub tokens: Vec<ApiToken>,
}

async fn list_tokens(
    State(state): State<AppState>,
    p: Principal,
) -> Result<axum::Json<TokenList>, AppError> {
    let login = p.login().unwrap_or_default().to_owned();
    Ok(axum::Json(TokenList {
        tokens: state.store().api_tokens(login).await?,
    }))
}

async fn revoke_token(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(token_id): ApiPath<String>,
) -> Result<StatusCode, AppError> {
    let login = p.login().unwrap_or_default().to_owned();
    if state
        .store()
        .revoke_api_token(login, token_id.clone(), Utc::now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found(format!(
            "you have no token {token_id:?}"
        )))
    }
}

async fn roles(_: Principal) -> axum::Json<serde_json::Value> {
    let roles: Vec<serde_json::Value> = Role::ALL
        .iter()
        .map(|r| {
            serde_json::json!({
                "role": r.name(),
                "company_wide": r.company_wide(),
                "permissions": r.permissions().names(),
            })
        })
        .collect();
    let permissions: Vec<serde_json::Value> = Permission::ALL
        .iter()
        .map(|p| serde_json::json!({"permission": p.name(), "describe": p.describe()}))
        .collect();
    axum::Json(serde_json::json!({"roles": roles, "permissions": permissions}))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<User>,
}

/// Users someone may see: an administrator or a company-wide reader all; a plant manager
/// those who share one of their plants. The users page ([`crate::web`]) lists the same.
pub(crate) fn visible(p: &Principal, user: &User) -> bool {
    match &p.read {
        users::PlantScope::All => true,
        users::PlantScope::Only(plants) => {
            user.login
                .eq_ignore_ascii_case(p.login().unwrap_or_default())
                || user.plants.iter().any(|x| plants.contains(x))
        }
    }
}

async fn list_users(
    State(state): State<AppState>,
    p: Principal,
) -> Result<axum::Json<UserList>, AppError> {
    let users = state.store().users().await?;
    Ok(axum::Json(UserList {
        users: users.into_iter().filter(|u| visible(&p, u)).collect(),
    }))
}

async fn get_user(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(login): ApiPath<String>,
) -> Result<axum::Json<User>, AppError> {
    state
        .store()
        .user(login.clone())
        .await?
        .filter(|u| visible(&p, u))
        .map(axum::Json)
        .ok_or_else(|| AppError::not_found(format!("no user {login:?}")))
}

/// The body of `PUT /api/v1/users/{login}`. Not `Debug`: it may hold a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutUser {
    pub display_name: String,
    #[serde(default)]
    pub language: Option<Language>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub plants: Vec<String>,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub badge: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Sets the password (the rules of [`check_new_password`] apply).
    #[serde(default)]
    pub password: Option<String>,
}

async fn check_references(state: &AppState, users: &[User]) -> Result<(), Vec<String>> {
    let known_plants: Vec<String> = match state.store().plants().await {
        Ok(plants) => plants.into_iter().map(|p| p.plant).collect(),
        Err(e) => return Err(vec![format!("cannot read plants: {e}")]),
    };
    let mut problems = Vec::new();
    for u in users {
        for plant in &u.plants {
            if !known_plants.contains(plant) {
                problems.push(format!(
                    "{}: plants: no plant {plant:?}; expected one of {}",
                    u.login,
                    known_plants.join(", ")
                ));
            }
        }
        if let Some(manager) = &u.manager {
            let in_batch = users.iter().any(|o| o.login.eq_ignore_ascii_case(manager));
            let stored = matches!(state.store().user(manager.clone()).await, Ok(Some(_)));
            if !in_batch && !stored {
                problems.push(format!("{}: manager: no user {manager:?}", u.login));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

async fn put_user(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(login): ApiPath<String>,
    ApiJson(body): ApiJson<PutUser>,
) -> Result<axum::Json<User>, AppError> {
    check_login(&login).map_err(AppError::bad_request)?;
    let existing = state.store().user(login.clone()).await?;
    let user = User {
        login: existing.as_ref().map_or(login.clone(), |u| u.login.clone()),
        display_name: body.display_name,
        language: body
            .language
            .or(existing.as_ref().map(|u| u.language))
            .unwrap_or_default(),
        time_zone: body
            .time_zone
            .or(existing.as_ref().map(|u| u.time_zone.clone()))
            .unwrap_or_else(|| "Asia/Shanghai".to_owned()),
        plants: body.plants,
        roles: body.roles,
        manager: body.manager,
        badge: body.badge,
        email: body.email,
        active: body
            .active
            .or(existing.as_ref().map(|u| u.active))
            .unwrap_or(true),
    };
    let mut problems = user.check().err().unwrap_or_default();
    if let Some(pw) = &body.password
        && let Err(problem) = check_new_password(&user.login, pw)
    {
        problems.push(problem);
    }
    if let Err(more) = check_references(&state, std::slice::from_ref(&user)).await {
        problems.extend(more);
    }
    if user
        .login
        .eq_ignore_ascii_case(p.login().unwrap_or_default())
        && !user.roles.contains(&Role::Administrator)
        && existing
            .as_ref()
            .is_some_and(|u| u.roles.contains(&Role::Administrator))
    {
        problems.push("roles: you cannot take the administrator role from yourself; ask another administrator".into());
    }
    if !problems.is_empty() {
        return Err(AppError::bad_request(problems.join("; ")));
    }
    let phc = match body.password {
        Some(pw) => Some(hash(pw).await?),
        None => None,
    };
    state.store().put_users(vec![(user.clone(), phc)]).await?;
    tracing::info!(login = %user.login, by = %p.name(), "user saved");
    Ok(axum::Json(user))
}

async fn set_active(
    state: &AppState,
    p: &Principal,
    login: String,
    active: bool,
) -> Result<axum::Json<User>, AppError> {
    let mut user = state
        .store()
        .user(login.clone())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no user {login:?}")))?;
    if !active
        && user
            .login
            .eq_ignore_ascii_case(p.login().unwrap_or_default())
    {
        return Err(AppError::bad_request(
            "you cannot disable yourself; ask another administrator",
        ));
    }
    user.active = active;
    state.store().put_users(vec![(user.clone(), None)]).await?;
    tracing::info!(login = %user.login, active, by = %p.name(), "user enabled or disabled");
    Ok(axum::Json(user))
}

async fn disable_user(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(login): ApiPath<String>,
) -> Result<axum::Json<User>, AppError> {
    set_active(&state, &p, login, false).await
}

async fn enable_user(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(login): ApiPath<String>,
) -> Result<axum::Json<User>, AppError> {
    set_active(&state, &p, login, true).await
}

async fn reset_password(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(login): ApiPath<String>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let user = state
        .store()
        .user(login.clone())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no user {login:?}")))?;
    let password = generate_password();
    let phc = hash(password.clone()).await?;
    state
        .store()
        .set_password(user.login.clone(), phc, None)
        .await?;
    tracing::info!(login = %user.login, by = %p.name(), "password reset");
    Ok(axum::Json(serde_json::json!({
        "login": user.login,
        "password": password,
        "note": "shown once; every session of the user was ended"
    })))
}

const REQUIRED: [&str; 4] = ["login", "display_name", "roles", "plants"];
const OPTIONAL: [&str; 6] = [
    "language",
    "time_zone",
    "manager",
    "badge",
    "email",
    "active",
];

/// Parses a users CSV: `roles` and `plants` separated by `;`. Every bad row is reported.
pub fn parse_users_csv(text: &[u8]) -> Result<Vec<User>, (Vec<RowError>, usize)> {
    let mut out: Vec<User> = Vec::new();
    let mut first: HashMap<String, u64> = HashMap::new();
    let errors = read_rows(
        text,
        &REQUIRED,
        &OPTIONAL,
        "login,display_name,roles,plants[,language][,time_zone][,manager][,badge][,email][,active]",
        |line, record, index, errors| {
            let cell = |c: &str| index.get(c).and_then(|&i| record.get(i)).unwrap_or("");
            let list = |c: &str| -> Vec<String> {
                cell(c)
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            let mut roles = Vec::new();
            for name in list("roles") {
                match Role::parse(&name) {
                    Some(r) => roles.push(r),
                    None => errors.push(RowError::new(
                        line,
                        "roles",
                        format!(
                            "roles: no role {name:?}; expected some of {}",
                            Role::for_people()
                                .map(Role::name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                }
            }
            let language = match cell("language") {
                "" => Language::Zh,
                l => Language::parse(l).unwrap_or_else(|| {
                    errors.push(RowError::new(
                        line,
                        "language",
                        format!("language: {l:?}; expected zh or en"),
                    ));
                    Language::Zh
                }),
            };
            let active = match cell("active") {
                "" | "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                other => {
                    errors.push(RowError::new(
                        line,
                        "active",
                        format!("active: {other:?}; expected true or false"),
                    ));
                    true
                }
            };
            let opt = |c: &str| Some(cell(c).to_owned()).filter(|s| !s.is_empty());
            let user = User {
                login: cell("login").to_owned(),
                display_name: cell("display_name").to_owned(),
                language,
                time_zone: opt("time_zone").unwrap_or_else(|| "Asia/Shanghai".to_owned()),
                plants: list("plants"),
                roles,
                manager: opt("manager"),
                badge: opt("badge"),
                email: opt("email"),
                active,
            };
            if let Err(problems) = user.check() {
                for problem in problems {
                    let column = problem.split(':').next().unwrap_or("").to_owned();
                    errors.push(RowError::new(line, &column, problem));
                }
            }
            let key = user.login.to_lowercase();
            if let Some(earlier) = first.insert(key, line) {
                errors.push(RowError::new(
                    line,
                    "login",
                    format!(
                        "login {:?} is also on line {earlier}; expected each user once",
                        user.login
                    ),
                ));
            }
            out.push(user);
        },
    );
    if errors.is_empty() {
        Ok(out)
    } else {
        let n = out.len();
        Err((errors, n))
    }
}

async fn import_users(
    State(state): State<AppState>,
    p: Principal,
    CsvBody(body): CsvBody,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let users =
        parse_users_csv(&body).map_err(|(rows, total)| AppError::invalid_csv(rows, total))?;
    if let Err(problems) = check_references(&state, &users).await {
        return Err(AppError::bad_request(problems.join("; ")));
    }
    let mut rows = Vec::with_capacity(users.len());
    let mut passwords = serde_json::Map::new();
    for user in users {
        let exists = state.store().user(user.login.clone()).await?.is_some();
        let phc = if exists {
            None
        } else {
            let password = generate_password();
            passwords.insert(user.login.clone(), password.clone().into());
            Some(hash(password).await?)
        };
        rows.push((user, phc));
    }
    let created = state.store().put_users(rows).await?;
    let n_created = created.iter().filter(|c| **c).count();
    tracing::info!(rows = created.len(), created = n_created, by = %p.name(), "imported users");
    Ok(axum::Json(serde_json::json!({
        "kind": "users",
        "rows": created.len(),
        "created": n_created,
        "passwords": passwords,
        "note": "new users' passwords are shown once"
    })))
}

/// The CSRF header's name, for pages.
pub const fn csrf_header() -> &'static str {
    CSRF_HEADER
}

/// The OpenAPI paths and schemas of these routes, added to [`super::openapi::document`].
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let login =
        json!({"name": "login", "in": "path", "required": true, "schema": {"type": "string"}});
    let user = json!({"description": "the user", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}});
    let me = json!({"description": "who is signed in", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Me"}}}});
    let paths = json!({
        "/api/v1/session": {
            "post": {"summary": "sign in", "tags": ["people"],
                "description": "Sets the `mes_session` cookie (HttpOnly, SameSite=Strict, Secure over TLS) and answers who signed in with the `csrf_token` every change from the page must carry as `x-csrf-token`. A wrong login and a wrong password get the same 401 `sign_in_failed`; after 5 failures of one login or 20 from one address within 15 minutes the login or address is locked for 15 minutes (429 `locked`, `retry-after`), and every failure is answered a little later than the one before.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["login", "password"], "properties": {"login": {"type": "string"}, "password": {"type": "string", "format": "password"}}}}}},
                "responses": {"200": me, "400": error, "401": error, "429": error}},
            "delete": {"summary": "sign out: the session ends on the server", "tags": ["people"], "responses": {"204": {"description": "signed out"}, "400": error}}},
        "/api/v1/me": {"get": {"summary": "the caller, their permissions and the plants they see", "tags": ["people"], "responses": {"200": me}}},
        "/api/v1/me/password": {"put": {"summary": "change one's password (from a signed-in page); ends one's other sessions", "tags": ["people"],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["current", "new"], "properties": {"current": {"type": "string", "format": "password"}, "new": {"type": "string", "format": "password", "minLength": 12, "maxLength": 128}}}}}},
            "responses": {"204": {"description": "changed"}, "400": error}}},
        "/api/v1/me/tokens": {
            "get": {"summary": "one's personal API tokens (never the secrets), with their last use", "tags": ["people"], "responses": {"200": {"description": "{\"tokens\": [ApiToken...]}"}}},
            "post": {"summary": "make a personal API token, shown once", "tags": ["people"],
                "description": "The token carries the permissions asked for (all of the caller's if absent), never more than its owner has at the time of each use; it is stored as its SHA-256 and expires after `expires_in_days` (1 to 366). A token cannot make tokens.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name", "expires_in_days"], "properties": {"name": {"type": "string"}, "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 366}, "permissions": {"type": "array", "items": {"type": "string"}}}}}}},
                "responses": {"201": {"description": "{token, token_id, expires_at, permissions}: the token, shown once"}, "400": error, "409": error}}},
        "/api/v1/me/tokens/{token_id}": {"delete": {"summary": "revoke one of one's tokens", "tags": ["people"],
            "parameters": [{"name": "token_id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"204": {"description": "revoked"}, "404": error}}},
        "/api/v1/roles": {"get": {"summary": "the roles and permissions matrix (docs/ROLES.md)", "tags": ["people"], "responses": {"200": {"description": "{roles: [{role, company_wide, permissions}], permissions: [{permission, describe}]}"}}}},
        "/api/v1/users": {"get": {"summary": "users (an administrator or a company-wide reader: all; others: those of their plants)", "tags": ["people"], "responses": {"200": {"description": "{\"users\": [User...]}"}}}},
        "/api/v1/users/{login}": {
            "get": {"summary": "one user", "tags": ["people"], "parameters": [login], "responses": {"200": user, "404": error}},
            "put": {"summary": "create or change a user", "tags": ["people"], "parameters": [login],
                "description": "Users are never deleted (the audit trail keeps naming them): `active: false` disables one, ending their sessions and stopping their tokens. `password` sets one (at least 12 characters, not a common password, not containing the login).",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserInput"}}}},
                "responses": {"200": user, "400": error, "409": error}}},
        "/api/v1/users/{login}/disable": {"post": {"summary": "disable a user", "tags": ["people"], "parameters": [login], "responses": {"200": user, "400": error, "404": error}}},
        "/api/v1/users/{login}/enable": {"post": {"summary": "enable a user again", "tags": ["people"], "parameters": [login], "responses": {"200": user, "404": error}}},
        "/api/v1/users/{login}/reset-password": {"post": {"summary": "give a user a new generated password, answered once; ends their sessions", "tags": ["people"], "parameters": [login], "responses": {"200": {"description": "{login, password}"}, "404": error}}},
        "/api/v1/import/users": {"post": {"summary": "import users from csv, all or nothing", "tags": ["people"],
            "description": "Columns `login,display_name,roles,plants[,language][,time_zone][,manager][,badge][,email][,active]`; roles and plants separated by `;`. New users get a generated password, answered once in `passwords`.",
            "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
            "responses": {"200": {"description": "{kind, rows, created, passwords}"}, "400": {"$ref": "#/components/responses/InvalidCsv"}}}}
    });
    let schemas = json!({
        "User": {"type": "object", "properties": {
            "login": {"type": "string"}, "display_name": {"type": "string"},
            "language": {"type": "string", "enum": ["zh", "en"]}, "time_zone": {"type": "string"},
            "plants": {"type": "array", "items": {"type": "string"}},
            "roles": {"type": "array", "items": {"type": "string"}},
            "manager": {"type": "string", "nullable": true}, "badge": {"type": "string", "nullable": true},
            "email": {"type": "string", "format": "email"},
            "active": {"type": "boolean"}}},
        "UserInput": {"type": "object", "required": ["display_name", "roles"], "properties": {
            "display_name": {"type": "string"}, "language": {"type": "string", "enum": ["zh", "en"]},
            "time_zone": {"type": "string"}, "plants": {"type": "array", "items": {"type": "string"}},
            "roles": {"type": "array", "items": {"type": "string"}}, "manager": {"type": "string"},
            "badge": {"type": "string"}, "email": {"type": "string", "format": "email"},
            "active": {"type": "boolean"}, "password": {"type": "string", "format": "password"}}},
        "Me": {"type": "object", "properties": {
            "user": {"$ref": "#/components/schemas/User"},
            "permissions": {"type": "array", "items": {"type": "string"}},
            "sees_plants": {"type": "array", "items": {"type": "string"}, "description": "`[\"*\"]`: every plant"},
            "via": {"type": "string", "enum": ["session", "token", "admin_token"]},
            "csrf_token": {"type": "string"}, "idle_timeout_s": {"type": "integer"}, "absolute_timeout_s": {"type": "integer"}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}
