//! The dispatcher: claims due deliveries in batches under a lease, sends them with bounded
//! concurrency (in total and per endpoint), and records each attempt with the delivery's next
//! state in one transaction. It never holds a transaction across an HTTP call.

pub mod guard;
pub mod schedule;
pub mod sender;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::clock::now_ms;
use crate::config::Config;
use crate::formats;
use crate::ids;
use crate::model::{Attempt, DeliveryStatus, Endpoint, Message};
use crate::store::{Claimed, NextStep, Store};
use sender::{DEFAULT_USER_AGENT, Outcome, Sender};

/// How much longer than the request timeout a lease lasts.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Most deliveries claimed in one go.
const CLAIM_BATCH: usize = 256;
/// How long an idle dispatcher sleeps before looking at the queue again without being woken.
const IDLE_POLL: Duration = Duration::from_millis(1000);
/// How long a delivery to a saturated endpoint waits before it is offered again.
const BUSY_BACKOFF_MS: i64 = 100;

pub struct Dispatcher {
    store: Store,
    sender: Sender,
    schedule: Vec<u64>,
    timeout: Duration,
    /// A lease outlasts the request timeout, so a slow delivery is never sent twice.
    lease: Duration,
    wake: Arc<Notify>,
    in_flight: Arc<Semaphore>,
    per_endpoint_cap: usize,
    per_endpoint: Mutex<HashMap<String, usize>>,
}

impl Dispatcher {
    pub fn new(store: Store, cfg: &Config, wake: Arc<Notify>) -> Arc<Self> {
        let timeout = cfg.request_timeout();
        Arc::new(Dispatcher {
            store,
            sender: Sender::new(guard::AddressPolicy::new(cfg.allow_targets.clone())),
            schedule: cfg.retry_schedule.clone(),
            timeout,
            lease: timeout + LEASE_MARGIN,
            wake,
            in_flight: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
            per_endpoint_cap: cfg.max_in_flight_per_endpoint.max(1),
            per_endpoint: Mutex::new(HashMap::new()),
        })
    }

    /// Runs until `shutdown` completes. Deliveries in flight then are left to their leases.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_reclaim = 0;
        loop {
            let now = now_ms();
            if now - last_reclaim > 1000 {
                last_reclaim = now;
                if let Err(e) = self.store.reclaim_expired(now).await {
                    tracing::warn!(error = %e, "reclaiming expired leases failed");
                }
            }
            let idle = match self.tick().await {
                Ok(claimed) => claimed == 0,
                Err(e) => {
                    tracing::error!(error = %e, "dispatch round failed");
                    true
                }
            };
            if idle {
                let wait = match self.store.next_due().await {
                    Ok(Some(due)) => Duration::from_millis((due - now_ms()).clamp(0, 1000) as u64),
                    _ => IDLE_POLL,
                };
                if wait.is_zero() && self.in_flight.available_permits() > 0 {
                    // Due work that could not be claimed yet (e.g. busy endpoints): don't spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            } else {
                tokio::select! {
                    biased;
                    _ = &mut shutdown => return,
                    _ = std::future::ready(()) => {}
                }
            }
        }
    }

