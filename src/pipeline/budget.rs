//! The budget check: what a run would spend, estimated before anything is
//! spent or even rendered, against `[budget]` ([`Budget`](crate::pipeline::config::Budget)). Counting cases
//! streams the dataset without keeping it, so a change asking for a billion
//! calls costs a read of its files, not a billion planned calls (denial of
//! wallet, and of memory).

use std::io::BufRead;

use crate::pipeline::config::{Config, Limits};
use crate::pipeline::dataset::DatasetFormat;
use crate::pipeline::runner::pricing::{ASSUMED_MAX_OUTPUT_TOKENS, PriceTable, cost_usd};
use crate::types::{PromptSpec, RepoFiles, Usage};

/// An upper estimate of one run's spending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spending {
    pub calls: u64,
    pub tokens: u64,
    pub cost_usd: f64,
}

impl Spending {
    pub fn add(&mut self, other: &Spending) {
        self.calls = self.calls.saturating_add(other.calls);
        self.tokens = self.tokens.saturating_add(other.tokens);
        self.cost_usd += other.cost_usd;
    }
}

impl std::fmt::Display for Spending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} calls, {} tokens, ${:.2}",
            self.calls, self.tokens, self.cost_usd
        )
    }
}

/// What evaluating `spec` once would spend, at most: its cases (the inline
/// ones and a dataset's rows, counted by streaming) times its repeats; input
/// tokens from the message and dataset text, output tokens from
/// `maxTokens`. An unreadable dataset counts as empty: the run itself will
/// say what is wrong with it.
pub fn estimate_prompt(spec: &PromptSpec, files: &dyn RepoFiles, config: &Config) -> Spending {
    let (rows, dataset_chars) = spec
        .dataset
        .as_ref()
        .map_or((0, 0), |path| count_rows(files, path));
    let cases = spec.test_data.len() as u64 + rows;
    let repeats = u64::from(spec.repeats.max(1));
    let calls = cases.saturating_mul(repeats);
    let message_chars: u64 = spec
        .messages
        .iter()
        .map(|m| m.content.chars().count() as u64)
        .sum();
    let inline_chars: u64 = spec
        .test_data
        .iter()
        .map(|c| serde_json::Value::Object(c.vars.clone()).to_string().len() as u64)
        .sum();
    // Three characters a token over-estimates, as `pricing` does.
    let input_tokens = calls
        .saturating_mul(message_chars.div_ceil(3))
        .saturating_add(repeats.saturating_mul((dataset_chars + inline_chars).div_ceil(3)));
    let max_output = spec
        .parameters
        .max_tokens
        .unwrap_or(ASSUMED_MAX_OUTPUT_TOKENS);
    let output_tokens = calls.saturating_mul(u64::from(max_output));
    let route = config.provider_for(&spec.model);
    let cost = PriceTable::new(&config.pricing)
        .price(&route.alias, &route.model)
        .map_or(0.0, |price| {
            cost_usd(
                price,
                Usage {
                    input_tokens,
                    output_tokens,
                },
            )
        });
    Spending {
        calls,
        tokens: input_tokens.saturating_add(output_tokens),
        cost_usd: cost,
    }
}

/// Rows of a dataset, and its size in characters, read as a stream: a
/// JSONL row per non-blank line, a CSV row per line after the header (a
/// quoted newline only over-counts), YAML by parsing (YAML datasets are
/// read whole anyway).
fn count_rows(files: &dyn RepoFiles, path: &crate::types::RepoPath) -> (u64, u64) {
    let Ok(Some(reader)) = files.open(path) else {
        return (0, 0);
    };
    match DatasetFormat::from_path(path) {
        Some(DatasetFormat::Jsonl) | Some(DatasetFormat::Csv) => {
            let csv = matches!(DatasetFormat::from_path(path), Some(DatasetFormat::Csv));
            let (mut rows, mut chars) = (0u64, 0u64);
            for line in reader.split(b'\n') {
                let Ok(line) = line else { break };
                chars += line.len() as u64;
                if !line.iter().all(u8::is_ascii_whitespace) {
                    rows += 1;
                }
            }
            (if csv { rows.saturating_sub(1) } else { rows }, chars)
        }
        _ => {
            let rows = crate::pipeline::dataset::load_cases(files, path)
                .map_or(0, |cases| cases.len() as u64);
            let chars = files
                .read(path)
                .ok()
                .flatten()
                .map_or(0, |bytes| bytes.len() as u64);
            (rows, chars)
        }
    }
}

/// Why `spending` is over `budget`, naming each limit it breaks; `None`
/// when it fits.
pub fn over_budget(spending: &Spending, budget: &Limits) -> Option<String> {
    let mut over = Vec::new();
    if let Some(max) = budget.max_calls
        && spending.calls > max
    {
        over.push(format!("{} calls > max_calls {max}", spending.calls));
    }
    if let Some(max) = budget.max_tokens
        && spending.tokens > max
    {
        over.push(format!("{} tokens > max_tokens {max}", spending.tokens));
    }
    if let Some(max) = budget.max_cost_usd
        && spending.cost_usd > max
    {
        over.push(format!(
            "${:.2} > max_cost_usd ${max:.2}",
            spending.cost_usd
        ));
    }
    (!over.is_empty()).then(|| over.join(", "))
}
