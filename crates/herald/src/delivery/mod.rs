//! The delivery pipeline: from a publish to an attempt row.
//!
//! - [`commit`]: the group committer engine (batch in, one transaction, answer each caller),
//!   generic over what is written; [`writes`]: what the pipeline writes through it (publishes,
//!   finished attempts, idempotency keys) and how a batch of it is applied.
//! - [`fanout`]: a publish's deliveries, and which this node takes at once (the hand-off);
//!   [`recent`]: the messages published here lately, so they need not be read back.
//! - [`pipeline`]: the handle the API and the dispatcher use.
//! - [`lanes`]: pure state machines: the per-endpoint lanes and the circuit breaker;
//!   [`aimd`]: each lane's concurrency window (429/503 halve it); [`throttle`]: GCRA throttle
//!   slots and which rate applies; [`loops`]: loop detection.
//! - [`health`]: pure: when an endpoint's run of failures is written and when it is disabled;
//!   `watch.rs` carries it out after each attempt.
//! - [`ops`]: operational webhooks: Herald's own events, published to its reserved application.
//! - [`retention`]: the job that expires payloads and deletes old attempts, in small batches.
//! - [`dispatcher`]: the I/O shell around the lanes: claims and the lanes' tasks; `breaker.rs`
//!   the breaker's steps in the database; `stop.rs` the graceful stop; `attempt.rs` one
//!   attempt (render, send, classify, record); [`schedule`]: the retry schedule.

pub mod aimd;
mod attempt;
mod breaker;
mod claimed;
pub mod commit;
pub mod dispatcher;
pub mod fanout;
mod gauges;
pub mod health;
mod lane_task;
pub mod lanes;
pub mod loops;
pub mod ops;
pub mod pipeline;
mod recent;
pub mod retention;
pub mod schedule;
mod stop;
pub mod throttle;
mod watch;
pub mod writes;

pub use dispatcher::Dispatcher;
pub use fanout::{Handoff, Work};
pub use pipeline::Pipeline;
