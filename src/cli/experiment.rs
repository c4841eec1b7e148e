//! `experiment …` and `runs …` commands.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use panic_tda::config;
use panic_tda::engine::{self, EngineOptions, ProgressEvent, Stage};
use panic_tda::models::ModelProvider;
use panic_tda::progress::human_duration;
use panic_tda::store::{ExperimentStatus, Store, format_timestamp};

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Validate a config, store it and run it to the end (Ctrl-C stops cleanly; resume continues).
    Run {
        /// Experiment config (JSON).
        config: PathBuf,
        /// Most inputs per model call.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Only validate the config and print the plan.
        #[arg(long)]
        dry_run: bool,
        /// Run only part I of N of the plan (0-based, e.g. `--shard $SLURM_ARRAY_TASK_ID/8`);
        /// every shard gets the same experiment and run ids, `db merge` combines them.
        #[arg(long)]
        shard: Option<engine::Shard>,
    },
    /// Continue an experiment exactly where it stopped.
    Resume {
        /// Experiment id or unique prefix (or `latest`).
        id: String,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
    },
    /// Progress, stop reasons, embeddings and ETA of an experiment.
    Status {
        /// Experiment id or unique prefix, or `latest`.
        #[arg(default_value = "latest")]
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Every experiment in the database.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete an experiment and everything that belongs to it.
    Delete {
        id: String,
        /// Don't ask for confirmation.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// The runs of one experiment (default: the latest).
    List {
        #[arg(long, default_value = "latest")]
        experiment: String,
        #[arg(long)]
        json: bool,
    },
}

fn open(db: &Path) -> anyhow::Result<Store> {
    Ok(Store::open(db)?)
}

pub fn run_experiment_command(
    command: ExperimentCommand,
    db: &Path,
    models: Box<dyn ModelProvider>,
) -> anyhow::Result<ExitCode> {
    match command {
        ExperimentCommand::Run {
            config: path,
            batch_size,
            dry_run,
            shard,
        } => {
            let raw = config::load(&path)?;
            let validated = config::validate(&raw, models.as_ref())?;
            if dry_run {
                println!(
                    "{}: valid; {} runs ({} networks × {} prompts × {} seeds), up to {} invocations",
                    path.display(),
                    validated.run_count(),
                    validated.networks().len(),
                    validated.prompts().len(),
                    validated.seeds().len(),
                    validated.run_count() as u64 * u64::from(validated.max_length())
                );
                for (n, network) in validated.networks().iter().enumerate() {
                    println!("  network {n}: {}", network.join(" → "));
                }
                println!(
                    "  embedding models: {}",
                    validated.embedding_models().join(", ")
                );
                return Ok(ExitCode::SUCCESS);
            }
            let mut store = open(db)?;
            let id = match shard {
                Some(shard) => {
                    let id = engine::shared_experiment_id(&validated);
                    engine::create_shard(&mut store, &validated, &id, shard)?;
                    println!(
                        "experiment {id}, shard {shard}: {} of {} runs",
                        store.runs(&id)?.len(),
                        validated.run_count()
                    );
                    id
                }
                None => {
                    let id = engine::create_experiment(&mut store, &validated)?;
                    println!("experiment {id} created ({} runs)", validated.run_count());
                    id
                }
            };
            execute(store, models, id, batch_size)
        }
        ExperimentCommand::Resume { id, batch_size } => {
            let store = open(db)?;
            let id = store.resolve_experiment(&id)?;
            execute(store, models, id, batch_size)
        }
        ExperimentCommand::Status { id, json } => {
            let store = open(db)?;
            let id = store.resolve_experiment(&id)?;
            let report = engine::status_with_models(&store, &id, Some(models.as_ref()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_status(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
        ExperimentCommand::List { json } => {
            let store = open(db)?;
            let experiments = store.list_experiments()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&experiments)?);
                return Ok(ExitCode::SUCCESS);
            }
            if experiments.is_empty() {
                println!("no experiments in {}", db.display());
            }
            println!(
                "{:<12} {:<10} {:<19} {:>6} {:>9} {:>11} {:>10}",
                "ID", "STATUS", "CREATED (UTC)", "RUNS", "FINISHED", "INVOCATIONS", "EMBEDDINGS"
            );
            for summary in experiments {
                println!(
                    "{:<12} {:<10} {:<19} {:>6} {:>9} {:>11} {:>10}",
                    panic_tda::store::short_id(&summary.record.id, 12),
                    summary.record.status,
                    format_timestamp(summary.record.created_at),
                    summary.runs,
                    summary.runs_stopped,
                    summary.invocations,
                    summary.embeddings
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ExperimentCommand::Delete { id, force } => {
            let mut store = open(db)?;
            let id = store.resolve_experiment(&id)?;
            let preview = store.experiment_delete_preview(&id)?;
            println!(
                "experiment {id}: {} runs, {} invocations, {} embeddings, {} cluster assignments will be deleted",
                preview.runs, preview.invocations, preview.embeddings, preview.cluster_assignments
            );
            if !force {
                if !std::io::stdin().is_terminal() {
                    bail!(
                        "not deleting without confirmation; pass --force to delete non-interactively"
                    );
                }
                print!("delete it? [y/N] ");
                std::io::stdout().flush()?;
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    println!("nothing deleted");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            store.delete_experiment(&id)?;
            println!("deleted");
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn run_runs_command(command: RunsCommand, db: &Path) -> anyhow::Result<ExitCode> {
    match command {
        RunsCommand::List { experiment, json } => {
            let store = open(db)?;
            let id = store.resolve_experiment(&experiment)?;
            let runs = store.runs(&id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<12} {:<28} {:>6} {:<30} STOP",
                "RUN", "NETWORK", "SEED", "PROMPT"
            );
            for run in runs {
                let prompt: String = run.initial_prompt.chars().take(30).collect();
                println!(
                    "{:<12} {:<28} {:>6} {:<30} {}",
                    panic_tda::store::short_id(&run.id, 12),
                    run.network.join(" → "),
                    run.seed,
                    prompt,
                    run.stop
                        .map_or("unfinished".into(), |stop| stop.to_string())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_status(report: &engine::ExperimentStatusReport) {
    println!("experiment {}", report.id);
    println!("  status:      {}", report.status);
    println!("  created:     {} UTC", format_timestamp(report.created_at));
    if let (Some(started), Some(completed)) = (report.started_at, report.completed_at) {
        println!(
            "  took:        {}",
            human_duration((completed - started) as f64 / 1e6)
        );
    }
    println!(
        "  runs:        {} ({} reached max length, {} stopped in a loop, {} failed, {} cancelled, {} unfinished)",
        report.runs,
        report.runs_length,
        report.runs_duplicate,
        report.runs_failed,
        report.runs_cancelled,
        report.runs_unfinished
    );
    let percent = if report.invocations_expected == 0 {
        100.0
    } else {
        100.0 * report.invocations_done as f64 / report.invocations_expected as f64
    };
    println!(
        "  invocations: {}/{} ({percent:.1} %)",
        report.invocations_done, report.invocations_expected
    );
    if let Some(eta) = report.eta_seconds
        && report.invocations_done < report.invocations_expected
    {
        println!("  remaining:   about {}", human_duration(eta));
    }
    for embedding in &report.embeddings {
        println!(
            "  embeddings:  {} ({}): {}/{}",
            embedding.model, embedding.modality, embedding.done, embedding.total
        );
    }
    for failure in &report.failures {
        println!("  failure:     {failure}");
    }
}

/// Runs the engine on a worker thread and renders its progress here; the first Ctrl-C cancels
/// after the current batch, a second exits at once (the database stays resumable either way).
fn execute(
    mut store: Store,
    models: Box<dyn ModelProvider>,
    id: String,
    batch_size: usize,
) -> anyhow::Result<ExitCode> {
    let cancel = panic_tda::progress::cancel_on_ctrl_c(
        "stopping after the current batch (Ctrl-C again to stop at once)…",
        Some("stopping now; `panic-tda experiment resume` continues from the last stored batch"),
    )
    .context("installing the Ctrl-C handler")?;
    let (sender, receiver) = mpsc::channel();
    let options = EngineOptions {
        batch_size,
        ..EngineOptions::default()
    };
    let worker_id = id.clone();
    let worker_cancel = cancel.clone();
    let worker = std::thread::spawn(move || {
        engine::run_experiment(
            &mut store,
            models.as_ref(),
            &worker_id,
            options,
            &sender,
            &worker_cancel,
        )
    });

    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let invocations = bars.add(
        ProgressBar::new(0)
            .with_style(style.clone())
            .with_prefix("invocations"),
    );
    let mut embedding_bars: Vec<(String, ProgressBar)> = Vec::new();
    loop {
        match receiver.recv_timeout(Duration::from_millis(200)) {
            Ok(ProgressEvent::Started {
                invocations_total,
                invocations_done,
                runs,
                ..
            }) => {
                invocations.set_length(invocations_total);
                invocations.set_position(invocations_done);
                invocations.set_message(format!("{runs} runs"));
            }
            Ok(ProgressEvent::Stage(Stage::Generating { network, .. })) => {
                let _ = bars.println(format!("generating: {}", network.join(" → ")));
            }
            Ok(ProgressEvent::Stage(Stage::Embedding { model })) => {
                if !embedding_bars.iter().any(|(name, _)| *name == model) {
                    let bar = bars.add(
                        ProgressBar::new(0)
                            .with_style(style.clone())
                            .with_prefix(model.clone()),
                    );
                    embedding_bars.push((model, bar));
                }
            }
            Ok(ProgressEvent::Invocations {
                done,
                total,
                runs_finished,
                runs,
                eta_seconds,
            }) => {
                invocations.set_length(total);
                invocations.set_position(done);
                invocations.set_message(format!(
                    "{runs_finished}/{runs} runs done, ~{} left",
                    human_duration(eta_seconds)
                ));
            }
            Ok(ProgressEvent::Embeddings { model, done, total }) => {
                if let Some((_, bar)) = embedding_bars.iter().find(|(name, _)| *name == model) {
                    bar.set_length(total);
                    bar.set_position(done);
                }
            }
            Ok(ProgressEvent::Warning(message)) => {
                let _ = bars.println(format!("warning: {message}"));
            }
            Ok(ProgressEvent::Finished(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Ok(ProgressEvent::Latest { .. } | ProgressEvent::Timing { .. })
            | Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    invocations.finish();
    for (_, bar) in &embedding_bars {
        bar.finish();
    }
    let outcome = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the engine thread panicked"))??;
    match outcome.status {
        ExperimentStatus::Completed => {
            println!("experiment {id} completed");
            Ok(ExitCode::SUCCESS)
        }
        ExperimentStatus::Cancelled => {
            println!("experiment {id} cancelled; continue with: panic-tda experiment resume {id}");
            Ok(ExitCode::from(130))
        }
        status => {
            println!(
                "experiment {id} {status}: {} runs failed (see `panic-tda experiment status {id}`); retry them with: panic-tda experiment resume {id}",
                outcome.failed_runs
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
