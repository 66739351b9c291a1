//! Who may call what: every route is registered through [`Routes`] with the [`Policy`] it
//! needs, so a route without a declared policy cannot exist (deny by default).
//!
//! One middleware ([`enforce`]) runs in front of every handler:
//!
//! 1. **Who is asking.** `authorization: bearer <token>`: the bootstrap admin token
//!    (`MES_ADMIN_TOKEN`, the first administrator), a personal API token (`mes_pat_…`,
//!    [`crate::api::people`]) or an edge's token; otherwise the `mes_session` cookie of a
//!    signed-in page, whose state-changing requests must carry the session's CSRF token
//!    (`x-csrf-token`). Bad, expired or revoked credentials: 401 in the one error shape.
//! 2. **May they.** The route's [`Access`]: public, any signed-in person, edges only, or a
//!    [`Permission`] of the roles matrix ([`crate::people::roles`]). A known caller without
//!    it: 403 naming the missing permission, and the denial is logged.
//! 3. **Record rules.** A route that names a record in its path (`on(Record::WorkOrder,
//!    "id")`) asks the store which plants the record belongs to; a record of a plant outside
//!    the caller's plants is answered 404, exactly as a record that does not exist.
//!
//! The handler then finds the caller as a [`Principal`] extractor.

use super::AppState;
use super::auth_cache::{Key, Value};
use super::error::AppError;
use crate::auth::{bearer_token, hash_token, hashes_equal, tokens_equal};
use crate::people::audit::{Actor, ActorKind, with_actor};
use crate::people::roles::{Permission, Permissions, Role};
use crate::people::users::{BOOTSTRAP_ADMIN, Language, PlantScope, User};
use crate::store::audit::{NewAuditEntry, actions};
use crate::store::people::Record;
use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use chrono::Utc;
use protocol::EdgeId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The cookie that carries a page session's id.
pub const SESSION_COOKIE: &str = "mes_session";
/// The header that carries a page session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Personal API tokens start with this, so central knows where to look them up.
pub const PERSONAL_TOKEN_PREFIX: &str = "mes_pat_";
/// A kiosk session's id (in the session cookie) starts with this ([`crate::store::kiosk`]).
pub const KIOSK_SESSION_PREFIX: &str = "mes_kiosk_";

/// All a kiosk session may call, as `METHOD /route/template`: its plant's andon and board
/// (pages and their data) and who it is. Every other route refuses it with 403, whatever
/// its permission; the assets and the other public routes answer it as anyone.
pub const KIOSK_ROUTES: &[&str] = &[
    "GET /floor/andon",
    "GET /floor",
    "GET /api/v1/floor/board",
    "GET /api/v1/floor/live",
];

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (`/healthz`, `/metrics`, signing in).
    Public,
    /// Any person signed in or with a token of theirs (their own profile, tokens, password).
    SignedIn,
    /// An edge with its own credential (the sync routes).
    Edge,
    /// Someone whose roles grant this permission.
    Needs(Permission),
}

/// What a route needs: who may call it and, when its path names a record, the record rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub access: Access,
    /// The kind of record and the path parameter that names it.
    pub record: Option<(Record, &'static str)>,
}

impl Policy {
    /// The record named by path parameter `param` must be of one of the caller's plants.
    pub const fn on(self, record: Record, param: &'static str) -> Policy {
        Policy {
            access: self.access,
            record: Some((record, param)),
        }
    }
}

/// A route that needs `permission`.
pub const fn needs(permission: Permission) -> Policy {
    Policy {
        access: Access::Needs(permission),
        record: None,
    }
}

pub const PUBLIC: Policy = Policy {
    access: Access::Public,
    record: None,
};

pub const SIGNED_IN: Policy = Policy {
    access: Access::SignedIn,
    record: None,
};

pub const EDGE: Policy = Policy {
    access: Access::Edge,
    record: None,
};

/// One registered route and its policy: what the route table, the OpenAPI document and the
/// route tests read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub method: Method,
    pub path: &'static str,
    pub policy: Policy,
}

