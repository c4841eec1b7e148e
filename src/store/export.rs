//! Exports of stored data: a subset of experiments as a new SQLite database, tables as Parquet
//! files, and a run's images as PNG files with their metadata.
//!
//! Subset rule: experiments, their runs, invocations, embeddings, prompt embeddings and
//! diagrams; a clustering or projection only when every experiment it covers is included
//! (otherwise its clusters would describe data that is not there).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use thiserror::Error;

use super::codec::decode_image;
use super::{Store, StoreError, collect_rows};

#[derive(Debug, Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path} already exists; choose a new file")]
    Exists { path: PathBuf },
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing Parquet file {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("writing PNG file {path}: {source}")]
    Png {
        path: PathBuf,
        source: png::EncodingError,
    },
    #[error("no experiments given")]
    NothingToExport,
}

type Result<T> = std::result::Result<T, ExportError>;

/// Rows written per table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    pub tables: Vec<(String, u64)>,
}

/// Copies `experiment_ids` (full ids) and what belongs to them into a new database at `out`.
pub fn export_subset(
    store: &Store,
    out: &Path,
    experiment_ids: &[String],
) -> Result<ExportSummary> {
    if experiment_ids.is_empty() {
        return Err(ExportError::NothingToExport);
    }
    for id in experiment_ids {
        store.experiment(id)?;
    }
    if out.exists() {
        return Err(ExportError::Exists {
            path: out.to_path_buf(),
        });
    }
    // The new file gets the current schema from the normal open path.
    drop(Store::open(out)?);
    let conn = store.connection();
    conn.execute("ATTACH DATABASE ?1 AS dest", [out.to_string_lossy()])?;
    let result = copy_subset(conn, experiment_ids);
    if result.is_err() {
        // The copy's own error is the one to report; rolling back only releases the attach.
        let _ = conn.execute_batch("ROLLBACK");
    }
    let released = conn.execute_batch(
        "DROP TABLE IF EXISTS temp.export_experiment;
         DROP TABLE IF EXISTS temp.export_clustering;
         DROP TABLE IF EXISTS temp.export_projection;
         DETACH DATABASE dest",
    );
    // The copy's error wins over a failure to release the attachment; either way no partial
    // file is left behind.
    let result = result.and_then(|summary| released.map(|()| summary).map_err(ExportError::from));
    if result.is_err() {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = out.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }
    result
}

fn copy_subset(conn: &rusqlite::Connection, experiment_ids: &[String]) -> Result<ExportSummary> {
    conn.execute_batch(
        "BEGIN;
         CREATE TEMP TABLE export_experiment (id TEXT PRIMARY KEY);",
    )?;
    {
        let mut insert =
            conn.prepare("INSERT OR IGNORE INTO temp.export_experiment VALUES (?1)")?;
        for id in experiment_ids {
            insert.execute([id])?;
        }
    }
    const EXPERIMENTS: &str = "(SELECT id FROM temp.export_experiment)";
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE export_clustering AS SELECT r.id FROM main.clustering_result r
            WHERE EXISTS (SELECT 1 FROM main.clustering_experiment e WHERE e.clustering_id = r.id)
              AND NOT EXISTS (SELECT 1 FROM main.clustering_experiment e
                              WHERE e.clustering_id = r.id AND e.experiment_id NOT IN {EXPERIMENTS});
         CREATE TEMP TABLE export_projection AS SELECT p.id FROM main.projection p
            WHERE EXISTS (SELECT 1 FROM main.projection_experiment e WHERE e.projection_id = p.id)
              AND NOT EXISTS (SELECT 1 FROM main.projection_experiment e
                              WHERE e.projection_id = p.id AND e.experiment_id NOT IN {EXPERIMENTS});"
    ))?;
    let steps: &[(&str, String)] = &[
        ("experiment", format!("SELECT * FROM main.experiment WHERE id IN {EXPERIMENTS}")),
        ("run", format!("SELECT * FROM main.run WHERE experiment_id IN {EXPERIMENTS}")),
        (
            "prompt_embedding",
            "SELECT * FROM main.prompt_embedding WHERE run_id IN (SELECT id FROM dest.run)".into(),
        ),
        (
            "invocation",
            "SELECT * FROM main.invocation WHERE run_id IN (SELECT id FROM dest.run)".into(),
        ),
        (
            "embedding",
            "SELECT * FROM main.embedding WHERE invocation_id IN (SELECT id FROM dest.invocation)".into(),
        ),
        (
            "persistence_diagram",
            "SELECT * FROM main.persistence_diagram WHERE run_id IN (SELECT id FROM dest.run)".into(),
        ),
        (
            "clustering_result",
            "SELECT * FROM main.clustering_result WHERE id IN (SELECT id FROM temp.export_clustering)".into(),
        ),
        (
            "clustering_experiment",
            "SELECT * FROM main.clustering_experiment WHERE clustering_id IN (SELECT id FROM temp.export_clustering)".into(),
        ),
        (
            "cluster",
            "SELECT clustering_id, label, size,
                    CASE WHEN medoid_embedding_id IN (SELECT id FROM dest.embedding) THEN medoid_embedding_id END,
                    centroid, display_name
             FROM main.cluster WHERE clustering_id IN (SELECT id FROM temp.export_clustering)".into(),
        ),
        (
            "cluster_assignment",
            "SELECT * FROM main.cluster_assignment WHERE clustering_id IN (SELECT id FROM temp.export_clustering)
               AND embedding_id IN (SELECT id FROM dest.embedding)".into(),
        ),
        (
            "projection",
            "SELECT * FROM main.projection WHERE id IN (SELECT id FROM temp.export_projection)".into(),
        ),
        (
            "projection_experiment",
            "SELECT * FROM main.projection_experiment WHERE projection_id IN (SELECT id FROM temp.export_projection)".into(),
        ),
        (
            "projection_point",
            "SELECT * FROM main.projection_point WHERE projection_id IN (SELECT id FROM temp.export_projection)
               AND embedding_id IN (SELECT id FROM dest.embedding)".into(),
        ),
    ];
    let mut summary = ExportSummary::default();
    for (table, select) in steps {
        let rows = conn.execute(&format!("INSERT INTO dest.{table} {select}"), [])?;
        summary.tables.push(((*table).to_owned(), rows as u64));
    }
    conn.execute_batch("COMMIT")?;
    Ok(summary)
}

