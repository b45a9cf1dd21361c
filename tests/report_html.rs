//! The static HTML report: well-formed, self-contained (nothing loads from
//! elsewhere, no scripts), escaped, flipped cases first, and its charts
//! drawn from the gate's numbers.

mod common;
mod report_fixtures;

use std::collections::HashMap;

use promptgate::pipeline::report::html;
use quick_xml::Reader;
use quick_xml::events::Event;
use report_fixtures::*;

/// One element as the parser met it.
#[derive(Debug)]
struct Element {
    name: String,
    attributes: HashMap<String, String>,
}

/// Parses the page as XML (it is written to be well-formed: a stray `<`
/// from a model's output would break this) and returns every element and
/// the text content.
fn parse(page: &str) -> (Vec<Element>, String) {
    let body = page
        .strip_prefix("<!DOCTYPE html>\n")
        .expect("the page starts with its doctype");
    let mut reader = Reader::from_str(body);
    reader.check_end_names(true);
    let mut elements = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let attributes = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("a well-formed attribute");
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.unescape_value().expect("an escaped value").into_owned(),
                        )
                    })
                    .collect();
                elements.push(Element { name, attributes });
            }
            Ok(Event::Text(t)) => text.push_str(&t.unescape().expect("escaped text")),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed at byte {}: {e}", reader.buffer_position()),
        }
    }
    (elements, text)
}

#[test]
fn the_page_is_well_formed_self_contained_and_escaped() {
    let mut report = realistic_check();
    // Model output and dataset values are untrusted.
    let case = &mut report.prompts[0].head.cases.make_mut()[2];
    case.vars.insert(
        "question".into(),
        serde_json::json!("<img src=x onerror=alert(1)>"),
    );
    if let Some(repeat) = case.repeats.first_mut() {
        repeat.call.result = Ok("<script>alert('owned')</script> & more".to_string());
    }
    let page = html::render(&report).unwrap();
    let (elements, text) = parse(&page);

    for element in &elements {
        assert!(
            !matches!(
                element.name.as_str(),
                "script" | "link" | "img" | "iframe" | "object" | "embed"
            ),
            "no {} in a self-contained page",
            element.name
        );
        assert!(!element.attributes.contains_key("src"), "{element:?}");
        assert!(
            !element.attributes.keys().any(|k| k.starts_with("on")),
            "{element:?}"
        );
        if let Some(href) = element.attributes.get("href") {
            assert!(href.starts_with('#'), "only links within the page: {href}");
        }
    }
    assert!(text.contains("<script>alert('owned')</script> & more"));
    assert!(text.contains("<img src=x onerror=alert(1)>"));
    assert!(!page.contains("http://") && !page.contains("https://"));
}

#[test]
fn flipped_cases_come_first_and_filters_cover_them() {
    let report = realistic_check();
    let page = html::render(&report).unwrap();
    let (elements, _) = parse(&page);
    let classes: Vec<&str> = elements
        .iter()
        .filter(|e| e.name == "article")
        .map(|e| e.attributes["class"].as_str())
        .take(report.prompts[0].head.cases.len())
        .collect();
    assert!(!classes.is_empty());
    let first_plain = classes
        .iter()
        .position(|c| !c.contains("flipped"))
        .unwrap_or(classes.len());
    assert!(first_plain > 0, "a flipped case first: {classes:?}");
    assert!(
        classes[first_plain..]
            .iter()
            .all(|c| !c.contains("flipped")),
        "{classes:?}"
    );
    // One radio group per prompt: all, flipped, dropped, errors.
    let radios = elements
        .iter()
        .filter(|e| {
            e.name == "input" && e.attributes.get("type").map(String::as_str) == Some("radio")
        })
        .count();
    assert_eq!(radios, 4 * report.prompts.len());
    let flipped_label = format!(
        "flipped to fail ({})",
        classes.iter().filter(|c| c.contains("flipped")).count()
    );
    assert!(page.contains(&flipped_label), "{flipped_label}");
}

#[test]
fn each_interval_is_drawn_where_the_gate_put_it() {
    let report = realistic_check();
    let page = html::render(&report).unwrap();
    let (elements, _) = parse(&page);
    let charts: Vec<&Element> = elements.iter().filter(|e| e.name == "svg").collect();
    let gated_rows: usize = report
        .prompts
        .iter()
        .filter_map(|p| p.gate.as_ref())
        .map(|g| g.criteria.iter().filter(|c| c.interval.is_some()).count())
        .sum();
    assert_eq!(charts.len(), gated_rows);
    // The regressed criterion of the support prompt: interval [−0.41, −0.19]
    // against ±0.02 lies wholly left of the band.
    let index = elements
        .iter()
        .position(|e| {
            e.name == "svg" && e.attributes["aria-label"].starts_with("mentions order number")
        })
        .expect("a chart for the regressed criterion");
    let number = |e: &Element, key: &str| e.attributes[key].parse::<f64>().unwrap();
    let band = &elements[index + 2];
    let range = &elements[index + 4];
    assert_eq!(band.name, "rect");
    assert_eq!(range.name, "line");
    assert!(elements[index].attributes["class"].contains("regressed"));
    assert!(
        number(range, "x2") < number(band, "x"),
        "{range:?} {band:?}"
    );
    assert!(number(range, "x1") < number(range, "x2"));
}

#[test]
fn check_writes_the_page_for_the_example() {
    let repo = common::example_repo();
    common::write(
        repo.path(),
        "snippets/tone.md",
        "We will refund anyone who asks. Sign off as \"Nimbus Support\".\n",
    );
    let out = repo.path().join("reports/check.html");
    let (code, _, stderr) =
        common::promptgate(repo.path(), &["check", "--html", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    let page = std::fs::read_to_string(&out).unwrap();
    let (_, text) = parse(&page);
    assert!(text.contains("support-bot"));
    assert!(text.contains("no refund promises"));
    assert!(text.contains("flipped to fail (15)"), "every case flipped");
}
