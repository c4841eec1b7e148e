//! Database commands: `doctor`, `import-db` and `db export|export-parquet|export-images`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use panic_tda::store::{Store, doctor, export, import};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy experiments (with their runs, outputs, embeddings, diagrams, and the clusterings
    /// and projections that cover only them) into a new SQLite file.
    Export {
        /// The new database file (must not exist).
        out: PathBuf,
        /// Experiment id, unique prefix or `latest`; repeat for several.
        #[arg(long = "experiment", required = true)]
        experiments: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write experiments' tables as Parquet files into a folder (no image bytes).
    ExportParquet {
        dir: PathBuf,
        #[arg(long = "experiment", required = true)]
        experiments: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Merge the shard databases of one experiment (`experiment run --shard I/N`) into OUT
    /// exactly: no duplicates, nothing lost; merging again changes nothing; conflicting shards
    /// are refused. OUT is created if missing.
    Merge {
        out: PathBuf,
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Write a run's images as PNG files (metadata in text chunks) plus a run.json sidecar.
    ExportImages {
        dir: PathBuf,
        /// Run id or unique prefix.
        #[arg(long)]
        run: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check only this experiment (id, unique prefix or `latest`); orphans are checked only
    /// for the whole database.
    #[arg(long)]
    experiment: Option<String>,
    /// Repair what can be repaired without losing good data.
    #[arg(long)]
    fix: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ImportDbArgs {
    /// A database written by the old Python panic-tda.
    old: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Opens a database that must already exist (checking or exporting never creates one).
fn open_existing(store_path: &Path) -> anyhow::Result<Store> {
    if !store_path.exists() {
        anyhow::bail!("no database at {}", store_path.display());
    }
    Ok(Store::open(store_path)?)
}

fn resolve(store: &Store, experiments: &[String]) -> anyhow::Result<Vec<String>> {
    experiments
        .iter()
        .map(|id| Ok(store.resolve_experiment(id)?))
        .collect()
}

pub fn run_db(command: DbCommand, store_path: &Path) -> anyhow::Result<ExitCode> {
    match command {
        DbCommand::Merge { out, shards, json } => {
            let mut store = panic_tda::store::Store::open(&out)?;
            let summary = store.merge_shards(&shards)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "merged {} shard(s) of experiment {} into {}: {} runs ({} finished)",
                    summary.shards,
                    summary.experiment_id,
                    out.display(),
                    summary.runs,
                    summary.runs_finished
                );
                for (table, rows) in &summary.added {
                    println!("  added {rows:>8} {table} rows");
                }
            }
        }

        DbCommand::Export {
            out,
            experiments,
            json,
        } => {
            let store = open_existing(store_path)?;
            let ids = resolve(&store, &experiments)?;
            let summary = export::export_subset(&store, &out, &ids)
                .with_context(|| format!("exporting to {}", out.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!("wrote {}", out.display());
                for (table, rows) in &summary.tables {
                    println!("  {table:<24} {rows}");
                }
            }
        }
        DbCommand::ExportParquet {
            dir,
            experiments,
            json,
        } => {
            let store = open_existing(store_path)?;
            let ids = resolve(&store, &experiments)?;
            let files = export::export_parquet(&store, &dir, &ids)?;
            if json {
                let list: Vec<_> = files
                    .iter()
                    .map(|(path, rows)| serde_json::json!({ "file": path, "rows": rows }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for (path, rows) in &files {
                    println!("{}  ({rows} rows)", path.display());
                }
            }
        }
        DbCommand::ExportImages { dir, run, json } => {
            let store = open_existing(store_path)?;
            let run_id = store.resolve_run(&run)?;
            let files = export::export_run_images(&store, &run_id, &dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&files)?);
            } else {
                println!("wrote {} files to {}", files.len(), dir.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_doctor(args: DoctorArgs, store_path: &Path) -> anyhow::Result<ExitCode> {
    let mut store = open_existing(store_path)?;
    let experiment = args
        .experiment
        .as_deref()
        .map(|id| store.resolve_experiment(id))
        .transpose()?;
    let (report, actions) = if args.fix {
        let fixed = doctor::fix(&mut store, experiment.as_deref())?;
        (fixed.after, Some(fixed.actions))
    } else {
        (doctor::check(&store, experiment.as_deref())?, None)
    };
    if args.json {
        let json = serde_json::json!({ "fixed": actions, "report": report });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        if let Some(actions) = &actions {
            println!("{} repair(s) made", actions.len());
            for action in actions {
                println!("  {}", serde_json::to_string(action)?);
            }
        }
        println!(
            "checked {} runs, {} invocations, {} embeddings",
            report.runs_checked, report.invocations_checked, report.embeddings_checked
        );
        const SHOWN: usize = 50;
        for issue in report.issues.iter().take(SHOWN) {
            let tag = match issue.severity {
                doctor::Severity::Info => "info",
                doctor::Severity::Problem => "PROBLEM",
            };
            println!("  [{tag}] {}", issue.kind);
        }
        if report.issues.len() > SHOWN {
            println!(
                "  … and {} more (use --json for all)",
                report.issues.len() - SHOWN
            );
        }
        let problems = report.problems().count();
        if problems == 0 {
            println!("no problems found");
        } else if !args.fix {
            println!("{problems} problem(s); run with --fix to repair them");
        } else {
            println!("{problems} problem(s) remain");
        }
    }
    Ok(if report.is_healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn run_import_db(args: ImportDbArgs, store_path: &Path) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(store_path)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} runs ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("importing");
    let summary = import::import_old_database(&mut store, &args.old, &mut |progress| {
        bar.set_length(progress.runs_total);
        bar.set_position(progress.runs_done);
    })
    .with_context(|| format!("importing {}", args.old.display()))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "imported {} experiments, {} runs, {} invocations, {} embeddings into {}",
            summary.experiments,
            summary.runs,
            summary.invocations,
            summary.embeddings,
            store_path.display()
        );
        let skipped = [
            (
                "runs without an experiment",
                summary.skipped_runs_without_experiment,
            ),
            (
                "invocations (gap, duplicate, missing or bad output)",
                summary.skipped_invocations,
            ),
            (
                "embeddings with a null vector",
                summary.skipped_null_vectors,
            ),
            (
                "embeddings with a malformed or non-finite vector",
                summary.skipped_bad_vectors,
            ),
            (
                "other embeddings (of skipped steps, duplicates)",
                summary.skipped_other_embeddings,
            ),
            (
                "persistence diagrams (recompute them)",
                summary.not_imported_diagrams,
            ),
            (
                "clusterings (recompute them)",
                summary.not_imported_clusterings,
            ),
        ];
        for (what, count) in skipped.iter().filter(|(_, count)| *count > 0) {
            println!("  skipped {count} {what}");
        }
        if summary.unreadable_timestamps > 0 {
            println!(
                "  {} timestamps were not readable dates; those rows kept their other time (or the epoch), so durations involving them are wrong",
                summary.unreadable_timestamps
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
