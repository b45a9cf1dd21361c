//! The terminal, markdown and JSON reports rendered from realistic inputs.

mod report_fixtures;

use std::path::Path;

use promptgate::pipeline::report::{COMMENT_MARKER, json, markdown, terminal};
use report_fixtures::*;

const SCHEMA_PATH: &str = "schemas/report.schema.json";

fn committed_schema() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
    let text = std::fs::read_to_string(&path).expect("schemas/report.schema.json exists");
    serde_json::from_str(&text).expect("the schema is JSON")
}

#[test]
fn json_schema_file_is_current() {
    let generated = json::schema();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
    if std::env::var_os("PROMPTGATE_UPDATE_SCHEMA").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    assert!(
        committed_schema() == generated,
        "{SCHEMA_PATH} is out of date: run PROMPTGATE_UPDATE_SCHEMA=1 cargo test --test report_render"
    );
}

/// Validates with the `jsonschema` crate; the error list on failure.
fn schema_errors(instance: &serde_json::Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&committed_schema()).expect("the schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn json_reports_validate_against_the_committed_schema() {
    for report in [realistic_check(), eval_report()] {
        let text = json::render(&report).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(schema_errors(&value), Vec::<String>::new());
        // Readers can deserialize it into the documented types.
        let back: json::JsonReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, json::to_json_report(&report));
    }
}

#[test]
fn json_report_carries_what_the_other_reports_show() {
    let value: serde_json::Value =
        serde_json::from_str(&json::render(&realistic_check()).unwrap()).unwrap();
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["status"], "fail");
    assert_eq!(value["summary"]["regressed"], 1);
    let support = &value["prompts"][0];
    assert_eq!(support["baseline_source"], "local store");
    let order = &support["criteria"][0];
    assert_eq!(order["verdict"], "regressed");
    assert_eq!(order["scale"], "1-5");
    assert_eq!(order["interval"]["low"], -0.41);
    assert_eq!(order["flipped_to_fail"].as_array().unwrap().len(), 5);
    let tone = &support["criteria"][2];
    assert!(
        tone["note"]
            .as_str()
            .unwrap()
            .contains("about 40 more case(s)")
    );
    assert_eq!(support["worst_cases"][0]["case_id"], "case-001");
    assert_eq!(support["cases"].as_array().unwrap().len(), 20);
    let failed = &support["cases"][7]["head"][0];
    assert!(failed["output"].is_null());
    assert!(failed["error"].as_str().unwrap().contains("HTTP 429"));
    assert_eq!(
        support["cases"][1]["head"][0]["scores"][0]["display"],
        "1/5"
    );
}

