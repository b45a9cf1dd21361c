//! A prompt's review queue in the dashboard: judged outputs sampled from
//! the prompt's published results (the same seeded, stratified queue as
//! `GET …/reviews/queue`), each shown **without** the judge's score, with a
//! form to label it. A saved label goes through the same flow as
//! `POST …/reviews/labels` ([`crate::flows::review::label_stored_output`]);
//! the judge's score is revealed only then, and the output leaves the
//! queue. Labelling needs write access, as promoting does.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::pages::{
    Layout, NoticeQuery, layout, problem, prompt_link, prompt_trail, render, repo, see_other,
    unavailable, viewer, writer,
};
use super::sessions::Access;
use crate::edges::registry::VersionRef;
use crate::flows::review::{NewLabel, StoredLabelError, label_stored_output, published_queue};
use crate::pipeline::review::{
    HumanScore, JudgeView, OutputRef, QueueItem, ReviewLabel, SampleRequest,
};
use crate::server::ServerState;
use crate::server::reviews::DEFAULT_QUEUE;

/// The longest part of the judge's reason the notice after a label quotes.
const REASON_SHOWN: usize = 300;

/// One output to label, as the page shows it.
#[derive(Serialize)]
struct ItemView {
    /// 1, 2, … on the page (element ids).
    number: usize,
    criterion: String,
    fingerprint: String,
    case_id: String,
    /// As stored (0-based).
    repeat: u32,
    vars: Vec<(String, String)>,
    output: String,
    binary: bool,
}

#[derive(Serialize)]
struct ReviewPage {
    layout: Layout,
    prompt: String,
    link: String,
    per_criterion: usize,
    items: Vec<ItemView>,
    can_label: bool,
    notice: Option<String>,
}

fn item_view(number: usize, item: QueueItem) -> ItemView {
    ItemView {
        number,
        vars: item
            .vars
            .into_iter()
            .map(|(name, value)| {
                let shown = match value {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                };
                (name, shown)
            })
            .collect(),
        criterion: item.output.criterion,
        fingerprint: item.output.fingerprint,
        case_id: item.output.case_id,
        repeat: item.output.repeat,
        output: item.text,
        binary: item.binary,
    }
}

/// `GET …/prompts/{name}/review`: the queue.
pub(super) async fn queue(
    State(state): State<ServerState>,
    Path((owner, name, prompt)): Path<(String, String, String)>,
    Query(query): Query<NoticeQuery>,
    headers: HeaderMap,
) -> Response {
    let dashboard = &state.dashboard;
    let viewer = or_answer!(viewer(dashboard, &headers).await);
    let at = or_answer!(repo(&state, &viewer, &owner, &name).await);
    match at.registry.version(&prompt, &VersionRef::Number(1)).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return problem(
                dashboard,
                Some(&viewer),
                StatusCode::NOT_FOUND,
                format!("no prompt `{prompt}` in {}", at.namespace),
            );
        }
        Err(error) => return unavailable(dashboard, Some(&viewer), "the prompt", error),
    }
    let request = SampleRequest {
        per_criterion: DEFAULT_QUEUE,
        seed: 0,
        criterion: None,
        prompt: Some(prompt.clone()),
    };
    let items = match published_queue(at.registry.as_ref(), &request).await {
        Ok(items) => items,
        Err(error) => return unavailable(dashboard, Some(&viewer), "the review queue", error),
    };
    let link = prompt_link(&at.namespace, &prompt);
    let mut trail = prompt_trail(&at.namespace, &prompt);
    trail.push(("review queue".into(), format!("{link}/review")));
    let page = ReviewPage {
        layout: layout(
            dashboard,
            &viewer,
            format!("{prompt} — review queue"),
            trail,
            Some(&link),
        ),
        prompt,
        link,
        per_criterion: DEFAULT_QUEUE,
        items: items
            .into_iter()
            .enumerate()
            .map(|(i, item)| item_view(i + 1, item))
            .collect(),
        can_label: at.access == Access::Write,
        notice: query.done,
    };
    render(
        dashboard,
        StatusCode::OK,
        "review.html.j2",
        minijinja::Value::from_serialize(&page),
    )
}

#[derive(Deserialize)]
pub(super) struct LabelForm {
    csrf: Option<String>,
    criterion: Option<String>,
    fingerprint: Option<String>,
    case_id: Option<String>,
    repeat: Option<String>,
    human: Option<String>,
    note: Option<String>,
}

/// The output a form labels, or what is missing from it.
fn output_of(prompt: &str, form: &LabelForm) -> Result<OutputRef, String> {
    let text = |field: &Option<String>, what: &str| {
        field
            .clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("the form has no {what}; reload the review queue"))
    };
    Ok(OutputRef {
        prompt: prompt.to_string(),
        criterion: text(&form.criterion, "criterion")?,
        fingerprint: text(&form.fingerprint, "result fingerprint")?,
        case_id: text(&form.case_id, "case id")?,
        repeat: text(&form.repeat, "repeat")?
            .parse()
            .map_err(|_| "the form's repeat is not a number; reload the review queue")?,
    })
}

