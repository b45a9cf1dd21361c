//! Cost: a price table (built-in defaults, overridden by `[pricing]` in
//! `promptgate.toml`), run totals, and the up-front estimate behind
//! `promptgate eval --estimate`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pipeline::config::{ModelPrice, ProviderKind};
use crate::pipeline::runner::cache::ResponseCache;
use crate::pipeline::runner::{self, Call};
use crate::types::Usage;

/// When the built-in prices were last checked against the providers'
/// published price lists. Prices change: `[pricing]` overrides any of them.
pub const DEFAULT_PRICES_AS_OF: &str = "2025-11";

/// Built-in prices in US dollars per million tokens (input, output), by
/// model-name prefix. A dated or `-latest` model name matches its family.
const DEFAULT_PRICES: &[(&str, f64, f64)] = &[
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("o1", 15.00, 60.00),
    ("o1-mini", 1.10, 4.40),
    ("o3", 2.00, 8.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("claude-3-haiku", 0.25, 1.25),
    ("claude-3-opus", 15.00, 75.00),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
    ("claude-opus-4-5", 5.00, 25.00),
    ("claude-haiku-4-5", 1.00, 5.00),
];

/// Output tokens assumed for an estimate when a prompt sets no `max_tokens`
/// (Anthropic's calls always carry one: see `anthropic::DEFAULT_MAX_TOKENS`).
pub const ASSUMED_MAX_OUTPUT_TOKENS: u32 = 4096;

/// Model prices: `[pricing]` entries first, then the built-in table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    overrides: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    /// The built-in prices plus the config's `[pricing]`, which wins. Keys
    /// are `alias/model` (one provider) or a bare model name (any provider).
    pub fn new(overrides: &BTreeMap<String, ModelPrice>) -> Self {
        Self {
            overrides: overrides.clone(),
        }
    }

    /// The price of `model` as served by provider `alias`, if known.
    pub fn price(&self, alias: &str, model: &str) -> Option<ModelPrice> {
        if let Some(price) = self
            .overrides
            .get(&format!("{alias}/{model}"))
            .or_else(|| self.overrides.get(model))
        {
            return Some(*price);
        }
        // GitHub Models ids carry their publisher: `openai/gpt-4o`.
        let bare = model.rsplit('/').next().unwrap_or(model);
        default_price(bare)
    }

    /// What `usage` cost on this provider: `None` when the model has no
    /// known price. Echo and local Ollama models cost nothing unless
    /// `[pricing]` says otherwise.
    pub fn cost(&self, kind: ProviderKind, alias: &str, model: &str, usage: Usage) -> Option<f64> {
        match self.price(alias, model) {
            Some(price) => Some(cost_usd(price, usage)),
            None if matches!(kind, ProviderKind::Echo | ProviderKind::Ollama) => Some(0.0),
            None => None,
        }
    }
}

/// The longest built-in prefix that matches at a `-` boundary.
fn default_price(model: &str) -> Option<ModelPrice> {
    DEFAULT_PRICES
        .iter()
        .filter(|(prefix, _, _)| {
            model == *prefix
                || model
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|&(_, input, output)| ModelPrice {
            input_per_mtok: input,
            output_per_mtok: output,
        })
}

pub fn cost_usd(price: ModelPrice, usage: Usage) -> f64 {
    (usage.input_tokens as f64 * price.input_per_mtok
        + usage.output_tokens as f64 * price.output_per_mtok)
        / 1_000_000.0
}

/// What a run would cost, worked out before any call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Calls the run consists of.
    pub calls: usize,
    /// Of those, answered by the response cache: no cost.
    pub cached: usize,
    /// Upper estimate of input tokens over the uncached calls.
    pub input_tokens: u64,
    /// Upper bound of output tokens: each call's `max_tokens`.
    pub output_tokens: u64,
    /// Upper bound of cost in US dollars of the priced, uncached calls.
    pub max_cost_usd: f64,
    /// `alias/model` of models without a price (their cost is unknown).
    pub unpriced_models: Vec<String>,
    /// Some calls set no `max_tokens`; `ASSUMED_MAX_OUTPUT_TOKENS` was used.
    pub assumed_max_tokens: bool,
}

