//! The desktop app (eframe, wgpu renderer). Panels are plain structs with a `ui` method; all
//! long work happens on background threads that report back over channels. The app owns the
//! shared state (one read connection to the database, the running job) and carries out what
//! the panels ask for, through the same library calls the CLI uses.

mod analyses;
mod clusters;
mod experiments;
mod explorer;
mod export;
mod job;
mod models;
mod monitor;
mod new_experiment;
pub mod points;
mod reorder;
mod system;
mod task;

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;

use crate::engine::{self, EngineOptions};
use crate::models::ModelProvider;
use crate::models::provider::{CatalogProvider, ProviderOptions};
use crate::paths::AppPaths;
use crate::store::{ExperimentStatus, Store};

use experiments::{ExperimentAction, ExperimentsPanel};
use job::ExperimentJob;
use new_experiment::{FormAction, NewExperimentPanel};

/// The demo experiment offered on first launch (the Sketch image and caption models + MiniLM).
pub const DEMO_CONFIG: &str = include_str!("../../assets/configs/demo.json");

/// DejaVu Sans (free licence, see assets/fonts): a fallback for the arrows, symbols and
/// non-Latin prompts that egui's built-in font lacks, so nothing depends on system fonts.
const FALLBACK_FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn install_fonts(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    fonts.font_data.insert(
        "dejavu-sans".into(),
        Arc::new(egui::FontData::from_static(FALLBACK_FONT)),
    );
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts
            .families
            .entry(family)
            .or_default()
            .push("dejavu-sans".into());
    }
    ctx.set_fonts(fonts);
}

/// What the app opens.
#[derive(Clone)]
pub struct AppOptions {
    pub database: PathBuf,
    /// Whether the user named `database` (`--db`); if not, the app reopens the database it had
    /// open last time, when that file still exists.
    pub database_chosen: bool,
    pub paths: AppPaths,
    /// Models to use; `None` = the catalog with files from the model cache.
    pub models: Option<Arc<dyn ModelProvider>>,
    /// How catalog models run (`--device`, `--offline`); the app's device setting overrides
    /// the device once the user picks one.
    pub provider: ProviderOptions,
}

/// A "Next: …" button, the way on from a panel for someone new to the tool; true when clicked.
pub(crate) fn next_step_button(ui: &mut egui::Ui, what: &str, hint: &str) -> bool {
    let text = egui::RichText::new(format!("Next: {what} →")).strong();
    ui.add(egui::Button::new(text).fill(ui.visuals().selection.bg_fill))
        .on_hover_text(hint)
        .clicked()
}

/// True, after saying so, when there are no experiments. With `next`, a next-step button to the
/// demo, which sets it to [`Section::Experiments`] when clicked.
pub(crate) fn no_experiments(
    ui: &mut egui::Ui,
    experiments: &[crate::store::ExperimentSummary],
    next: Option<&mut Option<Section>>,
) -> bool {
    if !experiments.is_empty() {
        return false;
    }
    ui.label("No experiments yet: run one first.");
    if let Some(next) = next
        && next_step_button(
            ui,
            "run the demo",
            "Experiments offers a one-click demo that runs offline in about a minute",
        )
    {
        *next = Some(Section::Experiments);
    }
    true
}

/// A labelled "Experiment" combo box of short ids over `selected`; the experiment picked this
/// frame, if any (`selected` then holds its id).
pub(crate) fn experiment_combo<'a>(
    ui: &mut egui::Ui,
    id_salt: &str,
    selected: &mut Option<String>,
    experiments: &'a [crate::store::ExperimentSummary],
) -> Option<&'a crate::store::ExperimentSummary> {
    let label = ui.label("Experiment");
    let current = selected.as_deref();
    let mut chosen = None;
    egui::ComboBox::from_id_salt(id_salt)
        .selected_text(
            current
                .map_or("", |id| crate::store::short_id(id, 12))
                .to_owned(),
        )
        .show_ui(ui, |ui| {
            for summary in experiments {
                let id = &summary.record.id;
                if ui
                    .selectable_label(current == Some(id), crate::store::short_id(id, 12))
                    .clicked()
                {
                    chosen = Some(summary);
                }
            }
        })
        .response
        .labelled_by(label.id);
    if let Some(summary) = chosen {
        *selected = Some(summary.record.id.clone());
    }
    chosen
}

