//! Clustering results: one row per clustering, the experiments it covered, its clusters
//! (label, size, medoid, centroid, display name) and one label per embedding (−1 = outlier).
//! A clustering is written and deleted as a whole, in one transaction.

use std::collections::HashSet;

use rusqlite::params;

use super::codec::{decode_image, decode_vector, encode_vector};
use super::{ExperimentLink, Result, Store, StoreError, Timestamp};

/// The label HDBSCAN gives points that belong to no cluster.
pub const OUTLIER: i32 = -1;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusteringRecord {
    pub id: String,
    pub embedding_model: String,
    pub algorithm: String,
    /// Algorithm parameters exactly as used, as JSON.
    pub parameters_json: String,
    /// What was clustered (experiments, filters, downsampling), as JSON.
    pub scope_json: String,
    pub created_at: Timestamp,
    pub duration_ms: i64,
    /// The experiments whose embeddings were clustered, sorted.
    pub experiment_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterRecord {
    /// HDBSCAN label, ≥ 0.
    pub label: i32,
    pub size: u64,
    /// The member closest to the others; `None` once its embedding is deleted.
    pub medoid_embedding_id: Option<String>,
    pub centroid: Vec<f32>,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterAssignment {
    pub embedding_id: String,
    /// Cluster label, or [`OUTLIER`].
    pub label: i32,
}

/// A clustering with its counts, for listings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusteringSummary {
    #[serde(flatten)]
    pub record: ClusteringRecord,
    pub clusters: u64,
    pub assignments: u64,
    pub outliers: u64,
}

/// A run's labels in sequence order: (sequence number, label).
pub type RunLabels = Vec<(u32, i32)>;

pub(super) const CLUSTER_MEMBERS: &str = "SELECT embedding_id FROM cluster_assignment WHERE clustering_id = ?1 AND label = ?2 ORDER BY embedding_id";
/// CROSS JOIN fixes the join order: start from the run's few invocations, not from every
/// assignment of the clustering (which the planner would pick without statistics).
pub(super) const RUN_CLUSTER_LABELS: &str = "SELECT i.sequence_number, a.label
     FROM invocation i
     CROSS JOIN embedding m ON m.invocation_id = i.id
     CROSS JOIN cluster_assignment a ON a.embedding_id = m.id AND a.clustering_id = ?1
     WHERE i.run_id = ?2
     ORDER BY i.sequence_number";

const LINK: ExperimentLink = ExperimentLink {
    table: "clustering_experiment",
    key: "clustering_id",
};

const COLUMNS: &str =
    "id, embedding_model, algorithm, parameters_json, scope_json, created_at, duration_ms";

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ClusteringRecord> {
    Ok(ClusteringRecord {
        id: row.get(0)?,
        embedding_model: row.get(1)?,
        algorithm: row.get(2)?,
        parameters_json: row.get(3)?,
        scope_json: row.get(4)?,
        created_at: row.get(5)?,
        duration_ms: row.get(6)?,
        experiment_ids: Vec::new(),
    })
}

fn validate(clusters: &[ClusterRecord], assignments: &[ClusterAssignment]) -> Result<()> {
    let mut labels = HashSet::new();
    for cluster in clusters {
        if cluster.label < 0 {
            return Err(StoreError::Invalid {
                what: "cluster",
                detail: format!("label {} is negative", cluster.label),
            });
        }
        if !labels.insert(cluster.label) {
            return Err(StoreError::Invalid {
                what: "cluster",
                detail: format!("label {} appears twice", cluster.label),
            });
        }
    }
    if let Some(bad) = assignments
        .iter()
        .find(|a| a.label != OUTLIER && !labels.contains(&a.label))
    {
        return Err(StoreError::Invalid {
            what: "cluster assignment",
            detail: format!(
                "embedding {} has label {}, which is neither a cluster nor {OUTLIER}",
                bad.embedding_id, bad.label
            ),
        });
    }
    Ok(())
}

impl Store {
    /// Writes a clustering, its experiment set, clusters and assignments in one transaction.
    /// Labels are checked: clusters ≥ 0 and unique, assignments a cluster's label or −1.
    pub fn insert_clustering(
        &mut self,
        record: &ClusteringRecord,
        clusters: &[ClusterRecord],
        assignments: &[ClusterAssignment],
    ) -> Result<()> {
        validate(clusters, assignments)?;
        self.write(|tx| {
            tx.execute(
                &format!("INSERT INTO clustering_result ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    record.id,
                    record.embedding_model,
                    record.algorithm,
                    record.parameters_json,
                    record.scope_json,
                    record.created_at,
                    record.duration_ms
                ],
            )?;
            LINK.insert(tx, &record.id, &record.experiment_ids)?;
            let mut cluster = tx.prepare_cached(
                "INSERT INTO cluster (clustering_id, label, size, medoid_embedding_id, centroid, display_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for c in clusters {
                cluster.execute(params![
                    record.id,
                    c.label,
                    c.size as i64,
                    c.medoid_embedding_id,
                    encode_vector(&c.centroid),
                    c.display_name
                ])?;
            }
            let mut assignment = tx.prepare_cached(
                "INSERT INTO cluster_assignment (clustering_id, embedding_id, label) VALUES (?1, ?2, ?3)",
            )?;
            for a in assignments {
                assignment.execute(params![record.id, a.embedding_id, a.label])?;
            }
            Ok(())
        })
    }

    pub fn clustering(&self, id: &str) -> Result<ClusteringRecord> {
        let sql = format!("SELECT {COLUMNS} FROM clustering_result WHERE id = ?1");
        let mut record = self.row_by_id(&sql, "clustering", id, record_from_row)?;
        record.experiment_ids = LINK.experiments(self, id)?;
        Ok(record)
    }

    /// Every clustering (or those covering `experiment_id`), newest first, with counts.
    pub fn list_clusterings(&self, experiment_id: Option<&str>) -> Result<Vec<ClusteringSummary>> {
        self.clustering_summaries(experiment_id, None)
    }

    /// One clustering with its counts.
    pub fn clustering_summary(&self, id: &str) -> Result<ClusteringSummary> {
        self.clustering_summaries(None, Some(id))?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::not_found("clustering", id))
    }

    fn clustering_summaries(
        &self,
        experiment_id: Option<&str>,
        id: Option<&str>,
    ) -> Result<Vec<ClusteringSummary>> {
        let sql = format!(
            "SELECT {COLUMNS},
                (SELECT count(*) FROM cluster c WHERE c.clustering_id = r.id),
                (SELECT count(*) FROM cluster_assignment a WHERE a.clustering_id = r.id),
                (SELECT count(*) FROM cluster_assignment a WHERE a.clustering_id = r.id AND a.label = -1)
             FROM clustering_result r
             WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM clustering_experiment e
                                          WHERE e.clustering_id = r.id AND e.experiment_id = ?1))
               AND (?2 IS NULL OR r.id = ?2)
             ORDER BY created_at DESC, id DESC"
        );
        let rows = self.rows(&sql, params![experiment_id, id], |row| {
            Ok((
                record_from_row(row)?,
                row.get::<_, i64>(7)?,
                row.get::<_, i64>(8)?,
                row.get::<_, i64>(9)?,
            ))
        })?;
        rows.into_iter()
            .map(|(mut record, clusters, assignments, outliers)| {
                record.experiment_ids = LINK.experiments(self, &record.id)?;
                Ok(ClusteringSummary {
                    record,
                    clusters: clusters as u64,
                    assignments: assignments as u64,
                    outliers: outliers as u64,
                })
            })
            .collect()
    }

    /// Deletes every clustering; returns how many there were.
    pub fn delete_all_clusterings(&mut self) -> Result<usize> {
        self.write(|tx| Ok(tx.execute("DELETE FROM clustering_result", [])?))
    }

    /// The clusters of a clustering by label.
    pub fn clusters(&self, clustering_id: &str) -> Result<Vec<ClusterRecord>> {
        let rows = self.rows(
            "SELECT label, size, medoid_embedding_id, centroid, display_name
             FROM cluster WHERE clustering_id = ?1 ORDER BY label",
            [clustering_id],
            |row| {
                Ok((
                    row.get::<_, i32>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                    row.get::<_, String>(4)?,
                ))
            },
        )?;
        rows.into_iter()
            .map(|(label, size, medoid, centroid, display_name)| {
                Ok(ClusterRecord {
                    label,
                    size: size.max(0) as u64,
                    medoid_embedding_id: medoid,
                    centroid: decode_vector(&centroid)?,
                    display_name,
                })
            })
            .collect()
    }

    /// Every assignment of a clustering, by embedding id.
    pub fn cluster_assignments(&self, clustering_id: &str) -> Result<Vec<ClusterAssignment>> {
        self.rows(
            "SELECT embedding_id, label FROM cluster_assignment WHERE clustering_id = ?1 ORDER BY embedding_id",
            [clustering_id],
            |row| {
                Ok(ClusterAssignment {
                    embedding_id: row.get(0)?,
                    label: row.get(1)?,
                })
            },
        )
    }

    /// The embeddings with one label (a cluster's members, or the outliers with −1).
    pub fn cluster_members(&self, clustering_id: &str, label: i32) -> Result<Vec<String>> {
        self.strings(CLUSTER_MEMBERS, params![clustering_id, label])
    }

    /// Up to `limit` images showing members of one cluster (or the outliers, −1): an image
    /// embedding's own image, a caption embedding's input image; by embedding id, so stable.
    pub fn cluster_example_images(
        &self,
        clustering_id: &str,
        label: i32,
        limit: usize,
    ) -> Result<Vec<image::RgbImage>> {
        let blobs = self.rows(
            "SELECT coalesce(i.output_image, p.output_image)
             FROM cluster_assignment a
             JOIN embedding e ON e.id = a.embedding_id
             JOIN invocation i ON i.id = e.invocation_id
             LEFT JOIN invocation p ON p.id = i.input_invocation_id
             WHERE a.clustering_id = ?1 AND a.label = ?2
               AND coalesce(i.output_image, p.output_image) IS NOT NULL
             ORDER BY a.embedding_id LIMIT ?3",
            params![clustering_id, label, limit as i64],
            |row| row.get::<_, Vec<u8>>(0),
        )?;
        blobs.iter().map(|bytes| decode_image(bytes)).collect()
    }

    /// A run's labels in sequence order (only its clustered invocations appear).
    pub fn run_cluster_labels(&self, clustering_id: &str, run_id: &str) -> Result<RunLabels> {
        self.rows(RUN_CLUSTER_LABELS, [clustering_id, run_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
    }

    pub fn set_cluster_display_name(
        &mut self,
        clustering_id: &str,
        label: i32,
        display_name: &str,
    ) -> Result<()> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE cluster SET display_name = ?3 WHERE clustering_id = ?1 AND label = ?2",
                params![clustering_id, label, display_name],
            )?;
            if changed == 0 {
                return Err(StoreError::not_found(
                    "cluster",
                    &format!("{clustering_id}/{label}"),
                ));
            }
            Ok(())
        })
    }

    /// Deletes one clustering and only its rows (clusters, assignments, experiment links).
    pub fn delete_clustering(&mut self, id: &str) -> Result<()> {
        self.delete_by_id("clustering_result", "clustering", id)
    }

    pub fn resolve_clustering(&self, id_or_prefix: &str) -> Result<String> {
        self.resolve_prefix("clustering_result", "clustering", id_or_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(label: i32) -> ClusterRecord {
        ClusterRecord {
            label,
            size: 1,
            medoid_embedding_id: None,
            centroid: vec![0.0],
            display_name: String::new(),
        }
    }

    #[test]
    fn labels_are_validated_before_writing() {
        let assignment = |label| ClusterAssignment {
            embedding_id: "e".into(),
            label,
        };
        assert!(validate(&[cluster(0), cluster(1)], &[assignment(1), assignment(-1)]).is_ok());
        assert!(validate(&[cluster(0), cluster(0)], &[]).is_err());
        assert!(validate(&[cluster(-1)], &[]).is_err());
        assert!(validate(&[cluster(0)], &[assignment(3)]).is_err());
        assert!(validate(&[cluster(0)], &[assignment(-2)]).is_err());
    }
}
