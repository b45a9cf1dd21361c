//! What the pages show, as plain data built from the registry's and the
//! telemetry's answers (no I/O here): the rows, charts and tables the
//! templates lay out.

use std::collections::BTreeMap;

use serde::Serialize;
use similar::ChangeTag;

use super::charts::{self, LineChart, Series};
use super::data::VersionSummary;
use super::scores::ScoreSummary;
use crate::edges::registry::{LabelMove, LabelTarget, Version};
use crate::pipeline::review::agreement::{ENOUGH_LABELS, ENOUGH_PER_CLASS};
use crate::pipeline::review::{Agreement, Estimate};
use crate::pipeline::telemetry::{self as stats, Comparison, Difference, Tally, Verdict};
use crate::pipeline::textdiff;

/// Versions drawn on the score chart's x axis at most (the newest).
pub const CHART_VERSIONS: usize = 1_000;
/// Versions listed in the timeline table (the newest).
pub const TABLE_VERSIONS: usize = 50;
/// Label moves listed (the newest).
pub const HISTORY_MOVES: usize = 50;
/// Criteria drawn besides the overall score.
const CHART_CRITERIA: usize = charts::MAX_SERIES - 1;

pub fn percent(value: f64) -> String {
    format!("{:.1}%", value * 100.0)
}

pub fn milliseconds(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.1} s", value / 1000.0)
    } else {
        format!("{value:.0} ms")
    }
}

pub fn dollars(value: f64) -> String {
    if value == 0.0 {
        "$0".to_string()
    } else if value < 0.01 {
        format!("${value:.5}")
    } else {
        format!("${value:.3}")
    }
}

fn or_dash(value: Option<f64>, format: fn(f64) -> String) -> String {
    value.map_or_else(|| "—".to_string(), format)
}

/// How a label shows: its name, where it points, and a class for colour.
#[derive(Debug, Serialize)]
pub struct LabelView {
    pub name: String,
    pub target: String,
    /// `production`, `staging`, `split` or `other`.
    pub kind: &'static str,
}

pub fn label_views(labels: &BTreeMap<String, LabelTarget>) -> Vec<LabelView> {
    labels
        .iter()
        .map(|(name, target)| LabelView {
            name: name.clone(),
            target: target.to_string(),
            kind: match (name.as_str(), target) {
                (_, LabelTarget::Split(_)) => "split",
                ("production", _) => "production",
                ("staging", _) => "staging",
                _ => "other",
            },
        })
        .collect()
}