/// A grid's header row: each of `headers` in bold, then the end of the row.
pub(crate) fn header_row(ui: &mut egui::Ui, headers: &[&str]) {
    for header in headers {
        ui.label(egui::RichText::new(*header).strong());
    }
    ui.end_row();
}

/// `widget` after a label that names it.
pub(crate) fn labelled(ui: &mut egui::Ui, text: &str, widget: impl egui::Widget) -> egui::Response {
    let label = ui.label(text);
    ui.add(widget).labelled_by(label.id)
}

/// A panel's last outcome: plain when it went well, in the error colour when not.
pub(crate) fn outcome_label(ui: &mut egui::Ui, outcome: &Option<(bool, String)>) {
    if let Some((ok, message)) = outcome {
        if *ok {
            ui.label(message);
        } else {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
    }
}

/// The sections of the app, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Section {
    Experiments,
    NewExperiment,
    Monitor,
    Explorer,
    Clusters,
    Analyses,
    Export,
    System,
}

impl Section {
    const ALL: [Section; 8] = [
        Section::Experiments,
        Section::NewExperiment,
        Section::Monitor,
        Section::Explorer,
        Section::Clusters,
        Section::Analyses,
        Section::Export,
        Section::System,
    ];

    fn title(self) -> &'static str {
        match self {
            Section::Experiments => "Experiments",
            Section::NewExperiment => "New experiment",
            Section::Monitor => "Monitor",
            Section::Explorer => "Explorer",
            Section::Clusters => "Clusters",
            Section::Analyses => "Analyses",
            Section::Export => "Export",
            Section::System => "System",
        }
    }
}

pub struct PanicApp {
    options: AppOptions,
    models: Arc<dyn ModelProvider>,
    store: Result<Store, String>,
    section: Section,
    experiments: ExperimentsPanel,
    clusters: clusters::ClustersPanel,
    explorer: explorer::ExplorerPanel,
    analyses: analyses::AnalysesPanel,
    export: export::ExportPanel,
    new_experiment: NewExperimentPanel,
    job: Option<ExperimentJob>,
    system: system::SystemPanel,
    error: Option<String>,
    confirm_quit: bool,
    quitting: bool,
    /// Experiments to offer to resume on Experiments (checked once the database is read).
    resume_offer: ResumeOffer,
    /// The experiment "Stop and quit" stopped, remembered so the next launch offers it.
    stopped_on_quit: Option<String>,
}

enum ResumeOffer {
    /// Not looked at yet.
    Unchecked,
    Offer(Vec<String>),
}

const SECTION_KEY: &str = "panic-tda.section";
const DATABASE_KEY: &str = "panic-tda.database";
const DEVICE_KEY: &str = "panic-tda.device";
const STOPPED_KEY: &str = "panic-tda.stopped-on-quit";

