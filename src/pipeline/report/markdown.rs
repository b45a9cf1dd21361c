//! The markdown report: the body of the sticky pull-request comment and of
//! the step summary, rendered from `templates/*.md.j2` with minijinja.
//!
//! Untrusted text is neutralised twice over: a custom formatter escapes every
//! `{{ value }}` for markdown (see [`escape::inline`]), and the only raw
//! insertions (`|safe`) are code blocks and diffs built by [`escape`].
//!
//! GitHub refuses a comment over 65,536 characters. The report is rendered
//! at decreasing levels of detail until it fits: outputs get shorter, fewer
//! cases are shown, the diff goes — never a table, and a note says so.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::pipeline::gate::Verdict;

use super::escape::{self, code_block, truncate, truncate_line};
use super::view::{self, CaseScore, CriterionRow, Scale, WorstCase};
use super::{COMMENT_MARKER, CheckReport, PromptReport, ReportError, ReportMode, Status};
use crate::types::{CallStats, CaseResult};

/// GitHub's limit on a comment body. Measured in bytes here, which is never
/// less than characters or UTF-16 units, so the body fits however GitHub counts.
pub const COMMENT_LIMIT: usize = 65_536;
/// GitHub's limit on one step's summary (1 MiB).
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

const TEMPLATES: [(&str, &str); 2] = [
    (
        "comment.md.j2",
        include_str!("../../../templates/comment.md.j2"),
    ),
    (
        "prompt.md.j2",
        include_str!("../../../templates/prompt.md.j2"),
    ),
];

/// How to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// Start with [`COMMENT_MARKER`] (for the sticky comment).
    pub marker: bool,
    /// The body's size limit in bytes.
    pub max_bytes: usize,
}

impl MarkdownOptions {
    pub fn comment() -> MarkdownOptions {
        MarkdownOptions {
            marker: true,
            max_bytes: COMMENT_LIMIT,
        }
    }

    pub fn step_summary() -> MarkdownOptions {
        MarkdownOptions {
            marker: false,
            max_bytes: STEP_SUMMARY_LIMIT,
        }
    }
}

/// The pull-request comment body (with the marker, within 65,536).
pub fn render_comment(report: &CheckReport) -> Result<String, ReportError> {
    render(report, &MarkdownOptions::comment())
}

/// The `$GITHUB_STEP_SUMMARY` body: the same report, no marker, 1 MiB.
pub fn render_step_summary(report: &CheckReport) -> Result<String, ReportError> {
    render(report, &MarkdownOptions::step_summary())
}

/// How much detail one rendering carries.
#[derive(Debug, Clone, Copy)]
struct Detail {
    cases: usize,
    output_chars: usize,
    input_chars: usize,
    reason_chars: usize,
    diff_chars: Option<usize>,
    errors: usize,
    /// Tables only for prompts that fail or need a look.
    only_notable_prompts: bool,
}

const LEVELS: [Detail; 6] = [
    Detail {
        cases: 10,
        output_chars: 3000,
        input_chars: 1500,
        reason_chars: 600,
        diff_chars: Some(20_000),
        errors: 20,
        only_notable_prompts: false,
    },
    Detail {
        cases: 6,
        output_chars: 1200,
        input_chars: 600,
        reason_chars: 300,
        diff_chars: Some(8_000),
        errors: 10,
        only_notable_prompts: false,
    },
    Detail {
        cases: 3,
        output_chars: 400,
        input_chars: 300,
        reason_chars: 200,
        diff_chars: Some(3_000),
        errors: 5,
        only_notable_prompts: false,
    },
    Detail {
        cases: 1,
        output_chars: 200,
        input_chars: 200,
        reason_chars: 120,
        diff_chars: None,
        errors: 3,
        only_notable_prompts: false,
    },
    Detail {
        cases: 0,
        output_chars: 0,
        input_chars: 0,
        reason_chars: 0,
        diff_chars: None,
        errors: 0,
        only_notable_prompts: false,
    },
    Detail {
        cases: 0,
        output_chars: 0,
        input_chars: 0,
        reason_chars: 0,
        diff_chars: None,
        errors: 0,
        only_notable_prompts: true,
    },
];

