//! Every evaluator against realistic model outputs (`fixtures/eval-outputs/`),
//! judges through a scripted `JudgeClient`, and `command` through real
//! scripts run from a temporary directory.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use promptgate::pipeline::eval::{
    Embedder, EvalContext, JudgeClient, JudgeError, criterion_info, evaluate, score_outputs,
};
use promptgate::types::{
    BuiltinEvaluator, CallOutcome, Case, CaseSource, ChatMessage, EvaluatorKind, EvaluatorSpec,
    KeywordMode, LengthUnit, LlmChoice, ModelId, RepoPath, Role, Score, SimilarityMethod,
    StringCheck, Usage,
};
use serde_json::{Value, json};

const TEST_TIMEOUT: Duration = Duration::from_secs(20);

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/eval-outputs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn case_with(vars: Value) -> Case {
    let vars = vars.as_object().cloned().unwrap_or_default();
    Case {
        id: "refund-1".into(),
        expected: vars
            .get("expected")
            .and_then(Value::as_str)
            .map(String::from),
        vars,
        keywords: Vec::new(),
        regex: None,
        schema: None,
        source: CaseSource {
            file: RepoPath("prompts/support.prompt.yml".into()),
            line: 12,
        },
    }
}

fn support_case() -> Case {
    case_with(json!({
        "input": "My blender from order #48213 arrived broken. Can I get a refund?",
        "expected": "Refund of $42.50 for order 48213 issued; it arrives in 5-7 business days, no return needed.",
    }))
}

fn reply(text: &str) -> CallOutcome {
    CallOutcome {
        result: Ok(text.to_string()),
        usage: Usage {
            input_tokens: 120,
            output_tokens: 80,
        },
        latency_ms: 850,
        cost_usd: Some(0.000_21),
        cached: false,
    }
}

fn spec(kind: EvaluatorKind) -> EvaluatorSpec {
    EvaluatorSpec {
        name: "criterion".into(),
        kind,
        weight: 1.0,
        threshold: None,
        line: Some(30),
    }
}

fn model(id: &str) -> ModelId {
    let (provider, model) = id.split_once('/').expect("provider/model");
    ModelId {
        provider: provider.into(),
        model: model.into(),
    }
}

fn ctx() -> EvalContext {
    EvalContext::new(env!("CARGO_MANIFEST_DIR"))
}

async fn score(kind: EvaluatorKind, case: &Case, output: &str, ctx: &EvalContext) -> Score {
    run(kind, case, &reply(output), ctx)
        .await
        .unwrap_or_else(|err| panic!("expected a score, got error: {err}"))
}

async fn run(
    kind: EvaluatorKind,
    case: &Case,
    call: &CallOutcome,
    ctx: &EvalContext,
) -> Result<Score, String> {
    tokio::time::timeout(TEST_TIMEOUT, evaluate(&spec(kind), case, call, ctx))
        .await
        .expect("evaluation timed out")
        .map_err(|err| err.to_string())
}

// ---------------------------------------------------------------- string

#[tokio::test]
async fn string_checks_follow_github_case_rules() {
    let case = case_with(json!({"input": "I love it", "expected": "Positive"}));
    let label = fixture("sentiment_label.txt");
    let check = |check| EvaluatorKind::String { check };
    // `equals` is exact and case-sensitive, against the trimmed output.
    let exact = score(
        check(StringCheck::Equals("Positive".into())),
        &case,
        &label,
        &ctx(),
    )
    .await;
    assert_eq!(exact.value, 1.0, "{}", exact.reason);
    let lower = score(
        check(StringCheck::Equals("positive".into())),
        &case,
        &label,
        &ctx(),
    )
    .await;
    assert_eq!(lower.value, 0.0);
    // The expected text may use the case's variables.
    let templated = score(
        check(StringCheck::Equals("{{expected}}".into())),
        &case,
        &label,
        &ctx(),
    )
    .await;
    assert_eq!(templated.value, 1.0, "{}", templated.reason);
    let empty = run(
        check(StringCheck::Contains(String::new())),
        &case,
        &reply(&label),
        &ctx(),
    )
    .await
    .unwrap_err();
    assert!(empty.contains("non-empty"), "{empty}");

    // contains / startsWith / endsWith ignore case.
    let good = fixture("support_good.txt");
    let support = support_case();
    for (check, want) in [
        (StringCheck::Contains("ORDER #48213".into()), 1.0),
        (StringCheck::Contains("store credit".into()), 0.0),
        (StringCheck::StartsWith("hi dana".into()), 1.0),
        (StringCheck::StartsWith("Dear".into()), 0.0),
        (StringCheck::EndsWith("CUSTOMER SUPPORT".into()), 1.0),
        (StringCheck::EndsWith("Regards".into()), 0.0),
    ] {
        let got = score(
            EvaluatorKind::String {
                check: check.clone(),
            },
            &support,
            &good,
            &ctx(),
        )
        .await;
        assert_eq!(got.value, want, "{check:?}: {}", got.reason);
    }
}

