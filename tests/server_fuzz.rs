//! The OpenAPI document is the contract: `promptgate serve` runs as a real
//! process on loopback over a seeded SQLite database, and schemathesis (PyPI,
//! a property-based API fuzzer) generates requests for every operation of its
//! `/openapi.json` — no answer may be a 5xx, every answer must match the
//! documented status, content type and schema, and a secured route must not
//! ignore its key. Separately, every secured route is called without a key and
//! with a wrong one: each must answer 401.
//!
//! schemathesis is found at `$PROMPTGATE_SCHEMATHESIS`, then
//! `.venv-test/bin/schemathesis` (scripts/install-test-deps.sh), then `PATH`.
//! Without it the test skips loudly, and fails when `CI` is set.

#[path = "support/serve_process.rs"]
mod serve_process;

use std::path::{Path, PathBuf};
use std::time::Duration;

use promptgate::edges::db::Database;
use promptgate::edges::registry::sql::SqlRegistry;
use promptgate::edges::registry::{
    GateOutcome, LabelTarget, Namespace, NewVersion, PublishInput, Registry, publish_prompt,
};
use promptgate::server::{ApiKeys, KeyReach, Scope, openapi, schema};
use promptgate::types::{
    EvalResult, Fingerprint, MessageTemplate, ModelId, ModelParameters, PromptContent,
    ResponseFormat, Role, VersionId,
};
use serve_process::ServeProcess;

fn schemathesis() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PROMPTGATE_SCHEMATHESIS") {
        return Some(PathBuf::from(path));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/schemathesis");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("schemathesis"))
            .find(|candidate| candidate.is_file())
    })
}

fn content(text: &str) -> PromptContent {
    PromptContent {
        semantics: Default::default(),
        messages: vec![
            MessageTemplate {
                role: Role::System,
                content: "You summarise.".into(),
            },
            MessageTemplate {
                role: Role::User,
                content: text.into(),
            },
        ],
        model: ModelId {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
        },
        parameters: ModelParameters {
            temperature: Some(0.1),
            ..Default::default()
        },
        response_format: ResponseFormat::Text,
    }
}

