//! `promptgate mcp` driven by the official MCP Python SDK (PyPI `mcp`) over
//! stdio, in a real git repository made from `fixtures/example`: an agent's
//! whole loop (list, evaluate, read the scores, edit a prompt, check against
//! the base and see the regression, ask for a verified fix — the scripted
//! suggestion model of tests/support/scripted_model.rs — apply it, validate,
//! check again and pass) and its errors (a broken prompt file
//! comes back as a tool error naming `file:line`, as the CLI says it).
//!
//! The client is `tests/mcp/agent_loop.py`; it prints a transcript that this
//! file asserts on. The clients are found as tests/mcp/support.rs says:
//! without them the tests fail under `CI` and skip loudly elsewhere.

mod common;
#[path = "mcp/support.rs"]
mod mcp_support;
#[path = "support/scripted_model.rs"]
mod scripted_model;

use std::path::Path;
use std::process::Command;

use scripted_model::{AGENT_FIX, AGENT_PROMISE, ScriptedModel, agent_edit_suggester};
use serde_json::Value;

/// What the agent loop leaves: its transcript, the repository (for
/// comparing with the CLI) and the suggestion model's requests.
struct Loop {
    transcript: Value,
    repo: tempfile::TempDir,
    suggestion_requests: Vec<Value>,
}

/// Runs the agent loop against a fresh example repository whose
/// `[suggest]` (committed on `main`) names the scripted model.
fn agent_loop() -> Option<Loop> {
    // The model answers on this runtime's threads while the client runs.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let model = runtime.block_on(ScriptedModel::start(agent_edit_suggester));
    let repo = common::example_repo();
    let root = repo.path();
    let config = std::fs::read_to_string(root.join("promptgate.toml")).unwrap();
    common::write(
        root,
        "promptgate.toml",
        &format!("{config}{}", model.suggest_config("candidates = 3\n")),
    );
    common::write(root, ".gitignore", ".promptgate/\n");
    common::git(root, &["add", "-A"]);
    common::git(
        root,
        &["commit", "-qm", "suggestions from the scripted model"],
    );
    let transcript = drive(root, "loop")?;
    Some(Loop {
        transcript,
        suggestion_requests: model.requests(),
        repo,
    })
}

/// Runs `tests/mcp/agent_loop.py` in `mode` against `repo`; its transcript.
fn drive(repo: &Path, mode: &str) -> Option<Value> {
    let python = mcp_support::python()?;
    let binary = env!("CARGO_BIN_EXE_promptgate");
    let repo = repo.to_str().expect("a UTF-8 temporary path");
    Some(mcp_support::run_script(
        &python,
        "agent_loop.py",
        &[binary, repo, mode],
        &[],
    ))
}

/// The criterion rows of every prompt in a JSON report, as (prompt, criterion, row).
fn criteria(report: &Value) -> Vec<(String, String, Value)> {
    let mut rows = Vec::new();
    for prompt in report["prompts"].as_array().expect("prompts in the report") {
        let name = prompt["name"].as_str().unwrap_or_default().to_owned();
        for criterion in prompt["criteria"].as_array().into_iter().flatten() {
            let criterion_name = criterion["name"].as_str().unwrap_or_default().to_owned();
            rows.push((name.clone(), criterion_name, criterion.clone()));
        }
    }
    rows
}

