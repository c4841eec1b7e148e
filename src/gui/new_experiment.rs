//! The new-experiment form: networks built from the catalog (only valid chains can be formed),
//! the models with their files (Fetch), prompts (drag or ↑/↓ to reorder), seeds or run count,
//! lengths, embedding models, device. It produces the same JSON config the CLI reads and
//! validates it live with the same messages. The device is an app setting, not part of the
//! config (the config format has no place for it, as with the CLI's `--device`).

use std::path::PathBuf;

use eframe::egui;

use super::models::{FilesState, ModelFiles, embedding_space};
use super::reorder;
use crate::config::{self, ConfigError, ExperimentConfig, ValidatedConfig};
use crate::models::onnx::DevicePreference;
use crate::models::{Modality, ModelKind, ModelProvider};
use crate::paths::AppPaths;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeedMode {
    Seeds,
    Runs,
}

pub struct NewExperimentPanel {
    networks: Vec<Vec<String>>,
    prompts: Vec<String>,
    new_prompt: String,
    pasted: String,
    import_path: String,
    seed_mode: SeedMode,
    seeds_text: String,
    num_runs: u32,
    max_length: u32,
    image_size: u32,
    embedding_models: Vec<String>,
    config_path: String,
    message: Option<(bool, String)>,
    model_files: ModelFiles,
    /// Where models run; passed to the model provider when an experiment runs or resumes.
    pub device: DevicePreference,
}

/// What the form asks the app to do.
pub enum FormAction {
    Run(ValidatedConfig),
}

fn device_label(device: DevicePreference) -> &'static str {
    match device {
        DevicePreference::Auto => "Auto (CUDA if available, else CPU)",
        DevicePreference::Cuda => "CUDA",
        DevicePreference::Tensorrt => "TensorRT",
        DevicePreference::Cpu => "CPU",
    }
}

fn models_of(models: &dyn ModelProvider, wanted: impl Fn(&ModelKind) -> bool) -> Vec<String> {
    models
        .names()
        .into_iter()
        .filter(|name| models.describe(name).is_some_and(|kind| wanted(&kind)))
        .collect()
}

impl NewExperimentPanel {
    /// `paths` and `offline` locate and fetch model files, as the CLI's `models fetch` does.
    pub fn new(paths: AppPaths, offline: bool) -> Self {
        Self {
            networks: Vec::new(),
            prompts: Vec::new(),
            new_prompt: String::new(),
            pasted: String::new(),
            import_path: String::new(),
            seed_mode: SeedMode::Seeds,
            seeds_text: "-1".into(),
            num_runs: 4,
            max_length: 100,
            image_size: config::DEFAULT_IMAGE_SIZE,
            embedding_models: vec!["MiniLM".into()],
            config_path: "experiment.json".into(),
            message: None,
            model_files: ModelFiles::new(paths, offline),
            device: DevicePreference::Auto,
        }
    }

    /// Fills the form from an existing config (Duplicate).
    pub fn load_config(&mut self, config: &ExperimentConfig) {
        self.networks = config.networks.clone();
        self.prompts = config.prompts.clone();
        match (&config.seeds, config.num_runs) {
            (Some(seeds), _) => {
                self.seed_mode = SeedMode::Seeds;
                self.seeds_text = seeds
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
            }
            (None, Some(runs)) => {
                self.seed_mode = SeedMode::Runs;
                self.num_runs = runs.max(1) as u32;
            }
            (None, None) => {}
        }
        self.max_length = config.max_length.max(1) as u32;
        self.image_size = config
            .image_size
            .map_or(config::DEFAULT_IMAGE_SIZE, |size| size.max(16) as u32);
        self.embedding_models = config.embedding_models.clone();
    }

    /// The config the form currently describes (seed-list parse errors become problems later).
    pub fn config(&self) -> (ExperimentConfig, Vec<String>) {
        let mut errors = Vec::new();
        let (seeds, num_runs) = match self.seed_mode {
            SeedMode::Seeds => {
                let seeds = self
                    .seeds_text
                    .split([',', ' ', '\n'])
                    .filter(|part| !part.trim().is_empty())
                    .filter_map(|part| match part.trim().parse::<i64>() {
                        Ok(seed) => Some(seed),
                        Err(_) => {
                            errors.push(format!("seeds: '{}' is not a whole number", part.trim()));
                            None
                        }
                    })
                    .collect();
                (Some(seeds), None)
            }
            SeedMode::Runs => (None, Some(i64::from(self.num_runs))),
        };
        (
            ExperimentConfig {
                networks: self.networks.clone(),
                prompts: self.prompts.clone(),
                seeds,
                num_runs,
                embedding_models: self.embedding_models.clone(),
                max_length: i64::from(self.max_length),
                image_size: Some(i64::from(self.image_size)),
            },
            errors,
        )
    }

