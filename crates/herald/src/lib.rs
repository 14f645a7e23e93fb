//! Herald: the sending side of webhooks.
//!
//! # Layout
//! Data flows one way: `api` -> `delivery` (publishes) and `api` -> `store`; `delivery` ->
//! `store` and HTTP. The store persists and knows nothing of the others.
//!
//! - [`config`]: flags, environment variables and their defaults.
//! - [`api`]: the Svix-compatible REST API; the only module that knows HTTP status codes.
//! - [`delivery`]: the publish pipeline: group commit, fan-out and hand-off, lanes and the
//!   circuit breaker, attempts.
//! - [`store`]: durable state (applications, endpoints, messages, deliveries, attempts), both
//!   backends.
//! - [`net`]: the outbound HTTP client and the SSRF guard.
//! - [`formats`]: wire formats and signatures, pure functions.
//! - [`schema`]: payloads checked against their event type's JSON Schema.
//! - [`model`], [`ids`], [`clock`]: the domain's types, ids and times.
//! - [`metrics`]: the node's counters, gauges and histograms, and `GET /metrics`.
//! - [`portal`]: the customer portal, server-rendered pages over the same store and handlers.
//! - [`app`]: wires everything into one running node.

pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod formats;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod net;
pub mod portal;
pub mod pretty_json;
pub mod schema;
pub mod secret;
pub mod store;

pub use app::Application;
pub use config::Config;
