//! What every renderer shows, computed once: table rows, per-case scores,
//! the worst cases, errors, and how numbers are written.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::pipeline::gate::{CriterionGate, Verdict};
use crate::types::{CaseIdDigest, CaseResult, EvalResult};

use super::PromptReport;

pub(crate) use crate::types::PASS_MARK;

/// How a criterion's scores read best.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    /// Scores in [0, 1].
    Unit,
    /// Pass (1) or fail (0) by construction.
    Binary,
    /// A judge's 1–5 rubric, stored as (n − 1) / 4.
    Rubric5,
}

impl Scale {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scale::Unit => "0-1",
            Scale::Binary => "pass/fail",
            Scale::Rubric5 => "1-5",
        }
    }
}

/// One line of a prompt's table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CriterionRow {
    pub name: String,
    pub kind: Option<String>,
    pub scale: Scale,
    pub line: Option<u32>,
    pub baseline_mean: Option<f64>,
    pub head_mean: Option<f64>,
    pub delta: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub method: Option<String>,
    /// `None` in eval-only mode.
    pub verdict: Option<Verdict>,
    pub threshold: Option<f64>,
    pub threshold_met: Option<bool>,
    pub head_pass_rate: Option<f64>,
    pub baseline_pass_rate: Option<f64>,
    /// Paired cases (check) or scored head cases (eval).
    pub cases: usize,
    pub head_errors: usize,
    pub baseline_errors: usize,
    pub min_detectable_effect: Option<f64>,
    pub cases_needed: Option<u32>,
}

/// A criterion's scores over one result.
#[derive(Debug, Clone, Copy, Default)]
struct ResultStats {
    mean: Option<f64>,
    pass_rate: Option<f64>,
    scored: usize,
    errors: usize,
}

fn result_stats(result: &EvalResult, index: usize) -> ResultStats {
    let totals = result.totals().criterion(index);
    let scored = (totals.scored > 0).then_some(totals.scored as f64);
    ResultStats {
        mean: scored.map(|n| totals.sum / n),
        pass_rate: scored.map(|n| totals.passed as f64 / n),
        scored: totals.scored,
        errors: totals.errors,
    }
}

pub(crate) fn criterion_index(result: &EvalResult, name: &str) -> Option<usize> {
    result.criteria.iter().position(|c| c.name == name)
}

fn scale_of(results: &[Option<&EvalResult>], name: &str) -> Scale {
    let binary = results
        .iter()
        .flatten()
        .filter_map(|r| r.criteria.iter().find(|c| c.name == name))
        .any(|c| c.binary);
    if binary {
        return Scale::Binary;
    }
    let rubric = results.iter().flatten().any(|result| {
        criterion_index(result, name)
            .is_some_and(|index| result.totals().criterion(index).graded_of_five)
    });
    if rubric { Scale::Rubric5 } else { Scale::Unit }
}

fn stats_for(result: Option<&EvalResult>, name: &str) -> ResultStats {
    result
        .and_then(|r| criterion_index(r, name).map(|i| result_stats(r, i)))
        .unwrap_or_default()
}

