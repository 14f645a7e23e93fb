//! Field validators shared by the resources, and the limits they enforce (the README's table
//! lists them). A value over a limit is a 422 naming the field and the limit.

use serde_json::Value;

use super::error::{ApiError, FieldError};

/// Longest application name, endpoint uid, application uid, event type name or eventId.
pub const MAX_NAME: usize = 256;
/// Longest endpoint description.
pub const MAX_DESCRIPTION: usize = 1024;
/// Longest event type description.
pub const MAX_EVENT_TYPE_DESCRIPTION: usize = 4096;
/// Longest endpoint URL.
pub const MAX_URL: usize = 4096;
/// Most event types in an endpoint's filter.
pub const MAX_EVENT_TYPES: usize = 1000;
/// Most channels on an endpoint, and on a message (Svix's figures).
pub const MAX_ENDPOINT_CHANNELS: usize = 10;
pub const MAX_MESSAGE_CHANNELS: usize = 5;
/// Longest channel name (Svix's figure).
pub const MAX_CHANNEL: usize = 128;
/// Most tags on a message.
pub const MAX_TAGS: usize = 5;
/// `metadata`: most keys, and most bytes of each key and value.
pub const MAX_METADATA_KEYS: usize = 50;
pub const MAX_METADATA_ENTRY: usize = 1024;
/// Custom headers of an endpoint: most of them, and most bytes of each name plus value.
pub const MAX_HEADERS: usize = 20;
pub const MAX_HEADER_BYTES: usize = 4096;
/// An event type's `schemas`, serialized.
pub const MAX_SCHEMAS_BYTES: usize = 256 * 1024;

