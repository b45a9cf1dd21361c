//! `promptgate.toml`: everything optional, with defaults a new repository
//! can run on.
//!
//! ```toml
//! prompts = ["prompts/**/*.prompt.yml"]   # default: **/*.prompt.yml, **/*.prompt.yaml
//! store = ".promptgate"                   # the local store (git-ignore it)
//! registry = "git+branch://promptgate-registry"
//! judge = "openai/gpt-4o-mini"            # default judge model
//! github_models = true                    # every model id goes to GitHub Models
//! environments = ["staging", "production"]
//!
//! [providers.local]                       # `local/<model>` routes here
//! kind = "openai-compatible"              # openai | anthropic | ollama | openai-compatible | github-models | echo
//! base_url = "http://localhost:8000/v1"
//! api_key_env = "LOCAL_API_KEY"           # the variable's name, never the key
//! concurrency = 8
//! requests_per_minute = 600
//! timeout_s = 60
//! max_retries = 4
//!
//! [gate]
//! tolerance = 0.02
//! confidence = 0.95
//! min_cases = 10
//! fail_on = "regression"                  # regression | inconclusive | never
//!
//! [pricing."openai/gpt-4o-mini"]
//! input_per_mtok = 0.15
//! output_per_mtok = 0.60
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{Diagnostic, Diagnostics, FailOn, RepoPath};

/// The wire format a provider alias speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Ollama,
    OpenaiCompatible,
    GithubModels,
    /// Not a model: returns the rendered conversation. For demos and tests.
    Echo,
}

/// One provider alias (`[providers.<alias>]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// The API's base URL; default: the vendor's (required for `openai-compatible`).
    pub base_url: Option<String>,
    /// The name of the environment variable holding the key, never the key.
    pub api_key_env: Option<String>,
    /// Requests in flight at once (default 8).
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// Client-side rate limit; none by default.
    pub requests_per_minute: Option<u32>,
    /// Seconds before a request is abandoned (default 60).
    #[serde(default = "defaults::timeout_s")]
    pub timeout_s: u64,
    /// Retries of a failed request, with backoff (default 4).
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
}

impl ProviderKind {
    /// The vendor's API base URL; `None` where there is no default.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Ollama => Some("http://localhost:11434"),
            ProviderKind::GithubModels => Some("https://models.github.ai/inference"),
            ProviderKind::OpenaiCompatible | ProviderKind::Echo => None,
        }
    }

    /// The environment variable conventionally holding the vendor's key.
    pub fn default_api_key_env(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai => Some("OPENAI_API_KEY"),
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
            ProviderKind::GithubModels => Some("GITHUB_TOKEN"),
            ProviderKind::Ollama | ProviderKind::OpenaiCompatible | ProviderKind::Echo => None,
        }
    }
}

impl ProviderConfig {
    /// A provider of this kind with every default filled in.
    pub fn builtin(kind: ProviderKind) -> Self {
        ProviderConfig {
            kind,
            base_url: None,
            api_key_env: None,
            concurrency: defaults::concurrency(),
            requests_per_minute: None,
            timeout_s: defaults::timeout_s(),
            max_retries: defaults::max_retries(),
        }
        .with_defaults()
    }

    /// Fills `base_url` and `api_key_env` from the kind where not set.
    pub fn with_defaults(mut self) -> Self {
        if self.base_url.is_none() {
            self.base_url = self.kind.default_base_url().map(str::to_owned);
        }
        if self.api_key_env.is_none() {
            self.api_key_env = self.kind.default_api_key_env().map(str::to_owned);
        }
        self
    }
}

/// The fewest paired cases `gate.min_cases` may ask for: below 5 the exact
/// sign-flip test cannot reach p < 0.05 (its smallest p-value is 2⁻ⁿ), so a
/// smaller minimum would only promise verdicts the gate can never give.
pub const MIN_CASES_FLOOR: u32 = 5;

