//! Static charts (PNG, SVG and PDF) drawn with `plotters`: a figure is a title over a grid of
//! panels, each panel one of a few chart kinds. The analyses build figures from their tables
//! ([`super::analysis_charts`]); the same figure renders to every format (PDF from the SVG).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

use crate::analysis::report::box_summary;

pub(crate) static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub(crate) const FONT: &str = "sans-serif";

#[derive(Debug, Error)]
pub enum ChartError {
    #[error("drawing chart \"{chart}\" failed: {detail}")]
    Draw { chart: String, detail: String },
    #[error("cannot write {path}: {detail}")]
    Write { path: PathBuf, detail: String },
    #[error("the bundled chart font could not be loaded")]
    Font,
    #[error("converting the chart to PDF failed: {detail}")]
    Pdf { detail: String },
    #[error("cannot tell which format to write {path} in: name it .png, .svg or .pdf")]
    UnknownFormat { path: PathBuf },
}

/// Categorical colours for series (networks, models, dimensions): Okabe & Ito's palette,
/// distinguishable with the common colour-vision deficiencies; its yellow is last because it
/// is faint on white.
pub const SERIES_COLOURS: [[u8; 3]; 8] = [
    [0, 114, 178],
    [230, 159, 0],
    [0, 158, 115],
    [213, 94, 0],
    [204, 121, 167],
    [86, 180, 233],
    [0, 0, 0],
    [240, 228, 66],
];

pub fn series_colour(index: usize) -> [u8; 3] {
    SERIES_COLOURS[index % SERIES_COLOURS.len()]
}

#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub colour: [u8; 3],
    pub width: u32,
    /// 0 (invisible) to 1 (opaque).
    pub opacity: f64,
    /// Shown in the legend (thin per-run lines usually are not).
    pub in_legend: bool,
}

/// A named, coloured group of points.
pub type PointGroup = (String, [u8; 3], Vec<(f64, f64)>);

#[derive(Debug, Clone)]
pub enum PanelKind {
    /// Colour-coded matrix; `values[row][col]`, cells annotated with `labels` when given.
    Heatmap {
        rows: Vec<String>,
        cols: Vec<String>,
        values: Vec<Vec<f64>>,
        labels: Option<Vec<Vec<String>>>,
        x_label: String,
        y_label: String,
    },
    /// Horizontal bars, first at the top.
    Bars {
        labels: Vec<String>,
        values: Vec<f64>,
        value_label: String,
    },
    Lines {
        lines: Vec<Line>,
        x_label: String,
        y_label: String,
    },
    /// One box (quartiles, whiskers at the 5th/95th percentile) per group.
    Boxes {
        groups: Vec<(String, Vec<f64>)>,
        y_label: String,
    },
    /// Estimates with intervals, one row each (coefficient plots).
    Intervals {
        rows: Vec<(String, f64, f64, f64)>,
        x_label: String,
    },
    /// Points in a few coloured groups.
    Scatter {
        groups: Vec<PointGroup>,
        x_label: String,
        y_label: String,
    },
    /// Stacked shares per category; each layer is (name, colour, value per category).
    Stacked {
        categories: Vec<String>,
        layers: Vec<(String, [u8; 3], Vec<f64>)>,
        y_label: String,
    },
    /// How many items had each whole-number value (e.g. runs per stable-run length): vertical
    /// bars, one per series side by side, with whole-number ticks on both axes.
    Counts {
        /// (name, colour, (value, count) pairs).
        series: Vec<CountSeries>,
        x_label: String,
        y_label: String,
    },
    /// Nothing to show, and why.
    Empty { message: String },
}

/// One series of a [`PanelKind::Counts`] panel: name, colour, (value, count) pairs.
pub type CountSeries = (String, [u8; 3], Vec<(i64, u64)>);

#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub kind: PanelKind,
}

#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub panels: Vec<Panel>,
    pub columns: usize,
    /// Size of one panel in pixels.
    pub panel_size: (u32, u32),
}

impl Figure {
    pub fn new(title: impl Into<String>, panels: Vec<Panel>) -> Self {
        let columns = panels.len().clamp(1, 3);
        Self {
            title: title.into(),
            panels,
            columns,
            panel_size: (620, 460),
        }
    }

    pub fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().max(1).div_ceil(self.columns.max(1));
        // Wide enough for the title even with one narrow panel.
        let title_width = 14 * self.title.chars().count() as u32 + 40;
        (
            (self.panel_size.0 * self.columns.max(1) as u32).max(title_width),
            self.panel_size.1 * rows as u32 + 50,
        )
    }

    fn error(&self, error: impl std::fmt::Debug) -> ChartError {
        draw_error(&self.title, error)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError> {
        root.fill(&WHITE).map_err(|e| self.error(e))?;
        let body = root
            .titled(&self.title, (FONT, 26))
            .map_err(|e| self.error(e))?;
        let rows = self.panels.len().max(1).div_ceil(self.columns.max(1));
        let areas = body.split_evenly((rows, self.columns.max(1)));
        for (panel, area) in self.panels.iter().zip(areas.iter()) {
            draw_panel(panel, area).map_err(|detail| ChartError::Draw {
                chart: format!("{} / {}", self.title, panel.title),
                detail,
            })?;
        }
        Ok(())
    }
}

impl Drawing for Figure {
    fn name(&self) -> &str {
        &self.title
    }

