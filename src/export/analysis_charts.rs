//! The analyses' charts: one figure per analysis, one panel per facet (embedding model ×
//! network), built from a [`Report`]'s tables. The CLI saves them as PNG and SVG.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::charts::{ChartError, Drawing, Figure, Line, Panel, PanelKind, series_colour, shorten};
use crate::analysis::report::{Report, TransitionRow, drift_facets, transition_matrix};
use crate::analysis::sequences::STAGES;
use crate::analysis::trajectories::cluster_rgb;

/// Layers shown in a stacked chart before the rest are summed into "other".
const MAX_LAYERS: usize = 8;
/// Runs listed in the "runs by longest stable run" chart.
const MAX_LISTED_RUNS: usize = 25;

fn empty(title: &str, message: &str) -> Panel {
    Panel {
        title: title.to_owned(),
        kind: PanelKind::Empty {
            message: message.to_owned(),
        },
    }
}

/// Rows grouped by (embedding model, network), in that order.
fn by_facet<'a, T>(
    rows: &'a [T],
    key: impl Fn(&'a T) -> (&'a str, &'a str),
) -> BTreeMap<(&'a str, &'a str), Vec<&'a T>> {
    let mut facets: BTreeMap<(&str, &str), Vec<&T>> = BTreeMap::new();
    for row in rows {
        facets.entry(key(row)).or_default().push(row);
    }
    facets
}

fn facet_title(model: &str, network: &str) -> String {
    format!("{model} · {network}")
}

/// Per network: (longest stable run anywhere, stable run from the start) of each run.
type StableLengths<'a> = BTreeMap<&'a str, (Vec<u32>, Vec<u32>)>;

const NO_CLUSTERING: &str = "no clustering of this experiment yet";

/// A run's seed as a reader should see it: −1 is the old tool's marker for "no seed".
fn seed_label(seed: i64) -> String {
    if seed < 0 {
        "unseeded".to_owned()
    } else {
        format!("seed {seed}")
    }
}

/// Why a cluster chart has no data: the experiment is not clustered, or it is and the data
/// has nothing of this kind (`clustered_but_empty`).
fn why_empty(report: &Report, clustered_but_empty: &str) -> String {
    if report.clusterings.is_empty() {
        NO_CLUSTERING.to_owned()
    } else {
        clustered_but_empty.to_owned()
    }
}

pub fn transitions(report: &Report) -> Figure {
    let mut facets: BTreeMap<(&str, &str), Vec<&TransitionRow>> =
        by_facet(&report.stages, |r| (&r.embedding_model, &r.network))
            .into_keys()
            .map(|facet| (facet, Vec::new()))
            .collect();
    for (facet, rows) in by_facet(&report.transitions, |r| (&r.embedding_model, &r.network)) {
        facets.insert(facet, rows);
    }
    let mut panels = Vec::new();
    for ((model, network), rows) in facets {
        if rows.is_empty() {
            // A clustered network whose runs never change cluster: say so in its own panel.
            panels.push(empty(
                &facet_title(model, network),
                "no moves between clusters: every run stays in one cluster",
            ));
            continue;
        }
        let (states, values) = transition_matrix(rows.iter().copied());
        let labels = values
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&p| {
                        if p > 0.0 {
                            format!("{:.0}%", p * 100.0)
                        } else {
                            String::new()
                        }
                    })
                    .collect()
            })
            .collect();
        let names: Vec<String> = states.into_iter().map(|s| s.1).collect();
        // Row labels have little room: the words every cluster name shares are left out.
        let common = common_leading_words(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let names: Vec<String> = names
            .iter()
            .map(|name| without_leading_words(name, common))
            .collect();
        panels.push(Panel {
            title: facet_title(model, network),
            kind: PanelKind::Heatmap {
                rows: names.clone(),
                cols: names,
                values,
                labels: Some(labels),
                x_label: "to cluster".into(),
                y_label: "from cluster".into(),
            },
        });
    }
    if panels.is_empty() {
        panels.push(empty("transitions", &why_empty(report, "no run moves from one cluster to another: each stays in its cluster (outliers not counted)")));
    }
    Figure::new(
        "Cluster transitions (share of moves out of each cluster; self-transitions removed)",
        panels,
    )
}

