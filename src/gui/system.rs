//! System panel: the same report as `panic-tda info`, gathered off the UI thread.

use std::path::PathBuf;
use std::sync::mpsc;

use eframe::egui;

use crate::info::{self, SystemReport};
use crate::paths::AppPaths;

pub struct SystemPanel {
    paths: AppPaths,
    database: PathBuf,
    pending: Option<mpsc::Receiver<SystemReport>>,
    report: Option<SystemReport>,
}

impl SystemPanel {
    pub fn new(paths: AppPaths, database: PathBuf) -> Self {
        Self {
            paths,
            database,
            pending: None,
            report: None,
        }
    }

    fn refresh(&mut self, ctx: &egui::Context) {
        let (sender, receiver) = mpsc::channel();
        let (paths, database, ctx) = (self.paths.clone(), self.database.clone(), ctx.clone());
        std::thread::spawn(move || {
            let _ = sender.send(info::gather(&paths, database));
            ctx.request_repaint();
        });
        self.pending = Some(receiver);
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("System");
        if let Some(receiver) = &self.pending
            && let Ok(report) = receiver.try_recv()
        {
            self.report = Some(report);
            self.pending = None;
        }
        if self.report.is_none() && self.pending.is_none() {
            self.refresh(ui.ctx());
        }
        if ui.button("Check again").clicked() && self.pending.is_none() {
            self.refresh(ui.ctx());
        }
        ui.add_space(8.0);
        match &self.report {
            Some(report) => {
                ui.monospace(report.to_string());
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Checking ONNX Runtime and FFmpeg…");
                });
            }
        }
    }
}
