//! `panic-tda models list|fetch` and `panic-tda embed`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use panic_tda::models::catalog::{self, CatalogEntry, FileSource, ModelKind};
use panic_tda::models::files::{self, FetchEvent, FetchOptions, ModelLocation};
use panic_tda::models::{CatalogProvider, Input, Modality, ModelProvider, ProviderOptions};
use panic_tda::paths::AppPaths;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List every model: type, modality, dimension, size, and whether its files are here.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download a model's files into the model cache (or its PANIC_TDA_MODEL_DIR_<NAME> directory).
    Fetch {
        /// Catalog name, e.g. NomicText.
        name: String,
    },
}

/// Embed texts or images and print the vectors.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Embedding model (see `panic-tda models list`).
    #[arg(long, default_value = "MiniLM")]
    model: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Image file to embed (repeatable); needs an image embedder such as ClipB32.
    #[arg(long = "image", value_name = "FILE", conflicts_with = "texts")]
    images: Vec<PathBuf>,
    /// ONNX Runtime threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Texts to embed.
    #[arg(value_name = "TEXT", required_unless_present = "images")]
    texts: Vec<String>,
}

pub fn run_models(
    command: ModelsCommand,
    paths: &AppPaths,
    options: ProviderOptions,
) -> anyhow::Result<ExitCode> {
    match command {
        ModelsCommand::List { json } => list(paths, json),
        ModelsCommand::Fetch { name } => fetch(paths, &name, options.offline),
    }
}

fn modality_label(kind: &ModelKind) -> String {
    match kind {
        ModelKind::TextToImage => "text→image".into(),
        ModelKind::ImageToText => "image→text".into(),
        ModelKind::Embedding { modalities, .. } => modalities
            .iter()
            .map(Modality::to_string)
            .collect::<Vec<_>>()
            .join("+"),
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        0 => "-".into(),
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.0} MB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{:.0} kB", b as f64 / 1024.0),
    }
}

#[derive(serde::Serialize)]
struct ListedModel {
    name: &'static str,
    #[serde(flatten)]
    kind: ModelKind,
    description: &'static str,
    #[serde(flatten)]
    source: FileSource,
    location: ModelLocation,
    /// `built_in`, `local` or `missing`.
    status: &'static str,
    missing: Vec<String>,
    disk_bytes: u64,
    vram: &'static str,
    /// Whether every file has a pinned sha256 (downloads are checked).
    verified: bool,
}

fn describe(paths: &AppPaths, entry: &'static CatalogEntry) -> ListedModel {
    let location = files::locate(paths, entry, None);
    let status = files::status(entry, &location);
    ListedModel {
        name: entry.name,
        kind: entry.kind,
        description: entry.description,
        source: entry.files.source,
        status: match (&location, status.is_complete()) {
            (ModelLocation::BuiltIn, _) => "built_in",
            (_, true) => "local",
            (_, false) => "missing",
        },
        missing: status.missing(),
        location,
        disk_bytes: entry.disk_bytes,
        vram: entry.vram,
        verified: entry.files.verified(),
    }
}

fn list(paths: &AppPaths, json: bool) -> anyhow::Result<ExitCode> {
    let models: Vec<ListedModel> = catalog::catalog()
        .iter()
        .map(|entry| describe(paths, entry))
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&models)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<11} {:<11} {:<11} {:>5} {:>8}  {:<8} STATUS",
        "NAME", "TYPE", "MODALITY", "DIM", "SIZE", "VRAM"
    );
    let mut unverified = Vec::new();
    for model in &models {
        let dimension = match model.kind {
            ModelKind::Embedding { dimension, .. } => dimension.to_string(),
            _ => "-".into(),
        };
        let status = match (model.status, &model.location) {
            ("built_in", _) => "built-in".to_owned(),
            ("local", ModelLocation::Directory(dir)) => format!("local ({})", dir.display()),
            ("local", _) => "local".to_owned(),
            (_, _) => {
                let how = match model.source {
                    FileSource::Setup => "run `make setup`".to_owned(),
                    _ => format!("panic-tda models fetch {}", model.name),
                };
                format!("missing {} file(s); {how}", model.missing.len())
            }
        };
        let approx = if model.verified { "" } else { "~" };
        let size = format!("{approx}{}", human_bytes(model.disk_bytes));
        if !model.verified && model.disk_bytes > 0 {
            unverified.push(model.name);
        }
        println!(
            "{:<11} {:<11} {:<11} {:>5} {:>8}  {:<8} {status}",
            model.name,
            model.kind.label(),
            modality_label(&model.kind),
            dimension,
            size,
            model.vram
        );
    }
    if !unverified.is_empty() {
        println!(
            "\n~ approximate: exact sizes and sha256 of {} are not pinned, so their downloads are not verified.",
            unverified.join(", ")
        );
    }
    println!("model cache: {}", paths.models_dir.display());
    Ok(ExitCode::SUCCESS)
}

