//! Dataset files (JSONL, CSV, YAML) read through the working-tree reader.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use promptgate::edges::git::WorkingTree;
use promptgate::pipeline::dataset;
use promptgate::types::{Case, Diagnostics, RepoPath};
use proptest::prelude::*;
use serde_json::json;

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn load(text: &str, name: &str) -> Result<Vec<Case>, Diagnostics> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), name, text);
    let tree = WorkingTree::new(dir.path()).unwrap();
    dataset::load_cases(&tree, &RepoPath(name.to_owned()))
}

/// `(line, message)` of every diagnostic, for asserting on.
fn problems(result: Result<Vec<Case>, Diagnostics>) -> Vec<(u32, String)> {
    let diagnostics = result.expect_err("expected errors");
    assert!(diagnostics.has_errors());
    diagnostics
        .0
        .into_iter()
        .map(|d| (d.line, d.message))
        .collect()
}

#[test]
fn jsonl_cases_with_expectations_and_blank_lines() {
    let text = concat!(
        "{\"question\": \"Where is order 42?\", \"expected\": \"It shipped.\", \"keywords\": [\"42\", \"shipped\"]}\n",
        "\n",
        "   \n",
        "{\"id\": \"refund\", \"question\": \"Refund?\", \"regex\": \"^Yes\", \"schema\": {\"type\": \"object\"}}\r\n",
        "{\"id\": 7, \"question\": \"n\", \"expected\": {\"a\": 1}, \"keywords\": \"a; b ;;c\"}",
    );
    let cases = load(text, "data/cases.jsonl").unwrap();
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[0].id, "cases.jsonl:1");
    assert_eq!(cases[0].expected.as_deref(), Some("It shipped."));
    assert_eq!(cases[0].keywords, ["42", "shipped"]);
    assert_eq!(cases[0].vars["question"], json!("Where is order 42?"));
    // `expected` stays a variable too: GitHub Models templates use {{expected}}.
    assert_eq!(cases[0].vars["expected"], json!("It shipped."));
    assert_eq!(cases[0].source.line, 1);
    assert_eq!(cases[0].source.file.0, "data/cases.jsonl");
    assert_eq!(cases[1].id, "refund");
    assert_eq!(cases[1].source.line, 4);
    assert_eq!(cases[1].regex.as_deref(), Some("^Yes"));
    assert_eq!(cases[1].schema, Some(json!({"type": "object"})));
    assert_eq!(cases[2].id, "7");
    assert_eq!(cases[2].expected.as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(cases[2].keywords, ["a", "b", "c"]);
}

#[test]
fn jsonl_collects_every_problem_with_its_line() {
    let text = concat!(
        "{\"id\": \"a\", \"q\": 1}\n",
        "{\"q\": \n",
        "[1, 2]\n",
        "{\"id\": \"a\"}\n",
        "{\"regex\": \"(unclosed\"}\n",
        "{\"keywords\": [1, {}]}\n",
        "{\"schema\": 5}\n",
        "{\"ok\": true}\n",
    );
    let found = problems(load(text, "cases.jsonl"));
    let lines: Vec<u32> = found.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7]);
    assert!(found[0].1.contains("invalid JSON"), "{found:?}");
    assert!(found[1].1.contains("one JSON object"), "{found:?}");
    assert!(
        found[2]
            .1
            .contains("duplicate case id `a` (first used on line 1)"),
        "{found:?}"
    );
    assert!(
        found[3].1.contains("`regex` is not a valid regex"),
        "{found:?}"
    );
    assert!(
        found[4].1.contains("`keywords` items must be strings"),
        "{found:?}"
    );
    assert!(found[5].1.contains("`schema` must be"), "{found:?}");
}

#[test]
fn jsonl_diagnostic_renders_file_line_and_source() {
    let rendered = load("{\"a\": 1}\n{\"a\": tru}\n", "x/cases.jsonl")
        .unwrap_err()
        .to_string();
    assert!(rendered.starts_with("x/cases.jsonl:2:"), "{rendered}");
    assert!(rendered.contains("{\"a\": tru}"), "{rendered}");
    assert!(rendered.ends_with("1 error found"), "{rendered}");
}

