//! GitHub's own example payloads (`@octokit/webhooks-examples`, trimmed in
//! `fixtures/github/webhooks/`) through the parser and the signature check.

#[path = "support/fake_github/mod.rs"]
mod fake_github;

use fake_github::webhook_examples;
use promptgate::edges::github::Secret;
use promptgate::edges::github::webhook::{
    Command, Event, InstallationAction, PrAction, RerequestSource, SignatureError, WebhookSecrets,
    parse_event, sign,
};
use serde_json::Value;

const EVENTS: &[&str] = &[
    "pull_request",
    "push",
    "check_run",
    "check_suite",
    "issue_comment",
    "repository_dispatch",
    "installation",
    "installation_repositories",
    "ping",
];

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

/// What each example must become, decided from the example itself.
fn expect_variant(event: &str, action: Option<&str>, payload: &Value, parsed: &Event) {
    let ctx = format!("{event}/{action:?} → {parsed:?}");
    match (event, action) {
        ("pull_request", Some(a @ ("opened" | "synchronize" | "reopened"))) => {
            let Event::PullRequest(pr) = parsed else {
                panic!("{ctx}")
            };
            let want = match a {
                "opened" => PrAction::Opened,
                "synchronize" => PrAction::Synchronize,
                _ => PrAction::Reopened,
            };
            assert_eq!(pr.action, want, "{ctx}");
            assert_eq!(pr.number.0, payload["number"].as_u64().unwrap(), "{ctx}");
            assert_eq!(
                pr.head_sha.0, payload["pull_request"]["head"]["sha"],
                "{ctx}"
            );
            let fork = payload["pull_request"]["head"]["repo"]["full_name"]
                != payload["pull_request"]["base"]["repo"]["full_name"];
            assert_eq!(pr.fork, fork, "{ctx}");
        }
        ("pull_request", Some("closed")) if payload["pull_request"]["merged"] == true => {
            assert!(matches!(parsed, Event::PullRequestMerged(_)), "{ctx}")
        }
        ("pull_request", _) => assert!(matches!(parsed, Event::Ignored { .. }), "{ctx}"),
        ("push", _) => {
            let Event::Push(push) = parsed else {
                panic!("{ctx}")
            };
            assert_eq!(push.git_ref, payload["ref"], "{ctx}");
            assert_eq!(push.after.0, payload["after"], "{ctx}");
        }
        ("check_run" | "check_suite", Some("rerequested")) => {
            let Event::Rerequested(r) = parsed else {
                panic!("{ctx}")
            };
            let source = if event == "check_run" {
                RerequestSource::CheckRun
            } else {
                RerequestSource::CheckSuite
            };
            assert_eq!(r.source, source, "{ctx}");
            assert_eq!(r.head_sha.0, payload[event]["head_sha"], "{ctx}");
        }
        ("check_run" | "check_suite", _) => {
            assert!(matches!(parsed, Event::Ignored { .. }), "{ctx}")
        }
        // GitHub's examples carry no /promptgate command.
        ("issue_comment", _) => assert!(matches!(parsed, Event::Ignored { .. }), "{ctx}"),
        ("repository_dispatch", Some("promptgate-model-changed")) => {
            let Event::ModelChanged(m) = parsed else {
                panic!("{ctx}")
            };
            assert_eq!(m.model, "openai/gpt-4o-mini");
        }
        ("repository_dispatch", _) => assert!(matches!(parsed, Event::Ignored { .. }), "{ctx}"),
        ("installation", Some(a)) => {
            let Event::Installation(i) = parsed else {
                panic!("{ctx}")
            };
            let want = match a {
                "created" => InstallationAction::Created,
                "deleted" => InstallationAction::Deleted,
                "suspend" => InstallationAction::Suspend,
                "unsuspend" => InstallationAction::Unsuspend,
                _ => InstallationAction::NewPermissionsAccepted,
            };
            assert_eq!(i.action, want, "{ctx}");
            assert_eq!(
                i.installation.0,
                payload["installation"]["id"].as_u64().unwrap()
            );
        }
        ("installation_repositories", _) => {
            let Event::InstallationRepositories(i) = parsed else {
                panic!("{ctx}")
            };
            let added = payload["repositories_added"].as_array().map_or(0, Vec::len);
            assert_eq!(i.added.len(), added, "{ctx}");
        }
        ("ping", _) => assert!(matches!(parsed, Event::Ping { .. }), "{ctx}"),
        _ => panic!("no expectation for {ctx}"),
    }
}

