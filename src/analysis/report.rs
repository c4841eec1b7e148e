//! Every trajectory analysis of one experiment, as tables: the CLI writes them as CSV/JSON,
//! the chart renderer and the GUI draw them.
//!
//! Facets are (embedding model, network); cluster analyses use one clustering per embedding
//! model (the newest one covering the experiment unless others are named). Sequences are taken
//! per run, so no analysis ever crosses a run boundary.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use thiserror::Error;

use super::agreement::{adjusted_rand_index, normalized_mutual_information};
use super::drift::run_drift;
use super::regression::{DriftModelFit, RunSeries, fit_drift_model};
use super::sequences::{
    STAGES, TransitionCounts, outlier_fraction, return_to_initial, stable_run, stage_counts,
    visible_labels,
};
use crate::store::{OUTLIER, RunRecord, Store, StoreError};

#[derive(Debug, Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "clustering {id} does not cover experiment {experiment}; pick one from `panic-tda cluster list`"
    )]
    ClusteringNotForExperiment { id: String, experiment: String },
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T> = std::result::Result<T, AnalysisError>;

#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Treat outliers as a state of their own instead of dropping them.
    pub include_outliers: bool,
    /// How many bigrams to keep per facet.
    pub top_n: usize,
    /// Clusterings to use (ids); empty = the newest clustering per embedding model.
    pub clusterings: Vec<String>,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            include_outliers: false,
            top_n: 10,
            clusterings: Vec::new(),
        }
    }
}

/// The label outliers get in tables and charts.
pub const OUTLIER_NAME: &str = "outlier";

#[derive(Debug, Clone, Serialize)]
pub struct UsedClustering {
    pub id: String,
    pub embedding_model: String,
    /// Display name per label (outliers included).
    pub names: BTreeMap<i32, String>,
}

