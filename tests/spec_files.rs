//! Prompt files, promptgate.toml, identity and the JSON schemas, read
//! through the library as `validate` and `check` read them.

use std::path::Path;

use promptgate::edges::git::WorkingTree;
use promptgate::pipeline::config::{self, Config, ProviderKind};
use promptgate::pipeline::spec;
use promptgate::types::{
    BuiltinEvaluator, EvaluatorKind, MemoryFiles, ModelId, RepoPath, ResponseFormat, Role,
    Severity, StringCheck,
};
use proptest::prelude::*;
use serde_json::json;

fn example() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/example"))
}

fn parse(
    text: &str,
) -> (
    Option<promptgate::types::PromptSpec>,
    promptgate::types::Diagnostics,
) {
    spec::parse_prompt(&RepoPath("prompts/t.prompt.yml".into()), text.as_bytes())
}

const MINIMAL: &str =
    "model: openai/gpt-4o-mini\nmessages:\n  - role: user\n    content: '{{input}}'\n";

#[test]
fn example_repository_loads_without_any_diagnostic() {
    let files = WorkingTree::new(example()).unwrap();
    let config = config::load(&files).unwrap();
    let (prompts, diagnostics) = spec::load_workspace(&files, &config);
    assert!(diagnostics.0.is_empty(), "{diagnostics}");
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "classify-ticket",
            "extract-order",
            "Text Summarizer",
            "support-bot"
        ]
    );
    for prompt in &prompts {
        let cases = promptgate::pipeline::dataset::cases_of(prompt, &files).unwrap();
        assert!(
            (10..=30).contains(&cases.len()),
            "{}: {}",
            prompt.name,
            cases.len()
        );
        let prepared =
            promptgate::pipeline::template::PreparedPrompt::new(&prompt.messages, &files).unwrap();
        for case in &cases {
            prepared.render(case).unwrap();
        }
    }
}

#[test]
fn github_models_file_reads_unchanged() {
    let files = WorkingTree::new(example()).unwrap();
    let bytes = std::fs::read(example().join("prompts/summarize.prompt.yml")).unwrap();
    let (spec, diagnostics) =
        spec::parse_prompt(&RepoPath("prompts/summarize.prompt.yml".into()), &bytes);
    assert!(diagnostics.0.is_empty(), "{diagnostics}");
    let spec = spec.unwrap();
    assert_eq!(spec.name, "Text Summarizer");
    assert_eq!(spec.model, ModelId::parse("openai/gpt-4o-mini").unwrap());
    assert_eq!(spec.parameters.temperature, Some(0.5));
    assert_eq!(spec.response_format, ResponseFormat::Text);
    assert_eq!(spec.messages[0].role, Role::System);
    assert_eq!(spec.test_data.len(), 10);
    let first = &spec.test_data[0];
    assert_eq!(first.id, "testData[0]");
    assert_eq!(first.source.line, 16);
    assert_eq!(
        first.expected.as_deref(),
        Some("Summary - A fox jumped over a dog that did not react.")
    );
    assert_eq!(
        first.vars["expected"],
        first.expected.clone().unwrap().as_str()
    );
    assert_eq!(spec.test_data[1].id, "testData[1]");
    assert_eq!(
        spec.evaluators[0].kind,
        EvaluatorKind::String {
            check: StringCheck::StartsWith("Summary -".into())
        }
    );
    assert_eq!(
        spec.evaluators[1].kind,
        EvaluatorKind::Builtin {
            which: BuiltinEvaluator::Similarity
        }
    );
    assert_eq!((spec.evaluators[1].weight, spec.repeats), (1.0, 1));
    let rendered = promptgate::pipeline::template::PreparedPrompt::new(&spec.messages, &files)
        .unwrap()
        .render(first)
        .unwrap();
    assert!(
        rendered[1]
            .content
            .contains("<text>\nThe quick brown fox leaped")
    );
}

