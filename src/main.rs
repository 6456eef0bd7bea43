//! The `llm-sidecar` binary: parse arguments, load the config (exit 64 when invalid), then run
//! the gateway on a runtime sized to the container's CPU quota.

use std::process::ExitCode;

use clap::Parser;
use llm_sidecar::app::{self, EXIT_CONFIG, EXIT_UNAVAILABLE};
use llm_sidecar::cli::{Cli, Command};
use llm_sidecar::runtime::Runtime;

/// The allocator is jemalloc on both builds: musl's is slow under contention, and jemalloc's
/// background thread hands a burst's memory back to the OS while the gateway idles, which
/// neither glibc's malloc nor mimalloc did (BENCHMARKS.md, "Allocator").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Overrides the number of runtime worker threads.
const WORKERS_ENV: &str = "LLM_SIDECAR_WORKERS";

/// Most workers started by default. A sidecar without a CPU limit sees every core of the node
/// (64 on a large one); one worker proxies well over 10,000 requests a second on this workload
/// (BENCHMARKS.md), and each extra one costs a thread, its wake-ups and ~10 µs of CPU per
/// request in cross-thread hand-offs. Two keep one stuck or CPU-heavy task (a large body to
/// translate) from stalling every stream.
const MAX_DEFAULT_WORKERS: usize = 2;

/// Worker threads: `LLM_SIDECAR_WORKERS`, else `available_parallelism` (which respects the
/// cgroup CPU quota: the chart's one-CPU limit gives one worker) up to [`MAX_DEFAULT_WORKERS`].
fn worker_threads() -> usize {
    let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
    workers_for(std::env::var(WORKERS_ENV).ok().as_deref(), parallelism)
}

/// The worker count for an `LLM_SIDECAR_WORKERS` value (when set) and the CPUs available.
fn workers_for(requested: Option<&str>, parallelism: usize) -> usize {
    requested
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| parallelism.clamp(1, MAX_DEFAULT_WORKERS))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Convert(args)) = &cli.command {
        return match app::convert(args) {
            Ok(stdout) => {
                print!("{}", stdout.unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("llm-sidecar: cannot convert: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }
    if let Some(port) = cli.port {
        llm_sidecar::config::litellm::set_port(port);
    }
    let config = match app::load_config(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("llm-sidecar: invalid config: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if cli.check {
        // Warnings raised while building (a provider without credentials) go to stderr too.
        let warnings = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .without_time()
            .finish();
        let _warnings = tracing::subscriber::set_default(warnings);
        // Building the runtime also checks what parsing cannot (TLS setup, provider clients).
        return match Runtime::build(config, 0, None) {
            Ok(_) => {
                println!("llm-sidecar: config is valid");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("llm-sidecar: invalid config: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }
    let workers = worker_threads();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .on_thread_park(llm_sidecar::memory::on_worker_park)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("llm-sidecar: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    let code = runtime.block_on(app::run(config));
    // Usage records and log lines are written by background threads: the last ones (the
    // records of requests the drain cut, "stopped") must not be lost.
    llm_sidecar::telemetry::usage::flush();
    llm_sidecar::telemetry::logsink::flush();
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_follow_the_cpu_quota_up_to_the_cap_unless_asked() {
        let cases = [
            (None, 1, 1),
            (None, 2, 2),
            (None, 64, MAX_DEFAULT_WORKERS),
            (Some("8"), 64, 8),
            (Some(" 3 "), 1, 3),
            (Some("0"), 4, 2),
            (Some("many"), 1, 1),
        ];
        for (requested, parallelism, want) in cases {
            assert_eq!(
                workers_for(requested, parallelism),
                want,
                "{requested:?} with {parallelism} CPUs"
            );
        }
    }
}
