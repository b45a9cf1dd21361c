//! The terminal report: one table per prompt, then the flipped cases, then
//! calls and cost. The caller decides `color` (a terminal, no `NO_COLOR`).

use anstyle::{AnsiColor, Style};
use unicode_width::UnicodeWidthStr;

use crate::pipeline::gate::Verdict;
use crate::types::CallStats;

use super::escape::{terminal as clean, terminal_block, truncate_line};
use super::view::{self, CriterionRow};
use super::{CheckReport, PromptReport, ReportMode, Status};

/// How many flipped cases (or errors) to list per prompt before "… and N more".
const LIST_LIMIT: usize = 10;
/// Longest error message or reason shown on one line.
const LINE_LIMIT: usize = 160;

const RED: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const GREEN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const YELLOW: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
const CYAN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, text: &str, style: Style) -> String {
        if self.color && style != Style::new() {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
}

/// The whole report as text for a terminal, ending in a newline.
pub fn render(report: &CheckReport, color: bool) -> String {
    let p = Painter { color };
    let mut out = Vec::new();
    let (mark, style) = mark(report.status());
    let command = match report.mode {
        ReportMode::Check => "promptgate check",
        ReportMode::Eval => "promptgate eval",
    };
    out.push(format!(
        "{} {}",
        p.paint(&format!("{mark} {command}:"), style),
        report.headline()
    ));
    for note in &report.notes {
        out.push(format!("  {}", clean(note)));
    }
    for prompt in &report.prompts {
        out.push(String::new());
        render_prompt(&p, report.mode, prompt, &mut out);
    }
    out.push(String::new());
    out.push(totals_line(report));
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The terminal's mark and colour for a [`Status`].
fn mark(status: Status) -> (&'static str, Style) {
    match status {
        Status::Pass => ("✓", GREEN.bold()),
        Status::Warn => ("!", YELLOW.bold()),
        Status::Fail => ("✗", RED.bold()),
    }
}

fn render_prompt(p: &Painter, mode: ReportMode, prompt: &PromptReport, out: &mut Vec<String>) {
    let rows = view::rows(prompt);
    let status = prompt.status_with(&rows);
    let (mark, style) = mark(status);
    let word = status.word(mode);
    let path = prompt
        .path
        .as_deref()
        .map(|path| format!("  {}", p.paint(&format!("({})", clean(path)), DIM)))
        .unwrap_or_default();
    out.push(format!(
        "{} {}  {}{path}",
        p.paint(mark, style),
        p.paint(&clean(&prompt.head.prompt), BOLD),
        p.paint(word, style)
    ));
    out.push(format!("  {}", identity_line(prompt)));
    if let Some(line) = view::sequential_line(prompt) {
        out.push(format!("  {}", p.paint(&line, DIM)));
    }
    for (flagged, line) in view::review_lines(prompt) {
        let style = if flagged { YELLOW } else { DIM };
        out.push(format!("  {}", p.paint(&clean(&line), style)));
    }
    if prompt.cases_must_pass {
        let (passed, total) = prompt.head.cases_passing_every_criterion();
        out.push(format!(
            "  GitHub-format file: {passed} of {total} cases passed every evaluator (gh models eval's rule)"
        ));
    }
    if !prompt.affected_because.is_empty() {
        let reasons: Vec<String> = prompt.affected_because.iter().map(|r| clean(r)).collect();
        out.push(format!("  affected: {}", reasons.join("; ")));
    }
    if let Some(change) = &prompt.policy_change {
        out.push(format!(
            "  {} {}",
            p.paint("gate policy changed by this change:", YELLOW),
            clean(change)
        ));
    }
    if !prompt.from_model() {
        out.push(format!(
            "  {} outputs come from the echo provider; the scores test the pipeline, not a model",
            p.paint("NOT A MODEL:", YELLOW.bold())
        ));
    }
    out.push(String::new());
    let table = match mode {
        ReportMode::Check => check_table(p, &rows),
        ReportMode::Eval => eval_table(p, &rows),
    };
    out.extend(table.into_iter().map(|line| format!("  {line}")));
    out.push(String::new());
    for row in &rows {
        if let Some(note) = view::inconclusive_note(row) {
            out.push(format!("  {}: {note}", clean(&row.name)));
        }
    }
    if let Some(gate) = &prompt.gate {
        let moves = |flip_to_fail: bool| {
            gate.criteria.iter().flat_map(move |c| {
                let list = if flip_to_fail {
                    &c.flipped_to_fail
                } else {
                    &c.flipped_to_pass
                };
                list.iter().map(move |m| (c, m))
            })
        };
        for (flip_to_fail, title, style) in [
            (true, "flipped to fail", RED),
            (false, "flipped to pass", GREEN),
        ] {
            let all: Vec<_> = moves(flip_to_fail).collect();
            if all.is_empty() {
                continue;
            }
            out.push(format!("  {}:", p.paint(title, style)));
            let lines: Vec<Vec<String>> = all
                .iter()
                .take(LIST_LIMIT)
                .map(|(c, m)| {
                    vec![
                        clean(&m.case_id),
                        clean(&c.criterion),
                        format!("{:.2} → {:.2}", m.baseline, m.head),
                    ]
                })
                .collect();
            for cells in align(&[], &lines, &[Align::Left, Align::Left, Align::Left]) {
                out.push(format!("    {}", join(&cells)));
            }
            if all.len() > LIST_LIMIT {
                out.push(format!("    … and {} more", all.len() - LIST_LIMIT));
            }
        }
    }
    if let Some(calls) = prompt.gate.as_ref().map(|g| &g.calls)
        && calls.cases_left_out > 0
    {
        out.push(format!(
            "  {} case(s) left out of the comparison: a call failed{}",
            calls.cases_left_out,
            if calls.regressed {
                "; calls fail more often than on the baseline"
            } else {
                ""
            }
        ));
    }
    let errors = view::head_errors(&prompt.head);
    if !errors.is_empty() {
        out.push(format!(
            "  {} (a failed call leaves its case out and fails the run; a failed score counts 0):",
            p.paint("errors", RED)
        ));
        for e in errors.iter().take(LIST_LIMIT) {
            let what = e
                .criterion
                .as_deref()
                .map(clean)
                .unwrap_or_else(|| "call".into());
            out.push(format!(
                "    {} {what}: {}",
                clean(&e.case_id),
                truncate_line(&clean(&e.message), LINE_LIMIT)
            ));
        }
        if errors.len() > LIST_LIMIT {
            out.push(format!("    … and {} more", errors.len() - LIST_LIMIT));
        }
    }
    if let Some(diff) = &prompt.prompt_diff_terminal {
        out.push("  prompt diff:".to_string());
        for line in terminal_block(diff, p.color).lines() {
            out.push(format!("    {line}"));
        }
    }
    out.push(format!("  {}", calls_text(&prompt.calls)));
}

fn identity_line(prompt: &PromptReport) -> String {
    let head = &prompt.head;
    let model = clean(&head.model);
    match &prompt.baseline {
        Some(base) => {
            let source = prompt.baseline_source.as_ref().map_or_else(
                || "baseline".to_string(),
                |s| format!("baseline: {}", clean(&s.to_string())),
            );
            format!(
                "{source} · version {} → {} · model {model}",
                clean(view::short_id(&base.version.0)),
                clean(view::short_id(&head.version.0)),
            )
        }
        None if prompt.gate.is_some() => format!(
            "no baseline (new prompt) · version {} · model {model}",
            clean(view::short_id(&head.version.0))
        ),
        None => format!(
            "version {} · model {model}",
            clean(view::short_id(&head.version.0))
        ),
    }
}

fn calls_text(calls: &CallStats) -> String {
    format!(
        "calls: {} made, {} cached, {} failed · {} tokens in, {} out · cost {}",
        calls.made,
        calls.cached,
        calls.failed,
        calls.input_tokens,
        calls.output_tokens,
        calls.cost_text()
    )
}

fn totals_line(report: &CheckReport) -> String {
    let mut line = format!(
        "total: {} prompt(s) · {}",
        report.prompts.len(),
        calls_text(&report.totals.calls)
    );
    if report.totals.prompts_unaffected > 0 {
        line.push_str(&format!(
            " · {} unaffected prompt(s) not evaluated",
            report.totals.prompts_unaffected
        ));
    }
    if let Some(ms) = report.totals.elapsed_ms {
        line.push_str(&format!(" · {:.1}s", ms as f64 / 1000.0));
    }
    line
}

fn verdict_style(row: &CriterionRow) -> Style {
    if row.threshold_met == Some(false) {
        return RED.bold();
    }
    match row.verdict {
        Some(Verdict::Regressed) => RED.bold(),
        Some(Verdict::Improved) => GREEN,
        Some(Verdict::Inconclusive) => YELLOW,
        Some(Verdict::New) => CYAN,
        Some(Verdict::Unchanged) | None => DIM,
    }
}

fn check_table(p: &Painter, rows: &[CriterionRow]) -> Vec<String> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                clean(&r.name),
                view::fmt_mean(r.baseline_mean, r.scale),
                view::fmt_mean(r.head_mean, r.scale),
                view::fmt_delta(r.delta),
                view::fmt_interval(r.interval),
                view::row_verdict_text(r),
            ]
        })
        .collect();
    let headers = ["criterion", "baseline", "head", "Δ", "interval", "verdict"];
    let aligns = [
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Left,
        Align::Left,
    ];
    paint_last_column(p, rows, align(&headers, &cells, &aligns))
}

