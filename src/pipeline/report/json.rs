//! The JSON report: a versioned, documented format for machines, with
//! everything the other reports show (and every case's outputs and scores).
//!
//! The wire types below are the format; their doc comments are its
//! documentation, and `schemas/report.schema.json` is generated from them
//! (`report::json::schema()`; a test fails when the committed file is stale).
//! Bump [`SCHEMA_VERSION`] on any change that could break a reader.

use std::io::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::pipeline::gate::sequential::Savings;
use crate::pipeline::gate::{CaseMove, Verdict};
use crate::pipeline::review::{Agreement, Estimate};
use crate::types::{CaseResult, EvalResult};

use super::view::{self, CriterionRow};
use super::{CheckReport, PromptReport, ReportError, ReportMode, Status, Summary};
use crate::types::CallStats;

/// The version of the JSON report format.
pub const SCHEMA_VERSION: u32 = 1;

/// A promptgate report (`promptgate check --json` / `promptgate eval --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptgate report", rename = "JsonReport")]
pub struct JsonReport<Prompt = JsonPrompt> {
    /// The version of this format. Readers should refuse versions they do not know.
    #[schemars(extend("const" = 1))]
    pub schema_version: u32,
    pub tool: ToolInfo,
    /// When the report was made (RFC 3339).
    pub generated_at: String,
    pub mode: ReportMode,
    /// The one-line outcome: `fail` when a prompt fails the gate.
    pub status: Status,
    /// The verdict line, as the markdown report's first line says it.
    pub headline: String,
    pub summary: Summary,
    /// Run-wide notes (why a baseline is missing, skipped credentials, …).
    pub notes: Vec<String>,
    pub totals: JsonTotals,
    pub prompts: Vec<Prompt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolInfo {
    /// Always `promptgate`.
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonTotals {
    /// Every call this run made or served from the cache.
    pub calls: CallStats,
    /// Prompts left out because nothing they depend on changed.
    pub prompts_unaffected: usize,
    pub elapsed_ms: Option<u64>,
}

/// One prompt's outcome.
// `Cases`: the cases themselves when read back, [`CasesOf`] when written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "JsonPrompt")]
pub struct JsonPrompt<Cases = Vec<JsonCase>> {
    pub name: String,
    /// The prompt file, repository-relative.
    pub path: Option<String>,
    /// The prompt's outcome, as the terminal and markdown reports say it:
    /// `pass`, `warn` (passes, needs a look) or `fail`.
    pub status: Status,
    /// The gate's worst criterion verdict; `null` in eval mode.
    pub verdict: Option<JsonVerdict>,
    /// Whether this prompt fails the check under the policy; `null` in eval mode.
    pub failed: Option<bool>,
    /// False when outputs came from the echo provider (not a model).
    pub from_model: bool,
    pub head: JsonResultInfo,
    /// `null` in eval mode and for a prompt without a baseline.
    pub baseline: Option<JsonResultInfo>,
    /// `local store`, `registry` or `fresh evaluation of <rev>`.
    pub baseline_source: Option<String>,
    /// Why the prompt was evaluated.
    pub affected_because: Vec<String>,
    /// A trusted change to the gate policy, `old → new`.
    pub policy_change: Option<String>,
    /// The word-level prompt diff as markdown (unescaped: it is data here).
    pub prompt_diff_markdown: Option<String>,
    /// Calls this run made for this prompt.
    pub calls: CallStats,
    /// Paired cases the gate left out because a call of theirs failed (on
    /// either side); `null` in eval mode.
    #[serde(default)]
    pub cases_left_out: Option<usize>,
    /// The head's calls failed more often than the baseline's: a regression
    /// of its own kind; `null` in eval mode.
    #[serde(default)]
    pub call_failures_regressed: Option<bool>,
    /// Set when the check evaluated this prompt in batches with
    /// anytime-valid tests (suites of 50 cases or more with a baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<JsonSequential>,
    pub criteria: Vec<JsonCriterion>,
    /// The cases the markdown report shows first, worst first.
    pub worst_cases: Vec<JsonWorstCase>,
    /// Every head case with its outputs and scores, and the baseline's.
    pub cases: Cases,
}

/// How a prompt's sequential evaluation ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonSequential {
    /// True when the tests decided before the last case: the verdicts are
    /// theirs, and `head.cases` holds only the cases evaluated.
    pub stopped_early: bool,
    /// Cases evaluated, of `cases` in the suite.
    pub decided_after: usize,
    pub cases: usize,
    /// Provider calls and tokens not spent (estimated from the calls made);
    /// 0 when every case ran.
    pub calls_saved: u64,
    pub tokens_saved: u64,
    /// Dollars not spent, when every call made had a known price.
    pub cost_saved_usd: Option<f64>,
    /// The report's sentence.
    pub summary: String,
}

/// The identity of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonResultInfo {
    /// The prompt version: a hash of everything that changes what is sent.
    pub version: String,
    /// The evaluation's identity: version + cases + evaluators + judge + repeats.
    pub fingerprint: String,
    /// `publisher/model`, or `echo`.
    pub model: String,
    pub from_model: bool,
    pub created_at: String,
}

