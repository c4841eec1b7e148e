//! Versioned schema. Each migration is append-only: never edit a released one, add the next.

use rusqlite_migration::{M, Migrations};

const V1: &str = r#"
CREATE TABLE experiment (
    id            TEXT PRIMARY KEY,
    config_json   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    completed_at  INTEGER,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'cancelled', 'failed'))
);

CREATE TABLE run (
    id              TEXT PRIMARY KEY,
    experiment_id   TEXT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
    network_index   INTEGER NOT NULL,
    network_json    TEXT NOT NULL,
    prompt_index    INTEGER NOT NULL,
    initial_prompt  TEXT NOT NULL,
    seed_index      INTEGER NOT NULL,
    seed            INTEGER NOT NULL,
    max_length      INTEGER NOT NULL CHECK (max_length > 0),
    stop_reason     TEXT CHECK (stop_reason IN ('length', 'duplicate', 'failed', 'cancelled')),
    loop_length     INTEGER,
    failure         TEXT,
    UNIQUE (experiment_id, network_index, prompt_index, seed_index)
);
CREATE INDEX run_by_experiment_prompt_network ON run(experiment_id, prompt_index, network_index);

CREATE TABLE prompt_embedding (
    run_id           TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
    embedding_model  TEXT NOT NULL,
    dimension        INTEGER NOT NULL,
    vector           BLOB NOT NULL CHECK (length(vector) = 4 * dimension),
    PRIMARY KEY (run_id, embedding_model)
) WITHOUT ROWID;

CREATE TABLE invocation (
    id                   TEXT PRIMARY KEY,
    run_id               TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
    sequence_number      INTEGER NOT NULL CHECK (sequence_number >= 0),
    model                TEXT NOT NULL,
    output_type          TEXT NOT NULL CHECK (output_type IN ('text', 'image')),
    input_invocation_id  TEXT REFERENCES invocation(id) ON DELETE SET NULL,
    seed                 INTEGER NOT NULL,
    output_text          TEXT,
    output_image         BLOB,
    output_hash          BLOB NOT NULL,
    batch_size           INTEGER NOT NULL DEFAULT 1 CHECK (batch_size >= 1),
    started_at           INTEGER NOT NULL,
    completed_at         INTEGER NOT NULL,
    UNIQUE (run_id, sequence_number)
);
CREATE INDEX invocation_by_input ON invocation(input_invocation_id);
CREATE INDEX invocation_by_model_completed ON invocation(model, completed_at);

CREATE TABLE embedding (
    id               TEXT PRIMARY KEY,
    invocation_id    TEXT NOT NULL REFERENCES invocation(id) ON DELETE CASCADE,
    embedding_model  TEXT NOT NULL,
    dimension        INTEGER NOT NULL,
    vector           BLOB NOT NULL CHECK (length(vector) = 4 * dimension),
    started_at       INTEGER NOT NULL,
    completed_at     INTEGER NOT NULL,
    UNIQUE (invocation_id, embedding_model)
);
CREATE INDEX embedding_by_model ON embedding(embedding_model);

CREATE TABLE clustering_result (
    id               TEXT PRIMARY KEY,
    embedding_model  TEXT NOT NULL,
    algorithm        TEXT NOT NULL,
    parameters_json  TEXT NOT NULL,
    scope_json       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL
);

CREATE TABLE clustering_experiment (
    clustering_id  TEXT NOT NULL REFERENCES clustering_result(id) ON DELETE CASCADE,
    experiment_id  TEXT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
    PRIMARY KEY (clustering_id, experiment_id)
) WITHOUT ROWID;
CREATE INDEX clustering_experiment_by_experiment ON clustering_experiment(experiment_id);

CREATE TABLE cluster (
    clustering_id        TEXT NOT NULL REFERENCES clustering_result(id) ON DELETE CASCADE,
    label                INTEGER NOT NULL CHECK (label >= 0),
    size                 INTEGER NOT NULL,
    medoid_embedding_id  TEXT REFERENCES embedding(id) ON DELETE SET NULL,
    centroid             BLOB NOT NULL,
    display_name         TEXT NOT NULL,
    PRIMARY KEY (clustering_id, label)
) WITHOUT ROWID;
CREATE INDEX cluster_by_medoid ON cluster(medoid_embedding_id);

CREATE TABLE cluster_assignment (
    clustering_id  TEXT NOT NULL REFERENCES clustering_result(id) ON DELETE CASCADE,
    embedding_id   TEXT NOT NULL REFERENCES embedding(id) ON DELETE CASCADE,
    label          INTEGER NOT NULL CHECK (label >= -1),
    PRIMARY KEY (clustering_id, embedding_id)
) WITHOUT ROWID;
CREATE INDEX cluster_assignment_by_embedding ON cluster_assignment(embedding_id);
CREATE INDEX cluster_assignment_by_label ON cluster_assignment(clustering_id, label);

CREATE TABLE projection (
    id               TEXT PRIMARY KEY,
    embedding_model  TEXT NOT NULL,
    method           TEXT NOT NULL,
    parameters_json  TEXT NOT NULL,
    scope_json       TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);

CREATE TABLE projection_experiment (
    projection_id  TEXT NOT NULL REFERENCES projection(id) ON DELETE CASCADE,
    experiment_id  TEXT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
    PRIMARY KEY (projection_id, experiment_id)
) WITHOUT ROWID;
CREATE INDEX projection_experiment_by_experiment ON projection_experiment(experiment_id);

CREATE TABLE projection_point (
    projection_id  TEXT NOT NULL REFERENCES projection(id) ON DELETE CASCADE,
    embedding_id   TEXT NOT NULL REFERENCES embedding(id) ON DELETE CASCADE,
    x              REAL NOT NULL,
    y              REAL NOT NULL,
    PRIMARY KEY (projection_id, embedding_id)
) WITHOUT ROWID;
CREATE INDEX projection_point_by_embedding ON projection_point(embedding_id);

CREATE TABLE persistence_diagram (
    id               TEXT PRIMARY KEY,
    run_id           TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
    embedding_model  TEXT NOT NULL,
    pairs            BLOB NOT NULL,
    entropy_json     TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    completed_at     INTEGER NOT NULL,
    UNIQUE (run_id, embedding_model)
);
"#;

/// Sharded runs (`experiment run --shard I/N`): which part of the plan this database holds.
/// NULL = the whole plan (also after `db merge`).
const V2: &str = r#"
ALTER TABLE experiment ADD COLUMN shard_index INTEGER;
ALTER TABLE experiment ADD COLUMN shard_count INTEGER CHECK (shard_count IS NULL OR shard_count >= 1);
"#;

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2)])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
