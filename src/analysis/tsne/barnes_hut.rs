//! Barnes–Hut t-SNE through `linfa-tsne` (the `bhtsne` crate): a second, independent
//! implementation, selectable for small experiments and used by the tests as an oracle for our
//! FIt-SNE. It runs in one call, so it can only be cancelled before it starts; its size is
//! capped to keep that call short.

use std::sync::atomic::AtomicBool;

use linfa::traits::Transformer;
use rand_08::SeedableRng;

use super::{Progress, Stage, TsneError, TsneParams, check};

/// Most points the Barnes–Hut method accepts (about half a minute in a release build).
pub const MAX_POINTS: usize = 5_000;

/// Its approximation threshold θ (the usual 0.5).
const THETA: f64 = 0.5;

pub(super) fn layout(
    unit_rows: &[f32],
    n: usize,
    dim: usize,
    params: &TsneParams,
    cancel: &AtomicBool,
    mut on_progress: impl FnMut(Progress<'_>),
) -> Result<Vec<[f32; 2]>, TsneError> {
    if n > MAX_POINTS {
        return Err(TsneError::InvalidParameter {
            name: "method",
            detail: format!(
                "barnes-hut takes at most {MAX_POINTS} points, this scope has {n}; use fitsne"
            ),
        });
    }
    check(cancel)?;
    let total = params.total_iterations();
    on_progress(Progress {
        stage: Stage::Optimising,
        done: 0,
        total,
        layout: None,
    });
    let data = ndarray_016::Array2::from_shape_vec(
        (n, dim),
        unit_rows.iter().map(|&x| f64::from(x)).collect(),
    )
    .map_err(|error| TsneError::InvalidParameter {
        name: "vectors",
        detail: error.to_string(),
    })?;
    let rng = rand_08::rngs::SmallRng::seed_from_u64(params.seed);
    let embedding = linfa_tsne::TSneParams::embedding_size_with_rng(2, rng)
        .perplexity(f64::from(params.perplexity))
        .approx_threshold(THETA)
        .max_iter(total)
        .preliminary_iter(params.early_exaggeration_iterations.min(total))
        .transform(data)
        .map_err(|error| TsneError::InvalidParameter {
            name: "method",
            detail: format!("barnes-hut: {error}"),
        })?;
    let layout: Vec<[f32; 2]> = embedding
        .rows()
        .into_iter()
        .map(|row| [row[0] as f32, row[1] as f32])
        .collect();
    check(cancel)?;
    on_progress(Progress {
        stage: Stage::Optimising,
        done: total,
        total,
        layout: Some(&layout),
    });
    Ok(layout)
}
