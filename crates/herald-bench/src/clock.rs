//! One monotonic epoch for the load generator and the receiver (they share the process), so
//! "receipt - publish" needs no clock sync.

use std::sync::OnceLock;
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}