#[test]
fn every_problem_is_reported_with_its_line_and_column() {
    let text = "\
model: \"gpt 4\"
colour: blue
modelParameters:
  temperature: hot
messages:
  - role: bot
    content: hi
evaluators:
  - name: r
    regex: '(unclosed'
  - name: s
    jsonSchema: '{\"type\": 12}'
  - name: none
testData:
  - id: [1]
";
    let (spec, diagnostics) = parse(text);
    assert!(spec.is_none());
    let found: Vec<(Severity, u32, u32)> = diagnostics
        .0
        .iter()
        .map(|d| (d.severity, d.line, d.column))
        .collect();
    assert_eq!(
        found,
        [
            (Severity::Warning, 2, 1),
            (Severity::Error, 1, 8),
            (Severity::Error, 4, 16),
            (Severity::Error, 6, 11),
            (Severity::Error, 15, 9),
            (Severity::Error, 10, 12),
            (Severity::Error, 12, 17),
            (Severity::Error, 13, 5),
        ],
        "{diagnostics}"
    );
    let messages: Vec<&str> = diagnostics.0.iter().map(|d| d.message.as_str()).collect();
    assert!(messages[0].contains("unknown key `colour`"));
    assert!(messages[1].contains("`gpt 4` is not a model id"));
    assert!(messages[3].contains("unknown variant `bot`"));
    assert!(messages[5].contains("not a valid regex"));
    assert!(messages[6].contains("not a valid JSON schema"));
    assert!(messages[7].contains("no kind"));
    // The offending line is attached for display.
    assert_eq!(
        diagnostics.0[3].source_line.as_deref(),
        Some("  - role: bot")
    );
    assert!(
        diagnostics
            .to_string()
            .contains("t.prompt.yml:6:11: error:")
    );
}

#[test]
fn missing_required_keys_are_errors() {
    let (spec, diagnostics) = parse("name: x\n");
    assert!(spec.is_none());
    let text = diagnostics.to_string();
    assert!(text.contains("missing required key `model`"), "{text}");
    assert!(text.contains("missing required key `messages`"), "{text}");
    let (_, diagnostics) = parse("model: a/b\nmessages:\n  - content: hi\n");
    assert!(diagnostics.to_string().contains("missing field `role`"));
}

#[test]
fn unknown_keys_warn_and_the_prompt_still_loads() {
    let text =
        format!("{MINIMAL}futureKey: 1\nevaluators:\n  - name: e\n    json: true\n    extra: 2\n");
    let (spec, diagnostics) = parse(&text);
    assert!(spec.is_some());
    let warnings: Vec<(u32, &str)> = diagnostics
        .0
        .iter()
        .map(|d| {
            assert_eq!(d.severity, Severity::Warning);
            (d.line, d.message.as_str())
        })
        .collect();
    assert_eq!(warnings.len(), 2);
    assert_eq!(warnings[0].0, 5);
    assert!(warnings[0].1.contains("`futureKey`"));
    assert_eq!(warnings[1].0, 9);
    assert!(warnings[1].1.contains("`evaluators[0].extra`"));
}

#[test]
fn a_min_cases_below_the_gates_floor_warns_at_its_line() {
    let (spec, diagnostics) = parse(&format!("{MINIMAL}gate:\n  minCases: 3\n"));
    assert_eq!(spec.unwrap().gate.min_cases, Some(3));
    let [warning] = diagnostics.0.as_slice() else {
        panic!("{diagnostics}");
    };
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(warning.line, 6, "{warning}");
    assert!(
        warning.message.contains("below the gate's floor of 5"),
        "{warning}"
    );
    // At the floor, nothing to say.
    let (_, diagnostics) = parse(&format!("{MINIMAL}gate:\n  minCases: 5\n"));
    assert!(diagnostics.0.is_empty(), "{diagnostics}");
}

