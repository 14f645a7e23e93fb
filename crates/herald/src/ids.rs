//! Object ids: a type prefix and a time-ordered UUIDv7 in fixed-width base62, so ids sort by
//! creation time both as strings and in the database.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^22 > 2^128, so 22 digits hold any UUID.
const WIDTH: usize = 22;

/// A new id such as `msg_0A1b...`, `prefix` without the underscore.
pub fn new_id(prefix: &str) -> String {
    encode(prefix, uuid::Uuid::now_v7().as_u128())
}

fn encode(prefix: &str, mut n: u128) -> String {
    let mut digits = [b'0'; WIDTH];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    let mut out = String::with_capacity(prefix.len() + 1 + WIDTH);
    out.push_str(prefix);
    out.push('_');
    // The digits are ASCII from ALPHABET.
    out.extend(digits.iter().map(|&b| b as char));
    out
}

/// Whether `s` looks like an id of this kind (so lookups can tell ids from uids).
pub fn is_id(prefix: &str, s: &str) -> bool {
    s.len() == prefix.len() + 1 + WIDTH
        && s.starts_with(prefix)
        && s.as_bytes()[prefix.len()] == b'_'
        && s[prefix.len() + 1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

/// Whether `s` starts like an id of any kind (`app_`, `ep_`, `msg_`, ...). A `uid` or `eventId`
/// that did would be ambiguous in a path that takes either, so none may.
pub fn has_id_prefix(s: &str) -> bool {
    PREFIXES.iter().any(|p| {
        s.len() > p.len() && s.as_bytes()[p.len()] == b'_' && s[..p.len()].eq_ignore_ascii_case(p)
    })
}

/// An id type: a prefixed id that only ever holds an id of its kind, shown and stored as its
/// string. It reads as a `&str` wherever one is taken.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                $name(new_id($prefix))
            }

            /// The smallest id made at or after `ms` (Unix milliseconds): a bound for a range
            /// of ids by creation time (a UUIDv7 starts with its 48-bit millisecond time).
            pub fn floor(ms: i64) -> Self {
                $name(encode($prefix, (ms.max(0) as u128) << 80))
            }

            /// `s`, if it is an id of this kind.
            pub fn parse(s: &str) -> Option<Self> {
                is_id($prefix, s).then(|| $name(s.to_string()))
            }

            /// An id as the database holds it (written by Herald, so of this kind).
            pub fn from_stored(s: String) -> Self {
                $name(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// An application's id (`app_...`).
    AppId,
    APP
);
id_type!(
    /// An endpoint's id (`ep_...`).
    EndpointId,
    ENDPOINT
);
id_type!(
    /// A message's id (`msg_...`), the `webhook-id` of its deliveries.
    MessageId,
    MESSAGE
);
id_type!(
    /// An attempt's id (`atmpt_...`).
    AttemptId,
    ATTEMPT
);
id_type!(
    /// A delivery's id (`dlv_...`): one (message, endpoint) pair.
    DeliveryId,
    DELIVERY
);

pub const APP: &str = "app";
/// The reserved application whose endpoints are Herald's operational webhook endpoints: an
/// application id no node generates (a UUIDv7 of time 0), hidden from application lists.
pub const OPERATIONAL_APP: &str = "app_0000000000000000000000";
pub const ENDPOINT: &str = "ep";
pub const MESSAGE: &str = "msg";
pub const ATTEMPT: &str = "atmpt";
pub const DELIVERY: &str = "dlv";
pub const TASK: &str = "qtask";
/// Every kind's prefix.
pub const PREFIXES: &[&str] = &[APP, ENDPOINT, MESSAGE, ATTEMPT, DELIVERY, TASK];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operational_app_id_is_an_app_id_none_is_given() {
        assert!(is_id(APP, OPERATIONAL_APP));
        assert_eq!(AppId::floor(0).as_str(), OPERATIONAL_APP);
        assert!(AppId::new().as_str() > OPERATIONAL_APP);
    }

    #[test]
    fn floors_bound_ids_by_creation_time() {
        let before = crate::clock::now_ms();
        let id = AttemptId::new();
        assert!(AttemptId::floor(before) <= id);
        assert!(AttemptId::floor(before + 1000) > id);
    }

    #[test]
    fn ids_sort_by_creation() {
        let ids: Vec<String> = (0..1000).map(|_| new_id(MESSAGE)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|i| is_id(MESSAGE, i)));
        assert!(!is_id(ENDPOINT, &ids[0]));
        assert!(!is_id(MESSAGE, "msg_short"));
    }

    #[test]
    fn id_prefixes_are_recognised() {
        assert!(has_id_prefix("app_x"));
        assert!(has_id_prefix("EP_anything"));
        assert!(has_id_prefix(&new_id(MESSAGE)));
        assert!(!has_id_prefix("app"));
        assert!(has_id_prefix("app_"));
        assert!(!has_id_prefix("apple_1"));
        assert!(!has_id_prefix("my-app_1"));
    }

    #[test]
    fn typed_ids_hold_their_kind_only() {
        let a = AppId::new();
        assert!(is_id(APP, &a));
        assert_eq!(AppId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(AppId::parse(EndpointId::new().as_str()), None);
        assert_eq!(AppId::parse("app_short"), None);
        assert_eq!(a.to_string(), a.as_str());
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
    }

    #[test]
    fn encoding_is_fixed_width() {
        assert_eq!(encode("x", 0), format!("x_{}", "0".repeat(22)));
        assert_eq!(encode("x", u128::MAX).len(), 24);
        assert!(encode("x", 61) < encode("x", 62));
    }
}
