//! What every HTTP provider shares: the client, the key, sending a JSON
//! body, and turning a refusal into a [`ProviderError`] that carries the
//! server's retry hints and never a secret.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;

use super::ProviderError;

/// An API key. Never printed: `Debug` shows `ApiKey(***)`.
#[derive(Clone)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Variables that hold promptgate's own secrets (the server's settings;
/// `server::settings` checks that its names are all here).
pub(crate) const RESERVED_VARIABLES: [&str; 3] = [
    "PROMPTGATE_WEBHOOK_SECRET",
    "PROMPTGATE_DATABASE_URL",
    "PROMPTGATE_GITHUB_PRIVATE_KEY_PATH",
];

impl ApiKey {
    /// A key held in memory (a server's secret store, tests).
    pub fn new(value: impl Into<String>) -> Self {
        ApiKey(value.into())
    }

    /// The key in `var`; a missing or empty variable is an error naming it.
    /// promptgate's own secrets are never sent as a provider key, whatever a
    /// repository's config names (on the server, the config is the
    /// repository's, the environment the operator's).
    pub fn from_env(provider: &str, var: &str) -> Result<Self, ProviderError> {
        if RESERVED_VARIABLES.contains(&var) {
            return Err(ProviderError::Config {
                provider: provider.to_string(),
                message: format!(
                    "`api_key_env = \"{var}\"` names one of promptgate's own secrets, not a provider key"
                ),
            });
        }
        match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => Ok(ApiKey(value.trim().to_string())),
            _ => Err(ProviderError::MissingKey {
                provider: provider.to_string(),
                var: var.to_string(),
            }),
        }
    }

    /// A header value marked sensitive, so no logging layer prints it.
    pub(crate) fn header(&self, prefix: &str) -> Result<HeaderValue, ProviderError> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", self.0)).map_err(|_| {
            ProviderError::Malformed(
                "the API key contains characters not allowed in a header".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Removes the key from text a server sent back (some echo it).
    pub(crate) fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_string();
        }
        text.replace(&self.0, "***")
    }
}

pub(crate) fn client(timeout: Duration, provider: &str) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .user_agent(concat!("promptgate/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10).min(timeout))
        // The runner times each attempt itself; this only bounds direct
        // callers, a little later so the runner's clearer error wins.
        .timeout(timeout + Duration::from_secs(5))
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|error| ProviderError::Config {
            provider: provider.to_string(),
            message: format!("cannot build an HTTP client: {error}"),
        })
}