/// Routes with their policies; the only way a route is added to central's router.
#[derive(Default)]
pub struct Routes {
    paths: BTreeMap<&'static str, MethodRouter<AppState>>,
    /// The same handlers without the policy check: only for the benchmark that measures
    /// what the check costs ([`Routes::into_unguarded_router`]).
    unguarded: BTreeMap<&'static str, MethodRouter<AppState>>,
    declared: Vec<Declared>,
}

macro_rules! verb {
    ($name:ident, $method:ident, $filter:ident) => {
        pub fn $name<H, T>(self, path: &'static str, policy: Policy, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add(
                Method::$method,
                MethodFilter::$filter,
                path,
                policy,
                handler,
            )
        }
    };
}

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }

    verb!(get, GET, GET);
    verb!(post, POST, POST);
    verb!(put, PUT, PUT);
    verb!(patch, PATCH, PATCH);
    verb!(delete, DELETE, DELETE);

    fn add<H, T>(
        mut self,
        method: Method,
        filter: MethodFilter,
        path: &'static str,
        policy: Policy,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        assert!(
            !self
                .declared
                .iter()
                .any(|d| d.path == path && d.method == method),
            "{method} {path} registered twice"
        );
        let bare = axum::routing::on(filter, handler.clone());
        let merged = match self.unguarded.remove(path) {
            Some(existing) => existing.merge(bare),
            None => bare,
        };
        self.unguarded.insert(path, merged);
        let guarded = axum::routing::on(filter, handler).route_layer(axum::middleware::from_fn(
            move |req: Request, next: Next| enforce(policy, req, next),
        ));
        let merged = match self.paths.remove(path) {
            Some(existing) => existing.merge(guarded),
            None => guarded,
        };
        self.paths.insert(path, merged);
        self.declared.push(Declared {
            method,
            path,
            policy,
        });
        self
    }

    /// Both sets of routes (a path may not be registered twice for one method).
    pub fn merge(mut self, other: Routes) -> Routes {
        for (path, router) in other.paths {
            let merged = match self.paths.remove(path) {
                Some(existing) => existing.merge(router),
                None => router,
            };
            self.paths.insert(path, merged);
        }
        for (path, router) in other.unguarded {
            let merged = match self.unguarded.remove(path) {
                Some(existing) => existing.merge(router),
                None => router,
            };
            self.unguarded.insert(path, merged);
        }
        for d in other.declared {
            assert!(
                !self
                    .declared
                    .iter()
                    .any(|e| e.path == d.path && e.method == d.method),
                "{} {} registered twice",
                d.method,
                d.path
            );
            self.declared.push(d);
        }
        self
    }

    pub fn declared(&self) -> &[Declared] {
        &self.declared
    }

    /// Every route WITHOUT its policy: no authentication, no permission, no record rule.
    /// Never served; `mes bench authz` compares it with [`Routes::into_router`] on routes
    /// whose handlers need no [`Principal`].
    #[doc(hidden)]
    pub fn into_unguarded_router(self) -> axum::Router<AppState> {
        self.unguarded
            .into_iter()
            .fold(axum::Router::new(), |router, (path, methods)| {
                router.route(path, methods)
            })
    }

    pub fn into_router(self) -> axum::Router<AppState> {
        self.paths
            .into_iter()
            .fold(axum::Router::new(), |router, (path, methods)| {
                router.route(path, methods)
            })
    }
}

/// Who is asking, as the handler sees it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub who: Who,
    /// What they may do (for a token: its permissions within its owner's).
    pub permissions: Permissions,
    /// Whose records they see.
    pub read: PlantScope,
    /// Whose records they change.
    pub write: PlantScope,
    /// The person, for people (not for edges).
    pub user: Option<Arc<User>>,
    /// The page session the request came with, if any.
    pub session: Option<SessionRef>,
    /// The peer address, when the server knows it.
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Signed in on a page.
    User {
        login: String,
    },
    /// A personal API token of `login`.
    Token {
        login: String,
        token_id: String,
    },
    /// The bootstrap admin token: the first administrator.
    AdminToken,
    Edge(EdgeId),
    /// A shop-floor TV signed in with a kiosk link: reads its plant's andon only.
    Kiosk {
        link_id: String,
    },
}

