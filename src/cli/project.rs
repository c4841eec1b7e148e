//! `project …` commands: compute, list and delete stored t-SNE projections.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use panic_tda::analysis::projection::{self, Origin, ProjectionScope};
use panic_tda::analysis::tsne::{self, LearningRate, Progress, Stage, TsneMethod, TsneParams};
use panic_tda::analysis::vectors;
use panic_tda::store::{Store, format_timestamp};

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Compute (or reuse) the t-SNE layout of one embedding model's vectors and store it.
    Run {
        /// Embedding model (default: the one with most embeddings in the scope).
        #[arg(long)]
        model: Option<String>,
        /// Experiment ids or unique prefixes (default: every experiment).
        #[arg(long, num_args = 1..)]
        experiments: Vec<String>,
        /// Project the experiments of this clustering result instead.
        #[arg(long, conflicts_with = "experiments")]
        clustering: Option<String>,
        #[command(flatten)]
        tsne: TsneArgs,
        /// Compute a new layout even if an equal one is stored.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Lay out your own vectors from a file (.npy float32/float64, or raw float32 with --dim)
    /// in 2-D with t-SNE (cosine geometry: rows are normalised) and write the layout; nothing
    /// is stored in the database.
    Vectors {
        /// Vectors, one per row: .npy (float32 or float64, 2-D) or raw little-endian float32.
        file: PathBuf,
        /// Layout file to write: .npy (n × 2 float32) or .csv (row,x,y).
        #[arg(long)]
        out: PathBuf,
        /// Dimension of each vector, for raw float32 files.
        #[arg(long)]
        dim: Option<usize>,
        #[command(flatten)]
        tsne: TsneArgs,
        /// Print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every stored projection.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a stored projection.
    Delete {
        /// Projection id or unique prefix.
        id: String,
    },
}

/// The t-SNE parameters both `project run` and `project vectors` take.
#[derive(Debug, clap::Args)]
pub struct TsneArgs {
    #[arg(long, default_value_t = 30.0)]
    perplexity: f32,
    /// Iterations after the 250 early-exaggeration iterations.
    #[arg(long, default_value_t = 500)]
    iterations: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// fitsne (ours, any size, streams and cancels) or barnes-hut (linfa-tsne, at most 5,000
    /// points).
    #[arg(long, value_enum, ignore_case = true, default_value_t = Method::Fitsne)]
    method: Method,
}

impl TsneArgs {
    fn params(&self) -> TsneParams {
        TsneParams {
            perplexity: self.perplexity,
            iterations: self.iterations,
            seed: self.seed,
            learning_rate: LearningRate::Auto,
            method: self.method.into(),
            ..TsneParams::default()
        }
    }
}

/// The t-SNE implementation, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    Fitsne,
    BarnesHut,
}

impl From<Method> for TsneMethod {
    fn from(method: Method) -> Self {
        match method {
            Method::Fitsne => TsneMethod::Fitsne,
            Method::BarnesHut => TsneMethod::BarnesHut,
        }
    }
}

