//! `POST /webhooks/github`: check the signature over the raw bytes, then route
//! the event to a job, record the delivery and answer at once.
//!
//! The two steps that know GitHub's formats sit behind traits so the GitHub
//! edge plugs in its own: [`WebhookVerifier`] (signature) and [`EventRouter`]
//! (event → job). [`HmacVerifier`] and [`BuiltinEvents`] are complete, small
//! implementations used until then and by the tests.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tracing::Instrument;

use super::{Secret, ServerState};
use crate::server::jobs::{EnqueueOutcome, JobKind, NewJob};

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const EVENT_HEADER: &str = "x-github-event";
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// Why a signature was refused. Never carries the body or the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 is not `sha256=` followed by 64 hex digits")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body for any configured secret")]
    Mismatch,
}

impl SignatureError {
    pub fn label(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::Mismatch => "mismatch",
        }
    }
}

/// Checks `X-Hub-Signature-256` against the raw body.
pub trait WebhookVerifier: Send + Sync {
    fn verify(&self, signature_header: &str, body: &[u8]) -> Result<(), SignatureError>;
}

/// HMAC-SHA256 with any of several secrets (so a secret can be rotated:
/// configure old and new, switch GitHub, drop the old), compared in constant
/// time by `verify_slice`.
pub struct HmacVerifier {
    secrets: Vec<Secret>,
}

impl HmacVerifier {
    /// `secrets` must not be empty; an empty list would accept nothing.
    pub fn new(secrets: Vec<Secret>) -> Self {
        HmacVerifier { secrets }
    }
}

impl WebhookVerifier for HmacVerifier {
    fn verify(&self, signature_header: &str, body: &[u8]) -> Result<(), SignatureError> {
        let digest = signature_header
            .strip_prefix("sha256=")
            .filter(|hex| hex.len() == 64)
            .and_then(|hex| hex::decode(hex).ok())
            .ok_or(SignatureError::Malformed)?;
        let matches = self.secrets.iter().any(|secret| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                return false;
            };
            mac.update(body);
            mac.verify_slice(&digest).is_ok()
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// What to do with a verified delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Routing {
    /// GitHub's `ping` on hook creation: answer 200.
    Ping,
    /// Store this job under the delivery id.
    Enqueue(NewJob),
    /// Acknowledge (202) and do nothing; the text says why (logged).
    Ignore(String),
}

/// A verified payload that cannot be read (answered 400, logged without the body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the `{event}` payload: {message}")]
pub struct EventError {
    pub event: String,
    pub message: String,
}

/// Turns a verified delivery (event name + raw body) into a [`Routing`]. Pure:
/// no I/O, so it runs inside the request.
pub trait EventRouter: Send + Sync {
    fn route(&self, event: &str, body: &[u8]) -> Result<Routing, EventError>;
}

/// The `repository_dispatch` type that enqueues a diagnostic [`JobKind::SelfTest`].
pub const SELFTEST_DISPATCH: &str = "promptgate-selftest";

/// The routing this crate knows without the GitHub edge: `ping`, and the
/// `promptgate-selftest` dispatch when self-tests are enabled. Every other
/// event is acknowledged and ignored.
#[derive(Debug, Clone, Default)]
pub struct BuiltinEvents {
    pub selftest_enabled: bool,
}

impl EventRouter for BuiltinEvents {
    fn route(&self, event: &str, body: &[u8]) -> Result<Routing, EventError> {
        let error = |message: String| EventError {
            event: event.to_string(),
            message,
        };
        match event {
            "ping" => Ok(Routing::Ping),
            "repository_dispatch" => {
                #[derive(serde::Deserialize)]
                struct Dispatch {
                    action: String,
                    #[serde(default)]
                    client_payload: serde_json::Value,
                }
                let mut deserializer = serde_json::Deserializer::from_slice(body);
                let dispatch: Dispatch = serde_path_to_error::deserialize(&mut deserializer)
                    .map_err(|e| error(format!("at `{}`: {}", e.path(), e.inner())))?;
                if dispatch.action != SELFTEST_DISPATCH {
                    return Ok(Routing::Ignore(format!(
                        "repository_dispatch `{}` is not handled",
                        dispatch.action
                    )));
                }
                if !self.selftest_enabled {
                    return Ok(Routing::Ignore(
                        "self-test jobs are disabled (set `[selftest] dir` in the server config)"
                            .into(),
                    ));
                }
                let order =
                    super::selftest::SelfTestOrder::from_client_payload(&dispatch.client_payload)
                        .map_err(error)?;
                Ok(Routing::Enqueue(NewJob::new(
                    JobKind::SelfTest,
                    serde_json::to_value(order).map_err(|e| error(e.to_string()))?,
                )))
            }
            other => Ok(Routing::Ignore(format!("`{other}` events are not handled"))),
        }
    }
}

/// How one delivery ended, as `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Ping,
    Enqueued,
    Duplicate,
    Ignored,
    Unauthorized,
    BadRequest,
    Error,
}