#[test]
fn schema_rejects_a_report_of_another_version_or_shape() {
    let mut value: serde_json::Value =
        serde_json::from_str(&json::render(&realistic_check()).unwrap()).unwrap();
    value["schema_version"] = 2.into();
    value["prompts"][0]["criteria"][0]["verdict"] = "worse".into();
    value["prompts"][0].as_object_mut().unwrap().remove("head");
    let errors = schema_errors(&value);
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn terminal_snapshot() {
    insta::assert_snapshot!(
        "terminal_check",
        terminal::render(&realistic_check(), false)
    );
    insta::assert_snapshot!("terminal_eval", terminal::render(&eval_report(), false));
}

#[test]
fn terminal_colours_only_when_asked_and_never_passes_escapes_through() {
    let mut report = realistic_check();
    report.prompts[0].head.model = "evil\u{1b}]0;pwned\u{7}".to_string();
    let plain = terminal::render(&report, false);
    assert!(!plain.contains('\u{1b}'), "{plain}");
    let coloured = terminal::render(&report, true);
    assert!(coloured.contains("\u{1b}[31m"));
    assert!(!coloured.contains("\u{1b}]0;pwned"));
    assert!(plain.contains("evil\u{FFFD}]0;pwned\u{FFFD}"));
}

#[test]
fn terminal_labels_the_echo_provider() {
    let text = terminal::render(&eval_report(), false);
    assert!(text.contains("NOT A MODEL"));
    assert!(!terminal::render(&realistic_check(), false).contains("NOT A MODEL"));
}

#[test]
fn markdown_snapshots() {
    insta::assert_snapshot!(
        "markdown_check",
        markdown::render_comment(&realistic_check()).unwrap()
    );
    insta::assert_snapshot!(
        "markdown_eval",
        markdown::render_comment(&eval_report()).unwrap()
    );
}

#[test]
fn step_summary_is_the_report_without_the_marker() {
    let report = realistic_check();
    let comment = markdown::render_comment(&report).unwrap();
    let summary = markdown::render_step_summary(&report).unwrap();
    assert!(comment.starts_with(COMMENT_MARKER));
    assert!(!summary.contains(COMMENT_MARKER));
    assert_eq!(
        comment.strip_prefix(COMMENT_MARKER).unwrap().trim_start(),
        summary
    );
}

/// What a CommonMark + GFM parser sees in a markdown body.
#[derive(Default, Debug)]
struct Parsed {
    /// Raw HTML (blocks and inline), as the renderer passes it through.
    html: Vec<String>,
    /// Text outside code blocks (entities decoded).
    text: Vec<String>,
    code_blocks: Vec<String>,
    /// (columns in the header, cells in this row).
    table_rows: Vec<(usize, usize)>,
    table_cells: Vec<String>,
}

fn parse(body: &str) -> Parsed {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut parsed = Parsed::default();
    let mut in_code = false;
    let mut in_cell = false;
    let (mut columns, mut cells) = (0, 0);
    for event in Parser::new_ext(body, Options::ENABLE_TABLES) {
        match event {
            Event::Html(h) | Event::InlineHtml(h) => parsed.html.push(h.to_string()),
            Event::Text(t) if in_code => parsed.code_blocks.last_mut().unwrap().push_str(&t),
            Event::Text(t) | Event::Code(t) => {
                if in_cell {
                    parsed.table_cells.last_mut().unwrap().push_str(&t);
                }
                parsed.text.push(t.to_string());
            }
            Event::Start(Tag::CodeBlock(_)) => {
                in_code = true;
                parsed.code_blocks.push(String::new());
            }
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Start(Tag::Table(aligns)) => columns = aligns.len(),
            Event::Start(Tag::TableHead | Tag::TableRow) => cells = 0,
            Event::Start(Tag::TableCell) => {
                cells += 1;
                in_cell = true;
                parsed.table_cells.push(String::new());
            }
            Event::End(TagEnd::TableCell) => in_cell = false,
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                parsed.table_rows.push((columns, cells))
            }
            _ => {}
        }
    }
    parsed
}

/// Our structure holds: only our own tags, one marker at most, balanced
/// `<details>`, whole table rows, no live `@mention` anywhere.
fn assert_structure(body: &str, marker: bool) {
    let parsed = parse(body);
    let allowed = [
        "<details>",
        "</details>",
        "<summary>",
        "</summary>",
        "<code>",
        "</code>",
        "<sub>",
        "</sub>",
        COMMENT_MARKER,
    ];
    let mut opened = 0i64;
    for html in &parsed.html {
        let mut rest = html.as_str();
        while let Some(start) = rest.find('<') {
            let end = rest[start..]
                .find('>')
                .map_or(rest.len(), |e| start + e + 1);
            let tag = &rest[start..end];
            assert!(
                allowed.contains(&tag),
                "unexpected HTML {tag:?} in {html:?}"
            );
            opened += i64::from(tag == "<details>") - i64::from(tag == "</details>");
            rest = &rest[end..];
        }
    }
    assert_eq!(opened, 0, "unbalanced <details>");
    assert_eq!(body.matches(COMMENT_MARKER).count(), usize::from(marker));
    for text in parsed.text.iter().chain(&parsed.html) {
        let chars: Vec<char> = text.chars().collect();
        for pair in chars.windows(2) {
            assert!(
                !(pair[0] == '@' && pair[1].is_alphanumeric()),
                "live mention in {text:?}"
            );
        }
    }
    for (columns, cells) in &parsed.table_rows {
        assert_eq!(columns, cells, "a table row has the wrong number of cells");
    }
}