#[test]
fn json_schema_as_json_text_or_yaml_map_is_the_same() {
    let as_text = format!(
        "{MINIMAL}responseFormat: json_schema\njsonSchema: |-\n  {{\"name\": \"out\", \"schema\": {{\"type\": \"object\", \"required\": [\"a\"]}}}}\n"
    );
    let as_map = format!(
        "{MINIMAL}responseFormat: json_schema\njsonSchema:\n  name: out\n  schema:\n    required: [a]\n    type: object\n"
    );
    let (a, da) = parse(&as_text);
    let (b, db) = parse(&as_map);
    assert!(da.0.is_empty(), "{da}");
    // gh refuses the map form; promptgate reads it and says so.
    assert_eq!(db.0.len(), 1, "{db}");
    assert_eq!(db.0[0].severity, Severity::Warning);
    assert!(db.0[0].message.contains("gh refuses"), "{db}");
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.response_format, b.response_format);
    let files = MemoryFiles::new();
    assert_eq!(
        spec::version_id(&a, &files).unwrap(),
        spec::version_id(&b, &files).unwrap()
    );
    let (_, bad) = parse(&format!(
        "{MINIMAL}responseFormat: json_schema\njsonSchema: '{{not json'\n"
    ));
    assert!(bad.to_string().contains("not JSON"), "{bad}");
}

#[test]
fn promptgate_evaluators_and_defaults() {
    let text = format!(
        "{MINIMAL}repeats: 3\ntags: [a]\nowner: '@team'\ngate: {{tolerance: 0.05, failOn: never}}\nevaluators:
  - name: kw
    keywords: [refund, sorry]
    weight: 2
    threshold: 0.5
  - name: len
    length: {{max: 200, unit: words}}
  - name: judge
    judge: Is it polite?
  - name: cmd
    command: {{program: ./score.sh, args: [--strict]}}
  - name: llm
    llm:
      modelId: openai/gpt-4o
      prompt: 'Is {{{{completion}}}} good?'
      choices: [{{choice: 'yes', score: 1}}, {{choice: 'no', score: 0}}]
  - name: lat
    latency: 1500
  - name: cost
    cost: {{maxUsd: 0.01}}
"
    );
    let (spec, diagnostics) = parse(&text);
    assert!(diagnostics.0.is_empty(), "{diagnostics}");
    let spec = spec.unwrap();
    assert_eq!(spec.repeats, 3);
    assert_eq!(spec.tags, ["a"]);
    assert_eq!(spec.owner.as_deref(), Some("@team"));
    assert_eq!(spec.gate.tolerance, Some(0.05));
    assert_eq!(spec.gate.fail_on, Some(promptgate::types::FailOn::Never));
    let e = &spec.evaluators;
    assert_eq!(
        (e[0].weight, e[0].threshold, e[0].line),
        (2.0, Some(0.5), Some(10))
    );
    assert!(matches!(&e[0].kind, EvaluatorKind::Keywords { keywords, .. } if keywords.len() == 2));
    assert!(matches!(
        e[1].kind,
        EvaluatorKind::Length { max: Some(200), .. }
    ));
    assert!(
        matches!(&e[2].kind, EvaluatorKind::Judge { criterion, rubric, .. } if criterion == "Is it polite?" && rubric.is_empty())
    );
    assert!(
        matches!(&e[3].kind, EvaluatorKind::Command { timeout_s: 30, args, .. } if args == &["--strict"])
    );
    assert!(matches!(&e[4].kind, EvaluatorKind::Llm { choices, .. } if choices.len() == 2));
    assert!(matches!(e[5].kind, EvaluatorKind::Latency { max_ms: 1500 }));
    assert!(matches!(e[6].kind, EvaluatorKind::Cost { max_usd } if max_usd == 0.01));
    assert_eq!(e[1].weight, 1.0);

    let (_, bad) = parse(&format!(
        "{MINIMAL}evaluators:\n  - name: j\n    judge: {{criterion: x, rubric: [a, b]}}\n  - name: k\n    json: false\n"
    ));
    let text = bad.to_string();
    assert!(
        text.contains("five entries") && text.contains("json: true"),
        "{text}"
    );
    let (_, bad) = parse(&format!(
        "{MINIMAL}evaluators:\n  - name: j\n    json: true\n  - name: j\n    json: true\n"
    ));
    assert!(
        bad.to_string().contains("two evaluators are named `j`"),
        "{bad}"
    );
}