fn eval_table(p: &Painter, rows: &[CriterionRow]) -> Vec<String> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                clean(&r.name),
                view::fmt_mean(r.head_mean, r.scale),
                view::fmt_rate(r.head_pass_rate),
                r.cases.to_string(),
                r.head_errors.to_string(),
                r.threshold
                    .map_or_else(|| "—".into(), |t| format!("{t:.2}")),
                match r.threshold_met {
                    Some(false) => "below threshold".to_string(),
                    Some(true) => "meets threshold".to_string(),
                    None => String::new(),
                },
            ]
        })
        .collect();
    let headers = [
        "criterion",
        "mean",
        "pass rate",
        "cases",
        "errors",
        "threshold",
        "",
    ];
    let aligns = [
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Left,
    ];
    paint_last_column(p, rows, align(&headers, &cells, &aligns))
}

/// Colours the verdict column after padding, so escape codes never count
/// towards a column's width. Row 0 is the header, row 1 the rule.
fn paint_last_column(p: &Painter, rows: &[CriterionRow], padded: Vec<Vec<String>>) -> Vec<String> {
    padded
        .into_iter()
        .enumerate()
        .map(|(i, mut cells)| match i {
            0 => p.paint(&join(&cells), BOLD),
            1 => p.paint(&join(&cells), DIM),
            _ => {
                if let Some(last) = cells.last_mut() {
                    let text = last.trim_end().to_string();
                    *last = p.paint(&text, verdict_style(&rows[i - 2]));
                }
                join(&cells)
            }
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Cells padded to their column's widest cell by display width (CJK and
/// emoji take two columns); with headers, a rule row under them.
fn align(headers: &[&str], rows: &[Vec<String>], aligns: &[Align]) -> Vec<Vec<String>> {
    let columns = aligns.len();
    let mut widths = vec![0usize; columns];
    for (i, h) in headers.iter().enumerate() {
        widths[i] = widths[i].max(h.width());
    }
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.width());
        }
    }
    let pad = |cells: Vec<String>| -> Vec<String> {
        cells
            .iter()
            .enumerate()
            .take(columns)
            .map(|(i, cell)| {
                let fill = " ".repeat(widths[i].saturating_sub(cell.width()));
                match aligns[i] {
                    Align::Left => format!("{cell}{fill}"),
                    Align::Right => format!("{fill}{cell}"),
                }
            })
            .collect()
    };
    let mut out = Vec::new();
    if !headers.is_empty() {
        out.push(pad(headers.iter().map(|h| h.to_string()).collect()));
        out.push(pad(widths.iter().map(|w| "─".repeat(*w)).collect()));
    }
    out.extend(rows.iter().map(|row| pad(row.clone())));
    out
}

/// Two spaces between columns; no trailing blanks.
fn join(cells: &[String]) -> String {
    cells.join("  ").trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_by_display_width() {
        let rows = vec![
            vec!["注文番号".to_string(), "1.00".to_string()],
            vec!["tone".to_string(), "0.50".to_string()],
        ];
        let lines: Vec<String> = align(&["criterion", "head"], &rows, &[Align::Left, Align::Right])
            .iter()
            .map(|cells| join(cells))
            .collect();
        let widths: Vec<usize> = lines.iter().map(|l| l.width()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{lines:#?}");
        assert!(lines[2].starts_with("注文番号 "));
    }

    #[test]
    fn painting_is_off_without_color() {
        let p = Painter { color: false };
        assert_eq!(p.paint("x", RED), "x");
        let p = Painter { color: true };
        assert_eq!(p.paint("x", RED), "\u{1b}[31mx\u{1b}[0m");
    }
}
