//! Axis ranges and layout: safe, padded ranges, whole-number ticks, category labels and the
//! x/y and row chart builders the panels draw on.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::FONT;
use super::figure::PanelKind;
use super::style::wrap;

/// Tick count for an axis of whole numbers from 0 to `high`: at most one tick per unit, so
/// plotters' nice steps (1, 2, 5 × 10ᵏ) never fall between whole numbers.
pub(super) fn whole_number_ticks(high: f64) -> usize {
    if high.is_finite() && high >= 1.0 {
        (high.floor() as usize + 1).clamp(2, 11)
    } else {
        2
    }
}

pub(super) fn is_whole(value: f64) -> bool {
    value.is_finite() && value.fract() == 0.0
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
pub(super) fn has_data(kind: &PanelKind) -> bool {
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
pub(super) fn category_labels<DB: DrawingBackend>(
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
pub(super) fn column_names(names: &[String]) -> (Vec<String>, Vec<String>) {
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

pub(super) fn left() -> Pos {
    Pos::new(HPos::Right, VPos::Center)
}

pub(super) fn below() -> Pos {
    Pos::new(HPos::Center, VPos::Top)
}

pub(super) type XyChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A titled chart over `x` × `y` with label areas `label_areas` (below, left) pixels deep.
pub(super) fn titled_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    label_areas: (u32, u32),
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<XyChart<'a, DB>, String> {
    ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(label_areas.0)
        .y_label_area_size(label_areas.1)
        .build_cartesian_2d(x, y)
        .map_err(|error| format!("{error:?}"))
}

/// `names` centred under categories 0, 1, … of `chart`, hanging from `y`.
pub(super) fn names_below<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &XyChart<'_, DB>,
    y: f64,
    names: impl Iterator<Item = String>,
) -> Result<(), String> {
    category_labels(
        area,
        names.enumerate().map(|(i, name)| {
            let (px, py) = chart.backend_coord(&(i as f64 + 0.5, y));
            ((px, py + 6), name)
        }),
        below(),
    )
}

/// The series legend at `position`, on white of `opacity` with a grey border.
pub(super) fn bordered_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut XyChart<'a, DB>,
    position: SeriesLabelPosition,
    opacity: f64,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(opacity))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, 12))
        .draw()
        .map_err(|error| format!("{error:?}"))
}

/// A numeric x/y chart with its mesh, spanning `points` (and 0 when `from_zero`).
pub(super) fn xy_chart<'a, DB: DrawingBackend>(
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
    // Steps and other whole-number x values get whole-number ticks: no more ticks than whole
    // numbers in the range, printed without decimals.
    let whole_x = !points.is_empty() && points.iter().all(|p| is_whole(p.0));
    let whole = |v: &f64| format!("{v:.0}");
    let mut chart = titled_chart(area, title, (40, 60), x0..x1, y0..y1)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_label)
        .y_desc(y_label)
        .light_line_style(RGBColor(235, 235, 235));
    if whole_x {
        mesh.x_labels(((x1 - x0).floor() as usize + 1).clamp(2, 10))
            .x_label_formatter(&whole);
    }
    mesh.draw().map_err(e)?;
    Ok(chart)
}

/// A chart with one row per name (first at the top, names left of the rows) over a numeric
/// x range: horizontal bars and interval plots.
pub(super) fn row_chart<'a, 'n, DB: DrawingBackend>(
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
    let mut chart = titled_chart(area, title, (40, 230), x0..x1, 0f64..n as f64)?;
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