/// What the reviewer learns once the label is saved.
fn revealed(label: &ReviewLabel, judge: &JudgeView) -> String {
    let said = judge
        .display
        .clone()
        .unwrap_or_else(|| format!("{:.2}", judge.score));
    let agrees = label.judge_passes() == label.human.passes();
    let mut reason: String = judge.reason.chars().take(REASON_SHOWN).collect();
    if reason.len() < judge.reason.len() {
        reason.push('…');
    }
    format!(
        "Label saved: {} ({}) — you said {}; the judge said {said} (“{reason}”): it {} with you.",
        label.output.case_id,
        label.output.criterion,
        label.human,
        if agrees { "agrees" } else { "disagrees" }
    )
}

/// `POST …/prompts/{name}/review`: one label, then back to the queue with
/// the judge's view of that output.
pub(super) async fn label(
    State(state): State<ServerState>,
    Path((owner, name, prompt)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<LabelForm>,
) -> Response {
    let (viewer, at) = or_answer!(
        writer(
            &state,
            &headers,
            form.csrf.as_deref(),
            &owner,
            &name,
            "labelling outputs"
        )
        .await
    );
    let dashboard = &state.dashboard;
    let refuse =
        |message: String| problem(dashboard, Some(&viewer), StatusCode::BAD_REQUEST, message);
    let output = match output_of(&prompt, &form) {
        Ok(output) => output,
        Err(message) => return refuse(message),
    };
    let Some(human) = form.human.as_deref().and_then(HumanScore::parse) else {
        return refuse(format!(
            "choose pass or fail (or a grade 1–5) for {} ({}) before saving",
            output.case_id, output.criterion
        ));
    };
    let new = NewLabel {
        output,
        human,
        note: form.note.clone(),
        reviewer: viewer.login.clone(),
    };
    match label_stored_output(at.registry.as_ref(), new).await {
        Ok((label, judge)) => {
            tracing::info!(repo = %at.namespace, prompt = %prompt, criterion = %label.output.criterion, case = %label.output.case_id, reviewer = %viewer.login, "dashboard: output labelled");
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("done", &revealed(&label, &judge))
                .finish();
            see_other(&format!(
                "{}/review?{query}",
                prompt_link(&at.namespace, &prompt)
            ))
        }
        Err(StoredLabelError::Registry(error)) => {
            unavailable(dashboard, Some(&viewer), "the registry", error)
        }
        Err(refused @ StoredLabelError::NotFound(_)) => problem(
            dashboard,
            Some(&viewer),
            StatusCode::NOT_FOUND,
            refused.to_string(),
        ),
        Err(refused @ StoredLabelError::Invalid(_)) => refuse(refused.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(binary: bool, can_label: bool) -> String {
        let item = ItemView {
            number: 1,
            criterion: "polite".into(),
            fingerprint: "fp1".into(),
            case_id: "c1".into(),
            repeat: 1,
            vars: vec![("name".into(), "<Ada>".into())],
            output: "Hello <b>Ada</b>".into(),
            binary,
        };
        let page = ReviewPage {
            layout: Layout {
                title: "queue".into(),
                login: Some("ada".into()),
                csrf: "token".into(),
                trail: Vec::new(),
                review_queue: None,
            },
            prompt: "bot".into(),
            link: "/dashboard/repos/a/b/prompts/bot".into(),
            per_criterion: 20,
            items: vec![item],
            can_label,
            notice: None,
        };
        super::super::environment()
            .get_template("review.html.j2")
            .unwrap()
            .render(minijinja::Value::from_serialize(&page))
            .unwrap()
    }

    #[test]
    fn a_pass_fail_criterion_asks_pass_or_fail_and_a_graded_one_1_to_5() {
        let html = page(true, true);
        assert!(html.contains("<legend>polite: does this output pass?</legend>"));
        assert!(html.contains("value=\"pass\" required") && html.contains("value=\"fail\""));
        assert!(!html.contains("value=\"3\""));
        // Untrusted text is escaped; the second repeat is named as such.
        assert!(html.contains("Hello &lt;b&gt;Ada&lt;&#x2f;b&gt;"), "{html}");
        assert!(html.contains("c1 (repeat 2)"));
        let html = page(false, true);
        for grade in 1..=5 {
            assert!(html.contains(&format!("name=\"human\" value=\"{grade}\"")));
        }
        assert!(!html.contains("value=\"pass\""));
        // Without write access: the outputs, no form, and why.
        let html = page(false, false);
        assert!(!html.contains("<form method=\"post\" action=\"&#x2f;dashboard&#x2f;repos"));
        assert!(html.contains("Labelling needs write access"));
        assert!(html.contains("Hello &lt;b&gt;"));
    }
}
