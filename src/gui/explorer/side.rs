//! The explorer's side panel: the run list (select, compare), step controls with the per-step
//! cluster indicator and the timeline, Save figure, the inspector and the cluster legend.

use super::*;

/// (run id, prompt, invocation id) of a step to open in the inspector.
pub(super) type InspectRequest = (String, String, String);

impl ExplorerPanel {
    /// Draws the side panel; returns the step the user asked to inspect, if any.
    pub(super) fn side_panel_ui(
        &mut self,
        ui: &mut egui::Ui,
        data: &Trajectories,
        database: &std::path::Path,
    ) -> Option<InspectRequest> {
        let mut inspect = None;
        ui.label(egui::RichText::new("Runs").strong());
        egui::ScrollArea::vertical()
            .id_salt("explorer-runs")
            .max_height(150.0)
            .show(ui, |ui| {
                for (index, run) in data.runs.iter().enumerate() {
                    if !self.visible.get(index).copied().unwrap_or(false) {
                        continue;
                    }
                    let label = run.label();
                    ui.horizontal(|ui| {
                        let mut compared = self.compared.contains(&index);
                        let checkbox = ui.checkbox(&mut compared, "");
                        checkbox.widget_info(|| {
                            egui::WidgetInfo::selected(
                                egui::accesskit::Role::CheckBox,
                                true,
                                compared,
                                format!("Compare run {}", index + 1),
                            )
                        });
                        if checkbox
                            .on_hover_text("Also draw this run, for comparison")
                            .changed()
                        {
                            if compared {
                                self.compared.insert(index);
                            } else {
                                self.compared.remove(&index);
                            }
                        }
                        if ui
                            .add(
                                egui::Button::selectable(self.selected_run == Some(index), label)
                                    .wrap_mode(egui::TextWrapMode::Wrap),
                            )
                            .clicked()
                        {
                            self.selected_run = Some(index);
                            self.step = 0;
                        }
                    });
                }
            });
        ui.separator();
        if let Some(run) = self.selected_run.and_then(|index| data.runs.get(index)) {
            let last = run.points.len().saturating_sub(1);
            self.step = self.step.min(last);
            ui.horizontal(|ui| {
                let text = if self.playing { "Pause" } else { "▶ Play" };
                if ui.button(text).clicked() {
                    if !self.playing && self.step >= last {
                        self.step = 0;
                    }
                    self.playing = !self.playing;
                    self.last_tick = Instant::now();
                }
                crate::gui::labelled(ui, "Step", egui::Slider::new(&mut self.step, 0..=last));
            });
            if let Some(point) = run
                .points
                .get(self.step)
                .and_then(|index| data.points.get(*index))
            {
                let name = data.cluster_name(point.label);
                ui.horizontal(|ui| {
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(16.0, 16.0), egui::Sense::hover());
                    ui.painter().rect_filled(rect, 3.0, colour(point.label));
                    // The button first, so the (wrapping) label takes the width that is left.
                    let button = egui::Button::new("Inspect")
                        .small()
                        .wrap_mode(egui::TextWrapMode::Extend);
                    if ui.add(button).clicked() {
                        inspect = Some((
                            run.id.clone(),
                            run.prompt.clone(),
                            point.invocation_id.clone(),
                        ));
                    }
                    ui.add(
                        egui::Label::new(format!("Step {}: {name}", point.sequence_number)).wrap(),
                    );
                });
                if let Some(caption) = &point.caption {
                    ui.add(egui::Label::new(egui::RichText::new(caption).italics()).wrap());
                }
            }
            timeline(ui, data, run, &mut self.step);
        }
        ui.separator();
        self.figure_ui(ui, data, database);
        ui.separator();
        if self.inspector.is_some() {
            self.inspector_ui(ui, data);
            ui.separator();
        }
        ui.label(egui::RichText::new("Clusters").strong());
        egui::ScrollArea::vertical()
            .id_salt("explorer-legend")
            .show(ui, |ui| {
                for cluster in data.clusters.iter().take(50) {
                    ui.horizontal(|ui| {
                        let (rect, _) =
                            ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                        ui.painter()
                            .rect_filled(rect, 2.0, colour(Some(cluster.label)));
                        ui.add(
                            egui::Label::new(format!("{} ({})", cluster.name, cluster.size)).wrap(),
                        );
                    });
                }
                if data.clusters.len() > 50 {
                    ui.weak(format!(
                        "… and {} smaller clusters",
                        data.clusters.len() - 50
                    ));
                }
                if data.clusters.is_empty() {
                    ui.weak("No clustering of this model chosen (Clusters panel).");
                }
            });
        inspect
    }
}
