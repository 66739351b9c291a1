//! Central: receives the edges' events exactly once, serves plans back down to them.
//!
//! Entry points, in the order the binary calls them:
//!
//! 1. [`CentralConfig::from_toml_str`] (or [`CentralConfig::default`]), then
//!    [`CentralConfig::resolve_admin_token`] (env `MES_ADMIN_TOKEN` wins over the config);
//! 2. [`open_sqlite_store`] on the data directory;
//! 3. [`AppState::new`] with the store, the admin token and the config;
//! 4. [`serve`] on a bound listener with a shutdown future (or [`app`] for tests); with a
//!    `[tls]` table, [`tls::server_config`] once at start and [`tls::serve_tls`] instead.
//!
//! Code map:
//!
//! - [`config`]: TOML configuration, strict (`deny_unknown_fields`), errors name the line.
//! - [`api`]: the axum router; `sync` (edge routes), `admin` (admin routes), `error` (the
//!   one error shape, [`protocol::ErrorBody`]).
//! - [`store`]: the [`Store`] trait (with its supertraits [`store::ErpStore`] for master data
//!   and [`store::InventoryStore`] for the stock ledger and genealogy) and its SQLite
//!   implementation.
//! - [`erp`]: MRP as a pure function, the working calendar, CSV import parsing; `api::erp`
//!   serves them (`/api/v1/import/…`, `/api/v1/mrp/run`, `/api/v1/calendar`) and
//!   `api::openapi` documents them.
//! - [`ingest`]: what central makes of the events an edge sends: a malformed envelope refuses
//!   the batch; a body that does not read or is out of [`protocol::bounds`] is stored,
//!   acknowledged and quarantined, never applied.
//! - [`people`]: the operator registry (badge, name, skills, argon2id PIN hash) that every
//!   plan carries down to the lines.
//! - [`auth`]: token generation, hashing and bearer extraction.
//! - [`mes`]: pure manufacturing figures: shift calendars, ISO 22400-2 OEE, Pareto, SPC
//!   (no I/O; callers bring the spans, counts and calendars).
//! - [`metrics`]: Prometheus counters and gauges served at `/metrics`.
//! - [`tls`]: HTTPS (rustls): the certificate and key loaded and checked at start, the
//!   handshakes bounded in time, the same router and graceful shutdown as plain HTTP.
//! - [`web`]: the pages (sign-in, account, users, roles, plants, audit): askama templates,
//!   one message catalogue in Chinese and English, assets compiled in.
//!
//! **Architecture Invariant:** an [`protocol::Ack`] is sent only after the events it covers
//! are committed with `synchronous=FULL`; `(edge_id, seq)` is stored at most once.
//!
//! **Architecture Invariant:** every error response, including extractor rejections and
//! unknown routes, is a [`protocol::ErrorBody`].

pub mod api;
pub mod auth;
pub mod config;
pub mod crm;
pub mod erp;
pub mod ingest;
pub mod ingest_order;
pub mod mes;
pub mod metrics;
pub mod notify;
pub mod oa;
pub mod people;
pub mod store;
pub mod tls;
pub mod web;

pub use api::{AppState, app, serve};
pub use auth::{hash_token, new_token};
pub use config::{AdminToken, CentralConfig, ConfigError};
pub use people::operators::{Operator, OperatorUpdate, Pin, PinUpdate};
pub use store::sql::{open_postgres_store, open_sqlite_store, open_store};
pub use store::{EdgeSummary, IngestOutcome, Ingested, OperatorStore, Store, StoreError};