/// `[gate]`: when a change counts as a regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatePolicy {
    /// Deltas within ±tolerance (on the 0–1 score scale) count as unchanged.
    #[serde(default = "defaults::tolerance")]
    pub tolerance: f64,
    /// Confidence of each one-sided verdict, e.g. 0.95: "regressed" is
    /// claimed at most 1 − confidence of the time when the true drop is at
    /// the tolerance. The intervals shown are two-sided at
    /// 1 − 2·(1 − confidence) (90% for 0.95), before the adjustment for
    /// many criteria.
    #[serde(default = "defaults::confidence")]
    pub confidence: f64,
    /// Fewer paired cases than this is always inconclusive; at least 5.
    #[serde(default = "defaults::min_cases")]
    #[schemars(range(min = 5))]
    pub min_cases: u32,
    /// `regression` (default), `inconclusive` or `never`.
    #[serde(default)]
    pub fail_on: FailOn,
    /// Evaluate a check's cases in batches, in a seeded order, and stop
    /// calling the provider for a prompt once anytime-valid tests have
    /// decided it (suites of 50 cases or more with a baseline; see
    /// docs/gate.md). `false` evaluates every case.
    #[serde(default = "defaults::sequential")]
    pub sequential: bool,
}

impl Default for GatePolicy {
    fn default() -> Self {
        Self {
            tolerance: defaults::tolerance(),
            confidence: defaults::confidence(),
            min_cases: defaults::min_cases(),
            fail_on: FailOn::default(),
            sequential: defaults::sequential(),
        }
    }
}

/// Price of a model in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// US dollars per million input tokens.
    pub input_per_mtok: f64,
    /// US dollars per million output tokens.
    pub output_per_mtok: f64,
}

pub(crate) mod defaults {
    pub fn min_agreement() -> f64 {
        crate::pipeline::review::agreement::DEFAULT_MIN_AGREEMENT
    }
    pub fn review_sample() -> usize {
        20
    }
    pub fn concurrency() -> usize {
        8
    }
    pub fn timeout_s() -> u64 {
        60
    }
    pub fn max_retries() -> u32 {
        4
    }
    pub fn tolerance() -> f64 {
        0.02
    }
    pub fn confidence() -> f64 {
        0.95
    }
    pub fn min_cases() -> u32 {
        10
    }
    pub fn sequential() -> bool {
        true
    }
    pub fn suggest_candidates() -> u32 {
        3
    }
    pub fn require_gate_passed() -> bool {
        true
    }
}

/// The whole of `promptgate.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Globs of prompt files; default `**/*.prompt.yml` and `**/*.prompt.yaml`.
    #[serde(default)]
    pub prompts: Vec<String>,
    /// The local store; default `.promptgate`.
    pub store: Option<String>,
    /// Registry URL: `sqlite://…`, `postgres://…`, `git+branch://NAME`.
    pub registry: Option<String>,
    /// Provider aliases: a model id `alias/model` routes to `providers.alias`.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Default judge model (`alias/model`) for `judge`, `llm` and `github/*` evaluators.
    pub judge: Option<String>,
    #[serde(default)]
    pub gate: GatePolicy,
    /// Model id (`alias/model` or bare model name) → price.
    #[serde(default)]
    pub pricing: BTreeMap<String, ModelPrice>,
    /// Environments in promotion order, e.g. `["staging", "production"]`.
    #[serde(default)]
    pub environments: Vec<String>,
    /// What a version needs before a label may move to it.
    #[serde(default)]
    pub promotion: PromotionPolicy,
    /// Send every model id to GitHub Models (`openai/gpt-4o-mini` as well),
    /// authenticated by `GITHUB_TOKEN`, unless the publisher is one of
    /// `providers` (or `echo`, `ollama`). Off by default: then `openai/…` and
    /// `anthropic/…` go to those vendors directly, and only ids no provider
    /// claims (`meta/…`, `gpt-4o-mini`) go to GitHub Models.
    #[serde(default)]
    pub github_models: bool,
    /// What one run may spend; the base branch's decides for a pull request.
    #[serde(default)]
    pub budget: Budget,
    /// Settings of a criterion, by its name (in every prompt that has it),
    /// e.g. `[criteria.helpful] correct_with_reviews = true`.
    #[serde(default)]
    pub criteria: BTreeMap<String, CriterionSettings>,
    /// Human review of judged outputs (`promptgate review`).
    #[serde(default)]
    pub review: ReviewSettings,
    /// Verified suggestions: `promptgate suggest`, and in a pull request
    /// whose gate failed, a one-click fix (the base branch's decides).
    #[serde(default)]
    pub suggest: SuggestSettings,
}