#[test]
fn dataset_paths_may_not_leave_the_repository() {
    for path in ["../data.jsonl", "/etc/passwd", "a/../../b.csv"] {
        let (spec, diagnostics) = parse(&format!("{MINIMAL}dataset: {path}\n"));
        assert!(spec.is_none(), "{path}");
        assert!(diagnostics.to_string().contains("refused"), "{diagnostics}");
    }
}

// Version ids and fingerprints are stored; changing them invalidates every
// baseline. These goldens fail when the canonical form changes by accident.
const GOLDEN_PROMPT: &str = "\
# a comment
name: golden
semantics: promptgate
model: openai/gpt-4o-mini
modelParameters: {temperature: 0.2, maxTokens: 100}
messages:
  - role: system
    content: \"{% include 'snippets/tone.md' %}\"
  - role: user
    content: '{{ input }}'
testData:
  - input: hello
    expected: hi
evaluators:
  - name: greets
    string: {startsWith: hi}
";

const GOLDEN_VERSION: &str = "a2d96b19f311fb2c5d616b2143e7db92cf0524f737db6c40a9c8b762da5b4045";
// Form 2 (GitHub's evaluators score by gh's rules) changed every fingerprint once;
// form 3 (the answering endpoints) once more; form 4 (each case as 128 bits of
// its SHA-256) once more.
const GOLDEN_FINGERPRINT: &str = "54becd4c8fa834f9c5c1ee113615162f97f4639710c008bd815b46bafced9992";

#[test]
fn version_id_and_fingerprint_are_pinned() {
    let files = MemoryFiles::new().with("snippets/tone.md", "Be kind.");
    let spec = parse(GOLDEN_PROMPT).0.unwrap();
    let version = spec::version_id(&spec, &files).unwrap();
    assert_eq!(version.0, GOLDEN_VERSION);
    let judge = ModelId::parse("openai/gpt-4o").unwrap();
    let endpoints = ["openai https://api.openai.com/v1".to_string()];
    // The golden evaluation, with one part changed at a time.
    let of = |version: &promptgate::types::VersionId,
              evaluators: &[promptgate::types::EvaluatorSpec],
              judge: Option<&ModelId>,
              repeats: u32,
              endpoints: &[String]| {
        spec::fingerprint(
            version,
            &spec.test_data,
            evaluators,
            judge,
            repeats,
            endpoints,
        )
    };
    let fingerprint = of(&version, &spec.evaluators, Some(&judge), 1, &endpoints);
    assert_eq!(fingerprint.0, GOLDEN_FINGERPRINT);

    // Same content, other key order, YAML style and comments: same version.
    let restyled = "\
model: \"openai/gpt-4o-mini\"
messages:
- {content: \"{{ input }}\", role: user}
- content: >-
    {% include 'snippets/tone.md' %}
  role: system
modelParameters:
  maxTokens: 100
  temperature: 0.20
name: golden
semantics: promptgate
";
    let restyled = parse(restyled).0.unwrap();
    // Message order matters, so put them back in the original order.
    let mut restyled = restyled;
    restyled.messages.reverse();
    assert_eq!(spec::version_id(&restyled, &files).unwrap(), version);

    // A changed snippet is a new version, and so a new fingerprint.
    let changed = MemoryFiles::new().with("snippets/tone.md", "Be kind!");
    let other = spec::version_id(&spec, &changed).unwrap();
    assert_ne!(other, version);
    assert_ne!(
        of(&other, &spec.evaluators, Some(&judge), 1, &endpoints),
        fingerprint
    );
    // Repeats, judge and evaluators are part of the fingerprint.
    assert_ne!(
        of(&version, &spec.evaluators, Some(&judge), 2, &endpoints),
        fingerprint
    );
    assert_ne!(
        of(&version, &spec.evaluators, None, 1, &endpoints),
        fingerprint
    );
    assert_ne!(of(&version, &[], Some(&judge), 1, &endpoints), fingerprint);
    // So is the endpoint that answers: a result measured against another
    // server is another result.
    let friendly = ["openai http://127.0.0.1:9".to_string()];
    assert_ne!(
        of(&version, &spec.evaluators, Some(&judge), 1, &friendly),
        fingerprint
    );
    // A missing snippet is an error, not a silent hash of nothing.
    assert!(spec::version_id(&spec, &MemoryFiles::new()).is_err());
}

#[test]
fn prompt_names_must_be_unique_in_a_workspace() {
    let files = MemoryFiles::new()
        .with("a/x.prompt.yml", format!("name: same\n{MINIMAL}"))
        .with("b/y.prompt.yaml", format!("name: same\n{MINIMAL}"))
        .with("c/z.prompt.yml", MINIMAL)
        .with("notes.yml", "not: a prompt");
    let (prompts, diagnostics) = spec::load_workspace(&files, &Config::default());
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["same", "z"]);
    assert_eq!(diagnostics.0.len(), 1);
    assert_eq!(diagnostics.0[0].file.0, "b/y.prompt.yaml");
    assert_eq!(diagnostics.0[0].line, 1);
    assert!(
        diagnostics.0[0]
            .message
            .contains("already used by a/x.prompt.yml")
    );

    let config = Config {
        prompts: vec!["c/*.prompt.yml".into()],
        ..Config::default()
    };
    let (prompts, _) = spec::load_workspace(&files, &config);
    assert_eq!(prompts.len(), 1);
}