/// A criterion's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JsonVerdict {
    /// The interval lies above +tolerance.
    Improved,
    /// The interval lies within ±tolerance.
    Unchanged,
    /// The interval lies below −tolerance.
    Regressed,
    /// Too few cases, or the interval straddles a tolerance bound.
    Inconclusive,
    /// No baseline to compare with.
    New,
}

impl From<Verdict> for JsonVerdict {
    fn from(v: Verdict) -> JsonVerdict {
        match v {
            Verdict::Improved => JsonVerdict::Improved,
            Verdict::Unchanged => JsonVerdict::Unchanged,
            Verdict::Regressed => JsonVerdict::Regressed,
            Verdict::Inconclusive => JsonVerdict::Inconclusive,
            Verdict::New => JsonVerdict::New,
        }
    }
}

/// One criterion of one prompt: a row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonCriterion {
    pub name: String,
    /// The evaluator, e.g. `judge`, `regex`.
    pub kind: Option<String>,
    /// `0-1`, or `1-5` for a judge's rubric (scores are still stored in [0, 1]).
    pub scale: String,
    /// The criterion's line in the prompt file.
    pub line: Option<u32>,
    /// `null` in eval mode.
    pub verdict: Option<JsonVerdict>,
    /// Means in [0, 1] over the paired cases (per-case score = mean over repeats).
    pub baseline_mean: Option<f64>,
    pub head_mean: Option<f64>,
    /// head − baseline.
    pub delta: Option<f64>,
    /// Confidence interval of `delta`.
    pub interval: Option<JsonInterval>,
    /// How the interval was computed.
    pub method: Option<String>,
    /// Paired cases (check) or scored head cases (eval).
    pub cases: usize,
    /// Share of cases scoring at least 0.5.
    pub head_pass_rate: Option<f64>,
    pub baseline_pass_rate: Option<f64>,
    /// Scores that failed on an output, per side (they count 0 against it).
    pub head_errors: usize,
    pub baseline_errors: usize,
    pub threshold: Option<f64>,
    pub threshold_met: Option<bool>,
    /// Smallest |delta| this many cases could tell from zero.
    pub min_detectable_effect: Option<f64>,
    /// About how many more cases would decide an inconclusive criterion.
    pub cases_needed: Option<u32>,
    /// The report's sentence for an inconclusive criterion.
    pub note: Option<String>,
    pub flipped_to_fail: Vec<JsonCaseMove>,
    pub flipped_to_pass: Vec<JsonCaseMove>,
    /// The largest per-case drops, worst first.
    pub largest_drops: Vec<JsonCaseMove>,
    /// For a judged criterion with reviewer labels: how often its judge
    /// agrees with the reviewers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_agreement: Option<JsonJudgeAgreement>,
    /// Set when the verdict was corrected for the judge's errors (then
    /// `delta` and `interval` are of the true pass rates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_correction: Option<JsonJudgeCorrection>,
}

