//! What the benches share: a provider endpoint that answers in the OpenAI
//! chat format after a fixed latency, counting the requests it served.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// How long every answer takes.
pub const LATENCY: Duration = Duration::from_millis(50);

/// `POST /v1/chat/completions`: "Answer to: <the user message>" after [`LATENCY`].
pub async fn answer(State(served): State<Arc<AtomicU64>>, Json(body): Json<Value>) -> Json<Value> {
    served.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(LATENCY).await;
    let content = body["messages"][1]["content"].as_str().unwrap_or_default();
    Json(json!({
        "choices": [{"message": {"role": "assistant", "content": format!("Answer to: {content}")}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 42, "completion_tokens": 12}
    }))
}