#[test]
fn an_agent_runs_the_loop_and_sees_the_regression_and_the_broken_file() {
    let Some(Loop {
        transcript: t,
        repo,
        suggestion_requests,
    }) = agent_loop()
    else {
        return;
    };

    // Every tool has an input schema and a structured result; the writing
    // tools are not offered without --allow-writes.
    let tools = t["tools"].as_object().unwrap();
    for name in [
        "list_prompts",
        "read_prompt",
        "diff_prompt",
        "validate",
        "estimate",
        "evaluate",
        "check",
        "suggest",
        "results",
    ] {
        let tool = &tools[name];
        assert_eq!(tool["input"]["type"], "object", "{name}: {tool}");
        assert_eq!(tool["output"]["type"], "object", "{name}: {tool}");
    }
    for name in ["publish", "promote", "rollback"] {
        assert!(!tools.contains_key(name), "{name} offered: {tools:?}");
    }
    assert!(
        t["publish_without_writes"]["protocol_error"].is_string()
            || t["publish_without_writes"]["is_error"] == true,
        "{}",
        t["publish_without_writes"]
    );

    // The four prompts of the example, as `promptgate list --json` lists
    // them (in an untouched copy: the agent has edited this one since).
    let list = &t["list"];
    assert_eq!(list["is_error"], false, "{list}");
    let untouched = common::example_repo();
    let (code, cli_list, stderr) = common::promptgate(untouched.path(), &["list", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let cli_list: Value = serde_json::from_str(&cli_list).unwrap();
    assert_eq!(list["structured"]["prompts"], cli_list);
    assert_eq!(cli_list.as_array().unwrap().len(), 4);

    // The evaluation scored every prompt; one progress step per prompt.
    let evaluate = &t["evaluate"];
    assert_eq!(evaluate["is_error"], false, "{evaluate}");
    let scored = criteria(&evaluate["structured"]["report"]);
    assert!(
        scored
            .iter()
            .any(|(p, c, _)| p == "support-bot" && c == "no refund promises"),
        "{scored:?}"
    );
    let progress = t["progress"].as_array().unwrap();
    assert_eq!(progress.len(), 5, "{progress:?}");
    assert_eq!(progress.last().unwrap()["done"], 4.0);
    assert_eq!(progress.last().unwrap()["total"], 4.0);

    // Reading the scores back gives the same report, from the store.
    let results = &t["results"];
    assert_eq!(results["is_error"], false, "{results}");
    assert_eq!(
        criteria(&results["structured"]["report"]).len(),
        scored.len()
    );
    assert!(
        results["structured"]["not_evaluated"].is_null(),
        "{results}"
    );
    let resources: Vec<&str> = t["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        resources.contains(&"promptgate://prompts/prompts/support-bot.prompt.yml"),
        "{resources:?}"
    );
    assert!(
        resources.contains(&"promptgate://reports/last-eval"),
        "{resources:?}"
    );
    let last_eval: Value = serde_json::from_str(t["last_eval_resource"].as_str().unwrap()).unwrap();
    assert_eq!(criteria(&last_eval).len(), scored.len());

    // After the edit: the diff shows it, and the check fails the gate on
    // the criterion it broke, as `promptgate check` does.
    assert!(
        t["diff"]["structured"]["markdown"]
            .as_str()
            .unwrap()
            .contains("refund"),
        "{}",
        t["diff"]
    );
    let check = &t["check"];
    assert_eq!(check["is_error"], false, "{check}");
    assert_eq!(check["structured"]["gate_failed"], true, "{check}");
    assert_eq!(check["structured"]["status"], "fail", "{check}");
    let regressed = criteria(&check["structured"]["report"])
        .into_iter()
        .find(|(p, c, _)| p == "support-bot" && c == "no refund promises")
        .expect("the refund criterion in the check");
    assert_eq!(regressed.2["verdict"], "regressed", "{}", regressed.2);
    assert!(
        check["structured"]["summary"]
            .as_str()
            .unwrap()
            .lines()
            .any(|l| l.contains("no refund promises") && l.contains("regressed")),
        "{check}"
    );
    assert_eq!(t["check_results"]["structured"]["gate_failed"], true);

    // The failing gate: a verified fix, found by the scripted model.
    assert_suggested_and_applied(&t, &suggestion_requests);

    // The broken file: a tool error with the messages the CLI prints.
    let broken = &t["validate_broken"];
    assert_eq!(broken["is_error"], true, "{broken}");
    let text = broken["text"].as_str().unwrap();
    assert!(
        text.contains("prompts/broken.prompt.yml:6:1: error:"),
        "{text}"
    );
    let (code, _, cli_stderr) = common::promptgate(repo.path(), &["validate"]);
    assert_eq!(code, 2);
    for line in cli_stderr
        .lines()
        .filter(|l| l.contains("broken.prompt.yml:"))
    {
        assert!(
            text.contains(line.trim()),
            "the CLI says `{line}`; the tool said:\n{text}"
        );
    }
    let listed = &t["list_broken"];
    assert_eq!(listed["is_error"], true, "{listed}");
    assert!(
        listed["text"]
            .as_str()
            .unwrap()
            .contains("prompts/broken.prompt.yml:6:1: error:"),
        "{listed}"
    );
}

/// The suggestion steps of the loop: the real fix is verified and the
/// other candidates refused with their reasons; applying it through the
/// tool writes exactly the edit it described, which validates and passes
/// the gate.
fn assert_suggested_and_applied(t: &Value, requests: &[Value]) {
    let suggest = &t["suggest"];
    assert_eq!(suggest["is_error"], false, "{suggest}");
    let answer = &suggest["structured"];
    assert_eq!(answer["gate_failed"], true, "{answer}");
    assert_eq!(
        answer["applied"],
        serde_json::json!([]),
        "not asked to apply"
    );
    let found = &answer["suggestions"][0];
    assert_eq!(found["prompt"], "support-bot", "{found}");
    assert_eq!(found["status"], "verified", "{found}");
    assert_eq!(found["target"], "no refund promises", "{found}");
    assert_eq!(found["split"]["fit"], 5, "{found}");
    assert_eq!(found["split"]["held_out"], 10, "{found}");
    let fates = found["candidates"].as_array().unwrap();
    assert_eq!(fates.len(), 3, "{found}");
    assert_eq!(fates[0]["survived"], true, "{found}");
    assert_eq!(
        fates[1]["rejected"], "`signs off` regressed on all cases",
        "{found}"
    );
    let fit_only = fates[2]["rejected"].as_str().unwrap();
    assert!(
        fit_only.contains("it improves the cases the model was shown, not the held-out ones"),
        "{fit_only}"
    );
    // Progress: the check, then the one prompt, then done.
    let steps: Vec<(f64, f64, &str)> = t["suggest_progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let n = |key: &str| s[key].as_f64().unwrap();
            (n("done"), n("total"), s["message"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        steps,
        [
            (0.0, 1.0, "checking"),
            (1.0, 2.0, "suggesting a fix for support-bot"),
            (2.0, 2.0, "done")
        ],
        "{t}"
    );
    let verified = &found["verified"];
    let held_out = verified["held_out"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["criterion"] == "no refund promises")
        .expect("the target on the held-out cases");
    assert_eq!(held_out["verdict"], "improved", "{held_out}");
    assert_eq!(held_out["delta"], 1.0, "{held_out}");
    assert!(
        held_out["interval"][0].as_f64().unwrap() > 0.0,
        "{held_out}"
    );
    assert!(
        verified["all_cases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["verdict"] != "regressed"),
        "{verified}"
    );
    let edits = verified["edits"].as_array().unwrap();
    assert_eq!(edits.len(), 1, "only the prompt file: {verified}");
    let edit = &edits[0];
    assert_eq!(edit["path"], "prompts/support-bot.prompt.yml");
    assert_eq!(edit["snippet"], false);
    assert_eq!(
        (edit["start_line"].as_u64(), edit["end_line"].as_u64()),
        (Some(13), Some(13))
    );
    assert_eq!(edit["old_text"], format!("      {AGENT_PROMISE}"));
    assert_eq!(edit["new_text"], format!("      {AGENT_FIX}"));
    assert!(
        verified["diff_markdown"]
            .as_str()
            .unwrap()
            .contains("human agent"),
        "{verified}"
    );
    // Priced as the CLI prices it; the second call (apply) was answered
    // from the cache.
    assert!(
        found["cost"]["calls_made"].as_u64().unwrap() >= 1,
        "{found}"
    );
    assert_eq!(requests.len(), 1, "one request to the suggestion model");

    let applied = &t["suggest_apply"];
    assert_eq!(applied["is_error"], false, "{applied}");
    assert_eq!(
        applied["structured"]["applied"],
        serde_json::json!(["prompts/support-bot.prompt.yml"]),
        "{applied}"
    );
    assert_eq!(t["applied_as_described"], true, "{t}");
    let prompt = t["prompt_after_apply"].as_str().unwrap();
    assert!(
        prompt.contains(AGENT_FIX) && !prompt.contains(AGENT_PROMISE),
        "{prompt}"
    );
    assert_eq!(t["validate_after_apply"]["is_error"], false, "{t}");
    let again = &t["check_after_apply"];
    assert_eq!(again["is_error"], false, "{again}");
    assert_eq!(again["structured"]["gate_failed"], false, "{again}");
}

/// A cancelled evaluation stops: the scorer it had started is killed before
/// it finishes (it would leave a file behind), nothing is stored, and the
/// server answers the next call at once.
#[test]
fn a_cancelled_evaluation_stops_its_run() {
    let repo = common::example_repo();
    // The scorer takes 4 s per case, then leaves a mark.
    common::write(
        repo.path(),
        "slow-score.sh",
        "#!/bin/sh\nsleep 4\ntouch \"scored-$$\"\necho 1\n",
    );
    let script = repo.path().join("slow-score.sh");
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    common::write(
        repo.path(),
        "prompts/slow.prompt.yml",
        "name: slow\nmodel: openai/gpt-4o-mini\nmessages:\n  - role: user\n    content: \"{{q}}\"\n\
         testData:\n  - q: one\n  - q: two\nevaluators:\n  - name: slow\n    command:\n      \
         program: ./slow-score.sh\n",
    );
    let Some(t) = drive(repo.path(), "cancel") else {
        return;
    };
    assert_eq!(t["abandoned"], true, "{t}");
    assert!(t["seconds"].as_f64().unwrap() < 3.0, "{t}");
    let after = &t["after"];
    assert_eq!(after["is_error"], false, "{after}");
    assert_eq!(
        after["structured"]["not_evaluated"],
        serde_json::json!(["slow"]),
        "{after}"
    );
    // The client kept the session open 6 s more: had the run gone on, the
    // scorer would have finished.
    let marks: Vec<_> = std::fs::read_dir(repo.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("scored-"))
        .collect();
    assert!(marks.is_empty(), "the scorer ran to its end: {marks:?}");
}

#[test]
fn the_inspector_lists_the_tools_and_finds_their_schemas_portable() {
    let Some(inspector) = mcp_support::inspector() else {
        return;
    };
    let repo = common::example_repo();
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(inspector)
        .arg("--cli")
        .arg("--cwd")
        .arg(repo.path())
        // Schema portability problems are reported and fail with exit 6.
        .args(["--strict", "--method", "tools/list"])
        .arg(env!("CARGO_BIN_EXE_promptgate"))
        .args(["mcp", "--allow-writes"])
        // Its catalog of servers goes to a scratch home, not the user's.
        .env("HOME", scratch.path())
        .env_remove("PROMPTGATE_REGISTRY")
        .output()
        .expect("the inspector runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        mcp_support::listed_tool_names(&stdout),
        [
            "check",
            "diff_prompt",
            "estimate",
            "evaluate",
            "list_prompts",
            "promote",
            "publish",
            "read_prompt",
            "results",
            "rollback",
            "suggest",
            "validate"
        ]
    );
}