// ---------------------------------------------------------------- regex

#[tokio::test]
async fn regex_matches_negates_and_falls_back_to_the_case() {
    let case = support_case();
    let order = |negate| EvaluatorKind::Regex {
        pattern: r"#\d{5}\b".into(),
        negate,
    };
    let good = score(order(false), &case, &fixture("support_good.txt"), &ctx()).await;
    assert_eq!(good.value, 1.0);
    assert!(good.reason.contains("#48213"), "{}", good.reason);
    let rude = score(order(false), &case, &fixture("support_rude.txt"), &ctx()).await;
    assert_eq!(rude.value, 0.0);

    let refusal = EvaluatorKind::Regex {
        pattern: r"(?i)\b(can't|cannot|unable to) help\b".into(),
        negate: true,
    };
    let refused = score(refusal.clone(), &case, &fixture("refusal.txt"), &ctx()).await;
    assert_eq!(refused.value, 0.0);
    assert!(
        refused.reason.contains("must not match"),
        "{}",
        refused.reason
    );
    let helped = score(refusal, &case, &fixture("support_good.txt"), &ctx()).await;
    assert_eq!(helped.value, 1.0);

    // An evaluator without a pattern uses the case's `regex`.
    let own = EvaluatorKind::Regex {
        pattern: String::new(),
        negate: false,
    };
    let mut with_regex = case.clone();
    with_regex.regex = Some(r"\$42\.50".into());
    let from_case = score(
        own.clone(),
        &with_regex,
        &fixture("support_good.txt"),
        &ctx(),
    )
    .await;
    assert_eq!(from_case.value, 1.0);
    let missing = run(own.clone(), &case, &reply("x"), &ctx())
        .await
        .unwrap_err();
    assert!(
        missing.contains("refund-1") && missing.contains("`regex`"),
        "{missing}"
    );
    with_regex.regex = Some("(unclosed".into());
    let invalid = run(own, &with_regex, &reply("x"), &ctx())
        .await
        .unwrap_err();
    assert!(
        invalid.contains("prompts/support.prompt.yml:12") && invalid.contains("not a valid regex"),
        "{invalid}"
    );
}

// ---------------------------------------------------------------- keywords

#[tokio::test]
async fn keywords_all_scores_the_fraction_any_passes_on_one() {
    let case = support_case();
    let words = |list: &[&str], mode, case_sensitive| EvaluatorKind::Keywords {
        keywords: list.iter().map(|w| w.to_string()).collect(),
        mode,
        case_sensitive,
    };
    let good = fixture("support_good.txt");
    let all = score(
        words(
            &["refund", "48213", "store credit"],
            KeywordMode::All,
            false,
        ),
        &case,
        &good,
        &ctx(),
    )
    .await;
    assert!((all.value - 2.0 / 3.0).abs() < 1e-9, "{}", all.value);
    assert_eq!(all.display.as_deref(), Some("2/3"));
    assert!(all.reason.contains("'store credit'"), "{}", all.reason);

    let any = score(
        words(&["store credit", "REFUND"], KeywordMode::Any, false),
        &case,
        &good,
        &ctx(),
    )
    .await;
    assert_eq!(any.value, 1.0);
    let sensitive = score(
        words(&["store credit", "REFUND"], KeywordMode::Any, true),
        &case,
        &good,
        &ctx(),
    )
    .await;
    assert_eq!(sensitive.value, 0.0);

    let rude = score(
        words(&["sorry", "refund"], KeywordMode::All, false),
        &case,
        &fixture("support_rude.txt"),
        &ctx(),
    )
    .await;
    assert_eq!(rude.value, 0.0);

    // No keywords on the evaluator: the case's own.
    let mut own = case.clone();
    own.keywords = vec!["refund".into(), "business days".into()];
    let from_case = score(words(&[], KeywordMode::All, false), &own, &good, &ctx()).await;
    assert_eq!(from_case.value, 1.0);
    let none = run(
        words(&[], KeywordMode::All, false),
        &case,
        &reply(&good),
        &ctx(),
    )
    .await
    .unwrap_err();
    assert!(none.contains("`keywords`"), "{none}");
}

// ---------------------------------------------------------------- json

#[tokio::test]
async fn json_accepts_documents_and_single_fences_only() {
    let case = support_case();
    for (name, want) in [
        ("order_valid.json", 1.0),
        ("order_missing_status.json", 1.0),
        ("order_fenced.md", 1.0),
        ("order_with_prose.txt", 0.0),
        ("support_good.txt", 0.0),
    ] {
        let got = score(EvaluatorKind::Json, &case, &fixture(name), &ctx()).await;
        assert_eq!(got.value, want, "{name}: {}", got.reason);
    }
    let fenced = score(
        EvaluatorKind::Json,
        &case,
        &fixture("order_fenced.md"),
        &ctx(),
    )
    .await;
    assert!(fenced.reason.contains("fence"), "{}", fenced.reason);
}

