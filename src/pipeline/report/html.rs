//! The static HTML report (`--html PATH`): one self-contained file for CI
//! artifacts and for teams without a server. Nothing loads from the network
//! (styles inline, charts as inline SVG, no scripts), and it reads without
//! JavaScript: the case filters are radio buttons and CSS.
//!
//! Per prompt: the verdict table with each interval drawn against the
//! tolerance band, then every case (up to [`MAX_CASES`]) with its input, the
//! head's and the baseline's output side by side, and the scores with the
//! judges' reasons; flipped cases first. The markup is well-formed XML (a
//! test parses it as such), and every value is HTML-escaped by the template
//! engine; the only raw insertions are the SVG charts built here from
//! numbers.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::view::{self, CriterionRow, PASS_MARK};
use super::{CheckReport, PromptReport, ReportError, ReportMode, Status};
use crate::pipeline::gate::Verdict;
use crate::types::CaseResult;

const TEMPLATE: &str = include_str!("../../../templates/report.html.j2");
const TEMPLATE_NAME: &str = "report.html.j2";
/// One case's markup, shared with the dashboard's run page.
pub(crate) const CASE_PARTIAL: &str = include_str!("../../../templates/report_case.html.j2");
pub(crate) const CASE_PARTIAL_NAME: &str = "report_case.html.j2";

/// Cases shown per prompt, the notable ones first; the JSON report has all.
pub const MAX_CASES: usize = 2_000;
/// Characters of one output shown before it is cut.
const MAX_OUTPUT_CHARS: usize = 8_000;

/// The report as one HTML page.
pub fn render(report: &CheckReport) -> Result<String, ReportError> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Everything from a prompt file, a dataset or a model is untrusted.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template(TEMPLATE_NAME, TEMPLATE)
        .map_err(template_error)?;
    env.add_template(CASE_PARTIAL_NAME, CASE_PARTIAL)
        .map_err(template_error)?;
    let template = env.get_template(TEMPLATE_NAME).map_err(template_error)?;
    template.render(Page::build(report)).map_err(template_error)
}

fn template_error(source: minijinja::Error) -> ReportError {
    ReportError::Template {
        template: TEMPLATE_NAME.to_string(),
        source,
    }
}

#[derive(Serialize)]
struct Page {
    title: String,
    check: bool,
    status: &'static str,
    status_word: &'static str,
    headline: String,
    notes: Vec<String>,
    prompts: Vec<PromptView>,
    calls: String,
    tool_version: String,
    generated_at: String,
}

#[derive(Serialize)]
struct PromptView {
    name: String,
    /// A safe id for anchors and form controls.
    anchor: String,
    path: Option<String>,
    status: &'static str,
    status_word: &'static str,
    identity: String,
    sequential: Option<String>,
    affected: Vec<String>,
    not_model: bool,
    rows: Vec<RowView>,
    notes: Vec<String>,
    /// The judges against reviewers' labels.
    reviews: Vec<ReviewLine>,
    cases: Vec<CaseView>,
    counts: Counts,
    hidden_cases: usize,
    diff: Option<String>,
}

#[derive(Serialize)]
struct ReviewLine {
    flagged: bool,
    text: String,
}

#[derive(Serialize, Default)]
pub(crate) struct Counts {
    pub(crate) all: usize,
    pub(crate) flipped: usize,
    pub(crate) dropped: usize,
    pub(crate) errored: usize,
}

