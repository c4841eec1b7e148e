//! Vietoris–Rips persistent homology (H0–H2 over Z/2) of a point cloud, persistent entropy, and
//! the background stage that stores one diagram per (run, embedding model).
//!
//! The algorithm is persistent *cohomology* with the usual Rips shortcuts: simplices are never
//! stored as lists but named by their combinatorial-number-system index, coboundaries are
//! enumerated on the fly, columns paired in the lower dimension are skipped (clearing), and
//! zero-length "apparent" pairs are recognised locally instead of being reduced or stored.
//! Triangles are generated edge by edge (each from its longest edge) so that even the top
//! dimension never needs a sorted list of all triangles in memory, and coboundaries enter the
//! reduction heap in parts, by edge-length level. See DESIGN.md.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use thiserror::Error;

use crate::store::{self, DiagramRecord, PersistencePair, Store, StoreError, Timestamp};

/// Highest homology dimension computed.
pub const MAX_DIMENSION: u32 = 2;

#[derive(Debug, Error)]
pub enum PersistenceError {
    #[error("the persistence computation was cancelled")]
    Cancelled,
    #[error("point cloud has {values} values, not a whole number of {dim}-dimensional points")]
    Shape { values: usize, dim: usize },
    #[error("point {index} has a non-finite coordinate; check the stored embeddings")]
    NonFinite { index: usize },
    #[error("homology dimension {0} is not supported (0 to {MAX_DIMENSION})")]
    Dimension(u32),
    #[error("threshold {0} is not a non-negative number")]
    Threshold(f32),
    #[error("{0} points is too many for this computation (simplex indices would overflow)")]
    TooManyPoints(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("experiment {experiment} has no text embeddings; embed it first")]
    NothingEmbedded { experiment: String },
    #[error(
        "experiment {experiment} has no text embeddings by '{model}' (it has: {}); embed it with that model first or pick another",
        .available.join(", ")
    )]
    ModelNotEmbedded {
        experiment: String,
        model: String,
        available: Vec<String>,
    },
    #[error("the persistence worker pool could not start: {0}")]
    Threads(String),
}

impl From<rusqlite::Error> for PersistenceError {
    fn from(error: rusqlite::Error) -> Self {
        PersistenceError::Store(StoreError::Sqlite(error))
    }
}

pub type Result<T> = std::result::Result<T, PersistenceError>;

/// What to compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RipsParams {
    /// Highest homology dimension (0, 1 or 2).
    pub max_dimension: u32,
    /// Largest edge length in the filtration; `None` = the enclosing radius (the smallest
    /// "largest distance from one point to all others"), beyond which the complex is a cone and
    /// has no homology, so the diagram is the same as without a threshold.
    pub threshold: Option<f32>,
}

impl Default for RipsParams {
    fn default() -> Self {
        Self {
            max_dimension: MAX_DIMENSION,
            threshold: None,
        }
    }
}

/// Euclidean distance matrix, stored square so that the distances from one point are a
/// contiguous row (the inner loops walk rows).
#[derive(Debug, Clone)]
pub struct DistanceMatrix {
    n: usize,
    values: Vec<f32>,
}

impl DistanceMatrix {
    /// Euclidean distances between the rows of `points` (`n × dim`, row-major).
    pub fn from_points(points: &[f32], dim: usize) -> Result<Self> {
        if dim == 0 || !points.len().is_multiple_of(dim) {
            return Err(PersistenceError::Shape {
                values: points.len(),
                dim,
            });
        }
        if let Some(at) = points.iter().position(|x| !x.is_finite()) {
            return Err(PersistenceError::NonFinite { index: at / dim });
        }
        let n = points.len() / dim;
        let mut values = vec![0.0f32; n * n];
        values
            .par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                let a = &points[i * dim..(i + 1) * dim];
                for (j, out) in row.iter_mut().enumerate().take(i) {
                    *out = euclidean(a, &points[j * dim..(j + 1) * dim]);
                }
            });
        // Mirror the lower triangle so both orders read the same value.
        for i in 0..n {
            for j in 0..i {
                values[j * n + i] = values[i * n + j];
            }
        }
        Ok(Self { n, values })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The distance between points `i` and `j` (both below [`Self::len`]).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.values[i * self.n + j]
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.n..(i + 1) * self.n]
    }

    /// The smallest over points of the largest distance to any other point.
    pub fn enclosing_radius(&self) -> f32 {
        (0..self.n)
            .map(|i| self.row(i).iter().copied().fold(0.0f32, f32::max))
            .fold(f32::INFINITY, f32::min)
    }
}

/// Eight independent partial sums so the loop vectorises; accuracy is ample for f32 output.
fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            let d = x[k] - y[k];
            sums[k] += d * d;
        }
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        sums[0] += (x - y) * (x - y);
    }
    let total: f64 = sums.iter().map(|&s| f64::from(s)).sum();
    total.sqrt() as f32
}

/// Persistence pairs of the Vietoris–Rips filtration of `points` (`n × dim`, row-major),
/// Euclidean metric, Z/2 coefficients. Sorted by dimension, then birth, then death; classes that
/// never die have death = +∞; zero-length pairs are left out.
pub fn vietoris_rips(
    points: &[f32],
    dim: usize,
    params: &RipsParams,
    cancel: Option<&AtomicBool>,
) -> Result<Vec<PersistencePair>> {
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let distances = DistanceMatrix::from_points(points, dim)?;
    rips_from_distances(&distances, params, cancel)
}

