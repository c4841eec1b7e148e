//! `export video`, `export timeline` and `export figure`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use panic_tda::export::encoders::VideoCodec;
use panic_tda::export::figure::{ClusteringChoice, FigureRequest, FigureSize, export_figure};
use panic_tda::export::timeline::export_timeline;
use panic_tda::export::video::{
    IndicatorSource, MosaicOrder, Resolution, VideoExportError, VideoRequest, export_video,
    read_prompt_order,
};
use panic_tda::store::Store;

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write a mosaic video of experiments' runs (prompts → networks → seeds), one frame per
    /// image step, each tile ringed in the colour of its cluster.
    Video(VideoArgs),
    /// Write a PNG with a row of evenly spaced images per run.
    Timeline(TimelineArgs),
    /// Write the t-SNE map of an experiment (PNG, SVG or PDF): points coloured by cluster with
    /// a legend, and chosen runs' trajectories up to a step, older segments fading.
    Figure(FigureArgs),
}

#[derive(Debug, Args)]
pub struct FigureArgs {
    /// Experiment id, unique prefix or `latest`.
    experiment: String,
    /// Output file; the format comes from its extension (.png, .svg or .pdf).
    #[arg(long, short)]
    out: PathBuf,
    /// Embedding model whose stored projection to draw (default: the clustering's model,
    /// else the newest projection).
    #[arg(long)]
    model: Option<String>,
    /// Clustering (id or prefix) colouring the points, or `none`; default: the newest of the
    /// model covering the experiment.
    #[arg(long)]
    clustering: Option<String>,
    /// Run (id or prefix) whose trajectory is drawn; repeat for several.
    #[arg(long = "run")]
    runs: Vec<String>,
    /// Draw the trajectories up to this step (default: whole runs).
    #[arg(long, requires = "runs")]
    step: Option<u32>,
    /// Width in pixels (with --height; default 2400×1600 for PNG, 1200×800 for SVG/PDF).
    #[arg(long, requires = "height", conflicts_with = "dpi")]
    width: Option<u32>,
    #[arg(long, requires = "width", conflicts_with = "dpi")]
    height: Option<u32>,
    /// Pixels per inch of an 8-inch-wide figure (300 gives the default PNG).
    #[arg(long)]
    dpi: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ResolutionArg {
    Hd,
    #[value(name = "4k")]
    Uhd4k,
    #[value(name = "8k")]
    Uhd8k,
}

#[derive(Debug, Args)]
pub struct VideoArgs {
    /// Experiment ids, unique prefixes or `latest`; their runs are pooled.
    #[arg(required = true)]
    experiments: Vec<String>,
    /// Output file (.mp4, .mkv, .mov or .webm).
    #[arg(long, short, default_value = "mosaic.mp4")]
    out: PathBuf,
    #[arg(long, value_enum, ignore_case = true, default_value_t = ResolutionArg::Hd)]
    resolution: ResolutionArg,
    /// Any even frame size as WIDTHxHEIGHT (e.g. 640x360); overrides --resolution.
    #[arg(long, value_parser = parse_size)]
    size: Option<(u32, u32)>,
    /// Frames (image steps) per second.
    #[arg(long, default_value_t = 2)]
    fps: u32,
    #[arg(long, value_enum, ignore_case = true, default_value_t = VideoCodec::H264)]
    codec: VideoCodec,
    /// Constant rate factor: lower is better quality and larger files.
    #[arg(long, default_value_t = 22)]
    crf: u8,
    /// Prompts to put first, comma-separated (use --prompt-order-file for prompts with commas);
    /// the others follow in config order.
    #[arg(long, value_delimiter = ',', conflicts_with = "prompt_order_file")]
    prompt_order: Option<Vec<String>>,
    /// A file with one prompt per line, in the wanted order.
    #[arg(long)]
    prompt_order_file: Option<PathBuf>,
    /// Sort prompts (not named in a prompt order) and networks alphabetically.
    #[arg(long)]
    alphabetical: bool,
    /// No cluster rings or legend.
    #[arg(long, conflicts_with = "clustering")]
    no_indicator: bool,
    /// Clustering (id or prefix) for the cluster rings; default: the newest covering the
    /// experiments.
    #[arg(long)]
    clustering: Option<String>,
    /// Show each image's caption under its tile.
    #[arg(long)]
    captions: bool,
    /// Show the stored t-SNE projection with each run's position.
    #[arg(long)]
    tsne_inset: bool,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// Run ids or unique prefixes, one row each; repeat for several.
    #[arg(long = "run", required = true)]
    runs: Vec<String>,
    /// Images per run, evenly spaced from first to last.
    #[arg(long, default_value_t = 8)]
    steps: usize,
    #[arg(long)]
    out: PathBuf,
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("'{text}' is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|e| format!("'{v}' in '{text}': {e}"))
    };
    Ok((parse(w)?, parse(h)?))
}

fn open_existing(store_path: &Path) -> anyhow::Result<Store> {
    if !store_path.exists() {
        anyhow::bail!("no database at {}", store_path.display());
    }
    Ok(Store::open(store_path)?)
}

pub fn run_export(command: ExportCommand, store_path: &Path) -> anyhow::Result<ExitCode> {
    let store = open_existing(store_path)?;
    match command {
        ExportCommand::Video(args) => video(&store, args),
        ExportCommand::Timeline(args) => {
            let ids = args
                .runs
                .iter()
                .map(|id| Ok(store.resolve_run(id)?))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let summary = export_timeline(&store, &ids, args.steps, &args.out)
                .with_context(|| format!("writing {}", args.out.display()))?;
            println!(
                "wrote {} ({}×{}, {} runs)",
                summary.path.display(),
                summary.width,
                summary.height,
                summary.sequences.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        ExportCommand::Figure(args) => figure(&store, args),
    }
}

fn figure(store: &Store, args: FigureArgs) -> anyhow::Result<ExitCode> {
    let mut request = FigureRequest::new(args.experiment, args.out);
    request.model = args.model;
    request.clustering = match args.clustering {
        None => ClusteringChoice::Newest,
        Some(id) if id.eq_ignore_ascii_case("none") => ClusteringChoice::None,
        Some(id) => ClusteringChoice::Id(id),
    };
    request.runs = args.runs;
    request.step = args.step;
    request.size = match (args.width, args.height, args.dpi) {
        (Some(width), Some(height), _) => FigureSize::Pixels { width, height },
        (_, _, Some(dpi)) => FigureSize::Dpi(dpi),
        _ => FigureSize::Default,
    };
    let summary = export_figure(store, &request)?;
    println!(
        "wrote {} ({}×{}, {} points of {}, {}{})",
        summary.path.display(),
        summary.width,
        summary.height,
        summary.points,
        summary.embedding_model,
        summary
            .clustering_id
            .map(|id| format!("clusters from {}", panic_tda::store::short_id(&id, 8)))
            .unwrap_or_else(|| "not clustered".into()),
        match summary.runs {
            0 => String::new(),
            1 => ", 1 trajectory".into(),
            n => format!(", {n} trajectories"),
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn video(store: &Store, args: VideoArgs) -> anyhow::Result<ExitCode> {
    let ids = args
        .experiments
        .iter()
        .map(|id| Ok(store.resolve_experiment(id)?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let prompts = match (&args.prompt_order, &args.prompt_order_file) {
        (Some(list), _) => Some(list.clone()),
        (None, Some(file)) => Some(read_prompt_order(file)?),
        (None, None) => None,
    };
    let mut request = VideoRequest::new(ids, args.out.clone());
    request.resolution = match (args.size, args.resolution) {
        (Some((width, height)), _) => Resolution::Custom { width, height },
        (None, ResolutionArg::Hd) => Resolution::Hd,
        (None, ResolutionArg::Uhd4k) => Resolution::Uhd4k,
        (None, ResolutionArg::Uhd8k) => Resolution::Uhd8k,
    };
    request.fps = args.fps;
    request.codec = args.codec;
    request.crf = args.crf;
    request.order = MosaicOrder {
        prompts,
        alphabetical: args.alphabetical,
    };
    request.indicator = match (args.no_indicator, args.clustering) {
        (true, _) => IndicatorSource::Off,
        (false, Some(id)) => IndicatorSource::Clustering(id),
        (false, None) => IndicatorSource::Newest,
    };
    request.captions = args.captions;
    request.tsne_inset = args.tsne_inset;

    let cancel = super::cancel_on_ctrl_c(
        "cancelling the export (no file will be left; Ctrl-C again to stop at once)…",
    )?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} frames {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("video");
    let started = std::time::Instant::now();
    let result = export_video(
        store,
        &request,
        &mut |p| {
            bar.set_length(p.frames_total as u64);
            bar.set_position(p.frames_done as u64);
        },
        &cancel,
    );
    bar.finish_and_clear();
    match result {
        Ok(summary) => {
            for warning in &summary.warnings {
                eprintln!("warning: {warning}");
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "wrote {} ({}×{}, {} frames, {} runs, {:.1} frames/s){}",
                summary.path.display(),
                summary.width,
                summary.height,
                summary.frames,
                summary.runs,
                summary.frames as f64 / seconds.max(1e-9),
                summary
                    .clustering_id
                    .map(|id| format!(", clusters from {id}"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(VideoExportError::Cancelled) => {
            eprintln!("export cancelled; nothing written");
            Ok(ExitCode::from(130))
        }
        Err(error) => Err(error.into()),
    }
}