/// Renders at the most detailed level that fits `options.max_bytes`.
pub fn render(report: &CheckReport, options: &MarkdownOptions) -> Result<String, ReportError> {
    let env = environment()?;
    let template = env.get_template("comment.md.j2").map_err(template_error)?;
    let mut last = String::new();
    for (level, detail) in LEVELS.iter().enumerate() {
        let doc = Doc::build(report, options, *detail, level > 0);
        last = template.render(&doc).map_err(template_error)?;
        if last.len() <= options.max_bytes {
            return Ok(last);
        }
    }
    // Even the tables of the notable prompts do not fit (hundreds of failing
    // prompts): cut at a line, close any open block, and say where the rest is.
    let note = "\n\n> ✂️ The report was cut here to fit GitHub's size limit; \
                the step summary and the JSON report have all of it.\n";
    let mut end = options.max_bytes.saturating_sub(note.len() + 16);
    while !last.is_char_boundary(end) {
        end -= 1;
    }
    // Prefer ending after a whole prompt section, so no table is cut.
    let cut = last[..end]
        .rfind("\n### ")
        .or_else(|| last[..end].rfind('\n'))
        .unwrap_or(end);
    let mut body = last[..cut].to_string();
    if let Some(fence) = escape::open_fence(&body) {
        body.push('\n');
        body.push_str(&fence);
    }
    if body.matches("<details>").count() > body.matches("</details>").count() {
        body.push_str("\n\n</details>");
    }
    body.push_str(note);
    Ok(body)
}

fn template_error(source: minijinja::Error) -> ReportError {
    let template = source.name().unwrap_or("comment.md.j2").to_string();
    ReportError::Template { template, source }
}

fn environment() -> Result<Environment<'static>, ReportError> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    // A typo in a template must fail the tests, not print nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_formatter(|out, _state, value| {
        if value.is_safe() {
            write!(out, "{value}")?;
        } else if !value.is_none() && !value.is_undefined() {
            out.write_str(&escape::inline(&value.to_string()))?;
        }
        Ok(())
    });
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(template_error)?;
    }
    Ok(env)
}

#[derive(Serialize)]
struct Doc {
    marker: Option<&'static str>,
    status_emoji: &'static str,
    command: &'static str,
    headline: String,
    notes: Vec<String>,
    not_model: usize,
    truncation_note: Option<String>,
    check: bool,
    prompts: Vec<PromptDoc>,
    passed_unlisted: usize,
    totals_line: String,
    tool_version: String,
    generated_at: String,
}

#[derive(Serialize)]
struct PromptDoc {
    name: String,
    status_emoji: &'static str,
    status_word: String,
    path: Option<String>,
    /// Baseline source, versions and model; built with escaping, so safe.
    identity: String,
    affected: Vec<String>,
    /// How the sequential tests ended; plain text, escaped in the template.
    sequential: Option<String>,
    policy_change: Option<String>,
    not_model: bool,
    rows: Vec<RowDoc>,
    notes: Vec<String>,
    worst_title: String,
    worst: Vec<CaseDoc>,
    errors_title: String,
    errors: Vec<ErrorDoc>,
    diff_md: Option<String>,
    calls: CallsDoc,
}

#[derive(Serialize)]
struct RowDoc {
    name: String,
    baseline: String,
    head: String,
    delta: String,
    interval: String,
    verdict_emoji: &'static str,
    verdict: String,
    pass_rate: String,
    cases: usize,
    errors: usize,
    threshold: String,
}

#[derive(Serialize)]
struct CaseDoc {
    case_id: String,
    moves: Vec<MoveDoc>,
    repeats: usize,
    input_md: String,
    baseline_output_md: Option<String>,
    head_output_md: String,
}

