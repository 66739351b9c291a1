//! Integration tests of central's HTTP API: `app(state)` driven with `oneshot`, over a SQLite
//! store in a temp dir, or, with `MES_TEST_STORE=postgres`, over a PostgreSQL database made for
//! the test (on `MES_TEST_POSTGRES`, default the local server) and dropped after: the store
//! conformance suite, which CI runs on both. No sockets, no sleeps.

mod admin;
mod audit;
mod auth;
mod backup;
mod bad_input;
mod crm;
mod crm_pages;
mod deliveries;
mod edge_shipping;
mod erp;
mod floor;
mod ingest;
mod instances;
mod inventory;
mod kiosk;
mod master_data;
mod mrp_firm;
mod oa;
mod oa_asks;
mod oa_attachments;
mod oa_follow_up;
mod oa_gates;
mod oa_timers;
mod operators;
mod people;
mod pipeline;
mod plan;
mod plan_content;
mod prices;
mod quarantine;
mod sales;
mod sales_pages;
mod schema;
mod spc;
mod stations;
mod stock;
mod tickets;
mod tls;
mod web;
mod wo_pages;
mod work_orders;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use central::store::sql::pg::ScratchDatabase;
use central::{AppState, CentralConfig, Store, app, open_postgres_store, open_sqlite_store};
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use protocol::{EdgeId, Event, EventKind, PROTOCOL_VERSION, Seq, Source};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

/// The admin token of the tests (central refuses one shorter than 32 characters).
pub const ADMIN: &str = "admin-secret-of-the-central-tests";

/// [`ADMIN`], checked.
pub fn admin_token() -> central::AdminToken {
    central::AdminToken::new(ADMIN, "the tests").unwrap()
}

pub struct Harness {
    /// Declared first, so it runs before `dir` is removed.
    pub audit_check: AuditCheck,
    pub dir: tempfile::TempDir,
    pub config: CentralConfig,
    pub state: AppState,
    /// The test's PostgreSQL database, when the suite runs on PostgreSQL; dropped last.
    pub pg: Option<Arc<ScratchDatabase>>,
}

/// A parameter of [`Harness::sql`].
pub type SqlValue = central::store::sql::db::Value<'static>;

/// Text as a parameter of [`Harness::sql`].
pub fn text(t: impl Into<String>) -> SqlValue {
    SqlValue::Text(t.into().into())
}

/// Whether this run of the suite is on PostgreSQL (`MES_TEST_STORE=postgres`).
pub fn on_postgres() -> bool {
    match std::env::var("MES_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("MES_TEST_STORE={other:?}: expected sqlite or postgres"),
    }
}

/// A test that reads or changes SQLite's file directly (an upgrade from an older schema, a
/// tampered trail) says so: on PostgreSQL it returns at once, and it runs on SQLite's pass.
#[must_use]
pub fn sqlite_only(what: &str) -> bool {
    if on_postgres() {
        println!("on SQLite's pass only: {what}");
        return false;
    }
    true
}

/// The store of a test: SQLite in `dir`, or a new PostgreSQL database.
pub async fn test_store(
    dir: &tempfile::TempDir,
    pg: &Option<Arc<ScratchDatabase>>,
) -> Arc<dyn Store> {
    match pg {
        Some(db) => open_postgres_store(&db.url).await.unwrap(),
        None => open_sqlite_store(dir.path()).await.unwrap(),
    }
}

/// A new database for a test when the suite runs on PostgreSQL.
pub async fn scratch_database() -> Option<Arc<ScratchDatabase>> {
    if !on_postgres() {
        return None;
    }
    let server = central::store::sql::pg::test_server_url();
    Some(Arc::new(
        tokio::task::spawn_blocking(move || ScratchDatabase::create(&server, "it"))
            .await
            .unwrap()
            .unwrap_or_else(|e| {
                panic!("cannot make a test database (MES_TEST_STORE=postgres): {e}")
            }),
    ))
}

/// Checks, when the test that made the [`Harness`] ends, that its store's audit chain
/// verifies: every test's changes (all made through the API with the admin token are
/// audited) leave a chain that holds. Not while the test is already failing.
pub struct AuditCheck {
    pub db: std::path::PathBuf,
    /// The PostgreSQL database's URL, when the suite runs there.
    pub url: Option<String>,
    /// A test that breaks the chain on purpose turns the check off.
    pub armed: bool,
}