fn order_schema() -> Value {
    json!({
        "type": "object",
        "required": ["order_id", "status", "amount"],
        "properties": {
            "order_id": {"type": "string", "pattern": "^[0-9]{5}$"},
            "status": {"enum": ["refunded", "pending", "denied"]},
            "amount": {"type": "number", "minimum": 0}
        }
    })
}

#[tokio::test]
async fn json_schema_names_the_failing_path() {
    let case = support_case();
    let kind = EvaluatorKind::JsonSchema {
        schema: order_schema(),
    };
    let valid = score(kind.clone(), &case, &fixture("order_valid.json"), &ctx()).await;
    assert_eq!(valid.value, 1.0, "{}", valid.reason);
    let fenced = score(kind.clone(), &case, &fixture("order_fenced.md"), &ctx()).await;
    assert_eq!(fenced.value, 1.0, "{}", fenced.reason);

    let missing = score(
        kind.clone(),
        &case,
        &fixture("order_missing_status.json"),
        &ctx(),
    )
    .await;
    assert_eq!(missing.value, 0.0);
    assert!(
        missing.reason.contains("`/`") && missing.reason.contains("status"),
        "{}",
        missing.reason
    );
    let wrong = score(
        kind.clone(),
        &case,
        &fixture("order_wrong_type.json"),
        &ctx(),
    )
    .await;
    assert_eq!(wrong.value, 0.0);
    assert!(wrong.reason.contains("`/amount`"), "{}", wrong.reason);
    let prose = score(kind, &case, &fixture("order_with_prose.txt"), &ctx()).await;
    assert_eq!(prose.value, 0.0);
    assert!(prose.reason.contains("not valid JSON"), "{}", prose.reason);

    // A null schema means the case's own; a broken schema is an error.
    let mut own = case.clone();
    own.schema = Some(order_schema());
    let from_case = EvaluatorKind::JsonSchema {
        schema: Value::Null,
    };
    let wrong = score(
        from_case.clone(),
        &own,
        &fixture("order_wrong_type.json"),
        &ctx(),
    )
    .await;
    assert_eq!(wrong.value, 0.0);
    let absent = run(from_case, &case, &reply("{}"), &ctx())
        .await
        .unwrap_err();
    assert!(absent.contains("`schema`"), "{absent}");
    let broken = EvaluatorKind::JsonSchema {
        schema: json!({"type": "no-such-type"}),
    };
    let broken = run(broken, &case, &reply("{}"), &ctx()).await.unwrap_err();
    assert!(broken.contains("schema is not valid"), "{broken}");
}

// ---------------------------------------------------------------- similarity

struct BagOfWords;

/// A real (if crude) embedding: word counts hashed into 64 buckets.
#[async_trait]
impl Embedder for BagOfWords {
    async fn embed(&self, model: &ModelId, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        if model.model != "bag-of-words" {
            return Err(format!("unknown model {model}"));
        }
        Ok(texts
            .iter()
            .map(|text| {
                let mut vector = vec![0.0f32; 64];
                for word in text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let bucket = word
                        .to_lowercase()
                        .bytes()
                        .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
                    vector[bucket % 64] += 1.0;
                }
                vector
            })
            .collect())
    }
}

#[tokio::test]
async fn similarity_ranks_the_faithful_summary_higher() {
    let case = support_case();
    let mut ctx = ctx();
    ctx.embedder = Some(Arc::new(BagOfWords));
    for method in [
        SimilarityMethod::TokenF1,
        SimilarityMethod::RougeL,
        SimilarityMethod::Embedding,
    ] {
        let kind = EvaluatorKind::Similarity {
            method,
            model: Some(model("local/bag-of-words")),
        };
        let good = score(kind.clone(), &case, &fixture("summary_good.txt"), &ctx).await;
        let off = score(kind, &case, &fixture("summary_off_topic.txt"), &ctx).await;
        assert!(
            good.value > off.value + 0.2,
            "{method:?}: good {} vs off {}",
            good.value,
            off.value
        );
        assert!((0.0..=1.0).contains(&good.value) && (0.0..=1.0).contains(&off.value));
    }

    let no_expected = case_with(json!({"input": "hi"}));
    let lexical = EvaluatorKind::Similarity {
        method: SimilarityMethod::TokenF1,
        model: None,
    };
    let err = run(lexical, &no_expected, &reply("hello"), &ctx)
        .await
        .unwrap_err();
    assert!(err.contains("`expected`"), "{err}");
    let embedding = EvaluatorKind::Similarity {
        method: SimilarityMethod::Embedding,
        model: Some(model("local/bag-of-words")),
    };
    let err = run(embedding, &case, &reply("hello"), &self::ctx())
        .await
        .unwrap_err();
    assert!(err.contains("embeddings provider"), "{err}");
}

// ---------------------------------------------------------------- length, latency, cost

