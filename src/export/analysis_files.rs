//! Writes an analysis report to a directory: one CSV per table, `report.json` with everything
//! (tables, the drift model's fit, notes), and the charts as PNG, SVG and PDF.

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
    /// Everything in one self-contained HTML page (`--out` names the .html file).
    Report,
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
            Analysis::Report => "Report",
        }
    }
}

/// The CSV header line (with its line end) of a row type, taken from a default row: the csv
/// writer only writes headers with the first row, so an empty table would get none.
fn csv_header<T: Serialize + Default>() -> Result<Vec<u8>, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(T::default()).map_err(|e| e.to_string())?;
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| i + 1);
    Ok(bytes[..end].to_vec())
}

fn write_csv<T: Serialize + Default>(
    dir: &Path,
    name: &str,
    rows: &[T],
) -> Result<PathBuf, ReportFilesError> {
    let path = dir.join(format!("{name}.csv"));
    let error = |detail: String| ReportFilesError::Write {
        path: path.clone(),
        detail,
    };
    if rows.is_empty() {
        // Header only, so readers still see the columns.
        let header = csv_header::<T>().map_err(error)?;
        std::fs::write(&path, header).map_err(|e| error(e.to_string()))?;
        return Ok(path);
    }
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
    if which == Analysis::Report {
        return Err(ReportFilesError::Write {
            path: dir.to_path_buf(),
            detail: "the one-page report is one file: write it with report_html".into(),
        });
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::report::{AgreementRow, BigramRow, ReturnRow, TransitionRow};

    fn first_line(path: &Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().next().unwrap_or_default().to_owned()
    }

    #[test]
    fn empty_tables_still_get_their_header_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_csv::<AgreementRow>(dir.path(), "agreement", &[]).unwrap();
        assert_eq!(
            first_line(&path),
            "model_a,model_b,clustering_a,clustering_b,outputs,adjusted_rand_index,normalized_mutual_information"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        let path = write_csv::<BigramRow>(dir.path(), "bigrams", &[]).unwrap();
        assert_eq!(
            first_line(&path),
            "embedding_model,network,rank,from,to,from_name,to_name,count"
        );
        let path = write_csv::<TransitionRow>(dir.path(), "transitions", &[]).unwrap();
        assert!(first_line(&path).starts_with("embedding_model,network,from,to,"));
        // An Option field must still give its column.
        let path = write_csv::<ReturnRow>(dir.path(), "returns", &[]).unwrap();
        assert!(first_line(&path).contains("steps_to_return"));
    }

    #[test]
    fn a_full_table_has_one_header_then_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![BigramRow::default(), BigramRow::default()];
        let path = write_csv(dir.path(), "bigrams", &rows).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.starts_with("embedding_model,"));
    }
}
