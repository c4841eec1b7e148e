//! Trajectories over a stored projection: every projected point with its run, step, caption and
//! cluster, and each run's points in step order. The explorer (and exports) draw from this.

use std::collections::HashMap;

use crate::store::{Store, StoreError};

/// Well-separated saturated colours; cluster label `n` always gets entry `n % len`, so one
/// clustering looks the same in every export. None is grey, which is reserved for outliers.
pub const CLUSTER_PALETTE: [[u8; 3]; 16] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
    [0, 128, 128],
    [220, 190, 255],
    [170, 110, 40],
    [255, 250, 200],
    [128, 0, 0],
    [170, 255, 195],
];

/// The colour of a cluster label, the same in the app and in exports; outliers are grey.
pub fn cluster_rgb(label: i32) -> [u8; 3] {
    if label < 0 {
        return [150, 150, 150];
    }
    CLUSTER_PALETTE[label as usize % CLUSTER_PALETTE.len()]
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrajectoryPoint {
    pub x: f32,
    pub y: f32,
    pub run_index: usize,
    pub sequence_number: u32,
    pub invocation_id: String,
    /// The output text for text steps.
    pub caption: Option<String>,
    /// Cluster label in the chosen clustering (−1 outlier, `None` = not clustered).
    pub label: Option<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrajectoryRun {
    pub id: String,
    pub experiment_id: String,
    pub prompt: String,
    pub network: Vec<String>,
    pub seed: i64,
    /// 1-based position of the run in its experiment (network, prompt, seed order), the same
    /// whether or not earlier runs have projected points.
    pub number: usize,
    /// Indices into `Trajectories::points`, in step order.
    pub points: Vec<usize>,
}

impl TrajectoryRun {
    /// "prompt · network · seed N · run N", how runs are named in the app and in figures.
    pub fn label(&self) -> String {
        format!(
            "{} · {} · seed {} · run {}",
            self.prompt,
            self.network.join(" → "),
            self.seed,
            self.number
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterLegend {
    pub label: i32,
    pub name: String,
    pub size: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Trajectories {
    pub points: Vec<TrajectoryPoint>,
    pub runs: Vec<TrajectoryRun>,
    /// Clusters present, largest first.
    pub clusters: Vec<ClusterLegend>,
}

impl Trajectories {
    /// Loads a projection's points, joined with their runs and (optionally) a clustering.
    pub fn load(
        store: &Store,
        projection_id: &str,
        clustering_id: Option<&str>,
    ) -> Result<Self, StoreError> {
        let mut data = Trajectories::default();
        let mut run_index: HashMap<String, usize> = HashMap::new();
        for row in store.projection_map(projection_id, clustering_id)? {
            let index = match run_index.get(&row.run_id) {
                Some(index) => *index,
                None => {
                    let network = serde_json::from_str(&row.network_json).map_err(|source| {
                        StoreError::Json {
                            what: "run.network_json",
                            source,
                        }
                    })?;
                    data.runs.push(TrajectoryRun {
                        id: row.run_id.clone(),
                        experiment_id: row.experiment_id,
                        prompt: row.initial_prompt,
                        network,
                        seed: row.seed,
                        number: 0,
                        points: Vec::new(),
                    });
                    run_index.insert(row.run_id, data.runs.len() - 1);
                    data.runs.len() - 1
                }
            };
            data.runs[index].points.push(data.points.len());
            data.points.push(TrajectoryPoint {
                x: row.x,
                y: row.y,
                run_index: index,
                sequence_number: row.sequence_number,
                invocation_id: row.invocation_id,
                caption: row.output_text,
                label: row.label,
            });
        }
        let mut numbers: HashMap<String, usize> = HashMap::new();
        let mut experiments: Vec<&str> =
            data.runs.iter().map(|r| r.experiment_id.as_str()).collect();
        experiments.sort_unstable();
        experiments.dedup();
        for experiment in experiments {
            for (position, run) in store.runs(experiment)?.into_iter().enumerate() {
                numbers.insert(run.id, position + 1);
            }
        }
        for run in &mut data.runs {
            run.number = numbers.get(&run.id).copied().unwrap_or(0);
        }
        if let Some(clustering_id) = clustering_id {
            let mut clusters = store.clusters(clustering_id)?;
            clusters.sort_by(|a, b| b.size.cmp(&a.size).then(a.label.cmp(&b.label)));
            data.clusters = clusters
                .into_iter()
                .map(|cluster| ClusterLegend {
                    label: cluster.label,
                    name: cluster.display_name,
                    size: cluster.size,
                })
                .collect();
        }
        Ok(data)
    }

    /// The cluster name of a label (`outlier` for −1).
    pub fn cluster_name(&self, label: Option<i32>) -> String {
        match label {
            None => "not clustered".into(),
            Some(-1) => "outlier".into(),
            Some(label) => self
                .clusters
                .iter()
                .find(|cluster| cluster.label == label)
                .map_or_else(
                    || format!("cluster {label}"),
                    |cluster| cluster.name.clone(),
                ),
        }
    }

    /// The point nearest to (x, y) within `radius`, if any.
    pub fn nearest(&self, x: f32, y: f32, radius: f32) -> Option<usize> {
        self.points
            .iter()
            .enumerate()
            .map(|(index, point)| (index, (point.x - x).powi(2) + (point.y - y).powi(2)))
            .filter(|(_, distance)| *distance <= radius * radius)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(index, _)| index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_colours_are_distinct_and_outliers_grey() {
        assert_eq!(cluster_rgb(-1), [150, 150, 150]);
        let colours: std::collections::HashSet<_> = (0..16).map(cluster_rgb).collect();
        assert_eq!(colours.len(), 16);
        assert!(!colours.contains(&cluster_rgb(-1)));
        assert_eq!(
            cluster_rgb(3),
            cluster_rgb(19),
            "labels wrap around the palette"
        );
    }
}