#[tokio::test]
async fn length_latency_and_cost_budgets() {
    let case = support_case();
    let words = |max| EvaluatorKind::Length {
        min: Some(10),
        max: Some(max),
        unit: LengthUnit::Words,
    };
    let verbose = score(words(120), &case, &fixture("support_verbose.txt"), &ctx()).await;
    assert_eq!(verbose.value, 0.0);
    assert!(
        verbose.reason.contains("above the maximum 120"),
        "{}",
        verbose.reason
    );
    let good = score(words(120), &case, &fixture("support_good.txt"), &ctx()).await;
    assert_eq!(good.value, 1.0, "{}", good.reason);
    let rude_chars = EvaluatorKind::Length {
        min: Some(100),
        max: None,
        unit: LengthUnit::Chars,
    };
    let rude = score(rude_chars, &case, &fixture("support_rude.txt"), &ctx()).await;
    assert_eq!(rude.value, 0.0);
    assert!(
        rude.reason.contains("below the minimum 100"),
        "{}",
        rude.reason
    );
    // Characters, not bytes: "é" and "–" count once.
    let fr = fixture("translation_fr.txt");
    let exact = fr.trim().chars().count() as u64;
    let bounds = EvaluatorKind::Length {
        min: Some(exact),
        max: Some(exact),
        unit: LengthUnit::Chars,
    };
    assert_eq!(score(bounds, &case, &fr, &ctx()).await.value, 1.0);

    let call = reply("ok");
    let fast = run(
        EvaluatorKind::Latency { max_ms: 1000 },
        &case,
        &call,
        &ctx(),
    )
    .await;
    assert_eq!(fast.map(|s| s.value), Ok(1.0));
    let slow = run(EvaluatorKind::Latency { max_ms: 500 }, &case, &call, &ctx()).await;
    assert_eq!(slow.map(|s| s.value), Ok(0.0));
    let cheap = run(EvaluatorKind::Cost { max_usd: 0.001 }, &case, &call, &ctx()).await;
    assert_eq!(cheap.map(|s| s.value), Ok(1.0));
    let dear = run(
        EvaluatorKind::Cost { max_usd: 0.0001 },
        &case,
        &call,
        &ctx(),
    )
    .await;
    assert_eq!(dear.map(|s| s.value), Ok(0.0));
    let unpriced = CallOutcome {
        cost_usd: None,
        ..call
    };
    let err = run(
        EvaluatorKind::Cost { max_usd: 1.0 },
        &case,
        &unpriced,
        &ctx(),
    )
    .await
    .unwrap_err();
    assert!(err.contains("[pricing]"), "{err}");
}

// ---------------------------------------------------------------- judges

/// Answers judge calls from a script and records what it was asked.
#[derive(Default)]
struct ScriptedJudge {
    replies: Mutex<VecDeque<Result<String, String>>>,
    asked: Mutex<Vec<(ModelId, Vec<ChatMessage>, u32)>>,
    /// When set, every call waits here: only concurrent calls get through.
    barrier: Option<tokio::sync::Barrier>,
}

impl ScriptedJudge {
    fn replying(replies: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.iter().map(|r| Ok(r.to_string())).collect()),
            ..Self::default()
        })
    }

    fn asked(&self) -> Vec<(ModelId, Vec<ChatMessage>, u32)> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait]
impl JudgeClient for ScriptedJudge {
    async fn ask(
        &self,
        model: &ModelId,
        messages: Vec<ChatMessage>,
        attempt: u32,
    ) -> Result<String, JudgeError> {
        self.asked
            .lock()
            .unwrap()
            .push((model.clone(), messages, attempt));
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        self.replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err("the script has no more replies".into()))
            .map_err(JudgeError::Call)
    }
}

fn judging(judge: &Arc<ScriptedJudge>) -> EvalContext {
    let mut ctx = ctx();
    ctx.judge = Some(judge.clone() as Arc<dyn JudgeClient>);
    ctx
}

fn order_judge(model_id: Option<&str>) -> EvaluatorKind {
    EvaluatorKind::Judge {
        criterion: "The reply acknowledges the customer's order number.".into(),
        rubric: Vec::new(),
        model: model_id.map(model),
    }
}

#[tokio::test]
async fn judge_reads_json_and_keeps_the_reason() {
    let judge = ScriptedJudge::replying(&[
        r#"{"score": 4, "reason": "Names order #48213 but not in the first line."}"#,
    ]);
    let got = score(
        order_judge(Some("judges/gpt-4.1")),
        &support_case(),
        &fixture("support_good.txt"),
        &judging(&judge),
    )
    .await;
    assert_eq!(got.value, 0.75);
    assert_eq!(got.display.as_deref(), Some("4/5"));
    assert_eq!(got.reason, "Names order #48213 but not in the first line.");

    let asked = judge.asked();
    assert_eq!(asked.len(), 1);
    let (model_used, messages, attempt) = &asked[0];
    assert_eq!(model_used, &model("judges/gpt-4.1"));
    assert_eq!(*attempt, 0);
    assert_eq!(messages[0].role, Role::System);
    let user = &messages[1].content;
    assert!(
        user.contains("acknowledges the customer's order number"),
        "{user}"
    );
    assert!(
        user.contains("5: The reply fully meets the criterion."),
        "{user}"
    );
    assert!(
        user.contains("order #48213 arrived broken"),
        "the case input: {user}"
    );
    assert!(
        user.contains("I've located order #48213"),
        "the output: {user}"
    );
    assert!(user.contains("<reference>"), "expected is shown: {user}");
}