fn rename_case(report: &mut promptgate::pipeline::report::CheckReport, old: &str, new: &str) {
    let prompt = &mut report.prompts[0];
    for result in [Some(&mut prompt.head), prompt.baseline.as_mut()]
        .into_iter()
        .flatten()
    {
        for case in result.cases.make_mut() {
            if case.case_id == old {
                case.case_id = new.to_string();
            }
        }
    }
    for c in &mut prompt.gate.as_mut().unwrap().criteria {
        for m in c.flipped_to_fail.iter_mut().chain(&mut c.largest_drops) {
            if m.case_id == old {
                m.case_id = new.to_string();
            }
        }
    }
}

fn rename_criterion(report: &mut promptgate::pipeline::report::CheckReport, old: &str, new: &str) {
    let prompt = &mut report.prompts[0];
    for result in [Some(&mut prompt.head), prompt.baseline.as_mut()]
        .into_iter()
        .flatten()
    {
        for c in &mut result.criteria {
            if c.name == old {
                c.name = new.to_string();
            }
        }
    }
    for c in &mut prompt.gate.as_mut().unwrap().criteria {
        if c.criterion == old {
            c.criterion = new.to_string();
        }
    }
}

/// Every field a pull request or a model controls, filled with markup.
fn hostile_report() -> promptgate::pipeline::report::CheckReport {
    let mut report = realistic_check();
    report
        .notes
        .push("note </details> @org/team <!-- promptgate:comment -->".into());
    rename_case(&mut report, "case-001", "case`1` </summary> @eve");
    rename_criterion(
        &mut report,
        "mentions order number",
        "order | <b>no</b> @here ```",
    );
    let prompt = &mut report.prompts[0];
    prompt.head.prompt = "support | <details open> @owner".into();
    prompt.head.model = "openai/gpt <script>alert(1)</script>".into();
    prompt
        .affected_because
        .push("<img src=x onerror=alert(1)> changed".into());
    prompt.policy_change = Some("| broken | table @mallory".into());
    prompt.prompt_diff_markdown = Some("```diff\n- quote @bob\n</details>\n<!-- x -->\n".into());
    let case = &mut prompt.head.cases.make_mut()[1];
    case.vars
        .insert("evil".into(), "```\n</details>\n@dave".into());
    let score = case.repeats[0].scores[0].score.as_mut().unwrap();
    score.reason = "reason <!-- x --> @carol | pipe\n# heading".into();
    prompt.head.cases.make_mut()[7].repeats[0].call.result =
        Err("boom </details> @erin | x".into());
    report
}

#[test]
fn markdown_neutralises_everything_untrusted() {
    let report = hostile_report();
    let body = markdown::render_comment(&report).unwrap();
    assert_structure(&body, true);
    let parsed = parse(&body);
    // The criterion's name is one cell, shown as written.
    assert!(
        parsed
            .table_cells
            .iter()
            .any(|c| c == "order | <b>no</b> @\u{200D}here ```"),
        "{:#?}",
        parsed.table_cells
    );
    // Model output sits whole inside one code block.
    assert!(
        parsed
            .code_blocks
            .iter()
            .any(|b| b.contains("```</details><\u{200D}!-- promptgate:comment --> | pipe"))
    );
    // The open fence in the diff was closed: the cost table after it is a table.
    assert!(parsed.table_cells.iter().any(|c| c == "calls made"));
    assert!(body.contains("@\u{200D}carol"));
    assert!(body.contains("@\u{200D}mallory"));
}

#[test]
fn comment_fits_with_300_cases_and_huge_outputs() {
    let report = check_report(vec![support_prompt(300, true), summarize_prompt()]);
    let body = markdown::render_comment(&report).unwrap();
    assert!(
        body.len() <= markdown::COMMENT_LIMIT,
        "{} bytes",
        body.len()
    );
    assert!(body.chars().count() <= 65_536);
    assert_structure(&body, true);
    // Details were cut, never the table, and the comment says so.
    assert!(body.contains("Details were shortened to fit GitHub's 65,536-character comment limit"));
    for row in [
        "| order number | 1.00 (5.0/5) |",
        "| polite | 1.00 | 1.00 |",
        "| tone | 0.75 (4.0/5) |",
        "| faithful | 0.50 (3.0/5) | 0.95 (4.8/5) | +0.45 |",
    ] {
        let row = row.replace("order number", "mentions order number");
        assert!(body.contains(&row), "missing table row {row}");
    }
    assert!(body.contains("more characters not shown"));
    // The step summary has room for more.
    let summary = markdown::render_step_summary(&report).unwrap();
    assert!(summary.len() > body.len());
    assert!(summary.len() <= markdown::STEP_SUMMARY_LIMIT);
}