/// `[criteria.NAME]`: how the gate treats one criterion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CriterionSettings {
    /// Correct this judged criterion for its judge's errors, as reviewers'
    /// labels measure them (docs/review.md): the gate compares pass rates
    /// and widens the interval by the judge's error rates and their
    /// uncertainty. With too few labels its verdicts are inconclusive.
    #[serde(default)]
    pub correct_with_reviews: bool,
}

/// `[review]`: the review queue and the judge-agreement check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    /// A judge whose agreement with reviewers is below this beyond doubt
    /// (its whole 95% interval) is flagged in the reports. Default 0.8.
    #[serde(default = "defaults::min_agreement")]
    pub min_agreement: f64,
    /// Outputs per criterion a review session offers. Default 20.
    #[serde(default = "defaults::review_sample")]
    pub sample: usize,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        Self {
            min_agreement: defaults::min_agreement(),
            sample: defaults::review_sample(),
        }
    }
}

/// `[suggest]`: the model that proposes edits to a failing prompt, and
/// whether pull requests get them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestSettings {
    /// Post a verified suggestion on a pull request whose gate failed
    /// (read from the base branch only: a pull request never turns it on).
    #[serde(default)]
    pub enabled: bool,
    /// The model that writes candidate edits (`alias/model`, any provider).
    pub model: Option<String>,
    /// Candidates asked for at once (default 3, at most 10).
    #[serde(default = "defaults::suggest_candidates")]
    #[schemars(range(min = 1, max = 10))]
    pub candidates: u32,
}

impl Default for SuggestSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            model: None,
            candidates: defaults::suggest_candidates(),
        }
    }
}

impl Config {
    /// Whether `criterion` opted into the correction by reviewers' labels.
    pub fn corrects_with_reviews(&self, criterion: &str) -> bool {
        self.criteria
            .get(criterion)
            .is_some_and(|c| c.correct_with_reviews)
    }
}

impl SuggestSettings {
    /// The most candidates one request may ask for.
    pub const MAX_CANDIDATES: u32 = 10;

    /// The suggestion model, when `model` is set (the loader has already
    /// refused one that is not a model id).
    pub fn model_id(&self) -> Option<crate::types::ModelId> {
        self.model
            .as_deref()
            .and_then(|id| crate::types::ModelId::parse(id).ok())
    }
}

/// `[budget]`: the most one run may spend. A change whose estimate (made
/// before any call, without rendering a case) exceeds it is refused with
/// the estimate. Unset limits are unlimited for trusted runs; an untrusted
/// run (a fork) gets [`Limits::UNTRUSTED_RUN`] for each one left unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Provider calls (cases × repeats, head and baseline; judges not included).
    pub max_calls: Option<u64>,
    /// Input and output tokens together.
    pub max_tokens: Option<u64>,
    /// US dollars, for models with a known price.
    pub max_cost_usd: Option<f64>,
    /// On the server: what one pull request may spend in a UTC day, all its
    /// pushes and reruns together (calls made; cached answers are free).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request_per_day: Option<Limits>,
}

/// Spending limits (`[budget.pull_request_per_day]`, and what `[budget]`
/// sets for one run); an unset limit is no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_calls: Option<u64>,
    pub max_tokens: Option<u64>,
    pub max_cost_usd: Option<f64>,
}

impl Limits {
    /// One run of an untrusted change whose base sets no limit.
    pub const UNTRUSTED_RUN: Limits = Limits {
        max_calls: Some(2_000),
        max_tokens: Some(4_000_000),
        max_cost_usd: Some(5.0),
    };

    /// One day of a pull request from a fork whose base sets no limit.
    pub const UNTRUSTED_DAY: Limits = Limits {
        max_calls: Some(10_000),
        max_tokens: Some(20_000_000),
        max_cost_usd: Some(25.0),
    };

    /// These limits, with `fallback`'s for those left unset.
    fn or(&self, fallback: &Limits) -> Limits {
        Limits {
            max_calls: self.max_calls.or(fallback.max_calls),
            max_tokens: self.max_tokens.or(fallback.max_tokens),
            max_cost_usd: self.max_cost_usd.or(fallback.max_cost_usd),
        }
    }

    /// With the untrusted `defaults` for unset limits when `untrusted`.
    fn for_trust(&self, untrusted: bool, defaults: &Limits) -> Limits {
        if untrusted {
            self.or(defaults)
        } else {
            self.clone()
        }
    }
}

