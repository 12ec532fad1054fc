//! `umbra bench`: benchmarks that print a table. `umbra bench chain` measures signature
//! verification and block authoring/import; `umbra bench worker` measures attestation
//! verification, enclave block sync and the encrypted query round trip; with no subcommand both
//! run with their defaults.

mod analytics;
mod apps;
mod chain;
mod computation;
mod consensus;
mod contracts;
mod evm;
mod worker;

use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// Options of `umbra bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    which: Option<Which>,
}

#[derive(Debug, Subcommand)]
enum Which {
    /// Signature verification, block authoring and import.
    Chain(chain::ChainBenchArgs),
    /// Attestation verification, enclave sync, encrypted query round trip.
    Worker(worker::WorkerBenchArgs),
    /// Block import with many computing workers under heartbeat load.
    Computation(computation::ComputationBenchArgs),
    /// Confidential contract execution and replay.
    Contracts(contracts::ContractsBenchArgs),
    /// Confidential EVM: token transfers through the confidential path vs bare revm, replay.
    Evm(evm::EvmBenchArgs),
    /// BFT finality (malachite, N validator processes) vs one validator vs the single
    /// authority; light-client certificate verification.
    Consensus(consensus::ConsensusBenchArgs),
    /// Web analytics: page views ingested/s per worker, report latency at 1,000,000 views.
    Analytics(analytics::AnalyticsBenchArgs),
    /// Applications: private transfers of the private-assets app through the confidential path.
    Apps(apps::AppsBenchArgs),
}

/// One line of the table.
#[derive(Debug)]
pub(crate) struct Row(pub(crate) String, pub(crate) String);

pub(crate) fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn print(rows: Vec<Row>) {
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    println!("| {:width$} | {:>14} |", "benchmark", "result");
    println!("|{}|{}|", "-".repeat(width + 2), "-".repeat(16));
    for Row(name, value) in rows {
        println!("| {name:width$} | {value:>14} |");
    }
}

/// Runs the chosen benchmarks and prints the table.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let rows = match args.which {
        Some(Which::Chain(a)) => tokio::task::block_in_place(|| chain::run(&a))?,
        Some(Which::Worker(a)) => worker::run(&a).await?,
        Some(Which::Computation(a)) => tokio::task::block_in_place(|| computation::run(&a))?,
        Some(Which::Contracts(a)) => tokio::task::block_in_place(|| contracts::run(&a))?,
        Some(Which::Evm(a)) => tokio::task::block_in_place(|| evm::run(&a))?,
        Some(Which::Consensus(a)) => consensus::run(&a).await?,
        Some(Which::Analytics(a)) => tokio::task::block_in_place(|| analytics::run(&a))?,
        Some(Which::Apps(a)) => tokio::task::block_in_place(|| apps::run(&a))?,
        None => {
            let chain_args = chain::ChainBenchArgs::default();
            let mut rows = tokio::task::block_in_place(|| chain::run(&chain_args))?;
            rows.extend(worker::run(&worker::WorkerBenchArgs::default()).await?);
            let comp = computation::ComputationBenchArgs::default();
            rows.extend(tokio::task::block_in_place(|| computation::run(&comp))?);
            rows.extend(tokio::task::block_in_place(|| {
                contracts::run(&contracts::ContractsBenchArgs::default())
            })?);
            rows
        }
    };
    print(rows);
    Ok(())
}