#[derive(Debug, Clone)]
pub struct SessionRef {
    pub hash: [u8; 32],
    pub csrf: String,
}

impl Principal {
    /// The login of the person, or `None` for an edge.
    pub fn login(&self) -> Option<&str> {
        match &self.who {
            Who::User { login } | Who::Token { login, .. } => Some(login),
            Who::AdminToken => Some(BOOTSTRAP_ADMIN),
            Who::Edge(_) | Who::Kiosk { .. } => None,
        }
    }

    /// How the audit trail and the logs name them: `li.wei`, `li.wei/token:3f2a…`,
    /// `admin (admin token)`, `edge:line-1`.
    pub fn name(&self) -> String {
        match &self.who {
            Who::User { login } => login.clone(),
            Who::Token { login, token_id } => format!("{login}/token:{token_id}"),
            Who::AdminToken => format!("{BOOTSTRAP_ADMIN} (admin token)"),
            Who::Edge(edge) => format!("edge:{}", edge.as_str()),
            Who::Kiosk { link_id } => format!("kiosk:{link_id}"),
        }
    }

    pub fn language(&self) -> Language {
        self.user.as_ref().map(|u| u.language).unwrap_or_default()
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// Whether a record of these plants is theirs to see (`write`: to change). A record of
    /// no plant (unknown) is left to the handler.
    pub fn may_see(&self, plants: &[String], write: bool) -> bool {
        let scope = if write { &self.write } else { &self.read };
        plants.is_empty() || plants.iter().any(|p| scope.contains(p))
    }

    /// 403 unless they may change records of `plant` (for bodies that name a plant, a
    /// line or a location of one).
    pub fn check_plant(&self, plant: &str) -> Result<(), AppError> {
        if self.write.contains(plant) {
            Ok(())
        } else {
            Err(AppError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "plant {plant:?} is not one of yours; you may change records of your own plants only"
                ),
            ))
        }
    }

    fn for_user(
        user: Arc<User>,
        who: Who,
        permissions: Permissions,
        address: Option<String>,
    ) -> Self {
        Principal {
            who,
            permissions,
            read: user.read_scope(),
            write: user.write_scope(),
            user: Some(user),
            session: None,
            address,
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, AppError> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            AppError::unauthorized("missing credentials; expected `authorization: bearer <token>` or a signed-in session")
        })
    }
}

/// The peer's address as the server saw it (`None` where it does not know, as in tests
/// that call the router directly). Every request past [`enforce`] has it.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, AppError> {
        Ok(parts
            .extensions
            .get::<ClientAddress>()
            .cloned()
            .unwrap_or(ClientAddress(None)))
    }
}

/// The edge of a request on an edge route.
pub struct EdgeAuth(pub EdgeId);

impl FromRequestParts<AppState> for EdgeAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match Principal::from_request_parts(parts, state).await?.who {
            Who::Edge(edge) => Ok(EdgeAuth(edge)),
            _ => Err(forbidden(Permission::EdgeSync)),
        }
    }
}

fn forbidden(permission: Permission) -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "you may not do this: it needs the permission `{}` ({}), which none of your roles grants",
            permission.name(),
            permission.describe()
        ),
    )
}

