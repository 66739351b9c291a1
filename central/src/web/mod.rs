//! Central's pages: one web app served by central itself, behind the API's sign-in and
//! permissions.
//!
//! | page | policy | what |
//! | --- | --- | --- |
//! | `GET /` | public | to `/account` when signed in, else to `/sign-in` |
//! | `GET /sign-in?next=` | public | login and password, posted to `POST /api/v1/session` |
//! | `GET /account` | signed in | who I am, my password, my personal API tokens, sign out |
//! | `GET /admin/users` | `users.read` | users; create, change, disable, reset with `users.manage` |
//! | `GET /admin/roles` | signed in | the roles matrix ([`crate::people::roles`]) |
//! | `GET /admin/plants` | `plants.read` | plants and their floor rules; change with `plants.manage` |
//! | `GET /audit` | `audit.read` | the audit trail, read by its script from `GET /api/v1/audit` |
//! | `GET /floor?plant=` | `floor.read` | the plant board, live from `GET /api/v1/floor/live` |
//! | `GET /floor/andon?plant=` | `floor.read` | the same board for a shop-floor TV (a kiosk user) |
//! | `GET /floor/oee?plant=&line=&edge_id=&station=&by=&from=&to=` | `floor.read` | OEE by ISO 22400-2, its loss tree and Pareto, of a plant, line or station; live from `/floor/oee/live` ([`oee`]) |
//! | `GET /floor/spc?id=` | `floor.read` | SPC: characteristics and their status, one's X-bar/R or I-MR charts (uPlot) and points, capability; live from `/floor/spc/live` ([`spc`]) |
//! | `GET /floor/plants` | `floor.read` | head office: the plants side by side (OEE, output against plan, scrap, on-time orders, down hours, daily and weekly trends), drill-down to each; live from `/floor/plants/live` |
//! | `GET /floor/edges` | `edges.read` | the edge fleet: version, last contact, backlog, clock skew, plans |
//! | `GET /work-orders?state=&item=&line=&plant=&due_from=&due_to=&q=&offset=` | `work_orders.read` | work orders, filtered, counted per state, paged ([`work_orders`]) |
//! | `GET /work-orders/{id}` | `work_orders.read` | one order: operations, plans, material per lot, lots produced, timeline, holds |
//! | `GET /trace/{lot}`, `/trace?lot=` | `inventory.read` | a lot's genealogy as a graph to walk, where each lot is, its orders ([`trace`]) |
//! | `GET /crm/customers?q=&owner=&tag=&after=` | `crm.read` | customers of one's scope: searched, filtered by owner and tag, in pages of 50 by code, counted in all and per owner; a new customer with `crm.write` ([`crm`]) |
//! | `GET /crm/customers/{customer}` | `crm.read` | one customer: details (edit), contacts, activities (log a call, visit, e-mail or note; a follow-up task) |
//! | `GET /crm/contacts/{contact}` | `crm.read` | one contact: phones, e-mail addresses, handles, activities, its vCard, merging it into another contact |
//! | `GET /crm/tasks?owner=all` | `crm.read` | my open tasks soonest first, overdue marked, done with a click; a manager's team's with `owner=all` |
//! | `GET /crm/import` | `crm.read` | business cards in (a `.vcf` or CSV file, with `crm.write`) and what came of them; the duplicates waiting: merge, keep, discard |
//! | `GET /crm/pipeline?owner=&q=&currency=` | `crm.read` | the CRM pipeline: opportunities in columns by stage, moved by drag and drop or a select (`crm.write`), the weighted forecast on top ([`pipeline`]) |
//! | `GET /crm/quotations?status=&q=&flagged=&before=` | `crm.read` | quotations of one's scope, newest first, expired and flagged marked; a new quotation with `crm.write` ([`sales`]) |
//! | `GET /crm/quotations/{quotation}` | `crm.read` | one quotation: lines with list price and source, totals, open flags (old → new price), history; send, revise, re-price, reject, the PDF (zh/en), an order from it whole or in part |
//! | `GET /crm/cockpit?from=&to=&currency=` | `crm.read` | the sales cockpit of one's scope: net sales by region, industry, item and salesperson, top customers, win rate, open and weighted pipeline (`GET /api/v1/crm/cockpit`) |
//! | `GET /crm/orders?status=&q=&before=` | `crm.read` | sales orders of one's scope, newest first |
//! | `GET /crm/orders/{order}` | `crm.read` | one order: per line the requested and confirmed dates, what limits the promise, the work orders made for it with good/scrap, projected date, late risk; confirm (a credit refusal with its figures), re-price, cancel, the customer's status link |
//! | `GET /crm/flags` | `crm.read` | documents ERP's price and BOM changes flagged, with the old and new price |
//! | `GET /order-status/{token}?lang=` | public (the token) | the customer's read-only view of a confirmed order: lines, quantities, requested, confirmed and projected dates, made so far, shipped; no prices; a 404 page for any token that does not open |
//! | `GET /assets/app.css`, `/assets/app.js` | public | the only assets, compiled into the binary |
//!
//! Pages are rendered on the server from askama templates (`central/templates/`, checked when
//! central compiles) with the same store reads as the API's handlers, so a page shows what
//! the API answers. Changes go through the JSON API from the one script
//! ([`APP_JS`]) with the session's CSRF token, which the page carries in
//! `<meta name="csrf-token">`. Every text comes from one catalogue ([`i18n`]); the language is
//! `?lang=` (remembered in the `mes_lang` cookie), else that cookie, else the user's. Times are
//! shown in the user's time zone (`chrono-tz`), stored in UTC.
//!
//! **Architecture Invariant:** a page is registered through [`Routes`] like every API route, so
//! it has a policy; a refused page request is answered for a browser ([`refused`]: 401 →
//! `303 /sign-in?next=`, 403 → a page naming the missing permission) instead of JSON.
//!
//! **Architecture Invariant:** pages run no inline script and load nothing from elsewhere:
//! `content-security-policy: default-src 'self'`.

