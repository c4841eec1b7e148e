//! The map figure: an experiment's stored t-SNE layout with points coloured by cluster, a
//! legend of the clusters (label and medoid caption), and chosen runs' trajectories up to a
//! step, older segments fading. `panic-tda export figure` and the explorer's Save figure both
//! call [`export_figure`], so a saved figure is what the app shows.

use std::collections::HashMap;
use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

use super::charts::{
    ChartError, Drawing, FONT, ImageFormat, draw_error, extent, rgb, safe_range, series_colour,
    wrap,
};
use crate::analysis::trajectories::{Trajectories, TrajectoryRun, cluster_rgb};
use crate::store::{ClusteringRecord, ProjectionRecord, Store, StoreError, short_id};

/// Layout size at which text, strokes and points have their base sizes; other sizes scale
/// them, so a print-resolution PNG looks like the vector figure.
const BASE: (u32, u32) = (1200, 800);
/// The PNG's default size: 8 × 5⅓ inches at 300 dpi.
pub const DEFAULT_PNG: (u32, u32) = (2400, 1600);
/// Figures print 8 inches wide by default; `--dpi` sets the PNG's pixels per inch.
const WIDTH_INCHES: f64 = 8.0;
const SIZE_LIMIT: u32 = 20_000;

#[derive(Debug, Error)]
pub enum FigureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error(
        "experiment {experiment} has no stored t-SNE projection{}; compute one with `panic-tda project run --experiments {experiment}{}` (or Compute t-SNE in the explorer)",
        model.as_ref().map(|m| format!(" of {m} embeddings")).unwrap_or_default(),
        model.as_ref().map(|m| format!(" --model {m}")).unwrap_or_default()
    )]
    NoProjection {
        experiment: String,
        model: Option<String>,
    },
    #[error("no run {run} in experiment {experiment}'s projection")]
    UnknownRun { run: String, experiment: String },
    #[error("step {step} is beyond run {run}: its last projected step is {last}")]
    StepBeyond { step: u32, run: String, last: u32 },
    #[error("--step needs at least one --run to draw a trajectory")]
    StepWithoutRun,
    #[error(
        "clustering {clustering} is of {clustering_model} embeddings, but the figure is of {model} embeddings"
    )]
    ClusteringModel {
        clustering: String,
        clustering_model: String,
        model: String,
    },
    #[error(
        "a figure of {width}×{height} pixels is too small or too large (each side 200–{SIZE_LIMIT})"
    )]
    Size { width: u32, height: u32 },
    #[error("{dpi} dpi is out of range (50–1200)")]
    Dpi { dpi: u32 },
    #[error("cannot create the folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How big the figure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FigureSize {
    /// PNG at print resolution ([`DEFAULT_PNG`]); SVG and PDF at the base layout size.
    #[default]
    Default,
    Pixels {
        width: u32,
        height: u32,
    },
    /// 8 inches wide at this many pixels per inch.
    Dpi(u32),
}

impl FigureSize {
    /// Width and height in pixels for a format.
    pub fn pixels(self, format: ImageFormat) -> Result<(u32, u32), FigureError> {
        let (width, height) = match self {
            FigureSize::Default if format == ImageFormat::Png => DEFAULT_PNG,
            FigureSize::Default => BASE,
            FigureSize::Pixels { width, height } => (width, height),
            FigureSize::Dpi(dpi) => {
                if !(50..=1200).contains(&dpi) {
                    return Err(FigureError::Dpi { dpi });
                }
                let width = (WIDTH_INCHES * dpi as f64).round() as u32;
                (width, width * BASE.1 / BASE.0)
            }
        };
        let ok = |side: u32| (200..=SIZE_LIMIT).contains(&side);
        if ok(width) && ok(height) {
            Ok((width, height))
        } else {
            Err(FigureError::Size { width, height })
        }
    }
}

/// Which clustering colours the points.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClusteringChoice {
    /// The newest clustering of the projection's embedding model covering the experiment.
    #[default]
    Newest,
    /// Points all in one colour.
    None,
    /// An id or unique prefix.
    Id(String),
}

