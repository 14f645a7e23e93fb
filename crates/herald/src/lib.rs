//! Herald: the sending side of webhooks.
//!
//! # Layout
//! Data flows one way: `api` -> `store` -> `dispatch` -> HTTP.
//!
//! - [`config`]: flags, environment variables and their defaults.
//! - [`api`]: the Svix-compatible REST API; the only module that knows HTTP status codes.
//! - [`store`]: durable state (applications, endpoints, messages, deliveries, attempts).
//! - [`dispatch`]: claims due deliveries, signs and sends them, records attempts, schedules retries.
//! - [`formats`]: wire formats and signatures, pure functions.
//! - [`app`]: wires everything into one running service.

pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod dispatch;
pub mod formats;
pub mod ids;
pub mod model;
pub mod store;

pub use app::Application;
pub use config::Config;