#[test]
fn jsonl_invalid_utf8_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.jsonl"),
        b"{\"a\": 1}\n{\"a\": \"\xff\"}\n",
    )
    .unwrap();
    let tree = WorkingTree::new(dir.path()).unwrap();
    let found = problems(dataset::load_cases(&tree, &RepoPath("c.jsonl".into())));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 2);
    assert!(found[0].1.contains("UTF-8"));
}

#[test]
fn csv_follows_rfc4180_and_reports_row_lines() {
    let text = concat!(
        "\u{feff}id,question,expected,keywords,schema\n",
        "a,\"Hello, world\",\"She said \"\"hi\"\"\",x;y,\n",
        "b,\"two\nlines\",ok,,\"{\"\"type\"\": \"\"string\"\"}\"\n",
        "\n",
        ",third,,,\n",
    );
    let cases = load(text, "cases.csv").unwrap();
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[0].id, "a");
    assert_eq!(cases[0].vars["question"], json!("Hello, world"));
    assert_eq!(cases[0].expected.as_deref(), Some("She said \"hi\""));
    assert_eq!(cases[0].keywords, ["x", "y"]);
    assert_eq!(cases[0].schema, None);
    assert_eq!(cases[0].source.line, 2);
    assert_eq!(cases[1].vars["question"], json!("two\nlines"));
    assert_eq!(cases[1].schema, Some(json!({"type": "string"})));
    assert_eq!(cases[1].keywords, Vec::<String>::new());
    assert_eq!(cases[1].source.line, 3);
    // The row after a two-line field starts on line 6 (line 5 is blank); an
    // empty id cell falls back to the position.
    assert_eq!(cases[2].source.line, 6);
    assert_eq!(cases[2].id, "cases.csv:6");
}

#[test]
fn csv_problems_name_the_row_line() {
    let text = concat!(
        "id,question,schema\n",
        "a,one,\n",
        "b,\"x, y\",{not json}\n",
        "c,too,many,fields\n",
        "a,dup,\n",
    );
    let found = problems(load(text, "cases.csv"));
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[0].0, 3);
    assert!(found[0].1.contains("`schema` is not valid JSON"));
    assert_eq!(found[1].0, 4);
    assert!(found[1].1.contains("4 fields but the header has 3"));
    assert_eq!(found[2].0, 5);
    assert!(found[2].1.contains("duplicate case id `a`"));
}

#[test]
fn csv_header_must_name_every_column_once() {
    let found = problems(load("a,,b\n1,2,3\n", "c.csv"));
    assert_eq!(
        found,
        [(
            1,
            "header column 2 has no name; the first row must name every column".to_owned()
        )]
    );
    let found = problems(load("a,b,a\n1,2,3\n", "c.csv"));
    assert!(found[0].1.contains("`a` twice"));
}

#[test]
fn yaml_list_of_maps_keeps_lines() {
    let text = "# cases\n- question: Where is my order?\n  expected: Shipped\n  keywords: [order, shipped]\n\n- id: nested\n  question: |\n    two\n    lines\n  schema:\n    type: object\n    required: [a]\n  count: 3\n  ratio: 0.5\n";
    let cases = load(text, "cases.yaml").unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].id, "cases.yaml:2");
    assert_eq!(cases[0].source.line, 2);
    assert_eq!(cases[0].keywords, ["order", "shipped"]);
    assert_eq!(cases[1].id, "nested");
    assert_eq!(cases[1].source.line, 6);
    assert_eq!(cases[1].vars["question"], json!("two\nlines\n"));
    assert_eq!(cases[1].vars["count"], json!(3));
    assert_eq!(cases[1].vars["ratio"], json!(0.5));
    assert_eq!(
        cases[1].schema,
        Some(json!({"type": "object", "required": ["a"]}))
    );
}

