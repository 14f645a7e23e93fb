//! Messages this node published recently, kept in memory so the dispatcher need not read each
//! payload back from the database right after writing it. Bounded by payload bytes; oldest out
//! first. A local expunge removes the message at once; on PostgreSQL an expunge made on another
//! node is not seen here, so a delivery in the next moments may still carry the payload (as it
//! would had it been sent a moment earlier).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::ids::MessageId;
use crate::model::Message;

/// Most payload bytes kept.
const MAX_BYTES: usize = 16 << 20;

#[derive(Default)]
pub(super) struct Recent {
    by_id: HashMap<MessageId, Arc<Message>>,
    order: VecDeque<MessageId>,
    bytes: usize,
}

fn size(m: &Message) -> usize {
    m.payload.as_ref().map_or(0, String::len) + 128
}

impl Recent {
    pub fn insert(&mut self, m: Message) {
        self.bytes += size(&m);
        self.order.push_back(m.id.clone());
        self.by_id.insert(m.id.clone(), Arc::new(m));
        while self.bytes > MAX_BYTES {
            let Some(id) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.by_id.remove(&id) {
                self.bytes -= size(&old);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Message>> {
        self.by_id.get(id).cloned()
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(old) = self.by_id.remove(id) {
            self.bytes -= size(&old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &MessageId, len: usize) -> Message {
        Message {
            id: id.clone(),
            app_id: crate::ids::AppId::new(),
            event_id: None,
            event_type: "x.y".into(),
            payload: Some("x".repeat(len)),
            channels: None,
            tags: None,
            ordering_key: None,
            created_at: 0,
            expires_at: None,
        }
    }

    #[test]
    fn evicts_oldest_beyond_the_byte_budget() {
        let mut r = Recent::default();
        let (a, b) = (MessageId::new(), MessageId::new());
        r.insert(msg(&a, MAX_BYTES / 2));
        r.insert(msg(&b, MAX_BYTES / 2));
        assert!(r.get(&a).is_none(), "the oldest went out");
        assert!(r.get(&b).is_some());
        r.remove(&b);
        assert!(r.get(&b).is_none());
        assert_eq!(r.bytes, 0);
    }
}