/// A judge measured against reviewers' pass/fail labels of the same outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonJudgeAgreement {
    /// Labels counted (a reviewer's latest label per output).
    pub labels: u64,
    /// Outputs both passed, the judge failed, the judge passed, both failed.
    pub both_pass: u64,
    pub judge_failed_a_pass: u64,
    pub judge_passed_a_fail: u64,
    pub both_fail: u64,
    /// Enough labels for the rates to be shown: 30 in all, 10 passed and 10
    /// failed by reviewers. Below that the rates are `null`.
    pub enough: bool,
    /// Labels still needed before `enough`.
    pub labels_needed: u64,
    /// Share of outputs where judge and reviewer agree, with its exact 95% interval.
    pub accuracy: Option<JsonEstimate>,
    /// Cohen's kappa, with a seeded bootstrap 95% interval.
    pub kappa: Option<JsonEstimate>,
    /// Of the outputs reviewers passed, the share the judge passed.
    pub sensitivity: Option<JsonEstimate>,
    /// Of the outputs reviewers failed, the share the judge failed.
    pub specificity: Option<JsonEstimate>,
    /// The agreement a judge must be capable of (`[review] min_agreement`).
    pub min_agreement: f64,
    /// Enough labels, and the accuracy's whole interval below `min_agreement`.
    pub flagged: bool,
    /// The reports' sentence.
    pub summary: String,
}

/// A rate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonEstimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// How a criterion's verdict was corrected for its judge's errors
/// (Rogan–Gladen, `[criteria.NAME] correct_with_reviews`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonJudgeCorrection {
    /// The difference of the judge's pass rates, before correction.
    pub judged_delta: f64,
    /// Reviewer labels behind the judge's error rates.
    pub labels: u64,
    pub sensitivity: Option<f64>,
    pub specificity: Option<f64>,
    /// Youden's J = sensitivity + specificity − 1, and the range of it the
    /// interval was divided by.
    pub youden: Option<f64>,
    pub youden_low: f64,
    pub youden_high: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonInterval {
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonCaseMove {
    pub case_id: String,
    pub baseline: f64,
    pub head: f64,
}

impl From<&CaseMove> for JsonCaseMove {
    fn from(m: &CaseMove) -> JsonCaseMove {
        JsonCaseMove {
            case_id: m.case_id.clone(),
            baseline: m.baseline,
            head: m.head,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonWorstCase {
    pub case_id: String,
    /// The criteria on which this case flipped, dropped or (eval) failed.
    pub criteria: Vec<String>,
    /// Whether it flipped from pass to fail on any of them.
    pub flipped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonCase {
    pub case_id: String,
    /// The case's variables.
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub head: Vec<JsonRepeat>,
    /// `null` when the baseline has no such case (or there is no baseline).
    pub baseline: Option<Vec<JsonRepeat>>,
}

/// One repeat of one case: the call and its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonRepeat {
    /// The model's reply; `null` when the call failed.
    pub output: Option<String>,
    /// Why the call failed.
    pub error: Option<String>,
    pub latency_ms: u64,
    /// Served from the response cache.
    pub cached: bool,
    pub cost_usd: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub scores: Vec<JsonScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonScore {
    pub criterion: String,
    /// In [0, 1]; `null` when scoring failed.
    pub value: Option<f64>,
    /// How the evaluator shows it, e.g. `4/5`.
    pub display: Option<String>,
    /// Why this score (a judge's reason).
    pub reason: Option<String>,
    /// Why there is no score.
    pub error: Option<String>,
}

/// The JSON Schema of [`JsonReport`] (what `schemas/report.schema.json` holds).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(JsonReport)).unwrap_or(serde_json::Value::Null)
}

/// The report in its wire form, every case built (what a reader of the
/// JSON gets back).
pub fn to_json_report(report: &CheckReport) -> JsonReport {
    wire_report(report, |prompt| {
        json_prompt(prompt, cases_of(prompt).collect())
    })
}

/// Writes the report as pretty-printed JSON to `out`. Each case is built
/// as it is written, so a report of many cases is never held whole in its
/// wire form nor as one string.
pub fn write(report: &CheckReport, out: impl std::io::Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    let wire = wire_report(report, |prompt| json_prompt(prompt, CasesOf(prompt)));
    serde_json::to_writer_pretty(&mut out, &wire)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The report as pretty-printed JSON text ([`write`] into a string).
pub fn render(report: &CheckReport) -> Result<String, ReportError> {
    let mut text = Vec::new();
    write(report, &mut text).map_err(serde_json::Error::io)?;
    // serde_json writes valid UTF-8, so the buffer becomes the string as is.
    Ok(String::from_utf8(text)
        .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned()))
}

fn wire_report<'r, Prompt>(
    report: &'r CheckReport,
    prompt: impl Fn(&'r PromptReport) -> Prompt,
) -> JsonReport<Prompt> {
    JsonReport {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "promptgate".to_string(),
            version: report.tool_version.clone(),
        },
        generated_at: report.generated_at.clone(),
        mode: report.mode,
        status: report.status(),
        headline: report.headline(),
        summary: report.summary(),
        notes: report.notes.clone(),
        totals: JsonTotals {
            calls: report.totals.calls.clone(),
            prompts_unaffected: report.totals.prompts_unaffected,
            elapsed_ms: report.totals.elapsed_ms,
        },
        prompts: report.prompts.iter().map(prompt).collect(),
    }
}

/// A prompt's cases, each built in its wire form only as it is written.
pub struct CasesOf<'r>(&'r PromptReport);

impl Serialize for CasesOf<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(cases_of(self.0))
    }
}

