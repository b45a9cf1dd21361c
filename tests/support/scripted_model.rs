//! A local OpenAI-format chat server for tests of verified suggestions: it
//! answers `POST /v1/chat/completions` on 127.0.0.1 with whatever the test's
//! script makes of the request, and keeps every request it received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

/// Turns a chat request (the JSON body) into the assistant's reply text.
pub type Script = dyn Fn(&Value) -> String + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<Value>>,
}

pub struct ScriptedModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: tokio::task::JoinHandle<()>,
}

impl ScriptedModel {
    /// Starts the server on a free port of 127.0.0.1, on the current runtime.
    pub async fn start(script: impl Fn(&Value) -> String + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            shared,
            _server: server,
        }
    }

    /// The base URL a `[providers.x]` table of kind `openai-compatible` takes.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request body received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().clone()
    }
}

async fn complete(State(shared): State<Arc<Shared>>, Json(request): Json<Value>) -> Json<Value> {
    let reply = (shared.script)(&request);
    shared.requests.lock().unwrap().push(request);
    Json(json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": reply },
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": 1200, "completion_tokens": 400 }
    }))
}

/// The example's tone snippet without the refund promise.
pub const SAFE_TONE: &str = "Write like a calm, competent colleague: short sentences, no jargon, no
exclamation marks. Never promise refunds, credits or delivery dates; when a
customer is unhappy, offer to connect them with a human agent. Sign off as
\"Nimbus Support\".
";

/// The same, but it forgets the sign-off: it breaks another criterion.
pub const TONE_WITHOUT_SIGN_OFF: &str =
    "Write like a calm, competent colleague: short sentences, no jargon, no
exclamation marks. Never promise refunds, credits or delivery dates; when a
customer is unhappy, offer to connect them with a human agent.
";

/// The brief a suggestion request carries (the user message's JSON).
pub fn suggestion_brief(request: &Value) -> Value {
    let text = request["messages"][1]["content"]
        .as_str()
        .expect("a user message");
    serde_json::from_str(text).expect("the brief is JSON")
}

/// The suggestion model for the example's regression (`regression.patch`
/// makes the tone snippet promise refunds), answering with three scripted
/// candidates in this order:
/// 1. the snippet rewritten without the promise — fixes it;
/// 2. the same without the sign-off — fixes it but breaks `signs off`;
/// 3. the system message special-cases exactly the questions it was shown
///    — fixes only the fit cases.
pub fn example_suggester(request: &Value) -> String {
    let prompt = &suggestion_brief(request)["prompt"];
    let messages = prompt["messages"].clone();
    let shown: Vec<String> = prompt["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|case| case["vars"]["question"].as_str().map(str::to_owned))
        .collect();
    let include = "{% include \"snippets/tone.md\" %}";
    let system = messages[0]["content"].as_str().expect("a system message");
    let special_cased = system.replace(
        include,
        &format!(
            "{{% if question in {} %}}{}{{% else %}}{include}{{% endif %}}",
            serde_json::to_string(&shown).unwrap(),
            SAFE_TONE.trim_end().replace('\n', " ")
        ),
    );
    let mut fit_only = messages.clone();
    fit_only[0]["content"] = json!(special_cased);
    let snippet = |content: &str| json!([{ "path": "snippets/tone.md", "content": content }]);
    json!({ "candidates": [
        { "messages": messages, "snippets": snippet(SAFE_TONE),
          "edits": [{ "where": "snippets/tone.md", "why": "offer a human agent instead of promising a refund" }] },
        { "messages": messages, "snippets": snippet(TONE_WITHOUT_SIGN_OFF),
          "edits": [{ "where": "snippets/tone.md", "why": "drop the refund promise and shorten the closing" }] },
        { "messages": fit_only, "snippets": [],
          "edits": [{ "where": "message 1", "why": "answer the failing questions without the promise" }] }
    ]})
    .to_string()
}
