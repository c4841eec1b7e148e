//! Mosaic video export: the runs of one or more experiments as a grid (prompts → networks →
//! seeds), one frame per image step, each tile ringed in the colour of its cluster at that step.
//!
//! Frames are composed in parallel (rayon) on a worker thread while this thread reads the next
//! images from the store and feeds finished frames, in order, to the encoder. Images are read
//! per chunk of frames, so memory stays bounded however long the runs are.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use image::RgbImage;
use rayon::prelude::*;
use thiserror::Error;

use super::encoders::VideoCodec;
use super::frames::{Renderer, RunTrack, Scene, fit_tile};
use super::mosaic::{Layout, LayoutError, MosaicSpec, layout};
use super::text::{FontError, Painter};
use super::video_writer::{VideoError, VideoSettings, VideoWriter};
use crate::config::ConfigError;
use crate::progress::CancelToken;
use crate::store::{
    ClusteringRecord, OUTLIER, ProjectionRecord, RunRecord, StopReason, Store, StoreError,
    decode_image,
};

/// Frame size of the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Resolution {
    /// 1920×1080.
    Hd,
    /// 3840×2160.
    Uhd4k,
    /// 7680×4320.
    Uhd8k,
    /// Any even size (tests, previews).
    Custom { width: u32, height: u32 },
}

impl Resolution {
    pub fn size(self) -> (u32, u32) {
        match self {
            Resolution::Hd => (1920, 1080),
            Resolution::Uhd4k => (3840, 2160),
            Resolution::Uhd8k => (7680, 4320),
            Resolution::Custom { width, height } => (width, height),
        }
    }
}

/// Row and column order of the mosaic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MosaicOrder {
    /// Prompts to put first, in this order; the others follow.
    pub prompts: Option<Vec<String>>,
    /// Sort prompts (those not named in `prompts`) and networks alphabetically instead of
    /// keeping the experiments' config order.
    pub alphabetical: bool,
}

/// Where the per-tile cluster colours come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IndicatorSource {
    /// No rings, no legend.
    Off,
    /// The newest clustering that covers every exported experiment, preferring one of the
    /// first experiment's embedding models.
    #[default]
    Newest,
    /// This clustering (id or unique prefix).
    Clustering(String),
}

/// What to export. Build with [`VideoRequest::new`] and change fields as needed.
#[derive(Debug, Clone)]
pub struct VideoRequest {
    /// Full experiment ids, in the order their prompts and networks are merged.
    pub experiment_ids: Vec<String>,
    pub output: PathBuf,
    pub resolution: Resolution,
    pub fps: u32,
    pub codec: VideoCodec,
    pub crf: u8,
    pub order: MosaicOrder,
    pub indicator: IndicatorSource,
    /// Show each image's caption under its tile.
    pub captions: bool,
    /// Show the stored t-SNE projection with each run's current position.
    pub tsne_inset: bool,
}

impl VideoRequest {
    pub fn new(experiment_ids: Vec<String>, output: PathBuf) -> Self {
        Self {
            experiment_ids,
            output,
            resolution: Resolution::Hd,
            fps: 2,
            codec: VideoCodec::H264,
            crf: 22,
            order: MosaicOrder::default(),
            indicator: IndicatorSource::Newest,
            captions: false,
            tsne_inset: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoProgress {
    pub frames_done: usize,
    pub frames_total: usize,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct VideoSummary {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    pub runs: usize,
    /// Prompts top to bottom (block order) and networks left to right, as laid out.
    pub prompts: Vec<String>,
    pub networks: Vec<String>,
    pub clustering_id: Option<String>,
    pub projection_id: Option<String>,
    pub layout: Layout,
    /// The run shown in each tile of [`Layout::tiles`], if any.
    pub tile_runs: Vec<Option<String>>,
    /// Things the user should know (no clustering found, …).
    pub warnings: Vec<String>,
}

#[derive(Debug, Error)]
pub enum VideoExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Font(#[from] FontError),
    #[error("experiment {experiment}: {source}")]
    Config {
        experiment: String,
        source: ConfigError,
    },
    #[error("no experiments to export")]
    NoExperiments,
    #[error("experiment {0} has no runs")]
    NoRuns(String),
    #[error("the runs have no images yet; run the experiment first")]
    NoImages,
    #[error(
        "the prompt order names \"{prompt}\", which is not a prompt of these experiments (they are: {known})"
    )]
    UnknownPrompt { prompt: String, known: String },
    #[error("the prompt order names \"{0}\" twice")]
    DuplicatePrompt(String),
    #[error(
        "no stored projection covers experiment(s) {0}; compute a t-SNE projection first, or export without --tsne-inset"
    )]
    NoProjection(String),
    #[error("cannot read the prompt order file {path}: {source}")]
    PromptFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("export cancelled")]
    Cancelled,
    #[error("frame composition stopped unexpectedly")]
    Worker,
}

