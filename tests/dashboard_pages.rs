//! The dashboard over real HTTP on loopback, on a real database (SQLite;
//! PostgreSQL too when `PROMPTGATE_TEST_POSTGRES` is set, required under
//! `CI`): nothing shows without signing in; sign-in with an API key and with
//! GitHub's web flow (a local stand-in whose API answers follow GitHub's
//! OpenAPI description); the pages show the seeded numbers; the run page's
//! filters; promote and rollback obey the promotion policy and every form
//! needs its CSRF token; sessions are stored hashed and end on sign-out;
//! the judge agreement on the prompt page (both below and above the label
//! threshold, with the flag); the review queue hides the judge's score,
//! stores a label through the shared flow, and refuses readers.
#![cfg(unix)]

#[allow(dead_code)]
#[path = "support/fake_github/contract.rs"]
mod contract;
#[path = "support/dashboard_world.rs"]
mod dashboard_world;
#[path = "support/postgres.rs"]
mod postgres;

use dashboard_world::{
    Backing, Browser, GitHubOAuthStandIn, OTHER_REPO, POLITENESS, PROMPT, REPO, TONE_LABELS, World,
    hidden,
};
use promptgate::edges::registry::LabelTarget;
use promptgate::pipeline::review::HumanScore;
use sha2::{Digest, Sha256};
use sqlx::Row as _;