/// As [`vietoris_rips`], from a distance matrix.
pub fn rips_from_distances(
    distances: &DistanceMatrix,
    params: &RipsParams,
    cancel: Option<&AtomicBool>,
) -> Result<Vec<PersistencePair>> {
    rips_with_levels(distances, params, cancel, LEVELS)
}

fn rips_with_levels(
    distances: &DistanceMatrix,
    params: &RipsParams,
    cancel: Option<&AtomicBool>,
    levels: usize,
) -> Result<Vec<PersistencePair>> {
    if params.max_dimension > MAX_DIMENSION {
        return Err(PersistenceError::Dimension(params.max_dimension));
    }
    let threshold = match params.threshold {
        Some(t) if t.is_nan() || t < 0.0 => return Err(PersistenceError::Threshold(t)),
        Some(t) => t,
        None => distances.enclosing_radius(),
    };
    let n = distances.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let binomials = Binomials::new(n, params.max_dimension as usize + 2)?;
    let mut rips = Rips {
        n,
        distances,
        threshold,
        binomials,
        cancel,
        pairs: Vec::new(),
        steps: 0,
        levels: Vec::new(),
    };
    rips.compute(params.max_dimension, levels)?;
    let mut pairs = rips.pairs;
    pairs.sort_by(|a, b| {
        a.dimension
            .cmp(&b.dimension)
            .then(a.birth.total_cmp(&b.birth))
            .then(a.death.total_cmp(&b.death))
    });
    Ok(pairs)
}

/// Persistent entropy per homology dimension `0..=max_dim`: with `lᵢ` the lengths of the finite
/// bars of that dimension and `pᵢ = lᵢ / Σl`, `E = −Σ pᵢ ln pᵢ`; 0 when there are none.
pub fn persistent_entropy(pairs: &[PersistencePair], max_dim: u32) -> Vec<f64> {
    (0..=max_dim)
        .map(|dimension| {
            let lengths: Vec<f64> = pairs
                .iter()
                .filter(|p| p.dimension == dimension && p.death.is_finite())
                .map(|p| f64::from(p.death) - f64::from(p.birth))
                .filter(|&l| l > 0.0)
                .collect();
            let total: f64 = lengths.iter().sum();
            if total <= 0.0 {
                return 0.0;
            }
            // 0 − Σ, not −Σ: a single bar gives +0, not −0.
            0.0 - lengths
                .iter()
                .map(|&l| {
                    let p = l / total;
                    p * p.ln()
                })
                .sum::<f64>()
        })
        .collect()
}

/// What [`compute_persistence_diagrams`] should do.
#[derive(Debug, Clone, Default)]
pub struct PersistenceRequest {
    /// Embedding models to use; `None` = every model with text embeddings in the experiment.
    pub embedding_models: Option<Vec<String>>,
    /// Worker threads (diagrams computed at once); 0 = one per core.
    pub threads: usize,
    /// Also compute runs that did not finish (failed or cancelled; resuming them would make
    /// their diagram stale).
    pub include_unfinished: bool,
}

/// Where the stage stands, reported after each stored diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PersistenceProgress {
    /// Diagrams to compute in this call.
    pub total: usize,
    /// Stored so far.
    pub done: usize,
    /// Failed so far (nothing stored for them).
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PersistenceFailure {
    pub run_id: String,
    pub embedding_model: String,
    pub error: String,
}

/// What [`compute_persistence_diagrams`] did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PersistenceSummary {
    pub experiment_id: String,
    pub embedding_models: Vec<String>,
    /// Diagrams computed and stored by this call.
    pub computed: usize,
    /// (run, model) pairs that already had a diagram.
    pub already_stored: usize,
    /// Runs skipped because they have not finished (see `include_unfinished`).
    pub unfinished: usize,
    /// Runs skipped because not all their text outputs are embedded by the model, or they have
    /// none.
    pub not_embedded: usize,
    pub failed: Vec<PersistenceFailure>,
    /// Stopped early by the cancel flag; what was stored stays.
    pub cancelled: bool,
    pub seconds: f64,
}

