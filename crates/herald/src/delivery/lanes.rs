//! Lanes and the circuit breaker: which claimed delivery is sent when. Pure (no I/O, time is
//! passed in); the dispatcher (`delivery/dispatch.rs`) carries out what these methods return.
//!
//! Claimed deliveries queue by endpoint, each endpoint a *lane* with at most `per_endpoint`
//! requests in flight; the node has at most `max_in_flight` in flight and `max_waiting`
//! queued. A finished request starts the next one of its lane (or of any lane the node-wide
//! limit held back), so there is no task per delivery and a slow endpoint holds only its lane.
//!
//! A lane whose slots are all busy with no request finishing quickly for [`STALL`] is
//! *stalled* (a hanging or timing-out endpoint): its queue goes back to the database and its
//! backlog is *parked* until a horizon ([`PARK_HORIZON_MS`]) so claims neither take nor wade
//! through it. Meanwhile *probes* try it: a few parked deliveries made due at intervals that
//! start at its timeout and double up to [`MAX_PROBE`]. The first request that succeeds (or
//! answers quickly) closes the breaker and everything parked is due again.
//!
//! A lane's slots are fewer when its endpoint asks for less (429 or 503: an AIMD window, see
//! `aimd.rs`) or is throttled: a throttled lane has as many slots as its rate per second (at
//! most `per_endpoint`) and no queue beyond them, so it holds about a second's worth of
//! deliveries; each waits for its throttle slot (`throttle.rs`) in its own task.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::aimd::{Answer, Window};

/// No quick progress for this long with every slot busy: the endpoint is stalled.
pub const STALL: Duration = Duration::from_secs(1);
/// How long a stalled endpoint's backlog is parked for at a time. Probes, not the backlog, try
/// it meanwhile, so this only bounds how long a node that dies leaves the backlog parked for the
/// other nodes, and how often a long outage moves it (once per horizon).
pub const PARK_HORIZON_MS: i64 = 10 * 60_000;
/// Longest between probes of a stalled endpoint; it bounds how long a recovered endpoint waits.
pub const MAX_PROBE: Duration = Duration::from_secs(60);
/// Shortest between probes.
pub const MIN_PROBE: Duration = Duration::from_secs(1);
/// How long an idle lane whose window was cut is remembered (it grows back only with traffic).
pub const FORGET_IDLE: Duration = Duration::from_secs(60);

/// A claimed delivery as the lanes see it.
pub trait Job {
    /// The endpoint it goes to (its lane).
    fn endpoint(&self) -> &str;
    /// Its endpoint's own request timeout, if it has one.
    fn timeout(&self) -> Option<Duration>;
    /// The rate its endpoint is throttled to, if it is.
    fn rate(&self) -> Option<u32> {
        None
    }
}

/// The limits the lanes keep.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests in flight, over all endpoints.
    pub max_in_flight: usize,
    /// Requests in flight to one endpoint.
    pub per_endpoint: usize,
    /// Deliveries queued on this node, over all endpoints.
    pub max_waiting: usize,
    /// How far beyond its slots a healthy lane may queue (about one claim batch).
    pub lane_queue: usize,
    /// The request timeout of endpoints without one of their own.
    pub default_timeout: Duration,
}

/// The time as the lanes see it: monotonic for local durations, and wall-clock milliseconds for
/// parking horizons, which are written to the database and shared with other nodes.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub at: Instant,
    pub wall_ms: i64,
}

struct Lane<J> {
    in_flight: usize,
    /// Of those in flight, how many wait for their throttle slot (not sent yet).
    slot_waits: usize,
    /// The AIMD window: fewer slots while the endpoint answers 429 or 503.
    window: Window,
    /// The throttle rate of its endpoint, if any (the latest job's).
    rate: Option<u32>,
    waiting: VecDeque<J>,
    /// When a request of this lane last finished quickly (or the lane began).
    last_progress: Instant,
    stalled: bool,
    /// While stalled: its backlog is parked until then (wall clock).
    parked_until: i64,
    /// While stalled: when the next probes go, and the wait before the ones after.
    probe_at: Instant,
    probe: Duration,
    timeout: Duration,
}

/// Claimed work by endpoint, with the node's totals.
pub struct Lanes<J> {
    limits: Limits,
    in_flight: usize,
    waiting: usize,
    by_endpoint: HashMap<String, Lane<J>>,
    /// The node is stopping: nothing new starts, new work goes back.
    draining: bool,
}

/// What [`Lanes::enqueue`] decided.
pub struct Enqueued<J> {
    /// Jobs to send now.
    pub start: Vec<J>,
    /// Jobs to put back in the database, due at the time given (their lane is stalled, or the
    /// node is stopping).
    pub back: Vec<(J, i64)>,
    /// Some lane filled up (claims should not hurry back for more).
    pub filled: bool,
}