async fn signed_in(world: &World, key: &str) -> Browser {
    let mut browser = Browser::new();
    let page = browser
        .get(&format!("{}/dashboard/signin", world.base))
        .await;
    assert_eq!(page.status, 200);
    let csrf = hidden(&page.body, "csrf");
    let page = browser
        .post(
            &format!("{}/dashboard/signin", world.base),
            &[("api_key", key), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/dashboard"));
    browser
}

fn prompt_url(world: &World) -> String {
    format!("{}/dashboard/repos/{REPO}/prompts/{PROMPT}", world.base)
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_shows_without_signing_in() {
    let backing = Backing::sqlite().await;
    let world = World::start(&backing.url(), None).await;
    let mut browser = Browser::new();
    for path in [
        "/dashboard".to_string(),
        format!("/dashboard/repos/{REPO}"),
        format!("/dashboard/repos/{REPO}/prompts/{PROMPT}"),
        format!("/dashboard/repos/{REPO}/prompts/{PROMPT}/versions/2"),
        format!("/dashboard/repos/{REPO}/prompts/{PROMPT}/versions/2/run"),
    ] {
        let page = browser.get(&format!("{}{path}", world.base)).await;
        assert_eq!(
            (page.status, page.location.as_deref()),
            (303, Some("/dashboard/signin")),
            "{path}"
        );
        assert!(!page.body.contains(PROMPT), "{path}");
    }
    let page = browser.get(&format!("{}/", world.base)).await;
    assert_eq!(page.location.as_deref(), Some("/dashboard"));
    // A made-up session cookie is no session.
    browser.cookies.insert("pg_session".into(), "0".repeat(64));
    let page = browser.get(&format!("{}/dashboard", world.base)).await;
    assert_eq!(page.status, 303);
    let page = browser
        .post(
            &format!("{}/promote", prompt_url(&world)),
            &[("version", "2"), ("to", "production"), ("csrf", "00")],
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    // A wrong key is refused on the sign-in page, which says so.
    let mut browser = Browser::new();
    let form = browser
        .get(&format!("{}/dashboard/signin", world.base))
        .await;
    let csrf = hidden(&form.body, "csrf");
    let page = browser
        .post(
            &format!("{}/dashboard/signin", world.base),
            &[("api_key", "pgk_wrong"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("not valid"), "{}", page.body);
    assert!(!browser.cookies.contains_key("pg_session"));
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sign_in_form_needs_its_csrf_token() {
    let backing = Backing::sqlite().await;
    let world = World::start(&backing.url(), None).await;
    let mut browser = Browser::new();
    let form = browser
        .get(&format!("{}/dashboard/signin", world.base))
        .await;
    let csrf = hidden(&form.body, "csrf");
    let url = format!("{}/dashboard/signin", world.base);
    // Without the field, with another secret's token, and without the cookie.
    let refused = browser.post(&url, &[("api_key", &world.reader_key)]).await;
    assert_eq!(refused.status, 403);
    let refused = browser
        .post(
            &url,
            &[("api_key", &world.reader_key), ("csrf", &"ab".repeat(32))],
        )
        .await;
    assert_eq!(refused.status, 403);
    let mut stranger = Browser::new();
    let refused = stranger
        .post(&url, &[("api_key", &world.reader_key), ("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, 403);
    assert!(!stranger.cookies.contains_key("pg_session"));
    let accepted = browser
        .post(&url, &[("api_key", &world.reader_key), ("csrf", &csrf)])
        .await;
    assert_eq!(accepted.status, 303);
    world.stop().await;
}

/// What the reader sees, on `url`'s database.
async fn pages_show_the_seeded_numbers(url: &str) {
    let world = World::start(url, None).await;
    let mut browser = signed_in(&world, &world.reader_key).await;
    let page = browser.get(&format!("{}/dashboard", world.base)).await;
    assert_eq!(page.status, 200);
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(page.body.contains(REPO), "{}", page.body);
    // The key reaches acme/bot only: acme/other is not listed, nor served.
    assert!(!page.body.contains(OTHER_REPO), "{}", page.body);
    let other = browser
        .get(&format!("{}/dashboard/repos/{OTHER_REPO}", world.base))
        .await;
    assert_eq!(other.status, 404);
    assert!(!other.body.contains("secret-greeter"));

    let list = browser
        .get(&format!("{}/dashboard/repos/{REPO}", world.base))
        .await;
    assert_eq!(list.status, 200);
    for expected in [
        "production: v1",
        "staging: v2",
        "experiment: {v1: 50, v2: 50}",
        ">v3<",
        "failed",
        "70.0%",
        "class=\"sparkline\"",
    ] {
        assert!(list.body.contains(expected), "{expected} in\n{}", list.body);
    }

    let page = browser.get(&prompt_url(&world)).await;
    assert_eq!(page.status, 200);
    let body = &page.body;
    // Overall: v1 (0.5 + 1) / 2, v2 (0.75 + 0.9) / 2, v3 (0.6 + 0.8) / 2.
    for value in ["75.0%", "82.5%", "70.0%"] {
        assert!(
            body.contains(&format!("overall: {value} at v")),
            "overall {value}"
        );
    }
    // The tone criterion's means, with its interval band.
    for (value, at) in [("50.0%", "v1"), ("75.0%", "v2"), ("60.0%", "v3")] {
        assert!(
            body.contains(&format!("tone: {value} at {at}")),
            "tone {value} at {at}"
        );
    }
    assert!(body.contains("class=\"band\""));
    // Telemetry of the split: error rates and costs per version, and the verdict.
    for value in [
        "v1: 1.0% at",
        "v2: 20.0% at",
        "v1: $0.00200 at",
        "v2: $0.00400 at",
    ] {
        assert!(body.contains(value), "{value} in the telemetry charts");
    }
    assert!(body.contains("200 executions reported"), "{body}");
    assert!(body.contains("A/B split <strong>experiment</strong>: v2 against v1"));
    let comparison = &body[body.find("class=\"comparison\"").unwrap()..];
    let errors = &comparison[comparison.find("error rate").unwrap()..];
    assert!(
        errors[..errors.find("</tr>").unwrap()].contains("worse"),
        "{errors}"
    );
    // A reader sees no promote button, and is refused if it posts anyway.
    assert!(body.contains("need write access"));
    assert!(!body.contains("/promote\""));
    let csrf = hidden(body, "csrf");
    let refused = browser
        .post(
            &format!("{}/promote", prompt_url(&world)),
            &[("version", "2"), ("to", "production"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        world.label("production").await,
        Some(LabelTarget::Version(1))
    );
    assert!(!body.contains("<script"), "no script on the page");
    // Judge agreement: politeness has 49 labels and a flagged judge; tone
    // has too few labels for any rate.
    assert!(
        body.contains(&format!(
            "{POLITENESS}: this judge agrees with reviewers 61% [46%, 75%] of the time"
        )),
        "{body}"
    );
    let row = agreement_row(body, POLITENESS);
    for expected in ["49", "61% [46%, 75%]", "0.19 [", "67% [", "53% ["] {
        assert!(row.contains(expected), "{expected} in {row}");
    }
    let row = agreement_row(body, "tone");
    assert!(
        row.contains(&format!(
            "not enough labels yet: {} of 30 (10 of each class)",
            TONE_LABELS.len()
        )) && row.contains("reviewers passed 3, failed 1"),
        "{row}"
    );
    assert!(!row.contains('%'), "no rate below the threshold: {row}");
    assert!(body.contains(&format!(
        "href=\"/dashboard/repos/{REPO}/prompts/{PROMPT}/review\""
    )));
    // The telemetry of 14 days, read at once, is the days read one by one.
    let store = world.state.telemetry.store();
    let day = 86_400_000;
    let today = dashboard_world::now_ms() / day * day;
    let days = store
        .daily_tallies(REPO, PROMPT, today - 13 * day, today + day)
        .await
        .unwrap();
    let counted: u64 = days
        .values()
        .flat_map(|d| d.values())
        .map(|t| t.count)
        .sum();
    assert_eq!(counted, 200, "every seeded execution, on its day");
    for start in (0..14).map(|back| today - back * day) {
        let one = store
            .tallies(REPO, PROMPT, start, start + day, None)
            .await
            .unwrap();
        assert_eq!(days.get(&start).cloned().unwrap_or_default(), one);
    }
    world.stop().await;
}

/// The agreement table's row of `criterion`.
fn agreement_row<'a>(body: &'a str, criterion: &str) -> &'a str {
    let table = &body[body
        .find("class=\"agreement\"")
        .expect("an agreement table")..];
    let row = &table[table
        .find(&format!("<th scope=\"row\">{criterion}</th>"))
        .unwrap_or_else(|| panic!("no row for {criterion} in {table}"))..];
    &row[..row.find("</tr>").unwrap()]
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_show_the_seeded_numbers_on_sqlite() {
    let backing = Backing::sqlite().await;
    pages_show_the_seeded_numbers(&backing.url()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_show_the_seeded_numbers_on_postgres() {
    let Some(backing) = Backing::postgres("pages_show_the_seeded_numbers_on_postgres").await else {
        return;
    };
    pages_show_the_seeded_numbers(&backing.url()).await;
    backing.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_and_rollback_obey_the_policy_and_need_the_csrf_token() {
    let backing = Backing::sqlite().await;
    let world = World::start(&backing.url(), None).await;
    let mut browser = signed_in(&world, &world.publisher_key).await;
    let page = browser.get(&prompt_url(&world)).await;
    // v3's gate failed: both buttons are disabled and say which rule refuses.
    assert!(
        page.body.contains("Promote v3 to staging</button>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("disabled aria-describedby=\"refused-staging\"")
    );
    assert!(
        page.body
            .contains("Refused by the policy: promotion.require_gate_passed: its gate failed"),
        "{}",
        page.body
    );
    assert!(page.body.contains("environments order"), "{}", page.body);
    let csrf = hidden(&page.body, "csrf");
    let promote = format!("{}/promote", prompt_url(&world));
    // The server refuses it too, whatever the page showed.
    let refused = browser
        .post(
            &promote,
            &[("version", "3"), ("to", "staging"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("refused:"), "{}", refused.body);
    assert_eq!(world.label("staging").await, Some(LabelTarget::Version(2)));
    // v2 is on staging with a passed gate: production may take it, but only
    // from a form that carries the session's token.
    let version = browser
        .get(&format!("{}/versions/2", prompt_url(&world)))
        .await;
    assert!(
        version.body.contains("Promote v2 to production</button>"),
        "{}",
        version.body
    );
    for token in [
        None,
        Some("00".repeat(32)),
        Some(dashboard_world::now_ms().to_string()),
    ] {
        let mut form = vec![("version", "2"), ("to", "production")];
        if let Some(token) = &token {
            form.push(("csrf", token));
        }
        let refused = browser.post(&promote, &form).await;
        assert_eq!(refused.status, 403, "token {token:?}");
        assert!(refused.body.contains("CSRF"), "{}", refused.body);
    }
    assert_eq!(
        world.label("production").await,
        Some(LabelTarget::Version(1))
    );
    let done = browser
        .post(
            &promote,
            &[("version", "2"), ("to", "production"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        world.label("production").await,
        Some(LabelTarget::Version(2))
    );
    let page = browser
        .get(&format!("{}{}", world.base, done.location.unwrap()))
        .await;
    assert!(page.body.contains("v2 promoted to production"));
    assert!(
        page.body.contains("key publisher"),
        "the move names who made it"
    );
    // Rolling back needs the token as well, then moves production back.
    let rollback = format!("{}/rollback", prompt_url(&world));
    assert_eq!(
        browser
            .post(&rollback, &[("label", "production")])
            .await
            .status,
        403
    );
    assert_eq!(
        world.label("production").await,
        Some(LabelTarget::Version(2))
    );
    let done = browser
        .post(&rollback, &[("label", "production"), ("csrf", &csrf)])
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(
        world.label("production").await,
        Some(LabelTarget::Version(1))
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_version_and_run_pages_show_the_diff_and_filter_cases() {
    let backing = Backing::sqlite().await;
    let world = World::start(&backing.url(), None).await;
    let mut browser = signed_in(&world, &world.reader_key).await;
    let version = browser
        .get(&format!("{}/versions/2", prompt_url(&world)))
        .await;
    assert_eq!(version.status, 200);
    assert!(
        version.body.contains("<del>Hello</del>"),
        "{}",
        version.body
    );
    assert!(version.body.contains("<ins>Hi</ins>"), "{}", version.body);
    assert!(
        version
            .body
            .contains("<mark class=\"snippet\">{% include &quot;snippets/tone.md&quot; %}</mark>"),
        "{}",
        version.body
    );
    assert!(
        version
            .body
            .contains("<mark class=\"variable\">{{ name }}</mark>")
    );
    assert!(version.body.contains(&format!("/{REPO}/commit/{:040x}", 2)));
    // Against another version, by query parameter.
    let against = browser
        .get(&format!("{}/versions/3?against=1", prompt_url(&world)))
        .await;
    assert!(
        against.body.contains("Changes against v1"),
        "{}",
        against.body
    );

    let run = format!("{}/versions/2/run", prompt_url(&world));
    let all = browser.get(&run).await;
    assert_eq!(all.status, 200);
    assert!(
        all.body.contains("flipped to fail (1)") && all.body.contains("all (10)"),
        "{}",
        all.body
    );
    // Flipped first: case-3's greeting went from pass to fail.
    let first = all.body.find("<article").unwrap();
    assert!(
        all.body[first..].starts_with("<article class=\"case flipped dropped\""),
        "{}",
        &all.body[first..first + 200]
    );
    assert!(
        all.body.contains("v2 answer to customer 3")
            && all.body.contains("v1 answer to customer 3")
    );
    let flipped = browser.get(&format!("{run}?show=flipped")).await;
    assert_eq!(flipped.body.matches("<article").count(), 1);
    assert!(flipped.body.contains(">case-3"), "{}", flipped.body);
    let errored = browser
        .get(&format!(
            "{}/versions/3/run?show=errored",
            prompt_url(&world)
        ))
        .await;
    assert_eq!(
        errored.body.matches("<article").count(),
        1,
        "{}",
        errored.body
    );
    assert!(
        errored.body.contains(">case-5") && errored.body.contains("the regex evaluator failed")
    );
    let regressed = browser.get(&format!("{run}?show=regressed")).await;
    assert_eq!(regressed.body.matches("<article").count(), 1);
    let bad = browser.get(&format!("{run}?show=everything")).await;
    assert_eq!(bad.status, 400);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_stored_hashed_and_end_on_sign_out_or_revocation() {
    let backing = Backing::sqlite().await;
    let world = World::start(&backing.url(), None).await;
    let mut browser = signed_in(&world, &world.reader_key).await;
    let token = browser.cookies["pg_session"].clone();
    let stored: Vec<String> = match &world.db {
        promptgate::edges::db::Database::Sqlite(pool) => {
            sqlx::query("SELECT token_sha256 FROM dashboard_sessions")
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect()
        }
        promptgate::edges::db::Database::Postgres(_) => unreachable!(),
    };
    assert_eq!(stored, vec![hex::encode(Sha256::digest(token.as_bytes()))]);
    let page = browser.get(&format!("{}/dashboard", world.base)).await;
    assert_eq!(page.status, 200);
    let csrf = hidden(&page.body, "csrf");
    let out = browser
        .post(
            &format!("{}/dashboard/signout", world.base),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(out.status, 303);
    // The old cookie no longer opens anything.
    browser.cookies.insert("pg_session".into(), token);
    assert_eq!(
        browser
            .get(&format!("{}/dashboard", world.base))
            .await
            .status,
        303
    );
    // Revoking the key ends its sessions.
    let mut browser = signed_in(&world, &world.publisher_key).await;
    assert_eq!(
        browser
            .get(&format!("{}/dashboard", world.base))
            .await
            .status,
        200
    );
    let keys = promptgate::server::ApiKeys::new(world.db.clone());
    let publisher = keys
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name == "publisher")
        .unwrap();
    assert!(keys.revoke(publisher.id).await.unwrap());
    assert_eq!(
        browser
            .get(&format!("{}/dashboard", world.base))
            .await
            .status,
        303
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn github_sign_in_follows_the_web_application_flow() {
    let backing = Backing::sqlite().await;
    let github = GitHubOAuthStandIn::start("octocat", &[REPO], &[]).await;
    let world = World::start(&backing.url(), Some(github.settings())).await;
    let mut browser = Browser::new();
    let signin = browser
        .get(&format!("{}/dashboard/signin", world.base))
        .await;
    assert!(signin.body.contains("Sign in with GitHub"));
    // To GitHub with a state; GitHub sends the browser back with a code.
    let start = browser
        .get(&format!("{}/dashboard/signin/github", world.base))
        .await;
    assert_eq!(start.status, 303);
    let authorize = start.location.unwrap();
    assert!(
        authorize.starts_with(&format!("{}/login/oauth/authorize?client_id=", github.url)),
        "{authorize}"
    );
    let back = browser.get(&authorize).await;
    let callback = back.location.unwrap();
    assert!(
        callback.starts_with(&format!(
            "{}/dashboard/signin/github/callback?code=",
            world.base
        )),
        "{callback}"
    );
    // A callback whose state is not the one this browser was given is refused
    // before any code is exchanged.
    let forged = callback.replace("state=", "state=forged");
    let mut other = Browser::new();
    assert_eq!(other.get(&forged).await.status, 403);
    assert_eq!(browser.get(&forged).await.status, 403);
    assert_eq!(github.exchanges(), 0);
    let mut replay = Browser::new();
    replay.cookies = browser.cookies.clone();
    let done = browser.get(&callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(github.exchanges(), 1);
    let page = browser.get(&format!("{}/dashboard", world.base)).await;
    assert!(
        page.body.contains("octocat") && page.body.contains(REPO),
        "{}",
        page.body
    );
    assert!(!page.body.contains(OTHER_REPO));
    // Write access on GitHub: the promote buttons are there.
    let prompt = browser.get(&prompt_url(&world)).await;
    assert!(
        prompt.body.contains("Promote v3 to staging</button>"),
        "{}",
        prompt.body
    );
    // The same code cannot sign anyone in twice (GitHub refuses it).
    let again = replay.get(&callback).await;
    assert_eq!(again.status, 502, "{}", again.body);
    assert!(
        again.body.contains("incorrect or expired"),
        "{}",
        again.body
    );
    assert!(!replay.cookies.contains_key("pg_session"));
    github.assert_no_violations();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn github_readers_cannot_promote() {
    let backing = Backing::sqlite().await;
    let github = GitHubOAuthStandIn::start("reader", &[], &[REPO]).await;
    let world = World::start(&backing.url(), Some(github.settings())).await;
    let mut browser = Browser::new();
    let start = browser
        .get(&format!("{}/dashboard/signin/github", world.base))
        .await;
    let back = browser.get(&start.location.unwrap()).await;
    assert_eq!(browser.get(&back.location.unwrap()).await.status, 303);
    let page = browser.get(&prompt_url(&world)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("need write access"));
    let csrf = hidden(&page.body, "csrf");
    let refused = browser
        .post(
            &format!("{}/promote", prompt_url(&world)),
            &[("version", "2"), ("to", "production"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        world.label("production").await,
        Some(LabelTarget::Version(1))
    );
    github.assert_no_violations();
    world.stop().await;
}

/// The hidden fields of every labelling form on a review queue page.
fn label_forms(body: &str) -> Vec<Vec<(String, String)>> {
    body.split("<form method=\"post\" action=\"")
        .skip(1)
        .filter(|form| {
            form.starts_with(&format!(
                "/dashboard/repos/{REPO}/prompts/{PROMPT}/review\""
            ))
        })
        .map(|form| {
            let form = &form[..form.find("</form>").unwrap()];
            form.split("<input type=\"hidden\" name=\"")
                .skip(1)
                .map(|field| {
                    let (name, rest) = field.split_once("\" value=\"").unwrap();
                    let value = rest.split('"').next().unwrap();
                    (name.to_string(), value.to_string())
                })
                .collect()
        })
        .collect()
}

async fn post_form(
    browser: &mut Browser,
    url: &str,
    form: Vec<(String, String)>,
) -> dashboard_world::Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    browser.post(url, &pairs).await
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    &form.iter().find(|(n, _)| n == name).unwrap().1
}

/// A publisher labels an output on the review queue; a reader may only look.
async fn the_review_queue_labels_through_the_shared_flow(url: &str) {
    let world = World::start(url, None).await;
    let queue_url = format!("{}/review", prompt_url(&world));
    let mut browser = signed_in(&world, &world.publisher_key).await;
    let page = browser.get(&queue_url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // 30 judged tone outputs in the published results, 4 labelled: 20 shown
    // (the default per criterion), none of the labelled ones, no judge score.
    let forms = label_forms(&page.body);
    assert_eq!(forms.len(), 20, "{}", page.body);
    assert_eq!(page.body.matches("<article class=\"review\"").count(), 20);
    let v1 = format!("fp{:062}", 1);
    for form in &forms {
        assert_eq!(field(form, "criterion"), "tone");
        let labelled = TONE_LABELS.iter().any(|(case, _)| {
            field(form, "fingerprint") == v1 && field(form, "case_id") == format!("case-{case}")
        });
        assert!(!labelled, "a labelled output is still queued: {form:?}");
    }
    assert!(
        !page.body.contains("tone judged"),
        "the judge's reason shows before the label"
    );
    assert!(
        page.body
            .contains("<legend>tone: grade this output from 1 (poor) to 5 (excellent)")
    );
    assert!(
        page.body
            .contains("<label for=\"note-1\">Note (optional)</label>")
    );
    assert!(!page.body.contains("<script"));
    let csrf = hidden(&page.body, "csrf");
    let first = &forms[0];
    let fields = |human: Option<&str>, note: &str, csrf: Option<&str>| {
        let mut form: Vec<(String, String)> =
            first.iter().filter(|(n, _)| n != "csrf").cloned().collect();
        form.push(("note".into(), note.into()));
        if let Some(human) = human {
            form.push(("human".into(), human.into()));
        }
        if let Some(csrf) = csrf {
            form.push(("csrf".into(), csrf.into()));
        }
        form
    };
    let before = world.review_labels().await.len();
    // Refused: no CSRF token, no label chosen, an oversized note, an output
    // that does not exist. Nothing is stored.
    let refused = post_form(&mut browser, &queue_url, fields(Some("2"), "", None)).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let refused = post_form(&mut browser, &queue_url, fields(None, "", Some(&csrf))).await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("choose pass or fail"),
        "{}",
        refused.body
    );
    let refused = post_form(
        &mut browser,
        &queue_url,
        fields(Some("2"), &"x".repeat(2_001), Some(&csrf)),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("note is longer than 2000"),
        "{}",
        refused.body
    );
    let mut missing = fields(Some("pass"), "", Some(&csrf));
    missing.iter_mut().find(|(n, _)| n == "case_id").unwrap().1 = "case-99".into();
    let refused = post_form(&mut browser, &queue_url, missing).await;
    assert_eq!(refused.status, 404);
    assert!(
        refused.body.contains("no judged output"),
        "{}",
        refused.body
    );
    assert_eq!(world.review_labels().await.len(), before);

    // Saved: back to the queue, which reveals the judge's view.
    let saved = post_form(
        &mut browser,
        &queue_url,
        fields(Some("2"), "too curt", Some(&csrf)),
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let labels = world.review_labels().await;
    assert_eq!(labels.len(), before + 1);
    let label = labels.last().unwrap();
    assert_eq!(label.output.case_id, field(first, "case_id"));
    assert_eq!(label.output.fingerprint, field(first, "fingerprint"));
    assert_eq!(label.human, HumanScore::Grade(2));
    assert_eq!(label.note.as_deref(), Some("too curt"));
    assert_eq!(label.reviewer, "key publisher");
    let version: usize = field(first, "fingerprint")[2..].parse().unwrap();
    let tone = dashboard_world::VERSIONS[version - 1].tone;
    assert_eq!(
        label.judge_score, tone,
        "the judge's score comes from the stored result"
    );
    let after = browser
        .get(&format!("{}{}", world.base, saved.location.unwrap()))
        .await;
    assert_eq!(after.status, 200);
    let notice = format!(
        "Label saved: {} (tone) — you said 2; the judge said {tone:.2} (“tone judged {tone}”): it disagrees with you.",
        field(first, "case_id")
    );
    assert!(after.body.contains(&notice), "{notice} in\n{}", after.body);
    // The output left the queue; the prompt page counts the new label.
    assert!(
        !label_forms(&after.body).iter().any(|f| f == first),
        "the labelled output is still queued"
    );
    let prompt = browser.get(&prompt_url(&world)).await;
    assert!(
        agreement_row(&prompt.body, "tone").contains(&format!(
            "not enough labels yet: {} of 30",
            TONE_LABELS.len() + 1
        )),
        "{}",
        prompt.body
    );

    // A reader sees the queue but no form, and is told why; a label posted
    // anyway is refused.
    let mut reader = signed_in(&world, &world.reader_key).await;
    let page = reader.get(&queue_url).await;
    assert_eq!(page.status, 200);
    assert!(label_forms(&page.body).is_empty());
    assert!(
        page.body.contains("Labelling needs write access"),
        "{}",
        page.body
    );
    let reader_csrf = hidden(&page.body, "csrf");
    let second = &label_forms(&after.body)[0];
    let mut form: Vec<(&str, &str)> = second
        .iter()
        .filter(|(n, _)| n != "csrf")
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    form.extend([("human", "5"), ("csrf", reader_csrf.as_str())]);
    let refused = reader.post(&queue_url, &form).await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("needs write access"),
        "{}",
        refused.body
    );
    assert_eq!(world.review_labels().await.len(), before + 1);
    // A prompt that does not exist has no queue.
    let missing = reader
        .get(&format!(
            "{}/dashboard/repos/{REPO}/prompts/nobody/review",
            world.base
        ))
        .await;
    assert_eq!(missing.status, 404);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_review_queue_labels_through_the_shared_flow_on_sqlite() {
    let backing = Backing::sqlite().await;
    the_review_queue_labels_through_the_shared_flow(&backing.url()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_review_queue_labels_through_the_shared_flow_on_postgres() {
    let Some(backing) =
        Backing::postgres("the_review_queue_labels_through_the_shared_flow_on_postgres").await
    else {
        return;
    };
    the_review_queue_labels_through_the_shared_flow(&backing.url()).await;
    backing.drop().await;
}
