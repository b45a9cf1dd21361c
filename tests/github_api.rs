//! The real octocrab-backed client against the contract-checked fake GitHub.

#[path = "support/fake_github/mod.rs"]
mod fake_github;

use std::future::Future;
use std::time::Duration;

use fake_github::{APP_PRIVATE_KEY, APP_SLUG, FakeGitHub};
use promptgate::edges::github::{
    Annotation, AnnotationLevel, AppCredentials, COMMENT_MARKER, CheckHandle, CheckOutcome,
    ClientOptions, CommentOutcome, Conclusion, DeploymentState, FileChange, GitHubApi, GitHubApp,
    GitHubClient, GitHubError, IssueOutcome, NewDeployment, Permission, RetryPolicy, Secret,
};

/// Every test finishes within seconds or fails.
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test timed out")
}

/// Short waits so retry tests stay fast; everything else as in production.
fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
    }
}

fn client(gh: &FakeGitHub, token: Secret) -> GitHubClient {
    GitHubClient::new(&gh.api_url(), token, options()).expect("client")
}

fn outcome(annotations: usize) -> CheckOutcome {
    CheckOutcome {
        conclusion: Conclusion::Failure,
        title: "summarize: accuracy regressed".into(),
        summary: "| prompt | criterion | base | head |\n|---|---|---|---|\n".into(),
        annotations: (0..annotations)
            .map(|i| Annotation {
                path: "prompts/summarize.prompt.yml".into(),
                start_line: i as u32 + 1,
                end_line: i as u32 + 1,
                level: AnnotationLevel::Failure,
                title: Some(format!("case {i}")),
                message: format!("case {i} regressed: 0.9 → 0.4"),
            })
            .collect(),
        details_url: None,
    }
}

#[tokio::test]
async fn sticky_comment_is_found_among_150_and_updated_in_place() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_pr(&repo, "tone", &[("prompts/a.prompt.yml", "name: a\n")]);
        for i in 0..150 {
            gh.add_comment_by(&repo, pr, "reviewer", &format!("comment {i}"));
            if i == 120 {
                // Ours, deep in the third page.
                gh.add_comment_by(
                    &repo,
                    pr,
                    "github-actions[bot]",
                    &format!("old report\n{COMMENT_MARKER}"),
                );
            }
        }
        let api = client(&gh, gh.actions_token());
        let outcome = api
            .upsert_sticky_comment(&repo, pr, "new report")
            .await
            .unwrap();
        let comments = gh.comments(&repo, pr);
        assert_eq!(comments.len(), 151, "no second comment");
        let ours: Vec<_> = comments
            .iter()
            .filter(|c| c.body.contains(COMMENT_MARKER))
            .collect();
        assert_eq!(ours.len(), 1);
        assert_eq!(outcome, CommentOutcome::Updated { id: ours[0].id });
        assert_eq!(ours[0].body, format!("new report\n{COMMENT_MARKER}"));
        assert_eq!(ours[0].edits, 1);
        // 151 comments at 100 a page: both pages were read.
        assert_eq!(gh.requests_to("issues/list-comments").len(), 2);
    })
    .await
}

#[tokio::test]
async fn a_marker_pasted_by_someone_else_is_never_updated() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_pr(&repo, "tone", &[("prompts/a.prompt.yml", "name: a\n")]);
        let pasted = format!("ha, fake report\n{COMMENT_MARKER}");
        let theirs = gh.add_comment_by(&repo, pr, "mallory", &pasted);
        let api = client(&gh, gh.actions_token());

        let first = api
            .upsert_sticky_comment(&repo, pr, "report v1")
            .await
            .unwrap();
        let CommentOutcome::Created { id } = first else {
            panic!("expected a new comment, got {first:?}");
        };
        let second = api
            .upsert_sticky_comment(&repo, pr, "report v2")
            .await
            .unwrap();
        assert_eq!(second, CommentOutcome::Updated { id });

        let comments = gh.comments(&repo, pr);
        let mallory = comments.iter().find(|c| c.id == theirs).unwrap();
        assert_eq!(mallory.body, pasted);
        assert_eq!(mallory.edits, 0);
        let ours = comments.iter().find(|c| c.id == id).unwrap();
        assert_eq!(ours.author, "github-actions[bot]");
        assert!(ours.body.starts_with("report v2"));
        assert_eq!(comments.len(), 2);
    })
    .await
}