impl DeliveryOutcome {
    pub fn label(self) -> &'static str {
        match self {
            DeliveryOutcome::Ping => "ping",
            DeliveryOutcome::Enqueued => "enqueued",
            DeliveryOutcome::Duplicate => "duplicate",
            DeliveryOutcome::Ignored => "ignored",
            DeliveryOutcome::Unauthorized => "unauthorized",
            DeliveryOutcome::BadRequest => "bad_request",
            DeliveryOutcome::Error => "error",
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

pub(super) async fn receive(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delivery = header(&headers, DELIVERY_HEADER).unwrap_or("").to_string();
    let span = tracing::info_span!("webhook", delivery = %delivery);
    receive_verified(state, headers, body, delivery)
        .instrument(span)
        .await
}

async fn receive_verified(
    state: ServerState,
    headers: HeaderMap,
    body: Bytes,
    delivery: String,
) -> Response {
    // 1. The signature, over the raw bytes, before anything reads them.
    let verified = match header(&headers, SIGNATURE_HEADER) {
        None => Err(SignatureError::Missing),
        Some(signature) => state.verifier.verify(signature, &body),
    };
    if let Err(refused) = verified {
        tracing::warn!(
            reason = refused.label(),
            bytes = body.len(),
            "webhook signature refused"
        );
        state.metrics.signature_failure(refused.label());
        state
            .metrics
            .delivery("unverified", DeliveryOutcome::Unauthorized);
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": refused.to_string()}),
        );
    }

    // 2. Which event, which delivery.
    let Some(event) = header(&headers, EVENT_HEADER).map(str::to_string) else {
        state
            .metrics
            .delivery("unknown", DeliveryOutcome::BadRequest);
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "no X-GitHub-Event header"}),
        );
    };
    if delivery.is_empty() || delivery.len() > 200 {
        state.metrics.delivery(&event, DeliveryOutcome::BadRequest);
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "X-GitHub-Delivery must be a non-empty id of at most 200 characters"}),
        );
    }

    // 3. Route and record.
    let routing = match state.events.route(&event, &body) {
        Ok(routing) => routing,
        Err(error) => {
            tracing::warn!(%event, %error, "webhook payload refused");
            state.metrics.delivery(&event, DeliveryOutcome::BadRequest);
            return answer(StatusCode::BAD_REQUEST, json!({"error": error.to_string()}));
        }
    };
    let (status, outcome, body) = match routing {
        Routing::Ping => (
            StatusCode::OK,
            DeliveryOutcome::Ping,
            json!({"status": "pong"}),
        ),
        Routing::Ignore(reason) => {
            tracing::info!(%event, %reason, "webhook ignored");
            (
                StatusCode::ACCEPTED,
                DeliveryOutcome::Ignored,
                json!({"status": "ignored", "reason": reason}),
            )
        }
        Routing::Enqueue(job) => {
            match state.queue.enqueue_delivery(&delivery, &event, &job).await {
                Ok(EnqueueOutcome::Enqueued(id)) => {
                    tracing::info!(%event, job = %id, kind = %job.kind, "webhook enqueued");
                    (
                        StatusCode::ACCEPTED,
                        DeliveryOutcome::Enqueued,
                        json!({"status": "queued", "job": id}),
                    )
                }
                Ok(EnqueueOutcome::Duplicate { job }) => {
                    tracing::info!(%event, "webhook redelivery: already recorded");
                    (
                        StatusCode::ACCEPTED,
                        DeliveryOutcome::Duplicate,
                        json!({"status": "duplicate", "job": job}),
                    )
                }
                Err(error) => {
                    tracing::error!(%event, %error, "cannot record webhook delivery");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        DeliveryOutcome::Error,
                        json!({"error": "the job queue is unavailable; redeliver later"}),
                    )
                }
            }
        }
    };
    state.metrics.delivery(&event, outcome);
    answer(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn githubs_known_answer() {
        let verifier = HmacVerifier::new(vec![Secret::new("It's a Secret to Everybody")]);
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(verifier.verify(header, b"Hello, World!"), Ok(()));
        assert_eq!(sign("It's a Secret to Everybody", b"Hello, World!"), header);
        assert_eq!(
            verifier.verify(header, b"Hello, World?"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_configured_secret_verifies() {
        let verifier = HmacVerifier::new(vec![Secret::new("old"), Secret::new("new")]);
        assert_eq!(verifier.verify(&sign("new", b"{}"), b"{}"), Ok(()));
        assert_eq!(verifier.verify(&sign("old", b"{}"), b"{}"), Ok(()));
        assert_eq!(
            verifier.verify(&sign("other", b"{}"), b"{}"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let verifier = HmacVerifier::new(vec![Secret::new("s")]);
        for header in [
            "",
            "sha256=",
            "sha1=abcd",
            "sha256=zz",
            &format!("sha256={}", "g".repeat(64)),
        ] {
            assert_eq!(
                verifier.verify(header, b"{}"),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }

    proptest::proptest! {
        /// Any change to the body or the signature is refused.
        #[test]
        fn tampering_is_refused(body in proptest::collection::vec(proptest::num::u8::ANY, 1..256), index in 0usize..256, flip in 1u8..=255) {
            let verifier = HmacVerifier::new(vec![Secret::new("s3cret")]);
            let header = sign("s3cret", &body);
            proptest::prop_assert_eq!(verifier.verify(&header, &body), Ok(()));
            let mut tampered = body.clone();
            let at = index % tampered.len();
            tampered[at] ^= flip;
            proptest::prop_assert_eq!(verifier.verify(&header, &tampered), Err(SignatureError::Mismatch));
        }
    }

    #[test]
    fn builtin_routing() {
        let events = BuiltinEvents {
            selftest_enabled: true,
        };
        assert_eq!(events.route("ping", b"{}"), Ok(Routing::Ping));
        assert!(matches!(
            events.route("star", b"{}"),
            Ok(Routing::Ignore(_))
        ));
        let dispatch = br#"{"action":"promptgate-selftest","client_payload":{"id":"t1"}}"#;
        let Ok(Routing::Enqueue(job)) = events.route("repository_dispatch", dispatch) else {
            panic!("self-test dispatch must enqueue");
        };
        assert_eq!(job.kind, JobKind::SelfTest);
        let other = br#"{"action":"deploy","client_payload":{}}"#;
        assert!(matches!(
            events.route("repository_dispatch", other),
            Ok(Routing::Ignore(_))
        ));
        let error = events
            .route("repository_dispatch", br#"{"client_payload":{}}"#)
            .unwrap_err();
        assert!(error.message.contains("action"), "{error}");
        let disabled = BuiltinEvents::default();
        assert!(matches!(
            disabled.route("repository_dispatch", dispatch),
            Ok(Routing::Ignore(_))
        ));
    }
}