/// The peer address the server recorded for this request, if any.
fn peer(parts_ext: &axum::http::Extensions) -> Option<String> {
    parts_ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// A cookie's value from the request's `cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Who the request's credentials name; `Ok(None)` when it carries none.
async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    address: Option<String>,
) -> Result<Option<Principal>, AppError> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let token = value.to_str().ok().and_then(bearer_token).ok_or_else(|| {
            AppError::unauthorized(
                "malformed authorization header; expected `authorization: bearer <token>`",
            )
        })?;
        return bearer(state, token, address).await.map(Some);
    }
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = hash_token(id);
    if id.starts_with(KIOSK_SESSION_PREFIX) {
        return kiosk(state, hash, address).await.map(Some);
    }
    let cache = state.auth_cache();
    let key = Key::Session(hash);
    let (session, user) = match cache.get(&key) {
        Some(Value::Session(session, user)) => (session, user),
        _ => {
            let generation = cache.generation();
            let Some((session, user)) = state.store().session(hash).await? else {
                return Err(session_over());
            };
            let (session, user) = (Arc::new(session), Arc::new(user));
            cache.put(
                key.clone(),
                Value::Session(session.clone(), user.clone()),
                generation,
            );
            (session, user)
        }
    };
    let now = Utc::now();
    let limits = state.session_limits();
    if now - session.last_seen > limits.idle || now - session.created_at > limits.absolute {
        cache.forget(&key);
        state.store().end_session(hash).await?;
        return Err(session_over());
    }
    // A write per request would cost more than it tells; a minute is fine for an idle
    // timeout counted in tens of minutes.
    if now - session.last_seen > chrono::Duration::seconds(60) {
        cache.forget(&key);
        state.store().touch_session(hash, now).await?;
    }
    let unsafe_method = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method {
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !tokens_equal(presented, &session.csrf) {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                format!(
                    "missing or wrong `{CSRF_HEADER}` header; a page's changes must carry the token it was given at sign-in"
                ),
            ));
        }
    }
    let permissions = user.permissions();
    let login = user.login.clone();
    let mut principal = Principal::for_user(user, Who::User { login }, permissions, address);
    principal.session = Some(SessionRef {
        hash,
        csrf: session.csrf.clone(),
    });
    Ok(Some(principal))
}

/// A TV's kiosk session: its link's plant to read, the andon and board only
/// ([`KIOSK_ROUTES`]), nothing to change. Not cached: a revoked link's sessions are gone from
/// the store at once, and a TV makes few requests (a page, then one live stream).
async fn kiosk(
    state: &AppState,
    hash: [u8; 32],
    address: Option<String>,
) -> Result<Principal, AppError> {
    let Some(link) = kiosk_in_use(state, hash).await? else {
        return Err(AppError::unauthorized(
            "this kiosk session has ended (its link was revoked, or it went unused longer than the kiosk idle timeout); open the kiosk link again",
        ));
    };
    Ok(kiosk_principal(link, hash, address))
}

/// How often a kiosk session's `last_seen` is written at most: a write per request (or per
/// board of its live stream) would cost more than it tells, for an idle timeout counted in
/// hours.
pub const KIOSK_TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// The link of a kiosk session that is still in use, marking it used now: `None` when the
/// session is gone (its link revoked) or went unused longer than `[sessions] kiosk_idle`,
/// which ends it. Asked by every request of a kiosk and before every board of its live
/// stream, so a TV that keeps its andon open stays signed in; `last_seen` is written at most
/// once per [`KIOSK_TOUCH_EVERY`].
pub(crate) async fn kiosk_in_use(
    state: &AppState,
    hash: [u8; 32],
) -> Result<Option<crate::store::kiosk::KioskLink>, AppError> {
    let Some(session) = state.store().kiosk_session(hash).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let unused = now - session.last_seen;
    if unused > state.session_limits().kiosk_idle {
        state.store().end_kiosk_session(hash).await?;
        tracing::info!(
            link = %session.link.link_id,
            unused_s = unused.num_seconds(),
            "kiosk session ended: unused longer than the kiosk idle timeout"
        );
        return Ok(None);
    }
    if unused > KIOSK_TOUCH_EVERY {
        state.store().touch_kiosk_session(hash, now).await?;
    }
    Ok(Some(session.link))
}

/// The principal of a kiosk session of `link`.
pub fn kiosk_principal(
    link: crate::store::kiosk::KioskLink,
    hash: [u8; 32],
    address: Option<String>,
) -> Principal {
    let user = User {
        login: format!("kiosk:{}", link.link_id),
        display_name: link.name.clone(),
        language: Language::parse(&link.language).unwrap_or_default(),
        time_zone: link.time_zone.clone(),
        plants: vec![link.plant.clone()],
        roles: vec![Role::Kiosk],
        manager: None,
        badge: None,
        email: None,
        active: true,
    };
    Principal {
        who: Who::Kiosk {
            link_id: link.link_id,
        },
        permissions: Permissions::of(&[Permission::FloorRead]),
        read: PlantScope::Only(vec![link.plant]),
        write: PlantScope::Only(Vec::new()),
        user: Some(Arc::new(user)),
        session: Some(SessionRef {
            hash,
            // A kiosk changes nothing: no change it sends is taken, whatever it carries.
            csrf: String::new(),
        }),
        address,
    }
}