/// Text-embedding models of an experiment, by name.
pub fn text_embedding_models(store: &Store, experiment_id: &str) -> Result<Vec<String>> {
    let mut statement = store.connection().prepare_cached(
        "SELECT DISTINCT e.embedding_model FROM embedding e
         JOIN invocation i ON e.invocation_id = i.id JOIN run r ON i.run_id = r.id
         WHERE r.experiment_id = ?1 AND i.output_type = 'text' ORDER BY 1",
    )?;
    let models = statement
        .query_map([experiment_id], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(models)
}

/// A run's text embeddings by `model` in sequence order, as rows of one matrix.
pub fn run_point_cloud(store: &Store, run_id: &str, model: &str) -> Result<(Vec<f32>, usize)> {
    let mut statement = store.connection().prepare_cached(
        "SELECT e.vector FROM embedding e JOIN invocation i ON e.invocation_id = i.id
         WHERE i.run_id = ?1 AND e.embedding_model = ?2 AND i.output_type = 'text'
         ORDER BY i.sequence_number",
    )?;
    let mut rows = statement.query([run_id, model])?;
    let (mut points, mut dim) = (Vec::new(), 0);
    while let Some(row) = rows.next()? {
        let vector = store::decode_vector(&row.get::<_, Vec<u8>>(0)?)?;
        if dim == 0 {
            dim = vector.len();
        } else if vector.len() != dim {
            return Err(StoreError::Corrupt {
                what: format!("'{model}' embeddings of run {run_id}"),
                detail: format!("vectors of {dim} and {} values", vector.len()),
            }
            .into());
        }
        points.extend_from_slice(&vector);
    }
    Ok((points, dim))
}

struct Job {
    run_id: String,
    model: String,
}

/// Finds the (run, model) pairs still needing a diagram and counts the others.
fn plan(
    store: &Store,
    experiment_id: &str,
    models: &[String],
    include_unfinished: bool,
    summary: &mut PersistenceSummary,
) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    let mut statement = store.connection().prepare_cached(
        "SELECT r.id, r.stop_reason, count(i.id), count(e.id),
                EXISTS (SELECT 1 FROM persistence_diagram d WHERE d.run_id = r.id AND d.embedding_model = ?2)
         FROM run r
         LEFT JOIN invocation i ON i.run_id = r.id AND i.output_type = 'text'
         LEFT JOIN embedding e ON e.invocation_id = i.id AND e.embedding_model = ?2
         WHERE r.experiment_id = ?1
         GROUP BY r.id ORDER BY r.network_index, r.prompt_index, r.seed_index",
    )?;
    for model in models {
        let rows = statement
            .query_map([experiment_id, model.as_str()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, bool>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (run_id, stop, texts, embedded, stored) in rows {
            let finished = matches!(stop.as_deref(), Some("length" | "duplicate"));
            if stored {
                summary.already_stored += 1;
            } else if !finished && !include_unfinished {
                summary.unfinished += 1;
            } else if texts == 0 || embedded < texts {
                summary.not_embedded += 1;
            } else {
                jobs.push(Job {
                    run_id,
                    model: model.clone(),
                });
            }
        }
    }
    Ok(jobs)
}

/// Computes and stores the persistence diagram (H0–H2, threshold = enclosing radius) and
/// persistent entropy of every finished run × text-embedding model of an experiment that has
/// none yet, several runs at once. Each diagram is stored in its own transaction, so a
/// cancelled or failed call keeps what it finished and a second call continues.
pub fn compute_persistence_diagrams(
    store: &mut Store,
    experiment: &str,
    request: &PersistenceRequest,
    cancel: &AtomicBool,
    mut on_progress: impl FnMut(PersistenceProgress),
) -> Result<PersistenceSummary> {
    let started = std::time::Instant::now();
    let experiment_id = store.resolve_experiment(experiment)?;
    let available = text_embedding_models(store, &experiment_id)?;
    let models = match &request.embedding_models {
        Some(wanted) if !wanted.is_empty() => {
            for model in wanted {
                if !available.contains(model) {
                    return Err(PersistenceError::ModelNotEmbedded {
                        experiment: experiment_id,
                        model: model.clone(),
                        available,
                    });
                }
            }
            wanted.clone()
        }
        _ if available.is_empty() => {
            return Err(PersistenceError::NothingEmbedded {
                experiment: experiment_id,
            });
        }
        _ => available,
    };
    let mut summary = PersistenceSummary {
        experiment_id: experiment_id.clone(),
        embedding_models: models.clone(),
        ..PersistenceSummary::default()
    };
    let jobs = plan(
        store,
        &experiment_id,
        &models,
        request.include_unfinished,
        &mut summary,
    )?;
    let mut progress = PersistenceProgress {
        total: jobs.len(),
        done: 0,
        failed: 0,
    };
    on_progress(progress);
    if !jobs.is_empty() {
        run_jobs(store, jobs, request.threads, cancel, &mut summary, |p| {
            progress.done = p.0;
            progress.failed = p.1;
            on_progress(progress);
        })?;
    }
    summary.cancelled = cancel.load(Ordering::Relaxed);
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

type Outcome = (Job, Timestamp, Result<Vec<PersistencePair>>, Timestamp);

/// Computes on a worker pool while this thread loads point clouds and stores diagrams (the store
/// stays on one thread); at most two clouds per worker are in memory at once.
fn run_jobs(
    store: &mut Store,
    jobs: Vec<Job>,
    threads: usize,
    cancel: &AtomicBool,
    summary: &mut PersistenceSummary,
    mut on_progress: impl FnMut((usize, usize)),
) -> Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("persistence-{i}"))
        .build()
        .map_err(|e| PersistenceError::Threads(e.to_string()))?;
    let limit = pool.current_num_threads() * 2;
    // Workers watch this flag; it follows `cancel` and is also raised when storing fails.
    let stop = AtomicBool::new(false);
    let (sender, receiver) = std::sync::mpsc::channel::<Outcome>();
    pool.in_place_scope(|scope| {
        let mut in_flight = 0usize;
        let mut result = Ok(());
        let receive = |store: &mut Store,
                       in_flight: &mut usize,
                       summary: &mut PersistenceSummary|
         -> Result<()> {
            loop {
                if cancel.load(Ordering::Relaxed) {
                    stop.store(true, Ordering::Relaxed);
                }
                match receiver.recv_timeout(std::time::Duration::from_millis(100)) {
                    Ok(outcome) => {
                        *in_flight -= 1;
                        return store_outcome(store, outcome, summary);
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    // Every sender is gone only when nothing is in flight.
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        *in_flight = 0;
                        return Ok(());
                    }
                }
            }
        };
        for job in jobs {
            if cancel.load(Ordering::Relaxed) {
                stop.store(true, Ordering::Relaxed);
                break;
            }
            while in_flight >= limit {
                if let Err(error) = receive(store, &mut in_flight, summary) {
                    result = Err(error);
                    break;
                }
                on_progress((summary.computed, summary.failed.len()));
            }
            if result.is_err() {
                break;
            }
            let cloud = run_point_cloud(store, &job.run_id, &job.model);
            let (sender, stop) = (sender.clone(), &stop);
            in_flight += 1;
            scope.spawn(move |_| {
                let started = store::now();
                let pairs = cloud.and_then(|(points, dim)| {
                    vietoris_rips(&points, dim.max(1), &RipsParams::default(), Some(stop))
                });
                // The receiver outlives every worker; a failed send only means it gave up.
                let _ = sender.send((job, started, pairs, store::now()));
            });
        }
        drop(sender);
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        while in_flight > 0 {
            match receive(store, &mut in_flight, summary) {
                Ok(()) => on_progress((summary.computed, summary.failed.len())),
                Err(error) => {
                    stop.store(true, Ordering::Relaxed);
                    if result.is_ok() {
                        result = Err(error);
                    }
                }
            }
        }
        result
    })
}

/// Stores one finished diagram (its own transaction) or records why it failed.
fn store_outcome(
    store: &mut Store,
    (job, started_at, pairs, completed_at): Outcome,
    summary: &mut PersistenceSummary,
) -> Result<()> {
    match pairs {
        Ok(pairs) => {
            let entropy = persistent_entropy(&pairs, MAX_DIMENSION);
            store.insert_diagrams(&[DiagramRecord {
                id: store::new_id(),
                run_id: job.run_id,
                embedding_model: job.model,
                pairs,
                entropy,
                started_at,
                completed_at,
            }])?;
            summary.computed += 1;
        }
        Err(PersistenceError::Cancelled) => {}
        Err(error) => summary.failed.push(PersistenceFailure {
            run_id: job.run_id,
            embedding_model: job.model,
            error: error.to_string(),
        }),
    }
    Ok(())
}

/// `C(v, k)` for `v ≤ n`, `k ≤ k_max`, checked for overflow once up front.
struct Binomials {
    stride: usize,
    table: Vec<u64>,
}

impl Binomials {
    fn new(n: usize, k_max: usize) -> Result<Self> {
        let stride = n + 1;
        let mut table = vec![0u64; stride * (k_max + 1)];
        for v in 0..=n {
            table[v] = 1;
            for k in 1..=k_max.min(v) {
                let value = table[(k - 1) * stride + v - 1]
                    .checked_add(table[k * stride + v - 1])
                    .ok_or(PersistenceError::TooManyPoints(n))?;
                table[k * stride + v] = value;
            }
        }
        Ok(Self { stride, table })
    }

    #[inline]
    fn get(&self, v: usize, k: usize) -> u64 {
        self.table[k * self.stride + v]
    }
}

/// A simplex in a filtration: its diameter (as f32 bits; diameters are non-negative, so the bits
/// order like the values) and its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    bits: u32,
    index: u64,
}