/// Every head case of `prompt` with the baseline's case of the same id.
fn cases_of(prompt: &PromptReport) -> impl Iterator<Item = JsonCase> + '_ {
    let baseline = prompt
        .baseline
        .as_ref()
        .map(|result| (result, view::CasesById::of(result)));
    prompt.head.cases.iter().map(move |case| JsonCase {
        case_id: case.case_id.clone(),
        vars: case.vars.clone(),
        head: repeats(&prompt.head, &case),
        baseline: baseline.as_ref().and_then(|(result, by_id)| {
            by_id
                .get(&case.case_id)
                .map(|found| repeats(result, &found))
        }),
    })
}

fn info(result: &EvalResult) -> JsonResultInfo {
    JsonResultInfo {
        version: result.version.0.clone(),
        fingerprint: result.fingerprint.0.clone(),
        model: result.model.clone(),
        from_model: result.from_model,
        created_at: result.created_at.clone(),
    }
}

fn json_sequential(prompt: &PromptReport) -> Option<JsonSequential> {
    let outcome = prompt.sequential.as_ref()?;
    let ran = prompt.head.cases.len();
    let savings = outcome.stopped.clone().unwrap_or(Savings {
        decided_after: ran,
        cases: ran,
        ..Savings::default()
    });
    Some(JsonSequential {
        stopped_early: outcome.stopped.is_some(),
        decided_after: savings.decided_after,
        cases: savings.cases,
        calls_saved: savings.calls_saved,
        tokens_saved: savings.tokens_saved,
        cost_saved_usd: savings.cost_saved_usd,
        summary: view::sequential_line(prompt)?,
    })
}

fn json_prompt<Cases>(prompt: &PromptReport, cases: Cases) -> JsonPrompt<Cases> {
    let rows = view::rows(prompt);
    let gate = prompt.gate.as_ref();
    JsonPrompt {
        name: prompt.head.prompt.clone(),
        path: prompt.path.clone(),
        status: prompt.status_with(&rows),
        verdict: gate.map(|g| g.verdict.into()),
        failed: gate.map(|g| g.failed),
        from_model: prompt.from_model(),
        head: info(&prompt.head),
        baseline: prompt.baseline.as_ref().map(info),
        baseline_source: prompt.baseline_source.as_ref().map(ToString::to_string),
        affected_because: prompt.affected_because.clone(),
        policy_change: prompt.policy_change.clone(),
        prompt_diff_markdown: prompt.prompt_diff_markdown.clone(),
        calls: prompt.calls.clone(),
        cases_left_out: gate.map(|g| g.calls.cases_left_out),
        call_failures_regressed: gate.map(|g| g.calls.regressed),
        sequential: json_sequential(prompt),
        criteria: rows.iter().map(|row| json_criterion(prompt, row)).collect(),
        worst_cases: view::worst_cases(prompt)
            .iter()
            .map(|w| JsonWorstCase {
                case_id: w.case_id.clone(),
                criteria: w.moves.iter().map(|m| m.criterion.clone()).collect(),
                flipped: w.moves.iter().any(|m| m.flipped),
            })
            .collect(),
        cases,
    }
}