#[tokio::test]
async fn judge_accepts_a_lone_digit_and_uses_the_default_model() {
    let judge = ScriptedJudge::replying(&["The reply never mentions an order.\n1"]);
    let mut ctx = judging(&judge);
    ctx.default_judge = Some(model("openai/gpt-4.1-mini"));
    let got = score(
        order_judge(None),
        &support_case(),
        &fixture("support_rude.txt"),
        &ctx,
    )
    .await;
    assert_eq!((got.value, got.display.as_deref()), (0.0, Some("1/5")));
    assert_eq!(got.reason, "The reply never mentions an order.");
    assert_eq!(judge.asked()[0].0, model("openai/gpt-4.1-mini"));
}

#[tokio::test]
async fn judge_reasks_once_after_garbage_bypassing_the_cache() {
    let judge = ScriptedJudge::replying(&[
        "I think this reply is quite good overall!",
        r#"{"score": 5, "reason": "Order number stated."}"#,
    ]);
    let got = score(
        order_judge(None),
        &support_case(),
        &fixture("support_good.txt"),
        &judging(&judge),
    )
    .await;
    assert_eq!(
        (got.value, got.reason.as_str()),
        (1.0, "Order number stated.")
    );
    let asked = judge.asked();
    assert_eq!(asked.iter().map(|a| a.2).collect::<Vec<_>>(), vec![0, 1]);
    // The re-ask shows the judge its unreadable reply and asks for the format.
    let reask = &asked[1].1;
    assert_eq!(reask.len(), 4);
    assert_eq!(reask[2].role, Role::Assistant);
    assert!(reask[2].content.contains("quite good overall"));
    assert!(reask[3].content.contains("only a JSON object"));
    // Without its own model or a configured default: GitHub's judge model.
    assert_eq!(asked[0].0, model("openai/gpt-4o"));
}

#[tokio::test]
async fn judge_garbage_twice_is_an_error_not_a_score() {
    let judge = ScriptedJudge::replying(&["Looks fine to me.", "Score: four out of five"]);
    let err = run(
        order_judge(None),
        &support_case(),
        &reply(&fixture("support_good.txt")),
        &judging(&judge),
    )
    .await
    .unwrap_err();
    assert!(err.contains("no valid score twice"), "{err}");
    assert_eq!(judge.asked().len(), 2);

    let failing = Arc::new(ScriptedJudge {
        replies: Mutex::new(VecDeque::from([Err("HTTP 429: rate limited".to_string())])),
        ..ScriptedJudge::default()
    });
    let err = run(
        order_judge(None),
        &support_case(),
        &reply("hi"),
        &judging(&failing),
    )
    .await
    .unwrap_err();
    assert!(err.contains("judge call failed: HTTP 429"), "{err}");
    let err = run(order_judge(None), &support_case(), &reply("hi"), &ctx())
        .await
        .unwrap_err();
    assert!(err.contains("no judge client"), "{err}");
}

#[tokio::test]
async fn judge_rubric_must_have_five_levels() {
    let judge = ScriptedJudge::replying(&["3"]);
    let kind = EvaluatorKind::Judge {
        criterion: "Tone is warm.".into(),
        rubric: vec!["cold".into(), "warm".into()],
        model: None,
    };
    let err = run(kind, &support_case(), &reply("hi"), &judging(&judge))
        .await
        .unwrap_err();
    assert!(err.contains("exactly 5 levels"), "{err}");
    assert!(judge.asked().is_empty());
}

fn helpfulness_llm(choices: &[(&str, f64)]) -> EvaluatorKind {
    EvaluatorKind::Llm {
        model_id: model("openai/gpt-4o-mini"),
        prompt: "Question: {{input}}\nIdeal: {{expected}}\nAnswer: {{completion}}\nMissing: {{ticket}}\nIs the answer helpful? Reply helpful, partly or unhelpful.".into(),
        choices: choices
            .iter()
            .map(|(choice, score)| LlmChoice {
                choice: choice.to_string(),
                score: *score,
            })
            .collect(),
        system_prompt: Some("You grade support replies.".into()),
    }
}