/// What [`Lanes::finished`] decided.
pub struct Finished<J> {
    /// The job to send next on the freed slot.
    pub next: Option<J>,
    /// Jobs to send on slots the lane's window just gained (each in a task of its own).
    pub extra: Vec<J>,
    /// The endpoint answered again after a stall: make its backlog parked until then due.
    pub unpark: Option<i64>,
    /// There is room for a good part of a claim again.
    pub room: bool,
}

impl<J: Job> Lanes<J> {
    pub fn new(limits: Limits) -> Self {
        Lanes {
            limits,
            in_flight: 0,
            waiting: 0,
            by_endpoint: HashMap::new(),
            draining: false,
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How many endpoints' lanes are stalled (their backlog parked).
    pub fn stalled(&self) -> usize {
        self.by_endpoint.values().filter(|l| l.stalled).count()
    }

    /// Most a lane may hold (in flight plus queued) before claims skip its endpoint: a stalled
    /// one gets no queue, a healthy one about a claim batch beyond its slots.
    fn lane_limit(&self, lane: &Lane<J>) -> usize {
        lane_limit(&self.limits, lane)
    }

    /// How many new deliveries to `endpoint` (throttled to `rate`, if it is) may be handed to
    /// this node now.
    pub fn room(&self, endpoint: &str, rate: Option<u32>) -> usize {
        if self.draining {
            return 0;
        }
        let node = self.limits.max_waiting.saturating_sub(self.waiting);
        let lane = match self.by_endpoint.get(endpoint) {
            Some(lane) if lane.stalled => 0,
            Some(lane) => self
                .lane_limit(lane)
                .saturating_sub(lane.in_flight + lane.waiting.len()),
            None => match rate {
                Some(r) => throttled_slots(&self.limits, r),
                None => self.limits.per_endpoint + self.limits.lane_queue,
            },
        };
        node.min(lane)
    }

    /// How many deliveries a claim may take now.
    pub fn claim_limit(&self, batch: usize) -> usize {
        self.limits
            .max_waiting
            .saturating_sub(self.waiting)
            .min(batch)
    }

    /// Endpoints whose lanes are full (at most `max` of them): claims skip them.
    pub fn saturated(&self, max: usize) -> Vec<String> {
        self.by_endpoint
            .iter()
            .filter(|(_, lane)| lane.in_flight + lane.waiting.len() >= self.lane_limit(lane))
            .map(|(id, _)| id.clone())
            .take(max)
            .collect()
    }

    /// Whether some lane is full: work may be left in the database for want of room.
    pub fn any_saturated(&self) -> bool {
        self.by_endpoint
            .values()
            .any(|lane| lane.in_flight + lane.waiting.len() >= self.lane_limit(lane))
    }

    /// Queues `jobs` in their lanes and says which start now.
    pub fn enqueue(&mut self, jobs: Vec<J>, now: Now) -> Enqueued<J> {
        let mut out = Enqueued {
            start: Vec::new(),
            back: Vec::new(),
            filled: false,
        };
        if self.draining {
            out.back = jobs.into_iter().map(|j| (j, now.wall_ms)).collect();
            return out;
        }
        let mut touched = Vec::new();
        for job in jobs {
            let (per_endpoint, default_timeout) =
                (self.limits.per_endpoint, self.limits.default_timeout);
            let lane = self
                .by_endpoint
                .entry(job.endpoint().to_string())
                .or_insert_with(|| Lane {
                    in_flight: 0,
                    slot_waits: 0,
                    window: Window::new(per_endpoint),
                    rate: None,
                    waiting: VecDeque::new(),
                    last_progress: now.at,
                    stalled: false,
                    parked_until: 0,
                    probe_at: now.at,
                    probe: Duration::ZERO,
                    timeout: job.timeout().unwrap_or(default_timeout),
                });
            lane.rate = job.rate();
            let held = lane.in_flight + lane.waiting.len();
            if lane.rate.is_some() && !lane.stalled && held >= lane_limit(&self.limits, lane) {
                // A throttled lane holds no queue: a claim that took more than its slots puts
                // the rest back, pending (claims skip the lane until it has room again).
                out.back.push((job, now.wall_ms));
                continue;
            }
            if lane.stalled && held >= per_endpoint {
                let until = lane
                    .parked_until
                    .max(now.wall_ms + MIN_PROBE.as_millis() as i64);
                out.back.push((job, until));
                continue;
            }
            if lane.waiting.is_empty() {
                touched.push(job.endpoint().to_string());
            }
            lane.waiting.push_back(job);
            self.waiting += 1;
        }
        for id in touched {
            self.start_ready(&id, &mut out.start);
        }
        out.filled = self.any_saturated();
        out
    }

    /// Moves jobs of `endpoint` from its queue to in flight while both limits allow.
    fn start_ready(&mut self, endpoint: &str, out: &mut Vec<J>) {
        let Some(lane) = self.by_endpoint.get_mut(endpoint) else {
            return;
        };
        while lane.in_flight < slots(&self.limits, lane)
            && self.in_flight < self.limits.max_in_flight
        {
            let Some(job) = lane.waiting.pop_front() else {
                break;
            };
            lane.in_flight += 1;
            self.in_flight += 1;
            self.waiting -= 1;
            out.push(job);
        }
    }

    /// A job of any lane that may start (the node-wide limit was what held them back).
    fn start_any(&mut self) -> Option<J> {
        if self.waiting == 0 || self.in_flight >= self.limits.max_in_flight {
            return None;
        }
        let id = self
            .by_endpoint
            .iter()
            .find(|(_, l)| l.in_flight < slots(&self.limits, l) && !l.waiting.is_empty())
            .map(|(id, _)| id.clone())?;
        let lane = self.by_endpoint.get_mut(&id)?;
        let job = lane.waiting.pop_front()?;
        lane.in_flight += 1;
        self.in_flight += 1;
        self.waiting -= 1;
        Some(job)
    }

    /// A job of `endpoint` waits for its throttle slot (`true`), or has it (`false`): while it
    /// waits it is not a request that could hang.
    pub fn slot_wait(&mut self, endpoint: &str, waiting: bool) {
        if let Some(lane) = self.by_endpoint.get_mut(endpoint) {
            if waiting {
                lane.slot_waits += 1;
            } else {
                lane.slot_waits = lane.slot_waits.saturating_sub(1);
            }
        }
    }

    /// A request to `endpoint` that took `took` finished with `answer`.
    pub fn finished(
        &mut self,
        endpoint: &str,
        answer: Answer,
        took: Duration,
        now: Now,
    ) -> Finished<J> {
        let mut out = Finished {
            next: None,
            extra: Vec::new(),
            unpark: None,
            room: false,
        };
        self.in_flight = self.in_flight.saturating_sub(1);
        let max_waiting = self.limits.max_waiting;
        if let Some(lane) = self.by_endpoint.get_mut(endpoint) {
            lane.in_flight = lane.in_flight.saturating_sub(1);
            let held = lane.in_flight + lane.waiting.len();
            lane.window
                .answered(answer, now.at.checked_sub(took).unwrap_or(now.at), now.at);
            if answer == Answer::Success || took < STALL {
                lane.last_progress = now.at;
                if lane.stalled {
                    lane.stalled = false;
                    out.unpark = Some(lane.parked_until);
                }
            }
            let limit = lane_limit(&self.limits, lane);
            // Room for a good part of a batch again: claim more.
            out.room = held + 1 == limit / 2 || held == 0;
            // A stalled lane is kept while its work is parked: requests that time out do not
            // end its parking (see `check_stalls`); one whose window was cut, to grow it back.
            if held == 0 && !lane.stalled && lane.window.is_full() {
                self.by_endpoint.remove(endpoint);
            }
        }
        out.room |= self.waiting + 1 == max_waiting / 2;
        if self.draining {
            return out;
        }
        let mut next = Vec::new();
        self.start_ready(endpoint, &mut next);
        out.next = next.pop().or_else(|| self.start_any());
        out.extra = next;
        out
    }
}

/// Slots of a throttled lane: its rate per second (a second's worth of slot waits), within the
/// per-endpoint limit.
fn throttled_slots(limits: &Limits, rate: u32) -> usize {
    (rate as usize).clamp(1, limits.per_endpoint)
}

/// Requests a lane may have in flight: its AIMD window, and its throttle's slots.
fn slots<J>(limits: &Limits, lane: &Lane<J>) -> usize {
    let window = lane.window.limit().min(limits.per_endpoint);
    match lane.rate {
        Some(r) => window.min(throttled_slots(limits, r)),
        None => window,
    }
}

/// Most a lane may hold (in flight plus queued) before claims skip its endpoint: a stalled one
/// gets no queue, nor does a throttled one (its backlog waits in the database, pending); a
/// healthy one about a claim batch beyond its slots.
fn lane_limit<J>(limits: &Limits, lane: &Lane<J>) -> usize {
    if lane.stalled {
        limits.per_endpoint
    } else if lane.rate.is_some() {
        slots(limits, lane)
    } else {
        slots(limits, lane) + limits.lane_queue
    }
}

#[path = "lanes_stalls.rs"]
mod stalls;
pub use stalls::{Drained, Step};

#[cfg(test)]
#[path = "lanes_tests.rs"]
mod tests;