/// The table rows of one prompt, in the gate's (or the head's) order.
pub(crate) fn rows(prompt: &PromptReport) -> Vec<CriterionRow> {
    let head = Some(&prompt.head);
    let baseline = prompt.baseline.as_ref();
    let info = |name: &str| prompt.head.criteria.iter().find(|c| c.name == name);
    match &prompt.gate {
        Some(gate) => gate
            .criteria
            .iter()
            .map(|c: &CriterionGate| {
                let head_stats = stats_for(head, &c.criterion);
                let base_stats = stats_for(baseline, &c.criterion);
                CriterionRow {
                    name: c.criterion.clone(),
                    kind: info(&c.criterion).map(|i| i.kind.clone()),
                    scale: scale_of(&[head, baseline], &c.criterion),
                    line: info(&c.criterion).and_then(|i| i.line),
                    baseline_mean: c.baseline_mean,
                    head_mean: c.head_mean,
                    delta: c.delta,
                    interval: c.interval,
                    method: Some(c.method.clone()).filter(|m| !m.is_empty()),
                    verdict: Some(c.verdict),
                    threshold: c.threshold,
                    threshold_met: c.threshold_met,
                    head_pass_rate: head_stats.pass_rate,
                    baseline_pass_rate: base_stats.pass_rate,
                    cases: c.paired_cases,
                    head_errors: c.head_errors,
                    baseline_errors: c.baseline_errors,
                    min_detectable_effect: c.min_detectable_effect,
                    cases_needed: c.cases_needed,
                }
            })
            .collect(),
        None => prompt
            .head
            .criteria
            .iter()
            .map(|info| {
                let stats = stats_for(head, &info.name);
                CriterionRow {
                    name: info.name.clone(),
                    kind: Some(info.kind.clone()),
                    scale: scale_of(&[head], &info.name),
                    line: info.line,
                    baseline_mean: None,
                    head_mean: stats.mean,
                    delta: None,
                    interval: None,
                    method: None,
                    verdict: None,
                    threshold: info.threshold,
                    threshold_met: info.threshold.zip(stats.mean).map(|(t, m)| m >= t),
                    head_pass_rate: stats.pass_rate,
                    baseline_pass_rate: None,
                    cases: stats.scored,
                    head_errors: stats.errors,
                    baseline_errors: 0,
                    min_detectable_effect: None,
                    cases_needed: None,
                }
            })
            .collect(),
    }
}

/// One case's score on one criterion: the mean over its repeats.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CaseScore {
    pub mean: Option<f64>,
    /// `Score::display` (e.g. `4/5`) when there is one repeat.
    pub display: Option<String>,
    /// The first repeat's reason (a judge's reason is kept here).
    pub reason: Option<String>,
    /// The first failed call or score.
    pub error: Option<String>,
}

pub(crate) fn case_score(case: &CaseResult, index: usize) -> CaseScore {
    // The mean is the result's own rule; here only what it is shown with.
    let mut out = CaseScore {
        mean: case.mean_score(index).0,
        ..CaseScore::default()
    };
    for repeat in &case.repeats {
        if let Err(e) = &repeat.call.result {
            out.error.get_or_insert_with(|| format!("call failed: {e}"));
            continue;
        }
        match repeat.scores.get(index).map(|s| &s.score) {
            Some(Ok(score)) => {
                if out.reason.is_none() && !score.reason.is_empty() {
                    out.reason = Some(score.reason.clone());
                }
                if case.repeats.len() == 1 {
                    out.display = score.display.clone();
                }
            }
            Some(Err(e)) => {
                out.error
                    .get_or_insert_with(|| format!("scoring failed: {e}"));
            }
            None => {
                out.error
                    .get_or_insert_with(|| "no score recorded".to_string());
            }
        }
    }
    out
}

/// A result's cases found by id, indexed once (finding each head case's
/// baseline case by searching would make a report quadratic in the
/// suite's size). The index holds each id's digest and place, 20 bytes a
/// case, and a case is read from the result when asked for, so pairing a
/// million head cases with their baseline holds neither side's cases. The
/// first case of an id wins.
pub(crate) struct CasesById<'a> {
    result: &'a EvalResult,
    /// (id, place in the result), sorted by id.
    places: Vec<(CaseIdDigest, u32)>,
}

impl<'a> CasesById<'a> {
    pub(crate) fn of(result: &'a EvalResult) -> Self {
        let mut places: Vec<(CaseIdDigest, u32)> = result
            .cases
            .iter()
            .enumerate()
            .map(|(place, case)| {
                let place = u32::try_from(place).expect("fewer than 2^32 cases");
                (CaseIdDigest::of(&case.case_id), place)
            })
            .collect();
        // Stable: the first place of an id stays first among its copies.
        places.sort_by_key(|(id, _)| *id);
        places.dedup_by_key(|(id, _)| *id);
        Self { result, places }
    }