/// `base_url` checked and without a trailing slash, so paths append cleanly.
pub(crate) fn parse_base_url(provider: &str, raw: &str) -> Result<String, ProviderError> {
    let parsed = url::Url::parse(raw).map_err(|error| ProviderError::Config {
        provider: provider.to_string(),
        message: format!("base_url `{raw}` is not a URL ({error})"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ProviderError::Config {
            provider: provider.to_string(),
            message: format!("base_url `{raw}` must start with http:// or https://"),
        });
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ProviderError::Config {
            provider: provider.to_string(),
            message: "base_url must not contain credentials; use api_key_env".into(),
        });
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// Posts `body` and decodes a 2xx answer as `T`. Any other status becomes
/// [`ProviderError::Http`] with the server's message and its retry hint; a
/// body that is not the expected JSON is `Malformed`. Every error is
/// redacted whole, before it is shortened: a key cut in two by the
/// shortening would no longer match.
pub(crate) async fn post_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    body: &serde_json::Value,
    key: Option<&super::http::ApiKey>,
) -> Result<T, ProviderError> {
    let redact = |text: &str| match key {
        Some(key) => key.redact(text),
        None => text.to_string(),
    };
    let response = request
        .json(body)
        .send()
        .await
        .map_err(|e| transport_error(e, &redact))?;
    let status = response.status();
    let retry_after = parse_retry_after(response.headers(), SystemTime::now());
    // Reading the body can fail too: a reset mid-body is a transport fault.
    let bytes = response
        .bytes()
        .await
        .map_err(|e| transport_error(e, &redact))?;
    if !status.is_success() {
        return Err(ProviderError::Http {
            status: status.as_u16(),
            message: snippet(&redact(&error_message(&bytes)), 500),
            retry_after,
        });
    }
    serde_json::from_slice(&bytes).map_err(|error| {
        let body = redact(&String::from_utf8_lossy(&bytes));
        ProviderError::Malformed(format!(
            "{}; body starts with {:?}",
            redact(&error.to_string()),
            snippet(&body, 200)
        ))
    })
}

fn transport_error(error: reqwest::Error, redact: &dyn Fn(&str) -> String) -> ProviderError {
    // The URL is ours and carries no secret; keep the whole source chain,
    // which is where "connection reset" or "refused" is said.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::Transport(redact(&message))
}

/// The human part of an error body: `error.message` (OpenAI, Anthropic),
/// `error` as a string (Ollama), else the raw text; whole, so the caller
/// can redact it before shortening it.
fn error_message(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let found = json
            .pointer("/error/message")
            .or_else(|| json.get("error").filter(|value| value.is_string()))
            .or_else(|| json.get("message"))
            .or_else(|| json.get("detail"));
        if let Some(value) = found {
            return match value.as_str() {
                Some(text) => text.to_string(),
                None => value.to_string(),
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        text.trim().to_string()
    }
}

fn snippet(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The longest wait the server asks for, from any of the headers providers
/// use: `retry-after-ms`, `Retry-After` (seconds or an HTTP date), and
/// OpenAI's `x-ratelimit-reset-requests` / `-tokens` (`1s`, `6m0s`, `20ms`).
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| -> Option<&str> {
        headers
            .get(HeaderName::from_bytes(name.as_bytes()).ok()?)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    // The millisecond header is the precise one; prefer it when present.
    if let Some(wait) = text("retry-after-ms")
        .and_then(|value| value.parse::<f64>().ok())
        .and_then(|ms| seconds(ms / 1000.0))
    {
        return Some(wait);
    }
    let mut waits = Vec::new();
    if let Some(value) = text("retry-after") {
        if let Ok(number) = value.parse::<f64>() {
            waits.extend(seconds(number));
        } else if let Ok(date) = httpdate::parse_http_date(value) {
            waits.push(date.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
        if let Some(wait) = text(name).and_then(parse_go_duration) {
            waits.push(wait);
        }
    }
    waits.into_iter().max()
}

/// Durations as OpenAI writes them: a sequence of number+unit pairs, e.g.
/// `1s`, `6m0s`, `20ms`, `1h2m3.5s`. A bare number is seconds.
fn parse_go_duration(text: &str) -> Option<Duration> {
    if let Ok(number) = text.parse::<f64>() {
        return seconds(number);
    }
    let mut total = 0.0_f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&end| end > 0)?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    seconds(total)
}

/// A non-negative, finite, representable number of seconds.
fn seconds(value: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Some(Duration::from_secs_f64(3723.5))
        );
        assert_eq!(parse_go_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_go_duration("soon"), None);
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration("s"), None);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", &later)]), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after(
                &headers(&[("retry-after-ms", "250"), ("retry-after", "9")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after(
                &headers(&[
                    ("x-ratelimit-reset-requests", "1s"),
                    ("x-ratelimit-reset-tokens", "6m0s")
                ]),
                now
            ),
            Some(Duration::from_secs(360))
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "garbage")]), now),
            None
        );
        assert_eq!(parse_retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn error_messages_from_each_dialect() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad model","type":"x"}}"#),
            "bad model"
        );
        assert_eq!(
            error_message(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(error_message(b"<html>oops</html>"), "<html>oops</html>");
        assert_eq!(error_message(b""), "(empty body)");
    }

    #[test]
    fn keys_are_redacted_and_never_debug_printed() {
        let key = ApiKey::new("sk-secret-value");
        assert_eq!(
            key.redact("Incorrect API key sk-secret-value"),
            "Incorrect API key ***"
        );
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            parse_base_url("p", "http://h:1/v1/").unwrap(),
            "http://h:1/v1"
        );
        assert!(parse_base_url("p", "ftp://h").is_err());
        assert!(parse_base_url("p", "not a url").is_err());
        assert!(parse_base_url("p", "https://user:pw@h/").is_err());
    }

    proptest! {
        #[test]
        fn retry_headers_never_panic(value in "\\PC{0,20}") {
            if let Ok(header) = HeaderValue::from_str(&value) {
                for name in ["retry-after", "retry-after-ms", "x-ratelimit-reset-tokens"] {
                    let mut map = HeaderMap::new();
                    map.insert(HeaderName::from_static(name), header.clone());
                    let _ = parse_retry_after(&map, SystemTime::now());
                }
            }
        }

        #[test]
        fn go_durations_round_trip(minutes in 0u64..1000, seconds in 0u64..60, millis in 0u64..1000) {
            let text = format!("{minutes}m{seconds}s{millis}ms");
            let parsed = parse_go_duration(&text).unwrap();
            let expected = Duration::from_millis(minutes * 60_000 + seconds * 1000 + millis);
            prop_assert!(parsed.abs_diff(expected) < Duration::from_micros(1));
        }
    }
}
