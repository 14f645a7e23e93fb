//! Payload validation against event types' JSON Schemas (Svix's `schemas`: an object of
//! version -> schema; the highest version is the one checked). With `--validate-payloads` every
//! publish of a type that has a schema is checked, else only types with `validatePayloads`.
//! Compiled schemas are kept per event type for a second (a change on another node applies
//! within it), so a publish costs no extra read. Schemas are compiled with `boon` (drafts 4 to
//! 2020-12) and may not load anything from outside (no `$ref` to a URL or a file).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::store::{Store, StoreError};

/// How long a compiled schema (or the absence of one) is used before the event type is read again.
const TTL: Duration = Duration::from_secs(1);
/// Event types kept at once.
const MAX_KEPT: usize = 1000;

/// A publish whose payload its event type's schema refuses: where, and why.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("payload{path}: {message}")]
    Invalid {
        /// A JSON pointer into the payload (`/items/0/id`; empty for the payload itself).
        path: String,
        message: String,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// An event type's latest schema, compiled.
struct Compiled {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

/// Refuses every `$ref` to something outside the schema itself.
struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("schemas may not refer to {url}: only to themselves").into())
    }
}

/// The latest version's schema of `schemas` (`{"1": {...}, "2": {...}}`).
fn latest(schemas: &Value) -> Option<&Value> {
    schemas
        .as_object()?
        .iter()
        .max_by_key(|(version, _)| version.parse::<u64>().unwrap_or(0))
        .map(|(_, s)| s)
}

fn compile(schema: &Value) -> Result<Compiled, String> {
    let mut c = boon::Compiler::new();
    c.use_loader(Box::new(NoLoader));
    let loc = "herald:///schema.json";
    c.add_resource(loc, schema.clone())
        .map_err(|e| e.to_string())?;
    let mut schemas = boon::Schemas::new();
    let index = c.compile(loc, &mut schemas).map_err(|e| e.to_string())?;
    Ok(Compiled { schemas, index })
}

/// Whether every version of an event type's `schemas` compiles (the API checks it at change);
/// the error names the version.
pub fn check_schemas(schemas: &Value) -> Result<(), String> {
    let Some(versions) = schemas.as_object() else {
        return Ok(());
    };
    for (version, schema) in versions {
        if schema.is_object() || schema.is_boolean() {
            compile(schema).map_err(|e| format!("version {version}: {e}"))?;
        }
    }
    Ok(())
}

/// The first leaf of a validation error: the most precise place and reason.
fn leaf<'a, 'b, 'c>(mut e: &'c boon::ValidationError<'a, 'b>) -> &'c boon::ValidationError<'a, 'b> {
    while let Some(first) = e.causes.first() {
        e = first;
    }
    e
}

/// Each event type's compiled schema (`None`: not checked), and when it was read.
type Kept = HashMap<String, (Instant, Option<Arc<Compiled>>)>;

/// Compiled schemas of the event types published to lately.
pub struct PayloadSchemas {
    store: Store,
    /// `--validate-payloads`: check every type that has a schema.
    all: bool,
    kept: Mutex<Kept>,
}

impl PayloadSchemas {
    pub fn new(store: Store, all: bool) -> Self {
        PayloadSchemas {
            store,
            all,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The compiled schema payloads of `event_type` are checked against, if any.
    async fn schema_of(&self, event_type: &str) -> Result<Option<Arc<Compiled>>, StoreError> {
        if let Some((at, c)) = self
            .kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(event_type)
            && at.elapsed() < TTL
        {
            return Ok(c.clone());
        }
        let compiled = match self.store.get_event_type(event_type).await {
            Ok(et) if self.all || et.validate_payloads => et
                .schemas
                .as_ref()
                .and_then(latest)
                .and_then(|s| match compile(s) {
                    Ok(c) => Some(Arc::new(c)),
                    Err(e) => {
                        tracing::warn!(event_type, error = %e, "an event type's schema does not compile: not checked");
                        None
                    }
                }),
            Ok(_) | Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(event_type.to_string(), (Instant::now(), compiled.clone()));
        Ok(compiled)
    }

    /// Checks `payload` (JSON text) against `event_type`'s schema, when it is to be checked.
    pub async fn check(&self, event_type: &str, payload: &str) -> Result<(), PayloadError> {
        let Some(c) = self.schema_of(event_type).await? else {
            return Ok(());
        };
        let value: Value = serde_json::from_str(payload).map_err(|e| PayloadError::Invalid {
            path: String::new(),
            message: e.to_string(),
        })?;
        match c.schemas.validate(&value, c.index) {
            Ok(()) => Ok(()),
            Err(e) => {
                let l = leaf(&e);
                Err(PayloadError::Invalid {
                    path: l.instance_location.to_string(),
                    message: l.kind.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_latest_version_is_compiled_and_refers_to_nothing_outside() {
        let s = json!({"1": {"type": "string"}, "10": {"type": "object"}, "2": {"type": "number"}});
        assert_eq!(latest(&s), Some(&json!({"type": "object"})));
        assert!(check_schemas(&s).is_ok());
        let bad = json!({"1": {"type": "no-such-type"}});
        assert!(check_schemas(&bad).unwrap_err().starts_with("version 1"));
        let remote = json!({"1": {"$ref": "https://example.com/s.json"}});
        assert!(check_schemas(&remote).is_err());
        let file = json!({"1": {"$ref": "file:///etc/passwd"}});
        assert!(check_schemas(&file).is_err());
    }

    #[test]
    fn a_violation_names_the_deepest_path() {
        let c = compile(&json!({
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": {
                "type": "object", "properties": {"id": {"type": "integer"}}}}}
        }))
        .unwrap();
        let v = json!({"items": [{"id": 1}, {"id": "x"}]});
        let e = c.schemas.validate(&v, c.index).unwrap_err();
        assert_eq!(leaf(&e).instance_location.to_string(), "/items/1/id");
        assert!(c.schemas.validate(&json!({"items": []}), c.index).is_ok());
    }
}