fn json_criterion(prompt: &PromptReport, row: &CriterionRow) -> JsonCriterion {
    let gate = prompt
        .gate
        .as_ref()
        .and_then(|g| g.criteria.iter().find(|c| c.criterion == row.name));
    let moves = |pick: fn(&crate::pipeline::gate::CriterionGate) -> &Vec<CaseMove>| {
        gate.map(|c| pick(c).iter().map(JsonCaseMove::from).collect())
            .unwrap_or_default()
    };
    JsonCriterion {
        name: row.name.clone(),
        kind: row.kind.clone(),
        scale: row.scale.name().to_string(),
        line: row.line,
        verdict: row.verdict.map(Into::into),
        baseline_mean: row.baseline_mean,
        head_mean: row.head_mean,
        delta: row.delta,
        interval: row.interval.map(|(low, high)| JsonInterval { low, high }),
        method: row.method.clone(),
        cases: row.cases,
        head_pass_rate: row.head_pass_rate,
        baseline_pass_rate: row.baseline_pass_rate,
        head_errors: row.head_errors,
        baseline_errors: row.baseline_errors,
        threshold: row.threshold,
        threshold_met: row.threshold_met,
        min_detectable_effect: row.min_detectable_effect,
        cases_needed: row.cases_needed,
        note: view::inconclusive_note(row),
        flipped_to_fail: moves(|c| &c.flipped_to_fail),
        flipped_to_pass: moves(|c| &c.flipped_to_pass),
        largest_drops: moves(|c| &c.largest_drops),
        judge_agreement: gate
            .and_then(|c| c.judge_agreement.as_ref())
            .map(json_agreement),
        judge_correction: gate.and_then(|c| c.judge_correction.as_ref()).map(|c| {
            JsonJudgeCorrection {
                judged_delta: c.judged_delta,
                labels: c.labels,
                sensitivity: c.sensitivity,
                specificity: c.specificity,
                youden: c.youden,
                youden_low: c.youden_range.0,
                youden_high: c.youden_range.1,
            }
        }),
    }
}

fn json_agreement(agreement: &Agreement) -> JsonJudgeAgreement {
    // Below enough labels the reports show no rate, and neither does this.
    let shown = |e: &Option<Estimate>| {
        e.filter(|_| agreement.enough).map(|e| JsonEstimate {
            value: e.value,
            low: e.low,
            high: e.high,
        })
    };
    let table = &agreement.table;
    JsonJudgeAgreement {
        labels: agreement.labels,
        both_pass: table.both_pass,
        judge_failed_a_pass: table.judge_failed_a_pass,
        judge_passed_a_fail: table.judge_passed_a_fail,
        both_fail: table.both_fail,
        enough: agreement.enough,
        labels_needed: agreement.labels_needed,
        accuracy: shown(&agreement.accuracy),
        kappa: shown(&agreement.kappa),
        sensitivity: shown(&agreement.sensitivity),
        specificity: shown(&agreement.specificity),
        min_agreement: agreement.min_agreement,
        flagged: agreement.flagged,
        summary: agreement.summary(),
    }
}

fn repeats(result: &EvalResult, case: &CaseResult) -> Vec<JsonRepeat> {
    case.repeats
        .iter()
        .map(|r| JsonRepeat {
            output: r.call.result.as_ref().ok().cloned(),
            error: r.call.result.as_ref().err().cloned(),
            latency_ms: r.call.latency_ms,
            cached: r.call.cached,
            cost_usd: r.call.cost_usd,
            input_tokens: r.call.usage.input_tokens,
            output_tokens: r.call.usage.output_tokens,
            scores: result
                .criteria
                .iter()
                .zip(&r.scores)
                .map(|(info, s)| match &s.score {
                    Ok(score) => JsonScore {
                        criterion: info.name.clone(),
                        value: Some(score.value),
                        display: score.display.clone(),
                        reason: Some(score.reason.clone()).filter(|r| !r.is_empty()),
                        error: None,
                    },
                    Err(e) => JsonScore {
                        criterion: info.name.clone(),
                        value: None,
                        display: None,
                        reason: None,
                        error: Some(e.clone()),
                    },
                })
                .collect(),
        })
        .collect()
}