    fn add_prompts(&mut self, text: &str) -> usize {
        let mut added = 0;
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
            if !self.prompts.iter().any(|prompt| prompt == line) {
                self.prompts.push(line.to_owned());
                added += 1;
            }
        }
        added
    }

    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        models: &dyn ModelProvider,
        can_run: Result<(), &str>,
    ) -> Option<FormAction> {
        let mut action = None;
        let (raw, parse_errors) = self.config();
        let validation = config::validate(&raw, models);
        let mut problems: Vec<String> = parse_errors;
        if let Err(ConfigError::Invalid(found)) = &validation {
            problems.extend(found.iter().map(ToString::to_string));
        }

        ui.heading("New experiment");
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            self.model_files.update(models);
            if self.model_files.is_fetching() {
                ui.ctx().request_repaint_after(std::time::Duration::from_millis(250));
            }
            let missing = self.model_files.missing_count();
            let header = match missing {
                0 => "Models".to_owned(),
                n => format!("Models ({n} without their files yet)"),
            };
            egui::CollapsingHeader::new(egui::RichText::new(header).strong())
                .id_salt("models")
                .show(ui, |ui| self.model_files.ui(ui, models));
            ui.separator();
            self.networks_ui(ui, models);
            ui.separator();
            self.prompts_ui(ui);
            ui.separator();
            self.runs_ui(ui, models);
            ui.separator();
            self.device_ui(ui);
            ui.separator();
            self.file_ui(ui, &raw);
            ui.separator();

            if problems.is_empty() {
                if let Ok(validated) = &validation {
                    ui.label(format!(
                        "Ready: {} runs ({} networks × {} prompts × {} seeds), up to {} invocations.",
                        validated.run_count(),
                        validated.networks().len(),
                        validated.prompts().len(),
                        validated.seeds().len(),
                        validated.run_count() as u64 * u64::from(validated.max_length())
                    ));
                }
                for note in self.file_notes(&raw) {
                    ui.colored_label(ui.visuals().warn_fg_color, note);
                }
            } else {
                ui.label(egui::RichText::new("To fix before running:").strong());
                for problem in &problems {
                    ui.colored_label(ui.visuals().error_fg_color, format!("• {problem}"));
                }
            }
            let reason = match (&validation, can_run) {
                (_, Err(reason)) => Some(reason.to_owned()),
                (Err(_), _) => Some("fix the problems listed above first".to_owned()),
                (Ok(_), Ok(())) if !problems.is_empty() => Some("fix the problems listed above first".to_owned()),
                (Ok(_), Ok(())) => None,
            };
            ui.add_space(6.0);
            let run_button = ui.add_enabled(reason.is_none(), egui::Button::new("▶ Run experiment"));
            let run_button = match &reason {
                Some(reason) => run_button.on_disabled_hover_text(reason.as_str()),
                None => run_button.on_hover_text("Ctrl+Enter"),
            };
            if let Some(reason) = &reason {
                ui.weak(format!("Can't run yet: {reason}"));
            }
            let shortcut = ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Enter));
            if (run_button.clicked() || (shortcut && reason.is_none()))
                && let Ok(validated) = validation
            {
                action = Some(FormAction::Run(validated));
            }
        });
        action
    }

    fn networks_ui(&mut self, ui: &mut egui::Ui, models: &dyn ModelProvider) {
        ui.label(egui::RichText::new("Networks").strong());
        ui.weak("Each network is a cycle: the prompt goes into the first model, each output into the next, the last back into the first.");
        let text_to_image = models_of(models, |kind| *kind == ModelKind::TextToImage);
        let mut remove_network = None;
        for (n, network) in self.networks.iter_mut().enumerate() {
            ui.horizontal_wrapped(|ui| {
                let row_label = ui.label(format!("Network {}:", n + 1));
                let mut remove_model = None;
                for m in 0..network.len() {
                    // Offer only models that take what the previous model outputs.
                    let wanted_input = if m == 0 {
                        Some(Modality::Text)
                    } else {
                        models
                            .describe(&network[m - 1])
                            .and_then(|kind| kind.generative_output())
                    };
                    let choices = models_of(models, |kind| {
                        kind.generative_input().is_some()
                            && (wanted_input.is_none() || kind.generative_input() == wanted_input)
                    });
                    egui::ComboBox::from_id_salt(("network-model", n, m))
                        .selected_text(network[m].clone())
                        .show_ui(ui, |ui| {
                            for choice in &choices {
                                ui.selectable_value(&mut network[m], choice.clone(), choice);
                            }
                        })
                        .response
                        .labelled_by(row_label.id);
                    if network.len() > 1
                        && ui
                            .small_button("✕")
                            .on_hover_text("Remove this model")
                            .clicked()
                    {
                        remove_model = Some(m);
                    }
                    ui.label("→");
                }
                if let Some(m) = remove_model {
                    network.remove(m);
                }
                let next_input = network
                    .last()
                    .and_then(|last| models.describe(last))
                    .and_then(|kind| kind.generative_output())
                    .unwrap_or(Modality::Text);
                let next_choices =
                    models_of(models, |kind| kind.generative_input() == Some(next_input));
                if let Some(first) = next_choices.first()
                    && ui
                        .small_button("+ model")
                        .on_hover_text("Append a model that takes the previous output")
                        .clicked()
                {
                    network.push(first.clone());
                }
                ui.label("↺");
                if ui.small_button("Remove network").clicked() {
                    remove_network = Some(n);
                }
            });
        }
        if let Some(n) = remove_network {
            self.networks.remove(n);
        }
        if ui.button("+ Add network").clicked() {
            let first = text_to_image.first().cloned().unwrap_or_default();
            let captioners = models_of(models, |kind| *kind == ModelKind::ImageToText);
            let second = captioners.first().cloned().unwrap_or_default();
            self.networks.push(vec![first, second]);
        }
    }

    fn prompts_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(egui::RichText::new(format!("Prompts ({})", self.prompts.len())).strong());
        let mut remove = None;
        let mut swap = None;
        let count = self.prompts.len();
        let mut dropped = None;
        for (p, prompt) in self.prompts.iter_mut().enumerate() {
            let row = ui.horizontal(|ui| {
                reorder::handle(ui, "prompts", p);
                let label = ui.label(format!("Prompt {}", p + 1));
                ui.add(
                    egui::TextEdit::singleline(prompt)
                        .desired_width(420.0)
                        .id_salt(("prompt", p)),
                )
                .labelled_by(label.id);
                if ui
                    .add_enabled(p > 0, egui::Button::new("↑").small())
                    .on_hover_text("Move up")
                    .clicked()
                {
                    swap = Some((p - 1, p));
                }
                if ui
                    .add_enabled(p + 1 < count, egui::Button::new("↓").small())
                    .on_hover_text("Move down")
                    .clicked()
                {
                    swap = Some((p, p + 1));
                }
                if ui
                    .small_button("✕")
                    .on_hover_text("Remove prompt")
                    .clicked()
                {
                    remove = Some(p);
                }
            });
            if let Some(moved) = reorder::drop_target(ui, &row.response, "prompts", p) {
                dropped = Some(moved);
            }
        }
        if let Some((a, b)) = swap {
            self.prompts.swap(a, b);
        }
        if let Some((from, to)) = dropped {
            reorder::move_item(&mut self.prompts, from, to);
        }
        if let Some(p) = remove {
            self.prompts.remove(p);
        }
        ui.horizontal(|ui| {
            let label = ui.label("New prompt");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.new_prompt)
                        .hint_text("type a prompt, Enter adds it")
                        .desired_width(420.0)
                        .id_salt("new-prompt"),
                )
                .labelled_by(label.id);
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Add prompt").clicked() || entered {
                let text = std::mem::take(&mut self.new_prompt);
                self.add_prompts(&text);
            }
        });
        egui::CollapsingHeader::new("Paste many / import from a file").show(ui, |ui| {
            super::labelled(
                ui,
                "Prompts to paste, one per line",
                egui::TextEdit::multiline(&mut self.pasted)
                    .hint_text("one prompt per line")
                    .desired_rows(3)
                    .desired_width(520.0),
            );
            if ui.button("Add these lines").clicked() {
                let text = std::mem::take(&mut self.pasted);
                let added = self.add_prompts(&text);
                self.message = Some((true, format!("added {added} prompts")));
            }
            ui.horizontal(|ui| {
                super::labelled(
                    ui,
                    "Prompts file",
                    egui::TextEdit::singleline(&mut self.import_path)
                        .hint_text("prompts.txt")
                        .desired_width(360.0),
                );
                if ui.button("Import").clicked() {
                    match std::fs::read_to_string(&self.import_path) {
                        Ok(text) => {
                            let added = self.add_prompts(&text);
                            self.message = Some((
                                true,
                                format!("added {added} prompts from {}", self.import_path),
                            ));
                        }
                        Err(error) => {
                            self.message =
                                Some((false, format!("cannot read {}: {error}", self.import_path)))
                        }
                    }
                }
            });
        });
    }

    fn runs_ui(&mut self, ui: &mut egui::Ui, models: &dyn ModelProvider) {
        ui.label(egui::RichText::new("Runs").strong());
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.seed_mode, SeedMode::Seeds, "Seeds");
            ui.radio_value(&mut self.seed_mode, SeedMode::Runs, "Unseeded runs");
        });
        match self.seed_mode {
            SeedMode::Seeds => {
                ui.horizontal(|ui| {
                    super::labelled(
                        ui,
                        "Seed list",
                        egui::TextEdit::singleline(&mut self.seeds_text)
                            .desired_width(260.0)
                            .id_salt("seeds"),
                    );
                    ui.weak(
                        "comma-separated; -1 = unseeded. Seeded runs stop when an output repeats.",
                    );
                });
            }
            SeedMode::Runs => {
                ui.horizontal(|ui| {
                    let value = ui.add(egui::DragValue::new(&mut self.num_runs).range(1..=10_000));
                    let label = ui.label("unseeded runs per network and prompt");
                    value.labelled_by(label.id);
                });
            }
        }
        egui::Grid::new("lengths").show(ui, |ui| {
            super::labelled(
                ui,
                "Max length (invocations per run)",
                egui::DragValue::new(&mut self.max_length).range(1..=1_000_000),
            );
            ui.end_row();
            super::labelled(
                ui,
                "Image size (pixels)",
                egui::DragValue::new(&mut self.image_size)
                    .range(16..=4096)
                    .speed(8),
            );
            ui.end_row();
        });
        ui.label("Embedding models");
        for name in models_of(models, |kind| matches!(kind, ModelKind::Embedding { .. })) {
            let mut on = self.embedding_models.contains(&name);
            let description = match models.describe(&name).as_ref().and_then(embedding_space) {
                Some(space) => format!("{name} ({space})"),
                None => name.clone(),
            };
            if ui.checkbox(&mut on, description).changed() {
                if on {
                    self.embedding_models.push(name.clone());
                } else {
                    self.embedding_models.retain(|model| *model != name);
                }
            }
        }
    }

    fn device_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Device");
            egui::ComboBox::from_id_salt("device")
                .selected_text(device_label(self.device))
                .show_ui(ui, |ui| {
                    for device in [
                        DevicePreference::Auto,
                        DevicePreference::Cuda,
                        DevicePreference::Tensorrt,
                        DevicePreference::Cpu,
                    ] {
                        ui.selectable_value(&mut self.device, device, device_label(device));
                    }
                })
                .response
                .labelled_by(label.id);
            ui.weak("where ONNX models run: an app setting used by every run and resume, not part of the config");
        });
    }

    /// Warnings (not errors) about chosen models whose files are not here yet.
    fn file_notes(&self, raw: &ExperimentConfig) -> Vec<String> {
        let mut names: Vec<&String> = raw.networks.iter().flatten().collect();
        names.extend(&raw.embedding_models);
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| match self.model_files.state(name) {
                FilesState::Missing {
                    fetchable: true, ..
                } => Some(format!(
                    "{name}'s files are not here yet: Fetch them above, or the run downloads them first"
                )),
                FilesState::Missing {
                    fetchable: false, ..
                } => Some(format!(
                    "{name}'s files are not here: they are installed by `make setup`, so the run will fail without them"
                )),
                _ => None,
            })
            .collect()
    }

    fn file_ui(&mut self, ui: &mut egui::Ui, raw: &ExperimentConfig) {
        ui.horizontal(|ui| {
            super::labelled(
                ui,
                "Config file",
                egui::TextEdit::singleline(&mut self.config_path).desired_width(320.0),
            );
            if ui.button("Save").clicked() {
                let path = PathBuf::from(&self.config_path);
                let result = serde_json::to_string_pretty(raw)
                    .map_err(|e| e.to_string())
                    .and_then(|json| std::fs::write(&path, json).map_err(|e| e.to_string()));
                self.message = Some(match result {
                    Ok(()) => (true, format!("saved {}", path.display())),
                    Err(error) => (false, format!("cannot save {}: {error}", path.display())),
                });
            }
            if ui.button("Load").clicked() {
                let path = PathBuf::from(&self.config_path);
                match config::load(&path) {
                    Ok(loaded) => {
                        self.load_config(&loaded);
                        self.message = Some((true, format!("loaded {}", path.display())));
                    }
                    Err(error) => self.message = Some((false, error.to_string())),
                }
            }
        });
        super::outcome_label(ui, &self.message);
    }
}