fn session_over() -> AppError {
    AppError::unauthorized("your session has ended or expired; sign in again")
}

async fn bearer(
    state: &AppState,
    token: &str,
    address: Option<String>,
) -> Result<Principal, AppError> {
    let cache = state.auth_cache();
    // One SHA-256 of what was presented serves every comparison and lookup below.
    let hash = hash_token(token);
    if hashes_equal(&hash, state.admin_token_hash()) {
        let key = Key::Admin;
        let user = match cache.get(&key) {
            Some(Value::User(user)) => user,
            _ => {
                let generation = cache.generation();
                let user = Arc::new(
                    state
                        .store()
                        .user(BOOTSTRAP_ADMIN.to_owned())
                        .await?
                        .filter(|u| u.active)
                        .unwrap_or_else(bootstrap_admin),
                );
                cache.put(key, Value::User(user.clone()), generation);
                user
            }
        };
        return Ok(Principal::for_user(
            user,
            Who::AdminToken,
            Role::Administrator.permissions(),
            address,
        ));
    }
    if token.starts_with(PERSONAL_TOKEN_PREFIX) {
        let key = Key::Token(hash);
        let found = match cache.get(&key) {
            Some(Value::Token(t, user)) => Some((t, user)),
            _ => {
                let generation = cache.generation();
                let found = state
                    .store()
                    .api_token(hash)
                    .await?
                    .map(|(t, user)| (Arc::new(t), Arc::new(user)));
                if let Some((t, user)) = &found {
                    cache.put(
                        key.clone(),
                        Value::Token(t.clone(), user.clone()),
                        generation,
                    );
                }
                found
            }
        };
        let Some((t, user)) = found else {
            return Err(AppError::unauthorized(
                "unknown personal token, or its owner is disabled; expected a token from `post /api/v1/me/tokens`",
            ));
        };
        let now = Utc::now();
        if let Some(at) = t.revoked_at {
            return Err(AppError::unauthorized(format!(
                "this personal token was revoked at {}; make a new one",
                at.to_rfc3339()
            )));
        }
        if t.expires_at <= now {
            return Err(AppError::unauthorized(format!(
                "this personal token expired at {}; make a new one",
                t.expires_at.to_rfc3339()
            )));
        }
        if t.last_used_at
            .is_none_or(|at| now - at > chrono::Duration::seconds(60))
        {
            cache.forget(&key);
            state
                .store()
                .record_api_token_use(t.token_id.clone(), now, address.clone())
                .await?;
        }
        // Never more than the owner may do now: a role taken away is taken from the token.
        let permissions = t.permissions.intersect(user.permissions());
        let who = Who::Token {
            login: user.login.clone(),
            token_id: t.token_id.clone(),
        };
        return Ok(Principal::for_user(user, who, permissions, address));
    }
    let key = Key::Edge(hash);
    let edge = match cache.get(&key) {
        Some(Value::Edge(edge)) => Some(edge),
        _ => {
            let generation = cache.generation();
            let edge = state.store().authenticate(hash).await?;
            if let Some(edge) = &edge {
                cache.put(key, Value::Edge(edge.clone()), generation);
            }
            edge
        }
    };
    match edge {
        Some(edge) => Ok(Principal {
            who: Who::Edge(edge),
            permissions: Role::Edge.permissions(),
            read: PlantScope::Only(Vec::new()),
            write: PlantScope::Only(Vec::new()),
            user: None,
            session: None,
            address,
        }),
        None => Err(AppError::unauthorized(
            "unknown or revoked token; expected an edge's token, a personal token or the admin token",
        )),
    }
}