#[derive(Serialize)]
struct MoveDoc {
    criterion: String,
    baseline_score: Option<String>,
    head_score: String,
    flipped: bool,
    baseline_reason: Option<String>,
    head_reason: Option<String>,
    head_error: Option<String>,
}

#[derive(Serialize)]
struct ErrorDoc {
    case_id: String,
    criterion: String,
    message: String,
}

#[derive(Serialize)]
struct CallsDoc {
    made: u64,
    cached: u64,
    failed: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost: String,
}

impl From<&CallStats> for CallsDoc {
    fn from(c: &CallStats) -> CallsDoc {
        CallsDoc {
            made: c.made,
            cached: c.cached,
            failed: c.failed,
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            cost: c.cost_text(),
        }
    }
}

impl Doc {
    fn build(
        report: &CheckReport,
        options: &MarkdownOptions,
        detail: Detail,
        shortened: bool,
    ) -> Doc {
        let summary = report.summary();
        let mut prompts = Vec::new();
        let mut passed_unlisted = 0;
        for prompt in &report.prompts {
            let rows = view::rows(prompt);
            if detail.only_notable_prompts && prompt.status_with(&rows) == Status::Pass {
                passed_unlisted += 1;
            } else {
                prompts.push(PromptDoc::build(report.mode, prompt, rows, detail));
            }
        }
        let limit = if options.max_bytes == COMMENT_LIMIT {
            "GitHub's 65,536-character comment limit".to_string()
        } else {
            format!("the {}-byte limit", options.max_bytes)
        };
        let totals = &report.totals;
        let mut totals_line = format!(
            "{} call(s) made, {} cached · cost {}",
            totals.calls.made,
            totals.calls.cached,
            totals.calls.cost_text()
        );
        if totals.prompts_unaffected > 0 {
            totals_line.push_str(&format!(
                " · {} unaffected prompt(s) not evaluated",
                totals.prompts_unaffected
            ));
        }
        Doc {
            marker: options.marker.then_some(COMMENT_MARKER),
            status_emoji: emoji(report.status()),
            command: match report.mode {
                ReportMode::Check => "check",
                ReportMode::Eval => "eval",
            },
            headline: report.headline(),
            notes: report.notes.clone(),
            not_model: summary.not_model,
            truncation_note: shortened.then(|| {
                format!(
                    "Details were shortened to fit {limit}; the step summary, \
                     the JSON and the JUnit reports have all of them."
                )
            }),
            check: report.mode == ReportMode::Check,
            prompts,
            passed_unlisted,
            totals_line,
            tool_version: report.tool_version.clone(),
            generated_at: report.generated_at.clone(),
        }
    }
}

/// The markdown reports' emoji for a [`Status`].
fn emoji(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅",
        Status::Warn => "⚠️",
        Status::Fail => "❌",
    }
}

/// A prompt's emoji and word: its [`Status`], said as everywhere else, and
/// why a passing prompt with a regression still passes.
fn prompt_status(
    prompt: &PromptReport,
    rows: &[CriterionRow],
    mode: ReportMode,
) -> (&'static str, String) {
    let status = prompt.status_with(rows);
    let regressed = rows.iter().any(|r| r.verdict == Some(Verdict::Regressed));
    let mut word = status.word(mode).to_string();
    if status == Status::Warn && regressed {
        word.push_str(" (regressed; not failing under this policy)");
    }
    (emoji(status), word)
}

fn verdict_emoji(row: &CriterionRow) -> &'static str {
    if row.threshold_met == Some(false) {
        return "🔴";
    }
    match row.verdict {
        Some(Verdict::Regressed) => "🔴",
        Some(Verdict::Improved) => "🟢",
        Some(Verdict::Unchanged) => "⚪",
        Some(Verdict::Inconclusive) => "🟡",
        Some(Verdict::New) => "🆕",
        None => "",
    }
}