#[tokio::test]
async fn llm_scores_the_first_contained_choice_like_gh_models() {
    let choices = [("unhelpful", 0.0), ("partly", 0.5), ("helpful", 1.0)];
    let judge = ScriptedJudge::replying(&["  Helpful.\n"]);
    let good = fixture("support_good.txt");
    let got = score(
        helpfulness_llm(&choices),
        &support_case(),
        &good,
        &judging(&judge),
    )
    .await;
    assert_eq!((got.value, got.display.as_deref()), (1.0, Some("helpful")));

    let (model_used, messages, attempt) = judge.asked().remove(0);
    assert_eq!((model_used, attempt), (model("openai/gpt-4o-mini"), 0));
    assert_eq!(messages[0].role, Role::System);
    assert_eq!(messages[0].content, "You grade support replies.");
    let prompt = &messages[1].content;
    assert!(
        prompt.starts_with("Question: My blender from order #48213"),
        "{prompt}"
    );
    assert!(prompt.contains("Ideal: Refund of $42.50"), "{prompt}");
    assert!(
        prompt.contains(&format!("Answer: {}\n", good.trim())),
        "{prompt}"
    );
    assert!(
        prompt.contains("Missing: {{ticket}}"),
        "unknown names stay: {prompt}"
    );

    // "unhelpful" contains "helpful": file order decides, as in gh.
    let judge = ScriptedJudge::replying(&["UNHELPFUL"]);
    let got = score(
        helpfulness_llm(&choices),
        &support_case(),
        &good,
        &judging(&judge),
    )
    .await;
    assert_eq!(got.value, 0.0);
    let reordered = [("helpful", 1.0), ("unhelpful", 0.0)];
    let judge = ScriptedJudge::replying(&["UNHELPFUL"]);
    let got = score(
        helpfulness_llm(&reordered),
        &support_case(),
        &good,
        &judging(&judge),
    )
    .await;
    assert_eq!(got.value, 1.0);

    // No choice matched: 0, as gh scores it, and the reply is in the reason.
    let judge = ScriptedJudge::replying(&["It depends."]);
    let got = score(
        helpfulness_llm(&choices),
        &support_case(),
        &good,
        &judging(&judge),
    )
    .await;
    assert_eq!(got.value, 0.0);
    assert!(got.reason.contains("'it depends.'"), "{}", got.reason);
    assert_eq!(judge.asked().len(), 1, "gh does not re-ask");

    // A scale beyond 1 (gh reports the raw score, passed when > 0): the
    // gate sees the score over the scale's top; the raw score is shown.
    let scale = [("unhelpful", 0.0), ("partly", 4.0), ("helpful", 10.0)];
    for (answer, value, shown) in [
        ("Partly.", 0.4, "4 ('partly')"),
        ("helpful", 1.0, "10 ('helpful')"),
        ("unhelpful", 0.0, "0 ('unhelpful')"),
    ] {
        let judge = ScriptedJudge::replying(&[answer]);
        let got = score(
            helpfulness_llm(&scale),
            &support_case(),
            &good,
            &judging(&judge),
        )
        .await;
        assert_eq!((got.value, got.display.as_deref()), (value, Some(shown)));
    }
    // No choices: nothing can match, 0 on every case, as in gh.
    let judge = ScriptedJudge::replying(&["helpful"]);
    let got = score(
        helpfulness_llm(&[]),
        &support_case(),
        &good,
        &judging(&judge),
    )
    .await;
    assert_eq!(got.value, 0.0);
}

/// gh's rule for `uses: github/*`: the first of "1" … "5" that the trimmed,
/// lowercased reply contains, anywhere; no digit scores 0; never re-asked.
#[tokio::test]
async fn builtins_score_by_ghs_substring_rule() {
    let good = fixture("support_good.txt");
    let fluency = EvaluatorKind::Builtin {
        which: BuiltinEvaluator::Fluency,
    };
    for (answer, value) in [
        ("4", 0.75),
        ("Score: 5", 1.0),
        ("Let's think step by step: 1. it is clear. Score: 4", 0.0),
        ("2 or maybe 5", 0.25),
        ("45", 0.75),
        ("no idea", 0.0),
    ] {
        let judge = ScriptedJudge::replying(&[answer]);
        let got = score(fluency.clone(), &support_case(), &good, &judging(&judge)).await;
        assert_eq!(got.value, value, "{answer}: {}", got.reason);
        assert_eq!(judge.asked().len(), 1, "{answer}: gh does not re-ask");
    }
}

