//! The App's keys went wherever a repository's `base_url` pointed (the base
//! branch's, for forks). The operator's allowlist decides: a kind's own key
//! to the kind's own endpoint, anything else only as `[[keys]]` allows it,
//! per repository; a refused run calls nothing.

use promptgate::flows::check::{CheckRequest, run_check};
use promptgate::flows::error::FlowError;
use promptgate::flows::evaluate::{KeyPolicy, RunOptions};
use promptgate::pipeline::config::{ProviderConfig, ProviderKind};
use promptgate::pipeline::provider::config_for_kind;
use promptgate::server::settings::ServeSettings;
use promptgate::types::RepoName;

use crate::support::{apply, commit_fork, example_repo};

fn table(kind: ProviderKind, base_url: &str, var: &str) -> ProviderConfig {
    ProviderConfig {
        base_url: Some(base_url.into()),
        api_key_env: Some(var.into()),
        ..config_for_kind(kind)
    }
}

#[test]
fn keys_go_only_where_the_operator_allows() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        "[[keys]]\nenv = \"LOCAL_KEY\"\nendpoints = [\"http://127.0.0.1:8000/v1\"]\n\
         repositories = [\"octo/*\"]\n",
    )
    .unwrap();
    let settings = ServeSettings::load(Some(&config), &|name| {
        (name == "PROMPTGATE_WEBHOOK_SECRET").then(|| "attack-tests-secret".to_string())
    })
    .unwrap();
    let keys = &settings.keys;
    let octo = RepoName::new("octo", "prompts");
    let mallory = RepoName::new("mallory", "prompts");
    let openai = |url: &str| table(ProviderKind::Openai, url, "OPENAI_API_KEY");
    let local = |url: &str| table(ProviderKind::OpenaiCompatible, url, "LOCAL_KEY");

    assert!(
        keys.check(&octo, "openai", &openai("https://api.openai.com/v1"))
            .is_ok()
    );
    let refused = keys
        .check(&octo, "openai", &openai("https://evil.example/v1"))
        .unwrap_err();
    assert!(
        refused.contains("OPENAI_API_KEY") && refused.contains("[[keys]]"),
        "{refused}"
    );
    assert!(
        keys.check(&octo, "local", &local("http://127.0.0.1:8000/v1"))
            .is_ok()
    );
    assert!(
        keys.check(&mallory, "local", &local("http://127.0.0.1:8000/v1"))
            .is_err()
    );
    assert!(
        keys.check(&octo, "local", &local("http://127.0.0.1:9999/v1"))
            .is_err()
    );
    assert!(
        keys.check(
            &octo,
            "local",
            &local("http://127.0.0.1.evil.example:8000/v1")
        )
        .is_err()
    );
    // The operator's own secrets are never a provider key anyway; another
    // variable at an allowed endpoint is not the allowed key.
    assert!(
        keys.check(
            &octo,
            "x",
            &table(
                ProviderKind::OpenaiCompatible,
                "http://127.0.0.1:8000/v1",
                "OTHER"
            )
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_stops_the_run_before_any_call() {
    let repo = example_repo();
    let root = repo.path();
    let config = root.join("promptgate.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[providers.openai]\nkind = \"echo\"",
        "[providers.openai]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"ATTACK_KEY\"",
    );
    std::fs::write(&config, text).unwrap();
    crate::common::git(root, &["commit", "-qam", "a provider with a key"]);
    apply(root, "regression.patch");
    commit_fork(root, "regress");
    let request = CheckRequest {
        base: Some("main".into()),
        head: Some("HEAD".into()),
        run: RunOptions {
            keys: KeyPolicy::new(|alias, _| Err(format!("{alias}: not on the allowlist"))),
            ..RunOptions::default()
        },
        ..CheckRequest::default()
    };
    let error = run_check(root, &request).await.err().expect("refused");
    assert!(matches!(error, FlowError::KeyRefused { .. }), "{error}");
    assert!(
        error.to_string().contains("not on the allowlist"),
        "{error}"
    );
}