    pub(crate) fn get(&self, case_id: &str) -> Option<Cow<'a, CaseResult>> {
        let id = CaseIdDigest::of(case_id);
        let at = self.places.binary_search_by_key(&id, |(id, _)| *id).ok()?;
        self.result.cases.get(self.places[at].1 as usize)
    }
}

/// Some of a result's cases, by id: the few a report shows in full,
/// gathered in one pass and held.
pub(crate) struct CasesNamed<'a>(HashMap<String, Cow<'a, CaseResult>>);

impl<'a> CasesNamed<'a> {
    /// Only the cases named in `ids`, in one pass over the result; the
    /// first case of an id wins.
    pub(crate) fn of_ids(result: &'a EvalResult, ids: &HashSet<&str>) -> Self {
        let mut by_id = HashMap::new();
        for case in &result.cases {
            if ids.contains(case.case_id.as_str()) && !by_id.contains_key(&case.case_id) {
                by_id.insert(case.case_id.clone(), case);
            }
        }
        Self(by_id)
    }

    /// The case of `case_id`, out of the index.
    fn take(&mut self, case_id: &str) -> Option<Cow<'a, CaseResult>> {
        self.0.remove(case_id)
    }
}

/// The first repeat's reply (or why there is none), and how many repeats ran.
pub(crate) fn case_output(case: &CaseResult) -> (Option<Result<&str, &str>>, usize) {
    let first = case.repeats.first().map(|r| match &r.call.result {
        Ok(text) => Ok(text.as_str()),
        Err(e) => Err(e.as_str()),
    });
    (first, case.repeats.len())
}

/// One criterion's move within a [`WorstCase`].
#[derive(Debug, Clone)]
pub(crate) struct CaseMoveView {
    pub criterion: String,
    pub scale: Scale,
    pub head: CaseScore,
    pub baseline: Option<CaseScore>,
    pub flipped: bool,
}

/// A case worth a look: it flipped to fail or dropped most on some
/// criterion, or (eval-only) scored lowest. All its moves together.
#[derive(Debug, Clone)]
pub(crate) struct WorstCase<'a> {
    pub case_id: String,
    pub moves: Vec<CaseMoveView>,
    pub head_case: Option<Cow<'a, CaseResult>>,
    pub baseline_case: Option<Cow<'a, CaseResult>>,
}