/// The first administrator as the admin token acts when the store has no such user (it is
/// made at start; this keeps the token working if someone disabled it).
fn bootstrap_admin() -> User {
    User {
        login: BOOTSTRAP_ADMIN.to_owned(),
        display_name: "Administrator".to_owned(),
        language: Language::En,
        time_zone: "UTC".to_owned(),
        plants: Vec::new(),
        roles: vec![Role::Administrator],
        manager: None,
        badge: None,
        email: None,
        active: true,
    }
}

/// The policy check in front of every handler (see the module docs). The handler of a
/// person's request runs with them as the audit trail's actor, so every change it makes is
/// written with who, from where and through which operation; an edge's requests run without
/// one (ingest is not audited: the events are their own trail). A refused request for a page
/// (not under `/api/`) is answered for a browser ([`crate::web::refused`]: to the sign-in
/// page, or a page naming the missing permission).
pub async fn enforce(policy: Policy, req: Request, next: Next) -> Response {
    let operation = operation(&req);
    // A change by a person (or a sign-in) may change who may do what: the cached credentials
    // and record plants are forgotten once it is done ([`super::auth_cache`]).
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && policy.access != Access::Edge;
    let state = req.extensions().get::<AppState>().cloned();
    let page =
        crate::web::is_page(req.uri().path()).then(|| (req.uri().clone(), req.headers().clone()));
    let response = match check(policy, req, operation).await {
        Ok((req, Some(actor))) => with_actor(actor, next.run(req)).await,
        Ok((req, None)) => next.run(req).await,
        Err(e) => match page {
            Some((uri, headers)) => {
                crate::web::refused(state.clone(), policy, &uri, &headers, e).await
            }
            None => e.into_response(),
        },
    };
    // A refused request (4xx) changed nothing (its denial's audit entry aside): it keeps the
    // cache, so failed sign-ins cannot empty it for everyone.
    if changes
        && !response.status().is_client_error()
        && let Some(state) = state
    {
        state.auth_cache().invalidate();
        // And the other instances on the same database (PostgreSQL); nothing on SQLite.
        if let Err(e) = state.store().announce_credentials_changed().await {
            tracing::warn!(error = %e, "cannot tell other central instances that credentials may have changed");
        }
    }
    response
}

/// The audit trail's actor for a caller; `None` for an edge.
pub fn actor(p: &Principal, operation: String) -> Option<Actor> {
    let (kind, id) = match &p.who {
        Who::User { login } => (ActorKind::User, login.clone()),
        Who::Token { login, token_id } => (ActorKind::Token, format!("{login}/{token_id}")),
        Who::AdminToken => (ActorKind::AdminToken, BOOTSTRAP_ADMIN.to_owned()),
        Who::Kiosk { link_id } => (ActorKind::Kiosk, link_id.clone()),
        Who::Edge(_) => return None,
    };
    Some(Actor::new(kind, id, operation).with_address(p.address.clone()))
}

/// The operation as the audit trail and the logs name it: `POST /api/v1/work-orders/{id}/release`.
pub fn operation(req: &Request) -> String {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    format!("{} {path}", req.method())
}

