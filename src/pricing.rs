//! What tokens cost: a built-in table (USD per million input, cached-input and output tokens) for
//! the common OpenAI, Anthropic and Gemini models, overridden by `pricing:` in config. Prices
//! change; the table is a starting point, the config is the source of truth. A model is matched
//! exactly, else by the longest known prefix (`gpt-4o-2024-08-06` → `gpt-4o`).

use std::collections::BTreeMap;

use crate::config::schema::{PriceConfig, Pricing};
use crate::types::Usage;

/// Micro-dollars per dollar (spend is counted in integers so stores add it exactly).
pub const MICROS_PER_USD: f64 = 1_000_000.0;
/// Tokens per pricing unit.
const TOKENS_PER_MILLION: f64 = 1_000_000.0;

/// (model prefix, input, cached input, output), USD per million tokens.
const BUILT_IN: [(&str, f64, f64, f64); 44] = [
    ("gpt-5", 1.25, 0.125, 10.0),
    ("gpt-5-mini", 0.25, 0.025, 2.0),
    ("gpt-5-nano", 0.05, 0.005, 0.4),
    ("gpt-4.1", 2.0, 0.5, 8.0),
    ("gpt-4.1-mini", 0.4, 0.1, 1.6),
    ("gpt-4.1-nano", 0.1, 0.025, 0.4),
    ("gpt-4o", 2.5, 1.25, 10.0),
    ("gpt-4o-mini", 0.15, 0.075, 0.6),
    ("gpt-4-turbo", 10.0, 10.0, 30.0),
    ("gpt-4", 30.0, 30.0, 60.0),
    ("gpt-3.5-turbo", 0.5, 0.5, 1.5),
    ("o1", 15.0, 7.5, 60.0),
    ("o1-mini", 1.1, 0.55, 4.4),
    ("o3", 2.0, 0.5, 8.0),
    ("o3-mini", 1.1, 0.55, 4.4),
    ("o4-mini", 1.1, 0.275, 4.4),
    ("text-embedding-3-small", 0.02, 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.13, 0.0),
    ("text-embedding-ada-002", 0.1, 0.1, 0.0),
    ("claude-3-opus", 15.0, 1.5, 75.0),
    ("claude-3-sonnet", 3.0, 0.3, 15.0),
    ("claude-3-haiku", 0.25, 0.03, 1.25),
    ("claude-3-5-sonnet", 3.0, 0.3, 15.0),
    ("claude-3-5-haiku", 0.8, 0.08, 4.0),
    ("claude-3-7-sonnet", 3.0, 0.3, 15.0),
    ("claude-sonnet-4", 3.0, 0.3, 15.0),
    ("claude-sonnet-4-5", 3.0, 0.3, 15.0),
    ("claude-opus-4", 15.0, 1.5, 75.0),
    ("claude-opus-4-1", 15.0, 1.5, 75.0),
    ("claude-opus-4-5", 5.0, 0.5, 25.0),
    ("claude-haiku-4-5", 1.0, 0.1, 5.0),
    ("gemini-2.5-pro", 1.25, 0.31, 10.0),
    ("gemini-2.5-flash", 0.3, 0.075, 2.5),
    ("gemini-2.5-flash-lite", 0.1, 0.025, 0.4),
    ("gemini-2.0-flash", 0.1, 0.025, 0.4),
    ("gemini-2.0-flash-lite", 0.075, 0.075, 0.3),
    ("gemini-1.5-pro", 1.25, 0.3125, 5.0),
    ("gemini-1.5-flash", 0.075, 0.01875, 0.3),
    ("gemini-embedding-001", 0.15, 0.15, 0.0),
    ("mistral-large", 2.0, 2.0, 6.0),
    ("mistral-small", 0.1, 0.1, 0.3),
    ("llama-3.1-8b", 0.0, 0.0, 0.0),
    ("mock", 0.0, 0.0, 0.0),
    ("gpt-4o-mock", 0.0, 0.0, 0.0),
];

/// A model's prices, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Uncached input.
    pub input: f64,
    /// Input served from the provider's prompt cache (usually a fraction of `input`).
    pub cached_input: f64,
    /// Output (reasoning included).
    pub output: f64,
}

impl Price {
    /// What `usage` costs, in micro-dollars (cached tokens at the cached price, the rest of
    /// the input at the input price).
    pub fn cost_micros(&self, usage: &Usage) -> u64 {
        let uncached = usage.input.saturating_sub(usage.cached) as f64;
        let usd = (uncached * self.input
            + usage.cached as f64 * self.cached_input
            + usage.output as f64 * self.output)
            / TOKENS_PER_MILLION;
        (usd * MICROS_PER_USD).round().max(0.0) as u64
    }
}

/// The price table of one config generation.
#[derive(Debug, Clone)]
pub struct Prices {
    table: BTreeMap<String, Price>,
}

impl Prices {
    /// The built-in table with `overrides` on top.
    pub fn new(overrides: &Pricing) -> Self {
        let mut table: BTreeMap<String, Price> = BUILT_IN
            .iter()
            .map(|&(model, input, cached_input, output)| {
                (
                    model.to_owned(),
                    Price {
                        input,
                        cached_input,
                        output,
                    },
                )
            })
            .collect();
        for (model, price) in overrides {
            table.insert(model.clone(), configured(price));
        }
        Self { table }
    }

    /// The price of `model`: an exact entry, else the longest entry that prefixes it.
    pub fn lookup(&self, model: &str) -> Option<Price> {
        if let Some(price) = self.table.get(model) {
            return Some(*price);
        }
        self.table
            .iter()
            .filter(|(known, _)| model.starts_with(known.as_str()))
            .max_by_key(|(known, _)| known.len())
            .map(|(_, price)| *price)
    }
}

fn configured(price: &PriceConfig) -> Price {
    Price {
        input: price.input_per_million,
        cached_input: price
            .cached_input_per_million
            .unwrap_or(price.input_per_million),
        output: price.output_per_million,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_exact_then_longest_prefix_and_overrides_win() {
        let mut overrides = Pricing::new();
        overrides.insert(
            "gpt-4o".into(),
            PriceConfig {
                input_per_million: 1.0,
                cached_input_per_million: None,
                output_per_million: 2.0,
            },
        );
        let prices = Prices::new(&overrides);
        let cases = [
            ("gpt-4o-mini-2024-07-18", Some(0.15)),
            ("gpt-4o-2024-08-06", Some(1.0)),
            ("claude-3-5-sonnet-latest", Some(3.0)),
            ("gemini-2.5-flash-lite-preview", Some(0.1)),
            ("my-local-llama", None),
        ];
        for (model, input) in cases {
            assert_eq!(prices.lookup(model).map(|p| p.input), input, "{model}");
        }
        assert_eq!(
            prices.lookup("gpt-4o").map(|p| p.cached_input),
            Some(1.0),
            "cached defaults to input"
        );
    }

    #[test]
    fn costs_charge_cached_tokens_at_the_cached_price() {
        let price = Price {
            input: 2.5,
            cached_input: 1.25,
            output: 10.0,
        };
        let usage = Usage {
            input: 1_000_000,
            output: 100_000,
            cached: 400_000,
            reasoning: 0,
        };
        // 600k × 2.5 + 400k × 1.25 + 100k × 10 = 1.5 + 0.5 + 1.0 = $3.00
        assert_eq!(price.cost_micros(&usage), 3_000_000);
        assert_eq!(price.cost_micros(&Usage::default()), 0);
    }
}