/// Worst first: a case with a flip to fail before one that only dropped,
/// larger drops first; within a case, the criteria in the same order.
pub(crate) fn worst_cases(prompt: &PromptReport) -> Vec<WorstCase<'_>> {
    let head = &prompt.head;
    let baseline = prompt.baseline.as_ref();
    let rows = rows(prompt);
    let scale = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map_or(Scale::Unit, |r| r.scale)
    };
    let score_in = |result: &EvalResult, case: Option<&CaseResult>, criterion: &str| {
        criterion_index(result, criterion)
            .zip(case)
            .map(|(i, c)| case_score(c, i))
    };
    // (rank, case id, criterion, flipped), unordered.
    let mut found: Vec<(f64, String, String, bool)> = Vec::new();
    match &prompt.gate {
        Some(gate) => {
            for c in &gate.criteria {
                let flips = c.flipped_to_fail.iter().map(|m| (m, true));
                let drops = c
                    .largest_drops
                    .iter()
                    .filter(|m| m.head < m.baseline)
                    .map(|m| (m, false));
                for (m, flipped) in flips.chain(drops) {
                    let seen = found
                        .iter()
                        .any(|(_, id, name, _)| *id == m.case_id && *name == c.criterion);
                    if !seen {
                        // Flips rank above any plain drop.
                        let rank = (m.baseline - m.head) + if flipped { 2.0 } else { 0.0 };
                        found.push((rank, m.case_id.clone(), c.criterion.clone(), flipped));
                    }
                }
            }
        }
        None => {
            // One pass over the cases (a large result's are read back from
            // its file), then in the criteria's order, as ties keep it.
            let totals = head.totals();
            let every_case_passed = (0..head.criteria.len()).all(|index| {
                let criterion = totals.criterion(index);
                criterion.passed == head.cases.len()
            });
            let mut failing = Vec::new();
            if !every_case_passed {
                for case in &head.cases {
                    for index in 0..head.criteria.len() {
                        let mean = case.mean_score(index).0;
                        if mean.is_none_or(|m| m < PASS_MARK) {
                            failing.push((index, 1.0 - mean.unwrap_or(-1.0), case.case_id.clone()));
                        }
                    }
                }
            }
            failing.sort_by_key(|(index, _, _)| *index);
            found.extend(failing.into_iter().map(|(index, rank, case_id)| {
                (rank, case_id, head.criteria[index].name.clone(), false)
            }));
        }
    }
    if found.is_empty() {
        return Vec::new();
    }
    let ids: HashSet<&str> = found.iter().map(|(_, id, _, _)| id.as_str()).collect();
    let mut head_by_id = CasesNamed::of_ids(head, &ids);
    let mut baseline_by_id = baseline.map(|b| CasesNamed::of_ids(b, &ids));
    drop(ids);
    let mut cases: Vec<(f64, WorstCase<'_>)> = Vec::new();
    let mut position_of: HashMap<String, usize> = HashMap::new();
    for (rank, case_id, criterion, flipped) in found {
        let position = match position_of.get(&case_id) {
            Some(&at) => at,
            None => {
                let head_case = head_by_id.take(&case_id);
                let baseline_case = baseline_by_id.as_mut().and_then(|b| b.take(&case_id));
                position_of.insert(case_id.clone(), cases.len());
                cases.push((
                    rank,
                    WorstCase {
                        case_id: case_id.clone(),
                        moves: Vec::new(),
                        head_case,
                        baseline_case,
                    },
                ));
                cases.len() - 1
            }
        };
        let (best_rank, case) = &mut cases[position];
        *best_rank = best_rank.max(rank);
        case.moves.push(CaseMoveView {
            head: score_in(head, case.head_case.as_deref(), &criterion).unwrap_or_default(),
            baseline: baseline.and_then(|b| score_in(b, case.baseline_case.as_deref(), &criterion)),
            scale: scale(&criterion),
            criterion,
            flipped,
        });
    }
    let order = |name: &str| rows.iter().position(|r| r.name == name);
    for (_, case) in &mut cases {
        case.moves.sort_by_key(|m| order(&m.criterion));
    }
    // Stable: equal ranks keep the gate's order.
    cases.sort_by(|a, b| b.0.total_cmp(&a.0));
    cases.into_iter().map(|(_, w)| w).collect()
}

/// A failed call or score on the head side.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CaseError {
    pub case_id: String,
    /// `None` when the call itself failed.
    pub criterion: Option<String>,
    pub message: String,
}

pub(crate) fn head_errors(result: &EvalResult) -> Vec<CaseError> {
    let mut out = Vec::new();
    let totals = result.totals();
    if totals.failed_calls == 0 && totals.criteria.iter().all(|c| c.errors == 0) {
        // Nothing to find: a large result is not read back for it.
        return out;
    }
    for case in &result.cases {
        for repeat in &case.repeats {
            if let Err(e) = &repeat.call.result {
                out.push(CaseError {
                    case_id: case.case_id.clone(),
                    criterion: None,
                    message: e.clone(),
                });
                continue;
            }
            for (info, score) in result.criteria.iter().zip(&repeat.scores) {
                if let Err(e) = &score.score {
                    out.push(CaseError {
                        case_id: case.case_id.clone(),
                        criterion: Some(info.name.clone()),
                        message: e.clone(),
                    });
                }
            }
        }
    }
    out.dedup();
    out
}

/// `0.75`, or `0.75 (4.0/5)` on a 1–5 rubric.
pub(crate) fn fmt_mean(mean: Option<f64>, scale: Scale) -> String {
    match (mean, scale) {
        (None, _) => "—".to_string(),
        (Some(m), Scale::Unit | Scale::Binary) => format!("{m:.2}"),
        (Some(m), Scale::Rubric5) => format!("{m:.2} ({:.1}/5)", 1.0 + 4.0 * m),
    }
}