#[test]
fn config_defaults_when_absent_and_errors_with_positions() {
    assert_eq!(
        config::load(&MemoryFiles::new()).unwrap(),
        Config::default()
    );
    let path = RepoPath("promptgate.toml".into());
    let error = config::parse(&path, "store = \".pg\"\n[gate]\ntolerence = 0.1\n").unwrap_err();
    let d = &error.0[0];
    assert_eq!((d.line, d.column), (3, 1), "{error}");
    assert!(d.message.contains("tolerence"), "{error}");

    let error = config::parse(
        &path,
        "judge = \"gpt 4\"\n[gate]\ntolerance = 2.0\n[providers.local]\nkind = \"openai-compatible\"\n",
    )
    .unwrap_err();
    let found: Vec<(u32, bool)> = error
        .0
        .iter()
        .map(|d| (d.line, d.message.contains('`')))
        .collect();
    assert_eq!(found, [(1, true), (3, true), (5, true)], "{error}");
    assert!(error.to_string().contains("needs a `base_url`"));

    let error = config::parse(
        &path,
        "[providers.x]\nkind = \"openai\"\napi_key_env = \"sk-live abc\"\n",
    )
    .unwrap_err();
    assert!(!error.0[0].message.contains("sk-live"), "{error}");
    assert!(error.0[0].message.contains("not the key itself"));
}