pub mod crm;
pub mod i18n;
mod losses;
mod oa;
mod oee;
mod pipeline;
pub mod sales;
mod spc;
pub mod trace;
pub mod work_orders;

use crate::api::AppState;
use crate::api::error::AppError;
use crate::api::policy::{
    Access, PUBLIC, Policy, Principal, Routes, SIGNED_IN, SessionRef, Who, cookie, needs,
};
use crate::auth::hash_token;
use crate::people::roles::{Permission, Role};
use crate::people::users::{Language, PlantScope};
use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The stylesheet, the only one.
pub const APP_CSS: &str = include_str!("assets/app.css");
/// The script of every page, the only one.
pub const APP_JS: &str = include_str!("assets/app.js");

/// The cookie that remembers the language chosen on a page (not a secret).
pub const LANGUAGE_COOKIE: &str = "mes_lang";

/// What every page answers with besides its body.
pub const CONTENT_SECURITY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn routes() -> Routes {
    use Permission::*;
    Routes::new()
        .get("/", PUBLIC, home)
        .get("/sign-in", PUBLIC, sign_in)
        .get("/account", SIGNED_IN, account)
        .get("/admin/users", needs(UsersRead), users)
        .get("/admin/roles", SIGNED_IN, roles)
        .get("/admin/plants", needs(PlantsRead), plants)
        .get("/audit", needs(AuditRead), audit)
        .get("/floor", needs(FloorRead), floor_board)
        .get("/floor/andon", needs(FloorRead), floor_andon)
        .merge(oee::routes())
        .merge(losses::routes())
        .get("/floor/edges", needs(EdgesRead), floor_edges)
        .get("/admin/kiosks", needs(KiosksManage), kiosks)
        .merge(work_orders::routes())
        .merge(trace::routes())
        .merge(crm::routes())
        .merge(spc::routes())
        .merge(pipeline::routes())
        .merge(sales::routes())
        .merge(oa::routes())
        .get("/assets/app.css", PUBLIC, css)
        .get("/assets/app.js", PUBLIC, js)
        .get("/assets/charts.js", PUBLIC, charts_js)
        .get("/assets/uplot.js", PUBLIC, uplot_js)
        .get("/assets/uplot.css", PUBLIC, uplot_css)
}

/// Whether a request is for a page (answered for a browser) rather than the API.
pub fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/healthz" || path == "/metrics")
}

// ---------------------------------------------------------------------------------------------
// What every page has

/// The page's language and time zone: what templates ask for their texts and times.
pub struct T {
    pub lang: Language,
    pub zone: String,
    tz: chrono_tz::Tz,
}

impl T {
    fn new(lang: Language, zone: &str) -> T {
        let tz = zone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC);
        T {
            lang,
            zone: tz.name().to_owned(),
            tz,
        }
    }

    /// The catalogue's text of `key`.
    pub fn t<K: AsRef<str>>(&self, key: K) -> &'static str {
        i18n::text(self.lang, key.as_ref())
    }

    /// The catalogue's text of `key` with `{name}` replaced by `value`.
    pub fn fill<K: AsRef<str>, V: std::fmt::Display>(
        &self,
        key: K,
        name: &str,
        value: V,
    ) -> String {
        self.t(key)
            .replace(&format!("{{{name}}}"), &value.to_string())
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }

    /// `zh-CN` or `en`, for `<html lang>`.
    pub fn html_lang(&self) -> &'static str {
        match self.lang {
            Language::Zh => "zh-CN",
            Language::En => "en",
        }
    }

    pub fn role(&self, role: &Role) -> &'static str {
        i18n::role(self.lang, *role)
    }

    pub fn describe(&self, permission: &Permission) -> &'static str {
        i18n::permission(self.lang, *permission)
    }

    /// `2026-12-06 16:34` in the page's time zone.
    pub fn time(&self, at: &DateTime<Utc>) -> String {
        at.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// How long ago, in the largest whole unit: `45 s ago`, `12 min ago`, `3 h ago`.
    pub fn ago(&self, seconds: i64) -> String {
        let s = seconds.max(0);
        match s {
            0..60 => self.fill("age_s", "n", s),
            60..3_600 => self.fill("age_min", "n", s / 60),
            3_600..86_400 => self.fill("age_h", "n", s / 3_600),
            _ => self.fill("age_d", "n", s / 86_400),
        }
    }

    pub fn opt_time(&self, at: &Option<DateTime<Utc>>) -> String {
        match at {
            Some(at) => self.time(at),
            None => self.t("never").to_owned(),
        }
    }
}

pub struct NavLink {
    pub href: &'static str,
    pub key: &'static str,
    pub current: bool,
}

/// The frame around every page: navigation, who is signed in, the language switch, the data
/// the script needs.
pub struct Shell {
    pub nav: Vec<NavLink>,
    /// `Name (login)` of who is signed in.
    pub user: Option<String>,
    pub csrf: String,
    /// The page language's catalogue as JSON, safe inside `<script type="application/json">`.
    pub messages: String,
    pub lang_zh_href: String,
    pub lang_en_href: String,
}