#[test]
fn every_recorded_example_parses_to_the_expected_variant() {
    let mut summary = Vec::new();
    let mut count = 0;
    for &event in EVENTS {
        let mut files = vec![event.to_owned()];
        if event == "repository_dispatch" {
            files.push("repository_dispatch.promptgate".into());
        }
        for file in files {
            let examples = webhook_examples(&file);
            assert!(!examples.is_empty(), "{file} has examples");
            for (action, body) in examples {
                let parsed = parse_event(event, &body)
                    .unwrap_or_else(|e| panic!("{file} ({action:?}): {e}"));
                expect_variant(event, action.as_deref(), &json(&body), &parsed);
                summary.push(format!(
                    "{file} {}: {}",
                    action.as_deref().unwrap_or("-"),
                    describe(&parsed)
                ));
                count += 1;
            }
        }
    }
    assert!(count >= 50, "{count} examples");
    insta::assert_snapshot!(summary.join("\n"));
}

/// A one-line, stable summary of an event for the snapshot.
fn describe(event: &Event) -> String {
    match event {
        Event::PullRequest(p) => format!(
            "PullRequest {:?} {} {} fork={} installation={:?}",
            p.action,
            p.repo,
            p.number,
            p.fork,
            p.installation.map(|i| i.0)
        ),
        Event::PullRequestMerged(m) => format!(
            "PullRequestMerged {} {} into {}",
            m.repo, m.number, m.base_ref
        ),
        Event::Push(p) => format!(
            "Push {} {} default={:?} to_default={} deleted={}",
            p.repo,
            p.git_ref,
            p.default_branch,
            p.is_to_default_branch(),
            p.deleted
        ),
        Event::Rerequested(r) => format!(
            "Rerequested {:?} {} prs={:?}",
            r.source, r.repo, r.pull_requests
        ),
        Event::Command(c) => format!("Command {:?} by {} on {}", c.command, c.author, c.number),
        Event::ModelChanged(m) => format!("ModelChanged {} {}", m.repo, m.model),
        Event::Installation(i) => format!(
            "Installation {:?} {} {} repos={}",
            i.action,
            i.installation.0,
            i.account,
            i.repositories.len()
        ),
        Event::InstallationRepositories(i) => format!(
            "InstallationRepositories {} +{} -{}",
            i.installation.0,
            i.added.len(),
            i.removed.len()
        ),
        Event::Ping { hook_id, .. } => format!("Ping hook={hook_id:?}"),
        Event::Ignored { action, reason, .. } => format!("Ignored {action:?}: {reason}"),
    }
}

#[test]
fn commands_in_real_comment_payloads_are_recognised() {
    let mut checked = 0;
    for (action, body) in webhook_examples("issue_comment") {
        if action.as_deref() != Some("created") {
            continue;
        }
        let mut payload = json(&body);
        payload["comment"]["body"] = "LGTM\n/promptgate rerun --all".into();
        payload["comment"]["user"]["type"] = "User".into();
        // GitHub's examples are comments on issues: a command there is ignored.
        payload["issue"]
            .as_object_mut()
            .unwrap()
            .remove("pull_request");
        let parsed = parse_event("issue_comment", payload.to_string().as_bytes()).unwrap();
        assert!(matches!(parsed, Event::Ignored { .. }), "{parsed:?}");

        // The same comment on a pull request (GitHub marks the issue with `pull_request`).
        payload["issue"]["pull_request"] =
            serde_json::json!({"url": "https://api.github.com/repos/o/r/pulls/1"});
        let parsed = parse_event("issue_comment", payload.to_string().as_bytes()).unwrap();
        let Event::Command(c) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(c.command, Command::Rerun { all: true });
        assert_eq!(c.author, payload["comment"]["user"]["login"]);
        assert_eq!(c.number.0, payload["issue"]["number"].as_u64().unwrap());

        // The same command from a bot is ignored: no loops.
        payload["comment"]["user"]["type"] = "Bot".into();
        let parsed = parse_event("issue_comment", payload.to_string().as_bytes()).unwrap();
        assert!(matches!(parsed, Event::Ignored { .. }), "{parsed:?}");
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn signatures_of_real_payloads_verify_and_tampering_is_refused() {
    let secret = Secret::new("It's a Secret to Everybody");
    let secrets = WebhookSecrets::parse("rotated-out,It's a Secret to Everybody").unwrap();
    // GitHub's documented known answer.
    assert_eq!(
        sign(&secret, b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    for &event in EVENTS {
        for (_, body) in webhook_examples(event) {
            let signature = sign(&secret, &body);
            assert_eq!(secrets.verify(Some(&signature), &body), Ok(()));
            assert_eq!(secrets.verify(None, &body), Err(SignatureError::Missing));
            let wrong = sign(&Secret::new("not the secret"), &body);
            assert_eq!(
                secrets.verify(Some(&wrong), &body),
                Err(SignatureError::Mismatch)
            );
            let mut altered = body.clone();
            let middle = altered.len() / 2;
            altered[middle] ^= 0x20;
            assert_eq!(
                secrets.verify(Some(&signature), &altered),
                Err(SignatureError::Mismatch),
                "{event}: one byte changed"
            );
        }
    }
}