/// Authenticates, authorizes and applies the record rule; answers the request with its
/// `Principal` inside and the audit actor to run the handler as (none for edges and for the
/// anonymous callers of public routes).
async fn check(
    policy: Policy,
    req: Request,
    operation: String,
) -> Result<(Request, Option<Actor>), AppError> {
    let Some(state) = req.extensions().get::<AppState>().cloned() else {
        return Err(AppError::internal("the router was built without its state"));
    };
    let address = peer(req.extensions());
    let principal = match authenticate(&state, req.method(), req.headers(), address.clone()).await {
        Ok(principal) => principal,
        // A public route answers anyone: an ended session's cookie, a page's change without
        // its CSRF token or a stale token beside it (a browser signing in again, a scraper of
        // /metrics) is no reason to refuse. A store failure still is.
        Err(e)
            if policy.access == Access::Public && e.status != StatusCode::INTERNAL_SERVER_ERROR =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(p) = &principal
        && matches!(p.who, Who::Kiosk { .. })
        && policy.access != Access::Public
        && !KIOSK_ROUTES.contains(&operation.as_str())
    {
        tracing::warn!(who = %p.name(), %operation, "kiosk refused");
        state.metrics().denied();
        if let Some(actor) = actor(p, operation.clone()) {
            state
                .audit(NewAuditEntry {
                    actor,
                    action: actions::DENIED.to_owned(),
                    entity: "route".to_owned(),
                    entity_id: Some(operation),
                    before: None,
                    after: Some(serde_json::json!({"kiosk": "andon and board only"})),
                })
                .await;
        }
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "kiosk_only",
            "a kiosk link shows its plant's andon and board only; sign in as a person for anything else",
        ));
    }
    let principal = match (policy.access, principal) {
        (Access::Public, p) => p,
        (_, None) => {
            return Err(AppError::unauthorized(
                "missing credentials; expected `authorization: bearer <token>` or a signed-in session",
            ));
        }
        (Access::Edge, Some(p)) => {
            if !matches!(p.who, Who::Edge(_)) {
                return Err(deny(&state, &p, operation, Permission::EdgeSync).await);
            }
            Some(p)
        }
        (Access::SignedIn, Some(p)) => {
            if matches!(p.who, Who::Edge(_)) {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "edges may call the sync routes only",
                ));
            }
            Some(p)
        }
        (Access::Needs(permission), Some(p)) => {
            if !p.can(permission) {
                return Err(deny(&state, &p, operation, permission).await);
            }
            Some(p)
        }
    };
    let (mut parts, body) = req.into_parts();
    let write = !matches!(parts.method, Method::GET | Method::HEAD);
    // Someone who sees (or changes) every plant has no record to look up.
    let rule = policy.record.filter(|_| {
        principal.as_ref().is_some_and(|p| {
            let scope = if write { &p.write } else { &p.read };
            *scope != PlantScope::All
        })
    });
    if let (Some((record, param)), Some(p)) = (rule, &principal) {
        let params = axum::extract::RawPathParams::from_request_parts(&mut parts, &state)
            .await
            .map_err(|e| AppError::bad_request(e.body_text()))?;
        if let Some((_, id)) = params.iter().find(|(name, _)| *name == param) {
            let key = Key::Plants(record, id.to_owned());
            let cache = state.auth_cache();
            let plants = match cache.get(&key) {
                Some(Value::Plants(plants)) => plants,
                _ => {
                    let generation = cache.generation();
                    let plants = Arc::new(state.store().plants_of(record, id.to_owned()).await?);
                    if !plants.is_empty() {
                        cache.put(key, Value::Plants(plants.clone()), generation);
                    }
                    plants
                }
            };
            if !p.may_see(&plants, write) {
                tracing::info!(who = %p.name(), record = record.noun(), id, "record of another plant answered 404");
                return Err(AppError::not_found(format!("no {} {id:?}", record.noun())));
            }
        }
    }
    let actor = principal.as_ref().and_then(|p| actor(p, operation));
    if let Some(p) = principal {
        parts.extensions.insert(p);
    }
    parts.extensions.insert(ClientAddress(address));
    Ok((Request::from_parts(parts, body), actor))
}

/// 403 for a known caller without the permission; the denial is logged and audited
/// (ASVS V7.2.2) before the answer goes out.
async fn deny(
    state: &AppState,
    p: &Principal,
    operation: String,
    permission: Permission,
) -> AppError {
    tracing::warn!(who = %p.name(), %operation, permission = permission.name(), "denied");
    state.metrics().denied();
    let actor = actor(p, operation.clone()).unwrap_or_else(|| {
        let edge = match &p.who {
            Who::Edge(edge) => edge.as_str().to_owned(),
            _ => p.name(),
        };
        Actor::new(ActorKind::Edge, edge, operation.clone()).with_address(p.address.clone())
    });
    state
        .audit(NewAuditEntry {
            actor,
            action: actions::DENIED.to_owned(),
            entity: "route".to_owned(),
            entity_id: Some(operation),
            before: None,
            after: Some(serde_json::json!({"missing_permission": permission.name()})),
        })
        .await;
    forbidden(permission)
}
