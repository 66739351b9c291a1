//! The operators' line terminal page: `GET /terminal` (HTML), `/terminal/terminal.js` and
//! `/terminal/terminal.css`, and `GET /` redirecting to it.
//!
//! The files live in `page/` and are embedded in the binary with `include_str!`: the terminal
//! must keep working while the plant's network (and any CDN) is unreachable, and an edge that
//! serves its own page cannot get out of step with it. The page itself talks only to this
//! edge's JSON API (`/api/v1/scans`, `/api/v1/stations…` and its server-sent events); it
//! picks the station from `?station=` and the language from `?lang=zh|en`.
//!
//! Every answer says `cache-control: no-cache`, so a browser revalidates after an edge update
//! instead of running yesterday's script against today's API. The content security policy
//! allows only this origin: a page that loaded anything from elsewhere would break offline.

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX_HTML: &str = include_str!("page/index.html");
const TERMINAL_JS: &str = include_str!("page/terminal.js");
const TERMINAL_CSS: &str = include_str!("page/terminal.css");

/// Nothing but this edge: scripts, styles, images (label PNGs) and the API.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; media-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'self'; form-action 'self'";

/// The page's routes; `/terminal?key=…` signs a configured kiosk in first.
pub fn routes() -> Router<super::TerminalState> {
    Router::new()
        .route("/", get(root))
        .route("/terminal", get(index))
        .route("/terminal/terminal.js", get(script))
        .route("/terminal/terminal.css", get(style))
}