#[derive(Serialize)]
pub(crate) struct RowView {
    name: String,
    kind: String,
    scale: &'static str,
    baseline: String,
    head: String,
    delta: String,
    interval: String,
    verdict: String,
    verdict_class: &'static str,
    method: String,
    cases: usize,
    /// Inline SVG of the interval against the tolerance band.
    chart: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct CaseView {
    id: String,
    /// Of `flipped`, `dropped`, `errored`.
    classes: Vec<&'static str>,
    vars: Vec<(String, String)>,
    head_output: String,
    head_failed: bool,
    baseline_output: Option<String>,
    baseline_failed: bool,
    scores: Vec<ScoreView>,
}

#[derive(Serialize)]
pub(crate) struct ScoreView {
    criterion: String,
    head: String,
    baseline: Option<String>,
    /// `flipped`, `dropped`, `gained` or empty.
    change: &'static str,
    reason: Option<String>,
    error: Option<String>,
}

impl Page {
    fn build(report: &CheckReport) -> Page {
        let status = report.status();
        let check = report.mode == ReportMode::Check;
        let prompts = report
            .prompts
            .iter()
            .enumerate()
            .map(|(i, p)| PromptView::build(p, i, check, report.mode))
            .collect();
        // The headline counts every prompt's criteria: work it out once.
        let headline = report.headline();
        Page {
            title: format!(
                "promptgate {}: {headline}",
                if check { "check" } else { "eval" },
            ),
            check,
            status: status_class(status),
            status_word: status.word(report.mode),
            headline,
            notes: report.notes.clone(),
            prompts,
            calls: calls_line(report),
            tool_version: report.tool_version.clone(),
            generated_at: report.generated_at.clone(),
        }
    }
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
    }
}

fn calls_line(report: &CheckReport) -> String {
    let calls = &report.totals.calls;
    let mut line = format!(
        "{} calls made, {} from the cache, {} failed",
        calls.made, calls.cached, calls.failed
    );
    if calls.made > 0 && calls.unpriced == 0 {
        line.push_str(&format!(", ${:.4}", calls.cost_usd));
    }
    if let Some(ms) = report.totals.elapsed_ms {
        line.push_str(&format!(", {:.1} s", ms as f64 / 1000.0));
    }
    line
}

impl PromptView {
    fn build(prompt: &PromptReport, index: usize, check: bool, mode: ReportMode) -> PromptView {
        let rows = view::rows(prompt);
        let status = prompt.status_with(&rows);
        let tolerance = prompt.gate.as_ref().map(|g| g.policy.tolerance);
        let (mut cases, counts) = case_views(prompt);
        let hidden_cases = cases.len().saturating_sub(MAX_CASES);
        cases.truncate(MAX_CASES);
        PromptView {
            name: prompt.head.prompt.clone(),
            anchor: format!("p{index}"),
            path: prompt.path.clone(),
            status: status_class(status),
            status_word: status.word(mode),
            identity: identity(prompt),
            sequential: view::sequential_line(prompt),
            affected: prompt.affected_because.clone(),
            not_model: !prompt.from_model(),
            notes: rows.iter().filter_map(view::inconclusive_note).collect(),
            reviews: view::review_lines(prompt)
                .into_iter()
                .map(|(flagged, text)| ReviewLine { flagged, text })
                .collect(),
            rows: rows.iter().map(|r| row_view(r, check, tolerance)).collect(),
            cases,
            counts,
            hidden_cases,
            diff: prompt.prompt_diff_markdown.clone(),
        }
    }
}

/// A prompt's cases as the report shows them (flipped first, then drops,
/// then errors, then the rest) and how many of each: the dashboard's run
/// page shows the same views through the same partial
/// (`templates/report_case.html.j2`).
pub(crate) fn case_views(prompt: &PromptReport) -> (Vec<CaseView>, Counts) {
    let baseline_by_id = prompt.baseline.as_ref().map(view::CasesById::of);
    let mut cases: Vec<(u8, CaseView)> = prompt
        .head
        .cases
        .iter()
        .map(|case| {
            let base_case = baseline_by_id.as_ref().and_then(|b| b.get(&case.case_id));
            case_view(&case, base_case.as_deref(), prompt)
        })
        .collect();
    cases.sort_by_key(|(rank, _)| *rank);
    let mut counts = Counts {
        all: cases.len(),
        ..Counts::default()
    };
    for (_, case) in &cases {
        counts.flipped += case.classes.contains(&"flipped") as usize;
        counts.dropped += case.classes.contains(&"dropped") as usize;
        counts.errored += case.classes.contains(&"errored") as usize;
    }
    (cases.into_iter().map(|(_, c)| c).collect(), counts)
}