/// Input tokens of `text`, over-estimated: BPE tokenizers average about
/// four characters of English per token; three leaves head-room for code
/// and other languages.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(3)
}

/// Per-message framing tokens (role markers) most chat formats add.
const MESSAGE_OVERHEAD_TOKENS: u64 = 4;

/// The number of calls and an upper bound of their cost. With a cache,
/// calls it would answer are counted as free.
pub fn estimate(calls: &[Call], prices: &PriceTable, cache: Option<&ResponseCache>) -> Estimate {
    let mut estimate = Estimate::default();
    estimate.add(calls, prices, cache);
    estimate
}

impl Estimate {
    /// Counts more calls, so an estimate can be made a chunk at a time
    /// while calls are planned, without holding them all. With a cache,
    /// the calls it would answer (asked in one read) are counted as free.
    pub fn add(&mut self, calls: &[Call], prices: &PriceTable, cache: Option<&ResponseCache>) {
        let cached = match cache {
            Some(cache) => runner::cached(cache, calls),
            None => vec![false; calls.len()],
        };
        for (call, cached) in calls.iter().zip(cached) {
            self.add_call(call, prices, cached);
        }
    }

    fn add_call(&mut self, call: &Call, prices: &PriceTable, cached: bool) {
        self.calls += 1;
        if cached {
            self.cached += 1;
            return;
        }
        let handle = &call.provider;
        let input: u64 = call
            .request
            .messages
            .iter()
            .map(|message| estimate_tokens(&message.content) + MESSAGE_OVERHEAD_TOKENS)
            .sum();
        let output = match (call.request.parameters.output_cap(), handle.kind()) {
            (Some(max), _) => u64::from(max),
            (None, ProviderKind::Anthropic) => {
                u64::from(crate::pipeline::provider::anthropic::DEFAULT_MAX_TOKENS)
            }
            (None, ProviderKind::Echo) => 0,
            (None, _) => {
                self.assumed_max_tokens = true;
                u64::from(ASSUMED_MAX_OUTPUT_TOKENS)
            }
        };
        self.input_tokens += input;
        self.output_tokens += output;
        let usage = Usage {
            input_tokens: input,
            output_tokens: output,
        };
        match prices.cost(handle.kind(), handle.alias(), &call.request.model, usage) {
            Some(cost) => self.max_cost_usd += cost,
            None => {
                let model = format!("{}/{}", handle.alias(), call.request.model);
                // Sorted and unique, as the report lists them.
                if let Err(at) = self.unpriced_models.binary_search(&model) {
                    self.unpriced_models.insert(at, model);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::runner::cache::CacheKey;

    fn price(input: f64, output: f64) -> ModelPrice {
        ModelPrice {
            input_per_mtok: input,
            output_per_mtok: output,
        }
    }

    #[test]
    fn dated_and_prefixed_names_match_their_family() {
        let table = PriceTable::default();
        assert_eq!(table.price("openai", "gpt-4o"), Some(price(2.5, 10.0)));
        assert_eq!(
            table.price("openai", "gpt-4o-2024-08-06"),
            Some(price(2.5, 10.0))
        );
        assert_eq!(
            table.price("openai", "gpt-4o-mini-2024-07-18"),
            Some(price(0.15, 0.6))
        );
        assert_eq!(
            table.price("gh", "openai/gpt-4.1-nano"),
            Some(price(0.1, 0.4))
        );
        assert_eq!(table.price("openai", "o3-mini"), Some(price(1.1, 4.4)));
        assert_eq!(
            table.price("anthropic", "claude-3-5-haiku-20241022"),
            Some(price(0.8, 4.0))
        );
        assert_eq!(
            table.price("anthropic", "claude-opus-4-1-20250805"),
            Some(price(15.0, 75.0))
        );
        // A prefix only matches at a dash: `o1x` is not `o1`.
        assert_eq!(table.price("x", "o1x"), None);
        assert_eq!(table.price("x", "llama3"), None);
    }

    #[test]
    fn config_overrides_win_alias_first() {
        let mut overrides = BTreeMap::new();
        overrides.insert("gpt-4o".to_string(), price(1.0, 2.0));
        overrides.insert("azure/gpt-4o".to_string(), price(3.0, 4.0));
        let table = PriceTable::new(&overrides);
        assert_eq!(table.price("openai", "gpt-4o"), Some(price(1.0, 2.0)));
        assert_eq!(table.price("azure", "gpt-4o"), Some(price(3.0, 4.0)));
    }

    #[test]
    fn cost_per_million() {
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 500_000,
        };
        assert!((cost_usd(price(2.5, 10.0), usage) - 7.5).abs() < 1e-9);
        let table = PriceTable::default();
        assert_eq!(
            table.cost(ProviderKind::Ollama, "ollama", "llama3", usage),
            Some(0.0)
        );
        assert_eq!(
            table.cost(ProviderKind::OpenaiCompatible, "local", "llama3", usage),
            None
        );
    }

    #[test]
    fn estimate_bounds_uncached_calls() {
        use crate::pipeline::config::Config;
        use crate::pipeline::runner::cache::{CacheMode, CachedResponse};
        use crate::pipeline::runner::{Call, ProviderPool};
        use crate::types::{
            ChatMessage, ChatRequest, Completion, ModelParameters, ResponseFormat, Role,
        };

        let mut config = Config::default();
        config.providers.insert(
            "local".into(),
            crate::pipeline::config::ProviderConfig {
                base_url: Some("http://127.0.0.1:9/v1".into()),
                ..crate::pipeline::provider::config_for_kind(ProviderKind::OpenaiCompatible)
            },
        );
        config.pricing.insert("local/llama".into(), price(1.0, 2.0));
        let pool = ProviderPool::new(&config);
        let (local, _) = pool
            .route(&crate::types::ModelId {
                provider: "local".into(),
                model: "llama".into(),
            })
            .unwrap();
        let call = |text: &str, max_tokens: Option<u32>, model: &str| Call {
            provider: local.clone(),
            request: ChatRequest {
                model: model.into(),
                messages: vec![ChatMessage {
                    role: Role::User,
                    content: text.into(),
                }],
                parameters: ModelParameters {
                    max_tokens,
                    ..ModelParameters::default()
                },
                response_format: ResponseFormat::Text,
            },
            repeat: 0,
            label: "t".into(),
        };
        let calls = vec![
            call("abcdef", Some(100), "llama"), // 2 + 4 in, 100 out
            call("abc", None, "llama"),         // 1 + 4 in, 4096 out
            call("cached", Some(100), "llama"), // answered by the cache
            call("x", Some(10), "mystery"),     // no price
        ];
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::new(dir.path(), CacheMode::ReadWrite);
        let cached = &calls[2];
        cache
            .put(
                &CacheKey::new(local.describe(), &cached.request, 0),
                &CachedResponse {
                    completion: Completion {
                        text: "x".into(),
                        usage: Usage::default(),
                        finish_reason: None,
                    },
                    latency_ms: 1,
                },
            )
            .unwrap();
        let estimate = estimate(&calls, &PriceTable::new(&config.pricing), Some(&cache));
        assert_eq!(estimate.calls, 4);
        assert_eq!(estimate.cached, 1);
        assert_eq!(estimate.input_tokens, 6 + 5 + 5);
        assert_eq!(estimate.output_tokens, 100 + 4096 + 10);
        assert!(estimate.assumed_max_tokens);
        assert_eq!(estimate.unpriced_models, vec!["local/mystery".to_string()]);
        let expected = (11.0 * 1.0 + 4196.0 * 2.0) / 1e6;
        assert!(
            (estimate.max_cost_usd - expected).abs() < 1e-12,
            "{}",
            estimate.max_cost_usd
        );
    }

    #[test]
    fn token_estimate_rounds_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 2);
        assert_eq!(estimate_tokens("héllo"), 2);
    }
}