impl PromptDoc {
    fn build(
        mode: ReportMode,
        prompt: &PromptReport,
        rows: Vec<CriterionRow>,
        detail: Detail,
    ) -> PromptDoc {
        let (status_emoji, status_word) = prompt_status(prompt, &rows, mode);
        let mut notes = Vec::new();
        for row in &rows {
            if let Some(note) = view::inconclusive_note(row) {
                notes.push(format!("🟡 {}: {note}.", row.name));
            }
            if row.threshold_met == Some(false) {
                notes.push(format!(
                    "🔴 {}: the head's mean {} is below the criterion's threshold {}; that fails the prompt on its own.",
                    row.name,
                    view::fmt_mean(row.head_mean, row.scale),
                    row.threshold.map_or_else(String::new, |t| format!("{t:.2}")),
                ));
            }
        }
        for (flagged, line) in view::review_lines(prompt) {
            notes.push(format!("{} {line}.", if flagged { "⚠️" } else { "🧑‍⚖️" }));
        }
        if let Some(calls) = prompt.gate.as_ref().map(|g| &g.calls)
            && (calls.head_failed > 0 || calls.cases_left_out > 0)
        {
            notes.push(format!(
                    "🔴 {} of {} head call(s) failed; {} case(s) left out of the comparison. A run that could not evaluate never passes{}.",
                    calls.head_failed,
                    calls.head_calls,
                    calls.cases_left_out,
                    if calls.regressed {
                        ", and calls fail more often than on the baseline"
                    } else {
                        ""
                    }
                ));
        }
        let all_worst = view::worst_cases(prompt);
        let worst: Vec<CaseDoc> = all_worst
            .iter()
            .take(detail.cases)
            .map(|w| CaseDoc::build(w, detail))
            .collect();
        let worst_title = match mode {
            ReportMode::Check => "Worst cases",
            ReportMode::Eval => "Failing cases",
        };
        let worst_title = if worst.len() < all_worst.len() {
            format!("{worst_title} ({} of {})", worst.len(), all_worst.len())
        } else {
            format!("{worst_title} ({})", worst.len())
        };
        let all_errors = view::head_errors(&prompt.head);
        let errors: Vec<ErrorDoc> = all_errors
            .iter()
            .take(detail.errors)
            .map(|e| ErrorDoc {
                case_id: e.case_id.clone(),
                criterion: e.criterion.clone().unwrap_or_else(|| "(the call)".into()),
                message: truncate_line(&e.message, detail.reason_chars.max(80)),
            })
            .collect();
        let errors_title = if errors.len() < all_errors.len() {
            format!("Errors ({} of {})", errors.len(), all_errors.len())
        } else {
            format!("Errors ({})", errors.len())
        };
        let diff_md = detail.diff_chars.and_then(|max| {
            prompt
                .prompt_diff_markdown
                .as_deref()
                .map(|diff| escape::defuse_markdown(&truncate_at_line(diff, max)))
        });
        let rows = rows
            .iter()
            .map(|r| RowDoc {
                name: r.name.clone(),
                baseline: view::fmt_mean(r.baseline_mean, r.scale),
                head: view::fmt_mean(r.head_mean, r.scale),
                delta: view::fmt_delta(r.delta),
                interval: view::fmt_interval(r.interval),
                verdict_emoji: verdict_emoji(r),
                verdict: view::row_verdict_text(r),
                pass_rate: view::fmt_rate(r.head_pass_rate),
                cases: r.cases,
                errors: r.head_errors,
                threshold: match (r.threshold, r.threshold_met) {
                    (Some(t), Some(false)) => format!("🔴 below {t:.2}"),
                    (Some(t), _) => format!("{t:.2}"),
                    (None, _) => "—".to_string(),
                },
            })
            .collect();
        PromptDoc {
            name: prompt.head.prompt.clone(),
            status_emoji,
            status_word,
            path: prompt.path.clone(),
            identity: identity(prompt),
            affected: prompt.affected_because.clone(),
            sequential: view::sequential_line(prompt),
            policy_change: prompt.policy_change.clone(),
            not_model: !prompt.from_model(),
            rows,
            notes,
            worst_title,
            worst,
            errors_title,
            errors,
            diff_md,
            calls: CallsDoc::from(&prompt.calls),
        }
    }
}