/// `/` is where an operator's bookmark or a typed-in address lands: send it to the terminal,
/// keeping `?station=…&lang=…`. (Built by hand: `Redirect` panics on a value that is not a
/// valid header, and the query comes from the network.)
async fn root(RawQuery(query): RawQuery) -> Response {
    let location = query
        .and_then(|q| HeaderValue::try_from(format!("/terminal?{q}")).ok())
        .unwrap_or_else(|| HeaderValue::from_static("/terminal"));
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

async fn index(
    axum::extract::State(s): axum::extract::State<super::TerminalState>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(answer) = super::session::kiosk_login(&s, query.as_deref()) {
        return answer;
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", TERMINAL_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", TERMINAL_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> (axum::http::StatusCode, axum::http::HeaderMap, String) {
        let (state, _dir) = super::super::test_state().await;
        let response = routes()
            .with_state(state)
            .oneshot(Request::get(path).body(Body::empty()).expect("a request"))
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("the body");
        (
            status,
            headers,
            String::from_utf8(body.to_vec()).expect("utf-8"),
        )
    }

    #[tokio::test]
    async fn the_page_and_its_assets_are_served_with_their_types_and_no_cache() {
        for (path, content_type, marker) in [
            ("/terminal", "text/html; charset=utf-8", "<!doctype html>"),
            (
                "/terminal/terminal.js",
                "text/javascript; charset=utf-8",
                "'use strict';",
            ),
            ("/terminal/terminal.css", "text/css; charset=utf-8", ":root"),
        ] {
            let (status, headers, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
            assert!(body.contains(marker), "{path} holds {marker:?}");
        }
    }

    #[tokio::test]
    async fn the_root_redirects_to_the_terminal_keeping_the_query() {
        let (status, headers, _) = get("/").await;
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(headers[header::LOCATION], "/terminal");
        let (status, headers, _) = get("/?station=st-10&lang=zh").await;
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(headers[header::LOCATION], "/terminal?station=st-10&lang=zh");
    }

    /// The page must work with the plant's network down: nothing it references may come from
    /// another origin.
    #[test]
    fn the_page_loads_nothing_from_outside_the_edge() {
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("terminal.js", TERMINAL_JS),
            ("terminal.css", TERMINAL_CSS),
        ] {
            for outside in ["http://", "https://", "//cdn", "@import"] {
                assert!(!text.contains(outside), "{name} references {outside:?}");
            }
        }
        assert!(INDEX_HTML.contains(r#"src="/terminal/terminal.js""#));
        assert!(INDEX_HTML.contains(r#"href="/terminal/terminal.css""#));
    }

    /// Every element the script looks up by id exists in the page, so a renamed id fails here
    /// rather than on a line at night.
    #[test]
    fn every_id_the_script_uses_is_in_the_page() {
        let mut ids = Vec::new();
        let mut rest = TERMINAL_JS;
        while let Some(at) = rest.find("$('") {
            rest = &rest[at + 3..];
            let Some(end) = rest.find('\'') else { break };
            ids.push(&rest[..end]);
            rest = &rest[end..];
        }
        assert!(ids.len() > 10, "found only {ids:?}");
        for id in ids {
            assert!(
                INDEX_HTML.contains(&format!(r#"id="{id}""#)),
                "terminal.js uses #{id}, which index.html does not have"
            );
        }
    }

    /// Both languages have every text, and the markup's texts are in the dictionary.
    #[test]
    fn both_languages_have_the_same_texts() {
        let keys = |lang: &str, table: &str| -> Vec<String> {
            let start = TERMINAL_JS
                .find(&format!("const {table} = {{"))
                .unwrap_or_else(|| panic!("terminal.js defines {table}"));
            let body = &TERMINAL_JS[start..];
            let lang_start = body
                .find(&format!("\n    {lang}: {{"))
                .unwrap_or_else(|| panic!("{table} has {lang}"));
            // From the line `    en: {` on; its first line is that header.
            let body = &body[lang_start + 1..];
            let end = body.find("\n    },").expect("the language's table ends");
            body[..end]
                .lines()
                .skip(1)
                .filter_map(|line| line.trim().split_once(':').map(|(k, _)| k.to_owned()))
                .collect()
        };
        for table in ["TEXTS", "REASONS", "ACTIONS"] {
            let en = keys("en", table);
            let zh = keys("zh", table);
            assert!(!en.is_empty(), "{table}.en is empty");
            assert_eq!(en, zh, "{table}: en and zh differ");
        }
        let texts = keys("en", "TEXTS");
        for attr in [
            "data-i18n=\"",
            "data-i18n-placeholder=\"",
            "data-i18n-title=\"",
        ] {
            let mut rest = INDEX_HTML;
            while let Some(at) = rest.find(attr) {
                rest = &rest[at + attr.len()..];
                let end = rest.find('"').expect("the attribute ends");
                let key = &rest[..end];
                assert!(
                    texts.iter().any(|k| k == key),
                    "index.html names text {key:?}, which TEXTS lacks"
                );
            }
        }
        // Every reason code the edge's scan processor gives has a text.
        for reason in [
            "unknown_code",
            "no_plan",
            "unknown_work_order",
            "work_order_not_at_station",
            "work_order_on_hold",
            "no_work_order",
            "wrong_item",
            "expired",
            "on_hold",
            "over_issue",
            "unknown_item",
            "missing_lot",
            "missing_quantity",
            "other_station",
            "wrong_unit",
            "already_issued",
            "not_signed_in",
            "bad_quantity",
            "no_open_stop",
            "other_stop",
            "unknown_stop_reason",
            "bad_reason",
            "order_not_open",
            "location_first",
            "not_on_order",
            "over_ship",
            "wrong_location",
            "already_shipped",
            "no_unit",
            "no_reason",
            "too_many_requisitions",
            "bad_request",
        ] {
            assert!(
                keys("en", "REASONS").iter().any(|k| k == reason),
                "no text for reason {reason}"
            );
        }
    }

    /// Issue 12: the warnings an accepted scan carries and the stock refusal are said in both
    /// languages, and every code the scan processor and the station view use has its text.
    #[test]
    fn warnings_and_the_stock_refusal_are_said_in_both_languages() {
        let table = |name: &str, lang: &str| -> String {
            let start = TERMINAL_JS
                .find(&format!("const {name} = {{"))
                .unwrap_or_else(|| panic!("terminal.js defines {name}"));
            let body = &TERMINAL_JS[start..];
            let at = body
                .find(&format!("\n    {lang}: {{"))
                .unwrap_or_else(|| panic!("{name} has {lang}"));
            let body = &body[at + 1..];
            body[..body.find("\n    },").expect("the table ends")].to_owned()
        };
        for lang in ["en", "zh"] {
            for code in ["over_required", "negative_stock"] {
                assert!(
                    table("WARNINGS", lang).contains(&format!("{code}:")),
                    "WARNINGS.{lang} lacks {code}"
                );
            }
            assert!(table("REASONS", lang).contains("no_stock:"), "{lang}");
            for key in [
                "over_production",
                "not_counting",
                "by_plan",
                "unassigned",
                "stop_open",
                "stop_ended",
                "stop_planned",
            ] {
                assert!(
                    table("TEXTS", lang).contains(&format!("{key}:")),
                    "TEXTS.{lang} lacks {key}"
                );
            }
        }
    }
}