impl CaseView {
    /// Whether the case is `flipped`, `dropped` or `errored`.
    pub(crate) fn is(&self, class: &str) -> bool {
        self.classes.contains(&class)
    }
}

/// The criterion rows of a prompt as the report's table shows them.
pub(crate) fn criterion_rows(prompt: &PromptReport) -> Vec<RowView> {
    let tolerance = prompt.gate.as_ref().map(|g| g.policy.tolerance);
    view::rows(prompt)
        .iter()
        .map(|r| row_view(r, prompt.baseline.is_some(), tolerance))
        .collect()
}

fn identity(prompt: &PromptReport) -> String {
    let head = &prompt.head;
    match (&prompt.baseline, &prompt.baseline_source) {
        (Some(base), source) => format!(
            "baseline: {} · version {} → {} · model {}",
            source
                .as_ref()
                .map_or("stored".to_string(), ToString::to_string),
            view::short_id(&base.version.0),
            view::short_id(&head.version.0),
            head.model
        ),
        (None, _) => format!(
            "version {} · model {}",
            view::short_id(&head.version.0),
            head.model
        ),
    }
}

fn row_view(row: &CriterionRow, check: bool, tolerance: Option<f64>) -> RowView {
    let verdict_class = match row.verdict {
        Some(Verdict::Regressed) => "regressed",
        Some(Verdict::Improved) => "improved",
        Some(Verdict::Unchanged) => "unchanged",
        Some(Verdict::Inconclusive) => "inconclusive",
        Some(Verdict::New) | None => "new",
    };
    let verdict_class = if row.threshold_met == Some(false) {
        "regressed"
    } else {
        verdict_class
    };
    RowView {
        name: row.name.clone(),
        kind: row.kind.clone().unwrap_or_default(),
        scale: row.scale.name(),
        baseline: view::fmt_mean(row.baseline_mean, row.scale),
        head: view::fmt_mean(row.head_mean, row.scale),
        delta: view::fmt_delta(row.delta),
        interval: view::fmt_interval(row.interval),
        verdict: view::row_verdict_text(row),
        verdict_class,
        method: row.method.clone().unwrap_or_default(),
        cases: row.cases,
        chart: match (check, row.delta, row.interval, tolerance) {
            (true, Some(delta), Some(interval), Some(tolerance)) => Some(interval_chart(
                delta,
                interval,
                tolerance,
                verdict_class,
                &row.name,
            )),
            _ => None,
        },
    }
}

/// The interval of a delta drawn on a symmetric axis with the ±tolerance
/// band shaded: where it lies against the band is the verdict.
fn interval_chart(
    delta: f64,
    (low, high): (f64, f64),
    tolerance: f64,
    class: &str,
    criterion: &str,
) -> String {
    const WIDTH: f64 = 240.0;
    const MID: f64 = WIDTH / 2.0;
    const HALF: f64 = 110.0;
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let (delta, low, high, tolerance) =
        (finite(delta), finite(low), finite(high), finite(tolerance));
    let reach = [low.abs(), high.abs(), 3.0 * tolerance, 0.05]
        .into_iter()
        .fold(0.0, f64::max)
        .min(1.0);
    let x = |v: f64| MID + (v / reach).clamp(-1.0, 1.0) * HALF;
    // The label is made of numbers and the criterion's name, escaped here
    // because the chart is inserted raw.
    let label = super::escape::html(&format!(
        "{criterion}: change {} in [{}, {}]; tolerance ±{tolerance:.2}",
        view::fmt_signed(delta),
        view::fmt_signed(low),
        view::fmt_signed(high),
    ));
    format!(
        concat!(
            r#"<svg class="interval {class}" width="240" height="24" viewBox="0 0 240 24" role="img" aria-label="{label}">"#,
            r#"<title>{label}</title>"#,
            r#"<rect class="band" x="{band_x:.1}" y="2" width="{band_w:.1}" height="20"/>"#,
            r#"<line class="zero" x1="{mid:.1}" y1="0" x2="{mid:.1}" y2="24"/>"#,
            r#"<line class="range" x1="{lo:.1}" y1="12" x2="{hi:.1}" y2="12"/>"#,
            r#"<circle class="point" cx="{pt:.1}" cy="12" r="4"/>"#,
            "</svg>"
        ),
        class = class,
        label = label,
        band_x = x(-tolerance),
        band_w = x(tolerance) - x(-tolerance),
        mid = MID,
        lo = x(low),
        hi = x(high),
        pt = x(delta),
    )
}

