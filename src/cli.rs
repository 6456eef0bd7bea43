//! Command-line interface: serving (`--config`, `--check`, `--port`) and `convert` (run by
//! `app::convert`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// LLM API gateway for Kubernetes pods: OpenAI- and Anthropic-compatible, over a Unix socket and TCP.
#[derive(Debug, Parser)]
#[command(name = "llm-sidecar", version, about)]
pub struct Cli {
    /// Config file (YAML): ours, or a LiteLLM proxy config.yaml. Without one, `OPENAI_API_KEY`
    /// alone serves OpenAI on 127.0.0.1:8080.
    #[arg(long, short = 'c', env = "LLM_SIDECAR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Validate the config and exit: 0 when valid, 64 with the field path and line when not.
    #[arg(long)]
    pub check: bool,

    /// For a LiteLLM config (which names no listeners): serve the API on 0.0.0.0:PORT, as
    /// `litellm --port` does. Without it, `LLM_SIDECAR_TCP`, else 127.0.0.1:4000.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// A task other than serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Tasks other than serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a LiteLLM proxy config (or LiteLLM's key export) in llm-sidecar's format.
    Convert(Convert),
}

/// `llm-sidecar convert --from litellm IN.yaml [-o OUT.yaml]`.
#[derive(Debug, Args)]
pub struct Convert {
    /// What the input is.
    #[arg(long, value_enum)]
    pub from: Source,
    /// The input file.
    pub input: PathBuf,
    /// Where to write the result (standard output when absent).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Inputs `convert` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// A LiteLLM proxy `config.yaml`.
    Litellm,
    /// LiteLLM's `GET /key/list?return_full_object=true` JSON: becomes `keys:` and `teams:`.
    LitellmKeys,
}