#[tokio::test]
async fn check_run_with_120_annotations_is_sent_in_three_requests() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_pr(&repo, "tone", &[("prompts/summarize.prompt.yml", "x")]);
        let sha = promptgate::types::CommitSha(gh.pull(&repo, pr).head_sha);
        let api = client(&gh, gh.actions_token());

        let handle = api
            .start_check(&repo, "promptgate", &sha, None, None)
            .await
            .unwrap();
        let runs = gh.check_runs(&repo, &sha);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, "in_progress");
        assert_eq!(handle, CheckHandle::CheckRun { id: runs[0].id });

        api.finish_check(&repo, &handle, &outcome(120))
            .await
            .unwrap();
        let updates = gh.requests_to("checks/update");
        let sizes: Vec<usize> = updates
            .iter()
            .map(|r| {
                r.body.as_ref().unwrap()["output"]["annotations"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        let run = &gh.check_runs(&repo, &sha)[0];
        assert_eq!(run.status, "completed");
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        assert_eq!(run.annotations.len(), 120);
        assert_eq!(run.annotations[119]["start_line"], 120);
        assert!(gh.statuses(&repo, &sha).is_empty());
    })
    .await
}

#[tokio::test]
async fn forbidden_check_runs_fall_back_to_a_commit_status() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_pr(&repo, "tone", &[("prompts/a.prompt.yml", "x")]);
        let sha = promptgate::types::CommitSha(gh.pull(&repo, pr).head_sha);
        gh.forbid_check_runs();
        let api = client(&gh, gh.actions_token());

        let handle = api
            .start_check(&repo, "promptgate", &sha, None, None)
            .await
            .unwrap();
        assert!(matches!(handle, CheckHandle::Status { .. }), "{handle:?}");
        api.finish_check(&repo, &handle, &outcome(3)).await.unwrap();

        assert!(gh.check_runs(&repo, &sha).is_empty());
        let states: Vec<(String, String)> = gh
            .statuses(&repo, &sha)
            .into_iter()
            .map(|s| (s.context, s.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("promptgate".to_owned(), "pending".to_owned()),
                ("promptgate".to_owned(), "failure".to_owned())
            ]
        );
    })
    .await
}

#[tokio::test]
async fn a_403_names_the_missing_permission_and_never_the_token() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        gh.forbid_check_runs();
        let token = gh.actions_token();
        let api = client(&gh, token.clone());
        let sha = promptgate::types::CommitSha("a".repeat(40));
        let err = api
            .create_check_run(&repo, "promptgate", &sha, None, None)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, GitHubError::Forbidden { .. }), "{err:?}");
        assert!(text.contains("checks: write"), "{text}");
        assert!(
            text.contains("create a check run (POST /repos/octo/prompts/check-runs)"),
            "{text}"
        );
        assert!(!text.contains(token.expose()), "{text}");
        assert!(!format!("{err:?}{api:?}").contains(token.expose()));
    })
    .await
}

#[tokio::test]
async fn a_502_then_success_is_retried() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_pr(&repo, "tone", &[("prompts/a.prompt.yml", "x")]);
        let api = client(&gh, gh.actions_token());

        gh.fail_next("issues/create-comment", 502, 1);
        let outcome = api
            .upsert_sticky_comment(&repo, pr, "report")
            .await
            .unwrap();
        assert!(matches!(outcome, CommentOutcome::Created { .. }));
        let attempts: Vec<u16> = gh
            .requests_to("issues/create-comment")
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(attempts, vec![502, 201]);
        assert_eq!(gh.comments(&repo, pr).len(), 1);

        // Persistent failure: gives up after the policy's attempts, naming the call.
        gh.fail_next("pulls/get", 503, 10);
        let err = api.pull_request(&repo, pr).await.unwrap_err();
        assert_eq!(err.status(), Some(503));
        assert!(err.to_string().contains("get the pull request"), "{err}");
        assert_eq!(gh.requests_to("pulls/get").len(), 4);
    })
    .await
}

#[tokio::test]
async fn a_secondary_rate_limit_waits_for_retry_after() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_pr(&repo, "tone", &[("prompts/a.prompt.yml", "x")]);
        let api = client(&gh, gh.actions_token());
        gh.rate_limit_next("pulls/list-files", 1);
        let started = std::time::Instant::now();
        let files = api.pull_request_files(&repo, pr).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After honoured"
        );
        assert_eq!(files.len(), 1);

        // A wait longer than the policy allows is reported, not slept through.
        let impatient = GitHubClient::new(
            &gh.api_url(),
            gh.actions_token(),
            ClientOptions {
                retry: RetryPolicy {
                    max_wait: Duration::from_secs(5),
                    ..options().retry
                },
                ..options()
            },
        )
        .unwrap();
        gh.rate_limit_next("pulls/list-files", 3600);
        let err = impatient.pull_request_files(&repo, pr).await.unwrap_err();
        assert!(
            matches!(
                err,
                GitHubError::RateLimited {
                    wait_secs: 3600,
                    ..
                }
            ),
            "{err:?}"
        );
    })
    .await
}