/// Rows buffered per Parquet row group.
const ROW_GROUP: usize = 20_000;

/// One column of a Parquet table being filled.
enum Column {
    Text(Vec<Option<ByteArray>>),
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    /// A list of f32 per row.
    Floats(Vec<Vec<f32>>),
}

impl Column {
    fn clear(&mut self) {
        match self {
            Column::Text(v) => v.clear(),
            Column::Int(v) => v.clear(),
            Column::Real(v) => v.clear(),
            Column::Floats(v) => v.clear(),
        }
    }
}

/// A Parquet table: a schema, and a query whose columns match it in order.
struct Table {
    name: &'static str,
    schema: &'static str,
    query: &'static str,
}

const TABLES: &[Table] = &[
    Table {
        name: "experiments",
        schema: "message experiment { required binary id (UTF8); required binary config_json (UTF8);
            required int64 created_at; optional int64 started_at; optional int64 completed_at;
            required binary status (UTF8); }",
        query: "SELECT id, config_json, created_at, started_at, completed_at, status
                FROM experiment WHERE id IN (SELECT id FROM temp.export_ids) ORDER BY created_at, id",
    },
    Table {
        name: "runs",
        schema: "message run { required binary id (UTF8); required binary experiment_id (UTF8);
            required int64 network_index; required binary network_json (UTF8); required int64 prompt_index;
            required binary initial_prompt (UTF8); required int64 seed_index; required int64 seed;
            required int64 max_length; optional binary stop_reason (UTF8); optional int64 loop_length;
            optional binary failure (UTF8); }",
        query: "SELECT id, experiment_id, network_index, network_json, prompt_index, initial_prompt,
                seed_index, seed, max_length, stop_reason, loop_length, failure
                FROM run WHERE experiment_id IN (SELECT id FROM temp.export_ids)
                ORDER BY experiment_id, network_index, prompt_index, seed_index",
    },
    Table {
        name: "invocations",
        schema: "message invocation { required binary id (UTF8); required binary run_id (UTF8);
            required binary experiment_id (UTF8); required int64 sequence_number; required binary model (UTF8);
            required binary output_type (UTF8); optional binary input_invocation_id (UTF8); required int64 seed;
            optional binary output_text (UTF8); required int64 started_at; required int64 completed_at; }",
        query: "SELECT i.id, i.run_id, r.experiment_id, i.sequence_number, i.model, i.output_type,
                i.input_invocation_id, i.seed, i.output_text, i.started_at, i.completed_at
                FROM invocation i JOIN run r ON i.run_id = r.id
                WHERE r.experiment_id IN (SELECT id FROM temp.export_ids)
                ORDER BY r.experiment_id, r.network_index, r.prompt_index, r.seed_index, i.sequence_number",
    },
    Table {
        name: "embeddings",
        schema: "message embedding { required binary id (UTF8); required binary invocation_id (UTF8);
            required binary embedding_model (UTF8); required int64 dimension;
            required group vector (LIST) { repeated group list { required float element; } }
            required int64 started_at; required int64 completed_at; }",
        query: "SELECT m.id, m.invocation_id, m.embedding_model, m.dimension, m.vector, m.started_at, m.completed_at
                FROM embedding m JOIN invocation i ON m.invocation_id = i.id JOIN run r ON i.run_id = r.id
                WHERE r.experiment_id IN (SELECT id FROM temp.export_ids)
                ORDER BY r.experiment_id, r.network_index, r.prompt_index, r.seed_index, i.sequence_number, m.embedding_model",
    },
    Table {
        name: "cluster_assignments",
        schema: "message cluster_assignment { required binary clustering_id (UTF8);
            required binary embedding_id (UTF8); required int64 label; optional binary cluster_name (UTF8); }",
        query: "SELECT a.clustering_id, a.embedding_id, a.label, c.display_name
                FROM cluster_assignment a
                LEFT JOIN cluster c ON c.clustering_id = a.clustering_id AND c.label = a.label
                WHERE a.embedding_id IN (SELECT m.id FROM embedding m JOIN invocation i ON m.invocation_id = i.id
                    JOIN run r ON i.run_id = r.id WHERE r.experiment_id IN (SELECT id FROM temp.export_ids))
                ORDER BY a.clustering_id, a.embedding_id",
    },
    Table {
        name: "projection_points",
        schema: "message projection_point { required binary projection_id (UTF8);
            required binary embedding_id (UTF8); required double x; required double y; }",
        query: "SELECT p.projection_id, p.embedding_id, p.x, p.y FROM projection_point p
                WHERE p.embedding_id IN (SELECT m.id FROM embedding m JOIN invocation i ON m.invocation_id = i.id
                    JOIN run r ON i.run_id = r.id WHERE r.experiment_id IN (SELECT id FROM temp.export_ids))
                ORDER BY p.projection_id, p.embedding_id",
    },
];

