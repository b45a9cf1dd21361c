//! A suggestion in words: the terminal's account (word diff, measured
//! deltas with intervals, cost), the pull-request review comment with its
//! one-click ```` ```suggestion ```` block, and the one line the sticky
//! comment carries. Model output is untrusted: everything it wrote goes
//! through the report's escaping — except the suggestion block's lines,
//! which are what a reviewer applies and so go in exactly as measured,
//! inside a fence they cannot close.

use super::outcome::{FileEdit, PromptSuggestion, SuggestStatus, Verified};
use crate::pipeline::gate::{CriterionGate, PromptGate, Verdict};
use crate::pipeline::report::escape;
use crate::pipeline::textdiff;

/// What a suggestion run says when no prompt asked about failed.
pub const NOTHING_FAILED: &str = "Nothing to suggest: no prompt failed its gate (name one, with \
     --criterion, to improve it anyway).";

/// `0.00 → 1.00 (Δ +1.00 [+0.74, +1.00])`.
fn movement(gate: &CriterionGate) -> String {
    let mean = |m: Option<f64>| m.map_or("n/a".to_owned(), |m| format!("{m:.2}"));
    let delta = gate.delta.map_or(String::new(), |d| {
        let interval = gate
            .interval
            .map_or(String::new(), |(lo, hi)| format!(" [{lo:+.2}, {hi:+.2}]"));
        format!(" (Δ {d:+.2}{interval})")
    });
    format!(
        "{} → {}{delta}",
        mean(gate.baseline_mean),
        mean(gate.head_mean)
    )
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Improved => "improved",
        Verdict::Unchanged => "unchanged",
        Verdict::Regressed => "regressed",
        Verdict::Inconclusive => "inconclusive",
        Verdict::New => "new",
    }
}

fn target_gate<'a>(gate: &'a PromptGate, target: &str) -> Option<&'a CriterionGate> {
    gate.criteria.iter().find(|c| c.criterion == target)
}

/// "no refund promises 0.00 → 1.00 (Δ +1.00 [+0.74, +1.00]) on 10 held-out
/// cases; no criterion regressed; found for $0.0123".
pub fn effect(suggestion: &PromptSuggestion, verified: &Verified) -> String {
    let target = suggestion.target.as_deref().unwrap_or_default();
    let held = target_gate(&verified.judged.held_out, target);
    let cases = held.map_or(0, |g| g.paired_cases);
    format!(
        "{target} {} on {cases} held-out cases; no criterion regressed on any case; found for {}",
        held.map(movement).unwrap_or_default(),
        suggestion.cost.cost_text()
    )
}

/// The one line about a prompt's suggestion, for the sticky comment's notes.
pub fn headline(suggestion: &PromptSuggestion) -> String {
    let name = &suggestion.prompt;
    match &suggestion.status {
        SuggestStatus::Found(verified) => {
            let places: Vec<String> = verified
                .files
                .iter()
                .map(|f| {
                    format!(
                        "{} lines {}–{}",
                        f.path, f.lines.start_line, f.lines.end_line
                    )
                })
                .collect();
            format!(
                "{name}: verified suggestion ({}) — {}",
                places.join(", "),
                effect(suggestion, verified)
            )
        }
        SuggestStatus::NoneSurvived => format!(
            "{name}: no suggested edit survived verification ({} candidate(s) measured on {} \
             held-out cases; costs {}), so none is posted",
            suggestion.candidates.len(),
            suggestion.split.as_ref().map_or(0, |s| s.held_out.len()),
            suggestion.cost.cost_text()
        ),
        SuggestStatus::CannotVerify(why) => format!("{name}: no suggestion — {why}"),
        SuggestStatus::NothingToFix => format!("{name}: passed; nothing to suggest"),
    }
}

fn criteria_lines(gate: &PromptGate) -> Vec<String> {
    gate.criteria
        .iter()
        .map(|c| {
            format!(
                "{}: {} — {}",
                c.criterion,
                movement(c),
                verdict_word(c.verdict)
            )
        })
        .collect()
}

/// The whole account for a terminal.
pub fn terminal(suggestion: &PromptSuggestion, color: bool) -> String {
    let mut out = format!("{} ({})\n", suggestion.prompt, suggestion.path);
    if let Some(target) = &suggestion.target {
        out.push_str(&format!("  target criterion: {target}\n"));
    }
    if let Some(split) = &suggestion.split {
        out.push_str(&format!(
            "  cases: {} shown to the model (fit), {} held out for verification (seed {})\n",
            split.fit.len(),
            split.held_out.len(),
            split.seed
        ));
    }
    for fate in &suggestion.candidates {
        let status = match &fate.rejected {
            None => "survived".to_owned(),
            Some(why) => format!("rejected: {why}"),
        };
        out.push_str(&format!(
            "  candidate {}: {}\n",
            fate.number,
            escape::terminal(&status)
        ));
        for line in &fate.rationale {
            out.push_str(&format!("      - {}\n", escape::terminal(line)));
        }
    }
    match &suggestion.status {
        SuggestStatus::Found(verified) => {
            out.push_str("\nverified suggestion:\n");
            for file in &verified.files {
                out.push_str(&format!("\n  {}\n", file_title(file)));
                let diff = textdiff::word_diff_terminal(&file.old, &file.new, color);
                out.push_str(&escape::terminal_block(&diff, color));
                if !diff.ends_with('\n') {
                    out.push('\n');
                }
            }
            out.push_str("\n  on the held-out cases:\n");
            for line in criteria_lines(&verified.judged.held_out) {
                out.push_str(&format!("    {line}\n"));
            }
            out.push_str("  on all cases:\n");
            for line in criteria_lines(&verified.judged.all) {
                out.push_str(&format!("    {line}\n"));
            }
        }
        _ => out.push_str(&format!("\n{}\n", escape::terminal(&headline(suggestion)))),
    }
    out.push_str(&format!(
        "  cost of finding it: {} ({} call(s) made, {} cached)\n",
        suggestion.cost.cost_text(),
        suggestion.cost.made,
        suggestion.cost.cached
    ));
    out
}

