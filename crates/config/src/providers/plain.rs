//! The types without settings of their own: OpenAI, Gemini, Ollama, vLLM and any
//! OpenAI-compatible server.

use super::{ProviderKind, Type, no_keys, no_settings};

/// Default OpenAI base URL (env-only mode and `type: openai` without `base_url`).
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// OpenAI itself (also what a provider without a recognisable type is).
pub const OPENAI: Type = Type {
    kind: ProviderKind::Openai,
    name: "openai",
    default_base_url: Some(OPENAI_DEFAULT_BASE_URL),
    needs_base_url: false,
    genai_system: "openai",
    openai_style: true,
    recognise: |_, _| false,
    keys: no_keys,
    settings: no_settings,
};

/// Google's Gemini API.
pub const GEMINI: Type = Type {
    kind: ProviderKind::Gemini,
    name: "gemini",
    default_base_url: Some("https://generativelanguage.googleapis.com"),
    needs_base_url: false,
    genai_system: "gcp.gemini",
    openai_style: false,
    recognise: |name, url| {
        name == "gemini" || name == "google" || url.contains("generativelanguage.googleapis.com")
    },
    keys: no_keys,
    settings: no_settings,
};

/// Ollama's native API.
pub const OLLAMA: Type = Type {
    kind: ProviderKind::Ollama,
    name: "ollama",
    default_base_url: Some("http://localhost:11434"),
    needs_base_url: false,
    genai_system: "ollama",
    openai_style: false,
    recognise: |name, url| name == "ollama" || url.contains(":11434"),
    keys: no_keys,
    settings: no_settings,
};

/// vLLM's OpenAI-compatible server.
pub const VLLM: Type = Type {
    kind: ProviderKind::Vllm,
    name: "vllm",
    default_base_url: None,
    needs_base_url: true,
    genai_system: "vllm",
    openai_style: true,
    recognise: |_, _| false,
    keys: no_keys,
    settings: no_settings,
};

/// Any OpenAI-compatible server.
pub const OPENAI_COMPATIBLE: Type = Type {
    kind: ProviderKind::OpenaiCompatible,
    name: "openai_compatible",
    default_base_url: None,
    needs_base_url: true,
    genai_system: "openai",
    openai_style: true,
    recognise: |_, _| false,
    keys: no_keys,
    settings: no_settings,
};