/// A signed number with a real minus sign: `+0.05`, `−0.32`.
pub(crate) fn fmt_signed(value: f64) -> String {
    let text = format!("{:.2}", value.abs());
    if text == "0.00" {
        "0.00".to_string()
    } else if value < 0.0 {
        format!("−{text}")
    } else {
        format!("+{text}")
    }
}

pub(crate) fn fmt_delta(delta: Option<f64>) -> String {
    delta.map_or_else(|| "—".to_string(), fmt_signed)
}

pub(crate) fn fmt_interval(interval: Option<(f64, f64)>) -> String {
    interval.map_or_else(
        || "—".to_string(),
        |(lo, hi)| format!("[{}, {}]", fmt_signed(lo), fmt_signed(hi)),
    )
}

pub(crate) fn fmt_rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_string(), |r| format!("{:.0}%", r * 100.0))
}

/// A per-case score as the evaluator shows it (`4/5`), else `0.75`.
pub(crate) fn fmt_case_score(score: &CaseScore) -> String {
    match (&score.display, score.mean) {
        (Some(d), _) => d.clone(),
        (None, Some(m)) => format!("{m:.2}"),
        (None, None) if score.error.is_some() => "error".to_string(),
        (None, None) => "—".to_string(),
    }
}

pub(crate) fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Improved => "improved",
        Verdict::Unchanged => "unchanged",
        Verdict::Regressed => "regressed",
        Verdict::Inconclusive => "inconclusive",
        Verdict::New => "new",
    }
}

/// The verdict cell: the gate's word, plus a missed threshold.
pub(crate) fn row_verdict_text(row: &CriterionRow) -> String {
    let mut text = match row.verdict {
        Some(v) => verdict_word(v).to_string(),
        None => format!("pass rate {}", fmt_rate(row.head_pass_rate)),
    };
    if row.threshold_met == Some(false) {
        let threshold = row.threshold.map_or(String::new(), |t| format!(" {t:.2}"));
        text.push_str(&format!(", below threshold{threshold}"));
    }
    text
}

/// How the sequential tests ended, in a sentence: what stopping early
/// saved, or that every case ran.
pub(crate) fn sequential_line(prompt: &PromptReport) -> Option<String> {
    let outcome = prompt.sequential.as_ref()?;
    Some(match &outcome.stopped {
        Some(savings) => {
            let mut line = format!(
                "decided after {} of {} cases by anytime-valid tests; saved {} calls",
                savings.decided_after,
                savings.cases,
                thousands(savings.calls_saved),
            );
            if savings.tokens_saved > 0 {
                line.push_str(&format!(", {} tokens", thousands(savings.tokens_saved)));
            }
            if let Some(cost) = savings.cost_saved_usd.filter(|c| *c > 0.0) {
                line.push_str(&format!(", ${cost:.4}"));
            }
            if outcome.verdicts.contains(&Verdict::Inconclusive) {
                line.push_str("; criteria left inconclusive were not needed: a regression had decided the prompt");
            }
            line
        }
        None => format!(
            "evaluated in batches with anytime-valid tests; not decided early, so all {} cases ran",
            prompt.head.cases.len()
        ),
    })
}