#[derive(Debug, Clone)]
pub struct FigureRequest {
    /// Experiment id, unique prefix or `latest`.
    pub experiment: String,
    /// Embedding model whose projection to draw (default: that of the chosen clustering, else
    /// the newest projection).
    pub model: Option<String>,
    /// A stored projection by id, overriding the choice by model.
    pub projection: Option<String>,
    pub clustering: ClusteringChoice,
    /// Run ids or unique prefixes whose trajectories are drawn.
    pub runs: Vec<String>,
    /// Draw trajectories up to this step (sequence number); `None`: whole runs.
    pub step: Option<u32>,
    pub size: FigureSize,
    pub out: PathBuf,
}

impl FigureRequest {
    pub fn new(experiment: impl Into<String>, out: impl Into<PathBuf>) -> Self {
        Self {
            experiment: experiment.into(),
            model: None,
            projection: None,
            clustering: ClusteringChoice::Newest,
            runs: Vec::new(),
            step: None,
            size: FigureSize::Default,
            out: out.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FigureSummary {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub experiment_id: String,
    pub projection_id: String,
    pub embedding_model: String,
    pub clustering_id: Option<String>,
    pub points: usize,
    pub runs: usize,
}

/// Draws the figure a request asks for and writes it (atomically) to `request.out`.
pub fn export_figure(store: &Store, request: &FigureRequest) -> Result<FigureSummary, FigureError> {
    // The cheap checks first, before anything is loaded.
    let format = ImageFormat::from_path(&request.out)?;
    let size = request.size.pixels(format)?;
    if request.step.is_some() && request.runs.is_empty() {
        return Err(FigureError::StepWithoutRun);
    }
    let experiment = store.resolve_experiment(&request.experiment)?;
    let chosen_clustering = match &request.clustering {
        ClusteringChoice::Id(id) => Some(store.clustering(&store.resolve_clustering(id)?)?),
        _ => None,
    };
    let model = request.model.clone().or_else(|| {
        chosen_clustering
            .as_ref()
            .map(|clustering| clustering.embedding_model.clone())
    });
    let projection = choose_projection(store, &experiment, request, model.as_deref())?;
    let clustering = match (&request.clustering, chosen_clustering) {
        (_, Some(clustering)) => {
            if clustering.embedding_model != projection.embedding_model {
                return Err(FigureError::ClusteringModel {
                    clustering: clustering.id,
                    clustering_model: clustering.embedding_model,
                    model: projection.embedding_model,
                });
            }
            Some(clustering)
        }
        (ClusteringChoice::Newest, None) => newest_clustering(store, &experiment, &projection)?,
        _ => None,
    };
    let data = Trajectories::load(
        store,
        &projection.id,
        clustering.as_ref().map(|c| c.id.as_str()),
    )?;
    let runs = request
        .runs
        .iter()
        .map(|id| find_run(store, &data, id, &experiment))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(step) = request.step {
        check_step(&data, &runs, step)?;
    }
    let mut subtitle = format!(
        "{} points · experiment {}",
        data.points.len(),
        short_id(&experiment, 8)
    );
    match &clustering {
        Some(clustering) => subtitle.push_str(&format!(
            " · clusters: {} {}",
            clustering.algorithm,
            short_id(&clustering.id, 8)
        )),
        None => subtitle.push_str(" · not clustered"),
    }
    if let Some(step) = request.step {
        subtitle.push_str(&format!(" · trajectories up to step {step}"));
    }
    let figure = MapFigure {
        data: &data,
        title: format!("t-SNE of {} embeddings", projection.embedding_model),
        subtitle,
        runs,
        step: request.step,
        size,
    };
    if let Some(dir) = request
        .out
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| FigureError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    figure.save(&request.out)?;
    Ok(FigureSummary {
        path: request.out.clone(),
        width: size.0,
        height: size.1,
        experiment_id: experiment,
        projection_id: projection.id,
        embedding_model: projection.embedding_model,
        clustering_id: clustering.map(|c| c.id),
        points: data.points.len(),
        runs: figure.runs.len(),
    })
}

/// The newest projection of the experiment (of `model`, when given): one over exactly this
/// experiment if there is one, as the explorer shows, else one covering it among others.
fn choose_projection(
    store: &Store,
    experiment: &str,
    request: &FigureRequest,
    model: Option<&str>,
) -> Result<ProjectionRecord, FigureError> {
    // Newest first, each with the experiments it covers.
    let candidates: Vec<(ProjectionRecord, Vec<String>)> = store
        .list_projections(None)?
        .into_iter()
        .map(|record| {
            let experiments = projection_experiments(&record);
            (record, experiments)
        })
        .filter(|(_, experiments)| experiments.iter().any(|id| id == experiment))
        .collect();
    let wanted = |(record, _): &&(ProjectionRecord, Vec<String>)| {
        request.projection.as_ref().map_or_else(
            || model.is_none_or(|m| record.embedding_model == m),
            |id| record.id == *id,
        )
    };
    let exact = |(_, experiments): &&(ProjectionRecord, Vec<String>)| experiments == &[experiment];
    candidates
        .iter()
        .filter(wanted)
        .find(exact)
        .or_else(|| candidates.iter().find(wanted))
        .map(|(record, _)| record.clone())
        .ok_or_else(|| FigureError::NoProjection {
            experiment: experiment.to_owned(),
            model: model.map(str::to_owned),
        })
}

/// The experiments a projection covers: its `projection_experiment` rows, or for layouts
/// stored with only a scope (as `project run` and the explorer store them) the scope's list.
fn projection_experiments(record: &ProjectionRecord) -> Vec<String> {
    if !record.experiment_ids.is_empty() {
        return record.experiment_ids.clone();
    }
    serde_json::from_str::<crate::analysis::projection::ProjectionScope>(&record.scope_json)
        .map(|scope| scope.experiments().to_vec())
        .unwrap_or_default()
}

fn newest_clustering(
    store: &Store,
    experiment: &str,
    projection: &ProjectionRecord,
) -> Result<Option<ClusteringRecord>, FigureError> {
    Ok(store
        .list_clusterings(Some(experiment))?
        .into_iter()
        .map(|summary| summary.record)
        .find(|record| record.embedding_model == projection.embedding_model))
}

/// The index in `data.runs` of a run given by id or prefix.
fn find_run(
    store: &Store,
    data: &Trajectories,
    id: &str,
    experiment: &str,
) -> Result<usize, FigureError> {
    let unknown = || FigureError::UnknownRun {
        run: id.to_owned(),
        experiment: experiment.to_owned(),
    };
    let full = match store.resolve_run(id) {
        Ok(full) => full,
        Err(StoreError::NotFound { .. }) => return Err(unknown()),
        Err(other) => return Err(other.into()),
    };
    data.runs
        .iter()
        .position(|run| run.id == full)
        .ok_or_else(unknown)
}

/// A step is fine while some chosen run reaches it; shorter runs are then drawn whole.
fn check_step(data: &Trajectories, runs: &[usize], step: u32) -> Result<(), FigureError> {
    let last_step = |run: &TrajectoryRun| {
        run.points
            .iter()
            .filter_map(|index| data.points.get(*index))
            .map(|point| point.sequence_number)
            .max()
    };
    let longest = runs
        .iter()
        .filter_map(|index| data.runs.get(*index))
        .filter_map(|run| Some((run, last_step(run)?)))
        .max_by_key(|(_, last)| *last);
    match longest {
        Some((_, last)) if step <= last => Ok(()),
        Some((run, last)) => Err(FigureError::StepBeyond {
            step,
            run: run.id.clone(),
            last,
        }),
        None => Err(FigureError::StepBeyond {
            step,
            run: runs
                .first()
                .and_then(|index| data.runs.get(*index))
                .map(|run| run.id.clone())
                .unwrap_or_default(),
            last: 0,
        }),
    }
}

/// Colour of points without a clustering.
const UNCLUSTERED: [u8; 3] = [70, 90, 120];

/// One map figure, ready to draw in any format.
pub struct MapFigure<'a> {
    pub data: &'a Trajectories,
    pub title: String,
    pub subtitle: String,
    /// Indices into `data.runs` whose trajectories are drawn, in legend order.
    pub runs: Vec<usize>,
    pub step: Option<u32>,
    pub size: (u32, u32),
}

impl Drawing for MapFigure<'_> {
    fn name(&self) -> &str {
        &self.title
    }

    fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Vector figures print 8 inches wide, like the PNG.
    fn pdf_dpi(&self) -> f32 {
        (self.size.0 as f64 / WIDTH_INCHES) as f32
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError> {
        self.draw(root)
            .map_err(|detail| draw_error(&self.title, detail))
    }
}

/// A legend row: swatch colour, whether it is a line (a run) or a dot (a cluster), text lines.
struct LegendEntry {
    colour: [u8; 3],
    line: bool,
    lines: Vec<String>,
}

impl MapFigure<'_> {
    fn scale(&self) -> f64 {
        (self.size.0 as f64 / BASE.0 as f64).min(self.size.1 as f64 / BASE.1 as f64)
    }

    /// Points of run `index` up to the step, in order: x, y, step, cluster colour.
    fn trajectory(&self, index: usize) -> Vec<(f64, f64, u32, [u8; 3])> {
        self.data
            .runs
            .get(index)
            .map(|run| {
                run.points
                    .iter()
                    .filter_map(|point| self.data.points.get(*point))
                    .filter(|point| self.step.is_none_or(|step| point.sequence_number <= step))
                    .map(|point| {
                        let colour = point.label.map_or(UNCLUSTERED, cluster_rgb);
                        (
                            point.x as f64,
                            point.y as f64,
                            point.sequence_number,
                            colour,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let s = self.scale();
        let px = |v: f64| (v * s).round() as i32;
        let error = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
        root.fill(&WHITE).map_err(error)?;
        let (width, height) = root.dim_in_pixel();
        let margin = px(24.0);
        root.draw(&Text::new(
            self.title.clone(),
            (margin, px(16.0)),
            (FONT, 26.0 * s).into_font().color(&BLACK),
        ))
        .map_err(error)?;
        root.draw(&Text::new(
            self.subtitle.clone(),
            (margin, px(50.0)),
            (FONT, 15.0 * s).into_font().color(&RGBColor(90, 90, 90)),
        ))
        .map_err(error)?;
        let top = px(80.0) as u32;
        let legend_width = (360.0 * s) as u32;
        let body = root.margin(top, 0, 0, 0);
        let (map, legend) = body.split_horizontally(width.saturating_sub(legend_width));
        self.draw_map(&map, s).map_err(|e| format!("map: {e}"))?;
        self.draw_legend(&legend, s, height.saturating_sub(top))
            .map_err(|e| format!("legend: {e}"))
    }

    fn draw_map<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        let error = |e: &dyn std::fmt::Debug| format!("{e:?}");
        let (margin, x_labels, y_labels) = (16.0 * s, 44.0 * s, 56.0 * s);
        let (w, h) = area.dim_in_pixel();
        let plot_w = (w as f64 - 2.0 * margin - y_labels).max(1.0);
        let plot_h = (h as f64 - 2.0 * margin - x_labels).max(1.0);
        let (x_range, y_range) = equal_aspect(
            extent(self.data.points.iter().map(|p| p.x as f64)),
            extent(self.data.points.iter().map(|p| p.y as f64)),
            (plot_w, plot_h),
        );
        let mut chart = ChartBuilder::on(area)
            .margin(margin as u32)
            .x_label_area_size(x_labels as u32)
            .y_label_area_size(y_labels as u32)
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
            .map_err(|e| error(&e))?;
        let label_font = (FONT, 13.0 * s).into_font();
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(RGBColor(230, 230, 230))
            .axis_style(RGBColor(150, 150, 150))
            .label_style(label_font.clone())
            .axis_desc_style((FONT, 15.0 * s).into_font())
            .x_desc("t-SNE 1")
            .y_desc("t-SNE 2")
            .x_labels(8)
            .y_labels(8)
            .draw()
            .map_err(|e| error(&e))?;

        // Outliers and unclustered points under the clusters; all faded behind trajectories.
        let opacity = if self.runs.is_empty() { 0.8 } else { 0.45 };
        let radius = (2.5 * s).max(1.0) as i32;
        let mut order: Vec<&crate::analysis::trajectories::TrajectoryPoint> =
            self.data.points.iter().collect();
        order.sort_by_key(|point| point.label.is_some_and(|label| label >= 0));
        chart
            .draw_series(order.into_iter().map(|point| {
                let colour = point.label.map_or(UNCLUSTERED, cluster_rgb);
                Circle::new(
                    (point.x as f64, point.y as f64),
                    radius,
                    rgb(colour).mix(opacity).filled(),
                )
            }))
            .map_err(|e| error(&e))?;

        for (order, index) in self.runs.iter().enumerate() {
            let colour = rgb(run_colour(order));
            let path = self.trajectory(*index);
            let segments = path.len().saturating_sub(1);
            // Older segments fade: the newest is opaque, the first barely there.
            let age_alpha = |i: usize| 0.12 + 0.88 * (i + 1) as f64 / segments.max(1) as f64;
            let stroke = (2.0 * s).max(1.0) as u32;
            chart
                .draw_series(path.windows(2).enumerate().map(|(i, pair)| {
                    PathElement::new(
                        vec![(pair[0].0, pair[0].1), (pair[1].0, pair[1].1)],
                        colour.mix(age_alpha(i)).stroke_width(stroke),
                    )
                }))
                .map_err(|e| error(&e))?;
            // Each visited step in its cluster's colour, as the explorer marks them.
            chart
                .draw_series(path.iter().enumerate().map(|(i, p)| {
                    let alpha = age_alpha(i.saturating_sub(1));
                    Circle::new((p.0, p.1), (3.5 * s) as i32, rgb(p.3).mix(alpha).filled())
                }))
                .map_err(|e| error(&e))?;
            if let Some(&(x, y, step, _)) = path.last() {
                // The current step: a ringed dot, labelled.
                chart
                    .draw_series([
                        Circle::new((x, y), (7.0 * s) as i32, colour.filled()),
                        Circle::new(
                            (x, y),
                            (8.0 * s) as i32,
                            BLACK.stroke_width((2.0 * s).max(1.0) as u32),
                        ),
                    ])
                    .map_err(|e| error(&e))?;
                let at = chart.backend_coord(&(x, y));
                let (bx, by) = area.get_base_pixel();
                area.draw(&Text::new(
                    format!("step {step}"),
                    (at.0 - bx + (11.0 * s) as i32, at.1 - by - (11.0 * s) as i32),
                    (FONT, 14.0 * s).into_font().color(&BLACK),
                ))
                .map_err(|e| error(&e))?;
            }
        }
        Ok(())
    }

    /// Runs first (they are few), then clusters by size while they fit, then outliers.
    fn legend_entries(
        &self,
        chars: usize,
    ) -> (Vec<LegendEntry>, Vec<LegendEntry>, Option<LegendEntry>) {
        let runs = self
            .runs
            .iter()
            .enumerate()
            .filter_map(|(order, index)| {
                let run = self.data.runs.get(*index)?;
                Some(LegendEntry {
                    colour: run_colour(order),
                    line: true,
                    lines: keep_number_with_word(wrap(&run.label(), chars, 2)),
                })
            })
            .collect();
        let mut counts: HashMap<Option<i32>, usize> = HashMap::new();
        for point in &self.data.points {
            *counts.entry(point.label).or_default() += 1;
        }
        let mut clustered: Vec<(i32, usize)> = counts
            .iter()
            .filter_map(|(label, count)| Some((label.filter(|l| *l >= 0)?, *count)))
            .collect();
        clustered.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let clusters = clustered
            .into_iter()
            .map(|(label, count)| {
                let name = self.data.cluster_name(Some(label));
                LegendEntry {
                    colour: cluster_rgb(label),
                    line: false,
                    lines: wrap(&format!("{label}: {name} ({count})"), chars, 2),
                }
            })
            .collect();
        let rest = match (counts.get(&Some(-1)), counts.get(&None)) {
            (Some(n), _) => Some((cluster_rgb(-1), format!("outliers ({n})"))),
            (None, Some(n)) => Some((UNCLUSTERED, format!("not clustered ({n})"))),
            _ => None,
        };
        let rest = rest.map(|(colour, text)| LegendEntry {
            colour,
            line: false,
            lines: vec![text],
        });
        (runs, clusters, rest)
    }

    fn draw_legend<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        s: f64,
        height: u32,
    ) -> Result<(), String> {
        let error = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
        let (width, _) = area.dim_in_pixel();
        let font_size = 13.0 * s;
        let line_height = (17.0 * s).round() as i32;
        let gap = (7.0 * s).round() as i32;
        let swatch = (22.0 * s).round() as i32;
        // DejaVu Sans averages a little over half an em per character.
        let chars =
            ((width as f64 - swatch as f64 - 20.0 * s) / (font_size * 0.56)).max(10.0) as usize;
        let (runs, clusters, rest) = self.legend_entries(chars);
        let bottom = height as i32 - (20.0 * s) as i32;
        let mut y = (24.0 * s) as i32;
        let heading = |area: &DrawingArea<DB, Shift>, text: &str, y: i32| {
            area.draw(&Text::new(
                text.to_owned(),
                (0, y),
                (FONT, 16.0 * s).into_font().color(&BLACK),
            ))
        };
        let entry_height = |entry: &LegendEntry| entry.lines.len() as i32 * line_height + gap;
        let draw_entry = |area: &DrawingArea<DB, Shift>, entry: &LegendEntry, y: i32| {
            let mid = y + line_height / 2;
            if entry.line {
                area.draw(&PathElement::new(
                    vec![(0, mid), (swatch - (4.0 * s) as i32, mid)],
                    rgb(entry.colour).stroke_width((3.0 * s).max(1.0) as u32),
                ))?;
            } else {
                area.draw(&Circle::new(
                    ((swatch - (4.0 * s) as i32) / 2, mid),
                    (5.0 * s) as i32,
                    rgb(entry.colour).filled(),
                ))?;
            }
            for (i, line) in entry.lines.iter().enumerate() {
                area.draw(&Text::new(
                    line.clone(),
                    (swatch, y + i as i32 * line_height + line_height / 2),
                    (FONT, font_size)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
            }
            Ok(())
        };
        if !runs.is_empty() {
            heading(area, "Runs", y).map_err(error)?;
            y += line_height + gap;
            for entry in &runs {
                draw_entry(area, entry, y).map_err(error)?;
                y += entry_height(entry);
            }
            y += gap;
        }
        heading(area, "Clusters", y).map_err(error)?;
        y += line_height + gap;
        let reserved = rest.as_ref().map_or(0, entry_height) + line_height + gap;
        let mut shown = 0;
        for entry in &clusters {
            if y + entry_height(entry) + reserved > bottom {
                break;
            }
            draw_entry(area, entry, y).map_err(error)?;
            y += entry_height(entry);
            shown += 1;
        }
        if shown < clusters.len() {
            area.draw(&Text::new(
                format!("… and {} smaller clusters", clusters.len() - shown),
                (swatch, y),
                (FONT, font_size).into_font().color(&RGBColor(90, 90, 90)),
            ))
            .map_err(error)?;
            y += line_height + gap;
        }
        if let Some(entry) = &rest {
            draw_entry(area, entry, y).map_err(error)?;
        } else if clusters.is_empty() {
            area.draw(&Text::new(
                "no points".to_owned(),
                (swatch, y),
                (FONT, font_size).into_font().color(&RGBColor(90, 90, 90)),
            ))
            .map_err(error)?;
        }
        Ok(())
    }
}

/// Moves the word before a number that a wrap left alone on the last line down to it, so a
/// legend reads "… · run 12" rather than ending a line on "run".
fn keep_number_with_word(mut lines: Vec<String>) -> Vec<String> {
    let lone_number = lines
        .last()
        .is_some_and(|last| !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()));
    if lone_number && lines.len() >= 2 {
        let previous = lines.len() - 2;
        if let Some((head, word)) = lines[previous].rsplit_once(' ') {
            let (head, word) = (head.to_owned(), word.to_owned());
            let last = lines.len() - 1;
            lines[last] = format!("{word} {}", lines[last]);
            lines[previous] = head;
        }
    }
    lines
}

/// Trajectory colours from the chart palette, leaving out its faint yellow.
fn run_colour(order: usize) -> [u8; 3] {
    series_colour(order % 7)
}

/// Axis ranges around the data with one data unit the same length on both axes in a plot of
/// `pixels` (width, height): the narrower range is widened about its centre.
fn equal_aspect(
    x: Option<(f64, f64)>,
    y: Option<(f64, f64)>,
    pixels: (f64, f64),
) -> ((f64, f64), (f64, f64)) {
    let (x, y) = (
        safe_range(x.map_or(0.0, |r| r.0), x.map_or(1.0, |r| r.1)),
        safe_range(y.map_or(0.0, |r| r.0), y.map_or(1.0, |r| r.1)),
    );
    // 4 % padding so edge points are not cut by the frame.
    let (xw, yw) = ((x.1 - x.0) * 1.08, (y.1 - y.0) * 1.08);
    let per_pixel = (xw / pixels.0.max(1.0)).max(yw / pixels.1.max(1.0));
    let widen = |range: (f64, f64), pixels: f64| {
        let mid = range.0 / 2.0 + range.1 / 2.0;
        let half = per_pixel * pixels / 2.0;
        safe_range(mid - half, mid + half)
    };
    (widen(x, pixels.0), widen(y, pixels.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_axes_get_the_same_units_per_pixel() {
        let (x, y) = equal_aspect(Some((0.0, 10.0)), Some((0.0, 1.0)), (800.0, 400.0));
        let per_x = (x.1 - x.0) / 800.0;
        let per_y = (y.1 - y.0) / 400.0;
        assert!((per_x - per_y).abs() < 1e-12, "{per_x} vs {per_y}");
        assert!(x.0 < 0.0 && x.1 > 10.0, "the data fits: {x:?}");
        assert!(y.0 < 0.0 && y.1 > 1.0, "{y:?}");
        // One point or none still gives drawable ranges.
        for (x, y) in [
            equal_aspect(Some((3.0, 3.0)), Some((3.0, 3.0)), (100.0, 100.0)),
            equal_aspect(None, None, (100.0, 50.0)),
        ] {
            assert!(x.1 > x.0 && y.1 > y.0);
        }
    }

    #[test]
    fn empty_and_single_point_maps_still_render() {
        use crate::analysis::trajectories::{TrajectoryPoint, TrajectoryRun};
        let empty = Trajectories::default();
        let one = Trajectories {
            points: vec![TrajectoryPoint {
                x: 1.0,
                y: 1.0,
                run_index: 0,
                sequence_number: 1,
                invocation_id: "i".into(),
                caption: None,
                label: Some(-1),
            }],
            runs: vec![TrajectoryRun {
                id: "r".into(),
                experiment_id: "e".into(),
                prompt: "p".into(),
                network: vec!["A".into()],
                seed: 1,
                number: 1,
                points: vec![0],
            }],
            clusters: Vec::new(),
        };
        for (data, runs) in [(&empty, vec![]), (&one, vec![0]), (&one, vec![])] {
            let figure = MapFigure {
                data,
                title: "t".into(),
                subtitle: "s".into(),
                runs,
                step: Some(1),
                size: (400, 300),
            };
            let image = figure.to_image().expect("png");
            assert_eq!(image.dimensions(), (400, 300));
            assert!(figure.to_svg().expect("svg").contains("Clusters"));
            assert!(figure.to_pdf().expect("pdf").starts_with(b"%PDF"));
        }
    }

    #[test]
    fn a_wrapped_run_number_keeps_its_word() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            keep_number_with_word(lines(&["a · seed 1 · run", "12"])),
            lines(&["a · seed 1 ·", "run 12"])
        );
        let fine = lines(&["a · seed 1", "run 12"]);
        assert_eq!(keep_number_with_word(fine.clone()), fine);
    }

    #[test]
    fn sizes_follow_the_format_and_dpi() {
        assert_eq!(
            FigureSize::Default.pixels(ImageFormat::Png).unwrap(),
            DEFAULT_PNG
        );
        assert_eq!(FigureSize::Default.pixels(ImageFormat::Pdf).unwrap(), BASE);
        assert_eq!(
            FigureSize::Dpi(150).pixels(ImageFormat::Png).unwrap(),
            (1200, 800)
        );
        assert!(matches!(
            FigureSize::Dpi(10).pixels(ImageFormat::Png),
            Err(FigureError::Dpi { dpi: 10 })
        ));
        assert!(matches!(
            FigureSize::Pixels {
                width: 50,
                height: 900
            }
            .pixels(ImageFormat::Svg),
            Err(FigureError::Size { .. })
        ));
    }
}