impl Budget {
    /// What one run may spend.
    pub fn per_run(&self, untrusted: bool) -> Limits {
        let set = Limits {
            max_calls: self.max_calls,
            max_tokens: self.max_tokens,
            max_cost_usd: self.max_cost_usd,
        };
        set.for_trust(untrusted, &Limits::UNTRUSTED_RUN)
    }

    /// What one pull request may spend in a UTC day (on the server).
    pub fn per_pull_request_day(&self, untrusted: bool) -> Limits {
        self.pull_request_per_day
            .clone()
            .unwrap_or_default()
            .for_trust(untrusted, &Limits::UNTRUSTED_DAY)
    }
}

/// `[promotion]`: the rules `promptgate promote` enforces (besides the
/// order of `environments`); `--force --reason` overrides them, recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionPolicy {
    /// The version's baseline result must have at least this many cases.
    #[serde(default)]
    pub min_cases: u32,
    /// The version's overall score (0–1) must reach this.
    pub min_score: Option<f64>,
    /// The gate must have passed for the version's baseline result.
    #[serde(default = "defaults::require_gate_passed")]
    pub require_gate_passed: bool,
}

impl Default for PromotionPolicy {
    fn default() -> Self {
        Self {
            min_cases: 0,
            min_score: None,
            require_gate_passed: defaults::require_gate_passed(),
        }
    }
}

/// Where `promptgate.toml` lives in a repository.
pub const CONFIG_FILE: &str = "promptgate.toml";

/// Globs used when `prompts` is empty.
pub const DEFAULT_PROMPT_GLOBS: &[&str] = &["**/*.prompt.yml", "**/*.prompt.yaml"];

/// Where a model id's requests go, as [`Config::provider_for`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRoute {
    /// The alias (`[providers.<alias>]`, or a built-in one: `openai`,
    /// `anthropic`, `ollama`, `echo`, `github-models`). Names the provider in
    /// reports and cache keys.
    pub alias: String,
    /// The provider's settings, with `base_url` and `api_key_env` defaulted from its kind.
    pub config: ProviderConfig,
    /// The model name to send: the part after the alias, or for GitHub
    /// Models the whole `publisher/model` id.
    pub model: String,
}

impl ProviderRoute {
    /// Who answers: the kind and the endpoint. Part of a result's
    /// fingerprint, so a result measured against one server is never
    /// taken for one measured against another.
    pub fn endpoint(&self) -> String {
        let kind = serde_json::to_value(self.config.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        match &self.config.base_url {
            Some(url) => format!("{kind} {}", url.trim_end_matches('/')),
            None => kind,
        }
    }
}

/// The alias of GitHub Models: a model id no provider claims goes there.
pub const GITHUB_MODELS: &str = "github-models";

impl Config {
    /// The default judge model, when `judge` is set (the loader has already
    /// refused one that is not a model id).
    pub fn judge_model(&self) -> Option<crate::types::ModelId> {
        self.judge
            .as_deref()
            .and_then(|id| crate::types::ModelId::parse(id).ok())
    }

    /// The prompt globs, with the defaults when none are configured.
    pub fn prompt_globs(&self) -> Vec<String> {
        if self.prompts.is_empty() {
            DEFAULT_PROMPT_GLOBS
                .iter()
                .map(|g| (*g).to_owned())
                .collect()
        } else {
            self.prompts.clone()
        }
    }

    /// The local store folder, relative to the repository root.
    pub fn store_dir(&self) -> &str {
        self.store.as_deref().unwrap_or(".promptgate")
    }