/// 1234567 → "1,234,567".
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Hashes are long; twelve characters identify them in a report.
pub(crate) fn short_id(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

/// The inconclusive note: what the suite can detect and what would decide.
pub(crate) fn inconclusive_note(row: &CriterionRow) -> Option<String> {
    if row.verdict != Some(Verdict::Inconclusive) {
        return None;
    }
    let mut note = format!("inconclusive with {} paired case(s)", row.cases);
    if let Some(mde) = row.min_detectable_effect {
        note.push_str(&format!(
            "; the smallest change this suite detects with 80% power is ±{mde:.2}"
        ));
    }
    // The projection keeps the mean as observed: about an even chance.
    match row.cases_needed {
        Some(n) => note.push_str(&format!(
            "; about {n} more case(s) would give an even chance to decide"
        )),
        None => note.push_str("; more cases or repeats would narrow the interval"),
    }
    Some(note)
}

/// What reviewers' labels say about a prompt's judged criteria, one line
/// each: the judge's agreement with them (flagged when below the floor
/// beyond doubt) and how a corrected criterion's difference was corrected.
/// `true` marks a flagged line.
pub(crate) fn review_lines(prompt: &PromptReport) -> Vec<(bool, String)> {
    let Some(gate) = &prompt.gate else {
        return Vec::new();
    };
    gate.criteria
        .iter()
        .flat_map(criterion_review_lines)
        .collect()
}

/// [`review_lines`] of one criterion.
pub(crate) fn criterion_review_lines(c: &CriterionGate) -> Vec<(bool, String)> {
    let mut lines = Vec::new();
    if let Some(agreement) = &c.judge_agreement {
        let mut line = format!("{}: {}", c.criterion, agreement.summary());
        if agreement.flagged {
            line.push_str(&format!(
                "; below the {:.0}% agreement floor: check the rubric or the judge model",
                agreement.min_agreement * 100.0
            ));
        }
        lines.push((agreement.flagged, line));
    }
    if let Some(correction) = &c.judge_correction {
        let rate = |r: Option<f64>| r.map_or_else(|| "unknown".to_owned(), |r| format!("{r:.2}"));
        let corrected = c
            .delta
            .map_or_else(|| "unknown".to_owned(), |d| format!("{d:+.3}"));
        lines.push((
            false,
            format!(
                "{}: pass rates corrected for the judge's errors: judged difference {:+.3}, corrected {corrected} \
                 (sensitivity {}, specificity {} from {} reviewer labels; Youden's J taken in [{:.2}, {:.2}])",
                c.criterion,
                correction.judged_delta,
                rate(correction.sensitivity),
                rate(correction.specificity),
                correction.labels,
                correction.youden_range.0,
                correction.youden_range.1,
            ),
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_by_id_find_the_first_case_of_an_id_however_the_result_is_kept() {
        let case = |id: &str, reply: &str| CaseResult {
            case_id: id.to_owned(),
            vars: serde_json::Map::new(),
            repeats: vec![crate::types::RepeatResult {
                call: crate::types::CallOutcome {
                    result: Ok(reply.to_owned()),
                    usage: crate::types::Usage::default(),
                    latency_ms: 1,
                    cost_usd: None,
                    cached: false,
                },
                scores: Vec::new(),
            }],
        };
        let given = vec![case("b", "first b"), case("a", "a"), case("b", "second b")];
        for spill_after in [0, usize::MAX] {
            let result = EvalResult::of_cases(
                Vec::new(),
                crate::types::CasesBuilder::spilling_after(spill_after)
                    .collect(given.clone())
                    .unwrap(),
            );
            assert_eq!(result.cases.on_disk(), spill_after == 0);
            let by_id = CasesById::of(&result);
            let reply = |id: &str| {
                by_id
                    .get(id)
                    .map(|c| c.repeats[0].call.result.clone().unwrap())
            };
            assert_eq!(reply("b").as_deref(), Some("first b"));
            assert_eq!(reply("a").as_deref(), Some("a"));
            assert_eq!(reply("c"), None);
        }
    }

    #[test]
    fn signed_numbers_use_a_real_minus_and_no_negative_zero() {
        assert_eq!(fmt_signed(-0.321), "−0.32");
        assert_eq!(fmt_signed(0.05), "+0.05");
        assert_eq!(fmt_signed(-0.001), "0.00");
        assert_eq!(fmt_interval(Some((-0.45, 0.1))), "[−0.45, +0.10]");
    }

    #[test]
    fn rubric_means_show_both_scales() {
        assert_eq!(fmt_mean(Some(0.75), Scale::Rubric5), "0.75 (4.0/5)");
        assert_eq!(fmt_mean(Some(0.75), Scale::Unit), "0.75");
        assert_eq!(fmt_mean(None, Scale::Unit), "—");
    }

    #[test]
    fn short_ids_cut_on_characters() {
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("ééééééééééééé"), "éééééééééééé");
        assert_eq!(short_id("abc"), "abc");
    }
}
