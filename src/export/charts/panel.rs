//! Drawing one panel of each kind (heatmap, bars, lines, boxes, intervals, scatter, stacked,
//! counts) into its area.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::FONT;
use super::axes::{
    bordered_legend, category_labels, column_names, drawable, extent, finite, has_data, is_whole,
    left, names_below, padded_range, row_chart, titled_chart, whole_number_ticks, xy_chart,
};
use super::figure::{CountSeries, Panel, PanelKind};
use super::style::{heat, rgb, series_colour, shorten, wrap};
use crate::analysis::report::box_summary;

pub(super) fn draw_panel<DB: DrawingBackend>(
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
            let mut chart = titled_chart(
                area,
                &panel.title,
                (45, 170),
                0f64..nc as f64,
                0f64..nr as f64,
            )?;
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
            names_below(area, &chart, 0.0, col_names.into_iter())?;
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
            colours,
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
                    let colour = colours.get(i).copied().unwrap_or(series_colour(0));
                    Rectangle::new([(0.0, y0 + 0.15), (value, y0 + 0.85)], rgb(colour).filled())
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
                bordered_legend(&mut chart, SeriesLabelPosition::UpperRight, 0.85)?;
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
            let mut chart = titled_chart(area, &panel.title, (70, 60), 0f64..n as f64, y0..y1)?;
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
            names_below(
                area,
                &chart,
                y0,
                groups.iter().map(|group| shorten(&group.0, room)),
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
                bordered_legend(&mut chart, SeriesLabelPosition::UpperRight, 0.85)?;
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
            let mut chart = titled_chart(
                area,
                &panel.title,
                (40, 60),
                0f64..n as f64 + room,
                0f64..1.0,
            )?;
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
            names_below(area, &chart, 0.0, categories.iter().cloned())?;
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
    let mut chart = titled_chart(area, title, (40, 60), x0..x1, 0f64..y_high)?;
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
    bordered_legend(&mut chart, SeriesLabelPosition::UpperLeft, 0.9)
}