fn is_name_like(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A `uid` (or a message's `eventId`): 1 to 256 of `[a-zA-Z0-9-_.]`, not starting like an id
/// (`app_`, `ep_`, `msg_`...): paths take an id or a uid, and a uid that could be read as another
/// object's id would let its owner capture that object's requests.
pub fn check_uid(field: &str, uid: &str, errors: &mut Vec<FieldError>) {
    if uid.len() > MAX_NAME || !is_name_like(uid) {
        errors.push(FieldError::body(
            field,
            "must be 1 to 256 characters of a-z, A-Z, 0-9, '-', '_' and '.'",
        ));
    } else if crate::ids::has_id_prefix(uid) {
        errors.push(FieldError::body(
            field,
            format!(
                "must not start with an id prefix ({})",
                crate::ids::PREFIXES
                    .iter()
                    .map(|p| format!("{p}_"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
}

/// A path parameter that becomes the uid of an object created on the fly (`PUT` of a missing
/// object, a publish that creates its application): it must be a valid uid.
pub fn uid_from_path(param: &str, value: String) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    check_uid(param, &value, &mut errors);
    match errors.pop() {
        None => Ok(value),
        Some(e) => Err(ApiError::Validation(vec![FieldError::path(param, e.msg)])),
    }
}

/// An event type name or feature flag: 1 to 256 of `[a-zA-Z0-9-_.]`.
pub fn check_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    check_token(field, name, MAX_NAME, errors);
}

/// 1 to `max` of `[a-zA-Z0-9-_.]`.
fn check_token(field: &str, s: &str, max: usize, errors: &mut Vec<FieldError>) {
    if s.len() > max || !is_name_like(s) {
        errors.push(FieldError::body(
            field,
            format!("must be 1 to {max} characters of a-z, A-Z, 0-9, '-', '_' and '.'"),
        ));
    }
}

/// A list of event type names: at most `max`.
pub fn check_list(field: &str, items: &[String], max: usize, errors: &mut Vec<FieldError>) {
    check_tokens(field, items, max, MAX_NAME, errors);
}

/// A list of channels: at most `max`, each at most 128 characters.
pub fn check_channels(field: &str, items: &[String], max: usize, errors: &mut Vec<FieldError>) {
    check_tokens(field, items, max, MAX_CHANNEL, errors);
}

fn check_tokens(
    field: &str,
    items: &[String],
    max: usize,
    max_len: usize,
    errors: &mut Vec<FieldError>,
) {
    if items.len() > max {
        errors.push(FieldError::body(
            field,
            format!("must have at most {max} items"),
        ));
        return;
    }
    for (i, item) in items.iter().enumerate() {
        check_token(&format!("{field}.{i}"), item, max_len, errors);
    }
}

/// Free text (a name, a description): at most `max` characters, and no control characters but
/// tab and newlines.
pub fn check_text(field: &str, s: &str, max: usize, errors: &mut Vec<FieldError>) {
    if s.chars().count() > max {
        errors.push(FieldError::body(
            field,
            format!("must be at most {max} characters"),
        ));
    } else if s
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        errors.push(FieldError::body(
            field,
            "must not contain control characters",
        ));
    }
}

/// `metadata` is an object of strings; absent or null is `{}`.
pub fn check_metadata(m: Option<Value>, errors: &mut Vec<FieldError>) -> Value {
    match m {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(Value::Object(o)) => {
            if o.len() > MAX_METADATA_KEYS {
                errors.push(FieldError::body(
                    "metadata",
                    format!("must have at most {MAX_METADATA_KEYS} keys"),
                ));
            }
            for (k, v) in &o {
                match v {
                    Value::String(s) if k.len() + s.len() <= MAX_METADATA_ENTRY => {}
                    Value::String(_) => errors.push(FieldError::body(
                        &format!("metadata.{k}"),
                        format!("key and value must be at most {MAX_METADATA_ENTRY} bytes"),
                    )),
                    _ => errors.push(FieldError::body(
                        &format!("metadata.{k}"),
                        "must be a string",
                    )),
                }
            }
            Value::Object(o)
        }
        Some(_) => {
            errors.push(FieldError::body("metadata", "must be an object"));
            Value::Null
        }
    }
}

pub fn check_throttle(rate: Option<i64>, errors: &mut Vec<FieldError>) {
    if rate.is_some_and(|r| !(1..=65535).contains(&r)) {
        errors.push(FieldError::body(
            "throttleRate",
            "must be between 1 and 65535",
        ));
    }
}

pub const HOUR_MS: i64 = 3_600_000;

/// A payload retention given as `payloadRetentionPeriod` (days, 5 to 90, Svix's range) or
/// `payloadRetentionHours` (1 to 2160), not both; in milliseconds.
pub fn check_retention(
    days: Option<i64>,
    hours: Option<i64>,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    if days.is_some_and(|d| !(5..=90).contains(&d)) {
        errors.push(FieldError::body(
            "payloadRetentionPeriod",
            "must be between 5 and 90 (days)",
        ));
    }
    if hours.is_some_and(|h| !(1..=2160).contains(&h)) {
        errors.push(FieldError::body(
            "payloadRetentionHours",
            "must be between 1 and 2160",
        ));
    }
    if days.is_some() && hours.is_some() {
        errors.push(FieldError::body(
            "payloadRetentionHours",
            "give payloadRetentionPeriod or payloadRetentionHours, not both",
        ));
    }
    hours.or(days.map(|d| d * 24)).map(|h| h * HOUR_MS)
}

pub fn finish(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits_and_control_characters() {
        let mut e = Vec::new();
        check_text("name", "Acme\tInc\n", 256, &mut e);
        assert!(e.is_empty());
        check_text("name", "a\0b", 256, &mut e);
        check_text("name", &"x".repeat(257), 256, &mut e);
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].msg, "must be at most 256 characters");
    }

    #[test]
    fn lists_name_their_limit() {
        let mut e = Vec::new();
        let many: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
        check_channels("channels", &many, 10, &mut e);
        assert_eq!(e[0].msg, "must have at most 10 items");
        let mut e = Vec::new();
        check_channels("channels", &["x".repeat(129)], 10, &mut e);
        assert_eq!(e[0].loc, vec!["body", "channels", "0"]);
    }
}