    fn size(&self) -> (u32, u32) {
        Figure::size(self)
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError> {
        self.draw(root)
    }
}

/// Something drawn with plotters at a fixed size: one drawing routine gives the PNG, the SVG
/// and (converted from the SVG) the PDF, so the formats never disagree.
pub trait Drawing {
    /// Names the drawing in errors.
    fn name(&self) -> &str;

    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);

    /// Pixels per inch of the PDF page: 96 gives the size a browser shows the SVG at.
    fn pdf_dpi(&self) -> f32 {
        96.0
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError>;

    /// Renders to an RGB image.
    fn to_image(&self) -> Result<image::RgbImage, ChartError> {
        register_font()?;
        let (width, height) = self.size();
        let mut buffer = vec![255u8; width as usize * height as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
            self.draw_on(&root)?;
            root.present().map_err(|e| draw_error(self.name(), e))?;
        }
        image::RgbImage::from_raw(width, height, buffer).ok_or_else(|| ChartError::Draw {
            chart: self.name().to_owned(),
            detail: "pixel buffer has the wrong size".into(),
        })
    }

    fn to_svg(&self) -> Result<String, ChartError> {
        register_font()?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size()).into_drawing_area();
            self.draw_on(&root)?;
            root.present().map_err(|e| draw_error(self.name(), e))?;
        }
        Ok(svg)
    }

    /// The SVG rendering converted to PDF (vector, with the chart font embedded).
    fn to_pdf(&self) -> Result<Vec<u8>, ChartError> {
        svg_to_pdf(&self.to_svg()?, self.pdf_dpi())
    }

    fn save_png(&self, path: &Path) -> Result<(), ChartError> {
        write_file(path, &png_bytes(&self.to_image()?, path)?)
    }

    fn save_svg(&self, path: &Path) -> Result<(), ChartError> {
        write_file(path, self.to_svg()?.as_bytes())
    }

    fn save_pdf(&self, path: &Path) -> Result<(), ChartError> {
        write_file(path, &self.to_pdf()?)
    }

    /// Saves in the format `path`'s extension names (.png, .svg or .pdf).
    fn save(&self, path: &Path) -> Result<(), ChartError> {
        match ImageFormat::from_path(path)? {
            ImageFormat::Png => self.save_png(path),
            ImageFormat::Svg => self.save_svg(path),
            ImageFormat::Pdf => self.save_pdf(path),
        }
    }
}

pub(crate) fn draw_error(name: &str, error: impl std::fmt::Debug) -> ChartError {
    ChartError::Draw {
        chart: name.to_owned(),
        detail: format!("{error:?}"),
    }
}

pub(crate) fn register_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

/// The file formats charts and figures are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Svg,
    Pdf,
}