impl PanicApp {
    pub fn new(cc: &eframe::CreationContext<'_>, mut options: AppOptions) -> Self {
        install_fonts(&cc.egui_ctx);
        let remembered = |key: &str| cc.storage.and_then(|storage| storage.get_string(key));
        let section = cc
            .storage
            .and_then(|storage| eframe::get_value(storage, SECTION_KEY))
            .filter(|section| *section != Section::Monitor)
            .unwrap_or(Section::Experiments);
        if !options.database_chosen
            && let Some(last) = remembered(DATABASE_KEY).map(PathBuf::from)
            && last.is_file()
        {
            options.database = last;
        }
        let device = cc
            .storage
            .and_then(|storage| eframe::get_value(storage, DEVICE_KEY))
            .unwrap_or(options.provider.device);
        let stopped_on_quit = remembered(STOPPED_KEY).filter(|id| !id.is_empty());
        let models = options.models.clone().unwrap_or_else(|| {
            Arc::new(CatalogProvider::new(
                options.paths.clone(),
                options.provider,
            ))
        });
        let store = Store::open(&options.database).map_err(|e| e.to_string());
        let system = system::SystemPanel::new(options.paths.clone(), options.database.clone());
        let mut new_experiment =
            NewExperimentPanel::new(options.paths.clone(), options.provider.offline);
        new_experiment.device = device;
        Self {
            options,
            models,
            store,
            section,
            experiments: ExperimentsPanel::new(),
            clusters: clusters::ClustersPanel::new(),
            explorer: explorer::ExplorerPanel::new(cc.wgpu_render_state.as_ref()),
            analyses: analyses::AnalysesPanel::default(),
            export: export::ExportPanel::default(),
            new_experiment,
            job: None,
            system,
            error: None,
            confirm_quit: false,
            quitting: false,
            resume_offer: ResumeOffer::Unchecked,
            stopped_on_quit,
        }
    }

    /// How many cluster example thumbnails the Clusters section shows (`None`: loading).
    pub fn cluster_examples_shown(&self) -> Option<usize> {
        self.clusters.examples_shown()
    }

    /// The database the app has open.
    pub fn database(&self) -> &std::path::Path {
        &self.options.database
    }

    /// The experiments the Experiments section offers to resume.
    pub fn resume_offers(&self) -> &[String] {
        match &self.resume_offer {
            ResumeOffer::Offer(ids) => ids,
            ResumeOffer::Unchecked => &[],
        }
    }

    /// On the first look at the database: experiments left `running` (the app or machine
    /// stopped mid-run) and the one "Stop and quit" stopped, unless finished since.
    fn check_resume_offer(&mut self) {
        if !matches!(self.resume_offer, ResumeOffer::Unchecked) {
            return;
        }
        let ids = self
            .experiments
            .summaries()
            .iter()
            .map(|summary| &summary.record)
            .filter(|record| {
                record.status == ExperimentStatus::Running
                    || (self.stopped_on_quit.as_deref() == Some(record.id.as_str())
                        && record.status != ExperimentStatus::Completed)
            })
            .map(|record| record.id.clone())
            .collect::<Vec<_>>();
        if !ids.is_empty() {
            self.section = Section::Experiments;
        }
        // Remembered until resumed or dismissed (or gone, or finished).
        if self
            .stopped_on_quit
            .as_ref()
            .is_some_and(|id| !ids.contains(id))
        {
            self.stopped_on_quit = None;
        }
        self.resume_offer = ResumeOffer::Offer(ids);
    }

    /// The provider a run uses: the injected one, or the catalog on the chosen device.
    fn run_provider(&self) -> Arc<dyn ModelProvider> {
        match &self.options.models {
            Some(models) => models.clone(),
            None => Arc::new(CatalogProvider::new(
                self.options.paths.clone(),
                ProviderOptions {
                    device: self.new_experiment.device,
                    ..self.options.provider
                },
            )),
        }
    }

    /// Follows a next-step button: opens `section`, on `experiment` when one is given.
    fn go_on(&mut self, section: Section, experiment: Option<&str>) {
        if let Some(id) = experiment {
            self.explorer.focus(id);
            self.analyses.focus(id);
            self.export.focus(id);
        }
        self.section = section;
    }

    pub fn section(&self) -> Section {
        self.section
    }

    /// What the explorer's per-step cluster indicator shows: (step, cluster name).
    pub fn explorer_indicator(&self) -> Option<(u32, String)> {
        self.explorer.indicator()
    }