pub fn stable_runs(report: &Report) -> Figure {
    let mut by_model: BTreeMap<&str, StableLengths<'_>> = BTreeMap::new();
    for row in &report.stable_runs {
        let entry = by_model
            .entry(&row.embedding_model)
            .or_default()
            .entry(&row.network)
            .or_default();
        entry.0.push(row.anywhere);
        entry.1.push(row.from_start);
    }
    let mut panels = Vec::new();
    for (model, networks) in by_model {
        for (which, title) in [
            (0, "longest stable run anywhere"),
            (1, "stable run from the start"),
        ] {
            let series = networks
                .iter()
                .enumerate()
                .map(|(i, (network, lengths))| {
                    let lengths = if which == 0 { &lengths.0 } else { &lengths.1 };
                    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
                    for &length in lengths {
                        *counts.entry(i64::from(length)).or_insert(0) += 1;
                    }
                    (
                        (*network).to_owned(),
                        series_colour(i),
                        counts.into_iter().collect(),
                    )
                })
                .collect();
            panels.push(Panel {
                title: format!("{model}: {title}"),
                kind: PanelKind::Counts {
                    series,
                    x_label: "length (outputs in one cluster)".into(),
                    y_label: "runs".into(),
                },
            });
        }
    }
    if panels.is_empty() {
        panels.push(empty(
            "stable runs",
            &why_empty(report, "no run has a labelled output (all outliers)"),
        ));
    }
    let mut figure = Figure::new("Stable runs: how long runs stay in one cluster", panels);
    figure.columns = 2;
    figure
}

pub fn runs_by_stable_run(report: &Report) -> Figure {
    let mut by_model: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for row in &report.stable_runs {
        by_model.entry(&row.embedding_model).or_default().push(row);
    }
    let mut panels = Vec::new();
    for (model, mut rows) in by_model {
        rows.sort_by(|a, b| b.anywhere.cmp(&a.anywhere).then(a.run_id.cmp(&b.run_id)));
        rows.truncate(MAX_LISTED_RUNS);
        panels.push(Panel {
            title: format!("{model}: runs with the longest stable runs"),
            kind: PanelKind::Bars {
                labels: rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{} · {} · {}",
                            r.prompt,
                            r.anywhere_cluster,
                            seed_label(r.seed)
                        )
                    })
                    .collect(),
                values: rows.iter().map(|r| r.anywhere as f64).collect(),
                value_label: "longest stable run (outputs)".into(),
                colours: Vec::new(),
            },
        });
    }
    if panels.is_empty() {
        panels.push(empty(
            "runs",
            &why_empty(report, "no run has a labelled output (all outliers)"),
        ));
    }
    let mut figure = Figure::new("Runs ordered by their longest stable run", panels);
    figure.columns = 1;
    figure.panel_size = (900, 620);
    figure
}

/// How many whole words all `names` start with (the last word of any name is kept).
fn common_leading_words(names: &[&str]) -> usize {
    let split: Vec<Vec<&str>> = names
        .iter()
        .map(|n| n.split_whitespace().collect())
        .collect();
    let Some(shortest) = split.iter().map(|words| words.len()).min() else {
        return 0;
    };
    (0..shortest.saturating_sub(1))
        .take_while(|&i| split.iter().all(|words| words[i] == split[0][i]))
        .count()
}

/// `name` without its first `count` words, or the whole name when that would leave nothing.
fn without_leading_words(name: &str, count: usize) -> String {
    let rest: Vec<&str> = name.split_whitespace().skip(count).collect();
    if count == 0 || rest.is_empty() {
        name.to_owned()
    } else {
        format!("…{}", rest.join(" "))
    }
}

pub fn bigrams(report: &Report) -> Figure {
    let facets = by_facet(&report.bigrams, |r| (&r.embedding_model, &r.network));
    let mut panels: Vec<Panel> = facets
        .into_iter()
        .map(|((model, network), rows)| {
            // Cluster names of one facet often share their opening words ("a pastel drawing of
            // a huge …"); the words that tell them apart are shown.
            let names: Vec<&str> = rows
                .iter()
                .flat_map(|r| [r.from_name.as_str(), r.to_name.as_str()])
                .collect();
            let common = common_leading_words(&names);
            let name = |full: &str| shorten(&without_leading_words(full, common), 18);
            Panel {
                title: facet_title(model, network),
                kind: PanelKind::Bars {
                    labels: rows
                        .iter()
                        // Both ends stay readable: labels first, each name shortened on its own.
                        .map(|r| {
                            format!(
                                "{}: {} → {}: {}",
                                r.from,
                                name(&r.from_name),
                                r.to,
                                name(&r.to_name)
                            )
                        })
                        .collect(),
                    values: rows.iter().map(|r| r.count as f64).collect(),
                    value_label: "times".into(),
                    colours: Vec::new(),
                },
            }
        })
        .collect();
    if panels.is_empty() {
        panels.push(empty(
            "bigrams",
            &why_empty(report, "no run moves from one cluster to another"),
        ));
    }
    Figure::new("Most frequent moves between clusters", panels)
}

