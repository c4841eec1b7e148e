//! `analyse …`: the trajectory analyses of one experiment as CSV, JSON and charts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use panic_tda::analysis::persistence::{PersistenceRequest, compute_persistence_diagrams};
use panic_tda::analysis::report::{AnalysisError, AnalysisOptions, STEPS, analyse_experiment};
use panic_tda::export::analysis_files::{Analysis, write_report};
use panic_tda::export::report_html::write_report_html;
use panic_tda::store::Store;

#[derive(Debug, clap::Args)]
pub struct AnalyseArgs {
    /// Which analysis: `all` writes every table and chart; `report` one self-contained HTML
    /// page with every chart, its table and the experiment's config.
    #[arg(value_enum, ignore_case = true)]
    which: Analysis,
    /// Experiment id, unique prefix or `latest`.
    #[arg(long, default_value = "latest")]
    experiment: String,
    /// Folder for the CSV/JSON tables and the PNG/SVG/PDF charts (created if missing); for
    /// `report`, the .html file to write.
    #[arg(long)]
    out: PathBuf,
    /// Clustering result to use (id or prefix); repeat for several embedding models.
    /// Default: the newest clustering of each embedding model that covers the experiment.
    #[arg(long = "clustering")]
    clusterings: Vec<String>,
    /// Keep outliers as a state of their own instead of dropping them from sequences.
    #[arg(long)]
    include_outliers: bool,
    /// Bigrams kept per embedding model and network.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Don't compute missing persistence diagrams first (`all` and `persistence` compute
    /// them; they take seconds per run of hundreds of steps).
    #[arg(long)]
    skip_persistence: bool,
    /// Print the list of files and notes as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: AnalyseArgs, database: &Path) -> anyhow::Result<ExitCode> {
    let is_report = args.which == Analysis::Report;
    if is_report
        && !args
            .out
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("html"))
    {
        anyhow::bail!(
            "`analyse report` writes one HTML file: give --out a name ending in .html (got {})",
            args.out.display()
        );
    }
    let mut store =
        Store::open(database).with_context(|| format!("opening {}", database.display()))?;
    let experiment = store.resolve_experiment(&args.experiment)?;
    let cancel = super::cancel_on_ctrl_c("stopping (press Ctrl-C again to quit at once)")?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(STEPS.len() as u64 + 1).with_style(
            ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        )
    };
    if matches!(
        args.which,
        Analysis::All | Analysis::Persistence | Analysis::Report
    ) && !args.skip_persistence
    {
        bar.set_prefix("persistence diagrams");
        let summary = compute_persistence_diagrams(
            &mut store,
            &experiment,
            &PersistenceRequest::default(),
            &cancel,
            |progress| {
                bar.set_length(progress.total as u64);
                bar.set_position((progress.done + progress.failed) as u64);
            },
        )?;
        if summary.cancelled {
            bar.finish_and_clear();
            eprintln!("cancelled; the diagrams computed so far are stored, nothing else written");
            return Ok(ExitCode::from(130));
        }
        for failure in &summary.failed {
            eprintln!(
                "persistence diagram of run {} ({}) failed: {}",
                failure.run_id, failure.embedding_model, failure.error
            );
        }
        if summary.unfinished + summary.not_embedded > 0 {
            eprintln!(
                "no persistence diagram for {} unfinished and {} not fully embedded runs (resume the experiment first; `panic-tda persistence --include-unfinished` computes unfinished ones)",
                summary.unfinished, summary.not_embedded
            );
        }
        bar.set_length(STEPS.len() as u64 + 1);
    }
    let options = AnalysisOptions {
        include_outliers: args.include_outliers,
        top_n: args.top,
        clusterings: args.clusterings,
    };
    let mut on_step = |step: usize| {
        bar.set_prefix(STEPS.get(step).copied().unwrap_or(""));
        bar.set_position(step as u64);
    };
    let report = match analyse_experiment(&store, &experiment, &options, &mut on_step, &cancel) {
        Err(AnalysisError::Cancelled) => {
            bar.finish_and_clear();
            eprintln!("cancelled; nothing written");
            return Ok(ExitCode::from(130));
        }
        other => other?,
    };
    bar.set_prefix("charts");
    bar.set_position(STEPS.len() as u64);
    if is_report {
        let config = store.experiment(&experiment)?.config_json;
        write_report_html(&report, &config, &args.out)?;
        bar.finish_and_clear();
        if args.json {
            let value = serde_json::json!({
                "experiment": experiment,
                "files": [&args.out],
                "notes": report.notes,
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            println!("wrote {}", args.out.display());
            for note in &report.notes {
                println!("  note: {note}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let files = write_report(&report, args.which, &args.out)?;
    bar.finish_and_clear();
    if args.json {
        let value = serde_json::json!({
            "experiment": experiment,
            "files": files,
            "notes": report.notes,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "wrote {} files for experiment {experiment} to {}",
            files.len(),
            args.out.display()
        );
        for clustering in &report.clusterings {
            println!(
                "  clusters: {} ({} clusters, by {})",
                clustering.id,
                clustering.names.len().saturating_sub(1),
                clustering.embedding_model
            );
        }
        for note in &report.notes {
            println!("  note: {note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