/// Reads a prompt order file: one prompt per line, blank lines ignored.
pub fn read_prompt_order(path: &Path) -> Result<Vec<String>, VideoExportError> {
    let text = std::fs::read_to_string(path).map_err(|source| VideoExportError::PromptFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The prompt order of the mosaic: the named prompts first (each must exist, once), then the
/// rest in config order, or alphabetically with `alphabetical`.
pub fn order_prompts(
    config_order: &[String],
    custom: Option<&[String]>,
    alphabetical: bool,
) -> Result<Vec<String>, VideoExportError> {
    let mut ordered: Vec<String> = Vec::with_capacity(config_order.len());
    for name in custom.unwrap_or_default() {
        let name = name.trim();
        if !config_order.iter().any(|p| p == name) {
            return Err(VideoExportError::UnknownPrompt {
                prompt: name.to_owned(),
                known: config_order
                    .iter()
                    .map(|p| format!("\"{p}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if ordered.iter().any(|p| p == name) {
            return Err(VideoExportError::DuplicatePrompt(name.to_owned()));
        }
        ordered.push(name.to_owned());
    }
    let mut rest: Vec<String> = config_order
        .iter()
        .filter(|p| !ordered.contains(p))
        .cloned()
        .collect();
    if alphabetical {
        rest.sort();
    }
    ordered.extend(rest);
    Ok(ordered)
}

/// How a network is labelled: its models joined by arrows.
pub fn network_label(network: &[String]) -> String {
    network.join(" → ")
}

/// A step's value: the image step's own (image embedder), else its caption's (text embedder).
fn at_step<T: Copy>(values: &HashMap<u32, T>, sequence: u32) -> Option<T> {
    values
        .get(&sequence)
        .or_else(|| values.get(&(sequence + 1)))
        .copied()
}

fn covers(experiment_ids: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|id| experiment_ids.contains(id))
}

fn choose_clustering(
    store: &Store,
    source: &IndicatorSource,
    experiments: &[String],
    models: &[String],
    warnings: &mut Vec<String>,
) -> Result<Option<ClusteringRecord>, VideoExportError> {
    match source {
        IndicatorSource::Off => Ok(None),
        IndicatorSource::Clustering(id) => {
            let record = store.clustering(&store.resolve_clustering(id)?)?;
            if !covers(&record.experiment_ids, experiments) {
                warnings.push(format!(
                    "clustering {} does not cover every exported experiment; runs outside it have no cluster ring",
                    record.id
                ));
            }
            Ok(Some(record))
        }
        IndicatorSource::Newest => {
            let first = experiments.first().map(String::as_str);
            let candidates: Vec<ClusteringRecord> = store
                .list_clusterings(first)?
                .into_iter()
                .map(|summary| summary.record)
                .filter(|record| covers(&record.experiment_ids, experiments))
                .collect();
            let chosen = candidates
                .iter()
                .find(|record| models.contains(&record.embedding_model))
                .or(candidates.first())
                .cloned();
            if chosen.is_none() {
                warnings.push(
                    "no clustering covers these experiments; tiles have no cluster ring".into(),
                );
            }
            Ok(chosen)
        }
    }
}

fn choose_projection(
    store: &Store,
    experiments: &[String],
    model: Option<&str>,
) -> Result<ProjectionRecord, VideoExportError> {
    let candidates: Vec<ProjectionRecord> = store
        .list_projections(experiments.first().map(String::as_str))?
        .into_iter()
        .filter(|record| covers(&record.experiment_ids, experiments))
        .collect();
    candidates
        .iter()
        .find(|record| model.is_none_or(|m| record.embedding_model == m))
        .or(candidates.first())
        .cloned()
        .ok_or_else(|| VideoExportError::NoProjection(experiments.join(", ")))
}

/// A scene plus, per run, its id and the sequence number of each image step.
struct Plan {
    scene: Scene,
    run_ids: Vec<String>,
    sequences: Vec<Vec<u32>>,
    tile_runs: Vec<Option<String>>,
    clustering_id: Option<String>,
    projection_id: Option<String>,
    warnings: Vec<String>,
}

fn plan(store: &Store, request: &VideoRequest) -> Result<Plan, VideoExportError> {
    if request.experiment_ids.is_empty() {
        return Err(VideoExportError::NoExperiments);
    }
    let mut warnings = Vec::new();
    let mut prompts: Vec<String> = Vec::new();
    let mut networks: Vec<Vec<String>> = Vec::new();
    let mut runs: Vec<RunRecord> = Vec::new();
    let mut models: Vec<String> = Vec::new();
    for (index, id) in request.experiment_ids.iter().enumerate() {
        let experiment = store.experiment(id)?;
        let config = crate::config::parse(&experiment.config_json, id).map_err(|source| {
            VideoExportError::Config {
                experiment: id.clone(),
                source,
            }
        })?;
        if index == 0 {
            models = config.embedding_models.clone();
        }
        let mut experiment_runs = store.runs(id)?;
        if experiment_runs.is_empty() {
            return Err(VideoExportError::NoRuns(id.clone()));
        }
        // Merge prompts and networks in config order (`runs` is by network, then prompt).
        let mut by_prompt: Vec<&RunRecord> = experiment_runs.iter().collect();
        by_prompt.sort_by_key(|run| run.prompt_index);
        for run in by_prompt {
            if !prompts.contains(&run.initial_prompt) {
                prompts.push(run.initial_prompt.clone());
            }
        }
        for run in &experiment_runs {
            if !networks.contains(&run.network) {
                networks.push(run.network.clone());
            }
        }
        runs.append(&mut experiment_runs);
    }
    let prompts = order_prompts(
        &prompts,
        request.order.prompts.as_deref(),
        request.order.alphabetical,
    )?;
    if request.order.alphabetical {
        networks.sort_by_key(|network| network_label(network));
    }

    // Seed slots of each (prompt, network) cell, in experiment then seed order.
    let mut cells: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    let mut run_cells = Vec::with_capacity(runs.len());
    for (index, run) in runs.iter().enumerate() {
        let p = prompts
            .iter()
            .position(|prompt| *prompt == run.initial_prompt)
            .unwrap_or_default();
        let n = networks
            .iter()
            .position(|network| *network == run.network)
            .unwrap_or_default();
        let slot = cells.entry((p, n)).or_default();
        run_cells.push((p, n, slot.len()));
        slot.push(index);
    }
    let seeds = cells.values().map(Vec::len).max().unwrap_or(0);

    let clustering = choose_clustering(
        store,
        &request.indicator,
        &request.experiment_ids,
        &models,
        &mut warnings,
    )?;
    let projection = if request.tsne_inset {
        Some(choose_projection(
            store,
            &request.experiment_ids,
            clustering.as_ref().map(|c| c.embedding_model.as_str()),
        )?)
    } else {
        None
    };
    let mut trajectories: HashMap<String, HashMap<u32, (f32, f32)>> = HashMap::new();
    let mut background_points = Vec::new();
    if let Some(projection) = &projection {
        for point in store.projection_trajectories(&projection.id)? {
            background_points.push((point.x, point.y));
            trajectories
                .entry(point.run_id)
                .or_default()
                .insert(point.sequence_number, (point.x, point.y));
        }
    }
    let names: HashMap<i32, String> = match &clustering {
        Some(c) => store
            .clusters(&c.id)?
            .into_iter()
            .map(|cluster| {
                let name = if cluster.display_name.trim().is_empty() {
                    format!("cluster {}", cluster.label)
                } else {
                    cluster.display_name
                };
                (cluster.label, name)
            })
            .collect(),
        None => HashMap::new(),
    };

    let (width, height) = request.resolution.size();
    let layout = layout(&MosaicSpec {
        width,
        height,
        prompts: prompts.len(),
        networks: networks.len(),
        seeds,
        captions: request.captions,
        indicator: clustering.is_some(),
        legend: clustering.is_some(),
        inset: projection.is_some(),
    })?;

    let mut tracks = Vec::with_capacity(runs.len());
    let mut sequences = Vec::with_capacity(runs.len());
    let mut tile_runs = vec![None; layout.tiles.len()];
    let mut clusters = BTreeMap::new();
    for (run, (p, n, s)) in runs.iter().zip(&run_cells) {
        let steps = store.image_steps(&run.id)?;
        let labels: HashMap<u32, i32> = match &clustering {
            Some(c) => store
                .run_cluster_labels(&c.id, &run.id)?
                .into_iter()
                .collect(),
            None => HashMap::new(),
        };
        let points = trajectories.get(&run.id);
        let track = RunTrack {
            tile: layout.tile_index(*p, *n, *s),
            images: steps.len(),
            badge: match &run.stop {
                Some(StopReason::Length | StopReason::Duplicate { .. }) => "stopped",
                Some(StopReason::Failed { .. }) => "failed",
                Some(StopReason::Cancelled) | None => "unfinished",
            }
            .into(),
            captions: steps.iter().map(|(_, caption)| caption.clone()).collect(),
            labels: steps
                .iter()
                .map(|(sequence, _)| at_step(&labels, *sequence))
                .collect(),
            points: steps
                .iter()
                .map(|(sequence, _)| points.and_then(|p| at_step(p, *sequence)))
                .collect(),
        };
        for label in track.labels.iter().flatten() {
            let name = if *label == OUTLIER {
                "outlier".to_owned()
            } else {
                names
                    .get(label)
                    .cloned()
                    .unwrap_or_else(|| format!("cluster {label}"))
            };
            clusters.insert(*label, name);
        }
        tile_runs[track.tile] = Some(run.id.clone());
        sequences.push(steps.iter().map(|(sequence, _)| *sequence).collect());
        tracks.push(track);
    }
    let frames = tracks.iter().map(|t| t.images).max().unwrap_or(0);
    if frames == 0 {
        return Err(VideoExportError::NoImages);
    }
    Ok(Plan {
        scene: Scene {
            layout,
            prompts,
            networks: networks.iter().map(|n| network_label(n)).collect(),
            runs: tracks,
            frames,
            clusters,
            indicator: clustering.is_some(),
            background_points,
        },
        run_ids: runs.into_iter().map(|run| run.id).collect(),
        sequences,
        tile_runs,
        clustering_id: clustering.map(|c| c.id),
        projection_id: projection.map(|p| p.id),
        warnings,
    })
}

/// Images read for one chunk of frames: (run, image step, encoded bytes).
struct Chunk {
    frames: Range<usize>,
    blobs: Vec<(usize, usize, Vec<u8>)>,
}

/// Composes chunks of frames in parallel, keeping each run's last tile for the next chunk (runs
/// that stopped show it in every later frame without reading it again).
struct Composer<'s> {
    renderer: Renderer<'s>,
    scene: &'s Scene,
    last: Vec<Option<(usize, RgbImage)>>,
}

impl Composer<'_> {
    fn chunk(&mut self, chunk: Chunk) -> Result<Vec<RgbImage>, VideoExportError> {
        let side = self.scene.layout.tiles.first().map_or(1, |t| t.image.w);
        let decoded: Vec<(usize, usize, RgbImage)> = chunk
            .blobs
            .into_par_iter()
            .map(|(run, step, bytes)| -> Result<_, StoreError> {
                Ok((run, step, fit_tile(&decode_image(&bytes)?, side)))
            })
            .collect::<Result<_, StoreError>>()?;
        let mut tiles: HashMap<(usize, usize), RgbImage> = decoded
            .into_iter()
            .map(|(run, step, tile)| ((run, step), tile))
            .collect();
        for (run, last) in self.last.iter_mut().enumerate() {
            if let Some((step, tile)) = last.take() {
                tiles.entry((run, step)).or_insert(tile);
            }
        }
        let scene = self.scene;
        let renderer = &self.renderer;
        let frames: Vec<RgbImage> = chunk
            .frames
            .clone()
            .into_par_iter()
            .map(|frame| {
                renderer.frame(frame, |run| {
                    let step = scene.runs[run].step(frame)?;
                    tiles.get(&(run, step))
                })
            })
            .collect();
        if let Some(end) = chunk.frames.end.checked_sub(1) {
            for (run, track) in scene.runs.iter().enumerate() {
                if let Some(step) = track.step(end) {
                    self.last[run] = tiles.remove(&(run, step)).map(|tile| (step, tile));
                }
            }
        }
        Ok(frames)
    }
}

/// Writes the mosaic video of `request`. `progress` is called after every encoded frame;
/// cancelling stops after the frame in progress and leaves no file behind.
pub fn export_video(
    store: &Store,
    request: &VideoRequest,
    progress: &mut dyn FnMut(VideoProgress),
    cancel: &CancelToken,
) -> Result<VideoSummary, VideoExportError> {
    let plan = plan(store, request)?;
    let painter = Painter::new()?;
    let scene = &plan.scene;
    let (width, height) = request.resolution.size();
    let mut writer = VideoWriter::create(
        &request.output,
        VideoSettings {
            width,
            height,
            fps: request.fps,
            codec: request.codec,
            crf: request.crf,
        },
    )?;
    let total = scene.frames;
    let chunk_len = (rayon::current_num_threads() * 2).max(4);
    std::thread::scope(|scope| -> Result<(), VideoExportError> {
        // One chunk is composed while the previous one is encoded.
        let (job_tx, job_rx) = sync_channel::<Chunk>(1);
        let (frame_tx, frame_rx) = sync_channel::<Result<Vec<RgbImage>, VideoExportError>>(1);
        let mut composer = Composer {
            renderer: Renderer::new(scene, painter),
            scene,
            last: vec![None; scene.runs.len()],
        };
        scope.spawn(move || {
            for chunk in job_rx {
                if frame_tx.send(composer.chunk(chunk)).is_err() {
                    break;
                }
            }
        });
        let mut sent: Vec<Option<usize>> = vec![None; scene.runs.len()];
        let mut done = 0;
        let mut in_flight = 0;
        let mut encode = |frames: Result<Vec<RgbImage>, VideoExportError>,
                          done: &mut usize|
         -> Result<(), VideoExportError> {
            for frame in frames? {
                if cancel.is_cancelled() {
                    return Err(VideoExportError::Cancelled);
                }
                writer.push(&frame)?;
                *done += 1;
                progress(VideoProgress {
                    frames_done: *done,
                    frames_total: total,
                });
            }
            Ok(())
        };
        for start in (0..total).step_by(chunk_len) {
            if cancel.is_cancelled() {
                return Err(VideoExportError::Cancelled);
            }
            let frames = start..(start + chunk_len).min(total);
            let mut blobs = Vec::new();
            for (run, track) in scene.runs.iter().enumerate() {
                let (Some(first), Some(last)) =
                    (track.step(frames.start), track.step(frames.end - 1))
                else {
                    continue;
                };
                for step in first..=last {
                    if sent[run] == Some(step) {
                        continue;
                    }
                    let sequence = plan.sequences[run][step];
                    blobs.push((run, step, store.image_blob(&plan.run_ids[run], sequence)?));
                    sent[run] = Some(step);
                }
            }
            job_tx
                .send(Chunk { frames, blobs })
                .map_err(|_| VideoExportError::Worker)?;
            in_flight += 1;
            if in_flight == 2 {
                encode(
                    frame_rx.recv().map_err(|_| VideoExportError::Worker)?,
                    &mut done,
                )?;
                in_flight -= 1;
            }
        }
        drop(job_tx);
        for frames in frame_rx.iter() {
            encode(frames, &mut done)?;
        }
        if done != total {
            return Err(VideoExportError::Worker);
        }
        Ok(())
    })?;
    let path = writer.finish()?;
    Ok(VideoSummary {
        path,
        width,
        height,
        frames: total,
        runs: plan.run_ids.len(),
        prompts: plan.scene.prompts.clone(),
        networks: plan.scene.networks.clone(),
        clustering_id: plan.clustering_id,
        projection_id: plan.projection_id,
        layout: plan.scene.layout.clone(),
        tile_runs: plan.tile_runs,
        warnings: plan.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prompts_keep_config_order_unless_told_otherwise() {
        let config = strings(&["c dog", "a cat", "b bird"]);
        assert_eq!(order_prompts(&config, None, false).expect("order"), config);
        assert_eq!(
            order_prompts(&config, None, true).expect("order"),
            strings(&["a cat", "b bird", "c dog"])
        );
        let custom = strings(&["b bird"]);
        assert_eq!(
            order_prompts(&config, Some(&custom), false).expect("order"),
            strings(&["b bird", "c dog", "a cat"])
        );
        assert_eq!(
            order_prompts(&config, Some(&custom), true).expect("order"),
            strings(&["b bird", "a cat", "c dog"])
        );
    }

    #[test]
    fn unknown_or_repeated_prompts_are_errors_naming_them() {
        let config = strings(&["a cat", "b bird"]);
        let err = order_prompts(&config, Some(&strings(&["a cat", "a cta"])), false)
            .expect_err("unknown");
        assert!(err.to_string().contains("\"a cta\""), "{err}");
        assert!(err.to_string().contains("\"b bird\""), "{err}");
        let err =
            order_prompts(&config, Some(&strings(&["a cat", " a cat"])), false).expect_err("twice");
        assert!(matches!(err, VideoExportError::DuplicatePrompt(_)));
    }

    #[test]
    fn a_step_takes_its_own_label_or_its_captions() {
        let labels = HashMap::from([(0u32, 4), (3, 7)]);
        assert_eq!(at_step(&labels, 0), Some(4));
        assert_eq!(at_step(&labels, 2), Some(7));
        assert_eq!(at_step(&labels, 4), None);
    }
}
