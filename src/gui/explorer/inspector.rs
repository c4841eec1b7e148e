//! The invocation inspector (one run's steps, images included, read off the UI thread) and
//! the per-run timeline strip.

use super::*;

/// The invocation inspector: one run's invocations (all steps, images included) and the one shown.
pub(super) struct Inspector {
    run_id: String,
    prompt: String,
    invocations: Vec<InvocationRecord>,
    index: usize,
    textures: HashMap<String, egui::TextureHandle>,
}

pub(super) fn texture(ctx: &egui::Context, name: &str, image: &RgbImage) -> egui::TextureHandle {
    let size = [image.width() as usize, image.height() as usize];
    ctx.load_texture(
        format!("explorer-{name}"),
        egui::ColorImage::from_rgb(size, image.as_raw()),
        egui::TextureOptions::LINEAR,
    )
}

/// A step's output: its text, or its image (texture cached by invocation id).
pub(super) fn show_output(
    ui: &mut egui::Ui,
    textures: &mut HashMap<String, egui::TextureHandle>,
    invocation: &InvocationRecord,
) {
    match &invocation.output {
        Output::Text(text) => {
            ui.label(text);
        }
        Output::Image(image) => {
            let handle = textures
                .entry(invocation.id.clone())
                .or_insert_with(|| texture(ui.ctx(), &invocation.id, image));
            ui.add(
                egui::Image::from_texture(egui::load::SizedTexture::from_handle(handle))
                    .fit_to_exact_size(egui::vec2(128.0, 128.0)),
            );
        }
    }
}

/// Timeline strip: the run's cluster at every embedded step, the current one marked; clicking it
/// moves the step.
pub(super) fn timeline(
    ui: &mut egui::Ui,
    data: &Trajectories,
    run: &TrajectoryRun,
    step: &mut usize,
) {
    let width = ui.available_width();
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, 22.0), egui::Sense::click());
    let count = run.points.len().max(1) as f32;
    for (position, index) in run.points.iter().enumerate() {
        let Some(point) = data.points.get(*index) else {
            continue;
        };
        let x0 = rect.left() + rect.width() * position as f32 / count;
        let x1 = rect.left() + rect.width() * (position + 1) as f32 / count;
        let cell = egui::Rect::from_min_max(
            egui::pos2(x0, rect.top() + 3.0),
            egui::pos2(x1, rect.bottom() - 3.0),
        );
        ui.painter().rect_filled(cell, 0.0, colour(point.label));
        if position == *step {
            ui.painter().rect_stroke(
                cell.expand(2.0),
                0.0,
                egui::Stroke::new(2.0, ui.visuals().strong_text_color()),
                egui::StrokeKind::Outside,
            );
        }
    }
    if let Some(position) = response.interact_pointer_pos() {
        let fraction = ((position.x - rect.left()) / rect.width()).clamp(0.0, 0.999);
        *step = (fraction * count) as usize;
    }
}

impl ExplorerPanel {
    /// Opens the inspector on an invocation of a run; the run is read in the background.
    pub(super) fn inspect(
        &mut self,
        database: &std::path::Path,
        ctx: &egui::Context,
        run_id: &str,
        prompt: &str,
        invocation_id: &str,
    ) {
        let (database, run_id, prompt, invocation_id) = (
            database.to_path_buf(),
            run_id.to_owned(),
            prompt.to_owned(),
            invocation_id.to_owned(),
        );
        self.inspector_load = Some(crate::gui::task::Task::spawn(ctx, "inspector", move || {
            let store = Store::open(&database).map_err(|e| e.to_string())?;
            let invocations = store.invocations(&run_id).map_err(|e| e.to_string())?;
            let index = invocations
                .iter()
                .position(|invocation| invocation.id == invocation_id)
                .ok_or_else(|| format!("invocation {invocation_id} is not in run {run_id}"))?;
            Ok(Inspector {
                run_id,
                prompt,
                invocations,
                index,
                textures: HashMap::new(),
            })
        }));
    }

    pub(super) fn poll_inspector(&mut self) {
        if let Some(outcome) = self
            .inspector_load
            .as_mut()
            .and_then(|task| task.finished())
        {
            self.inspector_load = None;
            match outcome {
                Ok(inspector) => self.inspector = Some(inspector),
                Err(error) => self.message = Some(error),
            }
        }
    }

    /// The inspected invocation: input, output, model, timings, and links along its run.
    pub(super) fn inspector_ui(&mut self, ui: &mut egui::Ui, data: &Trajectories) {
        let Some(inspector) = &mut self.inspector else {
            return;
        };
        let mut close = false;
        let mut moved = None;
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("Inspector").strong());
            if ui.small_button("Close inspector").clicked() {
                close = true;
            }
        });
        let count = inspector.invocations.len();
        let Some(invocation) = inspector.invocations.get(inspector.index) else {
            ui.weak("This run has no invocations.");
            if close {
                self.inspector = None;
            }
            return;
        };
        ui.label(format!(
            "{} · step {} of {}",
            inspector.prompt,
            invocation.sequence_number,
            count.saturating_sub(1)
        ));
        ui.label(format!(
            "Model: {} · seed {}",
            invocation.model, invocation.seed
        ));
        let micros = invocation
            .completed_at
            .saturating_sub(invocation.started_at);
        ui.label(format!(
            "Took {:.1} ms (batch of {}), started {}",
            micros as f64 / 1000.0,
            invocation.batch_size,
            format_timestamp(invocation.started_at)
        ));
        let input = invocation.input_invocation_id.as_ref().and_then(|id| {
            inspector
                .invocations
                .iter()
                .find(|candidate| &candidate.id == id)
        });
        egui::Grid::new("explorer-inspector")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("Input");
                match input {
                    Some(input) => show_output(ui, &mut inspector.textures, input),
                    None => {
                        ui.label(egui::RichText::new(&inspector.prompt).italics());
                    }
                }
                ui.end_row();
                ui.label("Output");
                show_output(ui, &mut inspector.textures, invocation);
                ui.end_row();
            });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(inspector.index > 0, egui::Button::new("← Previous step"))
                .clicked()
            {
                moved = Some(inspector.index - 1);
            }
            if ui
                .add_enabled(
                    inspector.index + 1 < count,
                    egui::Button::new("Next step →"),
                )
                .clicked()
            {
                moved = Some(inspector.index + 1);
            }
        });
        if let Some(index) = moved {
            inspector.index = index;
            // Follow along the slider when the step is one of the plotted points.
            if let Some(id) = inspector
                .invocations
                .get(index)
                .map(|record| record.id.clone())
                && let Some(run) = data.runs.iter().position(|run| run.id == inspector.run_id)
                && let Some(step) = data.runs[run].points.iter().position(|point| {
                    data.points
                        .get(*point)
                        .is_some_and(|p| p.invocation_id == id)
                })
            {
                self.selected_run = Some(run);
                self.step = step;
            }
        }
        if close {
            self.inspector = None;
        }
    }
}