impl UsedClustering {
    pub fn name(&self, label: i32) -> String {
        self.names
            .get(&label)
            .cloned()
            .unwrap_or_else(|| format!("cluster {label}"))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TransitionRow {
    pub embedding_model: String,
    pub network: String,
    pub from: i32,
    pub to: i32,
    pub from_name: String,
    pub to_name: String,
    pub count: u64,
    /// Share of the moves out of `from` that go to `to`.
    pub probability: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StableRunRow {
    pub embedding_model: String,
    pub network: String,
    pub prompt: String,
    pub run_id: String,
    pub seed: i64,
    pub outputs: usize,
    pub from_start: u32,
    pub anywhere: u32,
    pub anywhere_cluster: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BigramRow {
    pub embedding_model: String,
    pub network: String,
    pub rank: usize,
    pub from: i32,
    pub to: i32,
    pub from_name: String,
    pub to_name: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StageRow {
    pub embedding_model: String,
    pub network: String,
    pub stage: &'static str,
    pub cluster: i32,
    pub cluster_name: String,
    pub count: u64,
    /// Share of the stage's outputs (within the facet) in this cluster.
    pub fraction: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReturnRow {
    pub embedding_model: String,
    pub network: String,
    pub prompt: String,
    pub run_id: String,
    pub initial_cluster: String,
    /// Outputs until the run is back in its initial cluster; empty if it never comes back.
    pub steps_to_return: Option<u32>,
    pub returns: u32,
    pub initial_fraction: f64,
    pub outlier_fraction: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AgreementRow {
    pub model_a: String,
    pub model_b: String,
    pub clustering_a: String,
    pub clustering_b: String,
    /// Outputs labelled by both clusterings.
    pub outputs: usize,
    pub adjusted_rand_index: f64,
    pub normalized_mutual_information: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DriftRow {
    pub embedding_model: String,
    pub network: String,
    pub prompt: String,
    pub run_id: String,
    pub sequence_number: u32,
    pub cosine: f64,
    pub euclidean: f64,
}

/// One (embedding model, network) facet of the drift table: each run's cosine distance to its
/// prompt per step, and the mean over runs per step (over the runs that reached that step).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DriftFacet {
    pub embedding_model: String,
    pub network: String,
    /// (run id, (step, cosine distance) in step order), runs in table order.
    pub runs: Vec<(String, Vec<(u32, f64)>)>,
    pub mean: Vec<(u32, f64)>,
}

type StepSums = std::collections::BTreeMap<u32, (f64, u32)>;

/// Groups drift rows into facets sorted by (model, network); the charts, the app and the
/// report draw from these, so the mean is computed in one place.
pub fn drift_facets(rows: &[DriftRow]) -> Vec<DriftFacet> {
    let mut facets: std::collections::BTreeMap<(&str, &str), DriftFacet> = Default::default();
    // Per facet, per step: (sum, count) of the cosine distances.
    let mut sums: std::collections::BTreeMap<(&str, &str), StepSums> = Default::default();
    for row in rows {
        let key = (row.embedding_model.as_str(), row.network.as_str());
        let facet = facets.entry(key).or_insert_with(|| DriftFacet {
            embedding_model: row.embedding_model.clone(),
            network: row.network.clone(),
            ..DriftFacet::default()
        });
        match facet.runs.iter_mut().find(|(run, _)| *run == row.run_id) {
            Some((_, points)) => points.push((row.sequence_number, row.cosine)),
            None => facet
                .runs
                .push((row.run_id.clone(), vec![(row.sequence_number, row.cosine)])),
        }
        let sum = sums
            .entry(key)
            .or_default()
            .entry(row.sequence_number)
            .or_default();
        sum.0 += row.cosine;
        sum.1 += 1;
    }
    for (key, steps) in sums {
        if let Some(facet) = facets.get_mut(&key) {
            facet.mean = steps
                .into_iter()
                .map(|(step, (sum, n))| (step, sum / f64::from(n)))
                .collect();
        }
    }
    let mut facets: Vec<DriftFacet> = facets.into_values().collect();
    for facet in &mut facets {
        for (_, points) in &mut facet.runs {
            points.sort_by_key(|(step, _)| *step);
        }
    }
    facets
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TimingRow {
    pub model: String,
    pub invocations: usize,
    pub mean_batch_size: f64,
    /// Seconds per output (a batched call's time shared by its outputs).
    pub median_s: f64,
    pub p10_s: f64,
    pub p90_s: f64,
    pub mean_s: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EntropyRow {
    pub embedding_model: String,
    pub network: String,
    pub prompt: String,
    pub run_id: String,
    pub dimension: usize,
    pub entropy: f64,
    /// Bars in this dimension (essential ones included).
    pub bars: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PersistenceBar {
    pub embedding_model: String,
    pub network: String,
    pub dimension: u32,
    pub birth: f32,
    pub persistence: f32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub experiment_id: String,
    pub include_outliers: bool,
    pub clusterings: Vec<UsedClustering>,
    pub transitions: Vec<TransitionRow>,
    pub stable_runs: Vec<StableRunRow>,
    pub bigrams: Vec<BigramRow>,
    pub stages: Vec<StageRow>,
    pub returns: Vec<ReturnRow>,
    pub agreement: Vec<AgreementRow>,
    pub drift: Vec<DriftRow>,
    pub drift_model: Option<DriftModelFit>,
    pub timing: Vec<TimingRow>,
    #[serde(skip)]
    pub timing_samples: BTreeMap<String, Vec<f64>>,
    pub entropy: Vec<EntropyRow>,
    #[serde(skip)]
    pub persistence_bars: Vec<PersistenceBar>,
    /// Why an analysis is empty (no clustering, no prompt embeddings, …) and how to fix it.
    pub notes: Vec<String>,
}

/// How a network is labelled everywhere: its models joined by arrows.
pub fn network_label(network: &[String]) -> String {
    network.join(" → ")
}

/// One facet's transitions as a dense matrix: the states (label, name) by label and, per
/// row, the share of moves out of that state going to each column's state.
pub fn transition_matrix<'a>(
    rows: impl IntoIterator<Item = &'a TransitionRow>,
) -> (Vec<(i32, String)>, Vec<Vec<f64>>) {
    let rows: Vec<&TransitionRow> = rows.into_iter().collect();
    let mut states: Vec<(i32, String)> = rows
        .iter()
        .flat_map(|r| [(r.from, r.from_name.clone()), (r.to, r.to_name.clone())])
        .collect();
    states.sort();
    states.dedup();
    let index: BTreeMap<i32, usize> = states.iter().enumerate().map(|(i, s)| (s.0, i)).collect();
    let mut matrix = vec![vec![0.0; states.len()]; states.len()];
    for row in rows {
        if let (Some(&i), Some(&j)) = (index.get(&row.from), index.get(&row.to)) {
            matrix[i][j] = row.probability;
        }
    }
    (states, matrix)
}

/// Which analysis is running, for progress displays.
pub const STEPS: [&str; 6] = [
    "loading runs",
    "cluster sequences",
    "agreement",
    "drift",
    "timing",
    "persistence",
];

/// The clusterings to analyse: the named ones (which must cover the experiment) or the newest
/// one per embedding model.
fn pick_clusterings(
    store: &Store,
    experiment_id: &str,
    requested: &[String],
) -> Result<Vec<UsedClustering>> {
    let covering = store.list_clusterings(Some(experiment_id))?;
    let mut chosen: Vec<(String, String)> = Vec::new();
    if requested.is_empty() {
        let mut newest: BTreeMap<String, (i64, String)> = BTreeMap::new();
        for summary in &covering {
            let record = &summary.record;
            let entry = newest
                .entry(record.embedding_model.clone())
                .or_insert((i64::MIN, String::new()));
            if record.created_at > entry.0 {
                *entry = (record.created_at, record.id.clone());
            }
        }
        chosen.extend(newest.into_iter().map(|(model, (_, id))| (id, model)));
    } else {
        for wanted in requested {
            let id = store.resolve_clustering(wanted)?;
            let summary = covering.iter().find(|s| s.record.id == id).ok_or_else(|| {
                AnalysisError::ClusteringNotForExperiment {
                    id: id.clone(),
                    experiment: experiment_id.to_owned(),
                }
            })?;
            chosen.push((id, summary.record.embedding_model.clone()));
        }
    }
    chosen
        .into_iter()
        .map(|(id, embedding_model)| {
            let mut names: BTreeMap<i32, String> = store
                .clusters(&id)?
                .into_iter()
                .map(|c| (c.label, c.display_name))
                .collect();
            names.insert(OUTLIER, OUTLIER_NAME.to_owned());
            Ok(UsedClustering {
                id,
                embedding_model,
                names,
            })
        })
        .collect()
}

/// Linear-interpolated quantile `q` (0–1) of sorted values; NaN when there are none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// What a box plot draws: the 5th, 25th, 50th, 75th and 95th percentiles of the finite
/// values; `None` without any.
pub fn box_summary(values: &[f64]) -> Option<[f64; 5]> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    Some([0.05, 0.25, 0.5, 0.75, 0.95].map(|q| percentile(&sorted, q)))
}

/// Runs every analysis over one experiment. `progress(step)` is called with an index into
/// [`STEPS`] as each part starts; `cancel` is checked between parts.
pub fn analyse_experiment(
    store: &Store,
    experiment_id: &str,
    options: &AnalysisOptions,
    progress: &mut dyn FnMut(usize),
    cancel: &AtomicBool,
) -> Result<Report> {
    let check = |cancel: &AtomicBool| {
        if cancel.load(Ordering::Relaxed) {
            Err(AnalysisError::Cancelled)
        } else {
            Ok(())
        }
    };
    progress(0);
    let runs = store.runs(experiment_id)?;
    let run_by_id: HashMap<&str, &RunRecord> = runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut report = Report {
        experiment_id: experiment_id.to_owned(),
        include_outliers: options.include_outliers,
        clusterings: pick_clusterings(store, experiment_id, &options.clusterings)?,
        ..Report::default()
    };

    check(cancel)?;
    progress(1);
    if report.clusterings.is_empty() {
        report.notes.push(format!(
            "no clustering covers this experiment, so the cluster analyses are empty; run `panic-tda cluster run --experiment {experiment_id}` (or use the Clusters panel) first"
        ));
    }
    // Per clustering: invocation → label, kept for the agreement analysis.
    let mut labels_by_invocation: Vec<HashMap<String, i32>> = Vec::new();
    let clusterings = report.clusterings.clone();
    for clustering in &clusterings {
        let steps = store.labelled_steps(&clustering.id, experiment_id)?;
        labels_by_invocation.push(
            steps
                .iter()
                .map(|s| (s.invocation_id.clone(), s.label))
                .collect(),
        );
        let mut per_run: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for step in &steps {
            per_run.entry(&step.run_id).or_default().push(step.label);
        }
        sequence_tables(&mut report, clustering, &run_by_id, &per_run, options);
    }

    check(cancel)?;
    progress(2);
    for a in 0..report.clusterings.len() {
        for b in a + 1..report.clusterings.len() {
            let (first, second) = (&labels_by_invocation[a], &labels_by_invocation[b]);
            let mut shared: Vec<(&String, i32)> =
                first.iter().map(|(id, &label)| (id, label)).collect();
            shared.sort();
            let (mut la, mut lb) = (Vec::new(), Vec::new());
            for (id, label) in shared {
                if let Some(&other) = second.get(id) {
                    la.push(label);
                    lb.push(other);
                }
            }
            let (ca, cb) = (&report.clusterings[a], &report.clusterings[b]);
            report.agreement.push(AgreementRow {
                model_a: ca.embedding_model.clone(),
                model_b: cb.embedding_model.clone(),
                clustering_a: ca.id.clone(),
                clustering_b: cb.id.clone(),
                outputs: la.len(),
                adjusted_rand_index: adjusted_rand_index(&la, &lb),
                normalized_mutual_information: normalized_mutual_information(&la, &lb),
            });
        }
    }

    check(cancel)?;
    progress(3);
    let mut series = Vec::new();
    for model in store.experiment_embedding_models(experiment_id)? {
        let prompts = store.prompt_embeddings(experiment_id, &model)?;
        if prompts.is_empty() {
            report.notes.push(format!(
                "no initial-prompt embeddings by {model}, so there is no drift for it; `panic-tda experiment resume {experiment_id}` embeds them"
            ));
            continue;
        }
        let mut per_run: BTreeMap<String, Vec<(u32, Vec<f32>)>> = BTreeMap::new();
        for step in store.embedded_steps(experiment_id, &model)? {
            per_run
                .entry(step.run_id)
                .or_default()
                .push((step.sequence_number, step.vector));
        }
        let mut without_prompt = 0;
        for (run_id, outputs) in per_run {
            let Some(run) = run_by_id.get(run_id.as_str()) else {
                continue;
            };
            let Some(prompt) = prompts.get(&run_id) else {
                without_prompt += 1;
                continue;
            };
            let network = network_label(&run.network);
            let drift = run_drift(&outputs, prompt);
            series.push(RunSeries {
                network: network.clone(),
                prompt: run.initial_prompt.clone(),
                embedding_model: model.clone(),
                values: drift
                    .iter()
                    .map(|d| (d.sequence_number, d.cosine))
                    .collect(),
            });
            report.drift.extend(drift.into_iter().map(|d| DriftRow {
                embedding_model: model.clone(),
                network: network.clone(),
                prompt: run.initial_prompt.clone(),
                run_id: run_id.clone(),
                sequence_number: d.sequence_number,
                cosine: d.cosine,
                euclidean: d.euclidean,
            }));
        }
        if without_prompt > 0 {
            report.notes.push(format!(
                "{without_prompt} runs have no initial-prompt embedding by {model} and are left out of its drift; `panic-tda experiment resume {experiment_id}` embeds them"
            ));
        }
    }
    if !series.is_empty() {
        match fit_drift_model(&series) {
            Ok(fit) => report.drift_model = Some(fit),
            Err(error) => report
                .notes
                .push(format!("drift model not fitted: {error}")),
        }
    }

    check(cancel)?;
    progress(4);
    let mut samples: BTreeMap<String, (Vec<f64>, u64)> = BTreeMap::new();
    for timing in store.invocation_timings(experiment_id)? {
        let seconds = (timing.completed_at - timing.started_at).max(0) as f64 / 1e6;
        let entry = samples.entry(timing.model).or_default();
        entry.0.push(seconds / timing.batch_size.max(1) as f64);
        entry.1 += u64::from(timing.batch_size);
    }
    for (model, (mut values, batch_total)) in samples {
        values.sort_by(f64::total_cmp);
        report.timing.push(TimingRow {
            model: model.clone(),
            invocations: values.len(),
            mean_batch_size: batch_total as f64 / values.len().max(1) as f64,
            median_s: percentile(&values, 0.5),
            p10_s: percentile(&values, 0.1),
            p90_s: percentile(&values, 0.9),
            mean_s: values.iter().sum::<f64>() / values.len().max(1) as f64,
        });
        report.timing_samples.insert(model, values);
    }

    check(cancel)?;
    progress(5);
    let diagrams = store.diagrams(experiment_id, None)?;
    if diagrams.is_empty() {
        report.notes.push(format!(
            "no persistence diagrams stored for this experiment; `panic-tda analyse persistence --experiment {experiment_id}` computes them"
        ));
    }
    for diagram in diagrams {
        let Some(run) = run_by_id.get(diagram.run_id.as_str()) else {
            continue;
        };
        let network = network_label(&run.network);
        for (dimension, &entropy) in diagram.entropy.iter().enumerate() {
            report.entropy.push(EntropyRow {
                embedding_model: diagram.embedding_model.clone(),
                network: network.clone(),
                prompt: run.initial_prompt.clone(),
                run_id: run.id.clone(),
                dimension,
                entropy,
                bars: diagram
                    .pairs
                    .iter()
                    .filter(|p| p.dimension as usize == dimension)
                    .count(),
            });
        }
        report
            .persistence_bars
            .extend(
                diagram
                    .pairs
                    .iter()
                    .filter(|p| p.death.is_finite())
                    .map(|p| PersistenceBar {
                        embedding_model: diagram.embedding_model.clone(),
                        network: network.clone(),
                        dimension: p.dimension,
                        birth: p.birth,
                        persistence: p.death - p.birth,
                    }),
            );
    }
    Ok(report)
}

/// Transitions, stable runs, bigrams, stages and returns of one clustering, per network.
fn sequence_tables(
    tables: &mut Report,
    clustering: &UsedClustering,
    runs: &HashMap<&str, &RunRecord>,
    labels_per_run: &BTreeMap<&str, Vec<i32>>,
    options: &AnalysisOptions,
) {
    let model = &clustering.embedding_model;
    // network → (transitions, stage counts)
    let mut facets: BTreeMap<String, (TransitionCounts, [BTreeMap<i32, u64>; 3])> = BTreeMap::new();
    let mut stable_rows = Vec::new();
    for (run_id, labels) in labels_per_run {
        let Some(run) = runs.get(run_id) else {
            continue;
        };
        let network = network_label(&run.network);
        let visible = visible_labels(labels, options.include_outliers);
        let facet = facets.entry(network.clone()).or_default();
        facet.0.add_run(&visible);
        for (stage, counts) in stage_counts(&visible).into_iter().enumerate() {
            for (label, count) in counts {
                *facet.1[stage].entry(label).or_insert(0) += count;
            }
        }
        if let Some(stable) = stable_run(&visible) {
            stable_rows.push(StableRunRow {
                embedding_model: model.clone(),
                network: network.clone(),
                prompt: run.initial_prompt.clone(),
                run_id: run.id.clone(),
                seed: run.seed,
                outputs: visible.len(),
                from_start: stable.from_start,
                anywhere: stable.anywhere,
                anywhere_cluster: clustering.name(stable.anywhere_label),
            });
        }
        if let Some(back) = return_to_initial(&visible) {
            tables.returns.push(ReturnRow {
                embedding_model: model.clone(),
                network: network.clone(),
                prompt: run.initial_prompt.clone(),
                run_id: run.id.clone(),
                initial_cluster: clustering.name(back.initial),
                steps_to_return: back.steps_to_return,
                returns: back.returns,
                initial_fraction: back.initial_fraction,
                outlier_fraction: outlier_fraction(labels),
            });
        }
    }
    // Runs ordered by their longest stable run, longest first.
    stable_rows.sort_by(|a, b| {
        (
            a.network.as_str(),
            std::cmp::Reverse(a.anywhere),
            a.run_id.as_str(),
        )
            .cmp(&(
                b.network.as_str(),
                std::cmp::Reverse(b.anywhere),
                b.run_id.as_str(),
            ))
    });
    tables.stable_runs.extend(stable_rows);
    for (network, (transitions, stages)) in facets {
        let states = transitions.states();
        let counts = transitions.matrix(&states);
        let probabilities = transitions.probabilities(&states);
        for (i, &from) in states.iter().enumerate() {
            for (j, &to) in states.iter().enumerate() {
                if counts[i][j] > 0 {
                    tables.transitions.push(TransitionRow {
                        embedding_model: model.clone(),
                        network: network.clone(),
                        from,
                        to,
                        from_name: clustering.name(from),
                        to_name: clustering.name(to),
                        count: counts[i][j],
                        probability: probabilities[i][j],
                    });
                }
            }
        }
        for (rank, ((from, to), count)) in transitions.top(options.top_n).into_iter().enumerate() {
            tables.bigrams.push(BigramRow {
                embedding_model: model.clone(),
                network: network.clone(),
                rank: rank + 1,
                from,
                to,
                from_name: clustering.name(from),
                to_name: clustering.name(to),
                count,
            });
        }
        for (stage, counts) in stages.iter().enumerate() {
            let total: u64 = counts.values().sum();
            for (&label, &count) in counts {
                tables.stages.push(StageRow {
                    embedding_model: model.clone(),
                    network: network.clone(),
                    stage: STAGES[stage],
                    cluster: label,
                    cluster_name: clustering.name(label),
                    count,
                    fraction: count as f64 / total.max(1) as f64,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, network: &str, run: &str, step: u32, cosine: f64) -> DriftRow {
        DriftRow {
            embedding_model: model.into(),
            network: network.into(),
            prompt: "p".into(),
            run_id: run.into(),
            sequence_number: step,
            cosine,
            euclidean: 0.0,
        }
    }

    #[test]
    fn drift_facets_group_runs_and_average_each_step_over_the_runs_that_reached_it() {
        let rows = [
            row("MiniLM", "b", "r1", 0, 0.2),
            row("MiniLM", "a", "r2", 1, 0.4),
            row("MiniLM", "a", "r2", 0, 0.0),
            row("MiniLM", "a", "r3", 0, 0.2),
        ];
        let facets = drift_facets(&rows);
        assert_eq!(facets.len(), 2);
        assert_eq!(facets[0].network, "a", "facets sort by (model, network)");
        assert_eq!(facets[0].runs.len(), 2);
        assert_eq!(facets[0].runs[0], ("r2".into(), vec![(0, 0.0), (1, 0.4)]));
        // Step 0: two runs (0.0 and 0.2); step 1: only r2 got there.
        assert_eq!(facets[0].mean.len(), 2);
        assert!((facets[0].mean[0].1 - 0.1).abs() < 1e-12);
        assert!((facets[0].mean[1].1 - 0.4).abs() < 1e-12);
        assert_eq!(facets[1].mean, vec![(0, 0.2)]);
        assert!(drift_facets(&[]).is_empty());
    }
}