pub fn run(command: ProjectCommand, database: &Path) -> anyhow::Result<ExitCode> {
    // Bring-your-own vectors need no database; everything else opens it.
    let command = match command {
        ProjectCommand::Vectors {
            file,
            out,
            dim,
            tsne,
            json,
        } => {
            let params = tsne.params();
            return project_vectors(&file, &out, dim, &params, json);
        }
        stored => stored,
    };
    let mut store =
        Store::open(database).with_context(|| format!("opening {}", database.display()))?;
    match command {
        ProjectCommand::Run {
            model,
            experiments,
            clustering,
            tsne,
            force,
            json,
        } => {
            let scope = match clustering {
                Some(id) => ProjectionScope::for_clustering(&store, &id)?,
                None => ProjectionScope::for_experiments(&store, &experiments)?,
            };
            let model = match model {
                Some(model) => model,
                None => projection::default_model(&store, &scope)?,
            };
            let params = tsne.params();
            let cancel = super::cancel_on_ctrl_c("stopping (press Ctrl-C again to quit at once)")?;
            let bar = stage_bar(json);
            let on_progress = |progress: Progress<'_>| show_progress(&bar, progress);
            let result = if force {
                projection::compute(&mut store, &model, &scope, &params, &cancel, 0, on_progress)
                    .map(|record| (record, Origin::Computed))
            } else {
                projection::compute_or_reuse(
                    &mut store,
                    &model,
                    &scope,
                    &params,
                    &cancel,
                    0,
                    on_progress,
                )
            };
            bar.finish_and_clear();
            let (record, origin) = match result {
                Err(projection::ProjectionError::Tsne(
                    panic_tda::analysis::tsne::TsneError::Cancelled,
                )) => {
                    eprintln!("cancelled; nothing stored");
                    return Ok(ExitCode::from(130));
                }
                other => other?,
            };
            if json {
                let value = serde_json::json!({ "origin": origin, "projection": record });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                let verb = match origin {
                    Origin::Reused => "reused stored",
                    Origin::Computed => "stored",
                };
                println!(
                    "{verb} projection {} ({} points, model {})",
                    record.id, record.points, record.embedding_model
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ProjectCommand::List { json } => {
            let projections = projection::list(&store)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&projections)?);
            } else if projections.is_empty() {
                println!("no projections");
            } else {
                println!(
                    "{:<32}  {:<19}  {:<24}  {:>8}  {:<18}  {:>10}  experiments",
                    "id", "created (UTC)", "model", "points", "method", "perplexity"
                );
                for p in projections {
                    println!(
                        "{:<32}  {:<19}  {:<24}  {:>8}  {:<18}  {:>10}  {}",
                        p.id,
                        format_timestamp(p.created_at),
                        p.embedding_model,
                        p.points,
                        p.parameters.method.label(),
                        p.parameters.perplexity,
                        p.scope
                            .experiments()
                            .iter()
                            .map(|id| panic_tda::store::short_id(id, 8))
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ProjectCommand::Delete { id } => {
            let id = projection::delete(&mut store, &id)?;
            println!("deleted projection {id}");
            Ok(ExitCode::SUCCESS)
        }
        ProjectCommand::Vectors { file, .. } => {
            anyhow::bail!(
                "internal: vectors command for {} reached the store",
                file.display()
            )
        }
    }
}

fn stage_bar(json: bool) -> ProgressBar {
    if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        )
    }
}

fn show_progress(bar: &ProgressBar, progress: Progress<'_>) {
    bar.set_prefix(match progress.stage {
        Stage::Neighbours => "neighbours",
        Stage::Affinities => "affinities",
        Stage::Optimising => "layout",
    });
    bar.set_length(progress.total as u64);
    bar.set_position(progress.done as u64);
}

fn project_vectors(
    file: &Path,
    out: &Path,
    dim: Option<usize>,
    params: &TsneParams,
    json: bool,
) -> anyhow::Result<ExitCode> {
    vectors::check_output(out)?;
    let input = vectors::read_vectors(file, dim)?;
    let rows: Vec<&[f32]> = input.rows().collect();
    let cancel = super::cancel_on_ctrl_c("stopping (no file is written; Ctrl-C again to quit)")?;
    let bar = stage_bar(json);
    let started = std::time::Instant::now();
    let result = tsne::layout_with_progress(&rows, params, &cancel, 0, |progress| {
        show_progress(&bar, progress)
    });
    bar.finish_and_clear();
    let layout = match result {
        Err(tsne::TsneError::Cancelled) => {
            eprintln!("cancelled; no file was written");
            return Ok(ExitCode::from(130));
        }
        other => other?,
    };
    let seconds = started.elapsed().as_secs_f64();
    vectors::write_layout(out, &layout)?;
    if json {
        let value = serde_json::json!({
            "rows": rows.len(),
            "dim": input.dim,
            "seconds": seconds,
            "parameters": params,
            "layout": out,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "laid out {} vectors of dimension {} in {seconds:.1} s; layout written to {}",
            rows.len(),
            input.dim,
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