fn file_title(file: &FileEdit) -> String {
    let shared = if file.snippet {
        " (a shared snippet: every prompt that includes it changes)"
    } else {
        ""
    };
    format!(
        "{} lines {}–{}{shared}",
        file.path, file.lines.start_line, file.lines.end_line
    )
}

/// The review comment on `file`'s lines: what was measured, why, and the
/// suggestion block a reviewer applies with one click.
pub fn review_comment(
    suggestion: &PromptSuggestion,
    verified: &Verified,
    file: &FileEdit,
) -> String {
    let mut body = format!(
        "**promptgate: verified suggestion** for {}{}\n\n{}\n\n",
        escape::code_inline(&suggestion.prompt),
        if file.snippet {
            " — this edits a **shared snippet**: every prompt that includes it changes"
        } else {
            ""
        },
        escape::inline(&effect(suggestion, verified)),
    );
    body.push_str(&suggestion_block(&file.lines.replacement));
    body.push('\n');
    if !verified.candidate.rationale.is_empty() {
        body.push_str("\nWhy:\n");
        for rationale in &verified.candidate.rationale {
            body.push_str(&format!(
                "- {}: {}\n",
                escape::inline(&rationale.location),
                escape::inline(&rationale.why)
            ));
        }
    }
    body.push_str("\n<details><summary>Measured against the current version</summary>\n\n");
    body.push_str("| criterion | held-out | all cases |\n|---|---|---|\n");
    for held in &verified.judged.held_out.criteria {
        let all = verified
            .judged
            .all
            .criteria
            .iter()
            .find(|c| c.criterion == held.criterion);
        body.push_str(&format!(
            "| {} | {} {} | {} |\n",
            escape::inline(&held.criterion),
            movement(held),
            verdict_word(held.verdict),
            all.map(|c| format!("{} {}", movement(c), verdict_word(c.verdict)))
                .unwrap_or_default()
        ));
    }
    if let Some(split) = &suggestion.split {
        body.push_str(&format!(
            "\nThe suggestion model saw {} case(s); {} were held out to verify the edit (seed {}).\n",
            split.fit.len(),
            split.held_out.len(),
            escape::code_inline(&split.seed)
        ));
    }
    body.push_str("\n</details>\n");
    body
}

/// The one-click block replacing a comment's lines with `lines`, each as
/// it is: escaping would change the text a reviewer applies. The fence is
/// longer than any run of backticks in them, so no line can close it, and
/// markup inside a code block is never rendered.
pub fn suggestion_block(lines: &[String]) -> String {
    let longest_run = lines
        .iter()
        .flat_map(|line| line.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let mut block = format!("{fence}suggestion\n");
    for line in lines {
        block.push_str(line);
        block.push('\n');
    }
    block.push_str(&fence);
    block
}

#[cfg(test)]
/// The lines of the first suggestion block of `body`, read as
/// CommonMark reads a fenced block: it ends at the first line of up to
/// three spaces, then at least as many backticks as opened it, then
/// only spaces or tabs.
pub(crate) fn suggested_lines(body: &str) -> Option<Vec<String>> {
    let mut lines = body.split('\n');
    let fence = lines.find_map(|line| {
        let fence = line.strip_suffix("suggestion")?;
        (fence.len() >= 3 && fence.chars().all(|c| c == '`')).then_some(fence.len())
    })?;
    let closes = |line: &str| {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let run = line.trim_start_matches(' ');
        let ticks = run.len() - run.trim_start_matches('`').len();
        indent <= 3 && ticks >= fence && run[ticks..].chars().all(|c| c == ' ' || c == '\t')
    };
    let mut content = Vec::new();
    for line in lines {
        if closes(line) {
            return Some(content);
        }
        content.push(line.to_owned());
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Lines that try hard to end the block or fake our markup.
    pub(crate) fn hostile_line() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "`",
            "```",
            "````````",
            "~~~",
            "<!--",
            "-->",
            "suggestion",
            " ",
            "\t",
            "<details>",
            "\r",
            "\u{200D}",
            "\u{202E}",
            "@team",
            "x",
        ]);
        prop::collection::vec(
            prop_oneof![pieces.prop_map(str::to_owned), "[^\n]{0,8}"],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn the_applied_lines_are_exactly_the_candidates(
            lines in prop::collection::vec(hostile_line(), 0..8)
        ) {
            let block = suggestion_block(&lines);
            prop_assert_eq!(suggested_lines(&block), Some(lines.clone()));
            // Whatever follows the block in the comment stays outside it.
            let body = format!("before\n\n{block}\n\nafter `x` ```\n");
            prop_assert_eq!(suggested_lines(&body), Some(lines));
        }
    }

    #[test]
    fn deleting_lines_and_an_empty_line_differ() {
        assert_eq!(suggestion_block(&[]), "```suggestion\n```");
        assert_eq!(suggestion_block(&[String::new()]), "```suggestion\n\n```");
        assert_eq!(
            suggestion_block(&["run ```` it".into()]),
            "`````suggestion\nrun ```` it\n`````"
        );
    }
}