    /// The experiment the Export panel is on.
    pub fn export_experiment(&self) -> Option<&str> {
        self.export.experiment()
    }

    /// Where the explorer drew step `step` of run `run` (both 0-based) in the last frame.
    pub fn explorer_point_position(&self, run: usize, step: usize) -> Option<egui::Pos2> {
        self.explorer.screen_position(run, step)
    }

    /// Runs the explorer draws for comparison besides the selected one.
    pub fn explorer_compared_runs(&self) -> usize {
        self.explorer.compared_runs()
    }

    /// What the explorer's last Save figure said: (succeeded, message).
    pub fn explorer_figure_message(&self) -> Option<(bool, String)> {
        self.explorer.figure_message().cloned()
    }

    /// Moves the explorer's step slider (tests drive it like a user would drag it).
    pub fn explorer_set_step(&mut self, step: usize) {
        self.explorer.set_step(step);
    }

    /// The config the new-experiment form currently describes.
    pub fn draft_config(&self) -> crate::config::ExperimentConfig {
        self.new_experiment.config().0
    }

    /// The running (or last finished) experiment job: (done, total, finished).
    pub fn job_progress(&self) -> Option<(u64, u64, bool)> {
        self.job
            .as_ref()
            .map(|job| (job.invocations.0, job.invocations.1, job.is_finished()))
    }

    fn running_id(&self) -> Option<&str> {
        self.job
            .as_ref()
            .filter(|job| !job.is_finished())
            .map(|job| job.experiment_id.as_str())
    }

    fn start_job(&mut self, ctx: &egui::Context, experiment_id: String) {
        if let ResumeOffer::Offer(ids) = &mut self.resume_offer {
            ids.retain(|id| *id != experiment_id);
        }
        if self.stopped_on_quit.as_ref() == Some(&experiment_id) {
            self.stopped_on_quit = None;
        }
        self.job = Some(ExperimentJob::start(
            self.options.database.clone(),
            self.run_provider(),
            experiment_id,
            EngineOptions::default(),
            ctx.clone(),
        ));
        self.section = Section::Monitor;
        self.experiments.needs_refresh = true;
    }

    fn create_and_run(&mut self, ctx: &egui::Context, config: &crate::config::ValidatedConfig) {
        let Ok(store) = &mut self.store else { return };
        match engine::create_experiment(store, config) {
            Ok(id) => self.start_job(ctx, id),
            Err(error) => self.error = Some(error.to_string()),
        }
    }