pub fn stages(report: &Report) -> Figure {
    let facets = by_facet(&report.stages, |r| (&r.embedding_model, &r.network));
    let mut panels = Vec::new();
    for ((model, network), rows) in facets {
        // The clusters largest over the whole run get their own layer.
        let mut totals: BTreeMap<(i32, &str), u64> = BTreeMap::new();
        for row in &rows {
            *totals.entry((row.cluster, &row.cluster_name)).or_insert(0) += row.count;
        }
        let mut ranked: Vec<_> = totals.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown: Vec<(i32, &str)> = ranked.iter().take(MAX_LAYERS).map(|r| r.0).collect();
        let stage_index = |stage: &str| STAGES.iter().position(|s| *s == stage).unwrap_or(0);
        let mut layers: Vec<(String, [u8; 3], Vec<f64>)> = shown
            .iter()
            .map(|&(label, name)| (name.to_owned(), cluster_rgb(label), vec![0.0; STAGES.len()]))
            .collect();
        let mut other = vec![0.0; STAGES.len()];
        for row in &rows {
            let stage = stage_index(row.stage);
            match shown.iter().position(|s| s.0 == row.cluster) {
                Some(layer) => layers[layer].2[stage] += row.count as f64,
                None => other[stage] += row.count as f64,
            }
        }
        if other.iter().any(|&v| v > 0.0) {
            layers.push(("other clusters".into(), [200, 200, 200], other));
        }
        panels.push(Panel {
            title: facet_title(model, network),
            kind: PanelKind::Stacked {
                categories: STAGES.iter().map(|s| (*s).to_owned()).collect(),
                layers,
                y_label: "share of outputs".into(),
            },
        });
    }
    if panels.is_empty() {
        panels.push(empty(
            "stages",
            &why_empty(report, "no run has a labelled output (all outliers)"),
        ));
    }
    Figure::new(
        "Clusters in the beginning, middle and end third of each run",
        panels,
    )
}

pub fn returns(report: &Report) -> Figure {
    let mut by_model: BTreeMap<&str, BTreeMap<&str, Vec<_>>> = BTreeMap::new();
    for row in &report.returns {
        by_model
            .entry(&row.embedding_model)
            .or_default()
            .entry(&row.network)
            .or_default()
            .push(row);
    }
    let mut panels = Vec::new();
    for (model, networks) in by_model {
        panels.push(Panel {
            title: format!("{model}: runs that return to their first cluster"),
            kind: PanelKind::Bars {
                labels: networks.keys().map(|n| (*n).to_owned()).collect(),
                values: networks
                    .values()
                    .map(|rows| {
                        let back = rows.iter().filter(|r| r.steps_to_return.is_some()).count();
                        100.0 * back as f64 / rows.len().max(1) as f64
                    })
                    .collect(),
                value_label: "% of runs".into(),
                // One colour per network, in the order the box plots beside it use.
                colours: (0..networks.len()).map(series_colour).collect(),
            },
        });
        panels.push(Panel {
            title: format!("{model}: outputs until the first return"),
            kind: PanelKind::Boxes {
                groups: networks
                    .iter()
                    .map(|(network, rows)| {
                        (
                            (*network).to_owned(),
                            rows.iter()
                                .filter_map(|r| r.steps_to_return.map(f64::from))
                                .collect(),
                        )
                    })
                    .collect(),
                y_label: "outputs".into(),
            },
        });
        panels.push(Panel {
            title: format!("{model}: share of each run in its first cluster"),
            kind: PanelKind::Boxes {
                groups: networks
                    .iter()
                    .map(|(network, rows)| {
                        (
                            (*network).to_owned(),
                            rows.iter().map(|r| r.initial_fraction).collect(),
                        )
                    })
                    .collect(),
                y_label: "share of outputs".into(),
            },
        });
    }
    if panels.is_empty() {
        panels.push(empty(
            "returns",
            &why_empty(report, "no run has a labelled first output to return to"),
        ));
    }
    Figure::new("Return to the initial cluster", panels)
}