impl AuditCheck {
    fn of(dir: &tempfile::TempDir, pg: &Option<Arc<ScratchDatabase>>) -> AuditCheck {
        AuditCheck {
            db: dir.path().join(central::store::sql::DB_FILE),
            url: pg.as_ref().map(|db| db.url.clone()),
            armed: true,
        }
    }
}

impl Drop for AuditCheck {
    fn drop(&mut self) {
        if !self.armed || std::thread::panicking() {
            return;
        }
        let verdict = match &self.url {
            Some(url) => {
                let url = url.clone();
                std::thread::spawn(move || central::store::sql::audit::verify_url(&url))
                    .join()
                    .unwrap()
            }
            None => central::store::sql::audit::verify_file(&self.db),
        };
        match verdict {
            Ok(verdict) => assert!(
                verdict.holds(),
                "the audit chain of {} does not verify: {:?}",
                self.db.display(),
                verdict
            ),
            Err(e) => panic!(
                "cannot verify the audit chain of {}: {e}",
                self.db.display()
            ),
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub json: Value,
}

impl Reply {
    /// Asserts the one error shape and returns the code.
    #[track_caller]
    pub fn error_code(&self) -> &str {
        let error = &self.json["error"];
        let message = error["message"].as_str().unwrap_or_else(|| {
            panic!("not an error body: {} {}", self.status, self.json);
        });
        assert!(!message.is_empty());
        // Lowercase prose; quoted data (serde's detail, ids) keeps its case.
        assert!(
            !message.starts_with(|c: char| c.is_uppercase()),
            "error messages are lowercase: {message}"
        );
        error["code"].as_str().expect("error code")
    }

    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) -> &str {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.error_code(), code, "{}", self.json);
        self.json["error"]["message"].as_str().unwrap()
    }
}

impl Harness {
    pub async fn new() -> Harness {
        Self::with_config(CentralConfig::default()).await
    }

    pub async fn with_config(config: CentralConfig) -> Harness {
        if std::env::var_os("MES_TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        }
        let dir = tempfile::tempdir().unwrap();
        let pg = scratch_database().await;
        let store = test_store(&dir, &pg).await;
        // As `mes central` does at start: the first administrator, whom the admin token is.
        store.ensure_bootstrap_admin().await.unwrap();
        // As `mes central` does at start: `[shipping] edges` into the store.
        store
            .configure_shipping(
                config.shipping.edges.clone(),
                config.documents.gs1_company_prefix.clone(),
            )
            .await
            .unwrap();
        let state = AppState::new(store, admin_token(), &config);
        Harness::from_parts(dir, pg, config, state)
    }

    pub fn from_parts(
        dir: tempfile::TempDir,
        pg: Option<Arc<ScratchDatabase>>,
        config: CentralConfig,
        state: AppState,
    ) -> Harness {
        Harness {
            audit_check: AuditCheck::of(&dir, &pg),
            dir,
            config,
            state,
            pg,
        }
    }

    /// A new central over the same data directory, as after a restart.
    pub async fn reopen(self) -> Harness {
        let Harness {
            audit_check,
            dir,
            config,
            state,
            pg,
        } = self;
        drop(state);
        let store = test_store(&dir, &pg).await;
        let state = AppState::new(store, admin_token(), &config);
        Harness {
            audit_check,
            dir,
            config,
            state,
            pg,
        }
    }

    /// Runs `sql` behind the store's back, on whichever engine the suite runs on (as a tool
    /// with the database, or an older central, would): the rows, each as JSON values.
    pub fn try_sql(&self, sql: &str, params: Vec<SqlValue>) -> Result<Vec<Vec<Value>>, String> {
        use central::store::sql::db::{Conn, ValueRef};
        let sql = sql.to_owned();
        let url = self.pg.as_ref().map(|db| db.url.clone());
        let path = self.dir.path().join(central::store::sql::DB_FILE);
        // The synchronous PostgreSQL client may not block an async task: its own thread.
        std::thread::spawn(move || {
            let run = |conn: &Conn| -> Result<Vec<Vec<Value>>, String> {
                let values: Vec<&dyn central::store::sql::db::ToSql> = params
                    .iter()
                    .map(|p| p as &dyn central::store::sql::db::ToSql)
                    .collect();
                let rows = conn
                    .prepare(&sql)
                    .and_then(|mut s| {
                        s.query_map(values.as_slice(), |r| {
                            (0..r.len())
                                .map(|i| {
                                    r.with_ref(i, |v| match v {
                                        ValueRef::Null => Value::Null,
                                        ValueRef::Integer(i) => json!(i),
                                        ValueRef::Real(f) => json!(f),
                                        ValueRef::Text(t) => json!(t),
                                        ValueRef::Blob(b) => json!(b),
                                    })
                                })
                                .collect::<Result<Vec<_>, _>>()
                        })
                    })
                    .map_err(|e| e.to_string())?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())
            };
            match url {
                Some(url) => {
                    let pool = central::store::sql::pg::Pool::new(&url, 1).unwrap();
                    let conn = pool.get().unwrap();
                    run(&conn)
                }
                None => {
                    let raw = rusqlite::Connection::open(path).unwrap();
                    raw.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
                    run(&Conn::sqlite(raw))
                }
            }
        })
        .join()
        .unwrap()
    }