/// Everything a page needs to know about the request.
struct Ctx {
    t: T,
    shell: Shell,
    /// `?lang=` was given: remember it in the cookie.
    remember: Option<Language>,
}

impl Ctx {
    fn new(principal: Option<&Principal>, uri: &Uri, headers: &HeaderMap, current: &str) -> Ctx {
        let asked = query_value(uri, "lang").and_then(|l| Language::parse(&l));
        let lang = asked
            .or_else(|| cookie(headers, LANGUAGE_COOKIE).and_then(Language::parse))
            .or_else(|| principal.and_then(|p| p.user.as_ref()).map(|u| u.language))
            .unwrap_or_default();
        let zone = principal
            .and_then(|p| p.user.as_ref())
            .map_or("UTC", |u| u.time_zone.as_str());
        let t = T::new(lang, zone);
        let mut nav = Vec::new();
        if let Some(p) = principal {
            let links: &[(&str, &str, Option<Permission>)] = &[
                (
                    "/floor/plants",
                    "nav_plants_side",
                    Some(Permission::FloorRead),
                ),
                ("/floor", "nav_floor", Some(Permission::FloorRead)),
                ("/floor/oee", "nav_oee", Some(Permission::FloorRead)),
                ("/floor/spc", "nav_spc", Some(Permission::FloorRead)),
                ("/floor/edges", "nav_edges", Some(Permission::EdgesRead)),
                (
                    "/work-orders",
                    "nav_work_orders",
                    Some(Permission::WorkOrdersRead),
                ),
                ("/trace", "nav_trace", Some(Permission::InventoryRead)),
                // The CRM (issue 16).
                (
                    "/crm/customers",
                    "nav_crm_customers",
                    Some(Permission::CrmRead),
                ),
                ("/crm/tasks", "nav_crm_tasks", Some(Permission::CrmRead)),
                // Requests and approvals (issue 17): everyone's.
                ("/oa", "nav_oa", None),
                ("/account", "nav_account", None),
                ("/admin/users", "nav_users", Some(Permission::UsersRead)),
                ("/admin/roles", "nav_roles", None),
                ("/admin/plants", "nav_plants", Some(Permission::PlantsRead)),
                (
                    "/admin/kiosks",
                    "nav_kiosks",
                    Some(Permission::KiosksManage),
                ),
                ("/audit", "nav_audit", Some(Permission::AuditRead)),
            ];
            for &(href, key, needs) in links {
                if needs.is_none_or(|n| p.can(n)) {
                    nav.push(NavLink {
                        href,
                        key,
                        current: href == current,
                    });
                }
            }
            // The CRM pipeline.
            if p.can(Permission::CrmRead) {
                nav.push(NavLink {
                    href: "/crm/pipeline",
                    key: "nav_pipeline",
                    current: current == "/crm/pipeline",
                });
            }
            // Quotations, and from them the orders and flags ([`sales`]).
            if p.can(Permission::CrmRead) {
                nav.push(NavLink {
                    href: "/crm/quotations",
                    key: "nav_quotations",
                    current: current == "/crm/quotations",
                });
            }
        }
        let shell = Shell {
            nav,
            user: principal
                .and_then(|p| p.user.as_ref())
                .map(|u| format!("{} ({})", u.display_name, u.login)),
            csrf: principal
                .and_then(|p| p.session.as_ref())
                .map(|s| s.csrf.clone())
                .unwrap_or_default(),
            messages: script_json(&i18n::table_json(lang)),
            lang_zh_href: with_lang(uri, "zh"),
            lang_en_href: with_lang(uri, "en"),
        };
        Ctx {
            t,
            shell,
            remember: asked,
        }
    }

    /// The page as a response with the security headers.
    fn respond(&self, status: StatusCode, html: Result<String, askama::Error>) -> Response {
        let mut response = match html {
            Ok(body) => (status, Html(body)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "a page failed to render");
                AppError::internal(format!("the page failed to render: {e}")).into_response()
            }
        };
        if let Some(lang) = self.remember
            && let Ok(v) = HeaderValue::from_str(&format!(
                "{LANGUAGE_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
                lang.code()
            ))
        {
            response.headers_mut().append(SET_COOKIE, v);
        }
        secure(response)
    }
}

/// The headers every page answer carries (redirects and refusals too).
fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY),
    );
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// JSON that may stand inside a `<script>` element: no `<`, `>` or `&` that could close it.
fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// A query parameter's value, percent-decoded.
fn query_value(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?;
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .ok()
        .and_then(|Query(map)| map.get(name).cloned())
}

/// A query parameter that is an RFC 3339 instant; `None` when absent or empty.
fn query_at(uri: &Uri, name: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    query_value(uri, name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| AppError::bad_request(format!("{name}: {v:?} is not RFC 3339: {e}")))
        })
        .transpose()
}

/// A query parameter that is an id within protocol bounds; `None` when absent or empty.
fn query_id(uri: &Uri, name: &str) -> Result<Option<String>, AppError> {
    match query_value(uri, name).filter(|v| !v.is_empty()) {
        Some(v) => {
            protocol::bounds::check_id(name, &v)
                .map_err(|e| AppError::bad_request(e.to_string()))?;
            Ok(Some(v))
        }
        None => Ok(None),
    }
}

/// The page's own address with `lang=` set (other parameters kept as they were sent).
fn with_lang(uri: &Uri, lang: &str) -> String {
    let mut pairs: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("lang="))
        .collect();
    let wanted = format!("lang={lang}");
    pairs.push(&wanted);
    format!("{}?{}", uri.path(), pairs.join("&"))
}