    /// Routes a model id to a provider: a configured alias first; then, with
    /// `github_models = true`, GitHub Models for any other publisher; then
    /// the built-ins `openai`, `anthropic`, `ollama`, `echo` and
    /// `github-models` (whose model part is the GitHub Models id). Any
    /// other id belongs to GitHub Models, the catalog the prompt file format
    /// was made for, and is sent there as written (with `GITHUB_TOKEN`, or
    /// as `[providers.github-models]` says).
    pub fn provider_for(&self, model: &crate::types::ModelId) -> ProviderRoute {
        if let Some(config) = self.providers.get(&model.provider) {
            let config = config.clone().with_defaults();
            // An alias of kind github-models takes GitHub's `publisher/model` ids after it.
            return ProviderRoute {
                alias: model.provider.clone(),
                config,
                model: model.model.clone(),
            };
        }
        let kind = match model.provider.as_str() {
            "echo" => Some(ProviderKind::Echo),
            "ollama" => Some(ProviderKind::Ollama),
            GITHUB_MODELS => Some(ProviderKind::GithubModels),
            _ if self.github_models => None,
            "openai" => Some(ProviderKind::Openai),
            "anthropic" => Some(ProviderKind::Anthropic),
            _ => None,
        };
        match kind {
            Some(kind) => ProviderRoute {
                alias: model.provider.clone(),
                config: ProviderConfig::builtin(kind),
                model: model.model.clone(),
            },
            None => self.github_models_route(model.to_string()),
        }
    }

