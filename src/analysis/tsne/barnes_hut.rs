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

/// Stack for the call: bhtsne's trees recurse, deeply on clumped data.
const STACK_BYTES: usize = 256 << 20;

/// The distinct rows of `unit_rows` (bitwise equal rows are one point) and, per input row, the
/// index of its distinct row. Identical outputs are common in feedback loops, and coincident
/// points make bhtsne's tree recursion unbounded (a stack overflow).
fn distinct_rows(unit_rows: &[f32], dim: usize) -> (Vec<f32>, Vec<usize>) {
    let mut first: std::collections::HashMap<Vec<u32>, usize> = std::collections::HashMap::new();
    let mut distinct = Vec::new();
    let mut index_of = Vec::with_capacity(unit_rows.len() / dim.max(1));
    for row in unit_rows.chunks_exact(dim) {
        let key: Vec<u32> = row.iter().map(|x| x.to_bits()).collect();
        let next = first.len();
        let index = *first.entry(key).or_insert(next);
        if index == next {
            distinct.extend_from_slice(row);
        }
        index_of.push(index);
    }
    (distinct, index_of)
}

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
    let (distinct, index_of) = distinct_rows(unit_rows, dim);
    let unique = distinct.len() / dim;
    let needed = (3.0 * params.perplexity).ceil() as usize + 2;
    if unique < needed {
        return Err(TsneError::TooFewPoints {
            needed,
            got: unique,
            perplexity: params.perplexity,
        });
    }
    let data = ndarray_016::Array2::from_shape_vec(
        (unique, dim),
        distinct.iter().map(|&x| f64::from(x)).collect(),
    )
    .map_err(|error| TsneError::InvalidParameter {
        name: "vectors",
        detail: error.to_string(),
    })?;
    let rng = rand_08::rngs::SmallRng::seed_from_u64(params.seed);
    let tsne = linfa_tsne::TSneParams::embedding_size_with_rng(2, rng)
        .perplexity(f64::from(params.perplexity))
        .approx_threshold(THETA)
        .max_iter(total)
        .preliminary_iter(params.early_exaggeration_iterations.min(total));
    let embedding = std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("barnes-hut t-SNE".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, move || tsne.transform(data))
            .map_err(|error| TsneError::InvalidParameter {
                name: "method",
                detail: format!("barnes-hut: could not start its thread: {error}"),
            })?;
        worker
            .join()
            .map_err(|_| TsneError::InvalidParameter {
                name: "method",
                detail: "barnes-hut crashed; use fitsne".into(),
            })?
            .map_err(|error| TsneError::InvalidParameter {
                name: "method",
                detail: format!("barnes-hut: {error}"),
            })
    })?;
    let positions: Vec<[f32; 2]> = embedding
        .rows()
        .into_iter()
        .map(|row| [row[0] as f32, row[1] as f32])
        .collect();
    // Identical inputs share a position.
    let layout: Vec<[f32; 2]> = index_of.iter().map(|&index| positions[index]).collect();
    check(cancel)?;
    on_progress(Progress {
        stage: Stage::Optimising,
        done: total,
        total,
        layout: Some(&layout),
    });
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::distinct_rows;

    #[test]
    fn identical_rows_become_one_point() {
        let rows = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
        let (distinct, index_of) = distinct_rows(&rows, 2);
        assert_eq!(distinct, [1.0, 0.0, 0.0, 1.0]);
        assert_eq!(index_of, [0, 1, 0]);
    }
}