fn fetch(paths: &AppPaths, name: &str, offline: bool) -> anyhow::Result<ExitCode> {
    let Some(entry) = catalog::lookup(name) else {
        bail!(
            "unknown model '{name}'; available models: {}",
            catalog::names_list()
        );
    };
    let location = files::locate(paths, entry, None);
    let Some(dir) = location.dir() else {
        println!("{name} is built in; nothing to fetch");
        return Ok(ExitCode::SUCCESS);
    };
    let options = FetchOptions {
        offline,
        ..FetchOptions::default()
    };
    let style = ProgressStyle::with_template(
        "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let mut bar: Option<ProgressBar> = None;
    let status = files::fetch(entry, &location, &options, &mut |event| match event {
        FetchEvent::Present { file } => println!("{file}: present"),
        FetchEvent::Started {
            file,
            resumed_from,
            total,
        } => {
            let progress = ProgressBar::new(total.unwrap_or(0)).with_style(style.clone());
            progress.set_message(file.to_owned());
            progress.set_position(resumed_from);
            bar = Some(progress);
        }
        FetchEvent::Progress { bytes, .. } => {
            if let Some(progress) = &bar {
                progress.set_position(bytes);
            }
        }
        FetchEvent::Finished { file } => {
            if let Some(progress) = bar.take() {
                progress.finish_with_message(format!("{file}: done"));
            }
        }
    });
    if let Some(progress) = bar.take() {
        progress.abandon();
    }
    let status = status.with_context(|| format!("fetching {name}"))?;
    if !entry.files.verified() {
        println!("note: {name}'s files have no pinned sha256, so they were not verified");
    }
    println!("{name}: {} files in {}", status.files.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}

pub fn run_embed(
    args: EmbedArgs,
    paths: &AppPaths,
    options: ProviderOptions,
) -> anyhow::Result<ExitCode> {
    let options = ProviderOptions {
        threads: args.threads,
        ..options
    };
    let provider = CatalogProvider::new(paths.clone(), options);
    let mut embedder = provider
        .load_embedder(&args.model)
        .with_context(|| format!("loading {}", args.model))?;
    let images = args
        .images
        .iter()
        .map(|path| {
            image::open(path)
                .map(|image| image.to_rgb8())
                .with_context(|| format!("reading image {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (labels, inputs): (Vec<String>, Vec<Input<'_>>) = if images.is_empty() {
        args.texts
            .iter()
            .map(|text| (text.clone(), Input::Text(text)))
            .unzip()
    } else {
        args.images
            .iter()
            .zip(&images)
            .map(|(path, image)| (path.display().to_string(), Input::Image(image)))
            .unzip()
    };
    let vectors = embedder.embed(&inputs)?;
    let info = embedder.info();
    if args.json {
        let embeddings: Vec<_> = labels
            .iter()
            .zip(&vectors)
            .map(|(input, vector)| serde_json::json!({ "input": input, "vector": vector }))
            .collect();
        let report = serde_json::json!({
            "model": info.name,
            "dimension": info.dimension,
            "normalised": info.normalised,
            "embeddings": embeddings,
        });
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "# {}: {}-d{}",
            info.name,
            info.dimension,
            if info.normalised {
                ", L2-normalised"
            } else {
                ""
            }
        );
        for (input, vector) in labels.iter().zip(&vectors) {
            println!("# {input}");
            let values: Vec<String> = vector.iter().map(|v| format!("{v:.6}")).collect();
            println!("{}", values.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