    /// GitHub Models, as `[providers.github-models]` configures it (or its
    /// defaults), receiving `model` whole.
    fn github_models_route(&self, model: String) -> ProviderRoute {
        let config = self
            .providers
            .get(GITHUB_MODELS)
            .cloned()
            .map(ProviderConfig::with_defaults)
            .unwrap_or_else(|| ProviderConfig::builtin(ProviderKind::GithubModels));
        ProviderRoute {
            alias: GITHUB_MODELS.into(),
            config,
            model,
        }
    }
}

/// Reads `promptgate.toml` from the repository; the defaults when it is absent.
pub fn load(files: &dyn crate::types::RepoFiles) -> Result<Config, Diagnostics> {
    let path = RepoPath(CONFIG_FILE.into());
    match files.read(&path) {
        Ok(None) => Ok(Config::default()),
        Ok(Some(bytes)) => match String::from_utf8(bytes) {
            Ok(text) => parse(&path, &text),
            Err(_) => Err(Diagnostics(vec![Diagnostic::error(
                path,
                0,
                0,
                "the file is not UTF-8 text; save it as UTF-8",
            )])),
        },
        Err(error) => Err(Diagnostics(vec![Diagnostic::error(
            path,
            0,
            0,
            error.to_string(),
        )])),
    }
}

/// Parses and checks a config file's text. Every problem found is reported:
/// a TOML or type error (the TOML reader stops at the first), else every
/// failed check of the values.
pub fn parse(path: &RepoPath, text: &str) -> Result<Config, Diagnostics> {
    let config: Config = match toml::from_str(text) {
        Ok(config) => config,
        Err(error) => {
            let (line, column) = error
                .span()
                .map_or((0, 0), |span| line_col(text, span.start));
            let message = error.message().trim_end().to_owned();
            let diagnostic =
                Diagnostic::error(path.clone(), line, column, message).with_source(text);
            return Err(Diagnostics(vec![diagnostic]));
        }
    };
    let problems = check(&config);
    if problems.is_empty() {
        return Ok(config);
    }
    let tree = toml::de::DeTable::parse(text).ok();
    let diagnostics = problems
        .into_iter()
        .map(|(keys, message)| {
            let (line, column) = tree
                .as_ref()
                .and_then(|tree| locate(tree.get_ref(), &keys))
                .map_or((0, 0), |offset| line_col(text, offset));
            Diagnostic::error(path.clone(), line, column, message).with_source(text)
        })
        .collect();
    Err(Diagnostics(diagnostics))
}

/// Checks what types cannot: ranges, globs, model ids, required URLs.
/// Each problem comes with the key path it is about.
fn check(config: &Config) -> Vec<(Vec<String>, String)> {
    let mut problems = Vec::new();
    let mut problem = |keys: &[&str], message: String| {
        problems.push((keys.iter().map(|k| (*k).to_owned()).collect(), message));
    };
    for glob in &config.prompts {
        if let Err(error) = globset::Glob::new(glob) {
            problem(
                &["prompts"],
                format!("`{glob}` is not a valid glob: {error}"),
            );
        }
    }
    if let Some(judge) = &config.judge
        && let Err(message) = crate::types::ModelId::parse(judge)
    {
        problem(&["judge"], format!("`judge`: {message}"));
    }
    if let Some(model) = &config.suggest.model
        && let Err(message) = crate::types::ModelId::parse(model)
    {
        problem(&["suggest", "model"], format!("`suggest.model`: {message}"));
    }
    if !(1..=SuggestSettings::MAX_CANDIDATES).contains(&config.suggest.candidates) {
        problem(
            &["suggest", "candidates"],
            format!(
                "`suggest.candidates` is {}; ask for 1 to {} candidates",
                config.suggest.candidates,
                SuggestSettings::MAX_CANDIDATES
            ),
        );
    }
    if config.suggest.enabled && config.suggest.model.is_none() {
        problem(
            &["suggest", "enabled"],
            "`suggest.enabled` is true but no `suggest.model` is set; name the model that \
             writes suggestions, e.g. `model = \"openai/gpt-4o\"`"
                .to_owned(),
        );
    }
    let gate = &config.gate;
    if !(0.0..1.0).contains(&gate.tolerance) {
        problem(
            &["gate", "tolerance"],
            format!(
                "`gate.tolerance` is {}; use a score difference from 0 to below 1, e.g. 0.02",
                gate.tolerance
            ),
        );
    }
    if !(gate.confidence > 0.5 && gate.confidence < 1.0) {
        problem(
            &["gate", "confidence"],
            format!(
                "`gate.confidence` is {}; use a level between 0.5 and 1, e.g. 0.95",
                gate.confidence
            ),
        );
    }
    let review = &config.review;
    if !(review.min_agreement > 0.0 && review.min_agreement <= 1.0) {
        problem(
            &["review", "min_agreement"],
            format!(
                "`review.min_agreement` is {}; use a share above 0 and at most 1, e.g. 0.8",
                review.min_agreement
            ),
        );
    }
    if review.sample == 0 || review.sample > 10_000 {
        problem(
            &["review", "sample"],
            format!(
                "`review.sample` is {}; use 1 to 10000 outputs per criterion",
                review.sample
            ),
        );
    }
    if gate.min_cases < MIN_CASES_FLOOR {
        problem(
            &["gate", "min_cases"],
            format!(
                "`gate.min_cases` is {}; use at least {} (fewer cases can never show a regression at 95% confidence)",
                gate.min_cases, MIN_CASES_FLOOR
            ),
        );
    }
    for (alias, provider) in &config.providers {
        let is_name = !alias.is_empty()
            && alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !is_name {
            problem(
                &["providers", alias],
                format!(
                    "provider alias `{alias}` may use only letters, digits, `-`, `_` and `.` (it is written before the `/` of a model id)"
                ),
            );
        }
        if provider.kind == ProviderKind::OpenaiCompatible && provider.base_url.is_none() {
            problem(
                &["providers", alias, "kind"],
                format!("`providers.{alias}` is `openai-compatible` and needs a `base_url`"),
            );
        }
        if let Some(url) = &provider.base_url
            && url::Url::parse(url).is_err()
        {
            problem(
                &["providers", alias, "base_url"],
                format!("`providers.{alias}.base_url` `{url}` is not a URL"),
            );
        }
        if provider.concurrency == 0 {
            problem(
                &["providers", alias, "concurrency"],
                format!("`providers.{alias}.concurrency` must be at least 1"),
            );
        }
        if let Some(var) = &provider.api_key_env {
            let looks_like_name =
                !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !looks_like_name {
                // Never echo the value: it may be a key pasted by mistake.
                problem(
                    &["providers", alias, "api_key_env"],
                    format!(
                        "`providers.{alias}.api_key_env` names the environment variable holding the key (like `OPENAI_API_KEY`), not the key itself"
                    ),
                );
            }
        }
    }
    for (model, price) in &config.pricing {
        if !(price.input_per_mtok >= 0.0 && price.output_per_mtok >= 0.0) {
            problem(
                &["pricing", model],
                format!("`pricing.\"{model}\"`: prices cannot be negative"),
            );
        }
    }
    problems
}

/// The byte offset where the value at `keys` is written.
fn locate(table: &toml::de::DeTable<'_>, keys: &[String]) -> Option<usize> {
    let (first, rest) = keys.split_first()?;
    let (key, value) = table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == first.as_str())?;
    if rest.is_empty() {
        return Some(if value.span().start < key.span().start {
            key.span().start
        } else {
            value.span().start
        });
    }
    match value.get_ref() {
        toml::de::DeValue::Table(inner) => locate(inner, rest).or(Some(key.span().start)),
        _ => Some(key.span().start),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() as u32 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() as u32 + 1;
    (line, column)
}
