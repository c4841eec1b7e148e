//! The map view: the scatter of projected points coloured by cluster, trajectories drawn up to
//! the current step with older segments fading, hover thumbnails and picking.

use super::*;

pub(super) fn colour(label: Option<i32>) -> egui::Color32 {
    let [r, g, b] = cluster_rgb(label.unwrap_or(-1));
    egui::Color32::from_rgb(r, g, b)
}

pub(super) const POINT_RADIUS: f32 = 2.5;

/// Opacity of segment `i` of `segments`: the newest opaque, the oldest faint (as in the
/// exported figure).
pub(super) fn age_alpha(i: usize, segments: usize) -> f32 {
    0.12 + 0.88 * (i + 1) as f32 / segments.max(1) as f32
}

/// A trajectory in screen coordinates, older segments fading; with arrowheads mid-segment
/// where a segment is long enough to carry one.
pub(super) fn fading_path(
    painter: &egui::Painter,
    path: &[egui::Pos2],
    colour: egui::Color32,
    arrows: bool,
) {
    let segments = path.len().saturating_sub(1);
    for (i, pair) in path.windows(2).enumerate() {
        let (from, to) = (pair[0], pair[1]);
        let faded = colour.gamma_multiply(age_alpha(i, segments));
        painter.line_segment([from, to], egui::Stroke::new(1.5, faded));
        if arrows && (to - from).length() > 12.0 {
            let direction = (to - from).normalized();
            let tip = from + (to - from) * 0.5 + direction * 4.0;
            let side = direction.rot90() * 3.5;
            painter.add(egui::Shape::convex_polygon(
                vec![
                    tip,
                    tip - direction * 8.0 + side,
                    tip - direction * 8.0 - side,
                ],
                faded,
                egui::Stroke::NONE,
            ));
        }
    }
}

impl ExplorerPanel {
    pub(super) fn point_visible(&self, point: &TrajectoryPoint) -> bool {
        self.visible.get(point.run_index).copied().unwrap_or(false)
    }

