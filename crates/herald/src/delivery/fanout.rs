//! The fan-out of a publish: one delivery per matching endpoint, and for each, whether this
//! node's dispatcher takes it at once (stored already leased to this node, handed over after
//! the commit: its row is written twice, stored and finished, instead of three times, and
//! nothing is read back) or it is stored pending for claims (skipped if its endpoint is
//! disabled, parked if the endpoint is stalled).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};

use crate::ids;
use crate::model::{DeliveryStatus, Endpoint, Message};
use crate::store::{Claimed, NewDelivery};

/// A delivery this node holds under a lease, with what it takes to send it.
pub struct Work {
    pub claimed: Claimed,
    pub msg: Arc<Message>,
    pub ep: Arc<Endpoint>,
    pub lease_until: i64,
    /// The rate its endpoint is throttled to, if it is (see `throttle.rs`).
    pub rate: Option<u32>,
}

/// The dispatcher as the committer sees it.
pub trait Handoff: Send + Sync {
    /// How many new deliveries to `ep` the dispatcher takes now.
    fn room(&self, ep: &Endpoint) -> usize;
    /// The rate deliveries to `ep` are throttled to, if they are.
    fn rate(&self, ep: &Endpoint) -> Option<u32>;
    /// The lease a delivery to `ep` taken at `now` is stored under.
    fn lease_until(&self, ep: &Endpoint, now: i64) -> i64;
    /// Committed deliveries, leased to this node: send them.
    fn take(&self, work: Vec<Work>);
    /// Deliveries were stored pending, due now, for want of room.
    fn wake(&self);
}

/// Where the committer hands new deliveries: the node's dispatcher while it runs.
#[derive(Clone, Default)]
pub struct HandoffSlot(Arc<RwLock<Option<Weak<dyn Handoff>>>>);

impl HandoffSlot {
    pub fn set(&self, h: Option<Weak<dyn Handoff>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = h;
    }

    pub fn get(&self) -> Option<Arc<dyn Handoff>> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(Weak::upgrade)
    }
}

/// Endpoints this node found stalled, with until when their deliveries are parked: new
/// deliveries to them are stored parked until then.
#[derive(Clone, Default)]
pub struct Parked(Arc<Mutex<HashMap<String, i64>>>);

impl Parked {
    /// When a new delivery to `endpoint_id` is first worth trying: now, or later if parked.
    pub fn first_try(&self, endpoint_id: &str, now: i64) -> i64 {
        let parked = self.0.lock().unwrap_or_else(|p| p.into_inner());
        parked
            .get(endpoint_id)
            .copied()
            .filter(|t| *t > now)
            .unwrap_or(now)
    }

    pub fn park(&self, endpoint_id: &str, now: i64, until: i64) {
        let mut parked = self.0.lock().unwrap_or_else(|p| p.into_inner());
        parked.retain(|_, t| *t > now);
        parked.insert(endpoint_id.to_string(), until);
    }

    /// New deliveries to `endpoint_id` are due at once again (it answers).
    pub fn unpark(&self, endpoint_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(endpoint_id);
    }
}

/// The fan-out of one batch's publishes.
pub struct Fanout<'a> {
    parked: &'a Parked,
    handoff: Option<&'a dyn Handoff>,
    /// Room the dispatcher has left, by endpoint.
    room: HashMap<String, usize>,
    /// The lease token of every delivery the batch hands over.
    token: i64,
    now: i64,
    /// Deliveries to hand over once committed.
    pub handed: Vec<Work>,
    /// Some delivery was stored pending and due now (for claims, here or on other nodes).
    pub queued: bool,
}

impl<'a> Fanout<'a> {
    pub fn new(parked: &'a Parked, handoff: Option<&'a dyn Handoff>, now: i64) -> Self {
        Fanout {
            parked,
            handoff,
            room: HashMap::new(),
            token: fastrand::i64(1..i64::MAX),
            now,
            handed: Vec::new(),
            queued: false,
        }
    }

    /// The row of a new delivery of `msg` to `ep`, sent at `deliver_at` (or now). An ordered
    /// delivery is never handed over: whether an earlier one of its key is unfinished is known
    /// only to the database, so it is stored pending for claims, which take each key's head.
    pub fn delivery(
        &mut self,
        msg: &Arc<Message>,
        ep: &Arc<Endpoint>,
        deliver_at: Option<i64>,
    ) -> NewDelivery {
        let now = self.now;
        let id = ids::DeliveryId::new();
        let order_key = crate::model::order_key(ep, msg.ordering_key.as_deref());
        let (status, next, lease) = if ep.disabled {
            // Kept so that the message can be replayed to it later.
            (DeliveryStatus::Skipped, None, None)
        } else {
            let due = self
                .parked
                .first_try(&ep.id, now)
                .max(deliver_at.unwrap_or(now));
            match self
                .handoff
                .filter(|h| due <= now && order_key.is_none() && self.take_room(*h, ep))
            {
                Some(h) => {
                    let lease_until = h.lease_until(ep, now);
                    self.handed.push(Work {
                        claimed: Claimed {
                            delivery_id: id.clone(),
                            app_id: msg.app_id.clone(),
                            msg_id: msg.id.clone(),
                            endpoint_id: ep.id.clone(),
                            tries: 0,
                            trigger: crate::model::Trigger::Scheduled,
                            lease_token: self.token,
                            ordered: false,
                        },
                        msg: msg.clone(),
                        ep: ep.clone(),
                        lease_until,
                        rate: h.rate(ep),
                    });
                    (DeliveryStatus::Sending, Some(due), Some(lease_until))
                }
                None => {
                    self.queued |= due <= now;
                    (DeliveryStatus::Pending, Some(due), None)
                }
            }
        };
        NewDelivery {
            id,
            app_id: msg.app_id.clone(),
            msg_id: msg.id.clone(),
            endpoint_id: ep.id.clone(),
            status,
            next_attempt_at: next,
            lease_until: lease,
            lease_token: lease.map(|_| self.token),
            order_key,
            created_at: now,
        }
    }

    /// Takes one place of the dispatcher's room for `ep`, if it has any.
    fn take_room(&mut self, h: &dyn Handoff, ep: &Endpoint) -> bool {
        let room = self
            .room
            .entry(ep.id.to_string())
            .or_insert_with(|| h.room(ep));
        let took = *room > 0;
        *room = room.saturating_sub(1);
        took
    }
}