/// `summarize` v1 and v2 in `octo/prompts` (v1 with no result, v2 with a
/// passed gate), `production` on v1 and `staging` on v2; and a prompt of the
/// same name in `other/app`, which the fuzzer's key does not reach.
async fn seed(database: &str) -> String {
    let db = Database::connect(database, 2).await.unwrap();
    schema::migrate(&db).await.unwrap();
    let registry = SqlRegistry::on(db.clone());
    let octo = registry.scoped(&Namespace::parse("octo/prompts").unwrap());
    let other = registry.scoped(&Namespace::parse("other/app").unwrap());
    for (view, text, gate) in [
        (&octo, "v1: {{text}}", None),
        (&octo, "v2: {{text}}", Some(GateOutcome::Passed)),
        (&other, "theirs: {{text}}", None),
    ] {
        let id = VersionId(format!(
            "{:x}",
            text.len() * 7919 + text.as_bytes()[1] as usize
        ));
        let result = gate.map(|_| EvalResult {
            prompt: "summarize".into(),
            version: id.clone(),
            fingerprint: Fingerprint("fp-seed".into()),
            model: "openai/gpt-4o-mini".into(),
            from_model: false,
            criteria: Vec::new(),
            cases: Default::default(),
            created_at: "2026-12-01T00:00:00Z".into(),
        });
        publish_prompt(
            view.as_ref(),
            PublishInput {
                version: NewVersion {
                    prompt: "summarize".into(),
                    id,
                    content: content(text),
                    parent: None,
                    git_commit: Some("0123abcd".into()),
                    author: "Ada <ada@example.com>".into(),
                    message: Some("seeded".into()),
                },
                result,
                gate: gate.unwrap_or(GateOutcome::NotRun),
            },
        )
        .await
        .unwrap();
    }
    for (label, number) in [("staging", 2), ("production", 1)] {
        octo.move_label(promptgate::edges::registry::MoveLabel {
            prompt: "summarize".into(),
            label: label.into(),
            to: LabelTarget::Version(number),
            expect: promptgate::edges::registry::ExpectFrom::Anything,
            kind: promptgate::edges::registry::MoveKind::Set,
            forced: false,
            actor: "seed".into(),
            reason: None,
        })
        .await
        .unwrap();
    }
    let key = ApiKeys::new(db.clone())
        .create(
            "fuzzer",
            Scope::Admin,
            KeyReach::Repos(vec![Namespace::parse("octo/prompts").unwrap()]),
        )
        .await
        .unwrap()
        .key
        .expose()
        .to_string();
    db.close().await;
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_server_keeps_its_openapi_contract() {
    let Some(fuzzer) = schemathesis() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "schemathesis is not installed, and CI is set: run scripts/install-test-deps.sh"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!! SKIPPED: the OpenAPI fuzz: schemathesis is not installed (scripts/install-test-deps.sh) !!!!!"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("server.db").display());
    let key = seed(&database).await;
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "").unwrap();
    let log = dir.path().join("serve.log");
    let server = ServeProcess::start(
        &config,
        &[
            (
                "PROMPTGATE_WEBHOOK_SECRET",
                "fuzz-secret-0123456789abcdef".to_string(),
            ),
            ("PROMPTGATE_DATABASE_URL", database.clone()),
        ],
        &log,
    )
    .await;
    let base = format!("http://{}", server.address);

    // Every secured route refuses a missing or a wrong key.
    let client = reqwest::Client::new();
    let document = openapi::document();
    for (path, method) in openapi::ROUTES {
        let secured = document["paths"][path][method].get("security").is_some();
        if !secured {
            continue;
        }
        let url = format!("{base}{}", openapi::example_path(path));
        for auth in [
            None,
            Some("Bearer pgk_not_a_key"),
            Some("Basic b2N0bzpwdw=="),
        ] {
            let mut request = client
                .request(method.to_uppercase().parse().unwrap(), &url)
                .header("content-type", "application/json")
                .body("{}")
                .timeout(Duration::from_secs(10));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let status = request.send().await.unwrap().status();
            assert_eq!(status.as_u16(), 401, "{method} {path} with {auth:?}");
        }
    }

    // The seeded repository and prompt as path parameters, so requests
    // reach the registry instead of ending at 404.
    let settings = dir.path().join("schemathesis.toml");
    std::fs::write(
        &settings,
        "[parameters]\n\"path.owner\" = \"octo\"\n\"path.repo\" = \"prompts\"\n\"path.name\" = \"summarize\"\n",
    )
    .unwrap();
    // A prompt version's content and an evaluation result are documented as
    // objects, not field by field, so the server refuses (400, naming the
    // field) objects the fuzzer makes up; a review label names a judged
    // output the server must store, which a made-up one is not (404): those
    // operations run every check but "schema-valid data is accepted"; every
    // other operation, all.
    const LOOSE_BODIES: [&str; 3] = ["publishVersion", "recordResult", "recordReviewLabel"];
    let mut runs = vec![(vec!["--checks", "all"], Vec::new())];
    let mut rest = vec![
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
    ];
    let mut first_filter = Vec::new();
    for id in LOOSE_BODIES {
        first_filter.extend(["--exclude-operation-id", id]);
        rest.extend(["--include-operation-id", id]);
    }
    runs[0].1 = first_filter;
    runs.push((rest, Vec::new()));
    let mut said = String::new();
    let mut passed = true;
    for (checks, filter) in runs {
        let output = tokio::process::Command::new(&fuzzer)
            .arg("--config-file")
            .arg(&settings)
            .args(["run", &format!("{base}/openapi.json")])
            .args(&checks)
            .args(&filter)
            // The webhook route is authenticated by HMAC, not an API key:
            // its own tests sign deliveries.
            .args(["--exclude-path", "/webhooks/github"])
            // Gone routes (410 whatever is sent) are checked above, not fuzzed.
            .arg("--exclude-deprecated")
            // The coverage phase crashes inside hypothesis on CPython 3.11
            // (`SystemError: AST constructor recursion depth mismatch`), a
            // tool bug unrelated to the server; the other phases run.
            .args(["--phases", "examples,fuzzing,stateful"])
            .args(["--header", &format!("Authorization: Bearer {key}")])
            .args(["--max-examples", "25", "--seed", "17", "--workers", "2"])
            .args(["--request-timeout", "10"])
            .arg("--no-color")
            .current_dir(dir.path())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(600), output)
            .await
            .expect("schemathesis finished within 10 minutes")
            .unwrap();
        passed &= output.status.success();
        said.push_str(&String::from_utf8_lossy(&output.stdout));
        said.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    assert!(
        !said.contains(&key),
        "the key must not be printed (schemathesis sanitises headers)"
    );
    server.stop().await;
    assert!(passed, "schemathesis found problems:\n{said}");
}