impl CaseDoc {
    fn build(w: &WorstCase<'_>, detail: Detail) -> CaseDoc {
        let output_md = |case: &CaseResult| -> (String, usize) {
            match view::case_output(case) {
                (Some(Ok(text)), repeats) => (
                    code_block(&truncate(text, detail.output_chars), "text"),
                    repeats,
                ),
                (Some(Err(e)), repeats) => (
                    format!(
                        "*The call failed:* {}",
                        escape::inline(&truncate_line(e, detail.reason_chars))
                    ),
                    repeats,
                ),
                (None, _) => ("*No output recorded.*".to_string(), 0),
            }
        };
        let input_md = match w.head_case.as_deref().or(w.baseline_case.as_deref()) {
            Some(case) if !case.vars.is_empty() => {
                let json = serde_json::to_string_pretty(&case.vars).unwrap_or_default();
                code_block(&truncate(&json, detail.input_chars), "json")
            }
            _ => "*No variables.*".to_string(),
        };
        let (head_output_md, repeats) = w
            .head_case
            .as_deref()
            .map_or_else(|| ("*No output recorded.*".to_string(), 0), output_md);
        let short = |text: Option<&str>| text.map(|t| truncate_line(t, detail.reason_chars));
        let moves = w
            .moves
            .iter()
            .map(|m| MoveDoc {
                criterion: m.criterion.clone(),
                baseline_score: m.baseline.as_ref().map(|s| score_text(m.scale, s)),
                head_score: score_text(m.scale, &m.head),
                flipped: m.flipped,
                baseline_reason: short(m.baseline.as_ref().and_then(|b| b.reason.as_deref())),
                head_reason: short(m.head.reason.as_deref()),
                head_error: short(m.head.error.as_deref()),
            })
            .collect();
        CaseDoc {
            case_id: w.case_id.clone(),
            moves,
            repeats,
            input_md,
            baseline_output_md: w.baseline_case.as_deref().map(|c| output_md(c).0),
            head_output_md,
        }
    }
}

/// A case's score as its evaluator shows it; a 1–5 mean over repeats as `3.5/5`.
fn score_text(scale: Scale, score: &CaseScore) -> String {
    match (scale, score.mean, &score.display) {
        (Scale::Rubric5, Some(m), None) => format!("{:.1}/5", 1.0 + 4.0 * m),
        (Scale::Binary, Some(1.0), None) => "pass".to_string(),
        (Scale::Binary, Some(0.0), None) => "fail".to_string(),
        _ => view::fmt_case_score(score),
    }
}

/// `baseline from local store · version a → b · model m`, escaped.
fn identity(prompt: &PromptReport) -> String {
    let code = escape::code_inline;
    let head_version = code(view::short_id(&prompt.head.version.0));
    let model = code(&prompt.head.model);
    match &prompt.baseline {
        Some(base) => {
            let source = prompt
                .baseline_source
                .as_ref()
                .map_or_else(|| "the store".to_string(), ToString::to_string);
            format!(
                "baseline from {} · version {} → {head_version} · model {model}",
                escape::inline(&source),
                code(view::short_id(&base.version.0)),
            )
        }
        None if prompt.gate.is_some() => {
            format!("no baseline (a new prompt) · version {head_version} · model {model}")
        }
        None => format!("version {head_version} · model {model}"),
    }
}

/// At most `max` characters, cut at the end of a line, with a note.
fn truncate_at_line(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((end, _)) => {
            let cut = s[..end].rfind('\n').unwrap_or(end);
            format!(
                "{}\n\n*… the diff continues; it was cut to fit.*\n",
                &s[..cut]
            )
        }
    }
}
