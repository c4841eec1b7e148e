//! Command-line front end: argument parsing and output formatting only; every command is a call
//! into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use panic_tda::paths::AppPaths;

mod project;

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
    /// Compute, list and delete stored t-SNE projections.
    Project {
        #[command(subcommand)]
        command: project::ProjectCommand,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
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
    match cli.command.unwrap_or(Command::Gui) {
        Command::Gui => {
            if let Some(parent) = database.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            panic_tda::gui::run(panic_tda::gui::AppOptions { database, paths })
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
        Command::Project { command } => project::run(command, &database),
    }
}