    /// The visible point nearest to (x, y) within `radius`.
    pub(super) fn nearest_visible(
        &self,
        data: &Trajectories,
        x: f32,
        y: f32,
        radius: f32,
    ) -> Option<usize> {
        data.points
            .iter()
            .enumerate()
            .filter(|(_, point)| self.point_visible(point))
            .map(|(index, point)| (index, (point.x - x).powi(2) + (point.y - y).powi(2)))
            .filter(|(_, distance)| *distance <= radius * radius)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(index, _)| index)
    }

    /// The image of a step, or for a text step the image it captioned (cached, `None` if there
    /// is none or it cannot be read).
    pub(super) fn thumbnail(
        &mut self,
        store: &Store,
        ctx: &egui::Context,
        invocation_id: &str,
    ) -> Option<egui::TextureHandle> {
        if let Some(cached) = self.thumbnails.get(invocation_id) {
            return cached.clone();
        }
        // A failed read is shown as the panel's message, not mistaken for "no image".
        let mut read = |id: &str| match store.invocation(id) {
            Ok(record) => Some(record),
            Err(error) => {
                self.message = Some(format!("reading step {id}: {error}"));
                None
            }
        };
        let image = read(invocation_id).and_then(|record| match record.output {
            Output::Image(image) => Some(image),
            Output::Text(_) => record
                .input_invocation_id
                .and_then(|input| read(&input))
                .and_then(|input| match input.output {
                    Output::Image(image) => Some(image),
                    Output::Text(_) => None,
                }),
        });
        let texture = image.map(|image| texture(ctx, invocation_id, &image));
        if self.thumbnails.len() >= THUMBNAIL_CACHE {
            self.thumbnails.clear();
        }
        self.thumbnails
            .insert(invocation_id.to_owned(), texture.clone());
        texture
    }

    pub(super) fn explore_ui(
        &mut self,
        ui: &mut egui::Ui,
        store: &Store,
        data: &Trajectories,
        database: &std::path::Path,
    ) {
        if self.playing && self.last_tick.elapsed() > Duration::from_millis(300) {
            self.last_tick = Instant::now();
            let last = self
                .selected_run
                .and_then(|run| data.runs.get(run))
                .map_or(0, |run| run.points.len().saturating_sub(1));
            if self.step < last {
                self.step += 1;
            } else {
                self.playing = false;
            }
        }
        if self.playing {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }

        let mut select_point = None;
        let mut inspect = None;
        // Long run labels and cluster names wrap inside the panel instead of widening it over
        // the map.
        let widest = (ui.available_width() * 0.4).max(280.0);
        egui::Panel::right("explorer-side")
            .default_size(320.0_f32.min(widest))
            .size_range(240.0..=widest)
            .show(ui, |ui| {
                // The inspector can make the panel taller than the window.
                egui::ScrollArea::vertical()
                    .id_salt("explorer-side-scroll")
                    .show(ui, |ui| inspect = self.side_panel_ui(ui, data, database));
            });
        if let Some((run_id, prompt, invocation_id)) = inspect {
            self.inspect(database, ui.ctx(), &run_id, &prompt, &invocation_id);
        }

        let faded = self.selected_run.is_some();
        let alpha = if faded { 0.45 } else { 1.0 };
        let (mut min, mut max) = ([f32::MAX; 2], [f32::MIN; 2]);
        for point in &data.points {
            min = [min[0].min(point.x), min[1].min(point.y)];
            max = [max[0].max(point.x), max[1].max(point.y)];
        }
        let mut plot = Plot::new("explorer-plot").data_aspect(1.0);
        if !data.points.is_empty() {
            // Bounds from every point, so filtering doesn't move the layout.
            plot = plot
                .include_x(min[0])
                .include_x(max[0])
                .include_y(min[1])
                .include_y(max[1]);
        }
        let gpu = self.gpu;
        let response = plot.show(ui, |plot| {
            if !gpu {
                // Fallback without wgpu: one egui_plot item per cluster.
                let mut groups: std::collections::BTreeMap<i32, Vec<[f64; 2]>> =
                    std::collections::BTreeMap::new();
                for point in data.points.iter().filter(|point| self.point_visible(point)) {
                    groups
                        .entry(point.label.unwrap_or(-1))
                        .or_default()
                        .push([point.x as f64, point.y as f64]);
                }
                for (label, points) in groups {
                    plot.points(
                        Points::new(data.cluster_name(Some(label)), PlotPoints::from(points))
                            .radius(POINT_RADIUS)
                            .color(colour(Some(label)).gamma_multiply(alpha)),
                    );
                }
            }
            plot.pointer_coordinate()
        });
        self.last_transform = Some(response.transform);
        let frame = *response.transform.frame();
        let painter = ui.painter().with_clip_rect(frame.intersect(ui.clip_rect()));
        if gpu {
            let cloud = self.cloud.get_or_insert_with(|| {
                points::PointCloud::new(
                    data.points
                        .iter()
                        .filter(|point| self.visible.get(point.run_index).copied().unwrap_or(false))
                        .map(|point| ([point.x, point.y], colour(point.label))),
                )
            });
            points::paint_in_plot(&painter, &response.transform, cloud, POINT_RADIUS, alpha);
        }
        // A run's points in screen coordinates, in step order.
        let screen_path = |run: &crate::analysis::trajectories::TrajectoryRun| -> Vec<egui::Pos2> {
            run.points
                .iter()
                .filter_map(|index| data.points.get(*index))
                .map(|point| {
                    response
                        .transform
                        .position_from_point(&PlotPoint::new(point.x, point.y))
                })
                .collect()
        };
        // Compared runs under the selected one: each path in its own colour up to the current
        // step, so runs can be followed side by side.
        for (order, index) in self
            .compared
            .iter()
            .filter(|index| Some(**index) != self.selected_run)
            .enumerate()
        {
            let Some(run) = data.runs.get(*index) else {
                continue;
            };
            let [r, g, b] = crate::export::charts::series_colour(order + 1);
            let colour = egui::Color32::from_rgb(r, g, b);
            let path = screen_path(run);
            let shown = &path[..(self.step + 1).min(path.len())];
            fading_path(&painter, shown, colour, false);
            if let Some(current) = shown.last() {
                painter.circle(
                    *current,
                    6.0,
                    egui::Color32::TRANSPARENT,
                    egui::Stroke::new(1.5, colour),
                );
            }
        }
        // The selected run on top, drawn up to the current step: older segments fade, arrows
        // give the direction, each visited step in its cluster's colour.
        if let Some(run) = self.selected_run.and_then(|index| data.runs.get(index)) {
            let path = screen_path(run);
            let shown = &path[..(self.step + 1).min(path.len())];
            fading_path(&painter, shown, ui.visuals().strong_text_color(), true);
            for (position, index) in run.points.iter().take(shown.len()).enumerate() {
                if let (Some(at), Some(point)) = (shown.get(position), data.points.get(*index)) {
                    painter.circle_filled(*at, POINT_RADIUS + 1.0, colour(point.label));
                }
            }
            if let Some(current) = shown.last() {
                painter.circle(
                    *current,
                    7.0,
                    egui::Color32::TRANSPARENT,
                    egui::Stroke::new(2.5, ui.visuals().strong_text_color()),
                );
            }
        }
        // Hover: caption and image of the nearest point; click: select its run, step and inspect it.
        if let Some(pointer) = response.inner {
            let scale = response.transform.dvalue_dpos()[0].abs() as f32 * 6.0;
            if let Some(index) =
                self.nearest_visible(data, pointer.x as f32, pointer.y as f32, scale)
            {
                let point = &data.points[index];
                let run = &data.runs[point.run_index];
                let thumbnail = self.thumbnail(store, ui.ctx(), &point.invocation_id);
                response.response.clone().on_hover_ui_at_pointer(|ui| {
                    ui.label(format!("{} · step {}", run.prompt, point.sequence_number));
                    ui.label(format!("cluster: {}", data.cluster_name(point.label)));
                    if let Some(texture) = &thumbnail {
                        ui.add(
                            egui::Image::from_texture(egui::load::SizedTexture::from_handle(
                                texture,
                            ))
                            .fit_to_exact_size(egui::vec2(96.0, 96.0)),
                        );
                    }
                    if let Some(caption) = &point.caption {
                        ui.label(caption);
                    }
                });
                if response.response.clicked() {
                    select_point = Some(index);
                }
            }
        }
        if let Some(index) = select_point {
            let point = &data.points[index];
            let run = point.run_index;
            self.step = data.runs[run]
                .points
                .iter()
                .position(|candidate| *candidate == index)
                .unwrap_or(0);
            self.selected_run = Some(run);
            let (run_id, prompt) = (data.runs[run].id.clone(), data.runs[run].prompt.clone());
            self.inspect(
                database,
                ui.ctx(),
                &run_id,
                &prompt,
                &point.invocation_id.clone(),
            );
        }
    }
}