/// The score chart of a prompt: the overall score per version and each
/// criterion's mean with its interval.
pub fn score_chart(
    prompt: &str,
    numbers: &[u32],
    summaries: &[Option<&ScoreSummary>],
) -> Option<String> {
    let x_labels: Vec<String> = numbers.iter().map(|n| format!("v{n}")).collect();
    let mut series = vec![Series {
        name: "overall".to_string(),
        values: summaries.iter().map(|s| s.and_then(|s| s.score)).collect(),
        intervals: vec![None; numbers.len()],
    }];
    // The criteria of the newest version that has a result.
    let names: Vec<String> = summaries
        .iter()
        .rev()
        .flatten()
        .next()
        .map(|s| s.criteria.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    for name in names.into_iter().take(CHART_CRITERIA) {
        let of = |s: &ScoreSummary| s.criteria.iter().find(|c| c.name == name).cloned();
        series.push(Series {
            values: summaries
                .iter()
                .map(|s| s.and_then(of).and_then(|c| c.mean))
                .collect(),
            intervals: summaries
                .iter()
                .map(|s| s.and_then(of).and_then(|c| c.interval))
                .collect(),
            name,
        });
    }
    LineChart {
        title: format!("{prompt}: score per version (criteria with 95% intervals)"),
        x_labels,
        series,
        format: percent,
        y_range: Some((0.0, 1.0)),
    }
    .render()
}

/// One version in the timeline table.
#[derive(Debug, Serialize)]
pub struct VersionRow {
    pub number: u32,
    pub created_at: String,
    pub author: String,
    pub commit: Option<String>,
    pub message: Option<String>,
    pub score: String,
    pub cases: Option<usize>,
    pub gate: Option<String>,
    pub labels: Vec<String>,
}

pub fn version_row(
    version: &VersionSummary,
    summary: Option<&ScoreSummary>,
    labels: &BTreeMap<String, LabelTarget>,
) -> VersionRow {
    VersionRow {
        number: version.number,
        created_at: version.created_at.clone(),
        author: version.author.clone(),
        commit: version.git_commit.clone(),
        message: version.message.clone(),
        score: or_dash(summary.and_then(|s| s.score), percent),
        cases: summary.map(|s| s.cases),
        gate: version.baseline.as_ref().map(|b| b.gate.clone()),
        labels: labels
            .iter()
            .filter(|(_, target)| target.contains(version.number))
            .map(|(name, _)| name.clone())
            .collect(),
    }
}

/// One judged criterion's agreement with the reviewers.
#[derive(Debug, Serialize)]
pub struct AgreementRow {
    pub criterion: String,
    pub labels: u64,
    /// The rates with their intervals, once there are enough labels.
    pub rates: Option<AgreementRates>,
    /// Below the threshold: how far it is (`not enough labels yet: …`).
    pub short: Option<String>,
    /// How the labels split, e.g. `reviewers passed 3, failed 1`.
    pub classes: String,
    /// When the judge is flagged: `this judge agrees with reviewers …`.
    pub flag: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AgreementRates {
    pub accuracy: String,
    pub kappa: String,
    pub sensitivity: String,
    pub specificity: String,
}

/// The rows of the agreement table: each of `agreements` (one per
/// criterion, labelled or not), as the page words them.
pub fn agreement_rows(agreements: &[Agreement]) -> Vec<AgreementRow> {
    let rate = |e: &Option<Estimate>| {
        e.as_ref()
            .map_or_else(|| "n/a".to_string(), Estimate::percent)
    };
    agreements
        .iter()
        .map(|a| AgreementRow {
            criterion: a.criterion.clone(),
            labels: a.labels,
            rates: a.enough.then(|| AgreementRates {
                accuracy: rate(&a.accuracy),
                kappa: a.kappa.map_or_else(
                    || "n/a".to_string(),
                    |k| format!("{:.2} [{:.2}, {:.2}]", k.value, k.low, k.high),
                ),
                sensitivity: rate(&a.sensitivity),
                specificity: rate(&a.specificity),
            }),
            short: (!a.enough).then(|| {
                format!(
                    "not enough labels yet: {} of {ENOUGH_LABELS} ({ENOUGH_PER_CLASS} of each class)",
                    a.labels
                )
            }),
            classes: format!(
                "reviewers passed {}, failed {}",
                a.table.human_passes(),
                a.table.human_fails()
            ),
            flag: a.flagged.then(|| {
                format!(
                    "this judge agrees with reviewers {} of the time, below the {:.0}% it must reach",
                    rate(&a.accuracy),
                    a.min_agreement * 100.0
                )
            }),
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct MoveView {
    pub at: String,
    pub label: String,
    pub from: String,
    pub to: String,
    pub kind: &'static str,
    pub forced: bool,
    pub actor: String,
    pub reason: Option<String>,
}

pub fn move_views(moves: &[LabelMove]) -> Vec<MoveView> {
    moves
        .iter()
        .rev()
        .take(HISTORY_MOVES)
        .map(|m| MoveView {
            at: m.at.clone(),
            label: m.label.clone(),
            from: m.from.as_ref().map_or("—".to_string(), ToString::to_string),
            to: m.to.to_string(),
            kind: m.kind.as_str(),
            forced: m.forced,
            actor: m.actor.clone(),
            reason: m.reason.clone(),
        })
        .collect()
}

/// Production telemetry of one day, per (version, label).
pub struct Day {
    /// `2026-12-01`.
    pub label: String,
    pub tallies: BTreeMap<(i64, String), Tally>,
}

/// One version's or arm's metrics over the whole window.
#[derive(Debug, Serialize)]
pub struct MetricsRow {
    pub version: i64,
    /// The label it was served by; empty when reported by version.
    pub label: String,
    pub count: u64,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub cost_per_call: String,
    pub error_rate: String,
    pub feedback_rate: String,
    pub positive_feedback: String,
}

/// Arm B against arm A of an A/B split, per metric.
#[derive(Debug, Serialize)]
pub struct ArmComparison {
    pub label: String,
    pub a: i64,
    pub b: i64,
    pub rows: Vec<DifferenceRow>,
}

#[derive(Debug, Serialize)]
pub struct DifferenceRow {
    pub metric: &'static str,
    pub a: String,
    pub b: String,
    pub difference: String,
    pub interval: String,
    pub verdict: &'static str,
}

#[derive(Debug, Serialize, Default)]
pub struct TelemetryView {
    pub executions: u64,
    pub charts: Vec<ChartView>,
    pub rows: Vec<MetricsRow>,
    pub comparisons: Vec<ArmComparison>,
}

#[derive(Debug, Serialize)]
pub struct ChartView {
    pub title: String,
    pub svg: String,
}

fn metrics_row(version: i64, label: &str, tally: &Tally) -> MetricsRow {
    let metrics = tally.metrics();
    MetricsRow {
        version,
        label: label.to_string(),
        count: metrics.count,
        p50: or_dash(metrics.latency_ms.p50, milliseconds),
        p95: or_dash(metrics.latency_ms.p95, milliseconds),
        p99: or_dash(metrics.latency_ms.p99, milliseconds),
        cost_per_call: or_dash(metrics.cost_usd.mean_per_call, dollars),
        error_rate: or_dash(metrics.error_rate, percent),
        feedback_rate: or_dash(metrics.feedback.rate, percent),
        positive_feedback: or_dash(metrics.feedback.positive_rate, percent),
    }
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Better => "better",
        Verdict::Worse => "worse",
        Verdict::Same => "same",
        Verdict::NotEnoughData => "not enough data",
    }
}

fn difference_row(
    metric: &'static str,
    d: &Difference,
    format: fn(f64) -> String,
) -> DifferenceRow {
    DifferenceRow {
        metric,
        a: or_dash(d.a, format),
        b: or_dash(d.b, format),
        difference: or_dash(d.difference, format),
        interval: d.interval.map_or_else(
            || "—".to_string(),
            |[low, high]| format!("[{}, {}]", format(low), format(high)),
        ),
        verdict: verdict_word(d.verdict),
    }
}

fn comparison_rows(comparison: &Comparison) -> Vec<DifferenceRow> {
    vec![
        difference_row("positive feedback", &comparison.positive_feedback, percent),
        difference_row("error rate", &comparison.error_rate, percent),
        difference_row("cost per call", &comparison.cost_per_call, dollars),
    ]
}

/// Charts over the days, tables over the window, and each A/B split's arms
/// compared (the older version as the control).
pub fn telemetry_view(days: &[Day], labels: &BTreeMap<String, LabelTarget>) -> TelemetryView {
    let mut window: BTreeMap<(i64, String), Tally> = BTreeMap::new();
    let mut by_version: BTreeMap<i64, Tally> = BTreeMap::new();
    for day in days {
        for ((version, label), tally) in &day.tallies {
            window
                .entry((*version, label.clone()))
                .or_default()
                .merge(tally);
            by_version.entry(*version).or_default().merge(tally);
        }
    }
    let executions = by_version.values().map(|t| t.count).sum();
    if executions == 0 {
        return TelemetryView::default();
    }
    let x_labels: Vec<String> = days.iter().map(|d| d.label.clone()).collect();
    // Per day: everything together, and each version on its own.
    let day_totals: Vec<Tally> = days
        .iter()
        .map(|day| {
            let mut total = Tally::default();
            day.tallies.values().for_each(|t| total.merge(t));
            total
        })
        .collect();
    let mut busiest: Vec<(i64, u64)> = by_version.iter().map(|(v, t)| (*v, t.count)).collect();
    busiest.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut shown: Vec<i64> = busiest
        .iter()
        .take(charts::MAX_SERIES)
        .map(|(v, _)| *v)
        .collect();
    shown.sort_unstable();
    let version_days: Vec<(i64, Vec<Tally>)> = shown
        .iter()
        .map(|version| {
            let tallies = days
                .iter()
                .map(|day| {
                    let mut total = Tally::default();
                    day.tallies
                        .iter()
                        .filter(|((v, _), _)| v == version)
                        .for_each(|(_, t)| total.merge(t));
                    total
                })
                .collect();
            (*version, tallies)
        })
        .collect();
    let metric_of = |tally: &Tally, metric: fn(&stats::Metrics) -> Option<f64>| {
        (tally.count > 0)
            .then(|| metric(&tally.metrics()))
            .flatten()
    };
    let latency = LineChart {
        title: "latency per day (p50, p95, p99)".into(),
        x_labels: x_labels.clone(),
        series: [
            (
                "p50",
                (|m: &stats::Metrics| m.latency_ms.p50) as fn(&stats::Metrics) -> Option<f64>,
            ),
            ("p95", |m| m.latency_ms.p95),
            ("p99", |m| m.latency_ms.p99),
        ]
        .into_iter()
        .map(|(name, metric)| Series {
            name: name.to_string(),
            values: day_totals.iter().map(|t| metric_of(t, metric)).collect(),
            intervals: vec![None; days.len()],
        })
        .collect(),
        format: milliseconds,
        y_range: None,
    };
    let per_version =
        |title: &str, metric: fn(&stats::Metrics) -> Option<f64>, format: fn(f64) -> String| {
            LineChart {
                title: format!("{title} per day, by version"),
                x_labels: x_labels.clone(),
                series: version_days
                    .iter()
                    .map(|(version, tallies)| Series {
                        name: format!("v{version}"),
                        values: tallies.iter().map(|t| metric_of(t, metric)).collect(),
                        intervals: vec![None; days.len()],
                    })
                    .collect(),
                format,
                y_range: None,
            }
        };
    let charts = [
        latency,
        per_version("p95 latency", |m| m.latency_ms.p95, milliseconds),
        per_version("cost per call", |m| m.cost_usd.mean_per_call, dollars),
        per_version("error rate", |m| m.error_rate, percent),
        per_version("feedback rate", |m| m.feedback.rate, percent),
    ]
    .into_iter()
    .filter_map(|chart| {
        Some(ChartView {
            svg: chart.render()?,
            title: chart.title,
        })
    })
    .collect();
    let rows = window
        .iter()
        .map(|((version, label), tally)| metrics_row(*version, label, tally))
        .collect();
    let comparisons = labels
        .iter()
        .filter_map(|(label, target)| match target {
            LabelTarget::Split(arms) if arms.len() >= 2 => {
                let mut versions = arms.keys().copied();
                let (a, b) = (versions.next()?, versions.next()?);
                let arm = |version: u32| {
                    window
                        .get(&(i64::from(version), label.clone()))
                        .cloned()
                        .unwrap_or_default()
                };
                Some(ArmComparison {
                    label: label.clone(),
                    a: i64::from(a),
                    b: i64::from(b),
                    rows: comparison_rows(&stats::compare(&arm(a), &arm(b))),
                })
            }
            _ => None,
        })
        .collect();
    TelemetryView {
        executions,
        charts,
        rows,
        comparisons,
    }
}

/// A piece of a message: plain text, a `{{ placeholder }}`, or a
/// `{% include %}` of a shared snippet (marked so the reader sees them).
#[derive(Debug, Serialize, PartialEq)]
pub struct Piece {
    /// `text`, `variable` or `snippet`.
    pub kind: &'static str,
    pub text: String,
}

pub fn message_pieces(content: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find(['{']) {
        let tail = &rest[start..];
        let (close, kind) = if tail.starts_with("{{") {
            ("}}", "variable")
        } else if tail.starts_with("{%") {
            ("%}", "snippet")
        } else {
            // A lone brace is text.
            let (text, after) = rest.split_at(start + 1);
            push_text(&mut pieces, text);
            rest = after;
            continue;
        };
        let Some(end) = tail[2..].find(close) else {
            break;
        };
        push_text(&mut pieces, &rest[..start]);
        let tag = &tail[..end + 4];
        let kind = if kind == "snippet" && !tag.contains("include") {
            "variable"
        } else {
            kind
        };
        pieces.push(Piece {
            kind,
            text: tag.to_string(),
        });
        rest = &tail[end + 4..];
    }
    push_text(&mut pieces, rest);
    pieces
}

fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if text.is_empty() {
        return;
    }
    match pieces.last_mut() {
        Some(last) if last.kind == "text" => last.text.push_str(text),
        _ => pieces.push(Piece {
            kind: "text",
            text: text.to_string(),
        }),
    }
}

/// One part of a version that differs from another, word by word.
#[derive(Debug, Serialize)]
pub struct PartDiff {
    pub part: String,
    /// `(kind, text)`: kind is `same`, `removed` or `added`.
    pub words: Vec<(&'static str, String)>,
}

pub fn word_diff(old: &Version, new: &Version) -> Vec<PartDiff> {
    textdiff::diff_contents(Some(&old.content), Some(&new.content))
        .changes
        .into_iter()
        .map(|change| PartDiff {
            words: textdiff::word_runs(
                change.old.as_deref().unwrap_or(""),
                change.new.as_deref().unwrap_or(""),
            )
            .into_iter()
            .map(|(tag, text)| {
                let kind = match tag {
                    ChangeTag::Equal => "same",
                    ChangeTag::Delete => "removed",
                    ChangeTag::Insert => "added",
                };
                (kind, text)
            })
            .collect(),
            part: change.part,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_includes_are_marked() {
        let pieces = message_pieces("Hi {{ name }}, {% include \"snippets/tone.md\" %} {x} end");
        let kinds: Vec<(&str, &str)> = pieces.iter().map(|p| (p.kind, p.text.as_str())).collect();
        assert_eq!(
            kinds,
            vec![
                ("text", "Hi "),
                ("variable", "{{ name }}"),
                ("text", ", "),
                ("snippet", "{% include \"snippets/tone.md\" %}"),
                ("text", " {x} end"),
            ]
        );
        assert_eq!(
            message_pieces("open {{ never"),
            vec![Piece {
                kind: "text",
                text: "open {{ never".into()
            }]
        );
    }

    #[test]
    fn the_arms_of_a_split_are_compared() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        for i in 0..400 {
            let execution = |error: bool| stats::Execution {
                latency_ms: 100.0,
                outcome: if error {
                    stats::Outcome::Error
                } else {
                    stats::Outcome::Ok
                },
                input_tokens: None,
                output_tokens: None,
                cost_usd: Some(0.002),
                feedback: None,
                quality: None,
            };
            a.add(&execution(i % 100 == 0));
            b.add(&execution(i % 5 == 0));
        }
        let day = Day {
            label: "2026-12-01".into(),
            tallies: BTreeMap::from([
                ((1, "production".to_string()), a),
                ((2, "production".to_string()), b),
            ]),
        };
        let labels = BTreeMap::from([(
            "production".to_string(),
            LabelTarget::parse("v1:50,v2:50").unwrap(),
        )]);
        let view = telemetry_view(&[day], &labels);
        assert_eq!(view.executions, 800);
        let comparison = &view.comparisons[0];
        assert_eq!((comparison.a, comparison.b), (1, 2));
        let errors = comparison
            .rows
            .iter()
            .find(|r| r.metric == "error rate")
            .unwrap();
        assert_eq!((errors.a.as_str(), errors.b.as_str()), ("1.0%", "20.0%"));
        assert_eq!(errors.verdict, "worse");
        assert_eq!(view.charts.len(), 5);
    }
}