/// Percent-encodes everything but the unreserved characters and `/`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where to go after signing in: a path of this site only (never `//host` or a URL).
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/account".to_owned(),
    }
}

/// The caller if they are signed in, on a public page.
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybePrincipal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, AppError> {
        Ok(MaybePrincipal(parts.extensions.get::<Principal>().cloned()))
    }
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, v);
    }
    secure(response)
}

// ---------------------------------------------------------------------------------------------
// Refused page requests (called from [`crate::api::policy::enforce`])

#[derive(Template)]
#[template(path = "refused.html")]
struct RefusedPage {
    t: T,
    shell: Shell,
    /// The permission the page needs, when that is why it was refused.
    permission: Option<Permission>,
    message: String,
}

/// A page request the policy refused, answered for a browser: not signed in (or the session
/// ended) → `303 /sign-in?next=<the page>`; refused → a page in the user's language naming
/// the permission that was missing; anything else → the same page with the error's message.
pub async fn refused(
    state: Option<AppState>,
    policy: Policy,
    uri: &Uri,
    headers: &HeaderMap,
    error: AppError,
) -> Response {
    if error.status == StatusCode::UNAUTHORIZED
        && cookie(headers, crate::api::policy::SESSION_COOKIE)
            .is_some_and(|id| id.starts_with(crate::api::policy::KIOSK_SESSION_PREFIX))
    {
        // A TV whose link was revoked or whose session went unused too long: it has no one
        // to sign in as, only its link to open again.
        return kiosk_page(headers, StatusCode::UNAUTHORIZED, true);
    }
    if error.status == StatusCode::UNAUTHORIZED {
        let target = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
        return redirect(&format!("/sign-in?next={}", encode(&target)));
    }
    // Who they are, for their language, time zone and navigation: looked up again only on
    // this rare path, so the checks in front of every page stay as they are.
    let mut principal = None;
    if let (Some(state), Some(id)) = (&state, cookie(headers, crate::api::policy::SESSION_COOKIE))
        && let Ok(Some((session, user))) = state.store().session(hash_token(id)).await
    {
        principal = Some(Principal {
            who: Who::User {
                login: user.login.clone(),
            },
            permissions: user.permissions(),
            read: user.read_scope(),
            write: user.write_scope(),
            session: Some(SessionRef {
                hash: hash_token(id),
                csrf: session.csrf,
            }),
            user: Some(std::sync::Arc::new(user)),
            address: None,
        });
    }
    let ctx = Ctx::new(principal.as_ref(), uri, headers, "");
    let permission = match (error.status, policy.access) {
        (StatusCode::FORBIDDEN, Access::Needs(p)) if error.code == "forbidden" => Some(p),
        _ => None,
    };
    let page = RefusedPage {
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
        permission,
        message: error.message,
    };
    ctx.respond(error.status, page.render())
}

#[derive(Template)]
#[template(path = "kiosk_refused.html")]
struct KioskRefusedPage {
    t: T,
    shell: Shell,
    /// A session that ended (its link revoked), rather than a link that does not open.
    ended: bool,
}

fn kiosk_page(headers: &HeaderMap, status: StatusCode, ended: bool) -> Response {
    // Its language links go to the sign-in page: the address it came to (a link's token)
    // is not echoed back.
    let ctx = Ctx::new(None, &Uri::from_static("/sign-in"), headers, "");
    let page = KioskRefusedPage {
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
        ended,
    };
    ctx.respond(status, page.render())
}

/// A kiosk link that does not open (never made, mistyped or revoked: one answer for all, so
/// a guess learns nothing): 404, as for any record one may not have, with a page that says
/// to ask for a new link.
pub fn kiosk_refused(headers: &HeaderMap) -> Response {
    kiosk_page(headers, StatusCode::NOT_FOUND, false)
}

/// `303 See Other` to a path of this site, with the pages' security headers.
pub fn see_other(to: &str) -> Response {
    redirect(to)
}

/// A query parameter's value, percent-encoded.
pub fn encode_query(value: &str) -> String {
    encode(value).replace('/', "%2F")
}

// ---------------------------------------------------------------------------------------------
// Pages

async fn home(MaybePrincipal(p): MaybePrincipal) -> Response {
    redirect(match p.map(|p| p.who) {
        // A TV signed in with a kiosk link has the andon and nothing else.
        Some(Who::Kiosk { .. }) => "/floor/andon",
        Some(_) => "/account",
        None => "/sign-in",
    })
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    t: T,
    shell: Shell,
    next: String,
}

async fn sign_in(uri: Uri, headers: HeaderMap) -> Response {
    // The page is for signing in: it shows no one as signed in, whatever cookie came with it.
    let ctx = Ctx::new(None, &uri, &headers, "/sign-in");
    let page = SignInPage {
        next: safe_next(query_value(&uri, "next")),
        t: T::new(ctx.t.lang, "UTC"),
        shell: ctx_shell(&ctx),
    };
    ctx.respond(StatusCode::OK, page.render())
}

/// A copy of the context's shell for a page struct (templates own their fields).
fn ctx_shell(ctx: &Ctx) -> Shell {
    Shell {
        nav: ctx
            .shell
            .nav
            .iter()
            .map(|l| NavLink {
                href: l.href,
                key: l.key,
                current: l.current,
            })
            .collect(),
        user: ctx.shell.user.clone(),
        csrf: ctx.shell.csrf.clone(),
        messages: ctx.shell.messages.clone(),
        lang_zh_href: ctx.shell.lang_zh_href.clone(),
        lang_en_href: ctx.shell.lang_en_href.clone(),
    }
}