    fn handle_experiment_action(&mut self, ctx: &egui::Context, action: ExperimentAction) {
        match action {
            ExperimentAction::Resume(id) => self.start_job(ctx, id),
            ExperimentAction::Duplicate(id) => {
                let Ok(store) = &self.store else { return };
                match store
                    .experiment(&id)
                    .map_err(|e| e.to_string())
                    .and_then(|record| {
                        crate::config::parse(&record.config_json, "stored config")
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(config) => {
                        self.new_experiment.load_config(&config);
                        self.section = Section::NewExperiment;
                    }
                    Err(error) => self.error = Some(error),
                }
            }
            ExperimentAction::Delete(id) => {
                if let Ok(store) = &mut self.store
                    && let Err(error) = store.delete_experiment(&id)
                {
                    self.error = Some(error.to_string());
                }
                self.experiments.needs_refresh = true;
            }
            ExperimentAction::DismissResume => {
                self.resume_offer = ResumeOffer::Offer(Vec::new());
                self.stopped_on_quit = None;
            }
            ExperimentAction::RunDemo => {
                let validated = crate::config::parse(DEMO_CONFIG, "demo config")
                    .and_then(|raw| crate::config::validate(&raw, self.models.as_ref()));
                match validated {
                    Ok(config) => self.create_and_run(ctx, &config),
                    Err(error) => self.error = Some(error.to_string()),
                }
            }
        }
    }

    fn navigation_ui(&mut self, ui: &mut egui::Ui) {
        ui.add_space(6.0);
        ui.heading("panic-tda");
        ui.separator();
        for section in Section::ALL {
            let mut title = section.title().to_owned();
            if section == Section::Monitor && self.running_id().is_some() {
                title.push_str(" ●");
            }
            if ui
                .selectable_label(self.section == section, title)
                .clicked()
            {
                self.section = section;
            }
        }
        ui.add_space(12.0);
        ui.label("Theme");
        let mut theme = ui.ctx().options(|options| options.theme_preference);
        let before = theme;
        ui.horizontal(|ui| {
            ui.selectable_value(&mut theme, egui::ThemePreference::System, "Auto");
            ui.selectable_value(&mut theme, egui::ThemePreference::Light, "Light");
            ui.selectable_value(&mut theme, egui::ThemePreference::Dark, "Dark");
        });
        if theme != before {
            ui.ctx().set_theme(theme);
        }
    }

    fn placeholder_ui(ui: &mut egui::Ui, title: &str, what: &str) {
        ui.heading(title);
        ui.add_space(8.0);
        ui.label(what);
    }

    fn quit_dialog_ui(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| i.viewport().close_requested())
            && self.running_id().is_some()
            && !self.quitting
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.confirm_quit = true;
        }
        if self.quitting && self.running_id().is_none() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if !self.confirm_quit {
            return;
        }
        egui::Modal::new(egui::Id::unique("confirm-quit")).show(ctx, |ui| {
            ui.heading("An experiment is running");
            ui.label("Quitting stops it after the current batch; everything done so far is kept and Resume continues it.");
            ui.horizontal(|ui| {
                if ui.button("Stop and quit").clicked() {
                    if let Some(job) = &self.job {
                        job.cancel();
                        self.stopped_on_quit = Some(job.experiment_id.clone());
                    }
                    self.quitting = true;
                    self.confirm_quit = false;
                }
                if ui.button("Keep running").clicked() {
                    self.confirm_quit = false;
                }
            });
        });
    }
}

