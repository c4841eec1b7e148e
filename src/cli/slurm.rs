//! `slurm submit` and `slurm status`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use panic_tda::config as experiment_config;
use panic_tda::engine;
use panic_tda::models::ModelProvider;
use panic_tda::slurm::{self, ArrayJob};
use panic_tda::store::Store;

#[derive(Debug, Subcommand)]
pub enum SlurmCommand {
    /// Write and submit an `sbatch --array` job (one shard per task, each on its own GPU,
    /// resumable on requeue) and a merge job that runs when all shards succeeded.
    Submit {
        config: PathBuf,
        #[arg(long)]
        shards: u32,
        /// Folder (on a filesystem every node sees) for shard databases, logs and the result.
        #[arg(long, default_value = "panic-tda-slurm")]
        dir: PathBuf,
        #[arg(long)]
        partition: Option<String>,
        #[arg(long, default_value = "gpu:1")]
        gres: String,
        #[arg(long)]
        time: Option<String>,
        /// Extra sbatch option, e.g. `--sbatch=--account=abc` (repeatable).
        #[arg(long = "sbatch")]
        extra: Vec<String>,
        /// Only write the scripts.
        #[arg(long)]
        dry_run: bool,
    },
    /// The array's task states and each shard's progress.
    Status {
        #[arg(default_value = "panic-tda-slurm")]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn absolute(path: PathBuf) -> anyhow::Result<PathBuf> {
    std::path::absolute(&path).with_context(|| format!("resolving {}", path.display()))
}

pub fn run_slurm(command: SlurmCommand, models: &dyn ModelProvider) -> anyhow::Result<ExitCode> {
    match command {
        SlurmCommand::Submit {
            config,
            shards,
            dir,
            partition,
            gres,
            time,
            extra,
            dry_run,
        } => {
            // A config the shards would reject fails here, not after waiting in the queue.
            let raw = experiment_config::load(&config)?;
            let validated = experiment_config::validate(&raw, models)?;
            if validated.run_count() < shards as usize {
                eprintln!(
                    "note: {shards} shards for {} runs; the extra shards have nothing to do",
                    validated.run_count()
                );
            }
            let job = ArrayJob {
                binary: std::env::current_exe().context("finding the panic-tda binary")?,
                config: absolute(config)?,
                dir: absolute(dir)?,
                shards,
                partition,
                gres: Some(gres).filter(|gres| !gres.is_empty()),
                time,
                extra,
            };
            if dry_run {
                let (array, merge) = job.write_scripts()?;
                println!("wrote {} and {}", array.display(), merge.display());
                return Ok(ExitCode::SUCCESS);
            }
            let submission = job.submit()?;
            println!(
                "submitted array job {} ({} shards) and merge job {}; the merged database will be {}",
                submission.array_job_id,
                shards,
                submission.merge_job_id,
                job.merged_database().display()
            );
            println!(
                "follow it with: panic-tda slurm status {}",
                job.dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        SlurmCommand::Status { dir, json } => {
            let submission = slurm::load_submission(&dir)?;
            let states = slurm::job_states(&submission).unwrap_or_else(|error| {
                eprintln!("warning: {error}");
                Vec::new()
            });
            let mut shards = Vec::new();
            for index in 0..submission.job.shards {
                let path = submission.job.shard_database(index);
                let progress = if path.is_file() {
                    Store::open(&path)
                        .ok()
                        .and_then(|store| {
                            let id = store.resolve_experiment("latest").ok()?;
                            engine::status(&store, &id).ok()
                        })
                        .map(|report| {
                            (
                                report.invocations_done,
                                report.invocations_expected,
                                report.runs_unfinished,
                            )
                        })
                } else {
                    None
                };
                shards.push((index, progress));
            }
            if json {
                let shards: Vec<_> = shards
                    .iter()
                    .map(|(index, progress)| {
                        serde_json::json!({
                            "shard": index,
                            "invocations_done": progress.map(|p| p.0),
                            "invocations_expected": progress.map(|p| p.1),
                            "runs_unfinished": progress.map(|p| p.2),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "jobs": states, "shards": shards })
                    )?
                );
                return Ok(ExitCode::SUCCESS);
            }
            if states.is_empty() {
                println!(
                    "array job {}, merge job {}: Slurm reports no state (no accounting, and the controller has forgotten them)",
                    submission.array_job_id, submission.merge_job_id
                );
            }
            for state in &states {
                println!("{:<20} {}", state.job_id, state.state);
            }
            for (index, progress) in shards {
                match progress {
                    Some((done, expected, unfinished)) => {
                        println!(
                            "shard {index}: {done}/{expected} invocations, {unfinished} runs unfinished"
                        )
                    }
                    None => println!("shard {index}: not started"),
                }
            }
            let merged = submission.job.merged_database();
            if merged.is_file() {
                println!("merged: {}", merged.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
