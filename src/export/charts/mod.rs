//! Static charts (PNG, SVG and PDF) drawn with `plotters`: a figure is a title over a grid of
//! panels, each panel one of a few chart kinds. The analyses build figures from their tables
//! ([`super::analysis_charts`]); the same figure renders to every format (PDF from the SVG).
//!
//! This module owns the bundled font and the error type; `figure` the figure and panel types,
//! `output` drawing to PNG/SVG/PDF and writing files, `style` colours and labels, `axes` ranges
//! and axis layout, and `panel` drawing each panel kind.

mod axes;
mod figure;
mod output;
mod panel;
mod style;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use thiserror::Error;

pub(crate) use axes::{extent, safe_range};
pub use figure::{CountSeries, Figure, Line, Panel, PanelKind, PointGroup};
pub(crate) use output::draw_error;
pub use output::{Drawing, ImageFormat, svg_to_pdf};
pub(crate) use style::rgb;
pub use style::{SERIES_COLOURS, series_colour, shorten, wrap};

pub(crate) static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
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
