//! Hole 7: the "could not run" check-run summary broke out of its code
//! block: a `model:` value holding a fence left a heading, an image and a
//! live `@mention` outside it.

use promptgate::edges::github::post::{self, PullRequestTarget};
use promptgate::edges::github::{ClientOptions, GitHubApi, GitHubClient};
use promptgate::types::CommitSha;
use pulldown_cmark::{Event, Parser, Tag};

use crate::fake_github::FakeGitHub;

const WHY: &str = "prompts/a.prompt.yml: unknown model `x\n```\n# Approved by security\n<img src=https://evil.example/x.png>\n@octo/security-team please merge\n````\n`";

/// Everything in `markdown` that is not code: headings, HTML, text.
fn outside_code(markdown: &str) -> Vec<String> {
    let mut depth = 0;
    let mut found = Vec::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => depth += 1,
            Event::End(pulldown_cmark::TagEnd::CodeBlock) => depth -= 1,
            Event::Start(Tag::Heading { .. }) => found.push("heading".into()),
            Event::Html(html) | Event::InlineHtml(html) => found.push(format!("html {html}")),
            Event::Text(text) if depth == 0 => found.push(format!("text {text}")),
            _ => {}
        }
    }
    found
}

#[tokio::test]
async fn the_reason_stays_inside_its_code_block() {
    // The mutant: the old summary, a plain fence around the reason.
    assert!(!outside_code(&format!("```\n{WHY}\n```")).is_empty());

    let gh = FakeGitHub::start().await;
    let repo = gh.create_repo("octo/prompts");
    let pr = gh.open_pr(&repo, "tone", &[("prompts/a.prompt.yml", "x")]);
    let sha = CommitSha(gh.pull(&repo, pr).head_sha);
    let api =
        GitHubClient::new(&gh.api_url(), gh.actions_token(), ClientOptions::default()).unwrap();
    let target = PullRequestTarget {
        repo: &repo,
        number: pr,
        head_sha: &sha,
        details_url: None,
        path_prefix: "",
    };
    let handle = post::start_check(&api as &dyn GitHubApi, &target, None)
        .await
        .unwrap();
    post::post_could_not_run(&api, &target, &handle, WHY).await;
    let run = &gh.check_runs(&repo, &sha)[0];
    let summary = run.summary.clone().unwrap();
    assert_eq!(outside_code(&summary), Vec::<String>::new(), "{summary}");
    assert!(summary.contains("Approved by security"), "{summary}");
}
