//! LiteLLM's `provider/upstream-model` strings: which of our provider types serves them, the
//! upstream model name, and the default base URL of OpenAI-compatible hosted providers (from
//! LiteLLM's provider table, so `groq/llama3-8b` works without an `api_base`).

/// Where a LiteLLM `model` goes.
#[derive(Debug, PartialEq, Eq)]
pub struct Route {
    /// Our provider `type`.
    pub kind: &'static str,
    /// The upstream model (`*` in wildcard entries).
    pub model: String,
    /// The base URL when the entry gives none (hosted OpenAI-compatible providers).
    pub base_url: Option<&'static str>,
    /// What the translation approximates, for the warning.
    pub note: Option<String>,
}

/// Hosted providers that speak OpenAI's API, with the base URL LiteLLM uses for each.
const OPENAI_COMPATIBLE: [(&str, &str); 21] = [
    ("groq", "https://api.groq.com/openai/v1"),
    ("mistral", "https://api.mistral.ai/v1"),
    ("codestral", "https://codestral.mistral.ai/v1"),
    ("together_ai", "https://api.together.xyz/v1"),
    ("deepseek", "https://api.deepseek.com/beta"),
    ("fireworks_ai", "https://api.fireworks.ai/inference/v1"),
    ("openrouter", "https://openrouter.ai/api/v1"),
    ("xai", "https://api.x.ai/v1"),
    ("perplexity", "https://api.perplexity.ai"),
    ("deepinfra", "https://api.deepinfra.com/v1/openai"),
    ("cerebras", "https://api.cerebras.ai/v1"),
    ("nvidia_nim", "https://integrate.api.nvidia.com/v1"),
    ("sambanova", "https://api.sambanova.ai/v1"),
    ("anyscale", "https://api.endpoints.anyscale.com/v1"),
    ("meta_llama", "https://api.llama.com/compat/v1"),
    ("nebius", "https://api.studio.nebius.ai/v1"),
    ("ai21_chat", "https://api.ai21.com/studio/v1"),
    ("github", "https://models.inference.ai.azure.com"),
    ("friendliai", "https://api.friendli.ai/serverless/v1"),
    ("novita", "https://api.novita.ai/v3/openai"),
    ("lm_studio", "http://localhost:1234/v1"),
];

/// Prefixes served by an OpenAI-compatible server whose `api_base` the entry must give.
const BYO_OPENAI_COMPATIBLE: [&str; 4] = ["openai_like", "azure_ai", "litellm_proxy", "custom"];

/// The route of a LiteLLM `model` (after `custom_llm_provider`, when given, replaced the
/// prefix). `Err` says why the entry cannot be served.
pub fn route(model: &str, custom_provider: Option<&str>) -> Result<Route, String> {
    let (prefix, rest) = match (custom_provider, model.split_once('/')) {
        (Some(provider), _) => (
            provider,
            model
                .strip_prefix(provider)
                .map_or(model, |r| r.trim_start_matches('/')),
        ),
        (None, Some((prefix, rest))) if known(prefix) => (prefix, rest),
        (None, _) => (infer(model), model),
    };
    let plain = |kind| Route {
        kind,
        model: rest.to_owned(),
        base_url: None,
        note: None,
    };
    let route = match prefix {
        "openai" | "chatgpt" => plain("openai"),
        "text-completion-openai" => Route {
            note: Some("text-completion-openai: served as an OpenAI model (the completions API passes through)".to_owned()),
            ..plain("openai")
        },
        "azure" => plain("azure"),
        "anthropic" => plain("anthropic"),
        "gemini" => plain("gemini"),
        "vertex_ai" | "vertex_ai_beta" => plain("vertex"),
        "bedrock" => bedrock(rest),
        "ollama" | "ollama_chat" => plain("ollama"),
        "hosted_vllm" | "vllm" => plain("vllm"),
        other if BYO_OPENAI_COMPATIBLE.contains(&other) => plain("openai_compatible"),
        other => match OPENAI_COMPATIBLE.iter().find(|(name, _)| *name == other) {
            Some((_, base)) => Route {
                base_url: Some(base),
                ..plain("openai_compatible")
            },
            None => return Err(format!("provider `{other}` is not supported")),
        },
    };
    if route.model.is_empty() {
        return Err(format!("`{model}` names no upstream model"));
    }
    Ok(route)
}