#[test]
fn models_route_to_providers() {
    let config = config::parse(
        &RepoPath("promptgate.toml".into()),
        "[providers.local]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    )
    .unwrap();
    let route = |id: &str, config: &Config| config.provider_for(&ModelId::parse(id).unwrap());
    let local = route("local/llama-3", &config);
    assert_eq!(
        (local.alias.as_str(), local.model.as_str()),
        ("local", "llama-3")
    );
    assert_eq!(local.config.kind, ProviderKind::OpenaiCompatible);
    let openai = route("openai/gpt-4o-mini", &config);
    assert_eq!(openai.config.kind, ProviderKind::Openai);
    assert_eq!(openai.config.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(openai.model, "gpt-4o-mini");
    assert_eq!(
        route("anthropic/claude-3-5-haiku", &config).config.kind,
        ProviderKind::Anthropic
    );
    assert_eq!(route("ollama/llama3.1:8b", &config).model, "llama3.1:8b");
    assert_eq!(route("echo/x", &config).config.kind, ProviderKind::Echo);
    // A publisher no provider claims belongs to GitHub Models, id whole.
    for id in [
        "meta/llama-3.3-70b-instruct",
        "gpt-4o-mini",
        "github:openai/gpt-4.1-mini",
    ] {
        let unclaimed = route(id, &config);
        assert_eq!(unclaimed.config.kind, ProviderKind::GithubModels, "{id}");
        assert_eq!(unclaimed.alias, "github-models");
        assert_eq!(unclaimed.model, id);
        assert_eq!(
            unclaimed.config.api_key_env.as_deref(),
            Some("GITHUB_TOKEN")
        );
    }

    let github = Config {
        github_models: true,
        ..config.clone()
    };
    let gh = route("openai/gpt-4o-mini", &github);
    assert_eq!(gh.config.kind, ProviderKind::GithubModels);
    assert_eq!(gh.model, "openai/gpt-4o-mini");
    assert_eq!(gh.config.api_key_env.as_deref(), Some("GITHUB_TOKEN"));
    assert_eq!(
        route("meta/llama-3.3-70b-instruct", &github).model,
        "meta/llama-3.3-70b-instruct"
    );
    // A configured alias still wins.
    assert_eq!(route("local/x", &github).alias, "local");
}

#[test]
fn config_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/config.schema.json");
    let schema = schemars::schema_for!(Config);
    let generated = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
    if std::env::var_os("PROMPTGATE_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/config.schema.json is out of date; run `PROMPTGATE_UPDATE_SCHEMAS=1 cargo test --test spec_files config_schema`"
    );
    // And the example's config is valid under it.
    let validator = jsonschema::validator_for(&schema.to_value()).unwrap();
    let example: toml::Value =
        toml::from_str(&std::fs::read_to_string(example().join("promptgate.toml")).unwrap())
            .unwrap();
    let example = serde_json::to_value(example).unwrap();
    assert!(validator.is_valid(&example));
    assert!(!validator.is_valid(&json!({"gate": {"tolerence": 1}})));
}

#[test]
fn prompt_schema_accepts_the_examples_and_rejects_a_broken_file() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/prompt.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let as_json = |text: &str| spec::yaml::parse(text).unwrap().0.value;
    for file in std::fs::read_dir(example().join("prompts")).unwrap() {
        let path = file.unwrap().path();
        let value = as_json(&std::fs::read_to_string(&path).unwrap());
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    for broken in [
        "model: \"gpt 4\"\nmessages: [{role: user, content: hi}]\n",
        "model: a/b\nmessages: [{role: bot, content: hi}]\n",
        "model: a/b\nmessages: []\n",
        "model: a/b\nmessages: [{role: user, content: hi}]\nevaluators: [{name: x}]\n",
        "model: a/b\nmessages: [{role: user, content: hi}]\nevaluators: [{name: x, json: true, regex: a}]\n",
    ] {
        assert!(!validator.is_valid(&as_json(broken)), "{broken}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn prompt_reader_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (spec, diagnostics) = spec::parse_prompt(&RepoPath("p.prompt.yml".into()), &bytes);
        prop_assert!(spec.is_some() != diagnostics.has_errors());
    }

    #[test]
    fn prompt_reader_never_panics_on_yamlish_text(
        text in "((model|messages|role|content|name|evaluators|testData|jsonSchema|regex|string|- |: |\\{\\{ x \\}\\}|\\[|\\]|\\{|\\}|&a |\\*a|\n|  |'|\"|#|,|a/b|user|1|\\|)){0,60}"
    ) {
        let (spec, diagnostics) = spec::parse_prompt(&RepoPath("p.prompt.yml".into()), text.as_bytes());
        prop_assert!(spec.is_some() != diagnostics.has_errors());
        for d in &diagnostics.0 {
            let _ = d.to_string();
        }
    }

    #[test]
    fn config_reader_never_panics(
        text in "((store|prompts|judge|gate|tolerance|providers|kind|\\[|\\]|=|\"|\n|\\.| |0\\.5|2|openai|echo|x)){0,50}"
    ) {
        let _ = config::parse(&RepoPath("promptgate.toml".into()), &text);
    }

    #[test]
    fn config_reader_never_panics_on_bytes(text in "\\PC{0,200}") {
        let _ = config::parse(&RepoPath("promptgate.toml".into()), &text);
    }
}

/// A file that uses only GitHub's keys reads with GitHub's semantics; any
/// promptgate key (or `semantics: promptgate`) opts into promptgate's, and
/// `semantics: github` beside a promptgate key is refused with its line.
#[test]
fn semantics_follow_the_keys_a_file_uses() {
    use promptgate::types::Semantics;
    let semantics = |text: &str| {
        let (spec, diagnostics) = parse(text);
        spec.unwrap_or_else(|| panic!("{diagnostics}")).semantics
    };
    assert_eq!(semantics(MINIMAL), Semantics::Github);
    for opt_in in [
        "dataset: cases.jsonl\n",
        "repeats: 2\n",
        "tags: [a]\n",
        "owner: me\n",
        "gate: {tolerance: 0.1}\n",
        "semantics: promptgate\n",
        "evaluators: [{name: j, json: true}]\n",
        "evaluators: [{name: s, string: {contains: x}, weight: 2}]\n",
    ] {
        assert_eq!(
            semantics(&format!("{MINIMAL}{opt_in}")),
            Semantics::Promptgate,
            "{opt_in}"
        );
    }
    assert_eq!(
        semantics(&format!("semantics: github\n{MINIMAL}")),
        Semantics::Github
    );
    let (spec, diagnostics) = parse(&format!("semantics: github\n{MINIMAL}repeats: 2\n"));
    assert!(spec.is_none());
    let text = diagnostics.to_string();
    assert!(
        text.contains("t.prompt.yml:6:1: error: `repeats` is promptgate's own key"),
        "{text}"
    );
    // The same text sends something else under the other semantics: a new version.
    let files = MemoryFiles::new();
    let github = parse(MINIMAL).0.unwrap();
    let minijinja = parse(&format!("semantics: promptgate\n{MINIMAL}"))
        .0
        .unwrap();
    assert_ne!(
        spec::version_id(&github, &files).unwrap(),
        spec::version_id(&minijinja, &files).unwrap()
    );
    let (spec, diagnostics) = parse(&format!("semantics: jinja\n{MINIMAL}"));
    assert!(spec.is_none());
    assert!(
        diagnostics.to_string().contains("not `jinja`"),
        "{diagnostics}"
    );

    // In a GitHub-format file, the expectation columns are variables: no
    // error for values that could not be expectations, ids by position.
    let (spec, diagnostics) = parse(&format!(
        "{MINIMAL}testData:\n  - id: [1, 2]\n    regex: \"[a-z\"\n    schema: CREATE TABLE t\n    keywords: 3\n"
    ));
    let spec = spec.unwrap_or_else(|| panic!("{diagnostics}"));
    let case = &spec.test_data[0];
    assert_eq!(case.id, "testData[0]");
    assert_eq!((case.regex.as_ref(), case.schema.as_ref()), (None, None));
    assert!(case.keywords.is_empty());
    assert_eq!(case.vars["id"], json!([1, 2]));
    // The same columns in a promptgate-format file are expectations, checked.
    let (spec, diagnostics) = parse(&format!(
        "semantics: promptgate\n{MINIMAL}testData:\n  - regex: \"[a-z\"\n"
    ));
    assert!(spec.is_none());
    assert!(
        diagnostics.to_string().contains("not a valid regex"),
        "{diagnostics}"
    );
}
