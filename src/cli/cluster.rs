//! `panic-tda cluster …`: run HDBSCAN over stored embeddings, list, show and delete results.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use panic_tda::analysis::clustering::{
    self, ClusterRequest, ClusteringOverview, delete_all_clusterings, delete_clustering,
    list_clusterings, run_clustering, show_clustering,
};
use panic_tda::analysis::hdbscan::{
    Control, HdbscanError, HdbscanParams, Phase, Selection, hdbscan,
};
use panic_tda::analysis::knn::Points;
use panic_tda::analysis::vectors;
use panic_tda::store::{Store, format_timestamp};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Cluster the embeddings of one model with HDBSCAN and store the result.
    Run(RunArgs),
    /// Cluster your own vectors from a file (.npy float32/float64, or raw float32 with --dim)
    /// and write one int32 label per row (−1 = outlier); nothing is stored in the database.
    Vectors(VectorArgs),
    /// List stored clustering results.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one result's clusters, largest first.
    Show {
        /// Result id or unique prefix.
        id: String,
        /// How many clusters to show.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Delete one clustering result (or all with --all); embeddings are untouched.
    Delete {
        /// Result id or unique prefix.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Method {
    Eom,
    Leaf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Embedding model (default: the one with the most embeddings).
    #[arg(long)]
    model: Option<String>,
    /// Only these experiments' embeddings (ids or unique prefixes); default: all.
    #[arg(long, num_args = 1..)]
    experiments: Vec<String>,
    /// Smallest cluster (default: max(15, 0.1 % of the embeddings)).
    #[arg(long)]
    min_cluster_size: Option<usize>,
    /// Neighbourhood size for core distances, counting the point (default: max(15, 0.1 % of the
    /// embeddings)).
    #[arg(long)]
    min_samples: Option<usize>,
    /// Merge clusters closer than this Euclidean distance on unit vectors (default 0.4).
    #[arg(long)]
    epsilon: Option<f64>,
    /// Cluster selection: excess of mass or leaves.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Method::Eom)]
    method: Method,
    /// Allow the whole data set to be one cluster.
    #[arg(long)]
    allow_single_cluster: bool,
    /// Cluster a random sample of at most N embeddings.
    #[arg(long)]
    downsample: Option<usize>,
    /// Seed for the sample and medoid sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct VectorArgs {
    /// Vectors, one per row: .npy (float32 or float64, 2-D) or raw little-endian float32.
    file: PathBuf,
    /// Labels file to write: .npy (int32) or .csv (row,label).
    #[arg(long)]
    out: PathBuf,
    /// Dimension of each vector, for raw float32 files.
    #[arg(long)]
    dim: Option<usize>,
    /// Smallest cluster (default: max(15, 0.1 % of the rows)).
    #[arg(long)]
    min_cluster_size: Option<usize>,
    /// Neighbourhood size for core distances, counting the point itself as scikit-learn does
    /// (Python hdbscan's min_samples is one less); default: the min cluster size.
    #[arg(long)]
    min_samples: Option<usize>,
    /// Merge clusters closer than this Euclidean distance (default 0, as Python hdbscan).
    #[arg(long, default_value_t = 0.0)]
    epsilon: f64,
    /// Cluster selection: excess of mass or leaves.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Method::Eom)]
    method: Method,
    /// Allow the whole data set to be one cluster.
    #[arg(long)]
    allow_single_cluster: bool,
    /// Scale every row to unit length first (cosine geometry, as for stored embeddings).
    #[arg(long)]
    normalise: bool,
    /// Seed for medoid sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run_cluster_command(command: ClusterCommand, database: &Path) -> anyhow::Result<ExitCode> {
    // Bring-your-own vectors need no database; everything else opens it.
    let command = match command {
        ClusterCommand::Vectors(args) => return cluster_vectors(args),
        stored => stored,
    };
    let mut store = Store::open(database)?;
    match command {
        ClusterCommand::Vectors(args) => cluster_vectors(args),
        ClusterCommand::Run(args) => run(&mut store, args),
        ClusterCommand::List { json } => {
            let results = list_clusterings(&store)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else if results.is_empty() {
                println!("no clustering results");
            } else {
                print_list(&results);
            }
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Show { id, limit, json } => {
            let detail = show_clustering(&store, &id, Some(limit))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
                return Ok(ExitCode::SUCCESS);
            }
            let summary = &detail.summary;
            println!("clustering {}", summary.id);
            println!("model:      {}", summary.embedding_model);
            println!("algorithm:  {} {}", summary.algorithm, summary.parameters);
            println!("scope:      {}", summary.scope);
            println!(
                "created:    {} ({:.1} s)",
                format_timestamp(summary.created_at),
                summary.duration_ms as f64 / 1000.0
            );
            println!(
                "clusters:   {}, {} embeddings, {} outliers ({:.1} %)",
                summary.cluster_count,
                summary.assignments,
                summary.outliers,
                100.0 * summary.outlier_fraction()
            );
            println!("\nTop {} clusters by size:", detail.clusters.len());
            for (rank, cluster) in detail.clusters.iter().enumerate() {
                let share = 100.0 * cluster.size as f64 / summary.assignments.max(1) as f64;
                println!(
                    "{:>3}. [{:>3}] {:<60} {:>7} ({share:.1} %)",
                    rank + 1,
                    cluster.label,
                    shorten(&cluster.display_name, 60),
                    cluster.size
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Delete { id, all, force } => {
            let what = match &id {
                Some(id) => format!("clustering result {id}"),
                None => "ALL clustering results".to_owned(),
            };
            if !force {
                if !std::io::stdin().is_terminal() {
                    anyhow::bail!(
                        "not deleting without confirmation; pass --force to delete non-interactively"
                    );
                }
                eprint!("delete {what}? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("nothing deleted");
                    return Ok(ExitCode::FAILURE);
                }
            }
            match (id, all) {
                (Some(id), _) => {
                    let id = delete_clustering(&mut store, &id)?;
                    println!("deleted clustering result {id}");
                }
                (None, true) => {
                    let count = delete_all_clusterings(&mut store)?;
                    println!("deleted {count} clustering results");
                }
                (None, false) => anyhow::bail!("give a result id or --all"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run(store: &mut Store, args: RunArgs) -> anyhow::Result<ExitCode> {
    let request = ClusterRequest {
        model: args.model,
        experiments: args.experiments,
        min_cluster_size: args.min_cluster_size,
        min_samples: args.min_samples,
        epsilon: args.epsilon,
        selection: Some(match args.method {
            Method::Eom => Selection::Eom,
            Method::Leaf => Selection::Leaf,
        }),
        allow_single_cluster: args.allow_single_cluster,
        downsample: args.downsample,
        seed: Some(args.seed),
    };
    let cancel =
        super::cancel_on_ctrl_c("cancelling (nothing is stored; Ctrl-C again to stop at once)…")?;
    let bar = phase_bar(args.json);
    let progress = |phase: Phase, fraction: f64| {
        bar.set_prefix(phase.label());
        bar.set_position((fraction * 1000.0) as u64);
    };
    let control = Control::new(Some(&cancel), Some(&progress));
    let outcome = match run_clustering(store, &request, &control) {
        Ok(outcome) => outcome,
        Err(error) => {
            let cancelled = matches!(
                error,
                clustering::ClusteringError::Hdbscan(HdbscanError::Cancelled)
            );
            return abandon(&bar, error, cancelled, "nothing was stored");
        }
    };
    bar.finish_and_clear();
    let detail = show_clustering(store, &outcome.id, Some(10))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&detail)?);
    } else {
        let summary = &detail.summary;
        println!(
            "clustered {} of {} '{}' embeddings in {:.1} s: {} clusters, {} outliers ({:.1} %)",
            outcome.parameters.clustered,
            outcome.parameters.available,
            outcome.model,
            outcome.duration_ms as f64 / 1000.0,
            summary.cluster_count,
            summary.outliers,
            100.0 * summary.outlier_fraction()
        );
        println!("result id: {}", outcome.id);
        for cluster in &detail.clusters {
            println!(
                "  [{:>3}] {:>7}  {}",
                cluster.label,
                cluster.size,
                shorten(&cluster.display_name, 70)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A bar for HDBSCAN's phases, hidden for JSON output and when stderr is not a terminal.
fn phase_bar(json: bool) -> ProgressBar {
    let bar = ProgressBar::new(1000).with_style(
        ProgressStyle::with_template("{prefix:>18} [{bar:40}] {percent:>3}% {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

fn cluster_vectors(args: VectorArgs) -> anyhow::Result<ExitCode> {
    vectors::check_output(&args.out)?;
    let mut input = vectors::read_vectors(&args.file, args.dim)?;
    if args.normalise {
        input = input.normalised();
    }
    let n = input.len();
    let defaults = HdbscanParams::defaults_for(n);
    let min_cluster_size = args.min_cluster_size.unwrap_or(defaults.min_cluster_size);
    let params = HdbscanParams {
        min_cluster_size,
        min_samples: args.min_samples.unwrap_or(min_cluster_size),
        cluster_selection_epsilon: args.epsilon,
        selection: match args.method {
            Method::Eom => Selection::Eom,
            Method::Leaf => Selection::Leaf,
        },
        allow_single_cluster: args.allow_single_cluster,
        seed: args.seed,
        ..defaults
    };
    let points = Points::new(&input.data, input.dim)?;
    let cancel = super::cancel_on_ctrl_c("cancelling (no file is written)…")?;
    let bar = phase_bar(args.json);
    let progress = |phase: Phase, fraction: f64| {
        bar.set_prefix(phase.label());
        bar.set_position((fraction * 1000.0) as u64);
    };
    let control = Control::new(Some(&cancel), Some(&progress));
    let started = std::time::Instant::now();
    let clustering = match hdbscan(points, &params, &control) {
        Ok(clustering) => clustering,
        Err(error) => {
            let cancelled = matches!(error, HdbscanError::Cancelled);
            return abandon(&bar, error, cancelled, "no file was written");
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    vectors::write_labels(&args.out, &clustering.labels)?;
    let noise = clustering.noise_count();
    if args.json {
        let sizes: Vec<usize> = clustering.clusters.iter().map(|c| c.size).collect();
        let value = serde_json::json!({
            "rows": n,
            "dim": input.dim,
            "clusters": clustering.clusters.len(),
            "outliers": noise,
            "cluster_sizes": sizes,
            "seconds": seconds,
            "parameters": clustering.params,
            "labels": args.out,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "clustered {n} vectors of dimension {} in {seconds:.1} s: {} clusters, {noise} \
             outliers ({:.1} %); min cluster size {}, min samples {}",
            input.dim,
            clustering.clusters.len(),
            100.0 * noise as f64 / n as f64,
            clustering.params.min_cluster_size,
            clustering.params.min_samples
        );
        println!("labels written to {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_list(results: &[ClusteringOverview]) {
    println!(
        "{:<12} {:<24} {:<8} {:>8} {:>9} {:<19} {:>9}  parameters",
        "id", "model", "algo", "clusters", "outliers", "created", "duration"
    );
    for result in results {
        let params = &result.parameters;
        let brief = format!(
            "mcs={} ms={} eps={} {}",
            params["min_cluster_size"],
            params["min_samples"],
            params["cluster_selection_epsilon"],
            params["selection"].as_str().unwrap_or("?")
        );
        println!(
            "{:<12} {:<24} {:<8} {:>8} {:>8.1}% {:<19} {:>8.1}s  {brief}",
            panic_tda::store::short_id(&result.id, 12),
            shorten(&result.embedding_model, 24),
            result.algorithm,
            result.cluster_count,
            100.0 * result.outlier_fraction(),
            format_timestamp(result.created_at),
            result.duration_ms as f64 / 1000.0
        );
    }
}

fn shorten(text: &str, width: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= width {
        flat
    } else {
        let cut: String = flat.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Abandons the progress bar of a step that failed: a cancel exits with 130 after saying what
/// it left (`outcome`); any other error is the command's.
fn abandon(
    bar: &ProgressBar,
    error: impl Into<anyhow::Error>,
    cancelled: bool,
    outcome: &str,
) -> anyhow::Result<ExitCode> {
    bar.abandon();
    if cancelled {
        eprintln!("cancelled; {outcome}");
        return Ok(ExitCode::from(130));
    }
    Err(error.into())
}
