//! One self-contained HTML page for an experiment's analyses: every chart as inline SVG, a
//! sentence or two on what it shows, its table, the experiment's config and the models it
//! used. Nothing is linked from outside the file, so it can be mailed or archived as is.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::analysis_charts;
use super::analysis_files::ReportFilesError;
use super::charts::{Drawing, Figure};
use crate::analysis::report::Report;

/// Rows of each table shown in the page; the CSV export has them all.
pub const TABLE_ROWS: usize = 100;

/// One section: anchor, heading, explanation, figure, table.
struct Section {
    anchor: &'static str,
    heading: &'static str,
    explanation: &'static str,
    figure: Figure,
    table: Table,
}

/// A table already turned into text cells (header, rows, total row count).
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    total: usize,
}

fn table<T: Serialize + Default>(rows: &[T]) -> Result<Table, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // A default row gives the header even for an empty table; it is skipped below.
    writer.serialize(T::default()).map_err(|e| e.to_string())?;
    for row in rows.iter().take(TABLE_ROWS) {
        writer.serialize(row).map_err(|e| e.to_string())?;
    }
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut cells = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| e.to_string())?;
        if i > 0 {
            cells.push(record.iter().map(str::to_owned).collect());
        }
    }
    Ok(Table {
        header,
        rows: cells,
        total: rows.len(),
    })
}