    /// Claims one batch and starts sending it; returns how many were claimed.
    async fn tick(self: &Arc<Self>) -> Result<usize, crate::store::StoreError> {
        // Wait for capacity before claiming, so claimed work never waits (its lease is ticking).
        let first = self.in_flight.clone().acquire_owned().await.ok();
        let free = self.in_flight.available_permits() + 1;
        let now = now_ms();
        let lease_until = now + self.lease.as_millis() as i64;
        let claimed = self
            .store
            .claim(now, free.min(CLAIM_BATCH) as i64, lease_until)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let n = claimed.len();
        let msg_ids: Vec<String> = claimed.iter().map(|c| c.msg_id.clone()).collect();
        let ep_ids: Vec<String> = claimed.iter().map(|c| c.endpoint_id.clone()).collect();
        let messages: HashMap<String, Arc<Message>> = self
            .store
            .messages_by_ids(&dedup(msg_ids))
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), Arc::new(m)))
            .collect();
        let endpoints: HashMap<String, Arc<Endpoint>> = self
            .store
            .endpoints_by_ids(&dedup(ep_ids))
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), Arc::new(e)))
            .collect();
        let mut first = first;
        for c in claimed {
            let (Some(msg), Some(ep)) = (messages.get(&c.msg_id), endpoints.get(&c.endpoint_id))
            else {
                // Deleted since it was queued; the delivery row went with it.
                continue;
            };
            if ep.disabled {
                self.store.release(&c, now, DeliveryStatus::Skipped).await?;
                continue;
            }
            if !self.reserve_endpoint(&ep.id) {
                self.store
                    .release(&c, now + BUSY_BACKOFF_MS, DeliveryStatus::Pending)
                    .await?;
                continue;
            }
            let permit = match first.take() {
                Some(p) => p,
                None => match self.in_flight.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        self.release_endpoint(&ep.id);
                        self.store.release(&c, now, DeliveryStatus::Pending).await?;
                        continue;
                    }
                },
            };
            let timeout = self.timeout_of(ep);
            if timeout > self.timeout {
                // The claim's lease assumed the default timeout: this endpoint waits longer.
                let until = now_ms() + (timeout + LEASE_MARGIN).as_millis() as i64;
                self.store.extend_lease(&c, until).await?;
            }
            let this = self.clone();
            let (msg, ep) = (msg.clone(), ep.clone());
            tokio::spawn(async move {
                this.deliver(c, &msg, &ep).await;
                this.release_endpoint(&ep.id);
                drop(permit);
            });
        }
        Ok(n)
    }

    fn reserve_endpoint(&self, id: &str) -> bool {
        let mut map = self.per_endpoint.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(id.to_string()).or_insert(0);
        if *n >= self.per_endpoint_cap {
            return false;
        }
        *n += 1;
        true
    }

    fn release_endpoint(&self, id: &str) {
        let mut map = self.per_endpoint.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                map.remove(id);
            }
        }
    }

    /// One attempt: build the request, send it, record the outcome.
    async fn deliver(&self, c: Claimed, msg: &Message, ep: &Endpoint) {
        let started = now_ms();
        let timeout = self.timeout_of(ep);
        let outcome = match &msg.payload {
            None => Outcome {
                status_code: 0,
                body: None,
                error: Some("the message payload was expunged".into()),
                duration: Duration::ZERO,
                retry_after: None,
            },
            Some(payload) => {
                let (body, headers) = build_request(msg, payload, ep, started);
                self.sender.send(&ep.url, &headers, body, timeout).await
            }
        };
        let schedule = ep
            .options
            .retry_schedule
            .as_deref()
            .unwrap_or(&self.schedule);
        let tries_done = c.tries + 1;
        let next = if outcome.success() {
            NextStep::Delivered
        } else if outcome.status_code == 410 {
            NextStep::Failed
        } else {
            match schedule::next_delay_ms(schedule, tries_done) {
                None => NextStep::Failed,
                Some(delay) => {
                    let delay = honour_retry_after(schedule, &outcome, delay);
                    NextStep::RetryAt(now_ms() + delay)
                }
            }
        };
        let attempt = Attempt {
            id: ids::new_id(ids::ATTEMPT),
            app_id: c.app_id.clone(),
            msg_id: c.msg_id.clone(),
            endpoint_id: c.endpoint_id.clone(),
            url: ep.url.clone(),
            status: if outcome.success() { 0 } else { 2 },
            status_code: outcome.status_code as i64,
            response: outcome.body.clone().or_else(|| outcome.error.clone()),
            duration_ms: outcome.duration.as_millis() as i64,
            error: outcome.error.clone(),
            trigger_type: c.trigger,
            created_at: started,
        };
        match self.store.finish(&c, &attempt, next).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(delivery = %c.delivery_id, "lease lost before the attempt was recorded")
            }
            Err(e) => {
                tracing::error!(delivery = %c.delivery_id, error = %e, "recording an attempt failed")
            }
        }
        if outcome.status_code == 410 {
            let reason = "the endpoint answered 410 Gone";
            if let Err(e) = self.store.disable_endpoint(&ep.id, reason).await {
                tracing::error!(endpoint = %ep.id, error = %e, "disabling a gone endpoint failed");
            } else {
                tracing::info!(endpoint = %ep.id, "endpoint disabled: {reason}");
            }
        }
    }

    fn timeout_of(&self, ep: &Endpoint) -> Duration {
        ep.options
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.timeout)
    }
}

/// A `Retry-After` on 429 or 503 delays the retry to at least that long, capped at the largest
/// gap of the schedule.
fn honour_retry_after(schedule: &[u64], o: &Outcome, delay_ms: i64) -> i64 {
    match (o.status_code, o.retry_after) {
        (429 | 503, Some(secs)) => {
            let cap = schedule.iter().copied().max().unwrap_or(0) as i64 * 1000;
            delay_ms.max((secs as i64 * 1000).min(cap))
        }
        _ => delay_ms,
    }
}

/// The body and headers of a delivery request: the endpoint's own headers, then Herald's
/// (which win), then the format's signature headers.
fn build_request(
    msg: &Message,
    payload: &str,
    ep: &Endpoint,
    now: i64,
) -> (Vec<u8>, Vec<(String, String)>) {
    let created_at = crate::clock::rfc3339(msg.created_at);
    let secrets = ep.signing_secrets(now);
    let rendered = formats::render(
        &formats::Outgoing {
            msg_id: &msg.id,
            event_id: msg.event_id.as_deref(),
            created_at: &created_at,
            payload,
            timestamp: now / 1000,
        },
        &formats::Signing {
            format: ep.options.format,
            secrets: &secrets,
            header: ep.options.signature_header.as_deref(),
            prefix: ep.options.signature_prefix.as_deref(),
        },
    );
    let mut h: Vec<(String, String)> = ep
        .headers
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.to_ascii_lowercase(), v.to_string())))
        .collect();
    h.push(("content-type".into(), "application/json".into()));
    let ua = ep
        .options
        .user_agent
        .as_deref()
        .unwrap_or(DEFAULT_USER_AGENT);
    h.push(("user-agent".into(), ua.to_string()));
    h.extend(rendered.headers);
    (rendered.body, h)
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    v
}