/// Writes each table of `experiment_ids` as `DIR/<table>.parquet` (invocations without image
/// bytes; embedding vectors as lists of f32). Returns the files and their row counts.
pub fn export_parquet(
    store: &Store,
    dir: &Path,
    experiment_ids: &[String],
) -> Result<Vec<(PathBuf, u64)>> {
    if experiment_ids.is_empty() {
        return Err(ExportError::NothingToExport);
    }
    for id in experiment_ids {
        store.experiment(id)?;
    }
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let conn = store.connection();
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.export_ids; CREATE TEMP TABLE export_ids (id TEXT PRIMARY KEY)",
    )?;
    {
        let mut insert = conn.prepare("INSERT OR IGNORE INTO temp.export_ids VALUES (?1)")?;
        for id in experiment_ids {
            insert.execute([id])?;
        }
    }
    let mut written = Vec::new();
    for table in TABLES {
        let path = dir.join(format!("{}.parquet", table.name));
        let rows = write_table(conn, table, &path)?;
        written.push((path, rows));
    }
    conn.execute_batch("DROP TABLE temp.export_ids")?;
    Ok(written)
}

fn write_table(conn: &rusqlite::Connection, table: &Table, path: &Path) -> Result<u64> {
    let parquet_error = |source| ExportError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let schema = Arc::new(parse_message_type(table.schema).map_err(parquet_error)?);
    let mut columns: Vec<Column> = schema
        .get_fields()
        .iter()
        .map(|field| {
            if field.is_group() {
                Column::Floats(Vec::new())
            } else {
                match field.get_physical_type() {
                    parquet::basic::Type::INT64 => Column::Int(Vec::new()),
                    parquet::basic::Type::DOUBLE => Column::Real(Vec::new()),
                    _ => Column::Text(Vec::new()),
                }
            }
        })
        .collect();
    let file = File::create(path).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut writer = SerializedFileWriter::new(file, schema, properties).map_err(parquet_error)?;
    let mut statement = conn.prepare(table.query)?;
    let mut rows = statement.query([])?;
    let mut total = 0u64;
    let mut buffered = 0usize;
    while let Some(row) = rows.next()? {
        for (index, column) in columns.iter_mut().enumerate() {
            match column {
                Column::Text(values) => values.push(
                    row.get::<_, Option<String>>(index)?
                        .map(|text| ByteArray::from(text.into_bytes())),
                ),
                Column::Int(values) => values.push(row.get(index)?),
                Column::Real(values) => values.push(row.get(index)?),
                Column::Floats(values) => {
                    let bytes: Vec<u8> = row.get(index)?;
                    values.push(super::codec::decode_vector(&bytes)?);
                }
            }
        }
        buffered += 1;
        total += 1;
        if buffered == ROW_GROUP {
            flush(&mut writer, &mut columns).map_err(parquet_error)?;
            buffered = 0;
        }
    }
    if buffered > 0 || total == 0 {
        flush(&mut writer, &mut columns).map_err(parquet_error)?;
    }
    writer.close().map_err(parquet_error)?;
    Ok(total)
}