fn sections(report: &Report) -> Result<Vec<Section>, String> {
    let drift_rows = report
        .drift_model
        .as_ref()
        .map(|fit| fit.coefficients.clone())
        .unwrap_or_default();
    Ok(vec![
        Section {
            anchor: "transitions",
            heading: "Cluster transitions",
            explanation: "How runs move between clusters: each row is a cluster, each cell the \
                share of moves out of it that go to another cluster. Concentrated rows point to \
                attractors; a spread row is a crossroads.",
            figure: analysis_charts::transitions(report),
            table: table(&report.transitions)?,
        },
        Section {
            anchor: "stable-runs",
            heading: "Stable runs",
            explanation: "How long runs stay in one cluster: the longest stretch of consecutive \
                outputs in the same cluster, anywhere in the run and from its start. Long \
                stretches mean the loop has settled on a fixed point or motif.",
            figure: analysis_charts::stable_runs(report),
            table: table(&report.stable_runs)?,
        },
        Section {
            anchor: "runs-by-stable-run",
            heading: "Runs with the longest stable runs",
            explanation: "The runs that settled longest, with the cluster they settled in.",
            figure: analysis_charts::runs_by_stable_run(report),
            table: table::<crate::analysis::report::StableRunRow>(&[])?,
        },
        Section {
            anchor: "bigrams",
            heading: "Most frequent moves",
            explanation: "The cluster-to-cluster moves that occur most often, per network: the \
                recurring steps of the loop's dynamics.",
            figure: analysis_charts::bigrams(report),
            table: table(&report.bigrams)?,
        },
        Section {
            anchor: "stages",
            heading: "Clusters by stage",
            explanation: "Which clusters the outputs fall in during the first, middle and last \
                third of each run. A shift from mixed beginnings to a few clusters at the end is \
                convergence.",
            figure: analysis_charts::stages(report),
            table: table(&report.stages)?,
        },
        Section {
            anchor: "returns",
            heading: "Return to the initial cluster",
            explanation: "Whether and how soon runs come back to the cluster of their first \
                output: a measure of how much the prompt's meaning survives the loop.",
            figure: analysis_charts::returns(report),
            table: table(&report.returns)?,
        },
        Section {
            anchor: "agreement",
            heading: "Agreement between embedding models",
            explanation: "How similarly two embedding models' clusterings group the same \
                outputs (adjusted Rand index and normalised mutual information; 1 = identical).",
            figure: analysis_charts::agreement(report),
            table: table(&report.agreement)?,
        },
        Section {
            anchor: "drift",
            heading: "Semantic drift",
            explanation: "Distance of each output's embedding from the initial prompt's, step by \
                step: rising curves drift away from the prompt, flat ones hold it.",
            figure: analysis_charts::drift(report),
            table: table(&report.drift)?,
        },
        Section {
            anchor: "drift-model",
            heading: "Drift model",
            explanation: "A regression of drift on step, network and prompt: which factors move \
                outputs away from the prompt, with intervals.",
            figure: analysis_charts::drift_model(report),
            table: table(&drift_rows)?,
        },
        Section {
            anchor: "timing",
            heading: "Model timing",
            explanation: "Seconds per output of each model (a batched call's time shared by its \
                outputs).",
            figure: analysis_charts::timing(report),
            table: table(&report.timing)?,
        },
        Section {
            anchor: "persistence",
            heading: "Persistent homology",
            explanation: "Topological summaries of each run's embedding trajectory: persistence \
                diagrams and their entropy per homology dimension.",
            figure: analysis_charts::persistence(report),
            table: table(&report.entropy)?,
        },
    ])
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// The models an experiment config names (networks' models, then embedding models), in order
/// of first mention.
pub fn config_models(config_json: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(config_json) else {
        return Vec::new();
    };
    let mut models: Vec<String> = Vec::new();
    let mut add = |name: &serde_json::Value| {
        if let Some(name) = name.as_str()
            && !models.iter().any(|m| m == name)
        {
            models.push(name.to_owned());
        }
    };
    for network in value["networks"].as_array().into_iter().flatten() {
        network.as_array().into_iter().flatten().for_each(&mut add);
    }
    value["embedding_models"]
        .as_array()
        .into_iter()
        .flatten()
        .for_each(&mut add);
    models
}

/// The page as a string.
pub fn report_html(report: &Report, config_json: &str) -> Result<String, ReportFilesError> {
    let fail = |detail: String| ReportFilesError::Write {
        path: "report.html".into(),
        detail,
    };
    let sections = sections(report).map_err(fail)?;
    let config = serde_json::from_str::<serde_json::Value>(config_json)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or_else(|_| config_json.to_owned());
    let mut page = String::new();
    let title = format!("panic-tda analyses of experiment {}", report.experiment_id);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    page.push_str("<nav><ul>");
    for section in &sections {
        let _ = write!(
            page,
            "<li><a href=\"#{}\">{}</a></li>",
            section.anchor, section.heading
        );
    }
    page.push_str("<li><a href=\"#experiment\">Experiment</a></li></ul></nav>\n");
    if !report.notes.is_empty() {
        page.push_str("<section class=\"notes\"><h2>Notes</h2><ul>");
        for note in &report.notes {
            let _ = write!(page, "<li>{}</li>", escape(note));
        }
        page.push_str("</ul></section>\n");
    }
    for clustering in &report.clusterings {
        let _ = writeln!(
            page,
            "<p class=\"meta\">Clusters from clustering <code>{}</code> ({} clusters, embedding \
             model {}).</p>",
            escape(&clustering.id),
            clustering.names.keys().filter(|&&label| label >= 0).count(),
            escape(&clustering.embedding_model)
        );
    }
    for section in &sections {
        let svg = section.figure.to_svg()?;
        let _ = write!(
            page,
            "<section id=\"{}\">\n<h2>{}</h2>\n<p>{}</p>\n<figure>{}</figure>\n",
            section.anchor,
            section.heading,
            escape(section.explanation),
            svg.trim_start_matches(|c: char| c != '<')
        );
        write_table(&mut page, &section.table);
        page.push_str("</section>\n");
    }
    let models = config_models(config_json);
    let _ = write!(
        page,
        "<section id=\"experiment\">\n<h2>Experiment</h2>\n<p>Models: {}</p>\n\
         <pre>{}</pre>\n</section>\n</body>\n</html>\n",
        if models.is_empty() {
            "none named in the config".to_owned()
        } else {
            models
                .iter()
                .map(|m| escape(m))
                .collect::<Vec<_>>()
                .join(", ")
        },
        escape(&config)
    );
    Ok(page)
}

fn write_table(page: &mut String, table: &Table) {
    if table.total == 0 {
        return;
    }
    page.push_str("<details><summary>Table");
    if table.total > table.rows.len() {
        let _ = write!(
            page,
            " (first {} of {} rows; the CSV export has all)",
            table.rows.len(),
            table.total
        );
    } else {
        let _ = write!(page, " ({} rows)", table.total);
    }
    page.push_str("</summary>\n<div class=\"scroll\"><table><thead><tr>");
    for name in &table.header {
        let _ = write!(page, "<th>{}</th>", escape(name));
    }
    page.push_str("</tr></thead><tbody>\n");
    for row in &table.rows {
        page.push_str("<tr>");
        for cell in row {
            let _ = write!(page, "<td>{}</td>", escape(&display_cell(cell)));
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody></table></div></details>\n");
}

/// Fractions print with four decimals on the page (the CSV keeps full precision).
fn display_cell(cell: &str) -> String {
    let decimals = cell.split_once('.').map_or(0, |(_, tail)| tail.len());
    match cell.parse::<f64>() {
        Ok(value) if decimals > 4 && value.is_finite() => format!("{value:.4}"),
        _ => cell.to_owned(),
    }
}

/// Writes the page to `path` (beside it first, then renamed, so no partial page is left).
pub fn write_report_html(
    report: &Report,
    config_json: &str,
    path: &Path,
) -> Result<(), ReportFilesError> {
    let page = report_html(report, config_json)?;
    let write_error = |error: std::io::Error| ReportFilesError::Write {
        path: path.to_path_buf(),
        detail: error.to_string(),
    };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ReportFilesError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    crate::atomic_file::write(path, page.as_bytes()).map_err(write_error)?;
    Ok(())
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1300px;margin:2em auto;\
padding:0 1em;color:#222}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}\
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4em 1.2em}\
figure{margin:1em 0;overflow-x:auto}.scroll{overflow-x:auto}figure svg{max-width:100%;height:auto}\
table{border-collapse:collapse;font-size:.85em}th,td{border:1px solid #ddd;padding:.2em .5em;\
text-align:left}th{background:#f4f4f4}pre{background:#f7f7f7;padding:1em;overflow-x:auto}\
.notes{background:#fff8e0;padding:.5em 1em}.meta{color:#555}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::report::{TransitionRow, UsedClustering};

    #[test]
    fn the_page_has_every_chart_inline_its_tables_and_the_config() {
        let mut report = Report {
            experiment_id: "exp<1>".into(),
            ..Report::default()
        };
        report.clusterings.push(UsedClustering {
            id: "c1".into(),
            embedding_model: "MiniLM".into(),
            names: [(0, "a red apple".to_owned()), (-1, "outliers".to_owned())].into(),
        });
        report.transitions.push(TransitionRow {
            embedding_model: "MiniLM".into(),
            network: "A → B".into(),
            from: 0,
            to: 1,
            from_name: "a red apple & pear".into(),
            to_name: "lighthouse".into(),
            count: 3,
            probability: 1.0,
        });
        report.notes.push("no prompt embeddings".into());
        let config = r#"{"networks":[["SD","BLIP"],["SD","Moondream"]],"embedding_models":["MiniLM"],"prompts":["x"]}"#;
        let page = report_html(&report, config).expect("page");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(
            page.matches("<svg").count(),
            11,
            "one inline chart per section"
        );
        assert!(!page.contains("<img"), "nothing linked from outside");
        assert!(page.contains("exp&lt;1&gt;"), "text is escaped");
        assert!(
            page.contains("a red apple &amp; pear"),
            "table cells are there, escaped"
        );
        assert!(page.contains("Models: SD, BLIP, Moondream, MiniLM"));
        assert!(
            page.contains("&quot;embedding_models&quot;"),
            "config shown"
        );
        assert!(page.contains("no prompt embeddings"));
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sub/report.html");
        write_report_html(&report, config, &path).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), page);
        assert!(!dir.path().join("sub/report.html.partial").exists());
    }

    #[test]
    fn long_fractions_are_rounded_for_the_page_only() {
        assert_eq!(display_cell("0.071428571428"), "0.0714");
        assert_eq!(display_cell("0.5"), "0.5");
        assert_eq!(display_cell("12"), "12");
        assert_eq!(display_cell("v1.23456 caption"), "v1.23456 caption");
    }
}