impl eframe::App for PanicApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if let Some(job) = &mut self.job
            && job.poll(&ctx)
        {
            self.experiments.needs_refresh = true;
        }
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::N)) {
            self.section = Section::NewExperiment;
        }
        self.quit_dialog_ui(&ctx);

        egui::Panel::bottom("status_bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(format!("Database: {}", self.options.database.display()));
                if let Some(job) = &self.job
                    && !job.is_finished()
                {
                    ui.separator();
                    ui.label(format!(
                        "running: {}/{} invocations",
                        job.invocations.0, job.invocations.1
                    ));
                }
            });
        });
        egui::Panel::left("navigation")
            .resizable(false)
            .exact_size(170.0)
            .show(ui, |ui| self.navigation_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(error) = self.error.clone() {
                ui.horizontal(|ui| {
                    ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {error}"));
                    if ui.small_button("Dismiss").clicked() {
                        self.error = None;
                    }
                });
                ui.separator();
            }
            if self.store.is_ok() && self.experiments.has_listed() {
                self.check_resume_offer();
            }
            let store = match &self.store {
                Ok(store) => store,
                Err(error) => {
                    ui.heading("The database could not be opened");
                    ui.colored_label(ui.visuals().error_fg_color, error);
                    ui.label("Nothing was changed. Close other programs using it, or start with another file: panic-tda --db OTHER.sqlite");
                    return;
                }
            };
            if let Err(error) = self.experiments.refresh(store) {
                self.error = Some(error);
            }
            if let Some(error) = self.experiments.last_error.take() {
                self.error = Some(error);
            }
            match self.section {
                Section::Experiments => {
                    let running = self.running_id().map(str::to_owned);
                    let offers = self.resume_offers().to_vec();
                    if let Some(action) = self.experiments.ui(ui, store, running.as_deref(), &offers) {
                        self.handle_experiment_action(&ctx, action);
                    }
                }
                Section::NewExperiment => {
                    let can_run = if self.running_id().is_some() {
                        Err("another experiment is running; wait for it or stop it in Monitor")
                    } else {
                        Ok(())
                    };
                    let models = self.models.clone();
                    if let Some(FormAction::Run(config)) = self.new_experiment.ui(ui, models.as_ref(), can_run) {
                        self.create_and_run(&ctx, &config);
                    }
                }
                Section::Monitor => match &self.job {
                    Some(job) => match monitor::monitor_ui(ui, job) {
                        Some(monitor::MonitorAction::Stop) => job.cancel(),
                        Some(monitor::MonitorAction::Resume) => {
                            let id = job.experiment_id.clone();
                            self.start_job(&ctx, id);
                        }
                        Some(monitor::MonitorAction::Next(section)) => {
                            let id = job.experiment_id.clone();
                            self.go_on(section, Some(&id));
                        }
                        None => {}
                    },
                    None => Self::placeholder_ui(
                        ui,
                        "Monitor",
                        "No experiment is running. Start one under \"New experiment\", or resume one from \"Experiments\".",
                    ),
                },
                Section::Explorer => {
                    let database = self.options.database.clone();
                    let experiments = self.experiments.summaries().to_vec();
                    self.explorer.ui(ui, store, &experiments, database);
                    if let Some(section) = self.explorer.take_next() {
                        let id = self.explorer.experiment().map(str::to_owned);
                        self.go_on(section, id.as_deref());
                    }
                }
                Section::Clusters => {
                    let database = self.options.database.clone();
                    if let Ok(store) = &mut self.store {
                        self.clusters.ui(ui, store, database);
                    }
                    if let Some(section) = self.clusters.take_next() {
                        self.go_on(section, None);
                    }
                }
                Section::Analyses => {
                    let database = self.options.database.clone();
                    let experiments = self.experiments.summaries().to_vec();
                    self.analyses.ui(ui, &experiments, database);
                    if let Some(section) = self.analyses.take_next() {
                        let id = self.analyses.experiment().map(str::to_owned);
                        self.go_on(section, id.as_deref());
                    }
                }
                Section::Export => {
                    let database = self.options.database.clone();
                    let experiments = self.experiments.summaries().to_vec();
                    self.export.ui(ui, &experiments, database);
                }
                Section::System => self.system.ui(ui),
            }
        });
        if self.running_id().is_some() {
            // Keep the elapsed time and rate ticking between events.
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SECTION_KEY, &self.section);
        eframe::set_value(storage, DEVICE_KEY, &self.new_experiment.device);
        storage.set_string(
            DATABASE_KEY,
            self.options.database.to_string_lossy().into_owned(),
        );
        storage.set_string(
            STOPPED_KEY,
            self.stopped_on_quit.clone().unwrap_or_default(),
        );
    }
}

const ICON_PNG: &[u8] = include_bytes!("../../assets/icons/panic-tda-256.png");

fn window_icon() -> Option<egui::IconData> {
    let icon = image::load_from_memory(ICON_PNG).ok()?.to_rgba8();
    Some(egui::IconData {
        width: icon.width(),
        height: icon.height(),
        rgba: icon.into_raw(),
    })
}

/// Opens the app window and blocks until it closes.
pub fn run(options: AppOptions) -> Result<(), eframe::Error> {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("panic-tda")
        .with_app_id("panic-tda")
        .with_inner_size([1200.0, 800.0])
        .with_min_inner_size([720.0, 480.0]);
    if let Some(icon) = window_icon() {
        viewport = viewport.with_icon(icon);
    }
    let native_options = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    eframe::run_native(
        "panic-tda",
        native_options,
        Box::new(|cc| Ok(Box::new(PanicApp::new(cc, options)))),
    )
}