#[test]
fn comment_fits_with_hundreds_of_failing_prompts() {
    let prompts: Vec<_> = (0..120)
        .map(|i| {
            let mut p = support_prompt(12, true);
            p.head.prompt = format!("prompt-{i:03}");
            p
        })
        .collect();
    let report = check_report(prompts);
    let body = markdown::render_comment(&report).unwrap();
    assert!(
        body.len() <= markdown::COMMENT_LIMIT,
        "{} bytes",
        body.len()
    );
    assert_structure(&body, true);
    assert!(body.contains("prompt-000"));
    assert!(body.contains("the step summary and the JSON report have all of it"));
}

#[test]
fn passing_prompts_fold_into_one_line_when_space_runs_out() {
    let mut prompts = vec![support_prompt(20, false)];
    for i in 0..400 {
        let mut p = summarize_prompt();
        p.head.prompt = format!("summarize-{i:03}");
        prompts.push(p);
    }
    let body = markdown::render_comment(&check_report(prompts)).unwrap();
    assert!(body.len() <= markdown::COMMENT_LIMIT);
    assert_structure(&body, true);
    assert!(body.contains("| mentions order number |"));
    assert!(body.contains("400 more prompt(s) passed with nothing to report"));
}

#[test]
fn failed_calls_are_said_in_every_report() {
    let mut prompt = support_prompt(30, false);
    let gate = prompt.gate.as_mut().unwrap();
    gate.calls.head_failed = 2;
    gate.calls.head_calls = 30;
    gate.calls.cases_left_out = 2;
    gate.calls.regressed = true;
    let report = check_report(vec![prompt]);
    let md = markdown::render_comment(&report).unwrap();
    assert!(
        md.contains("2 of 30 head call(s) failed; 2 case(s) left out"),
        "{md}"
    );
    let text = terminal::render(&report, false);
    assert!(
        text.contains("2 case(s) left out of the comparison"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&json::render(&report).unwrap()).unwrap();
    assert_eq!(json["prompts"][0]["cases_left_out"], 2);
    assert_eq!(json["prompts"][0]["call_failures_regressed"], true);
}

/// One vocabulary: every format says a prompt's outcome with the same word
/// and mark, and the run's outcome is its worst prompt's, so a summary never
/// says "passed" over a prompt marked as failing (or the reverse).
#[test]
fn every_report_says_each_outcome_the_same_way() {
    use promptgate::pipeline::report::Status;
    for report in [realistic_check(), eval_report()] {
        let text = terminal::render(&report, false);
        let markdown = markdown::render_comment(&report).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&json::render(&report).unwrap()).unwrap();
        let mut worst = Status::Pass;
        for (prompt, in_json) in report
            .prompts
            .iter()
            .zip(json["prompts"].as_array().unwrap())
        {
            let status = prompt.status();
            worst = worst.max(status);
            let word = status.word(report.mode);
            let (mark, emoji, key) = match status {
                Status::Pass => ("✓", "✅", "pass"),
                Status::Warn => ("!", "⚠️", "warn"),
                Status::Fail => ("✗", "❌", "fail"),
            };
            let name = &prompt.head.prompt;
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("{mark} {name}  {word}  "))),
                "{name}: `{mark} … {word}` in\n{text}"
            );
            assert!(
                markdown.contains(&format!("### {emoji} <code>{name}</code> — {word}")),
                "{name}: `{emoji} … {word}` in\n{markdown}"
            );
            assert_eq!(in_json["status"], key, "{name}");
        }
        assert_eq!(report.status(), worst);
        let run_mark = match worst {
            Status::Pass => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
        };
        assert!(text.starts_with(run_mark), "{text}");
    }
}