#[tokio::test]
async fn builtins_judge_on_their_rubrics_with_the_right_variables() {
    let good = fixture("support_good.txt");
    let builtin = |which| EvaluatorKind::Builtin { which };

    let judge =
        ScriptedJudge::replying(&[r#"{"score": 5, "reason": "Only facts from the context."}"#]);
    let got = score(
        builtin(BuiltinEvaluator::Groundedness),
        &support_case(),
        &good,
        &judging(&judge),
    )
    .await;
    assert_eq!((got.value, got.display.as_deref()), (1.0, Some("5/5")));
    let user = judge.asked()[0].1[1].content.clone();
    assert!(user.contains("Groundedness"), "{user}");
    assert!(
        user.contains("<context>\nRefund of $42.50"),
        "expected is the context: {user}"
    );
    assert!(user.contains("<input>\nMy blender"), "{user}");

    let judge = ScriptedJudge::replying(&["2"]);
    let rude = fixture("support_rude.txt");
    let got = score(
        builtin(BuiltinEvaluator::Fluency),
        &support_case(),
        &rude,
        &judging(&judge),
    )
    .await;
    assert_eq!(got.value, 0.25);
    let user = judge.asked()[0].1[1].content.clone();
    assert!(
        user.contains("Fluency") && !user.contains("<input>") && !user.contains("<reference>"),
        "{user}"
    );

    let judge = ScriptedJudge::replying(&["3"]);
    let mut ctx = judging(&judge);
    ctx.default_judge = Some(model("azure/gpt-4o"));
    let got = score(
        builtin(BuiltinEvaluator::Similarity),
        &support_case(),
        &good,
        &ctx,
    )
    .await;
    assert_eq!(got.value, 0.5);
    let (model_used, messages, _) = judge.asked().remove(0);
    assert_eq!(model_used, model("azure/gpt-4o"));
    assert!(
        messages[1].content.contains("<reference>\nRefund"),
        "{}",
        messages[1].content
    );

    // Similarity without `expected`: scored as gh scores it (gh sends the
    // placeholder); the judge is told the case has none.
    let judge = ScriptedJudge::replying(&["3"]);
    let got = score(
        builtin(BuiltinEvaluator::Similarity),
        &case_with(json!({"question": "Where is my order?"})),
        &good,
        &judging(&judge),
    )
    .await;
    assert_eq!(got.value, 0.5);
    let user = judge.asked()[0].1[1].content.clone();
    assert!(user.contains("(the case has no `expected`)"), "{user}");

    // Without an `input` variable the judge sees the case's variables.
    let judge = ScriptedJudge::replying(&["4"]);
    score(
        builtin(BuiltinEvaluator::Relevance),
        &case_with(json!({"question": "Where is my order?", "tier": "gold"})),
        &good,
        &judging(&judge),
    )
    .await;
    let user = judge.asked()[0].1[1].content.clone();
    assert!(
        user.contains("question: Where is my order?\ntier: gold"),
        "{user}"
    );
}

// ---------------------------------------------------------------- orchestration

fn named(name: &str, kind: EvaluatorKind) -> EvaluatorSpec {
    EvaluatorSpec {
        name: name.into(),
        ..spec(kind)
    }
}

#[tokio::test]
async fn score_outputs_runs_judges_concurrently_in_order() {
    // Each call waits at a barrier for the other: sequential calls would hang.
    let judge = Arc::new(ScriptedJudge {
        replies: Mutex::new(VecDeque::from([Ok("4".to_string()), Ok("4".to_string())])),
        barrier: Some(tokio::sync::Barrier::new(2)),
        ..ScriptedJudge::default()
    });
    let evaluators = [
        named("order", order_judge(None)),
        named(
            "has-refund",
            EvaluatorKind::Keywords {
                keywords: vec!["refund".into()],
                mode: KeywordMode::All,
                case_sensitive: false,
            },
        ),
        named(
            "coherent",
            EvaluatorKind::Builtin {
                which: BuiltinEvaluator::Coherence,
            },
        ),
    ];
    let call = reply(&fixture("support_good.txt"));
    let scores = tokio::time::timeout(
        TEST_TIMEOUT,
        score_outputs(&evaluators, &support_case(), &call, &judging(&judge)),
    )
    .await
    .expect("judge calls were not concurrent");
    let values: Vec<f64> = scores
        .iter()
        .map(|s| s.score.as_ref().expect("scored").value)
        .collect();
    assert_eq!(values, vec![0.75, 1.0, 0.75]);
}

#[tokio::test]
async fn a_failed_call_is_an_error_for_every_criterion() {
    let evaluators = [
        named("json", EvaluatorKind::Json),
        named("latency", EvaluatorKind::Latency { max_ms: 100_000 }),
        named(
            "contains",
            EvaluatorKind::String {
                check: StringCheck::Contains("x".into()),
            },
        ),
    ];
    let failed = CallOutcome {
        result: Err("HTTP 500: upstream error".into()),
        ..reply("")
    };
    let scores = score_outputs(&evaluators, &support_case(), &failed, &ctx()).await;
    assert_eq!(scores.len(), 3);
    for score in scores {
        let err = score.score.unwrap_err();
        assert!(err.contains("model call failed (HTTP 500"), "{err}");
    }
}

#[test]
fn criterion_info_marks_pass_fail_evaluators_binary() {
    let binary = |kind| criterion_info(&named("c", kind)).binary;
    assert!(binary(EvaluatorKind::Json));
    assert!(binary(EvaluatorKind::Latency { max_ms: 1 }));
    assert!(binary(EvaluatorKind::Regex {
        pattern: "x".into(),
        negate: true
    }));
    assert!(binary(EvaluatorKind::Keywords {
        keywords: vec!["a".into(), "b".into()],
        mode: KeywordMode::Any,
        case_sensitive: false
    }));
    assert!(!binary(EvaluatorKind::Keywords {
        keywords: vec!["a".into(), "b".into()],
        mode: KeywordMode::All,
        case_sensitive: false
    }));
    assert!(binary(helpfulness_llm(&[("yes", 1.0), ("no", 0.0)])));
    assert!(!binary(helpfulness_llm(&[("yes", 1.0), ("partly", 0.5)])));
    assert!(!binary(order_judge(None)));

    let info = criterion_info(&EvaluatorSpec {
        name: "grounded".into(),
        kind: EvaluatorKind::Builtin {
            which: BuiltinEvaluator::Groundedness,
        },
        weight: 2.0,
        threshold: Some(0.6),
        line: Some(41),
    });
    assert_eq!(info.kind, "github/groundedness");
    assert_eq!(
        (info.weight, info.threshold, info.line),
        (2.0, Some(0.6), Some(41))
    );
    assert!(!info.binary);
}

// ---------------------------------------------------------------- command

const SCORER: &str = r#"import json, sys
payload = json.load(sys.stdin)
needle = sys.argv[1]
found = needle.lower() in payload["output"].lower()
print(json.dumps({"score": 1.0 if found else 0.25,
                  "reason": f"{needle!r} {'found' if found else 'missing'} for case {payload['case']['id']}; expected given: {payload['expected'] is not None}"}))
"#;

fn write_script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn command(program: &str, args: &[&str], timeout_s: u64) -> EvaluatorKind {
    EvaluatorKind::Command {
        program: program.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        timeout_s,
    }
}

#[tokio::test]
async fn command_scores_from_a_real_script() {
    let dir = tempfile::tempdir().unwrap();
    write_script(dir.path(), "scorer.py", SCORER);
    let ctx = EvalContext::new(dir.path());
    let kind = command("python3", &["scorer.py", "refund"], 10);
    let good = score(
        kind.clone(),
        &support_case(),
        &fixture("support_good.txt"),
        &ctx,
    )
    .await;
    assert_eq!(good.value, 1.0);
    assert_eq!(
        good.reason,
        "'refund' found for case refund-1; expected given: True"
    );
    let rude = score(kind, &support_case(), &fixture("support_rude.txt"), &ctx).await;
    assert_eq!(rude.value, 0.25);

    // A program path with a slash is relative to the repository root.
    write_script(
        dir.path(),
        "half.sh",
        "#!/bin/sh\ncat >/dev/null\necho 0.5\n",
    );
    let half = score(command("./half.sh", &[], 10), &support_case(), "x", &ctx).await;
    assert_eq!(
        (half.value, half.reason.as_str()),
        (0.5, "scored by `./half.sh`")
    );
}

#[tokio::test]
async fn command_errors_are_recorded_not_scored() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = EvalContext::new(dir.path());
    write_script(
        dir.path(),
        "chatty.sh",
        "#!/bin/sh\necho 'looks good to me'\n",
    );
    let err = run(
        command("./chatty.sh", &[], 10),
        &support_case(),
        &reply("x"),
        &ctx,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("not a number in [0, 1]") && err.contains("looks good"),
        "{err}"
    );

    write_script(dir.path(), "over.sh", "#!/bin/sh\necho 7\n");
    let err = run(
        command("./over.sh", &[], 10),
        &support_case(),
        &reply("x"),
        &ctx,
    )
    .await
    .unwrap_err();
    assert!(err.contains("outside [0, 1]"), "{err}");

    write_script(
        dir.path(),
        "fails.sh",
        "#!/bin/sh\necho 'model file missing' >&2\nexit 3\n",
    );
    let err = run(
        command("./fails.sh", &[], 10),
        &support_case(),
        &reply("x"),
        &ctx,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("exit status: 3") && err.contains("model file missing"),
        "{err}"
    );

    let err = run(
        command("./absent.sh", &[], 10),
        &support_case(),
        &reply("x"),
        &ctx,
    )
    .await
    .unwrap_err();
    assert!(err.contains("could not start `./absent.sh`"), "{err}");

    let mut untrusted = EvalContext::new(dir.path());
    untrusted.untrusted = true;
    let err = run(
        command("./over.sh", &[], 10),
        &support_case(),
        &reply("x"),
        &untrusted,
    )
    .await
    .unwrap_err();
    assert!(err.contains("untrusted"), "{err}");
}

/// Whether a process is gone (or only a zombie waiting to be reaped).
fn process_is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn command_timeout_kills_the_program_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = EvalContext::new(dir.path());
    // The script starts a grandchild that would outlive a plain kill.
    write_script(
        dir.path(),
        "hang.sh",
        "#!/bin/sh\nsleep 60 &\necho $! > sleeper.pid\nwait\n",
    );
    let started = Instant::now();
    let err = run(
        command("./hang.sh", &[], 1),
        &support_case(),
        &reply("x"),
        &ctx,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("did not finish within 1s and was killed"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let pid = std::fs::read_to_string(dir.path().join("sleeper.pid")).unwrap();
    let pid = pid.trim().to_string();
    // SIGKILL is delivered asynchronously; wait (bounded) for the OS to act.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_is_dead(&pid) {
        assert!(
            Instant::now() < deadline,
            "grandchild {pid} survived the timeout"
        );
        tokio::task::yield_now().await;
    }
}