/// Writes the buffered rows as one row group. Optional columns get definition level 0 for
/// null and 1 for a value; a list row of n floats gets repetition levels 0, 1, 1, …
fn flush(
    writer: &mut SerializedFileWriter<File>,
    columns: &mut [Column],
) -> parquet::errors::Result<()> {
    let mut group = writer.next_row_group()?;
    for column in columns.iter_mut() {
        let Some(mut out) = group.next_column()? else {
            break;
        };
        match column {
            Column::Text(values) => {
                let (present, levels) = split_optional(values);
                out.typed::<ByteArrayType>()
                    .write_batch(&present, Some(&levels), None)?;
            }
            Column::Int(values) => {
                let (present, levels) = split_optional(values);
                out.typed::<Int64Type>()
                    .write_batch(&present, Some(&levels), None)?;
            }
            Column::Real(values) => {
                let (present, levels) = split_optional(values);
                out.typed::<DoubleType>()
                    .write_batch(&present, Some(&levels), None)?;
            }
            Column::Floats(rows) => {
                let mut values = Vec::new();
                let mut definitions = Vec::new();
                let mut repetitions = Vec::new();
                for row in rows.iter() {
                    if row.is_empty() {
                        // An empty list: defined group, no element.
                        definitions.push(0);
                        repetitions.push(0);
                    }
                    for (position, value) in row.iter().enumerate() {
                        values.push(*value);
                        definitions.push(1);
                        repetitions.push(i16::from(position > 0));
                    }
                }
                out.typed::<FloatType>().write_batch(
                    &values,
                    Some(&definitions),
                    Some(&repetitions),
                )?;
            }
        }
        out.close()?;
        column.clear();
    }
    group.close()?;
    Ok(())
}

/// The non-null values and a definition level per row (the writer ignores the levels of
/// required columns).
fn split_optional<T: Clone>(values: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
    let present = values.iter().flatten().cloned().collect();
    let levels = values
        .iter()
        .map(|value| i16::from(value.is_some()))
        .collect();
    (present, levels)
}

/// One exported image, as listed in the sidecar.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportedStep {
    pub sequence_number: u32,
    pub model: String,
    pub seed: i64,
    /// The PNG file for an image step, the text for a text step.
    pub file: Option<String>,
    pub text: Option<String>,
}

/// Writes every image of a run as `DIR/step-NNNNN.png` (prompt, model, step, seed and run in
/// PNG text chunks) and `DIR/run.json` listing the run and all its steps.
pub fn export_run_images(store: &Store, run_id: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let run = store.run(run_id)?;
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let rows = collect_rows(
        store.connection(),
        "SELECT sequence_number, model, seed, output_text, output_image FROM invocation
         WHERE run_id = ?1 ORDER BY sequence_number",
        [run_id],
        |row| {
            Ok((
                row.get::<_, u32>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<Vec<u8>>>(4)?,
            ))
        },
    )?;
    let mut files = Vec::new();
    let mut steps = Vec::new();
    for (sequence, model, seed, text, image) in rows {
        let mut file = None;
        if let Some(bytes) = image {
            let image = decode_image(&bytes)?;
            let name = format!("step-{sequence:05}.png");
            let path = dir.join(&name);
            let metadata = [
                ("Title", format!("{} step {sequence}", run.initial_prompt)),
                ("Prompt", run.initial_prompt.clone()),
                ("Model", model.clone()),
                ("Step", sequence.to_string()),
                ("Seed", seed.to_string()),
                ("Run", run.id.clone()),
                ("Software", "panic-tda".to_owned()),
            ];
            write_png(&path, &image, &metadata)?;
            files.push(path);
            file = Some(name);
        }
        steps.push(ExportedStep {
            sequence_number: sequence,
            model,
            seed,
            file,
            text,
        });
    }
    let sidecar = dir.join("run.json");
    let json = serde_json::json!({ "run": run, "steps": steps });
    let text = serde_json::to_string_pretty(&json).map_err(|source| StoreError::Json {
        what: "run.json",
        source,
    })?;
    std::fs::write(&sidecar, text).map_err(|source| ExportError::Io {
        path: sidecar.clone(),
        source,
    })?;
    files.push(sidecar);
    Ok(files)
}

fn write_png(path: &Path, image: &image::RgbImage, metadata: &[(&str, String)]) -> Result<()> {
    let png_error = |source| ExportError::Png {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut encoder =
        png::Encoder::new(std::io::BufWriter::new(file), image.width(), image.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    for (key, value) in metadata {
        // tEXt is Latin-1 only; anything else goes in an iTXt (UTF-8) chunk.
        if value.is_ascii() {
            encoder.add_text_chunk((*key).to_owned(), value.clone())
        } else {
            encoder.add_itxt_chunk((*key).to_owned(), value.clone())
        }
        .map_err(png_error)?;
    }
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(image.as_raw()).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    Ok(())
}