impl ImageFormat {
    /// The format a file name's extension names (any case).
    pub fn from_path(path: &Path) -> Result<Self, ChartError> {
        let extension = path
            .extension()
            .and_then(|ext| ext.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("png") => Ok(Self::Png),
            Some("svg") => Ok(Self::Svg),
            Some("pdf") => Ok(Self::Pdf),
            _ => Err(ChartError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Writes a finished file atomically, so a failed export never leaves half a file.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ChartError> {
    crate::atomic_file::write(path, bytes).map_err(|e| ChartError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// PNG-encodes an image in memory (`path` only names the file in errors).
pub(crate) fn png_bytes(image: &image::RgbImage, path: &Path) -> Result<Vec<u8>, ChartError> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| ChartError::Write {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    Ok(bytes.into_inner())
}

/// The family name inside the bundled font file; SVG text asks for the generic
/// `sans-serif`, which the PDF converter's font database maps to it.
const FONT_FAMILY: &str = "DejaVu Sans";

/// Parsing options whose font database holds only the bundled chart font, so PDFs look the
/// same on every machine and their text never silently disappears for want of a system font.
fn svg_options() -> &'static usvg::Options<'static> {
    static OPTIONS: OnceLock<usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut options = usvg::Options {
            font_family: FONT_FAMILY.to_owned(),
            ..usvg::Options::default()
        };
        let fonts = options.fontdb_mut();
        fonts.load_font_data(FONT_BYTES.to_vec());
        fonts.set_sans_serif_family(FONT_FAMILY);
        options
    })
}

/// Converts an SVG document (as the charts render it) to a one-page PDF, `dpi` SVG pixels to
/// the inch.
pub fn svg_to_pdf(svg: &str, dpi: f32) -> Result<Vec<u8>, ChartError> {
    let options = svg_options();
    if options.fontdb.is_empty() {
        return Err(ChartError::Font);
    }
    let tree = usvg::Tree::from_str(svg, options).map_err(|e| ChartError::Pdf {
        detail: e.to_string(),
    })?;
    svg2pdf::to_pdf(
        &tree,
        svg2pdf::ConversionOptions::default(),
        svg2pdf::PageOptions { dpi },
    )
    .map_err(|e| ChartError::Pdf {
        detail: e.to_string(),
    })
}

pub(crate) fn rgb(colour: [u8; 3]) -> RGBColor {
    RGBColor(colour[0], colour[1], colour[2])
}

/// Shortens long labels so axes stay readable; the full text is in the CSV.
pub fn shorten(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let kept: String = label.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// Breaks a label into at most `max_lines` lines of about `width` characters at spaces (a word
/// longer than a line is split); only text beyond the last line is cut, with an ellipsis.
pub fn wrap(label: &str, width: usize, max_lines: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in label.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = current.chars().count();
            let room = if used == 0 {
                width
            } else {
                width.saturating_sub(used + 1)
            };
            if word.len() <= room {
                if used > 0 {
                    current.push(' ');
                }
                current.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines.max(1) {
        let tail = lines[max_lines.max(1) - 1..].join(" ");
        lines.truncate(max_lines.max(1) - 1);
        lines.push(shorten(&tail, width));
    }
    lines
}

/// Tick count for an axis of whole numbers from 0 to `high`: at most one tick per unit, so
/// plotters' nice steps (1, 2, 5 × 10ᵏ) never fall between whole numbers.
fn whole_number_ticks(high: f64) -> usize {
    if high.is_finite() && high >= 1.0 {
        (high.floor() as usize + 1).clamp(2, 11)
    } else {
        2
    }
}

fn is_whole(value: f64) -> bool {
    value.is_finite() && value.fract() == 0.0
}

/// White → deep blue.
fn heat(value: f64) -> RGBColor {
    let t = value.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

/// Largest magnitude an axis end may have: beyond it widths overflow and plotters' tick search
/// (`compute_f64_key_points`) stops converging.
const AXIS_LIMIT: f64 = 1e100;

/// An axis range plotters can always draw: finite, with `high > low` by a width that is not
/// lost to rounding at the values' magnitude (a zero or NaN width makes the tick search loop).
pub(crate) fn safe_range(low: f64, high: f64) -> (f64, f64) {
    if !low.is_finite() || !high.is_finite() || low > high {
        return (0.0, 1.0);
    }
    let (low, high) = (
        low.clamp(-AXIS_LIMIT, AXIS_LIMIT),
        high.clamp(-AXIS_LIMIT, AXIS_LIMIT),
    );
    let magnitude = low.abs().max(high.abs());
    // At least a millionth of the magnitude, so ticks stay distinct in f64.
    let min_width = (magnitude * 1e-6).max(1e-9);
    if high - low < min_width {
        let mid = low / 2.0 + high / 2.0;
        let half = (magnitude * 0.05).max(0.5);
        return (mid - half, mid + half);
    }
    (low, high)
}

/// The finite extent of `values` (`None` when there is none).
pub(crate) fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|&v| drawable(v))
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A safe axis range over the finite `values`, 5 % padded; (0, 1) when there are none.
pub(crate) fn padded_range(values: impl IntoIterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let Some((mut low, mut high)) = extent(values) else {
        return (0.0, 1.0);
    };
    if from_zero {
        low = low.min(0.0);
        high = high.max(0.0);
    }
    let (low, high) = safe_range(low, high);
    let pad = (high - low) * 0.05;
    safe_range(low - pad, high + pad)
}

/// Finite and within [`AXIS_LIMIT`]: anything beyond would map outside the pixel range
/// (integer overflow in plotters) and is left out.
pub(crate) fn drawable(value: f64) -> bool {
    value.is_finite() && value.abs() <= AXIS_LIMIT
}

pub(crate) fn finite(point: &(f64, f64)) -> bool {
    drawable(point.0) && drawable(point.1)
}

/// Whether a panel has anything finite to draw; those without say so instead of drawing
/// an empty (or degenerate) plot.
fn has_data(kind: &PanelKind) -> bool {
    match kind {
        PanelKind::Empty { .. } => true,
        PanelKind::Heatmap { values, .. } => values.iter().any(|r| !r.is_empty()),
        PanelKind::Bars { labels, .. } => !labels.is_empty(),
        PanelKind::Lines { lines, .. } => lines.iter().any(|l| l.points.iter().any(finite)),
        PanelKind::Boxes { groups, .. } => groups.iter().any(|g| g.1.iter().any(|&v| drawable(v))),
        PanelKind::Intervals { rows, .. } => !rows.is_empty(),
        PanelKind::Scatter { groups, .. } => groups.iter().any(|g| g.2.iter().any(finite)),
        PanelKind::Stacked {
            categories, layers, ..
        } => !categories.is_empty() && !layers.is_empty(),
        PanelKind::Counts { series, .. } => series.iter().any(|s| !s.2.is_empty()),
    }
}

/// Draws names at category centres (the mesh's own labels sit on grid lines, between
/// categories). `at` are absolute backend pixels, as `ChartContext::backend_coord` gives them.
fn category_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: impl IntoIterator<Item = ((i32, i32), String)>,
    pos: Pos,
) -> Result<(), String> {
    const LINE_HEIGHT: i32 = 14;
    let (bx, by) = area.get_base_pixel();
    for ((x, y), text) in labels {
        // Lines of a wrapped label ('\n'-separated) are centred on the anchor as a block.
        let lines: Vec<&str> = text.split('\n').collect();
        let first = match pos.v_pos {
            VPos::Center => -(lines.len() as i32 - 1) * LINE_HEIGHT / 2,
            _ => 0,
        };
        for (i, line) in lines.iter().enumerate() {
            area.draw(&Text::new(
                line.to_string(),
                (x - bx, y - by + first + i as i32 * LINE_HEIGHT),
                TextStyle::from((FONT, 12).into_font()).pos(pos),
            ))
            .map_err(|e| format!("{e:?}"))?;
        }
    }
    Ok(())
}

/// Column names when they fit under their columns, else 1, 2, … (rows then say "1 · name").
fn column_names(names: &[String]) -> (Vec<String>, Vec<String>) {
    let fits = names.len() <= 8 && names.iter().all(|n| n.chars().count() <= 10);
    if fits {
        (names.to_vec(), names.to_vec())
    } else {
        (
            (1..=names.len()).map(|i| i.to_string()).collect(),
            names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{} · {n}", i + 1))
                .collect(),
        )
    }
}

fn left() -> Pos {
    Pos::new(HPos::Right, VPos::Center)
}

fn below() -> Pos {
    Pos::new(HPos::Center, VPos::Top)
}

type XyChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A numeric x/y chart with its mesh, spanning `points` (and 0 when `from_zero`).
fn xy_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    points: impl Iterator<Item = (f64, f64)>,
    from_zero: bool,
    x_label: &str,
    y_label: &str,
) -> Result<XyChart<'a, DB>, String> {
    let e = |error: DrawingAreaErrorKind<DB::ErrorType>| format!("{error:?}");
    let points: Vec<(f64, f64)> = points.filter(finite).collect();
    let (x0, x1) = padded_range(points.iter().map(|p| p.0), from_zero);
    let (y0, y1) = padded_range(points.iter().map(|p| p.1), from_zero);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    Ok(chart)
}

/// A chart with one row per name (first at the top, names left of the rows) over a numeric
/// x range: horizontal bars and interval plots.
fn row_chart<'a, 'n, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    names: impl ExactSizeIterator<Item = &'n str>,
    x_label: &str,
    whole_numbers: bool,
) -> Result<XyChart<'a, DB>, String> {
    let e = |error: DrawingAreaErrorKind<DB::ErrorType>| format!("{error:?}");
    let n = names.len().max(1);
    let (x0, x1) = safe_range(x.start, x.end);
    let x = x0..x1;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(230)
        .build_cartesian_2d(x, 0f64..n as f64)
        .map_err(e)?;
    let row_pixels = area.dim_in_pixel().1.saturating_sub(90) as usize / n;
    let max_lines = (row_pixels / 14).clamp(1, 3);
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh()
        .y_label_formatter(&|_| String::new())
        .light_line_style(RGBColor(235, 235, 235))
        .x_desc(x_label);
    let whole = |v: &f64| format!("{v:.0}");
    if whole_numbers {
        // Ticks on whole numbers only, and no minor grid between them.
        mesh.x_labels(whole_number_ticks(x1))
            .x_label_formatter(&whole)
            .light_line_style(TRANSPARENT);
    }
    mesh.draw().map_err(e)?;
    category_labels(
        area,
        names.enumerate().map(|(i, name)| {
            let (px, py) = chart.backend_coord(&(x0, (n - 1 - i) as f64 + 0.5));
            ((px - 6, py), wrap(name, 34, max_lines).join("\n"))
        }),
        left(),
    )?;
    Ok(chart)
}

fn draw_panel<DB: DrawingBackend>(
    panel: &Panel,
    area: &DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let e = |error: DrawingAreaErrorKind<DB::ErrorType>| format!("{error:?}");
    let caption = (FONT, 18);
    let no_data = PanelKind::Empty {
        message: "no data to show".into(),
    };
    let kind = if has_data(&panel.kind) {
        &panel.kind
    } else {
        &no_data
    };
    match kind {
        PanelKind::Empty { message } => {
            let inner = area.titled(&panel.title, caption).map_err(e)?;
            let (w, h) = inner.dim_in_pixel();
            inner
                .draw(&Text::new(
                    message.clone(),
                    (w as i32 / 2, h as i32 / 2),
                    TextStyle::from((FONT, 14).into_font())
                        .color(&RGBColor(110, 110, 110))
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(e)?;
        }
        PanelKind::Heatmap {
            rows,
            cols,
            values,
            labels,
            x_label,
            y_label,
        } => {
            let (nr, nc) = (rows.len().max(1), cols.len().max(1));
            let max = values
                .iter()
                .flatten()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0f64, f64::max);
            let (col_names, row_names) = if rows == cols {
                column_names(rows)
            } else {
                (cols.iter().map(|c| shorten(c, 10)).collect(), rows.clone())
            };
            // Row names wrap onto as many lines as a row has room for (14 px each).
            let row_pixels = area.dim_in_pixel().1.saturating_sub(100) as usize / nr;
            let row_lines = (row_pixels / 14).clamp(1, 4);
            let row_names: Vec<String> = row_names
                .iter()
                .map(|name| wrap(name, 24, row_lines).join("\n"))
                .collect();
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, caption)
                .margin(10)
                .x_label_area_size(45)
                .y_label_area_size(170)
                .build_cartesian_2d(0f64..nc as f64, 0f64..nr as f64)
                .map_err(e)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_label_formatter(&|_| String::new())
                .y_label_formatter(&|_| String::new())
                .x_desc(x_label.as_str())
                .y_desc(y_label.as_str())
                .draw()
                .map_err(e)?;
            // Row 0 at the top, like a table.
            category_labels(
                area,
                row_names.iter().enumerate().map(|(i, name)| {
                    let (x, y) = chart.backend_coord(&(0.0, (nr - 1 - i) as f64 + 0.5));
                    ((x - 6, y), name.clone())
                }),
                left(),
            )?;
            category_labels(
                area,
                col_names.iter().enumerate().map(|(j, name)| {
                    let (x, y) = chart.backend_coord(&(j as f64 + 0.5, 0.0));
                    ((x, y + 6), name.clone())
                }),
                below(),
            )?;
            for (i, row) in values.iter().enumerate() {
                let y0 = (nr - 1 - i) as f64;
                for (j, &value) in row.iter().enumerate() {
                    let colour = if max > 0.0 {
                        heat(value / max)
                    } else {
                        heat(0.0)
                    };
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(j as f64, y0), (j as f64 + 1.0, y0 + 1.0)],
                            colour.filled(),
                        )))
                        .map_err(e)?;
                    let text = labels
                        .as_ref()
                        .and_then(|l| l.get(i))
                        .and_then(|r| r.get(j));
                    if let Some(text) = text.filter(|t| !t.is_empty() && nc <= 16 && nr <= 16) {
                        let ink = if max > 0.0 && value / max > 0.55 {
                            WHITE
                        } else {
                            BLACK
                        };
                        chart
                            .draw_series(std::iter::once(Text::new(
                                text.clone(),
                                (j as f64 + 0.5, y0 + 0.5),
                                TextStyle::from((FONT, 11).into_font())
                                    .color(&ink)
                                    .pos(Pos::new(HPos::Center, VPos::Center)),
                            )))
                            .map_err(e)?;
                    }
                }
            }
        }
        PanelKind::Bars {
            labels,
            values,
            value_label,
        } => {
            let n = labels.len().max(1);
            // Bars start at 0; non-finite values are left out of the range.
            let (low, high) = extent(values.iter().copied()).unwrap_or((0.0, 1.0));
            let (low, high) = (low.min(0.0), high.max(0.0));
            let mut chart = row_chart(
                area,
                &panel.title,
                low * 1.08..high * 1.08,
                labels.iter().map(String::as_str),
                value_label,
                values.iter().all(|&v| is_whole(v)),
            )?;
            chart
                .draw_series(values.iter().enumerate().map(|(i, &value)| {
                    let y0 = (n - 1 - i) as f64;
                    Rectangle::new(
                        [(0.0, y0 + 0.15), (value, y0 + 0.85)],
                        rgb(series_colour(0)).filled(),
                    )
                }))
                .map_err(e)?;
        }
        PanelKind::Lines {
            lines,
            x_label,
            y_label,
        } => {
            let mut chart = xy_chart(
                area,
                &panel.title,
                lines.iter().flat_map(|l| l.points.iter().copied()),
                false,
                x_label,
                y_label,
            )?;
            let mut any_legend = false;
            for line in lines {
                let colour = rgb(line.colour).mix(line.opacity);
                let style = ShapeStyle {
                    color: colour,
                    filled: false,
                    stroke_width: line.width,
                };
                let series = chart
                    .draw_series(LineSeries::new(
                        line.points.iter().copied().filter(finite),
                        style,
                    ))
                    .map_err(e)?;
                if line.in_legend {
                    any_legend = true;
                    let legend_colour = rgb(line.colour);
                    series.label(shorten(&line.name, 60)).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], legend_colour.stroke_width(3))
                    });
                }
            }
            if any_legend {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(200, 200, 200))
                    .label_font((FONT, 12))
                    .draw()
                    .map_err(e)?;
            }
        }
        PanelKind::Boxes { groups, y_label } => {
            let n = groups.len().max(1);
            let all: Vec<f64> = groups
                .iter()
                .flat_map(|g| g.1.iter().copied())
                .filter(|v| v.is_finite())
                .collect();
            let (y0, y1) = padded_range(all.iter().copied(), false);
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, caption)
                .margin(10)
                .x_label_area_size(70)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..n as f64, y0..y1)
                .map_err(e)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_label_formatter(&|_| String::new())
                .y_desc(y_label.as_str())
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(e)?;
            // As many characters as fit under one box (about 7 px each).
            let width = area.dim_in_pixel().0 as usize;
            let room = (width.saturating_sub(80) / n / 7).max(4);
            category_labels(
                area,
                groups.iter().enumerate().map(|(i, group)| {
                    let (x, y) = chart.backend_coord(&(i as f64 + 0.5, y0));
                    ((x, y + 6), shorten(&group.0, room))
                }),
                below(),
            )?;
            for (i, (_, values)) in groups.iter().enumerate() {
                let values: Vec<f64> = values.iter().copied().filter(|&v| drawable(v)).collect();
                let Some([low, q1, median, q3, high]) = box_summary(&values) else {
                    continue;
                };
                let x = i as f64;
                let colour = rgb(series_colour(i));
                chart
                    .draw_series([
                        PathElement::new(
                            vec![(x + 0.5, low), (x + 0.5, high)],
                            BLACK.stroke_width(1),
                        ),
                        PathElement::new(
                            vec![(x + 0.35, low), (x + 0.65, low)],
                            BLACK.stroke_width(1),
                        ),
                        PathElement::new(
                            vec![(x + 0.35, high), (x + 0.65, high)],
                            BLACK.stroke_width(1),
                        ),
                    ])
                    .map_err(e)?;
                chart
                    .draw_series([
                        Rectangle::new([(x + 0.2, q1), (x + 0.8, q3)], colour.mix(0.6).filled()),
                        Rectangle::new([(x + 0.2, q1), (x + 0.8, q3)], BLACK.stroke_width(1)),
                    ])
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x + 0.2, median), (x + 0.8, median)],
                        BLACK.stroke_width(3),
                    )))
                    .map_err(e)?;
            }
        }
        PanelKind::Intervals { rows, x_label } => {
            let n = rows.len().max(1);
            let (x0, x1) = padded_range(rows.iter().flat_map(|r| [r.1, r.2, r.3]), true);
            let mut chart = row_chart(
                area,
                &panel.title,
                x0..x1,
                rows.iter().map(|row| row.0.as_str()),
                x_label,
                false,
            )?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, 0.0), (0.0, n as f64)],
                    RGBColor(160, 160, 160).stroke_width(1),
                )))
                .map_err(e)?;
            for (i, (_, estimate, low, high)) in rows.iter().enumerate() {
                let y = (n - 1 - i) as f64 + 0.5;
                chart
                    .draw_series([PathElement::new(
                        vec![(*low, y), (*high, y)],
                        rgb(series_colour(0)).stroke_width(2),
                    )])
                    .map_err(e)?;
                chart
                    .draw_series([Circle::new(
                        (*estimate, y),
                        4,
                        rgb(series_colour(0)).filled(),
                    )])
                    .map_err(e)?;
            }
        }
        PanelKind::Scatter {
            groups,
            x_label,
            y_label,
        } => {
            let mut chart = xy_chart(
                area,
                &panel.title,
                groups.iter().flat_map(|g| g.2.iter().copied()),
                true,
                x_label,
                y_label,
            )?;
            for (name, colour, points) in groups {
                let colour = rgb(*colour);
                chart
                    .draw_series(
                        points
                            .iter()
                            .filter(|p| finite(p))
                            .map(|&p| Circle::new(p, 3, colour.mix(0.5).filled())),
                    )
                    .map_err(e)?
                    .label(name.clone())
                    .legend(move |(x, y)| Circle::new((x + 6, y), 4, colour.filled()));
            }
            if !groups.is_empty() {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(200, 200, 200))
                    .label_font((FONT, 12))
                    .draw()
                    .map_err(e)?;
            }
        }
        PanelKind::Stacked {
            categories,
            layers,
            y_label,
        } => {
            let n = categories.len().max(1);
            // Room right of the bars for the legend (about 7 px per character at 11 px), so
            // it never covers a bar.
            let legend_px = layers
                .iter()
                .map(|l| shorten(&l.0, 40).chars().count())
                .max()
                .unwrap_or(0) as f64
                * 6.5
                + 40.0;
            let plot_px = (area.dim_in_pixel().0 as f64 - 90.0).max(legend_px + 100.0);
            let room = n as f64 * legend_px / (plot_px - legend_px);
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, caption)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..n as f64 + room, 0f64..1.0)
                .map_err(e)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_label_formatter(&|_| String::new())
                .x_labels(0)
                .light_line_style(RGBColor(240, 240, 240))
                .y_labels(6)
                .y_desc(y_label.as_str())
                .draw()
                .map_err(e)?;
            category_labels(
                area,
                categories.iter().enumerate().map(|(i, name)| {
                    let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
                    ((x, y + 6), name.clone())
                }),
                below(),
            )?;
            let totals: Vec<f64> = (0..n)
                .map(|c| {
                    layers
                        .iter()
                        .map(|l| l.2.get(c).copied().filter(|v| v.is_finite()).unwrap_or(0.0))
                        .sum()
                })
                .collect();
            let mut bottoms = vec![0.0; n];
            for (name, colour, values) in layers {
                let colour = rgb(*colour);
                for (c, bottom) in bottoms.iter_mut().enumerate() {
                    // Non-finite values count as 0 so the stack stays finite.
                    let value = values.get(c).copied().filter(|v| v.is_finite());
                    let share = value.unwrap_or(0.0) / totals[c].max(1e-12);
                    if share > 0.0 {
                        chart
                            .draw_series([Rectangle::new(
                                [
                                    (c as f64 + 0.15, *bottom),
                                    (c as f64 + 0.85, *bottom + share),
                                ],
                                colour.filled(),
                            )])
                            .map_err(e)?;
                    }
                    *bottom += share;
                }
                chart
                    .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                    .map_err(e)?
                    .label(shorten(name, 40))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .label_font((FONT, 11))
                .draw()
                .map_err(e)?;
        }
        PanelKind::Counts {
            series,
            x_label,
            y_label,
        } => draw_counts(area, &panel.title, series, x_label, y_label)?,
    }
    Ok(())
}

