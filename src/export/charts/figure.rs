//! The figure model: lines, point groups, the panel kinds and a figure (a title over a grid of
//! panels) with its layout and drawing.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::output::{Drawing, draw_error};
use super::panel::draw_panel;
use super::{ChartError, FONT};

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
        /// A colour per bar (e.g. per network, as in the other charts); empty = all the first
        /// series colour.
        colours: Vec<[u8; 3]>,
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