#[tokio::test]
async fn pull_request_files_contents_and_compare() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        gh.commit(
            &repo,
            "main",
            &[
                ("prompts/old.prompt.yml", "old"),
                ("snippets/tone.md", "calm"),
            ],
        );
        let many: Vec<(String, String)> = (0..130)
            .map(|i| (format!("data/case{i:03}.jsonl"), format!("{{\"i\":{i}}}")))
            .collect();
        let mut files: Vec<(&str, &str)> =
            many.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
        files.push(("snippets/tone.md", "excited ✨"));
        let pr = gh.open_pr(&repo, "feature/tone", &files);
        let api = client(&gh, gh.actions_token());

        let changed = api.pull_request_files(&repo, pr).await.unwrap();
        assert_eq!(changed.len(), 131, "all pages");
        assert_eq!(gh.requests_to("pulls/list-files").len(), 2);
        let tone = changed
            .iter()
            .find(|f| f.path == "snippets/tone.md")
            .unwrap();
        assert_eq!(tone.change, FileChange::Modified);

        let info = api.pull_request(&repo, pr).await.unwrap();
        assert!(!info.is_fork());
        assert_eq!(info.base_ref, "main");
        assert_eq!(info.head_ref, "feature/tone");

        let head = api
            .file_contents(&repo, "snippets/tone.md", &info.head_sha.0)
            .await
            .unwrap();
        assert_eq!(head.as_deref(), Some("excited ✨".as_bytes()));
        let base = api
            .file_contents(&repo, "snippets/tone.md", "main")
            .await
            .unwrap();
        assert_eq!(base.as_deref(), Some(b"calm".as_slice()));
        assert_eq!(
            api.file_contents(&repo, "nope.md", "main").await.unwrap(),
            None
        );

        let cmp = api.compare(&repo, "main", "feature/tone").await.unwrap();
        assert_eq!(cmp.status, "ahead");
        assert_eq!(cmp.merge_base_sha, info.base_sha);
        assert_eq!(cmp.files.len(), 131);

        let main = api.resolve_ref(&repo, "heads/main").await.unwrap();
        assert_eq!(main, Some(info.base_sha.clone()));
        assert_eq!(api.resolve_ref(&repo, "heads/nope").await.unwrap(), None);
        assert_eq!(api.default_branch(&repo).await.unwrap(), "main");

        gh.set_permission(&repo, "maintainer", "maintain");
        assert!(
            api.permission(&repo, "maintainer")
                .await
                .unwrap()
                .can_write()
        );
        assert_eq!(
            api.permission(&repo, "visitor").await.unwrap(),
            Permission::Read
        );
    })
    .await
}

#[tokio::test]
async fn fork_pull_requests_are_seen_as_forks() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_fork_pr(&repo, "stranger", "patch", &[("prompts/a.prompt.yml", "x")]);
        let api = client(&gh, gh.actions_token());
        let info = api.pull_request(&repo, pr).await.unwrap();
        assert!(info.is_fork());
        assert_eq!(info.head_repo.unwrap().to_string(), "stranger/prompts");
        let files = api.pull_request_files(&repo, pr).await.unwrap();
        assert_eq!(files[0].path, "prompts/a.prompt.yml");
    })
    .await
}

#[tokio::test]
async fn deployments_and_their_statuses() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let api = client(&gh, gh.actions_token());
        let id = api
            .create_deployment(
                &repo,
                &NewDeployment {
                    git_ref: "main".into(),
                    environment: "production".into(),
                    description: "summarize v3".into(),
                    payload: serde_json::json!({"prompts": {"summarize": 3}}),
                },
            )
            .await
            .unwrap();
        api.create_deployment_status(&repo, id, DeploymentState::Success, "published", None)
            .await
            .unwrap();
        let deployments = gh.deployments(&repo);
        assert_eq!(deployments.len(), 1);
        assert_eq!(deployments[0].environment, "production");
        assert_eq!(deployments[0].payload["prompts"]["summarize"], 3);
        assert_eq!(
            deployments[0].statuses,
            vec![("success".into(), "published".into())]
        );
    })
    .await
}