#[test]
fn yaml_problems_name_line_and_column() {
    let found = problems(load(
        "- a: 1\n- just text\n- b: 1\n  b: 2\n- {id: x}\n- {id: x}\n",
        "c.yml",
    ));
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[0].0, 4);
    assert!(
        found[0].1.contains("duplicate key `b`") && found[0].1.contains("each key of a case once"),
        "{found:?}"
    );
    assert_eq!(found[1].0, 2);
    assert!(found[1].1.contains("must be a map"));
    assert_eq!(found[2].0, 6);
    assert!(found[2].1.contains("duplicate case id `x`"));

    // NaN has no JSON number: it stays the text it was written as.
    let nan = load("- b: .nan\n", "c.yaml").unwrap();
    assert_eq!(nan[0].vars["b"], json!(".nan"));

    let syntax = load("- a: 1\n- b: [unclosed\n", "c.yaml").unwrap_err();
    assert_eq!(syntax.0.len(), 1);
    assert!(syntax.0[0].message.contains("not valid YAML"));
    assert!(syntax.0[0].line >= 2, "{:?}", syntax.0[0]);

    let not_list = problems(load("a: 1\n", "c.yaml"));
    assert!(not_list[0].1.contains("must be a list"));
    let two = problems(load("- a: 1\n---\n- a: 2\n", "c.yaml"));
    assert_eq!(two[0].0, 2);
    assert!(
        two[0].1.contains("a dataset holds one YAML document"),
        "{two:?}"
    );
    assert!(load("", "c.yaml").unwrap().is_empty());
}

#[test]
fn unknown_format_and_missing_file() {
    let found = problems(load("x", "cases.txt"));
    assert!(found[0].1.contains("unsupported dataset format"));
    let dir = tempfile::tempdir().unwrap();
    let tree = WorkingTree::new(dir.path()).unwrap();
    let missing = dataset::load_cases(&tree, &RepoPath("nope.jsonl".into())).unwrap_err();
    assert!(missing.0[0].message.contains("not found"));
    let escape = dataset::load_cases(&tree, &RepoPath("../x.jsonl".into())).unwrap_err();
    assert!(
        escape.0[0]
            .message
            .contains("`..` would leave the repository")
    );
}

/// Counts the bytes this thread holds, so the streaming test measures its
/// own peak, unaffected by tests running in parallel.
struct ThreadCountingAlloc;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn account(delta: i64) {
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + delta);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: defers every allocation to `System`; only counts sizes.
unsafe impl GlobalAlloc for ThreadCountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            account(layout.size() as i64);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        account(-(layout.size() as i64));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            account(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: ThreadCountingAlloc = ThreadCountingAlloc;

#[test]
fn a_100k_case_jsonl_streams() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..100_000 {
        writeln!(
            file,
            r#"{{"id": "c{i}", "question": "What is the status of order {i}? Please answer briefly.", "expected": "Order {i} shipped", "keywords": ["{i}"]}}"#
        )
        .unwrap();
    }
    drop(file);
    let size = std::fs::metadata(&path).unwrap().len() as i64;
    let tree = WorkingTree::new(dir.path()).unwrap();
    let file = RepoPath("big.jsonl".into());

    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let started = Instant::now();
    let reader = promptgate::types::RepoFiles::open(&tree, &file)
        .unwrap()
        .unwrap();
    // Streaming: look at each case and let it go.
    let mut count = 0;
    for case in dataset::stream_jsonl(reader, &file) {
        let case = case.unwrap();
        assert_eq!(case.id, format!("c{count}"));
        count += 1;
    }
    let streamed = started.elapsed();
    let stream_peak = PEAK.with(Cell::get) - base;

    let started = Instant::now();
    let cases = dataset::load_cases(&tree, &file).unwrap();
    let loaded = started.elapsed();
    assert_eq!(count, 100_000);
    assert_eq!(cases.len(), 100_000);
    assert_eq!(cases[99_999].source.line, 100_000);
    eprintln!(
        "100k-case JSONL of {} KiB: streamed in {streamed:?} holding at most {} KiB \
         (mostly the id set for duplicate detection); load_cases in {loaded:?}",
        size / 1024,
        stream_peak / 1024,
    );
    // Holding the file as one string would alone cost `size` bytes.
    assert!(
        stream_peak < size / 2,
        "streaming held {stream_peak} bytes for a {size}-byte file"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let file = RepoPath("fuzz".into());
        for _ in dataset::stream_jsonl(bytes.as_slice(), &file) {}
        for _ in dataset::stream_csv(bytes.as_slice(), &file) {}
        let _ = dataset::parse_yaml(&String::from_utf8_lossy(&bytes), &file);
    }

    #[test]
    fn structured_text_never_panics(text in "[-a-z:,;\"'{}\\[\\]#|>!&*\n 0-9.]{0,200}") {
        let file = RepoPath("fuzz".into());
        for _ in dataset::stream_jsonl(text.as_bytes(), &file) {}
        for _ in dataset::stream_csv(text.as_bytes(), &file) {}
        let _ = dataset::parse_yaml(&text, &file);
    }
}