impl Cell {
    fn new(diameter: f32, index: u64) -> Self {
        Self {
            bits: diameter.to_bits(),
            index,
        }
    }

    fn diameter(self) -> f32 {
        f32::from_bits(self.bits)
    }
}

/// Heap order: "greater" = earlier in the filtration (smaller diameter; among equal diameters
/// the larger index), so a max-heap yields the pivot of a coboundary column.
impl Ord for Cell {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other
            .bits
            .cmp(&self.bits)
            .then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Cell {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

/// Vertices of a simplex (up to a tetrahedron), largest first; the simplex's dimension says how
/// many are used.
type Vertices = [usize; 4];

/// A reduced column: its simplex (with vertices) and the other simplices added to it (its column
/// of V; Z/2, so each appears once).
struct Column {
    simplex: Cell,
    vertices: Vertices,
    added: Vec<Cell>,
}

struct Rips<'a> {
    n: usize,
    distances: &'a DistanceMatrix,
    threshold: f32,
    binomials: Binomials,
    cancel: Option<&'a AtomicBool>,
    pairs: Vec<PersistencePair>,
    steps: usize,
    /// Diameters (as bits, increasing) up to which coboundaries are pushed at a time: most of a
    /// pushed coboundary is never looked at before its column is done, so the part above the
    /// next level waits behind a marker.
    levels: Vec<u32>,
}

/// Hashes simplex indices (already unique integers) with one multiplication; the default
/// SipHash was an eighth of the time in the top dimension.
#[derive(Default, Clone, Copy)]
struct IndexHasher(u64);

impl std::hash::Hasher for IndexHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low ones, which pick the bucket.
        self.0 ^ (self.0 >> 32)
    }
}

/// Pivot (a simplex index) → its reduced column.
type PivotMap = HashMap<u64, Column, std::hash::BuildHasherDefault<IndexHasher>>;

/// Coboundary levels: this many quantiles of the edge lengths.
const LEVELS: usize = 32;

/// Edges whose triangles are generated and filtered in one parallel batch.
const EDGE_BATCH: usize = 1024;

/// Columns reduced between cancellation checks.
const CHECK_EVERY: usize = 1 << 12;

/// `vertices` (largest first) with `v` inserted in order.
fn with_vertex(vertices: &[usize], v: usize) -> Vertices {
    let mut out = [0; 4];
    let mut at = 0;
    for &u in vertices.iter().filter(|&&u| u > v) {
        out[at] = u;
        at += 1;
    }
    out[at] = v;
    at += 1;
    for &u in vertices.iter().filter(|&&u| u < v) {
        out[at] = u;
        at += 1;
    }
    out
}

