//! Command-line interface.

use std::path::PathBuf;

use clap::Parser;

/// LLM API gateway for Kubernetes pods: OpenAI- and Anthropic-compatible, over a Unix socket and TCP.
#[derive(Debug, Parser)]
#[command(name = "llm-sidecar", version, about)]
pub struct Cli {
    /// Config file (YAML). Without one, `OPENAI_API_KEY` alone serves OpenAI on 127.0.0.1:8080.
    #[arg(long, short = 'c', env = "LLM_SIDECAR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Validate the config and exit: 0 when valid, 64 with the field path and line when not.
    #[arg(long)]
    pub check: bool,
}