#[tokio::test]
async fn a_model_regression_issue_is_opened_updated_closed_and_reopened() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let app = GitHubApp::new(
            &gh.api_url(),
            &AppCredentials {
                app_id: fake_github::APP_ID,
                private_key_pem: Secret::new(APP_PRIVATE_KEY),
            },
            options(),
        )
        .unwrap();
        let installation = gh.install_app(&[&repo]);
        let api = app.installation_client(installation);
        assert_eq!(api.own_login().await.unwrap(), format!("{APP_SLUG}[bot]"));

        let marker = "<!-- promptgate:model-regression:openai/gpt-4o -->";
        // A look-alike by a human is left alone.
        let human = gh.user_token("someone");
        client(&gh, human)
            .create_issue(&repo, "copycat", &format!("x\n{marker}"))
            .await
            .unwrap();

        let opened = api
            .upsert_issue_by_marker(&repo, marker, "gpt-4o regressed", "table v1")
            .await
            .unwrap();
        let IssueOutcome::Opened { number } = opened else {
            panic!("{opened:?}")
        };
        let again = api
            .upsert_issue_by_marker(&repo, marker, "gpt-4o regressed", "table v2")
            .await
            .unwrap();
        assert_eq!(again, IssueOutcome::Updated { number });
        assert_eq!(
            api.close_issue_by_marker(&repo, marker, Some("passes again"))
                .await
                .unwrap(),
            Some(number)
        );
        assert_eq!(
            api.close_issue_by_marker(&repo, marker, None)
                .await
                .unwrap(),
            None
        );
        let reopened = api
            .upsert_issue_by_marker(&repo, marker, "gpt-4o regressed", "table v3")
            .await
            .unwrap();
        assert_eq!(reopened, IssueOutcome::Reopened { number });

        let issues = gh.issues(&repo);
        assert_eq!(issues.len(), 2);
        let ours = issues.iter().find(|i| i.number == number).unwrap();
        assert_eq!(ours.author, "promptgate[bot]");
        assert_eq!(ours.state, "open");
        assert!(ours.body.starts_with("table v3"));
        let copy = issues.iter().find(|i| i.number != number).unwrap();
        assert!(copy.body.starts_with("x\n"));
    })
    .await
}

#[tokio::test]
async fn app_installation_tokens_are_cached_and_scoped() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let other = gh.create_repo("octo/private");
        let app = GitHubApp::new(
            &gh.api_url(),
            &AppCredentials {
                app_id: fake_github::APP_ID,
                private_key_pem: Secret::new(APP_PRIVATE_KEY),
            },
            options(),
        )
        .unwrap();
        let installation = gh.install_app(&[&repo]);
        let api = app.installation_client(installation);
        for _ in 0..3 {
            assert_eq!(api.default_branch(&repo).await.unwrap(), "main");
        }
        // A second client of the same App shares the cache.
        app.installation_client(installation)
            .default_branch(&repo)
            .await
            .unwrap();
        assert_eq!(
            gh.requests_to("apps/create-installation-access-token")
                .len(),
            1
        );

        // The installation cannot see a repository it is not installed on.
        let err = api.default_branch(&other).await.unwrap_err();
        assert_eq!(err.status(), Some(404), "{err}");

        // A wrong App id is refused with a hint, never the key.
        let wrong = GitHubApp::new(
            &gh.api_url(),
            &AppCredentials {
                app_id: 1,
                private_key_pem: Secret::new(APP_PRIVATE_KEY),
            },
            options(),
        )
        .unwrap();
        let err = wrong
            .installation_client(installation)
            .default_branch(&repo)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("App id"), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
    })
    .await
}

#[tokio::test]
async fn own_login_for_a_personal_token_and_check_runs_refused_to_users() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_pr(&repo, "tone", &[("prompts/a.prompt.yml", "x")]);
        let api = client(&gh, gh.user_token("promptgate-bot"));
        assert_eq!(api.own_login().await.unwrap(), "promptgate-bot");
        assert_eq!(
            client(&gh, gh.actions_token()).own_login().await.unwrap(),
            "github-actions[bot]"
        );
        // Only Apps create check runs; a personal token falls back on its own.
        let sha = promptgate::types::CommitSha(gh.pull(&repo, pr).head_sha);
        let handle = api
            .start_check(&repo, "promptgate", &sha, None, None)
            .await
            .unwrap();
        assert!(matches!(handle, CheckHandle::Status { .. }));
    })
    .await
}

