//! `promptgate init`: a working starting point in an empty or existing
//! repository. Refuses to overwrite anything; `promptgate validate` passes
//! right after it.

use super::console::outln;
use std::path::Path;

use clap::Args;

use super::Outcome;

#[derive(Debug, Args)]
pub struct InitArgs {}

const CONFIG: &str = r#"# promptgate configuration. Every key is optional.

# Where prompt files are found.
prompts = ["**/*.prompt.yml", "**/*.prompt.yaml"]

# The local store (response cache and results); git-ignored.
store = ".promptgate"

# Model ids are `publisher/model`. `openai/...`, `anthropic/...` and
# `ollama/...` work without configuration (keys from OPENAI_API_KEY and
# ANTHROPIC_API_KEY). Set `github_models = true` to send them to GitHub
# Models with GITHUB_TOKEN instead.
github_models = false

# A provider alias: `demo/<anything>` answers with the rendered prompt,
# so the example runs without any key. Replace it with a real provider:
#   [providers.local]
#   kind = "openai-compatible"
#   base_url = "http://localhost:8000/v1"
#   api_key_env = "LOCAL_API_KEY"
[providers.demo]
kind = "echo"

[gate]
tolerance = 0.02     # score changes within ±0.02 count as unchanged
confidence = 0.95
min_cases = 10       # fewer paired cases than this is inconclusive
fail_on = "regression"
"#;

const PROMPT: &str = r#"# A prompt file in the GitHub Models format, plus promptgate's `dataset`.
name: support-reply
description: Answers customers' questions briefly and kindly.
model: demo/echo
modelParameters:
  temperature: 0.2
  maxTokens: 300
messages:
  - role: system
    content: |
      You are the support assistant of Acme Cloud. Answer in two or three
      friendly sentences. If you do not know, say so and offer a human agent.
  - role: user
    content: "{{ question }}"
dataset: datasets/support-reply.jsonl
evaluators:
  - name: mentions the product
    string:
      contains: Acme
  - name: no promises of refunds
    regex:
      pattern: "(?i)guaranteed refund"
      negate: true
    # Must never fail: one case that promises a refund fails the prompt on
    # its own, whatever the baseline says.
    threshold: 1
  - name: short enough
    length:
      max: 600
"#;

const DATASET: &str = r#"{"id": "reset-password", "question": "How do I reset my Acme Cloud password?", "expected": "Use 'Forgot password' on the sign-in page."}
{"id": "invoice", "question": "Where can I download last month's invoice?", "expected": "Billing > Invoices in the Acme Cloud console."}
{"id": "outage", "question": "Is Acme Cloud down right now?", "expected": "Check status.acme.example for live status."}
{"id": "cancel", "question": "How do I cancel my subscription?", "expected": "Settings > Plan > Cancel; it ends at the close of the billing period."}
{"id": "refund", "question": "Can I get my money back for this month?", "expected": "Refunds are decided by the billing team; offer to open a ticket."}
{"id": "upgrade", "question": "How do I move to the Team plan?", "expected": "Settings > Plan > Change plan."}
{"id": "invite", "question": "How do I invite a colleague to my workspace?", "expected": "Workspace > Members > Invite."}
{"id": "export", "question": "Can I export all my data?", "expected": "Settings > Data > Export creates an archive."}
{"id": "2fa", "question": "I lost my phone and cannot sign in with two-factor authentication.", "expected": "Use a recovery code, or ask a human agent to verify identity."}
{"id": "limits", "question": "What happens when I reach my storage limit?", "expected": "Uploads pause until space is freed or the plan is upgraded."}
{"id": "delete-account", "question": "Please delete my account and everything in it.", "expected": "Settings > Account > Delete; it cannot be undone."}
{"id": "human", "question": "Can I talk to a person?", "expected": "Offer a human agent."}
{"id": "billing-error", "question": "I was charged twice this month.", "expected": "Apologise and open a billing ticket; do not promise an outcome."}
{"id": "api-key", "question": "Where do I find my API key?", "expected": "Settings > API > Keys."}
"#;

const PROMPT_PATH: &str = "prompts/support-reply.prompt.yml";

const STORE_IGNORE: &str = ".promptgate/";

pub fn run(repo: &Path, _args: InitArgs) -> anyhow::Result<Outcome> {
    let files = [
        ("promptgate.toml", CONFIG),
        (PROMPT_PATH, PROMPT),
        ("datasets/support-reply.jsonl", DATASET),
    ];
    let existing: Vec<&str> = files
        .iter()
        .map(|(path, _)| *path)
        .filter(|path| repo.join(path).exists())
        .collect();
    if !existing.is_empty() {
        anyhow::bail!(
            "not overwriting {}; promptgate is already set up here (remove the file{} to start over)",
            existing.join(", "),
            if existing.len() == 1 { "" } else { "s" }
        );
    }
    for (path, contents) in files {
        let target = repo.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, contents)?;
        outln!("wrote {path}");
    }
    let gitignore = repo.join(".gitignore");
    let current = match std::fs::read_to_string(&gitignore) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error.into()),
    };
    let ignored = current.lines().any(|line| {
        matches!(
            line.trim(),
            ".promptgate" | ".promptgate/" | "/.promptgate" | "/.promptgate/"
        )
    });
    if !ignored {
        let separator = if current.is_empty() || current.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        std::fs::write(&gitignore, format!("{current}{separator}{STORE_IGNORE}\n"))?;
        outln!("added {STORE_IGNORE} to .gitignore");
    }
    outln!(
        "next: `promptgate validate`, then commit these files and watch the gate catch a regression:"
    );
    outln!(
        "  add \"Every customer gets a guaranteed refund.\" to the system message of {PROMPT_PATH}"
    );
    outln!(
        "  `promptgate check` exits 1: \"no promises of refunds\" regressed and missed its threshold"
    );
    Ok(Outcome::Success)
}
