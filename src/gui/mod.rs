//! The desktop app (eframe, wgpu renderer). Panels are plain structs with a `ui` method; all
//! long work happens on background threads that report back over channels.

mod system;

use std::path::PathBuf;

use eframe::egui;

use crate::paths::AppPaths;

/// What the app opens.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub database: PathBuf,
    pub paths: AppPaths,
}

/// The sections of the app, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Section {
    Experiments,
    NewExperiment,
    Explorer,
    Clusters,
    Export,
    System,
}

impl Section {
    const ALL: [Section; 6] = [
        Section::Experiments,
        Section::NewExperiment,
        Section::Explorer,
        Section::Clusters,
        Section::Export,
        Section::System,
    ];

    fn title(self) -> &'static str {
        match self {
            Section::Experiments => "Experiments",
            Section::NewExperiment => "New experiment",
            Section::Explorer => "Explorer",
            Section::Clusters => "Clusters",
            Section::Export => "Export",
            Section::System => "System",
        }
    }
}

pub struct PanicApp {
    options: AppOptions,
    section: Section,
    system: system::SystemPanel,
}

const SECTION_KEY: &str = "panic-tda.section";

impl PanicApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let section = cc
            .storage
            .and_then(|storage| eframe::get_value(storage, SECTION_KEY))
            .unwrap_or(Section::Experiments);
        let system = system::SystemPanel::new(options.paths.clone(), options.database.clone());
        Self {
            options,
            section,
            system,
        }
    }

    pub fn section(&self) -> Section {
        self.section
    }

    fn navigation_ui(&mut self, ui: &mut egui::Ui) {
        ui.add_space(6.0);
        ui.heading("panic-tda");
        ui.separator();
        for section in Section::ALL {
            if ui
                .selectable_label(self.section == section, section.title())
                .clicked()
            {
                self.section = section;
            }
        }
    }

    fn placeholder_ui(ui: &mut egui::Ui, title: &str, what: &str) {
        ui.heading(title);
        ui.add_space(8.0);
        ui.label(what);
    }
}

impl eframe::App for PanicApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::bottom("status_bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(format!("Database: {}", self.options.database.display()));
            });
        });
        egui::Panel::left("navigation")
            .resizable(false)
            .exact_size(170.0)
            .show(ui, |ui| self.navigation_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| match self.section {
            Section::Experiments => Self::placeholder_ui(
                ui,
                "Experiments",
                "No experiments yet. Create one under \"New experiment\", or run one from the command line with `panic-tda experiment run CONFIG`.",
            ),
            Section::NewExperiment => Self::placeholder_ui(
                ui,
                "New experiment",
                "Pick text→image and image→text models to form networks, add prompts and seeds, and run.",
            ),
            Section::Explorer => Self::placeholder_ui(
                ui,
                "Explorer",
                "t-SNE map of every embedding with trajectories and per-step cluster indicators.",
            ),
            Section::Clusters => Self::placeholder_ui(
                ui,
                "Clusters",
                "HDBSCAN clustering runs over the stored embeddings and their clusters.",
            ),
            Section::Export => Self::placeholder_ui(
                ui,
                "Export",
                "Annotated mosaic videos, run images and timelines.",
            ),
            Section::System => self.system.ui(ui),
        });
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SECTION_KEY, &self.section);
    }
}

/// Opens the app window and blocks until it closes.
pub fn run(options: AppOptions) -> Result<(), eframe::Error> {
    let native_options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("panic-tda")
            .with_inner_size([1200.0, 800.0])
            .with_min_inner_size([720.0, 480.0]),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    eframe::run_native(
        "panic-tda",
        native_options,
        Box::new(|cc| Ok(Box::new(PanicApp::new(cc, options)))),
    )
}