#[tokio::test]
async fn the_contract_check_catches_requests_github_would_reject() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let http = reqwest::Client::new();
        let auth = format!("Bearer {}", gh.actions_token().expose());
        // Unknown path, wrong method, a body the schema rejects, an unknown query parameter.
        http.get(format!("{}/repos/octo/prompts/nonsense", gh.api_url()))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        http.delete(format!("{}/repos/octo/prompts/check-runs", gh.api_url()))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        let rejected = http
            .post(format!("{}/repos/octo/prompts/check-runs", gh.api_url()))
            .header("authorization", &auth)
            .json(&serde_json::json!({"name": "x", "head_sha": "abc", "status": "finished"}))
            .send()
            .await
            .unwrap();
        assert_eq!(rejected.status().as_u16(), 422);
        http.get(format!(
            "{}/repos/octo/prompts/issues/1/comments?pagesize=5",
            gh.api_url()
        ))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
        // Our own client, asked to break GitHub's limit of 50 annotations per request.
        let api = client(&gh, gh.actions_token());
        let sha = promptgate::types::CommitSha("b".repeat(40));
        let id = api
            .create_check_run(&repo, "promptgate", &sha, None, None)
            .await
            .unwrap();
        let too_many = promptgate::edges::github::CheckRunUpdate {
            conclusion: None,
            title: "t".into(),
            summary: "s".into(),
            annotations: outcome(51).annotations,
            details_url: None,
        };
        let err = api
            .update_check_run(&repo, id, &too_many)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(422), "{err}");
        let violations = gh.take_violations();
        assert_eq!(violations.len(), 5, "{violations:#?}");
        assert!(
            violations[4].contains("/output/annotations"),
            "{}",
            violations[4]
        );
        assert!(violations[0].contains("path not in GitHub's description"));
        assert!(violations[1].contains("method not in GitHub's description"));
        assert!(violations[2].contains("/status"), "{}", violations[2]);
        assert!(violations[3].contains("unknown query parameter `pagesize`"));
    })
    .await
}

#[tokio::test]
async fn a_hung_call_times_out_reads_are_retried_writes_are_not() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_pr(&repo, "tone", &[("prompts/a.prompt.yml", "x")]);
        let impatient = || {
            GitHubClient::new(
                &gh.api_url(),
                gh.actions_token(),
                ClientOptions {
                    // Long enough that a loaded machine answers the calls that do not hang.
                    timeout: Duration::from_millis(1500),
                    ..options()
                },
            )
            .unwrap()
        };
        let api = impatient();
        // A read that hangs once is retried and succeeds.
        gh.hang_next("pulls/get", 1);
        assert_eq!(api.pull_request(&repo, pr).await.unwrap().number, pr);
        assert_eq!(
            gh.requests_to("pulls/get").len(),
            2,
            "hung once, then retried"
        );

        // A write that hangs may have happened: it is reported, not repeated.
        // A client of its own, so no connection the hung read left behind
        // can stand in for the write's own timeout.
        let api = impatient();
        gh.hang_next("issues/create-comment", 1);
        let err = api.create_issue_comment(&repo, pr, "hi").await.unwrap_err();
        assert!(
            matches!(err, GitHubError::Timeout { attempts: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("create a comment"), "{err}");
    })
    .await
}

/// A job killed after it created its check run leaves the run in progress;
/// its retry takes that run over (same job, same external id) instead of
/// adding a second one. Another job, or a finished run, gets a new one.
#[tokio::test]
async fn a_retried_job_takes_over_the_check_run_it_left_unfinished() {
    within(async {
        let gh = FakeGitHub::start().await;
        let repo = gh.create_repo("octo/prompts");
        let pr = gh.open_pr(&repo, "tone", &[("prompts/summarize.prompt.yml", "x")]);
        let sha = promptgate::types::CommitSha(gh.pull(&repo, pr).head_sha);
        let api = client(&gh, gh.actions_token());

        let first = api
            .start_check(&repo, "promptgate", &sha, None, Some("promptgate-job-7"))
            .await
            .unwrap();
        // The process dies here; the job runs again.
        let retried = api
            .start_check(&repo, "promptgate", &sha, None, Some("promptgate-job-7"))
            .await
            .unwrap();
        assert_eq!(retried, first);
        assert_eq!(gh.check_runs(&repo, &sha).len(), 1);
        assert!(!gh.requests_to("checks/list-for-ref").is_empty());

        let other = api
            .start_check(&repo, "promptgate", &sha, None, Some("promptgate-job-8"))
            .await
            .unwrap();
        assert_ne!(other, first);
        assert_eq!(gh.check_runs(&repo, &sha).len(), 2);

        api.finish_check(&repo, &first, &outcome(0)).await.unwrap();
        let after_finish = api
            .start_check(&repo, "promptgate", &sha, None, Some("promptgate-job-7"))
            .await
            .unwrap();
        assert_ne!(after_finish, first, "a completed run is never reopened");
        assert_eq!(gh.check_runs(&repo, &sha).len(), 3);
    })
    .await
}