/// Grouped vertical bars of counts at whole-number values, with a legend above the bars.
fn draw_counts<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[CountSeries],
    x_label: &str,
    y_label: &str,
) -> Result<(), String> {
    let e = |error: DrawingAreaErrorKind<DB::ErrorType>| format!("{error:?}");
    let values = series.iter().flat_map(|s| s.2.iter().map(|p| p.0));
    let (low, high) = values.fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (low, high) = if low > high { (0, 1) } else { (low, high) };
    let top = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .max()
        .unwrap_or(1)
        .max(1);
    // Head room for the legend, one line per series.
    let y_high = top as f64 * (1.12 + 0.08 * series.len() as f64);
    let (x0, x1) = (low as f64 - 0.6, high as f64 + 0.6);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, 0f64..y_high)
        .map_err(e)?;
    let whole = |v: &f64| {
        if is_whole(*v) {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(whole_number_ticks(x1 - x0).min(((high - low) as usize + 1).max(2)))
        .y_labels(whole_number_ticks(y_high))
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .light_line_style(TRANSPARENT)
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(e)?;
    let width = 0.8 / series.len().max(1) as f64;
    for (k, (name, colour, counts)) in series.iter().enumerate() {
        let colour = rgb(*colour);
        let offset = -0.4 + k as f64 * width;
        chart
            .draw_series(counts.iter().map(|&(value, count)| {
                let x = value as f64 + offset;
                Rectangle::new(
                    [(x, 0.0), (x + width * 0.92, count as f64)],
                    colour.filled(),
                )
            }))
            .map_err(e)?
            .label(shorten(name, 60))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, 12))
        .draw()
        .map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_wrap_at_spaces_and_only_overflow_is_cut() {
        assert_eq!(wrap("short", 10, 2), vec!["short"]);
        assert_eq!(
            wrap("dummy text caption v2 (seed 12)", 12, 3),
            vec!["dummy text", "caption v2", "(seed 12)"]
        );
        assert_eq!(wrap("abcdefghij", 4, 3), vec!["abcd", "efgh", "ij"]);
        let cut = wrap("one two three four five six", 7, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with('…'), "{cut:?}");
        assert_eq!(wrap("", 5, 2), vec![""]);
        assert_eq!(whole_number_ticks(3.2), 4);
        assert_eq!(whole_number_ticks(0.4), 2);
        assert_eq!(whole_number_ticks(f64::NAN), 2);
    }

    fn sample() -> Figure {
        Figure::new(
            "Sample",
            vec![
                Panel {
                    title: "heat".into(),
                    kind: PanelKind::Heatmap {
                        rows: vec!["a".into(), "b".into()],
                        cols: vec!["a".into(), "b".into()],
                        values: vec![vec![0.0, 1.0], vec![0.25, 0.0]],
                        labels: Some(vec![
                            vec!["".into(), "100%".into()],
                            vec!["25%".into(), "".into()],
                        ]),
                        x_label: "to".into(),
                        y_label: "from".into(),
                    },
                },
                Panel {
                    title: "bars".into(),
                    kind: PanelKind::Bars {
                        labels: vec!["a → b".into(), "b → a".into()],
                        values: vec![3.0, 1.0],
                        value_label: "count".into(),
                    },
                },
                Panel {
                    title: "empty".into(),
                    kind: PanelKind::Empty {
                        message: "nothing here".into(),
                    },
                },
            ],
        )
    }

    #[test]
    fn a_figure_renders_to_png_pixels_and_svg_text() {
        let figure = sample();
        let image = figure.to_image().unwrap();
        assert_eq!((image.width(), image.height()), figure.size());
        // The heatmap's full cell is the darkest blue of the scale.
        assert!(image.pixels().any(|p| p.0 == [8, 48, 107]));
        // Not a blank page: a good share of pixels is not white.
        let inked = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        assert!(inked > 5_000, "{inked}");
        let svg = figure.to_svg().unwrap();
        assert!(svg.starts_with("<svg"));
        for text in ["Sample", "a → b", "100%", "nothing here"] {
            assert!(svg.contains(text), "SVG lacks {text}");
        }
    }

    #[test]
    fn a_figure_converts_to_a_pdf_with_its_font_embedded() {
        let pdf = sample().to_pdf().unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.len() > 10_000, "{} bytes", pdf.len());
        // Text is kept as text in the bundled font, not dropped for want of a system font.
        let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"DejaVuSans"), "font not embedded");
        assert!(has(b"/FontFile"), "font program missing");
    }

    #[test]
    fn the_format_comes_from_the_extension() {
        let format = |name: &str| ImageFormat::from_path(Path::new(name));
        assert_eq!(format("a/b.PNG").unwrap(), ImageFormat::Png);
        assert_eq!(format("b.svg").unwrap(), ImageFormat::Svg);
        assert_eq!(format("c.Pdf").unwrap(), ImageFormat::Pdf);
        for bad in ["d.jpg", "noextension", "e."] {
            let error = format(bad).unwrap_err();
            assert!(matches!(error, ChartError::UnknownFormat { .. }), "{bad}");
            assert!(error.to_string().contains(".pdf"), "{error}");
        }
    }

    fn line(points: Vec<(f64, f64)>) -> Line {
        Line {
            name: "l".into(),
            points,
            colour: series_colour(0),
            width: 2,
            opacity: 1.0,
            in_legend: true,
        }
    }

    fn lines(points: Vec<(f64, f64)>) -> PanelKind {
        PanelKind::Lines {
            lines: vec![line(points)],
            x_label: "x".into(),
            y_label: "y".into(),
        }
    }

    /// Inputs that used to give plotters degenerate axis ranges (one hung forever).
    fn degenerate() -> Vec<(&'static str, PanelKind)> {
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        vec![
            (
                "no lines",
                PanelKind::Lines {
                    lines: vec![],
                    x_label: "x".into(),
                    y_label: "y".into(),
                },
            ),
            ("empty line", lines(vec![])),
            ("one point", lines(vec![(3.0, 7.0)])),
            ("all equal", lines(vec![(1.0, 5.0), (1.0, 5.0), (1.0, 5.0)])),
            (
                "nan and inf",
                lines(vec![(nan, 1.0), (0.0, inf), (1.0, -inf), (2.0, nan)]),
            ),
            ("only nan", lines(vec![(nan, nan)])),
            ("huge", lines(vec![(0.0, 1e12), (1.0, 1e12)])),
            (
                "huge, tiny width",
                lines(vec![(1e12, 1e12), (1e12 + 1e-3, 1e12 + 1e-3)]),
            ),
            (
                "extreme",
                lines(vec![(-f64::MAX, f64::MIN_POSITIVE), (f64::MAX, 1e-300)]),
            ),
            (
                "zero durations",
                PanelKind::Boxes {
                    groups: vec![("m".into(), vec![0.0; 5])],
                    y_label: "s".into(),
                },
            ),
            (
                "empty boxes",
                PanelKind::Boxes {
                    groups: vec![("m".into(), vec![])],
                    y_label: "s".into(),
                },
            ),
            (
                "nan boxes",
                PanelKind::Boxes {
                    groups: vec![("m".into(), vec![nan, inf])],
                    y_label: "s".into(),
                },
            ),
            (
                "no groups",
                PanelKind::Boxes {
                    groups: vec![],
                    y_label: "s".into(),
                },
            ),
            (
                "zero bars",
                PanelKind::Bars {
                    labels: vec!["a".into()],
                    values: vec![0.0],
                    value_label: "n".into(),
                },
            ),
            (
                "huge bars",
                PanelKind::Bars {
                    labels: vec!["a".into(), "b".into()],
                    values: vec![1e12, 1e12],
                    value_label: "n".into(),
                },
            ),
            (
                "bad bars",
                PanelKind::Bars {
                    labels: vec!["a".into(), "b".into()],
                    values: vec![nan, inf],
                    value_label: "n".into(),
                },
            ),
            (
                "no bars",
                PanelKind::Bars {
                    labels: vec![],
                    values: vec![],
                    value_label: "n".into(),
                },
            ),
            (
                "no intervals",
                PanelKind::Intervals {
                    rows: vec![],
                    x_label: "x".into(),
                },
            ),
            (
                "bad intervals",
                PanelKind::Intervals {
                    rows: vec![("a".into(), nan, -inf, inf), ("b".into(), 0.0, 0.0, 0.0)],
                    x_label: "x".into(),
                },
            ),
            (
                "empty scatter",
                PanelKind::Scatter {
                    groups: vec![],
                    x_label: "x".into(),
                    y_label: "y".into(),
                },
            ),
            (
                "nan scatter",
                PanelKind::Scatter {
                    groups: vec![("g".into(), [0, 0, 0], vec![(nan, 1.0), (1e12, 1e12)])],
                    x_label: "x".into(),
                    y_label: "y".into(),
                },
            ),
            (
                "empty heatmap",
                PanelKind::Heatmap {
                    rows: vec![],
                    cols: vec![],
                    values: vec![],
                    labels: None,
                    x_label: "x".into(),
                    y_label: "y".into(),
                },
            ),
            (
                "nan heatmap",
                PanelKind::Heatmap {
                    rows: vec!["a".into()],
                    cols: vec!["a".into()],
                    values: vec![vec![nan]],
                    labels: None,
                    x_label: "x".into(),
                    y_label: "y".into(),
                },
            ),
            (
                "empty stack",
                PanelKind::Stacked {
                    categories: vec![],
                    layers: vec![],
                    y_label: "y".into(),
                },
            ),
            (
                "nan stack",
                PanelKind::Stacked {
                    categories: vec!["c".into()],
                    layers: vec![
                        ("l".into(), [0, 0, 0], vec![nan]),
                        ("m".into(), [9, 9, 9], vec![1.0]),
                    ],
                    y_label: "y".into(),
                },
            ),
        ]
    }

    #[test]
    fn degenerate_inputs_still_render_to_every_format() {
        let dir = tempfile::tempdir().unwrap();
        for (i, (name, kind)) in degenerate().into_iter().enumerate() {
            let figure = Figure::new(
                name,
                vec![Panel {
                    title: name.into(),
                    kind,
                }],
            );
            let png = dir.path().join(format!("{i}.png"));
            let svg = dir.path().join(format!("{i}.svg"));
            let pdf = dir.path().join(format!("{i}.pdf"));
            for path in [&png, &svg, &pdf] {
                figure.save(path).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            for path in [&png, &svg, &pdf] {
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                assert!(size > 0, "{name}: {} is empty", path.display());
            }
        }
    }

    #[test]
    fn panels_without_data_say_so() {
        let figure = Figure::new(
            "Nothing",
            vec![Panel {
                title: "p".into(),
                kind: lines(vec![]),
            }],
        );
        assert!(figure.to_svg().unwrap().contains("no data to show"));
    }

    #[test]
    fn axis_ranges_are_finite_and_wide_enough() {
        let cases = [
            (0.0, 0.0),
            (5.0, 5.0),
            (1e12, 1e12 + 1e-3),
            (f64::NAN, 1.0),
            (0.0, f64::INFINITY),
            (3.0, 1.0),
            (-f64::MAX, f64::MAX),
        ];
        for (low, high) in cases {
            let (a, b) = safe_range(low, high);
            assert!(
                a.is_finite() && b.is_finite() && b > a,
                "{low}..{high} → {a}..{b}"
            );
            assert!(
                b - a >= a.abs().max(b.abs()) * 1e-6,
                "{low}..{high} → {a}..{b}"
            );
        }
        assert_eq!(padded_range([f64::NAN], false), (0.0, 1.0));
        assert_eq!(safe_range(0.0, 10.0), (0.0, 10.0));
    }

    #[test]
    fn long_labels_are_shortened() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