/// Bedrock's route forms: `bedrock/converse/<id>` is what we do anyway; `bedrock/invoke/<id>`
/// is served through Converse too (the same models answer it).
fn bedrock(rest: &str) -> Route {
    let (model, note) = match rest.split_once('/') {
        Some(("converse", id)) => (id, None),
        Some(("invoke", id)) => (
            id,
            Some("bedrock/invoke: served through the Converse API".to_owned()),
        ),
        _ => (rest, None),
    };
    Route {
        kind: "bedrock",
        model: model.to_owned(),
        base_url: None,
        note,
    }
}

/// Whether `prefix` is a provider LiteLLM knows (a model id like `meta/llama` is not).
fn known(prefix: &str) -> bool {
    matches!(
        prefix,
        "openai"
            | "chatgpt"
            | "text-completion-openai"
            | "azure"
            | "anthropic"
            | "gemini"
            | "vertex_ai"
            | "vertex_ai_beta"
            | "bedrock"
            | "ollama"
            | "ollama_chat"
            | "hosted_vllm"
            | "vllm"
            | "sagemaker"
            | "huggingface"
            | "cohere"
            | "replicate"
    ) || BYO_OPENAI_COMPATIBLE.contains(&prefix)
        || OPENAI_COMPATIBLE.iter().any(|(name, _)| *name == prefix)
}

/// The provider of a model without a prefix, by LiteLLM's model-name families.
fn infer(model: &str) -> &'static str {
    if model.starts_with("claude") {
        "anthropic"
    } else if model.starts_with("gemini") {
        "gemini"
    } else {
        // gpt-*, o1/o3/o4, dall-e, text-embedding-*, whisper, tts, and a bare `*` (LiteLLM's
        // default provider is OpenAI).
        "openai"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_litellm_models() {
        let cases = [
            ("openai/gpt-4o", None, "openai", "gpt-4o", None),
            ("gpt-3.5-turbo", None, "openai", "gpt-3.5-turbo", None),
            ("*", None, "openai", "*", None),
            ("openai/*", None, "openai", "*", None),
            ("claude-3-opus", None, "anthropic", "claude-3-opus", None),
            ("anthropic/*", None, "anthropic", "*", None),
            ("azure/chatgpt-v-2", None, "azure", "chatgpt-v-2", None),
            (
                "vertex_ai/gemini-2.0-flash",
                None,
                "vertex",
                "gemini-2.0-flash",
                None,
            ),
            (
                "bedrock/converse/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                None,
                "bedrock",
                "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                None,
            ),
            (
                "bedrock/meta.llama3-8b",
                None,
                "bedrock",
                "meta.llama3-8b",
                None,
            ),
            ("ollama_chat/llama3", None, "ollama", "llama3", None),
            (
                "hosted_vllm/facebook/opt-125m",
                None,
                "vllm",
                "facebook/opt-125m",
                None,
            ),
            (
                "groq/llama3-8b-8192",
                None,
                "openai_compatible",
                "llama3-8b-8192",
                Some("https://api.groq.com/openai/v1"),
            ),
            (
                "meta/llama-3",
                Some("openai"),
                "openai",
                "meta/llama-3",
                None,
            ),
        ];
        for (model, custom, kind, upstream, base) in cases {
            let route = route(model, custom).unwrap();
            assert_eq!(
                (route.kind, route.model.as_str(), route.base_url),
                (kind, upstream, base),
                "{model}"
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        for model in ["sagemaker/llama-2", "huggingface/bigcode", "azure/"] {
            assert!(route(model, None).is_err(), "{model}");
        }
    }
}