impl Rips<'_> {
    fn check_cancel(&mut self) -> Result<()> {
        let check = self.steps.is_multiple_of(CHECK_EVERY);
        self.steps += 1;
        if check && self.cancel.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            return Err(PersistenceError::Cancelled);
        }
        Ok(())
    }

    fn push_pair(&mut self, dimension: u32, birth: f32, death: f32) {
        if death > birth {
            self.pairs.push(PersistencePair {
                dimension,
                birth,
                death,
            });
        }
    }

    /// Vertices of the simplex with `count` vertices and `index`, largest first.
    fn vertices(&self, mut index: u64, count: usize) -> Vertices {
        let mut out = [0; 4];
        let mut top = self.n - 1;
        for (slot, k) in (1..=count).rev().enumerate() {
            // Largest v ≤ top with C(v, k) ≤ index.
            let (mut lo, mut hi) = (k - 1, top);
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                if self.binomials.get(mid, k) <= index {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            out[slot] = lo;
            index -= self.binomials.get(lo, k);
            top = lo.saturating_sub(1);
        }
        out
    }

    fn index_of(&self, vertices: &[usize]) -> u64 {
        let count = vertices.len();
        vertices
            .iter()
            .enumerate()
            .map(|(s, &v)| self.binomials.get(v, count - s))
            .sum()
    }

    fn diameter_of(&self, vertices: &[usize]) -> f32 {
        let mut diameter = 0.0f32;
        for (s, &a) in vertices.iter().enumerate() {
            for &b in &vertices[s + 1..] {
                diameter = diameter.max(self.distances.get(a, b));
            }
        }
        diameter
    }

    /// Calls `visit` with each cofacet within the threshold and its added vertex, in decreasing
    /// index order, until it returns false.
    fn for_each_cofacet(
        &self,
        simplex: Cell,
        vertices: &[usize],
        mut visit: impl FnMut(Cell, usize) -> bool,
    ) {
        let count = vertices.len();
        let diameter = simplex.diameter();
        // Index parts of the simplex's vertices above and below the new vertex v, with their
        // positions in the cofacet.
        let (mut above, mut below) = (0u64, simplex.index);
        let mut passed = 0;
        let rows: [&[f32]; 4] =
            std::array::from_fn(|s| self.distances.row(vertices.get(s).copied().unwrap_or(0)));
        for v in (0..self.n).rev() {
            if passed < count && vertices[passed] == v {
                let position = count - passed;
                below -= self.binomials.get(v, position);
                above += self.binomials.get(v, position + 1);
                passed += 1;
                continue;
            }
            let mut cofacet_diameter = diameter;
            for row in &rows[..count] {
                cofacet_diameter = cofacet_diameter.max(row[v]);
            }
            if cofacet_diameter > self.threshold {
                continue;
            }
            let index = above + self.binomials.get(v, count - passed + 1) + below;
            if !visit(Cell::new(cofacet_diameter, index), v) {
                return;
            }
        }
    }

    /// The earliest cofacet with the simplex's own diameter (the pivot of its unreduced
    /// coboundary when that has zero persistence), with its vertices.
    fn first_equal_cofacet(&self, simplex: Cell, vertices: &[usize]) -> Option<(Cell, Vertices)> {
        let diameter = simplex.diameter();
        let mut found = None;
        // Same walk as `for_each_cofacet`, testing distances before computing indices.
        self.for_each_cofacet_within(vertices, diameter, |v| {
            found = Some(v);
            false
        });
        let v = found?;
        let cofacet_vertices = with_vertex(vertices, v);
        let index = self.index_of(&cofacet_vertices[..vertices.len() + 1]);
        Some((
            Cell {
                bits: simplex.bits,
                index,
            },
            cofacet_vertices,
        ))
    }

    /// Calls `visit` with each vertex v (decreasing) whose distance to every vertex of the
    /// simplex is at most `limit`, until it returns false.
    fn for_each_cofacet_within(
        &self,
        vertices: &[usize],
        limit: f32,
        mut visit: impl FnMut(usize) -> bool,
    ) {
        let count = vertices.len();
        let rows: [&[f32]; 4] =
            std::array::from_fn(|s| self.distances.row(vertices.get(s).copied().unwrap_or(0)));
        for v in (0..self.n).rev() {
            if rows[..count].iter().all(|row| row[v] <= limit)
                && !vertices.contains(&v)
                && !visit(v)
            {
                return;
            }
        }
    }

    /// The latest facet with the simplex's own diameter (smallest index among them), with its
    /// vertices.
    fn last_equal_facet(&self, simplex: Cell, vertices: &[usize]) -> Option<(Cell, Vertices)> {
        let size = vertices.len() - 1;
        let mut best: Option<(Cell, Vertices)> = None;
        for skip in 0..vertices.len() {
            let mut facet = [0usize; 4];
            let mut at = 0;
            for (s, &v) in vertices.iter().enumerate() {
                if s != skip {
                    facet[at] = v;
                    at += 1;
                }
            }
            if self.diameter_of(&facet[..size]).to_bits() != simplex.bits {
                continue;
            }
            let index = self.index_of(&facet[..size]);
            if best.is_none_or(|(b, _)| index < b.index) {
                best = Some((
                    Cell {
                        bits: simplex.bits,
                        index,
                    },
                    facet,
                ));
            }
        }
        best
    }

    /// Whether the simplex is in a zero-length apparent pair with a cofacet: its earliest
    /// equal-diameter cofacet, of which it is the latest facet.
    fn has_apparent_cofacet(&self, simplex: Cell, vertices: &[usize]) -> bool {
        self.first_equal_cofacet(simplex, vertices)
            .and_then(|(cofacet, cofacet_vertices)| {
                self.last_equal_facet(cofacet, &cofacet_vertices[..vertices.len() + 1])
            })
            .is_some_and(|(facet, _)| facet == simplex)
    }

    /// [`Self::has_apparent_cofacet`] for the triangle `{a, b, c}` (diameter `bits`) whose
    /// latest edge is `{a, b}`, `a > b`. Its earliest equal-diameter cofacet `{a, b, c, v}` has
    /// the facet `{a, b, v}` of the same diameter, with a smaller index than the triangle's when
    /// `v < c` (the triangle is then not the latest facet), so only `v > c` is searched; of the
    /// other facets, `{a, c, v}` (smaller index when `v < b`) and `{b, c, v}` (when `v < a`) beat
    /// the triangle only if they reach the same diameter.
    fn triangle_has_apparent_cofacet(&self, bits: u32, a: usize, b: usize, c: usize) -> bool {
        let limit = f32::from_bits(bits);
        let (row_a, row_b, row_c) = (
            self.distances.row(a),
            self.distances.row(b),
            self.distances.row(c),
        );
        for v in (c + 1..self.n).rev() {
            if row_a[v] <= limit && row_b[v] <= limit && row_c[v] <= limit && v != a && v != b {
                let acv = v < b && row_a[c].max(row_a[v]).max(row_c[v]).to_bits() == bits;
                let bcv = v < a && row_b[c].max(row_b[v]).max(row_c[v]).to_bits() == bits;
                return !acv && !bcv;
            }
        }
        false
    }

    /// The facet in a zero-length apparent pair with the simplex, if any, with its vertices.
    fn apparent_facet(&self, simplex: Cell, vertices: &[usize]) -> Option<(Cell, Vertices)> {
        let (facet, facet_vertices) = self.last_equal_facet(simplex, vertices)?;
        let (cofacet, _) =
            self.first_equal_cofacet(facet, &facet_vertices[..vertices.len() - 1])?;
        (cofacet == simplex).then_some((facet, facet_vertices))
    }

    fn compute(&mut self, max_dimension: u32, levels: usize) -> Result<()> {
        let n = self.n;
        // Edges within the threshold, in filtration order (diameter up, index down).
        let mut edges: Vec<Cell> = Vec::with_capacity(n * (n - 1) / 2);
        for i in 1..n {
            for j in 0..i {
                let d = self.distances.get(i, j);
                if d <= self.threshold {
                    edges.push(Cell::new(d, (i * (i - 1) / 2 + j) as u64));
                }
            }
        }
        edges.sort_unstable_by(|a, b| b.cmp(a));
        if !edges.is_empty() {
            self.levels = (1..=levels)
                .map(|k| edges[edges.len() * k / levels - usize::from(k == levels)].bits)
                .collect();
            self.levels.dedup();
        }

        // H0 by union–find; edges that merge nothing are the H1 columns.
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        let mut cycle_edges = Vec::new();
        for &edge in &edges {
            let vertices = self.vertices(edge.index, 2);
            let (a, b) = (
                root(&mut parent, vertices[0]),
                root(&mut parent, vertices[1]),
            );
            if a == b {
                cycle_edges.push(edge);
            } else {
                parent[a.max(b)] = a.min(b);
                self.push_pair(0, 0.0, edge.diameter());
            }
        }
        for v in 0..n {
            if root(&mut parent, v) == v {
                self.pairs.push(PersistencePair {
                    dimension: 0,
                    birth: 0.0,
                    death: f32::INFINITY,
                });
            }
        }
        if max_dimension == 0 {
            return Ok(());
        }

        // H1: columns in reverse filtration order.
        let mut edge_pivots = PivotMap::default();
        let mut reducer = Reducer::default();
        for &edge in cycle_edges.iter().rev() {
            self.check_cancel()?;
            let vertices = self.vertices(edge.index, 2);
            if self.has_apparent_cofacet(edge, &vertices[..2]) {
                continue;
            }
            self.reduce(edge, vertices, 1, &mut edge_pivots, &mut reducer)?;
        }
        drop(cycle_edges);
        if max_dimension == 1 {
            return Ok(());
        }

        // H2: triangles generated from their latest edge, one group of equal-length edges at
        // a time, sorted into reverse filtration order within the group. Generating and
        // filtering only reads the distances and the H1 pivots, so batches of edges run in
        // parallel; the reduction stays in order.
        let mut rank = vec![u32::MAX; n * (n - 1) / 2];
        for (position, edge) in edges.iter().enumerate() {
            rank[edge.index as usize] = position as u32;
        }
        let mut triangle_pivots = PivotMap::default();
        let mut group: Vec<(Cell, Vertices)> = Vec::new();
        let mut group_bits = None;
        let mut end = edges.len();
        while end > 0 {
            if self.cancel.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
                return Err(PersistenceError::Cancelled);
            }
            let start = end.saturating_sub(EDGE_BATCH);
            let this = &*self;
            let columns: Vec<Vec<(Cell, Vertices)>> = (start..end)
                .into_par_iter()
                .rev()
                .map(|position| this.triangle_columns(&edges, position, &rank, &edge_pivots))
                .collect();
            for (offset, found) in columns.into_iter().enumerate() {
                let bits = edges[end - 1 - offset].bits;
                if group_bits != Some(bits) {
                    self.reduce_triangles(&mut group, &mut triangle_pivots, &mut reducer)?;
                    group_bits = Some(bits);
                }
                group.extend(found);
            }
            end = start;
        }
        self.reduce_triangles(&mut group, &mut triangle_pivots, &mut reducer)
    }

    /// The triangles whose latest edge is `edges[position]` that are H2 columns: not cleared
    /// (an H1 pivot) and not in an apparent pair with the edge or with a tetrahedron.
    fn triangle_columns(
        &self,
        edges: &[Cell],
        position: usize,
        rank: &[u32],
        edge_pivots: &PivotMap,
    ) -> Vec<(Cell, Vertices)> {
        let edge = edges[position];
        let vertices = self.vertices(edge.index, 2);
        let (a, b) = (vertices[0], vertices[1]);
        let (own, diameter) = (position as u32, edge.diameter());
        // Shorter edges come earlier; only equal lengths need the rank.
        let earlier = |u: usize, v: usize| {
            let length = self.distances.get(u, v);
            let (i, j) = (u.max(v), u.min(v));
            length < diameter || (length == diameter && rank[i * (i - 1) / 2 + j] < own)
        };
        let mut found = Vec::new();
        let mut first_equal = true;
        self.for_each_cofacet_within(&vertices[..2], diameter, |v| {
            // The edge's earliest equal-diameter cofacet is in an apparent pair with it when
            // the edge is also the triangle's latest edge.
            let apparent = first_equal;
            first_equal = false;
            if !apparent
                && earlier(a, v)
                && earlier(b, v)
                && !self.triangle_has_apparent_cofacet(edge.bits, a, b, v)
            {
                let triangle = with_vertex(&vertices[..2], v);
                let index = self.index_of(&triangle[..3]);
                if !edge_pivots.contains_key(&index) {
                    found.push((
                        Cell {
                            bits: edge.bits,
                            index,
                        },
                        triangle,
                    ));
                }
            }
            true
        });
        found
    }

    /// Reduces one equal-diameter group of triangle columns in reverse filtration order and
    /// empties it.
    fn reduce_triangles(
        &mut self,
        group: &mut Vec<(Cell, Vertices)>,
        pivots: &mut PivotMap,
        reducer: &mut Reducer,
    ) -> Result<()> {
        group.sort_unstable_by_key(|(cell, _)| cell.index);
        for &(triangle, vertices) in group.iter() {
            self.check_cancel()?;
            self.reduce(triangle, vertices, 2, pivots, reducer)?;
        }
        group.clear();
        Ok(())
    }

    /// The first level at or above `bits` (everything when none is).
    fn level_at_least(&self, bits: u32) -> u32 {
        let at = self.levels.partition_point(|&level| level < bits);
        self.levels.get(at).copied().unwrap_or(u32::MAX)
    }

    /// Pushes the cofacets of `cell` with a diameter in `(above, upto]`, and a marker for the
    /// rest when there are any above `upto`.
    fn push_coboundary(
        &self,
        cell: Cell,
        vertices: &[usize],
        above: Option<u32>,
        upto: u32,
        heap: &mut BinaryHeap<Entry>,
    ) {
        let mut more = false;
        self.for_each_cofacet(cell, vertices, |cofacet, _| {
            if above.is_none_or(|low| cofacet.bits > low) {
                if cofacet.bits <= upto {
                    heap.push(Entry::of(cofacet));
                } else {
                    more = true;
                }
            }
            true
        });
        if more {
            heap.push(Entry::marker(upto, cell.index));
        }
    }

    /// Pops the earliest entry with an odd count (Z/2: equal entries cancel in pairs), opening
    /// markers (of simplices with `count` vertices) on the way.
    fn pop_pivot(&self, heap: &mut BinaryHeap<Entry>, count: usize) -> Option<Cell> {
        loop {
            let top = heap.pop()?;
            if heap.peek() == Some(&top) {
                heap.pop();
                continue;
            }
            if !top.marker {
                return Some(Cell {
                    bits: top.bits,
                    index: top.index,
                });
            }
            let vertices = self.vertices(top.index, count);
            let diameter = self.diameter_of(&vertices[..count]);
            let next = self.level_at_least(top.bits.saturating_add(1));
            self.push_coboundary(
                Cell::new(diameter, top.index),
                &vertices[..count],
                Some(top.bits),
                next,
                heap,
            );
        }
    }

    /// Reduces the coboundary column of `simplex` (dimension `dimension`) against the columns
    /// already in `pivots` and the apparent pairs, records its pair and stores it under its
    /// pivot.
    fn reduce(
        &mut self,
        simplex: Cell,
        vertices: Vertices,
        dimension: u32,
        pivots: &mut PivotMap,
        reducer: &mut Reducer,
    ) -> Result<()> {
        let count = dimension as usize + 1;
        reducer.heap.clear();
        reducer.added.clear();
        // Push the coboundary up to the first level; stop early when its pivot is free (an
        // emergent pair).
        let upto = self.level_at_least(simplex.bits);
        let mut emergent = None;
        let mut look = true;
        let mut more = false;
        {
            let heap = &mut reducer.heap;
            self.for_each_cofacet(simplex, &vertices[..count], |cofacet, v| {
                if look && cofacet.bits == simplex.bits {
                    // Free unless a stored column or an apparent pair already claims it.
                    if !pivots.contains_key(&cofacet.index)
                        && self
                            .apparent_facet(
                                cofacet,
                                &with_vertex(&vertices[..count], v)[..count + 1],
                            )
                            .is_none()
                    {
                        emergent = Some(cofacet);
                        return false;
                    }
                    look = false;
                }
                if cofacet.bits <= upto {
                    heap.push(Entry::of(cofacet));
                } else {
                    more = true;
                }
                true
            });
        }
        if let Some(pivot) = emergent {
            pivots.insert(
                pivot.index,
                Column {
                    simplex,
                    vertices,
                    added: Vec::new(),
                },
            );
            return Ok(());
        }
        if more {
            reducer.heap.push(Entry::marker(upto, simplex.index));
        }
        loop {
            let Some(pivot) = self.pop_pivot(&mut reducer.heap, count) else {
                self.push_pair(dimension, simplex.diameter(), f32::INFINITY);
                return Ok(());
            };
            reducer.adding.clear();
            match pivots.get(&pivot.index) {
                Some(column) => {
                    reducer.adding.push((column.simplex, column.vertices));
                    for &cell in &column.added {
                        reducer
                            .adding
                            .push((cell, self.vertices(cell.index, count)));
                    }
                }
                None => {
                    let pivot_vertices = self.vertices(pivot.index, count + 1);
                    if let Some(facet) = self.apparent_facet(pivot, &pivot_vertices[..count + 1]) {
                        reducer.adding.push(facet);
                    }
                }
            }
            if reducer.adding.is_empty() {
                let mut added = std::mem::take(&mut reducer.added);
                added.sort_unstable_by_key(|cell| cell.index);
                let added = cancel_pairs(added);
                self.push_pair(dimension, simplex.diameter(), pivot.diameter());
                pivots.insert(
                    pivot.index,
                    Column {
                        simplex,
                        vertices,
                        added,
                    },
                );
                return Ok(());
            }
            // Keep the pivot in the column so the added coboundary cancels it.
            reducer.heap.push(Entry::of(pivot));
            let upto = self.level_at_least(pivot.bits);
            for &(cell, cell_vertices) in &reducer.adding {
                reducer.added.push(cell);
                self.push_coboundary(cell, &cell_vertices[..count], None, upto, &mut reducer.heap);
            }
        }
    }
}