pub fn agreement(report: &Report) -> Figure {
    let models: Vec<String> = report
        .clusterings
        .iter()
        .map(|c| c.embedding_model.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if models.len() < 2 {
        return Figure::new(
            "Agreement between embedding models",
            vec![empty(
                "agreement",
                "needs clusterings by at least two embedding models",
            )],
        );
    }
    let index: BTreeMap<&str, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut panels = Vec::new();
    for (title, pick) in [
        ("adjusted Rand index", 0usize),
        ("normalised mutual information", 1),
    ] {
        let n = models.len();
        let mut values = vec![vec![1.0; n]; n];
        for row in &report.agreement {
            let (i, j) = (index[row.model_a.as_str()], index[row.model_b.as_str()]);
            let value = if pick == 0 {
                row.adjusted_rand_index
            } else {
                row.normalized_mutual_information
            };
            values[i][j] = value;
            values[j][i] = value;
        }
        let labels = values
            .iter()
            .map(|row| row.iter().map(|v| format!("{v:.2}")).collect())
            .collect();
        panels.push(Panel {
            title: title.into(),
            kind: PanelKind::Heatmap {
                rows: models.clone(),
                cols: models.clone(),
                values,
                labels: Some(labels),
                x_label: String::new(),
                y_label: String::new(),
            },
        });
    }
    Figure::new(
        "Agreement between embedding models' clusterings (same outputs)",
        panels,
    )
}

pub fn drift(report: &Report) -> Figure {
    let mut panels = Vec::new();
    for facet in drift_facets(&report.drift) {
        let (model, network) = (&facet.embedding_model, &facet.network);
        let mut lines: Vec<Line> = facet
            .runs
            .iter()
            .map(|(_, points)| Line {
                name: String::new(),
                points: points
                    .iter()
                    .map(|&(step, value)| (f64::from(step), value))
                    .collect(),
                colour: series_colour(0),
                width: 1,
                opacity: 0.25,
                in_legend: false,
            })
            .collect();
        lines.push(Line {
            name: "mean over runs".into(),
            points: facet
                .mean
                .iter()
                .map(|&(step, mean)| (f64::from(step), mean))
                .collect(),
            colour: series_colour(1),
            width: 3,
            opacity: 1.0,
            in_legend: true,
        });
        panels.push(Panel {
            title: facet_title(model, network),
            kind: PanelKind::Lines {
                lines,
                x_label: "step".into(),
                y_label: "cosine distance to the run's prompt".into(),
            },
        });
    }
    if panels.is_empty() {
        panels.push(empty(
            "drift",
            "no embeddings with initial-prompt embeddings yet",
        ));
    }
    Figure::new("Semantic drift from each run's initial prompt", panels)
}

pub fn drift_model(report: &Report) -> Figure {
    let panel = match &report.drift_model {
        Some(fit) => Panel {
            title: format!(
                "cosine drift ~ step + lag + network + prompt + model   (n = {}, R² = {:.3}, Durbin–Watson = {:.2})",
                fit.observations, fit.r_squared, fit.durbin_watson
            ),
            kind: PanelKind::Intervals {
                rows: fit
                    .coefficients
                    .iter()
                    .filter(|c| c.name != crate::analysis::regression::INTERCEPT)
                    .map(|c| (c.name.clone(), c.estimate, c.ci_low, c.ci_high))
                    .collect(),
                x_label: "coefficient (95 % interval)".into(),
            },
        },
        None => empty("drift model", "not fitted (see the notes in report.json)"),
    };
    let mut figure = Figure::new("Drift model with an autoregressive term", vec![panel]);
    figure.panel_size = (1000, 560);
    figure
}

pub fn timing(report: &Report) -> Figure {
    let panel = if report.timing_samples.is_empty() {
        empty("timing", "no invocations")
    } else {
        // Seconds, milliseconds or microseconds: whichever keeps the axis numbers readable.
        let slowest = report
            .timing_samples
            .values()
            .flatten()
            .copied()
            .fold(0.0f64, f64::max);
        let (scale, unit) = if slowest >= 1.0 {
            (1.0, "seconds")
        } else if slowest >= 1e-3 {
            (1e3, "milliseconds")
        } else {
            (1e6, "microseconds")
        };
        Panel {
            title: "time per output (batched calls shared by their outputs)".into(),
            kind: PanelKind::Boxes {
                groups: report
                    .timing_samples
                    .iter()
                    .map(|(model, values)| {
                        (model.clone(), values.iter().map(|v| v * scale).collect())
                    })
                    .collect(),
                y_label: unit.into(),
            },
        }
    };
    let mut figure = Figure::new("Invocation time per model", vec![panel]);
    figure.panel_size = (900, 520);
    figure
}

pub fn persistence(report: &Report) -> Figure {
    let mut panels = Vec::new();
    let models: BTreeSet<&str> = report
        .entropy
        .iter()
        .map(|r| r.embedding_model.as_str())
        .collect();
    for model in models {
        // One panel per homology dimension, one box per network: names stay readable.
        let mut groups: BTreeMap<usize, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
        for row in report.entropy.iter().filter(|r| r.embedding_model == model) {
            groups
                .entry(row.dimension)
                .or_default()
                .entry(&row.network)
                .or_default()
                .push(row.entropy);
        }
        for (dimension, networks) in groups {
            panels.push(Panel {
                title: format!("{model}: persistent entropy of H{dimension}"),
                kind: PanelKind::Boxes {
                    groups: networks
                        .into_iter()
                        .map(|(network, values)| (network.to_owned(), values))
                        .collect(),
                    y_label: "entropy (nats)".into(),
                },
            });
        }
        let mut by_dimension: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
        for bar in report
            .persistence_bars
            .iter()
            .filter(|b| b.embedding_model == model)
        {
            by_dimension
                .entry(bar.dimension)
                .or_default()
                .push((bar.birth as f64, bar.persistence as f64));
        }
        panels.push(Panel {
            title: format!("{model}: persistence diagrams (all runs)"),
            kind: PanelKind::Scatter {
                groups: by_dimension
                    .into_iter()
                    .map(|(d, points)| (format!("H{d}"), series_colour(d as usize), points))
                    .collect(),
                x_label: "birth".into(),
                y_label: "persistence".into(),
            },
        });
    }
    if panels.is_empty() {
        panels.push(empty("persistence", "no persistence diagrams computed yet"));
    }
    let mut figure = Figure::new("Topology of the trajectories", panels);
    figure.columns = 4;
    figure.panel_size = (520, 440);
    figure
}

/// Every chart of a report, by file stem.
pub fn all(report: &Report) -> Vec<(&'static str, Figure)> {
    vec![
        ("transitions", transitions(report)),
        ("stable_runs", stable_runs(report)),
        ("runs_by_stable_run", runs_by_stable_run(report)),
        ("bigrams", bigrams(report)),
        ("stages", stages(report)),
        ("returns", returns(report)),
        ("agreement", agreement(report)),
        ("drift", drift(report)),
        ("drift_model", drift_model(report)),
        ("timing", timing(report)),
        ("persistence", persistence(report)),
    ]
}

/// Saves `stem.png`, `stem.svg` and `stem.pdf` for each figure; returns the files written.
pub fn save(figures: &[(&str, Figure)], dir: &Path) -> Result<Vec<PathBuf>, ChartError> {
    let mut written = Vec::new();
    for (stem, figure) in figures {
        for extension in ["png", "svg", "pdf"] {
            let path = dir.join(format!("{stem}.{extension}"));
            figure.save(&path)?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::report::UsedClustering;

    fn empty_message(figure: &Figure) -> Option<&str> {
        match &figure.panels.first()?.kind {
            PanelKind::Empty { message } => Some(message),
            _ => None,
        }
    }

    #[test]
    fn empty_cluster_charts_say_whether_the_experiment_is_clustered() {
        let unclustered = Report::default();
        for (name, figure) in all(&unclustered) {
            if let Some(message) = empty_message(&figure)
                && name != "drift"
            {
                assert!(!message.is_empty(), "{name}");
            }
        }
        assert_eq!(
            empty_message(&transitions(&unclustered)),
            Some(NO_CLUSTERING)
        );
        // Clustered, but every run stays in one cluster: not "no clustering".
        let clustered = Report {
            clusterings: vec![UsedClustering {
                id: "c1".into(),
                embedding_model: "MiniLM".into(),
                names: BTreeMap::new(),
            }],
            ..Report::default()
        };
        for figure in [
            transitions(&clustered),
            bigrams(&clustered),
            stable_runs(&clustered),
            stages(&clustered),
            returns(&clustered),
        ] {
            let message = empty_message(&figure).expect("empty panel");
            assert_ne!(message, NO_CLUSTERING);
            assert!(!message.contains("no clustering"), "{message}");
        }
    }

    #[test]
    fn bigram_labels_keep_the_words_that_tell_cluster_names_apart() {
        let names = [
            "a pastel drawing of a huge white bottle in a room",
            "a pastel drawing of a huge pink gem in a room",
        ];
        let common = common_leading_words(&names);
        assert_eq!(common, 6);
        assert_eq!(
            without_leading_words(names[0], common),
            "…white bottle in a room"
        );
        // A name no longer than the shared words stays whole.
        assert_eq!(common_leading_words(&["violet", "violet sky"]), 0);
        assert_eq!(without_leading_words("violet", 3), "violet");
        assert_eq!(without_leading_words("a red apple", 0), "a red apple");
        assert_eq!(common_leading_words(&[]), 0);
    }
}
