//! The messages of claimed deliveries: a claim returns delivery rows only, and most of their
//! messages are still in this node's memory (it published them lately); the rest are read
//! back in one statement.

use std::collections::HashMap;
use std::sync::Arc;

use super::dispatcher::Dispatcher;
use crate::ids::MessageId;
use crate::model::Message;
use crate::store::{Claimed, StoreError};

impl Dispatcher {
    /// The messages of claimed deliveries: from memory when this node published them lately,
    /// else read back.
    pub(super) async fn messages_of(
        &self,
        claimed: &[Claimed],
    ) -> Result<HashMap<MessageId, Arc<Message>>, StoreError> {
        let mut found = HashMap::with_capacity(claimed.len());
        let mut missing = Vec::new();
        for c in claimed {
            if found.contains_key(&c.msg_id) {
                continue;
            }
            match self.pipeline.recent(&c.msg_id) {
                Some(m) => {
                    found.insert(c.msg_id.clone(), m);
                }
                None => missing.push(&c.msg_id),
            }
        }
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            for m in self.store.messages_by_ids(&missing).await? {
                found.insert(m.id.clone(), Arc::new(m));
            }
        }
        Ok(found)
    }
}