/// A working-column entry: a cofacet, or a marker standing for the cofacets of the simplex
/// `index` with a diameter above `bits` that are not pushed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    bits: u32,
    marker: bool,
    index: u64,
}

impl Entry {
    fn of(cell: Cell) -> Self {
        Self {
            bits: cell.bits,
            marker: false,
            index: cell.index,
        }
    }

    fn marker(bits: u32, simplex: u64) -> Self {
        Self {
            bits,
            marker: true,
            index: simplex,
        }
    }
}

/// As [`Cell`]'s order, with a marker after every cofacet of its own diameter (it stands for
/// larger ones); equal markers are adjacent and cancel like equal cofacets.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other
            .bits
            .cmp(&self.bits)
            .then(other.marker.cmp(&self.marker))
            .then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

#[derive(Default)]
struct Reducer {
    heap: BinaryHeap<Entry>,
    /// The column of V being built (with repeats; cancelled when stored).
    added: Vec<Cell>,
    /// The simplices whose coboundaries are added in this step.
    adding: Vec<(Cell, Vertices)>,
}

/// Drops entries that occur an even number of times in a sorted list.
fn cancel_pairs(sorted: Vec<Cell>) -> Vec<Cell> {
    let mut kept: Vec<Cell> = Vec::with_capacity(sorted.len());
    for cell in sorted {
        if kept.last().is_some_and(|last| last.index == cell.index) {
            kept.pop();
        } else {
            kept.push(cell);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushing coboundaries in parts (many levels) or whole (one level) gives the same
    /// diagram.
    #[test]
    fn coboundary_levels_do_not_change_the_diagram() {
        let mut state = 99u64;
        let points: Vec<f32> = (0..60 * 12)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        let distances = DistanceMatrix::from_points(&points, 12).expect("distances");
        let params = RipsParams::default();
        let whole = rips_with_levels(&distances, &params, None, 1).expect("whole");
        assert!(whole.iter().filter(|p| p.dimension == 2).count() > 10);
        for levels in [4, LEVELS, 500] {
            assert_eq!(
                rips_with_levels(&distances, &params, None, levels).expect("parts"),
                whole,
                "{levels} levels"
            );
        }
    }

    /// The triangle shortcut agrees with the general apparent-pair test, ties included.
    #[test]
    fn triangle_shortcut_matches_the_general_test() {
        let grid: Vec<f32> = (0..27)
            .flat_map(|i| [(i % 3) as f32, ((i / 3) % 3) as f32, (i / 9) as f32])
            .collect();
        let mut state = 12345u64;
        let random: Vec<f32> = (0..30 * 4)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        for (points, dim) in [(grid, 3), (random, 4)] {
            let distances = DistanceMatrix::from_points(&points, dim).expect("distances");
            let n = distances.len();
            let rips = Rips {
                n,
                distances: &distances,
                threshold: distances.enclosing_radius(),
                binomials: Binomials::new(n, 4).expect("binomials"),
                cancel: None,
                pairs: Vec::new(),
                steps: 0,
                levels: Vec::new(),
            };
            let mut checked = 0;
            for a in 0..n {
                for b in 0..a {
                    for c in 0..n {
                        if c == a || c == b {
                            continue;
                        }
                        let d = distances.get(a, b);
                        // {a, b} must be the triangle's latest edge: longest, ties to the
                        // smaller edge index.
                        let edge = |x: usize, y: usize| {
                            let (i, j) = (x.max(y), x.min(y));
                            (distances.get(i, j), i * (i - 1) / 2 + j)
                        };
                        let (own, others) = (edge(a, b), [edge(a, c), edge(b, c)]);
                        if d > rips.threshold
                            || others
                                .iter()
                                .any(|&(l, i)| l > own.0 || (l == own.0 && i < own.1))
                        {
                            continue;
                        }
                        let mut vertices = [a, b, c, 0];
                        vertices[..3].sort_unstable_by(|x, y| y.cmp(x));
                        let triangle = Cell::new(d, rips.index_of(&vertices[..3]));
                        assert_eq!(
                            rips.triangle_has_apparent_cofacet(d.to_bits(), a, b, c),
                            rips.has_apparent_cofacet(triangle, &vertices[..3]),
                            "triangle {a} {b} {c}"
                        );
                        checked += 1;
                    }
                }
            }
            assert!(checked > 100);
        }
    }
}