    /// Everything the store holds, as bytes to search for a secret: SQLite's file and its
    /// WAL, or every row of every PostgreSQL table as text.
    pub fn stored_bytes(&self) -> Vec<Vec<u8>> {
        if self.pg.is_none() {
            let db = std::fs::read(self.dir.path().join("central.db")).unwrap();
            let wal = std::fs::read(self.dir.path().join("central.db-wal")).unwrap_or_default();
            return vec![db, wal];
        }
        let tables = self.sql(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            vec![],
        );
        tables
            .iter()
            .map(|t| {
                let name = t[0].as_str().unwrap();
                self.sql(&format!("SELECT t::text FROM \"{name}\" t"), vec![])
                    .into_iter()
                    .map(|r| r[0].as_str().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes()
            })
            .collect()
    }

    /// [`Harness::try_sql`], which must succeed.
    #[track_caller]
    pub fn sql(&self, sql: &str, params: Vec<SqlValue>) -> Vec<Vec<Value>> {
        self.try_sql(sql, params)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.state.store()
    }

    pub fn app(&self) -> Router {
        app(self.state.clone())
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app().oneshot(request).await.unwrap();
        let status = response.status();
        // A live feed (server-sent events) does not end: its status is the answer here; its
        // events are read by the tests of the feed.
        if response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
        {
            return Reply {
                status,
                json: Value::Null,
            };
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply { status, json }
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.send(request(method, uri, token, body)).await
    }

    pub async fn get(&self, uri: &str, token: &str) -> Reply {
        self.call(Method::GET, uri, Some(token), None).await
    }

    pub async fn post(&self, uri: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, uri, Some(token), Some(body)).await
    }

    /// Creates (or rotates) an edge through the admin API and returns its token.
    pub async fn create_edge(&self, edge_id: &str) -> String {
        let reply = self
            .post("/api/v1/edges", ADMIN, json!({"edge_id": edge_id}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        assert_eq!(reply.json["edge_id"], edge_id);
        reply.json["token"].as_str().unwrap().to_owned()
    }

    pub async fn send_events(
        &self,
        token: &str,
        edge_id: &str,
        seqs: std::ops::RangeInclusive<u64>,
    ) -> Reply {
        self.post("/api/v1/sync/events", token, batch(edge_id, seqs))
            .await
    }

    pub async fn acked(&self, edge_id: &str) -> Seq {
        self.store()
            .acked_through(&EdgeId::from(edge_id))
            .await
            .unwrap()
            .expect("edge exists")
    }

    pub async fn count(&self, edge_id: &str) -> u64 {
        self.store()
            .count_events(&EdgeId::from(edge_id))
            .await
            .unwrap()
    }
}

pub fn request(
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// Event `seq` of an edge; its id is derived from edge and seq, so a replay is the same event.
pub fn event(edge_id: &str, seq: u64) -> Event {
    let edge_hash = edge_id.bytes().fold(0u128, |h, b| h * 31 + u128::from(b));
    Event {
        edge_id: edge_id.into(),
        seq: Seq(seq),
        id: protocol::EventId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + (edge_hash << 64) + u128::from(seq),
        )),
        at: Utc.with_ymd_and_hms(2026, 11, 27, 8, 30, 0).unwrap(),
        source: Source {
            device: Some("press-1".into()),
            station: None,
        },
        kind: EventKind::ProductionReported {
            work_order: Some("WO-1001".into()),
            operation: Some(10),
            good: seq,
            scrap: 0,
        },
    }
}

pub fn events(edge_id: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<Event> {
    seqs.map(|seq| event(edge_id, seq)).collect()
}

pub fn batch(edge_id: &str, seqs: std::ops::RangeInclusive<u64>) -> Value {
    json!({
        "protocol": PROTOCOL_VERSION,
        "edge_id": edge_id,
        "events": events(edge_id, seqs),
    })
}
