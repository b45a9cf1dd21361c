//! Timestamps as promptgate writes them: RFC 3339 in UTC.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, as RFC 3339 (`2026-12-01T15:12:55.123456Z`).
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Now, as RFC 3339 to the second (`2026-12-01T15:12:55Z`), as GitHub
/// writes its timestamps.
pub fn now_rfc3339_seconds() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Unix milliseconds as RFC 3339 to the second; `None` out of range.
pub fn unix_ms_rfc3339(ms: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_back() {
        for text in [now_rfc3339(), now_rfc3339_seconds()] {
            assert!(OffsetDateTime::parse(&text, &Rfc3339).is_ok(), "{text}");
        }
        assert!(!now_rfc3339_seconds().contains('.'));
        assert_eq!(
            unix_ms_rfc3339(1_700_000_000_999).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
    }
}
