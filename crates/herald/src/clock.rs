//! Time helpers. Herald stores times as Unix milliseconds and shows them as RFC 3339 UTC.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Microseconds since the Unix epoch, now (throttle slots).
pub fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// RFC 3339 with milliseconds and a `Z`, the shape Svix's API uses.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time into Unix milliseconds. A time without an offset is taken as UTC
/// (Python clients send naive datetimes that way).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ms = 1_614_265_330_123;
        let s = rfc3339(ms);
        assert_eq!(s, "2021-02-25T15:02:10.123Z");
        assert_eq!(parse_rfc3339(&s), Some(ms));
        assert_eq!(parse_rfc3339("2021-02-25T16:02:10.123+01:00"), Some(ms));
        assert_eq!(parse_rfc3339("2021-02-25T15:02:10.123"), Some(ms));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
