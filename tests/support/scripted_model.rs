//! A local OpenAI-format chat server for tests of verified suggestions: it
//! answers `POST /v1/chat/completions` on 127.0.0.1 with whatever the test's
//! script makes of the request, and keeps every request it received.
//! Each test file uses some of its scripts.
#![allow(dead_code)]

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

    /// promptgate.toml tables naming this server `scripted` and its model
    /// `scripted/suggester` the `[suggest]` model, then `settings` (more
    /// `[suggest]` keys, and tables after it).
    pub fn suggest_config(&self, settings: &str) -> String {
        format!(
            "\n[providers.scripted]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\n\
             [suggest]\nmodel = \"scripted/suggester\"\n{settings}",
            self.base_url()
        )
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

/// The questions of the cases the suggestion model was shown.
fn shown_questions(prompt: &Value) -> Vec<String> {
    prompt["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|case| case["vars"]["question"].as_str().map(str::to_owned))
        .collect()
}

/// `text` with `broken` replaced by `fixed` only for the questions shown:
/// an edit that fixes the cases the model saw and no others.
fn special_cased(text: &str, broken: &str, fixed: &str, shown: &[String]) -> String {
    text.replace(
        broken,
        &format!(
            "{{% if question in {} %}}{fixed}{{% else %}}{broken}{{% endif %}}",
            serde_json::to_string(shown).unwrap()
        ),
    )
}

/// A candidate as the answer's schema has it.
fn candidate(messages: &Value, tone: Option<&str>, place: &str, why: &str) -> Value {
    let snippets: Vec<Value> = tone
        .map(|content| json!({ "path": "snippets/tone.md", "content": content }))
        .into_iter()
        .collect();
    json!({ "messages": messages, "snippets": snippets,
            "edits": [{ "where": place, "why": why }] })
}

fn answer(candidates: [Value; 3]) -> String {
    json!({ "candidates": candidates }).to_string()
}

/// `messages` with the system message (the first) rewritten by `edit`.
fn with_system(messages: &Value, edit: impl FnOnce(&str) -> String) -> Value {
    let mut edited = messages.clone();
    let system = messages[0]["content"].as_str().expect("a system message");
    edited[0]["content"] = json!(edit(system));
    edited
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
    let messages = &prompt["messages"];
    let shown = shown_questions(prompt);
    let include = "{% include \"snippets/tone.md\" %}";
    let safe = SAFE_TONE.trim_end().replace('\n', " ");
    let fit_only = with_system(messages, |system| {
        special_cased(system, include, &safe, &shown)
    });
    answer([
        candidate(
            messages,
            Some(SAFE_TONE),
            "snippets/tone.md",
            "offer a human agent instead of promising a refund",
        ),
        candidate(
            messages,
            Some(TONE_WITHOUT_SIGN_OFF),
            "snippets/tone.md",
            "drop the refund promise and shorten the closing",
        ),
        candidate(
            &fit_only,
            None,
            "message 1",
            "answer the failing questions without the promise",
        ),
    ])
}

/// [`example_suggester`] without its first candidate: only the two that
/// must be refused.
pub fn refused_suggester(request: &Value) -> String {
    let mut answer: Value = serde_json::from_str(&example_suggester(request)).unwrap();
    answer["candidates"].as_array_mut().unwrap().remove(0);
    answer.to_string()
}

/// The line an agent adds to support-bot's system message in
/// tests/mcp/agent_loop.py: it promises refunds.
pub const AGENT_PROMISE: &str = "We will refund any customer who asks.";
/// What the verified suggestion puts in its place.
pub const AGENT_FIX: &str =
    "When a customer asks for a refund, offer to connect them with a human agent.";

/// The suggestion model for the agent's edit ([`AGENT_PROMISE`]), answering
/// with three candidates in this order:
/// 1. the promise replaced by [`AGENT_FIX`] — fixes it;
/// 2. the same, and the snippet without its sign-off — breaks `signs off`;
/// 3. the promise replaced only for the questions shown — fixes the fit
///    cases alone.
pub fn agent_edit_suggester(request: &Value) -> String {
    let prompt = &suggestion_brief(request)["prompt"];
    let messages = &prompt["messages"];
    let shown = shown_questions(prompt);
    let fixed = with_system(messages, |system| system.replace(AGENT_PROMISE, AGENT_FIX));
    let fit_only = with_system(messages, |system| {
        special_cased(system, AGENT_PROMISE, AGENT_FIX, &shown)
    });
    answer([
        candidate(
            &fixed,
            None,
            "message 1",
            "offer a human agent instead of promising a refund",
        ),
        candidate(
            &fixed,
            Some(TONE_WITHOUT_SIGN_OFF),
            "message 1 and snippets/tone.md",
            "drop the promise and shorten the closing",
        ),
        candidate(
            &fit_only,
            None,
            "message 1",
            "answer the failing questions without the promise",
        ),
    ])
}
