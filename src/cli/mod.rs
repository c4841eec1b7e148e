//! Command-line front end: argument parsing and output formatting only; every command is a call
//! into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use panic_tda::models::onnx::DevicePreference;
use panic_tda::models::provider::{CatalogProvider, ProviderOptions};
use panic_tda::paths::AppPaths;

mod analyse;
mod cluster;
mod db;
mod experiment;
mod export;
mod models;
mod persistence;
mod project;
mod slurm;

#[derive(Debug, Parser)]
#[command(
    name = "panic-tda",
    version,
    about = "Run generative-AI feedback loops, embed and cluster their outputs, explore and export the trajectories",
    long_about = None
)]
struct Cli {
    /// SQLite database to use (default: panic-tda.sqlite in the user data directory).
    #[arg(long, global = true, env = "PANIC_TDA_DB")]
    db: Option<PathBuf>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Where models run: auto (CUDA if its provider loads, else CPU), cuda, tensorrt or cpu.
    #[arg(long, global = true, value_enum, ignore_case = true, default_value_t = DevicePreference::Auto, env = "PANIC_TDA_DEVICE")]
    device: DevicePreference,
    /// Never download model files; use only what is already in the model cache.
    #[arg(long, global = true)]
    offline: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the desktop app (the default when no command is given).
    Gui,
    /// Show what was found: ONNX Runtime, execution providers, FFmpeg encoders, paths.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create, run, resume, inspect and delete experiments.
    Experiment {
        #[command(subcommand)]
        command: experiment::ExperimentCommand,
    },
    /// Run one experiment as a Slurm job array and merge the shards.
    Slurm {
        #[command(subcommand)]
        command: slurm::SlurmCommand,
    },
    /// Inspect runs.
    Runs {
        #[command(subcommand)]
        command: experiment::RunsCommand,
    },
    /// List and download models.
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Embed texts (or images with --image) and print the vectors.
    Embed(models::EmbedArgs),
    /// Export data: a subset as SQLite, tables as Parquet, a run's images as PNG.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Check the database for inconsistencies (exit code 1 when problems remain).
    Doctor(db::DoctorArgs),
    /// Import a database written by the old Python panic-tda.
    ImportDb(db::ImportDbArgs),
    /// Cluster stored embeddings (HDBSCAN); list, show and delete results.
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Compute, list and delete stored t-SNE projections.
    Project {
        #[command(subcommand)]
        command: project::ProjectCommand,
    },
    /// Export mosaic videos, timeline images and t-SNE map figures.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Trajectory analyses of one experiment: tables (CSV/JSON) and charts (PNG/SVG/PDF).
    #[command(alias = "analyze")]
    Analyse(analyse::AnalyseArgs),
    /// Compute and store persistence diagrams (H0–H2) and entropy of an experiment's runs.
    Persistence(persistence::PersistenceArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe_error(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message before it
/// already contains (library errors often quote their source, so `{:#}` would say it twice).
pub(crate) fn describe_error(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn init_tracing(verbose: u8) {
    // usvg reads the SVG we write for PDF charts; its notes on that SVG (zero-height bars of
    // empty categories, skipped) are not the user's concern.
    let default = match verbose {
        0 => "warn,usvg=error",
        1 => "info,usvg=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let paths = AppPaths::from_env()?;
    let database = cli.db.clone().unwrap_or_else(|| paths.default_database());
    let provider_options = ProviderOptions {
        device: cli.device,
        offline: cli.offline,
        threads: 0,
    };
    let provider = || -> Box<dyn panic_tda::models::ModelProvider> {
        Box::new(CatalogProvider::new(paths.clone(), provider_options))
    };
    match cli.command.unwrap_or(Command::Gui) {
        Command::Experiment { command } => {
            experiment::run_experiment_command(command, &database, provider())
        }
        Command::Runs { command } => experiment::run_runs_command(command, &database),
        Command::Slurm { command } => slurm::run_slurm(command, provider().as_ref()),
        Command::Gui => {
            if let Some(parent) = database.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            panic_tda::gui::run(panic_tda::gui::AppOptions {
                database,
                database_chosen: cli.db.is_some(),
                paths,
                models: None,
                provider: provider_options,
            })
            .map_err(|e| anyhow::anyhow!("the app window failed: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Info { json } => {
            let report = panic_tda::info::gather(&paths, database);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            let healthy = report.onnxruntime.is_ok() && report.ffmpeg.is_ok();
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Models { command } => models::run_models(command, &paths, provider_options),
        Command::Embed(args) => models::run_embed(args, &paths, provider_options),
        Command::Db(command) => db::run_db(command, &database),
        Command::Doctor(args) => db::run_doctor(args, &database),
        Command::ImportDb(args) => db::run_import_db(args, &database),
        Command::Cluster { command } => cluster::run_cluster_command(command, &database),
        Command::Project { command } => project::run(command, &database),
        Command::Export(command) => export::run_export(command, &database),
        Command::Analyse(args) => analyse::run(args, &database),
        Command::Persistence(args) => persistence::run(args, &database),
    }
}

/// A flag the first Ctrl-C sets (after printing `message`); a second Ctrl-C exits at once.
pub(crate) fn cancel_on_ctrl_c(
    message: &'static str,
) -> anyhow::Result<panic_tda::progress::CancelToken> {
    panic_tda::progress::cancel_on_ctrl_c(message, None).context("installing the Ctrl-C handler")
}