fn ctx_t(ctx: &Ctx) -> T {
    T::new(ctx.t.lang, &ctx.t.zone)
}

/// One personal token as the account page lists it.
pub struct TokenRow {
    pub token_id: String,
    pub name: String,
    pub permissions: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub last_used_from: String,
    /// `state_live`, `state_revoked` or `state_expired`.
    pub state: &'static str,
    pub live: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    t: T,
    shell: Shell,
    display_name: String,
    login: String,
    roles: Vec<Role>,
    plants: String,
    language: &'static str,
    /// Their own permissions: what a token may carry.
    permissions: Vec<Permission>,
    tokens: Vec<TokenRow>,
    /// Signed in with a session (a password is changed from a page only).
    has_session: bool,
}

fn plants_text(t: &T, scope: &PlantScope) -> String {
    match scope {
        PlantScope::All => t.t("all_plants").to_owned(),
        PlantScope::Only(p) if p.is_empty() => t.t("no_plants").to_owned(),
        PlantScope::Only(p) => p.join(", "),
    }
}

async fn account(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/account");
    let t = ctx_t(&ctx);
    let user = p
        .user
        .as_deref()
        .cloned()
        .ok_or_else(|| AppError::bad_request("edges have no account page"))?;
    let now = Utc::now();
    let login = p.login().unwrap_or_default().to_owned();
    let mut tokens: Vec<TokenRow> = state
        .store()
        .api_tokens(login)
        .await?
        .into_iter()
        .map(|k| {
            let state = if k.revoked_at.is_some() {
                "state_revoked"
            } else if k.expires_at <= now {
                "state_expired"
            } else {
                "state_live"
            };
            TokenRow {
                permissions: k.permissions.names().join(", "),
                created: t.time(&k.created_at),
                expires: t.time(&k.expires_at),
                last_used: t.opt_time(&k.last_used_at),
                last_used_from: k.last_used_from.unwrap_or_default(),
                live: state == "state_live",
                state,
                token_id: k.token_id,
                name: k.name,
            }
        })
        .collect();
    // Live ones first, then the rest, each newest first.
    tokens.sort_by(|a, b| b.live.cmp(&a.live).then(b.created.cmp(&a.created)));
    let page = AccountPage {
        plants: plants_text(&t, &p.read),
        language: match user.language {
            Language::Zh => "中文",
            Language::En => "English",
        },
        display_name: user.display_name,
        login: user.login,
        roles: user.roles,
        permissions: p.permissions.iter().collect(),
        tokens,
        has_session: p.session.is_some(),
        shell: ctx_shell(&ctx),
        t,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

/// One user as the users page lists them.
pub struct UserRow {
    pub login: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub plants: String,
    pub manager: String,
    pub active: bool,
    /// The user as JSON, for the edit form.
    pub json: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    t: T,
    shell: Shell,
    users: Vec<UserRow>,
    can_manage: bool,
    all_roles: Vec<Role>,
    all_plants: Vec<String>,
    me: String,
}

async fn users(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/admin/users");
    let t = ctx_t(&ctx);
    let users = state
        .store()
        .users()
        .await?
        .into_iter()
        .filter(|u| crate::api::people::visible(&p, u))
        .map(|u| UserRow {
            json: serde_json::to_string(&u).unwrap_or_default(),
            plants: u.plants.join(", "),
            manager: u.manager.clone().unwrap_or_default(),
            active: u.active,
            roles: u.roles,
            display_name: u.display_name,
            login: u.login,
        })
        .collect();
    let all_plants = state
        .store()
        .plants()
        .await?
        .into_iter()
        .map(|x| x.plant)
        .filter(|x| p.write.contains(x))
        .collect();
    let page = UsersPage {
        users,
        can_manage: p.can(Permission::UsersManage),
        all_roles: Role::for_people().collect(),
        all_plants,
        me: p.login().unwrap_or_default().to_owned(),
        shell: ctx_shell(&ctx),
        t,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

/// One row of the roles matrix.
pub struct MatrixRow {
    pub permission: Permission,
    pub granted: Vec<bool>,
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    t: T,
    shell: Shell,
    roles: Vec<Role>,
    rows: Vec<MatrixRow>,
}

async fn roles(p: Principal, uri: Uri, headers: HeaderMap) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/admin/roles");
    let roles: Vec<Role> = Role::ALL.to_vec();
    let rows = Permission::ALL
        .iter()
        .map(|permission| MatrixRow {
            permission: *permission,
            granted: roles
                .iter()
                .map(|r| r.permissions().contains(*permission))
                .collect(),
        })
        .collect();
    let page = RolesPage {
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
        roles,
        rows,
    };
    ctx.respond(StatusCode::OK, page.render())
}

/// One plant as the plants page lists it.
pub struct PlantRow {
    pub plant: String,
    pub name: String,
    pub over_tolerance_pct: String,
    pub stop_counting_when_complete: bool,
    /// The catalogue key of its negative-stock rule.
    pub negative_stock: &'static str,
    pub may_change: bool,
    pub json: String,
}

#[derive(Template)]
#[template(path = "plants.html")]
struct PlantsPage {
    t: T,
    shell: Shell,
    plants: Vec<PlantRow>,
    can_manage: bool,
    /// A new plant is the company's to make: someone who changes every plant.
    can_create: bool,
}

async fn plants(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/admin/plants");
    let can_manage = p.can(Permission::PlantsManage);
    let plants = state
        .store()
        .plants()
        .await?
        .into_iter()
        .filter(|x| p.read.contains(&x.plant))
        .map(|x| PlantRow {
            json: serde_json::to_string(&x).unwrap_or_default(),
            may_change: can_manage && p.write.contains(&x.plant),
            negative_stock: match x.negative_stock {
                protocol::NegativeStock::Refuse => "negative_stock_refuse",
                protocol::NegativeStock::Flag => "negative_stock_flag",
                protocol::NegativeStock::Allow => "negative_stock_allow",
            },
            over_tolerance_pct: x.over_tolerance_pct.normalize().to_string(),
            stop_counting_when_complete: x.stop_counting_when_complete,
            name: x.name,
            plant: x.plant,
        })
        .collect();
    let page = PlantsPage {
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
        plants,
        can_manage,
        can_create: can_manage && p.write == PlantScope::All,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    t: T,
    shell: Shell,
    actor: String,
    entity: String,
    entity_id: String,
    action: String,
}

/// The trail itself is read by the page's script from `GET /api/v1/audit` with the filters
/// of the form (and paged by its `next`), so the page shows exactly what the API answers.
async fn audit(p: Principal, uri: Uri, headers: HeaderMap) -> Response {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/audit");
    let value = |name: &str| query_value(&uri, name).unwrap_or_default();
    let page = AuditPage {
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
        actor: value("actor"),
        entity: value("entity"),
        entity_id: value("entity_id"),
        action: value("action"),
    };
    ctx.respond(StatusCode::OK, page.render())
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidated on every use: a new central's assets are seen at once.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// The pages' charts: the figures' JSON in the page, drawn with uPlot.
pub const CHARTS_JS: &str = include_str!("assets/charts.js");
/// uPlot 1.6.32, vendored (assets/vendor/uplot/README.md says why and from where).
pub const UPLOT_JS: &str = include_str!("assets/vendor/uplot/uPlot.iife.min.js");
pub const UPLOT_CSS: &str = include_str!("assets/vendor/uplot/uPlot.min.css");

async fn charts_js() -> Response {
    asset("text/javascript; charset=utf-8", CHARTS_JS)
}

async fn uplot_js() -> Response {
    asset("text/javascript; charset=utf-8", UPLOT_JS)
}

async fn uplot_css() -> Response {
    asset("text/css; charset=utf-8", UPLOT_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/admin/users".into())), "/admin/users");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "account",
        ] {
            assert_eq!(safe_next(Some(bad.into())), "/account", "{bad}");
        }
        assert_eq!(safe_next(None), "/account");
    }

    #[test]
    fn pages_and_api_are_told_apart() {
        assert!(is_page("/account"));
        assert!(is_page("/"));
        assert!(!is_page("/api/v1/me"));
        assert!(!is_page("/healthz"));
        assert!(!is_page("/metrics"));
    }

    #[test]
    fn encoding_and_the_language_switch() {
        assert_eq!(
            encode("/audit?actor=li wei&x=1"),
            "/audit%3Factor%3Dli%20wei%26x%3D1"
        );
        let uri: Uri = "/sign-in?next=%2Faccount&lang=zh".parse().unwrap();
        assert_eq!(with_lang(&uri, "en"), "/sign-in?next=%2Faccount&lang=en");
        assert_eq!(query_value(&uri, "next").as_deref(), Some("/account"));
        assert_eq!(
            script_json(r#"{"a":"</script>&"}"#),
            r#"{"a":"\u003c/script\u003e\u0026"}"#
        );
    }

    #[test]
    fn times_are_shown_in_the_users_zone() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T08:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            T::new(Language::Zh, "Asia/Shanghai").time(&at),
            "2026-12-06 16:30"
        );
        assert_eq!(T::new(Language::En, "UTC").time(&at), "2026-12-06 08:30");
        // An unknown zone falls back to UTC, and says so.
        let t = T::new(Language::En, "Mars/Olympus");
        assert_eq!(
            (t.time(&at).as_str(), t.zone.as_str()),
            ("2026-12-06 08:30", "UTC")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The floor: board, andon, OEE ([`crate::api::floor`] answers the same figures as JSON)

/// A plant one may choose on a floor page.
pub struct PlantChoice {
    pub plant: String,
    pub name: String,
    pub current: bool,
}

/// The plants of the caller's scope, the asked one (else the first) marked current.
async fn plant_choices(
    state: &AppState,
    p: &Principal,
    asked: Option<&str>,
) -> Result<(Vec<PlantChoice>, Option<String>), AppError> {
    let plants: Vec<_> = state
        .store()
        .plants()
        .await?
        .into_iter()
        .filter(|x| p.read.contains(&x.plant))
        .collect();
    let current = asked
        .filter(|a| plants.iter().any(|x| x.plant == *a))
        .map(str::to_owned)
        .or_else(|| plants.first().map(|x| x.plant.clone()));
    if let Some(a) = asked
        && current.as_deref() != Some(a)
    {
        return Err(AppError::not_found(format!("no plant {a:?}")));
    }
    let choices = plants
        .into_iter()
        .map(|x| PlantChoice {
            current: current.as_deref() == Some(x.plant.as_str()),
            plant: x.plant,
            name: x.name,
        })
        .collect();
    Ok((choices, current))
}

#[derive(Template)]
#[template(path = "floor_board.html")]
struct BoardPage {
    t: T,
    shell: Shell,
    plants: Vec<PlantChoice>,
    plant: String,
    /// The board's JSON, safe inside `<script type="application/json">`; the script renders
    /// it and then what `GET /api/v1/floor/live` sends.
    board: String,
    andon: bool,
}

async fn board_page(
    state: AppState,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
    andon: bool,
) -> Result<Response, AppError> {
    let path = if andon { "/floor/andon" } else { "/floor" };
    let ctx = Ctx::new(Some(&p), &uri, &headers, path);
    let asked = query_value(&uri, "plant");
    let (plants, plant) = plant_choices(&state, &p, asked.as_deref()).await?;
    let plant = plant.unwrap_or_default();
    let board = crate::api::floor::board_of(&state, &p.read, Some(&plant), Utc::now()).await?;
    let json =
        serde_json::to_string(&board).map_err(|e| AppError::internal(format!("the board: {e}")))?;
    let page = BoardPage {
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
        plants,
        plant,
        board: script_json(&json),
        andon,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

async fn floor_board(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    board_page(state, p, uri, headers, false).await
}

async fn floor_andon(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    board_page(state, p, uri, headers, true).await
}

/// One row of figures as the OEE page shows it: percentages and hours, ready to print.
pub struct FigureRow {
    pub key: String,
    pub availability: String,
    pub effectiveness: String,
    pub quality: String,
    pub oee: String,
    /// 0 to 1, for the bar.
    pub oee_value: f64,
    pub pbt_h: String,
    pub apt_h: String,
    pub down_h: String,
    pub good: u64,
    pub scrap: u64,
    /// A station's row: its spans and counts of the period (each span names the event that
    /// started it), what its figures are made of.
    pub source: Option<String>,
    /// The page of the row's own figures (a line's or a station's OEE), one level down.
    pub drill: Option<String>,
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn hours(ms: i64) -> String {
    format!("{:.2}", ms as f64 / 3_600_000.0)
}

fn figure_row(key: String, f: &crate::api::floor::FigureView) -> FigureRow {
    FigureRow {
        key,
        availability: pct(f.availability),
        effectiveness: pct(f.effectiveness),
        quality: pct(f.quality),
        oee: pct(f.oee),
        oee_value: f.oee.unwrap_or(0.0).clamp(0.0, 1.0),
        pbt_h: hours(f.figures.pbt_ms),
        apt_h: hours(f.figures.apt_ms),
        down_h: hours(f.figures.adot_ms),
        good: f.figures.gq,
        scrap: f.figures.scrap,
        source: None,
        drill: None,
    }
}

pub struct ByOption {
    pub value: &'static str,
    pub key: &'static str,
    pub selected: bool,
}

pub struct FigureTable {
    pub title: &'static str,
    pub id: &'static str,
    pub rows: Vec<FigureRow>,
    /// The rows drawn as a chart (assets/charts.js): JSON for a `<script>` element.
    pub chart: Option<String>,
}

pub struct ParetoTable {
    pub title: &'static str,
    pub id: &'static str,
    pub bars: Vec<ParetoBar>,
    /// The bars and the cumulative line as a chart: JSON for a `<script>` element.
    pub chart: String,
}

/// A target beside a figure: its text and whether the figure falls short of it.
pub struct TargetView {
    pub text: String,
    pub short: bool,
}

fn target_view(t: &T, figure: Option<f64>, target: Option<f64>) -> Option<TargetView> {
    let target = target?;
    Some(TargetView {
        text: t.fill("target_is", "value", pct(Some(target))),
        short: figure.is_some_and(|f| f < target),
    })
}

/// A trend chart's JSON (assets/charts.js `lines`): OEE and its three factors per bucket, and
/// the plant's targets as dashed lines.
fn trend_chart(
    t: &T,
    buckets: &[crate::api::floor::Bucket],
    targets: Option<&crate::mes::shifts::OeeTargets>,
) -> String {
    let series = |key: &str, pick: fn(&crate::api::floor::FigureView) -> Option<f64>| {
        serde_json::json!({
            "label": t.t(key),
            "values": buckets.iter().map(|b| pick(&b.figures)).collect::<Vec<_>>(),
        })
    };
    let mut target_lines = Vec::new();
    if let Some(targets) = targets {
        for (of, (key, value)) in [
            ("target_oee", targets.oee),
            ("target_availability", targets.availability),
            ("target_effectiveness", targets.effectiveness),
            ("target_quality", targets.quality),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(value) = value {
                target_lines.push(serde_json::json!({"label": t.t(key), "value": value, "of": of}));
            }
        }
    }
    let chart = serde_json::json!({
        "kind": "lines",
        "percent": true,
        "x_label": t.t("chart_period"),
        "labels": buckets.iter().map(|b| b.key.as_str()).collect::<Vec<_>>(),
        "series": [
            series("oee", |f| f.oee),
            series("availability", |f| f.availability),
            series("effectiveness", |f| f.effectiveness),
            series("quality", |f| f.quality),
        ],
        "targets": target_lines,
    });
    script_json(&chart.to_string())
}

/// A Pareto chart's JSON (assets/charts.js `pareto`): bars of hours or counts, largest first,
/// and the cumulative share.
fn pareto_chart(
    t: &T,
    rows: &[crate::mes::pareto::ParetoRow],
    as_hours: bool,
    x_label: &str,
    bar_label: &str,
    links: &[Option<String>],
) -> String {
    let chart = serde_json::json!({
        // Where a click on each bar leads (the same links as the table's keys).
        "links": links,
        "kind": "pareto",
        "x_label": t.t(x_label),
        "labels": rows.iter().map(|r| if r.key.is_empty() { "–" } else { r.key.as_str() }).collect::<Vec<_>>(),
        "values": rows.iter().map(|r| if as_hours { r.value as f64 / 3_600_000.0 } else { r.value as f64 }).collect::<Vec<_>>(),
        "cumulative": rows.iter().map(|r| r.cumulative).collect::<Vec<_>>(),
        "bar_label": t.t(bar_label),
        "cumulative_label": t.t("cumulative"),
    });
    script_json(&chart.to_string())
}

/// A Pareto bar: the reason, its hours or count, its share and the cumulative share.
pub struct ParetoBar {
    pub key: String,
    /// The facts the bar sums (`/floor/losses` with its key), where they can be listed.
    pub href: Option<String>,
    pub value: String,
    pub share: f64,
    pub share_text: String,
    pub cumulative: String,
}

fn pareto_bars(
    rows: &[crate::mes::pareto::ParetoRow],
    as_hours: bool,
    links: &[Option<String>],
) -> Vec<ParetoBar> {
    rows.iter()
        .zip(links.iter().chain(std::iter::repeat(&None)))
        .map(|(r, href)| ParetoBar {
            key: if r.key.is_empty() {
                "–".to_owned()
            } else {
                r.key.clone()
            },
            href: href.clone(),
            value: if as_hours {
                hours(r.value)
            } else {
                r.value.to_string()
            },
            share: r.share,
            share_text: format!("{:.1}%", r.share * 100.0),
            cumulative: format!("{:.1}%", r.cumulative * 100.0),
        })
        .collect()
}

/// One kiosk link as its page lists it.
pub struct KioskRow {
    pub link_id: String,
    pub name: String,
    pub plant: String,
    pub created_by: String,
    pub created: String,
    pub last_used: String,
    pub last_used_from: String,
    pub live: bool,
    pub revoked: String,
}

#[derive(Template)]
#[template(path = "kiosks.html")]
struct KiosksPage {
    t: T,
    shell: Shell,
    /// The plants one may mint a link for.
    plants: Vec<PlantChoice>,
    links: Vec<KioskRow>,
}

/// `GET /admin/kiosks`: the kiosk links of one's plants; mint and revoke through the API.
async fn kiosks(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/admin/kiosks");
    let t = ctx_t(&ctx);
    let (plants, _) = plant_choices(&state, &p, None).await?;
    let plants = plants
        .into_iter()
        .filter(|x| p.write.contains(&x.plant))
        .collect();
    let links = crate::api::kiosk::visible_links(&state, &p)
        .await?
        .into_iter()
        .map(|k| KioskRow {
            created: t.time(&k.created_at),
            last_used: t.opt_time(&k.last_used_at),
            last_used_from: k.last_used_from.unwrap_or_default(),
            live: k.revoked_at.is_none(),
            revoked: k.revoked_at.map(|at| t.time(&at)).unwrap_or_default(),
            link_id: k.link_id,
            name: k.name,
            plant: k.plant,
            created_by: k.created_by,
        })
        .collect();
    let page = KiosksPage {
        shell: ctx_shell(&ctx),
        plants,
        links,
        t,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

/// One edge as the fleet page lists it.
pub struct EdgeRow {
    pub edge_id: String,
    pub version: String,
    pub last_contact: String,
    /// Silent for longer than [`STALE_EDGE_S`].
    pub stale: bool,
    pub backlog: String,
    /// When the oldest unsent event was committed, and how long ago (empty: none unsent).
    pub oldest_unsent: String,
    pub oldest_unsent_age: String,
    /// Older than [`crate::api::admin::STALE_UNSENT_S`].
    pub unsent_overdue: bool,
    pub clock_skew: String,
    pub acked_seq: u64,
    pub plan_published: u64,
    pub plan_applied: u64,
    pub quarantined: u64,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "floor_edges.html")]
struct EdgesPage {
    t: T,
    shell: Shell,
    edges: Vec<EdgeRow>,
}

/// An edge silent for longer than this is marked on the fleet page.
const STALE_EDGE_S: i64 = 300;

async fn floor_edges(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/floor/edges");
    let t = ctx_t(&ctx);
    let now = Utc::now();
    let edges = crate::api::admin::visible_edges(&state, &p)
        .await?
        .into_iter()
        .map(|e| EdgeRow {
            edge_id: e.edge_id.as_str().to_owned(),
            version: e.agent_version.unwrap_or_else(|| "–".into()),
            last_contact: t.opt_time(&e.last_contact),
            stale: e
                .last_contact
                .is_some_and(|at| (now - at).num_seconds() > STALE_EDGE_S),
            backlog: e
                .reported_backlog
                .map_or_else(|| "–".into(), |b| b.to_string()),
            oldest_unsent: match (e.oldest_unsent_at, e.reported_backlog) {
                (Some(at), _) => t.time(&at),
                (None, Some(0)) => t.t("nothing_unsent").to_owned(),
                // No status yet, or an agent that does not say.
                (None, _) => "–".to_owned(),
            },
            oldest_unsent_age: e.oldest_unsent_age_s.map(|s| t.ago(s)).unwrap_or_default(),
            unsent_overdue: e
                .oldest_unsent_age_s
                .is_some_and(|s| s > crate::api::admin::STALE_UNSENT_S),
            clock_skew: e
                .clock_skew_ms
                .map_or_else(|| "–".into(), |ms| format!("{:+.1} s", ms as f64 / 1000.0)),
            acked_seq: e.acked_seq.0,
            plan_published: e.plan_version_published.0,
            plan_applied: e.plan_version_applied.0,
            quarantined: e.quarantined,
            revoked: e.revoked,
        })
        .collect();
    let page = EdgesPage {
        shell: ctx_shell(&ctx),
        edges,
        t,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}