/// A case's view, with its rank: 0 flipped, 1 dropped, 2 errored, 3 other.
fn case_view(
    case: &CaseResult,
    base_case: Option<&CaseResult>,
    prompt: &PromptReport,
) -> (u8, CaseView) {
    let head = &prompt.head;
    let baseline = prompt.baseline.as_ref();
    let mut scores = Vec::with_capacity(head.criteria.len());
    let (mut flipped, mut dropped) = (false, false);
    for (index, criterion) in head.criteria.iter().enumerate() {
        let head_score = view::case_score(case, index);
        let base_score = baseline.zip(base_case).and_then(|(b, c)| {
            Some(view::case_score(
                c,
                view::criterion_index(b, &criterion.name)?,
            ))
        });
        let change = match (head_score.mean, base_score.as_ref().and_then(|s| s.mean)) {
            (Some(h), Some(b)) if b >= PASS_MARK && h < PASS_MARK => "flipped",
            (Some(h), Some(b)) if h < b - 1e-9 => "dropped",
            (Some(h), Some(b)) if h > b + 1e-9 => "gained",
            _ => "",
        };
        flipped |= change == "flipped";
        dropped |= change == "flipped" || change == "dropped";
        scores.push(ScoreView {
            criterion: criterion.name.clone(),
            head: view::fmt_case_score(&head_score),
            baseline: base_score.as_ref().map(view::fmt_case_score),
            change,
            reason: head_score.reason.clone(),
            error: head_score.error.clone(),
        });
    }
    let errored = scores.iter().any(|s| s.error.is_some());
    let (head_output, head_failed) = output_text(case);
    let (baseline_output, baseline_failed) = match base_case.map(output_text) {
        Some((text, failed)) => (Some(text), failed),
        None => (None, false),
    };
    let mut classes = Vec::new();
    if flipped {
        classes.push("flipped");
    }
    if dropped {
        classes.push("dropped");
    }
    if errored || head_failed {
        classes.push("errored");
    }
    let rank = if flipped {
        0
    } else if dropped {
        1
    } else if errored || head_failed {
        2
    } else {
        3
    };
    let view = CaseView {
        id: case.case_id.clone(),
        classes,
        vars: case
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect(),
        head_output,
        head_failed,
        baseline_output,
        baseline_failed,
        scores,
    };
    (rank, view)
}

/// The first repeat's reply, or the call's error; cut when very long.
fn output_text(case: &CaseResult) -> (String, bool) {
    let (first, repeats) = view::case_output(case);
    let (text, failed) = match first {
        Some(Ok(text)) => (text.to_string(), false),
        Some(Err(error)) => (format!("call failed: {error}"), true),
        None => ("no output".to_string(), false),
    };
    let mut text = cut(&text, MAX_OUTPUT_CHARS);
    if repeats > 1 {
        text.push_str(&format!("\n\n(first of {repeats} repeats)"));
    }
    (text, failed)
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!(
            "{}… (cut: {} characters in all)",
            &text[..end],
            text.chars().count()
        ),
        None => text.to_string(),
    }
}

fn value_text(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    cut(&text, 2_000)
}
