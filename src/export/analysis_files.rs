//! Writes an analysis report to a directory: one CSV per table, `report.json` with everything
//! (tables, the drift model's fit, notes), and the charts as PNG and SVG.

use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use super::analysis_charts;
use super::charts::ChartError;
use crate::analysis::report::Report;

#[derive(Debug, Error)]
pub enum ReportFilesError {
    #[error("cannot create the output folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {detail}")]
    Write { path: PathBuf, detail: String },
    #[error(transparent)]
    Chart(#[from] ChartError),
}

/// Which analysis to write: all, or one table with its chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Analysis {
    All,
    Transitions,
    StableRuns,
    Bigrams,
    Stages,
    Returns,
    Agreement,
    Drift,
    DriftModel,
    Timing,
    Persistence,
}

impl Analysis {
    /// Each analysis on its own, in display order.
    pub const EACH: [Analysis; 10] = [
        Analysis::Transitions,
        Analysis::StableRuns,
        Analysis::Bigrams,
        Analysis::Stages,
        Analysis::Returns,
        Analysis::Agreement,
        Analysis::Drift,
        Analysis::DriftModel,
        Analysis::Timing,
        Analysis::Persistence,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Analysis::All => "All",
            Analysis::Transitions => "Transitions",
            Analysis::StableRuns => "Stable runs",
            Analysis::Bigrams => "Bigrams",
            Analysis::Stages => "Stages",
            Analysis::Returns => "Returns",
            Analysis::Agreement => "Agreement",
            Analysis::Drift => "Drift",
            Analysis::DriftModel => "Drift model",
            Analysis::Timing => "Timing",
            Analysis::Persistence => "Persistence",
        }
    }
}

fn write_csv<T: Serialize>(
    dir: &Path,
    name: &str,
    rows: &[T],
) -> Result<PathBuf, ReportFilesError> {
    let path = dir.join(format!("{name}.csv"));
    let error = |detail: String| ReportFilesError::Write {
        path: path.clone(),
        detail,
    };
    let mut writer = csv::Writer::from_path(&path).map_err(|e| error(e.to_string()))?;
    for row in rows {
        writer.serialize(row).map_err(|e| error(e.to_string()))?;
    }
    writer.flush().map_err(|e| error(e.to_string()))?;
    Ok(path)
}

/// Writes the tables, JSON and charts of `which`; returns the files written.
pub fn write_report(
    report: &Report,
    which: Analysis,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportFilesError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportFilesError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let wanted = |a: Analysis| which == Analysis::All || which == a;
    let mut files = Vec::new();
    let mut figures = Vec::new();
    if wanted(Analysis::Transitions) {
        files.push(write_csv(dir, "transitions", &report.transitions)?);
        figures.push(("transitions", analysis_charts::transitions(report)));
    }
    if wanted(Analysis::StableRuns) {
        files.push(write_csv(dir, "stable_runs", &report.stable_runs)?);
        figures.push(("stable_runs", analysis_charts::stable_runs(report)));
        figures.push((
            "runs_by_stable_run",
            analysis_charts::runs_by_stable_run(report),
        ));
    }
    if wanted(Analysis::Bigrams) {
        files.push(write_csv(dir, "bigrams", &report.bigrams)?);
        figures.push(("bigrams", analysis_charts::bigrams(report)));
    }
    if wanted(Analysis::Stages) {
        files.push(write_csv(dir, "stages", &report.stages)?);
        figures.push(("stages", analysis_charts::stages(report)));
    }
    if wanted(Analysis::Returns) {
        files.push(write_csv(dir, "returns", &report.returns)?);
        figures.push(("returns", analysis_charts::returns(report)));
    }
    if wanted(Analysis::Agreement) {
        files.push(write_csv(dir, "agreement", &report.agreement)?);
        figures.push(("agreement", analysis_charts::agreement(report)));
    }
    if wanted(Analysis::Drift) {
        files.push(write_csv(dir, "drift", &report.drift)?);
        figures.push(("drift", analysis_charts::drift(report)));
    }
    if wanted(Analysis::DriftModel) {
        let rows = report
            .drift_model
            .as_ref()
            .map(|fit| fit.coefficients.clone())
            .unwrap_or_default();
        files.push(write_csv(dir, "drift_model", &rows)?);
        figures.push(("drift_model", analysis_charts::drift_model(report)));
    }
    if wanted(Analysis::Timing) {
        files.push(write_csv(dir, "timing", &report.timing)?);
        figures.push(("timing", analysis_charts::timing(report)));
    }
    if wanted(Analysis::Persistence) {
        files.push(write_csv(dir, "persistent_entropy", &report.entropy)?);
        files.push(write_csv(
            dir,
            "persistence_bars",
            &report.persistence_bars,
        )?);
        figures.push(("persistence", analysis_charts::persistence(report)));
    }
    let json = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(|e| ReportFilesError::Write {
        path: json.clone(),
        detail: e.to_string(),
    })?;
    std::fs::write(&json, text).map_err(|e| ReportFilesError::Write {
        path: json.clone(),
        detail: e.to_string(),
    })?;
    files.push(json);
    files.extend(analysis_charts::save(&figures, dir)?);
    Ok(files)
}
