//! The circuit breaker's round and the graceful stop, as steps of the lanes (`lanes.rs`): pure,
//! time passed in; `breaker.rs` and `stop.rs` carry them out.

use super::*;

/// A breaker's step for one endpoint, from [`Lanes::check_stalls`].
pub enum Step<J> {
    /// Stalled: put these queued jobs back, parked until `until`, and park its backlog too.
    Park { until: i64, back: Vec<J> },
    /// Stalled, with `n` slots free: make up to `n` parked deliveries due as probes.
    Probe { until: i64, n: usize },
}

/// What [`Lanes::drain`] took out for shutdown.
pub struct Drained<J> {
    /// Queued jobs, to put back due at once.
    pub queued: Vec<J>,
    /// Stalled endpoints and until when their backlog is parked, to make it due at once.
    pub stalled: Vec<(String, i64)>,
    /// Requests still in flight.
    pub in_flight: usize,
}

impl<J: Job> Lanes<J> {
    /// The circuit breaker's round: stalls newly hung lanes (their queue goes back, their
    /// backlog is parked), parks still-hung ones again at their horizon, sends probes to
    /// stalled ones with free slots, and forgets stalled lanes gone idle past their horizon.
    pub fn check_stalls(&mut self, now: Now) -> Vec<(String, Step<J>)> {
        let mut steps = Vec::new();
        let mut released = 0;
        for (id, lane) in self.by_endpoint.iter_mut() {
            let cap = slots(&self.limits, lane);
            let sent = lane.in_flight - lane.slot_waits.min(lane.in_flight);
            let hung = sent >= cap && now.at.duration_since(lane.last_progress) >= STALL;
            if hung && (!lane.stalled || now.wall_ms >= lane.parked_until) {
                if !lane.stalled {
                    lane.stalled = true;
                    lane.probe = lane.timeout.clamp(MIN_PROBE, MAX_PROBE);
                    lane.probe_at = now.at + lane.probe;
                }
                lane.parked_until = now.wall_ms + PARK_HORIZON_MS;
                released += lane.waiting.len();
                let back = lane.waiting.drain(..).collect();
                steps.push((
                    id.clone(),
                    Step::Park {
                        until: lane.parked_until,
                        back,
                    },
                ));
            } else if lane.stalled && now.at >= lane.probe_at && lane.in_flight < cap {
                steps.push((
                    id.clone(),
                    Step::Probe {
                        until: lane.parked_until,
                        n: cap - lane.in_flight,
                    },
                ));
                lane.probe = (lane.probe * 2).clamp(MIN_PROBE, MAX_PROBE);
                lane.probe_at = now.at + lane.probe;
            }
        }
        self.waiting -= released;
        self.by_endpoint.retain(|_, lane| {
            let idle = lane.in_flight + lane.waiting.len() == 0;
            // An idle lane is forgotten once its park is over (stalled), or after a spell
            // without work (its AIMD window then starts afresh).
            let forget = idle
                && if lane.stalled {
                    now.wall_ms >= lane.parked_until
                } else {
                    now.at.duration_since(lane.last_progress) >= FORGET_IDLE
                };
            !forget
        });
        steps
    }

    /// Stops the lanes for shutdown: nothing starts from now on, and what was queued is taken
    /// out to go back to the database.
    pub fn drain(&mut self) -> Drained<J> {
        self.draining = true;
        let mut out = Drained {
            queued: Vec::new(),
            stalled: Vec::new(),
            in_flight: self.in_flight,
        };
        for (id, lane) in self.by_endpoint.iter_mut() {
            out.queued.extend(lane.waiting.drain(..));
            if lane.stalled {
                out.stalled.push((id.clone(), lane.parked_until));
            }
        }
        self.waiting = 0;
        out
    }
}
