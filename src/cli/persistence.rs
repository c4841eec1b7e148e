//! `panic-tda persistence --experiment ID`: compute and store the persistence diagram of every finished run ×
//! text-embedding model of an experiment that has none yet.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use panic_tda::analysis::persistence::{PersistenceRequest, compute_persistence_diagrams};
use panic_tda::store::Store;

#[derive(Debug, Args)]
pub struct PersistenceArgs {
    /// Experiment id, unique prefix or `latest`.
    #[arg(long, default_value = "latest")]
    experiment: String,
    /// Embedding model (repeat for several); default: every model with text embeddings.
    #[arg(long = "model")]
    models: Vec<String>,
    /// Diagrams computed at once (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also compute runs that failed or were cancelled (resuming them later leaves their
    /// diagram stale).
    #[arg(long)]
    include_unfinished: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: PersistenceArgs, database: &Path) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(database)?;
    let cancel = super::cancel_on_ctrl_c(
        "cancelling (finished diagrams stay stored; Ctrl-C again to stop at once)…",
    )?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "diagrams [{bar:40}] {pos}/{len} {elapsed_precise} (eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    if args.json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let request = PersistenceRequest {
        embedding_models: (!args.models.is_empty()).then_some(args.models),
        threads: args.threads,
        include_unfinished: args.include_unfinished,
    };
    let summary = compute_persistence_diagrams(
        &mut store,
        &args.experiment,
        &request,
        &cancel,
        |progress| {
            bar.set_length(progress.total as u64);
            bar.set_position((progress.done + progress.failed) as u64);
            if progress.failed > 0 {
                bar.set_message(format!("{} failed", progress.failed));
            }
        },
    );
    let summary = match summary {
        Ok(summary) => summary,
        Err(error) => {
            bar.abandon();
            return Err(error.into());
        }
    };
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "experiment {} ({}): {} diagrams computed in {:.1} s, {} already stored",
            summary.experiment_id,
            summary.embedding_models.join(", "),
            summary.computed,
            summary.seconds,
            summary.already_stored
        );
        if summary.unfinished > 0 {
            println!(
                "skipped {} unfinished runs (--include-unfinished computes them)",
                summary.unfinished
            );
        }
        if summary.not_embedded > 0 {
            println!(
                "skipped {} runs whose texts are not all embedded (embed the experiment first)",
                summary.not_embedded
            );
        }
        for failure in &summary.failed {
            println!(
                "failed: run {} ({}): {}",
                failure.run_id, failure.embedding_model, failure.error
            );
        }
        if summary.cancelled {
            println!("cancelled; run the command again to continue");
        }
    }
    Ok(if summary.cancelled {
        ExitCode::from(130)
    } else if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
