//! `promptgate init`: a working starting point in an empty or existing
//! repository. Refuses to overwrite anything; `promptgate validate` passes
//! right after it.

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
description: Answers a customer's question in two or three friendly sentences.
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
  - name: short enough
    length:
      max: 600
"#;

const DATASET: &str = r#"{"id": "reset-password", "question": "How do I reset my Acme Cloud password?", "expected": "Use 'Forgot password' on the sign-in page."}
{"id": "invoice", "question": "Where can I download last month's invoice?", "expected": "Billing > Invoices in the Acme Cloud console."}
{"id": "outage", "question": "Is Acme Cloud down right now?", "expected": "Check status.acme.example for live status."}
"#;

const STORE_IGNORE: &str = ".promptgate/";

pub fn run(repo: &Path, _args: InitArgs) -> anyhow::Result<Outcome> {
    let files = [
        ("promptgate.toml", CONFIG),
        ("prompts/support-reply.prompt.yml", PROMPT),
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
        println!("wrote {path}");
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
        println!("added {STORE_IGNORE} to .gitignore");
    }
    println!("next: promptgate validate");
    Ok(Outcome::Success)
}
